// A demo, not a test (scripts/test.sh runs only *.test.mjs): a 1 GiB file
// through the upload page in local mode (presigned multipart, 128 parts of
// 8 MiB), paused at 40%, the page reloaded, the file chosen again, finished.
// Prints the times and checks the stored bytes with the account key.
//
//   cargo build --release
//   OSS_DIRECT_UPLOAD_BIN=target/release/oss-direct-upload node tests/browser/demo_1gib.mjs
//
// Needs about 2 GiB free in the temp folder; deletes everything afterwards.

import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { startLocal, stopChild, launchChromium, ACCOUNT } from './lib.mjs';

const GiB = 1024 ** 3;
const secs = (ms) => (ms / 1000).toFixed(1) + ' s';
const sha256 = async (chunks) => {
  const h = crypto.createHash('sha256');
  for await (const c of chunks) h.update(c);
  return h.digest('hex');
};

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'demo-1gib-'));
let local = null;
let context = null;
try {
  const file = path.join(dir, 'big.bin');
  const fd = fs.openSync(file, 'w');
  const chunk = Buffer.alloc(64 * 1024 * 1024);
  for (let i = 0; i < GiB / chunk.length; i++) fs.writeSync(fd, crypto.randomFillSync(chunk));
  fs.closeSync(fd);
  const want = await sha256(fs.createReadStream(file));

  local = await startLocal(path.join(dir, 'data'), { AUTH_MODE: 'anonymous', MAX_UPLOAD_BYTES: String(2 * GiB) });
  context = await launchChromium(path.join(dir, 'chromium'));
  const page = context.pages()[0] || (await context.newPage());
  page.on('pageerror', (e) => console.log('page error:', e.message));
  await page.goto(local.base + '/');
  await page.waitForSelector('body[data-ready="true"]');
  await page.click('#tab-put');
  const row = '#uploads li[data-name="big.bin"]';
  const atLeast = (pct) => page.waitForFunction(([r, p]) => document.querySelector(r + ' progress')?.value >= p, [row, pct], { timeout: 0, polling: 50 });
  const pct = () => page.$eval(row + ' progress', (p) => p.value);

  let t = Date.now();
  await page.setInputFiles('#files', file);
  await atLeast(40);
  await page.click(row + ' button.pause');
  await page.waitForSelector(row + '[data-state="paused"]');
  const first = Date.now() - t;
  console.log(`paused at ${await pct()}% after ${secs(first)}`);
  await page.reload();
  await page.waitForSelector('body[data-ready="true"]');
  console.log(`after the reload the row shows ${await pct()}%`);

  t = Date.now();
  await page.setInputFiles('#files', file);
  await atLeast(100);
  const sent = Date.now() - t;
  await page.waitForSelector(row + '[data-state="done"]', { timeout: 0 });
  const second = Date.now() - t;
  console.log(`resumed: remaining parts sent in ${secs(sent)}, Complete took ${secs(second - sent)}`);
  console.log(`1 GiB uploaded in ${secs(first + second)} of upload time (${(1024 / ((first + second) / 1000)).toFixed(0)} MiB/s)`);
  const hwm = fs.readFileSync(`/proc/${local.child.pid}/status`, 'utf8').match(/VmHWM:\s+(\d+)/)[1];
  console.log(`peak RSS of local (function + emulator): ${(hwm / 1024).toFixed(0)} MiB`);

  const key = await page.getAttribute(row, 'data-key');
  const date = new Date().toUTCString();
  const sig = crypto.createHmac('sha1', ACCOUNT.secret).update(`GET\n\n\n${date}\n/${local.config.bucket}/${key}`).digest('base64');
  const res = await fetch(`${local.emulator}/${local.config.bucket}/${key.split('/').map(encodeURIComponent).join('/')}`,
    { headers: { Date: date, Authorization: `OSS ${ACCOUNT.id}:${sig}` } });
  const got = await sha256(Readable.fromWeb(res.body));
  console.log(`stored object (account key): HTTP ${res.status}, ${res.headers.get('content-length')} bytes, sha256 ${got === want ? 'matches' : 'DIFFERS'}`);
  process.exitCode = got === want ? 0 : 1;
} finally {
  await context?.close().catch(() => {});
  await stopChild(local?.child);
  fs.rmSync(dir, { recursive: true, force: true });
}
