// appcitas web app: creating an account (POST /api/signup) and landing the new owner in the app.
// The refresh token comes back only in the HttpOnly session cookie, as the login's does.
// Every text goes into the page through textContent.

export const signupTexts = {
  es: {
    signUp: 'Crear cuenta', signUpLink: 'Crear una cuenta nueva', haveAccount: 'Ya tengo cuenta: iniciar sesión',
    suOrg: 'Nombre del negocio', suSlug: 'Dirección sugerida: ', suSlugNote: ' (si ya existe, se usa una variante)',
    suName: 'Tu nombre', suEmail: 'Correo', suEmailHint: 'Con tu correo o tu usuario inicias sesión.',
    suUsername: 'Usuario (opcional)', suUsernameHint: 'Si lo dejas vacío, tu usuario es tu correo.',
    suPassword: 'Contraseña', suPasswordHint: 'Al menos 8 caracteres, con letras y números o símbolos.',
    suZone: 'Zona horaria', suPlan: 'Plan', suPlanTrial: 'días de prueba', suCreate: 'Crear cuenta',
    suErrOrg: 'Escribe el nombre del negocio (de 2 a 200 caracteres).', suErrName: 'Escribe tu nombre (hasta 150 caracteres).',
    suErrEmail: 'Escribe un correo como nombre@negocio.co.',
    suErrEmailTaken: 'Este correo ya tiene una cuenta. Inicia sesión, o escribe la contraseña de esa cuenta para añadirle este negocio.',
    suErrShort: 'La contraseña es muy corta: usa al menos 8 caracteres.', suErrMix: 'Mezcla letras con números o símbolos.',
    suErrCommon: 'Esa contraseña es demasiado común. Elige otra.', suErrIsEmail: 'La contraseña no puede ser tu correo.',
    suErrUsername: 'Usa solo letras, números y @ . + - _ (hasta 150).', suErrUsernameTaken: 'Ese usuario ya existe. Elige otro.',
    suErrPassword: 'Elige una contraseña más segura.', suErrZone: 'Elige una zona horaria de la lista.', suErrPlan: 'Elige un plan de la lista.',
    suErrRate: 'Demasiados registros desde esta conexión. Intenta de nuevo en unos minutos.',
    suErrRateMin: (n) => `Demasiados registros desde esta conexión. Intenta de nuevo en ${n} minuto${n === 1 ? '' : 's'}.`,
    suUnavailable: 'El registro no está disponible en este servidor.', suCheck: 'Revisa los campos marcados.',
    suWelcome: (org) => `Cuenta creada. Bienvenido a ${org}: completa estos pasos para empezar.`,
  },
  en: {
    signUp: 'Create account', signUpLink: 'Create a new account', haveAccount: 'I have an account: sign in',
    suOrg: 'Business name', suSlug: 'Suggested address: ', suSlugNote: ' (a variant is used if it is taken)',
    suName: 'Your name', suEmail: 'Email', suEmailHint: 'You sign in with your email or your username.',
    suUsername: 'Username (optional)', suUsernameHint: 'If you leave it empty, your username is your email.',
    suPassword: 'Password', suPasswordHint: 'At least 8 characters, with letters and digits or symbols.',
    suZone: 'Time zone', suPlan: 'Plan', suPlanTrial: 'trial days', suCreate: 'Create account',
    suErrOrg: 'Enter the business name (2 to 200 characters).', suErrName: 'Enter your name (up to 150 characters).',
    suErrEmail: 'Enter an email like name@business.com.',
    suErrEmailTaken: 'This email already has an account. Sign in, or enter that account\'s password to add this business to it.',
    suErrShort: 'The password is too short: use at least 8 characters.', suErrMix: 'Mix letters with digits or symbols.',
    suErrCommon: 'That password is too common. Choose another.', suErrIsEmail: 'The password cannot be your email.',
    suErrUsername: 'Use only letters, digits and @ . + - _ (up to 150).', suErrUsernameTaken: 'That username is taken. Choose another.',
    suErrPassword: 'Choose a stronger password.', suErrZone: 'Choose a time zone from the list.', suErrPlan: 'Choose a plan from the list.',
    suErrRate: 'Too many signups from this connection. Try again in a few minutes.',
    suErrRateMin: (n) => `Too many signups from this connection. Try again in ${n} minute${n === 1 ? '' : 's'}.`,
    suUnavailable: 'Signing up is not available on this server.', suCheck: 'Check the marked fields.',
    suWelcome: (org) => `Account created. Welcome to ${org}: complete these steps to start.`,
  },
};

// slugOf suggests the organization's address as the server derives it (tenancy.Slugify): accents
// dropped, lower case, runs of other characters as one hyphen, at most 50 characters.
export function slugOf(name) {
  let out = '';
  let hyphen = false;
  for (const ch of name.normalize('NFKD')) {
    if (out.length >= 50) break;
    if (/\p{Mn}/u.test(ch)) continue;
    if (/^[A-Za-z0-9]$/.test(ch)) {
      if (hyphen && out.length > 0) out += '-';
      hyphen = false;
      out += ch.toLowerCase();
    } else {
      hyphen = true;
    }
  }
  out = out.replace(/^-+|-+$/g, '');
  return out || 'org';
}

// The API's field names and the form's inputs.
const FIELDS = {
  organization_name: 'su-org', admin_name: 'su-name', email: 'su-email', username: 'su-username', password: 'su-password', time_zone: 'su-zone', plan: 'su-plan',
};

