package cli_test

import (
	"fmt"
	"strings"
	"testing"
)

func TestBillingCommands(t *testing.T) {
	t.Parallel()
	app, conn := newApp(t)
	app.must(t, "migrate")
	app.must(t, "create_organization", "--nombre", "Barbería Juan", "--slug", "barberia-juan")
	var orgID string
	if err := conn.QueryRow(t.Context(), `SELECT id::text FROM public.organizacion_organizacion WHERE slug = 'barberia-juan'`).Scan(&orgID); err != nil {
		t.Fatal(err)
	}
	// create_organization gave it a trial on the default plan (public migration 0012).

	t.Run("PlansListShowsTheDefaultCatalog", func(t *testing.T) {
		out := app.must(t, "plans", "list").stdout
		for _, want := range []string{"basico", "profesional", "empresa", "4990000 COP", "∞"} {
			if !strings.Contains(out, want) {
				t.Fatalf("plans list lacks %q:\n%s", want, out)
			}
		}
	})
	t.Run("PlansSetCreatesAndChanges", func(t *testing.T) {
		app.must(t, "plans", "set", "premium", "--name", "Premium", "--price-cents", "49990000", "--max-branches", "-1")
		out := app.must(t, "plans", "set", "premium", "--max-staff", "40").stdout
		if !strings.Contains(out, "premium") || !strings.Contains(out, "40") {
			t.Fatalf("plans set:\n%s", out)
		}
		if r := app.run(t, "plans", "set", "nuevo"); r.code != 2 {
			t.Fatalf("a new plan without name and price: %s", r)
		}
		for _, flag := range []string{"--max-branches", "--max-staff", "--max-appointments"} {
			if r := app.run(t, "plans", "set", "premium", flag, "3000000000"); r.code != 2 || strings.Contains(r.stderr, "int4") {
				t.Fatalf("plans set %s 3000000000: want exit 2 and a clear limit:\n%s", flag, r)
			}
		}
	})
	t.Run("SubscriptionCommandsMoveTheStateMachine", func(t *testing.T) {
		app.must(t, "subscriptions", "extend_trial", "--organization_id="+orgID, "--days", "7")
		app.must(t, "subscriptions", "set_plan", "--slug=barberia-juan", "--plan", "profesional")
		if out := app.must(t, "subscriptions", "suspend", "--organization_id="+orgID, "--reason", "prueba").stdout; !strings.Contains(out, "SUSPENDED") {
			t.Fatalf("suspend:\n%s", out)
		}
		if out := app.must(t, "subscriptions", "list", "--status", "suspended").stdout; !strings.Contains(out, "Barbería Juan") {
			t.Fatalf("list --status suspended:\n%s", out)
		}
		app.must(t, "subscriptions", "reactivate", "--organization_id="+orgID)
		if out := app.must(t, "subscriptions", "list", "--status", "suspended").stdout; strings.Contains(out, "Barbería Juan") {
			t.Fatalf("still suspended:\n%s", out)
		}
		out := app.must(t, "subscriptions", "history", "--organization_id="+orgID).stdout
		for _, want := range []string{"operator: extend_trial", "operator: set_plan", "operator: suspend (prueba)", "operator: reactivate"} {
			if !strings.Contains(out, want) {
				t.Fatalf("history lacks %q:\n%s", want, out)
			}
		}
	})
	t.Run("NotificationsListsStuckNoticesAndResendQueuesThem", func(t *testing.T) {
		// A notice claimed an hour ago and never marked sent: its deliverer died after SMTP.
		var id string
		if err := conn.QueryRow(t.Context(), `INSERT INTO public.billing_notificacion
				(organizacion_id, tipo, clave, destinatario, asunto, cuerpo, reclamada_en, intentos)
			VALUES ($1::bigint, 'suspended', 'cli-test-stuck', 'owner@example.co', 'Suspendida', 'x', now() - interval '1 hour', 1)
			RETURNING id::text`, orgID).Scan(&id); err != nil {
			t.Fatal(err)
		}
		out := app.must(t, "subscriptions", "notifications", "--stuck").stdout
		if !strings.Contains(out, "STUCK") || !strings.Contains(out, "owner@example.co") {
			t.Fatalf("notifications --stuck:\n%s", out)
		}
		app.must(t, "subscriptions", "resend_notification", "--id", id)
		out = app.must(t, "subscriptions", "notifications", "--slug=barberia-juan").stdout
		if !strings.Contains(out, "PENDING") || !strings.Contains(out, "operator: resend (was stuck)") {
			t.Fatalf("notifications after the resend:\n%s", out)
		}
		if out := app.must(t, "subscriptions", "notifications", "--stuck").stdout; !strings.Contains(out, "ninguna") {
			t.Fatalf("still stuck after the resend:\n%s", out)
		}
		for _, args := range [][]string{
			{"subscriptions", "resend_notification", "--id", id}, // queued already
			{"subscriptions", "resend_notification"},
			{"subscriptions", "resend_notification", "--id", "999999"},
		} {
			if r := app.run(t, args...); r.code != 2 {
				t.Fatalf("appcitas %v: %s", args, r)
			}
		}
	})
	t.Run("BadInputIsAUsageError", func(t *testing.T) {
		for _, args := range [][]string{
			{"subscriptions", "list", "--status", "nope"},
			{"subscriptions", "extend_trial", "--organization_id=" + orgID},
			{"subscriptions", "set_plan", "--organization_id=" + orgID, "--plan", "nope"},
			{"subscriptions", "suspend"},
		} {
			if r := app.run(t, args...); r.code != 2 {
				t.Fatalf("appcitas %v: %s", args, r)
			}
		}
	})
}

