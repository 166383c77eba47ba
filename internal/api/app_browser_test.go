package api

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	cdplog "github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/appcitas/appcitas/internal/booking"
)

// appBrowser is one headless Chromium on one test server: its context and the page's problems
// (script errors, refusals by the Content-Security-Policy).
type appBrowser struct {
	t        *testing.T
	ctx      context.Context
	mu       sync.Mutex
	problems []string
}

// browserTurn lets one test at a time drive browsers. The browser tests run beside the package's
// other parallel tests, but not beside each other: a dozen Chromium processes on a small machine
// made every one of them miss its deadline. held names the test that has the turn.
var browserTurn = struct {
	sync.Mutex
	held string
	ch   chan struct{}
}{ch: make(chan struct{}, 1)}

// takeBrowserTurn waits until no other test drives a browser, and keeps the turn until t ends.
// A test that starts a second browser already has the turn.
func takeBrowserTurn(t *testing.T) {
	t.Helper()
	name, _, _ := strings.Cut(t.Name(), "/")
	browserTurn.Lock()
	mine := browserTurn.held == name
	browserTurn.Unlock()
	if mine {
		return
	}
	browserTurn.ch <- struct{}{}
	browserTurn.Lock()
	browserTurn.held = name
	browserTurn.Unlock()
	t.Cleanup(func() {
		browserTurn.Lock()
		browserTurn.held = ""
		browserTurn.Unlock()
		<-browserTurn.ch
	})
}

// startAppBrowser starts headless Chromium for t once t has the browser turn. Script errors and CSP
// refusals are noted for checkProblems; every step shares a 120 s budget.
func startAppBrowser(t *testing.T) *appBrowser {
	t.Helper()
	chrome := chromiumPath(t)
	takeBrowserTurn(t)
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(chrome), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.NoFirstRun, chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true), chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("lang", "es-CO"), chromedp.Flag("accept-lang", "es-CO,es"),
		chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(1400, 900),
	)
	t.Cleanup(cancelAlloc)
	ctx, cancel := chromedp.NewContext(alloc)
	t.Cleanup(cancel)
	ctx, cancelTimeout := context.WithTimeout(ctx, 120*time.Second)
	t.Cleanup(cancelTimeout)
	b := &appBrowser{t: t, ctx: ctx}
	exceptions := chromedp.Events(ctx, runtime.ExceptionThrown)
	entries := chromedp.Events(ctx, cdplog.EntryAdded)
	go func() {
		for ev, err := range exceptions {
			if err != nil {
				return
			}
			msg := ev.ExceptionDetails.Text
			if ex := ev.ExceptionDetails.Exception; ex != nil {
				msg += " " + ex.Description
			}
			b.note("exception: " + msg)
		}
	}()
	go func() {
		for ev, err := range entries {
			if err != nil {
				return
			}
			if e := ev.Entry; e != nil && (e.Source == cdplog.EntrySourceSecurity || e.Source == cdplog.EntrySourceJavascript) {
				b.note(string(e.Source) + ": " + e.Text)
			}
		}
	}()
	if _, err := chromedp.Call(ctx, cdplog.Enable, cdp.Empty{}); err != nil {
		t.Fatalf("starting chromium (%s): %v", chrome, err)
	}
	return b
}

func (b *appBrowser) note(s string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.problems = append(b.problems, s)
}

// checkProblems fails the test when the page reported script errors or CSP refusals.
func (b *appBrowser) checkProblems() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.problems) > 0 {
		b.t.Errorf("the page reported problems:\n%s", strings.Join(b.problems, "\n"))
	}
}

func (b *appBrowser) fatal(what string, err error) {
	b.t.Helper()
	// A bounded read: after a timeout the browser may be gone, and the page body must not hang the test.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(b.ctx), 5*time.Second)
	defer cancel()
	body, _ := chromedp.Run(ctx, chromedp.OuterHTML(chromedp.CSS("body")))
	b.t.Fatalf("%s: %v\npage body: %.4000s", what, err, body)
}

func (b *appBrowser) do(what string, steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	if err := chromedp.Do(b.ctx, steps...); err != nil {
		b.fatal(what, err)
	}
}

func (b *appBrowser) text(sel string) string {
	b.t.Helper()
	s, err := chromedp.Run(b.ctx, chromedp.Text(chromedp.CSS(sel)))
	if err != nil {
		b.fatal("reading "+sel, err)
	}
	return strings.TrimSpace(s)
}

