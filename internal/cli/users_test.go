package cli_test

import (
	"strings"
	"testing"
)

// TestRevokeSessions checks that revoke_sessions signs a user out everywhere (a new session
// generation, every refresh token revoked) and that bad input gets a message and a non-zero exit.
func TestRevokeSessions(t *testing.T) {
	t.Parallel()
	app, conn := newApp(t)
	ctx := t.Context()
	app.must(t, "migrate")
	app.must(t, "create_user", "--username", "ana", "--password", "ana-password-123")
	var id int64
	if err := conn.QueryRow(ctx, `SELECT id FROM public.auth_user WHERE username = 'ana'`).Scan(&id); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, `INSERT INTO public.auth_refresh_token (user_id, token_hash, family, expires_at)
		VALUES ($1, sha256('a'), gen_random_uuid(), now() + interval '1 day')`, id); err != nil {
		t.Fatal(err)
	}

	t.Run("RevokesEverySession", func(t *testing.T) {
		r := app.must(t, "revoke_sessions", "--user", "ANA")
		if !strings.Contains(r.stdout, "Sesiones revocadas: ana") {
			t.Fatalf("stdout: %s", r)
		}
		var gen, live int64
		if err := conn.QueryRow(ctx, `SELECT session_generation,
			(SELECT count(*) FROM public.auth_refresh_token WHERE user_id = $1 AND revoked_at IS NULL)
			FROM public.auth_user WHERE id = $1`, id).Scan(&gen, &live); err != nil {
			t.Fatal(err)
		}
		if gen != 1 || live != 0 {
			t.Fatalf("session generation %d, %d live refresh tokens; want 1 and 0", gen, live)
		}
	})
	t.Run("RejectsAnUnknownUser", func(t *testing.T) {
		r := app.run(t, "revoke_sessions", "--user", "nadie")
		if r.code == 0 || !strings.Contains(r.stderr, "not found") {
			t.Fatalf("want a non-zero exit naming the unknown user: %s", r)
		}
	})
	t.Run("RequiresUser", func(t *testing.T) {
		if r := app.run(t, "revoke_sessions"); r.code != 2 || !strings.Contains(r.stderr, "--user is required") {
			t.Fatalf("want exit 2 and --user is required: %s", r)
		}
	})
}
