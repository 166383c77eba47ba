package api

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// TestAppFeedsInBrowser: a staff member creates their calendar link in the web app, the link
// serves their calendar, and revoking it in the app makes it answer 404. The copy button is not
// clicked: headless Chromium's clipboard made the other browser tests of the run time out.
//
// It does not run in parallel: a fourth headless Chromium beside the other browser tests starves
// this loaded machine, and the report's browser test then times out.
func TestAppFeedsInBrowser(t *testing.T) {
	bk := setupBookingOn(setup(t, nil))
	srv := httptest.NewServer(bk.h)
	t.Cleanup(srv.Close)

	b := startAppBrowser(t)
	b.do("opening /app", chromedp.Navigate(srv.URL+"/app"))
	b.login("juan", "password-juan")
	b.do("waiting for the agenda", chromedp.WaitVisible(chromedp.CSS("#agenda-view")))

	get := func(url string) (int, string, string) {
		t.Helper()
		r, err := http.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		defer r.Body.Close()
		body, _ := io.ReadAll(r.Body)
		return r.StatusCode, r.Header.Get("Content-Type"), string(body)
	}
	var url string
	parent := t
	run := func(name string, f func(t *testing.T)) {
		t.Run(name, func(t *testing.T) {
			b.t = t
			defer func() { b.t = parent }()
			f(t)
		})
	}
	run("CreatesAndShowsTheLinkOnce", func(t *testing.T) {
		b.do("opening my calendar", chromedp.Click(chromedp.CSS("#feeds-open")), chromedp.WaitVisible(chromedp.CSS("#feeds-view")),
			chromedp.WaitVisible(chromedp.CSS("#feeds-list p")))
		if got := b.text("#feeds-list"); !strings.Contains(got, "Aún no tienes enlaces") {
			t.Errorf("empty list shows %q", got)
		}
		b.set("feed-label", "iPhone")
		b.do("creating the link", chromedp.Click(chromedp.CSS("#feed-create")), chromedp.WaitVisible(chromedp.CSS("#feed-new")),
			chromedp.WaitVisible(chromedp.CSS("#feeds-list li")))
		url = b.eval("reading the link", `document.getElementById('feed-url').value`).(string)
		if !strings.HasPrefix(url, srv.URL+"/cal/") || !strings.HasSuffix(url, ".ics") {
			t.Fatalf("link %q", url)
		}
		if href := b.eval("reading the webcal link", `document.getElementById('feed-webcal').href`).(string); !strings.HasPrefix(href, "webcal://") {
			t.Errorf("webcal link %q", href)
		}
		if got := b.text("#feeds-list"); !strings.Contains(got, "iPhone") || strings.Contains(got, strings.TrimSuffix(url[strings.LastIndex(url, "/")+1:], ".ics")) {
			t.Errorf("the list shows %q (the label, never the token)", got)
		}
	})

	run("TheLinkServesTheCalendar", func(t *testing.T) {
		status, ct, body := get(url)
		if status != http.StatusOK || ct != "text/calendar; charset=utf-8" || !strings.Contains(body, "BEGIN:VCALENDAR") {
			t.Fatalf("GET link: %d %s %.200s", status, ct, body)
		}
	})

	run("SwitchesToEnglish", func(t *testing.T) {
		b.do("switching language", chromedp.Click(chromedp.CSS("#lang")),
			chromedp.Poll[chromedp.Void](`document.querySelector('.feed-revoke')?.textContent === 'Revoke'`))
		if got := b.text("#feeds-title"); got != "My calendar on the phone" {
			t.Errorf("title = %q", got)
		}
		b.do("switching back", chromedp.Click(chromedp.CSS("#lang")),
			chromedp.Poll[chromedp.Void](`document.querySelector('.feed-revoke')?.textContent === 'Revocar'`))
	})

	run("FitsAPhoneWidth", func(t *testing.T) {
		b.do("narrowing to 390 px", chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile), chromedp.WaitVisible(chromedp.CSS("#feed-url")))
		w := b.eval("measuring", `[window.innerWidth, document.documentElement.scrollWidth, document.body.scrollWidth]`).([]any)
		if w[1].(float64) > w[0].(float64) || w[2].(float64) > w[0].(float64) {
			t.Errorf("at 390 px the page is %v/%v px wide for a %v px screen", w[1], w[2], w[0])
		}
		b.do("widening again", chromedp.EmulateViewport(1400, 900))
	})

	run("RevokingStopsTheLink", func(t *testing.T) {
		b.do("revoking", chromedp.Click(chromedp.CSS(".feed-revoke")),
			chromedp.Poll[chromedp.Void](`document.getElementById('flash').textContent.startsWith('Enlace revocado')`),
			chromedp.WaitVisible(chromedp.CSS("#feeds-list p")))
		if !b.eval("checking the shown link", `document.getElementById('feed-new').hidden`).(bool) {
			t.Error("the revoked link is still shown")
		}
		if status, _, _ := get(url); status != http.StatusNotFound {
			t.Fatalf("revoked link answers %d", status)
		}
	})
	b.checkProblems()
}
