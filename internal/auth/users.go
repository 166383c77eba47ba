package auth

import (
	"context"
	"errors"
	"fmt"
	"net/mail"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// Errors of the user store.
var (
	// ErrInvalidCredentials: no active user with that login and password. It does not say which
	// part was wrong.
	ErrInvalidCredentials = errors.New("invalid username or password")
	// ErrUserNotFound: no user with that id or name.
	ErrUserNotFound = errors.New("user not found")
	// ErrConflict: the username or email is taken.
	ErrConflict = errors.New("conflict")
	// ErrInvalid: the input breaks a rule; the message names the field.
	ErrInvalid = errors.New("invalid input")
)

// MinPasswordLen is the shortest accepted password.
const MinPasswordLen = 8

// maxPasswordLen bounds the bytes hashed per attempt.
const maxPasswordLen = 1024

// DB is what the store needs of the server that holds public: a pool, a connection or a
// transaction.
type DB interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
	Begin(ctx context.Context) (pgx.Tx, error)
}

// User is a row of public.auth_user, without its password hash.
type User struct {
	ID          int64
	Username    string
	Email       string
	FirstName   string
	LastName    string
	IsActive    bool
	IsStaff     bool
	IsSuperuser bool
	DateJoined  time.Time
	LastLogin   *time.Time
	// SessionGeneration counts the user's "sign out everywhere" ([Store.RevokeSessions]); access
	// tokens of an older generation are refused.
	SessionGeneration int64
}

// NewUser is the input of [Store.CreateUser].
type NewUser struct {
	// Username is 1-150 letters, digits and @.+-_ (compared case-insensitively).
	Username string
	// Email is optional; when set it must be an address and is unique (case-insensitively).
	Email string
	// Password is at least MinPasswordLen characters.
	Password  string
	FirstName string
	LastName  string
	// Superuser may act in every organization, as an admin, without a profile.
	Superuser bool
}

// StoreOptions configures a [Store].
type StoreOptions struct {
	// Hash is the argon2id cost of new hashes. Defaults to DefaultHashParams().
	Hash HashParams
	// RefreshTTL is how long a refresh token lives. Defaults to DefaultRefreshTTL.
	RefreshTTL time.Duration
	// Now defaults to time.Now.
	Now func() time.Time
}

// Store reads and writes users, refresh tokens and the membership mirror in public.
type Store struct {
	db   DB
	opts StoreOptions

	dummyOnce sync.Once
	dummy     string
}

