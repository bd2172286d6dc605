//! PostObject: browser form uploads authorized by a signed POST policy (V1 or V4).
//!
//! The form is parsed, the policy signature recomputed with the crate's
//! signers, and every policy condition enforced, so a policy the product
//! hands out is exactly as permissive here as on OSS.

use base64::Engine as _;
use bytes::Bytes;
use chrono::DateTime;
use http::StatusCode;
use serde_json::Value;

use super::auth::{parse_credential, parse_iso_basic, resolve, unknown_key, Principal};
use super::body::BodyStream;
use super::sts::{KeyRing, MAX_SKEW_SECS};
use super::wire::ct_eq;
use super::xml::OssError;
use alibaba_sign::{oss_v4 as v4, post_policy};

/// A parsed `multipart/form-data` PostObject body.
#[derive(Debug, Default)]
pub(crate) struct PostForm {
    /// Form fields before `file`, names as sent.
    pub fields: Vec<(String, String)>,
    pub file_name: String,
    pub file_type: Option<String>,
    /// Size of the file field once it has been received; `None` before, and
    /// then the policy's `content-length-range` is not checked yet.
    pub file_size: Option<u64>,
}

impl PostForm {
    /// Case-insensitive field lookup (OSS treats form field names so).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

fn form_error(m: impl Into<String>) -> OssError {
    OssError::invalid_argument(m)
}

/// Most bytes the fields before `file` may take together. OSS keeps a
/// PostObject's form small (policy, signature, a few headers); this bound
/// keeps a hostile form from growing memory before it is authenticated.
const MAX_FIELD_BYTES: usize = 1 << 20;

fn multer_error(e: multer::Error, what: &str) -> OssError {
    // A timed-out or broken body surfaces as the stream's own OssError.
    if let multer::Error::StreamReadFailed(inner) = &e {
        if let Some(oe) = inner.downcast_ref::<OssError>() {
            return oe.clone();
        }
    }
    form_error(format!(
        "The body of your POST request is not well-formed multipart/form-data ({what}): {e}"
    ))
}

/// A form whose fields are read, positioned at its `file` field.
pub(crate) struct FormHead {
    pub form: PostForm,
    mp: multer::Multipart<'static>,
    file: multer::Field<'static>,
}

impl FormHead {
    /// The file field's bytes, as they arrive; then [`FormHead::finish`].
    pub fn file_stream(
        &mut self,
    ) -> impl futures_util::Stream<Item = Result<Bytes, OssError>> + '_ {
        futures_util::stream::unfold(&mut self.file, |f| async move {
            match f.chunk().await {
                Ok(Some(b)) => Some((Ok(b), f)),
                Ok(None) => None,
                Err(e) => Some((Err(multer_error(e, "file")), f)),
            }
        })
    }

    /// Checks that nothing but the closing boundary follows the file field.
    pub async fn finish(mut self) -> Result<PostForm, OssError> {
        drop(self.file);
        match self.mp.next_field().await {
            Ok(None) => Ok(self.form),
            Ok(Some(_)) => Err(form_error(
                "The file field must be the last field in a PostObject form.",
            )),
            Err(e) => Err(multer_error(e, "after file")),
        }
    }
}

/// Reads the form's fields up to `file` (which must be present and last)
/// from a streamed body, without reading the file itself.
pub(crate) async fn read_head(content_type: &str, body: BodyStream) -> Result<FormHead, OssError> {
    let boundary = multer::parse_boundary(content_type).map_err(|_| {
        form_error("The body of your POST request is not well-formed multipart/form-data.")
    })?;
    let mut mp = multer::Multipart::new(body, boundary);
    let mut form = PostForm::default();
    let mut total = 0usize;
    loop {
        let field = mp
            .next_field()
            .await
            .map_err(|e| multer_error(e, "fields"))?;
        let Some(mut field) = field else {
            return Err(form_error("Bucket POST must contain a field named 'file'."));
        };
        let name = field.name().unwrap_or_default().to_string();
        if name.eq_ignore_ascii_case("file") {
            form.file_name = field.file_name().unwrap_or_default().to_string();
            form.file_type = field.content_type().map(|m| m.to_string());
            return Ok(FormHead {
                form,
                mp,
                file: field,
            });
        }
        let mut value = Vec::new();
        while let Some(chunk) = field.chunk().await.map_err(|e| multer_error(e, "field"))? {
            total += chunk.len();
            if total > MAX_FIELD_BYTES {
                return Err(form_error(format!(
                    "The form fields before 'file' exceed {MAX_FIELD_BYTES} bytes."
                )));
            }
            value.extend_from_slice(&chunk);
        }
        let v = String::from_utf8(value)
            .map_err(|_| form_error(format!("Form field {name} is not valid UTF-8.")))?;
        form.fields.push((name, v));
    }
}

