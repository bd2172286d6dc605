//! One record's verdict, once the stored object is known: compute it and
//! keep it in the object's tags ([`Events::check`]), then tell the app and
//! settle the object ([`Events::report`]): a verified one is tagged
//! `upload-notified`, a rejected one deleted or quarantined.

use super::objects::{Head, OssFailure};
use super::parse::Record;
use super::settings::SNIFF_BYTES;
use super::webhook::{self, Delivery, Message};
use super::{rules, transient, Events, Notify, Outcome, MAX_COPY_BYTES};
use super::{TAG_NOTIFIED, TAG_REASON, TAG_SNIFFED, TAG_STATUS};
use crate::profiles::Profile;
use crate::runtime::Context;
use alibaba_sign::Credentials;
use bytes::Bytes;

/// Tag values allow letters, digits, space and `+ - = . _ : /`, up to 256 bytes.
pub(super) fn tag_value(s: &str) -> String {
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

pub(super) fn tag<'t>(tags: &'t [(String, String)], name: &str) -> Option<&'t str> {
    tags.iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

impl Events {
    /// Computes the verdict and records it in the object's tags.
    pub(super) async fn check(
        &self,
        creds: &Credentials,
        r: &Record,
        profile: &Profile,
        head: &Head,
        etag: &str,
        data: &mut webhook::Data,
    ) -> Result<Result<(), rules::Violation>, Outcome> {
        let mut verdict = rules::check_key(&self.config, profile, &r.key).map(drop);
        if verdict.is_ok() && head.size <= profile.max_bytes {
            // An empty object has no first bytes (and a range on it is invalid).
            let first = if head.size == 0 {
                Bytes::new()
            } else {
                match self
                    .objects
                    .first_bytes(creds, &r.key, etag, SNIFF_BYTES.min(head.size))
                    .await
                {
                    Ok(b) => b,
                    Err(OssFailure::Gone) => return Err(Outcome::Stale),
                    Err(e) => return Err(transient(e)),
                }
            };
            data.sniffed_type = rules::sniff(&first).map(str::to_owned);
            verdict = rules::check_object(profile, head.size, &head.content_type, &first);
        } else if verdict.is_ok() {
            verdict = rules::check_object(profile, head.size, &head.content_type, &[]);
        }
        let mut tags = vec![(
            TAG_STATUS.to_owned(),
            if verdict.is_ok() {
                "verified"
            } else {
                "rejected"
            }
            .to_owned(),
        )];
        tags.push((
            TAG_SNIFFED.to_owned(),
            tag_value(data.sniffed_type.as_deref().unwrap_or("")),
        ));
        if let Err(v) = &verdict {
            tags.push((TAG_REASON.to_owned(), v.code.to_owned()));
            tags.push(("upload-detail".to_owned(), tag_value(&v.message)));
            data.reason = Some(webhook::Reason {
                code: v.code.to_owned(),
                message: v.message.clone(),
            });
        }
        match self.objects.put_tags(creds, &r.key, &tags).await {
            Ok(()) => Ok(verdict),
            Err(OssFailure::Gone) => Err(Outcome::Stale),
            Err(e) => Err(transient(e)),
        }
    }

    /// Tells the app, then settles the object: tags `upload-notified` on a
    /// verified one, removes a rejected one.
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn report(
        &self,
        creds: &Credentials,
        r: &Record,
        head: &Head,
        etag: &str,
        mut data: webhook::Data,
        verdict: Result<(), rules::Violation>,
        tags: &[(String, String)],
        ctx: &Context,
    ) -> Outcome {
        let quarantine = self
            .settings
            .quarantine_prefix
            .as_deref()
            .filter(|_| head.size < MAX_COPY_BYTES);
        if verdict.is_err() {
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
            kind: if verdict.is_ok() {
                "upload.verified"
            } else {
                "upload.rejected"
            },
            timestamp: r.event_time.clone().unwrap_or_else(|| {
                chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
            }),
            data,
        };
        let id = webhook::message_id(&r.bucket, &r.key, etag);
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
            if verdict.is_ok() {
                "upload verified"
            } else {
                "upload rejected"
            },
            &[
                ("key", r.key.clone().into()),
                ("size", head.size.into()),
                ("reason", reason.clone().into()),
                ("webhookId", id.into()),
            ],
        );
        if verdict.is_ok() {
            if matches!(self.notify, Notify::Post(_)) {
                let mut t = tags.to_vec();
                if tag(&t, TAG_STATUS).is_none() {
                    t = vec![
                        (TAG_STATUS.to_owned(), "verified".to_owned()),
                        (
                            TAG_SNIFFED.to_owned(),
                            tag_value(message.data.sniffed_type.as_deref().unwrap_or("")),
                        ),
                    ];
                }
                t.retain(|(k, _)| k != TAG_NOTIFIED);
                t.push((TAG_NOTIFIED.to_owned(), "1".to_owned()));
                match self.objects.put_tags(creds, &r.key, &t).await {
                    Ok(()) | Err(OssFailure::Gone) => {}
                    Err(e) => return transient(e),
                }
            }
            return Outcome::Verified;
        }
        if let Some(q) = quarantine {
            let dst = format!("{q}{}", r.key);
            let qtags = vec![
                (TAG_STATUS.to_owned(), "rejected".to_owned()),
                (TAG_REASON.to_owned(), reason.clone()),
            ];
            match self.objects.copy(creds, &r.key, &dst, etag, &qtags).await {
                Ok(()) => {}
                Err(OssFailure::Gone) => return Outcome::Stale,
                Err(e) => return transient(e),
            }
        }
        match self.objects.delete(creds, &r.key).await {
            Ok(()) => Outcome::Rejected,
            Err(e) => transient(e),
        }
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
