//! Object keys are built here, by the server: `<prefix><random id>/<clean filename>`.
//!
//! A client never chooses a path. Its filename contributes only its last
//! segment, cleaned; anything that could escape the prefix or confuse a
//! reader (control characters, `.`/`..`, over-long names) is refused.

use super::error::ApiError;

/// OSS's limit on a key's length in UTF-8 bytes.
pub const MAX_KEY_BYTES: usize = 1023;
/// Longest filename segment kept, in UTF-8 bytes (common filesystem limit).
pub const MAX_FILENAME_BYTES: usize = 255;
/// Name used when the caller sends none.
pub const DEFAULT_FILENAME: &str = "file";

/// Cleans a client-supplied filename down to one safe path segment.
///
/// Percent-escapes are decoded first (so `%2e%2e%2f` is seen as `../`), then
/// only the last `/`- or `\`-separated segment is kept. Control characters
/// (including NUL), `.`/`..` and empty names are refused with 400.
pub fn clean_filename(raw: &str) -> Result<String, ApiError> {
    let decoded = percent_encoding::percent_decode_str(raw)
        .decode_utf8()
        .map_err(|_| ApiError::bad_param("filename is not valid UTF-8 once percent-decoded"))?;
    if decoded.chars().any(|c| c != '\\' && forbidden_key_char(c)) {
        return Err(ApiError::bad_param(
            "filename contains control or invisible formatting characters; send the plain file name",
        ));
    }
    let last = decoded
        .rsplit(['/', '\\'])
        .next()
        .unwrap_or_default()
        .trim();
    if last.is_empty() || last == "." || last == ".." {
        return Err(ApiError::bad_param(format!(
            "filename {:?} has no usable name; send the file's own name such as photo.jpg",
            raw.chars().take(64).collect::<String>()
        )));
    }
    if last.len() > MAX_FILENAME_BYTES {
        return Err(ApiError::bad_param(format!(
            "filename is longer than {MAX_FILENAME_BYTES} bytes"
        )));
    }
    Ok(last.to_owned())
}

/// Whether `c` may never appear in an object key: control characters (Cc),
/// format characters (Cf: bidi overrides such as U+202E, zero-width spaces,
/// the BOM) that make a name display as something it is not, and `\\`,
/// which some clients treat as a path separator.
pub fn forbidden_key_char(c: char) -> bool {
    use unicode_properties::{GeneralCategory, UnicodeGeneralCategory as _};
    c == '\\' || c.is_control() || c.general_category() == GeneralCategory::Format
}

/// A random, URL-safe id that makes each key unique (96 bits, hex).
pub fn random_id() -> String {
    use rand::Rng;
    let bytes: [u8; 12] = rand::thread_rng().gen();
    hex::encode(bytes)
}

/// Builds `<prefix><id>/<filename>`, refusing keys over OSS's 1023-byte limit.
pub fn build_key(prefix: &str, id: &str, filename: Option<&str>) -> Result<String, ApiError> {
    let name = match filename {
        Some(f) => clean_filename(f)?,
        None => DEFAULT_FILENAME.to_owned(),
    };
    let key = format!("{prefix}{id}/{name}");
    if key.len() > MAX_KEY_BYTES {
        return Err(ApiError::bad_param(format!(
            "the object key would be {} bytes, over OSS's {MAX_KEY_BYTES}; use a shorter filename",
            key.len()
        )));
    }
    Ok(key)
}

/// Checks a caller-supplied key (presigned GET, the status route, and every
/// uploaded key the event check sees, since STS-credential clients choose
/// their own keys): it must lie under `prefix` and contain no `.`/`..`
/// segment, empty segment or [`forbidden_key_char`], within OSS's length limit.
pub fn check_owned_key(prefix: &str, key: &str) -> Result<(), ApiError> {
    let forbidden = || {
        ApiError::new(
            403,
            "KeyOutsidePrefix",
            format!("key must lie under your upload prefix {prefix:?}"),
        )
    };
    let Some(rest) = key.strip_prefix(prefix) else {
        return Err(forbidden());
    };
    if rest.is_empty()
        || key.len() > MAX_KEY_BYTES
        || key.chars().any(forbidden_key_char)
        || rest
            .split('/')
            .any(|s| s.is_empty() || s == "." || s == "..")
    {
        return Err(ApiError::bad_param(
            "key is not a valid object key under your prefix",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_last_segment_only() {
        assert_eq!(clean_filename("photo.jpg").unwrap(), "photo.jpg");
        assert_eq!(clean_filename("../../etc/passwd").unwrap(), "passwd");
        assert_eq!(clean_filename("/abs/path/a.png").unwrap(), "a.png");
        assert_eq!(clean_filename("C:\\Users\\me\\a.png").unwrap(), "a.png");
        assert_eq!(clean_filename("%2e%2e%2fsecret.txt").unwrap(), "secret.txt");
        assert_eq!(
            clean_filename("résumé 2024 (1).pdf").unwrap(),
            "résumé 2024 (1).pdf"
        );
        assert_eq!(clean_filename("a+b%20c.txt").unwrap(), "a+b c.txt");
    }

    #[test]
    fn refuses_unusable_names() {
        for bad in [
            "..",
            ".",
            "",
            "a/..",
            "%2e%2e",
            "nul\0.txt",
            "tab\there",
            "gpj.\u{202e}exe",
            "zero\u{200b}width",
            "x/",
            "%ff%fe",
        ] {
            let e = clean_filename(bad).unwrap_err();
            assert_eq!(e.status, 400, "{bad:?}");
        }
        assert!(clean_filename(&"a".repeat(256)).is_err());
        assert!(clean_filename(&"a".repeat(255)).is_ok());
    }

    #[test]
    fn key_is_prefix_id_name() {
        let k = build_key("uploads/", "abc", Some("../x.png")).unwrap();
        assert_eq!(k, "uploads/abc/x.png");
        assert_eq!(
            build_key("uploads/", "abc", None).unwrap(),
            "uploads/abc/file"
        );
        let long_prefix = format!("{}/", "p".repeat(900));
        assert!(build_key(&long_prefix, "abc", Some(&"n".repeat(200))).is_err());
        assert_eq!(random_id().len(), 24);
        assert_ne!(random_id(), random_id());
    }

    #[test]
    fn owned_key_must_stay_under_prefix() {
        assert!(check_owned_key("uploads/u1/", "uploads/u1/abc/x.png").is_ok());
        assert_eq!(
            check_owned_key("uploads/u1/", "uploads/u2/abc/x.png")
                .unwrap_err()
                .status,
            403
        );
        assert_eq!(
            check_owned_key("uploads/u1/", "uploads/u1/../u2/x")
                .unwrap_err()
                .status,
            400
        );
        assert_eq!(
            check_owned_key("uploads/u1/", "uploads/u1/")
                .unwrap_err()
                .status,
            400
        );
        for bad in [
            "uploads/u1/a\\b",
            "uploads/u1/x\u{202e}gnp.exe",
            "uploads/u1/\u{feff}x",
        ] {
            assert_eq!(
                check_owned_key("uploads/u1/", bad).unwrap_err().status,
                400,
                "{bad:?}"
            );
        }
        assert_eq!(
            check_owned_key("uploads/u1/", "uploads/u1//x")
                .unwrap_err()
                .status,
            400
        );
    }
}
