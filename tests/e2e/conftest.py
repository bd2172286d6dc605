"""Fixtures for the end-to-end tests: real `oss-direct-upload local` processes.

Every server is the shipped binary started as `oss-direct-upload local --memory`
on free loopback ports with an explicit environment, so each test module gets the
configuration it needs (signature version, limits, auth mode) without touching the
others. The account key is passed explicitly (and cross-checked against the banner).

Everything a server prints (stdout: banner + access log, stderr: emulator log) is
captured to files, and every secret a test sees in a function response (STS secret,
security token, URL/form signatures, JWTs) is recorded on the server, so the log
hygiene check can assert none of it was ever printed (see `Server.leaks`).
"""
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
from pathlib import Path

import oss2
import pytest
import requests

REPO = Path(__file__).resolve().parents[2]
BIN = os.environ.get("OSS_DIRECT_UPLOAD_BIN") or str(REPO / "target" / "debug" / "oss-direct-upload")
VENV_BIN = REPO / ".venv" / "bin"
REGION = "cn-hangzhou"
HTTP_TIMEOUT = 10  # seconds, for every HTTP call the tests make
START_TIMEOUT = 10  # seconds for /healthz to answer
STOP_TIMEOUT = 5  # seconds for SIGTERM before SIGKILL

# Every server started in this session, for the end-of-session hygiene check.
ALL_SERVERS = []

# Settings the test environment must not inherit from the caller's shell.
_SCRUB = (
    "AUTH_MODE", "JWT_SECRET", "JWT_AUDIENCE", "JWT_ISSUER", "JWT_PUBLIC_KEY", "JWT_JWKS", "JWT_JWKS_URL",
    "JWT_USER_CLAIM", "SIGNATURE_VERSION", "MAX_UPLOAD_BYTES", "ALLOWED_CONTENT_TYPES",
    "URL_TTL_SECONDS", "TOKEN_TTL_SECONDS", "RATE_LIMIT_PER_MINUTE", "UPLOAD_PREFIX",
    "ALLOWED_ORIGINS", "TRIGGER_USER_HEADER", "OSS_REGION",
)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _encoded_forms(value):
    """A secret as it could appear in a log: raw, percent-encoded, form-encoded."""
    forms = {value, urllib.parse.quote(value, safe=""), urllib.parse.quote_plus(value)}
    return {f for f in forms if f}


