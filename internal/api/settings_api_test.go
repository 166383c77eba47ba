package api

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/appcitas/appcitas/internal/auth"
	"github.com/appcitas/appcitas/internal/billing"
	"github.com/appcitas/appcitas/internal/mail/mailtest"
	"github.com/appcitas/appcitas/internal/tenancy"
)

// smtpMailer is the real SMTP mailer, sending to the test's server.
func smtpMailer(t testing.TB, s *mailtest.Server) billing.Mailer {
	t.Helper()
	m, err := billing.NewSMTPMailer(billing.SMTPConfig{Addr: s.Addr(), From: "appcitas <no-reply@appcitas.test>"})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

var inviteLink = regexp.MustCompile(`(https?://\S+/app)#/invitacion/([A-Za-z0-9_-]{43})`)

// lastToken returns the link and the token of the newest invitation e-mail s received for addr.
func lastToken(t testing.TB, s *mailtest.Server, addr string) (link, token string) {
	t.Helper()
	msgs := s.Messages()
	for i := len(msgs) - 1; i >= 0; i-- {
		if strings.Contains(msgs[i], "To: "+addr+"\r\n") {
			m := inviteLink.FindStringSubmatch(msgs[i])
			if m == nil {
				t.Fatalf("no link in %q", msgs[i])
			}
			return m[0], m[2]
		}
	}
	t.Fatalf("no e-mail to %s in %q", addr, msgs)
	return "", ""
}

type settingsEnv struct {
	*env
	sink  *mailtest.Server
	org   tenancy.Organization
	admin auth.User
	recep auth.User
}

func setupSettings(t *testing.T) *settingsEnv {
	t.Helper()
	sink := mailtest.NewServer(t)
	e := setup(t, func(c *Config) { c.Mailer = smtpMailer(t, sink); c.PublicURL = "https://citas.example.com" })
	org := e.createOrg("Barbería Norte")
	admin := e.createUser("ana", false)
	recep := e.createUser("rita", false)
	e.addProfile(org, admin, "admin", true)
	e.addProfile(org, recep, "receptionist", true)
	return &settingsEnv{env: e, sink: sink, org: org, admin: admin, recep: recep}
}

func (se *settingsEnv) as(u auth.User) []string {
	return append(bearer(se.token(u, 0)), "X-Organization-ID", itoa(se.org.ID))
}

func decode[T any](t testing.TB, body []byte) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(body, &v); err != nil {
		t.Fatalf("%v: %s", err, body)
	}
	return v
}

