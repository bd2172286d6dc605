//! The object-key grammar: keys are built here, by the server
//! (`<prefix><random id>/<clean filename>`), and every key a caller or an
//! upload brings is checked against the same rules.
//!
//! A client never chooses a path. Its filename contributes only its last
//! segment, cleaned; anything that could escape the prefix or confuse a
//! reader (control characters, Unicode format characters such as the
//! right-to-left override that shows `evil\u{202E}gnp.exe` as `evilexe.png`,
//! line separators, `.`/`..`, over-long names) is refused.

use std::fmt;
use unicode_properties::{GeneralCategory, UnicodeGeneralCategory};

/// The user segment of a caller without a token, in a profile that admits
/// them while `AUTH_MODE` is `jwt` or `fc-jwt`. `~` is never produced by
/// [`crate::auth::user_prefix_segment`], so no user id can collide with it.
pub const ANONYMOUS_SEGMENT: &str = "~anonymous";

/// Why a filename or key is refused. The API answers [`KeyError::Invalid`]
/// with 400 `InvalidParameter` and [`KeyError::OutsidePrefix`] with 403
/// `KeyOutsidePrefix` (see [`KeyError::status`]; `api::error` maps each to its code); the
/// upload check records either as `KeyNotAllowed`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KeyError {
    /// The name or key is not usable: what is wrong and what to send instead.
    Invalid(String),
    /// The key does not lie under the caller's prefix.
    OutsidePrefix(String),
}

impl KeyError {
    /// The HTTP status the API answers with: 400 or 403.
    pub fn status(&self) -> u16 {
        match self {
            KeyError::Invalid(_) => 400,
            KeyError::OutsidePrefix(_) => 403,
        }
    }

    /// What is wrong, for people.
    pub fn message(&self) -> &str {
        match self {
            KeyError::Invalid(m) | KeyError::OutsidePrefix(m) => m,
        }
    }
}

impl fmt::Display for KeyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.message())
    }
}

impl std::error::Error for KeyError {}

/// OSS's limit on a key's length in UTF-8 bytes.
pub const MAX_KEY_BYTES: usize = 1023;
/// Longest filename segment kept, in UTF-8 bytes (common filesystem limit).
pub const MAX_FILENAME_BYTES: usize = 255;
/// Name used when the caller sends none.
pub const DEFAULT_FILENAME: &str = "file";

/// Whether `c` may not appear in an object key the function builds or
/// accepts: control characters (Cc, NUL and line feed included), format
/// characters (Cf: bidi overrides and isolates, zero-width joiners, BOM,
/// soft hyphen) and the line and paragraph separators (Zl, Zp). They either
/// break log lines and headers or make a name read differently from what
/// it is.
pub fn is_unsafe_key_char(c: char) -> bool {
    c.is_control()
        || matches!(
            c.general_category(),
            GeneralCategory::Control
                | GeneralCategory::Format
                | GeneralCategory::LineSeparator
                | GeneralCategory::ParagraphSeparator
        )
}

/// Cleans a client-supplied filename down to one safe path segment.
///
/// The name arrives decoded exactly once (query parameters by
/// the API's query parser, JSON strings as they are), so `%2e%2e%2f` stays those
/// nine literal characters. Only the last `/`- or `\`-separated segment is
/// kept. Control, format and line-separator characters (see
/// [`is_unsafe_key_char`]), `.`/`..` and empty names are refused with 400.
pub fn clean_filename(raw: &str) -> Result<String, KeyError> {
    if raw.chars().any(is_unsafe_key_char) {
        return Err(KeyError::Invalid(
            "filename contains control or invisible formatting characters (such as a right-to-left override); send the plain file name"
                .into(),
        ));
    }
    let last = raw.rsplit(['/', '\\']).next().unwrap_or_default().trim();
    if last.is_empty() || last == "." || last == ".." {
        return Err(KeyError::Invalid(format!(
            "filename {:?} has no usable name; send the file's own name such as photo.jpg",
            raw.chars().take(64).collect::<String>()
        )));
    }
    if last.len() > MAX_FILENAME_BYTES {
        return Err(KeyError::Invalid(format!(
            "filename is longer than {MAX_FILENAME_BYTES} bytes"
        )));
    }
    Ok(last.to_owned())
}

