//! The one error shape every route answers with: `{"error":{"code","message"}}`.

use crate::profiles::keys::KeyError;
use crate::runtime::Response;
use bytes::Bytes;
use http::{HeaderValue, StatusCode};

/// An error a route answers with, as JSON, with a fitting status.
///
/// Messages tell the caller what to do next and never contain a secret,
/// token or signature.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiError {
    /// HTTP status (4xx for the caller's mistakes, 5xx for ours or upstream's).
    pub status: u16,
    /// Stable machine-readable code, e.g. `InvalidParameter`, `StsRejected`.
    pub code: String,
    /// What went wrong and what to do about it.
    pub message: String,
    /// Seconds to put in `Retry-After` (throttling, rate limit).
    pub retry_after: Option<u64>,
    /// `WWW-Authenticate` value for 401s.
    pub www_authenticate: Option<String>,
}

impl ApiError {
    /// An error with no extra headers.
    pub fn new(status: u16, code: impl Into<String>, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code: code.into(),
            message: message.into(),
            retry_after: None,
            www_authenticate: None,
        }
    }

    /// 400 `InvalidParameter`: the caller sent something we cannot use.
    pub fn bad_param(message: impl Into<String>) -> Self {
        Self::new(400, "InvalidParameter", message)
    }

    /// Renders the error. `sts_shape` adds the `StatusCode`/`ErrorCode`/`ErrorMessage`
    /// fields the Android and iOS `OSSAuthCredentialsProvider` read on failure.
    pub fn to_response(&self, sts_shape: bool) -> Response {
        let mut body = serde_json::Map::new();
        body.insert(
            "error".into(),
            serde_json::json!({"code": self.code, "message": self.message}),
        );
        if sts_shape {
            body.insert("StatusCode".into(), self.status.into());
            body.insert("ErrorCode".into(), self.code.clone().into());
            body.insert("ErrorMessage".into(), self.message.clone().into());
        }
        let mut resp =
            http::Response::new(Bytes::from(serde_json::Value::Object(body).to_string()));
        *resp.status_mut() =
            StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
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
}

impl From<KeyError> for ApiError {
    /// 400 `InvalidParameter` or 403 `KeyOutsidePrefix`, with the key rule's message.
    fn from(e: KeyError) -> Self {
        ApiError::new(e.status(), e.code(), e.message())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_error_object_and_retry_after() {
        let mut e = ApiError::new(503, "StsThrottled", "slow down");
        e.retry_after = Some(3);
        let r = e.to_response(false);
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
        let r = ApiError::bad_param("x").to_response(true);
        let v: serde_json::Value = serde_json::from_slice(r.body()).unwrap();
        assert_eq!(v["StatusCode"], 400);
        assert_eq!(v["ErrorCode"], "InvalidParameter");
        assert_eq!(v["error"]["code"], "InvalidParameter");
    }
}
