#!/usr/bin/env python3
"""Loopback STS AssumeRole peer that verifies requests with the official SDK's signers.

Why: our Rust client must produce requests real STS accepts. Rather than trust a
second hand-written signer, this peer recomputes every signature with the
functions the official Alibaba Cloud Python SDK uses to sign
(`alibabacloud_openapi_util.client.Client.get_authorization` for
ACS3-HMAC-SHA256, `...get_rpcsignature` for RPC V1) and compares.

Usage:
  sts_server.py --ak STS.caller --secret S [--token T]
                [--fail-with CODE:STATUS] [--throttle] [--delay SECS] [--garbage]
                [--expires-in SECS]
  (or env STS_PEER_AK / STS_PEER_SECRET / STS_PEER_TOKEN)

Prints the port on the first stdout line (binds 127.0.0.1:0). Exits when stdin
closes, so it never outlives the test that started it.

Endpoints:
  POST /            AssumeRole (ACS3 headers, or RPC V1 `Signature` param in query/form)
  GET  /__last      JSON of the last accepted AssumeRole (params, style, token seen)
  GET  /__stats     {"connections": n, "requests": n, "assumeRole": accepted,
                     "posts": AssumeRole calls received, faults and delays included,
                     "postedAt": the Unix time each of those arrived, in order}

--expires-in SECS answers with an Expiration SECS from now (negative: already
expired) instead of DurationSeconds, as STS seems to when clocks disagree or a
role's session settings cut the duration.
  anything else     400 STS-shaped error (a warm-up request lands here)
"""

import argparse
import base64
import datetime as dt
import hashlib
import hmac
import json
import os
import re
import secrets
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit

from alibabacloud_openapi_util.client import Client as OpenApiUtil

SKEW = dt.timedelta(minutes=15)
ROLE_ARN_RE = re.compile(r"^acs:ram::[0-9]{1,32}:role/[A-Za-z0-9.\-_]{1,64}$")
SESSION_RE = re.compile(r"^[A-Za-z0-9.@\-_]{2,64}$")
AUTH_RE = re.compile(
    r"^(?P<alg>ACS3-HMAC-SHA256) Credential=(?P<ak>[^,]+),SignedHeaders=(?P<sh>[^,]+),Signature=(?P<sig>[0-9a-f]+)$"
)


class StsFault(Exception):
    def __init__(self, status, code, message):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


class SignRequest:
    """The shape `get_authorization` reads: method, pathname, query, headers."""

    def __init__(self, method, pathname, query, headers):
        self.method = method
        self.pathname = pathname
        self.query = query
        self.headers = headers


class State:
    def __init__(self, args):
        self.args = args
        self.lock = threading.Lock()
        self.last = None
        self.connections = 0
        self.requests = 0
        self.assume_role = 0
        self.posts = 0
        self.posted_at = []
        self.nonces = set()


def parse_time(s):
    try:
        return dt.datetime.strptime(s, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.timezone.utc)
    except (TypeError, ValueError):
        raise StsFault(400, "InvalidTimeStamp.Format", "Specified time stamp or date value is not well formatted.")


