"""Drives the local OSS + STS emulator with the OFFICIAL Alibaba Cloud SDKs.

Input (JSON on stdin): {"endpoint", "bucket", "ak", "sk", "region", "account_id", "role_arn", "sts_endpoint"}.
Output (JSON on stdout): {"passed": [names], "failed": [{"name", "error"}]}.
Exit status 1 if any check failed, so the Rust test (tests/emulator_sdk.rs) fails loudly.

Every check is a positive case (the SDK's request must be accepted) or a negative
case (the same request with one byte of the signature or key changed must be refused
with the error OSS gives).
"""
import hashlib
import json
import os
import sys
import tempfile
import traceback
import urllib.parse

import requests

import oss2
import alibabacloud_oss_v2 as ossv2

CFG = json.load(sys.stdin)
EP = CFG["endpoint"]
BUCKET = CFG["bucket"]
AK = CFG["ak"]
SK = CFG["sk"]
REGION = CFG.get("region", "cn-hangzhou")

passed = []
failed = []


def check(name):
    def deco(fn):
        try:
            fn()
            passed.append(name)
        except Exception as e:  # noqa: BLE001 - report every failure, keep going
            failed.append({"name": name, "error": f"{type(e).__name__}: {e}\n{traceback.format_exc()}"})
        return fn
    return deco


def md5_upper(data):
    return hashlib.md5(data).hexdigest().upper()


def flip(s):
    """Same string with one character changed (stays in the same alphabet)."""
    i = len(s) // 2
    c = s[i]
    r = "B" if c == "A" else "A"
    if c.isdigit():
        r = "1" if c == "0" else "0"
    elif c.islower():
        r = "b" if c == "a" else "a"
    return s[:i] + r + s[i + 1:]


def expect_oss_error(fn, status, code):
    try:
        fn()
    except oss2.exceptions.OssError as e:
        assert e.status == status and e.code == code, f"got {e.status} {e.code}: {e.message}"
        return e
    except ossv2.exceptions.OperationError as e:
        inner = e.unwrap() if hasattr(e, "unwrap") else e
        st = getattr(inner, "status_code", None)
        cd = getattr(inner, "code", None)
        assert st == status and cd == code, f"got {st} {cd}: {inner}"
        return inner
    raise AssertionError(f"expected {status} {code}, request succeeded")


def bucket_v1(sk=SK, ak=AK):
    return oss2.Bucket(oss2.Auth(ak, sk), EP, BUCKET)


def bucket_v4(sk=SK, ak=AK):
    return oss2.Bucket(oss2.AuthV4(ak, sk), EP, BUCKET, region=REGION)


def client_v2(sk=SK, ak=AK, version="v4", token=None):
    cfg = ossv2.config.load_default()
    cfg.credentials_provider = ossv2.credentials.StaticCredentialsProvider(ak, sk, token)
    cfg.region = REGION
    cfg.endpoint = EP
    cfg.use_path_style = True
    cfg.signature_version = version
    cfg.retry_max_attempts = 1
    return ossv2.Client(cfg)


KEY = "dir/ünï code+key (1).txt"
BODY = b"hello from the official SDK\n" * 10


