// appcitas web app: the settings of an organization (admins only) and accepting an invitation.
// app.js merges settingsTexts into its texts and calls initSettings once. The API refuses
// non-admins whatever the page shows. Every text goes into the page through textContent.

export const settingsTexts = {
  es: {
    settings: 'Configuración', settingsTitle: 'Configuración', setOrg: 'Organización', setBranches: 'Sedes', setServices: 'Servicios',
    setTeam: 'Equipo', setHours: 'Horarios', setDays: 'Días libres y festivos', setBilling: 'Suscripción',
    name: 'Nombre', zone: 'Zona horaria', latam: 'Latinoamérica', otherZones: 'Otras zonas', save: 'Guardar', saved: 'Cambios guardados.',
    address: 'Dirección', phone: 'Teléfono', newBranch: 'Nueva sede', editBranch: 'Editar sede', edit: 'Editar', deactivate: 'Desactivar',
    inactive: 'Inactiva', inactiveM: 'Inactivo', clear: 'Nuevo', newService: 'Nuevo servicio', editService: 'Editar servicio',
    duration: 'Duración (minutos)', price: 'Precio (en pesos)', currency: 'Moneda', bufferBefore: 'Preparación antes (minutos)',
    bufferAfter: 'Limpieza después (minutos)', active: 'Activo', minutes: 'min', role: 'Rol', admin: 'Administrador',
    receptionist: 'Recepcionista', staffRole: 'Profesional', members: 'Miembros', invite: 'Invitar por correo', email: 'Correo',
    displayName: 'Nombre visible (opcional)', sendInvite: 'Enviar invitación', invited: 'Invitación enviada a ', pending: 'Invitaciones pendientes',
    noPending: 'No hay invitaciones pendientes.', revoke: 'Revocar', revoked: 'Invitación revocada.', expires: 'vence',
    staffFor: 'Profesional', addBlock: 'Agregar horario', removeBlock: 'Quitar horario', addBreak: 'Agregar descanso',
    removeBreak: 'Quitar descanso', start: 'Inicio', end: 'Fin', breakLabel: 'Descanso', noHours: 'No trabaja',
    saveHours: 'Guardar horario', noStaffYet: 'Aún no hay profesionales. Invita a tu equipo primero.', needBranch: 'Crea una sede primero.',
    date: 'Fecha', scope: 'Aplica a', reasonLabel: 'Motivo', openFrom: 'Abierto solo desde (opcional)', openTo: 'Hasta (opcional)',
    addDay: 'Agregar día libre', remove: 'Quitar', noDays: 'No hay días libres ni festivos próximos.', closedAllDay: 'cerrado todo el día',
    allBranches: 'todas las sedes', plan: 'Plan', status: 'Estado', trialEnds: 'La prueba termina', periodEnds: 'Periodo actual hasta',
    changePlan: 'Cambiar plan', pay: 'Pagar el próximo periodo', goPay: 'Ir al pago con Wompi', reference: 'Referencia', amount: 'Valor',
    noBilling: 'La facturación no está configurada en este servidor.', st_trialing: 'En prueba', st_active: 'Activa', st_past_due: 'Pago pendiente',
    st_suspended: 'Suspendida', st_cancelled: 'Cancelada', perMonth: '/mes',
    inviteTitle: 'Invitación', inviteFor: (org, role, email) => `Te invitaron a unirte a ${org} como ${role} (${email}).`,
    inviteNew: 'Soy nuevo: crear mi cuenta', username: 'Nombre de usuario', newPassword: 'Contraseña (mínimo 8 caracteres)',
    inviteCreate: 'Crear cuenta y aceptar', inviteExisting: 'Ya tengo cuenta: iniciar sesión', inviteLogin: 'Iniciar sesión y aceptar',
    inviteAcceptSession: 'Aceptar con mi cuenta', inviteAs: 'Tienes una sesión abierta como ', inviteGone: 'Esta invitación ya no es válida: se usó, se revocó o venció.',
    welcome: 'Te uniste a ',
  },
  en: {
    settings: 'Settings', settingsTitle: 'Settings', setOrg: 'Organization', setBranches: 'Branches', setServices: 'Services',
    setTeam: 'Team', setHours: 'Working hours', setDays: 'Days off and holidays', setBilling: 'Subscription',
    name: 'Name', zone: 'Time zone', latam: 'Latin America', otherZones: 'Other zones', save: 'Save', saved: 'Changes saved.',
    address: 'Address', phone: 'Phone', newBranch: 'New branch', editBranch: 'Edit branch', edit: 'Edit', deactivate: 'Deactivate',
    inactive: 'Inactive', inactiveM: 'Inactive', clear: 'New', newService: 'New service', editService: 'Edit service',
    duration: 'Duration (minutes)', price: 'Price (in pesos)', currency: 'Currency', bufferBefore: 'Set-up before (minutes)',
    bufferAfter: 'Clean-up after (minutes)', active: 'Active', minutes: 'min', role: 'Role', admin: 'Admin',
    receptionist: 'Receptionist', staffRole: 'Staff member', members: 'Members', invite: 'Invite by e-mail', email: 'E-mail',
    displayName: 'Display name (optional)', sendInvite: 'Send invitation', invited: 'Invitation sent to ', pending: 'Pending invitations',
    noPending: 'No pending invitations.', revoke: 'Revoke', revoked: 'Invitation revoked.', expires: 'expires',
    staffFor: 'Staff member', addBlock: 'Add hours', removeBlock: 'Remove hours', addBreak: 'Add break',
    removeBreak: 'Remove break', start: 'Start', end: 'End', breakLabel: 'Break', noHours: 'Not working',
    saveHours: 'Save hours', noStaffYet: 'No staff members yet. Invite your team first.', needBranch: 'Create a branch first.',
    date: 'Date', scope: 'Applies to', reasonLabel: 'Reason', openFrom: 'Open only from (optional)', openTo: 'To (optional)',
    addDay: 'Add day off', remove: 'Remove', noDays: 'No upcoming days off or holidays.', closedAllDay: 'closed all day',
    allBranches: 'every branch', plan: 'Plan', status: 'State', trialEnds: 'Trial ends', periodEnds: 'Current period until',
    changePlan: 'Change plan', pay: 'Pay the next period', goPay: 'Go to the Wompi payment', reference: 'Reference', amount: 'Amount',
    noBilling: 'Billing is not configured on this server.', st_trialing: 'Trial', st_active: 'Active', st_past_due: 'Payment due',
    st_suspended: 'Suspended', st_cancelled: 'Cancelled', perMonth: '/month',
    inviteTitle: 'Invitation', inviteFor: (org, role, email) => `You are invited to join ${org} as ${role} (${email}).`,
    inviteNew: 'I am new: create my account', username: 'Username', newPassword: 'Password (at least 8 characters)',
    inviteCreate: 'Create account and accept', inviteExisting: 'I have an account: sign in', inviteLogin: 'Sign in and accept',
    inviteAcceptSession: 'Accept with my account', inviteAs: 'You are signed in as ', inviteGone: 'This invitation is no longer valid: it was used, revoked or has expired.',
    welcome: 'You joined ',
  },
};

