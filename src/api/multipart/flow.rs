//! The multipart flow itself, shared by `/v1/multipart` ([`super`]) and
//! Uppy's `/s3` routes ([`crate::api`]'s `uppy`): create (limits, key,
//! InitiateMultipartUpload), sign (UploadPart URLs), list (ListParts), complete
//! (ListParts, the checks, abort on any violation, CompleteMultipartUpload),
//! abort. OSS's failures map onto ours through [`ApiError::from_oss`].

use crate::api::admission::{Access, Scope};
use crate::api::broker::{profile_credentials, signing};
use crate::api::error::{ApiError, ErrorCode, OssCall};
use crate::api::params::UploadInput;
use crate::api::App;
use crate::config::SignatureVersion;
use crate::oss::calls;
use crate::oss::multipart::{self as mp, ListedPart, PartPlan, UploadPart, Violation};
use crate::profiles::keys;
use crate::profiles::Profile;
use crate::runtime::Context;
use alibaba_sign::Credentials;
use chrono::{DateTime, Utc};

pub(in crate::api) use super::steps::{Completed, Created, SignedPart, Target};

/// The part plan for a declared total, within the profile's limits.
pub(in crate::api) fn plan_for(profile: &Profile, size: u64) -> Result<PartPlan, ApiError> {
    profile.check_size(size)?;
    PartPlan::for_size(size).ok_or_else(|| {
        ApiError::new(
            ErrorCode::FileTooLarge,
            format!("size {size} cannot be cut into at most 10,000 parts of at most 5 GB"),
        )
    })
}

/// Checks a client-named upload: `key` under the caller's prefix (403
/// otherwise) and a plausible `uploadId`.
pub(in crate::api) fn target(
    scope: &Scope,
    key: Option<&str>,
    upload_id: Option<&str>,
) -> Result<Target, ApiError> {
    let key = key
        .filter(|k| !k.is_empty())
        .ok_or_else(|| ApiError::bad_param("key is required: the key create returned"))?;
    keys::check_owned_key(&scope.prefix, key)?;
    let upload_id = upload_id
        .filter(|u| !u.is_empty())
        .ok_or_else(|| ApiError::bad_param("uploadId is required: the uploadId create returned"))?;
    if upload_id.len() > 256 || !upload_id.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(ApiError::bad_param(
            "uploadId is not an upload id OSS issued",
        ));
    }
    Ok(Target {
        key: key.to_owned(),
        upload_id: upload_id.to_owned(),
    })
}

/// Create: limits, key, InitiateMultipartUpload. `require_size` is false
/// only for Uppy, which does not send the size (the total is then checked
/// at complete).
pub(in crate::api) async fn create(
    app: &App,
    ctx: &Context,
    scope: &Scope,
    input: &UploadInput,
    require_size: bool,
) -> Result<Created, ApiError> {
    let plan = match input.size {
        Some(size) => Some(plan_for(&scope.profile, size)?),
        None if require_size => {
            return Err(ApiError::bad_param(
                "size is required: the file's size in bytes, so the limit is checked and a part size chosen",
            ))
        }
        None => None,
    };
    let content_type = scope
        .profile
        .content_type(input.content_type.as_deref(), "application/octet-stream")?;
    let key = scope.new_upload_key(input.filename.as_deref())?;
    let signing = signing(app, scope, Access::Upload, ctx).await?;
    let upload_id = calls::initiate(
        &app.oss,
        signing.for_key(&key)?,
        &app.config.bucket,
        &key,
        &content_type,
        scope.forbids_overwrite(),
    )
    .await
    .map_err(|e| ApiError::from_oss(OssCall::InitiateMultipartUpload, e))?;
    Ok(Created {
        key,
        upload_id,
        plan,
        expiration: signing.expiration(),
    })
}

