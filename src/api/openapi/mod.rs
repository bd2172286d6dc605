//! The OpenAPI 3.1 document of every route: generated from the route table
//! ([`super::routes::routes`]: paths, methods, families) plus one schema
//! fragment per [`Handler`] (parameters, request body, success answer, every
//! [`ErrorCode`] it can answer), kept in the repository as
//! `docs/openapi.json` and served at `GET /v1/openapi.json`.
//!
//! The deployed build carries only the committed document, minified by
//! `build.rs` (the file is for people; the binary carries the compact form);
//! the generator is compiled for tests and `local` builds, where
//! `oss-direct-upload openapi` prints it. A unit test holds the generated
//! document equal to the committed file (`UPDATE=1` rewrites it), so the
//! document cannot drift from the routes. Served with `LEGACY_ROUTES` off,
//! the sample clients' routes are left out of it.
//!
//! `generate.rs` walks the route table into the document and holds its
//! shared components; `fragments.rs` holds what each handler takes and
//! answers. This file holds what every build serves.

use crate::runtime::Response;
use bytes::Bytes;
use http::HeaderValue;
use std::sync::OnceLock;

/// The committed document (`docs/openapi.json`), every route included, as
/// compact JSON (`build.rs` minifies it: about half the bytes in the binary).
pub const DOCUMENT: &str = include_str!(concat!(env!("OUT_DIR"), "/openapi.min.json"));

/// `GET /v1/openapi.json`: the committed document, without the sample
/// clients' routes when they are off. Built once per process.
pub(super) fn served(legacy_routes: bool) -> Response {
    static WITH_LEGACY: OnceLock<Bytes> = OnceLock::new();
    static WITHOUT_LEGACY: OnceLock<Bytes> = OnceLock::new();
    let body = if legacy_routes {
        WITH_LEGACY.get_or_init(|| Bytes::from_static(DOCUMENT.as_bytes()))
    } else {
        WITHOUT_LEGACY.get_or_init(without_legacy_routes)
    };
    let mut resp = http::Response::new(body.clone());
    resp.headers_mut().insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    resp
}

/// The committed document minus the paths the route table marks `legacy`.
fn without_legacy_routes() -> Bytes {
    let Ok(mut doc) = serde_json::from_str::<serde_json::Value>(DOCUMENT) else {
        // ok: the committed file is held valid JSON by a test; serve it as is.
        return Bytes::from_static(DOCUMENT.as_bytes());
    };
    if let Some(paths) = doc.get_mut("paths").and_then(|p| p.as_object_mut()) {
        for r in super::routes::routes().iter().filter(|r| r.legacy) {
            paths.shift_remove(r.path.template());
        }
    }
    Bytes::from(serde_json::to_vec(&doc).unwrap_or_else(|_| DOCUMENT.as_bytes().to_vec()))
}

/// The generator: route table + per-handler fragments → the document.
#[cfg(any(test, feature = "local"))]
mod generate;

/// Each [`Handler`]'s schema fragment: parameters, body, answer, error codes.
#[cfg(any(test, feature = "local"))]
mod fragments;

#[cfg(any(test, feature = "local"))]
pub use generate::document;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn served_document_leaves_out_legacy_routes_only_when_they_are_off() {
        let on: serde_json::Value = serde_json::from_slice(served(true).body()).unwrap();
        let off: serde_json::Value = serde_json::from_slice(served(false).body()).unwrap();
        assert!(on["paths"].get("/get_sts_token").is_some());
        assert!(off["paths"].get("/get_sts_token").is_none());
        assert!(off["paths"].get("/v1/sts").is_some());
        let n = |v: &serde_json::Value| v["paths"].as_object().unwrap().len();
        let legacy = super::super::routes::routes()
            .iter()
            .filter(|r| r.legacy)
            .count();
        assert_eq!(n(&on) - n(&off), legacy);
    }
}
