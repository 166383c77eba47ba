package booking_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/appcitas/appcitas/internal/booking"
)

func date(t *testing.T, s string) booking.Date {
	t.Helper()
	d, err := booking.ParseDate(s)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// freeSlots answers q twice in one transaction, reading the set-up from the tables and from a
// loaded booking.Setup, and fails the test unless both answers are the same.
func (e *env) freeSlots(t *testing.T, q booking.AvailabilityQuery) booking.Availability {
	t.Helper()
	var a booking.Availability
	e.run(t, func(ctx context.Context, tx pgx.Tx) error {
		viaSetup, setupErr := withSetup(ctx, t, tx, func(ctx context.Context, tx pgx.Tx, s *booking.Setup) (booking.Availability, error) {
			return booking.Open(tx, s, nil).FreeSlots(ctx, q)
		})
		var err error
		a, err = booking.Open(tx, nil, nil).FreeSlots(ctx, q)
		if (err == nil) != (setupErr == nil) || err != nil && err.Error() != setupErr.Error() {
			t.Fatalf("FreeSlots from the tables: %v; from the set-up: %v", err, setupErr)
		}
		if got, want := mustJSON(t, viaSetup), mustJSON(t, a); got != want {
			t.Fatalf("FreeSlots from the set-up:\n%s\nfrom the tables:\n%s", got, want)
		}
		return err
	})
	return a
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// starts returns the slot starts of the only staff member, in UTC RFC 3339.
func starts(t *testing.T, a booking.Availability) []string {
	t.Helper()
	if len(a.Staff) != 1 {
		t.Fatalf("availability of %d staff members, want 1", len(a.Staff))
	}
	out := []string{}
	for _, s := range a.Staff[0].Slots {
		out = append(out, s.Start.UTC().Format(time.RFC3339))
	}
	return out
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestFreeSlots(t *testing.T) {
	t.Parallel()
	e := setup(t)
	// Bogotá, UTC-5, no DST. 30 min service, 15 min buffer after; staff work 09:00-12:00.
	f := e.newFixture(t, "America/Bogota", booking.ServicePatch{DurationMinutes: ptr(30), BufferAfterMinutes: ptr(15)}, "09:00", "12:00")
	query := func(day string) booking.AvailabilityQuery {
		return booking.AvailabilityQuery{ServiceID: f.service.ID, BranchID: f.branch.ID, From: date(t, day), To: date(t, day), Now: past(), Step: 30 * time.Minute}
	}

	t.Run("FillsWorkingHours", func(t *testing.T) {
		got := starts(t, e.freeSlots(t, query("2027-09-06")))
		want := []string{"2027-09-06T14:00:00Z", "2027-09-06T14:30:00Z", "2027-09-06T15:00:00Z", "2027-09-06T15:30:00Z", "2027-09-06T16:00:00Z", "2027-09-06T16:30:00Z"}
		if !equal(got, want) {
			t.Errorf("slots %v, want %v", got, want)
		}
	})

	t.Run("SlotsAreInTheBranchZone", func(t *testing.T) {
		a := e.freeSlots(t, query("2027-09-06"))
		if s := a.Staff[0].Slots[0].Start.Format(time.RFC3339); s != "2027-09-06T09:00:00-05:00" {
			t.Errorf("first slot %s, want 2027-09-06T09:00:00-05:00", s)
		}
	})

	t.Run("SkipsBreaksAppointmentsAndBuffers", func(t *testing.T) {
		e.run(t, func(ctx context.Context, tx pgx.Tx) error {
			var week []booking.WorkBlock
			for d := range 7 {
				wb := booking.WorkBlock{BranchID: f.branch.ID, Weekday: d, Start: "09:00", End: "12:00"}
				if time.Weekday(d) == time.Tuesday {
					wb.Breaks = []booking.Break{{Start: "11:00", End: "11:30"}}
				}
				week = append(week, wb)
			}
			_, err := booking.SetWeeklyHours(ctx, tx, f.staff.ID, week)
			return err
		})
		// Busy 09:30-10:15 (30 min + 15 min buffer).
		if _, err := e.book(t, f, f.admin, mustTime(t, "2027-09-07T09:30:00-05:00")); err != nil {
			t.Fatal(err)
		}
		got := starts(t, e.freeSlots(t, query("2027-09-07")))
		// 09:00 would run its buffer to 09:45, into the appointment; 10:00 starts inside its busy
		// block; 10:30 is free; 11:00 is the break; 11:30 is free.
		want := []string{"2027-09-07T15:30:00Z", "2027-09-07T16:30:00Z"}
		if !equal(got, want) {
			t.Errorf("slots %v, want %v", got, want)
		}
	})

	t.Run("HonoursMinimumNotice", func(t *testing.T) {
		q := query("2027-09-08")
		q.Now = mustTime(t, "2027-09-08T09:40:00-05:00") // + 60 min: from 10:40
		got := starts(t, e.freeSlots(t, q))
		want := []string{"2027-09-08T16:00:00Z", "2027-09-08T16:30:00Z"}
		if !equal(got, want) {
			t.Errorf("slots %v, want %v", got, want)
		}
	})

	t.Run("HonoursExceptions", func(t *testing.T) {
		e.run(t, func(ctx context.Context, tx pgx.Tx) error {
			for _, x := range []booking.Exception{
				{StaffID: &f.staff.ID, Date: date(t, "2027-09-09"), Reason: "día libre"},
				{BranchID: &f.branch.ID, Date: date(t, "2027-09-10"), Reason: "festivo"},
				{BranchID: &f.branch.ID, Date: date(t, "2027-09-11"), Start: ptr("10:00"), End: ptr("11:00"), Reason: "media jornada"},
				{StaffID: &f.staff.ID, BranchID: &f.branch.ID, Date: date(t, "2027-09-12"), Start: ptr("15:00"), End: ptr("16:00"), Reason: "turno especial"},
			} {
				if _, err := booking.CreateException(ctx, tx, x); err != nil {
					return err
				}
			}
			return nil
		})
		tests := []struct {
			day  string
			want []string
		}{
			{"2027-09-09", []string{}},
			{"2027-09-10", []string{}},
			{"2027-09-11", []string{"2027-09-11T15:00:00Z", "2027-09-11T15:30:00Z"}},
			{"2027-09-12", []string{"2027-09-12T20:00:00Z", "2027-09-12T20:30:00Z"}},
		}
		for _, tt := range tests {
			t.Run(tt.day, func(t *testing.T) {
				if got := starts(t, e.freeSlots(t, query(tt.day))); !equal(got, tt.want) {
					t.Errorf("slots %v, want %v", got, tt.want)
				}
			})
		}
	})

	t.Run("RejectsBadRanges", func(t *testing.T) {
		tests := []struct {
			name     string
			from, to string
		}{
			{"TooLong", "2027-09-01", "2027-10-02"}, // 32 days
			{"Backwards", "2027-09-02", "2027-09-01"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				q := query(tt.from)
				q.To = date(t, tt.to)
				err := e.try(t, func(ctx context.Context, tx pgx.Tx) error {
					_, err := booking.Open(tx, nil, nil).FreeSlots(ctx, q)
					return err
				})
				if be := wantKind(t, err, booking.ErrInvalid, ""); be.Field != "hasta" {
					t.Errorf("field = %q", be.Field)
				}
			})
		}
		q := query("2027-09-01")
		q.To = date(t, "2027-10-01") // 31 days, allowed
		e.freeSlots(t, q)
	})
}

// TestFreeSlotsAcrossDST checks days whose length is not 24 hours. Staff work 00:00-06:00 (or
// 00:00-03:00) local time, a 60 min service, slots every 15 min.
func TestFreeSlotsAcrossDST(t *testing.T) {
	t.Parallel()

	type check struct {
		name, zone, day, from, to string
		// wantFirst and wantLast are the first and last slot starts in UTC; wantCount the number.
		wantFirst, wantLast string
		wantCount           int
		// noLocalHour is a local hour that does not exist that day (-1: none).
		noLocalHour int
		// repeatedLocal is a local wall time that exists twice that day ("": none).
		repeatedLocal string
	}
	tests := []check{
		{
			// 2027-03-14: clocks jump 02:00 EST -> 03:00 EDT. 00:00-06:00 local is 5 hours.
			name: "NewYorkSpringForward", zone: "America/New_York", day: "2027-03-14", from: "00:00", to: "06:00",
			wantFirst: "2027-03-14T05:00:00Z", wantLast: "2027-03-14T09:00:00Z", wantCount: 17, noLocalHour: 2,
		},
		{
			// 2027-11-07: clocks fall back 02:00 EDT -> 01:00 EST. 00:00-06:00 local is 7 hours; 01:xx
			// happens twice, as two distinct instants.
			name: "NewYorkFallBack", zone: "America/New_York", day: "2027-11-07", from: "00:00", to: "06:00",
			wantFirst: "2027-11-07T04:00:00Z", wantLast: "2027-11-07T10:00:00Z", wantCount: 25, noLocalHour: -1, repeatedLocal: "01:30",
		},
		{
			// 2027-09-05: Chile jumps at midnight, 00:00 -04 -> 01:00 -03: the day starts at 01:00.
			name: "SantiagoSpringForwardAtMidnight", zone: "America/Santiago", day: "2027-09-05", from: "00:00", to: "03:00",
			wantFirst: "2027-09-05T04:00:00Z", wantLast: "2027-09-05T05:00:00Z", wantCount: 5, noLocalHour: 0,
		},
		{
			// 2027-04-03: Chile falls back at the end of the day, 24:00 -03 -> 23:00 -04: 23:xx twice.
			name: "SantiagoFallBackAtMidnight", zone: "America/Santiago", day: "2027-04-03", from: "21:00", to: "24:00",
			wantFirst: "2027-04-04T00:00:00Z", wantLast: "2027-04-04T03:00:00Z", wantCount: 13, noLocalHour: -1, repeatedLocal: "23:00",
		},
		{
			// Bogotá has no DST: the same window is always 6 hours.
			name: "BogotaNoDST", zone: "America/Bogota", day: "2027-03-14", from: "00:00", to: "06:00",
			wantFirst: "2027-03-14T05:00:00Z", wantLast: "2027-03-14T10:00:00Z", wantCount: 21, noLocalHour: -1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := setup(t)
			f := e.newFixture(t, tt.zone, booking.ServicePatch{DurationMinutes: ptr(60)}, tt.from, tt.to)
			loc, err := time.LoadLocation(tt.zone)
			if err != nil {
				t.Fatal(err)
			}
			a := e.freeSlots(t, booking.AvailabilityQuery{ServiceID: f.service.ID, BranchID: f.branch.ID,
				From: date(t, tt.day), To: date(t, tt.day), Now: past()})
			slots := a.Staff[0].Slots
			if len(slots) != tt.wantCount {
				t.Errorf("%d slots, want %d: %v", len(slots), tt.wantCount, starts(t, a))
			}
			if len(slots) == 0 {
				return
			}
			if got := slots[0].Start.UTC().Format(time.RFC3339); got != tt.wantFirst {
				t.Errorf("first slot %s, want %s", got, tt.wantFirst)
			}
			if got := slots[len(slots)-1].Start.UTC().Format(time.RFC3339); got != tt.wantLast {
				t.Errorf("last slot %s, want %s", got, tt.wantLast)
			}
			seen := map[time.Time]bool{}
			repeated := 0
			for i, s := range slots {
				if seen[s.Start] {
					t.Errorf("duplicate slot %s", s.Start)
				}
				seen[s.Start] = true
				if i > 0 && !s.Start.After(slots[i-1].Start) {
					t.Errorf("slots out of order: %s after %s", s.Start, slots[i-1].Start)
				}
				if s.End.Sub(s.Start) != time.Hour {
					t.Errorf("slot %s lasts %s, want 1h in real time", s.Start, s.End.Sub(s.Start))
				}
				local := s.Start.In(loc)
				if local.Hour() == tt.noLocalHour && booking.DateOf(local) == date(t, tt.day) {
					t.Errorf("slot at non-existent local time %s", local)
				}
				if booking.DateOf(local) != date(t, tt.day) {
					t.Errorf("slot %s is not on local day %s", local, tt.day)
				}
				if local.Format("15:04") == tt.repeatedLocal {
					repeated++
				}
			}
			if tt.repeatedLocal != "" && repeated != 2 {
				t.Errorf("wall time %s appears %d times, want twice (two distinct instants)", tt.repeatedLocal, repeated)
			}

			// A booking at a slot across the change succeeds and ends an hour of real time later.
			last := slots[len(slots)-1].Start
			ap, err := e.book(t, f, f.admin, last)
			if err != nil {
				t.Fatalf("booking the last slot %s: %v", last, err)
			}
			if ap.End.Sub(ap.Start) != time.Hour {
				t.Errorf("appointment lasts %s", ap.End.Sub(ap.Start))
			}
		})
	}
}

func TestWallInstant(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, zone, day string
		minute          int
		want            string
	}{
		{"Ordinary", "America/Bogota", "2027-03-14", 9 * 60, "2027-03-14T14:00:00Z"},
		{"EndOfDay", "America/Bogota", "2027-03-14", 24 * 60, "2027-03-15T05:00:00Z"},
		{"SkippedMapsToTheJump", "America/New_York", "2027-03-14", 2*60 + 30, "2027-03-14T07:00:00Z"},
		{"AfterTheJump", "America/New_York", "2027-03-14", 3 * 60, "2027-03-14T07:00:00Z"},
		{"RepeatedMapsToFirst", "America/New_York", "2027-11-07", 60 + 30, "2027-11-07T05:30:00Z"},
		{"AfterTheRepeat", "America/New_York", "2027-11-07", 2 * 60, "2027-11-07T07:00:00Z"},
		{"SkippedMidnight", "America/Santiago", "2027-09-05", 0, "2027-09-05T04:00:00Z"},
		{"RepeatedLateEvening", "America/Santiago", "2027-04-03", 23*60 + 30, "2027-04-04T02:30:00Z"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			loc, err := time.LoadLocation(tt.zone)
			if err != nil {
				t.Fatal(err)
			}
			d, err := booking.ParseDate(tt.day)
			if err != nil {
				t.Fatal(err)
			}
			if got := booking.WallInstant(d, tt.minute, loc).UTC().Format(time.RFC3339); got != tt.want {
				t.Errorf("WallInstant(%s, %d) = %s, want %s", tt.day, tt.minute, got, tt.want)
			}
		})
	}
}
