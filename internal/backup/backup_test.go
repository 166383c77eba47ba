package backup_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/jackc/pgx/v5"

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
		if err != nil {
			t.Fatal(err)
		}
		if want, got := filepath.Join(f.dir, org.SchemaName), filepath.Dir(res.Path); got != want {
			t.Fatalf("got %q; want %q", got, want)
		}
		man := res.Manifest
		if man.Format != backup.FormatName {
			t.Fatalf("man.Format = %q; want %q", man.Format, backup.FormatName)
		}
		if man.Organization.ID != org.ID {
			t.Fatalf("man.Organization.ID = %v; want %v", man.Organization.ID, org.ID)
		}
		if man.Organization.SchemaName != org.SchemaName {
			t.Fatalf("man.Organization.SchemaName = %q; want %q", man.Organization.SchemaName, org.SchemaName)
		}
		if man.Organization.TimeZone != "America/Bogota" {
			t.Fatalf("man.Organization.TimeZone = %q; want %q", man.Organization.TimeZone, "America/Bogota")
		}
		set := f.m.TenantMigrations()
		if man.MigrationVersion != set.Latest() {
			t.Fatalf("man.MigrationVersion = %v; want %v", man.MigrationVersion, set.Latest())
		}
		if len(man.Migrations) != set.Latest() {
			t.Fatalf("len(man.Migrations) = %d; want %d: %v", len(man.Migrations), set.Latest(), man.Migrations)
		}
		if !reflect.DeepEqual(man.Migrations[0], backup.MigrationName{Version: 1, Name: "inicial"}) {
			t.Fatalf("man.Migrations[0] = %v; want %v", man.Migrations[0], backup.MigrationName{Version: 1, Name: "inicial"})
		}
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
			if pos[dep] >= pos["citas_cita"] {
				t.Fatalf("%s loads before citas_cita: pos[dep] = %v; want it below %v", dep, pos[dep], pos["citas_cita"])
			}
		}
		if pos["organizacion_sede"] >= pos["usuarios_perfilusuario"] {
			t.Fatalf("pos[\"organizacion_sede\"] = %v; want it below %v", pos["organizacion_sede"], pos["usuarios_perfilusuario"])
		}
		if rows["citas_servicio"] != int64(2) {
			t.Fatalf("rows[\"citas_servicio\"] = %v; want %v", rows["citas_servicio"], int64(2))
		}
		if rows["organizacion_sede"] != int64(2) {
			t.Fatalf("rows[\"organizacion_sede\"] = %v; want %v", rows["organizacion_sede"], int64(2))
		}
		if rows["usuarios_perfilusuario"] != int64(3) {
			t.Fatalf("rows[\"usuarios_perfilusuario\"] = %v; want %v", rows["usuarios_perfilusuario"], int64(3))
		}
		if rows["citas_cita"] != int64(25) {
			t.Fatalf("rows[\"citas_cita\"] = %v; want %v", rows["citas_cita"], int64(25))
		}
		// Bookkeeping is not data: the restored schema gets its own from its migrations.
		if slices.Contains(names, tenancy.VersionTable) {
			t.Fatalf("names = %v; want it without %v", names, tenancy.VersionTable)
		}
		if slices.Contains(names, booking.SetupVersionTable) {
			t.Fatalf("names = %v; want it without %v", names, booking.SetupVersionTable)
		}

		entries, err := backup.Store{Root: f.dir}.List(org.ID)
		if err != nil {
			t.Fatal(err)
		}
		if len(entries) != 1 {
			t.Fatalf("len(entries) = %d; want %d: %v", len(entries), 1, entries)
		}
		if err := entries[0].Err; err != nil {
			t.Fatal(err)
		}
		if entries[0].Path != res.Path {
			t.Fatalf("entries[0].Path = %q; want %q", entries[0].Path, res.Path)
		}
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
			if err != nil {
				t.Fatal(err)
			}
			rows := map[string]int64{}
			for _, tb := range man.Tables {
				rows[tb.Name] = tb.Rows
			}
			if rows["citas_servicio"] != rows["organizacion_sede"] {
				t.Fatalf("rows[\"citas_servicio\"] = %v; want %v", rows["citas_servicio"], rows["organizacion_sede"])
			}
		}
		stop.Store(true)
		wg.Wait()
		if x := writes.Load(); x <= 0 {
			t.Fatalf("got %v; want it positive", x)
		}
	})

	t.Run("RestoresAsNewOrganizationWithSameRows", func(t *testing.T) {
		t.Parallel()
		f := setup(t, setupOptions{})
		org := f.newOrg(t, "Clínica Dental", "", 40)
		res, err := backup.Store{Root: f.dir}.Backup(ctx, f.m, org)
		if err != nil {
			t.Fatal(err)
		}

		r, err := backup.Restore(ctx, f.m, res.Path, backup.RestoreOptions{NewSlug: "clinica-soporte", NewName: "Clínica (soporte)", KeepMembers: true})
		if err != nil {
			t.Fatal(err)
		}
		if r.Organization.Slug != "clinica-soporte" {
			t.Fatalf("r.Organization.Slug = %q; want %q", r.Organization.Slug, "clinica-soporte")
		}
		if r.Organization.SchemaName == org.SchemaName {
			t.Fatalf("r.Organization.SchemaName = %q; want anything else", r.Organization.SchemaName)
		}
		if want, got := f.sums(t, org), f.sums(t, r.Organization); !reflect.DeepEqual(got, want) {
			t.Fatalf("got %v; want %v", got, want)
		}
		// Identity sequences continue after the restored ids.
		f.exec(t, r.Organization, `INSERT INTO organizacion_sede (nombre, zona_horaria) VALUES ('Nueva', 'UTC')`)
		if want, got := int64(3), f.count(t, r.Organization, `SELECT max(id) FROM organizacion_sede`); got != want {
			t.Fatalf("got %v; want %v", got, want)
		}
		// The source is untouched.
		if want, got := int64(2), f.count(t, org, `SELECT count(*) FROM organizacion_sede`); got != want {
			t.Fatalf("got %v; want %v", got, want)
		}
	})

	t.Run("RestoreOfADroppedTenantNeedsNoFlags", func(t *testing.T) {
		t.Parallel()
		f := setup(t, setupOptions{})
		org := f.newOrg(t, "Peluquería Sol", "", 5)
		res, err := backup.Store{Root: f.dir}.Backup(ctx, f.m, org)
		if err != nil {
			t.Fatal(err)
		}
		before := f.sums(t, org)
		if err := f.m.DeleteOrganization(ctx, org); err != nil {
			t.Fatal(err)
		}
		r, err := backup.Restore(ctx, f.m, res.Path, backup.RestoreOptions{KeepMembers: true})
		if err != nil {
			t.Fatal(err)
		}
		if r.Organization.Name != "Peluquería Sol" {
			t.Fatalf("r.Organization.Name = %q; want %q", r.Organization.Name, "Peluquería Sol")
		}
		if r.Organization.Slug != org.Slug {
			t.Fatalf("r.Organization.Slug = %q; want %q", r.Organization.Slug, org.Slug)
		}
		if got := f.sums(t, r.Organization); !reflect.DeepEqual(got, before) {
			t.Fatalf("got %v; want %v", got, before)
		}
	})

	t.Run("ReplacesTenantAfterBackingUpItsCurrentState", func(t *testing.T) {
		t.Parallel()
		f := setup(t, setupOptions{})
		org := f.newOrg(t, "Barbería Norte", "", 10)
		other := f.newOrg(t, "Otra", "", 3)
		otherSums := f.sums(t, other)
		store := backup.Store{Root: f.dir}
		res, err := store.Backup(ctx, f.m, org)
		if err != nil {
			t.Fatal(err)
		}
		want := f.sums(t, org)

		f.exec(t, org, `DELETE FROM citas_cita WHERE id > 5; UPDATE citas_servicio SET nombre = 'cambiado'`)
		changed := f.sums(t, org)
		if reflect.DeepEqual(changed, want) {
			t.Fatalf("changed = %v; want anything else", changed)
		}

		r, err := backup.Restore(ctx, f.m, res.Path, backup.RestoreOptions{ReplaceID: org.ID, PreBackup: store})
		if err != nil {
			t.Fatal(err)
		}
		if err := r.OldSchemaErr; err != nil {
			t.Fatal(err)
		}
		if r.Organization.ID != org.ID {
			t.Fatalf("r.Organization.ID = %v; want %v", r.Organization.ID, org.ID)
		}
		if r.Organization.Slug != org.Slug {
			t.Fatalf("r.Organization.Slug = %q; want %q", r.Organization.Slug, org.Slug)
		}
		if r.Organization.SchemaName == org.SchemaName {
			t.Fatalf("r.Organization.SchemaName = %q; want anything else", r.Organization.SchemaName)
		}
		if got := f.sums(t, r.Organization); !reflect.DeepEqual(got, want) {
			t.Fatalf("got %v; want %v", got, want)
		}
		if schemaExists(t, f.url, org.SchemaName) {
			t.Fatal("old schema dropped")
		}
		if got := f.sums(t, other); !reflect.DeepEqual(got, otherSums) {
			t.Fatalf("got %v; want %v", got, otherSums)
		}

		// The pre-restore backup holds the state that was replaced.
		pre, err := backup.VerifyFile(r.PreBackup)
		if err != nil {
			t.Fatal(err)
		}
		if pre.Organization.SchemaName != org.SchemaName {
			t.Fatalf("pre.Organization.SchemaName = %q; want %q", pre.Organization.SchemaName, org.SchemaName)
		}
		for _, tb := range pre.Tables {
			if tb.Name == "citas_cita" {
				if tb.Rows != int64(5) {
					t.Fatalf("tb.Rows = %v; want %v", tb.Rows, int64(5))
				}
			}
		}
		// The organization now resolves to the restored schema.
		now, err := f.m.Organization(ctx, org.ID)
		if err != nil {
			t.Fatal(err)
		}
		if now.SchemaName != r.Organization.SchemaName {
			t.Fatalf("now.SchemaName = %q; want %q", now.SchemaName, r.Organization.SchemaName)
		}
	})

	t.Run("RefusesDamagedArchivesAndChangesNothing", func(t *testing.T) {
		t.Parallel()
		f := setup(t, setupOptions{})
		org := f.newOrg(t, "Dañada", "", 200)
		store := backup.Store{Root: f.dir}
		res, err := store.Backup(ctx, f.m, org)
		if err != nil {
			t.Fatal(err)
		}
		good, err := os.ReadFile(res.Path)
		if err != nil {
			t.Fatal(err)
		}
		raw := gunzip(t, good)

		flip := func(b []byte, i int) []byte {
			c := bytes.Clone(b)
			c[i] ^= 0x20
			return c
		}
		// A flipped byte inside the last table's rows, recompressed so that gzip's own CRC is fine:
		// only the table checksum can catch it.
		lastRow := bytes.LastIndex(raw, []byte("Cliente 200"))
		if lastRow <= 0 {
			t.Fatalf("lastRow = %v; want it positive", lastRow)
		}
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
				if err := os.WriteFile(path, c.data, 0o600); err != nil {
					t.Fatal(err)
				}
				before := catalogState(t, f.url)
				_, err := backup.Restore(ctx, f.m, path, backup.RestoreOptions{NewSlug: "copia"})
				if !errors.Is(err, backup.ErrCorrupt) {
					t.Fatalf("got error %v; want %v", err, backup.ErrCorrupt)
				}
				_, err = backup.Restore(ctx, f.m, path, backup.RestoreOptions{ReplaceID: org.ID, PreBackup: store})
				if !errors.Is(err, backup.ErrCorrupt) {
					t.Fatalf("got error %v; want %v", err, backup.ErrCorrupt)
				}
				if got := catalogState(t, f.url); got != before {
					t.Fatalf("got %q; want %q", got, before)
				}
			})
		}
		// The untouched file still restores (the cases above did not damage the fixture).
		_, err = backup.Restore(ctx, f.m, res.Path, backup.RestoreOptions{NewSlug: "copia-buena"})
		if err != nil {
			t.Fatal(err)
		}
	})

	t.Run("MigratesAnOlderArchiveForward", func(t *testing.T) {
		t.Parallel()
		f := setup(t, setupOptions{})
		org := f.newOrg(t, "Antigua", "", 7)
		res, err := backup.Store{Root: f.dir}.Backup(ctx, f.m, org)
		if err != nil {
			t.Fatal(err)
		}

		base := f.m.TenantMigrations()
		newer, err := base.With(migrate.Migration{Version: base.Latest() + 1, Name: "servicio_color",
			SQL: `ALTER TABLE citas_servicio ADD COLUMN color text NOT NULL DEFAULT 'azul'`})
		if err != nil {
			t.Fatal(err)
		}
		f2 := setup(t, setupOptions{url: f.url, migrations: &newer})
		r, err := backup.Restore(ctx, f2.m, res.Path, backup.RestoreOptions{NewSlug: "antigua-v2"})
		if err != nil {
			t.Fatal(err)
		}
		if r.Migration.From != base.Latest() {
			t.Fatalf("r.Migration.From = %v; want %v", r.Migration.From, base.Latest())
		}
		if r.Migration.To != base.Latest()+1 {
			t.Fatalf("r.Migration.To = %v; want %v", r.Migration.To, base.Latest()+1)
		}
		if want, got := int64(2), f2.count(t, r.Organization, `SELECT count(*) FROM citas_servicio WHERE color = 'azul'`); got != want {
			t.Fatalf("got %v; want %v", got, want)
		}
		if want, got := int64(7), f2.count(t, r.Organization, `SELECT count(*) FROM citas_cita`); got != want {
			t.Fatalf("got %v; want %v", got, want)
		}
		if want, got := int64(base.Latest()+1), f2.count(t, r.Organization, `SELECT max(version) FROM migraciones_tenant`); got != want {
			t.Fatalf("got %v; want %v", got, want)
		}

		// And an archive of the newer version is refused by the older binary, changing nothing.
		res2, err := backup.Store{Root: f.dir}.Backup(ctx, f2.m, r.Organization)
		if err != nil {
			t.Fatal(err)
		}
		before := catalogState(t, f.url)
		_, err = backup.Restore(ctx, f.m, res2.Path, backup.RestoreOptions{NewSlug: "no-cabe"})
		if !errors.Is(err, backup.ErrIncompatible) {
			t.Fatalf("got error %v; want %v", err, backup.ErrIncompatible)
		}
		if got := catalogState(t, f.url); got != before {
			t.Fatalf("got %q; want %q", got, before)
		}
	})

	t.Run("FailedLoadLeavesNothing", func(t *testing.T) {
		t.Parallel()
		f := setup(t, setupOptions{})
		org := f.newOrg(t, "Choque", "", 3)
		res, err := backup.Store{Root: f.dir}.Backup(ctx, f.m, org)
		if err != nil {
			t.Fatal(err)
		}
		// The archive is intact but the new slug is taken: the catalog step fails after the rows were
		// loaded, in the same transaction.
		before := catalogState(t, f.url)
		_, err = backup.Restore(ctx, f.m, res.Path, backup.RestoreOptions{NewSlug: org.Slug})
		if !errors.Is(err, tenancy.ErrConflict) {
			t.Fatalf("got error %v; want %v", err, tenancy.ErrConflict)
		}
		if got := catalogState(t, f.url); got != before {
			t.Fatalf("got %q; want %q", got, before)
		}
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
		if err != nil {
			t.Fatal(err)
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range edit(hdr.Name, data) {
			if err := tw.WriteHeader(&tar.Header{Name: e[0], Mode: 0o600, Size: int64(len(e[1]))}); err != nil {
				t.Fatal(err)
			}
			_, err := tw.Write([]byte(e[1]))
			if err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func gunzip(t *testing.T, b []byte) []byte {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	out, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func gzipBytes(t *testing.T, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	_, err := zw.Write(b)
	if err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}
