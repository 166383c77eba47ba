package backup_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/appcitas/appcitas/internal/backup"
	"github.com/appcitas/appcitas/internal/booking"
	"github.com/appcitas/appcitas/internal/migrate"
	"github.com/appcitas/appcitas/internal/tenancy"
)

func TestBackup(t *testing.T) {
	t.Parallel()
	ctx := context.Background()

	t.Run("ArchiveIsSelfDescribing", func(t *testing.T) {
		t.Parallel()
		f := setup(t, setupOptions{})
		org := f.newOrg(t, "Barbería Juan", "", 25)
		res, err := backup.Store{Root: f.dir}.Backup(ctx, f.m, org)
		require.NoError(t, err)
		require.Equal(t, filepath.Join(f.dir, org.SchemaName), filepath.Dir(res.Path))
		man := res.Manifest
		require.Equal(t, backup.FormatName, man.Format)
		require.Equal(t, org.ID, man.Organization.ID)
		require.Equal(t, org.SchemaName, man.Organization.SchemaName)
		require.Equal(t, "America/Bogota", man.Organization.TimeZone)
		set := f.m.TenantMigrations()
		require.Equal(t, set.Latest(), man.MigrationVersion)
		require.Len(t, man.Migrations, set.Latest())
		require.Equal(t, backup.MigrationName{Version: 1, Name: "inicial"}, man.Migrations[0])
		var names []string
		rows := map[string]int64{}
		for _, tb := range man.Tables {
			names = append(names, tb.Name)
			rows[tb.Name] = tb.Rows
		}
		// Load order: referenced tables before the tables that reference them.
		pos := map[string]int{}
		for i, n := range names {
			pos[n] = i
		}
		for _, dep := range []string{"citas_servicio", "organizacion_sede", "usuarios_perfilusuario"} {
			require.Less(t, pos[dep], pos["citas_cita"], "%s loads before citas_cita", dep)
		}
		require.Less(t, pos["organizacion_sede"], pos["usuarios_perfilusuario"])
		require.Equal(t, int64(2), rows["citas_servicio"])
		require.Equal(t, int64(2), rows["organizacion_sede"])
		require.Equal(t, int64(3), rows["usuarios_perfilusuario"])
		require.Equal(t, int64(25), rows["citas_cita"])
		// Bookkeeping is not data: the restored schema gets its own from its migrations.
		require.NotContains(t, names, tenancy.VersionTable)
		require.NotContains(t, names, booking.SetupVersionTable)

		entries, err := backup.Store{Root: f.dir}.List(org.ID)
		require.NoError(t, err)
		require.Len(t, entries, 1)
		require.NoError(t, entries[0].Err)
		require.Equal(t, res.Path, entries[0].Path)
	})

	t.Run("SnapshotIsConsistentWhileWritesContinue", func(t *testing.T) {
		t.Parallel()
		f := setup(t, setupOptions{})
		org := f.newOrg(t, "Spa Luna", "", 0)
		tn := must(org.Tenant())
		// A writer adds a branch and a service in each transaction: in any consistent snapshot the
		// two tables have as many rows as each other (plus the fixture's 2 each).
		var stop atomic.Bool
		var wg sync.WaitGroup
		var writes atomic.Int64
		wg.Go(func() {
			for !stop.Load() {
				err := f.m.Run(ctx, tn, func(tx pgx.Tx) error {
					_, err := tx.Exec(ctx, `INSERT INTO organizacion_sede (nombre, zona_horaria) VALUES ('S', 'UTC');
						SELECT pg_sleep(0.001);
						INSERT INTO citas_servicio (nombre, duracion_minutos, precio_centavos) VALUES ('X', 30, 1)`)
					return err
				})
				if err != nil {
					t.Error(err)
					return
				}
				writes.Add(1)
			}
		})
		for range 5 {
			var buf bytes.Buffer
			man, err := backup.Write(ctx, f.m, org, &buf)
			require.NoError(t, err)
			rows := map[string]int64{}
			for _, tb := range man.Tables {
				rows[tb.Name] = tb.Rows
			}
			require.Equal(t, rows["organizacion_sede"], rows["citas_servicio"])
		}
		stop.Store(true)
		wg.Wait()
		require.Positive(t, writes.Load())
	})

	t.Run("RestoresAsNewOrganizationWithSameRows", func(t *testing.T) {
		t.Parallel()
		f := setup(t, setupOptions{})
		org := f.newOrg(t, "Clínica Dental", "", 40)
		res, err := backup.Store{Root: f.dir}.Backup(ctx, f.m, org)
		require.NoError(t, err)

		r, err := backup.Restore(ctx, f.m, res.Path, backup.RestoreOptions{NewSlug: "clinica-soporte", NewName: "Clínica (soporte)", KeepMembers: true})
		require.NoError(t, err)
		require.Equal(t, "clinica-soporte", r.Organization.Slug)
		require.NotEqual(t, org.SchemaName, r.Organization.SchemaName)
		require.Equal(t, f.sums(t, org), f.sums(t, r.Organization))
		// Identity sequences continue after the restored ids.
		f.exec(t, r.Organization, `INSERT INTO organizacion_sede (nombre, zona_horaria) VALUES ('Nueva', 'UTC')`)
		require.Equal(t, int64(3), f.count(t, r.Organization, `SELECT max(id) FROM organizacion_sede`))
		// The source is untouched.
		require.Equal(t, int64(2), f.count(t, org, `SELECT count(*) FROM organizacion_sede`))
	})

	t.Run("RestoreOfADroppedTenantNeedsNoFlags", func(t *testing.T) {
		t.Parallel()
		f := setup(t, setupOptions{})
		org := f.newOrg(t, "Peluquería Sol", "", 5)
		res, err := backup.Store{Root: f.dir}.Backup(ctx, f.m, org)
		require.NoError(t, err)
		before := f.sums(t, org)
		require.NoError(t, f.m.DeleteOrganization(ctx, org))
		r, err := backup.Restore(ctx, f.m, res.Path, backup.RestoreOptions{KeepMembers: true})
		require.NoError(t, err)
		require.Equal(t, "Peluquería Sol", r.Organization.Name)
		require.Equal(t, org.Slug, r.Organization.Slug)
		require.Equal(t, before, f.sums(t, r.Organization))
	})

	t.Run("ReplacesTenantAfterBackingUpItsCurrentState", func(t *testing.T) {
		t.Parallel()
		f := setup(t, setupOptions{})
		org := f.newOrg(t, "Barbería Norte", "", 10)
		other := f.newOrg(t, "Otra", "", 3)
		otherSums := f.sums(t, other)
		store := backup.Store{Root: f.dir}
		res, err := store.Backup(ctx, f.m, org)
		require.NoError(t, err)
		want := f.sums(t, org)

		f.exec(t, org, `DELETE FROM citas_cita WHERE id > 5; UPDATE citas_servicio SET nombre = 'cambiado'`)
		changed := f.sums(t, org)
		require.NotEqual(t, want, changed)

		r, err := backup.Restore(ctx, f.m, res.Path, backup.RestoreOptions{ReplaceID: org.ID, PreBackup: store})
		require.NoError(t, err)
		require.NoError(t, r.OldSchemaErr)
		require.Equal(t, org.ID, r.Organization.ID)
		require.Equal(t, org.Slug, r.Organization.Slug)
		require.NotEqual(t, org.SchemaName, r.Organization.SchemaName)
		require.Equal(t, want, f.sums(t, r.Organization))
		require.False(t, schemaExists(t, f.url, org.SchemaName), "old schema dropped")
		require.Equal(t, otherSums, f.sums(t, other))

		// The pre-restore backup holds the state that was replaced.
		pre, err := backup.VerifyFile(r.PreBackup)
		require.NoError(t, err)
		require.Equal(t, org.SchemaName, pre.Organization.SchemaName)
		for _, tb := range pre.Tables {
			if tb.Name == "citas_cita" {
				require.Equal(t, int64(5), tb.Rows)
			}
		}
		// The organization now resolves to the restored schema.
		now, err := f.m.Organization(ctx, org.ID)
		require.NoError(t, err)
		require.Equal(t, r.Organization.SchemaName, now.SchemaName)
	})

	t.Run("RefusesDamagedArchivesAndChangesNothing", func(t *testing.T) {
		t.Parallel()
		f := setup(t, setupOptions{})
		org := f.newOrg(t, "Dañada", "", 200)
		store := backup.Store{Root: f.dir}
		res, err := store.Backup(ctx, f.m, org)
		require.NoError(t, err)
		good, err := os.ReadFile(res.Path)
		require.NoError(t, err)
		raw := gunzip(t, good)

		flip := func(b []byte, i int) []byte {
			c := bytes.Clone(b)
			c[i] ^= 0x20
			return c
		}
		// A flipped byte inside the last table's rows, recompressed so that gzip's own CRC is fine:
		// only the table checksum can catch it.
		lastRow := bytes.LastIndex(raw, []byte("Cliente 200"))
		require.Positive(t, lastRow)
		cases := []struct {
			name string
			data []byte
		}{
			{"Empty", nil},
			{"NotGzip", []byte("-- PostgreSQL database dump\n")},
			{"TruncatedInTheMiddle", good[:len(good)/2]},
			{"TruncatedTrailer", good[:len(good)-4]},
			{"FlippedCompressedByte", flip(good, len(good)/2)},
			{"FlippedRowByteRecompressed", gzipBytes(t, flip(raw, lastRow+2))},
			{"FlippedManifestByteRecompressed", gzipBytes(t, flip(raw, bytes.Index(raw, []byte(`"rows"`))+2))},
			{"ExtraEntry", gzipBytes(t, retar(t, raw, func(name string, data []byte) [][2]string {
				if name == "SHA256SUMS" {
					return [][2]string{{name, string(data)}, {"data/999_extra.copy", "x\n"}}
				}
				return [][2]string{{name, string(data)}}
			}))},
			{"MissingTable", gzipBytes(t, retar(t, raw, func(name string, data []byte) [][2]string {
				if strings.HasSuffix(name, "_citas_cita.copy") {
					return nil
				}
				return [][2]string{{name, string(data)}}
			}))},
			{"ManifestEditedToMatchAlteredRows", gzipBytes(t, retar(t, raw, func(name string, data []byte) [][2]string {
				if name == "manifest.json" {
					return [][2]string{{name, strings.Replace(string(data), `"rows": 200`, `"rows": 201`, 1)}}
				}
				return [][2]string{{name, string(data)}}
			}))},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				path := filepath.Join(t.TempDir(), "x"+backup.Extension)
				require.NoError(t, os.WriteFile(path, c.data, 0o600))
				before := catalogState(t, f.url)
				_, err := backup.Restore(ctx, f.m, path, backup.RestoreOptions{NewSlug: "copia"})
				require.ErrorIs(t, err, backup.ErrCorrupt)
				_, err = backup.Restore(ctx, f.m, path, backup.RestoreOptions{ReplaceID: org.ID, PreBackup: store})
				require.ErrorIs(t, err, backup.ErrCorrupt)
				require.Equal(t, before, catalogState(t, f.url))
			})
		}
		// The untouched file still restores (the cases above did not damage the fixture).
		_, err = backup.Restore(ctx, f.m, res.Path, backup.RestoreOptions{NewSlug: "copia-buena"})
		require.NoError(t, err)
	})

	t.Run("MigratesAnOlderArchiveForward", func(t *testing.T) {
		t.Parallel()
		f := setup(t, setupOptions{})
		org := f.newOrg(t, "Antigua", "", 7)
		res, err := backup.Store{Root: f.dir}.Backup(ctx, f.m, org)
		require.NoError(t, err)

		base := f.m.TenantMigrations()
		newer, err := base.With(migrate.Migration{Version: base.Latest() + 1, Name: "servicio_color",
			SQL: `ALTER TABLE citas_servicio ADD COLUMN color text NOT NULL DEFAULT 'azul'`})
		require.NoError(t, err)
		f2 := setup(t, setupOptions{url: f.url, migrations: &newer})
		r, err := backup.Restore(ctx, f2.m, res.Path, backup.RestoreOptions{NewSlug: "antigua-v2"})
		require.NoError(t, err)
		require.Equal(t, base.Latest(), r.Migration.From)
		require.Equal(t, base.Latest()+1, r.Migration.To)
		require.Equal(t, int64(2), f2.count(t, r.Organization, `SELECT count(*) FROM citas_servicio WHERE color = 'azul'`))
		require.Equal(t, int64(7), f2.count(t, r.Organization, `SELECT count(*) FROM citas_cita`))
		require.Equal(t, int64(base.Latest()+1), f2.count(t, r.Organization, `SELECT max(version) FROM migraciones_tenant`))

		// And an archive of the newer version is refused by the older binary, changing nothing.
		res2, err := backup.Store{Root: f.dir}.Backup(ctx, f2.m, r.Organization)
		require.NoError(t, err)
		before := catalogState(t, f.url)
		_, err = backup.Restore(ctx, f.m, res2.Path, backup.RestoreOptions{NewSlug: "no-cabe"})
		require.ErrorIs(t, err, backup.ErrIncompatible)
		require.Equal(t, before, catalogState(t, f.url))
	})

	t.Run("FailedLoadLeavesNothing", func(t *testing.T) {
		t.Parallel()
		f := setup(t, setupOptions{})
		org := f.newOrg(t, "Choque", "", 3)
		res, err := backup.Store{Root: f.dir}.Backup(ctx, f.m, org)
		require.NoError(t, err)
		// The archive is intact but the new slug is taken: the catalog step fails after the rows were
		// loaded, in the same transaction.
		before := catalogState(t, f.url)
		_, err = backup.Restore(ctx, f.m, res.Path, backup.RestoreOptions{NewSlug: org.Slug})
		require.ErrorIs(t, err, tenancy.ErrConflict)
		require.Equal(t, before, catalogState(t, f.url))
	})
}

// retar rewrites a tar stream entry by entry through edit (which returns the entries to put in
// its place, as name and content).
func retar(t *testing.T, raw []byte, edit func(name string, data []byte) [][2]string) []byte {
	t.Helper()
	tr := tar.NewReader(bytes.NewReader(raw))
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		require.NoError(t, err)
		data, err := io.ReadAll(tr)
		require.NoError(t, err)
		for _, e := range edit(hdr.Name, data) {
			require.NoError(t, tw.WriteHeader(&tar.Header{Name: e[0], Mode: 0o600, Size: int64(len(e[1]))}))
			_, err := tw.Write([]byte(e[1]))
			require.NoError(t, err)
		}
	}
	require.NoError(t, tw.Close())
	return buf.Bytes()
}

func gunzip(t *testing.T, b []byte) []byte {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(b))
	require.NoError(t, err)
	out, err := io.ReadAll(zr)
	require.NoError(t, err)
	return out
}

func gzipBytes(t *testing.T, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	_, err := zw.Write(b)
	require.NoError(t, err)
	require.NoError(t, zw.Close())
	return buf.Bytes()
}
