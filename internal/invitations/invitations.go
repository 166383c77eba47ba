package invitations

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/mail"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/appcitas/appcitas/internal/billing"
)

// Errors of the invitation store.
var (
	// ErrNotFound: no pending invitation with that token or id (never existed, accepted, revoked
	// or expired).
	ErrNotFound = errors.New("invitation not found")
	// ErrInvalid: the input breaks a rule; the message says which.
	ErrInvalid = errors.New("invalid input")
	// ErrMailUnavailable: no mailer is configured, so no invitation can be sent.
	ErrMailUnavailable = errors.New("e-mail is not configured")
	// ErrMailFailed: the mailer refused the invitation e-mail; nothing was stored.
	ErrMailFailed = errors.New("the invitation e-mail could not be sent")
)

// DefaultTTL is how long an invitation stays valid.
const DefaultTTL = 7 * 24 * time.Hour

// Roles an invitation may give: the member roles of the booking package.
var roles = map[string]bool{"admin": true, "receptionist": true, "staff": true}

// Invitation is a row of public.usuarios_invitacion, without its token hash.
type Invitation struct {
	ID             int64     `json:"id"`
	OrganizationID int64     `json:"organizacion_id"`
	Email          string    `json:"email"`
	Role           string    `json:"role"`
	DisplayName    string    `json:"nombre_visible"`
	InvitedBy      *int64    `json:"invitado_por"`
	CreatedAt      time.Time `json:"created_at"`
	ExpiresAt      time.Time `json:"expira_at"`
}

// NewInvitation is the input of [Service.Create].
type NewInvitation struct {
	OrganizationID int64
	// OrganizationName goes into the e-mail.
	OrganizationName string
	// Email is the invitee's address.
	Email string
	// Role is admin, receptionist or staff.
	Role string
	// DisplayName is the new member's name in the organization (optional, at most 200 characters).
	DisplayName string
	// InvitedBy is the inviting user's id (0: none).
	InvitedBy int64
	// Link makes the accept link the e-mail carries from the token.
	Link func(token string) string
}

// Options configures a [Service].
type Options struct {
	// Mailer sends the invitation e-mails. Defaults to nil: Create answers ErrMailUnavailable.
	Mailer billing.Mailer
	// TTL is how long an invitation is valid. Defaults to DefaultTTL.
	TTL time.Duration
	// Now defaults to time.Now.
	Now func() time.Time
}

// Pool returns the pool of the server that holds public.
type Pool func(ctx context.Context) (*pgxpool.Pool, error)

// Service stores and sends invitations.
type Service struct {
	pool Pool
	opts Options
}

