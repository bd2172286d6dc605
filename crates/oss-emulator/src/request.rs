//! The vocabulary every operation shares: the routed request, its reply, common errors.
//!
//! A routed request ([`ObjReq`]), the reply it returns ([`Reply`]), and the
//! errors of a missing bucket or key, a failed precondition and an unimplemented
//! feature.

use std::net::IpAddr;

use bytes::Bytes;
use chrono::Utc;
use http::request::Parts;
use http::{HeaderMap, StatusCode};

use super::auth::{self, Principal, SignedRequest};
use super::blob::ChunkStream;
use super::state::State;
use super::wire::{header, qget, qhas};
use super::xml::OssError;
use alibaba_sign::encode::uri_encode;

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

/// 404 NoSuchBucket.
pub(super) fn no_such_bucket(b: &str) -> OssError {
    OssError::new(
        StatusCode::NOT_FOUND,
        "NoSuchBucket",
        "The specified bucket does not exist.",
    )
    .with("BucketName", b)
}

/// 501 NotImplemented, naming what the emulator leaves out.
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

/// 404 NoSuchKey.
pub(super) fn no_such_key(key: &str) -> OssError {
    OssError::new(
        StatusCode::NOT_FOUND,
        "NoSuchKey",
        "The specified key does not exist.",
    )
    .with("Key", key)
}

/// 412 PreconditionFailed (`If-Match`, `x-oss-copy-source-if-match`, ...).
pub(super) fn precondition_failed() -> OssError {
    OssError::new(
        StatusCode::PRECONDITION_FAILED,
        "PreconditionFailed",
        "At least one of the pre-conditions you specified did not hold.",
    )
}

/// A key as written in a listing: URL-encoded when the request asked for `encoding-type=url`.
pub(super) fn enc(s: &str, url: bool) -> String {
    if url {
        uri_encode(s, true)
    } else {
        s.to_string()
    }
}
