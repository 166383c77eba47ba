package booking_test

import (
	"context"
	"encoding/json"
	"strconv"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/appcitas/appcitas/internal/booking"
)

// Tenant statements are kept with generic plans, so a kept plan cannot count on its parameters'
// values. These tests give a tenant a year of appointments, run a request once (which keeps its
// statements), then EXPLAIN ANALYZE the kept statement: it must read the asked range of
// citas_cita, not the tenant's history.

// largeTenant is a tenant with 20,000 appointments of 20 minutes, one every 26 minutes from
// 2027-01-01 (about a year), at a branch in UTC whose staff member works all day.
func largeTenant(t *testing.T) (*env, fixture) {
	t.Helper()
	e := setup(t)
	f := e.newFixture(t, "UTC", booking.ServicePatch{DurationMinutes: ptr(20)}, "00:00", "24:00")
	e.run(t, func(ctx context.Context, tx pgx.Tx) error {
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
	return e, f
}

// keptPlanReads finds the statement kept with a generic plan whose text is LIKE like, runs it
// with args (SQL literals) under EXPLAIN ANALYZE and returns the rows its scans of citas_cita
// read (returned or filtered out).
func keptPlanReads(t *testing.T, ctx context.Context, tx pgx.Tx, like, args string) float64 {
	t.Helper()
	var name string
	if err := tx.QueryRow(ctx, `SELECT name FROM pg_prepared_statements
		WHERE statement LIKE $1 AND generic_plans > 0 AND statement NOT LIKE '%pg_prepared_statements%'`, like).Scan(&name); err != nil {
		t.Fatalf("no statement like %q kept with a generic plan: %v", like, err)
	}
	var raw []byte
	if err := tx.QueryRow(ctx, `EXPLAIN (ANALYZE, FORMAT JSON) EXECUTE `+pgx.Identifier{name}.Sanitize()+`(`+args+`)`).Scan(&raw); err != nil {
		t.Fatal(err)
	}
	var plan []map[string]any
	if err := json.Unmarshal(raw, &plan); err != nil {
		t.Fatal(err)
	}
	return rowsOnCitas(plan[0]["Plan"].(map[string]any))
}

// rowsOnCitas sums the rows that the plan's scans of citas_cita returned or filtered out.
func rowsOnCitas(node map[string]any) float64 {
	var n float64
	if node["Relation Name"] == "citas_cita" {
		n, _ = node["Actual Rows"].(float64)
		for _, removed := range []string{"Rows Removed by Filter", "Rows Removed by Index Recheck"} {
			if f, ok := node[removed].(float64); ok {
				n += f
			}
		}
	}
	if kids, ok := node["Plans"].([]any); ok {
		for _, k := range kids {
			n += rowsOnCitas(k.(map[string]any))
		}
	}
	return n
}

// TestLargeTenantDayListingReadsOnlyThatDay: the kept plan of a day's listing reads that day's
// range of (inicio, id), not the history before it; with the branch's zone read by the statement,
// and taken from a booking.Setup.
func TestLargeTenantDayListingReadsOnlyThatDay(t *testing.T) {
	t.Parallel()
	e, f := largeTenant(t)
	day, err := booking.ParseDate("2027-10-01")
	if err != nil {
		t.Fatal(err)
	}
	branch := strconv.FormatInt(f.branch.ID, 10)
	tests := []struct {
		name      string
		viaSetup  bool
		like      string
		arguments string
	}{
		{"ZoneReadByTheStatement", false, `%WITH zona%FROM citas_cita%ORDER BY inicio, id LIMIT%`,
			branch + `, 'UTC', '2027-10-01', '2027-10-02', ` + branch + `, 51`},
		{"ZoneFromTheSetup", true, `%FROM citas_cita%AT TIME ZONE $1::text%ORDER BY inicio, id LIMIT%`,
			`'UTC', '2027-10-01', '2027-10-02', ` + branch + `, 51`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var read float64
			e.run(t, func(ctx context.Context, tx pgx.Tx) error {
				filter := booking.AppointmentFilter{FromDay: day, ToDay: day, BranchID: f.branch.ID}
				var s *booking.Setup
				if tt.viaSetup {
					var err error
					if s, err = booking.LoadSetup(ctx, tx, nil, 0); err != nil {
						return err
					}
				}
				page, err := booking.Open(tx, s, nil).ListAppointments(ctx, f.admin, filter)
				if err != nil {
					return err
				}
				if len(page.Items) == 0 {
					t.Fatal("no appointments listed on a day that has some")
				}
				read = keptPlanReads(t, ctx, tx, tt.like, tt.arguments)
				return nil
			})
			if read == 0 || read > 200 {
				t.Errorf("the kept plan read %.0f rows of citas_cita for one day of ~55 appointments; want that day's range only", read)
			}
		})
	}
}

// TestLargeTenantAvailabilityReadsOnlyTheRange: the kept plan of availability's busy blocks reads
// the appointments around the asked days (a day before to two after), not the staff member's
// whole history; with the staff members found by the statement, and taken from a booking.Setup.
func TestLargeTenantAvailabilityReadsOnlyTheRange(t *testing.T) {
	t.Parallel()
	e, f := largeTenant(t)
	day, err := booking.ParseDate("2027-10-01")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name      string
		viaSetup  bool
		like      string
		arguments string
	}{
		{"StaffFoundByTheStatement", false, `%SELECT profesional_id, bloqueo_inicio, bloqueo_fin FROM citas_cita%citas_horario%`,
			strconv.FormatInt(f.branch.ID, 10) + `, '2027-09-30 00:00Z', '2027-10-03 00:00Z', 0`},
		{"StaffFromTheSetup", true, `%SELECT profesional_id, bloqueo_inicio, bloqueo_fin FROM citas_cita%ANY ($3::bigint[])%`,
			`'2027-09-30 00:00Z', '2027-10-03 00:00Z', '{` + strconv.FormatInt(f.staff.ID, 10) + `}'`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var read float64
			e.run(t, func(ctx context.Context, tx pgx.Tx) error {
				q := booking.AvailabilityQuery{ServiceID: f.service.ID, BranchID: f.branch.ID,
					From: day, To: day, Now: time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)}
				var s *booking.Setup
				if tt.viaSetup {
					var err error
					if s, err = booking.LoadSetup(ctx, tx, nil, 0); err != nil {
						return err
					}
				}
				a, err := booking.Open(tx, s, nil).FreeSlots(ctx, q)
				if err != nil {
					return err
				}
				if len(a.Staff) == 0 {
					t.Fatal("no staff in the availability")
				}
				read = keptPlanReads(t, ctx, tx, tt.like, tt.arguments)
				return nil
			})
			if read == 0 || read > 300 {
				t.Errorf("the kept plan read %.0f rows of citas_cita for 3 days of ~165 appointments; want that range only", read)
			}
		})
	}
}
