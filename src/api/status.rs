//! `GET /v1/uploads/status?key=`: what the upload check (see
//! [`crate::check`]) decided about one of the caller's uploads, read from
//! the object's tags, then bound to the object there now: HeadObject with
//! `If-Match` the ETag the verdict judged (`upload-etag`). The credentials
//! may read tags and object metadata (`oss:GetObjectTagging`, and
//! `oss:GetObject`, which HeadObject needs) on the caller's prefix, and
//! never leave the function.
//!
//! - `pending`: the object is there and its current version is not checked
//!   yet (no verdict, or a verdict on another version: overwritten since);
//! - `verified` / `rejected` (with the reason while a rejected object is
//!   still being removed): the verdict on exactly the bytes there now;
//! - `missing`: no object at that key: not uploaded (yet), or rejected and
//!   removed.

use super::admission::{Access, Scope};
use super::broker::profile_credentials;
use super::error::{ApiError, ErrorCode, OssCall};
use super::response::json_body;
use super::App;
use crate::check::Verdict;
use crate::oss::calls;
use crate::oss::client::{OssError, OssRequest};
use crate::profiles::keys;
use crate::runtime::{Context, Response};
use chrono::Utc;
use serde_json::json;

/// The verdict on the upload at `key` (which must lie in `scope`).
pub(super) async fn upload_status(
    app: &App,
    ctx: &Context,
    scope: &Scope,
    key: Option<&str>,
) -> Result<Response, ApiError> {
    let Some(key) = key else {
        return Err(ApiError::bad_param(
            "key is required: the object key your upload went to",
        ));
    };
    keys::check_owned_key(&scope.prefix, key)?;
    let creds = profile_credentials(app, scope, Access::Status, ctx, Utc::now()).await?;
    let req = OssRequest::new("GET", &app.config.bucket, key).query("tagging", "");
    let tags = match app.oss.send(creds.for_key(key)?, req).await {
        Ok(r) => crate::oss::tagging::parse_tags(&r.body).map_err(|e| {
            ApiError::new(
                ErrorCode::OssBadResponse,
                format!("unreadable tag set from OSS: {e}"),
            )
        })?,
        Err(OssError::Service { status: 404, .. }) => return Ok(missing(key)),
        Err(e) => return Err(ApiError::from_oss(OssCall::GetObjectTagging, e)),
    };
    // Tags first, then the version: a verdict read for one version and
    // compared with the ETag of whatever is there afterwards never vouches
    // for bytes it did not judge.
    let mut verdict = Verdict::from_tags(&tags);
    if let Some(etag) = verdict.as_ref().and_then(|v| v.etag.clone()) {
        let c = creds.for_key(key)?;
        match calls::head_object(&app.oss, c, &app.config.bucket, key, &etag).await {
            Ok(_) => {}
            Err(OssError::Service { status: 412, .. }) => verdict = None,
            Err(OssError::Service { status: 404, .. }) => return Ok(missing(key)),
            Err(e) => return Err(ApiError::from_oss(OssCall::HeadObject, e)),
        }
    } else {
        // Written before verdicts named their version: bound to none.
        verdict = None;
    }
    let status = verdict.as_ref().map_or("pending", |v| v.status.as_str());
    let mut body = json!({"key": key, "status": status});
    if let Some(reason) = verdict
        .and_then(|v| v.reason)
        .filter(|_| status == "rejected")
    {
        body["reason"] = reason.into();
    }
    Ok(json_body(200, &body))
}

fn missing(key: &str) -> Response {
    json_body(
        200,
        &json!({"key": key, "status": "missing",
                "message": "no object at this key: not uploaded yet, or rejected and removed"}),
    )
}
