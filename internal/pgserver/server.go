package pgserver

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

const (
	// superuser is the PostgreSQL superuser initdb creates.
	superuser = "appcitas"
	// appRole is the login role the application connects as: not a
	// superuser, NOINHERIT, CREATEROLE, the owner of the appcitas database.
	appRole = "appcitas_app"
	// appPasswordFile holds appRole's password, beside the superuser's.
	appPasswordFile = "app-password"
	// defaultDatabase is the database URL names; Start creates it.
	defaultDatabase = "appcitas"
	// maintenanceDatabase is the database initdb always creates.
	maintenanceDatabase = "postgres"

	readyTimeout = 30 * time.Second
	stopTimeout  = 30 * time.Second
	// busyTimeout bounds the wait for a postmaster of an earlier run that
	// still holds the data directory, e.g. while it shuts down.
	busyTimeout = 10 * time.Second
	// startAttempts bounds retries when the free port chosen is taken
	// before postgres binds it.
	startAttempts = 3
)

// Options configures a private cluster.
type Options struct {
	// DataDir is the directory that holds the cluster; it is created if
	// missing, and the PGDATA is DataDir/pgdata. Required.
	DataDir string
	// Logger receives progress messages. Defaults to discarding them.
	Logger *slog.Logger
	// Fast trades durability for speed, for test clusters: fsync,
	// synchronous_commit and full_page_writes are off, and initdb does not
	// sync. Defaults to false.
	Fast bool
	// Settings are extra postgresql.conf settings, passed to postgres as
	// -c name=value. They cannot override the listen address, port or
	// socket directory. Defaults to none.
	Settings map[string]string
}

// Server is a running cluster, either started by this process or attached
// to when another process already runs it in the same data directory.
type Server struct {
	dataDir  string
	pgdata   string
	binDir   string
	psqlPath string
	port     int
	password string
	// appPassword is appRole's password.
	appPassword string
	logger      *slog.Logger

	// su and opts are what the postmaster was started with, for Restart.
	su   serverUser
	opts Options

	// proc is the postmaster this Server started; nil when attached.
	proc     *child
	stopOnce sync.Once
	stopErr  error
}

// Start runs the cluster in opts.DataDir, initialising it on first use, and
// returns once it accepts connections and the appcitas database exists. When
// a postmaster already serves that data directory, Start attaches to it.
//
// The postgres process started here receives SIGINT (fast shutdown) when
// the calling process dies, however it dies; call Stop to shut it down
// earlier.
func Start(ctx context.Context, opts Options) (*Server, error) {
	if opts.DataDir == "" {
		return nil, errors.New("pgserver: no data directory given")
	}
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	dataDir, err := filepath.Abs(opts.DataDir)
	if err != nil {
		return nil, fmt.Errorf("resolving data directory %s: %w", opts.DataDir, err)
	}
	su, err := lookupServerUser()
	if err != nil {
		return nil, err
	}
	if err := su.checkTraversable(dataDir); err != nil {
		return nil, err
	}
	binDir, err := findBinDir()
	if err != nil {
		return nil, err
	}

	// The server user must enter DataDir to reach pgdata, but has no
	// business listing it or reading the password file.
	perm := os.FileMode(0o700)
	if su.cred != nil {
		perm = 0o711
	}
	if err := os.MkdirAll(dataDir, perm); err != nil {
		return nil, fmt.Errorf("creating data directory: %w", err)
	}
	if dataDir, err = filepath.EvalSymlinks(dataDir); err != nil {
		return nil, fmt.Errorf("resolving data directory: %w", err)
	}
	if err := su.checkTraversable(dataDir); err != nil {
		return nil, err
	}

	unlock, err := lockDir(ctx, dataDir)
	if err != nil {
		return nil, err
	}
	defer unlock()

	s := &Server{
		dataDir:  dataDir,
		pgdata:   filepath.Join(dataDir, "pgdata"),
		binDir:   binDir,
		psqlPath: findPsql(binDir),
		logger:   logger.With("pgdata", filepath.Join(dataDir, "pgdata")),
		su:       su,
		opts:     opts,
	}
	if err := s.initCluster(ctx, su, opts.Fast, "C.UTF-8"); err != nil {
		return nil, err
	}
	attached, err := s.attach(ctx)
	if err != nil {
		return nil, err
	}
	if !attached {
		if err := s.run(ctx, su, opts); err != nil {
			return nil, err
		}
	}
	if err := s.prepareApp(ctx); err != nil {
		if stopErr := s.Stop(context.WithoutCancel(ctx)); stopErr != nil {
			s.logger.Error("stopping postgres after failed start", "err", stopErr)
		}
		return nil, err
	}
	return s, nil
}