def oss2_suite(tag, make):
    b = make()
    key = f"{tag}/{KEY}"

    @check(f"{tag}: put/get/head/list/delete accepted")
    def _():
        r = b.put_object(key, BODY, headers={"Content-Type": "text/plain", "x-oss-meta-who": "sdk"})
        assert r.status == 200
        assert r.etag == md5_upper(BODY), (r.etag, md5_upper(BODY))
        g = b.get_object(key)
        assert g.read() == BODY
        assert g.headers["Content-Type"] == "text/plain"
        assert g.headers.get("x-oss-meta-who") == "sdk"
        assert g.headers.get("x-oss-request-id")
        h = b.head_object(key)
        assert h.content_length == len(BODY)
        names = [o.key for o in oss2.ObjectIterator(b, prefix=f"{tag}/")]
        assert key in names, names
        r = b.list_objects(prefix=f"{tag}/", delimiter="/")
        assert r.prefix_list == [f"{tag}/dir/"], r.prefix_list
        r2 = [o.key for o in oss2.ObjectIteratorV2(b, prefix=f"{tag}/", max_keys=1)]
        assert key in r2, r2
        b.delete_object(key)
        try:
            b.get_object(key)
            raise AssertionError("deleted object still readable")
        except oss2.exceptions.NoSuchKey:
            pass

    @check(f"{tag}: listing pages through many keys")
    def _():
        for i in range(7):
            b.put_object(f"{tag}/page/{i:02d}", b"x")
        v1 = [o.key for o in oss2.ObjectIterator(b, prefix=f"{tag}/page/", max_keys=2)]
        v2 = [o.key for o in oss2.ObjectIteratorV2(b, prefix=f"{tag}/page/", max_keys=3)]
        want = [f"{tag}/page/{i:02d}" for i in range(7)]
        assert v1 == want, v1
        assert v2 == want, v2

    @check(f"{tag}: resumable (multipart) upload of a file larger than the part size")
    def _():
        data = os.urandom(350 * 1024)
        with tempfile.NamedTemporaryFile(delete=False) as f:
            f.write(data)
            path = f.name
        try:
            mk = f"{tag}/big.bin"
            oss2.resumable_upload(b, mk, path, multipart_threshold=100 * 1024, part_size=100 * 1024,
                                  num_threads=2, store=oss2.ResumableStore(root=tempfile.gettempdir()))
            got = b.get_object(mk).read()
            assert got == data
            h = b.head_object(mk)
            assert h.etag.endswith("-4"), h.etag
            assert h.object_type == "Multipart", h.object_type
        finally:
            os.unlink(path)

    @check(f"{tag}: manual multipart with list_parts and abort")
    def _():
        mk = f"{tag}/mp.bin"
        up = b.init_multipart_upload(mk).upload_id
        p1 = b.upload_part(mk, up, 1, b"a" * (100 * 1024))
        parts = b.list_parts(mk, up).parts
        assert [p.part_number for p in parts] == [1]
        b.abort_multipart_upload(mk, up)
        expect_oss_error(lambda: b.upload_part(mk, up, 2, b"x"), 404, "NoSuchUpload")
        up = b.init_multipart_upload(mk).upload_id
        p1 = b.upload_part(mk, up, 1, b"a" * (100 * 1024))
        p2 = b.upload_part(mk, up, 2, b"b")
        b.complete_multipart_upload(mk, up, [oss2.models.PartInfo(1, p1.etag), oss2.models.PartInfo(2, p2.etag)])
        d1 = hashlib.md5(b"a" * (100 * 1024)).digest() + hashlib.md5(b"b").digest()
        assert b.head_object(mk).etag == hashlib.md5(d1).hexdigest().upper() + "-2"

    @check(f"{tag}: presigned GET/PUT URLs accepted")
    def _():
        pk = f"{tag}/presigned ü.txt"
        url = b.sign_url("PUT", pk, 300, headers={"Content-Type": "text/plain"})
        r = requests.put(url, data=b"via url", headers={"Content-Type": "text/plain"})
        assert r.status_code == 200, r.text
        url = b.sign_url("GET", pk, 300)
        r = requests.get(url)
        assert r.status_code == 200 and r.content == b"via url", r.text

    @check(f"{tag}: presigned URL with one signature byte changed is refused")
    def _():
        pk = f"{tag}/presigned ü.txt"
        url = b.sign_url("GET", pk, 300)
        parts = urllib.parse.urlsplit(url)
        q = urllib.parse.parse_qsl(parts.query, keep_blank_values=True)
        name = "x-oss-signature" if any(k == "x-oss-signature" for k, _ in q) else "Signature"
        q = [(k, flip(v) if k == name else v) for k, v in q]
        bad = urllib.parse.urlunsplit(parts._replace(query=urllib.parse.urlencode(q, quote_via=urllib.parse.quote)))
        r = requests.get(bad)
        assert r.status_code == 403 and "<Code>SignatureDoesNotMatch</Code>" in r.text, r.text
        assert "<StringToSign>" in r.text

    @check(f"{tag}: wrong secret (one byte) is refused with SignatureDoesNotMatch")
    def _():
        bad = make(sk=flip(SK))
        expect_oss_error(lambda: bad.put_object(f"{tag}/nope", b"x"), 403, "SignatureDoesNotMatch")
        expect_oss_error(lambda: bad.get_object(f"{tag}/presigned ü.txt"), 403, "SignatureDoesNotMatch")

    @check(f"{tag}: unknown access key is refused with InvalidAccessKeyId")
    def _():
        bad = make(ak=flip(AK))
        expect_oss_error(lambda: bad.put_object(f"{tag}/nope", b"x"), 403, "InvalidAccessKeyId")

    @check(f"{tag}: forbid-overwrite, Content-MD5 and size checks")
    def _():
        fk = f"{tag}/once.txt"
        b.put_object(fk, b"1", headers={"x-oss-forbid-overwrite": "true"})
        expect_oss_error(lambda: b.put_object(fk, b"2", headers={"x-oss-forbid-overwrite": "true"}),
                         409, "FileAlreadyExists")
        expect_oss_error(lambda: b.put_object(fk, b"2", headers={"Content-MD5": "1B2M2Y8AsgTpgAZPOm2ZFw=="}),
                         400, "InvalidDigest")
        b.put_object(fk, b"", headers={"Content-MD5": "1B2M2Y8AsgTpgAmY7PhCfg=="})


def v2_suite(tag, version):
    c = client_v2(version=version)
    key = f"{tag}/{KEY}"

    @check(f"{tag}: put/get/head/list/delete accepted")
    def _():
        r = c.put_object(ossv2.PutObjectRequest(bucket=BUCKET, key=key, body=BODY, content_type="text/plain"))
        assert r.status_code == 200
        assert r.etag == '"' + md5_upper(BODY) + '"', r.etag
        g = c.get_object(ossv2.GetObjectRequest(bucket=BUCKET, key=key))
        assert g.body.read() == BODY
        assert g.content_type == "text/plain"
        h = c.head_object(ossv2.HeadObjectRequest(bucket=BUCKET, key=key))
        assert h.content_length == len(BODY)
        keys = []
        for page in c.list_objects_v2_paginator(limit=1).iter_page(
                ossv2.ListObjectsV2Request(bucket=BUCKET, prefix=f"{tag}/")):
            keys += [o.key for o in page.contents or []]
        assert key in keys, keys
        l1 = c.list_objects(ossv2.ListObjectsRequest(bucket=BUCKET, prefix=f"{tag}/", delimiter="/"))
        assert [p.prefix for p in l1.common_prefixes] == [f"{tag}/dir/"]
        c.delete_object(ossv2.DeleteObjectRequest(bucket=BUCKET, key=key))
        expect_oss_error(lambda: c.get_object(ossv2.GetObjectRequest(bucket=BUCKET, key=key)), 404, "NoSuchKey")

    @check(f"{tag}: uploader (multipart) of a file larger than the part size")
    def _():
        data = os.urandom(300 * 1024 + 17)
        with tempfile.NamedTemporaryFile(delete=False) as f:
            f.write(data)
            path = f.name
        try:
            up = c.uploader(part_size=100 * 1024)
            r = up.upload_file(ossv2.PutObjectRequest(bucket=BUCKET, key=f"{tag}/big.bin"), filepath=path)
            assert r.etag.endswith('-4"'), r.etag
            g = c.get_object(ossv2.GetObjectRequest(bucket=BUCKET, key=f"{tag}/big.bin"))
            assert g.body.read() == data
        finally:
            os.unlink(path)

    @check(f"{tag}: presigned PUT/GET accepted, tampered refused")
    def _():
        pk = f"{tag}/presigned.txt"
        p = c.presign(ossv2.PutObjectRequest(bucket=BUCKET, key=pk, content_type="text/plain"))
        r = requests.put(p.url, data=b"v2 url", headers=p.signed_headers)
        assert r.status_code == 200, r.text
        p = c.presign(ossv2.GetObjectRequest(bucket=BUCKET, key=pk))
        r = requests.get(p.url)
        assert r.status_code == 200 and r.content == b"v2 url", r.text
        parts = urllib.parse.urlsplit(p.url)
        q = urllib.parse.parse_qsl(parts.query, keep_blank_values=True)
        q = [(k, flip(v) if k in ("x-oss-signature", "Signature") else v) for k, v in q]
        bad = urllib.parse.urlunsplit(parts._replace(query=urllib.parse.urlencode(q, quote_via=urllib.parse.quote)))
        r = requests.get(bad)
        assert r.status_code == 403 and "SignatureDoesNotMatch" in r.text, r.text

    @check(f"{tag}: wrong secret (one byte) is refused with SignatureDoesNotMatch")
    def _():
        bad = client_v2(sk=flip(SK), version=version)
        expect_oss_error(lambda: bad.put_object(ossv2.PutObjectRequest(bucket=BUCKET, key=f"{tag}/x", body=b"x")),
                         403, "SignatureDoesNotMatch")


