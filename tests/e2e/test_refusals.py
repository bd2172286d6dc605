"""What the function signs must be refused when misused, and nothing may be written.

Every refusal is checked for its HTTP status and OSS error code, and then with the
account key that no object appeared (or that the existing one is unchanged). Each
negative case has a positive control next to it (the same request, untampered, is
accepted), so a test can only pass because of the one thing it changes.
"""
import html
import os
import time

import oss2
import pytest
import requests

from conftest import HTTP_TIMEOUT, api_error, expect_oss_error, flip_char, form_upload, oss_error, replace_query, sts_bucket

LIMIT = 1024


@pytest.fixture(scope="module")
def limited(start_server):
    """Servers with a small MAX_UPLOAD_BYTES and a short list of allowed types."""
    return {v: start_server(f"limits-{v}", SIGNATURE_VERSION=v, MAX_UPLOAD_BYTES=LIMIT,
                            ALLOWED_CONTENT_TYPES="image/png,text/plain") for v in ("v4", "v1")}


@pytest.fixture(params=["v4", "v1"])
def lim(request, limited):
    return limited[request.param]


def put(url, data, headers):
    return requests.put(url, data=data, headers=headers, timeout=HTTP_TIMEOUT)


def sig_name(srv):
    return "x-oss-signature" if srv.env["SIGNATURE_VERSION"] == "v4" else "Signature"


# ---------------------------------------------------------------- presigned PUT
def test_tampered_presigned_put_is_refused(srv):
    data = b"tamper test"
    p = srv.presign(filename="t.txt", contentType="text/plain", size=len(data))
    url, key = p["url"], p["key"]

    # one character of the signature
    bad = replace_query(url, sig_name(srv), flip_char)
    assert oss_error(put(bad, data, p["headers"]))[:2] == (403, "SignatureDoesNotMatch")
    # a signed parameter: the V4 date / the V1 expiry, moved by one second
    if srv.env["SIGNATURE_VERSION"] == "v4":
        bad = replace_query(url, "x-oss-date", lambda d: d[:-3] + f"{(int(d[-3:-1]) + 1) % 60:02d}Z")
    else:
        bad = replace_query(url, "Expires", lambda e: str(int(e) + 1))
    assert oss_error(put(bad, data, p["headers"]))[:2] == (403, "SignatureDoesNotMatch")
    # the same signature on another key (inside the prefix)
    other = key.rsplit("/", 1)[0] + "/other.txt"
    bad = url.replace("/" + key.split("/", 1)[1], "/" + other.split("/", 1)[1], 1)
    assert bad != url
    assert oss_error(put(bad, data, p["headers"]))[:2] == (403, "SignatureDoesNotMatch")
    assert not srv.exists(key) and not srv.exists(other)

    # control: the URL as signed is accepted
    assert put(url, data, p["headers"]).status_code == 200
    assert srv.read(key) == (data, "text/plain")


def test_presigned_put_with_other_headers_is_refused(srv):
    data = b"\x89PNG not really"
    p = srv.presign(filename="pic.png", contentType="image/png", size=len(data))
    wrong_type = dict(p["headers"], **{"Content-Type": "text/html"})
    assert oss_error(put(p["url"], data, wrong_type))[:2] == (403, "SignatureDoesNotMatch")
    no_forbid = {"Content-Type": "image/png"}
    assert oss_error(put(p["url"], data, no_forbid))[:2] == (403, "SignatureDoesNotMatch")
    assert not srv.exists(p["key"])
    assert put(p["url"], data, p["headers"]).status_code == 200


def test_presigned_put_cannot_overwrite(srv):
    p = srv.presign(filename="once.txt", contentType="text/plain", size=5)
    assert put(p["url"], b"first", p["headers"]).status_code == 200
    assert oss_error(put(p["url"], b"again", p["headers"]))[:2] == (409, "FileAlreadyExists")
    assert srv.read(p["key"]) == (b"first", "text/plain")


def test_expired_url_is_refused(servers):
    """URL_TTL_SECONDS cannot go below 60, so the expired URLs are signed by the official
    oss2 SDK with the function's STS credentials and a 1-second lifetime."""
    srv = servers["v4"]
    creds = srv.sts()
    urls = {}
    for v in ("v1", "v4"):
        key = f"{creds['Prefix']}expired-{v}.txt"
        urls[key] = sts_bucket(creds, v).sign_url("PUT", key, 1, headers={"Content-Type": "text/plain"})
    time.sleep(2.2)
    for key, url in urls.items():
        status, code, msg = oss_error(put(url, b"late", {"Content-Type": "text/plain"}))
        assert (status, code) == (403, "AccessDenied") and "expired" in msg, (key, status, code, msg)
        assert not srv.exists(key)
    # control: the same SDK call with a normal lifetime works
    key = f"{creds['Prefix']}expired-control.txt"
    url = sts_bucket(creds, "v4").sign_url("PUT", key, 60, headers={"Content-Type": "text/plain"})
    assert put(url, b"in time", {"Content-Type": "text/plain"}).status_code == 200


