package backup

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/appcitas/appcitas/internal/tenancy"
)

// failureFile, inside a schema's backup directory, records the last failed scheduled backup; a
// successful backup removes it.
const failureFile = "LAST_FAILURE"

// Schedule configures [Scheduler]; the server runs it as River jobs (internal/jobs).
type Schedule struct {
	// Every is the period: each active tenant is backed up once per period, at its own offset in
	// it (a hash of its schema), so that thousands of tenants do not run at once. Defaults to 24h.
	Every time.Duration
	// KeepDaily is how many daily backups (the newest of each UTC day) a tenant keeps. Defaults
	// to 7.
	KeepDaily int
	// KeepWeekly is how many weekly backups (the newest of each ISO week older than the daily
	// ones) a tenant keeps. Defaults to 4.
	KeepWeekly int
	// CatchUp is the window over which the backups whose slot in the current period has already
	// passed when they are queued (a first start, a server that was down at their slot) are
	// spread, from the moment they are queued: each at the same fraction of it as its slot is of
	// the part of the period already gone, and never past the period's end. Defaults to Every/24 (an hour on the daily
	// schedule): at 10,000 tenants a first start in the evening has some 8,000 to catch up, which
	// all at once kept the backup queue's two workers busy for minutes next to the requests.
	CatchUp time.Duration
	// Logger receives one line per backup and per failure. Defaults to slog.Default().
	Logger *slog.Logger
}

// Scheduler takes the scheduled backups of every active tenant into a Store and prunes old ones.
type Scheduler struct {
	m     *tenancy.Manager
	store Store
	s     Schedule
}

// NewScheduler returns a scheduler of backups of m's tenants into store.
func NewScheduler(m *tenancy.Manager, store Store, s Schedule) *Scheduler {
	if s.Every <= 0 {
		s.Every = 24 * time.Hour
	}
	if s.KeepDaily <= 0 && s.KeepWeekly <= 0 {
		s.KeepDaily, s.KeepWeekly = 7, 4
	}
	if s.CatchUp <= 0 {
		s.CatchUp = s.Every / 24
	}
	if s.Logger == nil {
		s.Logger = slog.Default()
	}
	return &Scheduler{m: m, store: store, s: s}
}

// RunReport is what one pass of [Scheduler.RunDue] did.
type RunReport struct {
	// BackedUp are the backups taken.
	BackedUp []Result
	// Failed maps the schemas whose backup failed to the error.
	Failed map[string]error
	// Busy are the schemas skipped because another backup of theirs was running.
	Busy []string
	// Pruned counts old backups deleted by retention.
	Pruned int
}

// Slot returns when schema's backup falls in the period (of length Every, counted from the Unix
// epoch) that contains now.
func (sc *Scheduler) Slot(schema string, now time.Time) time.Time {
	h := fnv.New64a()
	h.Write([]byte(schema))
	return now.Truncate(sc.s.Every).Add(time.Duration(h.Sum64() % uint64(sc.s.Every)))
}

// When returns when schema's backup of the period that contains now should run: at its slot if
// that is still ahead, else within the catch-up window that starts at now (see
// [Schedule.CatchUp]).
func (sc *Scheduler) When(schema string, now time.Time) time.Time {
	slot := sc.Slot(schema, now)
	if !slot.Before(now) {
		return slot
	}
	start := sc.Period(now)
	window := min(sc.s.CatchUp, start.Add(sc.s.Every).Sub(now))
	// The past slots lie in [start, now): each keeps its place among them.
	frac := float64(slot.Sub(start)) / float64(now.Sub(start))
	return now.Add(time.Duration(frac * float64(window)))
}

// Period returns the start of the period (of length Every, counted from the Unix epoch) that
// contains now.
func (sc *Scheduler) Period(now time.Time) time.Time { return now.Truncate(sc.s.Every) }

// Store returns the store the scheduler backs up into.
func (sc *Scheduler) Store() Store { return sc.store }

// Every returns the schedule's period.
func (sc *Scheduler) Every() time.Duration { return sc.s.Every }

