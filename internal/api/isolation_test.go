package api

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/appcitas/appcitas/internal/auth"
	"github.com/appcitas/appcitas/internal/tenancy"
)

// TestIsolationUnderConcurrency creates many tenants with rows, users with profiles in a random
// subset of them, then fires thousands of concurrent requests with random users, organizations and
// tokens (valid, org-claim only, tampered, expired, missing) at a tenant route, and checks that
// every 200 holds exactly the requested organization's rows, that every cross-tenant attempt is
// refused with the right 4xx, and that nothing answers 5xx.
func TestIsolationUnderConcurrency(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("isolation stress test skipped in -short mode")
	}
	const (
		numOrgs     = 20
		numUsers    = 30
		rowsPerOrg  = 3
		numRequests = 2000
		concurrency = 16
	)
	e := setup(t, nil, testServicesRoute)
	rng := rand.New(rand.NewPCG(1, 2))

	orgs := make([]tenancy.Organization, numOrgs)
	for i := range orgs {
		orgs[i] = e.createOrg(fmt.Sprintf("Negocio %02d", i))
		for j := range rowsPerOrg {
			e.addService(orgs[i], fmt.Sprintf("%s/servicio-%d", orgs[i].Slug, j))
		}
	}
	// One inactive organization, with members: always 403 organization_inactive.
	inactive := orgs[numOrgs-1]
	if _, err := e.pool.Exec(e.ctx, `UPDATE public.organizacion_organizacion SET is_active = false WHERE id = $1`, inactive.ID); err != nil {
		t.Fatal(err)
	}

	type member struct {
		user auth.User
		orgs map[int64]bool
	}
	users := make([]member, numUsers)
	for i := range users {
		users[i] = member{user: e.createUser(fmt.Sprintf("user%02d", i), i == 0), orgs: map[int64]bool{}}
		for _, org := range orgs {
			if rng.IntN(4) == 0 {
				e.addProfile(org, users[i].user, []string{"admin", "staff", "receptionist"}[rng.IntN(3)], true)
				users[i].orgs[org.ID] = true
			}
		}
	}
	expiredTokens, err := auth.NewTokens(testSecret, time.Minute, func() time.Time { return time.Now().Add(-time.Hour) })
	if err != nil {
		t.Fatal(err)
	}
	tamper := func(tok string, victim auth.User) string {
		parts := strings.Split(tok, ".")
		claims, _ := json.Marshal(map[string]any{"sub": strconv.FormatInt(victim.ID, 10), "username": victim.Username, "su": true,
			"iss": "appcitas", "iat": time.Now().Unix(), "exp": time.Now().Add(time.Hour).Unix()})
		return parts[0] + "." + base64.RawURLEncoding.EncodeToString(claims) + "." + parts[2]
	}

	srv := httptest.NewServer(e.h)
	defer srv.Close()
	client := srv.Client()
	client.Transport.(*http.Transport).MaxIdleConnsPerHost = concurrency

	type attempt struct {
		user        member
		orgID       int64 // the organization the request targets (0: none)
		header      bool
		token       string
		wantStatus  int
		wantCode    string
		description string
	}
	plan := make([]attempt, numRequests)
	for i := range plan {
		u := users[rng.IntN(numUsers)]
		var org tenancy.Organization
		switch {
		case rng.IntN(10) == 0:
			org = tenancy.Organization{ID: 1_000_000 + int64(rng.IntN(100))} // unknown
		case rng.IntN(2) == 0 && len(u.orgs) > 0: // mostly their own organizations
			for id := range u.orgs {
				org.ID = id
				break
			}
		default:
			org = orgs[rng.IntN(numOrgs)]
		}
		a := attempt{user: u, orgID: org.ID, header: true}
		allowed := u.orgs[org.ID] || u.user.IsSuperuser
		known := org.ID < 1_000_000
		switch k := rng.IntN(20); {
		case k < 12: // valid token + header
			a.token, a.description = e.token(u.user, 0), "valid"
		case k < 14: // org claim only
			a.token, a.header, a.description = e.token(u.user, org.ID), false, "claim"
		case k < 15: // claim for one organization, header for another: the header wins
			a.token, a.description = e.token(u.user, orgs[rng.IntN(numOrgs)].ID), "claim+header"
		case k < 17:
			victim := users[rng.IntN(numUsers)].user
			a.token, a.description = tamper(e.token(u.user, 0), victim), "tampered"
			a.wantStatus, a.wantCode = 401, "invalid_token"
		case k < 18:
			tok, _, _ := expiredTokens.Issue(u.user, 0)
			a.token, a.description = tok, "expired"
			a.wantStatus, a.wantCode = 401, "token_expired"
		case k < 19:
			a.description = "no token"
			a.wantStatus, a.wantCode = 401, "missing_token"
		default:
			a.token, a.description = e.token(u.user, 0), "garbage header"
			a.header = false
			a.orgID = -1
			a.wantStatus, a.wantCode = 400, "invalid_organization_header"
		}
		if a.wantStatus == 0 {
			switch {
			case !known:
				a.wantStatus, a.wantCode = 404, "organization_not_found"
			case org.ID == inactive.ID:
				a.wantStatus, a.wantCode = 403, "organization_inactive"
			case !allowed:
				a.wantStatus, a.wantCode = 403, "unauthorized_organization"
			default:
				a.wantStatus = 200
			}
		}
		plan[i] = a
	}
	slugOf := map[int64]string{}
	for _, o := range orgs {
		slugOf[o.ID] = o.Slug
	}

	// The test-only route, and the booking API's own service list when it is registered.
	paths := []string{"/api/test/servicios"}
	for _, p := range e.s.registered {
		if p == "GET /api/servicios" {
			paths = append(paths, "/api/servicios")
		}
	}

	var mu sync.Mutex
	counts := map[string]int{}
	g := new(errgroup.Group)
	g.SetLimit(concurrency)
	for i, a := range plan {
		path := paths[i%len(paths)]
		g.Go(func() error {
			req, _ := http.NewRequest("GET", srv.URL+path, nil)
			if a.token != "" {
				req.Header.Set("Authorization", "Bearer "+a.token)
			}
			switch {
			case a.orgID == -1:
				req.Header.Set("X-Organization-ID", "1; DROP SCHEMA public")
			case a.header:
				req.Header.Set("X-Organization-ID", strconv.FormatInt(a.orgID, 10))
			}
			resp, err := client.Do(req)
			if err != nil {
				return fmt.Errorf("request %d: %w", i, err)
			}
			body, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil {
				return fmt.Errorf("request %d: %w", i, err)
			}
			if resp.StatusCode >= 500 {
				return fmt.Errorf("request %d (%s, user %s, org %d): %d %s", i, a.description, a.user.user.Username, a.orgID, resp.StatusCode, body)
			}
			if resp.StatusCode != a.wantStatus {
				return fmt.Errorf("request %d (%s, user %s, org %d): status %d, want %d: %s", i, a.description, a.user.user.Username, a.orgID, resp.StatusCode, a.wantStatus, body)
			}
			if a.wantStatus == 200 {
				var rows []serviceRow
				if path == "/api/servicios" {
					var list struct {
						Items []serviceRow `json:"items"`
					}
					err = json.Unmarshal(body, &list)
					rows = list.Items
				} else {
					err = json.Unmarshal(body, &rows)
				}
				if err != nil {
					return fmt.Errorf("request %d: %w", i, err)
				}
				if len(rows) != rowsPerOrg {
					return fmt.Errorf("request %d (org %d): %d rows, want %d: %s", i, a.orgID, len(rows), rowsPerOrg, body)
				}
				for _, r := range rows {
					if !strings.HasPrefix(r.Nombre, slugOf[a.orgID]+"/") {
						return fmt.Errorf("request %d for org %d (%s) got another tenant's row %q", i, a.orgID, slugOf[a.orgID], r.Nombre)
					}
				}
			} else {
				var eb struct {
					Error errorBody `json:"error"`
				}
				if err := json.Unmarshal(body, &eb); err != nil || eb.Error.Code != a.wantCode {
					return fmt.Errorf("request %d (%s): code %q, want %q: %s", i, a.description, eb.Error.Code, a.wantCode, body)
				}
			}
			mu.Lock()
			counts[strconv.Itoa(resp.StatusCode)+" "+a.description]++
			counts[path]++
			mu.Unlock()
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		t.Fatal(err)
	}
	if counts["200 valid"] < 100 || counts["403 valid"] < 100 || counts["200 claim"] == 0 {
		t.Fatalf("the random plan did not exercise enough paths: %v", counts)
	}
	t.Logf("outcomes: %v", counts)
	if strings.Contains(e.logs.String(), "without inTenant's membership check") {
		t.Fatal("a tenant route answered without checking membership")
	}
}
