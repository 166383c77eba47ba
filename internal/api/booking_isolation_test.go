package api

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/appcitas/appcitas/internal/auth"
	"github.com/appcitas/appcitas/internal/booking"
	"github.com/appcitas/appcitas/internal/tenancy"
)

// TestBookingIsolation fires concurrent booking requests (list, get by id, create) with random
// users at random organizations: every answer holds only the routed organization's rows, reading
// another organization's appointment id is a 404, and a user without a profile gets 403.
func TestBookingIsolation(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("isolation stress test skipped in -short mode")
	}
	const (
		numOrgs     = 6
		numRequests = 600
		concurrency = 12
	)
	e := setup(t, nil)
	withBookingRoutes(e)

	type orgData struct {
		org      tenancy.Organization
		admin    auth.User
		branch   int64
		service  int64
		staff    int64
		apptIDs  []int64
		headerOf func(u auth.User) []string
	}
	orgs := make([]*orgData, numOrgs)
	for i := range orgs {
		o := &orgData{org: e.createOrg(fmt.Sprintf("Negocio %d", i))}
		o.admin = e.createUser(fmt.Sprintf("admin%d", i), false)
		e.addProfile(o.org, o.admin, booking.RoleAdmin, true)
		o.headerOf = func(u auth.User) []string {
			return append(bearer(e.token(u, 0)), "X-Organization-ID", strconv.FormatInt(o.org.ID, 10))
		}
		h := o.headerOf(o.admin)
		post := func(path string, body any) map[string]any {
			rec := e.do("POST", path, body, h...)
			if rec.Code != http.StatusCreated {
				t.Fatalf("POST %s: %d %s", path, rec.Code, rec.Body.String())
			}
			var out map[string]any
			_ = json.Unmarshal(rec.Body.Bytes(), &out)
			return out
		}
		o.branch = int64(post("/api/sedes", map[string]any{"nombre": o.org.Slug, "zona_horaria": "America/Bogota"})["id"].(float64))
		o.service = int64(post("/api/servicios", map[string]any{"nombre": o.org.Slug, "duracion_minutos": 30, "precio_centavos": 100})["id"].(float64))
		staffUser := e.createUser(fmt.Sprintf("staff%d", i), false)
		o.staff = int64(post("/api/miembros", map[string]any{"user_id": staffUser.ID, "role": "staff"})["id"].(float64))
		for k := range 3 {
			a := post("/api/citas", map[string]any{"sede_id": o.branch, "servicio_id": o.service, "profesional_id": o.staff,
				"inicio": fmt.Sprintf("2027-01-0%dT10:00:00-05:00", k+1), "cliente_nombre": o.org.Slug, "forzar": true})
			o.apptIDs = append(o.apptIDs, int64(a["id"].(float64)))
		}
		orgs[i] = o
	}

	var wg sync.WaitGroup
	jobs := make(chan int)
	var mu sync.Mutex
	var failures []string
	fail := func(format string, args ...any) {
		mu.Lock()
		defer mu.Unlock()
		if len(failures) < 20 {
			failures = append(failures, fmt.Sprintf(format, args...))
		}
	}
	for w := range concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), 7))
			for n := range jobs {
				who, where := orgs[rng.IntN(numOrgs)], orgs[rng.IntN(numOrgs)]
				h := where.headerOf(who.admin)
				member := who == where
				switch rng.IntN(3) {
				case 0: // list
					rec := e.do("GET", "/api/citas?limit=200", nil, h...)
					if !member {
						if rec.Code != http.StatusForbidden {
							fail("%d: non-member listing: %d %s", n, rec.Code, rec.Body.String())
						}
						continue
					}
					var page booking.AppointmentPage
					if rec.Code != 200 || json.Unmarshal(rec.Body.Bytes(), &page) != nil {
						fail("%d: list: %d %s", n, rec.Code, rec.Body.String())
						continue
					}
					for _, a := range page.Items {
						if a.ClientName != where.org.Slug && !strings.HasPrefix(a.ClientName, where.org.Slug+"/") {
							fail("%d: organization %s listed %q", n, where.org.Slug, a.ClientName)
						}
					}
				case 1: // get an id of some organization
					owner := orgs[rng.IntN(numOrgs)]
					id := owner.apptIDs[rng.IntN(len(owner.apptIDs))]
					rec := e.do("GET", fmt.Sprintf("/api/citas/%d", id), nil, h...)
					var a booking.Appointment
					switch {
					case !member:
						if rec.Code != http.StatusForbidden {
							fail("%d: non-member get: %d", n, rec.Code)
						}
					case rec.Code == 200:
						if json.Unmarshal(rec.Body.Bytes(), &a) != nil || a.ClientName != where.org.Slug {
							fail("%d: organization %s read %s", n, where.org.Slug, rec.Body.String())
						}
					case rec.Code != http.StatusNotFound:
						fail("%d: get: %d %s", n, rec.Code, rec.Body.String())
					}
				case 2: // book at the routed organization with its own ids
					body := map[string]any{"sede_id": where.branch, "servicio_id": where.service, "profesional_id": where.staff,
						"inicio": fmt.Sprintf("2027-02-%02dT%02d:%02d:00-05:00", 1+n%28, n%24, 0), "cliente_nombre": where.org.Slug + "/" + strconv.Itoa(n), "forzar": true}
					rec := e.do("POST", "/api/citas", body, h...)
					switch {
					case !member && rec.Code != http.StatusForbidden:
						fail("%d: non-member booking: %d", n, rec.Code)
					case member && rec.Code != http.StatusCreated && rec.Code != http.StatusConflict:
						fail("%d: booking: %d %s", n, rec.Code, rec.Body.String())
					}
				}
			}
		}()
	}
	for n := range numRequests {
		jobs <- n
	}
	close(jobs)
	wg.Wait()
	for _, f := range failures {
		t.Error(f)
	}
}
