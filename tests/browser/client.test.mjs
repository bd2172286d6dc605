// Browser test of the browser client (client/oss-direct-upload.js, served by
// the function at /client.js), against the real `local` mode in Debian's
// Chromium. The client runs in an app on its own origin (a loopback server
// here), imported from the function, as an app would use it:
//
//   cargo build && node tests/browser/client.test.mjs
//
// Checked: README's ten-line example uploads a 3-part file and, chosen again
// after a reload, sends only the missing parts; each method (POST policy,
// presigned PUT, multipart) picked from the profile and the size; a 3-part
// upload paused, reloaded and resumed (parts counted on the wire); a part
// failing once, then retried on its own; abort (ListParts then says
// NoSuchUpload); a 401 then a fresh token (jwt mode); a bucket CORS rule that
// hides ETag (local --cors-hide-etag), a refused type and size, a header
// added after signing (a real SignatureDoesNotMatch) and a signing time OSS
// calls skewed (a real RequestTimeTooSkewed): each error names its cause.
// Objects are read back from the emulator with the account key.

import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import {
  REPO, check, step, finish, watchdog, startLocal, stopChild, launchChromium, accountGet, sha,
} from './lib.mjs';

const HANG_GUARD_MS = 240_000;
const MiB = 1024 * 1024;
const EXAMPLE = fs.readFileSync(path.join(REPO, 'client', 'example.html'), 'utf8');

/** The app's page: the client imported from the function, and hooks the test drives it by. */
function harness(fn) {
  return `<!doctype html><meta charset="utf-8"><title>app</title><input type="file" id="file">
<script type="module">
import * as client from '${fn}client.js';
const file = () => document.getElementById('file').files[0];
const flat = (e) => ({ name: e.name, code: e.code, message: e.message, status: e.status, stage: e.stage,
  retryable: e.retryable, isUploadError: e instanceof client.UploadError });
window.h = {
  start(opts = {}) {
    const ctl = new AbortController();
    const log = { progress: [], retries: [], tokenCalls: [] };
    const { tokens, ...rest } = opts;
    const o = { baseUrl: '${fn}', signal: ctl.signal, ...rest,
      onProgress: (p) => log.progress.push([p.loaded, p.total, p.method]),
      onRetry: (e, ms) => log.retries.push([e.code, Math.round(ms)]) };
    if (tokens) o.token = ({ refresh }) => (log.tokenCalls.push(refresh), tokens[Math.min(log.tokenCalls.length, tokens.length) - 1]);
    const run = client.upload(file(), o).then((ok) => ({ ok }), (e) => ({ err: flat(e) }));
    window.cur = { ctl, log, run };
  },
  async settle() { const r = await window.cur.run; return { ...r, log: window.cur.log }; },
  async run(opts) { window.h.start(opts); return window.h.settle(); },
  pause() { window.cur.ctl.abort(); },
  abort(opts = {}) { return client.abort(file(), { baseUrl: '${fn}', ...opts }).then((ok) => ({ ok }), (e) => ({ err: flat(e) })); },
  pending: () => client.pending(),
};
document.body.dataset.ready = 'true';
</script>`;
}

/** The app's origin: `/` is the harness, `/example` README's example pointed at the function. */
function startApp(fnFor) {
  const srv = http.createServer((req, res) => {
    const fn = fnFor();
    const body = req.url === '/example' ? EXAMPLE.replaceAll('https://fn.example.com/', fn) : req.url === '/' ? harness(fn) : null;
    if (!body) return res.writeHead(404).end();
    res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8', 'Cache-Control': 'no-store' });
    res.end(body);
  });
  return new Promise((resolve) => srv.listen(0, '127.0.0.1', () => resolve({ srv, origin: `http://127.0.0.1:${srv.address().port}` })));
}

/** Resolves when `predicate()` holds, re-checked on `poke()`; a hang guard after a minute. */
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

