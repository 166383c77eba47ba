package tenancy

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/appcitas/appcitas/internal/migrate"
)

// tenantLockKey is the first half of the per-schema advisory lock taken before anything else by
// every run that creates or migrates a tenant schema ("tenm").
const tenantLockKey = 0x74656e6d

// versionTable is the table, inside each tenant schema, that records its applied migrations.
const versionTable = "migraciones_tenant"

// Migration is what one tenant's migration did.
type Migration struct {
	Schema  string
	Server  string
	From    int           // version before
	To      int           // version after
	Created bool          // the schema did not exist before
	Took    time.Duration // time inside the transaction
}

// migrateTenantTx creates what is missing of a tenant (role, membership, schema, version table,
// the server's query role's read access) and applies its pending migrations, inside tx, a transaction on the tenant's server that the
// caller commits. It takes the per-schema advisory lock first, so two runners on one schema wait
// for each other. When ledgerHere, the ledger row (public, default server) is written in tx too.
// Round trips: settings+lock+catalog probe (one batch), version (if the schema exists), one script.
func (m *Manager) migrateTenantTx(ctx context.Context, tx pgx.Tx, schema, server string, set migrate.Set, ledgerHere bool) (Migration, error) {
	start := time.Now()
	q, err := Ident(schema)
	if err != nil {
		return Migration{}, err
	}
	ctx = withLogTenant(ctx, schema) // SQL logs name the tenant its migration is for
	if err := ValidateServerName(server); err != nil {
		return Migration{}, err
	}
	res := Migration{Schema: schema, Server: server}
	reader, err := m.readerCredentials(ctx, server)
	if err != nil {
		return res, err
	}
	rq, err := readerIdent(reader.role)
	if err != nil {
		return res, err
	}
	// One round trip (a pipelined batch, one statement each, run in order): the settings, the
	// advisory lock, then, in a statement of its own (a snapshot taken after the lock), what exists.
	// schema and server are validated ([a-z0-9_] only), so they are safe as literals here.
	batch := &pgx.Batch{}
	for _, stmt := range strings.Split(m.migOpts.LocalSettings(), ";") {
		if stmt = strings.TrimSpace(stmt); stmt != "" {
			batch.Queue(stmt)
		}
	}
	batch.Queue(fmt.Sprintf("SELECT pg_advisory_xact_lock(%d, hashtext('%s'))", tenantLockKey, schema))
	var roleExists, member, schemaExists, tableExists, readerGranted bool
	// The catalogs, not to_regclass: the login role (NOINHERIT) has no USAGE on the schema.
	batch.Queue(`SELECT r.oid IS NOT NULL,
			coalesce(pg_has_role(current_user, r.oid, 'MEMBER'), false),
			EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1),
			EXISTS (SELECT 1 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
				WHERE n.nspname = $1 AND c.relname = $2),
			EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1 AND has_schema_privilege($3, oid, 'USAGE'))
		FROM (SELECT (SELECT oid FROM pg_roles WHERE rolname = $1) AS oid) r`,
		schema, versionTable, reader.role).QueryRow(func(row pgx.Row) error {
		return row.Scan(&roleExists, &member, &schemaExists, &tableExists, &readerGranted)
	})
	if err := tx.SendBatch(ctx, batch).Close(); err != nil {
		return res, fmt.Errorf("locking and inspecting %s: %w", schema, err)
	}
	if tableExists {
		// Only the tenant's role reads its tables (the login role is NOINHERIT).
		vb := &pgx.Batch{}
		if roleExists && !member {
			vb.Queue("GRANT " + q + " TO CURRENT_USER")
			member = true
		}
		vb.Queue("SET LOCAL ROLE " + q)
		vb.Queue(`SELECT coalesce(max(version), 0) FROM ` + q + `.` + versionTable).QueryRow(func(row pgx.Row) error {
			return row.Scan(&res.From)
		})
		vb.Queue("SET LOCAL ROLE NONE")
		if err := tx.SendBatch(ctx, vb).Close(); err != nil {
			return res, fmt.Errorf("reading version of %s: %w", schema, err)
		}
	}
	if res.From > set.Latest() {
		return res, fmt.Errorf("schema %s is at version %d, newer than this binary knows (%d): upgrade appcitas", schema, res.From, set.Latest())
	}
	pending := set.Pending(res.From)
	res.To = set.Latest()
	res.Created = !schemaExists

	var b strings.Builder
	if !roleExists {
		fmt.Fprintf(&b, "CREATE ROLE %s NOLOGIN;\n", q)
	}
	if !member {
		fmt.Fprintf(&b, "GRANT %s TO CURRENT_USER;\n", q)
	}
	if !schemaExists {
		fmt.Fprintf(&b, "CREATE SCHEMA %s AUTHORIZATION %s;\n", q, q)
		// Before the first table, so that every table gets the query role's SELECT as it is made.
		b.WriteString(grantReaderNewSchemaSQL(q, rq))
		readerGranted = true
		// PL/pgSQL bodies are not compiled while the schema is made: compiling one looks up its
		// name in every schema that has a function of that name, that is, in every tenant. The
		// bodies are the ones every other tenant runs; TestTenantFunctionsCompile compiles them.
		b.WriteString("SET LOCAL check_function_bodies = off;\n")
	}
	if !tableExists || len(pending) > 0 {
		fmt.Fprintf(&b, "SET LOCAL ROLE %s;\nSET LOCAL search_path TO %s, public;\n", q, q)
		if !tableExists {
			b.WriteString("CREATE TABLE " + versionTable + " (version integer PRIMARY KEY, nombre text NOT NULL, aplicada_en timestamptz NOT NULL DEFAULT now());\n")
		}
		b.WriteString(migrate.Script(pending, versionTable))
		b.WriteString("SET LOCAL ROLE NONE;\nSET LOCAL search_path TO public;\n")
	}
	if !readerGranted {
		// The query role reads the tenant's tables (OpenReader); tables of later migrations too.
		b.WriteString(grantReaderSQL(q, rq))
	}
	if ledgerHere {
		b.WriteString(ledgerUpsertSQL(schema, server, res.To))
	}
	if b.Len() == 0 {
		res.Took = time.Since(start)
		return res, nil
	}
	if _, err := tx.Exec(ctx, b.String()); err != nil {
		return res, fmt.Errorf("migrating %s from version %d: %w", schema, res.From, err)
	}
	data := tx.Conn().PgConn().CustomData()
	n, _ := data[ddlRunsKey].(int)
	data[ddlRunsKey] = n + 1
	res.Took = time.Since(start)
	return res, nil
}

