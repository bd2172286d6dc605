//! The key-safe encoding of a user id as one object-key segment, and its inverse.

use super::AuthError;

/// The longest user id accepted, in UTF-8 bytes. Encoded, it is at most three
/// times longer (384 bytes), well inside OSS's 1023-byte key limit together
/// with `UPLOAD_PREFIX` (≤ 512) and a file name.
pub const MAX_USER_ID_BYTES: usize = 128;

/// Encodes a user id as one object-key path segment, so each user's uploads
/// live under `<UPLOAD_PREFIX><segment>/` and a RAM session policy can grant
/// exactly that prefix.
///
/// The encoding is fixed and part of the storage layout (changing it moves
/// every user's files):
///
/// - `A-Z a-z 0-9 - _` are kept as they are;
/// - every other UTF-8 byte, `.` included, becomes `.` followed by two
///   uppercase hex digits (`/` → `.2F`, `.` → `.2E`, `é` → `.C3.A9`).
///
/// Because `.` appears only as an escape introducer followed by exactly two
/// hex digits, the encoding is injective (two different ids never share a
/// prefix), and the result never contains `/`, is never `.` or `..`, and never
/// contains a RAM-policy wildcard or variable character (`*`, `?`, `$`).
///
/// Ids that are empty or longer than [`MAX_USER_ID_BYTES`] bytes are refused
/// with [`AuthError::Forbidden`]: the token is valid but names no usable user.
pub fn user_prefix_segment(user_id: &str) -> Result<String, AuthError> {
    if user_id.is_empty() {
        return Err(AuthError::Forbidden("user id is empty"));
    }
    if user_id.len() > MAX_USER_ID_BYTES {
        return Err(AuthError::Forbidden("user id is longer than 128 bytes"));
    }
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut out = String::with_capacity(user_id.len() * 3);
    for &b in user_id.as_bytes() {
        if b.is_ascii_alphanumeric() || b == b'-' || b == b'_' {
            out.push(char::from(b));
        } else {
            out.push('.');
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 0x0F)]));
        }
    }
    Ok(out)
}

/// The user id a key segment encodes (inverse of
/// [`user_prefix_segment`]); `None` when the segment is not one
/// that encoding produces.
pub fn user_from_segment(segment: &str) -> Option<String> {
    let b = segment.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'.' {
            let hex = segment.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    let user = String::from_utf8(out).ok()?;
    // Only the canonical encoding counts (uppercase hex, nothing escaped needlessly).
    (user_prefix_segment(&user).ok()? == segment).then_some(user)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seg(s: &str) -> String {
        user_prefix_segment(s).unwrap()
    }

    /// Inverse of the encoding, to prove injectivity by round trip.
    fn decode(s: &str) -> Vec<u8> {
        let b = s.as_bytes();
        let mut out = Vec::new();
        let mut i = 0;
        while i < b.len() {
            if b[i] == b'.' {
                let hex = std::str::from_utf8(&b[i + 1..i + 3]).unwrap();
                out.push(u8::from_str_radix(hex, 16).unwrap());
                i += 3;
            } else {
                out.push(b[i]);
                i += 1;
            }
        }
        out
    }

    fn assert_safe(s: &str) {
        assert!(!s.is_empty());
        assert_ne!(s, ".");
        assert_ne!(s, "..");
        assert!(
            s.bytes()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.')),
            "{s:?}"
        );
    }

    #[test]
    fn plain_ids_are_kept() {
        assert_eq!(seg("user-42_A"), "user-42_A");
        assert_eq!(seg("12345"), "12345");
    }

    #[test]
    fn path_tricks_are_neutralised() {
        assert_eq!(seg("../x"), ".2E.2E.2Fx");
        assert_eq!(seg("a/b"), "a.2Fb");
        assert_eq!(seg("%2e%2e"), ".252e.252e");
        assert_eq!(seg("."), ".2E");
        assert_eq!(seg(".."), ".2E.2E");
        assert_eq!(seg("a\0b"), "a.00b");
        assert_eq!(seg("*"), ".2A");
        assert_eq!(seg("${acs:x}"), ".24.7Bacs.3Ax.7D");
        assert_eq!(seg("a b\\c"), "a.20b.5Cc");
        for s in [
            "../x", "a/b", "%2e%2e", ".", "..", "a\0b", "*?$", "\u{202e}",
        ] {
            assert_safe(&seg(s));
        }
    }

    #[test]
    fn unicode_is_hex_escaped_per_byte() {
        assert_eq!(seg("é"), ".C3.A9");
        assert_eq!(seg("用户"), ".E7.94.A8.E6.88.B7");
        assert_eq!(decode(&seg("用户/../x")), "用户/../x".as_bytes());
    }

    #[test]
    fn injective_on_tricky_pairs() {
        let pairs = [
            ("a.2Fb", "a/b"),
            (".", ".2E"),
            ("a_b", "a-b"),
            ("A", "a"),
            ("%2F", "/"),
            ("a.", "a.2E"),
            (".2E", "..2E"),
        ];
        for (x, y) in pairs {
            assert_ne!(seg(x), seg(y), "{x:?} and {y:?} collide");
            assert_eq!(decode(&seg(x)), x.as_bytes());
            assert_eq!(decode(&seg(y)), y.as_bytes());
        }
    }

    #[test]
    fn length_limits() {
        assert_eq!(
            user_prefix_segment(""),
            Err(AuthError::Forbidden("user id is empty"))
        );
        let max = "x".repeat(MAX_USER_ID_BYTES);
        assert_eq!(seg(&max), max);
        let over = "x".repeat(MAX_USER_ID_BYTES + 1);
        assert_eq!(user_prefix_segment(&over).unwrap_err().status(), 403);
        // 43 three-byte characters are 129 bytes: the limit is on bytes.
        assert!(user_prefix_segment(&"用".repeat(43)).is_err());
        assert_eq!(seg(&"用".repeat(42)).len(), 42 * 9);
    }

    #[test]
    fn canonical_segments_decode_and_others_do_not() {
        assert_eq!(
            user_from_segment("alice.40example.2Ecom").as_deref(),
            Some("alice@example.com")
        );
        // Lowercase hex, a needless escape, a cut escape, not UTF-8, empty.
        for bad in [
            "alice.40example.2ecom",
            ".61lice",
            "a.4",
            "a.",
            ".FF",
            "",
            "~anonymous",
        ] {
            assert_eq!(user_from_segment(bad), None, "{bad:?}");
        }
    }

    proptest::proptest! {
        /// Every usable user id comes back from its segment unchanged.
        #[test]
        fn user_round_trips_through_its_segment(user in "\\PC{1,40}|[ -~]{1,128}|.{1,10}") {
            let segment = user_prefix_segment(&user);
            proptest::prop_assert_eq!(segment.is_ok(), user.len() <= MAX_USER_ID_BYTES);
            if let Ok(segment) = segment {
                proptest::prop_assert_eq!(user_from_segment(&segment), Some(user));
            }
        }

        /// A string that decodes to a user is exactly that user's segment:
        /// no second spelling of a segment is accepted.
        #[test]
        fn segment_round_trips_through_its_user(segment in "[A-Za-z0-9._~-]{0,12}|(\\.[0-9A-Fa-f]{2}|[a-z-]){0,8}|\\PC{0,8}") {
            if let Some(user) = user_from_segment(&segment) {
                proptest::prop_assert_eq!(user_prefix_segment(&user).ok(), Some(segment));
            }
        }
    }
}
