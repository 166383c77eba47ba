package api

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/appcitas/appcitas/internal/auth"
	"github.com/appcitas/appcitas/internal/booking"
	"github.com/appcitas/appcitas/internal/feeds"
	"github.com/appcitas/appcitas/internal/tenancy"
)

// feedsRoutes returns the calendar feed routes (issue 23, item 4): members manage secret
// iCalendar URLs, and calendar clients fetch them without an account. Staff manage their own
// feed; receptionists their own and the branches'; admins any.
func (s *Server) feedsRoutes() []route {
	const tag = "calendarios"
	return []route{
		{method: "GET", path: "/api/calendarios", access: tenant, handler: s.listFeeds, tag: tag,
			summary:  "List the calendar feeds the caller may manage (never their tokens); staff see their own, receptionists theirs and the branches', admins all",
			response: listOf[feeds.Feed]{}, query: []param{qBool("incluir_revocados", "true to include revoked feeds")}},
		{method: "POST", path: "/api/calendarios", access: tenant, handler: s.createFeed, tag: tag,
			summary: "Create a calendar feed of a staff member or a branch; the answer holds its secret URL, shown only this once",
			request: feedRequest{}, response: createdFeed{}, status: 201, errors: []int{404}},
		{method: "DELETE", path: "/api/calendarios/{id}", access: tenant, handler: s.revokeFeed, tag: tag,
			summary: "Revoke a calendar feed: its URL answers 404 from now on", response: feeds.Feed{}, errors: []int{404}},
		{method: "GET", path: "/cal/{slug}/{file}", access: public, handler: s.serveFeed, tag: tag,
			summary:  "A calendar feed (iCalendar, RFC 5545) for calendar clients; {file} is <token>.ics. No account: the token is the credential; a wrong or revoked one is 404",
			response: "", contentTypes: []string{"text/calendar"}, notModified: true, errors: []int{404, 429, 503},
			headers: []param{qString("If-None-Match", "The ETag of a copy held"), qString("If-Modified-Since", "The Last-Modified of a copy held")},
			responseHeaders: []param{qString("ETag", "The version of the feed").must(), qString("Last-Modified", "The latest change the feed shows").must(),
				qString("Cache-Control", "How long a copy may be reused").must()}},
	}
}

// feedLimitOptions fills the default feed rate: a burst of 60 per address, then one a second.
func feedLimitOptions(o auth.LimitOptions) auth.LimitOptions {
	if o.Burst <= 0 {
		o = auth.LimitOptions{Burst: 60, Every: time.Second, MaxKeys: o.MaxKeys}
	}
	return o
}

// feedRequest is the body of POST /api/calendarios.
type feedRequest struct {
	// Kind is "profesional" (a staff member's appointments) or "sede" (a branch's).
	Kind feeds.Kind `json:"tipo" openapi:"required"`
	// StaffID is the staff member of a "profesional" feed; defaults to the caller.
	StaffID *int64 `json:"profesional_id,omitempty"`
	// BranchID is the branch of a "sede" feed.
	BranchID *int64 `json:"sede_id,omitempty"`
	// Label tells the caller's feeds apart ("iPhone").
	Label string `json:"etiqueta,omitempty"`
}

// createdFeed is the answer of POST /api/calendarios: the feed and its secret, shown once.
type createdFeed struct {
	feeds.Feed
	// Token is the feed's secret; it is not stored and cannot be shown again.
	Token string `json:"token"`
	// Path is the feed's path on this server: /cal/<slug>/<token>.ics.
	Path string `json:"ruta"`
	// URL is the feed's https URL as this request reached the server.
	URL string `json:"url"`
	// WebcalURL is the same URL with the webcal scheme, which opens a calendar app.
	WebcalURL string `json:"webcal_url"`
}

// errFeedNotFound is the 404 of a feed URL whose organization, token or target is unknown,
// revoked or inactive: which one it was is not told.
func errFeedNotFound() *Error {
	return apiError(http.StatusNotFound, "feed_not_found", "no calendar feed at this URL")
}

// feedError maps the feeds package's errors to API errors.
func feedError(err error) error {
	switch {
	case errors.Is(err, feeds.ErrNotFound):
		return &Error{Status: http.StatusNotFound, Code: "not_found", Message: "calendar feed not found", Err: err}
	case errors.Is(err, feeds.ErrInvalid):
		msg, _ := strings.CutPrefix(err.Error(), feeds.ErrInvalid.Error()+": ")
		return &Error{Status: http.StatusBadRequest, Code: "invalid_input", Message: msg, Err: err}
	}
	return err
}

