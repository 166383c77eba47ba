package wompi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// Transaction states.
const (
	StatusPending  = "PENDING"
	StatusApproved = "APPROVED"
	StatusDeclined = "DECLINED"
	StatusVoided   = "VOIDED"
	StatusError    = "ERROR"
)

// AcceptanceTokens are the merchant's presigned contracts the payer accepts before a payment
// source is created: the end-user policy and the personal-data authorization.
type AcceptanceTokens struct {
	AcceptanceToken     string `json:"acceptance_token"`
	AcceptancePermalink string `json:"acceptance_permalink"`
	PersonalAuthToken   string `json:"personal_auth_token"`
	PersonalAuthLink    string `json:"personal_auth_permalink"`
}

// PaymentSource is a stored means of payment (a tokenized card) that can be charged without the
// payer present.
type PaymentSource struct {
	ID            int64          `json:"id"`
	Type          string         `json:"type"`
	Token         string         `json:"token"`
	Status        string         `json:"status"` // AVAILABLE, PENDING, VOIDED...
	CustomerEmail string         `json:"customer_email"`
	PublicData    map[string]any `json:"public_data"`
}

// NewPaymentSource is the body of POST /payment_sources.
type NewPaymentSource struct {
	// Type is CARD (or NEQUI). Defaults to CARD.
	Type string `json:"type"`
	// Token is the card token the browser got from POST /tokens/cards with the public key.
	Token              string `json:"token"`
	CustomerEmail      string `json:"customer_email"`
	AcceptanceToken    string `json:"acceptance_token"`
	AcceptPersonalAuth string `json:"accept_personal_auth,omitempty"`
}

// Transaction is a payment attempt.
type Transaction struct {
	ID                string `json:"id"`
	CreatedAt         string `json:"created_at,omitempty"`
	FinalizedAt       string `json:"finalized_at,omitempty"`
	AmountInCents     int64  `json:"amount_in_cents"`
	Reference         string `json:"reference"`
	Currency          string `json:"currency"`
	CustomerEmail     string `json:"customer_email,omitempty"`
	PaymentMethodType string `json:"payment_method_type,omitempty"`
	PaymentSourceID   int64  `json:"payment_source_id,omitempty"`
	RedirectURL       string `json:"redirect_url,omitempty"`
	Status            string `json:"status"`
	StatusMessage     string `json:"status_message,omitempty"`
}

// NewTransaction is the body of POST /transactions for a charge of a stored payment source.
type NewTransaction struct {
	AmountInCents   int64  `json:"amount_in_cents"`
	Currency        string `json:"currency"`
	Signature       string `json:"signature"`
	CustomerEmail   string `json:"customer_email"`
	Reference       string `json:"reference"`
	PaymentSourceID int64  `json:"payment_source_id,omitempty"`
	// Recurrent marks a charge without the payer present (a subscription renewal).
	Recurrent     bool           `json:"recurrent,omitempty"`
	PaymentMethod map[string]any `json:"payment_method,omitempty"`
	// AcceptanceToken is the payer's acceptance of Wompi's end-user policy, required when the
	// payer is present (a card token paid from the browser). A charge of a payment source leaves it
	// out: the payer accepted when the source was created, and Wompi's documented example of a
	// payment-source (and recurrent) transaction sends none.
	AcceptanceToken string `json:"acceptance_token,omitempty"`
}

// APIError is an error answer of Wompi's API.
type APIError struct {
	Status int
	// Type is Wompi's error type, e.g. INPUT_VALIDATION_ERROR or NOT_FOUND_ERROR.
	Type string
	// Reason or Messages explain it.
	Reason   string
	Messages map[string][]string
}

// Error says the status, Wompi's error type and its reason or messages.
func (e *APIError) Error() string {
	msg := e.Reason
	if msg == "" && len(e.Messages) > 0 {
		b, _ := json.Marshal(e.Messages)
		msg = string(b)
	}
	return fmt.Sprintf("wompi: %d %s: %s", e.Status, e.Type, msg)
}

// ErrNotFound matches an APIError with status 404.
var ErrNotFound = errors.New("wompi: not found")

// Is lets errors.Is(err, ErrNotFound) match a 404.
func (e *APIError) Is(target error) bool {
	return target == ErrNotFound && e.Status == http.StatusNotFound
}

