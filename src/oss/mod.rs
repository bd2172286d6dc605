//! Everything the function knows about OSS beyond signing (which is the
//! `alibaba_sign` crate's): where requests go, the multipart plan and its checks,
//! and the few OSS calls the function makes itself.
//!
//! - [`endpoint`]: where the signed request goes (virtual-hosted, path-style, CNAME).
//! - [`multipart`]: the part plan and the checks at complete (pure).
//! - [`client`]: signed requests sent with a bounded HTTP client, and [`xml`] to read
//!   OSS's answers.
//! - [`calls`]: every OSS call the function makes itself (the multipart steps and
//!   the upload check's), with their bodies in [`multipart_xml`] and [`tagging`].

pub mod calls;
pub mod client;
pub mod endpoint;
pub mod multipart;
pub mod multipart_xml;
pub mod tagging;
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
