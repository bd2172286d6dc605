//! OSS request signing: V1 (HMAC-SHA1) and V4 (OSS4-HMAC-SHA256) presigned URLs and POST policies.
//!
//! Everything here is a pure function: no I/O, no clock reads, no randomness. The caller
//! passes the time in, which is what makes every step testable against the published
//! vectors and against the official SDKs with a frozen clock (see `tests/sdk_crosscheck.rs`).
//!
//! The split mirrors the protocol steps so a signature mismatch can be localised:
//! - [`encode`]: the one percent-encoding rule both versions share.
//! - [`v1`]: canonical resource → string to sign → base64 HMAC-SHA1; presigned URL params.
//! - [`v4`]: canonical request → scope → string to sign → signing key → hex HMAC-SHA256.
//! - [`post_policy`]: the PostObject policy document and its V1/V4 form fields.
//! - [`endpoint`]: where the signed request goes (virtual-hosted, path-style, CNAME).
//! - [`client`]: the few OSS calls the function makes itself (signed request: pure;
//!   sending: bounded HTTP), and [`xml`] to read OSS's answers.

pub mod client;
pub mod encode;
pub mod endpoint;
pub mod multipart;
pub mod multipart_client;
pub mod multipart_xml;
pub mod post_policy;
pub mod v1;
pub mod v4;
pub mod xml;

/// A bucket name as OSS allows it: 3–63 of `a-z 0-9 -`, not starting or
/// ending with `-`. One rule for the config check, the session policy (a
/// bucket name lands in a RAM resource) and `local --bucket`.
pub fn valid_bucket_name(b: &str) -> bool {
    (3..=63).contains(&b.len())
        && b.bytes()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-')
        && !b.starts_with('-')
        && !b.ends_with('-')
}

/// What a presigned URL grants: one method on one object, with the headers and extra
/// query params the client must reproduce exactly.
///
/// Shared by [`v1::presign`] and [`v4::presign`] so callers can switch signature
/// versions without rebuilding their request description.
#[derive(Debug, Clone, Copy)]
pub struct PresignInput<'a> {
    /// HTTP method the URL is valid for (`PUT`, `GET`, ...). Signed, so the URL cannot
    /// be replayed with another method.
    pub method: &'a str,
    /// Bucket name (not the host).
    pub bucket: &'a str,
    /// Object key, raw (not percent-encoded).
    pub key: &'a str,
    /// Headers the client must send and that get signed: `content-type`,
    /// `content-md5`, `x-oss-forbid-overwrite`, `x-oss-meta-*`, ... Names are matched
    /// case-insensitively. Unsigned headers listed here are ignored by the signers.
    pub headers: &'a [(String, String)],
    /// Extra query params, unencoded, e.g. `response-content-type`. They go first in the
    /// URL, in the given order.
    pub query: &'a [(String, String)],
}

/// Case-insensitive header lookup; the first match wins. Shared by both signers because
/// HTTP header names are case-insensitive but our inputs are plain slices.
pub(crate) fn header_value<'h>(headers: &'h [(String, String)], name: &str) -> Option<&'h str> {
    headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

use hmac::Mac as _;

/// HMAC with any key length. `new_from_slice` cannot fail for HMAC (long keys are
/// hashed, short ones padded), but its signature is fallible; the fallback keeps the
/// code free of panics without an `unwrap`, and is never taken.
fn hmac_with<M: hmac::Mac + hmac::digest::KeyInit>(key: &[u8], msg: &[u8]) -> M {
    let mut mac = <M as hmac::digest::KeyInit>::new_from_slice(key)
        .unwrap_or_else(|_| <M as hmac::digest::KeyInit>::new(&Default::default()));
    mac.update(msg);
    mac
}

/// HMAC-SHA1 (V1 signatures and V1 POST policies).
pub(crate) fn hmac_sha1(key: &[u8], msg: &[u8]) -> [u8; 20] {
    hmac_with::<hmac::Hmac<sha1::Sha1>>(key, msg)
        .finalize()
        .into_bytes()
        .into()
}

/// HMAC-SHA256 (V4 signing-key derivation and signatures).
pub(crate) fn hmac_sha256(key: &[u8], msg: &[u8]) -> [u8; 32] {
    hmac_with::<hmac::Hmac<sha2::Sha256>>(key, msg)
        .finalize()
        .into_bytes()
        .into()
}

#[cfg(test)]
mod tests {
    use super::valid_bucket_name;

    #[test]
    fn bucket_names_follow_oss_rules() {
        for ok in ["abc", "my-bucket-1", &"a".repeat(63)] {
            assert!(valid_bucket_name(ok), "{ok}");
        }
        for bad in [
            "ab",
            "-abc",
            "abc-",
            "Abc",
            "a_b",
            "a.b",
            &"a".repeat(64),
            "a*b",
        ] {
            assert!(!valid_bucket_name(bad), "{bad}");
        }
    }
}
