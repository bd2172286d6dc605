//! One record's verdict: the typed [`Verdict`] and its encoding in the
//! object's tags ([`Verdict::to_tags`], [`Verdict::from_tags`], the one place
//! that knows the tag names), computing it (`UploadCheck::check`), then telling
//! the app and settling the object (`UploadCheck::report`): a verified one is
//! tagged `upload-notified`, a rejected one deleted or quarantined.

use super::parse::Record;
use super::rules::SNIFF_BYTES;
use super::webhook::{self, Delivery, Message};
use super::{rules, transient, Notify, OssFailure, Outcome, Settled, UploadCheck, MAX_COPY_BYTES};
use crate::oss::calls::{self, ObjectHead};
use crate::oss::client::OssError;
use crate::profiles::{ObjectType, Profile};
use crate::runtime::Context;
use alibaba_sign::Credentials;
use bytes::Bytes;

/// Tag holding the verdict: `verified` or `rejected`.
pub const TAG_STATUS: &str = "upload-status";
/// Tag holding a rejection's code.
pub const TAG_REASON: &str = "upload-reason";
/// Tag holding a rejection's message, cut to what a tag value allows.
pub const TAG_DETAIL: &str = "upload-detail";
/// Tag holding what the bytes sniffed as.
pub const TAG_SNIFFED: &str = "upload-sniffed";
/// Tag set once the app acknowledged the webhook.
pub const TAG_NOTIFIED: &str = "upload-notified";
/// Tag naming the ETag of the version the verdict judged. OSS keeps tags
/// per key, not per version, and a tag write can land on a version written
/// after the check read its bytes (OSS has no conditional PutObjectTagging):
/// a verdict counts only where this tag equals the object's current ETag.
pub const TAG_ETAG: &str = "upload-etag";

/// What the check decided.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    /// The object is what its profile allows.
    Verified,
    /// The object broke a rule; it is removed or quarantined.
    Rejected,
}

impl Status {
    /// The tag value (and the status route's word): `verified` or `rejected`.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Verified => "verified",
            Status::Rejected => "rejected",
        }
    }
}

/// The check's verdict on one object version, as it is kept in the object's
/// tags so a redelivered event finishes the work instead of judging again,
/// and so the status route can answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verdict {
    /// Verified or rejected ([`TAG_STATUS`]).
    pub status: Status,
    /// A rejection's code, e.g. `TypeMismatch` ([`TAG_REASON`]).
    pub reason: Option<String>,
    /// A rejection's message ([`TAG_DETAIL`]; stored through [`tag_value`]).
    pub detail: Option<String>,
    /// What the bytes sniffed as; `None`: nothing recognisable ([`TAG_SNIFFED`],
    /// empty there).
    pub sniffed: Option<String>,
    /// Whether the app acknowledged the webhook ([`TAG_NOTIFIED`]).
    pub notified: bool,
    /// The ETag of the version judged ([`TAG_ETAG`]): the version the check's
    /// HEAD and ranged GET were conditional on. `None` only for a tag set
    /// written before verdicts carried it, which binds to no version and so
    /// counts as no verdict (see [`Verdict::judged`]).
    pub etag: Option<String>,
}

impl Verdict {
    /// A fresh verdict on version `etag`: verified, or rejected for `violation`.
    pub fn new(
        outcome: &Result<(), rules::Violation>,
        sniffed: Option<String>,
        etag: &str,
    ) -> Verdict {
        let (status, reason, detail) = match outcome {
            Ok(()) => (Status::Verified, None, None),
            Err(v) => (
                Status::Rejected,
                Some(v.code.to_owned()),
                Some(v.message.clone()),
            ),
        };
        Verdict {
            status,
            reason,
            detail,
            sniffed,
            notified: false,
            etag: Some(etag.to_owned()),
        }
    }

    /// Whether the object was verified.
    pub fn is_verified(&self) -> bool {
        self.status == Status::Verified
    }

    /// Whether this verdict judged version `etag` (unquoted, any case): the
    /// only case in which it may be taken as that version's verdict.
    pub fn judged(&self, etag: &str) -> bool {
        self.etag
            .as_deref()
            .is_some_and(|e| e.eq_ignore_ascii_case(etag.trim_matches('"')))
    }

