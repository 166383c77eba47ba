package api

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/appcitas/appcitas/internal/booking"
)

// bookReportDay books, on 2027-03-01 at the Bogotá branch, three appointments of the staff member
// (completed, no-show, pending) and one of the admin (completed), and returns the report's path.
func bookReportDay(t *testing.T, b *bookingEnv) string {
	t.Helper()
	book := func(profile int64, at string, steps ...string) {
		t.Helper()
		body := b.citaBody(at)
		body["profesional_id"], body["forzar"] = profile, true
		var a booking.Appointment
		b.ok("POST", "/api/citas", body, b.adminH, http.StatusCreated, &a)
		for _, s := range steps {
			b.ok("POST", fmt.Sprintf("/api/citas/%d/%s", a.ID, s), nil, b.adminH, http.StatusOK, nil)
		}
	}
	book(b.staffProfile, "2027-03-01T10:00:00-05:00", "completar")
	book(b.staffProfile, "2027-03-01T11:00:00-05:00", "no-asistio")
	book(b.staffProfile, "2027-03-01T12:00:00-05:00")
	book(b.adminProfile, "2027-03-01T15:00:00-05:00", "confirmar", "completar")
	// Outside the local day 2027-03-01, though it is 2027-03-01 in UTC.
	book(b.adminProfile, "2027-02-28T23:30:00-05:00", "completar")
	return fmt.Sprintf("/api/reportes/citas?sede_id=%d&desde=2027-03-01&hasta=2027-03-01", b.branchID)
}

func TestReportAPI(t *testing.T) {
	t.Parallel()
	b := setupBooking(t)
	path := bookReportDay(t, b)

	t.Run("AdminAndReceptionistSeeTheBranch", func(t *testing.T) {
		for _, h := range [][]string{b.adminH, b.receptionH} {
			var rep booking.Report
			b.ok("GET", path, nil, h, http.StatusOK, &rep)
			if rep.Total != 4 || rep.ByStatus[2].Status != "completada" || rep.ByStatus[2].Count != 2 {
				t.Fatalf("report %+v", rep)
			}
			if len(rep.ByStaff) != 2 || len(rep.ByService) != 1 || rep.ByService[0].Count != 4 {
				t.Fatalf("groups %+v %+v", rep.ByStaff, rep.ByService)
			}
			if rep.NoShowRate < 0.333 || rep.NoShowRate > 0.334 {
				t.Fatalf("no-show rate %v, want 1/3", rep.NoShowRate)
			}
			if len(rep.Revenue) != 1 || rep.Revenue[0].Cents != 5000000 || rep.Revenue[0].Currency != "COP" {
				t.Fatalf("revenue %+v, want 5000000 COP", rep.Revenue)
			}
		}
	})

	t.Run("StaffSeeOnlyTheirOwnNumbers", func(t *testing.T) {
		var rep booking.Report
		b.ok("GET", path, nil, b.staffH, http.StatusOK, &rep)
		if rep.Total != 3 || len(rep.ByStaff) != 1 || rep.ByStaff[0].ID != b.staffProfile || rep.Revenue[0].Cents != 2500000 {
			t.Fatalf("staff report %+v", rep)
		}
	})

	t.Run("CSVDownload", func(t *testing.T) {
		rec := b.ok("GET", path+"&format=csv", nil, b.adminH, http.StatusOK, nil)
		if ct := rec.Header().Get("Content-Type"); ct != "text/csv; charset=utf-8" {
			t.Fatalf("Content-Type %q", ct)
		}
		if cd := rec.Header().Get("Content-Disposition"); !strings.Contains(cd, "attachment") || !strings.Contains(cd, ".csv") {
			t.Fatalf("Content-Disposition %q", cd)
		}
		body := rec.Body.String()
		for _, want := range []string{
			"seccion,id,nombre,total,completadas,no_asistio,canceladas,ingresos_centavos\n",
			"estado,,completada,2,,,,\n", "estado,,no_asistio,1,,,,\n", "tasa_no_asistio,,,0.3333,,,,\n",
			fmt.Sprintf("profesional,%d,,3,1,1,0,2500000\n", b.staffProfile), "servicio,", ",Corte,4,2,1,0,5000000\n",
			"ingresos,,COP,,,,,5000000\n",
		} {
			if !strings.Contains(body, want) {
				t.Errorf("csv lacks %q:\n%s", want, body)
			}
		}
	})

	for _, c := range []struct{ name, query, field string }{
		{"RejectsHastaBeforeDesde", "desde=2027-03-02&hasta=2027-03-01", "hasta"},
		{"RejectsMoreThan366Days", "desde=2027-01-01&hasta=2028-01-02", "hasta"},
		{"RejectsYearBefore2000", "desde=1999-12-31&hasta=2000-01-02", "desde"},
		{"RejectsYearAfter2100", "desde=2100-12-31&hasta=2101-01-01", "hasta"},
		{"RejectsBadDate", "desde=2027-3-1&hasta=2027-03-02", "desde"},
		{"RejectsMissingHasta", "desde=2027-03-01", "hasta"},
		{"RejectsUnknownFormat", "desde=2027-03-01&hasta=2027-03-01&format=xml", "format"},
	} {
		t.Run(c.name, func(t *testing.T) {
			rec := b.do("GET", fmt.Sprintf("/api/reportes/citas?sede_id=%d&%s", b.branchID, c.query), nil, b.adminH...)
			if got := wantError(t, rec, http.StatusBadRequest, "invalid_input"); got.Field != c.field {
				t.Errorf("field %q, want %q", got.Field, c.field)
			}
		})
	}
	t.Run("RejectsMissingOrUnknownBranch", func(t *testing.T) {
		wantError(t, b.do("GET", "/api/reportes/citas?desde=2027-03-01&hasta=2027-03-01", nil, b.adminH...), http.StatusBadRequest, "invalid_input")
		wantError(t, b.do("GET", "/api/reportes/citas?sede_id=99999&desde=2027-03-01&hasta=2027-03-01", nil, b.adminH...), http.StatusBadRequest, "invalid_input")
	})
	t.Run("RejectsAnonymous", func(t *testing.T) {
		if rec := b.do("GET", path, nil); rec.Code != http.StatusUnauthorized {
			t.Fatalf("status %d, want 401", rec.Code)
		}
	})
}
