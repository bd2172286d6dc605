"""Every shell block in README.md runs as pasted, against a real `local`.

The blocks (```sh, ```bash, ```console) are taken in order. Three kinds:

- A block right after `<!-- not run: why -->` is not run (it deploys, installs
  globally, runs the whole suite...); it is counted and listed in the report.
- A block whose only command is `[VAR=value ...] cargo run --release --features
  local -- local [options]` *starts* local mode: the test starts the binary
  under test with exactly that environment and those options (on free ports,
  in a scratch folder holding README.md and profiles.example.toml, data in
  ./local-data as the default), and the blocks after it run against that
  server, until the next such block.
- Every other block runs with bash (`set -e`, `pipefail`) in that folder, with
  what the banner prints substituted: `127.0.0.1:9000` and `:9100` become the
  server's ports, `./target/release/oss-direct-upload` the binary under test.
  A non-zero exit fails the test.

```console blocks run their `$ ` lines. The report (printed with -s, and in
the assertion message on failure) says how many blocks ran, started a server,
or were marked not run, and why.
"""
import os
import re
import shlex
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from conftest import BIN, REPO, VENV_BIN

README = REPO / "README.md"
SHELLS = ("sh", "bash", "console", "shell")
NOT_RUN = re.compile(r"<!--\s*not run:\s*(.+?)\s*-->")
RUN_LOCAL = re.compile(r"^((?:[A-Z_][A-Z0-9_]*=\S*\s+)*)cargo run --release --features local -- local(.*)$")


def blocks(text):
    """(line, lang, body, not_run_reason) for every fenced block."""
    out = []
    lines = text.split("\n")
    i = 0
    pending_reason = None
    while i < len(lines):
        line = lines[i]
        m = NOT_RUN.search(line)
        if m:
            pending_reason = m.group(1)
            i += 1
            continue
        fence = re.match(r"^(\s*)```(\w*)\s*$", line)
        if fence:
            indent, lang = fence.group(1), fence.group(2)
            body = []
            i += 1
            while i < len(lines) and not re.match(r"^\s*```\s*$", lines[i]):
                body.append(lines[i][len(indent):] if lines[i].startswith(indent) else lines[i])
                i += 1
            out.append((i + 1 - len(body), lang, "\n".join(body), pending_reason))
            pending_reason = None
        elif line.strip():
            pending_reason = None if not line.lstrip().startswith("<!--") else pending_reason
        i += 1
    return out


def commands_of(lang, body):
    if lang == "console":
        return "\n".join(l[2:] for l in body.split("\n") if l.startswith("$ "))
    return body


def start_spec(body):
    """(env, args) if the block only starts local mode, else None."""
    lines = [l for l in body.split("\n") if l.strip() and not l.strip().startswith("#")]
    if len(lines) != 1:
        return None
    m = RUN_LOCAL.match(lines[0].split("  #")[0].strip())
    if not m:
        return None
    env = dict(kv.split("=", 1) for kv in m.group(1).split())
    return env, shlex.split(m.group(2))


def test_the_parser_sees_what_a_reader_sees():
    text = ("x\n<!-- not run: deploys -->\n```sh\ns deploy\n```\n\n```bash\necho hi\n```\n"
            "```console\n$ echo a\nsome output\n```\n```js\nnot shell\n```\n")
    got = [(lang, body, why) for _, lang, body, why in blocks(text)]
    assert got[0] == ("sh", "s deploy", "deploys")
    assert got[1] == ("bash", "echo hi", None)
    assert commands_of("console", got[2][1]) == "echo a"
    assert got[3][0] == "js"
    assert start_spec("AUTH_MODE=jwt cargo run --release --features local -- local --profiles p.toml") == (
        {"AUTH_MODE": "jwt"}, ["--profiles", "p.toml"])
    assert start_spec("cargo run --release --features local -- local\necho more") is None


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    d = tmp_path_factory.mktemp("readme")
    for f in ("README.md", "profiles.example.toml"):
        shutil.copy(REPO / f, d / f)
    return d


def test_every_readme_shell_block_runs_as_pasted(start_server, workdir):
    text = README.read_text()
    found = [b for b in blocks(text) if b[1] in SHELLS]
    assert found, "README has no shell blocks?"
    report = {"ran": [], "started": [], "not run": []}
    failures = []
    srv = None
    env = dict(os.environ, PATH=f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}")
    for n, (line, lang, body, why) in enumerate(found):
        if why:
            report["not run"].append(f"README.md:{line}: {why}")
            continue
        spec = start_spec(body)
        if spec:
            if srv:
                srv.stop()
            senv, args = spec
            # Each server gets its own scratch folder (with README.md and the
            # example profiles) and keeps its data in ./local-data, the default.
            d = workdir / f"server-{n}"
            d.mkdir()
            for f in ("README.md", "profiles.example.toml"):
                shutil.copy(workdir / f, d / f)
            # Paths in the command are relative to that folder.
            args = [str(d / a) if (d / a).is_file() else a for a in args]
            senv = {k: str(d / v) if (d / v).is_file() else v for k, v in senv.items()}
            srv = start_server(f"readme-{n}", bucket="local-bucket", trigger=True,
                               extra_args=("--data", str(d / "local-data"), *args), **senv)
            srv.readme_dir = d
            report["started"].append(f"README.md:{line}: local {' '.join(args)} {senv or ''}".rstrip())
            continue
        assert srv, f"README.md:{line}: a shell block runs before any block starts local mode"
        script = commands_of(lang, body)
        script = (script.replace("127.0.0.1:9000", f"127.0.0.1:{srv.port}")
                  .replace("127.0.0.1:9100", f"127.0.0.1:{srv.emu_port}")
                  .replace("localhost:9000", f"localhost:{srv.port}")
                  .replace("./target/release/oss-direct-upload", BIN)
                  .replace("--data local-data", f"--data {srv.readme_dir / 'local-data'}"))
        p = subprocess.run(["bash", "-c", "set -eo pipefail\n" + script], cwd=srv.readme_dir, env=env,
                           capture_output=True, text=True, timeout=120)
        if p.returncode != 0:
            failures.append(f"README.md:{line} exited {p.returncode}:\n{body}\n--- stdout\n{p.stdout[-2000:]}"
                            f"\n--- stderr\n{p.stderr[-2000:]}")
        report["ran"].append(f"README.md:{line}")
    if srv:
        srv.stop()
    summary = (f"README shell blocks: {len(report['ran'])} ran, {len(report['started'])} started local, "
               f"{len(report['not run'])} marked not run\n  started: " + "\n  started: ".join(report["started"])
               + "\n  not run: " + "\n  not run: ".join(report["not run"]))
    print(summary)
    assert not failures, "\n\n".join(failures) + "\n\n" + summary
    assert report["started"] and report["ran"], summary
    # The quick start's run command is among them, and nothing is skipped silently.
    assert len(report["ran"]) + len(report["started"]) + len(report["not run"]) == len(found)
