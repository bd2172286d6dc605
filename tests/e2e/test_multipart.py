"""Multipart uploads through /v1/multipart and Uppy's /s3 routes, against `local`.

The happy paths upload real parts with plain HTTP PUTs to the signed part URLs and
with the official Python SDK (alibabacloud-oss-v2 driving UploadPart on our
presigned URLs is not possible, so oss2's own UploadPart with the account key is
used only as a negative control). Every refusal is checked for its status and code,
and then, with the account key, that no object is visible and (where the function
says it aborted) that the upload is gone.
"""
import hashlib
import os
import secrets
import time

import jwt
import oss2
import pytest
import requests

from conftest import HTTP_TIMEOUT, api_error, form_upload, oss_error

LIMIT = 3 * 1024 * 1024  # MAX_UPLOAD_BYTES on the limited servers
KIB = 1024
MIB = 1024 * KIB
SECRET = secrets.token_urlsafe(40)
AUDIENCE = "e2e-mp"
ISSUER = "https://issuer.e2e.test"


def mint(sub):
    now = int(time.time())
    return jwt.encode({"sub": sub, "aud": AUDIENCE, "iss": ISSUER, "iat": now, "exp": now + 600},
                      SECRET, algorithm="HS256")


@pytest.fixture(scope="module")
def mp_servers(start_server):
    """One anonymous server per signature version with a small limit and type list."""
    return {v: start_server(f"mp-{v}", SIGNATURE_VERSION=v, MAX_UPLOAD_BYTES=LIMIT,
                            ALLOWED_CONTENT_TYPES="video/mp4,application/octet-stream,text/plain")
            for v in ("v4", "v1")}


@pytest.fixture(params=["v4", "v1"])
def mps(request, mp_servers):
    return mp_servers[request.param]


@pytest.fixture(scope="module")
def jwt_mp(start_server):
    return start_server("mp-jwt", AUTH_MODE="jwt", JWT_SECRET=SECRET, JWT_AUDIENCE=AUDIENCE, JWT_ISSUER=ISSUER,
                        MAX_UPLOAD_BYTES=LIMIT)


def create(srv, token=None, expect=200, **body):
    r = srv.call("POST", "/v1/multipart", token=token, json=body)
    assert r.status_code == expect, r.text
    return r.json()


def sign(srv, up, numbers, token=None, size=None, expect=200):
    body = {"key": up["key"], "uploadId": up["uploadId"], "partNumbers": numbers}
    if size is not None:
        body["size"] = size
    r = srv.call("POST", "/v1/multipart/sign", token=token, json=body)
    assert r.status_code == expect, r.text
    out = r.json()
    for p in out.get("parts", []):
        srv.remember_url(p["url"], "/v1/multipart/sign")
    return out


def put_part(url, data):
    r = requests.put(url, data=data, timeout=HTTP_TIMEOUT)
    return r


def upload_parts(srv, up, chunks, token=None, size=None):
    """Signs and PUTs every chunk; returns [{partNumber, etag}]."""
    signed = sign(srv, up, list(range(1, len(chunks) + 1)), token=token, size=size)
    done = []
    for p, data in zip(signed["parts"], chunks):
        assert p["method"] == "PUT"
        r = put_part(p["url"], data)
        assert r.status_code == 200, r.text
        done.append({"partNumber": p["partNumber"], "etag": r.headers["ETag"]})
    return done


def complete(srv, up, parts, token=None):
    return srv.call("POST", "/v1/multipart/complete", token=token,
                    json={"key": up["key"], "uploadId": up["uploadId"], "parts": parts})


def list_parts(srv, up, token=None):
    return srv.call("GET", "/v1/multipart/parts", token=token, params={"key": up["key"], "uploadId": up["uploadId"]})


def upload_is_gone(srv, key, upload_id):
    """With the account key: ListParts on the upload answers NoSuchUpload."""
    try:
        srv.admin().list_parts(key, upload_id)
    except oss2.exceptions.NoSuchUpload:
        return True
    return False


def chunks_of(data, size):
    return [data[i:i + size] for i in range(0, len(data), size)]


