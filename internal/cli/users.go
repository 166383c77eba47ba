package cli

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/appcitas/appcitas/internal/auth"
	"github.com/appcitas/appcitas/internal/booking"
	"github.com/appcitas/appcitas/internal/tenancy"
)

// jwtSecretFile is where the embedded development mode keeps its generated signing secret.
const jwtSecretFile = "jwt_secret"

// jwtSecret returns the access-token signing secret: APPCITAS_JWT_SECRET, or, on the embedded
// development database only, one generated once per data directory (mode 0600).
func (a *app) jwtSecret() ([]byte, error) {
	if a.cfg.JWTSecret != "" {
		if len(a.cfg.JWTSecret) < auth.MinSecretLen {
			return nil, usageErrorf("APPCITAS_JWT_SECRET is %d bytes: use at least %d (e.g. `openssl rand -base64 48`)", len(a.cfg.JWTSecret), auth.MinSecretLen)
		}
		return []byte(a.cfg.JWTSecret), nil
	}
	if a.cfg.DatabaseURL != "" {
		return nil, usageErrorf("APPCITAS_JWT_SECRET is required with DATABASE_URL (at least %d bytes, e.g. `openssl rand -base64 48`)", auth.MinSecretLen)
	}
	path := filepath.Join(a.cfg.DataDir, jwtSecretFile)
	secret, created, err := auth.LoadOrCreateSecret(path)
	if err != nil {
		return nil, err
	}
	if created {
		a.log.Warn("APPCITAS_JWT_SECRET is not set: generated a development secret for the embedded database", "file", path)
	}
	return secret, nil
}

// userStore opens the user store on the default server.
func (a *app) userStore(ctx context.Context) (*auth.Store, *tenancy.Manager, error) {
	m, err := a.openMigrated(ctx)
	if err != nil {
		return nil, nil, err
	}
	pool, err := m.Servers().Shared(ctx, tenancy.DefaultServer)
	if err != nil {
		return nil, nil, err
	}
	return auth.NewStore(pool, auth.StoreOptions{RefreshTTL: a.cfg.RefreshTokenTTL}), m, nil
}

// asAuthUserError marks input errors of the user store as command-line errors.
func asAuthUserError(err error) error {
	if errors.Is(err, auth.ErrInvalid) || errors.Is(err, auth.ErrConflict) || errors.Is(err, auth.ErrUserNotFound) {
		return userError{err}
	}
	return err
}

// createUserOptions are the flags of create_user and create_superuser.
type createUserOptions struct {
	// User is the user to create; its password comes from the fields below or the terminal.
	User auth.NewUser
	// PasswordStdin reads the password from the first line of stdin.
	PasswordStdin bool
	// Password is the password given on the command line (insecure).
	Password string
}

func createUserCmd(a *app, superuser bool) *cobra.Command {
	var opts createUserOptions
	name, short := "create_user", "Create a user (a login shared across organizations)"
	if superuser {
		name, short = "create_superuser", "Create a superuser (acts as admin in every organization)"
	}
	cmd := &cobra.Command{
		Use:   name,
		Short: short,
		Long: short + `.

The password is asked on the terminal, or read from the first line of standard input with
--password-stdin. --password puts it on the command line, where other users of the machine and the
shell history can read it: use it only for throwaway development users.
Give the user a profile in an organization with add_member.`,
		Example: fmt.Sprintf(`  appcitas %[1]s --username ana --email ana@example.com
  printf '%%s\n' "$PASSWORD" | appcitas %[1]s --username ana --password-stdin`, name),
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			opts.User.Superuser = superuser
			return runCreateUser(cmd.Context(), a, opts)
		},
	}
	cmd.Flags().StringVar(&opts.User.Username, "username", "", "login name (required)")
	cmd.Flags().StringVar(&opts.User.Email, "email", "", "email address (optional, unique)")
	cmd.Flags().StringVar(&opts.User.FirstName, "first-name", "", "first name")
	cmd.Flags().StringVar(&opts.User.LastName, "last-name", "", "last name")
	cmd.Flags().BoolVar(&opts.PasswordStdin, "password-stdin", false, "read the password from the first line of standard input")
	cmd.Flags().StringVar(&opts.Password, "password", "", "INSECURE: the password on the command line (visible in ps and shell history)")
	return cmd
}