// AcceptanceTokens fetches the merchant's current acceptance tokens (GET /merchants/{public_key}).
func (c *Client) AcceptanceTokens(ctx context.Context) (AcceptanceTokens, error) {
	var m struct {
		PresignedAcceptance struct {
			AcceptanceToken string `json:"acceptance_token"`
			Permalink       string `json:"permalink"`
		} `json:"presigned_acceptance"`
		PresignedPersonalDataAuth struct {
			AcceptanceToken string `json:"acceptance_token"`
			Permalink       string `json:"permalink"`
		} `json:"presigned_personal_data_auth"`
	}
	if err := c.do(ctx, http.MethodGet, "/merchants/"+url.PathEscape(c.keys.Public), "", nil, &m); err != nil {
		return AcceptanceTokens{}, fmt.Errorf("fetching acceptance tokens: %w", err)
	}
	return AcceptanceTokens{
		AcceptanceToken:     m.PresignedAcceptance.AcceptanceToken,
		AcceptancePermalink: m.PresignedAcceptance.Permalink,
		PersonalAuthToken:   m.PresignedPersonalDataAuth.AcceptanceToken,
		PersonalAuthLink:    m.PresignedPersonalDataAuth.Permalink,
	}, nil
}

// CreatePaymentSource stores a tokenized card as a payment source (POST /payment_sources, with the
// private key).
func (c *Client) CreatePaymentSource(ctx context.Context, n NewPaymentSource) (PaymentSource, error) {
	if n.Type == "" {
		n.Type = "CARD"
	}
	var ps PaymentSource
	if err := c.do(ctx, http.MethodPost, "/payment_sources", c.keys.Private, n, &ps); err != nil {
		return PaymentSource{}, fmt.Errorf("creating payment source: %w", err)
	}
	return ps, nil
}

// VoidPaymentSource voids a payment source so that it can no longer be charged
// (PUT /payment_sources/{id}/void, with the private key; the source comes back VOIDED). Wompi's
// "Fuentes de pago" page documents this call for DaviPlata and Bancolombia sources and does not
// say whether it applies to cards, so a caller treats a refusal as a warning.
func (c *Client) VoidPaymentSource(ctx context.Context, id int64) error {
	if err := c.do(ctx, http.MethodPut, "/payment_sources/"+strconv.FormatInt(id, 10)+"/void", c.keys.Private, nil, nil); err != nil {
		return fmt.Errorf("voiding payment source %d: %w", id, err)
	}
	return nil
}

// CreateTransaction creates a transaction (POST /transactions, with the private key). If n has no
// signature, the client signs it with its integrity secret.
func (c *Client) CreateTransaction(ctx context.Context, n NewTransaction) (Transaction, error) {
	if n.Signature == "" {
		n.Signature = c.IntegritySignature(n.Reference, n.AmountInCents, n.Currency, time.Time{})
	}
	if n.PaymentSourceID != 0 && n.PaymentMethod == nil {
		n.PaymentMethod = map[string]any{"installments": 1}
	}
	var t Transaction
	if err := c.do(ctx, http.MethodPost, "/transactions", c.keys.Private, n, &t); err != nil {
		return Transaction{}, fmt.Errorf("creating transaction %s: %w", n.Reference, err)
	}
	return t, nil
}

// Transaction reads a transaction (GET /transactions/{id}).
func (c *Client) Transaction(ctx context.Context, id string) (Transaction, error) {
	var t Transaction
	if err := c.do(ctx, http.MethodGet, "/transactions/"+url.PathEscape(id), c.keys.Private, nil, &t); err != nil {
		return Transaction{}, fmt.Errorf("reading transaction %s: %w", id, err)
	}
	return t, nil
}

// TransactionByReference finds the transaction with reference (GET /transactions?reference=...),
// for a charge whose answer was lost; ErrNotFound when Wompi has none.
func (c *Client) TransactionByReference(ctx context.Context, reference string) (Transaction, error) {
	var ts []Transaction
	if err := c.do(ctx, http.MethodGet, "/transactions?reference="+url.QueryEscape(reference), c.keys.Private, nil, &ts); err != nil {
		return Transaction{}, fmt.Errorf("finding transaction %s: %w", reference, err)
	}
	if len(ts) == 0 {
		return Transaction{}, fmt.Errorf("transaction %s: %w", reference, ErrNotFound)
	}
	return ts[0], nil
}

// do sends one request and decodes the "data" member of the answer into out.
func (c *Client) do(ctx context.Context, method, path, bearer string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.baseURL+path, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return fmt.Errorf("reading answer: %w", err)
	}
	if resp.StatusCode >= 300 {
		var e struct {
			Error struct {
				Type     string              `json:"type"`
				Reason   string              `json:"reason"`
				Messages map[string][]string `json:"messages"`
			} `json:"error"`
		}
		_ = json.Unmarshal(raw, &e)
		apiErr := &APIError{Status: resp.StatusCode, Type: e.Error.Type, Reason: e.Error.Reason, Messages: e.Error.Messages}
		if apiErr.Type == "" && apiErr.Reason == "" {
			apiErr.Reason = http.StatusText(resp.StatusCode)
		}
		return apiErr
	}
	if out == nil {
		return nil
	}
	var env struct {
		Data json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(raw, &env); err != nil {
		return fmt.Errorf("reading answer: %w", err)
	}
	if err := json.Unmarshal(env.Data, out); err != nil {
		return fmt.Errorf("reading answer data: %w", err)
	}
	return nil
}
