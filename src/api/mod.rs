//! Routes and JSON shapes.
//!
//! Every credential route runs the same pipeline, in one direction:
//! request → [`crate::auth`] (who) → rate limit → [`Scope`] (which prefix,
//! which actions) → scoped STS credentials from the cache → signer
//! ([`crate::oss`]) → JSON response.
//!
//! URLs and POST policies are signed with the **upload role's scoped STS
//! credentials**, never with the function's own identity, so even a leaked
//! URL or policy carries no more than the session policy allows.

pub mod cors;
pub mod error;
pub mod keys;
pub mod page;
pub mod params;
pub mod ratelimit;

use crate::auth::{Authenticator, Caller};
use crate::config::{AuthMode, Config, SignatureVersion};
use crate::credentials::Credentials;
use crate::oss::endpoint::Endpoint;
use crate::oss::post_policy::{self, Condition};
use crate::oss::{v1, v4, PresignInput};
use crate::runtime::{Context, Request, Response};
use crate::sts::cache::{CacheConfig, CredentialCache};
use crate::sts::client::{AssumeRoleRequest, AssumedRole, StsClient, StsClientConfig, StsError};
use bytes::Bytes;
use chrono::{DateTime, Utc};
use cors::{Cors, Verdict};
use error::ApiError;
use http::{HeaderValue, Method};
use params::Params;
use ratelimit::RateLimiter;
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Duration;

/// The routes this function answers, after path matching.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Route {
    Page,
    Healthz,
    Initialize,
    PublicConfig,
    Sts { legacy: bool },
    PostPolicy { legacy: bool },
    Presign { legacy: bool },
}

impl Route {
    fn from_path(path: &str) -> Option<Route> {
        Some(match path {
            "/" | "/index.html" => Route::Page,
            "/healthz" => Route::Healthz,
            "/initialize" => Route::Initialize,
            "/v1/config" => Route::PublicConfig,
            "/v1/sts" => Route::Sts { legacy: false },
            "/get_sts_token" | "/get_sts_token_for_oss_upload" => Route::Sts { legacy: true },
            "/v1/post-policy" => Route::PostPolicy { legacy: false },
            "/get_post_signature_for_oss_upload" => Route::PostPolicy { legacy: true },
            "/v1/presign" => Route::Presign { legacy: false },
            "/get_presigned_url_for_oss_upload" => Route::Presign { legacy: true },
            _ => return None,
        })
    }

    fn methods(self) -> &'static [Method] {
        match self {
            Route::Page | Route::Healthz | Route::PublicConfig => &[Method::GET, Method::HEAD],
            Route::Initialize => &[Method::POST],
            _ => &[Method::GET, Method::POST],
        }
    }

    /// The routes Alibaba's sample clients call (served only with `LEGACY_ROUTES=true`).
    fn is_legacy(self) -> bool {
        matches!(
            self,
            Route::Sts { legacy: true }
                | Route::PostPolicy { legacy: true }
                | Route::Presign { legacy: true }
        )
    }

    /// Routes that hand out credentials: authenticated, rate-limited, never cached.
    fn is_credential_route(self) -> bool {
        matches!(
            self,
            Route::Sts { .. } | Route::PostPolicy { .. } | Route::Presign { .. }
        )
    }
}

/// What a set of scoped credentials may do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// `oss:PutObject`, `oss:ListParts`, `oss:AbortMultipartUpload`: an upload, nothing else.
    Upload,
    /// `oss:GetObject`: reading back one's own uploads (presigned GET).
    Read,
}