class Server:
    """One running `oss-direct-upload local` and what the tests learned from it."""

    def __init__(self, name, env, bucket, ak, sk, cwd):
        self.name = name
        self.env = env
        self.bucket = bucket
        self.ak = ak
        self.sk = sk
        self.cwd = Path(cwd)
        self.port = self.emu_port = None
        self.proc = None
        self.out_path = self.cwd / "stdout.log"
        self.err_path = self.cwd / "stderr.log"
        self.secrets = {}  # value -> set of where it was seen

    # ------------------------------------------------------------ lifecycle
    def start(self, extra_args=()):
        last = None
        for _attempt in range(3):  # a free port can be taken between probe and bind
            self.port, self.emu_port = free_port(), free_port()
            if self.port == self.emu_port:
                continue
            args = [BIN, "local", "--memory", "--port", str(self.port), "--emulator-port", str(self.emu_port),
                    "--bucket", self.bucket, "--access-key-id", self.ak, "--access-key-secret", self.sk,
                    *extra_args]
            self._out = open(self.out_path, "ab")
            self._err = open(self.err_path, "ab")
            self.proc = subprocess.Popen(args, cwd=self.cwd, env=self.env, stdout=self._out, stderr=self._err,
                                         stdin=subprocess.DEVNULL, start_new_session=True)
            deadline = time.monotonic() + START_TIMEOUT
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    break
                try:
                    r = requests.get(f"{self.url}/healthz", timeout=1)
                    if r.status_code == 200 and r.json() == {"status": "ok"}:
                        self.banner()  # parsed and checked once the server is up
                        return self
                except (requests.ConnectionError, requests.Timeout):
                    pass
                time.sleep(0.05)
            last = f"exit={self.proc.poll()} stdout={self.stdout()[-2000:]!r} stderr={self.stderr()[-2000:]!r}"
            self.stop()
        raise RuntimeError(f"{self.name}: oss-direct-upload local did not become healthy: {last}")

    def stop(self):
        if self.proc is None:
            return
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=STOP_TIMEOUT)
        self._out.close()
        self._err.close()
        self.proc = None

    # ------------------------------------------------------------ addresses, output
    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    @property
    def endpoint(self):
        return f"http://127.0.0.1:{self.emu_port}"

    def stdout(self):
        return self.out_path.read_text(errors="replace") if self.out_path.exists() else ""

    def stderr(self):
        return self.err_path.read_text(errors="replace") if self.err_path.exists() else ""

    def output(self):
        return self.stdout() + "\n" + self.stderr()

    def banner(self):
        """The banner's facts, checked against how we started the server."""
        text = self.stdout()
        m_fn = re.search(r"^\s+function\s+(\S+)", text, re.M)
        m_emu = re.search(r"^\s+emulator\s+(\S+)", text, re.M)
        m_ak = re.search(r"AccessKeyId (\S+)", text)
        m_sk = re.search(r"AccessKeySecret (\S+)", text)
        assert m_fn and m_emu and m_ak and m_sk, f"banner not understood:\n{text}"
        assert (m_fn.group(1), m_emu.group(1)) == (self.url, self.endpoint), text
        assert (m_ak.group(1), m_sk.group(1)) == (self.ak, self.sk), text
        return text

    def banner_commands(self):
        """The ready-to-paste shell lines, exactly as printed (leading indent removed)."""
        return [line[2:] for line in self.stdout().splitlines()
                if line.startswith(("  URL=", "  curl", "  python3", "  export "))]

    # ------------------------------------------------------------ secrets seen in responses
    def remember(self, value, what):
        if isinstance(value, str) and len(value) >= 8:
            self.secrets.setdefault(value, set()).add(what)

    def remember_url(self, url, what):
        q = urllib.parse.parse_qs(urllib.parse.urlsplit(url).query)
        for name in ("x-oss-signature", "Signature", "x-oss-security-token", "security-token"):
            for v in q.get(name, []):
                self.remember(v, f"{what} {name}")

    def leaks(self):
        """(what, form) for every remembered secret that appears in the server's output."""
        out = self.output()
        found = []
        for value, whats in self.secrets.items():
            for form in _encoded_forms(value):
                if form in out:
                    found.append((" / ".join(sorted(whats)), form[:16] + "..."))
        return found

    # ------------------------------------------------------------ function API
    def call(self, method, path, token=None, **kw):
        headers = kw.pop("headers", {})
        if token:
            headers["Authorization"] = f"Bearer {token}"
            self.remember(token, "JWT")
        r = requests.request(method, self.url + path, headers=headers, timeout=HTTP_TIMEOUT, **kw)
        try:
            body = r.json()
        except ValueError:
            return r
        self._harvest(body, path)
        return r

    def _harvest(self, body, path):
        if not isinstance(body, dict):
            return
        for k in ("AccessKeySecret", "SecurityToken", "security_token", "signature"):
            self.remember(body.get(k), f"{path} {k}")
        if isinstance(body.get("url"), str):
            self.remember_url(body["url"], path)
        for k, v in (body.get("fields") or {}).items():
            if k.lower() in ("x-oss-signature", "signature", "x-oss-security-token"):
                self.remember(v, f"{path} field {k}")

    def sts(self, token=None):
        r = self.call("GET", "/v1/sts", token=token)
        assert r.status_code == 200, r.text
        c = r.json()
        assert c["StatusCode"] == 200 and c["Bucket"] == self.bucket and c["Endpoint"] == self.endpoint, c
        return c

    def post_policy(self, token=None, expect=200, **body):
        r = self.call("POST", "/v1/post-policy", token=token, json=body)
        assert r.status_code == expect, r.text
        return r.json()

    def presign(self, token=None, expect=200, **body):
        r = self.call("POST", "/v1/presign", token=token, json=body)
        assert r.status_code == expect, r.text
        return r.json()

    # ------------------------------------------------------------ operator view (account key)
    def admin(self):
        return oss2.Bucket(oss2.Auth(self.ak, self.sk), self.endpoint, self.bucket)

    def exists(self, key):
        return self.admin().object_exists(key)

    def read(self, key):
        r = self.admin().get_object(key)
        return r.read(), r.headers.get("Content-Type")

    def keys(self, prefix=""):
        return [o.key for o in oss2.ObjectIterator(self.admin(), prefix=prefix)]


def base_env(**overrides):
    env = {k: v for k, v in os.environ.items() if k not in _SCRUB and not k.startswith(("ALIBABA_CLOUD_", "OSS_"))}
    env.update({"RATE_LIMIT_PER_MINUTE": "0"})
    env.update({k: str(v) for k, v in overrides.items()})
    return env


