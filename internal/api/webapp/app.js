// appcitas web app: sign in, pick the organization, the agenda (day and week).
// The access token lives only in this module's memory. The refresh token lives in an HttpOnly
// cookie that the page cannot read. Every text goes into the page through textContent.

import { TEXTS, setupAppointments } from '/app/appointments.js';
import { initReport, reportTexts } from '/app/report.js';
import { initSignup, signupTexts } from '/app/signup.js';
import { clientTexts, initClients } from '/app/clients.js';
import { initWebhooks, webhookTexts } from '/app/webhooks.js';
import { initSettings, settingsTexts, takeInvitation } from '/app/settings.js';
import { initFeeds, feedsTexts } from '/app/feeds.js';
import { setupDragMove, dragmoveTexts } from '/app/dragmove.js';

const T = {
  es: {
    org: 'Organización', logout: 'Cerrar sesión', logoutAll: 'Cerrar sesión en todas partes', signIn: 'Iniciar sesión',
    user: 'Usuario o correo', password: 'Contraseña', enter: 'Entrar', pickOrg: 'Elige una organización',
    branch: 'Sede', day: 'Día', today: 'Hoy', prev: 'Anterior', next: 'Siguiente', view: 'Vista', dayView: 'Día',
    weekView: 'Semana', staff: 'Profesional', pendiente: 'Pendiente', confirmada: 'Confirmada', completada: 'Completada',
    cancelada: 'Cancelada', no_asistio: 'No asistió', free: 'Libre', badLogin: 'Usuario o contraseña incorrectos.',
    failed: 'No se pudo completar la operación: ', noOrgs: 'Tu usuario no pertenece a ninguna organización.',
    noBranches: 'Aún no hay sedes. Crea una sede, servicios, horarios y tu equipo para empezar.',
    noStaff: 'No hay profesionales en esta sede.', signedOut: 'Sesión cerrada.', signedOutAll: 'Sesión cerrada en todos tus dispositivos.',
    now: 'Ahora', other: 'English', otherLang: 'en', setup: 'Para empezar',
    stepBranch: 'Crea una sede', stepServices: 'Crea tus servicios', stepHours: 'Define los horarios', stepTeam: 'Invita a tu equipo',
  },
  en: {
    org: 'Organization', logout: 'Sign out', logoutAll: 'Sign out everywhere', signIn: 'Sign in',
    user: 'Username or email', password: 'Password', enter: 'Sign in', pickOrg: 'Choose an organization',
    branch: 'Branch', day: 'Day', today: 'Today', prev: 'Previous', next: 'Next', view: 'View', dayView: 'Day',
    weekView: 'Week', staff: 'Staff member', pendiente: 'Pending', confirmada: 'Confirmed', completada: 'Completed',
    cancelada: 'Cancelled', no_asistio: 'No-show', free: 'Free', badLogin: 'Wrong username or password.',
    failed: 'The operation failed: ', noOrgs: 'Your user belongs to no organization.',
    noBranches: 'No branches yet. Create a branch, services, hours and your team to start.',
    noStaff: 'No staff members at this branch.', signedOut: 'Signed out.', signedOutAll: 'Signed out on all your devices.',
    now: 'Now', other: 'Español', otherLang: 'es', setup: 'Getting started',
    stepBranch: 'Create a branch', stepServices: 'Create your services', stepHours: 'Set the working hours', stepTeam: 'Invite your team',
  },
};

// Each module brings its texts. A key two modules give different texts would show one module the
// other's words, so it stops the page (and fails the browser tests) instead.
for (const texts of [TEXTS, reportTexts, signupTexts, clientTexts, webhookTexts, settingsTexts, feedsTexts, dragmoveTexts]) {
  for (const l of ['es', 'en']) {
    for (const [key, text] of Object.entries(texts[l])) {
      if (key in T[l] && T[l][key] !== text) throw new Error(`text "${key}" (${l}) is defined twice with different words`);
      T[l][key] = text;
    }
  }
}

const $ = (id) => document.getElementById(id);
const state = { lang: 'es', access: '', me: null, org: null, branches: [], members: [], hours: new Map(), serviceNames: new Map() };

