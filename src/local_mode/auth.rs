//! How `local` authenticates callers when the environment leaves it open:
//! [`LocalAuth`] (the default `AUTH_MODE`, why, and a development secret).

/// A non-empty environment variable.
pub(super) fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

/// How `local` authenticates callers when the environment leaves it open.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LocalAuth {
    /// `AUTH_MODE` unless the environment sets it.
    pub default_mode: &'static str,
    /// Why that default (for the banner).
    pub why: &'static str,
    /// The development `JWT_SECRET`, when `jwt` runs with no key set.
    pub dev_secret: Option<String>,
}

const JWT_KEYS: [&str; 4] = ["JWT_SECRET", "JWT_PUBLIC_KEY", "JWT_JWKS", "JWT_JWKS_URL"];

/// Whether a profile file has a profile only an authenticated caller can
/// use (`overwrite = "replace"`: one key per user). Unreadable files say
/// no; loading them later reports the problem.
pub fn profiles_need_users(path: &std::path::Path) -> bool {
    let Ok(text) = std::fs::read_to_string(path) else {
        return false;
    };
    let Ok(doc) = toml::from_str::<toml::Table>(&text) else {
        return false;
    };
    doc.get("profile")
        .and_then(|p| p.as_array())
        .is_some_and(|list| {
            list.iter()
                .any(|p| p.get("overwrite").and_then(|o| o.as_str()) == Some("replace"))
        })
}

/// Decides [`LocalAuth`] from the environment (through `get`), the profile file and
/// where the development secret may be kept.
pub fn local_auth(
    get: &dyn Fn(&str) -> Option<String>,
    profiles: Option<&std::path::Path>,
    data_dir: Option<&std::path::Path>,
) -> Result<LocalAuth, String> {
    let key_set = JWT_KEYS.iter().any(|k| get(k).is_some());
    let needs_users = profiles.is_some_and(profiles_need_users);
    let (default_mode, why) = if key_set {
        ("jwt", "a JWT key is set")
    } else if needs_users {
        ("jwt", "the profile file has a profile that needs a user")
    } else {
        ("anonymous", "local mode's default")
    };
    let mode = get("AUTH_MODE").unwrap_or_else(|| default_mode.to_owned());
    let dev_secret = if mode.trim().eq_ignore_ascii_case("jwt") && !key_set {
        Some(super::token::dev_secret(data_dir)?)
    } else {
        None
    };
    Ok(LocalAuth {
        default_mode,
        why,
        dev_secret,
    })
}
