// oss-direct-upload browser client: sends a File straight from the browser to
// Alibaba Cloud OSS with permission from an oss-direct-upload function.
// One dependency-free ES module; types in oss-direct-upload.d.ts.
//
//   import { upload } from './oss-direct-upload.js';
//   const { key } = await upload(file, { baseUrl: 'https://fn.example.com/', onProgress });
//
// It reads the deployment's settings (GET v1/config) and picks, by the upload
// profile's methods and the file's size, one of:
//   - a POST policy (one form POST to the bucket),
//   - a presigned PUT (one PUT with exactly the signed headers),
//   - presigned multipart (parallel parts, each retried on its own, pause with
//     an AbortSignal, resume even after a reload: key and uploadId, never a
//     token or URL, are kept in localStorage, and ListParts tells what OSS has).
// Errors are UploadErrors whose `code` names the cause: the function's error
// code (ContentTypeNotAllowed, FileTooLarge, ...), OSS's (RequestTimeTooSkewed,
// SignatureDoesNotMatch, ...) or one of ours (ETagNotExposed, NetworkError,
// Paused, Aborted).

const STORE = 'oss-direct-upload.multipart';
const METHODS = ['post-policy', 'presign', 'multipart'];

/** An upload that failed; `code` names the cause, `stage` says who refused ('function' or 'oss'). */
export class UploadError extends Error {
  constructor(message, code, extra) {
    super(message);
    this.name = 'UploadError';
    this.code = code;
    this.status = 0;
    this.retryAfter = 0;
    this.stage = 'oss';
    Object.assign(this, extra);
    // Network failures, throttling and server errors may pass; a refusal will not.
    this.retryable ??= code === 'NetworkError' || this.status === 429 || this.status >= 500;
  }
}

// ---------------------------------------------------------------------------
// The function's routes
// ---------------------------------------------------------------------------

const configs = new Map(); // baseUrl -> promise of GET v1/config

/**
 * One call to a JSON route of the function. A 401 asks the token function for
 * a fresh token once; calls that fail together share that one refresh.
 */
async function call(ctx, path, body, anonymous) {
  for (let retried = false; ; retried = true) {
    const headers = { Accept: 'application/json' };
    if (body) headers['Content-Type'] = 'application/json';
    const bearer = ctx.token && !anonymous && (ctx.bearer ??= Promise.resolve(ctx.token({ refresh: false })));
    if (bearer) headers.Authorization = 'Bearer ' + (await bearer);
    let res;
    try {
      res = await fetch(ctx.base + path, {
        method: body ? 'POST' : 'GET',
        headers,
        body: body && JSON.stringify(body),
        cache: 'no-store',
        signal: ctx.signal,
      });
    } catch (e) {
      if (ctx.signal.aborted) throw stopped(ctx);
      throw new UploadError('Cannot reach the function at ' + new URL(ctx.base + path, location.href).origin +
        ' (' + e.message + '): offline, or this origin is not in its ALLOWED_ORIGINS.', 'NetworkError', { stage: 'function' });
    }
    const data = await res.json().catch(() => ({}));
    if (res.ok) return data;
    if (res.status === 401 && bearer && !retried) {
      if (ctx.bearer === bearer) ctx.bearer = Promise.resolve(ctx.token({ refresh: true }));
      continue;
    }
    const e = data.error || {};
    throw new UploadError(e.message || 'HTTP ' + res.status, e.code || 'HTTP' + res.status, {
      status: res.status,
      retryAfter: +res.headers.get('Retry-After') || 0,
      stage: 'function',
    });
  }
}

function config(ctx) {
  let c = configs.get(ctx.base);
  if (!c) {
    c = call(ctx, 'v1/config', null, true);
    configs.set(ctx.base, c);
    c.catch(() => configs.delete(ctx.base));
  }
  return c;
}

/** What the function needs to know to sign one upload. */
const describe = (ctx) => ({
  profile: ctx.profile,
  filename: ctx.file.name,
  contentType: ctx.contentType || ctx.file.type || 'application/octet-stream',
  size: ctx.file.size,
});

// ---------------------------------------------------------------------------
// Requests to OSS
// ---------------------------------------------------------------------------

