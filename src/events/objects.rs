//! The OSS calls of the upload check: HeadObject, a ranged GetObject,
//! Get/PutObjectTagging, CopyObject and DeleteObject, each signed V4 in the
//! `Authorization` header by [`crate::oss::client`] with the check's scoped
//! credentials, each bounded by a timeout.

use crate::oss::client::{OssClient, OssClientConfig, OssError, OssRequest};
use crate::oss::endpoint::Endpoint;
use alibaba_sign::encode::uri_encode;
use alibaba_sign::Credentials;
use bytes::Bytes;
use std::time::Duration;

/// How an OSS call failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OssFailure {
    /// 404 or 412: the object (that version) is no longer there.
    Gone,
    /// Any other failure (the check is retried).
    Other(String),
}

impl std::fmt::Display for OssFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            OssFailure::Gone => f.write_str("the object is gone or was replaced"),
            OssFailure::Other(e) => f.write_str(e),
        }
    }
}

impl From<OssError> for OssFailure {
    fn from(e: OssError) -> Self {
        match &e {
            OssError::Service {
                status: 404 | 412, ..
            } => OssFailure::Gone,
            _ => OssFailure::Other(e.to_string()),
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

/// The check's OSS calls on one bucket, over [`OssClient`].
pub struct Objects {
    client: OssClient,
    bucket: String,
}

/// `"5B3C..."` / `5b3c...` → `5B3C...`.
pub fn normalize_etag(e: &str) -> String {
    e.trim().trim_matches('"').to_ascii_uppercase()
}

/// The TagSet of a GetObjectTagging body as `(key, value)` pairs.
pub fn parse_tags(body: &[u8]) -> Result<Vec<(String, String)>, String> {
    Ok(crate::oss::xml::records(body, "Tag")?
        .iter()
        .filter_map(|t| {
            let key = crate::oss::xml::field(t, "Key")?;
            Some((
                key.to_owned(),
                crate::oss::xml::field(t, "Value")
                    .unwrap_or_default()
                    .to_owned(),
            ))
        })
        .collect())
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
        let client = OssClient::new(
            endpoint,
            region,
            OssClientConfig {
                connect_timeout: timeout.min(Duration::from_secs(3)),
                request_timeout: timeout,
                // Tag sets and the sniffed range; nothing larger is ever read.
                max_response_bytes: 64 * 1024,
            },
        )?;
        Ok(Objects {
            client,
            bucket: bucket.to_owned(),
        })
    }

    fn req(&self, method: &'static str, key: &str) -> OssRequest {
        OssRequest::new(method, &self.bucket, key)
    }

    /// HeadObject, only if the object still is version `etag`.
    pub async fn head(
        &self,
        creds: &Credentials,
        key: &str,
        etag: &str,
    ) -> Result<Head, OssFailure> {
        let resp = self
            .client
            .send(
                creds,
                self.req("HEAD", key)
                    .header("If-Match", format!("\"{etag}\"")),
            )
            .await?;
        let size = resp
            .header("content-length")
            .and_then(|v| v.parse::<u64>().ok())
            .ok_or_else(|| {
                OssFailure::Other("HeadObject answered without a Content-Length".into())
            })?;
        Ok(Head {
            size,
            content_type: resp.header("content-type").unwrap_or_default().to_owned(),
            etag: normalize_etag(resp.header("etag").unwrap_or_default()),
        })
    }

    /// The first `n` bytes of version `etag` (ranged GetObject; never more
    /// than `n` bytes are kept, and the client reads at most 64 KiB).
    pub async fn first_bytes(
        &self,
        creds: &Credentials,
        key: &str,
        etag: &str,
        n: u64,
    ) -> Result<Bytes, OssFailure> {
        let req = self
            .req("GET", key)
            .header("Range", format!("bytes=0-{}", n.saturating_sub(1)))
            .header("If-Match", format!("\"{etag}\""));
        let mut body = self.client.send(creds, req).await?.body;
        body.truncate(n as usize);
        Ok(body)
    }

    /// GetObjectTagging.
    pub async fn tags(
        &self,
        creds: &Credentials,
        key: &str,
    ) -> Result<Vec<(String, String)>, OssFailure> {
        let resp = self
            .client
            .send(creds, self.req("GET", key).query("tagging", ""))
            .await?;
        parse_tags(&resp.body).map_err(OssFailure::Other)
    }

    /// PutObjectTagging (replaces the whole tag set).
    pub async fn put_tags(
        &self,
        creds: &Credentials,
        key: &str,
        tags: &[(String, String)],
    ) -> Result<(), OssFailure> {
        let req = self
            .req("PUT", key)
            .query("tagging", "")
            .header("Content-Type", "application/xml")
            .body(tagging_xml(tags));
        self.client
            .send(creds, req)
            .await
            .map(drop)
            .map_err(Into::into)
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
        let req = self
            .req("PUT", dst)
            .header(
                "x-oss-copy-source",
                format!("/{}/{}", self.bucket, uri_encode(src, true)),
            )
            .header("x-oss-copy-source-if-match", format!("\"{etag}\""))
            .header("x-oss-metadata-directive", "COPY")
            .header("x-oss-tagging", tagging_header(tags))
            .header("x-oss-tagging-directive", "Replace");
        self.client
            .send(creds, req)
            .await
            .map(drop)
            .map_err(Into::into)
    }

    /// DeleteObject (204 whether or not the object exists).
    pub async fn delete(&self, creds: &Credentials, key: &str) -> Result<(), OssFailure> {
        match self.client.send(creds, self.req("DELETE", key)).await {
            Ok(_) => Ok(()),
            Err(e) => match OssFailure::from(e) {
                OssFailure::Gone => Ok(()),
                other => Err(other),
            },
        }
    }
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
        assert_eq!(parse_tags(tagging_xml(&tags).as_bytes()).unwrap(), tags);
        let oss = r#"<?xml version="1.0" encoding="UTF-8"?>
<Tagging><TagSet><Tag><Key>a</Key><Value>1</Value></Tag><Tag><Key>b</Key><Value>x/y</Value></Tag></TagSet></Tagging>"#;
        assert_eq!(
            parse_tags(oss.as_bytes()).unwrap(),
            vec![("a".into(), "1".into()), ("b".into(), "x/y".into())]
        );
        assert_eq!(
            tagging_header(&[("k".into(), "image/png".into()), ("r".into(), "a b".into())]),
            "k=image%2Fpng&r=a%20b"
        );
        assert_eq!(normalize_etag("\"5b3c\""), "5B3C");
    }
}
