package api

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/appcitas/appcitas/internal/auth"
	"github.com/appcitas/appcitas/internal/pgtest"
	"github.com/appcitas/appcitas/internal/tenancy"
	"github.com/appcitas/appcitas/internal/tenancytest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

var testSecret = []byte("test-secret-0123456789abcdef-0123456789")

// cheapHash keeps password hashing fast in tests.
var cheapHash = auth.HashParams{MemoryKiB: 1024, Iterations: 1, Threads: 1, SaltLen: 16, KeyLen: 32}

// clock is a test clock that tests move.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// env is a running API on a fresh database.
type env struct {
	t    testing.TB
	ctx  context.Context
	m    *tenancy.Manager
	pool *pgxpool.Pool
	s    *Server
	h    http.Handler
	// contract checks exchanges against the OpenAPI document; h goes through it (fuzz tests aside).
	contract *contract
	clock    *clock
	logs     *syncBuffer
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// setup starts the API on a fresh migrated database. cfg may adjust the configuration; extra
// routes are added to the table (test-only handlers).
func setup(t testing.TB, cfg func(*Config), extra ...func(s *Server) route) *env {
	t.Helper()
	return setupManager(t, tenancy.Config{}, cfg, extra...)
}

// setupManager is setup with the Manager configured by mcfg (its Servers and Logger are set here).
func setupManager(t testing.TB, mcfg tenancy.Config, cfg func(*Config), extra ...func(s *Server) route) *env {
	t.Helper()
	url := pgtest.NewDatabase(t)
	tenancytest.DropTenantsAtCleanup(t, url)
	return setupOnManager(t, tenancytest.EmptySearchPath(t, url), mcfg, cfg, extra...)
}

// setupOn is setup on the empty database at url.
func setupOn(t testing.TB, url string, cfg func(*Config), extra ...func(s *Server) route) *env {
	t.Helper()
	return setupOnManager(t, url, tenancy.Config{}, cfg, extra...)
}

// setupOnManager is setupOn with the Manager configured by mcfg.
func setupOnManager(t testing.TB, url string, mcfg tenancy.Config, cfg func(*Config), extra ...func(s *Server) route) *env {
	t.Helper()
	logs := &syncBuffer{}
	e := setupLogged(t, url, slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})), mcfg, cfg, extra...)
	e.logs = logs
	return e
}

// setupLogged is setupOnManager with the server's and the manager's logs going to log (benchmarks
// discard them: a test's log buffer would grow with every request).
func setupLogged(t testing.TB, url string, log *slog.Logger, mcfg tenancy.Config, cfg func(*Config), extra ...func(s *Server) route) *env {
	t.Helper()
	// The server's catalog watch lives as long as ctx: end it before the database is dropped.
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	tenancytest.Migrate(t, url)
	mcfg.Logger = log
	m := tenancytest.Open(t, url, mcfg)
	pool, err := m.Servers().Shared(ctx, tenancy.DefaultServer)
	if err != nil {
		t.Fatal(err)
	}
	clk := &clock{t: time.Now()}
	c := Config{JWTSecret: testSecret, PasswordHash: cheapHash, Now: clk.now}
	if cfg != nil {
		cfg(&c)
	}
	s, err := newServer(ctx, m, log, c)
	if err != nil {
		t.Fatal(err)
	}
	for _, mk := range extra {
		s.extraRoutes = append(s.extraRoutes, mk(s))
	}
	// Every exchange of the tests is checked against the OpenAPI document (openapi_contract_test.go).
	e := &env{t: t, ctx: ctx, m: m, pool: pool, s: s, clock: clk, logs: &syncBuffer{}}
	e.rebuild()
	return e
}

// rebuild builds the handler from the route table again. Every exchange through e.h is checked
// against the OpenAPI document (openapi_contract_test.go). A fuzz test's *testing.F cannot report
// from its target, so fuzz targets use e.contract.boundTo(t) instead.
func (e *env) rebuild() {
	h := e.s.handler() // builds the document too
	e.contract = withContract(e.t, e.s.openapiDoc, h)
	e.h = e.contract
	if _, fuzz := e.t.(*testing.F); fuzz {
		e.h = h
	}
}

// serviceRow is what the test-only tenant route returns.
type serviceRow struct {
	ID     int64  `json:"id"`
	Nombre string `json:"nombre"`
}

