package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/appcitas/appcitas/internal/billing"
	"github.com/appcitas/appcitas/internal/tenancy"
	"github.com/appcitas/appcitas/internal/wompi"
)

// wompiClient returns the Wompi client of the configuration, or nil when no key is configured.
// Keys are checked against WOMPI_ENV (a production key in the sandbox is refused).
func (a *app) wompiClient() (*wompi.Client, error) {
	b := a.cfg.Billing
	if !b.WompiConfigured() {
		return nil, nil
	}
	env, err := wompi.ParseEnvironment(b.WompiEnv)
	if err != nil {
		return nil, err
	}
	c, err := wompi.New(wompi.Config{Environment: env, BaseURL: b.WompiBaseURL, Keys: wompi.Keys{
		Public: b.WompiPublicKey, Private: b.WompiPrivateKey, Events: b.WompiEventsSecret, Integrity: b.WompiIntegritySecret}})
	if err != nil {
		return nil, fmt.Errorf("WOMPI_*: %w", err)
	}
	return c, nil
}

// billingService opens the billing service (with Wompi when configured, for commands).
func (a *app) billingService(ctx context.Context, m *tenancy.Manager, wc *wompi.Client, simulated bool) (*billing.Service, error) {
	opts := billing.Options{Wompi: wc, Logger: a.log, RedirectURL: a.cfg.Billing.CheckoutRedirectURL,
		CheckoutExpiry: a.cfg.Billing.CheckoutExpiry, SendingTimeout: a.cfg.Billing.NoticeSendingTimeout}
	if simulated {
		opts.CheckoutURL = "-" // the simulator has no checkout page: pay with POST {api_url}/transactions
	}
	mailer, err := a.mailer()
	if err != nil {
		return nil, err
	}
	opts.Mailer = mailer
	return billing.New(ctx, m, opts)
}

// mailer returns the SMTP mailer of APPCITAS_SMTP_*, nil when APPCITAS_SMTP_ADDR is not set.
func (a *app) mailer() (billing.Mailer, error) {
	b := a.cfg.Billing
	if b.SMTPAddr == "" {
		return nil, nil
	}
	mailer, err := billing.NewSMTPMailer(billing.SMTPConfig{Addr: b.SMTPAddr, Username: b.SMTPUsername, Password: b.SMTPPassword, From: b.SMTPFrom})
	if err != nil {
		return nil, fmt.Errorf("APPCITAS_SMTP_*: %w", err)
	}
	return mailer, nil
}

func (a *app) openBilling(ctx context.Context) (*tenancy.Manager, *billing.Service, error) {
	m, err := a.openMigrated(ctx)
	if err != nil {
		return nil, nil, err
	}
	wc, err := a.wompiClient()
	if err != nil {
		return nil, nil, userError{err}
	}
	svc, err := a.billingService(ctx, m, wc, false)
	return m, svc, err
}

// asBillingError marks billing errors caused by the input.
func asBillingError(err error) error {
	for _, target := range []error{billing.ErrInvalid, billing.ErrNotFound, billing.ErrConflict, billing.ErrTransition} {
		if errors.Is(err, target) {
			return userError{err}
		}
	}
	return asUserError(err)
}

func plansCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "plans",
		Short: "List or change the plan catalog (billing_plan)",
		Args:  noArgs,
	}
	cmd.AddCommand(&cobra.Command{
		Use:     "list",
		Short:   "List the plans, their monthly price, trial and limits",
		Example: "  appcitas plans list",
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, svc, err := a.openBilling(cmd.Context())
			if err != nil {
				return err
			}
			plans, err := svc.Plans(cmd.Context())
			if err != nil {
				return err
			}
			printPlans(a.stdout, plans)
			return nil
		},
	}, planSetCmd(a))
	return cmd
}

func printPlans(out io.Writer, plans []billing.Plan) {
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "CÓDIGO\tNOMBRE\tPRECIO/MES (centavos)\tPRUEBA\tSEDES\tPROFESIONALES\tCITAS/MES\tACTIVO")
	lim := func(v *int) string {
		if v == nil {
			return "∞"
		}
		return fmt.Sprint(*v)
	}
	for _, p := range plans {
		fmt.Fprintf(tw, "%s\t%s\t%d %s\t%d días\t%s\t%s\t%s\t%v\n", p.Code, p.Name, p.PriceCents, p.Currency, p.TrialDays,
			lim(p.MaxBranches), lim(p.MaxStaff), lim(p.MaxAppointmentsPerMonth), p.IsActive)
	}
	tw.Flush()
}

