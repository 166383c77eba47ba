package tenancy

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Pooler says whether the servers are reached through a connection pooler in transaction mode
// (PgBouncer with pool_mode = transaction).
type Pooler string

const (
	// PoolerAuto detects a pooler when a server's pools open (see [Servers.BehindPooler]).
	PoolerAuto Pooler = ""
	// PoolerNone trusts that every server is reached directly.
	PoolerNone Pooler = "none"
	// PoolerTransaction treats every server as reached through a pooler in transaction mode.
	PoolerTransaction Pooler = "transaction"
)

// ParsePooler reads a setting such as APPCITAS_POOLER: "", "auto", "none" or "transaction".
func ParsePooler(s string) (Pooler, error) {
	switch s {
	case "", "auto":
		return PoolerAuto, nil
	case string(PoolerNone):
		return PoolerNone, nil
	case string(PoolerTransaction):
		return PoolerTransaction, nil
	}
	return "", fmt.Errorf("unknown pooler %q: want auto, none or transaction", s)
}

// poolerProbeTimeout bounds the connection that detects a pooler.
const poolerProbeTimeout = 10 * time.Second

// behindPooler reports whether the server at url is reached through a pooler in transaction
// mode, and how that is known ("APPCITAS_POOLER" or "detected").
//
// Detection opens one connection that asks for plan_cache_mode as a startup parameter, as the
// tenant pools do. PostgreSQL accepts it and applies it. PgBouncer refuses a startup parameter it
// does not know (SQLSTATE 08P01), or drops it when told to ignore it (ignore_startup_parameters).
// Either way the parameter does not arrive, and that is the sign of a pooler in between.
func (s *Servers) behindPooler(ctx context.Context, url string) (pooled bool, how string, err error) {
	switch s.opts.Pooler {
	case PoolerNone:
		return false, "APPCITAS_POOLER", nil
	case PoolerTransaction:
		return true, "APPCITAS_POOLER", nil
	}
	pooled, err = probePooler(ctx, url)
	return pooled, "detected", err
}

// probePooler connects to url with plan_cache_mode=force_generic_plan as a startup parameter and
// reports whether something in between refused or dropped it.
func probePooler(ctx context.Context, url string) (bool, error) {
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		return false, err
	}
	cfg.RuntimeParams["plan_cache_mode"] = "force_generic_plan"
	ctx, cancel := context.WithTimeout(ctx, poolerProbeTimeout)
	defer cancel()
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		var pgErr *pgconn.PgError
		if errors.As(err, &pgErr) && pgErr.Code == "08P01" {
			return true, nil // protocol_violation: PostgreSQL knows plan_cache_mode, PgBouncer does not
		}
		return false, fmt.Errorf("connecting: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	var mode string
	if err := conn.QueryRow(ctx, "SELECT current_setting('plan_cache_mode')", pgx.QueryExecModeSimpleProtocol).Scan(&mode); err != nil {
		return false, fmt.Errorf("reading plan_cache_mode: %w", err)
	}
	return mode != "force_generic_plan", nil
}

// BehindPooler reports whether server is reached through a connection pooler in transaction
// mode: as PoolOptions.Pooler says, or as detected when its pools opened (it opens them).
func (s *Servers) BehindPooler(ctx context.Context, server string) (bool, error) {
	p, err := s.open(ctx, server)
	if err != nil {
		return false, err
	}
	return p.pooled, nil
}

// NewPool opens a pool of size connections on server for a caller that owns and closes it (the
// job queue's). Its statements follow the tenant pools' setting: kept by pgx's statement cache
// when StatementCache is on and the server is reached directly, else unnamed (what a pooler in
// transaction mode needs).
func (s *Servers) NewPool(ctx context.Context, server string, size int32) (*pgxpool.Pool, error) {
	url, err := s.Lookup(ctx, server)
	if err != nil {
		return nil, err
	}
	pooled, err := s.BehindPooler(ctx, server)
	if err != nil {
		return nil, err
	}
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, err
	}
	cfg.MaxConns = size
	if pooled || s.opts.StatementCache < 0 {
		cfg.ConnConfig.DefaultQueryExecMode = pgx.QueryExecModeExec
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("server %s: opening pool: %w", server, err)
	}
	return pool, nil
}
