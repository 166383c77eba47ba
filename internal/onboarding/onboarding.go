// Package onboarding is self-service signup: one call creates (or attaches) the user, the
// organization, its schema, the admin profile, a default branch, the membership mirror and a
// trial subscription, in one transaction on the default server. If any step fails nothing is left
// behind: no organization without schema, no orphan schema or role (PostgreSQL's DDL and CREATE
// ROLE are transactional), no half user. A retried request with the same Idempotency-Key gets
// the same organization instead of a second one.
package onboarding

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/mail"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/appcitas/appcitas/internal/auth"
	"github.com/appcitas/appcitas/internal/billing"
	"github.com/appcitas/appcitas/internal/booking"
	"github.com/appcitas/appcitas/internal/tenancy"
)

// Errors of Signup, besides auth's, tenancy's and billing's input errors.
var (
	// ErrInvalid: the request breaks a rule (400); wrapped with the field.
	ErrInvalid = errors.New("invalid signup")
	// ErrEmailTaken: the e-mail belongs to a user and the password does not prove it (409).
	ErrEmailTaken = errors.New("email already registered")
	// ErrUsernameTaken: a new user asked for a username that another user has (409).
	ErrUsernameTaken = errors.New("username already taken")
	// ErrIdempotencyMismatch: the Idempotency-Key was used for a different request (422).
	ErrIdempotencyMismatch = errors.New("idempotency key reused with a different request")
)

// FieldError is an ErrInvalid naming its field.
type FieldError struct {
	Field  string
	Reason string
}

// Error names the field and what is wrong with it.
func (e *FieldError) Error() string { return e.Field + ": " + e.Reason }

// Is makes errors.Is(err, ErrInvalid) true.
func (e *FieldError) Is(target error) bool { return target == ErrInvalid }

func invalid(field, format string, args ...any) error {
	return &FieldError{Field: field, Reason: fmt.Sprintf(format, args...)}
}

// Request is a signup.
type Request struct {
	// OrganizationName is the business's name, 1-200 characters.
	OrganizationName string `json:"organization_name"`
	// TimeZone is an IANA zone. Defaults to America/Bogota.
	TimeZone string `json:"time_zone,omitempty"`
	// AdminName is the admin's display name, 1-150 characters.
	AdminName string `json:"admin_name"`
	// Email is the admin's login; an existing user must send their own password.
	Email string `json:"email"`
	// Username is a new admin's username for signing in. Defaults to the e-mail. An existing
	// user keeps theirs.
	Username string `json:"username,omitempty"`
	Password string `json:"password"`
	// Plan is a plan code. Defaults to "basico".
	Plan string `json:"plan,omitempty"`
}

// Result is what a signup created (or, for a replayed Idempotency-Key, had created).
type Result struct {
	User         auth.User
	Organization tenancy.Organization
	Subscription billing.Subscription
	ProfileID    int64
	BranchID     int64
	// ExistingUser is true when the e-mail belonged to a user who proved their password.
	ExistingUser bool
	// Replayed is true when the Idempotency-Key had already created this organization.
	Replayed bool
}

// Options configures a [Service].
type Options struct {
	// Hash is the argon2id cost of new passwords. Defaults to auth.DefaultHashParams().
	Hash auth.HashParams
	// Logger defaults to slog.Default().
	Logger *slog.Logger
}

// Service runs signups.
type Service struct {
	tenancy *tenancy.Manager
	billing *billing.Service
	pool    *pgxpool.Pool
	opts    Options
	// beforeCommit, when set (tests), runs last inside the signup transaction.
	beforeCommit func(ctx context.Context, tx pgx.Tx) error
}

