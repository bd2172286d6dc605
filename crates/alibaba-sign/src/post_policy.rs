//! PostObject (HTML form upload) policies and their V1/V4 signatures.
//!
//! A POST policy is the only OSS mechanism that can bound an upload's size
//! (`content-length-range`) and constrain the key by prefix, which is why browsers get
//! this form rather than a presigned PUT when limits matter. Format and field rules are
//! in the research notes §3.

use base64::Engine as _;
use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::credentials::Credentials;
use crate::oss_v4 as v4;
use crate::{hmac_sha1, hmac_sha256};

/// One policy condition. Field names are given without the `$`; the renderer adds it
/// where OSS wants a `$field` reference (a leading `$` is tolerated, never doubled).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Condition {
    /// `{"field":"value"}`: the form field must equal `value` exactly.
    Exact(String, String),
    /// `["eq","$field","value"]`: same meaning as [`Condition::Exact`], array syntax.
    Eq(String, String),
    /// `["starts-with","$field","prefix"]`: e.g. confine `key` to a user's prefix.
    StartsWith(String, String),
    /// `["content-length-range",min,max]`: object size bounds in bytes, inclusive.
    ContentLengthRange(u64, u64),
    /// `["in","$field",["a","b"]]`: the field must be one of the values.
    In(String, Vec<String>),
    /// `["not-in","$field",["a"]]`: the field must be none of the values.
    NotIn(String, Vec<String>),
}

impl Condition {
    /// The name of the form field this condition constrains, if any, without `$`.
    pub fn field(&self) -> Option<&str> {
        match self {
            Condition::Exact(f, _)
            | Condition::Eq(f, _)
            | Condition::StartsWith(f, _)
            | Condition::In(f, _)
            | Condition::NotIn(f, _) => Some(f.strip_prefix('$').unwrap_or(f)),
            Condition::ContentLengthRange(..) => None,
        }
    }

    /// The condition as compact JSON.
    fn to_json(&self) -> String {
        fn js(s: &str) -> String {
            // Display on a Value is infallible and escapes exactly like JSON.stringify
            // (only `"`, `\` and control characters; non-ASCII stays raw).
            Value::String(s.to_string()).to_string()
        }
        fn dollar(f: &str) -> String {
            js(&format!("${}", f.strip_prefix('$').unwrap_or(f)))
        }
        fn list(vs: &[String]) -> String {
            let items: Vec<String> = vs.iter().map(|v| js(v)).collect();
            format!("[{}]", items.join(","))
        }
        match self {
            Condition::Exact(f, v) => format!("{{{}:{}}}", js(f), js(v)),
            Condition::Eq(f, v) => format!("[\"eq\",{},{}]", dollar(f), js(v)),
            Condition::StartsWith(f, v) => format!("[\"starts-with\",{},{}]", dollar(f), js(v)),
            Condition::ContentLengthRange(min, max) => {
                format!("[\"content-length-range\",{min},{max}]")
            }
            Condition::In(f, vs) => format!("[\"in\",{},{}]", dollar(f), list(vs)),
            Condition::NotIn(f, vs) => format!("[\"not-in\",{},{}]", dollar(f), list(vs)),
        }
    }
}

/// The policy JSON text: `{"expiration":"YYYY-MM-DDTHH:MM:SS.000Z","conditions":[...]}`,
/// compact, keys in that order, conditions in the given order.
///
/// Compact and JSON.stringify-compatible on purpose: ali-oss re-serialises a policy
/// with `JSON.stringify(JSON.parse(..))` before signing, so matching that output lets
/// us cross-check signatures byte for byte.
pub fn policy_document(expiration: DateTime<Utc>, conditions: &[Condition]) -> String {
    let items: Vec<String> = conditions.iter().map(Condition::to_json).collect();
    format!(
        "{{\"expiration\":\"{}\",\"conditions\":[{}]}}",
        expiration.format("%Y-%m-%dT%H:%M:%S.000Z"),
        items.join(",")
    )
}

