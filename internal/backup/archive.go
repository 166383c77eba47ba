package backup

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"slices"
	"time"

	"github.com/appcitas/appcitas/internal/tenancy"
)

// FormatName identifies an appcitas tenant backup in its manifest.
const FormatName = "appcitas-tenant-backup"

// FormatVersion is the version of the archive layout this package writes and reads.
const FormatVersion = 1

// Extension is the file name extension of backups.
const Extension = ".appcitas-backup"

// manifestName is the first entry of every archive.
const manifestName = "manifest.json"

// sumsName is the last entry of every archive: the SHA-256 of every other entry, in the format of
// sha256sum, so that "tar -xzf x && sha256sum -c SHA256SUMS" checks an extracted archive.
const sumsName = "SHA256SUMS"

// maxManifestBytes bounds the manifest a reader accepts.
const maxManifestBytes = 4 << 20

// ErrCorrupt is returned for an archive that is not a complete, intact appcitas backup.
var ErrCorrupt = errors.New("backup archive is corrupt, truncated or not an appcitas backup")

// Manifest describes an archive: it is the archive's first entry, manifest.json.
type Manifest struct {
	// Format is FormatName.
	Format string `json:"format"`
	// FormatVersion is the layout version, FormatVersion when written by this binary.
	FormatVersion int `json:"format_version"`
	// CreatedAt is when the snapshot was taken.
	CreatedAt time.Time `json:"created_at"`
	// Organization is the tenant the rows belong to.
	Organization Organization `json:"organization"`
	// MigrationVersion is the tenant migration version of the schema the rows came from.
	MigrationVersion int `json:"migration_version"`
	// Migrations names the tenant migrations 1..MigrationVersion, so that a restore can check the
	// archive comes from the same migration history.
	Migrations []MigrationName `json:"migrations"`
	// ServerVersion is the PostgreSQL server_version the rows came from.
	ServerVersion string `json:"server_version"`
	// Tables lists the tenant's tables in load order (referenced tables first).
	Tables []Table `json:"tables"`
}

// Organization is the organization a backup belongs to, as it was when the backup was taken.
type Organization struct {
	// ID is organizacion_organizacion.id.
	ID int64 `json:"id"`
	// Name is nombre.
	Name string `json:"nombre"`
	// Slug is the organization's unique slug.
	Slug string `json:"slug"`
	// SchemaName is the schema the rows came from.
	SchemaName string `json:"schema_name"`
	// TimeZone is zona_horaria (IANA); a restored copy gets it.
	TimeZone string `json:"zona_horaria"`
	// Server is database_name, the configured server that held the schema.
	Server string `json:"database_name"`
	// IsActive is is_active at the time of the backup.
	IsActive bool `json:"is_active"`
}

// MigrationName is one applied tenant migration.
type MigrationName struct {
	// Version is the migration's number.
	Version int `json:"version"`
	// Name is its file name without number and extension.
	Name string `json:"name"`
}

// Table is one table of the archive.
type Table struct {
	// Name is the table's name inside the tenant schema.
	Name string `json:"name"`
	// Columns are the columns copied, in COPY order.
	Columns []string `json:"columns"`
	// OrderBy are the columns rows are sorted by (the primary key).
	OrderBy []string `json:"order_by"`
	// File is the archive entry holding the rows (COPY text format).
	File string `json:"file"`
	// Rows is the number of rows.
	Rows int64 `json:"rows"`
	// Bytes is the size of File.
	Bytes int64 `json:"bytes"`
	// SHA256 is the hex SHA-256 of File.
	SHA256 string `json:"sha256"`
}

// Size returns the total bytes of table data in the archive.
func (m Manifest) Size() int64 {
	var n int64
	for _, t := range m.Tables {
		n += t.Bytes
	}
	return n
}

// RowCount returns the total rows in the archive.
func (m Manifest) RowCount() int64 {
	var n int64
	for _, t := range m.Tables {
		n += t.Rows
	}
	return n
}

// sqlName is the shape of table and column names an archive may carry; they become SQL
// identifiers on restore, so anything else is refused.
var sqlName = regexp.MustCompile(`^[a-z_][a-z0-9_]{0,62}$`)

var hexSHA256 = regexp.MustCompile(`^[0-9a-f]{64}$`)

func tableFile(i int, name string) string {
	return fmt.Sprintf("data/%03d_%s.copy", i+1, name)
}

