"""Upload profiles: one deployment, several kinds of upload, each with its own rules.

A real `oss-direct-upload local` runs with AUTH_MODE=jwt and a PROFILES_FILE of
four profiles. Writes go through the official SDK (oss2) on the credentials the
function hands out, and through the signed forms and URLs with plain HTTP; the
emulator, grounded by the official SDKs, is the judge of what OSS would allow.
"""
import os
import subprocess
import time

import jwt
import pytest
import requests

from conftest import BIN, HTTP_TIMEOUT, api_error, base_env, expect_oss_error, form_upload, sts_bucket

SECRET = "profiles-e2e-secret-" + "x" * 24
AUDIENCE = "profiles-app"
ISSUER = "https://issuer.profiles.test"

PROFILES = """
[[profile]]
name = "avatar"
prefix = "avatars/"
content_types = ["image/png", "image/jpeg"]
max_bytes = 65536
methods = ["post-policy", "presign"]
overwrite = "replace"
fixed_name = "avatar"

[[profile]]
name = "document"
prefix = "documents/"
content_types = ["application/pdf", "text/plain"]
min_bytes = 10
max_bytes = 1048576

[[profile]]
name = "video"
prefix = "videos/"
content_types = ["video/mp4"]
max_bytes = 10737418240
methods = ["multipart", "sts"]

[[profile]]
name = "feedback"
prefix = "feedback/"
content_types = ["text/plain"]
max_bytes = 4096
anonymous = true
"""


def mint(sub):
    now = int(time.time())
    return jwt.encode({"sub": sub, "aud": AUDIENCE, "iss": ISSUER, "iat": now, "exp": now + 300},
                      SECRET, algorithm="HS256")


@pytest.fixture(scope="module")
def psrv(start_server, tmp_path_factory):
    path = tmp_path_factory.mktemp("profiles") / "profiles.toml"
    path.write_text(PROFILES)
    return start_server("profiles", AUTH_MODE="jwt", JWT_SECRET=SECRET, JWT_AUDIENCE=AUDIENCE,
                        JWT_ISSUER=ISSUER, PROFILES_FILE=str(path), MAX_UPLOAD_BYTES="2048")


def call(srv, path, token=None, **body):
    return srv.call("POST", path, token=token, json=body)


def test_config_lists_every_profile_with_its_public_rules(psrv):
    cfg = requests.get(psrv.url + "/v1/config", timeout=HTTP_TIMEOUT).json()
    names = [p["name"] for p in cfg["profiles"]]
    assert names == ["default", "avatar", "document", "video", "feedback"]
    by = {p["name"]: p for p in cfg["profiles"]}
    assert by["default"]["maxBytes"] == 2048 and by["default"]["prefix"] == "uploads/"
    assert by["avatar"] == {
        "name": "avatar", "prefix": "avatars/", "contentTypes": ["image/png", "image/jpeg"],
        "minBytes": 1, "maxBytes": 65536, "methods": ["post-policy", "presign"], "anonymous": False,
        "overwrite": "replace", "urlTtlSeconds": 600, "tokenTtlSeconds": 900,
    }
    assert by["feedback"]["anonymous"] is True and by["document"]["anonymous"] is False


@pytest.mark.parametrize("path", ["/v1/sts", "/v1/post-policy", "/v1/presign"])
def test_unknown_profile_is_a_400_naming_the_profiles(psrv, path):
    r = call(psrv, path, token=mint("alice"), profile="avatars", filename="a.png",
             contentType="image/png", size=10)
    assert api_error(r) == (400, "UnknownProfile"), r.text
    assert "default, avatar, document, video, feedback" in r.json()["error"]["message"]


@pytest.mark.parametrize("path,profile,allowed", [
    ("/v1/sts", "avatar", "post-policy, presign"),
    ("/v1/post-policy", "video", "multipart, sts"),
    ("/v1/presign", "video", "multipart, sts"),
])
def test_a_method_the_profile_does_not_allow_is_a_400_saying_which_it_does(psrv, path, profile, allowed):
    r = call(psrv, path, token=mint("alice"), profile=profile, filename="v.mp4", contentType="video/mp4",
             size=100)
    assert api_error(r) == (400, "MethodNotAllowedForProfile"), r.text
    assert allowed in r.json()["error"]["message"]


