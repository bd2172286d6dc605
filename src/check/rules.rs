//! What an upload must be, as pure functions: the key grammar, the size
//! limit, the allowed types, and whether the bytes are what the declared type
//! says. No I/O; the caller fetches the first bytes and the stored metadata.

use crate::auth::user_from_segment;
use crate::config::{AuthMode, Config};
use crate::profiles::keys::{check_owned_key, ANONYMOUS_SEGMENT};
use crate::profiles::{ObjectType, Profile};

/// Why an upload is rejected. `code` goes in the webhook and the object's
/// tags (letters only, so it fits a tag value).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Violation {
    /// Stable machine-readable reason.
    pub code: &'static str,
    /// What was wrong, for people.
    pub message: String,
}

fn violation(code: &'static str, message: impl Into<String>) -> Violation {
    Violation {
        code,
        message: message.into(),
    }
}

/// The key grammar the function itself builds (see [`crate::profiles::keys`]),
/// applied to every uploaded key, because STS-credential clients choose their
/// own keys under their prefix: under the profile's prefix, and, with
/// authentication, in a user's folder (`<prefix><segment>/...`, or the
/// tokenless callers' folder of an anonymous profile). Returns the user id.
pub fn check_key(
    config: &Config,
    profile: &Profile,
    key: &str,
) -> Result<Option<String>, Violation> {
    check_owned_key(&profile.prefix, key).map_err(|e| violation("KeyNotAllowed", e.to_string()))?;
    if config.auth == AuthMode::Anonymous {
        return Ok(None);
    }
    let rest = &key[profile.prefix.len()..];
    match rest.split_once('/').map(|(segment, _)| segment) {
        Some(ANONYMOUS_SEGMENT) if profile.anonymous => Ok(None),
        Some(segment) => user_from_segment(segment).map(Some).ok_or_else(|| {
            violation(
                "KeyNotAllowed",
                "the key is not in a user's folder under the upload prefix",
            )
        }),
        None => Err(violation(
            "KeyNotAllowed",
            "the key is not in a user's folder under the upload prefix",
        )),
    }
}

/// An object of OSS type `kind` (AppendObject, PutSymlink) under a profile
/// that does not list it in `allow_object_types`.
pub fn object_type_not_allowed(kind: ObjectType) -> Violation {
    let why = match kind {
        ObjectType::Appendable => "it can grow after it was checked",
        ObjectType::Symlink => "its bytes are another object's",
    };
    violation(
        "ObjectTypeNotAllowed",
        format!(
            "the object is {} ({why}); the profile does not list it in allow_object_types",
            match kind {
                ObjectType::Appendable => "an appendable object (AppendObject)",
                ObjectType::Symlink => "a symlink (PutSymlink)",
            }
        ),
    )
}

/// `image/PNG; charset=x` → `image/png`.
pub fn normalize_type(content_type: &str) -> String {
    crate::profiles::limits::media_type_essence(content_type)
}

/// Bytes read from the start of each object to sniff its type: `infer` needs
/// up to ~6 KB past a zip's first entry to tell OOXML from a plain zip, and
/// finds a PDF header within the first 1024 bytes.
pub const SNIFF_BYTES: u64 = 8192;

/// The type `infer` recognises in the first bytes, if any.
pub fn sniff(head: &[u8]) -> Option<&'static str> {
    infer::get(head).map(|t| t.mime_type())
}

/// Types that are text: no magic bytes, checked as text instead.
fn is_text_type(t: &str) -> bool {
    t.starts_with("text/")
        || matches!(
            t,
            "application/json" | "application/xml" | "image/svg+xml" | "application/javascript"
        )
}

/// Sniffed types that a declared type may come back as, where formats have
/// two names or one container several names (the alias table).
fn aliases(declared: &str) -> &'static [&'static str] {
    match declared {
        "image/jpg" | "image/pjpeg" => &["image/jpeg"],
        // infer names every HEIF-family image (HEIC included) image/heif.
        "image/heic" | "image/heic-sequence" | "image/heif-sequence" => &["image/heif"],
        "video/mp4" => &["video/x-m4v"],
        "audio/mp4" | "audio/x-m4a" => &["audio/m4a"],
        "audio/mp3" => &["audio/mpeg"],
        "audio/wav" | "audio/wave" => &["audio/x-wav"],
        "image/x-icon" => &["image/vnd.microsoft.icon"],
        // A zip is also what these are made of.
        "application/zip" | "application/x-zip-compressed" => &[
            "application/zip",
            "application/epub+zip",
            "application/java-archive",
            "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            "application/vnd.openxmlformats-officedocument.presentationml.presentation",
            "application/vnd.oasis.opendocument.text",
            "application/vnd.oasis.opendocument.spreadsheet",
            "application/vnd.oasis.opendocument.presentation",
        ],
        "text/xml" | "application/xml" | "image/svg+xml" => &["text/xml"],
        _ => &[],
    }
}