/// A random, URL-safe id that makes each key unique (96 bits, hex).
pub fn random_id() -> String {
    use rand::Rng;
    let bytes: [u8; 12] = rand::thread_rng().gen();
    hex::encode(bytes)
}

/// Builds `<prefix><id>/<filename>`, refusing keys over OSS's 1023-byte limit.
pub fn build_key(prefix: &str, id: &str, filename: Option<&str>) -> Result<String, KeyError> {
    let name = match filename {
        Some(f) => clean_filename(f)?,
        None => DEFAULT_FILENAME.to_owned(),
    };
    let key = format!("{prefix}{id}/{name}");
    if key.chars().any(is_unsafe_key_char) {
        // Prefix and id come from config and us; checked anyway, since the
        // key is what gets signed.
        return Err(KeyError::Invalid(
            "the object key would contain control or formatting characters".into(),
        ));
    }
    if key.len() > MAX_KEY_BYTES {
        return Err(KeyError::Invalid(format!(
            "the object key would be {} bytes, over OSS's {MAX_KEY_BYTES}; use a shorter filename",
            key.len()
        )));
    }
    Ok(key)
}

/// Checks a caller-supplied key (presigned GET): it must lie under `prefix`
/// and contain no `.`/`..` segment, empty segment or control character.
pub fn check_owned_key(prefix: &str, key: &str) -> Result<(), KeyError> {
    let forbidden =
        || KeyError::OutsidePrefix(format!("key must lie under your upload prefix {prefix:?}"));
    let Some(rest) = key.strip_prefix(prefix) else {
        return Err(forbidden());
    };
    if rest.split('/').any(|s| s == "." || s == "..") {
        return Err(KeyError::Invalid(
            "key has a `.` or `..` path segment: no key the function issues has one, and the upload check removes such objects"
                .into(),
        ));
    }
    if rest.is_empty()
        || key.len() > MAX_KEY_BYTES
        || key.chars().any(is_unsafe_key_char)
        // Never in a key the function builds; some clients read it as a separator.
        || key.contains('\\')
        || rest.split('/').any(str::is_empty)
    {
        return Err(KeyError::Invalid(
            "key is not a valid object key under your prefix".into(),
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
        // Decoded once, by the caller: escapes left in the name are literal.
        assert_eq!(
            clean_filename("%2e%2e%2fsecret.txt").unwrap(),
            "%2e%2e%2fsecret.txt"
        );
        assert_eq!(
            clean_filename("résumé 2024 (1).pdf").unwrap(),
            "résumé 2024 (1).pdf"
        );
        assert_eq!(clean_filename("a+b%20c.txt").unwrap(), "a+b%20c.txt");
    }

    #[test]
    fn refuses_unusable_names() {
        for bad in [
            "..",
            ".",
            "",
            "a/..",
            "../..",
            "nul\0.txt",
            "tab\there",
            "line\nfeed.png",
            "x/",
            "evil\u{202E}gnp.exe",
            "a\u{2066}b.png",
            "zero\u{200B}width.png",
            "bom\u{FEFF}.png",
            "soft\u{AD}hyphen.png",
            "sep\u{2028}line.png",
            "para\u{2029}.png",
            "del\u{7F}.png",
            "c1\u{85}.png",
        ] {
            let e = clean_filename(bad).unwrap_err();
            assert_eq!(e.status(), 400, "{bad:?}");
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
                .status(),
            403
        );
        assert_eq!(
            check_owned_key("uploads/u1/", "uploads/u1/../u2/x")
                .unwrap_err()
                .status(),
            400
        );
        assert_eq!(
            check_owned_key("uploads/u1/", "uploads/u1/")
                .unwrap_err()
                .status(),
            400
        );
        assert_eq!(
            check_owned_key("uploads/u1/", "uploads/u1/abc/\u{202E}x")
                .unwrap_err()
                .status(),
            400
        );
        assert_eq!(
            check_owned_key("uploads/u1/", "uploads/u1//x")
                .unwrap_err()
                .status(),
            400
        );
        assert_eq!(
            check_owned_key("uploads/u1/", "uploads/u1/a\\b")
                .unwrap_err()
                .status(),
            400
        );
    }
}
