package api

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
)

func TestAdminQuery(t *testing.T) {
	t.Parallel()
	e := setup(t, nil)
	barberia, spa := e.createOrg("Barbería Admin"), e.createOrg("Spa Admin")
	e.addService(barberia, "Corte")
	e.addService(spa, "Masaje")
	e.addService(spa, "Facial")
	root := e.createUser("root_admin", true)
	plain := e.createUser("plain_admin", false)
	e.addProfile(barberia, plain, "admin", true)
	auth := func(u string) []string { return []string{"Authorization", "Bearer " + u} }
	rootTok, plainTok := e.token(root, 0), e.token(plain, 0)

	t.Run("SuperuserGetsRowsOfEveryTenant", func(t *testing.T) {
		rec := e.do("POST", "/api/admin/query", map[string]any{"sql": "SELECT nombre FROM citas_servicio ORDER BY nombre", "format": "csv"}, auth(rootTok)...)
		if rec.Code != http.StatusOK {
			t.Fatalf("status %d: %s", rec.Code, rec.Body)
		}
		body := rec.Body.String()
		for _, want := range []string{"organization_id,organization_name,nombre", "Barbería Admin,Corte", "Spa Admin,Facial", "Spa Admin,Masaje"} {
			if !strings.Contains(body, want) {
				t.Errorf("body lacks %q:\n%s", want, body)
			}
		}
		if got := rec.Header().Get("X-Rows"); got != "3" {
			t.Errorf("X-Rows = %q, want 3", got)
		}
	})
	t.Run("MaxRowsTruncates", func(t *testing.T) {
		rec := e.do("POST", "/api/admin/query", map[string]any{"sql": "SELECT nombre FROM citas_servicio", "max_rows": 1}, auth(rootTok)...)
		if rec.Code != http.StatusOK || rec.Header().Get("X-Truncated") != "true" || strings.Count(rec.Body.String(), "\n") != 1 {
			t.Fatalf("status %d, truncated %q, body %q", rec.Code, rec.Header().Get("X-Truncated"), rec.Body)
		}
	})
	t.Run("NonSuperuserIsRefused", func(t *testing.T) {
		wantError(t, e.do("POST", "/api/admin/query", map[string]any{"sql": "SELECT 1"}, auth(plainTok)...), http.StatusForbidden, "superuser_required")
	})
	t.Run("WriteStatementIsRefused", func(t *testing.T) {
		wantError(t, e.do("POST", "/api/admin/query", map[string]any{"sql": "DELETE FROM citas_servicio"}, auth(rootTok)...), http.StatusBadRequest, "not_read_only")
		rec := e.do("POST", "/api/admin/query", map[string]any{"sql": "SELECT count(*) FROM citas_servicio"}, auth(rootTok)...)
		if !strings.Contains(rec.Body.String(), `"count":1`) {
			t.Errorf("rows were changed by a refused write: %s", rec.Body)
		}
	})
	t.Run("CommitSmugglingIsRefusedAndChangesNothing", func(t *testing.T) {
		for _, sql := range []string{
			`SELECT $$'$$ AS a; COMMIT; CREATE TABLE public.x (i int); SELECT '' AS b`,
			`SELECT E'\'' AS a; COMMIT; UPDATE public.auth_user SET is_superuser = true; SELECT '' AS b`,
			`SELECT $$/*$$ AS a; COMMIT; DELETE FROM citas_servicio; SELECT $$*/$$ AS b`,
		} {
			wantError(t, e.do("POST", "/api/admin/query", map[string]any{"sql": sql}, auth(rootTok)...), http.StatusBadRequest, "not_read_only")
		}
		var created bool
		var superusers, services int
		if err := e.pool.QueryRow(e.ctx, `SELECT to_regclass('public.x') IS NOT NULL, (SELECT count(*) FROM public.auth_user WHERE is_superuser)`).Scan(&created, &superusers); err != nil {
			t.Fatal(err)
		}
		rec := e.do("POST", "/api/admin/query", map[string]any{"sql": "SELECT count(*) AS n FROM citas_servicio", "format": "csv"}, auth(rootTok)...)
		for _, line := range strings.Split(strings.TrimSpace(rec.Body.String()), "\n")[1:] {
			var n int
			fmt.Sscanf(line[strings.LastIndex(line, ",")+1:], "%d", &n)
			services += n
		}
		if created || superusers != 1 || services != 3 {
			t.Errorf("table created %v, superusers %d (want 1), services %d (want 3)", created, superusers, services)
		}
	})
	t.Run("QuotedSetConfigAndQueryToXMLAreRefused", func(t *testing.T) {
		rec := e.do("POST", "/api/admin/query", map[string]any{"sql": `SELECT "set_config"('role','postgres',true), query_to_xml('SELECT username, password FROM public.auth_user', true, false, '')`}, auth(rootTok)...)
		wantError(t, rec, http.StatusBadRequest, "not_read_only")
		if strings.Contains(rec.Body.String(), "argon2") {
			t.Errorf("password hashes in the answer: %s", rec.Body)
		}
	})
	t.Run("SyntaxErrorIs400WithItsPosition", func(t *testing.T) {
		body := wantError(t, e.do("POST", "/api/admin/query", map[string]any{"sql": "SELECT nombre FROM citas_servicio WHERE"}, auth(rootTok)...), http.StatusBadRequest, "syntax_error")
		if !strings.Contains(body.Message, "position 40") {
			t.Errorf("message %q lacks the position", body.Message)
		}
	})
	t.Run("BadOptionsAre400", func(t *testing.T) {
		for _, body := range []map[string]any{
			{"sql": "SELECT 1", "format": "xml"},
			{"sql": "SELECT 1", "max_rows": -1},
			{"sql": "SELECT 1", "timeout_seconds": 9999},
			{"sql": ""},
		} {
			if rec := e.do("POST", "/api/admin/query", body, auth(rootTok)...); rec.Code != http.StatusBadRequest {
				t.Errorf("%v: status %d, want 400: %s", body, rec.Code, rec.Body)
			}
		}
	})
	t.Run("NoTokenIs401", func(t *testing.T) {
		wantError(t, e.do("POST", "/api/admin/query", map[string]any{"sql": "SELECT 1"}), http.StatusUnauthorized, "missing_token")
	})
}