# ---------------------------------------------------------------- happy paths
def test_upload_with_plain_puts_and_resume_listing(mps):
    data = os.urandom(2 * MIB + 12345)
    up = create(mps, filename="clip.mp4", contentType="video/mp4", size=len(data))
    assert up["key"].startswith("uploads/") and up["key"].endswith("/clip.mp4")
    assert up["partCount"] == 1 and up["partSize"] >= len(data) and up["size"] == len(data)
    # Three parts of the client's own choosing (≥ 100 KiB but the last), unbound URLs.
    chunks = [data[:1 * MIB], data[1 * MIB:2 * MIB], data[2 * MIB:]]
    parts = upload_parts(mps, up, chunks)
    listed = list_parts(mps, up)
    assert listed.status_code == 200, listed.text
    got = [(p["partNumber"], p["etag"], p["size"]) for p in listed.json()["parts"]]
    want = [(i + 1, '"' + hashlib.md5(c).hexdigest().upper() + '"', len(c)) for i, c in enumerate(chunks)]
    assert got == want
    assert not mps.exists(up["key"])  # nothing visible before complete
    r = complete(mps, up, list(reversed(parts)))  # any order; the function sorts
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["key"] == up["key"] and body["size"] == len(data) and body["parts"] == 3
    stored, ctype = mps.read(up["key"])
    assert stored == data and ctype == "video/mp4"
    assert upload_is_gone(mps, up["key"], up["uploadId"])


def test_v4_part_urls_are_bound_to_the_part_length(mp_servers):
    srv = mp_servers["v4"]
    data = os.urandom(300 * KIB)
    up = create(srv, filename="b.bin", size=len(data))
    signed = sign(srv, up, [1], size=len(data))
    p = signed["parts"][0]
    assert p["size"] == len(data)
    assert "x-oss-additional-headers=content-length" in p["url"]
    # One byte more or less: OSS refuses the signature.
    for wrong in (data + b"x", data[:-1]):
        status, code, _ = oss_error(put_part(p["url"], wrong))
        assert (status, code) == (403, "SignatureDoesNotMatch")
    r = put_part(p["url"], data)
    assert r.status_code == 200, r.text
    r = complete(srv, up, [{"partNumber": 1, "etag": r.headers["ETag"]}])
    assert r.status_code == 200, r.text
    assert srv.read(up["key"])[0] == data


def test_part_number_past_the_plan_is_refused_when_size_is_given(mp_servers):
    srv = mp_servers["v4"]
    up = create(srv, filename="p.bin", size=1000)
    r = srv.call("POST", "/v1/multipart/sign", json={"key": up["key"], "uploadId": up["uploadId"],
                                                     "partNumbers": [2], "size": 1000})
    assert api_error(r) == (400, "InvalidPartNumber")
    abort = srv.call("POST", "/v1/multipart/abort", json={"key": up["key"], "uploadId": up["uploadId"]})
    assert abort.status_code == 200 and abort.json()["aborted"] is True
    assert upload_is_gone(srv, up["key"], up["uploadId"])
    # and again: the upload no longer exists
    again = srv.call("DELETE", "/v1/multipart", params={"key": up["key"], "uploadId": up["uploadId"]})
    assert api_error(again) == (404, "NoSuchUpload")


# ---------------------------------------------------------------- refusals
def test_total_over_the_limit_is_refused_and_aborted(mps):
    up = create(mps, filename="big.bin", size=1000)  # declares a small file...
    chunks = [os.urandom(2 * MIB), os.urandom(LIMIT - 2 * MIB + 1)]  # ...uploads one byte over the limit
    parts = upload_parts(mps, up, chunks)  # unbound URLs (no size): the check happens at complete
    r = complete(mps, up, parts)
    assert api_error(r) == (400, "FileTooLarge"), r.text
    assert "aborted" in r.json()["error"]["message"]
    assert not mps.exists(up["key"])
    assert upload_is_gone(mps, up["key"], up["uploadId"])
    # Positive control: exactly at the limit completes.
    up = create(mps, filename="edge.bin", size=LIMIT)
    chunks = [os.urandom(2 * MIB), os.urandom(LIMIT - 2 * MIB)]
    r = complete(mps, up, upload_parts(mps, up, chunks))
    assert r.status_code == 200, r.text
    assert mps.read(up["key"])[0] == b"".join(chunks)


def test_declared_size_over_the_limit_is_refused_at_create(mps):
    before = mps.keys()
    r = mps.call("POST", "/v1/multipart", json={"filename": "x.bin", "size": LIMIT + 1})
    assert api_error(r) == (400, "FileTooLarge")
    assert mps.keys() == before


@pytest.mark.parametrize("number", [0, 10001, -1])
def test_part_number_out_of_range_is_refused(mps, number):
    up = create(mps, filename="n.bin", size=10)
    r = mps.call("POST", "/v1/multipart/sign", json={"key": up["key"], "uploadId": up["uploadId"],
                                                     "partNumbers": [number]})
    assert api_error(r) == (400, "InvalidPartNumber")
    r = complete(mps, up, [{"partNumber": number, "etag": '"00"'}])
    assert api_error(r) == (400, "InvalidPartNumber")
    assert not mps.exists(up["key"])
    # Control: part 1 and 10000 sign fine.
    ok = sign(mps, up, [1, 10000])
    assert [p["partNumber"] for p in ok["parts"]] == [1, 10000]


