//! A short fuzz run of the emulator's two request-body parsers, through its
//! real HTTP front: the PostObject multipart form and the
//! CompleteMultipartUpload XML. Inputs are valid, correctly signed requests
//! that proptest then mutates (bytes flipped, inserted, deleted, cut off), plus
//! plain garbage. What must hold: the emulator answers every one with a 2xx or
//! a 4xx OSS XML error, never a 5xx, never a dropped connection, and keeps
//! serving afterwards.
//!
//! CI runs a few hundred cases per parser (a few seconds). For a longer run:
//! `PROPTEST_CASES=20000 cargo test --release --test emulator_fuzz`.

use alibaba_sign::post_policy::{self, Condition};
use alibaba_sign::Credentials;
use bytes::Bytes;
use chrono::Utc;
use oss_direct_upload::oss::client::{signed_request, OssRequest};
use oss_direct_upload::oss::endpoint::Endpoint;
use oss_emulator::{Emulator, EmulatorConfig};
use proptest::prelude::*;
use proptest::sample::Index;
use proptest::test_runner::{Config, TestRunner};

const BUCKET: &str = "fuzz-bucket";
const REGION: &str = "cn-hangzhou";
const BOUNDARY: &str = "fuzzboundary7MA4YWxkTrZu0gW";

fn account() -> Credentials {
    Credentials::new("LTAIfuzz00000001", "fuzz-secret-0123456789abcdef", None)
}

/// How a valid body is damaged.
#[derive(Debug, Clone)]
enum Mutation {
    Flip(Index, u8),
    Insert(Index, Vec<u8>),
    Delete(Index, usize),
    Truncate(Index),
    Duplicate(Index, Index),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let interesting = prop_oneof![
        proptest::collection::vec(any::<u8>(), 1..8),
        Just(b"\r\n".to_vec()),
        Just(format!("--{BOUNDARY}\r\n").into_bytes()),
        Just(format!("\r\n--{BOUNDARY}--\r\n").into_bytes()),
        Just(b"Content-Disposition: form-data; name=\"key\"\r\n\r\n".to_vec()),
        Just(b"<Part><PartNumber>".to_vec()),
        Just(b"</Part>".to_vec()),
        Just(b"<![CDATA[".to_vec()),
        Just(b"&amp;&#0;&#xD800;&unknown;".to_vec()),
        Just(b"<!DOCTYPE x [<!ENTITY a \"aaaa\">]>".to_vec()),
        Just(b"99999999999999999999".to_vec()),
        Just(vec![0xff, 0xfe, 0x00]),
    ];
    prop_oneof![
        (any::<Index>(), any::<u8>()).prop_map(|(i, b)| Mutation::Flip(i, b)),
        (any::<Index>(), interesting).prop_map(|(i, b)| Mutation::Insert(i, b)),
        (any::<Index>(), 1usize..64).prop_map(|(i, n)| Mutation::Delete(i, n)),
        any::<Index>().prop_map(Mutation::Truncate),
        (any::<Index>(), any::<Index>()).prop_map(|(a, b)| Mutation::Duplicate(a, b)),
    ]
}

fn apply(mut body: Vec<u8>, mutations: &[Mutation]) -> Vec<u8> {
    for m in mutations {
        let len = body.len().max(1);
        match m {
            Mutation::Flip(i, b) => {
                if !body.is_empty() {
                    let at = i.index(len);
                    body[at] ^= b | 1;
                }
            }
            Mutation::Insert(i, bytes) => {
                let at = i.index(len + 1).min(body.len());
                body.splice(at..at, bytes.iter().copied());
            }
            Mutation::Delete(i, n) => {
                let at = i.index(len).min(body.len());
                let end = (at + n).min(body.len());
                body.drain(at..end);
            }
            Mutation::Truncate(i) => body.truncate(i.index(len)),
            Mutation::Duplicate(a, b) => {
                if !body.is_empty() {
                    let (x, y) = (a.index(len), b.index(len));
                    let (from, to) = (x.min(y), x.max(y));
                    let chunk = body[from..to.min(from + 256)].to_vec();
                    body.splice(to..to, chunk);
                }
            }
        }
    }
    body
}

/// The fuzz input: a valid body (or garbage) and the damage done to it.
fn input() -> impl Strategy<Value = (bool, Vec<Mutation>, Vec<u8>)> {
    (
        prop::bool::weighted(0.9),
        proptest::collection::vec(mutation(), 0..6),
        proptest::collection::vec(any::<u8>(), 0..512),
    )
}

