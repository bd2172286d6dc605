//! CORS as OSS answers it: preflights, and the headers exposed to allowed origins.
//!
//! Preflights are checked against the configured origins; the headers a browser
//! may read (`ETag`, `x-oss-request-id`) are exposed on every answer to an allowed
//! origin, `ETag` unless [`ServeOptions::cors_expose_etag`] is off.

use http::{HeaderMap, StatusCode};

use super::request::Reply;
use super::wire::header;
use super::xml::OssError;
use super::{EmulatorConfig, ServeOptions};

/// `Access-Control-Expose-Headers`: what the bucket's CORS rule lets a browser read.
pub(super) fn expose_headers(opts: &ServeOptions) -> &'static str {
    if opts.cors_expose_etag {
        "ETag, x-oss-request-id"
    } else {
        "x-oss-request-id"
    }
}

pub(super) fn origin_allowed(cfg: &EmulatorConfig, origin: &str) -> bool {
    cfg.allowed_origins
        .iter()
        .any(|o| o == "*" || o.eq_ignore_ascii_case(origin))
}

pub(super) fn allow_origin_value(cfg: &EmulatorConfig, origin: &str) -> String {
    if cfg
        .allowed_origins
        .iter()
        .any(|o| o.eq_ignore_ascii_case(origin))
    {
        origin.to_string()
    } else {
        "*".to_string()
    }
}

/// Answers a CORS preflight.
pub(super) fn preflight(
    cfg: &EmulatorConfig,
    opts: &ServeOptions,
    h: &HeaderMap,
) -> Result<Reply, OssError> {
    let denied = || {
        OssError::new(
            StatusCode::FORBIDDEN,
            "AccessForbidden",
            "CORSResponse: This CORS request is not allowed. This is usually because the evalution of Origin, request method / Access-Control-Request-Method or Access-Control-Request-Headers are not whitelisted by the resource's CORS spec.",
        )
    };
    let origin = header(h, "origin").ok_or_else(denied)?;
    let method = header(h, "access-control-request-method").ok_or_else(denied)?;
    if !origin_allowed(cfg, origin) || !matches!(method, "GET" | "PUT" | "POST" | "DELETE" | "HEAD")
    {
        return Err(denied());
    }
    let mut r = Reply::new(StatusCode::OK)
        .header(
            "access-control-allow-origin",
            allow_origin_value(cfg, origin),
        )
        .header(
            "access-control-allow-methods",
            "GET, PUT, POST, DELETE, HEAD",
        )
        .header("access-control-max-age", "600")
        .header("access-control-expose-headers", expose_headers(opts))
        .header(
            "vary",
            "Origin, Access-Control-Request-Method, Access-Control-Request-Headers",
        );
    if let Some(rh) = header(h, "access-control-request-headers") {
        r = r.header("access-control-allow-headers", rh);
    }
    Ok(r)
}
