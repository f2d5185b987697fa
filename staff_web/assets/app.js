/* Staff dashboard of the Public Service Mall (Mal Pelayanan Publik) of Kubu Raya.
 *
 * Plain JavaScript, no framework, no build step: it is shipped inside the server and must run
 * on an office LAN without internet. The server's Content-Security-Policy forbids inline code,
 * so all behaviour is attached here with addEventListener.
 *
 * Everything the server sends was typed on a van (names, notes, field values, receipts), so it
 * is written into the page only as text: el() below builds elements with createElement and
 * text nodes, and nothing here ever assigns HTML.
 */
'use strict';

(function () {
  const DICT = window.MPP_I18N;
  const STATUSES = DICT.statuses;
  const NOTE_REQUIRED = ['needs_info', 'rejected']; // the API refuses these without a note
  const PER_PAGE = 50;
  const LANG_KEY = 'mpp.staff.lang';
  // The inbox filters kept in the hash (#/inbox?status=...), in the order they are written.
  const INBOX_KEYS = ['status', 'service', 'agency', 'van', 'officer', 'q', 'nik', 'from', 'to',
    'duplicate', 'sort', 'page'];
  // Calls whose 401 means "wrong password" or "not logged in yet", not "the session ended".
  const NO_SESSION_PATHS = ['/api/login', '/api/me', '/api/logout'];

  const state = {
    me: null,            // {user, agency, role, csrf} once logged in
    lang: 'id',
    seq: 0,              // bumped on each route, so a late answer cannot draw over a newer page
    keepMessage: false,  // keep #page-message across the next route (a result to report)
    afterLogin: '',      // the page asked for before the login page was shown
    loginNotice: '',     // i18n key shown on the login page (session ended, logged out)
    lastInbox: '#/inbox',
    receipts: {},        // request id -> receipt of the inbox rows shown, for bulk reports
    exportMask: true,    // the inbox's "mask NIK and phone numbers" box, kept across redraws
    tokenResult: null    // the token just created: shown on the tokens page until it is left
  };
  // The pages after login may return to (state.afterLogin).
  const ROUTE_AFTER_LOGIN = /^#\/(inbox|summary|request|conflicts|vans|tokens|staff)(\/|\?|$)/;

  /* ---------- small helpers ---------- */

  const { $, $$, el } = window.MPP_DOM;

  // A value for display: missing or empty shows as a dash.
  function txt(value) {
    return value === null || value === undefined || value === '' ? t('common.none') : String(value);
  }

  function placeholderRow(cols, key) {
    return el('tr', { class: 'placeholder-row' }, el('td', { colspan: String(cols), class: 'muted', text: t(key) }));
  }

  function headRow(keys) {
    return el('thead', {}, el('tr', {}, keys.map((k) => el('th', { scope: 'col', text: t(k) }))));
  }

  function canEdit() {
    return !!state.me && (state.me.role === 'officer' || state.me.role === 'admin');
  }

  /* ---------- language ---------- */

  function loadLang() {
    try {
      const saved = window.localStorage.getItem(LANG_KEY);
      if (saved === 'id' || saved === 'en') return saved;
    } catch (e) { /* storage may be off in a locked-down browser: Indonesian then */ }
    return 'id';
  }

  function saveLang(lang) {
    try { window.localStorage.setItem(LANG_KEY, lang); } catch (e) { /* not remembered, fine */ }
  }

  // Looks a text up; {name} placeholders are filled with plain strings.
  function t(key, vars) {
    let s = DICT[state.lang][key];
    if (s === undefined) s = DICT.id[key];
    if (s === undefined) return key;
    if (vars) s = s.replace(/\{(\w+)\}/g, (m, k) => (k in vars ? String(vars[k]) : m));
    return s;
  }

  function statusName(status) {
    const s = DICT[state.lang]['status.' + status];
    return s === undefined ? String(status) : s;
  }

  function serviceName(item) {
    const first = state.lang === 'en' ? item.service_name_en : item.service_name;
    return first || item.service_name || item.service_name_en || item.service_id || t('common.none');
  }

  // Translates the static parts of index.html (data-i18n*) and the document itself.
  function applyStaticText() {
    document.documentElement.lang = state.lang;
    document.title = t('app.title');
    $$('[data-i18n]').forEach((node) => { node.textContent = t(node.dataset.i18n); });
    $$('[data-i18n-aria-label]').forEach((node) => {
      node.setAttribute('aria-label', t(node.dataset.i18nAriaLabel));
    });
    const toggle = $('#lang-toggle');
    toggle.textContent = t('lang.toggle');
    toggle.setAttribute('lang', t('lang.toggleLang')); // the button's text is in the other language
  }

  function toggleLang() {
    state.lang = state.lang === 'id' ? 'en' : 'id';
    saveLang(state.lang);
    applyStaticText();
    updateHeader();
    route(); // redraw the page in the new language
  }

  /* ---------- dates ---------- */

  const pad = (n) => String(n).padStart(2, '0');
  let enFormat = null;

  // created_ms / updated_ms / at_ms are ms since the epoch; shown in the browser's time zone.
  function fmtTime(ms) {
    if (typeof ms !== 'number' || !isFinite(ms) || ms <= 0) return t('common.none');
    const d = new Date(ms);
    if (state.lang === 'id') {
      return pad(d.getDate()) + '/' + pad(d.getMonth() + 1) + '/' + d.getFullYear() + ' ' +
        pad(d.getHours()) + ':' + pad(d.getMinutes());
    }
    enFormat = enFormat || new Intl.DateTimeFormat('en-GB', {
      day: 'numeric', month: 'short', year: 'numeric', hour: '2-digit', minute: '2-digit',
      hour12: false
    });
    return enFormat.format(d);
  }

  function timeEl(ms, fallbackKey) {
    if (typeof ms !== 'number' || !isFinite(ms) || ms <= 0) {
      return el('span', { class: 'muted', text: fallbackKey ? t(fallbackKey) : t('common.none') });
    }
    return el('time', { datetime: new Date(ms).toISOString(), text: fmtTime(ms) });
  }

  /* ---------- the API ---------- */

  class ApiError extends Error {
    constructor(status, code, detail, retryAfter) {
      super(code + (detail ? ': ' + detail : ''));
      this.status = status;
      this.code = code;
      this.detail = detail;
      this.retryAfter = retryAfter;
      this.sessionEnded = false;
    }
  }

  const CODE_BY_STATUS = { 400: 'invalid', 401: 'unauthenticated', 403: 'forbidden',
    404: 'not_found', 409: 'conflict', 413: 'too_large', 429: 'too_many', 503: 'unavailable' };

  // One JSON call. POSTs carry the CSRF token (login excepted: there is none yet); the
  // browser adds Origin itself. Throws ApiError on any refusal.
  async function api(method, path, body) {
    const headers = { Accept: 'application/json' };
    const opts = { method, headers, credentials: 'same-origin', cache: 'no-store' };
    if (method !== 'GET') {
      headers['Content-Type'] = 'application/json';
      if (path !== '/api/login') headers['X-CSRF-Token'] = state.me ? state.me.csrf : '';
      opts.body = JSON.stringify(body || {});
    }
    let res;
    try {
      res = await fetch(path, opts);
    } catch (e) {
      throw new ApiError(0, 'network', '');
    }
    let data = null;
    if (res.status !== 204) {
      try { data = await res.json(); } catch (e) { data = null; }
    }
    if (!res.ok) {
      const known = data && typeof data.code === 'string';
      const err = new ApiError(res.status, known ? data.code : (CODE_BY_STATUS[res.status] || 'unknown'),
        data && typeof data.error === 'string' ? data.error : (known ? '' : 'HTTP ' + res.status),
        res.headers.get('Retry-After'));
      if (res.status === 401 && !NO_SESSION_PATHS.includes(path.split('?')[0])) {
        err.sessionEnded = true;
        sessionEnded();
      }
      throw err;
    }
    return data;
  }

  // Any 401 outside login: back to the login page, and back here after logging in again.
  function sessionEnded() {
    if (!state.me) return; // several calls may fail at once; act on the first
    state.me = null;
    state.tokenResult = null;
    state.afterLogin = location.hash;
    state.loginNotice = 'session.ended';
    updateHeader();
    navigate('#/login');
  }

  /* ---------- messages ---------- */

  // kind: ok | error | warn | info. parts: strings and nodes.
  function setMessage(node, kind, parts) {
    if (!node) return;
    node.textContent = '';
    node.className = node.className.replace(/\bmsg-\w+/g, '').trim() + (parts.length ? ' msg-' + kind : '');
    parts.forEach((p) => node.append(p));
  }

  function showMessage(kind, ...parts) { setMessage($('#page-message'), kind, parts); }
  function clearMessage() { setMessage($('#page-message'), '', []); }

  // The translated code, then the server's own line (it says what to do).
  function errorParts(err) {
    if (!(err instanceof ApiError)) {
      return [el('strong', { text: t('err.unknown') }), err && err.message ? ' — ' + err.message : ''];
    }
    const known = DICT.id['err.' + err.code] !== undefined;
    const parts = [el('strong', { text: known ? t('err.' + err.code) : t('err.unknown') })];
    if (err.detail) parts.push(' — ' + err.detail);
    else if (!known) parts.push(' — ' + err.code);
    if (err.status === 429 && err.retryAfter && /^\d+$/.test(err.retryAfter)) {
      parts.push(' ' + t('login.retry', { s: err.retryAfter }));
    }
    return parts;
  }

  function showError(err, node) {
    if (err && err.sessionEnded) return; // the login page says so already
    setMessage(node || $('#page-message'), 'error', errorParts(err));
  }

  /* ---------- header ---------- */

  function updateHeader() {
    const me = state.me;
    $('#main-nav').hidden = !me;
    $('#whoami').hidden = !me;
    $('#logout').hidden = !me;
    ['#nav-vans', '#nav-tokens', '#nav-staff'].forEach((sel) => { $(sel).hidden = !(me && me.role === 'admin'); });
    const who = $('#whoami');
    who.textContent = '';
    if (!me) return;
    const roleText = t('role.' + me.role);
    // The role's own name is shown too where the translation differs (Indonesian), so staff
    // can quote it to the administrator.
    const role = roleText.toLowerCase() === String(me.role).toLowerCase()
      ? roleText : roleText + ' (' + me.role + ')';
    who.append(el('span', { class: 'sr-only', text: t('whoami.label') + ' ' }),
      el('strong', { class: 'whoami-user', text: me.user }), ' · ',
      el('span', { class: 'whoami-role', text: role }), ' · ',
      el('span', { class: 'whoami-agency', text: me.agency === '*' ? t('agency.all') + ' (*)' : txt(me.agency) }));
  }

  function setActiveNav(name) {
    ['inbox', 'summary', 'conflicts', 'vans', 'tokens', 'staff'].forEach((n) => {
      const link = $('#nav-' + n);
      const active = n === name || (n === 'inbox' && name === 'request');
      if (active) link.setAttribute('aria-current', 'page'); else link.removeAttribute('aria-current');
    });
  }

  /* ---------- router ---------- */

  function parseHash() {
    const raw = location.hash.replace(/^#/, '');
    const qi = raw.indexOf('?');
    const parts = (qi < 0 ? raw : raw.slice(0, qi)).split('/').filter(Boolean);
    let arg = parts.slice(1).join('/');
    try { arg = decodeURIComponent(arg); } catch (e) { /* a stray % : use as typed */ }
    return { name: parts[0] || '', arg, query: new URLSearchParams(qi < 0 ? '' : raw.slice(qi + 1)) };
  }

  function navigate(hash, keepMessage) {
    state.keepMessage = !!keepMessage;
    if (location.hash === hash) route(); else location.hash = hash; // hashchange calls route()
  }

  // Changes the address without a second route() (replaceState fires no hashchange).
  function replaceHash(hash) { history.replaceState(null, '', hash); }

  const VIEWS = { inbox: renderInbox, summary: renderSummary, request: renderRequest,
    conflicts: renderConflicts, vans: renderVans, tokens: renderTokens, staff: renderStaff };

  function route() {
    const seq = ++state.seq;
    if (!state.keepMessage) clearMessage();
    state.keepMessage = false;
    let r = parseHash();
    if (!state.me) {
      if (r.name !== 'login') {
        if (r.name) state.afterLogin = location.hash;
        replaceHash('#/login');
      }
      renderLogin();
      return;
    }
    if (!VIEWS[r.name] || (r.name === 'request' && !r.arg)) {
      replaceHash('#/inbox');
      r = parseHash();
    }
    // A new token is shown only on its page: leaving the page forgets it.
    if (r.name !== 'tokens') state.tokenResult = null;
    setActiveNav(r.name);
    Promise.resolve(VIEWS[r.name](r, seq)).catch((err) => { if (seq === state.seq) showError(err); });
  }

  const stale = (seq) => seq !== state.seq;

  // A page's GET: null when refused (reported already) or when the user has moved on.
  async function load(path, seq, tbody) {
    try {
      const data = await api('GET', path);
      return stale(seq) ? null : data;
    } catch (err) {
      if (!stale(seq)) {
        if (tbody) tbody.textContent = '';
        showError(err);
      }
      return null;
    }
  }

  // Shows the login section or empties the main view for a page; returns the view.
  function showView(which) {
    $('#view-login').hidden = which !== 'login';
    const view = $('#view');
    view.hidden = which === 'login';
    view.textContent = '';
    return view;
  }

  /* ---------- login / logout ---------- */

  function renderLogin() {
    showView('login');
    setActiveNav('');
    const msg = $('#login-error');
    setMessage(msg, state.loginNotice === 'session.ended' ? 'warn' : 'info',
      state.loginNotice ? [t(state.loginNotice)] : []);
    // A session that ended is said in the page's message area too, where every page says things.
    if (state.loginNotice === 'session.ended') showMessage('warn', t(state.loginNotice));
    const user = $('#login-user');
    (user.value ? $('#login-password') : user).focus();
  }

  async function onLoginSubmit(ev) {
    ev.preventDefault();
    const userInput = $('#login-user');
    const pwInput = $('#login-password');
    const msg = $('#login-error');
    const user = userInput.value.trim();
    if (!user || !pwInput.value) {
      setMessage(msg, 'error', [t('login.missing')]);
      (user ? pwInput : userInput).focus();
      return;
    }
    const button = $('#login-submit');
    button.disabled = true;
    button.textContent = t('login.busy');
    try {
      const me = await api('POST', '/api/login', { user, password: pwInput.value });
      state.me = me;
      state.loginNotice = '';
      pwInput.value = '';
      setMessage(msg, '', []);
      updateHeader();
      const target = ROUTE_AFTER_LOGIN.test(state.afterLogin) ? state.afterLogin : '#/inbox';
      state.afterLogin = '';
      navigate(target);
    } catch (err) {
      pwInput.value = '';
      // A 401 here is a wrong name or password, not an ended session.
      setMessage(msg, 'error', err.status === 401 ? [el('strong', { text: t('login.failed') }),
        err.detail ? ' — ' + err.detail : ''] : errorParts(err));
      pwInput.focus();
    } finally {
      button.disabled = false;
      button.textContent = t('login.submit');
    }
  }

  async function onLogout() {
    try {
      await api('POST', '/api/logout', {});
    } catch (e) { /* the session may be over already; the page logs out all the same */ }
    state.me = null;
    state.afterLogin = '';
    state.tokenResult = null;
    state.loginNotice = 'session.loggedOut';
    updateHeader();
    navigate('#/login');
  }

  /* ---------- inbox ---------- */

  function inboxParams(query) {
    const p = {};
    INBOX_KEYS.forEach((k) => { const v = query.get(k); if (v) p[k] = v; });
    return p;
  }

  function inboxHash(p) {
    const qs = new URLSearchParams();
    INBOX_KEYS.forEach((k) => { if (p[k]) qs.set(k, p[k]); });
    const s = qs.toString();
    return '#/inbox' + (s ? '?' + s : '');
  }

  async function renderInbox(r, seq) {
    const p = inboxParams(r.query);
    state.lastInbox = inboxHash(p);
    const view = showView('main');
    const counts = el('div', { id: 'status-counts', class: 'status-counts', role: 'group',
      'aria-label': t('inbox.counts') });
    const table = buildInboxTable(p);
    view.append(el('h1', { text: t('inbox.title') }), buildFilters(p), buildExportBar(p), counts,
      canEdit() ? buildBulkBar() : null, el('div', { class: 'table-wrap' }, table), buildPager());

    const qs = new URLSearchParams(p);
    qs.set('per_page', String(PER_PAGE));
    const data = await load('/api/requests?' + qs.toString(), seq, table.tBodies[0]);
    if (!data) return;
    const items = Array.isArray(data.items) ? data.items : [];
    const total = Number(data.total) || 0;
    const page = Number(data.page) || 1;
    const per = Number(data.per_page) || PER_PAGE;
    if (!items.length && total > 0 && page > 1) {
      // The page ran empty (e.g. a bulk change moved its rows away): show the last one.
      navigate(inboxHash(Object.assign({}, p, { page: String(Math.ceil(total / per)) })), true);
      return;
    }
    fillCounts(counts, data.counts || {}, p);
    fillRows(table, items);
    fillPager({ total, page, per }, p);
  }

  // A label and its control, side by side in the filter bar.
  function field(id, labelKey, control, extraClass) {
    control.id = id;
    return el('div', { class: 'field' + (extraClass ? ' ' + extraClass : '') },
      [el('label', { for: id, text: t(labelKey) }), control]);
  }

  function textInput(value, placeholderKey, extra) {
    return el('input', Object.assign({ type: 'text', value: value || '', autocomplete: 'off',
      placeholder: placeholderKey ? t(placeholderKey) : null }, extra || {}));
  }

  function buildFilters(p) {
    const status = el('select', {}, [el('option', { value: '', text: t('status.all') })]
      .concat(STATUSES.map((s) => el('option', { value: s, text: statusName(s), selected: p.status === s }))));
    status.value = STATUSES.includes(p.status) ? p.status : '';
    const duplicate = el('input', { type: 'checkbox', id: 'filter-duplicate', checked: p.duplicate === '1' });
    const form = el('form', { id: 'inbox-filters', class: 'filters', role: 'search',
      'aria-label': t('inbox.filters') }, [
      field('filter-status', 'filter.status', status),
      field('filter-q', 'filter.q', textInput(p.q, null, { type: 'search' }), 'field-wide'),
      field('filter-service', 'filter.service', textInput(p.service, 'filter.servicePh')),
      state.me.role === 'admin' ? field('filter-agency', 'filter.agency', textInput(p.agency, 'filter.agencyPh')) : null,
      field('filter-van', 'filter.van', textInput(p.van, 'filter.vanPh', { class: 'input-short' })),
      field('filter-officer', 'filter.officer', textInput(p.officer)),
      field('filter-nik', 'filter.nik', textInput(p.nik, 'filter.nikPh', { inputmode: 'numeric', maxlength: '16' })),
      field('filter-from', 'filter.from', el('input', { type: 'date', value: p.from || '' })),
      field('filter-to', 'filter.to', el('input', { type: 'date', value: p.to || '' })),
      el('div', { class: 'field field-check' }, [duplicate,
        el('label', { for: 'filter-duplicate', text: t('filter.duplicate') })]),
      el('div', { class: 'field field-buttons' }, [
        el('button', { type: 'submit', id: 'filter-apply', class: 'btn btn-primary', text: t('filter.apply') }),
        el('button', { type: 'button', id: 'filter-reset', class: 'btn', text: t('filter.reset') })])
    ]);
    form.addEventListener('submit', (ev) => { ev.preventDefault(); applyFilters(p); });
    $('#filter-reset', form).addEventListener('click', () => navigate('#/inbox'));
    return form;
  }

  // Reads the filter bar into the hash; the sort order stays, the page starts again at 1.
  function applyFilters(p) {
    const val = (id) => { const n = $('#' + id); return n ? n.value.trim() : ''; };
    const next = { status: val('filter-status'), q: val('filter-q'), service: val('filter-service'),
      agency: val('filter-agency'), van: val('filter-van'), officer: val('filter-officer'),
      nik: val('filter-nik'), from: val('filter-from'), to: val('filter-to'),
      duplicate: $('#filter-duplicate').checked ? '1' : '', sort: p.sort || '' };
    if (next.nik && !/^\d{16}$/.test(next.nik)) {
      showMessage('error', t('filter.nikInvalid'));
      $('#filter-nik').focus();
      return;
    }
    if (next.from && next.to && next.from > next.to) { // YYYY-MM-DD compares as text
      showMessage('error', t('filter.rangeInvalid'));
      $('#filter-from').focus();
      return;
    }
    navigate(inboxHash(next));
  }

  // Export of every request the inbox's filters match (no paging). The browser downloads the
  // answer (Content-Disposition: attachment), so this is a plain navigation, not a fetch.
  function buildExportBar(p) {
    const mask = el('input', { type: 'checkbox', id: 'export-mask', checked: state.exportMask });
    mask.addEventListener('change', () => { state.exportMask = mask.checked; });
    const csv = el('button', { type: 'button', id: 'export-csv', class: 'btn', text: t('export.csv') });
    const json = el('button', { type: 'button', id: 'export-json', class: 'btn', text: t('export.json') });
    const go = (format) => {
      const qs = new URLSearchParams();
      qs.set('format', format);
      qs.set('mask', mask.checked ? '1' : '0');
      INBOX_KEYS.forEach((k) => { if (k !== 'page' && p[k]) qs.set(k, p[k]); });
      window.location.assign('/api/export?' + qs.toString());
    };
    csv.addEventListener('click', () => go('csv'));
    json.addEventListener('click', () => go('json'));
    return el('div', { id: 'export-bar', class: 'export-bar', role: 'group', 'aria-label': t('export.label') }, [
      el('span', { class: 'export-hint muted', text: t('export.hint') }),
      el('span', { class: 'field-check export-check' }, [mask, el('label', { for: 'export-mask', text: t('export.mask') })]),
      csv, json]);
  }

  function fillCounts(box, counts, p) {
    box.textContent = '';
    const num = (s) => Number(counts[s]) || 0;
    const total = STATUSES.reduce((sum, s) => sum + num(s), 0);
    const button = (status, label, count) => {
      const active = (p.status || '') === status;
      const b = el('button', { type: 'button', class: 'status-count' + (status ? ' status-' + status : ' count-all') +
        (active ? ' active' : ''), 'aria-pressed': String(active) },
      [el('span', { class: 'count-name', text: label }), el('span', { class: 'count-num', text: String(count) })]);
      if (status) b.dataset.status = status;
      b.addEventListener('click', () => navigate(inboxHash(Object.assign({}, p, { status, page: '' }))));
      return b;
    };
    box.append(button('', t('status.all'), total));
    STATUSES.forEach((s) => box.append(button(s, statusName(s), num(s))));
  }

  function statusBadge(status, id) {
    const known = STATUSES.includes(status);
    return el('span', { id, class: 'badge status-' + (known ? status : 'unknown'), text: statusName(status) });
  }

  // A sortable column header. The API's plain order is newest first for the two dates and
  // (we assume) A to Z for receipts; a "-" in front reverses either.
  function sortHeader(key, labelKey, p) {
    const current = p.sort || 'updated';
    const active = current === key || current === '-' + key;
    const reversed = current.charAt(0) === '-';
    const descending = key === 'receipt' ? reversed : !reversed;
    const th = el('th', { scope: 'col', class: 'col-' + key,
      'aria-sort': active ? (descending ? 'descending' : 'ascending') : 'none' });
    const button = el('button', { type: 'button', class: 'sort-button', 'data-sort': key }, [t(labelKey),
      el('span', { class: 'sort-mark', 'aria-hidden': 'true', text: active ? (descending ? ' ▼' : ' ▲') : ' ↕' })]);
    button.addEventListener('click', () => {
      const next = active && !reversed ? '-' + key : key;
      navigate(inboxHash(Object.assign({}, p, { sort: next === 'updated' ? '' : next, page: '' })));
    });
    th.append(button);
    return th;
  }

  function buildInboxTable(p) {
    const selectAll = el('input', { type: 'checkbox', id: 'select-all', 'aria-label': t('col.selectAll') });
    const th = (key, cls) => el('th', { scope: 'col', class: cls, text: t(key) });
    const table = el('table', { id: 'inbox-table', class: 'data-table inbox-table' }, [
      el('thead', {}, el('tr', {}, [el('th', { scope: 'col', class: 'col-select' }, selectAll),
        sortHeader('receipt', 'col.receipt', p), th('col.name', 'col-name'), th('col.service', 'col-service'),
        th('col.van', 'col-van'), th('col.officer', 'col-officer'), th('col.status', 'col-status'),
        sortHeader('created', 'col.created', p), sortHeader('updated', 'col.updated', p)])),
      el('tbody', {}, placeholderRow(9, 'common.loading'))
    ]);
    selectAll.addEventListener('change', () => {
      $$('input.row-select', table).forEach((cb) => { cb.checked = selectAll.checked; });
      updateSelection(table);
    });
    table.tBodies[0].addEventListener('change', (ev) => {
      if (ev.target.classList.contains('row-select')) updateSelection(table);
    });
    return table;
  }

  function inboxRow(item) {
    const id = String(item.id);
    const name = el('td', { class: 'col-name' }, txt(item.name));
    if (item.duplicate) name.append(' ', el('span', { class: 'badge badge-dup', text: t('inbox.duplicate') }));
    return el('tr', { 'data-id': id }, [
      el('td', { class: 'col-select' }, el('input', { type: 'checkbox', class: 'row-select', value: id,
        'aria-label': t('inbox.selectRow', { r: txt(item.receipt) }) })),
      el('td', { class: 'col-receipt' }, el('a', { class: 'receipt-link', href: requestHref(id), text: txt(item.receipt) })),
      name,
      el('td', { class: 'col-service', text: serviceName(item) }),
      el('td', { class: 'col-van', text: txt(item.van_code) }),
      el('td', { class: 'col-officer', text: txt(item.officer) }),
      el('td', { class: 'col-status' }, statusBadge(item.status)),
      el('td', { class: 'col-created' }, timeEl(item.created_ms)),
      el('td', { class: 'col-updated' }, timeEl(item.updated_ms))
    ]);
  }

  function requestHref(id) { return '#/request/' + encodeURIComponent(id); }

  function fillRows(table, items) {
    const tbody = table.tBodies[0];
    tbody.textContent = '';
    state.receipts = {};
    items.forEach((item) => {
      state.receipts[String(item.id)] = item.receipt;
      tbody.append(inboxRow(item));
    });
    if (!items.length) tbody.append(placeholderRow(9, 'inbox.empty'));
    updateSelection(table);
  }

  function selectedIds(table) {
    return $$('input.row-select', table).filter((cb) => cb.checked).map((cb) => cb.value);
  }

  // Keeps the "select all" box and the bulk bar's count in step with the row boxes.
  function updateSelection(table) {
    const all = $$('input.row-select', table);
    const n = all.filter((cb) => cb.checked).length;
    const selectAll = $('#select-all', table);
    selectAll.checked = all.length > 0 && n === all.length;
    selectAll.indeterminate = n > 0 && n < all.length;
    $$('tbody tr[data-id]', table).forEach((tr) => tr.classList.toggle('selected', $('input.row-select', tr).checked));
    const count = $('#bulk-count');
    if (count) count.textContent = t('bulk.selected', { n });
  }

  function buildPager() {
    return el('nav', { class: 'pager', 'aria-label': t('page.label') }, [
      el('button', { type: 'button', id: 'page-prev', class: 'btn', disabled: true, text: t('page.prev') }),
      el('span', { id: 'page-info', class: 'page-info', 'aria-live': 'polite' }),
      el('button', { type: 'button', id: 'page-next', class: 'btn', disabled: true, text: t('page.next') })
    ]);
  }

  function fillPager(d, p) {
    const first = d.total ? (d.page - 1) * d.per + 1 : 0;
    const last = Math.min(d.page * d.per, d.total);
    $('#page-info').textContent = t('page.info', { a: first, b: last, n: d.total });
    const prev = $('#page-prev');
    const next = $('#page-next');
    prev.disabled = d.page <= 1;
    next.disabled = last >= d.total;
    const go = (page) => navigate(inboxHash(Object.assign({}, p, { page: page > 1 ? String(page) : '' })));
    prev.addEventListener('click', () => go(d.page - 1));
    next.addEventListener('click', () => go(d.page + 1));
  }

  function buildBulkBar() {
    // "submitted" is where requests start; no one moves a request back to it.
    const options = [el('option', { value: '', text: t('bulk.choose') })].concat(
      STATUSES.filter((s) => s !== 'submitted').map((s) => el('option', { value: s, text: statusName(s) })));
    const form = el('form', { id: 'bulk-form', class: 'bulk-bar', 'aria-label': t('bulk.label') }, [
      el('span', { id: 'bulk-count', class: 'bulk-count', text: t('bulk.selected', { n: 0 }) }),
      el('label', { for: 'bulk-status', text: t('bulk.status') }),
      el('select', { id: 'bulk-status' }, options),
      el('label', { for: 'bulk-note', text: t('bulk.note') }),
      el('input', { type: 'text', id: 'bulk-note', class: 'input-note', maxlength: '1000', autocomplete: 'off' }),
      el('button', { type: 'submit', id: 'bulk-apply', class: 'btn btn-primary', text: t('bulk.apply') })
    ]);
    form.addEventListener('submit', onBulkApply);
    return form;
  }

  async function onBulkApply(ev) {
    ev.preventDefault();
    const ids = selectedIds($('#inbox-table'));
    const status = $('#bulk-status').value;
    const note = $('#bulk-note').value.trim();
    if (!ids.length) { showMessage('error', t('bulk.none')); return; }
    if (!status) { showMessage('error', t('bulk.noStatus')); $('#bulk-status').focus(); return; }
    if (NOTE_REQUIRED.includes(status) && !note) {
      showMessage('error', t('note.required'));
      $('#bulk-note').focus();
      return;
    }
    const button = $('#bulk-apply');
    button.disabled = true;
    let res;
    try {
      res = await api('POST', '/api/requests/bulk-status', { ids, status, note });
    } catch (err) {
      showError(err);
      button.disabled = false;
      return;
    }
    const failed = Array.isArray(res && res.failed) ? res.failed : [];
    const parts = [t('bulk.result', { c: Number(res && res.changed) || 0, f: failed.length })];
    if (failed.length) {
      parts.push(el('ul', { class: 'msg-list' }, failed.map((f) =>
        el('li', {}, [el('strong', { text: txt(state.receipts[String(f.id)] || f.id) }), ': ' + txt(f.error)]))));
    }
    showMessage(failed.length ? 'warn' : 'ok', ...parts);
    navigate(state.lastInbox, true); // reload the list, keeping the report
  }

  /* ---------- request detail ---------- */

  async function renderRequest(r, seq) {
    const view = showView('main');
    view.append(backLink(), el('p', { class: 'muted', text: t('common.loading') }));
    const req = await load('/api/requests/' + encodeURIComponent(r.arg), seq);
    if (req) drawRequest(req, seq);
    else if (!stale(seq)) view.lastChild.remove(); // the loading line
  }

  function backLink() {
    return el('p', { class: 'back' }, el('a', { href: state.lastInbox, text: t('detail.back') }));
  }

  // Draws the whole detail page from one answer of GET (or a POST that answers the request).
  function drawRequest(req, seq, okText) {
    const view = showView('main');
    const message = el('div', { id: 'detail-message', class: 'page-message', role: 'status', 'aria-live': 'polite' });
    const dd = (id, content) => el('dd', { id }, content);
    const summary = el('dl', { class: 'summary' }, [
      el('dt', { text: t('detail.service') }), dd('detail-service', serviceName(req)),
      el('dt', { text: t('detail.agency') }), dd(null, txt(req.agency)),
      el('dt', { text: t('detail.van') }), dd('detail-van', txt(req.van_code)),
      el('dt', { text: t('detail.device') }), dd(null, shortId(req.device_id)),
      el('dt', { text: t('detail.officer') }), dd('detail-officer', txt(req.officer)),
      el('dt', { text: t('detail.created') }), dd(null, timeEl(req.created_ms)),
      el('dt', { text: t('detail.updated') }), dd(null, timeEl(req.updated_ms)),
      el('dt', { text: t('detail.note') }), dd('detail-note', txt(req.status_note))
    ]);
    view.append(backLink(),
      el('div', { class: 'detail-head' }, [
        el('h1', {}, [t('detail.title') + ' ', el('span', { id: 'detail-receipt', text: txt(req.receipt) })]),
        statusBadge(req.status, 'detail-status')]),
      message,
      el('div', { class: 'detail-grid' }, [
        el('div', { class: 'detail-main' }, [
          section('detail.summary', summary),
          section('detail.fields', buildFieldsTable(req, seq, message)),
          buildComments(req, seq, message)]),
        el('div', { class: 'detail-side' }, [
          buildStatusForm(req, seq, message) || null,
          section('detail.history', buildHistory(req.history, req.fields)),
          section('detail.conflicts', buildDetailConflicts(req, seq, message))])
      ]));
    if (okText) setMessage(message, 'ok', [okText]);
  }

  function section(titleKey, content) {
    return el('section', { class: 'card' }, [el('h2', { text: t(titleKey) }), content]);
  }

  // Device ids are long; the start and end tell them apart, the full one is in the tooltip.
  function shortId(id) {
    if (!id) return t('common.none');
    const s = String(id);
    const short = s.length > 16 ? s.slice(0, 8) + '…' + s.slice(-4) : s;
    return el('code', { class: 'device-id', title: s, text: short });
  }

  function buildStatusForm(req, seq, message) {
    const allowed = Array.isArray(req.allowed_statuses) ? req.allowed_statuses : [];
    if (!allowed.length) return null;
    const select = el('select', { id: 'status-select' },
      allowed.map((s) => el('option', { value: s, text: statusName(s) })));
    const note = el('textarea', { id: 'status-note', rows: '3', maxlength: '1000', 'aria-describedby': 'status-note-hint' });
    const hint = el('p', { id: 'status-note-hint', class: 'hint' });
    const button = el('button', { type: 'submit', id: 'status-apply', class: 'btn btn-primary', text: t('detail.apply') });
    const form = el('form', { id: 'status-form', class: 'card stack', novalidate: true }, [
      el('h2', { text: t('detail.changeStatus') }),
      el('label', { for: 'status-select', text: t('detail.newStatus') }), select,
      el('label', { for: 'status-note', text: t('detail.statusNote') }), note, hint, button]);
    // Say before sending whether the note is needed, as the API will refuse it otherwise.
    const updateHint = () => {
      const needed = NOTE_REQUIRED.includes(select.value);
      note.required = needed;
      hint.textContent = t(needed ? 'note.required' : 'note.optional');
      hint.classList.toggle('hint-required', needed);
    };
    select.addEventListener('change', updateHint);
    updateHint();
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      const text = note.value.trim();
      if (NOTE_REQUIRED.includes(select.value) && !text) {
        setMessage(message, 'error', [t('note.required')]);
        note.focus();
        return;
      }
      button.disabled = true;
      try {
        const answer = await api('POST', '/api/requests/' + encodeURIComponent(req.id) + '/status',
          { status: select.value, note: text });
        if (!stale(seq)) drawRequest(answer, seq, t('detail.changed', { s: statusName(answer.status) }));
      } catch (err) {
        button.disabled = false;
        showError(err, message);
      }
    });
    return form;
  }

  function buildFieldsTable(req, seq, message) {
    const fields = Array.isArray(req.fields) ? req.fields : [];
    if (!fields.length) return el('p', { id: 'detail-fields', class: 'muted', text: t('detail.noFields') });
    const editable = canEdit();
    return el('table', { id: 'detail-fields', class: 'data-table fields-table' }, [
      el('thead', {}, el('tr', {}, [el('th', { scope: 'col', text: t('detail.field') }),
        el('th', { scope: 'col', text: t('detail.value') }),
        editable ? el('th', { scope: 'col', class: 'col-actions' }, el('span', { class: 'sr-only', text: t('detail.actions') })) : null])),
      el('tbody', {}, fields.map((f) => fieldRow(req, f, editable, seq, message)))
    ]);
  }

  function fieldRow(req, f, editable, seq, message) {
    const label = f.label || f.name;
    const valueCell = el('td', { class: 'field-value' });
    fillFieldValue(valueCell, f);
    const row = el('tr', { 'data-field': String(f.name) }, [el('th', { scope: 'row', text: txt(label) }), valueCell]);
    if (!editable) return row;
    const edit = el('button', { type: 'button', class: 'btn btn-small edit-field', text: t('field.edit'),
      'aria-label': t('field.editLabel', { f: label }) });
    row.append(el('td', { class: 'col-actions' }, edit));
    edit.addEventListener('click', () => {
      edit.hidden = true;
      const input = el('input', { type: 'text', class: 'field-input', value: f.value == null ? '' : String(f.value),
        'aria-label': t('field.newValue', { f: label }) });
      const save = el('button', { type: 'submit', class: 'btn btn-primary btn-small save-field', text: t('field.save') });
      const cancel = el('button', { type: 'button', class: 'btn btn-small cancel-field', text: t('field.cancel') });
      const form = el('form', { class: 'field-edit' }, [input, save, cancel]);
      valueCell.textContent = '';
      valueCell.append(form);
      input.focus();
      const close = () => { fillFieldValue(valueCell, f); edit.hidden = false; edit.focus(); };
      cancel.addEventListener('click', close);
      input.addEventListener('keydown', (ev) => { if (ev.key === 'Escape') close(); });
      form.addEventListener('submit', async (ev) => {
        ev.preventDefault();
        save.disabled = true;
        try {
          const answer = await api('POST', '/api/requests/' + encodeURIComponent(req.id) + '/fields',
            { fields: { [f.name]: input.value } });
          if (!stale(seq)) drawRequest(answer, seq, t('field.saved', { f: label }));
        } catch (err) {
          save.disabled = false;
          showError(err, message);
        }
      });
    });
    return row;
  }

  // A field's value, and its readable name where the server gives one (a village code's
  // village and district): "61.12.05.2001 — Tanjung Beringin, Kec. Batu Ampar".
  function fillFieldValue(cell, f) {
    cell.textContent = txt(f.value);
    const display = typeof f.display === 'string' ? f.display.trim() : '';
    if (display && display !== String(f.value)) {
      cell.append(el('span', { class: 'field-display', text: ' — ' + display }));
    }
  }

  // Internal comments: the agency's staff only, never sent to the van. Officers and admins add.
  function buildComments(req, seq, message) {
    const list = Array.isArray(req.comments) ? req.comments : [];
    const box = el('section', { id: 'detail-comments-panel', class: 'card' }, el('h2', { text: t('detail.comments') }));
    box.append(list.length
      ? el('ol', { id: 'detail-comments', class: 'history comments' }, list.map((c) => el('li', {}, [
        el('span', { class: 'history-time' }, timeEl(c.at_ms)),
        el('span', { class: 'history-actor', text: txt(c.by) }),
        el('span', { class: 'history-text', text: txt(c.text) })])))
      : el('p', { id: 'detail-comments', class: 'muted', text: t('comment.none') }));
    if (!canEdit()) return box;
    const text = el('textarea', { id: 'comment-text', rows: '3', maxlength: '2000', 'aria-describedby': 'comment-hint' });
    const button = el('button', { type: 'submit', id: 'comment-add', class: 'btn btn-primary', text: t('comment.add') });
    const form = el('form', { id: 'comment-form', class: 'stack comment-form', novalidate: true }, [
      el('label', { for: 'comment-text', text: t('comment.label') }), text,
      el('p', { id: 'comment-hint', class: 'hint', text: t('comment.hint') }), button]);
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      const value = text.value.trim();
      if (!value) { setMessage(message, 'error', [t('comment.empty')]); text.focus(); return; }
      if (value.length > 2000) { setMessage(message, 'error', [t('comment.tooLong')]); text.focus(); return; }
      button.disabled = true;
      try {
        await api('POST', '/api/requests/' + encodeURIComponent(req.id) + '/comments', { text: value });
        const answer = await api('GET', '/api/requests/' + encodeURIComponent(req.id));
        if (!stale(seq)) drawRequest(answer, seq, t('comment.added'));
      } catch (err) {
        button.disabled = false;
        showError(err, message);
      }
    });
    box.append(form);
    return box;
  }

  // The merge writes history in fixed English words ("status a -> b: note", "changed x, y");
  // staff read them in the page's language, with the form's labels. Anything else as it is.
  function historyWords(text, labels) {
    const s = txt(text);
    let m = /^status ([a-z_]+) -> ([a-z_]+)(?:: ([\s\S]*))?$/.exec(s);
    if (m) {
      const words = t('history.status', { from: statusName(m[1]), to: statusName(m[2]) });
      return m[3] ? words + ': ' + m[3] : words;
    }
    m = /^status ([a-z_]+)$/.exec(s);
    if (m) return t('history.created', { status: statusName(m[1]) });
    m = /^changed ([a-z0-9_, ]+)$/.exec(s);
    if (m) {
      const names = m[1].split(/,\s*|\s+/).filter(Boolean).map((n) => labels[n] || n);
      return t('history.changed', { fields: names.join(', ') });
    }
    return s;
  }

  function buildHistory(history, fields) {
    const labels = {};
    for (const f of Array.isArray(fields) ? fields : []) labels[txt(f.name)] = txt(f.label);
    const list = Array.isArray(history) ? history.slice() : [];
    if (!list.length) return el('p', { id: 'detail-history', class: 'muted', text: t('detail.noHistory') });
    // Oldest first, newest last; entries of the same moment keep the server's order.
    list.sort((a, b) => (Number(a.at_ms) || 0) - (Number(b.at_ms) || 0));
    return el('ol', { id: 'detail-history', class: 'history' }, list.map((h) => el('li', {}, [
      el('span', { class: 'history-time' }, timeEl(h.at_ms)),
      el('span', { class: 'history-actor', text: txt(h.actor) }),
      el('span', { class: 'history-text', text: historyWords(h.text, labels) })])));
  }

  function buildDetailConflicts(req, seq, message) {
    const list = Array.isArray(req.conflicts) ? req.conflicts : [];
    const box = el('div', { id: 'detail-conflicts' });
    if (!list.length) { box.append(el('p', { class: 'muted', text: t('detail.noConflicts') })); return box; }
    const editable = canEdit();
    const reload = async (rev) => {
      const answer = await api('GET', '/api/requests/' + encodeURIComponent(req.id));
      if (!stale(seq)) drawRequest(answer, seq, t('conf.done', { r: rev }));
    };
    // A list rather than a table: the side column is too narrow for five columns and buttons.
    box.append(el('ul', { class: 'conflict-list' }, list.map((c) => {
      const item = el('li', { 'data-rev': String(c.rev) }, [
        el('div', { class: 'conflict-head' }, [el('strong', { text: txt(c.field) }), ' ', conflictState(c)]),
        el('dl', { class: 'summary' }, [
          el('dt', { text: t('conf.kept') }), el('dd', { class: 'value', text: txt(c.kept_value) }),
          el('dt', { text: t('conf.lost') }), el('dd', { class: 'value', text: txt(c.lost_value) }),
          el('dt', { text: t('conf.reason') }), el('dd', { text: txt(c.reason) })])]);
      if (c.open && editable) item.append(resolveControls(c, reload, (err) => showError(err, message)));
      return item;
    })));
    return box;
  }

  /* ---------- conflicts ---------- */

  function conflictState(c) {
    if (c.open) return el('span', { class: 'badge badge-open', text: t('conf.open') });
    // The request's own conflict list carries no resolved_by; say just "resolved" there.
    const parts = [c.resolved_by ? t('conf.resolvedBy', { u: c.resolved_by }) : t('conf.resolved')];
    if (c.resolution) {
      const key = 'conf.res.' + c.resolution;
      parts.push(' (' + (DICT.id[key] !== undefined ? t(key) : String(c.resolution)) + ')');
    }
    return el('span', { class: 'resolved' }, parts);
  }

  // The three ways to settle an open conflict. onDone(rev) redraws; onError shows the refusal.
  function resolveControls(c, onDone, onError) {
    const rev = String(c.rev);
    const keepVan = el('button', { type: 'button', class: 'btn btn-small keep-van', text: t('conf.keepVan') });
    const keepServer = el('button', { type: 'button', class: 'btn btn-small keep-server', text: t('conf.keepServer') });
    const value = el('input', { type: 'text', class: 'conflict-value', placeholder: t('conf.valuePh'),
      'aria-label': t('conf.valueLabel', { f: txt(c.field) }), autocomplete: 'off' });
    const keepValue = el('button', { type: 'button', class: 'btn btn-small keep-value', text: t('conf.keepValue') });
    const buttons = [keepVan, keepServer, keepValue];
    const send = async (body) => {
      buttons.forEach((b) => { b.disabled = true; });
      try {
        await api('POST', '/api/conflicts/' + encodeURIComponent(rev) + '/resolve', body);
        await onDone(rev);
      } catch (err) {
        buttons.forEach((b) => { b.disabled = false; });
        onError(err);
      }
    };
    keepVan.addEventListener('click', () => send({ keep: 'van' }));
    keepServer.addEventListener('click', () => send({ keep: 'server' }));
    keepValue.addEventListener('click', () => {
      // An empty value would wipe the field by a slip of the mouse; ask for one.
      if (!value.value.trim()) { onError(new ApiError(0, 'invalid', t('conf.valueMissing'))); value.focus(); return; }
      send({ keep: 'value', value: value.value });
    });
    value.addEventListener('keydown', (ev) => { if (ev.key === 'Enter') { ev.preventDefault(); keepValue.click(); } });
    return el('div', { class: 'resolve' }, [keepVan, keepServer, el('span', { class: 'resolve-value' }, [value, keepValue])]);
  }

  async function renderConflicts(r, seq) {
    const openOnly = r.query.get('open') !== '0';
    const view = showView('main');
    const check = el('input', { type: 'checkbox', id: 'conflicts-open-only', checked: openOnly });
    check.addEventListener('change', () => navigate(check.checked ? '#/conflicts' : '#/conflicts?open=0'));
    const editable = canEdit();
    const heads = ['conf.receipt', 'conf.van', 'conf.field', 'conf.kept', 'conf.lost', 'conf.reason',
      'conf.created', 'conf.state'].concat(editable ? ['conf.actions'] : []);
    const tbody = el('tbody', {}, placeholderRow(heads.length, 'common.loading'));
    view.append(el('h1', { text: t('conf.title') }), el('p', { class: 'muted intro', text: t('conf.intro') }),
      el('div', { class: 'toolbar' }, el('div', { class: 'field field-check' },
        [check, el('label', { for: 'conflicts-open-only', text: t('conf.openOnly') })])),
      el('div', { class: 'table-wrap' }, el('table', { id: 'conflicts-table', class: 'data-table' },
        [headRow(heads), tbody])));
    const data = await load('/api/conflicts' + (openOnly ? '?open=1' : ''), seq, tbody);
    if (!data) return;
    const items = Array.isArray(data.items) ? data.items : [];
    tbody.textContent = '';
    if (!items.length) tbody.append(placeholderRow(heads.length, 'conf.empty'));
    const reload = (rev) => { showMessage('ok', t('conf.done', { r: rev })); navigate(location.hash, true); };
    items.forEach((c) => {
      const row = el('tr', { 'data-rev': String(c.rev) }, [
        el('td', { class: 'col-receipt' }, el('a', { href: requestHref(c.request_id), text: txt(c.receipt) })),
        el('td', { text: txt(c.van_code) }),
        el('td', { text: txt(c.field) }),
        el('td', { class: 'value', text: txt(c.kept_value) }),
        el('td', { class: 'value', text: txt(c.lost_value) }),
        el('td', { text: txt(c.reason) }),
        el('td', {}, timeEl(c.created_ms)),
        el('td', {}, conflictState(c))]);
      if (editable) row.append(el('td', {}, c.open ? resolveControls(c, reload, (err) => showError(err)) : null));
      tbody.append(row);
    });
  }

  /* ---------- vans (admin) ---------- */

  async function renderVans(r, seq) {
    const view = showView('main');
    view.append(el('h1', { text: t('vans.title') }));
    if (state.me.role !== 'admin') { view.append(el('p', { class: 'muted', text: t('vans.adminOnly') })); return; }
    const heads = ['vans.code', 'vans.device', 'vans.enrolled', 'vans.lastSync', 'vans.revoked', 'vans.stale',
      'vans.actions'];
    const tbody = el('tbody', {}, placeholderRow(heads.length, 'common.loading'));
    view.append(el('div', { class: 'table-wrap' }, el('table', { id: 'vans-table', class: 'data-table' },
      [headRow(heads), tbody])));
    const data = await load('/api/vans', seq, tbody);
    if (!data) return;
    const items = Array.isArray(data.items) ? data.items : [];
    tbody.textContent = '';
    if (!items.length) tbody.append(placeholderRow(heads.length, 'vans.empty'));
    items.forEach((v) => {
      const revoked = !!v.revoked; // a flag, or perhaps a time; either way: truthy means revoked
      const staleVan = !revoked && !!v.stale;
      let revoke = null;
      if (!revoked && v.device_id) {
        revoke = el('button', { type: 'button', class: 'btn btn-small revoke-van', text: t('vans.revoke'),
          'aria-label': t('vans.revokeLabel', { c: txt(v.van_code) }) });
        revoke.addEventListener('click', () => revokeVan(v, revoke));
      }
      tbody.append(el('tr', { 'data-device': txt(v.device_id), class: revoked ? 'revoked' : null }, [
        el('td', { text: txt(v.van_code) }),
        el('td', {}, shortId(v.device_id)),
        el('td', {}, timeEl(v.enrolled_ms)),
        el('td', {}, timeEl(v.last_sync_ms, 'vans.never')),
        el('td', {}, el('span', { class: 'badge ' + (revoked ? 'badge-revoked' : 'badge-active'),
          text: t(revoked ? 'common.yes' : 'common.no') })),
        el('td', { class: 'col-stale' }, staleVan
          ? el('span', { class: 'badge badge-stale', title: t('vans.staleTitle'), text: t('vans.staleBadge') })
          : el('span', { class: 'muted', text: t('common.none') })),
        el('td', { class: 'col-actions' }, revoke)]));
    });
  }

  async function revokeVan(v, button) {
    const code = txt(v.van_code);
    if (!window.confirm(t('vans.revokeConfirm', { c: code, d: String(v.device_id) }))) return;
    button.disabled = true;
    try {
      await api('POST', '/api/vans/' + encodeURIComponent(String(v.device_id)) + '/revoke', {});
    } catch (err) {
      button.disabled = false;
      reportError(err);
      return;
    }
    showMessage('ok', t('vans.revokedDone', { c: code }));
    navigate(location.hash, true); // reload the list, keeping the report
  }

  /* ---------- shared by the admin pages ---------- */

  // A refusal in #page-message, brought into view (the page's forms may be scrolled down).
  function reportError(err) {
    showError(err);
    const node = $('#page-message');
    if (node && node.scrollIntoView) node.scrollIntoView({ block: 'nearest' });
  }

  function reportProblem(key, focusNode) {
    showMessage('error', t(key));
    const node = $('#page-message');
    if (node && node.scrollIntoView) node.scrollIntoView({ block: 'nearest' });
    if (focusNode) focusNode.focus();
  }

  // The page's heading, and false (with a line saying so) for anyone but an admin.
  function adminPage(view, titleKey) {
    view.append(el('h1', { text: t(titleKey) }));
    if (state.me.role === 'admin') return true;
    view.append(el('p', { class: 'muted', text: t('vans.adminOnly') }));
    return false;
  }

  // A label above its control, for the create forms.
  function formField(id, labelKey, control, hintText, extraClass) {
    control.id = id;
    const hint = hintText ? el('p', { id: id + '-hint', class: 'hint', text: hintText }) : null;
    if (hint) control.setAttribute('aria-describedby', id + '-hint');
    return el('div', { class: 'field' + (extraClass ? ' ' + extraClass : '') },
      [el('label', { for: id, text: t(labelKey) }), control, hint]);
  }

  function codeText(value, id) {
    return el('code', { id, class: 'secret-text', text: txt(value) });
  }

  /* ---------- summary ---------- */

  function agencyName(a) {
    const name = state.lang === 'en' ? (a.name_en || a.name) : (a.name || a.name_en);
    return name || a.agency || t('common.none');
  }

  function ageText(ms) {
    const days = Math.floor(Math.max(0, Date.now() - ms) / 86400000);
    if (days < 1) return t('summary.age0');
    if (days === 1) return t('summary.age1');
    return t('summary.ageN', { n: days });
  }

  // An inbox link for one agency's requests (the agency filter is for admins; others see their own).
  function summaryInboxHref(agency, extra) {
    const p = Object.assign({}, extra);
    if (state.me.role === 'admin' && agency) p.agency = agency;
    return inboxHash(p);
  }

  async function renderSummary(r, seq) {
    const view = showView('main');
    const box = el('div', { id: 'summary-cards', class: 'summary-cards' },
      el('p', { class: 'muted', text: t('common.loading') }));
    view.append(el('h1', { text: t('summary.title') }), el('p', { class: 'muted intro', text: t('summary.intro') }), box);
    const data = await load('/api/summary', seq);
    if (!data) { if (!stale(seq)) box.textContent = ''; return; }
    const agencies = Array.isArray(data.agencies) ? data.agencies : [];
    box.textContent = '';
    if (!agencies.length) box.append(el('p', { class: 'muted', text: t('summary.empty') }));
    agencies.forEach((a) => box.append(summaryCard(a)));
  }

  function summaryCard(a) {
    const counts = a.counts && typeof a.counts === 'object' ? a.counts : {};
    const num = (s) => Number(counts[s]) || 0;
    // The known statuses in their order, then any other the server counts.
    const statuses = STATUSES.concat(Object.keys(counts).filter((s) => !STATUSES.includes(s)));
    const total = statuses.reduce((sum, s) => sum + num(s), 0);
    const statusList = el('ul', { class: 'summary-status' }, statuses.map((s) => {
      const n = num(s);
      return el('li', { 'data-status': s, class: n ? null : 'zero' }, [
        el('a', { href: summaryInboxHref(a.agency, { status: s }), class: 'summary-status-link',
          title: t('summary.showInbox', { s: statusName(s) }) }, [statusBadge(s)]),
        el('span', { class: 'summary-num', text: String(n) })]);
    }));
    const services = (Array.isArray(a.services) ? a.services.slice() : [])
      .sort((x, y) => (Number(y.count) || 0) - (Number(x.count) || 0));
    const serviceBlock = services.length
      ? el('table', { class: 'data-table summary-services' }, [
        el('thead', {}, el('tr', {}, [el('th', { scope: 'col', text: t('summary.service') }),
          el('th', { scope: 'col', class: 'num', text: t('summary.count') })])),
        el('tbody', {}, services.map((sv) => el('tr', { 'data-service': txt(sv.service_id) }, [
          el('td', {}, el('a', { href: summaryInboxHref(a.agency, { service: sv.service_id }), text: serviceName(sv) })),
          el('td', { class: 'num', text: String(Number(sv.count) || 0) })])))])
      : el('p', { class: 'muted', text: t('summary.noServices') });
    const o = a.oldest_open;
    const oldest = o && o.id
      ? el('p', { class: 'summary-oldest' }, [
        el('a', { class: 'receipt-link', href: requestHref(o.id), text: txt(o.receipt || o.id) }), ' ',
        el('span', { class: 'badge badge-age', text: t('summary.openFor', { a: ageText(Number(o.created_ms) || 0) }) }), ' ',
        el('span', { class: 'muted' }, [t('summary.created') + ' ', timeEl(o.created_ms)])])
      : el('p', { class: 'muted summary-oldest', text: t('summary.noOpen') });
    return el('section', { class: 'card summary-card', 'data-agency': txt(a.agency) }, [
      el('div', { class: 'summary-card-head' }, [
        el('h2', {}, [agencyName(a), ' ', el('code', { class: 'muted', text: txt(a.agency) })]),
        el('a', { class: 'summary-total', href: summaryInboxHref(a.agency, {}), text: t('summary.total', { n: total }) })]),
      el('h3', { text: t('summary.statuses') }), statusList,
      el('h3', { text: t('summary.oldest') }), oldest,
      el('h3', { text: t('summary.services') }), serviceBlock]);
  }

  /* ---------- enrolment tokens (admin) ---------- */

  const MAX_TOKEN_HOURS = 720; // the server's bound: 30 days
  const TOKEN_HEADS = ['tokens.id', 'tokens.van', 'tokens.state', 'tokens.createdAt', 'tokens.expiresAt',
    'tokens.usedBy', 'tokens.actions'];

  async function renderTokens(r, seq) {
    const view = showView('main');
    if (!adminPage(view, 'tokens.title')) return;
    const result = el('section', { id: 'token-result', class: 'card token-result', 'aria-live': 'polite', hidden: true });
    const tbody = el('tbody', {}, placeholderRow(TOKEN_HEADS.length, 'common.loading'));
    view.append(el('p', { class: 'muted intro', text: t('tokens.intro') }),
      buildTokenForm(seq, result, tbody), result,
      el('div', { class: 'table-wrap' }, el('table', { id: 'tokens-table', class: 'data-table' },
        [headRow(TOKEN_HEADS), tbody])));
    if (state.tokenResult) showTokenResult(result, state.tokenResult);
    await loadTokens(seq, tbody);
  }

  // Fills the table in place, so that a token just shown stays on the page.
  async function loadTokens(seq, tbody) {
    const data = await load('/api/tokens', seq, tbody);
    if (!data) return;
    const items = Array.isArray(data.items) ? data.items : [];
    tbody.textContent = '';
    if (!items.length) tbody.append(placeholderRow(TOKEN_HEADS.length, 'tokens.empty'));
    items.forEach((k) => tbody.append(tokenRow(k, seq, tbody)));
  }

  function tokenState(stateName) {
    const key = 'tokens.state.' + stateName;
    const known = DICT.id[key] !== undefined;
    return el('span', { class: 'badge token-' + (known ? stateName : 'unknown'), 'data-state': txt(stateName),
      text: known ? t(key) : txt(stateName) });
  }

  function tokenRow(k, seq, tbody) {
    const id = String(k.id);
    let revoke = null;
    if (k.state === 'unused') {
      revoke = el('button', { type: 'button', class: 'btn btn-small revoke-token', text: t('tokens.revoke'),
        'aria-label': t('tokens.revokeLabel', { i: id, c: txt(k.van_code) }) });
      revoke.addEventListener('click', async () => {
        revoke.disabled = true;
        try {
          await api('POST', '/api/tokens/' + encodeURIComponent(id) + '/revoke', {});
        } catch (err) {
          revoke.disabled = false;
          reportError(err);
          return;
        }
        if (stale(seq)) return;
        showMessage('ok', t('tokens.revokedDone', { i: id }));
        await loadTokens(seq, tbody);
      });
    }
    const used = el('td', {}, k.used_by ? shortId(k.used_by) : txt(k.used_by));
    if (k.used_ms) used.append(' ', el('span', { class: 'muted' }, [t('tokens.usedAt', { t: fmtTime(k.used_ms) })]));
    return el('tr', { 'data-token-id': id, class: k.state === 'revoked' || k.state === 'expired' ? 'revoked' : null }, [
      el('td', { class: 'token-id' }, shortId(id)),
      el('td', { text: txt(k.van_code) }),
      el('td', {}, tokenState(k.state)),
      el('td', {}, timeEl(k.created_ms)),
      el('td', {}, timeEl(k.expires_ms)),
      used,
      el('td', { class: 'col-actions' }, revoke)]);
  }

  function buildTokenForm(seq, result, tbody) {
    const van = el('input', { type: 'text', autocomplete: 'off', autocapitalize: 'characters', spellcheck: 'false',
      maxlength: '16', placeholder: t('tokens.vanPh'), class: 'input-short' });
    const hours = el('input', { type: 'number', min: '1', max: String(MAX_TOKEN_HOURS), step: '1', value: '24', inputmode: 'numeric', class: 'input-short' });
    const url = el('input', { type: 'url', autocomplete: 'off', spellcheck: 'false', value: window.location.origin,
      class: 'input-url' });
    const button = el('button', { type: 'submit', id: 'token-create', class: 'btn btn-primary', text: t('tokens.submit') });
    const form = el('form', { id: 'token-form', class: 'card create-form', novalidate: true }, [
      el('h2', { text: t('tokens.create') }),
      el('div', { class: 'form-row' }, [
        formField('token-van', 'tokens.van', van),
        formField('token-hours', 'tokens.hours', hours),
        formField('token-server-url', 'tokens.serverUrl', url, t('tokens.serverHint'), 'field-grow'),
        el('div', { class: 'field field-submit' }, button)])]);
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      const vanCode = van.value.trim().toUpperCase();
      const h = hours.value.trim();
      const serverUrl = url.value.trim();
      if (!vanCode) { reportProblem('tokens.vanMissing', van); return; }
      if (!/^\d+$/.test(h) || Number(h) < 1 || Number(h) > MAX_TOKEN_HOURS) { reportProblem('tokens.hoursInvalid', hours); return; }
      if (!/^https?:\/\/\S+$/i.test(serverUrl)) { reportProblem('tokens.urlInvalid', url); return; }
      button.disabled = true;
      let answer;
      try {
        answer = await api('POST', '/api/tokens', { van_code: vanCode, hours: Number(h), server_url: serverUrl });
      } catch (err) {
        button.disabled = false;
        reportError(err);
        return;
      }
      button.disabled = false;
      if (stale(seq)) {
        // Redrawn meanwhile (the language switch): keep the token for the page as it is now.
        if (parseHash().name === 'tokens') { state.tokenResult = answer; navigate(location.hash, true); }
        return;
      }
      state.tokenResult = answer;
      van.value = '';
      showMessage('ok', t('tokens.createdDone', { c: txt(answer && answer.van_code || vanCode) }));
      showTokenResult(result, answer);
      if (result.scrollIntoView) result.scrollIntoView({ block: 'nearest' });
      await loadTokens(seq, tbody);
    });
    return form;
  }

  // The new token, its QR code and its payload: the only time they are shown.
  function showTokenResult(box, k) {
    box.textContent = '';
    const code = txt(k.van_code);
    const svg = typeof k.qr_svg === 'string' && /^data:image\/svg\+xml;base64,[A-Za-z0-9+/=]+$/.test(k.qr_svg)
      ? k.qr_svg : '';
    const hide = el('button', { type: 'button', id: 'token-hide', class: 'btn', text: t('tokens.hide') });
    hide.addEventListener('click', () => {
      state.tokenResult = null;
      box.textContent = '';
      box.hidden = true;
    });
    box.append(
      el('h2', { text: t('tokens.resultTitle', { c: code }) }),
      el('div', { id: 'token-warning', class: 'page-message msg-warn', role: 'alert' }, [
        el('strong', { text: t('tokens.onlyNow') }), ' ' + t('tokens.onlyNowMore')]),
      el('div', { class: 'token-body' }, [
        el('div', { class: 'token-qr-wrap' }, svg
          ? el('img', { id: 'token-qr', class: 'token-qr', src: svg, alt: t('tokens.qrAlt', { c: code }) })
          : el('p', { class: 'muted', text: t('tokens.noQr') })),
        el('dl', { class: 'summary token-facts' }, [
          el('dt', { text: t('tokens.van') }), el('dd', { id: 'token-van-code', text: code }),
          el('dt', { text: t('tokens.token') }), el('dd', {}, codeText(k.token, 'token-text')),
          el('dt', { text: t('tokens.payload') }), el('dd', {}, codeText(k.qr_payload, 'token-payload')),
          el('dt', { text: t('tokens.expires') }), el('dd', { id: 'token-expires' }, timeEl(k.expires_ms)),
          el('dt', { text: t('tokens.id') }), el('dd', {}, el('code', { text: txt(k.id) }))])]),
      hide);
    box.hidden = false;
  }

  /* ---------- staff accounts (admin) ---------- */

  const ROLES = ['viewer', 'officer', 'admin'];
  const STAFF_HEADS = ['staff.user', 'staff.role', 'staff.agency', 'staff.created', 'staff.state', 'staff.actions'];
  const MIN_PASSWORD = 10; // API.md: at least 10 characters

  function roleName(role) {
    const known = ROLES.includes(role);
    const text = known ? t('role.' + role) : txt(role);
    return known && text.toLowerCase() !== role ? text + ' (' + role + ')' : text;
  }

  async function renderStaff(r, seq) {
    const view = showView('main');
    if (!adminPage(view, 'staff.title')) return;
    const tbody = el('tbody', {}, placeholderRow(STAFF_HEADS.length, 'common.loading'));
    view.append(buildStaffForm(),
      el('div', { class: 'table-wrap' }, el('table', { id: 'staff-table', class: 'data-table' },
        [headRow(STAFF_HEADS), tbody])));
    const data = await load('/api/staff', seq, tbody);
    if (!data) return;
    const items = Array.isArray(data.items) ? data.items : [];
    tbody.textContent = '';
    if (!items.length) tbody.append(placeholderRow(STAFF_HEADS.length, 'staff.empty'));
    items.forEach((u) => tbody.append(staffRow(u)));
  }

  function staffRow(u) {
    const user = String(u.user);
    const disabled = !!u.disabled;
    const self = state.me && state.me.user === user;
    const actions = el('td', { class: 'col-actions staff-actions' });
    const passwd = el('button', { type: 'button', class: 'btn btn-small passwd-staff', text: t('staff.passwd'),
      'aria-label': t('staff.passwdLabel', { u: user }), 'aria-expanded': 'false' });
    actions.append(passwd);
    // No "disable" on one's own row: an admin who disabled themselves would be locked out at once.
    if (!disabled && !self) {
      const disable = el('button', { type: 'button', class: 'btn btn-small disable-staff', text: t('staff.disable'),
        'aria-label': t('staff.disableLabel', { u: user }) });
      disable.addEventListener('click', () => disableStaff(user, disable));
      actions.append(' ', disable);
    }
    const row = el('tr', { 'data-user': user, class: disabled ? 'revoked' : null }, [
      el('td', {}, [el('strong', { text: user }), self ? ' ' + t('staff.you') : '']),
      el('td', { 'data-role': txt(u.role), text: roleName(u.role) }),
      el('td', { text: u.agency === '*' ? t('agency.all') + ' (*)' : txt(u.agency) }),
      el('td', {}, timeEl(u.created_ms)),
      el('td', {}, el('span', { class: 'badge ' + (disabled ? 'badge-revoked' : 'badge-active'),
        text: t(disabled ? 'staff.disabled' : 'staff.active') })),
      actions]);
    passwd.addEventListener('click', () => togglePasswordForm(row, user, passwd));
    return row;
  }

  async function disableStaff(user, button) {
    if (!window.confirm(t('staff.disableConfirm', { u: user }))) return;
    button.disabled = true;
    try {
      await api('POST', '/api/staff/' + encodeURIComponent(user) + '/disable', {});
    } catch (err) {
      button.disabled = false;
      reportError(err);
      return;
    }
    showMessage('ok', t('staff.disabledDone', { u: user }));
    navigate(location.hash, true);
  }

  // A small form in a row under the account's own (a prompt() would show the password as typed).
  // One at a time: opening another closes this one.
  function togglePasswordForm(row, user, opener) {
    const open = $('#staff-pw-row');
    const wasThis = open && open.dataset.for === user;
    if (open) {
      open.remove();
      $$('button.passwd-staff[aria-expanded="true"]').forEach((b) => b.setAttribute('aria-expanded', 'false'));
    }
    if (wasThis) { opener.focus(); return; }
    const pw1 = el('input', { type: 'password', id: 'staff-pw-new', autocomplete: 'new-password', minlength: String(MIN_PASSWORD),
      'aria-describedby': 'staff-pw-hint' });
    const pw2 = el('input', { type: 'password', id: 'staff-pw-again', autocomplete: 'new-password', minlength: String(MIN_PASSWORD) });
    const save = el('button', { type: 'submit', id: 'staff-pw-save', class: 'btn btn-primary btn-small', text: t('staff.pwSave') });
    const cancel = el('button', { type: 'button', id: 'staff-pw-cancel', class: 'btn btn-small', text: t('staff.pwCancel') });
    const form = el('form', { id: 'staff-pw-form', class: 'inline-form', novalidate: true,
      'aria-label': t('staff.pwTitle', { u: user }) }, [
      el('strong', { class: 'inline-form-title', text: t('staff.pwTitle', { u: user }) }),
      el('div', { class: 'form-row' }, [
        el('div', { class: 'field' }, [el('label', { for: 'staff-pw-new', text: t('staff.pwNew') }), pw1]),
        el('div', { class: 'field' }, [el('label', { for: 'staff-pw-again', text: t('staff.pwAgain') }), pw2]),
        el('div', { class: 'field field-submit' }, el('span', { class: 'button-pair' }, [save, cancel]))]),
      el('p', { id: 'staff-pw-hint', class: 'hint', text: t('staff.pwHint') })]);
    const formRow = el('tr', { id: 'staff-pw-row', class: 'passwd-row', 'data-for': user },
      el('td', { colspan: String(STAFF_HEADS.length) }, form));
    row.after(formRow);
    opener.setAttribute('aria-expanded', 'true');
    pw1.focus();
    const close = () => { formRow.remove(); opener.setAttribute('aria-expanded', 'false'); opener.focus(); };
    cancel.addEventListener('click', close);
    form.addEventListener('keydown', (ev) => { if (ev.key === 'Escape') close(); });
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      if (pw1.value.length < MIN_PASSWORD) { reportProblem('staff.pwShort', pw1); return; }
      if (pw1.value !== pw2.value) { reportProblem('staff.pwMismatch', pw2); return; }
      save.disabled = true;
      try {
        await api('POST', '/api/staff/' + encodeURIComponent(user) + '/password', { password: pw1.value });
      } catch (err) {
        save.disabled = false;
        reportError(err);
        return;
      }
      pw1.value = '';
      pw2.value = '';
      if (state.me && state.me.user === user) {
        // One's own new password ends one's own session too: log in again with it.
        state.me = null;
        state.tokenResult = null;
        state.afterLogin = location.hash;
        state.loginNotice = 'staff.pwOwnDone';
        updateHeader();
        navigate('#/login');
        return;
      }
      showMessage('ok', t('staff.pwDone', { u: user }));
      navigate(location.hash, true);
    });
  }

  function buildStaffForm() {
    const user = el('input', { type: 'text', autocomplete: 'off', autocapitalize: 'none', spellcheck: 'false', maxlength: '64' });
    const role = el('select', {}, ROLES.map((x) => el('option', { value: x, text: roleName(x) })));
    const agency = el('input', { type: 'text', autocomplete: 'off', autocapitalize: 'none', spellcheck: 'false',
      placeholder: t('staff.agencyPh') });
    const agencyHint = el('p', { id: 'staff-agency-hint', class: 'hint', text: t('staff.agencyAdmin'), hidden: true });
    const password = el('input', { type: 'password', autocomplete: 'new-password', minlength: String(MIN_PASSWORD),
      'aria-describedby': 'staff-password-hint' });
    const button = el('button', { type: 'submit', id: 'staff-create', class: 'btn btn-primary', text: t('staff.submit') });
    let typedAgency = '';
    // An admin's agency is "*" (every agency): set it and lock the box; give the typed one back after.
    const syncAgency = () => {
      const admin = role.value === 'admin';
      if (admin && !agency.disabled) { typedAgency = agency.value; agency.value = '*'; }
      if (!admin && agency.disabled) agency.value = typedAgency;
      agency.disabled = admin;
      agencyHint.hidden = !admin;
    };
    role.addEventListener('change', syncAgency);
    const agencyField = formField('staff-agency', 'staff.agency', agency);
    agency.setAttribute('aria-describedby', 'staff-agency-hint');
    agencyField.append(agencyHint);
    const form = el('form', { id: 'staff-form', class: 'card create-form', novalidate: true }, [
      el('h2', { text: t('staff.create') }),
      el('div', { class: 'form-row' }, [
        formField('staff-user', 'staff.user', user),
        formField('staff-role', 'staff.role', role),
        agencyField,
        formField('staff-password', 'staff.password', password, t('staff.pwShort')),
        el('div', { class: 'field field-submit' }, button)])]);
    password.setAttribute('aria-describedby', 'staff-password-hint');
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      const body = { user: user.value.trim(), agency: role.value === 'admin' ? '*' : agency.value.trim(),
        role: role.value, password: password.value };
      if (!body.user) { reportProblem('staff.userMissing', user); return; }
      if (!body.agency) { reportProblem('staff.agencyMissing', agency); return; }
      if (body.password.length < MIN_PASSWORD) { reportProblem('staff.pwShort', password); return; }
      button.disabled = true;
      try {
        await api('POST', '/api/staff', body);
      } catch (err) {
        button.disabled = false;
        reportError(err);
        return;
      }
      password.value = '';
      showMessage('ok', t('staff.createdDone', { u: body.user }));
      navigate(location.hash, true);
    });
    return form;
  }

  /* ---------- start ---------- */

  async function start() {
    state.lang = loadLang();
    applyStaticText();
    $('#login-form').addEventListener('submit', onLoginSubmit);
    $('#lang-toggle').addEventListener('click', toggleLang);
    $('#logout').addEventListener('click', onLogout);
    let startError = null;
    try {
      state.me = await api('GET', '/api/me');
    } catch (err) {
      state.me = null;
      if (err.status !== 401) startError = err; // 401 is simply "not logged in"
    }
    updateHeader();
    window.addEventListener('hashchange', () => route());
    route();
    if (startError) showError(startError);
  }

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', start);
  else start();
}());
