//! The one credential type every signer takes.

use std::fmt;

/// An AccessKey pair, with the STS security token when the pair is temporary.
///
/// `Debug` never prints the secret or the token, so a credential can sit in
/// any struct that gets logged without leaking.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    /// AccessKey id (`LTAI…` for a RAM user, `STS.…` for temporary credentials).
    pub access_key_id: String,
    /// AccessKey secret. Never logged.
    pub access_key_secret: String,
    /// STS security token, present for temporary credentials. Never logged.
    pub security_token: Option<String>,
}

impl Credentials {
    /// Builds credentials; an empty token counts as none.
    pub fn new(
        access_key_id: impl Into<String>,
        access_key_secret: impl Into<String>,
        security_token: Option<String>,
    ) -> Self {
        Credentials {
            access_key_id: access_key_id.into(),
            access_key_secret: access_key_secret.into(),
            security_token: security_token.filter(|t| !t.is_empty()),
        }
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("access_key_id", &self.access_key_id)
            .field("access_key_secret", &"<redacted>")
            .field(
                "security_token",
                &self.security_token.as_ref().map(|_| "<redacted>"),
            )
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_redacts_secret_and_token() {
        let c = Credentials::new("STS.id", "topsecret", Some("tok-xyz".into()));
        let s = format!("{c:?}");
        assert!(s.contains("STS.id"));
        assert!(!s.contains("topsecret"));
        assert!(!s.contains("tok-xyz"));
    }

    #[test]
    fn empty_token_is_none() {
        assert_eq!(
            Credentials::new("a", "b", Some(String::new())).security_token,
            None
        );
    }
}