/** What to do about an OSS error code, appended to OSS's message. */
const HINTS = {
  RequestTimeTooSkewed: (x) => ' The clock that signed the request (the function\'s host, ' + x('RequestTime') +
    ') and OSS\'s (' + x('ServerTime') + ') differ by more than 15 minutes: set the function host\'s clock right.',
  SignatureDoesNotMatch: () => ' A header was added or changed after signing: send exactly the signed headers' +
    ' (a proxy, service worker or extension may add one).',
  AccessDenied: (x, m) => /expired/i.test(m) ? ' The signed URL expired before OSS received it (OSS time ' +
    x('ServerTime') + '); a fresh one is signed on retry.' : '',
};

/** OSS answers errors as XML: <Error><Code>…</Code><Message>…</Message>…</Error>. */
function ossError(status, xml) {
  const x = (tag) => ((xml || '').match('<' + tag + '>([^<]*)') || [])[1] || '';
  const code = x('Code') || 'HTTP' + status;
  const message = x('Message') || 'OSS answered HTTP ' + status + '.';
  const hint = HINTS[code]?.(x, message) || '';
  return new UploadError(message + hint, code, { status, retryable: status === 429 || status >= 500 || /expired/i.test(hint) });
}

/** The error a pause (the caller's signal) or an abort() ends an upload with. */
const stopped = (ctx) => ctx.aborting
  ? new UploadError('The upload was aborted.', 'Aborted')
  : new UploadError('Paused.', 'Paused');

/** One request straight to OSS with XHR (only XHR reports upload progress); resolves with the XHR. */
function send(ctx, method, url, headers, body, onBytes) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    const stop = () => xhr.abort();
    xhr.open(method, url);
    for (const name in headers) xhr.setRequestHeader(name, headers[name]);
    xhr.upload.onprogress = (e) => e.lengthComputable && onBytes(e.loaded / e.total);
    xhr.onload = () => (xhr.status < 300 ? resolve(xhr) : reject(ossError(xhr.status, xhr.responseText)));
    xhr.onerror = () => reject(new UploadError('OSS could not be reached, or its answer may not be read: offline,' +
      ' or the bucket\'s CORS rule does not allow ' + location.origin + ' to ' + method + '.', 'NetworkError'));
    xhr.onabort = () => reject(stopped(ctx));
    xhr.onloadend = () => ctx.signal.removeEventListener('abort', stop);
    if (ctx.signal.aborted) return xhr.onabort();
    ctx.signal.addEventListener('abort', stop);
    xhr.send(body);
  });
}

/** Runs `task` up to `attempts` times, waiting 0.5 s, 1 s, 2 s… (or Retry-After) between transient failures. */
async function retrying(ctx, task, attempts) {
  for (let attempt = 1; ; attempt++) {
    try {
      return await task();
    } catch (err) {
      if (attempt >= attempts || !err.retryable || ctx.signal.aborted) throw err;
      const delay = err.retryAfter * 1000 || 500 * 2 ** (attempt - 1) * (0.75 + Math.random() / 2);
      ctx.onRetry?.(err, delay);
      await new Promise((resolve) => {
        const timer = setTimeout(resolve, delay);
        ctx.signal.addEventListener('abort', () => resolve(clearTimeout(timer)), { once: true });
      });
      if (ctx.signal.aborted) throw stopped(ctx);
    }
  }
}

const progress = (ctx, loaded) => ctx.onProgress?.({ loaded, total: ctx.file.size, method: ctx.method });

// ---------------------------------------------------------------------------
// The three ways
// ---------------------------------------------------------------------------

async function uploadWithPostPolicy(ctx) {
  // The function picks the key and signs a policy for this one file; every
  // field goes first, in order, the file last (OSS ignores fields after it).
  const signed = await call(ctx, 'v1/post-policy', describe(ctx));
  const form = new FormData();
  for (const name in signed.fields) form.append(name, signed.fields[name]);
  form.append('file', ctx.file);
  await send(ctx, 'POST', signed.url, {}, form, (f) => progress(ctx, f * ctx.file.size));
  return signed.key;
}

async function uploadWithPresignedPut(ctx) {
  // Exactly the signed headers, no others: any other one breaks the signature.
  const signed = await call(ctx, 'v1/presign', describe(ctx));
  await send(ctx, 'PUT', signed.url, signed.headers, ctx.file, (f) => progress(ctx, f * ctx.file.size));
  return signed.key;
}

/** Which file an unfinished upload belongs to, as far as a browser can tell after a reload. */
const fileId = (f) => [f.name, f.size, f.type, f.lastModified].join('|');

