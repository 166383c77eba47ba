package booking_test

import (
	"context"
	"encoding/json"
	"strconv"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/appcitas/appcitas/internal/booking"
)

// TestLargeTenantDayListingReadsOnlyThatDay: tenant statements are kept with generic plans, so
// the appointment list's plan cannot count on its parameters' values. In a tenant with a year of
// appointments, the kept plan of a day's listing must still read that day's range of (inicio, id)
// and not the tenant's history before it.
func TestLargeTenantDayListingReadsOnlyThatDay(t *testing.T) {
	t.Parallel()
	e := setup(t)
	f := e.newFixture(t, "UTC", booking.ServicePatch{DurationMinutes: ptr(20)}, "00:00", "24:00")
	e.run(t, func(ctx context.Context, tx pgx.Tx) error {
		// 20,000 appointments of 20 minutes, one every 26 minutes, about a year from 2027-01-01.
		_, err := tx.Exec(ctx, `INSERT INTO citas_cita (sede_id, servicio_id, profesional_id, cliente_nombre,
			inicio, fin, bloqueo_inicio, bloqueo_fin, precio_centavos)
			SELECT $1, $2, $3, 'Cliente ' || n, s, s + interval '20 minutes', s, s + interval '20 minutes', 0
			FROM generate_series(1, 20000) n, LATERAL (SELECT timestamptz '2027-01-01 00:00Z' + n * interval '26 minutes' AS s) x`,
			f.branch.ID, f.service.ID, f.staff.ID)
		if err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `ANALYZE citas_cita`)
		return err
	})
	day, err := booking.ParseDate("2027-10-01")
	if err != nil {
		t.Fatal(err)
	}
	filter := booking.AppointmentFilter{FromDay: day, ToDay: day, BranchID: f.branch.ID}
	var read float64
	e.run(t, func(ctx context.Context, tx pgx.Tx) error {
		page, err := booking.ListAppointments(ctx, tx, f.admin, filter)
		if err != nil {
			return err
		}
		if len(page.Items) == 0 {
			t.Fatal("no appointments listed on a day that has some")
		}
		var name string
		if err := tx.QueryRow(ctx, `SELECT name FROM pg_prepared_statements
			WHERE statement LIKE '%FROM citas_cita%ORDER BY inicio, id LIMIT%' AND generic_plans > 0
			  AND statement NOT LIKE '%pg_prepared_statements%'`).Scan(&name); err != nil {
			t.Fatalf("the listing's statement is not kept with a generic plan: %v", err)
		}
		var plan []map[string]any
		q := `EXPLAIN (ANALYZE, FORMAT JSON) EXECUTE ` + pgx.Identifier{name}.Sanitize() +
			`(NULL, NULL, ` + strconv.FormatInt(f.branch.ID, 10) + `, 0, '', '', NULL, 0, 51, 'UTC', '2027-10-01', '2027-10-02')`
		var raw []byte
		if err := tx.QueryRow(ctx, q).Scan(&raw); err != nil {
			return err
		}
		if err := json.Unmarshal(raw, &plan); err != nil {
			return err
		}
		read = rowsOnCitas(plan[0]["Plan"].(map[string]any))
		return nil
	})
	if read == 0 || read > 200 {
		t.Errorf("the kept plan read %.0f rows of citas_cita for one day of ~55 appointments; want that day's range only", read)
	}
}

// rowsOnCitas sums the rows that the plan's scans of citas_cita returned or filtered out.
func rowsOnCitas(node map[string]any) float64 {
	var n float64
	if node["Relation Name"] == "citas_cita" {
		n, _ = node["Actual Rows"].(float64)
		if f, ok := node["Rows Removed by Filter"].(float64); ok {
			n += f
		}
	}
	if kids, ok := node["Plans"].([]any); ok {
		for _, k := range kids {
			n += rowsOnCitas(k.(map[string]any))
		}
	}
	return n
}
