package feeds

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
)

// Errors of this package; the API maps each to one HTTP status.
var (
	// ErrNotFound: no such feed in this tenant, or its token is wrong or revoked (404).
	ErrNotFound = errors.New("feed not found")
	// ErrInvalid: the input breaks a rule (400).
	ErrInvalid = errors.New("invalid feed")
)

// Kind says whose appointments a feed shows.
type Kind string

// The kinds of feed.
const (
	// KindStaff shows one staff member's appointments.
	KindStaff Kind = "profesional"
	// KindBranch shows one branch's appointments (for the reception).
	KindBranch Kind = "sede"
)

// tokenBytes is the size of a token's random part: 256 bits.
const tokenBytes = 32

// prefixLen is how many characters of a token a listing shows.
const prefixLen = 6

// maxLabel bounds a feed's label, in characters.
const maxLabel = 100

// Feed is a calendar feed (calendario_feed). Its token is never stored: only its SHA-256.
type Feed struct {
	ID   int64 `json:"id"`
	Kind Kind  `json:"tipo"`
	// StaffID is the staff member (profile) of a KindStaff feed.
	StaffID *int64 `json:"profesional_id"`
	// BranchID is the branch of a KindBranch feed.
	BranchID *int64 `json:"sede_id"`
	// Label is a name its owner gives it ("iPhone", "Google").
	Label string `json:"etiqueta"`
	// Prefix is the token's first characters, to tell feeds apart.
	Prefix string `json:"prefijo"`
	// CreatedBy is the profile that created it.
	CreatedBy *int64    `json:"creado_por"`
	CreatedAt time.Time `json:"created_at"`
	// RevokedAt is when it was revoked; nil while it works.
	RevokedAt *time.Time `json:"revocado_en"`
}

// NewFeed is what creating a feed takes.
type NewFeed struct {
	Kind     Kind
	StaffID  int64
	BranchID int64
	Label    string
	// CreatedBy is the profile creating it.
	CreatedBy int64
}

const feedColumns = `id, tipo, profesional_id, sede_id, etiqueta, prefijo, creado_por, created_at, revocado_en`

func scanFeed(row pgx.Row) (Feed, error) {
	var f Feed
	err := row.Scan(&f.ID, &f.Kind, &f.StaffID, &f.BranchID, &f.Label, &f.Prefix, &f.CreatedBy, &f.CreatedAt, &f.RevokedAt)
	return f, err
}

