package tenancy_test

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/appcitas/appcitas/internal/tenancy"
)

// TestQueryUnkept checks tenancy.QueryUnkept: its statements run in the scope (the tenant's rows, in
// the order given); they are not kept on a connection that keeps every other
// statement; a failing one fails the call and the scope, and the connection serves the next scope.
func TestQueryUnkept(t *testing.T) {
	t.Parallel()
	m := setupConfig(t, tenancy.Config{Pool: tenancy.PoolOptions{Slices: 1, ConnsPerSlice: 1}})
	ctx := t.Context()
	orgs := createOrgs(t, m, "Una Vez", "Otra Vez")
	a, b := tenantOf(t, orgs[0]), tenantOf(t, orgs[1])
	insertService(t, m, a, "Corte", 2500)
	insertService(t, m, a, "Barba", 1500)
	insertService(t, m, b, "Tinte", 9900)

	names := func(dst *[]string) func(pgx.Rows) error {
		return func(rows pgx.Rows) error {
			var err error
			*dst, err = pgx.CollectRows(rows, pgx.RowTo[string])
			return err
		}
	}
	preparedCount := func(tx pgx.Tx) (int, error) {
		var n int
		err := tx.QueryRow(ctx, `SELECT count(*) FROM pg_prepared_statements`, pgx.QueryExecModeSimpleProtocol).Scan(&n)
		return n, err
	}

	tests := []struct {
		name string
		ten  tenancy.Tenant

		want [2]string
	}{
		{"ReadsTheScopesTenantInOrder", a, [2]string{"Barba,Corte", "Corte"}},
		{"OtherTenantReadsItsOwn", b, [2]string{"Tinte", "Tinte"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var byName, cheapest []string
			var before, after int
			err := m.Run(ctx, tt.ten, func(tx pgx.Tx) error {
				var err error
				if before, err = preparedCount(tx); err != nil {
					return err
				}
				err = tenancy.QueryUnkept(ctx, tx,
					tenancy.UnkeptQuery{SQL: `SELECT nombre FROM citas_servicio WHERE precio_centavos > $1 ORDER BY nombre`, Args: []any{int64(0)}, Read: names(&byName)},
					tenancy.UnkeptQuery{SQL: `SELECT nombre FROM citas_servicio ORDER BY precio_centavos DESC LIMIT $1`, Args: []any{nil}, Read: func(rows pgx.Rows) error {
						defer rows.Close()
						if rows.Next() { // reads one row only; the rest is drained
							var s string
							if err := rows.Scan(&s); err != nil {
								return err
							}
							cheapest = append(cheapest, s)
						}
						return nil
					}},
				)
				if err != nil {
					return err
				}
				after, err = preparedCount(tx)
				return err
			})
			if err != nil {
				t.Fatal(err)
			}
			if got := [2]string{strings.Join(byName, ","), strings.Join(cheapest, ",")}; got != tt.want {
				t.Errorf("read %q; want %q", got, tt.want)
			}
			if after != before {
				t.Errorf("prepared statements on the connection: %d before, %d after; want none added", before, after)
			}
		})
	}

	t.Run("AFailureFailsTheScopeAndLeavesTheConnectionUsable", func(t *testing.T) {
		readAfterFailure := false
		err := m.Run(ctx, a, func(tx pgx.Tx) error {
			return tenancy.QueryUnkept(ctx, tx,
				tenancy.UnkeptQuery{SQL: `SELECT 1/0 WHERE $1::int = 1`, Args: []any{1}, Read: func(pgx.Rows) error { return nil }},
				tenancy.UnkeptQuery{SQL: `SELECT 1`, Read: func(pgx.Rows) error { readAfterFailure = true; return nil }},
			)
		})
		if tenancy.SQLState(err) != "22012" {
			t.Fatalf("err = %v; want division_by_zero", err)
		}
		if readAfterFailure {
			t.Error("the statement after the failing one was read")
		}
		if id := insertService(t, m, a, "Después", 100); id == 0 {
			t.Fatal("the connection does not serve the next scope")
		}
	})

	t.Run("ClosedTransactionIsRefused", func(t *testing.T) {
		var closed pgx.Tx
		if err := m.Run(ctx, a, func(tx pgx.Tx) error { closed = tx; return nil }); err != nil {
			t.Fatal(err)
		}
		if err := tenancy.QueryUnkept(ctx, closed, tenancy.UnkeptQuery{SQL: `SELECT 1`, Read: func(pgx.Rows) error { return nil }}); err != pgx.ErrTxClosed {
			t.Errorf("err = %v; want pgx.ErrTxClosed", err)
		}
	})
}

// syncBuffer is a bytes.Buffer safe for a logger's concurrent writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestLogSQL checks APPCITAS_LOG_SQL's logs (the guide's "Ver queries ejecutadas"): every
// statement of a scope, its opening and those QueryUnkept sends included, and of a tenant's
// migration is logged with the tenant; the catalog's statements with tenant "public".
func TestLogSQL(t *testing.T) {
	t.Parallel()
	var buf syncBuffer
	log := slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	m := setupConfig(t, tenancy.Config{Logger: log, Pool: tenancy.PoolOptions{LogSQL: true, Logger: log}})
	ctx := t.Context()
	a := tenantOf(t, createOrgs(t, m, "Bitácora")[0])
	if _, err := m.Organizations(ctx); err != nil {
		t.Fatal(err)
	}
	err := m.Run(ctx, a, func(tx pgx.Tx) error {
		var n int
		if err := tx.QueryRow(ctx, `SELECT count(*) FROM citas_servicio WHERE id > $1`, 0).Scan(&n); err != nil {
			return err
		}
		return tenancy.QueryUnkept(ctx, tx, tenancy.UnkeptQuery{SQL: `SELECT nombre FROM citas_servicio /* once */`, Read: func(pgx.Rows) error { return nil }})
	})
	if err != nil {
		t.Fatal(err)
	}

	tenantOfStatement := map[string]string{} // a fragment of each statement → its logged tenant
	for line := range strings.Lines(buf.String()) {
		var rec struct {
			Msg    string `json:"msg"`
			SQL    string `json:"sql"`
			Tenant string `json:"tenant"`
		}
		if err := json.Unmarshal([]byte(line), &rec); err != nil || !strings.HasPrefix(rec.Msg, "sql ") {
			continue
		}
		for _, frag := range []string{"CREATE SCHEMA", "BEGIN; SET LOCAL search_path", "count(*) FROM citas_servicio", "/* once */", "organizacion_organizacion"} {
			if strings.Contains(rec.SQL, frag) {
				if _, seen := tenantOfStatement[frag]; !seen {
					tenantOfStatement[frag] = rec.Tenant
				}
			}
		}
	}
	tests := []struct {
		name, fragment, tenant string
	}{
		{"TenantMigrationNamesTheTenant", "CREATE SCHEMA", a.Schema},
		{"ScopeOpeningNamesTheTenant", "BEGIN; SET LOCAL search_path", a.Schema},
		{"ScopeStatementNamesTheTenant", "count(*) FROM citas_servicio", a.Schema},
		{"QueryUnkeptStatementNamesTheTenant", "/* once */", a.Schema},
		{"CatalogStatementIsPublic", "organizacion_organizacion", "public"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := tenantOfStatement[tt.fragment]
			if !ok {
				t.Fatalf("no SQL log line holds %q; log:\n%s", tt.fragment, buf.String())
			}
			if got != tt.tenant {
				t.Errorf("statement with %q logged with tenant %q; want %q\n%s", tt.fragment, got, tt.tenant, buf.String())
			}
		})
	}
}
