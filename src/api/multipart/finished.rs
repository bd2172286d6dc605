//! A retried complete of an upload that already finished: OSS answers
//! `NoSuchUpload` (the upload id is spent once the object exists), while the
//! client, whose first complete outlived its connection or the FC timeout,
//! only wants the answer it missed.
//!
//! A shared store that remembered the first complete's answer (issue 16's
//! Redis, when one is configured) answers first, in front of [`answer`];
//! without one, the object itself does: HeadObject on the key with
//! `If-Match` the ETag OSS gives a multipart object made of exactly the
//! client's parts: the MD5 of the concatenated binary MD5s of the parts, in
//! part order, in uppercase hex, then `-` and the part count (what the
//! emulator computes and OSS returns, e.g. `"…D5-3"`). The same object:
//! the first complete's answer. Anything else (another object, none, a part
//! list that is not MD5s): `None`, and the retry gets OSS's 404 as before.

use super::steps::{Completed, Target};
use crate::api::admission::{Access, Scope};
use crate::api::broker::profile_credentials;
use crate::api::error::{ApiError, OssCall};
use crate::api::App;
use crate::oss::calls;
use crate::oss::client::OssError;
use crate::runtime::Context;
use chrono::Utc;
use md5::{Digest, Md5};

/// The ETag OSS gives an object completed from `parts` ((number, ETag),
/// in any order; ETags quoted or not): `None` when a part ETag is not an
/// MD5 (32 hex digits) or a number repeats.
pub(in crate::api) fn multipart_etag(parts: &[(u32, String)]) -> Option<String> {
    let mut sorted: Vec<&(u32, String)> = parts.iter().collect();
    sorted.sort_by_key(|(n, _)| *n);
    if sorted.is_empty() || sorted.windows(2).any(|w| w[0].0 == w[1].0) {
        return None;
    }
    let mut md5s = Vec::with_capacity(16 * sorted.len());
    for (_, etag) in sorted {
        let e = etag.trim().trim_matches('"');
        if e.len() != 32 {
            return None;
        }
        md5s.extend(hex::decode(e).ok()?);
    }
    Some(format!(
        "{}-{}",
        hex::encode_upper(Md5::digest(&md5s)),
        parts.len()
    ))
}

/// The first complete's answer, if the object at `t.key` is the one the
/// client's `parts` make; see the module docs.
pub(in crate::api) async fn answer(
    app: &App,
    ctx: &Context,
    scope: &Scope,
    t: &Target,
    parts: &[(u32, String)],
) -> Result<Option<Completed>, ApiError> {
    let Some(etag) = multipart_etag(parts) else {
        return Ok(None);
    };
    // HeadObject needs oss:GetObject: the read-back credentials, on the
    // caller's own prefix, used here and never handed out.
    let creds = profile_credentials(app, scope, Access::Read, ctx, Utc::now()).await?;
    let bucket = &app.config.bucket;
    let head =
        match calls::head_object(&app.oss, creds.for_key(&t.key)?, bucket, &t.key, &etag).await {
            Ok(h) => h,
            Err(OssError::Service {
                status: 404 | 412, ..
            }) => return Ok(None),
            Err(e) => return Err(ApiError::from_oss(OssCall::HeadObject, e)),
        };
    crate::log::info(
        Some(&ctx.request_id),
        "multipart upload already completed; answering the retry from the object",
        &[("key", t.key.clone().into()), ("etag", etag.clone().into())],
    );
    Ok(Some(Completed {
        location: app.endpoint.object_url(bucket, &t.key, &[]),
        etag: format!("\"{}\"", head.etag),
        size: head.size,
        parts: parts.len(),
    }))
}

#[cfg(test)]
mod tests {
    use super::multipart_etag;

    #[test]
    fn the_multipart_etag_is_the_md5_of_the_part_md5s_and_the_count() {
        // The parts "a" and "b" (their MD5s); the value itself is checked
        // against the emulator's ETag in tests/e2e/test_complete_retry.py.
        let a = ("0cc175b9c0f1b6a831c399e269772661".to_owned(), 1);
        let b = ("\"92EB5FFEE6AE2FEC3AD71C777531578F\"".to_owned(), 2);
        let e = multipart_etag(&[(b.1, b.0.clone()), (a.1, a.0.clone())]).unwrap();
        assert!(e.ends_with("-2") && e.len() == 34, "{e}");
        assert_eq!(
            Some(e.clone()),
            multipart_etag(&[(1, a.0.clone()), (2, b.0.clone())])
        );
        assert_ne!(
            Some(e),
            multipart_etag(&[(1, b.0.clone()), (2, a.0.clone())])
        );
        assert_eq!(multipart_etag(&[]), None);
        assert_eq!(multipart_etag(&[(1, "xyz".into())]), None);
        assert_eq!(multipart_etag(&[(1, a.0.clone()), (1, a.0)]), None);
    }
}
