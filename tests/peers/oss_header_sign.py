"""Test peer: header-authenticated (V4 `Authorization`) OSS requests signed by
alibabacloud-oss-v2's own SignerV4, with the signing time given.

Reads {"cases": [...]} on stdin, writes {"results": [...]} on stdout, one per
case, in order: {"headers": {name: value}} or {"error": "..."}.
Case fields: ak, sk, token (or null), region, endpoint, bucket, key, method,
headers [[k, v]...], params [[k, v]...] (value "" = valueless sub-resource),
now (unix seconds). Used by tests/oss_client_crosscheck.rs; no network.
"""
import datetime as _dt
import json
import sys
from urllib.parse import quote, urlsplit

import alibabacloud_oss_v2 as ossv2
from alibabacloud_oss_v2.signer import SignerV4
from alibabacloud_oss_v2.types import HttpRequest, SigningContext


def sign(c):
    ep = urlsplit(c["endpoint"])
    url = f'{ep.scheme}://{ep.netloc}/{c["bucket"]}/{quote(c["key"])}'
    if c["params"]:
        url += "?" + "&".join(
            quote(k, safe="") + ("=" + quote(v, safe="") if v else "") for k, v in c["params"]
        )
    request = HttpRequest(c["method"], url)
    request.headers.update(dict(c["headers"]))
    cred = ossv2.credentials.StaticCredentialsProvider(
        c["ak"], c["sk"], c.get("token") or None
    ).get_credentials()
    ctx = SigningContext(
        bucket=c["bucket"], key=c["key"], request=request, credentials=cred,
        product="oss", region=c["region"],
        signing_time=_dt.datetime.fromtimestamp(c["now"], _dt.timezone.utc),
    )
    ctx.auth_method_query = False
    SignerV4().sign(ctx)
    return {k: v for k, v in request.headers.items()}


def main():
    results = []
    for c in json.load(sys.stdin)["cases"]:
        try:
            results.append({"headers": sign(c)})
        except Exception as e:  # one bad case must not hide the rest
            results.append({"error": f"{type(e).__name__}: {e}"})
    json.dump({"results": results}, sys.stdout)


if __name__ == "__main__":
    main()
