//! `oss-direct-upload check`: validates the environment and the upload
//! profiles exactly as a start would (through [`crate::wiring::wire`]),
//! without serving, and prints the effective configuration with every secret
//! masked. Exit status 0 when the function would start, 2 when it would not.
//! In the deployed binary too; `scripts/build-fc.sh` runs it before packaging.

use crate::check::Notify;
use crate::config::{AuthMode, CheckSettings, Config, SetBy, VARIABLES};
use crate::runtime::Environment;
use crate::wiring::{wire, Wired};
use std::process::ExitCode;

/// Variables whose values are never printed, only whether they are set.
const SECRETS: &[&str] = &[
    "JWT_SECRET",
    "WEBHOOK_SECRET",
    "ALIBABA_CLOUD_ACCESS_KEY_SECRET",
    "ALIBABA_CLOUD_SECURITY_TOKEN",
];

/// How a set secret is shown: its length, never a character of it.
pub fn mask(value: &str) -> String {
    format!("******** (set, {} bytes)", value.len())
}

/// What `name` shows in the report: the value the function uses, masked if
/// secret, with `(default)` where the environment left it unset.
fn shown(name: &str, raw: Option<&str>, config: &Config, settings: &CheckSettings) -> String {
    if let Some(v) = raw {
        if SECRETS.contains(&name) {
            return mask(v);
        }
        if name == "JWT_JWKS" || name == "JWT_PUBLIC_KEY" {
            return format!("(set, {} bytes; public key material)", v.len());
        }
        return v.to_owned();
    }
    let default = match name {
        "OSS_ENDPOINT" => Some(config.oss_endpoint.clone()),
        "STS_ENDPOINT" => Some(config.sts_endpoint.clone()),
        "UPLOAD_PREFIX" => Some(config.upload_prefix.clone()),
        "TOKEN_TTL_SECONDS" => Some(config.token_ttl_secs.to_string()),
        "URL_TTL_SECONDS" => Some(config.url_ttl_secs.to_string()),
        "SIGNATURE_VERSION" => Some(config.signature_version.as_str().to_owned()),
        "MAX_UPLOAD_BYTES" => Some(config.max_upload_bytes.to_string()),
        "ALLOWED_CONTENT_TYPES" => Some(config.allowed_content_types.join(",")),
        "RATE_LIMIT_PER_MINUTE" => Some(config.rate_limit_per_minute.to_string()),
        "CREDENTIAL_CACHE_SIZE" => Some(config.credential_cache_size.to_string()),
        "STS_TIMEOUT_MS" => Some(config.sts_timeout_ms.to_string()),
        "ALI_OSS_SCRIPT_URL" => Some(config.ali_oss_script_url.clone()),
        "LEGACY_ROUTES" => Some(config.legacy_routes.to_string()),
        "WEBHOOK_TIMEOUT_MS" => Some(settings.webhook_timeout.as_millis().to_string()),
        "OSS_TIMEOUT_MS" => Some(settings.oss_timeout.as_millis().to_string()),
        "EVENT_TIMEOUT_MS" => Some(settings.event_timeout.as_millis().to_string()),
        "JWT_USER_CLAIM" | "JWT_LEEWAY_SECONDS" => match &config.auth {
            AuthMode::Jwt(j) if name == "JWT_USER_CLAIM" => Some(j.user_claim.clone()),
            AuthMode::Jwt(j) => Some(j.leeway_secs.to_string()),
            _ => None,
        },
        _ => None,
    };
    match default {
        Some(d) => format!("{d}   (default)"),
        None => "(not set)".to_owned(),
    }
}

/// The report for a configuration that validated: every operator variable
/// and its effective value, then the upload profiles.
pub fn report(
    get: &dyn Fn(&str) -> Option<String>,
    config: &Config,
    settings: &CheckSettings,
    profiles: &crate::profiles::Profiles,
) -> String {
    let mut out = String::from(
        "oss-direct-upload check: the configuration is valid; the function would start with:\n\n",
    );
    for v in VARIABLES.iter().filter(|v| v.set_by == SetBy::Operator) {
        let raw = get(v.name).filter(|x| !x.trim().is_empty());
        out.push_str(&format!(
            "  {:<22} {}\n",
            v.name,
            shown(v.name, raw.as_deref(), config, settings)
        ));
    }
    out.push_str("\nupload profiles:\n");
    for p in profiles.iter() {
        out.push_str(&format!(
            "  {:<10} prefix {}   {}..{} bytes   types {}   methods {}{}\n",
            p.name,
            p.prefix,
            p.min_bytes,
            p.max_bytes,
            p.content_types.join(","),
            p.method_names(),
            if p.anonymous { "   anonymous" } else { "" }
        ));
    }
    for w in config.warnings() {
        out.push_str(&format!("\nwarning: {w}"));
    }
    out.push('\n');
    out
}

/// Validates through `get` as `serve` would; `Ok(report)` or `Err(problems)`.
pub fn validate(get: &dyn Fn(&str) -> Option<String>) -> Result<String, String> {
    let config = Config::from_vars(get).map_err(|e| e.to_string())?;
    let settings = CheckSettings::from_vars(get, &config).map_err(|e| e.to_string())?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the async runtime: {e}"))?;
    rt.block_on(async {
        let Wired { app, check, .. } = wire(
            config,
            settings.clone(),
            Notify::Nothing,
            Environment::default(),
        )?;
        drop(check);
        Ok(report(get, app.config(), &settings, app.profiles()))
    })
}

/// `oss-direct-upload check`.
pub fn main(args: &[String]) -> ExitCode {
    if let Some(a) = args.first() {
        if a == "-h" || a == "--help" {
            println!("oss-direct-upload check: validate the environment and the upload profiles without serving;\nprints the effective configuration (secrets masked). Exit 0: it would start; 2: it would not.");
            return ExitCode::SUCCESS;
        }
        eprintln!("oss-direct-upload check: unknown option {a:?}; it takes none (configuration comes from the environment)");
        return ExitCode::from(2);
    }
    match validate(&|n| std::env::var(n).ok()) {
        Ok(report) => {
            print!("{report}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("oss-direct-upload check: {}", e.trim_end());
            ExitCode::from(2)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn secrets_are_masked_and_defaults_marked() {
        let secret = "s3cr3t-s3cr3t-s3cr3t-s3cr3t-s3cr3t-0123";
        let vars: HashMap<&str, &str> = [
            ("OSS_BUCKET", "my-bucket"),
            ("OSS_REGION", "cn-hangzhou"),
            ("OSS_ROLE_ARN", "acs:ram::1234567890:role/up"),
            ("AUTH_MODE", "jwt"),
            ("JWT_SECRET", secret),
        ]
        .into_iter()
        .collect();
        let get = move |n: &str| vars.get(n).map(|v| (*v).to_owned());
        let out = validate(&get).unwrap();
        assert!(!out.contains(secret), "{out}");
        assert!(
            out.contains("JWT_SECRET             ******** (set, 39 bytes)"),
            "{out}"
        );
        assert!(
            out.contains("UPLOAD_PREFIX          uploads/   (default)"),
            "{out}"
        );
        assert!(out.contains("default    prefix uploads/"), "{out}");
    }

    #[test]
    fn problems_name_the_variable() {
        let err = validate(&|n| (n == "AUTH_MODE").then(|| "jwt".to_owned())).unwrap_err();
        for v in ["OSS_BUCKET", "OSS_REGION", "OSS_ROLE_ARN", "JWT_SECRET"] {
            assert!(err.contains(v), "{err}");
        }
    }
}
