// Package auth is who may call the API: users in public.auth_user with argon2id password hashes,
// short-lived access tokens (HS256 JWT), refresh tokens stored hashed and rotated on every use,
// login rate limits, and public.usuarios_membresia, the mirror of each tenant's profiles that
// GET /api/me lists.
//
// Nothing here decides whether a user may act in an organization: that is the tenant's own
// usuarios_perfilusuario, read inside the tenant's scoped transaction by the API. The mirror only
// answers "which organizations do I belong to" without visiting every tenant.
package auth