@check("anonymous request is refused with AccessDenied")
def _():
    r = requests.get(f"{EP}/{BUCKET}/anything")
    assert r.status_code == 403 and "<Code>AccessDenied</Code>" in r.text, r.text
    assert r.headers.get("x-oss-request-id")


oss2_suite("oss2-v1", bucket_v1)
oss2_suite("oss2-v4", bucket_v4)
v2_suite("ossv2-v4", "v4")
v2_suite("ossv2-v1", "v1")


# ------------------------------------------------------------ multipart completeness
# Issue 10's emulator list: Initiate honouring Content-Type and
# x-oss-forbid-overwrite, ListParts paging, Complete's checks (order, ETag,
# part size, forbid-overwrite), Abort and NoSuchUpload, each through the
# official SDKs' own calls; then the same calls with one byte changed.
P100K = 100 * 1024


def oss2_multipart_suite(tag, make):
    b = make()

    @check(f"{tag}: multipart with Content-Type, paging, OSS's Complete checks, abort")
    def _():
        mk = f"{tag}/mp-full.png"
        b.put_object(f"{tag}/exists.bin", b"x")
        expect_oss_error(lambda: b.init_multipart_upload(f"{tag}/exists.bin", headers={"x-oss-forbid-overwrite": "true"}),
                         409, "FileAlreadyExists")
        up = b.init_multipart_upload(mk, headers={"Content-Type": "image/png", "x-oss-forbid-overwrite": "true"}).upload_id
        datas = [b"a" * P100K, b"b" * P100K, b"c" * 10]
        etags = [b.upload_part(mk, up, i + 1, d).etag for i, d in enumerate(datas)]
        assert etags[0] == md5_upper(datas[0]), etags
        page = b.list_parts(mk, up, max_parts=2)
        assert page.is_truncated and int(page.next_marker) == 2, (page.is_truncated, page.next_marker)
        assert [p.part_number for p in page.parts] == [1, 2]
        rest = b.list_parts(mk, up, marker=page.next_marker, max_parts=2)
        assert not rest.is_truncated and [p.part_number for p in rest.parts] == [3]
        assert [p.part_number for p in oss2.PartIterator(b, mk, up, max_parts=1)] == [1, 2, 3]
        P = oss2.models.PartInfo
        # oss2 sorts the part list itself, so InvalidPartOrder is checked with alibabacloud-oss-v2.
        expect_oss_error(lambda: b.complete_multipart_upload(mk, up, [P(1, flip(etags[0])), P(2, etags[1])]),
                         400, "InvalidPart")
        expect_oss_error(lambda: b.complete_multipart_upload(mk, up, [P(1, etags[0]), P(2, etags[1]), P(9, etags[2])]),
                         400, "InvalidPart")
        # Part 3 (10 bytes) is not last here: too small.
        b.upload_part(mk, up, 4, b"d")
        expect_oss_error(lambda: b.complete_multipart_upload(mk, up, [P(1, etags[0]), P(3, etags[2]), P(4, md5_upper(b"d"))]),
                         400, "EntityTooSmall")
        # A failed Complete leaves the upload usable.
        b.complete_multipart_upload(mk, up, [P(1, etags[0]), P(2, etags[1]), P(3, etags[2])],
                                    headers={"x-oss-forbid-overwrite": "true"})
        h = b.head_object(mk)
        assert h.content_type == "image/png", h.content_type
        assert h.content_length == sum(map(len, datas))
        assert b.get_object(mk).read() == b"".join(datas)
        expect_oss_error(lambda: b.list_parts(mk, up), 404, "NoSuchUpload")
        # Complete onto an existing object with forbid-overwrite: 409, and the upload survives.
        up2 = b.init_multipart_upload(mk).upload_id
        e1 = b.upload_part(mk, up2, 1, b"new").etag
        expect_oss_error(lambda: b.complete_multipart_upload(mk, up2, [P(1, e1)], headers={"x-oss-forbid-overwrite": "true"}),
                         409, "FileAlreadyExists")
        assert b.get_object(mk).read() == b"".join(datas)
        b.abort_multipart_upload(mk, up2)
        expect_oss_error(lambda: b.abort_multipart_upload(mk, up2), 404, "NoSuchUpload")
        expect_oss_error(lambda: b.upload_part(mk, up2, 1, b"x"), 404, "NoSuchUpload")

    @check(f"{tag}: multipart calls with one byte changed are refused")
    def _():
        mk = f"{tag}/mp-tamper.bin"
        up = b.init_multipart_upload(mk).upload_id
        e1 = b.upload_part(mk, up, 1, b"x" * 10).etag
        bad = make(sk=flip(SK))
        expect_oss_error(lambda: bad.init_multipart_upload(mk), 403, "SignatureDoesNotMatch")
        expect_oss_error(lambda: bad.upload_part(mk, up, 2, b"y"), 403, "SignatureDoesNotMatch")
        expect_oss_error(lambda: bad.list_parts(mk, up), 403, "SignatureDoesNotMatch")
        expect_oss_error(lambda: bad.complete_multipart_upload(mk, up, [oss2.models.PartInfo(1, e1)]),
                         403, "SignatureDoesNotMatch")
        expect_oss_error(lambda: bad.abort_multipart_upload(mk, up), 403, "SignatureDoesNotMatch")
        expect_oss_error(lambda: b.upload_part(mk, flip(up), 2, b"y"), 404, "NoSuchUpload")
        expect_oss_error(lambda: b.list_parts(f"{tag}/mp-tamper.bim", up), 404, "NoSuchUpload")
        b.abort_multipart_upload(mk, up)


