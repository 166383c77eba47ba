package pgserver

import (
	"bufio"
	"context"
	"errors"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

const (
	helperEnv   = "PGSERVER_TEST_HELPER_DATADIR"
	helperReady = "PGSERVER_TEST_HELPER_READY"
)

func TestServer(t *testing.T) {
	t.Parallel()

	t.Run("RestartsAndRecoversFromAKillOnTheSamePort", func(t *testing.T) {
		t.Parallel()
		// Fast turns synchronous_commit off: a commit acknowledged just before a kill could be lost.
		s, err := Start(t.Context(), Options{DataDir: newDataDir(t), Fast: true, Settings: map[string]string{"synchronous_commit": "on"}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			if err := s.Stop(context.Background()); err != nil {
				t.Errorf("Stop: %v", err)
			}
		})
		url := s.URL()
		exec1(t, url, "CREATE TABLE kept (n int); INSERT INTO kept VALUES (1)")
		if err := s.Restart(t.Context()); err != nil {
			t.Fatalf("Restart: %v", err)
		}
		exec1(t, url, "INSERT INTO kept VALUES (2)")
		pid := s.proc.pid
		if err := s.Kill(); err != nil {
			t.Fatalf("Kill: %v", err)
		}
		if alive(pid) {
			t.Fatalf("postmaster %d alive after Kill", pid)
		}
		if err := s.Restart(t.Context()); err != nil {
			t.Fatalf("Restart after Kill: %v", err)
		}
		if s.URL() != url {
			t.Errorf("URL changed across restarts: %s, then %s", url, s.URL())
		}
		var n int
		queryRow(t, url, "SELECT count(*) FROM kept", &n)
		if n != 2 {
			t.Errorf("%d rows after a restart and a kill, want 2", n)
		}
	})

	t.Run("StartsAndConnects", func(t *testing.T) {
		t.Parallel()
		dataDir := newDataDir(t)
		s := start(t, dataDir)

		var db, user, listen, sockets string
		queryRow(t, s.URL(), "SELECT current_database(), current_user", &db, &user)
		queryRow(t, s.SuperuserURL(), "SELECT current_setting('listen_addresses'), current_setting('unix_socket_directories')",
			&listen, &sockets)
		if db != "appcitas" || user != appRole {
			t.Errorf("connected to database %q as %q, want appcitas as %s", db, user, appRole)
		}
		var encoding, collate string
		queryRow(t, s.URL(), "SELECT current_setting('server_encoding'), datcollate FROM pg_database WHERE datname = current_database()",
			&encoding, &collate)
		if encoding != "UTF8" || collate != "C.UTF-8" {
			t.Errorf("encoding %s, collation %s; want UTF8 and C.UTF-8", encoding, collate)
		}
		if listen != "127.0.0.1" || sockets != "" {
			t.Errorf("listen_addresses = %q, unix_socket_directories = %q; want 127.0.0.1 and none", listen, sockets)
		}
		if !strings.Contains(s.URL(), "@127.0.0.1:") || !strings.HasSuffix(s.URL(), "/appcitas?sslmode=disable") {
			t.Errorf("URL() = %q, want postgres://appcitas_app:...@127.0.0.1:PORT/appcitas?sslmode=disable", s.URL())
		}
		queryRow(t, s.URLFor("postgres"), "SELECT current_database()", &db)
		if db != "postgres" {
			t.Errorf("URLFor(postgres) connected to %q", db)
		}
		var super bool
		queryRow(t, s.SuperuserURL(), "SELECT current_database(), rolsuper FROM pg_roles WHERE rolname = current_user", &db, &super)
		if db != "appcitas" || !super {
			t.Errorf("SuperuserURL() connected to %q, superuser %v; want appcitas as a superuser", db, super)
		}

		for _, name := range []string{"postgres", "pg_ctl", "pg_dump", "pg_restore", "pgbench"} {
			if _, err := os.Stat(filepath.Join(s.BinDir(), name)); err != nil {
				t.Errorf("BinDir() %s lacks %s: %v", s.BinDir(), name, err)
			}
		}
		if s.PsqlPath() == "" {
			t.Error("PsqlPath() is empty")
		}

		for _, name := range []string{"superuser-password", appPasswordFile} {
			fi, err := os.Stat(filepath.Join(dataDir, name))
			if err != nil {
				t.Fatalf("password file: %v", err)
			}
			if fi.Mode().Perm() != 0o600 || fi.Sys().(*syscall.Stat_t).Uid != uint32(os.Geteuid()) {
				t.Errorf("%s has mode %s and uid %d, want 0600 and %d", name, fi.Mode().Perm(), fi.Sys().(*syscall.Stat_t).Uid, os.Geteuid())
			}
		}
		leftovers, _ := filepath.Glob(filepath.Join(dataDir, ".initdb-pwfile-*"))
		if len(leftovers) > 0 {
			t.Errorf("initdb password file left behind: %v", leftovers)
		}
		environ, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(postmasterPID(t, dataDir)), "environ"))
		if err != nil {
			t.Fatalf("reading the postmaster's environment: %v", err)
		}
		if !slices.Contains(strings.Split(string(environ), "\x00"), "GLIBC_TUNABLES="+mallocHugePages) {
			t.Errorf("the postmaster runs without GLIBC_TUNABLES=%s (its backends' caches would be on 4 kB pages)", mallocHugePages)
		}
		if os.Geteuid() == 0 {
			pgdata, err := os.Stat(filepath.Join(dataDir, "pgdata"))
			if err != nil {
				t.Fatalf("pgdata: %v", err)
			}
			if uid := pgdata.Sys().(*syscall.Stat_t).Uid; uid == 0 {
				t.Error("pgdata is owned by root; want the postgres user")
			}
		}
	})

	t.Run("AppRoleIsNoSuperuserAndOwnsTheDatabase", func(t *testing.T) {
		t.Parallel()
		s := start(t, newDataDir(t))
		var super, inherit, createRole, createDB, owner bool
		queryRow(t, s.URL(), `SELECT r.rolsuper, r.rolinherit, r.rolcreaterole, r.rolcreatedb, d.datdba = r.oid
			FROM pg_roles r, pg_database d WHERE r.rolname = current_user AND d.datname = current_database()`,
			&super, &inherit, &createRole, &createDB, &owner)
		if super || inherit || !createRole || createDB || !owner {
			t.Errorf("login role: superuser %v, inherit %v, createrole %v, createdb %v, owns the database %v; "+
				"want false, false, true, false, true", super, inherit, createRole, createDB, owner)
		}
		// btree_gist is trusted: the database owner installs it.
		exec1(t, s.URL(), "CREATE EXTENSION IF NOT EXISTS btree_gist WITH SCHEMA public")
	})

	t.Run("HandsOverDatabaseOfEarlierLayout", func(t *testing.T) {
		t.Parallel()
		dataDir := newDataDir(t)
		s := start(t, dataDir)
		// Before the login role existed, the superuser owned the database and what was made in it.
		exec1(t, s.SuperuserURL(), `CREATE TABLE public.old (id serial PRIMARY KEY);
			CREATE FUNCTION public.old_fn() RETURNS int LANGUAGE sql AS 'SELECT 1';
			CREATE ROLE tenant_old_0123abcd NOLOGIN; CREATE SCHEMA tenant_old_0123abcd AUTHORIZATION tenant_old_0123abcd;
			CREATE TABLE tenant_old_0123abcd.t (v int); ALTER TABLE tenant_old_0123abcd.t OWNER TO tenant_old_0123abcd;
			ALTER DATABASE appcitas OWNER TO appcitas`)
		if err := s.Stop(t.Context()); err != nil {
			t.Fatalf("Stop: %v", err)
		}
		s = start(t, dataDir)
		var owner, tableOwner, fnOwner, member bool
		queryRow(t, s.URL(), `SELECT (SELECT datdba FROM pg_database WHERE datname = current_database()) = r.oid,
			(SELECT relowner FROM pg_class WHERE oid = 'public.old'::regclass) = r.oid,
			(SELECT proowner FROM pg_proc WHERE oid = 'public.old_fn()'::regprocedure) = r.oid,
			pg_has_role(current_user, 'tenant_old_0123abcd', 'MEMBER')
			FROM pg_roles r WHERE r.rolname = current_user`, &owner, &tableOwner, &fnOwner, &member)
		if !owner || !tableOwner || !fnOwner || !member {
			t.Errorf("after restart: owns database %v, table %v, function %v, member of the tenant role %v; want all true",
				owner, tableOwner, fnOwner, member)
		}
		exec1(t, s.URL(), "INSERT INTO public.old DEFAULT VALUES; SET LOCAL ROLE tenant_old_0123abcd; SELECT * FROM tenant_old_0123abcd.t")
	})

	t.Run("SecondStartAttaches", func(t *testing.T) {
		t.Parallel()
		dataDir := newDataDir(t)
		first := start(t, dataDir)
		pid := postmasterPID(t, dataDir)

		second := start(t, dataDir)
		if second.URL() != first.URL() {
			t.Errorf("attached URL %q differs from %q", second.URL(), first.URL())
		}
		if got := postmasterPID(t, dataDir); got != pid {
			t.Errorf("postmaster pid changed from %d to %d: a second cluster was started", pid, got)
		}
		if err := second.Stop(t.Context()); err != nil {
			t.Fatalf("Stop of the attached server: %v", err)
		}
		var one int
		queryRow(t, first.URL(), "SELECT 1", &one)
	})

	t.Run("DataSurvivesRestartAndStalePIDFile", func(t *testing.T) {
		t.Parallel()
		dataDir := newDataDir(t)
		s := start(t, dataDir)
		exec1(t, s.URL(), "CREATE TABLE kept (v text); INSERT INTO kept VALUES ('still here')")

		pidPath := filepath.Join(dataDir, "pgdata", "postmaster.pid")
		stale, err := os.ReadFile(pidPath)
		if err != nil {
			t.Fatalf("reading postmaster.pid: %v", err)
		}
		if err := s.Stop(t.Context()); err != nil {
			t.Fatalf("Stop: %v", err)
		}
		if _, err := os.Stat(pidPath); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("postmaster.pid still present after Stop: %v", err)
		}
		// What a crash leaves: the lock file of a postmaster that is gone,
		// owned by the server user.
		writeLike(t, pidPath, stale, filepath.Join(dataDir, "pgdata"))

		s = start(t, dataDir)
		var v string
		queryRow(t, s.URL(), "SELECT v FROM kept", &v)
		if v != "still here" {
			t.Errorf("after restart got %q, want %q", v, "still here")
		}
	})

	t.Run("KilledParentLeavesNoPostgres", func(t *testing.T) {
		t.Parallel()
		dataDir := newDataDir(t)

		cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProcess$")
		cmd.Env = append(os.Environ(), helperEnv+"="+dataDir)
		var stderr strings.Builder
		cmd.Stderr = &stderr
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatalf("starting helper: %v", err)
		}
		t.Cleanup(func() {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		})
		ready := make(chan bool, 1)
		go func() {
			sc := bufio.NewScanner(stdout)
			for sc.Scan() {
				if sc.Text() == helperReady {
					ready <- true
				}
			}
			ready <- false
		}()
		select {
		case ok := <-ready:
			if !ok {
				_ = cmd.Wait()
				t.Fatalf("helper exited before its cluster was ready: %s", stderr.String())
			}
		case <-time.After(45 * time.Second):
			t.Fatalf("helper not ready after 45s: %s", stderr.String())
		}

		pid := postmasterPID(t, dataDir)
		t.Cleanup(func() { _ = syscall.Kill(-pid, syscall.SIGKILL) })
		if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatalf("killing helper: %v", err)
		}
		_ = cmd.Wait()

		deadline := time.Now().Add(10 * time.Second)
		for alive(pid) {
			if time.Now().After(deadline) {
				t.Fatalf("postgres (pid %d) still running 10s after its parent was killed", pid)
			}
			time.Sleep(50 * time.Millisecond)
		}

		// The crashed run does not block the next one.
		s := start(t, dataDir)
		var one int
		queryRow(t, s.URL(), "SELECT 1", &one)
		if got := postmasterPID(t, dataDir); got == pid {
			t.Errorf("attached to the old postmaster %d", pid)
		}
	})

	t.Run("InitdbFallsBackToNoLocale", func(t *testing.T) {
		t.Parallel()
		dataDir := newDataDir(t)
		if err := os.Mkdir(dataDir, 0o711); err != nil {
			t.Fatal(err)
		}
		su, err := lookupServerUser()
		if err != nil {
			t.Fatal(err)
		}
		binDir, err := findBinDir()
		if err != nil {
			t.Fatal(err)
		}
		s := &Server{
			dataDir: dataDir,
			pgdata:  filepath.Join(dataDir, "pgdata"),
			binDir:  binDir,
			logger:  slog.New(slog.NewTextHandler(t.Output(), nil)),
		}
		if err := s.initCluster(t.Context(), su, true, "xx_XX.no-such-locale"); err != nil {
			t.Fatalf("initCluster with a missing locale: %v", err)
		}
		conf, err := os.ReadFile(filepath.Join(s.pgdata, "postgresql.conf"))
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(conf), "lc_messages = 'C'") {
			t.Error("postgresql.conf does not set lc_messages = 'C' after initdb --no-locale")
		}
	})

	t.Run("UnreachableParentIsReported", func(t *testing.T) {
		t.Parallel()
		if os.Geteuid() != 0 {
			t.Skip("only root runs PostgreSQL as another OS user")
		}
		dir := t.TempDir()
		openUp(t, dir)
		locked := filepath.Join(dir, "locked")
		if err := os.Mkdir(locked, 0o700); err != nil {
			t.Fatal(err)
		}
		dataDir := filepath.Join(locked, "data")

		_, err := Start(t.Context(), Options{DataDir: dataDir, Fast: true})
		if err == nil {
			t.Fatal("Start succeeded under a directory the postgres user cannot enter")
		}
		for _, want := range []string{"cannot enter " + locked, "chmod o+x " + locked, "APPCITAS_DATA"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("error %q does not mention %q", err, want)
			}
		}
		if _, statErr := os.Stat(dataDir); !errors.Is(statErr, os.ErrNotExist) {
			t.Errorf("Start created %s before failing: %v", dataDir, statErr)
		}
	})
}

