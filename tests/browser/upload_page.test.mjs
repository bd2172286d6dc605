// Browser test of the upload page served at `/`, against the real `local` mode
// (the function plus the strict OSS + STS emulator) in Debian's Chromium.
//
//   cargo build && node tests/browser/upload_page.test.mjs
//
// Binary: $OSS_DIRECT_UPLOAD_BIN or target/debug/oss-direct-upload.
// Chromium: $CHROMIUM_PATH or /usr/bin/chromium.
// Writes test-output/upload-page.png (desktop) and upload-page-phone.png.
// Prints one line per check and finally `N passed, M failed`; exits 1 on any failure.

import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import {
  makePng,
  REPO, OUT_DIR, check, step, finish, watchdog, startLocal, stopChild, launchChromium, accountGet, hs256Jwt, sha,
} from './lib.mjs';

const SDK_FILE = path.join(REPO, 'tests', 'peers', 'node_modules', 'ali-oss', 'dist', 'aliyun-oss-sdk.min.js');
const TOTAL_BUDGET_MS = 180_000;

// ---------------------------------------------------------------------------
// Fixtures
// ---------------------------------------------------------------------------

/** Serves only the ali-oss browser build, as a stand-in for Alibaba's CDN. */
function startSdkServer() {
  const hits = { count: 0 };
  const body = fs.readFileSync(SDK_FILE);
  const srv = http.createServer((req, res) => {
    if (req.url === '/aliyun-oss-sdk.min.js') {
      hits.count++;
      res.writeHead(200, { 'Content-Type': 'application/javascript', 'Content-Length': body.length });
      res.end(body);
    } else {
      res.writeHead(404).end();
    }
  });
  return new Promise((resolve) => srv.listen(0, '127.0.0.1', () => resolve({ srv, hits, port: srv.address().port })));
}

// ---------------------------------------------------------------------------
// Page helpers
// ---------------------------------------------------------------------------

/** Waits until every named row has finished (done or error); returns their state. */
async function waitForRows(page, mode, names, timeout = 30_000) {
  await page.waitForFunction(
    ({ mode, names }) => names.every((n) => {
      const row = [...document.querySelectorAll('#uploads li')].find((r) => r.dataset.mode === mode && r.dataset.name === n);
      // A finished upload is settled once its download link is signed (or failed to be).
      return row && ((row.dataset.state === 'done' && row.dataset.link) || row.dataset.state === 'error');
    }),
    { mode, names },
    { timeout, polling: 100 },
  );
  return page.evaluate(({ mode, names }) => names.map((n) => {
    const row = [...document.querySelectorAll('#uploads li')].find((r) => r.dataset.mode === mode && r.dataset.name === n);
    return {
      name: n,
      state: row.dataset.state,
      key: row.dataset.key || '',
      errorCode: row.dataset.errorCode || '',
      message: row.querySelector('.upload-msg').textContent,
      progress: row.querySelector('progress').value,
      pct: row.querySelector('.pct').textContent,
      href: row.querySelector('a.download')?.href || '',
      retry: !!row.querySelector('button.btn-primary'),
    };
  }), { mode, names });
}

/** Records every value each progress bar takes (to see progress move, not just jump). */
async function recordProgress(page) {
  await page.evaluate(() => {
    window.__progress = {};
    new MutationObserver((muts) => {
      for (const m of muts) {
        const bar = m.target;
        if (bar.tagName !== 'PROGRESS') continue;
        const row = bar.closest('li');
        const id = row.dataset.mode + '/' + row.dataset.name;
        // null records an indeterminate bar (its value attribute removed).
        (window.__progress[id] ??= []).push(bar.hasAttribute('value') ? bar.value : null);
      }
    }).observe(document.getElementById('uploads'), { subtree: true, attributes: true, attributeFilter: ['value'] });
  });
}

async function selectMode(page, mode) {
  await page.click(`#tab-${mode}`);
  await page.waitForSelector(`#panel-${mode}:not([hidden])`, { timeout: 5000 });
}

// ---------------------------------------------------------------------------
// The test
// ---------------------------------------------------------------------------

let localChild = null; // killed by the watchdog if the budget runs out

