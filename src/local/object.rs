//! Object operations: PutObject, GetObject / HeadObject (ranges,
//! conditions, `response-*` overrides), DeleteObject, and the dispatch of
//! object-level requests (multipart ones go to `multipart`).

use std::collections::BTreeMap;
use std::net::IpAddr;

use base64::Engine as _;
use bytes::Bytes;
use http::request::Parts;
use http::{HeaderMap, Method, StatusCode};

use super::auth;
use super::hook;
use super::multipart;
use super::route::{authn, header, http_date, not_implemented, qget, qhas, Reply};
use super::server::State;
use super::store::{self, md5_hex_upper, NewObject};
use super::xml::OssError;
use crate::oss::encode::uri_encode;

pub(super) fn check_md5(h: &HeaderMap, body: &[u8]) -> Result<(), OssError> {
    let Some(v) = h.get("content-md5") else {
        return Ok(());
    };
    let invalid = || {
        OssError::new(
            StatusCode::BAD_REQUEST,
            "InvalidDigest",
            "The Content-MD5 you specified was invalid.",
        )
    };
    let given = base64::engine::general_purpose::STANDARD
        .decode(v.as_bytes())
        .map_err(|_| invalid())?;
    use md5::{Digest, Md5};
    if given.as_slice() != Md5::digest(body).as_slice() {
        return Err(invalid());
    }
    Ok(())
}

/// Records one `x-oss-meta-*` entry (`name` is the full lower-case header
/// name). OSS rejects metadata whose name cannot be sent back as a header, so
/// such a name fails the write here instead of making the object unreadable.
pub(super) fn insert_user_meta(
    user_meta: &mut BTreeMap<String, String>,
    name: &str,
    value: String,
) -> Result<(), OssError> {
    if http::HeaderName::from_bytes(name.as_bytes()).is_err() {
        return Err(OssError::invalid_argument(
            "The user metadata name is not a valid header name.",
        )
        .with("ArgumentName", name)
        .with("ArgumentValue", value));
    }
    if let Some(m) = name.strip_prefix("x-oss-meta-") {
        user_meta.insert(m.to_string(), value);
    }
    Ok(())
}

/// Content-Type, `x-oss-meta-*` and the stored standard headers of a write.
pub(super) fn new_object(h: &HeaderMap) -> Result<NewObject, OssError> {
    let mut user_meta = BTreeMap::new();
    let mut headers = BTreeMap::new();
    for (k, v) in h {
        let name = k.as_str();
        let val = String::from_utf8_lossy(v.as_bytes()).into_owned();
        if name.starts_with("x-oss-meta-") {
            insert_user_meta(&mut user_meta, name, val)?;
        } else if matches!(
            name,
            "content-disposition"
                | "cache-control"
                | "content-encoding"
                | "content-language"
                | "expires"
        ) {
            headers.insert(name.to_string(), val);
        }
    }
    Ok(NewObject {
        content_type: header(h, "content-type")
            .filter(|c| !c.is_empty())
            .unwrap_or("application/octet-stream")
            .to_string(),
        user_meta,
        headers,
    })
}

pub(super) fn forbid_overwrite(v: Option<&str>) -> bool {
    v.map(|v| v.eq_ignore_ascii_case("true")).unwrap_or(false)
}

pub(super) fn too_large(state: &State, len: usize) -> Result<(), OssError> {
    if len as u64 > state.cfg.max_object_bytes {
        return Err(store::entity_too_large(state.cfg.max_object_bytes));
    }
    Ok(())
}

pub(super) const UNSUPPORTED_OBJECT_SUBRESOURCES: &[&str] = &[
    "acl",
    "append",
    "tagging",
    "symlink",
    "restore",
    "x-oss-process",
    "versionId",
    "versions",
    "callback",
];

