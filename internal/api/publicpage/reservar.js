// The public booking page: /r/<slug> books, /r/<slug>/cita/<token> manages a booking. Plain
// JavaScript; every text goes in through textContent.

const TEXT = {
  es: {
    title: 'Reservar cita', branch: '1. Sede', service: '2. Servicio', staff: '3. Profesional', day: '4. Día y hora',
    dayLabel: 'Día', you: '5. Tus datos', name: 'Nombre', phone: 'Teléfono', email: 'Correo electrónico',
    consent: 'Acepto que el negocio me contacte sobre esta cita.', confirm: 'Confirmar reserva',
    doneTitle: '¡Listo! Tu cita quedó reservada', yourAppt: 'Tu cita', reschedule: 'Reprogramar', cancelTitle: 'Cancelar',
    cancel: 'Cancelar cita', cancelYes: 'Sí, cancelar mi cita', any: 'Cualquiera', lang: 'English',
    missingTitle: 'No encontramos esta página de reservas',
    missingText: 'Revisa la dirección o comunícate con el negocio. Puede que no reciba reservas en línea.',
    zone: 'Horarios en la zona horaria de la sede: ', noTimes: 'No hay horarios libres ese día. Prueba otro día.',
    loading: 'Cargando…', held: 'Guardamos este horario para ti durante {m} minutos: ', with: ' con ',
    done: 'Te enviamos un correo a {e} con los detalles y un enlace para reprogramar o cancelar.',
    fill: 'Completa nombre, teléfono y un correo válido, y acepta que te contactemos.',
    when: 'Cuándo', where: 'Dónde', what: 'Servicio', who: 'Con', state: 'Estado',
    call: 'Para cambiar esta cita, llama a la sede: {p}.', callNoPhone: 'Para cambiar esta cita, comunícate con el negocio.',
    cancelled: 'Tu cita está cancelada.', moved: 'Tu cita fue reprogramada.', cancelledNow: 'Cancelamos tu cita.',
    states: { pendiente: 'Reservada', confirmada: 'Confirmada', completada: 'Completada', cancelada: 'Cancelada', no_asistio: 'No asistió' },
    until: 'Puedes reprogramar hasta {r} y cancelar hasta {c}',
    error: 'Algo salió mal. Intenta de nuevo.',
  },
  en: {
    title: 'Book an appointment', branch: '1. Location', service: '2. Service', staff: '3. Staff member', day: '4. Day and time',
    dayLabel: 'Day', you: '5. Your details', name: 'Name', phone: 'Phone', email: 'Email',
    consent: 'I agree to be contacted about this appointment.', confirm: 'Confirm booking',
    doneTitle: 'Done! Your appointment is booked', yourAppt: 'Your appointment', reschedule: 'Reschedule', cancelTitle: 'Cancel',
    cancel: 'Cancel appointment', cancelYes: 'Yes, cancel my appointment', any: 'Anyone', lang: 'Español',
    missingTitle: 'We could not find this booking page',
    missingText: 'Check the address or contact the business. It may not take online bookings.',
    zone: 'Times in the location\'s time zone: ', noTimes: 'No free times that day. Try another day.',
    loading: 'Loading…', held: 'We hold this time for you for {m} minutes: ', with: ' with ',
    done: 'We sent an email to {e} with the details and a link to reschedule or cancel.',
    fill: 'Fill in name, phone and a valid email, and agree to be contacted.',
    when: 'When', where: 'Where', what: 'Service', who: 'With', state: 'Status',
    call: 'To change this appointment, call the location: {p}.', callNoPhone: 'To change this appointment, contact the business.',
    cancelled: 'Your appointment is cancelled.', moved: 'Your appointment was rescheduled.', cancelledNow: 'We cancelled your appointment.',
    states: { pendiente: 'Booked', confirmada: 'Confirmed', completada: 'Completed', cancelada: 'Cancelled', no_asistio: 'No-show' },
    until: 'You may reschedule until {r} and cancel until {c}',
    error: 'Something went wrong. Please try again.',
    codes: {
      slot_taken: 'That time is no longer free. Pick another one from the updated times.',
      hold_expired: 'Your hold expired. Pick a time again.',
      too_many_holds: 'You hold too many times. Confirm one or wait a few minutes.',
      rate_limited: 'Too many requests. Try again in a few seconds.',
      too_late: 'It is too late to change this appointment online. Please call the business.',
      not_found: 'We could not find this page.',
    },
  },
};