// URL returns the connection string of the appcitas database as the
// application's login role, which is not a superuser:
// postgres://appcitas_app:PASSWORD@127.0.0.1:PORT/appcitas?sslmode=disable.
func (s *Server) URL() string {
	return s.URLFor(defaultDatabase)
}

// URLFor returns the connection string of database on this cluster as the
// application's login role. The database need not exist.
func (s *Server) URLFor(database string) string {
	return s.urlAs(appRole, s.appPassword, database)
}

// SuperuserURL returns the connection string of the appcitas database as
// the superuser, for operators (dbshell) and tests.
func (s *Server) SuperuserURL() string {
	return s.SuperuserURLFor(defaultDatabase)
}

// SuperuserURLFor returns the connection string of database on this
// cluster as the superuser. The database need not exist.
func (s *Server) SuperuserURLFor(database string) string {
	return s.urlAs(superuser, s.password, database)
}

func (s *Server) urlAs(user, password, database string) string {
	u := url.URL{
		Scheme:   "postgres",
		User:     url.UserPassword(user, password),
		Host:     net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port)),
		Path:     "/" + database,
		RawQuery: "sslmode=disable",
	}
	return u.String()
}

// BinDir returns the directory holding postgres, pg_ctl, pg_dump,
// pg_restore and pgbench of the server's version.
func (s *Server) BinDir() string {
	return s.binDir
}

// PsqlPath returns the path of psql: the one in BinDir when present,
// otherwise the one on PATH, otherwise "".
func (s *Server) PsqlPath() string {
	return s.psqlPath
}

// Stop shuts the cluster down with a fast shutdown if this Server started
// it, waiting up to 30 seconds before killing its process group. It is a
// no-op when attached to a cluster another process runs, and safe to call
// more than once.
func (s *Server) Stop(ctx context.Context) error {
	if s.proc == nil {
		return nil
	}
	s.stopOnce.Do(func() { s.stopErr = s.stop(ctx) })
	return s.stopErr
}

func (s *Server) stop(ctx context.Context) error {
	select {
	case <-s.proc.done:
		return nil
	default:
	}
	s.logger.Info("stopping postgres", "pid", s.proc.pid)
	if err := syscall.Kill(s.proc.pid, syscall.SIGINT); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("signalling postgres (pid %d): %w", s.proc.pid, err)
	}
	timer := time.NewTimer(stopTimeout)
	defer timer.Stop()
	select {
	case <-s.proc.done:
		return nil
	case <-timer.C:
		s.proc.kill()
		return fmt.Errorf("postgres (pid %d) did not shut down within %s; killed it", s.proc.pid, stopTimeout)
	case <-ctx.Done():
		s.proc.kill()
		return fmt.Errorf("waiting for postgres to shut down; killed it: %w", ctx.Err())
	}
}

// Restart shuts the cluster down with a fast shutdown, as `pg_ctl restart -m fast` does, and
// starts it again on the same port, so that connection strings stay valid. After [Server.Kill] it
// only starts it. It retries while the previous postmaster's backends still hold the port or the
// shared memory, up to 30 seconds. Only a cluster this Server started can be restarted.
func (s *Server) Restart(ctx context.Context) error {
	if s.proc == nil {
		return errors.New("pgserver: cannot restart a cluster another process runs")
	}
	if err := s.stop(ctx); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, readyTimeout)
	defer cancel()
	for {
		err := s.runOn(ctx, s.su, s.opts, s.port)
		if err == nil {
			return nil
		}
		s.logger.Warn("postgres did not start again; retrying", "err", err)
		if sleepErr := sleep(ctx, 200*time.Millisecond); sleepErr != nil {
			return fmt.Errorf("restarting postgres: %w", err)
		}
	}
}

