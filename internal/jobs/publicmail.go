package jobs

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/riverqueue/river"

	"github.com/appcitas/appcitas/internal/reservas"
	"github.com/appcitas/appcitas/internal/tenancy"
)

// BookingMailArgs sends the confirmation e-mail of a booking from the public page: hold HoldID of
// organization OrgID. It is inserted before the booking's transaction starts, so that no crash
// after the commit loses the e-mail; it waits (snoozes) while that transaction may still commit
// and sends nothing if it never does.
type BookingMailArgs struct {
	OrgID  int64 `json:"org_id"`
	HoldID int64 `json:"hold_id"`
}

// Kind implements river.JobArgs.
func (BookingMailArgs) Kind() string { return "public_booking_mail" }

// InsertOpts makes the job unique per hold: a client retrying a confirmation queues it once.
func (BookingMailArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{MaxAttempts: 25, UniqueOpts: river.UniqueOpts{ByArgs: true}}
}

// bookingMailSnooze is how long a confirmation waits for its booking's commit before looking again.
const bookingMailSnooze = 2 * time.Second

type bookingMailWorker struct {
	river.WorkerDefaults[BookingMailArgs]
	tenancy  *tenancy.Manager
	delivery *reservas.Deliverer
}

// Work implements river.Worker.
func (w *bookingMailWorker) Work(ctx context.Context, job *river.Job[BookingMailArgs]) error {
	org, err := w.tenancy.Organization(ctx, job.Args.OrgID)
	if errors.Is(err, tenancy.ErrNotFound) {
		return river.JobCancel(err)
	}
	if err != nil {
		return err
	}
	t, err := org.Tenant()
	if err != nil {
		return river.JobCancel(err)
	}
	err = w.delivery.DeliverForHold(ctx, t, job.Args.HoldID)
	if errors.Is(err, reservas.ErrNotYet) {
		return river.JobSnooze(bookingMailSnooze)
	}
	return err
}

// QueueBookingMail inserts the confirmation job of hold holdID of organization orgID (the api
// package's PublicMailQueue).
func (r *Runner) QueueBookingMail(ctx context.Context, orgID, holdID int64) error {
	if _, err := r.client.Insert(ctx, BookingMailArgs{OrgID: orgID, HoldID: holdID}, nil); err != nil {
		return fmt.Errorf("queueing the confirmation of hold %d: %w", holdID, err)
	}
	return nil
}
