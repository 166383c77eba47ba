package api

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/mail"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/appcitas/appcitas/internal/auth"
	"github.com/appcitas/appcitas/internal/booking"
	appmail "github.com/appcitas/appcitas/internal/mail"
	"github.com/appcitas/appcitas/internal/mail/mailtest"
	"github.com/appcitas/appcitas/internal/reservas"
	"github.com/appcitas/appcitas/internal/tenancy"
)

// inlineMailQueue stands in for the River job: each queued confirmation is delivered by a
// goroutine that waits while the booking's transaction may still commit, as the job snoozes.
type inlineMailQueue struct {
	m       *tenancy.Manager
	d       *reservas.Deliverer
	mu      sync.Mutex
	queued  int
	done    sync.WaitGroup
	errs    []error
	stopCtx context.Context
}

func (q *inlineMailQueue) QueueBookingMail(_ context.Context, orgID, holdID int64) error {
	q.mu.Lock()
	q.queued++
	q.mu.Unlock()
	q.done.Add(1)
	go func() {
		defer q.done.Done()
		org, err := q.m.Organization(q.stopCtx, orgID)
		if err == nil {
			var t tenancy.Tenant
			if t, err = org.Tenant(); err == nil {
				for range 200 {
					if err = q.d.DeliverForHold(q.stopCtx, t, holdID); !errors.Is(err, reservas.ErrNotYet) {
						break
					}
					time.Sleep(50 * time.Millisecond)
				}
			}
		}
		if err != nil {
			q.mu.Lock()
			q.errs = append(q.errs, err)
			q.mu.Unlock()
		}
	}()
	return nil
}

// publicEnv is a running API with an organization whose online booking is on, a fake SMTP
// server behind the confirmations, and a branch where the staff member works 09:00-18:00 daily.
type publicEnv struct {
	*bookingEnv
	smtp  *mailtest.Server
	queue *inlineMailQueue
	day   string // tomorrow in the branch's zone
}

func setupPublic(t testing.TB, cfg func(*PublicBookingConfig)) *publicEnv {
	t.Helper()
	smtp := mailtest.NewServer(t)
	q := &inlineMailQueue{}
	e := setup(t, func(c *Config) {
		c.PublicBooking = PublicBookingConfig{Mail: q, BaseURL: "https://citas.example.co",
			PerIP: auth.LimitOptions{Burst: 10_000, Every: time.Millisecond}, WritesPerIP: auth.LimitOptions{Burst: 10_000, Every: time.Millisecond},
			PerOrg: auth.LimitOptions{Burst: 10_000, Every: time.Millisecond}}
		if cfg != nil {
			cfg(&c.PublicBooking)
		}
	})
	sender, err := appmail.NewSMTPMailer(appmail.SMTPConfig{Addr: smtp.Addr(), From: "appcitas <no-reply@appcitas.co>"})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	q.m, q.d, q.stopCtx = e.m, &reservas.Deliverer{Manager: e.m, Mailer: sender}, ctx
	t.Cleanup(func() { cancel(); q.done.Wait() })
	b := setupBookingOn(e)
	p := &publicEnv{bookingEnv: b, smtp: smtp, queue: q}
	bogota, _ := time.LoadLocation("America/Bogota")
	p.day = b.clock.now().In(bogota).AddDate(0, 0, 1).Format(time.DateOnly)
	b.ok("PATCH", fmt.Sprintf("/api/sedes/%d", b.branchID), map[string]any{"telefono": "+57 601 555 0000"}, b.adminH, http.StatusOK, nil)
	b.ok("PUT", "/api/reservas-en-linea", reservas.Settings{Enabled: true, BookNoticeMinutes: 60, RescheduleNoticeMinutes: 120,
		CancelNoticeMinutes: 120, HorizonDays: 30, HoldMinutes: 10}, b.adminH, http.StatusOK, nil)
	return p
}