// Kill sends SIGKILL to the postmaster alone, as `kill -9` of its pid does, and waits until it is
// reaped. Its backends end when they notice; clients see their connections break. Start the
// cluster again with [Server.Restart]. Only a cluster this Server started can be killed.
func (s *Server) Kill() error {
	if s.proc == nil {
		return errors.New("pgserver: cannot kill a cluster another process runs")
	}
	if err := syscall.Kill(s.proc.pid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("killing postgres (pid %d): %w", s.proc.pid, err)
	}
	select {
	case <-s.proc.done:
		return nil
	case <-time.After(stopTimeout):
		return fmt.Errorf("postgres (pid %d) was not reaped within %s of SIGKILL", s.proc.pid, stopTimeout)
	}
}

// initCluster runs initdb unless pgdata already holds a cluster, and loads
// the superuser password. When initdb rejects locale, it runs again with
// --no-locale.
func (s *Server) initCluster(ctx context.Context, su serverUser, fast bool, locale string) error {
	passwordPath := filepath.Join(s.dataDir, "superuser-password")
	if _, err := os.Stat(filepath.Join(s.pgdata, "PG_VERSION")); err == nil {
		b, err := os.ReadFile(passwordPath)
		if err != nil {
			return fmt.Errorf("reading the superuser password of the cluster in %s: %w", s.pgdata, err)
		}
		s.password = strings.TrimSpace(string(b))
		return nil
	}

	if _, err := os.Stat(s.pgdata); err == nil {
		// An initdb that was killed leaves a partial cluster behind.
		s.logger.Warn("removing uninitialised data directory")
	}
	if err := s.resetPGData(su); err != nil {
		return err
	}
	s.password = rand.Text()
	if err := writeFileAtomic(passwordPath, []byte(s.password+"\n")); err != nil {
		return fmt.Errorf("writing superuser password: %w", err)
	}

	// initdb reads the password as the server user, from a file only it and
	// the caller can read, deleted as soon as initdb is done.
	pwfile, err := os.CreateTemp(s.dataDir, ".initdb-pwfile-*")
	if err != nil {
		return fmt.Errorf("creating initdb password file: %w", err)
	}
	defer os.Remove(pwfile.Name())
	_, err = pwfile.WriteString(s.password + "\n")
	if closeErr := pwfile.Close(); err == nil {
		err = closeErr
	}
	if err != nil {
		return fmt.Errorf("writing initdb password file: %w", err)
	}
	if err := su.chown(pwfile.Name()); err != nil {
		return err
	}

	args := []string{
		"-D", s.pgdata,
		"--auth=scram-sha-256",
		"--username=" + superuser,
		"--pwfile=" + pwfile.Name(),
		"--encoding=UTF8",
	}
	if fast {
		args = append(args, "--no-sync")
	}
	s.logger.Info("initialising PostgreSQL cluster", "bindir", s.binDir)
	out, err := s.initdb(ctx, su, append(args, "--locale="+locale))
	if err != nil && strings.Contains(strings.ToLower(out), "locale") {
		s.logger.Warn("initdb failed with locale "+locale+"; retrying with --no-locale", "output", tail(out, 5))
		if err := s.resetPGData(su); err != nil {
			return err
		}
		out, err = s.initdb(ctx, su, append(args, "--no-locale"))
	}
	if err != nil {
		return fmt.Errorf("initdb in %s: %w; output:\n%s", s.pgdata, err, tail(out, 20))
	}
	return nil
}

// resetPGData leaves an empty pgdata owned by the server user.
func (s *Server) resetPGData(su serverUser) error {
	if err := os.RemoveAll(s.pgdata); err != nil {
		return fmt.Errorf("clearing %s: %w", s.pgdata, err)
	}
	if err := os.Mkdir(s.pgdata, 0o700); err != nil {
		return fmt.Errorf("creating %s: %w", s.pgdata, err)
	}
	return su.chown(s.pgdata)
}

