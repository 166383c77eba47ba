// Package config reads appcitas's configuration from the environment.
package config

import (
	"fmt"
	"net/netip"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Config is the whole configuration. Every field has a default, so an empty environment gives a
// working development setup on the embedded PostgreSQL.
type Config struct {
	// DatabaseURL (DATABASE_URL) is the server holding public (the "default" server). Empty means:
	// run the embedded PostgreSQL cluster under DataDir.
	DatabaseURL string
	// ListenURL (APPCITAS_LISTEN_URL) is a direct connection to the server of DATABASE_URL, never
	// through a pooler, for the LISTEN that evicts cached organizations and subscriptions at once.
	// Empty: DATABASE_URL's server as DATABASE_URL reaches it. Set it when DATABASE_URL points at
	// PgBouncer.
	ListenURL string
	// Pooler (APPCITAS_POOLER: auto, none, transaction) says whether the servers are reached
	// through a connection pooler in transaction mode (PgBouncer with pool_mode = transaction).
	// Behind one, the statement cache is off and the job queue polls instead of listening. auto
	// detects one when each server's pools open. Defaults to auto.
	Pooler string
	// DataDir (APPCITAS_DATA) holds the embedded cluster and local backups. Defaults to ./.appcitas.
	DataDir string
	// Addr (APPCITAS_ADDR) is where serve listens. Defaults to 127.0.0.1:8080.
	Addr string
	// Servers (APPCITAS_SERVERS) names extra PostgreSQL servers for tenants, as
	// "name=postgres://...;name2=postgres://..." (an organization's database_name picks one).
	// Each process registers them in the server catalog (add_server's), and reaches them through
	// these URLs, credentials included. Servers registered with add_server need no entry here.
	Servers map[string]string
	// LogSQL (APPCITAS_LOG_SQL=1) logs every SQL statement with its tenant. Arguments that may
	// hold a secret (password and token hashes, any bytea) are logged as "[redacted]".
	LogSQL bool
	// StatementCache (APPCITAS_STATEMENT_CACHE) is how many prepared statements each tenant
	// connection keeps, each a tenant's own; 0 keeps none (PgBouncer in transaction mode before
	// 1.21). Defaults to 4096.
	StatementCache int
	// SetupCacheRows (APPCITAS_SETUP_CACHE_ROWS) is how many set-up rows (branches, services,
	// members, working hours, exceptions) of every tenant serve keeps in memory; 0 keeps none, so
	// that every request reads them from its tenant's tables. Defaults to 500,000 (under 200 MB).
	SetupCacheRows int
	// NoOneTripReads (APPCITAS_ONE_TRIP_READS=0) sends the day's appointments and free slots
	// through the scope's three round trips, as every other request, instead of one. Defaults to
	// false: one round trip when the caller's set-up is cached.
	NoOneTripReads bool
	// LogLevel (APPCITAS_LOG_LEVEL: debug, info, warn, error). Defaults to info.
	LogLevel string
	// LogFormat (APPCITAS_LOG_FORMAT: text, json) is how log lines are written: slog's text, or one
	// JSON object per line for log shippers. Defaults to text.
	LogFormat string
	// LockTimeout (APPCITAS_MIGRATION_LOCK_TIMEOUT, a Go duration) bounds lock waits of migrations.
	// Defaults to 10s.
	LockTimeout time.Duration
	// StatementTimeout (APPCITAS_MIGRATION_STATEMENT_TIMEOUT) bounds each migration statement.
	// Defaults to 5m.
	StatementTimeout time.Duration
	// JWTSecret (APPCITAS_JWT_SECRET, at least 32 bytes) signs access tokens. serve refuses to start
	// without it unless on the embedded database, where one is generated under DataDir.
	JWTSecret string
	// MetricsToken (APPCITAS_METRICS_TOKEN, at least 16 bytes) is the bearer token GET /metrics
	// requires. Empty: /metrics is open (serve warns outside the embedded database).
	MetricsToken string
	// AccessTokenTTL (APPCITAS_ACCESS_TOKEN_TTL, a Go duration) is the access tokens' lifetime.
	// Defaults to 15m.
	AccessTokenTTL time.Duration
	// RefreshTokenTTL (APPCITAS_REFRESH_TOKEN_TTL) is the refresh tokens' lifetime. Defaults to 720h.
	RefreshTokenTTL time.Duration
	// BackupDir (APPCITAS_BACKUP_DIR) holds per-tenant backups, as <schema>/<timestamp>.appcitas-backup.
	// Defaults to $APPCITAS_DATA/backups.
	BackupDir string
	// BackupEvery (APPCITAS_BACKUP_EVERY, a Go duration; 0 switches scheduled backups off) is how
	// often serve backs up every active tenant, spread over the period. Defaults to 24h.
	BackupEvery time.Duration
	// BackupKeepDaily (APPCITAS_BACKUP_KEEP_DAILY) is how many daily backups per tenant are kept.
	// Defaults to 7.
	BackupKeepDaily int
	// BackupKeepWeekly (APPCITAS_BACKUP_KEEP_WEEKLY) is how many weekly backups (the newest of each
	// ISO week beyond the daily ones) per tenant are kept. Defaults to 4.
	BackupKeepWeekly int
	// TrustedProxies (APPCITAS_TRUSTED_PROXIES: comma-separated CIDRs or addresses, such as
	// "10.0.0.0/8, 127.0.0.1") are the proxies whose X-Forwarded-For serve believes. The client
	// address (login and signup rate limits, request logs) is the rightmost X-Forwarded-For entry
	// that is not a trusted proxy, when the peer is one. Defaults to none: the peer's address.
	TrustedProxies []netip.Prefix
	// PublicURL (APPCITAS_PUBLIC_URL, e.g. https://citas.example.com) is where people reach serve:
	// invitation e-mails link to {PublicURL}/app, booking confirmations to {PublicURL}/r/... .
	// Defaults to "": the scheme and host of the request that sends the e-mail.
	PublicURL string
	// Billing configures Wompi and owner notifications (see billing.go).
	Billing Billing
	// Webhooks configures webhook delivery (see webhooks.go).
	Webhooks Webhooks
	// Reminders configures reminders by e-mail and WhatsApp (see reminders.go).
	Reminders Reminders
}

// MinMetricsTokenLen is the shortest APPCITAS_METRICS_TOKEN accepted.
const MinMetricsTokenLen = 16

// FromEnv reads the configuration through getenv (os.Getenv in main, a map in tests).
func FromEnv(getenv func(string) string) (Config, error) {
	c := Config{
		DatabaseURL:      strings.TrimSpace(getenv("DATABASE_URL")),
		ListenURL:        strings.TrimSpace(getenv("APPCITAS_LISTEN_URL")),
		Pooler:           strings.ToLower(strings.TrimSpace(getenv("APPCITAS_POOLER"))),
		DataDir:          getenv("APPCITAS_DATA"),
		Addr:             getenv("APPCITAS_ADDR"),
		LogLevel:         strings.ToLower(getenv("APPCITAS_LOG_LEVEL")),
		LogFormat:        strings.ToLower(strings.TrimSpace(getenv("APPCITAS_LOG_FORMAT"))),
		LockTimeout:      10 * time.Second,
		StatementTimeout: 5 * time.Minute,
		JWTSecret:        strings.TrimSpace(getenv("APPCITAS_JWT_SECRET")),
		MetricsToken:     strings.TrimSpace(getenv("APPCITAS_METRICS_TOKEN")),
		AccessTokenTTL:   15 * time.Minute,
		RefreshTokenTTL:  720 * time.Hour,
		StatementCache:   4096,
		SetupCacheRows:   500_000,
	}
	if c.DataDir == "" {
		c.DataDir = ".appcitas"
	}
	if c.Addr == "" {
		c.Addr = "127.0.0.1:8080"
	}
	switch c.LogLevel {
	case "":
		c.LogLevel = "info"
	case "debug", "info", "warn", "error":
	default:
		return Config{}, fmt.Errorf("APPCITAS_LOG_LEVEL=%q: want debug, info, warn or error", c.LogLevel)
	}
	switch c.LogFormat {
	case "":
		c.LogFormat = "text"
	case "text", "json":
	default:
		return Config{}, fmt.Errorf("APPCITAS_LOG_FORMAT=%q: want text or json", c.LogFormat)
	}
	switch c.Pooler {
	case "":
		c.Pooler = "auto"
	case "auto", "none", "transaction":
	default:
		return Config{}, fmt.Errorf("APPCITAS_POOLER=%q: want auto, none or transaction", c.Pooler)
	}
	if v := getenv("APPCITAS_ONE_TRIP_READS"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return Config{}, fmt.Errorf("APPCITAS_ONE_TRIP_READS=%q: want 1 or 0", v)
		}
		c.NoOneTripReads = !b
	}
	if v := getenv("APPCITAS_LOG_SQL"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return Config{}, fmt.Errorf("APPCITAS_LOG_SQL=%q: want 1 or 0", v)
		}
		c.LogSQL = b
	}
	if v := strings.TrimRight(strings.TrimSpace(getenv("APPCITAS_PUBLIC_URL")), "/"); v != "" {
		u, err := url.Parse(v)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
			return Config{}, fmt.Errorf("APPCITAS_PUBLIC_URL=%q: want an http or https URL such as https://citas.example.com", v)
		}
		c.PublicURL = v
	}
	if n := len(c.MetricsToken); n > 0 && n < MinMetricsTokenLen {
		return Config{}, fmt.Errorf("APPCITAS_METRICS_TOKEN is %d bytes: use at least %d (e.g. `openssl rand -hex 24`)", n, MinMetricsTokenLen)
	}
	if v := getenv("APPCITAS_STATEMENT_CACHE"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 || n > 1<<20 {
			return Config{}, fmt.Errorf("APPCITAS_STATEMENT_CACHE=%q: want a number of statements such as 1024, or 0 to keep none", v)
		}
		c.StatementCache = n
	}
	if v := getenv("APPCITAS_SETUP_CACHE_ROWS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 || n > 1<<30 {
			return Config{}, fmt.Errorf("APPCITAS_SETUP_CACHE_ROWS=%q: want a number of rows such as 500000, or 0 to keep none", v)
		}
		c.SetupCacheRows = n
	}
	for _, d := range []struct {
		name string
		dst  *time.Duration
	}{{"APPCITAS_MIGRATION_LOCK_TIMEOUT", &c.LockTimeout}, {"APPCITAS_MIGRATION_STATEMENT_TIMEOUT", &c.StatementTimeout},
		{"APPCITAS_ACCESS_TOKEN_TTL", &c.AccessTokenTTL}, {"APPCITAS_REFRESH_TOKEN_TTL", &c.RefreshTokenTTL}} {
		if v := getenv(d.name); v != "" {
			dur, err := time.ParseDuration(v)
			if err != nil || dur <= 0 {
				return Config{}, fmt.Errorf("%s=%q: want a positive duration such as 10s", d.name, v)
			}
			*d.dst = dur
		}
	}
	if err := c.readBackupSettings(getenv); err != nil {
		return Config{}, err
	}
	if err := c.readBillingSettings(getenv); err != nil {
		return Config{}, err
	}
	if err := c.readWebhookSettings(getenv); err != nil {
		return Config{}, err
	}
	if err := c.readReminderSettings(getenv); err != nil {
		return Config{}, err
	}
	proxies, err := ParseTrustedProxies(getenv("APPCITAS_TRUSTED_PROXIES"))
	if err != nil {
		return Config{}, err
	}
	c.TrustedProxies = proxies
	servers, err := ParseServers(getenv("APPCITAS_SERVERS"))
	if err != nil {
		return Config{}, err
	}
	c.Servers = servers
	return c, nil
}

