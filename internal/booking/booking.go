package booking

import (
	"context"

	"github.com/jackc/pgx/v5"
)

// Bookings is the entry to a tenant's booking decisions and listings inside one transaction. It
// owns the read path: the branches, services, members, working hours and exceptions come from the
// tenant's set-up when one is given, else from a set-up narrowed to the request read from the
// tables. Either way [Setup] applies the filters, so the input types carry only input.
type Bookings struct {
	tx    pgx.Tx
	setup *Setup
	zones *Zones
}

// Open returns the booking entry of the tenant whose scoped transaction is tx. setup, when not
// nil, is the tenant's set-up at the version tx reads (a [SetupCache] gives it). zones, when not
// nil, caches the branches' time zones.
func Open(tx pgx.Tx, setup *Setup, zones *Zones) *Bookings {
	return &Bookings{tx: tx, setup: setup, zones: zones}
}

// ActiveProfile returns the user's active profile with the lowest id. found is false when the
// user has none.
func (b *Bookings) ActiveProfile(ctx context.Context, userID int64) (p Profile, found bool, err error) {
	if b.setup != nil {
		m, ok := b.setup.ActiveMember(userID)
		return Profile{ID: m.ID, Role: m.Role}, ok, nil
	}
	return activeProfile(ctx, b.tx, userID)
}
