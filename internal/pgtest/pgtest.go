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
	// ownRoles is whether NewDatabase gives each database a login role of
	// its own: the admin is a superuser or has CREATEROLE.
	ownRoles bool
	// superuser is whether the admin is a superuser.
	superuser bool
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
		h, err := inspect(context.Background(), u)
		if err != nil {
			fmt.Fprintf(os.Stderr, "pgtest: %v\n", err)
			return 1
		}
		current = h
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
	current = &harness{adminURL: server.SuperuserURLFor("postgres"), server: server, ownRoles: true, superuser: true}

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
//
// The connection string logs in as a role of the database's own, like the
// one serve runs as in production: not a superuser, NOINHERIT, CREATEROLE,
// and the owner of the database. With TEST_DATABASE_URL set to a role that
// can neither create roles nor is a superuser, it logs in as that role.
// SuperuserURL gives the same database as the superuser.
func NewDatabase(t testing.TB) string {
	t.Helper()
	h := get(t)
	name := databaseName(t.Name())

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	admin := connect(ctx, t, h.adminURL)
	defer admin.Close(context.Background())
	db := pgx.Identifier{name}.Sanitize()
	password := rand.Text()
	create := "CREATE DATABASE " + db
	if h.ownRoles {
		// The role has the database's name, unique on the cluster too.
		roleSQL := "CREATE ROLE " + db + " LOGIN NOINHERIT CREATEROLE PASSWORD '" + password + "'"
		if !h.superuser {
			// Owning needs membership; a CREATEROLE admin grants itself the role.
			roleSQL += "; GRANT " + db + " TO CURRENT_USER"
		}
		if _, err := admin.Exec(ctx, roleSQL); err != nil {
			t.Fatalf("pgtest: creating role %s: %v", name, err)
		}
		create += " OWNER " + db
	}
	if _, err := admin.Exec(ctx, create); err != nil {
		t.Fatalf("pgtest: creating database %s: %v", name, err)
	}
	u, err := withDatabase(h.adminURL, name)
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	if h.ownRoles {
		// A NOINHERIT role does not use the rights of pg_database_owner, which owns public.
		conn := connect(ctx, t, u)
		_, err := conn.Exec(ctx, "ALTER SCHEMA public OWNER TO "+db)
		conn.Close(context.Background())
		if err != nil {
			t.Fatalf("pgtest: giving schema public of %s to its role: %v", name, err)
		}
	}

	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		admin := connect(ctx, t, h.adminURL)
		defer admin.Close(context.Background())
		if _, err := admin.Exec(ctx, "DROP DATABASE IF EXISTS "+db+" WITH (FORCE)"); err != nil {
			t.Errorf("pgtest: dropping database %s: %v", name, err)
		}
		if h.ownRoles {
			// The tenant roles the test made stay behind: roles belong to the cluster.
			if _, err := admin.Exec(ctx, "DROP ROLE IF EXISTS "+db); err != nil {
				t.Logf("pgtest: dropping role %s: %v", name, err)
			}
		}
	})

	if h.ownRoles {
		u = withUser(u, name, password)
	}
	return u
}

// RolePerDatabase reports whether NewDatabase logs in as a role of the
// database's own (NOINHERIT, CREATEROLE, not a superuser): always on the
// throwaway cluster, and with a TEST_DATABASE_URL role that can create roles.
func RolePerDatabase(t testing.TB) bool {
	t.Helper()
	return get(t).ownRoles
}

// SuperuserURL returns the connection string of connString's database as
// the admin (the cluster's superuser, or TEST_DATABASE_URL's role), for
// tests that look where the application's role may not.
func SuperuserURL(t testing.TB, connString string) string {
	t.Helper()
	cfg, err := pgx.ParseConfig(connString)
	if err != nil {
		t.Fatalf("pgtest: parsing %q: %v", connString, err)
	}
	u, err := withDatabase(get(t).adminURL, cfg.Database)
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

// inspect returns the harness for TEST_DATABASE_URL: whether its role is a
// superuser and whether it can create roles.
func inspect(ctx context.Context, connString string) (*harness, error) {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	conn, err := pgx.Connect(ctx, connString)
	if err != nil {
		return nil, fmt.Errorf("connecting to %s: %w", EnvURL, err)
	}
	defer conn.Close(context.Background())
	h := &harness{adminURL: connString}
	if err := conn.QueryRow(ctx, "SELECT rolsuper, rolsuper OR rolcreaterole FROM pg_roles WHERE rolname = current_user").
		Scan(&h.superuser, &h.ownRoles); err != nil {
		return nil, fmt.Errorf("reading the privileges of %s's role: %w", EnvURL, err)
	}
	return h, nil
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

// withUser returns connString logging in as user with password. It takes
// both URLs and keyword/value strings.
func withUser(connString, user, password string) string {
	if strings.HasPrefix(connString, "postgres://") || strings.HasPrefix(connString, "postgresql://") {
		u, err := url.Parse(connString)
		if err != nil {
			return connString // withDatabase parsed it already
		}
		u.User = url.UserPassword(user, password)
		return u.String()
	}
	// In a keyword/value string the last one of each wins.
	return connString + " user=" + user + " password=" + password
}
