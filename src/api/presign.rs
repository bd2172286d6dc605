//! `/v1/presign` (and the sample clients' presign route): one presigned URL,
//! a PUT bound to the declared type and (V4) size, or a GET of one's own
//! upload. Also holds the per-day V4 signing-key cache every presigner uses.

use super::admission::{Access, Purpose, Scope};
use super::error::ApiError;
use super::params::Params;
use super::response::{iso_seconds, json_body, text_body, Pairs};
use super::App;
use crate::config::SignatureVersion;
use crate::profiles::keys;
use crate::profiles::UploadMethod;
use crate::runtime::{Context, Response};
use alibaba_sign::Credentials;
use alibaba_sign::{oss_v1 as v1, oss_v4 as v4, PresignInput};
use chrono::{DateTime, Utc};

/// V4 signing keys derived once per credentials and day rather than per URL
/// (four chained HMACs each). Secret material: memory only, never logged.
#[derive(Default)]
pub(super) struct SigningKeys(
    std::sync::Mutex<std::collections::HashMap<(String, String), [u8; 32]>>,
);

impl SigningKeys {
    /// Scopes times days a cache can usefully hold; past it, start over.
    const MAX: usize = 4096;

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

/// What a presign request is for: a PUT is a presigned upload, a GET reads
/// back one's own upload.
pub(super) fn purpose(params: &Params) -> Purpose {
    match params.method.as_deref() {
        Some(m) if m.eq_ignore_ascii_case("GET") => Purpose::ReadBack,
        _ => Purpose::Upload(UploadMethod::Presign),
    }
}

impl App {
    pub(super) async fn presign(
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
                Self::check_size(&scope.profile, params)?;
                // Alibaba's sample client always PUTs with image/png.
                let ct = Self::content_type(
                    &scope.profile,
                    params,
                    if legacy {
                        "image/png"
                    } else {
                        "application/octet-stream"
                    },
                )?;
                let key = if legacy {
                    keys::build_key(
                        &scope.prefix,
                        &keys::random_id(),
                        params.filename.as_deref(),
                    )?
                } else {
                    scope.new_upload_key(params.filename.as_deref())?
                };
                if !legacy && params.size.is_none() {
                    return Err(ApiError::bad_param(
                        "size is required for a presigned PUT: the URL is bound to exactly that many bytes",
                    ));
                }
                let mut headers = vec![("Content-Type".to_owned(), ct)];
                if !legacy && scope.forbids_overwrite() {
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
        let lifetime = Self::signed_lifetime(scope, &creds, now)?;
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
            return Ok(text_body(url));
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

    /// The query of a presigned URL for `input`, signed with the configured
    /// version; `bind_length` signs `Content-Length` too (V4 only).
    pub(super) fn presign_query(
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
