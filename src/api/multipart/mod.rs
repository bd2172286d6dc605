//! Multipart uploads under `/v1/multipart`: large files with the limits still
//! enforced, the whole flow in one place.
//!
//! The function drives every step that decides what the object will be and
//! lets the client do only the byte transfer:
//! 1. **create** — checks type and size, builds the key under the caller's
//!    prefix, calls InitiateMultipartUpload itself with the pinned
//!    `Content-Type` and `x-oss-forbid-overwrite: true`, picks the part size;
//! 2. **sign** — presigned UploadPart URLs (V4 binds each one's
//!    `Content-Length` when the total size is given; V1 cannot);
//! 3. **parts** — ListParts, every page, so a client can resume;
//! 4. **complete** — ListParts again, the client's list must equal it, the
//!    total must be within `MAX_UPLOAD_BYTES`, then CompleteMultipartUpload
//!    (ascending, quoted ETags, forbid-overwrite). Any violation aborts the
//!    upload before the 4xx, so no object over the limit ever appears;
//! 5. **abort**.
//!
//! Stateless: any instance serves any step. Every step after create re-checks
//! that `key` lies under the caller's prefix, and every OSS call runs with
//! the caller's scoped credentials, so another user's `uploadId` gets
//! nothing. This file holds the routes and their JSON shapes; the steps
//! themselves are in `flow.rs`, which Uppy's Companion routes (`uppy.rs`)
//! share.

mod finished;
pub(super) mod flow;
mod steps;

use super::admission::{admit, ProfileChoice, Purpose, Scope};
use super::error::{ApiError, ErrorCode};
use super::params::{self, UploadInput};
use super::response::{iso_seconds, json_body, Pairs};
use super::routes::{Handler, Operation};
use super::App;
use crate::oss::multipart as mp;
use crate::profiles::UploadMethod;
use crate::runtime::{Context, Request, Response};
use serde::Deserialize;
use serde_json::json;

/// What every multipart request is admitted for (the profile must allow it).
pub(super) const MULTIPART: Purpose = Purpose::Upload(UploadMethod::Multipart);

/// How many more requests per minute the steps after create may make than
/// `RATE_LIMIT_PER_MINUTE` allows credential requests: Uppy signs one part
/// per request, 6 at a time, and a fast link moves a 5 MiB part in well under
/// a second, so the default 60 would stall it.
pub const STEP_RATE_FACTOR: u32 = 100;

/// Most part URLs one sign request returns.
pub const MAX_SIGN_BATCH: usize = 1000;

/// Reads one `/v1/multipart...` request's input, admits it on the
/// operation's budget (a step on an existing upload in the profile its key
/// lies in) and runs its handler.
pub(super) async fn serve(
    app: &App,
    op: &Operation,
    req: &Request,
    ctx: &Context,
) -> Result<Response, ApiError> {
    // A step on an existing upload: admitted in the profile its key lies in.
    let step = |key| {
        admit(
            app,
            req,
            ctx,
            ProfileChoice::OfKey(key),
            MULTIPART,
            op.budget,
        )
    };
    match op.handler {
        Handler::MultipartCreate => {
            let p = params::parse(req)?;
            let choice = ProfileChoice::Named(p.profile.as_deref());
            let scope = admit(app, req, ctx, choice, MULTIPART, op.budget).await?;
            create(app, ctx, &scope, p.into_upload()).await
        }
        Handler::MultipartSign => {
            let body: SignBody = json_request(req)?;
            let scope = step(Some(&body.key)).await?;
            sign(app, ctx, &scope, body).await
        }
        Handler::MultipartComplete => {
            let body: CompleteBody = json_request(req)?;
            let scope = step(Some(&body.key)).await?;
            complete(app, ctx, &scope, body).await
        }
        Handler::MultipartParts | Handler::MultipartAbort => {
            let p = params::parse(req)?;
            let scope = step(p.key.as_deref()).await?;
            let t = flow::target(&scope, p.key.as_deref(), p.upload_id.as_deref())?;
            if op.handler == Handler::MultipartParts {
                parts(app, ctx, &scope, t).await
            } else {
                abort(app, ctx, &scope, t).await
            }
        }
        other => Err(ApiError::new(
            ErrorCode::InternalError,
            format!("{other:?} is not a multipart route"),
        )),
    }
}

