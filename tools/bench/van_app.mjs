// Timings of the officer's app in Debian's Chromium (playwright-core from tests/browser), at the
// tablet's 1280x800: unlock to the first page (the passphrase derivation included), and
// register to receipt (the click on "save" to the slip with its QR code drawn). Prints one JSON
// line {"unlock_ms": [...], "register_ms": [...]}. Driven by tools/bench/van_app.py.
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const { chromium } = createRequire(join(root, 'tests', 'browser', 'package.json'))('playwright-core');
const url = process.env.VAN_URL;
const passphrase = process.env.PASSPHRASE;
const runs = Number(process.env.RUNS || 20);

const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', headless: true, args: ['--no-sandbox'] });
try {
  const page = await (await browser.newContext({ viewport: { width: 1280, height: 800 } })).newPage();
  page.setDefaultTimeout(30000);
  const unlock = [];
  for (let i = 0; i < runs; i++) {
    await page.goto(url);
    await page.waitForSelector('#unlock-form', { state: 'visible' });
    await page.fill('#unlock-passphrase', passphrase);
    const t0 = performance.now();
    await page.click('#unlock-submit');
    await page.waitForSelector('#service-list a[data-service]', { state: 'visible' });
    unlock.push(performance.now() - t0);
    await page.click('#lock');
    await page.waitForSelector('#unlock-form', { state: 'visible' });
  }
  await page.fill('#unlock-passphrase', passphrase);
  await page.click('#unlock-submit');
  await page.waitForSelector('#service-list');
  const register = [];
  for (let i = 0; i < runs; i++) {
    await page.evaluate(() => { location.hash = '#/new/dukcapil.ktp-el'; });
    await page.waitForSelector('#request-form');
    await page.fill('#f-nik', `611205450792${String(i + 1).padStart(4, '0')}`);
    await page.fill('#f-name', 'Siti Aminah');
    await page.fill('#f-birth_date', '05-07-1992');
    await page.fill('#f-address', 'Jl. Sungai Raya Dalam No. 12');
    await page.selectOption('#f-village_code', '61.12.05.2001');
    for (const [f, v] of [['alasan', 'baru'], ['agama', 'islam'], ['status_kawin', 'kawin tercatat'], ['pekerjaan', 'petani/pekebun']]) {
      await page.selectOption(`#f-${f}`, v);
    }
    const t0 = performance.now();
    await page.click('#form-submit');
    await page.waitForFunction(() => {
      const img = document.querySelector('.slip-qr');
      return location.hash.startsWith('#/receipt/') && img && img.complete && img.naturalWidth > 0;
    }, null, { polling: 'raf' });
    register.push(performance.now() - t0);
  }
  console.log(JSON.stringify({ unlock_ms: unlock, register_ms: register }));
} finally {
  await browser.close();
}
