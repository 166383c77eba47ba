package reminders_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/appcitas/appcitas/internal/reminders"
)

// tomorrowAt is a time about two days ahead, on a whole minute.
func ahead(d time.Duration) time.Time { return time.Now().Add(d).Truncate(time.Minute) }

func TestSchedule(t *testing.T) {
	t.Parallel()
	e := setup(t)
	tn := e.newTenant(t, "Barbería Juan", 3)

	t.Run("NoRemindersWhileOff", func(t *testing.T) {
		id := e.book(t, tn, 0, ahead(72*time.Hour), "Ana", "+57 300 1234567", "ana@example.com")
		if rs := e.rows(t, tn, id); len(rs) != 0 {
			t.Fatalf("reminders off, yet rows: %v", rs)
		}
	})

	e.enable(t, tn, reminders.SettingsInput{WhatsApp: ptr(true)})
	start := ahead(72 * time.Hour)
	id := e.book(t, tn, 1, start, "Beto", "+57 300 7654321", "beto@example.com")

	t.Run("QueuesRemindersWhenBooked", func(t *testing.T) {
		rs := e.rows(t, tn, id)
		if len(rs) != 2 || rs[1440].State != "pendiente" || rs[120].State != "pendiente" {
			t.Fatalf("rows = %v, want 1440 and 120 pending", rs)
		}
		if !rs[1440].SendAt.Equal(start.Add(-24*time.Hour)) || !rs[120].SendAt.Equal(start.Add(-2*time.Hour)) {
			t.Fatalf("send times %v, %v for a start at %v", rs[1440].SendAt, rs[120].SendAt, start)
		}
	})

	t.Run("MovesRemindersWhenRescheduled", func(t *testing.T) {
		moved := start.Add(26 * time.Hour)
		e.run(t, tn, func(ctx context.Context, tx pgx.Tx) error {
			_, err := tx.Exec(ctx, `UPDATE citas_cita SET inicio = $2::timestamptz, fin = $2::timestamptz + interval '30 minutes', bloqueo_inicio = $2::timestamptz,
				bloqueo_fin = $2::timestamptz + interval '30 minutes' WHERE id = $1`, id, moved)
			return err
		})
		rs := e.rows(t, tn, id)
		if !rs[1440].SendAt.Equal(moved.Add(-24*time.Hour)) || !rs[120].Next.Equal(moved.Add(-2*time.Hour)) || rs[120].State != "pendiente" {
			t.Fatalf("after moving to %v: %v", moved, rs)
		}
	})

	t.Run("DropsRemindersWhenCancelledCompletedOrNoShow", func(t *testing.T) {
		for i, state := range []string{"cancelada", "completada", "no_asistio"} {
			appt := e.book(t, tn, 2, start.Add(time.Duration(i)*time.Hour), "Caro", "", "caro@example.com")
			e.run(t, tn, func(ctx context.Context, tx pgx.Tx) error {
				_, err := tx.Exec(ctx, `UPDATE citas_cita SET estado = $2 WHERE id = $1`, appt, state)
				return err
			})
			for off, r := range e.rows(t, tn, appt) {
				if r.State != "cancelado" {
					t.Fatalf("%s: reminder %d is %s", state, off, r.State)
				}
			}
		}
	})

	t.Run("PastRemindersAreNeverSent", func(t *testing.T) {
		soon := e.book(t, tn, 0, ahead(90*time.Minute), "Dani", "+573001112233", "dani@example.com")
		rs := e.rows(t, tn, soon)
		if rs[1440].State != "vencido" || rs[120].State != "vencido" {
			t.Fatalf("an appointment in 90 minutes: %v", rs)
		}
		before := len(e.mail.sent()) + e.wa.count()
		if _, err := e.svc.RunTenant(t.Context(), tn.org.ID); err != nil {
			t.Fatal(err)
		}
		if after := len(e.mail.sent()) + e.wa.count(); after != before {
			t.Fatalf("%d messages sent for past reminders", after-before)
		}
	})

	t.Run("SwitchingOffCancelsAndOnRestores", func(t *testing.T) {
		e.enable(t, tn, reminders.SettingsInput{Enabled: ptr(false)})
		if r := e.rows(t, tn, id)[1440]; r.State != "cancelado" {
			t.Fatalf("off: %v", r)
		}
		e.enable(t, tn, reminders.SettingsInput{OffsetsMinutes: []int{60}})
		rs := e.rows(t, tn, id)
		if rs[60].State != "pendiente" || rs[1440].State != "cancelado" {
			t.Fatalf("on with 60 minutes only: %v", rs)
		}
	})
}

