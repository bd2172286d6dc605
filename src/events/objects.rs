//! The OSS calls of the upload check: HeadObject, a ranged GetObject,
//! Get/PutObjectTagging, CopyObject and DeleteObject, each signed V4 in the
//! `Authorization` header through [`crate::oss::v4`] with the check's scoped
//! credentials, each bounded by a timeout.

use crate::credentials::Credentials;
use crate::oss::encode::uri_encode;
use crate::oss::endpoint::Endpoint;
use crate::oss::v4;
use bytes::Bytes;
use std::time::Duration;

/// How an OSS call failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OssFailure {
    /// 404 or 412: the object (that version) is no longer there.
    Gone,
    /// OSS answered with an error.
    Error {
        /// HTTP status.
        status: u16,
        /// OSS's `<Code>`.
        code: String,
        /// OSS's `<RequestId>`, for support.
        request_id: String,
    },
    /// No answer: connect error or timeout.
    Transport(String),
}

impl std::fmt::Display for OssFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            OssFailure::Gone => f.write_str("the object is gone or was replaced"),
            OssFailure::Error {
                status,
                code,
                request_id,
            } => write!(f, "OSS answered {status} {code} (request id {request_id})"),
            OssFailure::Transport(e) => write!(f, "OSS did not answer: {e}"),
        }
    }
}

/// What HeadObject says about the stored object.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Head {
    /// `Content-Length`: the stored size, the one trusted.
    pub size: u64,
    /// `Content-Type`: the declared type.
    pub content_type: String,
    /// `ETag`, unquoted, uppercase.
    pub etag: String,
}

/// A client for one bucket.
pub struct Objects {
    http: reqwest::Client,
    endpoint: Endpoint,
    bucket: String,
    region: String,
}

/// `"5B3C..."` / `5b3c...` → `5B3C...`.
pub fn normalize_etag(e: &str) -> String {
    e.trim().trim_matches('"').to_ascii_uppercase()
}

/// The text of the first `<name>` element of an XML body, unescaped.
fn xml_field(body: &str, name: &str) -> Option<String> {
    xml_pairs(body, &[name]).into_iter().next().map(|(_, v)| v)
}

/// `(element, text)` for each element named in `names`, in document order.
fn xml_pairs(body: &str, names: &[&str]) -> Vec<(String, String)> {
    use quick_xml::events::Event;
    let mut reader = quick_xml::Reader::from_str(body);
    let mut out = Vec::new();
    let mut current: Option<String> = None;
    loop {
        match reader.read_event() {
            Ok(Event::Start(e)) => {
                let n = String::from_utf8_lossy(e.name().as_ref()).into_owned();
                current = names.contains(&n.as_str()).then_some(n);
            }
            Ok(Event::Text(t)) => {
                if let (Some(n), Ok(v)) = (current.take(), t.unescape()) {
                    out.push((n, v.into_owned()));
                }
            }
            Ok(Event::End(e)) => {
                // An empty element (`<Value></Value>`) has no Text event.
                let n = String::from_utf8_lossy(e.name().as_ref()).into_owned();
                if current.as_deref() == Some(n.as_str()) {
                    out.push((n, String::new()));
                }
                current = None;
            }
            Ok(Event::Eof) | Err(_) => break,
            _ => {}
        }
    }
    out
}

/// The TagSet of a GetObjectTagging body as `(key, value)` pairs.
pub fn parse_tags(body: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut key = None;
    for (name, text) in xml_pairs(body, &["Key", "Value"]) {
        match name.as_str() {
            "Key" => key = Some(text),
            _ => {
                if let Some(k) = key.take() {
                    out.push((k, text));
                }
            }
        }
    }
    out
}

/// The PutObjectTagging body for `tags`.
pub fn tagging_xml(tags: &[(String, String)]) -> String {
    use quick_xml::escape::escape;
    let mut s = String::from("<Tagging><TagSet>");
    for (k, v) in tags {
        s.push_str(&format!(
            "<Tag><Key>{}</Key><Value>{}</Value></Tag>",
            escape(k.as_str()),
            escape(v.as_str())
        ));
    }
    s.push_str("</TagSet></Tagging>");
    s
}

