package webhooks_test

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/appcitas/appcitas/internal/webhooks"
)

// BenchmarkAppointmentWrite measures what the trigger adds to an appointment's insert and update
// (one transaction each): switched off, without a subscription (one existence read), and with one
// subscription (the event and the delivery written).
//
//	go test -run '^$' -bench AppointmentWrite ./internal/webhooks/
func BenchmarkAppointmentWrite(b *testing.B) {
	e := setup(b, webhooks.Options{})
	for _, c := range []struct {
		name string
		prep func(o *org)
	}{
		{"TriggerOff", func(o *org) {
			o.run(b, func(ctx context.Context, tx pgx.Tx) error {
				_, err := tx.Exec(ctx, `ALTER TABLE citas_cita DISABLE TRIGGER webhooks_cita_cambio`)
				return err
			})
		}},
		{"NoSubscription", func(*org) {}},
		{"OneSubscription", func(o *org) {
			o.run(b, func(ctx context.Context, tx pgx.Tx) error {
				_, err := tx.Exec(ctx, `INSERT INTO webhooks_suscripcion (url, eventos, secreto) VALUES ('https://example.com/', '{appointment.created,appointment.confirmed}', 'x')`)
				return err
			})
		}},
	} {
		b.Run(c.name, func(b *testing.B) {
			o := e.newOrg(b, "Bench "+c.name)
			c.prep(o)
			start := time.Date(2032, 1, 1, 0, 0, 0, 0, time.UTC)
			i := 0
			for b.Loop() {
				i++
				at := start.Add(time.Duration(i) * time.Hour)
				o.run(b, func(ctx context.Context, tx pgx.Tx) error {
					var id int64
					if err := tx.QueryRow(ctx, `INSERT INTO citas_cita (sede_id, servicio_id, profesional_id, cliente_nombre, inicio, fin,
						bloqueo_inicio, bloqueo_fin, precio_centavos) VALUES ($1, $2, $3, 'Ana', $4, $5, $4, $5, 1) RETURNING id`,
						o.branch, o.service, o.staff[0], at, at.Add(30*time.Minute)).Scan(&id); err != nil {
						return err
					}
					_, err := tx.Exec(ctx, `UPDATE citas_cita SET estado = 'confirmada' WHERE id = $1`, id)
					return err
				})
			}
		})
	}
}