func planSetCmd(a *app) *cobra.Command {
	var (
		name, currency         string
		price                  int64
		trial, branches, staff int
		appointments           int
		active                 bool
	)
	cmd := &cobra.Command{
		Use:   "set CODE",
		Short: "Create a plan or change some of its fields",
		Long: `Create the plan CODE (--name and --price-cents required) or change the given fields of an existing
one. Limits take -1 for unlimited. A changed price applies from each subscription's next charge; limits
apply at once.`,
		Example: `  appcitas plans set premium --name Premium --price-cents 49990000 --max-branches -1 --max-staff 50
  appcitas plans set basico --max-appointments 800`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) != 1 {
				return usageErrorf("plans set takes one plan code (see `appcitas plans set --help`)")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			c := billing.PlanChange{Code: args[0]}
			f := cmd.Flags()
			if f.Changed("name") {
				c.Name = &name
			}
			if f.Changed("price-cents") {
				c.PriceCents = &price
			}
			if f.Changed("currency") {
				c.Currency = &currency
			}
			if f.Changed("trial-days") {
				c.TrialDays = &trial
			}
			if f.Changed("max-branches") {
				c.MaxBranches = &branches
			}
			if f.Changed("max-staff") {
				c.MaxStaff = &staff
			}
			if f.Changed("max-appointments") {
				c.MaxAppointmentsPerMonth = &appointments
			}
			if f.Changed("active") {
				c.IsActive = &active
			}
			return runPlanSet(cmd.Context(), a, c)
		},
	}
	cmd.Flags().StringVar(&name, "name", "", "display name")
	cmd.Flags().Int64Var(&price, "price-cents", 0, "monthly price in cents (COP 4990000 = $49.900)")
	cmd.Flags().StringVar(&currency, "currency", "COP", "ISO 4217 currency")
	cmd.Flags().IntVar(&trial, "trial-days", 14, "free trial days of new subscriptions")
	cmd.Flags().IntVar(&branches, "max-branches", 0, "max branches (sedes); -1 unlimited")
	cmd.Flags().IntVar(&staff, "max-staff", 0, "max staff members (profesionales); -1 unlimited")
	cmd.Flags().IntVar(&appointments, "max-appointments", 0, "max appointments per month; -1 unlimited")
	cmd.Flags().BoolVar(&active, "active", true, "offered to new signups")
	return cmd
}

// runPlanSet is plans set: it creates the plan or changes the fields c gives, then prints it.
func runPlanSet(ctx context.Context, a *app, c billing.PlanChange) error {
	_, svc, err := a.openBilling(ctx)
	if err != nil {
		return err
	}
	p, err := svc.SetPlan(ctx, c)
	if err != nil {
		return asBillingError(err)
	}
	fmt.Fprintf(a.stdout, "✓ Plan %s guardado\n", p.Code)
	printPlans(a.stdout, []billing.Plan{p})
	return nil
}

func subscriptionsCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "subscriptions",
		Short: "List subscriptions and change them (operators)",
		Long: `List subscriptions and change them. Every change is recorded in billing_suscripcion_evento with
its cause ("operator: ..."). A suspended tenant's API answers 402 except for billing; its data is kept.`,
		Args: noArgs,
	}
	var days int
	extend := orgSubCmd(a, "extend_trial", "Give an organization more days of trial",
		"  appcitas subscriptions extend_trial --organization_id=1 --days 7",
		func(ctx context.Context, svc *billing.Service, org tenancy.Organization) (billing.Subscription, error) {
			if days < 1 {
				return billing.Subscription{}, usageErrorf("--days must be at least 1")
			}
			return svc.ExtendTrial(ctx, org.ID, days, "")
		})
	extend.Flags().IntVar(&days, "days", 0, "days to add to the trial (required)")

	var plan string
	setPlan := orgSubCmd(a, "set_plan", "Move an organization to another plan",
		"  appcitas subscriptions set_plan --organization_id=1 --plan profesional",
		func(ctx context.Context, svc *billing.Service, org tenancy.Organization) (billing.Subscription, error) {
			if plan == "" {
				return billing.Subscription{}, usageErrorf("--plan is required")
			}
			return svc.ChangePlan(ctx, org.ID, plan, "")
		})
	setPlan.Flags().StringVar(&plan, "plan", "", "plan code (appcitas plans list)")

	var reason string
	suspend := orgSubCmd(a, "suspend", "Suspend an organization (its API answers 402; data is kept)",
		"  appcitas subscriptions suspend --organization_id=1 --reason fraude",
		func(ctx context.Context, svc *billing.Service, org tenancy.Organization) (billing.Subscription, error) {
			cause := "operator: suspend"
			if reason != "" {
				cause += " (" + reason + ")"
			}
			return svc.Suspend(ctx, org.ID, cause)
		})
	suspend.Flags().StringVar(&reason, "reason", "", "recorded with the change")
	reactivate := orgSubCmd(a, "reactivate", "Reactivate a suspended or cancelled organization for a month from now",
		"  appcitas subscriptions reactivate --organization_id=1",
		func(ctx context.Context, svc *billing.Service, org tenancy.Organization) (billing.Subscription, error) {
			return svc.Reactivate(ctx, org.ID, "")
		})
	cancel := orgSubCmd(a, "cancel", "Cancel an organization's subscription and void its saved card at Wompi",
		"  appcitas subscriptions cancel --organization_id=1",
		func(ctx context.Context, svc *billing.Service, org tenancy.Organization) (billing.Subscription, error) {
			return svc.Cancel(ctx, org.ID, "operator: cancel")
		})

	cmd.AddCommand(subscriptionsListCmd(a), extend, setPlan, suspend, reactivate, cancel, subscriptionsHistoryCmd(a),
		notificationsCmd(a), resendNotificationCmd(a))
	return cmd
}