function t(key) { return T[state.lang][key] ?? key; }

function pickLang() {
  const saved = localStorage.getItem('appcitas.lang');
  if (saved === 'es' || saved === 'en') return saved;
  return (navigator.language || 'es').toLowerCase().startsWith('en') ? 'en' : 'es';
}

function applyLang() {
  document.documentElement.lang = state.lang;
  for (const el of document.querySelectorAll('[data-i18n]')) el.textContent = t(el.dataset.i18n);
  for (const el of document.querySelectorAll('[data-i18n-label]')) el.setAttribute('aria-label', t(el.dataset.i18nLabel));
  $('lang').textContent = t('other');
  $('lang').lang = t('otherLang');
}

function flash(msg, isError) {
  const f = $('flash');
  f.textContent = msg;
  f.classList.toggle('error', !!isError);
  f.hidden = !msg;
}

function show(view) {
  // Every view is a section of main whose id ends in -view; modules add theirs to the page.
  for (const v of document.querySelectorAll('main > section[id$="-view"]')) v.hidden = v.id !== view;
  $('session').hidden = ['login-view', 'signup-view', 'invite-view'].includes(view);
}

// auth calls the token endpoints with the session cookie.
async function auth(path, body) {
  return fetch(path, {
    method: 'POST', credentials: 'same-origin',
    headers: { 'Content-Type': 'application/json', 'X-Session-Cookie': '1' },
    body: JSON.stringify(body || {}),
  });
}

// refresh trades the cookie for a new access token. Concurrent callers share one request: a
// refresh token is spent on first use, so a second request with it would fail.
let refreshing = null;
function refresh() {
  refreshing ??= (async () => {
    try {
      const r = await auth('/api/auth/refresh');
      if (!r.ok) return false;
      state.access = (await r.json()).access_token;
      return true;
    } finally {
      refreshing = null;
    }
  })();
  return refreshing;
}

// api calls the JSON API with the in-memory access token, refreshing it once on a 401.
async function api(path, opts = {}, retried = false) {
  const headers = { ...(opts.headers || {}), Authorization: 'Bearer ' + state.access };
  if (state.org) headers['X-Organization-ID'] = String(state.org.id);
  const r = await fetch(path, { ...opts, headers });
  if (r.status === 401 && !retried && await refresh()) return api(path, opts, true);
  if (r.status === 401) { state.access = ''; show('login-view'); throw new Error(t('signIn')); }
  if (!r.ok) {
    let msg = r.statusText;
    let code = '';
    try { ({ message: msg, code } = (await r.json()).error); } catch { /* not JSON */ }
    const err = new Error(msg);
    err.status = r.status;
    err.code = code;
    throw err;
  }
  return r.status === 204 ? null : r.json();
}

async function signedIn() {
  state.me = await api('/api/me');
  $('session-user').textContent = state.me.user.username;
  const orgs = state.me.organizations.filter((o) => o.is_active);
  const sel = $('org-select');
  sel.replaceChildren(...orgs.map((o) => new Option(o.nombre, String(o.id))));
  if (orgs.length === 0) { show('pick-view'); $('org-list').replaceChildren(); flash(t('noOrgs'), true); return; }
  const saved = Number(localStorage.getItem('appcitas.org'));
  const org = orgs.find((o) => o.id === saved) || (orgs.length === 1 ? orgs[0] : null);
  if (org) return openOrg(org);
  const list = $('org-list');
  list.replaceChildren(...orgs.map((o) => {
    const li = document.createElement('li');
    const b = document.createElement('button');
    b.type = 'button';
    b.dataset.id = String(o.id);
    b.textContent = o.nombre;
    b.addEventListener('click', guard(() => openOrg(o)));
    li.append(b);
    return li;
  }));
  show('pick-view');
}

// openOrg opens an organization's agenda. Until its branches, team and services are loaded,
// state.loading holds the promise, which views opened meanwhile (the report) wait for.
async function openOrg(org) {
  const loading = loadOrg(org);
  state.loading = loading;
  try {
    await loading;
  } finally {
    if (state.loading === loading) state.loading = null;
  }
}

