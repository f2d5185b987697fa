// The officer's app, phase 3: the server is back. A sync from the page: progress, then what it
// did; the requests are sent (acknowledged, with when); English; the lock button.
import { check, env, route, runPhase, step } from './lib.mjs';
import { expectOwnOrigin, syncNow, unlock, waitText } from './van_app_lib.mjs';

const BASE = env('VAN_URL');
const PHASE = 'van3';
const SITI = JSON.parse(env('SITI'));

await runPhase(PHASE, async (page, watch) => {
  await page.goto(BASE);
  await unlock(page, env('PASSPHRASE'));
  step(PHASE, 'a sync from the page: progress, then what it did');
  await syncNow(page, PHASE);
  await waitText(page, '#last-sync', /Sinkron terakhir 0 menit lalu/);
  await waitText(page, '#pending-count', 'Semua perubahan terkirim');
  await watch.shot('synced');
  await route(page, '#/requests');
  await waitText(page, '#requests-table', 'Terkirim');
  await page.click(`a[href="#/request/${encodeURIComponent(SITI.id)}"]`);
  await waitText(page, '#state-help', 'Diterima server');
  await watch.shot('request-sent');

  step(PHASE, 'English');
  await page.click('#lang-toggle');
  await waitText(page, '#nav-services', 'Services');
  await waitText(page, '#state-help', 'The server acknowledged it');
  await watch.shot('request-sent-en');
  await page.click('#lang-toggle');
  await waitText(page, '#nav-services', 'Layanan');

  step(PHASE, 'the lock button');
  await page.click('#lock');
  await page.waitForSelector('#unlock-form', { state: 'visible' });
  check(await page.isHidden('#main-nav'), 'the menu shows after locking');
  await watch.shot('locked');
  expectOwnOrigin(watch, BASE);
});
