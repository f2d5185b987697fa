// The officer's app, phase 1: unlock (a wrong passphrase first), who is working, enrolment by the
// QR payload, a registration with live validation (every field's problem, NIK part by part), the
// receipt slip with its QR code and its two print layouts, the duplicate warning, the requests
// saved on this device. Every request the pages make goes to the van's own origin.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { check, env, route, runPhase, step, waitUntil } from './lib.mjs';
import { expectOwnOrigin, fillKtpForm, submitForReceipt, unlock, waitText } from './van_app_lib.mjs';

const BASE = env('VAN_URL');
const PHASE = 'van1';
const SITI = { nik: env('NIK_A'), name: 'Siti Aminah', birth: '12-03-1985', address: 'Jl. Parit Haji Husin No. 3',
  village: '61.12.05.2001', phone: '0812 3456 7890', kawin: 'kawin tercatat', pekerjaan: 'nelayan/perikanan' };
const DEWI = { nik: env('NIK_B'), name: 'Dewi Lestari', birth: '05-07-1992', address: 'Dusun Karya Baru RT 02',
  village: '61.12.05.2001', phone: '081345678901', kawin: 'belum kawin', pekerjaan: 'petani/pekebun' };

await runPhase(PHASE, async (page, watch) => {
  step(PHASE, 'the lock screen: the store is locked until the passphrase');
  await page.goto(BASE);
  await page.waitForSelector('#unlock-form', { state: 'visible' });
  await waitText(page, '#view', 'KR01');
  check(await page.isHidden('#main-nav'), 'the menu shows while the store is locked');
  await watch.shot('unlock');
  await watch.expecting(401, /^\/api\/unlock$/, async () => {
    await page.fill('#unlock-passphrase', 'bukan-frasa-sandinya');
    await page.click('#unlock-submit');
    await waitText(page, '#unlock-error', 'Frasa sandi salah');
  });
  await watch.shot('unlock-wrong');
  await unlock(page, env('PASSPHRASE'));
  await page.waitForSelector('#service-list');
  await waitText(page, '#last-sync', 'Belum pernah sinkron');
  await watch.shot('services');

  step(PHASE, 'who is working: Nurul Hasanah takes over from Rahmat Hidayat');
  await route(page, '#/officer');
  await page.waitForSelector('button[data-officer="Rahmat Hidayat"]');
  await page.fill('#officer-name', 'Nurul Hasanah');
  await watch.shot('officer');
  await page.click('#officer-form button[type=submit]');
  await waitText(page, '#officer-now', 'Nurul Hasanah');

  step(PHASE, 'enrolment: the QR payload of the server\'s token');
  await route(page, '#/sync');
  await page.waitForSelector('#enroll-form');
  const payload = env('QR_PAYLOAD');
  await watch.expecting(400, /^\/api\/enroll$/, async () => {
    await page.fill('#enroll-qr', payload.slice(0, -1) + (payload.endsWith('0') ? '1' : '0'));
    await page.click('#enroll-form button[type=submit]');
    await waitText(page, '#enroll-error', /checksum|misread|rusak|QR/i);
  });
  await page.fill('#enroll-qr', payload);
  await page.click('#enroll-form button[type=submit]');
  await waitText(page, '#page-message', 'Terdaftar ke');
  await page.waitForSelector('#sync-start');
  await watch.shot('enrolled');

  step(PHASE, 'registration: live validation names each field\'s problem');
  await route(page, '#/services');
  await page.fill('#service-search', 'ktp');
  await watch.shot('services-search');
  await page.click('a[data-service="dukcapil.ktp-el"]');
  await page.waitForSelector('#request-form');
  await page.fill('#f-nik', '6112');
  await waitText(page, '#f-nik-problem', 'NIK', 'a NIK problem under the NIK field');
  await page.fill('#f-nik', '6112991203850001');
  await waitText(page, '#f-nik-problem', 'NIK angka 5-6: 99 bukan kecamatan di Kubu Raya', 'the NIK\'s district part refused, in Indonesian');
  await page.fill('#f-birth_date', '31-02-1985');
  await waitText(page, '#f-birth_date-problem', '"31-02-1985" bukan tanggal', 'the impossible date refused, as the officer typed it');
  await watch.shot('form-live-validation');
  await watch.expecting(400, /^\/api\/requests$/, async () => {
    await page.click('#form-submit');
    await waitText(page, '#f-name-problem', 'wajib diisi', 'the empty name refused at submit');
  });
  check(await page.isVisible('#f-address-problem'), 'no problem shown for the empty address');
  await watch.shot('form-all-problems');

  step(PHASE, 'a valid registration gives the receipt slip');
  await fillKtpForm(page, SITI);
  await waitUntil(page, 'no problem left on the form', () =>
    [...document.querySelectorAll('.field-problem')].every((p) => p.textContent === ''));
  const siti = await submitForReceipt(page);
  step(PHASE, `  ${siti.receipt} (${siti.id})`);
  await waitUntil(page, 'the QR code image loaded', () => {
    const img = document.querySelector('.slip-qr');
    return img && img.complete && img.naturalWidth > 0;
  });
  await waitText(page, '#receipt-slip', 'Nurul Hasanah');
  await waitText(page, '#receipt-slip', 'Siti Aminah');
  await watch.shot('receipt');
  await page.emulateMedia({ media: 'print' });
  // The paper each layout asks for (CSS @page), as Chromium prints it: 80 mm wide thermal
  // roll, A6 (105 x 148 mm); one page each.
  for (const [kind, widthMm, heightMm] of [['thermal', 80, 200], ['a6', 105, 148]]) {
    await page.evaluate((k) => { document.body.dataset.print = k; }, kind);
    check(await page.isHidden('.app-header'), 'the header prints on the slip');
    await watch.shot(`receipt-print-${kind}`);
    const pdfPath = join(env('SCREENSHOT_DIR'), `receipt-${kind}.pdf`);
    await page.pdf({ path: pdfPath, preferCSSPageSize: true, printBackground: true });
    const pdf = readFileSync(pdfPath).toString('latin1');
    const pages = (pdf.match(/\/Type\s*\/Page[^s]/g) || []).length;
    const box = /\/MediaBox\s*\[\s*0 0 ([\d.]+) ([\d.]+)\s*\]/.exec(pdf);
    check(box, `no page size in ${pdfPath}`);
    const [w, h] = [Number(box[1]) * 25.4 / 72, Number(box[2]) * 25.4 / 72];
    step(PHASE, `  ${kind}: ${pages} page(s) of ${w.toFixed(1)} x ${h.toFixed(1)} mm (${pdfPath})`);
    check(Math.abs(w - widthMm) < 1 && Math.abs(h - heightMm) < 1, `the ${kind} slip prints on ${w} x ${h} mm`);
    check(pages === 1, `the ${kind} slip prints on ${pages} pages`);
  }
  await page.emulateMedia({ media: 'screen' });
  await page.evaluate(() => { delete document.body.dataset.print; });

  step(PHASE, 'the same citizen again: the duplicate warning, registered only when ticked');
  await fillKtpForm(page, SITI);
  await waitText(page, '#duplicates', siti.receipt, 'the duplicate warning naming the first receipt');
  await watch.expecting(409, /^\/api\/requests$/, async () => {
    await page.click('#form-submit');
    await waitText(page, '#form-general', 'Tetap daftarkan');
  });
  await watch.shot('duplicate');
  await page.check('#force');
  const again = await submitForReceipt(page);
  check(again.receipt !== siti.receipt, 'the forced duplicate got the same receipt');

  await fillKtpForm(page, DEWI);
  const dewi = await submitForReceipt(page);
  step(PHASE, `  ${dewi.receipt} (${dewi.id})`);

  step(PHASE, 'the requests: saved on this device until the sync');
  await route(page, '#/requests');
  await page.fill('#request-search', 'aminah');
  await waitUntil(page, 'two rows for Siti Aminah', () => document.querySelectorAll('#requests-table tbody tr').length === 2);
  await waitText(page, '#requests-table', 'Tersimpan di perangkat');
  await watch.shot('requests-saved');
  await page.fill('#request-search', env('NIK_B').slice(4, 12));
  await waitUntil(page, 'Dewi found by part of her NIK', () =>
    document.querySelectorAll('#requests-table tbody tr').length === 1 &&
    document.querySelector('#requests-table').textContent.includes('Dewi Lestari'));

  expectOwnOrigin(watch, BASE);
  writeFileSync(env('OUT'), JSON.stringify({ siti, dewi, again }));
});
