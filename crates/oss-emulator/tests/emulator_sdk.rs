//! End-to-end proof that the local emulator accepts what the official SDKs send
//! and refuses the same requests with one byte of the signature or key changed.
//!
//! The emulator runs in-process on 127.0.0.1:0; `tests/peers/emulator_client.py`
//! drives it with `oss2` (V1 and V4) and `alibabacloud_oss_v2` (V4 and V1). A
//! missing venv fails the test with a hint to run `scripts/setup-peers.sh`.

#[path = "../../../tests/common/peers.rs"]
mod peers;

use std::io::Write;
use std::process::{Command, Stdio};

use alibaba_sign::Credentials;
use oss_emulator::{Emulator, EmulatorConfig};

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
    assert_report(&report);
}

/// The same checks against the disk store `local` uses by default, where
/// bodies and parts stream to files and GetObject / CopyObject read them back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn official_sdks_are_accepted_by_the_disk_store() {
    let dir = std::env::temp_dir().join(format!("emu-sdk-disk-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let emu = Emulator::start(EmulatorConfig {
        data_dir: Some(dir.clone()),
        ..config()
    })
    .await
    .expect("start emulator");
    let report = run_client(&emu).await;
    emu.shutdown().await;
    // Refused and aborted uploads leave no file behind.
    let objects = std::fs::read_dir(dir.join("objects"))
        .expect("objects")
        .count();
    let blobs = std::fs::read_dir(dir.join("blobs")).expect("blobs").count();
    let _ = std::fs::remove_dir_all(&dir);
    assert_report(&report);
    assert_eq!(objects, blobs, "every blob belongs to an object");
}

fn assert_report(report: &serde_json::Value) {
    let passed = report["passed"].as_array().cloned().unwrap_or_default();
    let failed = report["failed"].as_array().cloned().unwrap_or_default();
    for p in &passed {
        eprintln!("ok: {}", p.as_str().unwrap_or_default());
    }
    for f in &failed {
        eprintln!(
            "FAILED: {}\n{}",
            f["name"],
            f["error"].as_str().unwrap_or_default()
        );
    }
    assert!(
        failed.is_empty(),
        "{} SDK checks failed (see above)",
        failed.len()
    );
    assert!(passed.len() >= 52, "too few checks ran: {}", passed.len());
}

// ------------------------------------------------------------------ POST policy

use alibaba_sign::post_policy::{self, Condition};
use chrono::{Duration, Utc};

/// A multipart/form-data body: `fields` in order, then `file` last.
fn multipart(fields: &[(String, String)], file: &[u8], file_type: &str) -> (String, Vec<u8>) {
    let boundary = "----emulatorTestBoundary7MA4YWxkTrZu0gW";
    let mut body = Vec::new();
    for (k, v) in fields {
        body.extend_from_slice(
            format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{k}\"\r\n\r\n{v}\r\n")
                .as_bytes(),
        );
    }
    body.extend_from_slice(
        format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"photo.png\"\r\nContent-Type: {file_type}\r\n\r\n"
        )
        .as_bytes(),
    );
    body.extend_from_slice(file);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

async fn post(emu: &Emulator, fields: &[(String, String)], file: &[u8]) -> (u16, String) {
    let (ct, body) = multipart(fields, file, "image/png");
    let r = reqwest::Client::new()
        .post(format!("{}/uploads", emu.oss_endpoint()))
        .header("content-type", ct)
        .body(body)
        .send()
        .await
        .expect("post");
    let status = r.status().as_u16();
    (status, r.text().await.unwrap_or_default())
}

fn conditions() -> Vec<Condition> {
    vec![
        Condition::StartsWith("key".into(), "users/alice/".into()),
        Condition::ContentLengthRange(1, 1024),
        Condition::In(
            "content-type".into(),
            vec!["image/png".into(), "image/jpeg".into()],
        ),
        Condition::Eq("success_action_status".into(), "201".into()),
    ]
}

fn extra(ct: &str) -> Vec<(String, String)> {
    vec![
        ("Content-Type".into(), ct.into()),
        ("success_action_status".into(), "201".into()),
    ]
}

