package api

import (
	"context"
	"errors"
	"net/http"
	"strconv"

	"github.com/jackc/pgx/v5"

	"github.com/appcitas/appcitas/internal/auth"
	"github.com/appcitas/appcitas/internal/billing"
	"github.com/appcitas/appcitas/internal/booking"
	"github.com/appcitas/appcitas/internal/tenancy"
)

// listOf is the shape of list answers: {"items": [...]}.
type listOf[T any] struct {
	Items []T `json:"items"`
}

// hoursBody is the body of GET/PUT /api/miembros/{id}/horario.
type hoursBody struct {
	Hours []booking.WorkBlock `json:"horario"`
}

// actor turns the caller's profile into the booking package's Actor.
func actor(m Member) booking.Actor { return booking.Actor{ProfileID: m.ProfileID, Role: m.Role} }

// requireRole refuses callers whose role is not one of roles.
func requireRole(m Member, roles ...string) error {
	for _, r := range roles {
		if m.Role == r {
			return nil
		}
	}
	return &booking.Error{Kind: booking.ErrForbidden, Code: "forbidden",
		Message: "your role (" + m.Role + ") may not do this"}
}

// rowByID answers a route on the row named by {id}: when roles is not empty the caller's role must
// be one of them; fn's result is the 200 JSON answer.
func rowByID[T any](s *Server, w http.ResponseWriter, r *http.Request, roles []string,
	fn func(ctx context.Context, tx pgx.Tx, id int64) (T, error)) {
	id, err := pathID(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.inTenant(w, r, func(ctx context.Context, tx pgx.Tx, m Member) error {
		if len(roles) > 0 {
			if err := requireRole(m, roles...); err != nil {
				return err
			}
		}
		v, err := fn(ctx, tx, id)
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, v)
		return nil
	})
}

// patchByID answers an admin's PATCH of the row named by {id} with a JSON body of type P.
func patchByID[P, T any](s *Server, w http.ResponseWriter, r *http.Request,
	fn func(ctx context.Context, tx pgx.Tx, id int64, p P) (T, error)) {
	var in P
	if _, err := pathID(r); err != nil {
		s.fail(w, r, err)
		return
	}
	if err := s.decodeJSON(w, r, &in); err != nil {
		s.fail(w, r, err)
		return
	}
	rowByID(s, w, r, []string{booking.RoleAdmin}, func(ctx context.Context, tx pgx.Tx, id int64) (T, error) {
		return fn(ctx, tx, id, in)
	})
}

// pathID reads the {id} wildcard: a positive integer.
func pathID(r *http.Request) (int64, error) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		return 0, &booking.Error{Kind: booking.ErrInvalid, Code: "invalid_input", Field: "id",
			Message: "id: must be a positive integer"}
	}
	return id, nil
}

// includeInactive reads ?incluir_inactivos=true.
func includeInactive(r *http.Request) (bool, error) {
	q, err := queryOf(r, "incluir_inactivos")
	if err != nil {
		return false, err
	}
	v := q.Get("incluir_inactivos")
	if v == "" {
		return false, nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, invalidQuery("incluir_inactivos", "must be true or false")
	}
	return b, nil
}

// --- branches ---

func (s *Server) listBranches(w http.ResponseWriter, r *http.Request) {
	all, err := includeInactive(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.inTenant(w, r, func(ctx context.Context, tx pgx.Tx, m Member) error {
		bs, err := booking.ListBranches(ctx, tx, all)
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, listOf[booking.Branch]{Items: bs})
		return nil
	})
}

func (s *Server) createBranch(w http.ResponseWriter, r *http.Request) {
	var in booking.BranchPatch
	if err := s.decodeJSON(w, r, &in); err != nil {
		s.fail(w, r, err)
		return
	}
	s.inTenant(w, r, func(ctx context.Context, tx pgx.Tx, m Member) error {
		if err := requireRole(m, booking.RoleAdmin); err != nil {
			return err
		}
		if err := s.checkPlanLimitTx(ctx, tx, billing.LimitBranches); err != nil { // billing.go
			return err
		}
		b, err := booking.CreateBranch(ctx, tx, in)
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusCreated, b)
		return nil
	})
}

func (s *Server) getBranch(w http.ResponseWriter, r *http.Request) {
	rowByID(s, w, r, nil, booking.GetBranch)
}

func (s *Server) updateBranch(w http.ResponseWriter, r *http.Request) {
	patchByID(s, w, r, booking.UpdateBranch)
}

func (s *Server) deactivateBranch(w http.ResponseWriter, r *http.Request) {
	rowByID(s, w, r, []string{booking.RoleAdmin}, booking.DeactivateBranch)
}

// --- services ---

func (s *Server) listServices(w http.ResponseWriter, r *http.Request) {
	all, err := includeInactive(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.inTenant(w, r, func(ctx context.Context, tx pgx.Tx, m Member) error {
		ss, err := booking.ListServices(ctx, tx, all)
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, listOf[booking.Service]{Items: ss})
		return nil
	})
}

