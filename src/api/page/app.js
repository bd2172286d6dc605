// The upload page: uploading straight from a browser to Alibaba Cloud OSS with
// permission from oss-direct-upload. The POST form and presigned PUT tabs run
// on the browser client this function serves at client.js (the module an app
// imports too); the STS tab uses the official SDK, ali-oss. The rest of this
// file is the page around them.
import { upload, pending, abort } from './client.js';

// ---------------------------------------------------------------------------
// Talking to the function
// ---------------------------------------------------------------------------

/** The pasted bearer token (authMode jwt / fc-jwt). In memory only, never stored. */
let bearerToken = '';
let profile = 'default'; // the upload profile picked on the page (see /v1/config)

/** An Error carrying what the caller needs to decide on a retry. */
function uploadError(message, { status = 0, code = 'Error', retryAfter = 0, stage = 'upload' } = {}) {
  const err = new Error(message);
  Object.assign(err, { status, code, retryAfter, stage });
  return err;
}

async function api(path, body) {
  // Calls one of the function's JSON routes (relative URL, so the page also
  // works behind a path prefix) and returns the parsed JSON or throws.
  const headers = { Accept: 'application/json' };
  if (body) headers['Content-Type'] = 'application/json';
  if (bearerToken) headers.Authorization = 'Bearer ' + bearerToken;
  let res;
  try {
    res = await fetch(path, {
      method: body ? 'POST' : 'GET',
      headers,
      body: body ? JSON.stringify(body) : undefined,
      cache: 'no-store',
    });
  } catch (e) {
    throw uploadError('Cannot reach the function (' + e.message + ').', { stage: 'token' });
  }
  const data = await res.json().catch(() => ({}));
  if (!res.ok) {
    const e = data.error || {};
    throw uploadError(e.message || res.statusText || 'HTTP ' + res.status, {
      status: res.status,
      code: e.code || 'HTTP' + res.status,
      retryAfter: Number(res.headers.get('Retry-After')) || 0,
      stage: 'token',
    });
  }
  return data;
}

/** True while a grant (token, policy, URL) expiring at `iso` has more than a minute left. */
function stillFresh(iso) {
  return Date.parse(iso) - 60 * 1000 > Date.now();
}

async function downloadUrl(key) {
  // A short-lived presigned GET for an object you uploaded (read-only, your prefix only).
  const signed = await api('v1/presign', { method: 'GET', key });
  return { url: signed.url, expiration: signed.expiration };
}

// ---------------------------------------------------------------------------
// Mode 1: STS token + ali-oss (multipart, resumable)
// ---------------------------------------------------------------------------

let stsToken = null;   // the last answer from /v1/sts
let stsPending = null; // a request in flight, shared by concurrent uploads

async function getStsToken() {
  // Reuse the token until one minute before it expires, then fetch a new one.
  if (stsToken && stillFresh(stsToken.Expiration)) return stsToken;
  stsPending ??= api('v1/sts?profile=' + encodeURIComponent(profile))
    .then((t) => (stsToken = t))
    .finally(() => (stsPending = null));
  return stsPending;
}

let aliOssLoading = null;

function loadAliOss(src) {
  // Loads the ali-oss browser build once; it defines window.OSS.
  if (window.OSS) return Promise.resolve(window.OSS);
  aliOssLoading ??= new Promise((resolve, reject) => {
    const script = document.createElement('script');
    script.src = src;
    script.onload = () => (window.OSS ? resolve(window.OSS) : reject(new Error('no window.OSS')));
    script.onerror = () => {
      aliOssLoading = null; // let Retry try again
      reject(uploadError('Could not load the ali-oss SDK from ' + src +
        '. The function\'s ALI_OSS_SCRIPT_URL setting names where it comes from: point it at a copy this browser can reach.', { stage: 'token' }));
    };
    document.head.append(script);
  });
  return aliOssLoading;
}