async function loadOrg(org) {
  state.org = org;
  $('webhooks-open').hidden = org.role !== 'admin';
  localStorage.setItem('appcitas.org', String(org.id));
  $('org-select').value = String(org.id);
  $('settings-open').hidden = org.role !== 'admin'; // settings.js; the API refuses non-admins anyway
  show('agenda-view');
  flash('');
  const [branches, members, services] = await Promise.all([api('/api/sedes'), api('/api/miembros'), api('/api/servicios?incluir_inactivos=true')]);
  state.serviceNames = new Map(services.items.map((x) => [x.id, x.nombre]));
  state.branches = branches.items;
  state.members = members.items.filter((m) => m.is_active && m.role !== 'receptionist');
  if (org.role === 'staff') state.members = state.members.filter((m) => m.user_id === state.me.user.id);
  state.hours = new Map();
  await Promise.all(state.members.map(async (m) => {
    try { state.hours.set(m.id, (await api(`/api/miembros/${m.id}/horario`)).horario); } catch { state.hours.set(m.id, []); }
  }));
  $('branch-select').replaceChildren(...state.branches.map((b) => new Option(b.nombre, String(b.id))));
  $('staff-select').replaceChildren(...state.members.map((m) => new Option(m.nombre_visible || ('#' + m.id), String(m.id))));
  showChecklist(services.items.length);
  if (state.branches.length === 0) {
    $('agenda').replaceChildren();
    $('agenda-title').textContent = '';
    $('agenda-empty').textContent = t('noBranches');
    $('agenda-empty').hidden = false;
    return;
  }
  if (!$('day').value) $('day').value = todayIn(branch().zona_horaria);
  await render();
}

// showChecklist lists what a new organization still lacks before it can take bookings.
function showChecklist(services) {
  const steps = [
    ['stepBranch', state.branches.length > 0],
    ['stepServices', services > 0],
    ['stepHours', [...state.hours.values()].some((h) => h.length > 0)],
    ['stepTeam', state.members.length > 1],
  ];
  const list = $('checklist');
  list.replaceChildren(...steps.map(([key, done]) => {
    const li = el('li', done ? 'done' : 'todo', `${done ? '✓' : '○'} ${t(key)}`);
    li.dataset.step = key;
    li.dataset.done = String(done);
    return li;
  }));
  $('setup').hidden = state.org.role !== 'admin' || steps.every(([, done]) => done);
}

function branch() { return state.branches.find((b) => String(b.id) === $('branch-select').value) || state.branches[0]; }

// Dates are "YYYY-MM-DD" strings of the branch's calendar; arithmetic runs in UTC.
function todayIn(zone) { return new Intl.DateTimeFormat('en-CA', { timeZone: zone, year: 'numeric', month: '2-digit', day: '2-digit' }).format(new Date()); }
function addDays(d, n) { const x = new Date(d + 'T00:00:00Z'); x.setUTCDate(x.getUTCDate() + n); return x.toISOString().slice(0, 10); }
function weekday(d) { return new Date(d + 'T00:00:00Z').getUTCDay(); }
function minutes(hhmm) { const [h, m] = hhmm.split(':').map(Number); return h * 60 + m; }

