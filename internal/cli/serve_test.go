package cli_test

import (
	"context"
	"encoding/json"
	"io"
	"maps"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/appcitas/appcitas/internal/cli"
)

// served is a running `appcitas serve`.
type served struct {
	base   string
	logs   *lockedBuffer
	stdout *lockedBuffer
}

// startServe runs `appcitas serve` with app's environment on a free port until the test ends, and
// waits until it answers /healthz.
func startServe(t *testing.T, app appcitas) served {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	env := map[string]string{"APPCITAS_ADDR": addr, "APPCITAS_JWT_SECRET": strings.Repeat("serve-test-secret-", 3), "APPCITAS_BACKUP_EVERY": "0"}
	maps.Copy(env, app.env)
	env["APPCITAS_ADDR"] = addr
	ctx, cancel := context.WithCancel(context.Background())
	logs, stdout := &lockedBuffer{}, &lockedBuffer{}
	done := make(chan int, 1)
	go func() {
		done <- cli.Main(ctx, cli.Env{Args: []string{"serve"}, Stdin: strings.NewReader(""), Stdout: stdout, Stderr: logs,
			Getenv: func(k string) string { return env[k] }})
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case code := <-done:
			if code != 0 {
				t.Errorf("serve exited with %d:\n%s", code, logs.String())
			}
		case <-time.After(30 * time.Second):
			t.Error("serve did not stop within 30s")
		}
	})
	base := "http://" + addr
	deadline := time.Now().Add(30 * time.Second)
	for {
		res, err := http.Get(base + "/healthz")
		if err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return served{base: base, logs: logs, stdout: stdout}
			}
		}
		select {
		case code := <-done:
			done <- code
			t.Fatalf("serve exited with %d:\n%s", code, logs.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("serve did not answer within 30s:\n%s", logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// call sends a request to the served API and decodes its JSON answer.
func (s served) call(t *testing.T, method, path, body string, headers ...string) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(method, s.base+path, strings.NewReader(body))
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
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

// login returns an access token for username.
func (s served) login(t *testing.T, username, password string) string {
	t.Helper()
	code, tok := s.call(t, "POST", "/api/auth/token", `{"username":"`+username+`","password":"`+password+`"}`)
	if code != http.StatusOK {
		t.Fatalf("login of %s: %d %v", username, code, tok)
	}
	access, _ := tok["access_token"].(string)
	return access
}

// TestServeWompiSimulator checks serve's payments with DATABASE_URL and no Wompi keys: off, with
// one log line and 503 payments_unavailable, unless APPCITAS_WOMPI_SIMULATOR=1 asks for the
// simulator.
func TestServeWompiSimulator(t *testing.T) {
	t.Parallel()
	app, _ := newApp(t)
	app.must(t, "migrate")
	app.must(t, "create_organization", "--nombre", "Barbería Juan", "--slug", "barberia-juan")
	app.must(t, "create_user", "--username", "ana", "--email", "ana@example.com", "--password", "ana-password-123")
	app.must(t, "add_member", "--user", "ana", "--slug", "barberia-juan", "--role", "admin")

	acceptance := func(t *testing.T, s served) (int, map[string]any) {
		tok := s.login(t, "ana", "ana-password-123")
		var org string
		_, me := s.call(t, "GET", "/api/me", "", "Authorization", "Bearer "+tok)
		if orgs, _ := me["organizations"].([]any); len(orgs) == 1 {
			o, _ := orgs[0].(map[string]any)
			org = jsonNumber(o["id"])
		}
		return s.call(t, "GET", "/api/billing/acceptance", "", "Authorization", "Bearer "+tok, "X-Organization-ID", org)
	}

	t.Run("PaymentsOffWithoutKeys", func(t *testing.T) {
		s := startServe(t, app)
		code, body := acceptance(t, s)
		if code != http.StatusServiceUnavailable || errorCode(body) != "payments_unavailable" {
			t.Errorf("acceptance without keys = %d %v; want 503 payments_unavailable", code, body)
		}
		logs := s.logs.String()
		if strings.Contains(logs, "WOMPI SIMULATOR") || strings.Count(logs, "payments off") != 1 {
			t.Errorf("want one 'payments off' line and no simulator:\n%s", logs)
		}
	})

	t.Run("SimulatorWhenAsked", func(t *testing.T) {
		sim := appcitas{env: withEnv(app.env, "APPCITAS_WOMPI_SIMULATOR", "1")}
		s := startServe(t, sim)
		code, body := acceptance(t, s)
		if code != http.StatusOK || body["public_key"] == nil {
			t.Errorf("acceptance with the simulator = %d %v; want 200 with a public key", code, body)
		}
		if !strings.Contains(s.logs.String(), "WOMPI SIMULATOR") {
			t.Errorf("the simulator's warning is missing:\n%s", s.logs.String())
		}
	})
}

// errorCode is the code of an API error body.
func errorCode(body map[string]any) string {
	e, _ := body["error"].(map[string]any)
	c, _ := e["code"].(string)
	return c
}

// jsonNumber renders a decoded JSON number as an integer string.
func jsonNumber(v any) string {
	f, _ := v.(float64)
	return strconv.FormatInt(int64(f), 10)
}

// withEnv returns a copy of env with k set to v.
func withEnv(env map[string]string, k, v string) map[string]string {
	out := maps.Clone(env)
	out[k] = v
	return out
}

func TestServeRejectsABadTrustedProxy(t *testing.T) {
	t.Parallel()
	app := appcitas{env: map[string]string{"APPCITAS_TRUSTED_PROXIES": "10.0.0.0/8, proxy.interno"}}
	r := app.run(t, "serve")
	if r.code != 2 || !strings.Contains(r.stderr, "APPCITAS_TRUSTED_PROXIES") || !strings.Contains(r.stderr, "proxy.interno") {
		t.Errorf("bad APPCITAS_TRUSTED_PROXIES: %s\nwant exit 2 naming the variable and the entry", r)
	}
}