// TestHelperProcess starts a cluster and waits to be killed; it runs only
// as the child process of KilledParentLeavesNoPostgres.
func TestHelperProcess(t *testing.T) {
	dataDir := os.Getenv(helperEnv)
	if dataDir == "" {
		t.Skip("helper process for KilledParentLeavesNoPostgres")
	}
	if _, err := Start(context.Background(), Options{DataDir: dataDir, Fast: true}); err != nil {
		t.Fatalf("Start: %v", err)
	}
	os.Stdout.WriteString(helperReady + "\n")
	time.Sleep(time.Minute)
}

// newDataDir returns a data directory path, not yet created, that the
// postgres user can reach.
func newDataDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	openUp(t, dir)
	return filepath.Join(dir, "data")
}

// openUp makes dir and its parent, both made 0700 by t.TempDir, enterable
// by the postgres user when the test runs as root.
func openUp(t *testing.T, dir string) {
	t.Helper()
	if os.Geteuid() != 0 {
		return
	}
	for _, d := range []string{filepath.Dir(dir), dir} {
		if err := os.Chmod(d, 0o711); err != nil {
			t.Fatal(err)
		}
	}
}

func start(t *testing.T, dataDir string) *Server {
	t.Helper()
	s, err := Start(t.Context(), Options{
		DataDir: dataDir,
		Fast:    true,
		Logger:  slog.New(slog.NewTextHandler(t.Output(), nil)),
	})
	if err != nil {
		t.Fatalf("Start(%s): %v", dataDir, err)
	}
	t.Cleanup(func() {
		if err := s.Stop(context.Background()); err != nil {
			t.Errorf("Stop: %v", err)
		}
	})
	return s
}

