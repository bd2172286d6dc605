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
//!
//! Files: `options.rs` (command line), `probes/` (the checks, one file per
//! concern), `report.rs` (findings, text and JSON), `samples.rs` (the test
//! files).

pub mod options;
mod probes;
pub mod report;
pub mod samples;

use options::parse_args;
use std::io::Write;
use std::process::ExitCode;

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
