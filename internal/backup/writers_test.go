package backup_test

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/appcitas/appcitas/internal/tenancy"
)

// writerLoad books appointments in one tenant from several goroutines, as the request path does:
// every attempt resolves the organization (so it follows a move) and writes through
// tenancy.Manager.Run. Each logical write k books profesional 2 at 2030-01-01 + base+k hours (the
// exclusion constraint makes a second copy of a write fail instead of landing twice); a refused
// attempt is retried with the same k until it is acknowledged, so "delay" is from a write's first
// attempt to its acknowledgement.
type writerLoad struct {
	m     *tenancy.Manager
	orgID int64
	base  int64

	stop atomic.Bool
	wg   sync.WaitGroup
	next atomic.Int64

	mu         sync.Mutex
	acked      map[int64]bool
	refused    int           // attempts that failed and were retried
	longest    time.Duration // longest first attempt → acknowledgement
	lastAck    time.Time
	longestGap time.Duration // longest time between two acknowledgements (any writer)
	errs       []error       // writes that failed in a way a retry cannot fix
}

// startWriters starts n writers on the organization orgID; base separates the appointment times
// of successive loads on one tenant.
func startWriters(m *tenancy.Manager, orgID int64, n int, base int64) *writerLoad {
	w := &writerLoad{m: m, orgID: orgID, base: base, acked: map[int64]bool{}, lastAck: time.Now()}
	for range n {
		w.wg.Go(w.loop)
	}
	return w
}

func (w *writerLoad) loop() {
	ctx := context.Background()
	for !w.stop.Load() {
		k := w.base + w.next.Add(1)
		began := time.Now()
		for attempt := 1; ; attempt++ {
			err := w.write(ctx, k)
			if err == nil {
				now := time.Now()
				w.mu.Lock()
				w.acked[k] = true
				w.longest = max(w.longest, now.Sub(began))
				w.longestGap = max(w.longestGap, now.Sub(w.lastAck))
				w.lastAck = now
				w.mu.Unlock()
				break
			}
			w.mu.Lock()
			w.refused++
			if code := tenancy.SQLState(err); code == "23P01" || attempt > 200 {
				// 23P01: an earlier attempt that reported an error did land.
				w.errs = append(w.errs, fmt.Errorf("write %d, attempt %d: %w", k, attempt, err))
				w.mu.Unlock()
				return
			}
			w.mu.Unlock()
			time.Sleep(2 * time.Millisecond)
		}
	}
}

func (w *writerLoad) write(ctx context.Context, k int64) error {
	org, err := w.m.Organization(ctx, w.orgID)
	if err != nil {
		return err
	}
	tn, err := org.Tenant()
	if err != nil {
		return err
	}
	return w.m.Run(ctx, tn, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO citas_cita (sede_id, servicio_id, profesional_id, cliente_nombre, inicio, fin, bloqueo_inicio, bloqueo_fin, precio_centavos)
			SELECT 1, 1, 2, 'Durante', t, t + interval '30 minutes', t, t + interval '30 minutes', 1
			FROM (SELECT timestamptz '2030-01-01 00:00Z' + $1::bigint * interval '1 hour') s(t)`, k)
		return err
	})
}

// writerReport is what a load saw, checked against the tenant's rows.
type writerReport struct {
	Acked, Refused int
	// Longest is the longest delay of one write, from its first attempt to its acknowledgement
	// (refused attempts included): the tenant's longest refused-or-delayed write window.
	Longest time.Duration
	// LongestGap is the longest time no writer got an acknowledgement.
	LongestGap time.Duration
}

func (r writerReport) String() string {
	return fmt.Sprintf("%d writes acknowledged, %d attempts refused and retried, longest write (first attempt → ack) %s, longest gap between acks %s",
		r.Acked, r.Refused, r.Longest.Round(time.Millisecond), r.LongestGap.Round(time.Millisecond))
}

// finish stops the writers and checks the tenant, where it now is: every acknowledged write is
// there exactly once and nothing else of this load is.
func (w *writerLoad) finish(ctx context.Context) (writerReport, error) {
	w.stop.Store(true)
	w.wg.Wait()
	w.mu.Lock()
	defer w.mu.Unlock()
	rep := writerReport{Acked: len(w.acked), Refused: w.refused, Longest: w.longest, LongestGap: w.longestGap}
	if len(w.errs) > 0 {
		return rep, fmt.Errorf("%d writes failed for good, first: %w", len(w.errs), w.errs[0])
	}
	org, err := w.m.Organization(ctx, w.orgID)
	if err != nil {
		return rep, err
	}
	tn, err := org.Tenant()
	if err != nil {
		return rep, err
	}
	var ks []int64
	err = w.m.Run(ctx, tn, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT (extract(epoch FROM inicio - timestamptz '2030-01-01 00:00Z') / 3600)::bigint
			FROM citas_cita WHERE cliente_nombre = 'Durante' AND inicio >= timestamptz '2030-01-01 00:00Z' + $1::bigint * interval '1 hour'
			AND inicio < timestamptz '2030-01-01 00:00Z' + ($1::bigint + 100000000) * interval '1 hour'`, w.base)
		if err != nil {
			return err
		}
		ks, err = pgx.CollectRows(rows, pgx.RowTo[int64])
		return err
	})
	if err != nil {
		return rep, err
	}
	seen := map[int64]int{}
	for _, k := range ks {
		seen[k]++
	}
	var missing, extra, dup []int64
	for k := range w.acked {
		if seen[k] == 0 {
			missing = append(missing, k)
		}
	}
	for k, n := range seen {
		if n > 1 {
			dup = append(dup, k)
		}
		if !w.acked[k] {
			extra = append(extra, k)
		}
	}
	if len(missing)+len(extra)+len(dup) > 0 {
		for _, s := range [][]int64{missing, extra, dup} {
			sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
		}
		return rep, fmt.Errorf("on %s: %d acknowledged writes lost %v, %d unacknowledged writes present %v, %d duplicated %v",
			org.DatabaseName, len(missing), head(missing), len(extra), head(extra), len(dup), head(dup))
	}
	return rep, nil
}

func head(s []int64) []int64 { return s[:min(len(s), 10)] }

// requireWritersOK fails t when finish finds a lost, extra or duplicated write.
func requireWritersOK(t testing.TB, w *writerLoad) writerReport {
	t.Helper()
	rep, err := w.finish(context.Background())
	if err != nil {
		t.Fatalf("writers: %v (%s)", err, rep)
	}
	return rep
}