func TestOrganizationSettings(t *testing.T) {
	t.Parallel()
	se := setupSettings(t)

	t.Run("RefusesNonAdmins", func(t *testing.T) {
		wantError(t, se.do("GET", "/api/organizacion", nil, se.as(se.recep)...), http.StatusForbidden, "forbidden")
		wantError(t, se.do("PATCH", "/api/organizacion", map[string]any{"nombre": "X"}, se.as(se.recep)...), http.StatusForbidden, "forbidden")
	})
	t.Run("RejectsBadInput", func(t *testing.T) {
		e := wantError(t, se.do("PATCH", "/api/organizacion", map[string]any{"nombre": "  "}, se.as(se.admin)...), http.StatusBadRequest, "invalid_input")
		if e.Field != "nombre" {
			t.Fatalf("field = %q", e.Field)
		}
		e = wantError(t, se.do("PATCH", "/api/organizacion", map[string]any{"zona_horaria": "Mars/Olympus"}, se.as(se.admin)...), http.StatusBadRequest, "invalid_input")
		if e.Field != "zona_horaria" {
			t.Fatalf("field = %q", e.Field)
		}
		wantError(t, se.do("PATCH", "/api/organizacion", `{"nombre": 7}`, se.as(se.admin)...), http.StatusBadRequest, "invalid_field")
	})
	t.Run("RenamesAndChangesTheTimeZone", func(t *testing.T) {
		rec := se.do("PATCH", "/api/organizacion", map[string]any{"nombre": "Barbería Sur", "zona_horaria": "America/Santiago"}, se.as(se.admin)...)
		if rec.Code != http.StatusOK {
			t.Fatalf("%d %s", rec.Code, rec.Body.String())
		}
		rec = se.do("GET", "/api/organizacion", nil, se.as(se.admin)...)
		got := decode[organizationBody](t, rec.Body.Bytes())
		if got.Name != "Barbería Sur" || got.TimeZone != "America/Santiago" || got.ID != se.org.ID {
			t.Fatalf("organization = %+v", got)
		}
	})
	t.Run("RenameReachesAnotherProcessThroughNotify", func(t *testing.T) {
		// A second server on the same database stands for another process: its cache holds the
		// organization until the catalog trigger's NOTIFY evicts it.
		other, err := newServer(se.ctx, se.m, slog.New(slog.DiscardHandler), Config{JWTSecret: testSecret, PasswordHash: cheapHash})
		if err != nil {
			t.Fatal(err)
		}
		waitWatching(t, other.orgs)
		h := other.handler()
		get := func() organizationBody {
			req := newRequest("GET", "/api/organizacion", se.as(se.admin)...)
			rec := serveWith(h, req)
			if rec.Code != http.StatusOK {
				t.Fatalf("%d %s", rec.Code, rec.Body.String())
			}
			return decode[organizationBody](t, rec.Body.Bytes())
		}
		get() // cached now
		if rec := se.do("PATCH", "/api/organizacion", map[string]any{"nombre": "Barbería Centro"}, se.as(se.admin)...); rec.Code != http.StatusOK {
			t.Fatalf("%d %s", rec.Code, rec.Body.String())
		}
		deadline := time.Now().Add(3 * time.Second)
		for get().Name != "Barbería Centro" {
			if time.Now().After(deadline) {
				t.Fatal("the other process still serves the old name")
			}
			time.Sleep(20 * time.Millisecond)
		}
	})
}

