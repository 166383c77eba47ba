package api

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/appcitas/appcitas/internal/booking"
)

// held is a mouse option for a move with the left button down.
func held(p *input.DispatchMouseEventParams) {
	p.Button = input.MouseButtonLeft
	p.Buttons = 1
}

// mouseDrag presses the left button at from, moves in steps to to, and releases there unless
// keep is set.
func mouseDrag(from, to [2]float64, steps int, keep bool) []chromedp.Action[chromedp.Void] {
	acts := []chromedp.Action[chromedp.Void]{
		chromedp.MouseEvent(chromedp.MouseMoved, from[0], from[1]),
		chromedp.MouseEvent(chromedp.MousePressed, from[0], from[1], held, func(p *input.DispatchMouseEventParams) { p.ClickCount = 1 }),
	}
	for i := 1; i <= steps; i++ {
		f := float64(i) / float64(steps)
		acts = append(acts, chromedp.MouseEvent(chromedp.MouseMoved, from[0]+(to[0]-from[0])*f, from[1]+(to[1]-from[1])*f, held))
	}
	if !keep {
		acts = append(acts, chromedp.MouseEvent(chromedp.MouseReleased, to[0], to[1], held, func(p *input.DispatchMouseEventParams) { p.ClickCount = 1 }))
	}
	return acts
}

// touch sends one touch event with one finger at p (none for the end).
func touch(typ input.DispatchTouchEventType, p [2]float64) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
		pts := []*input.TouchPoint{}
		if typ != input.DispatchTouchEventTypeTouchEnd {
			pts = append(pts, &input.TouchPoint{X: p[0], Y: p[1]})
		}
		_, err := chromedp.Call(ctx, input.DispatchTouchEvent, input.DispatchTouchEventParams{Type: typ, TouchPoints: pts})
		return err
	})
}