// ParseTrustedProxies reads a comma-separated list of CIDRs ("10.0.0.0/8") or addresses
// ("127.0.0.1", a single-address prefix). An empty list trusts no proxy.
func ParseTrustedProxies(s string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for part := range strings.SplitSeq(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		if strings.Contains(part, "/") {
			p, err := netip.ParsePrefix(part)
			if err != nil {
				return nil, fmt.Errorf("APPCITAS_TRUSTED_PROXIES: %q is not a CIDR such as 10.0.0.0/8: %w", part, err)
			}
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(part)
		if err == nil && a.Zone() != "" {
			err = fmt.Errorf("zones are not supported")
		}
		if err != nil {
			return nil, fmt.Errorf("APPCITAS_TRUSTED_PROXIES: %q is not an address or a CIDR such as 10.0.0.0/8: %w", part, err)
		}
		a = a.Unmap()
		out = append(out, netip.PrefixFrom(a, a.BitLen()))
	}
	return out, nil
}

// ParseServers reads "name=url;name2=url2" into a map. The name "default" is reserved for
// DATABASE_URL.
func ParseServers(s string) (map[string]string, error) {
	out := map[string]string{}
	for _, part := range strings.FieldsFunc(s, func(r rune) bool { return r == ';' || r == '\n' }) {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		name, url, ok := strings.Cut(part, "=")
		name, url = strings.TrimSpace(name), strings.TrimSpace(url)
		if !ok || name == "" || url == "" {
			return nil, fmt.Errorf("APPCITAS_SERVERS: %q is not of the form name=postgres://host/db", part)
		}
		if name == "default" {
			return nil, fmt.Errorf("APPCITAS_SERVERS: the name \"default\" is DATABASE_URL's")
		}
		if _, dup := out[name]; dup {
			return nil, fmt.Errorf("APPCITAS_SERVERS: server %q named twice", name)
		}
		out[name] = url
	}
	return out, nil
}

func (c *Config) readBackupSettings(getenv func(string) string) error {
	c.BackupDir = getenv("APPCITAS_BACKUP_DIR")
	if c.BackupDir == "" {
		c.BackupDir = filepath.Join(c.DataDir, "backups")
	}
	c.BackupEvery, c.BackupKeepDaily, c.BackupKeepWeekly = 24*time.Hour, 7, 4
	if v := getenv("APPCITAS_BACKUP_EVERY"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < 0 || (d > 0 && d < time.Minute) {
			return fmt.Errorf("APPCITAS_BACKUP_EVERY=%q: want a duration of at least 1m such as 24h, or 0 to switch scheduled backups off", v)
		}
		c.BackupEvery = d
	}
	for _, k := range []struct {
		name string
		dst  *int
	}{{"APPCITAS_BACKUP_KEEP_DAILY", &c.BackupKeepDaily}, {"APPCITAS_BACKUP_KEEP_WEEKLY", &c.BackupKeepWeekly}} {
		if v := getenv(k.name); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n < 0 || n > 10000 {
				return fmt.Errorf("%s=%q: want a number of backups such as 7", k.name, v)
			}
			*k.dst = n
		}
	}
	return nil
}