# ---------------------------------------------------------------- POST form
def test_post_form_over_content_length_range(lim):
    p = lim.post_policy(filename="big.txt", contentType="text/plain", size=100)
    assert p["maxBytes"] == LIMIT
    r = form_upload(p, os.urandom(LIMIT + 1), file_type="text/plain")
    assert oss_error(r)[:2] == (400, "EntityTooLarge"), r.text
    r = form_upload(p, b"", file_type="text/plain")
    assert oss_error(r)[:2] == (400, "EntityTooSmall"), r.text
    assert not lim.exists(p["key"])
    # the function itself refuses to sign for a declared size over the limit
    r = lim.call("POST", "/v1/post-policy", json={"filename": "x.txt", "contentType": "text/plain", "size": LIMIT + 1})
    assert api_error(r) == (400, "FileTooLarge"), r.text
    # control: exactly the limit is accepted
    data = os.urandom(LIMIT)
    assert form_upload(p, data, file_type="text/plain").status_code == 200
    assert lim.read(p["key"]) == (data, "text/plain")


def test_post_form_type_outside_allowed_list(lim):
    for route in ("/v1/post-policy", "/v1/presign"):
        r = lim.call("POST", route, json={"filename": "x.exe", "contentType": "application/x-msdownload", "size": 10})
        assert api_error(r) == (400, "ContentTypeNotAllowed"), r.text
    p = lim.post_policy(filename="note.txt", contentType="text/plain", size=10)
    for ct in ("text/html", "application/x-msdownload"):
        r = form_upload(p, b"<script>1</script>", file_type=ct, override={"Content-Type": ct})
        status, code, msg = oss_error(r)
        assert (status, code) == (403, "AccessDenied") and "Policy Condition failed" in msg, r.text
    # leaving the Content-Type field out does not get around the list either
    r = requests.post(p["url"], timeout=HTTP_TIMEOUT,
                      files=[(k, (None, v)) for k, v in p["fields"].items() if k != "Content-Type"]
                      + [("file", ("x.html", b"<b>1</b>", "text/html"))])
    assert oss_error(r)[:2] == (403, "AccessDenied"), r.text
    assert not lim.exists(p["key"])
    data = b"plain text"
    assert form_upload(p, data, file_type="text/plain").status_code == 200
    assert lim.read(p["key"]) == (data, "text/plain")


def test_post_form_cannot_overwrite_or_leave_prefix(srv):
    p = srv.post_policy(filename="f.txt", contentType="text/plain", size=5)
    r = form_upload(p, b"outside", file_type="text/plain", override={"key": "elsewhere/f.txt"})
    status, code, msg = oss_error(r)
    assert (status, code) == (403, "AccessDenied") and '"eq", "$key"' in html.unescape(msg), r.text
    assert not srv.exists("elsewhere/f.txt")
    r = form_upload(p, b"first", file_type="text/plain", override={"x-oss-forbid-overwrite": "false"})
    assert oss_error(r)[:2] == (403, "AccessDenied"), r.text
    assert form_upload(p, b"first", file_type="text/plain").status_code == 200
    r = form_upload(p, b"second", file_type="text/plain")
    assert oss_error(r)[:2] == (409, "FileAlreadyExists"), r.text
    assert srv.read(p["key"]) == (b"first", "text/plain")


def test_post_form_key_is_pinned_exactly(srv):
    """The policy pins the server-built key itself, not its prefix: a client
    cannot swap in a key the filename cleaning would have refused."""
    p = srv.post_policy(filename="photo.png", contentType="image/png", size=5)
    key = p["key"]
    folder = key.rsplit("/", 1)[0] + "/"
    user_prefix = key[: key.rindex("/", 0, len(folder) - 1) + 1]
    swaps = [
        user_prefix + "../bob/evil.png",            # climbs out of the caller's folder
        folder + "a\nb.png",                        # line feed
        folder + "evil\u202egnp.exe",               # right-to-left override
        folder + "other.png",                       # a sibling under the same prefix
        key + ".html",                              # the key with a suffix
        folder + "./photo.png",                     # a dot segment
    ]
    for swapped in swaps:
        r = form_upload(p, b"hello", file_type="image/png", override={"key": swapped})
        status, code, msg = oss_error(r)
        assert (status, code) == (403, "AccessDenied"), (swapped, r.text)
        assert '"eq", "$key"' in html.unescape(msg), msg
        assert not srv.exists(swapped), swapped
    # Positive control: the same form with the key as given is accepted.
    r = form_upload(p, b"hello", file_type="image/png")
    assert r.status_code == 200, r.text
    assert srv.read(key) == (b"hello", "image/png")