func (s *Server) createService(w http.ResponseWriter, r *http.Request) {
	var in booking.ServicePatch
	if err := s.decodeJSON(w, r, &in); err != nil {
		s.fail(w, r, err)
		return
	}
	s.inTenant(w, r, func(ctx context.Context, tx pgx.Tx, m Member) error {
		if err := requireRole(m, booking.RoleAdmin); err != nil {
			return err
		}
		sv, err := booking.CreateService(ctx, tx, in)
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusCreated, sv)
		return nil
	})
}

func (s *Server) getService(w http.ResponseWriter, r *http.Request) {
	rowByID(s, w, r, nil, booking.GetService)
}

func (s *Server) updateService(w http.ResponseWriter, r *http.Request) {
	patchByID(s, w, r, booking.UpdateService)
}

func (s *Server) deactivateService(w http.ResponseWriter, r *http.Request) {
	rowByID(s, w, r, []string{booking.RoleAdmin}, booking.DeactivateService)
}

// --- members ---

func (s *Server) listMembers(w http.ResponseWriter, r *http.Request) {
	all, err := includeInactive(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.inTenant(w, r, func(ctx context.Context, tx pgx.Tx, m Member) error {
		ms, err := booking.ListMembers(ctx, tx, all)
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, listOf[booking.Member]{Items: ms})
		return nil
	})
}

func (s *Server) getMember(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.inTenant(w, r, func(ctx context.Context, tx pgx.Tx, m Member) error {
		mb, err := booking.GetMember(ctx, tx, id)
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, mb)
		return nil
	})
}

func (s *Server) addMember(w http.ResponseWriter, r *http.Request) {
	var in booking.NewMember
	if err := s.decodeJSON(w, r, &in); err != nil {
		s.fail(w, r, err)
		return
	}
	var changed int64
	s.inTenant(w, r, func(ctx context.Context, tx pgx.Tx, m Member) error {
		if err := requireRole(m, booking.RoleAdmin); err != nil {
			return err
		}
		if in.UserID > 0 {
			// The user must exist in public.auth_user, read through the shared pool (tenant SQL
			// cannot read public's tables).
			_, err := s.users.User(ctx, in.UserID)
			if errors.Is(err, auth.ErrUserNotFound) {
				return &booking.Error{Kind: booking.ErrInvalid, Code: "invalid_input", Field: "user_id",
					Message: "user_id: user " + strconv.FormatInt(in.UserID, 10) + " does not exist"}
			}
			if err != nil {
				return err
			}
		}
		c, _ := callerFrom(ctx)
		mb, err := s.addMemberTx(ctx, tx, c.Org.ID, in) // settings_handlers.go: the plan's staff limit, then booking.AddMember
		if err != nil {
			return err
		}
		changed = mb.UserID
		writeJSON(w, http.StatusCreated, mb)
		return nil
	})
	s.mirrorMembership(r, changed)
}

func (s *Server) updateMember(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	var in booking.MemberPatch
	if err := s.decodeJSON(w, r, &in); err != nil {
		s.fail(w, r, err)
		return
	}
	s.changeMember(w, r, id, in)
}

func (s *Server) deactivateMember(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	inactive := false
	s.changeMember(w, r, id, booking.MemberPatch{Active: &inactive})
}

// changeMember applies p to member id and mirrors the result into public.
// Only admins may call it.
// The self-demotion rule lives in [booking.UpdateMemberAs].
func (s *Server) changeMember(w http.ResponseWriter, r *http.Request, id int64, p booking.MemberPatch) {
	var changed int64
	s.inTenant(w, r, func(ctx context.Context, tx pgx.Tx, m Member) error {
		if err := requireRole(m, booking.RoleAdmin); err != nil {
			return err
		}
		mb, err := booking.UpdateMemberAs(ctx, tx, m.ProfileID, id, p)
		if err != nil {
			return err
		}
		changed = mb.UserID
		writeJSON(w, http.StatusOK, mb)
		return nil
	})
	s.mirrorMembership(r, changed)
}

// mirrorMembership copies user's committed profile (role, active) into public.usuarios_membresia,
// which GET /api/me reads. Tenant SQL cannot write public, so this runs after inTenant's
// transaction, from what that transaction committed (read again, so a failed commit mirrors
// nothing new). A failure is logged: the tenant profile stays the authority for access.
func (s *Server) mirrorMembership(r *http.Request, userID int64) {
	if userID == 0 {
		return
	}
	ctx := r.Context()
	c, ok := callerFrom(ctx)
	if !ok {
		return
	}
	var ms auth.Membership
	found := false
	err := s.tenancy.RunWith(ctx, c.Tenant, tenancy.RunOptions{ReadOnly: true}, func(tx pgx.Tx) error {
		st, ok, err := booking.StandingOf(ctx, tx, userID)
		ms.Role, ms.IsActive, found = st.Role, st.Active, ok
		return err
	})
	if err == nil && found {
		ms.UserID, ms.OrganizationID = userID, c.Org.ID
		var pool auth.Execer
		if pool, err = s.tenancy.Servers().Shared(ctx, tenancy.DefaultServer); err == nil {
			err = auth.SyncMembership(ctx, pool, ms)
		}
	}
	if err != nil {
		s.log.ErrorContext(ctx, "mirroring membership into public.usuarios_membresia", "user_id", userID, "organization_id", c.Org.ID, "err", err)
	}
}
