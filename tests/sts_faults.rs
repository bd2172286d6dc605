//! STS fault injection: the function under 120 concurrent credential requests
//! while the loopback STS peer answers with expired, short-lived, slow or no
//! credentials at all.
//!
//! What must hold (issue 9, finding 1): credentials with less than the
//! promised 6 minutes are never handed out nor used to sign; the caller gets a
//! 5xx naming the likely cause; STS sees at most one AssumeRole per scope per
//! back-off window (1 s) however many requests wait; every request is answered
//! within the STS timeout. Timing bounds are generous (the test machine is
//! shared and loaded): they separate "within the timeout" from "one STS round
//! trip per waiting request", not fast from slow.

#[path = "common/harness.rs"]
mod harness;
#[path = "common/peers.rs"]
mod peers;
use harness::*;

use serde_json::Value;
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

const CONCURRENT: usize = 120;

/// One answer: status, JSON body, how long it took.
type Answer = (u16, Value, Duration);

/// Sends `CONCURRENT` requests to `path` at once (released together).
fn herd(f: &Function, path: &str) -> (Vec<Answer>, Duration) {
    let client = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(60))
        .pool_max_idle_per_host(0)
        .build()
        .expect("client");
    let url = format!("{}{path}", f.url());
    let gate = Arc::new(Barrier::new(CONCURRENT + 1));
    let threads: Vec<_> = (0..CONCURRENT)
        .map(|_| {
            let (client, url, gate) = (client.clone(), url.clone(), gate.clone());
            std::thread::spawn(move || {
                gate.wait();
                let t = Instant::now();
                let r = client.get(&url).send().expect("request");
                let status = r.status().as_u16();
                let body = r.text().unwrap_or_default();
                let took = t.elapsed();
                (status, json(&body), took)
            })
        })
        .collect();
    gate.wait();
    let started = Instant::now();
    let answers = threads
        .into_iter()
        .map(|t| t.join().expect("request thread"))
        .collect();
    (answers, started.elapsed())
}

fn start(peer_args: &[&str], sts_timeout_ms: u64) -> (StsPeer, Function) {
    let peer = StsPeer::start(peer_args);
    let mut env = base_env(&peer.url());
    env.push(("STS_TIMEOUT_MS".into(), sts_timeout_ms.to_string()));
    env.push(("RATE_LIMIT_PER_MINUTE".into(), "0".into()));
    let f = Function::start(&env);
    (peer, f)
}

fn posts(peer: &StsPeer) -> u64 {
    peer.stats()["posts"].as_u64().expect("posts count")
}

/// At most one AssumeRole per started back-off second, plus the first.
fn assert_calls_bounded(peer: &StsPeer, took: Duration) {
    let calls = posts(peer);
    let bound = 1 + took.as_secs() + 1;
    assert!(
        calls >= 1 && calls <= bound,
        "{calls} AssumeRole calls for {CONCURRENT} requests in {took:?} (bound {bound})"
    );
}

fn assert_each_within(answers: &[Answer], limit: Duration) {
    let slowest = answers.iter().map(|a| a.2).max().unwrap_or_default();
    assert!(
        slowest <= limit,
        "slowest answer took {slowest:?}, more than {limit:?}"
    );
}

fn assert_no_secret_handed_out(answers: &[Answer]) {
    for (status, body, _) in answers {
        assert!(
            body.get("AccessKeySecret").is_none() && body.get("SecurityToken").is_none(),
            "{status}: credentials handed out: {body}"
        );
    }
}

/// Expired answers from a slow STS: one call, every caller a 502 naming clock
/// skew, and no caller waits for a queue of STS round trips.
#[test]
fn expired_credentials_are_refused_without_a_herd() {
    let (peer, f) = start(&["--expires-in", "-120", "--delay", "0.3"], 3000);
    let (answers, took) = herd(&f, "/v1/sts");
    for (status, body, _) in &answers {
        assert_eq!(*status, 502, "{body}");
        assert_eq!(body["ErrorCode"], "StsCredentialsTooShortLived", "{body}");
        let msg = body["ErrorMessage"].as_str().unwrap_or_default();
        assert!(msg.contains("clock skew"), "{msg}");
        assert!(msg.contains("already expired"), "{msg}");
    }
    assert_no_secret_handed_out(&answers);
    assert_calls_bounded(&peer, took);
    // Within the STS timeout (3 s), with slack for a loaded machine; one
    // round trip per waiter would take 120 × 0.3 s = 36 s.
    assert_each_within(&answers, Duration::from_secs(3 + 3));
}

/// Credentials that live, but less than 6 minutes: refused, for `/v1/sts`
/// and for signing, with the role's session duration named.
#[test]
fn short_lived_credentials_are_neither_handed_out_nor_used_to_sign() {
    let (peer, f) = start(&["--expires-in", "200", "--delay", "0.3"], 3000);
    let (answers, took) = herd(&f, "/v1/sts");
    for (status, body, _) in &answers {
        assert_eq!(*status, 502, "{body}");
        assert_eq!(body["ErrorCode"], "StsCredentialsTooShortLived", "{body}");
        let msg = body["ErrorMessage"].as_str().unwrap_or_default();
        assert!(
            msg.contains("session duration") && msg.contains("clock skew"),
            "{msg}"
        );
    }
    assert_no_secret_handed_out(&answers);
    assert_calls_bounded(&peer, took);
    assert_each_within(&answers, Duration::from_secs(3 + 3));

    let (answers, _) = herd(
        &f,
        "/v1/presign?filename=a.png&contentType=image/png&size=10",
    );
    for (status, body, _) in &answers {
        assert_eq!(*status, 502, "{body}");
        assert_eq!(
            body["error"]["code"], "StsCredentialsTooShortLived",
            "{body}"
        );
        assert!(body.get("url").is_none(), "{body}");
    }
    let (status, _, body) = send(client().post(format!("{}/v1/post-policy", f.url())));
    assert_eq!(status, 502, "{body}");
    assert!(!body.contains("policy\""), "{body}");
}

/// A slow but healthy STS: one call, everyone gets the same credentials.
#[test]
fn slow_sts_one_call_for_the_whole_herd() {
    let (peer, f) = start(&["--delay", "1.0"], 4000);
    let (answers, _) = herd(&f, "/v1/sts");
    let first = answers[0].1["AccessKeyId"].clone();
    for (status, body, _) in &answers {
        assert_eq!(*status, 200, "{body}");
        assert_eq!(body["AccessKeyId"], first);
    }
    assert_eq!(posts(&peer), 1, "one AssumeRole for {CONCURRENT} requests");
    assert_each_within(&answers, Duration::from_secs(4 + 3));
}

/// An STS that never answers: every request gets 504 within the timeout, and
/// the waiting requests do not each start their own call.
#[test]
fn hanging_sts_every_request_answered_within_the_timeout() {
    let (peer, f) = start(&["--delay", "30"], 1500);
    let (answers, took) = herd(&f, "/v1/sts");
    for (status, body, _) in &answers {
        assert_eq!(*status, 504, "{body}");
        assert_eq!(body["ErrorCode"], "StsTimeout", "{body}");
    }
    assert_calls_bounded(&peer, took);
    // 1.5 s timeout; generous slack, but far from the peer's 30 s.
    assert_each_within(&answers, Duration::from_millis(1500 + 4000));
}