/// Whether the first bytes of a text file look like text: no NUL, and valid
/// UTF-8 except perhaps a character cut at the end of the range read.
fn looks_like_text(head: &[u8], whole: bool) -> bool {
    if head.contains(&0) {
        return false;
    }
    match std::str::from_utf8(head) {
        Ok(_) => true,
        // `error_len() == None`: the bytes end inside a character, which is
        // what cutting a longer file at SNIFF_BYTES does.
        Err(e) => !whole && e.error_len().is_none() && head.len() - e.valid_up_to() < 4,
    }
}

/// Whether bytes sniffed as `sniffed` (or as nothing) agree with `declared`.
///
/// - `application/octet-stream` asserts nothing and agrees with any bytes;
/// - text types must look like text and must not sniff as another type
///   (HTML sent as `text/plain` is a mismatch);
/// - every other type must sniff as itself or an alias: a binary type whose
///   bytes sniff as nothing is a mismatch.
///
/// `whole` says `head` is the entire object (so a cut character is not excused).
pub fn check_type(declared: &str, head: &[u8], whole: bool) -> Result<(), Violation> {
    let sniffed = sniff(head);
    if declared == "application/octet-stream" {
        return Ok(());
    }
    let agrees = |s: &str| s == declared || aliases(declared).contains(&s);
    if is_text_type(declared) {
        return match sniffed {
            Some(s) if !agrees(s) => Err(violation(
                "TypeMismatch",
                format!("declared {declared} but the bytes are {s}"),
            )),
            _ if looks_like_text(head, whole) => Ok(()),
            _ => Err(violation(
                "TypeMismatch",
                format!("declared {declared} but the bytes are not text"),
            )),
        };
    }
    match sniffed {
        Some(s) if agrees(s) => Ok(()),
        Some(s) => Err(violation(
            "TypeMismatch",
            format!("declared {declared} but the bytes are {s}"),
        )),
        None => Err(violation(
            "TypeMismatch",
            format!("declared {declared} but the bytes are not a recognisable {declared} file"),
        )),
    }
}

