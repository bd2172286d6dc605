//! The upload page served at `/`, and the browser client at `/client.js`.
//!
//! The page is one HTML document: `page/index.html` with `page/style.css`
//! and `page/app.js` inlined where the `/*STYLE*/` and `/*SCRIPT*/` markers
//! are. `app.js` is an ES module that imports `client.js`: the repository's
//! `client/oss-direct-upload.js`, the dependency-free client an app imports
//! too. All of it is embedded in the binary with `include_str!`, so deploying
//! needs no build step. The only thing the page ever loads from elsewhere is
//! the ali-oss SDK (from `ALI_OSS_SCRIPT_URL`), and only when the STS tab is
//! used. Local builds embed a pinned copy (`vendor/ali-oss/`, served at
//! [`ALI_OSS_PATH`]) and `local` points the page at it, so local mode needs
//! nothing from outside.
//!
//! The page reads the function's public settings from `/v1/config` and
//! demonstrates all three upload modes: STS + ali-oss, and, on the client,
//! POST policy and presigned PUT (large files as presigned multipart parts
//! with pause and resume).

use crate::runtime::Response;
use bytes::Bytes;
use http::HeaderValue;
use std::sync::OnceLock;

const TEMPLATE: &str = include_str!("page/index.html");
const STYLE: &str = include_str!("page/style.css");
const SCRIPT: &str = include_str!("page/app.js");
const CLIENT: &str = include_str!("../../client/oss-direct-upload.js");

/// Where local builds serve the embedded ali-oss browser build.
pub const ALI_OSS_PATH: &str = "/vendor/aliyun-oss-sdk.min.js";

/// ali-oss 6.23.0's `dist/aliyun-oss-sdk.min.js` from npm (local builds only:
/// the deployed binary stays small and loads it from `ALI_OSS_SCRIPT_URL`).
#[cfg(feature = "local")]
const ALI_OSS: &[u8] = include_bytes!("../../vendor/ali-oss/aliyun-oss-sdk.min.js");

/// `GET /vendor/aliyun-oss-sdk.min.js`: the embedded ali-oss browser build.
#[cfg(feature = "local")]
pub fn ali_oss() -> Response {
    let mut resp = http::Response::new(Bytes::from_static(ALI_OSS));
    let headers = resp.headers_mut();
    headers.insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("text/javascript; charset=utf-8"),
    );
    headers.insert(
        http::header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        http::header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=86400"),
    );
    resp
}

/// The page with its stylesheet and script inlined, built once.
fn document() -> &'static str {
    static DOC: OnceLock<String> = OnceLock::new();
    DOC.get_or_init(|| {
        TEMPLATE
            .replacen("/*STYLE*/", STYLE, 1)
            .replacen("/*SCRIPT*/", SCRIPT, 1)
    })
}

/// The upload page: HTML with inline CSS and JavaScript, embedded in the binary.
pub fn index() -> Response {
    let mut resp = text(document(), "text/html; charset=utf-8");
    let headers = resp.headers_mut();
    headers.insert(
        http::header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    // The page handles a bearer token: it must not be framed by another site.
    headers.insert(
        http::header::X_FRAME_OPTIONS,
        HeaderValue::from_static("DENY"),
    );
    resp
}

/// `GET /client.js`: the browser client (`client/oss-direct-upload.js`), an ES module.
pub fn client() -> Response {
    text(CLIENT, "text/javascript; charset=utf-8")
}

fn text(body: &'static str, content_type: &'static str) -> Response {
    let mut resp = http::Response::new(Bytes::from_static(body.as_bytes()));
    let headers = resp.headers_mut();
    headers.insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static(content_type),
    );
    headers.insert(
        http::header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inlines_style_and_script() {
        let doc = document();
        assert!(!doc.contains("/*STYLE*/"));
        assert!(!doc.contains("/*SCRIPT*/"));
        assert!(doc.contains("function uploadWithSts("));
        assert!(doc.contains("<script type=\"module\">"));
        assert!(doc.contains("from './client.js'"));
        assert!(doc.contains("--accent:"));
    }

    #[test]
    fn serves_the_client_the_page_imports() {
        // POST policy, presigned PUT and multipart moved from the page into the client.
        let resp = client();
        let h = resp.headers();
        assert_eq!(
            h[http::header::CONTENT_TYPE],
            "text/javascript; charset=utf-8"
        );
        assert_eq!(h[http::header::X_CONTENT_TYPE_OPTIONS], "nosniff");
        let body = std::str::from_utf8(resp.body()).unwrap_or_default();
        assert!(body.contains("async function uploadWithPostPolicy("));
        assert!(body.contains("async function uploadWithPresignedPut("));
        assert!(body.contains("async function uploadWithMultipart("));
        assert!(body.contains("export function upload("));
    }

    #[test]
    fn embedded_text_cannot_close_its_element_early() {
        // Inlined CSS/JS must not contain the closing tag of its own element.
        assert!(!STYLE.contains("</style"));
        assert!(!SCRIPT.contains("</script"));
    }

    #[test]
    fn serves_html_with_safety_headers() {
        let resp = index();
        let h = resp.headers();
        assert_eq!(h[http::header::CONTENT_TYPE], "text/html; charset=utf-8");
        assert_eq!(h[http::header::X_CONTENT_TYPE_OPTIONS], "nosniff");
        assert_eq!(h[http::header::X_FRAME_OPTIONS], "DENY");
        assert!(resp.body().starts_with(b"<!doctype html>"));
    }
}
