// appcitas web app: the organization's webhook subscriptions (admins; /api/webhooks).
// app.js merges webhookTexts into its texts and calls initWebhooks once. Every text goes into the
// page through textContent. A new or rotated secret is shown once, then only kept by the reader.

export const webhookTexts = {
  es: {
    webhooks: 'Webhooks', webhooksTitle: 'Webhooks', whUrl: 'URL de destino (https)', whEvents: 'Eventos', whCreate: 'Suscribir',
    whSecret: 'Secreto de firma (se muestra una sola vez; guárdalo ahora):', whNone: 'Aún no hay webhooks.',
    whActive: 'Activo', whDisabled: 'Desactivado', whDeliveries: 'Entregas', whEnable: 'Activar', whDisable: 'Desactivar',
    whDelete: 'Eliminar', whRotate: 'Nuevo secreto', whReplay: 'Reenviar', whEvent: 'Evento', whState: 'Estado',
    whAttempts: 'Intentos', whCode: 'Código', whWhen: 'Fecha', whNoDeliveries: 'Sin entregas.', whDeliveriesOf: 'Entregas de',
    whConfirmDelete: '¿Eliminar este webhook y su registro de entregas?', whReplayed: 'Entrega programada de nuevo.',
    pendiente_wh: 'Pendiente', enviando: 'Enviando', entregada: 'Entregada', fallida: 'Fallida',
  },
  en: {
    webhooks: 'Webhooks', webhooksTitle: 'Webhooks', whUrl: 'Target URL (https)', whEvents: 'Events', whCreate: 'Subscribe',
    whSecret: 'Signing secret (shown only once; save it now):', whNone: 'No webhooks yet.',
    whActive: 'Active', whDisabled: 'Disabled', whDeliveries: 'Deliveries', whEnable: 'Enable', whDisable: 'Disable',
    whDelete: 'Delete', whRotate: 'New secret', whReplay: 'Send again', whEvent: 'Event', whState: 'State',
    whAttempts: 'Attempts', whCode: 'Code', whWhen: 'Date', whNoDeliveries: 'No deliveries.', whDeliveriesOf: 'Deliveries of',
    whConfirmDelete: 'Delete this webhook and its delivery log?', whReplayed: 'Delivery scheduled again.',
    pendiente_wh: 'Pending', enviando: 'Sending', entregada: 'Delivered', fallida: 'Failed',
  },
};

const EVENTS = ['appointment.created', 'appointment.rescheduled', 'appointment.cancelled', 'appointment.confirmed',
  'appointment.completed', 'appointment.no_show', 'client.created'];

