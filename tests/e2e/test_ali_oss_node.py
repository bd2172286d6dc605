"""The official ali-oss SDK (Node) uploads with `refreshSTSToken` pointed at /v1/sts.

tests/peers/ali_oss_upload.js does the SDK work (a put, a multipart upload larger
than the part size, and a put outside the prefix that must be refused); we check
what landed with the account key. Both of ali-oss's signing versions.
"""
import json
import os
import shutil
import subprocess

import pytest

from conftest import REPO

SCRIPT = REPO / "tests" / "peers" / "ali_oss_upload.js"
PEERS = REPO / "tests" / "peers"


@pytest.mark.parametrize("v4", [True, False], ids=["v4", "v1"])
def test_ali_oss_refresh_sts_token_upload(servers, v4, tmp_path):
    node = shutil.which("node")
    if not node or not (PEERS / "node_modules" / "ali-oss").is_dir():
        pytest.fail("node and tests/peers/node_modules/ali-oss are needed (scripts/setup-peers.sh)")
    srv = servers["v4"]
    tag = "v4" if v4 else "v1"
    small, big = os.urandom(2048), os.urandom(300 * 1024 + 5)
    (tmp_path / "small.txt").write_bytes(small)
    (tmp_path / "big.bin").write_bytes(big)
    cfg = {
        "functionUrl": srv.url,
        "v4": v4,
        "small": {"key": f"ali-oss-{tag}/small.txt", "path": str(tmp_path / "small.txt"), "type": "text/plain"},
        "big": {"key": f"ali-oss-{tag}/big.bin", "path": str(tmp_path / "big.bin"), "partSize": 100 * 1024},
        "outsideKey": f"elsewhere/ali-oss-{tag}.txt",
    }
    p = subprocess.run([node, str(SCRIPT)], input=json.dumps(cfg), capture_output=True, text=True,
                       cwd=PEERS, timeout=60)
    assert p.returncode == 0, f"stdout={p.stdout}\nstderr={p.stderr}"
    out = json.loads(p.stdout)
    prefix = out["prefix"]
    assert prefix == "uploads/"
    assert out["put"]["status"] == 200 and out["multipart"]["status"] == 200, out
    assert out["refreshCalls"] >= 2, out  # the uploads ran on refreshed credentials
    assert out["outside"] == {"status": 403, "code": "AccessDenied"}, out

    assert srv.read(prefix + cfg["small"]["key"]) == (small, "text/plain")
    got, _ = srv.read(prefix + cfg["big"]["key"])
    assert got == big
    head = srv.admin().head_object(prefix + cfg["big"]["key"])
    assert head.object_type == "Multipart" and head.etag.endswith("-4"), (head.object_type, head.etag)
    assert not srv.exists(cfg["outsideKey"])
