//! The STS broker: scoped credentials for a caller's [`Scope`] (session
//! policy, AssumeRole through the credential cache, its log line), how long
//! something signed with them may live, and the per-day V4 signing keys
//! every presigner shares.

use super::admission::{Access, Scope};
use super::error::{ApiError, ErrorCode};
use super::App;
use crate::runtime::Context;
use crate::sts::client::{AssumeRoleRequest, AssumedRole, StsError};
use alibaba_sign::oss_v4 as v4;
use alibaba_sign::Credentials;
use chrono::{DateTime, Utc};
use std::sync::Arc;

/// Scoped STS credentials for `scope` and `access`, from the cache or a fresh AssumeRole.
pub(super) async fn scoped_credentials(
    app: &App,
    scope: &Scope,
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
    let cache_key = format!("{}\n{}", access.as_str(), scope.prefix);
    let request_id = ctx.request_id.clone();
    let sts = &app.sts;
    let config = &app.config;
    // With shared state, one instance calls STS for a scope and the others
    // read its sealed credentials; the shared name covers all they depend on.
    let (state, shared_key) = (
        app.state.as_deref(),
        format!("{cache_key}\n{}", scope.profile.token_ttl_secs),
    );
    app.cache
        .get(&cache_key, now, || async move {
            // Built only when STS is actually called, not on cache hits.
            let policy =
                crate::sts::policy::session_policy(&config.bucket, &scope.prefix, access.actions())
                    .map_err(|e| StsError::Config {
                        detail: format!("cannot build the session policy: {e}"),
                    })?;
            let request = AssumeRoleRequest {
                role_arn: config.role_arn.clone(),
                role_session_name: crate::sts::policy::role_session_name(
                    scope.user_id.as_deref().unwrap_or("anonymous"),
                ),
                duration_seconds: scope.profile.token_ttl_secs as u32,
                policy: Some(policy),
            };
            let started = std::time::Instant::now();
            let (result, shared) = match state {
                None => (sts.assume_role(caller, &request, Utc::now()).await, false),
                Some(state) => {
                    let call = || sts.assume_role(caller, &request, Utc::now());
                    state.credentials(&shared_key, now, call).await
                }
            };
            let ms = started.elapsed().as_micros() as f64 / 1000.0;
            match &result {
                Ok(_) if shared => crate::log::info(
                    Some(&request_id),
                    "credentials from the shared state store",
                    &[("durationMs", ms.into())],
                ),
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

/// Credentials to sign with now, and how long what they sign may live.
pub(super) struct Signing {
    /// The scoped credentials.
    pub role: Arc<AssumedRole>,
    /// When signing happens.
    pub now: DateTime<Utc>,
    /// Seconds what is signed now may live.
    pub lifetime: u64,
}

impl Signing {
    /// The scoped credentials' key triple.
    pub fn credentials(&self) -> &Credentials {
        &self.role.credentials
    }

    /// When what is signed now expires.
    pub fn expiration(&self) -> DateTime<Utc> {
        self.now + chrono::Duration::seconds(self.lifetime as i64)
    }
}

/// Scoped credentials for signing a URL or policy in `scope`, with its lifetime.
pub(super) async fn signing(
    app: &App,
    scope: &Scope,
    access: Access,
    ctx: &Context,
) -> Result<Signing, ApiError> {
    let now = Utc::now();
    let role = scoped_credentials(app, scope, access, ctx, now).await?;
    let lifetime = signed_lifetime(scope, &role, now)?;
    Ok(Signing {
        role,
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
