package booking_test

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/appcitas/appcitas/internal/booking"
)

func TestBranches(t *testing.T) {
	t.Parallel()
	e := setup(t)

	t.Run("CreatesUpdatesAndDeactivates", func(t *testing.T) {
		e.run(t, func(ctx context.Context, tx pgx.Tx) error {
			b, err := booking.CreateBranch(ctx, tx, booking.BranchPatch{Name: ptr(" Norte "), TimeZone: ptr("America/Bogota"), Address: ptr("Cra 7 # 12-30")})
			if err != nil {
				return err
			}
			if b.Name != "Norte" || !b.Active || b.TimeZone != "America/Bogota" {
				t.Errorf("created %+v", b)
			}
			b, err = booking.UpdateBranch(ctx, tx, b.ID, booking.BranchPatch{Phone: ptr("+57 300"), TimeZone: ptr("America/Santiago")})
			if err != nil {
				return err
			}
			if b.Phone != "+57 300" || b.TimeZone != "America/Santiago" || b.Address != "Cra 7 # 12-30" {
				t.Errorf("updated %+v", b)
			}
			if _, err := booking.DeactivateBranch(ctx, tx, b.ID); err != nil {
				return err
			}
			active, err := booking.ListBranches(ctx, tx, false)
			if err != nil {
				return err
			}
			all, err := booking.ListBranches(ctx, tx, true)
			if err != nil {
				return err
			}
			if len(active) != 0 || len(all) != 1 || all[0].Active {
				t.Errorf("after deactivation: active %v, all %v", active, all)
			}
			return nil
		})
	})

	t.Run("RejectsInvalidInputNamingTheField", func(t *testing.T) {
		tests := []struct {
			name  string
			in    booking.BranchPatch
			field string
		}{
			{"UnknownZone", booking.BranchPatch{Name: ptr("X"), TimeZone: ptr("Mars/Olympus")}, "zona_horaria"},
			{"LocalZone", booking.BranchPatch{Name: ptr("X"), TimeZone: ptr("Local")}, "zona_horaria"},
			{"MissingZone", booking.BranchPatch{Name: ptr("X")}, "zona_horaria"},
			{"BlankName", booking.BranchPatch{Name: ptr("  "), TimeZone: ptr("UTC")}, "nombre"},
			{"MissingName", booking.BranchPatch{TimeZone: ptr("UTC")}, "nombre"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				err := e.try(t, func(ctx context.Context, tx pgx.Tx) error {
					_, err := booking.CreateBranch(ctx, tx, tt.in)
					return err
				})
				if be := wantKind(t, err, booking.ErrInvalid, "invalid_input"); be.Field != tt.field {
					t.Errorf("field = %q, want %q", be.Field, tt.field)
				}
			})
		}
	})

	t.Run("MissingIsNotFound", func(t *testing.T) {
		err := e.try(t, func(ctx context.Context, tx pgx.Tx) error {
			_, err := booking.GetBranch(ctx, tx, 999)
			return err
		})
		wantKind(t, err, booking.ErrNotFound, "not_found")
	})
}

func TestServices(t *testing.T) {
	t.Parallel()
	e := setup(t)

	t.Run("CreatesWithDefaultsAndUpdates", func(t *testing.T) {
		e.run(t, func(ctx context.Context, tx pgx.Tx) error {
			s, err := booking.CreateService(ctx, tx, booking.ServicePatch{Name: ptr("Limpieza"), DurationMinutes: ptr(45), PriceCents: ptr(int64(8000000)), BufferAfterMinutes: ptr(10)})
			if err != nil {
				return err
			}
			if s.Currency != "COP" || s.BufferAfterMinutes != 10 || s.BufferBeforeMinutes != 0 || !s.Active {
				t.Errorf("created %+v", s)
			}
			s, err = booking.UpdateService(ctx, tx, s.ID, booking.ServicePatch{Currency: ptr("USD"), DurationMinutes: ptr(60)})
			if err != nil {
				return err
			}
			if s.Currency != "USD" || s.DurationMinutes != 60 || s.Name != "Limpieza" {
				t.Errorf("updated %+v", s)
			}
			s, err = booking.DeactivateService(ctx, tx, s.ID)
			if err != nil {
				return err
			}
			if s.Active {
				t.Error("still active after deactivation")
			}
			return nil
		})
	})

	t.Run("RejectsInvalidInputNamingTheField", func(t *testing.T) {
		ok := func() booking.ServicePatch {
			return booking.ServicePatch{Name: ptr("Corte"), DurationMinutes: ptr(30), PriceCents: ptr(int64(100))}
		}
		tests := []struct {
			name   string
			change func(*booking.ServicePatch)
			field  string
		}{
			{"TooShort", func(p *booking.ServicePatch) { p.DurationMinutes = ptr(4) }, "duracion_minutos"},
			{"MissingDuration", func(p *booking.ServicePatch) { p.DurationMinutes = nil }, "duracion_minutos"},
			{"NegativePrice", func(p *booking.ServicePatch) { p.PriceCents = ptr(int64(-1)) }, "precio_centavos"},
			{"LowercaseCurrency", func(p *booking.ServicePatch) { p.Currency = ptr("cop") }, "moneda"},
			{"HugeBuffer", func(p *booking.ServicePatch) { p.BufferBeforeMinutes = ptr(241) }, "buffer_antes_minutos"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				in := ok()
				tt.change(&in)
				err := e.try(t, func(ctx context.Context, tx pgx.Tx) error {
					_, err := booking.CreateService(ctx, tx, in)
					return err
				})
				if be := wantKind(t, err, booking.ErrInvalid, ""); be.Field != tt.field {
					t.Errorf("field = %q, want %q", be.Field, tt.field)
				}
			})
		}
	})
}

