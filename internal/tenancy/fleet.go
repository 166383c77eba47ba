package tenancy

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
)

// TenantStatus is an organization with its schema's recorded migration version (from the ledger).
type TenantStatus struct {
	Organization
	// Version is the ledger's version of the schema; 0 when the schema was never created.
	Version int
	// Recorded is false when the ledger has no row for the schema.
	Recorded bool
}

// TenantStatuses returns every organization with its ledger version, in one query.
func (m *Manager) TenantStatuses(ctx context.Context) ([]TenantStatus, error) {
	db, err := m.catalog(ctx)
	if err != nil {
		return nil, err
	}
	rows, err := db.Query(ctx, `SELECT o.id, o.nombre, o.slug, o.schema_name, o.is_active, o.database_name,
			o.zona_horaria, o.created_at, o.updated_at, coalesce(l.version, 0), l.schema_name IS NOT NULL
		FROM public.organizacion_organizacion o
		LEFT JOIN public.migraciones_ledger l ON l.schema_name = o.schema_name AND o.schema_name <> ''
		ORDER BY o.id`)
	if err != nil {
		return nil, fmt.Errorf("listing tenants: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (TenantStatus, error) {
		var s TenantStatus
		o := &s.Organization
		err := r.Scan(&o.ID, &o.Name, &o.Slug, &o.SchemaName, &o.IsActive, &o.DatabaseName, &o.TimeZone,
			&o.CreatedAt, &o.UpdatedAt, &s.Version, &s.Recorded)
		return s, err
	})
	if err != nil {
		return nil, fmt.Errorf("listing tenants: %w", err)
	}
	return out, nil
}

// FleetOptions configures [Manager.MigrateAll].
type FleetOptions struct {
	// Workers bounds how many tenants migrate at once. Defaults to 4.
	Workers int
	// Schema, when set, migrates only that tenant schema.
	Schema string
	// NoCanary skips migrating the first tenant alone before the others.
	NoCanary bool
	// OnStart is called once with the tenants that will be migrated (those behind).
	OnStart func(behind []TenantStatus, upToDate int)
	// OnResult is called as each tenant finishes, from one goroutine at a time.
	OnResult func(r FleetResult)
}

// FleetResult is one tenant's outcome in a fleet run.
type FleetResult struct {
	Tenant    TenantStatus
	Migration Migration
	Err       error
	// Index counts finished tenants, from 1.
	Index int
}

// FleetReport sums up a fleet run.
type FleetReport struct {
	// Total is how many tenants were behind; UpToDate how many were already current.
	Total, UpToDate int
	Succeeded       []FleetResult
	Failed          []FleetResult
	// NotAttempted are tenants left alone because the canary failed.
	NotAttempted []TenantStatus
	Took         time.Duration
}

// MigrateAll brings every tenant schema (on every server) to the latest tenant migration: the
// guide's migrate_all_tenants without its public step. It reads the ledger once, so a run with
// nothing to do is one query. Tenants migrate in their own transactions through a bounded pool of
// workers, the first one alone as a canary (if it fails, nothing else is attempted); one failing
// tenant does not stop the others, and a re-run picks up only what is still behind.
func (m *Manager) MigrateAll(ctx context.Context, opts FleetOptions) (FleetReport, error) {
	start := time.Now()
	if opts.Workers <= 0 {
		opts.Workers = 4
	}
	if opts.Schema != "" {
		if err := ValidateSchemaName(opts.Schema); err != nil {
			return FleetReport{}, err
		}
	}
	all, err := m.TenantStatuses(ctx)
	if err != nil {
		return FleetReport{}, err
	}
	latest := m.tenantSet.Latest()
	var behind []TenantStatus
	found := false
	upToDate := 0
	for _, s := range all {
		if s.SchemaName == "" || (opts.Schema != "" && s.SchemaName != opts.Schema) {
			continue
		}
		found = true
		if s.Recorded && s.Version >= latest {
			upToDate++
			continue
		}
		behind = append(behind, s)
	}
	if opts.Schema != "" && !found {
		return FleetReport{}, fmt.Errorf("%w: no organization has schema %q", ErrNotFound, opts.Schema)
	}
	rep := FleetReport{Total: len(behind), UpToDate: upToDate}
	if opts.OnStart != nil {
		opts.OnStart(behind, upToDate)
	}
	var mu sync.Mutex
	record := func(s TenantStatus, mig Migration, err error) {
		mu.Lock()
		defer mu.Unlock()
		r := FleetResult{Tenant: s, Migration: mig, Err: err, Index: len(rep.Succeeded) + len(rep.Failed) + 1}
		if err != nil {
			rep.Failed = append(rep.Failed, r)
		} else {
			rep.Succeeded = append(rep.Succeeded, r)
		}
		if opts.OnResult != nil {
			opts.OnResult(r)
		}
	}
	migrateOne := func(s TenantStatus) {
		t, _ := s.Tenant()
		mig, err := m.MigrateTenant(ctx, t)
		record(s, mig, err)
	}
	queue := behind
	if len(queue) > 0 && !opts.NoCanary {
		migrateOne(queue[0])
		queue = queue[1:]
		if len(rep.Failed) > 0 {
			rep.NotAttempted = queue
			rep.Took = time.Since(start)
			return rep, nil
		}
	}
	work := make(chan TenantStatus)
	var wg sync.WaitGroup
	for range min(opts.Workers, max(len(queue), 1)) {
		wg.Go(func() {
			for s := range work {
				migrateOne(s)
			}
		})
	}
	for i, s := range queue {
		if ctx.Err() != nil {
			rep.NotAttempted = queue[i:]
			break
		}
		work <- s
	}
	close(work)
	wg.Wait()
	rep.Took = time.Since(start)
	return rep, ctx.Err()
}

// SchemaInfo is a schema found on a server.
type SchemaInfo struct {
	Server string
	Name   string
}

// Schemas lists public and the tenant-shaped schemas (tenant_*) on every configured server, for
// list_tenants to match against the catalog. A server that cannot be reached is reported in errs.
func (m *Manager) Schemas(ctx context.Context) (schemas []SchemaInfo, errs map[string]error) {
	errs = map[string]error{}
	if err := m.servers.refresh(ctx); err != nil {
		errs[DefaultServer] = err
	}
	for _, server := range m.servers.Names() {
		pool, err := m.servers.Shared(ctx, server)
		if err == nil {
			var rows pgx.Rows
			rows, err = pool.Query(ctx, `SELECT nspname FROM pg_namespace
				WHERE nspname = 'public' OR nspname LIKE 'tenant\_%' ORDER BY nspname = 'public' DESC, nspname`)
			if err == nil {
				var names []string
				names, err = pgx.CollectRows(rows, pgx.RowTo[string])
				for _, n := range names {
					schemas = append(schemas, SchemaInfo{Server: server, Name: n})
				}
			}
		}
		if err != nil {
			errs[server] = err
		}
	}
	return schemas, errs
}
