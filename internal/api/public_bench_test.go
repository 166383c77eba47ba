package api

import (
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/appcitas/appcitas/internal/auth"
	"github.com/appcitas/appcitas/internal/tenancy"
)

// BenchmarkPublicRequests measures the public booking API over real HTTP on loopback with 8
// concurrent clients, each request for a random tenant of a fleet of APPCITAS_PUBLIC_BENCH_TENANTS
// (default 10) tenants:
//
//	disponibilidad  GET /api/publico/{slug}/disponibilidad for one service, branch and day
//	reserva         POST .../retenciones then POST .../reservas (hold and book a random free time)
//
// Each tenant has a branch, a staff member working 08:00-20:00 and a 30-minute service; online
// booking is on. It runs APPCITAS_PUBLIC_BENCH_SECONDS (default 10) per endpoint and reports
// req/s (a booking is two requests and counts once). Run with:
//
//	go test ./internal/api -run '^$' -bench PublicRequests -benchtime 1x
func BenchmarkPublicRequests(b *testing.B) {
	n := 10
	if v, err := strconv.Atoi(os.Getenv("APPCITAS_PUBLIC_BENCH_TENANTS")); err == nil && v > 0 {
		n = v
	}
	secs := 10
	if v, err := strconv.Atoi(os.Getenv("APPCITAS_PUBLIC_BENCH_SECONDS")); err == nil && v > 0 {
		secs = v
	}
	unlimited := auth.LimitOptions{Burst: 1 << 30, Every: time.Nanosecond}
	e := setup(b, func(c *Config) {
		c.Now = time.Now
		c.PublicBooking = PublicBookingConfig{PerIP: unlimited, WritesPerIP: unlimited, PerOrg: unlimited, BaseURL: "http://x"}
	})
	slugs := make([]string, n)
	start := time.Now()
	for i := range n {
		org, err := e.m.CreateOrganization(e.ctx, tenancy.NewOrganization{Name: fmt.Sprintf("Negocio %d", i)})
		if err != nil {
			b.Fatal(err)
		}
		t, _ := org.Tenant()
		err = e.m.Run(e.ctx, t, func(tx pgx.Tx) error {
			_, err := tx.Exec(e.ctx, `INSERT INTO organizacion_sede (id, nombre, zona_horaria) VALUES (1, 'Centro', 'America/Bogota');
INSERT INTO usuarios_perfilusuario (id, user_id, role, nombre_visible, sede_id) VALUES (1, 1, 'staff', 'Profesional', 1);
INSERT INTO citas_servicio (id, nombre, duracion_minutos, precio_centavos) VALUES (1, 'Corte', 30, 2500000);
INSERT INTO citas_horario (id, profesional_id, sede_id, dia_semana, hora_inicio, hora_fin)
  SELECT d + 1, 1, 1, d, '08:00', '20:00' FROM generate_series(0, 6) d;
INSERT INTO reservas_config (activo, horizonte_dias) VALUES (true, 366);`)
			return err
		})
		if err != nil {
			b.Fatal(err)
		}
		slugs[i] = org.Slug
	}
	b.Logf("built %d tenants in %s", n, time.Since(start).Round(time.Second))
	srv := httptest.NewServer(e.s.handler())
	b.Cleanup(srv.Close)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 16}}
	bogota, _ := time.LoadLocation("America/Bogota")
	day := func(r *rand.Rand) string {
		return time.Now().In(bogota).AddDate(0, 0, 2+r.IntN(300)).Format(time.DateOnly)
	}

	get := func(url string) (int, []byte) {
		res, err := client.Get(url)
		if err != nil {
			return 0, nil
		}
		defer res.Body.Close()
		body, _ := io.ReadAll(res.Body)
		return res.StatusCode, body
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
	run := func(name string, op func(r *rand.Rand) bool) {
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
		b.ReportMetric(rps, name+"/s")
		b.Logf("%d tenants, %s: %.0f/s (%d ok, %d failed)", n, name, rps, ok.Load(), failed.Load())
	}
	b.ResetTimer()
	for range b.N {
		run("disponibilidad", func(r *rand.Rand) bool {
			st, _ := get(fmt.Sprintf("%s/api/publico/%s/disponibilidad?sede_id=1&servicio_id=1&desde=%s&hasta=%[3]s", srv.URL, slugs[r.IntN(n)], day(r)))
			return st == http.StatusOK
		})
		run("reserva", func(r *rand.Rand) bool {
			slug := slugs[r.IntN(n)]
			at := day(r) + fmt.Sprintf("T%02d:%02d:00-05:00", 8+r.IntN(12), 30*r.IntN(2))
			st, body := post(srv.URL+"/api/publico/"+slug+"/retenciones", map[string]any{"sede_id": 1, "servicio_id": 1, "profesional_id": 1, "inicio": at})
			if st != http.StatusCreated {
				return false
			}
			var h struct {
				ID    int64  `json:"id"`
				Token string `json:"token"`
			}
			_ = json.Unmarshal(body, &h)
			st, _ = post(srv.URL+"/api/publico/"+slug+"/reservas", map[string]any{"retencion_id": h.ID, "retencion_token": h.Token,
				"cliente_nombre": "Ana", "cliente_telefono": "300", "cliente_email": "ana@example.co", "consentimiento": true})
			return st == http.StatusCreated
		})
	}
}
