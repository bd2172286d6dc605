//! The one environment reader: trimmed, non-empty values through a lookup,
//! with every problem collected by variable name ([`Config`](super::Config)
//! and the upload check's [`CheckSettings`](super::CheckSettings) both read
//! through it).

use super::{ConfigError, ConfigErrors};
use std::time::Duration;

/// Reads variables through a lookup (the process environment, or a map in
/// tests) and collects every problem, by variable, instead of stopping at the
/// first.
pub(crate) struct Reader<'a> {
    get: &'a dyn Fn(&str) -> Option<String>,
    errors: Vec<ConfigError>,
}

impl<'a> Reader<'a> {
    /// A reader over `get`, with no problem found yet.
    pub(crate) fn new(get: &'a dyn Fn(&str) -> Option<String>) -> Self {
        Reader {
            get,
            errors: Vec::new(),
        }
    }

    /// Every problem found, or `Ok` when there was none.
    pub(crate) fn finish(self) -> Result<(), ConfigErrors> {
        if self.errors.is_empty() {
            Ok(())
        } else {
            Err(ConfigErrors(self.errors))
        }
    }

    /// The value, trimmed; `None` when unset or blank.
    pub(crate) fn opt(&self, name: &str) -> Option<String> {
        (self.get)(name)
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
    }

    /// Records a problem with `variable`.
    pub(crate) fn fail(&mut self, variable: &'static str, message: impl Into<String>) {
        self.errors.push(ConfigError {
            variable,
            message: message.into(),
        });
    }

    /// A value that must be set; `what` says what to set it to.
    pub(crate) fn required(&mut self, name: &'static str, what: &str) -> String {
        match self.opt(name) {
            Some(v) => v,
            None => {
                self.fail(name, format!("not set; set it to {what}"));
                String::new()
            }
        }
    }

    /// `true`/`false` (also `1`/`0`, `yes`/`no`, `on`/`off`).
    pub(crate) fn flag(&mut self, name: &'static str, default: bool) -> bool {
        match self.opt(name).map(|v| v.to_ascii_lowercase()) {
            None => default,
            Some(v) => match v.as_str() {
                "1" | "true" | "yes" | "on" => true,
                "0" | "false" | "no" | "off" => false,
                _ => {
                    self.fail(name, format!("{v:?} is not true or false"));
                    default
                }
            },
        }
    }

    /// A whole number from `min` to `max`.
    pub(crate) fn number(&mut self, name: &'static str, default: u64, min: u64, max: u64) -> u64 {
        match self.opt(name) {
            None => default,
            Some(v) => match v.parse::<u64>() {
                Ok(n) if (min..=max).contains(&n) => n,
                _ => {
                    self.fail(
                        name,
                        format!("{v:?} is not a whole number from {min} to {max}; unset it for {default}"),
                    );
                    default
                }
            },
        }
    }

    /// A duration in whole milliseconds from 100 to 60000.
    pub(crate) fn millis(&mut self, name: &'static str, default: u64) -> Duration {
        match self.opt(name) {
            None => Duration::from_millis(default),
            Some(v) => match v.parse::<u64>() {
                Ok(n) if (100..=60_000).contains(&n) => Duration::from_millis(n),
                _ => {
                    self.fail(
                        name,
                        format!("{v:?} is not a whole number of milliseconds from 100 to 60000; unset it for {default}"),
                    );
                    Duration::from_millis(default)
                }
            },
        }
    }
}