/// `POST /v1/multipart`: create, with the part plan for the declared size.
async fn create(
    app: &App,
    ctx: &Context,
    scope: &Scope,
    input: UploadInput,
) -> Result<Response, ApiError> {
    let c = flow::create(app, ctx, scope, &input, true).await?;
    let plan = c.plan.ok_or_else(|| {
        ApiError::new(ErrorCode::InternalError, "no part plan for a sized upload")
    })?;
    Ok(json_body(
        200,
        &json!({
            "key": c.key,
            "uploadId": c.upload_id,
            "bucket": app.config.bucket,
            "size": plan.size,
            "partSize": plan.part_size,
            "partCount": plan.part_count,
            "maxBytes": scope.profile.max_bytes,
            "expiration": iso_seconds(c.expiration),
        }),
    ))
}

/// `POST /v1/multipart/sign`: part URLs.
async fn sign(
    app: &App,
    ctx: &Context,
    scope: &Scope,
    body: SignBody,
) -> Result<Response, ApiError> {
    let t = flow::target(scope, Some(&body.key), Some(&body.upload_id))?;
    let numbers = part_numbers(&body.part_numbers)?;
    let plan = match body.size {
        None => None,
        Some(size) => Some(flow::plan_for(&scope.profile, size)?),
    };
    let (parts, expiration) = flow::sign(app, ctx, scope, &t, &numbers, plan, None).await?;
    Ok(json_body(
        200,
        &json!({
            "key": t.key,
            "uploadId": t.upload_id,
            "expiration": iso_seconds(expiration),
            "parts": parts.iter().map(|p| {
                let mut v = json!({
                    "partNumber": p.part_number,
                    "url": p.url,
                    "method": "PUT",
                    "headers": Pairs(&[]),
                });
                if let Some(n) = p.size {
                    v["size"] = n.into();
                }
                v
            }).collect::<Vec<_>>(),
        }),
    ))
}

/// `GET|POST /v1/multipart/parts`: what OSS holds, to resume.
async fn parts(
    app: &App,
    ctx: &Context,
    scope: &Scope,
    t: flow::Target,
) -> Result<Response, ApiError> {
    let parts = flow::list(app, ctx, scope, &t).await?;
    Ok(json_body(
        200,
        &json!({
            "key": t.key,
            "uploadId": t.upload_id,
            "parts": parts.iter().map(|p| json!({
                "partNumber": p.part_number,
                "etag": mp::quote_etag(&p.etag),
                "size": p.size,
                "lastModified": p.last_modified,
            })).collect::<Vec<_>>(),
        }),
    ))
}

/// `POST /v1/multipart/complete`.
async fn complete(
    app: &App,
    ctx: &Context,
    scope: &Scope,
    body: CompleteBody,
) -> Result<Response, ApiError> {
    let t = flow::target(scope, Some(&body.key), Some(&body.upload_id))?;
    let mut list = Vec::with_capacity(body.parts.len());
    for p in body.parts {
        list.push((part_number(p.part_number)?, p.etag));
    }
    let done = flow::complete(app, ctx, scope, &t, list).await?;
    Ok(json_body(
        200,
        &json!({
            "key": t.key,
            "bucket": app.config.bucket,
            "location": done.location,
            "etag": done.etag,
            "size": done.size,
            "parts": done.parts,
        }),
    ))
}

