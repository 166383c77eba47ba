package api

import (
	"github.com/appcitas/appcitas/internal/booking"
	"github.com/appcitas/appcitas/internal/reservas"
)

// publicRoutes returns online booking's routes (issue 23 items 1 and 2): the organization's rules
// (admin), an appointment's history, the public JSON API under /api/publico/{slug} (no account;
// rate limited per address and per organization) and the public page /r/{slug}.
func (s *Server) publicRoutes() []route {
	p := newPublicAPI(s)
	const (
		tagRules  = "reservas-en-linea"
		tagPublic = "publico"
		tagPage   = "pagina-publica"
	)
	slug := []int{404, 429}
	rs := []route{
		{method: "GET", path: "/api/reservas-en-linea", access: tenant, handler: p.getSettings, tag: tagRules,
			summary: "The organization's online booking rules (admin)", response: reservas.Settings{}},
		{method: "PUT", path: "/api/reservas-en-linea", access: tenant, handler: p.putSettings, tag: tagRules,
			summary: "Replace the organization's online booking rules (admin); null servicios or profesionales: every active one", request: settingsRequest{}, response: reservas.Settings{}},
		{method: "GET", path: "/api/citas/{id}/historial", access: tenant, handler: p.history, tag: "citas",
			summary: "What happened to an appointment, by whom (cliente, a user id, sistema); staff see only their own", response: listOf[booking.HistoryEntry]{}, errors: []int{404}},
		{method: "POST", path: "/api/citas/{id}/enlaces/revocar", access: tenant, handler: p.revokeLinks, tag: "citas",
			summary: "Revoke the client's manage links of an appointment (admin, receptionist)", response: revokedBody{}, errors: []int{404}},

		{method: "GET", path: "/api/publico/{slug}", access: public, handler: p.info, tag: tagPublic,
			summary: "The organization's public booking page data: name, branches and bookable services", response: publicInfo{}, errors: slug},
		{method: "GET", path: "/api/publico/{slug}/profesionales", access: public, handler: p.staff, tag: tagPublic,
			summary: "The staff bookable online for a service at a branch (display names only)", response: listOf[publicStaff]{},
			query: []param{qID("sede_id", "branch id").must(), qID("servicio_id", "service id").must()}, errors: []int{400, 404, 429}},
		{method: "GET", path: "/api/publico/{slug}/disponibilidad", access: public, handler: p.availability, tag: tagPublic,
			summary:  "Free times of a service at a branch (the branch's time zone), within the notice and horizon rules, minus other clients' holds",
			response: booking.Availability{}, query: []param{
				qID("sede_id", "branch id").must(), qID("servicio_id", "service id").must(),
				qDate("desde", "first local day").must(), qDate("hasta", "last local day").must(),
				qID("profesional_id", "only this staff member"),
			}, errors: []int{400, 404, 429}},
		{method: "POST", path: "/api/publico/{slug}/retenciones", access: public, handler: p.hold, tag: tagPublic,
			summary: "Hold a free time while the client fills in the form (409 when it is taken or the client holds too many)", request: holdRequest{},
			response: reservas.Hold{}, status: 201, errors: []int{404, 409, 429}},
		{method: "POST", path: "/api/publico/{slug}/reservas", access: public, handler: p.confirm, tag: tagPublic,
			summary: "Book the held time; the confirmation e-mail carries the manage link (409 when the hold expired or the time was taken)", request: confirmRequest{},
			response: confirmedBody{}, status: 201, errors: []int{404, 409, 429, 503}},
		{method: "GET", path: "/api/publico/{slug}/citas/{token}", access: public, handler: p.manage, tag: tagPublic,
			summary: "The appointment of a manage link and what the client may still do", response: reservas.Managed{}, errors: slug},
		{method: "POST", path: "/api/publico/{slug}/citas/{token}/reprogramar", access: public, handler: p.reschedule, tag: tagPublic,
			summary: "Move the appointment of a manage link to a free time (403 past the notice limit)", request: publicRescheduleRequest{},
			response: reservas.Managed{}, errors: []int{403, 404, 409, 429}},
		{method: "POST", path: "/api/publico/{slug}/citas/{token}/cancelar", access: public, handler: p.cancel, tag: tagPublic,
			summary: "Cancel the appointment of a manage link (403 past the notice limit)", response: reservas.Managed{}, errors: []int{403, 404, 409, 429}},
	}
	return append(rs, p.pageRoutes(tagPage)...)
}
