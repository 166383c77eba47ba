package whatsapp

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strings"
	"time"
)

// Defaults of [Config].
const (
	// DefaultAPIURL is Meta's Graph API.
	DefaultAPIURL = "https://graph.facebook.com"
	// DefaultVersion is the Graph API version called.
	DefaultVersion = "v21.0"
)

// ErrConfig is returned for a missing token or phone number id.
var ErrConfig = errors.New("whatsapp: incomplete configuration")

// Config configures a [Client].
type Config struct {
	// Token is the bearer token (a system user's access token). Required.
	Token string
	// PhoneNumberID is the id of the sending WhatsApp Business number. Required.
	PhoneNumberID string
	// APIURL is the Graph API's base URL. Defaults to DefaultAPIURL (tests and the simulator set
	// their own).
	APIURL string
	// Version is the Graph API version. Defaults to DefaultVersion.
	Version string
	// HTTPClient defaults to a client with a 15 s timeout.
	HTTPClient *http.Client
	// Label names the provider in delivery logs. Defaults to "whatsapp"; the simulator's client says
	// "simulador".
	Label string
}

// Client sends template messages from one WhatsApp Business number.
type Client struct {
	cfg Config
	url string
}

var phoneNumberID = regexp.MustCompile(`^[0-9]{1,30}$`)

// New checks cfg and returns a client.
func New(cfg Config) (*Client, error) {
	if cfg.Token == "" || cfg.PhoneNumberID == "" {
		return nil, fmt.Errorf("%w: a token and a phone number id are required", ErrConfig)
	}
	if !phoneNumberID.MatchString(cfg.PhoneNumberID) {
		return nil, fmt.Errorf("%w: the phone number id must be digits", ErrConfig)
	}
	if cfg.APIURL == "" {
		cfg.APIURL = DefaultAPIURL
	}
	if cfg.Version == "" {
		cfg.Version = DefaultVersion
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Timeout: 15 * time.Second}
	}
	if cfg.Label == "" {
		cfg.Label = "whatsapp"
	}
	url := strings.TrimRight(cfg.APIURL, "/") + "/" + cfg.Version + "/" + cfg.PhoneNumberID + "/messages"
	return &Client{cfg: cfg, url: url}, nil
}

// WithNumber returns a client of the same API and version for another number and token (an
// organization's own).
func (c *Client) WithNumber(phoneNumberID, token string) (*Client, error) {
	cfg := c.cfg
	cfg.PhoneNumberID, cfg.Token = phoneNumberID, token
	return New(cfg)
}

// Label names the provider in delivery logs: "whatsapp", or "simulador" for the simulator.
func (c *Client) Label() string { return c.cfg.Label }

// URL returns the messages endpoint the client posts to.
func (c *Client) URL() string { return c.url }

// Template is a template message to one recipient.
type Template struct {
	// To is the recipient's phone number in international format (digits, "+" allowed).
	To string
	// Name is the approved template's name.
	Name string
	// Language is the template's language code (es, es_CO, en_US, ...).
	Language string
	// BodyParams fill the body's {{1}}, {{2}}, ... in order.
	BodyParams []string
}

// The request and answer bodies, as Meta documents them.
type (
	messageRequest struct {
		MessagingProduct string          `json:"messaging_product"`
		RecipientType    string          `json:"recipient_type"`
		To               string          `json:"to"`
		Type             string          `json:"type"`
		Template         templatePayload `json:"template"`
	}
	templatePayload struct {
		Name       string      `json:"name"`
		Language   language    `json:"language"`
		Components []component `json:"components,omitempty"`
	}
	language struct {
		Code string `json:"code"`
	}
	component struct {
		Type       string      `json:"type"`
		Parameters []parameter `json:"parameters"`
	}
	parameter struct {
		Type string `json:"type"`
		Text string `json:"text"`
	}
	messageResponse struct {
		Messages []struct {
			ID string `json:"id"`
		} `json:"messages"`
	}
	errorResponse struct {
		Error struct {
			Message string `json:"message"`
			Type    string `json:"type"`
			Code    int    `json:"code"`
		} `json:"error"`
	}
)

