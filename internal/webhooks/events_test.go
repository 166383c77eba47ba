package webhooks_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/appcitas/appcitas/internal/booking"
	"github.com/appcitas/appcitas/internal/pgtest"
	"github.com/appcitas/appcitas/internal/webhooks"
)

func TestEvents(t *testing.T) {
	t.Parallel()
	e := setup(t, webhooks.Options{Development: true})
	rcv := newReceiver(t)

	t.Run("WritesNothingWithoutSubscription", func(t *testing.T) {
		o := e.newOrg(t, "Sin Webhooks")
		o.book(t)
		if evs := o.events(t); len(evs) != 0 {
			t.Fatalf("events without a subscription: %v", types(evs))
		}
	})

	t.Run("EmitsEveryAppointmentChangeBySQL", func(t *testing.T) {
		o := e.newOrg(t, "Todos los Eventos")
		sub := o.subscribe(t, rcv.URL, webhooks.EventTypes()...)
		ids := []int64{o.book(t), o.book(t), o.book(t), o.book(t)}
		o.run(t, func(ctx context.Context, tx pgx.Tx) error {
			for _, q := range []struct {
				sql  string
				args []any
			}{
				{`UPDATE citas_cita SET inicio = inicio + interval '1 day', fin = fin + interval '1 day',
					bloqueo_inicio = bloqueo_inicio + interval '1 day', bloqueo_fin = bloqueo_fin + interval '1 day' WHERE id = $1`, []any{ids[0]}},
				{`UPDATE citas_cita SET estado = 'confirmada' WHERE id = $1`, []any{ids[0]}},
				{`UPDATE citas_cita SET estado = 'completada' WHERE id = $1`, []any{ids[0]}},
				{`UPDATE citas_cita SET estado = 'cancelada', motivo_cancelacion = 'viaje' WHERE id = $1`, []any{ids[1]}},
				{`UPDATE citas_cita SET estado = 'no_asistio' WHERE id = $1`, []any{ids[2]}},
				{`UPDATE citas_cita SET profesional_id = $2 WHERE id = $1`, []any{ids[3], o.staff[1]}},
				{`UPDATE citas_cita SET notas = 'sin cambio de evento' WHERE id = $1`, []any{ids[3]}},
			} {
				if _, err := tx.Exec(ctx, q.sql, q.args...); err != nil {
					return err
				}
			}
			return nil
		})
		got := map[string]int{}
		for _, ev := range o.events(t) {
			got[ev.Type]++
		}
		want := map[string]int{"appointment.created": 4, "appointment.rescheduled": 2, "appointment.confirmed": 1,
			"appointment.completed": 1, "appointment.cancelled": 1, "appointment.no_show": 1}
		if len(got) != len(want) {
			t.Fatalf("events = %v, want %v", got, want)
		}
		for k, v := range want {
			if got[k] != v {
				t.Fatalf("events = %v, want %v", got, want)
			}
		}
		if n := len(o.deliveries(t, sub.ID)); n != 10 {
			t.Fatalf("%d deliveries, want 10", n)
		}
	})

	t.Run("PayloadIsVersionedAndStable", func(t *testing.T) {
		o := e.newOrg(t, "Carga Estable")
		o.subscribe(t, rcv.URL, webhooks.EventAppointmentRescheduled, webhooks.EventAppointmentCancelled)
		id := o.book(t)
		o.run(t, func(ctx context.Context, tx pgx.Tx) error {
			_, err := tx.Exec(ctx, `UPDATE citas_cita SET profesional_id = $2, estado = 'cancelada', motivo_cancelacion = 'x' WHERE id = $1`, id, o.staff[1])
			return err
		})
		evs := o.events(t)
		if got := types(evs); !slices.Equal(got, []string{"appointment.cancelled", "appointment.rescheduled"}) {
			t.Fatalf("events = %v; want only the subscribed types, both from one update", got)
		}
		for _, ev := range evs {
			if ev.Version != 1 || len(ev.ID) != 36 {
				t.Fatalf("event %+v: want version 1 and a uuid id", ev)
			}
			if _, err := time.Parse(time.RFC3339Nano, ev.CreatedAt); err != nil {
				t.Fatalf("created_at %q: %v", ev.CreatedAt, err)
			}
			if ev.Data["id"] != float64(id) || ev.Data["inicio"] != "2030-01-10T09:00:00Z" || ev.Data["cliente_nombre"] != "Ana Pérez" {
				t.Fatalf("data = %v", ev.Data)
			}
			for _, k := range []string{"sede_id", "servicio_id", "profesional_id", "cliente_telefono", "cliente_email", "fin", "estado",
				"motivo_cancelacion", "precio_centavos", "moneda", "created_at", "updated_at"} {
				if _, ok := ev.Data[k]; !ok {
					t.Fatalf("data lacks %s: %v", k, ev.Data)
				}
			}
		}
		if prev, _ := evs[1].Data["anterior"].(map[string]any); prev["profesional_id"] != float64(o.staff[0]) {
			t.Fatalf("rescheduled event's anterior = %v", evs[1].Data["anterior"])
		}
		if evs[0].Data["estado_anterior"] != "pendiente" {
			t.Fatalf("cancelled event's estado_anterior = %v", evs[0].Data["estado_anterior"])
		}
	})

	t.Run("EmitsThroughBookingPackage", func(t *testing.T) {
		o := e.newOrg(t, "Por Booking")
		o.subscribe(t, rcv.URL, webhooks.EventAppointmentConfirmed)
		id := o.book(t)
		o.run(t, func(ctx context.Context, tx pgx.Tx) error {
			_, err := booking.SetStatus(ctx, tx, booking.Actor{Role: booking.RoleAdmin}, id, booking.StatusConfirmed, "")
			return err
		})
		if got := types(o.events(t)); !slices.Equal(got, []string{"appointment.confirmed"}) {
			t.Fatalf("events = %v", got)
		}
	})

	t.Run("EmitsUnderAnOperatorsSearchPath", func(t *testing.T) {
		o := e.newOrg(t, "Por Psql")
		o.subscribe(t, rcv.URL, webhooks.EventAppointmentCancelled)
		id := o.book(t)
		// An operator's psql: the superuser, an empty search_path, the schema named in the SQL.
		conn, err := pgx.Connect(t.Context(), pgtest.SuperuserURL(t, e.url))
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(context.Background())
		if _, err := conn.Exec(t.Context(), `SET search_path TO ''`); err != nil {
			t.Fatal(err)
		}
		if _, err := conn.Exec(t.Context(), `UPDATE `+pgx.Identifier{o.t.Schema, "citas_cita"}.Sanitize()+
			` SET estado = 'cancelada', motivo_cancelacion = 'psql' WHERE id = $1`, id); err != nil {
			t.Fatal(err)
		}
		if got := types(o.events(t)); !slices.Equal(got, []string{"appointment.cancelled"}) {
			t.Fatalf("events = %v", got)
		}
	})

	t.Run("EmitsNothingWhileSwitchedOff", func(t *testing.T) {
		o := e.newOrg(t, "Copia")
		o.subscribe(t, rcv.URL, webhooks.EventTypes()...)
		o.run(t, func(ctx context.Context, tx pgx.Tx) error {
			// What backup's restore and move do: a copy is not a change.
			if _, err := tx.Exec(ctx, `SELECT set_config('appcitas.copia', 'on', true)`); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, `INSERT INTO citas_cita (sede_id, servicio_id, profesional_id, cliente_nombre, inicio, fin,
				bloqueo_inicio, bloqueo_fin, precio_centavos) VALUES ($1, $2, $3, 'Copia', '2031-01-01 10:00Z', '2031-01-01 10:30Z',
				'2031-01-01 10:00Z', '2031-01-01 10:30Z', 1)`, o.branch, o.service, o.staff[0])
			if err != nil {
				return err
			}
			var n int
			if err := tx.QueryRow(ctx, `SELECT webhooks_emitir($1, 'client.created', '{}'::jsonb)`, o.t.Schema).Scan(&n); err != nil || n != 0 {
				t.Errorf("webhooks_emitir while off = %d, %v", n, err)
			}
			return nil
		})
		if evs := o.events(t); len(evs) != 0 {
			t.Fatalf("events while off: %v", types(evs))
		}
		// Only for that transaction.
		o.book(t)
		if evs := o.events(t); len(evs) != 1 {
			t.Fatalf("events after: %v", types(evs))
		}
	})

	t.Run("EmitsClientCreatedWhenAClientIsAdded", func(t *testing.T) {
		o := e.newOrg(t, "Clientela")
		o.subscribe(t, rcv.URL, webhooks.EventClientCreated)
		o.run(t, func(ctx context.Context, tx pgx.Tx) error {
			_, err := tx.Exec(ctx, `INSERT INTO citas_cliente (nombre, telefono, email) VALUES ('Ana Ruiz', '+57 300 1', 'ana@example.com')`)
			return err
		})
		evs := o.events(t)
		if len(evs) != 1 || evs[0].Type != "client.created" || evs[0].Data["nombre"] != "Ana Ruiz" || evs[0].Data["email"] != "ana@example.com" {
			t.Fatalf("events after a client was added: %+v", evs)
		}
		if _, ok := evs[0].Data["telefono_normalizado"]; ok {
			t.Fatalf("client.created carries an internal column: %+v", evs[0].Data)
		}
	})

	t.Run("ClientCreatedFunctionCalledDirectly", func(t *testing.T) {
		o := e.newOrg(t, "Directorio")
		sub := o.subscribe(t, rcv.URL, webhooks.EventClientCreated)
		var n int
		o.run(t, func(ctx context.Context, tx pgx.Tx) error {
			return tx.QueryRow(ctx, `SELECT webhooks_emitir($1, 'client.created', '{"id": 7, "nombre": "Luis"}'::jsonb)`, o.t.Schema).Scan(&n)
		})
		evs := o.events(t)
		if n != 1 || len(evs) != 1 || evs[0].Type != "client.created" || evs[0].Data["nombre"] != "Luis" {
			t.Fatalf("webhooks_emitir = %d, events %+v", n, evs)
		}
		// Not subscribed: nothing.
		o.run(t, func(ctx context.Context, tx pgx.Tx) error {
			return tx.QueryRow(ctx, `SELECT webhooks_emitir($1, 'appointment.created', '{}'::jsonb)`, o.t.Schema).Scan(&n)
		})
		if n != 0 || len(o.deliveries(t, sub.ID)) != 1 {
			t.Fatalf("an unsubscribed type wrote %d deliveries", n)
		}
	})
}
