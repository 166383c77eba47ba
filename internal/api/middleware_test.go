package api

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
)

func TestMiddleware(t *testing.T) {
	t.Parallel()
	panicRoute := func(s *Server) route {
		return route{method: "GET", path: "/api/test/panic", access: public, summary: "test only", response: map[string]any{},
			handler: func(http.ResponseWriter, *http.Request) { panic("secret detail: password=hunter2") }}
	}
	failAfterWrite := func(srv *Server) route {
		return route{method: "POST", path: "/api/test/write-then-fail", access: tenant, summary: "test only", response: map[string]any{},
			handler: func(w http.ResponseWriter, r *http.Request) {
				srv.inTenant(w, r, func(ctx context.Context, tx pgx.Tx, m Member) error {
					if _, err := tx.Exec(ctx, `INSERT INTO citas_servicio (nombre, duracion_minutos, precio_centavos) VALUES ('ghost', 30, 1)`); err != nil {
						return err
					}
					w.Header().Set("X-Ghost", "1")
					writeJSON(w, http.StatusCreated, map[string]string{"status": "created"})
					return errors.New("boom after writing")
				})
			}}
	}
	tenantPanic := func(srv *Server) route {
		return route{method: "GET", path: "/api/test/tenant-panic", access: tenant, summary: "test only", response: map[string]any{},
			handler: func(w http.ResponseWriter, r *http.Request) {
				srv.inTenant(w, r, func(ctx context.Context, tx pgx.Tx, m Member) error {
					writeJSON(w, http.StatusOK, map[string]string{"half": "written"})
					panic("tenant handler bug")
				})
			}}
	}
	e := setup(t, func(c *Config) { c.MaxBodyBytes = 1024 }, panicRoute, failAfterWrite, tenantPanic, testServicesRoute)
	org := e.createOrg("Barbería Juan")
	ana := e.createUser("ana", false)
	e.addProfile(org, ana, "admin", true)
	hdr := append(bearer(e.token(ana, 0)), "X-Organization-ID", strconv.FormatInt(org.ID, 10))

	t.Run("LogsEachRequestWithIDOrgUserStatusAndDuration", func(t *testing.T) {
		rec := e.do("GET", "/api/test/servicios", nil, append(hdr, "X-Request-ID", "req-abc-123")...)
		if rec.Code != 200 || rec.Header().Get("X-Request-ID") != "req-abc-123" {
			t.Fatalf("%d, X-Request-ID %q", rec.Code, rec.Header().Get("X-Request-ID"))
		}
		var found bool
		for _, line := range strings.Split(e.logs.String(), "\n") {
			if !strings.Contains(line, `"req-abc-123"`) || !strings.Contains(line, `"msg":"request"`) {
				continue
			}
			var entry map[string]any
			if err := json.Unmarshal([]byte(line), &entry); err != nil {
				t.Fatal(err)
			}
			found = entry["route"] == "GET /api/test/servicios" && entry["status"] == float64(200) &&
				entry["org"] == float64(org.ID) && entry["user"] == float64(ana.ID) && entry["duration_ms"] != nil
			if !found {
				t.Fatalf("log entry %v", entry)
			}
		}
		if !found {
			t.Fatalf("no request log line for req-abc-123 in:\n%s", e.logs.String())
		}
	})

	t.Run("GeneratesARequestIDForBadOnes", func(t *testing.T) {
		rec := e.do("GET", "/healthz", nil, "X-Request-ID", "bad id with spaces")
		if id := rec.Header().Get("X-Request-ID"); id == "" || strings.Contains(id, " ") {
			t.Fatalf("X-Request-ID = %q", id)
		}
	})

	t.Run("RecoversPanicsWithoutLeaking", func(t *testing.T) {
		rec := e.do("GET", "/api/test/panic", nil)
		body := wantError(t, rec, 500, "internal_error")
		if strings.Contains(rec.Body.String(), "hunter2") || !strings.Contains(body.Message, rec.Header().Get("X-Request-ID")) {
			t.Fatalf("body %s", rec.Body.String())
		}
		if rec := e.do("GET", "/healthz", nil); rec.Code != 200 {
			t.Fatal("server broken after a panic")
		}
	})

	t.Run("PanicInATenantHandlerRollsBackAndReleasesTheConnection", func(t *testing.T) {
		rec := e.do("GET", "/api/test/tenant-panic", nil, hdr...)
		wantError(t, rec, 500, "internal_error")
		if strings.Contains(rec.Body.String(), "written") {
			t.Fatalf("half-written answer leaked: %s", rec.Body.String())
		}
		for server, stats := range e.m.Servers().Stats() {
			for _, st := range stats.All() {
				if st.AcquiredConns() != 0 {
					t.Fatalf("server %s: %d connections still acquired after the panic", server, st.AcquiredConns())
				}
			}
		}
	})

	t.Run("HoldsBackTheAnswerUntilCommit", func(t *testing.T) {
		rec := e.do("POST", "/api/test/write-then-fail", "{}", hdr...)
		wantError(t, rec, 500, "internal_error")
		if rec.Header().Get("X-Ghost") != "" || strings.Contains(rec.Body.String(), "created") {
			t.Fatalf("the rolled-back handler's answer leaked: %v %s", rec.Header(), rec.Body.String())
		}
		rec = e.do("GET", "/api/test/servicios", nil, hdr...)
		if strings.Contains(rec.Body.String(), "ghost") {
			t.Fatal("the failed transaction committed")
		}
	})

	t.Run("RefusesLargeBodiesWith413", func(t *testing.T) {
		big := `{"username":"` + strings.Repeat("a", 2000) + `","password":"x"}`
		wantError(t, e.do("POST", "/api/auth/token", big), 413, "body_too_large")
		// Without a declared length, the decoder stops at the limit.
		req := httptestRequest("POST", "/api/auth/token")
		req.Body = readCloser{strings.NewReader(big)}
		req.ContentLength = -1
		wantError(t, serve(e, req), 413, "body_too_large")
	})

	decodeCases := []struct {
		name, body, ctype string
		status            int
		code, field       string
	}{
		{"UnknownFieldNamesIt", `{"username":"ana","password":"x","admin":true}`, "application/json", 400, "unknown_field", "admin"},
		{"WrongTypeNamesTheField", `{"username":5,"password":"x"}`, "application/json", 400, "invalid_field", "username"},
		{"MalformedJSON", `{"username":`, "application/json", 400, "invalid_json", ""},
		{"SyntaxError", `{"username" "ana"}`, "application/json", 400, "invalid_json", ""},
		{"EmptyBody", ``, "application/json", 400, "invalid_json", ""},
		{"TwoValues", `{"username":"ana","password":"x"} {}`, "application/json", 400, "invalid_json", ""},
		{"NotAnObject", `[1,2]`, "application/json", 400, "invalid_json", ""},
		{"FormEncoded", `username=ana&password=x`, "application/x-www-form-urlencoded", 415, "unsupported_media_type", ""},
	}
	for _, tc := range decodeCases {
		t.Run("Decode"+tc.name, func(t *testing.T) {
			req := httptestRequest("POST", "/api/auth/token")
			req.Body = readCloser{strings.NewReader(tc.body)}
			req.ContentLength = int64(len(tc.body))
			req.Header.Set("Content-Type", tc.ctype)
			body := wantError(t, serve(e, req), tc.status, tc.code)
			if body.Field != tc.field {
				t.Fatalf("field = %q, want %q (%s)", body.Field, tc.field, body.Message)
			}
		})
	}
	t.Run("DecodeNotAnObjectSaysWhatWasExpected", func(t *testing.T) {
		body := wantError(t, e.do("POST", "/api/auth/token", `[1,2]`), 400, "invalid_json")
		if want := "the request body must be JSON: an object, got array"; body.Message != want {
			t.Fatalf("message = %q, want %q", body.Message, want)
		}
	})
}

