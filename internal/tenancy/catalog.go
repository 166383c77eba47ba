package tenancy

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
)

// ErrNotFound is returned when an organization does not exist.
var ErrNotFound = errors.New("organization not found")

// ErrConflict is returned when a unique value (slug, schema name) is taken.
var ErrConflict = errors.New("conflict")

// ErrNoSchemaName is returned for an organization that has no schema_name yet (assign_schema_names).
var ErrNoSchemaName = errors.New("organization has no schema_name (run assign_schema_names)")

// DefaultTimeZone is the time zone of organizations created without one.
const DefaultTimeZone = "America/Bogota"

// Organization is a row of public.organizacion_organizacion: one customer business and its schema.
type Organization struct {
	ID           int64
	Name         string // nombre
	Slug         string
	SchemaName   string // "" until assigned
	IsActive     bool
	DatabaseName string // the server that holds the schema
	TimeZone     string // zona_horaria (IANA)
	CreatedAt    time.Time
	UpdatedAt    time.Time
}

// Tenant returns the handle [Manager.Run] takes.
func (o Organization) Tenant() (Tenant, error) {
	if o.SchemaName == "" {
		return Tenant{}, fmt.Errorf("organization %d (%s): %w", o.ID, o.Name, ErrNoSchemaName)
	}
	return Tenant{OrganizationID: o.ID, Schema: o.SchemaName, Server: o.DatabaseName}, nil
}

const orgColumns = `id, nombre, slug, schema_name, is_active, database_name, zona_horaria, created_at, updated_at`

func scanOrganization(row pgx.Row) (Organization, error) {
	var o Organization
	err := row.Scan(&o.ID, &o.Name, &o.Slug, &o.SchemaName, &o.IsActive, &o.DatabaseName, &o.TimeZone, &o.CreatedAt, &o.UpdatedAt)
	return o, err
}

// catalogDB is what catalog reads need: a pool or a transaction on the default server.
type catalogDB interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

func (m *Manager) catalog(ctx context.Context) (catalogDB, error) {
	return m.servers.Shared(ctx, DefaultServer)
}

// Organization returns the organization with id.
func (m *Manager) Organization(ctx context.Context, id int64) (Organization, error) {
	db, err := m.catalog(ctx)
	if err != nil {
		return Organization{}, err
	}
	o, err := scanOrganization(db.QueryRow(ctx, `SELECT `+orgColumns+` FROM public.organizacion_organizacion WHERE id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return Organization{}, fmt.Errorf("%w: id %d", ErrNotFound, id)
	}
	if err != nil {
		return Organization{}, fmt.Errorf("reading organization %d: %w", id, err)
	}
	return o, nil
}

// OrganizationBySlug returns the organization with slug.
func (m *Manager) OrganizationBySlug(ctx context.Context, slug string) (Organization, error) {
	db, err := m.catalog(ctx)
	if err != nil {
		return Organization{}, err
	}
	o, err := scanOrganization(db.QueryRow(ctx, `SELECT `+orgColumns+` FROM public.organizacion_organizacion WHERE slug = $1`, slug))
	if errors.Is(err, pgx.ErrNoRows) {
		return Organization{}, fmt.Errorf("%w: slug %q", ErrNotFound, slug)
	}
	if err != nil {
		return Organization{}, fmt.Errorf("reading organization %q: %w", slug, err)
	}
	return o, nil
}

// Organizations returns every organization, by id.
func (m *Manager) Organizations(ctx context.Context) ([]Organization, error) {
	db, err := m.catalog(ctx)
	if err != nil {
		return nil, err
	}
	rows, err := db.Query(ctx, `SELECT `+orgColumns+` FROM public.organizacion_organizacion ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("listing organizations: %w", err)
	}
	orgs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Organization, error) { return scanOrganization(r) })
	if err != nil {
		return nil, fmt.Errorf("listing organizations: %w", err)
	}
	return orgs, nil
}

