//! STS client against a loopback STS that verifies signatures with the official
//! Alibaba Cloud Python SDK's own signer functions (`tests/peers/sts_server.py`).
//!
//! Needs the peer venv: run `scripts/setup-peers.sh` (or set `PEER_PYTHON`).

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use alibaba_sign::acs::{percent_encode, rpc};
use alibaba_sign::Credentials;
use chrono::{DateTime, Utc};
use oss_direct_upload::sts::cache::{CacheConfig, CredentialCache};
use oss_direct_upload::sts::client::{
    build_signed_request, AssumeRoleRequest, StsClient, StsClientConfig, StsError,
};
use oss_direct_upload::sts::policy::{
    is_valid_role_session_name, role_session_name, upload_session_policy,
};

const AK: &str = "STS.CallerKey123";
const SECRET: &str = "caller-secret-XYZ";
const TOKEN: &str = "caller-security-token-ABC";
const ROLE: &str = "acs:ram::1234567890123456:role/oss-upload";

/// Tiny local locator (kept here to avoid depending on another test helper):
/// `PEER_PYTHON`, else `<repo>/.venv/bin/python`.
fn peer_python() -> PathBuf {
    let p = std::env::var_os("PEER_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/python"));
    assert!(
        p.exists(),
        "peer python not found at {}: run scripts/setup-peers.sh (or set PEER_PYTHON)",
        p.display()
    );
    p
}

/// A running `sts_server.py`; killed (by its own pid) on drop.
struct Peer {
    child: Child,
    _stdin: ChildStdin,
    port: u16,
}

