"""The OpenAPI document (docs/openapi.json, served at /v1/openapi.json), judged by code we did not write.

- openapi-spec-validator accepts it as OpenAPI 3.1, as committed and as served with LEGACY_ROUTES on and off;
- schemathesis runs every operation of the served document against `local` in each AUTH_MODE (anonymous,
  jwt with a PyJWT-minted token, fc-jwt with the user header FC's trigger would set) with every check
  (schemathesis 4's default; two narrow exceptions in tests/e2e/schemathesis.toml, each with its reason):
  no 5xx, every status, content type and body as documented, undocumented methods refused with 405 and
  `Allow`. Bounded (-n 10 per operation), deterministic, the three modes in parallel (about a minute).
"""
import json
import os
import secrets
import subprocess
import sys
import time
from pathlib import Path

import jwt
import pytest
import requests
from openapi_spec_validator import validate

from conftest import HTTP_TIMEOUT, REPO

DOC = REPO / "docs" / "openapi.json"
CONFIG = REPO / "tests" / "e2e" / "schemathesis.toml"
# schemathesis's CLI, next to the Python running the tests (the peers' venv).
ST = Path(sys.executable).parent / "st"
EXAMPLES = 10  # per operation, in the fuzzing phase
RUN_TIMEOUT = 240  # seconds for one schemathesis run

SECRET = secrets.token_urlsafe(40)
AUDIENCE = "openapi-app"
ISSUER = "https://issuer.openapi.test"


def token(sub="alice"):
    now = int(time.time())
    claims = {"sub": sub, "aud": AUDIENCE, "iss": ISSUER, "iat": now, "exp": now + 3600}
    return jwt.encode(claims, SECRET, algorithm="HS256")


# AUTH_MODE -> (the server's environment, the header schemathesis sends on every request).
MODES = {
    "anonymous": ({}, None),
    "jwt": (dict(AUTH_MODE="jwt", JWT_SECRET=SECRET, JWT_AUDIENCE=AUDIENCE, JWT_ISSUER=ISSUER), "bearer"),
    "fc-jwt": (dict(AUTH_MODE="fc-jwt", TRIGGER_USER_HEADER="x-user-id"), "x-user-id: carol@example.com"),
}


# The coverage phase (every boundary and type mutation of every parameter, the same in every mode: input
# is checked before who is asking matters) runs once; fuzzing (positive and negative examples of every
# operation) and stateful (create, then the steps on what it made) run in every mode.
PHASES = {"anonymous": "coverage,fuzzing,stateful", "jwt": "fuzzing,stateful", "fc-jwt": "fuzzing,stateful"}


def test_committed_document_is_valid_openapi_3_1():
    doc = json.loads(DOC.read_text())
    validate(doc)  # raises on any violation of the OpenAPI 3.1 schema
    assert doc["openapi"].startswith("3.1")
    assert "/v1/openapi.json" in doc["paths"] and "/s3/multipart/{uploadId}/complete" in doc["paths"]


def test_served_document_is_the_committed_one_and_drops_legacy_routes_when_off(start_server):
    on = start_server("openapi-legacy-on")
    r = requests.get(on.url + "/v1/openapi.json", timeout=HTTP_TIMEOUT)
    assert r.status_code == 200 and r.headers["content-type"] == "application/json"
    assert r.json() == json.loads(DOC.read_text())

    off = start_server("openapi-legacy-off", LEGACY_ROUTES="false")
    served = requests.get(off.url + "/v1/openapi.json", timeout=HTTP_TIMEOUT).json()
    validate(served)
    assert "/get_sts_token" not in served["paths"] and "/v1/sts" in served["paths"]
    assert requests.get(off.url + "/get_sts_token", timeout=HTTP_TIMEOUT).status_code == 404


@pytest.fixture(scope="module")
def schemathesis_runs(start_server, tmp_path_factory):
    """One schemathesis run per AUTH_MODE, all three at once; mode -> (exit code, output)."""
    if not ST.exists():
        pytest.fail(f"schemathesis is not installed next to {sys.executable}; run ./scripts/setup-peers.sh")
    procs = {}
    for mode, (env, auth) in MODES.items():
        srv = start_server(f"openapi-{mode}", **env)
        header = {"bearer": f"Authorization: Bearer {token()}"}.get(auth, auth)
        # The committed file, which the test above holds equal to the served document. Every check is on
        # by default in schemathesis 4; `--checks all` would also switch back on the two per-operation
        # exceptions schemathesis.toml makes (and says why).
        args = [str(ST), "--config-file", str(CONFIG), "run", str(DOC), "--url", srv.url,
                "-n", str(EXAMPLES), "--seed", "20261207", "--generation-deterministic",
                "--request-timeout", "10", "--workers", "1", "--phases", PHASES[mode]]
        if header:
            args += ["-H", header]
        cwd = tmp_path_factory.mktemp(f"st-{mode}")
        out = open(cwd / "st.log", "w+")
        procs[mode] = (subprocess.Popen(args, cwd=cwd, stdout=out, stderr=subprocess.STDOUT,
                                        env={**os.environ, "NO_COLOR": "1"}), out)
    results = {}
    for mode, (proc, out) in procs.items():
        try:
            code = proc.wait(timeout=RUN_TIMEOUT)
        except subprocess.TimeoutExpired:
            proc.kill()
            code = "timeout"
        out.seek(0)
        results[mode] = (code, out.read())
        out.close()
    return results


@pytest.mark.parametrize("mode", list(MODES))
def test_schemathesis_finds_nothing(schemathesis_runs, mode):
    code, output = schemathesis_runs[mode]
    assert code == 0, f"schemathesis against AUTH_MODE={mode} (exit {code}):\n{output[-12000:]}"
    # Every operation of the document was exercised.
    doc = json.loads(DOC.read_text())
    operations = sum(len(item) for item in doc["paths"].values())
    assert f"Tested: {operations}" in output, output[-3000:]
