package api

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/appcitas/appcitas/internal/auth"
	"github.com/appcitas/appcitas/internal/booking"
	"github.com/appcitas/appcitas/internal/invitations"
	"github.com/appcitas/appcitas/internal/mail/mailtest"
	"github.com/appcitas/appcitas/internal/tenancy"
)

// TestAppSettingsInBrowser walks the settings as an admin: a branch with a time zone, a service
// priced in pesos, an invitation accepted through the e-mailed link in a second browser context,
// working hours with a break that availability follows, a holiday, the organization's new name,
// the subscription and its checkout, the phone width; and a receptionist who sees no settings.
func TestAppSettingsInBrowser(t *testing.T) {
	t.Parallel()
	be := setupBilling(t, auth.LimitOptions{Burst: 10, Every: time.Minute})
	sink := mailtest.NewServer(t)
	be.s.cfg.Mailer = smtpMailer(t, sink)
	be.s.invites = invitations.New(func(ctx context.Context) (*pgxpool.Pool, error) {
		return be.m.Servers().Shared(ctx, tenancy.DefaultServer)
	}, invitations.Options{Mailer: be.s.cfg.Mailer, Now: be.s.cfg.Now})
	res := be.signup(t, "duena@example.com")
	adminH := asOrg(res)
	srv := httptest.NewServer(be.h)
	t.Cleanup(srv.Close)
	get := func(t *testing.T, path string, out any) {
		t.Helper()
		rec := be.do("GET", path, nil, adminH...)
		if rec.Code != http.StatusOK {
			t.Fatalf("GET %s: %d %s", path, rec.Code, rec.Body.String())
		}
		if err := json.Unmarshal(rec.Body.Bytes(), out); err != nil {
			t.Fatal(err)
		}
	}

	b := startAppBrowser(t)
	b.do("opening /app", chromedp.Navigate(srv.URL+"/app"))
	b.login("duena@example.com", "tijeras-2026")
	b.do("waiting for the agenda", chromedp.WaitVisible(chromedp.CSS("#agenda-view")))

	parent := t
	run := func(name string, f func(t *testing.T)) {
		t.Run(name, func(t *testing.T) {
			b.t = t
			defer func() { b.t = parent }()
			f(t)
		})
	}
	// click presses a button and waits until cond (a JavaScript expression) holds.
	click := func(what, sel, cond string) {
		b.t.Helper()
		b.do(what, chromedp.Click(chromedp.CSS(sel)), chromedp.Poll[chromedp.Void](cond))
	}
	typeInto := func(id, value string) {
		b.t.Helper()
		b.do("typing into #"+id, chromedp.Evaluate[chromedp.Void](fmt.Sprintf(`document.getElementById(%q).value = ''`, id)), chromedp.SendKeys(chromedp.CSS("#"+id), value))
	}

	run("OpensTheSettings", func(t *testing.T) {
		click("opening the settings", "#settings-open", `document.getElementById('set-billing')?.querySelector('#billing-plan, .hint') !== null && document.getElementById('branch-list') !== null`)
		if id := b.eval("reading the focus", `document.activeElement.id`); id != "settings-title" {
			t.Errorf("the focus is on %v, want the settings title", id)
		}
		first := b.eval("reading the zone list", `document.querySelector('#branch-zone optgroup').label + '|' + document.querySelector('#branch-zone option').value`)
		if first != "Latinoamérica|America/Bogota" {
			t.Errorf("the zone list starts with %v", first)
		}
	})

	run("ShowsTheSubscriptionAndOpensTheCheckout", func(t *testing.T) {
		if got := b.text("#billing-status"); got != "En prueba" {
			t.Errorf("state = %q", got)
		}
		if got := b.text("#billing-trial"); got == "" {
			t.Error("no trial end shown")
		}
		click("opening the checkout", "#billing-pay", `document.getElementById('checkout-link') !== null`)
		href := b.eval("reading the checkout link", `document.getElementById('checkout-link').href`).(string)
		if !strings.HasPrefix(href, "https://checkout.wompi.co/p/?") || !strings.Contains(href, "reference=") {
			t.Errorf("checkout link = %q", href)
		}
		b.set("billing-plan-select", "profesional")
		// The trial's plan allows one branch; the next step adds a second.
		click("changing the plan", "#billing-change", `document.getElementById('billing-plan')?.textContent.toLowerCase().includes('profesional')`)
	})

	var branchID int64
	run("CreatesABranchWithATimeZone", func(t *testing.T) {
		typeInto("branch-name", "Sede Norte")
		typeInto("branch-address", "Av. Providencia 123")
		typeInto("branch-phone", "+56 2 2345 6789")
		b.set("branch-zone", "America/Santiago")
		click("saving the branch", "#branch-save", `document.getElementById('branch-list').textContent.includes('Sede Norte · America/Santiago')`)
		var list listOf[booking.Branch]
		get(t, "/api/sedes", &list)
		for _, br := range list.Items {
			if br.Name == "Sede Norte" {
				branchID = br.ID
				if br.TimeZone != "America/Santiago" || br.Address != "Av. Providencia 123" || br.Phone != "+56 2 2345 6789" {
					t.Errorf("branch = %+v", br)
				}
			}
		}
		if branchID == 0 {
			t.Fatalf("no Sede Norte in %+v", list.Items)
		}
	})

	var serviceID int64
	run("CreatesAServicePricedInPesos", func(t *testing.T) {
		typeInto("service-name", "Barba")
		typeInto("service-duration", "45")
		typeInto("service-price", "25000.50")
		typeInto("service-before", "5")
		typeInto("service-after", "10")
		click("saving the service", "#service-save", `document.getElementById('service-list').textContent.includes('Barba')`)
		var list listOf[booking.Service]
		get(t, "/api/servicios", &list)
		for _, s := range list.Items {
			if s.Name == "Barba" {
				serviceID = s.ID
				if s.DurationMinutes != 45 || s.PriceCents != 2500050 || s.Currency != "COP" || s.BufferBeforeMinutes != 5 || s.BufferAfterMinutes != 10 || !s.Active {
					t.Errorf("service = %+v", s)
				}
			}
		}
		if serviceID == 0 {
			t.Fatalf("no Barba in %+v", list.Items)
		}
		if got := b.text("#service-list"); !strings.Contains(got, "25.000,50") {
			t.Errorf("the price is not shown in pesos: %q", got)
		}
	})

	var pabloProfile int64
	run("InvitesSomeoneWhoAcceptsThroughTheEmailedLink", func(t *testing.T) {
		typeInto("invite-email", "pablo@example.com")
		b.set("invite-role", "staff")
		typeInto("invite-name", "Pablo Ruiz")
		click("inviting", "#invite-send", `document.getElementById('pending-list').textContent.includes('pablo@example.com')`)
		link, _ := lastToken(t, sink, "pablo@example.com")
		if !strings.HasPrefix(link, srv.URL+"/app#/invitacion/") {
			t.Fatalf("link = %q, want one to %s/app", link, srv.URL)
		}
		// A second browser context: its own cookies, as on the invitee's own device.
		ctx, cancel := chromedp.NewContext(b.ctx, chromedp.WithNewBrowserContext())
		defer cancel()
		inv := &appBrowser{t: t, ctx: ctx}
		inv.do("opening the link", chromedp.Navigate(link), chromedp.WaitVisible(chromedp.CSS("#invite-new-form")))
		if got := inv.text("#invite-summary"); !strings.Contains(got, "Barbería Juan") || !strings.Contains(got, "Profesional") || !strings.Contains(got, "pablo@example.com") {
			t.Errorf("summary = %q", got)
		}
		if h := inv.eval("reading the address", `location.hash`); h != "" {
			t.Errorf("the token stays in the address bar: %v", h)
		}
		inv.do("creating the account",
			chromedp.SendKeys(chromedp.CSS("#invite-username"), "pablo"),
			chromedp.SendKeys(chromedp.CSS("#invite-password"), "navaja-2026"),
			chromedp.Click(chromedp.CSS("#invite-create")),
			chromedp.WaitVisible(chromedp.CSS("#agenda-view")),
			chromedp.Poll[chromedp.Void](fmt.Sprintf(`document.getElementById('org-select').value === '%d'`, res.Organization.ID)))
		if !inv.eval("checking the settings button", `document.getElementById('settings-open').hidden`).(bool) {
			t.Error("a staff member sees the settings button")
		}
		// The admin's team list shows the new member with the role.
		click("reloading the settings", "#settings-close", `!document.getElementById('agenda-view').hidden`)
		click("reopening the settings", "#settings-open", `document.getElementById('member-list')?.textContent.includes('Pablo Ruiz') && document.getElementById('hours-staff') !== null`)
		var list listOf[booking.Member]
		get(t, "/api/miembros", &list)
		for _, m := range list.Items {
			if m.DisplayName == "Pablo Ruiz" {
				pabloProfile = m.ID
				if m.Role != "staff" {
					t.Errorf("Pablo's role = %q", m.Role)
				}
			}
		}
		if pabloProfile == 0 {
			t.Fatalf("Pablo is not a member: %+v", list.Items)
		}
		if got := b.text("#pending-list"); strings.Contains(got, "pablo@example.com") {
			t.Errorf("the accepted invitation is still pending: %q", got)
		}
	})

	// wednesday is a Wednesday at least two days ahead in Santiago.
	santiago, _ := time.LoadLocation("America/Santiago")
	day := time.Now().In(santiago).AddDate(0, 0, 2)
	for day.Weekday() != time.Wednesday {
		day = day.AddDate(0, 0, 1)
	}
	wednesday := day.Format(time.DateOnly)
	holiday := day.AddDate(0, 0, 7).Format(time.DateOnly)
	slots := func(t *testing.T, date string) []booking.Slot {
		t.Helper()
		var a booking.Availability
		get(t, fmt.Sprintf("/api/disponibilidad?servicio_id=%d&sede_id=%d&desde=%s&hasta=%s", serviceID, branchID, date, date), &a)
		var out []booking.Slot
		for _, s := range a.Staff {
			out = append(out, s.Slots...)
		}
		return out
	}

	run("EditsHoursWithABreakThatAvailabilityFollows", func(t *testing.T) {
		// The hours section redraws after the team's list: pick Pablo once his name is offered.
		b.do("waiting for Pablo in the hours' staff list", chromedp.Poll[chromedp.Void](fmt.Sprintf(
			`document.querySelector('#hours-staff option[value="%d"]') !== null`, pabloProfile)))
		b.set("hours-staff", fmt.Sprint(pabloProfile))
		if err := chromedp.Do(b.ctx, chromedp.Poll[chromedp.Void](fmt.Sprintf(
			`document.getElementById('hours-editor')?.dataset.staff === '%d' && document.querySelector('#hours-editor .day[data-day="3"] .add-block') !== null`, pabloProfile),
			chromedp.WithPollingTimeout(20*time.Second))); err != nil {
			state := b.eval("reading the hours editor", `JSON.stringify({editor: document.getElementById('hours-editor')?.dataset.staff,
				options: [...(document.getElementById('hours-staff')?.options || [])].map((o) => o.value + ':' + o.text),
				value: document.getElementById('hours-staff')?.value, flash: document.getElementById('flash').textContent})`)
			t.Fatalf("waiting for Pablo's (%d) hours: %v; the page: %v", pabloProfile, err, state)
		}
		click("adding Wednesday's hours", `#hours-editor .day[data-day="3"] .add-block`, `document.querySelector('#hours-editor .day[data-day="3"] .block') !== null`)
		click("adding a break", `#hours-editor .day[data-day="3"] .add-break`, `document.querySelector('#hours-editor .day[data-day="3"] .break') !== null`)
		b.do("choosing Sede Norte", chromedp.Evaluate[chromedp.Void](fmt.Sprintf(
			`(() => { const s = document.querySelector('#hours-editor .day[data-day="3"] .block select'); s.value = '%d'; s.dispatchEvent(new Event('change')); })()`, branchID)))
		// The flash still holds an earlier step's "saved": clear it, so that the wait is for this save.
		b.do("saving the hours", chromedp.Evaluate[chromedp.Void](`document.getElementById('flash').textContent = ''`),
			chromedp.Click(chromedp.CSS("#hours-save")), chromedp.Poll[chromedp.Void](`document.getElementById('flash').textContent === 'Cambios guardados.'`))
		var hours hoursBody
		get(t, fmt.Sprintf("/api/miembros/%d/horario", pabloProfile), &hours)
		if len(hours.Hours) != 1 || hours.Hours[0].BranchID != branchID || hours.Hours[0].Weekday != 3 || hours.Hours[0].Start != "09:00" || hours.Hours[0].End != "17:00" ||
			len(hours.Hours[0].Breaks) != 1 || hours.Hours[0].Breaks[0].Start != "13:00" || hours.Hours[0].Breaks[0].End != "14:00" {
			t.Fatalf("hours = %+v", hours.Hours)
		}
		got := slots(t, wednesday)
		if len(got) == 0 {
			t.Fatal("no free slots on Wednesday")
		}
		before, after := false, false
		for _, s := range got {
			start, end := s.Start.In(santiago), s.End.In(santiago)
			lo := time.Date(start.Year(), start.Month(), start.Day(), 13, 0, 0, 0, santiago)
			hi := lo.Add(time.Hour)
			if start.Before(hi) && end.After(lo) {
				t.Errorf("slot %s–%s overlaps the break", start.Format("15:04"), end.Format("15:04"))
			}
			before = before || !end.After(lo)
			after = after || !start.Before(hi)
		}
		if !before || !after {
			t.Errorf("slots = %v, want some before and some after the break", got)
		}
	})

	run("AddsAHoliday", func(t *testing.T) {
		if len(slots(t, holiday)) == 0 {
			t.Fatal("no free slots on the Wednesday before the holiday is added")
		}
		b.set("day-date", holiday)
		b.set("day-scope", fmt.Sprintf("b:%d", branchID))
		typeInto("day-reason", "Festivo")
		click("adding the holiday", "#day-save", fmt.Sprintf(`document.getElementById('day-list').textContent.includes('%s')`, holiday))
		if got := b.text("#day-list"); !strings.Contains(got, "Sede Norte") || !strings.Contains(got, "Festivo") {
			t.Errorf("days = %q", got)
		}
		if got := slots(t, holiday); len(got) != 0 {
			t.Errorf("the holiday still has slots: %v", got)
		}
	})

	run("RenamesTheOrganization", func(t *testing.T) {
		typeInto("org-name", "Barbería Juan Centro")
		click("saving the name", "#org-save", `document.querySelector('#org-select option:checked').textContent === 'Barbería Juan Centro'`)
		var o organizationBody
		get(t, "/api/organizacion", &o)
		if o.Name != "Barbería Juan Centro" {
			t.Errorf("organization = %+v", o)
		}
	})

	run("FitsAPhoneWidth", func(t *testing.T) {
		b.do("narrowing to 390 px", chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile), chromedp.WaitVisible(chromedp.CSS("#hours-editor")))
		w := b.eval("measuring", `[window.innerWidth, document.documentElement.scrollWidth, document.body.scrollWidth]`).([]any)
		if w[1].(float64) > w[0].(float64) || w[2].(float64) > w[0].(float64) {
			t.Errorf("at 390 px the page is %v/%v px wide for a %v px screen", w[1], w[2], w[0])
		}
		b.do("widening again", chromedp.EmulateViewport(1400, 900))
	})

	run("SwitchesToEnglish", func(t *testing.T) {
		b.do("switching language", chromedp.Click(chromedp.CSS("#lang")),
			chromedp.Poll[chromedp.Void](`document.getElementById('branch-form-title')?.textContent === 'New branch'`))
		if got := b.text("#set-hours-h"); got != "Working hours" {
			t.Errorf("hours heading = %q", got)
		}
		b.do("switching back", chromedp.Click(chromedp.CSS("#lang")),
			chromedp.Poll[chromedp.Void](`document.getElementById('branch-form-title')?.textContent === 'Nueva sede'`))
	})

	run("AReceptionistSeesNoSettings", func(t *testing.T) {
		u := be.createUser("rita", false)
		org, err := be.m.Organization(be.ctx, res.Organization.ID)
		if err != nil {
			t.Fatal(err)
		}
		be.addProfile(org, u, booking.RoleReceptionist, true)
		ctx, cancel := chromedp.NewContext(b.ctx, chromedp.WithNewBrowserContext())
		defer cancel()
		rb := &appBrowser{t: t, ctx: ctx}
		rb.do("opening /app", chromedp.Navigate(srv.URL+"/app"))
		rb.login("rita", "password-rita")
		rb.do("waiting for the agenda", chromedp.WaitVisible(chromedp.CSS("#agenda-view")))
		if !rb.eval("checking the settings button", `document.getElementById('settings-open').hidden`).(bool) {
			t.Error("a receptionist sees the settings button")
		}
		if rb.eval("checking the settings view", `document.getElementById('settings-view').hidden`) != true {
			t.Error("a receptionist sees the settings view")
		}
	})
	b.checkProblems()
}
