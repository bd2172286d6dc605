// Browser test of the upload page's multipart flow (presigned mode, large
// file), against the real `local` mode in Debian's Chromium:
//
//   cargo build && node tests/browser/page_multipart.test.mjs
//
// A file of three parts goes up through the page while playwright holds part
// requests on their way to the emulator, so every step happens at a known
// point, never after a guessed delay: pause with parts in flight, resume in
// the page, pause again, reload, choose the file again (the page lists the
// parts OSS already has and sends only the missing one), one part failing
// once and retried on its own, and the answer to Complete lost after OSS
// completed (the page must notice the object is there rather than upload it
// again). The stored object is then read back from the emulator with the
// account key. Then Discard (the upload is aborted) and, under an upload
// profile without multipart, a large file as one presigned PUT. Writes test-output/upload-page-multipart.png (and -phone.png).

import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  OUT_DIR, check, step, finish, watchdog, startLocal, stopChild, launchChromium, accountGet, accountList, sha,
} from './lib.mjs';

const HANG_GUARD_MS = 240_000;
const MiB = 1024 * 1024;

/**
 * Resolves when `predicate()` holds; re-checked whenever `poke()` is called.
 * Gives up after a minute (a hang guard, not a timing check) with `describe()`.
 */
function waiter(describe) {
  const waits = [];
  return {
    until(predicate) {
      if (predicate()) return Promise.resolve();
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error('stuck waiting: ' + describe())), 60_000);
        waits.push({ predicate, resolve: () => (clearTimeout(timer), resolve()) });
      });
    },
    poke() {
      for (const w of waits.splice(0)) (w.predicate() ? w.resolve() : waits.push(w));
    },
  };
}

async function rowState(page, name) {
  return page.evaluate((name) => {
    const row = document.querySelector(`#uploads li[data-name="${name}"]`);
    if (!row) return null;
    return {
      state: row.dataset.state,
      key: row.dataset.key || '',
      progress: row.querySelector('progress').value,
      message: row.querySelector('.upload-msg').textContent,
      buttons: [...row.querySelectorAll('.upload-actions button')].map((b) => b.getAttribute('aria-label')),
      rows: document.querySelectorAll(`#uploads li[data-name="${name}"]`).length,
    };
  }, name);
}

const waitForState = (page, name, state) =>
  page.waitForSelector(`#uploads li[data-name="${name}"][data-state="${state}"]`, { timeout: 60_000 });

const savedUploads = (page) => page.evaluate(() => JSON.parse(localStorage.getItem('oss-direct-upload.multipart') || '{}'));

let localChild = null;

