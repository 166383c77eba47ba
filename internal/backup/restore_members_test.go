package backup_test

import (
	"context"
	"reflect"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/appcitas/appcitas/internal/auth"
	"github.com/appcitas/appcitas/internal/backup"
	"github.com/appcitas/appcitas/internal/tenancy"
)

// membership is one row of public.usuarios_membresia, as the tests compare them.
type membership struct {
	UserID int64
	Role   string
	Active bool
}

// withUsers creates the users newOrg's profiles name (10, 11, 12) and mirrors org's profiles
// into public.usuarios_membresia, as add_member does.
func (f *fixture) withUsers(t *testing.T, org tenancy.Organization) {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, f.url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, `INSERT INTO public.auth_user (id, username) VALUES (10, 'ana'), (11, 'luis'), (12, 'obrien')
		ON CONFLICT DO NOTHING`)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range []membership{{10, "admin", true}, {11, "staff", true}, {12, "staff", true}} {
		if err := auth.SyncMembership(ctx, conn, auth.Membership{UserID: m.UserID, OrganizationID: org.ID, Role: m.Role, IsActive: m.Active}); err != nil {
			t.Fatal(err)
		}
	}
}

// memberships lists org's rows of public.usuarios_membresia by user.
// wantMemberCounts fails the test unless r deactivated and kept active the given numbers of
// members.
func wantMemberCounts(t *testing.T, r backup.RestoreResult, deactivated int64, active int) {
	t.Helper()
	if r.DeactivatedMembers != deactivated || r.ActiveMembers != active {
		t.Fatalf("members deactivated %d, active %d; want %d and %d", r.DeactivatedMembers, r.ActiveMembers, deactivated, active)
	}
}

func (f *fixture) memberships(t *testing.T, org tenancy.Organization) []membership {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, f.url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, `SELECT user_id, role, is_active FROM public.usuarios_membresia WHERE organizacion_id = $1 ORDER BY user_id`, org.ID)
	if err != nil {
		t.Fatal(err)
	}
	ms, err := pgx.CollectRows(rows, pgx.RowToStructByPos[membership])
	if err != nil {
		t.Fatal(err)
	}
	return ms
}

// TestRestoreMembers checks that a restore leaves the membership mirror (public.usuarios_membresia)
// consistent with the restored profiles, and that a copy grants no one access unless asked.
func TestRestoreMembers(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	all := []membership{{10, "admin", true}, {11, "staff", true}, {12, "staff", true}}

	t.Run("CopyDeactivatesEveryProfile", func(t *testing.T) {
		t.Parallel()
		f := setup(t, setupOptions{})
		org := f.newOrg(t, "Barbería Juan", "", 5)
		f.withUsers(t, org)
		res, err := backup.Store{Root: f.dir}.Backup(ctx, f.m, org)
		if err != nil {
			t.Fatal(err)
		}

		r, err := backup.Restore(ctx, f.m, res.Path, backup.RestoreOptions{NewSlug: "juan-soporte"})
		if err != nil {
			t.Fatal(err)
		}
		wantMemberCounts(t, r, 3, 0)
		if x := f.count(t, r.Organization, `SELECT count(*) FROM usuarios_perfilusuario WHERE is_active`); x != 0 {
			t.Fatalf("got %v; want it empty", x)
		}
		if want, got := []membership{{10, "admin", false}, {11, "staff", false}, {12, "staff", false}}, f.memberships(t, r.Organization); !reflect.DeepEqual(got, want) {
			t.Fatalf("got %v; want %v", got, want)
		}
		// Appointments keep their staff; the original keeps its members.
		if want, got := int64(5), f.count(t, r.Organization, `SELECT count(*) FROM citas_cita`); got != want {
			t.Fatalf("got %v; want %v", got, want)
		}
		if want, got := int64(3), f.count(t, org, `SELECT count(*) FROM usuarios_perfilusuario WHERE is_active`); got != want {
			t.Fatalf("got %v; want %v", got, want)
		}
		if got := f.memberships(t, org); !reflect.DeepEqual(got, all) {
			t.Fatalf("got %v; want %v", got, all)
		}
	})

	t.Run("CopyWithKeepMembersMirrorsTheProfiles", func(t *testing.T) {
		t.Parallel()
		f := setup(t, setupOptions{})
		org := f.newOrg(t, "Barbería Juan", "", 5)
		f.withUsers(t, org)
		res, err := backup.Store{Root: f.dir}.Backup(ctx, f.m, org)
		if err != nil {
			t.Fatal(err)
		}

		r, err := backup.Restore(ctx, f.m, res.Path, backup.RestoreOptions{NewSlug: "juan-demo", KeepMembers: true})
		if err != nil {
			t.Fatal(err)
		}
		wantMemberCounts(t, r, 0, 3)
		if got := f.memberships(t, r.Organization); !reflect.DeepEqual(got, all) {
			t.Fatalf("got %v; want %v", got, all)
		}
	})

	t.Run("ReplaceResyncsTheMirror", func(t *testing.T) {
		t.Parallel()
		f := setup(t, setupOptions{})
		org := f.newOrg(t, "Barbería Juan", "", 5)
		f.withUsers(t, org)
		store := backup.Store{Root: f.dir}
		res, err := store.Backup(ctx, f.m, org)
		if err != nil {
			t.Fatal(err)
		}
		// After the backup: luis leaves, a new user joins as admin (profile and mirror).
		conn, err := pgx.Connect(ctx, f.url)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(ctx)
		_, err = conn.Exec(ctx, `INSERT INTO public.auth_user (id, username) VALUES (13, 'nuevo')`)
		if err != nil {
			t.Fatal(err)
		}
		f.exec(t, org, `UPDATE usuarios_perfilusuario SET is_active = false WHERE user_id = 11;
			INSERT INTO usuarios_perfilusuario (user_id, role) VALUES (13, 'admin')`)
		if err := auth.SyncMembership(ctx, conn, auth.Membership{UserID: 11, OrganizationID: org.ID, Role: "staff", IsActive: false}); err != nil {
			t.Fatal(err)
		}
		if err := auth.SyncMembership(ctx, conn, auth.Membership{UserID: 13, OrganizationID: org.ID, Role: "admin", IsActive: true}); err != nil {
			t.Fatal(err)
		}

		r, err := backup.Restore(ctx, f.m, res.Path, backup.RestoreOptions{ReplaceID: org.ID, PreBackup: store})
		if err != nil {
			t.Fatal(err)
		}
		wantMemberCounts(t, r, 0, 3)
		if got := f.memberships(t, r.Organization); !reflect.DeepEqual(got, all) {
			t.Fatalf("the mirror is the restored profiles: 11 back, 13 gone: got %v; want %v", got, all)
		}
	})

	t.Run("SkipsProfilesOfUsersThatNoLongerExist", func(t *testing.T) {
		t.Parallel()
		f := setup(t, setupOptions{})
		org := f.newOrg(t, "Barbería Juan", "", 0)
		// No auth_user rows: the profiles name users deleted since (or of another installation).
		res, err := backup.Store{Root: f.dir}.Backup(ctx, f.m, org)
		if err != nil {
			t.Fatal(err)
		}
		r, err := backup.Restore(ctx, f.m, res.Path, backup.RestoreOptions{NewSlug: "juan-huerfano", KeepMembers: true})
		if err != nil {
			t.Fatal(err)
		}
		if x := f.memberships(t, r.Organization); len(x) != 0 {
			t.Fatalf("got %v; want it empty", x)
		}
	})
}
