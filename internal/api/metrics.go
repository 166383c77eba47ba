package api

import (
	"crypto/subtle"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/appcitas/appcitas/internal/billing"
	"github.com/appcitas/appcitas/internal/booking"
	"github.com/appcitas/appcitas/internal/tenancy"
)

// metrics are the API's Prometheus metrics, in a registry of their own (no global state). Labels
// are the route pattern and the status: never a tenant, a user or a raw path.
type metrics struct {
	reg      *prometheus.Registry
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	// errors counts error answers by their code, so that an outage (database_unavailable,
	// outcome_unknown) is told apart from a bug (internal_error) at a glance.
	errors *prometheus.CounterVec
}

// newMetrics registers the API's metrics, the pools', the watch's, the job queue's (read on
// scrape), and the set-up cache's and billing's when given (nil: left out).
func newMetrics(m *tenancy.Manager, setups *booking.SetupCache, bill *billing.Service) (*metrics, error) {
	met := &metrics{
		reg: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "appcitas_http_requests_total",
			Help: "HTTP requests answered, by route pattern and status.",
		}, []string{"route", "status"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "appcitas_http_request_duration_seconds",
			Help:    "HTTP request latency, by route pattern (the status is on appcitas_http_requests_total).",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"route"}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "appcitas_http_errors_total",
			Help: "HTTP error answers, by status and error code (e.g. 503 database_unavailable, 503 outcome_unknown, 500 internal_error).",
		}, []string{"status", "code"}),
	}
	watch := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "appcitas_invalidation_watch_up",
		Help: "1 while the cache invalidation watch (LISTEN " + tenancy.OrganizationChannel + ") is in place and hears its heartbeat; " +
			"0 while it is down (cached organizations and users then live 5s at most).",
	}, func() float64 {
		if m.Watching() {
			return 1
		}
		return 0
	})
	cs := []prometheus.Collector{
		met.requests, met.duration, met.errors, poolCollector{m}, watch, queueCollector{m: m, bill: bill},
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	}
	if setups != nil {
		cs = append(cs, setupCollector{setups})
	}
	for _, c := range cs {
		if err := met.reg.Register(c); err != nil {
			return nil, fmt.Errorf("registering metrics: %w", err)
		}
	}
	return met, nil
}

func (m *metrics) observe(route string, status int, d time.Duration) {
	st := strconv.Itoa(status)
	m.requests.WithLabelValues(route, st).Inc()
	m.duration.WithLabelValues(route).Observe(d.Seconds())
}

// failed counts an error answer.
func (m *metrics) failed(status int, code string) {
	m.errors.WithLabelValues(strconv.Itoa(status), code).Inc()
}

func (m *metrics) handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}

