//! The upload check ([`UploadCheck`]): what happens after an upload lands.
//! FC's OSS trigger invokes the function (`POST /invoke`, see
//! [`crate::runtime`]) for each `PutObject`, `PostObject`,
//! `CompleteMultipartUpload`, `AppendObject` and `PutSymlink` under
//! `UPLOAD_PREFIX`; this module checks the stored object and tells the app.
//!
//! Appendable objects and symlinks (`x-oss-object-type` on HeadObject, or
//! the event's name) are rejected and deleted, never quarantined (CopyObject
//! refuses appendable objects; a symlink's copy would be its target), unless
//! the profile lists the type in `allow_object_types`. A PutSymlink event is
//! read with GetSymlink, since HeadObject shows the target's ETag.
//!
//! One record, one direction:
//! event → [`parse`] → scoped credentials (STS, [`crate::sts::policy::check_policy`]) →
//! HeadObject guarded by the event's ETag → verdict already in the tags?
//! (redelivery: only finish what is left) → first bytes → [`rules`] →
//! [`Verdict`] into the object's tags → [`webhook`] → on a rejection, delete
//! or quarantine. The OSS calls are [`crate::oss::calls`]; the settings are
//! [`CheckSettings`].
//!
//! Delivery is at least once. Everything is idempotent per object version:
//! an event for a version that was replaced or deleted is a no-op (the HEAD
//! is `If-Match` the event's ETag), a verdict is computed once and kept in
//! the object's tags, and the `webhook-id` is derived from the version, so
//! the app sees one id however often FC retries. A transient failure (OSS
//! 5xx or no answer, STS down, webhook down or non-2xx) fails the invocation
//! so FC retries it; a verdict, or an event that is not ours, succeeds.

pub mod parse;
pub mod rules;
pub mod verdict;
pub mod webhook;

use crate::config::{CheckSettings, Config};
use crate::oss::calls;
use crate::oss::client::{OssClient, OssError};
use crate::profiles::{ObjectType, Profile, Profiles};
use crate::runtime::Context;
use crate::sts::cache::{CacheConfig, CredentialCache};
use crate::sts::client::{AssumeRoleRequest, StsClient};
use crate::sts::policy::check_policy;
use alibaba_sign::Credentials;
use bytes::Bytes;
use parse::Record;
use serde_json::json;
use std::sync::Arc;
use verdict::{Status, Subject};

pub use verdict::{Verdict, TAG_DETAIL, TAG_NOTIFIED, TAG_REASON, TAG_SNIFFED, TAG_STATUS};

/// Objects of this size or more cannot be CopyObject'ed; they are deleted
/// even when a quarantine is configured.
const MAX_COPY_BYTES: u64 = 1 << 30;

/// How one of the check's OSS calls failed, as the check sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
enum OssFailure {
    /// 404 or 412: the object (that version) is no longer there.
    Gone,
    /// Any other failure (the check is retried).
    Other(String),
}

impl std::fmt::Display for OssFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            OssFailure::Gone => f.write_str("the object is gone or was replaced"),
            OssFailure::Other(e) => f.write_str(e),
        }
    }
}

impl From<OssError> for OssFailure {
    fn from(e: OssError) -> Self {
        match &e {
            OssError::Service {
                status: 404 | 412, ..
            } => OssFailure::Gone,
            _ => OssFailure::Other(e.to_string()),
        }
    }
}

/// Where verdicts go.
pub enum Notify {
    /// Nowhere (no `WEBHOOK_URL`).
    Nothing,
    /// Printed to stdout, signed as they would be sent (local mode without a URL).
    Print,
    /// POSTed to `WEBHOOK_URL`.
    Post(webhook::Sender),
}

/// What became of one record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Not an upload this function checks (other event, bucket or prefix).
    Ignored(&'static str),
    /// The object version is gone or was replaced: nothing to do.
    Stale,
    /// Checked (now or earlier) and reported.
    Verified,
    /// Rejected and removed (now or earlier) and reported.
    Rejected,
    /// Not finished; FC should retry.
    Failed(String),
}

impl Outcome {
    fn as_str(&self) -> &'static str {
        match self {
            Outcome::Ignored(_) => "ignored",
            Outcome::Stale => "stale",
            Outcome::Verified => "verified",
            Outcome::Rejected => "rejected",
            Outcome::Failed(_) => "failed",
        }
    }
}

