//! The verdict probes: each upload's verdict through `/v1/uploads/status`,
//! and what they say of the OSS trigger and of the events' key encoding.

use super::http::{api_fix, uri_component};
use super::uploads::Pending;
use super::Doctor;
use crate::doctor::report::Finding;
use reqwest::Method;
use std::time::{Duration, Instant};

/// What a fix names when an upload's verdict never comes.
const TRIGGER_FIX: &str = "add an OSS trigger per profile prefix on this function (events oss:ObjectCreated:PutObject, PostObject, CompleteMultipartUpload, AppendObject, PutSymlink; README \"Deploy with Serverless Devs\" step 4); if it exists, look in the function's log for POST /invoke answered 404 (FC sent no x-fc-control-path: /invoke)";

impl Doctor<'_> {
    /// Waits (all at once, up to `--wait`) for every upload's verdict.
    pub(super) async fn verdicts(&mut self, pending: Vec<Pending>) {
        if pending.is_empty() {
            self.add(Finding::skipped("oss-trigger", "nothing was uploaded"));
            return;
        }
        let deadline = Instant::now() + self.args.wait;
        let this = &*self;
        let outcomes = futures_util::future::join_all(
            pending.iter().map(|p| this.wait_verdict(&p.key, deadline)),
        )
        .await;
        let mut arrived = 0;
        let (mut spaced_ok, mut plain_ok, mut spaced_late) = (false, false, false);
        for (p, outcome) in pending.iter().zip(outcomes) {
            let f = match outcome {
                Verdict::Verified(t) => {
                    arrived += 1;
                    if p.spaced {
                        spaced_ok = true;
                    } else {
                        plain_ok = true;
                    }
                    Finding::ok(&p.check, format!("{:?} verified after {:.1} s", p.key, t.as_secs_f64()))
                }
                Verdict::Rejected(reason) => {
                    arrived += 1;
                    Finding::problem(
                        &p.check,
                        format!("{:?} was rejected by the upload check: {reason}", p.key),
                        "the check refused a valid file: compare the profile's content_types and limits with /v1/config, and read the function's log for this key",
                    )
                }
                Verdict::Missing => Finding::problem(
                    &p.check,
                    format!("{:?} is missing: not stored, or removed", p.key),
                    "the upload reported success but the object is gone: check for a lifecycle rule or another process deleting under the prefix",
                ),
                Verdict::Pending => {
                    if p.spaced {
                        spaced_late = true;
                    }
                    Finding::problem(
                        &p.check,
                        format!("{:?} has no verdict after {} s", p.key, self.args.wait.as_secs()),
                        TRIGGER_FIX,
                    )
                }
                Verdict::Failed(detail, fix) => Finding::problem(&p.check, detail, fix),
            };
            self.add(f);
        }
        self.add(if arrived > 0 {
            Finding::ok(
                "oss-trigger",
                format!("{arrived} of {} uploads got a verdict: OSS events reach the function's /invoke", pending.len()),
            )
        } else {
            Finding::problem(
                "oss-trigger",
                format!("none of {} uploads got a verdict within {} s: OSS events do not reach the function", pending.len(), self.args.wait.as_secs()),
                TRIGGER_FIX,
            )
        });
        self.add(match (spaced_ok, plain_ok, spaced_late) {
            (true, _, _) => Finding::ok("key-encoding", "a key with a space in its name was checked: event keys arrive as stored"),
            (false, true, true) => Finding::problem(
                "key-encoding",
                "keys without a space got verdicts, keys with a space did not: the events' oss.object.key arrives encoded (e.g. '+' for a space)",
                "report it with the function's log lines for these keys; meanwhile avoid spaces in file names",
            ),
            _ => Finding::skipped("key-encoding", "no verdict on a key with a space to judge by"),
        });
    }

    async fn wait_verdict(&self, key: &str, deadline: Instant) -> Verdict {
        let start = Instant::now();
        let path = format!("/v1/uploads/status?key={}", uri_component(key));
        loop {
            match self.call(Method::GET, &path, None).await {
                Ok(a) if a.status == 200 => {
                    let v = a.json().unwrap_or_default();
                    match v["status"].as_str() {
                        Some("verified") => return Verdict::Verified(start.elapsed()),
                        Some("rejected") => {
                            return Verdict::Rejected(
                                v["reason"].as_str().unwrap_or("no reason given").to_owned(),
                            )
                        }
                        Some("missing") if Instant::now() >= deadline => return Verdict::Missing,
                        _ => {}
                    }
                }
                Ok(a) => {
                    let code = a.api_error().map(|(c, _)| c).unwrap_or_default();
                    let fix = if code.starts_with("Oss") {
                        "RAM: the upload role needs oss:GetObjectTagging on every profile prefix (the status route reads the verdict tags)".to_owned()
                    } else {
                        api_fix(a.status, &code)
                    };
                    return Verdict::Failed(
                        format!("GET /v1/uploads/status answered {}", a.short()),
                        fix,
                    );
                }
                Err(e) => return Verdict::Failed(e, "check that the function is reachable".into()),
            }
            if Instant::now() >= deadline {
                return Verdict::Pending;
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }
}

enum Verdict {
    Verified(Duration),
    Rejected(String),
    Missing,
    Pending,
    Failed(String, String),
}
