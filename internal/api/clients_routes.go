package api

import "github.com/appcitas/appcitas/internal/booking"

// clientsRoutes returns the client directory's routes (issue 22, item 4). All are tenant routes.
// Admins and receptionists read and change every client; staff read only the clients of their own
// appointments, with only those appointments in the history and the counts, and change none.
func (s *Server) clientsRoutes() []route {
	const tag = "clientes"
	id := []int{404}
	return []route{
		{method: "GET", path: "/api/clientes", access: tenant, handler: s.listClients, tag: tag,
			summary:  "List clients by name (keyset pages), with appointment and no-show counts; staff see only clients of their own appointments",
			response: booking.ClientPage{}, query: []param{
				qString("q", "substring of the name, phone or email; digits also match the phone's digits"),
				qInt("limit", "page size (default 50)", 1, 200),
				qString("cursor", "next_cursor of the previous page"),
			}},
		{method: "POST", path: "/api/clientes", access: tenant, handler: s.createClient, tag: tag,
			summary: "Add a client (admin, receptionist); 409 when another client has the phone or email", request: clientRequest{},
			response: booking.Client{}, status: 201, errors: []int{409}},
		{method: "GET", path: "/api/clientes/{id}", access: tenant, handler: s.getClient, tag: tag,
			summary: "Get a client with appointment and no-show counts", response: booking.Client{}, errors: id},
		{method: "PATCH", path: "/api/clientes/{id}", access: tenant, handler: s.updateClient, tag: tag,
			summary: "Change a client's name, phone, email or notes (admin, receptionist)", request: booking.ClientPatch{},
			response: booking.Client{}, errors: []int{404, 409}},
		{method: "POST", path: "/api/clientes/{id}/fusionar", access: tenant, handler: s.mergeClients, tag: tag,
			summary: "Merge client cliente_id into this one (admin, receptionist): its appointments move here and it is removed",
			request: mergeRequest{}, response: booking.Client{}, errors: []int{404, 409}},
		{method: "GET", path: "/api/clientes/{id}/citas", access: tenant, handler: s.clientAppointments, tag: tag,
			summary: "A client's appointments, the latest first (keyset pages); staff see only their own", response: booking.AppointmentPage{},
			errors: id, query: []param{
				qInt("limit", "page size (default 50)", 1, 200),
				qString("cursor", "next_cursor of the previous page"),
			}},
	}
}
