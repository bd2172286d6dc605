//! Receiving a write: its body (size, `Content-MD5`, SHA-256), metadata and tags.

use std::collections::BTreeMap;

use base64::Engine as _;
use bytes::Bytes;
use http::{HeaderMap, StatusCode};

use super::auth;
use super::blob::{self, Blob};
use super::body::BodyStream;
use super::request::ObjReq;
use super::store::NewObject;
use super::tags;
use super::wire::header;
use super::xml::OssError;

fn invalid_digest() -> OssError {
    OssError::new(
        StatusCode::BAD_REQUEST,
        "InvalidDigest",
        "The Content-MD5 you specified was invalid.",
    )
}

/// Checks `Content-MD5` (if sent) against the MD5 of the body received.
pub(super) fn check_md5(h: &HeaderMap, md5: &[u8; 16]) -> Result<(), OssError> {
    let Some(v) = h.get("content-md5") else {
        return Ok(());
    };
    let given = base64::engine::general_purpose::STANDARD
        .decode(v.as_bytes())
        .map_err(|_| invalid_digest())?;
    if given.as_slice() != md5.as_slice() {
        return Err(invalid_digest());
    }
    Ok(())
}

/// Receives the body of an accepted upload into the store's blob area (or
/// `part_area` for UploadPart), enforcing the size limit as bytes arrive and
/// checking `Content-MD5` and a declared `x-oss-content-sha256` at the end.
pub(super) async fn receive(
    req: &ObjReq<'_>,
    body: BodyStream,
    part: bool,
) -> Result<Blob, OssError> {
    let store = &req.state.store;
    let dir = if part {
        store.part_dir()
    } else {
        store.blob_dir()
    };
    let declared = auth::declared_sha256(req.headers());
    let blob = blob::receive(
        body,
        dir.as_deref(),
        req.state.cfg.max_object_bytes,
        declared.is_some(),
    )
    .await?;
    check_md5(req.headers(), &blob.md5)?;
    auth::check_sha256(declared.as_deref(), blob.sha256)?;
    Ok(blob)
}

/// Receives a small body (XML) of an accepted request, with the same
/// `Content-MD5` / `x-oss-content-sha256` checks as an upload.
pub(super) async fn receive_small(req: &ObjReq<'_>, body: BodyStream) -> Result<Bytes, OssError> {
    let declared = auth::declared_sha256(req.headers());
    let blob = blob::receive(body, None, 8 << 20, declared.is_some()).await?;
    check_md5(req.headers(), &blob.md5)?;
    auth::check_sha256(declared.as_deref(), blob.sha256)?;
    match blob.take() {
        blob::BlobData::Memory(b) => Ok(b),
        blob::BlobData::File(_) => Ok(Bytes::new()),
    }
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

/// [`new_object`] for PutObject and InitiateMultipartUpload, after checking
/// `oss:PutObject`, and `oss:PutObjectTagging` when the request sets tags
/// with `x-oss-tagging` (as OSS requires).
pub(super) fn new_object_authorized(req: &ObjReq<'_>) -> Result<NewObject, OssError> {
    let principal = req.allow("oss:PutObject")?;
    if req.headers().contains_key("x-oss-tagging") {
        req.authorize(&principal, "oss:PutObjectTagging")?;
    }
    new_object(req.headers())
}

/// Content-Type, `x-oss-meta-*`, tags and the stored standard headers of a write.
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
    let tags = match header(h, "x-oss-tagging") {
        Some(v) => tags::parse_header(v)?,
        None => Vec::new(),
    };
    Ok(NewObject {
        tags,
        content_type: header(h, "content-type")
            .filter(|c| !c.is_empty())
            .unwrap_or("application/octet-stream")
            .to_string(),
        user_meta,
        headers,
        symlink_target: None,
    })
}

pub(super) fn forbid_overwrite(v: Option<&str>) -> bool {
    v.map(|v| v.eq_ignore_ascii_case("true")).unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

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
