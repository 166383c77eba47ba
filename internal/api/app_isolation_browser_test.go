package api

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/jackc/pgx/v5"

	"github.com/appcitas/appcitas/internal/booking"
)

// answerLog keeps every API answer the test server gives, by the user of the request's bearer token.
type answerLog struct {
	mu      sync.Mutex
	answers map[string][]string
}

// teeWriter copies an answer's body while it goes to the client.
type teeWriter struct {
	http.ResponseWriter
	body bytes.Buffer
}

func (w *teeWriter) Write(p []byte) (int, error) {
	w.body.Write(p)
	return w.ResponseWriter.Write(p)
}

// record serves next and logs the answer under the token's username ("" without a token).
func (l *answerLog) record(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tw := &teeWriter{ResponseWriter: w}
		next.ServeHTTP(tw, r)
		if !strings.HasPrefix(r.URL.Path, "/api/") {
			return
		}
		user := tokenUsername(strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer "))
		l.mu.Lock()
		defer l.mu.Unlock()
		l.answers[user] = append(l.answers[user], r.Method+" "+r.URL.String()+" → "+tw.body.String())
	})
}

// of returns the answers given to user so far.
func (l *answerLog) of(user string) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.answers[user]...)
}

// tokenUsername reads the username claim of a JWT without checking it (the server did).
func tokenUsername(tok string) string {
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		return ""
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return ""
	}
	var c struct {
		Username string `json:"username"`
	}
	_ = json.Unmarshal(payload, &c)
	return c.Username
}

