package api

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/appcitas/appcitas/internal/booking"
	"github.com/appcitas/appcitas/internal/pgtest"
	"github.com/appcitas/appcitas/internal/tenancy"
)

// TestOneTripReads checks the day's appointments and free slots read in one round trip
// (readInTenant): the same answers as inTenant's path, membership as strict, staff limited to
// their own appointments.
func TestOneTripReads(t *testing.T) {
	t.Parallel()
	b := setupBooking(t)
	pedro := b.createUser("pedro", false)
	b.addProfile(b.org, pedro, booking.RoleStaff, true)
	var members listOf[booking.Member]
	b.ok("GET", "/api/miembros", nil, b.adminH, http.StatusOK, &members)
	var pedroProfile int64
	for _, m := range members.Items {
		if m.UserID == pedro.ID {
			pedroProfile = m.ID
		}
	}
	var week []map[string]any
	for d := range 7 {
		week = append(week, map[string]any{"sede_id": b.branchID, "dia_semana": d, "hora_inicio": "09:00", "hora_fin": "18:00"})
	}
	b.ok("PUT", fmt.Sprintf("/api/miembros/%d/horario", pedroProfile), map[string]any{"horario": week}, b.adminH, http.StatusOK, nil)
	day := b.clock.now().AddDate(0, 0, 7).Format("2006-01-02")
	for i, staff := range []int64{b.staffProfile, pedroProfile, b.staffProfile} {
		body := b.citaBody(fmt.Sprintf("%sT%02d:00:00-05:00", day, 10+i))
		body["profesional_id"] = staff
		b.ok("POST", "/api/citas", body, b.adminH, http.StatusCreated, nil)
	}
	citas := fmt.Sprintf("/api/citas?desde=%s&hasta=%s&sede_id=%d", day, day, b.branchID)
	slots := fmt.Sprintf("/api/disponibilidad?servicio_id=%d&sede_id=%d&desde=%s&hasta=%s", b.serviceID, b.branchID, day, day)
	ten, err := b.org.Tenant()
	if err != nil {
		t.Fatal(err)
	}
	// kept counts the one-trip statements the tenant's connection keeps (its slice's one
	// connection, which Run takes again).
	kept := func(t *testing.T) int {
		t.Helper()
		var n int
		if err := b.m.Run(b.ctx, ten, func(tx pgx.Tx) error {
			return tx.Conn().QueryRow(b.ctx, `SELECT count(*) FROM pg_prepared_statements WHERE name LIKE 'appcitas_read_%'`,
				pgx.QueryExecModeSimpleProtocol).Scan(&n)
		}); err != nil {
			t.Fatal(err)
		}
		return n
	}

	t.Run("AnswersAsTheScopedPathInOneRoundTrip", func(t *testing.T) {
		before := kept(t)
		for _, path := range []string{citas, slots} {
			// The first request loads the set-up (or finds it cached by the requests above); the
			// next ones read in one trip.
			first := b.ok("GET", path, nil, b.adminH, http.StatusOK, nil).Body.String()
			for range 3 {
				if again := b.ok("GET", path, nil, b.adminH, http.StatusOK, nil).Body.String(); again != first {
					t.Fatalf("GET %s answered\n%s\nthen\n%s", path, first, again)
				}
			}
		}
		if after := kept(t); after < before+2 {
			t.Fatalf("the tenant's connection keeps %d one-trip statements (before: %d); want the lead's and the queries'", after, before)
		}
		var page booking.AppointmentPage
		b.ok("GET", citas, nil, b.adminH, http.StatusOK, &page)
		if len(page.Items) != 3 {
			t.Fatalf("the admin sees %d appointments; want 3", len(page.Items))
		}
	})

	t.Run("StaffNeverGetAnothersAppointments", func(t *testing.T) {
		for range 3 {
			var own booking.AppointmentPage
			b.ok("GET", citas, nil, b.staffH, http.StatusOK, &own)
			if len(own.Items) != 2 {
				t.Fatalf("a staff member sees %d appointments; want their own 2", len(own.Items))
			}
			for _, a := range own.Items {
				if a.StaffID != b.staffProfile {
					t.Fatalf("a staff member got appointment %d of member %d", a.ID, a.StaffID)
				}
			}
			var other booking.AppointmentPage
			b.ok("GET", citas+"&profesional_id="+strconv.FormatInt(pedroProfile, 10), nil, b.staffH, http.StatusOK, &other)
			if len(other.Items) != 0 {
				t.Fatalf("a staff member asking for another's appointments got %d", len(other.Items))
			}
		}
	})

	t.Run("NonMemberGets403AndNoData", func(t *testing.T) {
		outsider := b.createUser("ajeno", false)
		h := append(bearer(b.token(outsider, 0)), "X-Organization-ID", strconv.FormatInt(b.org.ID, 10))
		for range 2 {
			for _, path := range []string{citas, slots} {
				wantError(t, b.do("GET", path, nil, h...), http.StatusForbidden, "unauthorized_organization")
			}
		}
	})

	t.Run("MemberRemovedBySQLIsRefusedOnTheNextRequest", func(t *testing.T) {
		for _, path := range []string{citas, slots} {
			b.ok("GET", path, nil, b.receptionH, http.StatusOK, nil)
			b.ok("GET", path, nil, b.receptionH, http.StatusOK, nil)
		}
		dbURL, err := b.m.Servers().URL(tenancy.DefaultServer)
		if err != nil {
			t.Fatal(err)
		}
		operator, err := pgx.Connect(b.ctx, pgtest.SuperuserURL(t, dbURL))
		if err != nil {
			t.Fatal(err)
		}
		defer operator.Close(context.Background())
		table := pgx.Identifier{b.org.SchemaName, "usuarios_perfilusuario"}.Sanitize()
		if _, err := operator.Exec(b.ctx, `UPDATE `+table+` SET is_active = false WHERE user_id = $1`, b.receptionist.ID); err != nil {
			t.Fatal(err)
		}
		for _, path := range []string{citas, slots} {
			wantError(t, b.do("GET", path, nil, b.receptionH...), http.StatusForbidden, "unauthorized_organization")
		}
		sofia := b.createUser("sofia", false)
		b.addProfile(b.org, sofia, booking.RoleReceptionist, true)
		h := append(bearer(b.token(sofia, 0)), "X-Organization-ID", strconv.FormatInt(b.org.ID, 10))
		b.ok("GET", citas, nil, h, http.StatusOK, nil)
		b.ok("GET", citas, nil, h, http.StatusOK, nil)
		if _, err := operator.Exec(b.ctx, `DELETE FROM `+table+` WHERE user_id = $1`, sofia.ID); err != nil {
			t.Fatal(err)
		}
		wantError(t, b.do("GET", citas, nil, h...), http.StatusForbidden, "unauthorized_organization")
	})

	t.Run("OffWithNoOneTripReads", func(t *testing.T) {
		b.s.cfg.NoOneTripReads = true
		defer func() { b.s.cfg.NoOneTripReads = false }()
		before := kept(t)
		var page booking.AppointmentPage
		b.ok("GET", citas+"&estado=pendiente", nil, b.adminH, http.StatusOK, &page)
		b.ok("GET", citas+"&estado=pendiente", nil, b.adminH, http.StatusOK, &page)
		if after := kept(t); after != before {
			t.Fatalf("with NoOneTripReads the connection's one-trip statements went from %d to %d", before, after)
		}
	})
}
