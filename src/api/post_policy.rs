//! `/v1/post-policy` (and the sample clients' POST-signature route): a signed
//! browser form for one upload, with the limits written into the policy so
//! OSS itself refuses a form that breaks them.

use super::admission::{Access, Scope};
use super::broker::{signing, Signing};
use super::error::ApiError;
use super::params::UploadInput;
use super::response::{iso_seconds, json_body, Pairs};
use super::{legacy, App};
use crate::config::SignatureVersion;
use crate::profiles::keys;
use crate::profiles::Profile;
use crate::runtime::{Context, Response};
use alibaba_sign::post_policy::{self, Condition, PostForm};

/// A signed POST form for one upload: what `/v1/post-policy`, Uppy's
/// `/s3/params` and the sample clients' route each serialise their own way.
pub(super) struct PostPolicyAnswer {
    /// Where the form is posted (the bucket's URL).
    pub url: String,
    /// The key the form stores (legacy: a key under `dir` of the client's choosing).
    pub key: String,
    /// The signed fields, in the order they must be sent, and the expiry.
    pub form: PostForm,
    /// The profile's largest object.
    pub max_bytes: u64,
    /// `<prefix><random id>/`: the directory a legacy form's key is pinned to.
    pub dir: String,
    /// The AccessKeyId and SecurityToken the form is signed with (the legacy
    /// shape names them; the form's own fields carry them too). Never the
    /// secret: it stays in the broker.
    pub signer: (String, Option<String>),
}

/// `/v1/post-policy` and the sample clients' POST-signature route.
pub(super) async fn post_policy_route(
    app: &App,
    ctx: &Context,
    scope: &Scope,
    input: &UploadInput,
    legacy: bool,
) -> Result<Response, ApiError> {
    let a = post_policy(app, ctx, scope, input, legacy).await?;
    if legacy {
        return Ok(json_body(
            200,
            &legacy::post_body(&a.form, &a.url, &a.dir, &a.signer.0, a.signer.1.as_deref()),
        ));
    }
    Ok(json_body(
        200,
        &PostPolicyBody {
            url: &a.url,
            key: &a.key,
            fields: Pairs(&a.form.fields),
            expiration: iso_seconds(a.form.expiration),
            max_bytes: a.max_bytes,
        },
    ))
}

/// A signed POST form for one upload in `scope`; `legacy` signs for
/// Alibaba's sample clients (the key's directory pinned, not the key).
pub(super) async fn post_policy(
    app: &App,
    ctx: &Context,
    scope: &Scope,
    input: &UploadInput,
    legacy: bool,
) -> Result<PostPolicyAnswer, ApiError> {
    let profile = &scope.profile;
    if let Some(size) = input.size {
        profile.check_size(size)?;
    }
    // /v1/post-policy always sends a Content-Type field, so its `in
    // $content-type` condition can be met; Alibaba's sample client sends
    // none, so the legacy route pins a type only when one is asked for.
    let content_type = match (&input.content_type, legacy) {
        (Some(_), _) | (None, false) => {
            Some(profile.content_type(input.content_type.as_deref(), "application/octet-stream")?)
        }
        (None, true) => None,
    };
    let id = keys::random_id();
    let key = if legacy {
        keys::build_key(&scope.prefix, &id, input.filename.as_deref())?
    } else {
        scope.new_upload_key(input.filename.as_deref())?
    };
    let signing = signing(app, scope, Access::Upload, ctx).await?;

    // The legacy sample client appends `dir + filename` as the key and
    // sends only success_action_status besides the signature fields.
    let dir = format!("{}{}/", scope.prefix, id);
    let form = upload_post_form(
        app,
        &signing,
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
    )?;
    Ok(PostPolicyAnswer {
        url: app.endpoint.bucket_url(&app.config.bucket),
        key,
        form,
        max_bytes: profile.max_bytes,
        dir,
        signer: (
            signing.creds.role.credentials.access_key_id.clone(),
            signing.creds.role.credentials.security_token.clone(),
        ),
    })
}

/// The one builder for upload POST policies (`/v1/post-policy`, the Uppy
/// `/s3/params` route, the sample-client route): the key pinned as
/// `form.pin` says, size within the profile's `min_bytes..=max_bytes`,
/// `success_action_status` 200, `x-oss-forbid-overwrite` when asked, and
/// the content type sent as a field and held to the profile's types.
/// Fields come out in the order OSS wants (signature fields, then
/// `success_action_status`, `x-oss-forbid-overwrite`, `Content-Type`),
/// signed with the configured version.
fn upload_post_form(
    app: &App,
    signing: &Signing,
    form: &UploadForm<'_>,
) -> Result<PostForm, ApiError> {
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
    let config = &app.config;
    // The credentials are handed out for the key or directory the policy pins.
    let creds = match form.pin {
        KeyPin::Exact => signing.for_key(form.key)?,
        KeyPin::StartsWith(dir) => signing.creds.for_dir(dir)?,
    };
    Ok(match config.signature_version {
        SignatureVersion::V4 => post_policy::post_form_v4(
            creds,
            &config.region,
            &config.bucket,
            form.key,
            conditions,
            signing.now,
            signing.expiration(),
            &extra,
        ),
        SignatureVersion::V1 => post_policy::post_form_v1(
            creds,
            &config.bucket,
            form.key,
            conditions,
            signing.expiration(),
            &extra,
        ),
    })
}

/// How a POST policy holds the form's `key` field.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum KeyPin<'a> {
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
struct UploadForm<'a> {
    /// The server-built key (`keys::build_key`).
    key: &'a str,
    /// The profile whose size range and types the policy holds.
    profile: &'a Profile,
    /// How the policy holds it.
    pin: KeyPin<'a>,
    /// Content type sent as a field; when set and the profile's types are
    /// not `*`, the policy requires one of the allowed types.
    content_type: Option<&'a str>,
    /// Send and require `x-oss-forbid-overwrite: true`.
    forbid_overwrite: bool,
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
