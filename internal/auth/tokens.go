package auth

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Errors of [Tokens.Verify]; the API answers each with its own 401 code.
var (
	// ErrTokenExpired: the token was valid but its exp has passed.
	ErrTokenExpired = errors.New("token expired")
	// ErrTokenInvalid: the token is malformed, tampered with, signed with another key or algorithm,
	// or lacks a required claim.
	ErrTokenInvalid = errors.New("invalid token")
)

// issuer is the iss claim of every access token.
const issuer = "appcitas"

// MinSecretLen is the shortest accepted signing secret, in bytes (HS256 wants 256 bits).
const MinSecretLen = 32

// DefaultAccessTTL is how long an access token lives unless configured otherwise.
const DefaultAccessTTL = 15 * time.Minute

// Claims are the claims of an access token.
type Claims struct {
	// Username is the user's login name.
	Username string `json:"username"`
	// Superuser is auth_user.is_superuser when the token was issued. It authorizes nothing: the API
	// reads the user's current standing on every request.
	Superuser bool `json:"su,omitempty"`
	// Org is the default organization id (0: none); X-Organization-ID overrides it.
	Org int64 `json:"org,omitempty"`
	// Gen is the user's session generation when the token was issued; the token is refused once
	// the user's generation has moved past it (a "sign out everywhere").
	Gen int64 `json:"gen,omitempty"`
	jwt.RegisteredClaims
}

// UserID returns the sub claim as a user id.
func (c Claims) UserID() (int64, error) {
	id, err := strconv.ParseInt(c.Subject, 10, 64)
	if err != nil || id <= 0 {
		return 0, fmt.Errorf("%w: subject %q is not a user id", ErrTokenInvalid, c.Subject)
	}
	return id, nil
}

// Tokens issues and verifies access tokens (HS256, the algorithm pinned on verification).
type Tokens struct {
	secret []byte
	ttl    time.Duration
	now    func() time.Time

	// verified remembers tokens whose signature and claims were checked, by their full text, so
	// that the requests of one session do not parse and sign the same token again. Only the time
	// checks are repeated on a hit. Bounded by verifiedMax.
	mu       sync.Mutex
	verified map[string]verifiedToken
}

// verifiedMax bounds the cache of verified tokens.
const verifiedMax = 20_000

// leeway is the clock skew accepted on exp and iat.
const leeway = 5 * time.Second

type verifiedToken struct {
	claims  Claims
	issued  time.Time
	expires time.Time
}

// inTime reports whether a verified token is still within its lifetime at now, as jwt checks it.
func (v verifiedToken) inTime(now time.Time) bool {
	return now.Before(v.expires.Add(leeway)) && !now.Add(leeway).Before(v.issued)
}

// NewTokens returns Tokens signing with secret (at least MinSecretLen bytes), issuing tokens that
// live ttl (DefaultAccessTTL when 0). now defaults to time.Now.
func NewTokens(secret []byte, ttl time.Duration, now func() time.Time) (*Tokens, error) {
	if len(secret) < MinSecretLen {
		return nil, fmt.Errorf("jwt secret is %d bytes: at least %d are required", len(secret), MinSecretLen)
	}
	if ttl <= 0 {
		ttl = DefaultAccessTTL
	}
	if now == nil {
		now = time.Now
	}
	return &Tokens{secret: append([]byte(nil), secret...), ttl: ttl, now: now, verified: map[string]verifiedToken{}}, nil
}

// TTL returns how long issued tokens live.
func (t *Tokens) TTL() time.Duration { return t.ttl }

// Issue returns a signed access token for u, with org as its default organization (0: none).
func (t *Tokens) Issue(u User, org int64) (string, Claims, error) {
	jti := make([]byte, 16)
	if _, err := rand.Read(jti); err != nil {
		return "", Claims{}, fmt.Errorf("reading token id: %w", err)
	}
	now := t.now().Truncate(time.Second)
	c := Claims{
		Username:  u.Username,
		Superuser: u.IsSuperuser,
		Org:       org,
		Gen:       u.SessionGeneration,
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:    issuer,
			Subject:   strconv.FormatInt(u.ID, 10),
			IssuedAt:  jwt.NewNumericDate(now),
			ExpiresAt: jwt.NewNumericDate(now.Add(t.ttl)),
			ID:        hex.EncodeToString(jti),
		},
	}
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, c).SignedString(t.secret)
	if err != nil {
		return "", Claims{}, fmt.Errorf("signing access token: %w", err)
	}
	return s, c, nil
}

// Verify checks token's algorithm (HS256 only), signature, issuer and expiry and returns its
// claims. It returns an error wrapping ErrTokenExpired or ErrTokenInvalid.
func (t *Tokens) Verify(token string) (Claims, error) {
	now := t.now()
	t.mu.Lock()
	v, ok := t.verified[token]
	t.mu.Unlock()
	if ok && v.inTime(now) {
		return v.claims, nil
	}
	c, err := t.verify(token)
	if err != nil {
		if ok {
			t.mu.Lock()
			delete(t.verified, token)
			t.mu.Unlock()
		}
		return Claims{}, err
	}
	v = verifiedToken{claims: c, issued: c.IssuedAt.Time, expires: c.ExpiresAt.Time}
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.verified) >= verifiedMax {
		for k, old := range t.verified {
			if !old.inTime(now) {
				delete(t.verified, k)
			}
		}
		if len(t.verified) >= verifiedMax {
			clear(t.verified)
		}
	}
	t.verified[token] = v
	return c, nil
}

// verify is Verify without the cache.
func (t *Tokens) verify(token string) (Claims, error) {
	var c Claims
	_, err := jwt.ParseWithClaims(token, &c, func(tok *jwt.Token) (any, error) {
		if tok.Method != jwt.SigningMethodHS256 {
			return nil, fmt.Errorf("unexpected signing method %v", tok.Header["alg"])
		}
		return t.secret, nil
	},
		jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithIssuer(issuer),
		jwt.WithTimeFunc(t.now),
		jwt.WithLeeway(leeway),
	)
	switch {
	case err == nil:
	case errors.Is(err, jwt.ErrTokenExpired):
		return Claims{}, fmt.Errorf("%w: %w", ErrTokenExpired, err)
	default:
		return Claims{}, fmt.Errorf("%w: %w", ErrTokenInvalid, err)
	}
	if _, err := c.UserID(); err != nil {
		return Claims{}, err
	}
	if c.Org < 0 || c.Gen < 0 {
		return Claims{}, fmt.Errorf("%w: negative org or gen claim", ErrTokenInvalid)
	}
	return c, nil
}
