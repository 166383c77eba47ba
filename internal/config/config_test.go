package config_test

import (
	"maps"
	"strings"
	"testing"
	"time"

	"github.com/appcitas/appcitas/internal/config"
)

func env(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func TestFromEnv(t *testing.T) {
	t.Parallel()

	t.Run("Defaults", func(t *testing.T) {
		t.Parallel()
		c, err := config.FromEnv(env(nil))
		if err != nil {
			t.Fatal(err)
		}
		want := config.Config{
			DataDir: ".appcitas", Addr: "127.0.0.1:8080", LogLevel: "info",
			LockTimeout: 10 * time.Second, StatementTimeout: 5 * time.Minute,
		}
		if c.DatabaseURL != "" || c.DataDir != want.DataDir || c.Addr != want.Addr || c.LogLevel != want.LogLevel ||
			c.LogSQL || c.LockTimeout != want.LockTimeout || c.StatementTimeout != want.StatementTimeout || len(c.Servers) != 0 ||
			c.StatementCache != 4096 || c.MetricsToken != "" || c.SetupCacheRows != 500_000 || c.Pooler != "auto" || c.ListenURL != "" || c.LogFormat != "text" {
			t.Errorf("FromEnv(empty) = %+v; want %+v", c, want)
		}
	})

	t.Run("ReadsEveryVariable", func(t *testing.T) {
		t.Parallel()
		c, err := config.FromEnv(env(map[string]string{
			"DATABASE_URL":                         "  postgres://app@db/appcitas  ",
			"APPCITAS_DATA":                        "/var/lib/appcitas",
			"APPCITAS_ADDR":                        "0.0.0.0:9000",
			"APPCITAS_LOG_LEVEL":                   "DEBUG",
			"APPCITAS_LOG_SQL":                     "1",
			"APPCITAS_MIGRATION_LOCK_TIMEOUT":      "3s",
			"APPCITAS_MIGRATION_STATEMENT_TIMEOUT": "90s",
			"APPCITAS_SERVERS":                     "eu=postgres://eu/appcitas",
			"APPCITAS_STATEMENT_CACHE":             "1024",
			"APPCITAS_SETUP_CACHE_ROWS":            "0",
			"APPCITAS_METRICS_TOKEN":               " prometheus-scrape-token-1 ",
			"APPCITAS_LISTEN_URL":                  " postgres://app@db-direct/appcitas ",
			"APPCITAS_POOLER":                      "Transaction",
			"APPCITAS_LOG_FORMAT":                  " JSON ",
		}))
		if err != nil {
			t.Fatal(err)
		}
		if c.DatabaseURL != "postgres://app@db/appcitas" || c.DataDir != "/var/lib/appcitas" || c.Addr != "0.0.0.0:9000" ||
			c.LogLevel != "debug" || !c.LogSQL || c.LockTimeout != 3*time.Second || c.StatementTimeout != 90*time.Second ||
			c.Servers["eu"] != "postgres://eu/appcitas" || c.StatementCache != 1024 || c.MetricsToken != "prometheus-scrape-token-1" ||
			c.SetupCacheRows != 0 || c.ListenURL != "postgres://app@db-direct/appcitas" || c.Pooler != "transaction" || c.LogFormat != "json" {
			t.Errorf("FromEnv = %+v", c)
		}
	})

	t.Run("BackupDefaultsFollowDataDir", func(t *testing.T) {
		t.Parallel()
		c, err := config.FromEnv(env(map[string]string{"APPCITAS_DATA": "/srv/appcitas"}))
		if err != nil {
			t.Fatal(err)
		}
		if c.BackupDir != "/srv/appcitas/backups" || c.BackupEvery != 24*time.Hour || c.BackupKeepDaily != 7 || c.BackupKeepWeekly != 4 {
			t.Errorf("backup settings = %q, %v, %d, %d; want /srv/appcitas/backups, 24h, 7, 4", c.BackupDir, c.BackupEvery, c.BackupKeepDaily, c.BackupKeepWeekly)
		}
		c, err = config.FromEnv(env(map[string]string{"APPCITAS_BACKUP_EVERY": "0", "APPCITAS_BACKUP_KEEP_DAILY": "0", "APPCITAS_BACKUP_DIR": "/b"}))
		if err != nil || c.BackupEvery != 0 || c.BackupKeepDaily != 0 || c.BackupDir != "/b" {
			t.Errorf("backups switched off: %+v, %v", c, err)
		}
	})

	t.Run("OneTripReadsSwitchOff", func(t *testing.T) {
		t.Parallel()
		for v, want := range map[string]bool{"": false, "1": false, "0": true, "false": true} {
			c, err := config.FromEnv(env(map[string]string{"APPCITAS_ONE_TRIP_READS": v}))
			if err != nil || c.NoOneTripReads != want {
				t.Errorf("APPCITAS_ONE_TRIP_READS=%q: NoOneTripReads %v, %v; want %v", v, c.NoOneTripReads, err, want)
			}
		}
	})

	t.Run("LogSQLFalse", func(t *testing.T) {
		t.Parallel()
		c, err := config.FromEnv(env(map[string]string{"APPCITAS_LOG_SQL": "0"}))
		if err != nil || c.LogSQL {
			t.Errorf("APPCITAS_LOG_SQL=0: LogSQL %v, %v; want false", c.LogSQL, err)
		}
	})

	bad := []struct {
		name, key, value string
	}{
		{"LogLevel", "APPCITAS_LOG_LEVEL", "verbose"},
		{"LogSQL", "APPCITAS_LOG_SQL", "yes please"},
		{"OneTripReads", "APPCITAS_ONE_TRIP_READS", "sí"},
		{"LockTimeoutNotADuration", "APPCITAS_MIGRATION_LOCK_TIMEOUT", "10"},
		{"LockTimeoutZero", "APPCITAS_MIGRATION_LOCK_TIMEOUT", "0s"},
		{"LockTimeoutNegative", "APPCITAS_MIGRATION_LOCK_TIMEOUT", "-1s"},
		{"StatementTimeout", "APPCITAS_MIGRATION_STATEMENT_TIMEOUT", "forever"},
		{"ServersNoEquals", "APPCITAS_SERVERS", "eu"},
		{"ServersDefault", "APPCITAS_SERVERS", "default=postgres://x/y"},
		{"BackupEveryTooOften", "APPCITAS_BACKUP_EVERY", "30s"},
		{"BackupEveryNegative", "APPCITAS_BACKUP_EVERY", "-1h"},
		{"BackupKeepDailyNotANumber", "APPCITAS_BACKUP_KEEP_DAILY", "siete"},
		{"BackupKeepWeeklyNegative", "APPCITAS_BACKUP_KEEP_WEEKLY", "-1"},
		{"CheckoutExpiryNotADuration", "APPCITAS_CHECKOUT_EXPIRY", "un día"},
		{"StatementCacheNegative", "APPCITAS_STATEMENT_CACHE", "-1"},
		{"StatementCacheNotANumber", "APPCITAS_STATEMENT_CACHE", "mucho"},
		{"SetupCacheRowsNegative", "APPCITAS_SETUP_CACHE_ROWS", "-5"},
		{"SetupCacheRowsNotANumber", "APPCITAS_SETUP_CACHE_ROWS", "un millón"},
		{"NoticeSendingTimeoutZero", "APPCITAS_NOTICE_SENDING_TIMEOUT", "0s"},
		{"MetricsTokenTooShort", "APPCITAS_METRICS_TOKEN", "secreto"},
		{"PoolerUnknown", "APPCITAS_POOLER", "session"},
		{"LogFormatUnknown", "APPCITAS_LOG_FORMAT", "logfmt"},
	}
	for _, tt := range bad {
		t.Run("Rejects"+tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := config.FromEnv(env(map[string]string{tt.key: tt.value}))
			if err == nil || !strings.Contains(err.Error(), tt.key) {
				t.Errorf("%s=%q: err = %v; want an error naming %s", tt.key, tt.value, err, tt.key)
			}
		})
	}
}

