package booking

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/jackc/pgx/v5"
)

// MaxReportDays is the longest range of local days a report covers.
const MaxReportDays = 366

// ReportRequest asks for a report of one branch over local days From to To, both included.
type ReportRequest struct {
	BranchID int64
	From, To Date
}

// StatusCount is the number of appointments in one state.
type StatusCount struct {
	Status string `json:"estado"`
	Count  int64  `json:"total"`
}

// GroupCount is the numbers of one staff member or one service.
type GroupCount struct {
	ID   int64  `json:"id"`
	Name string `json:"nombre"`
	// Count counts every appointment, cancelled ones included.
	Count     int64 `json:"total"`
	Completed int64 `json:"completadas"`
	NoShows   int64 `json:"no_asistio"`
	Cancelled int64 `json:"canceladas"`
	// RevenueCents sums the stored prices of the completed appointments.
	RevenueCents int64 `json:"ingresos_centavos"`
}

// Revenue is the sum of the stored prices of completed appointments in one currency.
type Revenue struct {
	Currency string `json:"moneda"`
	Cents    int64  `json:"centavos"`
}

// Report is the appointments of one branch over a range of its local days.
type Report struct {
	BranchID int64  `json:"sede_id"`
	From     Date   `json:"desde"`
	To       Date   `json:"hasta"`
	TimeZone string `json:"zona_horaria"`
	Total    int64  `json:"total"`
	// ByStatus lists every state, in the order pendiente, confirmada, completada, cancelada, no_asistio.
	ByStatus  []StatusCount `json:"por_estado"`
	ByStaff   []GroupCount  `json:"por_profesional"`
	ByService []GroupCount  `json:"por_servicio"`
	// NoShowRate is no-shows divided by completed plus no-shows (0 when both are 0).
	NoShowRate float64 `json:"tasa_no_asistio"`
	// Revenue sums the stored prices of completed appointments, per currency.
	Revenue []Revenue `json:"ingresos_completadas"`
}

// ReportStatuses are the states a report lists, in order.
var reportStatuses = []string{StatusPending, StatusConfirmed, StatusCompleted, StatusCancelled, StatusNoShow}