// Latin American zones come first in every time zone list.
const LATAM = ['America/Bogota', 'America/Mexico_City', 'America/Lima', 'America/Santiago', 'America/Argentina/Buenos_Aires',
  'America/Caracas', 'America/Guayaquil', 'America/La_Paz', 'America/Asuncion', 'America/Montevideo', 'America/Sao_Paulo',
  'America/Panama', 'America/Costa_Rica', 'America/Guatemala', 'America/El_Salvador', 'America/Tegucigalpa', 'America/Managua',
  'America/Santo_Domingo', 'America/Havana', 'America/Puerto_Rico', 'America/Cancun', 'America/Monterrey', 'America/Tijuana',
  'America/Hermosillo', 'America/Manaus', 'America/Fortaleza', 'America/Punta_Arenas', 'Pacific/Galapagos', 'Pacific/Easter'];

// WEEK lists the weekdays Monday first; the API numbers them 0 (Sunday) to 6.
const WEEK = [1, 2, 3, 4, 5, 6, 0];

// takeInvitation reads an invitation link (/app#/invitacion/<token>) and drops it from the address
// bar, so that it stays out of the history. It returns the token, or ''.
export function takeInvitation() {
  const m = /^#\/invitacion\/([A-Za-z0-9_-]{20,100})$/.exec(location.hash);
  if (!m) return '';
  history.replaceState(null, '', location.pathname + location.search);
  return m[1];
}