function load() {
  try {
    return JSON.parse(localStorage.getItem(STORE)) || {};
  } catch {
    return {};
  }
}

function save(id, up) {
  const all = load();
  if (up) all[id] = up;
  else delete all[id];
  try {
    localStorage.setItem(STORE, JSON.stringify(all));
  } catch {
    // Storage full or off: pause and resume still work until the tab closes.
  }
}

/** Whether the object exists (one byte through a presigned GET); keys are new per upload, so it is this one. */
async function landed(ctx, key) {
  const { url } = await call(ctx, 'v1/presign', { method: 'GET', key });
  const res = await fetch(url, { headers: { Range: 'bytes=0-0' }, cache: 'no-store' }).catch(() => ({}));
  return res.status === 206 || res.status === 200;
}

async function uploadWithMultipart(ctx) {
  const { file } = ctx;
  const id = fileId(file);
  // 1. Continue this file's upload (paused, failed or before a reload): ListParts
  //    says what OSS has. Gone (completed, aborted, expired) or another user's: start over.
  let up = load()[id];
  let listed;
  if (up) {
    listed = await call(ctx, 'v1/multipart/parts', { key: up.key, uploadId: up.uploadId }).catch((e) => {
      if (e.status !== 404 && e.status !== 403) throw e;
    });
    // OSS finishes a Complete even when its answer is lost: then the object is there.
    if (!listed && up.completing && (await landed(ctx, up.key))) return save(id), up.key;
  }
  if (!listed) {
    // The function checks type and size, picks key and part size, and initiates.
    const c = await call(ctx, 'v1/multipart', describe(ctx));
    up = { key: c.key, uploadId: c.uploadId, partSize: c.partSize, partCount: c.partCount, sent: 0,
      name: file.name, size: file.size, type: file.type, lastModified: file.lastModified };
    listed = { parts: [] };
  }
  const range = (n) => [(n - 1) * up.partSize, Math.min(n * up.partSize, up.size)];
  const bytes = (n) => range(n)[1] - range(n)[0];
  const etags = new Map(); // partNumber -> ETag of the parts OSS holds in full
  for (const p of listed.parts) if (p.size === bytes(p.partNumber)) etags.set(p.partNumber, p.etag);
  const todo = [];
  for (let n = 1; n <= up.partCount; n++) if (!etags.has(n)) todo.push(n);
  let done = 0;
  for (const n of etags.keys()) done += bytes(n);
  up.sent = done;
  save(id, up);
  const flying = new Map(); // partNumber -> bytes sent so far
  const report = () => progress(ctx, [...flying.values()].reduce((a, b) => a + b, done));
  report();

  // 2. The missing parts, `parallel` at a time, each retried on its own with a
  //    fresh URL. One part failing for good (or a pause) stops the others.
  const stop = new AbortController();
  const sub = { ...ctx, signal: stop.signal };
  ctx.signal.addEventListener('abort', () => stop.abort(), { once: true });
  const sign = signer(ctx, up, todo);
  let failure;
  const worker = async () => {
    while (todo.length && !stop.signal.aborted) {
      const n = todo.shift();
      const [start, end] = range(n);
      try {
        etags.set(n, await retrying(sub, async () => {
          flying.set(n, 0);
          const part = await sign(n);
          const xhr = await send(sub, 'PUT', part.url, part.headers, file.slice(start, end), (f) => {
            flying.set(n, f * (end - start));
            report();
          });
          const etag = xhr.getResponseHeader('ETag');
          if (etag) return etag;
          throw new UploadError('OSS stored part ' + n + ', but the browser may not read its ETag: the bucket\'s' +
            ' CORS rule does not expose it. Add ETag to the rule\'s exposed headers (ExposeHeader: ETag).',
          'ETagNotExposed', { status: xhr.status, retryable: false });
        }, 5));
        done += end - start;
        up.sent = done;
        save(id, up);
      } catch (e) {
        failure ??= e;
        stop.abort();
      } finally {
        flying.delete(n);
        report();
      }
    }
  };
  await Promise.all(Array.from({ length: ctx.parallel || 4 }, worker));
  if (ctx.signal.aborted) throw stopped(ctx);
  if (failure) throw failure;

  // 3. The function checks the list against ListParts and the limits, then completes.
  up.completing = true;
  save(id, up);
  const parts = [...etags].sort((a, b) => a[0] - b[0]).map(([partNumber, etag]) => ({ partNumber, etag }));
  await call(ctx, 'v1/multipart/complete', { key: up.key, uploadId: up.uploadId, parts }).catch(async (e) => {
    if (!/^(NoSuchUpload|FileAlreadyExists)$/.test(e.code) || !(await landed(ctx, up.key))) throw e;
  });
  save(id);
  return up.key;
}