func ledgerUpsertSQL(schema, server string, version int) string {
	return fmt.Sprintf(`INSERT INTO public.migraciones_ledger (schema_name, database_name, version, migrado_en)
VALUES ('%s', '%s', %d, now())
ON CONFLICT (schema_name) DO UPDATE SET database_name = EXCLUDED.database_name, version = EXCLUDED.version, migrado_en = now();
`, schema, server, version)
}

// upsertLedger records a tenant's version in the ledger through db (on the default server).
func upsertLedger(ctx context.Context, db interface {
	Exec(context.Context, string, ...any) (pgconn.CommandTag, error)
}, schema, server string, version int) error {
	if err := ValidateSchemaName(schema); err != nil {
		return err
	}
	if err := ValidateServerName(server); err != nil {
		return err
	}
	if _, err := db.Exec(ctx, ledgerUpsertSQL(schema, server, version)); err != nil {
		return fmt.Errorf("updating ledger for %s: %w", schema, err)
	}
	return nil
}

// MigrateTenant creates what is missing of one tenant's schema and applies its pending migrations
// in one transaction on its server: afterwards the tenant is fully migrated, or untouched.
func (m *Manager) MigrateTenant(ctx context.Context, t Tenant) (Migration, error) {
	return m.migrateTenant(ctx, t, m.tenantSet)
}

