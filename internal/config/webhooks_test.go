package config_test

import (
	"strings"
	"testing"
	"time"

	"github.com/appcitas/appcitas/internal/config"
)

func TestWebhookSettings(t *testing.T) {
	t.Parallel()
	t.Run("DefaultsToProductionRules", func(t *testing.T) {
		c, err := config.FromEnv(env(nil))
		if err != nil {
			t.Fatal(err)
		}
		want := config.Webhooks{Timeout: 10 * time.Second, GiveUpAfter: 24 * time.Hour, DisableAfter: 72 * time.Hour,
			DisableAfterFailures: 500, Workers: 20, SweepEvery: time.Hour}
		if c.Webhooks != want {
			t.Fatalf("Webhooks = %+v, want %+v", c.Webhooks, want)
		}
	})
	t.Run("ReadsEveryVariable", func(t *testing.T) {
		c, err := config.FromEnv(env(map[string]string{"APPCITAS_WEBHOOKS_DEVELOPMENT": "1", "APPCITAS_WEBHOOKS_TIMEOUT": "3s",
			"APPCITAS_WEBHOOKS_GIVE_UP_AFTER": "12h", "APPCITAS_WEBHOOKS_DISABLE_AFTER": "48h",
			"APPCITAS_WEBHOOKS_DISABLE_AFTER_FAILURES": "20", "APPCITAS_WEBHOOKS_SWEEP_EVERY": "10m", "APPCITAS_WEBHOOKS_WORKERS": "5"}))
		if err != nil {
			t.Fatal(err)
		}
		want := config.Webhooks{Development: true, Timeout: 3 * time.Second, GiveUpAfter: 12 * time.Hour, DisableAfter: 48 * time.Hour,
			DisableAfterFailures: 20, Workers: 5, SweepEvery: 10 * time.Minute}
		if c.Webhooks != want {
			t.Fatalf("Webhooks = %+v, want %+v", c.Webhooks, want)
		}
	})
	t.Run("RejectsBadValues", func(t *testing.T) {
		for k, v := range map[string]string{"APPCITAS_WEBHOOKS_DEVELOPMENT": "yes", "APPCITAS_WEBHOOKS_TIMEOUT": "5m",
			"APPCITAS_WEBHOOKS_GIVE_UP_AFTER": "-1h", "APPCITAS_WEBHOOKS_DISABLE_AFTER_FAILURES": "0", "APPCITAS_WEBHOOKS_SWEEP_EVERY": "x", "APPCITAS_WEBHOOKS_WORKERS": "0"} {
			if _, err := config.FromEnv(env(map[string]string{k: v})); err == nil || !strings.Contains(err.Error(), k) {
				t.Errorf("%s=%s: %v", k, v, err)
			}
		}
	})
}
