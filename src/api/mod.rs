//! Routes and JSON shapes.
//!
//! Every credential route runs the same pipeline, in one direction:
//! request → [`crate::auth`] (who) → rate limit → [`Scope`] (which prefix,
//! which actions) → scoped STS credentials from the cache → signer
//! ([`crate::oss`]) → JSON response.
//!
//! Where things are: [`routes`] is the one table of paths, methods, body
//! limits and rate budgets; [`admission`] is the shared path up to a
//! [`Scope`]; `broker` turns a scope into scoped STS credentials; then one
//! file of plain handler functions per route family (`sts`, `post_policy`,
//! `presign`, [`multipart`], `uppy`, `legacy`, `status`, [`page`],
//! `service`). [`openapi`] describes them all in one OpenAPI document.
//! [`App`] is state only.
//!
//! URLs and POST policies are signed with the **upload role's scoped STS
//! credentials**, never with the function's own identity: scoped to the
//! caller's prefix where the caller receives the secret (`/v1/sts`), to the
//! profile's prefix where the secret never leaves the function (every
//! signing route, the multipart steps, the upload status), so the number of
//! AssumeRole calls does not grow with users. A leaked URL or policy allows
//! the one request it was signed for: it carries the AccessKeyId and
//! SecurityToken, not the secret every other request needs (see `broker`).

pub mod admission;
mod broker;
pub mod cors;
pub mod error;
mod legacy;
pub mod multipart;
pub mod openapi;
pub mod page;
pub mod params;
mod post_policy;
mod presign;
pub mod ratelimit;
mod response;
pub mod routes;
mod service;
mod status;
mod sts;
mod uppy;

pub use admission::{Access, Purpose, Scope, PROMISED_LIFETIME};

