//! The doctor's findings and the report it prints, for people or as JSON.

use serde::Serialize;

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

#[cfg(test)]
mod tests {
    use super::*;

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
