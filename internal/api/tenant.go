package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"runtime/debug"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/appcitas/appcitas/internal/booking"
	"github.com/appcitas/appcitas/internal/tenancy"
)

// orgLookup is what the organization cache keeps for an id: the organization, or that there is
// none (unknown ids are kept too, so that random ids cannot hammer the catalog).
type orgLookup struct {
	org      tenancy.Organization
	notFound bool
}

// newOrgCache returns the organization cache of tenant routing: every lookup by id reads
// public.organizacion_organizacion once, then the row is kept until the organization changes
// (announced by public migration 0005's trigger; see tenancy.OrganizationCache), ttl at most.
func newOrgCache(m *tenancy.Manager, ttl time.Duration, now func() time.Time) *tenancy.OrganizationCache[orgLookup] {
	return tenancy.NewOrganizationCache(func(ctx context.Context, id int64) (orgLookup, error) {
		org, err := m.Organization(ctx, id)
		if errors.Is(err, tenancy.ErrNotFound) {
			return orgLookup{notFound: true}, nil
		}
		return orgLookup{org: org}, err
	}, tenancy.OrganizationCacheOptions{TTL: ttl, Now: now})
}

// organization returns the organization with id through the cache; tenancy.ErrNotFound when
// there is none.
func (s *Server) organization(ctx context.Context, id int64) (tenancy.Organization, error) {
	l, err := s.orgs.Get(ctx, id)
	if err != nil {
		return tenancy.Organization{}, err
	}
	if l.notFound {
		return tenancy.Organization{}, fmt.Errorf("%w: id %d", tenancy.ErrNotFound, id)
	}
	return l.org, nil
}

// InvalidateOrganization makes the next request for the organization read it again from the
// catalog. Call it after changing an organization (activation, placement) in this process.
func (s *Server) InvalidateOrganization(id int64) { s.orgs.Invalidate(id) }

// parseOrganizationHeader reads X-Organization-ID: a positive decimal integer.
func parseOrganizationHeader(r *http.Request) (id int64, present bool, err error) {
	vals := r.Header.Values("X-Organization-ID")
	if len(vals) == 0 {
		return 0, false, nil
	}
	bad := apiError(http.StatusBadRequest, "invalid_organization_header", "X-Organization-ID must be one positive integer, e.g. X-Organization-ID: 1")
	if len(vals) > 1 || len(vals[0]) == 0 || len(vals[0]) > 18 {
		return 0, true, bad
	}
	for _, ch := range vals[0] {
		if ch < '0' || ch > '9' {
			return 0, true, bad
		}
	}
	id, err = strconv.ParseInt(vals[0], 10, 64)
	if err != nil || id <= 0 {
		return 0, true, bad
	}
	return id, true, nil
}

// routeOrganization runs after authenticate on tenant routes: it picks the organization
// (X-Organization-ID, else the token's org claim), looks it up (cached), refuses unknown and
// inactive ones and puts it, with its tenant, on the Caller. Membership is checked by inTenant,
// inside the handler's transaction.
func (s *Server) routeOrganization(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		c, ok := callerFrom(r.Context())
		if !ok {
			s.fail(w, r, errors.New("tenant route without authentication"))
			return
		}
		id, present, err := parseOrganizationHeader(r)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		if !present {
			id = c.DefaultOrg
		}
		if id <= 0 {
			s.fail(w, r, apiError(http.StatusBadRequest, "organization_required",
				"send X-Organization-ID: <organization id>, or get a token with organization_id"))
			return
		}
		info := infoFrom(r.Context())
		info.orgID = id
		org, err := s.organization(r.Context(), id)
		if errors.Is(err, tenancy.ErrNotFound) {
			s.fail(w, r, apiError(http.StatusNotFound, "organization_not_found", "organization %d does not exist", id))
			return
		}
		if err != nil {
			s.fail(w, r, err)
			return
		}
		if !org.IsActive {
			s.fail(w, r, apiError(http.StatusForbidden, "organization_inactive", "organization %d is inactive", id))
			return
		}
		t, err := org.Tenant()
		if err != nil {
			s.fail(w, r, err)
			return
		}
		c.Org, c.Tenant = org, t
		tw := &txWriter{ResponseWriter: w}
		next(tw, r.WithContext(withCaller(r.Context(), c)))
		if sw, ok := w.(*statusWriter); ok && !info.membershipChecked {
			switch {
			case info.status == statusClientClosed:
				// The client left before the transaction opened: nothing was answered.
				s.log.DebugContext(r.Context(), "client closed the request before its tenant transaction opened", "route", info.route, "request_id", info.id)
			case sw.status < 400:
				s.log.ErrorContext(r.Context(), "tenant route answered without inTenant's membership check", "route", info.route, "request_id", info.id)
			}
		}
	}
}

