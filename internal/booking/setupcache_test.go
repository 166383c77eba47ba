package booking_test

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/appcitas/appcitas/internal/booking"
)

// version reads the tenant's set-up version in a transaction of its own.
func (e *env) version(t *testing.T) booking.SetupVersion {
	t.Helper()
	var v booking.SetupVersion
	e.run(t, func(ctx context.Context, tx pgx.Tx) error {
		return tx.QueryRow(ctx, booking.SetupVersionSQL).Scan(&v.Table, &v.Version)
	})
	return v
}

func TestSetupVersionFollowsEverySetupTable(t *testing.T) {
	t.Parallel()
	e := setup(t)
	f := e.newFixture(t, "America/Bogota", booking.ServicePatch{DurationMinutes: ptr(30)}, "09:00", "18:00")
	tests := []struct {
		name    string
		change  func(ctx context.Context, tx pgx.Tx) error
		changed bool
	}{
		{"NewBranch", func(ctx context.Context, tx pgx.Tx) error {
			_, err := booking.CreateBranch(ctx, tx, booking.BranchPatch{Name: ptr("Norte"), TimeZone: ptr("America/Lima")})
			return err
		}, true},
		{"ServicePriceChange", func(ctx context.Context, tx pgx.Tx) error {
			_, err := booking.UpdateService(ctx, tx, f.service.ID, booking.ServicePatch{PriceCents: ptr(int64(3000000))})
			return err
		}, true},
		{"MemberDeactivated", func(ctx context.Context, tx pgx.Tx) error {
			_, err := booking.DeactivateMember(ctx, tx, f.staff.ID)
			return err
		}, true},
		{"MemberReactivated", func(ctx context.Context, tx pgx.Tx) error {
			_, err := booking.UpdateMember(ctx, tx, f.staff.ID, booking.MemberPatch{Active: ptr(true)})
			return err
		}, true},
		{"WorkingHoursAndBreaksReplaced", func(ctx context.Context, tx pgx.Tx) error {
			_, err := booking.SetWeeklyHours(ctx, tx, f.staff.ID, []booking.WorkBlock{{BranchID: f.branch.ID, Weekday: 1,
				Start: "08:00", End: "17:00", Breaks: []booking.Break{{Start: "12:00", End: "13:00"}}}})
			return err
		}, true},
		{"BreakChangedByHand", func(ctx context.Context, tx pgx.Tx) error {
			_, err := tx.Exec(ctx, `UPDATE citas_descanso SET hora_fin = '13:30'`)
			return err
		}, true},
		{"ExceptionAdded", func(ctx context.Context, tx pgx.Tx) error {
			_, err := booking.CreateException(ctx, tx, booking.Exception{BranchID: &f.branch.ID, Date: date(t, "2027-12-25"), Reason: "Navidad"})
			return err
		}, true},
		{"AppointmentBookedIsNotSetup", func(ctx context.Context, tx pgx.Tx) error {
			_, err := booking.Open(tx, nil, nil).CreateAppointment(ctx, f.admin, booking.NewAppointment{BranchID: f.branch.ID,
				ServiceID: f.service.ID, StaffID: f.staff.ID, Start: mustTime(t, "2027-03-01T09:00:00-05:00"), ClientName: "Ana"}, past())
			return err
		}, false},
		{"RolledBackChangeIsInvisible", func(ctx context.Context, tx pgx.Tx) error {
			if _, err := booking.CreateBranch(ctx, tx, booking.BranchPatch{Name: ptr("Sur"), TimeZone: ptr("America/Lima")}); err != nil {
				return err
			}
			return errRollback
		}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := e.version(t)
			if err := e.try(t, tt.change); err != nil && !errors.Is(err, errRollback) {
				t.Fatal(err)
			}
			after := e.version(t)
			if after.Table != before.Table {
				t.Fatalf("version table changed from %d to %d", before.Table, after.Table)
			}
			if changed := after.Version != before.Version; changed != tt.changed {
				t.Errorf("version %d -> %d, want changed=%t", before.Version, after.Version, tt.changed)
			}
		})
	}
}

var errRollback = errors.New("roll back")