func (b *appBrowser) eval(what, js string) any {
	b.t.Helper()
	v, err := chromedp.Run(b.ctx, chromedp.Evaluate[any](js))
	if err != nil {
		b.fatal(what, err)
	}
	return v
}

// set gives a form control a value and fires its change event, as picking it does.
func (b *appBrowser) set(id, value string) {
	b.t.Helper()
	b.do("setting #"+id+" to "+value, chromedp.Evaluate[chromedp.Void](fmt.Sprintf(
		`(() => { const e = document.getElementById(%q); e.value = %q; e.dispatchEvent(new Event('change')); })()`, id, value)))
}

func (b *appBrowser) login(user, password string) {
	b.t.Helper()
	b.do("signing in as "+user,
		chromedp.WaitVisible(chromedp.CSS("#login-form")),
		chromedp.Evaluate[chromedp.Void](`document.getElementById('login-user').value = ''`),
		chromedp.SendKeys(chromedp.CSS("#login-user"), user),
		chromedp.SendKeys(chromedp.CSS("#login-password"), password),
		chromedp.Click(chromedp.CSS("#login-submit")),
	)
}

// screenshot writes the page to dir/name when dir is set (APPCITAS_APP_SCREENSHOTS).
func (b *appBrowser) screenshot(dir, name string) {
	b.t.Helper()
	if dir == "" {
		return
	}
	png, err := chromedp.Run(b.ctx, chromedp.FullScreenshot(100))
	if err != nil {
		b.fatal("taking a screenshot", err)
	}
	if err := os.WriteFile(filepath.Join(dir, name), png, 0o644); err != nil {
		b.t.Fatal(err)
	}
}

