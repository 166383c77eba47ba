package api

import "github.com/appcitas/appcitas/internal/booking"

// bookingRoutes returns the booking API's routes (item 3): branches, services, members, working
// hours, exceptions, appointments and availability. All are tenant routes: each handler runs its
// SQL through s.inTenant, and the role rules live in the handlers (admin: everything;
// receptionist: everyone's agenda, no configuration; staff: their own agenda, read-only
// configuration).
func (s *Server) bookingRoutes() []route {
	const (
		tagBranches     = "sedes"
		tagServices     = "servicios"
		tagMembers      = "miembros"
		tagSchedule     = "horarios"
		tagAppointments = "citas"
	)
	listQuery := []param{qBool("incluir_inactivos", "true to include inactive rows")}
	citasQuery := []param{
		qString("desde", "start, YYYY-MM-DD (local day of the branch, or of the organization without sede_id) or RFC 3339"),
		qString("hasta", "end, YYYY-MM-DD (included) or RFC 3339 (excluded)"),
		qID("sede_id", "branch id"),
		qID("profesional_id", "staff member (profile) id"),
		qEnum("estado", "appointment status", "pendiente", "confirmada", "completada", "cancelada", "no_asistio"),
		qString("cliente", "substring of the client's name, phone or email"),
		qInt("limit", "page size (default 50)", 1, 200),
		qString("cursor", "next_cursor of the previous page"),
	}
	id := []int{404}
	return []route{
		{method: "GET", path: "/api/sedes", access: tenant, handler: s.listBranches, tag: tagBranches,
			summary: "List branches", query: listQuery, response: listOf[booking.Branch]{}},
		{method: "POST", path: "/api/sedes", access: tenant, handler: s.createBranch, tag: tagBranches,
			summary: "Create a branch (admin)", request: booking.BranchPatch{}, response: booking.Branch{}, status: 201},
		{method: "GET", path: "/api/sedes/{id}", access: tenant, handler: s.getBranch, tag: tagBranches,
			summary: "Get a branch", response: booking.Branch{}, errors: id},
		{method: "PATCH", path: "/api/sedes/{id}", access: tenant, handler: s.updateBranch, tag: tagBranches,
			summary: "Change a branch (admin)", request: booking.BranchPatch{}, response: booking.Branch{}, errors: id},
		{method: "DELETE", path: "/api/sedes/{id}", access: tenant, handler: s.deactivateBranch, tag: tagBranches,
			summary: "Deactivate a branch (admin)", response: booking.Branch{}, errors: id},

		{method: "GET", path: "/api/servicios", access: tenant, handler: s.listServices, tag: tagServices,
			summary: "List services", query: listQuery, response: listOf[booking.Service]{}},
		{method: "POST", path: "/api/servicios", access: tenant, handler: s.createService, tag: tagServices,
			summary: "Create a service (admin)", request: booking.ServicePatch{}, response: booking.Service{}, status: 201},
		{method: "GET", path: "/api/servicios/{id}", access: tenant, handler: s.getService, tag: tagServices,
			summary: "Get a service", response: booking.Service{}, errors: id},
		{method: "PATCH", path: "/api/servicios/{id}", access: tenant, handler: s.updateService, tag: tagServices,
			summary: "Change a service (admin)", request: booking.ServicePatch{}, response: booking.Service{}, errors: id},
		{method: "DELETE", path: "/api/servicios/{id}", access: tenant, handler: s.deactivateService, tag: tagServices,
			summary: "Deactivate a service (admin)", response: booking.Service{}, errors: id},

		{method: "GET", path: "/api/miembros", access: tenant, handler: s.listMembers, tag: tagMembers,
			summary: "List members", query: listQuery, response: listOf[booking.Member]{}},
		{method: "POST", path: "/api/miembros", access: tenant, handler: s.addMember, tag: tagMembers,
			summary: "Add an existing user with a role (admin)", request: booking.NewMember{}, response: booking.Member{}, status: 201, errors: []int{409}},
		{method: "GET", path: "/api/miembros/{id}", access: tenant, handler: s.getMember, tag: tagMembers,
			summary: "Get a member", response: booking.Member{}, errors: id},
		{method: "PATCH", path: "/api/miembros/{id}", access: tenant, handler: s.updateMember, tag: tagMembers,
			summary: "Change a member's role, name, branch or active flag (admin)", request: booking.MemberPatch{}, response: booking.Member{}, errors: id},
		{method: "DELETE", path: "/api/miembros/{id}", access: tenant, handler: s.deactivateMember, tag: tagMembers,
			summary: "Deactivate a member (admin)", response: booking.Member{}, errors: []int{404, 409}},
		{method: "GET", path: "/api/miembros/{id}/horario", access: tenant, handler: s.getHours, tag: tagSchedule,
			summary: "A staff member's weekly working hours with breaks", response: hoursBody{}, errors: id},
		{method: "PUT", path: "/api/miembros/{id}/horario", access: tenant, handler: s.putHours, tag: tagSchedule,
			summary: "Replace a staff member's weekly working hours (admin)", request: hoursBody{}, response: hoursBody{}, errors: []int{404, 409}},

		{method: "GET", path: "/api/excepciones", access: tenant, handler: s.listExceptions, tag: tagSchedule,
			summary: "List date exceptions (days off, holidays, special hours)", response: listOf[booking.Exception]{},
			query: []param{qDate("desde", "first day"), qDate("hasta", "last day"), qID("sede_id", "branch id"), qID("profesional_id", "staff member id")}},
		{method: "POST", path: "/api/excepciones", access: tenant, handler: s.createException, tag: tagSchedule,
			summary: "Add a date exception (admin, receptionist)", request: exceptionRequest{}, response: booking.Exception{}, status: 201},
		{method: "DELETE", path: "/api/excepciones/{id}", access: tenant, handler: s.deleteException, tag: tagSchedule,
			summary: "Remove a date exception (admin, receptionist)", errors: id},

		{method: "GET", path: "/api/disponibilidad", access: tenant, handler: s.availability, tag: tagAppointments,
			summary:  "Free slots of a service at a branch per staff member, over at most 31 local days",
			response: booking.Availability{}, query: []param{
				qID("servicio_id", "service id").must(), qID("sede_id", "branch id").must(),
				qDate("desde", "first local day").must(), qDate("hasta", "last local day").must(),
				qID("profesional_id", "only this staff member"),
			}},
		{method: "GET", path: "/api/citas", access: tenant, handler: s.listAppointments, tag: tagAppointments,
			summary: "List appointments by start time (keyset pages); staff see only their own", query: citasQuery, response: booking.AppointmentPage{}},
		{method: "POST", path: "/api/citas", access: tenant, handler: s.createAppointment, tag: tagAppointments,
			summary: "Book an appointment (409 when the staff member is already busy). Safe to retry with Idempotency-Key: the same key and body answer 200 with the appointment it booked", request: appointmentRequest{},
			response: booking.Appointment{}, status: 201, alsoStatus: []int{200}, errors: []int{409, 422},
			headers: []param{qString("Idempotency-Key", "Any text: a retry with the same key and body answers what the first request did")}, responseHeaders: []param{qEnum("Idempotent-Replayed", "true on a replayed answer", "true")}},
		{method: "GET", path: "/api/citas/{id}", access: tenant, handler: s.getAppointment, tag: tagAppointments,
			summary: "Get an appointment", response: booking.Appointment{}, errors: id},
		{method: "POST", path: "/api/citas/{id}/reprogramar", access: tenant, handler: s.rescheduleAppointment, tag: tagAppointments,
			summary: "Move an appointment to a new start and optionally another staff member", request: rescheduleRequest{},
			response: booking.Appointment{}, errors: []int{404, 409}},
		{method: "POST", path: "/api/citas/{id}/cancelar", access: tenant, handler: s.cancelAppointment, tag: tagAppointments,
			summary: "Cancel an appointment (motivo required); frees the time", request: cancelRequest{},
			response: booking.Appointment{}, errors: []int{404, 409}},
		{method: "POST", path: "/api/citas/{id}/confirmar", access: tenant, handler: s.setAppointmentStatus(booking.StatusConfirmed), tag: tagAppointments,
			summary: "Confirm a pending appointment", response: booking.Appointment{}, errors: []int{404, 409}},
		{method: "POST", path: "/api/citas/{id}/completar", access: tenant, handler: s.setAppointmentStatus(booking.StatusCompleted), tag: tagAppointments,
			summary: "Mark an appointment completed", response: booking.Appointment{}, errors: []int{404, 409}},
		{method: "POST", path: "/api/citas/{id}/no-asistio", access: tenant, handler: s.setAppointmentStatus(booking.StatusNoShow), tag: tagAppointments,
			summary: "Mark that the client did not come", response: booking.Appointment{}, errors: []int{404, 409}},
		{method: "GET", path: "/api/reportes/citas", access: tenant, handler: s.appointmentReport, tag: tagAppointments,
			summary:  "Appointments of a branch over at most 366 local days: by state, staff member and service, no-show rate and completed revenue; staff see only their own",
			response: booking.Report{}, contentTypes: []string{"application/json", "text/csv"}, query: []param{
				qID("sede_id", "branch id").must(), qDate("desde", "first local day").must(), qDate("hasta", "last local day (included)").must(),
				qEnum("format", "json (default) or csv", "json", "csv"),
			}},
	}
}