def v2_multipart_suite(tag, version):
    c = client_v2(version=version)

    @check(f"{tag}: multipart with Content-Type, paging, OSS's Complete checks, abort")
    def _():
        mk = f"{tag}/mp-full.bin"
        c.put_object(ossv2.PutObjectRequest(bucket=BUCKET, key=f"{tag}/exists.bin", body=b"x"))
        expect_oss_error(lambda: c.initiate_multipart_upload(ossv2.InitiateMultipartUploadRequest(
            bucket=BUCKET, key=f"{tag}/exists.bin", forbid_overwrite=True)), 409, "FileAlreadyExists")
        up = c.initiate_multipart_upload(ossv2.InitiateMultipartUploadRequest(
            bucket=BUCKET, key=mk, content_type="image/webp", forbid_overwrite=True)).upload_id
        datas = [os.urandom(P100K), os.urandom(P100K), b"tail"]
        etags = [c.upload_part(ossv2.UploadPartRequest(bucket=BUCKET, key=mk, upload_id=up, part_number=i + 1,
                                                       body=d)).etag for i, d in enumerate(datas)]
        assert etags[0] == '"' + md5_upper(datas[0]) + '"', etags
        r = c.list_parts(ossv2.ListPartsRequest(bucket=BUCKET, key=mk, upload_id=up, max_parts=2))
        assert r.is_truncated and r.next_part_number_marker == 2, (r.is_truncated, r.next_part_number_marker)
        seen = []
        for page in c.list_parts_paginator(limit=1).iter_page(ossv2.ListPartsRequest(bucket=BUCKET, key=mk, upload_id=up)):
            seen += [p.part_number for p in page.parts or []]
        assert seen == [1, 2, 3], seen

        def complete(parts, **kw):
            return c.complete_multipart_upload(ossv2.CompleteMultipartUploadRequest(
                bucket=BUCKET, key=mk, upload_id=up,
                complete_multipart_upload=ossv2.CompleteMultipartUpload(
                    parts=[ossv2.UploadPart(part_number=n, etag=e) for n, e in parts]), **kw))
        expect_oss_error(lambda: complete([(2, etags[1]), (1, etags[0])]), 400, "InvalidPartOrder")
        expect_oss_error(lambda: complete([(1, etags[0]), (2, flip(etags[1]))]), 400, "InvalidPart")
        expect_oss_error(lambda: complete([(1, etags[0]), (2, etags[1]), (5, etags[2])]), 400, "InvalidPart")
        r = complete([(1, etags[0]), (2, etags[1]), (3, etags[2])], forbid_overwrite=True)
        assert r.etag.endswith('-3"'), r.etag
        h = c.head_object(ossv2.HeadObjectRequest(bucket=BUCKET, key=mk))
        assert h.content_type == "image/webp" and h.content_length == sum(map(len, datas))
        up2 = c.initiate_multipart_upload(ossv2.InitiateMultipartUploadRequest(bucket=BUCKET, key=mk)).upload_id
        e = c.upload_part(ossv2.UploadPartRequest(bucket=BUCKET, key=mk, upload_id=up2, part_number=1, body=b"n")).etag
        expect_oss_error(lambda: c.complete_multipart_upload(ossv2.CompleteMultipartUploadRequest(
            bucket=BUCKET, key=mk, upload_id=up2, forbid_overwrite=True,
            complete_multipart_upload=ossv2.CompleteMultipartUpload(parts=[ossv2.UploadPart(part_number=1, etag=e)]))),
            409, "FileAlreadyExists")
        c.abort_multipart_upload(ossv2.AbortMultipartUploadRequest(bucket=BUCKET, key=mk, upload_id=up2))
        expect_oss_error(lambda: c.list_parts(ossv2.ListPartsRequest(bucket=BUCKET, key=mk, upload_id=up2)),
                         404, "NoSuchUpload")

    @check(f"{tag}: presigned UploadPart/Complete accepted; one byte changed refused")
    def _():
        mk = f"{tag}/mp-presigned.bin"
        up = c.initiate_multipart_upload(ossv2.InitiateMultipartUploadRequest(bucket=BUCKET, key=mk)).upload_id
        p = c.presign(ossv2.UploadPartRequest(bucket=BUCKET, key=mk, upload_id=up, part_number=1))
        parts = urllib.parse.urlsplit(p.url)
        q = urllib.parse.parse_qsl(parts.query, keep_blank_values=True)

        def with_q(fn):
            return urllib.parse.urlunsplit(parts._replace(query=urllib.parse.urlencode(
                [fn(k, v) for k, v in q], quote_via=urllib.parse.quote)))
        r = requests.put(with_q(lambda k, v: (k, flip(v) if k in ("x-oss-signature", "Signature") else v)),
                         data=b"part", headers=p.signed_headers)
        assert r.status_code == 403 and "SignatureDoesNotMatch" in r.text, r.text
        r = requests.put(with_q(lambda k, v: (k, "2" if k == "partNumber" else v)), data=b"part", headers=p.signed_headers)
        assert r.status_code == 403 and "SignatureDoesNotMatch" in r.text, r.text
        r = requests.put(p.url, data=b"part", headers=p.signed_headers)
        assert r.status_code == 200, r.text
        etag = r.headers["ETag"]
        pc = c.presign(ossv2.CompleteMultipartUploadRequest(bucket=BUCKET, key=mk, upload_id=up))
        body = f"<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>{etag}</ETag></Part></CompleteMultipartUpload>"
        r = requests.post(pc.url, data=body.replace(etag, flip(etag)), headers=pc.signed_headers)
        assert r.status_code == 400 and "<Code>InvalidPart</Code>" in r.text, r.text
        r = requests.post(pc.url, data=body, headers=pc.signed_headers)
        assert r.status_code == 200 and "<CompleteMultipartUploadResult>" in r.text, r.text
        g = c.get_object(ossv2.GetObjectRequest(bucket=BUCKET, key=mk))
        assert g.body.read() == b"part"


