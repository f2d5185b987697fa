// What the dashboard phases share: the browser (Debian's /usr/bin/chromium through playwright-core,
// headless, never a downloaded one), a watch on the page (console errors, page errors, dialogs,
// failed responses), numbered screenshots and small waiting helpers.
//
// Every expectation fails with a message naming what was expected and what the page showed.
import { chromium } from 'playwright-core';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';

// How long one step may wait for the page (a wait's own bound; playwright's default too).
export const STEP_TIMEOUT_MS = Number(process.env.STEP_TIMEOUT_MS || 15000);

export function env(name) {
  const value = process.env[name];
  if (value === undefined || value === '') throw new Error(`environment variable ${name} is not set`);
  return value;
}

export function check(condition, message) {
  if (!condition) throw new Error(message);
}

// A fixed-size step log on stdout, so that the runner's output reads as one story.
export function step(phase, text) {
  console.log(`[${phase}] ${text}`);
}

// Watches one page. Console messages of type "error" and uncaught exceptions are errors, except
// the browser's own "Failed to load resource" line for an HTTP answer that the test expects (a
// 401 from the session probe, the wrong password, a 404 for another agency's request): those are
// allowed by status and path, nothing wider.
export class Watch {
  constructor(page, phase, screenshotDir) {
    this.page = page;
    this.phase = phase;
    this.dir = screenshotDir;
    this.shots = 0;
    this.errors = [];
    this.dialogs = [];
    this.responses = [];
    this.requests = [];  // every URL the page asked for, answered or not
    page.on('request', (request) => this.requests.push(request.url()));
    // [status, RegExp on the path]: always allowed. GET /api/me answers 401 when no session is
    // open (the dashboard asks it on load and after logout to know whether to show the login).
    this.allowed = [[401, /^\/api\/me$/]];
    mkdirSync(this.dir, { recursive: true });
    page.on('console', (msg) => {
      if (msg.type() !== 'error') return;
      const text = msg.text();
      const url = msg.location()?.url ?? '';
      if (/^Failed to load resource: the server responded with a status of \d+/.test(text)) {
        const status = Number(/status of (\d+)/.exec(text)[1]);
        if (this.isAllowed(status, url)) return;
      }
      this.errors.push(`console error: ${text}${url ? ` (at ${url})` : ''}`);
    });
    page.on('pageerror', (err) => this.errors.push(`page error: ${err.stack || err.message}`));
    // Dialogs are errors (dismissed), except one a step expects (acceptingDialog): accepted.
    this.expectedDialogs = [];
    page.on('dialog', async (dialog) => {
      this.dialogs.push(`${dialog.type()}: ${dialog.message()}`);
      const expected = this.expectedDialogs.find((d) => d.type === dialog.type() && d.re.test(dialog.message()));
      if (expected) {
        expected.seen.push(dialog.message());
        await dialog.accept().catch((e) => this.errors.push(`could not accept the dialog: ${e.message}`));
        return;
      }
      this.errors.push(`a dialog opened (${dialog.type()}: ${JSON.stringify(dialog.message())})`);
      await dialog.dismiss().catch(() => {});
    });
    page.on('response', (response) => {
      const url = new URL(response.url());
      const entry = { status: response.status(), method: response.request().method(),
                      path: url.pathname, url: response.url() };
      this.responses.push(entry);
      if (entry.status >= 500) {
        this.errors.push(`server error: ${entry.method} ${entry.path} answered ${entry.status}`);
      }
    });
  }

  isAllowed(status, url) {
    let path = url;
    try { path = new URL(url).pathname; } catch { /* keep as is */ }
    return this.allowed.some(([s, re]) => s === status && re.test(path));
  }

  // Runs fn while a refusal with `status` on paths matching `pathRe` is expected.
  async expecting(status, pathRe, fn) {
    const entry = [status, pathRe];
    this.allowed.push(entry);
    try {
      return await fn();
    } finally {
      // Console lines arrive asynchronously: let the ones of this step come in before closing.
      await this.page.waitForTimeout(300);
      this.allowed.splice(this.allowed.indexOf(entry), 1);
    }
  }

  // Runs fn while one dialog of `type` (confirm, alert...) whose message matches `messageRe` is
  // expected: it is accepted, not an error. Fails unless exactly one such dialog opened. Answers
  // [fn's result, the dialog's message].
  async acceptingDialog(type, messageRe, fn) {
    const entry = { type, re: messageRe, seen: [] };
    this.expectedDialogs.push(entry);
    let result;
    try {
      result = await fn();
      await pollUntil(`a ${type}() dialog matching ${messageRe}`, () => entry.seen.length > 0);
    } finally {
      this.expectedDialogs.splice(this.expectedDialogs.indexOf(entry), 1);
    }
    check(entry.seen.length === 1, `${entry.seen.length} ${type}() dialogs opened, not one: ${JSON.stringify(entry.seen)}`);
    return [result, entry.seen[0]];
  }

  async shot(name) {
    this.shots += 1;
    const file = join(this.dir, `${this.phase}-${String(this.shots).padStart(2, '0')}-${name}.png`);
    await this.page.screenshot({ path: file, fullPage: true });
    step(this.phase, `  screenshot ${file} (${this.page.url()})`);
    return file;
  }

  assertClean(where) {
    if (this.errors.length > 0) {
      throw new Error(`${where}: ${this.errors.length} error(s) in the page:\n  ` +
                      this.errors.join('\n  '));
    }
  }
}

