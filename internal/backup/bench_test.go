package backup_test

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/appcitas/appcitas/internal/backup"
	"github.com/appcitas/appcitas/internal/pgtest"
)

// BenchmarkTenantBackup measures the backup of one small tenant (7 tables, 50 appointments) with
// backup.Write and with pg_dump -n, on a database holding 10 and then 10,000 tenant-like schemas.
// The fleet is built with plain CREATE SCHEMA + CREATE TABLE in bulk (5 tables, each with a primary
// key, a secondary index and a TOAST table: about 20 pg_class rows per schema): what matters is
// the size of the catalog. Run it alone, it takes minutes:
//
//	go test -run '^$' -bench BenchmarkTenantBackup -benchtime 10x -timeout 30m ./internal/backup
func BenchmarkTenantBackup(b *testing.B) {
	ctx := context.Background()
	f := setup(b, setupOptions{})
	org := f.newOrg(b, "Medida", "", 50)
	pgDump := "pg_dump"
	if srv := pgtest.Server(b); srv != nil {
		pgDump = filepath.Join(srv.BinDir(), "pg_dump")
	}
	cfg, err := pgx.ParseConfig(f.url)
	require.NoError(b, err)
	dumpEnv := append(os.Environ(), "PGHOST="+cfg.Host, fmt.Sprintf("PGPORT=%d", cfg.Port), "PGUSER="+cfg.User,
		"PGPASSWORD="+cfg.Password, "PGDATABASE="+cfg.Database)

	conn, err := pgx.Connect(ctx, f.url)
	require.NoError(b, err)
	defer conn.Close(ctx)
	for _, n := range []int{10, 10000} {
		growFleet(b, conn, n)
		var classes int
		require.NoError(b, conn.QueryRow(ctx, `SELECT count(*) FROM pg_class`).Scan(&classes))
		b.Run(fmt.Sprintf("schemas=%d/appcitas", n), func(b *testing.B) {
			for b.Loop() {
				if _, err := backup.Write(ctx, f.m, org, io.Discard); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(classes), "pg_class_rows")
		})
		b.Run(fmt.Sprintf("schemas=%d/pg_dump", n), func(b *testing.B) {
			for b.Loop() {
				cmd := exec.Command(pgDump, "-n", org.SchemaName, "-f", os.DevNull)
				cmd.Env = dumpEnv
				if out, err := cmd.CombinedOutput(); err != nil {
					b.Fatalf("pg_dump: %v\n%s", err, out)
				}
			}
			b.ReportMetric(float64(classes), "pg_class_rows")
		})
	}
}

// growFleet adds bulk tenant-like schemas until the database has n tenant_ schemas.
func growFleet(b *testing.B, conn *pgx.Conn, n int) {
	b.Helper()
	ctx := context.Background()
	var have int
	require.NoError(b, conn.QueryRow(ctx, `SELECT count(*) FROM pg_namespace WHERE nspname LIKE 'tenant\_%'`).Scan(&have))
	const perTx = 50
	for have < n {
		var sql strings.Builder
		for i := have; i < min(have+perTx, n); i++ {
			s := pgx.Identifier{fmt.Sprintf("tenant_fleet_%06d", i)}.Sanitize()
			fmt.Fprintf(&sql, "CREATE SCHEMA %s;\n", s)
			for _, t := range []string{"organizacion_sede", "usuarios_perfilusuario", "citas_servicio", "citas_cita", "citas_horario"} {
				fmt.Fprintf(&sql, "CREATE TABLE %s.%s (id bigint PRIMARY KEY, nombre text NOT NULL, ref bigint, creado timestamptz);\n", s, t)
				fmt.Fprintf(&sql, "CREATE INDEX ON %s.%s (ref);\n", s, t)
			}
		}
		_, err := conn.Exec(ctx, "BEGIN;\n"+sql.String()+"COMMIT;")
		require.NoError(b, err)
		have = min(have+perTx, n)
	}
}

// BenchmarkMoveTenant measures moving a tenant of 100,000 appointments to a second cluster and
// back, idle and while 4 writers book appointments (each resolving the organization per write, as
// the request path does), and reports how long writes were paused and the slowest write:
//
//	go test -run '^$' -bench BenchmarkMoveTenant -benchtime 4x -timeout 30m ./internal/backup
func BenchmarkMoveTenant(b *testing.B) {
	ctx := context.Background()
	secondURL, _ := startCluster(b, nil)
	f := setup(b, setupOptions{servers: map[string]string{"second": secondURL}})
	org := f.newOrg(b, "Grande", "", 100000)
	servers := []string{"second", "default"}
	i := 0
	for _, writers := range []int{0, 4} {
		b.Run(fmt.Sprintf("writers=%d", writers), func(b *testing.B) {
			var stop atomic.Bool
			var slowest, okWrites, refused atomic.Int64
			var next atomic.Int64
			next.Store(int64(1000000 * (writers + 1)))
			var wg sync.WaitGroup
			for range writers {
				wg.Go(func() {
					for !stop.Load() {
						cur, err := f.m.Organization(ctx, org.ID)
						if err != nil {
							b.Error(err)
							return
						}
						tn, _ := cur.Tenant()
						n := next.Add(1)
						began := time.Now()
						err = f.m.Run(ctx, tn, func(tx pgx.Tx) error {
							_, err := tx.Exec(ctx, `INSERT INTO citas_cita (sede_id, servicio_id, profesional_id, cliente_nombre, inicio, fin, bloqueo_inicio, bloqueo_fin, precio_centavos)
								SELECT 1, 1, 2, 'Durante', t, t + interval '30 minutes', t, t + interval '30 minutes', 1
								FROM (SELECT timestamptz '2030-01-01 00:00Z' + $1::int * interval '1 hour') s(t)`, n)
							return err
						})
						if took := int64(time.Since(began)); took > slowest.Load() {
							slowest.Store(took)
						}
						if err != nil {
							refused.Add(1)
						} else {
							okWrites.Add(1)
						}
					}
				})
			}
			var pauses time.Duration
			moves := 0
			for b.Loop() {
				res, err := backup.Move(ctx, f.m, org, servers[i%2])
				if err != nil {
					b.Fatal(err)
				}
				org = res.Organization
				if _, err := backup.DropSourceCopies(ctx, f.m, org); err != nil {
					b.Fatal(err)
				}
				pauses += res.Pause
				i++
				moves++
			}
			stop.Store(true)
			wg.Wait()
			b.ReportMetric(float64(pauses.Milliseconds())/float64(moves), "pause-ms/move")
			if writers > 0 {
				b.ReportMetric(float64(time.Duration(slowest.Load()).Milliseconds()), "slowest-write-ms")
				b.ReportMetric(float64(refused.Load())/float64(moves), "refused-writes/move")
				b.ReportMetric(float64(okWrites.Load()), "writes")
			}
		})
	}
}