    /// The verdict a tag set holds; `None` when it holds none (not checked yet).
    pub fn from_tags(tags: &[(String, String)]) -> Option<Verdict> {
        let status = match tag(tags, TAG_STATUS)? {
            "verified" => Status::Verified,
            "rejected" => Status::Rejected,
            _ => return None,
        };
        Some(Verdict {
            status,
            reason: tag(tags, TAG_REASON).map(str::to_owned),
            detail: tag(tags, TAG_DETAIL).map(str::to_owned),
            sniffed: tag(tags, TAG_SNIFFED)
                .filter(|s| !s.is_empty())
                .map(str::to_owned),
            notified: tag(tags, TAG_NOTIFIED).is_some(),
            etag: tag(tags, TAG_ETAG)
                .filter(|e| !e.is_empty())
                .map(str::to_owned),
        })
    }

    /// The object's tag set for this verdict: status and sniffed type, the
    /// judged ETag, a rejection's reason and detail, and `upload-notified`
    /// once acknowledged. At most 6 of OSS's 10 tags; keys are under 128
    /// characters and values pass through [`tag_value`] (256 at most).
    pub fn to_tags(&self) -> Vec<(String, String)> {
        let mut tags = vec![
            (TAG_STATUS.to_owned(), self.status.as_str().to_owned()),
            (
                TAG_SNIFFED.to_owned(),
                tag_value(self.sniffed.as_deref().unwrap_or("")),
            ),
        ];
        if let Some(etag) = &self.etag {
            tags.push((TAG_ETAG.to_owned(), tag_value(etag)));
        }
        if self.status == Status::Rejected {
            tags.push((
                TAG_REASON.to_owned(),
                tag_value(self.reason.as_deref().unwrap_or("")),
            ));
            tags.push((
                TAG_DETAIL.to_owned(),
                tag_value(self.detail.as_deref().unwrap_or("")),
            ));
        }
        if self.notified {
            tags.push((TAG_NOTIFIED.to_owned(), "1".to_owned()));
        }
        tags
    }

    /// The tags a quarantined copy carries: the status and the reason only.
    pub fn quarantine_tags(&self) -> Vec<(String, String)> {
        vec![
            (TAG_STATUS.to_owned(), self.status.as_str().to_owned()),
            (
                TAG_REASON.to_owned(),
                tag_value(self.reason.as_deref().unwrap_or("")),
            ),
        ]
    }
}

/// Tag values allow letters, digits, space and `+ - = . _ : /`, up to 256 bytes.
pub fn tag_value(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || " +-=._:/".contains(c) {
                c
            } else {
                '_'
            }
        })
        .take(256)
        .collect()
}

fn tag<'t>(tags: &'t [(String, String)], name: &str) -> Option<&'t str> {
    tags.iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// One record under check: its event, the check's credentials, and the
/// version HeadObject found (conditional on the event's ETag).
pub(super) struct Subject<'a> {
    pub(super) creds: &'a Credentials,
    pub(super) record: &'a Record,
    pub(super) head: &'a ObjectHead,
    pub(super) etag: &'a str,
    /// 0 for an event's own record, 1 for the version found in its place
    /// (`UploadCheck::moved_on`), which goes no further.
    pub(super) depth: u8,
    /// What the re-read before each write holds the object to.
    pub(super) bound: Bound,
}

/// What the check's writes on an object are bound to: the re-read right
/// before each (`UploadCheck::still`) lets it act only while this holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Bound {
    /// Version `etag` (HeadObject `If-Match`): every verdict on bytes, and
    /// every verdict when OSS names no object type.
    Version,
    /// A rejected symlink: the link whose own ETag (GetSymlink) is `etag`.
    /// HeadObject cannot tell (it shows the target's ETag, or 404 for a
    /// missing target); a link made again, or no link, is another version.
    Link,
    /// A rejected appendable object: whatever appendable object is at the
    /// key (HeadObject `x-oss-object-type: Appendable`). Appends change the
    /// ETag but not the type, which alone was judged; anything put in its
    /// place has another type (see `UploadCheck::reject_type`).
    Appendable,
}

