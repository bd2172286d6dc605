//! Object tags as OSS allows them, and the `x-oss-tagging` header that sets them.
//!
//! The header comes with PutObject, InitiateMultipartUpload and CopyObject. The
//! function records its verdict on an uploaded object in tags, so the emulator
//! keeps them as OSS does: at most 10 per object, unique keys, key ≤ 128 and
//! value ≤ 256 characters of letters, digits, spaces and `+ - = . _ : /`.

use http::StatusCode;

use super::xml::OssError;

/// Most tags an object may carry.
const MAX_TAGS: usize = 10;

fn invalid_tag(message: &str) -> OssError {
    OssError::new(StatusCode::BAD_REQUEST, "InvalidTag", message)
}

fn allowed(c: char) -> bool {
    c.is_alphanumeric() || matches!(c, ' ' | '+' | '-' | '=' | '.' | '_' | ':' | '/')
}

/// Checks a tag set against OSS's rules.
pub(super) fn validate(tags: &[(String, String)]) -> Result<(), OssError> {
    if tags.len() > MAX_TAGS {
        return Err(invalid_tag("An object can have at most 10 tags."));
    }
    for (i, (k, v)) in tags.iter().enumerate() {
        if k.is_empty() || k.chars().count() > 128 {
            return Err(invalid_tag("A tag key must be 1 to 128 characters long."));
        }
        if v.chars().count() > 256 {
            return Err(invalid_tag(
                "A tag value must be at most 256 characters long.",
            ));
        }
        if !k.chars().all(allowed) || !v.chars().all(allowed) {
            return Err(invalid_tag(
                "Tag keys and values may contain only letters, digits, spaces and + - = . _ : /",
            ));
        }
        if tags[..i].iter().any(|(other, _)| other == k) {
            return Err(invalid_tag("Tag keys must be unique."));
        }
    }
    Ok(())
}

/// Parses an `x-oss-tagging` header: `k1=v1&k2=v2`, each part URL-encoded.
pub(super) fn parse_header(v: &str) -> Result<Vec<(String, String)>, OssError> {
    let bad = || {
        OssError::invalid_argument("x-oss-tagging must be key1=value1&key2=value2, URL-encoded.")
            .with("ArgumentName", "x-oss-tagging")
            .with("ArgumentValue", v)
    };
    let dec = |s: &str| {
        percent_encoding::percent_decode_str(s)
            .decode_utf8()
            .map(|c| c.into_owned())
            .map_err(|_| bad())
    };
    let mut tags = Vec::new();
    for pair in v.split('&').filter(|p| !p.is_empty()) {
        let (k, val) = match pair.split_once('=') {
            Some((_, rest)) if rest.contains('=') => return Err(bad()),
            Some((k, val)) => (k, val),
            None => (pair, ""),
        };
        tags.push((dec(k)?, dec(val)?));
    }
    validate(&tags)?;
    Ok(tags)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_form() {
        let t = parse_header("verdict=ok&sniffed=image%2Fpng&empty").unwrap();
        assert_eq!(
            t,
            vec![
                ("verdict".into(), "ok".into()),
                ("sniffed".into(), "image/png".into()),
                ("empty".into(), "".into())
            ]
        );
        assert_eq!(
            parse_header("aa=bb=cc").unwrap_err().code,
            "InvalidArgument"
        );
        assert_eq!(parse_header("a=1&a=2").unwrap_err().code, "InvalidTag");
        assert_eq!(parse_header("a=%3C").unwrap_err().code, "InvalidTag");
        assert!(validate(&[("k".repeat(129), String::new())]).is_err());
        assert!(validate(&[("k".into(), "v".repeat(257))]).is_err());
    }
}
