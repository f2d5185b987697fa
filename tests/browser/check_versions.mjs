// Checks that the browser tests can run here: Debian's /usr/bin/chromium must be the Chromium
// major that the pinned playwright-core drives (its browsers.json), and node new enough for it.
// Prints one line and exits 0 when they match; otherwise one line saying what to do, exit 1.
//
//   node tests/browser/check_versions.mjs [--chromium /usr/bin/chromium]
import { execFileSync } from 'node:child_process';
import { readFileSync, existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const argIndex = process.argv.indexOf('--chromium');
const chromium = argIndex > 0 ? process.argv[argIndex + 1] : '/usr/bin/chromium';

function fail(message) {
  console.log(`check_versions: ${message}`);
  process.exit(1);
}

const pwDir = join(here, 'node_modules', 'playwright-core');
if (!existsSync(join(pwDir, 'package.json'))) {
  fail('tests/browser/node_modules/playwright-core is missing: run tools/setup.sh');
}
const pw = JSON.parse(readFileSync(join(pwDir, 'package.json'), 'utf8'));
const browsers = JSON.parse(readFileSync(join(pwDir, 'browsers.json'), 'utf8')).browsers;
const expected = browsers.find((b) => b.name === 'chromium')?.browserVersion;
if (!expected) fail(`playwright-core ${pw.version} names no chromium in its browsers.json`);
const expectedMajor = Number(expected.split('.')[0]);

const nodeNeed = /(\d+)/.exec(pw.engines?.node ?? '')?.[1];
const nodeMajor = Number(process.versions.node.split('.')[0]);
if (nodeNeed && nodeMajor < Number(nodeNeed)) {
  fail(`node is ${process.versions.node} but playwright-core ${pw.version} needs ${pw.engines.node}`);
}

if (!existsSync(chromium)) fail(`${chromium} is missing: run tools/setup.sh (Debian package chromium)`);
let versionText;
try {
  versionText = execFileSync(chromium, ['--version'], {
    encoding: 'utf8', timeout: 30000, stdio: ['ignore', 'pipe', 'ignore'],
  });
} catch (e) {
  fail(`${chromium} --version failed: ${e.message.split('\n')[0]}`);
}
const m = /(\d+)\.\d+\.\d+\.\d+/.exec(versionText);
if (!m) fail(`cannot read a version in ${chromium} --version: ${JSON.stringify(versionText.trim())}`);
const debianMajor = Number(m[1]);

if (debianMajor !== expectedMajor) {
  fail(`Debian's chromium is ${debianMajor} but playwright-core ${pw.version} drives ${expectedMajor}: ` +
    'update tests/browser/package.json (a playwright-core whose browsers.json chromium has that ' +
    'major) and its package-lock.json');
}
console.log(`check_versions: chromium ${m[0]} (major ${debianMajor}) matches playwright-core ` +
  `${pw.version} (chromium ${expected}); node ${process.versions.node}`);
