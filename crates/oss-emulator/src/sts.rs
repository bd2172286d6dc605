//! The emulated STS `AssumeRole` endpoint: its checks, both signing schemes, the answer.
//!
//! OSS authentication looks issued keys up in the key ring (`keyring`), so a
//! token minted by the local STS works against the local OSS exactly as long and
//! as far as its session policy says.
//!
//! Both request-signing schemes the SDKs use are verified with the crate's
//! own signers (`alibaba_sign::acs`): RPC V1 (`Signature` parameter,
//! HMAC-SHA1) and ACS3-HMAC-SHA256 (`Authorization` header).

use bytes::Bytes;
use chrono::{DateTime, NaiveDateTime, Utc};
use http::{HeaderMap, StatusCode};
use rand::Rng;
use serde_json::json;

pub(crate) use super::keyring::{Issued, KeyKind, KeyRing, MAX_SKEW_SECS};
use super::policy::{Decision, PolicyError, SessionPolicy};
use super::wire::{ct_eq, header, qget};
use alibaba_sign::acs as sign;

/// An STS error: status, code and message, rendered as STS's JSON error body.
#[derive(Debug, Clone)]
pub(crate) struct StsError {
    pub status: StatusCode,
    pub code: String,
    pub message: String,
}

fn err(status: StatusCode, code: &str, message: impl Into<String>) -> StsError {
    StsError {
        status,
        code: code.to_string(),
        message: message.into(),
    }
}

fn bad(code: &str, message: impl Into<String>) -> StsError {
    err(StatusCode::BAD_REQUEST, code, message)
}

impl StsError {
    /// The JSON body STS sends for errors.
    pub fn to_json(&self, request_id: &str) -> String {
        json!({
            "RequestId": request_id,
            "HostId": "sts.aliyuncs.com",
            "Code": self.code,
            "Message": self.message,
        })
        .to_string()
    }
}

/// Whether a request to `/` or `/sts` is an STS call.
pub(crate) fn is_sts_request(
    headers: &HeaderMap,
    query: &[(String, String)],
    form: &[(String, String)],
) -> bool {
    headers.contains_key("x-acs-action")
        || query.iter().any(|(k, _)| k == "Action")
        || form.iter().any(|(k, _)| k == "Action")
}

/// Parses an `application/x-www-form-urlencoded` body, if it is one.
pub(crate) fn form_params(headers: &HeaderMap, body: &Bytes) -> Vec<(String, String)> {
    let is_form = headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.to_ascii_lowercase()
                .starts_with("application/x-www-form-urlencoded")
        })
        .unwrap_or(false);
    if !is_form {
        return Vec::new();
    }
    form_urlencoded::parse(body)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

/// Everything the handler needs from the HTTP request.
pub(crate) struct StsRequest<'a> {
    pub method: &'a str,
    /// Raw (still percent-encoded) path, as ACS3 signs it.
    pub raw_path: &'a str,
    pub headers: &'a HeaderMap,
    /// Decoded query pairs.
    pub query: &'a [(String, String)],
    /// Decoded form-body pairs (empty unless the body is a form).
    pub form: &'a [(String, String)],
    pub body: &'a Bytes,
}

fn parse_time(s: &str) -> Option<i64> {
    DateTime::parse_from_rfc3339(s)
        .map(|d| d.timestamp())
        .ok()
        .or_else(|| {
            NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%SZ")
                .ok()
                .map(|d| d.and_utc().timestamp())
        })
}

fn check_time(ts: Option<&str>, now: i64) -> Result<(), StsError> {
    let ts = ts.ok_or_else(|| {
        bad(
            "MissingTimestamp",
            "Timestamp is mandatory for this action.",
        )
    })?;
    let t = parse_time(ts).ok_or_else(|| {
        bad(
            "InvalidTimeStamp.Format",
            "Specified time stamp or date value is not well formatted.",
        )
    })?;
    if (now - t).abs() > MAX_SKEW_SECS {
        return Err(bad(
            "InvalidTimeStamp.Expired",
            "Specified time stamp or date value is expired.",
        ));
    }
    Ok(())
}

/// The verified caller of an STS request.
struct Caller {
    temporary: Option<Issued>,
}

