"""The banner's ready-to-paste commands work when pasted, and each upload's
verdict is printed in words.

The `curl`, `python3` (and, in jwt mode, `export TOKEN=`) lines are run exactly
as printed, with bash, in a folder holding a README.md, with the venv first on
PATH (so `python3` has oss2). Then, as the operator, we list the bucket with
the account key, and read the console for the verdicts local mode prints.
"""
import os
import re
import subprocess
import time

import jwt
import pytest
import requests

from conftest import BIN, HTTP_TIMEOUT, VENV_BIN

NAMES = ["hello-form.txt", "hello-presigned.txt", "hello-sts.txt"]


def paste(commands, cwd, readme):
    """Runs the commands in one shell, as a user pasting them would."""
    (cwd / "README.md").write_bytes(readme)
    env = dict(os.environ, PATH=f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}")
    p = subprocess.run(["bash", "-ec", "\n".join(commands)], cwd=cwd, env=env, capture_output=True, text=True,
                       timeout=60)
    assert p.returncode == 0, f"{commands}\nstdout={p.stdout}\nstderr={p.stderr}"
    return p.stdout


def verdict_lines(srv, n, timeout=20):
    """The console's plain-word verdict lines, once there are n of them."""
    deadline = time.monotonic() + timeout
    while True:
        lines = [l for l in srv.stdout().splitlines() if re.match(r"^(verified|rejected) ", l)]
        if len(lines) >= n or time.monotonic() > deadline:
            return lines
        time.sleep(0.1)


@pytest.mark.parametrize("version", ["v4", "v1"])
def test_banner_commands_upload_three_objects(start_server, version, tmp_path):
    srv = start_server(f"banner-{version}", SIGNATURE_VERSION=version)
    commands = srv.banner_commands()
    assert len(commands) == 4, commands  # three uploads and the operator's listing
    assert [c.split(None, 1)[0] for c in commands] == ["curl", "curl", "python3", "python3"]
    # Only the /v1 routes (README tells new clients to avoid the sample-client ones).
    assert all("/get_" not in c for c in commands), commands
    assert all("/v1/" in c for c in commands[:3]), commands

    readme = b"# hello from the banner test\n" + os.urandom(64).hex().encode() + b"\n"
    out = paste(commands[:3], tmp_path, readme)
    assert "uploaded via presigned URL: uploads/" in out
    assert "uploaded via POST policy: uploads/" in out
    assert "uploaded via STS: uploads/sts/hello-sts.txt" in out
    listing = paste(commands[3:], tmp_path, readme)

    keys = srv.keys()
    assert len(keys) == 3, keys
    assert sorted(k.rsplit("/", 1)[1] for k in keys) == NAMES, keys
    assert all(k.startswith("uploads/") for k in keys), keys
    for k in keys:
        body, ctype = srv.read(k)
        assert body == readme, k
        assert ctype == "text/plain", (k, ctype)  # a type the default profile allows
        assert k in listing, (k, listing)  # the printed listing command shows them too


def test_banner_uploads_are_verified_and_a_rejection_is_said_in_words(start_server, tmp_path):
    srv = start_server("banner-verdicts", trigger=True)
    readme = b"# a README\n\nplain text, as the banner declares it\n"
    paste(srv.banner_commands()[:3], tmp_path, readme)
    lines = verdict_lines(srv, 3)
    assert sorted(l.split()[0] for l in lines) == ["verified"] * 3, srv.stdout()[-3000:]
    assert sorted(l.split()[1].rsplit("/", 1)[1] for l in lines) == NAMES, lines
    assert len(srv.keys()) == 3  # verified objects stay

    # What the banner used to do: oss2 guesses text/markdown for README.md.
    c = srv.sts()
    from conftest import sts_bucket
    key = c["Prefix"] + "sts/README.md"
    sts_bucket(c, "v1").put_object_from_file(key, str(tmp_path / "README.md"))
    lines = verdict_lines(srv, 4)
    assert f'rejected {key}: declared text/markdown, not allowed in profile "default" (deleted)' in lines, lines
    deadline = time.monotonic() + 10
    while srv.exists(key) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not srv.exists(key)
    # The JSON log and the webhook it would send are there too.
    assert '"msg":"upload rejected"' in srv.stdout()
    assert '"type":"upload.rejected"' in srv.stdout()