function addressing(endpoint) {
  // Where the bucket goes in URLs, decided as the function decides it:
  //  IP or localhost    -> path-style  http://127.0.0.1:9000/bucket/key (local emulator)
  //  *.aliyuncs.com     -> virtual-hosted  https://bucket.oss-cn-hangzhou.aliyuncs.com/key
  //  any other domain   -> custom domain bound to the bucket  https://files.example.com/key
  const host = new URL(endpoint).hostname;
  if (/^[\d.]+$/.test(host) || host.startsWith('[') || host === 'localhost') {
    return { sldEnable: true };
  }
  if (host === 'aliyuncs.com' || host.endsWith('.aliyuncs.com')) return {};
  return { cname: true };
}

let ossClient = null;

async function getOssClient() {
  // One ali-oss client for the page. ali-oss calls refreshSTSToken every
  // refreshSTSTokenInterval; getStsToken only goes to the network when the
  // token is within a minute of expiring.
  const OSS = await loadAliOss(config.aliOssScriptUrl);
  const t = await getStsToken();
  ossClient ??= new OSS({
    region: 'oss-' + t.Region,
    endpoint: t.Endpoint,
    bucket: t.Bucket,
    accessKeyId: t.AccessKeyId,
    accessKeySecret: t.AccessKeySecret,
    stsToken: t.SecurityToken,
    refreshSTSToken: async () => {
      const fresh = await getStsToken();
      return {
        accessKeyId: fresh.AccessKeyId,
        accessKeySecret: fresh.AccessKeySecret,
        stsToken: fresh.SecurityToken,
      };
    },
    refreshSTSTokenInterval: 30 * 1000,
    secure: t.Endpoint.startsWith('https:'),
    // V4 signatures need ali-oss >= 6.20; older builds sign V1, which OSS also accepts.
    authorizationV4: config.signatureVersion === 'v4' && 'authorizationV4' in OSS.prototype,
    ...addressing(t.Endpoint),
  });
  return ossClient;
}

function randomId() {
  // 96 random bits as hex: makes each key unique (works on plain http too).
  const bytes = crypto.getRandomValues(new Uint8Array(12));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}

async function uploadWithSts(file, contentType, onProgress, resume) {
  // The token may only write under its Prefix, so the key must start with it.
  const client = await getOssClient();
  const { Prefix } = await getStsToken();
  const key = resume.key || Prefix + randomId() + '/' + file.name.split(/[\\/]/).pop();
  resume.key = key;
  try {
    await client.multipartUpload(key, file, {
      mime: contentType,
      partSize: 1024 * 1024,
      parallel: 3,
      checkpoint: resume.checkpoint, // continue where a failed attempt stopped
      headers: { 'x-oss-forbid-overwrite': 'true' },
      progress: (fraction, checkpoint) => {
        resume.checkpoint = checkpoint;
        onProgress(fraction);
      },
    });
  } catch (e) {
    // ali-oss errors: status -1/-2 for network failures, else the OSS status and code.
    throw uploadError(e.message || String(e), { status: e.status > 0 ? e.status : 0, code: e.code || e.name });
  }
  return key;
}

// ---------------------------------------------------------------------------
// Modes 2 and 3: POST form and presigned PUT, through the browser client
// ---------------------------------------------------------------------------

// client.js (served by this function; see README "Browser client") picks a
// POST policy, a presigned PUT or presigned multipart by the profile and the
// file's size, retries, pauses, resumes after a reload and explains failures.
async function uploadWithClient(file, contentType, onProgress, item, methods) {
  const { key, method } = await upload(file, {
    profile,
    methods, // POST tab: ['post-policy']; PUT tab: ['presign', 'multipart']
    contentType,
    signal: item.pause.signal, // Pause: stops the parts in flight; upload() again resumes
    token: bearerToken ? () => bearerToken : undefined,
    onProgress: (p) => {
      item.multipart = p.method === 'multipart';
      onProgress(p.total ? p.loaded / p.total : 1);
    },
    onRetry: (err, delay) => item.onRetry(err, delay),
  });
  item.multipart = method === 'multipart';
  return key;
}