/// The upload check: configuration plus the clients it shares across events.
pub struct UploadCheck {
    config: Config,
    profiles: Profiles,
    settings: CheckSettings,
    /// The check's OSS calls ([`calls`]): each bounded by `OSS_TIMEOUT_MS`,
    /// reading at most 64 KiB (tag sets and the sniffed range).
    oss: OssClient,
    /// Shared with the API (see [`crate::wiring`]).
    sts: Arc<StsClient>,
    cache: CredentialCache,
    notify: Notify,
}

fn transient(e: impl std::fmt::Display) -> Outcome {
    Outcome::Failed(e.to_string())
}

impl UploadCheck {
    /// Builds the check from the validated configuration and the upload
    /// profiles (each key is checked against the profile whose prefix holds
    /// it), on the STS and OSS clients it shares with the API. Its OSS calls
    /// run on `oss`'s connection pool with the check's own limits.
    pub fn new(
        config: Config,
        profiles: Profiles,
        settings: CheckSettings,
        notify: Notify,
        sts: Arc<StsClient>,
        oss: &OssClient,
    ) -> Result<UploadCheck, String> {
        if let Some(q) = &settings.quarantine_prefix {
            if let Some(p) = profiles
                .iter()
                .find(|p| q.starts_with(&p.prefix) || p.prefix.starts_with(q.as_str()))
            {
                return Err(format!(
                    "QUARANTINE_PREFIX: {q:?} overlaps the prefix {:?} of upload profile {:?}; use a folder of its own such as quarantine/",
                    p.prefix, p.name
                ));
            }
        }
        // Tag sets and the sniffed range; nothing larger is ever read.
        let oss = oss.with_limits(settings.oss_timeout, 64 * 1024);
        let cache = CredentialCache::new(CacheConfig {
            max_entries: 4,
            refresh_margin: crate::sts::cache::refresh_margin(config.token_ttl_secs),
        });
        Ok(UploadCheck {
            config,
            profiles,
            settings,
            oss,
            sts,
            cache,
            notify,
        })
    }

    /// The notifier from the settings: POST to `WEBHOOK_URL` when set, else `otherwise`.
    pub fn notify_from(settings: &CheckSettings, otherwise: Notify) -> Result<Notify, String> {
        match &settings.webhook_url {
            Some(u) => Ok(Notify::Post(webhook::Sender::new(
                u,
                settings.webhook_secrets.clone(),
                settings.webhook_timeout,
            )?)),
            None => Ok(otherwise),
        }
    }

    /// Handles one event invocation: `Ok` when every record is settled,
    /// `Err` (FC retries) when one is not.
    pub async fn handle(&self, event: Bytes, ctx: Context) -> Result<Bytes, Bytes> {
        let limit = self.settings.event_timeout;
        match tokio::time::timeout(limit, self.handle_records(event, &ctx)).await {
            Ok(done) => done,
            Err(_) => {
                crate::log::warn(
                    Some(&ctx.request_id),
                    "upload check will be retried",
                    &[("detail", "did not finish within EVENT_TIMEOUT_MS".into())],
                );
                Err(Bytes::from(
                    json!({"error": format!("the check did not finish within {} ms; FC retries it", limit.as_millis())})
                        .to_string(),
                ))
            }
        }
    }

    async fn handle_records(&self, event: Bytes, ctx: &Context) -> Result<Bytes, Bytes> {
        let ctx = ctx.clone();
        let records = match parse::parse(&event) {
            Ok(r) => r,
            Err(e) => {
                // Retrying cannot make it readable: acknowledge, and say so.
                crate::log::warn(
                    Some(&ctx.request_id),
                    "event not understood",
                    &[("detail", e.0.clone().into())],
                );
                return Ok(Bytes::from(json!({"ignored": e.0}).to_string()));
            }
        };
        let mut results = Vec::with_capacity(records.len());
        let mut failed = false;
        for r in &records {
            let outcome = self.record(r, &ctx).await;
            let mut line = json!({"key": r.key, "outcome": outcome.as_str()});
            match &outcome {
                Outcome::Failed(why) => {
                    failed = true;
                    line["error"] = why.clone().into();
                    crate::log::warn(
                        Some(&ctx.request_id),
                        "upload check will be retried",
                        &[
                            ("key", r.key.clone().into()),
                            ("detail", why.clone().into()),
                        ],
                    );
                }
                Outcome::Ignored(why) => line["reason"] = (*why).into(),
                _ => {}
            }
            results.push(line);
        }
        let body = Bytes::from(json!({"records": results}).to_string());
        if failed {
            Err(body)
        } else {
            Ok(body)
        }
    }

