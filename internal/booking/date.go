package booking

import (
	"fmt"
	"time"
)

// Date is a calendar day with no time zone (YYYY-MM-DD), e.g. a local day of a branch.
type Date struct {
	Year  int
	Month time.Month
	Day   int
}

// FirstYear and LastYear bound every date and instant booking accepts (both years included).
// Outside them a date is a typo, and years past 9999 cannot even be written as JSON.
const (
	FirstYear = 2000
	LastYear  = 2100
)

// CheckDate refuses a date outside FirstYear..LastYear, naming field.
func CheckDate(field string, d Date) error {
	if d.Year < FirstYear || d.Year > LastYear {
		return outOfWindow(field, d.String())
	}
	return nil
}

// CheckInstant refuses an instant outside FirstYear..LastYear (in UTC), naming field.
func CheckInstant(field string, t time.Time) error {
	if !inWindow(t) {
		return outOfWindow(field, t.Format(time.RFC3339))
	}
	return nil
}

func inWindow(t time.Time) bool {
	y := t.UTC().Year()
	return y >= FirstYear && y <= LastYear
}

func outOfWindow(field, got string) error {
	return invalidField(field, "must be between %d-01-01 and %d-12-31, got %s", FirstYear, LastYear, got)
}

// ParseDate parses YYYY-MM-DD.
func ParseDate(s string) (Date, error) {
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		return Date{}, fmt.Errorf("date %q: want YYYY-MM-DD", s)
	}
	return DateOf(t), nil
}

// DateOf returns the calendar day of t in t's location.
func DateOf(t time.Time) Date {
	y, m, d := t.Date()
	return Date{y, m, d}
}

// String formats d as YYYY-MM-DD.
func (d Date) String() string { return d.utc().Format(time.DateOnly) }

// IsZero reports whether d is the zero Date.
func (d Date) IsZero() bool { return d == Date{} }

// AddDays returns d plus n days.
func (d Date) AddDays(n int) Date {
	return DateOf(time.Date(d.Year, d.Month, d.Day+n, 0, 0, 0, 0, time.UTC))
}

// Weekday returns the day of the week of d.
func (d Date) Weekday() time.Weekday { return d.utc().Weekday() }

// Before reports whether d is before e.
func (d Date) Before(e Date) bool { return d.utc().Before(e.utc()) }

// DaysUntil returns the number of days from d to e (negative when e is before d).
func (d Date) DaysUntil(e Date) int { return int(e.utc().Sub(d.utc()).Hours() / 24) }

// utc returns midnight UTC of d, the form pgx writes to and reads from a date column.
func (d Date) utc() time.Time { return time.Date(d.Year, d.Month, d.Day, 0, 0, 0, 0, time.UTC) }

// MarshalText formats d as YYYY-MM-DD.
func (d Date) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// UnmarshalText parses YYYY-MM-DD.
func (d *Date) UnmarshalText(b []byte) error {
	v, err := ParseDate(string(b))
	if err != nil {
		return err
	}
	*d = v
	return nil
}

// WallInstant returns the instant at which the clocks of loc show minute min (0-1440, 1440 being
// the next midnight) of day d. A wall time skipped by a daylight-saving jump maps to the instant
// of the jump (the first existing time after it); a wall time that happens twice (clocks set back)
// maps to its first occurrence. Go's time.Date leaves both cases unspecified, so they are settled
// here.
func WallInstant(d Date, min int, loc *time.Location) time.Time {
	want := time.Date(d.Year, d.Month, d.Day, 0, min, 0, 0, time.UTC) // the wall clock, written as UTC
	t := time.Date(d.Year, d.Month, d.Day, 0, min, 0, 0, loc)
	if got := wallClock(t); !got.Equal(want) {
		// Skipped: t is on one side of the gap; the gap's end is the transition instant.
		start, end := t.ZoneBounds()
		if got.Before(want) {
			return end
		}
		return start
	}
	if start, _ := t.ZoneBounds(); !start.IsZero() {
		_, prevOffset := start.Add(-time.Nanosecond).Zone()
		earlier := want.Add(-time.Duration(prevOffset) * time.Second).In(loc)
		if earlier.Before(start) && wallClock(earlier).Equal(want) {
			return earlier
		}
	}
	return t
}

// wallClock returns t's wall clock in its location, written as a UTC time.
func wallClock(t time.Time) time.Time {
	y, m, d := t.Date()
	h, mi, s := t.Clock()
	return time.Date(y, m, d, h, mi, s, t.Nanosecond(), time.UTC)
}

// clock is a time of day in minutes since midnight, 0-1440, written "HH:MM" ("24:00" is the end
// of the day).
type clock int

func parseClock(field, s string) (clock, error) {
	if len(s) != 5 || s[2] != ':' || !digits(s[:2]) || !digits(s[3:]) {
		return 0, invalidField(field, "%q: want HH:MM", s)
	}
	h := int(s[0]-'0')*10 + int(s[1]-'0')
	m := int(s[3]-'0')*10 + int(s[4]-'0')
	if h > 24 || m > 59 || (h == 24 && m != 0) {
		return 0, invalidField(field, "%q: want HH:MM between 00:00 and 24:00", s)
	}
	return clock(h*60 + m), nil
}

func digits(s string) bool {
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

func (c clock) String() string { return fmt.Sprintf("%02d:%02d", int(c)/60, int(c)%60) }
