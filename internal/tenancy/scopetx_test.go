package tenancy_test

import (
	"context"
	"errors"
	"hash/fnv"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/appcitas/appcitas/internal/tenancy"
)

// TestRunLead checks the lead query: sent with the scope's opening, inside the scope, its row
// scanned before fn runs.
func TestRunLead(t *testing.T) {
	t.Parallel()
	m := setup(t)
	ctx := t.Context()
	orgs := createOrgs(t, m, "Lead Uno", "Lead Dos")
	a, b := tenantOf(t, orgs[0]), tenantOf(t, orgs[1])
	id := insertService(t, m, a, "Corte", 2500)
	insertService(t, m, b, "Tinte", 9900)

	tests := []struct {
		name      string
		ten       tenancy.Tenant
		sql       string
		args      []int64
		wantFound bool
		wantName  string
		wantErr   bool
	}{
		{"ScansTheRowInsideTheScope", a, `SELECT nombre FROM citas_servicio WHERE id = $1`, []int64{id}, true, "Corte", false},
		{"NoRowIsNotFound", a, `SELECT nombre FROM citas_servicio WHERE id = $1`, []int64{id + 1000}, false, "", false},
		{"OtherTenantsScopeSeesItsOwnTable", b, `SELECT nombre FROM citas_servicio WHERE precio_centavos = $1`, []int64{9900}, true, "Tinte", false},
		{"NegativeArgumentIsALiteralNotAComment", a, `SELECT nombre FROM citas_servicio WHERE id = -$1`, []int64{-id}, true, "Corte", false},
		{"MissingArgumentIsRefused", a, `SELECT nombre FROM citas_servicio WHERE id = $2`, []int64{id}, false, "", true},
		{"FailingLeadFailsTheRun", a, `SELECT nombre FROM no_such_table WHERE id = $1`, []int64{id}, false, "", true},
		{"OtherTenantsSchemaIsPermissionDenied", a, `SELECT nombre FROM ` + quote(b.Schema, "citas_servicio") + ` WHERE id > $1`, []int64{0}, false, "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var name string
			lead := &tenancy.Lead{SQL: tt.sql, Args: tt.args, Dest: []any{&name}}
			called := false
			err := m.RunWith(ctx, tt.ten, tenancy.RunOptions{Lead: lead}, func(tx pgx.Tx) error {
				called = true
				return nil
			})
			if tt.wantErr {
				if err == nil || called {
					t.Fatalf("err = %v, fn called %v; want an error and fn not called", err, called)
				}
				return
			}
			if err != nil || !called {
				t.Fatalf("err = %v, fn called %v", err, called)
			}
			if lead.Found != tt.wantFound || name != tt.wantName {
				t.Errorf("found %v %q; want %v %q", lead.Found, name, tt.wantFound, tt.wantName)
			}
		})
	}

	t.Run("ConnectionIsReusableAfterAFailedLead", func(t *testing.T) {
		for range 20 { // more than the pool holds: a leaked transaction would show
			lead := &tenancy.Lead{SQL: `SELECT 1/0 WHERE $1 = 1`, Args: []int64{1}, Dest: []any{new(int)}}
			if err := m.RunWith(ctx, a, tenancy.RunOptions{Lead: lead}, func(pgx.Tx) error { return nil }); tenancy.SQLState(err) != "22012" {
				t.Fatalf("err = %v; want division_by_zero", err)
			}
		}
		if got := insertService(t, m, a, "Después", 100); got == 0 {
			t.Fatal("no id")
		}
	})
}

