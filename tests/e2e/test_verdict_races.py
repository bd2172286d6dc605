"""Issue 19 items 2, 3, 8 and 9 end to end: a verdict belongs to the version it judged.

`oss-direct-upload local` with its trigger off, so each test delivers FC's events itself, in the
order it wants, on FC's side of the runtime (the `events` URL the banner prints). The app is a
loopback receiver this file controls: it can hold a webhook open (the app "still answering"), fail
one attempt, or answer 410 Gone. Objects are written with oss2 on `/v1/sts` credentials, as an
attacker holding them would; verdicts are read back through `/v1/uploads/status` and the
object's tags (oss2, account key).
"""
import base64
import http.server
import json
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import oss2
import pytest
import requests

from conftest import HTTP_TIMEOUT, api_error, free_port, sts_bucket
from test_upload_events import HTML, deliver, events_url, fc_event, new_secret

PNG = (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4"
       b"\x89\x00\x00\x00\rIDATx\x9cc\xf8\xcf\xc0\xf0\x1f\x00\x05\x00\x01\xff\x89\x99=\x1d\x00\x00\x00\x00IEND"
       b"\xaeB`\x82")
HOLD_LIMIT = 6  # seconds a held webhook waits at most (below EVENT_TIMEOUT_MS)


class ScriptedApp:
    """A webhook receiver on loopback: per key, a script of answers, one per delivery:
    "ok" (200), "hold" (wait for release(), then 200), "fail" (500), "gone" (410).
    Deliveries past the script's end are answered 200."""

    def __init__(self):
        self.port = free_port()
        self.got = []
        self.scripts = {}
        self.held = {}
        self.lock = threading.Lock()
        self.server = None

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}/hooks/uploads"

    def script(self, key, actions):
        with self.lock:
            self.scripts[key] = list(actions)
            self.held[key] = (threading.Event(), threading.Event())  # (arrived, released)

    def wait_held(self, key, timeout=10):
        assert self.held[key][0].wait(timeout), f"no webhook for {key} arrived to hold"

    def release(self, key):
        self.held[key][1].set()

    def start(self):
        app = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                msg = json.loads(body)
                key = msg["data"]["key"]
                with app.lock:
                    app.got.append(msg)
                    script = app.scripts.get(key, [])
                    action = script.pop(0) if script else "ok"
                if action == "hold":
                    arrived, released = app.held[key]
                    arrived.set()
                    released.wait(HOLD_LIMIT)
                code = {"ok": 200, "hold": 200, "fail": 500, "gone": 410}[action]
                self.send_response(code)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self):
        if self.server:
            for _, released in self.held.values():
                released.set()
            self.server.shutdown()
            self.server.server_close()

    def for_key(self, key):
        return [(m["type"], m["data"]["etag"].upper()) for m in self.got if m["data"]["key"] == key]


@pytest.fixture(scope="module")
def app():
    a = ScriptedApp().start()
    yield a
    a.stop()


@pytest.fixture(scope="module")
def rsrv(start_server, app):
    secret = new_secret()
    srv = start_server("races", extra_args=("--webhook", app.url), WEBHOOK_SECRET=secret)
    srv.remember(secret, "WEBHOOK_SECRET")
    return srv


def status(srv, key):
    r = srv.call("GET", "/v1/uploads/status", params={"key": key})
    assert r.status_code == 200, r.text
    return r.json()


def tags(srv, key):
    return dict(srv.admin().get_object_tagging(key).tag_set.tagging_rule)


def put(bucket, key, data, ctype="image/png"):
    return bucket.put_object(key, data, headers={"Content-Type": ctype}).etag.upper()


def event(srv, key, etag, data):
    return deliver(events_url(srv), fc_event(srv.bucket, key, etag, len(data)))


def outcome(r):
    return r.json()["records"][0]["outcome"]


def sts_setup(srv, name):
    c = srv.sts()
    return sts_bucket(c), c["Prefix"] + "races/" + name


# ------------------------------------------------------------------ item 2: the scenarios

def test_a_png_checked_then_overwritten_with_html_while_its_webhook_is_held(rsrv, app):
    """(a) The PNG's late steps must not mark the HTML that replaced it `verified`."""
    b, key = sts_setup(rsrv, "a/avatar.png")
    e1 = put(b, key, PNG)
    app.script(key, ["hold"])
    with ThreadPoolExecutor(1) as pool:
        first = pool.submit(event, rsrv, key, e1, PNG)
        app.wait_held(key)  # the PNG is judged and the app is told; the app is still answering
        e2 = put(b, key, HTML)  # ... when the key is overwritten with HTML declared image/png
        app.release(key)
        r1 = first.result()
    assert r1.status_code == 200, r1.text
    # The PNG's check saw the key move on after telling the app, and judged what replaced it.
    assert not rsrv.exists(key)
    assert status(rsrv, key)["status"] == "missing"
    r2 = event(rsrv, key, e2, HTML)  # the HTML's own event: nothing left to do
    assert (r2.status_code, outcome(r2)) == (200, "stale"), r2.text
    assert status(rsrv, key)["status"] == "missing"
    assert app.for_key(key) == [("upload.verified", e1), ("upload.rejected", e2)]