/**
 * Part URLs, eight per request to the function: the part asked for and the
 * next ones waiting. Their age is measured on this device's clock from when
 * they were signed, so a wrong device clock cannot make fresh URLs look stale.
 */
function signer(ctx, up, todo) {
  const early = new Map(); // partNumber -> promise of a part signed ahead
  const life = (Math.min(ctx.ttl, 300) - 30) * 1000;
  return async (n) => {
    const ahead = await early.get(n);
    early.delete(n);
    if (ahead && ahead.until > Date.now()) return ahead;
    const numbers = [n, ...todo.filter((m) => !early.has(m)).slice(0, 7)];
    const until = Date.now() + life;
    const signing = call(ctx, 'v1/multipart/sign', { key: up.key, uploadId: up.uploadId, size: up.size, partNumbers: numbers })
      .then((r) => r.parts.map((p) => ({ ...p, until })));
    numbers.forEach((m, i) => i && early.set(m, signing.then((ps) => ps[i], () => null)));
    return (await signing)[0];
  };
}

// ---------------------------------------------------------------------------
// The API
// ---------------------------------------------------------------------------

const running = new Map(); // fileId -> the context of an upload in progress

function context(file, options) {
  const ctl = new AbortController();
  const { signal, baseUrl } = options;
  if (signal) signal.aborted ? ctl.abort() : signal.addEventListener('abort', () => ctl.abort(), { once: true });
  return { ...options, file, ctl, signal: ctl.signal, profile: options.profile || 'default',
    base: baseUrl ? baseUrl.replace(/\/?$/, '/') : '' };
}

/**
 * Uploads `file` and resolves with `{key, method, size}`. Calling it again
 * for the same file after a pause, a failure or a reload resumes a multipart
 * upload where it stopped.
 */
export function upload(file, options = {}) {
  const ctx = context(file, options);
  const id = fileId(file);
  const run = (async () => {
    const cfg = await config(ctx);
    const rules = (cfg.profiles || []).find((p) => p.name === ctx.profile) || { methods: METHODS };
    const wanted = options.methods || METHODS;
    const ok = wanted.filter((m) => rules.methods.includes(m));
    const single = ok.find((m) => m !== 'multipart');
    ctx.ttl = rules.urlTtlSeconds || cfg.urlTtlSeconds || 300;
    // Multipart above `multipartAbove` (8 MiB: the function's usual part
    // size), or when it is the only way; a profile allowing none of the
    // wanted methods lets the function say so.
    ctx.method = load()[id] || (ok.includes('multipart') && (!single || file.size > (options.multipartAbove ?? 8 << 20)))
      ? 'multipart'
      : single || wanted[0];
    const way = { 'post-policy': uploadWithPostPolicy, presign: uploadWithPresignedPut }[ctx.method] || uploadWithMultipart;
    const key = await retrying(ctx, () => way(ctx), options.attempts || 3);
    progress(ctx, file.size);
    return { key, method: ctx.method, size: file.size };
  })();
  ctx.run = run.finally(() => running.get(id) === ctx && running.delete(id));
  running.set(id, ctx);
  return ctx.run;
}

/** Unfinished multipart uploads this browser remembers (choose their file again to resume). */
export const pending = () => Object.values(load());

/**
 * Stops the upload of `file` (a File, or an entry of pending()) if it is
 * running, and aborts it at OSS, which drops the parts sent. Resolves with
 * whether there was a multipart upload to abort.
 */
export async function abort(file, options = {}) {
  const id = fileId(file);
  const run = running.get(id);
  if (run) {
    run.aborting = true;
    run.ctl.abort();
    await run.run.catch(() => {});
  }
  const up = load()[id];
  if (!up) return false;
  save(id);
  await call(context(file, options), 'v1/multipart/abort', { key: up.key, uploadId: up.uploadId }).catch((e) => {
    if (e.code !== 'NoSuchUpload') throw (save(id, up), e);
  });
  return true;
}