async function main() {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'upload-page-'));
  const cleanup = [];
  const disarm = watchdog(TOTAL_BUDGET_MS, () => localChild?.kill('SIGKILL'));
  try {
    const sdk = await startSdkServer();
    cleanup.push(() => new Promise((r) => sdk.srv.close(r)));
    const sdkUrl = `http://127.0.0.1:${sdk.port}/aliyun-oss-sdk.min.js`;
    const local = await startLocal(path.join(tmp, 'data'), { AUTH_MODE: 'anonymous', ALI_OSS_SCRIPT_URL: sdkUrl }, ['--no-trigger']);
    localChild = local.child;
    cleanup.push(() => stopChild(local.child));

    const context = await launchChromium(path.join(tmp, 'chromium'));
    cleanup.push(() => context.close());
    const page = context.pages()[0] || (await context.newPage());
    const pageErrors = [];
    page.on('pageerror', (e) => pageErrors.push(e.message));
    const ossAuth = []; // Authorization schemes the browser sent to the emulator
    page.on('request', (req) => {
      if (req.url().startsWith(local.emulator)) {
        const auth = req.headers().authorization;
        if (auth) ossAuth.push(auth.split(' ')[0]);
      }
    });

    // --- Loading ----------------------------------------------------------
    await page.goto(local.base + '/', { waitUntil: 'domcontentloaded' });
    await page.waitForSelector('body[data-ready="true"]', { timeout: 10_000 });
    const cfg = await (await fetch(local.base + '/v1/config')).json();
    check('page reads /v1/config and shows the bucket', (await page.textContent('#config')).includes(cfg.bucket));
    check('auth field hidden in anonymous mode', await page.isHidden('#auth'));

    // --- Accessibility basics ---------------------------------------------
    await step('tabs are keyboard operable with ARIA roles', async () => {
      const roles = await page.evaluate(() => ({
        tablist: document.querySelectorAll('[role=tablist]').length,
        tabs: document.querySelectorAll('[role=tab][aria-controls]').length,
        panels: document.querySelectorAll('[role=tabpanel][aria-labelledby]').length,
        live: document.querySelectorAll('[aria-live=polite]').length,
        fileLabel: !!document.querySelector('label[for=files]'),
      }));
      await page.focus('#tab-sts');
      await page.keyboard.press('ArrowRight');
      const afterRight = await page.evaluate(() => [document.activeElement.id, document.querySelector('#tab-post').getAttribute('aria-selected'), document.querySelector('#panel-post').hidden]);
      await page.keyboard.press('End');
      const afterEnd = await page.evaluate(() => [document.activeElement.id, document.querySelector('#tab-put').tabIndex]);
      await page.keyboard.press('Home');
      const afterHome = await page.evaluate(() => [document.activeElement.id, document.querySelector('#panel-sts').hidden]);
      check('tabs are keyboard operable with ARIA roles',
        roles.tablist === 1 && roles.tabs === 3 && roles.panels === 3 && roles.live >= 1 && roles.fileLabel &&
        afterRight.join() === 'tab-post,true,false' && afterEnd.join() === 'tab-put,0' && afterHome.join() === 'tab-sts,false',
        JSON.stringify({ roles, afterRight, afterEnd, afterHome }));
    });

    await recordProgress(page);

    // --- Uploads, three ways ------------------------------------------------
    const png = makePng(96, 64);
    const bigTypes = { sts: 'video/mp4', post: 'application/zip', put: 'application/octet-stream' };
    const expected = new Map(); // "mode/name" -> {bytes, type}
    for (const mode of ['sts', 'post', 'put']) {
      await step(`${mode}: uploads`, async () => {
        await selectMode(page, mode);
        const small = { name: `photo-${mode}.png`, mimeType: 'image/png', buffer: png };
        const bigExt = { 'video/mp4': 'mp4', 'application/zip': 'zip', 'application/octet-stream': 'bin' }[bigTypes[mode]];
        const big = { name: `sample-${mode}.${bigExt}`, mimeType: bigTypes[mode], buffer: crypto.randomBytes(3 * 1024 * 1024 + 123_457) };
        for (const f of [small, big]) expected.set(`${mode}/${f.name}`, { bytes: f.buffer, type: f.mimeType });
        if (mode === 'post') {
          // Drag-and-drop for the PNG, the file picker for the big one.
          const dt = await page.evaluateHandle(({ b64, name, type }) => {
            const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
            const data = new DataTransfer();
            data.items.add(new File([bytes], name, { type }));
            return data;
          }, { b64: png.toString('base64'), name: small.name, type: 'image/png' });
          await page.dispatchEvent('#drop', 'drop', { dataTransfer: dt });
          await page.setInputFiles('#files', [big]);
        } else {
          await page.setInputFiles('#files', [small, big]);
        }
        const rows = await waitForRows(page, mode, [small.name, big.name]);
        for (const r of rows) {
          check(`${mode}: ${r.name} uploaded, progress 100%`,
            r.state === 'done' && r.progress === 100 && r.pct === '100%' && r.key.startsWith(cfg.prefix),
            JSON.stringify(r));
          expected.get(`${mode}/${r.name}`).row = r;
        }
      });
    }

    await step('progress moved through intermediate values', async () => {
      const seen = await page.evaluate(() => window.__progress);
      const big = seen['sts/sample-sts.mp4'] || [];
      check('sts: progress bar moved through intermediate values (multipart)',
        big.some((v) => v > 0 && v < 100) && big.includes(100), JSON.stringify(big));
      // POST goes through XHR, so its bar is a real percentage (never indeterminate).
      const post = seen['post/sample-post.zip'] || [];
      check('post: progress bar is a real percentage throughout and reaches 100%',
        post.length > 0 && post.includes(100) && post.every((v) => v !== null && v >= 0 && v <= 100), JSON.stringify(post));
    });
    check('ali-oss loaded from ALI_OSS_SCRIPT_URL', sdk.hits.count >= 1, `hits=${sdk.hits.count}`);
    if (cfg.signatureVersion === 'v4') {
      check('ali-oss signed its requests with V4', ossAuth.includes('OSS4-HMAC-SHA256'), JSON.stringify([...new Set(ossAuth)]));
    }

    // --- What landed in the emulator ------------------------------------------
    for (const [id, exp] of expected) {
      await step(`${id} stored`, async () => {
        if (!exp.row || exp.row.state !== 'done') throw new Error('not uploaded');
        const got = await accountGet(local.emulator, cfg.bucket, exp.row.key);
        check(`${id}: emulator has the right bytes and Content-Type (account key)`,
          got.status === 200 && sha(got.body) === sha(exp.bytes) && got.type === exp.type,
          `status=${got.status} type=${got.type} size=${got.body.length}/${exp.bytes.length}`);
        const link = await fetch(exp.row.href, { signal: AbortSignal.timeout(10_000) });
        const body = Buffer.from(await link.arrayBuffer());
        check(`${id}: page's presigned GET link downloads it back`,
          link.status === 200 && sha(body) === sha(exp.bytes), `status=${link.status} href=${exp.row.href}`);
      });
    }

    await step('desktop screenshot', async () => {
      fs.mkdirSync(OUT_DIR, { recursive: true });
      await selectMode(page, 'sts'); // the tab the README describes first
      await page.evaluate(() => window.scrollTo(0, 0));
      await page.screenshot({ path: path.join(OUT_DIR, 'upload-page.png'), fullPage: true });
      check('screenshot saved to test-output/upload-page.png', fs.statSync(path.join(OUT_DIR, 'upload-page.png')).size > 10_000);
    });

    // --- Refusals ------------------------------------------------------------
    const html = Buffer.from('<!doctype html><script>alert(1)</script>');
    for (const mode of ['put', 'post', 'sts']) {
      await step(`${mode}: text/html refused`, async () => {
        await selectMode(page, mode);
        const name = `evil-${mode}.html`;
        await page.setInputFiles('#files', [{ name, mimeType: 'text/html', buffer: html }]);
        const [r] = await waitForRows(page, mode, [name], 15_000);
        const status = await page.textContent('#status');
        // Sending the same file again cannot succeed, so there is no Retry (issue 17).
        check(`${mode}: a text/html upload is refused with a visible error and no Retry`,
          r.state === 'error' && r.errorCode === 'ContentTypeNotAllowed' && r.message.includes('not allowed') &&
            r.message.includes('cannot change that') && !r.retry && status.includes(name),
          JSON.stringify({ r, status }));
      });
    }

    // --- A failing token fetch: automatic backoff, then Retry ---------------
    await step('failed token fetch', async () => {
      await selectMode(page, 'put');
      let hits = 0;
      const failing = (route) => {
        hits++;
        return route.fulfill({ status: 503, contentType: 'application/json', body: JSON.stringify({ error: { code: 'StsUnavailable', message: 'STS is down (simulated)' } }) });
      };
      await page.route('**/v1/presign', failing);
      const name = 'retry-me.png';
      const started = Date.now();
      await page.setInputFiles('#files', [{ name, mimeType: 'image/png', buffer: png }]);
      const [r] = await waitForRows(page, 'put', [name], 15_000);
      const elapsed = Date.now() - started;
      check('a failed token fetch is retried with backoff, then shows the error and Retry',
        r.state === 'error' && hits === 3 && elapsed >= 900 && r.retry && r.message.includes('Could not get upload permission') && r.message.includes('STS is down'),
        JSON.stringify({ r, hits, elapsed }));
      await page.unroute('**/v1/presign', failing);
      await page.click(`#uploads li[data-name="${name}"] button.btn-primary`);
      await page.waitForSelector(`#uploads li[data-name="${name}"][data-state="done"]`, { timeout: 15_000 });
      const key = await page.getAttribute(`#uploads li[data-name="${name}"]`, 'data-key');
      const got = await accountGet(local.emulator, cfg.bucket, key);
      check('Retry uploads it once the function answers again', got.status === 200 && sha(got.body) === sha(png), `status=${got.status}`);
    });

    // --- Phone width -----------------------------------------------------------
    await step('phone width', async () => {
      await page.setViewportSize({ width: 375, height: 812 });
      await page.evaluate(() => window.scrollTo(0, 0));
      const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
      await page.screenshot({ path: path.join(OUT_DIR, 'upload-page-phone.png'), fullPage: false });
      check('no horizontal scrolling at 375 px', overflow <= 0, `overflow=${overflow}px`);
    });

    // --- authMode jwt: the token field --------------------------------------
    await step('jwt mode', async () => {
      const secret = crypto.randomBytes(32).toString('hex');
      const jwtLocal = await startLocal(path.join(tmp, 'data-jwt'), { AUTH_MODE: 'jwt', JWT_SECRET: secret, ALI_OSS_SCRIPT_URL: sdkUrl }, ['--no-trigger']);
      cleanup.push(() => stopChild(jwtLocal.child));
      const jwtPage = await context.newPage();
      jwtPage.on('pageerror', (e) => pageErrors.push(e.message));
      const bearer = [];
      jwtPage.on('request', (req) => {
        if (req.url().startsWith(jwtLocal.base + '/v1/')) bearer.push(req.headers().authorization || '');
      });
      await jwtPage.goto(jwtLocal.base + '/', { waitUntil: 'domcontentloaded' });
      await jwtPage.waitForSelector('body[data-ready="true"]', { timeout: 10_000 });
      check('jwt: the token field is shown and labelled', await jwtPage.isVisible('#token') &&
        (await jwtPage.textContent('label[for=token]')).includes('Bearer token'));
      await selectMode(jwtPage, 'put');
      const name = 'with-token.png';
      await jwtPage.setInputFiles('#files', [{ name, mimeType: 'image/png', buffer: png }]);
      const [before] = await waitForRows(jwtPage, 'put', [name], 10_000);
      check('jwt: without a token the page asks for one, with Retry', before.state === 'error' && before.retry &&
        before.message.includes('bearer token'), JSON.stringify(before));
      const token = hs256Jwt(secret, 'alice');
      await jwtPage.fill('#token', token);
      await jwtPage.click(`#uploads li[data-name="${name}"] button.btn-primary`);
      await jwtPage.waitForSelector(`#uploads li[data-name="${name}"][data-state="done"]`, { timeout: 15_000 });
      const key = await jwtPage.getAttribute(`#uploads li[data-name="${name}"]`, 'data-key');
      const jwtCfg = await (await fetch(jwtLocal.base + '/v1/config')).json();
      const got = await accountGet(jwtLocal.emulator, jwtCfg.bucket, key);
      check('jwt: the upload is sent with Authorization: Bearer and lands under the user prefix',
        got.status === 200 && sha(got.body) === sha(png) && key.includes('alice') && bearer.includes('Bearer ' + token),
        JSON.stringify({ key, status: got.status, bearer: bearer.map((b) => b.slice(0, 12)) }));
      const stored = await jwtPage.evaluate(() => JSON.stringify({ ...localStorage }) + JSON.stringify({ ...sessionStorage }) + document.cookie);
      check('jwt: the token is not stored (localStorage, sessionStorage, cookies)', !stored.includes(token.slice(-20)), stored.slice(0, 200));
      await jwtPage.close();
    });

    check('no uncaught errors in the page', pageErrors.length === 0, pageErrors.join(' | '));
  } catch (e) {
    check('test ran to the end', false, (e && e.stack) || String(e));
  } finally {
    for (const fn of cleanup.reverse()) {
      await Promise.race([fn().catch(() => {}), new Promise((r) => setTimeout(r, 5000))]);
    }
    fs.rmSync(tmp, { recursive: true, force: true });
    disarm();
  }
  finish();
}

main();
