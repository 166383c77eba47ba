package api

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/appcitas/appcitas/internal/booking"
)

// TestAppA11y runs the accessibility checker (axe-core) over every state of the web app and over
// the superusers' dashboard: no serious or critical violation may remain.
func TestAppA11y(t *testing.T) {
	t.Parallel()
	bk := setupBookingOn(setup(t, nil))
	srv := httptest.NewServer(bk.h)
	t.Cleanup(srv.Close)

	bk.ok("PATCH", fmt.Sprintf("/api/miembros/%d", bk.staffProfile), map[string]any{"nombre_visible": "Juan Gómez"}, bk.adminH, http.StatusOK, nil)
	var appts []booking.Appointment
	for i, estado := range []string{"", "confirmar", "completar", "no-asistio", "cancelar"} {
		var a booking.Appointment
		start := fmt.Sprintf("2026-12-09T%02d:00:00Z", 14+i)
		bk.ok("POST", "/api/citas", map[string]any{"sede_id": bk.branchID, "servicio_id": bk.serviceID, "profesional_id": bk.staffProfile,
			"inicio": start, "cliente_nombre": "Cliente " + strconv.Itoa(i), "cliente_telefono": "+57 300 111 2233", "forzar": true}, bk.adminH, http.StatusCreated, &a)
		if estado != "" {
			body := map[string]any{}
			if estado == "cancelar" {
				body["motivo"] = "viaje"
			}
			bk.ok("POST", fmt.Sprintf("/api/citas/%d/%s", a.ID, estado), body, bk.adminH, http.StatusOK, nil)
		}
		appts = append(appts, a)
	}
	// The admin is also in Spa Nuevo, which has nothing set up: the picker and the checklist.
	spa := bk.createOrg("Spa Nuevo")
	bk.addProfile(spa, bk.admin, booking.RoleAdmin, true)

	b := startAppBrowser(t)
	parent := t
	run := func(name string, f func(t *testing.T)) {
		t.Run(name, func(t *testing.T) {
			b.t = t
			defer func() { b.t = parent }()
			f(t)
		})
	}
	b.do("opening /app", chromedp.Navigate(srv.URL+"/app"), chromedp.WaitVisible(chromedp.CSS("#login-form")))
	run("CheckerReportsAnUnlabelledField", func(t *testing.T) {
		b.do("adding a field without a label", chromedp.Evaluate[chromedp.Void](
			`(() => { const i = document.createElement('input'); i.id = 'axe-probe'; document.getElementById('login-form').append(i); })()`))
		violations, err := b.axeViolations()
		if err != nil {
			t.Fatal(err)
		}
		found := false
		for _, v := range violations {
			found = found || v.ID == "label" && len(v.Nodes) == 1 && v.Nodes[0].Target == "#axe-probe"
		}
		if !found {
			t.Errorf("axe did not report the unlabelled #axe-probe: %+v", violations)
		}
		b.do("removing the field", chromedp.Evaluate[chromedp.Void](`document.getElementById('axe-probe').remove()`))
	})
	run("SignInHasNoSeriousViolations", func(t *testing.T) { b.axeCheck(t, "sign-in") })
	b.login("admin", "password-admin")
	run("OrganizationPickerHasNoSeriousViolations", func(t *testing.T) {
		b.do("waiting for the picker", chromedp.WaitVisible(chromedp.CSS("#org-list button")))
		b.axeCheck(t, "organization picker")
	})
	b.do("picking Barbería Juan",
		chromedp.Click(chromedp.CSS(fmt.Sprintf(`#org-list button[data-id="%d"]`, bk.org.ID))),
		chromedp.WaitVisible(chromedp.CSS("#agenda .col-head")))
	b.set("branch-select", strconv.FormatInt(bk.branchID, 10))
	b.set("day", "2026-12-09")
	run("DayViewHasNoSeriousViolations", func(t *testing.T) {
		b.do("waiting for the day", chromedp.WaitVisible(chromedp.CSS(fmt.Sprintf(`.appt[data-id="%d"]`, appts[4].ID))))
		b.axeCheck(t, "agenda day view")
	})
	run("TodayWithTheNowLineHasNoSeriousViolations", func(t *testing.T) {
		b.do("going to today", chromedp.Click(chromedp.CSS("#today")), chromedp.WaitVisible(chromedp.CSS("#agenda .col.today")))
		b.axeCheck(t, "agenda today")
		b.set("day", "2026-12-09")
	})
	run("WeekViewHasNoSeriousViolations", func(t *testing.T) {
		b.set("staff-select", strconv.FormatInt(bk.staffProfile, 10))
		b.set("view-select", "week")
		b.do("waiting for the week", chromedp.WaitVisible(chromedp.CSS(`#agenda .col[data-day="2026-12-13"]`)))
		b.axeCheck(t, "agenda week view")
		b.set("view-select", "day")
		b.do("waiting for the day", chromedp.WaitVisible(chromedp.CSS(`#agenda .col[data-staff]:not([data-day="2026-12-13"])`)))
	})
	run("BookingDialogHasNoSeriousViolations", func(t *testing.T) {
		b.do("opening the booking dialog", chromedp.Click(chromedp.CSS("#new-appt")),
			chromedp.WaitVisible(chromedp.CSS(`#book-dialog[open] #bk-slots input[type=radio]`)))
		b.axeCheck(t, "booking dialog")
		b.do("closing the dialog", chromedp.Click(chromedp.CSS("#book-dialog .close")),
			chromedp.Poll[chromedp.Void](`!document.getElementById('book-dialog').open`))
	})
	run("AppointmentDialogHasNoSeriousViolations", func(t *testing.T) {
		b.do("opening the appointment", chromedp.Click(chromedp.CSS(fmt.Sprintf(`.appt[data-id="%d"]`, appts[0].ID))),
			chromedp.WaitVisible(chromedp.CSS(`#cita-dialog[open] #ct-slots input[type=radio]`)))
		b.axeCheck(t, "appointment dialog")
		b.do("closing the dialog", chromedp.Click(chromedp.CSS("#cita-dialog > .actions .close")),
			chromedp.Poll[chromedp.Void](`!document.getElementById('cita-dialog').open`))
	})
	run("ReportHasNoSeriousViolations", func(t *testing.T) {
		b.do("opening the report", chromedp.Click(chromedp.CSS("#report-open")), chromedp.WaitVisible(chromedp.CSS("#report-view")))
		b.set("report-from", "2026-12-01")
		b.set("report-to", "2026-12-31")
		b.do("showing the report", chromedp.Click(chromedp.CSS("#report-submit")), chromedp.WaitVisible(chromedp.CSS("#report-result table")))
		b.axeCheck(t, "report")
		b.do("back to the agenda", chromedp.Click(chromedp.CSS("#report-close")), chromedp.WaitVisible(chromedp.CSS("#agenda-view")))
	})
	run("SetupChecklistHasNoSeriousViolations", func(t *testing.T) {
		b.set("org-select", strconv.FormatInt(spa.ID, 10))
		b.do("waiting for the checklist", chromedp.WaitVisible(chromedp.CSS(`#setup #checklist li[data-step="stepBranch"]`)))
		b.axeCheck(t, "setup checklist")
	})
	run("EnglishHasNoSeriousViolations", func(t *testing.T) {
		b.do("switching language", chromedp.Click(chromedp.CSS("#lang")),
			chromedp.Poll[chromedp.Void](`document.documentElement.lang === 'en'`))
		b.axeCheck(t, "English")
		b.do("switching back", chromedp.Click(chromedp.CSS("#lang")),
			chromedp.Poll[chromedp.Void](`document.documentElement.lang === 'es'`))
	})
	b.checkProblems()

	t.Run("DashboardHasNoSeriousViolations", func(t *testing.T) {
		a := setupAdmin(t)
		asrv := httptest.NewServer(a.h)
		t.Cleanup(asrv.Close)
		b.t = t
		defer func() { b.t = parent }()
		b.do("opening /admin", chromedp.Navigate(asrv.URL+"/admin"), chromedp.WaitVisible(chromedp.CSS("#login-form")))
		b.axeCheck(t, "dashboard sign-in")
		b.login("root", "password-root")
		b.do("waiting for the tenant table", chromedp.WaitVisible(chromedp.CSS(fmt.Sprintf(`#tenant-rows tr[data-id="%d"]`, a.spa.ID))))
		b.axeCheck(t, "dashboard")
		b.do("opening a tenant", chromedp.Click(chromedp.CSS(fmt.Sprintf(`#tenant-rows tr[data-id="%d"]`, a.juan.ID))),
			chromedp.WaitVisible(chromedp.CSS(fmt.Sprintf(`#detail[data-id="%d"]`, a.juan.ID))))
		b.axeCheck(t, "dashboard tenant detail")
	})
}