    async fn credentials(&self, ctx: &Context) -> Result<Credentials, Outcome> {
        let Some(caller) = ctx.credentials.as_ref() else {
            return Err(transient("the function has no credentials to call STS with; give the function a role (s.yaml `role`)"));
        };
        let prefixes: Vec<&str> = self.profiles.iter().map(|p| p.prefix.as_str()).collect();
        let policy = check_policy(
            &self.config.bucket,
            &prefixes,
            self.settings.quarantine_prefix.as_deref(),
        );
        let request = AssumeRoleRequest {
            role_arn: self.config.role_arn.clone(),
            role_session_name: crate::sts::policy::role_session_name("upload-check"),
            duration_seconds: self.config.token_ttl_secs as u32,
            policy: Some(policy),
        };
        let now = chrono::Utc::now();
        self.cache
            .get("check", now, || self.sts.assume_role(caller, &request, now))
            .await
            .map(|r| r.credentials.clone())
            .map_err(|e| transient(format!("STS: {}", e.code())))
    }

    /// Checks one record; see the module docs for the order of steps.
    pub async fn record(&self, r: &Record, ctx: &Context) -> Outcome {
        if !r.is_upload() {
            return Outcome::Ignored("not an upload event");
        }
        if r.bucket != self.config.bucket {
            return Outcome::Ignored("another bucket");
        }
        let Some((profile, _)) = self.profiles.for_key(&r.key) else {
            return Outcome::Ignored("outside UPLOAD_PREFIX");
        };
        let profile = profile.clone();
        let Some(etag) = r.etag.as_deref().map(calls::normalize_etag) else {
            return Outcome::Ignored("the event carries no eTag");
        };
        let creds = match self.credentials(ctx).await {
            Ok(c) => c,
            Err(o) => return o,
        };
        let bucket = &self.config.bucket;
        if r.event_name == parse::PUT_SYMLINK {
            return self.symlink(r, &profile, &creds, etag, ctx).await;
        }
        let head = match calls::head_object(&self.oss, &creds, bucket, &r.key, &etag)
            .await
            .map_err(OssFailure::from)
        {
            Ok(h) => h,
            Err(OssFailure::Gone) => {
                // No Alibaba document says whether event keys are URL-encoded
                // (S3's are); all samples use them raw. Try the decoded form
                // before calling the event stale, so such keys are never
                // silently left unchecked.
                let decoded = percent_encoding::percent_decode_str(&r.key).decode_utf8();
                match decoded {
                    Ok(k) if k != r.key.as_str() => {
                        let mut again = r.clone();
                        again.key = k.into_owned();
                        return Box::pin(self.record(&again, ctx)).await;
                    }
                    _ => return Outcome::Stale,
                }
            }
            Err(e) => return transient(e),
        };
        self.judge(r, &profile, &creds, head, etag, ctx).await
    }

    /// A PutSymlink event. Its `eTag` may be the link's own (GetSymlink's)
    /// while HeadObject shows the target's, so the link is found with
    /// GetSymlink: gone, or no longer a symlink, is stale. A symlink the
    /// profile does not allow is rejected as it stands (its bytes are another
    /// object's); an allowed one is checked like an upload of its target's
    /// bytes, bound to the ETag HeadObject shows for it.
    async fn symlink(
        &self,
        r: &Record,
        profile: &Arc<Profile>,
        creds: &Credentials,
        event_etag: String,
        ctx: &Context,
    ) -> Outcome {
        let bucket = &self.config.bucket;
        let link_etag = match calls::get_symlink(&self.oss, creds, bucket, &r.key).await {
            Ok((etag, _target)) => etag,
            Err(OssError::Service { status: 400, .. }) => return Outcome::Stale,
            Err(e) => match OssFailure::from(e) {
                OssFailure::Gone => return Outcome::Stale,
                other => return transient(other),
            },
        };
        if !profile.object_type_allowed(ObjectType::Symlink) {
            let head = calls::ObjectHead {
                size: r.size.unwrap_or(0),
                content_type: r.mime_type.clone().unwrap_or_default(),
                etag: link_etag,
                object_type: ObjectType::Symlink.as_str().to_owned(),
            };
            return self.judge(r, profile, creds, head, event_etag, ctx).await;
        }
        match calls::head_current(&self.oss, creds, bucket, &r.key)
            .await
            .map_err(OssFailure::from)
        {
            Ok(head) => {
                let etag = head.etag.clone();
                self.judge(r, profile, creds, head, etag, ctx).await
            }
            Err(OssFailure::Gone) => Outcome::Stale,
            Err(e) => transient(e),
        }
    }

