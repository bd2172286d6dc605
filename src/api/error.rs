//! The API's error vocabulary: every code the function answers with
//! ([`ErrorCode`], each with its one HTTP status), the one error shape
//! `{"error":{"code","message"}}` ([`ApiError`]), and the one mapping each
//! for failures of STS, OSS and authentication onto it.
//!
//! README's "Error codes" table lists exactly [`ErrorCode::ALL`]
//! (`tests/error_codes.rs` holds the two equal), so a code cannot be added,
//! removed or moved to another status without the manual saying so.

use crate::auth::AuthError;
use crate::oss::client::OssError;
use crate::profiles::keys::KeyError;
use crate::profiles::limits::LimitError;
use crate::runtime::Response;
use crate::sts::client::StsError;
use bytes::Bytes;
use http::{HeaderValue, StatusCode};
use std::fmt;

/// Declares [`ErrorCode`] once: each variant's name is its code string, the
/// number its HTTP status.
macro_rules! error_codes {
    ($($(#[doc = $doc:literal])* $name:ident = $status:literal,)*) => {
        /// Every error code the function answers with, each with its HTTP status.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum ErrorCode {
            $($(#[doc = $doc])* $name,)*
        }

        impl ErrorCode {
            /// Every code, in README's order.
            pub const ALL: &'static [ErrorCode] = &[$(ErrorCode::$name,)*];

            /// The HTTP status this code is always answered with.
            pub fn status(self) -> u16 {
                match self {
                    $(ErrorCode::$name => $status,)*
                }
            }

            /// The code as it appears in `error.code`.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(ErrorCode::$name => stringify!($name),)*
                }
            }

            /// What the code means (its doc comment), for generated documents.
            pub fn description(self) -> &'static str {
                match self {
                    $(ErrorCode::$name => concat!($($doc),*).trim_ascii(),)*
                }
            }
        }
    };
}

