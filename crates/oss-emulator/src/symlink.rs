//! PutSymlink and GetSymlink (`?symlink`), and how GET/HEAD resolve a symlink.
//!
//! OSS semantics: PutSymlink needs `oss:PutObject` (and `oss:PutObjectTagging`
//! with `x-oss-tagging`), takes the target in `x-oss-symlink-target`
//! (URL-encoded; oss2 encodes `/` too), does not check that the target
//! exists, and replaces an existing object unless `x-oss-forbid-overwrite`.
//! GetSymlink needs `oss:GetObject` and answers the target in
//! `x-oss-symlink-target` with the link's own ETag. A GET or HEAD of the link
//! answers with the **target's** bytes, `Content-Length` and `ETag`, the later
//! of the two `Last-Modified`, and the link's other headers
//! (`x-oss-object-type: Symlink`, its Content-Type and metadata): HeadObject's
//! documented rule. A missing target is 404 SymlinkTargetNotExist; a link to a
//! link is 400 InvalidTargetType.

use bytes::Bytes;
use http::StatusCode;

use super::blob::{Blob, Readable};
use super::hook;
use super::request::{no_such_key, ObjReq, Reply};
use super::store::{self, md5_hex_upper, ObjectMeta};
use super::upload::{forbid_overwrite, new_object_authorized};
use super::wire::http_date;
use super::xml::OssError;
use alibaba_sign::encode::uri_encode;

/// `Symlink`, as `x-oss-object-type` names a symlink.
pub(crate) const SYMLINK: &str = "Symlink";

/// PutSymlink: `PUT /<key>?symlink` with `x-oss-symlink-target`.
pub(super) async fn put_symlink(req: &ObjReq<'_>) -> Result<Reply, OssError> {
    let mut new = new_object_authorized(req)?;
    let raw = req.header("x-oss-symlink-target").unwrap_or_default();
    let target = percent_encoding::percent_decode_str(raw)
        .decode_utf8()
        .map(|t| t.into_owned())
        .ok()
        .filter(|t| !t.is_empty() && t.len() <= 1023)
        .ok_or_else(|| {
            OssError::invalid_argument("x-oss-symlink-target must name an object.")
                .with("ArgumentName", "x-oss-symlink-target")
                .with("ArgumentValue", raw)
        })?;
    let forbid = forbid_overwrite(req.header("x-oss-forbid-overwrite"));
    let etag = md5_hex_upper(target.as_bytes());
    new.symlink_target = Some(target);
    let meta = req
        .state
        .store
        .put(
            &req.bucket,
            &req.key,
            Blob::from_bytes(Bytes::new()),
            new,
            etag,
            SYMLINK,
            forbid,
        )
        .await?;
    req.state.uploaded(&meta, hook::PUT_SYMLINK, req.peer);
    Ok(Reply::new(StatusCode::OK).header("etag", format!("\"{}\"", meta.etag)))
}

/// GetSymlink: `GET /<key>?symlink`.
pub(super) fn get_symlink(req: &ObjReq<'_>) -> Result<Reply, OssError> {
    req.allow("oss:GetObject")?;
    let meta = req
        .state
        .store
        .head(&req.bucket, &req.key)
        .ok_or_else(|| no_such_key(&req.key))?;
    let Some(target) = meta.symlink_target.as_deref() else {
        return Err(OssError::new(
            StatusCode::BAD_REQUEST,
            "NotSymlink",
            "The specified object is not a symlink.",
        ));
    };
    Ok(Reply::new(StatusCode::OK)
        .header("etag", format!("\"{}\"", meta.etag))
        .header("last-modified", http_date(meta.last_modified))
        .header("x-oss-symlink-target", uri_encode(target, true))
        .header("content-length", "0"))
}

/// What a GET or HEAD of `link` answers: its target's size, ETag and body,
/// with the link's own other metadata.
pub(super) fn resolve(
    req: &ObjReq<'_>,
    link: ObjectMeta,
    head: bool,
) -> Result<(ObjectMeta, Readable), OssError> {
    let target = link.symlink_target.clone().unwrap_or_default();
    let store = &req.state.store;
    let found = if head {
        store
            .head(&req.bucket, &target)
            .map(|m| (m, Readable::Memory(Bytes::new())))
    } else {
        store.get(&req.bucket, &target)?
    };
    let (meta, body) = found.ok_or_else(|| {
        OssError::new(
            StatusCode::NOT_FOUND,
            "SymlinkTargetNotExist",
            "The symlink target object does not exist.",
        )
        .with("SymlinkTarget", target.as_str())
    })?;
    if meta.object_type == SYMLINK {
        return Err(OssError::new(
            StatusCode::BAD_REQUEST,
            "InvalidTargetType",
            "The symlink target object type is not supported.",
        ));
    }
    let merged = ObjectMeta {
        size: meta.size,
        etag: meta.etag,
        last_modified: meta.last_modified.max(link.last_modified),
        ..link
    };
    Ok((merged, body))
}

/// Whether a stored object may be a CopyObject source: OSS does not copy
/// appendable objects; the emulator does not copy symlinks either.
pub(super) fn copyable(src: &ObjectMeta) -> Result<(), OssError> {
    if src.object_type == store::APPENDABLE {
        return Err(OssError::invalid_argument(
            "CopyObject cannot be performed on appendable objects.",
        )
        .with("ArgumentName", "x-oss-copy-source"));
    }
    if src.object_type == SYMLINK {
        return Err(super::request::not_implemented("copying a symlink"));
    }
    Ok(())
}
