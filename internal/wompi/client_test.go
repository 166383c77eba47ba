package wompi_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/appcitas/appcitas/internal/wompi"
	"github.com/appcitas/appcitas/internal/wompi/wompisim"
)

type receiver struct {
	mu     sync.Mutex
	events []wompi.Event
	secret string
}

func (r *receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	ev, err := wompi.VerifyEvent(body, req.Header.Get("X-Event-Checksum"), r.secret)
	if err != nil {
		http.Error(w, err.Error(), http.StatusUnauthorized)
		return
	}
	r.mu.Lock()
	r.events = append(r.events, ev)
	r.mu.Unlock()
}

func setup(t *testing.T) (*wompi.Client, *wompisim.Server, *receiver) {
	t.Helper()
	fake := wompisim.New(wompisim.Options{})
	t.Cleanup(fake.Close)
	rec := &receiver{secret: fake.Keys().Events}
	hook := httptest.NewServer(rec)
	t.Cleanup(hook.Close)
	fake.SetEventsURL(hook.URL)
	c, err := wompi.New(wompi.Config{Environment: wompi.Sandbox, Keys: fake.Keys(), BaseURL: fake.URL})
	if err != nil {
		t.Fatal(err)
	}
	return c, fake, rec
}

func source(t *testing.T, c *wompi.Client, fake *wompisim.Server, card string) wompi.PaymentSource {
	t.Helper()
	ctx := context.Background()
	acc, err := c.AcceptanceTokens(ctx)
	if err != nil {
		t.Fatal(err)
	}
	ps, err := c.CreatePaymentSource(ctx, wompi.NewPaymentSource{Token: fake.TokenizeCard(card), CustomerEmail: "a@b.co",
		AcceptanceToken: acc.AcceptanceToken, AcceptPersonalAuth: acc.PersonalAuthToken})
	if err != nil {
		t.Fatal(err)
	}
	return ps
}

