package api

import (
	"net/http"
	"regexp"
	"strings"
)

// access says what a route requires before its handler runs.
type access int

const (
	// public routes need nothing.
	public access = iota
	// authenticated routes need a valid access token.
	authenticated
	// tenant routes need a token and an organization (X-Organization-ID or the token's org claim),
	// known and active; their handlers run their SQL through inTenant, which checks membership.
	tenant
)

// route is one entry of the route table: the pattern, what it requires, its handler, and what the
// OpenAPI document says of it.
type route struct {
	method string
	// path is a ServeMux path pattern, e.g. "/api/citas/{id}".
	path    string
	access  access
	handler http.HandlerFunc
	// summary is one line for the OpenAPI document; tag groups operations there.
	summary string
	tag     string
	// request is a value of the JSON body type (nil: no body); response a value of the success
	// body type (nil: no body). query documents the query parameters.
	request  any
	response any
	query    []param
	// status is the success status. Defaults to 200 (204 when response is nil).
	status int
	// alsoStatus lists other success statuses that answer the same body (a replayed request).
	alsoStatus []int
	// headers documents the request headers the handler reads (beyond Authorization and
	// X-Organization-ID); responseHeaders the headers of the success answer.
	headers         []param
	responseHeaders []param
	// notModified says the route answers 304 when If-None-Match holds its ETag.
	notModified bool
	// contentTypes are the success body's media types when it is not JSON. Defaults to text/plain
	// for a string response, application/json otherwise.
	contentTypes []string
	// optionalBearer says a public route takes a bearer token when the server is configured so
	// (/metrics with APPCITAS_METRICS_TOKEN).
	optionalBearer bool
	// errors lists the documented error statuses beyond those implied by access.
	errors []int
}

// pattern returns the ServeMux pattern, e.g. "GET /api/me".
func (rt route) pattern() string { return rt.method + " " + rt.path }

func (rt route) successStatus() int {
	switch {
	case rt.status != 0:
		return rt.status
	case rt.response == nil:
		return http.StatusNoContent
	}
	return http.StatusOK
}

// routes is the route table: every route the API serves, and nothing else, is here (the OpenAPI
// document and its test are built from it). Tenant routes take access: tenant and run their SQL
// through s.inTenant. The booking API's routes come from bookingRoutes (booking_routes.go), the
// superusers' from adminRoutes (admin.go, admin_tenants.go), the dashboard page's from
// dashboardRoutes (dashboard.go).
func (s *Server) routes() []route {
	rs := []route{
		{method: "GET", path: "/healthz", access: public, handler: s.healthz, tag: "operations",
			summary: "Liveness: the process answers", response: map[string]string{}},
		{method: "GET", path: "/readyz", access: public, handler: s.readyz, tag: "operations",
			summary: "Readiness: the database answers and public is migrated", response: map[string]any{}, errors: []int{503}},
		{method: "GET", path: "/metrics", access: public, handler: s.metricsHandler(), tag: "operations",
			summary:  "Prometheus metrics (text exposition format); Authorization: Bearer <APPCITAS_METRICS_TOKEN> when that is set",
			response: "", contentTypes: []string{"text/plain"}, optionalBearer: true, errors: []int{401}},
		{method: "GET", path: "/api/openapi.json", access: public, handler: s.openapi, tag: "operations",
			summary: "This OpenAPI 3 document", response: map[string]any{}},

		{method: "POST", path: "/api/auth/token", access: public, handler: s.token, tag: "auth",
			summary: "Log in with username or email and password: an access token and a refresh token",
			request: tokenRequest{}, response: tokenResponse{}, headers: []param{sessionHeaderParam()}, responseHeaders: []param{qString("Set-Cookie", "With X-Session-Cookie: 1, the session cookie (HttpOnly; Secure; SameSite=Strict; Path=/api/auth)")}, errors: []int{400, 401, 403, 404, 413, 415, 429}},
		{method: "POST", path: "/api/auth/refresh", access: public, handler: s.refresh, tag: "auth",
			summary: "Trade a refresh token for new tokens (the old refresh token is spent)",
			request: refreshRequest{}, response: tokenResponse{}, headers: []param{sessionHeaderParam()}, responseHeaders: []param{qString("Set-Cookie", "With X-Session-Cookie: 1, the session cookie (HttpOnly; Secure; SameSite=Strict; Path=/api/auth)")}, errors: []int{400, 401, 413, 415}},
		{method: "POST", path: "/api/auth/logout", access: public, handler: s.logout, tag: "auth",
			summary: "Revoke a refresh token and every token descended from the same login",
			request: refreshRequest{}, headers: []param{sessionHeaderParam()}, responseHeaders: []param{qString("Set-Cookie", "With X-Session-Cookie: 1, the session cookie (HttpOnly; Secure; SameSite=Strict; Path=/api/auth)")}, errors: []int{400, 413, 415}},
		{method: "POST", path: "/api/auth/logout_all", access: authenticated, handler: s.logoutAll, tag: "auth",
			summary: "Sign out everywhere: revoke every refresh token of the caller and refuse every access token issued before"},
		{method: "GET", path: "/api/me", access: authenticated, handler: s.me, tag: "auth",
			summary: "The caller and the organizations they belong to", response: meResponse{}},
	}
	rs = append(rs, s.bookingRoutes()...)
	rs = append(rs, s.clientsRoutes()...) // clients_routes.go: the client directory
	rs = append(rs, s.billingRoutes()...)
	rs = append(rs, s.settingsRoutes()...) // settings_routes.go: organization, invitations, plan change
	rs = append(rs, s.adminRoutes()...)
	rs = append(rs, s.dashboardRoutes()...) // dashboard.go: the tenant dashboard's page, GET /admin
	rs = append(rs, s.webappRoutes()...)    // webapp.go: the businesses' web app, GET /app
	rs = append(rs, s.webhooksRoutes()...)  // webhooks_routes.go: webhook subscriptions and deliveries
	rs = append(rs, s.remindersRoutes()...) // reminders_routes.go: reminder settings and delivery log
	rs = append(rs, s.feedsRoutes()...)     // feeds_routes.go: calendar feeds (iCalendar)
	rs = append(rs, s.publicRoutes()...)    // public_routes.go: online booking, /api/publico and /r/{slug}
	return append(rs, s.extraRoutes...)     // extraRoutes: tests only
}

