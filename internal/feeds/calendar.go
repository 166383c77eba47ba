package feeds

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/appcitas/appcitas/internal/booking"
)

// The window of a feed, in local days of the calendar's zone around today, and its size bound.
const (
	// DaysBack is how many past days a feed shows.
	DaysBack = 30
	// DaysAhead is how many days after today a feed shows.
	DaysAhead = 180
	// MaxEvents bounds a feed: the first MaxEvents appointments of the window by start time.
	MaxEvents = 5000
)

// Organization is what a feed shows of its organization.
type Organization struct {
	// Slug names the organization in UIDs.
	Slug string
	// Name is the organization's name, in the calendar's name.
	Name string
	// TimeZone is the organization's IANA zone: the calendar's zone when the feed has no branch.
	TimeZone string
}

// Document is a rendered feed.
type Document struct {
	// Body is the iCalendar text (text/calendar; charset=utf-8).
	Body []byte
	// LastModified is the latest change the feed shows, or the start of its window's day when
	// that is later (the window moves each day).
	LastModified time.Time
	// Events is how many appointments it holds; Truncated says MaxEvents cut it.
	Events    int
	Truncated bool
}

// Build renders feed f of org as of now: its appointments from DaysBack local days before today
// to DaysAhead days after, cancelled ones as STATUS:CANCELLED. A feed whose staff member or
// branch is gone or inactive is ErrNotFound.
func Build(ctx context.Context, tx pgx.Tx, f Feed, org Organization, zones *booking.Zones, now time.Time) (Document, error) {
	q := booking.CalendarQuery{Limit: MaxEvents + 1}
	cal := calendar{org: org, kind: f.Kind}
	var changed time.Time
	switch f.Kind {
	case KindStaff:
		if f.StaffID == nil {
			return Document{}, ErrNotFound
		}
		m, err := booking.GetMember(ctx, tx, *f.StaffID)
		if err != nil || !m.Active {
			return Document{}, notFoundOr(err)
		}
		q.StaffID = m.ID
		name := m.DisplayName
		if name == "" {
			name = "profesional " + strconv.FormatInt(m.ID, 10)
		}
		cal.name = "Citas de " + name + " · " + org.Name
		cal.zone = org.TimeZone
		if m.BranchID != nil {
			if b, err := booking.GetBranch(ctx, tx, *m.BranchID); err == nil {
				cal.zone = b.TimeZone
			}
		}
		changed = m.UpdatedAt
	case KindBranch:
		if f.BranchID == nil {
			return Document{}, ErrNotFound
		}
		b, err := booking.GetBranch(ctx, tx, *f.BranchID)
		if err != nil || !b.Active {
			return Document{}, notFoundOr(err)
		}
		q.BranchID = b.ID
		cal.name = "Citas de " + b.Name + " · " + org.Name
		cal.zone = b.TimeZone
		changed = b.UpdatedAt
	default:
		return Document{}, ErrNotFound
	}
	loc, err := zones.Load(cal.zone)
	if err != nil {
		loc, cal.zone = time.UTC, "UTC"
	}
	local := now.In(loc)
	today := time.Date(local.Year(), local.Month(), local.Day(), 0, 0, 0, 0, loc)
	q.From = today.AddDate(0, 0, -DaysBack)
	q.To = today.AddDate(0, 0, DaysAhead+1)
	entries, err := booking.CalendarEntries(ctx, tx, q)
	if err != nil {
		return Document{}, err
	}
	doc := Document{}
	if len(entries) > MaxEvents {
		entries, doc.Truncated = entries[:MaxEvents], true
	}
	cal.from, cal.to, cal.entries = q.From, q.To, entries
	changed = later(changed, f.CreatedAt, today)
	for _, e := range entries {
		changed = later(changed, e.UpdatedAt)
	}
	doc.Body = cal.render(loc, zones)
	doc.LastModified, doc.Events = changed.UTC().Truncate(time.Second), len(entries)
	return doc, nil
}

// notFoundOr turns a missing row (or a nil error: an inactive one) into ErrNotFound.
func notFoundOr(err error) error {
	if err == nil || errors.Is(err, booking.ErrNotFound) {
		return ErrNotFound
	}
	return err
}

func later(ts ...time.Time) time.Time {
	var max time.Time
	for _, t := range ts {
		if t.After(max) {
			max = t
		}
	}
	return max
}

// calendar is what render writes.
type calendar struct {
	org      Organization
	kind     Kind
	name     string
	zone     string
	from, to time.Time
	entries  []booking.CalendarEntry
}

