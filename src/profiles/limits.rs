//! What a declared upload may be under a profile: its size against
//! `min_bytes..=max_bytes` and its content type against the profile's types,
//! with the one media-type normaliser every check uses. Checked before
//! anything is signed; the errors name the limit and say what to send.

use super::{Profile, DEFAULT_PROFILE};
use std::fmt;

/// Why a declared upload does not fit its profile.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LimitError {
    /// A declared size of 0.
    EmptySize,
    /// Over `max_bytes`.
    TooLarge {
        /// The declared size.
        size: u64,
        /// The profile's limit.
        max: u64,
        /// ` for profile "x"`, or empty for `default`.
        label: String,
    },
    /// Under `min_bytes`.
    TooSmall {
        /// The declared size.
        size: u64,
        /// The profile's minimum.
        min: u64,
        /// ` for profile "x"`, or empty for `default`.
        label: String,
    },
    /// Not a media type at all (no `/`, control characters).
    NotAMediaType(String),
    /// A media type the profile does not allow.
    TypeNotAllowed {
        /// The type's essence.
        essence: String,
        /// ` for profile "x"`, or empty for `default`.
        label: String,
        /// The profile's types, comma-separated.
        allowed: String,
    },
}

impl fmt::Display for LimitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LimitError::EmptySize => f.write_str("size must be at least 1 byte"),
            LimitError::TooLarge { size, max, label } => {
                write!(f, "size {size} is over the limit of {max} bytes{label}")
            }
            LimitError::TooSmall { size, min, label } => {
                write!(f, "size {size} is under the minimum of {min} bytes{label}")
            }
            LimitError::NotAMediaType(raw) => {
                write!(
                    f,
                    "contentType {raw:?} is not a media type such as image/png"
                )
            }
            LimitError::TypeNotAllowed {
                essence,
                label,
                allowed,
            } => write!(
                f,
                "contentType {essence:?} is not allowed{label}; allowed: {allowed}"
            ),
        }
    }
}

impl std::error::Error for LimitError {}

/// A media type's essence: lowercase, parameters dropped
/// (`Image/PNG; charset=x` → `image/png`).
pub fn media_type_essence(content_type: &str) -> String {
    content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase()
}

impl Profile {
    /// A declared size is at least one byte and within `min_bytes..=max_bytes`.
    pub fn check_size(&self, size: u64) -> Result<(), LimitError> {
        if size == 0 {
            Err(LimitError::EmptySize)
        } else if size > self.max_bytes {
            Err(LimitError::TooLarge {
                size,
                max: self.max_bytes,
                label: self.label(),
            })
        } else if size < self.min_bytes {
            Err(LimitError::TooSmall {
                size,
                min: self.min_bytes,
                label: self.label(),
            })
        } else {
            Ok(())
        }
    }

    /// The declared content type (`default` when none or blank), checked
    /// against the profile's types and returned as its essence, the form it
    /// is signed and pinned in, so the `Content-Type` a client sends matches
    /// a policy's `in` list.
    pub fn content_type(&self, raw: Option<&str>, default: &str) -> Result<String, LimitError> {
        let ct = raw
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .unwrap_or(default);
        let essence = media_type_essence(ct);
        if ct.chars().any(|c| c.is_control()) || !essence.contains('/') {
            return Err(LimitError::NotAMediaType(ct.chars().take(64).collect()));
        }
        if !self.content_type_allowed(&essence) {
            return Err(LimitError::TypeNotAllowed {
                essence,
                label: self.label(),
                allowed: self.content_types.join(", "),
            });
        }
        Ok(essence)
    }

    /// ` for profile "x"`, or nothing for `default` (messages stay as they
    /// were for deployments without profiles).
    fn label(&self) -> String {
        if self.name == DEFAULT_PROFILE {
            String::new()
        } else {
            format!(" for profile {:?}", self.name)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn profile(name: &str, types: &[&str]) -> Profile {
        Profile {
            name: name.to_owned(),
            prefix: "p/".to_owned(),
            content_types: types.iter().map(|t| (*t).to_owned()).collect(),
            min_bytes: 10,
            max_bytes: 100,
            methods: super::super::UploadMethod::ALL.to_vec(),
            url_ttl_secs: 600,
            token_ttl_secs: 900,
            anonymous: false,
            overwrite: super::super::Overwrite::Forbid,
            allow_object_types: Vec::new(),
        }
    }

    #[test]
    fn sizes_within_the_range_only() {
        let p = profile("default", &["*"]);
        assert_eq!(p.check_size(0), Err(LimitError::EmptySize));
        assert!(p.check_size(10).is_ok() && p.check_size(100).is_ok());
        assert!(matches!(p.check_size(9), Err(LimitError::TooSmall { .. })));
        let e = p.check_size(101).unwrap_err();
        assert_eq!(e.to_string(), "size 101 is over the limit of 100 bytes");
        let named = profile("avatars", &["*"]).check_size(101).unwrap_err();
        assert!(named.to_string().ends_with("for profile \"avatars\""));
    }

    #[test]
    fn content_types_are_normalised_then_checked() {
        let p = profile("default", &["image/png"]);
        assert_eq!(
            p.content_type(Some("Image/PNG; x=y"), "a/b").unwrap(),
            "image/png"
        );
        assert_eq!(
            p.content_type(Some("  "), "image/png").unwrap(),
            "image/png"
        );
        assert!(matches!(
            p.content_type(Some("text/html"), "a/b"),
            Err(LimitError::TypeNotAllowed { .. })
        ));
        for bad in ["png", "image/p\u{7}ng"] {
            assert!(matches!(
                p.content_type(Some(bad), "a/b"),
                Err(LimitError::NotAMediaType(_))
            ));
        }
        assert_eq!(media_type_essence("image/PNG; charset=x"), "image/png");
    }
}
