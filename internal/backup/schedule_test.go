package backup_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/appcitas/appcitas/internal/backup"
	"github.com/appcitas/appcitas/internal/pgtest"
	"github.com/appcitas/appcitas/internal/tenancy"
)

func TestScheduler(t *testing.T) {
	t.Parallel()
	ctx := context.Background()

	t.Run("SpreadsTenantsOverThePeriod", func(t *testing.T) {
		t.Parallel()
		sc := backup.NewScheduler(nil, backup.Store{}, backup.Schedule{Every: 24 * time.Hour})
		now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
		hours := map[int]int{}
		for i := range 500 {
			slot := sc.Slot(fmt.Sprintf("tenant_t%d_%08x", i, i*7919), now)
			if want, got := now.Truncate(24*time.Hour), slot.Truncate(24*time.Hour); !reflect.DeepEqual(got, want) {
				t.Fatalf("slot inside the period: got %v; want %v", got, want)
			}
			hours[slot.Hour()]++
		}
		if len(hours) != 24 {
			t.Fatalf("every hour of the day gets some tenants: len(hours) = %d; want %d: %v", len(hours), 24, hours)
		}
		for h, n := range hours {
			if n >= 45 {
				t.Fatalf("hour %d has %d of 500 tenants: n = %v; want it below %v", h, n, n, 45)
			}
		}
	})

	t.Run("WhenIsTheSlotOrASpreadCatchUp", func(t *testing.T) {
		t.Parallel()
		day := 24 * time.Hour
		start := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
		tests := []struct {
			name     string
			schedule backup.Schedule
			now      time.Time
			// window is where a past slot's backup must land, after now.
			window time.Duration
		}{
			{"DailyCatchesUpWithinAnHour", backup.Schedule{Every: day}, start.Add(20 * time.Hour), time.Hour},
			{"CatchUpNeverPassesThePeriodsEnd", backup.Schedule{Every: day}, start.Add(23*time.Hour + 50*time.Minute), 10 * time.Minute},
			{"CatchUpWindowIsConfigurable", backup.Schedule{Every: day, CatchUp: 3 * time.Hour}, start.Add(12 * time.Hour), 3 * time.Hour},
			{"HourlyCatchesUpWithinTwoAndAHalfMinutes", backup.Schedule{Every: time.Hour}, start.Add(50 * time.Minute), 150 * time.Second},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				sc := backup.NewScheduler(nil, backup.Store{}, tt.schedule)
				late := map[time.Duration]bool{}
				for i := range 400 {
					schema := fmt.Sprintf("tenant_t%d_%08x", i, i*7919)
					slot, when := sc.Slot(schema, tt.now), sc.When(schema, tt.now)
					if !slot.Before(tt.now) {
						if !reflect.DeepEqual(when, slot) {
							t.Fatalf("a slot still ahead is kept: when = %v; want %v", when, slot)
						}
						continue
					}
					if when.Before(tt.now) {
						t.Fatalf("%s: a past slot runs from now on", schema)
					}
					if !when.Before(tt.now.Add(tt.window)) {
						t.Fatalf("%s: %s is past the %s window", schema, when.Sub(tt.now), tt.window)
					}
					late[when.Sub(tt.now)*10/tt.window] = true
				}
				if len(late) != 10 {
					t.Fatalf("catch-ups spread over every tenth of the window: len(late) = %d; want %d: %v", len(late), 10, late)
				}
			})
		}
	})

	t.Run("BacksUpEachActiveTenantOncePerPeriodAndRecordsFailures", func(t *testing.T) {
		t.Parallel()
		f := setup(t, setupOptions{})
		a := f.newOrg(t, "Uno", "", 2)
		b := f.newOrg(t, "Dos", "", 2)
		off := f.newOrg(t, "Apagada", "", 2)
		_, err := f.m.SetActive(ctx, off.ID, false)
		if err != nil {
			t.Fatal(err)
		}
		store := backup.Store{Root: f.dir}
		sc := backup.NewScheduler(f.m, store, backup.Schedule{Every: time.Hour})

		// Just after the later of the two tenants' slots in this period: both are due.
		now := time.Now()
		end := sc.Slot(a.SchemaName, now)
		if sb := sc.Slot(b.SchemaName, now); sb.After(end) {
			end = sb
		}
		end = end.Add(time.Millisecond)
		rep, err := sc.RunDue(ctx, end, false)
		if err != nil {
			t.Fatal(err)
		}
		if len(rep.BackedUp) != 2 {
			t.Fatalf("len(rep.BackedUp) = %d; want %d: %v", len(rep.BackedUp), 2, rep.BackedUp)
		}
		if len(rep.Failed) != 0 {
			t.Fatalf("rep.Failed = %v; want 0", rep.Failed)
		}
		rep, err = sc.RunDue(ctx, end.Add(time.Millisecond), false)
		if err != nil {
			t.Fatal(err)
		}
		if len(rep.BackedUp) != 0 {
			t.Fatalf("nothing is due twice in a period: rep.BackedUp = %v; want 0", rep.BackedUp)
		}
		rep, err = sc.RunDue(ctx, end.Add(time.Hour), false)
		if err != nil {
			t.Fatal(err)
		}
		if len(rep.BackedUp) != 2 {
			t.Fatalf("due again next period: len(rep.BackedUp) = %d; want %d: %v", len(rep.BackedUp), 2, rep.BackedUp)
		}
		for _, o := range []tenancy.Organization{a, b} {
			st, err := store.Status(o)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(st.LastSuccess, end.Add(time.Hour).UTC().Truncate(time.Millisecond)) {
				t.Fatalf("st.LastSuccess = %v; want %v", st.LastSuccess, end.Add(time.Hour).UTC().Truncate(time.Millisecond))
			}
		}
		entries, err := store.List(off.ID)
		if err != nil {
			t.Fatal(err)
		}
		if len(entries) != 0 {
			t.Fatalf("inactive tenants are not backed up: entries = %v; want 0", entries)
		}

		// A tenant whose schema is gone fails, the other is backed up, and the failure is visible.
		conn, err := pgx.Connect(ctx, pgtest.SuperuserURL(t, f.url))
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(ctx)
		_, err = conn.Exec(ctx, "DROP SCHEMA "+pgx.Identifier{b.SchemaName}.Sanitize()+" CASCADE")
		if err != nil {
			t.Fatal(err)
		}
		rep, err = sc.RunDue(ctx, end.Add(2*time.Hour), false)
		if err != nil {
			t.Fatal(err)
		}
		if len(rep.BackedUp) != 1 {
			t.Fatalf("len(rep.BackedUp) = %d; want %d: %v", len(rep.BackedUp), 1, rep.BackedUp)
		}
		if _, ok := rep.Failed[b.SchemaName]; !ok {
			t.Fatalf("rep.Failed = %v; want it to hold %s", rep.Failed, b.SchemaName)
		}
		st, err := store.Status(b)
		if err != nil {
			t.Fatal(err)
		}
		if st.LastFailure.IsZero() {
			t.Fatal("st.LastFailure.IsZero() is true; want false")
		}
		if !strings.Contains(st.FailureMessage, "does not exist") {
			t.Fatalf("st.FailureMessage = %v; want it to contain %v", st.FailureMessage, "does not exist")
		}
	})

	t.Run("PruneKeepsDailyAndWeeklyBackups", func(t *testing.T) {
		t.Parallel()
		store := backup.Store{Root: t.TempDir()}
		const schema = "tenant_poda_0000abcd"
		dir := filepath.Join(store.Root, schema)
		if err := os.MkdirAll(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		newest := time.Date(2026, 3, 31, 23, 0, 0, 0, time.UTC)
		for d := range 60 {
			for _, h := range []int{1, 13} {
				ts := newest.AddDate(0, 0, -d).Truncate(24 * time.Hour).Add(time.Duration(h) * time.Hour)
				path, err := store.PathFor(schema, ts)
				if err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, nil, 0o600); err != nil {
					t.Fatal(err)
				}
			}
		}
		deleted, err := store.Prune(schema, 7, 4)
		if err != nil {
			t.Fatal(err)
		}
		left, err := os.ReadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		if len(left) != 11 {
			t.Fatalf("7 daily + 4 weekly: len(left) = %d; want %d: %v", len(left), 11, left)
		}
		if deleted != 120-11 {
			t.Fatalf("deleted = %v; want %v", deleted, 120-11)
		}
		last, err := store.LastSuccess(tenancy.Organization{ID: 1, SchemaName: schema})
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(last, newest.Truncate(24*time.Hour).Add(13*time.Hour)) {
			t.Fatalf("last = %v; want %v", last, newest.Truncate(24*time.Hour).Add(13*time.Hour))
		}
	})
}

