//! `oss-direct-upload doctor <function-url>`: checks a live deployment from
//! the outside, the way its clients use it, and says what to change.
//!
//! It is a client of the function (and of OSS through the function's
//! answers), so it ships in the deployed binary and needs no credentials of
//! its own beyond a test user's token. In order:
//! - `/healthz` and `/v1/config` (profiles, methods, auth mode);
//! - for each profile and each method it allows, a small real file of an
//!   allowed type, uploaded as a client would (file names with a space among
//!   them), then its verdict through `/v1/uploads/status`, which proves the
//!   OSS trigger reaches the function and events carry the control path and
//!   the key as expected;
//! - a multipart upload of three parts, listed, aborted, and listed again
//!   (404 `NoSuchUpload`);
//! - CORS preflights from the app's origin against the function and the
//!   bucket, and whether the bucket exposes `ETag` on an actual answer;
//! - whether `DELETE` reaches the function (its JSON error, not a front's page).
//!
//! Each finding is ok, a problem (with the one change that fixes it) or
//! skipped (with why). Exit status 0 only when nothing is a problem.

mod probes;
pub mod samples;

use serde::Serialize;
use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

const HELP: &str = "\
oss-direct-upload doctor: check a deployed function end to end, from the outside

USAGE:
    oss-direct-upload doctor <function-url> [OPTIONS]

OPTIONS:
    --token JWT       a test user's token (needed unless AUTH_MODE=anonymous)
    --origin URL      your app's origin, for the CORS checks (default: none; they are skipped)
    --wait SECONDS    how long to wait for each upload's verdict (default 30)
    --json            print the report as JSON (for CI)
    -h, --help        this help

It uploads a few small test files through every method each profile allows
(they stay in the bucket, like any upload), checks their verdicts, CORS and
DELETE, and aborts a multipart upload. Exit status: 0 all ok, 1 a problem,
2 bad usage.";

/// Parsed `doctor` options.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Args {
    /// The function's base URL (the HTTP trigger's).
    pub url: String,
    /// `--token`.
    pub token: Option<String>,
    /// `--origin`.
    pub origin: Option<String>,
    /// `--json`.
    pub json: bool,
    /// `--wait`.
    pub wait: Duration,
}

/// Parses the arguments after `doctor`; `Ok(None)` means help was printed.
pub fn parse_args(args: &[String]) -> Result<Option<Args>, String> {
    let mut url = None;
    let mut token = None;
    let mut origin = None;
    let mut json = false;
    let mut wait = Duration::from_secs(30);
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
            "--token" => token = Some(value("a token")?),
            "--origin" => origin = Some(value("an origin such as https://app.example.com")?),
            "--json" => json = true,
            "--wait" => {
                let v = value("a number of seconds")?;
                let secs = v
                    .parse::<u64>()
                    .ok()
                    .filter(|s| (1..=600).contains(s))
                    .ok_or_else(|| format!("--wait {v:?} is not a number of seconds (1-600)"))?;
                wait = Duration::from_secs(secs);
            }
            other if other.starts_with('-') => {
                return Err(format!("unknown option {other:?}; see --help"))
            }
            other if url.is_none() => url = Some(other.to_owned()),
            other => return Err(format!("one function URL only; {other:?} is extra")),
        }
    }
    let url =
        url.ok_or("give the function's URL: oss-direct-upload doctor https://<trigger-url>")?;
    let parsed = url::Url::parse(&url).map_err(|e| format!("{url:?} is not a URL: {e}"))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(format!("{url:?} is not an http(s) URL"));
    }
    if let Some(o) = &origin {
        let ok = url::Url::parse(o)
            .map(|u| matches!(u.scheme(), "http" | "https") && u.path() == "/")
            .unwrap_or(false);
        if !ok {
            return Err(format!(
                "--origin {o:?} is not an origin such as https://app.example.com"
            ));
        }
    }
    Ok(Some(Args {
        url: url.trim_end_matches('/').to_owned(),
        token,
        origin: origin.map(|o| o.trim_end_matches('/').to_owned()),
        json,
        wait,
    }))
}

/// A finding's outcome.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Works as it should.
    Ok,
    /// Does not; `fix` says what to change.
    Problem,
    /// Not checked; `detail` says why.
    Skipped,
}

/// One thing the doctor checked.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// A stable name: `healthz`, `config`, `upload:<profile>:<method>`,
    /// `oss-trigger`, `key-encoding`, `multipart-abort`, `cors-function`,
    /// `cors-bucket`, `bucket-etag`, `delete`.
    pub check: String,
    /// Ok, problem or skipped.
    pub status: Status,
    /// What was seen.
    pub detail: String,
    /// For a problem: what to change, in one line.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
}

