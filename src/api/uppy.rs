//! The Companion S3 routes `@uppy/aws-s3` calls, so Uppy uploads through the
//! function unchanged (5.x `endpoint` + `headers`, 6.x `companionEndpoint`):
//!
//! | route | answer |
//! |---|---|
//! | `GET /s3/params?filename=&type=` | `{method:"POST", url, fields, expires}` — a POST policy |
//! | `POST /s3/multipart` `{filename,type,metadata}` | `{key, uploadId, bucket}` |
//! | `GET /s3/multipart/{uploadId}/{partNumber}?key=` | `{url, method:"PUT", expires}` |
//! | `GET /s3/multipart/{uploadId}?key=` | `[{PartNumber, ETag, Size}]` |
//! | `POST /s3/multipart/{uploadId}/complete?key=` `{parts:[{ETag,PartNumber}]}` | `{location, key, bucket}` |
//! | `DELETE /s3/multipart/{uploadId}?key=` | `{}` |
//!
//! Thin adapters: the same admission, limits and multipart core as
//! `/v1/post-policy` and `/v1/multipart` ([`super::multipart`]). Uppy reads
//! every 2xx body as JSON (abort included) and shows a 4xx body's `message`,
//! so errors carry a top-level `message` besides the usual `error` object.

use super::admission::Purpose;
use super::admission::Scope;
use super::error::{ApiError, ErrorCode};
use super::multipart::{json_request, part_number, MULTIPART};
use super::params::Params;
use super::response::json_body;
use super::routes::{Captures, Handler};
use super::App;
use crate::oss::multipart::quote_etag;
use crate::profiles::UploadMethod;
use crate::runtime::{Context, Request, Response};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::{json, Value};

/// The upload id in the path, percent-decoded once.
fn upload_id(captures: &Captures<'_>) -> Result<String, ApiError> {
    percent_encoding::percent_decode_str(captures.upload_id.unwrap_or_default())
        .decode_utf8()
        .map(|c| c.into_owned())
        .map_err(|_| ApiError::bad_param("uploadId in the path is not valid UTF-8"))
}

/// A query parameter, decoded once like every query ([`super::params::parse_query`]:
/// not UTF-8 once decoded is a 400, never replaced); the last one wins.
fn query(req: &Request, name: &str) -> Result<Option<String>, ApiError> {
    let pairs = super::params::parse_query(req.uri().query().unwrap_or(""))?;
    Ok(pairs
        .into_iter()
        .rev()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v))
}

#[derive(Deserialize, Default)]
struct CreateBody {
    #[serde(default)]
    filename: Option<String>,
    #[serde(default, rename = "type")]
    content_type: Option<String>,
    #[serde(default)]
    profile: Option<String>,
    #[serde(default)]
    metadata: Option<Metadata>,
}

/// The file's meta Uppy sends; only `profile` is read.
#[derive(Deserialize, Default)]
struct Metadata {
    #[serde(default, deserialize_with = "string_or_none")]
    profile: Option<String>,
}

/// A metadata value that is a string, or `None` for anything else (Uppy's
/// meta may hold numbers or objects we do not use).
fn string_or_none<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(match Value::deserialize(d)? {
        Value::String(s) => Some(s),
        _ => None,
    })
}

#[derive(Deserialize)]
struct CompleteBody {
    parts: Vec<CompletePart>,
}

#[derive(Deserialize)]
struct CompletePart {
    #[serde(rename = "PartNumber")]
    part_number: i64,
    #[serde(rename = "ETag")]
    etag: String,
}

/// Seconds from `now` to `until`, at least 1 (Uppy's `expires`).
fn seconds_until(until: DateTime<Utc>, now: DateTime<Utc>) -> i64 {
    (until - now).num_seconds().max(1)
}

