// Shared pieces of the browser tests: a tiny test runner, `oss-direct-upload
// local` as a child process, Debian's Chromium through playwright-core, and a
// reader that fetches objects from the emulator as the account (not through
// anything the function handed out).

import { createRequire } from 'node:module';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import crypto from 'node:crypto';
import zlib from 'node:zlib';
import net from 'node:net';
import path from 'node:path';

export const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const require = createRequire(path.join(REPO, 'tests', 'peers', 'package.json'));
const { chromium } = require('playwright-core');

export const BIN = process.env.OSS_DIRECT_UPLOAD_BIN || path.join(REPO, 'target', 'debug', 'oss-direct-upload');
export const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
export const OUT_DIR = path.join(REPO, 'test-output');
export const ACCOUNT = { id: 'LTAIbrowsertest0001', secret: 'browser-test-secret-5f3c9a' };

// ---------------------------------------------------------------------------
// Tiny test runner: one line per check, then `N passed, M failed`.
// ---------------------------------------------------------------------------

const tally = { passed: 0, failed: 0 };

export function check(name, ok, detail = '') {
  if (ok) {
    tally.passed++;
    console.log(`ok - ${name}`);
  } else {
    tally.failed++;
    console.log(`not ok - ${name}${detail ? ': ' + detail : ''}`);
  }
  return ok;
}

/** Runs one group of checks; an exception counts as a failed check named `name`. */
export async function step(name, fn) {
  try {
    await fn();
  } catch (e) {
    check(name, false, (e && e.stack) || String(e));
  }
}

/** Prints the closing line and exits 1 on any failure. */
export function finish() {
  console.log(`${tally.passed} passed, ${tally.failed} failed`);
  process.exit(tally.failed === 0 ? 0 : 1);
}

/**
 * A hang guard, not a timing assertion: if the test is stuck for `ms`, kill
 * what it started and fail instead of blocking the suite forever.
 */
export function watchdog(ms, onFire) {
  const t = setTimeout(() => {
    onFire();
    check(`test finished (it hung for ${ms / 1000} s)`, false);
    finish();
  }, ms);
  return () => clearTimeout(t);
}

// ---------------------------------------------------------------------------
// Fixtures
// ---------------------------------------------------------------------------

export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

