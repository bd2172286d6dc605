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
import oss2
import pytest

from conftest import free_port, sts_bucket
from test_upload_events import HTML, Receiver, message, new_secret, status, wait_until

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

