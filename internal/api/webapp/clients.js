// appcitas web app: the client directory (GET/POST /api/clientes, PATCH, fusionar, citas) and the
// booking dialog's client step. app.js merges clientTexts into its texts, calls initClients once
// and hands clientStep to the booking dialog. Every text goes into the page through textContent.

export const clientTexts = {
  es: {
    clients: 'Clientes', clientsTitle: 'Clientes', searchClients: 'Buscar por nombre, teléfono o correo', search: 'Buscar',
    newClient: 'Nuevo cliente', more: 'Ver más', noClients: 'No hay clientes que coincidan.', clientNotes: 'Notas', save: 'Guardar',
    clientSaved: 'Cliente guardado.', created: 'Cliente creado.', history: 'Historial de citas', noHistory: 'Sin citas todavía.',
    apptOne: 'cita', apptMany: 'citas', noShowOne: 'inasistencia', noShowMany: 'inasistencias', mergeTitle: 'Fusionar un duplicado', mergeSearch: 'Buscar el duplicado',
    mergePick: 'Duplicado a fusionar en este cliente', merge: 'Fusionar', merged: 'Clientes fusionados.',
    mergeHint: 'Las citas del duplicado pasan a este cliente y el duplicado se elimina.', pickDuplicate: 'Elige el duplicado.',
    duplicate: 'Ya existe un cliente con ese teléfono o correo. Búscalo en la lista.', clientSearch: 'Buscar cliente (nombre o teléfono)',
    createOnSpot: 'Crear un cliente nuevo', pickClient: 'Elige un cliente o crea uno.', readOnly: 'Solo lectura: tu rol no puede cambiar clientes.',
    backToAgendaC: 'Volver a la agenda', clientDetail: 'Ficha del cliente',
  },
  en: {
    clients: 'Clients', clientsTitle: 'Clients', searchClients: 'Search by name, phone or email', search: 'Search',
    newClient: 'New client', more: 'Show more', noClients: 'No clients match.', clientNotes: 'Notes', save: 'Save',
    clientSaved: 'Client saved.', created: 'Client created.', history: 'Appointment history', noHistory: 'No appointments yet.',
    apptOne: 'appointment', apptMany: 'appointments', noShowOne: 'no-show', noShowMany: 'no-shows', mergeTitle: 'Merge a duplicate', mergeSearch: 'Search for the duplicate',
    mergePick: 'Duplicate to merge into this client', merge: 'Merge', merged: 'Clients merged.',
    mergeHint: 'The duplicate\'s appointments move to this client and the duplicate is removed.', pickDuplicate: 'Choose the duplicate.',
    duplicate: 'A client with that phone or email already exists. Search for them in the list.', clientSearch: 'Search client (name or phone)',
    createOnSpot: 'Create a new client', pickClient: 'Choose a client or create one.', readOnly: 'Read only: your role cannot change clients.',
    backToAgendaC: 'Back to the agenda', clientDetail: 'Client record',
  },
};

const $ = (id) => document.getElementById(id);

function el(tag, text, cls) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
}

// clientLine is one line about a client: name, phone, email.
function clientLine(c) { return [c.nombre, c.telefono, c.email].filter(Boolean).join(' · '); }

