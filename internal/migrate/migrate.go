package migrate

import (
	"embed"
	"fmt"
	"io/fs"
	"path"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

//go:embed public/*.sql tenant/*.sql
var files embed.FS

// SetupVersionTable is the one-row table of each tenant schema that tenant migration 0005 creates.
// Statement triggers bump its version whenever a set-up table changes.
// It is not tenant data: backups and moves skip it.
const SetupVersionTable = "organizacion_configuracion_version"

// Migration is one numbered SQL file.
type Migration struct {
	// Version is the number the file name starts with; versions of a set are 1, 2, 3, ...
	Version int
	// Name is the file name without the number and extension, e.g. "inicial".
	Name string
	// SQL is the file's text, run as one multi-statement script.
	SQL string
}

// Set is an ordered list of migrations whose versions are 1..n without gaps.
type Set struct {
	migrations []Migration
}

var (
	fileName      = regexp.MustCompile(`^(\d{4})_([a-z0-9_]+)\.sql$`)
	migrationName = regexp.MustCompile(`^[a-z0-9_]{1,60}$`)
)

// Public returns the migrations of the shared schema (public).
func Public() Set {
	return mustLoad("public")
}

// Tenant returns the migrations every tenant schema receives.
func Tenant() Set {
	return mustLoad("tenant")
}

// mustLoad reads an embedded directory; the files are compiled in and checked by the tests, so a
// failure here is a build defect, never a run-time condition.
func mustLoad(dir string) Set {
	sub, err := fs.Sub(files, dir)
	if err != nil {
		panic(err)
	}
	s, err := Load(sub)
	if err != nil {
		panic(fmt.Sprintf("embedded %s migrations: %v", dir, err))
	}
	return s
}

// Load reads NNNN_name.sql files from fsys into a Set, checking that versions run 1..n.
func Load(fsys fs.FS) (Set, error) {
	entries, err := fs.ReadDir(fsys, ".")
	if err != nil {
		return Set{}, fmt.Errorf("reading migrations: %w", err)
	}
	var ms []Migration
	for _, e := range entries {
		if e.IsDir() || path.Ext(e.Name()) != ".sql" {
			continue
		}
		m := fileName.FindStringSubmatch(e.Name())
		if m == nil {
			return Set{}, fmt.Errorf("migration file %q: name must look like 0001_name.sql", e.Name())
		}
		v, _ := strconv.Atoi(m[1])
		body, err := fs.ReadFile(fsys, e.Name())
		if err != nil {
			return Set{}, fmt.Errorf("reading migration %s: %w", e.Name(), err)
		}
		ms = append(ms, Migration{Version: v, Name: m[2], SQL: string(body)})
	}
	return NewSet(ms...)
}

// NewSet builds a Set from migrations, which must carry versions 1..n (in any order).
func NewSet(ms ...Migration) (Set, error) {
	ms = append([]Migration(nil), ms...)
	sort.Slice(ms, func(i, j int) bool { return ms[i].Version < ms[j].Version })
	for i, m := range ms {
		if m.Version != i+1 {
			return Set{}, fmt.Errorf("migration %04d_%s: expected version %d (versions must run 1..n without gaps)", m.Version, m.Name, i+1)
		}
		if !migrationName.MatchString(m.Name) {
			return Set{}, fmt.Errorf("migration %04d: name %q must be 1-60 of a-z, 0-9, _", m.Version, m.Name)
		}
		if strings.TrimSpace(m.SQL) == "" {
			return Set{}, fmt.Errorf("migration %04d_%s is empty", m.Version, m.Name)
		}
	}
	return Set{migrations: ms}, nil
}

// With returns a copy of s with more migrations appended; their versions continue s's.
func (s Set) With(ms ...Migration) (Set, error) {
	return NewSet(append(append([]Migration(nil), s.migrations...), ms...)...)
}

// Latest returns the highest version in the set (0 for an empty set).
func (s Set) Latest() int {
	return len(s.migrations)
}

// All returns the migrations in version order.
func (s Set) All() []Migration {
	return append([]Migration(nil), s.migrations...)
}

// Pending returns the migrations after version current, in order.
func (s Set) Pending(current int) []Migration {
	if current < 0 {
		current = 0
	}
	if current >= len(s.migrations) {
		return nil
	}
	return append([]Migration(nil), s.migrations[current:]...)
}