    /// From the stored object's HeadObject on: an object type the profile
    /// does not allow is rejected at once (no tags read or written: a
    /// symlink's could be its target's, and the object is removed anyway);
    /// otherwise the verdict in the tags, or a new check.
    async fn judge(
        &self,
        r: &Record,
        profile: &Arc<Profile>,
        creds: &Credentials,
        head: calls::ObjectHead,
        etag: String,
        ctx: &Context,
    ) -> Outcome {
        let (bucket, creds, profile) = (&self.config.bucket, creds, profile.clone());
        let kind = ObjectType::parse(&head.object_type).or(match r.event_name.as_str() {
            parse::APPEND_OBJECT => Some(ObjectType::Appendable),
            parse::PUT_SYMLINK => Some(ObjectType::Symlink),
            _ => None,
        });
        if let Some(kind) = kind.filter(|k| !profile.object_type_allowed(*k)) {
            let v = rules::object_type_not_allowed(kind);
            let data = webhook::Data {
                bucket: r.bucket.clone(),
                key: r.key.clone(),
                size: head.size,
                etag: etag.clone(),
                declared_type: head.content_type.clone(),
                sniffed_type: None,
                user_id: rules::check_key(&self.config, &profile, &r.key)
                    .ok()
                    .flatten(),
                reason: Some(webhook::Reason {
                    code: v.code.to_owned(),
                    message: v.message.clone(),
                }),
                disposition: None,
            };
            let verdict = Verdict::new(&Err(v), None, &etag);
            let subject = Subject {
                creds,
                record: r,
                head: &head,
                etag: &etag,
            };
            return self.report(&subject, data, verdict, ctx).await;
        }
        let creds = creds.clone();
        // An allowed appendable object keeps its tags while it grows, and a
        // symlink's may be its target's: a verdict found there may be about
        // other bytes, so such objects are always judged afresh.
        let tags = if kind.is_some() {
            Vec::new()
        } else {
            match calls::get_tags(&self.oss, &creds, bucket, &r.key)
                .await
                .map_err(OssFailure::from)
            {
                Ok(t) => t,
                Err(OssFailure::Gone) => return Outcome::Stale,
                Err(e) => return transient(e),
            }
        };
        let user_id = rules::check_key(&self.config, &profile, &r.key)
            .ok()
            .flatten();
        let mut data = webhook::Data {
            bucket: r.bucket.clone(),
            key: r.key.clone(),
            size: head.size,
            etag: etag.clone(),
            declared_type: head.content_type.clone(),
            sniffed_type: None,
            user_id,
            reason: None,
            disposition: None,
        };
        let subject = Subject {
            creds: &creds,
            record: r,
            head: &head,
            etag: &etag,
        };
        let verdict = match Verdict::from_tags(&tags) {
            Some(verdict) => {
                // A redelivery: the verdict stands; finish what is left.
                data.sniffed_type = verdict.sniffed.clone();
                if let Some(code) = &verdict.reason {
                    data.reason = Some(webhook::Reason {
                        code: code.clone(),
                        message: verdict.detail.clone().unwrap_or_default(),
                    });
                }
                if verdict.status == Status::Verified
                    && (verdict.notified || matches!(self.notify, Notify::Nothing))
                {
                    return Outcome::Verified;
                }
                Verdict {
                    etag: Some(etag.clone()),
                    ..verdict
                }
            }
            None => match self.check(&subject, &profile, &mut data).await {
                Ok(v) => v,
                Err(o) => return o,
            },
        };
        self.report(&subject, data, verdict, ctx).await
    }
}

/// Wraps the [`UploadCheck`] as the runtime's event handler.
pub fn handler(check: Arc<UploadCheck>) -> crate::runtime::Events {
    crate::runtime::Events(crate::runtime::event_fn(move |event, ctx| {
        let check = check.clone();
        async move { check.handle(event, ctx).await }
    }))
}
