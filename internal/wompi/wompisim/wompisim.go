// Package wompisim is a fake Wompi: an HTTP server with the endpoints package wompi calls.
// It serves acceptance tokens, card tokens, payment sources, transactions, their lookup and voiding a source, as Wompi documents them.
// Its outcomes are the sandbox's: card 4242 4242 4242 4242 is APPROVED, 4111 1111 1111 1111 DECLINED, any other card ERROR.
// It posts signed "transaction.updated" events to an events URL.
// Tests use it instead of the real Wompi.
// serve runs it as the "Wompi simulator" when no Wompi keys are configured.
package wompisim

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/appcitas/appcitas/internal/wompi"
)

// Sandbox card numbers and their outcomes.
const (
	CardApproved = "4242424242424242"
	CardDeclined = "4111111111111111"
)

// TestKeys returns the sandbox-shaped keys the fake accepts by default.
func TestKeys() wompi.Keys {
	return wompi.Keys{
		Public:    "pub_test_simulator0000000000000000",
		Private:   "prv_test_simulator0000000000000000",
		Events:    "test_events_simulator00000000000000",
		Integrity: "test_integrity_simulator000000000000",
	}
}

// Options configures a fake server.
type Options struct {
	// Keys are the merchant's keys. Defaults to TestKeys().
	Keys wompi.Keys
	// EventsURL receives signed events when transactions settle. Empty: no events are posted.
	EventsURL string
	// AutoSettle, when positive, settles each new transaction that long after it is created (and
	// posts its event). Zero leaves transactions PENDING until Settle is called.
	AutoSettle time.Duration
	// Logger defaults to a logger that discards.
	Logger *slog.Logger
}

type card struct{ number string }

// Server is a running fake Wompi.
type Server struct {
	// URL is the API base URL, ending in /v1: give it to wompi.Config.BaseURL.
	URL string

	opts Options
	srv  *httptest.Server
	http *http.Client

	mu          sync.Mutex
	acceptance  string
	personal    string
	cards       map[string]card // card token → card
	sources     map[int64]*wompi.PaymentSource
	sourceCard  map[int64]string // source → card number
	txs         map[string]*wompi.Transaction
	txCard      map[string]string // transaction → card number
	byReference map[string]string // reference → transaction id
	nextSource  int64
	timers      []*time.Timer
	deliveries  int
}

// New starts a fake Wompi on a local port. Close it when done.
func New(opts Options) *Server {
	if opts.Keys.IsZero() {
		opts.Keys = TestKeys()
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Server{
		opts:        opts,
		http:        &http.Client{Timeout: 10 * time.Second},
		acceptance:  "eyJ.acceptance." + randomID(),
		personal:    "eyJ.personal." + randomID(),
		cards:       map[string]card{},
		sources:     map[int64]*wompi.PaymentSource{},
		sourceCard:  map[int64]string{},
		txs:         map[string]*wompi.Transaction{},
		txCard:      map[string]string{},
		byReference: map[string]string{},
		nextSource:  1000,
	}
	s.srv = httptest.NewServer(s.Handler())
	s.URL = s.srv.URL + "/v1"
	return s
}

// Close stops the server and any pending settlement.
func (s *Server) Close() {
	s.mu.Lock()
	for _, t := range s.timers {
		t.Stop()
	}
	s.mu.Unlock()
	s.srv.Close()
}

// Keys returns the merchant keys the fake accepts.
func (s *Server) Keys() wompi.Keys { return s.opts.Keys }

// SetEventsURL changes where events are posted.
func (s *Server) SetEventsURL(u string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.opts.EventsURL = u
}

// Deliveries returns how many events were posted successfully.
func (s *Server) Deliveries() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.deliveries
}

// Handler returns the fake's routes, under /v1.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/merchants/{key}", s.merchant)
	mux.HandleFunc("POST /v1/tokens/cards", s.tokenizeCard)
	mux.HandleFunc("POST /v1/payment_sources", s.createSource)
	mux.HandleFunc("GET /v1/payment_sources/{id}", s.getSource)
	mux.HandleFunc("PUT /v1/payment_sources/{id}/void", s.voidSource)
	mux.HandleFunc("POST /v1/transactions", s.createTransaction)
	mux.HandleFunc("GET /v1/transactions/{id}", s.getTransaction)
	mux.HandleFunc("GET /v1/transactions", s.findTransactions)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "NOT_FOUND_ERROR", "no route "+r.Method+" "+r.URL.Path)
	})
	return mux
}

func randomID() string { return strings.ToLower(rand.Text()[:16]) }

func writeData(w http.ResponseWriter, status int, data any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"data": data})
}

func writeError(w http.ResponseWriter, status int, typ, reason string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"error": map[string]any{"type": typ, "reason": reason}})
}