func TestInvitations(t *testing.T) {
	t.Parallel()
	se := setupSettings(t)

	t.Run("RefusesNonAdmins", func(t *testing.T) {
		wantError(t, se.do("POST", "/api/invitaciones", map[string]any{"email": "x@example.com", "role": "staff"}, se.as(se.recep)...), http.StatusForbidden, "forbidden")
		wantError(t, se.do("GET", "/api/invitaciones", nil, se.as(se.recep)...), http.StatusForbidden, "forbidden")
		wantError(t, se.do("DELETE", "/api/invitaciones/1", nil, se.as(se.recep)...), http.StatusForbidden, "forbidden")
	})
	t.Run("RejectsBadInput", func(t *testing.T) {
		wantError(t, se.do("POST", "/api/invitaciones", map[string]any{"email": "not-an-address", "role": "staff"}, se.as(se.admin)...), http.StatusBadRequest, "invalid_input")
		wantError(t, se.do("POST", "/api/invitaciones", map[string]any{"email": "a@example.com", "role": "owner"}, se.as(se.admin)...), http.StatusBadRequest, "invalid_input")
		wantError(t, se.do("POST", "/api/invitaciones", map[string]any{"email": "a@example.com\r\nBcc: b@example.com", "role": "staff"}, se.as(se.admin)...), http.StatusBadRequest, "invalid_input")
		wantError(t, se.do("DELETE", "/api/invitaciones/abc", nil, se.as(se.admin)...), http.StatusBadRequest, "invalid_input")
		wantError(t, se.do("DELETE", "/api/invitaciones/999999", nil, se.as(se.admin)...), http.StatusNotFound, "invitation_not_found")
		wantError(t, se.do("POST", "/api/invitaciones/consultar", map[string]any{"token": "nope"}), http.StatusNotFound, "invitation_not_found")
		wantError(t, se.do("POST", "/api/invitaciones/aceptar", map[string]any{"token": strings.Repeat("a", 43), "username": "bad name", "password": "long-enough-1"}), http.StatusBadRequest, "invalid_input")
		wantError(t, se.do("POST", "/api/invitaciones/aceptar", map[string]any{"token": strings.Repeat("a", 43), "username": "nuevo", "password": "short"}), http.StatusBadRequest, "invalid_input")
	})
	t.Run("NewUserAcceptsByEmailAndJoinsWithTheRole", func(t *testing.T) {
		rec := se.do("POST", "/api/invitaciones", map[string]any{"email": "pablo@example.com", "role": "staff", "nombre_visible": "Pablo"}, se.as(se.admin)...)
		if rec.Code != http.StatusCreated {
			t.Fatalf("%d %s", rec.Code, rec.Body.String())
		}
		link, token := lastToken(t, se.sink, "pablo@example.com")
		if !strings.HasPrefix(link, "https://citas.example.com/app#/invitacion/") {
			t.Fatalf("link = %q", link)
		}
		var stored int
		if err := se.pool.QueryRow(se.ctx, `SELECT count(*) FROM public.usuarios_invitacion WHERE token_hash = sha256($1::bytea)`, []byte(token)).Scan(&stored); err != nil || stored != 1 {
			t.Fatalf("hash rows = %d, %v", stored, err)
		}
		var plain int
		if err := se.pool.QueryRow(se.ctx, `SELECT count(*) FROM public.usuarios_invitacion WHERE position($1::bytea in token_hash) > 0`, []byte(token)).Scan(&plain); err != nil || plain != 0 {
			t.Fatalf("the token itself is stored: %d, %v", plain, err)
		}
		list := decode[listOf[map[string]any]](t, se.do("GET", "/api/invitaciones", nil, se.as(se.admin)...).Body.Bytes())
		if len(list.Items) != 1 || list.Items[0]["email"] != "pablo@example.com" {
			t.Fatalf("pending = %+v", list)
		}
		info := decode[invitationInfo](t, se.do("POST", "/api/invitaciones/consultar", map[string]any{"token": token}).Body.Bytes())
		if info.Role != "staff" || info.Email != "pablo@example.com" || info.Organization == "" {
			t.Fatalf("info = %+v", info)
		}
		rec = se.do("POST", "/api/invitaciones/aceptar", map[string]any{"token": token, "username": "pablo", "password": "tijeras-2026"})
		if rec.Code != http.StatusOK {
			t.Fatalf("%d %s", rec.Code, rec.Body.String())
		}
		acc := decode[acceptResponse](t, rec.Body.Bytes())
		if acc.OrganizationID != se.org.ID || acc.Role != "staff" || acc.Username != "pablo" {
			t.Fatalf("accept = %+v", acc)
		}
		// The new user signs in and finds the organization with the role.
		rec = se.do("POST", "/api/auth/token", map[string]any{"username": "pablo", "password": "tijeras-2026"})
		if rec.Code != http.StatusOK {
			t.Fatalf("login %d %s", rec.Code, rec.Body.String())
		}
		tok := decode[tokenResponse](t, rec.Body.Bytes())
		me := decode[meResponse](t, se.do("GET", "/api/me", nil, bearer(tok.AccessToken)...).Body.Bytes())
		if len(me.Organizations) != 1 || me.Organizations[0].ID != se.org.ID || me.Organizations[0].Role != "staff" {
			t.Fatalf("me = %+v", me)
		}
		members := decode[listOf[map[string]any]](t, se.do("GET", "/api/miembros", nil, se.as(se.admin)...).Body.Bytes())
		found := false
		for _, m := range members.Items {
			found = found || (m["nombre_visible"] == "Pablo" && m["role"] == "staff")
		}
		if !found {
			t.Fatalf("members = %+v", members)
		}
		// The link works once.
		wantError(t, se.do("POST", "/api/invitaciones/aceptar", map[string]any{"token": token, "username": "pablo2", "password": "tijeras-2026"}), http.StatusNotFound, "invitation_not_found")
		list = decode[listOf[map[string]any]](t, se.do("GET", "/api/invitaciones", nil, se.as(se.admin)...).Body.Bytes())
		if len(list.Items) != 0 {
			t.Fatalf("pending after accept = %+v", list)
		}
	})
	t.Run("ExistingUserAcceptsSignedIn", func(t *testing.T) {
		u := se.createUser("carla", false)
		if rec := se.do("POST", "/api/invitaciones", map[string]any{"email": "carla@example.com", "role": "receptionist"}, se.as(se.admin)...); rec.Code != http.StatusCreated {
			t.Fatalf("%d %s", rec.Code, rec.Body.String())
		}
		_, token := lastToken(t, se.sink, "carla@example.com")
		// Her e-mail has an account: she must sign in instead of creating a user.
		wantError(t, se.do("POST", "/api/invitaciones/aceptar", map[string]any{"token": token, "username": "carla2", "password": "tijeras-2026"}), http.StatusConflict, "email_taken")
		wantError(t, se.do("POST", "/api/invitaciones/aceptar-con-sesion", map[string]any{"token": token}), http.StatusUnauthorized, "missing_token")
		rec := se.do("POST", "/api/invitaciones/aceptar-con-sesion", map[string]any{"token": token}, bearer(se.token(u, 0))...)
		if rec.Code != http.StatusOK {
			t.Fatalf("%d %s", rec.Code, rec.Body.String())
		}
		if acc := decode[acceptResponse](t, rec.Body.Bytes()); acc.Role != "receptionist" || acc.UserID != u.ID {
			t.Fatalf("accept = %+v", acc)
		}
		// A second invitation of a member answers 409 when accepted, and stays pending.
		if rec := se.do("POST", "/api/invitaciones", map[string]any{"email": "carla@example.com", "role": "staff"}, se.as(se.admin)...); rec.Code != http.StatusCreated {
			t.Fatalf("%d %s", rec.Code, rec.Body.String())
		}
		_, token = lastToken(t, se.sink, "carla@example.com")
		wantError(t, se.do("POST", "/api/invitaciones/aceptar-con-sesion", map[string]any{"token": token}, bearer(se.token(u, 0))...), http.StatusConflict, "already_member")
		if rec := se.do("POST", "/api/invitaciones/consultar", map[string]any{"token": token}); rec.Code != http.StatusOK {
			t.Fatalf("the refused invitation is gone: %d %s", rec.Code, rec.Body.String())
		}
	})
	t.Run("RevokedAndReplacedLinksStopWorking", func(t *testing.T) {
		if rec := se.do("POST", "/api/invitaciones", map[string]any{"email": "dora@example.com", "role": "staff"}, se.as(se.admin)...); rec.Code != http.StatusCreated {
			t.Fatalf("%d %s", rec.Code, rec.Body.String())
		}
		_, first := lastToken(t, se.sink, "dora@example.com")
		rec := se.do("POST", "/api/invitaciones", map[string]any{"email": "Dora@example.com", "role": "admin"}, se.as(se.admin)...)
		inv := decode[map[string]any](t, rec.Body.Bytes())
		_, second := lastToken(t, se.sink, "Dora@example.com")
		wantError(t, se.do("POST", "/api/invitaciones/consultar", map[string]any{"token": first}), http.StatusNotFound, "invitation_not_found")
		if rec := se.do("DELETE", "/api/invitaciones/"+itoa(int64(inv["id"].(float64))), nil, se.as(se.admin)...); rec.Code != http.StatusNoContent {
			t.Fatalf("revoke %d %s", rec.Code, rec.Body.String())
		}
		wantError(t, se.do("POST", "/api/invitaciones/aceptar", map[string]any{"token": second, "username": "dora", "password": "tijeras-2026"}), http.StatusNotFound, "invitation_not_found")
	})
	t.Run("ExpiredLinksStopWorking", func(t *testing.T) {
		if rec := se.do("POST", "/api/invitaciones", map[string]any{"email": "eva@example.com", "role": "staff"}, se.as(se.admin)...); rec.Code != http.StatusCreated {
			t.Fatalf("%d %s", rec.Code, rec.Body.String())
		}
		_, token := lastToken(t, se.sink, "eva@example.com")
		if _, err := se.pool.Exec(se.ctx, `UPDATE public.usuarios_invitacion SET expira_at = now() - interval '1 minute' WHERE email = 'eva@example.com'`); err != nil {
			t.Fatal(err)
		}
		wantError(t, se.do("POST", "/api/invitaciones/aceptar", map[string]any{"token": token, "username": "eva", "password": "tijeras-2026"}), http.StatusNotFound, "invitation_not_found")
	})
	t.Run("RefusedEmailStoresNothing", func(t *testing.T) {
		se.sink.Refuse(true)
		defer se.sink.Refuse(false)
		wantError(t, se.do("POST", "/api/invitaciones", map[string]any{"email": "fede@example.com", "role": "staff"}, se.as(se.admin)...), http.StatusBadGateway, "mail_failed")
		var n int
		if err := se.pool.QueryRow(se.ctx, `SELECT count(*) FROM public.usuarios_invitacion WHERE email = 'fede@example.com'`).Scan(&n); err != nil || n != 0 {
			t.Fatalf("rows = %d, %v", n, err)
		}
	})
}

