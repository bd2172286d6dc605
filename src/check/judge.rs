//! One record from its event to a verdict (`UploadCheck::record_at`): the
//! version the event names (HeadObject `If-Match` its ETag, or GetSymlink
//! for a symlink), whether the profile allows its object type, a verdict
//! already in the tags or a new check, and the version found in its place
//! when it was replaced while it was being checked (`UploadCheck::moved_on`).
//! What follows the verdict (webhook, tags, delete) is [`super::verdict`].

use super::parse::{self, Record};
use super::verdict::{Bound, Status, Subject};
use super::{
    rules, transient, webhook, Notify, OssFailure, Outcome, Settled, UploadCheck, Verdict,
};
use crate::oss::calls::{self, ObjectHead};
use crate::oss::client::OssError;
use crate::profiles::{ObjectType, Profile};
use crate::runtime::Context;
use alibaba_sign::Credentials;
use std::sync::Arc;

impl UploadCheck {
    /// [`UploadCheck::record`], `depth` levels into [`UploadCheck::moved_on`].
    pub(super) async fn record_at(&self, r: &Record, ctx: &Context, depth: u8) -> Settled {
        if !r.is_upload() {
            return Outcome::Ignored("not an upload event").into();
        }
        if r.bucket != self.config.bucket {
            return Outcome::Ignored("another bucket").into();
        }
        let Some((profile, _)) = self.profiles.for_key(&r.key) else {
            return Outcome::Ignored("outside UPLOAD_PREFIX").into();
        };
        let profile = profile.clone();
        let Some(etag) = r.etag.as_deref().map(calls::normalize_etag) else {
            return Outcome::Ignored("the event carries no eTag").into();
        };
        let creds = match self.credentials(ctx).await {
            Ok(c) => c,
            Err(o) => return o.into(),
        };
        if r.event_name == parse::PUT_SYMLINK {
            return self.symlink(r, &profile, &creds, ctx, depth).await;
        }
        let bucket = &self.config.bucket;
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
                        return Box::pin(self.record_at(&again, ctx, depth)).await;
                    }
                    _ => return Outcome::Stale.into(),
                }
            }
            Err(e) => return transient(e).into(),
        };
        if ObjectType::parse(&head.object_type) == Some(ObjectType::Symlink) {
            // A symlink under another event's name (its target's ETag matched):
            // the link itself is what to judge.
            return self.symlink(r, &profile, &creds, ctx, depth).await;
        }
        self.judge(r, &profile, &creds, head, etag, ctx, depth)
            .await
    }

    /// A symlink at `r.key`. A PutSymlink event's `eTag` may be the link's
    /// own (GetSymlink's) while HeadObject shows the target's, so the link is
    /// read with GetSymlink: gone, or no longer a symlink, is stale (what
    /// replaced it has its own event). A symlink the profile does not allow
    /// is rejected as it stands (its bytes are another object's), bound to
    /// the link's own ETag; an allowed one is checked like an upload of its
    /// target's bytes, bound to the ETag HeadObject shows for it (the
    /// target's: a new target, or a target rewritten, is another version).
    async fn symlink(
        &self,
        r: &Record,
        profile: &Arc<Profile>,
        creds: &Credentials,
        ctx: &Context,
        depth: u8,
    ) -> Settled {
        let bucket = &self.config.bucket;
        let link_etag = match calls::get_symlink(&self.oss, creds, bucket, &r.key).await {
            Ok((etag, _target)) => etag,
            Err(OssError::Service { status: 400, .. }) => return Outcome::Stale.into(),
            Err(e) => match OssFailure::from(e) {
                OssFailure::Gone => return Outcome::Stale.into(),
                other => return transient(other).into(),
            },
        };
        if !profile.object_type_allowed(ObjectType::Symlink) {
            let head = ObjectHead {
                size: r.size.unwrap_or(0),
                content_type: r.mime_type.clone().unwrap_or_default(),
                etag: link_etag.clone(),
                object_type: ObjectType::Symlink.as_str().to_owned(),
            };
            return self
                .judge(r, profile, creds, head, link_etag, ctx, depth)
                .await;
        }
        match calls::head_current(&self.oss, creds, bucket, &r.key)
            .await
            .map_err(OssFailure::from)
        {
            Ok(head) => {
                let etag = head.etag.clone();
                self.judge(r, profile, creds, head, etag, ctx, depth).await
            }
            Err(OssFailure::Gone) => Outcome::Stale.into(),
            Err(e) => transient(e).into(),
        }
    }

    /// From the stored object's HeadObject on (version `etag`): an object
    /// type the profile does not allow is rejected at once
    /// ([`UploadCheck::reject_type`]); otherwise the verdict in the tags, or
    /// a new check. Every write that follows is bound to version `etag`.
    #[allow(clippy::too_many_arguments)]
    async fn judge(
        &self,
        r: &Record,
        profile: &Arc<Profile>,
        creds: &Credentials,
        mut head: ObjectHead,
        etag: String,
        ctx: &Context,
        depth: u8,
    ) -> Settled {
        // `x-oss-object-type` decides; the event's name only when OSS sent none.
        let typed = !head.object_type.is_empty();
        if !typed {
            head.object_type = match r.event_name.as_str() {
                parse::APPEND_OBJECT => ObjectType::Appendable.as_str(),
                parse::PUT_SYMLINK => ObjectType::Symlink.as_str(),
                _ => "",
            }
            .to_owned();
        }
        let kind = ObjectType::parse(&head.object_type);
        if let Some(kind) = kind.filter(|k| !profile.object_type_allowed(*k)) {
            let bound = match kind {
                ObjectType::Symlink => Bound::Link,
                ObjectType::Appendable if typed => Bound::Appendable,
                ObjectType::Appendable => Bound::Version,
            };
            let subject = Subject {
                creds,
                record: r,
                head: &head,
                etag: &etag,
                depth,
                bound,
            };
            return self.reject_type(&subject, profile, kind, ctx).await;
        }
        let bucket = &self.config.bucket;
        // A symlink's tags may be its target's, bound to the very ETag its
        // HeadObject shows (the target's), so they prove nothing about this
        // key; an appendable object is one version per append, each with its
        // own event. Both are judged afresh every time (one ranged GET).
        let tags = if kind.is_some() {
            Vec::new()
        } else {
            match calls::get_tags(&self.oss, creds, bucket, &r.key)
                .await
                .map_err(OssFailure::from)
            {
                Ok(t) => t,
                Err(OssFailure::Gone) => return Outcome::Stale.into(),
                Err(e) => return transient(e).into(),
            }
        };
        let mut data = self.data(r, profile, &head, &etag);
        let subject = Subject {
            creds,
            record: r,
            head: &head,
            etag: &etag,
            depth,
            bound: Bound::Version,
        };
        // A verdict counts only for the version it judged: tags are per key,
        // and a late tag write for an earlier version can sit on this one.
        let verdict = match Verdict::from_tags(&tags).filter(|v| v.judged(&etag)) {
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
                    return Outcome::Verified.into();
                }
                verdict
            }
            None => match self.check(&subject, profile, &mut data).await {
                Ok(v) => v,
                Err(o) => return o.into(),
            },
        };
        self.report(&subject, data, verdict, ctx).await
    }

    /// An object of a type the profile does not allow: rejected as it stands
    /// (its bytes are not read) and deleted, no tags read or written (a
    /// symlink's could be its target's, and the object is removed anyway).
    /// The re-reads before the webhook and the delete follow `s.bound`: for a
    /// symlink its own ETag (GetSymlink); for an appendable object its type,
    /// not its ETag, since each append makes a new ETag but keeps the type,
    /// and the type alone is the reason, so every later append of it
    /// deserves the same verdict (bound to the ETag, a client that kept
    /// appending would keep it alive, each check going stale at its re-read),
    /// while an object put in its place (Normal, Multipart, a symlink) is not
    /// deleted for it. When OSS named no type, the ETag binds after all.
    async fn reject_type(
        &self,
        s: &Subject<'_>,
        profile: &Profile,
        kind: ObjectType,
        ctx: &Context,
    ) -> Settled {
        let v = rules::object_type_not_allowed(kind);
        let mut data = self.data(s.record, profile, s.head, s.etag);
        data.reason = Some(webhook::Reason {
            code: v.code.to_owned(),
            message: v.message.clone(),
        });
        let verdict = Verdict::new(&Err(v), None, s.etag);
        self.report(s, data, verdict, ctx).await
    }

    /// The webhook's data for version `etag` of `r.key`, before any check.
    fn data(&self, r: &Record, profile: &Profile, head: &ObjectHead, etag: &str) -> webhook::Data {
        webhook::Data {
            bucket: r.bucket.clone(),
            key: r.key.clone(),
            size: head.size,
            etag: etag.to_owned(),
            declared_type: head.content_type.clone(),
            sniffed_type: None,
            user_id: rules::check_key(&self.config, profile, &r.key)
                .ok()
                .flatten(),
            reason: None,
            disposition: None,
        }
    }

    /// The version `s` names is gone after this check wrote (or may have
    /// written) its verdict tags. OSS has no conditional PutObjectTagging, so
    /// those tags may sit on the version that replaced it: never trusted
    /// there (they name another ETag), but they may have replaced that
    /// version's own verdict. So the version at the key now is judged once,
    /// here (its own event may come later, or may have come already). The
    /// record itself is stale whatever that check finds.
    pub(super) async fn moved_on(&self, s: &Subject<'_>, ctx: &Context) -> Settled {
        if s.depth > 0 {
            return Outcome::Stale.into();
        }
        let bucket = &self.config.bucket;
        let now = match calls::head_current(&self.oss, s.creds, bucket, &s.record.key).await {
            Ok(h) if !h.etag.is_empty() && h.etag != s.etag => h,
            _ => return Outcome::Stale.into(),
        };
        crate::log::info(
            Some(&ctx.request_id),
            "the object was replaced while it was being checked; checking the version now there",
            &[
                ("key", s.record.key.clone().into()),
                ("etag", s.etag.to_owned().into()),
                ("replacedBy", now.etag.clone().into()),
            ],
        );
        let mut next = s.record.clone();
        next.etag = Some(now.etag);
        next.size = Some(now.size);
        if next.event_name == parse::PUT_SYMLINK
            && ObjectType::parse(&now.object_type) != Some(ObjectType::Symlink)
        {
            // No symlink any more: judged as the upload it is (the event's
            // name would send it to GetSymlink, which finds no link).
            next.event_name = parse::PUT_OBJECT.to_owned();
        }
        let done = Box::pin(self.record_at(&next, ctx, s.depth + 1)).await;
        if let Outcome::Failed(why) = &done.outcome {
            // Its own event (or FC's retry of it) checks it; this record is settled.
            crate::log::warn(
                Some(&ctx.request_id),
                "checking the replacing version failed; its own event will check it",
                &[
                    ("key", s.record.key.clone().into()),
                    ("detail", why.clone().into()),
                ],
            );
        }
        Outcome::Stale.into()
    }
}