func (s *Server) initdb(ctx context.Context, su serverUser, args []string) (string, error) {
	cmd := exec.CommandContext(ctx, filepath.Join(s.binDir, "initdb"), args...)
	cmd.Dir = "/"
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: su.cred}
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// attach reports whether a postmaster already serves pgdata, and if so
// points s at it. A postmaster.pid left by a dead process is stale and
// ignored (postgres replaces it); one whose process is still alive but not
// accepting connections is waited for, since it is starting or stopping.
func (s *Server) attach(ctx context.Context) (bool, error) {
	deadline := time.Now().Add(busyTimeout)
	for {
		pid, port, err := readPIDFile(s.pgdata)
		if errors.Is(err, os.ErrNotExist) {
			return false, nil
		}
		if err == nil && port > 0 {
			s.port = port
			err := s.checkServes(ctx, busyTimeout)
			if err == nil {
				s.logger.Info("attached to running postgres", "pid", pid, "port", port)
				return true, nil
			}
			var pgErr *pgconn.PgError
			if errors.As(err, &pgErr) && pgErr.Code == "28P01" {
				return false, fmt.Errorf("postgres (pid %d) serving %s rejects the stored superuser password: %w", pid, s.pgdata, err)
			}
		}
		if pid > 0 && !processAlive(pid) {
			s.logger.Info("ignoring stale postmaster.pid", "pid", pid)
			return false, nil
		}
		if pid > 0 && !isPostgres(pid) {
			// The pid of a crashed postmaster now belongs to another
			// program; postgres would refuse to start if it ran as the
			// same user.
			s.logger.Warn("removing postmaster.pid naming a process that is not postgres", "pid", pid)
			if err := os.Remove(filepath.Join(s.pgdata, "postmaster.pid")); err != nil && !errors.Is(err, os.ErrNotExist) {
				return false, fmt.Errorf("removing stale postmaster.pid: %w", err)
			}
			return false, nil
		}
		if time.Now().After(deadline) {
			return false, fmt.Errorf("postgres (pid %d) holds %s but does not accept connections after %s: stop it, or see %s",
				pid, s.pgdata, busyTimeout, s.logPath())
		}
		if err := sleep(ctx, 200*time.Millisecond); err != nil {
			return false, fmt.Errorf("waiting for the postgres holding %s: %w", s.pgdata, err)
		}
	}
}

// checkServes connects to the cluster on s.port and checks that it is the
// one in s.pgdata, not another that took the port of a dead one.
func (s *Server) checkServes(ctx context.Context, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	conn, err := s.connect(ctx, maintenanceDatabase)
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	var dir string
	if err := conn.QueryRow(ctx, "SELECT current_setting('data_directory')").Scan(&dir); err != nil {
		return fmt.Errorf("reading data_directory: %w", err)
	}
	if dir != s.pgdata {
		return fmt.Errorf("port %d serves the cluster in %s, not %s", s.port, dir, s.pgdata)
	}
	return nil
}

// run starts postgres as a child process and waits until it accepts
// connections, retrying on another port if the one chosen was taken.
func (s *Server) run(ctx context.Context, su serverUser, opts Options) error {
	for attempt := 1; ; attempt++ {
		err := s.runOnce(ctx, su, opts)
		if err == nil || attempt == startAttempts || !strings.Contains(err.Error(), "could not bind") {
			return err
		}
		s.logger.Warn("port taken before postgres bound it; retrying", "port", s.port)
	}
}

func (s *Server) runOnce(ctx context.Context, su serverUser, opts Options) error {
	port, err := freePort()
	if err != nil {
		return err
	}
	return s.runOn(ctx, su, opts, port)
}

