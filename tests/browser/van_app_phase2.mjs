// The officer's app, phase 2: the server is down. A sync started from the page keeps retrying
// the dead link; the officer stops it; the requests stay saved on this device, nothing lost.
import { check, env, route, runPhase, step } from './lib.mjs';
import { expectOwnOrigin, unlock, waitText } from './van_app_lib.mjs';

const BASE = env('VAN_URL');
const PHASE = 'van2';

await runPhase(PHASE, async (page, watch) => {
  await page.goto(BASE);
  await unlock(page, env('PASSPHRASE'));
  await route(page, '#/sync');
  await page.waitForSelector('#sync-start:enabled');
  await page.click('#sync-start');
  await page.waitForSelector('#sync-cancel', { state: 'visible' });
  await waitText(page, '#sync-status', 'Sinkron berjalan');
  await watch.shot('sync-retrying');
  await page.click('#sync-cancel');
  await waitText(page, '#sync-status', 'Sinkron dihentikan');
  await waitText(page, '#pending-count', '3 perubahan belum terkirim');
  await watch.shot('sync-stopped');
  await route(page, '#/requests');
  await page.waitForSelector('#requests-table');
  const states = await page.$$eval('#requests-table tbody [data-state]', (b) => b.map((x) => x.dataset.state));
  check(states.length === 3 && states.every((s) => s === 'saved'), `states with the server down: ${states}`);
  await watch.shot('requests-still-saved');
  step(PHASE, `  ${states.length} requests saved on this device`);
  expectOwnOrigin(watch, BASE);
});