// Report counts the branch's appointments that start in the local days [From, To] of the
// branch's time zone. Staff count only their own appointments.
func (b *Bookings) Report(ctx context.Context, actor Actor, in ReportRequest) (Report, error) {
	switch {
	case in.BranchID <= 0:
		return Report{}, invalidField("sede_id", "is required")
	case in.From.IsZero():
		return Report{}, invalidField("desde", "is required (YYYY-MM-DD)")
	case in.To.IsZero():
		return Report{}, invalidField("hasta", "is required (YYYY-MM-DD)")
	}
	if err := CheckDate("desde", in.From); err != nil {
		return Report{}, err
	}
	if err := CheckDate("hasta", in.To); err != nil {
		return Report{}, err
	}
	if in.To.Before(in.From) {
		return Report{}, invalidField("hasta", "must not be before desde")
	}
	if in.From.DaysUntil(in.To) >= MaxReportDays {
		return Report{}, invalidField("hasta", "the range covers at most %d days", MaxReportDays)
	}
	tx := b.tx
	var zone string
	err := tx.QueryRow(ctx, `SELECT zona_horaria FROM organizacion_sede WHERE id = $1`, in.BranchID).Scan(&zone)
	if errors.Is(err, pgx.ErrNoRows) {
		return Report{}, invalidField("sede_id", "branch %d does not exist", in.BranchID)
	}
	if err != nil {
		return Report{}, translate(err, "reading the branch's time zone")
	}
	rows, err := tx.Query(ctx, `SELECT c.profesional_id, coalesce(p.nombre_visible, ''), c.servicio_id,
			coalesce(s.nombre, ''), c.estado, c.moneda, count(*),
			coalesce(sum(c.precio_centavos) FILTER (WHERE c.estado = 'completada'), 0)::bigint
		FROM citas_cita c
		LEFT JOIN usuarios_perfilusuario p ON p.id = c.profesional_id
		LEFT JOIN citas_servicio s ON s.id = c.servicio_id
		WHERE c.sede_id = $1
		  AND c.inicio >= $2::date::timestamp AT TIME ZONE $4::text
		  AND c.inicio < $3::date::timestamp AT TIME ZONE $4::text
		  AND ($5::bigint = 0 OR c.profesional_id = $5)
		GROUP BY 1, 2, 3, 4, 5, 6`,
		in.BranchID, in.From.String(), in.To.AddDays(1).String(), zone, actor.ownOnly())
	if err != nil {
		return Report{}, translate(err, "reporting appointments")
	}
	rep := Report{BranchID: in.BranchID, From: in.From, To: in.To, TimeZone: zone,
		ByStaff: []GroupCount{}, ByService: []GroupCount{}, Revenue: []Revenue{}}
	byStatus := map[string]int64{}
	staff := map[int64]*GroupCount{}
	services := map[int64]*GroupCount{}
	revenue := map[string]int64{}
	var staffID, serviceID, n, cents int64
	var staffName, serviceName, status, currency string
	_, err = pgx.ForEachRow(rows, []any{&staffID, &staffName, &serviceID, &serviceName, &status, &currency, &n, &cents}, func() error {
		rep.Total += n
		byStatus[status] += n
		for _, g := range []struct {
			m    map[int64]*GroupCount
			id   int64
			name string
		}{{staff, staffID, staffName}, {services, serviceID, serviceName}} {
			c := g.m[g.id]
			if c == nil {
				c = &GroupCount{ID: g.id, Name: g.name}
				g.m[g.id] = c
			}
			c.Count += n
			c.RevenueCents += cents
			switch status {
			case StatusCompleted:
				c.Completed += n
			case StatusNoShow:
				c.NoShows += n
			case StatusCancelled:
				c.Cancelled += n
			}
		}
		if status == StatusCompleted {
			revenue[currency] += cents
		}
		return nil
	})
	if err != nil {
		return Report{}, translate(err, "reporting appointments")
	}
	for _, s := range reportStatuses {
		rep.ByStatus = append(rep.ByStatus, StatusCount{Status: s, Count: byStatus[s]})
	}
	rep.ByStaff = sortedGroups(staff)
	rep.ByService = sortedGroups(services)
	for c, v := range revenue {
		rep.Revenue = append(rep.Revenue, Revenue{Currency: c, Cents: v})
	}
	sort.Slice(rep.Revenue, func(i, j int) bool { return rep.Revenue[i].Currency < rep.Revenue[j].Currency })
	if done := byStatus[StatusCompleted] + byStatus[StatusNoShow]; done > 0 {
		rep.NoShowRate = float64(byStatus[StatusNoShow]) / float64(done)
	}
	return rep, nil
}

// sortedGroups returns the groups by count, most first, then by name and id.
func sortedGroups(m map[int64]*GroupCount) []GroupCount {
	out := make([]GroupCount, 0, len(m))
	for _, g := range m {
		out = append(out, *g)
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.Count != b.Count {
			return a.Count > b.Count
		}
		if a.Name != b.Name {
			return a.Name < b.Name
		}
		return a.ID < b.ID
	})
	return out
}

// CSV returns the report as rows for a CSV file: one section per table, with a header row each.
func (r Report) CSV() [][]string {
	d := func(v int64) string { return fmt.Sprint(v) }
	rows := [][]string{
		{"seccion", "id", "nombre", "total", "completadas", "no_asistio", "canceladas", "ingresos_centavos"},
		{"resumen", d(r.BranchID), r.From.String() + "/" + r.To.String(), d(r.Total), "", "", "", ""},
		{"tasa_no_asistio", "", "", fmt.Sprintf("%.4f", r.NoShowRate), "", "", "", ""},
	}
	for _, s := range r.ByStatus {
		rows = append(rows, []string{"estado", "", s.Status, d(s.Count), "", "", "", ""})
	}
	for _, sec := range []struct {
		name string
		gs   []GroupCount
	}{{"profesional", r.ByStaff}, {"servicio", r.ByService}} {
		for _, g := range sec.gs {
			rows = append(rows, []string{sec.name, d(g.ID), csvText(g.Name), d(g.Count), d(g.Completed), d(g.NoShows), d(g.Cancelled), d(g.RevenueCents)})
		}
	}
	for _, rv := range r.Revenue {
		rows = append(rows, []string{"ingresos", "", rv.Currency, "", "", "", "", d(rv.Cents)})
	}
	return rows
}

// csvText keeps a spreadsheet from reading a name as a formula.
func csvText(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}
