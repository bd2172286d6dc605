//! The Companion S3 routes `@uppy/aws-s3` calls, so Uppy uploads through the
//! function unchanged (5.x `endpoint` + `headers`, 6.x `companionEndpoint`):
//!
//! | route | answer |
//! |---|---|
//! | `GET /s3/params?filename=&type=` | `{method:"POST", url, fields, expires}` — a POST policy |
//! | `POST /s3/multipart` `{filename,type,metadata}` | `{key, uploadId, bucket}` |
//! | `GET /s3/multipart/{uploadId}/{partNumber}?key=` | `{url, method:"PUT", expires}`, plus `headers` for Uppy 5 |
//! | `GET /s3/multipart/{uploadId}?key=` | `[{PartNumber, ETag, Size}]` |
//! | `POST /s3/multipart/{uploadId}/complete?key=` `{parts:[{ETag,PartNumber}]}` | `{location, key, bucket}` |
//! | `DELETE /s3/multipart/{uploadId}?key=` | `{}` |
//!
//! Thin adapters: the same admission, limits and multipart core as
//! `/v1/post-policy` and `/v1/multipart` ([`super::multipart`]). Uppy reads
//! every 2xx body as JSON (abort included) and shows a 4xx body's `message`,
//! so errors carry a top-level `message` besides the usual `error` object.

use super::admission::{admit, ProfileChoice, Purpose, Scope};
use super::error::{ApiError, ErrorCode};
use super::multipart::{flow, json_request, objects, part_number, MULTIPART};
use super::params::{parse_query, UploadInput};
use super::post_policy::post_policy;
use super::response::{json_body, Pairs};
use super::routes::{Captures, Handler, Operation};
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

/// The query, decoded once per request like every query
/// ([`parse_query`]: not UTF-8 once decoded is a 400, never replaced).
struct Query(Vec<(String, String)>);

