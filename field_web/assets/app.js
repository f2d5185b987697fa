/* The officer's app on the van (Layanan Keliling, MPP Kubu Raya).
 *
 * Plain JavaScript, no framework, no build step: it is shipped inside mpp-field and runs with
 * no network at all. The Content-Security-Policy forbids inline code, so all behaviour is
 * attached here with addEventListener.
 *
 * Everything the van's program sends was typed by people (names, notes, field values), so it is
 * written into the page only as text: el() builds elements with createElement and text nodes,
 * and nothing here assigns HTML.
 */
'use strict';

(function () {
  const DICT = window.MPP_VAN_I18N;
  const LANG_KEY = 'mpp.van.lang';
  const STATE_POLL_MS = 15000;
  const SYNC_POLL_MS = 400;
  const CHECK_DELAY_MS = 250;

  const app = {
    lang: 'id',
    s: null,          // GET /api/state: csrf, paired, unlocked, van_code, officer, last_sync_ms...
    catalog: null,    // GET /api/catalog, once unlocked
    seq: 0,           // bumped on each route, so a late answer cannot draw over a newer page
    keepMessage: false,
    lastRegistered: null,  // POST /api/requests' answer: the request and its QR code
    syncTimer: null
  };

  /* ---------- small helpers ---------- */

  const { $, el } = window.MPP_DOM;

  function t(key, params) {
    const table = DICT[app.lang] || DICT.id;
    let text = table[key] !== undefined ? table[key] : (DICT.id[key] !== undefined ? DICT.id[key] : key);
    for (const [name, value] of Object.entries(params || {})) {
      text = text.split('{' + name + '}').join(String(value));
    }
    return text;
  }

  function pad(n) { return String(n).padStart(2, '0'); }

  // DD-MM-YYYY HH:MM in the van's zone (WIB unless mpp-field was told otherwise).
  function fmtTime(ms) {
    if (!ms) return '-';
    const zone = (app.s && app.s.zone) || { name: 'WIB', offset_minutes: 420 };
    const d = new Date(ms + zone.offset_minutes * 60000);
    return `${pad(d.getUTCDate())}-${pad(d.getUTCMonth() + 1)}-${d.getUTCFullYear()} ` +
      `${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())} ${zone.name}`;
  }

  function message(text, kind) {
    const box = $('#page-message');
    box.textContent = text || '';
    box.className = 'page-message' + (text ? ' show ' + (kind || 'info') : '');
  }

  function applyStaticTexts() {
    document.documentElement.lang = app.lang;
    document.title = t('app.title');
    for (const node of document.querySelectorAll('[data-i18n]')) node.textContent = t(node.dataset.i18n);
    for (const node of document.querySelectorAll('[data-i18n-aria-label]')) {
      node.setAttribute('aria-label', t(node.dataset.i18nAriaLabel));
    }
    const toggle = $('#lang-toggle');
    toggle.textContent = t('lang.toggle');
    toggle.lang = t('lang.toggleLang');
  }

  /* ---------- the van's API ---------- */

  // Answers {status, body}; status 0 when the van's program did not answer.
  async function api(method, path, body) {
    const headers = {};
    if (method !== 'GET') {
      headers['Content-Type'] = 'application/json';
      if (app.s && app.s.csrf) headers['X-CSRF-Token'] = app.s.csrf;
    }
    let response;
    try {
      response = await fetch(path, {
        method, headers, credentials: 'same-origin', cache: 'no-store',
        body: body === undefined ? undefined : JSON.stringify(body)
      });
    } catch (e) {
      message(t('error.network'), 'error');
      return { status: 0, body: {} };
    }
    let data = {};
    try { data = await response.json(); } catch (e) { data = {}; }
    if (response.status === 401 && data.code === 'locked') {
      await refreshState();
      route();
    }
    return { status: response.status, body: data };
  }

  async function refreshState() {
    const r = await api('GET', '/api/state');
    if (r.status !== 200) return;
    const wasUnlocked = app.s && app.s.unlocked;
    app.s = r.body;
    if (!app.s.unlocked) app.catalog = null;
    drawChrome();
    if (wasUnlocked && !app.s.unlocked) {
      message(t('unlock.locked', { m: Math.round(app.s.idle_lock_ms / 60000) }), 'info');
      app.keepMessage = true;
      route();
    }
  }

  async function ensureCatalog() {
    if (app.catalog) return app.catalog;
    const r = await api('GET', '/api/catalog');
    if (r.status !== 200) throw new Error(r.body.error || 'catalog');
    app.catalog = r.body;
    return app.catalog;
  }

  /* ---------- header and status bar ---------- */

  function syncAgo(lastMs, nowMs) {
    if (!lastMs) return t('sync.never');
    const minutes = Math.max(0, Math.floor((nowMs - lastMs) / 60000));
    if (minutes < 60) return t('sync.ago.minutes', { n: minutes });
    const hours = Math.floor(minutes / 60);
    if (hours < 48) return t('sync.ago.hours', { n: hours });
    return t('sync.ago.days', { n: Math.floor(hours / 24) });
  }

  function drawChrome() {
    const s = app.s || {};
    const open = !!s.unlocked;
    $('#main-nav').hidden = !open;
    $('#lock').hidden = !open;
    $('#van-code').textContent = s.van_code ? '· ' + s.van_code : '';
    $('#officer-now').textContent = open && s.officer ? t('officer.current', { name: s.officer }) : '';
    const last = $('#last-sync');
    last.textContent = s.paired ? syncAgo(s.last_sync_ms, s.now_ms) : '';
    // More than a day without a verified sync: the officer should know the van's copy is old.
    last.classList.toggle('stale', !!s.paired && (!s.last_sync_ms || s.now_ms - s.last_sync_ms > 24 * 3600000));
    // "All changes sent" only once something was: a new van has nothing to claim.
    $('#pending-count').textContent = !open ? ''
      : s.pending > 0 ? t('sync.pending', { n: s.pending }) : (s.last_sync_ms ? t('sync.pending.none') : '');
    for (const a of document.querySelectorAll('#main-nav a')) {
      a.classList.toggle('active', location.hash.startsWith(a.getAttribute('href')));
    }
  }

  /* ---------- routing ---------- */

  function view() { return $('#view'); }

  function page(title, children) {
    const v = view();
    v.replaceChildren(el('h1', { text: title }), ...children);
  }

  async function route() {
    const seq = ++app.seq;
    if (!app.keepMessage) message('');
    app.keepMessage = false;
    if (!app.s) await refreshState();
    if (seq !== app.seq) return;
    if (!app.s) { message(t('error.network'), 'error'); return; }
    if (!app.s.unlocked) { drawUnlock(); drawChrome(); return; }
    const hash = location.hash || '#/services';
    const [path] = hash.slice(1).split('?');
    const parts = path.split('/').filter(Boolean).map(decodeURIComponent);
    drawChrome();
    try {
      if (parts[0] === 'services' || parts.length === 0) await drawServices(seq);
      else if (parts[0] === 'new' && parts[1]) await drawForm(seq, parts[1]);
      else if (parts[0] === 'receipt' && parts[1]) await drawReceipt(seq, parts[1]);
      else if (parts[0] === 'requests') await drawRequests(seq);
      else if (parts[0] === 'request' && parts[1]) await drawDetail(seq, parts[1]);
      else if (parts[0] === 'visits') await drawVisits(seq);
      else if (parts[0] === 'sync') await drawSync(seq);
      else if (parts[0] === 'officer') await drawOfficer(seq);
      else location.hash = '#/services';
    } catch (e) {
      message(t('error.generic', { error: e.message }), 'error');
    }
  }

  /* ---------- unlock and pairing ---------- */

  function drawUnlock() {
    const s = app.s;
    if (!s.paired) {
      const code = el('input', { id: 'pair-code', type: 'text', inputmode: 'numeric', autocomplete: 'off', maxlength: '6' });
      const error = el('p', { id: 'pair-error', class: 'form-message', role: 'alert' });
      const form = el('form', { id: 'pair-form', class: 'card narrow' }, [
        el('p', { class: 'muted', text: t('pair.intro') }),
        el('label', { for: 'pair-code', text: t('pair.code') }), code, error,
        el('button', { type: 'submit', class: 'btn btn-primary', text: t('pair.submit') })
      ]);
      form.addEventListener('submit', async (ev) => {
        ev.preventDefault();
        const r = await api('POST', '/api/pair', { code: code.value.trim() });
        if (r.status === 200) { app.s = r.body; route(); return; }
        error.textContent = r.body.error || t('error.generic', { error: r.status });
      });
      page(t('pair.title'), [form]);
      code.focus();
      return;
    }
    const input = el('input', { id: 'unlock-passphrase', type: 'password', autocomplete: 'current-password' });
    const error = el('p', { id: 'unlock-error', class: 'form-message', role: 'alert' });
    const button = el('button', { id: 'unlock-submit', type: 'submit', class: 'btn btn-primary', text: t('unlock.submit') });
    const form = el('form', { id: 'unlock-form', class: 'card narrow' }, [
      el('p', { class: 'muted', text: t('unlock.intro', { van: s.van_code || '' }) }),
      el('label', { for: 'unlock-passphrase', text: t('unlock.passphrase') }), input, error, button
    ]);
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      if (!input.value) { error.textContent = t('unlock.missing'); return; }
      button.disabled = true;
      button.textContent = t('unlock.busy');
      const r = await api('POST', '/api/unlock', { passphrase: input.value });
      input.value = '';
      button.disabled = false;
      button.textContent = t('unlock.submit');
      if (r.status === 200) {
        app.s = r.body;
        if (!location.hash || location.hash === '#/') location.hash = '#/services';
        route();
        return;
      }
      error.textContent = r.status === 401 ? t('unlock.wrong') : (r.body.error || t('error.generic', { error: r.status }));
      input.focus();
    });
    page(t('unlock.title'), [form]);
    input.focus();
  }

  /* ---------- the officer at work ---------- */

  async function drawOfficer(seq) {
    const r = await api('GET', '/api/officers');
    if (seq !== app.seq || r.status !== 200) return;
    const list = el('div', { class: 'officer-list' }, r.body.officers.map((name) => {
      const b = el('button', { type: 'button', class: 'btn' + (name === r.body.current ? ' btn-primary' : ''), 'data-officer': name, text: name });
      b.addEventListener('click', () => setOfficer(name));
      return b;
    }));
    const input = el('input', { id: 'officer-name', type: 'text', autocomplete: 'off', maxlength: '100' });
    const form = el('form', { id: 'officer-form', class: 'card narrow' }, [
      el('label', { for: 'officer-name', text: t('officer.new') }), input,
      el('button', { type: 'submit', class: 'btn btn-primary', text: t('officer.set') })
    ]);
    form.addEventListener('submit', (ev) => { ev.preventDefault(); if (input.value.trim()) setOfficer(input.value.trim()); });
    page(t('officer.title'), [el('p', { class: 'muted', text: t('officer.intro') }), list, form]);
  }

  async function setOfficer(name) {
    const r = await api('POST', '/api/officer', { name });
    if (r.status !== 200) { message(r.body.error || t('error.generic', { error: r.status }), 'error'); return; }
    await refreshState();
    message(t('officer.done', { name: r.body.current }), 'ok');
    app.keepMessage = true;
    location.hash = '#/services';
  }

  /* ---------- services ---------- */

  function serviceName(service) {
    return app.lang === 'en' && service.name_en ? service.name_en : service.name;
  }
  function agencyName(agency) {
    return app.lang === 'en' && agency.name_en ? agency.name_en : agency.name;
  }

  async function drawServices(seq) {
    const catalog = await ensureCatalog();
    if (seq !== app.seq) return;
    const search = el('input', { id: 'service-search', type: 'search', placeholder: t('services.search'), 'aria-label': t('services.search') });
    const list = el('div', { id: 'service-list', class: 'service-list' });
    const draw = () => {
      const q = search.value.trim().toLowerCase();
      const groups = [];
      for (const agency of catalog.agencies) {
        const services = catalog.services.filter((s) => s.agency === agency.id && (!q ||
          [s.name, s.name_en, agency.name, agency.name_en, s.id].some((x) => (x || '').toLowerCase().includes(q))));
        if (services.length === 0) continue;
        groups.push(el('section', { class: 'agency card' }, [
          el('h2', { text: agencyName(agency) }),
          el('ul', {}, services.map((s) => el('li', {}, el('a', { href: '#/new/' + encodeURIComponent(s.id), 'data-service': s.id, text: serviceName(s) }))))
        ]));
      }
      list.replaceChildren(...(groups.length ? groups : [el('p', { class: 'muted', text: t('services.none') })]));
    };
    search.addEventListener('input', draw);
    draw();
    page(t('services.title'), [search, list]);
  }

  /* ---------- registration ---------- */

  function fieldInput(field, places) {
    const id = 'f-' + field.name;
    const common = { id, name: field.name, 'data-field': field.name, 'aria-describedby': id + '-problem' };
    if (field.type === 'enum') {
      return el('select', common, [el('option', { value: '', text: t('form.enum.choose') }),
        ...field.options.map((o) => el('option', { value: o, text: o }))]);
    }
    if (field.type === 'village_code' && places && field.name === 'village_code') {
      const groups = places.districts.map((d) => el('optgroup', { label: d.name },
        places.villages.filter((v) => v.district === d.code).map((v) => el('option', { value: v.code, text: `${v.name} (${v.code})` }))));
      return el('select', common, [el('option', { value: '', text: t('form.village.choose') }), ...groups]);
    }
    const props = Object.assign({ type: 'text', autocomplete: 'off', maxlength: String(field.max_length || 200) }, common);
    if (field.type === 'nik') Object.assign(props, { inputmode: 'numeric', maxlength: '16', placeholder: t('form.nik.hint') });
    if (field.type === 'date') Object.assign(props, { inputmode: 'numeric', maxlength: '10', placeholder: t('form.date.hint') });
    if (field.type === 'phone') Object.assign(props, { type: 'tel', placeholder: t('form.phone.hint') });
    if (field.type === 'number') props.inputmode = 'numeric';
    if (field.type === 'email') props.type = 'email';
    return el('input', props);
  }

  function formValues(form) {
    const values = {};
    for (const input of form.querySelectorAll('[data-field]')) {
      const v = input.value.trim();
      if (v) values[input.dataset.field] = v;
    }
    return values;
  }

  // One of a form's problems as the officer reads it: under its own field, without the
  // "field NAME: " the checks put first; dates as the officer types them (DD-MM-YYYY); in
  // Indonesian where DICT.problems knows the wording.
  function problemText(detail, underField) {
    let text = String(detail);
    if (underField) text = text.replace(/^field \w+: /, '');
    text = text.replace(/\b(\d{4})-(\d{2})-(\d{2})\b/g, '$3-$2-$1');
    if (app.lang === 'id') {
      for (const [pattern, wording] of DICT.problems) {
        const re = new RegExp(pattern);
        if (re.test(text)) return text.replace(re, wording);
      }
    } else if (/^field \w+ \(.*\) is required( for [a-z0-9_.-]+)?$/.test(text)) {
      return 'required';
    }
    return text;
  }

  // Shows the van's verdict on the form: a field's problems under it (only for the fields the
  // officer has touched, unless `all`), the problems that name no field above the button.
  function showProblems(form, problems, touched, all) {
    for (const box of form.querySelectorAll('.field-problem')) {
      const name = box.dataset.for;
      const list = (problems.fields && problems.fields[name]) || [];
      const show = all || touched.has(name);
      box.textContent = show ? list.map((p) => problemText(p, true)).join(' · ') : '';
      const input = form.querySelector(`[data-field="${CSS.escape(name)}"]`);
      if (input) input.setAttribute('aria-invalid', show && list.length ? 'true' : 'false');
    }
    const general = form.querySelector('#form-general');
    general.textContent = all && problems.general && problems.general.length
      ? problems.general.map((p) => problemText(p, false)).join(' · ') : '';
  }

  function showDuplicates(box, duplicates) {
    if (!duplicates || duplicates.length === 0) { box.hidden = true; box.replaceChildren(); return; }
    box.hidden = false;
    box.replaceChildren(
      el('p', { text: t('form.duplicate.title') }),
      el('ul', {}, duplicates.map((d) => el('li', {}, [
        el('a', { href: '#/request/' + encodeURIComponent(d.id), text: d.receipt }),
        ` — ${t('status.' + d.status)}, ${fmtTime(d.created_ms)}`]))),
      el('label', { class: 'check' }, [el('input', { id: 'force', type: 'checkbox' }), ' ' + t('form.duplicate.force')]));
  }

  async function drawForm(seq, serviceId) {
    const catalog = await ensureCatalog();
    if (seq !== app.seq) return;
    const service = catalog.services.find((s) => s.id === serviceId);
    if (!service) { location.hash = '#/services'; return; }
    const touched = new Set();
    const rows = service.fields.map((f) => el('div', { class: 'field' }, [
      el('label', { for: 'f-' + f.name }, [f.label, f.required ? el('span', { class: 'req', text: ' (' + t('form.required') + ')' }) : null]),
      fieldInput(f, catalog.places),
      el('p', { id: 'f-' + f.name + '-problem', class: 'field-problem', 'data-for': f.name, role: 'alert' })
    ]));
    const duplicates = el('div', { id: 'duplicates', class: 'warning', hidden: true });
    const general = el('p', { id: 'form-general', class: 'form-message', role: 'alert' });
    const submit = el('button', { id: 'form-submit', type: 'submit', class: 'btn btn-primary', text: t('form.submit') });
    const form = el('form', { id: 'request-form', class: 'card form-grid', novalidate: true }, [...rows, duplicates, general, submit]);
    let timer = null;
    let checkSeq = 0;
    const check = async (all) => {
      const mine = ++checkSeq;
      const r = await api('POST', '/api/check', { service: service.id, fields: formValues(form) });
      if (mine !== checkSeq || r.status !== 200) return r;
      showProblems(form, r.body.problems, touched, all);
      showDuplicates(duplicates, r.body.duplicates);
      return r;
    };
    form.addEventListener('input', (ev) => {
      if (ev.target.dataset && ev.target.dataset.field) touched.add(ev.target.dataset.field);
      clearTimeout(timer);
      timer = setTimeout(() => check(false), CHECK_DELAY_MS);
    });
    form.addEventListener('change', (ev) => {
      if (ev.target.dataset && ev.target.dataset.field) touched.add(ev.target.dataset.field);
    });
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      clearTimeout(timer);
      submit.disabled = true;
      submit.textContent = t('form.busy');
      const force = !!(form.querySelector('#force') && form.querySelector('#force').checked);
      const r = await api('POST', '/api/requests', { service: service.id, fields: formValues(form), force });
      submit.disabled = false;
      submit.textContent = t('form.submit');
      if (r.status === 201) {
        app.lastRegistered = r.body;  // the receipt page draws it without asking again
        refreshState();
        location.hash = '#/receipt/' + encodeURIComponent(r.body.request.id);
        return;
      }
      if (r.status === 409 && r.body.duplicates) {
        showDuplicates(duplicates, r.body.duplicates);
        general.textContent = t('form.duplicate.need');
        return;
      }
      if (r.body.problems) {
        showProblems(form, r.body.problems, touched, true);
        message(t('form.invalid'), 'error');
        const first = form.querySelector('[aria-invalid="true"]');
        if (first) first.focus();
        return;
      }
      general.textContent = r.body.error || t('error.generic', { error: r.status });
    });
    page(t('form.title') + ': ' + serviceName(service), [
      el('p', {}, el('a', { href: '#/services', text: '← ' + t('common.back') })), form]);
    const first = form.querySelector('[data-field]');
    if (first) first.focus();
  }

  /* ---------- the receipt slip ---------- */

  function citizenName(request) {
    const f = request.fields || {};
    return f.name || Object.entries(f).filter(([k]) => k.startsWith('nama')).map(([, v]) => v)[0] || '';
  }

  async function drawReceipt(seq, id) {
    const fresh = app.lastRegistered && app.lastRegistered.request.id === id ? app.lastRegistered : null;
    const r = fresh ? { status: 200, body: fresh } : await api('GET', '/api/requests/' + encodeURIComponent(id));
    const catalog = await ensureCatalog();
    if (seq !== app.seq) return;
    if (r.status !== 200) { message(r.body.error || t('error.generic', { error: r.status }), 'error'); return; }
    const q = r.body.request;
    const qrSrc = fresh ? 'data:image/svg+xml,' + encodeURIComponent(fresh.receipt_qr_svg)
      : '/api/requests/' + encodeURIComponent(q.id) + '/qr.svg';
    const agency = catalog.agencies.find((a) => a.id === q.agency);
    const line = (key, value, cls) => el('div', { class: 'slip-line' + (cls ? ' ' + cls : '') }, [
      el('span', { class: 'slip-key', text: t(key) }), el('span', { class: 'slip-value', text: value })]);
    const slip = el('article', { id: 'receipt-slip', class: 'slip' }, [
      el('header', { class: 'slip-head' }, [el('strong', { text: t('receipt.heading') }), el('div', { text: t('receipt.sub') })]),
      el('div', { class: 'slip-number-label', text: t('receipt.number') }),
      el('div', { id: 'receipt-number', class: 'slip-number', text: q.receipt }),
      el('img', { class: 'slip-qr', src: qrSrc, alt: q.receipt, width: '132', height: '132' }),
      line('receipt.service', app.lang === 'en' && q.service_name_en ? q.service_name_en : q.service_name),
      line('receipt.agency', agency ? agencyName(agency) : q.agency),
      line('receipt.citizen', citizenName(q)),
      line('receipt.date', fmtTime(q.created_ms)),
      line('receipt.officer', q.officer),
      line('receipt.van', app.s.van_code),
      el('div', { class: 'slip-next' }, [el('strong', { text: t('receipt.next') }), el('p', { text: t('receipt.next.text') })])
    ]);
    const print = (kind) => {
      document.body.dataset.print = kind;
      window.print();
    };
    const b80 = el('button', { id: 'print-80', type: 'button', class: 'btn btn-primary', text: t('receipt.print80') });
    const bA6 = el('button', { id: 'print-a6', type: 'button', class: 'btn', text: t('receipt.printA6') });
    b80.addEventListener('click', () => print('thermal'));
    bA6.addEventListener('click', () => print('a6'));
    page(t('receipt.title'), [slip, el('div', { class: 'actions no-print' }, [b80, bA6,
      el('a', { class: 'btn', href: '#/new/' + encodeURIComponent(q.service_id), text: t('receipt.new') }),
      el('a', { class: 'btn', href: '#/request/' + encodeURIComponent(q.id), text: t('receipt.open') })])]);
  }

  /* ---------- requests ---------- */

  function stateBadge(q) {
    const key = q.conflicts > 0 ? 'conflict' : q.state;
    return el('span', { class: 'badge state-' + key, 'data-state': q.state, text: t('state.' + key) });
  }

  function stateHelp(q) {
    if (q.state === 'saved') return t('state.saved.help');
    if (q.state === 'sent') return q.acked_ms ? t('state.sent.help', { when: fmtTime(q.acked_ms) }) : t('state.sent.help.unknown');
    return t('state.processing.help', { status: t('status.' + q.status) }) + (q.status_note ? ` "${q.status_note}"` : '');
  }

  async function drawRequests(seq) {
    const params = new URLSearchParams(location.hash.split('?')[1] || '');
    const search = el('input', { id: 'request-search', type: 'search', value: params.get('q') || '', placeholder: t('requests.search'), 'aria-label': t('requests.search') });
    const filter = el('select', { id: 'request-state', 'aria-label': t('col.state') }, ['', 'saved', 'sent', 'processing', 'conflict'].map((s) =>
      el('option', { value: s, selected: (params.get('state') || '') === s, text: s ? t('state.' + s) : t('requests.filter.all') })));
    const result = el('div', { id: 'request-result' });
    let mine = 0;
    const load = async () => {
      const my = ++mine;
      const query = new URLSearchParams();
      if (search.value.trim()) query.set('q', search.value.trim());
      if (filter.value) query.set('state', filter.value);
      const r = await api('GET', '/api/requests?' + query.toString());
      if (my !== mine || seq !== app.seq || r.status !== 200) return;
      const list = r.body.requests;
      if (list.length === 0) { result.replaceChildren(el('p', { class: 'muted', text: t('requests.none') })); return; }
      const table = el('table', { id: 'requests-table', class: 'table' }, [
        el('thead', {}, el('tr', {}, ['col.receipt', 'col.name', 'col.service', 'col.place', 'col.state', 'col.status', 'col.created'].map((k) => el('th', { text: t(k) })))),
        el('tbody', {}, list.map((q) => el('tr', { 'data-id': q.id, 'data-receipt': q.receipt }, [
          el('td', {}, el('a', { href: '#/request/' + encodeURIComponent(q.id), text: q.receipt })),
          el('td', { text: citizenName(q) }),
          el('td', { text: app.lang === 'en' && q.service_name_en ? q.service_name_en : (q.service_name || q.service_id) }),
          el('td', { text: q.village ? q.village.name : '' }),
          el('td', {}, stateBadge(q)),
          el('td', { text: t('status.' + q.status) }),
          el('td', { text: fmtTime(q.created_ms) })])))]);
      result.replaceChildren(el('p', { class: 'muted', text: t('requests.shown', { shown: list.length, matched: r.body.matched, total: r.body.total }) }), table);
    };
    let timer = null;
    search.addEventListener('input', () => { clearTimeout(timer); timer = setTimeout(load, CHECK_DELAY_MS); });
    filter.addEventListener('change', load);
    page(t('requests.title'), [el('div', { class: 'toolbar' }, [search, filter]), result]);
    await load();
  }

  function actionForm(id, title, label, inputId, submitKey, onSubmit) {
    const input = el('input', { id: inputId, type: 'text', autocomplete: 'off', maxlength: '200' });
    const error = el('p', { class: 'form-message', role: 'alert' });
    // Cancelling cannot be undone: its button is not the page's main one.
    const primary = inputId !== 'cancel-reason';
    const form = el('form', { id: inputId + '-form', class: 'card narrow' }, [el('h2', { text: title }),
      el('label', { for: inputId, text: label }), input, error,
      el('button', { type: 'submit', class: primary ? 'btn btn-primary' : 'btn btn-danger', text: t(submitKey) })]);
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      const text = await onSubmit(input.value.trim());
      if (text) error.textContent = text;
    });
    return form;
  }

  async function change(id, action, body, doneKey) {
    const r = await api('POST', `/api/requests/${encodeURIComponent(id)}/${action}`, body);
    if (r.status !== 200) {
      if (r.body.problems) {
        const all = [].concat(...Object.values(r.body.problems.fields), r.body.problems.general);
        return all.map((p) => problemText(p, false)).join(' · ');
      }
      return r.body.error || t('error.generic', { error: r.status });
    }
    message(t(doneKey), 'ok');
    app.keepMessage = true;
    refreshState();
    route();
    return '';
  }

  // A form's values in the form's order (then any the form no longer has), with their spec.
  function orderedFields(q, service) {
    const specs = service ? service.fields : [];
    const known = specs.filter((f) => f.name in q.fields).map((f) => [f.name, q.fields[f.name], f]);
    const rest = Object.entries(q.fields).filter(([k]) => !specs.some((f) => f.name === k)).map(([k, v]) => [k, v, null]);
    return known.concat(rest);
  }

  function isoToDmy(value) { return String(value).replace(/^(\d{4})-(\d{2})-(\d{2})$/, '$3-$2-$1'); }

  // A history line (sync/src/merge.cc words it for the record) in the officer's words.
  function historyText(text, labelOf) {
    let m = /^status (\w+) -> (\w+)(?:: ([\s\S]*))?$/.exec(text);
    if (m) return `${t('status.' + m[1])} → ${t('status.' + m[2])}` + (m[3] ? ` "${m[3]}"` : '');
    if (text === 'status submitted') return t('history.submitted');
    m = /^changed (.*)$/.exec(text);
    if (m) return t('history.changed', { fields: m[1].split(', ').map(labelOf).join(', ') });
    return text;
  }

  async function drawDetail(seq, id) {
    const [r, catalog] = [await api('GET', '/api/requests/' + encodeURIComponent(id)), await ensureCatalog()];
    if (seq !== app.seq) return;
    if (r.status !== 200) { message(r.body.error || t('error.generic', { error: r.status }), 'error'); return; }
    const q = r.body.request;
    const service = catalog.services.find((s) => s.id === q.service_id);
    const labelOf = (name) => { const f = service && service.fields.find((x) => x.name === name); return f ? f.label : name; };
    const parts = [
      el('p', { class: 'state-line' }, [stateBadge(q), ' ', el('span', { id: 'state-help', text: stateHelp(q) })]),
      el('p', { text: (app.lang === 'en' && q.service_name_en ? q.service_name_en : q.service_name) + ' · ' + fmtTime(q.created_ms) + ' · ' + q.officer })
    ];
    if (q.status_note) parts.push(el('p', { class: 'note' }, [el('strong', { text: t('detail.note') + ': ' }), q.status_note]));
    if (q.conflict_records.length) {
      parts.push(el('section', { id: 'conflicts', class: 'card warning' }, [el('h2', { text: t('detail.conflicts') }),
        el('p', { class: 'muted', text: t('state.conflict.help') }),
        el('ul', {}, q.conflict_records.map((c) => el('li', { text: t('detail.conflict.line', { field: labelOf(c.field), kept: c.kept_value, lost: c.lost_value, reason: c.reason }) })))]));
    }
    parts.push(el('section', { class: 'card' }, [el('h2', { text: t('detail.fields') }),
      el('dl', { class: 'fields' }, orderedFields(q, service).flatMap(([k, v, f]) => [
        el('dt', { text: labelOf(k) }), el('dd', { text: f && f.type === 'date' ? isoToDmy(v) : v })]))]));
    if (q.status === 'needs_info' && service) {
      const inputs = service.fields.map((f) => {
        const input = fieldInput(f, catalog.places);
        input.id = 'answer-' + f.name;
        input.value = q.fields[f.name] || '';
        return el('div', { class: 'field' }, [el('label', { for: input.id, text: f.label }), input]);
      });
      const error = el('p', { id: 'answer-error', class: 'form-message', role: 'alert' });
      const form = el('form', { id: 'answer-form', class: 'card form-grid' }, [el('h2', { text: t('answer.title') }),
        el('p', { class: 'muted', text: t('answer.intro') }), ...inputs, error,
        el('button', { type: 'submit', class: 'btn btn-primary', text: t('answer.submit') })]);
      form.addEventListener('submit', async (ev) => {
        ev.preventDefault();
        const values = {};
        for (const input of form.querySelectorAll('[data-field]')) {
          if (input.value.trim() !== (q.fields[input.dataset.field] || '')) values[input.dataset.field] = input.value.trim();
        }
        error.textContent = await change(q.id, 'answer', { fields: values }, 'answer.done');
      });
      parts.push(form);
    }
    if (q.status === 'completed') {
      parts.push(actionForm(q.id, t('deliver.title'), t('deliver.to'), 'deliver-to', 'deliver.submit', async (name) =>
        name ? change(q.id, 'deliver', { received_by: name }, 'deliver.done') : t('deliver.missing')));
    }
    if (!['completed', 'delivered', 'rejected', 'cancelled'].includes(q.status)) {
      parts.push(actionForm(q.id, t('cancel.title'), t('cancel.reason'), 'cancel-reason', 'cancel.submit', async (reason) =>
        reason ? change(q.id, 'cancel', { reason }, 'cancel.done') : t('cancel.missing')));
    }
    parts.push(el('section', { class: 'card' }, [el('h2', { text: t('detail.history') }),
      el('ul', { id: 'history' }, q.history.map((h) => el('li', { text: `${fmtTime(h.at_ms)} · ${h.actor} · ${historyText(h.text, labelOf)}` })))]));
    parts.push(el('p', {}, el('a', { class: 'btn', href: '#/receipt/' + encodeURIComponent(q.id), text: t('detail.receipt') })));
    page(t('detail.title', { receipt: q.receipt }), parts);
  }

  /* ---------- the next visit ---------- */

  async function drawVisits(seq) {
    const r = await api('GET', '/api/visits');
    if (seq !== app.seq || r.status !== 200) return;
    const item = (q) => el('li', { 'data-id': q.id }, [
      el('span', { class: 'badge status-' + q.status, text: q.status === 'needs_info' ? t('visits.needs_info') : t('visits.ready') }), ' ',
      el('a', { href: '#/request/' + encodeURIComponent(q.id), text: q.receipt }), ' ' + citizenName(q),
      q.status_note ? el('span', { class: 'muted', text: ` — "${q.status_note}"` }) : null]);
    const blocks = r.body.districts.map((d) => el('section', { class: 'card district', 'data-district': d.code }, [
      el('h2', { text: d.name }),
      ...d.villages.map((v) => el('div', { class: 'village', 'data-village': v.code }, [
        el('h3', { text: `${v.name} · ${t('visits.count', { n: v.requests.length })}` }),
        el('ul', {}, v.requests.map(item))]))]));
    if (r.body.unplaced.length) {
      blocks.push(el('section', { class: 'card district' }, [el('h2', { text: t('visits.unplaced') }), el('ul', {}, r.body.unplaced.map(item))]));
    }
    page(t('visits.title'), [el('p', { class: 'muted', text: t('visits.intro') }),
      ...(blocks.length ? blocks : [el('p', { id: 'visits-none', class: 'muted', text: t('visits.none') })])]);
  }

  /* ---------- sync and enrolment ---------- */

  function describeSync(state) {
    if (state.running) {
      return t('syncpage.running', { phase: t('syncpage.phase.' + state.phase), done: state.done, total: state.total || '?' });
    }
    if (!('ok' in state)) return '';
    if (state.ok) return t('syncpage.done', { pushed: state.report.pushed, pulled: state.report.pulled, conflicts: state.report.conflicts });
    if (state.cancelled) return t('syncpage.cancelled');
    if (state.unreachable) return t('syncpage.unreachable');
    return t('syncpage.failed', { error: state.error });
  }

  // One change a pull brought (field/json_format.h RequestChangeToJson), in the officer's words.
  function describeChange(c) {
    if (c.kind === 'status') {
      return t('change.status', { status: t('status.' + c.new_value) }) + (c.note ? ` "${c.note}"` : '');
    }
    // The form's label of a field name (the catalog's forms use one label per name).
    const spec = app.catalog && app.catalog.services.flatMap((sv) => sv.fields).find((f) => f.name === c.field);
    const field = spec ? spec.label : c.field;
    if (c.kind === 'field') return t('change.field', { field, old: c.old_value, new: c.new_value });
    return t('change.conflict', { field, lost: c.old_value, kept: c.new_value });
  }

  function drawSyncState(box, state) {
    const parts = [el('p', { id: 'sync-status', class: state.running ? 'running' : (state.ok === false ? 'form-message' : ''),
      'data-started': String(state.started_ms || 0), text: describeSync(state) })];
    if (state.running) {
      parts.push(el('progress', { id: 'sync-progress', max: String(Math.max(1, state.total)), value: String(state.done) }));
    }
    if (state.ok && state.report) {
      const rep = state.report;
      const lines = [];
      for (const r of rep.reissued_receipts) lines.push(el('li', { class: 'warning', text: t('syncpage.reissued', { old: r.old, new: r.new }) }));
      for (const c of rep.changes) {
        lines.push(el('li', { 'data-request': c.request_id }, [
          el('a', { href: '#/request/' + encodeURIComponent(c.request_id), text: c.receipt }), ': ', describeChange(c)]));
      }
      if (rep.new_requests) lines.push(el('li', { text: t('syncpage.new', { n: rep.new_requests }) }));
      parts.push(el('h2', { text: t('syncpage.changes') }),
        lines.length ? el('ul', { id: 'sync-changes' }, lines) : el('p', { id: 'sync-changes', class: 'muted', text: t('syncpage.nochanges') }));
    }
    box.replaceChildren(...parts);
  }

  async function drawSync(seq) {
    await ensureCatalog();  // the labels of the fields a sync's changes name
    if (seq !== app.seq) return;
    const s = app.s;
    const box = el('div', { id: 'sync-box' });
    const start = el('button', { id: 'sync-start', type: 'button', class: 'btn btn-primary', text: t('syncpage.start') });
    const stop = el('button', { id: 'sync-cancel', type: 'button', class: 'btn', text: t('syncpage.cancel'), hidden: true });
    const poll = async () => {
      const r = await api('GET', '/api/sync');
      if (seq !== app.seq || r.status !== 200) return;
      drawSyncState(box, r.body);
      start.disabled = r.body.running;
      stop.hidden = !r.body.running;
      clearTimeout(app.syncTimer);
      if (r.body.running) app.syncTimer = setTimeout(poll, SYNC_POLL_MS);
      else refreshState();
    };
    start.addEventListener('click', async () => {
      const r = await api('POST', '/api/sync');
      if (r.status !== 202) { message(r.body.error || t('error.generic', { error: r.status }), 'error'); return; }
      drawSyncState(box, r.body);
      poll();
    });
    stop.addEventListener('click', async () => { await api('POST', '/api/sync/cancel'); poll(); });
    const parts = [el('p', { class: 'muted', text: t('syncpage.intro') })];
    if (s.enrolled) {
      parts.push(el('p', { id: 'sync-server', text: t('syncpage.server', { server: s.server }) }), el('div', { class: 'actions' }, [start, stop]), box);
    }
    if (s.pairing_code) {
      parts.push(el('section', { id: 'pairing', class: 'card' }, [el('h2', { id: 'pairing-code', text: t('pair.code.show', { code: s.pairing_code }) }),
        el('p', { class: 'muted', text: t('pair.code.help') })]));
    }
    const qr = el('textarea', { id: 'enroll-qr', rows: '3', autocomplete: 'off', spellcheck: 'false' });
    const error = el('p', { id: 'enroll-error', class: 'form-message', role: 'alert' });
    const form = el('form', { id: 'enroll-form', class: 'card' }, [el('h2', { text: t('enroll.title') }),
      s.enrolled ? el('p', { class: 'muted', text: t('enroll.already', { server: s.server }) }) : el('p', { class: 'muted', text: t('enroll.intro') }),
      el('label', { for: 'enroll-qr', text: t('enroll.qr') }), qr, error,
      el('button', { type: 'submit', class: 'btn' + (s.enrolled ? '' : ' btn-primary'), text: t('enroll.submit') })]);
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      if (!qr.value.trim()) { error.textContent = t('enroll.missing'); return; }
      const r = await api('POST', '/api/enroll', { qr: qr.value.trim() });
      if (r.status !== 200) { error.textContent = r.body.error || t('error.generic', { error: r.status }); return; }
      await refreshState();
      message(t('enroll.done', { server: r.body.server, fingerprint: r.body.server_fingerprint }), 'ok');
      app.keepMessage = true;
      route();
    });
    parts.push(form);
    page(t('syncpage.title'), parts);
    if (s.enrolled) await poll();
  }

  /* ---------- start ---------- */

  function start() {
    const saved = localStorage.getItem(LANG_KEY);
    app.lang = saved === 'en' ? 'en' : 'id';
    applyStaticTexts();
    $('#lang-toggle').addEventListener('click', () => {
      app.lang = app.lang === 'id' ? 'en' : 'id';
      localStorage.setItem(LANG_KEY, app.lang);
      applyStaticTexts();
      drawChrome();
      route();
    });
    $('#lock').addEventListener('click', async () => {
      const r = await api('POST', '/api/lock');
      if (r.status === 200) { app.s = r.body; app.catalog = null; route(); }
    });
    window.addEventListener('hashchange', route);
    window.addEventListener('afterprint', () => { delete document.body.dataset.print; });
    setInterval(refreshState, STATE_POLL_MS);
    route();
  }

  document.addEventListener('DOMContentLoaded', start);
})();
