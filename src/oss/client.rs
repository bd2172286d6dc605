//! The OSS requests the function makes itself (multipart steps, post-upload
//! checks), signed V4 in the `Authorization` header.
//!
//! Split like the presigners: [`signed_request`] is a pure function (no I/O,
//! clock passed in) that turns an [`OssRequest`] into the URL and the exact
//! header set to send, through [`alibaba_sign::oss_v4::authorization_header`];
//! [`OssClient::send`] only does the HTTP, with bounded timeouts and a
//! bounded answer size, and maps OSS's XML error body onto [`OssError`].
//!
//! Every call is made with the caller's **scoped** STS credentials (or the
//! checker's), never the function's own identity.

use super::endpoint::Endpoint;
use alibaba_sign::oss_v4 as v4;
use alibaba_sign::Credentials;
use bytes::Bytes;
use chrono::{DateTime, Utc};
use std::fmt;
use std::time::Duration;

/// One request to OSS: method, object, sub-resources and headers. Header and
/// query values are unencoded; the signer and the URL builder encode them.
#[derive(Debug, Clone, Default)]
pub struct OssRequest {
    /// `GET`, `HEAD`, `PUT`, `POST` or `DELETE`.
    pub method: &'static str,
    /// The bucket name.
    pub bucket: String,
    /// The object key, raw.
    pub key: String,
    /// Query pairs (`("uploads", "")`, `("uploadId", id)`, ...), in URL order.
    pub query: Vec<(String, String)>,
    /// Headers to send and sign (`Content-Type`, `x-oss-*`, `Range`, ...).
    pub headers: Vec<(String, String)>,
    /// The request body (empty for most calls).
    pub body: Bytes,
    /// A longer (or shorter) limit for this call than the client's
    /// `request_timeout`, e.g. CompleteMultipartUpload of many parts.
    pub timeout: Option<Duration>,
}

impl OssRequest {
    /// A request for `method` on `bucket`/`key`, with no query, headers or body.
    pub fn new(method: &'static str, bucket: &str, key: &str) -> Self {
        OssRequest {
            method,
            bucket: bucket.to_owned(),
            key: key.to_owned(),
            ..Default::default()
        }
    }

    /// Adds a query pair (use `""` for a valueless sub-resource like `uploads`).
    pub fn query(mut self, name: &str, value: impl Into<String>) -> Self {
        self.query.push((name.to_owned(), value.into()));
        self
    }

    /// Adds a header that is sent and signed.
    pub fn header(mut self, name: &str, value: impl Into<String>) -> Self {
        self.headers.push((name.to_owned(), value.into()));
        self
    }

    /// Sets the body.
    pub fn body(mut self, body: impl Into<Bytes>) -> Self {
        self.body = body.into();
        self
    }

    /// Sets this call's own timeout (see [`OssRequest::timeout`]).
    pub fn timeout(mut self, limit: Duration) -> Self {
        self.timeout = Some(limit);
        self
    }
}

/// What [`signed_request`] produces: where to send the request and every
/// header to send with it (signature included).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedRequest {
    /// The full URL.
    pub url: String,
    /// Headers to send exactly as given, `Authorization` last.
    pub headers: Vec<(String, String)>,
}

/// Signs `req` for `endpoint` at `now` (V4 header authentication, unsigned
/// payload). Pure: the same inputs give the same bytes, which is what lets
/// the tests compare it with alibabacloud-oss-v2's signer.
pub fn signed_request(
    creds: &Credentials,
    region: &str,
    endpoint: &Endpoint,
    req: &OssRequest,
    now: DateTime<Utc>,
) -> SignedRequest {
    let mut headers = v4::request_headers(creds, &req.headers, now);
    let auth = v4::authorization_header(
        creds,
        region,
        req.method,
        &req.bucket,
        &req.key,
        &req.query,
        &headers,
        &[],
        now,
    );
    headers.push(("Authorization".to_owned(), auth));
    SignedRequest {
        url: endpoint.object_url(&req.bucket, &req.key, &req.query),
        headers,
    }
}

/// OSS's answer to a request that succeeded (2xx, or 206 for a range).
#[derive(Debug, Clone)]
pub struct OssResponse {
    /// The HTTP status.
    pub status: u16,
    /// The response headers (`ETag`, `Content-Type`, `x-oss-request-id`, ...).
    pub headers: http::HeaderMap,
    /// The body, at most [`OssClientConfig::max_response_bytes`].
    pub body: Bytes,
}