func TestAgenda(t *testing.T) {
	t.Parallel()
	e := setup(t)
	a := e.newTenant(t, "Spa Uno", 1)
	b := e.newTenant(t, "Spa Dos", 1)
	e.enable(t, a, reminders.SettingsInput{})
	e.enable(t, b, reminders.SettingsInput{})
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- e.svc.Listen(ctx) }()
	t.Cleanup(func() { cancel(); <-done })

	t.Run("BookingPutsTheTenantOnTheAgenda", func(t *testing.T) {
		start := ahead(30 * time.Hour)
		deadline := time.Now().Add(10 * time.Second)
		// The listener may not be listening yet: book until the notification is heard.
		for i := 0; ; i++ {
			st := start.Add(time.Duration(i) * time.Hour)
			e.book(t, a, 0, st, "Ana", "", "ana@example.com")
			e.setClock(st.Add(-24 * time.Hour))
			ids, err := e.svc.Due(t.Context(), 10)
			if err != nil {
				t.Fatal(err)
			}
			if len(ids) == 1 && ids[0] == a.org.ID {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("due tenants %v, want only %d", ids, a.org.ID)
			}
			time.Sleep(200 * time.Millisecond)
		}
		e.setClock(time.Time{})
		if ids, _ := e.svc.Due(t.Context(), 10); len(ids) != 0 {
			t.Fatalf("due now: %v, want none (the first reminder is in 6 hours)", ids)
		}
	})

	startB := ahead(30 * time.Hour)
	t.Run("SweepFindsWhatNoListenerHeard", func(t *testing.T) {
		cancel()
		<-done
		done <- nil
		e.book(t, b, 0, startB, "Beto", "", "beto@example.com")
		e.setClock(startB.Add(-24 * time.Hour))
		defer e.setClock(time.Time{})
		if slices.Contains(mustDue(t, e), b.org.ID) {
			t.Fatal("tenant b is due before the sweep, with no listener")
		}
		n, err := e.svc.Sweep(t.Context())
		if err != nil || n != 2 {
			t.Fatalf("sweep found %d tenants with work (%v), want 2", n, err)
		}
		if ids := mustDue(t, e); !slices.Contains(ids, b.org.ID) || !slices.Contains(ids, a.org.ID) {
			t.Fatalf("after the sweep: %v", ids)
		}
	})

	t.Run("RunRewritesTheAgenda", func(t *testing.T) {
		e.setClock(startB.Add(-24*time.Hour + time.Second))
		defer e.setClock(time.Time{})
		res, err := e.svc.RunTenant(t.Context(), b.org.ID)
		if err != nil || res.Sent != 1 {
			t.Fatalf("run: %+v, %v", res, err)
		}
		if slices.Contains(mustDue(t, e), b.org.ID) {
			t.Fatal("tenant b is due after its only due reminder was sent")
		}
		e.setClock(startB.Add(-2*time.Hour + time.Second))
		if !slices.Contains(mustDue(t, e), b.org.ID) {
			t.Fatal("tenant b is not due when its 2-hour reminder is")
		}
	})
}