def check_time(s):
    t = parse_time(s)
    now = dt.datetime.now(dt.timezone.utc)
    if abs(now - t) > SKEW:
        raise StsFault(400, "InvalidTimeStamp.Expired", "Specified time stamp or date value is expired.")


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "sts-peer"

    def log_message(self, fmt, *a):  # keep test output clean
        pass

    def setup(self):
        super().setup()
        st = self.server.state
        with st.lock:
            st.connections += 1

    # ---- responses -------------------------------------------------------
    def send_json(self, status, obj, extra_headers=()):
        body = json.dumps(obj).encode()
        self.send_raw(status, body, "application/json;charset=utf-8", extra_headers)

    def send_raw(self, status, body, ctype, extra_headers=()):
        try:
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            for k, v in extra_headers:
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def send_fault(self, f, extra_headers=()):
        self.send_json(
            f.status,
            {
                "RequestId": str(uuid.uuid4()).upper(),
                "HostId": "sts.loopback",
                "Code": f.code,
                "Message": f.message,
                "Recommend": "https://example.invalid/troubleshoot",
            },
            extra_headers,
        )

    def read_body(self):
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    # ---- routes ----------------------------------------------------------
    def do_GET(self):
        st = self.server.state
        self.read_body()
        path = urlsplit(self.path).path
        with st.lock:
            st.requests += 1
            last = dict(st.last or {})
            stats = {"connections": st.connections, "requests": st.requests, "assumeRole": st.assume_role,
                     "posts": st.posts, "postedAt": list(st.posted_at)}
        if path == "/__last":
            return self.send_json(200, last)
        if path == "/__stats":
            return self.send_json(200, stats)
        self.send_fault(StsFault(400, "MissingParameter", "The input parameter Action that is mandatory for processing this request is not supplied."))

    def do_POST(self):
        st = self.server.state
        body = self.read_body()
        with st.lock:
            st.requests += 1
            st.posts += 1
            st.posted_at.append(time.time())
        a = st.args
        if a.delay:
            time.sleep(a.delay)
        try:
            record = self.verify(body)
            if a.throttle:
                return self.send_fault(
                    StsFault(400, "Throttling.User", "Request was denied due to user flow control."),
                    [("x-acs-retry-after", "3000")],
                )
            if a.fail_with:
                code, _, status = a.fail_with.partition(":")
                return self.send_fault(StsFault(int(status or 400), code, f"Injected failure {code}."))
            if a.garbage:
                return self.send_raw(200, b"<html><body>502 Bad Gateway</body></html>", "text/html")
            with st.lock:
                st.last = record
                st.assume_role += 1
            self.send_json(200, self.assume_role(record["params"]))
        except StsFault as f:
            self.send_fault(f)

    # ---- verification ----------------------------------------------------
    def verify(self, body):
        a = self.server.state.args
        url = urlsplit(self.path)
        query = dict(parse_qsl(url.query, keep_blank_values=True))
        auth = self.headers.get("Authorization")
        if auth:
            style = "ACS3-HMAC-SHA256"
            params, token = self.verify_acs3(auth, url.path or "/", query, body)
        elif "Signature" in query or body:
            style = "RPC-V1"
            params, token = self.verify_rpc(query, body)
        else:
            raise StsFault(400, "MissingParameter", "Signature is mandatory for this action.")
        validate_assume_role(params)
        return {
            "style": style,
            "params": params,
            "security_token_received": token is not None,
            "signed_headers": self.headers.get("Authorization", "").split("SignedHeaders=")[-1].split(",")[0] if auth else None,
        }

    def check_key_and_token(self, ak, token):
        a = self.server.state.args
        if ak != a.ak:
            raise StsFault(404, "InvalidAccessKeyId.NotFound", "Specified access key is not found.")
        if a.token:
            if not token:
                raise StsFault(400, "MissingSecurityToken", "SecurityToken is mandatory for this action.")
            if not hmac.compare_digest(token, a.token):
                raise StsFault(400, "InvalidSecurityToken.MismatchWithAccessKey", "The security token you provided does not match the access key.")

    def check_nonce(self, nonce):
        if not nonce:
            raise StsFault(400, "MissingSignatureNonce", "SignatureNonce is mandatory for this action.")
        st = self.server.state
        with st.lock:
            if nonce in st.nonces:
                raise StsFault(400, "SignatureNonceUsed", "Specified signature nonce was used already.")
            st.nonces.add(nonce)

    def verify_acs3(self, auth, path, query, body):
        m = AUTH_RE.match(auth)
        if not m:
            raise StsFault(400, "IncompleteSignature", "The request signature does not conform to Aliyun standards.")
        ak, signed, sig = m.group("ak"), m.group("sh").split(";"), m.group("sig")
        token = self.headers.get("x-acs-security-token")
        self.check_key_and_token(ak, token)
        if self.headers.get("x-acs-action") != "AssumeRole" or self.headers.get("x-acs-version") != "2015-04-01":
            raise StsFault(400, "InvalidAction.NotFound", "Specified api is not found, please check your url and method.")
        for required in ("host", "x-acs-date", "x-acs-signature-nonce", "x-acs-content-sha256"):
            if required not in signed:
                raise StsFault(400, "IncompleteSignature", f"Header {required} must be signed.")
        if token is not None and "x-acs-security-token" not in signed:
            raise StsFault(400, "IncompleteSignature", "Header x-acs-security-token must be signed.")
        check_time(self.headers.get("x-acs-date"))
        payload_hash = hashlib.sha256(body).hexdigest()
        if self.headers.get("x-acs-content-sha256") != payload_hash:
            raise StsFault(400, "InvalidContentSha256", "x-acs-content-sha256 does not match the body.")
        headers = {}
        for h in signed:
            v = self.headers.get(h)
            if v is None:
                raise StsFault(400, "SignatureDoesNotMatch", f"Signed header {h} is missing.")
            headers[h] = v
        req = SignRequest(self.command, path, query, headers)
        expected = OpenApiUtil.get_authorization(req, "ACS3-HMAC-SHA256", payload_hash, ak, self.server.state.args.secret)
        if not hmac.compare_digest(expected, auth):
            raise StsFault(400, "SignatureDoesNotMatch", "Specified signature is not matched with our calculation.")
        self.check_nonce(self.headers.get("x-acs-signature-nonce"))
        return query, token

    def verify_rpc(self, query, body):
        params = dict(query)
        ctype = self.headers.get("Content-Type", "")
        if body and ctype.startswith("application/x-www-form-urlencoded"):
            params.update(parse_qsl(body.decode(), keep_blank_values=True))
        sig = params.pop("Signature", None)
        if not sig:
            raise StsFault(400, "MissingSignature", "Signature is mandatory for this action.")
        self.check_key_and_token(params.get("AccessKeyId"), params.get("SecurityToken"))
        if params.get("Action") != "AssumeRole" or params.get("Version") != "2015-04-01":
            raise StsFault(400, "InvalidAction.NotFound", "Specified api is not found.")
        if params.get("SignatureMethod") != "HMAC-SHA1" or params.get("SignatureVersion") != "1.0":
            raise StsFault(400, "InvalidSignatureMethod", "Unsupported signature method.")
        check_time(params.get("Timestamp"))
        expected = OpenApiUtil.get_rpcsignature(params, self.command, self.server.state.args.secret)
        if not hmac.compare_digest(expected, sig):
            raise StsFault(400, "SignatureDoesNotMatch", "Specified signature is not matched with our calculation.")
        self.check_nonce(params.get("SignatureNonce"))
        common = {"AccessKeyId", "Action", "Version", "Format", "SignatureMethod", "SignatureVersion",
                  "SignatureNonce", "Timestamp", "SecurityToken", "RegionId"}
        token = params.get("SecurityToken")
        return {k: v for k, v in params.items() if k not in common}, token

    # ---- the action ------------------------------------------------------
    def assume_role(self, p):
        duration = int(p.get("DurationSeconds") or 3600)
        if self.server.state.args.expires_in is not None:
            duration = self.server.state.args.expires_in
        exp = dt.datetime.now(dt.timezone.utc).replace(microsecond=0) + dt.timedelta(seconds=duration)
        account = p["RoleArn"].split(":")[3]
        role = p["RoleArn"].split("/", 1)[1]
        session = p["RoleSessionName"]
        role_id = "3" + "".join(secrets.choice("0123456789") for _ in range(17))
        return {
            "RequestId": str(uuid.uuid4()).upper(),
            "AssumedRoleUser": {
                "Arn": f"acs:ram::{account}:role/{role}/{session}",
                "AssumedRoleId": f"{role_id}:{session}",
            },
            "Credentials": {
                "AccessKeyId": "STS." + secrets.token_urlsafe(18).replace("-", "x").replace("_", "y"),
                "AccessKeySecret": base64.b64encode(secrets.token_bytes(30)).decode(),
                "SecurityToken": "CAIS" + base64.b64encode(secrets.token_bytes(300)).decode(),
                "Expiration": exp.strftime("%Y-%m-%dT%H:%M:%SZ"),
            },
        }


