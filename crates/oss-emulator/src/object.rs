//! Object operations (Put, Get/Head, Delete) and the dispatch of object-level requests.
//!
//! GetObject and HeadObject handle ranges, conditions and `response-*`
//! overrides; `copy`, `multipart` and `tagging` get the requests that are theirs.
//!
//! Every request is authenticated and authorized from its headers before a
//! byte of its body is read; accepted uploads stream into the store.

use bytes::Bytes;
use http::{Method, StatusCode};

use super::append;
use super::blob::Readable;
use super::body::BodyStream;
use super::copy;
use super::hook;
use super::multipart;
use super::request::{no_such_key, not_implemented, precondition_failed, ObjReq, Reply, ReplyBody};
use super::store;
use super::symlink::{self, SYMLINK};
use super::tagging;
use super::upload::{forbid_overwrite, new_object_authorized, receive};
use super::wire::http_date;
use super::xml::OssError;

pub(super) const UNSUPPORTED_OBJECT_SUBRESOURCES: &[&str] = &[
    "acl",
    "restore",
    "x-oss-process",
    "versionId",
    "versions",
    "callback",
];

fn method_not_allowed() -> OssError {
    OssError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "MethodNotAllowed",
        "The specified method is not allowed against this resource.",
    )
}

/// Dispatches an object-level request. Authentication and authorization
/// happen in each operation, before its body is read.
pub(super) async fn object_op(req: &ObjReq<'_>, body: BodyStream) -> Result<Reply, OssError> {
    if let Some(sub) = UNSUPPORTED_OBJECT_SUBRESOURCES.iter().find(|s| req.has(s)) {
        return Err(not_implemented(&format!("the '{sub}' sub-resource")));
    }
    if req.has("tagging") {
        return tagging::handle(req, body).await;
    }
    if req.has("symlink") {
        return match req.parts.method {
            Method::PUT => symlink::put_symlink(req).await,
            Method::GET => symlink::get_symlink(req),
            _ => {
                req.authenticate()?;
                Err(method_not_allowed())
            }
        };
    }
    if req.has("append") && req.parts.method == Method::POST {
        return append::append_object(req, body).await;
    }
    let m = req.parts.method.clone();
    let upload_id = req.q("uploadId").map(str::to_string);
    match (m, upload_id) {
        (Method::PUT, Some(_)) if req.headers().contains_key("x-oss-copy-source") => {
            req.allow("oss:PutObject")?;
            Err(not_implemented("UploadPartCopy"))
        }
        (Method::PUT, None) if req.headers().contains_key("x-oss-copy-source") => {
            copy::copy_object(req).await
        }
        (Method::PUT, Some(id)) => multipart::upload_part(req, &id, body).await,
        (Method::PUT, None) => put_object(req, body).await,
        (Method::HEAD, Some(_)) => {
            req.allow("oss:ListParts")?;
            Err(not_implemented("HEAD with uploadId"))
        }
        (Method::GET, Some(id)) => multipart::list_parts(req, &id),
        (Method::GET, None) | (Method::HEAD, None) => {
            req.allow("oss:GetObject")?;
            get_object(req, req.parts.method == Method::HEAD)
        }
        (Method::DELETE, Some(id)) => multipart::abort(req, &id),
        (Method::DELETE, None) => {
            req.allow("oss:DeleteObject")?;
            req.state.store.delete(&req.bucket, &req.key).await?;
            Ok(Reply::new(StatusCode::NO_CONTENT))
        }
        (Method::POST, _) if req.has("uploads") => multipart::initiate(req),
        (Method::POST, Some(id)) => multipart::complete(req, &id, body).await,
        (Method::POST, None) => {
            req.allow("oss:PutObject")?;
            Err(method_not_allowed())
        }
        _ => {
            req.authenticate()?;
            Err(method_not_allowed())
        }
    }
}

/// PutObject: authorized from the headers, then streamed into the store.
async fn put_object(req: &ObjReq<'_>, body: BodyStream) -> Result<Reply, OssError> {
    let new = new_object_authorized(req)?;
    let forbid = forbid_overwrite(req.header("x-oss-forbid-overwrite"));
    if forbid && req.state.store.head(&req.bucket, &req.key).is_some() {
        // OSS refuses before taking the body.
        return Err(store::file_exists());
    }
    let blob = receive(req, body, false).await?;
    let md5 = blob.md5_b64();
    let etag = blob.md5_hex_upper();
    let meta = req
        .state
        .store
        .put(&req.bucket, &req.key, blob, new, etag, "Normal", forbid)
        .await?;
    req.state.uploaded(&meta, hook::PUT_OBJECT, req.peer);
    Ok(Reply::new(StatusCode::OK)
        .header("etag", format!("\"{}\"", meta.etag))
        .header("content-md5", md5))
}