// New returns a service over the public schema that pool reaches.
func New(pool Pool, opts Options) *Service {
	if opts.TTL <= 0 {
		opts.TTL = DefaultTTL
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Service{pool: pool, opts: opts}
}

const columns = `id, organizacion_id, email, role, nombre_visible, invitado_por, created_at, expira_at`

func scan(row pgx.Row) (Invitation, error) {
	var i Invitation
	err := row.Scan(&i.ID, &i.OrganizationID, &i.Email, &i.Role, &i.DisplayName, &i.InvitedBy, &i.CreatedAt, &i.ExpiresAt)
	return i, err
}

// hash returns the stored form of a token.
func hash(token string) []byte {
	h := sha256.Sum256([]byte(token))
	return h[:]
}

// newToken returns 32 random bytes, base64url without padding.
func newToken() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("making an invitation token: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// ValidEmail reports whether e is a plain address like name@example.com.
func ValidEmail(e string) bool {
	a, err := mail.ParseAddress(e)
	return err == nil && a.Address == e && len(e) <= 254 && !strings.ContainsAny(e, "\r\n")
}

func (n *NewInvitation) validate() error {
	n.Email = strings.TrimSpace(n.Email)
	n.DisplayName = strings.TrimSpace(n.DisplayName)
	switch {
	case !ValidEmail(n.Email):
		return fmt.Errorf("%w: email %q is not an address like name@example.com", ErrInvalid, n.Email)
	case !roles[n.Role]:
		return fmt.Errorf("%w: role must be admin, receptionist or staff", ErrInvalid)
	case utf8.RuneCountInString(n.DisplayName) > 200:
		return fmt.Errorf("%w: nombre_visible must be at most 200 characters", ErrInvalid)
	case n.OrganizationID <= 0 || n.Link == nil:
		return fmt.Errorf("%w: organization and link are required", ErrInvalid)
	}
	return nil
}

// Create stores an invitation and e-mails its link. A pending invitation of the same address to
// the same organization is revoked: the newest link is the one that works. Nothing is stored when
// the e-mail cannot be sent.
func (s *Service) Create(ctx context.Context, n NewInvitation) (Invitation, error) {
	if err := n.validate(); err != nil {
		return Invitation{}, err
	}
	if s.opts.Mailer == nil {
		return Invitation{}, ErrMailUnavailable
	}
	token, err := newToken()
	if err != nil {
		return Invitation{}, err
	}
	pool, err := s.pool(ctx)
	if err != nil {
		return Invitation{}, err
	}
	var inv Invitation
	err = pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		now := s.opts.Now()
		if _, err := tx.Exec(ctx, `UPDATE public.usuarios_invitacion SET revocada_at = $3
			WHERE organizacion_id = $1 AND lower(email) = lower($2) AND aceptada_at IS NULL AND revocada_at IS NULL`,
			n.OrganizationID, n.Email, now); err != nil {
			return fmt.Errorf("revoking earlier invitations: %w", err)
		}
		var by *int64
		if n.InvitedBy > 0 {
			by = &n.InvitedBy
		}
		inv, err = scan(tx.QueryRow(ctx, `INSERT INTO public.usuarios_invitacion
			(organizacion_id, email, role, nombre_visible, token_hash, invitado_por, created_at, expira_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING `+columns,
			n.OrganizationID, n.Email, n.Role, n.DisplayName, hash(token), by, now, now.Add(s.opts.TTL)))
		if err != nil {
			return fmt.Errorf("storing the invitation: %w", err)
		}
		// The e-mail goes out before the commit: a refused e-mail leaves no invitation behind.
		if err := s.opts.Mailer.Send(ctx, message(n, inv, token)); err != nil {
			return fmt.Errorf("%w: %w", ErrMailFailed, err)
		}
		return nil
	})
	if err != nil {
		return Invitation{}, err
	}
	return inv, nil
}

// roleName is the role as the e-mail names it.
var roleName = map[string]string{"admin": "administrador", "receptionist": "recepcionista", "staff": "profesional"}

func message(n NewInvitation, inv Invitation, token string) billing.Message {
	body := fmt.Sprintf("Te invitaron a unirte a %s en appcitas como %s.\n\n"+
		"Abre este enlace para aceptar la invitación:\n%s\n\n"+
		"El enlace vence el %s (UTC). Si no esperabas esta invitación, ignora este correo.\n",
		n.OrganizationName, roleName[n.Role], n.Link(token), inv.ExpiresAt.UTC().Format("2006-01-02 15:04"))
	return billing.Message{To: n.Email, Subject: "Invitación a " + oneLine(n.OrganizationName) + " en appcitas", Body: body,
		ID: fmt.Sprintf("invitacion-%d", inv.ID)}
}

// oneLine drops line breaks, so that a name cannot add e-mail headers.
func oneLine(s string) string { return strings.NewReplacer("\r", " ", "\n", " ").Replace(s) }

