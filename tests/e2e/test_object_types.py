"""Issue 19, item 1: uploads the check used to miss, AppendObject and PutSymlink.

`oss:PutObject`, which `/v1/sts` credentials carry, also allows AppendObject and
PutSymlink. A real `oss-direct-upload local` with its OSS trigger on: the official
SDK (oss2) appends and links under the caller's prefix with the STS credentials
the function handed out; the emulator fires `ObjectCreated:AppendObject` /
`ObjectCreated:PutSymlink` as OSS does; the check rejects and deletes what the
profile does not allow (never quarantined: CopyObject refuses appendable objects,
and a symlink's copy would be its target), and the webhook says why. A profile
with `allow_object_types = ["Appendable"]` keeps a checked appendable object.
"""
from concurrent.futures import ThreadPoolExecutor

import oss2
import pytest

from conftest import free_port, sts_bucket
from test_upload_events import (HTML, Receiver, deliver, events_url, fc_event, message, new_secret,
                                status, wait_until)
from test_verdict_races import PNG, ScriptedApp, put

PROFILES = """
[[profile]]
name = "logs"
prefix = "logs/"
content_types = ["text/plain"]
max_bytes = 4096
methods = ["sts"]
allow_object_types = ["Appendable"]
"""


@pytest.fixture(scope="module")
def rec():
    r = Receiver(free_port()).start()
    yield r
    r.stop()


@pytest.fixture(scope="module")
def tsrv(start_server, rec, tmp_path_factory):
    path = tmp_path_factory.mktemp("object-types") / "profiles.toml"
    path.write_text(PROFILES)
    secret = new_secret()
    srv = start_server("object-types", trigger=True, extra_args=("--webhook", rec.url),
                       WEBHOOK_SECRET=secret, QUARANTINE_PREFIX="quarantine/", PROFILES_FILE=str(path))
    srv.remember(secret, "WEBHOOK_SECRET")
    return srv


def creds(srv, profile=None):
    if profile is None:
        return srv.sts()
    r = srv.call("POST", "/v1/sts", json={"profile": profile})
    assert r.status_code == 200, r.text
    return r.json()


def gone(srv, key):
    try:
        srv.admin().get_symlink(key)
        return False
    except oss2.exceptions.NoSuchKey:
        return True
    except oss2.exceptions.OssError:
        return not srv.exists(key)


@pytest.mark.parametrize("version", ["v4", "v1"])
def test_an_appendable_object_under_the_prefix_is_rejected_and_deleted(tsrv, rec, version):
    c = creds(tsrv)
    b = sts_bucket(c, version)
    key = c["Prefix"] + f"append-{version}.png"
    # A real PNG would be rejected the same way: the object type decides. (One
    # append only: the check may delete the object before a second one lands.)
    b.append_object(key, 0, b"\x89PNG\r\n\x1a\n" + HTML, headers={"Content-Type": "image/png"})
    msgs = rec.wait(key)
    body = message(msgs[-1])
    assert body["type"] == "upload.rejected", body
    assert body["data"]["reason"]["code"] == "ObjectTypeNotAllowed", body
    assert "appendable" in body["data"]["reason"]["message"], body
    # Deleted, not quarantined: CopyObject cannot copy an appendable object.
    assert body["data"]["disposition"] == "deleted", body
    wait_until(lambda: not tsrv.exists(key), f"{key} deleted")
    assert not tsrv.exists("quarantine/" + key)
    assert status(tsrv, key)["status"] == "missing"
    assert all(message(m)["type"] == "upload.rejected" for m in rec.for_key(key))


