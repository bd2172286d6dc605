"""Issue 11 end to end: every upload is checked after it lands and reported to the app.

`oss-direct-upload local` with its OSS trigger on: the emulator delivers FC's event JSON to
the function's /invoke (FC's side); the function checks the stored object (HeadObject, a
ranged GetObject sniffed with `infer`, key grammar, size, type), records the verdict in the
object's tags, POSTs a Standard Webhooks message, and removes what fails. The receivers that
judge the signatures are the official `standardwebhooks` libraries (PyPI here, npm through
tests/peers/verify_webhooks.mjs); the files are real ones made by Pillow, pillow-heif, PyAV,
fpdf2 and zipfile (tests/peers/make_samples.py).
"""
import base64
import http.server
import json
import os
import re
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import oss2
import pytest
import requests
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from conftest import HTTP_TIMEOUT, REPO, form_upload, free_port, sts_bucket

sys.path.insert(0, str(REPO / "tests" / "peers"))
import make_samples  # noqa: E402

HTML = b"<!DOCTYPE html><html><body><script>alert(document.cookie)</script></body></html>\n"
WAIT = 25  # seconds for a verdict (FC-style retries back off 1, 2, 4 s)


def new_secret():
    return "whsec_" + base64.b64encode(os.urandom(32)).decode()


class Receiver:
    """A webhook endpoint on loopback that records every delivery and answers 200."""

    def __init__(self, port):
        self.port = port
        self.got = []
        self.server = None

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}/hooks/uploads"

    def start(self):
        got = self.got

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                got.append({"body": body.decode(), "headers": {k.lower(): v for k, v in self.headers.items()}})
                self.send_response(200)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self):
        if self.server:
            self.server.shutdown()
            self.server.server_close()

    def for_key(self, key):
        return [m for m in self.got if json.loads(m["body"])["data"]["key"] == key]

    def wait(self, key, timeout=WAIT):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = self.for_key(key)
            if found:
                return found
            time.sleep(0.05)
        raise AssertionError(f"no webhook for {key} within {timeout} s")


def wait_until(pred, what, timeout=WAIT):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for: {what}")


def events_url(srv):
    m = re.search(r"^\s+events\s+(\S+)", srv.stdout(), re.M)
    assert m, srv.stdout()
    return m.group(1)


def fc_event(bucket, key, etag, size, name="ObjectCreated:PutObject"):
    """The event JSON FC's OSS trigger delivers (research: upload-events.md §1.3)."""
    return json.dumps({"events": [{
        "eventName": name, "eventSource": "acs:oss", "eventTime": "2026-01-01T00:00:00.000Z",
        "eventVersion": "1.0",
        "oss": {"bucket": {"arn": f"acs:oss:cn-hangzhou:1234567890123456:{bucket}", "name": bucket,
                           "ownerIdentity": "1234567890123456"},
                "object": {"deltaSize": size, "eTag": etag, "key": key, "size": size},
                "ossSchemaVersion": "1.0", "ruleId": "r"},
        "region": "cn-hangzhou", "requestParameters": {"sourceIPAddress": "127.0.0.1"},
        "responseElements": {"requestId": "58F9FF2D3DF792092E12044C"},
        "userIdentity": {"principalId": "1234567890123456"}}]})


def deliver(url, event, **headers):
    return requests.post(url, data=event, timeout=HTTP_TIMEOUT, headers={
        "content-type": "application/octet-stream", "x-fc-control-path": "/invoke", **headers})


def tags(srv, key):
    return dict(srv.admin().get_object_tagging(key).tag_set.tagging_rule)


def status(srv, key):
    r = srv.call("GET", "/v1/uploads/status", params={"key": key})
    assert r.status_code == 200, r.text
    return r.json()


# ---------------------------------------------------------------- upload paths

def up_sts(srv, name, data, ctype):
    c = srv.sts()
    key = c["Prefix"] + "sts/" + name
    r = sts_bucket(c).put_object(key, data, headers={"Content-Type": ctype})
    return key, r.etag


def up_post(srv, name, data, ctype):
    p = srv.post_policy(filename=name, contentType=ctype, size=len(data))
    r = form_upload(p, data, filename=name, file_type=ctype)
    assert r.status_code in (200, 204), r.text
    return p["key"], r.headers["ETag"].strip('"')