func TestSetupCache(t *testing.T) {
	t.Parallel()
	e := setup(t)
	f := e.newFixture(t, "America/Bogota", booking.ServicePatch{DurationMinutes: ptr(30)}, "09:00", "18:00")
	get := func(t *testing.T, c *booking.SetupCache, tenant string, v booking.SetupVersion) *booking.Setup {
		t.Helper()
		var s *booking.Setup
		e.run(t, func(ctx context.Context, tx pgx.Tx) error {
			var err error
			s, err = c.Get(ctx, tx, tenant, v)
			return err
		})
		return s
	}
	wantStats := func(t *testing.T, c *booking.SetupCache, want booking.SetupCacheStats) {
		t.Helper()
		if got := c.Stats(); got != want {
			t.Errorf("stats = %+v, want %+v", got, want)
		}
	}

	t.Run("LoadsOnceAtAVersion", func(t *testing.T) {
		c := booking.NewSetupCache(0, nil)
		v := e.version(t)
		first, second := get(t, c, "a", v), get(t, c, "a", v)
		if first == nil || first != second {
			t.Fatalf("set-ups %p and %p, want one kept value", first, second)
		}
		m, ok := first.ActiveMember(100)
		if !ok || m.ID != f.staff.ID || m.Role != booking.RoleStaff {
			t.Errorf("ActiveMember(100) = %+v, %t; want the staff member", m, ok)
		}
		if _, ok := first.ActiveMember(999); ok {
			t.Error("a user without a profile has an active member")
		}
		wantStats(t, c, booking.SetupCacheStats{Tenants: 1, Rows: first.Rows() + 1, Hits: 1, Misses: 1})
	})

	t.Run("ReloadsWhenTheVersionMoves", func(t *testing.T) {
		c := booking.NewSetupCache(0, nil)
		old := get(t, c, "a", e.version(t))
		var added booking.Member
		e.run(t, func(ctx context.Context, tx pgx.Tx) error {
			var err error
			added, err = booking.AddMember(ctx, tx, booking.NewMember{UserID: 101, Role: booking.RoleReceptionist})
			return err
		})
		if _, ok := old.ActiveMember(101); ok {
			t.Fatal("the kept set-up changed")
		}
		now := get(t, c, "a", e.version(t))
		if m, ok := now.ActiveMember(101); !ok || m.ID != added.ID {
			t.Errorf("after the change ActiveMember(101) = %+v, %t", m, ok)
		}
		if st := c.Stats(); st.Misses != 2 || st.Tenants != 1 {
			t.Errorf("stats = %+v, want 2 misses and 1 tenant", st)
		}
	})

	t.Run("AnOlderLoadDoesNotReplaceANewerOne", func(t *testing.T) {
		c := booking.NewSetupCache(0, nil)
		v := e.version(t)
		newer := get(t, c, "a", v)
		older := v
		older.Version--
		get(t, c, "a", older) // a request that read the version before the change, finishing late
		if again := get(t, c, "a", v); again != newer {
			t.Error("the newer set-up was replaced by an older one")
		}
	})

	t.Run("ARestoredTableIsAnotherVersion", func(t *testing.T) {
		c := booking.NewSetupCache(0, nil)
		v := e.version(t)
		kept := get(t, c, "a", v)
		other := v
		other.Table++
		if s := get(t, c, "a", other); s == kept {
			t.Error("a set-up of another version table was served from the cache")
		}
	})

	t.Run("EvictsTheLeastRecentlyUsedOverTheBudget", func(t *testing.T) {
		v := e.version(t)
		one := get(t, booking.NewSetupCache(0, nil), "x", v).Rows() + 1 // a set-up's weight
		c := booking.NewSetupCache(10*one, nil)                         // ten fit; a tenth each is allowed
		for i := range 10 {
			get(t, c, fmt.Sprint("t", i), v)
		}
		get(t, c, "t0", v) // t0 is now the most recently used, t1 the least
		get(t, c, "t10", v)
		st := c.Stats()
		if st.Tenants != 10 || st.Rows != 10*one {
			t.Fatalf("stats = %+v, want 10 tenants of %d rows", st, one)
		}
		misses := st.Misses
		get(t, c, "t0", v)
		if c.Stats().Misses != misses {
			t.Error("the most recently used set-up was evicted")
		}
		get(t, c, "t1", v)
		if c.Stats().Misses != misses+1 {
			t.Error("the least recently used set-up was kept over the budget")
		}
	})

	t.Run("ATooLargeTenantIsReadFromItsTables", func(t *testing.T) {
		c := booking.NewSetupCache(10, nil) // at most 1 row per tenant
		v := e.version(t)
		if s := get(t, c, "a", v); s != nil {
			t.Fatalf("a set-up of %d rows was kept with room for 1", s.Rows())
		}
		if s := get(t, c, "a", v); s != nil {
			t.Fatal("the second request got a set-up")
		}
		if st := c.Stats(); st.Hits != 1 || st.Rows != 1 {
			t.Errorf("stats = %+v: the tenant's size should be remembered at its version, at the cost of one row", st)
		}
	})
}