// TestRunLeadIsPreparedPerTenant checks the lead with the statement cache: prepared in the opening
// the first time a connection serves a tenant, executed from then on, one statement per tenant,
// at most StatementCache of them per connection, and prepared afresh when the connection's
// statement is gone or stale.
func TestRunLeadIsPreparedPerTenant(t *testing.T) {
	t.Parallel()
	const leadSQL = `SELECT nombre FROM citas_servicio WHERE id = $1`
	// run opens a's scope with the lead, checks that it read want, and returns the names of the
	// lead statements the connection holds (read inside the scope).
	run := func(t *testing.T, m *tenancy.Manager, ten tenancy.Tenant, id int64, want string, fn func(tx pgx.Tx) error) []string {
		t.Helper()
		var name string
		var held []string
		lead := &tenancy.Lead{SQL: leadSQL, Args: []int64{id}, Dest: []any{&name}}
		err := m.RunWith(t.Context(), ten, tenancy.RunOptions{Lead: lead}, func(tx pgx.Tx) error {
			rows, err := tx.Conn().Query(t.Context(), `SELECT name FROM pg_prepared_statements WHERE name LIKE 'appcitas_lead_%' ORDER BY name`, pgx.QueryExecModeSimpleProtocol)
			if err != nil {
				return err
			}
			if held, err = pgx.CollectRows(rows, pgx.RowTo[string]); err != nil {
				return err
			}
			if fn != nil {
				return fn(tx)
			}
			return nil
		})
		if err != nil {
			t.Fatalf("run in %s: %v", ten.Schema, err)
		}
		if !lead.Found || name != want {
			t.Fatalf("lead in %s read %v %q; want %q", ten.Schema, lead.Found, name, want)
		}
		return held
	}
	// dropLeads deallocates the connection's lead statements behind the scope's back.
	dropLeads := func(tx pgx.Tx) error {
		rows, err := tx.Conn().Query(context.Background(), `SELECT name FROM pg_prepared_statements WHERE name LIKE 'appcitas_lead_%'`, pgx.QueryExecModeSimpleProtocol)
		if err != nil {
			return err
		}
		names, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return err
		}
		for _, n := range names {
			if _, err := tx.Exec(context.Background(), "DEALLOCATE "+n); err != nil {
				return err
			}
		}
		return nil
	}

	t.Run("OneStatementPerTenantEachReadingItsOwnRows", func(t *testing.T) {
		t.Parallel()
		m := setupConfig(t, tenancy.Config{Pool: tenancy.PoolOptions{Slices: 1, ConnsPerSlice: 1}})
		orgs := createOrgs(t, m, "Previa Uno", "Previa Dos")
		a, b := tenantOf(t, orgs[0]), tenantOf(t, orgs[1])
		ida, idb := insertService(t, m, a, "Corte", 2500), insertService(t, m, b, "Tinte", 9900)
		var held []string
		for range 3 { // both tenants on the one connection, alternating
			run(t, m, a, ida, "Corte", nil)
			held = run(t, m, b, idb, "Tinte", nil)
		}
		if len(held) != 2 {
			t.Fatalf("the connection holds lead statements %v; want one per tenant (2)", held)
		}
	})

	t.Run("AtMostStatementCacheOfThemPerConnection", func(t *testing.T) {
		t.Parallel()
		m := setupConfig(t, tenancy.Config{Pool: tenancy.PoolOptions{Slices: 1, ConnsPerSlice: 1, StatementCache: 2}})
		orgs := createOrgs(t, m, "Tope Uno", "Tope Dos", "Tope Tres")
		var ids []int64
		for i, o := range orgs {
			ids = append(ids, insertService(t, m, tenantOf(t, o), "Servicio "+strconv.Itoa(i), 100))
		}
		for range 3 {
			for i, o := range orgs {
				if held := run(t, m, tenantOf(t, o), ids[i], "Servicio "+strconv.Itoa(i), nil); len(held) > 2 {
					t.Fatalf("the connection holds lead statements %v; want at most 2", held)
				}
			}
		}
	})

	t.Run("PreparedAgainWhenTheStatementIsGone", func(t *testing.T) {
		t.Parallel()
		m := setupConfig(t, tenancy.Config{Pool: tenancy.PoolOptions{Slices: 1, ConnsPerSlice: 1}})
		a := tenantOf(t, createOrgs(t, m, "Perdida Uno")[0])
		id := insertService(t, m, a, "Corte", 2500)
		run(t, m, a, id, "Corte", dropLeads)
		if held := run(t, m, a, id, "Corte", nil); len(held) != 1 {
			t.Fatalf("after the statement was deallocated the connection holds %v; want it prepared again", held)
		}
	})

	t.Run("PreparedAgainWhenAColumnChangesType", func(t *testing.T) {
		t.Parallel()
		m := setupConfig(t, tenancy.Config{Pool: tenancy.PoolOptions{Slices: 1, ConnsPerSlice: 1}})
		a := tenantOf(t, createOrgs(t, m, "Cambio Uno")[0])
		id := insertService(t, m, a, "Corte", 2500)
		run(t, m, a, id, "Corte", func(tx pgx.Tx) error {
			// the kept plan's result (text) no longer matches: "cached plan must not change result type"
			_, err := tx.Exec(context.Background(), `ALTER TABLE citas_servicio ALTER COLUMN nombre TYPE varchar(200)`)
			return err
		})
		run(t, m, a, id, "Corte", nil)
	})

	t.Run("WithoutTheCacheNothingIsPrepared", func(t *testing.T) {
		t.Parallel()
		m := setupConfig(t, tenancy.Config{Pool: tenancy.PoolOptions{Slices: 1, ConnsPerSlice: 1, StatementCache: -1}})
		a := tenantOf(t, createOrgs(t, m, "Sin Cache Uno")[0])
		id := insertService(t, m, a, "Corte", 2500)
		run(t, m, a, id, "Corte", nil)
		if held := run(t, m, a, id, "Corte", nil); len(held) != 0 {
			t.Fatalf("without the statement cache the connection holds %v; want none", held)
		}
	})
}

