package auth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// ErrRefreshInvalid: the refresh token is unknown, expired, revoked or already used, or its user
// is inactive. A token used twice revokes every token descended from the same login.
var ErrRefreshInvalid = errors.New("invalid refresh token")

// DefaultRefreshTTL is how long a refresh token lives unless configured otherwise.
const DefaultRefreshTTL = 30 * 24 * time.Hour

// refreshPrefix marks appcitas refresh tokens, so that a leaked one is recognisable.
const refreshPrefix = "rt_"

func newRefreshToken() (string, []byte, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", nil, fmt.Errorf("reading refresh token: %w", err)
	}
	tok := refreshPrefix + base64.RawURLEncoding.EncodeToString(b)
	return tok, hashRefresh(tok), nil
}

// hashRefresh is SHA-256: refresh tokens carry 256 random bits, so a slow hash adds nothing.
func hashRefresh(tok string) []byte {
	h := sha256.Sum256([]byte(tok))
	return h[:]
}

// IssueRefresh stores and returns a new refresh token for a user, remembering org (0: none) as the
// default organization of the access tokens it will buy.
func (s *Store) IssueRefresh(ctx context.Context, userID, org int64) (string, error) {
	return s.insertRefresh(ctx, s.db, userID, org, "")
}

func (s *Store) insertRefresh(ctx context.Context, db DB, userID, org int64, family string) (string, error) {
	tok, hash, err := newRefreshToken()
	if err != nil {
		return "", err
	}
	var orgArg *int64
	if org > 0 {
		orgArg = &org
	}
	var famArg *string
	if family != "" {
		famArg = &family
	}
	if _, err := db.Exec(ctx, `INSERT INTO public.auth_refresh_token (user_id, token_hash, family, organizacion_id, expires_at)
		VALUES ($1, $2, coalesce($3::uuid, gen_random_uuid()), $4, $5)`,
		userID, hash, famArg, orgArg, s.opts.Now().Add(s.opts.RefreshTTL)); err != nil {
		return "", fmt.Errorf("storing refresh token: %w", err)
	}
	return tok, nil
}

// Rotation is what [Store.Rotate] returns: the user, the default organization and the refresh
// token that replaces the one used.
type Rotation struct {
	User         User
	Org          int64
	RefreshToken string
}

// Rotate spends a refresh token: it is revoked and a new one of the same family is returned. A
// token that was already spent or revoked is refused and revokes its whole family (whoever holds
// the newer tokens may have stolen it).
func (s *Store) Rotate(ctx context.Context, token string) (Rotation, error) {
	if !strings.HasPrefix(token, refreshPrefix) || len(token) > 100 {
		return Rotation{}, ErrRefreshInvalid
	}
	tx, err := s.db.Begin(ctx)
	if err != nil {
		return Rotation{}, fmt.Errorf("rotating refresh token: %w", err)
	}
	defer tx.Rollback(ctx)
	var (
		id        int64
		family    string
		org       *int64
		expiresAt time.Time
		revokedAt *time.Time
	)
	// The user's row is share-locked, so that a RevokeSessions running at the same time either
	// waits for this rotation (and then revokes the new token) or goes first (and this token is
	// then found revoked).
	u, err := scanUser(tx.QueryRow(ctx, `SELECT u.id, u.username, u.email, u.first_name, u.last_name, u.is_active, u.is_staff,
			u.is_superuser, u.date_joined, u.last_login, u.session_generation, t.id, t.family::text, t.organizacion_id, t.expires_at, t.revoked_at
		FROM public.auth_refresh_token t JOIN public.auth_user u ON u.id = t.user_id
		WHERE t.token_hash = $1 FOR UPDATE OF t FOR SHARE OF u`, hashRefresh(token)), &id, &family, &org, &expiresAt, &revokedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return Rotation{}, ErrRefreshInvalid
	}
	if err != nil {
		return Rotation{}, fmt.Errorf("rotating refresh token: %w", err)
	}
	now := s.opts.Now()
	if revokedAt != nil || !u.IsActive {
		if _, err := tx.Exec(ctx, `UPDATE public.auth_refresh_token SET revoked_at = $2 WHERE family = $1::uuid AND revoked_at IS NULL`, family, now); err != nil {
			return Rotation{}, fmt.Errorf("revoking refresh family: %w", err)
		}
		if err := tx.Commit(ctx); err != nil {
			return Rotation{}, fmt.Errorf("revoking refresh family: %w", err)
		}
		if revokedAt != nil {
			return Rotation{}, fmt.Errorf("%w: reused; every token of this login is revoked", ErrRefreshInvalid)
		}
		return Rotation{}, fmt.Errorf("%w: user is inactive", ErrRefreshInvalid)
	}
	if !now.Before(expiresAt) {
		return Rotation{}, fmt.Errorf("%w: expired", ErrRefreshInvalid)
	}
	if _, err := tx.Exec(ctx, `UPDATE public.auth_refresh_token SET revoked_at = $2, used_at = $2 WHERE id = $1`, id, now); err != nil {
		return Rotation{}, fmt.Errorf("spending refresh token: %w", err)
	}
	r := Rotation{User: u}
	if org != nil {
		r.Org = *org
	}
	if r.RefreshToken, err = s.insertRefresh(ctx, tx, u.ID, r.Org, family); err != nil {
		return Rotation{}, err
	}
	if err := tx.Commit(ctx); err != nil {
		return Rotation{}, fmt.Errorf("rotating refresh token: %w", err)
	}
	return r, nil
}