impl Finding {
    fn new(check: &str, status: Status, detail: impl Into<String>, fix: Option<String>) -> Self {
        Finding {
            check: check.to_owned(),
            status,
            detail: detail.into(),
            fix,
        }
    }

    /// An ok finding.
    pub fn ok(check: &str, detail: impl Into<String>) -> Self {
        Finding::new(check, Status::Ok, detail, None)
    }

    /// A problem with its fix.
    pub fn problem(check: &str, detail: impl Into<String>, fix: impl Into<String>) -> Self {
        Finding::new(check, Status::Problem, detail, Some(fix.into()))
    }

    /// A skipped check.
    pub fn skipped(check: &str, detail: impl Into<String>) -> Self {
        Finding::new(check, Status::Skipped, detail, None)
    }
}

/// The whole report.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    /// The function URL checked.
    pub url: String,
    /// True when no finding is a problem.
    pub ok: bool,
    /// Every finding, in the order checked.
    pub findings: Vec<Finding>,
}

impl Report {
    /// The report for `findings`.
    pub fn new(url: &str, findings: Vec<Finding>) -> Report {
        Report {
            url: url.to_owned(),
            ok: findings.iter().all(|f| f.status != Status::Problem),
            findings,
        }
    }

    /// The report for a person.
    pub fn text(&self) -> String {
        let mut s = format!("oss-direct-upload doctor {}\n\n", self.url);
        let width = self
            .findings
            .iter()
            .map(|f| f.check.len())
            .max()
            .unwrap_or(0);
        for f in &self.findings {
            let tag = match f.status {
                Status::Ok => "ok     ",
                Status::Problem => "PROBLEM",
                Status::Skipped => "skipped",
            };
            s.push_str(&format!("  {tag}  {:width$}  {}\n", f.check, f.detail));
            if let Some(fix) = &f.fix {
                s.push_str(&format!("  {:7}  {:width$}  fix: {fix}\n", "", ""));
            }
        }
        let problems = self
            .findings
            .iter()
            .filter(|f| f.status == Status::Problem)
            .count();
        s.push('\n');
        s.push_str(&match problems {
            0 => "All checks passed.\n".to_owned(),
            1 => "1 problem.\n".to_owned(),
            n => format!("{n} problems.\n"),
        });
        s
    }
}

/// `oss-direct-upload doctor ...`.
pub fn main(args: &[String]) -> ExitCode {
    let args = match parse_args(args) {
        Ok(Some(a)) => a,
        Ok(None) => return ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("oss-direct-upload doctor: {e}");
            return ExitCode::from(2);
        }
    };
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("oss-direct-upload doctor: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let report = match rt.block_on(probes::run(&args)) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("oss-direct-upload doctor: {e}");
            return ExitCode::FAILURE;
        }
    };
    let out = if args.json {
        serde_json::to_string_pretty(&report).map(|s| s + "\n")
    } else {
        Ok(report.text())
    };
    let written = out.map_err(|e| e.to_string()).and_then(|o| {
        std::io::stdout()
            .lock()
            .write_all(o.as_bytes())
            .map_err(|e| e.to_string())
    });
    if let Err(e) = written {
        eprintln!("oss-direct-upload doctor: cannot write the report: {e}");
        return ExitCode::FAILURE;
    }
    if report.ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn options() {
        let a = parse_args(&args(&[
            "https://f.example/",
            "--token=t",
            "--json",
            "--wait",
            "5",
        ]))
        .unwrap()
        .unwrap();
        assert_eq!(a.url, "https://f.example");
        assert_eq!(a.token.as_deref(), Some("t"));
        assert!(a.json);
        assert_eq!(a.wait, Duration::from_secs(5));
        for bad in [
            vec![],
            vec!["ftp://x"],
            vec!["https://a", "https://b"],
            vec!["https://a", "--origin", "https://app.example/path"],
            vec!["https://a", "--wait", "0"],
            vec!["https://a", "--frobnicate"],
        ] {
            assert!(parse_args(&args(&bad)).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn report_counts_problems_and_prints_fixes() {
        let r = Report::new(
            "https://f",
            vec![
                Finding::ok("healthz", "answered"),
                Finding::problem("delete", "405 from the front", "add DELETE"),
                Finding::skipped("cors-bucket", "no --origin"),
            ],
        );
        assert!(!r.ok);
        let t = r.text();
        assert!(
            t.contains("PROBLEM  delete") && t.contains("fix: add DELETE"),
            "{t}"
        );
        assert!(t.ends_with("1 problem.\n"), "{t}");
        let j = serde_json::to_value(&r).unwrap();
        assert_eq!(j["findings"][1]["status"], "problem");
        assert!(j["findings"][0].get("fix").is_none());
    }
}
