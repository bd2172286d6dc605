//! The one admission path every credential route takes, in order:
//! authentication (who) → rate limit → [`Scope`] (which prefix) → scoped STS
//! credentials (what the signer may sign with).
//!
//! Route files call [`App::admit`] and then [`App::scoped_credentials`]; none
//! of them authenticates, limits or assumes a role on its own.

use super::error::ApiError;
use super::params::Params;
use super::App;
use crate::auth::{AuthError, Caller};
use crate::config::AuthMode;
use crate::profiles::keys::{self, ANONYMOUS_SEGMENT};
use crate::profiles::{Overwrite, Profile, UploadMethod, DEFAULT_PROFILE};
use crate::runtime::{Context, Request};
use crate::sts::client::{AssumeRoleRequest, AssumedRole, StsError};
use chrono::{DateTime, Utc};
use std::sync::Arc;
use std::time::Duration;

/// What a set of scoped credentials may do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// `oss:PutObject`, `oss:ListParts`, `oss:AbortMultipartUpload`: an upload, nothing else.
    Upload,
    /// `oss:GetObject`: reading back one's own uploads (presigned GET).
    Read,
    /// `oss:GetObjectTagging`: reading the check's verdict on one's own uploads.
    Status,
}

impl Access {
    /// The RAM actions the session policy grants.
    pub fn actions(self) -> &'static [&'static str] {
        match self {
            Access::Upload => &crate::sts::policy::UPLOAD_ACTIONS,
            Access::Read => &["oss:GetObject"],
            Access::Status => &["oss:GetObjectTagging"],
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            Access::Upload => "upload",
            Access::Read => "read",
            Access::Status => "status",
        }
    }
}

/// Where a caller may write: their key prefix, who they are, and the
/// profile whose rules apply.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Scope {
    /// The profile's prefix plus, for an authenticated user, their encoded id and `/`.
    pub prefix: String,
    /// The user id (for `RoleSessionName` and the rate limiter); `None` if anonymous.
    pub user_id: Option<String>,
    /// The upload profile the request named.
    pub profile: Arc<Profile>,
}

impl Scope {
    /// The key of a new upload in this scope: `<prefix><random id>/<file
    /// name>`, or `<prefix><fixed name>` in a profile whose uploads replace
    /// one object per user.
    pub fn new_upload_key(&self, filename: Option<&str>) -> Result<String, ApiError> {
        match &self.profile.overwrite {
            Overwrite::Forbid => Ok(keys::build_key(&self.prefix, &keys::random_id(), filename)?),
            Overwrite::Replace { name } => Ok(format!("{}{name}", self.prefix)),
        }
    }

    /// Whether uploads must not replace an existing object
    /// (`x-oss-forbid-overwrite: true`, 409 from OSS if one exists).
    pub fn forbids_overwrite(&self) -> bool {
        self.profile.overwrite == Overwrite::Forbid
    }
}

/// What a request wants its scope for: an upload by some method (checked
/// against the profile's `methods`), or reading back one's own upload.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Purpose {
    /// Credentials, a form, a URL or parts for a new upload.
    Upload(UploadMethod),
    /// A presigned GET of an existing upload.
    ReadBack,
}

/// The least life credentials from `/v1/sts` have, and the least the
/// credentials that sign a URL or policy have: 6 minutes, since the mobile
/// SDKs refresh when 5 remain. STS answers with less are refused (502
/// `StsCredentialsTooShortLived`) rather than handed out.
pub const PROMISED_LIFETIME: Duration = Duration::from_secs(360);

impl App {
    /// The profile a request names (`default` when it names none), checked
    /// for `purpose`: unknown names and methods the profile does not allow
    /// are 400s that say what exists.
    fn profile_for(&self, params: &Params, purpose: Purpose) -> Result<Arc<Profile>, ApiError> {
        // Borrowed, not copied: this runs on every credential request.
        let named: &str = match (&params.profile, purpose) {
            (Some(name), _) => name.trim(),
            // A read-back names a key; the key says which profile it is in.
            (None, Purpose::ReadBack) => params
                .key
                .as_deref()
                .and_then(|k| self.profiles.for_key(k))
                .map_or(DEFAULT_PROFILE, |(p, _)| p.name.as_str()),
            (None, Purpose::Upload(_)) => DEFAULT_PROFILE,
        };
        let Some(profile) = self.profiles.get(named) else {
            return Err(ApiError::new(
                400,
                "UnknownProfile",
                format!(
                    "profile {:?} does not exist; profiles: {}",
                    named.chars().take(40).collect::<String>(),
                    self.profiles.names()
                ),
            ));
        };
        if let Purpose::Upload(method) = purpose {
            if !profile.allows(method) {
                return Err(ApiError::new(
                    400,
                    "MethodNotAllowedForProfile",
                    format!(
                        "profile {:?} does not allow {} uploads; it allows: {}",
                        profile.name,
                        method.as_str(),
                        profile.method_names()
                    ),
                ));
            }
        }
        Ok(profile.clone())
    }

