package cli_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/appcitas/appcitas/internal/cli"
)

// lockedBuffer is a buffer that serve's goroutines may write while the test reads it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// TestServeHasTheDashboard runs `appcitas serve` and uses the tenant dashboard as an operator
// would: the page, the list with backup and billing state, a backup into the configured store and
// a trial extension.
func TestServeHasTheDashboard(t *testing.T) {
	t.Parallel()
	app, conn := newApp(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	app.env["APPCITAS_ADDR"] = addr
	app.env["APPCITAS_JWT_SECRET"] = strings.Repeat("dashboard-secret-", 3)
	app.env["APPCITAS_BACKUP_EVERY"] = "0"
	app.must(t, "migrate")
	app.must(t, "create_organization", "--nombre", "Barbería Juan", "--slug", "barberia-juan")
	var orgID int64
	var schema string
	if err := conn.QueryRow(t.Context(), `SELECT id, schema_name FROM public.organizacion_organizacion WHERE slug = 'barberia-juan'`).Scan(&orgID, &schema); err != nil {
		t.Fatal(err)
	}
	// create_organization gave it a trial on the default plan (public migration 0012).
	app.must(t, "create_superuser", "--username", "root", "--password", "root-password-123")

	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var stderr lockedBuffer
	done := make(chan int, 1)
	go func() {
		done <- cli.Main(ctx, cli.Env{Args: []string{"serve"}, Stdin: strings.NewReader(""), Stdout: io.Discard, Stderr: &stderr,
			Getenv: func(k string) string { return app.env[k] }})
	}()
	base := "http://" + addr
	deadline := time.Now().Add(30 * time.Second)
	for {
		res, err := http.Get(base + "/healthz")
		if err == nil {
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
		time.Sleep(50 * time.Millisecond)
	}

	call := func(method, path, token, body string) (int, map[string]any) {
		t.Helper()
		req, _ := http.NewRequest(method, base+path, strings.NewReader(body))
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		var out map[string]any
		b, _ := io.ReadAll(res.Body)
		_ = json.Unmarshal(b, &out)
		return res.StatusCode, out
	}

	res, err := http.Get(base + "/admin")
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusOK || !strings.Contains(string(page), "/admin/app.js") || res.Header.Get("X-Frame-Options") != "DENY" {
		t.Fatalf("GET /admin: %d %s", res.StatusCode, page)
	}

	code, tok := call("POST", "/api/auth/token", "", `{"username":"root","password":"root-password-123"}`)
	if code != http.StatusOK {
		t.Fatalf("login: %d %v", code, tok)
	}
	token, _ := tok["access_token"].(string)

	code, list := call("GET", "/api/admin/tenants", token, "")
	if code != http.StatusOK || list["backups_configured"] != true || list["billing_configured"] != true || list["total"] != float64(1) {
		t.Fatalf("list: %d %v", code, list)
	}

	id := fmt.Sprint(orgID)
	code, b := call("POST", "/api/admin/tenants/"+id+"/backup", token, "")
	if code != http.StatusCreated {
		t.Fatalf("backup: %d %v", code, b)
	}
	name, _ := b["name"].(string)
	if _, err := os.Stat(filepath.Join(app.env["APPCITAS_DATA"], "backups", schema, name)); err != nil {
		t.Fatalf("the backup is not in $APPCITAS_DATA/backups: %v (%v)", err, b)
	}
	if out := app.must(t, "list_backups", "--organization_id="+id).stdout; !strings.Contains(out, name) {
		t.Errorf("list_backups does not show the dashboard's backup %s:\n%s", name, out)
	}

	code, ext := call("POST", "/api/admin/tenants/"+id+"/extend_trial", token, `{"days":7}`)
	if code != http.StatusOK {
		t.Fatalf("extend_trial: %d %v", code, ext)
	}
	if out := app.must(t, "subscriptions", "history", "--organization_id="+id).stdout; !strings.Contains(out, "admin dashboard: extend_trial by root") {
		t.Errorf("history lacks the dashboard's extension:\n%s", out)
	}

	// serve's two organization-keyed caches (routing's organizations, billing's subscription
	// states) share one LISTEN connection, and a change made by another process reaches them.
	var listening int
	if err := conn.QueryRow(t.Context(), `SELECT count(*) FROM pg_stat_activity
		WHERE datname = current_database() AND query = 'LISTEN appcitas_organizacion'`).Scan(&listening); err != nil || listening != 1 {
		t.Errorf("%d connections listen on appcitas_organizacion (%v); want 1", listening, err)
	}
	app.must(t, "create_user", "--username", "dueno", "--password", "dueno-password-123")
	app.must(t, "add_member", "--user", "dueno", "--organization_id", id, "--role", "admin")
	code, dtok := call("POST", "/api/auth/token", "", `{"username":"dueno","password":"dueno-password-123"}`)
	if code != http.StatusOK {
		t.Fatalf("login of a member: %d %v", code, dtok)
	}
	branches := func() int { // superusers skip the subscription check: a member asks
		req, _ := http.NewRequest("GET", base+"/api/sedes", nil)
		req.Header.Set("Authorization", "Bearer "+dtok["access_token"].(string))
		req.Header.Set("X-Organization-ID", id)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res.StatusCode
	}
	if code := branches(); code != http.StatusOK {
		t.Fatalf("GET /api/sedes before the suspension: %d", code)
	}
	if _, err := conn.Exec(t.Context(), `UPDATE public.billing_suscripcion SET estado = 'suspended' WHERE organizacion_id = $1`, orgID); err != nil {
		t.Fatal(err)
	}
	for start := time.Now(); branches() != http.StatusPaymentRequired; time.Sleep(20 * time.Millisecond) {
		if time.Since(start) > 3*time.Second { // the unwatched TTL is 5 s: only the watch is this quick
			t.Fatal("serve still serves a suspended organization 3 s after the change")
		}
	}
	if _, err := conn.Exec(t.Context(), `UPDATE public.billing_suscripcion SET estado = 'trialing' WHERE organizacion_id = $1`, orgID); err != nil {
		t.Fatal(err)
	}

	code, deact := call("POST", "/api/admin/tenants/"+id+"/deactivate", token, "")
	if code != http.StatusOK || deact["is_active"] != false {
		t.Fatalf("deactivate: %d %v", code, deact)
	}
	if out := app.must(t, "list_tenants").stdout; !strings.Contains(out, "Inactivo") {
		t.Errorf("list_tenants does not show the deactivation:\n%s", out)
	}

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
