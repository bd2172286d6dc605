//! Bucket-level operations: ListObjects (v1 and v2), PostObject and the `?cors` rules.
//!
//! Browser form parsing and POST policy checks are in `post`.

use base64::Engine as _;
use bytes::Bytes;
use chrono::Utc;
use http::{Method, StatusCode};

use super::auth;
use super::blob;
use super::body::BodyStream;
use super::hook;
use super::post;
use super::request::{enc, not_implemented, ObjReq, Reply};
use super::state::State;
use super::store::{self, NewObject};
use super::upload::{forbid_overwrite, insert_user_meta, receive_small};
use super::wire::{iso_date, qget};
use super::xml::{self, elem, OssError};
use alibaba_sign::encode::uri_encode;

pub(super) const UNSUPPORTED_BUCKET_SUBRESOURCES: &[&str] = &[
    "acl",
    "uploads",
    "lifecycle",
    "logging",
    "website",
    "referer",
    "location",
    "bucketInfo",
    "stat",
    "policy",
    "versioning",
    "versions",
    "tagging",
    "encryption",
    "delete",
    "inventory",
    "worm",
];

/// Dispatches a bucket-level request: PostObject or ListObjects.
pub(super) async fn bucket_op(req: &ObjReq<'_>, body: BodyStream) -> Result<Reply, OssError> {
    let ct = req.header("content-type").unwrap_or_default();
    if req.parts.method == Method::POST
        && ct.to_ascii_lowercase().starts_with("multipart/form-data")
    {
        return post_object(req, ct, body).await;
    }
    if req.has("cors") {
        return bucket_cors(req, body).await;
    }
    if let Some(sub) = UNSUPPORTED_BUCKET_SUBRESOURCES.iter().find(|s| req.has(s)) {
        return Err(not_implemented(&format!("the bucket '{sub}' sub-resource")));
    }
    if req.parts.method != Method::GET {
        return Err(not_implemented(&format!(
            "{} on a bucket",
            req.parts.method
        )));
    }
    req.allow("oss:ListObjects")?;
    list_objects(req.state, &req.query, &req.bucket)
}

/// `?cors`: PutBucketCors, GetBucketCors, DeleteBucketCors (see `cors`),
/// signed like every bucket request and authorized as its own action.
async fn bucket_cors(req: &ObjReq<'_>, body: BodyStream) -> Result<Reply, OssError> {
    let cors = &req.state.cors;
    match req.parts.method {
        Method::PUT => {
            req.allow("oss:PutBucketCors")?;
            let body = receive_small(req, body).await?;
            cors.put(&req.bucket, &body)?;
            Ok(Reply::new(StatusCode::OK))
        }
        Method::GET => {
            req.allow("oss:GetBucketCors")?;
            Ok(Reply::xml(cors.get_xml(&req.bucket)?))
        }
        Method::DELETE => {
            req.allow("oss:DeleteBucketCors")?;
            cors.delete(&req.bucket)?;
            Ok(Reply::new(StatusCode::NO_CONTENT))
        }
        _ => Err(not_implemented(&format!(
            "{} on the bucket 'cors' sub-resource",
            req.parts.method
        ))),
    }
}

pub(super) fn list_objects(
    state: &State,
    query: &[(String, String)],
    bucket: &str,
) -> Result<Reply, OssError> {
    let v2 = qget(query, "list-type") == Some("2");
    let url = match qget(query, "encoding-type") {
        None | Some("") => false,
        Some("url") => true,
        Some(v) => {
            return Err(
                OssError::invalid_argument("Invalid Encoding Method specified in Request")
                    .with("ArgumentName", "encoding-type")
                    .with("ArgumentValue", v),
            )
        }
    };
    let prefix = qget(query, "prefix").unwrap_or_default();
    let delimiter = qget(query, "delimiter").unwrap_or_default();
    let max_keys: usize = match qget(query, "max-keys") {
        None | Some("") => 100,
        Some(v) => v
            .parse::<usize>()
            .ok()
            .filter(|n| *n <= 1000)
            .ok_or_else(|| {
                OssError::invalid_argument(
                    "Argument max-keys must be an integer between 0 and 1000.",
                )
                .with("ArgumentName", "max-keys")
                .with("ArgumentValue", v)
            })?,
    };
    let token = qget(query, "continuation-token").filter(|t| !t.is_empty());
    let after = if v2 {
        match token {
            Some(t) => base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(t)
                .ok()
                .and_then(|b| String::from_utf8(b).ok())
                .ok_or_else(|| {
                    OssError::invalid_argument("The continuation token provided is incorrect")
                        .with("ArgumentName", "continuation-token")
                })?,
            None => qget(query, "start-after").unwrap_or_default().to_string(),
        }
    } else {
        qget(query, "marker").unwrap_or_default().to_string()
    };
    let l = state
        .store
        .list(bucket, prefix, delimiter, &after, max_keys);
    let fetch_owner = !v2 || qget(query, "fetch-owner") == Some("true");
    let acct = state.keys.account_id();
    let mut s = xml::doc("ListBucketResult");
    elem(&mut s, "Name", bucket);
    elem(&mut s, "Prefix", &enc(prefix, url));
    if v2 {
        if let Some(sa) = qget(query, "start-after") {
            elem(&mut s, "StartAfter", &enc(sa, url));
        }
        if let Some(t) = token {
            elem(&mut s, "ContinuationToken", t);
        }
    } else {
        elem(&mut s, "Marker", &enc(&after, url));
    }
    elem(&mut s, "MaxKeys", &max_keys.to_string());
    elem(&mut s, "Delimiter", &enc(delimiter, url));
    if url {
        elem(&mut s, "EncodingType", "url");
    }
    elem(
        &mut s,
        "IsTruncated",
        if l.truncated { "true" } else { "false" },
    );
    if let Some(next) = &l.next {
        if v2 {
            elem(
                &mut s,
                "NextContinuationToken",
                &base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(next.as_bytes()),
            );
        } else {
            elem(&mut s, "NextMarker", &enc(next, url));
        }
    }
    if v2 {
        elem(
            &mut s,
            "KeyCount",
            &(l.objects.len() + l.prefixes.len()).to_string(),
        );
    }
    for o in &l.objects {
        s.push_str("  <Contents>\n");
        elem(&mut s, "Key", &enc(&o.key, url));
        elem(&mut s, "LastModified", &iso_date(o.last_modified));
        elem(&mut s, "ETag", &format!("\"{}\"", o.etag));
        elem(&mut s, "Type", &o.object_type);
        elem(&mut s, "Size", &o.size.to_string());
        elem(&mut s, "StorageClass", "Standard");
        if fetch_owner {
            s.push_str("  <Owner>\n");
            elem(&mut s, "ID", acct);
            elem(&mut s, "DisplayName", acct);
            s.push_str("  </Owner>\n");
        }
        s.push_str("  </Contents>\n");
    }
    for p in &l.prefixes {
        s.push_str("  <CommonPrefixes>\n");
        elem(&mut s, "Prefix", &enc(p, url));
        s.push_str("  </CommonPrefixes>\n");
    }
    s.push_str("</ListBucketResult>\n");
    Ok(Reply::xml(s))
}