    /// The admission path: the profile asked for, authentication (a profile
    /// with `anonymous = true` also admits callers without a token), the
    /// rate limit, then the caller's scope in that profile.
    pub(super) fn admit(
        &self,
        req: &Request,
        ctx: &Context,
        params: &Params,
        purpose: Purpose,
    ) -> Result<Scope, ApiError> {
        self.admit_on(req, ctx, params, purpose, &self.limiter)
    }

    /// [`App::admit`] for the steps of a multipart upload after create
    /// (signing, listing, completing, aborting parts): Uppy signs each part
    /// with its own request, so these draw on a separate, larger budget
    /// ([`super::multipart::STEP_RATE_FACTOR`] times `RATE_LIMIT_PER_MINUTE`).
    pub(super) fn admit_step(
        &self,
        req: &Request,
        ctx: &Context,
        params: &Params,
        purpose: Purpose,
    ) -> Result<Scope, ApiError> {
        self.admit_on(req, ctx, params, purpose, &self.step_limiter)
    }

    fn admit_on(
        &self,
        req: &Request,
        ctx: &Context,
        params: &Params,
        purpose: Purpose,
        limiter: &super::ratelimit::RateLimiter,
    ) -> Result<Scope, ApiError> {
        let profile = self.profile_for(params, purpose)?;
        let now = Utc::now();
        let caller = match self.auth.authenticate(req.headers(), now.timestamp()) {
            Ok(caller) => caller,
            Err(AuthError::Missing) if profile.anonymous => Caller { user_id: None },
            Err(e) => {
                let mut err = ApiError::new(e.status(), e.code(), e.message());
                err.www_authenticate = e.www_authenticate();
                return Err(err);
            }
        };
        let limiter_key = match &caller.user_id {
            Some(u) => format!("user:{u}"),
            None => super::ratelimit::anonymous_key(req.headers(), &ctx.request_id),
        };
        if let Err(retry) = limiter.check(&limiter_key, now.timestamp_millis()) {
            crate::log::warn(
                Some(&ctx.request_id),
                "rate limited",
                &[("retryAfter", retry.into())],
            );
            let mut e = ApiError::new(
                429,
                "RateLimited",
                format!("too many credential requests; retry in {retry} s"),
            );
            e.retry_after = Some(retry);
            return Err(e);
        }
        self.scope_for(&caller, profile)
    }

    /// Where a caller may write in `profile`: the profile's prefix, then the
    /// caller's user segment (none in `AUTH_MODE=anonymous`, the reserved
    /// [`ANONYMOUS_SEGMENT`] for a tokenless caller of an anonymous profile
    /// in the token modes).
    pub fn scope_for(&self, caller: &Caller, profile: Arc<Profile>) -> Result<Scope, ApiError> {
        let prefix = match &caller.user_id {
            None if self.config.auth == AuthMode::Anonymous => profile.prefix.clone(),
            None => format!("{}{ANONYMOUS_SEGMENT}/", profile.prefix),
            Some(user) => {
                let segment = crate::auth::user_prefix_segment(user)
                    .map_err(|e| ApiError::new(e.status(), e.code(), e.message()))?;
                format!("{}{}/", profile.prefix, segment)
            }
        };
        Ok(Scope {
            prefix,
            user_id: caller.user_id.clone(),
            profile,
        })
    }

