package api

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/riverqueue/river"

	"github.com/appcitas/appcitas/internal/booking"
	"github.com/appcitas/appcitas/internal/jobs"
	"github.com/appcitas/appcitas/internal/pgserver"
	"github.com/appcitas/appcitas/internal/tenancy"
)

// startOwnCluster starts a throwaway PostgreSQL cluster for one test, which may restart or kill
// it, and stops it when the test ends.
func startOwnCluster(t *testing.T) *pgserver.Server {
	t.Helper()
	dir := t.TempDir()
	if os.Geteuid() == 0 {
		// As root, PostgreSQL runs as the postgres user, which must enter the test's directories.
		for _, d := range []string{filepath.Dir(dir), dir} {
			if err := os.Chmod(d, 0o711); err != nil {
				t.Fatal(err)
			}
		}
	}
	// Fast turns synchronous_commit off: a commit acknowledged just before a kill could be lost,
	// which is what this test must not see.
	srv, err := pgserver.Start(t.Context(), pgserver.Options{DataDir: filepath.Join(dir, "data"), Fast: true,
		Settings: map[string]string{"synchronous_commit": "on"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := srv.Stop(context.Background()); err != nil {
			t.Errorf("stopping the cluster: %v", err)
		}
	})
	return srv
}

// outageJob is the job the outage test keeps inserting: it does nothing.
type outageJob struct{ N int }

// Kind names the job.
func (outageJob) Kind() string { return "outage_test" }

type outageWorker struct {
	river.WorkerDefaults[outageJob]
}

func (outageWorker) Work(context.Context, *river.Job[outageJob]) error { return nil }

// outageLoad is the traffic of TestAPIOutage: writers that book appointments with an
// Idempotency-Key each and retry every 503 with the same key until they get their appointment,
// and readers that list appointments. It counts every answer.
type outageLoad struct {
	t      *testing.T
	url    string
	hdr    []string
	client *http.Client
	b      *bookingEnv

	next     atomic.Int64
	mu       sync.Mutex
	acked    map[int64]int64 // slot -> appointment id
	statuses map[string]int  // "503 database_unavailable" -> answers
	bad      []string        // answers that must not happen
	lastOK   time.Time       // when the last 2xx arrived
}

// slot is the start of the n-th booking: one a day, so that no two overlap.
func slot(n int64) time.Time {
	return time.Date(2031, 1, 1, 10, 0, 0, 0, time.UTC).Add(time.Duration(n) * 24 * time.Hour)
}

// send sends one request and returns the status, the error code (for errors) and the body.
func (l *outageLoad) send(method, path string, body []byte, key string) (int, string, []byte) {
	req, err := http.NewRequest(method, l.url+path, bytes.NewReader(body))
	if err != nil {
		l.fail(fmt.Sprintf("building a request: %v", err))
		return 0, "", nil
	}
	for i := 0; i+1 < len(l.hdr); i += 2 {
		req.Header.Set(l.hdr[i], l.hdr[i+1])
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if key != "" {
		req.Header.Set("Idempotency-Key", key)
	}
	resp, err := l.client.Do(req)
	if err != nil {
		l.fail(fmt.Sprintf("%s %s: %v", method, path, err))
		return 0, "", nil
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	code := ""
	if resp.StatusCode >= 400 {
		var eb struct{ Error errorBody }
		_ = json.Unmarshal(raw, &eb)
		code = eb.Error.Code
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.statuses[strconv.Itoa(resp.StatusCode)+" "+code]++
	switch {
	case resp.StatusCode < 300:
		l.lastOK = time.Now()
	case resp.StatusCode == http.StatusServiceUnavailable && resp.Header.Get("Retry-After") != "" &&
		(code == "database_unavailable" || code == "outcome_unknown"):
	default:
		l.bad = append(l.bad, fmt.Sprintf("%s %s: %d (Retry-After %q) %s", method, path, resp.StatusCode, resp.Header.Get("Retry-After"), raw))
	}
	return resp.StatusCode, code, raw
}

func (l *outageLoad) fail(msg string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.bad = append(l.bad, msg)
}

// book books slot n, retrying with the same Idempotency-Key after every 503 until it gets the
// appointment (201, or 200 for a replay) or the deadline passes.
func (l *outageLoad) book(n int64, deadline time.Time) {
	body, _ := json.Marshal(map[string]any{"sede_id": l.b.branchID, "servicio_id": l.b.serviceID, "profesional_id": l.b.staffProfile,
		"inicio": slot(n).Format(time.RFC3339), "cliente_nombre": "Cliente " + strconv.FormatInt(n, 10), "forzar": true})
	key := "outage-" + strconv.FormatInt(n, 10)
	for time.Now().Before(deadline) {
		status, _, raw := l.send("POST", "/api/citas", body, key)
		if status == http.StatusCreated || status == http.StatusOK {
			var a booking.Appointment
			if err := json.Unmarshal(raw, &a); err != nil || a.ID == 0 {
				l.fail(fmt.Sprintf("booking %d: %d %s", n, status, raw))
				return
			}
			l.mu.Lock()
			l.acked[n] = a.ID
			l.mu.Unlock()
			return
		}
		if status != http.StatusServiceUnavailable {
			return // counted as bad by send
		}
		time.Sleep(50 * time.Millisecond)
	}
	l.fail(fmt.Sprintf("booking %d: no appointment before the deadline", n))
}

// ackedCount returns how many slots are booked.
func (l *outageLoad) ackedCount() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.acked)
}

// okSince reports whether a 2xx answer arrived after t.
func (l *outageLoad) okSince(t time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.lastOK.After(t)
}

// waitUntil polls cond every 20 ms until it holds or timeout passes.
func waitUntil(timeout time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if cond() {
			return true
		}
		time.Sleep(20 * time.Millisecond)
	}
	return cond()
}

// TestAPIOutage restarts (fast shutdown) and kills (SIGKILL of the postmaster) the PostgreSQL
// server under concurrent bookings and listings, as an operator would, and checks what clients
// see: only 503s with Retry-After while it is down, answers again soon after it is back, and
// every acknowledged booking stored exactly once however often it was retried. River keeps
// working jobs after both.
func TestAPIOutage(t *testing.T) {
	if testing.Short() {
		t.Skip("restarts a PostgreSQL cluster of its own")
	}
	t.Parallel()
	srv := startOwnCluster(t)
	e := setupOn(t, srv.URL(), nil)
	b := setupBookingOn(e)
	e.s.log = slog.New(slog.DiscardHandler) // the outage's 503s are expected

	// River on the same server, inserting a job every 20 ms through the outages.
	riverPool, err := e.m.Servers().Shared(e.ctx, tenancy.DefaultServer)
	if err != nil {
		t.Fatal(err)
	}
	if err := jobs.Migrate(e.ctx, riverPool); err != nil {
		t.Fatal(err)
	}
	runner, err := jobs.New(jobs.Config{Pool: riverPool, Logger: slog.New(slog.DiscardHandler),
		Register: func(w *river.Workers) error { return river.AddWorkerSafely(w, outageWorker{}) }})
	if err != nil {
		t.Fatal(err)
	}
	if err := runner.Start(e.ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = runner.Stop(ctx)
	})

	hs := httptest.NewServer(e.h)
	t.Cleanup(hs.Close)
	l := &outageLoad{t: t, url: hs.URL, hdr: b.adminH, client: &http.Client{Timeout: 20 * time.Second}, b: b,
		acked: map[int64]int64{}, statuses: map[string]int{}}

	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				l.book(l.next.Add(1), time.Now().Add(60*time.Second))
			}
		})
	}
	for range 2 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				if status, _, _ := l.send("GET", "/api/citas?limit=5", nil, ""); status != http.StatusOK {
					time.Sleep(50 * time.Millisecond)
				}
			}
		})
	}
	var inserted atomic.Int64
	wg.Go(func() {
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
			ctx, cancel := context.WithTimeout(e.ctx, time.Second)
			if _, err := runner.Client().Insert(ctx, outageJob{N: i}, nil); err == nil {
				inserted.Add(1)
			}
			cancel()
		}
	})

	steady := func(what string, n int) {
		t.Helper()
		start := l.ackedCount()
		if !waitUntil(30*time.Second, func() bool { return l.ackedCount() >= start+n }) {
			close(stop)
			wg.Wait()
			t.Fatalf("%s: %d bookings acknowledged in 30 s, want %d; answers %v; bad %v", what, l.ackedCount()-start, n, l.statuses, l.bad)
		}
	}
	back := func(what string) {
		t.Helper()
		up := time.Now()
		if !waitUntil(15*time.Second, func() bool { return l.okSince(up) }) {
			close(stop)
			wg.Wait()
			t.Fatalf("%s: no successful answer within 15 s of PostgreSQL being back; answers %v", what, l.statuses)
		}
		t.Logf("%s: answering again %s after PostgreSQL was back", what, time.Since(up).Round(time.Millisecond))
	}

	steady("before", 20)
	if err := srv.Restart(e.ctx); err != nil {
		t.Fatal(err)
	}
	back("restart -m fast")
	steady("after the restart", 20)
	if err := srv.Kill(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond) // down for a while: requests find nothing to connect to
	if err := srv.Restart(e.ctx); err != nil {
		t.Fatal(err)
	}
	back("kill -9 and start")
	steady("after the kill", 20)
	close(stop)
	wg.Wait()

	l.mu.Lock()
	defer l.mu.Unlock()
	t.Logf("answers: %v; %d bookings acknowledged; %d jobs inserted", l.statuses, len(l.acked), inserted.Load())
	t.Run("AnswersOnly503WithRetryAfterDuringTheOutage", func(t *testing.T) {
		for i, b := range l.bad {
			if i == 10 {
				t.Errorf("... and %d more", len(l.bad)-i)
				break
			}
			t.Error(b)
		}
		if l.statuses["503 database_unavailable"] == 0 {
			t.Errorf("no 503 database_unavailable seen: the outages were not observed; answers %v", l.statuses)
		}
	})
	t.Run("KeepsEveryAcknowledgedBookingExactlyOnce", func(t *testing.T) {
		type row struct {
			id     int64
			inicio time.Time
		}
		var rows []row
		var keys int
		tn, err := b.org.Tenant()
		if err != nil {
			t.Fatal(err)
		}
		err = e.m.Run(e.ctx, tn, func(tx pgx.Tx) error {
			rs, err := tx.Query(e.ctx, `SELECT id, inicio FROM citas_cita ORDER BY id`)
			if err != nil {
				return err
			}
			rows, err = pgx.CollectRows(rs, func(r pgx.CollectableRow) (row, error) {
				var x row
				return x, r.Scan(&x.id, &x.inicio)
			})
			if err != nil {
				return err
			}
			return tx.QueryRow(e.ctx, `SELECT count(*) FROM citas_idempotencia`).Scan(&keys)
		})
		if err != nil {
			t.Fatal(err)
		}
		bySlot := map[time.Time][]int64{}
		for _, r := range rows {
			bySlot[r.inicio.UTC()] = append(bySlot[r.inicio.UTC()], r.id)
		}
		for n, id := range l.acked {
			got := bySlot[slot(n)]
			if len(got) != 1 || got[0] != id {
				t.Errorf("slot %d: acknowledged appointment %d, stored %v", n, id, got)
			}
		}
		if len(rows) != len(l.acked) || keys != len(l.acked) {
			t.Errorf("%d appointments and %d idempotency keys stored, %d acknowledged", len(rows), keys, len(l.acked))
		}
	})
	t.Run("CountsOutageAnswersApartFrom500s", func(t *testing.T) {
		rec := e.do("GET", "/metrics", nil)
		want := `appcitas_http_errors_total{code="database_unavailable",status="503"}`
		if !strings.Contains(rec.Body.String(), want) {
			t.Errorf("/metrics lacks %s", want)
		}
		if strings.Contains(rec.Body.String(), `code="internal_error"`) {
			t.Errorf("/metrics counts internal errors")
		}
	})
	t.Run("KeepsWorkingJobsAfterTheOutage", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(e.ctx, 10*time.Second)
		defer cancel()
		res, err := runner.Client().Insert(ctx, outageJob{N: -1}, nil)
		if err != nil {
			t.Fatal(err)
		}
		var state string
		var running int
		ok := waitUntil(30*time.Second, func() bool {
			err := riverPool.QueryRow(ctx, `SELECT state::text, (SELECT count(*) FROM river.river_job WHERE state = 'running')
				FROM river.river_job WHERE id = $1`, res.Job.ID).Scan(&state, &running)
			return err == nil && state == "completed" && running == 0
		})
		if !ok {
			t.Errorf("a job inserted after the outage is %q with %d jobs running after 30 s; want it completed and none running", state, running)
		}
	})
}