/// Sign: presigned UploadPart URLs for `numbers`. With a plan, numbers past
/// its last part are refused and (V4) each URL is bound to its part's exact
/// length. With `content_type`, each URL signs that `Content-Type` (the PUT
/// must then carry exactly it); without, the PUT must carry none. No OSS call.
pub(in crate::api) async fn sign(
    app: &App,
    ctx: &Context,
    scope: &Scope,
    t: &Target,
    numbers: &[u32],
    plan: Option<PartPlan>,
    content_type: Option<&str>,
) -> Result<(Vec<SignedPart>, DateTime<Utc>), ApiError> {
    let mut lengths = Vec::with_capacity(numbers.len());
    for &n in numbers {
        let len = match plan {
            Some(p) => Some(p.part_len(n).ok_or_else(|| {
                ApiError::new(
                    ErrorCode::InvalidPartNumber,
                    format!(
                        "part {n} is past the last part ({}) of a {}-byte upload",
                        p.part_count, p.size
                    ),
                )
            })?),
            None => None,
        };
        lengths.push(len);
    }
    let signing = signing(app, scope, Access::Upload, ctx).await?;
    let c = signing.for_key(&t.key)?;
    let (now, lifetime) = (signing.now, signing.lifetime);
    let config = &app.config;
    let v4 = config.signature_version == SignatureVersion::V4;
    let parts = numbers
        .iter()
        .zip(lengths)
        .map(|(&n, len)| {
            let part = UploadPart {
                bucket: &config.bucket,
                key: &t.key,
                upload_id: &t.upload_id,
                part_number: n,
                content_length: if v4 { len } else { None },
                content_type,
            };
            let query = if v4 {
                part.presign_v4(c, &config.region, now, lifetime, |date| {
                    app.signing_keys.get(c, date, &config.region)
                })
            } else {
                part.presign_v1(c, now.timestamp() + lifetime as i64)
            };
            SignedPart {
                part_number: n,
                url: app.endpoint.object_url(&config.bucket, &t.key, &query),
                size: part.content_length,
            }
        })
        .collect();
    Ok((parts, signing.expiration()))
}

/// Parts: every part OSS holds for the upload.
pub(in crate::api) async fn list(
    app: &App,
    ctx: &Context,
    scope: &Scope,
    t: &Target,
) -> Result<Vec<ListedPart>, ApiError> {
    let creds = profile_credentials(app, scope, Access::Upload, ctx, Utc::now()).await?;
    calls::list_parts(
        &app.oss,
        creds.for_key(&t.key)?,
        &app.config.bucket,
        &t.key,
        &t.upload_id,
    )
    .await
    .map_err(|e| ApiError::from_oss(OssCall::ListParts, e))
}

/// Complete: ListParts, the checks, CompleteMultipartUpload; aborts on any
/// violation (and when OSS refuses because the key exists).
pub(in crate::api) async fn complete(
    app: &App,
    ctx: &Context,
    scope: &Scope,
    t: &Target,
    client_parts: Vec<(u32, String)>,
) -> Result<Completed, ApiError> {
    if client_parts.is_empty() {
        return Err(ApiError::new(
            ErrorCode::NoParts,
            "parts is empty: list every part you uploaded with its partNumber and ETag",
        ));
    }
    let creds = profile_credentials(app, scope, Access::Upload, ctx, Utc::now()).await?;
    let c = creds.for_key(&t.key)?;
    let bucket = &app.config.bucket;
    let listed = match calls::list_parts(&app.oss, c, bucket, &t.key, &t.upload_id).await {
        Ok(l) => l,
        Err(e) => {
            return finished_or(app, ctx, scope, t, &client_parts, OssCall::ListParts, e).await
        }
    };
    let (parts, total) = match mp::check_complete(
        &client_parts,
        &listed,
        scope.profile.min_bytes,
        scope.profile.max_bytes,
    ) {
        Ok(ok) => ok,
        Err(v) => return Err(abort_after(app, ctx, c, t, violation_error(&v)).await),
    };
    let forbid = scope.forbids_overwrite();
    match calls::complete(&app.oss, c, bucket, &t.key, &t.upload_id, &parts, forbid).await {
        Ok(r) => {
            crate::log::info(
                Some(&ctx.request_id),
                "multipart upload completed",
                &[
                    ("key", t.key.clone().into()),
                    ("size", total.into()),
                    ("parts", parts.len().into()),
                ],
            );
            Ok(Completed {
                location: if r.location.is_empty() {
                    app.endpoint.object_url(bucket, &t.key, &[])
                } else {
                    r.location
                },
                etag: r.etag,
                size: total,
                parts: parts.len(),
            })
        }
        Err(e) if e.oss_code() == Some("FileAlreadyExists") => {
            let err = ApiError::from_oss(OssCall::CompleteMultipartUpload, e);
            Err(abort_after(app, ctx, c, t, err).await)
        }
        Err(e) => {
            let call = OssCall::CompleteMultipartUpload;
            finished_or(app, ctx, scope, t, &client_parts, call, e).await
        }
    }
}

