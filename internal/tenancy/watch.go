package tenancy

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgconn/ctxwatch"
)

// OrganizationChannel is the catalog channel. Public migration 0005's trigger announces on it
// every insert, update and delete of an organization, and migration 0008's every change of its
// subscription, with the organization's id as payload. Migration 0010's trigger announces every
// change of a user's standing with the payload "usuario:<id>". Migration 0011's trigger announces
// every change of the server catalog with "servidor:<name>": the watch drops what its Manager
// cached of that server. The watch's own heartbeats carry "latido:<nonce>".
const OrganizationChannel = "appcitas_organizacion"

// Payload prefixes on [OrganizationChannel] (an organization's payload is its bare id).
const (
	userPayload      = "usuario:"
	heartbeatPayload = "latido:"
)

// Defaults of the watch's heartbeat ([Config.HeartbeatInterval], [Config.HeartbeatTimeout]).
const (
	// DefaultHeartbeatInterval is the pause between a heartbeat heard and the next one sent.
	DefaultHeartbeatInterval = 5 * time.Second
	// DefaultHeartbeatTimeout is how long the watch waits to hear a heartbeat it sent.
	DefaultHeartbeatTimeout = 5 * time.Second
)

// errHeartbeatLost: the watch did not hear its own heartbeat in time.
var errHeartbeatLost = errors.New("heartbeat not heard")

// organizationWatchRetry is the first pause before the watch reconnects after a failure; it
// doubles with each failure in a row, up to 30 times as long.
const organizationWatchRetry = time.Second

// OrganizationWatch receives what [Manager.WatchOrganizations] hears.
type OrganizationWatch struct {
	// Changed is called with the id of each organization that changed, after the change committed.
	Changed func(id int64)
	// UserChanged is called with the id of each user whose standing changed (created, deleted,
	// activated or deactivated, superuser granted or removed, sessions revoked), after the change
	// committed.
	UserChanged func(id int64)
	// Listening is called with true each time the watch is (again) in place, after which every
	// change is announced (what happened before may have been missed), and with false when it is
	// lost (until the next true, changes may be missed) and when the watch ends. The watch is in
	// place once it has heard its own heartbeat; a heartbeat not heard in time counts as lost.
	Listening func(on bool)
}

// organizationHub is a Manager's one LISTEN connection on [OrganizationChannel], shared by every
// running [Manager.WatchOrganizations]: the first watcher opens it, the last one to leave closes
// it. Callbacks run with mu held, so that a watcher that joins or leaves sees every event in
// order and none after it left.
type organizationHub struct {
	// interval and timeout are the heartbeat's ([Config.HeartbeatInterval], [Config.HeartbeatTimeout]).
	interval, timeout time.Duration
	// deaf drops every notification the LISTEN connection receives (tests: a LISTEN that
	// "succeeds" but hears nothing, as behind a transaction-mode pooler).
	deaf atomic.Bool

	mu        sync.Mutex
	watchers  map[*OrganizationWatch]struct{}
	run       *hubRun // the running LISTEN loop; nil when nobody watches
	listening bool    // whether run's LISTEN is in place and its last heartbeat was heard
}

// hubRun is one LISTEN loop: stopped by stop, done closed when it has closed its connection.
type hubRun struct {
	stop context.CancelFunc
	done chan struct{}
}

// Watching reports whether the Manager's organization watch is in place: a watch is running, its
// LISTEN connection is open and its last heartbeat was heard in time.
func (m *Manager) Watching() bool {
	h := &m.orgHub
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.run != nil && h.listening
}

// WatchOrganizations listens for changes to the organization catalog and to users' standing made
// by any process and reports them to w until ctx ends; it then calls w.Listening(false) and
// returns ctx's error. Every watch of a Manager shares one connection to the default server,
// opened by the first and closed (before its WatchOrganizations returns) by the last; a lost
// connection is reported to each (Listening(false)) and reconnected. A heartbeat proves that
// notifications arrive: every [Config.HeartbeatInterval] the watch sends one through the shared
// pool, and when it is not heard within [Config.HeartbeatTimeout] the watch counts as lost.
func (m *Manager) WatchOrganizations(ctx context.Context, w OrganizationWatch) error {
	url, err := m.listenConnString()
	if err != nil {
		return err
	}
	h := &m.orgHub
	key := &w
	h.mu.Lock()
	if h.watchers == nil {
		h.watchers = map[*OrganizationWatch]struct{}{}
	}
	h.watchers[key] = struct{}{}
	if h.run == nil {
		// The loop outlives no watcher: the last one to leave stops it.
		loopCtx, stop := context.WithCancel(context.WithoutCancel(ctx))
		run := &hubRun{stop: stop, done: make(chan struct{})}
		h.run, h.listening = run, false
		go m.runOrganizationWatch(loopCtx, url, run)
	} else if h.listening && w.Listening != nil {
		w.Listening(true)
	}
	h.mu.Unlock()

	<-ctx.Done()

	h.mu.Lock()
	delete(h.watchers, key)
	var last *hubRun
	if len(h.watchers) == 0 && h.run != nil {
		last, h.run, h.listening = h.run, nil, false
	}
	h.mu.Unlock()
	if last != nil {
		last.stop()
		<-last.done
	}
	if w.Listening != nil {
		w.Listening(false)
	}
	return ctx.Err()
}