fn resolve_key(
    keys: &KeyRing,
    ak: &str,
    token: Option<&str>,
    now: i64,
) -> Result<(String, Caller), StsError> {
    match keys.lookup(ak) {
        None => Err(err(
            StatusCode::NOT_FOUND,
            "InvalidAccessKeyId.NotFound",
            "Specified access key is not found.",
        )),
        Some(KeyKind::Account { secret }) => Ok((secret, Caller { temporary: None })),
        Some(KeyKind::Temporary(i)) => {
            let Some(tok) = token.filter(|t| !t.is_empty()) else {
                return Err(bad(
                    "MissingSecurityToken",
                    "SecurityToken is mandatory for this action.",
                ));
            };
            if !ct_eq(tok, &i.token) {
                return Err(bad(
                    "InvalidSecurityToken.Malformed",
                    "Specified SecurityToken is malformed.",
                ));
            }
            if i.expires_at <= now {
                return Err(bad(
                    "InvalidSecurityToken.Expired",
                    "Specified SecurityToken is expired.",
                ));
            }
            Ok((i.secret.clone(), Caller { temporary: Some(i) }))
        }
    }
}

fn verify_rpc(
    req: &StsRequest,
    keys: &KeyRing,
    params: &[(String, String)],
    now: i64,
) -> Result<Caller, StsError> {
    let ak = qget(params, "AccessKeyId").ok_or_else(|| {
        bad(
            "MissingAccessKeyId",
            "AccessKeyId is mandatory for this action.",
        )
    })?;
    let provided = qget(params, "Signature").unwrap_or_default();
    match qget(params, "SignatureMethod") {
        Some("HMAC-SHA1") => {}
        None => {
            return Err(bad(
                "MissingSignatureMethod",
                "SignatureMethod is mandatory for this action.",
            ))
        }
        Some(_) => {
            return Err(bad(
                "InvalidSignatureMethod",
                "Specified signature method is not supported.",
            ))
        }
    }
    match qget(params, "SignatureVersion") {
        Some("1.0") => {}
        None => {
            return Err(bad(
                "MissingSignatureVersion",
                "SignatureVersion is mandatory for this action.",
            ))
        }
        Some(_) => {
            return Err(bad(
                "InvalidSignatureVersion",
                "Specified signature version is not supported.",
            ))
        }
    }
    check_time(qget(params, "Timestamp"), now)?;
    let nonce = qget(params, "SignatureNonce").ok_or_else(|| {
        bad(
            "MissingSignatureNonce",
            "SignatureNonce is mandatory for this action.",
        )
    })?;
    let (secret, caller) = resolve_key(keys, ak, qget(params, "SecurityToken"), now)?;
    let signed: Vec<(&str, &str)> = params
        .iter()
        .filter(|(k, _)| k != "Signature")
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let sts = sign::rpc::string_to_sign(req.method, &signed);
    let expected = sign::rpc::signature(&secret, &sts);
    if !ct_eq(&expected, provided) {
        return Err(err(
            StatusCode::BAD_REQUEST,
            "SignatureDoesNotMatch",
            format!("Specified signature does not match our calculation. server string to sign is:{sts}"),
        ));
    }
    if !keys.use_nonce(nonce, now) {
        return Err(bad(
            "SignatureNonceUsed",
            "Specified signature nonce was used already.",
        ));
    }
    Ok(caller)
}

