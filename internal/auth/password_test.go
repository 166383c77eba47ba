package auth

import (
	"errors"
	"strings"
	"testing"
)

// testHash is a cheap cost for tests.
var testHash = HashParams{MemoryKiB: 1024, Iterations: 1, Threads: 1, SaltLen: 16, KeyLen: 32}

func TestPassword(t *testing.T) {
	t.Parallel()

	t.Run("RoundTripsInPHCFormat", func(t *testing.T) {
		t.Parallel()
		h, err := HashPassword("correct horse battery", testHash)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(h, "$argon2id$v=19$m=1024,t=1,p=1$") || strings.Count(h, "$") != 5 {
			t.Fatalf("hash %q is not a PHC argon2id string", h)
		}
		ok, err := VerifyPassword(h, "correct horse battery")
		if err != nil || !ok {
			t.Fatalf("VerifyPassword(right) = %v, %v", ok, err)
		}
		ok, err = VerifyPassword(h, "correct horse batterY")
		if err != nil || ok {
			t.Fatalf("VerifyPassword(wrong) = %v, %v", ok, err)
		}
	})

	t.Run("SaltsEveryHash", func(t *testing.T) {
		t.Parallel()
		a, _ := HashPassword("same", testHash)
		b, _ := HashPassword("same", testHash)
		if a == b {
			t.Fatal("two hashes of one password are equal")
		}
	})

	t.Run("DefaultCostIsStrongEnough", func(t *testing.T) {
		t.Parallel()
		p := DefaultHashParams()
		if p.MemoryKiB < 19*1024 || p.Iterations < 2 {
			t.Fatalf("default %+v is below the OWASP minimum", p)
		}
		h, _ := HashPassword("x", testHash)
		if !needsRehash(h, p) {
			t.Fatal("a cheap hash should need a rehash under the default cost")
		}
	})

	malformed := []struct{ name, hash string }{
		{"Empty", ""},
		{"Bcrypt", "$2a$10$abcdefghijklmnopqrstuv"},
		{"Argon2i", "$argon2i$v=19$m=1024,t=1,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaA"},
		{"WrongVersion", "$argon2id$v=16$m=1024,t=1,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaA"},
		{"HugeMemory", "$argon2id$v=19$m=99999999,t=1,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaA"},
		{"BadSalt", "$argon2id$v=19$m=1024,t=1,p=1$!!!$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaA"},
		{"ShortKey", "$argon2id$v=19$m=1024,t=1,p=1$c2FsdHNhbHRzYWx0$aGFzaA"},
	}
	for _, tc := range malformed {
		t.Run("RefusesMalformed"+tc.name, func(t *testing.T) {
			t.Parallel()
			ok, err := VerifyPassword(tc.hash, "x")
			if ok || !errors.Is(err, ErrMalformedHash) {
				t.Fatalf("VerifyPassword(%q) = %v, %v; want ErrMalformedHash", tc.hash, ok, err)
			}
		})
	}
}