use crate::auth::Authenticator;
use crate::config::Config;
use crate::oss::client::OssClient;
use crate::oss::endpoint::Endpoint;
use crate::profiles::{Profiles, UploadMethod};
use crate::runtime::{Context, Request, Response};
use crate::sts::cache::{refresh_jitter, refresh_margin, CacheConfig, CredentialCache};
use crate::sts::client::StsClient;
use admission::{admit, ProfileChoice};
use broker::SigningKeys;
use cors::{Cors, Verdict};
use error::{ApiError, ErrorCode, ErrorShape};
use http::{HeaderValue, Method};
use ratelimit::RateLimiter;
use response::with_no_store;
use routes::{Captures, Handler, Operation, RouteSpec};
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
    /// The multipart steps' own budget ([`routes::Budget::Step`]).
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
            refresh_jitter: refresh_jitter(shortest_ttl),
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
        let Some((spec, captures)) = routes::lookup(path) else {
            return with_no_store(
                ApiError::new(
                    ErrorCode::NotFound,
                    format!("no route {path:?}; see /v1/sts, /v1/post-policy, /v1/presign"),
                )
                .to_response(routes::not_found_shape(path)),
            );
        };
        if spec.legacy && !self.config.legacy_routes {
            return with_no_store(
                ApiError::new(
                    ErrorCode::NotFound,
                    format!("{path:?} is a route for Alibaba's sample clients and is off; set LEGACY_ROUTES=true to serve it, or use /v1/sts, /v1/post-policy, /v1/presign"),
                )
                .to_response(ErrorShape::Plain),
            );
        }
        let verdict = self.cors.check(req.headers());
        if req.method() == Method::OPTIONS {
            return self.cors.preflight(req.headers(), &spec.allow());
        }
        let shape = spec.error_shape();
        let mut resp = match spec.operation(req.method()) {
            None => {
                let allow = spec.allow();
                let mut r = ApiError::new(
                    ErrorCode::MethodNotAllowed,
                    format!("{} is not allowed here; use {allow}", req.method()),
                )
                .to_response(shape);
                if let Ok(v) = HeaderValue::from_str(&allow) {
                    r.headers_mut().insert(http::header::ALLOW, v);
                }
                r
            }
            Some(_) if verdict == Verdict::Refused && spec.is_credential_route() => ApiError::new(
                ErrorCode::OriginNotAllowed,
                "this origin is not in ALLOWED_ORIGINS",
            )
            .to_response(ErrorShape::Plain),
            Some(op) => match self
                .route_within_deadline(spec, op, captures, &req, &ctx)
                .await
            {
                Ok(r) => r,
                Err(e) => {
                    if e.status() >= 500 {
                        crate::log::warn(
                            Some(&ctx.request_id),
                            "request failed",
                            &[
                                ("code", e.code().as_str().into()),
                                ("status", e.status().into()),
                                ("detail", e.message.clone().into()),
                            ],
                        );
                    }
                    e.to_response(shape)
                }
            },
        };
        self.cors.decorate(&verdict, &mut resp);
        with_no_store(resp)
    }

    /// [`App::route`], cut at the handler's
    /// [`deadline`](routes::Handler::deadline) so that every route answers
    /// JSON inside the deployed function timeout instead of being killed by
    /// FC.
    async fn route_within_deadline(
        &self,
        spec: &RouteSpec,
        op: &Operation,
        captures: Captures<'_>,
        req: &Request,
        ctx: &Context,
    ) -> Result<Response, ApiError> {
        let limit = op
            .handler
            .deadline(Duration::from_millis(self.config.sts_timeout_ms));
        match tokio::time::timeout(limit, self.route(spec, op, captures, req, ctx)).await {
            Ok(done) => done,
            // STS waits end on their own (STS_TIMEOUT_MS) before the
            // deadline, so what ran out is the OSS budget.
            Err(_) => Err(ApiError::new(
                if op.handler.oss_budget().is_zero() {
                    ErrorCode::StsTimeout
                } else {
                    ErrorCode::OssTimeout
                },
                format!(
                    "the request did not finish within {} s; OSS may still finish what it was asked: retry",
                    limit.as_secs()
                ),
            )),
        }
    }

    /// Reads the request's input, admits it (profile, authentication,
    /// the operation's rate budget) and runs the operation's handler.
    async fn route(
        &self,
        spec: &RouteSpec,
        op: &Operation,
        captures: Captures<'_>,
        req: &Request,
        ctx: &Context,
    ) -> Result<Response, ApiError> {
        let legacy = spec.legacy;
        match op.handler {
            Handler::Page => Ok(page::index()),
            Handler::Client => Ok(page::client()),
            #[cfg(feature = "local")]
            Handler::AliOss => Ok(page::ali_oss()),
            Handler::Healthz => Ok(service::healthz()),
            Handler::Initialize => service::initialize(self, ctx).await,
            Handler::PublicConfig => Ok(service::public_config(self)),
            Handler::OpenApi => Ok(openapi::served(self.config.legacy_routes)),
            Handler::Sts => {
                let p = params::parse(req)?;
                let choice = ProfileChoice::Named(p.profile.as_deref());
                let purpose = Purpose::Upload(UploadMethod::Sts);
                let scope = admit(self, req, ctx, choice, purpose, op.budget).await?;
                sts::sts(self, ctx, &scope, legacy).await
            }
            Handler::PostPolicy => {
                let p = params::parse(req)?;
                let choice = ProfileChoice::Named(p.profile.as_deref());
                let purpose = Purpose::Upload(UploadMethod::PostPolicy);
                let scope = admit(self, req, ctx, choice, purpose, op.budget).await?;
                post_policy::post_policy_route(self, ctx, &scope, &p.into_upload(), legacy).await
            }
            Handler::Presign => {
                let p = presign::PresignRequest::from(params::parse(req)?);
                let (choice, purpose) = p.admission();
                let scope = admit(self, req, ctx, choice, purpose, op.budget).await?;
                presign::presign(self, ctx, &scope, p, legacy).await
            }
            Handler::UploadStatus => {
                let p = params::parse(req)?;
                // Like a read-back, the key names the profile it is in.
                let choice = ProfileChoice::named_or_key(p.profile.as_deref(), p.key.as_deref());
                let scope = admit(self, req, ctx, choice, Purpose::ReadBack, op.budget).await?;
                status::upload_status(self, ctx, &scope, p.key.as_deref()).await
            }
            Handler::MultipartCreate
            | Handler::MultipartSign
            | Handler::MultipartParts
            | Handler::MultipartComplete
            | Handler::MultipartAbort => multipart::serve(self, op, req, ctx).await,
            Handler::UppyParams
            | Handler::UppyCreate
            | Handler::UppySign
            | Handler::UppyList
            | Handler::UppyComplete
            | Handler::UppyAbort => uppy::serve(self, op, captures, req, ctx).await,
        }
    }
}

/// The runtime handler for `app`: every request goes to [`App::handle`].
pub fn handler(app: Arc<App>) -> impl crate::runtime::Handler {
    crate::runtime::service_fn(move |req, ctx| {
        let app = app.clone();
        async move { app.handle(req, ctx).await }
    })
}