fn verify_acs3(req: &StsRequest, keys: &KeyRing, auth: &str, now: i64) -> Result<Caller, StsError> {
    let incomplete = || {
        bad(
            "IncompleteSignature",
            "The request signature does not conform to Aliyun standards.",
        )
    };
    let rest = auth
        .strip_prefix(sign::acs3::ALGORITHM)
        .ok_or_else(incomplete)?
        .trim();
    let mut ak = None;
    let mut signed_headers = None;
    let mut provided = None;
    for part in rest.split(',') {
        let (k, v) = part.trim().split_once('=').ok_or_else(incomplete)?;
        match k.trim() {
            "Credential" => ak = Some(v.trim()),
            "SignedHeaders" => signed_headers = Some(v.trim()),
            "Signature" => provided = Some(v.trim()),
            _ => return Err(incomplete()),
        }
    }
    let (Some(ak), Some(signed_headers), Some(provided)) = (ak, signed_headers, provided) else {
        return Err(incomplete());
    };
    let names: Vec<String> = signed_headers
        .split(';')
        .map(|s| s.trim().to_ascii_lowercase())
        .filter(|s| !s.is_empty())
        .collect();
    // Host and every x-acs-* header must be signed.
    if !names.iter().any(|n| n == "host") {
        return Err(incomplete());
    }
    for (name, _) in req.headers.iter() {
        let n = name.as_str();
        if n.starts_with("x-acs-") && !names.iter().any(|s| s == n) {
            return Err(incomplete());
        }
    }
    check_time(header(req.headers, "x-acs-date"), now)?;
    let nonce = header(req.headers, "x-acs-signature-nonce").ok_or_else(|| {
        bad(
            "MissingSignatureNonce",
            "SignatureNonce is mandatory for this action.",
        )
    })?;
    let payload = header(req.headers, "x-acs-content-sha256").unwrap_or_default();
    let actual_hash = sign::sha256_hex(req.body);
    if payload != actual_hash {
        return Err(err(
            StatusCode::BAD_REQUEST,
            "SignatureDoesNotMatch",
            "x-acs-content-sha256 does not match the SHA-256 of the request body.",
        ));
    }
    let (secret, caller) = resolve_key(keys, ak, header(req.headers, "x-acs-security-token"), now)?;
    let mut hdrs: Vec<(&str, &str)> = Vec::new();
    for n in &names {
        let vals: Vec<&str> = req
            .headers
            .get_all(n.as_str())
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect();
        if vals.is_empty() {
            return Err(incomplete());
        }
        for v in vals {
            hdrs.push((n.as_str(), v));
        }
    }
    let query: Vec<(&str, &str)> = req
        .query
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let creq = sign::acs3::canonical_request(req.method, req.raw_path, &query, &hdrs, payload);
    let sts = sign::acs3::string_to_sign(&creq);
    let expected = sign::acs3::signature(&secret, &sts);
    if !ct_eq(&expected, provided) {
        return Err(err(
            StatusCode::BAD_REQUEST,
            "SignatureDoesNotMatch",
            format!("Specified signature does not match our calculation. server string to sign is:{sts}"),
        ));
    }
    if !keys.use_nonce(nonce, now) {
        return Err(bad(
            "SignatureNonceUsed",
            "Specified signature nonce was used already.",
        ));
    }
    Ok(caller)
}

fn valid_session_name(s: &str) -> bool {
    (2..=64).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'@' | b'_' | b'-'))
}