func TestDispatch(t *testing.T) {
	t.Parallel()
	e := setup(t)
	start := ahead(30 * time.Hour)
	var orgs []int64
	for _, name := range []string{"Uno", "Dos", "Tres"} {
		tn := e.newTenant(t, name, 1)
		e.enable(t, tn, reminders.SettingsInput{})
		e.book(t, tn, 0, start, "Ana", "", "ana@example.com")
		orgs = append(orgs, tn.org.ID)
	}
	if _, err := e.svc.Sweep(t.Context()); err != nil {
		t.Fatal(err)
	}
	e.setClock(start.Add(-24*time.Hour + time.Second))
	defer e.setClock(time.Time{})
	var queued []int64
	queue := func(_ context.Context, _ pgx.Tx, ids []int64) ([]int64, error) {
		queued = append(queued, ids...)
		return nil, nil
	}

	t.Run("TakesEachDueTenantOncePageByPage", func(t *testing.T) {
		for _, want := range []int{2, 1, 0} {
			n, err := e.svc.Dispatch(t.Context(), 2, queue)
			if err != nil || n != want {
				t.Fatalf("dispatch took %d (%v), want %d", n, err, want)
			}
		}
		slices.Sort(queued)
		if !slices.Equal(queued, orgs) {
			t.Fatalf("queued %v, want %v", queued, orgs)
		}
	})

	t.Run("FailedQueueingLeavesTenantsDue", func(t *testing.T) {
		e.setClock(start.Add(-24*time.Hour + reminders.RequeueAfter + 2*time.Second))
		_, err := e.svc.Dispatch(t.Context(), 10, func(context.Context, pgx.Tx, []int64) ([]int64, error) { return nil, errors.New("river is down") })
		if err == nil || len(mustDue(t, e)) != 3 {
			t.Fatalf("err %v, due %v", err, mustDue(t, e))
		}
	})

	t.Run("TenantsWhoseJobExistsStayDue", func(t *testing.T) {
		n, err := e.svc.Dispatch(t.Context(), 10, func(_ context.Context, _ pgx.Tx, ids []int64) ([]int64, error) { return ids[:1], nil })
		if err != nil || n != 3 || len(mustDue(t, e)) != 1 {
			t.Fatalf("took %d (%v), due after %v, want the skipped one", n, err, mustDue(t, e))
		}
	})
}

func mustDue(t *testing.T, e *env) []int64 {
	t.Helper()
	ids, err := e.svc.Due(t.Context(), 100)
	if err != nil {
		t.Fatal(err)
	}
	return ids
}

