package auth

import (
	"encoding/base64"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

var testSecret = []byte("0123456789abcdef0123456789abcdef-test")

func newTestTokens(t *testing.T, now *time.Time) *Tokens {
	t.Helper()
	tok, err := NewTokens(testSecret, 15*time.Minute, func() time.Time { return *now })
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func TestTokens(t *testing.T) {
	t.Parallel()
	user := User{ID: 42, Username: "ana", IsSuperuser: true, SessionGeneration: 3}

	t.Run("IssuesAndVerifiesClaims", func(t *testing.T) {
		t.Parallel()
		now := time.Now()
		tokens := newTestTokens(t, &now)
		s, issued, err := tokens.Issue(user, 7)
		if err != nil {
			t.Fatal(err)
		}
		c, err := tokens.Verify(s)
		if err != nil {
			t.Fatal(err)
		}
		id, _ := c.UserID()
		if id != 42 || c.Username != "ana" || !c.Superuser || c.Org != 7 || c.Gen != 3 || c.ID == "" || c.ID != issued.ID {
			t.Fatalf("claims = %+v", c)
		}
		if got := c.ExpiresAt.Sub(c.IssuedAt.Time); got != 15*time.Minute {
			t.Fatalf("lifetime = %v, want 15m", got)
		}
	})

	t.Run("GivesEveryTokenItsOwnID", func(t *testing.T) {
		t.Parallel()
		now := time.Now()
		tokens := newTestTokens(t, &now)
		_, a, _ := tokens.Issue(user, 0)
		_, b, _ := tokens.Issue(user, 0)
		if a.ID == b.ID {
			t.Fatal("jti repeated")
		}
	})

	t.Run("RefusesExpiredAsExpired", func(t *testing.T) {
		t.Parallel()
		now := time.Now()
		tokens := newTestTokens(t, &now)
		s, _, _ := tokens.Issue(user, 0)
		now = now.Add(16 * time.Minute)
		if _, err := tokens.Verify(s); !errors.Is(err, ErrTokenExpired) {
			t.Fatalf("err = %v, want ErrTokenExpired", err)
		}
	})

	t.Run("RefusesShortSecret", func(t *testing.T) {
		t.Parallel()
		if _, err := NewTokens([]byte("short"), 0, nil); err == nil {
			t.Fatal("a 5-byte secret was accepted")
		}
	})

	now := time.Now()
	tokens := newTestTokens(t, &now)
	good, _, _ := tokens.Issue(user, 0)
	parts := strings.Split(good, ".")
	b64 := base64.RawURLEncoding
	sign := func(m jwt.SigningMethod, key any, claims jwt.Claims) string {
		s, err := jwt.NewWithClaims(m, claims).SignedString(key)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	valid := jwt.MapClaims{"sub": "42", "username": "ana", "iss": "appcitas", "iat": now.Unix(), "exp": now.Add(time.Minute).Unix()}
	noneHeader := b64.EncodeToString([]byte(`{"alg":"none","typ":"JWT"}`))
	expiredBadSig := sign(jwt.SigningMethodHS256, []byte("another secret of enough length!!"),
		jwt.MapClaims{"sub": "42", "iss": "appcitas", "iat": now.Add(-time.Hour).Unix(), "exp": now.Add(-30 * time.Minute).Unix()})

	invalid := []struct{ name, token string }{
		{"Garbage", "not.a.jwt"},
		{"Empty", ""},
		{"TamperedPayload", parts[0] + "." + b64.EncodeToString([]byte(`{"sub":"1","username":"root","su":true,"iss":"appcitas","iat":1,"exp":99999999999}`)) + "." + parts[2]},
		{"TamperedSignature", parts[0] + "." + parts[1] + "." + strings.Repeat("A", len(parts[2]))},
		{"AlgNone", noneHeader + "." + parts[1] + "."},
		{"AlgNoneWithSignature", noneHeader + "." + parts[1] + "." + parts[2]},
		{"OtherSecret", sign(jwt.SigningMethodHS256, []byte("another secret of enough length!!"), valid)},
		{"HS512WithOurSecret", sign(jwt.SigningMethodHS512, testSecret, valid)},
		{"NoExpiry", sign(jwt.SigningMethodHS256, testSecret, jwt.MapClaims{"sub": "42", "iss": "appcitas", "iat": now.Unix()})},
		{"OtherIssuer", sign(jwt.SigningMethodHS256, testSecret, jwt.MapClaims{"sub": "42", "iss": "evil", "iat": now.Unix(), "exp": now.Add(time.Minute).Unix()})},
		{"NonNumericSubject", sign(jwt.SigningMethodHS256, testSecret, jwt.MapClaims{"sub": "ana", "iss": "appcitas", "iat": now.Unix(), "exp": now.Add(time.Minute).Unix()})},
		{"ExpiredWithBadSignature", expiredBadSig},
		{"NegativeGeneration", sign(jwt.SigningMethodHS256, testSecret, jwt.MapClaims{"sub": "42", "iss": "appcitas", "gen": -1, "iat": now.Unix(), "exp": now.Add(time.Minute).Unix()})},
	}
	for _, tc := range invalid {
		t.Run("Refuses"+tc.name+"AsInvalid", func(t *testing.T) {
			t.Parallel()
			if _, err := tokens.Verify(tc.token); !errors.Is(err, ErrTokenInvalid) {
				t.Fatalf("err = %v, want ErrTokenInvalid", err)
			}
		})
	}
}

// TestVerifyCache checks that a remembered token is refused exactly when verifying it afresh
// would refuse it.
func TestVerifyCache(t *testing.T) {
	t.Parallel()
	user := User{ID: 42, Username: "ana"}
	tests := []struct {
		name    string
		move    time.Duration // the clock's move after the first, remembered verification
		wantErr error
	}{
		{"StillValidIsAccepted", 14 * time.Minute, nil},
		{"WithinTheLeewayIsAccepted", 15*time.Minute + 4*time.Second, nil},
		{"ExpiredIsExpired", 15*time.Minute + 6*time.Second, ErrTokenExpired},
		{"IssuedInTheFutureIsInvalid", -time.Minute, ErrTokenInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			now := time.Now()
			tokens := newTestTokens(t, &now)
			s, _, err := tokens.Issue(user, 0)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := tokens.Verify(s); err != nil {
				t.Fatal(err)
			}
			now = now.Add(tt.move)
			c, err := tokens.Verify(s)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("second Verify: %v; want %v", err, tt.wantErr)
			}
			fresh, _ := NewTokens(testSecret, 15*time.Minute, func() time.Time { return now })
			if _, ferr := fresh.Verify(s); !errors.Is(ferr, tt.wantErr) {
				t.Fatalf("uncached Verify: %v; the cache must agree with it (%v)", ferr, tt.wantErr)
			}
			if err == nil && c.Username != "ana" {
				t.Fatalf("claims from the cache = %+v", c)
			}
		})
	}

	t.Run("TamperedCopyOfARememberedTokenIsInvalid", func(t *testing.T) {
		t.Parallel()
		now := time.Now()
		tokens := newTestTokens(t, &now)
		s, _, _ := tokens.Issue(user, 0)
		if _, err := tokens.Verify(s); err != nil {
			t.Fatal(err)
		}
		parts := strings.Split(s, ".")
		claims, _ := base64.RawURLEncoding.DecodeString(parts[1])
		forged := strings.Replace(string(claims), `"username":"ana"`, `"username":"eva"`, 1)
		parts[1] = base64.RawURLEncoding.EncodeToString([]byte(forged))
		if _, err := tokens.Verify(strings.Join(parts, ".")); !errors.Is(err, ErrTokenInvalid) {
			t.Fatalf("forged claims with a remembered signature: %v; want ErrTokenInvalid", err)
		}
	})

	t.Run("StaysBounded", func(t *testing.T) {
		t.Parallel()
		now := time.Now()
		tokens := newTestTokens(t, &now)
		for range verifiedMax + 10 {
			s, _, _ := tokens.Issue(user, 0)
			if _, err := tokens.Verify(s); err != nil {
				t.Fatal(err)
			}
		}
		tokens.mu.Lock()
		n := len(tokens.verified)
		tokens.mu.Unlock()
		if n > verifiedMax {
			t.Fatalf("%d remembered tokens; at most %d", n, verifiedMax)
		}
	})
}