// Error is a failed send.
type Error struct {
	// Status is the HTTP status; 0 for a network error.
	Status int
	// Code is Meta's error code, when the answer had one.
	Code int
	// Message is Meta's message, or the network error's.
	Message string
	// Retryable is true for 429, 5xx and network errors.
	Retryable bool
	err       error
}

// Error implements error.
func (e *Error) Error() string {
	switch {
	case e.Status == 0:
		return "whatsapp: " + e.Message
	case e.Code != 0:
		return fmt.Sprintf("whatsapp: status %d, code %d: %s", e.Status, e.Code, e.Message)
	}
	return fmt.Sprintf("whatsapp: status %d: %s", e.Status, e.Message)
}

// Unwrap returns the network error, if any.
func (e *Error) Unwrap() error { return e.err }

// IsRetryable reports whether err is worth retrying later: a 429, a 5xx or a network error.
func IsRetryable(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.Retryable
}

var recipient = regexp.MustCompile(`^\+?[0-9]{6,20}$`)

// NormalizePhone returns a phone number as digits only, or "" when it cannot be a WhatsApp
// recipient (fewer than 6 or more than 20 digits).
func NormalizePhone(s string) string {
	var b strings.Builder
	for _, r := range s {
		if r >= '0' && r <= '9' {
			b.WriteRune(r)
		} else if !strings.ContainsRune("+ -().", r) {
			return ""
		}
	}
	if !recipient.MatchString(b.String()) {
		return ""
	}
	return b.String()
}

// Send posts a template message and returns the message id Meta gave it.
func (c *Client) Send(ctx context.Context, t Template) (string, error) {
	to := NormalizePhone(t.To)
	if to == "" {
		return "", &Error{Status: 400, Message: fmt.Sprintf("invalid recipient %q", t.To)}
	}
	if t.Name == "" || t.Language == "" {
		return "", &Error{Status: 400, Message: "a template name and language are required"}
	}
	body := messageRequest{MessagingProduct: "whatsapp", RecipientType: "individual", To: to, Type: "template",
		Template: templatePayload{Name: t.Name, Language: language{Code: t.Language}}}
	if len(t.BodyParams) > 0 {
		ps := make([]parameter, len(t.BodyParams))
		for i, p := range t.BodyParams {
			ps[i] = parameter{Type: "text", Text: p}
		}
		body.Template.Components = []component{{Type: "body", Parameters: ps}}
	}
	raw, err := json.Marshal(body)
	if err != nil {
		return "", fmt.Errorf("whatsapp: encoding the message: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.url, bytes.NewReader(raw))
	if err != nil {
		return "", fmt.Errorf("whatsapp: %w", err)
	}
	req.Header.Set("Authorization", "Bearer "+c.cfg.Token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.cfg.HTTPClient.Do(req)
	if err != nil {
		return "", &Error{Message: redact(err.Error(), c.cfg.Token), Retryable: true, err: err}
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return "", &Error{Status: resp.StatusCode, Message: "reading the answer: " + err.Error(), Retryable: true, err: err}
	}
	if resp.StatusCode/100 != 2 {
		e := &Error{Status: resp.StatusCode, Retryable: resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500}
		var er errorResponse
		if json.Unmarshal(data, &er) == nil && er.Error.Message != "" {
			e.Code, e.Message = er.Error.Code, er.Error.Message
		} else {
			e.Message = http.StatusText(resp.StatusCode)
		}
		return "", e
	}
	var mr messageResponse
	if err := json.Unmarshal(data, &mr); err != nil || len(mr.Messages) == 0 || mr.Messages[0].ID == "" {
		// Meta accepted the message (2xx) but the answer is not the documented one: do not retry,
		// or the client could get two messages.
		return "", &Error{Status: resp.StatusCode, Message: "the answer carries no message id"}
	}
	return mr.Messages[0].ID, nil
}

// redact removes the token from a message (an error that quotes the request).
func redact(s, token string) string {
	if token == "" {
		return s
	}
	return strings.ReplaceAll(s, token, "[token]")
}