// subscriptionsListOptions are the flags of subscriptions list.
type subscriptionsListOptions struct {
	// Status keeps only the subscriptions in this status; empty keeps all.
	Status string
}

func subscriptionsListCmd(a *app) *cobra.Command {
	var opts subscriptionsListOptions
	cmd := &cobra.Command{
		Use:     "list",
		Short:   "List subscriptions, optionally only those in one status",
		Example: "  appcitas subscriptions list\n  appcitas subscriptions list --status past_due",
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runSubscriptionsList(cmd.Context(), a, opts)
		},
	}
	cmd.Flags().StringVar(&opts.Status, "status", "", "trialing, active, past_due, suspended or cancelled")
	return cmd
}

// runSubscriptionsList is subscriptions list: it prints one line per subscription.
// An unknown status is a usage error.
func runSubscriptionsList(ctx context.Context, a *app, opts subscriptionsListOptions) error {
	var st billing.Status
	if opts.Status != "" {
		var err error
		if st, err = billing.ParseStatus(opts.Status); err != nil {
			return userError{err}
		}
	}
	_, svc, err := a.openBilling(ctx)
	if err != nil {
		return err
	}
	rows, err := svc.Subscriptions(ctx, st)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(a.stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ORG\tNOMBRE\tPLAN\tESTADO\tPERIODO HASTA\tPRUEBA HASTA\tPAGO")
	for _, r := range rows {
		trial := "-"
		if r.TrialEndsAt != nil {
			trial = r.TrialEndsAt.UTC().Format("2006-01-02")
		}
		src := r.PaymentSourceLabel
		if src == "" {
			src = "-"
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\n", r.OrganizationID, r.OrganizationName, r.PlanCode, r.Status,
			r.PeriodEnd.UTC().Format("2006-01-02"), trial, src)
	}
	tw.Flush()
	if len(rows) == 0 {
		fmt.Fprintln(a.stdout, "(ninguna suscripción)")
	}
	return nil
}

func subscriptionsHistoryCmd(a *app) *cobra.Command {
	var of organizationFlags
	cmd := &cobra.Command{
		Use:     "history",
		Short:   "Show the state changes of an organization's subscription, with their causes",
		Example: "  appcitas subscriptions history --organization_id=1",
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runSubscriptionsHistory(cmd.Context(), a, of)
		},
	}
	of.add(cmd)
	return cmd
}

// runSubscriptionsHistory is subscriptions history: it prints the organization's subscription changes.
// An organization without a subscription is a usage error.
func runSubscriptionsHistory(ctx context.Context, a *app, of organizationFlags) error {
	if err := of.validate(); err != nil {
		return err
	}
	m, svc, err := a.openBilling(ctx)
	if err != nil {
		return err
	}
	org, err := of.lookup(ctx, m)
	if err != nil {
		return err
	}
	if _, err := svc.Subscription(ctx, org.ID); errors.Is(err, billing.ErrNotFound) {
		return userError{fmt.Errorf("%s (id %d) no tiene suscripción: no hay historial que mostrar", org.Name, org.ID)}
	} else if err != nil {
		return err
	}
	events, err := svc.History(ctx, org.ID)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(a.stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "EN\tDESDE\tHASTA\tCAUSA\tDETALLE")
	for _, e := range events {
		from := string(e.From)
		if from == "" {
			from = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", e.At.UTC().Format(time.RFC3339), from, e.To, e.Cause, e.Detail)
	}
	return tw.Flush()
}

// notificationsCmd lists the owner-notice outbox: what was sent, what waits, and what is stuck
// (claimed by a deliverer that died between SMTP and marking it sent; never resent by itself).
// notificationsOptions are the flags of subscriptions notifications.
type notificationsOptions struct {
	// Org keeps only this organization's notices; empty keeps all.
	Org organizationFlags
	// Stuck keeps only the notices stuck in sending.
	Stuck bool
}

func notificationsCmd(a *app) *cobra.Command {
	var opts notificationsOptions
	cmd := &cobra.Command{
		Use:   "notifications",
		Short: "List owner notices (outbox) and their delivery state; --stuck lists those to check and resend",
		Long: `List the notices to organization owners and their delivery state: pending, sending, sent,
failed (refused by SMTP 10 times) or stuck. A stuck notice was claimed by a deliverer that stopped
between the SMTP exchange and marking it sent: it may or may not have reached the owner, and it is
never sent again by itself. Check, then resend it with "appcitas subscriptions resend_notification".`,
		Example: "  appcitas subscriptions notifications --stuck\n  appcitas subscriptions notifications --organization_id=1",
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runNotifications(cmd.Context(), a, opts)
		},
	}
	opts.Org.add(cmd)
	cmd.Flags().BoolVar(&opts.Stuck, "stuck", false, "only notices stuck in sending (to check and resend)")
	return cmd
}

