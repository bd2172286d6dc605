"""Issue 19 item 7: a retried complete of a multipart upload that already finished.

The client's first complete can outlive its connection (or FC's timeout) while OSS finishes
the object; its retry then meets OSS's NoSuchUpload. Without a shared store, the function
answers it from the object: HeadObject with If-Match the multipart ETag of the client's part
list (MD5 of the part MD5s, `-N`), which must be exactly the ETag the emulator (OSS's rules)
gave the object. Anything else stays the 404 it was.
"""
import hashlib
import os

import pytest
import requests

from conftest import HTTP_TIMEOUT, api_error, sts_bucket

KIB = 1024


@pytest.fixture(scope="module")
def csrv(start_server):
    return start_server("complete-retry")


def start(srv, name="movie.mp4", ctype="video/mp4", chunks=()):
    size = sum(len(c) for c in chunks)
    r = srv.call("POST", "/v1/multipart", json={"filename": name, "contentType": ctype, "size": size})
    assert r.status_code == 200, r.text
    up = r.json()
    r = srv.call("POST", "/v1/multipart/sign", json={"key": up["key"], "uploadId": up["uploadId"],
                                                     "partNumbers": list(range(1, len(chunks) + 1))})
    assert r.status_code == 200, r.text
    parts = []
    for p, data in zip(r.json()["parts"], chunks):
        srv.remember_url(p["url"], "/v1/multipart/sign")
        put = requests.put(p["url"], data=data, timeout=HTTP_TIMEOUT)
        assert put.status_code == 200, put.text
        parts.append({"partNumber": p["partNumber"], "etag": put.headers["ETag"]})
    return up, parts


def complete(srv, up, parts):
    return srv.call("POST", "/v1/multipart/complete",
                    json={"key": up["key"], "uploadId": up["uploadId"], "parts": parts})


def test_a_retried_complete_gets_the_first_answer(csrv):
    chunks = [os.urandom(200 * KIB), os.urandom(150 * KIB), os.urandom(7)]
    up, parts = start(csrv, chunks=chunks)
    first = complete(csrv, up, parts)
    assert first.status_code == 200, first.text
    # OSS's multipart ETag, as the emulator computes it: MD5 of the binary part MD5s, then -N.
    want = hashlib.md5(b"".join(hashlib.md5(c).digest() for c in chunks)).hexdigest().upper() + "-3"
    assert first.json()["etag"].strip('"') == want
    assert csrv.admin().head_object(up["key"]).etag.upper() == want
    for order in (parts, list(reversed(parts))):
        again = complete(csrv, up, order)
        assert again.status_code == 200, again.text
        assert again.json() == first.json()


def test_a_retry_that_does_not_match_the_object_is_still_404(csrv):
    chunks = [os.urandom(120 * KIB), os.urandom(10)]
    up, parts = start(csrv, name="a.bin", ctype="application/octet-stream", chunks=chunks)
    assert complete(csrv, up, parts).status_code == 200
    other = [dict(parts[0]), {"partNumber": 2, "etag": '"' + hashlib.md5(b"other").hexdigest().upper() + '"'}]
    assert api_error(complete(csrv, up, other)) == (404, "NoSuchUpload")
    assert api_error(complete(csrv, up, parts[:1])) == (404, "NoSuchUpload")
    # The key written again since (an STS holder may): the retry no longer names that object.
    c = csrv.sts()
    sts_bucket(c).put_object(up["key"], b"replaced", headers={"Content-Type": "application/octet-stream"})
    assert api_error(complete(csrv, up, parts)) == (404, "NoSuchUpload")
    # An upload id that never finished is the 404 it always was.
    fresh, fparts = start(csrv, name="b.bin", ctype="application/octet-stream", chunks=[b"x" * 10])
    assert csrv.call("DELETE", "/v1/multipart", params={"key": fresh["key"], "uploadId": fresh["uploadId"]}).status_code == 200
    assert api_error(complete(csrv, fresh, fparts)) == (404, "NoSuchUpload")


def test_uppys_retried_complete_gets_the_first_answer(csrv):
    c = csrv.call("POST", "/s3/multipart", json={"filename": "u.bin", "type": "application/octet-stream"})
    assert c.status_code == 200, c.text
    up = c.json()
    base = f"/s3/multipart/{requests.utils.quote(up['uploadId'], safe='')}"
    etags = []
    for n, chunk in enumerate([os.urandom(110 * KIB), os.urandom(3)], start=1):
        s = csrv.call("GET", f"{base}/{n}", params={"key": up["key"]})
        assert s.status_code == 200, s.text
        csrv.remember_url(s.json()["url"], "/s3 sign")
        r = requests.put(s.json()["url"], data=chunk, timeout=HTTP_TIMEOUT)
        assert r.status_code == 200, r.text
        etags.append({"ETag": r.headers["ETag"].strip('"'), "PartNumber": n})  # Uppy 6 sends them unquoted
    first = csrv.call("POST", f"{base}/complete", params={"key": up["key"]}, json={"parts": etags})
    assert first.status_code == 200, first.text
    again = csrv.call("POST", f"{base}/complete", params={"key": up["key"]}, json={"parts": etags})
    assert (again.status_code, again.json()) == (200, first.json()), again.text
