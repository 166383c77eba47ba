package cli

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"runtime/debug"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/appcitas/appcitas/internal/api"
	"github.com/appcitas/appcitas/internal/auth"
	"github.com/appcitas/appcitas/internal/billing"
	"github.com/appcitas/appcitas/internal/jobs"
	"github.com/appcitas/appcitas/internal/onboarding"
	"github.com/appcitas/appcitas/internal/tenancy"
	"github.com/appcitas/appcitas/internal/webhooks"
	"github.com/appcitas/appcitas/internal/wompi"
	"github.com/appcitas/appcitas/internal/wompi/wompisim"
)

// ServeGCPercent is serve's garbage collector target (GOGC) when GOGC is unset.
// The server's live heap is a few megabytes, so the default of 100 collects thousands of times a minute under load.
// BENCHMARKS.md (issue 3) measures what 400 gains.
const ServeGCPercent = 400

// TuneGC sets the collector's target to ServeGCPercent.
// When getenv sets GOGC it leaves the target alone.
func TuneGC(getenv func(string) string) {
	if getenv("GOGC") == "" {
		debug.SetGCPercent(ServeGCPercent)
	}
}

// runServe is serve: it runs the HTTP API until ctx ends, then shuts down gracefully.
// At start it tunes the collector, migrates public and registers the configured servers.
// It starts billing, signup, the job queue and the scheduled backups before it listens.
// They stop when it returns.
func runServe(ctx context.Context, a *app) error {
	TuneGC(a.getenv)
	secret, m, err := a.openSigning(ctx, true)
	if err != nil {
		return err
	}
	a.registerConfiguredServers(ctx, m)
	if err := a.checkListenURL(ctx, m); err != nil {
		return err
	}
	// Billing, signup and the job queue (startBilling), with the automatic per-tenant
	// backups as River jobs spread over the period (APPCITAS_BACKUP_EVERY=0: off); stopped
	// when serve returns.
	more := []func(*jobs.Config){a.webhookJobs(m)} // webhooks.go: delivery, listeners, sweep
	rem, err := a.startReminders(ctx, m)           // reminders.go: reminders by e-mail and WhatsApp
	if err != nil {
		return err
	}
	defer rem.close()
	more = append(more, rem.jobs.Configure)
	if a.cfg.BackupEvery > 0 {
		more = append(more, a.backupJobs(m).Configure)
	}
	more = append(more, a.bookingMailJobs(m)) // public.go: the public booking page's confirmations
	defer a.stopBilling()
	if err := a.startBilling(ctx, m, more...); err != nil {
		return err
	}
	if a.cfg.BackupEvery > 0 {
		a.log.Info("backup schedule running", "every", a.cfg.BackupEvery, "dir", a.backupStore().Root)
	}
	handler, err := a.apiHandler(ctx, m, secret, rem.withReminders)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", a.cfg.Addr)
	if err != nil {
		return userError{fmt.Errorf("listening on %s: %w", a.cfg.Addr, err)}
	}
	srv := &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       2 * time.Minute,
	}
	a.log.Info("appcitas listening", "addr", "http://"+ln.Addr().String(), "embedded_postgres", a.embedded != nil,
		"dashboard", "http://"+ln.Addr().String()+"/admin")
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("serving: %w", err)
	case <-ctx.Done():
	}
	a.log.Info("shutting down")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		return fmt.Errorf("shutting down: %w", err)
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// wompiForServe returns the configured Wompi client. With no keys it starts the built-in Wompi
// simulator (the fake the tests use) when the configuration asks for it (WompiSimulator), and
// returns a client for it; stop the simulator on exit. Otherwise it returns no client: payments
// answer 503 payments_unavailable. eventsURL is where the simulator posts its signed events.
func (a *app) wompiForServe(eventsURL string) (*wompi.Client, *wompisim.Server, error) {
	c, err := a.wompiClient()
	if err != nil || c != nil {
		return c, nil, err
	}
	if !a.cfg.Billing.WompiSimulator {
		a.log.Warn("payments off: no Wompi keys configured; set WOMPI_PUBLIC_KEY, WOMPI_PRIVATE_KEY, WOMPI_EVENTS_SECRET and WOMPI_INTEGRITY_SECRET, or APPCITAS_WOMPI_SIMULATOR=1 for the simulator")
		return nil, nil, nil
	}
	sim := wompisim.New(wompisim.Options{EventsURL: eventsURL, AutoSettle: 2 * time.Second, Logger: a.log})
	c, err = wompi.New(wompi.Config{Environment: wompi.Sandbox, Keys: sim.Keys(), BaseURL: sim.URL})
	if err != nil {
		sim.Close()
		return nil, nil, err
	}
	a.log.Warn("WOMPI SIMULATOR: no Wompi keys configured (WOMPI_PUBLIC_KEY...), payments go to a built-in simulator; no real money moves",
		"simulator_url", sim.URL, "approved_card", "4242 4242 4242 4242", "declined_card", "4111 1111 1111 1111")
	return c, sim, nil
}