// at is a wall time of p.day in Bogotá as RFC 3339.
func (p *publicEnv) at(hhmm string) string { return p.day + "T" + hhmm + ":00-05:00" }

func (p *publicEnv) slug() string { return "/api/publico/" + p.org.Slug }

// holdFrom holds the slot at hhmm for the client at ip.
func (p *publicEnv) holdFrom(ip, hhmm string) *httptest.ResponseRecorder {
	body, _ := json.Marshal(map[string]any{"sede_id": p.branchID, "servicio_id": p.serviceID, "profesional_id": p.staffProfile, "inicio": p.at(hhmm)})
	req := httptest.NewRequest("POST", p.slug()+"/retenciones", strings.NewReader(string(body)))
	req.Header.Set("Content-Type", "application/json")
	req.RemoteAddr = ip + ":1234"
	return serve(p.env, req)
}

func (p *publicEnv) hold(hhmm string) reservas.Hold {
	p.t.Helper()
	rec := p.holdFrom("192.0.2.10", hhmm)
	if rec.Code != http.StatusCreated {
		p.t.Fatalf("hold %s: %d %s", hhmm, rec.Code, rec.Body.String())
	}
	var h reservas.Hold
	_ = json.Unmarshal(rec.Body.Bytes(), &h)
	return h
}

func (p *publicEnv) confirmBody(h reservas.Hold, email string) map[string]any {
	return map[string]any{"retencion_id": h.ID, "retencion_token": h.Token, "cliente_nombre": "Ana Gómez",
		"cliente_telefono": "+57 300 123 4567", "cliente_email": email, "consentimiento": true}
}

// freeTimes returns the public availability's start times on p.day, as RFC 3339.
func (p *publicEnv) freeTimes() []string {
	p.t.Helper()
	var a booking.Availability
	p.ok("GET", fmt.Sprintf("%s/disponibilidad?sede_id=%d&servicio_id=%d&desde=%s&hasta=%s", p.slug(), p.branchID, p.serviceID, p.day, p.day),
		nil, nil, http.StatusOK, &a)
	var out []string
	for _, s := range a.Staff {
		for _, sl := range s.Slots {
			out = append(out, sl.Start.Format(time.RFC3339))
		}
	}
	return out
}

var manageLink = regexp.MustCompile(`https?://[^/\s]+/r/([a-z0-9-]+)/cita/([A-Za-z0-9_-]{43})`)

// parseConfirmation reads a confirmation e-mail: its text, its .ics and the manage link's token.
func parseConfirmation(t testing.TB, raw string) (text, ics, token string) {
	t.Helper()
	msg, err := mail.ReadMessage(strings.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	mt, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/mixed" {
		t.Fatalf("content type %q (%v), want multipart/mixed", msg.Header.Get("Content-Type"), err)
	}
	mr := multipart.NewReader(msg.Body, params["boundary"])
	for {
		part, err := mr.NextPart()
		if err != nil {
			break
		}
		b := new(strings.Builder)
		buf := make([]byte, 4096)
		for {
			n, err := part.Read(buf)
			b.Write(buf[:n])
			if err != nil {
				break
			}
		}
		switch {
		case strings.HasPrefix(part.Header.Get("Content-Type"), "text/plain"):
			text = b.String()
		case strings.HasPrefix(part.Header.Get("Content-Type"), "text/calendar"):
			dec, err := base64.StdEncoding.DecodeString(strings.ReplaceAll(b.String(), "\r\n", ""))
			if err != nil {
				t.Fatal(err)
			}
			ics = string(dec)
		}
	}
	m := manageLink.FindStringSubmatch(text)
	if m == nil {
		t.Fatalf("no manage link in %q", text)
	}
	return text, ics, m[2]
}