// ---------------------------------------------------------------------------
// Retries with exponential backoff (the STS tab; the client retries on its own)
// ---------------------------------------------------------------------------

/** Network failures, throttling and server errors may pass; a refusal will not. */
function isTransient(err) {
  return err.status === 0 || err.status === 429 || err.status >= 500;
}

async function withRetries(task, onWait, attempts = 3) {
  // Waits 0.5 s, 1 s, 2 s… (with jitter, or as long as Retry-After says).
  for (let attempt = 1; ; attempt++) {
    try {
      return await task();
    } catch (err) {
      if (attempt >= attempts || !isTransient(err)) throw err;
      const backoff = 500 * 2 ** (attempt - 1) * (0.75 + Math.random() / 2);
      const delay = err.retryAfter ? err.retryAfter * 1000 : backoff;
      onWait(err, delay);
      await new Promise((resolve) => setTimeout(resolve, delay));
    }
  }
}

// ---------------------------------------------------------------------------
// The page
// ---------------------------------------------------------------------------

// What "Show the client code" lists for each mode: the functions that run,
// exactly as they run (Function.prototype.toString), then the helpers they use.
const CLIENT_IMPORT = "import { upload, pending, abort } from './client.js'; // GET client.js from this function\nlet bearerToken = '';\nlet profile = 'default'; // an upload profile from /v1/config";
const CLIENT_SOURCE = '// client.js, the whole module (loaded when you open this):';
const HELPERS = ['// Helpers used above', 'let bearerToken = \'\';\nlet profile = \'default\'; // an upload profile from /v1/config', uploadError, api, stillFresh];
const MODES = {
  sts: {
    label: 'STS + ali-oss',
    // The client retries on its own; ali-oss's calls get the page's retries.
    upload: (file, type, onProgress, item) => withRetries(() => uploadWithSts(file, type, onProgress, item.resume), item.onRetry),
    code: ["const config = await api('v1/config'); // the function's public settings\n" +
      'let stsToken = null;\nlet stsPending = null;\nlet aliOssLoading = null;\nlet ossClient = null;',
      uploadWithSts, getOssClient, getStsToken, loadAliOss, addressing, randomId, ...HELPERS],
  },
  post: {
    label: 'POST form',
    upload: (file, type, onProgress, item) => uploadWithClient(file, type, onProgress, item, ['post-policy']),
    code: [CLIENT_IMPORT, uploadWithClient, CLIENT_SOURCE],
  },
  put: {
    label: 'Presigned PUT',
    upload: (file, type, onProgress, item) => uploadWithClient(file, type, onProgress, item, ['presign', 'multipart']),
    code: [CLIENT_IMPORT, uploadWithClient, CLIENT_SOURCE],
  },
};
const $ = (id) => document.getElementById(id);
let config = null;
let mode = 'sts';

function announce(text) {
  $('status').textContent = text;
}

function formatBytes(n) {
  if (n < 1024) return n + ' B';
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let i = -1;
  do { n /= 1024; i++; } while (n >= 1024 && i < units.length - 1);
  return n.toFixed(n < 10 ? 1 : 0) + ' ' + units[i];
}

function el(tag, props = {}, ...children) {
  const node = Object.assign(document.createElement(tag), props);
  node.append(...children.filter((c) => c != null));
  return node;
}

/** Shows the deployment's public settings and the limits under the drop zone. */
function showConfig(cfg) {
  const rows = [
    ['Bucket', cfg.bucket],
    ['Region', cfg.region],
    ['Endpoint', cfg.endpoint],
    ['Key prefix', cfg.prefix],
    ['Max upload', formatBytes(cfg.maxUploadBytes)],
    ['Auth', cfg.authMode],
    ['Signature', cfg.signatureVersion.toUpperCase()],
    ['URL lifetime', cfg.urlTtlSeconds + ' s'],
  ];
  $('config').replaceChildren(...rows.map(([k, v]) => el('div', {}, el('dt', { textContent: k }), el('dd', { textContent: String(v) }))));
  $('config').hidden = false;
  $('config-state').hidden = true;
  $('auth').hidden = cfg.authMode === 'anonymous';
  const profiles = cfg.profiles || [];
  $('profile-box').hidden = profiles.length < 2;
  $('profile').replaceChildren(...profiles.map((p) => el('option', { value: p.name, textContent: p.name })));
  $('profile').value = profile;
  showLimits();
}

