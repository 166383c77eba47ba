// appcitas web app: moving an appointment on the agenda by dragging it, or with Alt + arrows.
// A drag uses Pointer Events, so that a mouse, a pen and a finger all work. A finger first holds
// the appointment still for a moment: a finger that moves at once scrolls the page instead.
// Every move asks for confirmation, then calls POST /api/citas/{id}/reprogramar.
// Every text goes into the page through textContent.

export const dragmoveTexts = {
  es: {
    dmTitle: 'Mover cita', dmMove: 'Mover', dmKeep: 'No mover',
    dmAsk: '¿Mover la cita de {client} a las {time}{day}{staff}?', dmOnDay: ' del {day}', dmWith: ' con {staff}',
    dmMoved: 'Cita movida a las {time}{day}{staff}.', dmTaken: 'Ese horario ya está ocupado. La cita sigue en su hora.',
    dmOutside: 'Ese horario está fuera del horario de trabajo. La cita sigue en su hora.',
    dmPast: 'No se puede mover una cita al pasado. La cita sigue en su hora.',
    dmState: 'Esta cita ya no se puede mover: cambió de estado. La cita sigue en su hora.',
    dmNotYours: 'No puedes mover esta cita.', dmUnknown: 'No sabemos si la cita se movió: la agenda muestra cómo quedó.',
    dmKeyHint: 'Alt y las flechas mueven la cita; Intro confirma y Escape cancela.',
    dmKeyAt: 'Nueva hora: {time}{day}{staff}{busy}. Intro para mover, Escape para cancelar.', dmBusy: 'ocupado',
  },
  en: {
    dmTitle: 'Move appointment', dmMove: 'Move', dmKeep: 'Do not move',
    dmAsk: 'Move {client}\'s appointment to {time}{day}{staff}?', dmOnDay: ' on {day}', dmWith: ' with {staff}',
    dmMoved: 'Appointment moved to {time}{day}{staff}.', dmTaken: 'That time is already taken. The appointment keeps its time.',
    dmOutside: 'That time is outside the working hours. The appointment keeps its time.',
    dmPast: 'An appointment cannot move to the past. The appointment keeps its time.',
    dmState: 'This appointment can no longer move: its state changed. The appointment keeps its time.',
    dmNotYours: 'You cannot move this appointment.', dmUnknown: 'We do not know whether the appointment moved: the agenda shows where it is.',
    dmKeyHint: 'Alt and the arrow keys move the appointment; Enter confirms and Escape cancels.',
    dmKeyAt: 'New time: {time}{day}{staff}{busy}. Enter to move, Escape to cancel.', dmBusy: 'taken',
  },
};

// The agenda's slot grid, in minutes: the API offers free times every 15 minutes.
const STEP = 15;
// A mouse or pen drag starts once the pointer moved this many pixels; less is a click.
const THRESHOLD = 6;
// A finger starts a drag by holding still this long; a finger that moves sooner scrolls.
const HOLD_MS = 300;

