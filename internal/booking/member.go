package booking

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
)

// Roles of a member inside an organization.
const (
	// RoleAdmin may do everything.
	RoleAdmin = "admin"
	// RoleReceptionist manages everyone's agenda but not branches, services or members.
	RoleReceptionist = "receptionist"
	// RoleStaff sees and changes only their own appointments.
	RoleStaff = "staff"
)

// ValidRole reports whether role is one of the member roles.
func ValidRole(role string) bool {
	return role == RoleAdmin || role == RoleReceptionist || role == RoleStaff
}

// Member is a user's profile inside the organization (usuarios_perfilusuario).
type Member struct {
	ID          int64  `json:"id"`
	UserID      int64  `json:"user_id"`
	Role        string `json:"role"`
	DisplayName string `json:"nombre_visible"`
	// BranchID is the member's home branch, if any.
	BranchID  *int64    `json:"sede_id"`
	Active    bool      `json:"is_active"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// NewMember adds an existing user (public.auth_user id) to the organization.
type NewMember struct {
	UserID      int64  `json:"user_id"`
	Role        string `json:"role"`
	DisplayName string `json:"nombre_visible"`
	BranchID    *int64 `json:"sede_id"`
}

// MemberPatch changes a member; nil fields stay as they are.
type MemberPatch struct {
	Role        *string `json:"role"`
	DisplayName *string `json:"nombre_visible"`
	BranchID    *int64  `json:"sede_id"`
	Active      *bool   `json:"is_active"`
}

const memberColumns = `id, user_id, role, nombre_visible, sede_id, is_active, created_at, updated_at`

func scanMember(row pgx.Row) (Member, error) {
	var m Member
	err := row.Scan(&m.ID, &m.UserID, &m.Role, &m.DisplayName, &m.BranchID, &m.Active, &m.CreatedAt, &m.UpdatedAt)
	return m, err
}

func validDisplayName(s string) error {
	if utf8.RuneCountInString(s) > 200 {
		return invalidField("nombre_visible", "must be at most 200 characters")
	}
	return nil
}

// ListMembers returns the members by id; inactive ones only when includeInactive.
func ListMembers(ctx context.Context, tx pgx.Tx, includeInactive bool) ([]Member, error) {
	rows, err := tx.Query(ctx, `SELECT `+memberColumns+` FROM usuarios_perfilusuario
		WHERE is_active OR $1 ORDER BY id`, includeInactive)
	if err != nil {
		return nil, fmt.Errorf("listing members: %w", err)
	}
	ms, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Member, error) { return scanMember(r) })
	if err != nil {
		return nil, fmt.Errorf("listing members: %w", err)
	}
	return ms, nil
}

// GetMember returns the member (profile) with id.
func GetMember(ctx context.Context, tx pgx.Tx, id int64) (Member, error) {
	m, err := scanMember(tx.QueryRow(ctx, `SELECT `+memberColumns+` FROM usuarios_perfilusuario WHERE id = $1`, id))
	if err != nil {
		return Member{}, translate(err, fmt.Sprintf("member %d", id))
	}
	return m, nil
}

// AddMember adds a user to the organization with a role. A user who was a member before and was
// deactivated is reactivated with the new role.
func AddMember(ctx context.Context, tx pgx.Tx, in NewMember) (Member, error) {
	in.DisplayName = strings.TrimSpace(in.DisplayName)
	switch {
	case in.UserID <= 0:
		return Member{}, invalidField("user_id", "is required")
	case !ValidRole(in.Role):
		return Member{}, invalidField("role", "must be admin, receptionist or staff")
	}
	if err := validDisplayName(in.DisplayName); err != nil {
		return Member{}, err
	}
	m, err := scanMember(tx.QueryRow(ctx, `INSERT INTO usuarios_perfilusuario
		(user_id, role, nombre_visible, sede_id) VALUES ($1, $2, $3, $4)
		ON CONFLICT (user_id) DO UPDATE SET role = EXCLUDED.role, nombre_visible = EXCLUDED.nombre_visible,
			sede_id = EXCLUDED.sede_id, is_active = true, updated_at = now()
			WHERE NOT usuarios_perfilusuario.is_active
		RETURNING `+memberColumns, in.UserID, in.Role, in.DisplayName, in.BranchID))
	if errors.Is(err, pgx.ErrNoRows) {
		// ON CONFLICT ... WHERE skipped the update: an active member already exists.
		return Member{}, &Error{Kind: ErrConflict, Code: "conflict", Message: "the user is already a member of this organization"}
	}
	if err != nil {
		return Member{}, translate(err, "member")
	}
	return m, nil
}

// GrantMember gives a user an active profile with in's role, creating it or updating the
// existing one. An empty display name keeps the existing one. The home branch is not changed.
// created reports whether the profile is new. Unlike AddMember, an active member is not a
// conflict. The operator's add_member command uses it. The display name is taken as given, with
// no length limit, as that command always did.
func GrantMember(ctx context.Context, tx pgx.Tx, in NewMember) (m Member, created bool, err error) {
	switch {
	case in.UserID <= 0:
		return Member{}, false, invalidField("user_id", "is required")
	case !ValidRole(in.Role):
		return Member{}, false, invalidField("role", "must be admin, receptionist or staff")
	}
	err = tx.QueryRow(ctx, `INSERT INTO usuarios_perfilusuario (user_id, role, nombre_visible) VALUES ($1, $2, $3)
		ON CONFLICT (user_id) DO UPDATE SET role = EXCLUDED.role, is_active = true,
			nombre_visible = CASE WHEN EXCLUDED.nombre_visible = '' THEN usuarios_perfilusuario.nombre_visible ELSE EXCLUDED.nombre_visible END,
			updated_at = now()
		RETURNING `+memberColumns+`, xmax = 0`, in.UserID, in.Role, in.DisplayName).Scan(
		&m.ID, &m.UserID, &m.Role, &m.DisplayName, &m.BranchID, &m.Active, &m.CreatedAt, &m.UpdatedAt, &created)
	if err != nil {
		return Member{}, false, translate(err, "member")
	}
	return m, created, nil
}

// UpdateMember changes the fields of p that are set.
func UpdateMember(ctx context.Context, tx pgx.Tx, id int64, p MemberPatch) (Member, error) {
	if p.Role != nil && !ValidRole(*p.Role) {
		return Member{}, invalidField("role", "must be admin, receptionist or staff")
	}
	if p.DisplayName != nil {
		*p.DisplayName = strings.TrimSpace(*p.DisplayName)
		if err := validDisplayName(*p.DisplayName); err != nil {
			return Member{}, err
		}
	}
	m, err := scanMember(tx.QueryRow(ctx, `UPDATE usuarios_perfilusuario SET
			role = coalesce($2, role), nombre_visible = coalesce($3, nombre_visible),
			sede_id = coalesce($4, sede_id), is_active = coalesce($5, is_active), updated_at = now()
		WHERE id = $1 RETURNING `+memberColumns, id, p.Role, p.DisplayName, p.BranchID, p.Active))
	if err != nil {
		return Member{}, translate(err, fmt.Sprintf("member %d", id))
	}
	return m, nil
}

// UpdateMemberAs applies p to member id on behalf of the member actor.
// Nobody demotes or deactivates themselves.
// So an organization always keeps the admin who is acting.
// It returns the changed member, whose UserID is the membership to mirror into public.
func UpdateMemberAs(ctx context.Context, tx pgx.Tx, actor, id int64, p MemberPatch) (Member, error) {
	if id == actor && ((p.Role != nil && *p.Role != RoleAdmin) || (p.Active != nil && !*p.Active)) {
		return Member{}, &Error{Kind: ErrConflict, Code: "conflict",
			Message: "you cannot demote or deactivate yourself; ask another admin"}
	}
	return UpdateMember(ctx, tx, id, p)
}

// DeactivateMember marks a member inactive: they lose access and take no new appointments.
func DeactivateMember(ctx context.Context, tx pgx.Tx, id int64) (Member, error) {
	inactive := false
	return UpdateMember(ctx, tx, id, MemberPatch{Active: &inactive})
}

// MemberStanding is the part of a member that public.usuarios_membresia mirrors: the user, the
// role and whether the profile is active.
type MemberStanding struct {
	UserID int64
	Role   string
	Active bool
}

// MemberStandings lists every member's standing, inactive ones included, by id. It reads only
// columns every tenant migration version has, so a restore may call it at an archive's version.
func MemberStandings(ctx context.Context, tx pgx.Tx) ([]MemberStanding, error) {
	rows, err := tx.Query(ctx, `SELECT user_id, role, is_active FROM usuarios_perfilusuario ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("listing members: %w", err)
	}
	ms, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (MemberStanding, error) {
		var m MemberStanding
		err := r.Scan(&m.UserID, &m.Role, &m.Active)
		return m, err
	})
	if err != nil {
		return nil, fmt.Errorf("listing members: %w", err)
	}
	return ms, nil
}