/// Test helper: the whole form from bytes, file included.
#[cfg(test)]
pub(crate) async fn parse_form(
    content_type: &str,
    body: Bytes,
) -> Result<(PostForm, Bytes), OssError> {
    use futures_util::StreamExt;
    let stream: BodyStream = Box::pin(futures_util::stream::once(async move { Ok(body) }));
    let mut head = read_head(content_type, stream).await?;
    let mut file = Vec::new();
    {
        let mut s = std::pin::pin!(head.file_stream());
        while let Some(c) = s.next().await {
            file.extend_from_slice(&c?);
        }
    }
    let form = head.finish().await?;
    Ok((form, Bytes::from(file)))
}

/// The outcome of checking a PostObject form's credentials and policy.
pub(crate) struct PostAuth {
    pub principal: Principal,
}

fn policy_failed(cond: &Value) -> OssError {
    OssError::access_denied(format!(
        "Invalid according to Policy: Policy Condition failed: {}",
        render(cond)
    ))
}

/// Renders a condition the way OSS quotes it in messages: `["eq", "$key", "a"]`.
fn render(v: &Value) -> String {
    match v {
        Value::Array(a) => format!("[{}]", a.iter().map(render).collect::<Vec<_>>().join(", ")),
        Value::Object(o) => format!(
            "{{{}}}",
            o.iter()
                .map(|(k, v)| format!("{}: {}", Value::String(k.clone()), render(v)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        other => other.to_string(),
    }
}

fn invalid_policy(m: &str) -> OssError {
    OssError::new(
        StatusCode::BAD_REQUEST,
        "InvalidPolicyDocument",
        format!("Invalid Policy: {m}"),
    )
}

/// Value of a `$field` named in a condition: `bucket` is the request's bucket,
/// `key` the key after `${filename}` substitution, others the form field.
fn field_value<'a>(form: &'a PostForm, bucket: &'a str, key: &'a str, name: &str) -> &'a str {
    let n = name.trim_start_matches('$');
    if n.eq_ignore_ascii_case("bucket") {
        bucket
    } else if n.eq_ignore_ascii_case("key") {
        key
    } else {
        form.get(n).unwrap_or_default()
    }
}

/// Checks the signature and every policy condition.
pub(crate) fn authenticate_post(
    form: &PostForm,
    bucket: &str,
    key: &str,
    keys: &KeyRing,
    now: i64,
) -> Result<PostAuth, OssError> {
    let policy_b64 = form.get("policy");
    let v4_mode = form.get("x-oss-signature-version").is_some()
        || form.get("x-oss-credential").is_some()
        || form.get("x-oss-signature").is_some();
    let v1_mode = form.get("OSSAccessKeyId").is_some() || form.get("Signature").is_some();
    if !v4_mode && !v1_mode {
        return Err(OssError::access_denied(
            "You have no right to access this object because of bucket acl.",
        ));
    }
    let policy_b64 = policy_b64.ok_or_else(|| {
        OssError::invalid_argument("Bucket POST must contain a field named 'policy'.")
            .with("ArgumentName", "policy")
    })?;
    let token = form.get("x-oss-security-token").filter(|t| !t.is_empty());

    let principal = if v4_mode {
        let need = |n: &str| {
            form.get(n).ok_or_else(|| {
                OssError::invalid_argument(format!("Bucket POST must contain a field named '{n}'."))
                    .with("ArgumentName", n)
            })
        };
        let version = need("x-oss-signature-version")?;
        if version != v4::ALGORITHM {
            return Err(
                OssError::invalid_argument("Unsupported x-oss-signature-version.")
                    .with("ArgumentName", "x-oss-signature-version")
                    .with("ArgumentValue", version),
            );
        }
        let credential = need("x-oss-credential")?;
        let datetime = need("x-oss-date")?;
        let provided = need("x-oss-signature")?;
        let cred = parse_credential(credential).ok_or_else(|| {
            OssError::invalid_argument("Invalid x-oss-credential.")
                .with("ArgumentName", "x-oss-credential")
                .with("ArgumentValue", credential)
        })?;
        let t = parse_iso_basic(datetime).ok_or_else(|| {
            OssError::invalid_argument("Invalid x-oss-date.")
                .with("ArgumentName", "x-oss-date")
                .with("ArgumentValue", datetime)
        })?;
        if !datetime.starts_with(cred.date) {
            return Err(OssError::access_denied(
                "The date in x-oss-credential does not match the date in x-oss-date.",
            ));
        }
        if t > now + MAX_SKEW_SECS {
            return Err(OssError::new(
                StatusCode::FORBIDDEN,
                "RequestTimeTooSkewed",
                "The difference between the request time and the current time is too large.",
            ));
        }
        if now - t > v4::MAX_EXPIRES_SECS as i64 {
            return Err(OssError::access_denied("Request has expired."));
        }
        let (secret, principal) = resolve(keys, cred.ak, token, now)?;
        let expected = post_policy::sign_v4(&secret, cred.date, cred.region, policy_b64);
        if !ct_eq(&expected, provided) {
            return Err(OssError::new(
                StatusCode::FORBIDDEN,
                "SignatureDoesNotMatch",
                super::auth::SIG_MISMATCH,
            )
            .with("OSSAccessKeyId", cred.ak)
            .with("SignatureProvided", provided)
            .with("StringToSign", policy_b64));
        }
        principal
    } else {
        let ak = form.get("OSSAccessKeyId").ok_or_else(|| unknown_key(""))?;
        let provided = form.get("Signature").ok_or_else(|| {
            OssError::invalid_argument("Bucket POST must contain a field named 'Signature'.")
                .with("ArgumentName", "Signature")
        })?;
        let (secret, principal) = resolve(keys, ak, token, now)?;
        if !ct_eq(&post_policy::sign_v1(&secret, policy_b64), provided) {
            return Err(OssError::new(
                StatusCode::FORBIDDEN,
                "SignatureDoesNotMatch",
                super::auth::SIG_MISMATCH,
            )
            .with("OSSAccessKeyId", ak)
            .with("SignatureProvided", provided)
            .with("StringToSign", policy_b64));
        }
        principal
    };

    check_policy(form, bucket, key, policy_b64, v4_mode, now)?;
    Ok(PostAuth { principal })
}

/// Decodes the policy and enforces expiration and every condition.
pub(crate) fn check_policy(
    form: &PostForm,
    bucket: &str,
    key: &str,
    policy_b64: &str,
    v4_mode: bool,
    now: i64,
) -> Result<(), OssError> {
    let raw = base64::engine::general_purpose::STANDARD
        .decode(policy_b64.trim())
        .map_err(|_| invalid_policy("Policy is not valid base64."))?;
    let doc: Value = serde_json::from_slice(&raw).map_err(|_| invalid_policy("Invalid JSON."))?;
    let expiration = doc
        .get("expiration")
        .and_then(Value::as_str)
        .ok_or_else(|| invalid_policy("Policy missing expiration."))?;
    let exp = DateTime::parse_from_rfc3339(expiration)
        .map_err(|_| invalid_policy("Invalid expiration format."))?
        .timestamp();
    if exp < now {
        return Err(OssError::access_denied(
            "Invalid according to Policy: Policy expired.",
        ));
    }
    let conditions = doc
        .get("conditions")
        .and_then(Value::as_array)
        .ok_or_else(|| invalid_policy("Policy missing conditions."))?;

    let mut covered_v4 = [false; 3];
    const V4_FIELDS: [&str; 3] = ["x-oss-signature-version", "x-oss-credential", "x-oss-date"];
    for cond in conditions {
        match cond {
            Value::Object(o) => {
                for (name, want) in o {
                    let want = want
                        .as_str()
                        .ok_or_else(|| invalid_policy("Condition value must be a string."))?;
                    let have = field_value(form, bucket, key, name);
                    if have != want {
                        return Err(policy_failed(cond));
                    }
                    if let Some(i) = V4_FIELDS.iter().position(|f| f.eq_ignore_ascii_case(name)) {
                        covered_v4[i] = true;
                    }
                }
            }
            Value::Array(a) => {
                let op = a
                    .first()
                    .and_then(Value::as_str)
                    .ok_or_else(|| invalid_policy("Condition must start with an operator."))?
                    .to_ascii_lowercase();
                if op == "content-length-range" {
                    let (Some(min), Some(max), 3) = (
                        a.get(1).and_then(as_u64),
                        a.get(2).and_then(as_u64),
                        a.len(),
                    ) else {
                        return Err(invalid_policy("Invalid content-length-range."));
                    };
                    let Some(size) = form.file_size else {
                        continue;
                    };
                    if size > max {
                        return Err(OssError::new(
                            StatusCode::BAD_REQUEST,
                            "EntityTooLarge",
                            "Your proposed upload exceeds the maximum allowed size.",
                        )
                        .with("MaxSizeAllowed", max.to_string()));
                    }
                    if size < min {
                        return Err(OssError::new(
                            StatusCode::BAD_REQUEST,
                            "EntityTooSmall",
                            "Your proposed upload is smaller than the minimum allowed size.",
                        )
                        .with("MinSizeAllowed", min.to_string()));
                    }
                    continue;
                }
                if a.len() != 3 {
                    return Err(invalid_policy(&format!(
                        "Invalid condition {}.",
                        render(cond)
                    )));
                }
                let name = a[1]
                    .as_str()
                    .filter(|n| n.starts_with('$'))
                    .ok_or_else(|| invalid_policy("Condition field must start with $."))?;
                let have = field_value(form, bucket, key, name);
                let ok = match op.as_str() {
                    "eq" => {
                        let want = a[2]
                            .as_str()
                            .ok_or_else(|| invalid_policy("eq value must be a string."))?;
                        if let Some(i) = V4_FIELDS
                            .iter()
                            .position(|f| f.eq_ignore_ascii_case(&name[1..]))
                        {
                            covered_v4[i] = true;
                        }
                        have == want
                    }
                    "starts-with" => {
                        let want = a[2]
                            .as_str()
                            .ok_or_else(|| invalid_policy("starts-with value must be a string."))?;
                        have.starts_with(want)
                    }
                    "in" | "not-in" => {
                        let list = a[2]
                            .as_array()
                            .ok_or_else(|| invalid_policy("in/not-in needs a list."))?;
                        let found = list.iter().any(|v| v.as_str() == Some(have));
                        found == (op == "in")
                    }
                    _ => return Err(invalid_policy(&format!("Unknown condition operator {op}."))),
                };
                if !ok {
                    return Err(policy_failed(cond));
                }
            }
            _ => {
                return Err(invalid_policy(
                    "Each condition must be an object or a list.",
                ))
            }
        }
    }
    if v4_mode {
        if let Some(i) = covered_v4.iter().position(|c| !c) {
            return Err(OssError::access_denied(format!(
                "Invalid according to Policy: the policy must contain a condition for {}.",
                V4_FIELDS[i]
            )));
        }
    }
    Ok(())
}

fn as_u64(v: &Value) -> Option<u64> {
    v.as_u64()
        .or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(fields: &[(&str, &str)], file: &[u8]) -> PostForm {
        PostForm {
            fields: fields
                .iter()
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect(),
            file_name: "a.png".into(),
            file_type: None,
            file_size: Some(file.len() as u64),
        }
    }

    fn b64(s: &str) -> String {
        base64::engine::general_purpose::STANDARD.encode(s)
    }

    const FUTURE: &str = "2999-01-01T00:00:00.000Z";

    #[test]
    fn conditions() {
        let now = chrono::Utc::now().timestamp();
        let pol = format!(
            r#"{{"expiration":"{FUTURE}","conditions":[{{"bucket":"b"}},["starts-with","$key","up/"],["content-length-range",1,5],["in","$content-type",["image/png","image/jpeg"]],["not-in","$cache-control",["no-cache"]],["eq","$x-oss-meta-a","1"]]}}"#
        );
        let ok = form(
            &[("Content-Type", "image/png"), ("x-oss-meta-a", "1")],
            b"abc",
        );
        check_policy(&ok, "b", "up/x", &b64(&pol), false, now).unwrap();
        let e = check_policy(&ok, "b", "down/x", &b64(&pol), false, now).unwrap_err();
        assert_eq!(e.code, "AccessDenied");
        assert!(e.message.starts_with("Invalid according to Policy: Policy Condition failed: [\"starts-with\", \"$key\", \"up/\"]"), "{}", e.message);
        let e = check_policy(&ok, "other", "up/x", &b64(&pol), false, now).unwrap_err();
        assert_eq!(e.code, "AccessDenied");
        let big = form(
            &[("Content-Type", "image/png"), ("x-oss-meta-a", "1")],
            b"abcdef",
        );
        assert_eq!(
            check_policy(&big, "b", "up/x", &b64(&pol), false, now)
                .unwrap_err()
                .code,
            "EntityTooLarge"
        );
        let empty = form(&[("Content-Type", "image/png"), ("x-oss-meta-a", "1")], b"");
        assert_eq!(
            check_policy(&empty, "b", "up/x", &b64(&pol), false, now)
                .unwrap_err()
                .code,
            "EntityTooSmall"
        );
        let gif = form(
            &[("Content-Type", "image/gif"), ("x-oss-meta-a", "1")],
            b"abc",
        );
        assert_eq!(
            check_policy(&gif, "b", "up/x", &b64(&pol), false, now)
                .unwrap_err()
                .code,
            "AccessDenied"
        );
        let nc = form(
            &[
                ("Content-Type", "image/png"),
                ("x-oss-meta-a", "1"),
                ("Cache-Control", "no-cache"),
            ],
            b"abc",
        );
        assert_eq!(
            check_policy(&nc, "b", "up/x", &b64(&pol), false, now)
                .unwrap_err()
                .code,
            "AccessDenied"
        );
    }

    #[test]
    fn expired_and_malformed() {
        let now = chrono::Utc::now().timestamp();
        let f = form(&[], b"x");
        let e = check_policy(
            &f,
            "b",
            "k",
            &b64(r#"{"expiration":"2000-01-01T00:00:00Z","conditions":[]}"#),
            false,
            now,
        )
        .unwrap_err();
        assert_eq!(e.message, "Invalid according to Policy: Policy expired.");
        for bad in [
            "not base64!",
            &b64("nope"),
            &b64(r#"{"conditions":[]}"#),
            &b64(&format!(
                r#"{{"expiration":"{FUTURE}","conditions":[["weird","$key","x"]]}}"#
            )),
        ] {
            assert_eq!(
                check_policy(&f, "b", "k", bad, false, now)
                    .unwrap_err()
                    .code,
                "InvalidPolicyDocument"
            );
        }
    }

    #[test]
    fn v4_policy_must_name_credential_fields() {
        let now = chrono::Utc::now().timestamp();
        let f = form(
            &[
                ("x-oss-signature-version", "OSS4-HMAC-SHA256"),
                ("x-oss-credential", "c"),
                ("x-oss-date", "d"),
            ],
            b"x",
        );
        let partial = format!(
            r#"{{"expiration":"{FUTURE}","conditions":[{{"x-oss-signature-version":"OSS4-HMAC-SHA256"}},{{"x-oss-credential":"c"}}]}}"#
        );
        assert_eq!(
            check_policy(&f, "b", "k", &b64(&partial), true, now)
                .unwrap_err()
                .code,
            "AccessDenied"
        );
        let full = format!(
            r#"{{"expiration":"{FUTURE}","conditions":[{{"x-oss-signature-version":"OSS4-HMAC-SHA256"}},{{"x-oss-credential":"c"}},["eq","$x-oss-date","d"]]}}"#
        );
        check_policy(&f, "b", "k", &b64(&full), true, now).unwrap();
    }

    #[tokio::test]
    async fn file_must_be_last() {
        let body = "--XX\r\nContent-Disposition: form-data; name=\"key\"\r\n\r\nk\r\n--XX\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a\"\r\n\r\ndata\r\n--XX\r\nContent-Disposition: form-data; name=\"policy\"\r\n\r\np\r\n--XX--\r\n";
        let e = parse_form("multipart/form-data; boundary=XX", Bytes::from(body))
            .await
            .unwrap_err();
        assert_eq!(e.code, "InvalidArgument");
        let body = "--XX\r\nContent-Disposition: form-data; name=\"key\"\r\n\r\nk\r\n--XX\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a\"\r\nContent-Type: text/plain\r\n\r\ndata\r\n--XX--\r\n";
        let (f, file) = parse_form("multipart/form-data; boundary=XX", Bytes::from(body))
            .await
            .unwrap();
        assert_eq!(f.get("KEY"), Some("k"));
        assert_eq!(&file[..], b"data");
        assert_eq!(f.file_type.as_deref(), Some("text/plain"));
        assert!(
            parse_form("multipart/form-data; boundary=XX", Bytes::from("garbage"))
                .await
                .is_err()
        );
    }
}