def test_a_rejected_html_whose_webhook_failed_once_is_still_rejected_on_retry(rsrv, app):
    """(b) The retry of the HTML's event must find its own verdict, not the PNG's."""
    b, key = sts_setup(rsrv, "b/avatar.png")
    e1 = put(b, key, PNG)
    app.script(key, ["hold", "fail"])
    with ThreadPoolExecutor(1) as pool:
        first = pool.submit(event, rsrv, key, e1, PNG)
        app.wait_held(key)
        e2 = put(b, key, HTML)
        r2 = event(rsrv, key, e2, HTML)  # judged, tagged rejected, but the webhook fails
        assert (r2.status_code, r2.headers.get("x-fc-status")) == (404, "404"), r2.text
        app.release(key)  # now the PNG's check finishes
        assert first.result().status_code == 200
    # The PNG's check found the HTML in its place and finished the HTML's own verdict ...
    assert not rsrv.exists(key)
    retry = event(rsrv, key, e2, HTML)  # ... so FC's retry of the HTML's event has nothing left
    assert (retry.status_code, outcome(retry)) == (200, "stale"), retry.text
    assert app.for_key(key) == [("upload.verified", e1), ("upload.rejected", e2), ("upload.rejected", e2)]


def test_the_right_avatar_uploaded_while_the_app_answers_the_wrong_ones_rejection_stays(rsrv, app):
    """(c) The wrong avatar's removal must not remove the right one that replaced it."""
    b, key = sts_setup(rsrv, "c/avatar.png")
    e1 = put(b, key, HTML)  # the wrong file
    app.script(key, ["hold"])
    with ThreadPoolExecutor(1) as pool:
        first = pool.submit(event, rsrv, key, e1, HTML)
        app.wait_held(key)  # the app is answering the rejection ...
        e2 = put(b, key, PNG)  # ... when the user uploads the right one
        r2 = event(rsrv, key, e2, PNG)
        assert (r2.status_code, outcome(r2)) == (200, "verified"), r2.text
        app.release(key)
        r1 = first.result()
    assert r1.status_code == 200, r1.text
    assert rsrv.exists(key) and rsrv.read(key)[0] == PNG  # the verified file is still there
    assert status(rsrv, key)["status"] == "verified"
    assert tags(rsrv, key)["upload-etag"] == e2
    assert app.for_key(key) == [("upload.rejected", e1), ("upload.verified", e2)]


def test_a_verdict_tag_set_written_onto_the_next_version_is_not_trusted(rsrv, app):
    """What OSS leaves open: the PNG's tag write lands on the HTML between the re-read and
    the write. The tags name the PNG's ETag, so neither the status route nor the HTML's event
    takes them for the HTML's verdict."""
    b, key = sts_setup(rsrv, "window/avatar.png")
    e1 = put(b, key, PNG)
    assert outcome(event(rsrv, key, e1, PNG)) == "verified"
    landed = tags(rsrv, key)
    assert landed["upload-etag"] == e1 and landed["upload-status"] == "verified", landed
    e2 = put(b, key, HTML)
    rule = oss2.models.TaggingRule()
    for k, v in landed.items():
        rule.add(k, v)
    rsrv.admin().put_object_tagging(key, oss2.models.Tagging(rule))
    assert status(rsrv, key)["status"] == "pending"
    r2 = event(rsrv, key, e2, HTML)
    assert (r2.status_code, outcome(r2)) == (200, "rejected"), r2.text
    assert not rsrv.exists(key)


def test_the_status_route_never_says_verified_for_bytes_it_did_not_check(rsrv, app):
    b, key = sts_setup(rsrv, "status/avatar.png")
    e1 = put(b, key, PNG)
    assert outcome(event(rsrv, key, e1, PNG)) == "verified"
    assert status(rsrv, key)["status"] == "verified"
    put(b, key, HTML)  # overwrite clears the tags on OSS; its event is not delivered yet
    assert status(rsrv, key)["status"] == "pending"


# ------------------------------------------------------------------ item 3: dot segments