// sessionHeaderParam documents X-Session-Cookie: "1" asks for the refresh token in the session
// cookie instead of the body, and lets refresh and logout read it from there.
func sessionHeaderParam() param {
	return qString(sessionHeader, `"1": the refresh token travels in the HttpOnly session cookie, not in the JSON body`)
}

// handler builds the mux from the route table plus extra, wrapped in the middleware.
func (s *Server) handler() http.Handler {
	mux := http.NewServeMux()
	rs := s.routes()
	s.registered = s.registered[:0]
	for _, rt := range rs {
		mux.Handle(rt.pattern(), s.wrap(rt))
		s.registered = append(s.registered, rt.pattern())
	}
	mux.HandleFunc("/", s.noRoute)
	s.openapiDoc = buildOpenAPI(rs)
	s.mux = mux
	return s.middleware(mux)
}

// wrap applies a route's access requirements to its handler and records its pattern for logs and
// metrics (by pattern, never by raw path, so that ids do not explode label sets).
func (s *Server) wrap(rt route) http.Handler {
	h := rt.handler
	switch rt.access {
	case tenant:
		if rt.tag != "billing" {
			h = s.requireSubscription(h) // 402 for a suspended organization, billing excepted
		}
		h = s.authenticate(s.routeOrganization(h))
	case authenticated:
		h = s.authenticate(h)
	}
	pattern := rt.pattern()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		infoFrom(r.Context()).route = pattern
		h(w, r)
	})
}

var pathParam = regexp.MustCompile(`\{([A-Za-z_][A-Za-z0-9_]*)(\.\.\.)?\}`)

// pathParams returns the names of the wildcards of a path pattern.
func pathParams(path string) []string {
	var names []string
	for _, m := range pathParam.FindAllStringSubmatch(path, -1) {
		names = append(names, m[1])
	}
	return names
}

// openapiPath turns a ServeMux path into an OpenAPI path ("{rest...}" → "{rest}", "{$}" dropped).
func openapiPath(path string) string {
	path = strings.ReplaceAll(path, "{$}", "")
	return pathParam.ReplaceAllString(path, "{$1}")
}

// noRoute answers requests no pattern matched: 405 with Allow when the path exists for other
// methods, else 404. (The catch-all "/" pattern would otherwise hide the mux's own 405.)
func (s *Server) noRoute(w http.ResponseWriter, r *http.Request) {
	var allow []string
	for _, m := range []string{"GET", "POST", "PUT", "PATCH", "DELETE"} {
		probe := r.Clone(r.Context())
		probe.Method = m
		if _, pattern := s.mux.Handler(probe); pattern != "/" && pattern != "" {
			allow = append(allow, m)
		}
	}
	if len(allow) > 0 {
		w.Header().Set("Allow", strings.Join(allow, ", "))
		s.fail(w, r, apiError(http.StatusMethodNotAllowed, "method_not_allowed", "%s %s is not allowed; use %s", r.Method, r.URL.Path, strings.Join(allow, ", ")))
		return
	}
	s.fail(w, r, apiError(http.StatusNotFound, "not_found", "no route for %s %s", r.Method, r.URL.Path))
}