// runOrganizationWatch is run's LISTEN loop: it listens, reconnects after a failure with a
// growing pause, and ends when ctx does.
func (m *Manager) runOrganizationWatch(ctx context.Context, url string, run *hubRun) {
	defer close(run.done)
	pause := organizationWatchRetry
	for {
		listened, err := m.listen(ctx, url, run)
		m.orgHub.announce(run, func(w *OrganizationWatch) {
			if w.Listening != nil {
				w.Listening(false)
			}
		}, false)
		if ctx.Err() != nil {
			return
		}
		if listened {
			pause = organizationWatchRetry
		}
		m.servers.opts.Logger.Warn("organization watch lost; reconnecting", "err", err, "retry", pause)
		select {
		case <-ctx.Done():
			return
		case <-time.After(pause):
		}
		pause = min(2*pause, 30*organizationWatchRetry)
	}
}

// announce calls f for every watcher while run is the hub's loop, and records whether the LISTEN
// is in place.
func (h *organizationHub) announce(run *hubRun, f func(w *OrganizationWatch), listening bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.run != run {
		return // stopped: its watchers are gone, or belong to a newer loop
	}
	h.listening = listening
	for w := range h.watchers {
		f(w)
	}
}

// listen runs one LISTEN connection until it fails, its heartbeat is not heard in time, or ctx
// ends; listened reports whether the watch was in place (a heartbeat was heard).
func (m *Manager) listen(ctx context.Context, url string, run *hubRun) (listened bool, err error) {
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		return false, fmt.Errorf("reading the connection string: %w", err)
	}
	// A wait ends by a deadline on the socket, never by a cancel request, so the connection stays
	// usable after each wait.
	cfg.BuildContextWatcherHandler = func(c *pgconn.PgConn) ctxwatch.Handler {
		return &pgconn.DeadlineContextWatcherHandler{Conn: c.Conn()}
	}
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return false, fmt.Errorf("connecting: %w", err)
	}
	defer func() {
		closeCtx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_ = conn.Close(closeCtx)
	}()
	if _, err := conn.Exec(ctx, "LISTEN "+OrganizationChannel); err != nil {
		return false, fmt.Errorf("listening on %s: %w", OrganizationChannel, err)
	}
	h := &m.orgHub
	var (
		pending  string       // the nonce of the heartbeat awaited; "" when none is
		deadline time.Time    // when pending must have been heard
		next     = time.Now() // when the next heartbeat is sent: at once, to prove the LISTEN
	)
	for {
		if pending == "" && !time.Now().Before(next) {
			if pending, err = m.sendHeartbeat(ctx); err != nil {
				return listened, err
			}
			deadline = time.Now().Add(h.timeout)
		}
		wake := next
		if pending != "" {
			wake = deadline
		}
		waitCtx, cancel := context.WithDeadline(ctx, wake)
		n, err := conn.WaitForNotification(waitCtx)
		cancel()
		if ctx.Err() != nil {
			return listened, ctx.Err()
		}
		if errors.Is(err, context.DeadlineExceeded) {
			if pending != "" && !time.Now().Before(deadline) {
				return listened, fmt.Errorf("%w within %s", errHeartbeatLost, h.timeout)
			}
			continue
		}
		if err != nil {
			return listened, err
		}
		if h.deaf.Load() {
			continue
		}
		switch p := n.Payload; {
		case strings.HasPrefix(p, heartbeatPayload):
			if pending == "" || p != heartbeatPayload+pending {
				continue // another process's heartbeat
			}
			pending, next = "", time.Now().Add(h.interval)
			if !listened {
				listened = true
				h.announce(run, func(w *OrganizationWatch) {
					if w.Listening != nil {
						w.Listening(true)
					}
				}, true)
			}
		case strings.HasPrefix(p, serverPayload):
			m.servers.forget(p[len(serverPayload):])
		case strings.HasPrefix(p, userPayload):
			id, err := strconv.ParseInt(p[len(userPayload):], 10, 64)
			if err != nil {
				m.servers.opts.Logger.Warn("ignoring a notification that names no user", "channel", OrganizationChannel, "payload", p)
				continue
			}
			h.announce(run, func(w *OrganizationWatch) {
				if w.UserChanged != nil {
					w.UserChanged(id)
				}
			}, listened)
		default:
			id, err := strconv.ParseInt(p, 10, 64)
			if err != nil {
				m.servers.opts.Logger.Warn("ignoring a notification that names no organization", "channel", OrganizationChannel, "payload", p)
				continue
			}
			h.announce(run, func(w *OrganizationWatch) {
				if w.Changed != nil {
					w.Changed(id)
				}
			}, listened)
		}
	}
}

// sendHeartbeat announces a new heartbeat on [OrganizationChannel] through the default server's
// shared pool (not the LISTEN connection), and returns its nonce.
func (m *Manager) sendHeartbeat(ctx context.Context) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, m.orgHub.timeout)
	defer cancel()
	pool, err := m.servers.Shared(ctx, DefaultServer)
	if err != nil {
		return "", fmt.Errorf("sending a heartbeat: %w", err)
	}
	nonce := rand.Text()
	if _, err := pool.Exec(ctx, `SELECT pg_notify($1, $2)`, OrganizationChannel, heartbeatPayload+nonce); err != nil {
		return "", fmt.Errorf("sending a heartbeat: %w", err)
	}
	return nonce, nil
}