/** The rules of the picked profile (the deployment's limits when there are no profiles). */
function currentRules() {
  const p = (config.profiles || []).find((x) => x.name === profile);
  return p || { name: 'default', contentTypes: config.allowedContentTypes, minBytes: 1,
    maxBytes: config.maxUploadBytes, methods: ['sts', 'post-policy', 'presign', 'multipart'] };
}

/** The limits under the drop zone, for the picked profile. */
function showLimits() {
  const r = currentRules();
  const types = r.contentTypes.includes('*') ? 'any type' : r.contentTypes.join(', ');
  const size = r.minBytes > 1 ? formatBytes(r.minBytes) + ' to ' + formatBytes(r.maxBytes) : 'Up to ' + formatBytes(r.maxBytes);
  const replaces = r.overwrite === 'replace' ? ' Each upload replaces your previous one.' : '';
  $('limits').textContent = size + ' each. Allowed: ' + types + '. Methods: ' + r.methods.join(', ') + '.' + replaces;
}

function typeAllowed(type) {
  const types = currentRules().contentTypes;
  return types.includes('*') || types.includes(type.split(';')[0].trim().toLowerCase());
}

/** Picking another profile: its own rules, and credentials scoped to its key space. */
function setUpProfile() {
  $('profile').addEventListener('change', () => {
    profile = $('profile').value;
    stsToken = null;
    ossClient = null;
    showLimits();
    announce('Uploads now use the ' + profile + ' profile.');
  });
}

/** Paused multipart uploads by fileId: choosing that file again resumes its row. */
const paused = new Map();

/** Which file a row is for, as far as a browser can tell after a reload (the client keys its resume state alike). */
function fileId(file) {
  return [file.name, file.size, file.type, file.lastModified].join('|');
}

/** Adds one row per file and starts uploading them with the selected mode. */
function addFiles(files) {
  if (!config) return announce('The page has not read /v1/config yet.');
  for (const file of files) {
    const waiting = paused.get(fileId(file));
    if (waiting) {
      waiting.file = file; // after a reload the row only knew the file's name and size
      startUpload(waiting);
      continue;
    }
    const item = { file, mode, resume: {} }; // resume: the STS tab's ali-oss checkpoint
    item.row = renderRow(item);
    $('uploads').prepend(item.row);
    startUpload(item);
  }
}

/** Rows for multipart uploads a reload interrupted (localStorage), waiting for their file. */
function showSavedUploads() {
  for (const up of pending()) {
    const item = { file: { name: up.name, size: up.size, type: up.type, lastModified: up.lastModified }, mode: 'put', resume: {}, multipart: true };
    item.row = renderRow(item);
    $('uploads').append(item.row);
    setProgress(item, up.sent / up.size);
    showPaused(item, 'Interrupted at ' + item.ui.pct.textContent + '. Choose ' + up.name + ' again to resume; the parts already in OSS are not sent again.');
  }
}

function showPaused(item, message) {
  const { file, ui } = item;
  paused.set(fileId(file), item);
  setState(item, 'paused', message);
  const resume = el('button', { type: 'button', className: 'btn btn-primary resume', textContent: 'Resume' });
  resume.setAttribute('aria-label', 'Resume ' + file.name);
  // After a reload the browser needs the file again: open the file picker.
  resume.addEventListener('click', () => (file instanceof Blob ? startUpload(item) : $('files').click()));
  const discard = el('button', { type: 'button', className: 'btn discard', textContent: 'Discard' });
  discard.setAttribute('aria-label', 'Discard the upload of ' + file.name);
  discard.addEventListener('click', async () => {
    paused.delete(fileId(file));
    item.row.remove();
    const token = bearerToken ? () => bearerToken : undefined;
    const done = await abort(file, { token }).then(() => 'its parts are deleted', (err) => 'OSS did not confirm (' + err.message + ')');
    announce('Discarded ' + file.name + ': ' + done + '.');
  });
  ui.actions.replaceChildren(resume, discard);
}