// testServicesRoute is a tenant route that lists citas_servicio through inTenant, standing in for
// the booking API's.
func testServicesRoute(s *Server) route {
	return route{method: "GET", path: "/api/test/servicios", access: tenant, tag: "test", summary: "test only",
		response: []serviceRow{}, handler: func(w http.ResponseWriter, r *http.Request) {
			s.inTenant(w, r, func(ctx context.Context, tx pgx.Tx, m Member) error {
				rows, err := tx.Query(ctx, `SELECT id, nombre FROM citas_servicio ORDER BY id`)
				if err != nil {
					return err
				}
				list, err := pgx.CollectRows(rows, pgx.RowToStructByPos[serviceRow])
				if err != nil {
					return err
				}
				w.Header().Set("X-Role", m.Role)
				writeJSON(w, http.StatusOK, list)
				return nil
			})
		}}
}

func (e *env) createOrg(name string) tenancy.Organization {
	e.t.Helper()
	org, err := e.m.CreateOrganization(e.ctx, tenancy.NewOrganization{Name: name})
	if err != nil {
		e.t.Fatal(err)
	}
	return org
}

// addService inserts a service named name into org's tenant.
func (e *env) addService(org tenancy.Organization, name string) {
	e.t.Helper()
	t, _ := org.Tenant()
	err := e.m.Run(e.ctx, t, func(tx pgx.Tx) error {
		_, err := tx.Exec(e.ctx, `INSERT INTO citas_servicio (nombre, duracion_minutos, precio_centavos) VALUES ($1, 30, 1000)`, name)
		return err
	})
	if err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) createUser(name string, superuser bool) auth.User {
	e.t.Helper()
	u, err := e.s.users.CreateUser(e.ctx, auth.NewUser{Username: name, Email: name + "@example.com", Password: "password-" + name, Superuser: superuser})
	if err != nil {
		e.t.Fatal(err)
	}
	return u
}

// addProfile gives u a profile in org (and the mirror row).
func (e *env) addProfile(org tenancy.Organization, u auth.User, role string, active bool) {
	e.t.Helper()
	t, _ := org.Tenant()
	err := e.m.Run(e.ctx, t, func(tx pgx.Tx) error {
		_, err := tx.Exec(e.ctx, `INSERT INTO usuarios_perfilusuario (user_id, role, is_active) VALUES ($1, $2, $3)`, u.ID, role, active)
		return err
	})
	if err != nil {
		e.t.Fatal(err)
	}
	if err := auth.SyncMembership(e.ctx, e.pool, auth.Membership{UserID: u.ID, OrganizationID: org.ID, Role: role, IsActive: active}); err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) token(u auth.User, org int64) string {
	e.t.Helper()
	tok, _, err := e.s.tokens.Issue(u, org)
	if err != nil {
		e.t.Fatal(err)
	}
	return tok
}

// do sends a request; body is JSON-encoded unless it is a string or []byte.
func (e *env) do(method, path string, body any, headers ...string) *httptest.ResponseRecorder {
	e.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		buf, _ := json.Marshal(b)
		rd = bytes.NewReader(buf)
	}
	req := httptest.NewRequest(method, path, rd)
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	rec := httptest.NewRecorder()
	e.h.ServeHTTP(rec, req)
	return rec
}

// errorOf decodes an error answer.
func errorOf(t testing.TB, rec *httptest.ResponseRecorder) errorBody {
	t.Helper()
	var body struct {
		Error errorBody `json:"error"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
		t.Fatalf("status %d, body %q is not the error shape: %v", rec.Code, rec.Body.String(), err)
	}
	return body.Error
}

// wantError checks an error answer's status and code.
func wantError(t testing.TB, rec *httptest.ResponseRecorder, status int, code string) errorBody {
	t.Helper()
	if rec.Code != status {
		t.Fatalf("status = %d, want %d; body %s", rec.Code, status, rec.Body.String())
	}
	e := errorOf(t, rec)
	if e.Code != code {
		t.Fatalf("code = %q, want %q; body %s", e.Code, code, rec.Body.String())
	}
	return e
}

func bearer(tok string) []string { return []string{"Authorization", "Bearer " + tok} }

func serve(e *env, r *http.Request) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	e.h.ServeHTTP(rec, r)
	return rec
}
