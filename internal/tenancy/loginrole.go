package tenancy

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
)

// ErrPrivilege marks a login role that lacks a privilege appcitas needs on a server.
var ErrPrivilege = errors.New("missing privilege")

// LoginRole is what the role appcitas logs in as may do on one server.
type LoginRole struct {
	// Name is the role (current_user).
	Name string
	// Database is the database the server's connection string names.
	Database string
	// Superuser is true for a superuser, which appcitas should not run as.
	Superuser bool
	// Inherit is true when the role uses its tenant roles' rights outside SET ROLE; it should be
	// NOINHERIT.
	Inherit bool
	// CreateRole is the CREATEROLE attribute: provisioning creates a role per tenant.
	CreateRole bool
	// CreateOnDatabase is the CREATE privilege on the database: provisioning creates schemas.
	CreateOnDatabase bool
	// CreateOnPublic is the CREATE privilege on schema public, used directly (not through an
	// inherited role): migrations create public's tables and the btree_gist extension.
	CreateOnPublic bool
}

// CheckLoginRole reads what the login role of server may do. When it is not a superuser and lacks
// CREATEROLE, CREATE on the database or CREATE on schema public, the error wraps ErrPrivilege and
// names the statements a superuser runs to fix it. A superuser passes: callers warn about it.
func (m *Manager) CheckLoginRole(ctx context.Context, server string) (LoginRole, error) {
	pool, err := m.servers.Shared(ctx, server)
	if err != nil {
		return LoginRole{}, err
	}
	var r LoginRole
	// The role's own rights on public, without those of roles it could SET ROLE to: a NOINHERIT
	// role gets nothing from pg_database_owner, which owns public in a new database.
	err = pool.QueryRow(ctx, `SELECT r.rolname::text, current_database()::text, r.rolsuper, r.rolinherit, r.rolcreaterole,
			has_database_privilege(current_database(), 'CREATE'),
			r.rolsuper OR n.nspowner = r.oid OR EXISTS (SELECT 1 FROM aclexplode(n.nspacl) a
				WHERE a.privilege_type = 'CREATE' AND a.grantee IN (r.oid, 0))
		FROM pg_roles r, pg_namespace n WHERE r.rolname = current_user AND n.nspname = 'public'`).
		Scan(&r.Name, &r.Database, &r.Superuser, &r.Inherit, &r.CreateRole, &r.CreateOnDatabase, &r.CreateOnPublic)
	if errors.Is(err, pgx.ErrNoRows) {
		return r, fmt.Errorf("%w: server %s has no schema public", ErrPrivilege, server)
	}
	if err != nil {
		return r, fmt.Errorf("reading the privileges of the login role on server %s: %w", server, err)
	}
	if r.Superuser {
		return r, nil
	}
	role := pgx.Identifier{r.Name}.Sanitize()
	var missing, fixes []string
	if !r.CreateRole {
		missing = append(missing, "CREATEROLE")
		fixes = append(fixes, "ALTER ROLE "+role+" CREATEROLE")
	}
	if !r.CreateOnDatabase {
		missing = append(missing, "CREATE on database "+r.Database)
		fixes = append(fixes, "GRANT CREATE ON DATABASE "+pgx.Identifier{r.Database}.Sanitize()+" TO "+role)
	}
	if !r.CreateOnPublic {
		missing = append(missing, "CREATE on schema public")
		fixes = append(fixes, "ALTER SCHEMA public OWNER TO "+role)
	}
	if len(missing) > 0 {
		return r, fmt.Errorf("%w: login role %s on server %s lacks %s; as a superuser, connected to database %s, run: %s",
			ErrPrivilege, r.Name, server, strings.Join(missing, ", "), r.Database, strings.Join(fixes, "; "))
	}
	return r, nil
}
