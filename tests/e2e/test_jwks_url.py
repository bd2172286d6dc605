"""AUTH_MODE=jwt with JWT_JWKS_URL, end to end: the binary fetches the keys from a
loopback identity provider (tests/peers/jwks_server.py: keys from `cryptography`,
tokens from PyJWT) and hands out credentials scoped to the token's user.

Rotation, the 30 s refetch cooldown and the cache bounds are tested with an
injected clock in tests/jwks_url.rs; here: the real start-up fetch, the 503
before any set, and the refusals at start.
"""
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from conftest import BIN, HTTP_TIMEOUT, api_error, base_env, free_port, sts_bucket

PEER = Path(__file__).resolve().parents[1] / "peers" / "jwks_server.py"
ISSUER = "https://issuer.jwks.test/"
AUDIENCE = "jwks-test"


class Provider:
    def __init__(self, *keys):
        args = [sys.executable, str(PEER)]
        for k in keys:
            args += ["--key", k]
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True)
        line = self.proc.stdout.readline()
        assert line.startswith("listening "), line
        self.base = f"http://127.0.0.1:{int(line.split()[1])}"
        self.url = f"{self.base}/jwks.json"

    def control(self, method, path):
        r = requests.request(method, f"{self.base}/control/{path}", timeout=HTTP_TIMEOUT)
        assert r.ok, r.text
        return r.json()

    def mint(self, kid, sub="alice", **claims):
        q = "&".join(f"{k}={v}" for k, v in claims.items())
        return self.control("GET", f"mint?kid={kid}&sub={sub}&{q}")["token"]

    def fetches(self):
        return self.control("GET", "count")["fetches"]

    def stop(self):
        self.proc.kill()
        self.proc.wait()


@pytest.fixture
def provider():
    p = Provider("k1:EC")
    yield p
    p.stop()


def jwks_env(provider):
    return {"AUTH_MODE": "jwt", "JWT_JWKS_URL": provider.url, "JWT_ISSUER": ISSUER, "JWT_AUDIENCE": AUDIENCE}


def test_the_providers_tokens_get_credentials_for_their_user(start_server, provider):
    srv = start_server("jwks-url", **jwks_env(provider))
    alice = srv.sts(token=provider.mint("k1", "alice"))
    assert alice["Prefix"] == "uploads/alice/"
    key = f"{alice['Prefix']}from-jwks.txt"
    sts_bucket(alice).put_object(key, b"hello")
    assert srv.read(key)[0] == b"hello"
    assert '"msg":"jwks fetched"' in srv.stdout() and '"kids":["k1"]' in srv.stdout(), srv.stdout()

    # iss / aud are still required.
    for claims in ({"aud": "someone-else"}, {"iss": "https://evil.test/"}):
        r = srv.call("GET", "/v1/sts", token=provider.mint("k1", "alice", **claims))
        assert api_error(r) == (401, "InvalidToken"), r.text
    # Tokens naming keys the provider never published: refused, and within
    # 30 s of the start-up fetch none of them costs a fetch.
    flood = provider.control("GET", "flood?n=25")["tokens"]
    for token in flood:
        r = srv.call("GET", "/v1/sts", token=token)
        assert api_error(r) == (401, "InvalidToken"), r.text
        assert "unknown key id" in r.headers["WWW-Authenticate"]
    assert provider.fetches() == 1


def test_a_provider_down_at_start_means_503_until_it_answers(start_server, provider):
    provider.control("POST", "mode?m=error")
    srv = start_server("jwks-down", **jwks_env(provider))
    token = provider.mint("k1", "bob")
    r = srv.call("GET", "/v1/sts", token=token)
    assert api_error(r) == (503, "JwksUnavailable"), r.text
    wait = int(r.headers["Retry-After"])
    assert 1 <= wait <= 5, wait
    assert "JWT_JWKS_URL" in r.json()["error"]["message"]
    assert '"msg":"jwks fetch failed"' in srv.stdout(), srv.stdout()
    # Routes that take no token are served meanwhile.
    assert requests.get(f"{srv.url}/healthz", timeout=HTTP_TIMEOUT).status_code == 200

    provider.control("POST", "mode?m=up")
    time.sleep(wait)
    assert srv.sts(token=token)["Prefix"] == "uploads/bob/"


def test_a_bad_jwks_url_or_a_second_key_source_stops_the_start(tmp_path):
    def run(**env):
        args = [BIN, "local", "--memory", "--port", str(free_port()), "--emulator-port", str(free_port())]
        p = subprocess.run(args, cwd=tmp_path, env=base_env(AUTH_MODE="jwt", **env), capture_output=True,
                           stdin=subprocess.DEVNULL, timeout=30)
        return p.returncode, p.stderr.decode(errors="replace")

    code, err = run(JWT_JWKS_URL="http://idp.example.com/.well-known/jwks.json")
    assert code == 2 and "JWT_JWKS_URL" in err and "https" in err, (code, err)
    code, err = run(JWT_JWKS_URL="https://idp.example.com/jwks.json", JWT_SECRET="s" * 40)
    assert code == 2 and "JWT_SECRET and JWT_JWKS_URL are both set" in err, (code, err)
