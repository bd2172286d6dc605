//! The error vocabulary cannot drift: README's "Error codes" table lists
//! exactly `ErrorCode::ALL` with the same statuses, the runtime's hand-written
//! JSON errors use codes from it, and an OSS outage answers the same
//! documented status and code on every route that calls OSS (the multipart
//! steps and the upload status), against the real binary on loopback.

#[path = "common/harness.rs"]
mod harness;
#[path = "common/peers.rs"]
mod peers;
use harness::*;

#[path = "common/readme.rs"]
mod readme;

use oss_direct_upload::api::error::ErrorCode;
use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

/// `(status, code)` rows of README's "Error codes" table.
fn readme_rows() -> BTreeSet<(u16, String)> {
    let section = readme::section("### Error codes", "#");
    let mut rows = BTreeSet::new();
    for line in section.lines().filter(|l| l.starts_with("| ")) {
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        let (Some(status), Some(code)) = (cells.get(1), cells.get(2)) else {
            continue;
        };
        let Ok(status) = status.parse::<u16>() else {
            continue; // header and separator rows
        };
        let code = code.trim_matches('`').to_owned();
        assert!(
            rows.insert((status, code.clone())),
            "{code} is listed twice in README"
        );
    }
    rows
}

fn code_rows() -> BTreeSet<(u16, String)> {
    ErrorCode::ALL
        .iter()
        .map(|c| (c.status(), c.as_str().to_owned()))
        .collect()
}

#[test]
fn readme_lists_exactly_the_codes_with_their_statuses() {
    let documented = readme_rows();
    let code = code_rows();
    assert!(
        documented.len() > 30,
        "the table parse found the rows: {documented:?}"
    );
    assert_eq!(code.len(), ErrorCode::ALL.len(), "a code is listed twice");
    let undocumented: Vec<_> = code.difference(&documented).collect();
    assert!(
        undocumented.is_empty(),
        "in ErrorCode but not in README's Error codes table (or with another status): {undocumented:?}"
    );
    let stale: Vec<_> = documented.difference(&code).collect();
    assert!(
        stale.is_empty(),
        "in README's Error codes table but not in ErrorCode (or with another status): {stale:?}"
    );
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Error bodies written by hand below the API (the runtime answers some
/// requests before any route runs) still use the one vocabulary.
#[test]
fn hand_written_error_bodies_use_documented_codes() {
    let mut files = Vec::new();
    rust_files(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("src"),
        &mut files,
    );
    let known: BTreeSet<&str> = ErrorCode::ALL.iter().map(|c| c.as_str()).collect();
    let mut found = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        let code = text.split("#[cfg(test)]").next().unwrap_or("");
        for pattern in ["\"code\":\"", "\"code\": \""] {
            for (at, _) in code.match_indices(pattern) {
                let name: String = code[at + pattern.len()..]
                    .chars()
                    .take_while(char::is_ascii_alphanumeric)
                    .collect();
                found.push((name, file.display().to_string()));
            }
        }
    }
    assert!(
        found.iter().any(|(n, _)| n == "PayloadTooLarge"),
        "the scan finds the runtime's bodies: {found:?}"
    );
    let unknown: Vec<_> = found
        .iter()
        .filter(|(n, _)| !known.contains(n.as_str()))
        .collect();
    assert!(
        unknown.is_empty(),
        "error codes written by hand that ErrorCode (and README) lack: {unknown:?}"
    );
}

/// A loopback "OSS" that answers every request with a 503 and OSS's XML
/// error body, as OSS does when it is overloaded.
fn failing_oss() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut s) = stream else { continue };
            std::thread::spawn(move || {
                let mut buf = [0u8; 65536];
                let mut seen = Vec::new();
                // Read the head (and whatever body came with it).
                while !seen.windows(4).any(|w| w == b"\r\n\r\n") {
                    match s.read(&mut buf) {
                        Ok(0) | Err(_) => return,
                        Ok(n) => seen.extend_from_slice(&buf[..n]),
                    }
                }
                let body = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>ServiceUnavailable</Code><Message>Please reduce your request rate.</Message><RequestId>5F00AA</RequestId></Error>";
                let resp = format!(
                    "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/xml\r\nx-oss-request-id: 5F00AA\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = s.write_all(resp.as_bytes());
            });
        }
    });
    port
}

fn start_with_oss(sts: &StsPeer, oss: &str) -> Function {
    let mut env = base_env(&sts.url());
    env.retain(|(k, _)| k != "OSS_ENDPOINT");
    env.push(("OSS_ENDPOINT".into(), oss.into()));
    Function::start(&env)
}

/// The same outage is the same answer on every route that calls OSS: 502
/// `OssUnavailable` (the status route used to say 503, or an undocumented
/// `OssError`).
fn assert_outage_answers(f: &Function, what: &str) {
    let c = client();
    let (status, _, body) = send(
        c.get(format!("{}/v1/uploads/status", f.url()))
            .query(&[("key", "uploads/abc/photo.png")]),
    );
    assert_eq!(status, 502, "status route, {what}: {body}");
    assert_eq!(json(&body)["error"]["code"], "OssUnavailable", "{body}");

    let (status, _, body) =
        send(c.post(format!("{}/v1/multipart", f.url())).body(
            r#"{"filename":"a.bin","contentType":"application/octet-stream","size":20000000}"#,
        ));
    assert_eq!(status, 502, "multipart create, {what}: {body}");
    assert_eq!(json(&body)["error"]["code"], "OssUnavailable", "{body}");
}

#[test]
fn an_oss_outage_is_502_oss_unavailable_on_every_route() {
    let sts = StsPeer::start(&[]);

    let f = start_with_oss(&sts, &format!("http://127.0.0.1:{}", failing_oss()));
    assert_outage_answers(&f, "OSS answering 503");
    assert!(!f.output().contains("panicked"));

    let f = start_with_oss(&sts, &format!("http://127.0.0.1:{}", free_port()));
    assert_outage_answers(&f, "OSS unreachable");
}
