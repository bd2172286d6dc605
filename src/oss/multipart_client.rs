//! The four multipart calls the function makes itself, on [`OssClient`]
//! (V4 `Authorization` header, bounded timeouts, typed errors):
//! InitiateMultipartUpload, ListParts (every page), CompleteMultipartUpload
//! and AbortMultipartUpload. UploadPart is never called here: clients send
//! the bytes straight to OSS on presigned URLs ([`super::multipart::UploadPart`]).
//!
//! Always called with the caller's scoped upload credentials, whose session
//! policy (`oss:PutObject`, `oss:ListParts`, `oss:AbortMultipartUpload` on
//! the caller's prefix) covers exactly these four.

use super::client::{OssClient, OssError, OssRequest};
use super::multipart::{ListedPart, MAX_PARTS};
use super::multipart_xml::CompleteResult;
use super::multipart_xml::{complete_body, parse_complete, parse_initiate, parse_list_parts};
use alibaba_sign::Credentials;

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
#[allow(clippy::too_many_arguments)]
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