oss2_multipart_suite("oss2-v1", bucket_v1)
oss2_multipart_suite("oss2-v4", bucket_v4)
v2_multipart_suite("ossv2-v4", "v4")
v2_multipart_suite("ossv2-v1", "v1")


# ------------------------------------------------- checks after an upload (issue 11)
# HeadObject, ranged GetObject, object tagging, CopyObject guarded by the
# source ETag, DeleteObject: the calls the function makes to check an upload
# and record or act on its verdict.
from alibabacloud_oss_v2.models import object_basic as v2m  # noqa: E402


def oss2_check_suite(tag, make):
    b = make()

    @check(f"{tag}: tagging, ranged get, guarded copy, delete accepted")
    def _():
        k = f"{tag}/checked.png"
        data = b"\x89PNG\r\n\x1a\n" + os.urandom(2000)
        r = b.put_object(k, data, headers={"Content-Type": "image/png", "x-oss-tagging": "verdict=pending&by=sdk%20x"})
        etag = r.etag
        h = b.head_object(k)
        assert h.content_type == "image/png" and h.content_length == len(data)
        assert h.etag == etag and h.headers.get("x-oss-tagging-count") == "2", dict(h.headers)
        assert b.get_object_tagging(k).tag_set.tagging_rule == {"verdict": "pending", "by": "sdk x"}
        rule = oss2.models.TaggingRule()
        rule.add("verdict", "verified")
        b.put_object_tagging(k, oss2.models.Tagging(rule))
        assert b.get_object_tagging(k).tag_set.tagging_rule == {"verdict": "verified"}
        assert b.head_object(k).headers.get("x-oss-tagging-count") == "1"
        g = b.get_object(k, byte_range=(0, 7))
        assert g.read() == data[:8] and g.status == 206
        dest = f"{tag}/quarantine/checked.png"
        b.copy_object(BUCKET, k, dest, headers={"x-oss-copy-source-if-match": '"' + etag + '"'})
        assert b.get_object(dest).read() == data
        assert b.head_object(dest).content_type == "image/png"
        assert b.get_object_tagging(dest).tag_set.tagging_rule == {"verdict": "verified"}
        b.copy_object(BUCKET, k, f"{tag}/retagged.png",
                      headers={"x-oss-tagging-directive": "Replace", "x-oss-tagging": "verdict=rejected"})
        assert b.get_object_tagging(f"{tag}/retagged.png").tag_set.tagging_rule == {"verdict": "rejected"}
        b.delete_object_tagging(k)
        assert b.get_object_tagging(k).tag_set.tagging_rule == {}
        assert "x-oss-tagging-count" not in b.head_object(k).headers
        b.delete_object(k)
        assert not b.object_exists(k)
        expect_oss_error(lambda: b.get_object_tagging(k), 404, "NoSuchKey")

    @check(f"{tag}: tagging and copy with one byte changed are refused")
    def _():
        k = f"{tag}/guarded.png"
        etag = b.put_object(k, b"original").etag
        dest = f"{tag}/guarded-copy.png"
        expect_oss_error(lambda: b.copy_object(BUCKET, k, dest, headers={"x-oss-copy-source-if-match": flip(etag)}),
                         412, "PreconditionFailed")
        assert not b.object_exists(dest)
        b.put_object(dest, b"there")
        expect_oss_error(lambda: b.copy_object(BUCKET, k, dest, headers={"x-oss-forbid-overwrite": "true"}),
                         409, "FileAlreadyExists")
        expect_oss_error(lambda: b.copy_object(BUCKET, k + "x", f"{tag}/nope.png"), 404, "NoSuchKey")
        bad = make(sk=flip(SK))
        rule = oss2.models.TaggingRule()
        rule.add("verdict", "verified")
        expect_oss_error(lambda: bad.put_object_tagging(k, oss2.models.Tagging(rule)), 403, "SignatureDoesNotMatch")
        expect_oss_error(lambda: bad.get_object_tagging(k), 403, "SignatureDoesNotMatch")
        expect_oss_error(lambda: bad.copy_object(BUCKET, k, f"{tag}/nope.png"), 403, "SignatureDoesNotMatch")
        expect_oss_error(lambda: bad.delete_object(k), 403, "SignatureDoesNotMatch")
        expect_oss_error(lambda: b.put_object(f"{tag}/t.png", b"x", headers={"x-oss-tagging": "a=1&a=2"}),
                         400, "InvalidTag")
        rule = oss2.models.TaggingRule()
        rule.add("verdict", "<bad>")
        expect_oss_error(lambda: b.put_object_tagging(k, oss2.models.Tagging(rule)), 400, "InvalidTag")


