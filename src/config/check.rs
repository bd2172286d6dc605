//! The upload check's settings (webhook, quarantine, timeouts), read from
//! the environment next to [`Config`] by the same reader and validated the
//! same way (every problem named by variable, refused at start).

use super::{check_prefix, Config, ConfigErrors, Reader};
use std::fmt;
use std::time::Duration;

/// How uploads are checked and reported.
#[derive(Clone)]
pub struct CheckSettings {
    /// `WEBHOOK_URL`: where verdicts are POSTed; `None`: no webhook.
    pub webhook_url: Option<String>,
    /// `WEBHOOK_SECRET`: one or more `whsec_...` secrets, space-separated;
    /// each signs every message (rotation). Never logged.
    pub webhook_secrets: Vec<String>,
    /// `QUARANTINE_PREFIX`: rejected objects are moved here instead of deleted.
    pub quarantine_prefix: Option<String>,
    /// `WEBHOOK_TIMEOUT_MS`: one webhook attempt, connect to last byte
    /// (default [`DEFAULT_WEBHOOK_TIMEOUT_MS`], inside Standard Webhooks'
    /// recommended 15–30 s).
    pub webhook_timeout: Duration,
    /// `OSS_TIMEOUT_MS`: one OSS call of the check (default 3000).
    pub oss_timeout: Duration,
    /// `EVENT_TIMEOUT_MS`: one whole event, all its records (default
    /// [`DEFAULT_EVENT_TIMEOUT_MS`]; more than one webhook attempt plus one OSS
    /// call, refused otherwise). Keep it below the FC function's `timeout`,
    /// so an unfinished check fails cleanly and FC retries it rather than
    /// killing it.
    pub event_timeout: Duration,
}

impl fmt::Debug for CheckSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CheckSettings")
            .field("webhook_url", &self.webhook_url)
            .field("webhook_secrets", &self.webhook_secrets.len())
            .field("quarantine_prefix", &self.quarantine_prefix)
            .field("webhook_timeout", &self.webhook_timeout)
            .field("oss_timeout", &self.oss_timeout)
            .field("event_timeout", &self.event_timeout)
            .finish()
    }
}

/// Default `WEBHOOK_TIMEOUT_MS`: Standard Webhooks recommends "somewhere
/// between 15 and 30s" per attempt.
pub const DEFAULT_WEBHOOK_TIMEOUT_MS: u64 = 20_000;

/// Default `EVENT_TIMEOUT_MS`: a webhook attempt at its default limit plus the
/// check's OSS calls (a handful, each bounded by `OSS_TIMEOUT_MS`). The FC
/// function's `timeout` must be longer (s.yaml).
pub const DEFAULT_EVENT_TIMEOUT_MS: u64 = 40_000;

/// Whether `s` is a Standard Webhooks symmetric secret: `whsec_` and the
/// base64 of 24 to 64 random bytes (the spec's range).
pub fn valid_secret(s: &str) -> bool {
    use base64::Engine as _;
    s.strip_prefix("whsec_")
        .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
        .is_some_and(|k| (24..=64).contains(&k.len()))
}

impl CheckSettings {
    /// Reads the check's settings from the process environment.
    pub fn from_env(config: &Config) -> Result<Self, ConfigErrors> {
        Self::from_vars(&|n| std::env::var(n).ok(), config)
    }