// mayManageFeed says whether m may see and revoke f: admins any; everyone their own staff feed;
// receptionists the branch feeds.
func mayManageFeed(m Member, f feeds.Feed) bool {
	switch {
	case m.Role == booking.RoleAdmin:
		return true
	case f.Kind == feeds.KindStaff && f.StaffID != nil && *f.StaffID == m.ProfileID && m.ProfileID != 0:
		return true
	case f.Kind == feeds.KindBranch && m.Role == booking.RoleReceptionist:
		return true
	}
	return false
}

func (s *Server) listFeeds(w http.ResponseWriter, r *http.Request) {
	q, err := queryOf(r, "incluir_revocados")
	if err != nil {
		s.fail(w, r, err)
		return
	}
	revoked, err := false, error(nil)
	if v := q.Get("incluir_revocados"); v != "" {
		if revoked, err = strconv.ParseBool(v); err != nil {
			err = invalidQuery("incluir_revocados", "must be true or false")
		}
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.inTenant(w, r, func(ctx context.Context, tx pgx.Tx, m Member) error {
		f := feeds.Filter{IncludeRevoked: revoked}
		switch m.Role {
		case booking.RoleAdmin:
		case booking.RoleReceptionist:
			f.StaffID, f.Branches = m.ProfileID, true
		default:
			f.StaffID = m.ProfileID
		}
		list, err := feeds.List(ctx, tx, f)
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, listOf[feeds.Feed]{Items: list})
		return nil
	})
}

func (s *Server) createFeed(w http.ResponseWriter, r *http.Request) {
	var req feedRequest
	if err := s.decodeJSON(w, r, &req); err != nil {
		s.fail(w, r, err)
		return
	}
	s.inTenant(w, r, func(ctx context.Context, tx pgx.Tx, m Member) error {
		c, _ := callerFrom(ctx)
		in := feeds.NewFeed{Kind: req.Kind, Label: req.Label, CreatedBy: m.ProfileID}
		switch req.Kind {
		case feeds.KindStaff:
			in.StaffID = m.ProfileID
			if req.StaffID != nil {
				in.StaffID = *req.StaffID
			}
			if req.BranchID != nil {
				return apiError(http.StatusBadRequest, "invalid_input", "a feed of kind profesional takes no sede_id")
			}
			if in.StaffID <= 0 {
				return &Error{Status: http.StatusBadRequest, Code: "invalid_input", Field: "profesional_id", Message: "profesional_id: is required"}
			}
			if m.Role != booking.RoleAdmin && in.StaffID != m.ProfileID {
				return apiError(http.StatusForbidden, "forbidden", "your role (%s) may only create your own calendar feed", m.Role)
			}
			mem, err := booking.GetMember(ctx, tx, in.StaffID)
			if err != nil {
				return err
			}
			if !mem.Active {
				return apiError(http.StatusBadRequest, "invalid_input", "member %d is inactive", mem.ID)
			}
		case feeds.KindBranch:
			if m.Role != booking.RoleAdmin && m.Role != booking.RoleReceptionist {
				return apiError(http.StatusForbidden, "forbidden", "your role (%s) may not create a branch's calendar feed", m.Role)
			}
			if req.BranchID == nil || *req.BranchID <= 0 {
				return &Error{Status: http.StatusBadRequest, Code: "invalid_input", Field: "sede_id", Message: "sede_id: is required for a feed of kind sede"}
			}
			if req.StaffID != nil {
				return apiError(http.StatusBadRequest, "invalid_input", "a feed of kind sede takes no profesional_id")
			}
			in.BranchID = *req.BranchID
			b, err := booking.GetBranch(ctx, tx, in.BranchID)
			if err != nil {
				return err
			}
			if !b.Active {
				return apiError(http.StatusBadRequest, "invalid_input", "branch %d is inactive", b.ID)
			}
		}
		f, token, err := feeds.Create(ctx, tx, in)
		if err != nil {
			return feedError(err)
		}
		path := "/cal/" + c.Org.Slug + "/" + token + ".ics"
		url := s.externalBase(r) + path
		writeJSON(w, http.StatusCreated, createdFeed{Feed: f, Token: token, Path: path, URL: url,
			WebcalURL: "webcal://" + strings.TrimPrefix(strings.TrimPrefix(url, "https://"), "http://")})
		return nil
	})
}

// externalBase is the scheme and host the client reached: https unless the request came over
// plain HTTP from a client (not through a trusted proxy that says https).
func (s *Server) externalBase(r *http.Request) string {
	scheme := "https"
	if r.TLS == nil {
		scheme = "http"
		if s.peerTrusted(r) && strings.EqualFold(r.Header.Get("X-Forwarded-Proto"), "https") {
			scheme = "https"
		}
	}
	return scheme + "://" + r.Host
}