// TestAppInBrowser walks the web app as its users do: sign in, pick and switch the organization,
// the day view with a column per staff member, the week view, Santiago's spring-forward day, a
// reload that keeps the session without the access token in script-readable storage, the phone
// width, a staff member who sees only their own agenda, and signing out.
func TestAppInBrowser(t *testing.T) {
	t.Parallel()
	bk := setupBookingOn(setup(t, nil))
	srv := httptest.NewServer(bk.h)
	t.Cleanup(srv.Close)

	// Barbería Juan: two staff members with hours, an appointment each on Wednesday 9 December 2026.
	pedro := bk.createUser("pedro", false)
	bk.addProfile(bk.org, pedro, booking.RoleStaff, true)
	var members listOf[booking.Member]
	bk.ok("GET", "/api/miembros", nil, bk.adminH, http.StatusOK, &members)
	var pedroProfile int64
	for _, m := range members.Items {
		if m.UserID == pedro.ID {
			pedroProfile = m.ID
		}
	}
	bk.ok("PATCH", fmt.Sprintf("/api/miembros/%d", bk.staffProfile), map[string]any{"nombre_visible": "Juan Gómez"}, bk.adminH, http.StatusOK, nil)
	bk.ok("PATCH", fmt.Sprintf("/api/miembros/%d", pedroProfile), map[string]any{"nombre_visible": "Pedro Ruiz"}, bk.adminH, http.StatusOK, nil)
	var week []map[string]any
	for d := range 7 {
		week = append(week, map[string]any{"sede_id": bk.branchID, "dia_semana": d, "hora_inicio": "08:00", "hora_fin": "16:00"})
	}
	bk.ok("PUT", fmt.Sprintf("/api/miembros/%d/horario", pedroProfile), map[string]any{"horario": week}, bk.adminH, http.StatusOK, nil)
	book := func(branch, staff int64, start, client string) booking.Appointment {
		t.Helper()
		var a booking.Appointment
		bk.ok("POST", "/api/citas", map[string]any{"sede_id": branch, "servicio_id": bk.serviceID, "profesional_id": staff,
			"inicio": start, "cliente_nombre": client, "cliente_telefono": "+57 300 111 2233", "forzar": true}, bk.adminH, http.StatusCreated, &a)
		return a
	}
	juanAppt := book(bk.branchID, bk.staffProfile, "2026-12-09T15:00:00Z", "María Pérez") // 10:00 in Bogotá
	pedroAppt := book(bk.branchID, pedroProfile, "2026-12-09T16:00:00Z", "Carlos Ruiz")   // 11:00 in Bogotá
	bk.ok("POST", fmt.Sprintf("/api/citas/%d/confirmar", juanAppt.ID), map[string]any{}, bk.adminH, http.StatusOK, nil)
	// Santiago springs forward at 00:00 on Sunday 6 September 2026 (UTC-4 to UTC-3): 13:00Z is 10:00.
	var santiago booking.Branch
	bk.ok("POST", "/api/sedes", map[string]any{"nombre": "Providencia", "zona_horaria": "America/Santiago"}, bk.adminH, http.StatusCreated, &santiago)
	dstAppt := book(santiago.ID, bk.staffProfile, "2026-09-06T13:00:00Z", "Lucía Díaz")

	// The admin is also in Clínica Dental, which has its own branch.
	dental := bk.createOrg("Clínica Dental")
	bk.addProfile(dental, bk.admin, booking.RoleAdmin, true)
	dentalH := append(bearer(bk.token(bk.admin, 0)), "X-Organization-ID", strconv.FormatInt(dental.ID, 10))
	bk.ok("POST", "/api/sedes", map[string]any{"nombre": "Consultorio Norte", "zona_horaria": "America/Bogota"}, dentalH, http.StatusCreated, nil)

	// Spa Nuevo has just signed up: nothing is set up yet.
	spa := bk.createOrg("Spa Nuevo")
	bk.addProfile(spa, bk.admin, booking.RoleAdmin, true)

	shots := os.Getenv("APPCITAS_APP_SCREENSHOTS")
	b := startAppBrowser(t)
	b.do("opening /app", chromedp.Navigate(srv.URL+"/app"))
	if h := b.text("#login-view h2"); h != "Iniciar sesión" {
		t.Errorf("the sign-in page is not in Spanish: %q", h)
	}
	b.login("admin", "password-admin")

	parent := t
	run := func(name string, f func(t *testing.T)) {
		t.Run(name, func(t *testing.T) {
			b.t = t
			defer func() { b.t = parent }()
			f(t)
		})
	}
	run("PicksOneOfSeveralOrganizations", func(t *testing.T) {
		b.do("picking Barbería Juan",
			chromedp.WaitVisible(chromedp.CSS(fmt.Sprintf(`#org-list button[data-id="%d"]`, bk.org.ID))),
			chromedp.Click(chromedp.CSS(fmt.Sprintf(`#org-list button[data-id="%d"]`, bk.org.ID))),
			chromedp.WaitVisible(chromedp.CSS("#agenda .col-head")),
		)
	})

	juanCol := fmt.Sprintf(`#agenda .col[data-staff="%d"]`, bk.staffProfile)
	pedroCol := fmt.Sprintf(`#agenda .col[data-staff="%d"]`, pedroProfile)
	run("DayViewShowsAColumnPerStaffMemberWithTheirAppointments", func(t *testing.T) {
		b.set("branch-select", strconv.FormatInt(bk.branchID, 10))
		b.set("day", "2026-12-09")
		b.do("waiting for the day's appointments",
			chromedp.WaitVisible(chromedp.CSS(fmt.Sprintf(`%s .appt[data-id="%d"]`, juanCol, juanAppt.ID))),
			chromedp.WaitVisible(chromedp.CSS(fmt.Sprintf(`%s .appt[data-id="%d"]`, pedroCol, pedroAppt.ID))),
		)
		if h := b.text(juanCol + " .col-head"); h != "Juan Gómez" {
			t.Errorf("Juan's column head = %q", h)
		}
		juan := b.text(fmt.Sprintf(`.appt[data-id="%d"]`, juanAppt.ID))
		for _, want := range []string{"10:00", "María Pérez", "Corte", "Confirmada"} {
			if !strings.Contains(juan, want) {
				t.Errorf("Juan's appointment shows %q, lacking %q", juan, want)
			}
		}
		pedro := b.text(fmt.Sprintf(`.appt[data-id="%d"]`, pedroAppt.ID))
		for _, want := range []string{"11:00", "Carlos Ruiz", "Pendiente"} {
			if !strings.Contains(pedro, want) {
				t.Errorf("Pedro's appointment shows %q, lacking %q", pedro, want)
			}
		}
		if n := b.eval("counting free blocks", `document.querySelectorAll('`+juanCol+` .free').length`).(float64); n != 2 {
			t.Errorf("Juan's column has %v free blocks, want 2 (09–13 and 14–18)", n)
		}
		b.screenshot(shots, "agenda-dia.png")
	})

	run("TodayIsMarked", func(t *testing.T) {
		b.do("going to today", chromedp.Click(chromedp.CSS("#today")), chromedp.WaitVisible(chromedp.CSS("#agenda .col.today")))
		if title := b.text("#agenda-title"); !strings.Contains(title, "Hoy") {
			t.Errorf("today's title = %q", title)
		}
	})

	run("WeekViewShowsOneStaffMember", func(t *testing.T) {
		b.set("day", "2026-12-09")
		b.set("staff-select", strconv.FormatInt(bk.staffProfile, 10))
		b.set("view-select", "week")
		// The day view also has columns of 2026-12-09: wait for a column only the week has.
		b.do("waiting for the week", chromedp.WaitVisible(chromedp.CSS(`#agenda .col[data-day="2026-12-13"]`)))
		b.do("waiting for Juan's appointment", chromedp.WaitVisible(chromedp.CSS(fmt.Sprintf(`#agenda .col[data-day="2026-12-09"] .appt[data-id="%d"]`, juanAppt.ID))))
		days := b.eval("listing the week's columns", `Array.from(document.querySelectorAll('#agenda .col[data-day]')).map((c) => c.dataset.day).join(',')`)
		if days != "2026-12-07,2026-12-08,2026-12-09,2026-12-10,2026-12-11,2026-12-12,2026-12-13" {
			t.Errorf("week columns = %v", days)
		}
		if n := b.eval("looking for Pedro", `document.querySelectorAll('.appt[data-id="`+strconv.FormatInt(pedroAppt.ID, 10)+`"]').length`).(float64); n != 0 {
			t.Error("Juan's week shows Pedro's appointment")
		}
		b.screenshot(shots, "agenda-semana.png")
		b.set("view-select", "day")
	})

	run("SantiagoSpringForwardDayRendersLocalHours", func(t *testing.T) {
		b.set("branch-select", strconv.FormatInt(santiago.ID, 10))
		b.set("day", "2026-09-06")
		sel := fmt.Sprintf(`.appt[data-id="%d"]`, dstAppt.ID)
		b.do("waiting for Santiago's appointment", chromedp.WaitVisible(chromedp.CSS(sel)))
		if got := b.text(sel + " .t"); got != "10:00–10:30" {
			t.Errorf("on the spring-forward day 13:00Z shows %q, want 10:00–10:30", got)
		}
		if start := b.eval("reading the start", `document.querySelector('`+sel+`').dataset.start`); start != "600" {
			t.Errorf("the appointment sits at minute %v of the day, want 600 (10:00)", start)
		}
		if title := b.text("#agenda-title"); !strings.Contains(title, "America/Santiago") {
			t.Errorf("title = %q", title)
		}
		b.set("branch-select", strconv.FormatInt(bk.branchID, 10))
		b.set("day", "2026-12-09")
		b.do("back in Bogotá", chromedp.WaitVisible(chromedp.CSS(pedroCol)))
	})

	run("ReloadKeepsTheSessionWithoutAReadableToken", func(t *testing.T) {
		b.do("reloading", chromedp.Navigate(srv.URL+"/app/"), chromedp.WaitVisible(chromedp.CSS("#agenda .col-head")))
		if !b.eval("checking the view", `document.getElementById('login-view').hidden`).(bool) {
			t.Error("the reload asked to sign in again")
		}
		stored := b.eval("reading script-readable storage", `JSON.stringify(localStorage) + '|' + JSON.stringify(sessionStorage) + '|' + document.cookie`).(string)
		if strings.Contains(stored, "eyJ") || strings.Contains(stored, "appcitas_refresh") {
			t.Errorf("a token is readable by scripts: %s", stored)
		}
	})

	run("SwitchesOrganization", func(t *testing.T) {
		b.set("org-select", strconv.FormatInt(dental.ID, 10))
		b.do("waiting for Clínica Dental", chromedp.Poll[chromedp.Void](`document.getElementById('agenda-title').textContent.includes('Consultorio Norte')`))
		if n := b.eval("counting appointments", `document.querySelectorAll('#agenda .appt').length`).(float64); n != 0 {
			t.Errorf("Clínica Dental shows %v appointments of Barbería Juan", n)
		}
		b.set("org-select", strconv.FormatInt(bk.org.ID, 10))
		b.do("back to Barbería Juan", chromedp.Poll[chromedp.Void](`document.getElementById('agenda-title').textContent.includes('Centro')`))
	})

	run("NewOrganizationShowsTheSetupChecklist", func(t *testing.T) {
		b.set("org-select", strconv.FormatInt(spa.ID, 10))
		b.do("waiting for the checklist", chromedp.WaitVisible(chromedp.CSS(`#setup #checklist li[data-step="stepBranch"][data-done="false"]`)))
		list := b.text("#checklist")
		for _, want := range []string{"Crea una sede", "Crea tus servicios", "Define los horarios", "Invita a tu equipo"} {
			if !strings.Contains(list, want) {
				t.Errorf("the checklist lacks %q: %s", want, list)
			}
		}
		b.set("org-select", strconv.FormatInt(bk.org.ID, 10))
		b.do("back to Barbería Juan", chromedp.Poll[chromedp.Void](`document.getElementById('agenda-title').textContent.includes('Centro')`))
		if !b.eval("checking the checklist", `document.getElementById('setup').hidden`).(bool) {
			t.Error("Barbería Juan, fully set up, still shows the checklist")
		}
	})

	run("FitsAPhoneWidth", func(t *testing.T) {
		b.do("narrowing to 390 px", chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile), chromedp.WaitVisible(chromedp.CSS("#agenda .col-head")))
		w := b.eval("measuring", `[window.innerWidth, document.documentElement.scrollWidth, document.body.scrollWidth]`).([]any)
		if w[1].(float64) > w[0].(float64) || w[2].(float64) > w[0].(float64) {
			t.Errorf("at 390 px the page is %v/%v px wide for a %v px screen", w[1], w[2], w[0])
		}
		b.do("widening again", chromedp.EmulateViewport(1400, 900))
	})

	run("SwitchesToEnglish", func(t *testing.T) {
		b.do("switching language", chromedp.Click(chromedp.CSS("#lang")),
			chromedp.Poll[chromedp.Void](`document.getElementById('logout').textContent === 'Sign out'`))
		b.do("switching back", chromedp.Click(chromedp.CSS("#lang")),
			chromedp.Poll[chromedp.Void](`document.getElementById('logout').textContent === 'Cerrar sesión'`))
	})

	run("SignOutForgetsTheSession", func(t *testing.T) {
		b.do("signing out", chromedp.Click(chromedp.CSS("#logout")), chromedp.WaitVisible(chromedp.CSS("#login-form")))
		b.do("reloading", chromedp.Navigate(srv.URL+"/app"), chromedp.WaitVisible(chromedp.CSS("#login-form")))
	})

	run("StaffSeesOnlyTheirOwnAgenda", func(t *testing.T) {
		// Juan signs in with the keyboard alone: Enter submits the form.
		b.do("signing in as juan by keyboard",
			chromedp.WaitVisible(chromedp.CSS("#login-form")),
			chromedp.Evaluate[chromedp.Void](`document.getElementById('login-user').value = ''`),
			chromedp.SendKeys(chromedp.CSS("#login-user"), "juan"),
			chromedp.SendKeys(chromedp.CSS("#login-password"), "password-juan\r"),
		)
		b.do("waiting for Juan's agenda", chromedp.WaitVisible(chromedp.CSS("#agenda .col-head")))
		b.set("branch-select", strconv.FormatInt(bk.branchID, 10))
		b.set("day", "2026-12-09")
		b.do("waiting for Juan's appointment", chromedp.WaitVisible(chromedp.CSS(fmt.Sprintf(`.appt[data-id="%d"]`, juanAppt.ID))))
		cols := b.eval("listing columns", `Array.from(document.querySelectorAll('#agenda .col[data-staff]')).map((c) => c.dataset.staff).join(',')`)
		if cols != strconv.FormatInt(bk.staffProfile, 10) {
			t.Errorf("staff columns = %v, want only Juan's", cols)
		}
		if strings.Contains(b.text("#agenda"), "Carlos Ruiz") {
			t.Error("Juan sees Pedro's client")
		}
		if n := b.eval("counting staff options", `document.getElementById('staff-select').options.length`).(float64); n != 1 {
			t.Errorf("the week view offers %v staff members to Juan", n)
		}
	})

	run("SignOutEverywhereRevokesTheSession", func(t *testing.T) {
		b.do("signing out everywhere", chromedp.Click(chromedp.CSS("#logout-all")), chromedp.WaitVisible(chromedp.CSS("#login-form")))
		b.do("reloading", chromedp.Navigate(srv.URL+"/app"), chromedp.WaitVisible(chromedp.CSS("#login-form")))
	})
	b.checkProblems()
}
