package api

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/appcitas/appcitas/internal/pgtest"
	"github.com/appcitas/appcitas/internal/tenancy"
	"github.com/appcitas/appcitas/internal/tenancytest"
)

// setupLogSQL is setup with APPCITAS_LOG_SQL on: every statement is logged to e.logs.
func setupLogSQL(t testing.TB) *env {
	t.Helper()
	url := pgtest.NewDatabase(t)
	tenancytest.Migrate(t, url)
	tenancytest.DropTenantsAtCleanup(t, url)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	logs := &syncBuffer{}
	log := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	m := tenancytest.Open(t, url, tenancy.Config{Logger: log, Pool: tenancy.PoolOptions{LogSQL: true, Logger: log}})
	pool, err := m.Servers().Shared(ctx, tenancy.DefaultServer)
	if err != nil {
		t.Fatal(err)
	}
	clk := &clock{t: time.Now()}
	s, err := newServer(ctx, m, log, Config{JWTSecret: testSecret, PasswordHash: cheapHash, Now: clk.now})
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, ctx: ctx, m: m, pool: pool, s: s, clock: clk, logs: logs}
	e.rebuild()
	return e
}

// TestLogSQLRedactsSecrets checks that APPCITAS_LOG_SQL never writes a password hash, a refresh
// token's hash, or a part of either: a login and a refresh run while every statement is logged.
func TestLogSQLRedactsSecrets(t *testing.T) {
	t.Parallel()
	e := setupLogSQL(t)
	juan := e.createOrg("Barbería Juan")
	ana := e.createUser("ana", false)
	e.addProfile(juan, ana, "admin", true)

	tr := decodeTokens(t, e.do("POST", "/api/auth/token", map[string]any{"username": "ana", "password": "password-ana"}))
	tr2 := decodeTokens(t, e.do("POST", "/api/auth/refresh", map[string]any{"refresh_token": tr.RefreshToken}))
	if rec := e.do("POST", "/api/auth/logout", map[string]any{"refresh_token": tr2.RefreshToken}); rec.Code != 204 {
		t.Fatalf("logout = %d %s", rec.Code, rec.Body.String())
	}

	var hash string
	if err := e.pool.QueryRow(e.ctx, `SELECT password FROM public.auth_user WHERE id = $1`, ana.ID).Scan(&hash); err != nil {
		t.Fatal(err)
	}
	rows, err := e.pool.Query(e.ctx, `SELECT token_hash FROM public.auth_refresh_token WHERE user_id = $1`, ana.ID)
	if err != nil {
		t.Fatal(err)
	}
	var tokenHashes [][]byte
	for rows.Next() {
		var h []byte
		if err := rows.Scan(&h); err != nil {
			t.Fatal(err)
		}
		tokenHashes = append(tokenHashes, h)
	}
	if rows.Err() != nil || len(tokenHashes) < 2 {
		t.Fatalf("want two refresh token hashes, got %d (%v)", len(tokenHashes), rows.Err())
	}
	logs := e.logs.String()
	if !strings.Contains(logs, "auth_refresh_token") || !strings.Contains(logs, tenancy.Redacted) {
		t.Errorf("the SQL log does not show the refresh token statements redacted")
	}
	// The hash's salt and key follow its parameters ($argon2id$v=19$m=...,t=...,p=...$salt$key).
	parts := strings.Split(hash, "$")
	forbidden := map[string]string{
		"ArgonPrefix":  "$argon2id$",
		"Salt":         parts[len(parts)-2][:12],
		"Key":          parts[len(parts)-1][:12],
		"Password":     "password-ana",
		"RefreshToken": tr.RefreshToken[:12],
	}
	for i, h := range tokenHashes {
		forbidden["TokenHashHex"+string(rune('A'+i))] = hex.EncodeToString(h)[:12]
		forbidden["TokenHashBase64"+string(rune('A'+i))] = base64.StdEncoding.EncodeToString(h)[:12]
	}
	for name, s := range forbidden {
		t.Run("LogLacks"+name, func(t *testing.T) {
			if strings.Contains(logs, s) {
				t.Errorf("the SQL log holds %q:\n%s", s, logs)
			}
		})
	}
}