// runNotifications is subscriptions notifications: it prints the owner notices and their delivery state.
// With opts.Org it prints only that organization's.
// With opts.Stuck it prints only those stuck in sending.
func runNotifications(ctx context.Context, a *app, opts notificationsOptions) error {
	filter := billing.NotificationFilter{Stuck: opts.Stuck}
	if opts.Org.id != 0 || opts.Org.slug != "" {
		if err := opts.Org.validate(); err != nil {
			return err
		}
	}
	m, svc, err := a.openBilling(ctx)
	if err != nil {
		return err
	}
	if opts.Org.id != 0 || opts.Org.slug != "" {
		org, err := opts.Org.lookup(ctx, m)
		if err != nil {
			return err
		}
		filter.OrganizationID = org.ID
	}
	ns, err := svc.ListNotifications(ctx, filter)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(a.stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ID	ORG	TIPO	ESTADO	PARA	CREADA	RECLAMADA	ENVIADA	INTENTOS	ERROR")
	ts := func(t *time.Time) string {
		if t == nil {
			return "-"
		}
		return t.UTC().Format(time.RFC3339)
	}
	for _, n := range ns {
		fmt.Fprintf(tw, "%d\t%d\t%s\t%s\t%s\t%s\t%s\t%s\t%d\t%s\n", n.ID, n.OrganizationID, n.Kind, strings.ToUpper(n.State), n.To,
			n.CreatedAt.UTC().Format(time.RFC3339), ts(n.ClaimedAt), ts(n.SentAt), n.Attempts, n.LastError)
	}
	tw.Flush()
	if len(ns) == 0 {
		fmt.Fprintln(a.stdout, "(ninguna notificación)")
	}
	return nil
}

// resendNotificationCmd puts a stuck or failed notice back in the queue, by the operator's decision.
func resendNotificationCmd(a *app) *cobra.Command {
	var id int64
	cmd := &cobra.Command{
		Use:     "resend_notification",
		Short:   "Queue a stuck or failed notice again (the owner may get a second copy, with the same Message-ID)",
		Example: "  appcitas subscriptions resend_notification --id 42",
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if id <= 0 {
				return usageErrorf("--id=N (from appcitas subscriptions notifications) is required")
			}
			_, svc, err := a.openBilling(cmd.Context())
			if err != nil {
				return err
			}
			n, err := svc.ResendNotification(cmd.Context(), id)
			if err != nil {
				return asBillingError(err)
			}
			fmt.Fprintf(a.stdout, "✓ Notificación %d (%s a %s) en cola de nuevo; la próxima entrega la envía\n", n.ID, n.Kind, n.To)
			return nil
		},
	}
	cmd.Flags().Int64Var(&id, "id", 0, "the notice's id (required)")
	return cmd
}

// orgSubCmd builds a subscriptions subcommand that selects one organization and changes its
// subscription with fn, then prints the result.
func orgSubCmd(a *app, use, short, example string, fn func(context.Context, *billing.Service, tenancy.Organization) (billing.Subscription, error)) *cobra.Command {
	var f organizationFlags
	cmd := &cobra.Command{
		Use:     use,
		Short:   short,
		Example: example,
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := f.validate(); err != nil {
				return err
			}
			m, svc, err := a.openBilling(cmd.Context())
			if err != nil {
				return err
			}
			org, err := f.lookup(cmd.Context(), m)
			if err != nil {
				return err
			}
			sub, err := fn(cmd.Context(), svc, org)
			if err != nil {
				var ue userError
				if errors.As(err, &ue) {
					return err
				}
				return asBillingError(err)
			}
			fmt.Fprintf(a.stdout, "✓ %s (id %d): plan %s, %s, periodo hasta %s\n", org.Name, org.ID, sub.PlanCode,
				strings.ToUpper(string(sub.Status)), sub.PeriodEnd.UTC().Format("2006-01-02"))
			return nil
		},
	}
	f.add(cmd)
	return cmd
}
