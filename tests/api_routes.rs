//! Every route over real HTTP on loopback: our binary as FC would run it,
//! calling a loopback STS that checks each AssumeRole with the official SDK's
//! own signer. Covers shapes, bad input, upstream failures, lifecycle, and
//! that no secret ever reaches a log line.

#[path = "common/harness.rs"]
mod harness;
#[path = "common/peers.rs"]
mod peers;
use harness::*;

use base64::Engine;
use serde_json::Value;
use std::time::Duration;

fn env_with(sts: &StsPeer, extra: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut env = base_env(&sts.url());
    for (k, v) in extra {
        env.retain(|(ek, _)| ek != k);
        env.push(((*k).to_owned(), (*v).to_owned()));
    }
    env
}

fn decode_policy(b64: &str) -> Value {
    let raw = base64::engine::general_purpose::STANDARD
        .decode(b64)
        .expect("policy is base64");
    serde_json::from_slice(&raw).expect("policy is JSON")
}

/// Secrets the function saw or handed out must never appear in its output.
fn assert_no_secrets(output: &str, secrets: &[String]) {
    for s in secrets {
        if s.len() >= 8 {
            assert!(
                !output.contains(s.as_str()),
                "a secret ({}...) appeared in the function's log output",
                &s[..4]
            );
        }
    }
}

#[test]
fn sts_route_answers_the_mobile_sdk_shape_with_a_scoped_session_policy() {
    let sts = StsPeer::start(&[]);
    let f = Function::start(&env_with(&sts, &[("LEGACY_ROUTES", "true")]));
    let c = client();

    let (status, headers, body) = send(c.get(format!("{}/v1/sts", f.url())));
    assert_eq!(status, 200, "{body}");
    assert_eq!(headers["cache-control"], "no-store");
    let v = json(&body);
    assert_eq!(
        v["StatusCode"],
        Value::from(200),
        "StatusCode must be a JSON number"
    );
    assert!(v["AccessKeyId"].as_str().unwrap().starts_with("STS."));
    assert!(!v["AccessKeySecret"].as_str().unwrap().is_empty());
    assert!(!v["SecurityToken"].as_str().unwrap().is_empty());
    let exp = v["Expiration"].as_str().unwrap();
    assert!(
        chrono::NaiveDateTime::parse_from_str(exp, "%Y-%m-%dT%H:%M:%SZ").is_ok(),
        "Expiration {exp:?} is not YYYY-MM-DDTHH:MM:SSZ"
    );
    assert_eq!(v["Bucket"], "test-bucket");
    assert_eq!(v["Region"], "cn-hangzhou");
    assert_eq!(v["Prefix"], "uploads/");
    assert_eq!(v["Endpoint"], "http://127.0.0.1:9");

    // What the STS peer received: our role, a valid session name, the token
    // of the function's temporary identity, and a session policy for the prefix only.
    let last = sts.last();
    let params = &last["params"];
    assert_eq!(
        params["RoleArn"],
        "acs:ram::1234567890123456:role/oss-upload"
    );
    assert_eq!(params["DurationSeconds"], "900");
    let session = params["RoleSessionName"].as_str().unwrap();
    assert!((2..=64).contains(&session.len()) && session.starts_with("anonymous"));
    let policy: Value = serde_json::from_str(params["Policy"].as_str().unwrap()).unwrap();
    assert_eq!(
        policy["Statement"][0]["Action"],
        serde_json::json!(["oss:PutObject", "oss:ListParts", "oss:AbortMultipartUpload"])
    );
    assert_eq!(
        policy["Statement"][0]["Resource"],
        serde_json::json!(["acs:oss:*:*:test-bucket/uploads/*"])
    );

    // The legacy routes give the same credentials (cached: one STS call).
    for path in ["/get_sts_token", "/get_sts_token_for_oss_upload"] {
        let (status, _, body) = send(c.get(format!("{}{path}", f.url())));
        assert_eq!(status, 200);
        let l = json(&body);
        assert_eq!(l["AccessKeyId"], v["AccessKeyId"]);
        assert_eq!(l["StatusCode"], Value::from(200));
    }
    let (status, last, _) = send(c.post(format!("{}/v1/sts", f.url())).body(""));
    assert_eq!(status, 200, "POST works too");
    assert_eq!(
        sts.stats()["assumeRole"],
        Value::from(1),
        "the cache served the rest"
    );

    let out = f.output_after(request_id(&last));
    // The first request's lines sit between its FC markers, in order, and
    // every other line is one JSON object carrying the request id.
    let lines: Vec<&str> = out.lines().collect();
    let assume = lines
        .iter()
        .find(|l| l.contains("AssumeRole ok"))
        .unwrap_or_else(|| panic!("no AssumeRole line:\n{out}"));
    let rid = json(assume)["requestId"].as_str().unwrap().to_owned();
    let pos = |needle: &str| {
        lines
            .iter()
            .position(|l| l.contains(needle) && l.contains(&rid))
            .unwrap_or_else(|| panic!("no {needle:?} line for {rid}:\n{out}"))
    };
    let (s_, a_, r_, e_) = (
        pos("FC Invoke Start"),
        pos("AssumeRole ok"),
        pos("\"msg\":\"request\""),
        pos("FC Invoke End"),
    );
    assert!(s_ < a_ && a_ < r_ && r_ < e_, "{out}");
    for l in &lines[s_ + 1..e_] {
        let v: Value = serde_json::from_str(l).unwrap_or_else(|_| panic!("not JSON: {l}"));
        assert_eq!(v["requestId"], Value::from(rid.as_str()));
    }
    assert_no_secrets(
        &out,
        &[
            v["AccessKeySecret"].as_str().unwrap().into(),
            v["SecurityToken"].as_str().unwrap().into(),
            FC_SECRET.into(),
            FC_TOKEN.into(),
        ],
    );
}

