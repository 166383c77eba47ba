package booking_test

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/appcitas/appcitas/internal/booking"
	"github.com/appcitas/appcitas/internal/migrate"
	"github.com/appcitas/appcitas/internal/pgtest"
	"github.com/appcitas/appcitas/internal/tenancy"
	"github.com/appcitas/appcitas/internal/tenancytest"
)

// TestClientMigrationFillsTheDirectory: a tenant at 0006 with appointments of the old shape (client
// fields only) gets, from 0007_clientes, one client per phone, then per email, then per name of
// contactless rows, and every appointment linked to its client.
func TestClientMigrationFillsTheDirectory(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	url := pgtest.NewDatabase(t)
	before, err := migrate.NewSet(migrate.Tenant().All()[:6]...)
	if err != nil {
		t.Fatal(err)
	}
	tenancytest.Migrate(t, url)
	tenancytest.DropTenantsAtCleanup(t, url)
	url = tenancytest.EmptySearchPath(t, url)
	old := tenancytest.Open(t, url, tenancy.Config{TenantMigrations: &before})
	org, err := old.CreateOrganization(ctx, tenancy.NewOrganization{Name: "Barbería Antigua"})
	if err != nil {
		t.Fatal(err)
	}
	ten, _ := org.Tenant()
	// name, phone, email of each appointment, in booking order.
	rows := [][3]string{
		{"María Pérez", "+57 300 111 2233", "maria@example.com"}, // 1: phone A
		{"maria perez", "300-111-2233 ", "MARIA@example.com"},    // 2: other digits (no country code)
		{"María P.", "57 300 111 2233", ""},                      // 3: phone A's digits
		{"Pedro", "", "pedro@example.com"},                       // 4: email only
		{"Pedro Gómez", "", " Pedro@Example.com "},               // 5: the same email
		{"Ana", "+57 301 000 0000", "maria@example.com"},         // 6: phone B, A's email (A keeps it)
		{"Luis", "", "maria@example.com"},                        // 7: email only, A's email → A
		{"Walk-in", "", ""},                                      // 8: contactless
		{"walk-in ", "", ""},                                     // 9: the same name
		{"Otro", "", ""},                                         // 10: another name
	}
	err = old.Run(ctx, ten, func(tx pgx.Tx) error {
		b, err := booking.CreateBranch(ctx, tx, booking.BranchPatch{Name: ptr("Centro"), TimeZone: ptr("America/Bogota")})
		if err != nil {
			return err
		}
		s, err := booking.CreateService(ctx, tx, booking.ServicePatch{Name: ptr("Corte"), DurationMinutes: ptr(30), PriceCents: ptr(int64(100))})
		if err != nil {
			return err
		}
		m, err := booking.AddMember(ctx, tx, booking.NewMember{UserID: 1, Role: booking.RoleStaff})
		if err != nil {
			return err
		}
		for i, r := range rows {
			start := time.Date(2027, 1, 1+i, 15, 0, 0, 0, time.UTC)
			if _, err := tx.Exec(ctx, `INSERT INTO citas_cita (sede_id, servicio_id, profesional_id, cliente_nombre,
				cliente_telefono, cliente_email, inicio, fin, bloqueo_inicio, bloqueo_fin, precio_centavos, estado)
				VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $7, $8, 100, $9)`, b.ID, s.ID, m.ID, r[0], r[1], r[2],
				start, start.Add(30*time.Minute), map[bool]string{true: "no_asistio", false: "pendiente"}[i == 2]); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}

	current := tenancytest.Open(t, url, tenancy.Config{})
	mig, err := current.MigrateTenant(ctx, ten)
	if err != nil {
		t.Fatal(err)
	}
	if mig.From != 6 || mig.To < 7 {
		t.Fatalf("migrated %d -> %d, want 6 -> 7 or later", mig.From, mig.To)
	}
	admin := booking.Actor{Role: booking.RoleAdmin}
	err = current.Run(ctx, ten, func(tx pgx.Tx) error {
		page, err := booking.ListClients(ctx, tx, admin, booking.ClientFilter{})
		if err != nil {
			return err
		}
		var got []string
		for _, c := range page.Items {
			got = append(got, fmt.Sprintf("%s|%s|%s|%d|%d", c.Name, c.Phone, c.Email, c.Appointments, c.NoShows))
		}
		sort.Strings(got)
		want := []string{
			"Ana|+57 301 000 0000||1|0",
			"María P.|57 300 111 2233|maria@example.com|3|1",
			"Otro|||1|0",
			"Pedro Gómez||Pedro@Example.com|2|0",
			"maria perez|300-111-2233||1|0",
			"walk-in|||2|0",
		}
		if strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Errorf("clients after the migration:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
		var unlinked int
		if err := tx.QueryRow(ctx, `SELECT count(*) FROM citas_cita WHERE cliente_id IS NULL`).Scan(&unlinked); err != nil {
			return err
		}
		if unlinked != 0 {
			t.Errorf("%d appointments without a client after the migration", unlinked)
		}
		var analyzed bool
		if err := tx.QueryRow(ctx, `SELECT reltuples >= 0 FROM pg_class WHERE oid = 'citas_cliente'::regclass`).Scan(&analyzed); err != nil {
			return err
		}
		if !analyzed {
			t.Error("citas_cliente has no planner statistics after the migration")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// newClient creates a client as an admin and fails the test on error.
func (e *env) newClient(t *testing.T, name, phone, email string) booking.Client {
	t.Helper()
	var c booking.Client
	e.run(t, func(ctx context.Context, tx pgx.Tx) error {
		var err error
		c, err = booking.CreateClient(ctx, tx, booking.Actor{Role: booking.RoleAdmin},
			booking.ClientPatch{Name: &name, Phone: &phone, Email: &email})
		return err
	})
	return c
}

func TestClients(t *testing.T) {
	t.Parallel()
	e := setup(t)
	f := e.newFixture(t, "America/Bogota", booking.ServicePatch{DurationMinutes: ptr(30)}, "08:00", "18:00")
	admin := booking.Actor{Role: booking.RoleAdmin}
	reception := booking.Actor{ProfileID: 0, Role: booking.RoleReceptionist}
	staff := booking.Actor{ProfileID: f.staff.ID, Role: booking.RoleStaff}

	t.Run("CreatesAndReadsAClient", func(t *testing.T) {
		c := e.newClient(t, "  Carla Ruiz ", "+57 310 555 0101", "carla@example.com")
		if c.ID == 0 || c.Name != "Carla Ruiz" || c.Appointments != 0 || c.NoShows != 0 {
			t.Errorf("created %+v", c)
		}
	})

	t.Run("RejectsDuplicatePhoneOrEmailOnceNormalized", func(t *testing.T) {
		e.newClient(t, "Dora", "311 555 0202", "dora@example.com")
		for _, in := range []booking.ClientPatch{
			{Name: ptr("Dora 2"), Phone: ptr("(311) 555-0202")},
			{Name: ptr("Dora 3"), Email: ptr(" DORA@example.com")},
		} {
			err := e.try(t, func(ctx context.Context, tx pgx.Tx) error {
				_, err := booking.CreateClient(ctx, tx, reception, in)
				return err
			})
			be := wantKind(t, err, booking.ErrConflict, "duplicate_client")
			if be.Message != booking.MsgDuplicatePhone && be.Message != booking.MsgDuplicateEmail {
				t.Errorf("message %q", be.Message)
			}
		}
	})

	t.Run("RejectsBadInput", func(t *testing.T) {
		for name, in := range map[string]booking.ClientPatch{
			"NoName":      {Phone: ptr("1")},
			"BlankName":   {Name: ptr("   ")},
			"LongName":    {Name: ptr(strings.Repeat("a", 201))},
			"LongPhone":   {Name: ptr("a"), Phone: ptr(strings.Repeat("1", 51))},
			"BadEmail":    {Name: ptr("a"), Email: ptr("no-at-sign")},
			"LongNotes":   {Name: ptr("a"), Notes: ptr(strings.Repeat("n", 2001))},
			"NulInName":   {Name: ptr("a\x00b")},
			"BadUTF8Name": {Name: ptr("a\xffb")},
		} {
			t.Run(name, func(t *testing.T) {
				err := e.try(t, func(ctx context.Context, tx pgx.Tx) error {
					_, err := booking.CreateClient(ctx, tx, admin, in)
					return err
				})
				wantKind(t, err, booking.ErrInvalid, "invalid_input")
			})
		}
	})

	t.Run("StaffCannotWriteClients", func(t *testing.T) {
		err := e.try(t, func(ctx context.Context, tx pgx.Tx) error {
			_, err := booking.CreateClient(ctx, tx, staff, booking.ClientPatch{Name: ptr("X")})
			return err
		})
		wantKind(t, err, booking.ErrForbidden, "")
	})

	t.Run("UpdatesNotesAndKeepsTheRest", func(t *testing.T) {
		c := e.newClient(t, "Elena", "312 555 0303", "")
		e.run(t, func(ctx context.Context, tx pgx.Tx) error {
			got, err := booking.UpdateClient(ctx, tx, reception, c.ID, booking.ClientPatch{Notes: ptr("Prefiere la tarde")})
			if err != nil {
				return err
			}
			if got.Notes != "Prefiere la tarde" || got.Name != "Elena" || got.Phone != "312 555 0303" {
				t.Errorf("updated %+v", got)
			}
			return nil
		})
	})

	t.Run("SearchesByNamePhoneDigitsAndEmail", func(t *testing.T) {
		e.newClient(t, "Fabiola Search", "+57 313-555-0404", "fabi@search.example")
		for _, q := range []string{"fabiola", "313 555 0404", "5550404", "FABI@SEARCH"} {
			e.run(t, func(ctx context.Context, tx pgx.Tx) error {
				page, err := booking.ListClients(ctx, tx, admin, booking.ClientFilter{Query: q})
				if err != nil {
					return err
				}
				if len(page.Items) != 1 || page.Items[0].Name != "Fabiola Search" {
					t.Errorf("q=%q found %+v", q, page.Items)
				}
				return nil
			})
		}
	})

	t.Run("PagesByName", func(t *testing.T) {
		for i := range 5 {
			e.newClient(t, fmt.Sprintf("Pagina %d", 5-i), "", "")
		}
		var names []string
		cursor := ""
		for range 10 {
			var page booking.ClientPage
			e.run(t, func(ctx context.Context, tx pgx.Tx) error {
				var err error
				page, err = booking.ListClients(ctx, tx, admin, booking.ClientFilter{Query: "pagina", Limit: 2, Cursor: cursor})
				return err
			})
			for _, c := range page.Items {
				names = append(names, c.Name)
			}
			if cursor = page.NextCursor; cursor == "" {
				break
			}
		}
		if got := strings.Join(names, ","); got != "Pagina 1,Pagina 2,Pagina 3,Pagina 4,Pagina 5" {
			t.Errorf("pages: %s", got)
		}
		err := e.try(t, func(ctx context.Context, tx pgx.Tx) error {
			_, err := booking.ListClients(ctx, tx, admin, booking.ClientFilter{Cursor: "nope"})
			return err
		})
		wantKind(t, err, booking.ErrInvalid, "invalid_input")
	})

	bookAt := func(t *testing.T, actor booking.Actor, day int, in booking.NewAppointment) (booking.Appointment, error) {
		t.Helper()
		in.BranchID, in.ServiceID, in.StaffID = f.branch.ID, f.service.ID, f.staff.ID
		in.Start = time.Date(2027, 5, day, 15, 0, 0, 0, time.UTC)
		var a booking.Appointment
		err := e.try(t, func(ctx context.Context, tx pgx.Tx) error {
			var err error
			a, err = booking.Open(tx, nil, nil).CreateAppointment(ctx, actor, in, past())
			return err
		})
		return a, err
	}

	t.Run("BookingFindsTheClientByPhoneOrCreatesOne", func(t *testing.T) {
		c := e.newClient(t, "Gloria", "+57 314 555 0505", "")
		a, err := bookAt(t, admin, 1, booking.NewAppointment{ClientName: "Gloria G.", ClientPhone: "(57) 314-555-0505"})
		if err != nil {
			t.Fatal(err)
		}
		if a.ClientID == nil || *a.ClientID != c.ID || a.ClientName != "Gloria G." {
			t.Errorf("booked for client %v (%q), want %d", a.ClientID, a.ClientName, c.ID)
		}
		b, err := bookAt(t, admin, 2, booking.NewAppointment{ClientName: "Hugo", ClientEmail: "hugo@example.com"})
		if err != nil {
			t.Fatal(err)
		}
		if b.ClientID == nil || *b.ClientID == c.ID {
			t.Fatalf("booked for client %v, want a new one", b.ClientID)
		}
		again, err := bookAt(t, admin, 3, booking.NewAppointment{ClientName: "Hugo", ClientEmail: "HUGO@example.com"})
		if err != nil {
			t.Fatal(err)
		}
		if *again.ClientID != *b.ClientID {
			t.Errorf("second booking by email linked %d, want %d", *again.ClientID, *b.ClientID)
		}
	})

	t.Run("BookingWithClientIDCopiesTheClient", func(t *testing.T) {
		c := e.newClient(t, "Irene", "315 555 0606", "irene@example.com")
		a, err := bookAt(t, reception, 4, booking.NewAppointment{ClientID: c.ID})
		if err != nil {
			t.Fatal(err)
		}
		if *a.ClientID != c.ID || a.ClientName != "Irene" || a.ClientPhone != "315 555 0606" || a.ClientEmail != "irene@example.com" {
			t.Errorf("booked %+v", a)
		}
		_, err = bookAt(t, admin, 5, booking.NewAppointment{ClientID: 999999})
		wantKind(t, err, booking.ErrInvalid, "invalid_input")
		_, err = bookAt(t, admin, 5, booking.NewAppointment{ClientID: c.ID, ClientName: "Otra"})
		wantKind(t, err, booking.ErrInvalid, "invalid_input")
		// A caller without a member's role (a public booking page) cannot name a client.
		_, err = bookAt(t, booking.Actor{}, 5, booking.NewAppointment{ClientID: c.ID})
		be := wantKind(t, err, booking.ErrInvalid, "invalid_input")
		if be.Field != "cliente_id" {
			t.Errorf("refused field %q, want cliente_id", be.Field)
		}
	})

	t.Run("StaffSeeOnlyClientsOfTheirAppointments", func(t *testing.T) {
		mine := e.newClient(t, "Julia Staff", "316 555 0707", "")
		other := e.newClient(t, "Kevin Staff", "316 555 0808", "")
		if _, err := bookAt(t, admin, 6, booking.NewAppointment{ClientID: mine.ID}); err != nil {
			t.Fatal(err)
		}
		e.run(t, func(ctx context.Context, tx pgx.Tx) error {
			page, err := booking.ListClients(ctx, tx, staff, booking.ClientFilter{Query: "staff"})
			if err != nil {
				return err
			}
			if len(page.Items) != 1 || page.Items[0].ID != mine.ID {
				t.Errorf("staff listing: %+v", page.Items)
			}
			return nil
		})
		err := e.try(t, func(ctx context.Context, tx pgx.Tx) error {
			_, err := booking.GetClient(ctx, tx, staff, other.ID)
			return err
		})
		wantKind(t, err, booking.ErrNotFound, "")
		_, err = bookAt(t, staff, 7, booking.NewAppointment{ClientID: other.ID})
		wantKind(t, err, booking.ErrInvalid, "invalid_input")
	})

	t.Run("MergeMovesAppointmentsAndRemovesTheOther", func(t *testing.T) {
		keep := e.newClient(t, "Laura Merge", "317 555 0909", "")
		dup := e.newClient(t, "Laura M.", "", "laura@merge.example")
		e.run(t, func(ctx context.Context, tx pgx.Tx) error {
			_, err := booking.UpdateClient(ctx, tx, admin, keep.ID, booking.ClientPatch{Notes: ptr("Alérgica al tinte")})
			if err != nil {
				return err
			}
			_, err = booking.UpdateClient(ctx, tx, admin, dup.ID, booking.ClientPatch{Notes: ptr("Llega tarde")})
			return err
		})
		a1, err := bookAt(t, admin, 8, booking.NewAppointment{ClientID: keep.ID})
		if err != nil {
			t.Fatal(err)
		}
		a2, err := bookAt(t, admin, 9, booking.NewAppointment{ClientID: dup.ID})
		if err != nil {
			t.Fatal(err)
		}
		e.run(t, func(ctx context.Context, tx pgx.Tx) error {
			_, err := booking.SetStatus(ctx, tx, admin, a2.ID, booking.StatusNoShow, "")
			return err
		})
		var merged booking.Client
		e.run(t, func(ctx context.Context, tx pgx.Tx) error {
			var err error
			merged, err = booking.MergeClients(ctx, tx, reception, keep.ID, dup.ID)
			return err
		})
		if merged.Appointments != 2 || merged.NoShows != 1 || merged.Email != "laura@merge.example" ||
			merged.Phone != "317 555 0909" || merged.Notes != "Alérgica al tinte\n\nLlega tarde" {
			t.Errorf("merged %+v", merged)
		}
		e.run(t, func(ctx context.Context, tx pgx.Tx) error {
			_, err := booking.GetClient(ctx, tx, admin, dup.ID)
			wantKind(t, err, booking.ErrNotFound, "")
			hist, err := booking.ClientAppointments(ctx, tx, admin, keep.ID, 0, "")
			if err != nil {
				return err
			}
			if len(hist.Items) != 2 || hist.Items[0].ID != a2.ID || hist.Items[1].ID != a1.ID {
				t.Errorf("history (latest first): %+v", hist.Items)
			}
			page, err := booking.ClientAppointments(ctx, tx, admin, keep.ID, 1, "")
			if err != nil {
				return err
			}
			next, err := booking.ClientAppointments(ctx, tx, admin, keep.ID, 1, page.NextCursor)
			if err != nil {
				return err
			}
			if len(page.Items) != 1 || len(next.Items) != 1 || next.Items[0].ID != a1.ID || next.NextCursor != "" {
				t.Errorf("history pages: %+v then %+v", page, next)
			}
			return nil
		})
		for name, ids := range map[string][2]int64{"Itself": {keep.ID, keep.ID}, "Missing": {keep.ID, 999999}} {
			err := e.try(t, func(ctx context.Context, tx pgx.Tx) error {
				_, err := booking.MergeClients(ctx, tx, admin, ids[0], ids[1])
				return err
			})
			if err == nil {
				t.Errorf("merge %s: no error", name)
			}
			wantKind(t, err, booking.ErrInvalid, "invalid_input")
		}
		err = e.try(t, func(ctx context.Context, tx pgx.Tx) error {
			_, err := booking.MergeClients(ctx, tx, admin, 999999, keep.ID)
			return err
		})
		wantKind(t, err, booking.ErrNotFound, "")
		err = e.try(t, func(ctx context.Context, tx pgx.Tx) error {
			_, err := booking.MergeClients(ctx, tx, staff, keep.ID, dup.ID)
			return err
		})
		wantKind(t, err, booking.ErrForbidden, "")
	})

	t.Run("MergeRefusesNotesTooLong", func(t *testing.T) {
		a := e.newClient(t, "Nota Larga A", "", "")
		b := e.newClient(t, "Nota Larga B", "", "")
		e.run(t, func(ctx context.Context, tx pgx.Tx) error {
			for _, id := range []int64{a.ID, b.ID} {
				if _, err := booking.UpdateClient(ctx, tx, admin, id, booking.ClientPatch{Notes: ptr(strings.Repeat("n", 1500))}); err != nil {
					return err
				}
			}
			return nil
		})
		err := e.try(t, func(ctx context.Context, tx pgx.Tx) error {
			_, err := booking.MergeClients(ctx, tx, admin, a.ID, b.ID)
			return err
		})
		wantKind(t, err, booking.ErrConflict, "notes_too_long")
	})
}
