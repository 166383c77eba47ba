package api

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/appcitas/appcitas/internal/auth"
	"github.com/appcitas/appcitas/internal/pgtest"
	"github.com/appcitas/appcitas/internal/tenancy"
	"github.com/appcitas/appcitas/internal/tenancytest"
)

// BenchmarkPublicRequests measures the public booking API over real HTTP on loopback with 8
// concurrent clients, each request for a random tenant of a fleet:
//
//	disponibilidad  GET /api/publico/{slug}/disponibilidad for one service, branch and day
//	reserva         POST .../retenciones then POST .../reservas (hold and book a random free time)
//
// APPCITAS_PUBLIC_BENCH_TENANTS lists the fleet sizes (default 10; e.g. 10,10000). Each fleet has
// its own database and API server; every tenant has a branch, a staff member working 08:00-20:00
// and a 30-minute service, and online booking is on. The fleets are measured in turns,
// APPCITAS_PUBLIC_BENCH_REPS times (default 3), APPCITAS_PUBLIC_BENCH_SECONDS each (default 10),
// so that load from elsewhere hits every size alike; the medians are reported, in req/s (a booking
// is two requests and counts once), with each size's ratio to the first. Run with:
//
//	APPCITAS_PUBLIC_BENCH_TENANTS=10,10000 go test ./internal/api -run '^$' -bench PublicRequests -benchtime 1x -timeout 60m -v
func BenchmarkPublicRequests(b *testing.B) {
	sizes := []int{10}
	if v := os.Getenv("APPCITAS_PUBLIC_BENCH_TENANTS"); v != "" {
		sizes = nil
		for f := range strings.SplitSeq(v, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(f))
			if err != nil || n < 1 {
				b.Fatalf("APPCITAS_PUBLIC_BENCH_TENANTS=%q: want fleet sizes such as 10,10000", v)
			}
			sizes = append(sizes, n)
		}
	}
	secs := publicBenchEnv(b, "APPCITAS_PUBLIC_BENCH_SECONDS", 10)
	reps := publicBenchEnv(b, "APPCITAS_PUBLIC_BENCH_REPS", 3)
	fleets := make([]*publicFleet, len(sizes))
	for i, n := range sizes {
		fleets[i] = buildPublicFleet(b, n)
	}
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 16}}
	bogota, _ := time.LoadLocation("America/Bogota")
	day := func(r *rand.Rand) string {
		return time.Now().In(bogota).AddDate(0, 0, 2+r.IntN(300)).Format(time.DateOnly)
	}
	get := func(url string) int {
		res, err := client.Get(url)
		if err != nil {
			return 0
		}
		defer res.Body.Close()
		_, _ = io.Copy(io.Discard, res.Body)
		return res.StatusCode
	}
	post := func(url string, v any) (int, []byte) {
		js, _ := json.Marshal(v)
		res, err := client.Post(url, "application/json", strings.NewReader(string(js)))
		if err != nil {
			return 0, nil
		}
		defer res.Body.Close()
		var out json.RawMessage
		_ = json.NewDecoder(res.Body).Decode(&out)
		return res.StatusCode, out
	}
	// run sends op from 8 clients for secs seconds and returns the successes per second.
	run := func(f *publicFleet, name string, op func(r *rand.Rand) bool) float64 {
		var ok, failed atomic.Int64
		deadline := time.Now().Add(time.Duration(secs) * time.Second)
		var wg sync.WaitGroup
		for w := range 8 {
			wg.Go(func() {
				r := rand.New(rand.NewPCG(uint64(w), uint64(time.Now().UnixNano())))
				for time.Now().Before(deadline) {
					if op(r) {
						ok.Add(1)
					} else {
						failed.Add(1)
					}
				}
			})
		}
		wg.Wait()
		rps := float64(ok.Load()) / float64(secs)
		b.Logf("%d tenants, %s: %.0f/s (%d ok, %d failed)", f.n, name, rps, ok.Load(), failed.Load())
		return rps
	}
	availOf := func(f *publicFleet, slug string, r *rand.Rand) bool {
		return get(fmt.Sprintf("%s/api/publico/%s/disponibilidad?sede_id=1&servicio_id=1&desde=%s&hasta=%[3]s",
			f.srv.URL, slug, day(r))) == http.StatusOK
	}
	avail := func(f *publicFleet) func(r *rand.Rand) bool {
		return func(r *rand.Rand) bool { return availOf(f, f.slugs[r.IntN(f.n)], r) }
	}
	bookOf := func(f *publicFleet, slug string, r *rand.Rand) bool {
		at := day(r) + fmt.Sprintf("T%02d:%02d:00-05:00", 8+r.IntN(12), 30*r.IntN(2))
		st, body := post(f.srv.URL+"/api/publico/"+slug+"/retenciones", map[string]any{"sede_id": 1, "servicio_id": 1, "profesional_id": 1, "inicio": at})
		if st != http.StatusCreated {
			return false
		}
		var h struct {
			ID    int64  `json:"id"`
			Token string `json:"token"`
		}
		_ = json.Unmarshal(body, &h)
		st, _ = post(f.srv.URL+"/api/publico/"+slug+"/reservas", map[string]any{"retencion_id": h.ID, "retencion_token": h.Token,
			"cliente_nombre": "Ana", "cliente_telefono": "300", "cliente_email": "ana@example.co", "consentimiento": true})
		return st == http.StatusCreated
	}
	book := func(f *publicFleet) func(r *rand.Rand) bool {
		return func(r *rand.Rand) bool { return bookOf(f, f.slugs[r.IntN(f.n)], r) }
	}
	// Warm-up, unmeasured: each tenant's free times read once and one booking made, so that the
	// runs measure served tenants, not PostgreSQL's first read of each tenant's catalog.
	for _, f := range fleets {
		start := time.Now()
		warm := func(op func(r *rand.Rand, slug string) bool) {
			_ = tenancytest.Parallel(f.n, 8, func(i int) error {
				op(rand.New(rand.NewPCG(uint64(i), 1)), f.slugs[i])
				return nil
			})
		}
		warm(func(r *rand.Rand, slug string) bool { return availOf(f, slug, r) })
		warm(func(r *rand.Rand, slug string) bool { return bookOf(f, slug, r) })
		b.Logf("%d tenants: warmed up in %s", f.n, time.Since(start).Round(time.Second))
	}
	b.ResetTimer()
	for range b.N {
		for range reps {
			for _, f := range fleets {
				f.avail = append(f.avail, run(f, "disponibilidad", avail(f)))
				f.book = append(f.book, run(f, "reserva", book(f)))
			}
		}
	}
	b.StopTimer()
	base := fleets[0]
	for _, f := range fleets {
		a, k := median(f.avail), median(f.book)
		b.ReportMetric(a, fmt.Sprintf("disponibilidad/s@%d", f.n))
		b.ReportMetric(k, fmt.Sprintf("reserva/s@%d", f.n))
		b.Logf("%d tenants (built in %s): disponibilidad median %.0f/s (%.2f× %d tenants), reserva median %.0f/s (%.2f×)",
			f.n, f.built.Round(time.Second), a, a/median(base.avail), base.n, k, k/median(base.book))
	}
}

