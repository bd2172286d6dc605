//! The doctor's command line: the function URL and its options.

use std::io::Write;
use std::time::Duration;

pub(super) const HELP: &str = "\
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
                // Not println!: a closed pipe (`| head`) is not a panic.
                let _ = writeln!(std::io::stdout().lock(), "{HELP}");
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
}