def test_post_form_tampered_signature(srv):
    p = srv.post_policy(filename="f.txt", contentType="text/plain", size=5)
    name = "x-oss-signature" if "x-oss-signature" in p["fields"] else "Signature"
    r = form_upload(p, b"hello", file_type="text/plain", override={name: flip_char(p["fields"][name])})
    assert oss_error(r)[:2] == (403, "SignatureDoesNotMatch"), r.text
    assert not srv.exists(p["key"])


# ---------------------------------------------------------------- STS credentials
@pytest.mark.parametrize("sdk_version", ["v4", "v1"])
def test_sts_credentials_stay_in_prefix_and_upload_only(servers, sdk_version):
    srv = servers["v4"]
    creds = srv.sts()
    b = sts_bucket(creds, sdk_version)
    own = f"{creds['Prefix']}scope-{sdk_version}.txt"
    for key in (f"elsewhere/scope-{sdk_version}.txt", f"uploadsX/scope-{sdk_version}.txt",
                f"scope-{sdk_version}.txt"):
        expect_oss_error(lambda: b.put_object(key, b"no"), 403, "AccessDenied")
        assert not srv.exists(key)
    # control: inside the prefix works; but reading, deleting, listing do not
    b.put_object(own, b"mine")
    expect_oss_error(lambda: b.get_object(own), 403, "AccessDenied")
    expect_oss_error(lambda: b.delete_object(own), 403, "AccessDenied")
    expect_oss_error(lambda: b.list_objects(prefix=creds["Prefix"]), 403, "AccessDenied")
    assert srv.read(own)[0] == b"mine"
    # the function will not presign a GET outside the caller's prefix either
    r = srv.call("POST", "/v1/presign", json={"method": "GET", "key": "elsewhere/scope-v4.txt"})
    assert api_error(r) == (403, "KeyOutsidePrefix"), r.text


def test_sts_credentials_other_bucket(start_server):
    """The emulator hosts a second bucket (a repeated --bucket). The function's STS
    credentials are refused there by their session policy (AccessDenied), although the
    bucket exists (the account key can write it) and the same key is fine at home."""
    srv = start_server("two-buckets", extra_args=("--bucket", "another-bucket"), SIGNATURE_VERSION="v4")
    creds = srv.sts()
    assert creds["Bucket"] == "e2e-bucket", "the first --bucket is the one handed out"
    key = creds["Prefix"] + "x.txt"
    for v in ("v4", "v1"):
        other = sts_bucket(creds, v, bucket="another-bucket")
        expect_oss_error(lambda: other.put_object(key, b"no"), 403, "AccessDenied")
    admin_other = oss2.Bucket(oss2.Auth(srv.ak, srv.sk), srv.endpoint, "another-bucket")
    assert not admin_other.object_exists(key), "nothing landed in the other bucket"
    admin_other.put_object("operator.txt", b"the bucket exists")
    # the same credentials, same key, in the right bucket: accepted
    sts_bucket(creds, "v4").put_object(key, b"ok")
    assert srv.read(key)[0] == b"ok"


def test_error_for_sanity_one_wrong_secret_byte(servers):
    """The emulator really checks: one byte of the STS secret changed is refused."""
    srv = servers["v4"]
    creds = dict(srv.sts())
    creds["AccessKeySecret"] = flip_char(creds["AccessKeySecret"])
    for v in ("v4", "v1"):
        key = creds["Prefix"] + f"sanity-{v}.txt"
        expect_oss_error(lambda: sts_bucket(creds, v).put_object(key, b"x"), 403, "SignatureDoesNotMatch")
        assert not srv.exists(key)
    assert oss2  # the SDK, not our code, signed these


def test_presigned_put_is_bound_to_the_declared_size(lim):
    """V4 signs Content-Length, so a presigned PUT carries MAX_UPLOAD_BYTES with it: a body
    of any other size is refused. V1 cannot sign a length: there the declared size is
    only checked against the limit (documented in README)."""
    declared = b"x" * 100
    p = lim.presign(filename="sized.txt", contentType="text/plain", size=len(declared))
    assert p["size"] == len(declared)
    if lim.env["SIGNATURE_VERSION"] == "v4":
        big = b"x" * (LIMIT * 4)
        assert oss_error(put(p["url"], big, p["headers"]))[:2] == (403, "SignatureDoesNotMatch")
        assert oss_error(put(p["url"], declared + b"!", p["headers"]))[:2] == (403, "SignatureDoesNotMatch")
        assert not lim.exists(p["key"])
    assert put(p["url"], declared, p["headers"]).status_code == 200
    assert lim.read(p["key"]) == (declared, "text/plain")
    # Without a size there is nothing to bind: refused before signing.
    r = lim.call("POST", "/v1/presign", json={"filename": "nosize.txt", "contentType": "text/plain"})
    assert r.status_code == 400 and "size" in r.json()["error"]["message"]
    # Over the limit: refused before signing.
    r = lim.call("POST", "/v1/presign", json={"filename": "big.txt", "contentType": "text/plain", "size": LIMIT + 1})
    assert r.status_code == 400 and r.json()["error"]["code"] == "FileTooLarge"