// initSignup wires the signup view. ctx gives app.js's state, t, guard, flash, show and signedIn.
export function initSignup(ctx) {
  const { state, t, guard, flash, show, signedIn } = ctx;
  const $ = (id) => document.getElementById(id);
  let idemKey = '';
  let plansLoaded = false;

  function fieldError(input, msg) {
    const p = $(input + '-err');
    p.textContent = msg || '';
    p.hidden = !msg;
    if (msg) $(input).setAttribute('aria-invalid', 'true'); else $(input).removeAttribute('aria-invalid');
  }

  function formMessage(msg) {
    $('su-msg').textContent = msg || '';
    $('su-msg').hidden = !msg;
  }

  function clearErrors() {
    for (const id of Object.values(FIELDS)) fieldError(id, '');
    formMessage('');
  }

  function showSlug() {
    const name = $('su-org').value.trim();
    $('su-slug').textContent = name ? t('suSlug') + slugOf(name) + t('suSlugNote') : '';
  }

  // passwordMessage words the server's reason for refusing a password.
  function passwordMessage(reason) {
    if (reason.includes('at least')) return t('suErrShort');
    if (reason.includes('mix')) return t('suErrMix');
    if (reason.includes('common')) return t('suErrCommon');
    if (reason.includes('e-mail')) return t('suErrIsEmail');
    return t('suErrPassword');
  }

  function messageFor(field, code, reason) {
    switch (field) {
      case 'organization_name': return t('suErrOrg');
      case 'admin_name': return t('suErrName');
      case 'email': return code === 'email_taken' ? t('suErrEmailTaken') : t('suErrEmail');
      case 'username': return code === 'username_taken' ? t('suErrUsernameTaken') : t('suErrUsername');
      case 'password': return passwordMessage(reason);
      case 'time_zone': return t('suErrZone');
      case 'plan': return t('suErrPlan');
    }
    return '';
  }

  async function loadPlans() {
    if (plansLoaded) return;
    let plans = [];
    try {
      const r = await fetch('/api/plans');
      if (r.ok) plans = await r.json();
    } catch { /* no plans: the server picks the default */ }
    plansLoaded = true;
    $('su-plan').replaceChildren(...plans.map((p) => new Option(`${p.name} · ${p.trial_days} ${t('suPlanTrial')}`, p.code)));
    $('su-plan-field').hidden = plans.length === 0;
  }

  function fillZones() {
    if ($('su-zone').options.length) return;
    const browserZone = Intl.DateTimeFormat().resolvedOptions().timeZone;
    let zones = [];
    try { zones = Intl.supportedValuesOf('timeZone'); } catch { /* an old browser */ }
    if (!zones.includes('America/Bogota')) zones.unshift('America/Bogota');
    $('su-zone').replaceChildren(...zones.map((z) => new Option(z.replaceAll('_', ' '), z)));
    $('su-zone').value = zones.includes(browserZone) ? browserZone : 'America/Bogota';
  }

  async function open() {
    flash('');
    clearErrors();
    fillZones();
    showSlug();
    show('signup-view');
    $('signup-title').focus();
    await loadPlans();
  }

  async function submit(ev) {
    ev.preventDefault();
    clearErrors();
    idemKey ||= crypto.randomUUID();
    const body = {
      organization_name: $('su-org').value.trim(), admin_name: $('su-name').value.trim(), email: $('su-email').value.trim(),
      password: $('su-password').value, time_zone: $('su-zone').value,
    };
    if ($('su-username').value.trim()) body.username = $('su-username').value.trim();
    if (!$('su-plan-field').hidden && $('su-plan').value) body.plan = $('su-plan').value;
    const r = await fetch('/api/signup', {
      method: 'POST', credentials: 'same-origin',
      headers: { 'Content-Type': 'application/json', 'X-Session-Cookie': '1', 'Idempotency-Key': idemKey },
      body: JSON.stringify(body),
    });
    if (!r.ok) {
      let err = {};
      try { err = (await r.json()).error || {}; } catch { /* not JSON */ }
      if (r.status === 429) {
        const secs = Number(r.headers.get('Retry-After'));
        formMessage(secs > 0 ? t('suErrRateMin')(Math.ceil(secs / 60)) : t('suErrRate'));
        return;
      }
      if (r.status === 404 || r.status === 405) { formMessage(t('suUnavailable')); return; }
      // A refused request created nothing: the next attempt may use a new key.
      idemKey = '';
      const field = err.field || '';
      const reason = (err.message || '').slice(field.length + 2);
      const msg = messageFor(field, err.code, reason);
      if (msg && FIELDS[field]) {
        fieldError(FIELDS[field], msg);
        formMessage(t('suCheck'));
        $(FIELDS[field]).focus();
        return;
      }
      formMessage(t('failed') + (err.message || r.statusText));
      return;
    }
    const out = await r.json();
    idemKey = '';
    state.access = out.tokens.access_token;
    localStorage.setItem('appcitas.org', String(out.organization.id));
    $('su-password').value = '';
    await signedIn();
    flash(t('suWelcome')(out.organization.name));
  }

  $('signup-open').addEventListener('click', guard(open));
  $('signup-back').addEventListener('click', () => { clearErrors(); show('login-view'); $('login-user').focus(); });
  $('su-org').addEventListener('input', showSlug);
  // A changed form is a different signup: it gets a new Idempotency-Key.
  for (const id of Object.values(FIELDS)) $(id).addEventListener('change', () => { idemKey = ''; });
  $('signup-form').addEventListener('submit', guard(submit));
  $('lang').addEventListener('click', showSlug);
}
