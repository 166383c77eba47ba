// appcitas web app: the signed-in member's own calendar feed (POST/GET/DELETE /api/calendarios).
// app.js merges feedsTexts into its texts and calls initFeeds once. Every text goes into the page
// through textContent. A feed's URL is shown once, when it is created: the server keeps only a hash.

export const feedsTexts = {
  es: {
    feeds: 'Mi calendario', feedsTitle: 'Mi calendario en el teléfono', feedsIntro: 'Suscríbete a tu agenda desde Google Calendar o el calendario del teléfono. Quien tenga el enlace ve tus citas: no lo compartas.',
    feedCreate: 'Crear enlace de calendario', feedLabel: 'Nombre del enlace (opcional)', feedNew: 'Copia este enlace ahora: no se volverá a mostrar.',
    feedCopy: 'Copiar enlace', feedCopied: 'Enlace copiado.', feedSelect: 'El enlace está seleccionado: cópialo con Ctrl+C.', feedOpen: 'Abrir en la app de calendario', feedRevoke: 'Revocar',
    feedRevoked: 'Enlace revocado: ya no muestra tu agenda.', feedNone: 'Aún no tienes enlaces de calendario.', feedList: 'Tus enlaces',
    feedCreated: 'Creado', feedNoProfile: 'Tu usuario no tiene perfil en esta organización.',
  },
  en: {
    feeds: 'My calendar', feedsTitle: 'My calendar on the phone', feedsIntro: 'Subscribe to your agenda from Google Calendar or your phone\'s calendar. Whoever has the link sees your appointments: do not share it.',
    feedCreate: 'Create calendar link', feedLabel: 'Link name (optional)', feedNew: 'Copy this link now: it will not be shown again.',
    feedCopy: 'Copy link', feedCopied: 'Link copied.', feedSelect: 'The link is selected: copy it with Ctrl+C.', feedOpen: 'Open in the calendar app', feedRevoke: 'Revoke',
    feedRevoked: 'Link revoked: it no longer shows your agenda.', feedNone: 'You have no calendar links yet.', feedList: 'Your links',
    feedCreated: 'Created', feedNoProfile: 'Your user has no profile in this organization.',
  },
};

// initFeeds wires the calendar view. ctx gives app.js's api, state, t, guard, flash and show.
export function initFeeds(ctx) {
  const { api, state, t, guard, flash, show } = ctx;
  const $ = (id) => document.getElementById(id);
  let mine = [];
  let profileID = 0;

  const el = (tag, text, cls) => {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  };
  const date = (iso) => new Intl.DateTimeFormat(state.lang, { dateStyle: 'medium', timeStyle: 'short' }).format(new Date(iso));

  function render() {
    const list = $('feeds-list');
    if (!mine.length) {
      list.replaceChildren(el('p', t('feedNone'), 'hint'));
      return;
    }
    const ul = el('ul', undefined, 'feeds');
    for (const f of mine) {
      const li = el('li');
      li.dataset.feedId = String(f.id);
      const name = el('span', (f.etiqueta || t('feeds')) + ' · ' + f.prefijo + '…', 'feed-name');
      const when = el('span', t('feedCreated') + ' ' + date(f.created_at), 'hint');
      const revoke = el('button', t('feedRevoke'));
      revoke.type = 'button';
      revoke.className = 'feed-revoke';
      revoke.addEventListener('click', guard(async () => {
        await api('/api/calendarios/' + f.id, { method: 'DELETE' });
        if ($('feed-new').dataset.feedId === String(f.id)) $('feed-new').hidden = true;
        flash(t('feedRevoked'));
        await load();
      }));
      li.append(name, ' ', when, ' ', revoke);
      ul.append(li);
    }
    list.replaceChildren(el('h3', t('feedList')), ul);
  }

  async function load() {
    const members = await api('/api/miembros');
    const me = members.items.find((m) => m.user_id === state.me.user.id);
    profileID = me ? me.id : 0;
    const feeds = await api('/api/calendarios');
    mine = feeds.items.filter((f) => f.tipo === 'profesional' && f.profesional_id === profileID);
    $('feed-create-form').hidden = !profileID;
    if (!profileID) flash(t('feedNoProfile'), true);
    render();
  }

  async function create(ev) {
    ev.preventDefault();
    const body = { tipo: 'profesional' };
    const label = $('feed-label').value.trim();
    if (label) body.etiqueta = label;
    const f = await api('/api/calendarios', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) });
    $('feed-label').value = '';
    $('feed-url').value = f.url;
    $('feed-webcal').href = f.webcal_url;
    $('feed-new').dataset.feedId = String(f.id);
    $('feed-new').hidden = false;
    flash('');
    await load();
    $('feed-url').focus();
    $('feed-url').select();
  }

  async function copy() {
    const url = $('feed-url').value;
    try {
      await navigator.clipboard.writeText(url);
      flash(t('feedCopied'));
    } catch {
      // No clipboard (an insecure page, a denied permission): the link is selected to copy by hand.
      $('feed-url').focus();
      $('feed-url').select();
      flash(t('feedSelect'));
    }
  }

  async function open() {
    show('feeds-view');
    flash('');
    $('feed-new').hidden = true;
    $('feeds-title').focus();
    await load();
  }

  $('feeds-open').addEventListener('click', guard(open));
  $('feeds-close').addEventListener('click', () => { show('agenda-view'); $('feeds-open').focus(); });
  $('feed-create-form').addEventListener('submit', guard(create));
  $('feed-copy').addEventListener('click', guard(copy));
  $('lang').addEventListener('click', () => { if (!$('feeds-view').hidden) render(); });
}
