// appcitas web app: the report of a branch over a range of days (GET /api/reportes/citas).
// app.js merges reportTexts into its texts and calls initReport once. Every text goes into the
// page through textContent. The CSV is fetched with the Authorization header and saved from a Blob.

export const reportTexts = {
  es: {
    report: 'Reporte', reportTitle: 'Reporte de citas', backToAgenda: 'Volver a la agenda', from: 'Desde', to: 'Hasta',
    showReport: 'Ver reporte', downloadCSV: 'Descargar CSV', total: 'Citas', noShowRate: 'Tasa de inasistencia',
    revenue: 'Ingresos de citas completadas', byStatus: 'Por estado', byStaff: 'Por profesional', byService: 'Por servicio',
    state: 'Estado', name: 'Nombre', count: 'Total', completed: 'Completadas', noShows: 'No asistió', rptCancelled: 'Canceladas',
    income: 'Ingresos', noRevenue: 'Sin ingresos', reportFor: 'Reporte', reportNote: 'Tasa de inasistencia: citas sin asistencia entre citas completadas y sin asistencia.',
  },
  en: {
    report: 'Report', reportTitle: 'Appointments report', backToAgenda: 'Back to the agenda', from: 'From', to: 'To',
    showReport: 'Show report', downloadCSV: 'Download CSV', total: 'Appointments', noShowRate: 'No-show rate',
    revenue: 'Revenue of completed appointments', byStatus: 'By state', byStaff: 'By staff member', byService: 'By service',
    state: 'State', name: 'Name', count: 'Total', completed: 'Completed', noShows: 'No-show', rptCancelled: 'Cancelled',
    income: 'Revenue', noRevenue: 'No revenue', reportFor: 'Report', reportNote: 'No-show rate: no-shows out of completed appointments and no-shows.',
  },
};