type readCloser struct{ *strings.Reader }

func (readCloser) Close() error { return nil }

func TestMetrics(t *testing.T) {
	t.Parallel()
	e := setup(t, nil, testServicesRoute)
	org := e.createOrg("Barbería Juan")
	ana := e.createUser("ana", false)
	e.addProfile(org, ana, "admin", true)
	for range 3 {
		e.do("GET", "/api/test/servicios", nil, append(bearer(e.token(ana, 0)), "X-Organization-ID", strconv.FormatInt(org.ID, 10))...)
	}
	e.do("GET", "/api/unknown/123", nil)
	body := e.do("GET", "/metrics", nil).Body.String()
	for _, want := range []string{
		`appcitas_http_requests_total{route="GET /api/test/servicios",status="200"} 3`,
		`appcitas_http_request_duration_seconds_bucket{route="GET /api/test/servicios",le="+Inf"} 3`,
		`appcitas_http_requests_total{route="unmatched",status="404"} 1`,
		`appcitas_db_pool_connections{pool="tenant",server="default",state="idle"}`,
		`appcitas_db_pool_acquires_total{pool="shared",server="default"}`,
		// One tenant, loaded by the first request and found by the next two.
		"appcitas_setup_cache_tenants 1\n",
		"appcitas_setup_cache_misses_total 1\n",
		"appcitas_setup_cache_hits_total 2\n",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if strings.Contains(body, org.SchemaName) || strings.Contains(body, "/api/unknown/123") {
		t.Error("/metrics has a per-tenant or per-path label")
	}
	if strings.Contains(body, `appcitas_http_request_duration_seconds_bucket{route="GET /api/test/servicios",status=`) {
		t.Error("the latency histogram has a status label: one series set per status code")
	}
}

func TestMetricsToken(t *testing.T) {
	t.Parallel()
	const token = "scrape-token-0123456789"
	e := setup(t, func(c *Config) { c.MetricsToken = token })
	user := e.createUser("ana", false)
	for _, tc := range []struct {
		name          string
		authorization string
		status        int
	}{
		{"WithoutATokenIs401", "", http.StatusUnauthorized},
		{"WithAWrongTokenIs401", "Bearer scrape-token-0123456780", http.StatusUnauthorized},
		{"WithAPrefixOfTheTokenIs401", "Bearer scrape-token", http.StatusUnauthorized},
		{"WithAUsersAccessTokenIs401", "Bearer " + e.token(user, 0), http.StatusUnauthorized},
		{"WithTheTokenServesTheMetrics", "Bearer " + token, http.StatusOK},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var h []string
			if tc.authorization != "" {
				h = []string{"Authorization", tc.authorization}
			}
			rec := e.do("GET", "/metrics", nil, h...)
			if tc.status == http.StatusOK {
				if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), "appcitas_db_pool_connections") {
					t.Fatalf("%d %s", rec.Code, rec.Body)
				}
				return
			}
			wantError(t, rec, tc.status, "metrics_unauthorized")
			if rec.Header().Get("WWW-Authenticate") == "" {
				t.Error("401 without WWW-Authenticate")
			}
		})
	}
}

