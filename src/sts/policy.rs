//! Session policies and session names for `AssumeRole`: the upload-only
//! policy, the read-back and status policies, and the upload check's.
//!
//! The session policy is what makes an STS token least-privilege: the token's
//! effective permission is (role policy) ∩ (session policy), so even if the
//! upload role can write the whole bucket, a token minted with this policy can
//! only write under the caller's prefix.

use std::fmt;

use serde::Serialize;

/// Longest session policy STS accepts (`Policy`, 1–2048 characters). We count
/// bytes, which is never less than characters, so we stay inside both the
/// current (characters) and the 2021 (bytes) wording of the limit.
pub const MAX_POLICY_LEN: usize = 2048;

/// Longest `RoleSessionName` STS accepts (current limit; it was 32 until ~2022).
pub const MAX_SESSION_NAME_LEN: usize = 64;

/// The OSS actions an uploading client needs: `PutObject` (also covers
/// PostObject and the multipart Initiate/UploadPart/Complete calls),
/// `ListParts` (resumable uploads) and `AbortMultipartUpload` (clean-up).
pub const UPLOAD_ACTIONS: [&str; 3] =
    ["oss:PutObject", "oss:ListParts", "oss:AbortMultipartUpload"];

/// Why a session policy could not be built. Each case would otherwise become
/// either an STS rejection at request time or, worse, a wider grant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PolicyError {
    /// The bucket name is not a valid OSS bucket name (3–63 of `a-z0-9-`,
    /// not starting or ending with `-`).
    InvalidBucket,
    /// The prefix is empty, which would grant the whole bucket.
    EmptyPrefix,
    /// The bucket or prefix holds `*` or `?`, which RAM treats as wildcards and
    /// which would widen the grant beyond the caller's prefix.
    Wildcard,
    /// serde_json failed to serialize the document (not expected for plain strings).
    Serialization,
    /// The serialized policy is longer than [`MAX_POLICY_LEN`] bytes.
    TooLong {
        /// Length of the serialized policy in bytes.
        len: usize,
    },
}

impl fmt::Display for PolicyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PolicyError::InvalidBucket => f.write_str("invalid OSS bucket name"),
            PolicyError::EmptyPrefix => {
                f.write_str("empty upload prefix would grant the whole bucket")
            }
            PolicyError::Wildcard => {
                f.write_str("bucket or prefix contains a RAM wildcard ('*' or '?')")
            }
            PolicyError::Serialization => f.write_str("session policy could not be serialized"),
            PolicyError::TooLong { len } => write!(
                f,
                "session policy is {len} bytes; STS accepts at most {MAX_POLICY_LEN}"
            ),
        }
    }
}

impl std::error::Error for PolicyError {}

// Field order is the order serde writes, so the JSON reads the way RAM docs
// show it (Version first) without needing serde_json's preserve_order.
#[derive(Serialize)]
struct PolicyDoc<'a> {
    #[serde(rename = "Version")]
    version: &'a str,
    #[serde(rename = "Statement")]
    statement: [Statement<'a>; 1],
}

#[derive(Serialize)]
struct Statement<'a> {
    #[serde(rename = "Effect")]
    effect: &'a str,
    #[serde(rename = "Action")]
    action: &'a [&'a str],
    #[serde(rename = "Resource")]
    resource: [String; 1],
}

/// Builds the upload-only session policy for `bucket` and `prefix`:
/// `oss:PutObject`, `oss:ListParts`, `oss:AbortMultipartUpload` on
/// `acs:oss:*:*:<bucket>/<prefix>*`.
///
/// Why a Result: the prefix usually embeds a user id, so it is validated here
/// (no wildcards, not empty) and JSON-escaped by serde_json, and the result is
/// checked against STS's length limit before any network call.
pub fn upload_session_policy(bucket: &str, prefix: &str) -> Result<String, PolicyError> {
    session_policy(bucket, prefix, &UPLOAD_ACTIONS)
}

