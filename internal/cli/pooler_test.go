package cli_test

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/appcitas/appcitas/internal/cli"
	"github.com/appcitas/appcitas/internal/pgtest"
)

// TestBehindPgBouncer runs the commands and serve with DATABASE_URL pointing at PgBouncer in
// transaction mode (three server connections for every client) and APPCITAS_LISTEN_URL at the
// server itself: migrations, provisioning, backups and restores, cross-tenant queries, tenant
// requests routed by organization, the job queue, and the organization watch, whose eviction must
// arrive at once.
func TestBehindPgBouncer(t *testing.T) {
	t.Parallel()
	app, conn := newApp(t)
	direct := app.env["DATABASE_URL"]
	app.env["DATABASE_URL"] = pgtest.PgBouncer(t, direct, pgtest.BouncerOptions{PoolSize: 3})
	app.env["APPCITAS_LISTEN_URL"] = direct
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	app.env["APPCITAS_ADDR"] = addr
	app.env["APPCITAS_JWT_SECRET"] = strings.Repeat("pgbouncer-secret-", 3)
	app.env["APPCITAS_BACKUP_EVERY"] = "0"
	ctx := t.Context()

	app.must(t, "migrate")
	ids := map[string]int64{}
	for _, slug := range []string{"clinica-a", "clinica-b"} {
		app.must(t, "create_organization", "--nombre", "Clínica "+slug, "--slug", slug)
		var id int64
		if err := conn.QueryRow(ctx, `SELECT id FROM public.organizacion_organizacion WHERE slug = $1`, slug).Scan(&id); err != nil {
			t.Fatal(err)
		}
		ids[slug] = id
		// create_organization gave it a trial on the default plan (public migration 0012).
		user := "dueno-" + slug
		app.must(t, "create_user", "--username", user, "--password", "clave-segura-123")
		app.must(t, "add_member", "--user", user, "--organization_id", strconv.FormatInt(id, 10), "--role", "admin")
	}
	next := app
	next.set = tenantSet(t, "ALTER TABLE citas_servicio ADD COLUMN nota_pgbouncer text")
	if out := next.must(t, "migrate_all_tenants").stdout; !strings.Contains(out, "Exitosos: 2") {
		t.Errorf("migrate_all_tenants through PgBouncer:\n%s", out)
	}
	if out := next.must(t, "list_tenants").stdout; !strings.Contains(out, "clinica-a") || !strings.Contains(out, "clinica-b") {
		t.Errorf("list_tenants through PgBouncer:\n%s", out)
	}

	t.Run("OperationsCommandsWork", func(t *testing.T) {
		idA := strconv.FormatInt(ids["clinica-a"], 10)
		backupDir := t.TempDir()
		next.must(t, "create_tenant_schema", "--organization_id", idA)
		next.must(t, "backup_tenant", "--organization_id", idA, "--out", backupDir+"/a.appcitas-backup")
		next.must(t, "restore_tenant", backupDir+"/a.appcitas-backup", "--new-slug", "clinica-a-copia", "--nombre", "Clínica A (copia)")
		next.must(t, "backup_all_tenants")
		if out := next.must(t, "list_backups", "--organization_id", idA).stdout; !strings.Contains(out, "appcitas-backup") {
			t.Errorf("list_backups through PgBouncer:\n%s", out)
		}
		if out := next.must(t, "query_all_tenants", "SELECT count(*) AS n FROM citas_servicio").stdout; !strings.Contains(out, "Clínica A (copia)") {
			t.Errorf("query_all_tenants through PgBouncer does not list the restored tenant:\n%s", out)
		}
		next.must(t, "plans", "list")
		next.must(t, "subscriptions", "list")
	})

	serveCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	var stderr lockedBuffer
	done := make(chan int, 1)
	go func() {
		done <- cli.Main(serveCtx, cli.Env{Args: []string{"serve"}, Stdin: strings.NewReader(""), Stdout: io.Discard, Stderr: &stderr,
			Getenv: func(k string) string { return app.env[k] }})
	}()
	base := "http://" + addr
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if res, err := http.Get(base + "/healthz"); err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				break
			}
		}
		select {
		case code := <-done:
			t.Fatalf("serve exited with %d:\n%s", code, stderr.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("serve did not answer within 30s:\n%s", stderr.String())
		}
	}
	call := func(method, path, token string, org int64, body string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(method, base+path, strings.NewReader(body))
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("X-Organization-ID", strconv.FormatInt(org, 10))
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b)
	}
	tokens := map[string]string{}
	for slug := range ids {
		req, _ := http.NewRequest("POST", base+"/api/auth/token", strings.NewReader(`{"username":"dueno-`+slug+`","password":"clave-segura-123"}`))
		req.Header.Set("Content-Type", "application/json")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var tok map[string]any
		_ = json.NewDecoder(res.Body).Decode(&tok)
		res.Body.Close()
		if res.StatusCode != http.StatusOK {
			t.Fatalf("login of dueno-%s: %d %v", slug, res.StatusCode, tok)
		}
		tokens[slug], _ = tok["access_token"].(string)
	}
	a, b := ids["clinica-a"], ids["clinica-b"]

	t.Run("SwitchesTheStatementCacheOffWithOneLogLine", func(t *testing.T) {
		if n := strings.Count(stderr.String(), "statement cache off"); n != 1 {
			t.Errorf("%d log lines say the statement cache is off; want 1:\n%s", n, stderr.String())
		}
	})

	t.Run("RoutesEachRequestToItsOwnTenant", func(t *testing.T) {
		if code, body := call("POST", "/api/sedes", tokens["clinica-a"], a, `{"nombre":"Sede solo de A","zona_horaria":"America/Bogota"}`); code != http.StatusCreated {
			t.Fatalf("POST /api/sedes in A: %d %s", code, body)
		}
		for range 20 { // many requests, few server connections
			if code, body := call("GET", "/api/sedes", tokens["clinica-a"], a, ""); code != http.StatusOK || !strings.Contains(body, "Sede solo de A") {
				t.Fatalf("GET /api/sedes in A: %d %s", code, body)
			}
			if code, body := call("GET", "/api/sedes", tokens["clinica-b"], b, ""); code != http.StatusOK || strings.Contains(body, "Sede solo de A") {
				t.Fatalf("GET /api/sedes in B: %d %s", code, body)
			}
		}
		if code, body := call("GET", "/api/sedes", tokens["clinica-a"], b, ""); code != http.StatusForbidden {
			t.Fatalf("A's owner asking for B's branches: %d %s; want 403", code, body)
		}
		// The day's appointments go in one round trip once the set-up is cached.
		for range 10 {
			for slug, id := range map[string]int64{"clinica-a": a, "clinica-b": b} {
				if code, body := call("GET", "/api/citas?desde=2027-03-01&hasta=2027-03-01", tokens[slug], id, ""); code != http.StatusOK || body != "{\"items\":[]}\n" {
					t.Fatalf("GET /api/citas in %s: %d %q", slug, code, body)
				}
			}
		}
		if code, body := call("GET", "/api/citas?desde=2027-03-01&hasta=2027-03-01", tokens["clinica-a"], b, ""); code != http.StatusForbidden {
			t.Fatalf("A's owner asking for B's appointments: %d %s; want 403", code, body)
		}
	})

	t.Run("JobQueueWorksThroughThePooler", func(t *testing.T) {
		// The billing sweep runs on start, once River has elected its leader by polling.
		for start := time.Now(); ; time.Sleep(100 * time.Millisecond) {
			var n int
			if err := conn.QueryRow(ctx, `SELECT count(*) FROM river.river_job WHERE state = 'completed'`).Scan(&n); err != nil {
				t.Fatal(err)
			}
			if n > 0 {
				break
			}
			if time.Since(start) > 30*time.Second {
				t.Fatalf("no job completed after 30 s:\n%s", stderr.String())
			}
		}
		if s := stderr.String(); strings.Contains(s, "prepared statement") || strings.Contains(s, "unsupported startup parameter") {
			t.Errorf("serve logged pooler errors:\n%s", s)
		}
	})

	t.Run("DeactivationTakesEffectAtOnce", func(t *testing.T) {
		if code, body := call("GET", "/api/sedes", tokens["clinica-b"], b, ""); code != http.StatusOK {
			t.Fatalf("GET /api/sedes in B before the deactivation: %d %s", code, body)
		}
		if _, err := conn.Exec(ctx, `UPDATE public.organizacion_organizacion SET is_active = false WHERE id = $1`, b); err != nil {
			t.Fatal(err)
		}
		for start := time.Now(); ; time.Sleep(20 * time.Millisecond) {
			code, _ := call("GET", "/api/sedes", tokens["clinica-b"], b, "")
			if code == http.StatusForbidden {
				break
			}
			if time.Since(start) > 3*time.Second { // unwatched entries live 5 s: only the watch is this quick
				t.Fatalf("B still answers %d 3 s after its deactivation: the watch's notifications do not arrive", code)
			}
		}
	})

	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("serve exited with %d:\n%s", code, stderr.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("serve did not stop within 30s")
	}
}

func TestPoolerSettings(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name, key, value string
	}{
		{"RejectsUnknownPooler", "APPCITAS_POOLER", "session"},
		{"RejectsListenURLThatIsNoConnectionString", "APPCITAS_LISTEN_URL", "postgres://x:secreto@host:notaport/db"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			app := appcitas{env: map[string]string{
				"DATABASE_URL":  "postgres://appcitas:secreto@127.0.0.1:1/appcitas?sslmode=disable&connect_timeout=5",
				"APPCITAS_DATA": t.TempDir(),
				tt.key:          tt.value,
			}}
			r := app.run(t, "list_tenants")
			if r.code != 2 || !strings.Contains(r.stderr, tt.key) || strings.Count(r.stderr, "\n") != 1 {
				t.Errorf("%s=%q: %s\nwant exit 2 and one line naming the variable", tt.key, tt.value, r)
			}
			if strings.Contains(r.stderr, "secreto") {
				t.Errorf("the error shows a password: %s", r.stderr)
			}
		})
	}
}
