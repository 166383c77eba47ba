package cli_test

import (
	"fmt"
	"strings"
	"testing"
)

// TestRestoreTenantMembers checks restore_tenant's handling of members: a copy grants no one
// access unless --keep-members, and the re-created archived organization keeps its members.
func TestRestoreTenantMembers(t *testing.T) {
	t.Parallel()
	app, conn := newApp(t)
	app.must(t, "migrate")
	app.must(t, "create_organization", "--nombre", "Barbería Juan", "--slug", "barberia-juan")
	app.must(t, "create_user", "--username", "ana", "--email", "ana@example.com", "--password", "ana-password-123")
	app.must(t, "add_member", "--user", "ana", "--slug", "barberia-juan", "--role", "admin")
	juan := organizations(t, conn)[0]
	path := backupPath(t, app.must(t, "backup_tenant", "--organization_id", fmt.Sprint(juan.id)))
	// activeMembers counts the active rows of public.usuarios_membresia of the organization slug.
	activeMembers := func(slug string) int64 {
		return opsQuery[int64](t, conn, `SELECT count(*) FROM public.usuarios_membresia m
			JOIN public.organizacion_organizacion o ON o.id = m.organizacion_id WHERE o.slug = $1 AND m.is_active`, slug)
	}

	t.Run("CopyDeactivatesTheProfiles", func(t *testing.T) {
		r := app.must(t, "restore_tenant", path, "--new-slug", "juan-soporte")
		inOrder(t, r.stdout, "✓ Restaurado", "1 perfiles desactivados", "appcitas add_member --user USUARIO --slug juan-soporte --role admin")
		if n := activeMembers("juan-soporte"); n != 0 {
			t.Errorf("the copy has %d active memberships; want 0", n)
		}
		if n := activeMembers("barberia-juan"); n != 1 {
			t.Errorf("the original has %d active memberships; want 1", n)
		}
		// A superuser's add_member opens the copy again.
		app.must(t, "add_member", "--user", "ana", "--slug", "juan-soporte", "--role", "admin")
		if n := activeMembers("juan-soporte"); n != 1 {
			t.Errorf("after add_member the copy has %d active memberships; want 1", n)
		}
	})

	t.Run("KeepMembersKeepsThem", func(t *testing.T) {
		r := app.must(t, "restore_tenant", path, "--new-slug", "juan-demo", "--keep-members")
		inOrder(t, r.stdout, "✓ Restaurado", "✓ Miembros con acceso: 1 perfiles activos")
		if n := activeMembers("juan-demo"); n != 1 {
			t.Errorf("the kept copy has %d active memberships; want 1", n)
		}
	})

	t.Run("KeepMembersWithReplaceExitsTwo", func(t *testing.T) {
		r := app.run(t, "restore_tenant", path, "--organization_id", fmt.Sprint(juan.id), "--keep-members")
		if r.code != 2 || !strings.Contains(r.stderr, "--keep-members") {
			t.Errorf("want exit 2 naming --keep-members:\n%s", r)
		}
	})

	t.Run("ReplaceKeepsTheRestoredProfiles", func(t *testing.T) {
		r := app.must(t, "restore_tenant", path, "--organization_id", fmt.Sprint(juan.id))
		inOrder(t, r.stdout, "✓ Restaurado Barbería Juan", "✓ Miembros con acceso: 1 perfiles activos")
		if n := activeMembers("barberia-juan"); n != 1 {
			t.Errorf("the replaced organization has %d active memberships; want 1", n)
		}
	})

	t.Run("RecreatedOrganizationKeepsItsMembers", func(t *testing.T) {
		r := app.must(t, "drop_tenant", "--organization_id", fmt.Sprint(juan.id))
		schema := opsQuery[string](t, conn, `SELECT schema_name FROM public.organizacion_organizacion WHERE id = $1`, juan.id)
		r = app.must(t, "drop_tenant", "--organization_id", fmt.Sprint(juan.id), "--confirm", schema)
		final := backupPath(t, result{stdout: finalBackupLine(r.stdout)})
		r = app.must(t, "restore_tenant", final)
		inOrder(t, r.stdout, "✓ Restaurado Barbería Juan", "✓ Miembros con acceso: 1 perfiles activos")
		if n := activeMembers("barberia-juan"); n != 1 {
			t.Errorf("the re-created organization has %d active memberships; want 1", n)
		}
	})
}