impl UploadCheck {
    /// Computes the verdict and records it in the object's tags.
    pub(super) async fn check(
        &self,
        s: &Subject<'_>,
        profile: &Profile,
        data: &mut webhook::Data,
    ) -> Result<Verdict, Outcome> {
        let (key, size) = (&s.record.key, s.head.size);
        let mut outcome = rules::check_key(&self.config, profile, key).map(drop);
        if outcome.is_ok() && size <= profile.max_bytes {
            // An empty object has no first bytes (and a range on it is invalid).
            let first = if size == 0 {
                Bytes::new()
            } else {
                let bucket = &self.config.bucket;
                let n = SNIFF_BYTES.min(size);
                match calls::first_bytes(&self.oss, s.creds, bucket, key, s.etag, n).await {
                    Ok(b) => b,
                    Err(e) => return Err(failed(e)),
                }
            };
            data.sniffed_type = rules::sniff(&first).map(str::to_owned);
            outcome = rules::check_object(profile, size, &s.head.content_type, &first);
        } else if outcome.is_ok() {
            outcome = rules::check_object(profile, size, &s.head.content_type, &[]);
        }
        if let Err(v) = &outcome {
            data.reason = Some(webhook::Reason {
                code: v.code.to_owned(),
                message: v.message.clone(),
            });
        }
        let verdict = Verdict::new(&outcome, data.sniffed_type.clone(), s.etag);
        let tags = verdict.to_tags();
        // Nothing written yet: a version that changed since the ranged GET is
        // simply stale (its own event judges the new one).
        self.still(s).await.map_err(settle)?;
        match calls::put_tags(&self.oss, s.creds, &self.config.bucket, key, &tags).await {
            Ok(()) => Ok(verdict),
            Err(e) => Err(failed(e)),
        }
    }

    /// Whether the object at the key still is what `s` judged (`s.bound`):
    /// for a version, HeadObject with `If-Match` `s.etag`, right before a
    /// write OSS cannot make conditional (PutObjectTagging, DeleteObject).
    /// A 404 or 412, or a link or type that changed, is `Gone`.
    async fn still(&self, s: &Subject<'_>) -> Result<(), OssFailure> {
        let (oss, bucket, key) = (&self.oss, &self.config.bucket, &s.record.key);
        match s.bound {
            Bound::Version => calls::head_object(oss, s.creds, bucket, key, s.etag)
                .await
                .map(drop)
                .map_err(OssFailure::from),
            Bound::Link => match calls::get_symlink(oss, s.creds, bucket, key).await {
                Ok((etag, _)) if etag == s.etag => Ok(()),
                // 400 NotSymlink: something else is at the key now.
                Ok(_) | Err(OssError::Service { status: 400, .. }) => Err(OssFailure::Gone),
                Err(e) => Err(e.into()),
            },
            Bound::Appendable => {
                let now = calls::head_current(oss, s.creds, bucket, key).await?;
                match ObjectType::parse(&now.object_type) {
                    Some(ObjectType::Appendable) => Ok(()),
                    _ => Err(OssFailure::Gone),
                }
            }
        }
    }

    /// After this version's verdict tags were written: the same as
    /// [`UploadCheck::still`], but a version that changed means the tags may
    /// sit on its successor, which is then judged (`UploadCheck::moved_on`).
    /// A rejected object type writes no tags: what replaced it is left to
    /// its own event.
    async fn still_ours(&self, s: &Subject<'_>, ctx: &Context) -> Result<(), Settled> {
        match self.still(s).await {
            Ok(()) => Ok(()),
            Err(OssFailure::Gone) if s.bound != Bound::Version => Err(Outcome::Stale.into()),
            Err(OssFailure::Gone) => Err(self.moved_on(s, ctx).await),
            Err(other) => Err(transient(other).into()),
        }
    }

