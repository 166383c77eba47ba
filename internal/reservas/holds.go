package reservas

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/appcitas/appcitas/internal/booking"
)

// MaxOpenHolds is how many live holds one client address may have in one organization.
const MaxOpenHolds = 3

// Hold is a slot held by a client. Token is the secret that confirms it, given once.
type Hold struct {
	ID        int64     `json:"id"`
	Token     string    `json:"token"`
	StaffID   int64     `json:"profesional_id"`
	Start     time.Time `json:"inicio"`
	End       time.Time `json:"fin"`
	ExpiresAt time.Time `json:"expira_en"`
}

// NewHold asks to hold a slot.
type NewHold struct {
	BranchID  int64
	ServiceID int64
	StaffID   int64
	Start     time.Time
	// ClientIP is the client's address, for the cap on open holds.
	ClientIP string
}

// newToken returns 32 random bytes in base64url and their SHA-256.
func newToken() (string, []byte) {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	tok := base64.RawURLEncoding.EncodeToString(b)
	return tok, hashToken(tok)
}

func hashToken(tok string) []byte {
	sum := sha256.Sum256([]byte(tok))
	return sum[:]
}

// lockStaff serializes the holds of one staff member in this tenant until the transaction ends.
func lockStaff(ctx context.Context, tx pgx.Tx, staffID int64) error {
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtext(current_schema() || '/reservas'), $1::int)`, int32(staffID)); err != nil {
		return fmt.Errorf("locking staff member %d's holds: %w", staffID, err)
	}
	return nil
}

// heldBlocks returns the busy blocks of other clients' live holds per staff member, between from
// and to; except is a hold not to count (0: none).
func heldBlocks(ctx context.Context, tx pgx.Tx, staff []int64, from, to time.Time, now time.Time, except int64) (map[int64][][2]time.Time, error) {
	rows, err := tx.Query(ctx, `SELECT profesional_id, bloqueo_inicio, bloqueo_fin FROM reservas_retencion
		WHERE profesional_id = ANY($1) AND cita_id IS NULL AND expira_en > $2 AND bloqueo_fin > $3 AND bloqueo_inicio < $4 AND id <> $5`,
		staff, now, from, to, except)
	if err != nil {
		return nil, fmt.Errorf("reading holds: %w", err)
	}
	out := map[int64][][2]time.Time{}
	var id int64
	var a, b time.Time
	_, err = pgx.ForEachRow(rows, []any{&id, &a, &b}, func() error {
		out[id] = append(out[id], [2]time.Time{a, b})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("reading holds: %w", err)
	}
	return out, nil
}

// AvailabilityRequest asks for the free times of a service at a branch.
type AvailabilityRequest struct {
	BranchID  int64
	ServiceID int64
	// StaffID limits the answer to one staff member (0: every bookable one).
	StaffID int64
	From    booking.Date
	To      booking.Date
	Now     time.Time
	// MinNotice overrides the settings' notice to book (rescheduling uses its own).
	MinNotice time.Duration
	// ExceptHold is the caller's own hold, which does not hide its slot.
	ExceptHold int64
}

// Availability returns the free times clients may book: the availability engine's slots of the
// bookable staff, within the notice and the horizon, minus other clients' live holds. Nothing in
// it says who booked what.
func Availability(ctx context.Context, tx pgx.Tx, b *booking.Bookings, set Settings, q AvailabilityRequest) (booking.Availability, error) {
	if !set.ServiceBookable(q.ServiceID) {
		return booking.Availability{}, invalid("servicio_id", "Ese servicio no se reserva en línea.")
	}
	if q.StaffID != 0 && !set.StaffBookable(q.StaffID) {
		return booking.Availability{}, invalid("profesional_id", "Ese profesional no se reserva en línea.")
	}
	notice := set.bookNotice()
	if q.MinNotice != 0 {
		notice = q.MinNotice
	}
	if notice <= 0 {
		notice = time.Nanosecond // booking's zero means its own default
	}
	branch, err := booking.GetBranch(ctx, tx, q.BranchID)
	if errors.Is(err, booking.ErrNotFound) || err == nil && !branch.Active {
		return booking.Availability{}, invalid("sede_id", "Esa sede no existe.")
	}
	if err != nil {
		return booking.Availability{}, err
	}
	loc, err := booking.LoadZone(branch.TimeZone)
	if err != nil {
		return booking.Availability{}, err
	}
	today := booking.DateOf(q.Now.In(loc))
	last := today.AddDays(set.HorizonDays)
	if q.From.Before(today) {
		q.From = today
	}
	if last.Before(q.To) {
		q.To = last
	}
	empty := booking.Availability{BranchID: q.BranchID, ServiceID: q.ServiceID, TimeZone: branch.TimeZone, From: q.From, To: q.To,
		Staff: []booking.StaffAvailability{}}
	if q.To.Before(q.From) {
		return empty, nil
	}
	a, err := b.FreeSlots(ctx, booking.AvailabilityQuery{ServiceID: q.ServiceID, BranchID: q.BranchID, StaffID: q.StaffID,
		From: q.From, To: q.To, Now: q.Now, MinNotice: notice})
	if err != nil {
		return booking.Availability{}, err
	}
	svc, err := booking.GetService(ctx, tx, q.ServiceID)
	if err != nil {
		return booking.Availability{}, err
	}
	a.Staff = slices.DeleteFunc(a.Staff, func(s booking.StaffAvailability) bool { return !set.StaffBookable(s.StaffID) })
	if len(a.Staff) == 0 {
		return a, nil
	}
	ids := make([]int64, len(a.Staff))
	for i, s := range a.Staff {
		ids[i] = s.StaffID
	}
	before := time.Duration(svc.BufferBeforeMinutes) * time.Minute
	after := time.Duration(svc.BufferAfterMinutes) * time.Minute
	held, err := heldBlocks(ctx, tx, ids, booking.WallInstant(q.From, 0, loc).Add(-24*time.Hour),
		booking.WallInstant(q.To.AddDays(1), 0, loc).Add(24*time.Hour), q.Now, q.ExceptHold)
	if err != nil {
		return booking.Availability{}, err
	}
	for i := range a.Staff {
		blocks := held[a.Staff[i].StaffID]
		if len(blocks) == 0 {
			continue
		}
		a.Staff[i].Slots = slices.DeleteFunc(a.Staff[i].Slots, func(s booking.Slot) bool {
			from, to := s.Start.Add(-before), s.End.Add(after)
			for _, h := range blocks {
				if from.Before(h[1]) && h[0].Before(to) {
					return true
				}
			}
			return false
		})
	}
	return a, nil
}

// CreateHold holds a free slot for a client for the settings' hold minutes. The slot must be one
// Availability offers; holds of one staff member are taken one at a time, so two clients never
// hold overlapping slots. A client address has at most MaxOpenHolds live holds.
func CreateHold(ctx context.Context, tx pgx.Tx, b *booking.Bookings, set Settings, in NewHold, now time.Time) (Hold, error) {
	switch {
	case in.BranchID <= 0:
		return Hold{}, invalid("sede_id", "Elige una sede.")
	case in.ServiceID <= 0:
		return Hold{}, invalid("servicio_id", "Elige un servicio.")
	case in.StaffID <= 0:
		return Hold{}, invalid("profesional_id", "Elige un profesional.")
	case in.Start.IsZero():
		return Hold{}, invalid("inicio", "Elige un horario.")
	}
	if err := booking.CheckInstant("inicio", in.Start); err != nil {
		return Hold{}, err
	}
	if err := lockStaff(ctx, tx, in.StaffID); err != nil {
		return Hold{}, err
	}
	if _, err := tx.Exec(ctx, `DELETE FROM reservas_retencion WHERE cita_id IS NULL AND expira_en < $1`, now.Add(-time.Hour)); err != nil {
		return Hold{}, fmt.Errorf("deleting expired holds: %w", err)
	}
	var open int
	if err := tx.QueryRow(ctx, `SELECT count(*) FROM reservas_retencion WHERE cliente_ip = $1 AND cita_id IS NULL AND expira_en > $2`,
		in.ClientIP, now).Scan(&open); err != nil {
		return Hold{}, fmt.Errorf("counting open holds: %w", err)
	}
	if open >= MaxOpenHolds {
		return Hold{}, &booking.Error{Kind: booking.ErrConflict, Code: "too_many_holds", Message: MsgTooManyHolds}
	}
	branch, err := booking.GetBranch(ctx, tx, in.BranchID)
	if errors.Is(err, booking.ErrNotFound) {
		return Hold{}, invalid("sede_id", "Esa sede no existe.")
	}
	if err != nil {
		return Hold{}, err
	}
	loc, err := booking.LoadZone(branch.TimeZone)
	if err != nil {
		return Hold{}, err
	}
	day := booking.DateOf(in.Start.In(loc))
	a, err := Availability(ctx, tx, b, set, AvailabilityRequest{BranchID: in.BranchID, ServiceID: in.ServiceID, StaffID: in.StaffID,
		From: day, To: day, Now: now})
	if err != nil {
		return Hold{}, err
	}
	var slot booking.Slot
	found := false
	for _, s := range a.Staff {
		for _, sl := range s.Slots {
			if sl.Start.Equal(in.Start) {
				slot, found = sl, true
			}
		}
	}
	if !found {
		return Hold{}, conflict("slot_taken", MsgSlotTaken)
	}
	svc, err := booking.GetService(ctx, tx, in.ServiceID)
	if err != nil {
		return Hold{}, err
	}
	tok, hash := newToken()
	h := Hold{Token: tok, StaffID: in.StaffID, Start: slot.Start, End: slot.End,
		ExpiresAt: now.Add(time.Duration(set.HoldMinutes) * time.Minute).Truncate(time.Microsecond)}
	err = tx.QueryRow(ctx, `INSERT INTO reservas_retencion (secreto_hash, sede_id, servicio_id, profesional_id, inicio,
			bloqueo_inicio, bloqueo_fin, cliente_ip, expira_en)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id`,
		hash, in.BranchID, in.ServiceID, in.StaffID, slot.Start,
		slot.Start.Add(-time.Duration(svc.BufferBeforeMinutes)*time.Minute), slot.End.Add(time.Duration(svc.BufferAfterMinutes)*time.Minute),
		in.ClientIP, h.ExpiresAt).Scan(&h.ID)
	if err != nil {
		return Hold{}, fmt.Errorf("writing a hold: %w", err)
	}
	return h, nil
}

// heldSlot is a hold as the confirmation reads it.
type heldSlot struct {
	id, branchID, serviceID, staffID int64
	start, expires                   time.Time
	hash                             []byte
	citaID                           *int64
}

// lockHold reads and locks the hold id, checking its token in constant time.
func lockHold(ctx context.Context, tx pgx.Tx, id int64, token string) (heldSlot, error) {
	var h heldSlot
	err := tx.QueryRow(ctx, `SELECT id, sede_id, servicio_id, profesional_id, inicio, expira_en, secreto_hash, cita_id
		FROM reservas_retencion WHERE id = $1 FOR UPDATE`, id).
		Scan(&h.id, &h.branchID, &h.serviceID, &h.staffID, &h.start, &h.expires, &h.hash, &h.citaID)
	if errors.Is(err, pgx.ErrNoRows) || (err == nil && subtle.ConstantTimeCompare(h.hash, hashToken(token)) != 1) {
		return heldSlot{}, conflict("hold_expired", MsgHoldExpired)
	}
	if err != nil {
		return heldSlot{}, fmt.Errorf("reading hold %d: %w", id, err)
	}
	return h, nil
}

// ReleaseHold drops a client's open hold (after a lost race, so that its slot shows again).
func ReleaseHold(ctx context.Context, tx pgx.Tx, id int64, token string) error {
	if _, err := tx.Exec(ctx, `DELETE FROM reservas_retencion WHERE id = $1 AND secreto_hash = $2 AND cita_id IS NULL`,
		id, hashToken(token)); err != nil {
		return fmt.Errorf("releasing hold %d: %w", id, err)
	}
	return nil
}
