package cli

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"testing"

	"github.com/appcitas/appcitas/internal/backup"
	"github.com/appcitas/appcitas/internal/pgtest"
)

// directApp returns an app built from env, as Main builds it, and its stdout.
func directApp(t *testing.T, env map[string]string) (*app, *bytes.Buffer) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	a, err := newAppFromEnv(Env{Stdin: strings.NewReader(""), Stdout: &stdout, Stderr: &stderr,
		Getenv: func(k string) string { return env[k] }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(a.close)
	return a, &stdout
}

// offlineApp returns an app whose database cannot be reached: for checks made before connecting.
func offlineApp(t *testing.T) *app {
	t.Helper()
	a, _ := directApp(t, map[string]string{"DATABASE_URL": "postgres://nobody@127.0.0.1:1/none?connect_timeout=1",
		"APPCITAS_DATA": t.TempDir()})
	return a
}

// wantUsageError fails unless err is a command-line mistake (exit status 2) naming want.
func wantUsageError(t *testing.T, err error, want string) {
	t.Helper()
	if err == nil || exitCode(err) != 2 || !strings.Contains(err.Error(), want) {
		t.Fatalf("got %v (exit %d), want a usage error naming %q", err, exitCode(err), want)
	}
}

func TestRunFunctions(t *testing.T) {
	t.Parallel()
	ctx := t.Context()

	t.Run("SubscriptionsListRejectsAnUnknownStatus", func(t *testing.T) {
		t.Parallel()
		wantUsageError(t, runSubscriptionsList(ctx, offlineApp(t), subscriptionsListOptions{Status: "paid"}), "paid")
	})

	t.Run("SubscriptionsHistoryRejectsNoOrganization", func(t *testing.T) {
		t.Parallel()
		wantUsageError(t, runSubscriptionsHistory(ctx, offlineApp(t), organizationFlags{}), "--organization_id")
	})

	t.Run("MoveTenantRejectsNeitherToNorDropSource", func(t *testing.T) {
		t.Parallel()
		wantUsageError(t, runMoveTenant(ctx, offlineApp(t), moveTenantOptions{Org: organizationFlags{id: 1}}), "--to SERVER")
	})

	t.Run("MoveTenantRejectsABadServerName", func(t *testing.T) {
		t.Parallel()
		wantUsageError(t, runMoveTenant(ctx, offlineApp(t), moveTenantOptions{Org: organizationFlags{id: 1}, To: "Bad Name"}), "Bad Name")
	})

	t.Run("RestoreTenantRejectsReplaceAndCopyTogether", func(t *testing.T) {
		t.Parallel()
		err := runRestoreTenant(ctx, offlineApp(t), "x.appcitas-backup", backup.RestoreOptions{ReplaceID: 1, NewSlug: "copia"})
		wantUsageError(t, err, "not both")
	})

	t.Run("RestoreTenantRejectsAMissingFile", func(t *testing.T) {
		t.Parallel()
		err := runRestoreTenant(ctx, offlineApp(t), filepath.Join(t.TempDir(), "none.appcitas-backup"), backup.RestoreOptions{ReplaceID: 1})
		wantUsageError(t, err, "backup file")
	})

	t.Run("PurgeTenantsRejectsANonPositiveRetention", func(t *testing.T) {
		t.Parallel()
		wantUsageError(t, runPurgeTenants(ctx, offlineApp(t), purgeTenantsOptions{Confirm: true}), "--older-than")
	})

	t.Run("AddMemberRejectsAnUnknownRole", func(t *testing.T) {
		t.Parallel()
		err := runAddMember(ctx, offlineApp(t), addMemberOptions{Org: organizationFlags{id: 1}, Username: "ana", Role: "owner"})
		wantUsageError(t, err, "owner")
	})

	t.Run("BackupTenantRejectsBothIDAndSlug", func(t *testing.T) {
		t.Parallel()
		err := runBackupTenant(ctx, offlineApp(t), backupTenantOptions{Org: organizationFlags{id: 1, slug: "juan"}})
		wantUsageError(t, err, "not both")
	})

	t.Run("DemoRejectsDaysOutOfRange", func(t *testing.T) {
		t.Parallel()
		for _, days := range []int{0, 32} {
			wantUsageError(t, runDemo(ctx, offlineApp(t), demoOptions{Days: days}), "--days")
		}
	})

	t.Run("MigrateThenSubscriptionsListPrintsNone", func(t *testing.T) {
		t.Parallel()
		a, out := directApp(t, map[string]string{"DATABASE_URL": pgtest.NewDatabase(t), "APPCITAS_DATA": t.TempDir()})
		if err := runMigrate(ctx, a); err != nil {
			t.Fatal(err)
		}
		if err := runSubscriptionsList(ctx, a, subscriptionsListOptions{}); err != nil {
			t.Fatal(err)
		}
		for _, want := range []string{"✓ Schema public migrado exitosamente", "ORG", "(ninguna suscripción)"} {
			if !strings.Contains(out.String(), want) {
				t.Errorf("output lacks %q:\n%s", want, out)
			}
		}
	})
}

// TestServeReadsGOGCFromTheInjectedEnvironment runs serve with GOGC set only in its Env: serve
// must leave the collector's target alone. The context is cancelled, so serve stops after it.
func TestServeReadsGOGCFromTheInjectedEnvironment(t *testing.T) {
	if os.Getenv("GOGC") != "" {
		t.Skip("GOGC is set in the process's environment")
	}
	const target = 123
	old := debug.SetGCPercent(target)
	defer debug.SetGCPercent(old)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	env := map[string]string{"DATABASE_URL": "postgres://nobody@127.0.0.1:1/none?connect_timeout=1",
		"APPCITAS_DATA": t.TempDir(), "APPCITAS_JWT_SECRET": strings.Repeat("s", 64), "GOGC": "50"}
	var stdout, stderr bytes.Buffer
	if code := Main(ctx, Env{Args: []string{"serve"}, Stdin: strings.NewReader(""), Stdout: &stdout, Stderr: &stderr,
		Getenv: func(k string) string { return env[k] }}); code == 0 {
		t.Fatalf("serve on a cancelled context exited 0:\n%s%s", stdout.String(), stderr.String())
	}
	if got := debug.SetGCPercent(target); got != target {
		t.Errorf("serve set the collector's target to %d although its environment sets GOGC", got)
	}
}