def up_put(srv, name, data, ctype):
    p = srv.presign(filename=name, contentType=ctype, size=len(data))
    r = requests.put(p["url"], data=data, headers=p["headers"], timeout=HTTP_TIMEOUT)
    assert r.status_code == 200, r.text
    return p["key"], r.headers["ETag"].strip('"')


def up_multipart(srv, name, data, ctype):
    c = srv.sts()
    key = c["Prefix"] + "mp/" + name
    b = sts_bucket(c)
    upload_id = b.init_multipart_upload(key, headers={"Content-Type": ctype}).upload_id
    part = b.upload_part(key, upload_id, 1, data)
    r = b.complete_multipart_upload(key, upload_id, [oss2.models.PartInfo(1, part.etag)])
    return key, r.etag


def up_v1_multipart(srv, name, data, ctype):
    """The function's own multipart routes: create, sign one part, PUT it, complete."""
    r = srv.call("POST", "/v1/multipart", json={"filename": name, "contentType": ctype, "size": len(data)})
    assert r.status_code == 200, r.text
    up = r.json()
    r = srv.call("POST", "/v1/multipart/sign", json={"key": up["key"], "uploadId": up["uploadId"],
                                                     "partNumbers": [1], "size": len(data)})
    assert r.status_code == 200, r.text
    part = r.json()["parts"][0]
    srv.remember_url(part["url"], "/v1/multipart/sign")
    put = requests.put(part["url"], data=data, timeout=HTTP_TIMEOUT)
    assert put.status_code == 200, put.text
    r = srv.call("POST", "/v1/multipart/complete", json={
        "key": up["key"], "uploadId": up["uploadId"], "parts": [{"partNumber": 1, "etag": put.headers["ETag"]}]})
    assert r.status_code == 200, r.text
    return up["key"], r.json()["etag"].strip('"')


PATHS = {"sts": up_sts, "post": up_post, "put": up_put, "multipart": up_multipart,
         "v1-multipart": up_v1_multipart}


# ---------------------------------------------------------------- fixtures

@pytest.fixture(scope="module")
def secrets_pair():
    return new_secret(), new_secret()  # (current, previous): both sign during a rotation


@pytest.fixture(scope="module")
def receiver():
    r = Receiver(free_port()).start()
    yield r
    r.stop()


@pytest.fixture(scope="module")
def esrv(start_server, receiver, secrets_pair):
    srv = start_server("events", trigger=True, extra_args=("--webhook", receiver.url),
                       WEBHOOK_SECRET=" ".join(secrets_pair), MAX_UPLOAD_BYTES="200000")
    for s in secrets_pair:
        srv.remember(s, "WEBHOOK_SECRET")
    return srv


@pytest.fixture(scope="module")
def samples(tmp_path_factory):
    out = tmp_path_factory.mktemp("samples")
    made = {}
    for ctype, (name, make) in make_samples.SAMPLES.items():
        path = out / name
        path.write_bytes(make())
        made[ctype] = (name, path.read_bytes())
    return made


def message(m):
    return json.loads(m["body"])


# ---------------------------------------------------------------- tests

@pytest.mark.parametrize("path", list(PATHS))
def test_real_png_is_verified_and_html_declared_png_is_removed(esrv, receiver, samples, path):
    upload = PATHS[path]
    _, png = samples["image/png"]
    key, etag = upload(esrv, f"ok-{path}.png", png, "image/png")
    [m] = receiver.wait(key)
    body = message(m)
    assert body["type"] == "upload.verified", body
    d = body["data"]
    assert (d["bucket"], d["size"], d["etag"].upper()) == (esrv.bucket, len(png), etag.upper())
    assert (d["declaredType"], d["sniffedType"], d["userId"]) == ("image/png", "image/png", None)
    assert esrv.exists(key) and esrv.read(key)[0] == png
    wait_until(lambda: tags(esrv, key).get("upload-notified") == "1", "the notified tag")
    assert tags(esrv, key)["upload-status"] == "verified"
    assert status(esrv, key)["status"] == "verified"

    key, _ = upload(esrv, f"evil-{path}.png", HTML, "image/png")
    [m] = receiver.wait(key)
    body = message(m)
    assert body["type"] == "upload.rejected", body
    assert body["data"]["reason"]["code"] == "TypeMismatch", body
    assert body["data"]["sniffedType"] == "text/html" and body["data"]["disposition"] == "deleted"
    wait_until(lambda: not esrv.exists(key), f"{key} removed")
    assert status(esrv, key)["status"] == "missing"