// Revoke revokes a refresh token and every token of its family (a logout). An unknown token is
// not an error.
func (s *Store) Revoke(ctx context.Context, token string) error {
	if !strings.HasPrefix(token, refreshPrefix) || len(token) > 100 {
		return nil
	}
	_, err := s.db.Exec(ctx, `UPDATE public.auth_refresh_token SET revoked_at = $2
		WHERE family = (SELECT family FROM public.auth_refresh_token WHERE token_hash = $1) AND revoked_at IS NULL`,
		hashRefresh(token), s.opts.Now())
	if err != nil {
		return fmt.Errorf("revoking refresh token: %w", err)
	}
	return nil
}

// RevokeUser revokes every refresh token of a user (password change, deactivation).
func (s *Store) RevokeUser(ctx context.Context, userID int64) error {
	if _, err := s.db.Exec(ctx, `UPDATE public.auth_refresh_token SET revoked_at = $2 WHERE user_id = $1 AND revoked_at IS NULL`,
		userID, s.opts.Now()); err != nil {
		return fmt.Errorf("revoking refresh tokens of user %d: %w", userID, err)
	}
	return nil
}

// RevokeSessions signs the user out everywhere: it revokes every refresh token of the user and
// bumps the user's session generation, so that every access token issued before is refused. The
// change is announced (public migration 0010's trigger), so API processes refuse those tokens on
// their next request.
func (s *Store) RevokeSessions(ctx context.Context, userID int64) error {
	tx, err := s.db.Begin(ctx)
	if err != nil {
		return fmt.Errorf("revoking sessions of user %d: %w", userID, err)
	}
	defer tx.Rollback(ctx)
	tag, err := tx.Exec(ctx, `UPDATE public.auth_user SET session_generation = session_generation + 1 WHERE id = $1`, userID)
	if err != nil {
		return fmt.Errorf("revoking sessions of user %d: %w", userID, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("%w: id %d", ErrUserNotFound, userID)
	}
	if _, err := tx.Exec(ctx, `UPDATE public.auth_refresh_token SET revoked_at = $2 WHERE user_id = $1 AND revoked_at IS NULL`,
		userID, s.opts.Now()); err != nil {
		return fmt.Errorf("revoking refresh tokens of user %d: %w", userID, err)
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("revoking sessions of user %d: %w", userID, err)
	}
	return nil
}

// Standing is what authorizes a user's requests now: whether the user exists and is active,
// whether it is a superuser, and its session generation.
type Standing struct {
	// Exists is false when no user has the id.
	Exists      bool
	IsActive    bool
	IsSuperuser bool
	// SessionGeneration is [User.SessionGeneration].
	SessionGeneration int64
}

// Standing reads the user's current standing (Exists false when there is no such user).
func (s *Store) Standing(ctx context.Context, userID int64) (Standing, error) {
	st := Standing{Exists: true}
	err := s.db.QueryRow(ctx, `SELECT is_active, is_superuser, session_generation FROM public.auth_user WHERE id = $1`, userID).
		Scan(&st.IsActive, &st.IsSuperuser, &st.SessionGeneration)
	if errors.Is(err, pgx.ErrNoRows) {
		return Standing{}, nil
	}
	if err != nil {
		return Standing{}, fmt.Errorf("reading the standing of user %d: %w", userID, err)
	}
	return st, nil
}

// DeleteExpiredRefresh deletes refresh tokens that expired before cutoff, and returns how many.
func (s *Store) DeleteExpiredRefresh(ctx context.Context, cutoff time.Time) (int64, error) {
	tag, err := s.db.Exec(ctx, `DELETE FROM public.auth_refresh_token WHERE expires_at < $1`, cutoff)
	if err != nil {
		return 0, fmt.Errorf("deleting expired refresh tokens: %w", err)
	}
	return tag.RowsAffected(), nil
}