func TestSend(t *testing.T) {
	t.Parallel()
	e := setup(t)
	tn := e.newTenant(t, "Barbería Juan", 5)
	e.enable(t, tn, reminders.SettingsInput{WhatsApp: ptr(true), WhatsAppLanguage: ptr("es_CO")})

	t.Run("SendsOnceByEmailAndWhatsApp", func(t *testing.T) {
		start := ahead(50 * time.Hour)
		id := e.book(t, tn, 0, start, "Ana Pérez", "+57 300 123 4567", "ana@example.com")
		e.setClock(start.Add(-24*time.Hour + time.Second))
		defer e.setClock(time.Time{})
		mails, was := len(e.mail.sent()), e.wa.count()
		for range 2 {
			if _, err := e.svc.RunTenant(t.Context(), tn.org.ID); err != nil {
				t.Fatal(err)
			}
		}
		if len(e.mail.sent()) != mails+1 || e.wa.count() != was+1 {
			t.Fatalf("sent %d e-mails and %d WhatsApp messages, want 1 and 1", len(e.mail.sent())-mails, e.wa.count()-was)
		}
		log := e.log(t, tn, id)
		if len(log.Deliveries) != 2 || log.Reminders[0].State != "enviado" || log.Reminders[1].State != "pendiente" {
			t.Fatalf("log: %+v", log)
		}
		for _, d := range log.Deliveries {
			if d.Result != "enviado" || (d.Channel == "whatsapp" && !strings.HasPrefix(d.ProviderID, "wamid.")) {
				t.Fatalf("delivery %+v", d)
			}
		}
	})

	t.Run("RetriesAfter500And429", func(t *testing.T) {
		start := ahead(60 * time.Hour)
		id := e.book(t, tn, 1, start, "Beto", "3001234567", "")
		e.wa.failNext(500, 429)
		t0 := start.Add(-24*time.Hour + time.Second)
		defer e.setClock(time.Time{})
		steps := []struct {
			at    time.Time
			state string
		}{{t0, "pendiente"}, {t0.Add(10 * time.Second), "pendiente"}, {t0.Add(31 * time.Second), "pendiente"}, {t0.Add(92 * time.Second), "enviado"}}
		for _, s := range steps {
			e.setClock(s.at)
			if _, err := e.svc.RunTenant(t.Context(), tn.org.ID); err != nil {
				t.Fatal(err)
			}
			if r := e.rows(t, tn, id)[1440]; r.State != s.state {
				t.Fatalf("at +%v: %+v", s.at.Sub(t0), r)
			}
		}
		var results []string
		for _, d := range e.log(t, tn, id).Deliveries {
			results = append(results, d.Channel+":"+d.Result)
		}
		want := "email:omitido whatsapp:error whatsapp:error whatsapp:enviado"
		if strings.Join(results, " ") != want {
			t.Fatalf("log %v, want %s", results, want)
		}
	})

	t.Run("FailsWithoutRetryOn400", func(t *testing.T) {
		start := ahead(70 * time.Hour)
		id := e.book(t, tn, 2, start, "Caro", "3009999999", "")
		e.wa.failNext(400)
		e.setClock(start.Add(-24*time.Hour + time.Second))
		defer e.setClock(time.Time{})
		if _, err := e.svc.RunTenant(t.Context(), tn.org.ID); err != nil {
			t.Fatal(err)
		}
		if r := e.rows(t, tn, id)[1440]; r.State != "fallido" {
			t.Fatalf("after a 400: %+v", r)
		}
	})

	t.Run("SentOnceWhenTheWorkerDiesBetweenSendAndCommit", func(t *testing.T) {
		start := ahead(80 * time.Hour)
		id := e.book(t, tn, 3, start, "Dani", "3005550000", "")
		e.setClock(start.Add(-24*time.Hour + time.Second))
		defer e.setClock(time.Time{})
		ctx, kill := context.WithCancel(t.Context())
		e.wa.mu.Lock()
		e.wa.after = kill // the provider answered; the worker dies before it records
		e.wa.mu.Unlock()
		before := e.wa.count()
		_, err := e.svc.RunTenant(ctx, tn.org.ID)
		e.wa.mu.Lock()
		e.wa.after = nil
		e.wa.mu.Unlock()
		if err == nil {
			t.Fatal("the killed run reported no error")
		}
		// River retries the job; the reminder stays claimed and is not sent again.
		for range 2 {
			if _, err := e.svc.RunTenant(t.Context(), tn.org.ID); err != nil {
				t.Fatal(err)
			}
		}
		if n := e.wa.count() - before; n != 1 {
			t.Fatalf("%d WhatsApp messages, want exactly 1", n)
		}
		if r := e.rows(t, tn, id)[1440]; r.State != "enviando" || r.Attempts != 1 {
			t.Fatalf("after the crash: %+v", r)
		}
		e.run(t, tn, func(ctx context.Context, tx pgx.Tx) error {
			_, err := tx.Exec(ctx, `UPDATE recordatorios_recordatorio SET reclamado_en = now() - interval '1 hour' WHERE cita_id = $1`, id)
			return err
		})
		if st := e.log(t, tn, id).Reminders[0].State; st != "incierto" {
			t.Fatalf("a reminder claimed an hour ago reads %q, want incierto", st)
		}
		// A person decides to send it again.
		e.run(t, tn, func(ctx context.Context, tx pgx.Tx) error {
			r, err := reminders.Resend(ctx, tx, id, 1440)
			if err == nil && r.State != "pendiente" {
				t.Errorf("resent reminder is %q", r.State)
			}
			return err
		})
		if _, err := e.svc.RunTenant(t.Context(), tn.org.ID); err != nil {
			t.Fatal(err)
		}
		if n := e.wa.count() - before; n != 2 {
			t.Fatalf("%d WhatsApp messages after the resend, want 2", n)
		}
		e.run(t, tn, func(ctx context.Context, tx pgx.Tx) error {
			if _, err := reminders.Resend(ctx, tx, id, 1440); !errors.Is(err, reminders.ErrNotResendable) {
				t.Errorf("resending a sent reminder: %v", err)
			}
			return nil
		})
	})

	t.Run("WhatsAppRequestHasMetasShape", func(t *testing.T) {
		e.wa.mu.Lock()
		body, path, auth := e.wa.bodies[0], e.wa.paths[0], e.wa.auth[0]
		e.wa.mu.Unlock()
		if path != "/v21.0/123456/messages" || auth != "Bearer token-servidor" {
			t.Fatalf("POST %s with %q", path, auth)
		}
		tpl, _ := body["template"].(map[string]any)
		lang, _ := tpl["language"].(map[string]any)
		comps, _ := tpl["components"].([]any)
		if body["messaging_product"] != "whatsapp" || body["type"] != "template" || body["to"] != "573001234567" ||
			tpl["name"] != "recordatorio_cita" || lang["code"] != "es_CO" || len(comps) != 1 {
			t.Fatalf("body %v", body)
		}
		c := comps[0].(map[string]any)
		params := c["parameters"].([]any)
		if c["type"] != "body" || len(params) != 4 || params[0].(map[string]any)["text"] != "Ana Pérez" ||
			params[1].(map[string]any)["text"] != "Barbería Juan" {
			t.Fatalf("components %v", comps)
		}
	})
}