def v2_check_suite(tag, version):
    c = client_v2(version=version)

    @check(f"{tag}: tagging, ranged get, guarded copy, delete accepted")
    def _():
        k = f"{tag}/checked.bin"
        data = os.urandom(3000)
        etag = c.put_object(ossv2.PutObjectRequest(bucket=BUCKET, key=k, body=data, content_type="image/jpeg",
                                                   tagging="verdict=pending")).etag
        h = c.head_object(ossv2.HeadObjectRequest(bucket=BUCKET, key=k))
        assert h.content_type == "image/jpeg" and h.content_length == 3000 and h.etag == etag
        assert h.tagging_count == 1, h.tagging_count
        c.put_object_tagging(v2m.PutObjectTaggingRequest(bucket=BUCKET, key=k, tagging=v2m.Tagging(
            tag_set=v2m.TagSet(tags=[v2m.Tag(key="verdict", value="verified"), v2m.Tag(key="sniffed", value="image/jpeg")]))))
        t = c.get_object_tagging(v2m.GetObjectTaggingRequest(bucket=BUCKET, key=k))
        assert [(x.key, x.value) for x in t.tag_set.tags] == [("verdict", "verified"), ("sniffed", "image/jpeg")]
        g = c.get_object(ossv2.GetObjectRequest(bucket=BUCKET, key=k, range_header="bytes=0-15"))
        assert g.body.read() == data[:16] and g.content_range == "bytes 0-15/3000", g.content_range
        dest = f"{tag}/moved.bin"
        r = c.copy_object(v2m.CopyObjectRequest(bucket=BUCKET, key=dest, source_key=k, if_match=etag))
        assert r.etag == etag, (r.etag, etag)
        expect_oss_error(lambda: c.copy_object(v2m.CopyObjectRequest(bucket=BUCKET, key=f"{tag}/no.bin",
                                                                      source_key=k, if_match=flip(etag))),
                         412, "PreconditionFailed")
        c.delete_object_tagging(v2m.DeleteObjectTaggingRequest(bucket=BUCKET, key=k))
        t = c.get_object_tagging(v2m.GetObjectTaggingRequest(bucket=BUCKET, key=k))
        assert not (t.tag_set.tags if t.tag_set else None)
        c.delete_object(ossv2.DeleteObjectRequest(bucket=BUCKET, key=k))
        expect_oss_error(lambda: c.get_object_tagging(v2m.GetObjectTaggingRequest(bucket=BUCKET, key=k)),
                         404, "NoSuchKey")
        assert c.get_object(ossv2.GetObjectRequest(bucket=BUCKET, key=dest)).body.read() == data


oss2_check_suite("oss2-v1", bucket_v1)
oss2_check_suite("oss2-v4", bucket_v4)
v2_check_suite("ossv2-v4", "v4")
v2_check_suite("ossv2-v1", "v1")


# ------------------------------------------ AppendObject and PutSymlink (issue 19)
# Both are authorized as oss:PutObject, so STS holders can use them; the emulator
# serves them with OSS's semantics so the upload check can be tested against them.


def oss2_append_symlink_suite(tag, make):
    b = make()

    @check(f"{tag}: append_object and put_symlink accepted, with OSS's types and errors")
    def _():
        k = f"{tag}/appended.log"
        r = b.append_object(k, 0, b"first ")
        assert r.status == 200 and r.next_position == 6, r.next_position
        r = b.append_object(k, r.next_position, b"second")
        assert r.next_position == 12
        h = b.head_object(k)
        assert h.object_type == "Appendable" and h.content_length == 12, dict(h.headers)
        assert h.headers.get("x-oss-next-append-position") == "12", dict(h.headers)
        assert h.etag != md5_upper(b"first second")
        assert b.get_object(k).read() == b"first second"
        e = expect_oss_error(lambda: b.append_object(k, 3, b"x"), 409, "PositionNotEqualToLength")
        assert e.next_position == 12, e.next_position
        n = f"{tag}/normal.txt"
        b.put_object(n, b"normal")
        assert b.head_object(n).object_type == "Normal"
        expect_oss_error(lambda: b.append_object(n, 6, b"x"), 409, "ObjectNotAppendable")
        expect_oss_error(lambda: b.copy_object(BUCKET, k, f"{tag}/copy.log"), 400, "InvalidArgument")
        link = f"{tag}/links/to normal+1.txt"
        b.put_symlink(n, link)
        assert b.get_symlink(link).target_key == n
        h = b.head_object(link)
        assert h.object_type == "Symlink", dict(h.headers)
        assert h.content_length == 6 and h.etag == md5_upper(b"normal"), dict(h.headers)
        assert b.get_object(link).read() == b"normal"
        expect_oss_error(lambda: b.get_symlink(n), 400, "NotSymlink")
        b.put_symlink(f"{tag}/nothing-here", f"{tag}/dangling")
        expect_oss_error(lambda: b.get_object(f"{tag}/dangling"), 404, "SymlinkTargetNotExist")
        b.delete_object(link)
        assert b.object_exists(n) and not b.object_exists(link)

    @check(f"{tag}: append_object and put_symlink with one byte changed are refused")
    def _():
        bad = make(sk=flip(SK))
        expect_oss_error(lambda: bad.append_object(f"{tag}/bad.log", 0, b"x"), 403, "SignatureDoesNotMatch")
        expect_oss_error(lambda: bad.put_symlink(f"{tag}/normal.txt", f"{tag}/bad-link"), 403, "SignatureDoesNotMatch")
        expect_oss_error(lambda: bad.get_symlink(f"{tag}/dangling"), 403, "SignatureDoesNotMatch")
        assert not b.object_exists(f"{tag}/bad.log")
        # The position is a signed sub-resource (V1) / signed query (V4): a URL
        # signed for one position does not serve another.
        url = b.sign_url("POST", f"{tag}/signed.log", 300, params={"append": "", "position": "0"})
        assert requests.post(url, data=b"ok").status_code == 200
        moved = url.replace("position=0", "position=2")
        r = requests.post(moved, data=b"no")
        assert r.status_code == 403 and "SignatureDoesNotMatch" in r.text, r.text
        url = b.sign_url("PUT", f"{tag}/signed-link", 300, params={"symlink": ""},
                         headers={"x-oss-symlink-target": "a"})
        assert requests.put(url, headers={"x-oss-symlink-target": "a"}).status_code == 200
        r = requests.put(url, headers={"x-oss-symlink-target": "b"})
        assert r.status_code == 403 and "SignatureDoesNotMatch" in r.text, r.text