// peerTrusted says whether the request's peer is a trusted proxy.
func (s *Server) peerTrusted(r *http.Request) bool {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	a, err := netip.ParseAddr(host)
	return err == nil && s.proxies.trusts(a)
}

func (s *Server) revokeFeed(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.inTenant(w, r, func(ctx context.Context, tx pgx.Tx, m Member) error {
		f, err := feeds.Get(ctx, tx, id)
		if err != nil {
			return feedError(err)
		}
		if !mayManageFeed(m, f) {
			// Someone else's feed is not found, as another staff member's appointment is.
			return feedError(feeds.ErrNotFound)
		}
		f, err = feeds.Revoke(ctx, tx, id)
		if err != nil {
			return feedError(err)
		}
		writeJSON(w, http.StatusOK, f)
		return nil
	})
}

// feedStatementTimeout bounds each statement of a feed request.
const feedStatementTimeout = 5 * time.Second

// serveFeed answers GET /cal/{slug}/{token}.ics: the feed as text/calendar, with an ETag (a hash
// of the body), Last-Modified and Cache-Control, or 304 when the client's copy is current. Every
// way the URL can be wrong (organization, token, revoked, inactive target) is the same 404.
func (s *Server) serveFeed(w http.ResponseWriter, r *http.Request) {
	info := infoFrom(r.Context())
	slug := r.PathValue("slug")
	token, isICS := strings.CutSuffix(r.PathValue("file"), ".ics")
	info.logPath = "/cal/" + slug + "/<token>"
	if tenancy.ValidateSlug(slug) != nil {
		info.logPath = "/cal/<slug>/<token>"
	}
	if ok, wait := s.feedLimit.Allow(info.clientIP); !ok {
		s.fail(w, r, &Error{Status: http.StatusTooManyRequests, Code: "too_many_requests", Message: "too many calendar requests from this address; try again later", RetryAfter: wait})
		return
	}
	if !isICS || tenancy.ValidateSlug(slug) != nil {
		s.fail(w, r, errFeedNotFound())
		return
	}
	org, err := s.tenancy.OrganizationBySlug(r.Context(), slug)
	if errors.Is(err, tenancy.ErrNotFound) {
		s.fail(w, r, errFeedNotFound())
		return
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	t, err := org.Tenant()
	if err != nil || !org.IsActive {
		s.fail(w, r, errFeedNotFound())
		return
	}
	info.orgID = org.ID
	var doc feeds.Document
	opts := tenancy.RunOptions{ReadOnly: true, StatementTimeoutMillis: int(feedStatementTimeout / time.Millisecond)}
	err = s.tenancy.RunWith(r.Context(), t, opts, func(tx pgx.Tx) error {
		f, err := feeds.Resolve(r.Context(), tx, token)
		if err != nil {
			return err
		}
		doc, err = feeds.Build(r.Context(), tx, f, feeds.Organization{Slug: org.Slug, Name: org.Name, TimeZone: org.TimeZone}, s.zones, s.cfg.Now())
		return err
	})
	if errors.Is(err, feeds.ErrNotFound) {
		s.fail(w, r, errFeedNotFound())
		return
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if doc.Truncated {
		s.log.WarnContext(r.Context(), "calendar feed cut at its size bound", "org", org.ID, "events", doc.Events)
	}
	sum := sha256.Sum256(doc.Body)
	etag := `"` + hex.EncodeToString(sum[:16]) + `"`
	h := w.Header()
	h.Set("ETag", etag)
	h.Set("Last-Modified", doc.LastModified.Format(http.TimeFormat))
	// The URL is a secret: no shared cache keeps it. A client may reuse its copy for 5 minutes.
	h.Set("Cache-Control", "private, max-age=300")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Robots-Tag", "noindex")
	if notModified(r, etag, doc.LastModified) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	h.Set("Content-Type", "text/calendar; charset=utf-8")
	h.Set("Content-Disposition", `inline; filename="citas.ics"`)
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		_, _ = w.Write(doc.Body)
	}
}

// notModified applies RFC 9110's conditional GET: If-None-Match when present, else
// If-Modified-Since.
func notModified(r *http.Request, etag string, lastModified time.Time) bool {
	if inm := r.Header.Get("If-None-Match"); inm != "" {
		for _, v := range strings.Split(inm, ",") {
			v = strings.TrimPrefix(strings.TrimSpace(v), "W/")
			if v == etag || v == "*" {
				return true
			}
		}
		return false
	}
	if ims := r.Header.Get("If-Modified-Since"); ims != "" {
		t, err := http.ParseTime(ims)
		return err == nil && !lastModified.After(t)
	}
	return false
}