// initReport wires the report view. ctx gives app.js's api, state, t, guard, flash and show.
export function initReport(ctx) {
  const { api, state, t, guard, flash, show } = ctx;
  const $ = (id) => document.getElementById(id);
  let last = null;
  // seq numbers the loads: only the latest one's answer is shown.
  let seq = 0;

  const el = (tag, text, cls) => {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  };
  const branchOf = () => state.branches.find((b) => String(b.id) === $('report-branch').value) || state.branches[0];
  const today = (zone) => new Intl.DateTimeFormat('en-CA', { timeZone: zone, year: 'numeric', month: '2-digit', day: '2-digit' }).format(new Date());
  const query = (format) => {
    const p = new URLSearchParams({ sede_id: $('report-branch').value, desde: $('report-from').value, hasta: $('report-to').value });
    if (format) p.set('format', format);
    return '/api/reportes/citas?' + p;
  };
  const money = (cents, currency) => {
    try {
      return new Intl.NumberFormat(state.lang, { style: 'currency', currency }).format(cents / 100);
    } catch {
      return `${(cents / 100).toFixed(2)} ${currency}`;
    }
  };
  const pct = (x) => new Intl.NumberFormat(state.lang, { style: 'percent', maximumFractionDigits: 1 }).format(x);

  function table(id, caption, head, rows) {
    const tb = el('table', undefined, 'report-table');
    tb.id = id;
    tb.append(el('caption', caption));
    const thead = el('thead');
    const hr = el('tr');
    for (const h of head) {
      const th = el('th', h);
      th.scope = 'col';
      hr.append(th);
    }
    thead.append(hr);
    const body = el('tbody');
    for (const r of rows) {
      const tr = el('tr');
      r.forEach((v, i) => {
        const c = el(i === 0 ? 'th' : 'td', String(v));
        if (i === 0) c.scope = 'row';
        tr.append(c);
      });
      body.append(tr);
    }
    tb.append(thead, body);
    // A table wider than a phone scrolls inside its box: the box takes the focus, so that the
    // keyboard scrolls it too, and is named by the table's caption.
    const wrap = el('div', undefined, 'table-wrap');
    wrap.tabIndex = 0;
    wrap.setAttribute('role', 'region');
    wrap.setAttribute('aria-label', caption);
    wrap.append(tb);
    return wrap;
  }

  function render() {
    const out = $('report-result');
    if (!last) { out.replaceChildren(); return; }
    const r = last;
    const summary = el('dl', undefined, 'report-summary');
    const revenue = r.ingresos_completadas.length ? r.ingresos_completadas.map((x) => money(x.centavos, x.moneda)).join(' · ') : t('noRevenue');
    for (const [key, value, id] of [['total', String(r.total), 'report-total'], ['noShowRate', pct(r.tasa_no_asistio), 'report-noshow'], ['revenue', revenue, 'report-revenue']]) {
      const d = el('div');
      const dd = el('dd', value);
      dd.id = id;
      d.append(el('dt', t(key)), dd);
      summary.append(d);
    }
    const groupHead = [t('name'), t('count'), t('completed'), t('noShows'), t('rptCancelled'), t('income')];
    const currency = r.ingresos_completadas.length === 1 ? r.ingresos_completadas[0].moneda : '';
    const groupRows = (gs) => gs.map((g) => [g.nombre || ('#' + g.id), g.total, g.completadas, g.no_asistio, g.canceladas,
      currency ? money(g.ingresos_centavos, currency) : String(g.ingresos_centavos)]);
    out.replaceChildren(
      el('h3', `${branchOf().nombre} · ${r.desde} – ${r.hasta} (${r.zona_horaria})`),
      summary,
      el('p', t('reportNote'), 'hint'),
      table('report-by-status', t('byStatus'), [t('state'), t('count')], r.por_estado.map((s) => [t(s.estado), s.total])),
      table('report-by-staff', t('byStaff'), groupHead, groupRows(r.por_profesional)),
      table('report-by-service', t('byService'), groupHead, groupRows(r.por_servicio)),
    );
  }

  async function load() {
    const mine = ++seq;
    const rep = await api(query());
    if (mine !== seq) return;
    last = rep;
    flash('');
    render();
  }

  // download fetches the CSV with the Authorization header (no token in a URL) and saves it.
  async function download() {
    const headers = { Authorization: 'Bearer ' + state.access };
    if (state.org) headers['X-Organization-ID'] = String(state.org.id);
    let r = await fetch(query('csv'), { headers });
    if (r.status === 401) {
      await api('/api/me');
      headers.Authorization = 'Bearer ' + state.access;
      r = await fetch(query('csv'), { headers });
    }
    if (!r.ok) {
      let msg = r.statusText;
      try { msg = (await r.json()).error.message; } catch { /* not JSON */ }
      throw new Error(msg);
    }
    const blob = await r.blob();
    const name = `reporte-${$('report-branch').value}-${$('report-from').value}-${$('report-to').value}.csv`;
    const url = URL.createObjectURL(blob);
    const a = document.createElement('a');
    a.href = url;
    a.download = name;
    a.hidden = true;
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 1000);
    $('report-download').dataset.saved = name;
    $('report-download').dataset.bytes = String(blob.size);
  }

  async function open() {
    // The organization's branches may still be loading: a quick click must not find none.
    if (state.loading) await state.loading.catch(() => {});
    show('report-view');
    flash('');
    // The title takes the focus at once, so the keyboard is in the view while it loads.
    $('report-title').focus();
    const sel = $('report-branch');
    const keep = sel.value || $('branch-select').value;
    sel.replaceChildren(...state.branches.map((b) => new Option(b.nombre, String(b.id))));
    if (keep) sel.value = keep;
    last = null;
    seq++;
    render();
    if (!state.branches.length) { $('report-form').hidden = true; return; }
    $('report-form').hidden = false;
    const zone = branchOf().zona_horaria;
    if (!$('report-to').value) $('report-to').value = today(zone);
    if (!$('report-from').value) $('report-from').value = $('report-to').value.slice(0, 8) + '01';
    await load();
  }

  $('report-open').addEventListener('click', guard(open));
  $('report-close').addEventListener('click', () => { show('agenda-view'); $('report-open').focus(); });
  $('report-form').addEventListener('submit', guard(async (ev) => { ev.preventDefault(); await load(); }));
  $('report-download').addEventListener('click', guard(download));
  // A language switch redraws the report only while it is shown: another organization may be open now.
  $('lang').addEventListener('click', () => { if (!$('report-view').hidden) render(); });
}