@pytest.fixture(scope="session")
def start_server(tmp_path_factory):
    """Factory: start_server(name, **env) -> a healthy Server; all stopped at session end."""
    started = []

    def start(name, bucket="e2e-bucket", extra_args=(), trigger=False, **env):
        # Most tests upload stand-in bytes; only the upload-check tests
        # (test_upload_events.py) run with local mode's OSS trigger on.
        if not trigger:
            extra_args = ("--no-trigger", *extra_args)
        if not os.access(BIN, os.X_OK):
            pytest.fail(f"no binary at {BIN}; run `cargo build --bin oss-direct-upload` "
                        f"or set OSS_DIRECT_UPLOAD_BIN")
        cwd = tmp_path_factory.mktemp(name)
        ak = "LTAIe2e" + secrets.token_hex(8)
        sk = secrets.token_urlsafe(24)
        srv = Server(name, base_env(**env), bucket, ak, sk, cwd)
        started.append(srv)
        ALL_SERVERS.append(srv)
        return srv.start(extra_args)

    yield start
    for srv in started:
        srv.stop()


@pytest.fixture(scope="session")
def servers(start_server):
    """The two default servers, one per SIGNATURE_VERSION, shared by the upload tests."""
    return {v: start_server(f"default-{v}", SIGNATURE_VERSION=v) for v in ("v4", "v1")}


@pytest.fixture(params=["v4", "v1"])
def srv(request, servers):
    return servers[request.param]


def sts_bucket(creds, version="v4", endpoint=None, bucket=None):
    """An oss2 Bucket on the credentials /v1/sts returned (the official SDK signs)."""
    auth = oss2.StsAuth(creds["AccessKeyId"], creds["AccessKeySecret"], creds["SecurityToken"],
                        auth_version=oss2.AUTH_VERSION_4 if version == "v4" else oss2.AUTH_VERSION_1)
    return oss2.Bucket(auth, endpoint or creds["Endpoint"], bucket or creds["Bucket"], region=creds["Region"])


def expect_oss_error(fn, status, code):
    """Run fn (an oss2 call); it must fail with this HTTP status and OSS error code."""
    try:
        fn()
    except oss2.exceptions.OssError as e:
        assert (e.status, e.code) == (status, code), f"got {e.status} {e.code}: {e.message}"
        return e
    raise AssertionError(f"expected {status} {code}, but the request succeeded")


def oss_error(resp):
    """(status, Code, Message) of an OSS XML error response."""
    code = re.search(r"<Code>([^<]*)</Code>", resp.text)
    msg = re.search(r"<Message>([^<]*)</Message>", resp.text)
    return resp.status_code, code and code.group(1), msg and msg.group(1)


def form_upload(policy, data, filename="f.bin", file_type="application/octet-stream", override=None):
    """POST the policy's fields in order (optionally some replaced), then `file` last."""
    fields = dict(policy["fields"])
    for k, v in (override or {}).items():
        fields[k] = v
    parts = [(k, (None, v)) for k, v in fields.items()]
    parts.append(("file", (filename, data, file_type)))
    return requests.post(policy["url"], files=parts, timeout=HTTP_TIMEOUT)


def flip_char(s, i=None):
    """s with one character changed, staying in the same alphabet (hex stays hex)."""
    i = len(s) // 2 if i is None else i
    c = s[i]
    if c.isdigit():
        r = "1" if c == "0" else "0"
    elif c.islower():
        r = "b" if c == "a" else "a"
    else:
        r = "B" if c == "A" else "A"
    return s[:i] + r + s[i + 1:]


def replace_query(url, name, fn):
    """url with query parameter `name` replaced by fn(old), keeping the other bytes as they were."""
    base, _, query = url.partition("?")
    out = []
    hit = False
    for pair in query.split("&"):
        k, _, v = pair.partition("=")
        if urllib.parse.unquote(k) == name:
            v = urllib.parse.quote(fn(urllib.parse.unquote(v)), safe="")
            hit = True
        out.append(f"{k}={v}")
    assert hit, f"{name} not in {url}"
    return base + "?" + "&".join(out)


def hygiene_report(servers):
    lines = []
    for s in servers:
        for what, form in s.leaks():
            lines.append(f"{s.name}: {what} printed ({form})")
    return lines


def pytest_sessionfinish(session, exitstatus):
    """Last line of defence: any secret printed by any server fails the run."""
    leaks = hygiene_report(ALL_SERVERS)
    if leaks:
        sys.stderr.write("\nLOG HYGIENE: secrets from responses appear in server output:\n  "
                         + "\n  ".join(leaks) + "\n")
        session.exitstatus = 1



def api_error(resp):
    """(status, code) of a function error response: {"error": {"code", "message"}}."""
    try:
        return resp.status_code, resp.json()["error"]["code"]
    except (ValueError, KeyError, TypeError):
        return resp.status_code, None