impl Query {
    /// A parameter's value; the last one wins.
    fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

#[derive(Deserialize, Default)]
struct CreateBody {
    #[serde(default)]
    filename: Option<String>,
    #[serde(default, rename = "type")]
    content_type: Option<String>,
    #[serde(default)]
    profile: Option<String>,
    /// The file's meta Uppy sends (an object); only a string `profile` in
    /// it is read (Uppy's meta may hold numbers or objects we do not use).
    #[serde(default)]
    metadata: Option<serde_json::Map<String, Value>>,
}

#[derive(Deserialize)]
struct CompleteBody {
    #[serde(deserialize_with = "objects")]
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

/// Reads one `/s3/...` request's input, admits it on the operation's
/// budget (a step on an existing upload in the profile its key lies in) and
/// runs its handler.
pub(super) async fn serve(
    app: &App,
    op: &Operation,
    captures: Captures<'_>,
    req: &Request,
    ctx: &Context,
) -> Result<Response, ApiError> {
    let upload_id = match captures.upload_id {
        Some(_) => Some(upload_id(&captures)?),
        None => None,
    };
    let query = Query(parse_query(req.uri().query().unwrap_or(""))?);
    let key = query.get("key");
    let step = || {
        admit(
            app,
            req,
            ctx,
            ProfileChoice::OfKey(key),
            MULTIPART,
            op.budget,
        )
    };
    let target = |scope: &Scope| flow::target(scope, key, upload_id.as_deref());
    match op.handler {
        Handler::UppyParams => {
            // Uppy sends the file's meta as `metadata[name]=value`; a
            // `profile` there (or as its own parameter) picks the profile.
            let profile = query.get("profile").or(query.get("metadata[profile]"));
            let purpose = Purpose::Upload(UploadMethod::PostPolicy);
            let choice = ProfileChoice::Named(profile);
            let scope = admit(app, req, ctx, choice, purpose, op.budget).await?;
            let input = UploadInput {
                filename: query.get("filename").map(str::to_owned),
                content_type: query.get("type").map(str::to_owned),
                size: None,
            };
            params(app, ctx, &scope, input).await
        }
        Handler::UppyCreate => {
            let body: CreateBody = if req.body().iter().all(u8::is_ascii_whitespace) {
                CreateBody::default()
            } else {
                json_request(req)?
            };
            let meta_profile = body
                .metadata
                .as_ref()
                .and_then(|m| m.get("profile"))
                .and_then(Value::as_str)
                .map(str::to_owned);
            let profile = body.profile.or(meta_profile);
            let choice = ProfileChoice::Named(profile.as_deref());
            let scope = admit(app, req, ctx, choice, MULTIPART, op.budget).await?;
            let input = UploadInput {
                filename: body.filename,
                content_type: body.content_type,
                size: None,
            };
            create(app, ctx, &scope, input).await
        }
        Handler::UppySign => {
            let scope = step().await?;
            let t = target(&scope)?;
            let typed = PartType::for_request(req);
            sign(
                app,
                ctx,
                &scope,
                t,
                captures.part.unwrap_or_default(),
                typed,
            )
            .await
        }
        Handler::UppyList => {
            let scope = step().await?;
            let t = target(&scope)?;
            list(app, ctx, &scope, t).await
        }
        Handler::UppyComplete => {
            let scope = step().await?;
            let t = target(&scope)?;
            let body: CompleteBody = json_request(req)?;
            complete(app, ctx, &scope, t, body).await
        }
        Handler::UppyAbort => {
            let scope = step().await?;
            let t = target(&scope)?;
            flow::abort(app, ctx, &scope, &t).await?;
            Ok(json_body(200, &json!({})))
        }
        other => Err(ApiError::new(
            ErrorCode::InternalError,
            format!("{other:?} is not an Uppy route"),
        )),
    }
}

/// `POST /s3/multipart`: `{key, uploadId, bucket}`.
async fn create(
    app: &App,
    ctx: &Context,
    scope: &Scope,
    input: UploadInput,
) -> Result<Response, ApiError> {
    let c = flow::create(app, ctx, scope, &input, false).await?;
    Ok(json_body(
        200,
        &json!({"key": c.key, "uploadId": c.upload_id, "bucket": app.config.bucket}),
    ))
}

/// The `Content-Type` a part URL signs, told to the client in `headers`.
///
/// Uppy 5 (companion-client's `RequestClient`, which sends
/// `Accept: application/json`) applies the `headers` of the sign answer to
/// the part's PUT, and with `shouldUseMultipart: true` and a file of 5 MiB or
/// less it PUTs the `File` itself, to which the browser adds the file's own
/// type unless a header says otherwise. So for Uppy 5 every part URL signs
/// [`PART_CONTENT_TYPE`] and `headers` says to send it. Uppy 6
/// (`companionEndpoint`: a plain `fetch`, `Accept: */*`) ignores `headers`
/// and always PUTs an untyped `slice()`, so its URLs sign no type: a signed
/// type it does not send would be refused (403). A part's type is not the
/// object's: that was fixed at initiate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum PartType {
    /// Sign [`PART_CONTENT_TYPE`] and answer it in `headers` (Uppy 5).
    Told,
    /// Sign no type; the PUT carries none (Uppy 6).
    Untyped,
}

/// What Uppy 5's part PUTs are told to carry: any value would do (OSS
/// ignores a part's type), this one says "bytes".
const PART_CONTENT_TYPE: &str = "application/octet-stream";

impl PartType {
    /// Uppy 5's `RequestClient` asks for `application/json`; Uppy 6's
    /// `fetch` sends the browser's default (`*/*`).
    fn for_request(req: &Request) -> PartType {
        let json = req
            .headers()
            .get_all(http::header::ACCEPT)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .any(|range| {
                range
                    .split(';')
                    .next()
                    .is_some_and(|t| t.trim().eq_ignore_ascii_case("application/json"))
            });
        if json {
            PartType::Told
        } else {
            PartType::Untyped
        }
    }
}

/// `GET /s3/multipart/{uploadId}/{partNumber}`: `{url, method, expires}`,
/// plus `headers` when the URL signs a type ([`PartType`]).
async fn sign(
    app: &App,
    ctx: &Context,
    scope: &Scope,
    t: flow::Target,
    part: &str,
    typed: PartType,
) -> Result<Response, ApiError> {
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
    let content_type = match typed {
        PartType::Told => Some(PART_CONTENT_TYPE),
        PartType::Untyped => None,
    };
    let (parts, expiration) = flow::sign(app, ctx, scope, &t, &[n], None, content_type).await?;
    let url = parts.into_iter().next().map(|p| p.url).unwrap_or_default();
    let mut body = json!({
        "url": url,
        "method": "PUT",
        "expires": seconds_until(expiration, Utc::now()),
    });
    if let Some(t) = content_type {
        body["headers"] = json!({ "Content-Type": t });
    }
    Ok(json_body(200, &body))
}

/// `GET /s3/multipart/{uploadId}`: `[{PartNumber, ETag, Size}]`.
async fn list(
    app: &App,
    ctx: &Context,
    scope: &Scope,
    t: flow::Target,
) -> Result<Response, ApiError> {
    let parts = flow::list(app, ctx, scope, &t).await?;
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

/// `POST /s3/multipart/{uploadId}/complete`: `{location, key, bucket}`.
async fn complete(
    app: &App,
    ctx: &Context,
    scope: &Scope,
    t: flow::Target,
    body: CompleteBody,
) -> Result<Response, ApiError> {
    let mut list = Vec::with_capacity(body.parts.len());
    for p in body.parts {
        list.push((part_number(p.part_number)?, p.etag));
    }
    let done = flow::complete(app, ctx, scope, &t, list).await?;
    Ok(json_body(
        200,
        &json!({"location": done.location, "key": t.key, "bucket": app.config.bucket}),
    ))
}

/// `GET /s3/params`: the POST policy `/v1/post-policy` signs for the file
/// (one builder: exact key, `content-length-range`, type,
/// forbid-overwrite), in the shape Uppy reads.
async fn params(
    app: &App,
    ctx: &Context,
    scope: &Scope,
    input: UploadInput,
) -> Result<Response, ApiError> {
    let a = post_policy(app, ctx, scope, &input, false).await?;
    Ok(json_body(
        200,
        &ParamsBody {
            method: "POST",
            url: &a.url,
            fields: Pairs(&a.form.fields),
            expires: seconds_until(a.form.expiration, Utc::now()),
        },
    ))
}

/// `GET /s3/params`.
#[derive(serde::Serialize)]
struct ParamsBody<'a> {
    method: &'static str,
    url: &'a str,
    fields: Pairs<'a>,
    expires: i64,
}