#[test]
fn post_policy_v4_and_v1_carry_the_documented_fields_and_conditions() {
    let sts = StsPeer::start(&[]);
    for version in ["v4", "v1"] {
        let f = Function::start(&env_with(
            &sts,
            &[("SIGNATURE_VERSION", version), ("MAX_UPLOAD_BYTES", "5000")],
        ));
        let c = client();
        let (status, headers, body) = send(
            c.post(format!("{}/v1/post-policy", f.url()))
                .header("content-type", "application/json")
                .body(
                    r#"{"filename":"../../etc/passwd.png","contentType":"image/png","size":1000}"#,
                ),
        );
        assert_eq!(status, 200, "{body}");
        assert_eq!(headers["cache-control"], "no-store");
        let v = json(&body);
        assert_eq!(v["url"], "http://127.0.0.1:9/test-bucket");
        let key = v["key"].as_str().unwrap();
        assert!(
            key.starts_with("uploads/") && key.ends_with("/passwd.png"),
            "{key}"
        );
        let fields = v["fields"].as_object().unwrap();
        let names: Vec<&str> = fields.keys().map(String::as_str).collect();
        assert_eq!(names[0], "key", "key comes first");
        assert_eq!(fields["key"], key);
        if version == "v4" {
            for n in [
                "policy",
                "x-oss-signature-version",
                "x-oss-credential",
                "x-oss-date",
                "x-oss-signature",
                "x-oss-security-token",
            ] {
                assert!(names.contains(&n), "{version}: missing {n} in {names:?}");
            }
        } else {
            for n in [
                "policy",
                "OSSAccessKeyId",
                "Signature",
                "x-oss-security-token",
            ] {
                assert!(names.contains(&n), "{version}: missing {n} in {names:?}");
            }
        }
        assert_eq!(fields["success_action_status"], "200");
        assert_eq!(fields["x-oss-forbid-overwrite"], "true");
        assert_eq!(fields["Content-Type"], "image/png");
        let policy = decode_policy(fields["policy"].as_str().unwrap());
        let conds = policy["conditions"].as_array().unwrap();
        let has = |c: Value| conds.contains(&c);
        assert!(has(serde_json::json!({"bucket": "test-bucket"})));
        // The exact server-built key, not a prefix (issue 9, finding 2).
        let key = v["key"].as_str().unwrap();
        assert!(has(serde_json::json!(["eq", "$key", key])), "{conds:?}");
        assert!(
            !conds.iter().any(|c| c[0] == "starts-with"),
            "no prefix-only key condition: {conds:?}"
        );
        assert!(has(serde_json::json!(["content-length-range", 1, 5000])));
        assert!(has(serde_json::json!({"x-oss-forbid-overwrite": "true"})));
        assert!(conds
            .iter()
            .any(|c| c[0] == "in" && c[1] == "$content-type"));
        assert!(policy["expiration"].as_str().unwrap().ends_with(".000Z"));
    }
}

