package tenancy

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
)

// OrganizationChannel is the channel on which public migration 0005's trigger announces every
// insert, update and delete of an organization, with its id as payload.
const OrganizationChannel = "appcitas_organizacion"

// OrganizationWatch receives what [Manager.WatchOrganizations] hears.
type OrganizationWatch struct {
	// Changed is called with the id of each organization that changed, after the change committed.
	Changed func(id int64)
	// Listening is called with true each time the watch is (again) in place, after which every
	// change is announced (what happened before may have been missed), and with false when it is
	// lost (until the next true, changes may be missed).
	Listening func(on bool)
	// Retry is the first pause before reconnecting after a failure; it doubles with each failure
	// in a row, up to 30 times Retry. Defaults to 1s.
	Retry time.Duration
}

// WatchOrganizations listens, on a connection of its own to the default server, for changes to the
// organization catalog made by any process, and reports them to w until ctx ends; it then returns
// ctx's error. A lost connection is reported (Listening(false)) and reconnected.
func (m *Manager) WatchOrganizations(ctx context.Context, w OrganizationWatch) error {
	if w.Retry <= 0 {
		w.Retry = time.Second
	}
	url, err := m.servers.URL(DefaultServer)
	if err != nil {
		return err
	}
	pause := w.Retry
	for {
		listened, err := m.listen(ctx, url, w)
		if w.Listening != nil {
			w.Listening(false)
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if listened {
			pause = w.Retry
		}
		m.servers.opts.Logger.Warn("organization watch lost; reconnecting", "err", err, "retry", pause)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(pause):
		}
		pause = min(2*pause, 30*w.Retry)
	}
}

// listen runs one LISTEN connection until it fails or ctx ends; listened reports whether the
// LISTEN was in place.
func (m *Manager) listen(ctx context.Context, url string, w OrganizationWatch) (listened bool, err error) {
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
	if w.Listening != nil {
		w.Listening(true)
	}
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
		if w.Changed != nil {
			w.Changed(id)
		}
	}
}
