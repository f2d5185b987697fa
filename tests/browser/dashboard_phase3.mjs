// Phase 3 of the dashboard test (after phase 2 and the van's sync): the administrator (admin1,
// agency "*") looks at the summary (the Dukcapil card counts the van's two Dukcapil requests),
// adds an internal comment with markup in it to a Dukcapil request (it shows as text, with its
// author), exports the inbox as CSV with the NIK masked (UTF-8 BOM, the receipts, no NIK in full)
// and as JSON unmasked (the NIKs in full), and makes an enrolment token for a new van (its QR code
// loads; its payload is the MPPQR1 text of PROTOCOL.md; the tokens table lists it unused). The
// token's payload and id go to TOKEN_OUT (JSON) for the runner, which enrols the van with it.
//
// Environment: BASE_URL, ADMIN_USER, ADMIN_PASSWORD, REQ_XSS_ID, REQ_XSS_RECEIPT, REQ_PLAIN_ID,
// REQ_PLAIN_RECEIPT, REQ_OTHER_RECEIPT, NIKS (JSON: receipt -> NIK), PHONE, COMMENT_TEXT,
// NEW_VAN_CODE, SERVER_FINGERPRINT, TOKEN_OUT, SCREENSHOT_DIR.
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import {
  check, describeInbox, env, login, route, runPhase, step, waitUntil,
} from './lib.mjs';

const P = 'phase3';

// What one export answered: the file's bytes, its suggested name and the URL it came from.
async function exportFile(page, button) {
  const [download] = await Promise.all([page.waitForEvent('download'), page.click(button)]);
  const failure = await download.failure();
  check(failure === null, `the download of ${button} failed: ${failure}`);
  const bytes = readFileSync(await download.path());
  return { bytes, name: download.suggestedFilename(), url: download.url() };
}

const maskNik = (nik) => `${nik.slice(0, 6)}******${nik.slice(-4)}`;

