//! The upload check ([`UploadCheck`]): what happens after an upload lands.
//! FC's OSS trigger invokes the function (`POST /invoke`, see
//! [`crate::runtime`]) for each `PutObject`, `PostObject`,
//! `CompleteMultipartUpload`, `AppendObject` and `PutSymlink` under
//! `UPLOAD_PREFIX`; this module checks the stored object and tells the app.
//!
//! One record, one direction:
//! event → [`parse`] → scoped credentials (STS, [`crate::sts::policy::check_policy`]) →
//! HeadObject guarded by the event's ETag (GetSymlink for a symlink) →
//! object type allowed? → verdict already in the tags? (redelivery: only
//! finish what is left) → first bytes → [`rules`] → [`Verdict`] into the
//! object's tags → [`webhook`] → on a rejection, delete or quarantine. The
//! steps up to the verdict are in `judge.rs`, the verdict and what follows in
//! [`verdict`]; the OSS calls are [`crate::oss::calls`]; the settings are
//! [`CheckSettings`].
//!
//! Appendable objects and symlinks (`x-oss-object-type` on HeadObject, or
//! the event's name when OSS sends none) are rejected and deleted, never
//! quarantined (CopyObject refuses appendable objects; a symlink's copy
//! would be its target), unless the profile lists the type in
//! `allow_object_types`. A PutSymlink event is read with GetSymlink, since
//! HeadObject shows the target's ETag.
//!
//! Delivery is at least once. Work is keyed by object version (its ETag):
//! an event for a version that was replaced or deleted is a no-op (the HEAD
//! is `If-Match` the event's ETag); a verdict is computed once and kept in
//! the object's tags together with the ETag it judged (`upload-etag`), and a
//! redelivery takes it over only when that ETag is the event's (never for an
//! appendable object or a symlink, which are always judged afresh); the
//! `webhook-id` is derived from the version, so the app sees one id however
//! often FC retries. A transient failure (OSS 5xx or no answer, STS down,
//! webhook down or non-2xx) fails the invocation so FC retries it; a
//! verdict, or an event that is not ours, succeeds; a body that is no event
//! at all fails it, so FC shows it. A 410 from the webhook is final.
//!
//! Overwrites race the check (STS holders and `replace` profiles can write a
//! key again at any time). PutObjectTagging and DeleteObject have no
//! conditional form on OSS, so before each of them, and before the webhook,
//! the check re-reads the object with `If-Match` and acts only on the
//! version it judged; the quarantine copy is conditional itself. A rejected
//! symlink is re-read with GetSymlink (its own ETag), a rejected appendable
//! object by its type (see `verdict::Bound`). The window between that
//! re-read and the write remains: a tag set can land on the next version (it
//! names the wrong ETag, so nothing trusts it, and the check that notices
//! judges the version now there: `UploadCheck::moved_on`), and a delete can
//! remove a version written in the last milliseconds. Only bucket versioning
//! (acting on a `versionId`) closes it.

mod judge;
pub mod parse;
pub mod rules;
pub mod verdict;
pub mod webhook;

use crate::config::{CheckSettings, Config};
use crate::oss::client::{OssClient, OssError};
use crate::profiles::Profiles;
use crate::runtime::Context;
use crate::sts::cache::{CacheConfig, CredentialCache};
use crate::sts::client::{AssumeRoleRequest, StsClient};
use crate::sts::policy::check_policy;
use alibaba_sign::Credentials;
use bytes::Bytes;
use parse::Record;
use serde_json::json;
use std::sync::Arc;

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
    /// Rejected and removed (now or earlier) and reported; why, in words.
    Rejected(String),
    /// Not finished; FC should retry.
    Failed(String),
}

impl Outcome {
    fn as_str(&self) -> &'static str {
        match self {
            Outcome::Ignored(_) => "ignored",
            Outcome::Stale => "stale",
            Outcome::Verified => "verified",
            Outcome::Rejected(_) => "rejected",
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
            refresh_jitter: crate::sts::cache::refresh_jitter(config.token_ttl_secs),
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
                // A failed invocation, never a silent success: FC shows it
                // (the synchronous EventBridge caller gets the error; the OSS
                // trigger's retries end in the failure destination, where the
                // body can be read and replayed once the function reads it).
                crate::log::error(
                    Some(&ctx.request_id),
                    "event not understood",
                    &[("detail", e.0.clone().into())],
                );
                return Err(Bytes::from(
                    json!({"error": format!("event not understood: {}", e.0)}).to_string(),
                ));
            }
        };
        let mut results = Vec::with_capacity(records.len());
        let mut failed = false;
        for r in &records {
            let Settled { outcome, webhook } = self.record_at(r, &ctx, 0).await;
            let mut line = json!({"key": r.key, "outcome": outcome.as_str()});
            if let Some(w) = webhook {
                line["webhook"] = w.into();
            }
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
                Outcome::Rejected(why) => line["reason"] = why.clone().into(),
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
        self.record_at(r, ctx, 0).await.outcome
    }
}

/// What became of one record, and what the app's endpoint said when that
/// is worth reporting (a 410 Gone).
pub(crate) struct Settled {
    outcome: Outcome,
    webhook: Option<&'static str>,
}

impl From<Outcome> for Settled {
    fn from(outcome: Outcome) -> Self {
        Settled {
            outcome,
            webhook: None,
        }
    }
}

/// Wraps the [`UploadCheck`] as the runtime's event handler.
pub fn handler(check: Arc<UploadCheck>) -> crate::runtime::Events {
    crate::runtime::Events(crate::runtime::event_fn(move |event, ctx| {
        let check = check.clone();
        async move { check.handle(event, ctx).await }
    }))
}
