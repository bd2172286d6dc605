//! Percent-encoding as OSS signs it.
//!
//! OSS V4 (and the query strings every official SDK emits, V1 included) leave only the
//! RFC 3986 unreserved set `A-Z a-z 0-9 - _ . ~` as is and write every other byte of the
//! UTF-8 text as uppercase `%XX`. Space is `%20`, never `+`. One function for the whole
//! crate means the URL we hand out and the string we sign can never disagree.

use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

/// Every byte except the RFC 3986 unreserved set `A-Z a-z 0-9 - _ . ~`: the rule for
/// query names and values and for Alibaba Cloud POP (STS) parameters.
pub const COMPONENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// [`COMPONENT`] with `/` also kept: the rule for the canonical URI and object paths.
pub const PATH: &AsciiSet = &COMPONENT.remove(b'/');

/// Percent-encodes `s` by the OSS V4 rule: only `A-Za-z0-9-_.~` stay, everything else
/// (per UTF-8 byte) becomes uppercase `%XX`. With `keep_slash`, `/` is also kept, which
/// is the rule for the canonical URI and for object paths in URLs.
///
/// The sets are `percent-encoding`'s, named above; the unit tests below and the
/// published vectors pin them (`~` kept, space as `%20`, uppercase hex).
pub fn uri_encode(s: &str, keep_slash: bool) -> String {
    let set = if keep_slash { PATH } else { COMPONENT };
    // Runs of safe bytes come out as one slice each; pushing them straight
    // into a sized String skips `Display`'s formatter (this runs over every
    // signed URL's security token, hundreds of bytes).
    let mut out = String::with_capacity(s.len() + s.len() / 2);
    for chunk in utf8_percent_encode(s, set) {
        out.push_str(chunk);
    }
    out
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
