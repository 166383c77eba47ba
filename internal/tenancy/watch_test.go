package tenancy_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/appcitas/appcitas/internal/tenancy"
)

// recorder is an OrganizationWatch that records what it hears.
type recorder struct {
	mu          sync.Mutex
	changed     []int64
	userChanged []int64
	listening   []bool
}

func (r *recorder) watch() tenancy.OrganizationWatch {
	return tenancy.OrganizationWatch{
		Changed: func(id int64) {
			r.mu.Lock()
			defer r.mu.Unlock()
			r.changed = append(r.changed, id)
		},
		UserChanged: func(id int64) {
			r.mu.Lock()
			defer r.mu.Unlock()
			r.userChanged = append(r.userChanged, id)
		},
		Listening: func(on bool) {
			r.mu.Lock()
			defer r.mu.Unlock()
			r.listening = append(r.listening, on)
		},
	}
}

// heard reports whether r heard a change of id, and whether it is listening now.
func (r *recorder) heard(id int64) (changed, on bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, c := range r.changed {
		changed = changed || c == id
	}
	return changed, len(r.listening) > 0 && r.listening[len(r.listening)-1]
}

// listeners counts the connections listening on the organization channel in m's database.
func listeners(t *testing.T, m *tenancy.Manager) int {
	t.Helper()
	var n int
	if err := shared(t, m).QueryRow(t.Context(), `SELECT count(*) FROM pg_stat_activity
		WHERE datname = current_database() AND query = 'LISTEN `+tenancy.OrganizationChannel+`'`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// eventually polls cond for up to 10 s.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("after 10 s: %s", what)
		}
	}
}

