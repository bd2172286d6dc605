//! `/v1/sts` (and the sample clients' STS routes): scoped STS credentials
//! handed to the client, in the shape the mobile SDKs' credential providers
//! and ali-oss `refreshSTSToken` read.

use super::admission::{Access, Scope};
use super::broker::user_credentials;
use super::error::ApiError;
use super::response::{iso_seconds, json_body};
use super::App;
use crate::runtime::{Context, Response};
use chrono::Utc;

/// Scoped upload credentials for `scope`; `legacy` leaves out the fields
/// Alibaba's sample clients do not read.
pub(super) async fn sts(
    app: &App,
    ctx: &Context,
    scope: &Scope,
    legacy: bool,
) -> Result<Response, ApiError> {
    let creds = user_credentials(app, scope, Access::Upload, ctx, Utc::now()).await?;
    let c = &creds.credentials;
    let body = StsBody {
        status_code: 200,
        access_key_id: &c.access_key_id,
        access_key_secret: &c.access_key_secret,
        security_token: c.security_token.as_deref().unwrap_or_default(),
        expiration: iso_seconds(creds.expiration),
        bucket: (!legacy).then_some(app.config.bucket.as_str()),
        region: (!legacy).then_some(app.config.region.as_str()),
        endpoint: (!legacy).then_some(app.endpoint.as_str()),
        prefix: (!legacy).then_some(scope.prefix.as_str()),
    };
    Ok(json_body(200, &body))
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