func TestIsolation(t *testing.T) {
	t.Parallel()
	e := setup(t)
	a := e.newTenant(t, "Clínica A", 1)
	b := e.newTenant(t, "Clínica B", 1)
	e.enable(t, a, reminders.SettingsInput{})
	e.enable(t, b, reminders.SettingsInput{WhatsApp: ptr(true), WhatsAppPhoneNumberID: ptr("999"), WhatsAppToken: ptr("token-de-b")})
	start := ahead(40 * time.Hour)
	ida := e.book(t, a, 0, start, "Cliente A", "3001111111", "a@example.com")
	idb := e.book(t, b, 0, start, "Cliente B", "3002222222", "b@example.com")
	e.setClock(start.Add(-24*time.Hour + time.Second))
	defer e.setClock(time.Time{})

	t.Run("OneTenantsJobTouchesOnlyItsOwnReminders", func(t *testing.T) {
		res, err := e.svc.RunTenant(t.Context(), a.org.ID)
		if err != nil || res.Claimed != 1 {
			t.Fatalf("run of a: %+v, %v", res, err)
		}
		for _, m := range e.mail.sent() {
			if m.To != "a@example.com" || strings.Contains(m.Body, "Cliente B") || !strings.Contains(m.Subject, "Clínica A") {
				t.Fatalf("tenant a's job sent %+v", m)
			}
		}
		if r := e.rows(t, b, idb)[1440]; r.State != "pendiente" {
			t.Fatalf("tenant b's reminder after a's job: %+v", r)
		}
		if r := e.rows(t, a, ida)[1440]; r.State != "enviado" {
			t.Fatalf("tenant a's reminder: %+v", r)
		}
	})

	t.Run("SealedTokenOpensOnlyForItsOrganization", func(t *testing.T) {
		var sealed []byte
		e.run(t, b, func(ctx context.Context, tx pgx.Tx) error {
			return tx.QueryRow(ctx, `SELECT whatsapp_token_cifrado FROM recordatorios_configuracion`).Scan(&sealed)
		})
		if len(sealed) == 0 || strings.Contains(string(sealed), "token-de-b") {
			t.Fatalf("stored token %q is not sealed", sealed)
		}
		// Copied into tenant a's settings, b's sealed token does not open: a's WhatsApp fails.
		e.run(t, a, func(ctx context.Context, tx pgx.Tx) error {
			_, err := tx.Exec(ctx, `UPDATE recordatorios_configuracion SET canal_whatsapp = true, whatsapp_phone_number_id = '999',
				whatsapp_token_cifrado = $1`, sealed)
			return err
		})
		idc := e.book(t, a, 0, start.Add(time.Hour), "Cliente C", "3003333333", "")
		e.setClock(start.Add(-23*time.Hour + time.Second))
		if _, err := e.svc.RunTenant(t.Context(), a.org.ID); err != nil {
			t.Fatal(err)
		}
		log := e.log(t, a, idc)
		if len(log.Deliveries) != 2 || log.Deliveries[1].Result != "fallido" || !strings.Contains(log.Deliveries[1].Error, "does not open") {
			t.Fatalf("a's reminder with b's token: %+v", log.Deliveries)
		}
		// b's own token works, on b's own number.
		before := e.wa.count()
		if _, err := e.svc.RunTenant(t.Context(), b.org.ID); err != nil {
			t.Fatal(err)
		}
		n := e.wa.count()
		e.wa.mu.Lock()
		defer e.wa.mu.Unlock()
		if n != before+1 || e.wa.paths[before] != "/v21.0/999/messages" || e.wa.auth[before] != "Bearer token-de-b" {
			t.Fatalf("b's message: %v %v", e.wa.paths[before:], e.wa.auth[before:])
		}
	})
}

