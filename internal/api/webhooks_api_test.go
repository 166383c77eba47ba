package api

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/appcitas/appcitas/internal/booking"
	"github.com/appcitas/appcitas/internal/webhooks"
)

func TestWebhooksAPI(t *testing.T) {
	t.Parallel()
	b := setupBooking(t)
	dev := webhooks.New(b.m, webhooks.Options{Development: true})
	b.s.cfg.Webhooks = dev
	var hits atomic.Int32
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		hits.Add(1)
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(rcv.Close)
	ten, _ := b.org.Tenant()

	var created webhooks.SubscriptionSecret
	t.Run("CreatesAndShowsTheSecretOnlyOnce", func(t *testing.T) {
		b.ok("POST", "/api/webhooks", map[string]any{"url": rcv.URL + "/hook", "eventos": []string{"appointment.created", "appointment.cancelled"},
			"descripcion": "CRM"}, b.adminH, http.StatusCreated, &created)
		if !strings.HasPrefix(created.Secret, "whsec_") || !created.Active || len(created.Events) != 2 {
			t.Fatalf("created %+v", created)
		}
		rec := b.ok("GET", fmt.Sprintf("/api/webhooks/%d", created.ID), nil, b.adminH, http.StatusOK, nil)
		if strings.Contains(rec.Body.String(), "secreto") || strings.Contains(rec.Body.String(), created.Secret) {
			t.Fatalf("GET shows the secret: %s", rec.Body.String())
		}
		var list listOf[webhooks.Subscription]
		b.ok("GET", "/api/webhooks", nil, b.adminH, http.StatusOK, &list)
		if len(list.Items) != 1 || strings.Contains(fmt.Sprint(list), created.Secret) {
			t.Fatalf("list %+v", list)
		}
		var types listOf[string]
		b.ok("GET", "/api/webhooks/eventos", nil, b.adminH, http.StatusOK, &types)
		if len(types.Items) != 7 {
			t.Fatalf("event types %v", types.Items)
		}
	})

	t.Run("RefusesNonAdmins", func(t *testing.T) {
		wantError(t, b.do("GET", "/api/webhooks", nil, b.staffH...), http.StatusForbidden, "forbidden")
		wantError(t, b.do("POST", "/api/webhooks", map[string]any{"url": rcv.URL, "eventos": []string{"client.created"}}, b.receptionH...),
			http.StatusForbidden, "forbidden")
	})

	t.Run("RefusesBadInput", func(t *testing.T) {
		for _, body := range []map[string]any{
			{"url": rcv.URL, "eventos": []string{"appointment.deleted"}},
			{"url": rcv.URL},
			{"eventos": []string{"client.created"}},
			{"url": "notaurl", "eventos": []string{"client.created"}},
		} {
			wantError(t, b.do("POST", "/api/webhooks", body, b.adminH...), http.StatusBadRequest, "invalid_input")
		}
		wantError(t, b.do("GET", "/api/webhooks/abc", nil, b.adminH...), http.StatusBadRequest, "invalid_input")
		wantError(t, b.do("GET", "/api/webhooks/999", nil, b.adminH...), http.StatusNotFound, "not_found")
		wantError(t, b.do("GET", fmt.Sprintf("/api/webhooks/%d/entregas?estado=rara", created.ID), nil, b.adminH...), http.StatusBadRequest, "invalid_input")
		wantError(t, b.do("GET", fmt.Sprintf("/api/webhooks/%d/entregas?limit=0", created.ID), nil, b.adminH...), http.StatusBadRequest, "invalid_input")
	})

	t.Run("RefusesPrivateTargetsOutsideDevelopment", func(t *testing.T) {
		b.s.cfg.Webhooks = nil // production rules
		defer func() { b.s.cfg.Webhooks = dev }()
		for _, u := range []string{"https://127.0.0.1/hook", "https://169.254.169.254/", "https://[::1]/", "https://10.1.1.1/", "https://localhost/"} {
			wantError(t, b.do("POST", "/api/webhooks", map[string]any{"url": u, "eventos": []string{"client.created"}}, b.adminH...),
				http.StatusBadRequest, "webhook_target_refused")
		}
		wantError(t, b.do("POST", "/api/webhooks", map[string]any{"url": rcv.URL, "eventos": []string{"client.created"}}, b.adminH...),
			http.StatusBadRequest, "invalid_input") // http outside development
		wantError(t, b.do("PATCH", fmt.Sprintf("/api/webhooks/%d", created.ID), map[string]any{"url": "https://192.168.0.1/"}, b.adminH...),
			http.StatusBadRequest, "webhook_target_refused")
	})

	var delivery webhooks.Delivery
	t.Run("BookingThroughTheAPIIsDeliveredAndLogged", func(t *testing.T) {
		var appt booking.Appointment
		b.ok("POST", "/api/citas", b.citaBody("2030-03-04T10:00:00-05:00"), b.adminH, http.StatusCreated, &appt)
		var ds listOf[webhooks.Delivery]
		b.ok("GET", fmt.Sprintf("/api/webhooks/%d/entregas", created.ID), nil, b.adminH, http.StatusOK, &ds)
		if len(ds.Items) != 1 || ds.Items[0].Event != "appointment.created" || ds.Items[0].State != webhooks.StatePending {
			t.Fatalf("deliveries %+v", ds.Items)
		}
		if res, err := dev.DeliverTenant(t.Context(), ten); err != nil || res.Delivered != 1 {
			t.Fatalf("DeliverTenant = %+v, %v", res, err)
		}
		b.ok("GET", fmt.Sprintf("/api/webhooks/%d/entregas?estado=entregada&limit=10", created.ID), nil, b.adminH, http.StatusOK, &ds)
		if len(ds.Items) != 1 || len(ds.Items[0].Log) != 1 || *ds.Items[0].Log[0].StatusCode != 204 {
			t.Fatalf("deliveries after sending %+v", ds.Items)
		}
		delivery = ds.Items[0]
	})

	t.Run("ReplaysByHand", func(t *testing.T) {
		var replay webhooks.Delivery
		b.ok("POST", fmt.Sprintf("/api/webhooks/%d/entregas/%s/reenviar", created.ID, delivery.ID), nil, b.adminH, http.StatusCreated, &replay)
		if !replay.Manual || replay.EventID != delivery.EventID || replay.State != webhooks.StatePending {
			t.Fatalf("replay %+v", replay)
		}
		if _, err := dev.DeliverTenant(t.Context(), ten); err != nil || hits.Load() != 2 {
			t.Fatalf("after the replay the receiver got %d requests (%v)", hits.Load(), err)
		}
		wantError(t, b.do("POST", fmt.Sprintf("/api/webhooks/%d/entregas/nada/reenviar", created.ID), nil, b.adminH...), http.StatusNotFound, "not_found")
	})

	t.Run("RotatesTheSecret", func(t *testing.T) {
		var rotated webhooks.SubscriptionSecret
		b.ok("POST", fmt.Sprintf("/api/webhooks/%d/secreto", created.ID), nil, b.adminH, http.StatusOK, &rotated)
		if rotated.Secret == created.Secret || !strings.HasPrefix(rotated.Secret, "whsec_") {
			t.Fatalf("rotated secret %q", rotated.Secret)
		}
	})

	t.Run("SwitchesOffAndOnAndDeletes", func(t *testing.T) {
		var sub webhooks.Subscription
		b.ok("PATCH", fmt.Sprintf("/api/webhooks/%d", created.ID), map[string]any{"activa": false}, b.adminH, http.StatusOK, &sub)
		if sub.Active {
			t.Fatal("still active")
		}
		wantError(t, b.do("POST", fmt.Sprintf("/api/webhooks/%d/entregas/%s/reenviar", created.ID, delivery.ID), nil, b.adminH...),
			http.StatusConflict, "conflict")
		b.ok("PATCH", fmt.Sprintf("/api/webhooks/%d", created.ID), map[string]any{"activa": true, "eventos": []string{"client.created"}},
			b.adminH, http.StatusOK, &sub)
		if !sub.Active || len(sub.Events) != 1 || sub.URL != rcv.URL+"/hook" {
			t.Fatalf("after PATCH %+v", sub)
		}
		b.ok("DELETE", fmt.Sprintf("/api/webhooks/%d", created.ID), nil, b.adminH, http.StatusNoContent, nil)
		wantError(t, b.do("GET", fmt.Sprintf("/api/webhooks/%d", created.ID), nil, b.adminH...), http.StatusNotFound, "not_found")
	})

	t.Run("AnotherOrganizationSeesNothing", func(t *testing.T) {
		other := b.createOrg("Otra")
		admin := b.createUser("otraadmin", false)
		b.addProfile(other, admin, booking.RoleAdmin, true)
		h := append(bearer(b.token(admin, 0)), "X-Organization-ID", strconv.FormatInt(other.ID, 10))
		var s2 webhooks.SubscriptionSecret
		b.ok("POST", "/api/webhooks", map[string]any{"url": rcv.URL, "eventos": []string{"appointment.created"}}, b.adminH, http.StatusCreated, &s2)
		var ds listOf[webhooks.Delivery]
		b.ok("POST", "/api/citas", b.citaBody("2030-03-05T10:00:00-05:00"), b.adminH, http.StatusCreated, nil)
		b.ok("GET", fmt.Sprintf("/api/webhooks/%d/entregas", s2.ID), nil, b.adminH, http.StatusOK, &ds)
		if len(ds.Items) != 1 {
			t.Fatalf("deliveries %+v", ds.Items)
		}
		// The other organization's admin: its own (empty) list, 404 on the first one's ids, 403 on its organization.
		var list listOf[webhooks.Subscription]
		b.ok("GET", "/api/webhooks", nil, h, http.StatusOK, &list)
		if len(list.Items) != 0 {
			t.Fatalf("the other organization lists %+v", list.Items)
		}
		wantError(t, b.do("GET", fmt.Sprintf("/api/webhooks/%d/entregas", s2.ID), nil, h...), http.StatusNotFound, "not_found")
		wantError(t, b.do("POST", fmt.Sprintf("/api/webhooks/%d/entregas/%s/reenviar", s2.ID, ds.Items[0].ID), nil, h...), http.StatusNotFound, "not_found")
		var own webhooks.SubscriptionSecret
		b.ok("POST", "/api/webhooks", map[string]any{"url": rcv.URL, "eventos": []string{"appointment.created"}}, h, http.StatusCreated, &own)
		wantError(t, b.do("POST", fmt.Sprintf("/api/webhooks/%d/entregas/%s/reenviar", own.ID, ds.Items[0].ID), nil, h...), http.StatusNotFound, "not_found")
		cross := append(bearer(b.token(admin, 0)), "X-Organization-ID", strconv.FormatInt(b.org.ID, 10))
		wantError(t, b.do("GET", "/api/webhooks", nil, cross...), http.StatusForbidden, "unauthorized_organization")
	})
}
