package pgserver

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// findBinDir returns the directory holding the PostgreSQL server binaries.
//
// An initdb, pg_ctl or postgres found on PATH is followed through symlinks
// (Debian and Homebrew put lone symlinks on PATH), then the versioned
// directories of the Debian (/usr/lib/postgresql/N/bin) and PGDG RPM
// (/usr/pgsql-N/bin) layouts are tried, highest version first.
func findBinDir() (string, error) {
	var candidates []string
	for _, name := range []string{"initdb", "pg_ctl", "postgres"} {
		path, err := exec.LookPath(name)
		if err != nil {
			continue
		}
		if resolved, err := filepath.EvalSymlinks(path); err == nil {
			path = resolved
		}
		candidates = append(candidates, filepath.Dir(path))
	}
	for _, pattern := range []string{"/usr/lib/postgresql/*/bin", "/usr/pgsql-*/bin"} {
		candidates = append(candidates, byVersionDescending(pattern)...)
	}
	for _, dir := range candidates {
		if hasServerBinaries(dir) {
			return dir, nil
		}
	}
	return "", errors.New("no PostgreSQL server binaries found (looked for initdb on PATH, " +
		"/usr/lib/postgresql/*/bin and /usr/pgsql-*/bin): install PostgreSQL, " +
		"e.g. `apt-get install postgresql`, or set DATABASE_URL to use an existing server")
}

// hasServerBinaries reports whether dir holds every program this package
// and its callers run.
func hasServerBinaries(dir string) bool {
	for _, name := range []string{"initdb", "postgres", "pg_ctl", "pg_dump", "pgbench"} {
		if !isExecutable(filepath.Join(dir, name)) {
			return false
		}
	}
	return true
}

// byVersionDescending globs pattern, whose single * is a version such as
// "15" or "9.6", and orders the matches highest version first.
func byVersionDescending(pattern string) []string {
	matches, _ := filepath.Glob(pattern)
	prefix, suffix, _ := strings.Cut(pattern, "*")
	version := func(path string) []int {
		v := strings.TrimSuffix(strings.TrimPrefix(path, prefix), suffix)
		var parts []int
		for p := range strings.SplitSeq(v, ".") {
			n, err := strconv.Atoi(p)
			if err != nil {
				return nil
			}
			parts = append(parts, n)
		}
		return parts
	}
	slices.SortFunc(matches, func(a, b string) int {
		return slices.Compare(version(b), version(a))
	})
	return matches
}

// findPsql returns psql of the same version as the server when the bin
// directory holds one, otherwise the psql on PATH, otherwise "".
func findPsql(binDir string) string {
	if path := filepath.Join(binDir, "psql"); isExecutable(path) {
		return path
	}
	if path, err := exec.LookPath("psql"); err == nil {
		return path
	}
	return ""
}

func isExecutable(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.Mode().IsRegular() && fi.Mode().Perm()&0o111 != 0
}
