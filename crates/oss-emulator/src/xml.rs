//! The OSS error type, and the XML bodies the emulator writes and reads.
//!
//! Every failure path ends in the same `<Error>` shape the SDKs parse; the one
//! body read is CompleteMultipartUpload's.

use std::borrow::Cow;
use std::fmt::Write as _;

use http::StatusCode;
use quick_xml::events::Event;
use quick_xml::Reader;

/// An OSS error as the service reports it: status, `Code`, `Message`, and any
/// extra elements (`StringToSign`, `OSSAccessKeyId`, ...) that help a client debug.
#[derive(Debug, Clone)]
pub(crate) struct OssError {
    pub status: StatusCode,
    pub code: String,
    pub message: String,
    pub extra: Vec<(String, String)>,
    /// Response headers the error carries besides the common ones (AppendObject's
    /// `x-oss-next-append-position`).
    pub headers: Vec<(String, String)>,
}

impl std::fmt::Display for OssError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {}: {}",
            self.status.as_u16(),
            self.code,
            self.message
        )
    }
}

/// So an OSS error can travel through libraries that carry boxed errors
/// (the form parser reading a timed-out body) and be recovered intact.
impl std::error::Error for OssError {}

impl OssError {
    /// Builds an error with no extra elements.
    pub fn new(status: StatusCode, code: &str, message: impl Into<String>) -> Self {
        OssError {
            status,
            code: code.to_string(),
            message: message.into(),
            extra: Vec::new(),
            headers: Vec::new(),
        }
    }

    /// Adds a response header to the error reply.
    pub fn with_header(mut self, name: &str, value: impl Into<String>) -> Self {
        self.headers.push((name.to_string(), value.into()));
        self
    }

    /// Adds an extra child element to the `<Error>` body.
    pub fn with(mut self, name: &str, value: impl Into<String>) -> Self {
        self.extra.push((name.to_string(), value.into()));
        self
    }

    /// 403 AccessDenied, the answer to anything not allowed.
    pub fn access_denied(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "AccessDenied", message)
    }

    /// 400 InvalidArgument with the offending name/value, as OSS reports it.
    pub fn invalid_argument(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "InvalidArgument", message)
    }

    /// 400 for a request the emulator cannot parse.
    pub fn malformed(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "MalformedXML", message)
    }

    /// 500 for storage failures (disk I/O); never a panic.
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "InternalError", message)
    }

    /// The `<Error>` document for this error.
    pub fn to_xml(&self, request_id: &str, host_id: &str) -> String {
        let mut s = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error>\n");
        elem(&mut s, "Code", &self.code);
        elem(&mut s, "Message", &self.message);
        elem(&mut s, "RequestId", request_id);
        elem(&mut s, "HostId", host_id);
        for (k, v) in &self.extra {
            elem(&mut s, k, v);
        }
        s.push_str("</Error>\n");
        s
    }
}

/// 400 EntityTooLarge for bodies over the configured limit.
pub(crate) fn entity_too_large(max: u64) -> OssError {
    OssError::new(
        StatusCode::BAD_REQUEST,
        "EntityTooLarge",
        "Your proposed upload exceeds the maximum allowed size.",
    )
    .with("MaxSizeAllowed", max.to_string())
}