func writeValidation(w http.ResponseWriter, field, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusUnprocessableEntity)
	_ = json.NewEncoder(w).Encode(map[string]any{"error": map[string]any{
		"type": "INPUT_VALIDATION_ERROR", "messages": map[string][]string{field: {msg}}}})
}

func (s *Server) authorized(w http.ResponseWriter, r *http.Request, keys ...string) bool {
	got := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
	for _, k := range keys {
		if got == k {
			return true
		}
	}
	writeError(w, http.StatusUnauthorized, "INVALID_ACCESS_TOKEN", "missing or wrong key in Authorization: Bearer")
	return false
}

func (s *Server) merchant(w http.ResponseWriter, r *http.Request) {
	if r.PathValue("key") != s.opts.Keys.Public {
		writeError(w, http.StatusNotFound, "NOT_FOUND_ERROR", "merchant not found")
		return
	}
	writeData(w, http.StatusOK, map[string]any{
		"id": 1, "name": "Wompi simulator", "public_key": s.opts.Keys.Public,
		"presigned_acceptance": map[string]any{
			"acceptance_token": s.acceptance, "type": "END_USER_POLICY",
			"permalink": "https://wompi.co/wp-content/uploads/terminos-simulador.pdf"},
		"presigned_personal_data_auth": map[string]any{
			"acceptance_token": s.personal, "type": "PERSONAL_DATA_AUTH",
			"permalink": "https://wompi.co/wp-content/uploads/autorizacion-simulador.pdf"},
	})
}

// TokenizeCard does what the browser does with the public key (POST /tokens/cards) and returns
// the card token.
func (s *Server) TokenizeCard(number string) string {
	number = strings.ReplaceAll(number, " ", "")
	tok := "tok_test_" + randomID()
	s.mu.Lock()
	s.cards[tok] = card{number: number}
	s.mu.Unlock()
	return tok
}

func (s *Server) tokenizeCard(w http.ResponseWriter, r *http.Request) {
	if !s.authorized(w, r, s.opts.Keys.Public) {
		return
	}
	var in struct {
		Number     string `json:"number"`
		CVC        string `json:"cvc"`
		ExpMonth   string `json:"exp_month"`
		ExpYear    string `json:"exp_year"`
		CardHolder string `json:"card_holder"`
	}
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
		writeValidation(w, "body", err.Error())
		return
	}
	number := strings.ReplaceAll(in.Number, " ", "")
	if len(number) < 12 || len(in.CVC) < 3 {
		writeValidation(w, "number", "invalid card")
		return
	}
	tok := s.TokenizeCard(number)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusCreated)
	_ = json.NewEncoder(w).Encode(map[string]any{"status": "CREATED", "data": map[string]any{
		"id": tok, "brand": "VISA", "name": "VISA-" + number[len(number)-4:], "last_four": number[len(number)-4:],
		"bin": number[:6], "exp_month": in.ExpMonth, "exp_year": in.ExpYear, "card_holder": in.CardHolder,
		"created_at": time.Now().UTC().Format(time.RFC3339), "expires_at": time.Now().Add(30 * time.Minute).UTC().Format(time.RFC3339),
	}})
}

func (s *Server) createSource(w http.ResponseWriter, r *http.Request) {
	if !s.authorized(w, r, s.opts.Keys.Private) {
		return
	}
	var in wompi.NewPaymentSource
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
		writeValidation(w, "body", err.Error())
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if in.AcceptanceToken != s.acceptance {
		writeValidation(w, "acceptance_token", "El token de aceptación no es válido")
		return
	}
	if in.AcceptPersonalAuth != "" && in.AcceptPersonalAuth != s.personal {
		writeValidation(w, "accept_personal_auth", "El token de autorización de datos personales no es válido")
		return
	}
	c, ok := s.cards[in.Token]
	if !ok || (in.Type != "" && in.Type != "CARD") {
		writeValidation(w, "token", "El token no existe o no es de tipo CARD")
		return
	}
	if in.CustomerEmail == "" {
		writeValidation(w, "customer_email", "requerido")
		return
	}
	s.nextSource++
	ps := &wompi.PaymentSource{ID: s.nextSource, Type: "CARD", Token: in.Token, Status: "AVAILABLE",
		CustomerEmail: in.CustomerEmail, PublicData: map[string]any{"type": "CARD", "last_four": c.number[len(c.number)-4:]}}
	s.sources[ps.ID] = ps
	s.sourceCard[ps.ID] = c.number
	writeData(w, http.StatusCreated, ps)
}

func (s *Server) getSource(w http.ResponseWriter, r *http.Request) {
	if !s.authorized(w, r, s.opts.Keys.Private) {
		return
	}
	id, _ := strconv.ParseInt(r.PathValue("id"), 10, 64)
	s.mu.Lock()
	defer s.mu.Unlock()
	ps, ok := s.sources[id]
	if !ok {
		writeError(w, http.StatusNotFound, "NOT_FOUND_ERROR", "payment source not found")
		return
	}
	writeData(w, http.StatusOK, ps)
}

