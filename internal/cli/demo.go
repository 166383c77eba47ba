package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/appcitas/appcitas/internal/auth"
	"github.com/appcitas/appcitas/internal/booking"
	"github.com/appcitas/appcitas/internal/tenancy"
)

// demoPassword is the password of every demo user (printed by the command).
const demoPassword = "demo-appcitas"

// demoUser is a demo login and its role in its organization; the first of each organization is
// its admin.
type demoUser struct {
	username, first, last, role string
}

// demoOrg is one of the guide's three example businesses.
type demoOrg struct {
	name, slug, address string
	users               []demoUser
	services            []demoService
}

type demoService struct {
	name            string
	minutes         int
	priceCOP        int64
	bufferAfterMins int
}

// demoOrgs are the guide's three tenants.
func demoOrgs() []demoOrg {
	return []demoOrg{
		{name: "Barbería Juan", slug: "barberia-juan", address: "Calle 45 #12-30, Bogotá",
			users:    []demoUser{{"juan", "Juan", "Pérez", "admin"}, {"pedro", "Pedro", "Gómez", "staff"}, {"laura", "Laura", "Ríos", "receptionist"}},
			services: []demoService{{"Corte clásico", 30, 25000, 5}, {"Corte y barba", 45, 40000, 5}, {"Afeitado tradicional", 30, 20000, 0}}},
		{name: "Clínica Dental", slug: "clinica-dental", address: "Carrera 7 #72-10, Bogotá",
			users:    []demoUser{{"dra_marta", "Marta", "López", "admin"}, {"dr_andres", "Andrés", "Castro", "staff"}},
			services: []demoService{{"Limpieza dental", 45, 120000, 15}, {"Valoración", 30, 60000, 10}, {"Blanqueamiento", 60, 450000, 15}}},
		{name: "Spa Belleza", slug: "spa-belleza", address: "Avenida 19 #100-20, Bogotá",
			users:    []demoUser{{"sofia", "Sofía", "Martínez", "admin"}, {"valentina", "Valentina", "Ruiz", "staff"}},
			services: []demoService{{"Masaje relajante", 60, 150000, 15}, {"Facial hidratante", 45, 110000, 10}, {"Manicure", 40, 45000, 5}}},
	}
}

// demoOptions are the flags of demo.
type demoOptions struct {
	// Days is how many days of appointments to create, from tomorrow: 1 to 31.
	Days int
}

// runDemo is demo: it creates the demo organizations, users and appointments and prints curl lines.
// It migrates public first.
// Days outside 1 to 31 is a usage error.
func runDemo(ctx context.Context, a *app, opts demoOptions) error {
	if opts.Days < 1 || opts.Days > 31 {
		return usageErrorf("--days must be between 1 and 31, got %d", opts.Days)
	}
	secret, m, err := a.openSigning(ctx, false)
	if err != nil {
		return err
	}
	pool, err := m.Servers().Shared(ctx, tenancy.DefaultServer)
	if err != nil {
		return err
	}
	store := auth.NewStore(pool, auth.StoreOptions{RefreshTTL: a.cfg.RefreshTokenTTL})
	tokens, err := auth.NewTokens(secret, a.cfg.AccessTokenTTL, nil)
	if err != nil {
		return err
	}
	var orgs []tenancy.Organization
	for _, d := range demoOrgs() {
		org, err := demoOrganization(ctx, a.stdout, m, store, d, opts.Days)
		if err != nil {
			return fmt.Errorf("%s: %w", d.name, err)
		}
		orgs = append(orgs, org)
	}
	ana, err := demoEnsureUser(ctx, store, demoUser{"ana", "Ana", "Torres", "admin"})
	if err != nil {
		return err
	}
	for _, p := range []struct {
		org  tenancy.Organization
		role string
	}{{orgs[0], "admin"}, {orgs[2], "receptionist"}} {
		if _, _, err := addMember(ctx, m, p.org, ana.ID, p.role, "Ana Torres"); err != nil {
			return err
		}
	}
	juan, err := store.UserByUsername(ctx, "juan")
	if errors.Is(err, auth.ErrUserNotFound) {
		juan = ana // Barbería Juan existed before the demo: ana is its admin too
	} else if err != nil {
		return err
	}
	access, _, err := tokens.Issue(juan, orgs[0].ID)
	if err != nil {
		return err
	}
	anaAccess, _, err := tokens.Issue(ana, 0)
	if err != nil {
		return err
	}
	printDemoCurls(a.stdout, baseURL(a.cfg.Addr), orgs, access, anaAccess, tokens.TTL())
	return nil
}

// baseURL returns the URL a client on this machine reaches a server listening on addr at: a
// wildcard or missing host (":8080", "0.0.0.0:8080", "[::]:8080") becomes the loopback address.
func baseURL(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "http://" + addr
	}
	switch host {
	case "", "0.0.0.0":
		host = "127.0.0.1"
	case "::":
		host = "::1"
	}
	return "http://" + net.JoinHostPort(host, port)
}