struct Harness {
    rt: tokio::runtime::Runtime,
    emulator: Option<Emulator>,
    endpoint: Endpoint,
    http: reqwest::Client,
}

impl Harness {
    fn start() -> Harness {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let emulator = rt
            .block_on(Emulator::start(EmulatorConfig {
                bind: "127.0.0.1:0".parse().unwrap(),
                data_dir: None,
                buckets: vec![BUCKET.into()],
                account: account(),
                account_id: "1234567890123456".into(),
                allowed_origins: vec![],
                max_object_bytes: 1 << 20,
            }))
            .unwrap();
        let endpoint = Endpoint::parse(&emulator.oss_endpoint()).unwrap();
        Harness {
            rt,
            emulator: Some(emulator),
            endpoint,
            http: reqwest::Client::builder()
                .timeout(std::time::Duration::from_secs(20))
                .build()
                .unwrap(),
        }
    }

    /// Sends and returns (status, body); a dropped connection is a failure.
    fn send(
        &self,
        method: reqwest::Method,
        url: &str,
        headers: &[(String, String)],
        body: Vec<u8>,
    ) -> (u16, String) {
        let (status, _, text) = self.send_full(method, url, headers, body);
        (status, text)
    }

    fn send_full(
        &self,
        method: reqwest::Method,
        url: &str,
        headers: &[(String, String)],
        body: Vec<u8>,
    ) -> (u16, reqwest::header::HeaderMap, String) {
        self.rt.block_on(async {
            let mut b = self.http.request(method, url);
            for (k, v) in headers {
                b = b.header(k.as_str(), v.as_str());
            }
            let r = b
                .body(body)
                .send()
                .await
                .unwrap_or_else(|e| panic!("no answer from the emulator: {e}"));
            let status = r.status().as_u16();
            let headers = r.headers().clone();
            (status, headers, r.text().await.unwrap_or_default())
        })
    }

    fn signed(&self, req: &OssRequest) -> (String, Vec<(String, String)>) {
        let s = signed_request(&account(), REGION, &self.endpoint, req, Utc::now());
        (s.url, s.headers)
    }

    /// A valid PostObject form body for `key` (V4, account key).
    fn form_body(key: &str) -> Vec<u8> {
        let now = Utc::now();
        let form = post_policy::post_form_v4(
            &account(),
            REGION,
            BUCKET,
            key,
            vec![
                Condition::StartsWith("key".into(), "fuzz/".into()),
                Condition::ContentLengthRange(1, 4096),
            ],
            now,
            now + chrono::Duration::minutes(10),
            &[("success_action_status".into(), "200".into())],
        );
        let mut body = Vec::new();
        for (k, v) in &form.fields {
            body.extend_from_slice(
                format!(
                    "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{k}\"\r\n\r\n{v}\r\n"
                )
                .as_bytes(),
            );
        }
        body.extend_from_slice(
            format!("--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.txt\"\r\nContent-Type: text/plain\r\n\r\nhello fuzz\r\n--{BOUNDARY}--\r\n")
                .as_bytes(),
        );
        body
    }

    /// Starts a multipart upload of `key` with one part: (upload id, part ETag).
    fn new_upload(&self, key: &str) -> (String, String) {
        let (url, headers) =
            self.signed(&OssRequest::new("POST", BUCKET, key).query("uploads", ""));
        let (status, body) = self.send(reqwest::Method::POST, &url, &headers, Vec::new());
        assert_eq!(status, 200, "{body}");
        let upload_id = body
            .split("<UploadId>")
            .nth(1)
            .and_then(|s| s.split("</UploadId>").next())
            .expect("UploadId")
            .to_owned();
        let part = OssRequest::new("PUT", BUCKET, key)
            .query("partNumber", "1")
            .query("uploadId", upload_id.clone())
            .body(Bytes::from_static(b"part one"));
        let (url, headers) = self.signed(&part);
        let (status, answer, _) =
            self.send_full(reqwest::Method::PUT, &url, &headers, b"part one".to_vec());
        assert_eq!(status, 200);
        let etag = answer
            .get("etag")
            .and_then(|v| v.to_str().ok())
            .expect("ETag of the part")
            .to_owned();
        (upload_id, etag)
    }