func (s *Server) voidSource(w http.ResponseWriter, r *http.Request) {
	if !s.authorized(w, r, s.opts.Keys.Private) {
		return
	}
	id, _ := strconv.ParseInt(r.PathValue("id"), 10, 64)
	s.mu.Lock()
	defer s.mu.Unlock()
	ps, ok := s.sources[id]
	if !ok {
		writeError(w, http.StatusNotFound, "NOT_FOUND_ERROR", "payment source not found")
		return
	}
	ps.Status = "VOIDED"
	writeData(w, http.StatusOK, ps)
}

// Source returns a payment source as the fake holds it.
func (s *Server) Source(id int64) (wompi.PaymentSource, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ps, ok := s.sources[id]
	if !ok {
		return wompi.PaymentSource{}, false
	}
	return *ps, true
}

func (s *Server) createTransaction(w http.ResponseWriter, r *http.Request) {
	// As at Wompi, a browser pays a card token with the public key; charging a stored payment
	// source takes the private key (checked below).
	if !s.authorized(w, r, s.opts.Keys.Private, s.opts.Keys.Public) {
		return
	}
	private := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ") == s.opts.Keys.Private
	var in wompi.NewTransaction
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
		writeValidation(w, "body", err.Error())
		return
	}
	if in.AmountInCents <= 0 || in.Currency == "" || in.Reference == "" || in.CustomerEmail == "" {
		writeValidation(w, "amount_in_cents", "amount_in_cents, currency, reference and customer_email are required")
		return
	}
	if want := wompi.IntegritySignature(in.Reference, in.AmountInCents, in.Currency, time.Time{}, s.opts.Keys.Integrity); !strings.EqualFold(in.Signature, want) {
		writeValidation(w, "signature", "La firma es inválida")
		return
	}
	s.mu.Lock()
	if _, dup := s.byReference[in.Reference]; dup {
		s.mu.Unlock()
		writeValidation(w, "reference", "La referencia ya ha sido usada")
		return
	}
	var number string
	switch {
	case in.PaymentSourceID != 0:
		if !private {
			s.mu.Unlock()
			writeError(w, http.StatusUnauthorized, "INVALID_ACCESS_TOKEN", "charging a payment source takes the private key")
			return
		}
		ps, ok := s.sources[in.PaymentSourceID]
		if !ok || ps.Status != "AVAILABLE" {
			s.mu.Unlock()
			writeValidation(w, "payment_source_id", "La fuente de pago no existe o no está disponible")
			return
		}
		number = s.sourceCard[in.PaymentSourceID]
	default:
		tok, _ := in.PaymentMethod["token"].(string)
		c, ok := s.cards[tok]
		if !ok {
			s.mu.Unlock()
			writeValidation(w, "payment_method", "payment_source_id or a CARD payment_method with a token is required")
			return
		}
		if in.AcceptanceToken != s.acceptance {
			s.mu.Unlock()
			writeValidation(w, "acceptance_token", "El token de aceptación no es válido")
			return
		}
		number = c.number
	}
	id := fmt.Sprintf("%d-%d-%05d", 11000+len(s.txs), time.Now().Unix(), len(s.txs)+1)
	tx := &wompi.Transaction{ID: id, CreatedAt: time.Now().UTC().Format(time.RFC3339Nano), AmountInCents: in.AmountInCents,
		Reference: in.Reference, Currency: in.Currency, CustomerEmail: in.CustomerEmail, PaymentMethodType: "CARD",
		PaymentSourceID: in.PaymentSourceID, Status: wompi.StatusPending}
	s.txs[id] = tx
	s.txCard[id] = number
	s.byReference[in.Reference] = id
	out := *tx
	if d := s.opts.AutoSettle; d > 0 {
		s.timers = append(s.timers, time.AfterFunc(d, func() {
			ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
			defer cancel()
			if _, err := s.Settle(ctx, id); err != nil {
				s.opts.Logger.Warn("wompi simulator: settling", "transaction", id, "err", err)
			}
		}))
	}
	s.mu.Unlock()
	writeData(w, http.StatusCreated, out)
}

func (s *Server) getTransaction(w http.ResponseWriter, r *http.Request) {
	if !s.authorized(w, r, s.opts.Keys.Private, s.opts.Keys.Public) {
		return
	}
	tx, ok := s.Transaction(r.PathValue("id"))
	if !ok {
		writeError(w, http.StatusNotFound, "NOT_FOUND_ERROR", "La entidad solicitada no existe")
		return
	}
	writeData(w, http.StatusOK, tx)
}

