//! `/v1/post-policy` (and the sample clients' POST-signature route): a signed
//! browser form for one upload, with the limits written into the policy so
//! OSS itself refuses a form that breaks them.

use super::admission::{Access, Scope};
use super::error::ApiError;
use super::params::Params;
use super::response::{iso_seconds, json_body, Pairs};
use super::{keys, legacy, App};
use crate::config::SignatureVersion;
use crate::credentials::Credentials;
use crate::oss::post_policy::{self, Condition, PostForm};
use crate::runtime::{Context, Response};
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
        self.check_size(profile, params)?;
        // /v1/post-policy always sends a Content-Type field, so its `in
        // $content-type` condition can be met; Alibaba's sample client sends
        // none, so the legacy route pins a type only when one is asked for.
        let content_type = match (&params.content_type, legacy) {
            (Some(_), _) | (None, false) => {
                Some(self.content_type(profile, params, "application/octet-stream")?)
            }
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
        let lifetime = self.signed_lifetime(scope, &creds, now)?;
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
            Condition::ContentLengthRange(profile.min_bytes, profile.max_bytes),
            Condition::Exact("success_action_status".into(), "200".into()),
        ];
        let mut extra = vec![("success_action_status".to_owned(), "200".to_owned())];
        if !legacy && scope.forbids_overwrite() {
            conditions.push(Condition::Exact(
                "x-oss-forbid-overwrite".into(),
                "true".into(),
            ));
            extra.push(("x-oss-forbid-overwrite".to_owned(), "true".to_owned()));
        }
        if let Some(ct) = &content_type {
            extra.push(("Content-Type".to_owned(), ct.clone()));
        }
        if !profile.any_content_type() && content_type.is_some() {
            conditions.push(Condition::In(
                "content-type".into(),
                profile.content_types.clone(),
            ));
        }
        let c = &creds.credentials;
        let form = self.sign_post_form(c, &key, conditions, now, expiration, &extra);
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
