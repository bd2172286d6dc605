//! The XML bodies of the multipart calls the function makes itself:
//! InitiateMultipartUpload's and CompleteMultipartUpload's results and
//! ListParts' pages are read with the shared readers in [`super::xml`]
//! (quick-xml underneath); the Complete request body is written here.

use super::multipart::ListedPart;
use super::xml::{field, first_text, records};

/// An XML body that is not the document OSS documents.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct XmlError(pub String);

impl std::fmt::Display for XmlError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "unexpected XML from OSS: {}", self.0)
    }
}

impl std::error::Error for XmlError {}

/// The `UploadId` of an `InitiateMultipartUploadResult`.
pub fn parse_initiate(xml: &[u8]) -> Result<String, XmlError> {
    match first_text(xml, "UploadId") {
        Some(id) if !id.trim().is_empty() => Ok(id.trim().to_owned()),
        _ => Err(XmlError(
            "no UploadId in InitiateMultipartUploadResult".into(),
        )),
    }
}

/// One page of ListParts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListPartsPage {
    /// The page's parts, in OSS's order (ascending).
    pub parts: Vec<ListedPart>,
    /// `Some(marker)` when another page follows: pass it as `part-number-marker`.
    pub next_marker: Option<u32>,
}

/// Parses a `ListPartsResult`. A truncated page without a usable
/// `NextPartNumberMarker` is an error (following it would loop), and so is a
/// part without a number, ETag or size.
pub fn parse_list_parts(xml: &[u8]) -> Result<ListPartsPage, XmlError> {
    let recs = records(xml, "Part").map_err(XmlError)?;
    let mut parts = Vec::with_capacity(recs.len());
    for r in &recs {
        let num = |name: &str| field(r, name).and_then(|v| v.trim().parse::<u64>().ok());
        let (Some(n), Some(etag), Some(size)) = (num("PartNumber"), field(r, "ETag"), num("Size"))
        else {
            return Err(XmlError("a Part without PartNumber, ETag or Size".into()));
        };
        let part_number =
            u32::try_from(n).map_err(|_| XmlError(format!("PartNumber {n} out of range")))?;
        parts.push(ListedPart {
            part_number,
            etag: etag.to_owned(),
            size,
            last_modified: field(r, "LastModified").unwrap_or_default().to_owned(),
        });
    }
    let truncated = first_text(xml, "IsTruncated").is_some_and(|t| t.trim() == "true");
    let next_marker = if truncated {
        let marker = first_text(xml, "NextPartNumberMarker")
            .and_then(|m| m.trim().parse::<u32>().ok())
            .ok_or_else(|| XmlError("IsTruncated without a NextPartNumberMarker".into()))?;
        Some(marker)
    } else {
        None
    };
    Ok(ListPartsPage { parts, next_marker })
}

/// What CompleteMultipartUpload answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompleteResult {
    /// The object's URL as OSS reports it (may be empty).
    pub location: String,
    /// The object's ETag (not an MD5 for multipart objects).
    pub etag: String,
}

/// Parses a `CompleteMultipartUploadResult`.
pub fn parse_complete(xml: &[u8]) -> Result<CompleteResult, XmlError> {
    let etag = first_text(xml, "ETag")
        .ok_or_else(|| XmlError("no ETag in CompleteMultipartUploadResult".into()))?;
    Ok(CompleteResult {
        location: first_text(xml, "Location").unwrap_or_default(),
        etag,
    })
}

