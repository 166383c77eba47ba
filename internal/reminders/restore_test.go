package reminders_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/appcitas/appcitas/internal/backup"
	"github.com/appcitas/appcitas/internal/reminders"
)

// TestRestore checks that the trigger does not get in a restore's way: the restore's COPY into
// citas_cita runs before the settings are loaded, so the trigger writes nothing, and the archive's
// reminders and delivery log come back as they were.
func TestRestore(t *testing.T) {
	t.Parallel()
	e := setup(t)
	tn := e.newTenant(t, "Spa Respaldo", 2)
	e.enable(t, tn, reminders.SettingsInput{})
	start := ahead(50 * time.Hour)
	e.book(t, tn, 0, start, "Ana", "", "ana@example.com")
	e.book(t, tn, 1, start.Add(3*time.Hour), "Beto", "", "beto@example.com")
	e.setClock(start.Add(-24*time.Hour + time.Second))
	if res, err := e.svc.RunTenant(t.Context(), tn.org.ID); err != nil || res.Sent != 1 {
		t.Fatalf("run: %+v, %v", res, err)
	}
	e.setClock(time.Time{})
	summary := func(tn *tenant) (s [3]int) {
		e.run(t, tn, func(ctx context.Context, tx pgx.Tx) error {
			return tx.QueryRow(ctx, `SELECT (SELECT count(*) FROM recordatorios_recordatorio WHERE estado = 'pendiente'),
				(SELECT count(*) FROM recordatorios_recordatorio WHERE estado = 'enviado'),
				(SELECT count(*) FROM recordatorios_envio)`).Scan(&s[0], &s[1], &s[2])
		})
		return s
	}
	want := summary(tn)
	path := filepath.Join(t.TempDir(), "respaldo.tar.gz")
	if _, err := backup.WriteFile(t.Context(), e.m, tn.org, path); err != nil {
		t.Fatal(err)
	}
	res, err := backup.Restore(t.Context(), e.m, path, backup.RestoreOptions{NewSlug: "spa-copia", NewName: "Spa Copia"})
	if err != nil {
		t.Fatalf("restoring with reminders on: %v", err)
	}
	cp := &tenant{org: res.Organization}
	if cp.t, err = res.Organization.Tenant(); err != nil {
		t.Fatal(err)
	}
	if got := summary(cp); got != want || want != [3]int{3, 1, 1} {
		t.Fatalf("restored (pending, sent, log) = %v, archived %v", got, want)
	}
}