impl Peer {
    fn start(extra: &[&str]) -> Peer {
        let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/peers/sts_server.py");
        let mut child = Command::new(peer_python())
            .arg(script)
            .args(["--ak", AK, "--secret", SECRET, "--token", TOKEN])
            .args(extra)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn peer python: run scripts/setup-peers.sh");
        let stdin = child.stdin.take().expect("stdin");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut line)
            .expect("read peer port");
        let port = line.trim().parse().unwrap_or_else(|_| {
            let _ = child.kill();
            panic!(
                "sts_server.py did not print a port (got {line:?}); is the venv complete? run scripts/setup-peers.sh"
            )
        });
        Peer {
            child,
            _stdin: stdin,
            port,
        }
    }

    fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn client(&self) -> StsClient {
        StsClient::new(StsClientConfig::new(self.endpoint())).expect("client")
    }

    async fn get_json(&self, path: &str) -> serde_json::Value {
        let body = reqwest::get(format!("{}{path}", self.endpoint()))
            .await
            .expect("peer GET")
            .text()
            .await
            .expect("peer body");
        serde_json::from_str(&body).expect("peer json")
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn caller() -> Credentials {
    Credentials::new(AK, SECRET, Some(TOKEN.to_string()))
}

fn request() -> AssumeRoleRequest {
    AssumeRoleRequest {
        role_arn: ROLE.into(),
        role_session_name: role_session_name("user 42"),
        duration_seconds: 900,
        policy: Some(upload_session_policy("my-bucket", "uploads/user 42/\"q\"/").expect("policy")),
    }
}

fn expect_err(r: Result<impl std::fmt::Debug, StsError>) -> StsError {
    match r {
        Ok(v) => panic!("expected an error, got {v:?}"),
        Err(e) => e,
    }
}

#[tokio::test]
async fn signed_assume_role_is_accepted_and_policy_arrives_intact() {
    let peer = Peer::start(&[]);
    let req = request();
    let now = Utc::now();
    let got = peer
        .client()
        .assume_role(&caller(), &req, now)
        .await
        .expect("AssumeRole");

    assert!(got.credentials.access_key_id.starts_with("STS."));
    assert!(!got.credentials.access_key_secret.is_empty());
    assert!(got
        .credentials
        .security_token
        .as_deref()
        .is_some_and(|t| !t.is_empty()));
    assert!(got.request_id.is_some());
    let lifetime = (got.expiration - now).num_seconds();
    assert!((890..=960).contains(&lifetime), "lifetime {lifetime}");
    assert_eq!(got.expiration_text.len(), 20);
    assert_eq!(
        got.expiration_text,
        got.expiration.format("%Y-%m-%dT%H:%M:%SZ").to_string()
    );

    let last = peer.get_json("/__last").await;
    assert_eq!(last["style"], "ACS3-HMAC-SHA256");
    assert_eq!(last["security_token_received"], true);
    assert_eq!(last["params"]["Policy"].as_str(), req.policy.as_deref());
    assert_eq!(
        last["params"]["RoleSessionName"].as_str(),
        Some(req.role_session_name.as_str())
    );
    assert_eq!(last["params"]["RoleArn"], ROLE);
    assert_eq!(last["params"]["DurationSeconds"], "900");
    assert!(is_valid_role_session_name(&req.role_session_name));
    // The arrived policy is the JSON we meant, escapes and all.
    let pol: serde_json::Value =
        serde_json::from_str(last["params"]["Policy"].as_str().unwrap()).unwrap();
    assert_eq!(
        pol["Statement"][0]["Resource"][0],
        "acs:oss:*:*:my-bucket/uploads/user 42/\"q\"/*"
    );
}

#[tokio::test]
async fn corrupted_signature_is_rejected() {
    let peer = Peer::start(&[]);
    let mut signed = build_signed_request(
        &peer.endpoint(),
        &caller(),
        &request(),
        Utc::now(),
        "nonce-corrupt",
    )
    .unwrap();
    let auth = signed
        .headers
        .iter_mut()
        .find(|(k, _)| k == "authorization")
        .map(|(_, v)| v)
        .unwrap();
    let last = auth.pop().unwrap();
    auth.push(if last == '0' { '1' } else { '0' });
    let e = expect_err(peer.client().send(&signed).await);
    assert_eq!((e.http_status(), e.code()), (502, "StsRejected"));
    assert_eq!(e.upstream_code(), Some("SignatureDoesNotMatch"));
}

#[tokio::test]
async fn tampered_query_and_wrong_secret_are_rejected() {
    let peer = Peer::start(&[]);
    let client = peer.client();
    // Widen the policy after signing: the query is covered by the signature.
    let mut signed = build_signed_request(
        &peer.endpoint(),
        &caller(),
        &request(),
        Utc::now(),
        "nonce-tamper",
    )
    .unwrap();
    signed.url = signed.url.replace("uploads%2Fuser%2042", "uploads");
    let e = expect_err(client.send(&signed).await);
    assert_eq!(e.upstream_code(), Some("SignatureDoesNotMatch"));

    let wrong = Credentials::new(AK, "not-the-secret", Some(TOKEN.into()));
    let e = expect_err(client.assume_role(&wrong, &request(), Utc::now()).await);
    assert_eq!(e.upstream_code(), Some("SignatureDoesNotMatch"));
    let shown = format!("{e} {e:?}");
    assert!(
        !shown.contains("not-the-secret") && !shown.contains(TOKEN),
        "{shown}"
    );
}

#[tokio::test]
async fn missing_security_token_is_rejected() {
    let peer = Peer::start(&[]);
    let no_token = Credentials::new(AK, SECRET, None);
    let e = expect_err(
        peer.client()
            .assume_role(&no_token, &request(), Utc::now())
            .await,
    );
    assert_eq!((e.http_status(), e.code()), (502, "StsRejected"));
    assert_eq!(e.upstream_code(), Some("MissingSecurityToken"));
}

#[tokio::test]
async fn stale_timestamp_is_rejected() {
    let peer = Peer::start(&[]);
    let stale: DateTime<Utc> = Utc::now() - chrono::Duration::minutes(20);
    let e = expect_err(
        peer.client()
            .assume_role(&caller(), &request(), stale)
            .await,
    );
    assert_eq!(e.upstream_code(), Some("InvalidTimeStamp.Expired"));
    // Within the 15-minute window it is fine: the rejection was about time, not the signature.
    let recent = Utc::now() - chrono::Duration::minutes(5);
    peer.client()
        .assume_role(&caller(), &request(), recent)
        .await
        .expect("5 min skew accepted");
}

#[tokio::test]
async fn invalid_parameters_keep_the_upstream_code() {
    let peer = Peer::start(&[]);
    let client = peer.client();
    let mut req = request();
    req.role_arn = "arn:aws:iam::1:role/x".into();
    let e = expect_err(client.assume_role(&caller(), &req, Utc::now()).await);
    assert_eq!(
        (e.code(), e.upstream_code()),
        ("StsRejected", Some("InvalidParameter.RoleArn"))
    );

    let mut req = request();
    req.duration_seconds = 899;
    let e = expect_err(client.assume_role(&caller(), &req, Utc::now()).await);
    assert_eq!(e.upstream_code(), Some("InvalidParameter.DurationSeconds"));

    let mut req = request();
    req.role_session_name = "has space".into();
    let e = expect_err(client.assume_role(&caller(), &req, Utc::now()).await);
    assert_eq!(e.upstream_code(), Some("InvalidParameter.RoleSessionName"));

    let mut req = request();
    req.policy = Some(format!(
        "{{\"Version\":\"1\",\"Statement\":[],\"Pad\":\"{}\"}}",
        "x".repeat(2100)
    ));
    let e = expect_err(client.assume_role(&caller(), &req, Utc::now()).await);
    assert_eq!(e.upstream_code(), Some("InvalidParameter.PolicySize"));
}

#[tokio::test]
async fn no_permission_maps_to_502_sts_rejected() {
    let peer = Peer::start(&["--fail-with", "NoPermission:403"]);
    let e = expect_err(
        peer.client()
            .assume_role(&caller(), &request(), Utc::now())
            .await,
    );
    assert_eq!((e.http_status(), e.code()), (502, "StsRejected"));
    assert_eq!(e.upstream_code(), Some("NoPermission"));
    assert!(e.request_id().is_some());
}

#[tokio::test]
async fn throttling_maps_to_503_with_retry_after() {
    let peer = Peer::start(&["--throttle"]);
    let e = expect_err(
        peer.client()
            .assume_role(&caller(), &request(), Utc::now())
            .await,
    );
    assert_eq!((e.http_status(), e.code()), (503, "StsThrottled"));
    assert_eq!(e.upstream_code(), Some("Throttling.User"));
    // Peer sends x-acs-retry-after: 3000 (milliseconds, as the SDK reads it).
    assert_eq!(e.retry_after_secs(), Some(3));
}

#[tokio::test]
async fn http_503_maps_to_503() {
    let peer = Peer::start(&["--fail-with", "ServiceUnavailable:503"]);
    let e = expect_err(
        peer.client()
            .assume_role(&caller(), &request(), Utc::now())
            .await,
    );
    assert_eq!(e.http_status(), 503);
    assert!(e.retry_after_secs().is_some_and(|s| s >= 1));
}

#[tokio::test]
async fn delay_beyond_timeout_maps_to_504() {
    let peer = Peer::start(&["--delay", "3"]);
    let mut cfg = StsClientConfig::new(peer.endpoint());
    cfg.request_timeout = Duration::from_millis(500);
    let client = StsClient::new(cfg).unwrap();
    let started = Instant::now();
    let e = expect_err(client.assume_role(&caller(), &request(), Utc::now()).await);
    assert_eq!((e.http_status(), e.code()), (504, "StsTimeout"));
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "took {:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn garbage_maps_to_502_bad_response() {
    let peer = Peer::start(&["--garbage"]);
    let e = expect_err(
        peer.client()
            .assume_role(&caller(), &request(), Utc::now())
            .await,
    );
    assert_eq!((e.http_status(), e.code()), (502, "StsBadResponse"));
}

#[tokio::test]
async fn connection_refused_maps_to_502_unavailable() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    }; // listener dropped: nothing listens there now
    let client = StsClient::new(StsClientConfig::new(format!("http://127.0.0.1:{port}"))).unwrap();
    let e = expect_err(client.assume_role(&caller(), &request(), Utc::now()).await);
    assert_eq!((e.http_status(), e.code()), (502, "StsUnavailable"));
    assert!(!format!("{e} {e:?}").contains("Policy"), "{e}");
}