// publicFleet is one fleet of BenchmarkPublicRequests: its server, its tenants' slugs and the
// rates measured on it.
type publicFleet struct {
	n           int
	srv         *httptest.Server
	slugs       []string
	built       time.Duration
	avail, book []float64
}

// buildPublicFleet creates n tenants ready to book online, 4 at a time, in a database of their
// own, and serves them.
func buildPublicFleet(b *testing.B, n int) *publicFleet {
	url := pgtest.NewDatabase(b)
	tenancytest.SetAsideAtCleanup(b, url, n)
	unlimited := auth.LimitOptions{Burst: 1 << 30, Every: time.Nanosecond}
	e := setupLogged(b, tenancytest.EmptySearchPath(b, url), slog.New(slog.DiscardHandler), tenancy.Config{}, func(c *Config) {
		c.Now = time.Now
		c.PublicBooking = PublicBookingConfig{PerIP: unlimited, WritesPerIP: unlimited, PerOrg: unlimited, BaseURL: "http://x"}
	})
	// Built as the superuser (tenancytest.FleetBuilder), served as the login role.
	buildURL, grant := tenancytest.FleetBuilder(b, url)
	// The data goes through the bulk pool, and connections close after 50 tenants: few backends,
	// each with small caches, process every schema's catalog invalidations while the fleet grows.
	builder := tenancytest.OpenNoClose(b, tenancytest.EmptySearchPath(b, buildURL),
		tenancy.Config{Logger: slog.New(slog.DiscardHandler), Pool: tenancy.PoolOptions{BulkConns: 4, DDLRunsPerConn: 50, BulkRunsPerConn: 50}})
	f := &publicFleet{n: n, slugs: make([]string, n)}
	start := time.Now()
	err := tenancytest.Parallel(n, 4, func(i int) error {
		org, err := builder.CreateOrganization(e.ctx, tenancy.NewOrganization{Name: fmt.Sprintf("Negocio %d", i)})
		if err != nil {
			return err
		}
		t, _ := org.Tenant()
		err = builder.RunWith(e.ctx, t, tenancy.RunOptions{Bulk: true}, func(tx pgx.Tx) error {
			_, err := tx.Exec(e.ctx, `INSERT INTO organizacion_sede (id, nombre, zona_horaria) VALUES (1, 'Centro', 'America/Bogota');
INSERT INTO usuarios_perfilusuario (id, user_id, role, nombre_visible, sede_id) VALUES (1, 1, 'staff', 'Profesional', 1);
INSERT INTO citas_servicio (id, nombre, duracion_minutos, precio_centavos) VALUES (1, 'Corte', 30, 2500000);
INSERT INTO citas_horario (id, profesional_id, sede_id, dia_semana, hora_inicio, hora_fin)
  SELECT d + 1, 1, 1, d, '08:00', '20:00' FROM generate_series(0, 6) d;
INSERT INTO reservas_config (activo, horizonte_dias) VALUES (true, 366);`)
			return err
		})
		if err != nil {
			return fmt.Errorf("tenant %d: %w", i, err)
		}
		f.slugs[i] = org.Slug
		if testing.Verbose() && (i+1)%1000 == 0 {
			fmt.Fprintf(os.Stderr, "public fleet %d: %d tenants after %s\n", n, i+1, time.Since(start).Round(time.Second))
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	builder.Close()
	grant()
	f.built = time.Since(start)
	f.srv = httptest.NewServer(e.s.handler())
	b.Cleanup(f.srv.Close)
	return f
}

// publicBenchEnv reads a positive integer setting of BenchmarkPublicRequests.
func publicBenchEnv(b *testing.B, name string, def int) int {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		b.Fatalf("%s=%q: want a positive number", name, v)
	}
	return n
}

// median returns the middle of xs (the mean of the two middle ones for an even count).
func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s) == 0 {
		return 0
	}
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}