    /// Tells the app, then settles the object: tags `upload-notified` on a
    /// verified one, removes a rejected one. Each step that acts on the
    /// object is preceded by a re-read of this version (`If-Match`): the
    /// webhook (the app would be told about bytes no longer there), the
    /// `upload-notified` tag, the delete; the quarantine copy is itself
    /// conditional. What OSS still leaves open is the time between that
    /// re-read and the unconditional write (README, Security model).
    pub(super) async fn report(
        &self,
        s: &Subject<'_>,
        mut data: webhook::Data,
        verdict: Verdict,
        ctx: &Context,
    ) -> Settled {
        let (r, bucket) = (s.record, &self.config.bucket);
        let verified = verdict.is_verified();
        let quarantine = self
            .settings
            .quarantine_prefix
            .as_deref()
            .filter(|_| s.head.size < MAX_COPY_BYTES)
            // CopyObject refuses appendable objects, and a symlink's copy
            // would be its target: both are deleted.
            .filter(|_| ObjectType::parse(&s.head.object_type).is_none());
        if !verified {
            data.disposition = Some(
                if quarantine.is_some() {
                    "quarantined"
                } else {
                    "deleted"
                }
                .to_owned(),
            );
        }
        let message = Message {
            kind: if verified {
                "upload.verified"
            } else {
                "upload.rejected"
            },
            timestamp: r.event_time.clone().unwrap_or_else(|| {
                chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
            }),
            data,
        };
        let id = webhook::message_id(&r.bucket, &r.key, s.etag);
        // In words, for whoever watches (local mode prints it).
        let why = match (&message.data.reason, &message.data.disposition) {
            (Some(x), Some(d)) => format!("{} ({d})", x.message),
            (Some(x), None) => x.message.clone(),
            (None, Some(d)) => d.clone(),
            (None, None) => String::new(),
        };
        let reason = message
            .data
            .reason
            .as_ref()
            .map(|x| x.code.clone())
            .unwrap_or_default();
        if let Err(settled) = self.still_ours(s, ctx).await {
            return settled;
        }
        let mut acknowledged = false;
        let mut webhook_note = None;
        match &self.notify {
            Notify::Nothing => {}
            Notify::Print => print_webhook(&id, &message),
            Notify::Post(sender) => match sender.send(&id, &message).await {
                Delivery::Delivered => acknowledged = true,
                Delivery::Gone => {
                    webhook_note = Some(WEBHOOK_GONE);
                    crate::log::warn(
                        Some(&ctx.request_id),
                        "the webhook endpoint answered 410 Gone: it asks to receive no more messages; this one is not retried",
                        &[
                            ("key", r.key.clone().into()),
                            ("webhookId", id.clone().into()),
                            (
                                "detail",
                                "stop: fix the endpoint or unset WEBHOOK_URL; the verdict stays in the object's tags"
                                    .into(),
                            ),
                        ],
                    );
                }
                Delivery::Failed(why) => return transient(why).into(),
            },
        }
        crate::log::info(
            Some(&ctx.request_id),
            if verified {
                "upload verified"
            } else {
                "upload rejected"
            },
            &[
                ("key", r.key.clone().into()),
                ("size", s.head.size.into()),
                ("reason", reason.clone().into()),
                ("webhookId", id.into()),
            ],
        );
        let done = |outcome| Settled {
            outcome,
            webhook: webhook_note,
        };
        if verified {
            if acknowledged {
                if let Err(settled) = self.still_ours(s, ctx).await {
                    return settled;
                }
                let notified = Verdict {
                    notified: true,
                    ..verdict
                };
                let tags = notified.to_tags();
                if let Err(e) = calls::put_tags(&self.oss, s.creds, bucket, &r.key, &tags).await {
                    if let other @ OssFailure::Other(_) = OssFailure::from(e) {
                        return transient(other).into();
                    }
                }
                // Written onto this version, or onto one that replaced it
                // between the re-read and the write: then judge that one.
                if let Err(settled) = self.still_ours(s, ctx).await {
                    return settled;
                }
            }
            return done(Outcome::Verified);
        }
        if let Some(q) = quarantine {
            let dst = format!("{q}{}", r.key);
            let qtags = verdict.quarantine_tags();
            let copied =
                calls::copy_object(&self.oss, s.creds, bucket, &r.key, &dst, s.etag, &qtags);
            match copied.await.map_err(OssFailure::from) {
                Ok(()) => {}
                Err(OssFailure::Gone) => return self.moved_on(s, ctx).await,
                Err(other) => return transient(other).into(),
            }
        }
        if let Err(settled) = self.still_ours(s, ctx).await {
            return settled;
        }
        match calls::delete_object(&self.oss, s.creds, bucket, &r.key).await {
            Ok(()) => done(Outcome::Rejected(why)),
            Err(e) => match OssFailure::from(e) {
                OssFailure::Gone => done(Outcome::Rejected(why)),
                other => transient(other).into(),
            },
        }
    }
}

/// The invocation record's `webhook` note for a 410 Gone.
const WEBHOOK_GONE: &str =
    "410 Gone: the app asked to receive no more webhooks; not retried (fix the endpoint or unset WEBHOOK_URL)";