def test_jwt_banner_has_a_dev_token_and_commands_that_use_it(start_server, tmp_path):
    data = tmp_path / "data"
    srv = start_server("banner-jwt", trigger=True, extra_args=("--data", str(data)), AUTH_MODE="jwt")
    text = srv.stdout()
    assert "JWT_SECRET is a development secret local mode generated" in text, text
    assert "never deploy it" in text
    secret = (data / "dev-jwt-secret").read_text().strip()
    assert len(secret) >= 32 and secret not in text  # the secret itself is never printed
    srv.remember(secret, "dev JWT_SECRET")
    commands = srv.banner_commands()
    assert commands[0].startswith("export TOKEN=ey"), commands
    token = commands[0].split("=", 1)[1]
    # An independent verifier (PyJWT) accepts it with the dev secret: HS256, sub alice, a future exp.
    claims = jwt.decode(token, secret, algorithms=["HS256"])
    assert claims["sub"] == "alice" and claims["exp"] > time.time() + 3600
    assert all("TOKEN" in c for c in commands[1:4]), commands  # $TOKEN, os.environ["TOKEN"]
    out = paste(commands[:4], tmp_path, b"hello, alice\n")
    assert "uploaded via STS: uploads/alice/sts/hello-sts.txt" in out, out
    lines = verdict_lines(srv, 3)
    assert [l.split()[0] for l in lines] == ["verified"] * 3, lines
    assert all(l.split()[1].startswith("uploads/alice/") for l in lines), lines
    # Without the token the same route is refused.
    assert requests.get(f"{srv.url}/v1/sts", timeout=HTTP_TIMEOUT).status_code == 401

    # `token` signs for another user with the same dev secret (found in --data).
    p = subprocess.run([BIN, "token", "--sub", "bob", "--ttl", "90s", "--data", str(data)],
                       capture_output=True, text=True, timeout=30, env={"PATH": os.environ["PATH"]})
    assert p.returncode == 0, p.stderr
    bob = p.stdout.strip()
    claims = jwt.decode(bob, secret, algorithms=["HS256"])
    assert claims["sub"] == "bob" and claims["exp"] - claims["iat"] == 90
    r = requests.get(f"{srv.url}/v1/sts", headers={"Authorization": f"Bearer {bob}"}, timeout=HTTP_TIMEOUT)
    assert r.status_code == 200 and r.json()["Prefix"] == "uploads/bob/", r.text
    srv.remember(r.json()["AccessKeySecret"], "/v1/sts AccessKeySecret")


def test_token_command_uses_jwt_secret_with_issuer_and_audience(tmp_path):
    secret = "a-secret-of-more-than-32-bytes-0123456789"
    env = {"PATH": os.environ["PATH"], "JWT_SECRET": secret, "JWT_ISSUER": "https://issuer.example",
           "JWT_AUDIENCE": "my-app", "JWT_USER_CLAIM": "uid"}
    p = subprocess.run([BIN, "token", "--sub", "carol"], cwd=tmp_path, env=env, capture_output=True, text=True,
                       timeout=30)
    assert p.returncode == 0, p.stderr
    claims = jwt.decode(p.stdout.strip(), secret, algorithms=["HS256"], audience="my-app",
                        issuer="https://issuer.example")
    assert claims["uid"] == "carol" and claims["exp"] - claims["iat"] == 3600
    # No secret anywhere: it says what to set.
    p = subprocess.run([BIN, "token", "--sub", "carol"], cwd=tmp_path, env={"PATH": os.environ["PATH"]},
                       capture_output=True, text=True, timeout=30)
    assert p.returncode == 2 and "JWT_SECRET is not set" in p.stderr, p.stderr
    p = subprocess.run([BIN, "token"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=30)
    assert p.returncode == 2 and "--sub USER is required" in p.stderr, p.stderr