def v2_append_symlink_suite(tag, version):
    c = client_v2(version=version)

    @check(f"{tag}: append_object and put_symlink accepted, with OSS's types and errors")
    def _():
        k = f"{tag}/appended.log"
        r = c.append_object(v2m.AppendObjectRequest(bucket=BUCKET, key=k, position=0, body=b"abc"))
        assert r.next_position == 3, r.next_position
        r = c.append_object(v2m.AppendObjectRequest(bucket=BUCKET, key=k, position=3, body=b"def"))
        assert r.next_position == 6
        h = c.head_object(ossv2.HeadObjectRequest(bucket=BUCKET, key=k))
        assert h.object_type == "Appendable" and h.content_length == 6 and h.next_append_position == 6, h
        e = expect_oss_error(lambda: c.append_object(v2m.AppendObjectRequest(bucket=BUCKET, key=k, position=0, body=b"x")),
                             409, "PositionNotEqualToLength")
        assert e.headers.get("x-oss-next-append-position") == "6", e.headers
        c.put_symlink(v2m.PutSymlinkRequest(bucket=BUCKET, key=f"{tag}/link", target=k))
        g = c.get_symlink(v2m.GetSymlinkRequest(bucket=BUCKET, key=f"{tag}/link"))
        assert g.target == k, g.target
        h = c.head_object(ossv2.HeadObjectRequest(bucket=BUCKET, key=f"{tag}/link"))
        assert h.object_type == "Symlink" and h.content_length == 6, h

    @check(f"{tag}: append_object and put_symlink with one byte changed are refused")
    def _():
        bad = client_v2(sk=flip(SK), version=version)
        expect_oss_error(lambda: bad.append_object(v2m.AppendObjectRequest(bucket=BUCKET, key=f"{tag}/bad.log",
                                                                            position=0, body=b"x")),
                         403, "SignatureDoesNotMatch")
        expect_oss_error(lambda: bad.put_symlink(v2m.PutSymlinkRequest(bucket=BUCKET, key=f"{tag}/bad", target="x")),
                         403, "SignatureDoesNotMatch")


oss2_append_symlink_suite("oss2-v1", bucket_v1)
oss2_append_symlink_suite("oss2-v4", bucket_v4)
v2_append_symlink_suite("ossv2-v4", "v4")
v2_append_symlink_suite("ossv2-v1", "v1")


# ---------------------------------------------------------------- STS + scoped OSS
from alibabacloud_sts20150401.client import Client as StsClient  # noqa: E402
from alibabacloud_sts20150401 import models as sts_models  # noqa: E402
from alibabacloud_tea_openapi import utils_models as tea_models  # noqa: E402

STS_HOSTPORT = urllib.parse.urlsplit(CFG["sts_endpoint"]).netloc
ROLE = CFG["role_arn"]
SCOPE_POLICY = json.dumps({"Version": "1", "Statement": [
    {"Effect": "Allow", "Action": ["oss:PutObject", "oss:GetObject"],
     "Resource": [f"acs:oss:*:*:{BUCKET}/users/alice/*"]},
    {"Effect": "Deny", "Action": "oss:*", "Resource": f"acs:oss:*:*:{BUCKET}/users/alice/private/*"},
]})


def assume(alg="default", sk=SK, **kw):
    cfg = tea_models.Config(access_key_id=AK, access_key_secret=sk, endpoint=STS_HOSTPORT, protocol="http")
    if alg != "default":
        cfg.signature_algorithm = alg
    req = sts_models.AssumeRoleRequest(role_arn=kw.get("role", ROLE), role_session_name=kw.get("session", "alice"),
                                       duration_seconds=kw.get("duration", 900), policy=kw.get("policy", SCOPE_POLICY))
    return StsClient(cfg).assume_role(req).body.credentials


def expect_sts_error(fn, code):
    try:
        fn()
    except Exception as e:  # noqa: BLE001 - Tea raises its own exception types
        got = getattr(e, "code", None)
        assert got == code, f"expected {code}, got {got}: {e}"
        return
    raise AssertionError(f"expected {code}, AssumeRole succeeded")