func TestParseServers(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   string
		want map[string]string // nil when an error is expected
	}{
		{"Empty", "", map[string]string{}},
		{"One", "eu=postgres://eu/appcitas", map[string]string{"eu": "postgres://eu/appcitas"}},
		{"SemicolonsAndSpaces", " eu = postgres://eu/a ; us=postgres://us/a;; ", map[string]string{"eu": "postgres://eu/a", "us": "postgres://us/a"}},
		{"Newlines", "eu=postgres://eu/a\nus=postgres://us/a\n", map[string]string{"eu": "postgres://eu/a", "us": "postgres://us/a"}},
		{"URLWithEquals", "eu=postgres://eu/a?sslmode=require&application_name=x", map[string]string{"eu": "postgres://eu/a?sslmode=require&application_name=x"}},
		{"KeywordValueURL", "eu=host=eu dbname=a", map[string]string{"eu": "host=eu dbname=a"}},
		{"NoURL", "eu=", nil},
		{"NoName", "=postgres://x", nil},
		{"NoEquals", "postgres://x", nil},
		{"Duplicate", "eu=postgres://a;eu=postgres://b", nil},
		{"Default", "default=postgres://a", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := config.ParseServers(tt.in)
			if tt.want == nil {
				if err == nil {
					t.Errorf("ParseServers(%q) = %v; want an error", tt.in, got)
				}
				return
			}
			if err != nil || !maps.Equal(got, tt.want) {
				t.Errorf("ParseServers(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
			}
		})
	}
}

