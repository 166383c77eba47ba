package api

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/appcitas/appcitas/internal/billing"
	"github.com/appcitas/appcitas/internal/jobs"
	"github.com/appcitas/appcitas/internal/tenancy"
)

// scrapeTimeout bounds the queries a scrape runs: a slow database costs a scrape these seconds,
// and its metrics are then missing, with appcitas_metrics_source_up at 0.
const scrapeTimeout = 3 * time.Second

var (
	descSourceUp = prometheus.NewDesc("appcitas_metrics_source_up",
		"1 when the scrape read a source's metrics from the database (jobs, billing); 0 when it failed or timed out.", []string{"source"}, nil)
	descJobs = prometheus.NewDesc("appcitas_jobs",
		"River jobs by kind and state. River keeps finished jobs a while (completed a day, discarded and cancelled a week); discarded jobs failed for good.",
		[]string{"kind", "state"}, nil)
	descJobFailedAttempts = prometheus.NewDesc("appcitas_job_failed_attempts",
		"Failed attempts recorded on the River jobs still kept, by kind.", []string{"kind"}, nil)
	descBackupLastSuccess = prometheus.NewDesc("appcitas_backup_last_success_timestamp_seconds",
		"When the newest scheduled tenant backup that succeeded finished (Unix time); absent when River keeps none.", nil, nil)
	descBackupPeriodStart = prometheus.NewDesc("appcitas_backup_period_start_timestamp_seconds",
		"Start of the current backup period (Unix time); absent when no scheduled backup is queued.", nil, nil)
	descBackupPeriodJobs = prometheus.NewDesc("appcitas_backup_period_jobs",
		"The current period's scheduled tenant backups by River state (completed, scheduled, available, running, retryable, discarded).",
		[]string{"state"}, nil)
	descPayments = prometheus.NewDesc("appcitas_billing_payments",
		"Payments asked of Wompi, by type (renovacion, checkout) and state; DECLINED, VOIDED and ERROR are failures.",
		[]string{"type", "state"}, nil)
	descPaymentsAmount = prometheus.NewDesc("appcitas_billing_payments_amount_cents",
		"Total amount of those payments, in cents, by type and state.", []string{"type", "state"}, nil)
	descSubscriptions = prometheus.NewDesc("appcitas_billing_subscriptions",
		"Subscriptions by status (trialing, active, past_due, suspended, cancelled).", []string{"status"}, nil)
)

// queueCollector reads the job queue (River's tables on the default server), and billing's
// payments and subscriptions when bill is set, on each scrape.
type queueCollector struct {
	m    *tenancy.Manager
	bill *billing.Service
}

// Describe sends the descriptors of the job queue and billing metrics.
func (c queueCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descSourceUp, descJobs, descJobFailedAttempts, descBackupLastSuccess, descBackupPeriodStart,
		descBackupPeriodJobs, descPayments, descPaymentsAmount, descSubscriptions} {
		ch <- d
	}
}

// Collect queries the counts now, each source within scrapeTimeout.
func (c queueCollector) Collect(ch chan<- prometheus.Metric) {
	c.collectJobs(ch)
	if c.bill != nil {
		c.collectBilling(ch)
	}
}

func (c queueCollector) collectJobs(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), scrapeTimeout)
	defer cancel()
	st, err := c.readJobs(ctx)
	if err != nil {
		ch <- prometheus.MustNewConstMetric(descSourceUp, prometheus.GaugeValue, 0, "jobs")
		return
	}
	ch <- prometheus.MustNewConstMetric(descSourceUp, prometheus.GaugeValue, 1, "jobs")
	failed := map[string]int64{}
	for _, ks := range st.Jobs {
		ch <- prometheus.MustNewConstMetric(descJobs, prometheus.GaugeValue, float64(ks.Jobs), ks.Kind, ks.State)
		failed[ks.Kind] += ks.FailedAttempts
	}
	for kind, n := range failed {
		ch <- prometheus.MustNewConstMetric(descJobFailedAttempts, prometheus.GaugeValue, float64(n), kind)
	}
	if !st.LastBackup.IsZero() {
		ch <- prometheus.MustNewConstMetric(descBackupLastSuccess, prometheus.GaugeValue, unixSeconds(st.LastBackup))
	}
	if !st.BackupPeriod.IsZero() {
		ch <- prometheus.MustNewConstMetric(descBackupPeriodStart, prometheus.GaugeValue, unixSeconds(st.BackupPeriod))
		for state, n := range st.BackupPeriodJobs {
			ch <- prometheus.MustNewConstMetric(descBackupPeriodJobs, prometheus.GaugeValue, float64(n), state)
		}
	}
}

func (c queueCollector) readJobs(ctx context.Context) (jobs.Stats, error) {
	pool, err := c.m.Servers().Shared(ctx, tenancy.DefaultServer)
	if err != nil {
		return jobs.Stats{}, err
	}
	return jobs.ReadStats(ctx, pool)
}

func (c queueCollector) collectBilling(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), scrapeTimeout)
	defer cancel()
	st, err := c.bill.Stats(ctx)
	if err != nil {
		ch <- prometheus.MustNewConstMetric(descSourceUp, prometheus.GaugeValue, 0, "billing")
		return
	}
	ch <- prometheus.MustNewConstMetric(descSourceUp, prometheus.GaugeValue, 1, "billing")
	for _, p := range st.Payments {
		ch <- prometheus.MustNewConstMetric(descPayments, prometheus.GaugeValue, float64(p.Payments), p.Type, p.State)
		ch <- prometheus.MustNewConstMetric(descPaymentsAmount, prometheus.GaugeValue, float64(p.AmountCents), p.Type, p.State)
	}
	for status, n := range st.Subscriptions {
		ch <- prometheus.MustNewConstMetric(descSubscriptions, prometheus.GaugeValue, float64(n), status)
	}
}

// unixSeconds is t as Prometheus timestamps go: seconds since 1970, with fractions.
func unixSeconds(t time.Time) float64 { return float64(t.UnixNano()) / 1e9 }
