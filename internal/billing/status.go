package billing

import (
	"errors"
	"fmt"
)

// Status is a subscription's state (billing_suscripcion.estado).
type Status string

// The states of a subscription.
const (
	// Trialing: the free trial; the tenant works normally.
	Trialing Status = "trialing"
	// Active: paid for the current period.
	Active Status = "active"
	// PastDue: a charge failed; retries run and the tenant still works until the grace period ends.
	PastDue Status = "past_due"
	// Suspended: the API answers 402 except for billing; the data is kept.
	Suspended Status = "suspended"
	// Cancelled: ended by the customer or an operator; the data is kept, the API answers 402.
	Cancelled Status = "cancelled"
)

// Statuses lists every state, in the order of the machine.
func Statuses() []Status { return []Status{Trialing, Active, PastDue, Suspended, Cancelled} }

// ParseStatus reads a state name.
func ParseStatus(s string) (Status, error) {
	for _, st := range Statuses() {
		if string(st) == s {
			return st, nil
		}
	}
	return "", fmt.Errorf("%w: unknown subscription status %q (want trialing, active, past_due, suspended or cancelled)", ErrInvalid, s)
}

// ErrTransition is returned for a change the state machine does not allow.
var ErrTransition = errors.New("subscription state change not allowed")

// transitions is the state machine: from → the states it may go to. A state may "go" to itself
// when something else changes (a renewed period, an extended trial, a failed retry), so that the
// change is recorded in the history too. past_due and suspended go back to trialing only when an
// operator extends an unpaid trial (subscriptions extend_trial).
var transitions = map[Status][]Status{
	Trialing:  {Trialing, Active, PastDue, Suspended, Cancelled},
	Active:    {Active, PastDue, Suspended, Cancelled},
	PastDue:   {PastDue, Active, Suspended, Cancelled, Trialing},
	Suspended: {Active, Cancelled, Trialing},
	Cancelled: {Active},
}

// CanTransition reports whether a subscription may go from one state to another.
func CanTransition(from, to Status) bool {
	for _, s := range transitions[from] {
		if s == to {
			return true
		}
	}
	return false
}

// Blocked reports whether a tenant in this state is shut out of the API (402), billing excepted.
func (s Status) Blocked() bool { return s == Suspended || s == Cancelled }