#[test]
fn presign_put_get_and_legacy_routes() {
    let sts = StsPeer::start(&[]);
    let f = Function::start(&env_with(&sts, &[("LEGACY_ROUTES", "true")]));
    let c = client();

    let (status, _, body) = send(c.get(format!(
        "{}/v1/presign?filename=my%20photo%2B1.png&contentType=image/png&size=1234",
        f.url()
    )));
    assert_eq!(status, 200, "{body}");
    let v = json(&body);
    assert_eq!(v["method"], "PUT");
    assert_eq!(v["headers"]["Content-Type"], "image/png");
    assert_eq!(v["headers"]["x-oss-forbid-overwrite"], "true");
    let key = v["key"].as_str().unwrap().to_owned();
    assert!(key.ends_with("/my photo+1.png"), "{key}");
    let url = v["url"].as_str().unwrap();
    assert!(
        url.starts_with("http://127.0.0.1:9/test-bucket/uploads/"),
        "{url}"
    );
    assert!(url.contains("/my%20photo%2B1.png?"), "{url}");
    assert!(url.contains("x-oss-signature="));
    assert!(url.contains("x-oss-security-token="));
    assert!(
        url.contains("x-oss-expires=600"),
        "default URL lifetime is 600 s: {url}"
    );

    // Reading back one's own upload: a GET URL signed with read-only credentials.
    let (status, _, body) = send(
        c.post(format!("{}/v1/presign", f.url()))
            .body(serde_json::json!({"method": "GET", "key": key}).to_string()),
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(json(&body)["method"], "GET");
    let policy: Value =
        serde_json::from_str(sts.last()["params"]["Policy"].as_str().unwrap()).unwrap();
    assert_eq!(
        policy["Statement"][0]["Action"],
        serde_json::json!(["oss:GetObject"])
    );

    // GET outside the prefix, or without a key, is refused.
    let (status, _, body) =
        send(c.get(format!("{}/v1/presign?method=GET&key=other/x.png", f.url())));
    assert_eq!(status, 403, "{body}");
    assert_eq!(json(&body)["error"]["code"], "KeyOutsidePrefix");
    let (status, _, _) = send(c.get(format!("{}/v1/presign?method=GET", f.url())));
    assert_eq!(status, 400);
    let (status, _, _) = send(c.get(format!("{}/v1/presign?method=DELETE", f.url())));
    assert_eq!(status, 400);

    // Alibaba's sample clients: a bare URL as text, and the sample JSON.
    let (status, headers, body) =
        send(c.get(format!("{}/get_presigned_url_for_oss_upload", f.url())));
    assert_eq!(status, 200);
    assert!(headers["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/plain"));
    assert!(
        body.starts_with("http://127.0.0.1:9/test-bucket/uploads/"),
        "{body}"
    );
    let (status, _, body) = send(c.get(format!("{}/get_post_signature_for_oss_upload", f.url())));
    assert_eq!(status, 200);
    let v = json(&body);
    for n in [
        "host",
        "dir",
        "policy",
        "signature",
        "x_oss_signature_version",
        "x_oss_credential",
        "x_oss_date",
        "security_token",
    ] {
        assert!(v.get(n).is_some(), "missing {n}: {body}");
    }
    let dir = v["dir"].as_str().unwrap();
    assert!(dir.starts_with("uploads/") && dir.ends_with('/'));
    let policy = decode_policy(v["policy"].as_str().unwrap());
    assert!(policy["conditions"]
        .as_array()
        .unwrap()
        .contains(&serde_json::json!(["starts-with", "$key", dir])));
}

#[test]
fn bad_input_gets_documented_errors_never_a_panic() {
    let sts = StsPeer::start(&[]);
    let f = Function::start(&env_with(&sts, &[("MAX_UPLOAD_BYTES", "1000")]));
    let c = client();
    let cases: Vec<(reqwest::blocking::RequestBuilder, u16, &str)> = vec![
        (c.get(format!("{}/nope", f.url())), 404, "NotFound"),
        (
            c.delete(format!("{}/v1/sts", f.url())),
            405,
            "MethodNotAllowed",
        ),
        (
            c.put(format!("{}/v1/presign", f.url())),
            405,
            "MethodNotAllowed",
        ),
        (
            c.post(format!("{}/healthz", f.url())),
            405,
            "MethodNotAllowed",
        ),
        (
            c.post(format!("{}/v1/presign", f.url())).body("{bad json"),
            400,
            "InvalidJson",
        ),
        (
            c.post(format!("{}/v1/presign", f.url())).body("[]"),
            400,
            "InvalidJson",
        ),
        (
            c.post(format!("{}/v1/presign", f.url()))
                .body(r#"{"size":"big"}"#),
            400,
            "InvalidParameter",
        ),
        (
            c.get(format!("{}/v1/presign?size=5000", f.url())),
            400,
            "FileTooLarge",
        ),
        (
            c.get(format!("{}/v1/post-policy?size=5000", f.url())),
            400,
            "FileTooLarge",
        ),
        (
            c.get(format!("{}/v1/presign?size=0", f.url())),
            400,
            "InvalidParameter",
        ),
        (
            c.get(format!("{}/v1/presign?contentType=text/html", f.url())),
            400,
            "ContentTypeNotAllowed",
        ),
        (
            c.get(format!(
                "{}/v1/post-policy?contentType=image/svg%2Bxml",
                f.url()
            )),
            400,
            "ContentTypeNotAllowed",
        ),
        (
            c.get(format!("{}/v1/presign?contentType=nonsense", f.url())),
            400,
            "InvalidParameter",
        ),
        (
            c.get(format!("{}/v1/presign?filename=..", f.url())),
            400,
            "InvalidParameter",
        ),
        (
            c.get(format!("{}/v1/presign?filename=a%00b", f.url())),
            400,
            "InvalidParameter",
        ),
        (
            c.get(format!(
                "{}/v1/presign?filename={}",
                f.url(),
                "n".repeat(300)
            )),
            400,
            "InvalidParameter",
        ),
        (
            c.get(format!(
                "{}/v1/presign?filename={}",
                f.url(),
                "n".repeat(3000)
            )),
            400,
            "InvalidParameter",
        ),
        (
            c.post(format!("{}/v1/presign", f.url()))
                .body(vec![b' '; 70 * 1024]),
            413,
            "PayloadTooLarge",
        ),
    ];
    for (req, want_status, want_code) in cases {
        let (status, headers, body) = send(req);
        assert_eq!(status, want_status, "{want_code}: {body}");
        let v = json(&body);
        assert_eq!(v["error"]["code"], want_code, "{body}");
        assert!(v["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()));
        assert!(headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json"));
    }
    // A body refused unread leaves the connection unusable: the answer says
    // so, or the client would send its next request into a closing socket.
    let (status, headers, _) = send(
        c.post(format!("{}/v1/presign", f.url()))
            .body(vec![b' '; 70 * 1024]),
    );
    assert_eq!(status, 413);
    assert_eq!(headers["connection"], "close");
    // Still alive and answering after all of that.
    let (status, _, _) = send(c.get(format!("{}/healthz", f.url())));
    assert_eq!(status, 200);
    assert!(!f.output().contains("panicked"));
}

fn upstream_case(
    peer_args: &[&str],
    extra_env: &[(&str, &str)],
    want_status: u16,
    want_code: &str,
) -> (String, reqwest::header::HeaderMap, String) {
    let sts = StsPeer::start(peer_args);
    let f = Function::start(&env_with(&sts, extra_env));
    let (status, headers, body) = send(client().get(format!("{}/v1/sts", f.url())));
    assert_eq!(status, want_status, "{peer_args:?}: {body}");
    let v = json(&body);
    assert_eq!(v["error"]["code"], want_code, "{body}");
    // Mobile SDKs read these on failure.
    assert_eq!(v["StatusCode"], Value::from(want_status));
    assert_eq!(v["ErrorCode"], want_code);
    let out = f.output_after(request_id(&headers));
    assert_no_secrets(&out, &[FC_SECRET.into(), FC_TOKEN.into()]);
    (body, headers, out)
}

#[test]
fn sts_rejection_is_502_naming_the_sts_code() {
    let (body, _, _) = upstream_case(
        &["--fail-with", "NoPermission:403"],
        &[],
        502,
        "StsRejected",
    );
    assert!(body.contains("NoPermission"), "{body}");
    let (body, _, _) = upstream_case(
        &["--fail-with", "EntityNotExist.Role:404"],
        &[],
        502,
        "StsRejected",
    );
    assert!(body.contains("EntityNotExist.Role"), "{body}");
}

#[test]
fn sts_throttling_is_503_with_retry_after() {
    let (_, headers, _) = upstream_case(&["--throttle"], &[], 503, "StsThrottled");
    let retry: u64 = headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!(retry >= 1);
}

#[test]
fn sts_timeout_is_504() {
    upstream_case(
        &["--delay", "3"],
        &[("STS_TIMEOUT_MS", "300")],
        504,
        "StsTimeout",
    );
}

#[test]
fn sts_garbage_is_502_bad_response() {
    upstream_case(&["--garbage"], &[], 502, "StsBadResponse");
}

#[test]
fn sts_unreachable_is_502_unavailable() {
    let port = free_port();
    let mut env = base_env(&format!("http://127.0.0.1:{port}"));
    env.push(("STS_TIMEOUT_MS".into(), "1000".into()));
    let f = Function::start(&env);
    let (status, _, body) = send(client().get(format!("{}/v1/presign?size=1", f.url())));
    assert_eq!(status, 502, "{body}");
    assert_eq!(json(&body)["error"]["code"], "StsUnavailable");
}

#[test]
fn wrong_function_secret_is_rejected_by_the_official_signer() {
    // The peer recomputes our ACS3 signature with the SDK's signer: a wrong
    // secret must fail there, proving the check is real.
    let sts = StsPeer::start(&[]);
    let mut env = env_with(&sts, &[]);
    env.retain(|(k, _)| k != "ALIBABA_CLOUD_ACCESS_KEY_SECRET");
    env.push((
        "ALIBABA_CLOUD_ACCESS_KEY_SECRET".into(),
        "not-the-secret".into(),
    ));
    let f = Function::start(&env);
    let (status, _, body) = send(client().get(format!("{}/v1/sts", f.url())));
    assert_eq!(status, 502, "{body}");
    assert!(body.contains("SignatureDoesNotMatch"), "{body}");
}

#[test]
fn fc_headers_supply_the_identity_per_request() {
    let sts = StsPeer::start(&[]);
    let mut env = env_with(&sts, &[]);
    env.retain(|(k, _)| !k.starts_with("ALIBABA_CLOUD_"));
    let f = Function::start(&env);
    let c = client();
    // No identity at all: a clear 503, no STS call.
    let (status, _, body) = send(c.get(format!("{}/v1/sts", f.url())));
    assert_eq!(status, 503, "{body}");
    assert_eq!(json(&body)["error"]["code"], "NoFunctionCredentials");
    // FC's headers carry it.
    let (status, _, body) = send(
        c.get(format!("{}/v1/sts", f.url()))
            .header("x-fc-access-key-id", FC_AK)
            .header("x-fc-access-key-secret", FC_SECRET)
            .header("x-fc-security-token", FC_TOKEN)
            .header("x-fc-request-id", "req-from-fc-123"),
    );
    assert_eq!(status, 200, "{body}");
    let start = "FC Invoke Start RequestId: req-from-fc-123";
    assert!(f.output_when(|o| o.contains(start)).contains(start));
}

#[test]
fn initialize_prefetches_credentials_and_pre_stop_keeps_serving() {
    let sts = StsPeer::start(&[]);
    let f = Function::start(&env_with(&sts, &[]));
    let c = client();
    let (status, _, body) = send(c.post(format!("{}/initialize", f.url())));
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        sts.stats()["assumeRole"],
        Value::from(1),
        "initialize fetched the shared credentials"
    );
    let (status, _, _) = send(c.get(format!("{}/v1/presign?size=1", f.url())));
    assert_eq!(status, 200);
    assert_eq!(
        sts.stats()["assumeRole"],
        Value::from(1),
        "first request reused them"
    );

    let (status, _, body) = send(c.get(format!("{}/pre-stop", f.url())));
    assert_eq!(status, 200, "{body}");
    // PreStop may precede a freeze: the thawed instance must still answer.
    let (status, _, body) = send(c.get(format!("{}/v1/presign?size=1", f.url())));
    assert_eq!(status, 200, "still serving after pre-stop: {body}");
    let mut f = f;
    assert!(f.child.try_wait().expect("wait").is_none(), "still running");
    let out = f.output_when(|o| o.contains("FC PreStop End RequestId: "));
    assert!(out.contains("FC Initialize Start RequestId: "), "{out}");
    assert!(out.contains("FC Initialize End RequestId: "), "{out}");
    assert!(out.contains("FC PreStop Start RequestId: "), "{out}");
    assert!(out.contains("FC PreStop End RequestId: "), "{out}");
}

#[test]
fn sigterm_lets_an_in_flight_request_finish() {
    let sts = StsPeer::start(&["--delay", "1"]);
    let f = Function::start(&env_with(&sts, &[]));
    let url = format!("{}/v1/sts", f.url());
    let inflight = std::thread::spawn(move || send(client().get(url)));
    std::thread::sleep(Duration::from_millis(300));
    let pid = f.child.id().to_string();
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill");
    assert!(killed.success());
    let (status, _, body) = inflight.join().expect("thread");
    assert_eq!(status, 200, "in-flight request finished: {body}");
    let mut f = f;
    let st = f.child.wait().expect("wait");
    assert!(st.success(), "clean exit after SIGTERM: {st:?}");
}

#[test]
fn dangerous_or_incomplete_config_refuses_to_start() {
    let sts_url = "http://127.0.0.1:9";
    let mut env = base_env(sts_url);
    env.retain(|(k, _)| k != "AUTH_MODE");
    let (code, out) = run_to_exit(&env);
    assert_eq!(code, Some(2), "{out}");
    assert!(out.contains("AUTH_MODE"), "{out}");
    assert!(out.contains("anonymous"), "says what to set: {out}");

    let mut env = base_env(sts_url);
    env.retain(|(k, _)| k != "OSS_ROLE_ARN");
    let (code, out) = run_to_exit(&env);
    assert_eq!(code, Some(2), "{out}");
    assert!(out.contains("OSS_ROLE_ARN"), "{out}");

    let mut env = base_env(sts_url);
    env.push(("TOKEN_TTL_SECONDS".into(), "50".into()));
    let (code, out) = run_to_exit(&env);
    assert_eq!(code, Some(2));
    assert!(out.contains("TOKEN_TTL_SECONDS"), "{out}");
}

#[test]
fn anonymous_mode_warns_at_start() {
    let sts = StsPeer::start(&[]);
    let f = Function::start(&env_with(&sts, &[]));
    let out = f.output();
    assert!(
        out.lines()
            .any(|l| l.contains("\"level\":\"warn\"") && l.contains("AUTH_MODE=anonymous")),
        "{out}"
    );
}

#[test]
fn sample_client_routes_are_off_unless_enabled() {
    let sts = StsPeer::start(&[]);
    let f = Function::start(&env_with(&sts, &[]));
    for path in [
        "/get_sts_token",
        "/get_sts_token_for_oss_upload",
        "/get_post_signature_for_oss_upload",
        "/get_presigned_url_for_oss_upload",
    ] {
        let (status, _, body) = send(client().get(format!("{}{path}", f.url())));
        assert_eq!(status, 404, "{path}: {body}");
        assert!(json(&body)["error"]["message"]
            .as_str()
            .unwrap()
            .contains("LEGACY_ROUTES=true"));
    }
    assert_eq!(sts.stats()["assumeRole"], Value::from(0));
    let (status, _, _) = send(client().get(format!("{}/v1/sts", f.url())));
    assert_eq!(status, 200, "the /v1 routes are unaffected");
}

#[test]
fn concurrent_requests_all_reach_the_log_each_block_whole() {
    // Log output is batched across requests while any is in flight; when the
    // server goes idle every request's block must be out, markers intact.
    let sts = StsPeer::start(&[]);
    let f = Function::start(&env_with(&sts, &[("RATE_LIMIT_PER_MINUTE", "0")]));
    let url = format!(
        "{}/v1/presign?filename=a.png&contentType=image/png&size=1",
        f.url()
    );
    let threads: Vec<_> = (0..16)
        .map(|_| {
            let url = url.clone();
            std::thread::spawn(move || {
                let c = client();
                for _ in 0..25 {
                    assert_eq!(send(c.get(&url)).0, 200);
                }
            })
        })
        .collect();
    for t in threads {
        t.join().expect("client thread");
    }
    // Idle now: the last request out wrote the batch before answering (and
    // this process's pipe reader catches up with it).
    let out =
        f.output_when(|o| o.lines().filter(|l| l.starts_with("FC Invoke End")).count() >= 400);
    let lines: Vec<&str> = out.lines().collect();
    let starts = lines
        .iter()
        .filter(|l| l.starts_with("FC Invoke Start"))
        .count();
    let ends = lines
        .iter()
        .filter(|l| l.starts_with("FC Invoke End"))
        .count();
    assert_eq!(starts, ends);
    assert!(
        starts >= 400,
        "all 400 presigns (+ health checks) logged: {starts}"
    );
    // Each block is contiguous: Start, its JSON lines, End, for the same id.
    let mut open: Option<String> = None;
    for l in &lines {
        if let Some(id) = l.strip_prefix("FC Invoke Start RequestId: ") {
            assert!(open.is_none(), "blocks interleaved at {l}");
            open = Some(id.to_owned());
        } else if let Some(id) = l.strip_prefix("FC Invoke End RequestId: ") {
            assert_eq!(open.take().as_deref(), Some(id));
        } else if let Some(id) = &open {
            assert_eq!(json(l)["requestId"], Value::from(id.as_str()), "{l}");
        }
    }
}

/// The `x-request-id` the function answered with.
fn request_id(headers: &reqwest::header::HeaderMap) -> &str {
    headers
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .expect("x-request-id on every answer")
}
