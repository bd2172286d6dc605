//! The OSS calls the function makes itself, each one signed request on
//! [`OssClient`] (V4 `Authorization` header, bounded timeouts, typed errors).
//!
//! Multipart, with the caller's scoped upload credentials (their session
//! policy, `oss:PutObject`, `oss:ListParts`, `oss:AbortMultipartUpload` on the
//! caller's prefix, covers exactly these four): InitiateMultipartUpload,
//! ListParts (every page), CompleteMultipartUpload and AbortMultipartUpload.
//! UploadPart is never called here: clients send the bytes straight to OSS on
//! presigned URLs ([`super::multipart::UploadPart`]).
//!
//! The upload check's, with its scoped credentials
//! ([`crate::sts::policy::check_policy`]): HeadObject, GetSymlink, a ranged
//! GetObject, Get/PutObjectTagging, CopyObject and DeleteObject. Those that name a
//! version are conditional on its ETag (`If-Match`,
//! `x-oss-copy-source-if-match`), so a replaced object is never judged or
//! moved by an event for the one before. PutObjectTagging and DeleteObject
//! cannot be: OSS has no conditional form of either (only `versionId`), so
//! the check re-reads with `If-Match` right before each (see
//! [`crate::check`]).

use super::client::{OssClient, OssError, OssRequest};
use super::multipart::{ListedPart, MAX_PARTS};
use super::multipart_xml::CompleteResult;
use super::multipart_xml::{complete_body, parse_complete, parse_initiate, parse_list_parts};
use super::tagging::{parse_tags, tagging_header, tagging_xml};
use alibaba_sign::encode::uri_encode;
use alibaba_sign::Credentials;
use bytes::Bytes;

/// How long CompleteMultipartUpload may take (OSS keeps going if we stop
/// waiting, and a retry would then find the upload gone).
pub const COMPLETE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);

/// Parts per ListParts page (OSS's maximum).
const PAGE: u32 = 1000;

/// `POST /<key>?uploads` with the pinned `Content-Type` and, unless the
/// upload is meant to replace its key (a `replace` profile),
/// `x-oss-forbid-overwrite: true`; returns the new upload id.
pub async fn initiate(
    client: &OssClient,
    creds: &Credentials,
    bucket: &str,
    key: &str,
    content_type: &str,
    forbid_overwrite: bool,
) -> Result<String, OssError> {
    let mut req = OssRequest::new("POST", bucket, key)
        .query("uploads", "")
        .header("Content-Type", content_type);
    if forbid_overwrite {
        req = req.header("x-oss-forbid-overwrite", "true");
    }
    let resp = client.send(creds, req).await?;
    parse_initiate(&resp.body).map_err(|e| OssError::BadResponse(e.to_string()))
}

/// Every part OSS holds for `upload_id`, following `IsTruncated` pages
/// (`max-parts=1000`, `part-number-marker`). A marker that does not move
/// forward, or more pages than 10,000 parts can fill, is a bad answer rather
/// than an endless loop.
pub async fn list_parts(
    client: &OssClient,
    creds: &Credentials,
    bucket: &str,
    key: &str,
    upload_id: &str,
) -> Result<Vec<ListedPart>, OssError> {
    let mut parts = Vec::new();
    let mut marker: Option<u32> = None;
    for _ in 0..=(MAX_PARTS / PAGE) {
        let mut req = OssRequest::new("GET", bucket, key)
            .query("uploadId", upload_id)
            .query("max-parts", PAGE.to_string());
        if let Some(m) = marker {
            req = req.query("part-number-marker", m.to_string());
        }
        let resp = client.send(creds, req).await?;
        let page =
            parse_list_parts(&resp.body).map_err(|e| OssError::BadResponse(e.to_string()))?;
        parts.extend(page.parts);
        match page.next_marker {
            None => return Ok(parts),
            Some(next) if marker.is_some_and(|m| next <= m) => {
                return Err(OssError::BadResponse(format!(
                    "ListParts marker went from {marker:?} to {next}"
                )))
            }
            Some(next) => marker = Some(next),
        }
    }
    Err(OssError::BadResponse(format!(
        "ListParts returned more than {} pages",
        MAX_PARTS / PAGE + 1
    )))
}

