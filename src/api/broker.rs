//! The STS broker: scoped credentials for a caller's [`Scope`] (session
//! policy, AssumeRole through the credential cache, its log line), how long
//! something signed with them may live, and the per-day V4 signing keys
//! every presigner shares.
//!
//! Two kinds of credentials, by who ends up holding the secret:
//! - [`user_credentials`]: the caller gets the AccessKeySecret (`/v1/sts`
//!   and the sample clients' STS routes), so the session policy is the only
//!   thing that holds them: it names the caller's own prefix, one
//!   AssumeRole per user per refresh window.
//! - [`profile_credentials`] (and [`signing`]): the secret never leaves the
//!   function; it signs a URL or policy for one server-built key, or makes
//!   the function's own OSS call on a key already checked against the
//!   caller's prefix. The session policy names the *profile's* prefix, so
//!   every user of a profile shares them: one AssumeRole per profile and
//!   access per refresh window, however many users. What a user receives
//!   (a URL, a form) carries the AccessKeyId and SecurityToken but not the
//!   secret, and OSS accepts no request without a signature made with the
//!   secret, so the wider policy is not theirs to use; the signature pins
//!   the key. The per-user boundary the session policy used to repeat is
//!   held here instead: [`ProfileCredentials`] hands its key triple out only
//!   for a key under the caller's own prefix.

use super::admission::{Access, Scope};
use super::error::{ApiError, ErrorCode};
use super::App;
use crate::profiles::keys;
use crate::runtime::Context;
use crate::sts::client::{AssumeRoleRequest, AssumedRole, StsError};
use alibaba_sign::oss_v4 as v4;
use alibaba_sign::Credentials;
use chrono::{DateTime, Utc};
use std::sync::Arc;

/// Credentials whose secret the caller receives (`/v1/sts`): a session
/// policy on the caller's own prefix, cached per user.
pub(super) async fn user_credentials(
    app: &App,
    scope: &Scope,
    access: Access,
    ctx: &Context,
    now: DateTime<Utc>,
) -> Result<Arc<AssumedRole>, ApiError> {
    let session = scope.user_id.as_deref().unwrap_or("anonymous");
    assume(app, scope, &scope.prefix, session, access, ctx, now).await
}

/// Credentials that never leave the function, shared by every user of the
/// scope's profile: a session policy on the profile's prefix for `access`.
/// Their key triple is handed out only for a key in the caller's prefix
/// ([`ProfileCredentials::for_key`]).
pub(in crate::api) async fn profile_credentials<'a>(
    app: &App,
    scope: &'a Scope,
    access: Access,
    ctx: &Context,
    now: DateTime<Utc>,
) -> Result<ProfileCredentials<'a>, ApiError> {
    let session = format!("profile-{}", scope.profile.name);
    let role = assume(
        app,
        scope,
        &scope.profile.prefix,
        &session,
        access,
        ctx,
        now,
    )
    .await?;
    Ok(ProfileCredentials { role, scope })
}