@pytest.mark.parametrize("version", ["v4", "v1"])
def test_a_symlink_under_the_prefix_is_rejected_and_only_the_link_deleted(tsrv, rec, version):
    # The link would serve any object of the bucket under the upload prefix.
    secret_key = f"private/{version}/other-user.html"
    tsrv.admin().put_object(secret_key, HTML, headers={"Content-Type": "text/html"})
    c = creds(tsrv)
    b = sts_bucket(c, version)
    link = c["Prefix"] + f"link-{version}.png"
    b.put_symlink(secret_key, link)
    [m] = rec.wait(link)
    body = message(m)
    assert body["type"] == "upload.rejected", body
    assert body["data"]["reason"]["code"] == "ObjectTypeNotAllowed", body
    assert "symlink" in body["data"]["reason"]["message"], body
    assert body["data"]["disposition"] == "deleted", body
    wait_until(lambda: gone(tsrv, link), f"{link} deleted")
    assert tsrv.read(secret_key) == (HTML, "text/html"), "the target is untouched"
    assert not tsrv.keys("quarantine/")


def test_a_profile_that_allows_appendable_keeps_a_checked_one(tsrv, rec):
    c = creds(tsrv, "logs")
    assert c["Prefix"].startswith("logs/"), c
    b = sts_bucket(c)
    key = c["Prefix"] + "app.log"
    b.append_object(key, 0, b"line one\n", headers={"Content-Type": "text/plain"})
    [m] = rec.wait(key)
    body = message(m)
    assert body["type"] == "upload.verified", body
    assert tsrv.admin().head_object(key).object_type == "Appendable"
    assert status(tsrv, key)["status"] == "verified"
    # It may grow, and each append is checked afresh: bytes that are not text are removed.
    b.append_object(key, 9, b"\x00\x01binary\x00")
    wait_until(lambda: len(rec.for_key(key)) >= 2, "a verdict on the second append")
    second = message(rec.for_key(key)[-1])
    assert second["type"] == "upload.rejected", second
    assert second["data"]["reason"]["code"] == "TypeMismatch", second
    wait_until(lambda: not tsrv.exists(key), f"{key} deleted")
    # The allowance is Appendable only: a symlink in the same profile is rejected.
    link = c["Prefix"] + "link.log"
    b.put_symlink(c["Prefix"] + "app.log", link)
    lm = message(rec.wait(link)[0])
    assert lm["type"] == "upload.rejected" and lm["data"]["reason"]["code"] == "ObjectTypeNotAllowed", lm
    wait_until(lambda: gone(tsrv, link), f"{link} deleted")



# ------------------------------------------- a rejection acts only on what it judged (issue 19 item 2)
# The trigger is off: each test delivers the events itself, and the app holds the rejection's
# webhook open while the key changes under the check.

@pytest.fixture(scope="module")
def app():
    a = ScriptedApp().start()
    yield a
    a.stop()


@pytest.fixture(scope="module")
def hsrv(start_server, app):
    secret = new_secret()
    srv = start_server("object-types-races", extra_args=("--webhook", app.url), WEBHOOK_SECRET=secret)
    srv.remember(secret, "WEBHOOK_SECRET")
    return srv


def held_rejection(srv, app, key, etag, size, name, change):
    """Delivers `name`'s event for `key`, holds its webhook, runs `change()` meanwhile, and
    returns (the event's outcome, what change() returned)."""
    app.script(key, ["hold"])
    with ThreadPoolExecutor(1) as pool:
        first = pool.submit(deliver, events_url(srv), fc_event(srv.bucket, key, etag, size, name))
        app.wait_held(key)
        changed = change()
        app.release(key)
        r = first.result()
    assert r.status_code == 200, r.text
    return r.json()["records"][0]["outcome"], changed


def link_etag(result):
    return result.headers["etag"].strip('"').upper()