@pytest.mark.parametrize("path", ["/v1/post-policy", "/v1/presign"])
def test_size_and_type_come_from_the_profile(psrv, path):
    t = mint("alice")
    # 60 KB is over the default's 2 KB but within avatar's 64 KB.
    assert call(psrv, path, token=t, profile="avatar", contentType="image/png", size=60000).status_code == 200
    assert api_error(call(psrv, path, token=t, profile="avatar", contentType="image/png", size=70000)) \
        == (400, "FileTooLarge")
    assert api_error(call(psrv, path, token=t, contentType="image/png", size=60000)) == (400, "FileTooLarge")
    assert api_error(call(psrv, path, token=t, profile="avatar", contentType="application/pdf", size=100)) \
        == (400, "ContentTypeNotAllowed")
    assert api_error(call(psrv, path, token=t, profile="document", contentType="text/plain", size=5)) \
        == (400, "FileTooSmall")


def test_post_policy_enforces_the_profiles_size_range_at_oss(psrv):
    t = mint("alice")
    p = psrv.post_policy(token=t, profile="document", filename="n.txt", contentType="text/plain")
    assert p["key"].startswith("documents/alice/") and p["maxBytes"] == 1048576
    small = form_upload(p, b"tiny", file_type="text/plain")
    assert small.status_code == 400 and "EntityTooSmall" in small.text, small.text
    assert not psrv.exists(p["key"])
    ok = form_upload(p, b"ten bytes!", file_type="text/plain")
    assert ok.status_code == 200, ok.text
    assert psrv.read(p["key"]) == (b"ten bytes!", "text/plain")


def test_anonymous_rule_per_profile(psrv):
    # feedback admits callers without a token, under a segment no user id can take.
    r = call(psrv, "/v1/presign", profile="feedback", filename="f.txt", contentType="text/plain", size=4)
    assert r.status_code == 200, r.text
    assert r.json()["key"].startswith("feedback/~anonymous/")
    put = requests.put(r.json()["url"], data=b"nice", headers=r.json()["headers"], timeout=HTTP_TIMEOUT)
    assert put.status_code == 200, put.text
    # Everything else still needs one.
    for profile in (None, "document", "avatar"):
        body = {"filename": "f.txt", "contentType": "text/plain", "size": 40}
        if profile:
            body["profile"] = profile
        assert api_error(call(psrv, "/v1/presign", **body)) == (401, "Unauthorized")
    # A token user of the anonymous profile is still scoped to their own folder.
    r = call(psrv, "/v1/presign", token=mint("bob"), profile="feedback", filename="f.txt",
             contentType="text/plain", size=4)
    assert r.json()["key"].startswith("feedback/bob/")


@pytest.mark.parametrize("sdk_version", ["v4", "v1"])
def test_sts_credentials_of_one_profile_cannot_write_into_another(psrv, sdk_version):
    r = call(psrv, "/v1/sts", token=mint("alice"), profile="document")
    assert r.status_code == 200, r.text
    doc = r.json()
    assert doc["Prefix"] == "documents/alice/"
    b = sts_bucket(doc, sdk_version)
    own = f"documents/alice/{sdk_version}/own.txt"
    b.put_object(own, b"mine, in documents")
    assert psrv.read(own)[0] == b"mine, in documents"
    for key in ("avatars/alice/avatar", f"videos/alice/{sdk_version}.mp4", f"uploads/alice/{sdk_version}.txt",
                f"documents/bob/{sdk_version}.txt", f"documents/{sdk_version}.txt"):
        expect_oss_error(lambda: b.put_object(key, b"x"), 403, "AccessDenied")
        assert not psrv.exists(key), key
    # The default profile's credentials stay in the default key space.
    default = psrv.sts(token=mint("alice"))
    assert default["Prefix"] == "uploads/alice/" and default["AccessKeyId"] != doc["AccessKeyId"]
    expect_oss_error(lambda: sts_bucket(default, sdk_version).put_object(f"documents/alice/{sdk_version}-x", b"x"),
                     403, "AccessDenied")


