"""Log hygiene: nothing secret that the function hands out is ever printed.

Every server in the session captures its stdout (banner + access log) and stderr
(emulator log); `Server.call` remembers each AccessKeySecret, SecurityToken, URL
and form signature from responses and each JWT sent. This file runs last
(alphabetical order) and checks every server started so far, after a workload of
its own that also exercises the error paths. conftest's pytest_sessionfinish
repeats the check for anything that ran later.
"""
import secrets
import time

import jwt
import requests

from conftest import ALL_SERVERS, HTTP_TIMEOUT, Server, base_env, flip_char, form_upload, hygiene_report, \
    replace_query, sts_bucket


def test_checker_finds_a_planted_secret(tmp_path):
    """The check can fail: a secret in the output, raw or URL-encoded, is found."""
    s = Server("planted", base_env(), "e2e-bucket", "ak", "sk", tmp_path)
    token = "CAIS" + secrets.token_urlsafe(30) + "+/="
    s.remember(token, "SecurityToken")
    s.remember("short", "ignored: too short to search for")
    s.out_path.write_text("nothing here\n")
    assert s.leaks() == []
    s.err_path.write_text(f"local: PUT b/k?security-token={requests.utils.quote(token, safe='')} 200\n")
    assert [w for w, _ in s.leaks()] == ["SecurityToken"]


def test_no_secret_from_any_response_is_printed(start_server):
    secret = secrets.token_urlsafe(40)
    srv = start_server("hygiene", AUTH_MODE="jwt", JWT_SECRET=secret, JWT_AUDIENCE="aud", SIGNATURE_VERSION="v1")
    now = int(time.time())
    good = jwt.encode({"sub": "carol", "aud": "aud", "iat": now, "exp": now + 300}, secret, algorithm="HS256")
    bad = jwt.encode({"sub": "carol", "aud": "aud", "iat": now, "exp": now + 300}, "x" * 40, algorithm="HS256")
    srv.remember(secret, "JWT_SECRET")

    # successes on every credential route, legacy ones included
    creds = srv.sts(token=good)
    sts_bucket(creds, "v1").put_object(creds["Prefix"] + "h.txt", b"h")
    for path in ("/get_sts_token", "/get_post_signature_for_oss_upload"):
        r = srv.call("GET", path + "?filename=a.png&contentType=image/png", token=good)
        assert r.status_code == 200, r.text
    r = srv.call("GET", "/get_presigned_url_for_oss_upload?filename=a.png", token=good)
    assert r.status_code == 200
    srv.remember_url(r.text, "legacy presign")
    p = srv.post_policy(token=good, filename="f.txt", contentType="text/plain", size=2)
    assert form_upload(p, b"ok", file_type="text/plain").status_code == 200
    u = srv.presign(token=good, filename="u.txt", contentType="text/plain", size=2)
    # failures: bad token, tampered URL, forbidden key, wrong method
    assert srv.call("GET", "/v1/sts", token=bad).status_code == 401
    assert srv.call("GET", "/v1/sts", headers={"Authorization": "Bearer " + good[:-2]}).status_code == 401
    tampered = replace_query(u["url"], "Signature", flip_char)
    assert requests.put(tampered, data=b"no", headers=u["headers"], timeout=HTTP_TIMEOUT).status_code == 403
    assert requests.put(u["url"], data=b"ok", headers=u["headers"], timeout=HTTP_TIMEOUT).status_code == 200
    assert srv.call("POST", "/v1/presign", token=good, json={"method": "GET", "key": "x/y"}).status_code == 403
    assert srv.call("DELETE", "/v1/sts", token=good).status_code == 405
    srv.stop()  # flush and close everything it printed

    kinds = " ".join(w for whats in srv.secrets.values() for w in whats)
    for kind in ("JWT", "AccessKeySecret", "SecurityToken", "Signature", "JWT_SECRET"):
        assert kind in kinds, f"no {kind} remembered: the check would be vacuous ({kinds})"
    assert srv.output().count('"msg":"request"') >= 8, srv.stdout()  # the access log was captured
    leaks = hygiene_report(ALL_SERVERS)
    assert not leaks, "\n".join(leaks)