    /// `POST /initialize`: opens the STS connection and, where all callers
    /// share one scope (anonymous mode), fetches its credentials now so the
    /// first user request does not wait for them.
    pub async fn initialize(&self, ctx: &Context) -> Result<(), ApiError> {
        self.sts.warm().await;
        if self.config.auth == AuthMode::Anonymous && ctx.credentials.is_some() {
            let scope = self.scope_for(
                &Caller { user_id: None },
                self.profiles.default_profile().clone(),
            )?;
            self.scoped_credentials(&scope, Access::Upload, ctx, Utc::now())
                .await?;
        }
        Ok(())
    }

    /// Scoped STS credentials for `scope` and `access`, from the cache or a fresh AssumeRole.
    pub(super) async fn scoped_credentials(
        &self,
        scope: &Scope,
        access: Access,
        ctx: &Context,
        now: DateTime<Utc>,
    ) -> Result<Arc<AssumedRole>, ApiError> {
        let Some(caller) = ctx.credentials.as_ref() else {
            return Err(ApiError::new(
                503,
                "NoFunctionCredentials",
                "the function has no credentials to call STS with; give the function a role (s.yaml `role`) so FC passes them",
            ));
        };
        let cache_key = format!("{}\n{}", access.as_str(), scope.prefix);
        let request_id = ctx.request_id.clone();
        let sts = &self.sts;
        self.cache
            .get(&cache_key, now, || async move {
                // Built only when STS is actually called, not on cache hits.
                let policy = crate::sts::policy::session_policy(
                    &self.config.bucket,
                    &scope.prefix,
                    access.actions(),
                )
                .map_err(|e| StsError::Config {
                    detail: format!("cannot build the session policy: {e}"),
                })?;
                let request = AssumeRoleRequest {
                    role_arn: self.config.role_arn.clone(),
                    role_session_name: crate::sts::policy::role_session_name(
                        scope.user_id.as_deref().unwrap_or("anonymous"),
                    ),
                    duration_seconds: scope.profile.token_ttl_secs as u32,
                    policy: Some(policy),
                };
                let started = std::time::Instant::now();
                let result = sts.assume_role(caller, &request, Utc::now()).await;
                let ms = started.elapsed().as_micros() as f64 / 1000.0;
                match &result {
                    Ok(r) => crate::log::info(
                        Some(&request_id),
                        "AssumeRole ok",
                        &[
                            ("durationMs", ms.into()),
                            ("expiration", r.expiration_text.clone().into()),
                            ("sessionName", request.role_session_name.clone().into()),
                        ],
                    ),
                    Err(e) => crate::log::warn(
                        Some(&request_id),
                        "AssumeRole failed",
                        &[
                            ("durationMs", ms.into()),
                            ("code", e.code().into()),
                            ("upstreamCode", e.upstream_code().unwrap_or("").into()),
                        ],
                    ),
                }
                result
            })
            .await
            .map_err(sts_error)
    }

    /// How long a URL or policy signed now may live: the profile's URL lifetime, but
    /// never past the signing credentials' expiry.
    pub(super) fn signed_lifetime(
        scope: &Scope,
        creds: &AssumedRole,
        now: DateTime<Utc>,
    ) -> Result<u64, ApiError> {
        let remaining = (creds.expiration - now).num_seconds();
        let secs = (scope.profile.url_ttl_secs as i64).min(remaining);
        if secs < 1 {
            return Err(ApiError::new(
                502,
                "StsBadResponse",
                "STS returned credentials that are already expired",
            ));
        }
        Ok(secs as u64)
    }
}

/// Maps an STS failure onto our status and code (502 rejected/bad answer,
/// 503 throttled, 504 timeout), naming the upstream code but nothing secret.
fn sts_error(e: StsError) -> ApiError {
    let status = e.http_status();
    let message = match e.upstream_code() {
        Some(code) if status == 503 => format!(
            "STS is throttling AssumeRole ({code}); retry after the Retry-After delay"
        ),
        Some(code) => format!(
            "STS refused AssumeRole ({code}); check that the function's role may call sts:AssumeRole on OSS_ROLE_ARN and that the upload role trusts it"
        ),
        None => format!("STS AssumeRole failed: {e}"),
    };
    let mut err = ApiError::new(status, e.code(), message);
    err.retry_after = e.retry_after_secs();
    err
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refresh_margin_is_above_the_promised_lifetime() {
        // The shortest margin still leaves a window where a token is served
        // while it is refreshed, above the promised floor.
        assert!(crate::sts::cache::refresh_margin(900) > PROMISED_LIFETIME);
    }
}