/// `POST /<key>?uploadId=ID` with `parts` (ascending, ETags quoted) and,
/// with `forbid_overwrite`, `x-oss-forbid-overwrite: true`, so an object that
/// appeared at `key` since initiate is not replaced (409 `FileAlreadyExists`).
pub async fn complete(
    client: &OssClient,
    creds: &Credentials,
    bucket: &str,
    key: &str,
    upload_id: &str,
    parts: &[ListedPart],
    forbid_overwrite: bool,
) -> Result<CompleteResult, OssError> {
    let mut req = OssRequest::new("POST", bucket, key)
        .query("uploadId", upload_id)
        .header("Content-Type", "application/xml");
    if forbid_overwrite {
        req = req.header("x-oss-forbid-overwrite", "true");
    }
    // OSS assembles the object before answering; with thousands of parts
    // that can take longer than an ordinary call's timeout.
    let req = req.body(complete_body(parts)).timeout(COMPLETE_TIMEOUT);
    let resp = client.send(creds, req).await?;
    parse_complete(&resp.body).map_err(|e| OssError::BadResponse(e.to_string()))
}

/// `DELETE /<key>?uploadId=ID`: the upload and its parts are gone.
pub async fn abort(
    client: &OssClient,
    creds: &Credentials,
    bucket: &str,
    key: &str,
    upload_id: &str,
) -> Result<(), OssError> {
    let req = OssRequest::new("DELETE", bucket, key).query("uploadId", upload_id);
    client.send(creds, req).await.map(|_| ())
}

/// What HeadObject says about the stored object.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObjectHead {
    /// `Content-Length`: the stored size, the one trusted.
    pub size: u64,
    /// `Content-Type`: the declared type.
    pub content_type: String,
    /// `ETag`, unquoted, uppercase.
    pub etag: String,
    /// `x-oss-object-type`: `Normal`, `Multipart`, `Appendable`, `Symlink`
    /// (empty when absent). For a symlink every other field is its target's.
    pub object_type: String,
}

/// `"5B3C..."` / `5b3c...` → `5B3C...`.
pub fn normalize_etag(e: &str) -> String {
    e.trim().trim_matches('"').to_ascii_uppercase()
}

/// HeadObject, only if the object still is version `etag` (`If-Match`; 412
/// when it was replaced, 404 when it is gone).
pub async fn head_object(
    client: &OssClient,
    creds: &Credentials,
    bucket: &str,
    key: &str,
    etag: &str,
) -> Result<ObjectHead, OssError> {
    let req = OssRequest::new("HEAD", bucket, key).header("If-Match", format!("\"{etag}\""));
    head(client, creds, req).await
}

/// HeadObject of whatever version is at `key` now (404 when none is). For a
/// symlink, whose HeadObject shows its target's ETag and size, not the ones
/// its event may carry (404 when its target is missing).
pub async fn head_current(
    client: &OssClient,
    creds: &Credentials,
    bucket: &str,
    key: &str,
) -> Result<ObjectHead, OssError> {
    head(client, creds, OssRequest::new("HEAD", bucket, key)).await
}

async fn head(
    client: &OssClient,
    creds: &Credentials,
    req: OssRequest,
) -> Result<ObjectHead, OssError> {
    let resp = client.send(creds, req).await?;
    let size = resp
        .header("content-length")
        .and_then(|v| v.parse::<u64>().ok())
        .ok_or_else(|| {
            OssError::BadResponse("HeadObject answered without a Content-Length".into())
        })?;
    Ok(ObjectHead {
        size,
        content_type: resp.header("content-type").unwrap_or_default().to_owned(),
        etag: normalize_etag(resp.header("etag").unwrap_or_default()),
        object_type: resp
            .header("x-oss-object-type")
            .unwrap_or_default()
            .to_owned(),
    })
}

