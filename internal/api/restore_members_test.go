package api

import (
	"encoding/json"
	"testing"

	"github.com/appcitas/appcitas/internal/backup"
)

// TestRestoredCopyMembers checks what a restored copy grants through the API: without
// KeepMembers the original's members get 403 on the copy and GET /api/me does not list it; with
// it they reach the copy and /api/me lists it. A superuser reaches a copy with no members.
func TestRestoredCopyMembers(t *testing.T) {
	t.Parallel()
	e := setup(t, nil, testServicesRoute)
	juan := e.createOrg("Barbería Juan")
	e.addService(juan, "Corte")
	ana := e.createUser("ana", false)
	root := e.createUser("root", true)
	e.addProfile(juan, ana, "admin", true)
	store := backup.Store{Root: t.TempDir()}
	res, err := store.Backup(e.ctx, e.m, juan)
	if err != nil {
		t.Fatal(err)
	}
	meOrgs := func(t *testing.T) []int64 {
		t.Helper()
		rec := e.do("GET", "/api/me", nil, bearer(e.token(ana, 0))...)
		if rec.Code != 200 {
			t.Fatalf("/api/me = %d %s", rec.Code, rec.Body.String())
		}
		var me meResponse
		if err := json.Unmarshal(rec.Body.Bytes(), &me); err != nil {
			t.Fatal(err)
		}
		var ids []int64
		for _, o := range me.Organizations {
			ids = append(ids, o.ID)
		}
		return ids
	}
	services := func(tok string, org int64) int {
		return e.do("GET", "/api/test/servicios", nil, append(bearer(tok), "X-Organization-ID", itoa(org))...).Code
	}

	t.Run("CopyWithoutKeepMembersIsClosedToTheOriginalsMembers", func(t *testing.T) {
		r, err := backup.Restore(e.ctx, e.m, res.Path, backup.RestoreOptions{NewSlug: "juan-soporte"})
		if err != nil {
			t.Fatal(err)
		}
		cp := r.Organization.ID
		wantError(t, e.do("GET", "/api/test/servicios", nil, append(bearer(e.token(ana, 0)), "X-Organization-ID", itoa(cp))...),
			403, "unauthorized_organization")
		if got := meOrgs(t); len(got) != 1 || got[0] != juan.ID {
			t.Errorf("/api/me organizations = %v; want only the original %d", got, juan.ID)
		}
		if code := services(e.token(root, 0), cp); code != 200 {
			t.Errorf("a superuser on the copy = %d; want 200", code)
		}
		if code := services(e.token(ana, 0), juan.ID); code != 200 {
			t.Errorf("ana on the original = %d; want 200", code)
		}
	})

	t.Run("CopyWithKeepMembersIsOpenToThem", func(t *testing.T) {
		r, err := backup.Restore(e.ctx, e.m, res.Path, backup.RestoreOptions{NewSlug: "juan-demo", KeepMembers: true})
		if err != nil {
			t.Fatal(err)
		}
		cp := r.Organization.ID
		if code := services(e.token(ana, 0), cp); code != 200 {
			t.Errorf("ana on the kept copy = %d; want 200", code)
		}
		got := meOrgs(t)
		if len(got) != 2 || got[1] != cp {
			t.Errorf("/api/me organizations = %v; want the original and the copy %d", got, cp)
		}
	})
}