#[tokio::test]
async fn warm_opens_the_connection_assume_role_reuses() {
    let peer = Peer::start(&[]);
    let client = peer.client();
    client.warm().await;
    client
        .assume_role(&caller(), &request(), Utc::now())
        .await
        .expect("AssumeRole");
    client
        .assume_role(&caller(), &request(), Utc::now())
        .await
        .expect("AssumeRole 2");
    // Read stats on a separate connection (reqwest::get uses its own client).
    let stats = peer.get_json("/__stats").await;
    // 1 connection for warm + both calls, 1 for this stats request.
    assert_eq!(stats["connections"], 2, "{stats}");
    assert_eq!(stats["requests"], 4, "{stats}");
}

#[tokio::test]
async fn cache_makes_one_upstream_call_for_concurrent_requests() {
    let peer = Peer::start(&[]);
    let client = Arc::new(peer.client());
    let cache = Arc::new(CredentialCache::new(CacheConfig::default()));
    let mut tasks = Vec::new();
    for _ in 0..20 {
        let (client, cache) = (client.clone(), cache.clone());
        tasks.push(tokio::spawn(async move {
            let now = Utc::now();
            cache
                .get("my-bucket/uploads/user 42/", now, || async move {
                    client.assume_role(&caller(), &request(), now).await
                })
                .await
        }));
    }
    let mut ids = Vec::new();
    for t in tasks {
        ids.push(
            t.await
                .unwrap()
                .expect("cached AssumeRole")
                .credentials
                .access_key_id
                .clone(),
        );
    }
    ids.dedup();
    assert_eq!(ids.len(), 1);
    let stats = peer.get_json("/__stats").await;
    assert_eq!(
        stats["requests"], 2,
        "one AssumeRole + this stats call: {stats}"
    );
}

