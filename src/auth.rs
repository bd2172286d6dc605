//! Who the caller is. (Interim: the full module lands from branch wip-auth.)

use crate::config::AuthMode;

/// The authenticated caller.
pub struct Caller {
    /// `None` in anonymous mode.
    pub user_id: Option<String>,
}

/// Why a caller was refused.
pub enum AuthError {
    /// No credentials.
    Missing,
    /// Bad credentials.
    Invalid(&'static str),
    /// Valid credentials, but unusable.
    Forbidden(&'static str),
}

impl AuthError {
    /// HTTP status.
    pub fn status(&self) -> u16 {
        match self {
            AuthError::Forbidden(_) => 403,
            _ => 401,
        }
    }
    /// Error code.
    pub fn code(&self) -> &'static str {
        match self {
            AuthError::Missing => "Unauthorized",
            AuthError::Invalid(_) => "InvalidToken",
            AuthError::Forbidden(_) => "Forbidden",
        }
    }
    /// Message.
    pub fn message(&self) -> String {
        match self {
            AuthError::Missing => "authentication required".into(),
            AuthError::Invalid(r) | AuthError::Forbidden(r) => (*r).into(),
        }
    }
    /// `WWW-Authenticate`.
    pub fn www_authenticate(&self) -> Option<String> {
        None
    }
}

/// Authenticates callers.
pub struct Authenticator;

impl Authenticator {
    /// Builds it.
    pub fn from_config(mode: &AuthMode) -> Result<Authenticator, String> {
        match mode {
            AuthMode::Anonymous => Ok(Authenticator),
            _ => Err("only AUTH_MODE=anonymous is available in this build".into()),
        }
    }
    /// Authenticates.
    pub fn authenticate(&self, _headers: &http::HeaderMap, _now: i64) -> Result<Caller, AuthError> {
        Ok(Caller { user_id: None })
    }
}

/// Key-safe user id.
pub fn user_prefix_segment(user_id: &str) -> Result<String, AuthError> {
    Ok(user_id.to_owned())
}
