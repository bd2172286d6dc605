//! The routes that serve the function itself rather than an upload:
//! `/healthz`, `/v1/config` (public settings for the page) and the FC
//! initializer `/initialize`.

use super::admission::{scope_for, Access};
use super::broker::profile_credentials;
use super::error::ApiError;
use super::response::json_body;
use super::App;
use crate::auth::Caller;
use crate::config::AuthMode;
use crate::profiles::Overwrite;
use crate::runtime::{Context, Response};
use chrono::Utc;
use serde_json::{json, Value};

/// `GET /healthz`.
pub(super) fn healthz() -> Response {
    json_body(200, &json!({"status": "ok"}))
}

/// `GET /v1/config`: settings a browser page may see, nothing secret.
pub(super) fn public_config(app: &App) -> Response {
    json_body(200, &public_settings(app))
}

fn public_settings(app: &App) -> Value {
    let config = &app.config;
    json!({
        "bucket": config.bucket,
        "region": config.region,
        "endpoint": app.endpoint.as_str(),
        "prefix": config.upload_prefix,
        "maxUploadBytes": config.max_upload_bytes,
        "allowedContentTypes": config.allowed_content_types,
        "authMode": config.auth.name(),
        "signatureVersion": config.signature_version.as_str(),
        "urlTtlSeconds": config.url_ttl_secs,
        "aliOssScriptUrl": config.ali_oss_script_url,
        "profiles": app.profiles.iter().map(|p| json!({
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

/// `POST /initialize`: opens the STS connection and, where all callers
/// share one scope (anonymous mode), fetches its credentials now so the
/// first user request does not wait for them.
pub(super) async fn initialize(app: &App, ctx: &Context) -> Result<Response, ApiError> {
    app.sts.warm().await;
    if app.config.auth == AuthMode::Anonymous && ctx.credentials.is_some() {
        let scope = scope_for(
            app,
            &Caller { user_id: None },
            app.profiles.default_profile().clone(),
        )?;
        profile_credentials(app, &scope, Access::Upload, ctx, Utc::now()).await?;
    }
    Ok(json_body(200, &json!({"status": "initialized"})))
}