    fn assert_alive(&self) {
        let (url, headers) = self.signed(&OssRequest::new("GET", BUCKET, ""));
        let (status, body) = self.send(reqwest::Method::GET, &url, &headers, Vec::new());
        assert_eq!(status, 200, "the emulator stopped serving: {body}");
    }
}

impl Drop for Harness {
    fn drop(&mut self) {
        if let Some(e) = self.emulator.take() {
            self.rt.block_on(e.shutdown());
        }
    }
}

fn assert_handled(status: u16, body: &str, what: &str) {
    assert!(
        (200..300).contains(&status) || (400..500).contains(&status),
        "{what}: status {status}: {body}"
    );
    if status >= 400 && !body.is_empty() {
        assert!(
            body.contains("<Error>") && body.contains("<Code>"),
            "{what}: not an OSS error: {body}"
        );
    }
}

/// The OSS error code of an answer, or `ok`.
fn code_of(status: u16, body: &str) -> String {
    if status < 300 {
        return "ok".into();
    }
    body.split("<Code>")
        .nth(1)
        .and_then(|s| s.split("</Code>").next())
        .unwrap_or("(no body)")
        .to_owned()
}

fn cases(default: u32) -> Config {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default);
    Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    }
}

#[test]
fn fuzz_post_object_form() {
    let h = Harness::start();
    let url = h.endpoint.bucket_url(BUCKET);
    let valid = Harness::form_body("fuzz/valid.txt");
    // Control: the undamaged form is accepted, so the fuzz starts from a
    // request that reaches every stage of the parser.
    let ct = vec![(
        "Content-Type".to_owned(),
        format!("multipart/form-data; boundary={BOUNDARY}"),
    )];
    let (status, body) = h.send(reqwest::Method::POST, &url, &ct, valid.clone());
    assert_eq!(status, 200, "{body}");

    let seen = std::cell::RefCell::new(std::collections::BTreeMap::<String, u32>::new());
    let mut runner = TestRunner::new(cases(300));
    runner
        .run(&input(), |(from_valid, mutations, garbage)| {
            let body = if from_valid {
                apply(valid.clone(), &mutations)
            } else {
                garbage
            };
            let (status, text) = h.send(reqwest::Method::POST, &url, &ct, body);
            assert_handled(status, &text, "PostObject");
            *seen.borrow_mut().entry(code_of(status, &text)).or_default() += 1;
            Ok(())
        })
        .unwrap();
    h.assert_alive();
    let seen = seen.into_inner();
    eprintln!("PostObject outcomes: {seen:?}");
    // The damage reached past the multipart parser into the policy checks.
    assert!(seen.len() >= 3, "too few distinct outcomes: {seen:?}");
}

#[test]
fn fuzz_complete_multipart_upload_xml() {
    let h = Harness::start();
    let key = "fuzz/multi.bin";
    // A real upload with one part, so Complete gets past "no such upload".
    let (upload_id, part_etag) = h.new_upload(key);
    let valid = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>{part_etag}</ETag></Part></CompleteMultipartUpload>"
    )
    .into_bytes();

    let upload = std::cell::RefCell::new(upload_id);
    let seen = std::cell::RefCell::new(std::collections::BTreeMap::<String, u32>::new());
    let mut runner = TestRunner::new(cases(300));
    runner
        .run(&input(), |(from_valid, mutations, garbage)| {
            let body = if from_valid {
                apply(valid.clone(), &mutations)
            } else {
                garbage
            };
            let req =
                OssRequest::new("POST", BUCKET, key).query("uploadId", upload.borrow().clone());
            let (url, headers) = h.signed(&req);
            let (status, text) = h.send(reqwest::Method::POST, &url, &headers, body);
            assert_handled(status, &text, "CompleteMultipartUpload");
            *seen.borrow_mut().entry(code_of(status, &text)).or_default() += 1;
            if status == 200 {
                // A damaged document that still completed the upload: start
                // another, so later cases reach the parser again.
                *upload.borrow_mut() = h.new_upload(key).0;
            }
            Ok(())
        })
        .unwrap();
    let seen = seen.into_inner();
    eprintln!("CompleteMultipartUpload outcomes: {seen:?}");
    assert!(
        seen.keys()
            .any(|c| c == "MalformedXML" || c == "InvalidPart" || c == "InvalidPartOrder"),
        "the XML parser was never reached: {seen:?}"
    );
    h.assert_alive();
}
