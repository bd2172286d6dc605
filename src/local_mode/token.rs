//! Development tokens for `AUTH_MODE=jwt` (feature `local`, never in the
//! deployed binary): the development secret `local` makes when no key is
//! configured, HS256 tokens signed with it or with `JWT_SECRET`, and the
//! `oss-direct-upload token` command that prints one.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

/// Where `local` keeps its development secret inside `--data DIR`.
pub const DEV_SECRET_FILE: &str = "dev-jwt-secret";

const HELP: &str = "\
oss-direct-upload token: print an HS256 JWT for AUTH_MODE=jwt (local builds only)

USAGE:
    oss-direct-upload token --sub USER [--ttl 1h] [--data DIR]

OPTIONS:
    --sub USER     the user id (put in JWT_USER_CLAIM, default `sub`)
    --ttl T        lifetime: seconds, or a number with s, m, h or d (default 1h, at most 30d)
    --data DIR     where `local` keeps its development secret (default ./local-data)
    -h, --help     this help

The token is signed with JWT_SECRET, or, when JWT_SECRET is not set, with the
development secret `local` made in DIR. It carries JWT_ISSUER and JWT_AUDIENCE
when they are set, as the function requires.";

/// A random development secret: 48 letters and digits (above the 32-byte minimum).
pub fn new_dev_secret() -> String {
    use rand::Rng;
    const ALNUM: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = rand::thread_rng();
    (0..48)
        .map(|_| ALNUM[rng.gen_range(0..ALNUM.len())] as char)
        .collect()
}

/// The development secret kept in `dir` (made and saved there when absent),
/// or a fresh one that lives as long as the process when `dir` is `None`.
pub fn dev_secret(dir: Option<&Path>) -> Result<String, String> {
    let Some(dir) = dir else {
        return Ok(new_dev_secret());
    };
    let path = dir.join(DEV_SECRET_FILE);
    if let Ok(text) = std::fs::read_to_string(&path) {
        let s = text.trim();
        if s.len() >= 32 {
            return Ok(s.to_owned());
        }
    }
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let secret = new_dev_secret();
    std::fs::write(&path, &secret).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    Ok(secret)
}

/// The claims a token carries: the user id in `user_claim`, `iat`, `exp`,
/// and `iss` / `aud` when the function requires them.
pub struct Claims<'a> {
    /// The user id.
    pub user: &'a str,
    /// The claim the function reads it from (`JWT_USER_CLAIM`).
    pub user_claim: &'a str,
    /// `JWT_ISSUER`, if set.
    pub issuer: Option<&'a str>,
    /// `JWT_AUDIENCE`, if set.
    pub audience: Option<&'a str>,
    /// How long the token is valid.
    pub ttl: Duration,
}

/// An HS256 token for `claims`, signed with `secret`.
pub fn mint(secret: &str, claims: &Claims<'_>) -> Result<String, String> {
    let now = chrono::Utc::now().timestamp();
    let mut body = serde_json::Map::new();
    body.insert("sub".into(), claims.user.into());
    body.insert(claims.user_claim.into(), claims.user.into());
    body.insert("iat".into(), now.into());
    body.insert("exp".into(), (now + claims.ttl.as_secs() as i64).into());
    if let Some(iss) = claims.issuer {
        body.insert("iss".into(), iss.into());
    }
    if let Some(aud) = claims.audience {
        body.insert("aud".into(), aud.into());
    }
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &serde_json::Value::Object(body),
        &jsonwebtoken::EncodingKey::from_secret(secret.as_bytes()),
    )
    .map_err(|e| format!("cannot sign the token: {e}"))
}

/// Parses `90`, `90s`, `15m`, `1h`, `2d` (at most 30 days).
pub fn parse_ttl(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let (digits, unit) = match s.char_indices().find(|(_, c)| !c.is_ascii_digit()) {
        Some((i, _)) => s.split_at(i),
        None => (s, "s"),
    };
    let n: u64 = digits
        .parse()
        .map_err(|_| format!("--ttl {s:?} is not a duration such as 900, 15m, 1h or 2d"))?;
    let secs = match unit {
        "s" => n,
        "m" => n.saturating_mul(60),
        "h" => n.saturating_mul(3600),
        "d" => n.saturating_mul(86400),
        _ => return Err(format!("--ttl {s:?}: the unit must be s, m, h or d")),
    };
    if secs == 0 || secs > 30 * 86400 {
        return Err(format!("--ttl {s:?} must be between 1 second and 30 days"));
    }
    Ok(Duration::from_secs(secs))
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

/// `oss-direct-upload token ...`: prints one token on stdout.
pub fn main(args: &[String]) -> ExitCode {
    match run(args) {
        Ok(Some(token)) => {
            println!("{token}");
            ExitCode::SUCCESS
        }
        Ok(None) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("oss-direct-upload token: {e}");
            ExitCode::from(2)
        }
    }
}

fn run(args: &[String]) -> Result<Option<String>, String> {
    let mut sub = None;
    let mut ttl = Duration::from_secs(3600);
    let mut data = PathBuf::from("local-data");
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let (name, inline) = match arg.split_once('=') {
            Some((n, v)) if n.starts_with("--") => (n, Some(v.to_owned())),
            _ => (arg.as_str(), None),
        };
        let mut value = |what: &str| -> Result<String, String> {
            inline
                .clone()
                .or_else(|| it.next().cloned())
                .ok_or_else(|| format!("{name} needs {what}"))
        };
        match name {
            "-h" | "--help" => {
                println!("{HELP}");
                return Ok(None);
            }
            "--sub" => sub = Some(value("a user id")?),
            "--ttl" => ttl = parse_ttl(&value("a duration")?)?,
            "--data" => data = PathBuf::from(value("a directory")?),
            other => return Err(format!("unknown option {other:?}; see --help")),
        }
    }
    let sub = sub
        .filter(|s| !s.is_empty())
        .ok_or("--sub USER is required (the user id the token names)")?;
    let secret = match env("JWT_SECRET") {
        Some(s) => s,
        None => {
            let path = data.join(DEV_SECRET_FILE);
            std::fs::read_to_string(&path)
                .map(|s| s.trim().to_owned())
                .map_err(|_| {
                    format!(
                        "JWT_SECRET is not set and there is no development secret at {}; set JWT_SECRET to the secret the function verifies with, or start `oss-direct-upload local` with AUTH_MODE=jwt once (it makes one there)",
                        path.display()
                    )
                })?
        }
    };
    let user_claim = env("JWT_USER_CLAIM").unwrap_or_else(|| "sub".into());
    let issuer = env("JWT_ISSUER");
    let audience = env("JWT_AUDIENCE");
    mint(
        &secret,
        &Claims {
            user: &sub,
            user_claim: &user_claim,
            issuer: issuer.as_deref(),
            audience: audience.as_deref(),
            ttl,
        },
    )
    .map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_ttl("90").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_ttl("15m").unwrap(), Duration::from_secs(900));
        assert_eq!(parse_ttl("1h").unwrap(), Duration::from_secs(3600));
        assert_eq!(parse_ttl("2d").unwrap(), Duration::from_secs(172800));
        for bad in ["", "0", "1w", "h", "31d", "-5"] {
            assert!(parse_ttl(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn dev_secret_is_kept_in_the_data_folder() {
        let dir = std::env::temp_dir().join(format!("odu-dev-secret-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let a = dev_secret(Some(&dir)).unwrap();
        assert!(a.len() >= 32);
        assert_eq!(dev_secret(Some(&dir)).unwrap(), a);
        assert_ne!(dev_secret(None).unwrap(), a);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
