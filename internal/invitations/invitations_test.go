package invitations_test

import (
	"context"
	"errors"
	"os"
	"regexp"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/appcitas/appcitas/internal/billing"
	"github.com/appcitas/appcitas/internal/invitations"
	"github.com/appcitas/appcitas/internal/pgtest"
	"github.com/appcitas/appcitas/internal/tenancy"
	"github.com/appcitas/appcitas/internal/tenancytest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// mailbox keeps the messages sent.
type mailbox struct {
	mu   sync.Mutex
	msgs []billing.Message
	err  error
}

func (m *mailbox) Send(_ context.Context, msg billing.Message) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.err != nil {
		return m.err
	}
	m.msgs = append(m.msgs, msg)
	return nil
}

var tokenIn = regexp.MustCompile(`invitacion/([A-Za-z0-9_-]{43})`)

func (m *mailbox) lastToken(t *testing.T) string {
	t.Helper()
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.msgs) == 0 {
		t.Fatal("no message sent")
	}
	got := tokenIn.FindStringSubmatch(m.msgs[len(m.msgs)-1].Body)
	if got == nil {
		t.Fatalf("no token in %q", m.msgs[len(m.msgs)-1].Body)
	}
	return got[1]
}

type env struct {
	svc  *invitations.Service
	mail *mailbox
	pool *pgxpool.Pool
	org  tenancy.Organization
	now  time.Time
}

func setup(t *testing.T) *env {
	t.Helper()
	m, url := tenancytest.NewManager(t, tenancy.Config{})
	org, err := m.CreateOrganization(t.Context(), tenancy.NewOrganization{Name: "Barbería Norte"})
	if err != nil {
		t.Fatal(err)
	}
	e := &env{mail: &mailbox{}, pool: tenancytest.Pool(t, url), org: org, now: time.Now()}
	e.svc = invitations.New(func(ctx context.Context) (*pgxpool.Pool, error) {
		return m.Servers().Shared(ctx, tenancy.DefaultServer)
	},
		invitations.Options{Mailer: e.mail, TTL: time.Hour, Now: func() time.Time { return e.now }})
	return e
}

func (e *env) invite(t *testing.T, email string) (invitations.Invitation, string) {
	t.Helper()
	inv, err := e.svc.Create(t.Context(), invitations.NewInvitation{OrganizationID: e.org.ID, OrganizationName: e.org.Name,
		Email: email, Role: "staff", Link: func(tok string) string { return "https://x.test/app#/invitacion/" + tok }})
	if err != nil {
		t.Fatal(err)
	}
	return inv, e.mail.lastToken(t)
}

func TestInvitationStore(t *testing.T) {
	t.Parallel()
	e := setup(t)

	t.Run("StoresOnlyTheTokensHash", func(t *testing.T) {
		_, tok := e.invite(t, "ana@example.com")
		var n int
		if err := e.pool.QueryRow(t.Context(), `SELECT count(*) FROM public.usuarios_invitacion
			WHERE token_hash = sha256(convert_to($1, 'UTF8')) AND position(convert_to($1, 'UTF8') in token_hash) = 0`, tok).Scan(&n); err != nil || n != 1 {
			t.Fatalf("rows = %d, %v", n, err)
		}
	})
	t.Run("AcceptsOnceUnderConcurrency", func(t *testing.T) {
		_, tok := e.invite(t, "bruno@example.com")
		var wg sync.WaitGroup
		var mu sync.Mutex
		wins, misses := 0, 0
		for range 4 {
			wg.Go(func() {
				_, err := e.svc.Accept(context.Background(), tok, func(context.Context, pgx.Tx, invitations.Invitation) (int64, error) { return 0, nil })
				mu.Lock()
				defer mu.Unlock()
				switch {
				case err == nil:
					wins++
				case errors.Is(err, invitations.ErrNotFound):
					misses++
				default:
					t.Error(err)
				}
			})
		}
		wg.Wait()
		if wins != 1 || misses != 3 {
			t.Fatalf("wins = %d, misses = %d", wins, misses)
		}
	})
	t.Run("AFailedStepLeavesTheInvitationPending", func(t *testing.T) {
		_, tok := e.invite(t, "carla@example.com")
		boom := errors.New("boom")
		if _, err := e.svc.Accept(t.Context(), tok, func(context.Context, pgx.Tx, invitations.Invitation) (int64, error) { return 0, boom }); !errors.Is(err, boom) {
			t.Fatalf("err = %v", err)
		}
		if _, err := e.svc.Lookup(t.Context(), tok); err != nil {
			t.Fatalf("lookup after a failed accept: %v", err)
		}
	})
	t.Run("ExpiresAfterTheTTL", func(t *testing.T) {
		_, tok := e.invite(t, "dora@example.com")
		e.now = e.now.Add(2 * time.Hour)
		defer func() { e.now = e.now.Add(-2 * time.Hour) }()
		if _, err := e.svc.Lookup(t.Context(), tok); !errors.Is(err, invitations.ErrNotFound) {
			t.Fatalf("lookup of an expired invitation: %v", err)
		}
	})
	t.Run("RefusedMailStoresNothing", func(t *testing.T) {
		e.mail.mu.Lock()
		e.mail.err = errors.New("smtp down")
		e.mail.mu.Unlock()
		defer func() { e.mail.mu.Lock(); e.mail.err = nil; e.mail.mu.Unlock() }()
		_, err := e.svc.Create(t.Context(), invitations.NewInvitation{OrganizationID: e.org.ID, OrganizationName: e.org.Name,
			Email: "eva@example.com", Role: "staff", Link: func(tok string) string { return tok }})
		if !errors.Is(err, invitations.ErrMailFailed) {
			t.Fatalf("err = %v", err)
		}
		list, err := e.svc.Pending(t.Context(), e.org.ID)
		if err != nil {
			t.Fatal(err)
		}
		for _, i := range list {
			if i.Email == "eva@example.com" {
				t.Fatal("a refused invitation was stored")
			}
		}
	})
	t.Run("RejectsBadInput", func(t *testing.T) {
		for _, n := range []invitations.NewInvitation{
			{OrganizationID: e.org.ID, Email: "nope", Role: "staff"},
			{OrganizationID: e.org.ID, Email: "a@example.com", Role: "owner"},
			{OrganizationID: e.org.ID, Email: "a@example.com\nBcc: b@example.com", Role: "staff"},
		} {
			n.Link = func(tok string) string { return tok }
			if _, err := e.svc.Create(t.Context(), n); !errors.Is(err, invitations.ErrInvalid) {
				t.Errorf("%+v: err = %v", n, err)
			}
		}
		if _, err := e.svc.Lookup(t.Context(), "short"); !errors.Is(err, invitations.ErrNotFound) {
			t.Errorf("lookup of junk: %v", err)
		}
	})
}
