"""Issue 19: `oss-direct-upload doctor <url>` against `local`, healthy and with the faults a
real deployment can have, each of which the doctor must name.

- healthy `local` (every upload profile of profiles.example.toml, V4 and V1, anonymous and
  jwt): every finding ok, exit 0;
- the OSS trigger off (`local --no-trigger`): no verdicts, `oss-trigger` is the problem;
- a bucket CORS rule that hides `ETag`, and no bucket CORS at all, both set with the official
  oss2 SDK (`put_bucket_cors` / `delete_bucket_cors`, which the emulator serves as OSS does);
- `DELETE` refused by a front that only passes GET, HEAD, POST and OPTIONS (a loopback
  reverse proxy here, like an HTTP trigger without DELETE in its methods).
"""
import http.client
import io
import http.server
import json
import secrets
import subprocess
import threading
import time
import urllib.parse

import jwt
import oss2
import pytest
from oss2.models import BucketCors, CorsRule
from PIL import Image

from conftest import BIN, REPO

APP = "http://app.e2e.test"
PROFILES = str(REPO / "profiles.example.toml")
SECRET = secrets.token_urlsafe(40)


def doctor(url, *extra, wait=20):
    """Runs the doctor with --json; returns (exit status, report, text of stderr)."""
    p = subprocess.run([BIN, "doctor", url, "--origin", APP, "--json", "--wait", str(wait), *extra],
                       capture_output=True, text=True, timeout=wait + 90)
    try:
        report = json.loads(p.stdout)
    except ValueError:
        raise AssertionError(f"no JSON report: exit {p.returncode}\n{p.stdout}\n{p.stderr}")
    return p.returncode, report, p.stderr


def by_check(report):
    return {f["check"]: f for f in report["findings"]}


def problems(report):
    return sorted(f["check"] for f in report["findings"] if f["status"] == "problem")


def start(start_server, name, trigger=True, extra=(), **env):
    return start_server(name, trigger=trigger, extra_args=("--allowed-origin", APP, *extra), **env)


# Anonymous mode allows no `replace` profile (profiles.example.toml's avatar), so the
# anonymous server gets these; the jwt test uses profiles.example.toml itself.
ANONYMOUS_PROFILES = """
[[profile]]
name = "photo"
prefix = "photos/"
content_types = ["image/jpeg"]
max_bytes = 5_242_880
methods = ["post-policy", "presign"]

[[profile]]
name = "document"
prefix = "documents/"
content_types = ["application/pdf", "application/zip"]
max_bytes = 104_857_600

[[profile]]
name = "video"
prefix = "videos/"
content_types = ["video/mp4", "video/quicktime"]
min_bytes = 1_048_576
max_bytes = 21_474_836_480
methods = ["multipart"]
"""


@pytest.fixture(scope="module")
def healthy(start_server, tmp_path_factory):
    path = tmp_path_factory.mktemp("doctor-profiles") / "profiles.toml"
    path.write_text(ANONYMOUS_PROFILES)
    return start(start_server, "doctor-healthy", PROFILES_FILE=str(path))


def assert_all_ok(report, status):
    bad = [f for f in report["findings"] if f["status"] != "ok"]
    assert status == 0 and report["ok"] and not bad, json.dumps(report, indent=1)


def test_healthy_local_passes_every_check(healthy):
    status, report, _ = doctor(healthy.url)
    assert_all_ok(report, status)
    found = by_check(report)
    # Every profile and each of its methods was uploaded and verified.
    for check in ("upload:default:sts", "upload:default:post-policy", "upload:default:presign",
                  "upload:default:multipart", "upload:photo:post-policy", "upload:photo:presign",
                  "upload:document:sts", "upload:document:post-policy", "upload:document:presign",
                  "upload:document:multipart", "upload:video:multipart", "oss-trigger", "key-encoding",
                  "multipart-abort", "cors-function", "cors-bucket", "bucket-etag", "delete"):
        assert found[check]["status"] == "ok", (check, found.get(check))
    # What it reported is what the operator sees in the bucket: the spaced keys are there
    # verbatim, and the aborted upload left no object.
    keys = healthy.keys()
    assert any(k.startswith("uploads/") and k.endswith("/doctor check presign.png") for k in keys), keys
    assert not any("doctor abort" in k for k in keys), keys
    assert healthy.read(next(k for k in keys if k.startswith("videos/")))[1] == "video/mp4"
    photo, photo_type = healthy.read(next(k for k in keys if k.startswith("photos/")))
    assert photo_type == "image/jpeg"
    # The test files are real: Pillow decodes the JPEG and the PNG.
    with Image.open(io.BytesIO(photo)) as im:
        im.load()
        assert (im.format, im.size) == ("JPEG", (1, 1))
    png, _ = healthy.read(next(k for k in keys if k.startswith("uploads/") and k.endswith(".png")))
    with Image.open(io.BytesIO(png)) as im:
        im.load()
        assert im.format == "PNG"
    assert healthy.read(next(k for k in keys if k.startswith("documents/")))[1] == "application/pdf"