// runOn starts postgres on port and waits until it accepts connections.
func (s *Server) runOn(ctx context.Context, su serverUser, opts Options, port int) error {
	logFile, err := os.OpenFile(s.logPath(), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("opening postgres log: %w", err)
	}
	// postgres writes to its own copy of the descriptor.
	defer logFile.Close()
	var logStart int64
	if fi, err := logFile.Stat(); err == nil {
		logStart = fi.Size()
	}

	settings := map[string]string{}
	if opts.Fast {
		settings["fsync"] = "off"
		settings["synchronous_commit"] = "off"
		settings["full_page_writes"] = "off"
	}
	maps.Copy(settings, opts.Settings)
	// Only TCP on loopback: no Unix socket, whose path is limited to 107
	// bytes and which the server user may not be able to create.
	settings["listen_addresses"] = "127.0.0.1"
	settings["port"] = strconv.Itoa(port)
	settings["unix_socket_directories"] = ""
	args := []string{"-D", s.pgdata}
	for _, name := range slices.Sorted(maps.Keys(settings)) {
		args = append(args, "-c", name+"="+settings[name])
	}

	cmd := exec.Command(filepath.Join(s.binDir, "postgres"), args...)
	cmd.Dir = "/"
	cmd.Env = postgresEnv(os.Environ())
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{
		// SIGINT is a fast shutdown: sent when the thread that forked
		// postgres exits, which launch arranges to be when this process
		// dies.
		Pdeathsig: syscall.SIGINT,
		// Its own process group, so Stop can kill its backends with it and
		// a terminal's Ctrl-C reaches it only through us.
		Setpgid:    true,
		Credential: su.cred,
	}
	s.logger.Info("starting postgres", "port", port, "log", s.logPath())
	proc, err := launch(cmd)
	if err != nil {
		return fmt.Errorf("starting postgres: %w", err)
	}
	s.proc, s.port = proc, port
	if err := s.waitReady(ctx); err != nil {
		proc.kill()
		s.proc = nil
		return fmt.Errorf("%w; postgres log:\n%s", err, s.logTail(logStart))
	}
	s.logger.Info("postgres ready", "pid", proc.pid, "port", port)
	return nil
}

// waitReady polls until postgres accepts connections, exits, or 30 seconds
// pass.
func (s *Server) waitReady(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, readyTimeout)
	defer cancel()
	for {
		err := s.checkServes(ctx, 2*time.Second)
		if err == nil {
			return nil
		}
		var pgErr *pgconn.PgError
		if errors.As(err, &pgErr) && pgErr.Code == "28P01" {
			return fmt.Errorf("postgres rejects the stored superuser password: %w", err)
		}
		select {
		case <-s.proc.done:
			return fmt.Errorf("postgres exited during start-up: %w", s.proc.exitErr())
		case <-ctx.Done():
			return fmt.Errorf("waiting for postgres to accept connections (last error: %v): %w", err, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// prepareApp creates, unless they exist, the application's login role
// (with the password kept in the data directory) and the appcitas database
// and its public schema owned by it. A database from before the role existed, owned by the
// superuser, is handed over to the role with what the application made in
// it (see adoptSQL).
func (s *Server) prepareApp(ctx context.Context) error {
	if err := s.loadAppPassword(); err != nil {
		return err
	}
	conn, err := s.connect(ctx, maintenanceDatabase)
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	attrs := "LOGIN NOSUPERUSER NOINHERIT CREATEROLE NOCREATEDB PASSWORD '" + strings.ReplaceAll(s.appPassword, "'", "''") + "'"
	role := pgx.Identifier{appRole}.Sanitize()
	_, err = conn.Exec(ctx, "CREATE ROLE "+role+" "+attrs)
	if sqlState(err) == "42710" { // duplicate_object: an earlier start made it
		_, err = conn.Exec(ctx, "ALTER ROLE "+role+" "+attrs)
	}
	if err != nil {
		return fmt.Errorf("creating login role %s: %w", appRole, err)
	}

	var exists bool
	err = conn.QueryRow(ctx, "SELECT EXISTS (SELECT FROM pg_database WHERE datname = $1)", defaultDatabase).Scan(&exists)
	if err != nil {
		return fmt.Errorf("looking up database %s: %w", defaultDatabase, err)
	}
	if !exists {
		_, err = conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{defaultDatabase}.Sanitize()+" OWNER "+role)
		if err != nil && sqlState(err) != "42P04" { // duplicate_database: created concurrently
			return fmt.Errorf("creating database %s: %w", defaultDatabase, err)
		}
	}

	db, err := s.connect(ctx, defaultDatabase)
	if err != nil {
		return err
	}
	defer db.Close(context.WithoutCancel(ctx))
	var owned bool
	err = db.QueryRow(ctx, `SELECT d.datdba = r.oid AND n.nspowner = r.oid FROM pg_roles r, pg_database d, pg_namespace n
		WHERE r.rolname = $1 AND d.datname = current_database() AND n.nspname = 'public'`, appRole).Scan(&owned)
	if err != nil {
		return fmt.Errorf("looking up the owner of database %s: %w", defaultDatabase, err)
	}
	if owned {
		return nil
	}
	if exists {
		s.logger.Info("handing the database over to the application's login role", "database", defaultDatabase, "role", appRole)
	}
	if err := pgx.BeginFunc(ctx, db, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, adoptSQL)
		return err
	}); err != nil {
		return fmt.Errorf("handing database %s over to %s: %w", defaultDatabase, appRole, err)
	}
	return nil
}