error_codes! {
    /// A parameter the caller sent cannot be used (message says which).
    InvalidParameter = 400,
    /// The request body is not JSON, or not the JSON the route takes.
    InvalidJson = 400,
    /// The body could not be read (written by the runtime).
    BadRequestBody = 400,
    /// The named upload profile does not exist.
    UnknownProfile = 400,
    /// The profile does not allow this upload method.
    MethodNotAllowedForProfile = 400,
    /// The declared content type is not one the profile allows.
    ContentTypeNotAllowed = 400,
    /// The declared (or completed) size is over the profile's limit.
    FileTooLarge = 400,
    /// The declared (or completed) size is under the profile's minimum.
    FileTooSmall = 400,
    /// A multipart part number outside 1–10,000, repeated, or past the plan.
    InvalidPartNumber = 400,
    /// A multipart complete that lists no parts.
    NoParts = 400,
    /// The complete's part list differs from the parts OSS holds.
    PartsMismatch = 400,
    /// More than 10,000 parts.
    TooManyParts = 400,
    /// A part but the last under 100 KiB (our check).
    PartTooSmall = 400,
    /// OSS refused a part (OSS's own code).
    InvalidPart = 400,
    /// OSS refused the part order (OSS's own code).
    InvalidPartOrder = 400,
    /// OSS found a part too small (OSS's own code).
    EntityTooSmall = 400,
    /// No token where one is needed.
    Unauthorized = 401,
    /// The token was rejected.
    InvalidToken = 401,
    /// The token is valid but names no usable user.
    Forbidden = 403,
    /// A key the caller named is not under their prefix.
    KeyOutsidePrefix = 403,
    /// The `Origin` is not in `ALLOWED_ORIGINS`.
    OriginNotAllowed = 403,
    /// No such route (or a route that is off).
    NotFound = 404,
    /// OSS knows no such multipart upload for the key.
    NoSuchUpload = 404,
    /// The route does not take this method (`Allow` says which it does).
    MethodNotAllowed = 405,
    /// The body did not arrive in time (written by the runtime).
    RequestTimeout = 408,
    /// An object already exists at the key and uploads never overwrite.
    FileAlreadyExists = 409,
    /// The body is over the route's limit (written by the runtime).
    PayloadTooLarge = 413,
    /// Too many credential requests from this caller (`Retry-After`).
    RateLimited = 429,
    /// A bug or an impossible state on our side.
    InternalError = 500,
    /// The STS client is misconfigured.
    StsMisconfigured = 500,
    /// STS refused AssumeRole (the message names STS's code).
    StsRejected = 502,
    /// STS answered 5xx.
    StsUpstreamError = 502,
    /// STS could not be reached.
    StsUnavailable = 502,
    /// STS's answer could not be read, or held expired credentials.
    StsBadResponse = 502,
    /// STS's credentials would live less than the promised 6 minutes.
    StsCredentialsTooShortLived = 502,
    /// OSS answered 5xx or could not be reached.
    OssUnavailable = 502,
    /// OSS refused the call (4xx other than those passed on).
    OssRejected = 502,
    /// OSS's answer could not be read.
    OssBadResponse = 502,
    /// STS is throttling (`Retry-After`).
    StsThrottled = 503,
    /// `JWT_JWKS_URL`: no key set fetched yet, so no token can be checked (`Retry-After`).
    JwksUnavailable = 503,
    /// The function has no credentials to call STS with.
    NoFunctionCredentials = 503,
    /// STS did not answer in time.
    StsTimeout = 504,
    /// OSS did not answer in time.
    OssTimeout = 504,
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How an error body is laid out for the client that reads it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorShape {
    /// `{"error":{"code","message"}}`.
    Plain,
    /// Plus `StatusCode`/`ErrorCode`/`ErrorMessage`, which the Android and
    /// iOS `OSSAuthCredentialsProvider` read on failure.
    Sts,
    /// Plus a top-level `message`, which Uppy's companion client shows.
    Uppy,
}

/// An error a route answers with, as JSON, with its code's status.
///
/// Built only from an [`ErrorCode`]. Messages tell the caller what to do
/// next and never contain a secret, token or signature.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiError {
    code: ErrorCode,
    /// What went wrong and what to do about it.
    pub message: String,
    /// Seconds to put in `Retry-After` (throttling, rate limit).
    pub retry_after: Option<u64>,
    /// `WWW-Authenticate` value for 401s.
    pub www_authenticate: Option<String>,
}

