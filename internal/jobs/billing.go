package jobs

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"

	"github.com/appcitas/appcitas/internal/billing"
)

// SweepArgs is the periodic billing sweep: it lists due work and queues one job per item.
type SweepArgs struct{}

// Kind implements river.JobArgs.
func (SweepArgs) Kind() string { return "billing_sweep" }

// InsertOpts makes the sweep unique per minute (the periodic job uses its own period).
func (SweepArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{UniqueOpts: river.UniqueOpts{ByPeriod: time.Minute}}
}

// ChargeArgs charges a renewal: a trial's end (attempt 1), a period's end (attempt 1) or a retry
// (attempts 2-4, on days 1, 3 and 5 after the first failure). Unique per subscription, period and
// attempt.
type ChargeArgs struct {
	billing.Charge
}

// Kind implements river.JobArgs.
func (ChargeArgs) Kind() string { return "billing_charge" }

// InsertOpts makes a charge unique by its arguments, in every state but cancelled and discarded.
func (ChargeArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{UniqueOpts: river.UniqueOpts{ByArgs: true}}
}

// SuspendArgs suspends a subscription whose grace period ended.
type SuspendArgs struct {
	billing.Suspension
}

// Kind implements river.JobArgs.
func (SuspendArgs) Kind() string { return "billing_suspend" }

// InsertOpts makes a suspension unique per subscription and grace end.
func (SuspendArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{UniqueOpts: river.UniqueOpts{ByArgs: true}}
}

// ReconcileArgs asks Wompi for a payment left PENDING.
type ReconcileArgs struct {
	PaymentID int64 `json:"payment_id"`
}

// Kind implements river.JobArgs.
func (ReconcileArgs) Kind() string { return "billing_reconcile" }

// InsertOpts makes a reconciliation unique per payment every 10 minutes.
func (ReconcileArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{UniqueOpts: river.UniqueOpts{ByArgs: true, ByPeriod: billing.ReconcileAfter}}
}

// NotifyArgs delivers the owner notices waiting in the outbox.
type NotifyArgs struct{}

// Kind implements river.JobArgs.
func (NotifyArgs) Kind() string { return "billing_notify" }

// InsertOpts makes delivery unique per minute (each notice is sent once by the outbox anyway).
func (NotifyArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{UniqueOpts: river.UniqueOpts{ByPeriod: time.Minute}}
}

type sweepWorker struct {
	river.WorkerDefaults[SweepArgs]
	billing *billing.Service
	every   time.Duration
}

// Work implements river.Worker.
func (w *sweepWorker) Work(ctx context.Context, _ *river.Job[SweepArgs]) error {
	var errs []error
	if _, err := w.billing.NotifyTrialsEnding(ctx); err != nil {
		errs = append(errs, err)
	}
	due, err := w.billing.DueWork(ctx)
	if err != nil {
		return err
	}
	params := make([]river.InsertManyParams, 0, len(due.Charges)+len(due.Suspensions)+len(due.Reconcile)+1)
	for _, c := range due.Charges {
		params = append(params, river.InsertManyParams{Args: ChargeArgs{c}})
	}
	for _, s := range due.Suspensions {
		params = append(params, river.InsertManyParams{Args: SuspendArgs{s}})
	}
	for _, id := range due.Reconcile {
		params = append(params, river.InsertManyParams{Args: ReconcileArgs{PaymentID: id}})
	}
	params = append(params, river.InsertManyParams{Args: NotifyArgs{},
		InsertOpts: &river.InsertOpts{UniqueOpts: river.UniqueOpts{ByPeriod: w.every}}})
	client, err := river.ClientFromContextSafely[pgx.Tx](ctx)
	if err == nil {
		_, err = client.InsertMany(ctx, params)
	}
	if err != nil {
		errs = append(errs, fmt.Errorf("queueing billing work: %w", err))
	}
	return errors.Join(errs...)
}

type chargeWorker struct {
	river.WorkerDefaults[ChargeArgs]
	billing *billing.Service
}

// Work implements river.Worker.
func (w *chargeWorker) Work(ctx context.Context, job *river.Job[ChargeArgs]) error {
	_, err := w.billing.Charge(ctx, job.Args.Charge)
	return err
}

type suspendWorker struct {
	river.WorkerDefaults[SuspendArgs]
	billing *billing.Service
}

// Work implements river.Worker.
func (w *suspendWorker) Work(ctx context.Context, job *river.Job[SuspendArgs]) error {
	return w.billing.SuspendOverdue(ctx, job.Args.Suspension)
}

type reconcileWorker struct {
	river.WorkerDefaults[ReconcileArgs]
	billing *billing.Service
}

// Work implements river.Worker.
func (w *reconcileWorker) Work(ctx context.Context, job *river.Job[ReconcileArgs]) error {
	_, err := w.billing.Reconcile(ctx, job.Args.PaymentID)
	if errors.Is(err, billing.ErrPaymentsUnavailable) {
		return river.JobCancel(err)
	}
	return err
}

type notifyWorker struct {
	river.WorkerDefaults[NotifyArgs]
	billing *billing.Service
}

// Work implements river.Worker.
func (w *notifyWorker) Work(ctx context.Context, _ *river.Job[NotifyArgs]) error {
	_, err := w.billing.DeliverNotifications(ctx, 500)
	return err
}