#[tokio::test]
async fn post_policy_v1_and_v4_are_enforced() {
    let emu = Emulator::start(config()).await.expect("start");
    let creds = Credentials::new(AK, SK, None);
    let exp = Utc::now() + Duration::minutes(10);
    let forms = [
        post_policy::post_form_v1(
            &creds,
            "uploads",
            "users/alice/a.png",
            conditions(),
            exp,
            &extra("image/png"),
        ),
        post_policy::post_form_v4(
            &creds,
            "cn-hangzhou",
            "uploads",
            "users/alice/a.png",
            conditions(),
            Utc::now(),
            exp,
            &extra("image/png"),
        ),
    ];
    for form in &forms {
        let (st, body) = post(&emu, &form.fields, b"png bytes").await;
        assert_eq!(st, 201, "{body}");
        assert!(
            body.contains("<PostResponse>") && body.contains("<Key>users/alice/a.png</Key>"),
            "{body}"
        );

        // Too big for content-length-range.
        let (st, body) = post(&emu, &form.fields, &[0u8; 2000]).await;
        assert_eq!(st, 400, "{body}");
        assert!(body.contains("<Code>EntityTooLarge</Code>"), "{body}");

        // A content type outside the `in` list.
        let mut f = form.fields.clone();
        for (k, v) in f.iter_mut() {
            if k == "Content-Type" {
                *v = "text/html".into();
            }
        }
        let (st, body) = post(&emu, &f, b"x").await;
        assert_eq!(st, 403, "{body}");
        assert!(
            body.contains("Invalid according to Policy: Policy Condition failed"),
            "{body}"
        );

        // The key changed after signing: the key guard condition fails.
        let mut f = form.fields.clone();
        f[0].1 = "users/bob/a.png".into();
        let (st, body) = post(&emu, &f, b"x").await;
        assert_eq!(st, 403, "{body}");
        assert!(body.contains("<Code>AccessDenied</Code>"), "{body}");

        // One byte of the signature changed.
        let mut f = form.fields.clone();
        for (k, v) in f.iter_mut() {
            if k == "Signature" || k == "x-oss-signature" {
                let last = v.pop().unwrap_or('0');
                v.push(if last == '0' { '1' } else { '0' });
            }
        }
        let (st, body) = post(&emu, &f, b"x").await;
        assert_eq!(st, 403, "{body}");
        assert!(
            body.contains("<Code>SignatureDoesNotMatch</Code>"),
            "{body}"
        );
    }

    // Expired policy.
    let old = post_policy::post_form_v1(
        &creds,
        "uploads",
        "users/alice/b.png",
        conditions(),
        Utc::now() - Duration::minutes(1),
        &extra("image/png"),
    );
    let (st, body) = post(&emu, &old.fields, b"x").await;
    assert_eq!(st, 403, "{body}");
    assert!(body.contains("Policy expired"), "{body}");

    // No credentials at all: the bucket is private.
    let (st, body) = post(&emu, &[("key".into(), "users/alice/c.png".into())], b"x").await;
    assert_eq!(st, 403, "{body}");
    emu.shutdown().await;
}

#[tokio::test]
async fn cors_preflight_and_expose_headers() {
    let emu = Emulator::start(config()).await.expect("start");
    let c = reqwest::Client::new();
    let url = format!("{}/uploads/some/key", emu.oss_endpoint());
    let r = c
        .request(reqwest::Method::OPTIONS, &url)
        .header("origin", "http://localhost:5173")
        .header("access-control-request-method", "PUT")
        .header("access-control-request-headers", "content-type,x-oss-date")
        .send()
        .await
        .expect("preflight");
    assert_eq!(r.status().as_u16(), 200);
    let h = r.headers();
    assert_eq!(h["access-control-allow-origin"], "http://localhost:5173");
    assert_eq!(h["access-control-allow-headers"], "content-type,x-oss-date");
    assert!(h["access-control-allow-methods"]
        .to_str()
        .unwrap_or_default()
        .contains("PUT"));
    assert!(h.contains_key("access-control-max-age"));

    let r = c
        .request(reqwest::Method::OPTIONS, &url)
        .header("origin", "http://evil.example")
        .header("access-control-request-method", "PUT")
        .send()
        .await
        .expect("preflight");
    assert_eq!(r.status().as_u16(), 403);

    // Actual (here: refused) response still carries the CORS headers a browser needs.
    let r = c
        .get(&url)
        .header("origin", "http://localhost:5173")
        .send()
        .await
        .expect("get");
    assert_eq!(r.status().as_u16(), 403);
    assert_eq!(
        r.headers()["access-control-expose-headers"],
        "ETag, x-oss-request-id"
    );
    assert!(r.headers().contains_key("x-oss-request-id"));
    emu.shutdown().await;
}