const $ = (id) => document.getElementById(id);
const parts = location.pathname.split('/').filter(Boolean); // r, slug[, cita, token]
const slug = parts[1] || '';
const token = parts[2] === 'cita' ? (parts[3] || '') : '';
const api = '/api/publico/' + encodeURIComponent(slug);

const state = { lang: localStorage.getItem('reservar.lang') === 'en' ? 'en' : 'es', info: null, branch: null, service: null,
  staff: null, staffList: [], hold: null, appt: null, countdown: 0 };

function t(key, vars) {
  let s = TEXT[state.lang][key] ?? TEXT.es[key] ?? key;
  for (const [k, v] of Object.entries(vars || {})) s = s.replace('{' + k + '}', v);
  return s;
}

function applyTexts() {
  document.documentElement.lang = state.lang;
  for (const el of document.querySelectorAll('[data-t]')) el.textContent = t(el.dataset.t);
  $('lang').textContent = t('lang');
  if (state.info) $('org-name').textContent = state.info.nombre;
}

function say(msg) { $('status').textContent = msg || ''; }

// errorText is what the page says of an API error: the English text of its code, or its message.
function errorText(body) {
  const e = body && body.error;
  if (!e) return t('error');
  if (state.lang === 'en') return (TEXT.en.codes[e.code]) || t('error');
  return e.message || t('error');
}

async function call(method, path, body) {
  const opts = { method, headers: {} };
  if (body !== undefined) {
    opts.headers['Content-Type'] = 'application/json';
    opts.body = JSON.stringify(body);
  }
  const res = await fetch(api + path, opts);
  let data = null;
  try { data = await res.json(); } catch { data = null; }
  return { ok: res.ok, status: res.status, data };
}

function fmtTime(iso, zone) {
  return new Intl.DateTimeFormat(state.lang === 'en' ? 'en-US' : 'es-CO', { hour: 'numeric', minute: '2-digit', timeZone: zone }).format(new Date(iso));
}

function fmtWhen(iso, zone) {
  return new Intl.DateTimeFormat(state.lang === 'en' ? 'en-US' : 'es-CO',
    { weekday: 'long', day: 'numeric', month: 'long', hour: 'numeric', minute: '2-digit', timeZone: zone }).format(new Date(iso));
}

function localDay(zone, plusDays) {
  const d = new Date(Date.now() + (plusDays || 0) * 86400000);
  return new Intl.DateTimeFormat('en-CA', { timeZone: zone, year: 'numeric', month: '2-digit', day: '2-digit' }).format(d);
}

function choice(container, label, onClick, selected) {
  const b = document.createElement('button');
  b.type = 'button';
  b.textContent = label;
  if (selected) b.classList.add('selected');
  b.addEventListener('click', () => {
    for (const x of container.querySelectorAll('button')) x.classList.remove('selected');
    b.classList.add('selected');
    onClick();
  });
  container.append(b);
  return b;
}

function show(id, on) { $(id).hidden = !on; }

// --- booking ---

async function startBooking() {
  say(t('loading'));
  const r = await call('GET', '');
  say('');
  if (!r.ok) {
    if (r.status === 404) { show('missing', true); return; }
    say(errorText(r.data));
    return;
  }
  state.info = r.data;
  applyTexts();
  show('book', true);
  renderBranches();
}

function renderBranches() {
  const box = $('branches');
  box.replaceChildren();
  for (const b of state.info.sedes) {
    choice(box, b.nombre + (b.direccion ? ' — ' + b.direccion : ''), () => { state.branch = b; afterBranch(); }, state.branch && state.branch.id === b.id);
  }
  if (state.info.sedes.length === 1 && !state.branch) box.querySelector('button').click();
}

function afterBranch() {
  for (const id of ['step-staff', 'step-day', 'step-form', 'done']) show(id, false);
  show('step-service', true);
  const box = $('services');
  box.replaceChildren();
  for (const s of state.info.servicios) {
    choice(box, s.nombre + ' · ' + s.duracion_minutos + ' min', () => { state.service = s; afterService(); });
  }
}

