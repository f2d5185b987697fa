// Phase 4 of the dashboard test (after the runner enrolled a new van with phase 3's token): the
// administrator sees that token used (by the new van's device); makes a viewer account for
// Dukcapil (it can log in) and disables it (a confirm() accepted; its open session ends at once);
// sees both vans on the vans page and revokes the new one (a confirm() accepted). The runner then
// checks that the disabled account's login answers 401 and that the revoked van cannot sync.
//
// Environment: BASE_URL, ADMIN_USER, ADMIN_PASSWORD, TOKEN_ID, NEW_VAN_CODE, NEW_VAN_DEVICE,
// OLD_VAN_CODE, OLD_VAN_DEVICE, VIEWER_USER, VIEWER_AGENCY, VIEWER_PASSWORD, SCREENSHOT_DIR.
import { request } from 'playwright-core';
import { check, env, login, runPhase, step, waitUntil } from './lib.mjs';

const P = 'phase4';

const escapeRe = (s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
const rowsText = (sel) => JSON.stringify([...document.querySelectorAll(`${sel} tbody tr`)]
  .map((r) => `${r.dataset.tokenId ?? r.dataset.user ?? r.dataset.device ?? '-'}${r.className ? ` [${r.className}]` : ''}: ` +
              r.innerText.replace(/\s+/g, ' ').trim()));

await runPhase(P, async (page, watch) => {
  const base = env('BASE_URL');
  const admin = { user: env('ADMIN_USER'), password: env('ADMIN_PASSWORD') };
  const tokenId = env('TOKEN_ID');
  const newVan = { code: env('NEW_VAN_CODE'), device: env('NEW_VAN_DEVICE') };
  const oldVan = { code: env('OLD_VAN_CODE'), device: env('OLD_VAN_DEVICE') };
  const viewer = { user: env('VIEWER_USER'), agency: env('VIEWER_AGENCY'), password: env('VIEWER_PASSWORD') };

  step(P, `open ${base}/ and log in as ${admin.user}`);
  await page.goto(`${base}/`, { waitUntil: 'load' });
  await login(page, watch, admin.user, admin.password);

  // ---- 4 (end). the token is used
  step(P, `#nav-tokens: token ${tokenId} is used, by ${newVan.code}'s device ${newVan.device}`);
  await page.click('#nav-tokens');
  const tokenRow = `#tokens-table tr[data-token-id="${tokenId}"]`;
  await waitUntil(page, `${tokenRow} shown as used`,
    (sel) => document.querySelector(`${sel} [data-state]`)?.dataset.state === 'used', tokenRow,
    { describe: () => rowsText('#tokens-table') });
  const used = await page.$eval(tokenRow, (r) => ({
    text: r.innerText.replace(/\s+/g, ' ').trim(),
    by: [...r.querySelectorAll('code.device-id')].map((c) => c.title),
    revoke: r.querySelector('button.revoke-token') !== null,
  }));
  step(P, `  row: ${used.text}`);
  check(used.by.includes(newVan.device), `the used token does not name the device ${newVan.device}: ${JSON.stringify(used)}`);
  check(!used.revoke, 'the used token still offers a revoke button');
  await watch.shot('token-used');

  // ---- 5. staff accounts
  step(P, `#nav-staff: a viewer account ${viewer.user} for ${viewer.agency}`);
  await page.click('#nav-staff');
  await page.waitForSelector('#staff-form', { state: 'visible' });
  await waitUntil(page, `the row of ${admin.user} in #staff-table`,
    (u) => document.querySelector(`#staff-table tr[data-user="${u}"]`) !== null, admin.user,
    { describe: () => rowsText('#staff-table') });
  await watch.shot('staff');
  await page.fill('#staff-user', viewer.user);
  await page.selectOption('#staff-role', 'viewer');
  await page.fill('#staff-agency', viewer.agency);
  await page.fill('#staff-password', viewer.password);
  await page.click('#staff-create');
  const staffRow = `#staff-table tr[data-user="${viewer.user}"]`;
  await waitUntil(page, `${staffRow} in #staff-table`, (sel) => document.querySelector(sel) !== null, staffRow,
    { describe: () => `${rowsText('#staff-table')}; #page-message "${document.querySelector('#page-message')?.textContent ?? ''}"` });
  const created = await page.$eval(staffRow, (r) => ({
    text: r.innerText.replace(/\s+/g, ' ').trim(), role: r.querySelector('td[data-role]')?.dataset.role ?? '',
    disabled: r.classList.contains('revoked'), disable: r.querySelector('button.disable-staff') !== null,
    passwd: r.querySelector('button.passwd-staff') !== null }));
  step(P, `  row: ${JSON.stringify(created)}`);
  check(created.role === 'viewer', `${viewer.user}'s role shows as "${created.role}", not viewer`);
  check(created.text.includes(viewer.agency), `${viewer.user}'s row does not name ${viewer.agency}: ${created.text}`);
  check(!created.disabled && created.disable && created.passwd, `${viewer.user}'s row is not an active account with its buttons`);
  check(!(await page.$eval('#staff-password', (e) => e.value)), '#staff-password keeps the password after the account was made');
  await watch.shot('staff-created');

  // The new account works (own cookie jar, not the page's): a session, kept to see it end.
  const api = await request.newContext({ baseURL: base, extraHTTPHeaders: { Origin: base } });
  try {
    const answer = await api.post('/api/login', { data: { user: viewer.user, password: viewer.password } });
    check(answer.status() === 200, `POST /api/login as ${viewer.user} answered ${answer.status()}: ${await answer.text()}`);
    const me = await answer.json();
    step(P, `  ${viewer.user} logs in through the API: ${JSON.stringify({ ...me, csrf: '…' })}`);
    check(me.role === 'viewer' && me.agency === viewer.agency, `the login answered ${JSON.stringify(me)}`);
    check((await api.get('/api/me')).status() === 200, `GET /api/me of ${viewer.user}'s new session is not 200`);

    step(P, `disable ${viewer.user} (button.disable-staff, the confirm() accepted)`);
    const [, asked] = await watch.acceptingDialog('confirm', new RegExp(escapeRe(viewer.user)),
      () => page.click(`${staffRow} button.disable-staff`));
    step(P, `  confirm(): ${JSON.stringify(asked)}`);
    await waitUntil(page, `${staffRow} shown disabled`,
      (sel) => { const r = document.querySelector(sel);
                 return r && r.classList.contains('revoked') && !r.querySelector('button.disable-staff') &&
                        r.querySelector('.badge-revoked') !== null; }, staffRow,
      { describe: () => rowsText('#staff-table') });
    step(P, `  row: ${(await page.textContent(staffRow)).replace(/\s+/g, ' ').trim()}; ` +
            `#page-message: ${(await page.textContent('#page-message')).trim()}`);
    await watch.shot('staff-disabled');
    const after = await api.get('/api/me');
    step(P, `  GET /api/me of ${viewer.user}'s session after the disable: ${after.status()}`);
    check(after.status() === 401, `${viewer.user}'s session still answers ${after.status()} after the disable`);
  } finally {
    await api.dispose();
  }

  // ---- 6. vans
  step(P, `#nav-vans: ${oldVan.code} and ${newVan.code} are listed`);
  await page.click('#nav-vans');
  const vanRow = (d) => `#vans-table tr[data-device="${d}"]`;
  await waitUntil(page, 'both vans in #vans-table',
    (sels) => sels.every((s) => document.querySelector(s) !== null), [vanRow(oldVan.device), vanRow(newVan.device)],
    { describe: () => rowsText('#vans-table') });
  const vans = await page.$$eval('#vans-table tbody tr[data-device]', (rows) => rows.map((r) => ({
    device: r.dataset.device, code: r.cells[0]?.textContent.trim(), lastSync: r.cells[3]?.textContent, text: r.innerText.replace(/\s+/g, ' ').trim(),
    stale: r.querySelector('.badge-stale') !== null, revoke: r.querySelector('button.revoke-van') !== null,
    revoked: r.classList.contains('revoked') })));
  step(P, `  vans: ${JSON.stringify(vans)}`);
  for (const v of [oldVan, newVan]) {
    const shownVan = vans.find((x) => x.device === v.device);
    check(shownVan.code === v.code, `the row of ${v.device} names the van "${shownVan.code}", not ${v.code}`);
    check(!shownVan.revoked && shownVan.revoke, `${v.code} shows as revoked, or without a revoke button`);
    // Both synced a moment ago: neither is stale (no sync for 3 days).
    check(!shownVan.stale, `${v.code} is marked stale right after a sync`);
  }
  // Known (server): last_sync_ms moves only with a push that carries changes (AdvanceDeviceSeq);
  // a pull-only sync leaves it, so a van that just synced may show "never". Said, not failed.
  for (const v of vans) step(P, `  ${v.code}: last sync shown as "${(v.lastSync ?? '').trim()}"`);
  await watch.shot('vans');

  step(P, `revoke ${newVan.code} (button.revoke-van, the confirm() accepted)`);
  const [, asked] = await watch.acceptingDialog('confirm', new RegExp(escapeRe(newVan.device)),
    () => page.click(`${vanRow(newVan.device)} button.revoke-van`));
  step(P, `  confirm(): ${JSON.stringify(asked)}`);
  await waitUntil(page, `${newVan.code} shown revoked`,
    (sel) => { const r = document.querySelector(sel);
               return r && r.classList.contains('revoked') && !r.querySelector('button.revoke-van'); }, vanRow(newVan.device),
    { describe: () => rowsText('#vans-table') });
  const oldAfter = await page.$eval(vanRow(oldVan.device), (r) => ({ revoked: r.classList.contains('revoked'),
    revoke: r.querySelector('button.revoke-van') !== null }));
  check(!oldAfter.revoked && oldAfter.revoke, `${oldVan.code} shows revoked too: ${JSON.stringify(oldAfter)}`);
  step(P, `  #page-message: ${(await page.textContent('#page-message')).trim()}`);
  await watch.shot('van-revoked');
});
