//! Multipart upload operations: Initiate, UploadPart, ListParts, Complete, Abort.
//!
//! Each is authorized from its headers first; parts stream into the store.

use http::StatusCode;

use super::body::BodyStream;
use super::hook;
use super::request::{enc, ObjReq, Reply};
use super::store;
use super::upload::{forbid_overwrite, new_object_authorized, receive, receive_small};
use super::wire::iso_date;
use super::xml::{self, elem, OssError};
use alibaba_sign::encode::uri_encode;

/// Whether the request asked for URL-encoded keys in the answer.
fn url_encoding(req: &ObjReq<'_>) -> bool {
    req.q("encoding-type") == Some("url")
}

/// InitiateMultipartUpload: remembers the object's headers (Content-Type,
/// metadata, tags) for Complete. With `x-oss-forbid-overwrite: true` an
/// existing object is 409 FileAlreadyExists here; Complete checks again only
/// when it carries the header itself (OSS documents it on both requests).
pub(super) fn initiate(req: &ObjReq<'_>) -> Result<Reply, OssError> {
    let new = new_object_authorized(req)?;
    if forbid_overwrite(req.header("x-oss-forbid-overwrite"))
        && req.state.store.head(&req.bucket, &req.key).is_some()
    {
        return Err(store::file_exists());
    }
    let id = req.state.store.initiate(&req.bucket, &req.key, new);
    let url = url_encoding(req);
    let mut s = xml::doc("InitiateMultipartUploadResult");
    elem(&mut s, "Bucket", &req.bucket);
    elem(&mut s, "Key", &enc(&req.key, url));
    elem(&mut s, "UploadId", &id);
    if url {
        elem(&mut s, "EncodingType", "url");
    }
    s.push_str("</InitiateMultipartUploadResult>\n");
    Ok(Reply::xml(s))
}

/// UploadPart: stores one numbered part of upload `id`, streamed.
pub(super) async fn upload_part(
    req: &ObjReq<'_>,
    id: &str,
    body: BodyStream,
) -> Result<Reply, OssError> {
    req.allow("oss:PutObject")?;
    let n: u32 = req
        .q("partNumber")
        .and_then(|n| n.parse().ok())
        .filter(|n| (1..=10000).contains(n))
        .ok_or_else(|| {
            OssError::invalid_argument(
                "Part number must be an integer between 1 and 10000, inclusive.",
            )
            .with("ArgumentName", "partNumber")
        })?;
    // An unknown upload is refused before its body is read.
    req.state.store.list_parts(&req.bucket, &req.key, id)?;
    let blob = receive(req, body, true).await?;
    let md5 = blob.md5_b64();
    let etag = req
        .state
        .store
        .upload_part(&req.bucket, &req.key, id, n, blob)?;
    Ok(Reply::new(StatusCode::OK)
        .header("etag", format!("\"{etag}\""))
        .header("content-md5", md5))
}

/// AbortMultipartUpload: drops the upload and its parts.
pub(super) fn abort(req: &ObjReq<'_>, id: &str) -> Result<Reply, OssError> {
    req.allow("oss:AbortMultipartUpload")?;
    req.state.store.abort(&req.bucket, &req.key, id)?;
    Ok(Reply::new(StatusCode::NO_CONTENT))
}

/// CompleteMultipartUpload: checks the part list as OSS does and makes the
/// object visible.
pub(super) async fn complete(
    req: &ObjReq<'_>,
    id: &str,
    body: BodyStream,
) -> Result<Reply, OssError> {
    req.allow("oss:PutObject")?;
    let store = &req.state.store;
    let body = receive_small(req, body).await?;
    let all = req.header("x-oss-complete-all") == Some("yes");
    if all && !body.is_empty() {
        return Err(OssError::invalid_argument(
            "With x-oss-complete-all: yes the request must not have a body.",
        )
        .with("ArgumentName", "x-oss-complete-all"));
    }
    let list = if all {
        store
            .list_parts(&req.bucket, &req.key, id)?
            .into_iter()
            .map(|(n, p)| xml::CompletePart {
                part_number: n,
                etag: p.etag,
            })
            .collect()
    } else {
        xml::parse_complete(&body)?
    };
    let meta = store
        .complete(
            &req.bucket,
            &req.key,
            id,
            &list,
            req.state.cfg.max_object_bytes,
            forbid_overwrite(req.header("x-oss-forbid-overwrite")),
        )
        .await?;
    req.state
        .uploaded(&meta, hook::COMPLETE_MULTIPART_UPLOAD, req.peer);
    let url = url_encoding(req);
    let mut s = xml::doc("CompleteMultipartUploadResult");
    if url {
        elem(&mut s, "EncodingType", "url");
    }
    elem(
        &mut s,
        "Location",
        &format!(
            "http://{}/{}/{}",
            req.header("host").unwrap_or("127.0.0.1"),
            req.bucket,
            uri_encode(&req.key, true)
        ),
    );
    elem(&mut s, "Bucket", &req.bucket);
    elem(&mut s, "Key", &enc(&req.key, url));
    elem(&mut s, "ETag", &format!("\"{}\"", meta.etag));
    s.push_str("</CompleteMultipartUploadResult>\n");
    Ok(Reply::xml(s).header("etag", format!("\"{}\"", meta.etag)))
}

/// ListParts: one page of the parts uploaded so far.
pub(super) fn list_parts(req: &ObjReq<'_>, id: &str) -> Result<Reply, OssError> {
    req.allow("oss:ListParts")?;
    let parts = req.state.store.list_parts(&req.bucket, &req.key, id)?;
    let marker: u32 = match req.q("part-number-marker") {
        None | Some("") => 0,
        Some(v) => v.parse().map_err(|_| {
            OssError::invalid_argument("part-number-marker must be a part number.")
                .with("ArgumentName", "part-number-marker")
                .with("ArgumentValue", v)
        })?,
    };
    let max: usize = match req.q("max-parts") {
        None => 1000,
        Some(v) => v
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=1000).contains(n))
            .ok_or_else(|| {
                OssError::invalid_argument("max-parts must be between 1 and 1000.")
                    .with("ArgumentName", "max-parts")
            })?,
    };
    let after: Vec<_> = parts.into_iter().filter(|(n, _)| *n > marker).collect();
    let truncated = after.len() > max;
    let shown = &after[..after.len().min(max)];
    let url = url_encoding(req);
    let mut s = xml::doc("ListPartsResult");
    if url {
        elem(&mut s, "EncodingType", "url");
    }
    elem(&mut s, "Bucket", &req.bucket);
    elem(&mut s, "Key", &enc(&req.key, url));
    elem(&mut s, "UploadId", id);
    elem(&mut s, "PartNumberMarker", &marker.to_string());
    elem(
        &mut s,
        "NextPartNumberMarker",
        &shown.last().map(|(n, _)| *n).unwrap_or(0).to_string(),
    );
    elem(&mut s, "MaxParts", &max.to_string());
    elem(
        &mut s,
        "IsTruncated",
        if truncated { "true" } else { "false" },
    );
    for (n, p) in shown {
        s.push_str("  <Part>\n");
        elem(&mut s, "PartNumber", &n.to_string());
        elem(&mut s, "LastModified", &iso_date(p.last_modified));
        elem(&mut s, "ETag", &format!("\"{}\"", p.etag));
        elem(&mut s, "Size", &p.size.to_string());
        s.push_str("  </Part>\n");
    }
    s.push_str("</ListPartsResult>\n");
    Ok(Reply::xml(s))
}