/// The CompleteMultipartUpload request body for `parts` (already ascending,
/// ETags quoted): `<CompleteMultipartUpload><Part><PartNumber>n</PartNumber>
/// <ETag>"…"</ETag></Part>…</CompleteMultipartUpload>`. The ETag is escaped
/// with quick-xml's `partial_escape` (`&`, `<`, `>`), so the quotes stay
/// literal, as oss2 writes them.
pub fn complete_body(parts: &[ListedPart]) -> String {
    let mut s = String::with_capacity(40 + parts.len() * 80);
    s.push_str("<CompleteMultipartUpload>");
    for p in parts {
        s.push_str("<Part><PartNumber>");
        s.push_str(&p.part_number.to_string());
        s.push_str("</PartNumber><ETag>");
        s.push_str(&quick_xml::escape::partial_escape(p.etag.as_str()));
        s.push_str("</ETag></Part>");
    }
    s.push_str("</CompleteMultipartUpload>");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn initiate_result() {
        let xml = r#"<?xml version="1.0" encoding="UTF-8"?>
<InitiateMultipartUploadResult xmlns="http://doc.oss-cn-hangzhou.aliyuncs.com">
  <Bucket>oss-example</Bucket><Key>multipart.data</Key><UploadId>0004B9894A22E5B1888A1E29F823****</UploadId>
</InitiateMultipartUploadResult>"#;
        assert_eq!(
            parse_initiate(xml.as_bytes()).unwrap(),
            "0004B9894A22E5B1888A1E29F823****"
        );
        assert!(parse_initiate(b"<InitiateMultipartUploadResult/>").is_err());
        assert!(parse_initiate(b"not xml").is_err());
    }

    #[test]
    fn list_parts_pages() {
        let xml = r#"<?xml version="1.0" encoding="UTF-8"?>
<ListPartsResult xmlns="http://doc.oss-cn-hangzhou.aliyuncs.com">
    <Bucket>multipart_upload</Bucket>
    <Key>multipart.data</Key>
    <UploadId>0004B999EF5A239BB9138C6227D69F95</UploadId>
    <NextPartNumberMarker>5</NextPartNumberMarker>
    <MaxParts>1000</MaxParts>
    <IsTruncated>true</IsTruncated>
    <Part>
        <PartNumber>1</PartNumber>
        <LastModified>2012-02-23T07:01:34.000Z</LastModified>
        <ETag>"3349DC700140D7F86A0784842780****"</ETag>
        <Size>6291456</Size>
    </Part>
    <Part>
        <PartNumber>5</PartNumber>
        <LastModified>2012-02-23T07:02:03.000Z</LastModified>
        <ETag>"7265F4D211B56873A381D321F586****"</ETag>
        <Size>1024</Size>
    </Part>
</ListPartsResult>"#;
        let page = parse_list_parts(xml.as_bytes()).unwrap();
        assert_eq!(page.next_marker, Some(5));
        assert_eq!(page.parts.len(), 2);
        assert_eq!(page.parts[0].etag, "\"3349DC700140D7F86A0784842780****\"");
        assert_eq!(page.parts[1].size, 1024);
        let last = xml.replace(
            "<IsTruncated>true</IsTruncated>",
            "<IsTruncated>false</IsTruncated>",
        );
        assert_eq!(parse_list_parts(last.as_bytes()).unwrap().next_marker, None);
        let empty = "<ListPartsResult><IsTruncated>false</IsTruncated></ListPartsResult>";
        assert!(parse_list_parts(empty.as_bytes()).unwrap().parts.is_empty());
        let broken = xml.replace("<NextPartNumberMarker>5</NextPartNumberMarker>", "");
        assert!(parse_list_parts(broken.as_bytes()).is_err());
    }

    #[test]
    fn complete_result_and_body() {
        let xml = r#"<CompleteMultipartUploadResult xmlns="http://doc.oss-cn-hangzhou.aliyuncs.com">
  <Location>http://oss-example.oss-cn-hangzhou.aliyuncs.com/multipart.data</Location>
  <Bucket>oss-example</Bucket><Key>multipart.data</Key>
  <ETag>"B864DB6A936D376F9F8D3ED3BBE540****"</ETag>
</CompleteMultipartUploadResult>"#;
        let r = parse_complete(xml.as_bytes()).unwrap();
        assert_eq!(r.etag, "\"B864DB6A936D376F9F8D3ED3BBE540****\"");
        assert!(r.location.ends_with("/multipart.data"));
        let part = |n, e: &str| ListedPart {
            part_number: n,
            etag: e.into(),
            size: 1,
            last_modified: String::new(),
        };
        assert_eq!(
            complete_body(&[part(1, "\"AA\""), part(3, "\"B&B\""), part(4, "\"<x>'\"")]),
            "<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>\"AA\"</ETag></Part><Part><PartNumber>3</PartNumber><ETag>\"B&amp;B\"</ETag></Part><Part><PartNumber>4</PartNumber><ETag>\"&lt;x&gt;'\"</ETag></Part></CompleteMultipartUpload>"
        );
    }
}