func TestOneBackupOfATenantAtATime(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := setup(t, setupOptions{})
	a := f.newOrg(t, "Ocupada", "", 3)
	b := f.newOrg(t, "Libre", "", 3)
	store := backup.Store{Root: f.dir}
	sc := backup.NewScheduler(f.m, store, backup.Schedule{Every: time.Hour})

	blocked, release := pgtest.BlockTable(t, f.url, a.SchemaName, "citas_cita")
	type outcome struct {
		res backup.Result
		err error
	}
	first := make(chan outcome, 1)
	go func() {
		res, err := store.Backup(ctx, f.m, a)
		first <- outcome{res, err}
	}()
	blocked() // the first backup holds a's snapshot and lock, waiting to read citas_cita

	t.Run("ASecondBackupOfTheTenantIsRefusedAtOnceAndRecordsNoFailure", func(t *testing.T) {
		// Bounded: without the lock, the second backup would wait for citas_cita too.
		ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		_, err := store.Backup(ctx, f.m, a)
		if !errors.Is(err, backup.ErrInProgress) {
			t.Fatalf("got error %v; want %v", err, backup.ErrInProgress)
		}
		_, err = backup.Write(ctx, f.m, a, io.Discard)
		if !errors.Is(err, backup.ErrInProgress) {
			t.Fatalf("got error %v; want %v", err, backup.ErrInProgress)
		}
		st, err := store.Status(a)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(st, backup.Status{}) {
			t.Fatalf("no backup yet and no failure: st = %v; want %v", st, backup.Status{})
		}
	})

	t.Run("TheScheduleSkipsTheBusyTenantAndBacksUpTheOthers", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		rep, err := sc.RunDue(ctx, time.Now(), true)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(rep.Busy, []string{a.SchemaName}) {
			t.Fatalf("rep.Busy = %v; want %v", rep.Busy, []string{a.SchemaName})
		}
		if len(rep.Failed) != 0 {
			t.Fatalf("rep.Failed = %v; want 0", rep.Failed)
		}
		if len(rep.BackedUp) != 1 {
			t.Fatalf("len(rep.BackedUp) = %d; want %d: %v", len(rep.BackedUp), 1, rep.BackedUp)
		}
		if rep.BackedUp[0].Manifest.Organization.SchemaName != b.SchemaName {
			t.Fatalf("rep.BackedUp[0].Manifest.Organization.SchemaName = %q; want %q", rep.BackedUp[0].Manifest.Organization.SchemaName, b.SchemaName)
		}
	})

	release()
	done := <-first
	if err := done.err; err != nil {
		t.Fatalf("the first backup completes: %v", err)
	}

	t.Run("TheNextBackupRunsOnceTheFirstIsDone", func(t *testing.T) {
		res, err := store.Backup(ctx, f.m, a)
		if err != nil {
			t.Fatal(err)
		}
		if want, got := done.res.Manifest.RowCount(), res.Manifest.RowCount(); got != want {
			t.Fatalf("got %v; want %v", got, want)
		}
		entries, err := store.List(a.ID)
		if err != nil {
			t.Fatal(err)
		}
		if len(entries) != 2 {
			t.Fatalf("len(entries) = %d; want %d: %v", len(entries), 2, entries)
		}
		st, err := store.Status(a)
		if err != nil {
			t.Fatal(err)
		}
		if !st.LastFailure.IsZero() {
			t.Fatal("st.LastFailure.IsZero() is false; want true")
		}
	})
}