def test_disallowed_type_is_refused_at_create(mps):
    before = mps.keys()
    r = mps.call("POST", "/v1/multipart", json={"filename": "x.html", "contentType": "text/html", "size": 10})
    assert api_error(r) == (400, "ContentTypeNotAllowed")
    assert mps.keys() == before


def test_part_list_not_matching_listparts_is_refused_and_aborted(mps):
    data = [os.urandom(200 * KIB), os.urandom(50 * KIB)]
    cases = {
        "missing part": lambda parts: parts[:1],
        "extra part": lambda parts: parts + [{"partNumber": 3, "etag": parts[0]["etag"]}],
        "wrong etag": lambda parts: [parts[0], {"partNumber": 2, "etag": '"' + "0" * 32 + '"'}],
    }
    for name, tamper in cases.items():
        up = create(mps, filename="m.bin", size=sum(map(len, data)))
        parts = upload_parts(mps, up, data)
        r = complete(mps, up, tamper(parts))
        assert api_error(r) == (400, "PartsMismatch"), (name, r.text)
        assert not mps.exists(up["key"]), name
        assert upload_is_gone(mps, up["key"], up["uploadId"]), name


def test_completing_onto_an_existing_key_is_409(mps):
    data = os.urandom(150 * KIB)
    first = create(mps, filename="same.bin", size=len(data))
    second = create(mps, filename="same.bin", size=len(data))
    # Keys are server-built, so a clash is made by writing an object at the first
    # upload's key (with the account key) before that upload completes.
    parts = upload_parts(mps, first, [data])
    mps.admin().put_object(first["key"], b"already here")
    r = complete(mps, first, parts)
    assert api_error(r) == (409, "FileAlreadyExists"), r.text
    assert mps.read(first["key"])[0] == b"already here"  # not overwritten
    assert upload_is_gone(mps, first["key"], first["uploadId"])
    # Control: the second upload (its own key) completes.
    r = complete(mps, second, upload_parts(mps, second, [data]))
    assert r.status_code == 200, r.text


def test_keys_outside_the_prefix_and_other_users_uploads_get_nothing(jwt_mp):
    alice, bob = mint("alice"), mint("bob")
    data = os.urandom(120 * KIB)
    a = create(jwt_mp, token=alice, filename="a.bin", size=len(data))
    assert a["key"].startswith("uploads/alice/")
    a_parts = upload_parts(jwt_mp, a, [data], token=alice)
    b = create(jwt_mp, token=bob, filename="b.bin", size=len(data))
    assert b["key"].startswith("uploads/bob/")

    # Bob names alice's key: refused before any OSS call, on every step.
    foreign = {"key": a["key"], "uploadId": a["uploadId"]}
    for method, path, body in [
        ("POST", "/v1/multipart/sign", {**foreign, "partNumbers": [1]}),
        ("POST", "/v1/multipart/parts", foreign),
        ("POST", "/v1/multipart/complete", {**foreign, "parts": a_parts}),
        ("POST", "/v1/multipart/abort", foreign),
    ]:
        r = jwt_mp.call(method, path, token=bob, json=body)
        assert api_error(r) == (403, "KeyOutsidePrefix"), (path, r.text)
    for key in ("uploads/alice2/x.bin", "other/x.bin", "uploads/bob/../alice/x.bin"):
        r = jwt_mp.call("POST", "/v1/multipart/parts", token=bob, json={"key": key, "uploadId": a["uploadId"]})
        assert r.status_code in (400, 403), (key, r.text)

    # Bob uses alice's uploadId with his own key: OSS knows no such upload.
    stolen = {"key": b["key"], "uploadId": a["uploadId"]}
    for method, path, body in [
        ("POST", "/v1/multipart/parts", stolen),
        ("POST", "/v1/multipart/complete", {**stolen, "parts": a_parts}),
        ("POST", "/v1/multipart/abort", stolen),
    ]:
        r = jwt_mp.call(method, path, token=bob, json=body)
        assert api_error(r) == (404, "NoSuchUpload"), (path, r.text)
    assert not jwt_mp.exists(a["key"]) and not jwt_mp.exists(b["key"])

    # Alice's upload is untouched and completes.
    r = complete(jwt_mp, a, a_parts, token=alice)
    assert r.status_code == 200, r.text
    assert jwt_mp.read(a["key"])[0] == data
    # No token at all: 401.
    assert jwt_mp.call("POST", "/v1/multipart", json={"size": 1}).status_code == 401