// runCreateUser is create_user and create_superuser: it creates opts.User with a password.
// With opts.Password it takes that password.
// With opts.PasswordStdin it reads the first line of stdin.
// Otherwise it asks on the terminal.
// A bad username or password, or both password options, is a usage error.
func runCreateUser(ctx context.Context, a *app, opts createUserOptions) error {
	if err := auth.ValidateUsername(strings.TrimSpace(opts.User.Username)); err != nil {
		return userError{fmt.Errorf("--username: %w", err)}
	}
	switch {
	case opts.Password != "" && opts.PasswordStdin:
		return usageErrorf("give --password or --password-stdin, not both")
	case opts.Password != "":
		opts.User.Password = opts.Password
	default:
		p, err := readPassword(a, opts.PasswordStdin)
		if err != nil {
			return err
		}
		opts.User.Password = p
	}
	if err := auth.ValidatePassword(opts.User.Password); err != nil {
		return userError{err}
	}
	store, _, err := a.userStore(ctx)
	if err != nil {
		return err
	}
	u, err := store.CreateUser(ctx, opts.User)
	if err != nil {
		return asAuthUserError(err)
	}
	what := "Usuario"
	if opts.User.Superuser {
		what = "Superusuario"
	}
	fmt.Fprintf(a.stdout, "✓ %s creado: %s (id: %d)\n", what, u.Username, u.ID)
	if !opts.User.Superuser {
		fmt.Fprintf(a.stdout, "  Dele un perfil: appcitas add_member --user %s --organization_id <id> --role admin\n", u.Username)
	}
	return nil
}

// readPassword reads a password: the first line of stdin with --password-stdin, else asked twice
// on the terminal without echo.
func readPassword(a *app, fromStdin bool) (string, error) {
	if fromStdin {
		line, err := bufio.NewReader(a.stdin).ReadString('\n')
		if err != nil && !errors.Is(err, io.EOF) {
			return "", fmt.Errorf("reading the password from stdin: %w", err)
		}
		return strings.TrimRight(line, "\r\n"), nil
	}
	f, ok := a.stdin.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return "", usageErrorf("no terminal to ask the password on: use --password-stdin")
	}
	ask := func(prompt string) (string, error) {
		fmt.Fprint(a.stderr, prompt)
		defer fmt.Fprintln(a.stderr)
		line, err := term.ReadPassword(int(f.Fd()))
		if err != nil {
			return "", fmt.Errorf("reading the password: %w", err)
		}
		return string(line), nil
	}
	p1, err := ask("Password: ")
	if err != nil {
		return "", err
	}
	p2, err := ask("Password (again): ")
	if err != nil {
		return "", err
	}
	if p1 != p2 {
		return "", usageErrorf("the passwords do not match")
	}
	return p1, nil
}

func revokeSessionsCmd(a *app) *cobra.Command {
	var username string
	cmd := &cobra.Command{
		Use:   "revoke_sessions",
		Short: "Sign a user out everywhere: revoke every refresh token and every access token issued before",
		Long: `Sign a user out everywhere, as POST /api/auth/logout_all does for the caller: every refresh token
of the user is revoked, and every access token issued before is refused from the next request on
(running API processes hear of it through the catalog channel). The user can log in again at once.
Use it after a stolen device or password; deactivating a user (auth_user.is_active = false) shuts
them out the same way.`,
		Example: `  appcitas revoke_sessions --user ana`,
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if username == "" {
				return usageErrorf("--user is required")
			}
			ctx := cmd.Context()
			store, _, err := a.userStore(ctx)
			if err != nil {
				return err
			}
			u, err := store.UserByUsername(ctx, username)
			if err != nil {
				return asAuthUserError(err)
			}
			if err := store.RevokeSessions(ctx, u.ID); err != nil {
				return asAuthUserError(err)
			}
			fmt.Fprintf(a.stdout, "✓ Sesiones revocadas: %s (id: %d) debe iniciar sesión de nuevo en todos sus dispositivos\n", u.Username, u.ID)
			return nil
		},
	}
	cmd.Flags().StringVar(&username, "user", "", "the user's username (required)")
	return cmd
}