// metricsHandler serves the metrics, behind Config.MetricsToken when it is set.
func (s *Server) metricsHandler() http.HandlerFunc {
	h := s.metrics.handler()
	if s.cfg.MetricsToken == "" {
		return h.ServeHTTP
	}
	want := []byte("Bearer " + s.cfg.MetricsToken)
	return func(w http.ResponseWriter, r *http.Request) {
		if subtle.ConstantTimeCompare([]byte(r.Header.Get("Authorization")), want) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="metrics"`)
			s.fail(w, r, apiError(http.StatusUnauthorized, "metrics_unauthorized",
				"/metrics needs Authorization: Bearer <the server's APPCITAS_METRICS_TOKEN>"))
			return
		}
		h.ServeHTTP(w, r)
	}
}

var (
	poolLabels    = []string{"server", "pool"}
	descConns     = prometheus.NewDesc("appcitas_db_pool_connections", "Connections in the pool, by state (acquired, idle, constructing).", append(poolLabels, "state"), nil)
	descMaxConns  = prometheus.NewDesc("appcitas_db_pool_max_connections", "Maximum size of the pool.", poolLabels, nil)
	descAcquires  = prometheus.NewDesc("appcitas_db_pool_acquires_total", "Connections acquired from the pool.", poolLabels, nil)
	descWait      = prometheus.NewDesc("appcitas_db_pool_acquire_wait_seconds_total", "Time spent acquiring connections.", poolLabels, nil)
	descEmpty     = prometheus.NewDesc("appcitas_db_pool_empty_acquires_total", "Acquires that had to wait for a connection.", poolLabels, nil)
	descCancelled = prometheus.NewDesc("appcitas_db_pool_canceled_acquires_total", "Acquires cancelled by their context.", poolLabels, nil)
)

// poolCollector reports the pgx pool statistics of every opened server: the shared pool, the bulk
// pool, and the tenant slices summed (one "tenant" pool per server, whatever the number of tenants).
type poolCollector struct{ m *tenancy.Manager }

// Describe sends the descriptors of the pool metrics.
func (c poolCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descConns, descMaxConns, descAcquires, descWait, descEmpty, descCancelled} {
		ch <- d
	}
}

// Collect reads the pool statistics now.
func (c poolCollector) Collect(ch chan<- prometheus.Metric) {
	for server, stats := range c.m.Servers().Stats() {
		type sums struct {
			acquired, idle, constructing, max float64
			acquires, empty, cancelled        float64
			wait                              time.Duration
		}
		var shared, bulk, tenants sums
		add := func(dst *sums, st *pgxpool.Stat) {
			dst.acquired += float64(st.AcquiredConns())
			dst.idle += float64(st.IdleConns())
			dst.constructing += float64(st.ConstructingConns())
			dst.max += float64(st.MaxConns())
			dst.acquires += float64(st.AcquireCount())
			dst.empty += float64(st.EmptyAcquireCount())
			dst.cancelled += float64(st.CanceledAcquireCount())
			dst.wait += st.AcquireDuration()
		}
		add(&shared, stats.Shared)
		add(&bulk, stats.Bulk)
		for _, st := range stats.Slices {
			add(&tenants, st)
		}
		for pool, s := range map[string]sums{"shared": shared, "bulk": bulk, "tenant": tenants} {
			ch <- prometheus.MustNewConstMetric(descConns, prometheus.GaugeValue, s.acquired, server, pool, "acquired")
			ch <- prometheus.MustNewConstMetric(descConns, prometheus.GaugeValue, s.idle, server, pool, "idle")
			ch <- prometheus.MustNewConstMetric(descConns, prometheus.GaugeValue, s.constructing, server, pool, "constructing")
			ch <- prometheus.MustNewConstMetric(descMaxConns, prometheus.GaugeValue, s.max, server, pool)
			ch <- prometheus.MustNewConstMetric(descAcquires, prometheus.CounterValue, s.acquires, server, pool)
			ch <- prometheus.MustNewConstMetric(descWait, prometheus.CounterValue, s.wait.Seconds(), server, pool)
			ch <- prometheus.MustNewConstMetric(descEmpty, prometheus.CounterValue, s.empty, server, pool)
			ch <- prometheus.MustNewConstMetric(descCancelled, prometheus.CounterValue, s.cancelled, server, pool)
		}
	}
}

var (
	descSetupTenants = prometheus.NewDesc("appcitas_setup_cache_tenants", "Tenants whose set-up is kept in memory.", nil, nil)
	descSetupRows    = prometheus.NewDesc("appcitas_setup_cache_rows", "Set-up rows kept in memory (the budget is APPCITAS_SETUP_CACHE_ROWS).", nil, nil)
	descSetupHits    = prometheus.NewDesc("appcitas_setup_cache_hits_total", "Requests that found their tenant's set-up kept at the version they read.", nil, nil)
	descSetupMisses  = prometheus.NewDesc("appcitas_setup_cache_misses_total", "Requests that loaded their tenant's set-up (new version, first use or evicted).", nil, nil)
)

// setupCollector reports the set-up cache's size and use.
type setupCollector struct{ c *booking.SetupCache }

// Describe sends the descriptors of the set-up cache metrics.
func (c setupCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descSetupTenants, descSetupRows, descSetupHits, descSetupMisses} {
		ch <- d
	}
}

// Collect reads the set-up cache's counters now.
func (c setupCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.c.Stats()
	ch <- prometheus.MustNewConstMetric(descSetupTenants, prometheus.GaugeValue, float64(st.Tenants))
	ch <- prometheus.MustNewConstMetric(descSetupRows, prometheus.GaugeValue, float64(st.Rows))
	ch <- prometheus.MustNewConstMetric(descSetupHits, prometheus.CounterValue, float64(st.Hits))
	ch <- prometheus.MustNewConstMetric(descSetupMisses, prometheus.CounterValue, float64(st.Misses))
}
