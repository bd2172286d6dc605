"""Per-user scope with AUTH_MODE=jwt: each user's credentials reach only their prefix.

Tokens are minted here with PyJWT (HS256); the STS credentials are used by oss2.
"""
import secrets
import time

import jwt
import pytest

from conftest import api_error, expect_oss_error, form_upload, sts_bucket

SECRET = secrets.token_urlsafe(40)
AUDIENCE = "e2e-app"
ISSUER = "https://issuer.e2e.test"


def mint(sub, secret=SECRET, **over):
    now = int(time.time())
    claims = {"sub": sub, "aud": AUDIENCE, "iss": ISSUER, "iat": now, "exp": now + 300}
    claims.update(over)
    return jwt.encode(claims, secret, algorithm="HS256")


@pytest.fixture(scope="module")
def jwt_srv(start_server):
    return start_server("jwt", AUTH_MODE="jwt", JWT_SECRET=SECRET, JWT_AUDIENCE=AUDIENCE, JWT_ISSUER=ISSUER)


@pytest.mark.parametrize("sdk_version", ["v4", "v1"])
def test_user_cannot_write_under_another_users_prefix(jwt_srv, sdk_version):
    alice = jwt_srv.sts(token=mint("alice"))
    bob = jwt_srv.sts(token=mint("bob@example.com"))
    assert alice["Prefix"] == "uploads/alice/"
    assert bob["Prefix"] == "uploads/bob.40example.2Ecom/"
    assert alice["AccessKeyId"] != bob["AccessKeyId"]

    a = sts_bucket(alice, sdk_version)
    own = f"{alice['Prefix']}{sdk_version}/mine.txt"
    a.put_object(own, b"alice's")
    assert jwt_srv.read(own)[0] == b"alice's"

    for key in (f"{bob['Prefix']}{sdk_version}/from-alice.txt", f"uploads/{sdk_version}-shared.txt",
                f"uploads/alice2/{sdk_version}.txt"):
        expect_oss_error(lambda: a.put_object(key, b"x"), 403, "AccessDenied")
        assert not jwt_srv.exists(key), key
    # and bob's own credentials do work there (the refusal is about who, not where)
    key = f"{bob['Prefix']}{sdk_version}/own.txt"
    sts_bucket(bob, sdk_version).put_object(key, b"bob's")
    assert jwt_srv.read(key)[0] == b"bob's"


def test_user_signed_forms_and_urls_stay_in_their_prefix(jwt_srv):
    ta, tb = mint("alice"), mint("bob@example.com")
    pa = jwt_srv.post_policy(token=ta, filename="a.txt", contentType="text/plain", size=5)
    assert pa["key"].startswith("uploads/alice/")
    bob_key = "uploads/bob.40example.2Ecom/stolen.txt"
    r = form_upload(pa, b"hijack", file_type="text/plain", override={"key": bob_key})
    assert r.status_code == 403 and "AccessDenied" in r.text, r.text
    assert not jwt_srv.exists(bob_key)
    assert form_upload(pa, b"hello", file_type="text/plain").status_code == 200

    # alice cannot get a GET URL for bob's object, bob can
    pb = jwt_srv.presign(token=tb, filename="b.txt", contentType="text/plain", size=3)
    r = jwt_srv.call("POST", "/v1/presign", token=ta, json={"method": "GET", "key": pb["key"]})
    assert api_error(r) == (403, "KeyOutsidePrefix"), r.text
    jwt_srv.presign(token=tb, method="GET", key=pb["key"])


def test_credentials_need_a_valid_token(jwt_srv):
    cases = {
        "none": None,
        "wrong secret": mint("alice", secret=secrets.token_urlsafe(40)),
        "wrong audience": mint("alice", aud="someone-else"),
        "wrong issuer": mint("alice", iss="https://evil.test"),
        "expired": mint("alice", exp=int(time.time()) - 3600, iat=int(time.time()) - 7200),
    }
    for what, token in cases.items():
        for route in ("/v1/sts", "/v1/post-policy", "/v1/presign"):
            r = jwt_srv.call("POST", route, token=token, json={"filename": "a.txt", "contentType": "text/plain"})
            assert r.status_code == 401, (what, route, r.status_code, r.text)
            assert "AccessKeySecret" not in r.text and "SecurityToken" not in r.text
            assert r.headers.get("WWW-Authenticate", "").startswith("Bearer"), (what, r.headers)


def test_user_ids_cannot_collide_or_escape(jwt_srv):
    """A user whose id *looks like* another's encoded prefix, or contains path syntax,
    gets a prefix of their own, and cannot write into bob's."""
    bob = jwt_srv.sts(token=mint("bob@example.com"))
    for sub in ("bob.40example.2Ecom", "../bob.40example.2Ecom", "bob@example.com/"):
        c = jwt_srv.sts(token=mint(sub))
        assert c["Prefix"] != bob["Prefix"] and c["Prefix"].startswith("uploads/"), (sub, c["Prefix"])
        assert c["Prefix"].count("/") == 2 and ".." not in c["Prefix"].split("/"), (sub, c["Prefix"])
        key = bob["Prefix"] + "collide.txt"
        expect_oss_error(lambda: sts_bucket(c, "v4").put_object(key, b"x"), 403, "AccessDenied")
        assert not jwt_srv.exists(key)