// TestAppDragMove walks moving appointments on the agenda by dragging them: with the mouse to a
// free time of another staff member, onto a taken time (the API's 409, explained, nothing moves),
// into a break (422), Escape in the middle of a drag, a drop outside the agenda, a click that
// still opens the appointment, Alt + arrows from the keyboard, another day in the week view, a
// finger's long press at 390 px (and a quick swipe that only scrolls), and a staff member who can
// move only their own.
func TestAppDragMove(t *testing.T) {
	t.Parallel()
	bk := setupBookingOn(setup(t, nil))
	srv := httptest.NewServer(bk.h)
	t.Cleanup(srv.Close)

	// A day three days ahead in Bogotá: every time on it is in the future, and no "now" line.
	bogota, err := time.LoadLocation("America/Bogota")
	if err != nil {
		t.Fatal(err)
	}
	day := time.Now().In(bogota).AddDate(0, 0, 3)
	dayStr := day.Format("2006-01-02")
	at := func(hhmm string) time.Time {
		t.Helper()
		v, err := time.ParseInLocation("2006-01-02 15:04", dayStr+" "+hhmm, bogota)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}

	bk.ok("PATCH", fmt.Sprintf("/api/miembros/%d", bk.staffProfile), map[string]any{"nombre_visible": "Juan Gómez"}, bk.adminH, http.StatusOK, nil)
	// Pablo works at the same branch, every day 9:00 to 18:00.
	pablo := bk.createUser("pablo", false)
	bk.addProfile(bk.org, pablo, booking.RoleStaff, true)
	var members listOf[booking.Member]
	bk.ok("GET", "/api/miembros", nil, bk.adminH, http.StatusOK, &members)
	var pabloProfile int64
	for _, m := range members.Items {
		if m.UserID == pablo.ID {
			pabloProfile = m.ID
		}
	}
	bk.ok("PATCH", fmt.Sprintf("/api/miembros/%d", pabloProfile), map[string]any{"nombre_visible": "Pablo Díaz"}, bk.adminH, http.StatusOK, nil)
	var week []map[string]any
	for d := range 7 {
		week = append(week, map[string]any{"sede_id": bk.branchID, "dia_semana": d, "hora_inicio": "09:00", "hora_fin": "18:00"})
	}
	bk.ok("PUT", fmt.Sprintf("/api/miembros/%d/horario", pabloProfile), map[string]any{"horario": week}, bk.adminH, http.StatusOK, nil)

	book := func(staff int64, hhmm, client string) booking.Appointment {
		t.Helper()
		var a booking.Appointment
		bk.ok("POST", "/api/citas", map[string]any{"sede_id": bk.branchID, "servicio_id": bk.serviceID, "profesional_id": staff,
			"inicio": at(hhmm).Format(time.RFC3339), "cliente_nombre": client}, bk.adminH, http.StatusCreated, &a)
		return a
	}
	ana := book(bk.staffProfile, "10:00", "Ana Torres")
	beto := book(bk.staffProfile, "12:00", "Beto Gil")
	dario := book(bk.staffProfile, "15:00", "Darío Mora")
	carla := book(pabloProfile, "11:00", "Carla Ruiz")
	elena := book(bk.staffProfile, "16:30", "Elena Paz")
	bk.ok("POST", fmt.Sprintf("/api/citas/%d/cancelar", elena.ID), map[string]any{"motivo": "Viaje"}, bk.adminH, http.StatusOK, nil)

	get := func(id int64) booking.Appointment {
		t.Helper()
		var a booking.Appointment
		bk.ok("GET", fmt.Sprintf("/api/citas/%d", id), nil, bk.adminH, http.StatusOK, &a)
		return a
	}

	b := startAppBrowser(t)
	parent := t
	run := func(name string, f func(t *testing.T)) {
		t.Run(name, func(t *testing.T) {
			b.t = t
			defer func() { b.t = parent }()
			f(t)
		})
	}
	box := func(id int64) string { return fmt.Sprintf(`.appt[data-id="%d"]`, id) }
	// point returns the viewport point 8 px below the top of the appointment's box, at its middle.
	point := func(id int64) [2]float64 {
		b.t.Helper()
		v := b.eval("finding the appointment", fmt.Sprintf(`(() => { const r = document.querySelector('%s').getBoundingClientRect(); return [r.left + r.width / 2, r.top + 8]; })()`, box(id))).([]any)
		return [2]float64{v[0].(float64), v[1].(float64)}
	}
	// colPoint returns the viewport point 8 px below the line of hhmm in the column col selects.
	colPoint := func(col, hhmm string) [2]float64 {
		b.t.Helper()
		h, m, _ := strings.Cut(hhmm, ":")
		hh, _ := strconv.Atoi(h)
		mm, _ := strconv.Atoi(m)
		v := b.eval("finding the time", fmt.Sprintf(`(() => {
			const g = document.getElementById('agenda'); const lo = Number(g.dataset.lo), hi = Number(g.dataset.hi);
			const r = document.querySelector('%s .col-body').getBoundingClientRect();
			return [r.left + r.width / 2, r.top + (%d - lo) * r.height / (hi - lo) + 8]; })()`, col, hh*60+mm)).([]any)
		return [2]float64{v[0].(float64), v[1].(float64)}
	}
	// slotPoint is colPoint in the staff member's column of the day view.
	slotPoint := func(staff int64, hhmm string) [2]float64 {
		b.t.Helper()
		return colPoint(fmt.Sprintf(`.col[data-staff="%d"]`, staff), hhmm)
	}
	flash := func() string {
		b.t.Helper()
		return b.eval("reading the flash", `document.getElementById('flash').hidden ? '' : document.getElementById('flash').textContent`).(string)
	}
	noDialogs := `!document.getElementById('dm-dialog').open && !document.getElementById('cita-dialog').open`

	b.do("opening /app", chromedp.EmulateViewport(1400, 1700), chromedp.Navigate(srv.URL+"/app"))
	b.login("admin", "password-admin")
	b.do("waiting for the agenda", chromedp.WaitVisible(chromedp.CSS("#agenda .col-head")))
	b.set("branch-select", strconv.FormatInt(bk.branchID, 10))
	b.set("day", dayStr)
	b.do("waiting for the day", chromedp.WaitVisible(chromedp.CSS(box(carla.ID))))

	run("OnlyPendingAndConfirmedAppointmentsMove", func(t *testing.T) {
		for _, id := range []int64{ana.ID, beto.ID, dario.ID, carla.ID} {
			if !b.eval("checking", `document.querySelector('`+box(id)+`').classList.contains('movable')`).(bool) {
				t.Errorf("appointment %d is not offered to move", id)
			}
		}
		if b.eval("checking", `document.querySelector('`+box(elena.ID)+`').classList.contains('movable')`).(bool) {
			t.Error("a cancelled appointment is offered to move")
		}
		if got := b.eval("reading the description", `document.querySelector('`+box(ana.ID)+`').getAttribute('aria-describedby')`); got != "dm-hint" {
			t.Errorf("a movable appointment is described by %v, want dm-hint", got)
		}
		if hint := b.eval("reading the hint", `document.getElementById('dm-hint').textContent`).(string); !strings.Contains(hint, "Alt") {
			t.Errorf("the hint for keyboard users is %q", hint)
		}
	})

	run("DragsToAFreeTimeOfAnotherStaffMember", func(t *testing.T) {
		from, to := point(ana.ID), slotPoint(pabloProfile, "15:30")
		b.do("dragging Ana to Pablo at 15:30", mouseDrag(from, to, 8, true)...)
		if ghost := b.text(".drag-ghost"); !strings.Contains(ghost, "15:30–16:00") || !strings.Contains(ghost, "Pablo Díaz") {
			t.Errorf("while dragging the preview says %q, want 15:30–16:00 with Pablo Díaz", ghost)
		}
		if col := b.eval("finding the preview", `document.querySelector('.drag-ghost').closest('.col').dataset.staff`); col != strconv.FormatInt(pabloProfile, 10) {
			t.Errorf("the preview is in column %v, want Pablo's", col)
		}
		b.do("dropping", chromedp.MouseEvent(chromedp.MouseReleased, to[0], to[1], held, func(p *input.DispatchMouseEventParams) { p.ClickCount = 1 }),
			chromedp.WaitVisible(chromedp.CSS("#dm-dialog[open] #dm-ok")))
		if b.eval("checking", `document.getElementById('cita-dialog').open`).(bool) {
			t.Error("the drop also opened the appointment dialog")
		}
		if q := b.text("#dm-text"); q != "¿Mover la cita de Ana Torres a las 15:30 con Pablo Díaz?" {
			t.Errorf("the confirmation asks %q", q)
		}
		b.axeCheck(t, "the move's confirmation")
		if got := get(ana.ID); !got.Start.Equal(ana.Start) {
			t.Errorf("the appointment moved before the confirmation: %v", got.Start)
		}
		b.do("confirming", chromedp.Click(chromedp.CSS("#dm-ok")),
			chromedp.Poll[chromedp.Void](fmt.Sprintf(`document.querySelector('.col[data-staff="%d"] %s')?.dataset.start === '930'`, pabloProfile, box(ana.ID))))
		got := get(ana.ID)
		if !got.Start.Equal(at("15:30")) || got.StaffID != pabloProfile {
			t.Errorf("after the move: %v with %d, want %v with Pablo (%d)", got.Start, got.StaffID, at("15:30"), pabloProfile)
		}
		if f := flash(); f != "Cita movida a las 15:30 con Pablo Díaz." {
			t.Errorf("the announcement is %q", f)
		}
		if focus := b.eval("checking the focus", `document.activeElement.dataset.id`); focus != strconv.FormatInt(ana.ID, 10) {
			t.Errorf("after the move the focus is on %v, want the moved appointment", focus)
		}
	})

	run("DropOnATakenTimeIsExplainedAndNothingMoves", func(t *testing.T) {
		from, to := point(beto.ID), slotPoint(bk.staffProfile, "15:00")
		b.do("dragging Beto onto Darío", mouseDrag(from, to, 8, true)...)
		if ghost := b.text(".drag-ghost.clash"); !strings.HasSuffix(ghost, "· ocupado") {
			t.Errorf("the preview over Darío says %q, want it marked ocupado", ghost)
		}
		b.do("dropping", chromedp.MouseEvent(chromedp.MouseReleased, to[0], to[1], held, func(p *input.DispatchMouseEventParams) { p.ClickCount = 1 }))
		b.do("confirming", chromedp.WaitVisible(chromedp.CSS("#dm-dialog[open] #dm-ok")), chromedp.Click(chromedp.CSS("#dm-ok")),
			chromedp.Poll[chromedp.Void](`!document.getElementById('dm-dialog').open && document.getElementById('flash').classList.contains('error')`))
		if f := flash(); f != "Ese horario ya está ocupado. La cita sigue en su hora." {
			t.Errorf("the 409 message is %q", f)
		}
		if !b.eval("checking", `document.getElementById('flash').classList.contains('error')`).(bool) {
			t.Error("the refusal is not shown as an error")
		}
		if got := get(beto.ID); !got.Start.Equal(beto.Start) || got.StaffID != bk.staffProfile {
			t.Errorf("the refused move changed the appointment: %v with %d", got.Start, got.StaffID)
		}
		b.do("waiting for the box back in place", chromedp.Poll[chromedp.Void](`document.querySelector('`+box(beto.ID)+`')?.dataset.start === '720' && !document.querySelector('.drag-ghost')`))
	})

	run("DropInABreakIsExplainedAndNothingMoves", func(t *testing.T) {
		// Juan rests from 13:00 to 14:00: the API answers 422 outside_working_hours.
		from, to := point(dario.ID), slotPoint(bk.staffProfile, "13:15")
		b.do("dragging Darío into Juan's break", mouseDrag(from, to, 8, false)...)
		b.do("confirming", chromedp.WaitVisible(chromedp.CSS("#dm-dialog[open] #dm-ok")), chromedp.Click(chromedp.CSS("#dm-ok")),
			chromedp.Poll[chromedp.Void](`!document.getElementById('dm-dialog').open && document.getElementById('flash').textContent.includes('fuera')`))
		if f := flash(); f != "Ese horario está fuera del horario de trabajo. La cita sigue en su hora." {
			t.Errorf("the refusal says %q", f)
		}
		if got := get(dario.ID); !got.Start.Equal(dario.Start) {
			t.Errorf("the refused move changed the appointment to %v", got.Start)
		}
		b.do("waiting for the box in place", chromedp.Poll[chromedp.Void](`document.querySelector('`+box(dario.ID)+`')?.dataset.start === '900'`))
	})

	run("EscapeCancelsADrag", func(t *testing.T) {
		from, to := point(beto.ID), slotPoint(bk.staffProfile, "16:00")
		b.do("dragging Beto", mouseDrag(from, to, 6, true)...)
		b.do("waiting for the preview", chromedp.WaitVisible(chromedp.CSS(".drag-ghost")))
		b.do("pressing Escape and releasing", chromedp.KeyEvent(kb.Escape),
			chromedp.MouseEvent(chromedp.MouseReleased, to[0], to[1], held, func(p *input.DispatchMouseEventParams) { p.ClickCount = 1 }),
			chromedp.Sleep(700*time.Millisecond))
		if !b.eval("checking the dialogs", noDialogs).(bool) {
			t.Error("a dialog opened after Escape")
		}
		if n := b.eval("looking for the preview", `document.querySelectorAll('.drag-ghost, .appt.dragging').length`).(float64); n != 0 {
			t.Error("the preview stayed after Escape")
		}
		if got := get(beto.ID); !got.Start.Equal(beto.Start) {
			t.Errorf("Escape moved the appointment to %v", got.Start)
		}
	})

	run("DropOutsideTheAgendaCancels", func(t *testing.T) {
		from := point(beto.ID)
		left := b.eval("finding the agenda", `document.getElementById('agenda').getBoundingClientRect().left`).(float64)
		b.do("dragging Beto out of the agenda", mouseDrag(from, [2]float64{left / 2, from[1] + 100}, 6, false)...)
		b.do("waiting", chromedp.Sleep(500*time.Millisecond))
		if !b.eval("checking the dialogs", noDialogs).(bool) {
			t.Error("a drop outside the agenda opened a dialog")
		}
		if n := b.eval("looking for the preview", `document.querySelectorAll('.drag-ghost, .appt.dragging').length`).(float64); n != 0 {
			t.Error("the preview stayed after a drop outside the agenda")
		}
		if got := get(beto.ID); !got.Start.Equal(beto.Start) {
			t.Errorf("a drop outside the agenda moved the appointment to %v", got.Start)
		}
	})

	run("AClickStillOpensTheAppointment", func(t *testing.T) {
		p := point(beto.ID)
		b.do("clicking Beto", mouseDrag(p, [2]float64{p[0] + 2, p[1] + 2}, 1, false)...)
		b.do("waiting for the dialog", chromedp.WaitVisible(chromedp.CSS("#cita-dialog[open] #ct-summary")))
		if !b.eval("checking", `!document.getElementById('dm-dialog').open`).(bool) {
			t.Error("a small click movement started a move")
		}
		b.do("closing", chromedp.Click(chromedp.CSS("#cita-dialog .actions:last-child .close")),
			chromedp.Poll[chromedp.Void](`!document.getElementById('cita-dialog').open`))
	})

	run("AltArrowsMoveFromTheKeyboard", func(t *testing.T) {
		sel := box(beto.ID)
		b.do("focusing Beto", chromedp.Focus(chromedp.CSS(sel)))
		alt := chromedp.KeyModifiers(chromedp.ModifierAlt)
		b.do("Alt+ArrowDown twice", chromedp.KeyEvent(kb.ArrowDown, alt), chromedp.KeyEvent(kb.ArrowDown, alt))
		if ghost := b.text(".drag-ghost"); !strings.HasPrefix(ghost, "12:30") {
			t.Errorf("after two Alt+ArrowDown the preview says %q, want 12:30", ghost)
		}
		if f := flash(); !strings.Contains(f, "12:30") || !strings.Contains(f, "Intro") {
			t.Errorf("the keyboard move announces %q", f)
		}
		b.do("Alt+ArrowRight to Pablo", chromedp.KeyEvent(kb.ArrowRight, alt))
		if f := flash(); !strings.Contains(f, "Pablo Díaz") {
			t.Errorf("after Alt+ArrowRight the announcement is %q", f)
		}
		b.do("Alt+ArrowLeft back to Juan", chromedp.KeyEvent(kb.ArrowLeft, alt))
		b.do("Enter asks", chromedp.KeyEvent(kb.Enter), chromedp.WaitVisible(chromedp.CSS("#dm-dialog[open] #dm-ok")))
		if b.eval("checking", `document.getElementById('cita-dialog').open`).(bool) {
			t.Error("Enter during a keyboard move opened the appointment dialog")
		}
		if q := b.text("#dm-text"); q != "¿Mover la cita de Beto Gil a las 12:30?" {
			t.Errorf("the confirmation asks %q", q)
		}
		b.do("confirming with Enter", chromedp.KeyEvent(kb.Enter),
			chromedp.Poll[chromedp.Void](`document.querySelector('`+sel+`')?.dataset.start === '750'`))
		if got := get(beto.ID); !got.Start.Equal(at("12:30")) || got.StaffID != bk.staffProfile {
			t.Errorf("after the keyboard move: %v with %d, want 12:30 with Juan", got.Start, got.StaffID)
		}
		// Escape puts a keyboard move back; Enter then opens the appointment as before.
		b.do("focusing Beto", chromedp.Focus(chromedp.CSS(sel)), chromedp.KeyEvent(kb.ArrowUp, alt), chromedp.KeyEvent(kb.Escape))
		if n := b.eval("looking for the preview", `document.querySelectorAll('.drag-ghost').length`).(float64); n != 0 {
			t.Error("the preview stayed after Escape")
		}
		b.do("Enter opens the appointment", chromedp.KeyEvent(kb.Enter), chromedp.WaitVisible(chromedp.CSS("#cita-dialog[open] #ct-summary")),
			chromedp.KeyEvent(kb.Escape), chromedp.Poll[chromedp.Void](`!document.getElementById('cita-dialog').open`))
	})

	run("SpeaksEnglish", func(t *testing.T) {
		b.do("switching to English", chromedp.Click(chromedp.CSS("#lang")),
			chromedp.Poll[chromedp.Void](`document.documentElement.lang === 'en' && document.getElementById('dm-hint').textContent.startsWith('Alt and')`))
		b.do("waiting for the agenda", chromedp.WaitVisible(chromedp.CSS(box(dario.ID))))
		b.do("Alt+ArrowDown on Darío", chromedp.Evaluate[chromedp.Void](`document.querySelector('`+box(dario.ID)+`').focus()`),
			chromedp.KeyEvent(kb.ArrowDown, chromedp.KeyModifiers(chromedp.ModifierAlt)))
		if f := flash(); f != "New time: 15:15. Enter to move, Escape to cancel." {
			t.Errorf("the English announcement is %q", f)
		}
		b.do("Escape, back to Spanish", chromedp.KeyEvent(kb.Escape), chromedp.Click(chromedp.CSS("#lang")),
			chromedp.Poll[chromedp.Void](`document.documentElement.lang === 'es' && document.getElementById('dm-hint').textContent.startsWith('Alt y')`))
		b.do("waiting for the agenda", chromedp.WaitVisible(chromedp.CSS(box(dario.ID))))
	})

	run("WeekViewMovesToAnotherDay", func(t *testing.T) {
		other := day.AddDate(0, 0, 1)
		if day.Weekday() == time.Sunday {
			other = day.AddDate(0, 0, -1)
		}
		b.set("view-select", "week")
		b.set("staff-select", strconv.FormatInt(bk.staffProfile, 10))
		col := fmt.Sprintf(`.col[data-day="%s"]`, other.Format("2006-01-02"))
		b.do("waiting for the week", chromedp.WaitVisible(chromedp.CSS(col)), chromedp.WaitVisible(chromedp.CSS(box(beto.ID))))
		from, to := point(beto.ID), colPoint(col, "12:30")
		b.do("dragging Beto to the other day", mouseDrag(from, to, 8, false)...)
		b.do("waiting for the confirmation", chromedp.WaitVisible(chromedp.CSS("#dm-dialog[open] #dm-ok")))
		if q := b.text("#dm-text"); !strings.HasPrefix(q, "¿Mover la cita de Beto Gil a las 12:30 del ") || !strings.Contains(q, other.Format(" 2 de ")) || strings.Contains(q, " con ") {
			t.Errorf("the confirmation asks %q, want 12:30 on the %s", q, other.Format("2"))
		}
		b.do("confirming", chromedp.Click(chromedp.CSS("#dm-ok")),
			chromedp.Poll[chromedp.Void](`document.querySelector('`+col+` `+box(beto.ID)+`')?.dataset.start === '750'`))
		want := at("12:30").AddDate(0, 0, int(other.Sub(day).Hours()/24))
		if got := get(beto.ID); !got.Start.Equal(want) || got.StaffID != bk.staffProfile {
			t.Errorf("after the week move: %v with %d, want %v with Juan", got.Start, got.StaffID, want)
		}
		b.set("view-select", "day")
		b.do("waiting for the day", chromedp.WaitVisible(chromedp.CSS(fmt.Sprintf(`.col[data-staff="%d"]`, pabloProfile))), chromedp.WaitVisible(chromedp.CSS(box(dario.ID))))
	})

	run("AFingerMovesAfterALongPressAtPhoneWidth", func(t *testing.T) {
		b.do("narrowing to 390 px with touch", chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile, chromedp.EmulateTouch),
			chromedp.Evaluate[chromedp.Void](`document.querySelector('`+box(dario.ID)+`').scrollIntoView({ block: 'center' })`),
			chromedp.Sleep(200*time.Millisecond))
		b.fitsWidth(t, "the agenda at 390 px")
		// The hours stay in their own column: a finger needs them to aim.
		if out := b.eval("measuring the hours", `(() => { const c = document.querySelector('#agenda .col[data-staff]').getBoundingClientRect();
			return [...document.querySelectorAll('#agenda .hour-label')].filter((l) => l.getBoundingClientRect().right > c.left + 1).length; })()`).(float64); out != 0 {
			t.Errorf("at 390 px %v hour labels lie outside the hours column, under the first staff member's", out)
		}
		// A quick swipe scrolls: it does not move the appointment.
		from := point(dario.ID)
		b.do("swiping over Darío", touch(input.DispatchTouchEventTypeTouchStart, from),
			touch(input.DispatchTouchEventTypeTouchMove, [2]float64{from[0], from[1] - 30}),
			touch(input.DispatchTouchEventTypeTouchMove, [2]float64{from[0], from[1] - 60}),
			touch(input.DispatchTouchEventTypeTouchEnd, from), chromedp.Sleep(500*time.Millisecond))
		if n := b.eval("looking for the preview", `document.querySelectorAll('.drag-ghost').length`).(float64); n != 0 || !b.eval("checking the dialogs", noDialogs).(bool) {
			t.Error("a quick swipe started a move")
		}
		b.do("centring Darío", chromedp.Evaluate[chromedp.Void](`document.querySelector('`+box(dario.ID)+`').scrollIntoView({ block: 'center' })`),
			chromedp.Sleep(200*time.Millisecond))
		from, to := point(dario.ID), slotPoint(bk.staffProfile, "15:45")
		acts := []chromedp.Action[chromedp.Void]{touch(input.DispatchTouchEventTypeTouchStart, from), chromedp.Sleep(450 * time.Millisecond)}
		for i := 1; i <= 6; i++ {
			f := float64(i) / 6
			acts = append(acts, touch(input.DispatchTouchEventTypeTouchMove, [2]float64{from[0] + (to[0]-from[0])*f, from[1] + (to[1]-from[1])*f}))
		}
		scrollY := b.eval("reading the scroll", `window.scrollY`).(float64)
		b.do("long-pressing Darío and dragging to 15:45", acts...)
		if ghost := b.text(".drag-ghost"); !strings.HasPrefix(ghost, "15:45") {
			t.Errorf("while the finger drags the preview says %q, want 15:45", ghost)
		}
		if y := b.eval("reading the scroll", `window.scrollY`).(float64); y != scrollY {
			t.Errorf("the page scrolled from %v to %v while the finger dragged", scrollY, y)
		}
		b.do("lifting the finger", touch(input.DispatchTouchEventTypeTouchEnd, to), chromedp.WaitVisible(chromedp.CSS("#dm-dialog[open] #dm-ok")))
		b.fitsWidth(t, "the confirmation at 390 px")
		b.axeCheck(t, "the move's confirmation at 390 px")
		b.do("confirming", chromedp.Click(chromedp.CSS("#dm-ok")),
			chromedp.Poll[chromedp.Void](`document.querySelector('`+box(dario.ID)+`')?.dataset.start === '945'`))
		if got := get(dario.ID); !got.Start.Equal(at("15:45")) {
			t.Errorf("after the finger's move: %v, want 15:45", got.Start)
		}
		b.do("widening", chromedp.EmulateViewport(1400, 1700))
	})

	run("RestingNearTheBottomEdgeScrolls", func(t *testing.T) {
		b.do("shortening the window", chromedp.EmulateViewport(1400, 600),
			chromedp.Evaluate[chromedp.Void](`document.querySelector('`+box(carla.ID)+`').scrollIntoView({ block: 'start' })`),
			chromedp.Sleep(100*time.Millisecond))
		from := point(carla.ID)
		edge := [2]float64{from[0], 590}
		ghostTime := func() string {
			return b.eval("reading the preview", `document.querySelector('.drag-ghost').textContent.split('–')[0]`).(string)
		}
		b.do("dragging Carla to the bottom edge", mouseDrag(from, edge, 6, true)...)
		before, y0 := ghostTime(), b.eval("reading the scroll", `window.scrollY`).(float64)
		b.do("resting there", chromedp.Sleep(600*time.Millisecond))
		after, y1 := ghostTime(), b.eval("reading the scroll", `window.scrollY`).(float64)
		if y1 <= y0 || after <= before {
			t.Errorf("resting at the edge: the page scrolled from %v to %v and the preview went from %s to %s; want both later", y0, y1, before, after)
		}
		b.do("dropping and keeping the time", chromedp.MouseEvent(chromedp.MouseReleased, edge[0], edge[1], held, func(p *input.DispatchMouseEventParams) { p.ClickCount = 1 }),
			chromedp.WaitVisible(chromedp.CSS("#dm-dialog[open] #dm-keep")), chromedp.Click(chromedp.CSS("#dm-keep")),
			chromedp.Poll[chromedp.Void](noDialogs+` && !document.querySelector('.drag-ghost')`))
		if got := get(carla.ID); !got.Start.Equal(carla.Start) {
			t.Errorf("keeping the time moved the appointment to %v", got.Start)
		}
		b.do("widening", chromedp.EmulateViewport(1400, 1700))
	})

	run("StaffMoveOnlyTheirOwnAppointments", func(t *testing.T) {
		// The API refuses: Juan cannot see Pablo's appointment, nor give his own to Pablo.
		bk.ok("POST", fmt.Sprintf("/api/citas/%d/reprogramar", carla.ID), map[string]any{"inicio": at("16:00").Format(time.RFC3339)}, bk.staffH, http.StatusNotFound, nil)
		bk.ok("POST", fmt.Sprintf("/api/citas/%d/reprogramar", beto.ID), map[string]any{"inicio": at("16:00").Format(time.RFC3339), "profesional_id": pabloProfile}, bk.staffH, http.StatusForbidden, nil)
		b.do("signing out", chromedp.Click(chromedp.CSS("#logout")), chromedp.WaitVisible(chromedp.CSS("#login-form")))
		b.login("juan", "password-juan")
		b.do("waiting for Juan's agenda", chromedp.WaitVisible(chromedp.CSS("#agenda .col-head")))
		b.set("branch-select", strconv.FormatInt(bk.branchID, 10))
		// The agenda empties as the last render starts: the appointment that appears is that render's.
		b.do("opening the day", chromedp.Evaluate[chromedp.Void](fmt.Sprintf(`(() => { document.getElementById('agenda').replaceChildren();
			const e = document.getElementById('day'); e.value = %q; e.dispatchEvent(new Event('change')); })()`, dayStr)))
		b.do("waiting for Juan's appointment", chromedp.WaitVisible(chromedp.CSS(box(dario.ID)+".movable")))
		if n := b.eval("counting", fmt.Sprintf(`[document.querySelectorAll('%s').length, document.querySelectorAll('.col[data-staff]').length]`, box(carla.ID))).([]any); n[0].(float64) != 0 || n[1].(float64) != 1 {
			t.Errorf("Juan's agenda shows Pablo's appointment (%v) or %v columns, want only his own", n[0], n[1])
		}
		// Alt+ArrowRight has no other column to go to: the move stays with Juan.
		b.do("focusing Darío", chromedp.Focus(chromedp.CSS(box(dario.ID))), chromedp.KeyEvent(kb.ArrowRight, chromedp.KeyModifiers(chromedp.ModifierAlt)))
		if f := flash(); strings.Contains(f, "Pablo") {
			t.Errorf("Juan's keyboard move offers Pablo: %q", f)
		}
		b.do("cancelling", chromedp.KeyEvent(kb.Escape))
	})
	b.checkProblems()
}
