//! `/v1/post-policy` (and the sample clients' POST-signature route): a signed
//! browser form for one upload, with the limits written into the policy so
//! OSS itself refuses a form that breaks them.

use super::admission::{Access, Scope};
use super::error::ApiError;
use super::params::Params;
use super::response::{iso_seconds, json_body, Pairs};
use super::{legacy, App};
use crate::config::SignatureVersion;
use crate::profiles::keys;
use crate::profiles::Profile;
use crate::runtime::{Context, Response};
use alibaba_sign::post_policy::{self, Condition, PostForm};
use alibaba_sign::Credentials;
use chrono::{DateTime, Utc};

impl App {
    pub(super) async fn post_policy(
        &self,
        scope: &Scope,
        ctx: &Context,
        params: &Params,
        legacy: bool,
    ) -> Result<Response, ApiError> {
        let profile = &scope.profile;
        Self::check_size(profile, params)?;
        // /v1/post-policy always sends a Content-Type field, so its `in
        // $content-type` condition can be met; Alibaba's sample client sends
        // none, so the legacy route pins a type only when one is asked for.
        let content_type = match (&params.content_type, legacy) {
            (Some(_), _) | (None, false) => Some(Self::content_type(
                profile,
                params,
                "application/octet-stream",
            )?),
            (None, true) => None,
        };
        let id = keys::random_id();
        let key = if legacy {
            keys::build_key(&scope.prefix, &id, params.filename.as_deref())?
        } else {
            scope.new_upload_key(params.filename.as_deref())?
        };
        let now = Utc::now();
        let creds = self
            .scoped_credentials(scope, Access::Upload, ctx, now)
            .await?;
        let lifetime = Self::signed_lifetime(scope, &creds, now)?;
        let expiration = now + chrono::Duration::seconds(lifetime as i64);

        // The legacy sample client appends `dir + filename` as the key and
        // sends only success_action_status besides the signature fields.
        let dir = format!("{}{}/", scope.prefix, id);
        let c = &creds.credentials;
        let form = self.upload_post_form(
            c,
            &UploadForm {
                key: &key,
                profile,
                pin: if legacy {
                    KeyPin::StartsWith(&dir)
                } else {
                    KeyPin::Exact
                },
                content_type: content_type.as_deref(),
                forbid_overwrite: !legacy && scope.forbids_overwrite(),
            },
            now,
            expiration,
        );
        let url = self.endpoint.bucket_url(&self.config.bucket);
        if legacy {
            return Ok(json_body(200, &legacy::post_body(&form, &url, &dir, c)));
        }
        Ok(json_body(
            200,
            &PostPolicyBody {
                url: &url,
                key: &key,
                fields: Pairs(&form.fields),
                expiration: iso_seconds(form.expiration),
                max_bytes: profile.max_bytes,
            },
        ))
    }

    /// The one builder for upload POST policies (`/v1/post-policy`, the
    /// Uppy `/s3/params` route, the sample-client route): the key pinned as
    /// `form.pin` says, size within the profile's `min_bytes..=max_bytes`,
    /// `success_action_status` 200, `x-oss-forbid-overwrite` when asked, and
    /// the content type sent as a field and held to the profile's types.
    /// Fields come out in the order OSS wants (signature fields, then
    /// `success_action_status`, `x-oss-forbid-overwrite`, `Content-Type`).
    pub(super) fn upload_post_form(
        &self,
        creds: &Credentials,
        form: &UploadForm<'_>,
        now: DateTime<Utc>,
        expiration: DateTime<Utc>,
    ) -> PostForm {
        let key_condition = match form.pin {
            KeyPin::Exact => Condition::Eq("key".into(), form.key.into()),
            KeyPin::StartsWith(dir) => Condition::StartsWith("key".into(), dir.into()),
        };
        let mut conditions = vec![
            key_condition,
            Condition::ContentLengthRange(form.profile.min_bytes, form.profile.max_bytes),
            Condition::Exact("success_action_status".into(), "200".into()),
        ];
        let mut extra = vec![("success_action_status".to_owned(), "200".to_owned())];
        if form.forbid_overwrite {
            conditions.push(Condition::Exact(
                "x-oss-forbid-overwrite".into(),
                "true".into(),
            ));
            extra.push(("x-oss-forbid-overwrite".to_owned(), "true".to_owned()));
        }
        if let Some(ct) = form.content_type {
            extra.push(("Content-Type".to_owned(), ct.to_owned()));
            if !form.profile.any_content_type() {
                conditions.push(Condition::In(
                    "content-type".into(),
                    form.profile.content_types.clone(),
                ));
            }
        }
        self.sign_post_form(creds, form.key, conditions, now, expiration, &extra)
    }

    /// Signs a POST form for `key` with the configured signature version.
    pub(super) fn sign_post_form(
        &self,
        creds: &Credentials,
        key: &str,
        conditions: Vec<Condition>,
        now: DateTime<Utc>,
        expiration: DateTime<Utc>,
        extra: &[(String, String)],
    ) -> PostForm {
        match self.config.signature_version {
            SignatureVersion::V4 => post_policy::post_form_v4(
                creds,
                &self.config.region,
                &self.config.bucket,
                key,
                conditions,
                now,
                expiration,
                extra,
            ),
            SignatureVersion::V1 => post_policy::post_form_v1(
                creds,
                &self.config.bucket,
                key,
                conditions,
                expiration,
                extra,
            ),
        }
    }
}

/// How a POST policy holds the form's `key` field.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum KeyPin<'a> {
    /// `["eq", "$key", key]`: the form stores exactly the server-built key.
    /// Every route of the function's own uses this, so a client cannot swap
    /// in `../`, a line feed or a right-to-left override the filename
    /// cleaning refused.
    Exact,
    /// `["starts-with", "$key", dir]`: any key under `dir`. Only for
    /// Alibaba's sample client, which appends the file's name itself; looser
    /// (the client picks the rest of the key), as README's security model says.
    StartsWith(&'a str),
}

/// What an upload's POST policy says besides the signature.
#[derive(Clone, Debug)]
pub(super) struct UploadForm<'a> {
    /// The server-built key (`keys::build_key`).
    pub key: &'a str,
    /// The profile whose size range and types the policy holds.
    pub profile: &'a Profile,
    /// How the policy holds it.
    pub pin: KeyPin<'a>,
    /// Content type sent as a field; when set and the profile's types are
    /// not `*`, the policy requires one of the allowed types.
    pub content_type: Option<&'a str>,
    /// Send and require `x-oss-forbid-overwrite: true`.
    pub forbid_overwrite: bool,
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
