package api

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/appcitas/appcitas/internal/auth"
	"github.com/appcitas/appcitas/internal/backup"
	"github.com/appcitas/appcitas/internal/billing"
	"github.com/appcitas/appcitas/internal/pgtest"
	"github.com/appcitas/appcitas/internal/tenancy"
)

// adminEnv is the API with a backup store and billing, and the guide's three tenants.
type adminEnv struct {
	*env
	backups           *backup.Store
	billing           *billing.Service
	juan, dental, spa tenancy.Organization
	root, ana         auth.User
	rootH, anaH       []string
}

// setupAdmin starts the API with a backup store and billing (without Wompi) and creates Barbería
// Juan (trial, a branch, a service, ana as admin and an agenda), Clínica Dental (trial, then
// suspended) and Spa Belleza (no subscription).
func setupAdmin(t *testing.T) *adminEnv {
	t.Helper()
	store := &backup.Store{Root: t.TempDir()}
	e := setup(t, func(c *Config) { c.Backups = store }, testServicesRoute)
	svc, err := billing.New(e.ctx, e.m, billing.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	e.s.cfg.Billing = svc
	e.rebuild()
	a := &adminEnv{env: e, backups: store, billing: svc}
	a.juan, a.dental, a.spa = e.createOrg("Barbería Juan"), e.createOrg("Clínica Dental"), e.createOrg("Spa Belleza")
	// Every organization gets a trial (public migration 0012); spa stands for one whose subscription
	// was deleted, and the others get theirs below as a signup does.
	if _, err := e.pool.Exec(e.ctx, `DELETE FROM public.billing_suscripcion WHERE organizacion_id = ANY($1)`,
		[]int64{a.juan.ID, a.dental.ID, a.spa.ID}); err != nil {
		t.Fatal(err)
	}
	for _, org := range []tenancy.Organization{a.juan, a.dental} {
		err := pgx.BeginFunc(e.ctx, e.pool, func(tx pgx.Tx) error {
			_, err := svc.CreateTrialTx(e.ctx, tx, billing.NewTrial{OrganizationID: org.ID, PlanCode: "basico"})
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if _, err := svc.Suspend(e.ctx, a.dental.ID, "test"); err != nil {
		t.Fatal(err)
	}
	a.root, a.ana = e.createUser("root", true), e.createUser("ana", false)
	e.addProfile(a.juan, a.ana, "admin", true)
	e.addService(a.juan, "Corte")
	a.seedAgenda(a.juan, a.ana)
	a.rootH, a.anaH = bearer(e.token(a.root, 0)), bearer(e.token(a.ana, 0))
	return a
}

// seedAgenda gives org a branch and appointments: one tomorrow (counted), one cancelled, one in the
// past and one in 40 days (not counted).
func (a *adminEnv) seedAgenda(org tenancy.Organization, staff auth.User) {
	a.t.Helper()
	tn, _ := org.Tenant()
	now := time.Now()
	err := a.m.Run(a.ctx, tn, func(tx pgx.Tx) error {
		var sede, serv, prof int64
		if err := tx.QueryRow(a.ctx, `INSERT INTO organizacion_sede (nombre, zona_horaria) VALUES ('Centro', 'America/Bogota') RETURNING id`).Scan(&sede); err != nil {
			return err
		}
		if err := tx.QueryRow(a.ctx, `SELECT id FROM citas_servicio ORDER BY id LIMIT 1`).Scan(&serv); err != nil {
			return err
		}
		if err := tx.QueryRow(a.ctx, `SELECT id FROM usuarios_perfilusuario WHERE user_id = $1`, staff.ID).Scan(&prof); err != nil {
			return err
		}
		for _, c := range []struct {
			in     time.Duration
			estado string
		}{{24 * time.Hour, "pendiente"}, {48 * time.Hour, "cancelada"}, {-24 * time.Hour, "completada"}, {40 * 24 * time.Hour, "confirmada"}} {
			start := now.Add(c.in)
			if _, err := tx.Exec(a.ctx, `INSERT INTO citas_cita (sede_id, servicio_id, profesional_id, cliente_nombre, inicio, fin,
					bloqueo_inicio, bloqueo_fin, estado, precio_centavos) VALUES ($1, $2, $3, 'Cliente', $4, $5, $4, $5, $6, 1000)`,
				sede, serv, prof, start, start.Add(30*time.Minute), c.estado); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		a.t.Fatal(err)
	}
}

// list gets a page of tenants as root.
func (a *adminEnv) list(t *testing.T, query string) adminTenantList {
	t.Helper()
	rec := a.do("GET", "/api/admin/tenants?"+query, nil, a.rootH...)
	if rec.Code != http.StatusOK {
		t.Fatalf("GET /api/admin/tenants?%s: %d %s", query, rec.Code, rec.Body.String())
	}
	var out adminTenantList
	if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil {
		t.Fatal(err)
	}
	return out
}

func ids(ts []adminTenant) []int64 {
	out := make([]int64, len(ts))
	for i, t := range ts {
		out[i] = t.ID
	}
	return out
}

func decodeAs[T any](t *testing.T, rec *httptest.ResponseRecorder, status int) T {
	t.Helper()
	var v T
	if rec.Code != status {
		t.Fatalf("status %d, want %d: %s", rec.Code, status, rec.Body.String())
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &v); err != nil {
		t.Fatalf("%v: %s", err, rec.Body.String())
	}
	return v
}

func TestAdminTenants(t *testing.T) {
	t.Parallel()
	a := setupAdmin(t)
	latest := a.m.TenantMigrations().Latest()
	juanPath := "/api/admin/tenants/" + strconv.FormatInt(a.juan.ID, 10)

	t.Run("EveryEndpointIsForSuperusersOnly", func(t *testing.T) {
		for _, c := range []struct {
			method, path string
			body         any
		}{
			{"GET", "/api/admin/tenants", nil},
			{"GET", juanPath, nil},
			{"POST", juanPath + "/deactivate", nil},
			{"POST", juanPath + "/activate", nil},
			{"POST", juanPath + "/backup", nil},
			{"POST", juanPath + "/extend_trial", map[string]int{"days": 7}},
		} {
			t.Run(c.method+" "+c.path, func(t *testing.T) {
				wantError(t, a.do(c.method, c.path, c.body), http.StatusUnauthorized, "missing_token")
				rec := a.do(c.method, c.path, c.body, a.anaH...)
				wantError(t, rec, http.StatusForbidden, "superuser_required")
				if rec.Header().Get("Cache-Control") != "no-store" {
					t.Errorf("Cache-Control = %q, want no-store", rec.Header().Get("Cache-Control"))
				}
			})
		}
		// Nothing changed: ana's organization is still active.
		if org, _ := a.m.Organization(a.ctx, a.juan.ID); !org.IsActive {
			t.Fatal("a refused deactivate deactivated the organization")
		}
	})

	t.Run("ADemotedSuperusersTokenNoLongerWorks", func(t *testing.T) {
		ex := a.createUser("exroot", true)
		h := bearer(a.token(ex, 0))
		if rec := a.do("GET", "/api/admin/tenants", nil, h...); rec.Code != http.StatusOK {
			t.Fatalf("before: %d %s", rec.Code, rec.Body.String())
		}
		if _, err := a.pool.Exec(a.ctx, `UPDATE public.auth_user SET is_superuser = false WHERE id = $1`, ex.ID); err != nil {
			t.Fatal(err)
		}
		wantError(t, a.do("GET", "/api/admin/tenants", nil, h...), http.StatusForbidden, "superuser_required")
		wantError(t, a.do("POST", juanPath+"/deactivate", nil, h...), http.StatusForbidden, "superuser_required")
	})

	t.Run("ListShowsEveryTenantWithItsState", func(t *testing.T) {
		rec := a.do("GET", "/api/admin/tenants", nil, a.rootH...)
		if rec.Header().Get("Cache-Control") != "no-store" {
			t.Errorf("Cache-Control = %q, want no-store", rec.Header().Get("Cache-Control"))
		}
		l := decodeAs[adminTenantList](t, rec, http.StatusOK)
		if !slices.Equal(ids(l.Tenants), []int64{a.juan.ID, a.dental.ID, a.spa.ID}) || l.Total != 3 || l.NextCursor != nil {
			t.Fatalf("list = %v total %d next %v", ids(l.Tenants), l.Total, l.NextCursor)
		}
		if l.LatestVersion != latest || !l.BackupsConfigured || !l.BillingConfigured || l.Limit != adminDefaultLimit {
			t.Fatalf("list header = %+v", l)
		}
		juan, dental, spa := l.Tenants[0], l.Tenants[1], l.Tenants[2]
		if juan.Nombre != "Barbería Juan" || juan.Slug != "barberia-juan" || juan.SchemaName != a.juan.SchemaName ||
			juan.DatabaseName != tenancy.DefaultServer || !juan.IsActive || juan.CreatedAt.IsZero() || juan.ZonaHoraria != "America/Bogota" {
			t.Errorf("juan = %+v", juan)
		}
		for _, x := range l.Tenants {
			if x.Migration != (adminMigration{Version: latest, Latest: latest, Behind: false, Recorded: true}) {
				t.Errorf("%s migration = %+v", x.Slug, x.Migration)
			}
			if x.SchemaExists == nil || !*x.SchemaExists {
				t.Errorf("%s schema_exists = %v", x.Slug, x.SchemaExists)
			}
			if x.Backup == nil || x.Backup.LastSuccess != nil || x.Backup.LastFailure != nil {
				t.Errorf("%s backup = %+v, want never backed up", x.Slug, x.Backup)
			}
		}
		if s := juan.Subscription; s == nil || s.Status != "trialing" || s.PlanCode != "basico" || s.PlanName == "" || s.TrialEndsAt == nil || s.PeriodEnd.IsZero() {
			t.Errorf("juan subscription = %+v", juan.Subscription)
		}
		if s := dental.Subscription; s == nil || s.Status != "suspended" {
			t.Errorf("dental subscription = %+v", dental.Subscription)
		}
		if spa.Subscription != nil {
			t.Errorf("spa subscription = %+v, want null", spa.Subscription)
		}
		if !strings.Contains(rec.Body.String(), `"subscription":null`) {
			t.Errorf("a missing subscription is not null in JSON: %s", rec.Body.String())
		}
	})

	t.Run("FiltersNarrowTheList", func(t *testing.T) {
		for _, c := range []struct {
			name, query string
			want        []int64
		}{
			{"NameSubstring", "q=dental", []int64{a.dental.ID}},
			{"CaseInsensitive", "q=BARBER", []int64{a.juan.ID}},
			{"AccentedName", "q=" + url.QueryEscape("Barbería"), []int64{a.juan.ID}},
			{"SlugSubstring", "q=spa-bel", []int64{a.spa.ID}},
			{"SchemaName", "q=" + a.spa.SchemaName, []int64{a.spa.ID}},
			{"ExactID", "q=" + strconv.FormatInt(a.dental.ID, 10), []int64{a.dental.ID}},
			{"WildcardsAreLiteral", "q=" + url.QueryEscape("%"), []int64{}},
			{"UnderscoreIsLiteral", "q=" + url.QueryEscape("Barbería_Juan"), []int64{}},
			{"SchemaNamePrefix", "q=tenant_clinica", []int64{a.dental.ID}},
			{"Active", "estado=active", []int64{a.juan.ID, a.dental.ID, a.spa.ID}},
			{"Inactive", "estado=inactive", []int64{}},
			{"SubscriptionStatus", "suscripcion=suspended", []int64{a.dental.ID}},
			{"InTrial", "suscripcion=trialing", []int64{a.juan.ID}},
			{"WithoutSubscription", "suscripcion=none", []int64{a.spa.ID}},
			{"Combined", "q=spa&suscripcion=trialing", []int64{}},
		} {
			t.Run(c.name, func(t *testing.T) {
				l := a.list(t, c.query)
				if got := ids(l.Tenants); !slices.Equal(got, c.want) || l.Total != int64(len(c.want)) {
					t.Fatalf("%s: got %v (total %d), want %v", c.query, got, l.Total, c.want)
				}
			})
		}
	})

	t.Run("PaginationWalksEveryTenantOnceInIDOrder", func(t *testing.T) {
		var seen []int64
		cursor := ""
		for page := 0; ; page++ {
			if page > 5 {
				t.Fatal("pagination does not end")
			}
			l := a.list(t, "limit=2"+cursor)
			if l.Total != 3 || l.Limit != 2 || len(l.Tenants) > 2 {
				t.Fatalf("page %d: %+v", page, l)
			}
			seen = append(seen, ids(l.Tenants)...)
			if l.NextCursor == nil {
				break
			}
			cursor = "&cursor=" + strconv.FormatInt(*l.NextCursor, 10)
		}
		if !slices.Equal(seen, []int64{a.juan.ID, a.dental.ID, a.spa.ID}) {
			t.Fatalf("pages gave %v", seen)
		}
		if l := a.list(t, "cursor="+strconv.FormatInt(a.spa.ID, 10)); len(l.Tenants) != 0 || l.NextCursor != nil || l.Total != 3 {
			t.Fatalf("past the end: %+v", l)
		}
	})

	t.Run("BadQueryParametersAre400", func(t *testing.T) {
		for _, q := range []string{"limit=0", "limit=201", "limit=abc", "limit=-5", "cursor=-1", "cursor=x", "cursor=1.5",
			"estado=maybe", "suscripcion=paid", "q=" + strings.Repeat("x", adminQueryMaxLen+1), "limit=1&limit=2", "q=%00"} {
			rec := a.do("GET", "/api/admin/tenants?"+q, nil, a.rootH...)
			wantError(t, rec, http.StatusBadRequest, "invalid_query_parameter")
		}
	})

	t.Run("DetailCountsTheTenantsOwnRows", func(t *testing.T) {
		d := decodeAs[adminTenantDetail](t, a.do("GET", juanPath, nil, a.rootH...), http.StatusOK)
		if d.ID != a.juan.ID || d.Nombre != "Barbería Juan" || d.Subscription == nil || d.Backup == nil || d.SchemaExists == nil || !*d.SchemaExists {
			t.Fatalf("detail = %+v", d)
		}
		want := adminTenantCounts{Branches: 1, Services: 1, Members: 1, AppointmentsNext30Days: 1}
		if d.Counts == nil || *d.Counts != want || d.CountsError != "" {
			t.Fatalf("counts = %+v (%q), want %+v", d.Counts, d.CountsError, want)
		}
		spa := decodeAs[adminTenantDetail](t, a.do("GET", "/api/admin/tenants/"+strconv.FormatInt(a.spa.ID, 10), nil, a.rootH...), http.StatusOK)
		if spa.Counts == nil || *spa.Counts != (adminTenantCounts{}) {
			t.Fatalf("spa counts = %+v", spa.Counts)
		}
	})

	t.Run("DetailOfUnknownOrMalformedID", func(t *testing.T) {
		wantError(t, a.do("GET", "/api/admin/tenants/987654", nil, a.rootH...), http.StatusNotFound, "organization_not_found")
		for _, id := range []string{"abc", "0", "-1", "+1", "1.0", "99999999999999999999"} {
			wantError(t, a.do("GET", "/api/admin/tenants/"+id, nil, a.rootH...), http.StatusBadRequest, "invalid_id")
		}
	})

	t.Run("DeactivateShutsTheTenantOutAndActivateLetsItBackIn", func(t *testing.T) {
		anaJuan := append(append([]string{}, a.anaH...), "X-Organization-ID", strconv.FormatInt(a.juan.ID, 10))
		if rec := a.do("GET", "/api/test/servicios", nil, anaJuan...); rec.Code != http.StatusOK {
			t.Fatalf("before: %d %s", rec.Code, rec.Body.String())
		}
		got := decodeAs[adminTenant](t, a.do("POST", juanPath+"/deactivate", nil, a.rootH...), http.StatusOK)
		if got.ID != a.juan.ID || got.IsActive {
			t.Fatalf("deactivate answered %+v", got)
		}
		wantError(t, a.do("GET", "/api/test/servicios", nil, anaJuan...), http.StatusForbidden, "organization_inactive")
		if l := a.list(t, "estado=inactive"); !slices.Equal(ids(l.Tenants), []int64{a.juan.ID}) {
			t.Fatalf("inactive filter: %v", ids(l.Tenants))
		}
		// Deactivating again is harmless; the row still answers as inactive.
		if again := decodeAs[adminTenant](t, a.do("POST", juanPath+"/deactivate", "{}", a.rootH...), http.StatusOK); again.IsActive {
			t.Fatal("second deactivate activated")
		}
		if l := a.list(t, ""); l.Total != 3 || l.Tenants[0].IsActive {
			t.Fatalf("the list does not show juan inactive: %+v", l.Tenants[0])
		}
		got = decodeAs[adminTenant](t, a.do("POST", juanPath+"/activate", nil, a.rootH...), http.StatusOK)
		if !got.IsActive {
			t.Fatalf("activate answered %+v", got)
		}
		if rec := a.do("GET", "/api/test/servicios", nil, anaJuan...); rec.Code != http.StatusOK {
			t.Fatalf("after activate: %d %s", rec.Code, rec.Body.String())
		}
		if !strings.Contains(a.logs.String(), `"action":"deactivate"`) {
			t.Error("the deactivation is not in the log")
		}
	})

	t.Run("ActionsRefuseBadInputWithJSONErrors", func(t *testing.T) {
		spaPath := "/api/admin/tenants/" + strconv.FormatInt(a.spa.ID, 10)
		for _, c := range []struct {
			name, method, path string
			body               any
			contentType        string
			status             int
			code               string
		}{
			{"DeactivateUnknownID", "POST", "/api/admin/tenants/987654/deactivate", nil, "", 404, "organization_not_found"},
			{"ActivateUnknownID", "POST", "/api/admin/tenants/987654/activate", nil, "", 404, "organization_not_found"},
			{"BackupUnknownID", "POST", "/api/admin/tenants/987654/backup", nil, "", 404, "organization_not_found"},
			{"ExtendTrialUnknownID", "POST", "/api/admin/tenants/987654/extend_trial", map[string]int{"days": 3}, "", 404, "organization_not_found"},
			{"DeactivateMalformedID", "POST", "/api/admin/tenants/abc/deactivate", nil, "", 400, "invalid_id"},
			{"DeactivateUnknownField", "POST", juanPath + "/deactivate", `{"confirm":true}`, "", 400, "unknown_field"},
			{"DeactivateNotJSON", "POST", juanPath + "/deactivate", "yes please", "", 400, "invalid_json"},
			{"DeactivateTwoValues", "POST", juanPath + "/deactivate", "{} {}", "", 400, "invalid_json"},
			{"DeactivateTextBody", "POST", juanPath + "/deactivate", "x", "text/plain", 415, "unsupported_media_type"},
			{"BackupUnknownField", "POST", juanPath + "/backup", `{"out":"/etc/passwd"}`, "", 400, "unknown_field"},
			{"ExtendTrialNoBody", "POST", juanPath + "/extend_trial", nil, "", 400, "invalid_json"},
			{"ExtendTrialZeroDays", "POST", juanPath + "/extend_trial", `{"days":0}`, "", 400, "invalid_input"},
			{"ExtendTrialNegativeDays", "POST", juanPath + "/extend_trial", `{"days":-3}`, "", 400, "invalid_input"},
			{"ExtendTrialTooManyDays", "POST", juanPath + "/extend_trial", `{"days":366}`, "", 400, "invalid_input"},
			{"ExtendTrialDaysAsString", "POST", juanPath + "/extend_trial", `{"days":"7"}`, "", 400, "invalid_field"},
			{"ExtendTrialHugeDays", "POST", juanPath + "/extend_trial", `{"days":1e30}`, "", 400, "invalid_field"},
			{"ExtendTrialUnknownField", "POST", juanPath + "/extend_trial", `{"days":7,"reason":"x"}`, "", 400, "unknown_field"},
			{"ExtendTrialArray", "POST", juanPath + "/extend_trial", `[7]`, "", 400, "invalid_json"},
			{"ExtendTrialTextBody", "POST", juanPath + "/extend_trial", `days=7`, "text/plain", 415, "unsupported_media_type"},
			{"ExtendTrialWithoutSubscription", "POST", spaPath + "/extend_trial", `{"days":7}`, "", 409, "no_subscription"},
			{"WrongMethod", "GET", juanPath + "/deactivate", nil, "", 405, "method_not_allowed"},
		} {
			t.Run(c.name, func(t *testing.T) {
				var rec *httptest.ResponseRecorder
				if c.contentType == "" {
					rec = a.do(c.method, c.path, c.body, a.rootH...)
				} else {
					req := httptest.NewRequest(c.method, c.path, strings.NewReader(c.body.(string)))
					req.Header.Set("Content-Type", c.contentType)
					req.Header.Set("Authorization", a.rootH[1])
					rec = serve(a.env, req)
				}
				wantError(t, rec, c.status, c.code)
			})
		}
		if org, _ := a.m.Organization(a.ctx, a.juan.ID); !org.IsActive {
			t.Fatal("a refused deactivate deactivated the organization")
		}
	})

	t.Run("ExtendTrialMovesTheTrialEnd", func(t *testing.T) {
		before, err := a.billing.Subscription(a.ctx, a.juan.ID)
		if err != nil {
			t.Fatal(err)
		}
		got := decodeAs[adminTenant](t, a.do("POST", juanPath+"/extend_trial", map[string]int{"days": 7}, a.rootH...), http.StatusOK)
		if got.Subscription == nil || got.Subscription.TrialEndsAt == nil || got.Subscription.Status != "trialing" {
			t.Fatalf("answer = %+v", got.Subscription)
		}
		if want := before.TrialEndsAt.AddDate(0, 0, 7); !got.Subscription.TrialEndsAt.Equal(want) {
			t.Fatalf("trial ends %s, want %s", got.Subscription.TrialEndsAt, want)
		}
		hist, err := a.billing.History(a.ctx, a.juan.ID)
		if err != nil || len(hist) == 0 || !strings.Contains(hist[len(hist)-1].Cause, "admin dashboard") || !strings.Contains(hist[len(hist)-1].Cause, "root") {
			t.Fatalf("history = %+v %v", hist, err)
		}
		// A suspended trial is given its trial back.
		dentalPath := "/api/admin/tenants/" + strconv.FormatInt(a.dental.ID, 10)
		if d := decodeAs[adminTenant](t, a.do("POST", dentalPath+"/extend_trial", `{"days":3}`, a.rootH...), http.StatusOK); d.Subscription.Status != "trialing" {
			t.Fatalf("dental after extend_trial: %+v", d.Subscription)
		}
	})

	t.Run("ExtendTrialOfAPaidSubscriptionIsAConflict", func(t *testing.T) {
		// Dental is back in trial: suspend it and reactivate it as paid.
		if _, err := a.billing.Suspend(a.ctx, a.dental.ID, "test"); err != nil {
			t.Fatal(err)
		}
		if sub, err := a.billing.Reactivate(a.ctx, a.dental.ID, "test"); err != nil || sub.Status != billing.Active {
			t.Fatalf("reactivate: %+v %v", sub, err)
		}
		dentalPath := "/api/admin/tenants/" + strconv.FormatInt(a.dental.ID, 10)
		wantError(t, a.do("POST", dentalPath+"/extend_trial", `{"days":3}`, a.rootH...), http.StatusConflict, "not_in_trial")
	})

	t.Run("BackupWritesAVerifiedArchiveThatTheListShows", func(t *testing.T) {
		got := decodeAs[adminBackupResponse](t, a.do("POST", juanPath+"/backup", nil, a.rootH...), http.StatusCreated)
		if got.OrganizationID != a.juan.ID || !strings.HasSuffix(got.Name, backup.Extension) || got.SizeBytes <= 0 ||
			got.Tables < 4 || got.Rows < 7 || got.MigrationVersion != latest || got.TakenAt.IsZero() {
			t.Fatalf("backup = %+v", got)
		}
		if want := filepath.Join(a.backups.Root, a.juan.SchemaName, got.Name); got.Path != want {
			t.Fatalf("path = %s, want %s", got.Path, want)
		}
		st, err := os.Stat(got.Path)
		if err != nil || st.Size() != got.SizeBytes {
			t.Fatalf("archive on disk: %v %v", st, err)
		}
		if man, err := backup.VerifyFile(got.Path); err != nil || man.Organization.ID != a.juan.ID {
			t.Fatalf("verify: %+v %v", man.Organization, err)
		}
		l := a.list(t, "")
		if b := l.Tenants[0].Backup; b == nil || b.LastSuccess == nil || b.LastFailure != nil {
			t.Fatalf("juan's backup state = %+v", b)
		}
		if b := l.Tenants[1].Backup; b == nil || b.LastSuccess != nil {
			t.Fatalf("dental's backup state = %+v", b)
		}
	})

	t.Run("ASecondBackupWhileOneRunsIsAConflict", func(t *testing.T) {
		// The first backup stops at citas_cita, locked here, while holding the tenant's backup lock.
		blocked, release := pgtest.BlockTable(t, a.pool.Config().ConnString(), a.juan.SchemaName, "citas_cita")
		first := make(chan *httptest.ResponseRecorder, 1)
		go func() { first <- a.do("POST", juanPath+"/backup", nil, a.rootH...) }()
		blocked()
		// Without the lock the second backup would wait at citas_cita too: bound it.
		second := make(chan *httptest.ResponseRecorder, 1)
		go func() { second <- a.do("POST", juanPath+"/backup", nil, a.rootH...) }()
		select {
		case rec := <-second:
			wantError(t, rec, http.StatusConflict, "backup_in_progress")
		case <-time.After(10 * time.Second):
			release()
			t.Fatalf("a second backup of the tenant was not refused while the first ran (it waited)")
		}
		release()
		if rec := <-first; rec.Code != http.StatusCreated {
			t.Fatalf("first backup: %d %s", rec.Code, rec.Body)
		}
		if b := a.list(t, "").Tenants[0].Backup; b == nil || b.LastFailure != nil {
			t.Fatalf("a refused backup is not a failure: %+v", b)
		}
	})
}

func TestAdminTenantsWithoutSchema(t *testing.T) {
	t.Parallel()
	store := &backup.Store{Root: t.TempDir()}
	e := setup(t, func(c *Config) { c.Backups = store })
	root := e.createUser("root", true)
	h := bearer(e.token(root, 0))
	gone := e.createOrg("Sin Schema")
	tn, _ := gone.Tenant()
	if err := e.m.DropSchema(e.ctx, tn); err != nil {
		t.Fatal(err)
	}
	var unnamed int64
	if err := e.pool.QueryRow(e.ctx, `INSERT INTO public.organizacion_organizacion (nombre, slug) VALUES ('Sin Nombre', 'sin-nombre') RETURNING id`).Scan(&unnamed); err != nil {
		t.Fatal(err)
	}
	path := func(id int64) string { return "/api/admin/tenants/" + strconv.FormatInt(id, 10) }

	t.Run("ListFlagsAMissingSchema", func(t *testing.T) {
		l := decodeAs[adminTenantList](t, e.do("GET", "/api/admin/tenants", nil, h...), http.StatusOK)
		if len(l.Tenants) != 2 {
			t.Fatalf("tenants = %+v", l.Tenants)
		}
		g, u := l.Tenants[0], l.Tenants[1]
		if g.SchemaExists == nil || *g.SchemaExists || g.Migration.Recorded || g.Migration.Version != 0 || !g.Migration.Behind {
			t.Errorf("dropped schema: exists %v, migration %+v", g.SchemaExists, g.Migration)
		}
		if u.SchemaName != "" || u.SchemaExists != nil || u.Migration.Behind || u.Backup == nil || u.Backup.LastSuccess != nil {
			t.Errorf("unnamed: %+v", u)
		}
	})

	t.Run("DetailSaysWhyItCannotCount", func(t *testing.T) {
		for _, id := range []int64{gone.ID, unnamed} {
			d := decodeAs[adminTenantDetail](t, e.do("GET", path(id), nil, h...), http.StatusOK)
			if d.Counts != nil || d.CountsError == "" {
				t.Errorf("organization %d: counts %+v, error %q", id, d.Counts, d.CountsError)
			}
		}
	})

	t.Run("BackupOfAMissingSchemaIsAConflict", func(t *testing.T) {
		wantError(t, e.do("POST", path(gone.ID)+"/backup", nil, h...), http.StatusConflict, "schema_missing")
		wantError(t, e.do("POST", path(unnamed)+"/backup", nil, h...), http.StatusConflict, "no_schema_name")
		l := decodeAs[adminTenantList](t, e.do("GET", "/api/admin/tenants", nil, h...), http.StatusOK)
		if b := l.Tenants[0].Backup; b == nil || b.LastFailure == nil || !strings.Contains(b.FailureMessage, "does not exist") {
			t.Fatalf("the failed backup shows as the tenant's last failure: %+v", b)
		}
	})

	t.Run("WithoutBillingExtendTrialIs501", func(t *testing.T) {
		wantError(t, e.do("POST", path(gone.ID)+"/extend_trial", `{"days":7}`, h...), http.StatusNotImplemented, "billing_not_configured")
		// Input is still checked first.
		wantError(t, e.do("POST", path(gone.ID)+"/extend_trial", `{"days":0}`, h...), http.StatusBadRequest, "invalid_input")
	})
}

func TestAdminTenantsWithoutBackupStore(t *testing.T) {
	t.Parallel()
	e := setup(t, nil)
	root := e.createUser("root", true)
	h := bearer(e.token(root, 0))
	org := e.createOrg("Barbería Juan")
	l := decodeAs[adminTenantList](t, e.do("GET", "/api/admin/tenants", nil, h...), http.StatusOK)
	if l.BackupsConfigured || l.BillingConfigured || len(l.Tenants) != 1 || l.Tenants[0].Backup != nil {
		t.Fatalf("list = %+v", l)
	}
	wantError(t, e.do("POST", fmt.Sprintf("/api/admin/tenants/%d/backup", org.ID), nil, h...), http.StatusNotImplemented, "backups_not_configured")
	wantError(t, e.do("POST", fmt.Sprintf("/api/admin/tenants/%d/extend_trial", org.ID), `{"days":7}`, h...), http.StatusNotImplemented, "billing_not_configured")
}

// TestAdminTenantsAtTenThousand lists a catalog of 10,000 organizations page by page: every one is
// seen once, in id order, and a page costs the same whatever the fleet's size (the count and the
// page are one round trip; schema presence is one query per server of the page; backup state is
// read for the page's tenants only).
func TestAdminTenantsAtTenThousand(t *testing.T) {
	t.Parallel()
	store := &backup.Store{Root: t.TempDir()}
	e := setup(t, func(c *Config) { c.Backups = store })
	root := e.createUser("root", true)
	h := bearer(e.token(root, 0))
	const n = 10_000
	// Catalog rows only (no schemas): what is measured is the listing, not provisioning.
	if _, err := e.pool.Exec(e.ctx, `INSERT INTO public.organizacion_organizacion (nombre, slug, schema_name)
		SELECT 'Negocio ' || i, 'negocio-' || i, 'tenant_negocio_' || i FROM generate_series(1, $1) i`, n); err != nil {
		t.Fatal(err)
	}
	var seen []int64
	cursor := ""
	start := time.Now()
	var slowest time.Duration
	for pages := 0; ; pages++ {
		if pages > n/adminMaxLimit+1 {
			t.Fatal("pagination does not end")
		}
		t0 := time.Now()
		l := decodeAs[adminTenantList](t, e.do("GET", "/api/admin/tenants?limit=200"+cursor, nil, h...), http.StatusOK)
		slowest = max(slowest, time.Since(t0))
		if l.Total != n {
			t.Fatalf("total = %d", l.Total)
		}
		for _, x := range l.Tenants {
			if x.SchemaExists == nil || *x.SchemaExists || x.Backup == nil {
				t.Fatalf("%+v", x)
			}
		}
		seen = append(seen, ids(l.Tenants)...)
		if l.NextCursor == nil {
			break
		}
		cursor = "&cursor=" + strconv.FormatInt(*l.NextCursor, 10)
	}
	if len(seen) != n {
		t.Fatalf("saw %d organizations, want %d", len(seen), n)
	}
	for i := 1; i < n; i++ {
		if seen[i] <= seen[i-1] {
			t.Fatalf("page order broken at %d: %d after %d", i, seen[i], seen[i-1])
		}
	}
	t.Logf("%d organizations in %d pages of 200: %s in all, slowest page %s", n, (n+199)/200, time.Since(start).Round(time.Millisecond), slowest.Round(time.Millisecond))
	// Filtering a name out of 10,000 is one query too.
	l := decodeAs[adminTenantList](t, e.do("GET", "/api/admin/tenants?q=negocio-9999", nil, h...), http.StatusOK)
	if l.Total != 1 || len(l.Tenants) != 1 || l.Tenants[0].Slug != "negocio-9999" {
		t.Fatalf("q=negocio-9999: %+v", l)
	}
}