function renderRow(item) {
  const { file } = item;
  const progress = el('progress', { max: 100, value: 0 });
  progress.setAttribute('aria-label', 'Upload progress of ' + file.name);
  item.ui = {
    progress,
    pct: el('span', { className: 'pct', textContent: '0%' }),
    msg: el('p', { className: 'upload-msg' }),
    meta: el('dl', { className: 'upload-meta', hidden: true }),
    actions: el('div', { className: 'upload-actions' }),
  };
  const row = el('li', { className: 'upload' },
    el('div', { className: 'upload-head' },
      el('span', { className: 'upload-name', textContent: file.name }),
      el('span', { className: 'upload-size', textContent: formatBytes(file.size) + ' · ' + (file.type || 'no type') }),
      el('span', { className: 'pill', textContent: MODES[item.mode].label })),
    el('div', { className: 'bar' }, progress, item.ui.pct),
    el('div', { className: 'upload-foot' },
      el('div', { className: 'upload-info' }, item.ui.msg, item.ui.meta),
      item.ui.actions));
  Object.assign(row.dataset, { mode: item.mode, name: file.name });
  return row;
}

function setProgress(item, fraction) {
  const pct = Math.max(0, Math.min(100, Math.round(fraction * 100)));
  item.ui.progress.value = pct;
  item.ui.pct.textContent = pct + '%';
}

function setState(item, state, message) {
  item.row.dataset.state = state;
  item.ui.msg.textContent = message;
}

async function startUpload(item) {
  const { file, ui } = item;
  const contentType = file.type || 'application/octet-stream';
  paused.delete(fileId(file));
  const pause = new AbortController();
  item.pause = pause;
  // A multipart upload (the client says so in its progress reports) can be paused.
  const offerPause = () => {
    if (ui.actions.querySelector('.pause')) return;
    const button = el('button', { type: 'button', className: 'btn pause', textContent: 'Pause' });
    button.setAttribute('aria-label', 'Pause ' + file.name);
    button.addEventListener('click', () => pause.abort());
    ui.actions.replaceChildren(button);
  };
  ui.actions.replaceChildren();
  if (item.multipart) offerPause();
  else setProgress(item, 0); // a resumed multipart upload keeps its bar where it was
  setState(item, 'uploading', 'Asking the function for permission…');
  const retrying = (err, delay) => setState(item, 'uploading', describe(err) + ' Retrying in ' + (delay / 1000).toFixed(1) + ' s…');
  item.onRetry = retrying;
  try {
    if (item.mode === 'sts' && !typeAllowed(contentType)) {
      // An STS token cannot limit the type, so check here (POST and PUT are checked by the function).
      throw uploadError('contentType "' + contentType + '" is not allowed on this deployment.', { status: 400, code: 'ContentTypeNotAllowed', stage: 'token' });
    }
    if (bearerTokenNeeded() && !bearerToken) {
      throw uploadError('Paste a bearer token first.', { status: 401, code: 'NoToken', stage: 'token' });
    }
    const onProgress = (f) => {
      if (item.multipart && !pause.signal.aborted) offerPause();
      if (item.row.dataset.state === 'uploading') setProgress(item, f);
      ui.msg.textContent = 'Uploading…';
    };
    item.key = await MODES[item.mode].upload(file, contentType, onProgress, item);
    setProgress(item, 1);
    setState(item, 'done', 'Uploaded.');
    showResult(item);
    showVerdict(item);
    announce(file.name + ' uploaded (' + MODES[item.mode].label + ').');
  } catch (err) {
    if (err.code === 'Paused') {
      showPaused(item, 'Paused at ' + ui.pct.textContent + '. The parts already sent stay in OSS; Resume sends the rest.');
      announce(file.name + ' paused.');
      return;
    }
    const resumable = item.multipart && item.mode === 'put';
    if (!resumable) setProgress(item, 0);
    const again = retryCanHelp(err, resumable);
    setState(item, 'error', describe(err) + (resumable ? ' Retry sends only the missing parts.' : again ? '' : ' Sending it again cannot change that.'));
    item.row.dataset.errorCode = err.code || 'Error';
    if (again) {
      const retry = el('button', { type: 'button', className: 'btn btn-primary', textContent: 'Retry' });
      retry.setAttribute('aria-label', 'Retry ' + file.name);
      retry.addEventListener('click', () => startUpload(item));
      ui.actions.replaceChildren(retry);
    } else {
      ui.actions.replaceChildren();
    }
    announce(file.name + ' failed: ' + describe(err));
  }
}