// initClients wires the directory view. ctx gives app.js's api, state, t, guard, flash and show.
export function initClients(ctx) {
  const { api, state, t, guard, flash, show } = ctx;
  let cursor = '';
  let current = null; // the client open in the record, or null for a new one
  let seq = 0;

  const counts = (c) => `${c.citas} ${t(c.citas === 1 ? 'apptOne' : 'apptMany')} · ${c.inasistencias} ${t(c.inasistencias === 1 ? 'noShowOne' : 'noShowMany')}`;
  const canWrite = () => state.org && state.org.role !== 'staff';
  const say = (msg, isError) => {
    const p = $('cl-msg');
    p.textContent = msg;
    p.classList.toggle('error', !!isError);
    p.hidden = !msg;
  };
  const fmtWhen = (iso) => new Intl.DateTimeFormat(state.lang, { dateStyle: 'medium', timeStyle: 'short' }).format(new Date(iso));

  async function search(more) {
    const mine = ++seq;
    const p = new URLSearchParams({ limit: '50' });
    const q = $('cl-q').value.trim();
    if (q) p.set('q', q);
    if (more && cursor) p.set('cursor', cursor);
    const page = await api('/api/clientes?' + p);
    if (mine !== seq) return;
    cursor = page.next_cursor || '';
    const items = page.items.map((c) => {
      const li = el('li');
      const b = el('button', undefined, 'client-row');
      b.type = 'button';
      b.dataset.id = String(c.id);
      b.append(el('span', c.nombre, 'cn'), el('span', [c.telefono, c.email].filter(Boolean).join(' · '), 'cc'), el('span', counts(c), 'ck'));
      b.addEventListener('click', guard(() => openClient(c.id)));
      li.append(b);
      return li;
    });
    if (more) $('cl-list').append(...items); else $('cl-list').replaceChildren(...items);
    $('cl-empty').hidden = $('cl-list').children.length > 0;
    $('cl-more').hidden = !cursor;
  }

  function fillRecord(c) {
    current = c;
    $('cl-record').hidden = false;
    $('cl-record-title').textContent = c ? c.nombre : t('newClient');
    $('cl-name').value = c ? c.nombre : '';
    $('cl-phone').value = c ? c.telefono : '';
    $('cl-email').value = c ? c.email : '';
    $('cl-notes').value = c ? c.notas : '';
    $('cl-counts').textContent = c ? counts(c) : '';
    $('cl-counts').hidden = !c;
    const ro = !canWrite();
    for (const id of ['cl-name', 'cl-phone', 'cl-email', 'cl-notes']) $(id).readOnly = ro;
    $('cl-save').hidden = ro;
    $('cl-readonly').hidden = !ro;
    $('cl-merge').hidden = ro || !c;
    $('cl-history-box').hidden = !c;
    $('cl-merge-q').value = '';
    $('cl-merge-pick').replaceChildren();
    say('');
  }

  async function openClient(id) {
    const [c, hist] = await Promise.all([api(`/api/clientes/${id}`), api(`/api/clientes/${id}/citas?limit=50`)]);
    fillRecord(c);
    const zoneNames = state.serviceNames;
    $('cl-history').replaceChildren(...hist.items.map((a) => {
      const li = el('li', undefined, 'hist ' + a.estado);
      li.dataset.id = String(a.id);
      li.append(el('span', fmtWhen(a.inicio)), el('span', zoneNames.get(a.servicio_id) || ''), el('span', t(a.estado), 'st'));
      return li;
    }));
    $('cl-history-empty').hidden = hist.items.length > 0;
    $('cl-record-title').focus();
  }

  async function save(ev) {
    ev.preventDefault();
    const body = { nombre: $('cl-name').value.trim(), telefono: $('cl-phone').value.trim(), email: $('cl-email').value.trim(), notas: $('cl-notes').value };
    let c;
    try {
      c = current
        ? await api(`/api/clientes/${current.id}`, { method: 'PATCH', body: JSON.stringify(body), headers: { 'Content-Type': 'application/json' } })
        : await api('/api/clientes', { method: 'POST', body: JSON.stringify(body), headers: { 'Content-Type': 'application/json' } });
    } catch (err) {
      say(err.code === 'duplicate_client' ? t('duplicate') : t('failed') + err.message, true);
      return;
    }
    const wasNew = !current;
    await openClient(c.id);
    say(t(wasNew ? 'created' : 'clientSaved'));
    await search(false);
  }

  async function mergeSearch() {
    const q = $('cl-merge-q').value.trim();
    const p = new URLSearchParams({ limit: '20' });
    if (q) p.set('q', q);
    const page = await api('/api/clientes?' + p);
    const others = page.items.filter((c) => !current || c.id !== current.id);
    $('cl-merge-pick').replaceChildren(...others.map((c) => new Option(`${clientLine(c)} (${counts(c)})`, String(c.id))));
  }

  async function merge(ev) {
    ev.preventDefault();
    const other = Number($('cl-merge-pick').value);
    if (!current || !other) { say(t('pickDuplicate'), true); return; }
    try {
      await api(`/api/clientes/${current.id}/fusionar`, { method: 'POST', body: JSON.stringify({ cliente_id: other }), headers: { 'Content-Type': 'application/json' } });
    } catch (err) {
      say(t('failed') + err.message, true);
      return;
    }
    await openClient(current.id);
    say(t('merged'));
    await search(false);
  }

  async function open() {
    show('clients-view');
    flash('');
    $('cl-new').hidden = !canWrite();
    $('cl-record').hidden = true;
    current = null;
    cursor = '';
    $('clients-title').focus();
    await search(false);
  }

  $('clients-open').addEventListener('click', guard(open));
  // The list and the record's counts are drawn in the language of the moment: redraw them on a switch.
  $('lang').addEventListener('click', guard(async () => {
    if ($('clients-view').hidden) return;
    if (current) $('cl-counts').textContent = counts(current);
    await search(false);
  }));
  $('clients-close').addEventListener('click', () => { show('agenda-view'); $('clients-open').focus(); });
  $('cl-search').addEventListener('submit', guard(async (ev) => { ev.preventDefault(); await search(false); }));
  $('cl-more').addEventListener('click', guard(() => search(true)));
  $('cl-new').addEventListener('click', () => { fillRecord(null); $('cl-name').focus(); });
  $('cl-form').addEventListener('submit', guard(save));
  $('cl-merge-form').addEventListener('submit', guard(merge));
  $('cl-merge-find').addEventListener('click', guard(mergeSearch));
  $('cl-merge-q').addEventListener('keydown', guard(async (ev) => { if (ev.key === 'Enter') { ev.preventDefault(); await mergeSearch(); } }));
}

