//! OSS request authentication and authorization.
//!
//! Signatures are recomputed with the crate's own signers (`alibaba_sign::oss_v1`,
//! `alibaba_sign::oss_v4`) from the request as received, so a request signed
//! wrongly fails here as it would against OSS. A bug in the canonicalisation
//! both sides share cancels out; the official-SDK tests are what catch those.
//! Then the caller is mapped to
//! a principal (account key, or an emulator-issued STS credential with its
//! session policy) and the request's action/resource is checked.

use chrono::NaiveDateTime;
use http::{HeaderMap, StatusCode};

use super::policy::{Decision, SessionPolicy};
use super::sts::{KeyKind, KeyRing, MAX_SKEW_SECS};
use super::wire::{ct_eq, header, iso_date, parse_http_date, qget};
use super::xml::OssError;
use alibaba_sign::{oss_v1 as v1, oss_v4 as v4};

/// Who made a request, once its signature checked out.
#[derive(Debug, Clone)]
pub(crate) enum Principal {
    /// The account's permanent key: may do anything in the emulator's buckets.
    Account,
    /// An STS credential; `None` policy means the role's full OSS access.
    Temporary(Option<SessionPolicy>),
}

/// The parts of a request that signing covers.
pub(crate) struct SignedRequest<'a> {
    pub method: &'a str,
    pub bucket: &'a str,
    /// Object key, decoded (empty for bucket-level requests).
    pub key: &'a str,
    /// Decoded query pairs in request order.
    pub query: &'a [(String, String)],
    pub headers: &'a HeaderMap,
}

/// Message OSS uses for SignatureDoesNotMatch.
pub(crate) const SIG_MISMATCH: &str =
    "The request signature we calculated does not match the signature you provided. Check your key and signing method.";

