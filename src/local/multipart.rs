//! Multipart upload operations: InitiateMultipartUpload, UploadPart,
//! ListParts, CompleteMultipartUpload and AbortMultipartUpload.

use std::net::IpAddr;

use bytes::Bytes;
use http::{HeaderMap, StatusCode};

use super::hook;
use super::object::{enc, forbid_overwrite, md5_b64, new_object, too_large};
use super::route::{header, iso_date, qget, Reply};
use super::server::State;
use super::xml::{self, elem, OssError};
use crate::oss::encode::uri_encode;

/// InitiateMultipartUpload: remembers the object's headers for Complete.
pub(super) fn initiate(
    state: &State,
    h: &HeaderMap,
    query: &[(String, String)],
    bucket: &str,
    key: &str,
) -> Result<Reply, OssError> {
    let id = state.store.initiate(bucket, key, new_object(h)?);
    let url = qget(query, "encoding-type") == Some("url");
    let mut s = xml::doc("InitiateMultipartUploadResult");
    elem(&mut s, "Bucket", bucket);
    elem(&mut s, "Key", &enc(key, url));
    elem(&mut s, "UploadId", &id);
    if url {
        elem(&mut s, "EncodingType", "url");
    }
    s.push_str("</InitiateMultipartUploadResult>\n");
    Ok(Reply::xml(s))
}

/// UploadPart: stores one numbered part of upload `id`.
pub(super) fn upload_part(
    state: &State,
    query: &[(String, String)],
    bucket: &str,
    key: &str,
    id: &str,
    body: Bytes,
) -> Result<Reply, OssError> {
    let n: u32 = qget(query, "partNumber")
        .and_then(|n| n.parse().ok())
        .filter(|n| (1..=10000).contains(n))
        .ok_or_else(|| {
            OssError::invalid_argument(
                "Part number must be an integer between 1 and 10000, inclusive.",
            )
            .with("ArgumentName", "partNumber")
        })?;
    too_large(state, body.len())?;
    let etag = state.store.upload_part(bucket, key, id, n, body.clone())?;
    Ok(Reply::new(StatusCode::OK)
        .header("etag", format!("\"{etag}\""))
        .header("content-md5", md5_b64(&body)))
}

/// CompleteMultipartUpload: checks the part list as OSS does and makes the
/// object visible.
// The request's pieces, each used once; bundling them would only move the list.
#[allow(clippy::too_many_arguments)]
pub(super) async fn complete(
    state: &State,
    h: &HeaderMap,
    query: &[(String, String)],
    bucket: &str,
    key: &str,
    id: &str,
    body: &[u8],
    peer: IpAddr,
) -> Result<Reply, OssError> {
    let list = if body.is_empty() && header(h, "x-oss-complete-all") == Some("yes") {
        state
            .store
            .list_parts(bucket, key, id)?
            .into_iter()
            .map(|(n, p)| xml::CompletePart {
                part_number: n,
                etag: p.etag,
            })
            .collect()
    } else {
        xml::parse_complete(body)?
    };
    let meta = state
        .store
        .complete(
            bucket,
            key,
            id,
            &list,
            state.cfg.max_object_bytes,
            forbid_overwrite(header(h, "x-oss-forbid-overwrite")),
        )
        .await?;
    state.uploaded(&meta, hook::COMPLETE_MULTIPART_UPLOAD, peer);
    let url = qget(query, "encoding-type") == Some("url");
    let mut s = xml::doc("CompleteMultipartUploadResult");
    if url {
        elem(&mut s, "EncodingType", "url");
    }
    elem(
        &mut s,
        "Location",
        &format!(
            "http://{}/{}/{}",
            header(h, "host").unwrap_or("127.0.0.1"),
            bucket,
            uri_encode(key, true)
        ),
    );
    elem(&mut s, "Bucket", bucket);
    elem(&mut s, "Key", &enc(key, url));
    elem(&mut s, "ETag", &format!("\"{}\"", meta.etag));
    s.push_str("</CompleteMultipartUploadResult>\n");
    Ok(Reply::xml(s).header("etag", format!("\"{}\"", meta.etag)))
}

/// ListParts: one page of the parts uploaded so far.
pub(super) fn list_parts(
    state: &State,
    query: &[(String, String)],
    bucket: &str,
    key: &str,
    id: &str,
) -> Result<Reply, OssError> {
    let parts = state.store.list_parts(bucket, key, id)?;
    let marker: u32 = qget(query, "part-number-marker")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let max: usize = match qget(query, "max-parts") {
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
    let mut s = xml::doc("ListPartsResult");
    elem(&mut s, "Bucket", bucket);
    elem(&mut s, "Key", key);
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
