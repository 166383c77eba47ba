package api

import (
	"context"

	"github.com/appcitas/appcitas/internal/booking"
	"github.com/appcitas/appcitas/internal/tenancy"
)

// Member is the caller's profile (usuarios_perfilusuario) in the routed organization.
type Member struct {
	// ProfileID is the usuarios_perfilusuario id; 0 for a superuser acting without a profile.
	ProfileID int64
	UserID    int64
	// Role is admin, staff or receptionist.
	Role string
	// Setup is the organization's set-up at the version the request's transaction reads; nil for a
	// tenant too large to keep in memory (booking then reads its tables).
	Setup *booking.Setup
}

// Caller is who sent a request: the token's user and, on tenant routes, the organization the
// request is routed to.
type Caller struct {
	UserID   int64
	Username string
	// IsSuperuser is the user's current standing (not the token's claim).
	IsSuperuser bool
	// DefaultOrg is the token's org claim (0: none), used when X-Organization-ID is absent.
	DefaultOrg int64
	// Org and Tenant are set on tenant routes (X-Organization-ID or the token's org claim).
	Org    tenancy.Organization
	Tenant tenancy.Tenant
}

type callerKey struct{}

// withCaller returns ctx carrying c, for the handlers after the auth middleware.
func withCaller(ctx context.Context, c Caller) context.Context {
	return context.WithValue(ctx, callerKey{}, c)
}

// callerFrom returns the caller that the auth middleware put on the request's context.
func callerFrom(ctx context.Context) (Caller, bool) {
	c, ok := ctx.Value(callerKey{}).(Caller)
	return c, ok
}
