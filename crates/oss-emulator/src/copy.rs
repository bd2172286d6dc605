//! CopyObject: `PUT` with `x-oss-copy-source`, its conditions and its directives.
//!
//! `x-oss-copy-source: /<bucket>/<key>` is URL-encoded. The function's quarantine
//! moves an upload with it, guarded by `x-oss-copy-source-if-match` so a replaced
//! object is never moved by mistake.
//!
//! Authorization as in OSS: `oss:PutObject` on the target, `oss:GetObject`
//! on the source, and `oss:PutObjectTagging` when the copy sets new tags.
//! The body is copied on disk (streamed), never loaded whole.

use http::StatusCode;

use super::auth;
use super::request::{
    no_such_bucket, no_such_key, not_implemented, precondition_failed, ObjReq, Reply,
};
use super::store::{self, NewObject, ObjectMeta};
use super::tags;
use super::upload::{forbid_overwrite, new_object};
use super::wire::{iso_date, parse_http_date};
use super::xml::{self, elem, OssError};

fn bad_source(v: &str) -> OssError {
    OssError::invalid_argument("x-oss-copy-source must be /<bucket>/<URL-encoded key>.")
        .with("ArgumentName", "x-oss-copy-source")
        .with("ArgumentValue", v)
}

/// Splits and decodes `x-oss-copy-source` into bucket and key.
fn parse_source(v: &str) -> Result<(String, String), OssError> {
    if v.contains('?') {
        // `?versionId=`: the emulator keeps no versions.
        return Err(not_implemented("copying a version of an object"));
    }
    let dec = |s: &str| {
        percent_encoding::percent_decode_str(s)
            .decode_utf8()
            .map(|c| c.into_owned())
            .map_err(|_| bad_source(v))
    };
    let rest = v.strip_prefix('/').unwrap_or(v);
    let (b, k) = rest.split_once('/').ok_or_else(|| bad_source(v))?;
    let (b, k) = (dec(b)?, dec(k)?);
    if b.is_empty() || k.is_empty() || k.len() > 1023 {
        return Err(bad_source(v));
    }
    Ok((b, k))
}

/// Whether the copy may go ahead given the `x-oss-copy-source-if-*`
/// headers: Err(412) for a failed if-match / if-unmodified-since, Ok(false)
/// for a 304 (if-none-match matched, or not modified since).
fn conditions(req: &ObjReq<'_>, src: &ObjectMeta) -> Result<bool, OssError> {
    let etag = |v: &str| v.trim().trim_matches('"').eq_ignore_ascii_case(&src.etag);
    if let Some(v) = req.header("x-oss-copy-source-if-match") {
        if !etag(v) {
            return Err(precondition_failed());
        }
    }
    if let Some(t) = req
        .header("x-oss-copy-source-if-unmodified-since")
        .and_then(parse_http_date)
    {
        if src.last_modified > t {
            return Err(precondition_failed());
        }
    }
    if let Some(v) = req.header("x-oss-copy-source-if-none-match") {
        if etag(v) {
            return Ok(false);
        }
    }
    if let Some(t) = req
        .header("x-oss-copy-source-if-modified-since")
        .and_then(parse_http_date)
    {
        if src.last_modified <= t {
            return Ok(false);
        }
    }
    Ok(true)
}

fn directive(req: &ObjReq<'_>, name: &str) -> Result<bool, OssError> {
    match req.header(name) {
        None => Ok(false),
        Some(v) if v.eq_ignore_ascii_case("copy") => Ok(false),
        Some(v) if v.eq_ignore_ascii_case("replace") => Ok(true),
        Some(v) => Err(
            OssError::invalid_argument(format!("{name} must be COPY or REPLACE."))
                .with("ArgumentName", name)
                .with("ArgumentValue", v),
        ),
    }
}

/// CopyObject.
pub(super) async fn copy_object(req: &ObjReq<'_>) -> Result<Reply, OssError> {
    let principal = req.authenticate()?;
    req.authorize(&principal, "oss:PutObject")?;
    let raw = req.header("x-oss-copy-source").unwrap_or_default();
    let (src_bucket, src_key) = parse_source(raw)?;
    let store = &req.state.store;
    if !store.has_bucket(&src_bucket) {
        return Err(no_such_bucket(&src_bucket));
    }
    auth::authorize(
        &principal,
        req.state.keys.account_id(),
        "oss:GetObject",
        &src_bucket,
        Some(&src_key),
    )?;
    let replace_meta = directive(req, "x-oss-metadata-directive")?;
    let replace_tags = directive(req, "x-oss-tagging-directive")?;
    let new_tags = if replace_tags {
        req.authorize(&principal, "oss:PutObjectTagging")?;
        tags::parse_header(req.header("x-oss-tagging").unwrap_or_default())?
    } else {
        Vec::new()
    };
    let replaced = if replace_meta {
        Some(new_object(req.headers())?)
    } else {
        None
    };
    let src = store
        .head(&src_bucket, &src_key)
        .ok_or_else(|| no_such_key(&src_key))?;
    super::symlink::copyable(&src)?;
    if !conditions(req, &src)? {
        return Ok(Reply::new(StatusCode::NOT_MODIFIED));
    }
    let forbid = forbid_overwrite(req.header("x-oss-forbid-overwrite"));
    if forbid && store.head(&req.bucket, &req.key).is_some() {
        return Err(store::file_exists());
    }
    let (src, blob) = store
        .copy_body(&src_bucket, &src_key)
        .await?
        .ok_or_else(|| no_such_key(&src_key))?;
    // The source may have been replaced between the check and the copy.
    if !conditions(req, &src)? {
        return Err(precondition_failed());
    }
    let mut new = replaced.unwrap_or_else(|| NewObject {
        content_type: src.content_type.clone(),
        user_meta: src.user_meta.clone(),
        headers: src.headers.clone(),
        tags: Vec::new(),
        symlink_target: None,
    });
    new.tags = if replace_tags {
        new_tags
    } else {
        src.tags.clone()
    };
    let meta = store
        .put(
            &req.bucket,
            &req.key,
            blob,
            new,
            src.etag.clone(),
            &src.object_type,
            forbid,
        )
        .await?;
    let mut s = xml::doc("CopyObjectResult");
    elem(&mut s, "ETag", &format!("\"{}\"", meta.etag));
    elem(&mut s, "LastModified", &iso_date(meta.last_modified));
    s.push_str("</CopyObjectResult>\n");
    Ok(Reply::xml(s).header("etag", format!("\"{}\"", meta.etag)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copy_source_forms() {
        assert_eq!(
            parse_source("/b/dir%2Fa%20b.png").unwrap(),
            ("b".to_string(), "dir/a b.png".to_string())
        );
        assert_eq!(
            parse_source("b/dir/x").unwrap(),
            ("b".to_string(), "dir/x".to_string())
        );
        assert_eq!(parse_source("/b").unwrap_err().code, "InvalidArgument");
        assert_eq!(parse_source("/b/").unwrap_err().code, "InvalidArgument");
        assert_eq!(
            parse_source("/b/k?versionId=1").unwrap_err().code,
            "NotImplemented"
        );
    }
}