/**
 * Whether pressing Retry can succeed: after a network failure, throttling, a
 * server error, a missing or expired token, or for a resumable upload; not
 * when the file itself is refused (type, size, profile, key).
 */
function retryCanHelp(err, resumable) {
  return resumable || isTransient(err) || err.status === 401 || err.code === 'NoToken';
}

function describe(err) {
  // Page and client errors say who answered: the function (permission) or OSS (the bytes).
  const where = err.stage === 'token' || err.stage === 'function' ? 'Could not get upload permission'
    : err.status >= 400 ? 'OSS refused the upload' : 'The upload failed';
  const code = err.code && err.code !== 'Error' ? ' [' + err.code + ']' : '';
  return where + ': ' + err.message + code;
}

function bearerTokenNeeded() {
  return config && config.authMode !== 'anonymous';
}

/** Shows the key and size, and a link that downloads the object back through a presigned GET. */
async function showResult(item) {
  const { ui } = item;
  ui.meta.replaceChildren(
    el('dt', { textContent: 'Key' }), el('dd', {}, el('code', { className: 'upload-key', textContent: item.key })),
    el('dt', { textContent: 'Size' }), el('dd', { textContent: item.file.size.toLocaleString('en') + ' bytes' }));
  ui.meta.hidden = false;
  item.row.dataset.key = item.key;
  const link = el('a', { className: 'btn download', textContent: 'Download', href: '#' });
  link.setAttribute('aria-label', 'Download ' + item.file.name);
  ui.actions.replaceChildren(link);
  let signed = null;
  const refresh = async () => {
    signed = await downloadUrl(item.key);
    link.href = signed.url;
    item.row.dataset.link = 'ready';
  };
  // A presigned URL expires; sign a new one if this one is about to.
  link.addEventListener('click', async (ev) => {
    if (signed && stillFresh(signed.expiration)) return;
    ev.preventDefault();
    try {
      await refresh();
      window.location.assign(signed.url);
    } catch (err) {
      ui.msg.textContent = 'Uploaded, but no download link: ' + err.message;
    }
  });
  try {
    await refresh();
  } catch (err) {
    item.row.dataset.link = 'failed';
    ui.msg.textContent = 'Uploaded, but no download link yet: ' + err.message;
  }
}

/**
 * The function checks every upload after it lands (type sniffed, size, key) and
 * removes what fails. Ask for its verdict a few times, backing off, and show it.
 */
async function showVerdict(item) {
  const verdict = el('p', { className: 'upload-msg upload-verdict', textContent: 'Check: pending…' });
  item.ui.msg.after(verdict);
  let failure = '';
  for (const wait of [300, 700, 1500, 3000, 6000, 12000]) {
    await new Promise((r) => setTimeout(r, wait));
    let s;
    try {
      s = await api('v1/uploads/status?key=' + encodeURIComponent(item.key));
    } catch (err) {
      failure = err.code || 'Error';
      continue;
    }
    // Gone after a successful upload: the check rejected and removed it.
    const v = s.status === 'missing' ? 'rejected' : s.status;
    if (v === 'pending') continue;
    item.row.dataset.verdict = v;
    verdict.textContent = v === 'verified'
      ? 'Check: verified.'
      : 'Check: rejected' + (s.reason ? ' (' + s.reason + ')' : '') + ' and removed.';
    announce(item.file.name + ': ' + verdict.textContent);
    return;
  }
  verdict.textContent = failure
    ? 'Check: status unavailable [' + failure + '].'
    : 'Check: still pending; your app hears the verdict by webhook.';
}