def test_real_files_of_every_default_type_are_verified(esrv, receiver, samples):
    sniffed_as = {"image/heic": "image/heif", "application/octet-stream": None, "text/plain": None}
    keys = {ctype: up_sts(esrv, name, data, ctype)[0] for ctype, (name, data) in samples.items()}
    for ctype, key in keys.items():
        [m] = receiver.wait(key)
        body = message(m)
        assert body["type"] == "upload.verified", (ctype, body)
        assert body["data"]["declaredType"] == ctype
        assert body["data"]["sniffedType"] == sniffed_as.get(ctype, ctype), (ctype, body)
        assert esrv.exists(key)


def test_real_files_declared_as_another_type_are_removed(esrv, receiver, samples):
    swaps = [("image/png", "image/jpeg"), ("application/pdf", "image/png"), ("video/mp4", "audio/mpeg"),
             ("application/zip", "application/pdf"), ("image/jpeg", "text/plain"), ("image/gif", "image/webp"),
             ("audio/mpeg", "video/quicktime"), ("text/plain", "image/heic")]
    keys = []
    for real, declared in swaps:
        name, data = samples[real]
        keys.append((up_sts(esrv, "swap-" + name, data, declared)[0], real, declared))
    for key, real, declared in keys:
        [m] = receiver.wait(key)
        body = message(m)
        assert body["type"] == "upload.rejected", (real, declared, body)
        assert body["data"]["reason"]["code"] == "TypeMismatch", body
        wait_until(lambda: not esrv.exists(key), f"{key} removed")


def test_oversized_sts_upload_is_rejected_and_gone(esrv, receiver):
    # STS credentials pin neither size nor type: only the check stops this.
    key, _ = up_sts(esrv, "big.bin", os.urandom(250_000), "application/octet-stream")
    [m] = receiver.wait(key)
    body = message(m)
    assert body["type"] == "upload.rejected" and body["data"]["reason"]["code"] == "TooLarge", body
    assert body["data"]["size"] == 250_000
    wait_until(lambda: not esrv.exists(key), f"{key} removed")


def test_a_duplicate_event_gives_one_verdict_and_one_webhook_id(esrv, receiver, samples):
    url = events_url(esrv)
    name, png = samples["image/png"]
    key, etag = up_put(esrv, "dup.png", png, "image/png")
    [first] = receiver.wait(key)
    wait_until(lambda: tags(esrv, key).get("upload-notified") == "1", "the notified tag")
    before = tags(esrv, key)
    event = fc_event(esrv.bucket, key, etag, len(png))
    for _ in range(2):
        r = deliver(url, event)
        assert (r.status_code, r.headers.get("x-fc-status")) == (200, "200"), r.text
        assert r.json()["records"][0]["outcome"] == "verified", r.text
    time.sleep(0.5)
    assert receiver.for_key(key) == [first]
    assert tags(esrv, key) == before

    # Delivered twice at once, before any verdict: one verdict, one webhook id.
    key2, etag2 = up_sts(esrv, "twice.html", HTML, "image/png")
    event2 = fc_event(esrv.bucket, key2, etag2, len(HTML))
    with ThreadPoolExecutor(2) as pool:
        answers = list(pool.map(lambda _: deliver(url, event2), range(2)))
    assert all(a.status_code == 200 for a in answers), [a.text for a in answers]
    receiver.wait(key2)
    wait_until(lambda: not esrv.exists(key2), f"{key2} removed")
    time.sleep(1.0)
    got = receiver.for_key(key2)
    assert {m["headers"]["webhook-id"] for m in got} == {got[0]["headers"]["webhook-id"]}, got
    assert {message(m)["type"] for m in got} == {"upload.rejected"}
    # And later, once the object is gone: a no-op.
    r = deliver(url, event2)
    assert r.status_code == 200 and r.json()["records"][0]["outcome"] == "stale", r.text


