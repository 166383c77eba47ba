// Package invitations owns public.usuarios_invitacion: an admin's invitation of an e-mail
// address to join an organization with a role.
//
// The invitation e-mail carries a random token; only its SHA-256 is stored. [Service.Accept]
// claims a pending invitation in a transaction on public and runs the caller's step (creating
// the user, adding the tenant profile) before it commits, so an invitation is used at most once.
// The tenant profile itself belongs to the booking package; the API adds it through the tenancy
// door.
package invitations