func TestSettings(t *testing.T) {
	t.Parallel()
	e := setup(t)
	tn := e.newTenant(t, "Spa", 1)
	put := func(in reminders.SettingsInput) error {
		return e.m.Run(t.Context(), tn.t, func(tx pgx.Tx) error {
			_, err := e.svc.PutSettings(t.Context(), tx, tn.org.ID, in)
			return err
		})
	}
	t.Run("DefaultsAreOffWith24And2Hours", func(t *testing.T) {
		e.run(t, tn, func(ctx context.Context, tx pgx.Tx) error {
			s, err := reminders.GetSettings(ctx, tx)
			if s.Enabled || len(s.OffsetsMinutes) != 2 || s.OffsetsMinutes[0] != 1440 || s.OffsetsMinutes[1] != 120 || !s.Email || s.WhatsApp {
				t.Fatalf("defaults %+v", s)
			}
			return err
		})
	})
	for name, in := range map[string]reminders.SettingsInput{
		"RejectsNoOffsets":        {OffsetsMinutes: []int{}},
		"RejectsTinyOffset":       {OffsetsMinutes: []int{1}},
		"RejectsRepeatedOffset":   {OffsetsMinutes: []int{60, 60}},
		"RejectsTooManyOffsets":   {OffsetsMinutes: []int{10, 20, 30, 40, 50, 60, 70}},
		"RejectsUnknownLanguage":  {Language: ptr("fr")},
		"RejectsBadTemplateName":  {WhatsAppTemplate: ptr("Recordatorio Cita")},
		"RejectsBadTemplateLang":  {WhatsAppLanguage: ptr("español")},
		"RejectsBadPhoneNumberID": {WhatsAppPhoneNumberID: ptr("12ab")},
		"RejectsTokenWithoutID":   {WhatsAppToken: ptr("x")},
		"RejectsNoChannel":        {Enabled: ptr(true), Email: ptr(false)},
	} {
		t.Run(name, func(t *testing.T) {
			if err := put(in); !errors.Is(err, reminders.ErrInvalid) {
				t.Fatalf("err = %v, want ErrInvalid", err)
			}
		})
	}
	t.Run("RejectsTokenWithoutSecretsKey", func(t *testing.T) {
		svc, err := reminders.New(e.m, reminders.Options{})
		if err != nil {
			t.Fatal(err)
		}
		err = e.m.Run(t.Context(), tn.t, func(tx pgx.Tx) error {
			_, err := svc.PutSettings(t.Context(), tx, tn.org.ID, reminders.SettingsInput{WhatsAppPhoneNumberID: ptr("1"), WhatsAppToken: ptr("x")})
			return err
		})
		if !errors.Is(err, reminders.ErrNoSecretsKey) {
			t.Fatalf("err = %v", err)
		}
	})
}