def test_complete_takes_a_large_part_list_on_that_route_only(mps):
    up = create(mps, filename="l.bin", size=10)
    many = [{"partNumber": n, "etag": '"' + "A" * 32 + '"'} for n in range(1, 10001)]
    r = complete(mps, up, many)  # about 500 KB of JSON: accepted, then refused on its merits
    assert api_error(r) == (400, "PartsMismatch"), r.text[:300]
    assert upload_is_gone(mps, up["key"], up["uploadId"])
    r = mps.call("POST", "/v1/multipart/sign", json={"key": "k", "uploadId": "u", "partNumbers": [1] * 40000})  # 80 KB
    assert api_error(r) == (413, "PayloadTooLarge")


# ---------------------------------------------------------------- Uppy's Companion routes
def test_uppy_routes_shapes_and_flow(mps):
    data = os.urandom(300 * KIB)
    p = mps.call("GET", "/s3/params", params={"filename": "u.txt", "type": "text/plain", "metadata[name]": "u.txt"})
    assert p.status_code == 200, p.text
    params = p.json()
    assert params["method"] == "POST" and params["url"] == f"{mps.endpoint}/{mps.bucket}"
    assert params["fields"]["key"].endswith("/u.txt") and params["expires"] > 0
    # The policy pins the exact key and the size range: another key, or more bytes
    # than the limit, are refused by OSS (the emulator), and nothing is written.
    other = params["fields"]["key"].rsplit("/", 1)[0] + "/other.txt"
    moved = form_upload({"url": params["url"], "fields": params["fields"]}, b"hello", override={"key": other})
    assert moved.status_code == 403, moved.text
    big = form_upload({"url": params["url"], "fields": params["fields"]}, b"x" * (LIMIT + 1))
    assert big.status_code == 400 and "EntityTooLarge" in big.text, big.text[:300]
    assert not mps.exists(other) and not mps.exists(params["fields"]["key"])
    # Query values are decoded once: a filename that is not UTF-8 is a 400, not
    # a name with U+FFFD in it (issue 9).
    bad = requests.get(f"{mps.url}/s3/params?filename=%ff.txt&type=text/plain", timeout=HTTP_TIMEOUT)
    assert bad.status_code == 400 and "UTF-8" in bad.text, bad.text
    files = [(k, (None, v)) for k, v in params["fields"].items()] + [("file", ("u.txt", b"hello", "text/plain"))]
    r = requests.post(params["url"], files=files, timeout=HTTP_TIMEOUT)
    assert r.status_code == 200, r.text
    assert mps.read(params["fields"]["key"]) == (b"hello", "text/plain")

    c = mps.call("POST", "/s3/multipart", json={"filename": "u.bin", "type": "application/octet-stream",
                                               "metadata": {"name": "u.bin", "nested": {"a": 1}}})
    assert c.status_code == 200, c.text
    up = c.json()
    assert set(up) == {"key", "uploadId", "bucket"}
    enc = requests.utils.quote
    base = f"/s3/multipart/{enc(up['uploadId'], safe='')}"
    etags = []
    for n, chunk in enumerate([data[:200 * KIB], data[200 * KIB:]], start=1):
        s = mps.call("GET", f"{base}/{n}", params={"key": up["key"]})
        assert s.status_code == 200, s.text
        signed = s.json()
        assert signed["method"] == "PUT" and signed["expires"] > 0
        mps.remember_url(signed["url"], "/s3 sign")
        r = put_part(signed["url"], chunk)
        assert r.status_code == 200
        etags.append({"ETag": r.headers["ETag"], "PartNumber": n})
    listed = mps.call("GET", base, params={"key": up["key"]})
    assert listed.status_code == 200
    assert [(x["PartNumber"], x["ETag"]) for x in listed.json()] == [(e["PartNumber"], e["ETag"]) for e in etags]
    done = mps.call("POST", f"{base}/complete", params={"key": up["key"]}, json={"parts": etags})
    assert done.status_code == 200, done.text
    assert set(done.json()) == {"location", "key", "bucket"} and done.json()["key"] == up["key"]
    assert mps.read(up["key"])[0] == data

    # Abort answers JSON; a second abort is a 404 with a top-level message for Uppy.
    c = mps.call("POST", "/s3/multipart", json={"filename": "x.bin", "type": ""}).json()
    base = f"/s3/multipart/{enc(c['uploadId'], safe='')}"
    a = mps.call("DELETE", base, params={"key": c["key"]})
    assert a.status_code == 200 and a.json() == {}
    a = mps.call("DELETE", base, params={"key": c["key"]})
    assert a.status_code == 404 and a.json()["message"] and a.json()["error"]["code"] == "NoSuchUpload"
    # Part 0 and a key outside the prefix.
    assert api_error(mps.call("GET", f"{base}/0", params={"key": c["key"]})) == (400, "InvalidPartNumber")
    assert api_error(mps.call("GET", f"{base}/1", params={"key": "elsewhere/x"})) == (403, "KeyOutsidePrefix")


