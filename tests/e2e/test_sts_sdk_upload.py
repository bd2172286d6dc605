"""Official Python SDKs upload with the credentials `/v1/sts` hands out.

The SDK does all the signing (simple PutObject and a multipart upload of a file
larger than the part size); we only read the object back with the account key.
SIGNATURE_VERSION configures what the *function* signs (URLs, policies), not STS
credentials, so here the parameter is the SDK's own signing version (V4 and V1).
"""
import hashlib
import os

import alibabacloud_oss_v2 as ossv2
import oss2
import pytest

from conftest import sts_bucket

PART = 256 * 1024
BIG = 1536 * 1024 + 17  # 1.5 MB and a bit: 7 parts of 256 KB, the last one short
PARTS = -(-BIG // PART)


@pytest.fixture(scope="module")
def big_file(tmp_path_factory):
    data = os.urandom(BIG)
    path = tmp_path_factory.mktemp("big") / "big.bin"
    path.write_bytes(data)
    return path, data


def multipart_etag(data, part):
    digests = b"".join(hashlib.md5(data[i:i + part]).digest() for i in range(0, len(data), part))
    return f"{hashlib.md5(digests).hexdigest().upper()}-{-(-len(data) // part)}"


@pytest.mark.parametrize("sdk_version", ["v4", "v1"])
def test_oss2_put_and_resumable_upload(servers, sdk_version, big_file, tmp_path):
    srv = servers["v4"]
    creds = srv.sts()
    assert creds["Prefix"] == "uploads/"
    bucket = sts_bucket(creds, sdk_version)

    small_key = f"{creds['Prefix']}oss2-{sdk_version}/hello ü.txt"
    body = b"hello from oss2\n" * 100
    r = bucket.put_object(small_key, body, headers={"Content-Type": "text/plain"})
    assert r.status == 200
    assert srv.read(small_key) == (body, "text/plain")

    path, data = big_file
    big_key = f"{creds['Prefix']}oss2-{sdk_version}/big.bin"
    oss2.resumable_upload(bucket, big_key, str(path), multipart_threshold=PART, part_size=PART, num_threads=2,
                          store=oss2.ResumableStore(root=str(tmp_path)))
    got, _ = srv.read(big_key)
    assert got == data
    head = srv.admin().head_object(big_key)
    assert head.object_type == "Multipart", head.object_type
    assert head.etag == multipart_etag(data, PART), (head.etag, PARTS)


def v2_client(creds, version):
    cfg = ossv2.config.load_default()
    cfg.credentials_provider = ossv2.credentials.StaticCredentialsProvider(
        creds["AccessKeyId"], creds["AccessKeySecret"], creds["SecurityToken"])
    cfg.region = creds["Region"]
    cfg.endpoint = creds["Endpoint"]
    cfg.use_path_style = True
    cfg.signature_version = version
    cfg.retry_max_attempts = 1
    cfg.connect_timeout = 5
    cfg.readwrite_timeout = 10
    return ossv2.Client(cfg)


@pytest.mark.parametrize("sdk_version", ["v4", "v1"])
def test_oss_v2_put_and_multipart_uploader(servers, sdk_version, big_file):
    srv = servers["v4"]
    creds = srv.sts()
    c = v2_client(creds, sdk_version)
    b = creds["Bucket"]

    small_key = f"{creds['Prefix']}ossv2-{sdk_version}/hello.json"
    body = b'{"hello": "alibabacloud-oss-v2"}'
    r = c.put_object(ossv2.PutObjectRequest(bucket=b, key=small_key, body=body, content_type="application/json"))
    assert r.status_code == 200
    assert srv.read(small_key) == (body, "application/json")

    path, data = big_file
    big_key = f"{creds['Prefix']}ossv2-{sdk_version}/big.bin"
    up = c.uploader(part_size=PART, parallel_num=2)
    r = up.upload_file(ossv2.PutObjectRequest(bucket=b, key=big_key), filepath=str(path))
    assert r.etag.strip('"') == multipart_etag(data, PART), r.etag
    got, _ = srv.read(big_key)
    assert got == data

    # The low-level multipart calls too: initiate, two parts (one from the middle), complete.
    mp_key = f"{creds['Prefix']}ossv2-{sdk_version}/manual.bin"
    init = c.initiate_multipart_upload(ossv2.InitiateMultipartUploadRequest(bucket=b, key=mp_key))
    p1 = c.upload_part(ossv2.UploadPartRequest(bucket=b, key=mp_key, upload_id=init.upload_id, part_number=1,
                                               body=data[:PART]))
    p2 = c.upload_part(ossv2.UploadPartRequest(bucket=b, key=mp_key, upload_id=init.upload_id, part_number=2,
                                               body=data[PART:PART + 1000]))
    listed = c.list_parts(ossv2.ListPartsRequest(bucket=b, key=mp_key, upload_id=init.upload_id))
    assert [p.part_number for p in listed.parts] == [1, 2]
    c.complete_multipart_upload(ossv2.CompleteMultipartUploadRequest(
        bucket=b, key=mp_key, upload_id=init.upload_id,
        complete_multipart_upload=ossv2.CompleteMultipartUpload(parts=[
            ossv2.UploadPart(part_number=1, etag=p1.etag), ossv2.UploadPart(part_number=2, etag=p2.etag)])))
    got, _ = srv.read(mp_key)
    assert got == data[:PART + 1000]