@pytest.mark.parametrize("tail", ["x/../dot.html", "x/./dot.html", "../dot.html", "x/.."])
def test_a_key_with_dot_segments_is_checked_and_removed(rsrv, app, tail):
    c = rsrv.sts()
    key = c["Prefix"] + "dots/" + tail
    # oss2 escapes '/' too, so the raw key reaches OSS byte for byte.
    etag = put(sts_bucket(c), key, HTML)
    assert rsrv.keys(c["Prefix"] + "dots/") and rsrv.exists(key)
    r = event(rsrv, key, etag, HTML)
    assert (r.status_code, outcome(r)) == (200, "rejected"), r.text
    assert not rsrv.exists(key)
    [(kind, tagged)] = app.for_key(key)
    assert (kind, tagged) == ("upload.rejected", etag)
    assert [m for m in app.got if m["data"]["key"] == key][0]["data"]["reason"]["code"] == "KeyNotAllowed"
    r = rsrv.call("GET", "/v1/uploads/status", params={"key": key})
    assert api_error(r) == (400, "InvalidParameter"), r.text
    assert "." in r.json()["error"]["message"]


def test_a_dot_segment_key_is_checked_when_the_trigger_delivers_it(start_server, app):
    secret = new_secret()
    srv = start_server("races-dots", trigger=True, extra_args=("--webhook", app.url), WEBHOOK_SECRET=secret)
    srv.remember(secret, "WEBHOOK_SECRET")
    c = srv.sts()
    key = c["Prefix"] + "r/x/../dot.html"
    put(sts_bucket(c), key, HTML)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and srv.exists(key):
        time.sleep(0.05)
    assert not srv.exists(key), srv.stdout()[-3000:]
    assert "SignatureDoesNotMatch" not in srv.output()


# ------------------------------------------------------------------ item 8: EventBridge arrays

def cloud_event(srv, key, etag, size, kind="oss:ObjectCreated:PutObject"):
    """One CloudEvent of an EventBridge-based OSS trigger: FC's envelope fields (as in the
    array samples of FC's "event formats" page), `data` the OSS notification record."""
    record = json.loads(fc_event(srv.bucket, key, etag, size, name=kind.removeprefix("oss:")))["events"][0]
    return {"id": os.urandom(8).hex(), "source": "acs.oss", "specversion": "1.0", "type": kind,
            "datacontenttype": "application/json;charset=utf-8",
            "subject": f"acs:oss:cn-hangzhou:1234567890123456:{srv.bucket}/{key}",
            "time": "2026-01-01T00:00:00Z", "aliyunaccountid": "1234567890123456",
            "aliyunpublishtime": "2026-01-01T00:00:00.123Z", "aliyuneventbusname": "default",
            "aliyunregionid": "cn-hangzhou", "data": record}


def test_an_eventbridge_array_of_cloudevents_is_checked(rsrv, app):
    b, k1 = sts_setup(rsrv, "eb/ok.png")
    k2 = k1.replace("ok.png", "evil.png")
    e1, e2 = put(b, k1, PNG), put(b, k2, HTML)
    body = json.dumps([cloud_event(rsrv, k1, e1, len(PNG)), cloud_event(rsrv, k2, e2, len(HTML))])
    r = deliver(events_url(rsrv), body)
    assert (r.status_code, r.headers.get("x-fc-status")) == (200, "200"), r.text
    assert [x["outcome"] for x in r.json()["records"]] == ["verified", "rejected"], r.text
    assert rsrv.exists(k1) and not rsrv.exists(k2)


@pytest.mark.parametrize("body", ["[]", "{}", "not json", '[{"specversion":"1.0","data":{"x":1}}]', '"events"'])
def test_an_event_the_function_cannot_read_is_an_error_fc_shows(rsrv, body):
    r = deliver(events_url(rsrv), body)
    assert (r.status_code, r.headers.get("x-fc-status")) == (404, "404"), r.text
    assert "error" in r.json(), r.text


# ------------------------------------------------------------------ item 9: 410 Gone

def test_a_410_from_the_app_is_a_permanent_stop_reported_as_such(rsrv, app):
    b, key = sts_setup(rsrv, "gone/ok.png")
    etag = put(b, key, PNG)
    app.script(key, ["gone"])
    r = event(rsrv, key, etag, PNG)
    assert (r.status_code, r.headers.get("x-fc-status")) == (200, "200"), r.text  # no FC retry
    rec = r.json()["records"][0]
    assert rec["outcome"] == "verified" and "410" in rec["webhook"], rec
    assert "upload-notified" not in tags(rsrv, key)  # the app did not take it
    assert "410" in rsrv.stdout() and "stop" in rsrv.stdout()
    assert app.for_key(key) == [("upload.verified", etag)]