// validate checks everything in m that a restore relies on.
func (m Manifest) validate() error {
	if m.Format != FormatName {
		return fmt.Errorf("format %q is not %q", m.Format, FormatName)
	}
	if m.FormatVersion != FormatVersion {
		return fmt.Errorf("format version %d is not supported (this binary reads version %d)", m.FormatVersion, FormatVersion)
	}
	if err := tenancy.ValidateSchemaName(m.Organization.SchemaName); err != nil {
		return err
	}
	if m.MigrationVersion < 1 || len(m.Migrations) != m.MigrationVersion {
		return fmt.Errorf("migration version %d with %d migrations listed", m.MigrationVersion, len(m.Migrations))
	}
	for i, mg := range m.Migrations {
		if mg.Version != i+1 {
			return fmt.Errorf("migration list out of order at %d", mg.Version)
		}
	}
	seen := map[string]bool{}
	for i, t := range m.Tables {
		if !sqlName.MatchString(t.Name) || slices.Contains(uncopiedTables(), t.Name) || seen[t.Name] {
			return fmt.Errorf("table %q: invalid or repeated name", t.Name)
		}
		seen[t.Name] = true
		if len(t.Columns) == 0 {
			return fmt.Errorf("table %s: no columns", t.Name)
		}
		cols := map[string]bool{}
		for _, c := range t.Columns {
			if !sqlName.MatchString(c) || cols[c] {
				return fmt.Errorf("table %s: column %q: invalid or repeated name", t.Name, c)
			}
			cols[c] = true
		}
		for _, c := range t.OrderBy {
			if !cols[c] {
				return fmt.Errorf("table %s: order column %q is not a column", t.Name, c)
			}
		}
		if t.File != tableFile(i, t.Name) {
			return fmt.Errorf("table %s: file %q, want %q", t.Name, t.File, tableFile(i, t.Name))
		}
		if t.Rows < 0 || t.Bytes < 0 || !hexSHA256.MatchString(t.SHA256) {
			return fmt.Errorf("table %s: invalid size or checksum", t.Name)
		}
	}
	return nil
}

// spooledTable is a table's COPY output waiting in a temporary file to go into the archive.
type spooledTable struct {
	Table
	data io.Reader
}

// writeArchive writes the manifest and the spooled tables as a gzip'd tar to w.
func writeArchive(w io.Writer, man Manifest, tables []spooledTable) error {
	body, err := json.MarshalIndent(man, "", "  ")
	if err != nil {
		return fmt.Errorf("encoding manifest: %w", err)
	}
	gz, err := gzip.NewWriterLevel(w, gzip.BestSpeed)
	if err != nil {
		return err
	}
	tw := tar.NewWriter(gz)
	mtime := man.CreatedAt.UTC().Truncate(time.Second)
	if err := tw.WriteHeader(&tar.Header{Name: manifestName, Mode: 0o600, Size: int64(len(body)), ModTime: mtime, Format: tar.FormatPAX}); err != nil {
		return fmt.Errorf("writing manifest: %w", err)
	}
	if _, err := tw.Write(body); err != nil {
		return fmt.Errorf("writing manifest: %w", err)
	}
	sums := sumsLine(sha256.Sum256(body), manifestName)
	for _, t := range tables {
		sums += t.SHA256 + "  " + t.File + "\n"
		if err := tw.WriteHeader(&tar.Header{Name: t.File, Mode: 0o600, Size: t.Bytes, ModTime: mtime, Format: tar.FormatPAX}); err != nil {
			return fmt.Errorf("writing %s: %w", t.Name, err)
		}
		n, err := io.Copy(tw, t.data)
		if err != nil {
			return fmt.Errorf("writing %s: %w", t.Name, err)
		}
		if n != t.Bytes {
			return fmt.Errorf("writing %s: spooled %d bytes, expected %d", t.Name, n, t.Bytes)
		}
	}
	if err := tw.WriteHeader(&tar.Header{Name: sumsName, Mode: 0o600, Size: int64(len(sums)), ModTime: mtime, Format: tar.FormatPAX}); err != nil {
		return fmt.Errorf("writing checksums: %w", err)
	}
	if _, err := io.WriteString(tw, sums); err != nil {
		return fmt.Errorf("writing checksums: %w", err)
	}
	if err := tw.Close(); err != nil {
		return fmt.Errorf("finishing archive: %w", err)
	}
	if err := gz.Close(); err != nil {
		return fmt.Errorf("finishing archive: %w", err)
	}
	return nil
}

// tableSink counts the rows and hashes the bytes of one table's COPY text stream.
type tableSink struct {
	hash  hashWriter
	rows  int64
	bytes int64
}

type hashWriter interface {
	io.Writer
	Sum([]byte) []byte
}

func newTableSink() *tableSink { return &tableSink{hash: sha256.New()} }

func (s *tableSink) Write(p []byte) (int, error) {
	s.rows += int64(bytes.Count(p, []byte{'\n'}))
	s.bytes += int64(len(p))
	return s.hash.Write(p)
}

func (s *tableSink) sum() string { return hex.EncodeToString(s.hash.Sum(nil)) }

func sumsLine(sum [32]byte, name string) string {
	return hex.EncodeToString(sum[:]) + "  " + name + "\n"
}

// ReadManifest reads only the manifest of an archive (its first entry), without verifying the
// table data: enough for listing backups. Use [Verify] before trusting the archive.
func ReadManifest(r io.Reader) (Manifest, error) {
	gz, err := gzip.NewReader(r)
	if err != nil {
		return Manifest{}, fmt.Errorf("%w: %w", ErrCorrupt, err)
	}
	defer gz.Close()
	man, _, err := readManifest(tar.NewReader(gz))
	return man, err
}

