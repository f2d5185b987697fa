// Phase 1 of the dashboard test (run by run_dashboard_test.py, which makes the server, the staff
// accounts and the van's requests): an officer of Dukcapil logs in (a wrong password first), sees
// only Dukcapil's requests, filters by receipt, sees a citizen's name that is an XSS payload as
// plain text, opens the request and asks the van for information (in_review, then needs_info
// with a note). Also: the page's Content-Security-Policy.
//
// Environment: BASE_URL, CAPIL_USER, CAPIL_PASSWORD, REQ_XSS_ID, REQ_XSS_RECEIPT, REQ_XSS_NAME,
// REQ_PLAIN_ID, REQ_PLAIN_RECEIPT, REQ_OTHER_ID, REQ_OTHER_RECEIPT, STATUS_NOTE, SCREENSHOT_DIR.
import {
  check, describeInbox, detailStatus, env, inboxIds, login, runPhase, step, waitInboxExactly,
  waitUntil,
} from './lib.mjs';
import { statusShown } from './status_words.mjs';

const P = 'phase1';

await runPhase(P, async (page, watch) => {
  const base = env('BASE_URL');
  const user = env('CAPIL_USER');
  const password = env('CAPIL_PASSWORD');
  const xss = { id: env('REQ_XSS_ID'), receipt: env('REQ_XSS_RECEIPT'), name: env('REQ_XSS_NAME') };
  const plain = { id: env('REQ_PLAIN_ID'), receipt: env('REQ_PLAIN_RECEIPT') };
  const other = { id: env('REQ_OTHER_ID'), receipt: env('REQ_OTHER_RECEIPT') };
  const note = env('STATUS_NOTE');

  step(P, `open ${base}/`);
  const response = await page.goto(`${base}/`, { waitUntil: 'load' });
  check(response && response.ok(), `GET / answered ${response?.status()}`);
  const csp = response.headers()['content-security-policy'];
  check(csp, 'GET / has no Content-Security-Policy header');
  step(P, `Content-Security-Policy: ${csp}`);
  // Where the scripts may come from: script-src, or default-src when that is absent. Neither
  // inline scripts nor eval may run: that is what makes an injected <img onerror> harmless.
  const directives = Object.fromEntries(csp.split(';').map((d) => d.trim()).filter(Boolean)
    .map((d) => { const [k, ...v] = d.split(/\s+/); return [k.toLowerCase(), v.join(' ')]; }));
  const scripts = directives['script-src'] ?? directives['default-src'];
  check(scripts !== undefined, `the CSP sets neither script-src nor default-src: ${csp}`);
  check(!/'unsafe-inline'|'unsafe-eval'/.test(scripts),
        `the CSP lets inline scripts or eval run (script source "${scripts}"): ${csp}`);
  await page.waitForSelector('#login-form', { state: 'visible' });
  await watch.shot('login');

  step(P, `${user} logs in with a wrong password: #login-error shows`);
  await watch.expecting(401, /^\/api\/login$/, async () => {
    await page.fill('#login-user', user);
    await page.fill('#login-password', `${password}-salah`);
    await page.click('#login-submit');
    await waitUntil(page, '#login-error to show a message',
      () => { const e = document.querySelector('#login-error');
              return e && e.offsetParent !== null && e.textContent.trim().length > 0; }, null,
      { describe: () => { const e = document.querySelector('#login-error');
                          return e ? `#login-error "${e.textContent}" visible=${e.offsetParent !== null}` : 'no #login-error'; } });
  });
  step(P, `  #login-error: ${(await page.textContent('#login-error')).trim()}`);
  check(!page.url().includes('#/inbox'), 'a wrong password opened the inbox');
  await watch.shot('login-wrong-password');

  step(P, `${user} logs in with the right password`);
  await login(page, watch, user, password);
  await waitUntil(page, 'both Dukcapil requests in the inbox',
    (ids) => ids.every((id) => document.querySelector(`#inbox-table tbody tr[data-id="${id}"]`)),
    [xss.id, plain.id], { describe: describeInbox });
  const ids = await inboxIds(page);
  check(!ids.includes(other.id), `the inbox of ${user} lists the other agency's request ${other.receipt}`);
  const tableText = await page.textContent('#inbox-table');
  check(!tableText.includes(other.receipt),
        `the inbox of ${user} shows the other agency's receipt ${other.receipt}`);
  check(tableText.includes(xss.receipt) && tableText.includes(plain.receipt),
        `the inbox does not show both receipts ${xss.receipt}, ${plain.receipt}: ${tableText}`);
  step(P, `  inbox rows: ${ids.length} (${other.receipt} of the other agency is not among them)`);
  await watch.shot('inbox');

  step(P, `the citizen name ${JSON.stringify(xss.name)} is text, not markup`);
  check(await page.locator('#inbox-table img').count() === 0, 'an <img> element is inside #inbox-table');
  const xssRowText = await page.textContent(`#inbox-table tbody tr[data-id="${xss.id}"]`);
  check(xssRowText.includes(xss.name),
        `the row of ${xss.receipt} does not show the name as typed: ${JSON.stringify(xssRowText)}`);
  check(watch.dialogs.length === 0, `a dialog opened: ${watch.dialogs.join('; ')}`);

  step(P, `filter by receipt ${plain.receipt} (#filter-q)`);
  await page.fill('#filter-q', plain.receipt);
  await page.click('#filter-apply');
  await waitInboxExactly(page, [plain.id], `the inbox filtered to ${plain.receipt} alone`);
  await watch.shot('inbox-filtered');
  step(P, `filter by receipt ${xss.receipt}`);
  await page.fill('#filter-q', xss.receipt);
  await page.click('#filter-apply');
  await waitInboxExactly(page, [xss.id], `the inbox filtered to ${xss.receipt} alone`);
  check(await page.locator('#inbox-table img').count() === 0, 'an <img> element is inside #inbox-table');
  await watch.shot('inbox-filtered-xss');

  step(P, `open ${xss.receipt} (a.receipt-link)`);
  await page.click(`#inbox-table tbody tr[data-id="${xss.id}"] a.receipt-link`);
  await waitUntil(page, `the detail page of ${xss.receipt}`,
    (r) => location.hash.startsWith('#/request/') &&
           (document.querySelector('#detail-receipt')?.textContent ?? '').includes(r), xss.receipt,
    { describe: () => `${location.hash} #detail-receipt="${document.querySelector('#detail-receipt')?.textContent}"` });
  const fieldsText = await page.textContent('#detail-fields');
  check(fieldsText.includes(xss.name), `#detail-fields does not show the name as typed: ${fieldsText}`);
  check(await page.locator('img').count() === 0, 'an <img> element is on the detail page');
  check(watch.dialogs.length === 0, `a dialog opened: ${watch.dialogs.join('; ')}`);
  step(P, `  status now: ${JSON.stringify(await detailStatus(page))}`);
  await watch.shot('detail');

  async function setStatus(status, withNote) {
    step(P, `set status ${status}${withNote ? ` with the note ${JSON.stringify(withNote)}` : ''}`);
    const options = await page.$$eval('#status-select option', (os) => os.map((o) => o.value));
    check(options.includes(status), `#status-select offers no ${status}: ${JSON.stringify(options)}`);
    await page.selectOption('#status-select', status);
    if (withNote !== undefined) await page.fill('#status-note', withNote);
    await page.click('#status-apply');
    await waitUntil(page, `#detail-status to show ${status}`, statusShown, status,
      { describe: () => { const e = document.querySelector('#detail-status');
                          const m = document.querySelector('#detail-message');
                          return `#detail-status data-status="${e?.dataset.status}" text="${e?.textContent.trim()}"; ` +
                                 `#detail-message "${m?.textContent.trim() ?? ''}"`; } });
    step(P, `  #detail-status: ${JSON.stringify(await detailStatus(page))}`);
  }
  await setStatus('in_review');
  await watch.shot('detail-in-review');
  await setStatus('needs_info', note);
  await waitUntil(page, '#detail-note to show the note',
    (n) => (document.querySelector('#detail-note')?.textContent ?? '').includes(n), note,
    { describe: () => document.querySelector('#detail-note')?.textContent ?? '(no #detail-note)' });
  await watch.shot('detail-needs-info');

  step(P, 'reload: the status stays needs_info (it is the server\'s, not the page\'s)');
  await page.reload({ waitUntil: 'load' });
  await waitUntil(page, '#detail-status to show needs_info after a reload', statusShown, 'needs_info',
    { describe: () => document.querySelector('#detail-status')?.textContent ?? '(no #detail-status)' });
  await watch.shot('detail-reloaded');
});