// DeactivateMembers marks every active member inactive and returns how many it changed: nobody
// but a superuser reaches the organization until a member is added again (AddMember reactivates).
// Appointments keep their staff. It writes only columns every tenant migration version has, so a
// restore may call it at an archive's version.
func DeactivateMembers(ctx context.Context, tx pgx.Tx) (int64, error) {
	tag, err := tx.Exec(ctx, `UPDATE usuarios_perfilusuario SET is_active = false, updated_at = now() WHERE is_active`)
	if err != nil {
		return 0, fmt.Errorf("deactivating members: %w", err)
	}
	return tag.RowsAffected(), nil
}

// Profile is the part of a member that access control reads: the profile's id and role.
type Profile struct {
	ID   int64
	Role string
}

// ActiveProfileSQL reads the [Profile] of a user's active profile, the lowest id first ($1: the
// user id). It may lead a request's transaction (a tenancy.Lead): scan its row into ID and Role.
const ActiveProfileSQL = `SELECT id, role FROM usuarios_perfilusuario WHERE user_id = $1 AND is_active ORDER BY id LIMIT 1`

// activeProfile reads the user's active profile from the table; found is false without one.
func activeProfile(ctx context.Context, tx pgx.Tx, userID int64) (p Profile, found bool, err error) {
	err = tx.QueryRow(ctx, ActiveProfileSQL, userID).Scan(&p.ID, &p.Role)
	if errors.Is(err, pgx.ErrNoRows) {
		return Profile{}, false, nil
	}
	if err != nil {
		return Profile{}, false, fmt.Errorf("reading the user's profile: %w", err)
	}
	return p, true, nil
}

// StandingOf returns the standing of the user's profile, active or not; found is false when the
// user has no profile.
func StandingOf(ctx context.Context, tx pgx.Tx, userID int64) (st MemberStanding, found bool, err error) {
	err = tx.QueryRow(ctx, `SELECT user_id, role, is_active FROM usuarios_perfilusuario WHERE user_id = $1`, userID).Scan(
		&st.UserID, &st.Role, &st.Active)
	if errors.Is(err, pgx.ErrNoRows) {
		return MemberStanding{}, false, nil
	}
	if err != nil {
		return MemberStanding{}, false, fmt.Errorf("reading the user's profile: %w", err)
	}
	return st, true, nil
}

// CountActiveStaff counts the active members with the staff role.
func CountActiveStaff(ctx context.Context, tx pgx.Tx) (int, error) {
	var n int
	if err := tx.QueryRow(ctx, `SELECT count(*) FROM usuarios_perfilusuario WHERE is_active AND role = 'staff'`).Scan(&n); err != nil {
		return 0, fmt.Errorf("counting staff: %w", err)
	}
	return n, nil
}
