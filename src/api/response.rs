//! Building responses: typed JSON bodies, the shared `Cache-Control`, and
//! the time format every route reports expiries in.

use super::error::{ApiError, ErrorCode, ErrorShape};
use crate::runtime::Response;
use bytes::Bytes;
use chrono::{DateTime, Utc};
use http::HeaderValue;

/// A JSON response serialised straight from a typed body.
pub(super) fn json_body<T: serde::Serialize>(status: u16, body: &T) -> Response {
    match serde_json::to_vec(body) {
        Ok(bytes) => {
            let mut resp = http::Response::new(Bytes::from(bytes));
            *resp.status_mut() = http::StatusCode::from_u16(status).unwrap_or(http::StatusCode::OK);
            resp.headers_mut().insert(
                http::header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            resp
        }
        Err(_) => ApiError::new(ErrorCode::InternalError, "could not encode the response")
            .to_response(ErrorShape::Plain),
    }
}

/// A `text/plain` response (Alibaba's presign sample client reads the bare URL).
pub(super) fn text_body(text: String) -> Response {
    let mut resp = http::Response::new(Bytes::from(text));
    resp.headers_mut().insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    resp
}

/// `[(k, v)]` serialised as a JSON object of strings, in order (form fields
/// must be sent in the order given).
pub(super) struct Pairs<'a>(pub(super) &'a [(String, String)]);

impl serde::Serialize for Pairs<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_map(self.0.iter().map(|(k, v)| (k, v)))
    }
}

/// `YYYY-MM-DDTHH:MM:SSZ`, the form STS uses and the mobile SDKs parse.
pub(super) fn iso_seconds(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// Credentials must never sit in a shared cache.
pub(super) fn with_no_store(mut resp: Response) -> Response {
    resp.headers_mut()
        .entry(http::header::CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
    resp
}