// clientStep wires the booking dialog's client step: search the directory, pick a client or create
// one on the spot. It returns reset (on opening the dialog) and resolve, which gives the booking's
// client fields ({cliente_id} or, for staff, who cannot create clients, the name, phone and email)
// or null after telling the person what is missing.
export function clientStep(ctx) {
  const { api, state, t, say } = ctx;
  let seq = 0;
  let timer = 0;

  function results(items, chooseID) {
    const radios = items.map((c, i) => {
      const label = el('label', undefined, 'slot client-pick');
      const r = document.createElement('input');
      r.type = 'radio';
      r.name = 'bk-client';
      r.value = String(c.id);
      r.id = `bk-client-${i}`;
      r.checked = c.id === chooseID;
      label.append(r, document.createTextNode(' ' + clientLine(c)));
      return label;
    });
    const label = el('label', undefined, 'slot client-pick');
    const r = document.createElement('input');
    r.type = 'radio';
    r.name = 'bk-client';
    r.value = 'new';
    r.id = 'bk-client-new';
    label.append(r, document.createTextNode(' ' + t('createOnSpot')));
    $('bk-client-results').replaceChildren(...radios, label);
    $('bk-new-client').hidden = true;
  }

  async function find() {
    const mine = ++seq;
    const q = $('bk-client-q').value.trim();
    if (!q) { results([]); return; }
    const page = await api('/api/clientes?' + new URLSearchParams({ q, limit: '10' }));
    if (mine !== seq) return;
    results(page.items);
  }

  $('bk-client-q').addEventListener('input', () => {
    clearTimeout(timer);
    timer = setTimeout(() => { find().catch((err) => say(t('failed') + err.message, true)); }, 250);
  });
  // Enter in the search box searches: it must not submit the booking.
  $('bk-client-q').addEventListener('keydown', (ev) => {
    if (ev.key !== 'Enter') return;
    ev.preventDefault();
    clearTimeout(timer);
    find().catch((err) => say(t('failed') + err.message, true));
  });
  $('bk-client-results').addEventListener('change', () => {
    const v = $('bk-client-results').querySelector('input:checked')?.value;
    $('bk-new-client').hidden = v !== 'new';
    if (v === 'new' && !$('bk-name').value) $('bk-name').value = /\d/.test($('bk-client-q').value) ? '' : $('bk-client-q').value.trim();
    if (v === 'new' && !$('bk-phone').value && /\d/.test($('bk-client-q').value)) $('bk-phone').value = $('bk-client-q').value.trim();
  });

  function reset() {
    $('bk-client-q').value = '';
    for (const id of ['bk-name', 'bk-phone', 'bk-email']) $(id).value = '';
    results([]);
  }

  async function resolve() {
    const v = $('bk-client-results').querySelector('input:checked')?.value;
    if (!v) { say(t('pickClient'), true); $('bk-client-q').focus(); return null; }
    if (v !== 'new') return { cliente_id: Number(v) };
    const body = { nombre: $('bk-name').value.trim(), telefono: $('bk-phone').value.trim(), email: $('bk-email').value.trim() };
    if (!body.nombre) { say(t('needName'), true); $('bk-name').focus(); return null; }
    if (state.org.role === 'staff') return { cliente_nombre: body.nombre, cliente_telefono: body.telefono, cliente_email: body.email };
    let c;
    try {
      c = await api('/api/clientes', { method: 'POST', body: JSON.stringify(body), headers: { 'Content-Type': 'application/json' } });
    } catch (err) {
      if (err.code !== 'duplicate_client') throw err;
      say(t('duplicate'), true);
      $('bk-client-q').value = body.telefono || body.email || body.nombre;
      await find();
      $('bk-client-q').focus();
      return null;
    }
    // The new client is now a result of the search, chosen: a retry of the booking reuses it.
    $('bk-client-q').value = c.nombre;
    results([c], c.id);
    return { cliente_id: c.id };
  }

  return { reset, resolve };
}
