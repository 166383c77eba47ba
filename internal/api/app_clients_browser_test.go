package api

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/appcitas/appcitas/internal/booking"
)

// TestAppClientsInBrowser walks the client directory as a receptionist's day does: search, create,
// edit notes, a client's history with a no-show, merging two, and booking a new appointment for an
// existing client and for one created on the spot; then the keyboard, English and the phone width.
func TestAppClientsInBrowser(t *testing.T) {
	t.Parallel()
	bk := setupBookingOn(setup(t, nil))
	srv := httptest.NewServer(bk.h)
	t.Cleanup(srv.Close)
	newClient := func(body map[string]any) booking.Client {
		t.Helper()
		var c booking.Client
		bk.ok("POST", "/api/clientes", body, bk.adminH, http.StatusCreated, &c)
		return c
	}
	ana := newClient(map[string]any{"nombre": "Ana Duplicada", "telefono": "+57 311 000 0001"})
	dup := newClient(map[string]any{"nombre": "Ana D.", "email": "ana.d@example.com", "notas": "Llega tarde"})
	bruno := newClient(map[string]any{"nombre": "Bruno Existente", "telefono": "+57 312 000 0002"})
	var missed booking.Appointment
	bk.ok("POST", "/api/citas", map[string]any{"sede_id": bk.branchID, "servicio_id": bk.serviceID, "profesional_id": bk.staffProfile,
		"inicio": "2026-12-09T16:00:00Z", "cliente_id": ana.ID, "forzar": true}, bk.adminH, http.StatusCreated, &missed)
	bk.ok("POST", fmt.Sprintf("/api/citas/%d/no-asistio", missed.ID), nil, bk.adminH, http.StatusOK, nil)
	getClient := func(id int64) booking.Client {
		t.Helper()
		var c booking.Client
		bk.ok("GET", fmt.Sprintf("/api/clientes/%d", id), nil, bk.adminH, http.StatusOK, &c)
		return c
	}
	appointmentAt := func(utc string) booking.Appointment {
		t.Helper()
		var page booking.AppointmentPage
		bk.ok("GET", "/api/citas?desde=2026-12-09&hasta=2026-12-09", nil, bk.adminH, http.StatusOK, &page)
		for _, a := range page.Items {
			if a.Start.UTC().Format("15:04") == utc && a.Status != booking.StatusCancelled {
				return a
			}
		}
		t.Fatalf("no appointment at %sZ on 9 December", utc)
		return booking.Appointment{}
	}

	b := startAppBrowser(t)
	b.do("opening /app", chromedp.Navigate(srv.URL+"/app"))
	b.login("recepcion", "password-recepcion")
	b.do("waiting for the agenda", chromedp.WaitVisible(chromedp.CSS("#agenda-view")))
	b.set("branch-select", strconv.FormatInt(bk.branchID, 10))
	b.set("day", "2026-12-09")

	parent := t
	run := func(name string, f func(t *testing.T)) {
		t.Run(name, func(t *testing.T) {
			b.t = t
			defer func() { b.t = parent }()
			f(t)
		})
	}
	rows := `document.querySelectorAll('#cl-list .client-row').length`
	row := func(id int64) string { return fmt.Sprintf(`#cl-list .client-row[data-id="%d"]`, id) }

	run("SearchesTheDirectory", func(t *testing.T) {
		b.do("opening the directory", chromedp.Click(chromedp.CSS("#clients-open")), chromedp.WaitVisible(chromedp.CSS("#clients-view")),
			chromedp.Poll[chromedp.Void](rows+` === 3`))
		if id := b.eval("reading the focus", `document.activeElement.id`); id != "clients-title" {
			t.Errorf("the focus is on %v, want the directory's title", id)
		}
		b.do("searching ana", chromedp.SendKeys(chromedp.CSS("#cl-q"), "ana"), chromedp.Click(chromedp.CSS("#cl-search-submit")),
			chromedp.Poll[chromedp.Void](rows+` === 2`))
		b.do("searching by phone digits", chromedp.Evaluate[chromedp.Void](`document.getElementById('cl-q').value = ''`),
			chromedp.SendKeys(chromedp.CSS("#cl-q"), "312 000"), chromedp.Click(chromedp.CSS("#cl-search-submit")),
			chromedp.Poll[chromedp.Void](rows+` === 1 && !!document.querySelector('`+row(bruno.ID)+`')`))
	})

	run("CreatesAClient", func(t *testing.T) {
		b.do("filling a new client", chromedp.Click(chromedp.CSS("#cl-new")), chromedp.WaitVisible(chromedp.CSS("#cl-name")),
			chromedp.SendKeys(chromedp.CSS("#cl-name"), "Carla <i>Nueva</i>"), chromedp.SendKeys(chromedp.CSS("#cl-phone"), "+57 313 000 0003"),
			chromedp.Click(chromedp.CSS("#cl-save")),
			chromedp.Poll[chromedp.Void](`document.getElementById('cl-msg').textContent === 'Cliente creado.'`))
		var page booking.ClientPage
		bk.ok("GET", "/api/clientes?q=Carla", nil, bk.adminH, http.StatusOK, &page)
		if len(page.Items) != 1 || page.Items[0].Name != "Carla <i>Nueva</i>" {
			t.Fatalf("created %+v", page.Items)
		}
		if got := b.text("#cl-record-title"); got != "Carla <i>Nueva</i>" {
			t.Errorf("the record's title is %q (not escaped?)", got)
		}
		if n := b.eval("looking for injected markup", `document.querySelectorAll('#clients-view i').length`).(float64); n != 0 {
			t.Error("the client's name became markup")
		}
		b.do("saving the same phone again", chromedp.Click(chromedp.CSS("#cl-new")),
			chromedp.SendKeys(chromedp.CSS("#cl-name"), "Otra Carla"), chromedp.SendKeys(chromedp.CSS("#cl-phone"), "(57) 313-000-0003"),
			chromedp.Click(chromedp.CSS("#cl-save")),
			chromedp.Poll[chromedp.Void](`document.getElementById('cl-msg').textContent.startsWith('Ya existe un cliente')`))
	})

	run("EditsNotesAndShowsTheHistoryWithANoShow", func(t *testing.T) {
		b.do("opening Ana", chromedp.Evaluate[chromedp.Void](`document.getElementById('cl-q').value = 'ana'`),
			chromedp.Click(chromedp.CSS("#cl-search-submit")), chromedp.WaitVisible(chromedp.CSS(row(ana.ID))),
			chromedp.Click(chromedp.CSS(row(ana.ID))),
			chromedp.Poll[chromedp.Void](`document.getElementById('cl-record-title').textContent === 'Ana Duplicada'`))
		if got := b.text("#cl-counts"); got != "1 cita · 1 inasistencia" {
			t.Errorf("counts show %q", got)
		}
		if n := b.eval("counting the history", `document.querySelectorAll('#cl-history li.no_asistio').length`).(float64); n != 1 {
			t.Errorf("the history shows %v no-shows, want 1", n)
		}
		if got := b.text("#cl-history"); !strings.Contains(got, "No asistió") {
			t.Errorf("the history reads %q", got)
		}
		b.do("writing a note", chromedp.SendKeys(chromedp.CSS("#cl-notes"), "Prefiere la tarde"), chromedp.Click(chromedp.CSS("#cl-save")),
			chromedp.Poll[chromedp.Void](`document.getElementById('cl-msg').textContent === 'Cliente guardado.'`))
		if got := getClient(ana.ID).Notes; got != "Prefiere la tarde" {
			t.Errorf("notes saved as %q", got)
		}
	})

	run("MergesTwoClients", func(t *testing.T) {
		b.do("finding the duplicate", chromedp.SendKeys(chromedp.CSS("#cl-merge-q"), "ana.d"), chromedp.Click(chromedp.CSS("#cl-merge-find")),
			chromedp.Poll[chromedp.Void](fmt.Sprintf(`!!document.querySelector('#cl-merge-pick option[value="%d"]')`, dup.ID)))
		b.set("cl-merge-pick", strconv.FormatInt(dup.ID, 10))
		b.do("merging", chromedp.Click(chromedp.CSS("#cl-merge-submit")),
			chromedp.Poll[chromedp.Void](`document.getElementById('cl-msg').textContent === 'Clientes fusionados.'`))
		bk.ok("GET", fmt.Sprintf("/api/clientes/%d", dup.ID), nil, bk.adminH, http.StatusNotFound, nil)
		merged := getClient(ana.ID)
		if merged.Email != "ana.d@example.com" || !strings.Contains(merged.Notes, "Llega tarde") {
			t.Errorf("merged %+v", merged)
		}
		if got := b.eval("reading the notes", `document.getElementById('cl-notes').value`).(string); !strings.Contains(got, "Llega tarde") {
			t.Errorf("the record's notes after merging: %q", got)
		}
	})

	slot := func(hhmm string) string { return fmt.Sprintf(`#bk-slots input[value^="2026-12-09T%s"]`, hhmm) }
	openBooking := func(hhmm string) {
		b.do("opening the booking dialog", chromedp.Click(chromedp.CSS("#new-appt")), chromedp.WaitVisible(chromedp.CSS("#book-dialog[open] #bk-client-q")),
			chromedp.WaitVisible(chromedp.CSS(slot(hhmm))), chromedp.Click(chromedp.CSS(slot(hhmm))))
	}

	run("BooksForAnExistingClient", func(t *testing.T) {
		b.do("back to the agenda", chromedp.Click(chromedp.CSS("#clients-close")), chromedp.WaitVisible(chromedp.CSS("#agenda-view")))
		openBooking("09:00")
		pick := fmt.Sprintf(`#bk-client-results input[value="%d"]`, bruno.ID)
		b.do("searching Bruno", chromedp.SendKeys(chromedp.CSS("#bk-client-q"), "bruno"), chromedp.WaitVisible(chromedp.CSS(pick)))
		b.do("booking without a client", chromedp.Click(chromedp.CSS("#bk-submit")),
			chromedp.Poll[chromedp.Void](`document.getElementById('bk-msg').textContent === 'Elige un cliente o crea uno.'`))
		b.do("booking for Bruno", chromedp.Click(chromedp.CSS(pick)), chromedp.Click(chromedp.CSS("#bk-submit")),
			chromedp.Poll[chromedp.Void](`!document.getElementById('book-dialog').open`))
		a := appointmentAt("14:00")
		if a.ClientID == nil || *a.ClientID != bruno.ID || a.ClientName != "Bruno Existente" {
			t.Errorf("booked %+v, want Bruno's", a)
		}
	})

	run("BooksForAClientCreatedOnTheSpot", func(t *testing.T) {
		openBooking("10:00")
		b.do("creating Diego", chromedp.SendKeys(chromedp.CSS("#bk-client-q"), "Diego Nuevo"),
			chromedp.WaitVisible(chromedp.CSS("#bk-client-new")), chromedp.Click(chromedp.CSS("#bk-client-new")),
			chromedp.WaitVisible(chromedp.CSS("#bk-phone")), chromedp.SendKeys(chromedp.CSS("#bk-phone"), "+57 314 000 0004"),
			chromedp.Click(chromedp.CSS("#bk-submit")), chromedp.Poll[chromedp.Void](`!document.getElementById('book-dialog').open`))
		var page booking.ClientPage
		bk.ok("GET", "/api/clientes?q=Diego", nil, bk.adminH, http.StatusOK, &page)
		if len(page.Items) != 1 || page.Items[0].Phone != "+57 314 000 0004" {
			t.Fatalf("clients named Diego: %+v", page.Items)
		}
		a := appointmentAt("15:00")
		if a.ClientID == nil || *a.ClientID != page.Items[0].ID || a.ClientName != "Diego Nuevo" {
			t.Errorf("booked %+v, want Diego's", a)
		}
	})

	run("WorksByKeyboardAtPhoneWidth", func(t *testing.T) {
		b.do("narrowing to 390 px", chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile))
		b.do("opening the directory by keyboard", chromedp.Focus(chromedp.CSS("#clients-open")), chromedp.KeyEvent("\r"),
			chromedp.WaitVisible(chromedp.CSS("#clients-view")), chromedp.Poll[chromedp.Void](rows+` >= 1`))
		b.do("searching by keyboard", chromedp.Evaluate[chromedp.Void](`document.getElementById('cl-q').value = ''`),
			chromedp.SendKeys(chromedp.CSS("#cl-q"), "diego\r"),
			chromedp.Poll[chromedp.Void](rows+` === 1 && document.querySelector('#cl-list .cn').textContent === 'Diego Nuevo'`))
		b.do("opening Diego by keyboard", chromedp.Focus(chromedp.CSS("#cl-list .client-row")), chromedp.KeyEvent("\r"),
			chromedp.Poll[chromedp.Void](`document.getElementById('cl-record-title').textContent === 'Diego Nuevo'`))
		b.do("switching to English", chromedp.Click(chromedp.CSS("#lang")),
			chromedp.Poll[chromedp.Void](`document.getElementById('cl-counts').textContent === '1 appointment · 0 no-shows'`),
			chromedp.Poll[chromedp.Void](`document.querySelector('#cl-list .ck')?.textContent === '1 appointment · 0 no-shows'`))
		if got := b.text("#clients-title"); got != "Clients" {
			t.Errorf("the title in English is %q", got)
		}
		b.do("switching back", chromedp.Click(chromedp.CSS("#lang")),
			chromedp.Poll[chromedp.Void](`document.getElementById('cl-counts').textContent === '1 cita · 0 inasistencias'`))
		w := b.eval("measuring", `[window.innerWidth, document.documentElement.scrollWidth, document.body.scrollWidth]`).([]any)
		if w[1].(float64) > w[0].(float64) || w[2].(float64) > w[0].(float64) {
			t.Errorf("at 390 px the directory is %v/%v px wide for a %v px screen", w[1], w[2], w[0])
		}
		b.do("widening again", chromedp.EmulateViewport(1400, 900))
	})
	b.checkProblems()
}