await runPhase(P, async (page, watch) => {
  const base = env('BASE_URL');
  const admin = { user: env('ADMIN_USER'), password: env('ADMIN_PASSWORD') };
  const xss = { id: env('REQ_XSS_ID'), receipt: env('REQ_XSS_RECEIPT') };
  const plain = { id: env('REQ_PLAIN_ID'), receipt: env('REQ_PLAIN_RECEIPT') };
  const otherReceipt = env('REQ_OTHER_RECEIPT');
  const niks = JSON.parse(env('NIKS'));
  const phone = env('PHONE');
  const comment = env('COMMENT_TEXT');
  const vanCode = env('NEW_VAN_CODE');
  const fingerprint = env('SERVER_FINGERPRINT');

  step(P, `open ${base}/ and log in as ${admin.user}`);
  await page.goto(`${base}/`, { waitUntil: 'load' });
  await login(page, watch, admin.user, admin.password);
  await watch.shot('inbox');

  // ---- 1. summary
  step(P, '#nav-summary: the Dukcapil card counts the van\'s two Dukcapil requests');
  await page.click('#nav-summary');
  const card = '#summary-cards section.summary-card[data-agency="dukcapil"]';
  const describeCards = () => JSON.stringify([...document.querySelectorAll('#summary-cards section.summary-card')]
    .map((c) => `${c.dataset.agency}: ${c.innerText.replace(/\s+/g, ' ').trim().slice(0, 300)}`));
  await waitUntil(page, `the card ${card}`, (sel) => location.hash.startsWith('#/summary') &&
                  document.querySelector(sel) !== null, card, { describe: describeCards });
  const shown = await page.$eval(card, (c) => ({
    counts: Object.fromEntries([...c.querySelectorAll('ul.summary-status li[data-status]')]
      .map((li) => [li.dataset.status, Number(li.querySelector('.summary-num')?.textContent.trim())])),
    total: c.querySelector('.summary-total')?.textContent.trim() ?? '',
    services: Object.fromEntries([...c.querySelectorAll('tr[data-service]')]
      .map((tr) => [tr.dataset.service, Number(tr.querySelector('td.num')?.textContent.trim())])),
    oldest: c.querySelector('.summary-oldest a.receipt-link')?.textContent.trim() ?? '',
  }));
  step(P, `  dukcapil card: ${JSON.stringify(shown)}`);
  const sum = Object.values(shown.counts).reduce((a, b) => a + b, 0);
  check(sum === 2, `the Dukcapil card counts ${sum} requests, not the van's 2: ${JSON.stringify(shown.counts)}`);
  check(shown.counts.needs_info === 1,
        `the Dukcapil card counts ${shown.counts.needs_info} needs_info, not 1 (${xss.receipt}): ${JSON.stringify(shown.counts)}`);
  check(/(^|\D)2(\D|$)/.test(shown.total), `the Dukcapil card's total says "${shown.total}", not 2`);
  check(shown.services['dukcapil.ktp-el'] === 2,
        `the Dukcapil card counts ${shown.services['dukcapil.ktp-el']} dukcapil.ktp-el requests, not 2`);
  check(shown.oldest === xss.receipt,
        `the Dukcapil card's oldest open request is "${shown.oldest}", not ${xss.receipt} (registered first)`);
  const polres = await page.$$eval('#summary-cards section.summary-card[data-agency="polres"] li[data-status] .summary-num',
    (ns) => ns.reduce((a, n) => a + Number(n.textContent.trim()), 0));
  check(polres === 1, `the admin's Polres card counts ${polres} requests, not 1`);
  await watch.shot('summary');

  // ---- 2. an internal comment
  step(P, `open ${plain.receipt} and add the internal comment ${JSON.stringify(comment)}`);
  await route(page, `#/request/${plain.id}`);
  await waitUntil(page, `the detail page of ${plain.receipt} with #comment-text`,
    (r) => (document.querySelector('#detail-receipt')?.textContent ?? '').includes(r) &&
           document.querySelector('#comment-text') !== null, plain.receipt,
    { describe: () => `${location.hash} ${document.body.innerText.slice(0, 300)}` });
  await page.fill('#comment-text', comment);
  await page.click('#comment-add');
  const describeComments = () => document.querySelector('#detail-comments')?.outerHTML.slice(0, 800) ?? '(no #detail-comments)';
  await waitUntil(page, 'the comment in #detail-comments',
    (c) => [...document.querySelectorAll('#detail-comments li')]
      .some((li) => li.querySelector('.history-text')?.textContent === c), comment,
    { describe: describeComments });
  const listed = await page.$$eval('#detail-comments li', (lis) => lis.map((li) => ({
    by: li.querySelector('.history-actor')?.textContent ?? '', text: li.querySelector('.history-text')?.textContent ?? '',
    time: li.querySelector('time') !== null })));
  step(P, `  #detail-comments: ${JSON.stringify(listed)}`);
  const mine = listed.filter((c) => c.text === comment);
  check(mine.length === 1, `the comment is listed ${mine.length} times`);
  check(mine[0].by.includes(admin.user), `the comment's author shows as "${mine[0].by}", not ${admin.user}`);
  check(mine[0].time, 'the comment shows no time');
  check(await page.locator('#detail-comments b').count() === 0, 'a <b> element is inside #detail-comments');
  const message = (await page.textContent('#detail-message')).trim();
  step(P, `  #detail-message: ${JSON.stringify(message)}`);
  await watch.shot('detail-comment');
  step(P, 'reload: the comment stays');
  await page.reload({ waitUntil: 'load' });
  await waitUntil(page, 'the comment after a reload',
    (c) => [...document.querySelectorAll('#detail-comments li .history-text')].some((e) => e.textContent === c), comment,
    { describe: describeComments });
  check(await page.locator('#detail-comments b').count() === 0, 'a <b> element is inside #detail-comments');

  // ---- 3. exports
  step(P, '#nav-inbox: export CSV with #export-mask checked');
  await page.click('#nav-inbox');
  await waitUntil(page, 'the inbox with the three requests and #export-bar',
    () => location.hash.startsWith('#/inbox') && document.querySelector('#export-bar') !== null &&
          document.querySelectorAll('#inbox-table tbody tr[data-id]').length === 3, null, { describe: describeInbox });
  check(await page.isChecked('#export-mask'), '#export-mask is not checked by default');
  await page.check('#export-mask');
  await watch.shot('inbox-export');
  const csv = await exportFile(page, '#export-csv');
  const csvText = csv.bytes.toString('utf8');
  step(P, `  ${csv.name} (${csv.bytes.length} bytes) from ${new URL(csv.url).pathname}${new URL(csv.url).search}`);
  step(P, `  its first lines: ${JSON.stringify(csvText.split('\n').slice(0, 4).map((l) => l.slice(0, 200)))}`);
  check(csv.bytes.length >= 3 && csv.bytes[0] === 0xef && csv.bytes[1] === 0xbb && csv.bytes[2] === 0xbf,
        `the CSV does not start with the UTF-8 BOM: ${JSON.stringify([...csv.bytes.subarray(0, 8)])}`);
  check(/\.csv$/i.test(csv.name), `the CSV's file name is "${csv.name}"`);
  for (const r of [xss.receipt, plain.receipt, otherReceipt]) {
    check(csvText.includes(r), `the CSV does not name ${r}`);
  }
  for (const [receipt, nik] of Object.entries(niks)) {
    check(!csvText.includes(nik), `the masked CSV shows ${receipt}'s NIK ${nik} in full`);
    check(csvText.includes(maskNik(nik)), `the masked CSV does not show ${receipt}'s NIK as ${maskNik(nik)}`);
  }
  check(!csvText.includes(phone), `the masked CSV shows the phone number ${phone} in full`);
  await watch.shot('inbox-after-csv');

  step(P, 'uncheck #export-mask, export JSON: the NIKs are there in full');
  await page.uncheck('#export-mask');
  const js = await exportFile(page, '#export-json');
  const jsText = js.bytes.toString('utf8');
  step(P, `  ${js.name} (${js.bytes.length} bytes) from ${new URL(js.url).pathname}${new URL(js.url).search}`);
  let parsed;
  try { parsed = JSON.parse(jsText.replace(/^\uFEFF/, '')); } catch (e) { throw new Error(`the JSON export does not parse: ${e.message}: ${jsText.slice(0, 300)}`); }
  check(Array.isArray(parsed.items) && parsed.items.length === 3,
        `the JSON export has ${parsed.items?.length} items, not 3`);
  check(/\.json$/i.test(js.name), `the JSON's file name is "${js.name}"`);
  for (const [receipt, nik] of Object.entries(niks)) {
    check(jsText.includes(nik), `the unmasked JSON does not show ${receipt}'s NIK ${nik}`);
  }
  check(jsText.includes(phone), `the unmasked JSON does not show the phone number ${phone}`);
  check(!(await page.isChecked('#export-mask')), '#export-mask is checked again after the export');
  await watch.shot('inbox-after-json');

  // ---- 4. an enrolment token
  step(P, `#nav-tokens: a token for ${vanCode} with the page's default server URL`);
  await page.click('#nav-tokens');
  await page.waitForSelector('#token-form', { state: 'visible' });
  // KR01's token (made with mpp-server token create) is listed, used.
  await waitUntil(page, 'a row in #tokens-table', () => document.querySelector('#tokens-table tbody tr[data-token-id]') !== null,
    null, { describe: () => document.querySelector('#tokens-table')?.innerText ?? '(no #tokens-table)' });
  const serverUrl = await page.inputValue('#token-server-url');
  step(P, `  #token-server-url: ${serverUrl}; #token-hours: ${await page.inputValue('#token-hours')}`);
  check(serverUrl === base, `#token-server-url is "${serverUrl}", not the page's origin ${base}`);
  await watch.shot('tokens');
  await page.fill('#token-van', vanCode);
  await page.click('#token-create');
  await waitUntil(page, '#token-result with #token-qr loaded',
    () => { const r = document.querySelector('#token-result'); const img = document.querySelector('#token-qr');
            return r && !r.hidden && img && img.tagName === 'IMG' && img.complete && img.naturalWidth > 0; }, null,
    { describe: () => { const img = document.querySelector('#token-qr');
                        return `#token-result hidden=${document.querySelector('#token-result')?.hidden}; #token-qr ` +
                               (img ? `<${img.tagName}> complete=${img.complete} naturalWidth=${img.naturalWidth}` : 'missing') +
                               `; #page-message "${document.querySelector('#page-message')?.textContent ?? ''}"`; } });
  const made = await page.evaluate(() => ({
    token: document.querySelector('#token-text')?.textContent.trim() ?? '',
    payload: document.querySelector('#token-payload')?.textContent.trim() ?? '',
    van: document.querySelector('#token-van-code')?.textContent.trim() ?? '',
    id: [...document.querySelectorAll('#token-result .token-facts dd code')].pop()?.textContent.trim() ?? '',
    qr: (() => { const i = document.querySelector('#token-qr'); return { w: i.naturalWidth, h: i.naturalHeight, alt: i.alt }; })(),
  }));
  step(P, `  token ${made.id} for ${made.van}: QR ${made.qr.w}x${made.qr.h} (alt "${made.qr.alt}"), payload ${made.payload}`);
  check(made.van === vanCode, `#token-van-code is "${made.van}", not ${vanCode}`);
  const parts = made.payload.split('|');
  check(parts.length === 5 && parts[0] === 'MPPQR1', `#token-payload is not MPPQR1|url|token|key|check: ${made.payload}`);
  check(parts[1] === base, `the payload's server URL is ${parts[1]}, not ${base}`);
  check(parts[2] === made.token && made.token.length > 0, `the payload's token ${parts[2]} is not #token-text ${made.token}`);
  check(parts[3] === fingerprint, `the payload's key ${parts[3]} is not the server's ${fingerprint}`);
  const sum8 = createHash('sha256').update(parts.slice(0, 4).join('|') + '|').digest('hex').slice(0, 8);
  check(parts[4] === sum8, `the payload's check ${parts[4]} is not ${sum8}`);
  const row = `#tokens-table tr[data-token-id="${made.id}"]`;
  const describeTokens = () => JSON.stringify([...document.querySelectorAll('#tokens-table tbody tr')]
    .map((r) => `${r.dataset.tokenId ?? '-'}: ${r.innerText.replace(/\s+/g, ' ').trim()}`));
  await waitUntil(page, `${row} listed as unused`,
    (sel) => document.querySelector(`${sel} [data-state]`)?.dataset.state === 'unused', row, { describe: describeTokens });
  const rowText = (await page.textContent(row)).replace(/\s+/g, ' ').trim();
  check(rowText.includes(vanCode), `the token's row does not name ${vanCode}: ${rowText}`);
  check(await page.locator(`${row} button.revoke-token`).count() === 1, 'the unused token offers no revoke button');
  step(P, `  row: ${rowText}`);
  await watch.shot('token-created');
  writeFileSync(env('TOKEN_OUT'), JSON.stringify({ id: made.id, payload: made.payload, token: made.token }));
});