// Tabs: arrow keys, Home and End move between them (WAI-ARIA tabs pattern).
function selectTab(tab, focus) {
  const tabs = [...document.querySelectorAll('[role="tab"]')];
  for (const t of tabs) {
    const on = t === tab;
    t.setAttribute('aria-selected', String(on));
    t.tabIndex = on ? 0 : -1;
    $(t.getAttribute('aria-controls')).hidden = !on;
  }
  mode = tab.id.replace('tab-', '');
  $('drop-mode').textContent = MODES[mode].label;
  if (focus) tab.focus();
}

function setUpTabs() {
  const tabs = [...document.querySelectorAll('[role="tab"]')];
  tabs.forEach((tab, i) => {
    tab.addEventListener('click', () => selectTab(tab, false));
    tab.addEventListener('keydown', (e) => {
      const next = { ArrowRight: i + 1, ArrowDown: i + 1, ArrowLeft: i - 1, ArrowUp: i - 1, Home: 0, End: tabs.length - 1 }[e.key];
      if (next === undefined) return;
      e.preventDefault();
      selectTab(tabs[(next + tabs.length) % tabs.length], true);
    });
  });
}

function setUpDrop() {
  const drop = $('drop');
  $('files').addEventListener('change', (e) => {
    addFiles([...e.target.files]);
    e.target.value = ''; // choosing the same file again uploads it again
  });
  for (const type of ['dragenter', 'dragover']) {
    drop.addEventListener(type, (e) => {
      e.preventDefault();
      drop.classList.add('dragging');
    });
  }
  drop.addEventListener('dragleave', (e) => {
    if (!drop.contains(e.relatedTarget)) drop.classList.remove('dragging');
  });
  drop.addEventListener('drop', (e) => {
    e.preventDefault();
    drop.classList.remove('dragging');
    addFiles([...e.dataTransfer.files]);
  });
  // A file dropped next to the zone must not navigate away from the page.
  window.addEventListener('dragover', (e) => e.preventDefault());
  window.addEventListener('drop', (e) => e.preventDefault());
}

function setUpToken() {
  $('token').addEventListener('input', (e) => {
    bearerToken = e.target.value.trim().replace(/^Bearer\s+/i, '');
    // Another token may be another user with another prefix: drop cached credentials.
    stsToken = null;
    ossClient = null;
  });
}

function showCode() {
  for (const [name, m] of Object.entries(MODES)) {
    const code = document.querySelector('[data-code="' + name + '"]');
    code.textContent = m.code.map(String).join('\n\n');
    if (!m.code.includes(CLIENT_SOURCE)) continue;
    // The client module itself, fetched when the code is first shown.
    code.closest('details').addEventListener('toggle', async () => {
      if (code.dataset.loaded) return;
      code.dataset.loaded = 'true';
      const source = await fetch('client.js').then((r) => r.text(), (e) => '// could not load client.js: ' + e.message);
      code.textContent += '\n\n' + source;
    });
  }
}

async function loadConfig() {
  try {
    config = await api('v1/config');
    showConfig(config);
    showSavedUploads();
    document.body.dataset.ready = 'true';
  } catch (err) {
    const box = el('p', { className: 'error-box', textContent: 'Could not read /v1/config: ' + err.message + ' ' });
    const retry = el('button', { type: 'button', className: 'btn', textContent: 'Retry' });
    retry.addEventListener('click', () => {
      box.remove();
      $('config-state').hidden = false;
      loadConfig();
    });
    box.append(retry);
    $('config-state').hidden = true;
    $('config-state').after(box);
    announce('The page could not read its settings.');
  }
}

setUpTabs();
setUpDrop();
setUpToken();
setUpProfile();
showCode();
loadConfig();
