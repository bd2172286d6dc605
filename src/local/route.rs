//! Where a request goes: the target (STS, a bucket or an object), the query,
//! the body read, authentication of REST requests, and the small reply type
//! every operation returns.

use std::net::IpAddr;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use http::request::Parts;
use http::{HeaderMap, Method, StatusCode};
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;

use super::auth::{self, Principal, SignedRequest};
use super::bucket::bucket_op;
use super::cors::preflight;
use super::object::object_op;
use super::server::State;
use super::store;
use super::sts::{self, StsRequest};
use super::xml::OssError;
use super::EmulatorConfig;

/// A response before the common headers are added.
pub(super) struct Reply {
    pub(super) status: StatusCode,
    pub(super) headers: Vec<(String, String)>,
    pub(super) body: Bytes,
}

impl Reply {
    pub(super) fn new(status: StatusCode) -> Reply {
        Reply {
            status,
            headers: Vec::new(),
            body: Bytes::new(),
        }
    }
    pub(super) fn xml(body: String) -> Reply {
        Reply {
            status: StatusCode::OK,
            headers: vec![("content-type".into(), "application/xml".into())],
            body: Bytes::from(body),
        }
    }
    pub(super) fn header(mut self, k: &str, v: impl Into<String>) -> Reply {
        self.headers.push((k.to_string(), v.into()));
        self
    }
}

pub(super) fn http_date(t: i64) -> String {
    DateTime::<Utc>::from_timestamp(t, 0)
        .map(|d| d.format("%a, %d %b %Y %H:%M:%S GMT").to_string())
        .unwrap_or_default()
}

pub(super) fn iso_date(t: i64) -> String {
    DateTime::<Utc>::from_timestamp(t, 0)
        .map(|d| d.format("%Y-%m-%dT%H:%M:%S.000Z").to_string())
        .unwrap_or_default()
}

pub(super) fn header<'h>(h: &'h HeaderMap, name: &str) -> Option<&'h str> {
    h.get(name).and_then(|v| v.to_str().ok())
}

pub(super) fn qget<'q>(q: &'q [(String, String)], name: &str) -> Option<&'q str> {
    q.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

pub(super) fn qhas(q: &[(String, String)], name: &str) -> bool {
    q.iter().any(|(k, _)| k == name)
}

/// Decodes a query string the way OSS does: `%XX` only (a `+` stays a `+`;
/// the SDKs always write spaces as `%20`).
pub(super) fn parse_query(raw: &str) -> Result<Vec<(String, String)>, OssError> {
    let mut out = Vec::new();
    for pair in raw.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let dec = |s: &str| {
            percent_encoding::percent_decode_str(s)
                .decode_utf8()
                .map(|c| c.into_owned())
                .map_err(|_| OssError::invalid_argument("Query string is not valid UTF-8."))
        };
        out.push((dec(k)?, dec(v)?));
    }
    Ok(out)
}

/// Where a request is going.
pub(super) enum Target {
    /// `/` or `/sts`: STS (or nothing).
    Root,
    Bucket(String),
    Object(String, String),
}

pub(super) fn target(cfg: &EmulatorConfig, h: &HeaderMap, path: &str) -> Result<Target, OssError> {
    let decode = |s: &str| {
        percent_encoding::percent_decode_str(s)
            .decode_utf8()
            .map(|c| c.into_owned())
            .map_err(|_| {
                OssError::new(
                    StatusCode::BAD_REQUEST,
                    "InvalidObjectName",
                    "The specified object is not valid.",
                )
            })
    };
    let rest = path.strip_prefix('/').unwrap_or(path);
    // Virtual-hosted style: Host `<bucket>.<something>` naming a configured bucket.
    if let Some(host) = header(h, "host") {
        let name = host.split(':').next().unwrap_or_default();
        if let Some((first, _)) = name.split_once('.') {
            if name.parse::<std::net::IpAddr>().is_err() && cfg.buckets.iter().any(|b| b == first) {
                return Ok(if rest.is_empty() {
                    Target::Bucket(first.to_string())
                } else {
                    Target::Object(first.to_string(), decode(rest)?)
                });
            }
        }
    }
    if rest.is_empty() || rest == "sts" || rest == "sts/" {
        return Ok(Target::Root);
    }
    match rest.split_once('/') {
        None => Ok(Target::Bucket(decode(rest)?)),
        Some((b, "")) => Ok(Target::Bucket(decode(b)?)),
        Some((b, k)) => Ok(Target::Object(decode(b)?, decode(k)?)),
    }
}