// Due reports whether org's backup is due at now: its slot in the current period has come and
// the store has no backup taken since that slot.
func (sc *Scheduler) Due(org tenancy.Organization, now time.Time) (bool, error) {
	slot := sc.Slot(org.SchemaName, now)
	if now.Before(slot) {
		return false, nil
	}
	last, err := sc.store.LastSuccess(org)
	if err != nil {
		return false, err
	}
	return last.Before(slot), nil
}

// BackupTenant backs up org into the store now, names the file for now, prunes the tenant's old
// backups per retention and logs the result; a failure is recorded by the store (see
// [Store.BackupAt]) and returned. While another backup of the tenant is running it returns
// [ErrInProgress] and records nothing. It returns how many old backups it pruned.
func (sc *Scheduler) BackupTenant(ctx context.Context, org tenancy.Organization, now time.Time) (Result, int, error) {
	res, err := sc.store.BackupAt(ctx, sc.m, org, now)
	if errors.Is(err, ErrInProgress) {
		sc.s.Logger.Info("backup skipped: another backup of the tenant is running", "organization_id", org.ID, "schema", org.SchemaName)
		return Result{}, 0, err
	}
	if err != nil {
		sc.s.Logger.Error("scheduled backup failed", "organization_id", org.ID, "schema", org.SchemaName, "err", err)
		return Result{}, 0, err
	}
	sc.s.Logger.Info("backup", "organization_id", org.ID, "schema", org.SchemaName, "path", res.Path,
		"rows", res.Manifest.RowCount(), "bytes", res.Size, "took", res.Took)
	n, err := sc.store.Prune(org.SchemaName, sc.s.KeepDaily, sc.s.KeepWeekly)
	if err != nil {
		sc.s.Logger.Error("pruning backups", "schema", org.SchemaName, "err", err)
	}
	return res, n, nil
}

// RunDue backs up every active tenant whose backup is due (see [Scheduler.Due]), or every active
// tenant with all, through [Scheduler.BackupTenant]. One failing tenant does not stop the others.
// It is what `backup_all_tenants` runs; the server's schedule runs one River job per tenant
// instead (internal/jobs).
func (sc *Scheduler) RunDue(ctx context.Context, now time.Time, all bool) (RunReport, error) {
	orgs, err := sc.m.Organizations(ctx)
	if err != nil {
		return RunReport{}, err
	}
	rep := RunReport{Failed: map[string]error{}}
	for _, o := range orgs {
		if !o.IsActive || o.SchemaName == "" {
			continue
		}
		if ctx.Err() != nil {
			return rep, ctx.Err()
		}
		if !all {
			if due, err := sc.Due(o, now); err != nil || !due {
				if err != nil {
					rep.Failed[o.SchemaName] = err
				}
				continue
			}
		}
		res, n, err := sc.BackupTenant(ctx, o, now)
		if errors.Is(err, ErrInProgress) {
			rep.Busy = append(rep.Busy, o.SchemaName)
			continue
		}
		if err != nil {
			rep.Failed[o.SchemaName] = err
			continue
		}
		rep.BackedUp = append(rep.BackedUp, res)
		rep.Pruned += n
	}
	return rep, nil
}

// backupTime reads the time a backup file's name records.
func backupTime(name string) (time.Time, bool) {
	if !strings.HasSuffix(name, Extension) || strings.HasPrefix(name, ".") {
		return time.Time{}, false
	}
	t, err := time.Parse(timestampLayout, strings.TrimSuffix(name, Extension))
	return t, err == nil
}

// backupsOf returns a schema's backup files, newest first, with their times.
func (s Store) backupsOf(schema string) ([]string, []time.Time, error) {
	if err := tenancy.ValidateSchemaName(schema); err != nil {
		return nil, nil, err
	}
	entries, err := os.ReadDir(filepath.Join(s.Root, schema))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, fmt.Errorf("listing backups of %s: %w", schema, err)
	}
	type file struct {
		name string
		t    time.Time
	}
	var files []file
	for _, e := range entries {
		if t, ok := backupTime(e.Name()); ok && !e.IsDir() {
			files = append(files, file{e.Name(), t})
		}
	}
	sort.Slice(files, func(i, j int) bool { return files[i].t.After(files[j].t) })
	names := make([]string, len(files))
	times := make([]time.Time, len(files))
	for i, f := range files {
		names[i], times[i] = f.name, f.t
	}
	return names, times, nil
}

