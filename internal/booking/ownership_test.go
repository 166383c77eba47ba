package booking_test

import (
	"context"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/appcitas/appcitas/internal/booking"
)

// TestOwnership checks that booking is the one owner of the members' table and that its input
// types carry only input.
func TestOwnership(t *testing.T) {
	t.Parallel()

	t.Run("OnlyBookingHasSQLOnMembers", func(t *testing.T) {
		sql := regexp.MustCompile(`(?i)\b(from|into|update|join|table)\s+usuarios_perfilusuario\b`)
		for _, at := range literalsOutside(t, sql, "booking", "migrate") {
			t.Errorf("%s: SQL on usuarios_perfilusuario outside booking; call booking instead", at)
		}
	})

	t.Run("InputTypesCarryNoCache", func(t *testing.T) {
		for _, v := range []any{booking.NewAppointment{}, booking.Reschedule{}, booking.AvailabilityQuery{}, booking.AppointmentFilter{}} {
			typ := reflect.TypeOf(v)
			for f := range typ.Fields() {
				if f.Tag.Get("json") == "-" || f.Type == reflect.TypeFor[*booking.Setup]() || f.Type == reflect.TypeFor[*booking.Zones]() {
					t.Errorf("%s.%s is a cache field; booking.Open takes the set-up and zones", typ.Name(), f.Name)
				}
			}
		}
	})
}

// literalsOutside returns the positions of Go string literals that match what, in the non-test
// files of internal's packages other than skip.
func literalsOutside(t *testing.T, what *regexp.Regexp, skip ...string) []string {
	t.Helper()
	var found []string
	fset := token.NewFileSet()
	err := filepath.WalkDir("..", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			for _, s := range skip {
				if path == filepath.Join("..", s) {
					return filepath.SkipDir
				}
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
		if err != nil {
			return err
		}
		ast.Inspect(f, func(n ast.Node) bool {
			if lit, ok := n.(*ast.BasicLit); ok && lit.Kind == token.STRING && what.MatchString(lit.Value) {
				found = append(found, fset.Position(lit.Pos()).String())
			}
			return true
		})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return found
}

func TestMemberAccess(t *testing.T) {
	t.Parallel()
	e := setup(t)

	t.Run("GrantMemberCreatesThenUpdatesKeepingTheName", func(t *testing.T) {
		e.run(t, func(ctx context.Context, tx pgx.Tx) error {
			m, created, err := booking.GrantMember(ctx, tx, booking.NewMember{UserID: 20, Role: booking.RoleStaff, DisplayName: "Ana"})
			if err != nil {
				return err
			}
			if !created || !m.Active || m.Role != booking.RoleStaff || m.DisplayName != "Ana" {
				t.Errorf("granted %+v (created %t); want a new active staff member Ana", m, created)
			}
			if _, err := booking.DeactivateMember(ctx, tx, m.ID); err != nil {
				return err
			}
			again, created, err := booking.GrantMember(ctx, tx, booking.NewMember{UserID: 20, Role: booking.RoleAdmin})
			if err != nil {
				return err
			}
			if created || again.ID != m.ID || !again.Active || again.Role != booking.RoleAdmin || again.DisplayName != "Ana" {
				t.Errorf("granted again %+v (created %t); want profile %d active admin Ana", again, created, m.ID)
			}
			return nil
		})
	})

	t.Run("GrantMemberRejectsUnknownRole", func(t *testing.T) {
		err := e.try(t, func(ctx context.Context, tx pgx.Tx) error {
			_, _, err := booking.GrantMember(ctx, tx, booking.NewMember{UserID: 21, Role: "owner"})
			return err
		})
		if be := wantKind(t, err, booking.ErrInvalid, ""); be.Field != "role" {
			t.Errorf("field = %q", be.Field)
		}
	})

	t.Run("ActiveProfileIsTheSameFromTablesAndSetup", func(t *testing.T) {
		var staff booking.Member
		e.run(t, func(ctx context.Context, tx pgx.Tx) error {
			var err error
			if staff, err = booking.AddMember(ctx, tx, booking.NewMember{UserID: 22, Role: booking.RoleStaff}); err != nil {
				return err
			}
			gone, err := booking.AddMember(ctx, tx, booking.NewMember{UserID: 23, Role: booking.RoleAdmin})
			if err != nil {
				return err
			}
			_, err = booking.DeactivateMember(ctx, tx, gone.ID)
			return err
		})
		e.run(t, func(ctx context.Context, tx pgx.Tx) error {
			s, err := booking.LoadSetup(ctx, tx, nil, 0)
			if err != nil {
				return err
			}
			for _, setup := range []*booking.Setup{nil, s} {
				p, found, err := booking.Open(tx, setup, nil).ActiveProfile(ctx, 22)
				if err != nil {
					return err
				}
				if !found || p != (booking.Profile{ID: staff.ID, Role: booking.RoleStaff}) {
					t.Errorf("set-up %t: profile %+v (found %t); want %d staff", setup != nil, p, found, staff.ID)
				}
				for _, user := range []int64{23, 999} {
					if p, found, err := booking.Open(tx, setup, nil).ActiveProfile(ctx, user); err != nil || found {
						t.Errorf("set-up %t: user %d has profile %+v (err %v); want none", setup != nil, user, p, err)
					}
				}
			}
			return nil
		})
	})

	t.Run("StandingOfReadsInactiveProfiles", func(t *testing.T) {
		e.run(t, func(ctx context.Context, tx pgx.Tx) error {
			m, err := booking.AddMember(ctx, tx, booking.NewMember{UserID: 24, Role: booking.RoleReceptionist})
			if err != nil {
				return err
			}
			if _, err := booking.DeactivateMember(ctx, tx, m.ID); err != nil {
				return err
			}
			st, found, err := booking.StandingOf(ctx, tx, 24)
			if err != nil {
				return err
			}
			if want := (booking.MemberStanding{UserID: 24, Role: booking.RoleReceptionist}); !found || st != want {
				t.Errorf("standing %+v (found %t); want %+v", st, found, want)
			}
			if _, found, err := booking.StandingOf(ctx, tx, 998); err != nil || found {
				t.Errorf("user without a profile: found %t, err %v", found, err)
			}
			return nil
		})
	})

	t.Run("CountsActiveStaffAndHoldings", func(t *testing.T) {
		e.run(t, func(ctx context.Context, tx pgx.Tx) error {
			before, err := booking.CountActiveStaff(ctx, tx)
			if err != nil {
				return err
			}
			held, err := booking.CountHoldings(ctx, tx, time.Now(), time.Now().AddDate(0, 0, 30))
			if err != nil {
				return err
			}
			if _, err := booking.AddMember(ctx, tx, booking.NewMember{UserID: 25, Role: booking.RoleStaff}); err != nil {
				return err
			}
			after, err := booking.CountActiveStaff(ctx, tx)
			if err != nil {
				return err
			}
			now, err := booking.CountHoldings(ctx, tx, time.Now(), time.Now().AddDate(0, 0, 30))
			if err != nil {
				return err
			}
			if after != before+1 || now.Members != held.Members+1 || now.Branches != held.Branches {
				t.Errorf("staff %d → %d, holdings %+v → %+v; want one more staff member and member", before, after, held, now)
			}
			return nil
		})
	})
}