def test_an_event_for_a_key_outside_the_prefix_changes_nothing(esrv, receiver):
    key = "outside/evil.html"
    esrv.admin().put_object(key, HTML, headers={"Content-Type": "image/png"})
    etag = esrv.admin().head_object(key).etag
    r = deliver(events_url(esrv), fc_event(esrv.bucket, key, etag, len(HTML)))
    assert r.status_code == 200, r.text
    assert r.json()["records"][0] == {"key": key, "outcome": "ignored", "reason": "outside UPLOAD_PREFIX"}
    time.sleep(0.5)
    assert esrv.read(key) == (HTML, "image/png")
    assert tags(esrv, key) == {}
    assert receiver.for_key(key) == []


def test_an_event_through_the_http_trigger_is_refused(start_server):
    # Trigger off, so this object raises no event of its own.
    srv = start_server("events-forged")
    key = "uploads/forged/evil.html"
    srv.admin().put_object(key, HTML, headers={"Content-Type": "image/png"})
    etag = srv.admin().head_object(key).etag
    event = fc_event(srv.bucket, key, etag, len(HTML))
    # Posing as FC through the public port: the front door drops x-fc-* headers.
    r = deliver(srv.url + "/invoke", event, **{"x-fc-access-key-id": "forged", "x-fc-request-id": "forged"})
    assert r.status_code == 404 and r.json()["error"]["code"] == "NotFound", r.text
    r = requests.post(srv.url + "/invoke", data=event, timeout=HTTP_TIMEOUT)
    assert r.status_code == 404, r.text
    time.sleep(0.5)
    assert srv.read(key) == (HTML, "image/png")
    # The same event from FC's side is acted on: it was refused only for where it came from.
    r = deliver(events_url(srv), event)
    assert r.status_code == 200 and r.json()["records"][0]["outcome"] == "rejected", r.text
    assert not srv.exists(key)
    assert "webhook msg_" in srv.stdout()  # no URL: local prints the webhook it would send


def test_webhook_receiver_down_then_back(start_server, samples, secrets_pair):
    rec = Receiver(free_port())  # not listening yet
    srv = start_server("events-down", trigger=True, extra_args=("--webhook", rec.url),
                       WEBHOOK_SECRET=secrets_pair[0])
    srv.remember(secrets_pair[0], "WEBHOOK_SECRET")
    _, png = samples["image/png"]
    key, _ = up_put(srv, "later.png", png, "image/png")
    wait_until(lambda: "FC would retry it" in srv.stdout(), "a failed attempt")
    assert status(srv, key)["status"] == "verified"  # the verdict stands; only the webhook is owed
    rec.start()
    try:
        [m] = rec.wait(key)
        assert message(m)["type"] == "upload.verified"
        wait_until(lambda: tags(srv, key).get("upload-notified") == "1", "the notified tag")
        time.sleep(0.5)
        assert len(rec.for_key(key)) == 1
    finally:
        rec.stop()


def test_webhooks_verify_with_the_official_libraries(esrv, receiver, samples, secrets_pair):
    _, png = samples["image/png"]
    key, _ = up_sts(esrv, "verify.png", png, "image/png")
    receiver.wait(key)
    msgs = list(receiver.got)
    current, previous = secrets_pair
    for m in msgs:
        sigs = m["headers"]["webhook-signature"].split(" ")
        assert len(sigs) == 2 and all(s.startswith("v1,") for s in sigs), sigs
        assert re.fullmatch(r"msg_[0-9a-f]{32}", m["headers"]["webhook-id"])
        for secret in (current, previous):  # either side of a rotation verifies
            assert Webhook(secret).verify(m["body"], m["headers"])["data"]["key"]
        with pytest.raises(WebhookVerificationError):
            Webhook(new_secret()).verify(m["body"], m["headers"])
        with pytest.raises(WebhookVerificationError):
            Webhook(current).verify(m["body"].replace('"size":', '"size":1'), m["headers"])
    node = subprocess.run(["node", str(REPO / "tests" / "peers" / "verify_webhooks.mjs")],
                          input=json.dumps({"secrets": [current, previous, new_secret()], "messages": msgs}),
                          capture_output=True, text=True, timeout=60, cwd=REPO / "tests" / "peers")
    assert node.returncode == 0, node.stderr
    results = json.loads(node.stdout)
    assert [r["ok"] for r in results] == [len(msgs), len(msgs), 0], results
    out = esrv.output()
    assert current not in out and previous not in out


