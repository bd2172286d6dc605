//! Where a request goes: the target (STS, a bucket or an object), the query,
//! the body read, authentication of REST requests, and the small reply type
//! every operation returns.

use std::net::IpAddr;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use http::request::Parts;
use http::{HeaderMap, Method, StatusCode};
use hyper::body::Incoming;

use super::auth::{self, Principal, SignedRequest};
use super::blob::ChunkStream;
use super::body::{chunks, collect};
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
    pub(super) body: ReplyBody,
}

/// A reply's body: bytes at hand, or chunks read as the client takes them
/// (a GetObject of a stored file).
pub(super) enum ReplyBody {
    Full(Bytes),
    Stream(ChunkStream),
}

impl From<Bytes> for ReplyBody {
    fn from(b: Bytes) -> Self {
        ReplyBody::Full(b)
    }
}

impl Reply {
    pub(super) fn new(status: StatusCode) -> Reply {
        Reply {
            status,
            headers: Vec::new(),
            body: Bytes::new().into(),
        }
    }
    pub(super) fn xml(body: String) -> Reply {
        Reply {
            status: StatusCode::OK,
            headers: vec![("content-type".into(), "application/xml".into())],
            body: Bytes::from(body).into(),
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
            let body = collect(chunks(body, state.opts.read_timeout), 1 << 20).await?;
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
                    r.body = Bytes::from(json).into();
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
            let req = ObjReq {
                state,
                parts,
                query,
                bucket,
                key: String::new(),
                peer,
            };
            Ok(bucket_op(&req, chunks(body, state.opts.read_timeout)).await?)
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
            let req = ObjReq {
                state,
                parts,
                query,
                bucket,
                key,
                peer,
            };
            Ok(object_op(&req, chunks(body, state.opts.read_timeout)).await?)
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

/// A request to a bucket or an object, once routed: what every operation
/// needs besides the body.
pub(super) struct ObjReq<'a> {
    pub state: &'a State,
    pub parts: &'a Parts,
    /// Decoded query pairs in request order.
    pub query: Vec<(String, String)>,
    pub bucket: String,
    /// Decoded object key; empty for bucket-level requests.
    pub key: String,
    /// The client's address (for the upload hook's `source_ip`).
    pub peer: IpAddr,
}

impl ObjReq<'_> {
    /// The request headers.
    pub fn headers(&self) -> &HeaderMap {
        &self.parts.headers
    }

    /// A request header as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        header(&self.parts.headers, name)
    }

    /// A query parameter's decoded value.
    pub fn q(&self, name: &str) -> Option<&str> {
        qget(&self.query, name)
    }

    /// Whether the query names `name` (with or without a value).
    pub fn has(&self, name: &str) -> bool {
        qhas(&self.query, name)
    }

    /// Checks the signature from the request line and headers alone (the
    /// body is not read yet) and returns who sent it.
    pub fn authenticate(&self) -> Result<Principal, OssError> {
        let req = SignedRequest {
            method: self.parts.method.as_str(),
            bucket: &self.bucket,
            key: &self.key,
            query: &self.query,
            headers: &self.parts.headers,
        };
        auth::authenticate(&req, &self.state.keys, Utc::now().timestamp())
    }

    /// Whether `principal` may do `action` on this request's object (or on
    /// the bucket when `key` is empty); 403 AccessDenied otherwise.
    pub fn authorize(&self, principal: &Principal, action: &str) -> Result<(), OssError> {
        let key = (!self.key.is_empty()).then_some(self.key.as_str());
        auth::authorize(
            principal,
            self.state.keys.account_id(),
            action,
            &self.bucket,
            key,
        )
    }

    /// Authenticates, then authorizes `action`.
    pub fn allow(&self, action: &str) -> Result<Principal, OssError> {
        let p = self.authenticate()?;
        self.authorize(&p, action)?;
        Ok(p)
    }
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
