"""The banner's ready-to-paste commands work when pasted.

The `URL=`, `curl` and `python3` lines are run exactly as printed, with bash, in a
folder holding a README.md, with the venv first on PATH (so `python3` has oss2).
Then, as the operator, we list the bucket with the account key.
"""
import os
import subprocess

import pytest

from conftest import VENV_BIN


@pytest.mark.parametrize("version", ["v4", "v1"])
def test_banner_commands_upload_three_objects(start_server, version, tmp_path):
    srv = start_server(f"banner-{version}", SIGNATURE_VERSION=version)
    commands = srv.banner_commands()
    assert len(commands) == 4, commands  # three uploads and the operator's listing
    assert [c.split(None, 1)[0].split("=")[0] for c in commands] == ["URL", "curl", "python3", "python3"]

    readme = b"# hello from the banner test\n" + os.urandom(64).hex().encode() + b"\n"
    (tmp_path / "README.md").write_bytes(readme)
    env = dict(os.environ, PATH=f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}")
    outputs = []
    for cmd in commands:
        p = subprocess.run(["bash", "-c", cmd], cwd=tmp_path, env=env, capture_output=True, text=True,
                           timeout=30)
        assert p.returncode == 0, f"{cmd}\nstdout={p.stdout}\nstderr={p.stderr}"
        outputs.append(p.stdout)
    assert "uploaded via presigned URL" in outputs[0]
    assert "uploaded via POST policy: uploads/" in outputs[1]
    assert "uploaded via STS: uploads/sts/hello-sts.txt" in outputs[2]

    keys = srv.keys()
    assert len(keys) == 3, keys
    names = sorted(k.rsplit("/", 1)[1] for k in keys)
    assert names == ["hello-form.txt", "hello-presigned.txt", "hello-sts.txt"], keys
    assert all(k.startswith("uploads/") for k in keys), keys
    for k in keys:
        assert srv.read(k)[0] == readme, k
        assert k in outputs[3], (k, outputs[3])  # the printed listing command shows them too
