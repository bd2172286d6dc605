//! The one way the function builds an HTTP client for a signed request (STS
//! AssumeRole, its own OSS calls): HTTP/1.1 over rustls, bounded connect and
//! request times, pooled keep-alive, and no redirects, since following one
//! would carry the signed headers to another host.

use std::time::Duration;

/// A client for signed requests. HTTP/1.1 because the SDKs speak it and, with
/// HTTP/2, the signed `host` header would travel next to `:authority`, which
/// gateways may treat differently.
pub fn for_signed_requests(
    connect_timeout: Duration,
    request_timeout: Duration,
) -> Result<reqwest::Client, reqwest::Error> {
    reqwest::Client::builder()
        .use_rustls_tls()
        .http1_only()
        .connect_timeout(connect_timeout)
        .timeout(request_timeout)
        .pool_idle_timeout(Duration::from_secs(90))
        .tcp_keepalive(Duration::from_secs(30))
        .redirect(reqwest::redirect::Policy::none())
        .build()
}