async function afterService() {
  for (const id of ['step-day', 'step-form', 'done']) show(id, false);
  const r = await call('GET', '/profesionales?sede_id=' + state.branch.id + '&servicio_id=' + state.service.id);
  if (!r.ok) { say(errorText(r.data)); return; }
  say('');
  state.staffList = r.data.items;
  show('step-staff', true);
  const box = $('staff');
  box.replaceChildren();
  choice(box, t('any'), () => { state.staff = null; afterStaff(); });
  for (const p of state.staffList) choice(box, p.nombre_visible, () => { state.staff = p; afterStaff(); });
}

function afterStaff() {
  show('step-form', false);
  show('step-day', true);
  const zone = state.branch.zona_horaria;
  const day = $('day');
  day.min = localDay(zone, 0);
  day.max = localDay(zone, state.info.horizonte_dias);
  if (!day.value || day.value < day.min || day.value > day.max) day.value = day.min;
  $('zone').textContent = t('zone') + zone;
  loadTimes();
}

// loads numbers the loads of free times: only the latest one's answer is drawn.
let loads = 0;

async function loadTimes() {
  const box = $('times');
  const seq = ++loads;
  box.replaceChildren();
  const day = $('day').value;
  if (!day) return;
  let q = '/disponibilidad?sede_id=' + state.branch.id + '&servicio_id=' + state.service.id + '&desde=' + day + '&hasta=' + day;
  if (state.staff) q += '&profesional_id=' + state.staff.id;
  const r = await call('GET', q);
  if (seq !== loads) return;
  box.replaceChildren();
  if (!r.ok) { say(errorText(r.data)); return; }
  // "Cualquiera": one button per free time, for the first staff member free then.
  const seen = new Map();
  for (const p of r.data.profesionales) {
    for (const s of p.slots) if (!seen.has(s.inicio)) seen.set(s.inicio, { slot: s, staff: p });
  }
  const all = [...seen.values()].sort((a, b) => new Date(a.slot.inicio) - new Date(b.slot.inicio));
  if (all.length === 0) {
    const p = document.createElement('p');
    p.className = 'hint';
    p.textContent = t('noTimes');
    box.append(p);
    return;
  }
  for (const { slot, staff } of all) {
    choice(box, fmtTime(slot.inicio, r.data.zona_horaria), () => holdTime(slot, staff, r.data.zona_horaria));
  }
}

async function holdTime(slot, staff, zone) {
  say('');
  const r = await call('POST', '/retenciones', { sede_id: state.branch.id, servicio_id: state.service.id,
    profesional_id: staff.profesional_id, inicio: slot.inicio, sitio_web: $('website').value });
  if (!r.ok) {
    say(errorText(r.data));
    show('step-form', false);
    loadTimes();
    return;
  }
  state.hold = r.data;
  $('held').textContent = t('held', { m: state.info.retencion_minutos }) + fmtWhen(slot.inicio, zone) + t('with') + staff.nombre_visible;
  show('step-form', true);
  $('name').focus();
}

async function confirmBooking(ev) {
  ev.preventDefault();
  const name = $('name').value.trim();
  const phone = $('phone').value.trim();
  const email = $('email').value.trim();
  if (!name || !phone || !/^[^\s@]+@[^\s@]+$/.test(email) || !$('consent').checked) {
    say(t('fill'));
    return;
  }
  $('confirm').disabled = true;
  const r = await call('POST', '/reservas', { retencion_id: state.hold.id, retencion_token: state.hold.token,
    cliente_nombre: name, cliente_telefono: phone, cliente_email: email, consentimiento: true, idioma: state.lang,
    sitio_web: $('website').value });
  $('confirm').disabled = false;
  if (!r.ok) {
    say(errorText(r.data));
    if (r.status === 409) {
      show('step-form', false);
      loadTimes();
    }
    return;
  }
  say('');
  for (const id of ['step-branch', 'step-service', 'step-staff', 'step-day', 'step-form']) show(id, false);
  $('done-text').textContent = t('done', { e: r.data.cliente_email });
  show('done', true);
}

// --- managing a booking ---

