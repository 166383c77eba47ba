package booking

import (
	"context"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/appcitas/appcitas/internal/tenancy"
)

// Availability defaults.
const (
	// DefaultMinNotice is how far ahead of now the first bookable slot starts.
	DefaultMinNotice = 60 * time.Minute
	// DefaultSlotStep is the distance between candidate slot starts.
	DefaultSlotStep = 15 * time.Minute
	// MaxAvailabilityDays bounds the date range of one availability query.
	MaxAvailabilityDays = 31
)

// AvailabilityQuery asks for the free slots of a service at a branch.
type AvailabilityQuery struct {
	ServiceID int64
	BranchID  int64
	// StaffID, when set, limits the answer to one staff member.
	StaffID int64
	// From and To are local days of the branch, both included: at most MaxAvailabilityDays days.
	From, To Date
	// Now is the current time; slots start at Now + MinNotice or later.
	Now time.Time
	// MinNotice defaults to DefaultMinNotice.
	MinNotice time.Duration
	// Step defaults to DefaultSlotStep.
	Step time.Duration
}

// Slot is a bookable appointment time.
type Slot struct {
	Start time.Time `json:"inicio"`
	End   time.Time `json:"fin"`
}

// StaffAvailability is the free slots of one staff member.
type StaffAvailability struct {
	StaffID int64  `json:"profesional_id"`
	Name    string `json:"nombre_visible"`
	Slots   []Slot `json:"slots"`
}

// Availability is the answer to an AvailabilityQuery. Slot times are in the branch's time zone.
type Availability struct {
	BranchID  int64               `json:"sede_id"`
	ServiceID int64               `json:"servicio_id"`
	TimeZone  string              `json:"zona_horaria"`
	From      Date                `json:"desde"`
	To        Date                `json:"hasta"`
	Staff     []StaffAvailability `json:"profesionales"`
}

// FreeSlots computes the free slots of a service per staff member who works at the branch. For each
// local day of the branch (Go's time package does the time-zone arithmetic, so days with a
// daylight-saving change are 23 or 25 hours long) it takes the member's open wall-clock spans
// (weekly hours minus breaks, with the day's exceptions) and turns them into instants. Slots start
// at each span's start and every Step after it, counted in real time: a wall time skipped by a
// DST jump never appears and a repeated wall hour yields distinct instants. A slot is free when
// the appointment fits in the span, starts after Now + MinNotice, and its busy block (with the
// service's buffers) overlaps no live appointment of the member, at any branch.
func (b *Bookings) FreeSlots(ctx context.Context, q AvailabilityQuery) (Availability, error) {
	q, err := q.checked()
	if err != nil {
		return Availability{}, err
	}
	d, err := b.load(ctx, q.loadRequest())
	if err != nil {
		return Availability{}, err
	}
	return freeSlots(q, d, b.zones)
}

// FreeSlotsRead is [Bookings.FreeSlots] for a read in one round trip
// (tenancy.Manager.ReadInOneTrip): with the tenant's set-up, the one statement FreeSlots sends (the
// busy blocks), whose Read puts the answer into out. ok is false when FreeSlots would answer
// otherwise (a refusal, no staff member to read, or no set-up): call FreeSlots then.
func FreeSlotsRead(setup *Setup, zones *Zones, q AvailabilityQuery, out *Availability) (rq tenancy.ReadQuery, ok bool) {
	q, err := q.checked()
	if err != nil || setup == nil {
		return tenancy.ReadQuery{}, false
	}
	req := q.loadRequest()
	var d bookingData
	setup.fill(&d, req)
	if d.service.ID == 0 || d.branch.ID == 0 || (q.StaffID != 0 && !d.hasStaff) {
		return tenancy.ReadQuery{}, false
	}
	staff := setup.busyStaff(req.branchID, req.staffID)
	if len(staff) == 0 {
		return tenancy.ReadQuery{}, false
	}
	sql, args := busyOfStaff(req, staff)
	return tenancy.ReadQuery{SQL: sql, Args: args, Read: func(rows pgx.Rows) (err error) {
		if d.busy, err = scanBusy(rows); err != nil {
			return err
		}
		*out, err = freeSlots(q, d, zones)
		return err
	}}, true
}