async function main() {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'page-multipart-'));
  const cleanup = [];
  const disarm = watchdog(HANG_GUARD_MS, () => localChild?.kill('SIGKILL'));
  try {
    // Random bytes stand in for a big file: keep the upload check off. One
    // extra upload profile allows presigned PUTs but not multipart (step E).
    const profiles = path.join(tmp, 'profiles.toml');
    fs.writeFileSync(profiles, '[[profile]]\nname = "single"\nprefix = "singles/"\ncontent_types = ["application/zip"]\n' +
      'max_bytes = 33554432\nmethods = ["presign"]\n');
    const local = await startLocal(path.join(tmp, 'data'), { AUTH_MODE: 'anonymous', PROFILES_FILE: profiles }, ['--no-trigger']);
    localChild = local.child;
    cleanup.push(() => stopChild(local.child));
    const cfg = local.config;
    const context = await launchChromium(path.join(tmp, 'chromium'));
    cleanup.push(() => context.close());
    const page = context.pages()[0] || (await context.newPage());
    const pageErrors = [];
    page.on('pageerror', (e) => pageErrors.push(e.message));

    // A real file on disk (its mtime is what lets the page recognise it after a reload).
    const name = 'archive.zip';
    const bytes = crypto.randomBytes(20 * MiB + 12_345);
    const file = path.join(tmp, name);
    fs.writeFileSync(file, bytes);

    // Part uploads on their way to the emulator. `plan[n]` says what happens
    // to the next request for part n: 'pass', 'hold' (until released) or
    // 'fail' (a 503 from "OSS", once).
    const plan = {};
    const sent = []; // {n, phase, outcome}
    const held = [];
    const events = waiter(() => JSON.stringify({ phase, sent, partsDone, held: held.length }));
    let phase = 'A';
    await page.route((url) => url.href.startsWith(local.emulator) && url.searchParams.has('partNumber'), async (route) => {
      const req = route.request();
      if (req.method() !== 'PUT') return route.continue();
      const n = Number(new URL(req.url()).searchParams.get('partNumber'));
      const what = plan[n] || 'pass';
      sent.push({ n, phase, what });
      if (what === 'hold') {
        held.push(route);
        events.poke();
        return;
      }
      if (what === 'fail') {
        plan[n] = 'pass';
        const origin = req.headers().origin || '*';
        await route.fulfill({
          status: 503,
          headers: { 'Access-Control-Allow-Origin': origin, 'Content-Type': 'application/xml' },
          body: '<?xml version="1.0" encoding="UTF-8"?><Error><Code>ServiceUnavailable</Code><Message>Please reduce your request rate.</Message></Error>',
        });
        events.poke();
        return;
      }
      await route.continue();
    });
    const partsDone = []; // {n, phase} for every part OSS answered 200
    page.on('response', (res) => {
      const url = new URL(res.url());
      if (res.url().startsWith(local.emulator) && url.searchParams.has('partNumber') && res.request().method() === 'PUT' && res.status() === 200) {
        partsDone.push({ n: Number(url.searchParams.get('partNumber')), phase });
        events.poke();
      }
    });
    const fnCalls = [];
    page.on('request', (req) => {
      if (req.url().startsWith(local.base + '/v1/multipart')) fnCalls.push({ path: new URL(req.url()).pathname, phase });
    });
    const releaseHeld = async () => {
      for (const r of held.splice(0)) await r.abort().catch(() => {}); // the page already cancelled them
    };
    const heldCount = () => held.length;

    await page.goto(local.base + '/', { waitUntil: 'domcontentloaded' });
    await page.waitForSelector('body[data-ready="true"]');
    await page.click('#tab-put');

    // --- A: parts in parallel; pause while two are in flight -----------------
    await step('pause with parts in flight', async () => {
      Object.assign(plan, { 1: 'pass', 2: 'hold', 3: 'hold' });
      await page.setInputFiles('#files', file);
      await events.until(() => partsDone.length === 1 && heldCount() === 2);
      const before = await rowState(page, name);
      check('A: three parts requested in parallel (two still in flight when the first is done)',
        sent.filter((s) => s.phase === 'A').map((s) => s.n).sort().join() === '1,2,3', JSON.stringify(sent));
      check('A: the row offers Pause while uploading', before.state === 'uploading' && before.buttons.includes(`Pause ${name}`), JSON.stringify(before));
      await page.click(`#uploads li[data-name="${name}"] button.pause`);
      await waitForState(page, name, 'paused');
      await releaseHeld();
      const paused = await rowState(page, name);
      const pct = Math.round((8 * MiB * 100) / bytes.length);
      check('A: paused; the bar shows the finished part only, with Resume and Discard',
        paused.progress === pct && paused.message.startsWith(`Paused at ${pct}%`) &&
        paused.buttons.join() === `Resume ${name},Discard the upload of ${name}`, JSON.stringify(paused));
      const saved = Object.values(await savedUploads(page));
      check('A: localStorage keeps the key and uploadId (under the prefix), nothing else secret',
        saved.length === 1 && saved[0].key.startsWith(cfg.prefix) && saved[0].uploadId && saved[0].partCount === 3 &&
        !JSON.stringify(saved).includes('http'), JSON.stringify(saved));
      const listed = await accountList(local.emulator, cfg.bucket, cfg.prefix);
      check('A: nothing is visible in the bucket while paused', listed.length === 0, JSON.stringify(listed));
    });

    // --- B: resume in the page; pause again -------------------------------------
    await step('resume in the page', async () => {
      phase = 'B';
      Object.assign(plan, { 2: 'pass', 3: 'hold' });
      await page.click(`#uploads li[data-name="${name}"] button.resume`);
      await events.until(() => partsDone.some((p) => p.phase === 'B' && p.n === 2) && heldCount() === 1);
      const inB = sent.filter((s) => s.phase === 'B').map((s) => s.n).sort().join();
      check('B: Resume lists the parts and sends only the missing ones (2 and 3, not 1)',
        inB === '2,3' && fnCalls.some((c) => c.phase === 'B' && c.path === '/v1/multipart/parts'), JSON.stringify({ sent, fnCalls }));
      await page.click(`#uploads li[data-name="${name}"] button.pause`);
      await waitForState(page, name, 'paused');
      await releaseHeld();
      const paused = await rowState(page, name);
      const pct = Math.round((16 * MiB * 100) / bytes.length);
      check('B: paused again at two parts of three', paused.progress === pct, JSON.stringify(paused));
      fs.mkdirSync(OUT_DIR, { recursive: true });
      await page.locator(`#uploads li[data-name="${name}"]`).scrollIntoViewIfNeeded();
      await page.screenshot({ path: path.join(OUT_DIR, 'upload-page-multipart.png') });
      await page.setViewportSize({ width: 375, height: 812 });
      await page.locator(`#uploads li[data-name="${name}"]`).scrollIntoViewIfNeeded();
      const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
      await page.screenshot({ path: path.join(OUT_DIR, 'upload-page-multipart-phone.png') });
      check('B: a paused row fits a 375 px phone screen (no horizontal scrolling)', overflow <= 0, `overflow=${overflow}px`);
      await page.setViewportSize({ width: 1100, height: 900 });
    });

    // --- C: reload, choose the file again; the last part fails once ------------
    await step('resume after a reload', async () => {
      phase = 'C';
      Object.assign(plan, { 3: 'fail' });
      await page.reload({ waitUntil: 'domcontentloaded' });
      await page.waitForSelector('body[data-ready="true"]');
      const restored = await rowState(page, name);
      const pct = Math.round((16 * MiB * 100) / bytes.length);
      check('C: after a reload the page shows the interrupted upload at its progress, asking for the file',
        restored?.state === 'paused' && restored.progress === pct && restored.message.includes(`Choose ${name} again`),
        JSON.stringify(restored));
      await page.evaluate(() => {
        window.__bar = [];
        new MutationObserver(() => window.__bar.push(document.querySelector('#uploads progress').value))
          .observe(document.getElementById('uploads'), { subtree: true, attributes: true, attributeFilter: ['value'] });
      });
      // The first Complete reaches OSS, but its answer is lost on the way back.
      let completes = 0;
      await page.route(`${local.base}/v1/multipart/complete`, async (route) => {
        if (completes++ > 0) return route.continue();
        const real = await route.fetch();
        await route.fulfill({
          status: 504,
          contentType: 'application/json',
          body: JSON.stringify({ error: { code: 'OssTimeout', message: `lost answer (OSS said ${real.status()})` } }),
        });
      });
      await page.setInputFiles('#files', file);
      await waitForState(page, name, 'done');
      const done = await rowState(page, name);
      const keys = await accountList(local.emulator, cfg.bucket, cfg.prefix);
      check('C: a lost answer to Complete is noticed (the object is there): no second upload',
        completes === 1 && keys.length === 1 && keys[0] === done.key &&
        fnCalls.filter((c) => c.phase === 'C' && c.path === '/v1/multipart').length === 0,
        JSON.stringify({ completes, keys, fnCalls: fnCalls.filter((c) => c.phase === 'C') }));
      const inC = sent.filter((s) => s.phase === 'C').map((s) => `${s.n}:${s.what}`).join();
      check('C: only the missing part is sent; it fails once (503) and is retried on its own',
        inC === '3:fail,3:pass' && fnCalls.some((c) => c.phase === 'C' && c.path === '/v1/multipart/parts'),
        JSON.stringify({ inC, fnCalls: fnCalls.filter((c) => c.phase === 'C') }));
      check('C: the same row finishes at 100%, under the prefix',
        done.rows === 1 && done.progress === 100 && done.key.startsWith(cfg.prefix), JSON.stringify(done));
      const bar = await page.evaluate(() => window.__bar);
      check('C: the bar moved from where it was to 100%', bar.length >= 2 && bar[bar.length - 1] === 100 && bar.every((v) => v >= pct - 1),
        JSON.stringify(bar));
      const got = await accountGet(local.emulator, cfg.bucket, done.key);
      check('C: the emulator holds the exact bytes and type (account key)',
        got.status === 200 && sha(got.body) === sha(bytes) && got.type === 'application/zip',
        `status=${got.status} type=${got.type} size=${got.body.length}/${bytes.length}`);
      check('C: the finished upload is forgotten by localStorage', Object.keys(await savedUploads(page)).length === 0);
      check('each part reached OSS exactly once with success',
        partsDone.map((p) => p.n).sort().join() === '1,2,3', JSON.stringify(partsDone));
    });

    // --- D: Discard drops the parts --------------------------------------------
    await step('discard', async () => {
      phase = 'D';
      await page.click('#tab-put'); // the reload went back to the first tab
      const other = path.join(tmp, 'second.zip');
      fs.writeFileSync(other, crypto.randomBytes(9 * MiB));
      Object.assign(plan, { 1: 'pass', 2: 'hold' });
      await page.setInputFiles('#files', other);
      await events.until(() => partsDone.some((p) => p.phase === 'D') && heldCount() === 1);
      await page.click('#uploads li[data-name="second.zip"] button.pause');
      await waitForState(page, 'second.zip', 'paused');
      await releaseHeld();
      const { key, uploadId } = Object.values(await savedUploads(page))[0] || {};
      const aborted = page.waitForResponse((r) => r.url().endsWith('/v1/multipart/abort'));
      await page.click('#uploads li[data-name="second.zip"] button.discard');
      const res = await aborted;
      const gone = await page.evaluate(() => !document.querySelector('#uploads li[data-name="second.zip"]'));
      const list = await fetch(local.base + '/v1/multipart/parts', {
        method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ key, uploadId }),
      });
      const body = await list.json();
      check('D: Discard aborts the upload (its uploadId is gone) and removes the row',
        res.status() === 200 && gone && list.status === 404 && body.error?.code === 'NoSuchUpload' &&
        Object.keys(await savedUploads(page)).length === 0, JSON.stringify({ status: res.status(), gone, list: list.status, body }));
    });

    // --- E: a profile without multipart sends a large file as one PUT ---------
    await step('profile without multipart', async () => {
      phase = 'E';
      await page.selectOption('#profile', 'single');
      const big = path.join(tmp, 'single.zip');
      const bigBytes = crypto.randomBytes(9 * MiB);
      fs.writeFileSync(big, bigBytes);
      await page.setInputFiles('#files', big);
      await page.waitForSelector('#uploads li[data-name="single.zip"]:is([data-state="done"], [data-state="error"])', { timeout: 60_000 });
      const row = await rowState(page, 'single.zip');
      const got = await accountGet(local.emulator, cfg.bucket, row.key);
      check('E: under a profile without multipart a 9 MiB file goes up as one presigned PUT',
        row.state === 'done' && row.key.startsWith('singles/') && !fnCalls.some((c) => c.phase === 'E') && !sent.some((x) => x.phase === 'E') &&
        got.status === 200 && sha(got.body) === sha(bigBytes), JSON.stringify({ row, status: got.status }));
    });

    await step('accessible at phone width', async () => {
      await page.setViewportSize({ width: 375, height: 812 });
      const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
      check('no horizontal scrolling at 375 px with a multipart row', overflow <= 0, `overflow=${overflow}px`);
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