// Launches Chromium, runs body(page, watch) and closes everything; exits nonzero on failure
// (after a screenshot of the page as it was) or when the whole phase takes longer than
// PHASE_TIMEOUT_MS.
export async function runPhase(phase, body) {
  const limitMs = Number(process.env.PHASE_TIMEOUT_MS || 100000);
  const timer = setTimeout(() => {
    console.error(`[${phase}] FAILED: the phase took longer than ${limitMs} ms`);
    process.exit(3);  // playwright's exit handler ends the browser it launched
  }, limitMs);
  let browser;
  let watch;
  let ok = false;
  try {
    browser = await chromium.launch({
      executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
      headless: true,
      args: ['--no-sandbox'],
    });
    step(phase, `Chromium ${browser.version()}`);
    // VIEWPORT=WxH: the van's 10-inch tablet is 1280x800; the staff's office screen 1366x768.
    const [width, height] = (process.env.VIEWPORT || '1366x768').split('x').map(Number);
    const context = await browser.newContext({ viewport: { width, height } });
    const page = await context.newPage();
    page.setDefaultTimeout(STEP_TIMEOUT_MS);
    watch = new Watch(page, phase, env('SCREENSHOT_DIR'));
    await body(page, watch);
    watch.assertClean(`${phase} (at the end)`);
    ok = true;
    step(phase, 'passed');
  } catch (e) {
    console.error(`[${phase}] FAILED: ${e.stack || e}`);
    if (watch) {
      if (watch.errors.length) console.error(`[${phase}] errors seen in the page:\n  ${watch.errors.join('\n  ')}`);
      const failed = watch.responses.filter((r) => r.status >= 400);
      if (failed.length) {
        console.error(`[${phase}] refused HTTP answers:\n  ` +
                      failed.map((r) => `${r.method} ${r.path} -> ${r.status}`).join('\n  '));
      }
      await watch.shot('failure').catch(() => {});
      const body = await watch.page.evaluate(() => document.body?.innerText ?? '').catch(() => '');
      console.error(`[${phase}] page text at the failure (${watch.page.url()}):\n` +
                    body.slice(0, 3000));
    }
  } finally {
    clearTimeout(timer);
    if (browser) await browser.close().catch(() => {});
  }
  process.exitCode = ok ? 0 : 1;
}

// Waits until fn (run in the page with arg) returns a truthy value; fails saying `what`, with the
// last value describe (also run in the page) gave.
export async function waitUntil(page, what, fn, arg, { timeout = STEP_TIMEOUT_MS, describe } = {}) {
  try {
    return await page.waitForFunction(fn, arg, { timeout, polling: 100 });
  } catch (e) {
    let seen = '';
    if (describe) seen = await page.evaluate(describe, arg).catch((x) => `(could not read: ${x.message})`);
    throw new Error(`timed out after ${timeout} ms waiting for ${what}${seen ? `; the page shows: ${seen}` : ''}`);
  }
}

// Polls fn (in node) every 200 ms until it answers a truthy value, at most `timeout` ms.
export async function pollUntil(what, fn, { timeout = STEP_TIMEOUT_MS } = {}) {
  const end = Date.now() + timeout;
  let last;
  for (;;) {
    try {
      last = await fn();
      if (last) return last;
    } catch (e) {
      last = e.message;
    }
    if (Date.now() > end) throw new Error(`timed out after ${timeout} ms waiting for ${what} (last: ${last})`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

// The ids of the inbox's rows, in order.
export async function inboxIds(page) {
  return page.$$eval('#inbox-table tbody tr[data-id]', (rows) => rows.map((r) => r.dataset.id));
}

export function describeInbox() {
  const rows = [...document.querySelectorAll('#inbox-table tbody tr[data-id]')];
  return JSON.stringify(rows.map((r) => `${r.dataset.id}: ${r.innerText.replace(/\s+/g, ' ').trim()}`));
}

// Waits for the inbox to hold exactly the rows `ids` (any order) and answers them.
export async function waitInboxExactly(page, ids, what) {
  await waitUntil(page, what, (want) => {
    const got = [...document.querySelectorAll('#inbox-table tbody tr[data-id]')].map((r) => r.dataset.id);
    return got.length === want.length && want.every((id) => got.includes(id));
  }, ids, { describe: describeInbox });
}

export async function login(page, watch, user, password) {
  await page.waitForSelector('#login-form', { state: 'visible' });
  await page.fill('#login-user', user);
  await page.fill('#login-password', password);
  await page.click('#login-submit');
  await waitUntil(page, `the inbox after ${user} logs in`,
    () => document.querySelector('#inbox-table') !== null &&
          document.querySelector('#inbox-table').offsetParent !== null &&
          location.hash.startsWith('#/inbox'),
    null, { describe: () => `${location.hash} ${document.body.innerText.slice(0, 300)}` });
  await waitUntil(page, `#whoami to name ${user}`,
    (u) => (document.querySelector('#whoami')?.textContent ?? '').includes(u), user,
    { describe: () => document.querySelector('#whoami')?.textContent ?? '(no #whoami)' });
}

export async function logout(page) {
  await page.click('#logout');
  await page.waitForSelector('#login-form', { state: 'visible' });
  await waitUntil(page, 'the login page after logout', () => location.hash.startsWith('#/login') ||
                  document.querySelector('#login-form')?.offsetParent !== null, null);
}

// Goes to a hash route inside the loaded dashboard (no reload).
export async function route(page, hash) {
  await page.evaluate((h) => { location.hash = h; }, hash);
}

// The status a request's detail page shows: its element's data-status when it has one, else its
// text. `names` maps a status to the words the dashboard may use for it.
export async function detailStatus(page) {
  return page.$eval('#detail-status', (el) => ({
    data: el.dataset.status ?? el.getAttribute('data-status') ?? '',
    text: el.textContent.trim(),
  }));
}
