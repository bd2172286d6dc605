//! STS `AssumeRole` over HTTPS, signed the way the current official SDK signs it.
//!
//! What the official Python SDK (`alibabacloud_sts20150401` 1.2 on
//! `alibabacloud-tea-openapi` 0.4.6) sends for `AssumeRole`, and therefore what
//! this client sends:
//! - `POST /` with every action parameter (`RoleArn`, `RoleSessionName`,
//!   `DurationSeconds`, `Policy`) in the **query string** and an empty body
//!   (`call_api` → `do_request`, because `signature_algorithm` is not `v2`).
//! - Signature V3 `ACS3-HMAC-SHA256` in `Authorization`, over the headers
//!   `host`, `accept`, `user-agent`, `x-acs-action`, `x-acs-version`,
//!   `x-acs-date`, `x-acs-signature-nonce`, `x-acs-content-sha256`, and, when
//!   the caller's credentials are temporary, `x-acs-accesskey-id` and
//!   `x-acs-security-token` (the token travels in that header, not in the query).
//!
//! Network I/O is confined to [`StsClient`]; building and signing the request
//! is the pure [`build_signed_request`], which tests use to tamper with a
//! request on purpose.

use std::fmt;
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Deserialize;

use alibaba_sign::acs::{acs3, sha256_hex};
use alibaba_sign::Credentials;

/// STS API version `AssumeRole` lives in (one constant, shared with the emulator).
pub use alibaba_sign::acs::STS_VERSION;

/// Largest response body we read; a real AssumeRole answer is a few KiB, and
/// a cap keeps a misbehaving endpoint from filling memory.
const MAX_BODY: usize = 256 * 1024;

/// Longest upstream message we copy into an error (they end up in logs and
/// API responses).
const MAX_MESSAGE: usize = 300;

/// Retry-after we suggest when STS throttles without saying for how long.
const DEFAULT_RETRY_AFTER_SECS: u64 = 1;

/// Bounds for the retry-after we pass on from STS: at least 1 s, and at most
/// a minute, so a bogus or hostile upstream value cannot tell our clients to
/// stay away for days.
const MIN_RETRY_AFTER_SECS: u64 = 1;
const MAX_RETRY_AFTER_SECS: u64 = 60;

/// How to reach STS. Kept separate from the client so the endpoint can point
/// at a loopback emulator in tests and local mode.
#[derive(Debug, Clone)]
pub struct StsClientConfig {
    /// Base URL, e.g. `https://sts.cn-hangzhou.aliyuncs.com`,
    /// `https://sts-vpc.cn-hangzhou.aliyuncs.com` or `http://127.0.0.1:PORT`.
    pub endpoint: String,
    /// Limit on establishing a TCP/TLS connection.
    pub connect_timeout: Duration,
    /// Limit on the whole request, connect included; beyond it the caller
    /// gets 504 `StsTimeout` rather than hanging the function.
    pub request_timeout: Duration,
    /// At most this many `AssumeRole` calls in any second
    /// (`STS_MAX_CALLS_PER_SECOND`); beyond it a call is not sent and fails
    /// with [`StsError::OverBudget`]. `None`: no budget (tests of the client).
    pub max_calls_per_second: Option<u32>,
}

impl StsClientConfig {
    /// Config for `endpoint` with timeouts that fit a Function Compute
    /// request budget (2 s connect, 5 s total).
    pub fn new(endpoint: impl Into<String>) -> Self {
        StsClientConfig {
            endpoint: endpoint.into(),
            connect_timeout: Duration::from_secs(2),
            request_timeout: Duration::from_secs(5),
            max_calls_per_second: None,
        }
    }
}

/// Parameters of one `AssumeRole` call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AssumeRoleRequest {
    /// `acs:ram::<account_id>:role/<role_name>` of the upload role.
    pub role_arn: String,
    /// 2–64 chars of `[A-Za-z0-9.@_-]`; see [`super::policy::role_session_name`].
    pub role_session_name: String,
    /// Token lifetime, 900 … the role's MaxSessionDuration.
    pub duration_seconds: u32,
    /// Session policy narrowing the role; see [`super::policy::upload_session_policy`].
    pub policy: Option<String>,
}