func TestBillingDurations(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name                 string
		env                  map[string]string
		wantExpiry, wantSend time.Duration
	}{
		{"Defaults", nil, 24 * time.Hour, 10 * time.Minute},
		{"FromTheEnvironment", map[string]string{"APPCITAS_CHECKOUT_EXPIRY": "2h", "APPCITAS_NOTICE_SENDING_TIMEOUT": "90s"}, 2 * time.Hour, 90 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, err := config.FromEnv(env(tt.env))
			if err != nil {
				t.Fatal(err)
			}
			if c.Billing.CheckoutExpiry != tt.wantExpiry || c.Billing.NoticeSendingTimeout != tt.wantSend {
				t.Errorf("CheckoutExpiry %v, NoticeSendingTimeout %v; want %v, %v",
					c.Billing.CheckoutExpiry, c.Billing.NoticeSendingTimeout, tt.wantExpiry, tt.wantSend)
			}
		})
	}
}

// TestWompiSimulator checks when serve runs the Wompi simulator: on the embedded database by
// default, with DATABASE_URL only when asked, never beside real keys.
func TestWompiSimulator(t *testing.T) {
	t.Parallel()
	keys := map[string]string{"WOMPI_PUBLIC_KEY": "pub_test_x", "WOMPI_PRIVATE_KEY": "prv_test_x",
		"WOMPI_EVENTS_SECRET": "test_events_x", "WOMPI_INTEGRITY_SECRET": "test_integrity_x"}
	const db = "postgres://app@db/appcitas"
	tests := []struct {
		name string
		env  map[string]string
		want bool
	}{
		{"OnWithTheEmbeddedDatabase", nil, true},
		{"OffWithDatabaseURL", map[string]string{"DATABASE_URL": db}, false},
		{"OnWithDatabaseURLWhenAsked", map[string]string{"DATABASE_URL": db, "APPCITAS_WOMPI_SIMULATOR": "1"}, true},
		{"OffOnTheEmbeddedDatabaseWhenAsked", map[string]string{"APPCITAS_WOMPI_SIMULATOR": "0"}, false},
		{"OffWithKeys", keys, false},
		{"OffWithKeysAndDatabaseURL", withKey(keys, "DATABASE_URL", db), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, err := config.FromEnv(env(tt.env))
			if err != nil {
				t.Fatal(err)
			}
			if c.Billing.WompiSimulator != tt.want {
				t.Errorf("WompiSimulator = %v; want %v", c.Billing.WompiSimulator, tt.want)
			}
		})
	}
	t.Run("RejectsSimulatorWithKeys", func(t *testing.T) {
		t.Parallel()
		if _, err := config.FromEnv(env(withKey(keys, "APPCITAS_WOMPI_SIMULATOR", "1"))); err == nil || !strings.Contains(err.Error(), "APPCITAS_WOMPI_SIMULATOR") {
			t.Errorf("err = %v; want one naming APPCITAS_WOMPI_SIMULATOR", err)
		}
	})
	t.Run("RejectsANonBoolean", func(t *testing.T) {
		t.Parallel()
		if _, err := config.FromEnv(env(map[string]string{"APPCITAS_WOMPI_SIMULATOR": "sí"})); err == nil || !strings.Contains(err.Error(), "APPCITAS_WOMPI_SIMULATOR") {
			t.Errorf("err = %v; want one naming APPCITAS_WOMPI_SIMULATOR", err)
		}
	})
}