// TestEveryOrganizationStartsWithASubscription checks issue 20 item 5: organizations made by
// create_organization and demo have a subscription, so the README's
// `subscriptions extend_trial --organization_id=1` works.
func TestEveryOrganizationStartsWithASubscription(t *testing.T) {
	t.Parallel()
	app, conn := newApp(t)
	app.must(t, "migrate")
	plan := func(t *testing.T, slug string) string {
		t.Helper()
		return opsQuery[string](t, conn, `SELECT p.codigo || ' ' || s.estado FROM public.billing_suscripcion s
			JOIN public.billing_plan p ON p.id = s.plan_id JOIN public.organizacion_organizacion o ON o.id = s.organizacion_id
			WHERE o.slug = $1`, slug)
	}

	t.Run("CreateOrganizationStartsATrialOnTheDefaultPlan", func(t *testing.T) {
		r := app.must(t, "create_organization", "--nombre", "Uno", "--slug", "uno")
		matches(t, r.stdout, `✓ Suscripción: prueba del plan basico hasta \d{4}-\d{2}-\d{2}`)
		if got := plan(t, "uno"); got != "basico trialing" {
			t.Fatalf("subscription = %q", got)
		}
		id := opsQuery[int64](t, conn, `SELECT id FROM public.organizacion_organizacion WHERE slug = 'uno'`)
		app.must(t, "subscriptions", "extend_trial", fmt.Sprintf("--organization_id=%d", id), "--days", "7")
	})
	t.Run("CreateOrganizationTakesAPlan", func(t *testing.T) {
		r := app.must(t, "create_organization", "--nombre", "Dos", "--slug", "dos", "--plan", "profesional")
		matches(t, r.stdout, `prueba del plan profesional`)
		if got := plan(t, "dos"); got != "profesional trialing" {
			t.Fatalf("subscription = %q", got)
		}
	})
	t.Run("RejectsAnUnknownPlanAndCreatesNothing", func(t *testing.T) {
		r := app.run(t, "create_organization", "--nombre", "Tres", "--slug", "tres", "--plan", "inexistente")
		if r.code != 2 || !strings.Contains(r.stderr, "inexistente") {
			t.Fatalf("want exit 2 naming the plan:\n%s", r)
		}
		if n := opsQuery[int64](t, conn, `SELECT count(*) FROM public.organizacion_organizacion WHERE slug = 'tres'`); n != 0 {
			t.Fatal("the organization was created anyway")
		}
	})
	t.Run("DemoOrganizationHasATrial", func(t *testing.T) {
		app.env["APPCITAS_JWT_SECRET"] = strings.Repeat("demo-secret-", 4)
		app.must(t, "demo", "--days", "1")
		if n := opsQuery[int64](t, conn, `SELECT count(*) FROM public.organizacion_organizacion o
			WHERE NOT EXISTS (SELECT FROM public.billing_suscripcion s WHERE s.organizacion_id = o.id)`); n != 0 {
			t.Fatalf("%d organizations without a subscription after demo", n)
		}
	})
}
