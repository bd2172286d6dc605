//! CORS for the function's own routes, so browser apps on the listed
//! origins can fetch credentials.
//!
//! Only exact origins from `ALLOWED_ORIGINS` are echoed back (`*` only in
//! anonymous mode, enforced by config). Preflights are answered without
//! authentication, since browsers never send credentials on them.

use crate::runtime::Response;
use bytes::Bytes;
use http::{HeaderMap, HeaderValue};

/// The CORS policy for the function's routes.
#[derive(Clone, Debug, Default)]
pub struct Cors {
    origins: Vec<String>,
    any: bool,
}

/// What a request's `Origin` means under the policy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// No `Origin` header: not a cross-origin browser request.
    NoOrigin,
    /// Allowed; echo this value in `Access-Control-Allow-Origin`.
    Allowed(String),
    /// An origin we do not serve.
    Refused,
}

impl Cors {
    /// Builds the policy from `ALLOWED_ORIGINS`.
    pub fn new(origins: &[String]) -> Self {
        Cors {
            any: origins.iter().any(|o| o == "*"),
            origins: origins.iter().filter(|o| *o != "*").cloned().collect(),
        }
    }

    /// Judges a request's `Origin` header.
    ///
    /// A same-origin request (the upload page at `/` calling its own
    /// function: browsers send `Origin` on POST even then) is treated like one
    /// without `Origin`: it needs no CORS headers and is never refused.
    pub fn check(&self, headers: &HeaderMap) -> Verdict {
        let Some(origin) = headers.get(http::header::ORIGIN) else {
            return Verdict::NoOrigin;
        };
        let Ok(origin) = origin.to_str() else {
            return Verdict::Refused;
        };
        if is_same_origin(origin, headers) {
            return Verdict::NoOrigin;
        }
        if self.any || self.origins.iter().any(|o| o == origin) {
            Verdict::Allowed(origin.to_owned())
        } else {
            Verdict::Refused
        }
    }

    /// Adds the response headers for an allowed cross-origin request.
    pub fn decorate(&self, verdict: &Verdict, resp: &mut Response) {
        let h = resp.headers_mut();
        h.append(http::header::VARY, HeaderValue::from_static("Origin"));
        if let Verdict::Allowed(origin) = verdict {
            if let Ok(v) = HeaderValue::from_str(origin) {
                h.insert(http::header::ACCESS_CONTROL_ALLOW_ORIGIN, v);
            }
            h.insert(
                http::header::ACCESS_CONTROL_EXPOSE_HEADERS,
                HeaderValue::from_static("Retry-After, X-Request-Id"),
            );
        }
    }

    /// Answers a preflight (`OPTIONS`) for a route taking `methods` (an
    /// `Allow` value from the route table): 204 with those methods and
    /// `OPTIONS`, and the allowed headers, for an allowed origin; 403 for
    /// any other.
    pub fn preflight(&self, headers: &HeaderMap, methods: &str) -> Response {
        let methods = HeaderValue::from_str(&format!("{methods}, OPTIONS"))
            .unwrap_or(HeaderValue::from_static("OPTIONS"));
        let verdict = self.check(headers);
        let mut resp = http::Response::new(Bytes::new());
        match &verdict {
            Verdict::Refused => {
                use super::error::{ApiError, ErrorCode, ErrorShape};
                return ApiError::new(
                    ErrorCode::OriginNotAllowed,
                    "this origin is not in ALLOWED_ORIGINS",
                )
                .to_response(ErrorShape::Plain);
            }
            Verdict::NoOrigin => {
                *resp.status_mut() = http::StatusCode::NO_CONTENT;
                resp.headers_mut().insert(http::header::ALLOW, methods);
            }
            Verdict::Allowed(_) => {
                *resp.status_mut() = http::StatusCode::NO_CONTENT;
                let h = resp.headers_mut();
                h.insert(http::header::ACCESS_CONTROL_ALLOW_METHODS, methods);
                h.insert(
                    http::header::ACCESS_CONTROL_ALLOW_HEADERS,
                    HeaderValue::from_static("Authorization, Content-Type"),
                );
                h.insert(
                    http::header::ACCESS_CONTROL_MAX_AGE,
                    HeaderValue::from_static("600"),
                );
            }
        }
        self.decorate(&verdict, &mut resp);
        resp
    }
}

/// Whether `origin` (`scheme://host[:port]`) names the host this request was
/// sent to (`Host`, or `X-Forwarded-Host` behind a proxy). The scheme is not
/// compared: TLS may end in front of the function.
fn is_same_origin(origin: &str, headers: &HeaderMap) -> bool {
    let Some(authority) = origin
        .strip_prefix("https://")
        .or_else(|| origin.strip_prefix("http://"))
    else {
        return false;
    };
    [http::header::HOST.as_str(), "x-forwarded-host"]
        .iter()
        .filter_map(|name| headers.get(*name))
        .filter_map(|v| v.to_str().ok())
        .any(|host| {
            host.eq_ignore_ascii_case(authority)
                || host
                    .strip_suffix(":443")
                    .or_else(|| host.strip_suffix(":80"))
                    .is_some_and(|h| h.eq_ignore_ascii_case(authority))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hdrs(origin: Option<&str>) -> HeaderMap {
        let mut h = HeaderMap::new();
        if let Some(o) = origin {
            h.insert(http::header::ORIGIN, o.parse().unwrap());
        }
        h
    }

    #[test]
    fn exact_origins_only() {
        let c = Cors::new(&["https://app.example.com".into()]);
        assert_eq!(
            c.check(&hdrs(Some("https://app.example.com"))),
            Verdict::Allowed("https://app.example.com".into())
        );
        assert_eq!(
            c.check(&hdrs(Some("https://evil.example.com"))),
            Verdict::Refused
        );
        assert_eq!(
            c.check(&hdrs(Some("https://app.example.com.evil.com"))),
            Verdict::Refused
        );
        assert_eq!(c.check(&hdrs(None)), Verdict::NoOrigin);
        // The page at / posting to its own function is same-origin, listed or not.
        let mut same = hdrs(Some("https://fn.example.fcapp.run"));
        same.insert(http::header::HOST, "fn.example.fcapp.run".parse().unwrap());
        assert_eq!(c.check(&same), Verdict::NoOrigin);
        let mut other = hdrs(Some("https://evil.example.com"));
        other.insert(http::header::HOST, "fn.example.fcapp.run".parse().unwrap());
        assert_eq!(c.check(&other), Verdict::Refused);
        let mut prefix = hdrs(Some("https://fn.example.fcapp.run.evil.com"));
        prefix.insert(http::header::HOST, "fn.example.fcapp.run".parse().unwrap());
        assert_eq!(c.check(&prefix), Verdict::Refused);
        assert_eq!(
            c.preflight(&hdrs(Some("https://evil.example.com")), "GET")
                .status(),
            403
        );
        let ok = c.preflight(&hdrs(Some("https://app.example.com")), "GET, DELETE");
        assert_eq!(ok.status(), 204);
        assert_eq!(
            ok.headers()["access-control-allow-origin"],
            "https://app.example.com"
        );
        assert_eq!(
            ok.headers()["access-control-allow-methods"],
            "GET, DELETE, OPTIONS"
        );
    }
}