// TestRunTx checks that the transaction Run hands to fn behaves as pgx's own.
func TestRunTx(t *testing.T) {
	t.Parallel()
	m := setup(t)
	ctx := t.Context()
	ten := tenantOf(t, createOrgs(t, m, "Tx Uno")[0])
	count := func(t *testing.T, name string) int {
		t.Helper()
		return len(queryStrings(t, shared(t, m), `SELECT nombre FROM `+quote(ten.Schema, "citas_servicio")+` WHERE nombre = $1`, name))
	}
	insert := func(tx pgx.Tx, name string) error {
		_, err := tx.Exec(ctx, `INSERT INTO citas_servicio (nombre, duracion_minutos, precio_centavos) VALUES ($1, 30, 1)`, name)
		return err
	}

	t.Run("RefusesNestedTransactions", func(t *testing.T) {
		err := m.Run(ctx, ten, func(tx pgx.Tx) error {
			if sp, err := tx.Begin(ctx); err == nil || sp != nil {
				t.Errorf("Begin in a scope = %v, %v; want an error", sp, err)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	})

	t.Run("SavepointRollbackKeepsTheRest", func(t *testing.T) {
		err := m.Run(ctx, ten, func(tx pgx.Tx) error {
			if err := insert(tx, "sp-kept"); err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, `SAVEPOINT sp`); err != nil {
				return err
			}
			if err := insert(tx, "sp-dropped"); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, `ROLLBACK TO SAVEPOINT sp`)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		if count(t, "sp-kept") != 1 || count(t, "sp-dropped") != 0 {
			t.Errorf("kept %d, dropped %d; want 1, 0", count(t, "sp-kept"), count(t, "sp-dropped"))
		}
	})

	t.Run("FailedStatementMakesCommitAnError", func(t *testing.T) {
		var tx pgx.Tx
		err := m.Run(ctx, ten, func(got pgx.Tx) error {
			tx = got
			_ = insert(got, "fallida")
			_, _ = got.Exec(ctx, `SELECT 1/0`) // aborts the transaction; fn ignores it
			return nil
		})
		if !errors.Is(err, pgx.ErrTxCommitRollback) {
			t.Errorf("err = %v; want ErrTxCommitRollback", err)
		}
		if count(t, "fallida") != 0 {
			t.Error("a transaction that failed was committed")
		}
		if _, err := tx.Exec(ctx, `SELECT 1`); !errors.Is(err, pgx.ErrTxClosed) {
			t.Errorf("using the tx after Run: %v; want ErrTxClosed", err)
		}
	})

	t.Run("BatchAndCopyRunInTheScope", func(t *testing.T) {
		err := m.Run(ctx, ten, func(tx pgx.Tx) error {
			n, err := tx.CopyFrom(ctx, pgx.Identifier{"citas_servicio"}, []string{"nombre", "duracion_minutos", "precio_centavos"},
				pgx.CopyFromRows([][]any{{"copiado", 30, 1}}))
			if err != nil || n != 1 {
				return errors.Join(err, errors.New("copy"))
			}
			b := &pgx.Batch{}
			b.Queue(`INSERT INTO citas_servicio (nombre, duracion_minutos, precio_centavos) VALUES ('lote', 30, 1)`)
			b.Queue(`SELECT count(*) FROM citas_servicio WHERE nombre IN ('copiado', 'lote')`)
			br := tx.SendBatch(ctx, b)
			defer br.Close()
			if _, err := br.Exec(); err != nil {
				return err
			}
			var got int
			if err := br.QueryRow().Scan(&got); err != nil || got != 2 {
				return errors.Join(err, errors.New("batch count"))
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if count(t, "copiado") != 1 || count(t, "lote") != 1 {
			t.Error("copy and batch rows were not committed in the tenant's schema")
		}
	})
}

// TestTenantPoolSlices checks where Run takes its connection: from the tenant's own pool slice,
// from the next slice when its own is busy, and from its own again (waiting) when every slice is
// busy, never from a connection beyond the pool's size.
func TestTenantPoolSlices(t *testing.T) {
	t.Parallel()
	m := setupConfig(t, tenancy.Config{Pool: tenancy.PoolOptions{Slices: 2, ConnsPerSlice: 1}})
	ctx := t.Context()
	ten := tenantOf(t, createOrgs(t, m, "Rebalse")[0])

	// hold runs a Run for ten that reports its backend's pid and holds the connection until
	// released.
	hold := func() (pid chan uint32, release chan struct{}, done chan error) {
		pid, release, done = make(chan uint32, 1), make(chan struct{}), make(chan error, 1)
		go func() {
			done <- m.Run(ctx, ten, func(tx pgx.Tx) error {
				pid <- tx.Conn().PgConn().PID()
				<-release
				return nil
			})
		}()
		return pid, release, done
	}
	pidA, releaseA, doneA := hold()
	home := <-pidA
	pidB, releaseB, doneB := hold()
	next := <-pidB
	if next == home {
		t.Fatalf("with its own slice busy, the tenant was served by the same backend %d", home)
	}

	waitCtx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	err := m.Run(waitCtx, ten, func(pgx.Tx) error { return nil })
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("with every slice busy: %v; want to wait (context deadline exceeded)", err)
	}

	close(releaseA)
	close(releaseB)
	if err := errors.Join(<-doneA, <-doneB); err != nil {
		t.Fatal(err)
	}
	var again uint32
	if err := m.Run(ctx, ten, func(tx pgx.Tx) error { again = tx.Conn().PgConn().PID(); return nil }); err != nil {
		t.Fatal(err)
	}
	if again != home {
		t.Errorf("when its slice is free again the tenant was served by backend %d, not its own %d", again, home)
	}
}

// TestScopeStatementCache checks the tenant pools' statement cache: every tenant gets prepared
// statements of its own for the same SQL text, kept from one run to the next, that read only its
// own rows; batches are keyed too and the caller's batch is left as it was; a statement prepared by
// name in a scope runs by that name; and with the cache off nothing is kept.
func TestScopeStatementCache(t *testing.T) {
	t.Parallel()
	const listSQL = `SELECT nombre FROM citas_servicio ORDER BY id`
	kept := func(t *testing.T, m *tenancy.Manager, ten tenancy.Tenant) (mine, others int) {
		t.Helper()
		err := m.Run(t.Context(), ten, func(tx pgx.Tx) error {
			rows, err := tx.Conn().Query(t.Context(), `SELECT statement FROM pg_prepared_statements`, pgx.QueryExecModeSimpleProtocol)
			if err != nil {
				return err
			}
			stmts, err := pgx.CollectRows(rows, pgx.RowTo[string])
			for _, s := range stmts {
				switch {
				case strings.HasPrefix(s, "/*"+ten.Schema+"*/ "):
					mine++
				case strings.HasPrefix(s, "/*tenant_"):
					others++
				}
			}
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		return mine, others
	}
	names := func(t *testing.T, m *tenancy.Manager, ten tenancy.Tenant) []string {
		t.Helper()
		var out []string
		err := m.Run(t.Context(), ten, func(tx pgx.Tx) error {
			rows, err := tx.Query(t.Context(), listSQL)
			if err != nil {
				return err
			}
			out, err = pgx.CollectRows(rows, pgx.RowTo[string])
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		return out
	}

	t.Run("EachTenantKeepsItsOwnStatementsAndReadsItsOwnRows", func(t *testing.T) {
		t.Parallel()
		m := setupConfig(t, tenancy.Config{Pool: tenancy.PoolOptions{Slices: 1, ConnsPerSlice: 1}})
		orgs := createOrgs(t, m, "Clave Uno", "Clave Dos")
		a, b := tenantOf(t, orgs[0]), tenantOf(t, orgs[1])
		insertService(t, m, a, "Corte", 2500)
		insertService(t, m, b, "Tinte", 9900)
		for range 3 { // alternate tenants on the one connection: each run finds its own statement
			if got := names(t, m, a); len(got) != 1 || got[0] != "Corte" {
				t.Fatalf("tenant a read %v; want [Corte]", got)
			}
			if got := names(t, m, b); len(got) != 1 || got[0] != "Tinte" {
				t.Fatalf("tenant b read %v; want [Tinte]", got)
			}
		}
		mineA, _ := kept(t, m, a)
		mineB, _ := kept(t, m, b)
		if mineA == 0 || mineB == 0 {
			t.Errorf("statements kept on the connection: %d of a, %d of b; want each tenant's own", mineA, mineB)
		}
	})

	t.Run("BatchesAreKeyedAndTheCallersBatchIsUntouched", func(t *testing.T) {
		t.Parallel()
		m := setupConfig(t, tenancy.Config{Pool: tenancy.PoolOptions{Slices: 1, ConnsPerSlice: 1}})
		a := tenantOf(t, createOrgs(t, m, "Lote Clave")[0])
		insertService(t, m, a, "Barba", 1500)
		b := &pgx.Batch{}
		var got []string
		b.Queue(listSQL).Query(func(rows pgx.Rows) error {
			var err error
			got, err = pgx.CollectRows(rows, pgx.RowTo[string])
			return err
		})
		b.Queue(`SELECT count(*) FROM citas_servicio WHERE precio_centavos = $1`, 1500)
		err := m.Run(t.Context(), a, func(tx pgx.Tx) error { return tx.SendBatch(t.Context(), b).Close() })
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 1 || got[0] != "Barba" {
			t.Errorf("the batch's callback read %v; want [Barba]", got)
		}
		if b.QueuedQueries[0].SQL != listSQL {
			t.Errorf("the caller's batch now holds %q", b.QueuedQueries[0].SQL)
		}
		if mine, _ := kept(t, m, a); mine < 2 {
			t.Errorf("%d of the batch's statements kept; want 2", mine)
		}
	})

	t.Run("StatementPreparedByNameRunsByName", func(t *testing.T) {
		t.Parallel()
		m := setupConfig(t, tenancy.Config{Pool: tenancy.PoolOptions{Slices: 1, ConnsPerSlice: 1}})
		a := tenantOf(t, createOrgs(t, m, "Nombre Clave")[0])
		insertService(t, m, a, "Peinado", 3000)
		var n int
		err := m.Run(t.Context(), a, func(tx pgx.Tx) error {
			if _, err := tx.Prepare(t.Context(), "contar", `SELECT count(*) FROM citas_servicio`); err != nil {
				return err
			}
			return tx.QueryRow(t.Context(), "contar").Scan(&n)
		})
		if err != nil || n != 1 {
			t.Fatalf("running the prepared statement by name: n = %d, %v; want 1", n, err)
		}
	})

	t.Run("CacheOffKeepsNothing", func(t *testing.T) {
		t.Parallel()
		m := setupConfig(t, tenancy.Config{Pool: tenancy.PoolOptions{Slices: 1, ConnsPerSlice: 1, StatementCache: -1}})
		a := tenantOf(t, createOrgs(t, m, "Sin Cache")[0])
		insertService(t, m, a, "Corte", 2500)
		if got := names(t, m, a); len(got) != 1 || got[0] != "Corte" {
			t.Fatalf("read %v; want [Corte]", got)
		}
		if mine, others := kept(t, m, a); mine+others != 0 {
			t.Errorf("%d statements kept with the cache off", mine+others)
		}
	})
}

// TestTenantWaitsForItsOwnSliceBeforeSpilling checks SpillAfter: a tenant whose slice is busy with
// another tenant waits for it, and is served there when it frees up in time, on the backend that
// holds its caches; it goes to another slice when the wait runs out; and it does not wait when what
// keeps its slice busy is a request of its own (a busy tenant gets more backends, not a queue).
func TestTenantWaitsForItsOwnSliceBeforeSpilling(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		spillAfter time.Duration
		holdFor    time.Duration
		sameTenant bool // the slice is busy with the same tenant, not another one of the slice
		wantHome   bool
		wantWithin time.Duration
	}{
		{"FreedWithinTheWaitServesAtHome", 5 * time.Second, 100 * time.Millisecond, false, true, 4 * time.Second},
		{"StillBusyAfterTheWaitSpills", 20 * time.Millisecond, 2 * time.Second, false, false, 1500 * time.Millisecond},
		{"BusyWithItselfSpillsAtOnce", 10 * time.Second, 3 * time.Second, true, false, 2 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			m := setupConfig(t, tenancy.Config{Pool: tenancy.PoolOptions{Slices: 2, ConnsPerSlice: 1, SpillAfter: tt.spillAfter}})
			ctx := t.Context()
			holder, asker := sameSlice(t, m, 2, "Espera "+tt.name[:5])
			if tt.sameTenant {
				asker = holder
			}
			pidCh, done := make(chan uint32, 1), make(chan error, 1)
			go func() {
				done <- m.Run(ctx, holder, func(tx pgx.Tx) error {
					pidCh <- tx.Conn().PgConn().PID()
					time.Sleep(tt.holdFor)
					return nil
				})
			}()
			home := <-pidCh
			var got uint32
			start := time.Now()
			if err := m.Run(ctx, asker, func(tx pgx.Tx) error { got = tx.Conn().PgConn().PID(); return nil }); err != nil {
				t.Fatal(err)
			}
			took := time.Since(start)
			if err := <-done; err != nil {
				t.Fatal(err)
			}
			if (got == home) != tt.wantHome {
				t.Errorf("served by backend %d, its own slice's is %d; want at home: %v", got, home, tt.wantHome)
			}
			if took > tt.wantWithin {
				t.Errorf("served after %v; want within %v", took, tt.wantWithin)
			}
		})
	}
}

// sameSlice creates organizations until two of them have their schemas in the same of n pool
// slices (the slice is fnv-32a of the schema modulo n, as in tenancy), and returns both.
func sameSlice(t *testing.T, m *tenancy.Manager, n uint32, name string) (a, b tenancy.Tenant) {
	t.Helper()
	slice := func(schema string) uint32 {
		h := fnv.New32a()
		h.Write([]byte(schema))
		return h.Sum32() % n
	}
	a = tenantOf(t, createOrgs(t, m, name+" 0")[0])
	for i := 1; i < 20; i++ {
		b = tenantOf(t, createOrgs(t, m, name+" "+strconv.Itoa(i))[0])
		if slice(b.Schema) == slice(a.Schema) {
			return a, b
		}
	}
	t.Fatal("no two of 20 tenants share a slice")
	return a, b
}

// TestBulkScope checks RunOptions.Bulk: the scope runs on the server's bulk pool, never on a
// tenant slice, in the tenant's schema and role as any scope does, keeps no statement on its
// connection (a backup of each of 10,000 tenants must not leave 10,000 tenants' plans behind),
// and a lead still works there, inlined.
func TestBulkScope(t *testing.T) {
	t.Parallel()
	m := setupConfig(t, tenancy.Config{Pool: tenancy.PoolOptions{Slices: 2, ConnsPerSlice: 1, BulkConns: 1}})
	ctx := t.Context()
	orgs := createOrgs(t, m, "Masivo Uno", "Masivo Dos")
	a, b := tenantOf(t, orgs[0]), tenantOf(t, orgs[1])
	id := insertService(t, m, a, "Corte", 2500)
	insertService(t, m, b, "Tinte", 9900)
	bulk := tenancy.RunOptions{Bulk: true}

	acquires := func() (bulk, slices int64) {
		st := m.Servers().Stats()[tenancy.DefaultServer]
		for _, s := range st.Slices {
			slices += s.AcquireCount()
		}
		return st.Bulk.AcquireCount(), slices
	}

	t.Run("RunsOnTheBulkPoolNotOnASlice", func(t *testing.T) {
		bulkBefore, slicesBefore := acquires()
		for _, ten := range []tenancy.Tenant{a, b, a} {
			if err := m.RunWith(ctx, ten, bulk, func(pgx.Tx) error { return nil }); err != nil {
				t.Fatal(err)
			}
		}
		bulkAfter, slicesAfter := acquires()
		if bulkAfter-bulkBefore != 3 || slicesAfter != slicesBefore {
			t.Errorf("bulk pool acquired %d times, slices %d; want 3 and 0", bulkAfter-bulkBefore, slicesAfter-slicesBefore)
		}
	})

	t.Run("ReadsOnlyItsTenantUnderItsRole", func(t *testing.T) {
		tests := []struct {
			name string
			ten  tenancy.Tenant
			want string
		}{
			{"FirstTenant", a, "Corte"},
			{"SecondTenant", b, "Tinte"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				var user string
				var got []string
				err := m.RunWith(ctx, tt.ten, bulk, func(tx pgx.Tx) error {
					if err := tx.QueryRow(ctx, `SELECT current_user`).Scan(&user); err != nil {
						return err
					}
					rows, err := tx.Query(ctx, `SELECT nombre FROM citas_servicio WHERE precio_centavos > $1`, 0)
					if err != nil {
						return err
					}
					got, err = pgx.CollectRows(rows, pgx.RowTo[string])
					return err
				})
				if err != nil {
					t.Fatal(err)
				}
				if user != tt.ten.Schema || len(got) != 1 || got[0] != tt.want {
					t.Errorf("role %s read %v; want role %s reading [%s]", user, got, tt.ten.Schema, tt.want)
				}
			})
		}
		err := m.RunWith(ctx, a, bulk, func(tx pgx.Tx) error {
			_, err := tx.Exec(ctx, `SELECT count(*) FROM `+quote(b.Schema, "citas_servicio"))
			return err
		})
		if tenancy.SQLState(err) != "42501" {
			t.Errorf("reading another tenant's schema: %v; want permission denied (42501)", err)
		}
	})

	t.Run("KeepsNoStatement", func(t *testing.T) {
		var kept []string
		for _, ten := range []tenancy.Tenant{a, b} {
			err := m.RunWith(ctx, ten, bulk, func(tx pgx.Tx) error {
				var n int
				if err := tx.QueryRow(ctx, `SELECT count(*) FROM citas_servicio WHERE id > $1`, 0).Scan(&n); err != nil {
					return err
				}
				rows, err := tx.Query(ctx, `SELECT statement FROM pg_prepared_statements`)
				if err != nil {
					return err
				}
				kept, err = pgx.CollectRows(rows, pgx.RowTo[string])
				return err
			})
			if err != nil {
				t.Fatal(err)
			}
			if len(kept) != 0 {
				t.Fatalf("the bulk connection keeps %d statements: %v", len(kept), kept)
			}
		}
	})

	t.Run("LeadIsInlined", func(t *testing.T) {
		var name string
		lead := &tenancy.Lead{SQL: `SELECT nombre FROM citas_servicio WHERE id = $1`, Args: []int64{id}, Dest: []any{&name}}
		var kept int
		err := m.RunWith(ctx, a, tenancy.RunOptions{Bulk: true, Lead: lead}, func(tx pgx.Tx) error {
			return tx.QueryRow(ctx, `SELECT count(*) FROM pg_prepared_statements`).Scan(&kept)
		})
		if err != nil || !lead.Found || name != "Corte" || kept != 0 {
			t.Errorf("err %v, found %v %q, %d statements kept; want Corte and none kept", err, lead.Found, name, kept)
		}
	})

	t.Run("SnapshotsRunInBulk", func(t *testing.T) {
		bulkBefore, slicesBefore := acquires()
		if err := m.RunSnapshot(ctx, a, func(pgx.Tx) error { return nil }); err != nil {
			t.Fatal(err)
		}
		bulkAfter, slicesAfter := acquires()
		if bulkAfter-bulkBefore != 1 || slicesAfter != slicesBefore {
			t.Errorf("a snapshot acquired the bulk pool %d times and the slices %d; want 1 and 0", bulkAfter-bulkBefore, slicesAfter-slicesBefore)
		}
	})
}