def test_an_appendable_object_appended_while_its_rejection_is_told_is_still_deleted(hsrv, app):
    # The type was judged, and an append keeps it: the appended bytes go too, with no second verdict.
    c = hsrv.sts()
    b, key = sts_bucket(c), c["Prefix"] + "held/grows.png"
    e1 = b.append_object(key, 0, PNG, headers={"Content-Type": "image/png"}).etag.upper()
    outcome, e2 = held_rejection(hsrv, app, key, e1, len(PNG), "ObjectCreated:AppendObject",
                                 lambda: b.append_object(key, len(PNG), HTML).etag.upper())
    assert e2 != e1
    assert outcome == "rejected"
    assert not hsrv.exists(key)
    r = deliver(events_url(hsrv), fc_event(hsrv.bucket, key, e2, len(PNG) + len(HTML), "ObjectCreated:AppendObject"))
    assert (r.status_code, r.json()["records"][0]["outcome"]) == (200, "stale"), r.text
    assert app.for_key(key) == [("upload.rejected", e1)]


def test_an_appendable_object_replaced_by_a_png_while_its_rejection_is_told_keeps_the_png(hsrv, app):
    c = hsrv.sts()
    b, key = sts_bucket(c), c["Prefix"] + "held/replaced.png"
    e1 = b.append_object(key, 0, PNG, headers={"Content-Type": "image/png"}).etag.upper()
    outcome, e2 = held_rejection(hsrv, app, key, e1, len(PNG), "ObjectCreated:AppendObject",
                                 lambda: put(b, key, PNG))
    assert outcome == "stale"
    assert hsrv.read(key)[0] == PNG and hsrv.admin().head_object(key).object_type == "Normal"
    r = deliver(events_url(hsrv), fc_event(hsrv.bucket, key, e2, len(PNG)))
    assert (r.status_code, r.json()["records"][0]["outcome"]) == (200, "verified"), r.text
    assert status(hsrv, key)["status"] == "verified"
    assert app.for_key(key) == [("upload.rejected", e1), ("upload.verified", e2)]


def test_a_symlink_replaced_by_a_png_while_its_rejection_is_told_keeps_the_png(hsrv, app):
    target = "private/held/target.png"
    hsrv.admin().put_object(target, PNG, headers={"Content-Type": "image/png"})
    c = hsrv.sts()
    b, key = sts_bucket(c), c["Prefix"] + "held/link.png"
    l1 = link_etag(b.put_symlink(target, key))
    outcome, e2 = held_rejection(hsrv, app, key, l1, 0, "ObjectCreated:PutSymlink",
                                 lambda: put(b, key, PNG))
    assert outcome == "stale"
    assert hsrv.admin().head_object(key).object_type == "Normal"
    r = deliver(events_url(hsrv), fc_event(hsrv.bucket, key, e2, len(PNG)))
    assert (r.status_code, r.json()["records"][0]["outcome"]) == (200, "verified"), r.text
    assert app.for_key(key) == [("upload.rejected", l1), ("upload.verified", e2)]
    assert hsrv.read(target)[0] == PNG


def test_a_symlink_made_again_while_its_rejection_is_told_is_left_to_its_own_event(hsrv, app):
    # Bound to the link's own ETag (GetSymlink): a new link is a new version with its own verdict.
    for t in ("private/held/one.png", "private/held/two.png"):
        hsrv.admin().put_object(t, PNG, headers={"Content-Type": "image/png"})
    c = hsrv.sts()
    b, key = sts_bucket(c), c["Prefix"] + "held/relinked.png"
    l1 = link_etag(b.put_symlink("private/held/one.png", key))
    outcome, l2 = held_rejection(hsrv, app, key, l1, 0, "ObjectCreated:PutSymlink",
                                 lambda: link_etag(b.put_symlink("private/held/two.png", key)))
    assert l2 != l1
    assert outcome == "stale"
    assert hsrv.admin().get_symlink(key).target_key == "private/held/two.png"
    r = deliver(events_url(hsrv), fc_event(hsrv.bucket, key, l2, 0, "ObjectCreated:PutSymlink"))
    assert (r.status_code, r.json()["records"][0]["outcome"]) == (200, "rejected"), r.text
    wait_until(lambda: gone(hsrv, key), f"{key} deleted")
    assert app.for_key(key) == [("upload.rejected", l1), ("upload.rejected", l2)]