/// Credentials for `access` on `<bucket>/<prefix>*`, from the cache or a
/// fresh AssumeRole. The cache key is the session policy's content (access
/// and prefix), so two scopes share credentials exactly when their policies
/// are the same (in `AUTH_MODE=anonymous` a caller's prefix is the
/// profile's): credentials are worth what their policy allows, nothing else.
async fn assume(
    app: &App,
    scope: &Scope,
    prefix: &str,
    session: &str,
    access: Access,
    ctx: &Context,
    now: DateTime<Utc>,
) -> Result<Arc<AssumedRole>, ApiError> {
    let Some(caller) = ctx.credentials.as_ref() else {
        return Err(ApiError::new(
            ErrorCode::NoFunctionCredentials,
            "the function has no credentials to call STS with; give the function a role (s.yaml `role`) so FC passes them",
        ));
    };
    let cache_key = format!("{}\n{}", access.as_str(), prefix);
    let request_id = ctx.request_id.clone();
    let sts = &app.sts;
    let config = &app.config;
    app.cache
        .get(&cache_key, now, || async move {
            // Built only when STS is actually called, not on cache hits.
            let policy =
                crate::sts::policy::session_policy(&config.bucket, prefix, access.actions())
                    .map_err(|e| StsError::Config {
                        detail: format!("cannot build the session policy: {e}"),
                    })?;
            let request = AssumeRoleRequest {
                role_arn: config.role_arn.clone(),
                role_session_name: crate::sts::policy::role_session_name(session),
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
        .map_err(ApiError::from)
}

/// Profile-scoped credentials, held for one caller's [`Scope`].
pub(super) struct ProfileCredentials<'a> {
    /// The shared credentials.
    pub role: Arc<AssumedRole>,
    scope: &'a Scope,
}

impl ProfileCredentials<'_> {
    /// The key triple, to sign for or act on `key`: only a key under the
    /// caller's own prefix (`KeyOutsidePrefix` otherwise). The routes
    /// check client-sent keys before this and build the others inside the
    /// prefix, so a refusal here means a bug was stopped.
    pub fn for_key(&self, key: &str) -> Result<&Credentials, ApiError> {
        keys::check_owned_key(&self.scope.prefix, key)?;
        Ok(&self.role.credentials)
    }

    /// The key triple, to sign a POST policy that pins the key's start to
    /// `dir` (the sample clients' form): only a `dir` inside the caller's
    /// own prefix.
    pub fn for_dir(&self, dir: &str) -> Result<&Credentials, ApiError> {
        if dir.len() > self.scope.prefix.len()
            && dir.starts_with(&self.scope.prefix)
            && dir.ends_with('/')
        {
            return Ok(&self.role.credentials);
        }
        Err(ApiError::new(
            ErrorCode::KeyOutsidePrefix,
            "the form's key prefix is not under your upload prefix",
        ))
    }
}

/// Credentials to sign with now, and how long what they sign may live.
pub(super) struct Signing<'a> {
    /// The profile-scoped credentials.
    pub creds: ProfileCredentials<'a>,
    /// When signing happens.
    pub now: DateTime<Utc>,
    /// Seconds what is signed now may live.
    pub lifetime: u64,
}

impl Signing<'_> {
    /// The credentials' key triple, to sign for `key` (see
    /// [`ProfileCredentials::for_key`]).
    pub fn for_key(&self, key: &str) -> Result<&Credentials, ApiError> {
        self.creds.for_key(key)
    }

    /// When what is signed now expires.
    pub fn expiration(&self) -> DateTime<Utc> {
        self.now + chrono::Duration::seconds(self.lifetime as i64)
    }
}

/// Profile-scoped credentials for signing a URL or policy in `scope`, with
/// its lifetime.
pub(super) async fn signing<'a>(
    app: &App,
    scope: &'a Scope,
    access: Access,
    ctx: &Context,
) -> Result<Signing<'a>, ApiError> {
    let now = Utc::now();
    let creds = profile_credentials(app, scope, access, ctx, now).await?;
    let lifetime = signed_lifetime(scope, &creds.role, now)?;
    Ok(Signing {
        creds,
        now,
        lifetime,
    })
}

/// How long a URL or policy signed now may live: the profile's URL lifetime,
/// but never past the signing credentials' expiry.
fn signed_lifetime(
    scope: &Scope,
    creds: &AssumedRole,
    now: DateTime<Utc>,
) -> Result<u64, ApiError> {
    let remaining = (creds.expiration - now).num_seconds();
    let secs = (scope.profile.url_ttl_secs as i64).min(remaining);
    if secs < 1 {
        return Err(ApiError::new(
            ErrorCode::StsBadResponse,
            "STS returned credentials that are already expired",
        ));
    }
    Ok(secs as u64)
}

/// V4 signing keys derived once per credentials and day rather than per URL
/// (four chained HMACs each). Secret material: memory only, never logged.
#[derive(Default)]
pub(super) struct SigningKeys(
    std::sync::Mutex<std::collections::HashMap<(String, String), [u8; 32]>>,
);

impl SigningKeys {
    /// Scopes times days a cache can usefully hold; past it, start over.
    const MAX: usize = 4096;

    /// The signing key for `creds` on `date` (`YYYYMMDD`) in `region`.
    pub(super) fn get(&self, creds: &Credentials, date: &str, region: &str) -> [u8; 32] {
        let id = (creds.access_key_id.clone(), date.to_owned());
        let mut map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(key) = map.get(&id) {
            return *key;
        }
        if map.len() >= Self::MAX {
            map.clear();
        }
        let key = v4::signing_key(&creds.access_key_secret, date, region, v4::PRODUCT);
        map.insert(id, key);
        key
    }
}