async function startManage() {
  say(t('loading'));
  const r = await call('GET', '/citas/' + encodeURIComponent(token));
  say('');
  if (!r.ok) {
    if (r.status === 404) { show('missing', true); $('missing').querySelector('p').textContent = errorText(r.data); return; }
    say(errorText(r.data));
    return;
  }
  renderManage(r.data);
}

function renderManage(a) {
  state.appt = a;
  show('manage', true);
  if (a.organizacion) $('org-name').textContent = a.organizacion;
  const dl = $('appt');
  dl.replaceChildren();
  const row = (k, v) => {
    const dt = document.createElement('dt');
    dt.textContent = t(k);
    const dd = document.createElement('dd');
    dd.textContent = v;
    dl.append(dt, dd);
  };
  row('what', a.servicio_nombre);
  row('who', a.profesional_nombre);
  row('when', fmtWhen(a.inicio, a.zona_horaria) + ' (' + a.zona_horaria + ')');
  row('where', a.sede_nombre);
  row('state', t('states')[a.estado] || a.estado);
  const note = $('manage-note');
  const live = a.estado === 'pendiente' || a.estado === 'confirmada';
  if (!live) {
    note.textContent = a.estado === 'cancelada' ? t('cancelled') : '';
  } else if (!a.puede_reprogramar && !a.puede_cancelar) {
    note.textContent = a.sede_telefono ? t('call', { p: a.sede_telefono }) : t('callNoPhone');
  } else {
    note.textContent = t('until', { r: fmtWhen(a.reprogramar_hasta, a.zona_horaria), c: fmtWhen(a.cancelar_hasta, a.zona_horaria) });
  }
  show('resched', live && a.puede_reprogramar);
  show('cancel-box', live && a.puede_cancelar);
  show('cancel-yes', false);
  show('cancel', true);
  if (live && a.puede_reprogramar) {
    const day = $('rday');
    day.min = localDay(a.zona_horaria, 0);
    if (!day.value) {
      day.value = new Intl.DateTimeFormat('en-CA', { timeZone: a.zona_horaria, year: 'numeric', month: '2-digit', day: '2-digit' }).format(new Date(a.inicio));
    }
    $('rzone').textContent = t('zone') + a.zona_horaria;
    loadRescheduleTimes();
  }
}

async function loadRescheduleTimes() {
  const a = state.appt;
  const box = $('rtimes');
  const seq = ++loads;
  box.replaceChildren();
  const day = $('rday').value;
  if (!day) return;
  const r = await call('GET', '/disponibilidad?sede_id=' + a.sede_id + '&servicio_id=' + a.servicio_id + '&desde=' + day + '&hasta=' + day +
    '&profesional_id=' + a.profesional_id);
  if (seq !== loads) return;
  box.replaceChildren();
  if (!r.ok) { say(errorText(r.data)); return; }
  const slots = r.data.profesionales.flatMap((p) => p.slots);
  if (slots.length === 0) {
    const p = document.createElement('p');
    p.className = 'hint';
    p.textContent = t('noTimes');
    box.append(p);
    return;
  }
  for (const s of slots) {
    choice(box, fmtTime(s.inicio, r.data.zona_horaria), async () => {
      const m = await call('POST', '/citas/' + encodeURIComponent(token) + '/reprogramar', { inicio: s.inicio });
      if (!m.ok) { say(errorText(m.data)); loadRescheduleTimes(); return; }
      say(t('moved'));
      renderManage(m.data);
    });
  }
}

async function cancelBooking() {
  const m = await call('POST', '/citas/' + encodeURIComponent(token) + '/cancelar');
  if (!m.ok) { say(errorText(m.data)); return; }
  say(t('cancelledNow'));
  renderManage(m.data);
}

// --- start ---

$('lang').addEventListener('click', () => {
  state.lang = state.lang === 'es' ? 'en' : 'es';
  localStorage.setItem('reservar.lang', state.lang);
  applyTexts();
  if (state.appt) renderManage(state.appt);
});
$('day').addEventListener('change', loadTimes);
$('rday').addEventListener('change', loadRescheduleTimes);
$('step-form').addEventListener('submit', confirmBooking);
$('cancel').addEventListener('click', () => { show('cancel', false); show('cancel-yes', true); });
$('cancel-yes').addEventListener('click', cancelBooking);
applyTexts();
if (!slug) show('missing', true);
else if (token) startManage();
else startBooking();
