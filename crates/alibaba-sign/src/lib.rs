//! Alibaba Cloud request signing, and nothing else: OSS V1 (HMAC-SHA1) and V4
//! (OSS4-HMAC-SHA256) presigned URLs and `Authorization` headers, PostObject policies,
//! and the POP (OpenAPI) signatures STS `AssumeRole` needs (RPC V1, ACS3-HMAC-SHA256).
//!
//! Everything here is a pure function: no I/O, no clock reads, no randomness. The
//! caller passes the time (and any nonce) in, which is what makes every step testable
//! against the published vectors and, with a frozen clock, against the official SDKs
//! (the function's `tests/sdk_crosscheck.rs`, `tests/multipart_crosscheck.rs`).
//! The function signs with it and the emulator (`oss-emulator`) verifies with it; the
//! SDK cross-checks are what catch a bug the two would share.
//!
//! The modules follow the protocol steps, so a signature mismatch can be localised:
//! - [`credentials`]: the AccessKey triple, redacted in `Debug`.
//! - [`encode`]: the one percent-encoding rule every scheme shares.
//! - [`oss_v1`]: canonical resource → string to sign → base64 HMAC-SHA1.
//! - [`oss_v4`]: canonical request → scope → string to sign → signing key → hex HMAC-SHA256.
//! - [`post_policy`]: the PostObject policy document and its V1/V4 form fields.
//! - [`acs`]: POP signing for STS (RPC V1 and ACS3).
#![warn(missing_docs)]

pub mod acs;
pub mod credentials;
pub mod encode;
pub mod oss_v1;
pub mod oss_v4;
pub mod post_policy;

pub use credentials::Credentials;

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
pub fn header_value<'h>(headers: &'h [(String, String)], name: &str) -> Option<&'h str> {
    headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

use hmac::Mac as _;

/// HMAC with any key length. `new_from_slice` cannot fail for HMAC (long keys are
/// hashed, short ones padded); its signature is fallible only because the trait also
/// serves fixed-key MACs. A silent fallback would sign with a wrong key, so the
/// invariant is stated loudly instead.
fn hmac_with<M: hmac::Mac + hmac::digest::KeyInit>(key: &[u8], msg: &[u8]) -> M {
    let mut mac =
        <M as hmac::digest::KeyInit>::new_from_slice(key).expect("HMAC takes a key of any length"); // ok: infallible for HMAC
    mac.update(msg);
    mac
}

/// HMAC-SHA1 (V1 signatures and V1 POST policies).
pub fn hmac_sha1(key: &[u8], msg: &[u8]) -> [u8; 20] {
    hmac_with::<hmac::Hmac<sha1::Sha1>>(key, msg)
        .finalize()
        .into_bytes()
        .into()
}

/// HMAC-SHA256 (V4 signing-key derivation and signatures).
pub fn hmac_sha256(key: &[u8], msg: &[u8]) -> [u8; 32] {
    hmac_with::<hmac::Hmac<sha2::Sha256>>(key, msg)
        .finalize()
        .into_bytes()
        .into()
}