def test_text_report_is_for_people(healthy):
    p = subprocess.run([BIN, "doctor", healthy.url + "/", "--origin", APP], capture_output=True,
                       text=True, timeout=120)
    assert p.returncode == 0, p.stdout + p.stderr
    assert p.stdout.startswith(f"oss-direct-upload doctor {healthy.url}\n"), p.stdout
    assert "ok       delete" in p.stdout and p.stdout.endswith("All checks passed.\n"), p.stdout
    # The function's own origin needs no CORS (browsers do not preflight it): not a problem.
    p = subprocess.run([BIN, "doctor", healthy.url, "--origin", healthy.url, "--json"], capture_output=True,
                       text=True, timeout=120)
    found = by_check(json.loads(p.stdout))
    assert p.returncode == 0 and "own origin" in found["cors-function"]["detail"], p.stdout
    # Without --origin the CORS checks are skipped, saying why, and do not fail the run.
    p = subprocess.run([BIN, "doctor", healthy.url, "--json"], capture_output=True, text=True, timeout=120)
    found = by_check(json.loads(p.stdout))
    assert p.returncode == 0, p.stdout
    assert {found[c]["status"] for c in ("cors-function", "cors-bucket", "bucket-etag")} == {"skipped"}


@pytest.mark.parametrize("version", ["v1"])
def test_v1_and_jwt_deployments_pass_too(start_server, version):
    srv = start(start_server, f"doctor-jwt-{version}", SIGNATURE_VERSION=version, AUTH_MODE="jwt",
                JWT_SECRET=SECRET, JWT_AUDIENCE="doctor-app", JWT_ISSUER="https://issuer.doctor.test",
                PROFILES_FILE=PROFILES)
    now = int(time.time())
    token = jwt.encode({"sub": "doctor-user", "aud": "doctor-app", "iss": "https://issuer.doctor.test",
                        "iat": now, "exp": now + 600}, SECRET, algorithm="HS256")
    srv.remember(token, "JWT")
    status, report, _ = doctor(srv.url, "--token", token)
    assert_all_ok(report, status)
    assert by_check(report)["upload:avatar:presign"]["status"] == "ok"
    # Without the token the doctor says what is missing instead of failing obscurely.
    status, report, _ = doctor(srv.url)
    assert status == 1 and "token" in problems(report), json.dumps(report, indent=1)


def test_trigger_off_is_named(start_server):
    srv = start(start_server, "doctor-no-trigger", trigger=False)
    status, report, _ = doctor(srv.url, wait=3)
    assert status == 1 and not report["ok"]
    found = by_check(report)
    assert found["oss-trigger"]["status"] == "problem", found["oss-trigger"]
    assert "OSS trigger" in found["oss-trigger"]["fix"]
    assert {p for p in problems(report)} == {
        "oss-trigger", "upload:default:sts", "upload:default:post-policy", "upload:default:presign",
        "upload:default:multipart"}, problems(report)
    # Everything that does not need the trigger still passes.
    for check in ("healthz", "config", "multipart-abort", "cors-function", "cors-bucket", "bucket-etag", "delete"):
        assert found[check]["status"] == "ok", found[check]