// addMemberOptions are the flags of add_member.
type addMemberOptions struct {
	// Org names the organization.
	Org organizationFlags
	// Username names the user (required).
	Username string
	// Role is admin, receptionist or staff.
	Role string
	// Display is the name shown to clients; empty shows none.
	Display string
}

func addMemberCmd(a *app) *cobra.Command {
	var opts addMemberOptions
	cmd := &cobra.Command{
		Use:   "add_member",
		Short: "Give a user a profile (role) in an organization",
		Long: `Give a user an active profile in an organization's usuarios_perfilusuario, with a role (admin,
receptionist or staff): the guide's fix for "User attempting to access unauthorized organization".
An existing profile is reactivated and takes the new role. The profile is written inside the
tenant's scoped transaction; the public mirror that GET /api/me lists is updated after it.`,
		Example: `  appcitas add_member --user usuario --organization_id 1 --role admin
  appcitas add_member --user ana --slug barberia-juan --role staff`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runAddMember(cmd.Context(), a, opts)
		},
	}
	opts.Org.add(cmd)
	cmd.Flags().StringVar(&opts.Username, "user", "", "the user's username (required)")
	cmd.Flags().StringVar(&opts.Role, "role", "admin", "admin, receptionist or staff")
	cmd.Flags().StringVar(&opts.Display, "display-name", "", "name shown to clients (default: none; alias --nombre-visible)")
	return cmd
}

// runAddMember is add_member: it gives the user an active profile with opts.Role in the organization.
// An existing profile is reactivated and takes the new role.
// A missing user or a role other than admin, receptionist or staff is a usage error.
func runAddMember(ctx context.Context, a *app, opts addMemberOptions) error {
	if opts.Username == "" {
		return usageErrorf("--user is required")
	}
	if opts.Role != "admin" && opts.Role != "receptionist" && opts.Role != "staff" {
		return usageErrorf("--role must be admin, receptionist or staff, got %q", opts.Role)
	}
	if err := opts.Org.validate(); err != nil {
		return err
	}
	store, m, err := a.userStore(ctx)
	if err != nil {
		return err
	}
	u, err := store.UserByUsername(ctx, opts.Username)
	if err != nil {
		return asAuthUserError(err)
	}
	org, err := opts.Org.lookup(ctx, m)
	if err != nil {
		return err
	}
	profile, created, err := addMember(ctx, m, org, u.ID, opts.Role, opts.Display)
	if err != nil {
		return asUserError(err)
	}
	verb := "actualizado"
	if created {
		verb = "creado"
	}
	fmt.Fprintf(a.stdout, "✓ Perfil %s: %s es %s en %s (perfil id: %d, schema: %s)\n", verb, u.Username, opts.Role, org.Name, profile, org.SchemaName)
	return nil
}

// addMember upserts the user's active profile in org's tenant (through tenancy.Run) and then the
// public mirror. It returns the profile id and whether it was created.
func addMember(ctx context.Context, m *tenancy.Manager, org tenancy.Organization, userID int64, role, display string) (int64, bool, error) {
	t, err := org.Tenant()
	if err != nil {
		return 0, false, err
	}
	var id int64
	var created bool
	err = m.Run(ctx, t, func(tx pgx.Tx) error {
		p, isNew, err := booking.GrantMember(ctx, tx, booking.NewMember{UserID: userID, Role: role, DisplayName: display})
		id, created = p.ID, isNew
		return err
	})
	if err != nil {
		return 0, false, fmt.Errorf("writing the profile in %s: %w", t.Schema, err)
	}
	pool, err := m.Servers().Shared(ctx, tenancy.DefaultServer)
	if err != nil {
		return 0, false, err
	}
	if err := auth.SyncMembership(ctx, pool, auth.Membership{UserID: userID, OrganizationID: org.ID, Role: role, IsActive: true}); err != nil {
		return 0, false, err
	}
	return id, created, nil
}
