// Real Uppy in Debian's Chromium against `local`: the Companion-style `/s3`
// routes must work with `@uppy/aws-s3` as published on npm, unchanged.
//
//   cargo build && ./scripts/setup-peers.sh && node tests/browser/uppy.test.mjs
//
// - Uppy 5 (`@uppy/core` 5 + `@uppy/aws-s3` 5.1, `endpoint` + `headers`)
//   with a JWT minted by PyJWT, in AUTH_MODE=jwt;
// - Uppy 6 (`@uppy/core` 6 + `@uppy/aws-s3` 6, `companionEndpoint`, which
//   sends no custom header) in AUTH_MODE=anonymous.
// Each uploads a small file (one POST form from `GET /s3/params`) and a file
// of three parts (multipart through `/s3/multipart...`) from a page on its
// own origin, as an app would; then, with `shouldUseMultipart: true`, a
// file under 5 MiB as a one-part multipart upload (Uppy 5 PUTs the File
// itself, typed, so its part URL must sign the type it is told to send);
// then a file of a type the deployment refuses, for what each version shows. The packages are bundled for the browser with
// esbuild (installed next to them in tests/browser/uppy/v5 and v6). The bytes,
// type and key of what landed are read back from the emulator with the
// account key.

import { createRequire } from 'node:module';
import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import {
  REPO, check, step, finish, watchdog, startLocal, stopChild, launchChromium, accountGet, accountList, sha,
} from './lib.mjs';

const HANG_GUARD_MS = 240_000;
const MiB = 1024 * 1024;
const PYTHON = process.env.PEER_PYTHON || path.join(REPO, '.venv', 'bin', 'python');

/** Uppy's own packages, bundled as they are, exposing `window.Uppy` and `window.AwsS3`. */
async function bundle(major) {
  const dir = path.join(REPO, 'tests', 'browser', 'uppy', `v${major}`);
  const esbuild = createRequire(path.join(dir, 'package.json'))('esbuild');
  const versions = ['core', 'aws-s3'].map((p) => JSON.parse(fs.readFileSync(path.join(dir, 'node_modules', '@uppy', p, 'package.json'))).version);
  const out = await esbuild.build({
    stdin: {
      contents: "import Uppy from '@uppy/core'; import AwsS3 from '@uppy/aws-s3'; Object.assign(window, { Uppy, AwsS3 });",
      resolveDir: dir,
      loader: 'js',
    },
    bundle: true,
    write: false,
    format: 'iife',
    platform: 'browser',
    target: 'chrome120',
    logLevel: 'error',
  });
  return { js: out.outputFiles[0].contents, versions };
}

/** The "app": a page on its own origin loading one Uppy bundle, plus the files to upload. */
function startAppServer(bundles, files) {
  const srv = http.createServer((req, res) => {
    const url = new URL(req.url, 'http://x');
    const m = url.pathname.match(/^\/uppy(\d)\.(html|js)$/);
    if (m && bundles[m[1]]) {
      if (m[2] === 'html') {
        res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' });
        return res.end(`<!doctype html><meta charset="utf-8"><title>Uppy ${m[1]}</title><script src="/uppy${m[1]}.js"></script>`);
      }
      res.writeHead(200, { 'Content-Type': 'application/javascript' });
      return res.end(bundles[m[1]].js);
    }
    const f = files.get(url.pathname.slice('/files/'.length));
    if (url.pathname.startsWith('/files/') && f) {
      res.writeHead(200, { 'Content-Type': 'application/octet-stream', 'Content-Length': f.bytes.length });
      return res.end(f.bytes);
    }
    res.writeHead(404).end();
  });
  return new Promise((resolve) => srv.listen(0, '127.0.0.1', () => resolve({ srv, origin: `http://127.0.0.1:${srv.address().port}` })));
}

/** An HS256 JWT minted by PyJWT (the test peer), not by our code. */
function mintJwt(secret, sub) {
  const script = 'import jwt, sys, time\n' +
    'now = int(time.time())\n' +
    'print(jwt.encode({"sub": sys.argv[2], "iat": now, "exp": now + 900}, sys.argv[1], algorithm="HS256"))';
  return execFileSync(PYTHON, ['-c', script, secret, sub], { encoding: 'utf8' }).trim();
}

/**
 * Runs in the app page: adds the files to a fresh Uppy, uploads, reports.
 * `multipartAbove`: multipart for files larger than that many bytes; `true`:
 * `shouldUseMultipart: true`, multipart whatever the size.
 */