// New returns the signup service.
func New(ctx context.Context, m *tenancy.Manager, b *billing.Service, opts Options) (*Service, error) {
	pool, err := m.Servers().Shared(ctx, tenancy.DefaultServer)
	if err != nil {
		return nil, err
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	return &Service{tenancy: m, billing: b, pool: pool, opts: opts}, nil
}

// reservedSlugs are names an organization may not take as they are (they get a variant).
var reservedSlugs = map[string]bool{
	"admin": true, "api": true, "app": true, "appcitas": true, "ayuda": true, "billing": true, "blog": true,
	"default": true, "docs": true, "help": true, "login": true, "mail": true, "public": true, "river": true,
	"root": true, "signup": true, "soporte": true, "static": true, "status": true, "support": true,
	"tenant": true, "wompi": true, "www": true, "org": true,
}

// IsReservedSlug reports whether slug is reserved for the product itself.
func IsReservedSlug(slug string) bool { return reservedSlugs[slug] }

// commonPasswords are refused whatever their length.
var commonPasswords = map[string]bool{
	"12345678": true, "123456789": true, "1234567890": true, "password": true, "password1": true,
	"contraseña": true, "contrasena": true, "qwertyui": true, "qwerty123": true, "11111111": true,
	"abcd1234": true, "iloveyou": true, "colombia": true, "colombia1": true, "appcitas": true,
}

// validatePassword checks strength: auth's length rule, at least one letter and one digit or
// symbol, not a common password, and not the e-mail.
func validatePassword(pw, email string) error {
	if err := auth.ValidatePassword(pw); err != nil {
		return invalid("password", "must be at least %d characters", auth.MinPasswordLen)
	}
	var letter, other bool
	for _, r := range pw {
		switch {
		case unicode.IsLetter(r):
			letter = true
		default:
			other = true
		}
	}
	lower := strings.ToLower(pw)
	switch {
	case !letter || !other:
		return invalid("password", "must mix letters with digits or symbols")
	case commonPasswords[lower]:
		return invalid("password", "is too common")
	case strings.EqualFold(pw, email) || strings.EqualFold(pw, strings.SplitN(email, "@", 2)[0]):
		return invalid("password", "must not be the e-mail")
	}
	return nil
}

// normalize validates r and fills defaults.
func (r *Request) normalize() error {
	r.OrganizationName = strings.TrimSpace(r.OrganizationName)
	r.AdminName = strings.TrimSpace(r.AdminName)
	r.Email = strings.ToLower(strings.TrimSpace(r.Email))
	r.TimeZone = strings.TrimSpace(r.TimeZone)
	r.Plan = strings.TrimSpace(r.Plan)
	if n := utf8.RuneCountInString(r.OrganizationName); n < 2 || n > 200 {
		return invalid("organization_name", "must be 2-200 characters")
	}
	if n := utf8.RuneCountInString(r.AdminName); n < 1 || n > 150 {
		return invalid("admin_name", "must be 1-150 characters")
	}
	if a, err := mail.ParseAddress(r.Email); err != nil || a.Address != r.Email || len(r.Email) > 254 || !strings.Contains(strings.SplitN(r.Email, "@", 2)[1], ".") {
		return invalid("email", "must be an address like nombre@negocio.co")
	}
	if auth.ValidateUsername(r.Email) != nil {
		return invalid("email", "may contain only letters, digits and @.+-_")
	}
	r.Username = strings.TrimSpace(r.Username)
	if r.Username == "" {
		r.Username = r.Email
	}
	if auth.ValidateUsername(r.Username) != nil {
		return invalid("username", "must be 1-150 letters, digits or @.+-_")
	}
	if r.TimeZone == "" {
		r.TimeZone = tenancy.DefaultTimeZone
	}
	if err := tenancy.ValidateTimeZone(r.TimeZone); err != nil {
		return invalid("time_zone", "must be an IANA time zone such as America/Bogota")
	}
	if r.Plan == "" {
		r.Plan = "basico"
	}
	return validatePassword(r.Password, r.Email)
}

// fingerprint identifies a request for its Idempotency-Key, without the password (which a replay
// proves against the stored hash instead).
func (r Request) fingerprint() string {
	parts := []string{r.OrganizationName, r.TimeZone, r.AdminName, r.Email, r.Plan}
	// A username other than the e-mail joins the fingerprint; keys recorded before usernames
	// existed keep theirs.
	if r.Username != r.Email {
		parts = append(parts, r.Username)
	}
	sum := sha256.Sum256([]byte(strings.Join(parts, "\x00")))
	return hex.EncodeToString(sum[:])
}

// ValidateIdempotencyKey checks an Idempotency-Key header value: 1-200 printable ASCII characters.
func ValidateIdempotencyKey(k string) error {
	if k == "" || len(k) > 200 {
		return invalid("Idempotency-Key", "must be 1-200 characters")
	}
	for _, c := range k {
		if c < 0x21 || c > 0x7e {
			return invalid("Idempotency-Key", "must be printable ASCII without spaces")
		}
	}
	return nil
}

// Signup runs one signup. idempotencyKey may be "" (no replay protection).
func (s *Service) Signup(ctx context.Context, idempotencyKey string, r Request) (Result, error) {
	if err := r.normalize(); err != nil {
		return Result{}, err
	}
	if idempotencyKey != "" {
		if err := ValidateIdempotencyKey(idempotencyKey); err != nil {
			return Result{}, err
		}
	}
	plan, err := s.billing.Plan(ctx, r.Plan)
	if errors.Is(err, billing.ErrNotFound) || (err == nil && !plan.IsActive) {
		return Result{}, invalid("plan", "unknown plan %q (see GET /api/plans)", r.Plan)
	}
	if err != nil {
		return Result{}, err
	}
	var res Result
	for attempt := 0; ; attempt++ {
		res, err = s.signupTx(ctx, idempotencyKey, r)
		// Two signups racing for one slug: the loser retries with the next free variant.
		if errors.Is(err, tenancy.ErrConflict) && attempt < 3 {
			continue
		}
		return res, err
	}
}

func (s *Service) signupTx(ctx context.Context, key string, r Request) (Result, error) {
	// The password hash (argon2id, the slowest step) is computed while the transaction provisions
	// the schema: a new user's signup costs about the longer of the two, not their sum.
	type hashed struct {
		hash string
		err  error
	}
	hashc := make(chan hashed, 1)
	go func() {
		h, err := auth.HashPassword(r.Password, s.hashParams())
		hashc <- hashed{h, err}
	}()
	var res Result
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		users := auth.NewStore(tx, auth.StoreOptions{Hash: s.opts.Hash})
		if key != "" {
			replayed, err := s.replay(ctx, tx, key, r, users)
			if err != nil || replayed.Replayed {
				res = replayed
				return err
			}
		}
		// An existing user must prove the password before anything is created.
		var exists bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM public.auth_user WHERE email <> '' AND lower(email) = $1)`, r.Email).Scan(&exists); err != nil {
			return fmt.Errorf("looking up %s: %w", r.Email, err)
		}
		if exists {
			u, err := users.Authenticate(ctx, auth.Credentials{Email: r.Email, Password: r.Password})
			if errors.Is(err, auth.ErrInvalidCredentials) {
				return fmt.Errorf("%w: %s has an account; sign up with its password (or log in and create the organization from there)", ErrEmailTaken, r.Email)
			}
			if err != nil {
				return err
			}
			res.User, res.ExistingUser = u, true
		}
		// The organization and its schema, with a free slug (reserved ones get a variant).
		slug, err := tenancy.FreeSlug(ctx, tx, tenancy.Slugify(r.OrganizationName), reservedSlugs)
		if err != nil {
			return err
		}
		org, err := s.tenancy.CreateOrganizationTx(ctx, tx, tenancy.NewOrganization{Name: r.OrganizationName, Slug: slug, TimeZone: r.TimeZone})
		if err != nil {
			return err
		}
		res.Organization = org
		if !exists {
			var h hashed
			select {
			case h = <-hashc:
			case <-ctx.Done():
				return ctx.Err()
			}
			if h.err != nil {
				return h.err
			}
			if res.User, err = insertUser(ctx, tx, r, h.hash); err != nil {
				return err
			}
		}
		t, err := org.Tenant()
		if err != nil {
			return err
		}
		// Inside the tenant: the default branch and the admin profile.
		err = tenancy.WithinTx(ctx, tx, t, func(tx pgx.Tx) error {
			if err := tx.QueryRow(ctx, `INSERT INTO organizacion_sede (nombre, zona_horaria) VALUES ('Sede principal', $1) RETURNING id`,
				r.TimeZone).Scan(&res.BranchID); err != nil {
				return fmt.Errorf("creating the default branch: %w", err)
			}
			p, err := booking.AddMember(ctx, tx, booking.NewMember{UserID: res.User.ID, Role: booking.RoleAdmin,
				DisplayName: r.AdminName, BranchID: &res.BranchID})
			if err != nil {
				return fmt.Errorf("creating the admin profile: %w", err)
			}
			res.ProfileID = p.ID
			return nil
		})
		if err != nil {
			return err
		}
		if err := auth.SyncMembership(ctx, tx, auth.Membership{UserID: res.User.ID, OrganizationID: org.ID, Role: "admin", IsActive: true}); err != nil {
			return err
		}
		if res.Subscription, err = s.billing.CreateTrialTx(ctx, tx, billing.NewTrial{OrganizationID: org.ID, PlanCode: r.Plan, BillingEmail: r.Email}); err != nil {
			return err
		}
		if key != "" {
			if _, err := tx.Exec(ctx, `INSERT INTO public.onboarding_idempotencia (clave, solicitud_hash, user_id, organizacion_id) VALUES ($1, $2, $3, $4)`,
				key, r.fingerprint(), res.User.ID, org.ID); err != nil {
				return fmt.Errorf("recording the idempotency key: %w", err)
			}
		}
		if s.beforeCommit != nil {
			return s.beforeCommit(ctx, tx)
		}
		return nil
	})
	if err != nil {
		return Result{}, err
	}
	return res, nil
}

func (s *Service) hashParams() auth.HashParams {
	if s.opts.Hash == (auth.HashParams{}) {
		return auth.DefaultHashParams()
	}
	return s.opts.Hash
}

// insertUser creates the signup's user (username defaults to the e-mail) with a password hashed
// beforehand by auth.HashPassword, in the columns auth.Store.CreateUser writes.
func insertUser(ctx context.Context, tx pgx.Tx, r Request, hash string) (auth.User, error) {
	first, last, _ := strings.Cut(r.AdminName, " ")
	var u auth.User
	err := tx.QueryRow(ctx, `INSERT INTO public.auth_user (username, email, password, first_name, last_name)
		VALUES ($1, $2, $3, $4, $5)
		RETURNING id, username, email, first_name, last_name, is_active, is_staff, is_superuser, date_joined, last_login`,
		r.Username, r.Email, hash, first, strings.TrimSpace(last)).Scan(&u.ID, &u.Username, &u.Email, &u.FirstName, &u.LastName, &u.IsActive,
		&u.IsStaff, &u.IsSuperuser, &u.DateJoined, &u.LastLogin)
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "23505" && pgErr.ConstraintName == "auth_user_username_key" {
		return auth.User{}, fmt.Errorf("%w: %s", ErrUsernameTaken, r.Username)
	}
	if tenancy.SQLState(err) == "23505" {
		return auth.User{}, fmt.Errorf("%w: %s", ErrEmailTaken, r.Email)
	}
	if err != nil {
		return auth.User{}, fmt.Errorf("creating user %s: %w", r.Email, err)
	}
	return u, nil
}

// replay serializes requests with the same key (an advisory lock until the transaction ends) and,
// when the key already created an organization, returns it after checking that the request is the
// same and that the password matches the user's.
func (s *Service) replay(ctx context.Context, tx pgx.Tx, key string, r Request, users *auth.Store) (Result, error) {
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtext('appcitas-signup'), hashtext($1))`, key); err != nil {
		return Result{}, fmt.Errorf("locking the idempotency key: %w", err)
	}
	var fp string
	var userID, orgID int64
	err := tx.QueryRow(ctx, `SELECT solicitud_hash, user_id, organizacion_id FROM public.onboarding_idempotencia WHERE clave = $1`, key).Scan(&fp, &userID, &orgID)
	if errors.Is(err, pgx.ErrNoRows) {
		return Result{}, nil
	}
	if err != nil {
		return Result{}, fmt.Errorf("reading the idempotency key: %w", err)
	}
	if fp != r.fingerprint() {
		return Result{}, fmt.Errorf("%w: %q", ErrIdempotencyMismatch, key)
	}
	u, err := users.Authenticate(ctx, auth.Credentials{Email: r.Email, Password: r.Password})
	if err != nil {
		if errors.Is(err, auth.ErrInvalidCredentials) {
			return Result{}, fmt.Errorf("%w: the password does not match the request that used this Idempotency-Key", ErrIdempotencyMismatch)
		}
		return Result{}, err
	}
	if u.ID != userID {
		return Result{}, fmt.Errorf("%w: %q", ErrIdempotencyMismatch, key)
	}
	// Read in tx: a second connection from the pool while holding this one could starve it.
	res := Result{User: u, Replayed: true}
	o := &res.Organization
	if err := tx.QueryRow(ctx, `SELECT id, nombre, slug, schema_name, is_active, database_name, zona_horaria, created_at, updated_at
		FROM public.organizacion_organizacion WHERE id = $1`, orgID).Scan(&o.ID, &o.Name, &o.Slug, &o.SchemaName, &o.IsActive,
		&o.DatabaseName, &o.TimeZone, &o.CreatedAt, &o.UpdatedAt); err != nil {
		return Result{}, fmt.Errorf("reading organization %d: %w", orgID, err)
	}
	if res.Subscription, err = s.billing.SubscriptionTx(ctx, tx, orgID); err != nil {
		return Result{}, err
	}
	return res, nil
}