func TestTenantOnAnUnknownServer(t *testing.T) {
	t.Parallel()
	b := setupBooking(t)
	if _, err := b.pool.Exec(b.ctx, `UPDATE public.organizacion_organizacion SET database_name = 'lejos' WHERE id = $1`, b.org.ID); err != nil {
		t.Fatal(err)
	}
	b.s.InvalidateOrganization(b.org.ID)

	t.Run("Answers503DatabaseServerUnknown", func(t *testing.T) {
		wantError(t, b.do("GET", "/api/citas", nil, b.adminH...), http.StatusServiceUnavailable, "database_server_unknown")
	})
}

func TestTenantOnAnUnreachableRegisteredServer(t *testing.T) {
	t.Parallel()
	b := setupBooking(t)
	// A registered server that went down after add_server checked it: nothing listens on port 1.
	if _, err := b.pool.Exec(b.ctx, `INSERT INTO public.servidores (nombre, host, puerto, base, parametros)
		VALUES ('caido', '127.0.0.1', 1, 'appcitas', 'connect_timeout=2')`); err != nil {
		t.Fatal(err)
	}
	if _, err := b.pool.Exec(b.ctx, `UPDATE public.organizacion_organizacion SET database_name = 'caido' WHERE id = $1`, b.org.ID); err != nil {
		t.Fatal(err)
	}
	b.s.InvalidateOrganization(b.org.ID)

	t.Run("Answers503DatabaseUnavailable", func(t *testing.T) {
		wantError(t, b.do("GET", "/api/citas", nil, b.adminH...), http.StatusServiceUnavailable, "database_unavailable")
	})
}

