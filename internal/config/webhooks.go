package config

import (
	"fmt"
	"strconv"
	"time"
)

// Webhooks configures the delivery of signed webhooks (package webhooks).
type Webhooks struct {
	// Development (APPCITAS_WEBHOOKS_DEVELOPMENT=1) accepts http URLs and loopback, private and
	// link-local targets, for tests and local use. Defaults to off: https and public addresses only.
	Development bool
	// Timeout (APPCITAS_WEBHOOKS_TIMEOUT, a Go duration) bounds one delivery. Defaults to 10s.
	Timeout time.Duration
	// GiveUpAfter (APPCITAS_WEBHOOKS_GIVE_UP_AFTER) is how long a delivery is retried. Defaults to 24h.
	GiveUpAfter time.Duration
	// DisableAfter (APPCITAS_WEBHOOKS_DISABLE_AFTER) disables a subscription failing for this long.
	// Defaults to 72h.
	DisableAfter time.Duration
	// DisableAfterFailures (APPCITAS_WEBHOOKS_DISABLE_AFTER_FAILURES) disables a subscription after
	// this many failed attempts in a row. Defaults to 500.
	DisableAfterFailures int
	// Workers (APPCITAS_WEBHOOKS_WORKERS) bounds the tenants delivered to at once, in the job
	// queue's own webhooks queue. Defaults to 20.
	Workers int
	// SweepEvery (APPCITAS_WEBHOOKS_SWEEP_EVERY) is how often every schema is read for deliveries
	// nobody queued. Defaults to 1h.
	SweepEvery time.Duration
}

// readWebhookSettings reads the APPCITAS_WEBHOOKS_* variables.
func (c *Config) readWebhookSettings(getenv func(string) string) error {
	w := Webhooks{Timeout: 10 * time.Second, GiveUpAfter: 24 * time.Hour, DisableAfter: 72 * time.Hour,
		DisableAfterFailures: 500, Workers: 20, SweepEvery: time.Hour}
	if v := getenv("APPCITAS_WEBHOOKS_DEVELOPMENT"); v != "" {
		switch v {
		case "1":
			w.Development = true
		case "0":
		default:
			return fmt.Errorf("APPCITAS_WEBHOOKS_DEVELOPMENT=%q: want 1 or 0", v)
		}
	}
	for _, d := range []struct {
		name string
		dst  *time.Duration
	}{{"APPCITAS_WEBHOOKS_TIMEOUT", &w.Timeout}, {"APPCITAS_WEBHOOKS_GIVE_UP_AFTER", &w.GiveUpAfter},
		{"APPCITAS_WEBHOOKS_DISABLE_AFTER", &w.DisableAfter}, {"APPCITAS_WEBHOOKS_SWEEP_EVERY", &w.SweepEvery}} {
		if v := getenv(d.name); v != "" {
			dur, err := time.ParseDuration(v)
			if err != nil || dur <= 0 {
				return fmt.Errorf("%s=%q: want a positive duration such as 10s", d.name, v)
			}
			*d.dst = dur
		}
	}
	if w.Timeout > time.Minute {
		return fmt.Errorf("APPCITAS_WEBHOOKS_TIMEOUT=%s: at most 1m", w.Timeout)
	}
	if v := getenv("APPCITAS_WEBHOOKS_DISABLE_AFTER_FAILURES"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return fmt.Errorf("APPCITAS_WEBHOOKS_DISABLE_AFTER_FAILURES=%q: want a positive number such as 500", v)
		}
		w.DisableAfterFailures = n
	}
	if v := getenv("APPCITAS_WEBHOOKS_WORKERS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1000 {
			return fmt.Errorf("APPCITAS_WEBHOOKS_WORKERS=%q: want a number from 1 to 1000", v)
		}
		w.Workers = n
	}
	c.Webhooks = w
	return nil
}