// NewOrganization is the input of [Manager.CreateOrganization].
type NewOrganization struct {
	// Name is the business's name (nombre), 1-200 characters.
	Name string
	// Slug, when set, must be free; when empty one is made from Name, with "-2", "-3"... added
	// until it is free.
	Slug string
	// TimeZone is an IANA zone. Defaults to DefaultTimeZone.
	TimeZone string
	// Server is the configured server that will hold the schema. Defaults to DefaultServer.
	Server string
}

// ValidateTimeZone checks that tz is an IANA time zone name.
func ValidateTimeZone(tz string) error {
	if tz == "" || tz == "Local" {
		return fmt.Errorf("%w: time zone %q: use an IANA name such as America/Bogota", ErrInvalidName, tz)
	}
	if _, err := time.LoadLocation(tz); err != nil {
		return fmt.Errorf("%w: time zone %q is not an IANA time zone (e.g. America/Bogota)", ErrInvalidName, tz)
	}
	return nil
}

func (n *NewOrganization) normalize(ctx context.Context, s *Servers) error {
	n.Name = strings.TrimSpace(n.Name)
	if n.Name == "" || utf8.RuneCountInString(n.Name) > 200 {
		return fmt.Errorf("%w: organization name must be 1-200 characters", ErrInvalidName)
	}
	if n.Slug != "" {
		if err := ValidateSlug(n.Slug); err != nil {
			return err
		}
	}
	if n.TimeZone == "" {
		n.TimeZone = DefaultTimeZone
	}
	if err := ValidateTimeZone(n.TimeZone); err != nil {
		return err
	}
	if n.Server == "" {
		n.Server = DefaultServer
	}
	return s.Check(ctx, n.Server)
}

// FreeSlug returns the first free slug made from base: base itself, else base-2, base-3, ...
// base is cut to 50 characters first, so that a variant stays a valid slug. A slug in reserved
// (nil: none) is never returned as it is, only as a variant. tx is a transaction on the catalog.
func FreeSlug(ctx context.Context, tx pgx.Tx, base string, reserved map[string]bool) (string, error) {
	if len(base) > 50 {
		base = strings.TrimRight(base[:50], "-")
	}
	isReserved := reserved[base]
	// The LIKE branch (a scan) runs only when base itself is taken or reserved; the common case is one index probe.
	rows, err := tx.Query(ctx, `SELECT slug FROM public.organizacion_organizacion WHERE slug = $1
		UNION ALL
		SELECT slug FROM public.organizacion_organizacion
		WHERE slug LIKE $2 AND ($3 OR EXISTS (SELECT 1 FROM public.organizacion_organizacion WHERE slug = $1))`,
		base, base+"-%", isReserved)
	if err != nil {
		return "", fmt.Errorf("finding a free slug: %w", err)
	}
	taken, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return "", fmt.Errorf("finding a free slug: %w", err)
	}
	used := make(map[string]bool, len(taken))
	for _, s := range taken {
		used[s] = true
	}
	if !used[base] && !isReserved {
		return base, nil
	}
	for i := 2; ; i++ {
		if c := base + "-" + strconv.Itoa(i); !used[c] {
			return c, nil
		}
	}
}

// CreateOrganization creates an organization, gives it a schema name and provisions its schema
// (role, schema, every tenant migration, ledger row) before returning: the guide's "Opción A". When
// the schema lives on the default server, all of it is one transaction.
func (m *Manager) CreateOrganization(ctx context.Context, n NewOrganization) (Organization, error) {
	pool, err := m.servers.Shared(ctx, DefaultServer)
	if err != nil {
		return Organization{}, err
	}
	var org Organization
	err = pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		org, err = m.CreateOrganizationTx(ctx, tx, n)
		return err
	})
	if err != nil {
		if org.SchemaName != "" && org.DatabaseName != DefaultServer {
			m.dropRemoteAfterFailure(ctx, org)
		}
		return Organization{}, err
	}
	return org, nil
}

