// Phase 2 of the dashboard test (after the van made a conflict): the Dukcapil officer settles the
// conflict with a value of their own (input.conflict-value, button.keep-value) and logs out; an
// officer of another agency then sees none of Dukcapil's requests, not even by id (not found);
// #lang-toggle switches the page to English and back.
//
// Environment: BASE_URL, CAPIL_USER, CAPIL_PASSWORD, OTHER_USER, OTHER_PASSWORD, CONFLICT_REV,
// CONFLICT_REQUEST_ID, CONFLICT_RECEIPT, CONFLICT_FIELD, RESOLVED_VALUE, REQ_XSS_ID,
// REQ_XSS_RECEIPT, REQ_XSS_NAME, REQ_OTHER_ID, REQ_OTHER_RECEIPT, SCREENSHOT_DIR.
import {
  check, describeInbox, env, inboxIds, login, logout, pollUntil, route, runPhase, step, waitUntil,
} from './lib.mjs';

const P = 'phase2';

// The words of the login page and of the inbox that a language switch must change.
function loginLabels() {
  const form = document.querySelector('#login-form');
  const labels = form ? [...form.querySelectorAll('label, legend, h1, h2, button')].map((e) => e.textContent.trim()) : [];
  return JSON.stringify({ labels, submit: document.querySelector('#login-submit')?.textContent.trim() ?? '',
                          user: document.querySelector('#login-user')?.getAttribute('placeholder') ?? '' });
}
function inboxLabels() {
  const t = (sel) => document.querySelector(sel)?.textContent.replace(/\s+/g, ' ').trim() ?? '';
  return JSON.stringify({ nav: t('#nav-inbox'), conflicts: t('#nav-conflicts'), head: t('#inbox-table thead'),
                          apply: t('#filter-apply'), logout: t('#logout') });
}

// An expression for waitForFunction: the labels `fn` reads differ from / equal `before`.
const differ = (fn, before) => `(${fn})() !== ${JSON.stringify(before)}`;
const same = (fn, before) => `(${fn})() === ${JSON.stringify(before)}`;