/// Base64 of the policy text, the value of the `policy` form field and the message
/// both signature versions sign.
pub fn encode_policy(policy_json: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(policy_json.as_bytes())
}

/// V1 `Signature` field: base64 HMAC-SHA1 of the *base64* policy text.
pub fn sign_v1(secret: &str, policy_b64: &str) -> String {
    base64::engine::general_purpose::STANDARD
        .encode(hmac_sha1(secret.as_bytes(), policy_b64.as_bytes()))
}

/// V4 `x-oss-signature` field: hex HMAC-SHA256 of the base64 policy text under the V4
/// signing key for (`date_yyyymmdd`, bare `region`, `oss`). The date must be the day
/// of the `x-oss-date` field.
pub fn sign_v4(secret: &str, date_yyyymmdd: &str, region: &str, policy_b64: &str) -> String {
    let key = v4::signing_key(secret, date_yyyymmdd, region, v4::PRODUCT);
    hex::encode(hmac_sha256(&key, policy_b64.as_bytes()))
}

/// A ready-to-post form: the browser sends `fields` in order as multipart parts, then
/// the `file` part last (OSS rejects a `key` after `file`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostForm {
    /// Every form field in order, with `policy` already base64-encoded.
    pub fields: Vec<(String, String)>,
    /// The policy JSON text (handy for logging and for clients that show limits).
    pub policy: String,
    /// When the policy stops being accepted.
    pub expiration: DateTime<Utc>,
}

/// Adds `{"key": key}` unless a caller condition already constrains `key`: a policy
/// without any key condition lets the holder write *any* object in the bucket, because
/// the `key` form field is under the uploader's control.
fn with_key_guard(key: &str, mut conditions: Vec<Condition>) -> Vec<Condition> {
    if !conditions.iter().any(|c| c.field() == Some("key")) {
        conditions.push(Condition::Exact("key".into(), key.into()));
    }
    conditions
}

/// The end both versions share: the security token field (STS), then the
/// caller's extra fields, after the signature fields.
fn finish_form(
    mut fields: Vec<(String, String)>,
    creds: &Credentials,
    extra_fields: &[(String, String)],
    policy: String,
    expiration: DateTime<Utc>,
) -> PostForm {
    if let Some(token) = &creds.security_token {
        fields.push(("x-oss-security-token".to_string(), token.clone()));
    }
    fields.extend(extra_fields.iter().cloned());
    PostForm {
        fields,
        policy,
        expiration,
    }
}

/// A V1 (HMAC-SHA1) PostObject form.
///
/// Policy conditions: `{"bucket"}` (so the form cannot be replayed against another
/// bucket the same credentials reach), `{"x-oss-security-token"}` with STS
/// credentials, then `conditions` (plus `{"key"}` if they leave the key
/// unconstrained). Fields: `key`, `policy`, `OSSAccessKeyId`, `Signature`,
/// `x-oss-security-token` (STS), then `extra_fields` (`success_action_status`,
/// `Content-Type`, `x-oss-forbid-overwrite`, ...), each as given.
pub fn post_form_v1(
    creds: &Credentials,
    bucket: &str,
    key: &str,
    conditions: Vec<Condition>,
    expiration: DateTime<Utc>,
    extra_fields: &[(String, String)],
) -> PostForm {
    let mut all = vec![Condition::Exact("bucket".into(), bucket.into())];
    if let Some(token) = &creds.security_token {
        all.push(Condition::Exact(
            "x-oss-security-token".into(),
            token.clone(),
        ));
    }
    all.extend(with_key_guard(key, conditions));
    let policy = policy_document(expiration, &all);
    let policy_b64 = encode_policy(&policy);
    let signature = sign_v1(&creds.access_key_secret, &policy_b64);

    let fields = vec![
        ("key".to_string(), key.to_string()),
        ("policy".to_string(), policy_b64),
        ("OSSAccessKeyId".to_string(), creds.access_key_id.clone()),
        ("Signature".to_string(), signature),
    ];
    finish_form(fields, creds, extra_fields, policy, expiration)
}

