//! The multipart flow itself, shared by `/v1/multipart` ([`super`]) and
//! Uppy's `/s3` routes ([`crate::api`]'s `uppy`): create (limits, key,
//! InitiateMultipartUpload), sign (UploadPart URLs), list (ListParts), complete
//! (ListParts, the checks, abort on any violation, CompleteMultipartUpload),
//! abort; and how OSS's answers map onto ours.

use super::MULTIPART;
use crate::api::admission::{Access, Scope};
use crate::api::error::ApiError;
use crate::api::params::Params;
use crate::api::App;
use crate::config::SignatureVersion;
use crate::oss::calls;
use crate::oss::client::OssError;
use crate::oss::multipart::{self as mp, ListedPart, PartPlan, UploadPart, Violation};
use crate::profiles::keys;
use crate::runtime::{Context, Request};
use crate::sts::client::AssumedRole;
use chrono::{DateTime, Utc};
use std::sync::Arc;

/// What create made.
pub(in crate::api) struct Created {
    pub key: String,
    pub upload_id: String,
    pub plan: Option<PartPlan>,
    pub expiration: DateTime<Utc>,
}

/// What complete made.
pub(in crate::api) struct Completed {
    pub location: String,
    pub etag: String,
    pub size: u64,
    pub parts: usize,
}

/// One signed part URL.
pub(in crate::api) struct SignedPart {
    pub part_number: u32,
    pub url: String,
    pub size: Option<u64>,
}

/// An upload named by a client: its key and upload id, checked.
pub(in crate::api) struct Target {
    pub key: String,
    pub upload_id: String,
}

impl App {
    /// Admission for a step on an existing upload: the profile is the one
    /// the key lies in (a key in no profile falls to `default`, whose prefix
    /// check then refuses it), on the multipart steps' rate budget.
    pub(in crate::api) fn admit_upload_step(
        &self,
        req: &Request,
        ctx: &Context,
        key: Option<&str>,
    ) -> Result<Scope, ApiError> {
        let params = Params {
            key: key.map(str::to_owned),
            profile: key
                .and_then(|k| self.profiles.for_key(k))
                .map(|(p, _)| p.name.clone()),
            ..Params::default()
        };
        self.admit_step(req, ctx, &params, MULTIPART)
    }

    /// The part plan for a declared total, within the profile's limits.
    pub(super) fn plan_for(scope: &Scope, size: u64) -> Result<PartPlan, ApiError> {
        Self::check_size(
            &scope.profile,
            &Params {
                size: Some(size),
                ..Params::default()
            },
        )?;
        PartPlan::for_size(size).ok_or_else(|| {
            ApiError::new(
                400,
                "FileTooLarge",
                format!("size {size} cannot be cut into at most 10,000 parts of at most 5 GB"),
            )
        })
    }

