package api

import (
	"context"
	"errors"
	"net/http"
	"regexp"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/appcitas/appcitas/internal/auth"
	"github.com/appcitas/appcitas/internal/billing"
	"github.com/appcitas/appcitas/internal/booking"
	"github.com/appcitas/appcitas/internal/reservas"
	"github.com/appcitas/appcitas/internal/tenancy"
)

// PublicBookingConfig configures the public booking page and its API.
type PublicBookingConfig struct {
	// BaseURL is the address clients reach the server at, for the manage links in e-mails, e.g.
	// https://citas.example.co. Defaults to the request's scheme and Host.
	BaseURL string
	// PerIP limits the public API's requests per client address. Defaults to a burst of 60, then
	// 2 a second.
	PerIP auth.LimitOptions
	// WritesPerIP limits holds, bookings, reschedules and cancellations per client address.
	// Defaults to a burst of 10, then one every 6s.
	WritesPerIP auth.LimitOptions
	// PerOrg limits the public API's requests per organization. Defaults to a burst of 300, then
	// 20 a second.
	PerOrg auth.LimitOptions
	// Mail queues the confirmation e-mail of a booking before its transaction starts (a River
	// job; see package jobs). Defaults to nil: confirmations stay in the tenant's outbox unsent.
	Mail PublicMailQueue
}

// PublicMailQueue queues the delivery of the confirmation e-mail of hold holdID of organization
// orgID ([reservas.Deliverer.DeliverForHold] does it).
type PublicMailQueue interface {
	QueueBookingMail(ctx context.Context, orgID, holdID int64) error
}

// publicAPI serves the public booking page's API: no account, every organization by its slug.
type publicAPI struct {
	s          *Server
	cfg        PublicBookingConfig
	ipLimit    *auth.Limiter
	writeLimit *auth.Limiter
	orgLimit   *auth.Limiter
	// slugs maps slugs to organization ids; the organization itself comes from the server's cache.
	slugs sync.Map
}

func newPublicAPI(s *Server) *publicAPI {
	cfg := s.cfg.PublicBooking
	if cfg.PerIP.Burst <= 0 {
		cfg.PerIP = auth.LimitOptions{Burst: 60, Every: 500 * time.Millisecond}
	}
	if cfg.WritesPerIP.Burst <= 0 {
		cfg.WritesPerIP = auth.LimitOptions{Burst: 10, Every: 6 * time.Second}
	}
	if cfg.PerOrg.Burst <= 0 {
		cfg.PerOrg = auth.LimitOptions{Burst: 300, Every: 50 * time.Millisecond}
	}
	return &publicAPI{s: s, cfg: cfg, ipLimit: auth.NewLimiter(cfg.PerIP, s.cfg.Now),
		writeLimit: auth.NewLimiter(cfg.WritesPerIP, s.cfg.Now), orgLimit: auth.NewLimiter(cfg.PerOrg, s.cfg.Now)}
}

var slugPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}$`)

func errPublicNotFound() error {
	return apiError(http.StatusNotFound, "not_found", reservas.MsgNotFound)
}

func errRateLimited(wait time.Duration) error {
	return &Error{Status: http.StatusTooManyRequests, Code: "rate_limited", RetryAfter: max(wait, time.Second),
		Message: "Demasiadas solicitudes. Intenta de nuevo en unos segundos."}
}

// limit takes one request from the address's and the organization's buckets (and the address's
// writes bucket for a write).
func (p *publicAPI) limit(r *http.Request, slug string, write bool) error {
	ip := infoFrom(r.Context()).clientIP
	if ok, wait := p.ipLimit.Allow(ip); !ok {
		return errRateLimited(wait)
	}
	if write {
		if ok, wait := p.writeLimit.Allow(ip); !ok {
			return errRateLimited(wait)
		}
	}
	if ok, wait := p.orgLimit.Allow(slug); !ok {
		return errRateLimited(wait)
	}
	return nil
}

// org resolves the {slug} of r to an active organization, after the rate limits.
func (p *publicAPI) org(r *http.Request, write bool) (tenancy.Organization, tenancy.Tenant, error) {
	slug := r.PathValue("slug")
	if !slugPattern.MatchString(slug) {
		return tenancy.Organization{}, tenancy.Tenant{}, errPublicNotFound()
	}
	if err := p.limit(r, slug, write); err != nil {
		return tenancy.Organization{}, tenancy.Tenant{}, err
	}
	ctx := r.Context()
	var org tenancy.Organization
	var err error
	if id, ok := p.slugs.Load(slug); ok {
		org, err = p.s.organization(ctx, id.(int64))
	}
	if org.Slug != slug || err != nil {
		org, err = p.s.tenancy.OrganizationBySlug(ctx, slug)
		if errors.Is(err, tenancy.ErrNotFound) {
			return tenancy.Organization{}, tenancy.Tenant{}, errPublicNotFound()
		}
		if err != nil {
			return tenancy.Organization{}, tenancy.Tenant{}, err
		}
		p.slugs.Store(slug, org.ID)
	}
	if !org.IsActive {
		return tenancy.Organization{}, tenancy.Tenant{}, errPublicNotFound()
	}
	if p.s.cfg.Billing != nil && p.s.cfg.Billing.CheckAccess(ctx, org.ID) != nil {
		// A suspended or cancelled organization takes no bookings: its page is off.
		return tenancy.Organization{}, tenancy.Tenant{}, errPublicNotFound()
	}
	infoFrom(ctx).orgID = org.ID
	t, err := org.Tenant()
	if err != nil {
		return tenancy.Organization{}, tenancy.Tenant{}, err
	}
	return org, t, nil
}

// run runs fn in the organization's transaction with its online booking rules; an organization
// whose online booking is off is not found.
func (p *publicAPI) run(ctx context.Context, t tenancy.Tenant, fn func(tx pgx.Tx, b *booking.Bookings, set reservas.Settings) error) error {
	return p.s.tenancy.Run(ctx, t, func(tx pgx.Tx) error {
		set, err := reservas.GetSettings(ctx, tx)
		if err != nil {
			return err
		}
		if !set.Enabled {
			return errPublicNotFound()
		}
		return fn(tx, booking.Open(tx, nil, p.s.zones), set)
	})
}

// honeypot refuses a request whose hidden field a person never fills in.
func honeypot(v string) error {
	if v != "" {
		return apiError(http.StatusBadRequest, "rejected", "No pudimos procesar tu solicitud.")
	}
	return nil
}

// --- the organization's rules and the appointment's history (tenant routes) ---

func (p *publicAPI) getSettings(w http.ResponseWriter, r *http.Request) {
	p.s.inTenant(w, r, func(ctx context.Context, tx pgx.Tx, m Member) error {
		if err := requireRole(m, booking.RoleAdmin); err != nil {
			return err
		}
		set, err := reservas.GetSettings(ctx, tx)
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, set)
		return nil
	})
}

// settingsRequest is the body of PUT /api/reservas-en-linea: reservas.Settings, with null
// servicios or profesionales meaning every active one.
type settingsRequest struct {
	Activo                  bool     `json:"activo"`
	AvisoReservarMinutos    int      `json:"aviso_reservar_minutos"`
	AvisoReprogramarMinutos int      `json:"aviso_reprogramar_minutos"`
	AvisoCancelarMinutos    int      `json:"aviso_cancelar_minutos"`
	HorizonteDias           int      `json:"horizonte_dias"`
	RetencionMinutos        int      `json:"retencion_minutos"`
	Servicios               *[]int64 `json:"servicios"`
	Profesionales           *[]int64 `json:"profesionales"`
}

func (p *publicAPI) putSettings(w http.ResponseWriter, r *http.Request) {
	var body settingsRequest
	if err := p.s.decodeJSON(w, r, &body); err != nil {
		p.s.fail(w, r, err)
		return
	}
	in := reservas.Settings{Enabled: body.Activo, BookNoticeMinutes: body.AvisoReservarMinutos,
		RescheduleNoticeMinutes: body.AvisoReprogramarMinutos, CancelNoticeMinutes: body.AvisoCancelarMinutos,
		HorizonDays: body.HorizonteDias, HoldMinutes: body.RetencionMinutos}
	if body.Servicios != nil {
		in.Services = append([]int64{}, *body.Servicios...)
	}
	if body.Profesionales != nil {
		in.Staff = append([]int64{}, *body.Profesionales...)
	}
	p.s.inTenant(w, r, func(ctx context.Context, tx pgx.Tx, m Member) error {
		if err := requireRole(m, booking.RoleAdmin); err != nil {
			return err
		}
		set, err := reservas.PutSettings(ctx, tx, in)
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, set)
		return nil
	})
}

func (p *publicAPI) history(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r)
	if err != nil {
		p.s.fail(w, r, err)
		return
	}
	p.s.inTenant(w, r, func(ctx context.Context, tx pgx.Tx, m Member) error {
		h, err := booking.History(ctx, tx, actor(m), id)
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, listOf[booking.HistoryEntry]{Items: h})
		return nil
	})
}

// revokedBody is the answer of POST /api/citas/{id}/enlaces/revocar.
type revokedBody struct {
	// Revoked is how many live links were revoked.
	Revoked int64 `json:"revocados"`
}

func (p *publicAPI) revokeLinks(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r)
	if err != nil {
		p.s.fail(w, r, err)
		return
	}
	p.s.inTenant(w, r, func(ctx context.Context, tx pgx.Tx, m Member) error {
		if err := requireRole(m, booking.RoleAdmin, booking.RoleReceptionist); err != nil {
			return err
		}
		if _, err := booking.GetAppointment(ctx, tx, actor(m), id); err != nil {
			return err
		}
		n, err := reservas.RevokeLinks(ctx, tx, id)
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, revokedBody{Revoked: n})
		return nil
	})
}

// --- the public API ---

// publicBranch is a branch as clients see it.
type publicBranch struct {
	ID       int64  `json:"id"`
	Name     string `json:"nombre"`
	Address  string `json:"direccion"`
	Phone    string `json:"telefono"`
	TimeZone string `json:"zona_horaria"`
}

// publicService is a service as clients see it.
type publicService struct {
	ID              int64  `json:"id"`
	Name            string `json:"nombre"`
	Description     string `json:"descripcion"`
	DurationMinutes int    `json:"duracion_minutos"`
	PriceCents      int64  `json:"precio_centavos"`
	Currency        string `json:"moneda"`
}

// publicStaff is a staff member as clients see them: a display name.
type publicStaff struct {
	ID   int64  `json:"id"`
	Name string `json:"nombre_visible"`
}

// publicInfo is the answer of GET /api/publico/{slug}.
type publicInfo struct {
	Name        string          `json:"nombre"`
	Slug        string          `json:"slug"`
	Branches    []publicBranch  `json:"sedes"`
	Services    []publicService `json:"servicios"`
	HoldMinutes int             `json:"retencion_minutos"`
	HorizonDays int             `json:"horizonte_dias"`
}

func (p *publicAPI) info(w http.ResponseWriter, r *http.Request) {
	org, t, err := p.org(r, false)
	if err != nil {
		p.s.fail(w, r, err)
		return
	}
	out := publicInfo{Name: org.Name, Slug: org.Slug, Branches: []publicBranch{}, Services: []publicService{}}
	err = p.run(r.Context(), t, func(tx pgx.Tx, _ *booking.Bookings, set reservas.Settings) error {
		ctx := r.Context()
		out.HoldMinutes, out.HorizonDays = set.HoldMinutes, set.HorizonDays
		bs, err := booking.ListBranches(ctx, tx, false)
		if err != nil {
			return err
		}
		for _, b := range bs {
			out.Branches = append(out.Branches, publicBranch{ID: b.ID, Name: b.Name, Address: b.Address, Phone: b.Phone, TimeZone: b.TimeZone})
		}
		ss, err := booking.ListServices(ctx, tx, false)
		if err != nil {
			return err
		}
		for _, sv := range ss {
			if set.ServiceBookable(sv.ID) {
				out.Services = append(out.Services, publicService{ID: sv.ID, Name: sv.Name, Description: sv.Description,
					DurationMinutes: sv.DurationMinutes, PriceCents: sv.PriceCents, Currency: sv.Currency})
			}
		}
		return nil
	})
	if err != nil {
		p.s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, out)
}

func (p *publicAPI) staff(w http.ResponseWriter, r *http.Request) {
	q, err := queryOf(r, "sede_id", "servicio_id")
	var branchID, serviceID int64
	if err == nil {
		branchID, err = queryID(q, "sede_id")
	}
	if err == nil {
		serviceID, err = queryID(q, "servicio_id")
	}
	if err == nil && (branchID == 0 || serviceID == 0) {
		err = invalidQuery("sede_id", "sede_id and servicio_id are required")
	}
	if err != nil {
		p.s.fail(w, r, err)
		return
	}
	_, t, err := p.org(r, false)
	if err != nil {
		p.s.fail(w, r, err)
		return
	}
	out := listOf[publicStaff]{Items: []publicStaff{}}
	now := p.s.cfg.Now()
	err = p.run(r.Context(), t, func(tx pgx.Tx, b *booking.Bookings, set reservas.Settings) error {
		today := booking.DateOf(now)
		a, err := reservas.Availability(r.Context(), tx, b, set, reservas.AvailabilityRequest{BranchID: branchID, ServiceID: serviceID,
			From: today, To: today, Now: now})
		if err != nil {
			return err
		}
		for _, st := range a.Staff {
			out.Items = append(out.Items, publicStaff{ID: st.StaffID, Name: st.Name})
		}
		return nil
	})
	if err != nil {
		p.s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, out)
}

func (p *publicAPI) availability(w http.ResponseWriter, r *http.Request) {
	q, err := queryOf(r, "sede_id", "servicio_id", "desde", "hasta", "profesional_id")
	var in reservas.AvailabilityRequest
	if err == nil {
		in.BranchID, err = queryID(q, "sede_id")
	}
	if err == nil {
		in.ServiceID, err = queryID(q, "servicio_id")
	}
	if err == nil {
		in.StaffID, err = queryID(q, "profesional_id")
	}
	if err == nil {
		in.From, err = queryDate(q, "desde")
	}
	if err == nil {
		in.To, err = queryDate(q, "hasta")
	}
	if err == nil && (in.BranchID == 0 || in.ServiceID == 0 || in.From.IsZero() || in.To.IsZero()) {
		err = invalidQuery("sede_id", "sede_id, servicio_id, desde and hasta are required")
	}
	if err != nil {
		p.s.fail(w, r, err)
		return
	}
	_, t, err := p.org(r, false)
	if err != nil {
		p.s.fail(w, r, err)
		return
	}
	in.Now = p.s.cfg.Now()
	var out booking.Availability
	err = p.run(r.Context(), t, func(tx pgx.Tx, b *booking.Bookings, set reservas.Settings) error {
		out, err = reservas.Availability(r.Context(), tx, b, set, in)
		return err
	})
	if err != nil {
		p.s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, out)
}

// holdRequest is the body of POST /api/publico/{slug}/retenciones.
type holdRequest struct {
	SedeID        int64  `json:"sede_id" openapi:"required"`
	ServicioID    int64  `json:"servicio_id" openapi:"required"`
	ProfesionalID int64  `json:"profesional_id" openapi:"required"`
	Inicio        string `json:"inicio" openapi:"required"`
	// SitioWeb is a honeypot: people never fill it in.
	SitioWeb string `json:"sitio_web"`
}

func (p *publicAPI) hold(w http.ResponseWriter, r *http.Request) {
	var in holdRequest
	if err := p.s.decodeJSON(w, r, &in); err != nil {
		p.s.fail(w, r, err)
		return
	}
	if err := honeypot(in.SitioWeb); err != nil {
		p.s.fail(w, r, err)
		return
	}
	start, err := parseInstant("inicio", in.Inicio)
	if err != nil {
		p.s.fail(w, r, err)
		return
	}
	_, t, err := p.org(r, true)
	if err != nil {
		p.s.fail(w, r, err)
		return
	}
	now := p.s.cfg.Now()
	var h reservas.Hold
	err = p.run(r.Context(), t, func(tx pgx.Tx, b *booking.Bookings, set reservas.Settings) error {
		h, err = reservas.CreateHold(r.Context(), tx, b, set, reservas.NewHold{BranchID: in.SedeID, ServiceID: in.ServicioID,
			StaffID: in.ProfesionalID, Start: start, ClientIP: infoFrom(r.Context()).clientIP}, now)
		return err
	})
	if err != nil {
		p.s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, h)
}

// confirmRequest is the body of POST /api/publico/{slug}/reservas.
type confirmRequest struct {
	RetencionID     int64  `json:"retencion_id" openapi:"required"`
	RetencionToken  string `json:"retencion_token" openapi:"required"`
	ClienteNombre   string `json:"cliente_nombre" openapi:"required"`
	ClienteTelefono string `json:"cliente_telefono" openapi:"required"`
	ClienteEmail    string `json:"cliente_email" openapi:"required"`
	// Consentimiento is the client's consent to be contacted about the appointment; required.
	Consentimiento bool `json:"consentimiento" openapi:"required"`
	// Idioma is the e-mail's language: es (default) or en.
	Idioma string `json:"idioma"`
	// SitioWeb is a honeypot: people never fill it in.
	SitioWeb string `json:"sitio_web"`
}

// publicAppointment is a booked appointment as its client sees it.
type publicAppointment struct {
	ID      int64     `json:"id"`
	Start   time.Time `json:"inicio"`
	End     time.Time `json:"fin"`
	Status  string    `json:"estado"`
	StaffID int64     `json:"profesional_id"`
}

// confirmedBody is the answer of POST /api/publico/{slug}/reservas.
type confirmedBody struct {
	Appointment publicAppointment `json:"cita"`
	// Email is where the confirmation with the manage link goes.
	Email string `json:"cliente_email"`
}

// baseURL is where clients reach this server.
func (p *publicAPI) baseURL(r *http.Request) string {
	if p.cfg.BaseURL != "" {
		return p.cfg.BaseURL
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

func (p *publicAPI) confirm(w http.ResponseWriter, r *http.Request) {
	var in confirmRequest
	if err := p.s.decodeJSON(w, r, &in); err != nil {
		p.s.fail(w, r, err)
		return
	}
	if err := honeypot(in.SitioWeb); err != nil {
		p.s.fail(w, r, err)
		return
	}
	org, t, err := p.org(r, true)
	if err != nil {
		p.s.fail(w, r, err)
		return
	}
	ctx := r.Context()
	if in.RetencionID > 0 && p.cfg.Mail != nil {
		// Queued before the booking's transaction, so that no crash after its commit loses the e-mail;
		// the job sends nothing if the booking never commits.
		if err := p.cfg.Mail.QueueBookingMail(ctx, org.ID, in.RetencionID); err != nil {
			p.s.fail(w, r, errDatabaseUnavailable(err))
			return
		}
	}
	now := p.s.cfg.Now()
	var booked reservas.Booked
	c := reservas.Confirmation{HoldID: in.RetencionID, HoldToken: in.RetencionToken, Name: in.ClienteNombre, Phone: in.ClienteTelefono,
		Email: in.ClienteEmail, Consent: in.Consentimiento, Lang: in.Idioma}
	err = p.run(ctx, t, func(tx pgx.Tx, b *booking.Bookings, set reservas.Settings) error {
		if p.s.cfg.Billing != nil {
			// The plan's monthly appointments count online bookings too, as POST /api/citas does.
			err := p.s.cfg.Billing.CheckLimitTx(ctx, tx, org.ID, billing.LimitAppointmentsPerMonth, now)
			if errors.Is(err, billing.ErrLimitReached) {
				return apiError(http.StatusConflict, "plan_limit_reached", "Este negocio no puede recibir más reservas en línea por ahora. Comunícate con él.")
			}
			if err != nil {
				return err
			}
		}
		booked, err = reservas.Confirm(ctx, tx, b, set, reservas.Org{Name: org.Name, Slug: org.Slug, BaseURL: p.baseURL(r)}, c, now)
		return err
	})
	var be *booking.Error
	if errors.As(err, &be) && be.Code == "slot_taken" {
		// The time was taken meanwhile: let the hold go, so that the fresh times the page shows are right.
		_ = p.s.tenancy.Run(ctx, t, func(tx pgx.Tx) error { return reservas.ReleaseHold(ctx, tx, in.RetencionID, in.RetencionToken) })
	}
	if err != nil {
		p.s.fail(w, r, err)
		return
	}
	a := booked.Appointment
	writeJSON(w, http.StatusCreated, confirmedBody{Email: a.ClientEmail,
		Appointment: publicAppointment{ID: a.ID, Start: a.Start, End: a.End, Status: a.Status, StaffID: a.StaffID}})
}

// managed answers a request of the manage link: fn acts on the appointment of the URL's token in
// the organization's scope (write: a change, rate limited as one), and the answer is what fn
// returns, with the organization's name.
func (p *publicAPI) managed(w http.ResponseWriter, r *http.Request, write bool,
	fn func(ctx context.Context, tx pgx.Tx, b *booking.Bookings, set reservas.Settings, token string, now time.Time) (reservas.Managed, error)) {
	org, t, err := p.org(r, write)
	if err != nil {
		p.s.fail(w, r, err)
		return
	}
	now := p.s.cfg.Now()
	var out reservas.Managed
	err = p.run(r.Context(), t, func(tx pgx.Tx, b *booking.Bookings, set reservas.Settings) error {
		var err error
		out, err = fn(r.Context(), tx, b, set, r.PathValue("token"), now)
		return err
	})
	if err != nil {
		p.s.fail(w, r, err)
		return
	}
	out.Organization = org.Name
	writeJSON(w, http.StatusOK, out)
}

func (p *publicAPI) manage(w http.ResponseWriter, r *http.Request) {
	p.managed(w, r, false, func(ctx context.Context, tx pgx.Tx, _ *booking.Bookings, set reservas.Settings, token string, now time.Time) (reservas.Managed, error) {
		return reservas.Manage(ctx, tx, set, token, now)
	})
}

// publicRescheduleRequest is the body of POST /api/publico/{slug}/citas/{token}/reprogramar.
type publicRescheduleRequest struct {
	Inicio string `json:"inicio" openapi:"required"`
	// ProfesionalID moves the appointment to another staff member (0 or absent: the same one).
	ProfesionalID int64 `json:"profesional_id"`
}

func (p *publicAPI) reschedule(w http.ResponseWriter, r *http.Request) {
	var in publicRescheduleRequest
	if err := p.s.decodeJSON(w, r, &in); err != nil {
		p.s.fail(w, r, err)
		return
	}
	start, err := parseInstant("inicio", in.Inicio)
	if err != nil {
		p.s.fail(w, r, err)
		return
	}
	p.managed(w, r, true, func(ctx context.Context, tx pgx.Tx, b *booking.Bookings, set reservas.Settings, token string, now time.Time) (reservas.Managed, error) {
		return reservas.Reschedule(ctx, tx, b, set, token, start, in.ProfesionalID, now)
	})
}

func (p *publicAPI) cancel(w http.ResponseWriter, r *http.Request) {
	p.managed(w, r, true, func(ctx context.Context, tx pgx.Tx, _ *booking.Bookings, set reservas.Settings, token string, now time.Time) (reservas.Managed, error) {
		return reservas.Cancel(ctx, tx, set, token, now)
	})
}
