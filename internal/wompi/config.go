package wompi

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// Environment is a Wompi environment: the sandbox (test keys, no real money) or production.
type Environment string

const (
	// Sandbox is Wompi's test environment.
	Sandbox Environment = "sandbox"
	// Production moves real money.
	Production Environment = "production"
)

// Base URLs of Wompi's API.
const (
	SandboxURL    = "https://sandbox.wompi.co/v1"
	ProductionURL = "https://production.wompi.co/v1"
)

// ErrKeys is returned for missing keys or keys that do not belong to the chosen environment.
var ErrKeys = errors.New("invalid wompi keys")

// ParseEnvironment reads "sandbox"/"test" or "production"/"prod".
func ParseEnvironment(s string) (Environment, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "sandbox", "test", "":
		return Sandbox, nil
	case "production", "prod":
		return Production, nil
	}
	return "", fmt.Errorf("wompi environment %q: want sandbox or production", s)
}

// BaseURL returns the API base URL of e.
func (e Environment) BaseURL() string {
	if e == Production {
		return ProductionURL
	}
	return SandboxURL
}

// Keys are a merchant's four Wompi secrets, from the dashboard's "Desarrolladores" page.
type Keys struct {
	// Public (pub_test_... / pub_prod_...) identifies the merchant to browsers and checkouts.
	Public string
	// Private (prv_test_... / prv_prod_...) authorizes payment sources and transactions.
	Private string
	// Events (test_events_... / prod_events_...) is the secret of event checksums.
	Events string
	// Integrity (test_integrity_... / prod_integrity_...) is the secret of integrity signatures.
	Integrity string
}

// IsZero reports whether no key is set.
func (k Keys) IsZero() bool { return k == Keys{} }

// Validate checks that every key is present and carries the prefix of env, so that a production
// key never runs against the sandbox or the other way round.
func (k Keys) Validate(env Environment) error {
	prefixes := map[Environment][4]string{
		Sandbox:    {"pub_test_", "prv_test_", "test_events_", "test_integrity_"},
		Production: {"pub_prod_", "prv_prod_", "prod_events_", "prod_integrity_"},
	}
	want, ok := prefixes[env]
	if !ok {
		return fmt.Errorf("%w: unknown environment %q", ErrKeys, env)
	}
	for i, kv := range []struct{ name, value string }{
		{"public", k.Public}, {"private", k.Private}, {"events", k.Events}, {"integrity", k.Integrity},
	} {
		if kv.value == "" {
			return fmt.Errorf("%w: the %s key is missing", ErrKeys, kv.name)
		}
		if !strings.HasPrefix(kv.value, want[i]) || len(kv.value) == len(want[i]) {
			return fmt.Errorf("%w: the %s key must start with %q in the %s environment", ErrKeys, kv.name, want[i], env)
		}
	}
	return nil
}

// Config configures a [Client].
type Config struct {
	// Environment picks the base URL and the key prefixes. Defaults to Sandbox.
	Environment Environment
	// Keys must match Environment (see [Keys.Validate]).
	Keys Keys
	// BaseURL overrides the environment's URL (tests and the simulator), e.g. "http://127.0.0.1:4000/v1".
	// Key prefixes are still checked against Environment.
	BaseURL string
	// HTTPClient defaults to a client with a 15s timeout.
	HTTPClient *http.Client
}

// Client calls Wompi's API.
type Client struct {
	env     Environment
	keys    Keys
	baseURL string
	http    *http.Client
}

// New checks cfg's keys against its environment and returns a client.
func New(cfg Config) (*Client, error) {
	if cfg.Environment == "" {
		cfg.Environment = Sandbox
	}
	if err := cfg.Keys.Validate(cfg.Environment); err != nil {
		return nil, err
	}
	base := cfg.BaseURL
	if base == "" {
		base = cfg.Environment.BaseURL()
	}
	hc := cfg.HTTPClient
	if hc == nil {
		hc = &http.Client{Timeout: 15 * time.Second}
	}
	return &Client{env: cfg.Environment, keys: cfg.Keys, baseURL: strings.TrimRight(base, "/"), http: hc}, nil
}

// Environment returns the client's environment.
func (c *Client) Environment() Environment { return c.env }

// PublicKey returns the merchant's public key (checkouts need it).
func (c *Client) PublicKey() string { return c.keys.Public }

// BaseURL returns the API base URL the client calls.
func (c *Client) BaseURL() string { return c.baseURL }

// IntegritySignature signs a payment with the client's integrity secret (see [IntegritySignature]).
func (c *Client) IntegritySignature(reference string, amountInCents int64, currency string, expiration time.Time) string {
	return IntegritySignature(reference, amountInCents, currency, expiration, c.keys.Integrity)
}

// VerifyEvent checks an event's checksum with the client's events secret (see [VerifyEvent]).
func (c *Client) VerifyEvent(body []byte, headerChecksum string) (Event, error) {
	return VerifyEvent(body, headerChecksum, c.keys.Events)
}
