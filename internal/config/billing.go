package config

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Billing is the configuration of billing with Wompi and of owner notifications. With no Wompi
// keys, serve runs the built-in Wompi simulator (package wompisim) only when WompiSimulator is
// set; otherwise payments are off.
type Billing struct {
	// WompiSimulator (APPCITAS_WOMPI_SIMULATOR=1) makes serve run the built-in Wompi simulator in
	// place of Wompi: no real money moves. It cannot be combined with Wompi keys. Defaults to on
	// with the embedded database (no DATABASE_URL) and no keys, off otherwise: with DATABASE_URL and
	// no keys, payments are off.
	WompiSimulator bool
	// WompiEnv (WOMPI_ENV: sandbox or production) picks Wompi's base URL and the key prefixes the
	// keys must carry. Defaults to sandbox.
	WompiEnv string
	// WompiPublicKey (WOMPI_PUBLIC_KEY, pub_test_... / pub_prod_...). Defaults to "" (simulator).
	WompiPublicKey string
	// WompiPrivateKey (WOMPI_PRIVATE_KEY, prv_test_... / prv_prod_...). Defaults to "".
	WompiPrivateKey string
	// WompiEventsSecret (WOMPI_EVENTS_SECRET, test_events_... / prod_events_...). Defaults to "".
	WompiEventsSecret string
	// WompiIntegritySecret (WOMPI_INTEGRITY_SECRET, test_integrity_... / prod_integrity_...).
	// Defaults to "".
	WompiIntegritySecret string
	// WompiBaseURL (WOMPI_BASE_URL) overrides the environment's API URL. Defaults to "".
	WompiBaseURL string
	// CheckoutRedirectURL (APPCITAS_CHECKOUT_REDIRECT_URL) is where Wompi's checkout sends the payer
	// back. Defaults to "".
	CheckoutRedirectURL string
	// SMTPAddr (APPCITAS_SMTP_ADDR, host:port) delivers owner notifications by e-mail; empty logs
	// them instead. Defaults to "".
	SMTPAddr string
	// SMTPUsername and SMTPPassword (APPCITAS_SMTP_USERNAME, APPCITAS_SMTP_PASSWORD) authenticate.
	// Default to "".
	SMTPUsername string
	SMTPPassword string
	// SMTPFrom (APPCITAS_SMTP_FROM) is the sender. Defaults to "appcitas <no-reply@localhost>".
	SMTPFrom string
	// SignupBurst (APPCITAS_SIGNUP_BURST) is how many signups one client address may make at once.
	// Defaults to 10.
	SignupBurst int
	// SignupEvery (APPCITAS_SIGNUP_EVERY, a Go duration) is how often an address earns one more
	// signup after the burst. Defaults to 1m.
	SignupEvery time.Duration
	// CheckoutExpiry (APPCITAS_CHECKOUT_EXPIRY, a Go duration) is how long a checkout may stay
	// PENDING before it is marked EXPIRED. Defaults to 24h.
	CheckoutExpiry time.Duration
	// NoticeSendingTimeout (APPCITAS_NOTICE_SENDING_TIMEOUT, a Go duration) is how long a notice
	// may stay claimed for sending before it is reported as stuck (never resent by itself).
	// Defaults to 10m.
	NoticeSendingTimeout time.Duration
}

// WompiConfigured reports whether any Wompi key is set (then all four must be).
func (b Billing) WompiConfigured() bool {
	return b.WompiPublicKey != "" || b.WompiPrivateKey != "" || b.WompiEventsSecret != "" || b.WompiIntegritySecret != ""
}

func (c *Config) readBillingSettings(getenv func(string) string) error {
	get := func(k string) string { return strings.TrimSpace(getenv(k)) }
	c.Billing = Billing{
		WompiEnv:             strings.ToLower(get("WOMPI_ENV")),
		WompiPublicKey:       get("WOMPI_PUBLIC_KEY"),
		WompiPrivateKey:      get("WOMPI_PRIVATE_KEY"),
		WompiEventsSecret:    get("WOMPI_EVENTS_SECRET"),
		WompiIntegritySecret: get("WOMPI_INTEGRITY_SECRET"),
		WompiBaseURL:         get("WOMPI_BASE_URL"),
		CheckoutRedirectURL:  get("APPCITAS_CHECKOUT_REDIRECT_URL"),
		SMTPAddr:             get("APPCITAS_SMTP_ADDR"),
		SMTPUsername:         get("APPCITAS_SMTP_USERNAME"),
		SMTPPassword:         getenv("APPCITAS_SMTP_PASSWORD"),
		SMTPFrom:             get("APPCITAS_SMTP_FROM"),
	}
	switch c.Billing.WompiEnv {
	case "":
		c.Billing.WompiEnv = "sandbox"
	case "sandbox", "production":
	default:
		return fmt.Errorf("WOMPI_ENV=%q: want sandbox or production", c.Billing.WompiEnv)
	}
	c.Billing.WompiSimulator = c.DatabaseURL == "" && !c.Billing.WompiConfigured()
	if v := get("APPCITAS_WOMPI_SIMULATOR"); v != "" {
		on, err := strconv.ParseBool(v)
		if err != nil {
			return fmt.Errorf("APPCITAS_WOMPI_SIMULATOR=%q: want 1 or 0", v)
		}
		if on && c.Billing.WompiConfigured() {
			return fmt.Errorf("APPCITAS_WOMPI_SIMULATOR=%q with WOMPI_* keys set: the simulator takes no keys; unset one or the other", v)
		}
		c.Billing.WompiSimulator = on
	}
	c.Billing.SignupBurst, c.Billing.SignupEvery = 10, time.Minute
	if v := get("APPCITAS_SIGNUP_BURST"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return fmt.Errorf("APPCITAS_SIGNUP_BURST=%q: want a positive number such as 10", v)
		}
		c.Billing.SignupBurst = n
	}
	if v := get("APPCITAS_SIGNUP_EVERY"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			return fmt.Errorf("APPCITAS_SIGNUP_EVERY=%q: want a positive duration such as 1m", v)
		}
		c.Billing.SignupEvery = d
	}
	if c.Billing.SMTPFrom == "" {
		c.Billing.SMTPFrom = "appcitas <no-reply@localhost>"
	}
	for _, d := range []struct {
		name string
		dst  *time.Duration
		def  time.Duration
	}{
		{"APPCITAS_CHECKOUT_EXPIRY", &c.Billing.CheckoutExpiry, 24 * time.Hour},
		{"APPCITAS_NOTICE_SENDING_TIMEOUT", &c.Billing.NoticeSendingTimeout, 10 * time.Minute},
	} {
		*d.dst = d.def
		if v := get(d.name); v != "" {
			parsed, err := time.ParseDuration(v)
			if err != nil || parsed <= 0 {
				return fmt.Errorf("%s=%q: want a positive duration such as %s", d.name, v, d.def)
			}
			*d.dst = parsed
		}
	}
	return nil
}
