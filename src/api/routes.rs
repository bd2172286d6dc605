//! Path → route matching, and what each route allows. One table, so a
//! newcomer sees every path the function answers in one place.

use super::error::ErrorShape;
use super::multipart::MultipartOp;
use http::Method;

/// The routes this function answers, after path matching.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Route {
    Page,
    Healthz,
    Initialize,
    PublicConfig,
    Sts {
        legacy: bool,
    },
    PostPolicy {
        legacy: bool,
    },
    Presign {
        legacy: bool,
    },
    /// `/v1/multipart...` ([`super::multipart`]).
    Multipart(MultipartOp),
    /// Uppy's Companion S3 routes under `/s3/` ([`super::uppy`]).
    Uppy,
    /// `/v1/uploads/status`: the post-upload check's verdict ([`super::status`]).
    UploadStatus,
}

impl Route {
    pub(super) fn from_path(path: &str) -> Option<Route> {
        Some(match path {
            "/" | "/index.html" => Route::Page,
            "/healthz" => Route::Healthz,
            "/initialize" => Route::Initialize,
            "/v1/config" => Route::PublicConfig,
            "/v1/sts" => Route::Sts { legacy: false },
            "/get_sts_token" | "/get_sts_token_for_oss_upload" => Route::Sts { legacy: true },
            "/v1/post-policy" => Route::PostPolicy { legacy: false },
            "/get_post_signature_for_oss_upload" => Route::PostPolicy { legacy: true },
            "/v1/presign" => Route::Presign { legacy: false },
            "/get_presigned_url_for_oss_upload" => Route::Presign { legacy: true },
            "/v1/uploads/status" => Route::UploadStatus,
            p if super::uppy::is_uppy_path(p) => Route::Uppy,
            p => Route::Multipart(MultipartOp::from_path(p)?),
        })
    }

    /// The HTTP methods the route accepts (others get 405 with `Allow`).
    pub(super) fn methods(self) -> &'static [Method] {
        match self {
            Route::Page | Route::Healthz | Route::PublicConfig => &[Method::GET, Method::HEAD],
            Route::Initialize => &[Method::POST],
            Route::Multipart(op) => op.methods(),
            Route::Uppy => &[Method::GET, Method::POST, Method::DELETE],
            Route::UploadStatus => &[Method::GET],
            _ => &[Method::GET, Method::POST],
        }
    }

    /// The routes Alibaba's sample clients call (served only with `LEGACY_ROUTES=true`).
    pub(super) fn is_legacy(self) -> bool {
        matches!(
            self,
            Route::Sts { legacy: true }
                | Route::PostPolicy { legacy: true }
                | Route::Presign { legacy: true }
        )
    }

    /// Routes that hand out credentials (or, for the upload status, read
    /// with them): authenticated, rate-limited, never cached.
    pub(super) fn is_credential_route(self) -> bool {
        matches!(
            self,
            Route::Sts { .. }
                | Route::PostPolicy { .. }
                | Route::Presign { .. }
                | Route::Multipart(_)
                | Route::Uppy
                | Route::UploadStatus
        )
    }

    /// How errors are laid out: the shape the mobile SDKs' credential
    /// providers read (`StatusCode` / `ErrorCode`) for the STS routes, with a
    /// top-level `message` for Uppy.
    pub(super) fn error_shape(self) -> ErrorShape {
        match self {
            Route::Sts { .. } => ErrorShape::Sts,
            Route::Uppy => ErrorShape::Uppy,
            _ => ErrorShape::Plain,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_match_paths() {
        assert_eq!(
            Route::from_path("/v1/sts"),
            Some(Route::Sts { legacy: false })
        );
        assert_eq!(
            Route::from_path("/get_sts_token"),
            Some(Route::Sts { legacy: true })
        );
        assert_eq!(
            Route::from_path("/get_presigned_url_for_oss_upload"),
            Some(Route::Presign { legacy: true })
        );
        assert_eq!(
            Route::from_path("/v1/multipart/complete"),
            Some(Route::Multipart(MultipartOp::Complete))
        );
        assert_eq!(Route::from_path("/s3/multipart/U/3"), Some(Route::Uppy));
        assert_eq!(Route::from_path("/v1/multipart/nope"), None);
        assert_eq!(
            Route::from_path("/v1/uploads/status"),
            Some(Route::UploadStatus)
        );
        assert_eq!(Route::from_path("/v1/sts/"), None);
        assert_eq!(Route::from_path("/nope"), None);
    }
}