    /// Reads and validates the check's settings through `get`.
    pub fn from_vars(
        get: &dyn Fn(&str) -> Option<String>,
        config: &Config,
    ) -> Result<Self, ConfigErrors> {
        let mut r = Reader::new(get);
        let webhook_url = r.opt("WEBHOOK_URL");
        if let Some(u) = &webhook_url {
            let ok = url::Url::parse(u).is_ok_and(|p| {
                matches!(p.scheme(), "https" | "http")
                    && p.host_str().is_some()
                    && p.username().is_empty()
                    && p.password().is_none()
            });
            if !ok {
                r.fail(
                    "WEBHOOK_URL",
                    "is not an http(s) URL, e.g. https://app.example.com/hooks/uploads",
                );
            }
        }
        let webhook_secrets: Vec<String> = r
            .opt("WEBHOOK_SECRET")
            .map(|v| v.split_whitespace().map(str::to_owned).collect())
            .unwrap_or_default();
        for (i, s) in webhook_secrets.iter().enumerate() {
            if !valid_secret(s) {
                // Never echo the value: it is a secret.
                r.fail(
                    "WEBHOOK_SECRET",
                    format!("secret #{} is not whsec_ followed by the base64 of 24-64 random bytes; generate one with: python3 -c 'import base64,os; print(\"whsec_\" + base64.b64encode(os.urandom(32)).decode())'", i + 1),
                );
            }
        }
        if webhook_url.is_some() && webhook_secrets.is_empty() {
            r.fail(
                "WEBHOOK_SECRET",
                "not set while WEBHOOK_URL is; an unsigned webhook could be forged by anyone, so set a whsec_... secret (the app verifies with it)",
            );
        }
        let quarantine_prefix = r.opt("QUARANTINE_PREFIX");
        if let Some(q) = &quarantine_prefix {
            if let Err(why) = check_prefix(q) {
                r.fail("QUARANTINE_PREFIX", why);
            } else if q.starts_with(&config.upload_prefix) || config.upload_prefix.starts_with(q) {
                r.fail(
                    "QUARANTINE_PREFIX",
                    format!("{q:?} overlaps UPLOAD_PREFIX {:?}; quarantined objects would trigger the check again and clients could write there; use a separate folder such as quarantine/", config.upload_prefix),
                );
            }
        }
        let webhook_timeout = r.millis("WEBHOOK_TIMEOUT_MS", DEFAULT_WEBHOOK_TIMEOUT_MS);
        let oss_timeout = r.millis("OSS_TIMEOUT_MS", 3_000);
        let event_timeout = r.millis("EVENT_TIMEOUT_MS", DEFAULT_EVENT_TIMEOUT_MS);
        if event_timeout <= webhook_timeout + oss_timeout {
            r.fail(
                "EVENT_TIMEOUT_MS",
                format!(
                    "{} ms leaves no room for one webhook attempt (WEBHOOK_TIMEOUT_MS {}) and the check's OSS calls (OSS_TIMEOUT_MS {} each); set it above {} ms and keep the FC function's timeout longer still",
                    event_timeout.as_millis(),
                    webhook_timeout.as_millis(),
                    oss_timeout.as_millis(),
                    (webhook_timeout + oss_timeout).as_millis()
                ),
            );
        }
        r.finish()?;
        Ok(CheckSettings {
            webhook_url,
            webhook_secrets,
            quarantine_prefix,
            webhook_timeout,
            oss_timeout,
            event_timeout,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> Config {
        Config::from_vars(&|n| match n {
            "OSS_BUCKET" => Some("b-1".into()),
            "OSS_REGION" => Some("cn-hangzhou".into()),
            "OSS_ROLE_ARN" => Some("acs:ram::123:role/up".into()),
            "AUTH_MODE" => Some("anonymous".into()),
            _ => None,
        })
        .unwrap()
    }

    fn read(vars: &[(&str, &str)]) -> Result<CheckSettings, ConfigErrors> {
        let owned: Vec<(String, String)> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        CheckSettings::from_vars(
            &move |n| owned.iter().find(|(k, _)| k == n).map(|(_, v)| v.clone()),
            &config(),
        )
    }

    const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

    #[test]
    fn webhook_needs_a_valid_secret_and_never_echoes_it() {
        let e = read(&[("WEBHOOK_URL", "https://app.example/h")]).unwrap_err();
        assert_eq!(e.0[0].variable, "WEBHOOK_SECRET");
        let e = read(&[
            ("WEBHOOK_URL", "https://a.example/h"),
            ("WEBHOOK_SECRET", "whsec_short"),
        ])
        .unwrap_err();
        assert!(!e.to_string().contains("whsec_short"), "{e}");
        let ok = read(&[
            ("WEBHOOK_URL", "https://a.example/h?x=1"),
            ("WEBHOOK_SECRET", &format!("{SECRET}  {SECRET}")),
        ])
        .unwrap();
        assert_eq!(ok.webhook_secrets.len(), 2);
        assert!(!format!("{ok:?}").contains("MfKQ"));
        assert!(read(&[("WEBHOOK_URL", "ftp://x/"), ("WEBHOOK_SECRET", SECRET)]).is_err());
    }

    #[test]
    fn quarantine_must_not_overlap_the_upload_prefix() {
        assert!(read(&[("QUARANTINE_PREFIX", "uploads/q/")]).is_err());
        assert!(read(&[("QUARANTINE_PREFIX", "quarantine")]).is_err());
        let ok = read(&[("QUARANTINE_PREFIX", "quarantine/")]).unwrap();
        assert_eq!(ok.quarantine_prefix.as_deref(), Some("quarantine/"));
        assert!(read(&[("OSS_TIMEOUT_MS", "5")]).is_err());
    }

    #[test]
    fn webhook_attempts_get_the_spec_s_15_to_30_seconds_inside_the_event_s_bound() {
        let d = read(&[]).unwrap();
        let spec = Duration::from_secs(15)..=Duration::from_secs(30);
        assert!(spec.contains(&d.webhook_timeout), "{:?}", d.webhook_timeout);
        assert!(d.event_timeout > d.webhook_timeout + 4 * d.oss_timeout);
        // A webhook attempt that cannot finish inside the event is refused at start.
        let e = read(&[
            ("WEBHOOK_TIMEOUT_MS", "30000"),
            ("EVENT_TIMEOUT_MS", "30000"),
        ])
        .unwrap_err();
        assert_eq!(e.0[0].variable, "EVENT_TIMEOUT_MS");
        assert!(read(&[
            ("WEBHOOK_TIMEOUT_MS", "30000"),
            ("EVENT_TIMEOUT_MS", "45000")
        ])
        .is_ok());
    }
}
