"""Test peer: presigned OSS URLs from the official Python SDKs, with a frozen clock.

Reads {"cases": [...]} as JSON on stdin, writes {"results": [...]} on stdout, one
result per case, in order: {"url": "..."} or {"error": "..."}. Used by
tests/sdk_crosscheck.rs; never touches the network (presigning is local in both SDKs).

Case fields: sdk ("oss2" | "v2" | "v2signer", see sign_v2_signer), version ("v1" | "v4"), ak, sk, token (or null),
endpoint, cname (bool), region, bucket, key, method, headers [[k, v]...],
params [[k, v]...], now (unix seconds), expires (seconds after now),
slash_safe (oss2 only), additional_headers [names] (v4 only),
op ("UploadPart", optional; "v2" builds the SDK's own UploadPartRequest from the
partNumber/uploadId params and presigns it; "oss2"/"v2signer" pass them as params).

Clock freezing: oss2's sign_url takes a relative `expires` and reads `time.time()` (V1)
or `datetime.utcnow()` (V4) itself, so we swap those names inside oss2.auth.
alibabacloud_oss_v2 takes an absolute `expiration` but reads
`datetime.datetime.now(timezone.utc)` for the V4 x-oss-date, so we swap the `datetime`
module reference inside its signer modules.
"""
import datetime as _dt
import json
import sys
import types
from contextlib import contextmanager

import oss2
import oss2.auth
import alibabacloud_oss_v2 as ossv2
import alibabacloud_oss_v2.signer.v1 as v2_signer_v1
import alibabacloud_oss_v2.signer.v4 as v2_signer_v4


def frozen_datetime_class(now):
    class FrozenDateTime(_dt.datetime):
        @classmethod
        def now(cls, tz=None):
            if tz is None:
                return _dt.datetime.fromtimestamp(now)
            return _dt.datetime.fromtimestamp(now, tz)

        @classmethod
        def utcnow(cls):
            return _dt.datetime.fromtimestamp(now, _dt.timezone.utc).replace(tzinfo=None)

    return FrozenDateTime


@contextmanager
def frozen_clock(now):
    cls = frozen_datetime_class(now)
    fake_dt_module = types.SimpleNamespace(
        datetime=cls, timezone=_dt.timezone, timedelta=_dt.timedelta
    )
    saved = (oss2.auth.time, oss2.auth.datetime, v2_signer_v1.datetime, v2_signer_v4.datetime)
    oss2.auth.time = types.SimpleNamespace(time=lambda: float(now))
    oss2.auth.datetime = cls
    v2_signer_v1.datetime = fake_dt_module
    v2_signer_v4.datetime = fake_dt_module
    try:
        yield
    finally:
        (oss2.auth.time, oss2.auth.datetime, v2_signer_v1.datetime, v2_signer_v4.datetime) = saved


def sign_oss2(c):
    v4 = c["version"] == "v4"
    if c.get("token"):
        auth = oss2.StsAuth(
            c["ak"], c["sk"], c["token"],
            auth_version=oss2.AUTH_VERSION_4 if v4 else oss2.AUTH_VERSION_1,
        )
    elif v4:
        auth = oss2.AuthV4(c["ak"], c["sk"])
    else:
        auth = oss2.Auth(c["ak"], c["sk"])
    bucket = oss2.Bucket(
        auth, c["endpoint"], c["bucket"], is_cname=bool(c.get("cname")),
        region=c["region"] if v4 else None,
    )
    kwargs = {}
    if v4 and c.get("additional_headers"):
        kwargs["additional_headers"] = set(c["additional_headers"])
    return bucket.sign_url(
        c["method"], c["key"], c["expires"],
        headers=dict(c["headers"]) or None,
        params=dict(c["params"]) or None,
        slash_safe=bool(c.get("slash_safe")),
        **kwargs,
    )


V2_REQUESTS = {
    "PUT": ossv2.PutObjectRequest,
    "GET": ossv2.GetObjectRequest,
    "HEAD": ossv2.HeadObjectRequest,
}


def sign_v2(c):
    cfg = ossv2.config.load_default()
    cfg.credentials_provider = ossv2.credentials.StaticCredentialsProvider(
        c["ak"], c["sk"], c.get("token") or None
    )
    cfg.region = c["region"]
    cfg.endpoint = c["endpoint"]
    cfg.use_cname = bool(c.get("cname"))
    cfg.signature_version = c["version"]
    if c.get("additional_headers"):
        cfg.additional_headers = list(c["additional_headers"])
    client = ossv2.Client(cfg)
    if c.get("op") == "UploadPart":
        p = dict(c["params"])
        req = ossv2.UploadPartRequest(
            bucket=c["bucket"], key=c["key"],
            part_number=int(p["partNumber"]), upload_id=p["uploadId"],
        )
        req.headers = dict(c["headers"])
    else:
        req = V2_REQUESTS[c["method"]](bucket=c["bucket"], key=c["key"])
        req.headers = dict(c["headers"])
        req.parameters = dict(c["params"])
    expiration = _dt.datetime.fromtimestamp(c["now"] + c["expires"], _dt.timezone.utc)
    return client.presign(req, expiration=expiration).url


def sign_v2_signer(c):
    """alibabacloud_oss_v2's SignerV4 driven directly, as its own unit tests do.

    Needed for AdditionalHeaders: in alibabacloud-oss-v2 1.4.1 `Config.additional_headers`
    is stored in the client options but never copied into the SigningContext, so
    `Client.presign` silently signs no additional headers.
    """
    from urllib.parse import quote, urlsplit

    from alibabacloud_oss_v2.signer import SignerV4
    from alibabacloud_oss_v2.types import HttpRequest, SigningContext

    if c["version"] != "v4":
        raise ValueError("v2signer supports v4 only")
    ep = urlsplit(c["endpoint"])
    url = f'{ep.scheme}://{c["bucket"]}.{ep.netloc}/{quote(c["key"])}'
    if c["params"]:
        url += "?" + "&".join(f"{quote(k, safe='')}={quote(v, safe='')}" for k, v in c["params"])
    request = HttpRequest(c["method"], url)
    request.headers.update(dict(c["headers"]))
    cred = ossv2.credentials.StaticCredentialsProvider(
        c["ak"], c["sk"], c.get("token") or None
    ).get_credentials()
    ctx = SigningContext(
        bucket=c["bucket"], key=c["key"], request=request, credentials=cred,
        product="oss", region=c["region"],
        signing_time=_dt.datetime.fromtimestamp(c["now"], _dt.timezone.utc),
        additional_headers=set(c.get("additional_headers") or []),
    )
    ctx.expiration_time = _dt.datetime.fromtimestamp(c["now"] + c["expires"], _dt.timezone.utc)
    ctx.auth_method_query = True
    SignerV4().sign(ctx)
    return request.url


SIGNERS = {"oss2": sign_oss2, "v2": sign_v2, "v2signer": sign_v2_signer}


def main():
    cases = json.load(sys.stdin)["cases"]
    results = []
    for c in cases:
        try:
            with frozen_clock(c["now"]):
                url = SIGNERS[c["sdk"]](c)
            results.append({"url": url})
        except Exception as e:  # reported per case so one bad case does not hide the rest
            results.append({"error": f"{type(e).__name__}: {e}"})
    json.dump({"results": results}, sys.stdout)


if __name__ == "__main__":
    main()
