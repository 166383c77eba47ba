package api

import (
	"context"
	"errors"
	"net/http"
	"strconv"

	"github.com/jackc/pgx/v5"

	"github.com/appcitas/appcitas/internal/booking"
	"github.com/appcitas/appcitas/internal/webhooks"
)

// webhooksRoutes returns the webhook subscriptions' routes (issue 23, item 5). All are tenant
// routes for admins: a subscription's URL and secret are the organization's configuration.
func (s *Server) webhooksRoutes() []route {
	const tag = "webhooks"
	id := []int{404}
	deliveryQuery := []param{
		qEnum("estado", "delivery state", webhooks.StatePending, webhooks.StateSending, webhooks.StateDelivered, webhooks.StateFailed),
		qInt("limit", "how many, newest first (default 50)", 1, 200),
	}
	return []route{
		{method: "GET", path: "/api/webhooks/eventos", access: tenant, handler: s.webhookEventTypes, tag: tag,
			summary: "The event types a webhook may subscribe to (admin)", response: listOf[string]{}},
		{method: "GET", path: "/api/webhooks", access: tenant, handler: s.listWebhooks, tag: tag,
			summary: "List webhook subscriptions (admin)", response: listOf[webhooks.Subscription]{}},
		{method: "POST", path: "/api/webhooks", access: tenant, handler: s.createWebhook, tag: tag,
			summary: "Subscribe a URL to events (admin); the answer shows the signing secret, only this once",
			request: webhooks.SubscriptionInput{}, response: webhooks.SubscriptionSecret{}, status: 201},
		{method: "GET", path: "/api/webhooks/{id}", access: tenant, handler: s.getWebhook, tag: tag,
			summary: "Get a webhook subscription (admin)", response: webhooks.Subscription{}, errors: id},
		{method: "PATCH", path: "/api/webhooks/{id}", access: tenant, handler: s.updateWebhook, tag: tag,
			summary: "Change a webhook subscription's URL, events, description or active flag (admin); switching it on clears its failures",
			request: webhooks.SubscriptionInput{}, response: webhooks.Subscription{}, errors: id},
		{method: "DELETE", path: "/api/webhooks/{id}", access: tenant, handler: s.deleteWebhook, tag: tag,
			summary: "Delete a webhook subscription with its delivery log (admin)", errors: id},
		{method: "POST", path: "/api/webhooks/{id}/secreto", access: tenant, handler: s.rotateWebhookSecret, tag: tag,
			summary:  "Give a webhook subscription a new signing secret, shown only this once; the previous one also signs for 24 hours (admin)",
			response: webhooks.SubscriptionSecret{}, errors: id},
		{method: "GET", path: "/api/webhooks/{id}/entregas", access: tenant, handler: s.listWebhookDeliveries, tag: tag,
			summary: "A webhook subscription's deliveries, newest first, each with its attempts (admin)",
			query:   deliveryQuery, response: listOf[webhooks.Delivery]{}, errors: id},
		{method: "POST", path: "/api/webhooks/{id}/entregas/{entrega}/reenviar", access: tenant, handler: s.replayWebhookDelivery, tag: tag,
			summary:  "Send a delivery's event again, by hand, as a new delivery (admin)",
			response: webhooks.Delivery{}, status: 201, errors: []int{404, 409}},
	}
}

// webhookService returns the configured service, or one with the production rules for checking
// URLs (a server that delivers nothing still refuses private targets).
func (s *Server) webhookService() *webhooks.Service {
	if s.cfg.Webhooks != nil {
		return s.cfg.Webhooks
	}
	return webhooks.New(s.tenancy, webhooks.Options{Logger: s.log})
}

// webhookErr maps the webhooks package's errors to API errors.
func webhookErr(err error) error {
	var we *webhooks.Error
	if !errors.As(err, &we) {
		return err
	}
	switch {
	case errors.Is(err, webhooks.ErrTargetRefused):
		return &Error{Status: http.StatusBadRequest, Code: "webhook_target_refused", Message: we.Error(), Field: we.Field, Err: err}
	case errors.Is(err, webhooks.ErrInvalid):
		return &Error{Status: http.StatusBadRequest, Code: "invalid_input", Message: we.Error(), Field: we.Field, Err: err}
	case errors.Is(err, webhooks.ErrNotFound):
		return &Error{Status: http.StatusNotFound, Code: "not_found", Message: we.Error(), Err: err}
	case errors.Is(err, webhooks.ErrConflict):
		return &Error{Status: http.StatusConflict, Code: "conflict", Message: we.Error(), Err: err}
	}
	return err
}

