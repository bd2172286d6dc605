//! Small wire helpers: header and query values, HTTP and ISO dates, constant-time compare.

use std::time::{Duration, UNIX_EPOCH};

use chrono::{DateTime, Utc};
use http::HeaderMap;
use subtle::ConstantTimeEq;

/// Whether a signature or token sent by a client equals the one expected
/// (either order), compared in constant time: only the lengths may leak.
pub(super) fn ct_eq(a: &str, b: &str) -> bool {
    a.as_bytes().ct_eq(b.as_bytes()).into()
}

/// Last second an HTTP date can carry (9999-12-31T23:59:59Z).
const LAST_HTTP_SECOND: i64 = 253_402_300_799;

/// An HTTP date (IMF-fixdate, `Sun, 06 Nov 1994 08:49:37 GMT`) for a Unix
/// time; times outside 1970..=9999 are clamped to that range.
pub(super) fn http_date(t: i64) -> String {
    let secs = t.clamp(0, LAST_HTTP_SECOND).unsigned_abs();
    httpdate::fmt_http_date(UNIX_EPOCH + Duration::from_secs(secs))
}

/// Parses an HTTP date (IMF-fixdate, or the obsolete RFC 850 and asctime
/// forms HTTP recipients accept) to a Unix time.
pub(super) fn parse_http_date(v: &str) -> Option<i64> {
    let t = httpdate::parse_http_date(v.trim()).ok()?;
    let secs = t.duration_since(UNIX_EPOCH).ok()?.as_secs();
    i64::try_from(secs).ok()
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_dates_as_rfc_9110_writes_them() {
        // RFC 9110 §5.6.7: the preferred form and the two obsolete ones.
        assert_eq!(http_date(784_111_777), "Sun, 06 Nov 1994 08:49:37 GMT");
        for v in [
            "Sun, 06 Nov 1994 08:49:37 GMT",
            "Sunday, 06-Nov-94 08:49:37 GMT",
            "Sun Nov  6 08:49:37 1994",
        ] {
            assert_eq!(parse_http_date(v), Some(784_111_777), "{v}");
        }
        assert_eq!(parse_http_date("yesterday"), None);
        assert_eq!(http_date(-5), "Thu, 01 Jan 1970 00:00:00 GMT");
        assert_eq!(http_date(i64::MAX), "Fri, 31 Dec 9999 23:59:59 GMT");
        assert_eq!(iso_date(784_111_777), "1994-11-06T08:49:37.000Z");
    }
}