// demoEnsureUser returns the user, creating it with the demo password when missing.
func demoEnsureUser(ctx context.Context, store *auth.Store, u demoUser) (auth.User, error) {
	existing, err := store.UserByUsername(ctx, u.username)
	if err == nil {
		return existing, nil
	}
	if !errors.Is(err, auth.ErrUserNotFound) {
		return auth.User{}, err
	}
	return store.CreateUser(ctx, auth.NewUser{Username: u.username, Email: u.username + "@demo.appcitas.local",
		Password: demoPassword, FirstName: u.first, LastName: u.last})
}

// demoOrganization creates one demo organization with its data, or returns it as it is when its
// slug already exists.
func demoOrganization(ctx context.Context, out io.Writer, m *tenancy.Manager, store *auth.Store, d demoOrg, days int) (tenancy.Organization, error) {
	if org, err := m.OrganizationBySlug(ctx, d.slug); err == nil {
		fmt.Fprintf(out, "= %s ya existe (id: %d, schema: %s): se deja como está\n", org.Name, org.ID, org.SchemaName)
		return org, nil
	} else if !errors.Is(err, tenancy.ErrNotFound) {
		return tenancy.Organization{}, err
	}
	users := make([]auth.User, len(d.users))
	for i, du := range d.users {
		var err error
		if users[i], err = demoEnsureUser(ctx, store, du); err != nil {
			return tenancy.Organization{}, err
		}
	}
	pool, err := m.Servers().Shared(ctx, tenancy.DefaultServer)
	if err != nil {
		return tenancy.Organization{}, err
	}
	// The organization, its schema, its data and the membership mirror: one transaction, so that a
	// failure leaves nothing behind and a re-run starts over.
	var org tenancy.Organization
	appointments := 0
	err = pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		var err error
		if org, err = m.CreateOrganizationTx(ctx, tx, tenancy.NewOrganization{Name: d.name, Slug: d.slug}); err != nil {
			return err
		}
		t, err := org.Tenant()
		if err != nil {
			return err
		}
		loc, err := time.LoadLocation(org.TimeZone)
		if err != nil {
			return fmt.Errorf("loading time zone: %w", err)
		}
		if err := tenancy.WithinTx(ctx, tx, t, func(tx pgx.Tx) error {
			n, err := demoTenantData(ctx, tx, d, users, org.TimeZone, loc, days)
			appointments = n
			return err
		}); err != nil {
			return err
		}
		for i, u := range users {
			if err := auth.SyncMembership(ctx, tx, auth.Membership{UserID: u.ID, OrganizationID: org.ID, Role: d.users[i].role, IsActive: true}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return tenancy.Organization{}, err
	}
	fmt.Fprintf(out, "✓ %s (id: %d, schema: %s): 1 sede, %d servicios, %d usuarios, %d citas\n",
		org.Name, org.ID, org.SchemaName, len(d.services), len(d.users), appointments)
	return org, nil
}

// demoTenantData writes a demo organization's branch, services, profiles, working hours and
// appointments inside its tenant scope, and returns how many appointments it booked.
func demoTenantData(ctx context.Context, tx pgx.Tx, d demoOrg, users []auth.User, tz string, loc *time.Location, days int) (int, error) {
	appointments := 0
	branchName := "Sede Principal"
	branch, err := booking.CreateBranch(ctx, tx, booking.BranchPatch{Name: &branchName, Address: &d.address, TimeZone: &tz})
	if err != nil {
		return 0, err
	}
	var services []booking.Service
	for _, ds := range d.services {
		price := ds.priceCOP * 100
		s, err := booking.CreateService(ctx, tx, booking.ServicePatch{Name: &ds.name, DurationMinutes: &ds.minutes,
			PriceCents: &price, BufferAfterMinutes: &ds.bufferAfterMins})
		if err != nil {
			return 0, err
		}
		services = append(services, s)
	}
	var admin booking.Actor
	var staff []booking.Member
	for i, u := range users {
		mem, err := booking.AddMember(ctx, tx, booking.NewMember{UserID: u.ID, Role: d.users[i].role,
			DisplayName: d.users[i].first + " " + d.users[i].last, BranchID: &branch.ID})
		if err != nil {
			return 0, err
		}
		if mem.Role == booking.RoleAdmin {
			admin = booking.Actor{ProfileID: mem.ID, Role: mem.Role}
		}
		if mem.Role != booking.RoleReceptionist {
			staff = append(staff, mem)
		}
	}
	// Monday to Saturday, 09:00-18:00 with lunch 12:00-13:00.
	var blocks []booking.WorkBlock
	for wd := 1; wd <= 6; wd++ {
		blocks = append(blocks, booking.WorkBlock{BranchID: branch.ID, Weekday: wd, Start: "09:00", End: "18:00",
			Breaks: []booking.Break{{Start: "12:00", End: "13:00"}}})
	}
	for _, s := range staff {
		if _, err := booking.SetWeeklyHours(ctx, tx, s.ID, blocks); err != nil {
			return 0, err
		}
	}
	clients := []string{"Camila Rojas", "Mateo Vargas", "Isabella Díaz", "Santiago Moreno", "Mariana Herrera", "Daniel Quintero"}
	now := time.Now()
	local := now.In(loc)
	day := time.Date(local.Year(), local.Month(), local.Day(), 0, 0, 0, 0, loc)
	n := 0
	for dd := 1; dd <= days; dd++ {
		date := day.AddDate(0, 0, dd)
		if date.Weekday() == time.Sunday {
			continue
		}
		for si, s := range staff {
			// Slots far enough apart for the longest service plus its buffer (75 minutes).
			for slot, at := range []int{9 * 60, 13 * 60, 14*60 + 30, 16 * 60} {
				if (slot+si+dd)%3 == 0 {
					continue // leave some gaps for the availability query
				}
				svc := services[(slot+si)%len(services)]
				client := clients[n%len(clients)]
				n++
				_, err := booking.Open(tx, nil, nil).CreateAppointment(ctx, admin, booking.NewAppointment{
					BranchID: branch.ID, ServiceID: svc.ID, StaffID: s.ID,
					Start:      time.Date(date.Year(), date.Month(), date.Day(), at/60, at%60, 0, 0, loc),
					ClientName: client, ClientPhone: fmt.Sprintf("+57 300 %03d %04d", n%1000, 1000+n),
					ClientEmail: strings.ToLower(strings.Fields(client)[0]) + "@example.com",
				}, now)
				if err != nil {
					return 0, fmt.Errorf("appointment on %s at %02d:%02d: %w", date.Format("2006-01-02"), at/60, at%60, err)
				}
				appointments++
			}
		}
	}
	return appointments, nil
}

func printDemoCurls(out io.Writer, base string, orgs []tenancy.Organization, juanToken, anaToken string, ttl time.Duration) {
	fmt.Fprintf(out, `
Usuarios (contraseña de todos: %[1]s):
  juan, pedro, laura → %[2]s;  dra_marta, dr_andres → %[3]s;  sofia, valentina → %[4]s
  ana → admin en %[2]s y recepcionista en %[4]s, sin perfil en %[3]s

Con "appcitas serve" corriendo en otra terminal, pegue esto (los tokens duran %[5]s):

export BASE=%[6]s
export TOKEN=%[7]s
export ANA=%[8]s

# Quién soy y a qué organizaciones pertenezco
curl -s $BASE/api/me -H "Authorization: Bearer $TOKEN"

# Las rutas de la API (OpenAPI 3)
curl -s $BASE/api/openapi.json | python3 -c 'import json,sys; [print(m.upper(), p) for p, o in json.load(sys.stdin)["paths"].items() for m in o]'

# Servicios y citas de %[2]s (el token de juan ya trae su organización; X-Organization-ID la elige)
curl -s $BASE/api/servicios -H "Authorization: Bearer $TOKEN" -H "X-Organization-ID: %[9]d"
curl -s "$BASE/api/citas?desde=%[12]s&hasta=%[12]s" -H "Authorization: Bearer $TOKEN" -H "X-Organization-ID: %[9]d"

# Horarios libres de mañana para el servicio 1 en la sede 1
curl -s "$BASE/api/disponibilidad?servicio_id=1&sede_id=1&desde=%[12]s&hasta=%[12]s" -H "Authorization: Bearer $TOKEN"

# Ana cambia de organización con X-Organization-ID; en %[3]s no tiene perfil: 403
curl -s $BASE/api/servicios -H "Authorization: Bearer $ANA" -H "X-Organization-ID: %[11]d"
curl -s $BASE/api/servicios -H "Authorization: Bearer $ANA" -H "X-Organization-ID: %[10]d"

# Un token nuevo (y un refresh token) con usuario y contraseña
curl -s -X POST $BASE/api/auth/token -H 'Content-Type: application/json' \
  -d '{"username": "juan", "password": "%[1]s", "organization_id": %[9]d}'
`, demoPassword, orgs[0].Name, orgs[1].Name, orgs[2].Name, ttl, base, juanToken, anaToken, orgs[0].ID, orgs[1].ID, orgs[2].ID, demoTomorrow(orgs[0]))
}

// demoTomorrow is tomorrow's date (YYYY-MM-DD) in the organization's time zone; demo books from it.
func demoTomorrow(org tenancy.Organization) string {
	loc, err := time.LoadLocation(org.TimeZone)
	if err != nil {
		loc = time.UTC
	}
	t := time.Now().In(loc).AddDate(0, 0, 1)
	if t.Weekday() == time.Sunday {
		t = t.AddDate(0, 0, 1) // nobody works on Sundays
	}
	return t.Format("2006-01-02")
}
