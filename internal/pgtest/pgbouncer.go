package pgtest

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// EnvPgBouncer names the environment variable that points the tests at a pgbouncer binary.
// Defaults to pgbouncer on PATH, then /usr/sbin/pgbouncer (Debian's package).
const EnvPgBouncer = "PGBOUNCER"

// BouncerOptions configures [PgBouncer].
type BouncerOptions struct {
	// PoolSize is how many server connections PgBouncer keeps per database and user
	// (default_pool_size). Defaults to 2, so that many clients share few backends.
	PoolSize int
	// IgnoreStartupParameters lists startup parameters PgBouncer accepts and drops
	// (ignore_startup_parameters). Defaults to none: PgBouncer refuses a client that sends one it
	// does not know.
	IgnoreStartupParameters []string
}

// PgBouncer starts a throwaway PgBouncer in transaction mode (pool_mode = transaction) in front
// of the server of databaseURL and returns databaseURL with its host and port replaced by
// PgBouncer's. It stops PgBouncer when the test ends.
//
// It authenticates clients with SCRAM-SHA-256 against the user and password of databaseURL. As
// root it runs PgBouncer as the postgres OS user: PgBouncer refuses to run as root. When
// PgBouncer is not installed the test is skipped, or fails when CI=true (.ci/run installs it).
func PgBouncer(t testing.TB, databaseURL string, opts BouncerOptions) string {
	t.Helper()
	bin := pgbouncerPath(t)
	if opts.PoolSize <= 0 {
		opts.PoolSize = 2
	}
	u, err := url.Parse(databaseURL)
	if err != nil || u.User == nil {
		t.Fatalf("pgtest: PgBouncer needs a postgres:// URL with a user: %q", databaseURL)
	}
	password, _ := u.User.Password()
	host, port, err := net.SplitHostPort(u.Host)
	if err != nil {
		t.Fatalf("pgtest: PgBouncer: reading the server address of %q: %v", databaseURL, err)
	}

	dir, err := os.MkdirTemp("", "appcitas-pgbouncer-")
	if err != nil {
		t.Fatalf("pgtest: PgBouncer: %v", err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	listen := freePort(t)
	cfg := fmt.Sprintf(`[databases]
* = host=%s port=%s

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = %d
unix_socket_dir =
auth_type = scram-sha-256
auth_file = %s
pool_mode = transaction
default_pool_size = %d
max_client_conn = 500
max_db_connections = %d
server_lifetime = 3600
server_idle_timeout = 60
ignore_startup_parameters = %s
logfile = %s
admin_users = %s
`, host, port, listen, filepath.Join(dir, "userlist.txt"), opts.PoolSize, opts.PoolSize,
		strings.Join(opts.IgnoreStartupParameters, ","), filepath.Join(dir, "pgbouncer.log"), u.User.Username())
	files := map[string]string{
		"pgbouncer.ini": cfg,
		"userlist.txt":  fmt.Sprintf("%q %q\n", u.User.Username(), password),
	}
	cred := bouncerCredential(t)
	for name, content := range files {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatalf("pgtest: PgBouncer: %v", err)
		}
		if cred != nil {
			if err := os.Chown(path, int(cred.Uid), int(cred.Gid)); err != nil {
				t.Fatalf("pgtest: PgBouncer: %v", err)
			}
		}
	}
	if cred != nil {
		// PgBouncer writes its log there as the postgres user.
		if err := os.Chown(dir, int(cred.Uid), int(cred.Gid)); err != nil {
			t.Fatalf("pgtest: PgBouncer: %v", err)
		}
	}

	var out bytes.Buffer
	cmd := exec.Command(bin, filepath.Join(dir, "pgbouncer.ini"))
	cmd.Stdout, cmd.Stderr = &out, &out
	// PgBouncer dies with the test binary, should Cleanup not run.
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred, Pdeathsig: syscall.SIGKILL, Setpgid: true}
	// Started from a goroutine locked to its thread, which lives as long as PgBouncer: Linux sends
	// the parent-death signal when the forking thread ends (see pgserver's child.go).
	started, done := make(chan error, 1), make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		if err := cmd.Start(); err != nil {
			started <- err
			return
		}
		started <- nil
		done <- cmd.Wait()
	}()
	if err := <-started; err != nil {
		t.Fatalf("pgtest: starting PgBouncer (%s): %v", bin, err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGINT)
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-done
		}
	})

	through := *u
	through.Host = net.JoinHostPort("127.0.0.1", strconv.Itoa(listen))
	bouncerURL := through.String()
	deadline := time.Now().Add(15 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		conn, err := pgx.Connect(ctx, bouncerURL)
		if err == nil {
			err = conn.Ping(ctx)
			conn.Close(ctx)
		}
		cancel()
		if err == nil {
			return bouncerURL
		}
		select {
		case werr := <-done:
			log, _ := os.ReadFile(filepath.Join(dir, "pgbouncer.log"))
			t.Fatalf("pgtest: PgBouncer exited (%v): %s%s", werr, out.String(), log)
		default:
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(filepath.Join(dir, "pgbouncer.log"))
			t.Fatalf("pgtest: PgBouncer does not answer at %s: %v\n%s", through.Host, err, log)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// pgbouncerPath returns the pgbouncer binary, or skips the test (fails it when CI=true).
func pgbouncerPath(t testing.TB) string {
	t.Helper()
	if p := os.Getenv(EnvPgBouncer); p != "" {
		return p
	}
	if p, err := exec.LookPath("pgbouncer"); err == nil {
		return p
	}
	const debian = "/usr/sbin/pgbouncer"
	if _, err := os.Stat(debian); err == nil {
		return debian
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("pgbouncer is not installed (apt-get install -y pgbouncer; .ci/run installs it): the tests behind PgBouncer cannot run")
	}
	t.Skipf("pgbouncer is not installed (apt-get install -y pgbouncer): skipping a test behind PgBouncer")
	return ""
}

// bouncerCredential returns the postgres OS user's credential when running as root (PgBouncer
// refuses root), else nil.
func bouncerCredential(t testing.TB) *syscall.Credential {
	t.Helper()
	if os.Geteuid() != 0 {
		return nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		t.Fatalf("pgtest: as root, PgBouncer runs as the postgres OS user, which the PostgreSQL package creates: %v", err)
	}
	uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
	gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
	if err1 != nil || err2 != nil {
		t.Fatalf("pgtest: reading the postgres OS user's ids: %v %v", err1, err2)
	}
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
}

// freePort returns a TCP port on 127.0.0.1 that nothing listens on right now.
func freePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("pgtest: finding a free port: %v", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}
