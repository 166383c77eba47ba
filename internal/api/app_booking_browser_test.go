package api

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/appcitas/appcitas/internal/booking"
)

// TestAppBooking walks booking and changing appointments in the web app: a booking through the
// dialog, a slot taken meanwhile (409), reschedule, confirm, cancel with a reason, a staff member
// who cannot open another's appointment, and the dialog at phone width.
func TestAppBooking(t *testing.T) {
	t.Parallel()
	bk := setupBookingOn(setup(t, nil))
	// When loseNext is set, the next booking is saved but its answer is lost: the page gets a 503
	// outcome_unknown, as when the database's commit answer never arrives.
	var (
		mu       sync.Mutex
		loseNext bool
		keys     []string
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.URL.Path != "/api/citas" {
			bk.h.ServeHTTP(w, r)
			return
		}
		mu.Lock()
		lose := loseNext
		loseNext = false
		keys = append(keys, r.Header.Get("Idempotency-Key"))
		mu.Unlock()
		if !lose {
			bk.h.ServeHTTP(w, r)
			return
		}
		bk.h.ServeHTTP(httptest.NewRecorder(), r)
		writeError(w, http.StatusServiceUnavailable, "outcome_unknown", "the change may have been saved")
	}))
	t.Cleanup(srv.Close)

	bk.ok("PATCH", fmt.Sprintf("/api/miembros/%d", bk.staffProfile), map[string]any{"nombre_visible": "Juan Gómez"}, bk.adminH, http.StatusOK, nil)
	// Pedro works at the same branch and has one appointment that Juan must not open.
	pedro := bk.createUser("pedro", false)
	bk.addProfile(bk.org, pedro, booking.RoleStaff, true)
	var members listOf[booking.Member]
	bk.ok("GET", "/api/miembros", nil, bk.adminH, http.StatusOK, &members)
	var pedroProfile int64
	for _, m := range members.Items {
		if m.UserID == pedro.ID {
			pedroProfile = m.ID
		}
	}
	bk.ok("PATCH", fmt.Sprintf("/api/miembros/%d", pedroProfile), map[string]any{"nombre_visible": "Pedro Ruiz"}, bk.adminH, http.StatusOK, nil)
	var pedroAppt booking.Appointment
	bk.ok("POST", "/api/citas", map[string]any{"sede_id": bk.branchID, "servicio_id": bk.serviceID, "profesional_id": pedroProfile,
		"inicio": "2026-12-09T16:00:00Z", "cliente_nombre": "Carlos Ruiz", "forzar": true}, bk.adminH, http.StatusCreated, &pedroAppt)

	list := func() []booking.Appointment {
		t.Helper()
		var page booking.AppointmentPage
		bk.ok("GET", fmt.Sprintf("/api/citas?desde=2026-12-09&hasta=2026-12-09&profesional_id=%d", bk.staffProfile), nil, bk.adminH, http.StatusOK, &page)
		return page.Items
	}
	byClient := func(name string) booking.Appointment {
		t.Helper()
		for _, a := range list() {
			if a.ClientName == name {
				return a
			}
		}
		t.Fatalf("no appointment of %s on 9 December", name)
		return booking.Appointment{}
	}

	shots := os.Getenv("APPCITAS_APP_SCREENSHOTS")
	b := startAppBrowser(t)
	b.do("opening /app", chromedp.Navigate(srv.URL+"/app"))
	b.login("admin", "password-admin")
	b.do("waiting for the agenda", chromedp.WaitVisible(chromedp.CSS("#agenda .col-head")))
	b.set("branch-select", strconv.FormatInt(bk.branchID, 10))
	b.set("day", "2026-12-09")
	b.do("waiting for the day", chromedp.Poll[chromedp.Void](`document.getElementById('agenda-title').textContent.includes('9')`))

	parent := t
	run := func(name string, f func(t *testing.T)) {
		t.Run(name, func(t *testing.T) {
			b.t = t
			defer func() { b.t = parent }()
			f(t)
		})
	}
	// Slot values are RFC 3339 in the branch's zone: 9:00 in Bogotá is 2026-12-09T09:00:00-05:00.
	slot := func(box, hhmm string) string {
		return fmt.Sprintf(`#%s input[value^="2026-12-09T%s"]`, box, hhmm)
	}
	openBooking := func(first string) {
		b.do("opening the booking dialog", chromedp.Click(chromedp.CSS("#new-appt")), chromedp.WaitVisible(chromedp.CSS("#book-dialog[open] #bk-service")))
		b.do("waiting for the slots", chromedp.WaitVisible(chromedp.CSS(slot("bk-slots", first))))
	}
	// typeClient creates the client on the spot (the client step's last choice), with a phone and
	// an email of its own: the n-th client typed gets +57 300 555 000n and clienten@example.com.
	typed := 0
	typeClient := func(name string) {
		typed++
		b.do("typing the client", chromedp.Click(chromedp.CSS("#bk-client-new")), chromedp.WaitVisible(chromedp.CSS("#bk-name")),
			chromedp.SendKeys(chromedp.CSS("#bk-name"), name),
			chromedp.SendKeys(chromedp.CSS("#bk-phone"), fmt.Sprintf("+57 300 555 000%d", typed)),
			chromedp.SendKeys(chromedp.CSS("#bk-email"), fmt.Sprintf("cliente%d@example.com", typed)),
		)
	}

	run("BooksThroughTheDialogAndShowsItOnTheAgenda", func(t *testing.T) {
		openBooking("09:00")
		if in := b.eval("checking the focus", `!!document.activeElement.closest('#book-dialog')`).(bool); !in {
			t.Error("opening the dialog did not move the focus into it")
		}
		if opt := b.eval("reading the staff choices", `document.getElementById('bk-staff').options[0].textContent`); opt != "Cualquiera" {
			t.Errorf("the first staff choice is %v, want Cualquiera", opt)
		}
		b.do("picking 9:00", chromedp.Click(chromedp.CSS(slot("bk-slots", "09:00"))))
		typeClient("Ana <b>Torres</b>")
		b.screenshot(shots, "reserva.png")
		b.do("booking", chromedp.Click(chromedp.CSS("#bk-submit")),
			chromedp.Poll[chromedp.Void](`!document.getElementById('book-dialog').open`))
		a := byClient("Ana <b>Torres</b>")
		if a.StaffID != bk.staffProfile || a.ClientEmail != "cliente1@example.com" || a.ClientID == nil || a.Start.UTC().Format("15:04") != "14:00" {
			t.Errorf("booked %+v, want Juan at 14:00Z with the email", a)
		}
		sel := fmt.Sprintf(`.appt[data-id="%d"]`, a.ID)
		b.do("waiting for the appointment on the agenda", chromedp.WaitVisible(chromedp.CSS(sel)))
		if got := b.text(sel + " .cl"); got != "Ana <b>Torres</b>" {
			t.Errorf("the agenda shows the client as %q (not escaped?)", got)
		}
		if n := b.eval("looking for injected markup", `document.querySelectorAll('#agenda b').length`).(float64); n != 0 {
			t.Error("the client's name became markup")
		}
		if focus := b.eval("checking the focus", `document.activeElement.id`); focus != "new-appt" {
			t.Errorf("after the dialog closed the focus is on %q, want #new-appt", focus)
		}
	})

	run("SlotTakenMeanwhileIsExplainedAndRefreshed", func(t *testing.T) {
		openBooking("10:00")
		b.do("picking 10:00", chromedp.Click(chromedp.CSS(slot("bk-slots", "10:00"))))
		typeClient("Beatriz Gil")
		// Someone else books 10:00 with Juan before the click on Reservar.
		bk.ok("POST", "/api/citas", map[string]any{"sede_id": bk.branchID, "servicio_id": bk.serviceID, "profesional_id": bk.staffProfile,
			"inicio": "2026-12-09T15:00:00Z", "cliente_nombre": "Otro Cliente"}, bk.receptionH, http.StatusCreated, nil)
		b.do("booking the taken slot", chromedp.Click(chromedp.CSS("#bk-submit")), chromedp.WaitVisible(chromedp.CSS("#bk-msg")))
		if msg := b.text("#bk-msg"); !strings.Contains(msg, "Ese horario se acaba de ocupar") {
			t.Errorf("the 409 message is %q", msg)
		}
		if !b.eval("checking the dialog", `document.getElementById('book-dialog').open`).(bool) {
			t.Error("the dialog closed on a 409")
		}
		if n := b.eval("looking for 10:00", `document.querySelectorAll('`+slot("bk-slots", "10:00")+`').length`).(float64); n != 0 {
			t.Error("the refreshed slots still offer 10:00")
		}
		if n := b.eval("counting slots", `document.querySelectorAll('#bk-slots input').length`).(float64); n == 0 {
			t.Error("the slots were not refreshed")
		}
		if flash := b.eval("reading the flash", `document.getElementById('flash').hidden ? '' : document.getElementById('flash').textContent`).(string); flash != "" {
			t.Errorf("a raw error reached the page: %q", flash)
		}
		for _, a := range list() {
			if a.ClientName == "Beatriz Gil" {
				t.Error("the taken slot was booked twice")
			}
		}
		b.do("closing with Escape", chromedp.SendKeys(chromedp.CSS("#bk-submit"), "\x1b"),
			chromedp.Poll[chromedp.Void](`!document.getElementById('book-dialog').open`))
	})

	run("RetriesWithTheSameIdempotencyKeyWhenTheOutcomeIsUnknown", func(t *testing.T) {
		openBooking("15:00")
		b.do("picking 15:00", chromedp.Click(chromedp.CSS(slot("bk-slots", "15:00"))))
		typeClient("Diana Mora")
		mu.Lock()
		loseNext, keys = true, nil
		mu.Unlock()
		b.do("booking with the answer lost", chromedp.Click(chromedp.CSS("#bk-submit")), chromedp.WaitVisible(chromedp.CSS("#bk-msg")))
		if msg := b.text("#bk-msg"); !strings.Contains(msg, "No sabemos si la cita quedó guardada") {
			t.Errorf("the 503 message is %q", msg)
		}
		// The agenda redraws after the dialog closes: wait for the new box, so that the next step
		// does not grab a box the redraw is about to replace.
		b.do("retrying", chromedp.Click(chromedp.CSS("#bk-submit")), chromedp.Poll[chromedp.Void](`!document.getElementById('book-dialog').open`),
			chromedp.Poll[chromedp.Void](`document.getElementById('agenda').textContent.includes('Diana Mora')`))
		mu.Lock()
		sent := append([]string(nil), keys...)
		mu.Unlock()
		if len(sent) != 2 || sent[0] == "" || sent[0] != sent[1] || len(sent[0]) != 36 {
			t.Errorf("Idempotency-Keys sent: %q, want one UUID twice", sent)
		}
		n := 0
		for _, a := range list() {
			if a.ClientName == "Diana Mora" {
				n++
			}
		}
		if n != 1 {
			t.Errorf("Diana Mora has %d appointments, want 1", n)
		}
	})

	run("ReschedulesToANewFreeSlot", func(t *testing.T) {
		a := byClient("Ana <b>Torres</b>")
		sel := fmt.Sprintf(`.appt[data-id="%d"]`, a.ID)
		// The keyboard opens the appointment: Enter on the focused box.
		b.do("opening the appointment by keyboard", chromedp.SendKeys(chromedp.CSS(sel), "\r"),
			chromedp.WaitVisible(chromedp.CSS("#cita-dialog[open] #ct-summary")),
			chromedp.WaitVisible(chromedp.CSS(slot("ct-slots", "11:00"))))
		b.do("moving to 11:00", chromedp.Click(chromedp.CSS(slot("ct-slots", "11:00"))), chromedp.Click(chromedp.CSS("#ct-move")),
			chromedp.Poll[chromedp.Void](`!document.getElementById('cita-dialog').open`))
		if got := byClient("Ana <b>Torres</b>").Start.UTC().Format("15:04"); got != "16:00" {
			t.Errorf("rescheduled to %sZ, want 16:00Z (11:00 in Bogotá)", got)
		}
		b.do("waiting for the moved box", chromedp.Poll[chromedp.Void](`document.querySelector('`+sel+`')?.dataset.start === '660'`))
	})

	run("ConfirmsAnAppointment", func(t *testing.T) {
		a := byClient("Ana <b>Torres</b>")
		sel := fmt.Sprintf(`.appt[data-id="%d"]`, a.ID)
		b.do("confirming", chromedp.Click(chromedp.CSS(sel)), chromedp.WaitVisible(chromedp.CSS("#cita-dialog[open] #ct-confirm")),
			chromedp.Click(chromedp.CSS("#ct-confirm")), chromedp.Poll[chromedp.Void](`!document.getElementById('cita-dialog').open`))
		if st := byClient("Ana <b>Torres</b>").Status; st != booking.StatusConfirmed {
			t.Errorf("status = %s, want confirmada", st)
		}
		b.do("waiting for the state on the agenda", chromedp.Poll[chromedp.Void](`document.querySelector('`+sel+`')?.classList.contains('confirmada')`))
	})

	run("CancelsWithAReason", func(t *testing.T) {
		a := byClient("Otro Cliente")
		sel := fmt.Sprintf(`.appt[data-id="%d"]`, a.ID)
		b.do("opening", chromedp.Click(chromedp.CSS(sel)), chromedp.WaitVisible(chromedp.CSS("#cita-dialog[open] #ct-reason")))
		b.do("cancelling without a reason", chromedp.Click(chromedp.CSS("#ct-cancel")))
		if !b.eval("checking the dialog", `document.getElementById('cita-dialog').open`).(bool) {
			t.Error("cancelling without a reason closed the dialog")
		}
		b.do("cancelling", chromedp.SendKeys(chromedp.CSS("#ct-reason"), "El cliente llamó"), chromedp.Click(chromedp.CSS("#ct-cancel")),
			chromedp.Poll[chromedp.Void](`!document.getElementById('cita-dialog').open`))
		got := byClient("Otro Cliente")
		if got.Status != booking.StatusCancelled || got.CancellationReason != "El cliente llamó" {
			t.Errorf("after cancelling: status %s, reason %q", got.Status, got.CancellationReason)
		}
		b.do("waiting for the state on the agenda", chromedp.Poll[chromedp.Void](`document.querySelector('`+sel+`')?.classList.contains('cancelada')`))
	})

	run("FitsAPhoneWidth", func(t *testing.T) {
		b.do("narrowing to 390 px", chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile))
		openBooking("14:00")
		w := b.eval("measuring", `[window.innerWidth, document.documentElement.scrollWidth, document.getElementById('book-dialog').getBoundingClientRect().right]`).([]any)
		if w[1].(float64) > w[0].(float64) || w[2].(float64) > w[0].(float64) {
			t.Errorf("at 390 px the page is %v px wide and the dialog ends at %v px for a %v px screen", w[1], w[2], w[0])
		}
		b.do("closing", chromedp.Click(chromedp.CSS("#book-dialog .close")), chromedp.EmulateViewport(1400, 900))
	})

	run("StaffCannotOpenAnotherStaffMembersAppointment", func(t *testing.T) {
		bk.ok("GET", fmt.Sprintf("/api/citas/%d", pedroAppt.ID), nil, bk.staffH, http.StatusNotFound, nil)
		b.do("signing out", chromedp.Click(chromedp.CSS("#logout")), chromedp.WaitVisible(chromedp.CSS("#login-form")))
		b.login("juan", "password-juan")
		b.do("waiting for Juan's agenda", chromedp.WaitVisible(chromedp.CSS("#agenda .col-head")))
		b.set("branch-select", strconv.FormatInt(bk.branchID, 10))
		b.set("day", "2026-12-09")
		b.do("waiting for Juan's appointment", chromedp.WaitVisible(chromedp.CSS(fmt.Sprintf(`.appt[data-id="%d"]`, byClient("Ana <b>Torres</b>").ID))))
		if n := b.eval("looking for Pedro's appointment", fmt.Sprintf(`document.querySelectorAll('.appt[data-id="%d"]').length`, pedroAppt.ID)).(float64); n != 0 {
			t.Error("Juan's agenda shows Pedro's appointment")
		}
		b.do("opening the booking dialog", chromedp.Click(chromedp.CSS("#new-appt")), chromedp.WaitVisible(chromedp.CSS("#book-dialog[open] #bk-staff")))
		opts := b.eval("listing staff choices", `Array.from(document.getElementById('bk-staff').options).map((o) => o.value).join(',')`)
		if opts != strconv.FormatInt(bk.staffProfile, 10) {
			t.Errorf("Juan may book for %v, want only himself", opts)
		}
		b.do("closing", chromedp.Click(chromedp.CSS("#book-dialog .close")))
	})
	b.checkProblems()
}
