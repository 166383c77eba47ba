package auth

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"golang.org/x/crypto/argon2"
)

// ErrMalformedHash is returned for a stored password hash that is not an argon2id PHC string.
var ErrMalformedHash = errors.New("malformed password hash")

// HashParams are the argon2id cost parameters.
type HashParams struct {
	// MemoryKiB is the memory cost in KiB (m).
	MemoryKiB uint32
	// Iterations is the time cost (t).
	Iterations uint32
	// Threads is the parallelism (p).
	Threads uint8
	// SaltLen is the length of the random salt in bytes.
	SaltLen uint32
	// KeyLen is the length of the derived key in bytes.
	KeyLen uint32
}

// DefaultHashParams returns the production cost: 32 MiB, 2 passes, 2 lanes, about 70 ms per hash
// on a 2-CPU server (the OWASP minimum is 19 MiB with 2 passes).
func DefaultHashParams() HashParams {
	return HashParams{MemoryKiB: 32 * 1024, Iterations: 2, Threads: 2, SaltLen: 16, KeyLen: 32}
}

// HashPassword returns password hashed with argon2id under p, as a PHC string:
// $argon2id$v=19$m=32768,t=2,p=2$<salt>$<hash> (unpadded standard base64).
func HashPassword(password string, p HashParams) (string, error) {
	if p.MemoryKiB == 0 || p.Iterations == 0 || p.Threads == 0 || p.SaltLen < 8 || p.KeyLen < 16 {
		return "", fmt.Errorf("argon2id parameters too weak: %+v", p)
	}
	salt := make([]byte, p.SaltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("reading salt: %w", err)
	}
	key := argon2.IDKey([]byte(password), salt, p.Iterations, p.MemoryKiB, p.Threads, p.KeyLen)
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, p.MemoryKiB, p.Iterations, p.Threads, b64.EncodeToString(salt), b64.EncodeToString(key)), nil
}

// VerifyPassword reports whether password matches encoded, a PHC string made by HashPassword,
// comparing in constant time. The parameters come from encoded, so old hashes keep working when
// DefaultHashParams change.
func VerifyPassword(encoded, password string) (bool, error) {
	p, salt, key, err := parseHash(encoded)
	if err != nil {
		return false, err
	}
	got := argon2.IDKey([]byte(password), salt, p.Iterations, p.MemoryKiB, p.Threads, uint32(len(key)))
	return subtle.ConstantTimeCompare(got, key) == 1, nil
}

// maxHashMemoryKiB bounds the memory a stored hash may ask for (1 GiB), so that a tampered row
// cannot exhaust the server.
const maxHashMemoryKiB = 1 << 20

func parseHash(encoded string) (HashParams, []byte, []byte, error) {
	parts := strings.Split(encoded, "$")
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" {
		return HashParams{}, nil, nil, ErrMalformedHash
	}
	var version int
	if _, err := fmt.Sscanf(parts[2], "v=%d", &version); err != nil || version != argon2.Version {
		return HashParams{}, nil, nil, fmt.Errorf("%w: version %q", ErrMalformedHash, parts[2])
	}
	var p HashParams
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &p.MemoryKiB, &p.Iterations, &p.Threads); err != nil {
		return HashParams{}, nil, nil, fmt.Errorf("%w: parameters %q", ErrMalformedHash, parts[3])
	}
	if p.MemoryKiB == 0 || p.MemoryKiB > maxHashMemoryKiB || p.Iterations == 0 || p.Iterations > 64 || p.Threads == 0 {
		return HashParams{}, nil, nil, fmt.Errorf("%w: parameters out of range %q", ErrMalformedHash, parts[3])
	}
	b64 := base64.RawStdEncoding
	salt, err := b64.DecodeString(parts[4])
	if err != nil || len(salt) < 8 {
		return HashParams{}, nil, nil, fmt.Errorf("%w: salt", ErrMalformedHash)
	}
	key, err := b64.DecodeString(parts[5])
	if err != nil || len(key) < 16 || len(key) > 128 {
		return HashParams{}, nil, nil, fmt.Errorf("%w: key", ErrMalformedHash)
	}
	p.SaltLen, p.KeyLen = uint32(len(salt)), uint32(len(key))
	return p, salt, key, nil
}

// needsRehash reports whether encoded was made with weaker parameters than p.
func needsRehash(encoded string, p HashParams) bool {
	h, _, _, err := parseHash(encoded)
	if err != nil {
		return true
	}
	return h.MemoryKiB < p.MemoryKiB || h.Iterations < p.Iterations || h.KeyLen < p.KeyLen
}