func TestPublicBookingAPI(t *testing.T) {
	t.Parallel()
	p := setupPublic(t, nil)

	t.Run("AnswersNotFoundForUnknownSlugAndForOrganizationsWithOnlineBookingOff", func(t *testing.T) {
		wantError(t, p.do("GET", "/api/publico/no-existe", nil), http.StatusNotFound, "not_found")
		wantError(t, p.do("GET", "/api/publico/NO_VALID", nil), http.StatusNotFound, "not_found")
		other := p.createOrg("Spa Cerrado")
		wantError(t, p.do("GET", "/api/publico/"+other.Slug, nil), http.StatusNotFound, "not_found")
		rec := p.do("GET", "/r/"+other.Slug, nil)
		if rec.Code != http.StatusOK || !strings.Contains(rec.Header().Get("Content-Security-Policy"), "script-src 'self'") {
			t.Fatalf("page: %d, CSP %q", rec.Code, rec.Header().Get("Content-Security-Policy"))
		}
	})

	t.Run("ShowsBranchesServicesAndStaffByDisplayNameOnly", func(t *testing.T) {
		var info publicInfo
		p.ok("GET", p.slug(), nil, nil, http.StatusOK, &info)
		if info.Name != "Barbería Juan" || len(info.Branches) != 1 || len(info.Services) != 1 || info.HoldMinutes != 10 {
			t.Fatalf("info = %+v", info)
		}
		rec := p.ok("GET", fmt.Sprintf("%s/profesionales?sede_id=%d&servicio_id=%d", p.slug(), p.branchID, p.serviceID), nil, nil, http.StatusOK, nil)
		if strings.Contains(rec.Body.String(), "user_id") || !strings.Contains(rec.Body.String(), fmt.Sprintf(`"id":%d`, p.staffProfile)) {
			t.Fatalf("staff = %s", rec.Body.String())
		}
	})

	t.Run("BooksAHeldSlotAndSendsTheConfirmationWithICSAndManageLink", func(t *testing.T) {
		before := p.freeTimes()
		if len(before) == 0 {
			t.Fatal("no free times")
		}
		h := p.hold("10:00")
		after := p.freeTimes()
		for _, s := range after {
			if s == p.at("10:00") {
				t.Fatal("a held slot is still offered")
			}
		}
		wantError(t, p.holdFrom("198.51.100.7", "10:00"), http.StatusConflict, "slot_taken")
		var done confirmedBody
		p.ok("POST", p.slug()+"/reservas", p.confirmBody(h, "ana@example.co"), nil, http.StatusCreated, &done)
		if done.Appointment.ID == 0 || done.Email != "ana@example.co" {
			t.Fatalf("confirmed = %+v", done)
		}
		msgs := p.smtp.Wait(t, 1, 10*time.Second)
		if !strings.Contains(msgs[0], "Barb=C3=ADa Juan") && !strings.Contains(msgs[0], "Barbería Juan") {
			t.Errorf("the e-mail is not in the organization's name: %q", msgs[0][:200])
		}
		text, ics, token := parseConfirmation(t, msgs[0])
		if !strings.Contains(text, "Corte") || !strings.Contains(text, "America/Bogota") {
			t.Errorf("text = %q", text)
		}
		for _, want := range []string{"METHOD:PUBLISH", fmt.Sprintf("UID:cita-%d@%s.appcitas", done.Appointment.ID, p.org.Slug), "DTSTART:" + done.Appointment.Start.UTC().Format("20060102T150405Z"), "BEGIN:VEVENT"} {
			if !strings.Contains(ics, want) {
				t.Errorf("ics lacks %q:\n%s", want, ics)
			}
		}
		// The appointment was booked through booking's create function, and recorded as the client's.
		var hist listOf[booking.HistoryEntry]
		p.ok("GET", fmt.Sprintf("/api/citas/%d/historial", done.Appointment.ID), nil, p.adminH, http.StatusOK, &hist)
		if len(hist.Items) != 1 || hist.Items[0].Action != "creada" || hist.Items[0].Actor != "cliente" {
			t.Fatalf("history = %+v", hist.Items)
		}
		// The same confirmation is never sent twice.
		if err := p.queue.QueueBookingMail(t.Context(), p.org.ID, h.ID); err != nil {
			t.Fatal(err)
		}
		p.queue.done.Wait()
		if n := len(p.smtp.Messages()); n != 1 {
			t.Fatalf("%d e-mails after a second delivery, want 1", n)
		}

		t.Run("ManagesTheBookingWithTheLink", func(t *testing.T) {
			var m reservas.Managed
			p.ok("GET", p.slug()+"/citas/"+token, nil, nil, http.StatusOK, &m)
			if m.ID != done.Appointment.ID || !m.CanReschedule || !m.CanCancel || m.BranchPhone != "+57 601 555 0000" {
				t.Fatalf("managed = %+v", m)
			}
			p.ok("POST", p.slug()+"/citas/"+token+"/reprogramar", map[string]any{"inicio": p.at("15:00")}, nil, http.StatusOK, &m)
			if !m.Start.Equal(mustTime(t, p.at("15:00"))) {
				t.Fatalf("rescheduled to %s", m.Start)
			}
			// A staff member's change is recorded with their user id.
			p.ok("POST", fmt.Sprintf("/api/citas/%d/confirmar", m.ID), nil, p.adminH, http.StatusOK, nil)
			p.ok("POST", p.slug()+"/citas/"+token+"/cancelar", nil, nil, http.StatusOK, &m)
			if m.Status != booking.StatusCancelled || m.CanCancel {
				t.Fatalf("cancelled = %+v", m)
			}
			wantError(t, p.do("POST", p.slug()+"/citas/"+token+"/cancelar", nil), http.StatusConflict, "invalid_transition")
			p.ok("GET", fmt.Sprintf("/api/citas/%d/historial", m.ID), nil, p.adminH, http.StatusOK, &hist)
			var got []string
			for _, e := range hist.Items {
				got = append(got, e.Action+"/"+e.Actor)
			}
			want := []string{"creada/cliente", "reprogramada/cliente", fmt.Sprintf("confirmada/%d", p.admin.ID), "cancelada/cliente"}
			if strings.Join(got, ",") != strings.Join(want, ",") {
				t.Fatalf("history = %v, want %v", got, want)
			}
			p.ok("GET", fmt.Sprintf("/api/citas/%d/historial", m.ID), nil, p.staffH, http.StatusOK, nil)
		})

		t.Run("RefusesATokenOfOneOrganizationOnAnothers", func(t *testing.T) {
			other := p.createOrg("Spa Otro")
			admin := p.createUser("admin-otro", false)
			p.addProfile(other, admin, booking.RoleAdmin, true)
			hdr := append(bearer(p.token(admin, 0)), "X-Organization-ID", fmt.Sprint(other.ID))
			p.ok("PUT", "/api/reservas-en-linea", reservas.Settings{Enabled: true, BookNoticeMinutes: 60, RescheduleNoticeMinutes: 60,
				CancelNoticeMinutes: 60, HorizonDays: 30, HoldMinutes: 10}, hdr, http.StatusOK, nil)
			rec := p.do("GET", "/api/publico/"+other.Slug+"/citas/"+token, nil)
			wantError(t, rec, http.StatusNotFound, "not_found")
			if strings.Contains(rec.Body.String(), "Ana") {
				t.Fatalf("another organization's data leaked: %s", rec.Body.String())
			}
			wantError(t, p.do("POST", "/api/publico/"+other.Slug+"/citas/"+token+"/cancelar", nil), http.StatusNotFound, "not_found")
			wantError(t, p.do("GET", p.slug()+"/citas/"+strings.Repeat("A", 43), nil), http.StatusNotFound, "not_found")
		})

		t.Run("RevokedLinksAreNotFound", func(t *testing.T) {
			wantError(t, p.do("POST", fmt.Sprintf("/api/citas/%d/enlaces/revocar", done.Appointment.ID), nil, p.staffH...), http.StatusForbidden, "forbidden")
			var rv revokedBody
			p.ok("POST", fmt.Sprintf("/api/citas/%d/enlaces/revocar", done.Appointment.ID), nil, p.receptionH, http.StatusOK, &rv)
			if rv.Revoked != 1 {
				t.Fatalf("revoked = %d, want 1", rv.Revoked)
			}
			wantError(t, p.do("GET", p.slug()+"/citas/"+token, nil), http.StatusNotFound, "not_found")
		})
	})

	t.Run("RefusesChangesPastTheNoticeLimitAndSaysWhomToCall", func(t *testing.T) {
		h := p.hold("11:00")
		p.ok("POST", p.slug()+"/reservas", p.confirmBody(h, "beto@example.co"), nil, http.StatusCreated, nil)
		msgs := p.smtp.Wait(t, 2, 10*time.Second)
		_, _, token := parseConfirmation(t, msgs[len(msgs)-1])
		p.ok("PUT", "/api/reservas-en-linea", reservas.Settings{Enabled: true, BookNoticeMinutes: 60, RescheduleNoticeMinutes: 60 * 24 * 3,
			CancelNoticeMinutes: 60 * 24 * 3, HorizonDays: 30, HoldMinutes: 10}, p.adminH, http.StatusOK, nil)
		defer p.ok("PUT", "/api/reservas-en-linea", reservas.Settings{Enabled: true, BookNoticeMinutes: 60, RescheduleNoticeMinutes: 120,
			CancelNoticeMinutes: 120, HorizonDays: 30, HoldMinutes: 10}, p.adminH, http.StatusOK, nil)
		e := wantError(t, p.do("POST", p.slug()+"/citas/"+token+"/cancelar", nil), http.StatusForbidden, "too_late")
		if !strings.Contains(e.Message, "+57 601 555 0000") {
			t.Fatalf("message = %q", e.Message)
		}
		wantError(t, p.do("POST", p.slug()+"/citas/"+token+"/reprogramar", map[string]any{"inicio": p.at("16:00")}), http.StatusForbidden, "too_late")
	})

	t.Run("RefusesTheHoneypot", func(t *testing.T) {
		body := map[string]any{"sede_id": p.branchID, "servicio_id": p.serviceID, "profesional_id": p.staffProfile, "inicio": p.at("12:00"), "sitio_web": "http://spam"}
		wantError(t, p.do("POST", p.slug()+"/retenciones", body), http.StatusBadRequest, "rejected")
		h := p.hold("12:00")
		c := p.confirmBody(h, "c@example.co")
		c["sitio_web"] = "x"
		wantError(t, p.do("POST", p.slug()+"/reservas", c), http.StatusBadRequest, "rejected")
		c = p.confirmBody(h, "c@example.co")
		c["consentimiento"] = false
		wantError(t, p.do("POST", p.slug()+"/reservas", c), http.StatusBadRequest, "invalid_input")
		c = p.confirmBody(h, "c@example.co")
		c["retencion_token"] = "wrong"
		wantError(t, p.do("POST", p.slug()+"/reservas", c), http.StatusConflict, "hold_expired")
	})

	t.Run("CapsTheOpenHoldsOfOneClient", func(t *testing.T) {
		ip := "203.0.113.99"
		for _, at := range []string{"14:00", "14:45", "15:30"} {
			if rec := p.holdFrom(ip, at); rec.Code != http.StatusCreated {
				t.Fatalf("hold %s: %d %s", at, rec.Code, rec.Body.String())
			}
		}
		wantError(t, p.holdFrom(ip, "16:15"), http.StatusConflict, "too_many_holds")
		// Held slots come back when the holds expire.
		p.clock.add(11 * time.Minute)
		defer p.clock.add(-11 * time.Minute)
		if rec := p.holdFrom(ip, "16:15"); rec.Code != http.StatusCreated {
			t.Fatalf("hold after expiry: %d %s", rec.Code, rec.Body.String())
		}
	})

	t.Run("KeepsServicesAndStaffNotBookableOnlineOut", func(t *testing.T) {
		p.ok("PUT", "/api/reservas-en-linea", reservas.Settings{Enabled: true, BookNoticeMinutes: 60, RescheduleNoticeMinutes: 120,
			CancelNoticeMinutes: 120, HorizonDays: 30, HoldMinutes: 10, Services: []int64{}}, p.adminH, http.StatusOK, nil)
		defer p.ok("PUT", "/api/reservas-en-linea", reservas.Settings{Enabled: true, BookNoticeMinutes: 60, RescheduleNoticeMinutes: 120,
			CancelNoticeMinutes: 120, HorizonDays: 30, HoldMinutes: 10}, p.adminH, http.StatusOK, nil)
		var info publicInfo
		p.ok("GET", p.slug(), nil, nil, http.StatusOK, &info)
		if len(info.Services) != 0 {
			t.Fatalf("services = %+v", info.Services)
		}
		wantError(t, p.holdFrom("192.0.2.77", "09:00"), http.StatusBadRequest, "invalid_input")
		wantError(t, p.do("PUT", "/api/reservas-en-linea", map[string]any{"horizonte_dias": 0}, p.adminH...), http.StatusBadRequest, "invalid_input")
		wantError(t, p.do("PUT", "/api/reservas-en-linea", map[string]any{"activo": true}, p.receptionH...), http.StatusForbidden, "forbidden")
	})
}

