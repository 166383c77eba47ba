package api

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/appcitas/appcitas/internal/booking"
)

// BenchmarkOneTripReads compares the day's appointments (20 a day) and free slots read in one
// round trip with the same requests through inTenant's scope (NoOneTripReads), 8 concurrent
// clients over 10 tenants, in the handler itself (no network, no OpenAPI check). The two ways
// take turns in windows of 500 ms through the same run, so that load from elsewhere hits both
// alike. Run it with -benchtime 1x.
func BenchmarkOneTripReads(b *testing.B) {
	const tenants, clients, windows, window = 10, 8, 16, 500 * time.Millisecond
	e := setup(b, nil)
	withBookingRoutes(e)
	h := e.s.handler()
	admin := e.createUser("admin", false)
	tok := bearer(e.token(admin, 0))
	day := e.clock.now().AddDate(0, 0, 7).Format("2006-01-02")
	type target struct{ citas, slots []string }
	var targets []target
	do := func(method, path string, body any, hdr []string, status int, out any) {
		b.Helper()
		rec := e.do(method, path, body, hdr...)
		if rec.Code != status {
			b.Fatalf("%s %s: %d %s", method, path, rec.Code, rec.Body)
		}
		if out != nil {
			if err := json.Unmarshal(rec.Body.Bytes(), out); err != nil {
				b.Fatal(err)
			}
		}
	}
	for i := range tenants {
		org := e.createOrg(fmt.Sprintf("Banco %d", i))
		e.addProfile(org, admin, booking.RoleAdmin, true)
		hdr := append(slices.Clone(tok), "X-Organization-ID", strconv.FormatInt(org.ID, 10))
		var br booking.Branch
		do("POST", "/api/sedes", map[string]any{"nombre": "Centro", "zona_horaria": "America/Bogota"}, hdr, http.StatusCreated, &br)
		var sv booking.Service
		do("POST", "/api/servicios", map[string]any{"nombre": "Corte", "duracion_minutos": 15, "precio_centavos": 2500000}, hdr, http.StatusCreated, &sv)
		var members listOf[booking.Member]
		do("GET", "/api/miembros", nil, hdr, http.StatusOK, &members)
		staff := members.Items[0].ID
		var week []map[string]any
		for d := range 7 {
			week = append(week, map[string]any{"sede_id": br.ID, "dia_semana": d, "hora_inicio": "08:00", "hora_fin": "20:00"})
		}
		do("PUT", fmt.Sprintf("/api/miembros/%d/horario", staff), map[string]any{"horario": week}, hdr, http.StatusOK, nil)
		for k := range 20 {
			do("POST", "/api/citas", map[string]any{"sede_id": br.ID, "servicio_id": sv.ID, "profesional_id": staff,
				"inicio": fmt.Sprintf("%sT%02d:%02d:00-05:00", day, 8+k/4, (k%4)*15), "cliente_nombre": "Cliente " + strconv.Itoa(k)},
				hdr, http.StatusCreated, nil)
		}
		targets = append(targets, target{
			citas: append([]string{fmt.Sprintf("/api/citas?desde=%s&hasta=%s&sede_id=%d", day, day, br.ID)}, hdr...),
			slots: append([]string{fmt.Sprintf("/api/disponibilidad?servicio_id=%d&sede_id=%d&desde=%s&hasta=%s", sv.ID, br.ID, day, day)}, hdr...),
		})
	}
	send := func(req []string) int {
		r := httptest.NewRequest("GET", req[0], nil)
		for i := 1; i+1 < len(req); i += 2 {
			r.Header.Set(req[i], req[i+1])
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, r)
		return rec.Code
	}
	for _, ep := range []string{"citas", "disponibilidad"} {
		pick := func(t target) []string {
			if ep == "citas" {
				return t.citas
			}
			return t.slots
		}
		for _, t := range targets { // warm: set-ups cached, statements prepared
			for range 3 {
				if code := send(pick(t)); code != http.StatusOK {
					b.Fatalf("%s: %d", ep, code)
				}
			}
		}
		b.Run(ep, func(b *testing.B) {
			var lat [2][]time.Duration
			var took [2]time.Duration
			for b.Loop() {
				for w := range windows {
					mode := w % 2 // 0: one trip, 1: inTenant's scope
					e.s.cfg.NoOneTripReads = mode == 1
					var mu sync.Mutex
					var wg sync.WaitGroup
					start := time.Now()
					for range clients {
						wg.Go(func() {
							var mine []time.Duration
							for time.Since(start) < window {
								t0 := time.Now()
								if code := send(pick(targets[rand.IntN(len(targets))])); code != http.StatusOK {
									b.Errorf("%s: %d", ep, code)
									return
								}
								mine = append(mine, time.Since(t0))
							}
							mu.Lock()
							lat[mode] = append(lat[mode], mine...)
							mu.Unlock()
						})
					}
					wg.Wait()
					took[mode] += time.Since(start)
				}
			}
			e.s.cfg.NoOneTripReads = false
			rate := func(m int) float64 { return float64(len(lat[m])) / took[m].Seconds() }
			p50 := func(m int) float64 {
				slices.Sort(lat[m])
				return float64(lat[m][len(lat[m])/2].Microseconds()) / 1000
			}
			b.ReportMetric(rate(0), "onetrip_req/s")
			b.ReportMetric(rate(1), "scoped_req/s")
			b.ReportMetric(rate(0)/rate(1), "ratio")
			b.ReportMetric(p50(0), "onetrip_p50_ms")
			b.ReportMetric(p50(1), "scoped_p50_ms")
		})
	}
}
