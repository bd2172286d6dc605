//! What a declared upload may be: its content type against
//! `ALLOWED_CONTENT_TYPES` and its size against `MAX_UPLOAD_BYTES`, checked
//! before anything is signed. Every route that signs an upload asks here.

use super::error::{ApiError, ErrorCode};
use super::params::Params;
use super::App;
use crate::profiles::Profile;

impl App {
    /// The declared content type, checked against the profile's allowed
    /// types and normalised to its essence (`Image/PNG; x=y` → `image/png`).
    pub(super) fn content_type(
        profile: &Profile,
        params: &Params,
        default: &str,
    ) -> Result<String, ApiError> {
        let ct = params
            .content_type
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .unwrap_or(default);
        let essence = ct
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        if ct.chars().any(|c| c.is_control()) || !essence.contains('/') {
            return Err(ApiError::bad_param(format!(
                "contentType {:?} is not a media type such as image/png",
                ct.chars().take(64).collect::<String>()
            )));
        }
        if !profile.content_type_allowed(&essence) {
            return Err(ApiError::new(
                ErrorCode::ContentTypeNotAllowed,
                format!(
                    "contentType {essence:?} is not allowed{}; allowed: {}",
                    profile_label(profile),
                    profile.content_types.join(", ")
                ),
            ));
        }
        // Signed and pinned in its normal form (lowercase, no parameters), so
        // the Content-Type a client sends matches the policy's `in` list.
        Ok(essence)
    }

    /// A declared size, if any, is at least one byte and within the
    /// profile's `min_bytes..=max_bytes`.
    pub(super) fn check_size(profile: &Profile, params: &Params) -> Result<(), ApiError> {
        match params.size {
            Some(0) => Err(ApiError::bad_param("size must be at least 1 byte")),
            Some(n) if n > profile.max_bytes => Err(ApiError::new(
                ErrorCode::FileTooLarge,
                format!(
                    "size {n} is over the limit of {} bytes{}",
                    profile.max_bytes,
                    profile_label(profile)
                ),
            )),
            Some(n) if n < profile.min_bytes => Err(ApiError::new(
                ErrorCode::FileTooSmall,
                format!(
                    "size {n} is under the minimum of {} bytes{}",
                    profile.min_bytes,
                    profile_label(profile)
                ),
            )),
            _ => Ok(()),
        }
    }
}

/// ` for profile "x"`, or nothing for `default` (messages stay as before
/// for deployments without profiles).
fn profile_label(profile: &Profile) -> String {
    if profile.name == crate::profiles::DEFAULT_PROFILE {
        String::new()
    } else {
        format!(" for profile {:?}", profile.name)
    }
}
