//! One record's verdict: the typed [`Verdict`] and its encoding in the
//! object's tags ([`Verdict::to_tags`], [`Verdict::from_tags`], the one place
//! that knows the tag names), computing it (`UploadCheck::check`), then telling
//! the app and settling the object (`UploadCheck::report`): a verified one is
//! tagged `upload-notified`, a rejected one deleted or quarantined.

use super::parse::Record;
use super::rules::SNIFF_BYTES;
use super::webhook::{self, Delivery, Message};
use super::{rules, transient, Notify, OssFailure, Outcome, UploadCheck, MAX_COPY_BYTES};
use crate::oss::calls::{self, ObjectHead};
use crate::profiles::Profile;
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
    /// The ETag of the version judged, when known. The check knows it (the
    /// version its HEAD was conditional on); today's tags do not carry it
    /// (tags belong to one version), so [`Verdict::from_tags`] leaves it `None`
    /// and [`Verdict::to_tags`] does not write it.
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
            etag: None,
        })
    }

    /// The object's tag set for this verdict: status and sniffed type, a
    /// rejection's reason and detail, and `upload-notified` once acknowledged.
    pub fn to_tags(&self) -> Vec<(String, String)> {
        let mut tags = vec![
            (TAG_STATUS.to_owned(), self.status.as_str().to_owned()),
            (
                TAG_SNIFFED.to_owned(),
                tag_value(self.sniffed.as_deref().unwrap_or("")),
            ),
        ];
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
        match calls::put_tags(&self.oss, s.creds, &self.config.bucket, key, &tags).await {
            Ok(()) => Ok(verdict),
            Err(e) => Err(failed(e)),
        }
    }

    /// Tells the app, then settles the object: tags `upload-notified` on a
    /// verified one, removes a rejected one.
    pub(super) async fn report(
        &self,
        s: &Subject<'_>,
        mut data: webhook::Data,
        verdict: Verdict,
        ctx: &Context,
    ) -> Outcome {
        let (r, bucket) = (s.record, &self.config.bucket);
        let verified = verdict.is_verified();
        let quarantine = self
            .settings
            .quarantine_prefix
            .as_deref()
            .filter(|_| s.head.size < MAX_COPY_BYTES)
            // CopyObject refuses appendable objects, and a symlink's copy
            // would be its target: both are deleted.
            .filter(|_| crate::profiles::ObjectType::parse(&s.head.object_type).is_none());
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
        let reason = message
            .data
            .reason
            .as_ref()
            .map(|x| x.code.clone())
            .unwrap_or_default();
        match &self.notify {
            Notify::Nothing => {}
            Notify::Print => print_webhook(&id, &message),
            Notify::Post(sender) => match sender.send(&id, &message).await {
                Delivery::Delivered | Delivery::Refused => {}
                Delivery::Failed(why) => return transient(why),
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
        if verified {
            if matches!(self.notify, Notify::Post(_)) {
                let notified = Verdict {
                    notified: true,
                    ..verdict
                };
                let tags = notified.to_tags();
                match calls::put_tags(&self.oss, s.creds, bucket, &r.key, &tags).await {
                    Ok(()) => {}
                    Err(e) => match OssFailure::from(e) {
                        OssFailure::Gone => {}
                        other => return transient(other),
                    },
                }
            }
            return Outcome::Verified;
        }
        if let Some(q) = quarantine {
            let dst = format!("{q}{}", r.key);
            let qtags = verdict.quarantine_tags();
            let copied =
                calls::copy_object(&self.oss, s.creds, bucket, &r.key, &dst, s.etag, &qtags);
            if let Err(e) = copied.await {
                return failed(e);
            }
        }
        match calls::delete_object(&self.oss, s.creds, bucket, &r.key).await {
            Ok(()) => Outcome::Rejected,
            Err(e) => match OssFailure::from(e) {
                OssFailure::Gone => Outcome::Rejected,
                other => transient(other),
            },
        }
    }
}

/// An OSS failure as the check's outcome: the version is gone (stale), or FC retries.
fn failed(e: crate::oss::client::OssError) -> Outcome {
    match OssFailure::from(e) {
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
                ("upload-notified", "1"),
            ])
        );
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
        // Written then read: the same verdict, except the ETag tags do not hold.
        let fresh = Verdict::new(&Ok(()), Some("image/png".into()), "AB");
        let back = Verdict::from_tags(&fresh.to_tags()).unwrap();
        assert_eq!(
            back,
            Verdict {
                etag: None,
                ..fresh
            }
        );
        // No verdict yet, or one this function did not write.
        assert_eq!(Verdict::from_tags(&pairs(&[("other", "x")])), None);
        assert_eq!(
            Verdict::from_tags(&pairs(&[("upload-status", "pending")])),
            None
        );
    }
}
