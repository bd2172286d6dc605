//! The one admission path every credential route takes, in order:
//! authentication (who) → rate limit → [`Scope`] (which prefix) → scoped STS
//! credentials (what the signer may sign with).
//!
//! Route files call [`App::admit`] and then [`App::scoped_credentials`]; none
//! of them authenticates, limits or assumes a role on its own.

use super::error::ApiError;
use super::App;
use crate::auth::Caller;
use crate::config::AuthMode;
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

/// Where a caller may write: the bucket, their key prefix, and who they are.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Scope {
    /// `UPLOAD_PREFIX` plus, for an authenticated user, their encoded id and `/`.
    pub prefix: String,
    /// The user id (for `RoleSessionName` and the rate limiter); `None` if anonymous.
    pub user_id: Option<String>,
}

/// How early cached STS credentials are refreshed: at least 6 minutes before
/// they expire (the mobile SDKs refresh at 5), or half their lifetime if longer.
pub fn refresh_margin(token_ttl_secs: u64) -> Duration {
    Duration::from_secs((token_ttl_secs / 2).max(360))
}

impl App {
    /// Authentication, then the caller's scope, then the rate limit.
    pub(super) fn admit(&self, req: &Request, ctx: &Context) -> Result<Scope, ApiError> {
        let now = Utc::now();
        let caller = self
            .auth
            .authenticate(req.headers(), now.timestamp())
            .map_err(|e| {
                let mut err = ApiError::new(e.status(), e.code(), e.message());
                err.www_authenticate = e.www_authenticate();
                err
            })?;
        let scope = self.scope_for(&caller)?;
        let limiter_key = match &scope.user_id {
            Some(u) => format!("user:{u}"),
            None => format!("ip:{}", client_address(req)),
        };
        if let Err(retry) = self.limiter.check(&limiter_key, now.timestamp_millis()) {
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
        Ok(scope)
    }

    /// The prefix a caller may write under.
    pub fn scope_for(&self, caller: &Caller) -> Result<Scope, ApiError> {
        match &caller.user_id {
            None => Ok(Scope {
                prefix: self.config.upload_prefix.clone(),
                user_id: None,
            }),
            Some(user) => {
                let segment = crate::auth::user_prefix_segment(user)
                    .map_err(|e| ApiError::new(e.status(), e.code(), e.message()))?;
                Ok(Scope {
                    prefix: format!("{}{}/", self.config.upload_prefix, segment),
                    user_id: Some(user.clone()),
                })
            }
        }
    }

    /// `POST /initialize`: opens the STS connection and, where all callers
    /// share one scope (anonymous mode), fetches its credentials now so the
    /// first user request does not wait for them.
    pub async fn initialize(&self, ctx: &Context) -> Result<(), ApiError> {
        self.sts.warm().await;
        if self.config.auth == AuthMode::Anonymous && ctx.credentials.is_some() {
            let scope = Scope {
                prefix: self.config.upload_prefix.clone(),
                user_id: None,
            };
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
                    duration_seconds: self.config.token_ttl_secs as u32,
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

    /// How long a URL or policy signed now may live: `URL_TTL_SECONDS`, but
    /// never past the signing credentials' expiry.
    pub(super) fn signed_lifetime(
        &self,
        creds: &AssumedRole,
        now: DateTime<Utc>,
    ) -> Result<u64, ApiError> {
        let remaining = (creds.expiration - now).num_seconds();
        let secs = (self.config.url_ttl_secs as i64).min(remaining);
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

/// The caller's address for the anonymous rate limit: the **last**
/// `X-Forwarded-For` entry, the one FC's front end appended. Earlier entries
/// are whatever the client sent, so keying on them would let anyone reset
/// their limit with a made-up header.
fn client_address(req: &Request) -> String {
    req.headers()
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .next_back()
        .and_then(|v| v.rsplit(',').next())
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| "unknown".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refresh_margin_is_at_least_six_minutes() {
        assert_eq!(refresh_margin(900), Duration::from_secs(450));
        assert_eq!(refresh_margin(600), Duration::from_secs(360));
        assert_eq!(refresh_margin(3600), Duration::from_secs(1800));
    }
}
