package api

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/appcitas/appcitas/internal/webhooks"
)

// TestAppWebhooksInBrowser manages webhooks as an admin: subscribe a URL and see the secret
// once, see a delivery with its answer code, send it again by hand, switch the subscription off,
// the phone width; a staff member has no webhooks button.
func TestAppWebhooksInBrowser(t *testing.T) {
	t.Parallel()
	bk := setupBookingOn(setup(t, nil))
	dev := webhooks.New(bk.m, webhooks.Options{Development: true})
	bk.s.cfg.Webhooks = dev
	srv := httptest.NewServer(bk.h)
	t.Cleanup(srv.Close)
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(rcv.Close)
	ten, _ := bk.org.Tenant()

	b := startAppBrowser(t)
	b.do("opening /app", chromedp.Navigate(srv.URL+"/app"))
	b.login("admin", "password-admin")
	b.do("waiting for the agenda", chromedp.WaitVisible(chromedp.CSS("#agenda-view")), chromedp.WaitVisible(chromedp.CSS("#webhooks-open")))

	parent := t
	run := func(name string, f func(t *testing.T)) {
		t.Run(name, func(t *testing.T) {
			b.t = t
			defer func() { b.t = parent }()
			f(t)
		})
	}
	run("SubscribesAndShowsTheSecretOnce", func(t *testing.T) {
		b.do("opening webhooks", chromedp.Click(chromedp.CSS("#webhooks-open")), chromedp.WaitVisible(chromedp.CSS("#webhooks-view")),
			chromedp.WaitVisible(chromedp.CSS("#wh-events input")),
			chromedp.Poll[chromedp.Void](`document.activeElement.id === 'webhooks-title'`))
		b.set("wh-url", rcv.URL+"/hook")
		b.do("subscribing", chromedp.Click(chromedp.CSS("#wh-create")), chromedp.WaitVisible(chromedp.CSS("#wh-secret")),
			chromedp.WaitVisible(chromedp.CSS("#wh-list li.wh-sub")))
		if s := b.text("#wh-secret-value"); !strings.HasPrefix(s, "whsec_") {
			t.Errorf("secret shown = %q", s)
		}
		if got := b.text("#wh-list li.wh-sub"); !strings.Contains(got, rcv.URL+"/hook") || !strings.Contains(got, "Activo") || !strings.Contains(got, "appointment.created") {
			t.Errorf("the list shows %q", got)
		}
	})

	run("ShowsADeliveryAndSendsItAgain", func(t *testing.T) {
		bk.ok("POST", "/api/citas", map[string]any{"sede_id": bk.branchID, "servicio_id": bk.serviceID, "profesional_id": bk.staffProfile,
			"inicio": "2030-06-03T15:00:00Z", "cliente_nombre": "María Pérez", "forzar": true}, bk.adminH, http.StatusCreated, nil)
		if res, err := dev.DeliverTenant(t.Context(), ten); err != nil || res.Delivered != 1 {
			t.Fatalf("DeliverTenant = %+v, %v", res, err)
		}
		b.do("opening the deliveries", chromedp.Click(chromedp.CSS(`#wh-list li.wh-sub button[data-act=deliveries]`)),
			chromedp.WaitVisible(chromedp.CSS("#wh-delivery-table")))
		if got := b.text("#wh-delivery-table tbody"); !strings.Contains(got, "Entregada") || !strings.Contains(got, "204") {
			t.Errorf("the delivery shows %q", got)
		}
		b.do("sending it again", chromedp.Click(chromedp.CSS(`#wh-delivery-table button[data-act=replay]`)),
			chromedp.Poll[chromedp.Void](`document.querySelectorAll('#wh-delivery-table tbody tr').length === 2`))
		if got := b.text("#wh-delivery-table tbody"); !strings.Contains(got, "Pendiente") {
			t.Errorf("after the replay the table shows %q", got)
		}
	})

	run("SwitchesTheSubscriptionOff", func(t *testing.T) {
		b.do("disabling", chromedp.Click(chromedp.CSS(`#wh-list li.wh-sub button[data-act=toggle]`)),
			chromedp.Poll[chromedp.Void](`document.querySelector('#wh-list li.wh-sub .wh-off') !== null`))
		if n := b.eval("counting replay buttons", `document.querySelectorAll('#wh-delivery-table button[data-act=replay]').length`); n != float64(0) {
			t.Errorf("a disabled subscription offers %v replays", n)
		}
	})

	run("FitsAPhoneWidth", func(t *testing.T) {
		b.do("narrowing to 390 px", chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile), chromedp.WaitVisible(chromedp.CSS("#wh-list")))
		w := b.eval("measuring", `[window.innerWidth, document.documentElement.scrollWidth, document.body.scrollWidth]`).([]any)
		if w[1].(float64) > w[0].(float64) || w[2].(float64) > w[0].(float64) {
			t.Errorf("at 390 px the page is %v/%v px wide for a %v px screen", w[1], w[2], w[0])
		}
		b.do("widening again", chromedp.EmulateViewport(1400, 900))
	})

	run("StaffHasNoWebhooksButton", func(t *testing.T) {
		b.do("signing out", chromedp.Click(chromedp.CSS("#webhooks-close")), chromedp.Click(chromedp.CSS("#logout")))
		b.login("juan", "password-juan")
		b.do("waiting for the agenda", chromedp.WaitVisible(chromedp.CSS("#agenda-view")))
		if !b.eval("checking the button", `document.getElementById('webhooks-open').hidden`).(bool) {
			t.Error("a staff member sees the webhooks button")
		}
	})
	b.checkProblems()
}