impl OssResponse {
    /// A response header as text, if present and visible ASCII.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// Why an OSS call failed. `Display` and `Debug` carry no secret: OSS error
/// bodies can echo the `StringToSign` and the AccessKey id, and neither is
/// kept here.
#[derive(Clone, PartialEq, Eq)]
pub enum OssError {
    /// OSS answered with an error status and (usually) an `<Error>` body.
    Service {
        /// OSS's HTTP status.
        status: u16,
        /// OSS's error code (`NoSuchUpload`, `InvalidPart`, ...), or a
        /// status-derived one for bodiless answers (HEAD): `NoSuchKey`, ...
        code: String,
        /// OSS's message.
        message: String,
        /// OSS's request id, for support tickets.
        request_id: Option<String>,
    },
    /// No answer within the configured timeout.
    Timeout,
    /// No connection (refused, DNS, TLS).
    Unavailable(String),
    /// An answer that could not be read (too large, cut off, not XML).
    BadResponse(String),
}

impl OssError {
    /// OSS's error code for service errors; `None` for transport failures.
    pub fn oss_code(&self) -> Option<&str> {
        match self {
            OssError::Service { code, .. } => Some(code),
            _ => None,
        }
    }

    /// Whether trying again later may succeed: OSS 5xx, throttling, timeouts
    /// and connection failures. A 4xx verdict is final.
    pub fn is_transient(&self) -> bool {
        match self {
            OssError::Service { status, code, .. } => *status >= 500 || code == "Throttling",
            OssError::Timeout | OssError::Unavailable(_) | OssError::BadResponse(_) => true,
        }
    }
}

impl fmt::Display for OssError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OssError::Service {
                status,
                code,
                message,
                request_id,
            } => {
                write!(f, "OSS answered {status} {code}: {message}")?;
                if let Some(id) = request_id {
                    write!(f, " (request id {id})")?;
                }
                Ok(())
            }
            OssError::Timeout => f.write_str("OSS did not answer in time"),
            OssError::Unavailable(d) => write!(f, "cannot reach OSS: {d}"),
            OssError::BadResponse(d) => write!(f, "unreadable answer from OSS: {d}"),
        }
    }
}

impl fmt::Debug for OssError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// Timeouts and limits for [`OssClient`].
#[derive(Debug, Clone)]
pub struct OssClientConfig {
    /// Time to open a connection.
    pub connect_timeout: Duration,
    /// Time for one whole request, answer included.
    pub request_timeout: Duration,
    /// Largest answer body read; longer answers are a [`OssError::BadResponse`].
    pub max_response_bytes: usize,
}

impl Default for OssClientConfig {
    fn default() -> Self {
        OssClientConfig {
            connect_timeout: Duration::from_secs(3),
            request_timeout: Duration::from_secs(10),
            // A ListParts page of 1,000 parts is about 150 KB.
            max_response_bytes: 4 << 20,
        }
    }
}

/// The HTTP side of the function's OSS calls: a pooled HTTP/1.1 client for
/// one endpoint and region. Cloning it, or [`OssClient::with_limits`], shares
/// the connection pool.
#[derive(Clone)]
pub struct OssClient {
    http: reqwest::Client,
    endpoint: Endpoint,
    region: String,
    max_response_bytes: usize,
    /// Each call's limit when it sets none; `None`: the pool's `request_timeout`.
    request_timeout: Option<Duration>,
}

impl OssClient {
    /// Builds a client for `endpoint` in `region`.
    pub fn new(endpoint: Endpoint, region: &str, config: OssClientConfig) -> Result<Self, String> {
        let http =
            crate::http_client::for_signed_requests(config.connect_timeout, config.request_timeout)
                .map_err(|e| format!("cannot build the OSS HTTP client: {}", e.without_url()))?;
        Ok(OssClient {
            http,
            endpoint,
            region: region.to_owned(),
            max_response_bytes: config.max_response_bytes,
            request_timeout: None,
        })
    }

    /// The same client, on the same connection pool, for a caller with
    /// tighter limits: each call bounded by `request_timeout` (unless it sets
    /// its own) and reading at most `max_response_bytes` (never more than this
    /// client reads).
    pub fn with_limits(&self, request_timeout: Duration, max_response_bytes: usize) -> OssClient {
        OssClient {
            request_timeout: Some(request_timeout),
            max_response_bytes: max_response_bytes.min(self.max_response_bytes),
            ..self.clone()
        }
    }