// local returns an instant's calendar day and minute of the day on the branch's wall clock.
function local(iso, zone) {
  const parts = {};
  for (const p of new Intl.DateTimeFormat('en-GB', { timeZone: zone, hourCycle: 'h23', year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit' })
    .formatToParts(new Date(iso))) parts[p.type] = p.value;
  return { day: `${parts.year}-${parts.month}-${parts.day}`, min: Number(parts.hour) * 60 + Number(parts.minute) };
}

function fmtTime(iso, zone) { return new Intl.DateTimeFormat(state.lang, { timeZone: zone, hour: '2-digit', minute: '2-digit', hourCycle: 'h23' }).format(new Date(iso)); }
function fmtDay(d, opts) { return new Intl.DateTimeFormat(state.lang, { timeZone: 'UTC', ...opts }).format(new Date(d + 'T12:00:00Z')); }

function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
}

async function listCitas(q) {
  const items = [];
  let cursor = '';
  do {
    const p = new URLSearchParams({ ...q, limit: '200' });
    if (cursor) p.set('cursor', cursor);
    const page = await api('/api/citas?' + p);
    items.push(...page.items);
    cursor = page.next_cursor || '';
  } while (cursor);
  return items;
}

// renderGen counts renders: a render whose answers arrive after a newer render started draws nothing.
let renderGen = 0;

async function render() {
  const gen = ++renderGen;
  const b = branch();
  const zone = b.zona_horaria;
  const day = $('day').value || todayIn(zone);
  const week = $('view-select').value === 'week';
  $('staff-select').disabled = !week;
  $('agenda-empty').hidden = true;
  const today = todayIn(zone);
  let cols;
  let citas;
  if (week) {
    const staff = state.members.find((m) => String(m.id) === $('staff-select').value) || state.members[0];
    if (!staff) { return empty(t('noStaff')); }
    const monday = addDays(day, -((weekday(day) + 6) % 7));
    citas = await listCitas({ desde: monday, hasta: addDays(monday, 6), sede_id: String(b.id), profesional_id: String(staff.id) });
    if (gen !== renderGen) return;
    cols = [0, 1, 2, 3, 4, 5, 6].map((i) => {
      const d = addDays(monday, i);
      return { key: d, day: d, staff, head: fmtDay(d, { weekday: 'short', day: 'numeric', month: 'short' }) };
    });
    $('agenda-title').textContent = `${staff.nombre_visible} · ${fmtDay(monday, { day: 'numeric', month: 'long' })} – ${fmtDay(addDays(monday, 6), { day: 'numeric', month: 'long', year: 'numeric' })} · ${b.nombre} (${zone})`;
  } else {
    citas = await listCitas({ desde: day, hasta: day, sede_id: String(b.id) });
    if (gen !== renderGen) return;
    const staff = state.members.filter((m) => m.sede_id === b.id || (state.hours.get(m.id) || []).some((h) => h.sede_id === b.id) || citas.some((c) => c.profesional_id === m.id));
    if (staff.length === 0) return empty(t('noStaff'));
    cols = staff.map((m) => ({ key: String(m.id), day, staff: m, head: m.nombre_visible || ('#' + m.id) }));
    $('agenda-title').textContent = `${fmtDay(day, { weekday: 'long', day: 'numeric', month: 'long', year: 'numeric' })}${day === today ? ' · ' + t('today') : ''} · ${b.nombre} (${zone})`;
  }
  // The visible hours span the working hours and the appointments, at least 08:00–18:00.
  let lo = 8 * 60;
  let hi = 18 * 60;
  const free = (c) => (state.hours.get(c.staff.id) || []).filter((h) => h.sede_id === b.id && h.dia_semana === weekday(c.day));
  for (const c of cols) for (const h of free(c)) { lo = Math.min(lo, minutes(h.hora_inicio)); hi = Math.max(hi, minutes(h.hora_fin)); }
  const placed = citas.map((a) => ({ a, s: local(a.inicio, zone), e: local(a.fin, zone) }));
  for (const p of placed) { lo = Math.min(lo, p.s.min); hi = Math.max(hi, p.e.day === p.s.day ? p.e.min : 24 * 60); }
  // Today's view also spans the current time, so that the "now" line is always on it.
  const nowLocal = local(new Date().toISOString(), zone);
  if (cols.some((c) => c.day === today)) { lo = Math.min(lo, nowLocal.min); hi = Math.max(hi, nowLocal.min + 1); }
  lo = Math.floor(lo / 60) * 60;
  hi = Math.min(24 * 60, Math.ceil(hi / 60) * 60);
  const px = (m) => `calc(${(m - lo) / 60} * var(--hour))`;
  const height = `calc(${(hi - lo) / 60} * var(--hour))`;

  const grid = $('agenda');
  grid.dataset.lo = String(lo);
  grid.dataset.hi = String(hi);
  grid.dataset.zone = zone;
  grid.style.gridTemplateColumns = `3.4rem repeat(${cols.length}, minmax(7rem, 1fr))`;
  const hoursCol = el('div', 'col hours');
  hoursCol.append(el('div', 'col-head', ''));
  const hb = el('div', 'col-body');
  hb.style.height = height;
  for (let m = lo; m < hi; m += 60) {
    const l = el('span', 'hour-label', `${String(m / 60).padStart(2, '0')}:00`);
    l.style.top = px(m);
    hb.append(l);
  }
  hoursCol.append(hb);
  const columns = cols.map((c) => {
    const col = el('section', 'col');
    col.dataset.key = c.key;
    col.dataset.staff = String(c.staff.id);
    col.dataset.day = c.day;
    if (c.day === today) col.classList.add('today');
    col.setAttribute('aria-label', c.head);
    col.append(el('h3', 'col-head', c.head));
    const body = el('div', 'col-body');
    body.style.height = height;
    for (let m = lo; m < hi; m += 60) { const line = el('div', 'hour-line'); line.style.top = px(m); body.append(line); }
    for (const h of free(c)) {
      let start = minutes(h.hora_inicio);
      const cuts = [...(h.descansos || [])].sort((x, y) => minutes(x.hora_inicio) - minutes(y.hora_inicio));
      for (const br of [...cuts, { hora_inicio: h.hora_fin, hora_fin: h.hora_fin }]) {
        const end = minutes(br.hora_inicio);
        if (end > start) {
          const f = el('div', 'free');
          f.style.top = px(start);
          f.style.height = `calc(${(end - start) / 60} * var(--hour))`;
          f.title = `${t('free')} ${h.hora_inicio}`;
          body.append(f);
        }
        start = minutes(br.hora_fin);
      }
    }
    if (c.day === today && nowLocal.min >= lo && nowLocal.min < hi) {
      const n = el('div', 'now');
      n.style.top = px(nowLocal.min);
      n.dataset.min = String(nowLocal.min);
      n.title = `${t('now')} ${fmtTime(new Date().toISOString(), zone)}`;
      body.append(n);
    }
    for (const p of placed) {
      if (p.a.profesional_id !== c.staff.id || p.s.day !== c.day) continue;
      const end = p.e.day === p.s.day ? p.e.min : 24 * 60;
      const box = el('article', 'appt ' + p.a.estado);
      box.dataset.id = String(p.a.id);
      box.dataset.start = String(p.s.min);
      box.dataset.dur = String(Math.round((Date.parse(p.a.fin) - Date.parse(p.a.inicio)) / 60000));
      box.tabIndex = 0;
      box.style.top = px(p.s.min);
      box.style.height = `calc(${Math.max(end - p.s.min, 15) / 60} * var(--hour))`;
      const line = el('div');
      line.append(el('span', 't', `${fmtTime(p.a.inicio, zone)}–${fmtTime(p.a.fin, zone)}`), el('span', 'st', t(p.a.estado)));
      box.append(line, el('div', 'cl', p.a.cliente_nombre), el('div', 'sv', state.serviceNames.get(p.a.servicio_id) || ''));
      box.setAttribute('aria-label', `${fmtTime(p.a.inicio, zone)} ${p.a.cliente_nombre} ${state.serviceNames.get(p.a.servicio_id) || ''} ${t(p.a.estado)}`);
      body.append(box);
    }
    col.append(body);
    return col;
  });
  grid.replaceChildren(hoursCol, ...columns);
  drag?.decorate();
}

// moveNow keeps the "now" line at the branch's current minute between renders.
function moveNow() {
  const grid = $('agenda');
  const line = grid.querySelector('.now');
  if (!line || !grid.dataset.zone) return;
  const n = local(new Date().toISOString(), grid.dataset.zone);
  if (n.day !== line.closest('.col').dataset.day || n.min >= Number(grid.dataset.hi)) { line.remove(); return; }
  line.style.top = `calc(${(n.min - Number(grid.dataset.lo)) / 60} * var(--hour))`;
  line.dataset.min = String(n.min);
  line.title = `${t('now')} ${fmtTime(new Date().toISOString(), grid.dataset.zone)}`;
}

function empty(msg) {
  $('agenda').replaceChildren();
  $('agenda-title').textContent = `${fmtDay($('day').value, { weekday: 'long', day: 'numeric', month: 'long', year: 'numeric' })} · ${branch().nombre} (${branch().zona_horaria})`;
  $('agenda-empty').textContent = msg;
  $('agenda-empty').hidden = false;
}

function guard(fn) {
  return async (ev) => {
    try { await fn(ev); } catch (err) { flash(t('failed') + err.message, true); }
  };
}

function wire() {
  $('lang').addEventListener('click', guard(async () => {
    state.lang = state.lang === 'es' ? 'en' : 'es';
    localStorage.setItem('appcitas.lang', state.lang);
    applyLang();
    if (!$('agenda-view').hidden && state.branches.length) await render();
  }));
  $('login-form').addEventListener('submit', guard(async (ev) => {
    ev.preventDefault();
    const who = $('login-user').value.trim();
    const body = who.includes('@') ? { email: who } : { username: who };
    body.password = $('login-password').value;
    const r = await auth('/api/auth/token', body);
    if (!r.ok) {
      let msg = t('badLogin');
      if (r.status !== 401) { try { msg = t('failed') + (await r.json()).error.message; } catch { /* keep */ } }
      flash(msg, true);
      return;
    }
    state.access = (await r.json()).access_token;
    $('login-password').value = '';
    flash('');
    await signedIn();
  }));
  $('logout').addEventListener('click', guard(async () => {
    await auth('/api/auth/logout');
    signOut(t('signedOut'));
  }));
  $('logout-all').addEventListener('click', guard(async () => {
    await api('/api/auth/logout_all', { method: 'POST' });
    await auth('/api/auth/logout');
    signOut(t('signedOutAll'));
  }));
  $('org-select').addEventListener('change', guard(async () => {
    const org = state.me.organizations.find((o) => String(o.id) === $('org-select').value);
    $('day').value = '';
    if (org) await openOrg(org);
  }));
  for (const id of ['branch-select', 'day', 'view-select', 'staff-select']) $(id).addEventListener('change', guard(render));
  $('prev').addEventListener('click', guard(() => step(-1)));
  $('next').addEventListener('click', guard(() => step(1)));
  $('today').addEventListener('click', guard(async () => { $('day').value = todayIn(branch().zona_horaria); await render(); }));
  $('agenda-controls').addEventListener('submit', (ev) => ev.preventDefault());
  initReport({ api, state, t, guard, flash, show });
  initSignup({ state, t, guard, flash, show, signedIn });
  initClients({ api, state, t, guard, flash, show });
  initWebhooks({ api, state, t, guard, flash, show });
  settings = initSettings({ api, auth, state, t, guard, flash, show, signedIn, openOrg });
  initFeeds({ api, state, t, guard, flash, show });
}

// settings is what initSettings returns: openInvitation.
let settings = null;
// drag is what setupDragMove returns: decorate, which marks the movable appointments.
let drag = null;

async function step(dir) {
  const n = $('view-select').value === 'week' ? 7 : 1;
  $('day').value = addDays($('day').value || todayIn(branch().zona_horaria), dir * n);
  await render();
}

function signOut(msg) {
  state.access = '';
  state.org = null;
  state.me = null;
  $('settings-open').hidden = true;
  $('agenda').replaceChildren();
  show('login-view');
  flash(msg);
}

async function start() {
  state.lang = pickLang();
  applyLang();
  wire();
  setupAppointments({ $, t, api, state, branch, render, flash, fmtTime, guard, todayIn });
  drag = setupDragMove({ $, t, api, state, render, flash, fmtDay });
  setInterval(moveNow, 30 * 1000);
  const invitation = takeInvitation();
  if (invitation) {
    let user = '';
    if (await refresh()) { try { user = (await api('/api/me')).user.username; } catch { /* sign in below */ } }
    try { await settings.openInvitation(invitation, user); return; } catch (err) { flash(t('failed') + err.message, true); }
  }
  if (await refresh()) {
    try { await signedIn(); return; } catch (err) { flash(t('failed') + err.message, true); }
  }
  show('login-view');
}

start();