func (m *Manager) migrateTenant(ctx context.Context, t Tenant, set migrate.Set) (Migration, error) {
	server := t.Server
	if server == "" {
		server = DefaultServer
	}
	if err := m.ensurePrepared(ctx, server); err != nil {
		return Migration{}, err
	}
	pool, err := m.servers.Shared(ctx, server)
	if err != nil {
		return Migration{}, err
	}
	var res Migration
	err = pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		res, err = m.migrateTenantTx(ctx, tx, t.Schema, server, set, server == DefaultServer)
		return err
	})
	if err != nil {
		return res, err
	}
	if server != DefaultServer {
		main, err := m.servers.Shared(ctx, DefaultServer)
		if err != nil {
			return res, err
		}
		if err := upsertLedger(ctx, main, t.Schema, server, res.To); err != nil {
			return res, err
		}
	}
	return res, nil
}

// EnsureSchema creates (or completes) the schema of an existing organization, the guide's
// create_tenant_schema. It is idempotent: on a complete, current schema it changes nothing.
func (m *Manager) EnsureSchema(ctx context.Context, org Organization) (Migration, error) {
	t, err := org.Tenant()
	if err != nil {
		return Migration{}, err
	}
	return m.MigrateTenant(ctx, t)
}

func (m *Manager) provisionRemote(ctx context.Context, org Organization) (Migration, error) {
	if err := m.ensurePrepared(ctx, org.DatabaseName); err != nil {
		return Migration{}, err
	}
	pool, err := m.servers.Shared(ctx, org.DatabaseName)
	if err != nil {
		return Migration{}, err
	}
	var res Migration
	err = pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		res, err = m.migrateTenantTx(ctx, tx, org.SchemaName, org.DatabaseName, m.tenantSet, false)
		return err
	})
	return res, err
}

func (m *Manager) dropRemoteAfterFailure(ctx context.Context, org Organization) {
	if err := m.DropSchema(ctx, Tenant{OrganizationID: org.ID, Schema: org.SchemaName, Server: org.DatabaseName}); err != nil {
		m.log.Error("dropping schema left by a failed organization creation", "schema", org.SchemaName, "server", org.DatabaseName, "err", err)
	}
}

