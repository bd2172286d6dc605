// Test peer: the official ali-oss SDK (Node) uploads with credentials from the
// function's /v1/sts, the way the ali-oss docs recommend for browsers and apps:
// initial credentials fetched from the token service, `refreshSTSToken` pointed at
// the same service.
//
// Input (JSON on stdin): {functionUrl, v4 (bool), small: {key, path, type},
// big: {key, path, partSize}, outsideKey}. Keys are relative to the Prefix /v1/sts
// returns. Output (JSON on stdout): {prefix, refreshCalls, put: {status},
// multipart: {status}, outside: {status, code}} or {error}; exit status 1 on error.
//
// Endpoint handling (ali-oss 6.x, lib/common/utils/createRequest.js and
// lib/common/client/getReqUrl.js): for an IP endpoint ali-oss neither prefixes the
// host with the bucket nor puts the bucket in the path; it sends the request to
// http://IP:PORT/<key> with `Host: <bucket>.<region>.aliyuncs.com`. The emulator
// serves that as virtual-hosted style (Host `<bucket>.<anything>` naming its bucket),
// so the endpoint /v1/sts returns is used exactly as is, no cname / sldEnable.
'use strict';

const OSS = require('ali-oss');

function readStdin() {
  return new Promise((resolve, reject) => {
    const chunks = [];
    process.stdin.on('data', c => chunks.push(c));
    process.stdin.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    process.stdin.on('error', reject);
  });
}

async function main() {
  const cfg = JSON.parse(await readStdin());
  let refreshCalls = 0;
  const fetchSts = async () => {
    const r = await fetch(`${cfg.functionUrl}/v1/sts`, { signal: AbortSignal.timeout(10000) });
    if (r.status !== 200) throw new Error(`/v1/sts answered ${r.status}: ${await r.text()}`);
    return r.json();
  };
  const first = await fetchSts();
  const client = new OSS({
    region: `oss-${first.Region}`,
    endpoint: first.Endpoint,
    bucket: first.Bucket,
    accessKeyId: first.AccessKeyId,
    accessKeySecret: first.AccessKeySecret,
    stsToken: first.SecurityToken,
    authorizationV4: !!cfg.v4,
    timeout: 10000,
    // Every request after the first asks the token service again, so the uploads
    // below run on credentials that came through refreshSTSToken.
    refreshSTSTokenInterval: 0,
    refreshSTSToken: async () => {
      refreshCalls += 1;
      const c = await fetchSts();
      return { accessKeyId: c.AccessKeyId, accessKeySecret: c.AccessKeySecret, stsToken: c.SecurityToken };
    },
  });
  const prefix = first.Prefix;
  const out = { prefix, refreshCalls: 0 };

  const put = await client.put(prefix + cfg.small.key, cfg.small.path, { mime: cfg.small.type });
  out.put = { status: put.res.status };

  const mp = await client.multipartUpload(prefix + cfg.big.key, cfg.big.path, {
    partSize: cfg.big.partSize,
    parallel: 2,
  });
  out.multipart = { status: mp.res.status };

  try {
    await client.put(cfg.outsideKey, Buffer.from('must not land'));
    out.outside = { status: 200 };
  } catch (e) {
    out.outside = { status: e.status, code: e.code };
  }
  out.refreshCalls = refreshCalls;
  return out;
}

main()
  .then(out => process.stdout.write(JSON.stringify(out)))
  .catch(e => {
    process.stdout.write(JSON.stringify({ error: String(e && e.stack ? e.stack : e), code: e && e.code }));
    process.exit(1);
  });
