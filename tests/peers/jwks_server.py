#!/usr/bin/env python3
"""A loopback identity provider's JWKS endpoint for tests/jwks_url.rs and tests/e2e.

Keys are generated with `cryptography`, tokens minted with PyJWT: the function's
verifier and fetcher are tested against code we did not write. Listens on
127.0.0.1 (port 0 unless --port) and prints `listening <port>` once ready.

  GET  /jwks.json                 the published set (each request counted)
  GET  /control/count             {"fetches": n}
  POST /control/add?kid=K&kty=RSA|EC     make a key and publish it
  POST /control/remove?kid=K      unpublish it (tokens can still be minted with it)
  GET  /control/mint?kid=K&sub=S[&iss=..&aud=..&ttl=600]   a token signed by K
  GET  /control/flood?n=N         N tokens, each with its own unpublished kid
  POST /control/mode?m=up|error|hang|big|redirect|notjwks  how /jwks.json answers
  POST /control/cache?v=VALUE     its Cache-Control header (empty: none)
"""
import argparse
import json
import secrets
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

ISSUER = "https://issuer.jwks.test/"
AUDIENCE = "jwks-test"

LOCK = threading.Lock()
STATE = {
    "keys": {},  # kid -> (alg, private key)
    "published": [],  # kids, in order
    "fetches": 0,
    "mode": "up",
    "cache": "max-age=600",
}


def make_key(kid, kty):
    if kty == "EC":
        key = ec.generate_private_key(ec.SECP256R1())
        jwk = json.loads(ECAlgorithm.to_jwk(key.public_key()))
        alg = "ES256"
    else:
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        jwk = json.loads(RSAAlgorithm.to_jwk(key.public_key()))
        alg = "RS256"
    jwk.update({"kid": kid, "use": "sig", "alg": alg})
    return alg, key, jwk


def mint(kid, sub, iss=ISSUER, aud=AUDIENCE, ttl=600):
    with LOCK:
        alg, key, _ = STATE["keys"][kid]
    now = int(time.time())
    claims = {"sub": sub, "iss": iss, "aud": aud, "iat": now, "exp": now + ttl}
    return jwt.encode(claims, key, algorithm=alg, headers={"kid": kid})


def jwks_document():
    with LOCK:
        keys = [STATE["keys"][k][2] for k in STATE["published"]]
    # A key type the function does not verify with: must be skipped, not fail the set.
    keys.append({"kty": "OKP", "crv": "Ed25519", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo", "kid": "ed-1"})
    return {"keys": keys}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def reply(self, status, body, ctype="application/json", headers=()):
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        for k, v in headers:
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        self.route("GET")

    def do_POST(self):
        self.route("POST")

    def route(self, method):
        u = urlparse(self.path)
        q = {k: v[0] for k, v in parse_qs(u.query, keep_blank_values=True).items()}
        if u.path == "/jwks.json" and method == "GET":
            return self.jwks()
        if u.path == "/control/count":
            with LOCK:
                return self.reply(200, {"fetches": STATE["fetches"]})
        if u.path == "/control/add" and method == "POST":
            alg, key, jwk = make_key(q["kid"], q.get("kty", "RSA"))
            with LOCK:
                STATE["keys"][q["kid"]] = (alg, key, jwk)
                STATE["published"].append(q["kid"])
            return self.reply(200, jwk)
        if u.path == "/control/remove" and method == "POST":
            with LOCK:
                STATE["published"].remove(q["kid"])
            return self.reply(200, {})
        if u.path == "/control/mint":
            token = mint(q["kid"], q.get("sub", "alice"), q.get("iss", ISSUER), q.get("aud", AUDIENCE),
                         int(q.get("ttl", "600")))
            return self.reply(200, {"token": token})
        if u.path == "/control/flood":
            key = ec.generate_private_key(ec.SECP256R1())
            now = int(time.time())
            claims = {"sub": "mallory", "iss": ISSUER, "aud": AUDIENCE, "iat": now, "exp": now + 600}
            tokens = [jwt.encode(claims, key, algorithm="ES256", headers={"kid": secrets.token_hex(8)})
                      for _ in range(int(q.get("n", "100")))]
            return self.reply(200, {"tokens": tokens})
        if u.path == "/control/mode" and method == "POST":
            with LOCK:
                STATE["mode"] = q["m"]
            return self.reply(200, {})
        if u.path == "/control/cache" and method == "POST":
            with LOCK:
                STATE["cache"] = q.get("v", "")
            return self.reply(200, {})
        return self.reply(404, {"error": "no such route"})

    def jwks(self):
        with LOCK:
            STATE["fetches"] += 1
            mode, cache = STATE["mode"], STATE["cache"]
        headers = [("Cache-Control", cache)] if cache else []
        if mode == "error":
            return self.reply(503, {"error": "down for maintenance"})
        if mode == "hang":
            time.sleep(10)
            return self.reply(200, jwks_document(), headers=headers)
        if mode == "big":
            doc = jwks_document()
            doc["padding"] = "x" * (70 * 1024)
            return self.reply(200, doc, headers=headers)
        if mode == "redirect":
            return self.reply(302, b"", headers=[("Location", "http://127.0.0.1:1/jwks.json")])
        if mode == "notjwks":
            return self.reply(200, b"<html>login</html>", ctype="text/html")
        return self.reply(200, jwks_document(), ctype="application/jwk-set+json", headers=headers)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--key", action="append", default=[], help="kid:RSA or kid:EC, published at start")
    args = ap.parse_args()
    for spec in args.key:
        kid, _, kty = spec.partition(":")
        alg, key, jwk = make_key(kid, kty or "RSA")
        STATE["keys"][kid] = (alg, key, jwk)
        STATE["published"].append(kid)
    srv = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    srv.daemon_threads = True
    print(f"listening {srv.server_address[1]}", flush=True)
    srv.serve_forever()


if __name__ == "__main__":
    main()