// initWebhooks wires the webhooks view. ctx gives app.js's api, state, t, guard, flash and show.
export function initWebhooks(ctx) {
  const { api, state, t, guard, flash, show } = ctx;
  const $ = (id) => document.getElementById(id);
  let subs = [];
  let open = null; // the subscription whose deliveries are shown
  let deliveries = [];

  const el = (tag, text, cls) => {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  };
  const button = (text, fn, data) => {
    const b = el('button', text);
    b.type = 'button';
    Object.assign(b.dataset, data || {});
    b.addEventListener('click', guard(fn));
    return b;
  };
  const when = (s) => new Date(s).toLocaleString(state.lang);
  const stateText = (s) => t(s === 'pendiente' ? 'pendiente_wh' : s);

  function showSecret(secret) {
    $('wh-secret').hidden = !secret;
    $('wh-secret-value').textContent = secret || '';
  }

  function renderEvents() {
    const box = $('wh-events');
    const checked = new Set([...box.querySelectorAll('input:checked')].map((i) => i.value));
    box.replaceChildren(el('legend', t('whEvents')), ...EVENTS.map((ev) => {
      const label = el('label', undefined, 'check');
      const input = document.createElement('input');
      input.type = 'checkbox';
      input.value = ev;
      input.checked = checked.size ? checked.has(ev) : ev === 'appointment.created';
      label.append(input, ' ' + ev);
      return label;
    }));
  }

  function renderList() {
    const list = $('wh-list');
    if (!subs.length) { list.replaceChildren(el('li', t('whNone'), 'hint')); return; }
    list.replaceChildren(...subs.map((s) => {
      const li = el('li', undefined, 'card wh-sub');
      li.dataset.id = String(s.id);
      const head = el('p');
      head.append(el('strong', s.url), ' · ', el('span', s.activa ? t('whActive') : t('whDisabled'), s.activa ? 'wh-on' : 'wh-off'));
      const events = el('p', s.eventos.join(', '), 'hint');
      li.append(head, events);
      if (!s.activa && s.motivo_desactivacion) li.append(el('p', s.motivo_desactivacion, 'hint'));
      const actions = el('div', undefined, 'actions');
      actions.append(
        button(t('whDeliveries'), () => loadDeliveries(s), { act: 'deliveries' }),
        button(s.activa ? t('whDisable') : t('whEnable'), async () => {
          await api(`/api/webhooks/${s.id}`, { method: 'PATCH', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ activa: !s.activa }) });
          await load();
        }, { act: 'toggle' }),
        button(t('whRotate'), async () => {
          const r = await api(`/api/webhooks/${s.id}/secreto`, { method: 'POST' });
          showSecret(r.secreto);
        }, { act: 'rotate' }),
        button(t('whDelete'), async () => {
          if (!window.confirm(t('whConfirmDelete'))) return;
          await api(`/api/webhooks/${s.id}`, { method: 'DELETE' });
          if (open && open.id === s.id) { open = null; deliveries = []; }
          await load();
        }, { act: 'delete' }),
      );
      li.append(actions);
      return li;
    }));
  }

  function renderDeliveries() {
    const out = $('wh-deliveries');
    if (!open) { out.replaceChildren(); return; }
    const title = el('h3', `${t('whDeliveriesOf')} ${open.url}`);
    if (!deliveries.length) { out.replaceChildren(title, el('p', t('whNoDeliveries'), 'hint')); return; }
    const table = el('table', undefined, 'report-table');
    table.id = 'wh-delivery-table';
    const hr = el('tr');
    for (const h of [t('whEvent'), t('whState'), t('whAttempts'), t('whCode'), t('whWhen'), '']) {
      const th = el('th', h);
      th.scope = 'col';
      hr.append(th);
    }
    const thead = el('thead');
    thead.append(hr);
    const body = el('tbody');
    for (const d of deliveries) {
      const tr = el('tr');
      tr.dataset.id = d.id;
      const ev = el('th', d.evento);
      ev.scope = 'row';
      const code = d.ultimo_codigo === null ? (d.ultimo_error || '—') : String(d.ultimo_codigo);
      const replay = el('td');
      if (open.activa) replay.append(button(t('whReplay'), async () => {
        await api(`/api/webhooks/${open.id}/entregas/${d.id}/reenviar`, { method: 'POST' });
        flash(t('whReplayed'));
        await loadDeliveries(open);
      }, { act: 'replay' }));
      tr.append(ev, el('td', stateText(d.estado), 'wh-state'), el('td', String(d.intentos)), el('td', code), el('td', when(d.created_at)), replay);
      body.append(tr);
    }
    table.append(thead, body);
    const wrap = el('div', undefined, 'table-wrap');
    wrap.append(table);
    out.replaceChildren(title, wrap);
  }

  function render() { renderEvents(); renderList(); renderDeliveries(); }

  async function load() {
    subs = (await api('/api/webhooks')).items;
    if (open) open = subs.find((s) => s.id === open.id) || null;
    renderList();
    renderDeliveries();
  }

  async function loadDeliveries(s) {
    open = s;
    deliveries = (await api(`/api/webhooks/${s.id}/entregas`)).items;
    renderDeliveries();
  }

  async function openView() {
    show('webhooks-view');
    flash('');
    showSecret('');
    open = null;
    deliveries = [];
    renderEvents();
    $('webhooks-title').focus();
    await load();
  }

  $('webhooks-open').addEventListener('click', guard(openView));
  $('webhooks-close').addEventListener('click', () => { show('agenda-view'); $('webhooks-open').focus(); });
  $('wh-form').addEventListener('submit', guard(async (ev) => {
    ev.preventDefault();
    const eventos = [...$('wh-events').querySelectorAll('input:checked')].map((i) => i.value);
    const r = await api('/api/webhooks', { method: 'POST', headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ url: $('wh-url').value.trim(), eventos }) });
    $('wh-url').value = '';
    showSecret(r.secreto);
    await load();
  }));
  $('lang').addEventListener('click', () => { if (!$('webhooks-view').hidden) render(); });
}
