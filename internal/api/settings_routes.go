package api

import (
	"net/http"

	"github.com/appcitas/appcitas/internal/invitations"
)

// settingsRoutes returns the routes of the web app's settings (issue 22, item 5) that the booking
// API lacks: the organization's name and time zone, invitations by e-mail, and the plan change.
// The organization row and the invitations live in public; their admin-only routes still check
// the caller's profile through inTenant.
func (s *Server) settingsRoutes() []route {
	const (
		tagOrg         = "organizacion"
		tagInvitations = "invitaciones"
	)
	rs := []route{
		{method: "GET", path: "/api/organizacion", access: tenant, handler: s.getOrganization, tag: tagOrg,
			summary: "The routed organization's name, slug and time zone (admin)", response: organizationBody{}},
		{method: "PATCH", path: "/api/organizacion", access: tenant, handler: s.patchOrganization, tag: tagOrg,
			summary: "Rename the organization or change its time zone (admin)", request: organizationPatch{}, response: organizationBody{}},

		{method: "GET", path: "/api/invitaciones", access: tenant, handler: s.listInvitations, tag: tagInvitations,
			summary: "Pending invitations of the organization, newest first (admin)", response: listOf[invitations.Invitation]{}},
		{method: "POST", path: "/api/invitaciones", access: tenant, handler: s.createInvitation, tag: tagInvitations,
			summary:  "Invite an e-mail address with a role (admin): the e-mail carries a one-time link to /app#/invitacion/<token>; an earlier pending invitation of the address is revoked",
			request:  invitationRequest{},
			response: invitations.Invitation{}, status: http.StatusCreated, errors: []int{502, 503}},
		{method: "DELETE", path: "/api/invitaciones/{id}", access: tenant, handler: s.revokeInvitation, tag: tagInvitations,
			summary: "Revoke a pending invitation (admin)", errors: []int{404}},
		{method: "POST", path: "/api/invitaciones/consultar", access: public, handler: s.lookupInvitation, tag: tagInvitations,
			summary: "What a pending invitation offers: organization, role, e-mail, expiry (the token is proof enough)",
			request: invitationToken{}, response: invitationInfo{}, errors: []int{400, 404, 413, 415, 429}},
		{method: "POST", path: "/api/invitaciones/aceptar", access: public, handler: s.acceptInvitationNewUser, tag: tagInvitations,
			summary: "Accept an invitation as a new user with the invitation's e-mail, a username and a password; sign in with them afterwards",
			request: acceptNewUserRequest{}, response: acceptResponse{}, errors: []int{400, 402, 404, 409, 413, 415, 429}},
		{method: "POST", path: "/api/invitaciones/aceptar-con-sesion", access: authenticated, handler: s.acceptInvitationSignedIn, tag: tagInvitations,
			summary: "Accept an invitation as the signed-in user",
			request: invitationToken{}, response: acceptResponse{}, errors: []int{400, 402, 404, 409, 413, 415}},
	}
	if s.cfg.Billing != nil {
		rs = append(rs, route{method: "PUT", path: "/api/billing/plan", access: tenant, handler: s.changePlan, tag: "billing",
			summary: "Change the subscription's plan (admin); the new price applies from the next period", request: planChangeRequest{},
			response: subscriptionResponse{}, errors: []int{400, 404, 409}})
	}
	return rs
}