/// GetSymlink (`GET /<key>?symlink`): the symlink's own ETag (unquoted,
/// uppercase) and its target. 404 when the key is gone; 400 `NotSymlink`
/// when it is no longer a symlink.
pub async fn get_symlink(
    client: &OssClient,
    creds: &Credentials,
    bucket: &str,
    key: &str,
) -> Result<(String, String), OssError> {
    let req = OssRequest::new("GET", bucket, key).query("symlink", "");
    let resp = client.send(creds, req).await?;
    let etag = normalize_etag(resp.header("etag").unwrap_or_default());
    let raw = resp.header("x-oss-symlink-target").unwrap_or_default();
    let target = percent_encoding::percent_decode_str(raw)
        .decode_utf8_lossy()
        .into_owned();
    Ok((etag, target))
}

/// The first `n` bytes of version `etag` (ranged GetObject, `If-Match`);
/// never more than `n` bytes are kept, and never more than the client's
/// answer limit are read.
pub async fn first_bytes(
    client: &OssClient,
    creds: &Credentials,
    bucket: &str,
    key: &str,
    etag: &str,
    n: u64,
) -> Result<Bytes, OssError> {
    let req = OssRequest::new("GET", bucket, key)
        .header("Range", format!("bytes=0-{}", n.saturating_sub(1)))
        .header("If-Match", format!("\"{etag}\""));
    let mut body = client.send(creds, req).await?.body;
    body.truncate(usize::try_from(n).unwrap_or(usize::MAX));
    Ok(body)
}

/// GetObjectTagging: the object's tag set, in OSS's order.
pub async fn get_tags(
    client: &OssClient,
    creds: &Credentials,
    bucket: &str,
    key: &str,
) -> Result<Vec<(String, String)>, OssError> {
    let req = OssRequest::new("GET", bucket, key).query("tagging", "");
    let resp = client.send(creds, req).await?;
    parse_tags(&resp.body).map_err(OssError::BadResponse)
}

/// PutObjectTagging (replaces the whole tag set with `tags`).
pub async fn put_tags(
    client: &OssClient,
    creds: &Credentials,
    bucket: &str,
    key: &str,
    tags: &[(String, String)],
) -> Result<(), OssError> {
    let req = OssRequest::new("PUT", bucket, key)
        .query("tagging", "")
        .header("Content-Type", "application/xml")
        .body(tagging_xml(tags));
    client.send(creds, req).await.map(drop)
}

/// CopyObject `src` → `dst` in the same bucket, only if `src` still is
/// version `etag`, with the metadata kept and the tags replaced by `tags`.
pub async fn copy_object(
    client: &OssClient,
    creds: &Credentials,
    bucket: &str,
    src: &str,
    dst: &str,
    etag: &str,
    tags: &[(String, String)],
) -> Result<(), OssError> {
    let req = OssRequest::new("PUT", bucket, dst)
        .header(
            "x-oss-copy-source",
            format!("/{bucket}/{}", uri_encode(src, true)),
        )
        .header("x-oss-copy-source-if-match", format!("\"{etag}\""))
        .header("x-oss-metadata-directive", "COPY")
        .header("x-oss-tagging", tagging_header(tags))
        .header("x-oss-tagging-directive", "Replace");
    client.send(creds, req).await.map(drop)
}

/// DeleteObject (OSS answers 204 whether or not the object exists).
pub async fn delete_object(
    client: &OssClient,
    creds: &Credentials,
    bucket: &str,
    key: &str,
) -> Result<(), OssError> {
    let req = OssRequest::new("DELETE", bucket, key);
    client.send(creds, req).await.map(drop)
}

#[cfg(test)]
mod tests {
    use super::normalize_etag;

    #[test]
    fn etags_are_unquoted_and_uppercase() {
        assert_eq!(normalize_etag("\"5b3c\""), "5B3C");
        assert_eq!(normalize_etag(" 5B3C "), "5B3C");
    }
}