func queryRow(t *testing.T, url, sql string, dest ...any) {
	t.Helper()
	conn, err := pgx.Connect(t.Context(), url)
	if err != nil {
		t.Fatalf("connecting: %v", err)
	}
	defer conn.Close(context.Background())
	if err := conn.QueryRow(t.Context(), sql).Scan(dest...); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

func exec1(t *testing.T, url, sql string) {
	t.Helper()
	conn, err := pgx.Connect(t.Context(), url)
	if err != nil {
		t.Fatalf("connecting: %v", err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(t.Context(), sql); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

func postmasterPID(t *testing.T, dataDir string) int {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dataDir, "pgdata", "postmaster.pid"))
	if err != nil {
		t.Fatalf("reading postmaster.pid: %v", err)
	}
	first, _, _ := strings.Cut(string(b), "\n")
	pid, err := strconv.Atoi(first)
	if err != nil {
		t.Fatalf("postmaster.pid starts with %q: %v", first, err)
	}
	return pid
}

// writeLike writes data to path owned like the file or directory model.
func writeLike(t *testing.T, path string, data []byte, model string) {
	t.Helper()
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(model)
	if err != nil {
		t.Fatal(err)
	}
	st := fi.Sys().(*syscall.Stat_t)
	if err := os.Chown(path, int(st.Uid), int(st.Gid)); err != nil {
		t.Fatal(err)
	}
}

// alive reports whether pid runs; a zombie left for an init that does not
// reap is not running.
func alive(pid int) bool {
	if err := syscall.Kill(pid, 0); err != nil {
		return false
	}
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return true
	}
	_, after, _ := strings.Cut(string(stat), ") ")
	return !strings.HasPrefix(after, "Z")
}

func TestPostgresEnv(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		env  []string
		want []string
	}{
		{"AddsTheTunableWhenNoneIsSet", []string{"PATH=/bin"}, []string{"PATH=/bin", "GLIBC_TUNABLES=glibc.malloc.hugetlb=1"}},
		{"AppendsToOtherTunables", []string{"GLIBC_TUNABLES=glibc.malloc.arena_max=2", "HOME=/"},
			[]string{"GLIBC_TUNABLES=glibc.malloc.arena_max=2:glibc.malloc.hugetlb=1", "HOME=/"}},
		{"FillsAnEmptyValue", []string{"GLIBC_TUNABLES="}, []string{"GLIBC_TUNABLES=glibc.malloc.hugetlb=1"}},
		{"KeepsTheOperatorsChoice", []string{"GLIBC_TUNABLES=glibc.malloc.hugetlb=0"}, []string{"GLIBC_TUNABLES=glibc.malloc.hugetlb=0"}},
		{"KeepsTheOperatorsChoiceAmongOthers", []string{"GLIBC_TUNABLES=glibc.malloc.arena_max=2:glibc.malloc.hugetlb=2"},
			[]string{"GLIBC_TUNABLES=glibc.malloc.arena_max=2:glibc.malloc.hugetlb=2"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := postgresEnv(tt.env); !slices.Equal(got, tt.want) {
				t.Errorf("postgresEnv(%q) = %q, want %q", tt.env, got, tt.want)
			}
		})
	}
}