/// Temporary credentials returned by STS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AssumedRole {
    /// `STS.…` key, secret and security token (Debug redacts secret and token).
    pub credentials: Credentials,
    /// When the credentials stop working, parsed for cache decisions.
    pub expiration: DateTime<Utc>,
    /// `Expiration` exactly as STS sent it, so clients that parse a fixed
    /// format (Android/iOS SDKs) get the string they expect.
    pub expiration_text: String,
    /// STS `RequestId`, for support tickets and log correlation.
    pub request_id: Option<String>,
}

pub use super::error::StsError;

/// A fully signed HTTP request, ready to send. Public so tests (and a
/// debugging tool) can inspect or deliberately tamper with it.
#[derive(Clone, PartialEq, Eq)]
pub struct SignedRequest {
    /// Always `POST`, like the SDK.
    pub method: &'static str,
    /// Endpoint + `/?` + canonical (RFC 3986) query.
    pub url: String,
    /// Headers to send, all of them signed.
    pub headers: Vec<(String, String)>,
}

impl fmt::Debug for SignedRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let headers: Vec<(&str, &str)> = self
            .headers
            .iter()
            .map(|(k, v)| {
                let v = if k == "x-acs-security-token" {
                    "<redacted>"
                } else {
                    v.as_str()
                };
                (k.as_str(), v)
            })
            .collect();
        f.debug_struct("SignedRequest")
            .field("method", &self.method)
            .field("url", &self.url)
            .field("headers", &headers)
            .finish()
    }
}

/// Parses and checks the endpoint: http(s), a host, and nothing after it.
/// A path would be sent but not signed (STS signs `/`), so it is refused.
fn parse_endpoint(endpoint: &str) -> Result<url::Url, StsError> {
    let url = url::Url::parse(endpoint).map_err(|e| StsError::Config {
        detail: format!("invalid STS endpoint: {e}"),
    })?;
    if !matches!(url.scheme(), "http" | "https")
        || url.host_str().is_none()
        || url.path() != "/"
        || url.query().is_some()
        || url.fragment().is_some()
        || !url.username().is_empty()
        || url.password().is_some()
    {
        return Err(StsError::Config {
            detail: "STS endpoint must be http(s)://host[:port] with no path, query or userinfo"
                .into(),
        });
    }
    Ok(url)
}

/// The `Host` value reqwest will send for `url`: host, plus `:port` only when
/// the port is not the scheme default. It is signed, so it must match exactly.
fn host_header(url: &url::Url) -> Option<String> {
    let host = url.host_str()?;
    Some(match url.port() {
        Some(p) => format!("{host}:{p}"),
        None => host.to_string(),
    })
}

/// Builds and signs an `AssumeRole` request (ACS3-HMAC-SHA256), without I/O.
///
/// `endpoint` is the base URL; `now` and `nonce` are inputs so the result is
/// deterministic. The caller's security token, when present, is sent as
/// `x-acs-security-token` together with `x-acs-accesskey-id`, as the SDK does.
pub fn build_signed_request(
    endpoint: &str,
    caller: &Credentials,
    req: &AssumeRoleRequest,
    now: DateTime<Utc>,
    nonce: &str,
) -> Result<SignedRequest, StsError> {
    let base = parse_endpoint(endpoint)?;
    let host = host_header(&base).ok_or_else(|| StsError::Config {
        detail: "STS endpoint has no host".into(),
    })?;

    let duration = req.duration_seconds.to_string();
    let mut query: Vec<(&str, &str)> = vec![
        ("DurationSeconds", duration.as_str()),
        ("RoleArn", req.role_arn.as_str()),
        ("RoleSessionName", req.role_session_name.as_str()),
    ];
    if let Some(p) = &req.policy {
        query.push(("Policy", p.as_str()));
    }

    let date = now.to_rfc3339_opts(SecondsFormat::Secs, true);
    let payload_hash = sha256_hex(b"");
    let user_agent = concat!("oss-direct-upload/", env!("CARGO_PKG_VERSION"));
    let mut headers: Vec<(&str, &str)> = vec![
        ("host", host.as_str()),
        ("x-acs-version", STS_VERSION),
        ("x-acs-action", "AssumeRole"),
        ("user-agent", user_agent),
        ("x-acs-date", date.as_str()),
        ("x-acs-signature-nonce", nonce),
        ("accept", "application/json"),
        ("x-acs-content-sha256", payload_hash.as_str()),
    ];
    if let Some(token) = caller.security_token.as_deref() {
        headers.push(("x-acs-accesskey-id", caller.access_key_id.as_str()));
        headers.push(("x-acs-security-token", token));
    }

    let canonical = acs3::canonical_request("POST", "/", &query, &headers, &payload_hash);
    let sts = acs3::string_to_sign(&canonical);
    let signature = acs3::signature(&caller.access_key_secret, &sts);
    let (_, signed_headers) = acs3::canonical_headers(&headers);
    let authorization = acs3::authorization(&caller.access_key_id, &signed_headers, &signature);

    let mut url = base.as_str().trim_end_matches('/').to_string();
    url.push_str("/?");
    url.push_str(&acs3::canonical_query(&query));

    let mut out: Vec<(String, String)> = headers
        .iter()
        .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
        .collect();
    out.push(("authorization".into(), authorization));
    Ok(SignedRequest {
        method: "POST",
        url,
        headers: out,
    })
}

