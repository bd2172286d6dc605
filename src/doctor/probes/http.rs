//! The probes' HTTP plumbing: one read [`Answer`], the requests to the
//! function and to OSS, and the fixes named for an error answer.

use super::{CorsSeen, Doctor};
use bytes::Bytes;
use reqwest::header::HeaderMap;
use reqwest::Method;
use serde_json::Value;

/// One HTTP answer, body read.
pub(super) struct Answer {
    pub(super) status: u16,
    pub(super) headers: HeaderMap,
    pub(super) body: Bytes,
}

impl Answer {
    pub(super) fn json(&self) -> Option<Value> {
        serde_json::from_slice(&self.body).ok()
    }

    pub(super) fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The function's error `(code, message)`, if the body is one.
    pub(super) fn api_error(&self) -> Option<(String, String)> {
        let v = self.json()?;
        let e = v.get("error")?;
        Some((
            e.get("code")?.as_str()?.to_owned(),
            e.get("message")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_owned(),
        ))
    }

    /// OSS's XML error `Code`, if the body is one.
    pub(super) fn oss_code(&self) -> Option<String> {
        let text = std::str::from_utf8(&self.body).ok()?;
        let start = text.find("<Code>")? + 6;
        let end = text[start..].find("</Code>")? + start;
        Some(text[start..end].to_owned())
    }

    pub(super) fn short(&self) -> String {
        match (self.api_error(), self.oss_code()) {
            (Some((code, message)), _) => format!("{} {code}: {message}", self.status),
            (None, Some(code)) => format!("{} {code}", self.status),
            _ => {
                let text = String::from_utf8_lossy(&self.body);
                let text: String = text.chars().take(80).collect();
                format!("{} {}", self.status, text.trim().replace('\n', " "))
            }
        }
    }
}

pub(super) fn uri_component(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

impl Doctor<'_> {
    /// A request to the function (`path` from its root), with the token.
    pub(super) async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Answer, String> {
        let mut rb = self
            .http
            .request(method.clone(), format!("{}{path}", self.args.url));
        if let Some(t) = &self.args.token {
            rb = rb.bearer_auth(t);
        }
        if let Some(b) = body {
            rb = rb
                .header("content-type", "application/json")
                .body(b.to_string());
        }
        send(rb).await.map_err(|e| format!("{method} {path}: {e}"))
    }

    /// A request to OSS (a URL the function handed out), with `Origin` when
    /// one is configured; its CORS headers are remembered as `what`.
    pub(super) async fn oss(
        &mut self,
        what: &str,
        method: Method,
        url: &str,
        headers: &[(String, String)],
        body: Bytes,
    ) -> Result<Answer, String> {
        let mut rb = self.http.request(method, url);
        for (k, v) in headers {
            rb = rb.header(k.as_str(), v.as_str());
        }
        if let Some(o) = &self.args.origin {
            rb = rb.header("origin", o.as_str());
        }
        let a = send(rb.body(body))
            .await
            .map_err(|e| format!("{what} to OSS: {e}"))?;
        if self.args.origin.is_some() {
            self.cors_seen.push(CorsSeen {
                what: what.to_owned(),
                allow_origin: a.header("access-control-allow-origin").map(str::to_owned),
                expose: a.header("access-control-expose-headers").map(str::to_owned),
            });
        }
        if self.bucket_url.is_none() {
            self.bucket_url = Some(url.split('?').next().unwrap_or(url).to_owned());
        }
        Ok(a)
    }

    /// A function route's JSON answer, or the finding's (detail, fix).
    pub(super) async fn api(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Value, (String, String)> {
        let a = self
            .call(method.clone(), path, body)
            .await
            .map_err(|e| (e, "check that the function is reachable".to_owned()))?;
        match a.json() {
            Some(v) if (200..300).contains(&a.status) => Ok(v),
            _ => {
                let code = a.api_error().map(|(c, _)| c).unwrap_or_default();
                Err((
                    format!(
                        "{method} {} answered {}",
                        path.split('?').next().unwrap_or(path),
                        a.short()
                    ),
                    api_fix(a.status, &code),
                ))
            }
        }
    }
}

pub(super) fn see_log() -> String {
    "see the function's log for this request".to_owned()
}

/// `{"Name": "value"}` as header pairs.
pub(super) fn string_map(v: &Value) -> Vec<(String, String)> {
    v.as_object()
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| v.as_str().map(|s| (k.clone(), s.to_owned())))
                .collect()
        })
        .unwrap_or_default()
}

/// The strings of a JSON array (a profile's `contentTypes`); none for anything else.
pub(super) fn string_list(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|x| x.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// A request to OSS that got no answer: the finding's detail and its fix.
pub(super) fn oss_unreachable(e: String) -> (String, String) {
    (e, "check that OSS's endpoint is reachable".to_owned())
}

/// What to change when a function route answers an error.
pub(super) fn api_fix(status: u16, code: &str) -> String {
    match (status, code) {
        (401 | 403, _) if !code.starts_with("Sts") && !code.starts_with("Oss") => {
            "pass a valid --token for a test user (the JWT your app sends)".into()
        }
        (_, c) if c.starts_with("Sts") => "RAM: the function role needs sts:AssumeRole on OSS_ROLE_ARN's role, whose trust policy must name the function role".into(),
        (_, c) if c.starts_with("Oss") => "RAM: the upload role needs oss:PutObject, oss:ListParts and oss:AbortMultipartUpload on every profile prefix".into(),
        (429, _) => "rate limited: run the doctor again in a minute, or raise RATE_LIMIT_PER_MINUTE".into(),
        _ => see_log(),
    }
}

/// Whether OSS accepted an upload request; else the finding's (detail, fix).
pub(super) fn oss_ok(a: &Answer, op: &str, key: &str) -> Result<(), (String, String)> {
    if (200..300).contains(&a.status) {
        return Ok(());
    }
    let code = a.oss_code().unwrap_or_default();
    let fix = match code.as_str() {
        "AccessDenied" => format!("RAM: the upload role's policy must allow oss:PutObject on acs:oss:*:*:<bucket>/{}*", key.split('/').next().unwrap_or("")),
        "SignatureDoesNotMatch" => "the signature OSS computed differs: check OSS_REGION and OSS_ENDPOINT match the bucket's".into(),
        "RequestTimeTooSkewed" => "the function's clock (or this machine's) is off".into(),
        _ => see_log(),
    };
    Err((format!("OSS refused {op} of {key:?}: {}", a.short()), fix))
}

pub(super) async fn send(rb: reqwest::RequestBuilder) -> Result<Answer, String> {
    let r = rb.send().await.map_err(without_url)?;
    let status = r.status().as_u16();
    let headers = r.headers().clone();
    let body = r.bytes().await.map_err(without_url)?;
    Ok(Answer {
        status,
        headers,
        body,
    })
}

/// A transport error without its URL (presigned URLs carry signatures).
fn without_url(e: reqwest::Error) -> String {
    let e = e.without_url();
    let mut s = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(inner) = source {
        s.push_str(": ");
        s.push_str(&inner.to_string());
        source = inner.source();
    }
    s
}
