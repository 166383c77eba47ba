package pgtest

import (
	"context"
	"crypto/rand"
	"fmt"
	"net/url"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/appcitas/appcitas/internal/pgserver"
)

// EnvURL names the environment variable that points the tests at an
// existing server instead of a throwaway cluster.
const EnvURL = "TEST_DATABASE_URL"

// harness is what Main sets up for the tests of one binary.
type harness struct {
	// adminURL connects to the maintenance database, where databases are
	// created and dropped.
	adminURL string
	// server is the throwaway cluster; nil with TEST_DATABASE_URL.
	server *pgserver.Server
}

// current is set by Main before any test runs and only read afterwards.
var current *harness

// Main starts one throwaway cluster for the test binary (unless
// TEST_DATABASE_URL is set), runs the tests, stops the cluster and removes
// it, and returns the exit code. Use it from TestMain:
//
//	func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }
func Main(m *testing.M) int {
	if u := os.Getenv(EnvURL); u != "" {
		current = &harness{adminURL: u}
		return m.Run()
	}

	dir, err := os.MkdirTemp("", "appcitas-pgtest-")
	if err != nil {
		fmt.Fprintf(os.Stderr, "pgtest: creating cluster directory: %v\n", err)
		return 1
	}
	defer os.RemoveAll(dir)
	// As root, PostgreSQL runs as the postgres user, which must enter the
	// directory MkdirTemp made 0700.
	if os.Geteuid() == 0 {
		if err := os.Chmod(dir, 0o711); err != nil {
			fmt.Fprintf(os.Stderr, "pgtest: %v\n", err)
			return 1
		}
	}

	ctx := context.Background()
	server, err := pgserver.Start(ctx, pgserver.Options{DataDir: dir, Fast: true})
	if err != nil {
		fmt.Fprintf(os.Stderr, "pgtest: starting a throwaway PostgreSQL cluster: %v\n"+
			"pgtest: install PostgreSQL or set %s to a server where the tests may create databases\n", err, EnvURL)
		return 1
	}
	current = &harness{adminURL: server.URLFor("postgres"), server: server}

	code := m.Run()

	if err := server.Stop(ctx); err != nil {
		fmt.Fprintf(os.Stderr, "pgtest: stopping the throwaway cluster: %v\n", err)
		if code == 0 {
			code = 1
		}
	}
	return code
}

// NewDatabase creates a fresh, empty database for one test on the cluster
// Main set up, drops it (WITH (FORCE), closing leftover connections) when
// the test ends, and returns its connection string.
func NewDatabase(t testing.TB) string {
	t.Helper()
	h := get(t)
	name := databaseName(t.Name())

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	admin := connect(ctx, t, h.adminURL)
	defer admin.Close(context.Background())
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		t.Fatalf("pgtest: creating database %s: %v", name, err)
	}

	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		admin := connect(ctx, t, h.adminURL)
		defer admin.Close(context.Background())
		if _, err := admin.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)"); err != nil {
			t.Errorf("pgtest: dropping database %s: %v", name, err)
		}
	})

	u, err := withDatabase(h.adminURL, name)
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	return u
}

// AdminURL returns the connection string of the cluster's maintenance
// database (or TEST_DATABASE_URL as given), for tests that need it.
func AdminURL(t testing.TB) string {
	t.Helper()
	return get(t).adminURL
}

// Server returns the cluster Main started, or nil when TEST_DATABASE_URL is
// used.
func Server(t testing.TB) *pgserver.Server {
	t.Helper()
	return get(t).server
}

func get(t testing.TB) *harness {
	t.Helper()
	if current == nil {
		t.Fatalf("pgtest: no database server: call pgtest.Main from TestMain " +
			"(func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) })")
	}
	return current
}

func connect(ctx context.Context, t testing.TB, connString string) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(ctx, connString)
	if err != nil {
		t.Fatalf("pgtest: connecting to the test server: %v", err)
	}
	return conn
}

// databaseName returns a unique database name that starts with the test's
// name, to recognise leftovers on a shared TEST_DATABASE_URL server.
func databaseName(testName string) string {
	prefix := regexp.MustCompile(`[^a-z0-9]+`).ReplaceAllString(strings.ToLower(testName), "_")
	prefix = strings.Trim(prefix, "_")
	if len(prefix) > 32 {
		prefix = prefix[:32]
	}
	return "pgtest_" + prefix + "_" + strings.ToLower(rand.Text()[:12])
}

// withDatabase returns connString pointing at database instead. It takes
// both URLs and keyword/value strings ("host=... dbname=...").
func withDatabase(connString, database string) (string, error) {
	if strings.HasPrefix(connString, "postgres://") || strings.HasPrefix(connString, "postgresql://") {
		u, err := url.Parse(connString)
		if err != nil {
			return "", fmt.Errorf("parsing %s: %w", EnvURL, err)
		}
		u.Path = "/" + database
		u.RawPath = ""
		return u.String(), nil
	}
	// In a keyword/value string the last dbname wins.
	return connString + " dbname=" + database, nil
}