/// PostObject: the form's fields are read and its policy and signature
/// checked before the file field is read; the file then streams into the
/// store, and `content-length-range` is checked on its received size.
pub(super) async fn post_object(
    req: &ObjReq<'_>,
    content_type: &str,
    body: BodyStream,
) -> Result<Reply, OssError> {
    let state = req.state;
    let bucket = req.bucket.as_str();
    let mut head = post::read_head(content_type, body).await?;
    let form = &head.form;
    let raw_key = form.get("key").filter(|k| !k.is_empty()).ok_or_else(|| {
        OssError::invalid_argument("Bucket POST must contain a field named 'key'.")
            .with("ArgumentName", "key")
    })?;
    let key = raw_key.replace("${filename}", &form.file_name);
    if key.len() > 1023 {
        return Err(OssError::new(
            StatusCode::BAD_REQUEST,
            "InvalidObjectName",
            "The specified object is not valid.",
        ));
    }
    let now = Utc::now().timestamp();
    let pa = post::authenticate_post(form, bucket, &key, &state.keys, now)?;
    auth::authorize(
        &pa.principal,
        state.keys.account_id(),
        "oss:PutObject",
        bucket,
        Some(&key),
    )?;
    let forbid = forbid_overwrite(form.get("x-oss-forbid-overwrite"));
    if forbid && state.store.head(bucket, &key).is_some() {
        return Err(store::file_exists());
    }
    let blob = blob::receive(
        Box::pin(head.file_stream()),
        state.store.blob_dir().as_deref(),
        state.cfg.max_object_bytes,
        false,
    )
    .await?;
    let mut form = head.finish().await?;
    // Now that the size is known, the whole policy again (with content-length-range).
    form.file_size = Some(blob.size);
    post::authenticate_post(&form, bucket, &key, &state.keys, now)?;
    let mut new = NewObject {
        content_type: form
            .get("Content-Type")
            .map(str::to_string)
            .or_else(|| form.file_type.clone())
            .filter(|c| !c.is_empty())
            .unwrap_or_else(|| "application/octet-stream".into()),
        ..Default::default()
    };
    for (k, v) in &form.fields {
        let lk = k.to_ascii_lowercase();
        if lk.starts_with("x-oss-meta-") {
            insert_user_meta(&mut new.user_meta, &lk, v.clone())?;
        } else if matches!(
            lk.as_str(),
            "content-disposition" | "cache-control" | "content-encoding" | "expires"
        ) {
            new.headers.insert(lk, v.clone());
        }
    }
    let md5 = blob.md5_b64();
    let etag = blob.md5_hex_upper();
    let meta = state
        .store
        .put(bucket, &key, blob, new, etag, "Normal", forbid)
        .await?;
    state.uploaded(&meta, hook::POST_OBJECT, req.peer);
    let etag = format!("\"{}\"", meta.etag);
    let status = match form.get("success_action_status") {
        Some("200") => StatusCode::OK,
        Some("201") => StatusCode::CREATED,
        _ => StatusCode::NO_CONTENT,
    };
    let mut r = Reply::new(status)
        .header("etag", etag.clone())
        .header("content-md5", md5);
    if status == StatusCode::CREATED {
        let mut s = xml::doc("PostResponse");
        elem(&mut s, "Bucket", bucket);
        elem(
            &mut s,
            "Location",
            &format!("/{}/{}", bucket, uri_encode(&key, true)),
        );
        elem(&mut s, "Key", &key);
        elem(&mut s, "ETag", &etag);
        s.push_str("</PostResponse>\n");
        r.body = Bytes::from(s).into();
        r = r.header("content-type", "application/xml");
    }
    Ok(r)
}
