//! Test harness: starts real processes on loopback — the Python STS peer that
//! verifies our AssumeRole with the official SDK's signer, and our own
//! release-shaped binary — and captures everything they log.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The repository root.
pub fn repo() -> PathBuf {
    crate::peers::repo_root()
}

/// The peer Python (venv with Alibaba's official SDKs). Fails loudly if absent.
pub fn python() -> PathBuf {
    crate::peers::python()
}

/// A free loopback port (bound then released).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("bind 127.0.0.1:0")
}

fn drain(reader: impl Read + Send + 'static, sink: Arc<Mutex<String>>) {
    std::thread::spawn(move || {
        let mut r = BufReader::new(reader);
        let mut line = String::new();
        while let Ok(n) = r.read_line(&mut line) {
            if n == 0 {
                break;
            }
            if let Ok(mut s) = sink.lock() {
                s.push_str(&line);
            }
            line.clear();
        }
    });
}

/// The loopback STS peer (`tests/peers/sts_server.py`).
pub struct StsPeer {
    child: Child,
    _stdin: ChildStdin,
    pub port: u16,
    pub log: Arc<Mutex<String>>,
}

/// The function's own identity in these tests: temporary, as on FC.
pub const FC_AK: &str = "STS.fc-function-role";
pub const FC_SECRET: &str = "fc-function-secret-9f8e7d";
pub const FC_TOKEN: &str = "fc-function-token-CAIS0123";

impl StsPeer {
    pub fn start(extra: &[&str]) -> StsPeer {
        let mut child = Command::new(python())
            .arg(repo().join("tests/peers/sts_server.py"))
            .args(["--ak", FC_AK, "--secret", FC_SECRET, "--token", FC_TOKEN])
            .args(extra)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start sts_server.py");
        let stdin = child.stdin.take().expect("stdin");
        let mut out = BufReader::new(child.stdout.take().expect("stdout"));
        let mut first = String::new();
        out.read_line(&mut first).expect("sts peer port");
        let port: u16 = first
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("sts peer said {first:?}"));
        let log = Arc::new(Mutex::new(String::new()));
        drain(out, log.clone());
        drain(child.stderr.take().expect("stderr"), log.clone());
        StsPeer {
            child,
            _stdin: stdin,
            port,
            log,
        }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The last AssumeRole the peer accepted.
    pub fn last(&self) -> serde_json::Value {
        let body = reqwest::blocking::get(format!("{}/__last", self.url()))
            .and_then(|r| r.text())
            .expect("GET /__last");
        serde_json::from_str(&body).expect("__last json")
    }

    pub fn stats(&self) -> serde_json::Value {
        let body = reqwest::blocking::get(format!("{}/__stats", self.url()))
            .and_then(|r| r.text())
            .expect("GET /__stats");
        serde_json::from_str(&body).expect("__stats json")
    }
}

impl Drop for StsPeer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Our binary, started with a given environment.
pub struct Function {
    pub child: Child,
    pub port: u16,
    pub output: Arc<Mutex<String>>,
}

/// The base environment: bucket, region, role, anonymous mode, FC identity.
pub fn base_env(sts_url: &str) -> Vec<(String, String)> {
    [
        ("OSS_BUCKET", "test-bucket"),
        ("OSS_REGION", "cn-hangzhou"),
        ("OSS_ROLE_ARN", "acs:ram::1234567890123456:role/oss-upload"),
        ("AUTH_MODE", "anonymous"),
        ("ALIBABA_CLOUD_ACCESS_KEY_ID", FC_AK),
        ("ALIBABA_CLOUD_ACCESS_KEY_SECRET", FC_SECRET),
        ("ALIBABA_CLOUD_SECURITY_TOKEN", FC_TOKEN),
        ("STS_ENDPOINT", sts_url),
        ("OSS_ENDPOINT", "http://127.0.0.1:9"),
    ]
    .iter()
    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
    .collect()
}

/// The binary under test: `OSS_DIRECT_UPLOAD_BIN` (the suite points it at the
/// deployed static build for a second pass), else the one cargo built.
pub fn binary() -> PathBuf {
    std::env::var_os("OSS_DIRECT_UPLOAD_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_oss-direct-upload")))
}

impl Function {
    /// Starts the binary and waits until `/healthz` answers.
    pub fn start(env: &[(String, String)]) -> Function {
        let port = free_port();
        let mut cmd = Command::new(binary());
        cmd.env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("FC_CUSTOM_LISTEN_PORT", port.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("start oss-direct-upload");
        let output = Arc::new(Mutex::new(String::new()));
        drain(child.stdout.take().expect("stdout"), output.clone());
        drain(child.stderr.take().expect("stderr"), output.clone());
        let f = Function {
            child,
            port,
            output,
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Ok(r) = reqwest::blocking::get(format!("{}/healthz", f.url())) {
                if r.status() == 200 {
                    break;
                }
            }
            assert!(
                Instant::now() < deadline,
                "function did not come up; output:\n{}",
                f.output()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        f
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn output(&self) -> String {
        self.output.lock().map(|s| s.clone()).unwrap_or_default()
    }

    /// The output once `done(output)` holds, or as it is after 20 s. The
    /// function writes a request's log block before it answers, but this
    /// process reads the pipe on another thread, so an answer can arrive
    /// here before its lines do: wait for them, never for a fixed delay.
    pub fn output_when(&self, done: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let out = self.output();
            if done(&out) || Instant::now() > deadline {
                return out;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The output once request `id`'s `FC Invoke End` marker is in it.
    pub fn output_after(&self, id: &str) -> String {
        let end = format!("FC Invoke End RequestId: {id}");
        self.output_when(|out| out.contains(&end))
    }
}

impl Drop for Function {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs the binary with `env` and no server expected: returns (exit code, output).
pub fn run_to_exit(env: &[(String, String)]) -> (Option<i32>, String) {
    let mut cmd = Command::new(binary());
    cmd.env_clear()
        .env("FC_CUSTOM_LISTEN_PORT", free_port().to_string());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("run oss-direct-upload");
    (
        out.status.code(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

/// A blocking HTTP client with a bounded timeout.
pub fn client() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .expect("client")
}

/// GET/POST and parse: (status, headers, body text).
pub fn send(req: reqwest::blocking::RequestBuilder) -> (u16, reqwest::header::HeaderMap, String) {
    let r = req.send().expect("request");
    let status = r.status().as_u16();
    let headers = r.headers().clone();
    (status, headers, r.text().unwrap_or_default())
}

pub fn json(body: &str) -> serde_json::Value {
    serde_json::from_str(body).unwrap_or_else(|e| panic!("not JSON ({e}): {body}"))
}