// render writes the VCALENDAR: a VTIMEZONE per zone used (the calendar's and each event's
// branch's), then one VEVENT per appointment.
func (c calendar) render(loc *time.Location, zones *booking.Zones) []byte {
	var w icalWriter
	w.prop("BEGIN", "VCALENDAR")
	w.prop("VERSION", "2.0")
	w.prop("PRODID", "-//appcitas//Calendario de citas//ES")
	w.prop("CALSCALE", "GREGORIAN")
	w.text("NAME", c.name)
	w.text("X-WR-CALNAME", c.name)
	w.text("X-WR-TIMEZONE", c.zone)
	// Hints of how often to poll (RFC 7986, and the name Apple and Outlook read).
	w.prop("REFRESH-INTERVAL;VALUE=DURATION", "PT1H")
	w.prop("X-PUBLISHED-TTL", "PT1H")

	locs := map[string]*time.Location{c.zone: loc}
	order := []string{c.zone}
	for _, e := range c.entries {
		if _, ok := locs[e.BranchTimeZone]; ok {
			continue
		}
		l, err := zones.Load(e.BranchTimeZone)
		if err != nil {
			l = nil // written in UTC
		} else {
			order = append(order, e.BranchTimeZone)
		}
		locs[e.BranchTimeZone] = l
	}
	for _, name := range order {
		// Events end after they start: the zone is covered a little past the window.
		w.writeTimezone(locs[name], c.from, c.to.AddDate(0, 0, 2))
	}
	for _, e := range c.entries {
		c.event(&w, e, locs[e.BranchTimeZone])
	}
	w.prop("END", "VCALENDAR")
	return w.b.Bytes()
}

// event writes one appointment as a VEVENT. Its times carry the branch's TZID; a time that is
// ambiguous there (the repeated hour when clocks go back) is written in UTC, with its pair.
func (c calendar) event(w *icalWriter, e booking.CalendarEntry, loc *time.Location) {
	w.prop("BEGIN", "VEVENT")
	w.prop("UID", "cita-"+strconv.FormatInt(e.ID, 10)+"@"+c.org.Slug+".appcitas")
	// Without METHOD, DTSTAMP is when the event last changed in the store (RFC 5545 3.8.7.2), so
	// an unchanged feed is byte-for-byte the same and its ETag holds.
	w.prop("DTSTAMP", utcStamp(e.UpdatedAt))
	w.prop("CREATED", utcStamp(e.CreatedAt))
	w.prop("LAST-MODIFIED", utcStamp(e.UpdatedAt))
	if loc == nil || ambiguous(e.Start, loc) || ambiguous(e.End, loc) {
		w.prop("DTSTART", utcStamp(e.Start))
		w.prop("DTEND", utcStamp(e.End))
	} else {
		tz := ";TZID=" + paramValue(loc.String())
		w.prop("DTSTART"+tz, e.Start.In(loc).Format(localLayout))
		w.prop("DTEND"+tz, e.End.In(loc).Format(localLayout))
	}
	w.prop("SEQUENCE", strconv.FormatInt(sequence(e), 10))
	if strings.TrimSpace(e.StaffName) == "" {
		e.StaffName = "profesional " + strconv.FormatInt(e.StaffID, 10)
	}
	summary := e.ServiceName + " — " + e.ClientName
	if c.kind == KindBranch {
		summary += " (" + e.StaffName + ")"
	}
	if e.Status == "cancelada" {
		summary = "Cancelada: " + summary
	}
	w.text("SUMMARY", summary)
	w.text("LOCATION", strings.TrimSpace(strings.Join(nonEmpty(e.BranchName, e.BranchAddress), ", ")))
	w.text("DESCRIPTION", fmt.Sprintf("Servicio: %s\nCliente: %s\nProfesional: %s\nEstado: %s",
		e.ServiceName, e.ClientName, e.StaffName, statusText(e.Status)))
	w.prop("STATUS", icalStatus(e.Status))
	if e.Status == "cancelada" {
		w.prop("TRANSP", "TRANSPARENT")
	} else {
		w.prop("TRANSP", "OPAQUE")
	}
	w.prop("END", "VEVENT")
}

// sequence is the event's revision number: whole seconds from its creation to its last change.
// It grows with every change (a reschedule, a cancellation), needs no counter of its own, and is
// 0 for an event never changed.
func sequence(e booking.CalendarEntry) int64 {
	s := int64(e.UpdatedAt.Sub(e.CreatedAt) / time.Second)
	return max(0, min(s, math.MaxInt32))
}

// icalStatus maps an appointment's state to a VEVENT STATUS.
func icalStatus(s string) string {
	switch s {
	case "pendiente":
		return "TENTATIVE"
	case "cancelada":
		return "CANCELLED"
	}
	return "CONFIRMED"
}

// statusText is the state as a person reads it.
func statusText(s string) string {
	switch s {
	case "pendiente":
		return "pendiente"
	case "confirmada":
		return "confirmada"
	case "completada":
		return "completada"
	case "cancelada":
		return "cancelada"
	case "no_asistio":
		return "no asistió"
	}
	return s
}

func nonEmpty(ss ...string) []string {
	var out []string
	for _, s := range ss {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}