/// OSS's failure `e` of `call` as our error, unless it says `NoSuchUpload`
/// and the upload turns out to have finished already (a retried complete):
/// then the first complete's answer.
async fn finished_or(
    app: &App,
    ctx: &Context,
    scope: &Scope,
    t: &Target,
    client_parts: &[(u32, String)],
    call: OssCall,
    e: crate::oss::client::OssError,
) -> Result<Completed, ApiError> {
    if e.oss_code() == Some("NoSuchUpload") {
        if let Some(done) = super::finished::answer(app, ctx, scope, t, client_parts).await? {
            return Ok(done);
        }
    }
    Err(ApiError::from_oss(call, e))
}

/// Aborts `t` after a refusal and returns the refusal, saying whether the
/// abort worked (if it did not, the parts still cannot become an object
/// without passing these checks again).
async fn abort_after(
    app: &App,
    ctx: &Context,
    creds: &Credentials,
    t: &Target,
    mut err: ApiError,
) -> ApiError {
    match calls::abort(&app.oss, creds, &app.config.bucket, &t.key, &t.upload_id).await {
        Ok(()) => err
            .message
            .push_str("; the upload was aborted, start a new one"),
        Err(e) => {
            crate::log::warn(
                Some(&ctx.request_id),
                "abort after a refused complete failed",
                &[
                    ("key", t.key.clone().into()),
                    ("detail", e.to_string().into()),
                ],
            );
            err.message
                .push_str("; aborting the upload failed too, abort it or let the bucket's lifecycle rule remove it");
        }
    }
    err
}

/// Abort: AbortMultipartUpload.
pub(in crate::api) async fn abort(
    app: &App,
    ctx: &Context,
    scope: &Scope,
    t: &Target,
) -> Result<(), ApiError> {
    let creds = profile_credentials(app, scope, Access::Upload, ctx, Utc::now()).await?;
    calls::abort(
        &app.oss,
        creds.for_key(&t.key)?,
        &app.config.bucket,
        &t.key,
        &t.upload_id,
    )
    .await
    .map_err(|e| ApiError::from_oss(OssCall::AbortMultipartUpload, e))
}

fn violation_error(v: &Violation) -> ApiError {
    match v {
        Violation::PartsMismatch(why) => ApiError::new(
            ErrorCode::PartsMismatch,
            format!("the part list does not match the parts OSS holds: {why}"),
        ),
        Violation::TooManyParts(n) => ApiError::new(
            ErrorCode::TooManyParts,
            format!("{n} parts; OSS allows at most 10000"),
        ),
        Violation::PartTooSmall { part_number, size } => ApiError::new(
            ErrorCode::PartTooSmall,
            format!("part {part_number} has {size} bytes; every part but the last needs at least 102400"),
        ),
        Violation::TooSmall { total, min } => ApiError::new(
            ErrorCode::FileTooSmall,
            format!("the parts add up to {total} bytes, under the minimum of {min}"),
        ),
        Violation::TooLarge { total, max } => ApiError::new(
            ErrorCode::FileTooLarge,
            format!("the parts add up to {total} bytes, over the limit of {max}"),
        ),
    }
}