impl ApiError {
    /// An error with `code` and no extra headers.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        ApiError {
            code,
            message: message.into(),
            retry_after: None,
            www_authenticate: None,
        }
    }

    /// 400 `InvalidParameter`: the caller sent something we cannot use.
    pub fn bad_param(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidParameter, message)
    }

    /// The error's code.
    pub fn code(&self) -> ErrorCode {
        self.code
    }

    /// The HTTP status (the code's).
    pub fn status(&self) -> u16 {
        self.code.status()
    }

    /// Renders the error in `shape`.
    pub fn to_response(&self, shape: ErrorShape) -> Response {
        let code = self.code.as_str();
        let mut body = serde_json::Map::new();
        body.insert(
            "error".into(),
            serde_json::json!({"code": code, "message": self.message}),
        );
        match shape {
            ErrorShape::Plain => {}
            ErrorShape::Sts => {
                body.insert("StatusCode".into(), self.status().into());
                body.insert("ErrorCode".into(), code.into());
                body.insert("ErrorMessage".into(), self.message.clone().into());
            }
            ErrorShape::Uppy => {
                body.insert("message".into(), self.message.clone().into());
            }
        }
        let mut resp =
            http::Response::new(Bytes::from(serde_json::Value::Object(body).to_string()));
        *resp.status_mut() =
            StatusCode::from_u16(self.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let h = resp.headers_mut();
        h.insert(
            http::header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        if let Some(secs) = self.retry_after {
            h.insert(http::header::RETRY_AFTER, HeaderValue::from(secs));
        }
        if let Some(v) = self
            .www_authenticate
            .as_deref()
            .and_then(|v| HeaderValue::from_str(v).ok())
        {
            h.insert(http::header::WWW_AUTHENTICATE, v);
        }
        resp
    }

    /// Maps an OSS failure of `call` onto our code: OSS's own code for the
    /// multipart refusals a client can act on, 502 `OssUnavailable` for
    /// OSS 5xx or no connection, 502 `OssRejected` for other refusals, 502
    /// `OssBadResponse`, 504 `OssTimeout`. No secret reaches the message:
    /// [`OssError`] keeps none.
    pub fn from_oss(call: OssCall, e: OssError) -> Self {
        let name = call.name();
        match e {
            OssError::Service {
                status,
                code,
                message,
                request_id,
            } => {
                let rid = request_id
                    .map(|r| format!(" (OSS request id {r})"))
                    .unwrap_or_default();
                let (ours, what) = match code.as_str() {
                    "NoSuchUpload" => (
                        ErrorCode::NoSuchUpload,
                        "no such upload: the uploadId is unknown for this key, or was completed or aborted".to_owned(),
                    ),
                    "InvalidPart" => (ErrorCode::InvalidPart, format!("OSS refused a part: {message}")),
                    "InvalidPartOrder" => (
                        ErrorCode::InvalidPartOrder,
                        format!("OSS refused the part order: {message}"),
                    ),
                    "EntityTooSmall" => (
                        ErrorCode::EntityTooSmall,
                        format!("a part is too small: {message}"),
                    ),
                    "FileAlreadyExists" => (
                        ErrorCode::FileAlreadyExists,
                        "an object already exists at this key and uploads never overwrite".to_owned(),
                    ),
                    _ if status >= 500 => (
                        ErrorCode::OssUnavailable,
                        format!("OSS failed {name}: {code} {message}"),
                    ),
                    "AccessDenied" => (
                        ErrorCode::OssRejected,
                        format!("OSS denied {name} to the upload role ({message}); check the role's policy allows {} on the bucket", call.actions()),
                    ),
                    _ => (
                        ErrorCode::OssRejected,
                        format!("OSS refused {name}: {code} {message}"),
                    ),
                };
                ApiError::new(ours, format!("{what}{rid}"))
            }
            OssError::Timeout => ApiError::new(
                ErrorCode::OssTimeout,
                format!("OSS did not answer {name} in time; retry"),
            ),
            OssError::Unavailable(d) => ApiError::new(
                ErrorCode::OssUnavailable,
                format!("cannot reach OSS for {name}: {d}; retry"),
            ),
            OssError::BadResponse(d) => ApiError::new(
                ErrorCode::OssBadResponse,
                format!("unreadable answer from OSS to {name}: {d}"),
            ),
        }
    }
}

/// The OSS calls the API makes itself, for [`ApiError::from_oss`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OssCall {
    /// Create of a multipart upload.
    InitiateMultipartUpload,
    /// The parts of a multipart upload.
    ListParts,
    /// Complete of a multipart upload.
    CompleteMultipartUpload,
    /// Abort of a multipart upload.
    AbortMultipartUpload,
    /// The status route's read of the verdict tags.
    GetObjectTagging,
    /// The status route's read of the version there now; a retried complete's
    /// read of the object it made.
    HeadObject,
}

impl OssCall {
    /// OSS's name for the call.
    pub fn name(self) -> &'static str {
        match self {
            OssCall::InitiateMultipartUpload => "InitiateMultipartUpload",
            OssCall::ListParts => "ListParts",
            OssCall::CompleteMultipartUpload => "CompleteMultipartUpload",
            OssCall::AbortMultipartUpload => "AbortMultipartUpload",
            OssCall::GetObjectTagging => "GetObjectTagging",
            OssCall::HeadObject => "HeadObject",
        }
    }

    /// The RAM actions the role needs for the call, as an operator reads them.
    fn actions(self) -> &'static str {
        match self {
            OssCall::GetObjectTagging => "oss:GetObjectTagging",
            OssCall::HeadObject => "oss:GetObject",
            _ => "oss:PutObject, oss:ListParts and oss:AbortMultipartUpload",
        }
    }
}

