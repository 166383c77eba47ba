package backup_test

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/appcitas/appcitas/internal/backup"
)

// TestMoveOfATenantWithWebhooks moves a tenant with an active webhook subscription while writers
// book: copied and caught-up rows are not changes, so the target emits no events of its own, the
// move's checksums agree, and every appointment has exactly one appointment.created event.
func TestMoveOfATenantWithWebhooks(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	_, srv := startCluster(t, nil)
	second := srv.URLFor(newClusterDB(t, srv))
	f := setup(t, setupOptions{servers: map[string]string{"second": second}})
	org := f.newOrg(t, "Con Webhooks", "", 200)
	src, err := org.Tenant()
	if err != nil {
		t.Fatal(err)
	}
	if err := f.m.Run(ctx, src, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO webhooks_suscripcion (url, eventos, secreto) VALUES ('https://example.com/', '{appointment.created}', 'x')`)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	w := startWriters(f.m, org.ID, 3, 0)
	time.Sleep(200 * time.Millisecond)
	res, err := backup.Move(ctx, f.m, org, "second")
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)
	rep := requireWritersOK(t, w)
	dst, err := res.Organization.Tenant()
	if err != nil {
		t.Fatal(err)
	}
	var citas, created, distinct int
	if err := f.m.Run(ctx, dst, func(tx pgx.Tx) error {
		return tx.QueryRow(ctx, `SELECT (SELECT count(*) FROM citas_cita WHERE cliente_nombre = 'Durante'),
			(SELECT count(*) FROM webhooks_evento WHERE tipo = 'appointment.created'),
			(SELECT count(DISTINCT cuerpo->'data'->>'id') FROM webhooks_evento WHERE tipo = 'appointment.created')`).Scan(&citas, &created, &distinct)
	}); err != nil {
		t.Fatal(err)
	}
	if citas == 0 || created != citas || distinct != citas {
		t.Fatalf("after the move: %d appointments booked during it, %d created events for %d appointments; want one each (%s)", citas, created, distinct, rep)
	}
}
