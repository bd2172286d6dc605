// Local mode is offline for real: the upload page, in Debian's Chromium with
// every request that is not to the loopback interface failed, still uploads
// through the STS tab (ali-oss comes from the function itself) and the other
// two. Also: when ali-oss cannot be loaded the error names ALI_OSS_SCRIPT_URL
// and offers Retry; a file the rules refuse gets no Retry. Writes
// test-output/upload-page-offline.png (README's docs/upload-page.png).
//
//   cargo build --features local && node tests/browser/offline.test.mjs
//
// Prints one line per check and finally `N passed, M failed`; exits 1 on any failure.

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  makePng, sha, OUT_DIR, check, step, finish, watchdog, startLocal, stopChild, launchChromium, accountGet,
} from './lib.mjs';

const TOTAL_BUDGET_MS = 120_000;
const LOOPBACK = new Set(['127.0.0.1', 'localhost', '[::1]']);

/** Fails every request that leaves the machine; returns the list of what was tried. */
async function blockTheNetwork(context) {
  const blocked = [];
  await context.route('**/*', (route) => {
    const url = new URL(route.request().url());
    if (LOOPBACK.has(url.hostname)) return route.continue();
    blocked.push(url.href);
    return route.abort('internetdisconnected');
  });
  return blocked;
}

async function upload(page, mode, file) {
  await page.click(`#tab-${mode}`);
  await page.waitForSelector(`#panel-${mode}:not([hidden])`, { timeout: 5000 });
  await page.setInputFiles('#files', [file]);
  const sel = `#uploads li[data-mode="${mode}"][data-name="${file.name}"]`;
  await page.waitForSelector(`${sel}[data-state="done"], ${sel}[data-state="error"]`, { timeout: 30_000 });
  return page.$eval(sel, (row) => ({
    state: row.dataset.state,
    key: row.dataset.key || '',
    code: row.dataset.errorCode || '',
    message: row.querySelector('.upload-msg').textContent,
    retry: !!row.querySelector('button.btn-primary'),
  }));
}

let child = null;

async function main() {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'offline-'));
  const cleanup = [];
  const disarm = watchdog(TOTAL_BUDGET_MS, () => child?.kill('SIGKILL'));
  try {
    // No ALI_OSS_SCRIPT_URL: local mode's own default.
    const env = { ...process.env, AUTH_MODE: 'anonymous' };
    delete env.ALI_OSS_SCRIPT_URL;
    const local = await startLocal(path.join(tmp, 'data'), env);
    child = local.child;
    cleanup.push(() => stopChild(local.child));
    const context = await launchChromium(path.join(tmp, 'chromium'));
    cleanup.push(() => context.close());
    const blocked = await blockTheNetwork(context);
    const page = context.pages()[0] || (await context.newPage());
    const pageErrors = [];
    page.on('pageerror', (e) => pageErrors.push(e.message));
    const scripts = [];
    page.on('request', (req) => { if (req.resourceType() === 'script') scripts.push(req.url()); });

    await step('the page works with the network cut off', async () => {
      await page.goto(local.base + '/', { waitUntil: 'domcontentloaded' });
      await page.waitForSelector('body[data-ready="true"]', { timeout: 10_000 });
      const png = makePng(40, 30);
      for (const mode of ['sts', 'post', 'put']) {
        const name = `offline-${mode}.png`;
        const r = await upload(page, mode, { name, mimeType: 'image/png', buffer: png });
        const got = r.key ? await accountGet(local.emulator, local.config.bucket, r.key) : { status: 0 };
        check(`${mode}: uploads offline, the bytes land`, r.state === 'done' && got.status === 200 && sha(got.body) === sha(png),
          JSON.stringify({ r, status: got.status }));
      }
      // Each row shows the check's verdict (local mode plays the OSS trigger); README's screenshot.
      await page.waitForFunction(() => [...document.querySelectorAll('#uploads li')].every((r) => r.dataset.verdict),
        null, { timeout: 30_000 });
      const verdicts = await page.$$eval('#uploads li', (rows) => rows.map((r) => r.dataset.verdict));
      check('every upload is verified on the page', verdicts.length === 3 && verdicts.every((v) => v === 'verified'),
        JSON.stringify(verdicts));
      await page.evaluate(() => window.scrollTo(0, 0));
      fs.mkdirSync(OUT_DIR, { recursive: true });
      await page.screenshot({ path: path.join(OUT_DIR, 'upload-page-offline.png'), fullPage: true });
      check('screenshot saved to test-output/upload-page-offline.png',
        fs.statSync(path.join(OUT_DIR, 'upload-page-offline.png')).size > 10_000);
      check('ali-oss came from the function itself', scripts.includes(local.base + '/vendor/aliyun-oss-sdk.min.js'),
        JSON.stringify(scripts));
      check('nothing outside the machine was asked for', blocked.length === 0, JSON.stringify(blocked));
      check('no page errors', pageErrors.length === 0, JSON.stringify(pageErrors));
    });

    await step('a refused file gets no Retry', async () => {
      const r = await upload(page, 'sts', { name: 'page.html', mimeType: 'text/html', buffer: Buffer.from('<p>hi</p>') });
      check('sts: text/html is refused with no Retry', r.state === 'error' && r.code === 'ContentTypeNotAllowed' && !r.retry,
        JSON.stringify(r));
    });

    await step('ali-oss out of reach', async () => {
      // A deployment whose ALI_OSS_SCRIPT_URL the browser cannot reach (here: blocked, not on loopback).
      const far = await startLocal(path.join(tmp, 'data-far'),
        { ...env, ALI_OSS_SCRIPT_URL: 'https://cdn.invalid/aliyun-oss-sdk.min.js' }, ['--no-trigger']);
      cleanup.push(() => stopChild(far.child));
      const farPage = await context.newPage();
      await farPage.goto(far.base + '/', { waitUntil: 'domcontentloaded' });
      await farPage.waitForSelector('body[data-ready="true"]', { timeout: 10_000 });
      const r = await upload(farPage, 'sts', { name: 'far.png', mimeType: 'image/png', buffer: makePng(8, 8) });
      check('the error names ALI_OSS_SCRIPT_URL and offers Retry',
        r.state === 'error' && r.message.includes('ALI_OSS_SCRIPT_URL') && r.message.includes('https://cdn.invalid/') && r.retry,
        JSON.stringify(r));
      check('the blocked request was the configured URL', blocked.includes('https://cdn.invalid/aliyun-oss-sdk.min.js'),
        JSON.stringify(blocked));
    });
  } finally {
    for (const f of cleanup.reverse()) await f().catch(() => {});
    disarm();
  }
  finish();
}

main().catch((e) => {
  check('offline test ran', false, (e && e.stack) || String(e));
  finish();
});