/// Calls STS. One instance per process: it owns a pooled, keep-alive
/// connection so warm invocations skip the TCP/TLS handshake.
#[derive(Debug, Clone)]
pub struct StsClient {
    http: reqwest::Client,
    endpoint: String,
    /// Shared by clones: one budget per instance.
    budget: Option<std::sync::Arc<super::guard::CallBudget>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct OkBody {
    request_id: Option<String>,
    credentials: OkCredentials,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct OkCredentials {
    access_key_id: String,
    access_key_secret: String,
    security_token: String,
    expiration: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ErrBody {
    code: Option<String>,
    message: Option<String>,
    request_id: Option<String>,
}

fn truncate(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

fn map_transport(e: reqwest::Error) -> StsError {
    if e.is_timeout() {
        StsError::Timeout
    } else {
        // without_url: the query carries the session policy and role ARN; not
        // secret, but nothing a log line needs.
        StsError::Unavailable {
            detail: e.without_url().to_string(),
        }
    }
}

/// Seconds to suggest from STS's throttling headers, clamped to
/// `MIN_RETRY_AFTER_SECS..=MAX_RETRY_AFTER_SECS`. `Retry-After` is read only
/// in its delay-seconds form; an HTTP-date (or anything else that is not a
/// plain number) is ignored.
fn retry_after(headers: &reqwest::header::HeaderMap) -> u64 {
    let get = |name: &str| {
        let v = headers.get(name)?.to_str().ok()?.trim();
        if v.is_empty() || !v.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        // All digits, so the only parse failure is overflow: saturate.
        Some(v.parse::<u64>().unwrap_or(u64::MAX))
    };
    // Standard header is seconds; the SDK's `x-acs-retry-after` is milliseconds.
    let secs = get("retry-after")
        .or_else(|| get("x-acs-retry-after").map(|ms| ms.div_ceil(1000)))
        .unwrap_or(DEFAULT_RETRY_AFTER_SECS);
    secs.clamp(MIN_RETRY_AFTER_SECS, MAX_RETRY_AFTER_SECS)
}

/// Maps an STS answer (status, headers, body) to credentials or an error.
/// Separate from I/O so the mapping is unit-testable.
fn interpret(
    status: u16,
    headers: &reqwest::header::HeaderMap,
    body: &[u8],
) -> Result<AssumedRole, StsError> {
    if (200..300).contains(&status) {
        let ok: OkBody = serde_json::from_slice(body).map_err(|e| StsError::BadResponse {
            status,
            detail: format!(
                "AssumeRole body is not the expected JSON: {}",
                truncate(&e.to_string(), 120)
            ),
        })?;
        let c = ok.credentials;
        let expiration = DateTime::parse_from_rfc3339(&c.expiration)
            .map_err(|_| StsError::BadResponse {
                status,
                detail: "Credentials.Expiration is not an RFC 3339 time".into(),
            })?
            .with_timezone(&Utc);
        if c.access_key_id.is_empty()
            || c.access_key_secret.is_empty()
            || c.security_token.is_empty()
        {
            return Err(StsError::BadResponse {
                status,
                detail: "Credentials has an empty field".into(),
            });
        }
        return Ok(AssumedRole {
            credentials: Credentials::new(
                c.access_key_id,
                c.access_key_secret,
                Some(c.security_token),
            ),
            expiration,
            expiration_text: c.expiration,
            request_id: ok.request_id,
        });
    }

    let parsed: Option<ErrBody> = serde_json::from_slice(body).ok();
    let code = parsed.as_ref().and_then(|b| b.code.clone());
    let request_id = parsed.as_ref().and_then(|b| b.request_id.clone());
    let throttled_code = code.as_deref().is_some_and(|c| c.starts_with("Throttling"));
    if throttled_code || status == 429 || status == 503 {
        return Err(StsError::Throttled {
            upstream_code: code,
            retry_after_secs: retry_after(headers),
            request_id,
        });
    }
    if status >= 500 {
        return Err(StsError::Upstream {
            status,
            upstream_code: code,
            request_id,
        });
    }
    match (parsed, code) {
        (Some(b), Some(code)) => Err(StsError::Rejected {
            status,
            upstream_code: code,
            message: truncate(b.message.as_deref().unwrap_or(""), MAX_MESSAGE),
            request_id,
        }),
        _ => Err(StsError::BadResponse {
            status,
            detail: "error answer without a JSON Code".into(),
        }),
    }
}

impl StsClient {
    /// Builds the client and its connection pool. Fails only for a bad
    /// endpoint URL or if the TLS stack cannot initialise.
    pub fn new(config: StsClientConfig) -> Result<Self, StsError> {
        // Validate the endpoint now, not on the first request.
        parse_endpoint(&config.endpoint)?;
        let http =
            crate::http_client::for_signed_requests(config.connect_timeout, config.request_timeout)
                .map_err(|e| StsError::Config {
                    detail: format!("cannot build HTTP client: {}", e.without_url()),
                })?;
        Ok(StsClient {
            http,
            endpoint: config.endpoint,
            budget: config
                .max_calls_per_second
                .map(|n| std::sync::Arc::new(super::guard::CallBudget::new(n))),
        })
    }

    /// The configured endpoint (for logs and health output).
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// Opens (and pools) a connection to the endpoint so the first real
    /// `AssumeRole` of a fresh instance does not pay for DNS, TCP and TLS.
    /// Sends an unsigned `GET /`; the answer and any error are ignored.
    pub async fn warm(&self) {
        if let Ok(resp) = self.http.get(&self.endpoint).send().await {
            // Drain so the connection goes back to the pool.
            let _ = resp.bytes().await;
        }
    }

    /// Calls `AssumeRole` with `caller`'s credentials, signed for time `now`.
    ///
    /// `now` is a parameter (not read from the clock) so callers and tests
    /// control the signed timestamp; pass `Utc::now()` in production.
    /// With a budget ([`StsClientConfig::max_calls_per_second`]) a call past
    /// it is not sent: [`StsError::OverBudget`].
    pub async fn assume_role(
        &self,
        caller: &Credentials,
        req: &AssumeRoleRequest,
        now: DateTime<Utc>,
    ) -> Result<AssumedRole, StsError> {
        if let Some(budget) = &self.budget {
            if let Err(wait) = budget.try_take(std::time::Instant::now()) {
                return Err(StsError::OverBudget {
                    max_per_second: budget.max_per_second(),
                    retry_after_secs: wait.as_secs_f64().ceil().max(1.0) as u64,
                });
            }
        }
        let nonce = hex::encode(rand::random::<[u8; 16]>());
        let signed = build_signed_request(&self.endpoint, caller, req, now, &nonce)?;
        self.send(&signed).await
    }

    /// Sends an already signed request and interprets the answer. Public so
    /// tests can send a deliberately tampered [`SignedRequest`].
    pub async fn send(&self, signed: &SignedRequest) -> Result<AssumedRole, StsError> {
        let mut rb = self.http.post(&signed.url);
        for (k, v) in &signed.headers {
            rb = rb.header(k.as_str(), v.as_str());
        }
        let mut resp = rb.send().await.map_err(map_transport)?;
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let mut body: Vec<u8> = Vec::new();
        while let Some(chunk) = resp.chunk().await.map_err(map_transport)? {
            if body.len() + chunk.len() > MAX_BODY {
                return Err(StsError::BadResponse {
                    status,
                    detail: format!("body larger than {MAX_BODY} bytes"),
                });
            }
            body.extend_from_slice(&chunk);
        }
        interpret(status, &headers, &body)
    }
}

#[cfg(test)]
mod tests;