// startWatch runs m.WatchOrganizations for r until the returned stop is called; stop waits for it
// to return and checks that it returned ctx's error.
func startWatch(t *testing.T, m *tenancy.Manager, r *recorder) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- m.WatchOrganizations(ctx, r.watch()) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; !errors.Is(err, context.Canceled) {
				t.Errorf("WatchOrganizations returned %v; want context.Canceled", err)
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

// TestWatchOrganizations checks that every watch of a Manager shares one LISTEN connection, that
// each hears every change, that a watcher leaving does not disturb the others, that a lost
// connection is reported to all and reconnected, and that the last watcher closes it.
func TestWatchOrganizations(t *testing.T) {
	t.Parallel()
	m := setup(t)
	ctx := t.Context()
	org := createOrgs(t, m, "Vigilada")[0]
	rename := func(t *testing.T, name string) {
		t.Helper()
		if _, err := shared(t, m).Exec(ctx, `UPDATE public.organizacion_organizacion SET nombre = $2 WHERE id = $1`, org.ID, name); err != nil {
			t.Fatal(err)
		}
	}
	var a, b recorder
	stopA := startWatch(t, m, &a)
	stopB := startWatch(t, m, &b)
	eventually(t, "both watches listening", func() bool {
		_, onA := a.heard(0)
		_, onB := b.heard(0)
		return onA && onB
	})

	t.Run("TwoWatchesShareOneConnection", func(t *testing.T) {
		if n := listeners(t, m); n != 1 {
			t.Fatalf("%d connections listen; want 1", n)
		}
	})
	t.Run("EveryWatchHearsAChange", func(t *testing.T) {
		rename(t, "Vigilada 2")
		eventually(t, "both heard the change", func() bool {
			ca, _ := a.heard(org.ID)
			cb, _ := b.heard(org.ID)
			return ca && cb
		})
	})
	t.Run("LostConnectionIsReportedAndReconnected", func(t *testing.T) {
		if _, err := shared(t, m).Exec(ctx, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
			WHERE datname = current_database() AND query = 'LISTEN `+tenancy.OrganizationChannel+`'`); err != nil {
			t.Fatal(err)
		}
		eventually(t, "both told of the loss, then listening again", func() bool {
			for _, r := range []*recorder{&a, &b} {
				r.mu.Lock()
				l := r.listening
				ok := len(l) >= 3 && !l[len(l)-2] && l[len(l)-1]
				r.mu.Unlock()
				if !ok {
					return false
				}
			}
			return true
		})
		a.mu.Lock()
		a.changed = nil
		a.mu.Unlock()
		rename(t, "Vigilada 3")
		eventually(t, "a change heard after the reconnection", func() bool { c, _ := a.heard(org.ID); return c })
	})
	t.Run("LeavingWatchKeepsTheOthersListening", func(t *testing.T) {
		stopA()
		if _, on := a.heard(0); on {
			t.Fatal("the watch that left was not told Listening(false)")
		}
		b.mu.Lock()
		b.changed = nil
		b.mu.Unlock()
		rename(t, "Vigilada 4")
		eventually(t, "the remaining watch heard the change", func() bool { c, _ := b.heard(org.ID); return c })
		if n := listeners(t, m); n != 1 {
			t.Fatalf("%d connections listen; want 1", n)
		}
	})
	t.Run("LastWatchClosesTheConnection", func(t *testing.T) {
		stopB()
		eventually(t, "no connection listening", func() bool { return listeners(t, m) == 0 })
	})
	t.Run("NewWatchAfterTheLastReopens", func(t *testing.T) {
		var c recorder
		stopC := startWatch(t, m, &c)
		defer stopC()
		eventually(t, "the new watch listening", func() bool { _, on := c.heard(0); return on })
		rename(t, "Vigilada 5")
		eventually(t, "the new watch heard the change", func() bool { ch, _ := c.heard(org.ID); return ch })
	})
}

// listenerPID is the backend pid of the connection listening on the organization channel (0: none).
func listenerPID(t *testing.T, m *tenancy.Manager) int {
	t.Helper()
	var pid int
	if err := shared(t, m).QueryRow(t.Context(), `SELECT coalesce(max(pid), 0) FROM pg_stat_activity
		WHERE datname = current_database() AND query = 'LISTEN `+tenancy.OrganizationChannel+`'`).Scan(&pid); err != nil {
		t.Fatal(err)
	}
	return pid
}

// TestWatchHeartbeat checks that the watch counts as in place only while it hears its own
// heartbeat: a LISTEN that hears nothing (as behind a transaction-mode pooler) is reported lost
// within the heartbeat's timeout, is reconnected, and is reported in place again once
// notifications arrive.
func TestWatchHeartbeat(t *testing.T) {
	t.Parallel()
	m := setupConfig(t, tenancy.Config{HeartbeatInterval: 100 * time.Millisecond, HeartbeatTimeout: 300 * time.Millisecond})
	ctx := t.Context()
	org := createOrgs(t, m, "Latido")[0]
	var r recorder
	startWatch(t, m, &r)
	on := func() bool { _, on := r.heard(0); return on }
	eventually(t, "the watch listening", on)
	if !m.Watching() {
		t.Fatal("Manager.Watching is false while the watch listens")
	}

	t.Run("StaysListeningWhileHeartbeatsArrive", func(t *testing.T) {
		time.Sleep(time.Second) // several heartbeats
		r.mu.Lock()
		defer r.mu.Unlock()
		if len(r.listening) != 1 || !r.listening[0] {
			t.Fatalf("listening reports %v; want [true]", r.listening)
		}
	})
	t.Run("DeafListenIsReportedLostAndReconnected", func(t *testing.T) {
		pid := listenerPID(t, m)
		tenancy.SetWatchDeaf(m, true)
		eventually(t, "the deaf watch reported lost", func() bool { return !on() && !m.Watching() })
		eventually(t, "a new LISTEN connection", func() bool { p := listenerPID(t, m); return p != 0 && p != pid })
		if on() || m.Watching() {
			t.Fatal("a LISTEN that hears nothing was reported in place")
		}
	})
	t.Run("ListeningAgainOnceNotificationsArrive", func(t *testing.T) {
		tenancy.SetWatchDeaf(m, false)
		eventually(t, "the watch listening again", func() bool { return on() && m.Watching() })
		if _, err := shared(t, m).Exec(ctx, `UPDATE public.organizacion_organizacion SET nombre = 'Latido 2' WHERE id = $1`, org.ID); err != nil {
			t.Fatal(err)
		}
		eventually(t, "the change heard", func() bool { c, _ := r.heard(org.ID); return c })
	})
}

// TestWatchUsers checks that changes of a user's standing are announced with the user's id, and
// that other changes of the user are not.
func TestWatchUsers(t *testing.T) {
	t.Parallel()
	m := setup(t)
	ctx := t.Context()
	var id int64
	if err := shared(t, m).QueryRow(ctx, `INSERT INTO public.auth_user (username) VALUES ('vigilado') RETURNING id`).Scan(&id); err != nil {
		t.Fatal(err)
	}
	var r recorder
	startWatch(t, m, &r)
	eventually(t, "the watch listening", func() bool { _, on := r.heard(0); return on })
	users := func() []int64 {
		r.mu.Lock()
		defer r.mu.Unlock()
		return append([]int64(nil), r.userChanged...)
	}
	for _, tt := range []struct{ name, set string }{
		{"DeactivationIsAnnounced", "is_active = false"},
		{"SuperuserChangeIsAnnounced", "is_superuser = true"},
		{"RevokedSessionsAreAnnounced", "session_generation = session_generation + 1"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			before := len(users())
			if _, err := shared(t, m).Exec(ctx, `UPDATE public.auth_user SET `+tt.set+` WHERE id = $1`, id); err != nil {
				t.Fatal(err)
			}
			eventually(t, "the user's change heard", func() bool { u := users(); return len(u) > before && u[len(u)-1] == id })
		})
	}
	t.Run("LoginIsNotAnnounced", func(t *testing.T) {
		before := len(users())
		if _, err := shared(t, m).Exec(ctx, `UPDATE public.auth_user SET last_login = now(), password = 'x' WHERE id = $1`, id); err != nil {
			t.Fatal(err)
		}
		// A standing change committed after it is heard after it (notifications keep commit order).
		if _, err := shared(t, m).Exec(ctx, `UPDATE public.auth_user SET is_active = NOT is_active WHERE id = $1`, id); err != nil {
			t.Fatal(err)
		}
		eventually(t, "the later change heard", func() bool { return len(users()) > before })
		if n := len(users()) - before; n != 1 {
			t.Fatalf("%d announcements; want only the standing change's", n)
		}
	})
	t.Run("DeletionIsAnnounced", func(t *testing.T) {
		before := len(users())
		if _, err := shared(t, m).Exec(ctx, `DELETE FROM public.auth_user WHERE id = $1`, id); err != nil {
			t.Fatal(err)
		}
		eventually(t, "the deletion heard", func() bool { return len(users()) > before })
	})
}

// clock is a settable clock for caches, read and moved by the test's goroutine only (the watch's
// goroutine never reads it).
type clock struct{ now time.Time }

func (c *clock) Now() time.Time      { return c.now }
func (c *clock) add(d time.Duration) { c.now = c.now.Add(d) }

// TestOrganizationCache checks what an OrganizationCache keeps and for how long, without a watch.
func TestOrganizationCache(t *testing.T) {
	t.Parallel()
	type env struct {
		c     *tenancy.OrganizationCache[int]
		clk   *clock
		loads *atomic.Int64
		// during, when set, runs inside each load (to race an eviction with it).
		during *func()
		// fail, when set, makes loads fail.
		fail *atomic.Bool
	}
	newEnv := func(opts tenancy.OrganizationCacheOptions) env {
		e := env{clk: &clock{now: time.Unix(1_800_000_000, 0)}, loads: &atomic.Int64{}, during: new(func()), fail: &atomic.Bool{}}
		opts.Now = e.clk.Now
		e.c = tenancy.NewOrganizationCache(func(_ context.Context, id int64) (int, error) {
			n := e.loads.Add(1)
			if *e.during != nil {
				(*e.during)()
			}
			if e.fail.Load() {
				return 0, errors.New("catalog down")
			}
			return int(id*1000 + n), nil
		}, opts)
		return e
	}
	get := func(t *testing.T, e env, id int64) int {
		t.Helper()
		v, err := e.c.Get(t.Context(), id)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	tests := []struct {
		name  string
		opts  tenancy.OrganizationCacheOptions
		steps func(t *testing.T, e env)
		loads int64
	}{
		{"SecondGetWithinTheUnwatchedTTLIsKept", tenancy.OrganizationCacheOptions{}, func(t *testing.T, e env) {
			if a, b := get(t, e, 7), get(t, e, 7); a != b {
				t.Fatalf("%d then %d", a, b)
			}
		}, 1},
		{"UnwatchedValuesLiveFiveSecondsAtMost", tenancy.OrganizationCacheOptions{TTL: time.Hour}, func(t *testing.T, e env) {
			get(t, e, 7)
			e.clk.add(tenancy.DefaultUnwatchedTTL)
			get(t, e, 7)
		}, 2},
		{"InvalidateReloads", tenancy.OrganizationCacheOptions{}, func(t *testing.T, e env) {
			get(t, e, 7)
			e.c.Invalidate(7)
			get(t, e, 7)
			get(t, e, 7)
		}, 2},
		{"OrganizationsAreKeptApart", tenancy.OrganizationCacheOptions{}, func(t *testing.T, e env) {
			if a, b := get(t, e, 7), get(t, e, 8); a/1000 != 7 || b/1000 != 8 {
				t.Fatalf("7 → %d, 8 → %d", a, b)
			}
		}, 2},
		{"ErrorsAreReturnedNotKept", tenancy.OrganizationCacheOptions{}, func(t *testing.T, e env) {
			e.fail.Store(true)
			if _, err := e.c.Get(t.Context(), 7); err == nil {
				t.Fatal("no error from a failing load")
			}
			e.fail.Store(false)
			get(t, e, 7)
		}, 2},
		{"LoadThatRacedAnEvictionIsAnsweredNotKept", tenancy.OrganizationCacheOptions{}, func(t *testing.T, e env) {
			*e.during = func() { e.c.Invalidate(7) }
			get(t, e, 7)
			*e.during = nil
			get(t, e, 7)
			get(t, e, 7)
		}, 2},
		{"FullCacheDropsExpiredValuesFirst", tenancy.OrganizationCacheOptions{Max: 2}, func(t *testing.T, e env) {
			get(t, e, 1)
			e.clk.add(tenancy.DefaultUnwatchedTTL)
			get(t, e, 2) // 1 has expired: it goes, 2 stays
			get(t, e, 3)
			get(t, e, 2) // kept
		}, 3},
		{"FullCacheOfFreshValuesStartsAgain", tenancy.OrganizationCacheOptions{Max: 2}, func(t *testing.T, e env) {
			get(t, e, 1)
			get(t, e, 2)
			get(t, e, 3) // full of fresh values: emptied, then 3 kept
			get(t, e, 3)
			get(t, e, 1)
		}, 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(tt.opts)
			tt.steps(t, e)
			if n := e.loads.Load(); n != tt.loads {
				t.Fatalf("%d loads; want %d", n, tt.loads)
			}
		})
	}
}

// TestOrganizationCacheWatch checks that a watched cache keeps values for its full TTL and evicts
// an organization as soon as a change to it is announced, whoever made it.
func TestOrganizationCacheWatch(t *testing.T) {
	t.Parallel()
	m := setup(t)
	ctx := t.Context()
	org := createOrgs(t, m, "Observada")[0]
	clk := &clock{now: time.Unix(1_800_000_000, 0)}
	c := tenancy.NewOrganizationCache(func(ctx context.Context, id int64) (string, error) {
		o, err := m.Organization(ctx, id)
		return o.Name, err
	}, tenancy.OrganizationCacheOptions{TTL: time.Hour, Now: clk.Now})
	watchCtx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Watch(watchCtx, m) }()
	t.Cleanup(func() {
		stop()
		<-done
	})
	eventually(t, "the cache watching", c.Watching)
	name := func() string {
		v, err := c.Get(ctx, org.ID)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	rename := func(n string) {
		if _, err := shared(t, m).Exec(ctx, `UPDATE public.organizacion_organizacion SET nombre = $2 WHERE id = $1`, org.ID, n); err != nil {
			t.Fatal(err)
		}
	}

	t.Run("WatchedValuesOutliveTheUnwatchedTTL", func(t *testing.T) {
		before := name()
		// Written without announcement (the trigger is disabled for this one statement), so only
		// the TTL could make the cache read it.
		tx, err := shared(t, m).Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer tx.Rollback(ctx)
		if _, err := tx.Exec(ctx, `SET LOCAL session_replication_role = replica`); err != nil {
			t.Fatal(err)
		}
		if _, err := tx.Exec(ctx, `UPDATE public.organizacion_organizacion SET nombre = 'Silenciosa' WHERE id = $1`, org.ID); err != nil {
			t.Fatal(err)
		}
		if err := tx.Commit(ctx); err != nil {
			t.Fatal(err)
		}
		clk.add(10 * tenancy.DefaultUnwatchedTTL)
		if got := name(); got != before {
			t.Fatalf("got %q within the watched TTL; want the kept %q", got, before)
		}
	})
	t.Run("AnnouncedChangeEvictsAtOnce", func(t *testing.T) {
		rename("Anunciada")
		eventually(t, "the cache reads the announced name", func() bool { return name() == "Anunciada" })
	})
	t.Run("StoppedWatchFallsBackToTheUnwatchedTTL", func(t *testing.T) {
		stop()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Fatalf("Watch returned %v", err)
		}
		done <- nil // for the cleanup
		if c.Watching() {
			t.Fatal("still watching after Watch returned")
		}
		name()
		rename("Sin vigilancia")
		if got := name(); got == "Sin vigilancia" {
			t.Fatal("an unwatched cache evicted without a watch")
		}
		clk.add(tenancy.DefaultUnwatchedTTL)
		if got := name(); got != "Sin vigilancia" {
			t.Fatalf("got %q after the unwatched TTL", got)
		}
	})
}
