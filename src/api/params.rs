//! The parameters a caller may send: GET query string or POST JSON body.

use super::error::{ApiError, ErrorCode};
use crate::runtime::Request;

/// Longest value accepted for any single parameter, in bytes.
const MAX_PARAM_BYTES: usize = 2048;

/// What a caller asks for. Every field is optional; routes decide defaults.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Params {
    /// The file's name; only its last path segment is used, cleaned.
    pub filename: Option<String>,
    /// The declared media type of the upload.
    pub content_type: Option<String>,
    /// The declared size in bytes.
    pub size: Option<u64>,
    /// `PUT` or `GET`, for `/v1/presign`.
    pub method: Option<String>,
    /// The object key, for a presigned `GET` and the multipart steps.
    pub key: Option<String>,
    /// A multipart upload's id (`/v1/multipart/parts`, `/abort`).
    pub upload_id: Option<String>,
    /// The upload profile (`default` when absent).
    pub profile: Option<String>,
}

/// A new upload as the caller declares it: what every route that signs
/// one takes, besides the profile (which admission reads).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct UploadInput {
    /// The file's name; only its last path segment is used, cleaned.
    pub filename: Option<String>,
    /// The declared media type.
    pub content_type: Option<String>,
    /// The declared size in bytes.
    pub size: Option<u64>,
}

impl Params {
    /// The declared upload in these parameters.
    pub fn into_upload(self) -> UploadInput {
        UploadInput {
            filename: self.filename,
            content_type: self.content_type,
            size: self.size,
        }
    }

    fn set(&mut self, name: &str, value: String) -> Result<(), ApiError> {
        if value.len() > MAX_PARAM_BYTES {
            return Err(ApiError::bad_param(format!(
                "parameter {name} is longer than {MAX_PARAM_BYTES} bytes"
            )));
        }
        match name {
            "filename" => self.filename = Some(value),
            "contentType" | "content_type" => self.content_type = Some(value),
            "size" => {
                self.size = Some(value.trim().parse::<u64>().map_err(|_| {
                    ApiError::bad_param(format!(
                        "size must be a whole number of bytes, got {:?}",
                        truncate(&value)
                    ))
                })?)
            }
            "method" => self.method = Some(value),
            "key" => self.key = Some(value),
            "uploadId" | "upload_id" => self.upload_id = Some(value),
            "profile" => self.profile = Some(value),
            _ => {}
        }
        Ok(())
    }
}

/// Splits and decodes a query string (`application/x-www-form-urlencoded`:
/// `+` is a space, `%XX` a byte), each value decoded exactly once.
///
/// Hand-written over `percent_encoding` rather than `form_urlencoded::parse`
/// because that one turns bytes that are not UTF-8 into U+FFFD without a
/// word; here such a parameter is a 400, so a filename is never silently
/// rewritten.
pub fn parse_query(query: &str) -> Result<Vec<(String, String)>, ApiError> {
    // `what` is only formatted when a value fails: this runs for every parameter.
    let decode = |part: &str, what: &dyn Fn() -> String| -> Result<String, ApiError> {
        let bytes: Vec<u8> = part
            .bytes()
            .map(|b| if b == b'+' { b' ' } else { b })
            .collect();
        percent_encoding::percent_decode(&bytes)
            .decode_utf8()
            .map(|c| c.into_owned())
            .map_err(|_| {
                ApiError::bad_param(format!(
                    "{} is not valid UTF-8 once percent-decoded; send UTF-8 text, percent-encoded",
                    what()
                ))
            })
    };
    let mut out = Vec::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let name = decode(k, &|| "a query parameter name".to_owned())?;
        let value = decode(v, &|| format!("query parameter {}", truncate(&name)))?;
        out.push((name, value));
    }
    Ok(out)
}

fn truncate(s: &str) -> String {
    s.chars().take(40).collect()
}

