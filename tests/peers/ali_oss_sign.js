// Test peer: PostObject policy signatures from the official ali-oss SDK.
//
// Reads {"cases": [...]} as JSON on stdin, writes {"results": [...]} on stdout, one per
// case, in order: {"policy_b64", "signature"} or {"error"}. Used by
// tests/sdk_crosscheck.rs; constructing a client and signing a policy are local-only.
//
// Case fields: version ("v1" | "v4" for POST policies, "presign_v1" | "presign_v4" for
// presigned URLs, see presignCase), ak, sk, token (or null), region (e.g.
// "oss-cn-hangzhou"; ali-oss strips the "oss-" prefix for the V4 scope), policy (JSON
// text), date (ISO 8601; V4 only, the x-oss-date instant).
//
// V1: client.calculatePostSignature(policy) (lib/common/object/calculatePostSignature.js)
// returns {OSSAccessKeyId, Signature, policy}. V4: client.signPostObjectPolicyV4(policy,
// date): it is a client method mixed in from lib/common/object/signPostObjectPolicyV4.js,
// not an export of lib/common/signUtils.js, and returns only the hex signature, so the
// base64 policy is recomputed here the way ali-oss does it (policy2Str + base64).
'use strict';

const OSS = require('ali-oss');
const { policy2Str } = require('ali-oss/lib/common/utils/policy2Str');

function readStdin() {
  return new Promise((resolve, reject) => {
    const chunks = [];
    process.stdin.on('data', c => chunks.push(c));
    process.stdin.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    process.stdin.on('error', reject);
  });
}

// ali-oss reads the clock itself (`new Date()` in signatureUrlV4, `Date.now()` through
// utility.timestamp in signatureUrl), so presign cases run with Date swapped for a
// subclass frozen at `now` (unix seconds).
function withFrozenDate(nowSecs, fn) {
  const RealDate = Date;
  const ms = nowSecs * 1000;
  class FrozenDate extends RealDate {
    constructor(...args) {
      if (args.length === 0) super(ms);
      else super(...args);
    }
    static now() {
      return ms;
    }
  }
  global.Date = FrozenDate;
  const restore = () => {
    global.Date = RealDate;
  };
  try {
    const out = fn();
    if (out && typeof out.then === 'function') return out.finally(restore);
    restore();
    return out;
  } catch (e) {
    restore();
    throw e;
  }
}

// Presigned URLs. Extra case fields: bucket, key, method, headers [[k, v]...],
// params [[k, v]...] (sub-resources), now, expires (seconds after now), endpoint.
// V1: client.signatureUrl(key, {method, expires, <headers>, subResource}).
// V4: client.signatureUrlV4(method, expires, {headers, queries}, key).
async function presignCase(c) {
  const client = new OSS({
    region: c.region,
    endpoint: c.endpoint,
    accessKeyId: c.ak,
    accessKeySecret: c.sk,
    stsToken: c.token || undefined,
    bucket: c.bucket,
  });
  const headers = Object.fromEntries(c.headers);
  const params = Object.fromEntries(c.params);
  const url = await withFrozenDate(c.now, () => {
    if (c.version === 'presign_v1') {
      return client.signatureUrl(c.key, {
        method: c.method,
        expires: c.expires,
        ...headers,
        subResource: params,
      });
    }
    return client.signatureUrlV4(c.method, c.expires, { headers, queries: params }, c.key);
  });
  return { url };
}

function signCase(c) {
  const client = new OSS({
    region: c.region,
    accessKeyId: c.ak,
    accessKeySecret: c.sk,
    stsToken: c.token || undefined,
    bucket: 'unused',
  });
  if (c.version === 'v1') {
    const out = client.calculatePostSignature(c.policy);
    return { policy_b64: out.policy, signature: out.Signature, access_key_id: out.OSSAccessKeyId };
  }
  const signature = client.signPostObjectPolicyV4(c.policy, new Date(c.date));
  const policyB64 = Buffer.from(policy2Str(c.policy), 'utf8').toString('base64');
  return { policy_b64: policyB64, signature };
}

readStdin()
  .then(text => {
    const { cases } = JSON.parse(text);
    const run = async c => {
      try {
        return c.version.startsWith('presign') ? await presignCase(c) : signCase(c);
      } catch (e) {
        return { error: String(e && e.stack ? e.stack : e) };
      }
    };
    return Promise.all(cases.map(run)).then(results => {
      process.stdout.write(JSON.stringify({ results }));
    });
  })
  .catch(e => {
    process.stderr.write(String(e && e.stack ? e.stack : e));
    process.exit(1);
  });
