"""`oss-direct-upload local` keeps serve mode's promises at its front door:
configuration errors exit with status 2, a weak JWT setup is warned about,
and client-sent `x-fc-*` headers are dropped as FC's gateway drops them."""
import subprocess

import requests

from conftest import BIN, HTTP_TIMEOUT, base_env, free_port


def run_local(tmp_path, **env):
    args = [BIN, "local", "--memory", "--port", str(free_port()), "--emulator-port", str(free_port())]
    return subprocess.run(args, cwd=tmp_path, env=base_env(**env), capture_output=True,
                          stdin=subprocess.DEVNULL, timeout=30)


def test_configuration_errors_exit_2_and_say_what_to_set(tmp_path):
    for env, names in [
        ({"AUTH_MODE": "sometimes"}, "AUTH_MODE"),
        # (AUTH_MODE=jwt alone now starts with a development secret: test_local_config.py)
        ({"AUTH_MODE": "jwt", "JWT_SECRET": "short"}, "JWT_SECRET"),  # too weak to verify with
        ({"MAX_UPLOAD_BYTES": "lots"}, "MAX_UPLOAD_BYTES"),
    ]:
        p = run_local(tmp_path, **env)
        err = p.stderr.decode(errors="replace")
        assert p.returncode == 2, (env, p.returncode, err)
        assert names in err, (env, err)


def test_jwt_without_issuer_and_audience_is_warned_about(start_server):
    srv = start_server("jwt-weak", AUTH_MODE="jwt", JWT_SECRET="w" * 40)
    assert "JWT_AUDIENCE or JWT_ISSUER is not set" in srv.output(), srv.output()
    strict = start_server("jwt-strict", AUTH_MODE="jwt", JWT_SECRET="w" * 40,
                          JWT_AUDIENCE="app", JWT_ISSUER="https://issuer.example")
    assert "JWT_AUDIENCE or JWT_ISSUER is not set" not in strict.output(), strict.output()


def test_client_sent_fc_headers_are_dropped(start_server):
    srv = start_server("fc-headers")
    forged = {
        # Would make the function call STS as someone else...
        "x-fc-access-key-id": "LTAIforged000000",
        "x-fc-access-key-secret": "forged-secret",
        "x-fc-security-token": "forged-token",
        # ...and write whatever it likes into the log lines.
        "x-fc-request-id": "forged-request-id",
        # ...and reach the lifecycle hooks.
        "x-fc-control-path": "/pre-stop",
    }
    r = requests.get(f"{srv.url}/v1/sts", headers=forged, timeout=HTTP_TIMEOUT)
    assert r.status_code == 200, r.text
    assert r.headers["x-request-id"] != "forged-request-id"
    r = requests.get(f"{srv.url}/pre-stop", headers=forged, timeout=HTTP_TIMEOUT)
    assert r.status_code == 404, r.text
    assert requests.get(f"{srv.url}/healthz", timeout=HTTP_TIMEOUT).status_code == 200
    assert "forged-request-id" not in srv.output()