/// A throttled refresh inside the refresh margin hands out the cached
/// credentials (still valid) instead of failing; below the floor the
/// throttling error goes out.
#[tokio::test]
async fn throttled_refresh_serves_cached_credentials_until_the_floor() {
    let good = Peer::start(&[]);
    let throttling = Peer::start(&["--throttle"]);
    let (good, throttling) = (good.client(), throttling.client());
    let (caller, request) = (caller(), request());
    let cache = CredentialCache::new(CacheConfig::default());
    let key = "my-bucket/uploads/user 42/";
    let t0 = Utc::now();
    let first = cache
        .get(key, t0, || good.assume_role(&caller, &request, t0))
        .await
        .expect("AssumeRole");
    let exp = first.expiration;
    // 200 s left: inside the 300 s margin, above the 120 s floor.
    let inside = exp - chrono::Duration::seconds(200);
    let served = cache
        .get(key, inside, || {
            throttling.assume_role(&caller, &request, t0)
        })
        .await
        .expect("cached credentials while STS throttles");
    assert_eq!(
        served.credentials.access_key_id,
        first.credentials.access_key_id
    );
    // 60 s left: below the floor.
    let below = exp - chrono::Duration::seconds(60);
    let e = expect_err(
        cache
            .get(key, below, || throttling.assume_role(&caller, &request, t0))
            .await,
    );
    assert_eq!((e.http_status(), e.code()), (503, "StsThrottled"));
}

/// Our RPC V1 signer, checked on a live request by the SDK's `get_rpcsignature`
/// (Policy JSON with spaces and quotes, token as `SecurityToken` param).
#[tokio::test]
async fn rpc_v1_signed_request_is_accepted() {
    let peer = Peer::start(&[]);
    let req = request();
    let policy = req.policy.clone().unwrap();
    let ts = Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string();
    let mut params: Vec<(&str, &str)> = vec![
        ("Action", "AssumeRole"),
        ("Version", "2015-04-01"),
        ("Format", "JSON"),
        ("AccessKeyId", AK),
        ("SecurityToken", TOKEN),
        ("SignatureMethod", "HMAC-SHA1"),
        ("SignatureVersion", "1.0"),
        ("SignatureNonce", "rpc-v1-nonce-1"),
        ("Timestamp", &ts),
        ("RoleArn", ROLE),
        ("RoleSessionName", &req.role_session_name),
        ("DurationSeconds", "900"),
        ("Policy", &policy),
    ];
    let sig = rpc::signature(SECRET, &rpc::string_to_sign("POST", &params));
    params.push(("Signature", &sig));
    let query: Vec<String> = params
        .iter()
        .map(|(k, v)| format!("{}={}", percent_encode(k), percent_encode(v)))
        .collect();
    let resp = reqwest::Client::new()
        .post(format!("{}/?{}", peer.endpoint(), query.join("&")))
        .send()
        .await
        .unwrap();
    let status = resp.status();
    let body = resp.text().await.unwrap();
    assert_eq!(status, 200, "{body}");
    let last = peer.get_json("/__last").await;
    assert_eq!(last["style"], "RPC-V1");
    assert_eq!(last["params"]["Policy"].as_str(), Some(policy.as_str()));
}

/// The peer is not tailored to our client: the official Python SDK's own
/// AssumeRole (default ACS3, and `signature_algorithm="v2"` RPC V1) passes it too.
#[tokio::test]
async fn peer_accepts_the_official_python_sdk() {
    let peer = Peer::start(&[]);
    let script = r#"
import sys
from alibabacloud_sts20150401.client import Client
from alibabacloud_sts20150401 import models
from alibabacloud_tea_openapi import utils_models as m
port, ak, secret, token, role, alg = sys.argv[1:7]
cfg = m.Config(access_key_id=ak, access_key_secret=secret, security_token=token,
               endpoint="127.0.0.1:" + port, protocol="http")
if alg != "default":
    cfg.signature_algorithm = alg
r = Client(cfg).assume_role(models.AssumeRoleRequest(
    role_arn=role, role_session_name="sdk-check", duration_seconds=900,
    policy='{"Version":"1","Statement":[]}'))
assert r.body.credentials.access_key_id.startswith("STS.")
"#;
    for (alg, style) in [("default", "ACS3-HMAC-SHA256"), ("v2", "RPC-V1")] {
        let out = Command::new(peer_python())
            .args([
                "-c",
                script,
                &peer.port.to_string(),
                AK,
                SECRET,
                TOKEN,
                ROLE,
                alg,
            ])
            .output()
            .expect("run official SDK");
        assert!(
            out.status.success(),
            "official SDK ({alg}) failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let last = peer.get_json("/__last").await;
        assert_eq!(last["style"], style);
    }
}
