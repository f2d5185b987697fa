// The officer's app, phase 4: the agencies' decisions
// arrive with a sync (what changed), the next visit's work grouped by district and village, a
// needs_info answered, a completed document handed over (who received it), synced back.
import { check, env, route, runPhase, step } from './lib.mjs';
import { expectOwnOrigin, syncNow, unlock, waitText } from './van_app_lib.mjs';

const PHASE = 'van4';
const SITI = JSON.parse(env('SITI'));
const DEWI = JSON.parse(env('DEWI'));

await runPhase(PHASE, async (page, watch) => {
  await page.goto(env('VAN_URL'));
  await unlock(page, env('PASSPHRASE'));

  step(PHASE, 'the sync brings the agencies\' decisions');
  await syncNow(page, PHASE);
  await waitText(page, `#sync-changes li[data-request="${SITI.id}"]`, `${SITI.receipt}: instansi: Perlu informasi "${env('NOTE')}"`);
  await waitText(page, `#sync-changes li[data-request="${DEWI.id}"]`, `${DEWI.receipt}: instansi: Selesai, siap diserahkan`);
  await watch.shot('sync-changes');

  step(PHASE, 'the next visit: Tanjung Beringin, Batu Ampar');
  await route(page, '#/visits');
  await page.waitForSelector('[data-district="61.12.05"] [data-village="61.12.05.2001"]');
  await waitText(page, `[data-village="61.12.05.2001"] li[data-id="${SITI.id}"]`, 'Perlu informasi');
  await waitText(page, `[data-village="61.12.05.2001"] li[data-id="${SITI.id}"]`, env('NOTE'));
  await waitText(page, `[data-village="61.12.05.2001"] li[data-id="${DEWI.id}"]`, 'Siap diserahkan');
  await watch.shot('visits');

  step(PHASE, `answer ${SITI.receipt}: a new phone number`);
  await page.click(`li[data-id="${SITI.id}"] a`);
  await page.waitForSelector('#answer-form');
  await waitText(page, '.state-line', 'Diproses', 'the request shown as processed by the agency');
  await waitText(page, '#state-help', env('NOTE'), "the agency's note beside its state");
  await page.fill('#answer-phone', '081298765432');
  await watch.shot('answer');
  await page.click('#answer-form button[type=submit]');
  await waitText(page, '#page-message', 'Jawaban tersimpan');
  await waitText(page, '.state-line', 'Tersimpan di perangkat');
  check(!(await page.isVisible('#answer-form')), 'the answer form still shows after answering');

  step(PHASE, `hand ${DEWI.receipt} over`);
  await route(page, `#/request/${encodeURIComponent(DEWI.id)}`);
  await page.waitForSelector('#deliver-to-form');
  await page.fill('#deliver-to', 'Ahmad Fauzi (suami)');
  await page.click('#deliver-to-form button[type=submit]');
  await waitText(page, '#page-message', 'Penyerahan tercatat');
  await waitText(page, '#history', 'diserahkan kepada Ahmad Fauzi (suami)');
  await watch.shot('delivered');

  await syncNow(page, PHASE);
  await watch.shot('synced-back');
  expectOwnOrigin(watch, env('VAN_URL'));
});