// readManifest reads and validates the manifest entry; it also returns the line of SHA256SUMS
// that the manifest's bytes must match.
func readManifest(tr *tar.Reader) (Manifest, string, error) {
	hdr, err := tr.Next()
	if err != nil {
		return Manifest{}, "", fmt.Errorf("%w: reading manifest: %w", ErrCorrupt, err)
	}
	if hdr.Name != manifestName || hdr.Size <= 0 || hdr.Size > maxManifestBytes {
		return Manifest{}, "", fmt.Errorf("%w: first entry is %q, not the manifest", ErrCorrupt, hdr.Name)
	}
	body, err := io.ReadAll(tr)
	if err != nil {
		return Manifest{}, "", fmt.Errorf("%w: reading manifest: %w", ErrCorrupt, err)
	}
	var man Manifest
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&man); err != nil {
		return Manifest{}, "", fmt.Errorf("%w: manifest: %w", ErrCorrupt, err)
	}
	if err := man.validate(); err != nil {
		return Manifest{}, "", fmt.Errorf("%w: manifest: %w", ErrCorrupt, err)
	}
	return man, sumsLine(sha256.Sum256(body), manifestName), nil
}

// Verify reads a whole archive and checks it: the manifest, every table's presence, size, row
// count and SHA-256, that nothing else is in it, and the gzip checksum and length at its end (a
// truncated file fails). It returns the manifest of an intact archive.
func Verify(r io.Reader) (Manifest, error) {
	return readArchive(r, nil)
}

// readArchive walks an archive, handing each table's verified-as-it-streams rows to fn (nil:
// discard), and fails with ErrCorrupt when anything does not match the manifest. fn may stop
// reading early; the rest is drained and still checked. An error from fn is returned as is.
func readArchive(r io.Reader, fn func(t Table, rows io.Reader) error) (Manifest, error) {
	gz, err := gzip.NewReader(r)
	if err != nil {
		return Manifest{}, fmt.Errorf("%w: %w", ErrCorrupt, err)
	}
	defer gz.Close()
	tr := tar.NewReader(gz)
	man, sums, err := readManifest(tr)
	if err != nil {
		return Manifest{}, err
	}
	for _, t := range man.Tables {
		sums += t.SHA256 + "  " + t.File + "\n"
		hdr, err := tr.Next()
		if err != nil {
			return man, fmt.Errorf("%w: table %s: %w", ErrCorrupt, t.Name, err)
		}
		if hdr.Name != t.File || hdr.Size != t.Bytes {
			return man, fmt.Errorf("%w: found %q (%d bytes) where %q (%d bytes) belongs", ErrCorrupt, hdr.Name, hdr.Size, t.File, t.Bytes)
		}
		sink := newTableSink()
		data := io.TeeReader(tr, sink)
		if fn != nil {
			if err := fn(t, data); err != nil {
				// Tell a damaged stream apart from a failure of fn.
				if _, derr := io.Copy(io.Discard, data); derr != nil {
					return man, fmt.Errorf("%w: table %s: %w", ErrCorrupt, t.Name, derr)
				}
				if sink.sum() != t.SHA256 {
					return man, fmt.Errorf("%w: table %s: checksum mismatch", ErrCorrupt, t.Name)
				}
				return man, err
			}
		}
		if _, err := io.Copy(io.Discard, data); err != nil {
			return man, fmt.Errorf("%w: table %s: %w", ErrCorrupt, t.Name, err)
		}
		if sink.bytes != t.Bytes || sink.sum() != t.SHA256 {
			return man, fmt.Errorf("%w: table %s: checksum mismatch", ErrCorrupt, t.Name)
		}
		if sink.rows != t.Rows {
			return man, fmt.Errorf("%w: table %s: %d rows, manifest says %d", ErrCorrupt, t.Name, sink.rows, t.Rows)
		}
	}
	hdr, err := tr.Next()
	if err != nil {
		return man, fmt.Errorf("%w: %s: %w", ErrCorrupt, sumsName, err)
	}
	if hdr.Name != sumsName || hdr.Size != int64(len(sums)) {
		return man, fmt.Errorf("%w: found %q where %s belongs", ErrCorrupt, hdr.Name, sumsName)
	}
	got, err := io.ReadAll(tr)
	if err != nil {
		return man, fmt.Errorf("%w: %s: %w", ErrCorrupt, sumsName, err)
	}
	if string(got) != sums {
		return man, fmt.Errorf("%w: %s does not match the manifest and data", ErrCorrupt, sumsName)
	}
	if hdr, err := tr.Next(); err != io.EOF {
		if err == nil {
			return man, fmt.Errorf("%w: unexpected entry %q", ErrCorrupt, hdr.Name)
		}
		return man, fmt.Errorf("%w: end of archive: %w", ErrCorrupt, err)
	}
	// The tar end marker is not the end of the gzip stream: read to its trailer, whose CRC-32 and
	// length gzip checks.
	if _, err := io.Copy(io.Discard, gz); err != nil {
		return man, fmt.Errorf("%w: %w", ErrCorrupt, err)
	}
	return man, nil
}
