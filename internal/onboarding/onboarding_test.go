package onboarding_test

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/appcitas/appcitas/internal/auth"
	"github.com/appcitas/appcitas/internal/billing"
	"github.com/appcitas/appcitas/internal/onboarding"
	"github.com/appcitas/appcitas/internal/pgtest"
	"github.com/appcitas/appcitas/internal/tenancy"
	"github.com/appcitas/appcitas/internal/tenancytest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// cheapHash keeps tests fast; production uses auth.DefaultHashParams.
var cheapHash = auth.HashParams{MemoryKiB: 1024, Iterations: 1, Threads: 1, SaltLen: 16, KeyLen: 32}

type env struct {
	m    *tenancy.Manager
	svc  *onboarding.Service
	pool *pgxpool.Pool
}

func setup(t testing.TB) *env {
	t.Helper()
	ctx := t.Context()
	m, _ := tenancytest.NewManager(t, tenancy.Config{})
	b, err := billing.New(ctx, m, billing.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	svc, err := onboarding.New(ctx, m, b, onboarding.Options{Hash: cheapHash})
	if err != nil {
		t.Fatal(err)
	}
	pool, _ := m.Servers().Shared(ctx, tenancy.DefaultServer)
	return &env{m: m, svc: svc, pool: pool}
}

func request() onboarding.Request {
	return onboarding.Request{OrganizationName: "Barbería Juan", TimeZone: "America/Bogota", AdminName: "Juan Pérez",
		Email: "juan@barberia.co", Password: "tijeras-2026", Plan: "profesional"}
}

func (e *env) count(t *testing.T, sql string, args ...any) int {
	t.Helper()
	var n int
	if err := e.pool.QueryRow(t.Context(), sql, args...).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestSignup(t *testing.T) {
	t.Parallel()

	t.Run("CreatesUserOrganizationSchemaProfileBranchAndTrial", func(t *testing.T) {
		t.Parallel()
		e := setup(t)
		ctx := t.Context()
		res, err := e.svc.Signup(ctx, "", request())
		if err != nil {
			t.Fatal(err)
		}
		if res.Organization.Slug != "barberia-juan" || res.Organization.TimeZone != "America/Bogota" || res.User.Email != "juan@barberia.co" || res.ExistingUser {
			t.Fatalf("result = %+v", res)
		}
		if res.Subscription.Status != billing.Trialing || res.Subscription.PlanCode != "profesional" || res.Subscription.TrialEndsAt == nil {
			t.Fatalf("subscription = %+v", res.Subscription)
		}
		ten, _ := res.Organization.Tenant()
		err = e.m.Run(ctx, ten, func(tx pgx.Tx) error {
			var role string
			var sede int64
			if err := tx.QueryRow(ctx, `SELECT role, sede_id FROM usuarios_perfilusuario WHERE user_id = $1`, res.User.ID).Scan(&role, &sede); err != nil {
				return err
			}
			if role != "admin" || sede != res.BranchID {
				t.Fatalf("profile role %s branch %d", role, sede)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if n := e.count(t, `SELECT count(*) FROM public.usuarios_membresia WHERE user_id = $1 AND organizacion_id = $2 AND role = 'admin'`, res.User.ID, res.Organization.ID); n != 1 {
			t.Fatalf("membership mirror rows = %d", n)
		}
		// The scope was left: the transaction's later public writes did not land in the tenant.
		if n := e.count(t, `SELECT count(*) FROM pg_tables WHERE schemaname = $1 AND tablename LIKE 'billing%'`, res.Organization.SchemaName); n != 0 {
			t.Fatalf("%d billing tables in the tenant schema", n)
		}
	})

	t.Run("FailureLeavesNothingBehind", func(t *testing.T) {
		t.Parallel()
		e := setup(t)
		boom := errors.New("boom")
		// The tenant role's name, seen inside the failing transaction: roles are cluster-wide, and
		// tests on other databases of the cluster create roles of the same prefix meanwhile.
		var attempted string
		onboarding.SetBeforeCommit(e.svc, func(ctx context.Context, tx pgx.Tx) error {
			if err := tx.QueryRow(ctx, `SELECT nspname::text FROM pg_namespace WHERE nspname LIKE 'tenant\_%'`).Scan(&attempted); err != nil {
				return err
			}
			return boom
		})
		if _, err := e.svc.Signup(t.Context(), "k1", request()); !errors.Is(err, boom) {
			t.Fatalf("Signup = %v, want boom", err)
		}
		if n := e.count(t, `SELECT count(*) FROM pg_roles WHERE rolname = $1`, attempted); attempted == "" || n != 0 {
			t.Fatalf("role %q of the failed signup: %d left, want 0", attempted, n)
		}
		for _, q := range []string{
			`SELECT count(*) FROM public.auth_user`,
			`SELECT count(*) FROM public.organizacion_organizacion`,
			`SELECT count(*) FROM public.billing_suscripcion`,
			`SELECT count(*) FROM public.migraciones_ledger`,
			`SELECT count(*) FROM public.onboarding_idempotencia`,
			`SELECT count(*) FROM pg_namespace WHERE nspname LIKE 'tenant\_%'`,
		} {
			if n := e.count(t, q); n != 0 {
				t.Fatalf("%s = %d after a failed signup, want 0", q, n)
			}
		}
		onboarding.SetBeforeCommit(e.svc, nil)
		if _, err := e.svc.Signup(t.Context(), "k1", request()); err != nil {
			t.Fatalf("retry after the failure: %v", err)
		}
	})

	t.Run("IdempotencyKeyReplaysTheSameOrganization", func(t *testing.T) {
		t.Parallel()
		e := setup(t)
		ctx := t.Context()
		var wg sync.WaitGroup
		results := make([]onboarding.Result, 5)
		errs := make([]error, 5)
		for i := range 5 {
			wg.Go(func() { results[i], errs[i] = e.svc.Signup(ctx, "signup-abc", request()) })
		}
		wg.Wait()
		replays := 0
		for i := range 5 {
			if errs[i] != nil {
				t.Fatal(errs[i])
			}
			if results[i].Organization.ID != results[0].Organization.ID {
				t.Fatal("one Idempotency-Key made two organizations")
			}
			if results[i].Replayed {
				replays++
			}
		}
		if replays != 4 || e.count(t, `SELECT count(*) FROM public.organizacion_organizacion`) != 1 {
			t.Fatalf("%d replays", replays)
		}
		other := request()
		other.OrganizationName = "Otra"
		if _, err := e.svc.Signup(ctx, "signup-abc", other); !errors.Is(err, onboarding.ErrIdempotencyMismatch) {
			t.Fatalf("another body with the key = %v", err)
		}
		wrong := request()
		wrong.Password = "otra-clave-99"
		if _, err := e.svc.Signup(ctx, "signup-abc", wrong); !errors.Is(err, onboarding.ErrIdempotencyMismatch) {
			t.Fatalf("another password with the key = %v", err)
		}
	})

	t.Run("ExistingUserAttachesOnlyWithThePassword", func(t *testing.T) {
		t.Parallel()
		e := setup(t)
		first, err := e.svc.Signup(t.Context(), "", request())
		if err != nil {
			t.Fatal(err)
		}
		second := request()
		second.OrganizationName = "Barbería Juan Norte"
		res, err := e.svc.Signup(t.Context(), "", second)
		if err != nil || !res.ExistingUser || res.User.ID != first.User.ID || res.Organization.ID == first.Organization.ID {
			t.Fatalf("second organization = %+v, %v", res, err)
		}
		third := second
		third.OrganizationName = "Barbería Juan Sur"
		third.Password = "no-es-la-clave-1"
		if _, err := e.svc.Signup(t.Context(), "", third); !errors.Is(err, onboarding.ErrEmailTaken) {
			t.Fatalf("wrong password = %v, want ErrEmailTaken", err)
		}
	})

	t.Run("DuplicateAndReservedNamesGetAFreeSlug", func(t *testing.T) {
		t.Parallel()
		e := setup(t)
		slugs := map[string]string{}
		for i, name := range []string{"Barbería Juan", "Barbería Juan", "Admin", "WWW"} {
			r := request()
			r.OrganizationName = name
			r.Email = "owner" + string(rune('a'+i)) + "@example.co"
			res, err := e.svc.Signup(t.Context(), "", r)
			if err != nil {
				t.Fatal(err)
			}
			slugs[res.Organization.Slug] = name
		}
		for _, want := range []string{"barberia-juan", "barberia-juan-2", "admin-2", "www-2"} {
			if _, ok := slugs[want]; !ok {
				t.Fatalf("slugs %v lack %s", slugs, want)
			}
		}
	})
}

func TestSignupValidation(t *testing.T) {
	t.Parallel()
	e := setup(t)
	tests := []struct {
		name  string
		edit  func(*onboarding.Request)
		field string
	}{
		{"RefusesABadEmail", func(r *onboarding.Request) { r.Email = "juan@" }, "email"},
		{"RefusesAnEmailWithoutDomain", func(r *onboarding.Request) { r.Email = "juan@localhost" }, "email"},
		{"RefusesAShortPassword", func(r *onboarding.Request) { r.Password = "a1b2" }, "password"},
		{"RefusesADigitsOnlyPassword", func(r *onboarding.Request) { r.Password = "1234567890123" }, "password"},
		{"RefusesACommonPassword", func(r *onboarding.Request) { r.Password = "password1" }, "password"},
		{"RefusesThePasswordBeingTheEmail", func(r *onboarding.Request) { r.Password = "juan@barberia.co" }, "password"},
		{"RefusesAnUnknownTimeZone", func(r *onboarding.Request) { r.TimeZone = "Mars/Olympus" }, "time_zone"},
		{"RefusesAnUnknownPlan", func(r *onboarding.Request) { r.Plan = "gratis" }, "plan"},
		{"RefusesAOneLetterName", func(r *onboarding.Request) { r.OrganizationName = "J" }, "organization_name"},
		{"RefusesAnEmptyAdminName", func(r *onboarding.Request) { r.AdminName = " " }, "admin_name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := request()
			tt.edit(&r)
			_, err := e.svc.Signup(t.Context(), "", r)
			var fe *onboarding.FieldError
			if !errors.As(err, &fe) || fe.Field != tt.field || !errors.Is(err, onboarding.ErrInvalid) {
				t.Fatalf("Signup = %v, want a FieldError on %s", err, tt.field)
			}
		})
	}
	if _, err := e.svc.Signup(t.Context(), "bad key with spaces", request()); !errors.Is(err, onboarding.ErrInvalid) {
		t.Fatalf("bad Idempotency-Key = %v", err)
	}
}
