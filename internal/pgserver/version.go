package pgserver

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
)

// InstalledVersion returns the version of the installed PostgreSQL server binaries, such as "15.8",
// from `postgres --version`.
func InstalledVersion(ctx context.Context) (string, error) {
	dir, err := findBinDir()
	if err != nil {
		return "", err
	}
	out, err := exec.CommandContext(ctx, filepath.Join(dir, "postgres"), "--version").Output()
	if err != nil {
		return "", fmt.Errorf("running postgres --version: %w", err)
	}
	return parseVersion(string(out))
}

// parseVersion takes the version out of "postgres (PostgreSQL) 15.8 (Debian 15.8-0+deb12u1)".
func parseVersion(out string) (string, error) {
	_, rest, ok := strings.Cut(out, "(PostgreSQL)")
	if fields := strings.Fields(rest); ok && len(fields) > 0 {
		return fields[0], nil
	}
	return "", fmt.Errorf("unexpected postgres --version output %q", strings.TrimSpace(out))
}