/** An HS256 JWT for `sub` that expired an hour ago. */
function expiredJwt(secret, sub) {
  const b64 = (o) => Buffer.from(JSON.stringify(o)).toString('base64url');
  const now = Math.floor(Date.now() / 1000);
  const input = b64({ alg: 'HS256', typ: 'JWT' }) + '.' + b64({ sub, iat: now - 7200, exp: now - 3600 });
  return input + '.' + crypto.createHmac('sha256', secret).update(input).digest('base64url');
}

function jwt(secret, sub) {
  const b64 = (o) => Buffer.from(JSON.stringify(o)).toString('base64url');
  const now = Math.floor(Date.now() / 1000);
  const input = b64({ alg: 'HS256', typ: 'JWT' }) + '.' + b64({ sub, iat: now, exp: now + 600 });
  return input + '.' + crypto.createHmac('sha256', secret).update(input).digest('base64url');
}

const PROFILES = `
[[profile]]
name = "docs"
prefix = "docs/"
content_types = ["application/pdf"]
max_bytes = 1048576
methods = ["presign"]
`;

let children = [];

async function main() {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'client-test-'));
  const cleanup = [];
  const disarm = watchdog(HANG_GUARD_MS, () => children.forEach((c) => c.kill('SIGKILL')));
  try {
    let fn = ''; // the function the app talks to (changes per part of the test)
    const app = await startApp(() => fn);
    cleanup.push(() => new Promise((r) => app.srv.close(r)));
    const origin = ['--allowed-origin', app.origin];
    const profiles = path.join(tmp, 'profiles.toml');
    fs.writeFileSync(profiles, PROFILES);
    const local = await startLocal(path.join(tmp, 'data'), { AUTH_MODE: 'anonymous', PROFILES_FILE: profiles }, ['--no-trigger', ...origin]);
    children.push(local.child);
    cleanup.push(() => stopChild(local.child));
    const cfg = local.config;
    fn = local.base + '/';

    const context = await launchChromium(path.join(tmp, 'chromium'));
    cleanup.push(() => context.close());
    const page = context.pages()[0] || (await context.newPage());
    const pageErrors = [];
    page.on('pageerror', (e) => pageErrors.push(e.message));

    // Every request to the emulator: part PUTs are routed so the test can
    // hold one (until released), fail one once (503 from "OSS"), or let it pass.
    let emulator = local.emulator;
    let phase = '';
    const plan = {}; // partNumber -> 'hold' | 'fail' | 'pass' for its next request
    const sent = []; // {phase, n, what}
    const held = [];
    const toOss = []; // {phase, method, part}
    const partsOk = []; // {phase, n}
    const events = waiter(() => JSON.stringify({ phase, sent, partsOk, held: held.length }));
    const fromEmulator = (url) => url.href.startsWith(emulator);
    await context.route(fromEmulator, async (route) => {
      const req = route.request();
      const u = new URL(req.url());
      const n = Number(u.searchParams.get('partNumber')) || 0;
      if (req.method() === 'OPTIONS') return route.continue();
      toOss.push({ phase, method: req.method(), part: n });
      if (req.method() !== 'PUT' || !n) return route.continue();
      const what = plan[n] || 'pass';
      sent.push({ phase, n, what });
      if (what === 'hold') {
        held.push(route);
        return events.poke();
      }
      if (what === 'fail') {
        plan[n] = 'pass';
        await route.fulfill({
          status: 503,
          headers: { 'Access-Control-Allow-Origin': req.headers().origin || '*', 'Content-Type': 'application/xml' },
          body: '<?xml version="1.0" encoding="UTF-8"?><Error><Code>ServiceUnavailable</Code><Message>Please reduce your request rate.</Message></Error>',
        });
        return events.poke();
      }
      await route.continue();
    });
    page.on('response', (res) => {
      const u = new URL(res.url());
      if (res.url().startsWith(emulator) && u.searchParams.has('partNumber') && res.request().method() === 'PUT' && res.status() === 200) {
        partsOk.push({ phase, n: Number(u.searchParams.get('partNumber')) });
        events.poke();
      }
    });
    const fnCalls = [];
    page.on('request', (req) => {
      if (req.url().startsWith(fn + 'v1/') && req.method() !== 'OPTIONS') fnCalls.push({ phase, path: new URL(req.url()).pathname });
    });
    const releaseHeld = async () => {
      for (const r of held.splice(0)) await r.abort().catch(() => {});
    };
    const open = async (url = app.origin + '/') => {
      await page.goto(url, { waitUntil: 'domcontentloaded' });
      if (url.endsWith('/')) await page.waitForSelector('body[data-ready="true"]');
    };
    const choose = (file, selector = '#file') => page.setInputFiles(selector, file);
    const stored = async (key, bytes, type) => {
      const got = await accountGet(emulator, cfg.bucket, key);
      return got.status === 200 && sha(got.body) === sha(bytes) && (!type || got.type === type);
    };
    // The part requests of a phase, sorted (parts go in parallel, in no fixed order).
    const partsAt = (p) => sent.filter((s) => s.phase === p).map((s) => `${s.n}:${s.what}`).sort().join();
    const realFile = (name, size) => {
      const bytes = crypto.randomBytes(size);
      const file = path.join(tmp, name);
      fs.writeFileSync(file, bytes);
      return { file, bytes };
    };

    // --- README's example: a 3-part file, interrupted by a reload, resumed -----
    await step('example', async () => {
      phase = 'example';
      const { file, bytes } = realFile('video.bin', 16 * MiB + 54_321);
      Object.assign(plan, { 1: 'pass', 2: 'hold', 3: 'hold' });
      await open(app.origin + '/example');
      await choose(file, '#pick');
      await events.until(() => partsOk.some((p) => p.phase === 'example') && held.length === 2);
      // The tab goes away mid-upload (no pause): reload, choose the file again.
      phase = 'example-2';
      Object.assign(plan, { 2: 'pass', 3: 'pass' });
      await page.reload({ waitUntil: 'domcontentloaded' });
      await releaseHeld();
      await choose(file, '#pick');
      await page.waitForFunction(() => document.getElementById('out').textContent !== '', null, { timeout: 60_000 });
      const out = await page.textContent('#out');
      const key = out.replace('Uploaded ', '');
      check('example: README\'s ten-line example uploads a 3-part file; after a reload only the missing parts are sent',
        out.startsWith('Uploaded ' + cfg.prefix) && partsAt('example') === '1:pass,2:hold,3:hold' &&
        partsAt('example-2') === '2:pass,3:pass' && (await stored(key, bytes)) &&
        (await page.evaluate(() => document.getElementById('bar').value)) === 1,
      JSON.stringify({ out, sent }));
    });

    await open();

    // --- Each method, picked from the profile's methods and the file's size ----
    await step('methods', async () => {
      phase = 'post';
      const small = crypto.randomBytes(200_000);
      await choose({ name: 'small.png', mimeType: 'image/png', buffer: small });
      const post = await page.evaluate(() => window.h.run());
      check('post-policy: a small file goes as one form POST (the default profile allows all three)',
        post.ok?.method === 'post-policy' && post.ok.key.startsWith(cfg.prefix) && (await stored(post.ok.key, small, 'image/png')) &&
        toOss.filter((r) => r.phase === 'post').map((r) => r.method).join() === 'POST',
        JSON.stringify({ post, toOss: toOss.filter((r) => r.phase === 'post') }));
      const last = post.ok && post.log.progress.at(-1);
      check('post-policy: progress reported in bytes of the file, ending at its size',
        last && last[0] === small.length && last[1] === small.length && last[2] === 'post-policy', JSON.stringify(post.log?.progress));

      phase = 'presign';
      const pdf = Buffer.concat([Buffer.from('%PDF-1.7\n'), crypto.randomBytes(50_000)]);
      await choose({ name: 'a.pdf', mimeType: 'application/pdf', buffer: pdf });
      const put = await page.evaluate(() => window.h.run({ profile: 'docs' }));
      check('presign: a profile allowing only presign gets one presigned PUT, under its prefix',
        put.ok?.method === 'presign' && put.ok.key.startsWith('docs/') && (await stored(put.ok.key, pdf, 'application/pdf')) &&
        toOss.filter((r) => r.phase === 'presign').map((r) => `${r.method}:${r.part}`).join() === 'PUT:0',
        JSON.stringify({ put, toOss: toOss.filter((r) => r.phase === 'presign') }));

      phase = 'multipart';
      plan[2] = 'fail';
      const { file, bytes } = realFile('big.zip', 20 * MiB + 7);
      await choose(file);
      const mp = await page.evaluate(() => window.h.run());
      check('multipart: a file over 8 MiB goes in parts (three of 8 MiB), stored exactly',
        mp.ok?.method === 'multipart' && (await stored(mp.ok.key, bytes, 'application/zip')) &&
        partsOk.filter((p) => p.phase === 'multipart').map((p) => p.n).sort().join() === '1,2,3', JSON.stringify({ mp, sent }));
      check('multipart: a part failing once (503) is retried on its own, once',
        partsAt('multipart') === '1:pass,2:fail,2:pass,3:pass' &&
        mp.log.retries.length === 1 && mp.log.retries[0][0] === 'ServiceUnavailable', JSON.stringify({ sent, retries: mp.log?.retries }));
      check('multipart: the finished upload is forgotten (localStorage)', (await page.evaluate(() => window.h.pending())).length === 0);
    });

    // --- Pause, reload, resume -----------------------------------------------------
    await step('pause, reload, resume', async () => {
      phase = 'pause';
      const { file, bytes } = realFile('three.bin', 16 * MiB + 1);
      Object.assign(plan, { 1: 'pass', 2: 'hold', 3: 'hold' });
      await choose(file);
      await page.evaluate(() => window.h.start());
      await events.until(() => partsOk.some((p) => p.phase === 'pause') && held.length === 2);
      await page.evaluate(() => window.h.pause());
      const paused = await page.evaluate(() => window.h.settle());
      await releaseHeld();
      const saved = await page.evaluate(() => window.h.pending());
      check('pause: upload() rejects with Paused; pending() keeps key and uploadId, no URL or token',
        paused.err?.code === 'Paused' && paused.err.isUploadError && saved.length === 1 && saved[0].partCount === 3 &&
        saved[0].sent === 8 * MiB && saved[0].key.startsWith(cfg.prefix) && !JSON.stringify(saved).includes('http'),
        JSON.stringify({ paused, saved }));
      const atPause = paused.log.progress.at(-1)?.[0];
      check('pause: the last progress report counts the finished part only', atPause === 8 * MiB, JSON.stringify(paused.log.progress.slice(-3)));

      phase = 'resume';
      Object.assign(plan, { 2: 'pass', 3: 'pass' });
      await page.reload({ waitUntil: 'domcontentloaded' });
      await page.waitForSelector('body[data-ready="true"]');
      await choose(file);
      const resumed = await page.evaluate(() => window.h.run());
      const calls = fnCalls.filter((c) => c.phase === 'resume').map((c) => c.path);
      check('resume after a reload: ListParts, then only parts 2 and 3 are sent; no new upload is created',
        resumed.ok?.method === 'multipart' && resumed.ok.key === saved[0].key && partsAt('resume') === '2:pass,3:pass' &&
        calls.includes('/v1/multipart/parts') && !calls.includes('/v1/multipart'), JSON.stringify({ resumed, sent, calls }));
      check('resume: progress starts where it stopped and ends at the size',
        resumed.log.progress[0]?.[0] === 8 * MiB && resumed.log.progress.every((p) => p[0] >= 8 * MiB) && resumed.log.progress.at(-1)[0] === bytes.length,
        JSON.stringify(resumed.log.progress.slice(0, 3)));
      check('resume: the object is the exact file', await stored(resumed.ok.key, bytes));
    });

    // --- Abort -------------------------------------------------------------------
    await step('abort', async () => {
      phase = 'abort';
      const { file } = realFile('dropped.bin', 16 * MiB + 2);
      Object.assign(plan, { 1: 'pass', 2: 'hold', 3: 'hold' });
      await choose(file);
      await page.evaluate(() => window.h.start());
      await events.until(() => partsOk.some((p) => p.phase === 'abort') && held.length === 2);
      const [up] = await page.evaluate(() => window.h.pending());
      const aborted = await page.evaluate(() => window.h.abort());
      const result = await page.evaluate(() => window.h.settle());
      await releaseHeld();
      const list = await fetch(fn + 'v1/multipart/parts', {
        method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ key: up.key, uploadId: up.uploadId }),
      });
      const body = await list.json();
      check('abort: the running upload stops (Aborted) and OSS drops it: ListParts says NoSuchUpload',
        aborted.ok === true && result.err?.code === 'Aborted' && list.status === 404 && body.error?.code === 'NoSuchUpload' &&
        (await page.evaluate(() => window.h.pending())).length === 0, JSON.stringify({ aborted, result: result.err, status: list.status, body }));
      Object.assign(plan, { 2: 'pass', 3: 'pass' });
    });

    // --- Refusals and OSS errors name their cause --------------------------------
    await step('refusals', async () => {
      phase = 'refused';
      await choose({ name: 'x.html', mimeType: 'text/html', buffer: Buffer.from('<!doctype html>') });
      const type = await page.evaluate(() => window.h.run());
      check('a refused type: the function\'s code ContentTypeNotAllowed, not retried',
        type.err?.code === 'ContentTypeNotAllowed' && type.err.stage === 'function' && type.err.status === 400 &&
        type.err.message.includes('text/html') && type.log.retries.length === 0, JSON.stringify(type));
      await choose({ name: 'big.pdf', mimeType: 'application/pdf', buffer: Buffer.alloc(2 * MiB, 1) });
      const size = await page.evaluate(() => window.h.run({ profile: 'docs' }));
      check('a refused size: FileTooLarge, naming the limit', size.err?.code === 'FileTooLarge' && size.err.stage === 'function' &&
        /1 MiB|1048576/.test(size.err.message), JSON.stringify(size.err));
      check('nothing refused reached OSS', !toOss.some((r) => r.phase === 'refused'), JSON.stringify(toOss.filter((r) => r.phase === 'refused')));

      // A header changed after signing (a proxy, an extension): OSS's own SignatureDoesNotMatch.
      phase = 'drift';
      const drift = async (route) => {
        const req = route.request();
        if (req.method() !== 'PUT') return route.fallback();
        return route.fallback({ headers: { ...req.headers(), 'content-type': 'text/plain' } });
      };
      await page.route(fromEmulator, drift);
      await choose({ name: 'p.png', mimeType: 'image/png', buffer: crypto.randomBytes(1000) });
      const sig = await page.evaluate(() => window.h.run({ methods: ['presign'] }));
      await page.unroute(fromEmulator, drift);
      check('a header added after signing: OSS\'s SignatureDoesNotMatch, explained, not retried',
        sig.err?.code === 'SignatureDoesNotMatch' && sig.err.stage === 'oss' && sig.err.status === 403 &&
        sig.err.message.includes('exactly the signed headers') && sig.log.retries.length === 0, JSON.stringify(sig));

      // The signing time 20 minutes ahead of OSS's clock: OSS's own RequestTimeTooSkewed.
      if (cfg.signatureVersion === 'v4') {
        phase = 'skew';
        const skew = async (route) => {
          const u = new URL(route.request().url());
          if (route.request().method() !== 'PUT' || !u.searchParams.has('x-oss-date')) return route.fallback();
          const ahead = new Date(Date.now() + 20 * 60_000).toISOString().replace(/[-:]/g, '').replace(/\.\d+/, '');
          const cred = u.searchParams.get('x-oss-credential').split('/');
          cred[1] = ahead.slice(0, 8);
          u.searchParams.set('x-oss-date', ahead);
          u.searchParams.set('x-oss-credential', cred.join('/'));
          return route.fallback({ url: u.href });
        };
        await page.route(fromEmulator, skew);
        const late = await page.evaluate(() => window.h.run({ methods: ['presign'] }));
        await page.unroute(fromEmulator, skew);
        check('a skewed signing clock: OSS\'s RequestTimeTooSkewed, naming both times and the fix',
          late.err?.code === 'RequestTimeTooSkewed' && late.err.status === 403 && late.err.message.includes('15 minutes') &&
          /OSS's \(\d{4}-/.test(late.err.message) && late.err.message.includes('clock') && late.log.retries.length === 0, JSON.stringify(late));
      }
    });
    check('no uncaught errors in the app', pageErrors.length === 0, pageErrors.join(' | '));

    // --- jwt: a 401, then a fresh token ------------------------------------------
    await step('jwt', async () => {
      phase = 'jwt';
      const secret = crypto.randomBytes(32).toString('hex');
      const jl = await startLocal(path.join(tmp, 'data-jwt'), { AUTH_MODE: 'jwt', JWT_SECRET: secret }, ['--no-trigger', ...origin]);
      children.push(jl.child);
      cleanup.push(() => stopChild(jl.child));
      fn = jl.base + '/';
      emulator = jl.emulator;
      const bearer = [];
      const onReq = (req) => req.url().startsWith(fn + 'v1/') && req.method() !== 'OPTIONS' && bearer.push(req.headers().authorization || '');
      page.on('request', onReq);
      await open();
      const png = crypto.randomBytes(3000);
      await choose({ name: 't.png', mimeType: 'image/png', buffer: png });
      const stale = expiredJwt(secret, 'alice');
      const fresh = jwt(secret, 'alice');
      const r = await page.evaluate((tokens) => window.h.run({ tokens }), [stale, fresh]);
      const got = r.ok && (await accountGet(jl.emulator, jl.config.bucket, r.ok.key));
      check('jwt: a 401 asks the token function for a fresh token once, then the upload lands under the user',
        r.ok && r.log.tokenCalls.join() === 'false,true' && bearer.filter(Boolean).slice(0, 2).join() === `Bearer ${stale},Bearer ${fresh}` &&
        r.ok.key.includes('alice') && got.status === 200 && sha(got.body) === sha(png),
        JSON.stringify({ r, bearer: bearer.map((b) => b.slice(-8)) }));
      const bad = await page.evaluate((tokens) => window.h.run({ tokens }), [stale]);
      check('jwt: a token that stays bad fails with the function\'s 401 code after one refresh',
        bad.err?.status === 401 && bad.err.code === 'InvalidToken' && bad.log.tokenCalls.join() === 'false,true', JSON.stringify(bad));
      page.off('request', onReq);
    });

    // --- A bucket CORS rule without ETag --------------------------------------
    await step('cors hides etag', async () => {
      phase = 'hidden';
      const hl = await startLocal(path.join(tmp, 'data-hidden'), { AUTH_MODE: 'anonymous' }, ['--no-trigger', '--cors-hide-etag', ...origin]);
      children.push(hl.child);
      cleanup.push(() => stopChild(hl.child));
      fn = hl.base + '/';
      emulator = hl.emulator;
      await open();
      const { file } = realFile('hidden.bin', 9 * MiB);
      await choose(file);
      const r = await page.evaluate(() => window.h.run());
      check('ETag hidden by the bucket\'s CORS rule: the part PUT succeeds, and the error says the rule must expose ETag',
        r.err?.code === 'ETagNotExposed' && r.err.retryable === false && /CORS/.test(r.err.message) && /ExposeHeader: ETag/.test(r.err.message) &&
        partsOk.some((p) => p.phase === 'hidden') && r.log.retries.length === 0, JSON.stringify({ r, partsOk: partsOk.filter((p) => p.phase === 'hidden') }));
      const small = crypto.randomBytes(5000);
      await choose({ name: 's.png', mimeType: 'image/png', buffer: small });
      const one = await page.evaluate(() => window.h.run({ methods: ['presign'] }));
      const got = one.ok && (await accountGet(hl.emulator, hl.config.bucket, one.ok.key));
      check('ETag hidden: a single presigned PUT (which needs no ETag) still works',
        got?.status === 200 && sha(got.body) === sha(small), JSON.stringify(one));
    });
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
