"""`oss-direct-upload local` as a user runs it: Ctrl-C stops the function and the
emulator cleanly, and objects in the --data folder are there after a restart,
readable by the official SDK with the account key."""
import signal
import subprocess
import time

import oss2
import requests

from conftest import BIN, HTTP_TIMEOUT, base_env, free_port


def start(tmp_path, data, ak, sk):
    port, emu = free_port(), free_port()
    proc = subprocess.Popen(
        [BIN, "local", "--port", str(port), "--emulator-port", str(emu), "--data", str(data),
         "--access-key-id", ak, "--access-key-secret", sk],
        cwd=tmp_path, env=base_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            if requests.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return proc, port, emu
        except requests.ConnectionError:
            time.sleep(0.05)
    proc.kill()
    raise AssertionError(proc.stdout.read().decode(errors="replace"))


def interrupt(proc):
    proc.send_signal(signal.SIGINT)  # what Ctrl-C sends
    try:
        out, _ = proc.communicate(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise AssertionError("local mode did not stop on Ctrl-C within 10 s")
    return proc.returncode, out.decode(errors="replace")


def test_ctrl_c_stops_both_and_data_survives_a_restart(tmp_path):
    data = tmp_path / "data"
    ak, sk = "LTAIlifecycle0001", "lifecycle-secret-0123456789"
    proc, port, emu = start(tmp_path, data, ak, sk)
    creds = requests.get(f"http://127.0.0.1:{port}/v1/sts", timeout=HTTP_TIMEOUT).json()
    key = creds["Prefix"] + "survivor/hello.txt"
    bucket = oss2.Bucket(oss2.StsAuth(creds["AccessKeyId"], creds["AccessKeySecret"], creds["SecurityToken"]),
                         creds["Endpoint"], creds["Bucket"])
    bucket.put_object(key, b"still here after a restart")

    code, out = interrupt(proc)
    assert code == 0, out
    assert "stopped" in out, out
    for p in (port, emu):
        try:
            requests.get(f"http://127.0.0.1:{p}/healthz", timeout=1)
            raise AssertionError(f"port {p} still answers after Ctrl-C")
        except requests.ConnectionError:
            pass

    proc, port, emu = start(tmp_path, data, ak, sk)
    try:
        admin = oss2.Bucket(oss2.Auth(ak, sk), f"http://127.0.0.1:{emu}", creds["Bucket"])
        assert admin.get_object(key).read() == b"still here after a restart"
    finally:
        code, out = interrupt(proc)
    assert code == 0, out