// NewToken returns a new random token: 32 bytes from crypto/rand, base64url without padding (43
// characters).
func NewToken() (string, error) {
	b := make([]byte, tokenBytes)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("reading random bytes: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// hashToken returns the SHA-256 of a token, as stored.
func hashToken(token string) []byte {
	h := sha256.Sum256([]byte(token))
	return h[:]
}

// wellFormed reports whether s can be a token: 43 base64url characters.
func wellFormed(s string) bool {
	if len(s) != base64.RawURLEncoding.EncodedLen(tokenBytes) {
		return false
	}
	_, err := base64.RawURLEncoding.DecodeString(s)
	return err == nil
}

func (in *NewFeed) validate() error {
	in.Label = strings.TrimSpace(in.Label)
	if !utf8.ValidString(in.Label) || strings.ContainsFunc(in.Label, func(r rune) bool { return r < 0x20 || r == 0x7f }) ||
		utf8.RuneCountInString(in.Label) > maxLabel {
		return fmt.Errorf("%w: etiqueta must be text of at most %d characters, without control characters", ErrInvalid, maxLabel)
	}
	switch in.Kind {
	case KindStaff:
		if in.StaffID <= 0 || in.BranchID != 0 {
			return fmt.Errorf("%w: a feed of kind profesional takes profesional_id and no sede_id", ErrInvalid)
		}
	case KindBranch:
		if in.BranchID <= 0 || in.StaffID != 0 {
			return fmt.Errorf("%w: a feed of kind sede takes sede_id and no profesional_id", ErrInvalid)
		}
	default:
		return fmt.Errorf("%w: tipo must be profesional or sede", ErrInvalid)
	}
	return nil
}

// Create adds a feed and returns it with its token. The token is returned only here: only its
// hash is kept. The staff member or branch must exist (checked by the caller, who also knows
// whether it is active).
func Create(ctx context.Context, tx pgx.Tx, in NewFeed) (Feed, string, error) {
	if err := in.validate(); err != nil {
		return Feed{}, "", err
	}
	token, err := NewToken()
	if err != nil {
		return Feed{}, "", err
	}
	var staff, branch, by *int64
	if in.StaffID != 0 {
		staff = &in.StaffID
	}
	if in.BranchID != 0 {
		branch = &in.BranchID
	}
	if in.CreatedBy != 0 {
		by = &in.CreatedBy
	}
	f, err := scanFeed(tx.QueryRow(ctx, `INSERT INTO calendario_feed
		(token_hash, prefijo, etiqueta, tipo, profesional_id, sede_id, creado_por)
		VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING `+feedColumns,
		hashToken(token), token[:prefixLen], in.Label, string(in.Kind), staff, branch, by))
	if err != nil {
		return Feed{}, "", fmt.Errorf("creating feed: %w", err)
	}
	return f, token, nil
}

// Filter selects feeds in [List]. The zero Filter selects every feed.
type Filter struct {
	// StaffID, when not 0, selects that staff member's feeds.
	StaffID int64
	// Branches adds every branch feed to StaffID's (with StaffID 0: branch feeds only).
	Branches bool
	// IncludeRevoked lists revoked feeds too.
	IncludeRevoked bool
}

// List returns the feeds f selects, newest first.
func List(ctx context.Context, tx pgx.Tx, f Filter) ([]Feed, error) {
	where := []string{"true"}
	var args []any
	switch {
	case f.StaffID != 0 && f.Branches:
		args = append(args, f.StaffID)
		where = append(where, "(profesional_id = $1 OR tipo = 'sede')")
	case f.StaffID != 0:
		args = append(args, f.StaffID)
		where = append(where, "profesional_id = $1")
	case f.Branches:
		where = append(where, "tipo = 'sede'")
	}
	if !f.IncludeRevoked {
		where = append(where, "revocado_en IS NULL")
	}
	rows, err := tx.Query(ctx, `SELECT `+feedColumns+` FROM calendario_feed WHERE `+strings.Join(where, " AND ")+
		` ORDER BY created_at DESC, id DESC`, args...)
	if err != nil {
		return nil, fmt.Errorf("listing feeds: %w", err)
	}
	list, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Feed, error) { return scanFeed(r) })
	if err != nil {
		return nil, fmt.Errorf("listing feeds: %w", err)
	}
	return list, nil
}

// Get returns the feed with id, revoked or not.
func Get(ctx context.Context, tx pgx.Tx, id int64) (Feed, error) {
	f, err := scanFeed(tx.QueryRow(ctx, `SELECT `+feedColumns+` FROM calendario_feed WHERE id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return Feed{}, fmt.Errorf("%w: id %d", ErrNotFound, id)
	}
	if err != nil {
		return Feed{}, fmt.Errorf("reading feed %d: %w", id, err)
	}
	return f, nil
}

// Revoke revokes the feed with id: its URL answers 404 from the commit on. Revoking a revoked
// feed changes nothing.
func Revoke(ctx context.Context, tx pgx.Tx, id int64) (Feed, error) {
	f, err := scanFeed(tx.QueryRow(ctx, `UPDATE calendario_feed SET revocado_en = coalesce(revocado_en, now())
		WHERE id = $1 RETURNING `+feedColumns, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return Feed{}, fmt.Errorf("%w: id %d", ErrNotFound, id)
	}
	if err != nil {
		return Feed{}, fmt.Errorf("revoking feed %d: %w", id, err)
	}
	return f, nil
}

// Resolve returns the live feed whose token is token. A malformed, unknown or revoked token is
// ErrNotFound. The stored hash is compared in constant time.
func Resolve(ctx context.Context, tx pgx.Tx, token string) (Feed, error) {
	if !wellFormed(token) {
		return Feed{}, ErrNotFound
	}
	h := hashToken(token)
	var stored []byte
	row := tx.QueryRow(ctx, `SELECT token_hash, `+feedColumns+` FROM calendario_feed
		WHERE token_hash = $1 AND revocado_en IS NULL`, h)
	var f Feed
	err := row.Scan(&stored, &f.ID, &f.Kind, &f.StaffID, &f.BranchID, &f.Label, &f.Prefix, &f.CreatedBy, &f.CreatedAt, &f.RevokedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return Feed{}, ErrNotFound
	}
	if err != nil {
		return Feed{}, fmt.Errorf("resolving feed: %w", err)
	}
	if subtle.ConstantTimeCompare(stored, h) != 1 {
		return Feed{}, ErrNotFound
	}
	return f, nil
}