/** Starts `oss-direct-upload local` with `env` (and more CLI `args`) and waits until the function answers. */
export async function startLocal(dataDir, env = { AUTH_MODE: 'anonymous' }, args = []) {
  const port = await freePort();
  let emulatorPort = await freePort();
  while (emulatorPort === port) emulatorPort = await freePort();
  const child = spawn(
    BIN,
    ['local', '--port', String(port), '--emulator-port', String(emulatorPort), '--data', dataDir,
      '--access-key-id', ACCOUNT.id, '--access-key-secret', ACCOUNT.secret, ...args],
    { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let log = '';
  child.stdout.on('data', (d) => (log += d));
  child.stderr.on('data', (d) => (log += d));
  const exited = new Promise((resolve) => child.once('exit', (code, sig) => resolve(`exited ${code ?? sig}`)));
  const base = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    const state = await Promise.race([exited, new Promise((r) => setTimeout(() => r(null), 150))]);
    if (state) throw new Error(`local mode ${state}:\n${log}`);
    try {
      const res = await fetch(base + '/healthz', { signal: AbortSignal.timeout(1000) });
      if (res.ok) {
        const config = await (await fetch(base + '/v1/config')).json();
        return { child, base, emulator: `http://127.0.0.1:${emulatorPort}`, config, log: () => log };
      }
    } catch {
      // not listening yet
    }
  }
  child.kill('SIGKILL');
  throw new Error(`local mode did not answer /healthz within 30 s:\n${log}`);
}

export async function stopChild(child) {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const gone = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  const t = setTimeout(() => child.kill('SIGKILL'), 3000);
  await gone;
  clearTimeout(t);
}

/** Debian's Chromium with a fresh profile in `dir` (a persistent context is how Playwright takes --user-data-dir). */
export async function launchChromium(dir, viewport = { width: 1100, height: 900 }) {
  const context = await chromium.launchPersistentContext(dir, {
    executablePath: CHROMIUM,
    headless: true,
    timeout: 60_000,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    viewport,
    deviceScaleFactor: 1,
  });
  context.setDefaultTimeout(30_000);
  return context;
}

/** Signs an OSS V1 header signature as the account for `method /bucket/key[?subresource]`. */
function accountHeaders(method, resource) {
  const date = new Date().toUTCString();
  const sig = crypto.createHmac('sha1', ACCOUNT.secret).update(`${method}\n\n\n${date}\n${resource}`, 'utf8').digest('base64');
  return { Date: date, Authorization: `OSS ${ACCOUNT.id}:${sig}` };
}

const objectPath = (bucket, key) => `/${bucket}/${key.split('/').map(encodeURIComponent).join('/')}`;

/** GET an object from the emulator as the account (OSS V1 header signature). */
export async function accountGet(emulator, bucket, key) {
  const res = await fetch(emulator + objectPath(bucket, key), {
    headers: accountHeaders('GET', `/${bucket}/${key}`),
    signal: AbortSignal.timeout(30_000),
  });
  return { status: res.status, type: res.headers.get('content-type'), body: Buffer.from(await res.arrayBuffer()) };
}

/** Every key in the bucket under `prefix`, listed as the account (ListObjects). */
export async function accountList(emulator, bucket, prefix) {
  const url = `${emulator}/${bucket}/?prefix=${encodeURIComponent(prefix)}&max-keys=1000`;
  const res = await fetch(url, { headers: accountHeaders('GET', `/${bucket}/`), signal: AbortSignal.timeout(10_000) });
  const xml = await res.text();
  if (res.status !== 200) throw new Error(`ListObjects: HTTP ${res.status} ${xml.slice(0, 200)}`);
  return [...xml.matchAll(/<Key>([^<]*)<\/Key>/g)].map((m) => m[1].replace(/&amp;/g, '&').replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&quot;/g, '"').replace(/&apos;/g, "'"));
}

/** An HS256 JWT for `sub`, valid for ten minutes. */
export function hs256Jwt(secret, sub) {
  const b64 = (o) => Buffer.from(JSON.stringify(o)).toString('base64url');
  const now = Math.floor(Date.now() / 1000);
  const input = b64({ alg: 'HS256', typ: 'JWT' }) + '.' + b64({ sub, iat: now, exp: now + 600 });
  return input + '.' + crypto.createHmac('sha256', secret).update(input).digest('base64url');
}

/** A real PNG (RGB gradient, 8-bit, zlib-deflated rows), for tests that need a file that is one. */
export function makePng(w, h) {
  const crcTable = Array.from({ length: 256 }, (_, n) => {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    return c >>> 0;
  });
  const crc = (buf) => {
    let c = 0xffffffff;
    for (const b of buf) c = crcTable[(c ^ b) & 0xff] ^ (c >>> 8);
    return (c ^ 0xffffffff) >>> 0;
  };
  const chunk = (type, data) => {
    const len = Buffer.alloc(4);
    len.writeUInt32BE(data.length);
    const td = Buffer.concat([Buffer.from(type, 'ascii'), data]);
    const c = Buffer.alloc(4);
    c.writeUInt32BE(crc(td));
    return Buffer.concat([len, td, c]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(w, 0);
  ihdr.writeUInt32BE(h, 4);
  ihdr.set([8, 2, 0, 0, 0], 8); // 8-bit RGB
  const raw = Buffer.alloc((w * 3 + 1) * h);
  for (let y = 0; y < h; y++) {
    raw[y * (w * 3 + 1)] = 0;
    for (let x = 0; x < w; x++) {
      const o = y * (w * 3 + 1) + 1 + x * 3;
      raw[o] = 217;
      raw[o + 1] = Math.round((x / w) * 160) + 40;
      raw[o + 2] = Math.round((y / h) * 200);
    }
  }
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr),
    chunk('IDAT', zlib.deflateSync(raw)),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

export const sha = (b) => crypto.createHash('sha256').update(b).digest('hex');
