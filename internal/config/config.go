// Package config reads appcitas's configuration from the environment.
package config

import (
	"fmt"
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
	// DataDir (APPCITAS_DATA) holds the embedded cluster and local backups. Defaults to ./.appcitas.
	DataDir string
	// Addr (APPCITAS_ADDR) is where serve listens. Defaults to 127.0.0.1:8080.
	Addr string
	// Servers (APPCITAS_SERVERS) names extra PostgreSQL servers for tenants, as
	// "name=postgres://...;name2=postgres://..." (an organization's database_name picks one).
	Servers map[string]string
	// LogSQL (APPCITAS_LOG_SQL=1) logs every SQL statement with its tenant.
	LogSQL bool
	// LogLevel (APPCITAS_LOG_LEVEL: debug, info, warn, error). Defaults to info.
	LogLevel string
	// LockTimeout (APPCITAS_MIGRATION_LOCK_TIMEOUT, a Go duration) bounds lock waits of migrations.
	// Defaults to 10s.
	LockTimeout time.Duration
	// StatementTimeout (APPCITAS_MIGRATION_STATEMENT_TIMEOUT) bounds each migration statement.
	// Defaults to 5m.
	StatementTimeout time.Duration
}

// FromEnv reads the configuration through getenv (os.Getenv in main, a map in tests).
func FromEnv(getenv func(string) string) (Config, error) {
	c := Config{
		DatabaseURL:      strings.TrimSpace(getenv("DATABASE_URL")),
		DataDir:          getenv("APPCITAS_DATA"),
		Addr:             getenv("APPCITAS_ADDR"),
		LogLevel:         strings.ToLower(getenv("APPCITAS_LOG_LEVEL")),
		LockTimeout:      10 * time.Second,
		StatementTimeout: 5 * time.Minute,
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
	if v := getenv("APPCITAS_LOG_SQL"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return Config{}, fmt.Errorf("APPCITAS_LOG_SQL=%q: want 1 or 0", v)
		}
		c.LogSQL = b
	}
	for _, d := range []struct {
		name string
		dst  *time.Duration
	}{{"APPCITAS_MIGRATION_LOCK_TIMEOUT", &c.LockTimeout}, {"APPCITAS_MIGRATION_STATEMENT_TIMEOUT", &c.StatementTimeout}} {
		if v := getenv(d.name); v != "" {
			dur, err := time.ParseDuration(v)
			if err != nil || dur <= 0 {
				return Config{}, fmt.Errorf("%s=%q: want a positive duration such as 10s", d.name, v)
			}
			*d.dst = dur
		}
	}
	servers, err := ParseServers(getenv("APPCITAS_SERVERS"))
	if err != nil {
		return Config{}, err
	}
	c.Servers = servers
	return c, nil
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
			return nil, fmt.Errorf("APPCITAS_SERVERS: %q is not name=postgres://...", part)
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
