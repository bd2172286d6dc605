//! Routes and JSON shapes.
//!
//! Every credential route runs the same pipeline, in one direction:
//! request → [`crate::auth`] (who) → rate limit → [`Scope`] (which prefix,
//! which actions) → scoped STS credentials from the cache → signer
//! ([`crate::oss`]) → JSON response.
//!
//! Where things are: [`routes`] maps paths to routes; [`admission`] is the
//! shared path up to scoped credentials; [`limits`] checks a declared type
//! and size; then one file per route family ([`sts`], [`post_policy`],
//! [`presign`], and the sample clients' shapes in [`legacy`]).
//!
//! URLs and POST policies are signed with the **upload role's scoped STS
//! credentials**, never with the function's own identity, so even a leaked
//! URL or policy carries no more than the session policy allows.

pub mod admission;
pub mod cors;
pub mod error;
mod legacy;
mod limits;
pub mod multipart;
pub mod page;
pub mod params;
mod post_policy;
mod presign;
pub mod ratelimit;
mod response;
mod routes;
mod status;
mod sts;
mod uppy;

pub use admission::{Access, Purpose, Scope, PROMISED_LIFETIME};

use crate::auth::Authenticator;
use crate::config::Config;
use crate::oss::client::OssClient;
use crate::oss::endpoint::Endpoint;
use crate::profiles::{Overwrite, Profiles, UploadMethod};
use crate::runtime::{Context, Request, Response};
use crate::sts::cache::{refresh_margin, CacheConfig, CredentialCache};
use crate::sts::client::StsClient;
use cors::{Cors, Verdict};
use error::ApiError;
use http::{HeaderValue, Method};
use presign::SigningKeys;
use ratelimit::RateLimiter;
use response::{json_body, with_no_store};
use routes::Route;
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Duration;

/// The application: configuration plus the long-lived clients and caches
/// every request shares.
pub struct App {
    config: Config,
    /// The kinds of upload served, `default` (the environment's) first.
    profiles: Profiles,
    endpoint: Endpoint,
    /// Shared with the upload check (see [`crate::wiring`]).
    sts: Arc<StsClient>,
    /// The function's own OSS calls (multipart steps, status); shared with the upload check.
    oss: Arc<OssClient>,
    cache: CredentialCache,
    auth: Authenticator,
    cors: Cors,
    limiter: RateLimiter,
    /// The multipart steps' own budget (see [`App::admit_step`]).
    step_limiter: RateLimiter,
    signing_keys: SigningKeys,
}

impl App {
    /// Builds the application from a validated configuration on the STS and
    /// OSS clients it shares with the upload check ([`crate::wiring`] builds
    /// them); fails if the profiles or authentication keys cannot be used.
    pub fn new(config: Config, sts: Arc<StsClient>, oss: Arc<OssClient>) -> Result<App, String> {
        let endpoint = oss.endpoint().clone();
        let profiles = Profiles::from_config(&config).map_err(|errs| {
            let lines: Vec<String> = errs.iter().map(|e| format!("  - {e}")).collect();
            format!("the upload profiles have problems:\n{}", lines.join("\n"))
        })?;
        // Cached credentials are refreshed early enough for the shortest-lived profile.
        let shortest_ttl = profiles
            .iter()
            .map(|p| p.token_ttl_secs)
            .min()
            .unwrap_or(config.token_ttl_secs);
        let cache = CredentialCache::new(CacheConfig {
            max_entries: config.credential_cache_size,
            refresh_margin: refresh_margin(shortest_ttl),
        })
        // Never hand out or sign with less than the promised life, and
        // answer every request within the STS timeout.
        .with_min_remaining(PROMISED_LIFETIME)
        .with_wait_limit(Duration::from_millis(config.sts_timeout_ms));
        let auth = Authenticator::from_config(&config.auth)?;
        let cors = Cors::new(&config.allowed_origins);
        let limiter = RateLimiter::new(config.rate_limit_per_minute, 100_000);
        let step_limiter = RateLimiter::new(
            config
                .rate_limit_per_minute
                .saturating_mul(multipart::STEP_RATE_FACTOR),
            100_000,
        );
        Ok(App {
            config,
            profiles,
            endpoint,
            sts,
            oss,
            cache,
            auth,
            cors,
            limiter,
            step_limiter,
            signing_keys: SigningKeys::default(),
        })
    }

    /// The configuration this app runs with.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The upload profiles this app serves.
    pub fn profiles(&self) -> &Profiles {
        &self.profiles
    }

    /// The client for the function's own OSS calls (multipart steps, upload checks).
    pub fn oss(&self) -> &OssClient {
        &self.oss
    }