/// A V4 (OSS4-HMAC-SHA256) PostObject form, signed at `now` for bare `region`.
///
/// As the official samples do, the V4 auth values are both policy conditions and form
/// fields. Conditions: `{"bucket"}`, `{"x-oss-signature-version"}`,
/// `{"x-oss-credential"}`, `{"x-oss-date"}`, `{"x-oss-security-token"}` (STS), then
/// `conditions` (plus `{"key"}` if they leave the key unconstrained). Fields: `key`,
/// `policy`, `x-oss-signature-version`, `x-oss-credential`, `x-oss-date`,
/// `x-oss-signature`, `x-oss-security-token` (STS), then `extra_fields`.
/// OSS wants `expiration` within 7 days of `now`; callers enforce that.
#[allow(clippy::too_many_arguments)]
pub fn post_form_v4(
    creds: &Credentials,
    region: &str,
    bucket: &str,
    key: &str,
    conditions: Vec<Condition>,
    now: DateTime<Utc>,
    expiration: DateTime<Utc>,
    extra_fields: &[(String, String)],
) -> PostForm {
    let datetime = v4::format_datetime(now);
    let date = &datetime[..8];
    let credential = format!(
        "{}/{}",
        creds.access_key_id,
        v4::scope(date, region, v4::PRODUCT)
    );
    let mut all = vec![
        Condition::Exact("bucket".into(), bucket.into()),
        Condition::Exact("x-oss-signature-version".into(), v4::ALGORITHM.into()),
        Condition::Exact("x-oss-credential".into(), credential.clone()),
        Condition::Exact("x-oss-date".into(), datetime.clone()),
    ];
    if let Some(token) = &creds.security_token {
        all.push(Condition::Exact(
            "x-oss-security-token".into(),
            token.clone(),
        ));
    }
    all.extend(with_key_guard(key, conditions));
    let policy = policy_document(expiration, &all);
    let policy_b64 = encode_policy(&policy);
    let signature = sign_v4(&creds.access_key_secret, date, region, &policy_b64);

    let fields = vec![
        ("key".to_string(), key.to_string()),
        ("policy".to_string(), policy_b64),
        (
            "x-oss-signature-version".to_string(),
            v4::ALGORITHM.to_string(),
        ),
        ("x-oss-credential".to_string(), credential),
        ("x-oss-date".to_string(), datetime),
        ("x-oss-signature".to_string(), signature),
    ];
    finish_form(fields, creds, extra_fields, policy, expiration)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn get<'a>(f: &'a PostForm, k: &str) -> Option<&'a str> {
        f.fields
            .iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.as_str())
    }

    #[test]
    fn renders_every_condition_form() {
        let exp = Utc.with_ymd_and_hms(2014, 12, 1, 12, 0, 0).unwrap();
        let doc = policy_document(
            exp,
            &[
                Condition::Exact("bucket".into(), "b".into()),
                Condition::Eq("x-oss-forbid-overwrite".into(), "true".into()),
                Condition::StartsWith("$key".into(), "user/\"q\"/".into()),
                Condition::ContentLengthRange(1, 1024),
                Condition::In("content-type".into(), vec!["image/png".into(), "é".into()]),
                Condition::NotIn("content-type".into(), vec!["text/html".into()]),
            ],
        );
        assert_eq!(
            doc,
            r#"{"expiration":"2014-12-01T12:00:00.000Z","conditions":[{"bucket":"b"},["eq","$x-oss-forbid-overwrite","true"],["starts-with","$key","user/\"q\"/"],["content-length-range",1,1024],["in","$content-type",["image/png","é"]],["not-in","$content-type",["text/html"]]]}"#
        );
        // Valid JSON.
        assert!(serde_json::from_str::<Value>(&doc).is_ok());
    }

    /// Research notes §3, [derived] V1 vector.
    #[test]
    fn vector_v1() {
        let exp = Utc.with_ymd_and_hms(2014, 12, 1, 12, 0, 0).unwrap();
        let doc = policy_document(
            exp,
            &[
                Condition::Exact("bucket".into(), "johnsmith".into()),
                Condition::StartsWith("key".into(), "user/eric/".into()),
            ],
        );
        let b64 = encode_policy(&doc);
        assert_eq!(b64, "eyJleHBpcmF0aW9uIjoiMjAxNC0xMi0wMVQxMjowMDowMC4wMDBaIiwiY29uZGl0aW9ucyI6W3siYnVja2V0Ijoiam9obnNtaXRoIn0sWyJzdGFydHMtd2l0aCIsIiRrZXkiLCJ1c2VyL2VyaWMvIl1dfQ==");
        assert_eq!(sign_v1("sk", &b64), "dpKSRMoL0aqf4NRGyH4VO/YOsyY=");
    }

    /// Research notes §3, [derived] V4 vector, rebuilt through `post_form_v4`.
    #[test]
    fn vector_v4() {
        let creds = Credentials::new("ak", "sk", None);
        let now = Utc.with_ymd_and_hms(2023, 12, 17, 3, 0, 0).unwrap();
        let exp = Utc.with_ymd_and_hms(2023, 12, 17, 4, 0, 0).unwrap();
        let form = post_form_v4(
            &creds,
            "cn-hangzhou",
            "bucket",
            "k",
            vec![
                Condition::ContentLengthRange(1, 1024),
                Condition::StartsWith("key".into(), "".into()),
            ],
            now,
            exp,
            &[],
        );
        // The vector has no key condition; ours adds starts-with "" only to keep the
        // key guard out, so check the vector on the policy it publishes.
        let vector = r#"{"expiration":"2023-12-17T04:00:00.000Z","conditions":[{"bucket":"bucket"},{"x-oss-signature-version":"OSS4-HMAC-SHA256"},{"x-oss-credential":"ak/20231217/cn-hangzhou/oss/aliyun_v4_request"},{"x-oss-date":"20231217T030000Z"},["content-length-range",1,1024]]}"#;
        assert!(form.policy.starts_with(&vector[..vector.len() - 2]));
        assert_eq!(
            sign_v4("sk", "20231217", "cn-hangzhou", &encode_policy(vector)),
            "d9d2a7b82b153576cc411c4402342db36d3a52bf79461ef95f5ccd2d7f8f96b0"
        );
        let names: Vec<&str> = form.fields.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(
            names,
            [
                "key",
                "policy",
                "x-oss-signature-version",
                "x-oss-credential",
                "x-oss-date",
                "x-oss-signature"
            ]
        );
        assert_eq!(get(&form, "x-oss-date"), Some("20231217T030000Z"));
        assert_eq!(
            get(&form, "x-oss-signature").map(str::to_string),
            Some(sign_v4(
                "sk",
                "20231217",
                "cn-hangzhou",
                get(&form, "policy").unwrap()
            ))
        );
    }

    #[test]
    fn v1_form_with_sts_and_key_guard() {
        let creds = Credentials::new("STS.ak", "sk", Some("tok".into()));
        let exp = Utc.with_ymd_and_hms(2030, 1, 1, 0, 0, 0).unwrap();
        let extra = [("success_action_status".to_string(), "201".to_string())];
        let form = post_form_v1(&creds, "b", "u/1.png", vec![], exp, &extra);
        assert_eq!(
            form.policy,
            r#"{"expiration":"2030-01-01T00:00:00.000Z","conditions":[{"bucket":"b"},{"x-oss-security-token":"tok"},{"key":"u/1.png"}]}"#
        );
        let names: Vec<&str> = form.fields.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(
            names,
            [
                "key",
                "policy",
                "OSSAccessKeyId",
                "Signature",
                "x-oss-security-token",
                "success_action_status"
            ]
        );
        assert_eq!(
            get(&form, "Signature").map(str::to_string),
            Some(sign_v1("sk", &encode_policy(&form.policy)))
        );
        assert_ne!(sign_v1("sk", "a"), sign_v1("sk", "b"));
    }
}