func TestMembers(t *testing.T) {
	t.Parallel()
	e := setup(t)

	t.Run("AddsChangesRoleAndReactivates", func(t *testing.T) {
		e.run(t, func(ctx context.Context, tx pgx.Tx) error {
			m, err := booking.AddMember(ctx, tx, booking.NewMember{UserID: 7, Role: booking.RoleStaff, DisplayName: "Ana"})
			if err != nil {
				return err
			}
			m, err = booking.UpdateMember(ctx, tx, m.ID, booking.MemberPatch{Role: ptr(booking.RoleReceptionist)})
			if err != nil {
				return err
			}
			if m.Role != booking.RoleReceptionist {
				t.Errorf("role = %q", m.Role)
			}
			if _, err := booking.DeactivateMember(ctx, tx, m.ID); err != nil {
				return err
			}
			again, err := booking.AddMember(ctx, tx, booking.NewMember{UserID: 7, Role: booking.RoleAdmin})
			if err != nil {
				return err
			}
			if again.ID != m.ID || !again.Active || again.Role != booking.RoleAdmin {
				t.Errorf("re-added %+v, want profile %d active admin", again, m.ID)
			}
			return nil
		})
	})

	t.Run("RefusesAddingAnActiveMemberTwice", func(t *testing.T) {
		e.run(t, func(ctx context.Context, tx pgx.Tx) error {
			_, err := booking.AddMember(ctx, tx, booking.NewMember{UserID: 8, Role: booking.RoleStaff})
			return err
		})
		err := e.try(t, func(ctx context.Context, tx pgx.Tx) error {
			_, err := booking.AddMember(ctx, tx, booking.NewMember{UserID: 8, Role: booking.RoleAdmin})
			return err
		})
		wantKind(t, err, booking.ErrConflict, "conflict")
	})

	t.Run("RejectsUnknownRole", func(t *testing.T) {
		err := e.try(t, func(ctx context.Context, tx pgx.Tx) error {
			_, err := booking.AddMember(ctx, tx, booking.NewMember{UserID: 9, Role: "owner"})
			return err
		})
		if be := wantKind(t, err, booking.ErrInvalid, ""); be.Field != "role" {
			t.Errorf("field = %q", be.Field)
		}
	})

	t.Run("RejectsUnknownBranch", func(t *testing.T) {
		err := e.try(t, func(ctx context.Context, tx pgx.Tx) error {
			_, err := booking.AddMember(ctx, tx, booking.NewMember{UserID: 10, Role: booking.RoleStaff, BranchID: ptr(int64(999))})
			return err
		})
		if be := wantKind(t, err, booking.ErrInvalid, "invalid_reference"); be.Field != "sede_id" {
			t.Errorf("field = %q (%v)", be.Field, err)
		}
	})
}