def test_quarantine_keeps_a_rejected_upload_out_of_the_prefix(start_server, samples):
    rec = Receiver(free_port()).start()
    secret = new_secret()
    try:
        srv = start_server("events-quarantine", trigger=True, extra_args=("--webhook", rec.url),
                           WEBHOOK_SECRET=secret, QUARANTINE_PREFIX="quarantine/")
        srv.remember(secret, "WEBHOOK_SECRET")
        key, _ = up_post(srv, "evil.png", HTML, "image/png")
        [m] = rec.wait(key)
        body = message(m)
        assert body["type"] == "upload.rejected" and body["data"]["disposition"] == "quarantined", body
        moved = "quarantine/" + key
        wait_until(lambda: not srv.exists(key), f"{key} moved away")
        assert srv.read(moved) == (HTML, "image/png")  # bytes and metadata copied
        assert tags(srv, moved) == {"upload-status": "rejected", "upload-reason": "TypeMismatch"}
        # A verified upload stays where it is.
        _, png = samples["image/png"]
        ok, _ = up_put(srv, "fine.png", png, "image/png")
        assert message(rec.wait(ok)[0])["type"] == "upload.verified"
        assert srv.exists(ok) and not srv.exists("quarantine/" + ok)
    finally:
        rec.stop()


def test_authenticated_uploads_name_their_user(start_server, samples):
    import jwt as pyjwt
    secret, aud, iss = os.urandom(24).hex(), "e2e-events", "https://issuer.e2e.test"

    def token(sub):
        now = int(time.time())
        return pyjwt.encode({"sub": sub, "aud": aud, "iss": iss, "iat": now, "exp": now + 300},
                            secret, algorithm="HS256")

    rec = Receiver(free_port()).start()
    whsec = new_secret()
    try:
        srv = start_server("events-jwt", trigger=True, extra_args=("--webhook", rec.url),
                           WEBHOOK_SECRET=whsec, AUTH_MODE="jwt", JWT_SECRET=secret,
                           JWT_AUDIENCE=aud, JWT_ISSUER=iss)
        srv.remember(whsec, "WEBHOOK_SECRET")
        alice, bob = token("alice@example.com"), token("bob")
        _, png = samples["image/png"]
        c = srv.sts(token=alice)
        key = c["Prefix"] + "pic.png"
        sts_bucket(c).put_object(key, png, headers={"Content-Type": "image/png"})
        body = message(rec.wait(key)[0])
        assert body["type"] == "upload.verified" and body["data"]["userId"] == "alice@example.com", body
        r = srv.call("GET", "/v1/uploads/status", token=alice, params={"key": key})
        assert r.status_code == 200 and r.json()["status"] == "verified", r.text
        # Another user cannot ask about it.
        r = srv.call("GET", "/v1/uploads/status", token=bob, params={"key": key})
        assert r.status_code == 403 and r.json()["error"]["code"] == "KeyOutsidePrefix", r.text
        r = srv.call("GET", "/v1/uploads/status", params={"key": key})
        assert r.status_code == 401, r.text
    finally:
        rec.stop()


def test_an_event_with_a_url_encoded_key_finds_its_object(esrv, receiver, samples):
    # Keys in OSS events are documented nowhere as encoded or not; both must work.
    _, png = samples["image/png"]
    key, etag = up_sts(esrv, "a b+é%.png", png, "image/png")
    [m] = receiver.wait(key)
    assert message(m)["type"] == "upload.verified"
    import urllib.parse
    event = fc_event(esrv.bucket, urllib.parse.quote(key), etag, len(png))
    r = deliver(events_url(esrv), event)
    assert r.status_code == 200 and r.json()["records"][0]["outcome"] == "verified", r.text
    assert receiver.for_key(key) == [m]