impl Access {
    /// The RAM actions the session policy grants.
    pub fn actions(self) -> &'static [&'static str] {
        match self {
            Access::Upload => &crate::sts::policy::UPLOAD_ACTIONS,
            Access::Read => &["oss:GetObject"],
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            Access::Upload => "upload",
            Access::Read => "read",
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

/// The application: configuration plus the long-lived clients and caches
/// every request shares.
pub struct App {
    config: Config,
    endpoint: Endpoint,
    sts: StsClient,
    cache: CredentialCache,
    auth: Authenticator,
    cors: Cors,
    limiter: RateLimiter,
    signing_keys: SigningKeys,
}

/// V4 signing keys derived once per credentials and day rather than per URL
/// (four chained HMACs each). Secret material: memory only, never logged.
#[derive(Default)]
struct SigningKeys(std::sync::Mutex<std::collections::HashMap<(String, String), [u8; 32]>>);

impl SigningKeys {
    /// Scopes times days a cache can usefully hold; past it, start over.
    const MAX: usize = 4096;

    fn get(&self, creds: &Credentials, date: &str, region: &str) -> [u8; 32] {
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

/// The least life credentials from `/v1/sts` have, and the least the
/// credentials that sign a URL or policy have: 6 minutes, since the mobile
/// SDKs refresh when 5 remain. STS answers with less are refused (502
/// `StsCredentialsTooShortLived`) rather than handed out.
pub const PROMISED_LIFETIME: Duration = Duration::from_secs(360);

/// How early cached STS credentials are refreshed: at least 6 minutes before
/// they expire (the mobile SDKs refresh at 5), or half their lifetime if longer.
pub fn refresh_margin(token_ttl_secs: u64) -> Duration {
    Duration::from_secs((token_ttl_secs / 2).max(360))
}

impl App {
    /// Builds the application from a validated configuration; fails if the
    /// endpoints or authentication keys cannot be used.
    pub fn new(config: Config) -> Result<App, String> {
        let endpoint =
            Endpoint::parse(&config.oss_endpoint).map_err(|e| format!("OSS_ENDPOINT: {e}"))?;
        let mut sts_cfg = StsClientConfig::new(config.sts_endpoint.clone());
        sts_cfg.request_timeout = Duration::from_millis(config.sts_timeout_ms);
        sts_cfg.connect_timeout = Duration::from_millis(config.sts_timeout_ms.min(3000));
        let sts = StsClient::new(sts_cfg).map_err(|e| format!("STS_ENDPOINT: {e}"))?;
        let cache = CredentialCache::new(CacheConfig {
            max_entries: config.credential_cache_size,
            refresh_margin: refresh_margin(config.token_ttl_secs),
        })
        // Never hand out or sign with less than the promised life, and
        // answer every request within the STS timeout.
        .with_min_remaining(PROMISED_LIFETIME)
        .with_wait_limit(Duration::from_millis(config.sts_timeout_ms));
        let auth = Authenticator::from_config(&config.auth)?;
        let cors = Cors::new(&config.allowed_origins);
        let limiter = RateLimiter::new(config.rate_limit_per_minute, 100_000);
        Ok(App {
            config,
            endpoint,
            sts,
            cache,
            auth,
            cors,
            limiter,
            signing_keys: SigningKeys::default(),
        })
    }

    /// The configuration this app runs with.
    pub fn config(&self) -> &Config {
        &self.config
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
        // Android/iOS credential providers read StatusCode/ErrorCode on failure.
        let legacy_sts = matches!(route, Route::Sts { .. });
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
            .to_response(legacy_sts);
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
                    e.to_response(legacy_sts)
                }
            }
        };
        self.cors.decorate(&verdict, &mut resp);
        with_no_store(resp)
    }

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
                let scope = self.admit(req, ctx)?;
                let _params = params::parse(req)?;
                self.sts_token(&scope, ctx, legacy).await
            }
            Route::PostPolicy { legacy } => {
                let scope = self.admit(req, ctx)?;
                let params = params::parse(req)?;
                self.post_policy(&scope, ctx, &params, legacy).await
            }
            Route::Presign { legacy } => {
                let scope = self.admit(req, ctx)?;
                let params = params::parse(req)?;
                self.presign(&scope, ctx, &params, legacy).await
            }
        }
    }

    /// Authentication, then the caller's scope, then the rate limit.
    fn admit(&self, req: &Request, ctx: &Context) -> Result<Scope, ApiError> {
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
    async fn scoped_credentials(
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

    async fn sts_token(
        &self,
        scope: &Scope,
        ctx: &Context,
        legacy: bool,
    ) -> Result<Response, ApiError> {
        let creds = self
            .scoped_credentials(scope, Access::Upload, ctx, Utc::now())
            .await?;
        let c = &creds.credentials;
        let body = StsBody {
            status_code: 200,
            access_key_id: &c.access_key_id,
            access_key_secret: &c.access_key_secret,
            security_token: c.security_token.as_deref().unwrap_or_default(),
            expiration: iso_seconds(creds.expiration),
            bucket: (!legacy).then_some(self.config.bucket.as_str()),
            region: (!legacy).then_some(self.config.region.as_str()),
            endpoint: (!legacy).then_some(self.endpoint.as_str()),
            prefix: (!legacy).then_some(scope.prefix.as_str()),
        };
        Ok(json_body(200, &body))
    }

    /// How long a URL or policy signed now may live: `URL_TTL_SECONDS`, but
    /// never past the signing credentials' expiry.
    fn signed_lifetime(&self, creds: &AssumedRole, now: DateTime<Utc>) -> Result<u64, ApiError> {
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

    /// The declared content type, checked against `ALLOWED_CONTENT_TYPES` and
    /// normalised to its essence (`Image/PNG; x=y` → `image/png`).
    fn content_type(&self, params: &Params, default: &str) -> Result<String, ApiError> {
        let ct = params
            .content_type
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .unwrap_or(default);
        let essence = ct
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        if ct.chars().any(|c| c.is_control()) || !essence.contains('/') {
            return Err(ApiError::bad_param(format!(
                "contentType {:?} is not a media type such as image/png",
                ct.chars().take(64).collect::<String>()
            )));
        }
        if !self.config.content_type_allowed(&essence) {
            return Err(ApiError::new(
                400,
                "ContentTypeNotAllowed",
                format!(
                    "contentType {essence:?} is not allowed; allowed: {}",
                    self.config.allowed_content_types.join(", ")
                ),
            ));
        }
        // Signed and pinned in its normal form (lowercase, no parameters), so
        // the Content-Type a client sends matches the policy's `in` list.
        Ok(essence)
    }

    fn check_size(&self, params: &Params) -> Result<(), ApiError> {
        match params.size {
            Some(0) => Err(ApiError::bad_param("size must be at least 1 byte")),
            Some(n) if n > self.config.max_upload_bytes => Err(ApiError::new(
                400,
                "FileTooLarge",
                format!(
                    "size {n} is over the limit of {} bytes",
                    self.config.max_upload_bytes
                ),
            )),
            _ => Ok(()),
        }
    }

    async fn post_policy(
        &self,
        scope: &Scope,
        ctx: &Context,
        params: &Params,
        legacy: bool,
    ) -> Result<Response, ApiError> {
        self.check_size(params)?;
        // /v1/post-policy always sends a Content-Type field, so its `in
        // $content-type` condition can be met; Alibaba's sample client sends
        // none, so the legacy route pins a type only when one is asked for.
        let content_type = match (&params.content_type, legacy) {
            (Some(_), _) | (None, false) => {
                Some(self.content_type(params, "application/octet-stream")?)
            }
            (None, true) => None,
        };
        let id = keys::random_id();
        let key = keys::build_key(&scope.prefix, &id, params.filename.as_deref())?;
        let now = Utc::now();
        let creds = self
            .scoped_credentials(scope, Access::Upload, ctx, now)
            .await?;
        let lifetime = self.signed_lifetime(&creds, now)?;
        let expiration = now + chrono::Duration::seconds(lifetime as i64);

        // The legacy sample client appends `dir + filename` as the key and
        // sends only success_action_status besides the signature fields.
        let dir = format!("{}{}/", scope.prefix, id);
        let mut conditions = vec![
            Condition::StartsWith(
                "key".into(),
                if legacy {
                    dir.clone()
                } else {
                    scope.prefix.clone()
                },
            ),
            Condition::ContentLengthRange(1, self.config.max_upload_bytes),
            Condition::Exact("success_action_status".into(), "200".into()),
        ];
        let mut extra = vec![("success_action_status".to_owned(), "200".to_owned())];
        if !legacy {
            conditions.push(Condition::Exact(
                "x-oss-forbid-overwrite".into(),
                "true".into(),
            ));
            extra.push(("x-oss-forbid-overwrite".to_owned(), "true".to_owned()));
        }
        if let Some(ct) = &content_type {
            extra.push(("Content-Type".to_owned(), ct.clone()));
        }
        if !self.config.any_content_type() && content_type.is_some() {
            conditions.push(Condition::In(
                "content-type".into(),
                self.config.allowed_content_types.clone(),
            ));
        }
        let c = &creds.credentials;
        let form = match self.config.signature_version {
            SignatureVersion::V4 => post_policy::post_form_v4(
                c,
                &self.config.region,
                &self.config.bucket,
                &key,
                conditions,
                now,
                expiration,
                &extra,
            ),
            SignatureVersion::V1 => post_policy::post_form_v1(
                c,
                &self.config.bucket,
                &key,
                conditions,
                expiration,
                &extra,
            ),
        };
        let url = self.endpoint.bucket_url(&self.config.bucket);
        if legacy {
            return Ok(json_body(200, &legacy_post_body(&form, &url, &dir, c)));
        }
        Ok(json_body(
            200,
            &PostPolicyBody {
                url: &url,
                key: &key,
                fields: Pairs(&form.fields),
                expiration: iso_seconds(form.expiration),
                max_bytes: self.config.max_upload_bytes,
            },
        ))
    }

    async fn presign(
        &self,
        scope: &Scope,
        ctx: &Context,
        params: &Params,
        legacy: bool,
    ) -> Result<Response, ApiError> {
        let method = params
            .method
            .as_deref()
            .unwrap_or("PUT")
            .to_ascii_uppercase();
        let (key, access, headers) = match method.as_str() {
            "PUT" => {
                self.check_size(params)?;
                // Alibaba's sample client always PUTs with image/png.
                let ct = self.content_type(
                    params,
                    if legacy {
                        "image/png"
                    } else {
                        "application/octet-stream"
                    },
                )?;
                let key = keys::build_key(
                    &scope.prefix,
                    &keys::random_id(),
                    params.filename.as_deref(),
                )?;
                if !legacy && params.size.is_none() {
                    return Err(ApiError::bad_param(
                        "size is required for a presigned PUT: the URL is bound to exactly that many bytes",
                    ));
                }
                let mut headers = vec![("Content-Type".to_owned(), ct)];
                if !legacy {
                    headers.push(("x-oss-forbid-overwrite".to_owned(), "true".to_owned()));
                }
                (key, Access::Upload, headers)
            }
            "GET" => {
                let Some(key) = params.key.clone() else {
                    return Err(ApiError::bad_param(
                        "method GET needs key: the object key returned when it was uploaded",
                    ));
                };
                keys::check_owned_key(&scope.prefix, &key)?;
                (key, Access::Read, Vec::new())
            }
            other => {
                return Err(ApiError::bad_param(format!(
                    "method must be PUT or GET, got {:?}",
                    other.chars().take(16).collect::<String>()
                )))
            }
        };
        let now = Utc::now();
        let creds = self.scoped_credentials(scope, access, ctx, now).await?;
        let lifetime = self.signed_lifetime(&creds, now)?;
        // V4 can sign Content-Length, binding the URL to the declared size so
        // MAX_UPLOAD_BYTES holds for presigned PUTs too. Browsers and curl set
        // the header themselves from the body, so it is signed but not listed
        // in the `headers` the client is told to send.
        let bound_size = if method == "PUT" { params.size } else { None };
        let mut signed_headers = headers.clone();
        if let Some(size) = bound_size {
            signed_headers.push(("Content-Length".to_owned(), size.to_string()));
        }
        let input = PresignInput {
            method: &method,
            bucket: &self.config.bucket,
            key: &key,
            headers: &signed_headers,
            query: &[],
        };
        let query = self.presign_query(
            &creds.credentials,
            &input,
            bound_size.is_some(),
            now,
            lifetime,
        );
        let url = self.endpoint.object_url(&self.config.bucket, &key, &query);
        if legacy {
            let mut resp = http::Response::new(Bytes::from(url));
            resp.headers_mut().insert(
                http::header::CONTENT_TYPE,
                HeaderValue::from_static("text/plain; charset=utf-8"),
            );
            return Ok(resp);
        }
        Ok(json_body(
            200,
            &PresignBody {
                url: &url,
                method: &method,
                headers: Pairs(&headers),
                key: &key,
                size: bound_size,
                expiration: iso_seconds(now + chrono::Duration::seconds(lifetime as i64)),
            },
        ))
    }

    fn presign_query(
        &self,
        creds: &Credentials,
        input: &PresignInput,
        bind_length: bool,
        now: DateTime<Utc>,
        lifetime: u64,
    ) -> Vec<(String, String)> {
        match self.config.signature_version {
            SignatureVersion::V4 => {
                let bind_length: Vec<String> = if bind_length {
                    vec!["content-length".to_owned()]
                } else {
                    Vec::new()
                };
                v4::presign_with_signing_key(
                    creds,
                    &self.config.region,
                    input,
                    &bind_length,
                    now,
                    lifetime,
                    |date| self.signing_keys.get(creds, date, &self.config.region),
                )
            }
            SignatureVersion::V1 => v1::presign(creds, input, now.timestamp() + lifetime as i64),
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
        })
    }
}

/// The JSON Alibaba's POST-signature sample clients read.
fn legacy_post_body(
    form: &post_policy::PostForm,
    url: &str,
    dir: &str,
    creds: &Credentials,
) -> Value {
    let field = |name: &str| {
        form.fields
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    let mut body = serde_json::Map::new();
    body.insert("host".into(), url.into());
    body.insert("dir".into(), dir.into());
    body.insert("policy".into(), field("policy").into());
    if form.fields.iter().any(|(k, _)| k == "x-oss-signature") {
        body.insert(
            "x_oss_signature_version".into(),
            field("x-oss-signature-version").into(),
        );
        body.insert("x_oss_credential".into(), field("x-oss-credential").into());
        body.insert("x_oss_date".into(), field("x-oss-date").into());
        body.insert("signature".into(), field("x-oss-signature").into());
    } else {
        body.insert("ossAccessKeyId".into(), creds.access_key_id.clone().into());
        body.insert("signature".into(), field("Signature").into());
    }
    body.insert(
        "security_token".into(),
        creds.security_token.clone().unwrap_or_default().into(),
    );
    body.insert("expire".into(), form.expiration.timestamp().into());
    Value::Object(body)
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

/// `[(k, v)]` serialised as a JSON object of strings, in order (form fields
/// must be sent in the order given).
struct Pairs<'a>(&'a [(String, String)]);

impl serde::Serialize for Pairs<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_map(self.0.iter().map(|(k, v)| (k, v)))
    }
}