// TestAppIsolation runs two browsers at once, each with its own cookie jar, signed in as users of
// two organizations. Each does its day (agenda, booking, report). Neither page nor any API answer
// to either user shows the other's branches, staff, services, clients or appointments. Tampering
// from the page's console (another X-Organization-ID, the other's appointment id) gets 403 or 404.
func TestAppIsolation(t *testing.T) {
	t.Parallel()
	bk := setupBookingOn(setup(t, nil))
	log := &answerLog{answers: map[string][]string{}}
	srv := httptest.NewServer(log.record(bk.h))
	t.Cleanup(srv.Close)

	// Barbería Juan: the booking env's organization, branch Centro, service Corte, staff Juan Gómez.
	bk.ok("PATCH", fmt.Sprintf("/api/miembros/%d", bk.staffProfile), map[string]any{"nombre_visible": "Juan Gómez"}, bk.adminH, http.StatusOK, nil)
	var juanAppt booking.Appointment
	bk.ok("POST", "/api/citas", map[string]any{"sede_id": bk.branchID, "servicio_id": bk.serviceID, "profesional_id": bk.staffProfile,
		"inicio": "2026-12-09T15:00:00Z", "cliente_nombre": "María Pérez", "cliente_telefono": "+57 300 111 2233", "forzar": true}, bk.adminH, http.StatusCreated, &juanAppt)

	// Clínica Dental: its own admin, who is also its dentist, with a branch, a service and hours.
	dental := bk.createOrg("Clínica Dental")
	dra := bk.createUser("dra", false)
	bk.addProfile(dental, dra, booking.RoleAdmin, true)
	// Appointment ids are numbered per organization: Clínica Dental's start at 1001, so that an id
	// of one organization names no appointment of the other and replaying it must get 404.
	dentalTenant, err := dental.Tenant()
	if err != nil {
		t.Fatal(err)
	}
	if err := bk.m.Run(bk.ctx, dentalTenant, func(tx pgx.Tx) error {
		_, err := tx.Exec(bk.ctx, `SELECT setval(pg_get_serial_sequence('citas_cita', 'id'), 1000)`)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	draH := append(bearer(bk.token(dra, 0)), "X-Organization-ID", strconv.FormatInt(dental.ID, 10))
	var members listOf[booking.Member]
	bk.ok("GET", "/api/miembros", nil, draH, http.StatusOK, &members)
	draProfile := members.Items[0].ID
	bk.ok("PATCH", fmt.Sprintf("/api/miembros/%d", draProfile), map[string]any{"nombre_visible": "Dra. Ortiz"}, draH, http.StatusOK, nil)
	var norte booking.Branch
	bk.ok("POST", "/api/sedes", map[string]any{"nombre": "Consultorio Norte", "zona_horaria": "America/Bogota"}, draH, http.StatusCreated, &norte)
	var limpieza booking.Service
	bk.ok("POST", "/api/servicios", map[string]any{"nombre": "Limpieza dental", "duracion_minutos": 45, "precio_centavos": 9000000}, draH, http.StatusCreated, &limpieza)
	var week []map[string]any
	for d := range 7 {
		week = append(week, map[string]any{"sede_id": norte.ID, "dia_semana": d, "hora_inicio": "08:00", "hora_fin": "17:00"})
	}
	bk.ok("PUT", fmt.Sprintf("/api/miembros/%d/horario", draProfile), map[string]any{"horario": week}, draH, http.StatusOK, nil)
	var draAppt booking.Appointment
	bk.ok("POST", "/api/citas", map[string]any{"sede_id": norte.ID, "servicio_id": limpieza.ID, "profesional_id": draProfile,
		"inicio": "2026-12-09T16:00:00Z", "cliente_nombre": "Paciente Secreto", "cliente_telefono": "+57 311 999 8877", "forzar": true}, draH, http.StatusCreated, &draAppt)

	// What each organization's users may see, and so what the other's must never see.
	juanOnly := []string{"Barbería Juan", "Centro", "Juan Gómez", "María Pérez", "Corte", "+57 300 111 2233", "Ana Torres"}
	dentalOnly := []string{"Clínica Dental", "Consultorio Norte", "Dra. Ortiz", "Paciente Secreto", "Limpieza dental", "+57 311 999 8877", "Pedro Salas"}

	juan, dent := startAppBrowser(t), startAppBrowser(t)
	parent := t
	run := func(name string, f func(t *testing.T)) {
		t.Run(name, func(t *testing.T) {
			juan.t, dent.t = t, t
			defer func() { juan.t, dent.t = parent, parent }()
			f(t)
		})
	}
	type side struct {
		b       *appBrowser
		user    string
		branch  int64
		appt    int64
		client  string
		own     []string
		foreign []string
	}
	sides := []side{
		{b: juan, user: "admin", branch: bk.branchID, appt: juanAppt.ID, client: "Ana Torres", own: juanOnly, foreign: dentalOnly},
		{b: dent, user: "dra", branch: norte.ID, appt: draAppt.ID, client: "Pedro Salas", own: dentalOnly, foreign: juanOnly},
	}
	// neverShows fails when s's page shows any of the other organization's names.
	neverShows := func(t *testing.T, s side, where string) {
		t.Helper()
		page := s.b.eval("reading the page", `document.body.innerText + ' ' + Array.from(document.querySelectorAll('option')).map((o) => o.textContent).join(' ')`).(string)
		for _, f := range s.foreign {
			if strings.Contains(page, f) {
				t.Errorf("%s's page (%s) shows the other organization's %q", s.user, where, f)
			}
		}
	}

	run("BothSignInAtOnce", func(t *testing.T) {
		for _, s := range sides {
			s.b.do("opening /app", chromedp.Navigate(srv.URL+"/app"))
			s.b.login(s.user, "password-"+s.user)
		}
		for _, s := range sides {
			s.b.do("waiting for the agenda", chromedp.WaitVisible(chromedp.CSS("#agenda .col-head")))
			neverShows(t, s, "first agenda")
		}
	})
	run("EachSeesOnlyTheirOwnDay", func(t *testing.T) {
		for _, s := range sides {
			s.b.set("branch-select", strconv.FormatInt(s.branch, 10))
			s.b.set("day", "2026-12-09")
		}
		for _, s := range sides {
			s.b.do("waiting for the day's appointment", chromedp.WaitVisible(chromedp.CSS(fmt.Sprintf(`.appt[data-id="%d"]`, s.appt))))
			if n := s.b.eval("counting appointments", `document.querySelectorAll('#agenda .appt').length`).(float64); n != 1 {
				t.Errorf("%s's day shows %v appointments, want 1", s.user, n)
			}
			neverShows(t, s, "day view")
		}
	})
	run("EachBooksThroughTheDialog", func(t *testing.T) {
		for _, s := range sides {
			s.b.do("opening the booking dialog", chromedp.Click(chromedp.CSS("#new-appt")),
				chromedp.WaitVisible(chromedp.CSS(`#bk-slots input[value^="2026-12-09T09:00"]`)))
			neverShows(t, s, "booking dialog")
		}
		for _, s := range sides {
			s.b.do("booking 9:00", chromedp.Click(chromedp.CSS(`#bk-slots input[value^="2026-12-09T09:00"]`)),
				chromedp.Click(chromedp.CSS("#bk-client-new")), chromedp.WaitVisible(chromedp.CSS("#bk-name")),
				chromedp.SendKeys(chromedp.CSS("#bk-name"), s.client), chromedp.Click(chromedp.CSS("#bk-submit")))
		}
		for _, s := range sides {
			s.b.do("waiting for the booking", chromedp.Poll[chromedp.Void](`!document.getElementById('book-dialog').open && document.getElementById('agenda').innerText.includes('`+s.client+`')`))
			if n := s.b.eval("counting appointments", `document.querySelectorAll('#agenda .appt').length`).(float64); n != 2 {
				t.Errorf("%s's day shows %v appointments after booking, want 2", s.user, n)
			}
			neverShows(t, s, "after booking")
		}
	})
	run("EachReportCountsOnlyTheirOwn", func(t *testing.T) {
		for _, s := range sides {
			s.b.do("opening the report", chromedp.Click(chromedp.CSS("#report-open")), chromedp.WaitVisible(chromedp.CSS("#report-view")))
			s.b.set("report-from", "2026-12-01")
			s.b.set("report-to", "2026-12-31")
			s.b.do("showing the report", chromedp.Click(chromedp.CSS("#report-submit")))
		}
		for _, s := range sides {
			s.b.do("waiting for the numbers", chromedp.Poll[chromedp.Void](`document.getElementById('report-total')?.textContent === '2'`))
			neverShows(t, s, "report")
			s.b.do("back to the agenda", chromedp.Click(chromedp.CSS("#report-close")), chromedp.WaitVisible(chromedp.CSS("#agenda-view")))
		}
	})
	run("ReplayingTheOthersAppointmentInTheAppShowsNothing", func(t *testing.T) {
		for i, s := range sides {
			other := sides[1-i]
			// An appointment box with the other's id, as a tampered page would have; opening it asks the API.
			s.b.do("opening the other's appointment", chromedp.Evaluate[chromedp.Void](fmt.Sprintf(
				`(() => { const a = document.createElement('article'); a.className = 'appt'; a.dataset.id = '%d'; a.id = 'forged'; document.querySelector('#agenda .col-body').append(a); a.click(); })()`, other.appt)),
				chromedp.WaitVisible(chromedp.CSS("#flash.error")))
			if open := s.b.eval("checking the dialog", `document.getElementById('cita-dialog').open`).(bool); open {
				t.Errorf("%s opened the other organization's appointment %d", s.user, other.appt)
			}
			neverShows(t, s, "forged appointment")
			s.b.do("removing the forged box", chromedp.Evaluate[chromedp.Void](`document.getElementById('forged').remove()`))
		}
	})
	run("TamperingFromTheConsoleGets403Or404", func(t *testing.T) {
		orgOf := map[string]int64{"admin": bk.org.ID, "dra": dental.ID}
		for i, s := range sides {
			other := sides[1-i]
			// The access token lives only in the app's module; a console script gets one through the cookie.
			out := s.b.evalAwait("tampering", fmt.Sprintf(`(async () => {
  const r = await fetch('/api/auth/refresh', { method: 'POST', headers: { 'Content-Type': 'application/json', 'X-Session-Cookie': '1' }, body: '{}' });
  const tok = (await r.json()).access_token;
  const call = async (path, org, opts = {}) => {
    const x = await fetch(path, { ...opts, headers: { Authorization: 'Bearer ' + tok, 'X-Organization-ID': String(org), 'Content-Type': 'application/json' } });
    return { status: x.status, body: await x.text() };
  };
  return JSON.stringify({
    'the other organization\'s day': await call('/api/citas?desde=2026-12-09&hasta=2026-12-09', %[1]d),
    'the other organization\'s branches': await call('/api/sedes', %[1]d),
    'the other organization\'s members': await call('/api/miembros', %[1]d),
    'the other\'s appointment in the other organization': await call('/api/citas/%[3]d', %[1]d),
    'the other\'s appointment in the own organization': await call('/api/citas/%[3]d', %[2]d),
    'cancelling the other\'s appointment': await call('/api/citas/%[3]d/cancelar', %[2]d, { method: 'POST', body: JSON.stringify({ motivo: 'x' }) }),
    'moving the other\'s appointment': await call('/api/citas/%[3]d/reprogramar', %[2]d, { method: 'POST', body: JSON.stringify({ inicio: '2026-12-10T14:00:00Z' }) }),
    'the own day, for comparison': await call('/api/citas?desde=2026-12-09&hasta=2026-12-09', %[2]d),
  });
})()`, orgOf[other.user], orgOf[s.user], other.appt))
			var answers map[string]struct {
				Status int    `json:"status"`
				Body   string `json:"body"`
			}
			if err := json.Unmarshal([]byte(out), &answers); err != nil {
				t.Fatal(err)
			}
			for what, a := range answers {
				if what == "the own day, for comparison" {
					if a.Status != http.StatusOK || !strings.Contains(a.Body, s.client) {
						t.Errorf("%s: the console's own call got %d %s: the tampering calls prove nothing", s.user, a.Status, a.Body)
					}
					continue
				}
				if a.Status != http.StatusForbidden && a.Status != http.StatusNotFound {
					t.Errorf("%s: %s got %d, want 403 or 404: %s", s.user, what, a.Status, a.Body)
				}
				for _, f := range s.foreign {
					if strings.Contains(a.Body, f) {
						t.Errorf("%s: %s answered the other organization's %q", s.user, what, f)
					}
				}
			}
		}
		// Nothing changed the appointments that were tampered with.
		var a booking.Appointment
		bk.ok("GET", fmt.Sprintf("/api/citas/%d", draAppt.ID), nil, draH, http.StatusOK, &a)
		if a.Status != "pendiente" || !a.Start.Equal(draAppt.Start) {
			t.Errorf("Clínica Dental's appointment is now %s at %s", a.Status, a.Start)
		}
		bk.ok("GET", fmt.Sprintf("/api/citas/%d", juanAppt.ID), nil, bk.adminH, http.StatusOK, &a)
		if a.Status != "pendiente" || !a.Start.Equal(juanAppt.Start) {
			t.Errorf("Barbería Juan's appointment is now %s at %s", a.Status, a.Start)
		}
	})
	run("NoAPIAnswerCarriedTheOthersData", func(t *testing.T) {
		for _, s := range sides {
			answers := log.of(s.user)
			if len(answers) < 10 {
				t.Fatalf("only %d answers to %s were recorded", len(answers), s.user)
			}
			sawOwn := false
			for _, a := range answers {
				sawOwn = sawOwn || strings.Contains(a, s.own[3])
				for _, f := range s.foreign {
					if strings.Contains(a, f) {
						t.Errorf("an answer to %s carries the other organization's %q: %.300s", s.user, f, a)
					}
				}
			}
			if !sawOwn {
				t.Errorf("no answer to %s carried their own client %q: the log proves nothing", s.user, s.own[3])
			}
		}
	})
	for _, s := range sides {
		s.b.checkProblems()
	}
}

// evalAwait evaluates a script that answers a promise of a string and returns the string.
func (b *appBrowser) evalAwait(what, js string) string {
	b.t.Helper()
	v, err := chromedp.Run(b.ctx, chromedp.Evaluate[string](js, chromedp.EvalAwaitPromise))
	if err != nil {
		b.fatal(what, err)
	}
	return v
}