impl From<StsError> for ApiError {
    /// Maps an STS failure onto our code (502 rejected or a bad answer, 503
    /// throttled, 504 timeout, 500 misconfigured), naming the upstream code
    /// but nothing secret.
    fn from(e: StsError) -> Self {
        let code = match &e {
            StsError::Rejected { .. } => ErrorCode::StsRejected,
            StsError::Throttled { .. } | StsError::OverBudget { .. } => ErrorCode::StsThrottled,
            StsError::Upstream { .. } => ErrorCode::StsUpstreamError,
            StsError::Timeout => ErrorCode::StsTimeout,
            StsError::Unavailable { .. } => ErrorCode::StsUnavailable,
            StsError::BadResponse { .. } => ErrorCode::StsBadResponse,
            StsError::ShortLived { .. } => ErrorCode::StsCredentialsTooShortLived,
            StsError::Config { .. } => ErrorCode::StsMisconfigured,
        };
        let message = match e.upstream_code() {
            Some(upstream) if code == ErrorCode::StsThrottled => format!(
                "STS is throttling AssumeRole ({upstream}); retry after the Retry-After delay"
            ),
            Some(upstream) => format!(
                "STS refused AssumeRole ({upstream}); check that the function's role may call sts:AssumeRole on OSS_ROLE_ARN and that the upload role trusts it"
            ),
            None => format!("STS AssumeRole failed: {e}"),
        };
        let mut err = ApiError::new(code, message);
        err.retry_after = e.retry_after_secs();
        err
    }
}

impl From<LimitError> for ApiError {
    /// 400: `FileTooLarge`, `FileTooSmall`, `ContentTypeNotAllowed`, or
    /// `InvalidParameter` for an empty size or something that is no media type.
    fn from(e: LimitError) -> Self {
        let code = match e {
            LimitError::EmptySize | LimitError::NotAMediaType(_) => ErrorCode::InvalidParameter,
            LimitError::TooLarge { .. } => ErrorCode::FileTooLarge,
            LimitError::TooSmall { .. } => ErrorCode::FileTooSmall,
            LimitError::TypeNotAllowed { .. } => ErrorCode::ContentTypeNotAllowed,
        };
        ApiError::new(code, e.to_string())
    }
}

impl From<AuthError> for ApiError {
    /// 401 `Unauthorized` / `InvalidToken` (with `WWW-Authenticate`), 403
    /// `Forbidden`, 503 `JwksUnavailable` (with `Retry-After`).
    fn from(e: AuthError) -> Self {
        let code = match e {
            AuthError::Missing => ErrorCode::Unauthorized,
            AuthError::Invalid(_) => ErrorCode::InvalidToken,
            AuthError::Forbidden(_) => ErrorCode::Forbidden,
            AuthError::KeysUnavailable { .. } => ErrorCode::JwksUnavailable,
        };
        let mut err = ApiError::new(code, e.message());
        err.www_authenticate = e.www_authenticate();
        err.retry_after = e.retry_after_secs();
        err
    }
}