/// Handles one STS call; returns the JSON body on success.
pub(crate) fn handle(
    req: &StsRequest,
    keys: &KeyRing,
    request_id: &str,
) -> Result<String, StsError> {
    let now = Utc::now().timestamp();
    // RPC puts everything in query and/or form body; ACS3 carries the action in
    // headers and the parameters in query and/or form body.
    let mut params: Vec<(String, String)> = req.query.to_vec();
    params.extend(req.form.iter().cloned());
    let auth = header(req.headers, "authorization").unwrap_or_default();
    let (action, version) = if auth.starts_with(sign::acs3::ALGORITHM) {
        (
            header(req.headers, "x-acs-action").unwrap_or_default(),
            header(req.headers, "x-acs-version").unwrap_or_default(),
        )
    } else {
        (
            qget(&params, "Action").unwrap_or_default(),
            qget(&params, "Version").unwrap_or_default(),
        )
    };
    if version != sign::STS_VERSION {
        return Err(bad(
            "InvalidVersion",
            "Specified parameter Version is not valid.",
        ));
    }
    if action != "AssumeRole" {
        return Err(err(
            StatusCode::NOT_FOUND,
            "InvalidAction.NotFound",
            "Specified api is not found, please check your url and method.",
        ));
    }
    let caller = if auth.starts_with(sign::acs3::ALGORITHM) {
        verify_acs3(req, keys, auth, now)?
    } else if qget(&params, "Signature").is_some() {
        verify_rpc(req, keys, &params, now)?
    } else {
        return Err(bad(
            "MissingSignature",
            "Signature is mandatory for this action.",
        ));
    };

    let role_arn = qget(&params, "RoleArn")
        .ok_or_else(|| bad("MissingRoleArn", "RoleArn is mandatory for this action."))?;
    let session = qget(&params, "RoleSessionName").ok_or_else(|| {
        bad(
            "MissingRoleSessionName",
            "RoleSessionName is mandatory for this action.",
        )
    })?;
    if !valid_session_name(session) {
        return Err(bad(
            "InvalidParameter.RoleSessionName",
            "The parameter RoleSessionName is wrongly formed.",
        ));
    }
    let duration = match qget(&params, "DurationSeconds") {
        None | Some("") => 3600,
        Some(d) => d
            .parse::<i64>()
            .ok()
            .filter(|d| (900..=43200).contains(d))
            .ok_or_else(|| {
                bad(
                    "InvalidParameter.DurationSeconds",
                    "The Min/Max value of DurationSeconds is 15min/12hr.",
                )
            })?,
    };
    let policy = match qget(&params, "Policy") {
        None | Some("") => None,
        Some(p) => Some(SessionPolicy::parse(p).map_err(|e| match e {
            PolicyError::TooLong => bad(
                "InvalidParameter.PolicyGrammar",
                "The parameter Policy has not passed grammar check: it is longer than 2048 characters.",
            ),
            PolicyError::Grammar(m) => bad(
                "InvalidParameter.PolicyGrammar",
                format!("The parameter Policy has not passed grammar check: {m}."),
            ),
        })?),
    };
    let parts: Vec<&str> = role_arn.split(':').collect();
    let well_formed = parts.len() == 5
        && parts[0] == "acs"
        && parts[1] == "ram"
        && parts[2].is_empty()
        && parts[4].starts_with("role/");
    if !well_formed {
        return Err(bad(
            "InvalidParameter.RoleArn",
            "The parameter RoleArn is wrongly formed.",
        ));
    }
    if !role_arn.eq_ignore_ascii_case(&keys.role_arn()) {
        return Err(err(
            StatusCode::NOT_FOUND,
            "EntityNotExist.Role",
            format!("The role not exists: {role_arn}."),
        ));
    }
    if let Some(t) = &caller.temporary {
        if let Some(p) = &t.policy {
            if p.evaluate("sts:AssumeRole", &keys.role_arn()) != Decision::Allow {
                return Err(err(
                    StatusCode::FORBIDDEN,
                    "NoPermission",
                    "You are not authorized to do this action. You should be authorized by RAM.",
                ));
            }
        }
    }
    let (ak, issued) = keys.issue(duration, policy, now);
    let expiration = DateTime::<Utc>::from_timestamp(issued.expires_at, 0)
        .map(|d| d.format("%Y-%m-%dT%H:%M:%SZ").to_string())
        .unwrap_or_default();
    let role_id: u64 =
        rand::thread_rng().gen_range(300_000_000_000_000_000..399_999_999_999_999_999);
    Ok(json!({
        "RequestId": request_id,
        "AssumedRoleUser": {
            "Arn": format!("{}/{}", keys.role_arn(), session),
            "AssumedRoleId": format!("{role_id}:{session}"),
        },
        "Credentials": {
            "SecurityToken": issued.token,
            "AccessKeyId": ak,
            "AccessKeySecret": issued.secret,
            "Expiration": expiration,
        }
    })
    .to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use alibaba_sign::Credentials;

    fn ring() -> KeyRing {
        KeyRing::new(
            Credentials::new("LTAIacct", "acct-secret", None),
            "1234".into(),
        )
    }

    fn rpc_params(extra: &[(&str, &str)], nonce: &str) -> Vec<(String, String)> {
        let ts = Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string();
        let mut p: Vec<(String, String)> = [
            ("Action", "AssumeRole"),
            ("Version", sign::STS_VERSION),
            ("Format", "JSON"),
            ("AccessKeyId", "LTAIacct"),
            ("SignatureMethod", "HMAC-SHA1"),
            ("SignatureVersion", "1.0"),
            ("SignatureNonce", nonce),
            ("Timestamp", ts.as_str()),
            ("RoleArn", "acs:ram::1234:role/oss-upload"),
            ("RoleSessionName", "alice"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        for (k, v) in extra {
            p.retain(|(n, _)| n != k);
            p.push((k.to_string(), v.to_string()));
        }
        p
    }

    fn signed(mut p: Vec<(String, String)>, secret: &str) -> Vec<(String, String)> {
        let refs: Vec<(&str, &str)> = p.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let sig = sign::rpc::signature(secret, &sign::rpc::string_to_sign("GET", &refs));
        p.push(("Signature".into(), sig));
        p
    }

    fn call(keys: &KeyRing, q: &[(String, String)]) -> Result<serde_json::Value, StsError> {
        let headers = HeaderMap::new();
        let body = Bytes::new();
        let req = StsRequest {
            method: "GET",
            raw_path: "/",
            headers: &headers,
            query: q,
            form: &[],
            body: &body,
        };
        handle(&req, keys, "RID").map(|s| serde_json::from_str(&s).unwrap())
    }

    #[test]
    fn rpc_assume_role_issues_credentials() {
        let keys = ring();
        let v = call(&keys, &signed(rpc_params(&[], "n1"), "acct-secret")).unwrap();
        let ak = v["Credentials"]["AccessKeyId"].as_str().unwrap();
        assert!(ak.starts_with("STS."));
        assert!(matches!(keys.lookup(ak), Some(KeyKind::Temporary(_))));
        // Replay of the same nonce is refused.
        let e = call(&keys, &signed(rpc_params(&[], "n1"), "acct-secret")).unwrap_err();
        assert_eq!(e.code, "SignatureNonceUsed");
    }

    #[test]
    fn rpc_errors() {
        let keys = ring();
        let e = call(&keys, &signed(rpc_params(&[], "n2"), "wrong")).unwrap_err();
        assert_eq!(
            (e.status.as_u16(), e.code.as_str()),
            (400, "SignatureDoesNotMatch")
        );
        let e = call(
            &keys,
            &signed(rpc_params(&[("AccessKeyId", "nope")], "n3"), "x"),
        )
        .unwrap_err();
        assert_eq!(e.code, "InvalidAccessKeyId.NotFound");
        let e = call(
            &keys,
            &signed(
                rpc_params(&[("RoleArn", "acs:ram::1234:role/other")], "n4"),
                "acct-secret",
            ),
        )
        .unwrap_err();
        assert_eq!(
            (e.status.as_u16(), e.code.as_str()),
            (404, "EntityNotExist.Role")
        );
        // One parameter out of range each, signed correctly: OSS's STS code for it.
        let cases: [(&str, &str, &str, &str); 6] = [
            (
                "DurationSeconds",
                "899",
                "n5",
                "InvalidParameter.DurationSeconds",
            ),
            (
                "DurationSeconds",
                "43201",
                "n5b",
                "InvalidParameter.DurationSeconds",
            ),
            (
                "RoleSessionName",
                "a",
                "n6",
                "InvalidParameter.RoleSessionName",
            ),
            (
                "RoleSessionName",
                "a b",
                "n7",
                "InvalidParameter.RoleSessionName",
            ),
            (
                "Policy",
                "{\"Version\":\"1\"}",
                "n8",
                "InvalidParameter.PolicyGrammar",
            ),
            (
                "Timestamp",
                "2001-01-01T00:00:00Z",
                "n9",
                "InvalidTimeStamp.Expired",
            ),
        ];
        for (name, value, nonce, code) in cases {
            let params = rpc_params(&[(name, value)], nonce);
            let e = call(&keys, &signed(params, "acct-secret")).unwrap_err();
            assert_eq!(e.code, code, "{name}={value}");
        }
    }

    #[test]
    fn chained_assume_role_needs_token_and_policy() {
        let keys = ring();
        let pol = r#"{"Version":"1","Statement":[{"Effect":"Allow","Action":"oss:PutObject","Resource":"*"}]}"#;
        let v = call(
            &keys,
            &signed(rpc_params(&[("Policy", pol)], "c1"), "acct-secret"),
        )
        .unwrap();
        let ak = v["Credentials"]["AccessKeyId"]
            .as_str()
            .unwrap()
            .to_string();
        let sk = v["Credentials"]["AccessKeySecret"]
            .as_str()
            .unwrap()
            .to_string();
        let tok = v["Credentials"]["SecurityToken"]
            .as_str()
            .unwrap()
            .to_string();
        let e = call(
            &keys,
            &signed(rpc_params(&[("AccessKeyId", &ak)], "c2"), &sk),
        )
        .unwrap_err();
        assert_eq!(e.code, "MissingSecurityToken");
        let e = call(
            &keys,
            &signed(
                rpc_params(&[("AccessKeyId", &ak), ("SecurityToken", &tok)], "c3"),
                &sk,
            ),
        )
        .unwrap_err();
        assert_eq!((e.status.as_u16(), e.code.as_str()), (403, "NoPermission"));
    }
}