// CreateOrganizationTx is [Manager.CreateOrganization] inside the caller's transaction on the
// default server, so that a signup can create the user, organization, schema and subscription
// atomically. A schema on another server is provisioned and committed there before this returns;
// if the caller's transaction then rolls back, the caller must call DropSchema for it.
func (m *Manager) CreateOrganizationTx(ctx context.Context, tx pgx.Tx, n NewOrganization) (Organization, error) {
	if err := n.normalize(ctx, m.servers); err != nil {
		return Organization{}, err
	}
	if err := lockServerRow(ctx, tx, n.Server); err != nil {
		return Organization{}, err
	}
	// A slug made from the name is retried with the next free variant when a concurrent creation
	// takes it first; ON CONFLICT DO NOTHING waits for that competitor and keeps tx usable.
	var org Organization
	for attempt := 0; ; attempt++ {
		slug := n.Slug
		if slug == "" {
			var err error
			if slug, err = FreeSlug(ctx, tx, Slugify(n.Name), nil); err != nil {
				return Organization{}, err
			}
		}
		schema, err := NewSchemaName(slug)
		if err != nil {
			return Organization{}, err
		}
		org, err = scanOrganization(tx.QueryRow(ctx, `INSERT INTO public.organizacion_organizacion
			(nombre, slug, schema_name, database_name, zona_horaria) VALUES ($1, $2, $3, $4, $5)
			ON CONFLICT (slug) DO NOTHING
			RETURNING `+orgColumns, n.Name, slug, schema, n.Server, n.TimeZone))
		if errors.Is(err, pgx.ErrNoRows) {
			if n.Slug != "" || attempt >= 10 {
				return Organization{}, fmt.Errorf("%w: slug %q is already used", ErrConflict, slug)
			}
			continue
		}
		if err != nil {
			if sqlState(err) == "23505" {
				return Organization{}, fmt.Errorf("%w: slug %q or its schema name is already used", ErrConflict, slug)
			}
			return Organization{}, fmt.Errorf("creating organization: %w", err)
		}
		break
	}
	if org.DatabaseName == DefaultServer {
		if _, err := m.migrateTenantTx(ctx, tx, org.SchemaName, DefaultServer, m.tenantSet, true); err != nil {
			return Organization{}, fmt.Errorf("provisioning %s: %w", org.SchemaName, err)
		}
		return org, nil
	}
	if _, err := m.provisionRemote(ctx, org); err != nil {
		return org, fmt.Errorf("provisioning %s on %s: %w", org.SchemaName, org.DatabaseName, err)
	}
	if err := upsertLedger(ctx, tx, org.SchemaName, org.DatabaseName, m.tenantSet.Latest()); err != nil {
		return org, err
	}
	return org, nil
}

// AssignSchemaNames gives every organization without a schema_name one (the guide's step 2) and
// returns those it changed. It creates no schema: create_tenant_schema or migrate_all_tenants do.
func (m *Manager) AssignSchemaNames(ctx context.Context) ([]Organization, error) {
	pool, err := m.servers.Shared(ctx, DefaultServer)
	if err != nil {
		return nil, err
	}
	var changed []Organization
	err = pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT `+orgColumns+` FROM public.organizacion_organizacion WHERE schema_name = '' ORDER BY id FOR UPDATE`)
		if err != nil {
			return err
		}
		orgs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Organization, error) { return scanOrganization(r) })
		if err != nil {
			return err
		}
		for _, o := range orgs {
			name, err := NewSchemaName(o.Slug)
			if err != nil {
				return fmt.Errorf("organization %d: %w", o.ID, err)
			}
			o, err = scanOrganization(tx.QueryRow(ctx, `UPDATE public.organizacion_organizacion
				SET schema_name = $2, is_active = true, updated_at = now() WHERE id = $1 RETURNING `+orgColumns, o.ID, name))
			if err != nil {
				return fmt.Errorf("organization %d: %w", o.ID, err)
			}
			changed = append(changed, o)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("assigning schema names: %w", err)
	}
	return changed, nil
}
