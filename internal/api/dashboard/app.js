// appcitas · tenant dashboard. Plain JavaScript, no dependencies. Every value shown is put in the
// page with textContent (never as HTML). The tokens live in sessionStorage only: closing the tab
// logs out.
'use strict';

(function () {
  const $ = (id) => document.getElementById(id);
  const store = window.sessionStorage;
  const KEYS = { access: 'appcitas.admin.access', refresh: 'appcitas.admin.refresh', user: 'appcitas.admin.user' };

  const state = {
    access: store.getItem(KEYS.access) || '',
    refresh: store.getItem(KEYS.refresh) || '',
    user: store.getItem(KEYS.user) || '',
    cursors: [0], // cursor of each page seen; the last one is the current page's
    next: null,
    selected: null, // id of the tenant in the detail panel
    backupsConfigured: false,
    billingConfigured: false,
    refreshing: null,
  };

  const SUBSCRIPTION = {
    trialing: 'En prueba', active: 'Activa', past_due: 'Pago vencido',
    suspended: 'Suspendida', cancelled: 'Cancelada',
  };

  class APIError extends Error {
    constructor(status, code, message) {
      super(message);
      this.status = status;
      this.code = code;
    }
  }

  function saveTokens(t, user) {
    state.access = t.access_token || '';
    state.refresh = t.refresh_token || '';
    store.setItem(KEYS.access, state.access);
    store.setItem(KEYS.refresh, state.refresh);
    if (user !== undefined) {
      state.user = user;
      store.setItem(KEYS.user, user);
    }
  }

  function clearTokens() {
    state.access = state.refresh = state.user = '';
    Object.values(KEYS).forEach((k) => store.removeItem(k));
  }

  async function send(method, path, body, auth) {
    const headers = { Accept: 'application/json' };
    if (auth && state.access) headers.Authorization = 'Bearer ' + state.access;
    const init = { method, headers, cache: 'no-store', credentials: 'omit', redirect: 'error' };
    if (body !== undefined) {
      headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(body);
    }
    let res;
    try {
      res = await fetch(path, init);
    } catch (e) {
      throw new APIError(0, 'network', 'No se pudo contactar al servidor.');
    }
    const text = await res.text();
    let data = null;
    if (text) {
      try { data = JSON.parse(text); } catch (e) { data = null; }
    }
    if (!res.ok) {
      const err = (data && data.error) || { code: 'http_' + res.status, message: 'El servidor respondió ' + res.status + '.' };
      throw new APIError(res.status, err.code, err.message);
    }
    return data;
  }

  // refreshTokens trades the refresh token for new tokens, once at a time (a refresh token is
  // spent when used, so two concurrent refreshes would log the session out).
  function refreshTokens() {
    if (!state.refresh) return Promise.resolve(false);
    if (!state.refreshing) {
      state.refreshing = send('POST', '/api/auth/refresh', { refresh_token: state.refresh }, false)
        .then((t) => { saveTokens(t); return true; })
        .catch(() => false)
        .finally(() => { state.refreshing = null; });
    }
    return state.refreshing;
  }

  // api calls the API with the access token, refreshing it once on a 401.
  async function api(method, path, body) {
    try {
      return await send(method, path, body, true);
    } catch (e) {
      if (e.status === 401 && (await refreshTokens())) {
        return send(method, path, body, true);
      }
      throw e;
    }
  }

  // ---- views ----

  function show(view) {
    ['login-view', 'forbidden-view', 'tenants-view'].forEach((id) => { $(id).hidden = id !== view; });
    $('session').hidden = view === 'login-view';
    $('session-user').textContent = state.user ? 'Sesión: ' + state.user : '';
    if (view !== 'tenants-view') $('detail').hidden = true;
  }

  let flashTimer = null;
  function flash(message, kind) {
    const el = $('flash');
    el.textContent = message;
    el.className = kind === 'error' ? 'flash error' : 'flash ok';
    el.hidden = false;
    clearTimeout(flashTimer);
    flashTimer = setTimeout(() => { el.hidden = true; }, kind === 'error' ? 12000 : 6000);
  }

  function showLogin(message) {
    clearTokens();
    show('login-view');
    const err = $('login-error');
    err.textContent = message || '';
    err.hidden = !message;
    $('login-password').value = '';
    $('login-user').focus();
  }

  // errorMessages says in Spanish what each API error code means. The API's own messages are
  // English: the page never shows them inside a Spanish sentence.
  const errorMessages = {
    network: 'No se pudo contactar al servidor.',
    invalid_credentials: 'Usuario o contraseña incorrectos.',
    rate_limited: 'Demasiados intentos: espere un momento.',
    too_many_requests: 'Demasiados intentos: espere un momento.',
    superuser_required: 'El panel de tenants es solo para superusuarios.',
    organization_not_found: 'La organización no existe.',
    not_found: 'No se encontró lo pedido.',
    invalid_id: 'El id de la organización no es válido.',
    invalid_input: 'Algún dato enviado no es válido.',
    invalid_query_parameter: 'Algún filtro no es válido.',
    backups_not_configured: 'Este servidor no tiene backups configurados.',
    no_schema_name: 'La organización aún no tiene schema: ejecute appcitas assign_schema_names.',
    backup_in_progress: 'Ya hay un backup de esta organización en curso; su resultado aparecerá como último backup.',
    schema_missing: 'El schema de la organización no existe: ejecute appcitas create_tenant_schema.',
    billing_not_configured: 'Este servidor no tiene la facturación configurada.',
    no_subscription: 'La organización no tiene suscripción.',
    not_in_trial: 'La organización no está en periodo de prueba.',
    timeout: 'El servidor tardó demasiado: intente de nuevo.',
    try_again: 'Un cambio simultáneo lo impidió: intente de nuevo.',
    internal_error: 'Error interno del servidor.',
  };

  // spanish returns the Spanish message of an API error: its code's, else one naming the status
  // and the code.
  function spanish(e) {
    if (e && errorMessages[e.code]) return errorMessages[e.code];
    if (e && e.status === 429) return errorMessages.rate_limited;
    if (e && e.status) return 'El servidor respondió ' + e.status + (e.code ? ' (' + e.code + ')' : '') + '.';
    return 'Error inesperado: ' + String(e);
  }

  // fail shows an API error where it belongs: the login form when the session is gone, the
  // refusal page for a non-superuser, a message otherwise.
  function fail(e) {
    if (e.status === 401) {
      showLogin('Su sesión expiró o no es válida: inicie sesión de nuevo.');
    } else if (e.status === 403 && e.code === 'superuser_required') {
      show('forbidden-view');
      $('forbidden-message').textContent = 'La cuenta «' + (state.user || '?') + '» no es superusuario: el panel de tenants es solo para superusuarios.';
    } else {
      flash(spanish(e), 'error');
    }
  }

  // ---- formatting ----

  function fmtDate(s, withTime) {
    if (!s) return '—';
    const d = new Date(s);
    if (isNaN(d.getTime())) return s;
    const opts = withTime ? { dateStyle: 'medium', timeStyle: 'short' } : { dateStyle: 'medium' };
    return d.toLocaleString('es-CO', opts);
  }

  function el(tag, text, cls) {
    const e = document.createElement(tag);
    if (text !== undefined && text !== null) e.textContent = text;
    if (cls) e.className = cls;
    return e;
  }

  function badge(text, cls) { return el('span', text, 'badge ' + cls); }

  function migrationText(t) {
    if (!t.schema_name) return 'sin schema_name';
    if (t.schema_exists === false) return 'falta el schema';
    const m = t.migration;
    return m.version + '/' + m.latest + (m.behind ? ' ⚠ atrasado' : '');
  }

  function subscriptionText(sub) {
    if (!sub) return 'sin suscripción';
    const label = SUBSCRIPTION[sub.status] || sub.status;
    const until = sub.status === 'trialing' && sub.trial_ends_at ? sub.trial_ends_at : sub.period_end;
    return label + ' · hasta ' + fmtDate(until);
  }

  function backupText(b) {
    if (!b) return 'no configurado';
    if (b.error) return '? ' + b.error;
    let s = b.last_success ? fmtDate(b.last_success, true) : 'nunca';
    if (b.last_failure) s += ' · ✗ falló ' + fmtDate(b.last_failure, true);
    return s;
  }

  // ---- the list ----

  function filters() {
    const p = new URLSearchParams();
    const q = $('f-q').value.trim();
    if (q) p.set('q', q);
    if ($('f-estado').value) p.set('estado', $('f-estado').value);
    if ($('f-suscripcion').value) p.set('suscripcion', $('f-suscripcion').value);
    p.set('limit', $('f-limit').value);
    const cursor = state.cursors[state.cursors.length - 1];
    if (cursor) p.set('cursor', String(cursor));
    return p;
  }

  function renderRow(t) {
    const tr = el('tr');
    tr.dataset.id = String(t.id);
    tr.dataset.slug = t.slug;
    tr.dataset.active = String(t.is_active);
    tr.tabIndex = 0;
    if (state.selected === t.id) tr.classList.add('selected');
    if (!t.is_active) tr.classList.add('inactive');
    tr.append(el('td', String(t.id), 'num'));
    const name = el('td', null, 'nombre');
    name.append(el('strong', t.nombre), el('div', t.slug, 'hint'));
    tr.append(name);
    tr.append(el('td', t.schema_name || '—', 'mono'));
    tr.append(el('td', t.database_name, 'mono'));
    const st = el('td', null, 'estado');
    st.append(t.is_active ? badge('Activo', 'on') : badge('Inactivo', 'off'));
    tr.append(st);
    const mig = el('td', migrationText(t), 'migracion');
    if (t.migration.behind || t.schema_exists === false || t.server_error) mig.classList.add('warn');
    if (t.server_error) mig.title = t.server_error;
    tr.append(mig);
    tr.append(el('td', t.subscription ? t.subscription.plan_name || t.subscription.plan_code : '—'));
    const sub = el('td', subscriptionText(t.subscription), 'suscripcion');
    if (t.subscription && ['past_due', 'suspended', 'cancelled'].includes(t.subscription.status)) sub.classList.add('warn');
    tr.append(sub);
    const bk = el('td', backupText(t.backup), 'backup');
    if (t.backup && (t.backup.last_failure || t.backup.error)) {
      bk.classList.add('warn');
      bk.title = t.backup.failure_message || t.backup.error || '';
    }
    tr.append(bk);
    tr.append(el('td', fmtDate(t.created_at)));
    // On a phone each row stacks its cells, each under its column's name (app.css).
    const labels = Array.from(document.querySelectorAll('#tenants thead th'), (th) => th.textContent);
    tr.querySelectorAll('td').forEach((td, i) => { td.dataset.label = labels[i] || ''; });
    const open = () => openDetail(t.id);
    tr.addEventListener('click', open);
    tr.addEventListener('keydown', (ev) => { if (ev.key === 'Enter') open(); });
    return tr;
  }

  async function loadTenants() {
    let data;
    try {
      data = await api('GET', '/api/admin/tenants?' + filters().toString());
    } catch (e) {
      if (e.status !== 401 && !(e.status === 403 && e.code === 'superuser_required')) show('tenants-view');
      fail(e);
      return;
    }
    show('tenants-view');
    state.backupsConfigured = data.backups_configured;
    state.billingConfigured = data.billing_configured;
    state.next = data.next_cursor;
    const rows = $('tenant-rows');
    rows.replaceChildren(...data.tenants.map(renderRow));
    if (data.tenants.length === 0) {
      const tr = el('tr');
      const td = el('td', 'Ninguna organización coincide con los filtros.', 'empty');
      td.colSpan = 10;
      tr.append(td);
      rows.append(tr);
    }
    const page = state.cursors.length;
    $('summary').textContent = data.total + (data.total === 1 ? ' organización' : ' organizaciones') +
      ' · versión de migración más reciente: ' + data.latest_version;
    $('page-info').textContent = 'Página ' + page;
    $('prev-page').disabled = page <= 1;
    $('next-page').disabled = data.next_cursor === null || data.next_cursor === undefined;
    document.body.dataset.loaded = 'true';
  }

  // ---- the detail panel ----

  function field(dl, term, value, cls) {
    const dd = el('dd', value, cls);
    dl.append(el('dt', term), dd);
    return dd;
  }

  async function openDetail(id) {
    let t;
    try {
      t = await api('GET', '/api/admin/tenants/' + encodeURIComponent(id));
    } catch (e) {
      fail(e);
      return;
    }
    state.selected = t.id;
    document.querySelectorAll('#tenant-rows tr').forEach((tr) => {
      tr.classList.toggle('selected', tr.dataset.id === String(t.id));
    });
    const panel = $('detail');
    panel.dataset.id = String(t.id);
    panel.dataset.active = String(t.is_active);
    $('d-nombre').textContent = t.nombre;
    const dl = $('d-fields');
    dl.replaceChildren();
    field(dl, 'ID', String(t.id));
    field(dl, 'Slug', t.slug, 'mono');
    field(dl, 'Schema', t.schema_name || '—', 'mono');
    field(dl, 'Servidor (database_name)', t.database_name, 'mono');
    field(dl, 'Zona horaria', t.zona_horaria);
    field(dl, 'Estado', t.is_active ? 'Activo' : 'Inactivo', 'd-estado');
    field(dl, 'Schema en PostgreSQL', t.schema_exists === true ? 'presente' : t.schema_exists === false ? 'FALTA' : (t.server_error || '—'));
    field(dl, 'Migración', migrationText(t));
    const sub = t.subscription;
    field(dl, 'Plan', sub ? (sub.plan_name || sub.plan_code) : '—');
    field(dl, 'Suscripción', sub ? (SUBSCRIPTION[sub.status] || sub.status) : 'sin suscripción', 'd-suscripcion');
    if (sub) {
      field(dl, 'Prueba hasta', fmtDate(sub.trial_ends_at, true), 'd-trial');
      field(dl, 'Periodo hasta', fmtDate(sub.period_end, true));
      if (sub.grace_ends_at) field(dl, 'Gracia hasta', fmtDate(sub.grace_ends_at, true));
    }
    field(dl, 'Último backup', t.backup ? (t.backup.last_success ? fmtDate(t.backup.last_success, true) : 'nunca') : 'no configurado', 'd-backup');
    if (t.backup && t.backup.last_failure) {
      field(dl, 'Último fallo de backup', fmtDate(t.backup.last_failure, true) + ': ' + (t.backup.failure_message || ''), 'warn');
    }
    field(dl, 'Creado', fmtDate(t.created_at, true));

    const counts = $('d-counts');
    counts.replaceChildren();
    if (t.counts) {
      field(counts, 'Sedes activas', String(t.counts.branches));
      field(counts, 'Servicios activos', String(t.counts.services));
      field(counts, 'Miembros activos', String(t.counts.members));
      field(counts, 'Citas en los próximos 30 días', String(t.counts.appointments_next_30_days));
    } else {
      field(counts, 'No disponible', t.counts_error || '—', 'warn');
    }

    $('act-deactivate').hidden = !t.is_active;
    $('act-activate').hidden = t.is_active;
    explain($('act-backup'), backupUnavailable(t));
    explain($('act-extend'), extendUnavailable(sub), $('trial-days'));
    panel.hidden = false;
  }

  // explain disables a button (and its companions) when why is not empty, and says why twice: as
  // the button's title (a tooltip), and as visible text under it (touch screens show no tooltip).
  function explain(button, why, ...companions) {
    button.disabled = why !== '';
    button.title = why;
    for (const el of companions) el.disabled = why !== '';
    const note = $(button.id + '-why');
    note.textContent = why;
    note.hidden = why === '';
  }

  // backupUnavailable says why a tenant's backup cannot be taken from here, or ''.
  function backupUnavailable(t) {
    if (!state.backupsConfigured) return 'No disponible: este servidor no tiene almacén de backups configurado.';
    if (!t.schema_name) return 'No disponible: la organización aún no tiene schema.';
    return '';
  }

  // extendUnavailable says why a subscription's trial cannot be extended, or ''.
  function extendUnavailable(sub) {
    if (!state.billingConfigured) return 'No disponible: este servidor corre sin facturación.';
    if (!sub) return 'No disponible: la organización no tiene suscripción.';
    if (sub.status === 'active') return 'No disponible: la suscripción está activa (pagada); solo se extiende una prueba, un pago vencido o una suspensión.';
    if (sub.status === 'cancelled') return 'No disponible: la suscripción está cancelada.';
    if (!sub.trial_ends_at) return 'No disponible: la suscripción nunca tuvo prueba.';
    return '';
  }

  function confirmDialog(text, okLabel) {
    const dialog = $('confirm-dialog');
    $('confirm-text').textContent = text;
    $('confirm-yes').textContent = okLabel;
    return new Promise((resolve) => {
      dialog.addEventListener('close', () => resolve(dialog.returnValue === 'ok'), { once: true });
      dialog.returnValue = '';
      dialog.showModal();
    });
  }

  async function act(button, method, path, body, done) {
    button.disabled = true;
    try {
      const res = await api(method, path, body);
      flash(done(res), 'ok');
    } catch (e) {
      fail(e);
    } finally {
      button.disabled = false;
    }
    await loadTenants();
    if (state.selected !== null) await openDetail(state.selected);
  }

  function humanBytes(n) {
    if (n < 1024) return n + ' B';
    if (n < 1024 * 1024) return (n / 1024).toFixed(1) + ' KiB';
    return (n / 1024 / 1024).toFixed(1) + ' MiB';
  }

  // ---- wiring ----

  function wire() {
    $('login-form').addEventListener('submit', async (ev) => {
      ev.preventDefault();
      const user = $('login-user').value.trim();
      const password = $('login-password').value;
      const body = user.includes('@') ? { email: user, password } : { username: user, password };
      const button = $('login-submit');
      button.disabled = true;
      try {
        clearTokens();
        const t = await send('POST', '/api/auth/token', body, false);
        saveTokens(t, user);
        $('login-password').value = '';
        $('login-error').hidden = true;
        state.cursors = [0];
        await loadTenants();
      } catch (e) {
        const msg = e.status === 401 ? errorMessages.invalid_credentials : spanish(e);
        $('login-error').textContent = msg;
        $('login-error').hidden = false;
      } finally {
        button.disabled = false;
      }
    });

    const logout = async () => {
      const refresh = state.refresh;
      clearTokens();
      if (refresh) {
        try { await send('POST', '/api/auth/logout', { refresh_token: refresh }, false); } catch (e) { /* best effort */ }
      }
      showLogin('');
    };
    $('logout').addEventListener('click', logout);
    $('forbidden-logout').addEventListener('click', logout);

    $('filters').addEventListener('submit', (ev) => {
      ev.preventDefault();
      state.cursors = [0];
      loadTenants();
    });
    $('f-reset').addEventListener('click', () => {
      $('f-q').value = '';
      $('f-estado').value = '';
      $('f-suscripcion').value = '';
      state.cursors = [0];
      loadTenants();
    });
    ['f-estado', 'f-suscripcion', 'f-limit'].forEach((id) => $(id).addEventListener('change', () => {
      state.cursors = [0];
      loadTenants();
    }));
    $('next-page').addEventListener('click', () => {
      if (state.next === null || state.next === undefined) return;
      state.cursors.push(state.next);
      loadTenants();
    });
    $('prev-page').addEventListener('click', () => {
      if (state.cursors.length > 1) state.cursors.pop();
      loadTenants();
    });

    $('d-close').addEventListener('click', () => {
      state.selected = null;
      $('detail').hidden = true;
      document.querySelectorAll('#tenant-rows tr.selected').forEach((tr) => tr.classList.remove('selected'));
    });

    $('act-deactivate').addEventListener('click', async (ev) => {
      const id = state.selected;
      const name = $('d-nombre').textContent;
      const ok = await confirmDialog('¿Desactivar «' + name + '»? Sus usuarios recibirán 403 organization_inactive hasta que la active de nuevo; sus datos se conservan.', 'Desactivar');
      if (!ok) return;
      await act(ev.currentTarget || $('act-deactivate'), 'POST', '/api/admin/tenants/' + id + '/deactivate', undefined,
        (t) => '«' + t.nombre + '» desactivada.');
    });
    $('act-activate').addEventListener('click', (ev) => {
      const id = state.selected;
      act(ev.currentTarget, 'POST', '/api/admin/tenants/' + id + '/activate', undefined, (t) => '«' + t.nombre + '» activada.');
    });
    $('act-backup').addEventListener('click', (ev) => {
      const id = state.selected;
      flash('Tomando backup…', 'ok');
      act(ev.currentTarget, 'POST', '/api/admin/tenants/' + id + '/backup', undefined,
        (b) => 'Backup listo: ' + b.name + ' (' + humanBytes(b.size_bytes) + ', ' + b.tables + ' tablas, ' + b.rows + ' filas, verificado).');
    });
    $('trial-form').addEventListener('submit', (ev) => {
      ev.preventDefault();
      const id = state.selected;
      const days = parseInt($('trial-days').value, 10);
      if (!(days >= 1 && days <= 365)) {
        flash('Los días deben ser un número entre 1 y 365.', 'error');
        return;
      }
      act($('act-extend'), 'POST', '/api/admin/tenants/' + id + '/extend_trial', { days },
        (t) => 'Prueba de «' + t.nombre + '» extendida ' + days + ' días' +
          (t.subscription && t.subscription.trial_ends_at ? ', hasta ' + fmtDate(t.subscription.trial_ends_at, true) : '') + '.');
    });
  }

  function start() {
    wire();
    if (state.access) {
      loadTenants();
    } else {
      showLogin('');
    }
  }

  if (document.readyState === 'loading') {
    document.addEventListener('DOMContentLoaded', start);
  } else {
    start();
  }
})();