async function uploadInPage({ pluginOpts, files, multipartAbove }) {
  const uppy = new window.Uppy({ autoProceed: false });
  const shouldUseMultipart = multipartAbove === true ? true : (file) => file.size > multipartAbove;
  uppy.use(window.AwsS3, { ...pluginOpts, shouldUseMultipart });
  const progress = {};
  uppy.on('upload-progress', (file, p) => (progress[file.name] ??= []).push(p.bytesUploaded));
  for (const f of files) {
    const buf = await (await fetch('/files/' + f.name)).arrayBuffer();
    uppy.addFile({ name: f.name, type: f.type, data: new File([buf], f.name, { type: f.type }) });
  }
  const result = await uppy.upload();
  return {
    successful: (result?.successful || []).map((f) => ({ name: f.name, uploadURL: f.uploadURL || f.response?.uploadURL || '', s3: f.s3Multipart || null })),
    failed: (result?.failed || []).map((f) => ({ name: f.name, error: String(f.error) })),
    progress,
  };
}

let children = [];

async function runMajor({ major, bundleInfo, app, tmp, context, files, onePart, refusedFile, auth }) {
  const secret = crypto.randomBytes(32).toString('hex');
  const env = auth === 'jwt' ? { AUTH_MODE: 'jwt', JWT_SECRET: secret } : { AUTH_MODE: 'anonymous' };
  const local = await startLocal(path.join(tmp, `data${major}`), env, ['--allowed-origin', app.origin, '--no-trigger']);
  children.push(local.child);
  try {
    const cfg = local.config;
    const user = `uppy${major}-user`;
    const token = auth === 'jwt' ? mintJwt(secret, user) : '';
    const prefix = auth === 'jwt' ? `${cfg.prefix}${user}/` : cfg.prefix;
    const pluginOpts = major === 5
      ? { endpoint: local.base, headers: { authorization: `Bearer ${token}` } }
      : { companionEndpoint: local.base };
    const label = `Uppy ${major} (@uppy/core ${bundleInfo.versions[0]}, @uppy/aws-s3 ${bundleInfo.versions[1]}, ${auth})`;

    const page = await context.newPage();
    const pageErrors = [];
    page.on('pageerror', (e) => pageErrors.push(e.message));
    const fnRequests = [];
    const partPuts = [];
    const partTypes = [];
    page.on('request', (req) => {
      const url = new URL(req.url());
      if (req.url().startsWith(local.base + '/s3/')) {
        fnRequests.push({ method: req.method(), path: url.pathname, auth: req.headers().authorization || '' });
      }
      if (req.url().startsWith(local.emulator) && req.method() === 'PUT' && url.searchParams.has('partNumber')) {
        partPuts.push(Number(url.searchParams.get('partNumber')));
        partTypes.push(req.headers()['content-type'] ?? null);
      }
    });
    await page.goto(`${app.origin}/uppy${major}.html`, { waitUntil: 'load' });
    const result = await page.evaluate(uploadInPage, {
      pluginOpts,
      files: [...files.values()].map(({ name, type }) => ({ name, type })),
      multipartAbove: 5 * MiB,
    });
    check(`${label}: both files uploaded`, result.failed.length === 0 && result.successful.length === files.size, JSON.stringify(result));

    const calls = fnRequests.map((r) => `${r.method} ${r.path.replace(/\/s3\/multipart\/[^/]+/, '/s3/multipart/{id}')}`);
    const uniq = [...new Set(calls)].sort();
    check(`${label}: small file through GET /s3/params, large one through create, sign, complete`,
      ['GET /s3/params', 'POST /s3/multipart', 'GET /s3/multipart/{id}/1', 'GET /s3/multipart/{id}/2', 'GET /s3/multipart/{id}/3',
        'POST /s3/multipart/{id}/complete'].every((c) => uniq.includes(c)), JSON.stringify(uniq));
    check(`${label}: the large file went up as three parts straight to OSS`, partPuts.slice().sort().join() === '1,2,3', JSON.stringify(partPuts));
    if (auth === 'jwt') {
      check(`${label}: every /s3 call carried the bearer token from \`headers\``,
        fnRequests.length > 0 && fnRequests.every((r) => r.auth === `Bearer ${token}`), JSON.stringify(fnRequests.map((r) => r.auth.slice(0, 15))));
    } else {
      check(`${label}: companionEndpoint sends no Authorization header`, fnRequests.length > 0 && fnRequests.every((r) => r.auth === ''));
    }
    const big = [...files.values()].find((f) => f.bytes.length > 5 * MiB);
    const progress = result.progress[big.name] || [];
    check(`${label}: Uppy reported progress for the large file up to its size`,
      progress.some((v) => v > 0 && v < big.bytes.length) && progress.includes(big.bytes.length), JSON.stringify(progress.slice(-5)));

    // `shouldUseMultipart: true` with a file under 5 MiB: one part. Uppy 5
    // PUTs the File itself (the browser would add the file's type, which the
    // part URL must then sign: `headers` from the sign route say which type
    // to send); Uppy 6 PUTs a typeless slice and ignores `headers`.
    fnRequests.length = 0;
    partPuts.length = 0;
    partTypes.length = 0;
    const one = await page.evaluate(uploadInPage, {
      pluginOpts,
      files: [{ name: onePart.name, type: onePart.type }],
      multipartAbove: true,
    });
    check(`${label}: shouldUseMultipart: true uploads a ${onePart.bytes.length}-byte ${onePart.type} file`,
      one.failed.length === 0 && one.successful.length === 1, JSON.stringify(one));
    const oneCalls = [...new Set(fnRequests.map((r) => `${r.method} ${r.path.replace(/\/s3\/multipart\/[^/]+/, '/s3/multipart/{id}')}`))].sort();
    check(`${label}: ...as a one-part multipart upload (create, sign part 1, complete; no POST form)`,
      ['POST /s3/multipart', 'GET /s3/multipart/{id}/1', 'POST /s3/multipart/{id}/complete'].every((c) => oneCalls.includes(c))
        && !oneCalls.includes('GET /s3/params') && partPuts.join() === '1', JSON.stringify({ oneCalls, partPuts }));
    const wantType = major === 5 ? 'application/octet-stream' : null;
    check(`${label}: ...its part PUT carried Content-Type ${wantType ?? '(none)'}`,
      partTypes.length === 1 && partTypes[0] === wantType, JSON.stringify(partTypes));

    // A refused upload (a type the deployment does not allow): what the user
    // sees. Uppy 5 shows the answer's top-level `message`; Uppy 6 reads no
    // error body, only the status text.
    const refused = await page.evaluate(uploadInPage, {
      pluginOpts,
      files: [{ name: refusedFile.name, type: refusedFile.type }],
      multipartAbove: 5 * MiB,
    });
    const shown = refused.failed[0]?.error || '';
    if (major === 5) {
      check(`${label}: a refused upload (${refusedFile.type}) shows the function's message`,
        refused.successful.length === 0 && shown.includes(`"${refusedFile.type}" is not allowed`), JSON.stringify(refused));
    } else {
      check(`${label}: a refused upload (${refusedFile.type}) shows only "Companion request failed: Bad Request"`,
        refused.successful.length === 0 && /Companion request failed: Bad Request$/.test(shown) && !shown.includes('allowed'), JSON.stringify(refused));
    }

    // What landed: every key in the bucket, read as the account.
    const keys = await accountList(local.emulator, cfg.bucket, '');
    check(`${label}: exactly the three objects exist, all under the user's prefix ${prefix}`,
      keys.length === files.size + 1 && keys.every((k) => k.startsWith(prefix)), JSON.stringify(keys));
    for (const f of [...files.values(), onePart]) {
      const key = keys.find((k) => k.endsWith('/' + f.name));
      const got = key ? await accountGet(local.emulator, cfg.bucket, key) : { status: 0, body: Buffer.alloc(0) };
      check(`${label}: ${f.name} has the exact bytes and Content-Type ${f.type}`,
        got.status === 200 && sha(got.body) === sha(f.bytes) && got.type === f.type,
        `key=${key} status=${got.status} type=${got.type} size=${got.body.length}/${f.bytes.length}`);
    }
    check(`${label}: no uncaught errors in the page`, pageErrors.length === 0, pageErrors.join(' | '));
    await page.close();
  } finally {
    await stopChild(local.child);
  }
}

