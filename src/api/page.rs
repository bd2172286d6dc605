//! The upload page served at `/`.

use crate::runtime::Response;
use bytes::Bytes;
use http::HeaderValue;

const INDEX_HTML: &str =
    "<!doctype html><title>oss-direct-upload</title><p>oss-direct-upload is running.</p>";

/// The HTML page, embedded in the binary.
pub fn index() -> Response {
    let mut resp = http::Response::new(Bytes::from_static(INDEX_HTML.as_bytes()));
    resp.headers_mut().insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    resp
}