// adoptSQL gives appRole the appcitas database and its public schema. A
// NOINHERIT role does not use the rights of pg_database_owner, which owns
// public in a new database, so appRole must own public itself. It also
// gives appRole what the superuser made there before appRole existed:
// public's and river's tables,
// sequences, views and functions (not those of extensions), river's
// schema, and membership in every tenant role (a role owning a schema of
// its own name).
const adoptSQL = `DO $$
DECLARE
	r record;
BEGIN
	FOR r IN SELECT n.nspname FROM pg_namespace n
		WHERE n.nspname = 'river' AND n.nspowner = (SELECT oid FROM pg_roles WHERE rolname = '` + superuser + `') LOOP
		EXECUTE format('ALTER SCHEMA %I OWNER TO ` + appRole + `', r.nspname);
	END LOOP;
	FOR r IN SELECT c.oid::regclass AS rel FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE n.nspname IN ('public', 'river') AND c.relkind IN ('r', 'p', 'v', 'm', 'f')
		AND pg_get_userbyid(c.relowner) = '` + superuser + `'
		AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e') LOOP
		EXECUTE format('ALTER TABLE %s OWNER TO ` + appRole + `', r.rel);
	END LOOP;
	FOR r IN SELECT c.oid::regclass AS rel FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE n.nspname IN ('public', 'river') AND c.relkind = 'S' AND pg_get_userbyid(c.relowner) = '` + superuser + `'
		AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype IN ('a', 'i', 'e')) LOOP
		EXECUTE format('ALTER SEQUENCE %s OWNER TO ` + appRole + `', r.rel);
	END LOOP;
	FOR r IN SELECT p.oid::regprocedure AS fn FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
		WHERE n.nspname IN ('public', 'river') AND pg_get_userbyid(p.proowner) = '` + superuser + `'
		AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e') LOOP
		EXECUTE format('ALTER ROUTINE %s OWNER TO ` + appRole + `', r.fn);
	END LOOP;
	FOR r IN SELECT t.oid::regtype AS typ FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
		WHERE n.nspname IN ('public', 'river') AND t.typtype IN ('e', 'd') AND pg_get_userbyid(t.typowner) = '` + superuser + `'
		AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_type'::regclass AND d.objid = t.oid AND d.deptype = 'e') LOOP
		EXECUTE format('ALTER TYPE %s OWNER TO ` + appRole + `', r.typ);
	END LOOP;
	FOR r IN SELECT n.nspname FROM pg_namespace n JOIN pg_roles o ON o.oid = n.nspowner AND o.rolname = n.nspname
		WHERE n.nspname LIKE 'tenant\_%' LOOP
		EXECUTE format('GRANT %I TO ` + appRole + `', r.nspname);
	END LOOP;
	EXECUTE format('ALTER DATABASE %I OWNER TO ` + appRole + `', current_database());
	ALTER SCHEMA public OWNER TO ` + appRole + `;
END $$`

// loadAppPassword reads appRole's password from the data directory, or
// makes one and writes it there on the first start.
func (s *Server) loadAppPassword() error {
	path := filepath.Join(s.dataDir, appPasswordFile)
	b, err := os.ReadFile(path)
	if err == nil {
		s.appPassword = strings.TrimSpace(string(b))
		if s.appPassword != "" {
			return nil
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("reading the password of %s: %w", appRole, err)
	}
	s.appPassword = rand.Text()
	if err := writeFileAtomic(path, []byte(s.appPassword+"\n")); err != nil {
		return fmt.Errorf("writing the password of %s: %w", appRole, err)
	}
	return nil
}

// sqlState returns the SQLSTATE of a PostgreSQL error, or "".
func sqlState(err error) string {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return pgErr.Code
	}
	return ""
}

func (s *Server) connect(ctx context.Context, database string) (*pgx.Conn, error) {
	conn, err := pgx.Connect(ctx, s.SuperuserURLFor(database))
	if err != nil {
		return nil, fmt.Errorf("connecting to postgres on port %d: %w", s.port, err)
	}
	return conn, nil
}