impl From<KeyError> for ApiError {
    /// 400 `InvalidParameter` or 403 `KeyOutsidePrefix`, with the key rule's message.
    fn from(e: KeyError) -> Self {
        let code = match e {
            KeyError::Invalid(_) => ErrorCode::InvalidParameter,
            KeyError::OutsidePrefix(_) => ErrorCode::KeyOutsidePrefix,
        };
        ApiError::new(code, e.message())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_error_object_and_retry_after() {
        let mut e = ApiError::new(ErrorCode::StsThrottled, "slow down");
        e.retry_after = Some(3);
        let r = e.to_response(ErrorShape::Plain);
        assert_eq!(r.status(), 503);
        assert_eq!(r.headers()["retry-after"], "3");
        let v: serde_json::Value = serde_json::from_slice(r.body()).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"error":{"code":"StsThrottled","message":"slow down"}})
        );
    }

    #[test]
    fn legacy_shape_adds_mobile_sdk_fields() {
        let r = ApiError::bad_param("x").to_response(ErrorShape::Sts);
        let v: serde_json::Value = serde_json::from_slice(r.body()).unwrap();
        assert_eq!(v["StatusCode"], 400);
        assert_eq!(v["ErrorCode"], "InvalidParameter");
        assert_eq!(v["error"]["code"], "InvalidParameter");
    }

    #[test]
    fn uppy_shape_carries_a_top_level_message() {
        let e = ApiError::new(ErrorCode::KeyOutsidePrefix, "nope");
        let r = e.to_response(ErrorShape::Uppy);
        assert_eq!(r.status(), 403);
        let v: serde_json::Value = serde_json::from_slice(r.body()).unwrap();
        assert_eq!(v["message"], "nope");
        assert_eq!(v["error"]["code"], "KeyOutsidePrefix");
    }

    #[test]
    fn codes_are_unique_and_statuses_are_errors() {
        let mut seen = std::collections::HashSet::new();
        for c in ErrorCode::ALL {
            assert!(seen.insert(c.as_str()), "{c} twice");
            assert!((400..600).contains(&c.status()), "{c}");
        }
    }

    #[test]
    fn sts_and_auth_mappings_agree_with_their_own_status_and_code() {
        let sts = [
            StsError::Rejected {
                status: 403,
                upstream_code: "NoPermission".into(),
                message: "m".into(),
                request_id: None,
            },
            StsError::Throttled {
                upstream_code: Some("Throttling".into()),
                retry_after_secs: 2,
                request_id: None,
            },
            StsError::Upstream {
                status: 500,
                upstream_code: None,
                request_id: None,
            },
            StsError::Timeout,
            StsError::Unavailable { detail: "d".into() },
            StsError::BadResponse {
                status: 200,
                detail: "d".into(),
            },
            StsError::Config { detail: "d".into() },
            StsError::ShortLived {
                remaining_secs: 1,
                required_secs: 360,
                expiration: "x".into(),
            },
            StsError::OverBudget {
                max_per_second: 20,
                retry_after_secs: 1,
            },
        ];
        for e in sts {
            let (status, code) = (e.http_status(), e.code().to_owned());
            let a = ApiError::from(e);
            assert_eq!((a.status(), a.code().as_str()), (status, code.as_str()));
        }
        for e in [
            AuthError::Missing,
            AuthError::Invalid("r"),
            AuthError::Forbidden("r"),
            AuthError::KeysUnavailable {
                retry_after_secs: 5,
            },
        ] {
            let (status, code) = (e.status(), e.code());
            let a = ApiError::from(e);
            assert_eq!((a.status(), a.code().as_str()), (status, code));
        }
    }

    #[test]
    fn oss_errors_map_to_documented_codes() {
        let svc = |status, code: &str| OssError::Service {
            status,
            code: code.into(),
            message: "m".into(),
            request_id: Some("RID".into()),
        };
        let m = |e| {
            let a = ApiError::from_oss(OssCall::ListParts, e);
            (a.status(), a.code())
        };
        use ErrorCode as C;
        assert_eq!(m(svc(404, "NoSuchUpload")), (404, C::NoSuchUpload));
        assert_eq!(m(svc(400, "InvalidPart")), (400, C::InvalidPart));
        assert_eq!(m(svc(400, "InvalidPartOrder")), (400, C::InvalidPartOrder));
        assert_eq!(m(svc(400, "EntityTooSmall")), (400, C::EntityTooSmall));
        assert_eq!(
            m(svc(409, "FileAlreadyExists")),
            (409, C::FileAlreadyExists)
        );
        assert_eq!(m(svc(503, "ServiceUnavailable")), (502, C::OssUnavailable));
        assert_eq!(m(svc(403, "AccessDenied")), (502, C::OssRejected));
        assert_eq!(m(svc(400, "Throttling")), (502, C::OssRejected));
        assert_eq!(
            m(OssError::Unavailable("refused".into())),
            (502, C::OssUnavailable)
        );
        assert_eq!(m(OssError::Timeout), (504, C::OssTimeout));
        assert_eq!(
            m(OssError::BadResponse("x".into())),
            (502, C::OssBadResponse)
        );
        assert!(
            ApiError::from_oss(OssCall::ListParts, svc(404, "NoSuchUpload"))
                .message
                .contains("RID")
        );
    }
}