// Pending returns the organization's pending invitations, newest first.
func (s *Service) Pending(ctx context.Context, orgID int64) ([]Invitation, error) {
	pool, err := s.pool(ctx)
	if err != nil {
		return nil, err
	}
	rows, err := pool.Query(ctx, `SELECT `+columns+` FROM public.usuarios_invitacion
		WHERE organizacion_id = $1 AND aceptada_at IS NULL AND revocada_at IS NULL AND expira_at > $2
		ORDER BY id DESC`, orgID, s.opts.Now())
	if err != nil {
		return nil, fmt.Errorf("listing invitations: %w", err)
	}
	list, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Invitation, error) { return scan(r) })
	if err != nil {
		return nil, fmt.Errorf("listing invitations: %w", err)
	}
	return list, nil
}

// Revoke revokes the organization's pending invitation id.
func (s *Service) Revoke(ctx context.Context, orgID, id int64) error {
	pool, err := s.pool(ctx)
	if err != nil {
		return err
	}
	tag, err := pool.Exec(ctx, `UPDATE public.usuarios_invitacion SET revocada_at = $3
		WHERE id = $1 AND organizacion_id = $2 AND aceptada_at IS NULL AND revocada_at IS NULL`, id, orgID, s.opts.Now())
	if err != nil {
		return fmt.Errorf("revoking invitation %d: %w", id, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("%w: id %d", ErrNotFound, id)
	}
	return nil
}

// wellFormed reports whether token could be one of ours, so that junk never reaches SQL.
func wellFormed(token string) bool {
	if len(token) != 43 {
		return false
	}
	_, err := base64.RawURLEncoding.DecodeString(token)
	return err == nil
}

// Lookup returns the pending invitation that token opens.
func (s *Service) Lookup(ctx context.Context, token string) (Invitation, error) {
	if !wellFormed(token) {
		return Invitation{}, ErrNotFound
	}
	pool, err := s.pool(ctx)
	if err != nil {
		return Invitation{}, err
	}
	inv, err := scan(pool.QueryRow(ctx, `SELECT `+columns+` FROM public.usuarios_invitacion
		WHERE token_hash = $1 AND aceptada_at IS NULL AND revocada_at IS NULL AND expira_at > $2`, hash(token), s.opts.Now()))
	if errors.Is(err, pgx.ErrNoRows) {
		return Invitation{}, ErrNotFound
	}
	if err != nil {
		return Invitation{}, fmt.Errorf("reading an invitation: %w", err)
	}
	return inv, nil
}

// Accept claims the pending invitation that token opens and calls step with the transaction on
// public that holds it locked. step returns the id of the user who joins (it may create that user
// in tx). The invitation is marked accepted and the transaction commits only when step succeeds;
// two concurrent accepts of one token cannot both succeed.
func (s *Service) Accept(ctx context.Context, token string, step func(ctx context.Context, tx pgx.Tx, inv Invitation) (int64, error)) (Invitation, error) {
	if !wellFormed(token) {
		return Invitation{}, ErrNotFound
	}
	pool, err := s.pool(ctx)
	if err != nil {
		return Invitation{}, err
	}
	var inv Invitation
	err = pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		var err error
		inv, err = scan(tx.QueryRow(ctx, `SELECT `+columns+` FROM public.usuarios_invitacion
			WHERE token_hash = $1 AND aceptada_at IS NULL AND revocada_at IS NULL AND expira_at > $2
			FOR UPDATE`, hash(token), s.opts.Now()))
		if errors.Is(err, pgx.ErrNoRows) {
			return ErrNotFound
		}
		if err != nil {
			return fmt.Errorf("claiming an invitation: %w", err)
		}
		userID, err := step(ctx, tx, inv)
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE public.usuarios_invitacion SET aceptada_at = $2, aceptada_por = NULLIF($3::bigint, 0) WHERE id = $1`,
			inv.ID, s.opts.Now(), userID); err != nil {
			return fmt.Errorf("marking invitation %d accepted: %w", inv.ID, err)
		}
		return nil
	})
	if err != nil {
		return Invitation{}, err
	}
	return inv, nil
}