func TestInvitationsWithoutMailer(t *testing.T) {
	t.Parallel()
	e := setup(t, nil)
	org := e.createOrg("Sin Correo")
	admin := e.createUser("admin1", false)
	e.addProfile(org, admin, "admin", true)
	t.Run("AnswersMailUnavailable", func(t *testing.T) {
		wantError(t, e.do("POST", "/api/invitaciones", map[string]any{"email": "x@example.com", "role": "staff"},
			append(bearer(e.token(admin, 0)), "X-Organization-ID", itoa(org.ID))...), http.StatusServiceUnavailable, "mail_unavailable")
	})
}

func TestChangePlan(t *testing.T) {
	t.Parallel()
	be := setupBilling(t, auth.LimitOptions{Burst: 10, Every: time.Minute})
	res := be.signup(t, "duena@example.com")
	t.Run("ChangesThePlan", func(t *testing.T) {
		rec := be.do("PUT", "/api/billing/plan", map[string]any{"plan": "profesional"}, asOrg(res)...)
		if rec.Code != http.StatusOK {
			t.Fatalf("%d %s", rec.Code, rec.Body.String())
		}
		if got := decode[subscriptionResponse](t, rec.Body.Bytes()); got.Plan != "profesional" {
			t.Fatalf("plan = %q", got.Plan)
		}
	})
	t.Run("RejectsUnknownPlans", func(t *testing.T) {
		wantError(t, be.do("PUT", "/api/billing/plan", map[string]any{"plan": "nope"}, asOrg(res)...), http.StatusBadRequest, "invalid_input")
		wantError(t, be.do("PUT", "/api/billing/plan", map[string]any{}, asOrg(res)...), http.StatusBadRequest, "invalid_input")
	})
	t.Run("RefusesNonAdmins", func(t *testing.T) {
		u := be.createUser("recep", false)
		org, err := be.m.Organization(context.Background(), res.Organization.ID)
		if err != nil {
			t.Fatal(err)
		}
		be.addProfile(org, u, "receptionist", true)
		wantError(t, be.do("PUT", "/api/billing/plan", map[string]any{"plan": "basico"},
			append(bearer(be.token(u, 0)), "X-Organization-ID", itoa(org.ID))...), http.StatusForbidden, "forbidden")
	})
}

// newRequest builds a request without a body, with header pairs.
func newRequest(method, path string, headers ...string) *http.Request {
	req := httptest.NewRequest(method, path, nil)
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	return req
}

// serveWith answers req through h.
func serveWith(h http.Handler, req *http.Request) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}
