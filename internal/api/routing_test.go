package api

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/appcitas/appcitas/internal/tenancy"
)

// TestTenantRouting runs the routing and membership cases with the set-up cache as serve has it,
// without one (APPCITAS_SETUP_CACHE_ROWS=0), and with one too small for any tenant (each read
// from its tables, as a tenant too large to keep is).
func TestTenantRouting(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		rows int
	}{{"SetupCache", 0}, {"NoSetupCache", -1}, {"EveryTenantTooLargeToKeep", 1}} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			testTenantRouting(t, func(c *Config) { c.SetupCacheRows = tc.rows })
		})
	}
}

func testTenantRouting(t *testing.T, cfg func(*Config)) {
	e := setup(t, cfg, testServicesRoute)
	juan := e.createOrg("Barbería Juan")
	dental := e.createOrg("Clínica Dental")
	closed := e.createOrg("Spa Cerrado")
	e.addService(juan, "Corte Juan")
	e.addService(dental, "Limpieza Dental")
	if _, err := e.pool.Exec(e.ctx, `UPDATE public.organizacion_organizacion SET is_active = false WHERE id = $1`, closed.ID); err != nil {
		t.Fatal(err)
	}
	ana := e.createUser("ana", false)
	e.addProfile(juan, ana, "staff", true)
	e.addProfile(closed, ana, "admin", true)
	bob := e.createUser("bob", false)
	e.addProfile(dental, bob, "admin", false) // deactivated profile
	root := e.createUser("root", true)

	anaTok := e.token(ana, 0)
	anaJuanTok := e.token(ana, juan.ID)
	orgHeader := func(id int64) []string { return []string{"X-Organization-ID", strconv.FormatInt(id, 10)} }
	get := func(headers ...string) (int, []serviceRow, errorBody) {
		rec := e.do("GET", "/api/test/servicios", nil, headers...)
		if rec.Code == 200 {
			var rows []serviceRow
			if err := json.Unmarshal(rec.Body.Bytes(), &rows); err != nil {
				t.Fatal(err)
			}
			return 200, rows, errorBody{}
		}
		return rec.Code, nil, errorOf(t, rec)
	}

	t.Run("MemberSeesOnlyTheirOrganizationsRows", func(t *testing.T) {
		code, rows, _ := get(append(bearer(anaTok), orgHeader(juan.ID)...)...)
		if code != 200 || len(rows) != 1 || rows[0].Nombre != "Corte Juan" {
			t.Fatalf("got %d %+v", code, rows)
		}
	})

	t.Run("TokenOrgClaimRoutesWithoutHeader", func(t *testing.T) {
		code, rows, _ := get(bearer(anaJuanTok)...)
		if code != 200 || len(rows) != 1 || rows[0].Nombre != "Corte Juan" {
			t.Fatalf("got %d %+v", code, rows)
		}
	})

	t.Run("SuperuserActsAsAdminWithoutProfile", func(t *testing.T) {
		rec := e.do("GET", "/api/test/servicios", nil, append(bearer(e.token(root, 0)), orgHeader(dental.ID)...)...)
		if rec.Code != 200 || rec.Header().Get("X-Role") != "admin" || !strings.Contains(rec.Body.String(), "Limpieza Dental") {
			t.Fatalf("got %d %s role %q", rec.Code, rec.Body.String(), rec.Header().Get("X-Role"))
		}
	})

	expired := func() string {
		tok := e.token(ana, juan.ID)
		return tok
	}()
	tampered := func() string {
		parts := strings.Split(anaTok, ".")
		claims, _ := json.Marshal(jwt.MapClaims{"sub": strconv.FormatInt(bob.ID, 10), "username": "bob", "su": true,
			"iss": "appcitas", "iat": time.Now().Unix(), "exp": time.Now().Add(time.Hour).Unix()})
		return parts[0] + "." + base64.RawURLEncoding.EncodeToString(claims) + "." + parts[2]
	}()
	otherKey := func() string {
		s, _ := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"sub": strconv.FormatInt(root.ID, 10), "su": true,
			"iss": "appcitas", "iat": time.Now().Unix(), "exp": time.Now().Add(time.Hour).Unix()}).SignedString([]byte("an attacker's secret, long enough"))
		return s
	}()

	cases := []struct {
		name    string
		headers []string
		status  int
		code    string
	}{
		{"MissingTokenIs401", orgHeader(juan.ID), 401, "missing_token"},
		{"NonBearerSchemeIs401", append([]string{"Authorization", "Basic YW5hOnB3"}, orgHeader(juan.ID)...), 401, "invalid_token"},
		{"EmptyBearerIs401", append([]string{"Authorization", "Bearer "}, orgHeader(juan.ID)...), 401, "invalid_token"},
		{"TamperedTokenIs401", append(bearer(tampered), orgHeader(juan.ID)...), 401, "invalid_token"},
		{"TokenSignedWithAnotherKeyIs401", append(bearer(otherKey), orgHeader(juan.ID)...), 401, "invalid_token"},
		{"NonNumericHeaderIs400", append(bearer(anaTok), "X-Organization-ID", "abc"), 400, "invalid_organization_header"},
		{"ZeroHeaderIs400", append(bearer(anaTok), "X-Organization-ID", "0"), 400, "invalid_organization_header"},
		{"NegativeHeaderIs400", append(bearer(anaTok), "X-Organization-ID", "-1"), 400, "invalid_organization_header"},
		{"SignedHeaderIs400", append(bearer(anaTok), "X-Organization-ID", "+1"), 400, "invalid_organization_header"},
		{"HugeHeaderIs400", append(bearer(anaTok), "X-Organization-ID", "99999999999999999999999"), 400, "invalid_organization_header"},
		{"NoHeaderNorClaimIs400", bearer(anaTok), 400, "organization_required"},
		{"UnknownOrganizationIs404", append(bearer(anaTok), orgHeader(987654)...), 404, "organization_not_found"},
		{"InactiveOrganizationIs403", append(bearer(anaTok), orgHeader(closed.ID)...), 403, "organization_inactive"},
		{"NoProfileIs403", append(bearer(anaTok), orgHeader(dental.ID)...), 403, "unauthorized_organization"},
		{"InactiveProfileIs403", append(bearer(e.token(bob, 0)), orgHeader(dental.ID)...), 403, "unauthorized_organization"},
		{"HeaderOverridesClaimAndIsChecked", append(bearer(anaJuanTok), orgHeader(dental.ID)...), 403, "unauthorized_organization"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rec := e.do("GET", "/api/test/servicios", nil, tc.headers...)
			body := wantError(t, rec, tc.status, tc.code)
			if tc.code == "unauthorized_organization" && body.Message != "User attempting to access unauthorized organization" {
				t.Fatalf("message = %q, want the guide's", body.Message)
			}
			if tc.status == 401 && rec.Header().Get("WWW-Authenticate") == "" {
				t.Fatal("401 without WWW-Authenticate")
			}
		})
	}

	t.Run("ExpiredTokenIs401TokenExpired", func(t *testing.T) {
		e.clock.add(16 * time.Minute)
		defer e.clock.add(-16 * time.Minute)
		wantError(t, e.do("GET", "/api/test/servicios", nil, bearer(expired)...), 401, "token_expired")
	})

	t.Run("DuplicateHeaderIs400", func(t *testing.T) {
		req := httptestRequest("GET", "/api/test/servicios")
		req.Header.Set("Authorization", "Bearer "+anaTok)
		req.Header.Add("X-Organization-ID", strconv.FormatInt(juan.ID, 10))
		req.Header.Add("X-Organization-ID", strconv.FormatInt(dental.ID, 10))
		rec := serve(e, req)
		wantError(t, rec, 400, "invalid_organization_header")
	})

	t.Run("OrganizationChangeIsSeenAfterInvalidation", func(t *testing.T) {
		if code, _, _ := get(append(bearer(anaTok), orgHeader(juan.ID)...)...); code != 200 {
			t.Fatalf("before: %d", code)
		}
		if _, err := e.pool.Exec(e.ctx, `UPDATE public.organizacion_organizacion SET is_active = false WHERE id = $1`, juan.ID); err != nil {
			t.Fatal(err)
		}
		defer func() {
			_, _ = e.pool.Exec(e.ctx, `UPDATE public.organizacion_organizacion SET is_active = true WHERE id = $1`, juan.ID)
			e.s.InvalidateOrganization(juan.ID)
		}()
		e.s.InvalidateOrganization(juan.ID)
		if code, _, body := get(append(bearer(anaTok), orgHeader(juan.ID)...)...); code != 403 || body.Code != "organization_inactive" {
			t.Fatalf("after invalidation: %d %+v", code, body)
		}
	})

	t.Run("OrganizationChangeElsewhereIsSeenWithoutInvalidation", func(t *testing.T) {
		// The catalog trigger announces the change and the watch evicts the entry: no call to
		// InvalidateOrganization, no wait for a TTL (the clock does not move).
		waitWatching(t, e.s.orgs)
		if code, _, _ := get(append(bearer(anaTok), orgHeader(juan.ID)...)...); code != 200 {
			t.Fatalf("before: %d", code)
		}
		if _, err := e.pool.Exec(e.ctx, `UPDATE public.organizacion_organizacion SET is_active = false WHERE id = $1`, juan.ID); err != nil {
			t.Fatal(err)
		}
		defer func() {
			_, _ = e.pool.Exec(e.ctx, `UPDATE public.organizacion_organizacion SET is_active = true WHERE id = $1`, juan.ID)
			waitFor(t, func() bool { code, _, _ := get(append(bearer(anaTok), orgHeader(juan.ID)...)...); return code == 200 })
		}()
		waitFor(t, func() bool {
			code, _, body := get(append(bearer(e.token(ana, 0)), orgHeader(juan.ID)...)...)
			return code == 403 && body.Code == "organization_inactive"
		})
	})

	t.Run("UnwatchedCacheRereadsAfterItsShortTTL", func(t *testing.T) {
		c := newOrgCache(e.m, tenancy.DefaultOrganizationCacheTTL, e.clock.now) // never watching
		l, err := c.Get(e.ctx, juan.ID)
		if err != nil || !l.org.IsActive {
			t.Fatalf("before: %+v %v", l, err)
		}
		org := l.org
		if _, err := e.pool.Exec(e.ctx, `UPDATE public.organizacion_organizacion SET nombre = nombre || ' (cambiado)' WHERE id = $1`, juan.ID); err != nil {
			t.Fatal(err)
		}
		defer func() {
			_, _ = e.pool.Exec(e.ctx, `UPDATE public.organizacion_organizacion SET nombre = $2 WHERE id = $1`, juan.ID, org.Name)
		}()
		if again, _ := c.Get(e.ctx, juan.ID); again.org.Name != org.Name {
			t.Fatalf("within the TTL the cached row is used; got %q", again.org.Name)
		}
		e.clock.add(tenancy.DefaultUnwatchedTTL + time.Second)
		defer e.clock.add(-tenancy.DefaultUnwatchedTTL - time.Second)
		if again, _ := c.Get(e.ctx, juan.ID); again.org.Name != org.Name+" (cambiado)" {
			t.Fatalf("after the unwatched TTL: %q", again.org.Name)
		}
	})

	t.Run("UnknownRouteIsJSON404", func(t *testing.T) {
		wantError(t, e.do("GET", "/api/nope", nil), 404, "not_found")
	})

	t.Run("WrongMethodIsJSON405WithAllow", func(t *testing.T) {
		rec := e.do("DELETE", "/api/me", nil, bearer(anaTok)...)
		wantError(t, rec, 405, "method_not_allowed")
		if rec.Header().Get("Allow") != "GET" {
			t.Fatalf("Allow = %q", rec.Header().Get("Allow"))
		}
	})

	t.Run("NonTenantRoutesNeedNoOrganization", func(t *testing.T) {
		for _, p := range []string{"/healthz", "/readyz", "/metrics", "/api/openapi.json"} {
			if rec := e.do("GET", p, nil); rec.Code != 200 {
				t.Fatalf("GET %s = %d %s", p, rec.Code, rec.Body.String())
			}
		}
		if rec := e.do("GET", "/api/me", nil, bearer(anaTok)...); rec.Code != 200 {
			t.Fatalf("GET /api/me = %d %s", rec.Code, rec.Body.String())
		}
	})
}

func httptestRequest(method, path string) *http.Request {
	r, _ := http.NewRequest(method, path, nil)
	r.RemoteAddr = "192.0.2.1:1234"
	return r
}

// waitWatching waits until c's catalog watch is in place.
func waitWatching(t *testing.T, c *tenancy.OrganizationCache[orgLookup]) {
	t.Helper()
	waitFor(t, c.Watching)
}

// waitFor polls cond for up to 10 s.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 10s")
		}
		time.Sleep(20 * time.Millisecond)
	}
}
