// Package deploy_test checks the files operators install: the systemd unit.
package deploy_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

func TestSystemdUnit(t *testing.T) {
	t.Parallel()
	unit, err := os.ReadFile("appcitas.service")
	if err != nil {
		t.Fatal(err)
	}

	t.Run("HasTheExpectedDirectives", func(t *testing.T) {
		t.Parallel()
		for _, want := range []string{
			"User=appcitas", "EnvironmentFile=/etc/appcitas/appcitas.env", "ExecStart=/usr/local/bin/appcitas serve",
			"Restart=on-failure", "NoNewPrivileges=yes", "ProtectSystem=strict", "ReadWritePaths=/var/lib/appcitas /var/backups/appcitas",
			"LimitNOFILE=",
		} {
			if !regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(want)).Match(unit) {
				t.Errorf("appcitas.service lacks %q", want)
			}
		}
	})

	t.Run("PassesSystemdAnalyzeVerify", func(t *testing.T) {
		t.Parallel()
		analyze, err := exec.LookPath("systemd-analyze")
		if err != nil {
			if os.Getenv("CI") == "true" {
				t.Fatal("systemd-analyze is missing: CI must check the unit (install systemd)")
			}
			t.Skip("systemd-analyze is not installed")
		}
		// verify needs ExecStart's binary to exist: a copy of the unit runs /bin/true instead.
		exe := regexp.MustCompile(`(?m)^ExecStart=\S+`)
		if !exe.Match(unit) {
			t.Fatal("appcitas.service has no ExecStart")
		}
		copyPath := filepath.Join(t.TempDir(), "appcitas.service")
		if err := os.WriteFile(copyPath, exe.ReplaceAll(unit, []byte("ExecStart=/bin/true")), 0o644); err != nil {
			t.Fatal(err)
		}
		var out bytes.Buffer
		cmd := exec.CommandContext(t.Context(), analyze, "verify", copyPath)
		cmd.Stdout, cmd.Stderr = &out, &out
		err = cmd.Run()
		// verify exits 0 on unknown keys and bad values: any message is a failure too.
		if msg := strings.TrimSpace(out.String()); err != nil || msg != "" {
			t.Fatalf("systemd-analyze verify: %v\n%s", err, msg)
		}
	})
}