func TestLoadSetupLimit(t *testing.T) {
	t.Parallel()
	e := setup(t)
	e.newFixture(t, "America/Bogota", booking.ServicePatch{DurationMinutes: ptr(30)}, "09:00", "18:00")
	// A branch, a service, a member and seven blocks of hours: 10 rows.
	tests := []struct {
		name    string
		maxRows int
		tooBig  bool
	}{
		{"NoLimit", 0, false},
		{"ExactlyAtTheLimit", 10, false},
		{"OneOverTheLimit", 9, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e.run(t, func(ctx context.Context, tx pgx.Tx) error {
				s, err := booking.LoadSetup(ctx, tx, nil, tt.maxRows)
				if tt.tooBig {
					if !errors.Is(err, booking.ErrSetupTooLarge) {
						t.Errorf("LoadSetup = %v, want ErrSetupTooLarge", err)
					}
					return nil
				}
				if err != nil {
					return err
				}
				if s.Rows() != 10 {
					t.Errorf("Rows() = %d, want 10", s.Rows())
				}
				return nil
			})
		})
	}
}

// TestFreeSlotsSkipsInactiveStaff checks, through both sources of the set-up (freeSlots compares
// them), that a deactivated staff member's hours offer no slots.
func TestFreeSlotsSkipsInactiveStaff(t *testing.T) {
	t.Parallel()
	e := setup(t)
	f := e.newFixture(t, "America/Bogota", booking.ServicePatch{DurationMinutes: ptr(60)}, "09:00", "11:00")
	var gone booking.Member
	e.run(t, func(ctx context.Context, tx pgx.Tx) error {
		var err error
		if gone, err = booking.AddMember(ctx, tx, booking.NewMember{UserID: 101, Role: booking.RoleStaff, DisplayName: "Pedro"}); err != nil {
			return err
		}
		if _, err = booking.SetWeeklyHours(ctx, tx, gone.ID, []booking.WorkBlock{{BranchID: f.branch.ID, Weekday: 1, Start: "09:00", End: "11:00"}}); err != nil {
			return err
		}
		_, err = booking.DeactivateMember(ctx, tx, gone.ID)
		return err
	})
	monday := date(t, "2027-03-01")
	a := e.freeSlots(t, booking.AvailabilityQuery{ServiceID: f.service.ID, BranchID: f.branch.ID, From: monday, To: monday, Now: past()})
	if len(a.Staff) != 1 || a.Staff[0].StaffID != f.staff.ID {
		t.Errorf("staff offered: %+v, want only %d", a.Staff, f.staff.ID)
	}
	a = e.freeSlots(t, booking.AvailabilityQuery{ServiceID: f.service.ID, BranchID: f.branch.ID, StaffID: gone.ID, From: monday, To: monday, Now: past()})
	if len(a.Staff) != 0 {
		t.Errorf("the inactive member offers %+v", a.Staff)
	}
}

// TestSetupMemoryPerRow keeps the documented size of the set-up cache honest
// (APPCITAS_SETUP_CACHE_ROWS: "about 350 bytes" a row, so the default 500,000 rows is under 200 MB):
// it loads a typical small tenant's set-up many times, keeps every copy, and measures the heap they
// hold. Not parallel: the heap is the whole process's, so no other test may allocate meanwhile.
func TestSetupMemoryPerRow(t *testing.T) {
	e := setup(t)
	f := e.newFixture(t, "America/Bogota", booking.ServicePatch{DurationMinutes: ptr(30), Description: ptr("Corte clásico con tijera y máquina")}, "09:00", "18:00")
	e.run(t, func(ctx context.Context, tx pgx.Tx) error {
		if _, err := booking.AddMember(ctx, tx, booking.NewMember{UserID: 101, Role: booking.RoleReceptionist, DisplayName: "Recepción"}); err != nil {
			return err
		}
		_, err := booking.CreateException(ctx, tx, booking.Exception{BranchID: &f.branch.ID, Date: date(t, "2027-12-25"), Reason: "Navidad"})
		return err
	})
	const copies = 300
	kept := make([]*booking.Setup, 0, copies)
	var before, after runtime.MemStats
	zones := &booking.Zones{}
	e.run(t, func(ctx context.Context, tx pgx.Tx) error {
		if _, err := booking.LoadSetup(ctx, tx, zones, 0); err != nil { // zones loaded once, outside the measure
			return err
		}
		runtime.GC()
		runtime.ReadMemStats(&before)
		for range copies {
			s, err := booking.LoadSetup(ctx, tx, zones, 0)
			if err != nil {
				return err
			}
			kept = append(kept, s)
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		return nil
	})
	rows := kept[0].Rows() * copies
	perRow := float64(after.HeapAlloc-before.HeapAlloc) / float64(rows)
	t.Logf("%d set-ups of %d rows hold %d bytes: %.0f bytes a row", copies, kept[0].Rows(), after.HeapAlloc-before.HeapAlloc, perRow)
	if perRow > 450 {
		t.Errorf("a set-up row holds %.0f bytes; the documentation says about 350", perRow)
	}
	runtime.KeepAlive(kept)
}