/// Reads parameters from the query string and, for POST, from a JSON object body.
/// Body values win over query values.
pub fn parse(req: &Request) -> Result<Params, ApiError> {
    let mut params = Params::default();
    if let Some(q) = req.uri().query() {
        for (k, v) in parse_query(q)? {
            params.set(&k, v)?;
        }
    }
    if req.method() == http::Method::POST && !req.body().iter().all(u8::is_ascii_whitespace) {
        let value: serde_json::Value = serde_json::from_slice(req.body()).map_err(|e| {
            ApiError::new(
                ErrorCode::InvalidJson,
                format!("the request body is not valid JSON ({e}); send an object such as {{\"filename\":\"a.png\",\"contentType\":\"image/png\",\"size\":1024}}"),
            )
        })?;
        let serde_json::Value::Object(map) = value else {
            return Err(ApiError::new(
                ErrorCode::InvalidJson,
                "the request body must be a JSON object such as {\"filename\":\"a.png\"}",
            ));
        };
        for (k, v) in map {
            let text = match v {
                serde_json::Value::Null => continue,
                serde_json::Value::String(s) => s,
                serde_json::Value::Number(n) => n.to_string(),
                other => {
                    return Err(ApiError::bad_param(format!(
                        "parameter {k} must be a string or number, got {}",
                        match other {
                            serde_json::Value::Bool(_) => "a boolean",
                            serde_json::Value::Array(_) => "an array",
                            _ => "an object",
                        }
                    )))
                }
            };
            params.set(&k, text)?;
        }
    }
    Ok(params)
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn req(method: &str, uri: &str, body: &str) -> Request {
        http::Request::builder()
            .method(method)
            .uri(uri)
            .body(Bytes::from(body.to_owned()))
            .unwrap()
    }

    #[test]
    fn query_parameters() {
        let p = parse(&req(
            "GET",
            "/v1/presign?filename=a%20b.png&contentType=image/png&size=12",
            "",
        ))
        .unwrap();
        assert_eq!(p.filename.as_deref(), Some("a b.png"));
        assert_eq!(p.content_type.as_deref(), Some("image/png"));
        assert_eq!(p.size, Some(12));
    }

    #[test]
    fn json_body_parameters_override_query() {
        let p = parse(&req(
            "POST",
            "/v1/presign?filename=q.png",
            r#"{"filename":"b.png","size":7}"#,
        ))
        .unwrap();
        assert_eq!(p.filename.as_deref(), Some("b.png"));
        assert_eq!(p.size, Some(7));
    }

    #[test]
    fn query_values_are_decoded_once() {
        let p = parse(&req(
            "GET",
            "/v1/presign?filename=100%2525+done%2B.png&key=a%2Fb",
            "",
        ))
        .unwrap();
        assert_eq!(p.filename.as_deref(), Some("100%25 done+.png"));
        assert_eq!(p.key.as_deref(), Some("a/b"));
        assert_eq!(
            parse_query("a=1&&b&c=%3D=").unwrap(),
            vec![
                ("a".to_owned(), "1".to_owned()),
                ("b".to_owned(), String::new()),
                ("c".to_owned(), "==".to_owned()),
            ]
        );
    }

    #[test]
    fn invalid_utf8_in_the_query_is_400_not_replaced() {
        for uri in [
            "/x?filename=%ff.png",
            "/x?filename=a%C3",
            "/x?contentType=%80",
            "/x?%fe=1",
        ] {
            let e = parse(&req("GET", uri, "")).unwrap_err();
            assert_eq!(e.status(), 400, "{uri}");
            assert!(e.message.contains("UTF-8"), "{}", e.message);
        }
    }

    #[test]
    fn bad_inputs_are_400() {
        for (m, u, b) in [
            ("POST", "/x", "{not json"),
            ("POST", "/x", "[1,2]"),
            ("POST", "/x", r#"{"size":"lots"}"#),
            ("POST", "/x", r#"{"size":-1}"#),
            ("POST", "/x", r#"{"filename":{"a":1}}"#),
            ("GET", "/x?size=1e9", ""),
        ] {
            let e = parse(&req(m, u, b)).unwrap_err();
            assert_eq!(e.status(), 400, "{m} {u} {b}");
        }
        let long = "a".repeat(3000);
        assert_eq!(
            parse(&req("GET", &format!("/x?filename={long}"), ""))
                .unwrap_err()
                .status(),
            400
        );
    }
}