def test_uppy_preflight_allows_authorization_and_delete(start_server):
    srv = start_server("mp-cors", ALLOWED_ORIGINS="http://app.example")
    r = requests.options(f"{srv.url}/s3/multipart/U", timeout=HTTP_TIMEOUT, headers={
        "Origin": "http://app.example", "Access-Control-Request-Method": "DELETE",
        "Access-Control-Request-Headers": "authorization,content-type"})
    assert r.status_code == 204
    assert "DELETE" in r.headers["Access-Control-Allow-Methods"]
    assert "authorization" in r.headers["Access-Control-Allow-Headers"].lower()
    assert "content-type" in r.headers["Access-Control-Allow-Headers"].lower()
    assert r.headers["Access-Control-Allow-Origin"] == "http://app.example"


def test_part_steps_have_their_own_larger_rate_budget(start_server):
    srv = start_server("mp-rate", RATE_LIMIT_PER_MINUTE=2)
    up = create(srv, filename="r.bin", size=10)
    create(srv, filename="r2.bin", size=10)
    r = srv.call("POST", "/v1/multipart", json={"filename": "r3.bin", "size": 10})
    assert api_error(r) == (429, "RateLimited") and int(r.headers["Retry-After"]) >= 1
    # Uppy signs one part per request: 50 of them pass on the step budget (2 x 100 per minute).
    for n in range(1, 51):
        r = srv.call("GET", f"/s3/multipart/{up['uploadId']}/{n}", params={"key": up["key"]})
        assert r.status_code == 200, (n, r.text)
        srv.remember_url(r.json()["url"], "/s3 sign")


MP_PROFILES = """
[[profile]]
name = "avatar"
prefix = "avatars/"
content_types = ["image/png"]
max_bytes = 65536
methods = ["post-policy", "presign"]
overwrite = "replace"
fixed_name = "avatar"

[[profile]]
name = "video"
prefix = "videos/"
content_types = ["video/mp4"]
max_bytes = 1048576
methods = ["multipart"]
"""


def test_profiles_decide_multipart_rules(start_server, tmp_path_factory):
    path = tmp_path_factory.mktemp("mp-profiles") / "profiles.toml"
    path.write_text(MP_PROFILES)
    srv = start_server("mp-profiles", AUTH_MODE="jwt", JWT_SECRET=SECRET, JWT_AUDIENCE=AUDIENCE,
                       JWT_ISSUER=ISSUER, PROFILES_FILE=str(path), MAX_UPLOAD_BYTES="2048")
    t = mint("carol")
    r = srv.call("POST", "/v1/multipart", token=t, json={"profile": "avatar", "contentType": "image/png", "size": 10})
    assert api_error(r) == (400, "MethodNotAllowedForProfile"), r.text
    # 600 KB is over the default profile's 2 KB but within video's 1 MiB.
    assert api_error(srv.call("POST", "/v1/multipart", token=t, json={"size": 600 * KIB})) == (400, "FileTooLarge")
    up = create(srv, token=t, profile="video", filename="v.mp4", contentType="video/mp4", size=600 * KIB)
    assert up["key"].startswith("videos/carol/") and up["maxBytes"] == 1048576
    data = os.urandom(600 * KIB)
    # Later steps name no profile: the key's profile (video) applies, with its limit.
    parts = upload_parts(srv, up, [data[:300 * KIB], data[300 * KIB:]], token=t)
    r = complete(srv, up, parts, token=t)
    assert r.status_code == 200, r.text
    assert srv.read(up["key"]) == (data, "video/mp4")
    # Over video's limit at complete: refused and aborted.
    up = create(srv, token=t, profile="video", filename="w.mp4", contentType="video/mp4", size=10)
    parts = upload_parts(srv, up, [os.urandom(600 * KIB), os.urandom(600 * KIB)], token=t)
    r = complete(srv, up, parts, token=t)
    assert api_error(r) == (400, "FileTooLarge"), r.text
    assert not srv.exists(up["key"]) and upload_is_gone(srv, up["key"], up["uploadId"])