// inTenant runs fn in the routed organization's scoped transaction (tenancy.Run with
// caller.Tenant) after checking, in that same transaction, that the caller has an active profile
// there (superusers act as admins without one), as the organization's set-up at the version the
// transaction reads says. Without a profile the answer is 403
// unauthorized_organization. What fn writes to w is held back until the transaction commits; an
// error from fn (or from the commit) is answered through errors.go instead.
func (s *Server) inTenant(w http.ResponseWriter, r *http.Request, fn func(ctx context.Context, tx pgx.Tx, m Member) error) {
	c, ok := callerFrom(r.Context())
	if !ok || c.Tenant.Schema == "" {
		s.fail(w, r, errors.New("inTenant on a route without organization routing"))
		return
	}
	info := infoFrom(r.Context())
	tw, _ := w.(*txWriter)
	if tw != nil {
		tw.begin()
	}
	ctx := r.Context()
	// The set-up version is read in the round trip that opens the scope (a lead query), so it
	// costs no round trip of its own; the set-up at that version (cached, else loaded in this
	// transaction) gives the caller's profile and what booking decisions read, so that the
	// handler's own statement is the only other one that opens a tenant table. Without a set-up
	// cache the lead reads the profile itself.
	m := Member{UserID: c.UserID}
	var v booking.SetupVersion
	lead := &tenancy.Lead{SQL: booking.SetupVersionSQL, Dest: []any{&v.Table, &v.Version}}
	if s.setups == nil {
		lead = &tenancy.Lead{SQL: booking.ActiveProfileSQL, Args: []int64{c.UserID}, Dest: []any{&m.ProfileID, &m.Role}}
	}
	// The caller is the actor of the appointment changes the handler makes (citas_historial).
	opts := tenancy.RunOptions{Lead: lead, Actor: strconv.FormatInt(c.UserID, 10)}
	err := s.tenancy.RunWith(ctx, c.Tenant, opts, func(tx pgx.Tx) error {
		found := lead.Found
		if s.setups != nil {
			var err error
			if found, err = s.profile(ctx, tx, c, lead.Found, v, &m); err != nil {
				return err
			}
		}
		if !found {
			if !c.IsSuperuser {
				return errUnauthorizedOrganization()
			}
			m.Role = "admin"
		}
		info.membershipChecked = true
		if err := callGuarded(ctx, tx, m, fn); err != nil {
			return err
		}
		if tw != nil && tw.encodeErr != nil {
			return tw.encodeErr // roll back: the client would never see what was done
		}
		return nil
	})
	if err != nil {
		if tw != nil {
			tw.discard()
		}
		s.fail(w, r, err)
		return
	}
	if tw != nil {
		tw.commit()
	}
}

// readInTenant answers a read in one round trip when it can (tenancy.Manager.ReadInOneTrip), else
// as inTenant does with fn. The caller's membership (profile and role) comes from the tenant's
// set-up as the cache holds it; plan returns the read's one statement for that member. The
// set-up's version is read with the statement, and its rows are used only when the transaction
// reads the cached version: then the membership is the one inTenant would find. answer writes
// the response after the read. Every other case goes inTenant's way: no set-up cached (or too
// large to keep), a caller who is not a member by it (inTenant answers 403), a version that
// moved (a member removed, a branch changed), a request plan does not take, any failure.
func (s *Server) readInTenant(w http.ResponseWriter, r *http.Request, plan func(m Member) (tenancy.ReadQuery, bool),
	answer func(w http.ResponseWriter), fn func(ctx context.Context, tx pgx.Tx, m Member) error) {
	c, ok := callerFrom(r.Context())
	if !ok || c.Tenant.Schema == "" || s.setups == nil || s.cfg.NoOneTripReads {
		s.inTenant(w, r, fn)
		return
	}
	setup, v, ok := s.setups.Cached(c.Tenant.Server + "/" + c.Tenant.Schema)
	if !ok || setup == nil {
		s.inTenant(w, r, fn)
		return
	}
	p, found := setup.ActiveMember(c.UserID)
	if !found {
		s.inTenant(w, r, fn)
		return
	}
	m := Member{UserID: c.UserID, ProfileID: p.ID, Role: p.Role, Setup: setup}
	q, ok := plan(m)
	if !ok {
		s.inTenant(w, r, fn)
		return
	}
	var got booking.SetupVersion
	lead := &tenancy.Lead{SQL: booking.SetupVersionSQL, Dest: []any{&got.Table, &got.Version}}
	err := s.tenancy.ReadInOneTrip(r.Context(), c.Tenant, lead, func() bool { return lead.Found && got == v }, q)
	if err != nil {
		if !errors.Is(err, tenancy.ErrLeadRefused) {
			s.log.DebugContext(r.Context(), "read in one round trip failed; reading again in a scope", "err", err)
		}
		s.inTenant(w, r, fn)
		return
	}
	infoFrom(r.Context()).membershipChecked = true
	answer(w)
}

// profile finds the caller's active profile in the tenant's set-up at version v (read by the
// scope's lead when versioned), fetching the set-up from s.setups into m.Setup; for a tenant
// without a kept set-up (too large, or its version row deleted by hand) it reads the profile from
// the table.
func (s *Server) profile(ctx context.Context, tx pgx.Tx, c Caller, versioned bool, v booking.SetupVersion, m *Member) (bool, error) {
	if versioned {
		setup, err := s.setups.Get(ctx, tx, c.Tenant.Server+"/"+c.Tenant.Schema, v)
		if err != nil {
			return false, err
		}
		m.Setup = setup
	}
	p, found, err := s.bookings(tx, *m).ActiveProfile(ctx, c.UserID)
	if err != nil {
		return false, err
	}
	if found {
		m.ProfileID, m.Role = p.ID, p.Role
	}
	return found, nil
}

// bookings opens the routed tenant's bookings in tx, with the set-up inTenant found for m.
func (s *Server) bookings(tx pgx.Tx, m Member) *booking.Bookings {
	return booking.Open(tx, m.Setup, s.zones)
}

// callGuarded calls fn, turning a panic into an error so that Run rolls the transaction back and
// returns its connection to the pool instead of leaking it; the API then answers 500.
func callGuarded(ctx context.Context, tx pgx.Tx, m Member, fn func(ctx context.Context, tx pgx.Tx, m Member) error) (err error) {
	defer func() {
		if v := recover(); v != nil {
			if v == http.ErrAbortHandler {
				panic(v)
			}
			err = fmt.Errorf("panic in tenant handler: %v\n%s", v, debug.Stack())
		}
	}()
	return fn(ctx, tx, m)
}
