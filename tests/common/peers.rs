//! How integration tests find and run the test peers (the official Alibaba SDKs).
//!
//! - Python: `$PEER_PYTHON` if set, else `<repo>/.venv/bin/python`.
//! - Node: `$PEER_NODE` if set, else `node` on `PATH`; modules from
//!   `<repo>/tests/peers/node_modules` (passed as `NODE_PATH`).
//!
//! A missing peer is a test *failure* with a message saying to run
//! `scripts/setup-peers.sh`, never a silent skip: a cross-check that quietly does not
//! run proves nothing. Include with `#[path = "common/peers.rs"] mod peers;`.
#![allow(dead_code)]

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

/// The repository root (where the workspace's `Cargo.lock` is), also from a test of a
/// crate under `crates/`.
pub fn repo_root() -> PathBuf {
    let here = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    here.ancestors()
        .find(|d| d.join("Cargo.lock").exists())
        .map_or(here.clone(), PathBuf::from)
}

const SETUP_HINT: &str = "run `scripts/setup-peers.sh` to install the test peers";

/// The Python interpreter that has `oss2` and `alibabacloud-oss-v2` installed.
pub fn python() -> PathBuf {
    let path = match std::env::var_os("PEER_PYTHON") {
        Some(p) if !p.is_empty() => PathBuf::from(p),
        _ => repo_root().join(".venv/bin/python"),
    };
    assert!(
        path.exists(),
        "peer Python not found at {}: {SETUP_HINT} (or set PEER_PYTHON)",
        path.display()
    );
    path
}

/// The peers' `node_modules` directory; fails if `ali-oss` is not installed there.
pub fn node_modules() -> PathBuf {
    let dir = repo_root().join("tests/peers/node_modules");
    assert!(
        dir.join("ali-oss").exists(),
        "ali-oss not found in {}: {SETUP_HINT}",
        dir.display()
    );
    dir
}

/// The `node` binary: `$PEER_NODE` or `node` from `PATH`.
pub fn node() -> PathBuf {
    match std::env::var_os("PEER_NODE") {
        Some(p) if !p.is_empty() => PathBuf::from(p),
        _ => PathBuf::from("node"),
    }
}

/// Runs `program args...` with `input` as JSON on stdin and parses its stdout as JSON.
/// Panics with the peer's stderr on any failure.
fn run_json(mut cmd: Command, input: &serde_json::Value) -> serde_json::Value {
    let shown = format!("{cmd:?}");
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start peer {shown}: {e}; {SETUP_HINT}"));
    let body = serde_json::to_vec(input).expect("serialise peer input");
    child
        .stdin
        .take()
        .expect("peer stdin")
        .write_all(&body)
        .expect("write peer stdin");
    let out = child.wait_with_output().expect("wait for peer");
    assert!(
        out.status.success(),
        "peer {shown} failed ({}): {}\n(if a module is missing: {SETUP_HINT})",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "peer {shown} wrote invalid JSON ({e}): {}",
            String::from_utf8_lossy(&out.stdout)
        )
    })
}

/// Runs `tests/peers/<script>` under the peer Python.
pub fn run_python(script: &str, input: &serde_json::Value) -> serde_json::Value {
    let mut cmd = Command::new(python());
    cmd.arg(repo_root().join("tests/peers").join(script));
    run_json(cmd, input)
}

/// Runs `tests/peers/<script>` under Node with the peers' modules.
pub fn run_node(script: &str, input: &serde_json::Value) -> serde_json::Value {
    let modules = node_modules();
    let mut cmd = Command::new(node());
    cmd.arg(repo_root().join("tests/peers").join(script))
        .env("NODE_PATH", modules);
    run_json(cmd, input)
}
