package backup_test

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

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
			require.Equal(t, now.Truncate(24*time.Hour), slot.Truncate(24*time.Hour), "slot inside the period")
			hours[slot.Hour()]++
		}
		require.Len(t, hours, 24, "every hour of the day gets some tenants")
		for h, n := range hours {
			require.Less(t, n, 45, "hour %d has %d of 500 tenants", h, n)
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
						require.Equal(t, slot, when, "a slot still ahead is kept")
						continue
					}
					require.False(t, when.Before(tt.now), "%s: a past slot runs from now on", schema)
					require.True(t, when.Before(tt.now.Add(tt.window)), "%s: %s is past the %s window", schema, when.Sub(tt.now), tt.window)
					late[when.Sub(tt.now)*10/tt.window] = true
				}
				require.Len(t, late, 10, "catch-ups spread over every tenth of the window")
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
		require.NoError(t, err)
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
		require.NoError(t, err)
		require.Len(t, rep.BackedUp, 2)
		require.Empty(t, rep.Failed)
		rep, err = sc.RunDue(ctx, end.Add(time.Millisecond), false)
		require.NoError(t, err)
		require.Empty(t, rep.BackedUp, "nothing is due twice in a period")
		rep, err = sc.RunDue(ctx, end.Add(time.Hour), false)
		require.NoError(t, err)
		require.Len(t, rep.BackedUp, 2, "due again next period")
		for _, o := range []tenancy.Organization{a, b} {
			st, err := store.Status(o)
			require.NoError(t, err)
			require.Equal(t, end.Add(time.Hour).UTC().Truncate(time.Millisecond), st.LastSuccess)
		}
		entries, err := store.List(off.ID)
		require.NoError(t, err)
		require.Empty(t, entries, "inactive tenants are not backed up")

		// A tenant whose schema is gone fails, the other is backed up, and the failure is visible.
		conn, err := pgx.Connect(ctx, pgtest.SuperuserURL(t, f.url))
		require.NoError(t, err)
		defer conn.Close(ctx)
		_, err = conn.Exec(ctx, "DROP SCHEMA "+pgx.Identifier{b.SchemaName}.Sanitize()+" CASCADE")
		require.NoError(t, err)
		rep, err = sc.RunDue(ctx, end.Add(2*time.Hour), false)
		require.NoError(t, err)
		require.Len(t, rep.BackedUp, 1)
		require.Contains(t, rep.Failed, b.SchemaName)
		st, err := store.Status(b)
		require.NoError(t, err)
		require.False(t, st.LastFailure.IsZero())
		require.Contains(t, st.FailureMessage, "does not exist")
	})

	t.Run("PruneKeepsDailyAndWeeklyBackups", func(t *testing.T) {
		t.Parallel()
		store := backup.Store{Root: t.TempDir()}
		const schema = "tenant_poda_0000abcd"
		dir := filepath.Join(store.Root, schema)
		require.NoError(t, os.MkdirAll(dir, 0o700))
		newest := time.Date(2026, 3, 31, 23, 0, 0, 0, time.UTC)
		for d := range 60 {
			for _, h := range []int{1, 13} {
				ts := newest.AddDate(0, 0, -d).Truncate(24 * time.Hour).Add(time.Duration(h) * time.Hour)
				path, err := store.PathFor(schema, ts)
				require.NoError(t, err)
				require.NoError(t, os.WriteFile(path, nil, 0o600))
			}
		}
		deleted, err := store.Prune(schema, 7, 4)
		require.NoError(t, err)
		left, err := os.ReadDir(dir)
		require.NoError(t, err)
		require.Len(t, left, 11, "7 daily + 4 weekly")
		require.Equal(t, 120-11, deleted)
		last, err := store.LastSuccess(tenancy.Organization{ID: 1, SchemaName: schema})
		require.NoError(t, err)
		require.Equal(t, newest.Truncate(24*time.Hour).Add(13*time.Hour), last)
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
		require.ErrorIs(t, err, backup.ErrInProgress)
		_, err = backup.Write(ctx, f.m, a, io.Discard)
		require.ErrorIs(t, err, backup.ErrInProgress)
		st, err := store.Status(a)
		require.NoError(t, err)
		require.Equal(t, backup.Status{}, st, "no backup yet and no failure")
	})

	t.Run("TheScheduleSkipsTheBusyTenantAndBacksUpTheOthers", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		rep, err := sc.RunDue(ctx, time.Now(), true)
		require.NoError(t, err)
		require.Equal(t, []string{a.SchemaName}, rep.Busy)
		require.Empty(t, rep.Failed)
		require.Len(t, rep.BackedUp, 1)
		require.Equal(t, b.SchemaName, rep.BackedUp[0].Manifest.Organization.SchemaName)
	})

	release()
	done := <-first
	require.NoError(t, done.err, "the first backup completes")

	t.Run("TheNextBackupRunsOnceTheFirstIsDone", func(t *testing.T) {
		res, err := store.Backup(ctx, f.m, a)
		require.NoError(t, err)
		require.Equal(t, done.res.Manifest.RowCount(), res.Manifest.RowCount())
		entries, err := store.List(a.ID)
		require.NoError(t, err)
		require.Len(t, entries, 2)
		st, err := store.Status(a)
		require.NoError(t, err)
		require.True(t, st.LastFailure.IsZero())
	})
}

func TestStoreBackupRecordsItsFailure(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := setup(t, setupOptions{})
	org := f.newOrg(t, "Rota", "", 1)
	store := backup.Store{Root: f.dir}
	conn, err := pgx.Connect(ctx, pgtest.SuperuserURL(t, f.url))
	require.NoError(t, err)
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, "DROP SCHEMA "+pgx.Identifier{org.SchemaName}.Sanitize()+" CASCADE")
	require.NoError(t, err)

	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	_, err = store.Backup(cancelled, f.m, org)
	require.ErrorIs(t, err, context.Canceled)
	st, err := store.Status(org)
	require.NoError(t, err)
	require.True(t, st.LastFailure.IsZero(), "a cancelled backup is not a failure")

	before := time.Now()
	_, err = store.Backup(ctx, f.m, org)
	require.Error(t, err)
	st, err = store.Status(org)
	require.NoError(t, err)
	require.False(t, st.LastFailure.Before(before.Truncate(time.Millisecond)), "failure at %v, backup at %v", st.LastFailure, before)
	require.Contains(t, st.FailureMessage, "does not exist")
}

func TestStatusFollowsTheOrganizationToANewSchema(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := setup(t, setupOptions{})
	org := f.newOrg(t, "Renombrada", "", 1)
	store := backup.Store{Root: f.dir}
	before := time.Now().Truncate(time.Millisecond)
	_, err := store.Backup(ctx, f.m, org)
	require.NoError(t, err)

	// A restore over the organization gives it a new schema; its archives stay under the old one.
	moved := org
	moved.SchemaName, err = tenancy.NewSchemaName(org.Slug)
	require.NoError(t, err)
	st, err := store.Status(moved)
	require.NoError(t, err)
	require.False(t, st.LastSuccess.Before(before), "last success %v, backup at %v", st.LastSuccess, before)

	other := tenancy.Organization{ID: org.ID + 1000, SchemaName: moved.SchemaName}
	st, err = store.Status(other)
	require.NoError(t, err)
	require.True(t, st.LastSuccess.IsZero(), "another organization's status stays its own")
}
