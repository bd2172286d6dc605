//! The optional shared-state settings (`STATE_REDIS_URL`, `STATE_KEY`,
//! `STATE_TIMEOUT_MS`), read with the rest of [`Config`](super::Config) by
//! the same reader. Unset `STATE_REDIS_URL`: no store, per-instance state only.

use super::Reader;
use std::fmt;
use std::time::Duration;

/// Where the shared state lives and how it is sealed.
#[derive(Clone, PartialEq, Eq)]
pub struct StateSettings {
    /// `STATE_REDIS_URL`: `redis://` or `rediss://` (TLS). May carry a
    /// password: never logged, never echoed in an error.
    pub url: String,
    /// `STATE_KEY`: the 32-byte AES-256-GCM key every value is sealed with.
    pub key: [u8; 32],
    /// `STATE_TIMEOUT_MS`: the most one store call may take (default 50).
    pub timeout: Duration,
}

impl fmt::Debug for StateSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StateSettings")
            .field("url", &redacted_url(&self.url))
            .field("key", &"<redacted>")
            .field("timeout", &self.timeout)
            .finish()
    }
}

/// `url` with any user name and password replaced by `***`, for messages.
pub fn redacted_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) => {
            if !u.username().is_empty() {
                let _ = u.set_username("***");
            }
            if u.password().is_some() {
                let _ = u.set_password(Some("***"));
            }
            u.to_string()
        }
        Err(_) => "<not a URL>".to_owned(),
    }
}

/// The default `STATE_TIMEOUT_MS`.
pub const DEFAULT_TIMEOUT_MS: u64 = 50;

const GENERATE: &str = "generate one with `openssl rand -base64 32` (or `head -c32 /dev/urandom | base64`) and set the same value on every instance";

/// Decodes a 32-byte key given as base64 (standard or URL-safe, padded or
/// not) or as 64 hex digits.
pub fn parse_key(v: &str) -> Option<[u8; 32]> {
    use base64::Engine as _;
    let v = v.trim();
    let bytes = if v.len() == 64 && v.bytes().all(|b| b.is_ascii_hexdigit()) {
        hex::decode(v).ok()?
    } else {
        let e = &base64::engine::general_purpose::STANDARD;
        let u = &base64::engine::general_purpose::URL_SAFE;
        let trimmed = v.trim_end_matches('=');
        e.decode(v)
            .or_else(|_| u.decode(v))
            .or_else(|_| base64::engine::general_purpose::STANDARD_NO_PAD.decode(trimmed))
            .or_else(|_| base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(trimmed))
            .ok()?
    };
    bytes.try_into().ok()
}

/// Reads the shared-state settings: `None` when `STATE_REDIS_URL` is unset.
pub(super) fn read(r: &mut Reader<'_>) -> Option<StateSettings> {
    let timeout_ms = r.number("STATE_TIMEOUT_MS", DEFAULT_TIMEOUT_MS, 5, 1000);
    let key_text = r.opt("STATE_KEY");
    let Some(url) = r.opt("STATE_REDIS_URL") else {
        if key_text.is_some() {
            r.fail(
                "STATE_KEY",
                "is set but STATE_REDIS_URL is not; set STATE_REDIS_URL (redis:// or rediss://) to share state, or unset STATE_KEY",
            );
        }
        return None;
    };
    let scheme_ok = url::Url::parse(&url).is_ok_and(|u| {
        matches!(u.scheme(), "redis" | "rediss") && u.host_str().is_some_and(|h| !h.is_empty())
    });
    if !scheme_ok {
        // Never echo the value: it may hold a password.
        r.fail(
            "STATE_REDIS_URL",
            "is not a redis:// or rediss:// URL with a host, e.g. redis://:password@r-bp1example.redis.rds.aliyuncs.com:6379/0",
        );
    }
    let key = match key_text {
        None => {
            r.fail(
                "STATE_KEY",
                format!("not set while STATE_REDIS_URL is; the store only ever holds sealed values, so it needs a 32-byte key (base64 or 64 hex digits): {GENERATE}"),
            );
            [0; 32]
        }
        Some(k) => parse_key(&k).unwrap_or_else(|| {
            // Never echo the value: it is a secret.
            r.fail(
                "STATE_KEY",
                format!("is not 32 bytes in base64 or 64 hex digits; {GENERATE}"),
            );
            [0; 32]
        }),
    };
    Some(StateSettings {
        url,
        key,
        timeout: Duration::from_millis(timeout_ms),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Config, ConfigErrors};

    fn with(extra: &[(&str, &str)]) -> Result<Config, ConfigErrors> {
        let mut pairs: Vec<(String, String)> = [
            ("OSS_BUCKET", "b-1"),
            ("OSS_REGION", "cn-hangzhou"),
            ("OSS_ROLE_ARN", "acs:ram::123:role/up"),
            ("AUTH_MODE", "anonymous"),
        ]
        .iter()
        .chain(extra)
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
        pairs.reverse();
        Config::from_vars(&move |n| pairs.iter().find(|(k, _)| k == n).map(|(_, v)| v.clone()))
    }

    const KEY_B64: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

    #[test]
    fn unset_means_no_store() {
        assert!(with(&[]).unwrap().state.is_none());
    }

    #[test]
    fn a_url_needs_a_key_and_says_how_to_make_one() {
        let e = with(&[("STATE_REDIS_URL", "redis://:pw-s3cret@127.0.0.1:6379")]).unwrap_err();
        let text = e.to_string();
        assert!(text.contains("STATE_KEY"), "{text}");
        assert!(text.contains("openssl rand -base64 32"), "{text}");
        assert!(!text.contains("pw-s3cret"), "{text}");
    }

    #[test]
    fn keys_in_base64_or_hex() {
        let hex_key = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
        for k in [KEY_B64, hex_key, KEY_B64.trim_end_matches('=')] {
            let c = with(&[
                ("STATE_REDIS_URL", "rediss://h.example:6380/0"),
                ("STATE_KEY", k),
            ])
            .unwrap();
            let s = c.state.unwrap();
            assert_eq!(s.key[31], 31);
            assert_eq!(s.timeout, Duration::from_millis(50));
            assert!(!format!("{s:?}").contains("AAEC"));
        }
        let e = with(&[
            ("STATE_REDIS_URL", "redis://h"),
            ("STATE_KEY", "c2hvcnQta2V5LXNlY3JldA=="),
        ])
        .unwrap_err();
        assert!(!e.to_string().contains("c2hvcnQ"), "{e}");
    }

    #[test]
    fn bad_urls_and_timeouts_are_refused_without_echo() {
        let e = with(&[
            ("STATE_REDIS_URL", "http://u:hunter22@h"),
            ("STATE_KEY", KEY_B64),
        ])
        .unwrap_err();
        assert_eq!(e.0[0].variable, "STATE_REDIS_URL");
        assert!(!e.to_string().contains("hunter22"));
        assert!(with(&[
            ("STATE_REDIS_URL", "redis://h"),
            ("STATE_KEY", KEY_B64),
            ("STATE_TIMEOUT_MS", "5000")
        ])
        .is_err());
        assert!(
            with(&[("STATE_KEY", KEY_B64)]).is_err(),
            "a key without a URL"
        );
    }

    #[test]
    fn redaction() {
        assert_eq!(
            redacted_url("redis://user:pw@h:1/0"),
            "redis://***:***@h:1/0"
        );
        assert_eq!(redacted_url("redis://h:1"), "redis://h:1");
    }
}
