package backup_test

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

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
	// pg_dump is an operator's tool: it runs as the superuser.
	cfg, err := pgx.ParseConfig(pgtest.SuperuserURL(b, f.url))
	if err != nil {
		b.Fatal(err)
	}
	dumpEnv := append(os.Environ(), "PGHOST="+cfg.Host, fmt.Sprintf("PGPORT=%d", cfg.Port), "PGUSER="+cfg.User,
		"PGPASSWORD="+cfg.Password, "PGDATABASE="+cfg.Database)

	conn, err := pgx.Connect(ctx, f.url)
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close(ctx)
	for _, n := range []int{10, 10000} {
		growFleet(b, conn, n)
		var classes int
		if err := conn.QueryRow(ctx, `SELECT count(*) FROM pg_class`).Scan(&classes); err != nil {
			b.Fatal(err)
		}
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
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM pg_namespace WHERE nspname LIKE 'tenant\_%'`).Scan(&have); err != nil {
		b.Fatal(err)
	}
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
		if err != nil {
			b.Fatal(err)
		}
		have = min(have+perTx, n)
	}
}

// BenchmarkMoveTenant measures moving a tenant of 100,000 appointments to a second cluster and
// back, idle and while 4 writers book appointments non-stop through tenancy.Manager.Run (each
// resolving the organization per attempt, as the request path does, and retrying a refused write
// until it is acknowledged). It reports the pause of the tenant's writes measured by Move
// (pause-ms, mean and max over the moves) and, with writers, the longest time one write took from
// its first attempt to its acknowledgement (longest-write-ms, the refused-or-delayed window seen by
// a client); after the moves, every acknowledged write must be on the tenant's current server
// exactly once:
//
//	go test -run '^$' -bench BenchmarkMoveTenant -benchtime 2x -timeout 60m ./internal/backup
func BenchmarkMoveTenant(b *testing.B) {
	ctx := context.Background()
	secondURL, _ := startCluster(b, nil)
	f := setup(b, setupOptions{servers: map[string]string{"second": secondURL}})
	const appointments = 100000
	org := f.newOrg(b, "Grande", "", appointments)
	servers := []string{"second", "default"}
	i := 0
	for run, writers := range []int{0, 4} {
		b.Run(fmt.Sprintf("writers=%d", writers), func(b *testing.B) {
			var w *writerLoad
			if writers > 0 {
				w = startWriters(f.m, org.ID, writers, int64(run+1)*1_000_000)
				time.Sleep(200 * time.Millisecond)
			}
			var pauses, longestPause time.Duration
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
				b.Logf("move %d to %s: pause %s, whole move %s", moves+1, res.To, res.Pause.Round(time.Millisecond), res.Took.Round(time.Millisecond))
				pauses += res.Pause
				longestPause = max(longestPause, res.Pause)
				i++
				moves++
			}
			b.ReportMetric(float64(pauses.Milliseconds())/float64(moves), "pause-ms/move")
			b.ReportMetric(float64(longestPause.Milliseconds()), "max-pause-ms")
			if w != nil {
				time.Sleep(200 * time.Millisecond)
				rep := requireWritersOK(b, w)
				b.Logf("writers: %s", rep)
				b.ReportMetric(float64(rep.Longest.Milliseconds()), "longest-write-ms")
				b.ReportMetric(float64(rep.Refused)/float64(moves), "refused-attempts/move")
				b.ReportMetric(float64(rep.Acked), "writes")
			}
		})
	}
}