func (s *Server) findTransactions(w http.ResponseWriter, r *http.Request) {
	if !s.authorized(w, r, s.opts.Keys.Private) {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	out := []wompi.Transaction{}
	if id, ok := s.byReference[r.URL.Query().Get("reference")]; ok {
		out = append(out, *s.txs[id])
	}
	writeData(w, http.StatusOK, out)
}

// Transaction returns a transaction as the fake holds it.
func (s *Server) Transaction(id string) (wompi.Transaction, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	tx, ok := s.txs[id]
	if !ok {
		return wompi.Transaction{}, false
	}
	return *tx, true
}

// Transactions returns every transaction, in no order.
func (s *Server) Transactions() []wompi.Transaction {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]wompi.Transaction, 0, len(s.txs))
	for _, tx := range s.txs {
		out = append(out, *tx)
	}
	return out
}

// ErrUnknownTransaction is returned by Settle for an id the fake never issued.
var ErrUnknownTransaction = errors.New("wompisim: unknown transaction")

// Settle gives a PENDING transaction its sandbox outcome (4242… APPROVED, 4111… DECLINED, other
// cards ERROR) and posts the signed event to the events URL, if any. A settled transaction is
// left as it is (and its event is not posted again).
func (s *Server) Settle(ctx context.Context, id string) (wompi.Transaction, error) {
	s.mu.Lock()
	tx, ok := s.txs[id]
	if !ok {
		s.mu.Unlock()
		return wompi.Transaction{}, fmt.Errorf("%w: %s", ErrUnknownTransaction, id)
	}
	if tx.Status != wompi.StatusPending {
		out := *tx
		s.mu.Unlock()
		return out, nil
	}
	switch s.txCard[id] {
	case CardApproved:
		tx.Status = wompi.StatusApproved
	case CardDeclined:
		tx.Status, tx.StatusMessage = wompi.StatusDeclined, "Transacción rechazada (tarjeta de prueba 4111)"
	default:
		tx.Status, tx.StatusMessage = wompi.StatusError, "Tarjeta de prueba desconocida en el sandbox"
	}
	tx.FinalizedAt = time.Now().UTC().Format(time.RFC3339Nano)
	out := *tx
	s.mu.Unlock()
	return out, s.Deliver(ctx, out)
}

// SettleQuietly settles like Settle but posts no event (a lost event, for reconciliation).
func (s *Server) SettleQuietly(id string) (wompi.Transaction, error) {
	s.mu.Lock()
	url := s.opts.EventsURL
	s.opts.EventsURL = ""
	s.mu.Unlock()
	tx, err := s.Settle(context.Background(), id)
	s.mu.Lock()
	s.opts.EventsURL = url
	s.mu.Unlock()
	return tx, err
}

// SetStatus forces a transaction's status (e.g. VOIDED) without posting an event.
func (s *Server) SetStatus(id, status string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	tx, ok := s.txs[id]
	if !ok {
		return fmt.Errorf("%w: %s", ErrUnknownTransaction, id)
	}
	tx.Status = status
	return nil
}

// SignedEvent returns the body of a "transaction.updated" event for tx, signed with the events
// secret over transaction.id, transaction.status and transaction.amount_in_cents, as Wompi signs.
func (s *Server) SignedEvent(tx wompi.Transaction, at time.Time) ([]byte, string, error) {
	data, err := json.Marshal(map[string]any{"transaction": tx})
	if err != nil {
		return nil, "", err
	}
	env := "test"
	if strings.HasPrefix(s.opts.Keys.Public, "pub_prod_") {
		env = "prod"
	}
	ev := wompi.Event{Event: "transaction.updated", Data: data, Environment: env, Timestamp: at.Unix(),
		SentAt:    at.UTC().Format(time.RFC3339Nano),
		Signature: wompi.EventSignature{Properties: []string{"transaction.id", "transaction.status", "transaction.amount_in_cents"}}}
	if err := wompi.SignEvent(&ev, s.opts.Keys.Events); err != nil {
		return nil, "", err
	}
	body, err := json.Marshal(ev)
	return body, ev.Signature.Checksum, err
}

// Deliver posts tx's signed event to the events URL (doing nothing when none is set). Tests call
// it again to redeliver.
func (s *Server) Deliver(ctx context.Context, tx wompi.Transaction) error {
	s.mu.Lock()
	url := s.opts.EventsURL
	s.mu.Unlock()
	if url == "" {
		return nil
	}
	body, checksum, err := s.SignedEvent(tx, time.Now())
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Event-Checksum", checksum)
	resp, err := s.http.Do(req)
	if err != nil {
		return fmt.Errorf("posting event for %s: %w", tx.ID, err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("posting event for %s: answered %s", tx.ID, resp.Status)
	}
	s.mu.Lock()
	s.deliveries++
	s.mu.Unlock()
	return nil
}