// asWebhookAdmin runs fn in the tenant for an admin caller, mapping webhook errors.
func (s *Server) asWebhookAdmin(w http.ResponseWriter, r *http.Request, fn func(ctx context.Context, tx pgx.Tx) error) {
	s.inTenant(w, r, func(ctx context.Context, tx pgx.Tx, m Member) error {
		if err := requireRole(m, booking.RoleAdmin); err != nil {
			return err
		}
		return webhookErr(fn(ctx, tx))
	})
}

func (s *Server) webhookEventTypes(w http.ResponseWriter, r *http.Request) {
	s.asWebhookAdmin(w, r, func(context.Context, pgx.Tx) error {
		writeJSON(w, http.StatusOK, listOf[string]{Items: webhooks.EventTypes()})
		return nil
	})
}

func (s *Server) listWebhooks(w http.ResponseWriter, r *http.Request) {
	s.asWebhookAdmin(w, r, func(ctx context.Context, tx pgx.Tx) error {
		subs, err := webhooks.ListSubscriptions(ctx, tx)
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, listOf[webhooks.Subscription]{Items: subs})
		return nil
	})
}

// prepareWebhook decodes and checks a subscription's body; the URL's host is resolved here,
// before any transaction opens.
func (s *Server) prepareWebhook(w http.ResponseWriter, r *http.Request, create bool) (webhooks.Prepared, bool) {
	var in webhooks.SubscriptionInput
	if err := s.decodeJSON(w, r, &in); err != nil {
		s.fail(w, r, err)
		return webhooks.Prepared{}, false
	}
	p, err := s.webhookService().Prepare(r.Context(), in, create)
	if err != nil {
		s.fail(w, r, webhookErr(err))
		return webhooks.Prepared{}, false
	}
	return p, true
}

func (s *Server) createWebhook(w http.ResponseWriter, r *http.Request) {
	p, ok := s.prepareWebhook(w, r, true)
	if !ok {
		return
	}
	s.asWebhookAdmin(w, r, func(ctx context.Context, tx pgx.Tx) error {
		sub, err := webhooks.CreateSubscription(ctx, tx, p)
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusCreated, sub)
		return nil
	})
}

func (s *Server) getWebhook(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.asWebhookAdmin(w, r, func(ctx context.Context, tx pgx.Tx) error {
		sub, err := webhooks.GetSubscription(ctx, tx, id)
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, sub)
		return nil
	})
}

func (s *Server) updateWebhook(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	p, ok := s.prepareWebhook(w, r, false)
	if !ok {
		return
	}
	s.asWebhookAdmin(w, r, func(ctx context.Context, tx pgx.Tx) error {
		sub, err := webhooks.UpdateSubscription(ctx, tx, id, p)
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, sub)
		return nil
	})
}

func (s *Server) deleteWebhook(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.asWebhookAdmin(w, r, func(ctx context.Context, tx pgx.Tx) error {
		if err := webhooks.DeleteSubscription(ctx, tx, id); err != nil {
			return err
		}
		w.WriteHeader(http.StatusNoContent)
		return nil
	})
}

func (s *Server) rotateWebhookSecret(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.asWebhookAdmin(w, r, func(ctx context.Context, tx pgx.Tx) error {
		sub, err := webhooks.RotateSecret(ctx, tx, id, s.cfg.Now())
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, sub)
		return nil
	})
}

func (s *Server) listWebhookDeliveries(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	q, err := queryOf(r, "estado", "limit")
	if err != nil {
		s.fail(w, r, err)
		return
	}
	f := webhooks.DeliveryFilter{State: q.Get("estado")}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 200 {
			s.fail(w, r, invalidQuery("limit", "must be a number from 1 to 200"))
			return
		}
		f.Limit = n
	}
	s.asWebhookAdmin(w, r, func(ctx context.Context, tx pgx.Tx) error {
		ds, err := webhooks.ListDeliveries(ctx, tx, id, f)
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, listOf[webhooks.Delivery]{Items: ds})
		return nil
	})
}

func (s *Server) replayWebhookDelivery(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	delivery := r.PathValue("entrega")
	s.asWebhookAdmin(w, r, func(ctx context.Context, tx pgx.Tx) error {
		d, err := webhooks.ReplayDelivery(ctx, tx, id, delivery)
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusCreated, d)
		return nil
	})
}