// initSettings wires the settings view and the invitation view. ctx gives app.js's api, auth,
// state, t, guard, flash, show, signedIn and openOrg.
export function initSettings(ctx) {
  const { api, auth, state, t, guard, flash, show, signedIn, openOrg } = ctx;
  const $ = (id) => document.getElementById(id);
  let uid = 0;
  const h = (tag, props, ...kids) => {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(props || {})) {
      if (k === 'class') e.className = v;
      else if (k === 'text') e.textContent = v;
      else if (k === 'data') Object.assign(e.dataset, v);
      else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
      else if (k in e && typeof v !== 'string') e[k] = v;
      else e.setAttribute(k, v);
    }
    e.append(...kids.filter((x) => x !== null && x !== undefined && x !== false));
    return e;
  };
  // field returns a label and its control, tied by a fresh id unless the control has one.
  const field = (labelKey, control) => {
    if (!control.id) control.id = 'sf-' + (++uid);
    return h('div', { class: 'field' }, h('label', { for: control.id, text: t(labelKey) }), control);
  };
  const input = (id, props) => h('input', { id, ...props });
  const button = (key, onclick, props) => h('button', { type: 'button', text: t(key), onclick: guard(onclick), ...props });
  const body = (id) => $(id).querySelector('.body');
  const roleName = (r) => t({ admin: 'admin', receptionist: 'receptionist', staff: 'staffRole' }[r] || r);
  // money shows minor units as the currency's amount; cents show only when there are some.
  const money = (cents, currency) => {
    const frac = cents % 100 ? { minimumFractionDigits: 2, maximumFractionDigits: 2 } : { minimumFractionDigits: 0, maximumFractionDigits: 0 };
    try { return new Intl.NumberFormat(state.lang, { style: 'currency', currency, ...frac }).format(cents / 100); } catch { return `${(cents / 100).toFixed(2)} ${currency}`; }
  };
  // dependents redraws the sections that list branches and members.
  const dependents = () => Promise.all([loadHours(), loadDays()]);
  const fmtDate = (iso) => new Intl.DateTimeFormat(state.lang, { dateStyle: 'medium', timeZone: state.orgZone || undefined }).format(new Date(iso));
  const dayName = (n) => new Intl.DateTimeFormat(state.lang, { weekday: 'long', timeZone: 'UTC' }).format(new Date(Date.UTC(2024, 0, 7 + n)));
  const today = (zone) => new Intl.DateTimeFormat('en-CA', { timeZone: zone, year: 'numeric', month: '2-digit', day: '2-digit' }).format(new Date());
  const addDays = (d, n) => { const x = new Date(d + 'T00:00:00Z'); x.setUTCDate(x.getUTCDate() + n); return x.toISOString().slice(0, 10); };

  function zoneSelect(id, value) {
    const all = typeof Intl.supportedValuesOf === 'function' ? Intl.supportedValuesOf('timeZone') : [];
    const first = [...LATAM];
    const rest = all.filter((z) => !first.includes(z));
    if (value && !first.includes(value) && !rest.includes(value)) rest.unshift(value);
    const sel = h('select', { id, required: true },
      h('optgroup', { label: t('latam') }, ...first.map((z) => new Option(z, z))),
      h('optgroup', { label: t('otherZones') }, ...rest.map((z) => new Option(z, z))));
    sel.value = value || 'America/Bogota';
    return sel;
  }

  // --- organization ---
  async function loadOrg() {
    const o = await api('/api/organizacion');
    state.orgZone = o.zona_horaria;
    const name = input('org-name', { required: true, maxlength: '200', value: o.nombre });
    const form = h('form', { id: 'org-form', class: 'settings-form' }, field('name', name), field('zone', zoneSelect('org-zone', o.zona_horaria)),
      h('button', { type: 'submit', id: 'org-save', text: t('save') }));
    form.addEventListener('submit', guard(async (ev) => {
      ev.preventDefault();
      const out = await api('/api/organizacion', { method: 'PATCH', headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ nombre: $('org-name').value, zona_horaria: $('org-zone').value }) });
      state.org.nombre = out.nombre;
      for (const org of state.me.organizations) if (org.id === out.id) org.nombre = out.nombre;
      const opt = [...$('org-select').options].find((x) => x.value === String(out.id));
      if (opt) opt.textContent = out.nombre;
      state.orgZone = out.zona_horaria;
      flash(t('saved'));
    }));
    body('set-org').replaceChildren(form);
  }

  // --- branches ---
  let branches = [];
  async function loadBranches() {
    branches = (await api('/api/sedes?incluir_inactivos=true')).items;
    const list = h('ul', { id: 'branch-list', class: 'plain settings-list' }, ...branches.map((b) => h('li', { data: { id: String(b.id) } },
      h('span', { class: 'what', text: `${b.nombre} · ${b.zona_horaria}${b.direccion ? ' · ' + b.direccion : ''}${b.telefono ? ' · ' + b.telefono : ''}${b.is_active ? '' : ' · ' + t('inactive')}` }),
      h('span', { class: 'row-actions' }, button('edit', () => editBranch(b), { 'aria-label': `${t('edit')} ${b.nombre}` }),
        b.is_active ? button('deactivate', async () => { await api(`/api/sedes/${b.id}`, { method: 'DELETE' }); flash(t('saved')); await loadBranches(); await dependents(); }, { 'aria-label': `${t('deactivate')} ${b.nombre}` }) : null))));
    const form = h('form', { id: 'branch-form', class: 'settings-form' },
      h('h4', { id: 'branch-form-title', text: t('newBranch') }),
      input('branch-id', { type: 'hidden', value: '' }),
      field('name', input('branch-name', { required: true, maxlength: '200' })),
      field('address', input('branch-address', { maxlength: '500' })),
      field('phone', input('branch-phone', { type: 'tel', maxlength: '50' })),
      field('zone', zoneSelect('branch-zone', state.orgZone || 'America/Bogota')),
      h('div', { class: 'actions' }, h('button', { type: 'submit', id: 'branch-save', text: t('save') }), button('clear', () => editBranch(null))));
    form.addEventListener('submit', guard(async (ev) => {
      ev.preventDefault();
      const id = $('branch-id').value;
      const payload = { nombre: $('branch-name').value, direccion: $('branch-address').value, telefono: $('branch-phone').value, zona_horaria: $('branch-zone').value };
      await api(id ? `/api/sedes/${id}` : '/api/sedes', { method: id ? 'PATCH' : 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(payload) });
      flash(t('saved'));
      await loadBranches();
      await dependents();
    }));
    body('set-branches').replaceChildren(list, form);
  }
  function editBranch(b) {
    $('branch-form-title').textContent = t(b ? 'editBranch' : 'newBranch');
    $('branch-id').value = b ? String(b.id) : '';
    $('branch-name').value = b ? b.nombre : '';
    $('branch-address').value = b ? b.direccion : '';
    $('branch-phone').value = b ? b.telefono : '';
    $('branch-zone').value = b ? b.zona_horaria : (state.orgZone || 'America/Bogota');
    $('branch-name').focus();
  }

  // --- services ---
  async function loadServices() {
    const services = (await api('/api/servicios?incluir_inactivos=true')).items;
    const list = h('ul', { id: 'service-list', class: 'plain settings-list' }, ...services.map((s) => h('li', { data: { id: String(s.id) } },
      h('span', { class: 'what', text: `${s.nombre} · ${s.duracion_minutos} ${t('minutes')} · ${money(s.precio_centavos, s.moneda)}` +
        `${s.buffer_antes_minutos || s.buffer_despues_minutos ? ` · +${s.buffer_antes_minutos}/${s.buffer_despues_minutos} ${t('minutes')}` : ''}${s.is_active ? '' : ' · ' + t('inactiveM')}` }),
      h('span', { class: 'row-actions' }, button('edit', () => editService(s), { 'aria-label': `${t('edit')} ${s.nombre}` })))));
    const form = h('form', { id: 'service-form', class: 'settings-form' },
      h('h4', { id: 'service-form-title', text: t('newService') }),
      input('service-id', { type: 'hidden', value: '' }),
      field('name', input('service-name', { required: true, maxlength: '200' })),
      field('duration', input('service-duration', { type: 'number', min: '5', max: '1440', step: '5', required: true, value: '30' })),
      field('price', input('service-price', { type: 'number', min: '0', step: '0.01', required: true, value: '0', inputmode: 'decimal' })),
      field('currency', input('service-currency', { required: true, maxlength: '3', value: 'COP', pattern: '[A-Z]{3}' })),
      field('bufferBefore', input('service-before', { type: 'number', min: '0', max: '240', value: '0' })),
      field('bufferAfter', input('service-after', { type: 'number', min: '0', max: '240', value: '0' })),
      h('div', { class: 'check' }, input('service-active', { type: 'checkbox', checked: true }), h('label', { for: 'service-active', text: t('active') })),
      h('div', { class: 'actions' }, h('button', { type: 'submit', id: 'service-save', text: t('save') }), button('clear', () => editService(null))));
    form.addEventListener('submit', guard(async (ev) => {
      ev.preventDefault();
      const id = $('service-id').value;
      const payload = {
        nombre: $('service-name').value, duracion_minutos: Number($('service-duration').value),
        precio_centavos: Math.round(Number($('service-price').value) * 100), moneda: $('service-currency').value.toUpperCase(),
        buffer_antes_minutos: Number($('service-before').value || 0), buffer_despues_minutos: Number($('service-after').value || 0),
        is_active: $('service-active').checked,
      };
      await api(id ? `/api/servicios/${id}` : '/api/servicios', { method: id ? 'PATCH' : 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(payload) });
      flash(t('saved'));
      await loadServices();
    }));
    body('set-services').replaceChildren(list, form);
  }
  function editService(s) {
    $('service-form-title').textContent = t(s ? 'editService' : 'newService');
    $('service-id').value = s ? String(s.id) : '';
    $('service-name').value = s ? s.nombre : '';
    $('service-duration').value = s ? String(s.duracion_minutos) : '30';
    $('service-price').value = s ? String(s.precio_centavos / 100) : '0';
    $('service-currency').value = s ? s.moneda : 'COP';
    $('service-before').value = s ? String(s.buffer_antes_minutos) : '0';
    $('service-after').value = s ? String(s.buffer_despues_minutos) : '0';
    $('service-active').checked = s ? s.is_active : true;
    $('service-name').focus();
  }

  // --- team ---
  let members = [];
  async function loadTeam() {
    members = (await api('/api/miembros?incluir_inactivos=true')).items;
    const me = state.me.user.id;
    const roleSelect = (m) => {
      const sel = h('select', { id: `member-role-${m.id}`, disabled: !m.is_active || m.user_id === me },
        ...['admin', 'receptionist', 'staff'].map((r) => new Option(roleName(r), r)));
      sel.value = m.role;
      sel.addEventListener('change', guard(async () => {
        await api(`/api/miembros/${m.id}`, { method: 'PATCH', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ role: sel.value }) });
        flash(t('saved'));
        await loadTeam();
        await dependents();
      }));
      return sel;
    };
    const list = h('ul', { id: 'member-list', class: 'plain settings-list' }, ...members.map((m) => h('li', { data: { id: String(m.id), user: String(m.user_id) } },
      h('span', { class: 'what', text: `${m.nombre_visible || '#' + m.user_id}${m.is_active ? '' : ' · ' + t('inactiveM')}` }),
      h('span', { class: 'row-actions' }, h('label', { for: `member-role-${m.id}`, class: 'sr-only', text: `${t('role')} ${m.nombre_visible}` }), roleSelect(m),
        m.is_active && m.user_id !== me ? button('deactivate', async () => { await api(`/api/miembros/${m.id}`, { method: 'DELETE' }); flash(t('saved')); await loadTeam(); await dependents(); },
          { 'aria-label': `${t('deactivate')} ${m.nombre_visible}` }) : null))));
    const roleSel = h('select', { id: 'invite-role' }, ...['staff', 'receptionist', 'admin'].map((r) => new Option(roleName(r), r)));
    const form = h('form', { id: 'invite-form', class: 'settings-form' }, h('h4', { text: t('invite') }),
      field('email', input('invite-email', { type: 'email', required: true, maxlength: '254', autocomplete: 'off' })),
      field('role', roleSel),
      field('displayName', input('invite-name', { maxlength: '200', autocomplete: 'off' })),
      h('button', { type: 'submit', id: 'invite-send', text: t('sendInvite') }));
    form.addEventListener('submit', guard(async (ev) => {
      ev.preventDefault();
      const out = await api('/api/invitaciones', { method: 'POST', headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ email: $('invite-email').value.trim(), role: $('invite-role').value, nombre_visible: $('invite-name').value }) });
      flash(t('invited') + out.email);
      $('invite-email').value = '';
      $('invite-name').value = '';
      await loadPending();
    }));
    body('set-team').replaceChildren(h('h4', { text: t('members') }), list, form, h('h4', { text: t('pending') }), h('ul', { id: 'pending-list', class: 'plain settings-list' }));
    await loadPending();
  }
  async function loadPending() {
    const items = (await api('/api/invitaciones')).items;
    const list = $('pending-list');
    if (!items.length) { list.replaceChildren(h('li', { class: 'hint', text: t('noPending') })); return; }
    list.replaceChildren(...items.map((i) => h('li', { data: { id: String(i.id), email: i.email } },
      h('span', { class: 'what', text: `${i.email} · ${roleName(i.role)} · ${t('expires')} ${fmtDate(i.expira_at)}` }),
      h('span', { class: 'row-actions' }, button('revoke', async () => { await api(`/api/invitaciones/${i.id}`, { method: 'DELETE' }); flash(t('revoked')); await loadPending(); },
        { 'aria-label': `${t('revoke')} ${i.email}` })))));
  }

  // --- working hours ---
  let hours = [];
  let hoursFor = '';
  // hoursSeq numbers the loads of the hours editor: only the latest one draws, so a slow answer
  // for another staff member never replaces the editor of the one just picked.
  let hoursSeq = 0;
  async function loadHours() {
    const mine = ++hoursSeq;
    const staff = members.filter((m) => m.is_active && m.role !== 'receptionist');
    const active = branches.filter((b) => b.is_active);
    if (!staff.length || !active.length) {
      body('set-hours').replaceChildren(h('p', { class: 'hint', text: t(active.length ? 'noStaffYet' : 'needBranch') }));
      return;
    }
    if (!staff.some((m) => String(m.id) === hoursFor)) hoursFor = String(staff[0].id);
    const sel = h('select', { id: 'hours-staff' }, ...staff.map((m) => new Option(m.nombre_visible || '#' + m.user_id, String(m.id))));
    sel.value = hoursFor;
    sel.addEventListener('change', guard(async () => { hoursFor = sel.value; await loadHours(); }));
    const loaded = (await api(`/api/miembros/${hoursFor}/horario`)).horario;
    if (mine !== hoursSeq) return;
    hours = loaded.map((b) => ({ ...b, descansos: [...(b.descansos || [])] }));
    const editor = h('div', { id: 'hours-editor', data: { staff: hoursFor } });
    const save = h('button', { type: 'button', id: 'hours-save', text: t('saveHours'), onclick: guard(async () => {
      const body = { horario: hours.map((b) => ({ sede_id: b.sede_id, dia_semana: b.dia_semana, hora_inicio: b.hora_inicio.slice(0, 5), hora_fin: b.hora_fin.slice(0, 5),
        descansos: b.descansos.map((d) => ({ hora_inicio: d.hora_inicio.slice(0, 5), hora_fin: d.hora_fin.slice(0, 5) })) })) };
      const out = await api(`/api/miembros/${hoursFor}/horario`, { method: 'PUT', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) });
      hours = out.horario.map((b) => ({ ...b, descansos: [...(b.descansos || [])] }));
      drawHours(editor, active);
      flash(t('saved'));
    }) });
    body('set-hours').replaceChildren(field('staffFor', sel), editor, save);
    drawHours(editor, active);
  }
  function timeInput(obj, key, label) {
    const i = h('input', { type: 'time', required: true, value: (obj[key] || '').slice(0, 5), step: '300' });
    i.addEventListener('change', () => { obj[key] = i.value; });
    return field(label, i);
  }
  function drawHours(editor, active) {
    editor.replaceChildren(...WEEK.map((d) => {
      const blocks = hours.filter((b) => b.dia_semana === d);
      const fs = h('fieldset', { class: 'day', data: { day: String(d) } }, h('legend', { text: dayName(d) }));
      if (!blocks.length) fs.append(h('p', { class: 'hint', text: t('noHours') }));
      for (const b of blocks) {
        const branchSel = h('select', {}, ...active.map((x) => new Option(x.nombre, String(x.id))));
        branchSel.value = String(b.sede_id);
        branchSel.addEventListener('change', () => { b.sede_id = Number(branchSel.value); });
        const block = h('div', { class: 'block' }, field('branch', branchSel), timeInput(b, 'hora_inicio', 'start'), timeInput(b, 'hora_fin', 'end'));
        b.descansos.forEach((br, i) => block.append(h('div', { class: 'break' }, h('span', { class: 'hint', text: t('breakLabel') }),
          timeInput(br, 'hora_inicio', 'start'), timeInput(br, 'hora_fin', 'end'),
          button('removeBreak', () => { b.descansos.splice(i, 1); drawHours(editor, active); }, { 'aria-label': `${t('removeBreak')} ${dayName(d)}` }))));
        block.append(h('div', { class: 'actions' },
          button('addBreak', () => { b.descansos.push({ hora_inicio: '13:00', hora_fin: '14:00' }); drawHours(editor, active); }, { 'aria-label': `${t('addBreak')} ${dayName(d)}`, class: 'add-break' }),
          button('removeBlock', () => { hours.splice(hours.indexOf(b), 1); drawHours(editor, active); }, { 'aria-label': `${t('removeBlock')} ${dayName(d)}` })));
        fs.append(block);
      }
      fs.append(button('addBlock', () => { hours.push({ sede_id: active[0].id, dia_semana: d, hora_inicio: '09:00', hora_fin: '17:00', descansos: [] }); drawHours(editor, active); },
        { 'aria-label': `${t('addBlock')} ${dayName(d)}`, class: 'add-block' }));
      return fs;
    }));
  }

  // --- days off and holidays ---
  let daysSeq = 0; // as hoursSeq: only the latest load draws the days off
  async function loadDays() {
    const mine = ++daysSeq;
    const zone = state.orgZone || 'America/Bogota';
    const from = today(zone);
    const items = (await api(`/api/excepciones?${new URLSearchParams({ desde: from, hasta: addDays(from, 366) })}`)).items;
    if (mine !== daysSeq) return;
    const bName = (id) => (branches.find((b) => b.id === id) || {}).nombre || '#' + id;
    const mName = (id) => { const m = members.find((x) => x.id === id); return m ? (m.nombre_visible || '#' + m.user_id) : '#' + id; };
    const list = h('ul', { id: 'day-list', class: 'plain settings-list' });
    if (!items.length) list.append(h('li', { class: 'hint', text: t('noDays') }));
    for (const x of items) {
      const who = x.profesional_id ? `${mName(x.profesional_id)}${x.sede_id ? ' · ' + bName(x.sede_id) : ''}` : (x.sede_id ? bName(x.sede_id) : t('allBranches'));
      const when = x.hora_inicio ? `${x.hora_inicio.slice(0, 5)}–${x.hora_fin.slice(0, 5)}` : t('closedAllDay');
      list.append(h('li', { data: { id: String(x.id), date: x.fecha } },
        h('span', { class: 'what', text: `${x.fecha} · ${who} · ${when}${x.motivo ? ' · ' + x.motivo : ''}` }),
        h('span', { class: 'row-actions' }, button('remove', async () => { await api(`/api/excepciones/${x.id}`, { method: 'DELETE' }); flash(t('saved')); await loadDays(); },
          { 'aria-label': `${t('remove')} ${x.fecha}` }))));
    }
    const scope = h('select', { id: 'day-scope', required: true },
      ...branches.filter((b) => b.is_active).map((b) => new Option(`${t('branch')}: ${b.nombre}`, 'b:' + b.id)),
      ...members.filter((m) => m.is_active && m.role !== 'receptionist').map((m) => new Option(`${t('staffRole')}: ${m.nombre_visible || '#' + m.user_id}`, 'p:' + m.id)));
    const form = h('form', { id: 'day-form', class: 'settings-form' }, h('h4', { text: t('addDay') }),
      field('date', input('day-date', { type: 'date', required: true, min: from })),
      field('scope', scope),
      field('reasonLabel', input('day-reason', { maxlength: '200' })),
      field('openFrom', input('day-from', { type: 'time' })),
      field('openTo', input('day-to', { type: 'time' })),
      h('button', { type: 'submit', id: 'day-save', text: t('addDay') }));
    form.addEventListener('submit', guard(async (ev) => {
      ev.preventDefault();
      const [kind, id] = $('day-scope').value.split(':');
      const payload = { fecha: $('day-date').value, motivo: $('day-reason').value };
      if (kind === 'b') payload.sede_id = Number(id); else payload.profesional_id = Number(id);
      if ($('day-from').value || $('day-to').value) { payload.hora_inicio = $('day-from').value; payload.hora_fin = $('day-to').value; }
      await api('/api/excepciones', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(payload) });
      flash(t('saved'));
      await loadDays();
    }));
    body('set-days').replaceChildren(list, branches.length ? form : h('p', { class: 'hint', text: t('needBranch') }));
  }

  // --- subscription ---
  async function loadBilling() {
    let sub;
    let plans;
    try {
      [sub, plans] = await Promise.all([api('/api/billing/subscription'), api('/api/plans')]);
    } catch (err) {
      if (err.status === 404) { body('set-billing').replaceChildren(h('p', { class: 'hint', text: t('noBilling') })); return; }
      throw err;
    }
    const planName = (code) => (plans.find((p) => p.code === code) || {}).name || code;
    const dl = h('dl', { class: 'report-summary' });
    const item = (key, value, id) => dl.append(h('div', {}, h('dt', { text: t(key) }), h('dd', { id, text: value })));
    item('plan', planName(sub.plan), 'billing-plan');
    item('status', t('st_' + sub.status), 'billing-status');
    if (sub.trial_ends_at) item('trialEnds', fmtDate(sub.trial_ends_at), 'billing-trial');
    item('periodEnds', fmtDate(sub.period_end), 'billing-period');
    const sel = h('select', { id: 'billing-plan-select' }, ...plans.map((p) => new Option(`${p.name} · ${money(p.price_cents, p.currency)}${t('perMonth')}`, p.code)));
    sel.value = sub.plan;
    const change = h('div', { class: 'controls' }, field('plan', sel), button('changePlan', async () => {
      await api('/api/billing/plan', { method: 'PUT', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ plan: sel.value }) });
      flash(t('saved'));
      await loadBilling();
    }, { id: 'billing-change' }));
    const out = h('div', { id: 'billing-checkout', 'aria-live': 'polite' });
    const pay = button('pay', async () => {
      const cs = await api('/api/billing/checkout', { method: 'POST' });
      out.replaceChildren(h('p', { id: 'checkout-summary', text: `${t('amount')}: ${money(cs.amount_in_cents, cs.currency)} · ${t('reference')}: ${cs.reference}` }),
        cs.checkout_url && /^https:\/\//.test(cs.checkout_url) ? h('a', { id: 'checkout-link', href: cs.checkout_url, target: '_blank', rel: 'noopener noreferrer', text: t('goPay') }) : null);
    }, { id: 'billing-pay' });
    body('set-billing').replaceChildren(dl, change, pay, out);
  }

  async function load() {
    await loadOrg();
    await Promise.all([loadBranches(), loadServices(), loadTeam()]);
    await Promise.all([loadHours(), loadDays(), loadBilling()]);
  }

  async function open() {
    show('settings-view');
    flash('');
    // The title takes the focus at once, so the keyboard is in the view while its sections load.
    $('settings-title').focus();
    await load();
  }

  // A language switch redraws the sections, whose texts are built here.
  $('lang').addEventListener('click', guard(async () => {
    if (!$('settings-view').hidden) await load();
    if (!$('invite-view').hidden && invitation) showInvitation();
  }));

  $('settings-open').addEventListener('click', guard(open));
  $('settings-close').addEventListener('click', guard(async () => {
    await openOrg(state.org); // the agenda reads the branches, team and hours again
    $('settings-open').focus();
  }));

  // --- invitations ---
  let token = '';
  // invitation is what POST /api/invitaciones/consultar answered for token.
  let invitation = null;
  async function afterAccept(res) {
    await signedIn();
    const org = state.me.organizations.find((o) => o.id === res.organizacion_id);
    if (org) await openOrg(org);
    flash(t('welcome') + res.organizacion);
  }
  $('invite-accept-session').addEventListener('click', guard(async () => {
    const res = await api('/api/invitaciones/aceptar-con-sesion', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ token }) });
    await afterAccept(res);
  }));
  $('invite-new-form').addEventListener('submit', guard(async (ev) => {
    ev.preventDefault();
    const username = $('invite-username').value.trim();
    const password = $('invite-password').value;
    const r = await fetch('/api/invitaciones/aceptar', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ token, username, password }) });
    const out = await r.json();
    if (!r.ok) { flash(t('failed') + out.error.message, true); return; }
    const login = await auth('/api/auth/token', { username, password });
    if (!login.ok) { flash(t('badLogin'), true); return; }
    state.access = (await login.json()).access_token;
    $('invite-password').value = '';
    await afterAccept(out);
  }));
  $('invite-login-form').addEventListener('submit', guard(async (ev) => {
    ev.preventDefault();
    const who = $('invite-login-user').value.trim();
    const creds = who.includes('@') ? { email: who } : { username: who };
    creds.password = $('invite-login-password').value;
    const login = await auth('/api/auth/token', creds);
    if (!login.ok) { flash(t('badLogin'), true); return; }
    state.access = (await login.json()).access_token;
    $('invite-login-password').value = '';
    const res = await api('/api/invitaciones/aceptar-con-sesion', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ token }) });
    await afterAccept(res);
  }));

  // openInvitation shows the invitation of tok; user is the signed-in user's name, or ''.
  async function openInvitation(tok, user) {
    token = tok;
    // The forms appear with the invitation's summary, once the server has answered.
    $('invite-summary').textContent = '';
    for (const id of ['invite-session', 'invite-new-form', 'invite-login-form']) $(id).hidden = true;
    show('invite-view');
    $('session').hidden = true;
    const r = await fetch('/api/invitaciones/consultar', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ token }) });
    const info = await r.json();
    if (!r.ok) {
      $('invite-summary').textContent = r.status === 404 ? t('inviteGone') : t('failed') + info.error.message;
      for (const id of ['invite-session', 'invite-new-form', 'invite-login-form']) $(id).hidden = true;
      return;
    }
    invitation = info;
    showInvitation();
    $('invite-session').hidden = !user;
    $('invite-as').textContent = user ? t('inviteAs') + user : '';
    $('invite-new-form').hidden = false;
    $('invite-login-form').hidden = false;
    $('invite-title').focus();
  }
  function showInvitation() {
    $('invite-summary').textContent = settingsTexts[state.lang].inviteFor(invitation.organizacion, roleName(invitation.role), invitation.email);
  }
  return { openInvitation };
}
