// What the van app's phases share: unlocking, waiting for a text in an element, filling a
// registration form, running a sync from the Sync page.
import { check, route, step, waitUntil } from './lib.mjs';

// Waits until the element's text contains `text` (a string or a RegExp).
export async function waitText(page, selector, text, what) {
  await waitUntil(page, what || `${selector} to show ${text}`, ([sel, t, isRe]) => {
    const node = document.querySelector(sel);
    if (!node || node.offsetParent === null) return false;
    return isRe ? new RegExp(t).test(node.textContent) : node.textContent.includes(t);
  }, [selector, text instanceof RegExp ? text.source : text, text instanceof RegExp],
  { describe: ([sel]) => `${sel}: ${document.querySelector(sel)?.textContent ?? '(missing)'}` });
}

export async function unlock(page, passphrase) {
  await page.waitForSelector('#unlock-form', { state: 'visible' });
  await page.fill('#unlock-passphrase', passphrase);
  await page.click('#unlock-submit');
  await page.waitForSelector('#main-nav', { state: 'visible' });
}

// Opens the form of `serviceId` from the services page's search and fills it.
export async function fillKtpForm(page, citizen) {
  await route(page, '#/services');
  await page.fill('#service-search', 'KTP');
  await page.click('a[data-service="dukcapil.ktp-el"]');
  await page.waitForSelector('#request-form');
  await page.fill('#f-nik', citizen.nik);
  await page.fill('#f-name', citizen.name);
  await page.fill('#f-birth_date', citizen.birth);
  await page.fill('#f-address', citizen.address);
  await page.selectOption('#f-village_code', citizen.village);
  await page.fill('#f-phone', citizen.phone);
  await page.selectOption('#f-alasan', 'baru');
  await page.selectOption('#f-agama', 'islam');
  await page.selectOption('#f-status_kawin', citizen.kawin);
  await page.selectOption('#f-pekerjaan', citizen.pekerjaan);
}

// Submits the form and waits for the receipt; answers {id, receipt}.
export async function submitForReceipt(page) {
  await page.click('#form-submit');
  await waitUntil(page, 'the receipt slip', () => location.hash.startsWith('#/receipt/') &&
    /^KR01-\d{8}-\d{4}$/.test(document.querySelector('#receipt-number')?.textContent ?? ''), null,
  { describe: () => `${location.hash} ${document.querySelector('#request-form')?.innerText ?? ''}` });
  const receipt = await page.textContent('#receipt-number');
  const id = decodeURIComponent((await page.evaluate(() => location.hash)).slice('#/receipt/'.length));
  return { id, receipt };
}

export async function syncNow(page, phase) {
  await route(page, '#/sync');
  await page.waitForSelector('#sync-start:enabled');
  // The page shows the last sync's result until this one's: told apart by when each started.
  const before = await page.$eval('#sync-box', (box) => box.querySelector('#sync-status')?.dataset.started ?? '0').catch(() => '0');
  await page.click('#sync-start');
  await waitUntil(page, 'the sync to finish', (old) => {
    const status = document.querySelector('#sync-status');
    return status && status.dataset.started !== old && /Sinkron selesai|Sync done/.test(status.textContent);
  }, before, { describe: () => document.querySelector('#sync-box')?.textContent ?? '(no #sync-box)' });
  step(phase, `  ${await page.textContent('#sync-status')}`);
  await waitText(page, '#last-sync', /Sinkron terakhir|Last sync/, 'the status bar to show the sync');
}

// Every request the pages made went to the van's own origin (data: URLs aside): the app works
// with no network and leaks nothing to another site.
export function expectOwnOrigin(watch, base) {
  const own = new URL(base).origin;
  const foreign = watch.requests.filter((u) => !u.startsWith('data:') && new URL(u).origin !== own);
  check(foreign.length === 0, `the pages asked other origins: ${JSON.stringify(foreign)}`);
  check(watch.requests.length > 0, 'no request was seen at all');
}