func TestStoreBackupRecordsItsFailure(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := setup(t, setupOptions{})
	org := f.newOrg(t, "Rota", "", 1)
	store := backup.Store{Root: f.dir}
	conn, err := pgx.Connect(ctx, pgtest.SuperuserURL(t, f.url))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, "DROP SCHEMA "+pgx.Identifier{org.SchemaName}.Sanitize()+" CASCADE")
	if err != nil {
		t.Fatal(err)
	}

	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	_, err = store.Backup(cancelled, f.m, org)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("got error %v; want %v", err, context.Canceled)
	}
	st, err := store.Status(org)
	if err != nil {
		t.Fatal(err)
	}
	if !st.LastFailure.IsZero() {
		t.Fatal("a cancelled backup is not a failure")
	}

	before := time.Now()
	_, err = store.Backup(ctx, f.m, org)
	if err == nil {
		t.Fatal("got no error; want one")
	}
	st, err = store.Status(org)
	if err != nil {
		t.Fatal(err)
	}
	if st.LastFailure.Before(before.Truncate(time.Millisecond)) {
		t.Fatalf("failure at %v, backup at %v", st.LastFailure, before)
	}
	if !strings.Contains(st.FailureMessage, "does not exist") {
		t.Fatalf("st.FailureMessage = %v; want it to contain %v", st.FailureMessage, "does not exist")
	}
}

func TestStatusFollowsTheOrganizationToANewSchema(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := setup(t, setupOptions{})
	org := f.newOrg(t, "Renombrada", "", 1)
	store := backup.Store{Root: f.dir}
	before := time.Now().Truncate(time.Millisecond)
	_, err := store.Backup(ctx, f.m, org)
	if err != nil {
		t.Fatal(err)
	}

	// A restore over the organization gives it a new schema; its archives stay under the old one.
	moved := org
	moved.SchemaName, err = tenancy.NewSchemaName(org.Slug)
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.Status(moved)
	if err != nil {
		t.Fatal(err)
	}
	if st.LastSuccess.Before(before) {
		t.Fatalf("last success %v, backup at %v", st.LastSuccess, before)
	}

	other := tenancy.Organization{ID: org.ID + 1000, SchemaName: moved.SchemaName}
	st, err = store.Status(other)
	if err != nil {
		t.Fatal(err)
	}
	if !st.LastSuccess.IsZero() {
		t.Fatal("another organization's status stays its own")
	}
}