// setupDragMove wires dragging on #agenda. deps holds the agenda's helpers: $, t, api, state,
// render, flash, fmtDay. It returns decorate, which the agenda calls after each render.
export function setupDragMove(deps) {
  const { $, t, api, state, render, flash, fmtDay } = deps;
  const grid = $('agenda');

  const fill = (key, vals) => t(key).replace(/\{(\w+)\}/g, (_, k) => vals[k] ?? '');
  const hhmm = (m) => `${String(Math.floor(m / 60)).padStart(2, '0')}:${String(m % 60).padStart(2, '0')}`;
  const staffName = (id) => { const m = state.members.find((x) => String(x.id) === String(id)); return m ? (m.nombre_visible || ('#' + m.id)) : ('#' + id); };

  // The hint that a movable appointment names as its description.
  const hint = document.createElement('p');
  hint.id = 'dm-hint';
  hint.className = 'sr-only';
  $('agenda-view').append(hint);

  // The confirmation dialog.
  const dialog = document.createElement('dialog');
  dialog.id = 'dm-dialog';
  dialog.setAttribute('aria-labelledby', 'dm-title');
  dialog.setAttribute('aria-describedby', 'dm-text');
  const title = document.createElement('h2');
  title.id = 'dm-title';
  const text = document.createElement('p');
  text.id = 'dm-text';
  const actions = document.createElement('div');
  actions.className = 'actions';
  const ok = document.createElement('button');
  ok.id = 'dm-ok';
  ok.type = 'button';
  const keep = document.createElement('button');
  keep.id = 'dm-keep';
  keep.type = 'button';
  actions.append(ok, keep);
  dialog.append(title, text, actions);
  document.querySelector('main').append(dialog);

  // ask shows the confirmation and resolves true when the user confirms.
  function ask(msg) {
    title.textContent = t('dmTitle');
    text.textContent = msg;
    ok.textContent = t('dmMove');
    keep.textContent = t('dmKeep');
    dialog.returnValue = '';
    dialog.showModal();
    ok.focus();
    return new Promise((resolve) => {
      dialog.addEventListener('close', () => resolve(dialog.returnValue === 'move'), { once: true });
    });
  }
  ok.addEventListener('click', () => dialog.close('move'));
  keep.addEventListener('click', () => dialog.close('keep'));

  // movable tells whether the agenda offers to move box: a pending or confirmed appointment, and
  // for a staff member only their own. The API decides in the end.
  function movable(box) {
    if (!box.classList.contains('pendiente') && !box.classList.contains('confirmada')) return false;
    if (state.org?.role !== 'staff') return true;
    const m = state.members.find((x) => String(x.id) === box.closest('.col')?.dataset.staff);
    return !!m && m.user_id === state.me?.user.id;
  }

  // decorate marks the movable appointments of a fresh render.
  function decorate() {
    if (move && move.how !== 'asking') end();
    if (press) { clearTimeout(press.timer); press = null; }
    hint.textContent = t('dmKeyHint');
    for (const box of grid.querySelectorAll('.appt[data-id]')) {
      const can = movable(box);
      box.classList.toggle('movable', can);
      if (can) {
        box.setAttribute('aria-describedby', 'dm-hint');
        box.setAttribute('aria-keyshortcuts', 'Alt+ArrowUp Alt+ArrowDown Alt+ArrowLeft Alt+ArrowRight');
      }
    }
  }

  const columns = () => [...grid.querySelectorAll('.col[data-staff]')];
  const bounds = () => ({ lo: Number(grid.dataset.lo), hi: Number(grid.dataset.hi), zone: grid.dataset.zone });

  // instant turns a calendar day and minute on the branch's wall clock into an RFC 3339 instant.
  function instant(day, min, zone) {
    const offset = (ms) => {
      const p = {};
      for (const x of new Intl.DateTimeFormat('en-GB', { timeZone: zone, hourCycle: 'h23', year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit' })
        .formatToParts(new Date(ms))) p[x.type] = x.value;
      return Date.UTC(Number(p.year), Number(p.month) - 1, Number(p.day), Number(p.hour), Number(p.minute), Number(p.second)) - ms;
    };
    const wall = Date.parse(day + 'T00:00:00Z') + min * 60000;
    const ms = wall - offset(wall - offset(wall));
    return new Date(ms).toISOString().replace('.000Z', 'Z');
  }

  // A move in progress: the box, where it was, and where it would go.
  let move = null;
  // After a drag, the click that ends it must not open the appointment.
  let swallowClick = false;

  function begin(box, how) {
    const col = box.closest('.col');
    const start = Number(box.dataset.start);
    move = {
      box, how, id: box.dataset.id, from: { col, min: start }, to: { col, min: start },
      dur: Number(box.dataset.dur) || 15, client: box.querySelector('.cl')?.textContent || '', ghost: null,
    };
    box.classList.add('dragging');
    document.body.classList.add('drag-active');
  }

  // where describes a place for the texts: the time, the day when it changes, the staff member when it changes.
  function where(to) {
    const week = to.col.dataset.staff === move.from.col.dataset.staff && to.col.dataset.day !== move.from.col.dataset.day;
    const day = week ? fill('dmOnDay', { day: fmtDay(to.col.dataset.day, { weekday: 'long', day: 'numeric', month: 'long' }) }) : '';
    const staff = to.col.dataset.staff !== move.from.col.dataset.staff ? fill('dmWith', { staff: staffName(to.col.dataset.staff) }) : '';
    return { time: hhmm(to.min), day, staff, client: move.client };
  }

  // busy tells whether move.to overlaps another live appointment drawn in its column. It is a
  // hint only: the API decides, with the buffers the agenda does not draw.
  function busy() {
    const from = move.to.min;
    const to = from + move.dur;
    return [...move.to.col.querySelectorAll('.appt[data-id]')].some((b) => b !== move.box && !b.classList.contains('cancelada')
      && Number(b.dataset.start) < to && Number(b.dataset.start) + (Number(b.dataset.dur) || 15) > from);
  }

  // place draws the ghost at move.to, or takes it away when the pointer left the agenda's side.
  function place() {
    if (!move.to) { move.ghost?.remove(); return; }
    const { lo } = bounds();
    let g = move.ghost;
    if (!g) {
      g = document.createElement('div');
      g.className = 'appt drag-ghost ' + [...move.box.classList].filter((c) => c === 'pendiente' || c === 'confirmada').join(' ');
      g.setAttribute('aria-hidden', 'true');
      move.ghost = g;
    }
    const body = move.to.col.querySelector('.col-body');
    if (g.parentElement !== body) body.append(g);
    g.style.top = `calc(${(move.to.min - lo) / 60} * var(--hour))`;
    g.style.height = `calc(${Math.max(move.dur, 15) / 60} * var(--hour))`;
    const w = where(move.to);
    const taken = busy();
    g.classList.toggle('clash', taken);
    g.textContent = `${w.time}–${hhmm(Math.min(move.to.min + move.dur, 24 * 60))}${w.staff}${taken ? ' · ' + t('dmBusy') : ''}`;
    return taken;
  }

  function end() {
    if (!move) return;
    cancelAnimationFrame(move.frame);
    move.ghost?.remove();
    move.box.classList.remove('dragging');
    document.body.classList.remove('drag-active');
    move = null;
  }

  // cancel ends a move without changing anything.
  function cancel() {
    if (!move) return;
    const how = move.how;
    end();
    if (how === 'keys') flash('');
  }

  // commit asks for confirmation and then moves the appointment.
  async function commit() {
    const m = move;
    if (!m.to || (m.to.col === m.from.col && m.to.min === m.from.min)) { cancel(); return; }
    const { zone } = bounds();
    const inicio = instant(m.to.col.dataset.day, m.to.min, zone);
    const w = where(m.to);
    const id = m.id;
    const refocus = () => grid.querySelector(`.appt[data-id="${id}"]`)?.focus();
    if (Date.parse(inicio) <= Date.now()) {
      end();
      flash(t('dmPast'), true);
      refocus();
      return;
    }
    m.how = 'asking';
    const yes = await ask(fill('dmAsk', w));
    if (!yes) { end(); flash(''); refocus(); return; }
    const body = { inicio };
    if (m.to.col.dataset.staff !== m.from.col.dataset.staff) body.profesional_id = Number(m.to.col.dataset.staff);
    let msg;
    let bad = false;
    try {
      await api(`/api/citas/${id}/reprogramar`, { method: 'POST', body: JSON.stringify(body), headers: { 'Content-Type': 'application/json' } });
      msg = fill('dmMoved', w);
    } catch (err) {
      bad = true;
      msg = refusal(err);
    }
    end();
    try { await render(); } finally {
      flash(msg, bad);
      refocus();
    }
  }

  // refusal explains why the API refused a move.
  function refusal(err) {
    if (err.code === 'double_booking' || (err.status === 409 && err.code === 'conflict')) return t('dmTaken');
    if (err.code === 'outside_working_hours') return t('dmOutside');
    if (err.code === 'invalid_transition') return t('dmState');
    if (err.status === 422 && /future/.test(err.message)) return t('dmPast');
    if (err.status === 403 || err.status === 404) return t('dmNotYours');
    if (err.code === 'outcome_unknown') return t('dmUnknown');
    return t('failed') + err.message;
  }

  // The pointer: a press on a movable appointment may become a drag.
  let press = null;

  function pointAt(ev) {
    const { lo, hi } = bounds();
    const g = grid.getBoundingClientRect();
    // Beside the agenda is nowhere; above or below it is its first or last time.
    if (ev.clientX < g.left || ev.clientX > g.right) return null;
    const cols = columns();
    let col = cols.find((c) => { const r = c.getBoundingClientRect(); return ev.clientX >= r.left && ev.clientX < r.right; });
    if (!col) {
      const first = cols[0].getBoundingClientRect();
      col = ev.clientX < first.left ? cols[0] : cols[cols.length - 1];
    }
    const body = col.querySelector('.col-body').getBoundingClientRect();
    const perPx = (hi - lo) / body.height;
    let min = lo + Math.round(((ev.clientY - move.dy - body.top) * perPx) / STEP) * STEP;
    min = Math.max(lo, Math.min(min, hi - Math.min(move.dur, hi - lo)));
    return { col, min };
  }

  // edgeScroll scrolls the page and the agenda a little when the pointer is near their edges,
  // and tells whether anything scrolled.
  function edgeScroll(p) {
    const edge = 40;
    const step = 12;
    const y = window.scrollY;
    const x = grid.scrollLeft;
    if (p.clientY < edge) window.scrollBy(0, -step);
    else if (p.clientY > window.innerHeight - edge) window.scrollBy(0, step);
    const r = grid.getBoundingClientRect();
    if (p.clientX < r.left + edge) grid.scrollLeft -= step;
    else if (p.clientX > r.right - edge) grid.scrollLeft += step;
    return window.scrollY !== y || grid.scrollLeft !== x;
  }

  // scrolling keeps scrolling, once a frame, while a dragging pointer rests near an edge.
  function scrolling() {
    if (!move || move.how !== 'pointer') return;
    if (move.last && edgeScroll(move.last)) {
      move.to = pointAt(move.last);
      place();
    }
    move.frame = requestAnimationFrame(scrolling);
  }

  function startDrag() {
    begin(press.box, 'pointer');
    move.dy = press.dy;
    try { press.box.setPointerCapture(press.id); } catch { /* the pointer is gone */ }
    place();
    move.frame = requestAnimationFrame(scrolling);
  }

  grid.addEventListener('pointerdown', (ev) => {
    if (move || press || !ev.isPrimary || (ev.pointerType === 'mouse' && ev.button !== 0)) return;
    const box = ev.target.closest('.appt.movable[data-id]');
    if (!box) return;
    const r = box.getBoundingClientRect();
    press = { box, id: ev.pointerId, type: ev.pointerType, x: ev.clientX, y: ev.clientY, dy: ev.clientY - r.top, timer: 0 };
    if (ev.pointerType === 'touch') {
      press.timer = setTimeout(() => { if (press && !move) { press.held = true; startDrag(); } }, HOLD_MS);
    }
  });

  grid.addEventListener('pointermove', (ev) => {
    if (!press || ev.pointerId !== press.id) return;
    if (!move) {
      const far = Math.hypot(ev.clientX - press.x, ev.clientY - press.y) > THRESHOLD;
      if (!far) return;
      // A finger that moves before the hold scrolls the page.
      if (press.type === 'touch') { clearTimeout(press.timer); press = null; return; }
      startDrag();
    }
    if (move.how !== 'pointer') return;
    ev.preventDefault();
    move.last = { clientX: ev.clientX, clientY: ev.clientY };
    move.to = pointAt(ev);
    place();
  });

  function release(ev) {
    if (!press || ev.pointerId !== press.id) return;
    clearTimeout(press.timer);
    const p = press;
    press = null;
    if (!move || move.how !== 'pointer') return;
    try { p.box.releasePointerCapture(p.id); } catch { /* already released */ }
    if (ev.type === 'pointercancel') { cancel(); return; }
    swallowClick = true;
    setTimeout(() => { swallowClick = false; }, 400);
    // A finger that held but never moved taps: the appointment opens.
    if (p.held && move.to && move.to.col === move.from.col && move.to.min === move.from.min) { swallowClick = false; cancel(); return; }
    commit().catch((err) => { end(); flash(t('failed') + err.message, true); });
  }
  grid.addEventListener('pointerup', release);
  grid.addEventListener('pointercancel', release);

  // While a finger drags, the page must not scroll, and a long press must not open a menu.
  grid.addEventListener('touchmove', (ev) => { if (move && move.how === 'pointer') ev.preventDefault(); }, { passive: false });
  grid.addEventListener('contextmenu', (ev) => { if (press || move) ev.preventDefault(); });

  // The click that ends a drag does not reach the agenda's click handler.
  window.addEventListener('click', (ev) => {
    if (swallowClick && grid.contains(ev.target)) { ev.stopPropagation(); ev.preventDefault(); swallowClick = false; }
  }, true);

  // Keys: Escape cancels a drag; on a focused appointment, Alt + arrows move it a slot (up, down)
  // or a column (left, right), Enter asks to move it there and Escape puts it back.
  document.addEventListener('keydown', (ev) => {
    if (ev.key === 'Escape' && move && move.how === 'pointer') {
      ev.preventDefault();
      const p = press;
      press = null;
      if (p) { clearTimeout(p.timer); try { p.box.releasePointerCapture(p.id); } catch { /* already released */ } }
      swallowClick = true;
      setTimeout(() => { swallowClick = false; }, 500);
      cancel();
    }
  });
  grid.addEventListener('keydown', (ev) => {
    const box = ev.target.closest?.('.appt.movable[data-id]');
    if (!box || ev.target !== box) return;
    if (move && move.how === 'keys' && move.box === box) {
      // Enter asks when it is released: its keypress must not reach the dialog's buttons.
      if (ev.key === 'Enter') { ev.preventDefault(); ev.stopPropagation(); move.enter = true; return; }
      if (ev.key === 'Escape') { ev.preventDefault(); ev.stopPropagation(); cancel(); return; }
    }
    if (!ev.altKey || !['ArrowUp', 'ArrowDown', 'ArrowLeft', 'ArrowRight'].includes(ev.key)) return;
    ev.preventDefault();
    ev.stopPropagation();
    if (move && move.box !== box) cancel();
    if (!move) begin(box, 'keys');
    if (move.how !== 'keys') return;
    const { lo, hi } = bounds();
    if (ev.key === 'ArrowUp') move.to = { col: move.to.col, min: Math.max(lo, move.to.min - STEP) };
    if (ev.key === 'ArrowDown') move.to = { col: move.to.col, min: Math.min(hi - Math.min(move.dur, hi - lo), move.to.min + STEP) };
    if (ev.key === 'ArrowLeft' || ev.key === 'ArrowRight') {
      const cols = columns();
      const i = cols.indexOf(move.to.col) + (ev.key === 'ArrowLeft' ? -1 : 1);
      if (i >= 0 && i < cols.length) move.to = { col: cols[i], min: move.to.min };
    }
    const taken = place();
    flash(fill('dmKeyAt', { ...where(move.to), busy: taken ? ` (${t('dmBusy')})` : '' }));
  }, true);
  grid.addEventListener('keyup', (ev) => {
    if (ev.key !== 'Enter' || !move || move.how !== 'keys' || !move.enter || ev.target !== move.box) return;
    ev.preventDefault();
    commit().catch((err) => { end(); flash(t('failed') + err.message, true); });
  });
  // A keyboard move ends when the focus leaves its appointment.
  grid.addEventListener('focusout', (ev) => { if (move && move.how === 'keys' && ev.target === move.box) cancel(); });

  return { decorate };
}
