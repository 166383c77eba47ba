package tenancy

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
)

// OrganizationChannel is the channel on which public migration 0005's trigger announces every
// insert, update and delete of an organization (and migration 0008's, every change of its
// subscription), with its id as payload.
const OrganizationChannel = "appcitas_organizacion"

// organizationWatchRetry is the first pause before the watch reconnects after a failure; it
// doubles with each failure in a row, up to 30 times as long.
const organizationWatchRetry = time.Second

// OrganizationWatch receives what [Manager.WatchOrganizations] hears.
type OrganizationWatch struct {
	// Changed is called with the id of each organization that changed, after the change committed.
	Changed func(id int64)
	// Listening is called with true each time the watch is (again) in place, after which every
	// change is announced (what happened before may have been missed), and with false when it is
	// lost (until the next true, changes may be missed) and when the watch ends.
	Listening func(on bool)
}

// organizationHub is a Manager's one LISTEN connection on [OrganizationChannel], shared by every
// running [Manager.WatchOrganizations]: the first watcher opens it, the last one to leave closes
// it. Callbacks run with mu held, so that a watcher that joins or leaves sees every event in
// order and none after it left.
type organizationHub struct {
	mu        sync.Mutex
	watchers  map[*OrganizationWatch]struct{}
	run       *hubRun // the running LISTEN loop; nil when nobody watches
	listening bool    // whether run's LISTEN is in place
}

// hubRun is one LISTEN loop: stopped by stop, done closed when it has closed its connection.
type hubRun struct {
	stop context.CancelFunc
	done chan struct{}
}

// WatchOrganizations listens for changes to the organization catalog made by any process and
// reports them to w until ctx ends; it then calls w.Listening(false) and returns ctx's error.
// Every watch of a Manager shares one connection to the default server, opened by the first and
// closed (before its WatchOrganizations returns) by the last; a lost connection is reported to
// each (Listening(false)) and reconnected.
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

// listen runs one LISTEN connection until it fails or ctx ends; listened reports whether the
// LISTEN was in place.
func (m *Manager) listen(ctx context.Context, url string, run *hubRun) (listened bool, err error) {
	conn, err := pgx.Connect(ctx, url)
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
	m.orgHub.announce(run, func(w *OrganizationWatch) {
		if w.Listening != nil {
			w.Listening(true)
		}
	}, true)
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			return true, err
		}
		id, err := strconv.ParseInt(n.Payload, 10, 64)
		if err != nil {
			m.servers.opts.Logger.Warn("ignoring a notification that names no organization", "channel", OrganizationChannel, "payload", n.Payload)
			continue
		}
		m.orgHub.announce(run, func(w *OrganizationWatch) {
			if w.Changed != nil {
				w.Changed(id)
			}
		}, true)
	}
}
