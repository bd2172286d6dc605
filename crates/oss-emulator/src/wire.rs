//! Reading and writing the wire's small pieces: a header or query parameter as
//! text, the two date formats OSS writes, and comparing a signature or token
//! from the wire in constant time.

use chrono::{DateTime, Utc};
use http::HeaderMap;
use subtle::ConstantTimeEq;

/// Whether a signature or token sent by a client equals the one expected
/// (either order), compared in constant time: only the lengths may leak.
pub(super) fn ct_eq(a: &str, b: &str) -> bool {
    a.as_bytes().ct_eq(b.as_bytes()).into()
}

/// An HTTP date (`Sun, 06 Nov 1994 08:49:37 GMT`) for a Unix time.
pub(super) fn http_date(t: i64) -> String {
    DateTime::<Utc>::from_timestamp(t, 0)
        .map(|d| d.format("%a, %d %b %Y %H:%M:%S GMT").to_string())
        .unwrap_or_default()
}

/// An ISO 8601 time with milliseconds (`2024-01-02T03:04:05.000Z`), as OSS
/// writes `LastModified` and the times in its errors.
pub(super) fn iso_date(t: i64) -> String {
    DateTime::<Utc>::from_timestamp(t, 0)
        .map(|d| d.format("%Y-%m-%dT%H:%M:%S.000Z").to_string())
        .unwrap_or_default()
}

/// A header's value as text; `None` when absent or not visible ASCII.
pub(super) fn header<'h>(h: &'h HeaderMap, name: &str) -> Option<&'h str> {
    h.get(name).and_then(|v| v.to_str().ok())
}

/// A decoded query (or form) parameter's value, the first if repeated.
pub(super) fn qget<'q>(q: &'q [(String, String)], name: &str) -> Option<&'q str> {
    q.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

/// Whether the query names `name` (with or without a value).
pub(super) fn qhas(q: &[(String, String)], name: &str) -> bool {
    q.iter().any(|(k, _)| k == name)
}
