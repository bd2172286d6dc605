//! The doctor's probes: each talks to the function (and to OSS through the
//! URLs and credentials the function hands out) exactly as a client does, and
//! turns what it sees into [`Finding`]s.
//!
//! This file owns the run (the order of the checks) and the state they share;
//! the checks live by what they check: `function.rs` (health, public config,
//! `DELETE`), `uploads.rs` (an upload per profile and method), `verdicts.rs`
//! (each upload's verdict, the OSS trigger, key encoding), `multipart.rs`
//! (three parts, listed, aborted), `cors.rs` (preflights, the bucket's
//! `ETag`), on the request helpers of `http.rs`.

mod cors;
mod function;
mod http;
mod multipart;
mod uploads;
mod verdicts;

use super::options::Args;
use super::report::{Finding, Report};
use std::time::Duration;

/// What the CORS headers of one actual answer from OSS said.
struct CorsSeen {
    what: String,
    allow_origin: Option<String>,
    expose: Option<String>,
}

struct Doctor<'a> {
    args: &'a Args,
    http: reqwest::Client,
    findings: Vec<Finding>,
    cors_seen: Vec<CorsSeen>,
    /// An object URL (no query) OSS served for the bucket preflight.
    bucket_url: Option<String>,
    /// A key under the caller's prefix (for the DELETE check).
    some_key: Option<String>,
}

/// Runs every probe against `args.url`.
pub(super) async fn run(args: &Args) -> Result<Report, String> {
    let http =
        crate::http_client::for_signed_requests(Duration::from_secs(5), Duration::from_secs(60))
            .map_err(|e| format!("cannot build an HTTP client: {e}"))?;
    let mut d = Doctor {
        args,
        http,
        findings: Vec::new(),
        cors_seen: Vec::new(),
        bucket_url: None,
        some_key: None,
    };
    d.all().await;
    Ok(Report::new(&args.url, d.findings))
}

impl Doctor<'_> {
    async fn all(&mut self) {
        if !self.healthz().await {
            return;
        }
        let Some(config) = self.config().await else {
            return;
        };
        let pending = self.uploads(&config).await;
        self.verdicts(pending).await;
        self.multipart_abort(&config).await;
        self.cors_function().await;
        self.cors_bucket().await;
        self.delete().await;
    }

    pub(super) fn add(&mut self, f: Finding) {
        self.findings.push(f);
    }
}
