// appcitas web app: booking a new appointment and changing one (state, reschedule, cancel).
// The agenda module hands in its helpers; every text goes into the page through textContent.
// The client step (clients.js) finds or creates the client; the booking then names it by cliente_id.

import { clientStep } from '/app/clients.js';

export const TEXTS = {
  es: {
    newAppt: 'Nueva cita', service: 'Servicio', anyStaff: 'Cualquiera', slots: 'Horarios libres', noSlots: 'No hay horarios libres ese día.',
    client: 'Cliente', clientName: 'Nombre', clientPhone: 'Teléfono', clientEmail: 'Correo', book: 'Reservar', close: 'Cerrar',
    booked: 'Cita reservada.', taken: 'Ese horario se acaba de ocupar. Elige otro de los horarios actualizados.',
    unknown: 'No sabemos si la cita quedó guardada. Pulsa Reservar de nuevo: no se duplicará.', pickSlot: 'Elige un horario libre.',
    apptTitle: 'Cita', confirm: 'Confirmar', complete: 'Completar', noShow: 'No asistió', cancel: 'Cancelar cita',
    reason: 'Motivo de la cancelación', reschedule: 'Reprogramar', newDay: 'Nuevo día', moveHere: 'Mover a este horario',
    updated: 'Cita actualizada.', cancelled: 'Cita cancelada.', rescheduled: 'Cita reprogramada.', needName: 'Escribe el nombre del cliente.',
  },
  en: {
    newAppt: 'New appointment', service: 'Service', anyStaff: 'Anyone', slots: 'Free times', noSlots: 'No free times that day.',
    client: 'Client', clientName: 'Name', clientPhone: 'Phone', clientEmail: 'Email', book: 'Book', close: 'Close',
    booked: 'Appointment booked.', taken: 'That time was just taken. Choose another of the refreshed times.',
    unknown: 'We do not know whether the appointment was saved. Press Book again: it will not be booked twice.', pickSlot: 'Choose a free time.',
    apptTitle: 'Appointment', confirm: 'Confirm', complete: 'Complete', noShow: 'No-show', cancel: 'Cancel appointment',
    reason: 'Reason for cancelling', reschedule: 'Reschedule', newDay: 'New day', moveHere: 'Move to this time',
    updated: 'Appointment updated.', cancelled: 'Appointment cancelled.', rescheduled: 'Appointment rescheduled.', needName: 'Enter the client\'s name.',
  },
};