func TestWeeklyHours(t *testing.T) {
	t.Parallel()
	e := setup(t)
	f := e.newFixture(t, "America/Bogota", booking.ServicePatch{DurationMinutes: ptr(30)}, "09:00", "18:00")

	t.Run("ReplacesTheWeekWithBreaks", func(t *testing.T) {
		want := []booking.WorkBlock{
			{BranchID: f.branch.ID, Weekday: 1, Start: "08:00", End: "12:00", Breaks: []booking.Break{{Start: "10:00", End: "10:15"}}},
			{BranchID: f.branch.ID, Weekday: 1, Start: "14:00", End: "24:00", Breaks: []booking.Break{}},
		}
		e.run(t, func(ctx context.Context, tx pgx.Tx) error {
			got, err := booking.SetWeeklyHours(ctx, tx, f.staff.ID, want)
			if err != nil {
				return err
			}
			if len(got) != 2 || got[0].Start != "08:00" || got[0].Breaks[0].End != "10:15" || got[1].End != "24:00" {
				t.Errorf("hours = %+v", got)
			}
			return nil
		})
	})

	t.Run("RejectsBadBlocks", func(t *testing.T) {
		tests := []struct {
			name   string
			blocks []booking.WorkBlock
			field  string
		}{
			{"Overlapping", []booking.WorkBlock{
				{BranchID: f.branch.ID, Weekday: 2, Start: "08:00", End: "12:00"},
				{BranchID: f.branch.ID, Weekday: 2, Start: "11:00", End: "13:00"},
			}, "horario[1]"},
			{"EndBeforeStart", []booking.WorkBlock{{BranchID: f.branch.ID, Weekday: 2, Start: "12:00", End: "08:00"}}, "horario[0].hora_fin"},
			{"BadClock", []booking.WorkBlock{{BranchID: f.branch.ID, Weekday: 2, Start: "8:00", End: "12:00"}}, "horario[0].hora_inicio"},
			{"BadWeekday", []booking.WorkBlock{{BranchID: f.branch.ID, Weekday: 7, Start: "08:00", End: "12:00"}}, "horario[0].dia_semana"},
			{"BreakOutside", []booking.WorkBlock{{BranchID: f.branch.ID, Weekday: 2, Start: "08:00", End: "12:00",
				Breaks: []booking.Break{{Start: "11:30", End: "12:30"}}}}, "horario[0].descansos[0]"},
			{"UnknownBranch", []booking.WorkBlock{{BranchID: 999, Weekday: 2, Start: "08:00", End: "12:00"}}, "sede_id"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				err := e.try(t, func(ctx context.Context, tx pgx.Tx) error {
					_, err := booking.SetWeeklyHours(ctx, tx, f.staff.ID, tt.blocks)
					return err
				})
				if be := wantKind(t, err, booking.ErrInvalid, ""); be.Field != tt.field {
					t.Errorf("field = %q, want %q (%v)", be.Field, tt.field, err)
				}
			})
		}
	})

	t.Run("DatabaseRefusesOverlappingHours", func(t *testing.T) {
		err := e.try(t, func(ctx context.Context, tx pgx.Tx) error {
			_, err := tx.Exec(ctx, `INSERT INTO citas_horario (profesional_id, sede_id, dia_semana, hora_inicio, hora_fin)
				VALUES ($1, $2, 1, '09:00', '10:00'), ($1, $2, 1, '09:30', '11:00')`, f.staff.ID, f.branch.ID)
			return err
		})
		if err == nil {
			t.Fatal("overlapping hours were stored")
		}
	})
}

func TestExceptions(t *testing.T) {
	t.Parallel()
	e := setup(t)
	f := e.newFixture(t, "America/Bogota", booking.ServicePatch{DurationMinutes: ptr(30)}, "09:00", "18:00")
	day, _ := booking.ParseDate("2027-12-24")

	t.Run("CreatesListsAndDeletes", func(t *testing.T) {
		e.run(t, func(ctx context.Context, tx pgx.Tx) error {
			x, err := booking.CreateException(ctx, tx, booking.Exception{BranchID: &f.branch.ID, Date: day, Start: ptr("09:00"), End: ptr("13:00"), Reason: "Nochebuena"})
			if err != nil {
				return err
			}
			if x.Date != day || *x.Start != "09:00" || *x.End != "13:00" || x.StaffID != nil {
				t.Errorf("created %+v", x)
			}
			if _, err := booking.CreateException(ctx, tx, booking.Exception{StaffID: &f.staff.ID, Date: day.AddDays(1), Reason: "vacaciones"}); err != nil {
				return err
			}
			list, err := booking.ListExceptions(ctx, tx, booking.ExceptionFilter{From: day, To: day.AddDays(1), BranchID: f.branch.ID})
			if err != nil {
				return err
			}
			if len(list) != 2 {
				t.Errorf("listed %d exceptions, want 2", len(list))
			}
			return booking.DeleteException(ctx, tx, x.ID)
		})
	})

	t.Run("RejectsInvalid", func(t *testing.T) {
		tests := []struct {
			name  string
			in    booking.Exception
			field string
		}{
			{"NoScope", booking.Exception{Date: day}, "sede_id"},
			{"NoDate", booking.Exception{BranchID: &f.branch.ID}, "fecha"},
			{"HalfInterval", booking.Exception{BranchID: &f.branch.ID, Date: day, Start: ptr("09:00")}, "hora_fin"},
			{"SpecialHoursWithoutBranch", booking.Exception{StaffID: &f.staff.ID, Date: day, Start: ptr("09:00"), End: ptr("10:00")}, "sede_id"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				err := e.try(t, func(ctx context.Context, tx pgx.Tx) error {
					_, err := booking.CreateException(ctx, tx, tt.in)
					return err
				})
				if be := wantKind(t, err, booking.ErrInvalid, ""); be.Field != tt.field {
					t.Errorf("field = %q, want %q", be.Field, tt.field)
				}
			})
		}
	})

	t.Run("DeletingMissingIsNotFound", func(t *testing.T) {
		err := e.try(t, func(ctx context.Context, tx pgx.Tx) error { return booking.DeleteException(ctx, tx, 999) })
		wantKind(t, err, booking.ErrNotFound, "")
	})
}
