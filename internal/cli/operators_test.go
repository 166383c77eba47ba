package cli_test

import (
	"bytes"
	"encoding/json"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/appcitas/appcitas/internal/cli"
)

func TestVersion(t *testing.T) {
	t.Parallel()
	down := appcitas{env: map[string]string{"DATABASE_URL": "postgres://nadie@127.0.0.1:1/appcitas?connect_timeout=2", "APPCITAS_DATA": t.TempDir()}}

	t.Run("PrintsEverythingWithTheDatabaseDown", func(t *testing.T) {
		t.Parallel()
		r := down.must(t, "version")
		for _, want := range []string{"appcitas devel\n", "commit: ", "Go: " + runtime.Version(), "PostgreSQL: 15."} {
			if !strings.Contains(r.stdout, want) {
				t.Errorf("version output lacks %q:\n%s", want, r)
			}
		}
		if !strings.Contains(r.stdout, "(binarios instalados)") {
			t.Errorf("with the server down the version is not the installed binaries':\n%s", r)
		}
	})

	t.Run("FlagPrintsTheSame", func(t *testing.T) {
		t.Parallel()
		if r := down.must(t, "--version"); !strings.HasPrefix(r.stdout, "appcitas devel\n") || !strings.Contains(r.stdout, "PostgreSQL: ") {
			t.Errorf("--version:\n%s", r)
		}
	})

	t.Run("LinkTimeVersionWins", func(t *testing.T) {
		t.Parallel()
		var out bytes.Buffer
		code := cli.Main(t.Context(), cli.Env{Args: []string{"version"}, Stdin: strings.NewReader(""), Stdout: &out, Stderr: &out,
			Getenv: func(k string) string { return down.env[k] }, Version: "1.4.0", Commit: "0123456789ab"})
		if code != 0 || !strings.HasPrefix(out.String(), "appcitas 1.4.0\ncommit: 0123456789ab") {
			t.Errorf("exit %d:\n%s", code, out.String())
		}
	})

	t.Run("AsksTheConfiguredServer", func(t *testing.T) {
		t.Parallel()
		app, _ := newApp(t)
		if r := app.must(t, "version"); !strings.Contains(r.stdout, "(servidor configurado)") {
			t.Errorf("the configured server's version is missing:\n%s", r)
		}
	})
}

func TestFlagNames(t *testing.T) {
	t.Parallel()
	app, _ := newApp(t)
	app.must(t, "migrate")

	t.Run("AcceptsOrganizationIDWithAHyphen", func(t *testing.T) {
		app.must(t, "create_organization", "--name", "Barbería Juan", "--slug", "barberia-juan")
		r := app.must(t, "create_tenant_schema", "--organization-id=1")
		if !strings.Contains(r.stdout, "tenant_barberia_juan") {
			t.Errorf("--organization-id did not pick organization 1:\n%s", r)
		}
		app.must(t, "create_tenant_schema", "--organization_id=1")
	})

	t.Run("KeepsSpanishNamesAsAliases", func(t *testing.T) {
		app.must(t, "create_organization", "--nombre", "Clínica Dental", "--slug", "clinica-dental")
		app.must(t, "create_user", "--username", "ana", "--password", "ana-password-123")
		app.must(t, "add_member", "--user", "ana", "--organization_id=2", "--nombre-visible", "Ana")
		app.must(t, "create_user", "--username", "bea", "--password", "bea-password-123")
		app.must(t, "add_member", "--user", "bea", "--organization-id=2", "--display-name", "Bea")
		list := app.must(t, "list_tenants").stdout
		if !strings.Contains(list, "Clínica Dental") {
			t.Errorf("--nombre did not name the organization:\n%s", list)
		}
	})

	t.Run("AcceptsUnderscoresForHyphens", func(t *testing.T) {
		if r := app.must(t, "migrate_all_tenants", "--skip_public"); strings.Contains(r.stdout, "PUBLIC") {
			t.Errorf("--skip_public migrated public:\n%s", r)
		}
	})

	t.Run("HelpShowsEnglishNames", func(t *testing.T) {
		help := app.must(t, "create_organization", "--help").stdout
		if !strings.Contains(help, "--name string") || strings.Contains(help, "--nombre string") {
			t.Errorf("create_organization --help:\n%s", help)
		}
		help = app.must(t, "create_tenant_schema", "--help").stdout
		if !strings.Contains(help, "--organization_id id") {
			t.Errorf("create_tenant_schema --help does not show the guide's --organization_id:\n%s", help)
		}
	})

	t.Run("HelpGroupsCommands", func(t *testing.T) {
		help := app.must(t, "--help").stdout
		inOrder(t, help, "Tenants:", "create_organization", "Backups:", "backup_tenant", "Users:", "create_user",
			"Billing:", "subscriptions", "Server:", "serve", "version")
		if _, rest, ok := strings.Cut(help, "Additional Commands:"); ok {
			for _, line := range strings.Split(strings.TrimSpace(rest), "\n") {
				if f := strings.Fields(line); len(f) > 0 && f[0] != "completion" && f[0] != "help" {
					if strings.HasPrefix(line, "  ") && !strings.HasPrefix(line, "   ") {
						t.Errorf("command %q is in no group:\n%s", f[0], help)
					}
				}
				if strings.TrimSpace(line) == "" {
					break
				}
			}
		}
	})
}

func TestServeJSONLogs(t *testing.T) {
	t.Parallel()
	app, _ := newApp(t)
	app.env["APPCITAS_LOG_FORMAT"] = "json"
	s := startServe(t, app)
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(s.logs.String(), "appcitas listening") && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	logs := s.logs.String()
	if !strings.Contains(logs, `"msg":"appcitas listening"`) || !strings.Contains(logs, `"msg":"public schema migrated"`) {
		t.Errorf("serve's start-up lines are not JSON log lines:\n%s", logs)
	}
	for _, line := range strings.Split(strings.TrimSpace(logs), "\n") {
		var v map[string]any
		if err := json.Unmarshal([]byte(line), &v); err != nil {
			t.Errorf("log line is not JSON: %q", line)
		}
	}
	if out := s.stdout.String(); out != "" {
		t.Errorf("serve printed to stdout instead of logging:\n%s", out)
	}
}