for alg in ("default", "v2"):
    @check(f"sts ({alg}): official SDK AssumeRole accepted; scoped credentials work only inside the policy")
    def _():
        c = assume(alg)
        assert c.access_key_id.startswith("STS."), c.access_key_id
        for tag, auth in (("v1", oss2.StsAuth(c.access_key_id, c.access_key_secret, c.security_token)),
                          ("v4", oss2.StsAuth(c.access_key_id, c.access_key_secret, c.security_token, auth_version="v4"))):
            b = oss2.Bucket(auth, EP, BUCKET, region=REGION)
            k = f"users/alice/{alg}-{tag}.txt"
            b.put_object(k, b"mine")
            assert b.get_object(k).read() == b"mine"
            expect_oss_error(lambda: b.put_object(f"users/bob/{alg}-{tag}.txt", b"x"), 403, "AccessDenied")
            expect_oss_error(lambda: b.put_object(f"users/alice/private/{tag}.txt", b"x"), 403, "AccessDenied")
            expect_oss_error(lambda: b.delete_object(k), 403, "AccessDenied")
            expect_oss_error(lambda: b.list_objects(prefix="users/alice/"), 403, "AccessDenied")
            url = b.sign_url("PUT", f"users/alice/{alg}-{tag}-url.txt", 300)
            assert requests.put(url, data=b"u").status_code == 200
            url = b.sign_url("PUT", f"users/bob/{alg}-{tag}-url.txt", 300)
            r = requests.put(url, data=b"u")
            assert r.status_code == 403 and "AccessDenied" in r.text, r.text
        v2c = client_v2(sk=c.access_key_secret, ak=c.access_key_id, token=c.security_token)
        v2c.put_object(ossv2.PutObjectRequest(bucket=BUCKET, key=f"users/alice/{alg}-v2.txt", body=b"v2"))
        expect_oss_error(lambda: v2c.put_object(ossv2.PutObjectRequest(bucket=BUCKET, key="users/bob/v2.txt", body=b"x")),
                         403, "AccessDenied")
        # AppendObject and PutSymlink are oss:PutObject, scoped like PutObject.
        b.append_object(f"users/alice/{alg}-append.log", 0, b"a")
        b.put_symlink(f"users/alice/{alg}-append.log", f"users/alice/{alg}-link")
        expect_oss_error(lambda: b.append_object(f"users/bob/{alg}-append.log", 0, b"a"), 403, "AccessDenied")
        expect_oss_error(lambda: b.put_symlink(f"users/alice/{alg}-append.log", f"users/bob/{alg}-link"),
                         403, "AccessDenied")
        bad_tok = oss2.Bucket(oss2.StsAuth(c.access_key_id, c.access_key_secret, flip(c.security_token)), EP, BUCKET)
        expect_oss_error(lambda: bad_tok.put_object("users/alice/t.txt", b"x"), 403, "InvalidSecurityToken")
        no_tok = oss2.Bucket(oss2.Auth(c.access_key_id, c.access_key_secret), EP, BUCKET)
        expect_oss_error(lambda: no_tok.put_object("users/alice/t.txt", b"x"), 403, "InvalidAccessKeyId")
        bad_sig = oss2.Bucket(oss2.StsAuth(c.access_key_id, flip(c.access_key_secret), c.security_token), EP, BUCKET)
        expect_oss_error(lambda: bad_sig.put_object("users/alice/t.txt", b"x"), 403, "SignatureDoesNotMatch")

    @check(f"sts ({alg}): wrong secret and bad parameters are refused")
    def _():
        expect_sts_error(lambda: assume(alg, sk=flip(SK)), "SignatureDoesNotMatch")
        expect_sts_error(lambda: assume(alg, duration=899), "InvalidParameter.DurationSeconds")
        expect_sts_error(lambda: assume(alg, duration=43201), "InvalidParameter.DurationSeconds")
        expect_sts_error(lambda: assume(alg, session="a"), "InvalidParameter.RoleSessionName")
        expect_sts_error(lambda: assume(alg, role=ROLE.replace("oss-upload", "nope")), "EntityNotExist.Role")
        expect_sts_error(lambda: assume(alg, policy='{"Version":"1"}'), "InvalidParameter.PolicyGrammar")
        expect_sts_error(lambda: assume(alg, policy="x" * 2049), "InvalidParameter.PolicyGrammar")

@check("sts: session policy governs tagging, copy and delete")
def _():
    c = assume("default")
    b = oss2.Bucket(oss2.StsAuth(c.access_key_id, c.access_key_secret, c.security_token), EP, BUCKET)
    k = "users/alice/policy.png"
    etag = b.put_object(k, b"mine").etag
    rule = oss2.models.TaggingRule()
    rule.add("verdict", "verified")
    # SCOPE_POLICY allows only oss:PutObject and oss:GetObject.
    expect_oss_error(lambda: b.put_object_tagging(k, oss2.models.Tagging(rule)), 403, "AccessDenied")
    expect_oss_error(lambda: b.get_object_tagging(k), 403, "AccessDenied")
    expect_oss_error(lambda: b.put_object("users/alice/t.png", b"x", headers={"x-oss-tagging": "a=1"}), 403, "AccessDenied")
    expect_oss_error(lambda: b.delete_object(k), 403, "AccessDenied")
    account = bucket_v1()
    account.put_object("users/bob/secret.png", b"bob's")
    expect_oss_error(lambda: b.copy_object(BUCKET, "users/bob/secret.png", "users/alice/stolen.png"), 403, "AccessDenied")
    expect_oss_error(lambda: b.copy_object(BUCKET, k, "users/bob/planted.png"), 403, "AccessDenied")
    b.copy_object(BUCKET, k, "users/alice/copy.png", headers={"x-oss-copy-source-if-match": etag})
    checker = json.dumps({"Version": "1", "Statement": [
        {"Effect": "Allow", "Action": ["oss:GetObject", "oss:PutObject", "oss:PutObjectTagging",
                                       "oss:GetObjectTagging", "oss:DeleteObject"],
         "Resource": [f"acs:oss:*:*:{BUCKET}/users/alice/*"]}]})
    c2 = assume("default", policy=checker)
    b2 = oss2.Bucket(oss2.StsAuth(c2.access_key_id, c2.access_key_secret, c2.security_token, auth_version="v4"),
                     EP, BUCKET, region=REGION)
    b2.put_object_tagging(k, oss2.models.Tagging(rule))
    assert b2.get_object_tagging(k).tag_set.tagging_rule == {"verdict": "verified"}
    b2.delete_object("users/alice/copy.png")
    expect_oss_error(lambda: b2.put_object_tagging("users/bob/secret.png", oss2.models.Tagging(rule)),
                     403, "AccessDenied")


json.dump({"passed": passed, "failed": failed}, sys.stdout, indent=1)
sys.exit(1 if failed else 0)