// NewStore returns a store over db.
func NewStore(db DB, opts StoreOptions) *Store {
	if opts.Hash == (HashParams{}) {
		opts.Hash = DefaultHashParams()
	}
	if opts.RefreshTTL <= 0 {
		opts.RefreshTTL = DefaultRefreshTTL
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Store{db: db, opts: opts}
}

const userColumns = `id, username, email, first_name, last_name, is_active, is_staff, is_superuser, date_joined, last_login, session_generation`

func scanUser(row pgx.Row, extra ...any) (User, error) {
	var u User
	dst := append([]any{&u.ID, &u.Username, &u.Email, &u.FirstName, &u.LastName, &u.IsActive, &u.IsStaff, &u.IsSuperuser, &u.DateJoined, &u.LastLogin, &u.SessionGeneration}, extra...)
	err := row.Scan(dst...)
	return u, err
}

// ValidateUsername checks a username: 1-150 of letters, digits and @.+-_.
func ValidateUsername(s string) error {
	if s == "" || utf8.RuneCountInString(s) > 150 {
		return fmt.Errorf("%w: username must be 1-150 characters", ErrInvalid)
	}
	for _, r := range s {
		if !unicode.IsLetter(r) && !unicode.IsDigit(r) && !strings.ContainsRune("@.+-_", r) {
			return fmt.Errorf("%w: username may contain only letters, digits and @.+-_ (found %q)", ErrInvalid, r)
		}
	}
	return nil
}

// ValidatePassword checks a new password's length.
func ValidatePassword(p string) error {
	if utf8.RuneCountInString(p) < MinPasswordLen {
		return fmt.Errorf("%w: password must be at least %d characters", ErrInvalid, MinPasswordLen)
	}
	if len(p) > maxPasswordLen {
		return fmt.Errorf("%w: password must be at most %d bytes", ErrInvalid, maxPasswordLen)
	}
	return nil
}

func validateEmail(e string) error {
	if e == "" {
		return nil
	}
	a, err := mail.ParseAddress(e)
	if err != nil || a.Address != e || !storable(e, 254) {
		return fmt.Errorf("%w: email %q is not an address like name@example.com", ErrInvalid, e)
	}
	return nil
}

// CreateUser validates n, hashes the password and inserts the user.
func (s *Store) CreateUser(ctx context.Context, n NewUser) (User, error) {
	n.Username = strings.TrimSpace(n.Username)
	n.Email = strings.TrimSpace(n.Email)
	if err := ValidateUsername(n.Username); err != nil {
		return User{}, err
	}
	if err := validateEmail(n.Email); err != nil {
		return User{}, err
	}
	if err := ValidatePassword(n.Password); err != nil {
		return User{}, err
	}
	if !storable(n.FirstName, 150) || !storable(n.LastName, 150) {
		return User{}, fmt.Errorf("%w: first and last names must be at most 150 characters of text", ErrInvalid)
	}
	hash, err := HashPassword(n.Password, s.opts.Hash)
	if err != nil {
		return User{}, err
	}
	u, err := scanUser(s.db.QueryRow(ctx, `INSERT INTO public.auth_user
		(username, email, password, first_name, last_name, is_staff, is_superuser)
		VALUES ($1, $2, $3, $4, $5, $6, $6) RETURNING `+userColumns,
		n.Username, n.Email, hash, n.FirstName, n.LastName, n.Superuser))
	if err != nil {
		var pgErr *pgconn.PgError
		if errors.As(err, &pgErr) && pgErr.Code == "23505" {
			if strings.Contains(pgErr.ConstraintName, "email") {
				return User{}, fmt.Errorf("%w: email %q is already used", ErrConflict, n.Email)
			}
			return User{}, fmt.Errorf("%w: username %q is already used", ErrConflict, n.Username)
		}
		return User{}, fmt.Errorf("creating user %q: %w", n.Username, err)
	}
	return u, nil
}

// SetPassword replaces a user's password and revokes every refresh token of the user.
func (s *Store) SetPassword(ctx context.Context, userID int64, password string) error {
	if err := ValidatePassword(password); err != nil {
		return err
	}
	hash, err := HashPassword(password, s.opts.Hash)
	if err != nil {
		return err
	}
	tag, err := s.db.Exec(ctx, `UPDATE public.auth_user SET password = $2 WHERE id = $1`, userID, hash)
	if err != nil {
		return fmt.Errorf("setting password of user %d: %w", userID, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("%w: id %d", ErrUserNotFound, userID)
	}
	return s.RevokeUser(ctx, userID)
}

// User returns the user with id.
func (s *Store) User(ctx context.Context, id int64) (User, error) {
	u, err := scanUser(s.db.QueryRow(ctx, `SELECT `+userColumns+` FROM public.auth_user WHERE id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return User{}, fmt.Errorf("%w: id %d", ErrUserNotFound, id)
	}
	if err != nil {
		return User{}, fmt.Errorf("reading user %d: %w", id, err)
	}
	return u, nil
}

// UserByUsername returns the user whose username is name (case-insensitively).
func (s *Store) UserByUsername(ctx context.Context, name string) (User, error) {
	u, err := scanUser(s.db.QueryRow(ctx, `SELECT `+userColumns+` FROM public.auth_user WHERE lower(username) = lower($1)`, name))
	if errors.Is(err, pgx.ErrNoRows) {
		return User{}, fmt.Errorf("%w: %q", ErrUserNotFound, name)
	}
	if err != nil {
		return User{}, fmt.Errorf("reading user %q: %w", name, err)
	}
	return u, nil
}

// Credentials is a login attempt: a username or an email, and a password.
type Credentials struct {
	Username string
	Email    string
	Password string
}

// Authenticate returns the active user matching c, or ErrInvalidCredentials. It costs one hash
// whether or not the user exists, so response times do not reveal which logins exist. A hash made
// with weaker parameters than the store's is replaced on success.
func (s *Store) Authenticate(ctx context.Context, c Credentials) (User, error) {
	if !storable(c.Username, 150) || !storable(c.Email, 254) {
		_, _ = VerifyPassword(s.dummyHash(), c.Password)
		return User{}, ErrInvalidCredentials
	}
	var row pgx.Row
	switch {
	case c.Username != "":
		row = s.db.QueryRow(ctx, `SELECT `+userColumns+`, password FROM public.auth_user WHERE lower(username) = lower($1)`, c.Username)
	case c.Email != "":
		row = s.db.QueryRow(ctx, `SELECT `+userColumns+`, password FROM public.auth_user WHERE email <> '' AND lower(email) = lower($1)`, c.Email)
	default:
		return User{}, ErrInvalidCredentials
	}
	var hash string
	u, err := scanUser(row, &hash)
	if errors.Is(err, pgx.ErrNoRows) {
		_, _ = VerifyPassword(s.dummyHash(), c.Password)
		return User{}, ErrInvalidCredentials
	}
	if err != nil {
		return User{}, fmt.Errorf("reading user: %w", err)
	}
	if len(c.Password) > maxPasswordLen || hash == "" {
		_, _ = VerifyPassword(s.dummyHash(), "")
		return User{}, ErrInvalidCredentials
	}
	ok, err := VerifyPassword(hash, c.Password)
	if err != nil {
		return User{}, fmt.Errorf("user %d: %w", u.ID, err)
	}
	if !ok || !u.IsActive {
		return User{}, ErrInvalidCredentials
	}
	now := s.opts.Now()
	u.LastLogin = &now
	if needsRehash(hash, s.opts.Hash) {
		if newHash, err := HashPassword(c.Password, s.opts.Hash); err == nil {
			hash = newHash
		}
	}
	if _, err := s.db.Exec(ctx, `UPDATE public.auth_user SET last_login = $2, password = $3 WHERE id = $1`, u.ID, now, hash); err != nil {
		return User{}, fmt.Errorf("recording login of user %d: %w", u.ID, err)
	}
	return u, nil
}

// storable reports whether s is text PostgreSQL stores (valid UTF-8 without NUL) of at most max
// characters.
func storable(s string, max int) bool {
	return utf8.ValidString(s) && !strings.ContainsRune(s, 0) && utf8.RuneCountInString(s) <= max
}

// dummyHash is a hash to verify against when the user does not exist.
func (s *Store) dummyHash() string {
	s.dummyOnce.Do(func() {
		s.dummy, _ = HashPassword("appcitas-no-such-user", s.opts.Hash)
	})
	return s.dummy
}