func TestOutageAnswers(t *testing.T) {
	t.Parallel()
	pg := func(code string) error {
		return fmt.Errorf("querying: %w", &pgconn.PgError{Severity: "FATAL", Code: code})
	}
	s := &Server{log: slog.New(slog.DiscardHandler)}
	for _, tc := range []struct {
		name       string
		method     string
		err        error
		status     int
		code       string
		retryAfter bool
	}{
		{"UnavailableIs503", "POST", fmt.Errorf("opening scope: %w", tenancy.ErrUnavailable), 503, "database_unavailable", true},
		{"AdminShutdownIs503", "GET", pg("57P01"), 503, "database_unavailable", true},
		{"CannotConnectNowIs503", "GET", pg("57P03"), 503, "database_unavailable", true},
		{"ConnectionRefusedIs503", "GET", &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}, 503, "database_unavailable", true},
		{"LostCommitIs503OutcomeUnknown", "POST", fmt.Errorf("committing: %w: %w", tenancy.ErrOutcomeUnknown, tenancy.ErrUnavailable), 503, "outcome_unknown", true},
		{"LostCommitOfAReadIs503DatabaseUnavailable", "GET", fmt.Errorf("committing: %w: %w", tenancy.ErrOutcomeUnknown, tenancy.ErrUnavailable), 503, "database_unavailable", true},
		{"UnknownServerIs503", "GET", fmt.Errorf("%w %q", tenancy.ErrUnknownServer, "lejos"), 503, "database_server_unknown", false},
		{"TimeoutKeepsItsCode", "GET", context.DeadlineExceeded, 503, "timeout", true},
		{"OtherDatabaseErrorsStay500", "POST", pg("42P01"), 500, "internal_error", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			rec := httptest.NewRecorder()
			s.fail(rec, httptest.NewRequest(tc.method, "/api/citas", nil), tc.err)
			e := wantError(t, rec, tc.status, tc.code)
			if got := rec.Header().Get("Retry-After") != ""; got != tc.retryAfter {
				t.Errorf("Retry-After %q, want one: %v (%s)", rec.Header().Get("Retry-After"), tc.retryAfter, e.Message)
			}
		})
	}
}
