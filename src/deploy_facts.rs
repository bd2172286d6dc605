//! What a deployment file must agree with, read from the code and the
//! configuration the way the function reads them: `oss-direct-upload
//! deploy-facts` prints it as JSON for tests/deploy, which holds s.yaml and
//! s.fc-jwt.yaml to it.
//!
//! - every route with its methods and [deadline](crate::api::routes::Handler::deadline)
//!   (the HTTP trigger must allow exactly those methods, plus `OPTIONS` for
//!   CORS preflights, and the function timeout must outlast every deadline
//!   plus the time a body may take to arrive);
//! - the upload check's deadline per event (`EVENT_TIMEOUT_MS`);
//! - every upload profile's prefix (the OSS triggers must cover each one,
//!   or uploads there are never checked).
//!
//! Nothing secret: names, prefixes, methods and durations only.

use crate::api::routes::{routes, Handler};
use crate::config::{CheckSettings, Config};
use crate::profiles::Profiles;
use crate::runtime::Options;
use serde_json::{json, Value};
use std::io::Write;
use std::time::Duration;

/// The facts for `config` and `settings`, with the profiles `config` names;
/// fails with the message the function would refuse to start with.
pub fn facts(config: &Config, settings: &CheckSettings) -> Result<Value, String> {
    let profiles = Profiles::from_config(config).map_err(|errs| {
        let lines: Vec<String> = errs.iter().map(|e| format!("  - {e}")).collect();
        format!("the upload profiles have problems:\n{}", lines.join("\n"))
    })?;
    let sts_wait = Duration::from_millis(config.sts_timeout_ms);
    let options = Options::default();
    let route_list: Vec<Value> = routes()
        .iter()
        .map(|r| {
            let deadline = r
                .operations
                .iter()
                .map(|o| o.handler.deadline(sts_wait))
                .max()
                .unwrap_or_default();
            json!({
                "path": r.path.template(),
                "methods": r.methods().map(|m| m.as_str()).collect::<Vec<_>>(),
                "legacy": r.legacy,
                "deadlineSeconds": deadline.as_secs_f64(),
            })
        })
        .collect();
    Ok(json!({
        "routes": route_list,
        // Every route answers CORS preflights (App::handle).
        "preflightMethod": "OPTIONS",
        "initializerDeadlineSeconds": Handler::Initialize.deadline(sts_wait).as_secs_f64(),
        // A request's body may take this long to arrive before its handler runs.
        "bodyReadSeconds": options.read_timeout.as_secs_f64(),
        "eventDeadlineSeconds": settings.event_timeout.as_secs_f64(),
        "drainSeconds": options.drain_timeout.as_secs_f64(),
        "profilePrefixes": profiles
            .iter()
            .map(|p| json!({"profile": p.name, "prefix": p.prefix}))
            .collect::<Vec<_>>(),
    }))
}

/// `oss-direct-upload deploy-facts`: the facts for the process environment,
/// pretty-printed.
pub fn print_from_env() -> Result<(), String> {
    let config = Config::from_env().map_err(|e| e.to_string())?;
    let settings = CheckSettings::from_env(&config).map_err(|e| e.to_string())?;
    let facts = facts(&config, &settings)?;
    let text = serde_json::to_string_pretty(&facts).map_err(|e| e.to_string())?;
    // Not println!: a closed stdout is an error to report, not a panic.
    let mut out = std::io::stdout().lock();
    writeln!(out, "{text}").map_err(|e| format!("cannot write to stdout: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> Config {
        Config::from_vars(&|n| match n {
            "OSS_BUCKET" => Some("b-1".into()),
            "OSS_REGION" => Some("cn-hangzhou".into()),
            "OSS_ROLE_ARN" => Some("acs:ram::123:role/up".into()),
            "AUTH_MODE" => Some("jwt".into()),
            "JWT_SECRET" => Some("a-test-secret-of-at-least-32-bytes-0123".into()),
            "PROFILES_FILE" => {
                Some(concat!(env!("CARGO_MANIFEST_DIR"), "/profiles.example.toml").into())
            }
            _ => None,
        })
        .unwrap()
    }

    #[test]
    fn facts_name_every_route_method_and_profile_prefix() {
        let c = config();
        let s = CheckSettings::from_vars(&|_| None, &c).unwrap();
        let f = facts(&c, &s).unwrap();
        let listed = f["routes"].as_array().unwrap();
        assert_eq!(listed.len(), routes().len());
        let uppy = listed
            .iter()
            .find(|r| r["path"] == "/s3/multipart/{uploadId}")
            .unwrap();
        assert_eq!(uppy["methods"], json!(["GET", "DELETE"]));
        let complete = listed
            .iter()
            .find(|r| r["path"] == "/v1/multipart/complete")
            .unwrap();
        // JWKS 3 s (JWT_JWKS_URL) + STS 5 s + ListParts 20 s + complete 60 s
        // + abort 10 s + 1 s.
        assert_eq!(complete["deadlineSeconds"], json!(99.0));
        let prefixes: Vec<&str> = f["profilePrefixes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["prefix"].as_str().unwrap())
            .collect();
        assert_eq!(prefixes, ["uploads/", "avatars/", "documents/", "videos/"]);
        assert_eq!(f["eventDeadlineSeconds"], json!(40.0));
    }
}