def test_fixed_key_profile_replaces_and_forbid_profile_refuses(psrv):
    t = mint("carol")
    first = psrv.post_policy(token=t, profile="avatar", filename="me.png", contentType="image/png")
    assert first["key"] == "avatars/carol/avatar"
    assert "x-oss-forbid-overwrite" not in first["fields"]
    assert form_upload(first, b"first avatar", file_type="image/png").status_code == 200
    second = psrv.presign(token=t, profile="avatar", filename="other.png", contentType="image/png", size=13)
    assert second["key"] == "avatars/carol/avatar"
    put = requests.put(second["url"], data=b"second avatar", headers=second["headers"], timeout=HTTP_TIMEOUT)
    assert put.status_code == 200, put.text
    assert psrv.read("avatars/carol/avatar") == (b"second avatar", "image/png")
    assert psrv.keys("avatars/carol/") == ["avatars/carol/avatar"]

    # A forbid profile never replaces: the same presigned PUT a second time is a 409.
    doc = psrv.presign(token=t, profile="document", filename="d.txt", contentType="text/plain", size=12)
    assert doc["headers"].get("x-oss-forbid-overwrite") == "true"
    again = [requests.put(doc["url"], data=b"document one", headers=doc["headers"], timeout=HTTP_TIMEOUT)
             for _ in range(2)]
    assert again[0].status_code == 200, again[0].text
    assert again[1].status_code == 409 and "FileAlreadyExists" in again[1].text, again[1].text
    assert psrv.read(doc["key"])[0] == b"document one"


def test_presigned_get_reads_back_within_the_keys_profile(psrv):
    t = mint("dave")
    doc = psrv.presign(token=t, profile="document", filename="r.txt", contentType="text/plain", size=11)
    assert requests.put(doc["url"], data=b"read me now", headers=doc["headers"],
                        timeout=HTTP_TIMEOUT).status_code == 200
    g = psrv.presign(token=t, method="GET", key=doc["key"])
    assert requests.get(g["url"], timeout=HTTP_TIMEOUT).content == b"read me now"
    # Another user's key in the same profile is refused before anything is signed.
    r = call(psrv, "/v1/presign", token=mint("eve"), method="GET", key=doc["key"])
    assert r.status_code == 403, r.text


def _serve_with_profiles(tmp_path, text):
    path = tmp_path / "profiles.toml"
    path.write_text(text)
    env = base_env(OSS_BUCKET="b-profiles", OSS_REGION="cn-hangzhou",
                   OSS_ROLE_ARN="acs:ram::1234567890123456:role/upload", AUTH_MODE="jwt",
                   JWT_SECRET=SECRET, JWT_AUDIENCE=AUDIENCE, JWT_ISSUER=ISSUER,
                   PROFILES_FILE=str(path), FC_CUSTOM_LISTEN_PORT="0")
    return subprocess.run([BIN], env=env, capture_output=True, text=True, timeout=20)


def test_configuration_errors_name_the_profile_and_field_and_exit_2(tmp_path):
    bad = PROFILES + """
[[profile]]
name = "avatar"
prefix = "videos/clips/"
content_types = ["video"]
max_bytes = 10
methods = ["upload"]
colour = "blue"
"""
    p = _serve_with_profiles(tmp_path, bad)
    assert p.returncode == 2, (p.returncode, p.stderr)
    assert "unknown field `colour`" in p.stderr, p.stderr
    fixed = bad.replace('colour = "blue"\n', "")
    p = _serve_with_profiles(tmp_path, fixed)
    assert p.returncode == 2, (p.returncode, p.stderr)
    for want in ('profile "avatar", field content_types: "video" is not a media type',
                 'profile "avatar", field methods: "upload" is not one of',
                 'profiles.toml'):
        assert want in p.stderr, p.stderr
    p = _serve_with_profiles(tmp_path, fixed.replace('"video"]', '"video/mp4"]').replace('["upload"]', '["sts"]'))
    assert p.returncode == 2
    assert 'profile "avatar", field name: is used by two profiles' in p.stderr, p.stderr
    assert 'field prefix: "videos/clips/" overlaps profile "video"' in p.stderr, p.stderr


def test_missing_profiles_file_is_reported(tmp_path):
    env = base_env(OSS_BUCKET="b-profiles", OSS_REGION="cn-hangzhou",
                   OSS_ROLE_ARN="acs:ram::1234567890123456:role/upload", AUTH_MODE="anonymous",
                   PROFILES_FILE=str(tmp_path / "nope.toml"))
    p = subprocess.run([BIN], env=env, capture_output=True, text=True, timeout=20)
    assert p.returncode == 2 and "PROFILES_FILE: cannot read" in p.stderr, p.stderr
    assert os.path.basename("nope.toml") in p.stderr