// setupAppointments wires the booking dialog and the appointment dialog. deps holds the agenda's
// helpers: $, t, api, state, branch, render, flash, fmtTime, guard, todayIn.
export function setupAppointments(deps) {
  const { $, t, api, state, branch, render, flash, fmtTime, guard, todayIn } = deps;
  let opener = null;
  let idemKey = '';
  let current = null;

  function open(dialog) {
    opener = document.activeElement;
    dialog.showModal();
  }
  for (const d of [$('book-dialog'), $('cita-dialog')]) {
    d.addEventListener('close', () => { if (opener && opener.isConnected) opener.focus(); opener = null; });
  }
  for (const b of document.querySelectorAll('dialog .close')) b.addEventListener('click', () => b.closest('dialog').close());

  function say(id, msg, isError) {
    const p = $(id);
    p.textContent = msg;
    p.classList.toggle('error', !!isError);
    p.hidden = !msg;
  }

  // slotList fills a radio group with the free slots of one service, day and staff choice.
  async function slotList(box, service, staff, day) {
    const b = branch();
    const q = new URLSearchParams({ servicio_id: service, sede_id: String(b.id), desde: day, hasta: day });
    if (staff) q.set('profesional_id', staff);
    const a = await api('/api/disponibilidad?' + q);
    const seen = new Map();
    for (const s of a.profesionales || []) {
      if (staff && String(s.profesional_id) !== staff) continue;
      for (const sl of s.slots || []) if (!seen.has(sl.inicio)) seen.set(sl.inicio, { ...sl, staff: s.profesional_id, name: s.nombre_visible });
    }
    const slots = [...seen.values()].sort((x, y) => Date.parse(x.inicio) - Date.parse(y.inicio));
    const name = box.id + '-r';
    box.replaceChildren(...slots.map((s, i) => {
      const label = document.createElement('label');
      label.className = 'slot';
      const r = document.createElement('input');
      r.type = 'radio';
      r.name = name;
      r.value = s.inicio;
      r.dataset.staff = String(s.staff);
      r.id = `${name}-${i}`;
      label.append(r, document.createTextNode(` ${fmtTime(s.inicio, a.zona_horaria || b.zona_horaria)}${staff ? '' : ' · ' + (s.name || '')}`));
      return label;
    }));
    if (slots.length === 0) { const p = document.createElement('p'); p.className = 'hint'; p.textContent = t('noSlots'); box.append(p); }
  }

  const step = clientStep({ api, state, t, say: (msg, isError) => say('bk-msg', msg, isError) });

  function chosen(box) { return box.querySelector('input[type=radio]:checked'); }

  // The booking dialog: service, staff member or anyone, day, free slot, client.
  async function refreshBookSlots() {
    idemKey = '';
    await slotList($('bk-slots'), $('bk-service').value, $('bk-staff').value, $('bk-day').value);
  }

  async function openBook() {
    const services = await api('/api/servicios');
    $('bk-service').replaceChildren(...services.items.map((s) => new Option(`${s.nombre} (${s.duracion_minutos} min)`, String(s.id))));
    const staff = [new Option(t('anyStaff'), ''), ...state.members.map((m) => new Option(m.nombre_visible || ('#' + m.id), String(m.id)))];
    $('bk-staff').replaceChildren(...(state.org.role === 'staff' ? staff.slice(1) : staff));
    $('bk-day').value = $('day').value || todayIn(branch().zona_horaria);
    step.reset();
    $('bk-slots').replaceChildren();
    say('bk-msg', '');
    flash('');
    open($('book-dialog'));
    await refreshBookSlots();
  }

  async function submitBook(ev) {
    ev.preventDefault();
    const slot = chosen($('bk-slots'));
    if (!slot) { say('bk-msg', t('pickSlot'), true); return; }
    const who = await step.resolve();
    if (!who) return;
    idemKey ||= crypto.randomUUID();
    const body = {
      sede_id: branch().id, servicio_id: Number($('bk-service').value), profesional_id: Number(slot.dataset.staff), inicio: slot.value, ...who,
    };
    try {
      await api('/api/citas', { method: 'POST', body: JSON.stringify(body), headers: { 'Content-Type': 'application/json', 'Idempotency-Key': idemKey } });
    } catch (err) {
      if (err.code === 'outcome_unknown') { say('bk-msg', t('unknown'), true); return; }
      if (err.status === 409) {
        await refreshBookSlots();
        say('bk-msg', t('taken'), true);
        $('bk-slots').querySelector('input')?.focus();
        return;
      }
      idemKey = '';
      throw err;
    }
    idemKey = '';
    $('book-dialog').close();
    $('day').value = $('bk-day').value;
    await render();
    flash(t('booked'));
  }

  // The appointment dialog: its details, state changes, reschedule and cancel.
  async function openCita(id) {
    current = await api(`/api/citas/${id}`);
    const zone = branch().zona_horaria;
    $('ct-summary').textContent = `${fmtTime(current.inicio, zone)}–${fmtTime(current.fin, zone)} · ${current.cliente_nombre} · ${state.serviceNames.get(current.servicio_id) || ''} · ${t(current.estado)}`;
    $('ct-contact').textContent = [current.cliente_telefono, current.cliente_email].filter(Boolean).join(' · ');
    const active = current.estado === 'pendiente' || current.estado === 'confirmada';
    $('ct-confirm').hidden = current.estado !== 'pendiente';
    $('ct-complete').hidden = !active;
    $('ct-noshow').hidden = !active;
    $('ct-change').hidden = !active;
    $('ct-reason').value = '';
    $('ct-day').value = new Intl.DateTimeFormat('en-CA', { timeZone: zone, year: 'numeric', month: '2-digit', day: '2-digit' }).format(new Date(current.inicio));
    $('ct-slots').replaceChildren();
    say('ct-msg', '');
    open($('cita-dialog'));
    if (!$('ct-change').hidden) await refreshCitaSlots();
  }

  async function refreshCitaSlots() {
    await slotList($('ct-slots'), String(current.servicio_id), String(current.profesional_id), $('ct-day').value);
  }

  async function change(path, body, done) {
    try {
      await api(`/api/citas/${current.id}/${path}`, { method: 'POST', body: JSON.stringify(body || {}), headers: { 'Content-Type': 'application/json' } });
    } catch (err) {
      if (err.status === 409 && path === 'reprogramar') {
        await refreshCitaSlots();
        say('ct-msg', t('taken'), true);
        return;
      }
      say('ct-msg', t('failed') + err.message, true);
      return;
    }
    $('cita-dialog').close();
    await render();
    flash(t(done));
  }

  $('new-appt').addEventListener('click', guard(openBook));
  $('book-form').addEventListener('submit', guard(submitBook));
  for (const id of ['bk-service', 'bk-staff', 'bk-day']) $(id).addEventListener('change', guard(refreshBookSlots));
  for (const id of ['bk-name', 'bk-phone', 'bk-email']) $(id).addEventListener('change', () => { idemKey = ''; });
  $('bk-slots').addEventListener('change', () => { idemKey = ''; });
  $('bk-client-results').addEventListener('change', () => { idemKey = ''; });
  $('ct-day').addEventListener('change', guard(refreshCitaSlots));
  $('ct-confirm').addEventListener('click', guard(() => change('confirmar', {}, 'updated')));
  $('ct-complete').addEventListener('click', guard(() => change('completar', {}, 'updated')));
  $('ct-noshow').addEventListener('click', guard(() => change('no-asistio', {}, 'updated')));
  $('ct-move-form').addEventListener('submit', guard(async (ev) => {
    ev.preventDefault();
    const slot = chosen($('ct-slots'));
    if (!slot) { say('ct-msg', t('pickSlot'), true); return; }
    await change('reprogramar', { inicio: slot.value }, 'rescheduled');
  }));
  $('ct-cancel-form').addEventListener('submit', guard(async (ev) => {
    ev.preventDefault();
    await change('cancelar', { motivo: $('ct-reason').value.trim() }, 'cancelled');
  }));
  // An appointment opens with a click, or with Enter or Space when it has the focus.
  $('agenda').addEventListener('click', guard(async (ev) => {
    const box = ev.target.closest('.appt[data-id]');
    if (box) await openCita(box.dataset.id);
  }));
  $('agenda').addEventListener('keydown', guard(async (ev) => {
    const box = ev.target.closest('.appt[data-id]');
    if (box && (ev.key === 'Enter' || ev.key === ' ')) { ev.preventDefault(); await openCita(box.dataset.id); }
  }));
}
