package cli

import (
	"errors"
	"fmt"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/appcitas/appcitas/internal/tenancy"
)

func addServerCmd(a *app) *cobra.Command {
	var e tenancy.ServerEntry
	cmd := &cobra.Command{
		Use:   "add_server",
		Short: "Register a PostgreSQL server for tenants in the server catalog",
		Long: `Register a PostgreSQL server in the server catalog (public.servidores), after checking that it answers.
Every appcitas process reads the catalog: a running serve uses the server without a restart.
The catalog keeps no password. The login role is DATABASE_URL's (or --params user=...); its password
comes from the passfile (PGPASSFILE, else ~/.pgpass) or, without an entry there, from DATABASE_URL.
A server also named in APPCITAS_SERVERS is reached, in that process, through that URL.`,
		Example: `  appcitas add_server --name enterprise1 --host db2.internal --database appcitas
  appcitas add_server --name enterprise2 --host 10.0.0.7 --port 5433 --database citas --params sslmode=require`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if e.Name == "" || e.Host == "" || e.Database == "" {
				return usageErrorf("give --name, --host and --database (see `appcitas add_server --help`)")
			}
			ctx := cmd.Context()
			m, err := a.openMigrated(ctx)
			if err != nil {
				return err
			}
			added, err := m.AddServer(ctx, e)
			if errors.Is(err, tenancy.ErrServerUnreachable) {
				return userError{err}
			}
			if err != nil {
				return asUserError(err)
			}
			fmt.Fprintf(a.stdout, "✓ Servidor %s registrado (%s:%d, base %s)\n", added.Name, added.Host, added.Port, added.Database)
			return nil
		},
	}
	cmd.Flags().StringVar(&e.Name, "name", "", "server name (what organizations' database_name and move_tenant --to use)")
	cmd.Flags().StringVar(&e.Host, "host", "", "host name, address or Unix socket directory")
	cmd.Flags().IntVar(&e.Port, "port", 5432, "port")
	cmd.Flags().StringVar(&e.Database, "database", "", "database that holds the tenants' schemas")
	cmd.Flags().StringVar(&e.Params, "params", "", "more connection parameters as name=value&... (sslmode=require); no password")
	return cmd
}

func listServersCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:     "list_servers",
		Short:   "List the registered PostgreSQL servers and how many organizations each holds",
		Example: `  appcitas list_servers`,
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			m, err := a.openMigrated(ctx)
			if err != nil {
				return err
			}
			list, err := m.ListServers(ctx)
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(a.stdout, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "SERVIDOR\tHOST\tPUERTO\tBASE\tPARÁMETROS\tORGANIZACIONES\tCREDENCIALES")
			fmt.Fprintf(tw, "%s\t-\t-\t-\t-\t-\tDATABASE_URL\n", tenancy.DefaultServer)
			for _, s := range list {
				creds := "DATABASE_URL / passfile"
				if s.Configured {
					creds = "APPCITAS_SERVERS"
				}
				params := s.Params
				if params == "" {
					params = "-"
				}
				fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%d\t%s\n", s.Name, s.Host, s.Port, s.Database, params, s.Tenants, creds)
			}
			return tw.Flush()
		},
	}
}

func removeServerCmd(a *app) *cobra.Command {
	var name string
	cmd := &cobra.Command{
		Use:     "remove_server",
		Short:   "Remove a server from the server catalog; refused while organizations are on it",
		Example: `  appcitas remove_server --name enterprise1`,
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if name == "" {
				return usageErrorf("give --name (see `appcitas remove_server --help`)")
			}
			ctx := cmd.Context()
			m, err := a.openMigrated(ctx)
			if err != nil {
				return err
			}
			if err := m.RemoveServer(ctx, name); err != nil {
				if errors.Is(err, tenancy.ErrServerInUse) {
					return userError{err}
				}
				return asUserError(err)
			}
			fmt.Fprintf(a.stdout, "✓ Servidor %s eliminado del catálogo\n", name)
			return nil
		},
	}
	cmd.Flags().StringVar(&name, "name", "", "server name")
	return cmd
}