/// Parses a single `bytes=` range against `size`. `Ok(None)`: ignore the
/// header (OSS serves the whole object for a malformed range).
pub(super) fn parse_range(v: &str, size: u64) -> Result<Option<(u64, u64)>, OssError> {
    let Some(spec) = v.trim().strip_prefix("bytes=") else {
        return Ok(None);
    };
    if spec.contains(',') {
        return Ok(None);
    }
    let Some((a, b)) = spec.split_once('-') else {
        return Ok(None);
    };
    let (a, b) = (a.trim(), b.trim());
    let range = if a.is_empty() {
        let Ok(n) = b.parse::<u64>() else {
            return Ok(None);
        };
        if n == 0 || size == 0 {
            return Err(invalid_range(size));
        }
        (size.saturating_sub(n), size - 1)
    } else {
        let Ok(start) = a.parse::<u64>() else {
            return Ok(None);
        };
        let end = if b.is_empty() {
            size.saturating_sub(1)
        } else {
            match b.parse::<u64>() {
                Ok(e) if e >= start => e.min(size.saturating_sub(1)),
                _ => return Ok(None),
            }
        };
        if start >= size {
            return Err(invalid_range(size));
        }
        (start, end)
    };
    Ok(Some(range))
}

pub(super) fn invalid_range(size: u64) -> OssError {
    OssError::new(
        StatusCode::RANGE_NOT_SATISFIABLE,
        "InvalidRange",
        "The requested range cannot be satisfied",
    )
    .with("ActualObjectSize", size.to_string())
}

/// GetObject / HeadObject: conditions, `response-*` overrides, one byte
/// range; the body is streamed from the store, never loaded whole.
pub(super) fn get_object(req: &ObjReq<'_>, head: bool) -> Result<Reply, OssError> {
    let store = &req.state.store;
    let found = if head {
        // HeadObject needs no body: do not open the file.
        store
            .head(&req.bucket, &req.key)
            .map(|m| (m, Readable::Memory(Bytes::new())))
    } else {
        store.get(&req.bucket, &req.key)?
    };
    let (meta, body) = found.ok_or_else(|| no_such_key(&req.key))?;
    let (meta, body) = if meta.object_type == SYMLINK {
        symlink::resolve(req, meta, head)?
    } else {
        (meta, body)
    };
    let etag = format!("\"{}\"", meta.etag);
    if let Some(inm) = req.header("if-none-match") {
        if inm.trim() == etag || inm.trim() == "*" {
            return Ok(Reply::new(StatusCode::NOT_MODIFIED).header("etag", etag));
        }
    }
    if let Some(im) = req.header("if-match") {
        if im.trim() != etag && im.trim() != "*" {
            return Err(precondition_failed());
        }
    }
    let mut r = Reply::new(StatusCode::OK)
        .header("etag", etag)
        .header("last-modified", http_date(meta.last_modified))
        .header("x-oss-object-type", meta.object_type.clone())
        .header("x-oss-storage-class", "Standard")
        .header("accept-ranges", "bytes")
        .header("content-type", meta.content_type.clone());
    if !meta.tags.is_empty() {
        r = r.header("x-oss-tagging-count", meta.tags.len().to_string());
    }
    if meta.object_type == store::APPENDABLE {
        r = r.header("x-oss-next-append-position", meta.size.to_string());
    }
    for (k, v) in &meta.user_meta {
        r = r.header(&format!("x-oss-meta-{k}"), v.clone());
    }
    for (k, v) in &meta.headers {
        r = r.header(k, v.clone());
    }
    for (q, hname) in [
        ("response-content-type", "content-type"),
        ("response-content-disposition", "content-disposition"),
        ("response-cache-control", "cache-control"),
        ("response-content-encoding", "content-encoding"),
        ("response-content-language", "content-language"),
        ("response-expires", "expires"),
    ] {
        if let Some(v) = req.q(q) {
            r.headers.retain(|(k, _)| k != hname);
            r = r.header(hname, v);
        }
    }
    let range = match req.header("range") {
        Some(v) => parse_range(v, meta.size)?,
        None => None,
    };
    let (start, len) = match range {
        Some((s, e)) => {
            r.status = StatusCode::PARTIAL_CONTENT;
            r = r.header("content-range", format!("bytes {s}-{e}/{}", meta.size));
            (s, e - s + 1)
        }
        None => (0, meta.size),
    };
    r = r.header("content-length", len.to_string());
    if !head && len > 0 {
        r.body = ReplyBody::Stream(body.range(start, len));
    }
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        assert_eq!(parse_range("bytes=0-0", 10).unwrap(), Some((0, 0)));
        assert_eq!(parse_range("bytes=2-", 10).unwrap(), Some((2, 9)));
        assert_eq!(parse_range("bytes=-3", 10).unwrap(), Some((7, 9)));
        assert_eq!(parse_range("bytes=5-100", 10).unwrap(), Some((5, 9)));
        assert_eq!(parse_range("bytes=5-2", 10).unwrap(), None);
        assert_eq!(parse_range("junk", 10).unwrap(), None);
        assert_eq!(
            parse_range("bytes=10-", 10).unwrap_err().code,
            "InvalidRange"
        );
    }
}
