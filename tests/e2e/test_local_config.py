"""Local mode's configuration as a newcomer meets it: the shipped example
profiles run as README shows them, errors say what to set (naming the
variable), and a JWT key is never silently ignored."""
import os
import shutil
import subprocess

import requests

from conftest import BIN, HTTP_TIMEOUT, REPO, base_env, free_port


def run_local(tmp_path, *args, **env):
    argv = [BIN, "local", "--memory", "--port", str(free_port()), "--emulator-port", str(free_port()), *args]
    return subprocess.run(argv, cwd=tmp_path, env=base_env(**env), capture_output=True, text=True,
                          stdin=subprocess.DEVNULL, timeout=30)


def test_the_example_profiles_run_in_local_mode_with_a_dev_token(start_server, tmp_path):
    shutil.copy(REPO / "profiles.example.toml", tmp_path / "profiles.example.toml")
    srv = start_server("example-profiles", extra_args=("--data", str(tmp_path / "data"), "--profiles",
                                                        str(tmp_path / "profiles.example.toml")))
    text = srv.stdout()
    assert "auth       jwt (the profile file has a profile that needs a user)" in text, text
    token = srv.banner_commands()[0].split("=", 1)[1]
    r = requests.post(f"{srv.url}/v1/presign", headers={"Authorization": f"Bearer {token}"}, timeout=HTTP_TIMEOUT,
                      json={"profile": "avatar", "filename": "me.png", "contentType": "image/png", "size": 100})
    assert r.status_code == 200, r.text
    assert r.json()["key"] == "avatars/alice/avatar"
    names = [p["name"] for p in requests.get(f"{srv.url}/v1/config", timeout=HTTP_TIMEOUT).json()["profiles"]]
    assert names == ["default", "avatar", "document", "video"], names


def test_the_example_profiles_under_anonymous_say_what_to_set(tmp_path):
    shutil.copy(REPO / "profiles.example.toml", tmp_path / "p.toml")
    p = run_local(tmp_path, "--profiles", "p.toml", AUTH_MODE="anonymous")
    assert p.returncode == 2, p.stderr
    assert 'profile "avatar", field overwrite' in p.stderr, p.stderr
    assert "set AUTH_MODE=jwt or fc-jwt" in p.stderr and "--profiles" in p.stderr, p.stderr


def test_a_jwt_key_turns_jwt_on_in_local_mode_and_is_refused_with_anonymous(start_server, tmp_path):
    secret = "k" * 40
    srv = start_server("jwt-by-key", JWT_SECRET=secret)
    assert "auth       jwt (a JWT key is set)" in srv.stdout(), srv.stdout()
    assert "development secret" not in srv.stdout()
    assert requests.get(f"{srv.url}/v1/sts", timeout=HTTP_TIMEOUT).status_code == 401
    p = run_local(tmp_path, AUTH_MODE="anonymous", JWT_SECRET=secret)
    assert p.returncode == 2, p.stderr
    assert 'JWT_SECRET: is set but AUTH_MODE is "anonymous"' in p.stderr, p.stderr
    assert "set AUTH_MODE=jwt to use it, or unset JWT_SECRET" in p.stderr, p.stderr
    assert secret not in p.stderr + p.stdout


def test_two_jwt_keys_are_named(tmp_path):
    p = run_local(tmp_path, AUTH_MODE="jwt", JWT_SECRET="k" * 40, JWT_JWKS='{"keys":[]}')
    assert p.returncode == 2, p.stderr
    assert "JWT_SECRET and JWT_JWKS are both set" in p.stderr, p.stderr


def test_the_page_loads_ali_oss_from_the_function_itself(start_server):
    srv = start_server("ali-oss-local")
    config = requests.get(f"{srv.url}/v1/config", timeout=HTTP_TIMEOUT).json()
    assert config["aliOssScriptUrl"] == "/vendor/aliyun-oss-sdk.min.js", config
    r = requests.get(srv.url + config["aliOssScriptUrl"], timeout=HTTP_TIMEOUT)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/javascript")
    # The pinned copy is npm's ali-oss browser build, byte for byte.
    npm = REPO / "tests" / "peers" / "node_modules" / "ali-oss" / "dist" / "aliyun-oss-sdk.min.js"
    assert r.content == npm.read_bytes()
    assert r.content.startswith(b"// Aliyun OSS SDK for JavaScript v6.23.0")