// billingRuntime is what serve runs for billing: the service, signup, the job queue (River) and,
// without Wompi keys, the Wompi simulator.
type billingRuntime struct {
	billing *billing.Service
	signup  *onboarding.Service
	jobs    *jobs.Runner
	pool    *pgxpool.Pool
	sim     *wompisim.Server
	// webhooks delivers webhooks and checks subscriptions' URLs (set by webhookJobs).
	webhooks *webhooks.Service
	// stopWatch ends the billing service's watch of subscription changes (WatchAccess).
	stopWatch context.CancelFunc
}

// startBilling builds billing, signup and the job queue for serve and starts the queue. Without
// Wompi keys the simulator takes Wompi's place and posts its events to this server's webhook.
// Each of more adds to the job queue's configuration (the scheduled backups: runServe).
func (a *app) startBilling(ctx context.Context, m *tenancy.Manager, more ...func(*jobs.Config)) error {
	host, port, err := net.SplitHostPort(a.cfg.Addr)
	if err != nil {
		return userError{fmt.Errorf("APPCITAS_ADDR %q: %w", a.cfg.Addr, err)}
	}
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "127.0.0.1"
	}
	wc, sim, err := a.wompiForServe("http://" + net.JoinHostPort(host, port) + "/api/billing/wompi/events")
	if err != nil {
		return userError{err}
	}
	rt := &billingRuntime{sim: sim}
	a.billingRT = rt
	if rt.billing, err = a.billingService(ctx, m, wc, sim != nil); err != nil {
		return err
	}
	// Every request checks its organization's subscription; the watch lets that state be kept
	// for an hour, evicted when any process changes it.
	watchCtx, stopWatch := context.WithCancel(ctx)
	rt.stopWatch = stopWatch
	go func() { _ = rt.billing.WatchAccess(watchCtx) }()
	if rt.signup, err = onboarding.New(ctx, m, rt.billing, onboarding.Options{Logger: a.log}); err != nil {
		return err
	}
	if rt.pool, err = m.Servers().NewPool(ctx, tenancy.DefaultServer, 10); err != nil {
		return fmt.Errorf("opening the job queue's pool: %w", err)
	}
	pooled, err := m.Servers().BehindPooler(ctx, tenancy.DefaultServer)
	if err != nil {
		return err
	}
	jcfg := jobs.Config{Pool: rt.pool, PollOnly: pooled, Billing: rt.billing, Logger: a.log}
	for _, f := range more {
		f(&jcfg)
	}
	if rt.jobs, err = jobs.New(jcfg); err != nil {
		return err
	}
	return rt.jobs.Start(ctx)
}

// stopBilling stops the job queue and the simulator started by startBilling.
func (a *app) stopBilling() {
	rt := a.billingRT
	if rt == nil {
		return
	}
	a.billingRT = nil
	if rt.stopWatch != nil {
		rt.stopWatch()
	}
	if rt.jobs != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		if err := rt.jobs.Stop(ctx); err != nil {
			a.log.Warn("stopping the job queue", "err", err)
		}
		cancel()
	}
	if rt.pool != nil {
		rt.pool.Close()
	}
	if rt.sim != nil {
		rt.sim.Close()
	}
}

// withBilling adds billing and signup to the API's configuration when serve started them.
func (a *app) withBilling(cfg *api.Config) {
	if rt := a.billingRT; rt != nil {
		cfg.Billing, cfg.Signup = rt.billing, rt.signup
		cfg.SignupPerIP = auth.LimitOptions{Burst: a.cfg.Billing.SignupBurst, Every: a.cfg.Billing.SignupEvery}
		cfg.Webhooks = rt.webhooks
		cfg.PublicBooking.Mail = rt.jobs // public.go
	}
	cfg.PublicBooking.BaseURL = a.cfg.PublicURL
}

// apiHandler builds the API handler from the configuration. The tenant dashboard (/admin) reads
// and writes backups in the same store as backup_tenant and list_tenants.
func (a *app) apiHandler(ctx context.Context, m *tenancy.Manager, secret []byte, more ...func(*api.Config)) (http.Handler, error) {
	store := a.backupStore()
	cfg := api.Config{JWTSecret: secret, AccessTTL: a.cfg.AccessTokenTTL, RefreshTTL: a.cfg.RefreshTokenTTL, Backups: &store,
		MetricsToken: a.cfg.MetricsToken, SetupCacheRows: a.cfg.SetupCacheRows, TrustedProxies: a.cfg.TrustedProxies,
		NoOneTripReads: a.cfg.NoOneTripReads}
	if cfg.SetupCacheRows == 0 {
		cfg.SetupCacheRows = -1 // APPCITAS_SETUP_CACHE_ROWS=0: keep none
	}
	if cfg.MetricsToken == "" && a.cfg.DatabaseURL != "" {
		a.log.Warn("APPCITAS_METRICS_TOKEN is not set: /metrics is open to anyone who reaches this address")
	}
	mailer, err := a.mailer() // billing.go: APPCITAS_SMTP_*; invitations need it
	if err != nil {
		return nil, err
	}
	cfg.Mailer, cfg.PublicURL = mailer, a.cfg.PublicURL
	a.withBilling(&cfg) // billing.go: signup, billing routes, the 402 of suspended tenants, the dashboard's extend_trial
	for _, f := range more {
		f(&cfg)
	}
	return api.New(ctx, m, a.log, cfg)
}
