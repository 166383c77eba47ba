package api

import (
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/appcitas/appcitas/internal/auth"
	"github.com/appcitas/appcitas/internal/jobs"
	"github.com/appcitas/appcitas/internal/tenancy"
)

func TestQueueMetrics(t *testing.T) {
	t.Parallel()

	t.Run("ReportsJobsBackupsAndBillingWithoutTenantLabels", func(t *testing.T) {
		t.Parallel()
		be := setupBilling(t, auth.LimitOptions{})
		res := be.signup(t, "juan@example.com")
		pool, err := be.m.Servers().Shared(be.ctx, tenancy.DefaultServer)
		if err != nil {
			t.Fatal(err)
		}
		if err := jobs.Migrate(be.ctx, pool); err != nil {
			t.Fatal(err)
		}
		for _, q := range []string{
			`INSERT INTO public.billing_pago (suscripcion_id, tipo, referencia, periodo_inicio, periodo_fin, monto_centavos, plan_id, estado)
				SELECT id, 'renovacion', 'ref-1', now(), now() + interval '1 month', 4990000, plan_id, 'DECLINED' FROM public.billing_suscripcion`,
			`INSERT INTO river.river_job (kind, args, state, finalized_at, errors, max_attempts, queue, priority) VALUES
				('backup_tenant', jsonb_build_object('organization_id', 1, 'schema', 'tenant_x', 'period', date_trunc('day', now())), 'completed', now(), NULL, 5, 'backup', 1),
				('backup_tenant', jsonb_build_object('organization_id', 2, 'schema', 'tenant_y', 'period', date_trunc('day', now())), 'discarded', now(),
					ARRAY['{"error": "disk full"}'::jsonb, '{"error": "disk full"}'::jsonb], 5, 'backup', 1),
				('backup_tenant', jsonb_build_object('organization_id', 1, 'schema', 'tenant_x', 'period', date_trunc('day', now()) + interval '1 day'), 'scheduled', NULL, NULL, 5, 'backup', 1),
				('billing_charge', '{}', 'available', NULL, NULL, 5, 'default', 1)`,
		} {
			if _, err := pool.Exec(be.ctx, q); err != nil {
				t.Fatal(err)
			}
		}
		met, err := newMetrics(be.m, nil, be.billing)
		if err != nil {
			t.Fatal(err)
		}
		rec := httptest.NewRecorder()
		met.handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
		body := rec.Body.String()
		for _, want := range []string{
			`appcitas_metrics_source_up{source="jobs"} 1`,
			`appcitas_metrics_source_up{source="billing"} 1`,
			`appcitas_jobs{kind="backup_tenant",state="completed"} 1`,
			`appcitas_jobs{kind="backup_tenant",state="discarded"} 1`,
			`appcitas_jobs{kind="backup_tenant",state="scheduled"} 1`,
			`appcitas_jobs{kind="billing_charge",state="available"} 1`,
			`appcitas_job_failed_attempts{kind="backup_tenant"} 2`,
			"appcitas_backup_last_success_timestamp_seconds ",
			"appcitas_backup_period_start_timestamp_seconds ",
			`appcitas_backup_period_jobs{state="completed"} 1`,
			`appcitas_backup_period_jobs{state="discarded"} 1`,
			`appcitas_billing_payments{state="DECLINED",type="renovacion"} 1`,
			`appcitas_billing_payments_amount_cents{state="DECLINED",type="renovacion"} 4.99e+06`,
			`appcitas_billing_subscriptions{status="trialing"} 1`,
		} {
			if !strings.Contains(body, want) {
				t.Errorf("/metrics lacks %s", want)
			}
		}
		if strings.Contains(body, `appcitas_backup_period_jobs{state="scheduled"}`) {
			t.Error("the next period's backup counts in the current period")
		}
		if strings.Contains(body, res.Organization.Slug) || strings.Contains(body, "tenant_") {
			t.Error("/metrics names a tenant")
		}
	})

	t.Run("ScrapesWithoutTheQueueTables", func(t *testing.T) {
		t.Parallel()
		e := setup(t, nil)
		rec := e.do("GET", "/metrics", nil)
		if rec.Code != 200 || !strings.Contains(rec.Body.String(), `appcitas_metrics_source_up{source="jobs"} 0`) {
			t.Errorf("/metrics without River's tables: %d\n%s", rec.Code, rec.Body.String())
		}
	})
}
