//! End-to-end proof that the local emulator accepts what the official SDKs send
//! and refuses the same requests with one byte of the signature or key changed.
//!
//! The emulator runs in-process on 127.0.0.1:0; `tests/peers/emulator_client.py`
//! drives it with `oss2` (V1 and V4) and `alibabacloud_oss_v2` (V4 and V1). A
//! missing venv fails the test with a hint to run `scripts/setup-peers.sh`.
#![cfg(feature = "local")]

#[path = "common/peers.rs"]
mod peers;

use std::io::Write;
use std::process::{Command, Stdio};

use oss_direct_upload::credentials::Credentials;
use oss_direct_upload::local::{Emulator, EmulatorConfig};

const AK: &str = "LTAI5tEmulatorTestKey01";
const SK: &str = "EmulatorTestSecret0123456789abcdefABCD";

fn config() -> EmulatorConfig {
    EmulatorConfig {
        bind: "127.0.0.1:0".parse().expect("addr"),
        data_dir: None,
        buckets: vec!["uploads".to_string()],
        account: Credentials::new(AK, SK, None),
        account_id: "1234567890123456".to_string(),
        allowed_origins: vec!["http://localhost:5173".to_string()],
        max_object_bytes: 5 * 1024 * 1024,
    }
}

/// Runs the Python driver against `emu` in a blocking thread (the emulator keeps
/// serving on the runtime meanwhile) and returns its parsed report.
async fn run_client(emu: &Emulator) -> serde_json::Value {
    let input = serde_json::json!({
        "endpoint": emu.oss_endpoint(),
        "sts_endpoint": emu.sts_endpoint(),
        "bucket": "uploads",
        "ak": AK,
        "sk": SK,
        "region": "cn-hangzhou",
        "role_arn": emu.role_arn(),
    });
    let python = peers::python();
    let script = peers::repo_root().join("tests/peers/emulator_client.py");
    tokio::task::spawn_blocking(move || {
        let mut child = Command::new(&python)
            .arg(&script)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot start {}: {e}; run `scripts/setup-peers.sh`", python.display())
            });
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(input.to_string().as_bytes())
            .expect("write stdin");
        let out = child.wait_with_output().expect("wait for python");
        let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!(
                "driver printed no report ({e}); status {}; stderr:\n{}\n(if a module is missing: run `scripts/setup-peers.sh`)",
                out.status,
                String::from_utf8_lossy(&out.stderr)
            )
        });
        report
    })
    .await
    .expect("join")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn official_sdks_are_accepted_and_tampering_is_refused() {
    let emu = Emulator::start(config()).await.expect("start emulator");
    let report = run_client(&emu).await;
    emu.shutdown().await;
    let passed = report["passed"].as_array().cloned().unwrap_or_default();
    let failed = report["failed"].as_array().cloned().unwrap_or_default();
    for p in &passed {
        eprintln!("ok: {}", p.as_str().unwrap_or_default());
    }
    for f in &failed {
        eprintln!("FAILED: {}\n{}", f["name"], f["error"].as_str().unwrap_or_default());
    }
    assert!(failed.is_empty(), "{} SDK checks failed (see above)", failed.len());
    assert!(passed.len() >= 20, "too few checks ran: {}", passed.len());
}
