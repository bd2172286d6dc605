//! Percent-encoding as OSS signs it.
//!
//! OSS V4 (and the query strings every official SDK emits, V1 included) leave only the
//! RFC 3986 unreserved set `A-Z a-z 0-9 - _ . ~` as is and write every other byte of the
//! UTF-8 text as uppercase `%XX`. Space is `%20`, never `+`. One function for the whole
//! crate means the URL we hand out and the string we sign can never disagree.

/// Bytes that pass through [`uri_encode`] unchanged (RFC 3986 unreserved), as a
/// table: this runs over every signed URL's security token, hundreds of bytes.
const UNRESERVED: [bool; 256] = {
    let mut t = [false; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        t[b] = c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.' | b'~');
        b += 1;
    }
    t
};

/// Whether `b` passes through [`uri_encode`] unchanged (RFC 3986 unreserved).
fn is_unreserved(b: u8) -> bool {
    UNRESERVED[usize::from(b)]
}

/// Percent-encodes `s` by the OSS V4 rule: only `A-Za-z0-9-_.~` stay, everything else
/// (per UTF-8 byte) becomes uppercase `%XX`. With `keep_slash`, `/` is also kept, which
/// is the rule for the canonical URI and for object paths in URLs.
///
/// Why hand-rolled: `percent-encoding`'s sets are easy to get subtly wrong (e.g. `~`),
/// and this is the one function whose output gets signed.
pub fn uri_encode(s: &str, keep_slash: bool) -> String {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len() + bytes.len() / 2);
    let mut run_start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        if is_unreserved(b) || (keep_slash && b == b'/') {
            continue;
        }
        // Copy the run of bytes that pass through in one go, then escape this one.
        out.extend_from_slice(&bytes[run_start..i]);
        out.extend_from_slice(&[b'%', HEX[usize::from(b >> 4)], HEX[usize::from(b & 0x0f)]]);
        run_start = i + 1;
    }
    out.extend_from_slice(&bytes[run_start..]);
    // Only ASCII bytes were pushed, so this always succeeds; this runs on every
    // signed URL (the security token alone is hundreds of bytes).
    String::from_utf8(out).unwrap_or_default()
}

/// Builds a URL query string from unencoded pairs, keeping their order: each key and
/// value is [`uri_encode`]d (so `/` in a value becomes `%2F`), pairs are joined by `&`,
/// and a pair with an empty value is written as the bare key, as oss2 and
/// alibabacloud-oss-v2 both emit it (e.g. `uploads`).
pub fn query_string(params: &[(String, String)]) -> String {
    let mut out = String::new();
    for (i, (k, v)) in params.iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        out.push_str(&uri_encode(k, false));
        if !v.is_empty() {
            out.push('=');
            out.push_str(&uri_encode(v, false));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unreserved_pass_through() {
        let s = "AZaz09-_.~";
        assert_eq!(uri_encode(s, false), s);
    }

    #[test]
    fn reserved_are_uppercase_hex() {
        assert_eq!(uri_encode("a b+c%/d", false), "a%20b%2Bc%25%2Fd");
        assert_eq!(uri_encode("a b+c%/d", true), "a%20b%2Bc%25/d");
        assert_eq!(uri_encode("|;=&*", false), "%7C%3B%3D%26%2A");
    }

    #[test]
    fn utf8_bytes_are_encoded() {
        assert_eq!(uri_encode("é中", false), "%C3%A9%E4%B8%AD");
    }

    #[test]
    fn v4_vector_canonical_uri() {
        // From the published V4 vector: key `1234+-/123/1.txt` in bucket `bucket`.
        assert_eq!(
            uri_encode("/bucket/1234+-/123/1.txt", true),
            "/bucket/1234%2B-/123/1.txt"
        );
    }

    #[test]
    fn query_string_order_and_empty_values() {
        let p = vec![
            ("x-oss-credential".to_string(), "ak/2023/r".to_string()),
            ("uploads".to_string(), String::new()),
            ("a b".to_string(), "c d".to_string()),
        ];
        assert_eq!(
            query_string(&p),
            "x-oss-credential=ak%2F2023%2Fr&uploads&a%20b=c%20d"
        );
        assert_eq!(query_string(&[]), "");
    }
}
