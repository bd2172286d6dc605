//! The one admission path every credential route takes, in order: the
//! profile asked for → authentication (who) → rate limit (the route's
//! [`Budget`]: this instance's limiter, then the deployment-wide one when
//! `STATE_REDIS_URL` is set and the store answers) → [`Scope`] (which
//! prefix, which profile).
//!
//! Route handlers get a [`Scope`] from [`admit`] and credentials from
//! [`super::broker`]; none of them authenticates, limits or assumes a role
//! on its own.

use super::error::{ApiError, ErrorCode};
use super::routes::Budget;
use super::App;
use crate::auth::{AuthError, Caller};
use crate::config::AuthMode;
use crate::profiles::keys::{self, ANONYMOUS_SEGMENT};
use crate::profiles::{Overwrite, Profile, UploadMethod, DEFAULT_PROFILE};
use crate::runtime::{Context, Request};
use chrono::Utc;
use std::sync::Arc;
use std::time::Duration;

/// What a set of scoped credentials may do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// `oss:PutObject`, `oss:ListParts`, `oss:AbortMultipartUpload`: an upload, nothing else.
    Upload,
    /// `oss:GetObject`: reading back one's own uploads (presigned GET).
    Read,
    /// `oss:GetObjectTagging` and `oss:GetObject`: reading the check's verdict
    /// on one's own uploads and the ETag it must match (HeadObject needs
    /// `oss:GetObject`). These credentials never leave the function.
    Status,
}

impl Access {
    /// The RAM actions the session policy grants.
    pub fn actions(self) -> &'static [&'static str] {
        match self {
            Access::Upload => &crate::sts::policy::UPLOAD_ACTIONS,
            Access::Read => &["oss:GetObject"],
            Access::Status => &["oss:GetObjectTagging", "oss:GetObject"],
        }
    }

    /// `upload`, `read` or `status` (the credential cache's key part).
    pub(super) fn as_str(self) -> &'static str {
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

/// Which profile a request is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum ProfileChoice<'a> {
    /// The one named (`default` when `None`).
    Named(Option<&'a str>),
    /// The one the key lies in (`default` when it lies in none, whose
    /// prefix check then refuses it): steps on an existing upload.
    OfKey(Option<&'a str>),
}

impl<'a> ProfileChoice<'a> {
    /// A read of an existing object: the profile named, else the key's.
    pub(super) fn named_or_key(profile: Option<&'a str>, key: Option<&'a str>) -> Self {
        match profile {
            Some(_) => ProfileChoice::Named(profile),
            None => ProfileChoice::OfKey(key),
        }
    }
}

/// The profile a request names, checked for `purpose`: unknown names and
/// methods the profile does not allow are 400s that say what exists.
fn profile_for(
    app: &App,
    choice: ProfileChoice<'_>,
    purpose: Purpose,
) -> Result<Arc<Profile>, ApiError> {
    // Borrowed, not copied: this runs on every credential request.
    let named: &str = match choice {
        ProfileChoice::Named(Some(name)) => name.trim(),
        ProfileChoice::Named(None) => DEFAULT_PROFILE,
        ProfileChoice::OfKey(key) => key
            .and_then(|k| app.profiles.for_key(k))
            .map_or(DEFAULT_PROFILE, |(p, _)| p.name.as_str()),
    };
    let Some(profile) = app.profiles.get(named) else {
        return Err(ApiError::new(
            ErrorCode::UnknownProfile,
            format!(
                "profile {:?} does not exist; profiles: {}",
                named.chars().take(40).collect::<String>(),
                app.profiles.names()
            ),
        ));
    };
    if let Purpose::Upload(method) = purpose {
        if !profile.allows(method) {
            return Err(ApiError::new(
                ErrorCode::MethodNotAllowedForProfile,
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
/// with `anonymous = true` also admits callers without a token), the rate
/// limit of `budget` (the multipart steps after create draw on their own,
/// larger one: Uppy signs each part with its own request), then the
/// caller's scope in that profile.
pub(super) async fn admit(
    app: &App,
    req: &Request,
    ctx: &Context,
    choice: ProfileChoice<'_>,
    purpose: Purpose,
    budget: Budget,
) -> Result<Scope, ApiError> {
    let profile = profile_for(app, choice, purpose)?;
    let now = Utc::now();
    let caller = match app
        .auth
        .authenticate_refreshing(req.headers(), now.timestamp())
        .await
    {
        Ok(caller) => caller,
        Err(AuthError::Missing) if profile.anonymous => Caller { user_id: None },
        Err(e) => return Err(e.into()),
    };
    let limiter = match budget {
        Budget::Step => &app.step_limiter,
        Budget::Credential | Budget::Free => &app.limiter,
    };
    let limiter_key = match &caller.user_id {
        Some(u) => format!("user:{u}"),
        None => super::ratelimit::anonymous_key(req.headers(), &ctx.request_id),
    };
    let mut verdict = limiter.check(&limiter_key, now.timestamp_millis());
    if let (Ok(()), Some(state)) = (verdict, &app.state) {
        // The deployment-wide limit, when the store answers; the
        // per-instance verdict above stands when it does not.
        if limiter.per_minute() > 0 {
            let class = match budget {
                Budget::Step => "step",
                Budget::Credential | Budget::Free => "credential",
            };
            if let Some(shared) = state.limit(class, &limiter_key, limiter.per_minute()).await {
                verdict = shared;
            }
        }
    }
    if let Err(retry) = verdict {
        crate::log::warn(
            Some(&ctx.request_id),
            "rate limited",
            &[("retryAfter", retry.into())],
        );
        let mut e = ApiError::new(
            ErrorCode::RateLimited,
            format!("too many credential requests; retry in {retry} s"),
        );
        e.retry_after = Some(retry);
        return Err(e);
    }
    scope_for(app, &caller, profile)
}

/// Where a caller may write in `profile`: the profile's prefix, then the
/// caller's user segment (none in `AUTH_MODE=anonymous`, the reserved
/// [`ANONYMOUS_SEGMENT`] for a tokenless caller of an anonymous profile in
/// the token modes).
pub(super) fn scope_for(
    app: &App,
    caller: &Caller,
    profile: Arc<Profile>,
) -> Result<Scope, ApiError> {
    let prefix = match &caller.user_id {
        None if app.config.auth == AuthMode::Anonymous => profile.prefix.clone(),
        None => format!("{}{ANONYMOUS_SEGMENT}/", profile.prefix),
        Some(user) => {
            let segment = crate::auth::user_prefix_segment(user)?;
            format!("{}{}/", profile.prefix, segment)
        }
    };
    Ok(Scope {
        prefix,
        user_id: caller.user_id.clone(),
        profile,
    })
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
