package api

import (
	"context"
	"fmt"
	"net/http/httptest"
	"os"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// chromiumPath is Debian's chromium (apt-get install chromium), or $CHROMIUM.
func chromiumPath(t *testing.T) string {
	t.Helper()
	p := os.Getenv("CHROMIUM")
	if p == "" {
		p = "/usr/bin/chromium"
	}
	if _, err := os.Stat(p); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("chromium is not installed at %s (apt-get install -y chromium; .ci/run installs it): the dashboard's browser test cannot run", p)
		}
		t.Skipf("chromium is not installed at %s (apt-get install -y chromium): skipping the dashboard's browser test", p)
	}
	return p
}

// TestDashboardInBrowser drives the dashboard page in headless Chromium: a superuser logs in,
// sees the guide's three tenants, deactivates one after confirming and sees it marked inactive;
// a user who is not a superuser is told so.
func TestDashboardInBrowser(t *testing.T) {
	t.Parallel()
	a := setupAdmin(t)
	srv := httptest.NewServer(a.h)
	t.Cleanup(srv.Close)

	// The browser (its script errors and CSP refusals fail the test) is the web app tests'.
	browser := startAppBrowser(t)
	ctx := browser.ctx

	fatal := func(what string, err error) {
		t.Helper()
		body, _ := chromedp.Run(context.WithoutCancel(ctx), chromedp.OuterHTML(chromedp.CSS("body")))
		t.Fatalf("%s: %v\npage body: %.3000s", what, err, body)
	}
	do := func(what string, steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(ctx, steps...); err != nil {
			fatal(what, err)
		}
	}
	text := func(sel string) string {
		t.Helper()
		s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
		if err != nil {
			fatal("reading "+sel, err)
		}
		return strings.TrimSpace(s)
	}
	login := func(user, password string) {
		t.Helper()
		do("logging in as "+user,
			chromedp.WaitVisible(chromedp.CSS("#login-form")),
			chromedp.Evaluate[chromedp.Void](`document.getElementById('login-user').value = ''`),
			chromedp.SendKeys(chromedp.CSS("#login-user"), user),
			chromedp.SendKeys(chromedp.CSS("#login-password"), password),
			chromedp.Click(chromedp.CSS("#login-submit")),
		)
	}

	do("opening /admin", chromedp.Navigate(srv.URL+"/admin"))
	login("root", "password-root")

	spaRow := fmt.Sprintf(`#tenant-rows tr[data-id="%d"]`, a.spa.ID)
	do("waiting for the tenant table", chromedp.WaitVisible(chromedp.CSS(spaRow)))
	rows := text("#tenant-rows")
	for _, want := range []string{"Barbería Juan", "Clínica Dental", "Spa Belleza"} {
		if !strings.Contains(rows, want) {
			t.Errorf("the table lacks %s:\n%s", want, rows)
		}
	}

	if before := text(spaRow + " td.estado"); before != "Activo" {
		t.Fatalf("Spa Belleza shows %q before deactivation", before)
	}
	do("opening Spa Belleza's detail",
		chromedp.Click(chromedp.CSS(spaRow)),
		chromedp.WaitVisible(chromedp.CSS(fmt.Sprintf(`#detail[data-id="%d"] #act-deactivate`, a.spa.ID))),
		chromedp.Click(chromedp.CSS("#act-deactivate")),
		chromedp.WaitVisible(chromedp.CSS("#confirm-dialog[open] #confirm-yes")),
	)
	if confirmText := text("#confirm-text"); !strings.Contains(confirmText, "Spa Belleza") {
		t.Errorf("the confirmation does not name the tenant: %q", confirmText)
	}
	do("confirming the deactivation",
		chromedp.Click(chromedp.CSS("#confirm-yes")),
		chromedp.WaitVisible(chromedp.CSS(spaRow+`[data-active="false"]`)),
		chromedp.WaitVisible(chromedp.CSS(fmt.Sprintf(`#detail[data-id="%d"][data-active="false"] #act-activate`, a.spa.ID))),
	)
	if after := text(spaRow + " td.estado"); after != "Inactivo" {
		t.Fatalf("Spa Belleza shows %q after deactivation", after)
	}
	if org, err := a.m.Organization(a.ctx, a.spa.ID); err != nil || org.IsActive {
		t.Fatalf("in the catalog: %+v %v", org, err)
	}
	if org, _ := a.m.Organization(a.ctx, a.juan.ID); !org.IsActive {
		t.Fatal("another tenant was deactivated")
	}
	// A disabled action says why, as a tooltip and as visible text (touch screens show no tooltip).
	// Spa Belleza has no subscription: its trial cannot be extended.
	extend, err := chromedp.Run(ctx, chromedp.Evaluate[map[string]any](`(() => {
		const b = document.getElementById('act-extend'), why = document.getElementById('act-extend-why');
		return {disabled: b.disabled, title: b.title, text: why.textContent, visible: why.offsetParent !== null};
	})()`))
	if err != nil {
		fatal("reading Spa Belleza's extend button", err)
	}
	if extend["disabled"] != true || !strings.Contains(extend["title"].(string), "no tiene suscripción") ||
		!strings.Contains(extend["text"].(string), "no tiene suscripción") || extend["visible"] != true {
		t.Errorf("Spa Belleza's Extender does not say why it is disabled: %v", extend)
	}
	// Barbería Juan's detail shows what its schema holds, and its backup button takes one.
	juanRow := fmt.Sprintf(`#tenant-rows tr[data-id="%d"]`, a.juan.ID)
	do("opening Barbería Juan's detail",
		chromedp.Click(chromedp.CSS(juanRow)),
		chromedp.WaitVisible(chromedp.CSS(fmt.Sprintf(`#detail[data-id="%d"] #act-backup`, a.juan.ID))),
	)
	if counts := text("#d-counts"); !strings.Contains(counts, "Citas en los próximos 30 días") || !strings.Contains(counts, "1") {
		t.Errorf("Barbería Juan's counts: %q", counts)
	}
	// Barbería Juan is in trial: Extender works, with nothing to explain.
	juanExtend, err := chromedp.Run(ctx, chromedp.Evaluate[map[string]any](`(() => {
		const b = document.getElementById('act-extend'), why = document.getElementById('act-extend-why');
		return {disabled: b.disabled, title: b.title, hidden: why.hidden};
	})()`))
	if err != nil {
		fatal("reading Barbería Juan's extend button", err)
	}
	if juanExtend["disabled"] != false || juanExtend["title"] != "" || juanExtend["hidden"] != true {
		t.Errorf("Barbería Juan's Extender: %v", juanExtend)
	}
	do("taking a backup from the page",
		chromedp.Click(chromedp.CSS("#act-backup")),
		chromedp.Poll[chromedp.Void](`document.getElementById('flash').textContent.startsWith('Backup listo')`),
	)
	if b, err := a.backups.List(a.juan.ID); err != nil || len(b) != 1 {
		t.Fatalf("backups of Barbería Juan after the button: %d %v", len(b), err)
	}
	if path := os.Getenv("DASHBOARD_SCREENSHOT"); path != "" {
		png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
		if err != nil {
			fatal("taking a screenshot", err)
		}
		if err := os.WriteFile(path, png, 0o644); err != nil {
			t.Fatal(err)
		}
	}

	// An access token that no longer works is refreshed once; when the refresh token fails too,
	// the page asks to log in again.
	do("reloading with a broken access token",
		chromedp.Evaluate[chromedp.Void](`sessionStorage.setItem('appcitas.admin.access', 'not-a-token')`),
		chromedp.Navigate(srv.URL+"/admin/"),
		chromedp.WaitVisible(chromedp.CSS(spaRow)),
	)
	do("reloading with broken tokens",
		chromedp.Evaluate[chromedp.Void](`sessionStorage.setItem('appcitas.admin.access', 'x'); sessionStorage.setItem('appcitas.admin.refresh', 'y')`),
		chromedp.Navigate(srv.URL+"/admin"),
		chromedp.WaitVisible(chromedp.CSS("#login-error")),
	)
	if msg := text("#login-error"); !strings.Contains(msg, "inicie sesión de nuevo") {
		t.Errorf("login message after a failed refresh: %q", msg)
	}
	login("root", "password-root")
	do("back in after logging in again", chromedp.WaitVisible(chromedp.CSS(spaRow)))

	// On a phone (390 px wide) nothing is cut off: the page fits the screen and every cell of a
	// tenant's row is on screen, under its column's name, without sideways scrolling.
	do("narrowing the window to a phone's width", chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile), chromedp.WaitVisible(chromedp.CSS(spaRow)))
	phone, err := chromedp.Run(ctx, chromedp.Evaluate[map[string]any](`(() => {
		const cells = Array.from(document.querySelectorAll('`+spaRow+` td'));
		return {
			viewport: window.innerWidth,
			page: document.documentElement.scrollWidth,
			offscreen: cells.filter((td) => { const r = td.getBoundingClientRect(); return r.left < 0 || r.right > window.innerWidth + 0.5; })
				.map((td) => td.dataset.label || td.textContent),
			labels: cells.map((td) => getComputedStyle(td, '::before').content).join(' '),
		};
	})()`))
	if err != nil {
		fatal("measuring the page at 390 px", err)
	}
	if phone["page"].(float64) > phone["viewport"].(float64) {
		t.Errorf("at 390 px the page is %v px wide: cut off by the screen", phone["page"])
	}
	if off := phone["offscreen"].([]any); len(off) > 0 {
		t.Errorf("at 390 px these cells of Spa Belleza's row are off screen: %v", off)
	}
	if labels := phone["labels"].(string); !strings.Contains(labels, "Último backup") {
		t.Errorf("at 390 px the cells are not labelled with their columns: %s", labels)
	}
	if path := os.Getenv("DASHBOARD_PHONE_SCREENSHOT"); path != "" {
		png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
		if err != nil {
			fatal("taking a screenshot", err)
		}
		if err := os.WriteFile(path, png, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	do("widening the window again", chromedp.EmulateViewport(1400, 900))

	// A user who is not a superuser is told so.
	do("logging out", chromedp.Click(chromedp.CSS("#logout")))
	login("ana", "password-ana")
	do("waiting for the refusal", chromedp.WaitVisible(chromedp.CSS("#forbidden-view")))
	if refusal := text("#forbidden-message"); !strings.Contains(refusal, "no es superusuario") || !strings.Contains(refusal, "ana") {
		t.Errorf("refusal = %q", refusal)
	} else if strings.Contains(refusal, "dashboard") || strings.Contains(refusal, "superusers") {
		t.Errorf("the refusal mixes English into Spanish: %q", refusal)
	}

	browser.checkProblems()
}