/// `k=v&k2=v2`, URL-encoded, as `x-oss-tagging` takes it.
pub fn tagging_header(tags: &[(String, String)]) -> String {
    tags.iter()
        .map(|(k, v)| format!("{}={}", uri_encode(k, false), uri_encode(v, false)))
        .collect::<Vec<_>>()
        .join("&")
}

impl Objects {
    /// A client for `bucket` at `endpoint`; every call is bounded by `timeout`.
    pub fn new(
        endpoint: Endpoint,
        bucket: &str,
        region: &str,
        timeout: Duration,
    ) -> Result<Objects, String> {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(3)))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| format!("cannot build the OSS client: {e}"))?;
        Ok(Objects {
            http,
            endpoint,
            bucket: bucket.to_owned(),
            region: region.to_owned(),
        })
    }

    async fn send(
        &self,
        creds: &Credentials,
        method: reqwest::Method,
        key: &str,
        query: &[(String, String)],
        headers: Vec<(String, String)>,
        body: Option<String>,
    ) -> Result<reqwest::Response, OssFailure> {
        let now = chrono::Utc::now();
        let signed = v4::request_headers(creds, &headers, now);
        let auth = v4::authorization_header(
            creds,
            &self.region,
            method.as_str(),
            &self.bucket,
            key,
            query,
            &headers,
            &[],
            now,
        );
        let url = self.endpoint.object_url(&self.bucket, key, query);
        let mut rb = self.http.request(method, url).header("authorization", auth);
        for (k, v) in &signed {
            rb = rb.header(k.as_str(), v.as_str());
        }
        if let Some(b) = body {
            rb = rb.body(b);
        }
        let resp = rb
            .send()
            .await
            .map_err(|e| OssFailure::Transport(without_url(&e)))?;
        let status = resp.status().as_u16();
        if resp.status().is_success() {
            return Ok(resp);
        }
        if status == 404 || status == 412 {
            return Err(OssFailure::Gone);
        }
        let header_id = resp
            .headers()
            .get("x-oss-request-id")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let text = resp.text().await.unwrap_or_default();
        Err(OssFailure::Error {
            status,
            code: xml_field(&text, "Code").unwrap_or_else(|| format!("HTTP{status}")),
            request_id: xml_field(&text, "RequestId").unwrap_or(header_id),
        })
    }

    /// HeadObject, only if the object still is version `etag`.
    pub async fn head(
        &self,
        creds: &Credentials,
        key: &str,
        etag: &str,
    ) -> Result<Head, OssFailure> {
        let resp = self
            .send(
                creds,
                reqwest::Method::HEAD,
                key,
                &[],
                vec![("if-match".into(), format!("\"{etag}\""))],
                None,
            )
            .await?;
        let h = resp.headers();
        let get = |n: &str| {
            h.get(n)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned()
        };
        let size = get("content-length").parse::<u64>().map_err(|_| {
            OssFailure::Transport("HeadObject answered without a Content-Length".into())
        })?;
        Ok(Head {
            size,
            content_type: get("content-type"),
            etag: normalize_etag(&get("etag")),
        })
    }

    /// The first `n` bytes of version `etag` (ranged GetObject; never more
    /// than `n` bytes are read, even if OSS ignores the range).
    pub async fn first_bytes(
        &self,
        creds: &Credentials,
        key: &str,
        etag: &str,
        n: u64,
    ) -> Result<Bytes, OssFailure> {
        let mut resp = self
            .send(
                creds,
                reqwest::Method::GET,
                key,
                &[],
                vec![
                    ("range".into(), format!("bytes=0-{}", n.saturating_sub(1))),
                    ("if-match".into(), format!("\"{etag}\"")),
                ],
                None,
            )
            .await?;
        let mut out = Vec::with_capacity(n as usize);
        while (out.len() as u64) < n {
            match resp.chunk().await {
                Ok(Some(c)) => out.extend_from_slice(&c),
                Ok(None) => break,
                Err(e) => return Err(OssFailure::Transport(without_url(&e))),
            }
        }
        out.truncate(n as usize);
        Ok(Bytes::from(out))
    }

    /// GetObjectTagging.
    pub async fn tags(
        &self,
        creds: &Credentials,
        key: &str,
    ) -> Result<Vec<(String, String)>, OssFailure> {
        let q = [("tagging".to_owned(), String::new())];
        let resp = self
            .send(creds, reqwest::Method::GET, key, &q, vec![], None)
            .await?;
        let text = resp
            .text()
            .await
            .map_err(|e| OssFailure::Transport(without_url(&e)))?;
        Ok(parse_tags(&text))
    }

    /// PutObjectTagging (replaces the whole tag set).
    pub async fn put_tags(
        &self,
        creds: &Credentials,
        key: &str,
        tags: &[(String, String)],
    ) -> Result<(), OssFailure> {
        let q = [("tagging".to_owned(), String::new())];
        let headers = vec![("content-type".into(), "application/xml".into())];
        self.send(
            creds,
            reqwest::Method::PUT,
            key,
            &q,
            headers,
            Some(tagging_xml(tags)),
        )
        .await
        .map(drop)
    }

    /// CopyObject `src` → `dst` in the same bucket, only if `src` still is
    /// version `etag`, with the metadata kept and the tags replaced by `tags`.
    pub async fn copy(
        &self,
        creds: &Credentials,
        src: &str,
        dst: &str,
        etag: &str,
        tags: &[(String, String)],
    ) -> Result<(), OssFailure> {
        let headers = vec![
            (
                "x-oss-copy-source".into(),
                format!("/{}/{}", self.bucket, uri_encode(src, true)),
            ),
            ("x-oss-copy-source-if-match".into(), format!("\"{etag}\"")),
            ("x-oss-metadata-directive".into(), "COPY".into()),
            ("x-oss-tagging".into(), tagging_header(tags)),
            ("x-oss-tagging-directive".into(), "Replace".into()),
        ];
        self.send(creds, reqwest::Method::PUT, dst, &[], headers, None)
            .await
            .map(drop)
    }

    /// DeleteObject (204 whether or not the object exists).
    pub async fn delete(&self, creds: &Credentials, key: &str) -> Result<(), OssFailure> {
        match self
            .send(creds, reqwest::Method::DELETE, key, &[], vec![], None)
            .await
        {
            Err(OssFailure::Gone) => Ok(()),
            other => other.map(drop),
        }
    }
}