// withKey returns a copy of m with k set to v.
func withKey(m map[string]string, k, v string) map[string]string {
	out := maps.Clone(m)
	out[k] = v
	return out
}

func TestParseTrustedProxies(t *testing.T) {
	t.Parallel()
	t.Run("ReadsCIDRsAndAddresses", func(t *testing.T) {
		t.Parallel()
		c, err := config.FromEnv(env(map[string]string{"APPCITAS_TRUSTED_PROXIES": " 10.0.0.0/8, 127.0.0.1 ,::1, 192.168.1.7/24,"}))
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, p := range c.TrustedProxies {
			got = append(got, p.String())
		}
		if want := "10.0.0.0/8 127.0.0.1/32 ::1/128 192.168.1.0/24"; strings.Join(got, " ") != want {
			t.Errorf("TrustedProxies = %v; want %s", got, want)
		}
	})
	t.Run("DefaultsToNone", func(t *testing.T) {
		t.Parallel()
		c, err := config.FromEnv(env(nil))
		if err != nil || len(c.TrustedProxies) != 0 {
			t.Errorf("TrustedProxies = %v, %v; want none", c.TrustedProxies, err)
		}
	})
	for _, bad := range []string{"10.0.0.0/33", "proxy.local", "10.0.0", "fe80::1%eth0", "1.2.3.4/8/8"} {
		t.Run("Rejects"+bad, func(t *testing.T) {
			t.Parallel()
			_, err := config.FromEnv(env(map[string]string{"APPCITAS_TRUSTED_PROXIES": "127.0.0.1, " + bad}))
			if err == nil || !strings.Contains(err.Error(), "APPCITAS_TRUSTED_PROXIES") || !strings.Contains(err.Error(), bad) {
				t.Errorf("err = %v; want one naming APPCITAS_TRUSTED_PROXIES and %q", err, bad)
			}
		})
	}
}

func TestPublicURL(t *testing.T) {
	t.Parallel()
	t.Run("TakesAnHTTPSURLWithoutItsTrailingSlash", func(t *testing.T) {
		c, err := config.FromEnv(env(map[string]string{"APPCITAS_PUBLIC_URL": "https://citas.example.com/"}))
		if err != nil || c.PublicURL != "https://citas.example.com" {
			t.Fatalf("PublicURL = %q, %v", c.PublicURL, err)
		}
	})
	t.Run("RejectsWhatIsNotAnHTTPURL", func(t *testing.T) {
		for _, v := range []string{"citas.example.com", "ftp://x.example.com", "https://", "https://x.example.com/?a=1"} {
			if _, err := config.FromEnv(env(map[string]string{"APPCITAS_PUBLIC_URL": v})); err == nil || !strings.Contains(err.Error(), "APPCITAS_PUBLIC_URL") {
				t.Errorf("%q: err = %v", v, err)
			}
		}
	})
}