def validate_assume_role(p):
    arn = p.get("RoleArn")
    if not arn:
        raise StsFault(400, "MissingRoleArn", "RoleArn is mandatory for this action.")
    if not ROLE_ARN_RE.match(arn):
        raise StsFault(400, "InvalidParameter.RoleArn", "The parameter RoleArn is wrongly formed.")
    name = p.get("RoleSessionName")
    if not name:
        raise StsFault(400, "MissingRoleSessionName", "RoleSessionName is mandatory for this action.")
    if not SESSION_RE.match(name):
        raise StsFault(400, "InvalidParameter.RoleSessionName", "The parameter RoleSessionName is wrongly formed.")
    d = p.get("DurationSeconds")
    if d is not None:
        if not re.fullmatch(r"[0-9]{1,6}", d) or not 900 <= int(d) <= 43200:
            raise StsFault(400, "InvalidParameter.DurationSeconds", "The Min/Max value of DurationSeconds is 15min/12hr.")
    pol = p.get("Policy")
    if pol is not None:
        if not 1 <= len(pol) <= 2048:
            raise StsFault(400, "InvalidParameter.PolicySize", "The policy size must be 1..2048 characters.")
        try:
            doc = json.loads(pol)
        except ValueError:
            raise StsFault(400, "InvalidParameter.PolicyGrammar", "The parameter Policy has not passed grammar check.")
        if not isinstance(doc, dict) or "Version" not in doc or not isinstance(doc.get("Statement"), list):
            raise StsFault(400, "InvalidParameter.PolicyGrammar", "The parameter Policy has not passed grammar check.")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ak", default=os.environ.get("STS_PEER_AK"))
    ap.add_argument("--secret", default=os.environ.get("STS_PEER_SECRET"))
    ap.add_argument("--token", default=os.environ.get("STS_PEER_TOKEN"),
                    help="security token the AK requires (makes the AK temporary)")
    ap.add_argument("--fail-with", metavar="CODE:STATUS")
    ap.add_argument("--throttle", action="store_true")
    ap.add_argument("--delay", type=float, default=0.0)
    ap.add_argument("--garbage", action="store_true")
    ap.add_argument("--expires-in", type=int, default=None)
    args = ap.parse_args()
    if not args.ak or not args.secret:
        ap.error("--ak and --secret (or STS_PEER_AK / STS_PEER_SECRET) are required")

    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    srv.daemon_threads = True
    srv.state = State(args)
    print(srv.server_address[1], flush=True)

    def watch_stdin():
        try:
            while sys.stdin.buffer.read(4096):
                pass
        except (OSError, ValueError):
            pass
        os._exit(0)

    threading.Thread(target=watch_stdin, daemon=True).start()
    srv.serve_forever()


if __name__ == "__main__":
    main()
