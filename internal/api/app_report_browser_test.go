package api

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/chromedp"

	"github.com/appcitas/appcitas/internal/booking"
)

// TestAppReportInBrowser opens the report as an admin: the numbers by state, staff member and
// service, the no-show rate and the completed revenue, the CSV download, English, the keyboard
// focus and the phone width.
func TestAppReportInBrowser(t *testing.T) {
	t.Parallel()
	bk := setupBookingOn(setup(t, nil))
	srv := httptest.NewServer(bk.h)
	t.Cleanup(srv.Close)
	bk.ok("PATCH", fmt.Sprintf("/api/miembros/%d", bk.staffProfile), map[string]any{"nombre_visible": "Juan Gómez"}, bk.adminH, http.StatusOK, nil)
	book := func(start string, steps ...string) {
		t.Helper()
		var a booking.Appointment
		bk.ok("POST", "/api/citas", map[string]any{"sede_id": bk.branchID, "servicio_id": bk.serviceID, "profesional_id": bk.staffProfile,
			"inicio": start, "cliente_nombre": "María Pérez", "forzar": true}, bk.adminH, http.StatusCreated, &a)
		for _, s := range steps {
			bk.ok("POST", fmt.Sprintf("/api/citas/%d/%s", a.ID, s), nil, bk.adminH, http.StatusOK, nil)
		}
	}
	book("2026-12-09T15:00:00Z", "completar")
	book("2026-12-09T16:00:00Z", "no-asistio")
	book("2026-12-09T17:00:00Z")

	b := startAppBrowser(t)
	downloads := t.TempDir()
	b.do("opening /app", chromedp.Navigate(srv.URL+"/app"))
	b.login("admin", "password-admin")
	b.do("waiting for the agenda", chromedp.WaitVisible(chromedp.CSS("#agenda-view")))

	parent := t
	run := func(name string, f func(t *testing.T)) {
		t.Run(name, func(t *testing.T) {
			b.t = t
			defer func() { b.t = parent }()
			f(t)
		})
	}
	run("ShowsTheNumbers", func(t *testing.T) {
		b.do("opening the report", chromedp.Click(chromedp.CSS("#report-open")), chromedp.WaitVisible(chromedp.CSS("#report-view")),
			chromedp.WaitVisible(chromedp.CSS("#report-total")))
		if !b.eval("checking the agenda", `document.getElementById('agenda-view').hidden`).(bool) {
			t.Error("the agenda stays visible under the report")
		}
		if id := b.eval("reading the focus", `document.activeElement.id`); id != "report-title" {
			t.Errorf("the focus is on %v, want the report's title", id)
		}
		b.set("report-from", "2026-12-01")
		b.set("report-to", "2026-12-31")
		b.do("showing December", chromedp.Click(chromedp.CSS("#report-submit")),
			chromedp.Poll[chromedp.Void](`document.getElementById('report-total')?.textContent === '3'`))
		if got := b.text("#report-noshow"); !strings.Contains(got, "50") {
			t.Errorf("no-show rate shows %q, want 50 %%", got)
		}
		if got := b.text("#report-revenue"); !strings.Contains(got, "25.000") {
			t.Errorf("revenue shows %q, want 25.000 (COP)", got)
		}
		status := b.text("#report-by-status")
		for _, want := range []string{"Completada", "No asistió", "Pendiente"} {
			if !strings.Contains(status, want) {
				t.Errorf("by state lacks %q: %s", want, status)
			}
		}
		rows := b.eval("reading by staff", `Array.from(document.querySelectorAll('#report-by-staff tbody tr')).map((r) => Array.from(r.cells).map((c) => c.textContent).join('|')).join('\n')`).(string)
		if !strings.HasPrefix(rows, "Juan Gómez|3|1|1|0|") || strings.Count(rows, "\n") != 0 {
			t.Errorf("by staff rows = %q", rows)
		}
		if got := b.text("#report-by-service tbody"); !strings.Contains(got, "Corte") {
			t.Errorf("by service = %q", got)
		}
	})

	run("DownloadsTheCSV", func(t *testing.T) {
		if _, err := chromedp.Call(b.ctx, browser.SetDownloadBehavior, browser.SetDownloadBehaviorParams{
			Behavior: browser.SetDownloadBehaviorBehaviorAllow, DownloadPath: downloads}); err != nil {
			b.fatal("allowing downloads", err)
		}
		b.do("downloading", chromedp.Click(chromedp.CSS("#report-download")),
			chromedp.Poll[chromedp.Void](`document.getElementById('report-download').dataset.saved !== undefined`))
		name := fmt.Sprintf("reporte-%d-2026-12-01-2026-12-31.csv", bk.branchID)
		if got := b.eval("reading the saved name", `document.getElementById('report-download').dataset.saved`); got != name {
			t.Errorf("saved as %v, want %s", got, name)
		}
		var body []byte
		for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
			if b, err := os.ReadFile(filepath.Join(downloads, name)); err == nil && len(b) > 0 {
				body = b
				break
			}
		}
		if body == nil {
			entries, _ := os.ReadDir(downloads)
			t.Fatalf("no %s downloaded; the folder holds %v", name, entries)
		}
		for _, want := range []string{"seccion,id,nombre,total,completadas,no_asistio,canceladas,ingresos_centavos\n",
			"estado,,completada,1,,,,\n", "tasa_no_asistio,,,0.5000,,,,\n", fmt.Sprintf("profesional,%d,Juan Gómez,3,1,1,0,2500000\n", bk.staffProfile)} {
			if !strings.Contains(string(body), want) {
				t.Errorf("the CSV lacks %q:\n%s", want, body)
			}
		}
	})

	run("SwitchesToEnglish", func(t *testing.T) {
		b.do("switching language", chromedp.Click(chromedp.CSS("#lang")),
			chromedp.Poll[chromedp.Void](`document.querySelector('#report-by-status caption')?.textContent === 'By state'`))
		if got := b.text("#report-title"); got != "Appointments report" {
			t.Errorf("title = %q", got)
		}
		b.do("switching back", chromedp.Click(chromedp.CSS("#lang")),
			chromedp.Poll[chromedp.Void](`document.querySelector('#report-by-status caption')?.textContent === 'Por estado'`))
	})

	run("FitsAPhoneWidth", func(t *testing.T) {
		b.do("narrowing to 390 px", chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile), chromedp.WaitVisible(chromedp.CSS("#report-by-staff")))
		w := b.eval("measuring", `[window.innerWidth, document.documentElement.scrollWidth, document.body.scrollWidth]`).([]any)
		if w[1].(float64) > w[0].(float64) || w[2].(float64) > w[0].(float64) {
			t.Errorf("at 390 px the page is %v/%v px wide for a %v px screen", w[1], w[2], w[0])
		}
		b.do("widening again", chromedp.EmulateViewport(1400, 900))
	})

	run("GoesBackToTheAgendaByKeyboard", func(t *testing.T) {
		b.do("pressing Enter on the back button", chromedp.Focus(chromedp.CSS("#report-close")), chromedp.KeyEvent("\r"),
			chromedp.WaitVisible(chromedp.CSS("#agenda-view")))
		if !b.eval("checking the report", `document.getElementById('report-view').hidden`).(bool) {
			t.Error("the report stays visible")
		}
	})
	b.checkProblems()
}