func TestClientAgainstFake(t *testing.T) {
	t.Parallel()
	ctx := context.Background()

	t.Run("FetchesAcceptanceTokens", func(t *testing.T) {
		t.Parallel()
		c, _, _ := setup(t)
		acc, err := c.AcceptanceTokens(ctx)
		if err != nil || acc.AcceptanceToken == "" || acc.PersonalAuthToken == "" || acc.AcceptancePermalink == "" {
			t.Fatalf("AcceptanceTokens = %+v, %v", acc, err)
		}
	})

	t.Run("RefusesAPaymentSourceWithoutAcceptance", func(t *testing.T) {
		t.Parallel()
		c, fake, _ := setup(t)
		_, err := c.CreatePaymentSource(ctx, wompi.NewPaymentSource{Token: fake.TokenizeCard(wompisim.CardApproved), CustomerEmail: "a@b.co", AcceptanceToken: "nope"})
		var apiErr *wompi.APIError
		if !errors.As(err, &apiErr) || apiErr.Status != http.StatusUnprocessableEntity {
			t.Fatalf("err = %v, want a 422", err)
		}
	})

	outcomes := []struct {
		name, card, want string
	}{
		{"ApprovesCard4242", wompisim.CardApproved, wompi.StatusApproved},
		{"DeclinesCard4111", wompisim.CardDeclined, wompi.StatusDeclined},
		{"ErrsOnAnUnknownCard", "5555555555554444", wompi.StatusError},
	}
	for _, o := range outcomes {
		t.Run(o.name, func(t *testing.T) {
			t.Parallel()
			c, fake, rec := setup(t)
			ps := source(t, c, fake, o.card)
			if ps.Status != "AVAILABLE" || ps.ID == 0 {
				t.Fatalf("payment source = %+v", ps)
			}
			tx, err := c.CreateTransaction(ctx, wompi.NewTransaction{AmountInCents: 4990000, Currency: "COP",
				CustomerEmail: "a@b.co", Reference: "sub-1-" + o.name, PaymentSourceID: ps.ID, Recurrent: true})
			if err != nil {
				t.Fatal(err)
			}
			if tx.Status != wompi.StatusPending {
				t.Fatalf("new transaction status = %s, want PENDING", tx.Status)
			}
			if _, err := fake.Settle(ctx, tx.ID); err != nil {
				t.Fatal(err)
			}
			got, err := c.Transaction(ctx, tx.ID)
			if err != nil || got.Status != o.want {
				t.Fatalf("Transaction = %+v, %v; want %s", got, err, o.want)
			}
			byRef, err := c.TransactionByReference(ctx, tx.Reference)
			if err != nil || byRef.ID != tx.ID {
				t.Fatalf("TransactionByReference = %+v, %v", byRef, err)
			}
			rec.mu.Lock()
			defer rec.mu.Unlock()
			if len(rec.events) != 1 {
				t.Fatalf("received %d signed events, want 1", len(rec.events))
			}
			evTx, err := rec.events[0].Transaction()
			if err != nil || evTx.ID != tx.ID || evTx.Status != o.want {
				t.Fatalf("event transaction = %+v, %v", evTx, err)
			}
		})
	}

	t.Run("RefusesABadSignatureAndADuplicateReference", func(t *testing.T) {
		t.Parallel()
		c, fake, _ := setup(t)
		ps := source(t, c, fake, wompisim.CardApproved)
		n := wompi.NewTransaction{AmountInCents: 100, Currency: "COP", CustomerEmail: "a@b.co", Reference: "dup", PaymentSourceID: ps.ID, Recurrent: true}
		bad := n
		bad.Signature = "00"
		if _, err := c.CreateTransaction(ctx, bad); err == nil {
			t.Fatal("a bad signature was accepted")
		}
		if _, err := c.CreateTransaction(ctx, n); err != nil {
			t.Fatal(err)
		}
		if _, err := c.CreateTransaction(ctx, n); err == nil {
			t.Fatal("a duplicate reference was charged twice")
		}
	})

	t.Run("VoidsAPaymentSource", func(t *testing.T) {
		t.Parallel()
		c, fake, _ := setup(t)
		ps := source(t, c, fake, wompisim.CardApproved)
		if err := c.VoidPaymentSource(ctx, ps.ID); err != nil {
			t.Fatal(err)
		}
		if got, _ := fake.Source(ps.ID); got.Status != "VOIDED" {
			t.Fatalf("source status = %s, want VOIDED", got.Status)
		}
		if _, err := c.CreateTransaction(ctx, wompi.NewTransaction{AmountInCents: 100, Currency: "COP", CustomerEmail: "a@b.co", Reference: "after-void", PaymentSourceID: ps.ID}); err == nil {
			t.Fatal("a voided source was charged")
		}
	})

	t.Run("PublicKeyPaysACardTokenButCannotChargeASource", func(t *testing.T) {
		t.Parallel()
		c, fake, _ := setup(t)
		ps := source(t, c, fake, wompisim.CardApproved)
		// A browser only has the public key: send it where the client would send the private one.
		pub := &http.Client{Transport: swapKey{from: fake.Keys().Private, to: fake.Keys().Public}}
		pc, err := wompi.New(wompi.Config{Keys: fake.Keys(), BaseURL: fake.URL, HTTPClient: pub})
		if err != nil {
			t.Fatal(err)
		}
		acc, _ := pc.AcceptanceTokens(ctx)
		if _, err := pc.CreateTransaction(ctx, wompi.NewTransaction{AmountInCents: 100, Currency: "COP", CustomerEmail: "a@b.co", Reference: "widget-1",
			AcceptanceToken: acc.AcceptanceToken, PaymentMethod: map[string]any{"type": "CARD", "token": fake.TokenizeCard(wompisim.CardApproved), "installments": 1}}); err != nil {
			t.Fatalf("paying a card token with the public key: %v", err)
		}
		_, err = pc.CreateTransaction(ctx, wompi.NewTransaction{AmountInCents: 100, Currency: "COP", CustomerEmail: "a@b.co", Reference: "widget-2", PaymentSourceID: ps.ID})
		var apiErr *wompi.APIError
		if !errors.As(err, &apiErr) || apiErr.Status != http.StatusUnauthorized {
			t.Fatalf("charging a source with the public key = %v, want 401", err)
		}
	})

	t.Run("ReportsNotFound", func(t *testing.T) {
		t.Parallel()
		c, _, _ := setup(t)
		if _, err := c.Transaction(ctx, "nope"); !errors.Is(err, wompi.ErrNotFound) {
			t.Fatalf("err = %v, want ErrNotFound", err)
		}
	})

	t.Run("AutoSettlesAndDelivers", func(t *testing.T) {
		t.Parallel()
		fake := wompisim.New(wompisim.Options{AutoSettle: 10 * time.Millisecond})
		t.Cleanup(fake.Close)
		rec := &receiver{secret: fake.Keys().Events}
		hook := httptest.NewServer(rec)
		t.Cleanup(hook.Close)
		fake.SetEventsURL(hook.URL)
		c, _ := wompi.New(wompi.Config{Keys: fake.Keys(), BaseURL: fake.URL})
		ps := source(t, c, fake, wompisim.CardApproved)
		tx, err := c.CreateTransaction(ctx, wompi.NewTransaction{AmountInCents: 100, Currency: "COP", CustomerEmail: "a@b.co", Reference: "auto", PaymentSourceID: ps.ID})
		if err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(5 * time.Second)
		for fake.Deliveries() == 0 && time.Now().Before(deadline) {
			time.Sleep(5 * time.Millisecond)
		}
		if got, _ := c.Transaction(ctx, tx.ID); got.Status != wompi.StatusApproved || fake.Deliveries() != 1 {
			t.Fatalf("status %s, deliveries %d", got.Status, fake.Deliveries())
		}
	})
}

// swapKey replaces one bearer key with another on every request.
type swapKey struct{ from, to string }

func (s swapKey) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	if r.Header.Get("Authorization") == "Bearer "+s.from {
		r.Header.Set("Authorization", "Bearer "+s.to)
	}
	return http.DefaultTransport.RoundTrip(r)
}
