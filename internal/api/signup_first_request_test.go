package api

import (
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/appcitas/appcitas/internal/auth"
	"github.com/appcitas/appcitas/internal/tenancy"
	"github.com/appcitas/appcitas/internal/tenancytest"
)

// TestFirstRequestAfterSignup signs businesses up from 4 clients at once, each asking for its
// branches as soon as its signup answers. The login role is a member of 5,000 other roles, as in
// a fleet of 5,000 tenants, and the pool has 4 slices: the backend that serves a new business has
// often just rebuilt its list of the login role's memberships while the business's role was being
// granted, the case in which PostgreSQL 15 keeps a list without it (package tenancy's
// membership.go). Every first request must be answered.
func TestFirstRequestAfterSignup(t *testing.T) {
	t.Parallel()
	be := setupBillingManager(t, auth.LimitOptions{Burst: 1000, Every: time.Millisecond},
		tenancy.Config{Pool: tenancy.PoolOptions{Slices: 4}})
	url, err := be.m.Servers().URL(tenancy.DefaultServer)
	if err != nil {
		t.Fatal(err)
	}
	tenancytest.PadMemberships(t, url, 5000)
	const signups = 100
	var next, refused atomic.Int64
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for {
				i := next.Add(1)
				if i > signups {
					return
				}
				body := signupBody(fmt.Sprintf("dueno%d@negocio.co", i))
				body["organization_name"] = fmt.Sprintf("Barbería %03d", i)
				rec := be.do("POST", "/api/signup", body)
				if rec.Code != http.StatusCreated {
					t.Errorf("signup %d: %d %s", i, rec.Code, rec.Body.String())
					return
				}
				var res signupResponse
				if err := json.Unmarshal(rec.Body.Bytes(), &res); err != nil {
					t.Error(err)
					return
				}
				if rec := be.do("GET", "/api/sedes", nil, bearer(res.Tokens.AccessToken)...); rec.Code != http.StatusOK {
					refused.Add(1)
					t.Errorf("first request of signup %d: GET /api/sedes: %d %s", i, rec.Code, rec.Body.String())
				}
			}
		})
	}
	wg.Wait()
	if n := refused.Load(); n > 0 {
		t.Errorf("%d of %d first requests failed", n, signups)
	}
}
