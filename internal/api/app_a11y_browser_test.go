package api

import (
	"bytes"
	"fmt"
	"image/png"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/appcitas/appcitas/internal/booking"
)

// fitsWidth fails t when the page itself scrolls sideways (a wide agenda or table scrolls inside
// its own box instead).
func (b *appBrowser) fitsWidth(t *testing.T, label string) {
	t.Helper()
	w := b.eval("measuring "+label, `[window.innerWidth, document.documentElement.scrollWidth, document.body.scrollWidth]`).([]any)
	if w[1].(float64) > w[0].(float64) || w[2].(float64) > w[0].(float64) {
		t.Errorf("%s: the page is %v/%v px wide for a %v px window", label, w[1], w[2], w[0])
	}
}

// phoneShot writes the visible part of the page, as a compressed PNG, to dir/name when dir is set
// (APPCITAS_APP_SCREENSHOTS). The README's pictures of the booking flow come from here.
func (b *appBrowser) phoneShot(t *testing.T, dir, name string) {
	t.Helper()
	if dir == "" {
		return
	}
	raw, err := chromedp.Run(b.ctx, chromedp.CaptureScreenshot())
	if err != nil {
		b.fatal("taking a screenshot", err)
	}
	img, err := png.Decode(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := (&png.Encoder{CompressionLevel: png.BestCompression}).Encode(&out, img); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name), out.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestAppA11y runs the accessibility checker (axe-core) over every state of the web app (agenda, dialogs, report, clients, settings, webhooks), once at
// desktop width and once at a 390 px phone's, and over the superusers' dashboard: no serious or
// critical violation may remain, and no view may scroll the page sideways. It also checks that
// the language switch survives a reload and that today's agenda has the "now" line.
func TestAppA11y(t *testing.T) {
	t.Parallel()
	bk := setupBookingOn(setup(t, nil))
	srv := httptest.NewServer(bk.h)
	t.Cleanup(srv.Close)

	bk.ok("PATCH", fmt.Sprintf("/api/miembros/%d", bk.staffProfile), map[string]any{"nombre_visible": "Juan Gómez"}, bk.adminH, http.StatusOK, nil)
	// One appointment in each state on Wednesday 9 December 2026, 9:00 to 13:00 in Bogotá.
	var appts []booking.Appointment
	clients := []string{"María Pérez", "Carlos Ruiz", "Lucía Díaz", "Andrés Mora", "Sofía León"}
	for i, step := range []string{"", "confirmar", "completar", "no-asistio", "cancelar"} {
		var a booking.Appointment
		bk.ok("POST", "/api/citas", map[string]any{"sede_id": bk.branchID, "servicio_id": bk.serviceID, "profesional_id": bk.staffProfile,
			"inicio": fmt.Sprintf("2026-12-09T%02d:00:00Z", 14+i), "cliente_nombre": clients[i], "cliente_telefono": "+57 300 111 22" + strconv.Itoa(10+i),
			"forzar": true}, bk.adminH, http.StatusCreated, &a)
		if step != "" {
			body := map[string]any{}
			if step == "cancelar" {
				body["motivo"] = "Viaje"
			}
			bk.ok("POST", fmt.Sprintf("/api/citas/%d/%s", a.ID, step), body, bk.adminH, http.StatusOK, nil)
		}
		appts = append(appts, a)
	}
	// The admin is also in Spa Nuevo, which has nothing set up: the picker and the checklist.
	spa := bk.createOrg("Spa Nuevo")
	bk.addProfile(spa, bk.admin, booking.RoleAdmin, true)

	shots := os.Getenv("APPCITAS_APP_SCREENSHOTS")
	b := startAppBrowser(t)
	parent := t
	run := func(name string, f func(t *testing.T)) {
		t.Run(name, func(t *testing.T) {
			b.t = t
			defer func() { b.t = parent }()
			f(t)
		})
	}
	// check runs axe and the width check over the page's current state.
	check := func(t *testing.T, label string) {
		t.Helper()
		b.axeCheck(t, label)
		b.fitsWidth(t, label)
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

	// walk visits every state of the app at the window's current width, signed in from scratch.
	walk := func(width string, phone bool) {
		run("SignInAt"+width, func(t *testing.T) {
			b.do("opening /app", chromedp.Evaluate[chromedp.Void](`localStorage.removeItem('appcitas.org')`),
				chromedp.Navigate(srv.URL+"/app"), chromedp.WaitVisible(chromedp.CSS("#login-form")))
			check(t, "sign-in at "+width)
		})
		run("SignupAt"+width, func(t *testing.T) {
			b.do("opening the signup form", chromedp.Click(chromedp.CSS("#signup-open")), chromedp.WaitVisible(chromedp.CSS("#signup-form")))
			check(t, "signup at "+width)
			b.do("back to sign in", chromedp.Click(chromedp.CSS("#signup-back")), chromedp.WaitVisible(chromedp.CSS("#login-form")))
		})
		b.login("admin", "password-admin")
		run("OrganizationPickerAt"+width, func(t *testing.T) {
			b.do("waiting for the picker", chromedp.WaitVisible(chromedp.CSS("#org-list button")))
			check(t, "organization picker at "+width)
		})
		b.do("picking Barbería Juan",
			chromedp.Click(chromedp.CSS(fmt.Sprintf(`#org-list button[data-id="%d"]`, bk.org.ID))),
			chromedp.WaitVisible(chromedp.CSS("#agenda .col-head")))
		b.set("branch-select", strconv.FormatInt(bk.branchID, 10))
		b.set("day", "2026-12-09")
		run("DayViewAt"+width, func(t *testing.T) {
			b.do("waiting for the day", chromedp.WaitVisible(chromedp.CSS(fmt.Sprintf(`.appt[data-id="%d"]`, appts[4].ID))))
			check(t, "agenda day view at "+width)
		})
		run("TodayWithTheNowLineAt"+width, func(t *testing.T) {
			b.do("going to today", chromedp.Click(chromedp.CSS("#today")), chromedp.WaitVisible(chromedp.CSS("#agenda .col.today .now")))
			// The line sits at the branch's current minute, whatever the hour: today's view spans it.
			off := b.eval("reading the now line", `(() => {
  const p = {};
  for (const x of new Intl.DateTimeFormat('en-GB', { timeZone: 'America/Bogota', hourCycle: 'h23', hour: '2-digit', minute: '2-digit' }).formatToParts(new Date())) p[x.type] = x.value;
  return Math.abs(Number(p.hour) * 60 + Number(p.minute) - Number(document.querySelector('#agenda .now').dataset.min));
})()`).(float64)
			if off > 1 && off < 24*60-1 {
				t.Errorf("the now line is %v minutes away from Bogotá's time", off)
			}
			check(t, "agenda today at "+width)
			b.set("day", "2026-12-09")
		})
		run("WeekViewAt"+width, func(t *testing.T) {
			b.set("staff-select", strconv.FormatInt(bk.staffProfile, 10))
			b.set("view-select", "week")
			b.do("waiting for the week", chromedp.WaitVisible(chromedp.CSS(`#agenda .col[data-day="2026-12-13"]`)))
			check(t, "agenda week view at "+width)
			b.set("view-select", "day")
			b.do("waiting for the day", chromedp.Poll[chromedp.Void](`!document.querySelector('#agenda .col[data-day="2026-12-13"]')`))
		})
		run("BookingDialogAt"+width, func(t *testing.T) {
			b.do("opening the booking dialog", chromedp.Click(chromedp.CSS("#new-appt")),
				chromedp.WaitVisible(chromedp.CSS(`#book-dialog[open] #bk-slots input[value^="2026-12-09T14:00"]`)))
			check(t, "booking dialog at "+width)
			if phone {
				// The README's picture: Juan's free times, 16:30 picked, the client typed in.
				b.set("bk-staff", strconv.FormatInt(bk.staffProfile, 10))
				b.do("waiting for Juan's times", chromedp.Poll[chromedp.Void](`!!document.querySelector('#bk-slots input[value^="2026-12-09T16:30"]') && !document.getElementById('bk-slots').textContent.includes('·')`))
				b.do("picking 16:30 for a client", chromedp.Click(chromedp.CSS(`#bk-slots input[value^="2026-12-09T16:30"]`)),
					chromedp.Click(chromedp.CSS("#bk-client-new")), chromedp.WaitVisible(chromedp.CSS("#bk-name")),
					chromedp.SendKeys(chromedp.CSS("#bk-name"), "Ana Torres"), chromedp.SendKeys(chromedp.CSS("#bk-phone"), "+57 300 555 0000"),
					chromedp.Evaluate[chromedp.Void](`document.getElementById('bk-submit').scrollIntoView({ block: 'end' })`))
				check(t, "booking dialog filled in at "+width)
				b.phoneShot(t, shots, "reserva.png")
			}
			b.do("closing the dialog", chromedp.Click(chromedp.CSS("#book-dialog .close")),
				chromedp.Poll[chromedp.Void](`!document.getElementById('book-dialog').open`))
		})
		run("AppointmentDialogAt"+width, func(t *testing.T) {
			b.do("opening the appointment", chromedp.Click(chromedp.CSS(fmt.Sprintf(`.appt[data-id="%d"]`, appts[0].ID))),
				chromedp.WaitVisible(chromedp.CSS(`#cita-dialog[open] #ct-slots input[type=radio]`)))
			check(t, "appointment dialog at "+width)
			if phone {
				b.phoneShot(t, shots, "cita.png")
			}
			b.do("closing the dialog", chromedp.Click(chromedp.CSS("#cita-dialog > .actions .close")),
				chromedp.Poll[chromedp.Void](`!document.getElementById('cita-dialog').open`))
		})
		run("ReportAt"+width, func(t *testing.T) {
			b.do("opening the report", chromedp.Click(chromedp.CSS("#report-open")), chromedp.WaitVisible(chromedp.CSS("#report-view")))
			b.set("report-from", "2026-12-01")
			b.set("report-to", "2026-12-31")
			b.do("showing the report", chromedp.Click(chromedp.CSS("#report-submit")), chromedp.WaitVisible(chromedp.CSS("#report-result table")))
			check(t, "report at "+width)
			b.do("back to the agenda", chromedp.Click(chromedp.CSS("#report-close")), chromedp.WaitVisible(chromedp.CSS("#agenda-view")))
		})
		run("ClientsAt"+width, func(t *testing.T) {
			b.do("opening the directory", chromedp.Click(chromedp.CSS("#clients-open")), chromedp.WaitVisible(chromedp.CSS("#clients-view .client-row")))
			check(t, "client directory at "+width)
			b.do("opening a client", chromedp.Click(chromedp.CSS("#clients-view .client-row")), chromedp.WaitVisible(chromedp.CSS("#cl-history li")))
			check(t, "client record at "+width)
			b.do("back to the agenda", chromedp.Click(chromedp.CSS("#clients-close")), chromedp.WaitVisible(chromedp.CSS("#agenda-view")))
		})
		run("SettingsAt"+width, func(t *testing.T) {
			b.do("opening the settings", chromedp.Click(chromedp.CSS("#settings-open")), chromedp.WaitVisible(chromedp.CSS("#settings-view #branch-list")),
				chromedp.WaitVisible(chromedp.CSS("#hours-editor")))
			check(t, "settings at "+width)
			b.do("back to the agenda", chromedp.Click(chromedp.CSS("#settings-close")), chromedp.WaitVisible(chromedp.CSS("#agenda-view")))
		})
		run("WebhooksAt"+width, func(t *testing.T) {
			b.do("opening the webhooks", chromedp.Click(chromedp.CSS("#webhooks-open")), chromedp.WaitVisible(chromedp.CSS("#wh-events input")))
			check(t, "webhooks at "+width)
			b.do("back to the agenda", chromedp.Click(chromedp.CSS("#webhooks-close")), chromedp.WaitVisible(chromedp.CSS("#agenda-view")))
		})
		run("SetupChecklistAt"+width, func(t *testing.T) {
			b.set("org-select", strconv.FormatInt(spa.ID, 10))
			b.do("waiting for the checklist", chromedp.WaitVisible(chromedp.CSS(`#setup #checklist li[data-step="stepBranch"]`)))
			check(t, "setup checklist at "+width)
		})
		run("EnglishAt"+width, func(t *testing.T) {
			b.do("switching language", chromedp.Click(chromedp.CSS("#lang")),
				chromedp.Poll[chromedp.Void](`document.documentElement.lang === 'en'`))
			check(t, "English at "+width)
			b.do("switching back", chromedp.Click(chromedp.CSS("#lang")),
				chromedp.Poll[chromedp.Void](`document.documentElement.lang === 'es'`))
		})
		b.do("signing out", chromedp.Click(chromedp.CSS("#logout")), chromedp.WaitVisible(chromedp.CSS("#login-form")))
	}
	walk("Desktop", false)
	b.do("narrowing to a phone", chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile))
	walk("Phone", true)
	b.do("widening again", chromedp.EmulateViewport(1400, 900))

	run("EnglishSurvivesAReload", func(t *testing.T) {
		b.do("switching to English", chromedp.Click(chromedp.CSS("#lang")),
			chromedp.Poll[chromedp.Void](`document.getElementById('login-view').querySelector('h2').textContent === 'Sign in'`))
		b.do("reloading", chromedp.Navigate(srv.URL+"/app"), chromedp.WaitVisible(chromedp.CSS("#login-form")))
		if lang := b.eval("reading the language", `document.documentElement.lang`); lang != "en" {
			t.Errorf("after a reload the page is in %v", lang)
		}
		if h := b.text("#login-view h2"); h != "Sign in" {
			t.Errorf("after a reload the heading is %q", h)
		}
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
		b.do("narrowing to a phone", chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile))
		b.axeCheck(t, "dashboard at a phone's width")
		b.fitsWidth(t, "dashboard at a phone's width")
	})
}