await runPhase(P, async (page, watch) => {
  const base = env('BASE_URL');
  const capil = { user: env('CAPIL_USER'), password: env('CAPIL_PASSWORD') };
  const other = { user: env('OTHER_USER'), password: env('OTHER_PASSWORD') };
  const rev = env('CONFLICT_REV');
  const conflict = { id: env('CONFLICT_REQUEST_ID'), receipt: env('CONFLICT_RECEIPT'), field: env('CONFLICT_FIELD') };
  const value = env('RESOLVED_VALUE');
  const xss = { id: env('REQ_XSS_ID'), receipt: env('REQ_XSS_RECEIPT'), name: env('REQ_XSS_NAME') };
  const theirs = { id: env('REQ_OTHER_ID'), receipt: env('REQ_OTHER_RECEIPT') };

  step(P, `open ${base}/ and log in as ${capil.user}`);
  await page.goto(`${base}/`, { waitUntil: 'load' });
  await page.waitForSelector('#login-form', { state: 'visible' });
  const lang0 = await page.evaluate(() => document.documentElement.lang);
  const login0 = await page.evaluate(loginLabels);
  await login(page, watch, capil.user, capil.password);
  await watch.shot('inbox');

  step(P, `#nav-conflicts: conflict #${rev} (${conflict.receipt}, field ${conflict.field}) is listed`);
  await page.click('#nav-conflicts');
  const row = `#conflicts-table tr[data-rev="${rev}"]`;
  await waitUntil(page, `the row ${row}`, (sel) => document.querySelector(sel) !== null, row,
    { describe: () => JSON.stringify([...document.querySelectorAll('#conflicts-table tr')]
        .map((r) => `${r.dataset.rev ?? '-'}: ${r.innerText.replace(/\s+/g, ' ').trim()}`)) });
  const rowText = await page.textContent(row);
  check(rowText.includes(conflict.receipt), `the conflict row does not name ${conflict.receipt}: ${rowText}`);
  await watch.shot('conflicts');

  step(P, `settle it with a value of the officer's own: ${JSON.stringify(value)}`);
  await page.fill(`${row} input.conflict-value`, value);
  await page.click(`${row} button.keep-value`);
  // Settled: the server says so. The row then leaves the open-only list or shows it settled.
  const settled = await pollUntil(`conflict #${rev} settled at the server (GET /api/conflicts)`,
    () => page.evaluate(async (r) => {
      const answer = await fetch('/api/conflicts', { credentials: 'same-origin' });
      if (!answer.ok) return `GET /api/conflicts answered ${answer.status}`;
      const item = (await answer.json()).items.find((c) => String(c.rev) === r);
      return item && item.open === false ? item : false;
    }, rev).then((x) => (typeof x === 'string' ? Promise.reject(new Error(x)) : x)));
  step(P, `  settled: ${JSON.stringify(settled)}`);
  await waitUntil(page, `the row of #${rev} to leave the open list or offer no keep-value any more`,
    (sel) => { const r = document.querySelector(sel);
               return r === null || r.querySelector('button.keep-value') === null ||
                      r.querySelector('button.keep-value').disabled; }, row,
    { describe: (sel) => document.querySelector(sel)?.innerText ?? '(gone)' });
  await watch.shot('conflict-settled');

  step(P, `the request ${conflict.receipt} shows ${conflict.field} = the settled value`);
  await route(page, `#/request/${conflict.id}`);
  await waitUntil(page, `#detail-fields to show ${JSON.stringify(value)}`,
    ([r, v]) => (document.querySelector('#detail-receipt')?.textContent ?? '').includes(r) &&
                (document.querySelector('#detail-fields')?.textContent ?? '').includes(v),
    [conflict.receipt, value], { describe: () => document.querySelector('#detail-fields')?.innerText ?? '(no #detail-fields)' });
  await watch.shot('detail-settled');

  step(P, `${capil.user} logs out (#logout)`);
  await logout(page);
  await watch.shot('logged-out');

  step(P, `${other.user} (another agency) logs in: no Dukcapil request in the inbox`);
  await login(page, watch, other.user, other.password);
  await waitUntil(page, `the other agency's request ${theirs.receipt} in the inbox`,
    (id) => document.querySelector(`#inbox-table tbody tr[data-id="${id}"]`) !== null, theirs.id,
    { describe: describeInbox });
  const ids = await inboxIds(page);
  check(!ids.includes(xss.id) && !ids.includes(conflict.id),
        `the inbox of ${other.user} lists a Dukcapil request: ${JSON.stringify(ids)}`);
  const inboxText = await page.textContent('#inbox-table');
  check(!inboxText.includes(xss.receipt) && !inboxText.includes(conflict.receipt),
        `the inbox of ${other.user} shows a Dukcapil receipt: ${inboxText}`);
  await watch.shot('other-inbox');

  step(P, `${other.user} goes to #/request/${xss.id}: not found`);
  await watch.expecting(404, /^\/api\/requests\/[^/]+$/, async () => {
    const answered = page.waitForResponse((r) => new URL(r.url()).pathname.startsWith('/api/requests/') &&
                                                 r.request().method() === 'GET', { timeout: 15000 });
    await route(page, `#/request/${xss.id}`);
    const answer = await answered;
    check(answer.status() === 404,
          `GET ${new URL(answer.url()).pathname} answered ${answer.status()} to ${other.user}, not 404`);
    // "Not found" in the page's words (i18n.js: err.not_found), as for a request that does not exist.
    await waitUntil(page, 'a not-found message (#detail-message or #page-message)',
      () => ['#detail-message', '#page-message'].some((s) => {
        const e = document.querySelector(s);
        const dict = window.MPP_I18N?.[document.documentElement.lang] ?? {};
        const words = dict['err.not_found'] || 'Tidak ditemukan';
        return e && e.offsetParent !== null && e.textContent.includes(words);
      }), null, { describe: () => ['#detail-message', '#page-message'].map((s) =>
        `${s}: "${document.querySelector(s)?.textContent ?? '(none)'}"`).join('; ') });
  });
  // The API's answer for another agency's request, by id and by receipt, is the answer for one
  // that does not exist (API.md): the same status and code, the same words but for what was asked.
  const answers = await watch.expecting(404, /^\/api\/requests\/[^/]+$/, () => page.evaluate(async (keys) => {
    const out = [];
    for (const key of keys) {
      const r = await fetch(`/api/requests/${encodeURIComponent(key)}`, { credentials: 'same-origin' });
      out.push({ key, status: r.status, body: await r.text() });
    }
    return out;
  }, [xss.id, xss.receipt, '01a00000-0000-7000-8000-000000000000', 'KR99-20000101-0001']));
  const shapes = answers.map((a) => `${a.status} ${a.body.split(a.key).join('<KEY>')}`);
  step(P, `  GET /api/requests/<key> for ${other.user}: ${shapes[0]}`);
  check(answers.every((a) => a.status === 404),
        `another agency's request is not answered 404: ${JSON.stringify(answers)}`);
  check(shapes.every((x) => x === shapes[0]),
        `another agency's request is answered unlike a missing one: ${JSON.stringify(answers)}`);
  const shown = await page.evaluate(() => document.body.innerText);
  check(!shown.includes(xss.receipt) && !shown.includes(xss.name),
        `the not-found page shows the Dukcapil request's receipt or name: ${shown.slice(0, 500)}`);
  step(P, `  the page says: ${JSON.stringify(await page.evaluate(() =>
    ['#detail-message', '#page-message'].map((s) => document.querySelector(s)?.textContent.trim()).filter(Boolean).join(' | ')))}`);
  await watch.shot('other-not-found');

  step(P, `#lang-toggle: the page in English (it was lang="${lang0}"), then back`);
  await route(page, '#/inbox');
  await waitUntil(page, 'the inbox', (id) => location.hash.startsWith('#/inbox') &&
                  document.querySelector(`#inbox-table tbody tr[data-id="${id}"]`) !== null, theirs.id);
  const inbox0 = await page.evaluate(inboxLabels);
  await page.click('#lang-toggle');
  await waitUntil(page, 'html lang="en"', () => document.documentElement.lang === 'en', null,
    { describe: () => `lang="${document.documentElement.lang}"` });
  await waitUntil(page, 'the inbox labels in English', differ(inboxLabels, inbox0), null,
    { describe: inboxLabels });
  const inboxEn = await page.evaluate(inboxLabels);
  step(P, `  inbox labels: ${inbox0} -> ${inboxEn}`);
  await watch.shot('inbox-english');

  step(P, 'log out in English: the login page is in English too');
  await logout(page);
  check(await page.evaluate(() => document.documentElement.lang) === 'en',
        'the language went back to Indonesian at logout');
  const loginEn = await page.evaluate(loginLabels);
  check(loginEn !== login0, `the login labels did not change with the language: ${loginEn}`);
  step(P, `  login labels: ${login0} -> ${loginEn}`);
  await watch.shot('login-english');

  step(P, '#lang-toggle again: back to Indonesian');
  if (await page.locator('#lang-toggle').isVisible()) {
    await page.click('#lang-toggle');
  } else {
    // The switch is in the signed-in header only: sign in, switch, look at the inbox.
    await login(page, watch, other.user, other.password);
    await page.click('#lang-toggle');
    await waitUntil(page, `html lang="${lang0}"`, (l) => document.documentElement.lang === l, lang0);
    await waitUntil(page, 'the inbox labels as before', same(inboxLabels, inbox0), null,
      { describe: inboxLabels });
    await logout(page);
  }
  await waitUntil(page, `html lang="${lang0}"`, (l) => document.documentElement.lang === l, lang0,
    { describe: () => `lang="${document.documentElement.lang}"` });
  await waitUntil(page, 'the login labels as at first', same(loginLabels, login0), null,
    { describe: loginLabels });
  await watch.shot('login-indonesian');
});