/// Escapes text for XML element content and attribute values: quick-xml's
/// `escape` (`& < > " '`, quotes too, as OSS writes them), plus a character
/// reference for the control characters XML 1.0 cannot carry. OSS asks clients
/// to use `encoding-type=url` for keys holding them; the emulator keeps them
/// visible instead of producing an unparseable document.
pub(crate) fn escape(v: &str) -> Cow<'_, str> {
    let escaped = quick_xml::escape::escape(v);
    if !escaped.chars().any(unwritable) {
        return escaped;
    }
    let mut out = String::with_capacity(escaped.len() + 8);
    for c in escaped.chars() {
        if unwritable(c) {
            let _ = write!(out, "&#x{:X};", c as u32);
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// A control character XML 1.0 text cannot hold as is.
fn unwritable(c: char) -> bool {
    (c as u32) < 0x20 && !matches!(c, '\t' | '\n' | '\r')
}

/// Appends `<name>escaped value</name>\n`.
pub(crate) fn elem(s: &mut String, name: &str, value: &str) {
    s.push_str("  <");
    s.push_str(name);
    s.push('>');
    s.push_str(&escape(value));
    s.push_str("</");
    s.push_str(name);
    s.push_str(">\n");
}

/// Starts a document with the XML declaration and the root element open.
pub(crate) fn doc(root: &str) -> String {
    format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<{root}>\n")
}

/// One `<Part>` of a CompleteMultipartUpload request body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CompletePart {
    pub part_number: u32,
    pub etag: String,
}

/// Parses the CompleteMultipartUpload body. Anything that is not the expected
/// shape is `MalformedXML`, as OSS answers.
pub(crate) fn parse_complete(body: &[u8]) -> Result<Vec<CompletePart>, OssError> {
    let text = std::str::from_utf8(body).map_err(|_| bad_xml())?;
    let mut reader = Reader::from_str(text);
    reader.config_mut().trim_text(true);
    let mut parts = Vec::new();
    let mut path: Vec<String> = Vec::new();
    let mut cur_num: Option<String> = None;
    let mut cur_etag: Option<String> = None;
    let mut saw_root = false;
    loop {
        match reader.read_event().map_err(|_| bad_xml())? {
            Event::Start(e) => {
                let name = String::from_utf8_lossy(e.name().as_ref()).into_owned();
                if path.is_empty() {
                    if name != "CompleteMultipartUpload" {
                        return Err(bad_xml());
                    }
                    saw_root = true;
                }
                if name == "Part" {
                    cur_num = None;
                    cur_etag = None;
                }
                path.push(name);
            }
            Event::Empty(e) => {
                let name = String::from_utf8_lossy(e.name().as_ref()).into_owned();
                if path.is_empty() && name == "CompleteMultipartUpload" {
                    saw_root = true;
                }
            }
            Event::Text(t) => {
                let v = t.unescape().map_err(|_| bad_xml())?.into_owned();
                match path.last().map(String::as_str) {
                    Some("PartNumber") => cur_num = Some(v),
                    Some("ETag") => cur_etag = Some(v),
                    _ => {}
                }
            }
            Event::End(_) => {
                if let Some(name) = path.pop() {
                    if name == "Part" {
                        let n = cur_num
                            .take()
                            .and_then(|n| n.trim().parse::<u32>().ok())
                            .ok_or_else(bad_xml)?;
                        let etag = cur_etag.take().ok_or_else(bad_xml)?;
                        parts.push(CompletePart {
                            part_number: n,
                            etag,
                        });
                    }
                }
            }
            Event::Eof => break,
            _ => {}
        }
    }
    if !saw_root {
        return Err(bad_xml());
    }
    Ok(parts)
}

fn bad_xml() -> OssError {
    OssError::malformed(
        "The XML you provided was not well-formed or did not validate against our published schema.",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_body_has_oss_shape() {
        let e = OssError::new(StatusCode::FORBIDDEN, "SignatureDoesNotMatch", "bad <sig>")
            .with("StringToSign", "PUT\n\n");
        let x = e.to_xml("RID", "HID");
        assert!(x.contains("<Code>SignatureDoesNotMatch</Code>"));
        assert!(x.contains("<Message>bad &lt;sig&gt;</Message>"));
        assert!(x.contains("<RequestId>RID</RequestId>"));
        assert!(x.contains("<HostId>HID</HostId>"));
        assert!(x.contains("<StringToSign>PUT\n\n</StringToSign>"));
    }

    #[test]
    fn escaping_is_what_oss_writes() {
        assert_eq!(
            escape("a<b>&'\"\u{1}\u{1f}\t\r\né"),
            "a&lt;b&gt;&amp;&apos;&quot;&#x1;&#x1F;\t\r\né"
        );
        assert!(matches!(escape("plain/key.png"), Cow::Borrowed(_)));
        let mut s = String::new();
        elem(&mut s, "Key", "a&b");
        assert_eq!(s, "  <Key>a&amp;b</Key>\n");
    }

    #[test]
    fn parses_complete_body() {
        let body = br#"<?xml version="1.0" encoding="UTF-8"?>
<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>"AB"</ETag></Part>
<Part><ETag>&quot;CD&quot;</ETag><PartNumber>3</PartNumber></Part></CompleteMultipartUpload>"#;
        let p = parse_complete(body).unwrap();
        assert_eq!(
            p,
            vec![
                CompletePart {
                    part_number: 1,
                    etag: "\"AB\"".into()
                },
                CompletePart {
                    part_number: 3,
                    etag: "\"CD\"".into()
                }
            ]
        );
    }

    #[test]
    fn malformed_complete_body_is_an_error_not_a_panic() {
        for b in [
            &b"<Nope/>"[..],
            b"<CompleteMultipartUpload><Part><PartNumber>x</PartNumber><ETag>a</ETag></Part></CompleteMultipartUpload>",
            b"\xff\xfe",
            b"<CompleteMultipartUpload><Part><PartNumber>1</PartNumber></Part></CompleteMultipartUpload>",
            b"",
        ] {
            assert_eq!(parse_complete(b).unwrap_err().code, "MalformedXML");
        }
    }
}