func mustTime(t testing.TB, s string) time.Time {
	t.Helper()
	v, err := time.Parse(time.RFC3339, s)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestPublicBookingRateLimits(t *testing.T) {
	t.Parallel()
	t.Run("LimitsRequestsPerAddress", func(t *testing.T) {
		t.Parallel()
		p := setupPublic(t, func(c *PublicBookingConfig) { c.PerIP = auth.LimitOptions{Burst: 3, Every: time.Hour} })
		for range 3 {
			p.ok("GET", p.slug(), nil, nil, http.StatusOK, nil)
		}
		rec := p.do("GET", p.slug(), nil)
		wantError(t, rec, http.StatusTooManyRequests, "rate_limited")
		if rec.Header().Get("Retry-After") == "" {
			t.Fatal("no Retry-After")
		}
	})
	t.Run("LimitsRequestsPerOrganization", func(t *testing.T) {
		t.Parallel()
		p := setupPublic(t, func(c *PublicBookingConfig) { c.PerOrg = auth.LimitOptions{Burst: 2, Every: time.Hour} })
		for i := range 2 {
			req := httptest.NewRequest("GET", p.slug(), nil)
			req.RemoteAddr = fmt.Sprintf("192.0.2.%d:1", i+1)
			if rec := serve(p.env, req); rec.Code != http.StatusOK {
				t.Fatalf("%d %s", rec.Code, rec.Body.String())
			}
		}
		req := httptest.NewRequest("GET", p.slug(), nil)
		req.RemoteAddr = "192.0.2.200:1"
		wantError(t, serve(p.env, req), http.StatusTooManyRequests, "rate_limited")
	})
}

// TestPublicBookingRaceForTheLastSlot has two clients go for the same last free time at once:
// holds let one through, and when the staff books that time behind the page's back, the
// exclusion constraint refuses the client with a clear 409 and the page's fresh times no longer
// offer it.
func TestPublicBookingRaceForTheLastSlot(t *testing.T) {
	t.Parallel()
	p := setupPublic(t, nil)
	p.ok("PATCH", fmt.Sprintf("/api/servicios/%d", p.serviceID), map[string]any{"buffer_despues_minutos": 0}, p.adminH, http.StatusOK, nil)
	// Fill the day but 10:00 with the staff's own bookings.
	for h := 9; h < 18; h++ {
		for _, mm := range []string{"00", "30"} {
			at := fmt.Sprintf("%02d:%s", h, mm)
			if at == "10:00" || h == 13 {
				continue
			}
			rec := p.do("POST", "/api/citas", p.citaBody(p.at(at)), p.adminH...)
			if rec.Code != http.StatusCreated && rec.Code != http.StatusConflict {
				t.Fatalf("filling %s: %d %s", at, rec.Code, rec.Body.String())
			}
		}
	}
	free := p.freeTimes()
	if len(free) != 1 || free[0] != p.at("10:00") {
		t.Fatalf("free = %v, want only 10:00", free)
	}

	t.Run("TwoClientsHoldingAtOnceLeaveOneBooking", func(t *testing.T) {
		var wg sync.WaitGroup
		codes := make([]int, 2)
		bodies := make([]string, 2)
		for i := range 2 {
			wg.Go(func() {
				rec := p.holdFrom(fmt.Sprintf("198.51.100.%d", i+1), "10:00")
				codes[i], bodies[i] = rec.Code, rec.Body.String()
				if rec.Code != http.StatusCreated {
					return
				}
				var h reservas.Hold
				_ = json.Unmarshal(rec.Body.Bytes(), &h)
				rec = p.do("POST", p.slug()+"/reservas", p.confirmBody(h, fmt.Sprintf("c%d@example.co", i)))
				codes[i], bodies[i] = rec.Code, rec.Body.String()
			})
		}
		wg.Wait()
		won, lost := 0, 0
		for i, c := range codes {
			switch c {
			case http.StatusCreated:
				won++
			case http.StatusConflict:
				lost++
				if !strings.Contains(bodies[i], reservas.MsgSlotTaken) {
					t.Errorf("loser's answer = %s", bodies[i])
				}
			default:
				t.Errorf("answer %d: %s", c, bodies[i])
			}
		}
		if won != 1 || lost != 1 {
			t.Fatalf("won %d, lost %d: %v", won, lost, bodies)
		}
		if free := p.freeTimes(); len(free) != 0 {
			t.Fatalf("free after the race = %v", free)
		}
		var n int
		tn, _ := p.org.Tenant()
		if err := p.m.Run(t.Context(), tn, func(tx pgx.Tx) error {
			return tx.QueryRow(t.Context(), `SELECT count(*) FROM citas_cita WHERE inicio = $1 AND estado <> 'cancelada'`, mustTime(t, p.at("10:00"))).Scan(&n)
		}); err != nil || n != 1 {
			t.Fatalf("appointments at 10:00 = %d (%v), want 1", n, err)
		}
	})

	t.Run("TheConstraintRefusesAHeldSlotBookedBehindThePagesBack", func(t *testing.T) {
		// Free 09:00 again by cancelling the staff's booking there, hold it, then let the staff
		// book it through the API (which does not look at holds).
		var page booking.AppointmentPage
		p.ok("GET", fmt.Sprintf("/api/citas?desde=%s&hasta=%s&sede_id=%d", p.day, p.day, p.branchID), nil, p.adminH, http.StatusOK, &page)
		for _, a := range page.Items {
			if a.Start.Equal(mustTime(t, p.at("09:00"))) {
				p.ok("POST", fmt.Sprintf("/api/citas/%d/cancelar", a.ID), map[string]any{"motivo": "libre"}, p.adminH, http.StatusOK, nil)
			}
		}
		h := p.hold("09:00")
		p.ok("POST", "/api/citas", p.citaBody(p.at("09:00")), p.adminH, http.StatusCreated, nil)
		e := wantError(t, p.do("POST", p.slug()+"/reservas", p.confirmBody(h, "late@example.co")), http.StatusConflict, "slot_taken")
		if e.Message != reservas.MsgSlotTaken {
			t.Fatalf("message = %q", e.Message)
		}
		if free := p.freeTimes(); len(free) != 0 {
			t.Fatalf("fresh times = %v, want none", free)
		}
	})
}
