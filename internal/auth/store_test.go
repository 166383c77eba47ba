package auth

import (
	"context"
	"errors"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/appcitas/appcitas/internal/pgtest"
	"github.com/appcitas/appcitas/internal/tenancytest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// setupStore returns a store on a fresh, migrated database, whose clock the test can move.
// Its pool runs with an empty search_path.
func setupStore(t *testing.T) (*Store, *pgxpool.Pool, *time.Time) {
	t.Helper()
	url := pgtest.NewDatabase(t)
	tenancytest.Migrate(t, url)
	// The store's SQL names its schema: the pool finds nothing by search_path.
	pool := tenancytest.Pool(t, url)
	now := time.Now()
	s := NewStore(pool, StoreOptions{Hash: testHash, RefreshTTL: time.Hour, Now: func() time.Time { return now }})
	return s, pool, &now
}

func TestStore(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, pool, now := setupStore(t)
	ana, err := s.CreateUser(ctx, NewUser{Username: "Ana", Email: "ana@example.com", Password: "s3cret-pass"})
	if err != nil {
		t.Fatal(err)
	}

	t.Run("StoresAnArgon2idHashNotThePassword", func(t *testing.T) {
		var hash string
		if err := pool.QueryRow(ctx, `SELECT password FROM public.auth_user WHERE id = $1`, ana.ID).Scan(&hash); err != nil {
			t.Fatal(err)
		}
		if ok, err := VerifyPassword(hash, "s3cret-pass"); !ok || err != nil {
			t.Fatalf("stored hash %q does not verify: %v", hash, err)
		}
	})

	t.Run("RefusesDuplicateUsernameOrEmail", func(t *testing.T) {
		for _, n := range []NewUser{
			{Username: "ANA", Password: "s3cret-pass"},
			{Username: "other", Email: "ANA@example.com", Password: "s3cret-pass"},
		} {
			if _, err := s.CreateUser(ctx, n); !errors.Is(err, ErrConflict) {
				t.Fatalf("CreateUser(%+v) err = %v, want ErrConflict", n, err)
			}
		}
	})

	t.Run("RefusesInvalidInput", func(t *testing.T) {
		for _, n := range []NewUser{
			{Username: "", Password: "s3cret-pass"},
			{Username: "with space", Password: "s3cret-pass"},
			{Username: "bob", Password: "short"},
			{Username: "bob", Email: "not-an-email", Password: "s3cret-pass"},
		} {
			if _, err := s.CreateUser(ctx, n); !errors.Is(err, ErrInvalid) {
				t.Fatalf("CreateUser(%+v) err = %v, want ErrInvalid", n, err)
			}
		}
	})

	t.Run("AuthenticatesByUsernameOrEmailCaseInsensitively", func(t *testing.T) {
		for _, c := range []Credentials{{Username: "ana", Password: "s3cret-pass"}, {Email: "ANA@example.com", Password: "s3cret-pass"}} {
			u, err := s.Authenticate(ctx, c)
			if err != nil || u.ID != ana.ID || u.LastLogin == nil {
				t.Fatalf("Authenticate(%+v) = %+v, %v", c, u, err)
			}
		}
	})

	t.Run("RefusesWrongPasswordUnknownUserAndInactiveUserAlike", func(t *testing.T) {
		inactive, err := s.CreateUser(ctx, NewUser{Username: "gone", Password: "s3cret-pass"})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := pool.Exec(ctx, `UPDATE public.auth_user SET is_active = false WHERE id = $1`, inactive.ID); err != nil {
			t.Fatal(err)
		}
		for _, c := range []Credentials{
			{Username: "ana", Password: "wrong-pass"},
			{Username: "nobody", Password: "s3cret-pass"},
			{Username: "gone", Password: "s3cret-pass"},
			{Password: "s3cret-pass"},
		} {
			if _, err := s.Authenticate(ctx, c); !errors.Is(err, ErrInvalidCredentials) {
				t.Fatalf("Authenticate(%+v) err = %v, want ErrInvalidCredentials", c, err)
			}
		}
	})

	t.Run("RotatesRefreshTokensAndRefusesTheSpentOne", func(t *testing.T) {
		first, err := s.IssueRefresh(ctx, ana.ID, 0)
		if err != nil {
			t.Fatal(err)
		}
		rot, err := s.Rotate(ctx, first)
		if err != nil || rot.User.ID != ana.ID || rot.RefreshToken == first {
			t.Fatalf("Rotate = %+v, %v", rot, err)
		}
		if _, err := s.Rotate(ctx, first); !errors.Is(err, ErrRefreshInvalid) {
			t.Fatalf("reusing a spent token: err = %v, want ErrRefreshInvalid", err)
		}
		// The reuse revoked the family: the newer token is dead too.
		if _, err := s.Rotate(ctx, rot.RefreshToken); !errors.Is(err, ErrRefreshInvalid) {
			t.Fatalf("token of a revoked family: err = %v, want ErrRefreshInvalid", err)
		}
	})

	t.Run("RevokeEndsTheLogin", func(t *testing.T) {
		tok, _ := s.IssueRefresh(ctx, ana.ID, 0)
		rot, err := s.Rotate(ctx, tok)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Revoke(ctx, rot.RefreshToken); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Rotate(ctx, rot.RefreshToken); !errors.Is(err, ErrRefreshInvalid) {
			t.Fatalf("after Revoke: err = %v, want ErrRefreshInvalid", err)
		}
		if err := s.Revoke(ctx, "rt_unknown"); err != nil {
			t.Fatalf("revoking an unknown token: %v", err)
		}
	})

	t.Run("RefusesUnknownAndMalformedRefreshTokens", func(t *testing.T) {
		for _, tok := range []string{"", "rt_nope", "garbage", "rt_" + string(make([]byte, 500))} {
			if _, err := s.Rotate(ctx, tok); !errors.Is(err, ErrRefreshInvalid) {
				t.Fatalf("Rotate(%q) err = %v", tok, err)
			}
		}
	})

	t.Run("RefusesExpiredRefreshToken", func(t *testing.T) {
		tok, _ := s.IssueRefresh(ctx, ana.ID, 0)
		saved := *now
		*now = now.Add(2 * time.Hour)
		defer func() { *now = saved }()
		if _, err := s.Rotate(ctx, tok); !errors.Is(err, ErrRefreshInvalid) {
			t.Fatalf("err = %v, want ErrRefreshInvalid", err)
		}
	})

	t.Run("SetPasswordRevokesRefreshTokens", func(t *testing.T) {
		u, _ := s.CreateUser(ctx, NewUser{Username: "carla", Password: "s3cret-pass"})
		tok, _ := s.IssueRefresh(ctx, u.ID, 0)
		if err := s.SetPassword(ctx, u.ID, "new-s3cret-pass"); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Rotate(ctx, tok); !errors.Is(err, ErrRefreshInvalid) {
			t.Fatalf("err = %v, want ErrRefreshInvalid", err)
		}
		if _, err := s.Authenticate(ctx, Credentials{Username: "carla", Password: "new-s3cret-pass"}); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("RevokeSessionsEndsEveryLoginAndMovesTheGeneration", func(t *testing.T) {
		u, _ := s.CreateUser(ctx, NewUser{Username: "dora", Password: "s3cret-pass"})
		phone, _ := s.IssueRefresh(ctx, u.ID, 0)
		laptop, _ := s.IssueRefresh(ctx, u.ID, 0)
		if err := s.RevokeSessions(ctx, u.ID); err != nil {
			t.Fatal(err)
		}
		for _, tok := range []string{phone, laptop} {
			if _, err := s.Rotate(ctx, tok); !errors.Is(err, ErrRefreshInvalid) {
				t.Fatalf("err = %v, want ErrRefreshInvalid", err)
			}
		}
		again, err := s.Authenticate(ctx, Credentials{Username: "dora", Password: "s3cret-pass"})
		if err != nil || again.SessionGeneration != u.SessionGeneration+1 {
			t.Fatalf("after: generation %d (%v); want %d", again.SessionGeneration, err, u.SessionGeneration+1)
		}
		fresh, _ := s.IssueRefresh(ctx, u.ID, 0)
		rot, err := s.Rotate(ctx, fresh)
		if err != nil || rot.User.SessionGeneration != again.SessionGeneration {
			t.Fatalf("a new login's rotation: generation %d, %v", rot.User.SessionGeneration, err)
		}
	})

	t.Run("RevokeSessionsOfAnUnknownUserIsNotFound", func(t *testing.T) {
		if err := s.RevokeSessions(ctx, 1<<40); !errors.Is(err, ErrUserNotFound) {
			t.Fatalf("err = %v, want ErrUserNotFound", err)
		}
	})

	t.Run("StandingIsTheCurrentRow", func(t *testing.T) {
		u, _ := s.CreateUser(ctx, NewUser{Username: "eli", Password: "s3cret-pass", Superuser: true})
		if st, err := s.Standing(ctx, u.ID); err != nil || st != (Standing{Exists: true, IsActive: true, IsSuperuser: true}) {
			t.Fatalf("standing = %+v, %v", st, err)
		}
		if _, err := pool.Exec(ctx, `UPDATE public.auth_user SET is_active = false, is_superuser = false, session_generation = 3 WHERE id = $1`, u.ID); err != nil {
			t.Fatal(err)
		}
		if st, err := s.Standing(ctx, u.ID); err != nil || st != (Standing{Exists: true, SessionGeneration: 3}) {
			t.Fatalf("standing = %+v, %v", st, err)
		}
		if st, err := s.Standing(ctx, 1<<40); err != nil || st.Exists {
			t.Fatalf("standing of no user = %+v, %v", st, err)
		}
	})

	t.Run("ListsMirroredMemberships", func(t *testing.T) {
		var org int64
		if err := pool.QueryRow(ctx, `INSERT INTO public.organizacion_organizacion (nombre, slug) VALUES ('Barbería Juan', 'barberia-juan') RETURNING id`).Scan(&org); err != nil {
			t.Fatal(err)
		}
		if err := SyncMembership(ctx, pool, Membership{UserID: ana.ID, OrganizationID: org, Role: "staff", IsActive: true}); err != nil {
			t.Fatal(err)
		}
		if err := SyncMembership(ctx, pool, Membership{UserID: ana.ID, OrganizationID: org, Role: "admin", IsActive: true}); err != nil {
			t.Fatal(err)
		}
		orgs, err := s.Organizations(ctx, ana.ID)
		if err != nil || len(orgs) != 1 || orgs[0].ID != org || orgs[0].Role != "admin" || orgs[0].Name != "Barbería Juan" {
			t.Fatalf("Organizations = %+v, %v", orgs, err)
		}
		if err := SyncMembership(ctx, pool, Membership{UserID: ana.ID, OrganizationID: org, Role: "admin", IsActive: false}); err != nil {
			t.Fatal(err)
		}
		if orgs, _ := s.Organizations(ctx, ana.ID); len(orgs) != 0 {
			t.Fatalf("inactive membership listed: %+v", orgs)
		}
	})
}

func TestLoadOrCreateSecret(t *testing.T) {
	t.Parallel()
	path := t.TempDir() + "/sub/jwt_secret"
	a, created, err := LoadOrCreateSecret(path)
	if err != nil || !created || len(a) < MinSecretLen {
		t.Fatalf("first call = %d bytes, %v, %v", len(a), created, err)
	}
	st, err := os.Stat(path)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("secret file mode = %v, %v; want 0600", st.Mode().Perm(), err)
	}
	b, created, err := LoadOrCreateSecret(path)
	if err != nil || created || string(a) != string(b) {
		t.Fatal("second call did not return the stored secret")
	}
}