impl App {
    /// Serves one `/s3/...` request.
    pub(super) async fn uppy(
        &self,
        handler: Handler,
        captures: Captures<'_>,
        req: &Request,
        ctx: &Context,
    ) -> Result<Response, ApiError> {
        let upload_id = match captures.upload_id {
            Some(_) => upload_id(&captures)?,
            None => String::new(),
        };
        // Steps on an existing upload are admitted in the profile its key lies in.
        let key = query(req, "key")?;
        let step_scope = || self.admit_upload_step(req, ctx, key.as_deref());
        match handler {
            Handler::UppyParams => {
                // Uppy sends the file's meta as `metadata[name]=value`; a
                // `profile` there (or as its own parameter) picks the profile.
                let params = Params {
                    filename: query(req, "filename")?,
                    content_type: query(req, "type")?,
                    profile: match query(req, "profile")? {
                        Some(p) => Some(p),
                        None => query(req, "metadata[profile]")?,
                    },
                    ..Params::default()
                };
                let scope =
                    self.admit(req, ctx, &params, Purpose::Upload(UploadMethod::PostPolicy))?;
                self.uppy_params(&scope, ctx, &params).await
            }
            Handler::UppyCreate => {
                let body: CreateBody = if req.body().iter().all(u8::is_ascii_whitespace) {
                    CreateBody::default()
                } else {
                    json_request(req)?
                };
                let params = Params {
                    filename: body.filename,
                    content_type: body.content_type,
                    profile: body.profile.or(body.metadata.and_then(|m| m.profile)),
                    ..Params::default()
                };
                let scope = self.admit(req, ctx, &params, MULTIPART)?;
                let c = self.mp_create(&scope, ctx, &params, false).await?;
                Ok(json_body(
                    200,
                    &json!({"key": c.key, "uploadId": c.upload_id, "bucket": self.config.bucket}),
                ))
            }
            Handler::UppySign => {
                let part = captures.part.unwrap_or_default();
                let scope = step_scope()?;
                let t = Self::mp_target(&scope, key.as_deref(), Some(&upload_id))?;
                let n = part.parse::<i64>().map_err(|_| {
                    ApiError::new(
                        ErrorCode::InvalidPartNumber,
                        format!(
                            "part number {:?} is not a number",
                            part.chars().take(16).collect::<String>()
                        ),
                    )
                })?;
                let n = part_number(n)?;
                let (parts, expiration) = self.mp_sign(&scope, ctx, &t, &[n], None).await?;
                let url = parts.into_iter().next().map(|p| p.url).unwrap_or_default();
                Ok(json_body(
                    200,
                    &json!({
                        "url": url,
                        "method": "PUT",
                        "expires": seconds_until(expiration, Utc::now()),
                    }),
                ))
            }
            Handler::UppyList => {
                let scope = step_scope()?;
                let t = Self::mp_target(&scope, key.as_deref(), Some(&upload_id))?;
                let parts = self.mp_list(&scope, ctx, &t).await?;
                let out: Vec<Value> = parts
                    .iter()
                    .map(|p| {
                        json!({
                            "PartNumber": p.part_number,
                            "ETag": quote_etag(&p.etag),
                            "Size": p.size,
                        })
                    })
                    .collect();
                Ok(json_body(200, &out))
            }
            Handler::UppyComplete => {
                let scope = step_scope()?;
                let t = Self::mp_target(&scope, key.as_deref(), Some(&upload_id))?;
                let body: CompleteBody = json_request(req)?;
                let mut list = Vec::with_capacity(body.parts.len());
                for p in body.parts {
                    list.push((part_number(p.part_number)?, p.etag));
                }
                let done = self.mp_complete(&scope, ctx, &t, list).await?;
                Ok(json_body(
                    200,
                    &json!({"location": done.location, "key": t.key, "bucket": self.config.bucket}),
                ))
            }
            _ => {
                let scope = step_scope()?;
                let t = Self::mp_target(&scope, key.as_deref(), Some(&upload_id))?;
                self.mp_abort(&scope, ctx, &t).await?;
                Ok(json_body(200, &json!({})))
            }
        }
    }

    /// `GET /s3/params`: the `/v1/post-policy` answer for the file, reshaped
    /// into what Uppy reads. Reusing that route keeps one POST-policy builder
    /// (exact key, `content-length-range`, type, forbid-overwrite).
    async fn uppy_params(
        &self,
        scope: &Scope,
        ctx: &Context,
        params: &Params,
    ) -> Result<Response, ApiError> {
        let policy = self.post_policy(scope, ctx, params, false).await?;
        let body: Value = serde_json::from_slice(policy.body()).map_err(|_| {
            ApiError::new(
                ErrorCode::InternalError,
                "could not read the POST policy built",
            )
        })?;
        let expires = body["expiration"]
            .as_str()
            .and_then(|e| DateTime::parse_from_rfc3339(e).ok())
            .map(|e| seconds_until(e.with_timezone(&Utc), Utc::now()))
            .unwrap_or(1);
        Ok(json_body(
            200,
            &json!({
                "method": "POST",
                "url": body["url"],
                "fields": body["fields"],
                "expires": expires,
            }),
        ))
    }
}
