package api

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/appcitas/appcitas/internal/booking"
)

// TestPublicBookingInBrowser books from the public page on a phone-width screen, reads the
// confirmation e-mail from a fake SMTP server, opens its manage link, reschedules and cancels.
func TestPublicBookingInBrowser(t *testing.T) {
	t.Parallel()
	p := setupPublic(t, func(c *PublicBookingConfig) { c.BaseURL = "" }) // links point at the test server
	p.ok("PATCH", fmt.Sprintf("/api/miembros/%d", p.staffProfile), map[string]any{"nombre_visible": "Juan Gómez"}, p.adminH, http.StatusOK, nil)
	srv := httptest.NewServer(p.h)
	t.Cleanup(srv.Close)

	// APPCITAS_APP_SCREENSHOTS=<dir> saves the flow's screens there (for the README).
	shots := os.Getenv("APPCITAS_APP_SCREENSHOTS")
	b := startAppBrowser(t)
	b.do("narrowing to 390 px", chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile))

	b.do("opening an unknown page", chromedp.Navigate(srv.URL+"/r/no-existe"), chromedp.WaitVisible(chromedp.CSS("#missing")))
	if got := b.text("#missing h2"); !strings.Contains(got, "No encontramos") {
		t.Fatalf("unknown page says %q", got)
	}

	b.do("opening the booking page", chromedp.Navigate(srv.URL+"/r/"+p.org.Slug), chromedp.WaitVisible(chromedp.CSS("#services button")))
	if got := b.text("#org-name"); got != "Barbería Juan" {
		t.Errorf("title = %q", got)
	}
	b.do("picking the service", chromedp.Click(chromedp.CSS("#services button")), chromedp.WaitVisible(chromedp.CSS("#staff button")))
	if got := b.text("#staff button"); got != "Cualquiera" {
		t.Errorf("first staff choice = %q, want Cualquiera", got)
	}
	b.do("picking anyone", chromedp.Click(chromedp.CSS("#staff button")), chromedp.WaitVisible(chromedp.CSS("#day")))
	b.set("day", p.day)
	b.do("waiting for the times", chromedp.Poll[chromedp.Void](`document.querySelectorAll('#times button').length > 5`))
	if got := b.text("#zone"); !strings.Contains(got, "America/Bogota") {
		t.Errorf("zone line = %q", got)
	}
	time.Sleep(time.Second) // let a second load of the times, if any, land
	dup := b.eval("looking for repeated times", `(() => { const t = [...document.querySelectorAll('#times button')].map((b) => b.textContent); return t.length !== new Set(t).size; })()`)
	if dup != false {
		t.Error("a time is offered twice")
	}
	b.screenshot(shots, "reservar-1-horarios.png")
	first := b.text("#times button")
	b.do("holding the first time", chromedp.Click(chromedp.CSS("#times button")), chromedp.WaitVisible(chromedp.CSS("#name")))
	if got := b.text("#held"); !strings.Contains(got, "10 minutos") || !strings.Contains(got, "Juan Gómez") {
		t.Errorf("hold line = %q", got)
	}
	b.do("filling in the form",
		chromedp.SendKeys(chromedp.CSS("#name"), "Laura Méndez"),
		chromedp.SendKeys(chromedp.CSS("#phone"), "+57 310 000 1111"),
		chromedp.SendKeys(chromedp.CSS("#email"), "laura@example.co"),
		chromedp.Click(chromedp.CSS("#consent")))
	b.screenshot(shots, "reservar-2-datos.png")
	b.do("confirming", chromedp.Click(chromedp.CSS("#confirm")),
		chromedp.WaitVisible(chromedp.CSS("#done")))
	b.screenshot(shots, "reservar-3-listo.png")
	if got := b.text("#done-text"); !strings.Contains(got, "laura@example.co") {
		t.Errorf("done = %q", got)
	}
	w := b.eval("measuring the page", `[window.innerWidth, document.documentElement.scrollWidth]`).([]any)
	if w[1].(float64) > w[0].(float64) {
		t.Errorf("at 390 px the page is %v px wide for a %v px screen", w[1], w[0])
	}

	msgs := p.smtp.Wait(t, 1, 20*time.Second)
	text, ics, _ := parseConfirmation(t, msgs[0])
	link := manageLink.FindString(text)
	if !strings.HasPrefix(link, srv.URL+"/r/"+p.org.Slug+"/cita/") || !strings.Contains(ics, "BEGIN:VEVENT") {
		t.Fatalf("link %q in %q", link, text)
	}

	b.do("opening the manage link", chromedp.Navigate(link), chromedp.WaitVisible(chromedp.CSS("#appt dd")))
	if got := b.text("#appt"); !strings.Contains(got, "Corte") || !strings.Contains(got, "Juan Gómez") || !strings.Contains(got, "America/Bogota") {
		t.Errorf("appointment = %q", got)
	}
	if got := b.text("#org-name"); got != "Barbería Juan" {
		t.Errorf("manage page title = %q", got)
	}
	b.screenshot(shots, "reservar-4-gestionar.png")
	b.set("rday", p.day)
	b.do("waiting for the reschedule times", chromedp.Poll[chromedp.Void](`document.querySelectorAll('#rtimes button').length > 5`))
	b.do("picking the last time", chromedp.Evaluate[chromedp.Void](`[...document.querySelectorAll('#rtimes button')].pop().click()`),
		chromedp.Poll[chromedp.Void](`document.getElementById('status').textContent.includes('reprogramada')`))

	var page booking.AppointmentPage
	p.ok("GET", fmt.Sprintf("/api/citas?desde=%s&hasta=%s&sede_id=%d", p.day, p.day, p.branchID), nil, p.adminH, http.StatusOK, &page)
	if len(page.Items) != 1 || page.Items[0].ClientName != "Laura Méndez" {
		t.Fatalf("appointments = %+v", page.Items)
	}
	id := page.Items[0].ID
	if first == "" || page.Items[0].Start.Hour() < 15 {
		t.Errorf("the appointment starts at %s after rescheduling to the day's last time", page.Items[0].Start)
	}

	b.do("cancelling", chromedp.Click(chromedp.CSS("#cancel")), chromedp.WaitVisible(chromedp.CSS("#cancel-yes")),
		chromedp.Click(chromedp.CSS("#cancel-yes")),
		chromedp.Poll[chromedp.Void](`document.getElementById('status').textContent.includes('Cancelamos')`))
	var hist listOf[booking.HistoryEntry]
	p.ok("GET", fmt.Sprintf("/api/citas/%d/historial", id), nil, p.adminH, http.StatusOK, &hist)
	var got []string
	for _, e := range hist.Items {
		got = append(got, e.Action+"/"+e.Actor)
	}
	if strings.Join(got, ",") != "creada/cliente,reprogramada/cliente,cancelada/cliente" {
		t.Errorf("history = %v", got)
	}
	if b.eval("checking the cancel button", `document.getElementById('cancel-box').hidden`) != true {
		t.Error("a cancelled appointment still offers cancelling")
	}

	b.do("switching to English", chromedp.Click(chromedp.CSS("#lang")),
		chromedp.Poll[chromedp.Void](`document.querySelector('#manage h2').textContent === 'Your appointment'`))
	b.checkProblems()
}