#[tokio::test]
async fn objects_survive_restart_with_data_dir() {
    let dir = std::env::temp_dir().join(format!("emu-restart-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let mut cfg = config();
    cfg.data_dir = Some(dir.clone());
    let creds = Credentials::new(AK, SK, None);
    let exp = Utc::now() + Duration::minutes(10);
    // (No `..` segment: the HTTP client would normalise it away before sending.)
    let key = "users/alice/ünï code/x?#.png";
    let conds = vec![Condition::ContentLengthRange(0, 1024)];
    let form = post_policy::post_form_v1(&creds, "uploads", key, conds, exp, &[]);
    let emu = Emulator::start(cfg.clone()).await.expect("start");
    let (st, body) = post(&emu, &form.fields, b"persist me").await;
    assert_eq!(st, 204, "{body}");
    emu.shutdown().await;

    let emu = Emulator::start(cfg).await.expect("restart");
    let path = format!("/uploads/{}", alibaba_sign::encode::uri_encode(key, true));
    let date = Utc::now().format("%a, %d %b %Y %H:%M:%S GMT").to_string();
    let auth = alibaba_sign::oss_v1::authorization_header(
        &creds,
        "GET",
        "uploads",
        key,
        &[],
        &[("date".into(), date.clone())],
        &date,
    );
    let r = reqwest::Client::new()
        .get(format!("{}{path}", emu.oss_endpoint()))
        .header("date", date)
        .header("authorization", auth)
        .send()
        .await
        .expect("get");
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(r.bytes().await.expect("body").as_ref(), b"persist me");
    emu.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}

/// Malformed or hostile requests get OSS XML errors, never a panic or a hang.
#[tokio::test]
async fn malformed_requests_get_xml_errors() {
    let mut cfg = config();
    cfg.max_object_bytes = 1024;
    let emu = Emulator::start(cfg).await.expect("start");
    let base = emu.oss_endpoint();
    let c = reqwest::Client::new();
    let cases: Vec<(reqwest::RequestBuilder, u16, &str)> = vec![
        (
            c.get(format!("{base}/uploads/k"))
                .header("authorization", "OSS4-HMAC-SHA256 garbage"),
            400,
            "InvalidArgument",
        ),
        (
            c.get(format!("{base}/uploads/k"))
                .header("authorization", "OSS nocolon"),
            400,
            "InvalidArgument",
        ),
        (
            c.get(format!("{base}/uploads/k"))
                .header("authorization", "OSS ak:sig"),
            403,
            "AccessDenied",
        ),
        (
            c.get(format!(
                "{base}/uploads/k?x-oss-signature-version=OSS4-HMAC-SHA256&x-oss-credential=a/b/c"
            )),
            400,
            "InvalidArgument",
        ),
        (
            c.get(format!(
                "{base}/uploads/k?OSSAccessKeyId=x&Expires=1&Signature=y"
            )),
            403,
            "AccessDenied",
        ),
        (
            c.get(format!("{base}/uploads/k?a=%FF")),
            400,
            "InvalidArgument",
        ),
        (c.get(format!("{base}/nosuchbucket/k")), 404, "NoSuchBucket"),
        (
            c.post(format!("{base}/uploads"))
                .header("content-type", "multipart/form-data; boundary=x")
                .body("junk"),
            400,
            "InvalidArgument",
        ),
        (
            c.post(format!("{base}/uploads"))
                .header("content-type", "multipart/form-data")
                .body("junk"),
            400,
            "InvalidArgument",
        ),
        (
            c.put(format!("{base}/uploads/big"))
                .body(vec![0u8; 4 << 20]),
            400,
            "EntityTooLarge",
        ),
    ];
    for (req, status, code) in cases {
        let r = req.send().await.expect("send");
        let st = r.status().as_u16();
        assert!(r.headers().contains_key("x-oss-request-id"));
        let body = r.text().await.unwrap_or_default();
        assert_eq!(st, status, "{body}");
        assert!(body.contains(&format!("<Code>{code}</Code>")), "{body}");
    }
    // Signed, but with a broken CompleteMultipartUpload body and an oversized object.
    let creds = Credentials::new(AK, SK, None);
    let date = Utc::now().format("%a, %d %b %Y %H:%M:%S GMT").to_string();
    let q = vec![("uploadId".to_string(), "nope".to_string())];
    let auth = alibaba_sign::oss_v1::authorization_header(
        &creds,
        "POST",
        "uploads",
        "k",
        &q,
        &[("date".into(), date.clone())],
        &date,
    );
    let r = c
        .post(format!("{base}/uploads/k?uploadId=nope"))
        .header("date", &date)
        .header("authorization", auth)
        .body("<not-xml")
        .send()
        .await
        .expect("send");
    assert_eq!(r.status().as_u16(), 400);
    assert!(r
        .text()
        .await
        .unwrap_or_default()
        .contains("<Code>MalformedXML</Code>"));
    let auth = alibaba_sign::oss_v1::authorization_header(
        &creds,
        "PUT",
        "uploads",
        "k",
        &[],
        &[("date".into(), date.clone())],
        &date,
    );
    let r = c
        .put(format!("{base}/uploads/k"))
        .header("date", &date)
        .header("authorization", auth)
        .body(vec![1u8; 2048])
        .send()
        .await
        .expect("send");
    assert_eq!(r.status().as_u16(), 400);
    assert!(r
        .text()
        .await
        .unwrap_or_default()
        .contains("EntityTooLarge"));
    emu.shutdown().await;
}

/// A V1-signed GET or HEAD of `key` in `uploads`.
async fn signed_read(emu: &Emulator, method: &str, key: &str) -> reqwest::Response {
    let creds = Credentials::new(AK, SK, None);
    let date = Utc::now().format("%a, %d %b %Y %H:%M:%S GMT").to_string();
    let auth = alibaba_sign::oss_v1::authorization_header(
        &creds,
        method,
        "uploads",
        key,
        &[],
        &[("date".into(), date.clone())],
        &date,
    );
    let url = format!(
        "{}/uploads/{}",
        emu.oss_endpoint(),
        alibaba_sign::encode::uri_encode(key, true)
    );
    let m = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
    reqwest::Client::new()
        .request(m, url)
        .header("date", date)
        .header("authorization", auth)
        .send()
        .await
        .expect("read")
}

/// A form field `x-oss-meta-*` whose name cannot be a header is refused with
/// 400 InvalidArgument and stores nothing (it used to be stored and then make
/// every GET/HEAD of the object an empty 500); a valid one round-trips.
#[tokio::test]
async fn post_meta_field_names_are_validated() {
    let emu = Emulator::start(config()).await.expect("start");
    let creds = Credentials::new(AK, SK, None);
    let exp = Utc::now() + Duration::minutes(10);
    let conds = || vec![Condition::ContentLengthRange(0, 1024)];

    let key = "users/alice/badmeta.png";
    let form = post_policy::post_form_v1(
        &creds,
        "uploads",
        key,
        conds(),
        exp,
        &[("x-oss-meta-a b".into(), "1".into())],
    );
    let (st, body) = post(&emu, &form.fields, b"bad meta").await;
    assert_eq!(st, 400, "{body}");
    assert!(body.contains("<Code>InvalidArgument</Code>"), "{body}");
    assert!(body.contains("<RequestId>"), "{body}");
    for method in ["GET", "HEAD"] {
        let r = signed_read(&emu, method, key).await;
        assert_eq!(r.status().as_u16(), 404, "{method}: nothing may be stored");
    }

    let key = "users/alice/goodmeta.png";
    let form = post_policy::post_form_v1(
        &creds,
        "uploads",
        key,
        conds(),
        exp,
        &[("x-oss-meta-Color".into(), "blue".into())],
    );
    let (st, body) = post(&emu, &form.fields, b"good meta").await;
    assert_eq!(st, 204, "{body}");
    for method in ["GET", "HEAD"] {
        let r = signed_read(&emu, method, key).await;
        assert_eq!(r.status().as_u16(), 200, "{method}");
        assert_eq!(
            r.headers()
                .get("x-oss-meta-color")
                .and_then(|v| v.to_str().ok()),
            Some("blue"),
            "{method}"
        );
        if method == "GET" {
            assert_eq!(r.bytes().await.expect("body").as_ref(), b"good meta");
        }
    }
    emu.shutdown().await;
}
