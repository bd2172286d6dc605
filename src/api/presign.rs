//! `/v1/presign` (and the sample clients' presign route): one presigned URL,
//! a PUT bound to the declared type and (V4) size, or a GET of one's own
//! upload.

use super::admission::{Access, ProfileChoice, Purpose, Scope};
use super::broker::{signing, Signing};
use super::error::ApiError;
use super::params::{Params, UploadInput};
use super::response::{iso_seconds, json_body, text_body, Pairs};
use super::App;
use crate::config::SignatureVersion;
use crate::profiles::keys;
use crate::profiles::UploadMethod;
use crate::runtime::{Context, Response};
use alibaba_sign::Credentials;
use alibaba_sign::{oss_v1 as v1, oss_v4 as v4, PresignInput};

/// The method a presigned URL is for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum PresignMethod {
    /// A presigned upload (the default).
    Put,
    /// Reading back one's own upload.
    Get,
    /// Anything else, as sent (refused after admission).
    Other(String),
}

/// What `/v1/presign` takes.
#[derive(Clone, Debug)]
pub(super) struct PresignRequest {
    /// PUT or GET.
    pub method: PresignMethod,
    /// The upload, for a PUT.
    pub upload: UploadInput,
    /// The object, for a GET.
    pub key: Option<String>,
    /// The profile named, if any.
    pub profile: Option<String>,
}

impl From<Params> for PresignRequest {
    fn from(p: Params) -> Self {
        let method = match p.method.as_deref().map(str::to_ascii_uppercase) {
            None => PresignMethod::Put,
            Some(m) if m == "PUT" => PresignMethod::Put,
            Some(m) if m == "GET" => PresignMethod::Get,
            Some(m) => PresignMethod::Other(m),
        };
        PresignRequest {
            method,
            key: p.key.clone(),
            profile: p.profile.clone(),
            upload: p.into_upload(),
        }
    }
}

impl PresignRequest {
    /// Which profile and purpose to admit for: a PUT is a presigned upload
    /// in the named profile, a GET reads back one's own upload (in the
    /// profile named, else the one its key lies in).
    pub(super) fn admission(&self) -> (ProfileChoice<'_>, Purpose) {
        match self.method {
            PresignMethod::Get => (
                ProfileChoice::named_or_key(self.profile.as_deref(), self.key.as_deref()),
                Purpose::ReadBack,
            ),
            _ => (
                ProfileChoice::Named(self.profile.as_deref()),
                Purpose::Upload(UploadMethod::Presign),
            ),
        }
    }
}

/// One presigned URL in `scope`: a PUT bound to the declared type and (V4)
/// size, or a GET of one's own upload. `legacy` answers Alibaba's sample
/// client (the bare URL; `image/png` by default; size optional).
pub(super) async fn presign(
    app: &App,
    ctx: &Context,
    scope: &Scope,
    p: PresignRequest,
    legacy: bool,
) -> Result<Response, ApiError> {
    let (method, key, access, headers) = match &p.method {
        PresignMethod::Put => {
            let upload = &p.upload;
            if let Some(size) = upload.size {
                scope.profile.check_size(size)?;
            }
            // Alibaba's sample client always PUTs with image/png.
            let default = if legacy {
                "image/png"
            } else {
                "application/octet-stream"
            };
            let ct = scope
                .profile
                .content_type(upload.content_type.as_deref(), default)?;
            let key = if legacy {
                keys::build_key(
                    &scope.prefix,
                    &keys::random_id(),
                    upload.filename.as_deref(),
                )?
            } else {
                scope.new_upload_key(upload.filename.as_deref())?
            };
            if !legacy && upload.size.is_none() {
                return Err(ApiError::bad_param(
                    "size is required for a presigned PUT: the URL is bound to exactly that many bytes",
                ));
            }
            let mut headers = vec![("Content-Type".to_owned(), ct)];
            if !legacy && scope.forbids_overwrite() {
                headers.push(("x-oss-forbid-overwrite".to_owned(), "true".to_owned()));
            }
            ("PUT", key, Access::Upload, headers)
        }
        PresignMethod::Get => {
            let Some(key) = p.key.clone() else {
                return Err(ApiError::bad_param(
                    "method GET needs key: the object key returned when it was uploaded",
                ));
            };
            keys::check_owned_key(&scope.prefix, &key)?;
            ("GET", key, Access::Read, Vec::new())
        }
        PresignMethod::Other(other) => {
            return Err(ApiError::bad_param(format!(
                "method must be PUT or GET, got {:?}",
                other.chars().take(16).collect::<String>()
            )))
        }
    };
    let signing = signing(app, scope, access, ctx).await?;
    // V4 can sign Content-Length, binding the URL to the declared size so
    // MAX_UPLOAD_BYTES holds for presigned PUTs too. Browsers and curl set
    // the header themselves from the body, so it is signed but not listed
    // in the `headers` the client is told to send.
    let bound_size = if method == "PUT" { p.upload.size } else { None };
    let mut signed_headers = headers.clone();
    if let Some(size) = bound_size {
        signed_headers.push(("Content-Length".to_owned(), size.to_string()));
    }
    let input = PresignInput {
        method,
        bucket: &app.config.bucket,
        key: &key,
        headers: &signed_headers,
        query: &[],
    };
    let query = presign_query(
        app,
        signing.for_key(&key)?,
        &signing,
        &input,
        bound_size.is_some(),
    );
    let url = app.endpoint.object_url(&app.config.bucket, &key, &query);
    if legacy {
        return Ok(text_body(url));
    }
    Ok(json_body(
        200,
        &PresignBody {
            url: &url,
            method,
            headers: Pairs(&headers),
            key: &key,
            size: bound_size,
            expiration: iso_seconds(signing.expiration()),
        },
    ))
}

/// The query of a presigned URL for `input`, signed with `creds` (for
/// `signing`'s time and lifetime) in the configured version; `bind_length`
/// signs `Content-Length` too (V4 only).
fn presign_query(
    app: &App,
    creds: &Credentials,
    signing: &Signing,
    input: &PresignInput,
    bind_length: bool,
) -> Vec<(String, String)> {
    let region = &app.config.region;
    match app.config.signature_version {
        SignatureVersion::V4 => {
            let bind_length: Vec<String> = if bind_length {
                vec!["content-length".to_owned()]
            } else {
                Vec::new()
            };
            v4::presign_with_signing_key(
                creds,
                region,
                input,
                &bind_length,
                signing.now,
                signing.lifetime,
                |date| app.signing_keys.get(creds, date, region),
            )
        }
        SignatureVersion::V1 => v1::presign(
            creds,
            input,
            signing.now.timestamp() + signing.lifetime as i64,
        ),
    }
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