async function main() {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'uppy-'));
  const disarm = watchdog(HANG_GUARD_MS, () => children.forEach((c) => c.kill('SIGKILL')));
  const cleanup = [];
  try {
    const bundles = { 5: await bundle(5), 6: await bundle(6) };
    check('Uppy 5 and 6 bundled from npm', bundles[5].versions[1].startsWith('5.') && bundles[6].versions[1].startsWith('6.'),
      JSON.stringify({ 5: bundles[5].versions, 6: bundles[6].versions }));
    const files = new Map();
    for (const [name, type, size] of [['note.txt', 'text/plain', 2_345], ['clip.mp4', 'video/mp4', 11 * MiB + 4_321]]) {
      files.set(name, { name, type, bytes: crypto.randomBytes(size) });
    }
    const onePart = { name: 'scan.pdf', type: 'application/pdf', bytes: crypto.randomBytes(1 * MiB + 777) };
    const refusedFile = { name: 'page.html', type: 'text/html', bytes: Buffer.from('<!doctype html><p>hi</p>') };
    const app = await startAppServer(bundles, new Map([...files, [onePart.name, onePart], [refusedFile.name, refusedFile]]));
    cleanup.push(() => new Promise((r) => app.srv.close(r)));
    const context = await launchChromium(path.join(tmp, 'chromium'));
    cleanup.push(() => context.close());
    await step('Uppy 5 with a JWT', () => runMajor({ major: 5, bundleInfo: bundles[5], app, tmp, context, files, onePart, refusedFile, auth: 'jwt' }));
    await step('Uppy 6 anonymous', () => runMajor({ major: 6, bundleInfo: bundles[6], app, tmp, context, files, onePart, refusedFile, auth: 'anonymous' }));
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
