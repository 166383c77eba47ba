package tenancy

import (
	"context"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// A backend of PostgreSQL 15 can refuse SET ROLE to a tenant whose role was granted to the login
// role, committed, and announced before the SET ROLE was sent.
// This is why the door checks a refusal before passing it on.
//
// Each backend caches the list of roles the login role is a member of (roles_is_member_of in
// src/backend/utils/adt/acl.c).
// A change to pg_auth_members or pg_authid clears the list when the backend processes its
// invalidation message: at the start of a transaction, and whenever it takes a lock it does not
// hold yet.
// The backend rebuilds the list with one catalog lookup per role the login role is a member of,
// so thousands of lookups with thousands of tenants.
// Each lookup opens pg_auth_members afresh, so each can process invalidations.
// When a grant's invalidation is processed during a rebuild, it clears the list being rebuilt.
// Then the rebuild stores its list anyway, read before that grant.
// The message is consumed: no later transaction of that backend clears the list again.
// So the backend refuses the new tenant's role until some other change to the roles reaches it.
// TestPostgresMembershipCache shows it with two plain connections.
//
// The backend keeps one such list: computing another role's list replaces it.
// A GRANT of a role the login role already has does that (its check for membership loops), so
// migrations and drops, which grant the role first when the list lacks it, pass.
// The door does not rely on that detail of acl.c, which differs between PostgreSQL versions.
// A backend started after the grant builds its list from the catalog, with the grant in it.
// So the door closes a connection whose backend is stale, and opens the scope again on another.
// The catalog, read on the refusing backend itself, tells a stale list from a missing grant.
// Stale backends appear only while tenant roles are being granted (signups, restores, moves).

// openingAttempts is how many times a scope's opening is sent when stale backends refuse it.
// Each stale backend found is closed, so a second one in a row is rare, a third rarer still.
const openingAttempts = 3

// membershipSQL reads, on the backend that refused SET ROLE $1, whether pg_auth_members makes the
// session's login role a direct member of $1, and whether the backend's cached list agrees.
const membershipSQL = `SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_auth_members m
		WHERE m.roleid = r.oid AND m.member = (SELECT oid FROM pg_catalog.pg_roles WHERE rolname = session_user)),
	pg_catalog.pg_has_role(session_user, r.oid, 'MEMBER')
	FROM pg_catalog.pg_roles r WHERE r.rolname = $1`

// refusedByStaleBackend reports whether err, a failure of SQL on conn that set role (SQLSTATE
// 42501), may be sent again because the login role is in fact a member of role. When conn's
// backend still refuses the membership, it is stale: refusedByStaleBackend closes conn, so that
// the pool replaces it, and logs it. conn must be outside any transaction.
func (m *Manager) refusedByStaleBackend(ctx context.Context, conn *pgconn.PgConn, role string, err error) bool {
	if sqlState(err) != "42501" || conn.IsClosed() || conn.TxStatus() != 'I' {
		return false
	}
	res := conn.ExecParams(ctx, membershipSQL, [][]byte{[]byte(role)}, nil, nil, nil).Read()
	if res.Err != nil || len(res.Rows) != 1 || string(res.Rows[0][0]) != "t" {
		return false
	}
	if string(res.Rows[0][1]) != "t" {
		m.log.Warn("closing a connection whose backend has a stale list of the login role's memberships",
			"role", role, "pid", conn.PID())
		_ = conn.Close(ctx)
	}
	return true
}

// sharedTx runs fn in a transaction on server's shared pool, as pgx.BeginFunc does. fn enters
// role (SET LOCAL ROLE). When that is refused by a stale backend (see refusedByStaleBackend), fn
// runs again, in a new transaction, on another connection.
func (m *Manager) sharedTx(ctx context.Context, server, role string, fn func(tx pgx.Tx) error) error {
	pool, err := m.servers.Shared(ctx, server)
	if err != nil {
		return err
	}
	for attempt := 1; ; attempt++ {
		c, err := pool.Acquire(ctx)
		if err != nil {
			return err
		}
		err = pgx.BeginFunc(ctx, c.Conn(), fn)
		if err != nil && attempt < openingAttempts && m.refusedByStaleBackend(ctx, c.Conn().PgConn(), role, err) {
			c.Release()
			continue
		}
		c.Release()
		return err
	}
}