def test_bucket_cors_rules_set_with_oss2_are_applied_and_named(start_server):
    srv = start(start_server, "doctor-cors")
    admin = srv.admin()
    # The rule README asks for, as oss2 reads it back: the emulator's starting rule.
    rules = admin.get_bucket_cors().rules
    assert any(APP in r.allowed_origins and "ETag" in r.expose_headers for r in rules)

    # A rule that allows the origin but hides ETag.
    admin.put_bucket_cors(BucketCors([CorsRule(allowed_origins=[APP], allowed_methods=["PUT", "POST", "GET", "HEAD"],
                                                allowed_headers=["*"], expose_headers=["x-oss-request-id"],
                                                max_age_seconds=600)]))
    got = admin.get_bucket_cors().rules
    assert [(r.allowed_origins, r.allowed_methods, r.expose_headers, r.max_age_seconds) for r in got] == [
        ([APP], ["PUT", "POST", "GET", "HEAD"], ["x-oss-request-id"], 600)]
    status, report, _ = doctor(srv.url)
    assert status == 1 and problems(report) == ["bucket-etag"], json.dumps(report, indent=1)
    assert "ExposeHeader ETag" in by_check(report)["bucket-etag"]["fix"]

    # OSS refuses what its rules forbid (one byte changed: a method it does not know).
    with pytest.raises(oss2.exceptions.OssError) as e:
        admin.put_bucket_cors(BucketCors([CorsRule(allowed_origins=[APP], allowed_methods=["PATCH"])]))
    assert (e.value.status, e.value.code) == (400, "InvalidArgument")

    # No CORS at all: the preflight and the ETag check are both named.
    admin.delete_bucket_cors()
    with pytest.raises(oss2.exceptions.NoSuchCors):
        admin.get_bucket_cors()
    status, report, _ = doctor(srv.url)
    assert status == 1 and problems(report) == ["bucket-etag", "cors-bucket"], json.dumps(report, indent=1)
    assert "AllowedOrigin " + APP in by_check(report)["cors-bucket"]["fix"]

    # And the rule README asks for fixes both.
    admin.put_bucket_cors(BucketCors([CorsRule(allowed_origins=[APP], allowed_methods=["PUT", "POST", "GET", "HEAD"],
                                                allowed_headers=["*"], expose_headers=["ETag", "x-oss-request-id"])]))
    status, report, _ = doctor(srv.url)
    assert_all_ok(report, status)


def test_local_cors_hide_etag_flag_is_named(start_server):
    # local's own switch for the same misconfiguration: its starting bucket rule hides ETag.
    srv = start(start_server, "doctor-hide-etag", extra=("--cors-hide-etag",))
    assert srv.admin().get_bucket_cors().rules[0].expose_headers == ["x-oss-request-id"]
    status, report, _ = doctor(srv.url)
    assert status == 1 and problems(report) == ["bucket-etag"], json.dumps(report, indent=1)


class MethodFilteringProxy:
    """A loopback reverse proxy that passes GET, HEAD, POST and OPTIONS to the function and
    answers anything else with an HTML 405, as a gateway whose trigger lacks DELETE does."""

    ALLOWED = ("GET", "HEAD", "POST", "OPTIONS")

    def __init__(self, upstream_port):
        upstream = upstream_port
        allowed = self.ALLOWED

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _handle(self):
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                if self.command not in allowed:
                    page = b"<html><body><h1>405 Method Not Allowed</h1></body></html>"
                    self.send_response(405)
                    self.send_header("content-type", "text/html")
                    self.send_header("content-length", str(len(page)))
                    self.end_headers()
                    self.wfile.write(page)
                    return
                conn = http.client.HTTPConnection("127.0.0.1", upstream, timeout=60)
                headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "connection")}
                conn.request(self.command, self.path, body=body or None, headers=headers)
                r = conn.getresponse()
                data = r.read()
                self.send_response(r.status)
                for k, v in r.getheaders():
                    if k.lower() not in ("connection", "transfer-encoding", "content-length"):
                        self.send_header(k, v)
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)
                conn.close()

            do_GET = do_HEAD = do_POST = do_OPTIONS = do_DELETE = do_PUT = do_PATCH = _handle

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


def test_delete_refused_by_the_front_is_named(start_server):
    srv = start(start_server, "doctor-front")
    proxy = MethodFilteringProxy(srv.port)
    try:
        # The proxy really passes the function's own answers (and refuses DELETE itself).
        conn = http.client.HTTPConnection("127.0.0.1", urllib.parse.urlsplit(proxy.url).port, timeout=10)
        conn.request("DELETE", "/v1/multipart?key=uploads/x&uploadId=y")
        assert conn.getresponse().status == 405
        conn.close()
        status, report, _ = doctor(proxy.url)
    finally:
        proxy.stop()
    assert status == 1 and problems(report) == ["delete"], json.dumps(report, indent=1)
    f = by_check(report)["delete"]
    assert "405" in f["detail"] and "DELETE" in f["fix"] and "methods" in f["fix"], f
