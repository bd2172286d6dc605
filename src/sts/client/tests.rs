//! The STS client's tests: the signed request against the official SDK's
//! shape, and how each STS answer is read.

use super::*;
use chrono::TimeZone;
use reqwest::header::{HeaderMap, HeaderValue};

fn caller() -> Credentials {
    Credentials::new("STS.caller", "callersecret", Some("caller-token".into()))
}

fn req() -> AssumeRoleRequest {
    AssumeRoleRequest {
        role_arn: "acs:ram::123456789012:role/upload".into(),
        role_session_name: "u-1".into(),
        duration_seconds: 900,
        policy: Some(r#"{"Version":"1","Statement":[]}"#.into()),
    }
}

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2024, 5, 1, 12, 0, 0).unwrap()
}

#[test]
fn signed_request_shape() {
    let s = build_signed_request("http://127.0.0.1:8080", &caller(), &req(), now(), "n1").unwrap();
    assert_eq!(s.method, "POST");
    assert!(s
        .url
        .starts_with("http://127.0.0.1:8080/?DurationSeconds=900&Policy=%7B%22Version"));
    let h = |name: &str| {
        s.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    assert_eq!(h("host"), Some("127.0.0.1:8080"));
    assert_eq!(h("x-acs-date"), Some("2024-05-01T12:00:00Z"));
    assert_eq!(h("x-acs-security-token"), Some("caller-token"));
    assert_eq!(h("x-acs-accesskey-id"), Some("STS.caller"));
    let auth = h("authorization").unwrap();
    assert!(auth.starts_with("ACS3-HMAC-SHA256 Credential=STS.caller,SignedHeaders=accept;host;user-agent;x-acs-accesskey-id;x-acs-action;x-acs-content-sha256;x-acs-date;x-acs-security-token;x-acs-signature-nonce;x-acs-version,Signature="), "{auth}");
    assert!(!s.url.contains("caller-token"));
    let dbg = format!("{s:?}");
    assert!(!dbg.contains("caller-token") && !dbg.contains("callersecret"));
}

#[test]
fn no_token_headers_for_long_lived_keys() {
    let c = Credentials::new("LTAIx", "s", None);
    let s = build_signed_request("https://sts.example.com/", &c, &req(), now(), "n").unwrap();
    assert!(s
        .headers
        .iter()
        .all(|(k, _)| k != "x-acs-security-token" && k != "x-acs-accesskey-id"));
    assert!(s.url.starts_with("https://sts.example.com/?"));
    assert_eq!(
        s.headers.iter().find(|(k, _)| k == "host").unwrap().1,
        "sts.example.com"
    );
}

#[test]
fn bad_endpoint_is_config_error() {
    for bad in [
        "not a url",
        "ftp://sts.example.com",
        "https://sts.example.com/sts",
        "https://sts.example.com/?a=b",
        "https://u:p@sts.example.com",
    ] {
        let e = StsClient::new(StsClientConfig::new(bad)).unwrap_err();
        assert_eq!(e.code(), "StsMisconfigured", "{bad}");
        assert_eq!(e.http_status(), 500);
    }
    assert!(StsClient::new(StsClientConfig::new("https://sts.cn-hangzhou.aliyuncs.com")).is_ok());
    assert!(StsClient::new(StsClientConfig::new("http://127.0.0.1:9/")).is_ok());
}

#[test]
fn ok_body_parses() {
    let body = br#"{"RequestId":"R1","AssumedRoleUser":{"Arn":"a","AssumedRoleId":"b"},"Credentials":{"AccessKeyId":"STS.k","AccessKeySecret":"sec","SecurityToken":"tok","Expiration":"2015-04-09T11:52:19Z"}}"#;
    let r = interpret(200, &HeaderMap::new(), body).unwrap();
    assert_eq!(r.credentials.access_key_id, "STS.k");
    assert_eq!(r.expiration_text, "2015-04-09T11:52:19Z");
    assert_eq!(
        r.expiration,
        Utc.with_ymd_and_hms(2015, 4, 9, 11, 52, 19).unwrap()
    );
    assert_eq!(r.request_id.as_deref(), Some("R1"));
}

#[test]
fn error_mapping() {
    let h = HeaderMap::new();
    let e = interpret(
        403,
        &h,
        br#"{"RequestId":"R","Code":"NoPermission","Message":"no"}"#,
    )
    .unwrap_err();
    assert_eq!(
        (e.http_status(), e.code(), e.upstream_code()),
        (502, "StsRejected", Some("NoPermission"))
    );
    assert_eq!(e.request_id(), Some("R"));

    let e = interpret(404, &h, br#"{"Code":"EntityNotExist.Role","Message":"x"}"#).unwrap_err();
    assert_eq!(e.upstream_code(), Some("EntityNotExist.Role"));

    let e = interpret(400, &h, br#"{"Code":"Throttling.User","Message":"x"}"#).unwrap_err();
    assert_eq!(
        (e.http_status(), e.retry_after_secs()),
        (503, Some(DEFAULT_RETRY_AFTER_SECS))
    );

    let mut h2 = HeaderMap::new();
    h2.insert("x-acs-retry-after", HeaderValue::from_static("2500"));
    let e = interpret(429, &h2, b"").unwrap_err();
    assert_eq!((e.http_status(), e.retry_after_secs()), (503, Some(3)));

    let e = interpret(500, &h, br#"{"Code":"InternalError"}"#).unwrap_err();
    assert_eq!((e.http_status(), e.code()), (502, "StsUpstreamError"));

    let e = interpret(200, &h, b"<html>").unwrap_err();
    assert_eq!((e.http_status(), e.code()), (502, "StsBadResponse"));
    let e = interpret(400, &h, b"<html>").unwrap_err();
    assert_eq!(e.code(), "StsBadResponse");
    let e = interpret(200, &h, br#"{"Credentials":{"AccessKeyId":"a","AccessKeySecret":"b","SecurityToken":"c","Expiration":"soon"}}"#).unwrap_err();
    assert_eq!(e.code(), "StsBadResponse");
}

#[test]
fn retry_after_is_clamped() {
    let secs = |pairs: &[(&'static str, &'static str)]| {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_static(v));
        }
        interpret(429, &h, b"")
            .unwrap_err()
            .retry_after_secs()
            .unwrap()
    };
    assert_eq!(secs(&[]), DEFAULT_RETRY_AFTER_SECS);
    assert_eq!(secs(&[("retry-after", "0")]), 1);
    assert_eq!(secs(&[("retry-after", " 7 ")]), 7);
    assert_eq!(secs(&[("retry-after", "60")]), 60);
    assert_eq!(secs(&[("retry-after", "61")]), 60);
    assert_eq!(secs(&[("retry-after", "999999999")]), 60);
    assert_eq!(secs(&[("retry-after", "99999999999999999999999")]), 60);
    // HTTP-date form and other non-numbers: the default.
    assert_eq!(
        secs(&[("retry-after", "Wed, 21 Oct 2015 07:28:00 GMT")]),
        DEFAULT_RETRY_AFTER_SECS
    );
    assert_eq!(secs(&[("retry-after", "-5")]), DEFAULT_RETRY_AFTER_SECS);
    assert_eq!(secs(&[("retry-after", "1.5")]), DEFAULT_RETRY_AFTER_SECS);
    // `x-acs-retry-after` is milliseconds.
    assert_eq!(secs(&[("x-acs-retry-after", "0")]), 1);
    assert_eq!(secs(&[("x-acs-retry-after", "2500")]), 3);
    assert_eq!(secs(&[("x-acs-retry-after", "999999999")]), 60);
    assert_eq!(
        secs(&[("x-acs-retry-after", "+1000")]),
        DEFAULT_RETRY_AFTER_SECS
    );
    // The standard header wins; a date there falls back to the SDK one.
    assert_eq!(
        secs(&[("retry-after", "5"), ("x-acs-retry-after", "30000")]),
        5
    );
    assert_eq!(
        secs(&[
            ("retry-after", "Wed, 21 Oct 2015 07:28:00 GMT"),
            ("x-acs-retry-after", "30000")
        ]),
        30
    );
}

#[test]
fn error_text_is_bounded() {
    let long = "m".repeat(5000);
    let body = format!(r#"{{"Code":"InvalidParameter","Message":"{long}"}}"#);
    let e = interpret(400, &HeaderMap::new(), body.as_bytes()).unwrap_err();
    assert!(e.to_string().len() < MAX_MESSAGE + 100);
}