    /// The endpoint requests go to.
    pub fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    /// Signs and sends `req` with `creds`; a non-2xx answer is an
    /// [`OssError::Service`] carrying OSS's code.
    pub async fn send(
        &self,
        creds: &Credentials,
        req: OssRequest,
    ) -> Result<OssResponse, OssError> {
        let signed = signed_request(creds, &self.region, &self.endpoint, &req, Utc::now());
        let method = http::Method::from_bytes(req.method.as_bytes())
            .map_err(|_| OssError::BadResponse(format!("bad method {}", req.method)))?;
        let mut builder = self.http.request(method, &signed.url);
        if let Some(limit) = req.timeout.or(self.request_timeout) {
            builder = builder.timeout(limit);
        }
        for (k, v) in &signed.headers {
            builder = builder.header(k.as_str(), v.as_str());
        }
        let mut resp = builder
            .body(req.body)
            .send()
            .await
            .map_err(transport_error)?;
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let mut body = Vec::new();
        while let Some(chunk) = resp.chunk().await.map_err(transport_error)? {
            if body.len() + chunk.len() > self.max_response_bytes {
                return Err(OssError::BadResponse(format!(
                    "answer longer than {} bytes",
                    self.max_response_bytes
                )));
            }
            body.extend_from_slice(&chunk);
        }
        let body = Bytes::from(body);
        if (200..300).contains(&status) {
            return Ok(OssResponse {
                status,
                headers,
                body,
            });
        }
        Err(service_error(status, &headers, &body))
    }
}

fn transport_error(e: reqwest::Error) -> OssError {
    if e.is_timeout() {
        OssError::Timeout
    } else if e.is_connect() {
        OssError::Unavailable(e.without_url().to_string())
    } else {
        OssError::BadResponse(e.without_url().to_string())
    }
}

/// OSS's `<Error>` body read into an [`OssError::Service`]. Bodiless answers
/// (HEAD) get a code from the status, as the SDKs do.
fn service_error(status: u16, headers: &http::HeaderMap, body: &[u8]) -> OssError {
    let code = super::xml::first_text(body, "Code").unwrap_or_else(|| {
        match status {
            404 => "NoSuchKey",
            403 => "AccessDenied",
            412 => "PreconditionFailed",
            409 => "Conflict",
            _ if status >= 500 => "InternalError",
            _ => "UnknownError",
        }
        .to_owned()
    });
    let message = super::xml::first_text(body, "Message").unwrap_or_default();
    let request_id = super::xml::first_text(body, "RequestId").or_else(|| {
        headers
            .get("x-oss-request-id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    });
    OssError::Service {
        status,
        code,
        message: message.chars().take(300).collect(),
        request_id,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn creds() -> Credentials {
        Credentials::new("STS.ak", "sk", Some("tok".into()))
    }

    #[test]
    fn signed_request_carries_date_token_and_authorization() {
        let ep = Endpoint::parse("http://127.0.0.1:9100").unwrap();
        let now = Utc.with_ymd_and_hms(2024, 12, 1, 8, 0, 0).unwrap();
        let req = OssRequest::new("POST", "bkt", "uploads/a b.png")
            .query("uploads", "")
            .header("Content-Type", "image/png")
            .header("x-oss-forbid-overwrite", "true");
        let s = signed_request(&creds(), "cn-hangzhou", &ep, &req, now);
        assert_eq!(s.url, "http://127.0.0.1:9100/bkt/uploads/a%20b.png?uploads");
        let get = |n: &str| {
            s.headers
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(n))
                .map(|(_, v)| v.as_str())
        };
        assert_eq!(get("x-oss-date"), Some("20241201T080000Z"));
        assert_eq!(get("x-oss-security-token"), Some("tok"));
        assert_eq!(get("x-oss-content-sha256"), Some("UNSIGNED-PAYLOAD"));
        let auth = get("Authorization").unwrap();
        assert!(auth.starts_with(
            "OSS4-HMAC-SHA256 Credential=STS.ak/20241201/cn-hangzhou/oss/aliyun_v4_request,Signature="
        ));
        // One byte of the request changed, another signature.
        let other = signed_request(
            &creds(),
            "cn-hangzhou",
            &ep,
            &req.clone().header("x-oss-forbid-overwrite", "false"),
            now,
        );
        assert_ne!(other.headers.last(), s.headers.last());
    }

    #[test]
    fn service_errors_read_the_xml_or_the_status() {
        let h = http::HeaderMap::new();
        let e = service_error(
            404,
            &h,
            b"<Error><Code>NoSuchUpload</Code><Message>m</Message><RequestId>R1</RequestId></Error>",
        );
        assert_eq!(e.oss_code(), Some("NoSuchUpload"));
        assert!(!e.is_transient());
        let head = service_error(404, &h, b"");
        assert_eq!(head.oss_code(), Some("NoSuchKey"));
        assert!(service_error(503, &h, b"").is_transient());
        assert!(OssError::Timeout.is_transient());
    }
}