    /// Handles one request. Never panics on input; every failure is a JSON error.
    pub async fn handle(&self, req: Request, ctx: Context) -> Response {
        let path = req.uri().path();
        let Some(route) = Route::from_path(path) else {
            return with_no_store(
                ApiError::new(
                    404,
                    "NotFound",
                    format!("no route {path:?}; see /v1/sts, /v1/post-policy, /v1/presign"),
                )
                .to_response(false),
            );
        };
        if route.is_legacy() && !self.config.legacy_routes {
            return with_no_store(
                ApiError::new(
                    404,
                    "NotFound",
                    format!("{path:?} is a route for Alibaba's sample clients and is off; set LEGACY_ROUTES=true to serve it, or use /v1/sts, /v1/post-policy, /v1/presign"),
                )
                .to_response(false),
            );
        }
        let verdict = self.cors.check(req.headers());
        if req.method() == Method::OPTIONS {
            return self.cors.preflight(req.headers());
        }
        let sts_shaped = route.sts_shaped_errors();
        let mut resp = if !route.methods().contains(req.method()) {
            let allow = route
                .methods()
                .iter()
                .map(Method::as_str)
                .collect::<Vec<_>>()
                .join(", ");
            let mut r = ApiError::new(
                405,
                "MethodNotAllowed",
                format!("{} is not allowed here; use {allow}", req.method()),
            )
            .to_response(sts_shaped);
            if let Ok(v) = HeaderValue::from_str(&allow) {
                r.headers_mut().insert(http::header::ALLOW, v);
            }
            r
        } else if verdict == Verdict::Refused && route.is_credential_route() {
            ApiError::new(
                403,
                "OriginNotAllowed",
                "this origin is not in ALLOWED_ORIGINS",
            )
            .to_response(false)
        } else {
            match self.route(route, &req, &ctx).await {
                Ok(r) => r,
                Err(e) => {
                    if e.status >= 500 {
                        crate::log::warn(
                            Some(&ctx.request_id),
                            "request failed",
                            &[
                                ("code", e.code.clone().into()),
                                ("status", e.status.into()),
                                ("detail", e.message.clone().into()),
                            ],
                        );
                    }
                    if route == Route::Uppy {
                        uppy::error_response(&e)
                    } else {
                        e.to_response(sts_shaped)
                    }
                }
            }
        };
        self.cors.decorate(&verdict, &mut resp);
        with_no_store(resp)
    }

    /// Sends an admitted request to its route family.
    async fn route(
        &self,
        route: Route,
        req: &Request,
        ctx: &Context,
    ) -> Result<Response, ApiError> {
        match route {
            Route::Page => Ok(page::index()),
            Route::Healthz => Ok(json_body(200, &json!({"status": "ok"}))),
            Route::Initialize => {
                self.initialize(ctx).await?;
                Ok(json_body(200, &json!({"status": "initialized"})))
            }
            Route::PublicConfig => Ok(json_body(200, &self.public_config())),
            Route::Sts { legacy } => {
                let params = params::parse(req)?;
                let scope = self.admit(req, ctx, &params, Purpose::Upload(UploadMethod::Sts))?;
                self.sts_token(&scope, ctx, legacy).await
            }
            Route::PostPolicy { legacy } => {
                let params = params::parse(req)?;
                let purpose = Purpose::Upload(UploadMethod::PostPolicy);
                let scope = self.admit(req, ctx, &params, purpose)?;
                self.post_policy(&scope, ctx, &params, legacy).await
            }
            Route::Presign { legacy } => {
                let params = params::parse(req)?;
                let scope = self.admit(req, ctx, &params, presign::purpose(&params))?;
                self.presign(&scope, ctx, &params, legacy).await
            }
            Route::Multipart(op) => self.multipart(op, req, ctx).await,
            Route::Uppy => self.uppy(req, ctx).await,
            Route::UploadStatus => {
                let params = params::parse(req)?;
                // Like a read-back, the key names the profile it is in.
                let scope = self.admit(req, ctx, &params, Purpose::ReadBack)?;
                self.upload_status(&scope, ctx, &params).await
            }
        }
    }

    /// Settings a browser page may see: nothing secret.
    pub fn public_config(&self) -> Value {
        json!({
            "bucket": self.config.bucket,
            "region": self.config.region,
            "endpoint": self.endpoint.as_str(),
            "prefix": self.config.upload_prefix,
            "maxUploadBytes": self.config.max_upload_bytes,
            "allowedContentTypes": self.config.allowed_content_types,
            "authMode": self.config.auth.name(),
            "signatureVersion": self.config.signature_version.as_str(),
            "urlTtlSeconds": self.config.url_ttl_secs,
            "aliOssScriptUrl": self.config.ali_oss_script_url,
            "profiles": self.profiles.iter().map(|p| json!({
                "name": p.name,
                "prefix": p.prefix,
                "contentTypes": p.content_types,
                "minBytes": p.min_bytes,
                "maxBytes": p.max_bytes,
                "methods": p.methods.iter().map(|m| m.as_str()).collect::<Vec<_>>(),
                "anonymous": p.anonymous,
                "overwrite": match &p.overwrite {
                    Overwrite::Forbid => "forbid",
                    Overwrite::Replace { .. } => "replace",
                },
                "urlTtlSeconds": p.url_ttl_secs,
                "tokenTtlSeconds": p.token_ttl_secs,
            })).collect::<Vec<_>>(),
        })
    }
}

/// The runtime handler for `app`: every request goes to [`App::handle`].
pub fn handler(app: Arc<App>) -> impl crate::runtime::Handler {
    crate::runtime::service_fn(move |req, ctx| {
        let app = app.clone();
        async move { app.handle(req, ctx).await }
    })
}