/// An OSS failure as the check's outcome: the version is gone (stale), or FC retries.
fn failed(e: OssError) -> Outcome {
    settle(OssFailure::from(e))
}

/// [`failed`], for a failure already read as the check sees it.
fn settle(f: OssFailure) -> Outcome {
    match f {
        OssFailure::Gone => Outcome::Stale,
        other => transient(other),
    }
}

/// Local mode without a webhook URL: show the message that would be sent.
fn print_webhook(id: &str, message: &Message) {
    let body = serde_json::to_string(message).unwrap_or_default();
    // Through the log writer, so the line stays inside this invocation's block.
    crate::log::write_line(&format!(
        "webhook {id} (not sent; give `local --webhook URL` to deliver it): {body}"
    ));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(p: &[(&str, &str)]) -> Vec<(String, String)> {
        p.iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn tag_values_keep_only_allowed_characters() {
        assert_eq!(
            tag_value("declared image/png but (x)!"),
            "declared image/png but _x__"
        );
    }

    #[test]
    fn verdicts_are_the_tags_the_check_has_always_written() {
        let rejected = Verdict::new(
            &Err(rules::Violation {
                code: "TypeMismatch",
                message: "declared image/png but (x)!".into(),
            }),
            Some("text/html".into()),
            "5B3C",
        );
        assert_eq!(
            rejected.to_tags(),
            pairs(&[
                ("upload-status", "rejected"),
                ("upload-sniffed", "text/html"),
                ("upload-etag", "5B3C"),
                ("upload-reason", "TypeMismatch"),
                ("upload-detail", "declared image/png but _x__"),
            ])
        );
        assert_eq!(
            rejected.quarantine_tags(),
            pairs(&[
                ("upload-status", "rejected"),
                ("upload-reason", "TypeMismatch")
            ])
        );
        let verified = Verdict {
            notified: true,
            ..Verdict::new(&Ok(()), None, "5B3C")
        };
        assert_eq!(
            verified.to_tags(),
            pairs(&[
                ("upload-status", "verified"),
                ("upload-sniffed", ""),
                ("upload-etag", "5B3C"),
                ("upload-notified", "1"),
            ])
        );
        // Within OSS's limits: at most 10 tags, keys up to 128 and values up
        // to 256 characters, even for a multipart ETag and a long detail.
        let long = Verdict::new(
            &Err(rules::Violation {
                code: "TypeMismatch",
                message: "x".repeat(1000),
            }),
            Some("y".repeat(300)),
            "D41D8CD98F00B204E9800998ECF8427E-10000",
        );
        let tags = Verdict {
            notified: true,
            ..long
        }
        .to_tags();
        assert!(tags.len() <= 10);
        assert!(tags.iter().all(|(k, v)| k.len() <= 128 && v.len() <= 256));
    }

    #[test]
    fn tags_read_back_as_the_verdict() {
        let v = Verdict::from_tags(&pairs(&[
            ("upload-status", "rejected"),
            ("upload-sniffed", ""),
            ("upload-reason", "TooLarge"),
            ("upload-detail", "11 bytes is over the limit of 10 bytes"),
        ]))
        .unwrap();
        assert_eq!(v.status, Status::Rejected);
        assert_eq!(v.reason.as_deref(), Some("TooLarge"));
        assert_eq!(
            v.detail.as_deref(),
            Some("11 bytes is over the limit of 10 bytes")
        );
        assert_eq!((v.sniffed, v.notified, v.etag), (None, false, None));
        // A tag set written before verdicts named their version binds to none.
        assert!(
            !Verdict::from_tags(&pairs(&[("upload-status", "verified")]))
                .unwrap()
                .judged("AB")
        );
        // Written then read: the same verdict, bound to the version it judged.
        let fresh = Verdict::new(&Ok(()), Some("image/png".into()), "AB");
        let back = Verdict::from_tags(&fresh.to_tags()).unwrap();
        assert_eq!(back, fresh);
        assert!(back.judged("AB") && back.judged("\"ab\"") && !back.judged("AC"));
        // No verdict yet, or one this function did not write.
        assert_eq!(Verdict::from_tags(&pairs(&[("other", "x")])), None);
        assert_eq!(
            Verdict::from_tags(&pairs(&[("upload-status", "pending")])),
            None
        );
    }
}