// checked returns q with its defaults, or why it is refused.
func (q AvailabilityQuery) checked() (AvailabilityQuery, error) {
	switch {
	case q.ServiceID <= 0:
		return q, invalidField("servicio_id", "is required")
	case q.BranchID <= 0:
		return q, invalidField("sede_id", "is required")
	case q.From.IsZero():
		return q, invalidField("desde", "is required (YYYY-MM-DD)")
	case q.To.IsZero():
		return q, invalidField("hasta", "is required (YYYY-MM-DD)")
	case q.To.Before(q.From):
		return q, invalidField("hasta", "must not be before desde")
	case q.From.DaysUntil(q.To) >= MaxAvailabilityDays:
		return q, invalidField("hasta", "the range may span at most %d days", MaxAvailabilityDays)
	}
	if q.MinNotice == 0 {
		q.MinNotice = DefaultMinNotice
	}
	if q.Step <= 0 {
		q.Step = DefaultSlotStep
	}
	return q, nil
}

// loadRequest is what FreeSlots reads.
func (q AvailabilityQuery) loadRequest() loadRequest {
	return loadRequest{serviceID: q.ServiceID, branchID: q.BranchID, staffID: q.StaffID,
		schedule: true, busy: true, from: q.From, to: q.To}
}

// freeSlots computes FreeSlots' answer from what it read.
func freeSlots(q AvailabilityQuery, d bookingData, zones *Zones) (Availability, error) {
	svc, branch := d.service, d.branch
	switch {
	case svc.ID == 0:
		return Availability{}, invalidField("servicio_id", "service %d does not exist", q.ServiceID)
	case branch.ID == 0:
		return Availability{}, invalidField("sede_id", "branch %d does not exist", q.BranchID)
	case q.StaffID != 0 && !d.hasStaff:
		return Availability{}, invalidField("profesional_id", "member %d does not exist", q.StaffID)
	}
	loc, err := d.zone(zones)
	if err != nil {
		return Availability{}, err
	}
	out := Availability{BranchID: branch.ID, ServiceID: svc.ID, TimeZone: branch.TimeZone, From: q.From, To: q.To,
		Staff: []StaffAvailability{}}
	if !svc.Active || !branch.Active || (q.StaffID != 0 && !d.staff.Active) {
		return out, nil
	}
	hours, exceptions, busy := d.hours, d.except, d.busy
	staff := make([]int64, 0, len(hours))
	for id := range hours {
		staff = append(staff, id)
	}
	slices.Sort(staff)
	sched := schedule{branchID: branch.ID, hours: hours, exceptions: exceptions}
	earliest := q.Now.Add(q.MinNotice)
	before := time.Duration(svc.BufferBeforeMinutes) * time.Minute
	after := time.Duration(svc.BufferAfterMinutes) * time.Minute
	for _, id := range staff {
		sa := StaffAvailability{StaffID: id, Name: hours[id][0].staffName, Slots: []Slot{}}
		for day := q.From; !q.To.Before(day); day = day.AddDays(1) {
			for _, open := range instants(day, sched.open(id, day), loc) {
				for s := open.start; !s.Add(svc.Duration()).After(open.end); s = s.Add(q.Step) {
					if s.Before(earliest) {
						continue
					}
					block := interval{s.Add(-before), s.Add(svc.Duration() + after)}
					if slices.ContainsFunc(busy[id], block.overlaps) {
						continue
					}
					sa.Slots = append(sa.Slots, Slot{Start: s.In(loc), End: s.Add(svc.Duration()).In(loc)})
				}
			}
		}
		out.Staff = append(out.Staff, sa)
	}
	return out, nil
}