/// `/v1/sts` and the sample-client STS routes: the shape the mobile SDKs'
/// `OSSAuthCredentialsProvider` and ali-oss `refreshSTSToken` read.
#[derive(serde::Serialize)]
#[serde(rename_all = "PascalCase")]
struct StsBody<'a> {
    status_code: u16,
    access_key_id: &'a str,
    access_key_secret: &'a str,
    security_token: &'a str,
    expiration: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    bucket: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    region: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    endpoint: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    prefix: Option<&'a str>,
}

/// `/v1/post-policy`.
#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct PostPolicyBody<'a> {
    url: &'a str,
    key: &'a str,
    fields: Pairs<'a>,
    expiration: String,
    max_bytes: u64,
}

/// `/v1/presign`.
#[derive(serde::Serialize)]
struct PresignBody<'a> {
    url: &'a str,
    method: &'a str,
    headers: Pairs<'a>,
    key: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    size: Option<u64>,
    expiration: String,
}

/// A JSON response serialised straight from a typed body.
fn json_body<T: serde::Serialize>(status: u16, body: &T) -> Response {
    match serde_json::to_vec(body) {
        Ok(bytes) => {
            let mut resp = http::Response::new(Bytes::from(bytes));
            *resp.status_mut() = http::StatusCode::from_u16(status).unwrap_or(http::StatusCode::OK);
            resp.headers_mut().insert(
                http::header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            resp
        }
        Err(_) => {
            ApiError::new(500, "InternalError", "could not encode the response").to_response(false)
        }
    }
}

/// `YYYY-MM-DDTHH:MM:SSZ`, the form STS uses and the mobile SDKs parse.
fn iso_seconds(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// The runtime handler for `app`: every request goes to [`App::handle`].
pub fn handler(app: Arc<App>) -> impl crate::runtime::Handler {
    crate::runtime::service_fn(move |req, ctx| {
        let app = app.clone();
        async move { app.handle(req, ctx).await }
    })
}

/// Credentials must never sit in a shared cache.
fn with_no_store(mut resp: Response) -> Response {
    resp.headers_mut()
        .entry(http::header::CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_match_paths() {
        assert_eq!(
            Route::from_path("/v1/sts"),
            Some(Route::Sts { legacy: false })
        );
        assert_eq!(
            Route::from_path("/get_sts_token"),
            Some(Route::Sts { legacy: true })
        );
        assert_eq!(
            Route::from_path("/get_presigned_url_for_oss_upload"),
            Some(Route::Presign { legacy: true })
        );
        assert_eq!(Route::from_path("/v1/sts/"), None);
        assert_eq!(Route::from_path("/nope"), None);
    }

    #[test]
    fn refresh_margin_is_at_least_six_minutes() {
        assert_eq!(refresh_margin(900), Duration::from_secs(450));
        assert_eq!(refresh_margin(600), Duration::from_secs(360));
        assert_eq!(refresh_margin(3600), Duration::from_secs(1800));
        // The shortest margin still leaves a window where a token is served
        // while it is refreshed, above the promised floor.
        assert!(refresh_margin(900) > PROMISED_LIFETIME);
    }
}