/// Header pairs (lower-case names) as the signers take them.
pub(crate) fn header_pairs(h: &HeaderMap) -> Vec<(String, String)> {
    h.iter()
        .map(|(k, v)| {
            (
                k.as_str().to_string(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect()
}

/// Parses `yyyyMMddTHHmmssZ` (x-oss-date).
pub(crate) fn parse_iso_basic(s: &str) -> Option<i64> {
    NaiveDateTime::parse_from_str(s, "%Y%m%dT%H%M%SZ")
        .ok()
        .map(|d| d.and_utc().timestamp())
}

fn skewed(req_time: i64, now: i64) -> OssError {
    OssError::new(
        StatusCode::FORBIDDEN,
        "RequestTimeTooSkewed",
        "The difference between the request time and the current time is too large.",
    )
    .with("RequestTime", iso_date(req_time))
    .with("ServerTime", iso_date(now))
}

/// 403 InvalidAccessKeyId, also used for STS keys sent without their token.
pub(crate) fn unknown_key(ak: &str) -> OssError {
    OssError::new(
        StatusCode::FORBIDDEN,
        "InvalidAccessKeyId",
        "The OSS Access Key Id you provided does not exist in our records.",
    )
    .with("OSSAccessKeyId", ak)
}

/// The STS token carried anywhere OSS accepts one.
pub(crate) fn token_of<'a>(h: &'a HeaderMap, q: &'a [(String, String)]) -> Option<&'a str> {
    header(h, "x-oss-security-token")
        .or_else(|| header(h, "security-token"))
        .or_else(|| qget(q, "x-oss-security-token"))
        .or_else(|| qget(q, "security-token"))
        .filter(|t| !t.is_empty())
}

/// Resolves an AccessKey id and token to the secret and principal, with the
/// errors OSS gives for unknown keys and bad or expired tokens.
pub(crate) fn resolve(
    keys: &KeyRing,
    ak: &str,
    token: Option<&str>,
    now: i64,
) -> Result<(String, Principal), OssError> {
    match keys.lookup(ak) {
        None => Err(unknown_key(ak)),
        Some(KeyKind::Account { secret }) => {
            if token.is_some() {
                return Err(invalid_token());
            }
            Ok((secret, Principal::Account))
        }
        Some(KeyKind::Temporary(i)) => {
            let Some(tok) = token else {
                return Err(unknown_key(ak));
            };
            if !ct_eq(tok, &i.token) {
                return Err(invalid_token());
            }
            if i.expires_at <= now {
                return Err(OssError::new(
                    StatusCode::FORBIDDEN,
                    "SecurityTokenExpired",
                    "The security token you provided has expired.",
                ));
            }
            Ok((i.secret, Principal::Temporary(i.policy)))
        }
    }
}

fn invalid_token() -> OssError {
    OssError::new(
        StatusCode::FORBIDDEN,
        "InvalidSecurityToken",
        "The security token you provided is invalid.",
    )
}

fn anonymous() -> OssError {
    OssError::access_denied("You have no right to access this object because of bucket acl.")
}

fn mismatch(ak: &str, provided: &str, string_to_sign: &str) -> OssError {
    OssError::new(StatusCode::FORBIDDEN, "SignatureDoesNotMatch", SIG_MISMATCH)
        .with("OSSAccessKeyId", ak)
        .with("SignatureProvided", provided)
        .with("StringToSign", string_to_sign)
        .with("StringToSignBytes", hex_bytes(string_to_sign))
}

fn hex_bytes(s: &str) -> String {
    s.bytes()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// The body SHA-256 a V4 header-signed request declares in
/// `x-oss-content-sha256` (lower-case hex), unless it is `UNSIGNED-PAYLOAD`.
/// The caller hashes the body as it receives it and refuses a mismatch with
/// [`sha256_mismatch`] before storing anything.
pub(crate) fn declared_sha256(h: &HeaderMap) -> Option<String> {
    let auth = header(h, "authorization")?;
    if !auth.starts_with("OSS4-HMAC-SHA256") {
        return None;
    }
    header(h, "x-oss-content-sha256")
        .filter(|p| *p != v4::UNSIGNED_PAYLOAD)
        .map(|p| p.to_ascii_lowercase())
}

/// Checks a received body's SHA-256 against what the request declared.
pub(crate) fn check_sha256(
    declared: Option<&str>,
    actual: Option<[u8; 32]>,
) -> Result<(), OssError> {
    let Some(want) = declared else {
        return Ok(());
    };
    if actual.map(hex::encode).as_deref() == Some(want) {
        return Ok(());
    }
    Err(sha256_mismatch(want))
}

/// 400 for a body that does not hash to the declared `x-oss-content-sha256`.
pub(crate) fn sha256_mismatch(declared: &str) -> OssError {
    OssError::invalid_argument(
        "The x-oss-content-sha256 you specified did not match what we received.",
    )
    .with("ArgumentName", "x-oss-content-sha256")
    .with("ArgumentValue", declared)
}

/// Authenticates a REST request (header or presigned, V1 or V4) from its
/// request line and headers alone.
pub(crate) fn authenticate(
    req: &SignedRequest,
    keys: &KeyRing,
    now: i64,
) -> Result<Principal, OssError> {
    let auth = header(req.headers, "authorization").unwrap_or_default();
    if let Some(rest) = auth.strip_prefix("OSS4-HMAC-SHA256") {
        return v4_header(req, keys, rest, now);
    }
    if let Some(rest) = auth.strip_prefix("OSS ") {
        return v1_header(req, keys, rest, now);
    }
    if !auth.is_empty() {
        return Err(
            OssError::invalid_argument("Authorization header is invalid.")
                .with("ArgumentName", "Authorization")
                .with("ArgumentValue", auth),
        );
    }
    if qget(req.query, "x-oss-signature-version").is_some()
        || qget(req.query, "x-oss-signature").is_some()
    {
        return v4_query(req, keys, now);
    }
    if qget(req.query, "Signature").is_some() || qget(req.query, "OSSAccessKeyId").is_some() {
        return v1_query(req, keys, now);
    }
    Err(anonymous())
}

fn v1_header(
    req: &SignedRequest,
    keys: &KeyRing,
    rest: &str,
    now: i64,
) -> Result<Principal, OssError> {
    let (ak, provided) = rest
        .trim()
        .split_once(':')
        .ok_or_else(|| OssError::invalid_argument("Authorization header is invalid."))?;
    let date = header(req.headers, "x-oss-date")
        .or_else(|| header(req.headers, "date"))
        .ok_or_else(|| OssError::access_denied("Missing Date header."))?;
    let t = parse_http_date(date)
        .ok_or_else(|| OssError::access_denied("Invalid date format in Date header."))?;
    if (now - t).abs() > MAX_SKEW_SECS {
        return Err(skewed(t, now));
    }
    verify_v1(req, keys, ak, provided, date, now)
}

fn v1_query(req: &SignedRequest, keys: &KeyRing, now: i64) -> Result<Principal, OssError> {
    let missing = |n: &str| OssError::access_denied(format!("Missing query parameter {n}."));
    let ak = qget(req.query, "OSSAccessKeyId").ok_or_else(|| missing("OSSAccessKeyId"))?;
    let provided = qget(req.query, "Signature").ok_or_else(|| missing("Signature"))?;
    let expires = qget(req.query, "Expires").ok_or_else(|| missing("Expires"))?;
    let exp: i64 = expires
        .parse()
        .map_err(|_| OssError::access_denied("Invalid Expires parameter."))?;
    if exp < now {
        return Err(OssError::access_denied("Request has expired.")
            .with("Expires", iso_date(exp))
            .with("ServerTime", iso_date(now)));
    }
    verify_v1(req, keys, ak, provided, expires, now)
}

/// The part V1 header and query signatures share: rebuild the string to sign
/// from the request as received (`date_or_expires` is the `Date` header or the
/// `Expires` parameter) and compare signatures in constant time.
fn verify_v1(
    req: &SignedRequest,
    keys: &KeyRing,
    ak: &str,
    provided: &str,
    date_or_expires: &str,
    now: i64,
) -> Result<Principal, OssError> {
    let (secret, principal) = resolve(keys, ak, token_of(req.headers, req.query), now)?;
    let headers = header_pairs(req.headers);
    let resource = v1::canonical_resource(req.bucket, req.key, req.query);
    let sts = v1::string_to_sign(
        req.method,
        header(req.headers, "content-md5").unwrap_or_default(),
        header(req.headers, "content-type").unwrap_or_default(),
        date_or_expires,
        &headers,
        &resource,
    );
    if !ct_eq(&v1::signature(&secret, &sts), provided) {
        return Err(mismatch(ak, provided, &sts));
    }
    Ok(principal)
}

/// A parsed V4 credential `<ak>/<date>/<region>/oss/aliyun_v4_request`.
pub(crate) struct V4Credential<'a> {
    pub ak: &'a str,
    pub date: &'a str,
    pub region: &'a str,
}

/// Parses a V4 credential string; `None` when it is not of OSS's form.
pub(crate) fn parse_credential(c: &str) -> Option<V4Credential<'_>> {
    let parts: Vec<&str> = c.split('/').collect();
    if parts.len() != 5
        || parts[0].is_empty()
        || parts[1].len() != 8
        || parts[2].is_empty()
        || parts[3] != v4::PRODUCT
        || parts[4] != "aliyun_v4_request"
    {
        return None;
    }
    Some(V4Credential {
        ak: parts[0],
        date: parts[1],
        region: parts[2],
    })
}

fn bad_credential(c: &str) -> OssError {
    OssError::invalid_argument("Invalid credential in Authorization.")
        .with("ArgumentName", "x-oss-credential")
        .with("ArgumentValue", c)
}

#[allow(clippy::too_many_arguments)]
fn v4_verify(
    req: &SignedRequest,
    cred: &V4Credential,
    secret: &str,
    datetime: &str,
    query: &[(String, String)],
    additional: &[String],
    payload: &str,
    provided: &str,
) -> Result<(), OssError> {
    let headers = header_pairs(req.headers);
    let creq = v4::canonical_request(
        req.method, req.bucket, req.key, query, &headers, additional, payload,
    );
    let scope = v4::scope(cred.date, cred.region, v4::PRODUCT);
    let sts = v4::string_to_sign(datetime, &scope, &creq);
    let key = v4::signing_key(secret, cred.date, cred.region, v4::PRODUCT);
    if !ct_eq(&v4::signature(&key, &sts), provided) {
        return Err(mismatch(cred.ak, provided, &sts).with("CanonicalRequest", creq));
    }
    Ok(())
}

fn v4_header(
    req: &SignedRequest,
    keys: &KeyRing,
    rest: &str,
    now: i64,
) -> Result<Principal, OssError> {
    let invalid = || OssError::invalid_argument("Authorization header is invalid.");
    let mut credential = None;
    let mut additional: Vec<String> = Vec::new();
    let mut provided = None;
    for part in rest.split(',') {
        let part = part.trim();
        if part.is_empty() {
            continue;
        }
        let (k, v) = part.split_once('=').ok_or_else(invalid)?;
        match k.trim() {
            "Credential" => credential = Some(v.trim()),
            "AdditionalHeaders" => {
                additional = v
                    .split(';')
                    .map(|s| s.trim().to_ascii_lowercase())
                    .filter(|s| !s.is_empty())
                    .collect()
            }
            "Signature" => provided = Some(v.trim()),
            _ => return Err(invalid()),
        }
    }
    let (Some(credential), Some(provided)) = (credential, provided) else {
        return Err(invalid());
    };
    let cred = parse_credential(credential).ok_or_else(|| bad_credential(credential))?;
    let datetime = header(req.headers, "x-oss-date").ok_or_else(|| {
        OssError::access_denied("Missing required header for this request: x-oss-date.")
    })?;
    let t = parse_iso_basic(datetime).ok_or_else(|| {
        OssError::access_denied("Invalid x-oss-date format.").with("x-oss-date", datetime)
    })?;
    if (now - t).abs() > MAX_SKEW_SECS {
        return Err(skewed(t, now));
    }
    if !datetime.starts_with(cred.date) {
        return Err(OssError::access_denied(
            "The date in x-oss-credential does not match the date in x-oss-date.",
        ));
    }
    let payload = header(req.headers, "x-oss-content-sha256").ok_or_else(|| {
        OssError::invalid_argument(
            "Missing required header for this request: x-oss-content-sha256.",
        )
    })?;
    // A declared body hash is checked against the body as it streams in
    // (`declared_sha256`), after the signature: the body is never read first.
    for h in &additional {
        if !req.headers.contains_key(h.as_str()) {
            return Err(OssError::invalid_argument(format!(
                "AdditionalHeaders names {h}, which the request does not carry."
            )));
        }
    }
    let (secret, principal) = resolve(keys, cred.ak, token_of(req.headers, req.query), now)?;
    v4_verify(
        req,
        &cred,
        &secret,
        datetime,
        req.query,
        &additional,
        payload,
        provided,
    )?;
    Ok(principal)
}

fn v4_query(req: &SignedRequest, keys: &KeyRing, now: i64) -> Result<Principal, OssError> {
    let q = req.query;
    let missing = |n: &str| {
        OssError::invalid_argument(format!("Missing query parameter {n}.")).with("ArgumentName", n)
    };
    match qget(q, "x-oss-signature-version") {
        Some(v4::ALGORITHM) => {}
        Some(v) => {
            return Err(OssError::invalid_argument("Unsupported signature version.")
                .with("ArgumentName", "x-oss-signature-version")
                .with("ArgumentValue", v))
        }
        None => return Err(missing("x-oss-signature-version")),
    }
    let credential = qget(q, "x-oss-credential").ok_or_else(|| missing("x-oss-credential"))?;
    let cred = parse_credential(credential).ok_or_else(|| bad_credential(credential))?;
    let datetime = qget(q, "x-oss-date").ok_or_else(|| missing("x-oss-date"))?;
    let expires = qget(q, "x-oss-expires").ok_or_else(|| missing("x-oss-expires"))?;
    let provided = qget(q, "x-oss-signature").ok_or_else(|| missing("x-oss-signature"))?;
    let t = parse_iso_basic(datetime).ok_or_else(|| {
        OssError::invalid_argument("Invalid x-oss-date.")
            .with("ArgumentName", "x-oss-date")
            .with("ArgumentValue", datetime)
    })?;
    let exp: u64 = expires
        .parse()
        .ok()
        .filter(|e| (1..=v4::MAX_EXPIRES_SECS).contains(e))
        .ok_or_else(|| {
            OssError::invalid_argument("x-oss-expires must be between 1 and 604800 seconds.")
                .with("ArgumentName", "x-oss-expires")
                .with("ArgumentValue", expires)
        })?;
    if !datetime.starts_with(cred.date) {
        return Err(OssError::access_denied(
            "The date in x-oss-credential does not match the date in x-oss-date.",
        ));
    }
    if t > now + MAX_SKEW_SECS {
        return Err(skewed(t, now));
    }
    if t + (exp as i64) < now {
        return Err(OssError::access_denied("Request has expired.")
            .with("Expires", iso_date(t + exp as i64))
            .with("ServerTime", iso_date(now)));
    }
    let additional: Vec<String> = qget(q, "x-oss-additional-headers")
        .map(|v| {
            v.split(';')
                .map(|s| s.trim().to_ascii_lowercase())
                .filter(|s| !s.is_empty())
                .collect()
        })
        .unwrap_or_default();
    let (secret, principal) = resolve(keys, cred.ak, token_of(req.headers, req.query), now)?;
    let signed_query: Vec<(String, String)> = q
        .iter()
        .filter(|(k, _)| k != "x-oss-signature")
        .cloned()
        .collect();
    v4_verify(
        req,
        &cred,
        &secret,
        datetime,
        &signed_query,
        &additional,
        v4::UNSIGNED_PAYLOAD,
        provided,
    )?;
    Ok(principal)
}

/// Checks a principal may perform `action` on `bucket`/`key` (`key` None for
/// bucket-level actions). Deny overrides Allow; no matching Allow is a deny.
pub(crate) fn authorize(
    p: &Principal,
    account_id: &str,
    action: &str,
    bucket: &str,
    key: Option<&str>,
) -> Result<(), OssError> {
    let Principal::Temporary(Some(policy)) = p else {
        return Ok(());
    };
    let resource = match key {
        Some(k) => format!("acs:oss:*:{account_id}:{bucket}/{k}"),
        None => format!("acs:oss:*:{account_id}:{bucket}"),
    };
    match policy.evaluate(action, &resource) {
        Decision::Allow => Ok(()),
        _ => Err(
            OssError::access_denied("Access denied by authorizer's policy.")
                .with("Action", action)
                .with("Resource", resource),
        ),
    }
}