func TestOpenAPI(t *testing.T) {
	t.Parallel()
	e := setup(t, nil, testServicesRoute)
	rec := e.do("GET", "/api/openapi.json", nil)
	var doc struct {
		OpenAPI string                               `json:"openapi"`
		Paths   map[string]map[string]map[string]any `json:"paths"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &doc); err != nil || !strings.HasPrefix(doc.OpenAPI, "3.") {
		t.Fatalf("not an OpenAPI 3 document: %v %s", err, rec.Body.String()[:min(200, rec.Body.Len())])
	}

	t.Run("DocumentsEveryRegisteredRouteAndNothingElse", func(t *testing.T) {
		documented := map[string]bool{}
		for path, ops := range doc.Paths {
			for method := range ops {
				documented[strings.ToUpper(method)+" "+path] = true
			}
		}
		registered := map[string]bool{}
		for _, p := range e.s.registered {
			method, path, _ := strings.Cut(p, " ")
			registered[method+" "+openapiPath(path)] = true
		}
		for p := range registered {
			if !documented[p] {
				t.Errorf("%s is registered but not documented", p)
			}
		}
		for p := range documented {
			if !registered[p] {
				t.Errorf("%s is documented but not registered", p)
			}
		}
		if len(registered) < 8 {
			t.Fatalf("only %d routes registered", len(registered))
		}
	})

	t.Run("EveryDocumentedOperationReachesItsHandler", func(t *testing.T) {
		for path, ops := range doc.Paths {
			for method := range ops {
				concrete := pathParam.ReplaceAllString(path, "1")
				req, _ := http.NewRequest(strings.ToUpper(method), concrete, nil)
				_, pattern := e.s.mux.Handler(req)
				if pattern != strings.ToUpper(method)+" "+pattern[strings.Index(pattern, " ")+1:] || openapiPath(pattern[strings.Index(pattern, " ")+1:]) != path {
					t.Errorf("%s %s is served by %q", method, path, pattern)
				}
			}
		}
	})

	t.Run("TenantRoutesDocumentAuthAndOrganizationHeader", func(t *testing.T) {
		op := doc.Paths["/api/test/servicios"]["get"]
		b, _ := json.Marshal(op)
		for _, want := range []string{"bearerAuth", "X-Organization-ID", `"403"`, `"401"`} {
			if !strings.Contains(string(b), want) {
				t.Errorf("tenant operation lacks %s: %s", want, b)
			}
		}
	})
}
