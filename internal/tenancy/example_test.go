package tenancy_test

import (
	"context"
	"fmt"
	"log"

	"github.com/jackc/pgx/v5"

	"github.com/appcitas/appcitas/internal/migrate"
	"github.com/appcitas/appcitas/internal/pgtest"
	"github.com/appcitas/appcitas/internal/tenancy"
)

// Example_run creates an organization and runs SQL in its scope through the one door.
func Example_run() {
	ctx := context.Background()
	url, cleanup := pgtest.ExampleDatabase("Example_run")
	defer cleanup()
	if err := migratePublic(ctx, url); err != nil {
		log.Fatal(err)
	}
	m, err := tenancy.New(tenancy.Config{Servers: map[string]string{tenancy.DefaultServer: url}})
	if err != nil {
		log.Fatal(err)
	}
	defer m.Close()

	org, err := m.CreateOrganization(ctx, tenancy.NewOrganization{Name: "Barbería Sol"})
	if err != nil {
		log.Fatal(err)
	}
	t, err := org.Tenant()
	if err != nil {
		log.Fatal(err)
	}
	// Unqualified table names resolve in the tenant's schema.
	err = m.Run(ctx, t, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO citas_servicio (nombre, duracion_minutos, precio_centavos) VALUES ('Corte', 30, 2000000)`); err != nil {
			return err
		}
		var n int
		if err := tx.QueryRow(ctx, `SELECT count(*) FROM citas_servicio`).Scan(&n); err != nil {
			return err
		}
		fmt.Println("services:", n)
		return nil
	})
	if err != nil {
		log.Fatal(err)
	}
	if err := m.DeleteOrganization(ctx, org); err != nil {
		log.Fatal(err)
	}
	// Output: services: 1
}

// migratePublic applies the public migrations to the database at url.
func migratePublic(ctx context.Context, url string) error {
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	_, err = migrate.ApplyPublic(ctx, conn, migrate.Public(), migrate.Options{})
	return err
}