/// A session policy allowing exactly `actions` on the objects under
/// `<bucket>/<prefix>`. Uploads use [`UPLOAD_ACTIONS`]; reading one's own
/// uploads back (presigned GET) uses `oss:GetObject` alone, in its own
/// credentials, so upload credentials never carry read access.
pub fn session_policy(bucket: &str, prefix: &str, actions: &[&str]) -> Result<String, PolicyError> {
    if !crate::oss::valid_bucket_name(bucket) {
        return Err(PolicyError::InvalidBucket);
    }
    if prefix.is_empty() {
        return Err(PolicyError::EmptyPrefix);
    }
    if prefix.contains(['*', '?']) {
        return Err(PolicyError::Wildcard);
    }
    let doc = PolicyDoc {
        version: "1",
        statement: [Statement {
            effect: "Allow",
            action: actions,
            resource: [format!("acs:oss:*:*:{bucket}/{prefix}*")],
        }],
    };
    let json = serde_json::to_string(&doc).map_err(|_| PolicyError::Serialization)?;
    if json.len() > MAX_POLICY_LEN {
        return Err(PolicyError::TooLong { len: json.len() });
    }
    Ok(json)
}

/// The RAM actions the check's scoped credentials get on the upload prefix:
/// HeadObject and the ranged GET (`oss:GetObject`), reading and writing the
/// verdict (`oss:GetObjectTagging`, `oss:PutObjectTagging`), and removing a
/// rejected object (`oss:DeleteObject`). Nothing else: no list, no write.
pub const CHECK_ACTIONS: [&str; 4] = [
    "oss:GetObject",
    "oss:GetObjectTagging",
    "oss:PutObjectTagging",
    "oss:DeleteObject",
];

/// On the quarantine prefix: CopyObject's destination write with its tags.
pub const QUARANTINE_ACTIONS: [&str; 2] = ["oss:PutObject", "oss:PutObjectTagging"];

/// The session policy of the upload check's credentials (see
/// [`crate::check`]): [`CHECK_ACTIONS`] on
/// `<bucket>/<prefix>*` for each upload profile's prefix, plus
/// [`QUARANTINE_ACTIONS`] on `<bucket>/<QUARANTINE_PREFIX>*` when one is
/// configured.
pub fn check_policy(bucket: &str, prefixes: &[&str], quarantine: Option<&str>) -> String {
    let resources: Vec<String> = prefixes
        .iter()
        .map(|p| format!("acs:oss:*:*:{bucket}/{p}*"))
        .collect();
    use serde_json::json;
    let mut statements = vec![json!({
        "Effect": "Allow",
        "Action": CHECK_ACTIONS,
        "Resource": resources,
    })];
    if let Some(q) = quarantine {
        statements.push(json!({
            "Effect": "Allow",
            "Action": QUARANTINE_ACTIONS,
            "Resource": [format!("acs:oss:*:*:{bucket}/{q}*")],
        }));
    }
    json!({"Version": "1", "Statement": statements}).to_string()
}

/// Turns a hint (e.g. a user id) into a valid, distinguishable `RoleSessionName`.
///
/// STS allows 2–64 characters of `[A-Za-z0-9.@_-]`; anything else becomes `_`.
/// A random 8-hex-digit suffix makes concurrent sessions for the same hint
/// tell apart in ActionTrail, and the hint is truncated so the whole name fits.
/// An empty hint becomes `session`.
pub fn role_session_name(hint: &str) -> String {
    const SUFFIX_LEN: usize = 9; // '-' + 8 hex digits
    let hint = if hint.is_empty() { "session" } else { hint };
    let mut name: String = hint
        .chars()
        .take(MAX_SESSION_NAME_LEN - SUFFIX_LEN)
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '@' | '_' | '-') {
                c
            } else {
                '_'
            }
        })
        .collect();
    let suffix: u32 = rand::random();
    name.push_str(&format!("-{suffix:08x}"));
    name
}