/// The whole check of one stored object against its profile, given
/// HeadObject's size and Content-Type and the first
/// [`SNIFF_BYTES`] bytes.
pub fn check_object(
    profile: &Profile,
    size: u64,
    declared: &str,
    head: &[u8],
) -> Result<(), Violation> {
    if size > profile.max_bytes {
        return Err(violation(
            "TooLarge",
            format!(
                "{size} bytes is over the limit of {} bytes",
                profile.max_bytes
            ),
        ));
    }
    if size < profile.min_bytes {
        return Err(violation(
            "TooSmall",
            format!(
                "{size} bytes is under the minimum of {} bytes",
                profile.min_bytes
            ),
        ));
    }
    let declared = normalize_type(declared);
    if declared.is_empty() || !profile.content_type_allowed(&declared) {
        return Err(violation(
            "TypeNotAllowed",
            if declared.is_empty() {
                "declared no content type, which is not allowed here".to_owned()
            } else {
                format!(
                    "declared {declared}, not allowed in profile {:?}",
                    profile.name
                )
            },
        ));
    }
    if profile.any_content_type() {
        // `*`: nothing declared is claimed to be checked.
        return Ok(());
    }
    check_type(&declared, head, head.len() as u64 >= size)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(auth: &str, extra: &[(&str, &str)]) -> Config {
        let extra: Vec<(String, String)> = extra
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        let auth = auth.to_owned();
        Config::from_vars(&move |n| {
            extra
                .iter()
                .find(|(k, _)| k == n)
                .map(|(_, v)| v.clone())
                .or(match n {
                    "OSS_BUCKET" => Some("b-1".into()),
                    "OSS_REGION" => Some("cn-hangzhou".into()),
                    "OSS_ROLE_ARN" => Some("acs:ram::123:role/up".into()),
                    "AUTH_MODE" => Some(auth.clone()),
                    "JWT_SECRET" if auth == "jwt" => Some("x".repeat(32)),
                    _ => None,
                })
        })
        .unwrap()
    }

    #[test]
    fn keys_follow_the_grammar_the_function_builds() {
        let anon = config("anonymous", &[]);
        let p = Profile::from_config(&anon);
        assert_eq!(check_key(&anon, &p, "uploads/abc/x.png"), Ok(None));
        for bad in [
            "other/x.png",
            "uploads/../x",
            "uploads/a/./x",
            "uploads/a\\b",
            "uploads/a/\u{202e}gnp.exe",
            "uploads/a/\u{200b}x",
            "uploads/a/\u{7}x",
            "uploads/a//x",
        ] {
            assert_eq!(
                check_key(&anon, &p, bad).unwrap_err().code,
                "KeyNotAllowed",
                "{bad:?}"
            );
        }
        let long = format!("uploads/{}", "a".repeat(1100));
        assert!(check_key(&anon, &p, &long).is_err());
        let jwt = config("jwt", &[]);
        let mut p = Profile::from_config(&jwt);
        assert_eq!(
            check_key(&jwt, &p, "uploads/alice.40example.2Ecom/id/x.png"),
            Ok(Some("alice@example.com".into()))
        );
        // Not a canonical segment (lowercase hex, needless escape), or no folder.
        for bad in [
            "uploads/alice.40example.2ecom/x",
            "uploads/.61lice/x",
            "uploads/x.png",
        ] {
            assert!(check_key(&jwt, &p, bad).is_err(), "{bad}");
        }
        // The tokenless callers' folder counts only in an anonymous profile.
        assert!(check_key(&jwt, &p, "uploads/~anonymous/id/x.png").is_err());
        p.anonymous = true;
        assert_eq!(check_key(&jwt, &p, "uploads/~anonymous/id/x.png"), Ok(None));
    }

    const PNG: &[u8] = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01\x08\x06\0\0\0";

    #[test]
    fn declared_and_sniffed_must_agree() {
        assert_eq!(check_type("image/png", PNG, true), Ok(()));
        let html = b"<!DOCTYPE html><html><script>alert(1)</script></html>";
        assert_eq!(
            check_type("image/png", html, true).unwrap_err().code,
            "TypeMismatch"
        );
        assert_eq!(
            check_type("text/plain", html, true).unwrap_err().code,
            "TypeMismatch"
        );
        assert_eq!(
            check_type("image/jpeg", PNG, true).unwrap_err().code,
            "TypeMismatch"
        );
        // A binary type that sniffs as nothing is a mismatch.
        assert!(check_type("image/png", b"just words", true).is_err());
        assert!(check_type("application/pdf", b"", true).is_err());
        assert_eq!(check_type("text/plain", "héllo\n".as_bytes(), true), Ok(()));
        assert_eq!(check_type("text/plain", b"", true), Ok(()));
        assert!(check_type("text/plain", b"a\0b", true).is_err());
        // A character cut at the end of the range is fine, unless that was the whole file.
        let cut = &"é".as_bytes()[..1];
        assert_eq!(check_type("text/plain", cut, false), Ok(()));
        assert!(check_type("text/plain", cut, true).is_err());
        assert_eq!(check_type("application/octet-stream", html, true), Ok(()));
        assert_eq!(
            check_type("text/plain", PNG, true).unwrap_err().code,
            "TypeMismatch"
        );
    }

    #[test]
    fn size_and_type_limits() {
        let c = Profile::from_config(&config("anonymous", &[("MAX_UPLOAD_BYTES", "10")]));
        assert_eq!(
            check_object(&c, 11, "image/png", PNG).unwrap_err().code,
            "TooLarge"
        );
        assert_eq!(
            check_object(&c, 0, "text/plain", b"").unwrap_err().code,
            "TooSmall"
        );
        assert_eq!(
            check_object(&c, 10, "text/html", b"<p>").unwrap_err().code,
            "TypeNotAllowed"
        );
        assert_eq!(
            check_object(&c, 10, "", b"").unwrap_err().code,
            "TypeNotAllowed"
        );
        let c = Profile::from_config(&config("anonymous", &[]));
        assert_eq!(
            check_object(&c, PNG.len() as u64, "Image/PNG; x=y", PNG),
            Ok(())
        );
    }
}
