//! Structured logging: one JSON object per line on stdout.
//!
//! FC ships stdout to the function's Log Service logstore, where one JSON
//! object per line is searchable by field. The two `FC Invoke Start/End`
//! marker lines are the only plain-text lines, because FC's console looks
//! for them verbatim.
//!
//! Nothing secret is ever passed here: callers log ids, paths, codes and
//! durations, never credentials, tokens or signatures.

use serde_json::{Map, Value};
use std::io::Write;

/// Severity of a log line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Level {
    /// Routine events (a request served, the server started).
    Info,
    /// Something the operator should look at (anonymous mode, upstream trouble).
    Warn,
    /// A request or the process failed.
    Error,
}

impl Level {
    fn as_str(self) -> &'static str {
        match self {
            Level::Info => "info",
            Level::Warn => "warn",
            Level::Error => "error",
        }
    }
}

/// Renders one log line: `{"time","level","requestId"?,"msg",...fields}`.
///
/// Split from [`emit`] so tests can check the shape without capturing stdout.
pub fn render(
    level: Level,
    request_id: Option<&str>,
    msg: &str,
    fields: &[(&str, Value)],
) -> String {
    let mut obj = Map::with_capacity(fields.len() + 4);
    obj.insert(
        "time".into(),
        Value::String(chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)),
    );
    obj.insert("level".into(), Value::String(level.as_str().into()));
    if let Some(id) = request_id {
        obj.insert("requestId".into(), Value::String(id.into()));
    }
    obj.insert("msg".into(), Value::String(msg.into()));
    for (k, v) in fields {
        obj.insert((*k).to_string(), v.clone());
    }
    Value::Object(obj).to_string()
}

tokio::task_local! {
    /// The lines logged while one request is served, written in one go when it ends.
    static REQUEST_LINES: std::cell::RefCell<String>;
}

/// Runs `fut` (one request) collecting its log lines, then writes them with a
/// single `write` to stdout, between `first` and `last`.
///
/// One write per request instead of one per line: at tens of thousands of
/// requests per second the syscalls, not the signing, would otherwise be the
/// cost. The lines still appear between FC's `FC Invoke Start/End` markers,
/// which is all the console needs.
pub async fn per_request<F: std::future::Future>(
    first: &str,
    fut: F,
    last: impl FnOnce(&F::Output) -> String,
) -> F::Output {
    let mut buf = String::with_capacity(512);
    buf.push_str(first);
    buf.push('\n');
    let (out, buf) = REQUEST_LINES
        .scope(std::cell::RefCell::new(buf), async move {
            let out = fut.await;
            let buf = REQUEST_LINES.with(|b| b.take());
            (out, buf)
        })
        .await;
    let mut buf = buf;
    buf.push_str(&last(&out));
    buf.push('\n');
    write_raw(buf.as_bytes());
    out
}

/// Writes one JSON log line to stdout (or to the current request's batch).
pub fn emit(level: Level, request_id: Option<&str>, msg: &str, fields: &[(&str, Value)]) {
    write_line(&render(level, request_id, msg, fields));
}

/// Writes a raw line: into the current request's batch when inside
/// [`per_request`], else straight to stdout.
pub fn write_line(line: &str) {
    let batched = REQUEST_LINES
        .try_with(|b| {
            let mut b = b.borrow_mut();
            b.push_str(line);
            b.push('\n');
        })
        .is_ok();
    if !batched {
        let mut buf = String::with_capacity(line.len() + 1);
        buf.push_str(line);
        buf.push('\n');
        write_raw(buf.as_bytes());
    }
}

fn write_raw(bytes: &[u8]) {
    // One write_all on a locked handle: lines from concurrent requests never interleave.
    // A closed stdout must not take the request down with it.
    let _ = std::io::stdout().lock().write_all(bytes);
}

/// Logs at info level.
pub fn info(request_id: Option<&str>, msg: &str, fields: &[(&str, Value)]) {
    emit(Level::Info, request_id, msg, fields);
}

/// Logs at warn level.
pub fn warn(request_id: Option<&str>, msg: &str, fields: &[(&str, Value)]) {
    emit(Level::Warn, request_id, msg, fields);
}

/// Logs at error level.
pub fn error(request_id: Option<&str>, msg: &str, fields: &[(&str, Value)]) {
    emit(Level::Error, request_id, msg, fields);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_one_json_object_with_request_id() {
        let line = render(
            Level::Warn,
            Some("req-1"),
            "hello",
            &[("status", Value::from(502))],
        );
        assert!(!line.contains('\n'));
        let v: Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["level"], "warn");
        assert_eq!(v["requestId"], "req-1");
        assert_eq!(v["msg"], "hello");
        assert_eq!(v["status"], 502);
    }
}