pub(super) async fn read_body(body: Incoming, limit: u64) -> Result<Bytes, OssError> {
    let limit = usize::try_from(limit).unwrap_or(usize::MAX);
    match Limited::new(body, limit).collect().await {
        Ok(c) => Ok(c.to_bytes()),
        Err(e) => {
            if e.downcast_ref::<http_body_util::LengthLimitError>()
                .is_some()
            {
                Err(store::entity_too_large(limit as u64))
            } else {
                Err(OssError::new(
                    StatusCode::BAD_REQUEST,
                    "IncompleteBody",
                    "Could not read the request body.",
                ))
            }
        }
    }
}

pub(super) enum Routed {
    Oss(OssError),
    Sts(sts::StsError),
}

impl From<OssError> for Routed {
    fn from(e: OssError) -> Self {
        Routed::Oss(e)
    }
}

pub(super) async fn route(
    state: &State,
    parts: &Parts,
    body: Incoming,
    rid: &str,
    peer: IpAddr,
    label: &mut String,
) -> Result<Reply, Routed> {
    let cfg = &state.cfg;
    if parts.method == Method::OPTIONS {
        return Ok(preflight(cfg, &parts.headers)?);
    }
    let query = parse_query(parts.uri.query().unwrap_or_default())?;
    let tgt = target(cfg, &parts.headers, parts.uri.path())?;
    // Forms and XML bodies carry some overhead beyond the object itself.
    let limit = cfg.max_object_bytes.saturating_add(1 << 20);
    if let Some(len) = header(&parts.headers, "content-length").and_then(|v| v.parse::<u64>().ok())
    {
        if len > limit {
            return Err(store::entity_too_large(cfg.max_object_bytes).into());
        }
    }
    match tgt {
        Target::Root => {
            let body = read_body(body, 1 << 20).await?;
            // STS takes form-urlencoded bodies and '+' as space in its query.
            let sts_query: Vec<(String, String)> =
                form_urlencoded::parse(parts.uri.query().unwrap_or_default().as_bytes())
                    .map(|(k, v)| (k.into_owned(), v.into_owned()))
                    .collect();
            let form = sts::form_params(&parts.headers, &body);
            if !sts::is_sts_request(&parts.headers, &sts_query, &form) {
                return Err(OssError::access_denied(
                    "The emulator does not serve ListBuckets; address a bucket.",
                )
                .into());
            }
            *label = "sts:AssumeRole".to_string();
            let req = StsRequest {
                method: parts.method.as_str(),
                raw_path: parts.uri.path(),
                headers: &parts.headers,
                query: &sts_query,
                form: &form,
                body: &body,
            };
            match sts::handle(&req, &state.keys, rid) {
                Ok(json) => {
                    let mut r = Reply::new(StatusCode::OK)
                        .header("content-type", "application/json;charset=utf-8");
                    r.body = Bytes::from(json);
                    Ok(r)
                }
                Err(e) => Err(Routed::Sts(e)),
            }
        }
        Target::Bucket(bucket) => {
            *label = format!("{bucket}/");
            if !state.store.has_bucket(&bucket) {
                return Err(no_such_bucket(&bucket).into());
            }
            let body = read_body(body, limit).await?;
            Ok(bucket_op(state, parts, &query, &bucket, body, peer).await?)
        }
        Target::Object(bucket, key) => {
            *label = format!("{bucket}/{key}");
            if !state.store.has_bucket(&bucket) {
                return Err(no_such_bucket(&bucket).into());
            }
            if key.len() > 1023 {
                return Err(OssError::new(
                    StatusCode::BAD_REQUEST,
                    "InvalidObjectName",
                    "The specified object is not valid.",
                )
                .into());
            }
            let body = read_body(body, limit).await?;
            Ok(object_op(state, parts, &query, &bucket, &key, body, peer).await?)
        }
    }
}

pub(super) fn no_such_bucket(b: &str) -> OssError {
    OssError::new(
        StatusCode::NOT_FOUND,
        "NoSuchBucket",
        "The specified bucket does not exist.",
    )
    .with("BucketName", b)
}

pub(super) fn not_implemented(what: &str) -> OssError {
    OssError::new(
        StatusCode::NOT_IMPLEMENTED,
        "NotImplemented",
        format!("The local emulator does not implement {what}."),
    )
}

pub(super) fn authn(
    state: &State,
    parts: &Parts,
    query: &[(String, String)],
    bucket: &str,
    key: &str,
    body: &[u8],
) -> Result<Principal, OssError> {
    let req = SignedRequest {
        method: parts.method.as_str(),
        bucket,
        key,
        query,
        headers: &parts.headers,
        body,
    };
    auth::authenticate(&req, &state.keys, Utc::now().timestamp())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_keeps_plus() {
        let q = parse_query("a=1+2&b=%2B&uploads&c=").unwrap();
        assert_eq!(q[0], ("a".into(), "1+2".into()));
        assert_eq!(q[1], ("b".into(), "+".into()));
        assert_eq!(q[2], ("uploads".into(), "".into()));
        assert!(parse_query("a=%FF").is_err());
    }
}
