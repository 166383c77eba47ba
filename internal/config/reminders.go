package config

import (
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Reminders is the configuration of reminders to clients (package reminders). E-mails go through
// the SMTP settings of Billing.
type Reminders struct {
	// WhatsAppToken (APPCITAS_WHATSAPP_TOKEN) is the server's WhatsApp Business Cloud API access
	// token. Defaults to "": only organizations with their own number send by WhatsApp.
	WhatsAppToken string
	// WhatsAppPhoneNumberID (APPCITAS_WHATSAPP_PHONE_NUMBER_ID) is the id of the server's sending
	// number. Required with WhatsAppToken. Defaults to "".
	WhatsAppPhoneNumberID string
	// WhatsAppAPIURL (APPCITAS_WHATSAPP_API_URL) is the Graph API's base URL. Defaults to
	// https://graph.facebook.com.
	WhatsAppAPIURL string
	// WhatsAppAPIVersion (APPCITAS_WHATSAPP_API_VERSION) is the Graph API version. Defaults to v21.0.
	WhatsAppAPIVersion string
	// WhatsAppSimulator (APPCITAS_WHATSAPP_SIMULATOR=1) sends WhatsApp reminders to a built-in
	// simulator: nothing reaches anyone. It cannot be combined with WhatsAppToken. Defaults to off.
	WhatsAppSimulator bool
	// SecretsKey (APPCITAS_SECRETS_KEY: 32 bytes in base64) seals organizations' own WhatsApp
	// tokens in their schema (AES-256-GCM). Defaults to none: such tokens are refused.
	SecretsKey []byte
	// Workers (APPCITAS_REMINDER_WORKERS) is how many tenants' reminder batches run at once.
	// Defaults to 8.
	Workers int
	// Batch (APPCITAS_REMINDER_BATCH) is how many reminders a tenant's job claims at a time.
	// Defaults to 100.
	Batch int
	// DispatchEvery (APPCITAS_REMINDER_DISPATCH_EVERY) is how often due tenants are queued.
	// Defaults to 30s.
	DispatchEvery time.Duration
	// SweepEvery (APPCITAS_REMINDER_SWEEP_EVERY) is how often every tenant is visited to rebuild
	// the agenda of due tenants. Defaults to 1h.
	SweepEvery time.Duration
}

func (c *Config) readReminderSettings(getenv func(string) string) error {
	get := func(k string) string { return strings.TrimSpace(getenv(k)) }
	r := Reminders{
		WhatsAppToken:         get("APPCITAS_WHATSAPP_TOKEN"),
		WhatsAppPhoneNumberID: get("APPCITAS_WHATSAPP_PHONE_NUMBER_ID"),
		WhatsAppAPIURL:        get("APPCITAS_WHATSAPP_API_URL"),
		WhatsAppAPIVersion:    get("APPCITAS_WHATSAPP_API_VERSION"),
		Workers:               8,
		Batch:                 100,
		DispatchEvery:         30 * time.Second,
		SweepEvery:            time.Hour,
	}
	if r.WhatsAppAPIURL == "" {
		r.WhatsAppAPIURL = "https://graph.facebook.com"
	}
	if r.WhatsAppAPIVersion == "" {
		r.WhatsAppAPIVersion = "v21.0"
	}
	if (r.WhatsAppToken == "") != (r.WhatsAppPhoneNumberID == "") {
		return fmt.Errorf("APPCITAS_WHATSAPP_TOKEN and APPCITAS_WHATSAPP_PHONE_NUMBER_ID go together: set both or neither")
	}
	if v := get("APPCITAS_WHATSAPP_SIMULATOR"); v != "" {
		on, err := strconv.ParseBool(v)
		if err != nil {
			return fmt.Errorf("APPCITAS_WHATSAPP_SIMULATOR=%q: want 1 or 0", v)
		}
		if on && r.WhatsAppToken != "" {
			return fmt.Errorf("APPCITAS_WHATSAPP_SIMULATOR=%q with APPCITAS_WHATSAPP_TOKEN set: the simulator takes no token; unset one or the other", v)
		}
		r.WhatsAppSimulator = on
	}
	if v := get("APPCITAS_SECRETS_KEY"); v != "" {
		var key []byte
		for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
			if k, err := enc.DecodeString(v); err == nil {
				key = k
				break
			}
		}
		if len(key) != 32 {
			return fmt.Errorf("APPCITAS_SECRETS_KEY: want 32 bytes in base64 (openssl rand -base64 32)")
		}
		r.SecretsKey = key
	}
	for _, n := range []struct {
		name string
		dst  *int
	}{{"APPCITAS_REMINDER_WORKERS", &r.Workers}, {"APPCITAS_REMINDER_BATCH", &r.Batch}} {
		if v := get(n.name); v != "" {
			x, err := strconv.Atoi(v)
			if err != nil || x < 1 || x > 10000 {
				return fmt.Errorf("%s=%q: want a number from 1 to 10000", n.name, v)
			}
			*n.dst = x
		}
	}
	for _, d := range []struct {
		name string
		dst  *time.Duration
	}{{"APPCITAS_REMINDER_DISPATCH_EVERY", &r.DispatchEvery}, {"APPCITAS_REMINDER_SWEEP_EVERY", &r.SweepEvery}} {
		if v := get(d.name); v != "" {
			x, err := time.ParseDuration(v)
			if err != nil || x < time.Second {
				return fmt.Errorf("%s=%q: want a duration of at least 1s such as 30s", d.name, v)
			}
			*d.dst = x
		}
	}
	c.Reminders = r
	return nil
}
