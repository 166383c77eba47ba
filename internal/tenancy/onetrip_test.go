package tenancy_test

import (
	"errors"
	"strconv"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/appcitas/appcitas/internal/tenancy"
)

// readServiceInOneTrip reads, in ten's scope in one round trip, the lead (the name of service
// leadID) and the names of every service.
func readServiceInOneTrip(t *testing.T, m *tenancy.Manager, ten tenancy.Tenant, leadSQL string, leadID int64, accept func(lead string) bool) (lead string, names []string, read bool, err error) {
	t.Helper()
	l := &tenancy.Lead{SQL: leadSQL, Args: []int64{leadID}, Dest: []any{&lead}}
	err = m.ReadInOneTrip(t.Context(), ten, l, func() bool { return l.Found && accept(lead) }, tenancy.ReadQuery{
		SQL: `SELECT nombre FROM citas_servicio WHERE precio_centavos >= $1 ORDER BY id`, Args: []any{0},
		Read: func(rows pgx.Rows) error {
			read = true
			names, err = pgx.CollectRows(rows, pgx.RowTo[string])
			return err
		}})
	return lead, names, read, err
}

// TestReadInOneTrip checks the read in one round trip: opening, lead, query and COMMIT sent
// together, the lead's answer checked before the rows are used, every statement inside the
// tenant's own scope.
func TestReadInOneTrip(t *testing.T) {
	t.Parallel()
	const leadSQL = `SELECT nombre FROM citas_servicio WHERE id = $1`
	yes := func(string) bool { return true }

	t.Run("EachTenantReadsItsOwnRowsOnASharedConnection", func(t *testing.T) {
		t.Parallel()
		// One connection; three tenants take turns on it. With room for two kept statements, their
		// statements are prepared, evicted and prepared again; by default each keeps its two; with
		// no statement cache nothing is kept. The opening's statement, shared, comes on top.
		for cache, want := range map[int]int{2: 2 + 1, 0: 6 + 1, -1: 0} {
			m := setupConfig(t, tenancy.Config{Pool: tenancy.PoolOptions{Slices: 1, ConnsPerSlice: 1, StatementCache: cache}})
			orgs := createOrgs(t, m, "Viaje Uno "+strconv.Itoa(cache), "Viaje Dos "+strconv.Itoa(cache), "Viaje Tres "+strconv.Itoa(cache))
			var ids []int64
			for i, o := range orgs {
				ids = append(ids, insertService(t, m, tenantOf(t, o), "Servicio "+strconv.Itoa(i), 100))
			}
			for range 4 {
				for i, o := range orgs {
					want := "Servicio " + strconv.Itoa(i)
					lead, names, _, err := readServiceInOneTrip(t, m, tenantOf(t, o), leadSQL, ids[i], yes)
					if err != nil {
						t.Fatalf("cache %d: %v", cache, err)
					}
					if lead != want || len(names) != 1 || names[0] != want {
						t.Fatalf("cache %d: tenant %d read lead %q and %v; want only its own %q", cache, i, lead, names, want)
					}
				}
			}
			var prepared int
			if err := m.Run(t.Context(), tenantOf(t, orgs[0]), func(tx pgx.Tx) error {
				return tx.Conn().QueryRow(t.Context(), `SELECT count(*) FROM pg_prepared_statements WHERE name LIKE 'appcitas_read_%'`,
					pgx.QueryExecModeSimpleProtocol).Scan(&prepared)
			}); err != nil {
				t.Fatal(err)
			}
			if prepared != want {
				t.Fatalf("cache %d: the connection holds %d one-trip statements; want %d", cache, prepared, want)
			}
		}
	})

	m := setupConfig(t, tenancy.Config{Pool: tenancy.PoolOptions{Slices: 1, ConnsPerSlice: 1}})
	orgs := createOrgs(t, m, "Viaje Cuatro", "Viaje Cinco")
	a, b := tenantOf(t, orgs[0]), tenantOf(t, orgs[1])
	ida := insertService(t, m, a, "Corte", 2500)
	insertService(t, m, b, "Tinte", 9900)

	t.Run("RefusedLeadDiscardsTheRows", func(t *testing.T) {
		_, names, read, err := readServiceInOneTrip(t, m, a, leadSQL, ida, func(string) bool { return false })
		if !errors.Is(err, tenancy.ErrLeadRefused) || read || names != nil {
			t.Fatalf("err %v, rows read %v %v; want ErrLeadRefused and no rows read", err, read, names)
		}
		_, _, read, err = readServiceInOneTrip(t, m, a, leadSQL, ida+1000, yes) // no lead row: Found is false
		if !errors.Is(err, tenancy.ErrLeadRefused) || read {
			t.Fatalf("err %v, rows read %v; want ErrLeadRefused and no rows read", err, read)
		}
	})

	t.Run("OtherTenantsSchemaIsPermissionDenied", func(t *testing.T) {
		for range 3 { // a failure leaves the connection clean
			_, _, _, err := readServiceInOneTrip(t, m, a, `SELECT nombre FROM `+quote(b.Schema, "citas_servicio")+` WHERE id > $1`, 0, yes)
			if tenancy.SQLState(err) != "42501" {
				t.Fatalf("err = %v; want permission denied", err)
			}
		}
		if _, names, _, err := readServiceInOneTrip(t, m, a, leadSQL, ida, yes); err != nil || len(names) != 1 {
			t.Fatalf("after failures: %v %v", names, err)
		}
	})

	t.Run("PreparedAgainWhenAColumnChangesType", func(t *testing.T) {
		if _, _, _, err := readServiceInOneTrip(t, m, a, leadSQL, ida, yes); err != nil {
			t.Fatal(err)
		}
		if err := m.Run(t.Context(), a, func(tx pgx.Tx) error {
			_, err := tx.Exec(t.Context(), `ALTER TABLE citas_servicio ALTER COLUMN nombre TYPE varchar(200)`)
			return err
		}); err != nil {
			t.Fatal(err)
		}
		// The kept statements are stale: the first read may fail, and then they are prepared again.
		_, _, _, _ = readServiceInOneTrip(t, m, a, leadSQL, ida, yes)
		if lead, names, _, err := readServiceInOneTrip(t, m, a, leadSQL, ida, yes); err != nil || lead != "Corte" || len(names) != 1 {
			t.Fatalf("after the change: %q %v %v", lead, names, err)
		}
	})

	t.Run("PreparedAgainWhenTheStatementsAreGone", func(t *testing.T) {
		if _, _, _, err := readServiceInOneTrip(t, m, a, leadSQL, ida, yes); err != nil {
			t.Fatal(err)
		}
		if err := m.Run(t.Context(), a, func(tx pgx.Tx) error {
			_, err := tx.Conn().Exec(t.Context(), `DEALLOCATE ALL`, pgx.QueryExecModeSimpleProtocol)
			return err
		}); err != nil {
			t.Fatal(err)
		}
		// The first read finds its statements missing and fails; the next prepares them again.
		if _, _, _, err := readServiceInOneTrip(t, m, a, leadSQL, ida, yes); tenancy.SQLState(err) != "26000" {
			t.Fatalf("err = %v; want invalid_sql_statement_name", err)
		}
		if lead, names, _, err := readServiceInOneTrip(t, m, a, leadSQL, ida, yes); err != nil || lead != "Corte" || len(names) != 1 {
			t.Fatalf("after the statements were deallocated: %q %v %v", lead, names, err)
		}
	})

	t.Run("SetConfigRoleChecksMembershipAsSetRoleDoes", func(t *testing.T) {
		su := shared(t, m)
		outsider := "outsider_" + randomHex(t)
		if _, err := su.Exec(t.Context(), `CREATE ROLE `+quote(outsider)+` NOLOGIN`); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _, _ = su.Exec(t.Context(), `DROP ROLE IF EXISTS `+quote(outsider)) })
		conn, err := pgx.Connect(t.Context(), databaseURL(t, m)) // the Manager's login role
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(t.Context())
		try := func(role, how string) string {
			tx, err := conn.Begin(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			defer func() { _ = tx.Rollback(t.Context()) }()
			if how == "set_config" {
				_, err = tx.Exec(t.Context(), `SELECT set_config('role', $1, true)`, role)
			} else {
				_, err = tx.Exec(t.Context(), `SET LOCAL ROLE `+quote(role))
			}
			return tenancy.SQLState(err)
		}
		for _, how := range []string{"set_config", "SET LOCAL ROLE"} {
			if got := try(outsider, how); got != "42501" {
				t.Errorf("%s to a role the login role is not a member of: SQLSTATE %q; want 42501", how, got)
			}
			if got := try(a.Schema, how); got != "" {
				t.Errorf("%s to the tenant's role: SQLSTATE %q; want success", how, got)
			}
		}
	})
}
