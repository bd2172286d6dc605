//! Reading the small XML documents OSS answers with (errors, ListParts,
//! InitiateMultipartUpload, tagging, CopyObject). OSS's bodies are flat: a
//! root, some scalar children, and repeated records (`<Part>`, `<Tag>`) of
//! scalar children. Two readers cover all of them, on quick-xml.

use quick_xml::events::Event;
use quick_xml::Reader;

/// The text of the first element named `name` anywhere in `xml`, unescaped;
/// `None` when absent or when the document is not well-formed up to it.
pub fn first_text(xml: &[u8], name: &str) -> Option<String> {
    let mut reader = Reader::from_reader(xml);
    let mut inside = false;
    let mut buf = Vec::new();
    loop {
        match reader.read_event_into(&mut buf) {
            Ok(Event::Start(e)) => inside = e.local_name().as_ref() == name.as_bytes(),
            Ok(Event::Empty(e)) if e.local_name().as_ref() == name.as_bytes() => {
                return Some(String::new())
            }
            Ok(Event::Text(t)) if inside => return t.unescape().ok().map(|s| s.into_owned()),
            Ok(Event::End(e)) if inside && e.local_name().as_ref() == name.as_bytes() => {
                return Some(String::new())
            }
            Ok(Event::Eof) | Err(_) => return None,
            _ => {}
        }
        buf.clear();
    }
}

/// Every element named `record` in `xml`, each as its scalar children in
/// document order (`[("PartNumber", "1"), ("ETag", "\"…\""), …]`).
/// Fails on a document that is not well-formed, so a truncated answer is an
/// error rather than a short list.
pub fn records(xml: &[u8], record: &str) -> Result<Vec<Vec<(String, String)>>, String> {
    let mut reader = Reader::from_reader(xml);
    let mut out = Vec::new();
    let mut current: Option<Vec<(String, String)>> = None;
    let mut field: Option<String> = None;
    let mut buf = Vec::new();
    loop {
        match reader.read_event_into(&mut buf) {
            Ok(Event::Start(e)) => {
                let name = String::from_utf8_lossy(e.local_name().as_ref()).into_owned();
                if name == record {
                    current = Some(Vec::new());
                } else if current.is_some() {
                    field = Some(name);
                }
            }
            Ok(Event::Empty(e)) => {
                let name = String::from_utf8_lossy(e.local_name().as_ref()).into_owned();
                if name == record {
                    out.push(Vec::new());
                } else if let Some(rec) = current.as_mut() {
                    rec.push((name, String::new()));
                }
            }
            Ok(Event::Text(t)) => {
                if let (Some(rec), Some(name)) = (current.as_mut(), field.take()) {
                    let text = t.unescape().map_err(|e| format!("bad XML text: {e}"))?;
                    rec.push((name, text.into_owned()));
                }
            }
            Ok(Event::End(e)) => {
                if e.local_name().as_ref() == record.as_bytes() {
                    if let Some(rec) = current.take() {
                        out.push(rec);
                    }
                } else if let (Some(rec), Some(name)) = (current.as_mut(), field.take()) {
                    // `<ETag></ETag>`: an element with no text.
                    rec.push((name, String::new()));
                }
            }
            Ok(Event::Eof) => {
                return if current.is_some() {
                    Err(format!("XML ended inside <{record}>"))
                } else {
                    Ok(out)
                };
            }
            Err(e) => return Err(format!("bad XML: {e}")),
            _ => {}
        }
        buf.clear();
    }
}

/// The value of `name` in one record from [`records`].
pub fn field<'r>(record: &'r [(String, String)], name: &str) -> Option<&'r str> {
    record
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIST_PARTS: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<ListPartsResult>
  <Bucket>b</Bucket><Key>a&amp;b</Key><UploadId>U1</UploadId>
  <NextPartNumberMarker>2</NextPartNumberMarker>
  <IsTruncated>true</IsTruncated>
  <Part><PartNumber>1</PartNumber><ETag>"E1"</ETag><Size>102400</Size></Part>
  <Part><PartNumber>2</PartNumber><ETag>"E2"</ETag><Size>5</Size></Part>
</ListPartsResult>"#;

    #[test]
    fn reads_scalars_and_records() {
        let xml = LIST_PARTS.as_bytes();
        assert_eq!(first_text(xml, "Key").as_deref(), Some("a&b"));
        assert_eq!(first_text(xml, "IsTruncated").as_deref(), Some("true"));
        assert_eq!(first_text(xml, "Missing"), None);
        let parts = records(xml, "Part").unwrap();
        assert_eq!(parts.len(), 2);
        assert_eq!(field(&parts[0], "ETag"), Some("\"E1\""));
        assert_eq!(field(&parts[1], "Size"), Some("5"));
    }

    #[test]
    fn error_body() {
        let xml = b"<Error><Code>NoSuchUpload</Code><Message>gone</Message><RequestId>R</RequestId></Error>";
        assert_eq!(first_text(xml, "Code").as_deref(), Some("NoSuchUpload"));
        assert_eq!(first_text(xml, "RequestId").as_deref(), Some("R"));
    }

    #[test]
    fn truncated_documents_are_errors() {
        let cut = &LIST_PARTS.as_bytes()[..LIST_PARTS.len() - 60];
        assert!(records(cut, "Part").is_err());
        assert!(records(b"<a><Part><X>1</X></Part><Part>", "Part").is_err());
        assert_eq!(records(b"<a/>", "Part").unwrap().len(), 0);
    }
}
