package tenancytest_test

import (
	"os"
	"testing"

	"github.com/appcitas/appcitas/internal/pgtest"
	"github.com/appcitas/appcitas/internal/tenancy"
	"github.com/appcitas/appcitas/internal/tenancytest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

func TestNewManager(t *testing.T) {
	t.Parallel()
	m, url := tenancytest.NewManager(t, tenancy.Config{})
	conn := tenancytest.Conn(t, url)

	t.Run("MigratesPublic", func(t *testing.T) {
		var n int
		if err := conn.QueryRow(t.Context(), `SELECT count(*) FROM public.organizacion_organizacion`).Scan(&n); err != nil {
			t.Fatalf("reading the catalog: %v", err)
		}
	})

	t.Run("ConnRejectsAnUnqualifiedTable", func(t *testing.T) {
		var n int
		err := conn.QueryRow(t.Context(), `SELECT count(*) FROM organizacion_organizacion`).Scan(&n)
		if err == nil {
			t.Fatal("an unqualified table was found with search_path ''")
		}
	})

	t.Run("PoolRejectsAnUnqualifiedTable", func(t *testing.T) {
		var n int
		err := tenancytest.Pool(t, url).QueryRow(t.Context(), `SELECT count(*) FROM organizacion_organizacion`).Scan(&n)
		if err == nil {
			t.Fatal("an unqualified table was found with search_path ''")
		}
	})

	t.Run("ManagerRunsWithAnEmptySearchPath", func(t *testing.T) {
		pool, err := m.Servers().Shared(t.Context(), tenancy.DefaultServer)
		if err != nil {
			t.Fatal(err)
		}
		var path string
		if err := pool.QueryRow(t.Context(), `SHOW search_path`).Scan(&path); err != nil {
			t.Fatal(err)
		}
		if path != "" {
			t.Fatalf("search_path = %q; want it empty", path)
		}
	})

	t.Run("CreatesTenants", func(t *testing.T) {
		org, err := m.CreateOrganization(t.Context(), tenancy.NewOrganization{Name: "Barbería Juan"})
		if err != nil {
			t.Fatalf("creating an organization: %v", err)
		}
		if _, err := org.Tenant(); err != nil {
			t.Fatalf("org.Tenant: %v", err)
		}
	})
}