/// `POST|DELETE /v1/multipart/abort` (and `DELETE /v1/multipart`).
async fn abort(
    app: &App,
    ctx: &Context,
    scope: &Scope,
    t: flow::Target,
) -> Result<Response, ApiError> {
    flow::abort(app, ctx, scope, &t).await?;
    Ok(json_body(
        200,
        &json!({"key": t.key, "uploadId": t.upload_id, "aborted": true}),
    ))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SignBody {
    key: String,
    upload_id: String,
    #[serde(default)]
    size: Option<u64>,
    part_numbers: Vec<i64>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CompleteBody {
    key: String,
    upload_id: String,
    #[serde(deserialize_with = "objects")]
    parts: Vec<CompletePart>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CompletePart {
    part_number: i64,
    #[serde(alias = "ETag", alias = "eTag")]
    etag: String,
}

/// A typed JSON request body; a wrong shape is 400 naming what is wrong.
/// Only a JSON object is read: serde would also fill a struct from an
/// array, position by position (`[null, null]` was a valid create).
pub(super) fn json_request<T: serde::de::DeserializeOwned>(req: &Request) -> Result<T, ApiError> {
    let invalid = |e: &dyn std::fmt::Display| {
        ApiError::new(
            ErrorCode::InvalidJson,
            format!("the request body is not the JSON this route takes: {e}"),
        )
    };
    let value: serde_json::Value = serde_json::from_slice(req.body()).map_err(|e| invalid(&e))?;
    if !value.is_object() {
        return Err(invalid(&"it must be a JSON object"));
    }
    serde_json::from_value(value).map_err(|e| invalid(&e))
}

/// A list of JSON objects, each read as a `T` (like [`json_request`], never
/// an array read position by position).
pub(super) fn objects<'de, D, T>(d: D) -> Result<Vec<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::de::DeserializeOwned,
{
    use serde::de::Error;
    Vec::<serde_json::Value>::deserialize(d)?
        .into_iter()
        .map(|v| match v {
            serde_json::Value::Object(_) => serde_json::from_value(v).map_err(D::Error::custom),
            _ => Err(D::Error::custom("each part must be a JSON object")),
        })
        .collect()
}

/// A part number the client sent: 1..=10,000.
pub(super) fn part_number(n: i64) -> Result<u32, ApiError> {
    u32::try_from(n)
        .ok()
        .filter(|n| (1..=mp::MAX_PARTS).contains(n))
        .ok_or_else(|| {
            ApiError::new(
                ErrorCode::InvalidPartNumber,
                format!("part number {n} is outside 1..=10000"),
            )
        })
}

fn part_numbers(raw: &[i64]) -> Result<Vec<u32>, ApiError> {
    if raw.is_empty() || raw.len() > MAX_SIGN_BATCH {
        return Err(ApiError::bad_param(format!(
            "partNumbers must list 1 to {MAX_SIGN_BATCH} part numbers"
        )));
    }
    let mut out = Vec::with_capacity(raw.len());
    for &n in raw {
        let n = part_number(n)?;
        if out.contains(&n) {
            return Err(ApiError::new(
                ErrorCode::InvalidPartNumber,
                format!("part number {n} is listed twice"),
            ));
        }
        out.push(n);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_bodies_are_objects_only() {
        #[derive(Deserialize, Debug)]
        struct Two {
            #[serde(default)]
            _a: Option<String>,
            #[serde(default)]
            _b: Option<String>,
        }
        let req = |body: &str| {
            http::Request::builder()
                .method("POST")
                .uri("/v1/multipart/sign")
                .body(bytes::Bytes::from(body.to_owned()))
                .unwrap()
        };
        for body in ["[null, null]", "[]", "\"x\"", "1", "null"] {
            let e = json_request::<Two>(&req(body)).unwrap_err();
            assert_eq!(e.code(), ErrorCode::InvalidJson, "{body}");
        }
        assert!(json_request::<Two>(&req("{}")).is_ok());
        let parts = r#"{"key":"k","uploadId":"u","parts":[[1,"e"]]}"#;
        let e = json_request::<CompleteBody>(&req(parts)).err().unwrap();
        assert_eq!(e.code(), ErrorCode::InvalidJson);
        let parts = r#"{"key":"k","uploadId":"u","parts":[{"partNumber":1,"ETag":"e"}]}"#;
        assert_eq!(
            json_request::<CompleteBody>(&req(parts))
                .ok()
                .unwrap()
                .parts
                .len(),
            1
        );
    }

    #[test]
    fn part_numbers_are_1_to_10000_without_repeats() {
        assert_eq!(part_numbers(&[1, 10_000]).unwrap(), vec![1, 10_000]);
        for bad in [&[0][..], &[10_001], &[-1], &[1, 1], &[]] {
            assert_eq!(part_numbers(bad).unwrap_err().status(), 400, "{bad:?}");
        }
        assert_eq!(
            part_numbers(&[0]).unwrap_err().code(),
            ErrorCode::InvalidPartNumber
        );
    }
}