pub(super) async fn object_op(
    state: &State,
    parts: &Parts,
    query: &[(String, String)],
    bucket: &str,
    key: &str,
    body: Bytes,
    peer: IpAddr,
) -> Result<Reply, OssError> {
    let acct = state.keys.account_id().to_string();
    let h = &parts.headers;
    if let Some(sub) = UNSUPPORTED_OBJECT_SUBRESOURCES
        .iter()
        .find(|s| qhas(query, s))
    {
        return Err(not_implemented(&format!("the '{sub}' sub-resource")));
    }
    let principal = authn(state, parts, query, bucket, key, &body)?;
    let allow = |action: &str| auth::authorize(&principal, &acct, action, bucket, Some(key));
    let m = parts.method.clone();
    if m == Method::PUT {
        allow("oss:PutObject")?;
        if h.contains_key("x-oss-copy-source") {
            return Err(not_implemented("CopyObject / UploadPartCopy"));
        }
        check_md5(h, &body)?;
        if let Some(id) = qget(query, "uploadId") {
            return multipart::upload_part(state, query, bucket, key, id, body);
        }
        too_large(state, body.len())?;
        let etag = md5_hex_upper(&body);
        let md5 = md5_b64(&body);
        let meta = state
            .store
            .put(
                bucket,
                key,
                body,
                new_object(h)?,
                etag,
                "Normal",
                forbid_overwrite(header(h, "x-oss-forbid-overwrite")),
            )
            .await?;
        state.uploaded(&meta, hook::PUT_OBJECT, peer);
        return Ok(Reply::new(StatusCode::OK)
            .header("etag", format!("\"{}\"", meta.etag))
            .header("content-md5", md5));
    }
    if m == Method::GET || m == Method::HEAD {
        if let Some(id) = qget(query, "uploadId") {
            if m == Method::HEAD {
                return Err(not_implemented("HEAD with uploadId"));
            }
            allow("oss:ListParts")?;
            return multipart::list_parts(state, query, bucket, key, id);
        }
        allow("oss:GetObject")?;
        return get_object(state, parts, query, bucket, key, m == Method::HEAD).await;
    }
    if m == Method::DELETE {
        if let Some(id) = qget(query, "uploadId") {
            allow("oss:AbortMultipartUpload")?;
            state.store.abort(bucket, key, id)?;
            return Ok(Reply::new(StatusCode::NO_CONTENT));
        }
        allow("oss:DeleteObject")?;
        state.store.delete(bucket, key).await?;
        return Ok(Reply::new(StatusCode::NO_CONTENT));
    }
    if m == Method::POST {
        allow("oss:PutObject")?;
        if qhas(query, "uploads") {
            return multipart::initiate(state, h, query, bucket, key);
        }
        if let Some(id) = qget(query, "uploadId") {
            check_md5(h, &body)?;
            return multipart::complete(state, h, query, bucket, key, id, &body, peer).await;
        }
        return Err(OssError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "MethodNotAllowed",
            "The specified method is not allowed against this resource.",
        ));
    }
    Err(OssError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "MethodNotAllowed",
        "The specified method is not allowed against this resource.",
    ))
}

pub(super) fn md5_b64(data: &[u8]) -> String {
    use md5::{Digest, Md5};
    base64::engine::general_purpose::STANDARD.encode(Md5::digest(data))
}

pub(super) fn enc(s: &str, url: bool) -> String {
    if url {
        uri_encode(s, true)
    } else {
        s.to_string()
    }
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

pub(super) async fn get_object(
    state: &State,
    parts: &Parts,
    query: &[(String, String)],
    bucket: &str,
    key: &str,
    head: bool,
) -> Result<Reply, OssError> {
    let no_such_key = || {
        OssError::new(
            StatusCode::NOT_FOUND,
            "NoSuchKey",
            "The specified key does not exist.",
        )
        .with("Key", key)
    };
    let (meta, body) = if head {
        let meta = state.store.head(bucket, key).ok_or_else(no_such_key)?;
        (meta, Bytes::new())
    } else {
        state
            .store
            .get(bucket, key)
            .await?
            .ok_or_else(no_such_key)?
    };
    let etag = format!("\"{}\"", meta.etag);
    let h = &parts.headers;
    if let Some(inm) = header(h, "if-none-match") {
        if inm.trim() == etag || inm.trim() == "*" {
            return Ok(Reply::new(StatusCode::NOT_MODIFIED).header("etag", etag));
        }
    }
    if let Some(im) = header(h, "if-match") {
        if im.trim() != etag && im.trim() != "*" {
            return Err(OssError::new(
                StatusCode::PRECONDITION_FAILED,
                "PreconditionFailed",
                "At least one of the pre-conditions you specified did not hold.",
            ));
        }
    }
    let mut r = Reply::new(StatusCode::OK)
        .header("etag", etag)
        .header("last-modified", http_date(meta.last_modified))
        .header("x-oss-object-type", meta.object_type.clone())
        .header("x-oss-storage-class", "Standard")
        .header("accept-ranges", "bytes")
        .header("content-type", meta.content_type.clone());
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
        if let Some(v) = qget(query, q) {
            r.headers.retain(|(k, _)| k != hname);
            r = r.header(hname, v);
        }
    }
    let range = match header(h, "range") {
        Some(v) => parse_range(v, meta.size)?,
        None => None,
    };
    match range {
        Some((s, e)) => {
            r.status = StatusCode::PARTIAL_CONTENT;
            r = r.header("content-range", format!("bytes {s}-{e}/{}", meta.size));
            if head {
                r = r.header("content-length", (e - s + 1).to_string());
            } else {
                // Clamp to the bytes actually held, in case the blob and metadata disagree.
                let end = (e as usize).saturating_add(1).min(body.len());
                r.body = body.slice((s as usize).min(end)..end);
            }
        }
        None => {
            if head {
                r = r.header("content-length", meta.size.to_string());
            } else {
                r.body = body;
            }
        }
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

    #[test]
    fn meta_names_are_validated() {
        let mut m = BTreeMap::new();
        let e = insert_user_meta(&mut m, "x-oss-meta-a b", "1".into()).unwrap_err();
        assert_eq!(e.status, StatusCode::BAD_REQUEST);
        assert_eq!(e.code, "InvalidArgument");
        assert!(insert_user_meta(&mut m, "x-oss-meta-a\nb", "1".into()).is_err());
        assert!(insert_user_meta(&mut m, "x-oss-meta-\u{e9}", "1".into()).is_err());
        assert!(m.is_empty());
        insert_user_meta(&mut m, "x-oss-meta-color", "blue".into()).unwrap();
        assert_eq!(m.get("color").map(String::as_str), Some("blue"));
    }
}