/// Whether `name` satisfies STS's `RoleSessionName` rule. Used by tests and by
/// callers that take a session name from configuration.
pub fn is_valid_role_session_name(name: &str) -> bool {
    (2..=MAX_SESSION_NAME_LEN).contains(&name.len())
        && name
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'@' | b'_' | b'-'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy_exact_shape() {
        let p = upload_session_policy("mybucket", "uploads/user123/").unwrap();
        assert_eq!(
            p,
            r#"{"Version":"1","Statement":[{"Effect":"Allow","Action":["oss:PutObject","oss:ListParts","oss:AbortMultipartUpload"],"Resource":["acs:oss:*:*:mybucket/uploads/user123/*"]}]}"#
        );
        let v: serde_json::Value = serde_json::from_str(&p).unwrap();
        assert_eq!(v["Statement"][0]["Action"].as_array().unwrap().len(), 3);
    }

    #[test]
    fn policy_escapes_json() {
        let p = upload_session_policy("b-1", "u/\"x\\y\n/").unwrap();
        let v: serde_json::Value = serde_json::from_str(&p).unwrap();
        assert_eq!(
            v["Statement"][0]["Resource"][0],
            "acs:oss:*:*:b-1/u/\"x\\y\n/*"
        );
    }

    #[test]
    fn policy_rejects_bad_input() {
        assert_eq!(
            upload_session_policy("mybucket", ""),
            Err(PolicyError::EmptyPrefix)
        );
        assert_eq!(
            upload_session_policy("mybucket", "a*/"),
            Err(PolicyError::Wildcard)
        );
        assert_eq!(
            upload_session_policy("mybucket", "a?/"),
            Err(PolicyError::Wildcard)
        );
        assert_eq!(
            upload_session_policy("My_Bucket", "a/"),
            Err(PolicyError::InvalidBucket)
        );
        assert_eq!(
            upload_session_policy("b/x", "a/"),
            Err(PolicyError::InvalidBucket)
        );
    }

    #[test]
    fn policy_length_limit() {
        let fixed = upload_session_policy("abc", "x").unwrap().len() - 1;
        let ok = "p".repeat(MAX_POLICY_LEN - fixed);
        assert_eq!(
            upload_session_policy("abc", &ok).unwrap().len(),
            MAX_POLICY_LEN
        );
        let over = "p".repeat(MAX_POLICY_LEN - fixed + 1);
        assert_eq!(
            upload_session_policy("abc", &over),
            Err(PolicyError::TooLong {
                len: MAX_POLICY_LEN + 1
            })
        );
    }

    #[test]
    fn session_name_valid_and_unique() {
        for hint in ["", "a", "user 42/ü:x", &"z".repeat(500), "ok.name@corp_x-1"] {
            let n = role_session_name(hint);
            assert!(is_valid_role_session_name(&n), "{n}");
        }
        let n = role_session_name("user 42/ü");
        assert!(n.starts_with("user_42__-"), "{n}");
        assert_eq!(
            role_session_name(&"z".repeat(500)).len(),
            MAX_SESSION_NAME_LEN
        );
        assert!(role_session_name("ok.name@corp_x-1").starts_with("ok.name@corp_x-1-"));
        assert_ne!(role_session_name("u"), role_session_name("u"));
    }

    #[test]
    fn session_name_validator() {
        assert!(!is_valid_role_session_name("a"));
        assert!(!is_valid_role_session_name("a b"));
        assert!(!is_valid_role_session_name(&"a".repeat(65)));
        assert!(is_valid_role_session_name("ab"));
    }

    #[test]
    fn check_policy_grants_exactly_the_check() {
        let p: serde_json::Value =
            serde_json::from_str(&check_policy("b-1", &["uploads/"], Some("quarantine/"))).unwrap();
        assert_eq!(
            p["Statement"][0]["Action"],
            serde_json::json!(CHECK_ACTIONS)
        );
        assert_eq!(
            p["Statement"][0]["Resource"],
            serde_json::json!(["acs:oss:*:*:b-1/uploads/*"])
        );
        assert_eq!(
            p["Statement"][1]["Action"],
            serde_json::json!(["oss:PutObject", "oss:PutObjectTagging"])
        );
        assert_eq!(
            p["Statement"][1]["Resource"],
            serde_json::json!(["acs:oss:*:*:b-1/quarantine/*"])
        );
        let p: serde_json::Value =
            serde_json::from_str(&check_policy("b-1", &["uploads/", "avatars/"], None)).unwrap();
        assert_eq!(p["Statement"].as_array().unwrap().len(), 1);
        assert_eq!(
            p["Statement"][0]["Resource"],
            serde_json::json!(["acs:oss:*:*:b-1/uploads/*", "acs:oss:*:*:b-1/avatars/*"])
        );
    }
}