func (s *Server) logPath() string {
	return filepath.Join(s.dataDir, "postgres.log")
}

// logTail returns the last lines the server logged since offset.
func (s *Server) logTail(offset int64) string {
	f, err := os.Open(s.logPath())
	if err != nil {
		return "(no log: " + err.Error() + ")"
	}
	defer f.Close()
	if fi, err := f.Stat(); err == nil && fi.Size()-offset > 16<<10 {
		offset = fi.Size() - 16<<10
	}
	b := make([]byte, 16<<10)
	n, _ := f.ReadAt(b, offset)
	return tail(string(b[:n]), 20)
}

// readPIDFile reads the postmaster pid (line 1) and port (line 4) from
// pgdata/postmaster.pid. Either is 0 while postgres is still writing it.
func readPIDFile(pgdata string) (pid, port int, err error) {
	b, err := os.ReadFile(filepath.Join(pgdata, "postmaster.pid"))
	if err != nil {
		return 0, 0, err
	}
	lines := strings.Split(string(b), "\n")
	pid, _ = strconv.Atoi(strings.TrimSpace(lines[0]))
	if len(lines) > 3 {
		port, _ = strconv.Atoi(strings.TrimSpace(lines[3]))
	}
	return pid, port, nil
}

// processAlive reports whether pid names a live process; a zombie, which
// an init that does not reap leaves behind, is dead.
func processAlive(pid int) bool {
	if err := syscall.Kill(pid, 0); err != nil && !errors.Is(err, syscall.EPERM) {
		return false
	}
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return true
	}
	_, after, ok := strings.Cut(string(stat), ") ")
	return !ok || !strings.HasPrefix(after, "Z")
}

// isPostgres reports whether pid runs postgres, assuming it does when
// /proc cannot tell.
func isPostgres(pid int) bool {
	comm, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/comm")
	if err != nil {
		return true
	}
	name := strings.TrimSpace(string(comm))
	return name == "postgres" || name == "postmaster"
}

// freePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("finding a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// lockDir serialises Start calls on one data directory, across processes,
// so two of them never initialise or start the same cluster at once.
func lockDir(ctx context.Context, dir string) (unlock func(), err error) {
	f, err := os.OpenFile(filepath.Join(dir, ".start.lock"), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("opening start lock: %w", err)
	}
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return func() {
				_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
				f.Close()
			}, nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			f.Close()
			return nil, fmt.Errorf("locking %s: %w", dir, err)
		}
		if err := sleep(ctx, 100*time.Millisecond); err != nil {
			f.Close()
			return nil, fmt.Errorf("waiting for another start in %s: %w", dir, err)
		}
	}
}

// writeFileAtomic writes a 0600 file through a rename, so a crash never
// leaves it half written.
func writeFileAtomic(path string, data []byte) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+"-*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	_, err = f.Write(data)
	if syncErr := f.Sync(); err == nil {
		err = syncErr
	}
	if closeErr := f.Close(); err == nil {
		err = closeErr
	}
	if err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// tail returns the last n lines of s.
func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// mallocHugePages is the glibc tunable that makes malloc ask for transparent huge pages
// (madvise(MADV_HUGEPAGE)) for the memory it gets from the kernel.
const mallocHugePages = "glibc.malloc.hugetlb=1"

// postgresEnv returns env for the postmaster: env with glibc.malloc.hugetlb=1 added to
// GLIBC_TUNABLES, unless env sets that tunable already. A backend's private memory is mostly its
// catalog and plan caches, which grow with the tenant schemas it serves (tens of MB each with
// hundreds of tenants); on huge pages the executor's lookups in them miss the TLB far less
// (measured in BENCHMARKS.md, issue 3). Where transparent huge pages are "never", or glibc is
// older than 2.35, the tunable does nothing.
func postgresEnv(env []string) []string {
	out := make([]string, 0, len(env)+1)
	set := false
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, "GLIBC_TUNABLES="); ok {
			set = true
			if !strings.Contains(":"+v, ":glibc.malloc.hugetlb=") {
				if v != "" {
					v += ":"
				}
				kv = "GLIBC_TUNABLES=" + v + mallocHugePages
			}
		}
		out = append(out, kv)
	}
	if !set {
		out = append(out, "GLIBC_TUNABLES="+mallocHugePages)
	}
	return out
}