// LastSuccess returns when the newest backup of org in the store was taken (zero if none), in
// any schema the organization has had (see [Store.Status]). It reads only file names.
func (s Store) LastSuccess(org tenancy.Organization) (time.Time, error) {
	st, err := s.Status(org)
	return st.LastSuccess, err
}

// lastInDir returns when the newest backup in schema's directory was taken (zero if none).
func (s Store) lastInDir(schema string) (time.Time, error) {
	_, times, err := s.backupsOf(schema)
	if err != nil || len(times) == 0 {
		return time.Time{}, err
	}
	return times[0], nil
}

// Status is the backup state of one tenant in a store.
type Status struct {
	// LastSuccess is when its newest backup was taken (zero: never).
	LastSuccess time.Time
	// LastFailure and FailureMessage describe the last failed backup into the store, when it is
	// newer than the last success.
	LastFailure    time.Time
	FailureMessage string
}

// Status returns org's backup state, keyed by the organization: its backups under every schema it
// has had count (a restore over it gives it a new schema; its archives stay under the old one).
func (s Store) Status(org tenancy.Organization) (Status, error) {
	var st Status
	schemas, err := s.schemasOf(org)
	if err != nil {
		return st, err
	}
	for _, schema := range schemas {
		last, err := s.lastInDir(schema)
		if err != nil {
			return st, err
		}
		if last.After(st.LastSuccess) {
			st.LastSuccess = last
		}
		at, msg, err := s.failureIn(schema)
		if err != nil {
			return st, err
		}
		if at.After(st.LastFailure) {
			st.LastFailure, st.FailureMessage = at, msg
		}
	}
	if !st.LastFailure.After(st.LastSuccess) {
		st.LastFailure, st.FailureMessage = time.Time{}, ""
	}
	return st, nil
}

// failureIn reads the failure record of schema's directory (zero when there is none).
func (s Store) failureIn(schema string) (time.Time, string, error) {
	body, err := os.ReadFile(filepath.Join(s.Root, schema, failureFile))
	if errors.Is(err, fs.ErrNotExist) {
		return time.Time{}, "", nil
	}
	if err != nil {
		return time.Time{}, "", err
	}
	when, msg, _ := strings.Cut(strings.TrimSpace(string(body)), " ")
	t, err := time.Parse(time.RFC3339Nano, when)
	if err != nil {
		return time.Time{}, "", nil // unreadable record: no failure to show
	}
	return t, msg, nil
}

func (s Store) recordFailure(schema string, now time.Time, failure error) error {
	dir := filepath.Join(s.Root, schema)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	msg := strings.ReplaceAll(failure.Error(), "\n", " ")
	return os.WriteFile(filepath.Join(dir, failureFile), []byte(now.UTC().Format(time.RFC3339Nano)+" "+msg+"\n"), 0o600)
}

// Prune deletes schema's backups beyond retention: the newest backup of each of the keepDaily most
// recent UTC days that have one, and then the newest of each of the keepWeekly most recent ISO weeks
// before those. The newest backup is always kept. It returns how many files it deleted.
func (s Store) Prune(schema string, keepDaily, keepWeekly int) (int, error) {
	names, times, err := s.backupsOf(schema)
	if err != nil || len(names) == 0 {
		return 0, err
	}
	keep := map[int]bool{0: true}
	days := map[string]bool{}
	for i, t := range times {
		d := t.UTC().Format(time.DateOnly)
		if len(days) < keepDaily && !days[d] {
			days[d] = true
			keep[i] = true
		}
	}
	weeks := map[string]bool{}
	for i, t := range times {
		if days[t.UTC().Format(time.DateOnly)] {
			continue
		}
		y, w := t.UTC().ISOWeek()
		k := fmt.Sprintf("%d-%02d", y, w)
		if len(weeks) < keepWeekly && !weeks[k] {
			weeks[k] = true
			keep[i] = true
		}
	}
	deleted := 0
	for i, n := range names {
		if keep[i] {
			continue
		}
		if err := os.Remove(filepath.Join(s.Root, schema, n)); err != nil {
			return deleted, fmt.Errorf("pruning %s: %w", n, err)
		}
		deleted++
	}
	return deleted, nil
}