/// A reqwest error without its URL (URLs can carry signatures elsewhere;
/// here they do not, but the log line stays uniform).
fn without_url(e: &reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "connection failed"
    } else {
        "request failed"
    };
    kind.to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tag_sets_round_trip() {
        let tags = vec![
            ("upload-status".to_owned(), "rejected".to_owned()),
            ("upload-note".to_owned(), "a<b & c".to_owned()),
            ("empty".to_owned(), String::new()),
        ];
        assert_eq!(parse_tags(&tagging_xml(&tags)), tags);
        let oss = r#"<?xml version="1.0" encoding="UTF-8"?>
<Tagging><TagSet><Tag><Key>a</Key><Value>1</Value></Tag><Tag><Key>b</Key><Value>x/y</Value></Tag></TagSet></Tagging>"#;
        assert_eq!(
            parse_tags(oss),
            vec![("a".into(), "1".into()), ("b".into(), "x/y".into())]
        );
        assert_eq!(
            tagging_header(&[("k".into(), "image/png".into()), ("r".into(), "a b".into())]),
            "k=image%2Fpng&r=a%20b"
        );
        assert_eq!(normalize_etag("\"5b3c\""), "5B3C");
        assert_eq!(
            xml_field(
                "<Error><Code>NoSuchKey</Code><RequestId>r1</RequestId></Error>",
                "Code"
            ),
            Some("NoSuchKey".into())
        );
    }
}