    /// Checks a client-named upload: `key` under the caller's prefix (403
    /// otherwise) and a plausible `uploadId`.
    pub(in crate::api) fn mp_target(
        scope: &Scope,
        key: Option<&str>,
        upload_id: Option<&str>,
    ) -> Result<Target, ApiError> {
        let key = key
            .filter(|k| !k.is_empty())
            .ok_or_else(|| ApiError::bad_param("key is required: the key create returned"))?;
        keys::check_owned_key(&scope.prefix, key)?;
        let upload_id = upload_id.filter(|u| !u.is_empty()).ok_or_else(|| {
            ApiError::bad_param("uploadId is required: the uploadId create returned")
        })?;
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

    /// Scoped upload credentials and how long a URL signed with them now may live.
    async fn upload_credentials(
        &self,
        scope: &Scope,
        ctx: &Context,
    ) -> Result<(Arc<AssumedRole>, DateTime<Utc>, u64), ApiError> {
        let now = Utc::now();
        let creds = self
            .scoped_credentials(scope, Access::Upload, ctx, now)
            .await?;
        let lifetime = Self::signed_lifetime(scope, &creds, now)?;
        Ok((creds, now, lifetime))
    }

    /// Create: limits, key, InitiateMultipartUpload. `require_size` is false
    /// only for Uppy, which does not send the size (the total is then
    /// checked at complete).
    pub(in crate::api) async fn mp_create(
        &self,
        scope: &Scope,
        ctx: &Context,
        params: &Params,
        require_size: bool,
    ) -> Result<Created, ApiError> {
        let plan = match params.size {
            Some(size) => Some(Self::plan_for(scope, size)?),
            None if require_size => {
                return Err(ApiError::bad_param(
                    "size is required: the file's size in bytes, so the limit is checked and a part size chosen",
                ))
            }
            None => None,
        };
        let content_type = Self::content_type(&scope.profile, params, "application/octet-stream")?;
        let key = scope.new_upload_key(params.filename.as_deref())?;
        let (creds, now, lifetime) = self.upload_credentials(scope, ctx).await?;
        let upload_id = calls::initiate(
            &self.oss,
            &creds.credentials,
            &self.config.bucket,
            &key,
            &content_type,
            scope.forbids_overwrite(),
        )
        .await
        .map_err(|e| oss_error(e, "InitiateMultipartUpload"))?;
        Ok(Created {
            key,
            upload_id,
            plan,
            expiration: now + chrono::Duration::seconds(lifetime as i64),
        })
    }

    /// Sign: presigned UploadPart URLs for `numbers`. With a plan, numbers
    /// past its last part are refused and (V4) each URL is bound to its
    /// part's exact length. No OSS call.
    pub(in crate::api) async fn mp_sign(
        &self,
        scope: &Scope,
        ctx: &Context,
        t: &Target,
        numbers: &[u32],
        plan: Option<PartPlan>,
    ) -> Result<(Vec<SignedPart>, DateTime<Utc>), ApiError> {
        let mut lengths = Vec::with_capacity(numbers.len());
        for &n in numbers {
            let len = match plan {
                Some(p) => Some(p.part_len(n).ok_or_else(|| {
                    ApiError::new(
                        400,
                        "InvalidPartNumber",
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
        let (creds, now, lifetime) = self.upload_credentials(scope, ctx).await?;
        let c = &creds.credentials;
        let v4 = self.config.signature_version == SignatureVersion::V4;
        let parts = numbers
            .iter()
            .zip(lengths)
            .map(|(&n, len)| {
                let part = UploadPart {
                    bucket: &self.config.bucket,
                    key: &t.key,
                    upload_id: &t.upload_id,
                    part_number: n,
                    content_length: if v4 { len } else { None },
                };
                let query = if v4 {
                    part.presign_v4(c, &self.config.region, now, lifetime, |date| {
                        self.signing_keys.get(c, date, &self.config.region)
                    })
                } else {
                    part.presign_v1(c, now.timestamp() + lifetime as i64)
                };
                SignedPart {
                    part_number: n,
                    url: self
                        .endpoint
                        .object_url(&self.config.bucket, &t.key, &query),
                    size: part.content_length,
                }
            })
            .collect();
        Ok((parts, now + chrono::Duration::seconds(lifetime as i64)))
    }

    /// Parts: every part OSS holds for the upload.
    pub(in crate::api) async fn mp_list(
        &self,
        scope: &Scope,
        ctx: &Context,
        t: &Target,
    ) -> Result<Vec<ListedPart>, ApiError> {
        let (creds, _, _) = self.upload_credentials(scope, ctx).await?;
        calls::list_parts(
            &self.oss,
            &creds.credentials,
            &self.config.bucket,
            &t.key,
            &t.upload_id,
        )
        .await
        .map_err(|e| oss_error(e, "ListParts"))
    }

    /// Complete: ListParts, the checks, CompleteMultipartUpload; aborts on
    /// any violation (and when OSS refuses because the key exists).
    pub(in crate::api) async fn mp_complete(
        &self,
        scope: &Scope,
        ctx: &Context,
        t: &Target,
        client_parts: Vec<(u32, String)>,
    ) -> Result<Completed, ApiError> {
        if client_parts.is_empty() {
            return Err(ApiError::new(
                400,
                "NoParts",
                "parts is empty: list every part you uploaded with its partNumber and ETag",
            ));
        }
        let (creds, _, _) = self.upload_credentials(scope, ctx).await?;
        let c = &creds.credentials;
        let bucket = &self.config.bucket;
        let listed = calls::list_parts(&self.oss, c, bucket, &t.key, &t.upload_id)
            .await
            .map_err(|e| oss_error(e, "ListParts"))?;
        let (parts, total) = match mp::check_complete(
            &client_parts,
            &listed,
            scope.profile.min_bytes,
            scope.profile.max_bytes,
        ) {
            Ok(ok) => ok,
            Err(v) => {
                let err = violation_error(&v);
                return Err(self.abort_after(ctx, c, t, err).await);
            }
        };
        let forbid = scope.forbids_overwrite();
        match calls::complete(&self.oss, c, bucket, &t.key, &t.upload_id, &parts, forbid).await {
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
                        self.endpoint.object_url(bucket, &t.key, &[])
                    } else {
                        r.location
                    },
                    etag: r.etag,
                    size: total,
                    parts: parts.len(),
                })
            }
            Err(e) if e.oss_code() == Some("FileAlreadyExists") => {
                let err = oss_error(e, "CompleteMultipartUpload");
                Err(self.abort_after(ctx, c, t, err).await)
            }
            Err(e) => Err(oss_error(e, "CompleteMultipartUpload")),
        }
    }

    /// Aborts `t` after a refusal and returns the refusal, saying whether
    /// the abort worked (if it did not, the parts still cannot become an
    /// object without passing these checks again).
    async fn abort_after(
        &self,
        ctx: &Context,
        creds: &alibaba_sign::Credentials,
        t: &Target,
        mut err: ApiError,
    ) -> ApiError {
        match calls::abort(&self.oss, creds, &self.config.bucket, &t.key, &t.upload_id).await {
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
    pub(in crate::api) async fn mp_abort(
        &self,
        scope: &Scope,
        ctx: &Context,
        t: &Target,
    ) -> Result<(), ApiError> {
        let (creds, _, _) = self.upload_credentials(scope, ctx).await?;
        calls::abort(
            &self.oss,
            &creds.credentials,
            &self.config.bucket,
            &t.key,
            &t.upload_id,
        )
        .await
        .map_err(|e| oss_error(e, "AbortMultipartUpload"))
    }
}

fn violation_error(v: &Violation) -> ApiError {
    match v {
        Violation::PartsMismatch(why) => ApiError::new(
            400,
            "PartsMismatch",
            format!("the part list does not match the parts OSS holds: {why}"),
        ),
        Violation::TooManyParts(n) => ApiError::new(
            400,
            "TooManyParts",
            format!("{n} parts; OSS allows at most 10000"),
        ),
        Violation::PartTooSmall { part_number, size } => ApiError::new(
            400,
            "PartTooSmall",
            format!("part {part_number} has {size} bytes; every part but the last needs at least 102400"),
        ),
        Violation::TooSmall { total, min } => ApiError::new(
            400,
            "FileTooSmall",
            format!("the parts add up to {total} bytes, under the minimum of {min}"),
        ),
        Violation::TooLarge { total, max } => ApiError::new(
            400,
            "FileTooLarge",
            format!("the parts add up to {total} bytes, over the limit of {max}"),
        ),
    }
}

/// Maps an OSS failure during `call` onto our status and code. No secret
/// reaches the message: [`OssError`] keeps none.
pub(in crate::api) fn oss_error(e: OssError, call: &str) -> ApiError {
    match e {
        OssError::Service {
            status,
            code,
            message,
            request_id,
        } => {
            let rid = request_id
                .map(|r| format!(" (OSS request id {r})"))
                .unwrap_or_default();
            let (ours, what) = match code.as_str() {
                "NoSuchUpload" => (
                    404,
                    "no such upload: the uploadId is unknown for this key, or was completed or aborted".to_owned(),
                ),
                "InvalidPart" => (400, format!("OSS refused a part: {message}")),
                "InvalidPartOrder" => (400, format!("OSS refused the part order: {message}")),
                "EntityTooSmall" => (400, format!("a part is too small: {message}")),
                "FileAlreadyExists" => (
                    409,
                    "an object already exists at this key and uploads never overwrite".to_owned(),
                ),
                "AccessDenied" => (
                    502,
                    format!("OSS denied {call} to the upload role ({message}); check the role's policy allows oss:PutObject, oss:ListParts and oss:AbortMultipartUpload on the bucket"),
                ),
                _ if status >= 500 => (502, format!("OSS failed {call}: {code} {message}")),
                _ => (502, format!("OSS refused {call}: {code} {message}")),
            };
            let ours_code = match ours {
                502 if status >= 500 => "OssUnavailable".to_owned(),
                502 => "OssRejected".to_owned(),
                _ => code,
            };
            ApiError::new(ours, ours_code, format!("{what}{rid}"))
        }
        OssError::Timeout => ApiError::new(
            504,
            "OssTimeout",
            format!("OSS did not answer {call} in time; retry"),
        ),
        OssError::Unavailable(d) => ApiError::new(
            502,
            "OssUnavailable",
            format!("cannot reach OSS for {call}: {d}"),
        ),
        OssError::BadResponse(d) => ApiError::new(
            502,
            "OssBadResponse",
            format!("unreadable answer from OSS to {call}: {d}"),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oss_errors_map_to_documented_codes() {
        let svc = |status, code: &str| OssError::Service {
            status,
            code: code.into(),
            message: "m".into(),
            request_id: Some("RID".into()),
        };
        let m = |e| {
            let a = oss_error(e, "X");
            (a.status, a.code)
        };
        assert_eq!(m(svc(404, "NoSuchUpload")), (404, "NoSuchUpload".into()));
        assert_eq!(m(svc(400, "InvalidPart")), (400, "InvalidPart".into()));
        assert_eq!(
            m(svc(400, "InvalidPartOrder")),
            (400, "InvalidPartOrder".into())
        );
        assert_eq!(
            m(svc(409, "FileAlreadyExists")),
            (409, "FileAlreadyExists".into())
        );
        assert_eq!(
            m(svc(503, "ServiceUnavailable")),
            (502, "OssUnavailable".into())
        );
        assert_eq!(m(OssError::Timeout), (504, "OssTimeout".into()));
        assert!(oss_error(svc(404, "NoSuchUpload"), "X")
            .message
            .contains("RID"));
    }
}