// DropSchema drops a tenant's schema, with all its data, and its role, and forgets its ledger row.
// It is irreversible: callers (drop_tenant) take a final backup and ask for confirmation first.
// Tables are dropped in batches so that a tenant with many tables does not exhaust
// max_locks_per_transaction.
func (m *Manager) DropSchema(ctx context.Context, t Tenant) error {
	q, err := Ident(t.Schema)
	if err != nil {
		return err
	}
	server := t.Server
	if server == "" {
		server = DefaultServer
	}
	pool, err := m.servers.Shared(ctx, server)
	if err != nil {
		return err
	}
	// The login role is NOINHERIT: it drops the tenant's objects as the tenant's role (which owns
	// them), and the role itself as itself. enter becomes that scope's opening, or "" when the role
	// is gone (the objects are then the login role's, or a superuser's).
	var enter string
	inScope := func(ctx context.Context, tx pgx.Tx) error {
		var roleExists, member bool
		err := tx.QueryRow(ctx, fmt.Sprintf(`SELECT pg_advisory_xact_lock(%d, hashtext('%s')) IS NOT NULL,
			r.oid IS NOT NULL, coalesce(pg_has_role(current_user, r.oid, 'MEMBER'), false)
			FROM (SELECT (SELECT oid FROM pg_roles WHERE rolname = $1) AS oid) r`, tenantLockKey, t.Schema), t.Schema).
			Scan(new(bool), &roleExists, &member)
		if err != nil {
			return err
		}
		enter = ""
		if roleExists {
			if !member {
				enter = "GRANT " + q + " TO CURRENT_USER; "
			}
			enter += "SET LOCAL ROLE " + q + "; "
		}
		return nil
	}
	// Drop tables in batches of their own transactions first, then the (small) rest. A batch that
	// does not fit the server's lock table (out of shared memory) is halved and tried again.
	batch := 50
	for {
		var tables []string
		err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
			if err := inScope(ctx, tx); err != nil {
				return err
			}
			rows, err := tx.Query(ctx, `SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
				WHERE n.nspname = $1 AND c.relkind IN ('r', 'p') LIMIT $2`, t.Schema, batch)
			if err != nil {
				return err
			}
			if tables, err = pgx.CollectRows(rows, pgx.RowTo[string]); err != nil {
				return err
			}
			if len(tables) == 0 {
				return nil
			}
			var b strings.Builder
			b.WriteString(enter + "DROP TABLE IF EXISTS ")
			for i, name := range tables {
				if i > 0 {
					b.WriteString(", ")
				}
				b.WriteString(q + "." + pgx.Identifier{name}.Sanitize())
			}
			b.WriteString(" CASCADE")
			_, err = tx.Exec(ctx, b.String())
			return err
		})
		if sqlState(err) == "53200" && batch > 1 {
			batch /= 2
			continue
		}
		if err != nil {
			return fmt.Errorf("dropping tables of %s: %w", t.Schema, err)
		}
		if len(tables) == 0 {
			break
		}
	}
	err = pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if err := inScope(ctx, tx); err != nil {
			return err
		}
		sql := enter + "DROP SCHEMA IF EXISTS " + q + " CASCADE"
		if enter != "" {
			// DROP OWNED needs the role's own privileges; DROP ROLE needs CREATEROLE, not the role.
			sql += "; DROP OWNED BY " + q + " CASCADE; SET LOCAL ROLE NONE; DROP ROLE " + q
		}
		_, err := tx.Exec(ctx, sql)
		return err
	})
	if err != nil {
		return fmt.Errorf("dropping schema %s: %w", t.Schema, err)
	}
	main, err := m.servers.Shared(ctx, DefaultServer)
	if err != nil {
		return err
	}
	if _, err := main.Exec(ctx, `DELETE FROM public.migraciones_ledger WHERE schema_name = $1`, t.Schema); err != nil {
		return fmt.Errorf("forgetting %s in the ledger: %w", t.Schema, err)
	}
	return nil
}

// ensurePrepared checks the login role ([Manager.CheckLoginRole]) and runs prepareServer once per
// tenant server and process (public migrations prepare
// the default server). Two processes preparing at once may race on CREATE EXTENSION; the loser's
// unique violation means the extension is there.
func (m *Manager) ensurePrepared(ctx context.Context, server string) error {
	if server == "" || server == DefaultServer {
		return nil
	}
	m.servers.mu.Lock()
	done := m.servers.prepared[server]
	m.servers.mu.Unlock()
	if done {
		return nil
	}
	if _, err := m.CheckLoginRole(ctx, server); err != nil {
		return err
	}
	if err := m.prepareServer(ctx, server); err != nil && sqlState(err) != "23505" {
		return err
	}
	m.servers.mu.Lock()
	m.servers.prepared[server] = true
	m.servers.mu.Unlock()
	return nil
}

// prepareServer installs on a tenant server what tenant migrations need from its public schema
// (the btree_gist extension, which public migrations install on the default server only). It is
// idempotent; btree_gist is a trusted extension, so the CREATE privilege on the database suffices.
func (m *Manager) prepareServer(ctx context.Context, server string) error {
	pool, err := m.servers.Shared(ctx, server)
	if err != nil {
		return err
	}
	if _, err := pool.Exec(ctx, `CREATE EXTENSION IF NOT EXISTS btree_gist WITH SCHEMA public`); err != nil {
		return fmt.Errorf("preparing server %s (btree_gist): %w", server, err)
	}
	return nil
}
