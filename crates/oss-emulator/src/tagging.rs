//! Object tagging operations (`?tagging`): Put, Get, Delete and their `<Tagging>` body.
//!
//! Tag rules and the `x-oss-tagging` header are in `tags`.

use http::{Method, StatusCode};
use quick_xml::events::Event;
use quick_xml::Reader;

use super::body::BodyStream;
use super::request::{no_such_key, ObjReq, Reply};
use super::tags::validate;
use super::upload::receive_small;
use super::xml::{self, elem, OssError};

/// Parses a `<Tagging><TagSet><Tag><Key/><Value/></Tag>...</TagSet></Tagging>` body.
pub(super) fn parse_xml(body: &[u8]) -> Result<Vec<(String, String)>, OssError> {
    let bad = || {
        OssError::malformed(
            "The XML you provided was not well-formed or did not validate against our published schema.",
        )
    };
    let text = std::str::from_utf8(body).map_err(|_| bad())?;
    let mut reader = Reader::from_str(text);
    reader.config_mut().trim_text(true);
    let mut path: Vec<String> = Vec::new();
    let mut tags = Vec::new();
    let (mut key, mut value) = (None::<String>, None::<String>);
    let mut saw_root = false;
    loop {
        match reader.read_event().map_err(|_| bad())? {
            Event::Start(e) => {
                let name = String::from_utf8_lossy(e.name().as_ref()).into_owned();
                if path.is_empty() {
                    if name != "Tagging" {
                        return Err(bad());
                    }
                    saw_root = true;
                }
                if name == "Tag" {
                    key = None;
                    value = None;
                }
                path.push(name);
            }
            Event::Empty(e) => {
                let name = String::from_utf8_lossy(e.name().as_ref()).into_owned();
                match (path.is_empty(), name.as_str()) {
                    (true, "Tagging") => saw_root = true,
                    (false, "Value") => value = Some(String::new()),
                    _ => {}
                }
            }
            Event::Text(t) => {
                let v = t.unescape().map_err(|_| bad())?.into_owned();
                match path.last().map(String::as_str) {
                    Some("Key") => key = Some(v),
                    Some("Value") => value = Some(v),
                    _ => {}
                }
            }
            // Every end tag pops the path; the end of a `Tag` also records it.
            Event::End(_) if path.pop().as_deref() == Some("Tag") => {
                let k = key.take().ok_or_else(bad)?;
                tags.push((k, value.take().unwrap_or_default()));
            }
            Event::Eof => break,
            _ => {}
        }
    }
    if !saw_root {
        return Err(bad());
    }
    validate(&tags)?;
    Ok(tags)
}

/// `?tagging` on an object: Put (replace all), Get, Delete.
pub(super) async fn handle(req: &ObjReq<'_>, body: BodyStream) -> Result<Reply, OssError> {
    let store = &req.state.store;
    match req.parts.method {
        Method::PUT => {
            req.allow("oss:PutObjectTagging")?;
            if store.head(&req.bucket, &req.key).is_none() {
                return Err(no_such_key(&req.key));
            }
            let tags = parse_xml(&receive_small(req, body).await?)?;
            if !store.set_tags(&req.bucket, &req.key, tags).await? {
                return Err(no_such_key(&req.key));
            }
            Ok(Reply::new(StatusCode::OK))
        }
        Method::GET => {
            req.allow("oss:GetObjectTagging")?;
            let meta = store
                .head(&req.bucket, &req.key)
                .ok_or_else(|| no_such_key(&req.key))?;
            let mut s = xml::doc("Tagging");
            s.push_str("  <TagSet>\n");
            for (k, v) in &meta.tags {
                s.push_str("  <Tag>\n");
                elem(&mut s, "Key", k);
                elem(&mut s, "Value", v);
                s.push_str("  </Tag>\n");
            }
            s.push_str("  </TagSet>\n</Tagging>\n");
            Ok(Reply::xml(s))
        }
        Method::DELETE => {
            req.allow("oss:DeleteObjectTagging")?;
            if !store.set_tags(&req.bucket, &req.key, Vec::new()).await? {
                return Err(no_such_key(&req.key));
            }
            Ok(Reply::new(StatusCode::NO_CONTENT))
        }
        _ => {
            req.authenticate()?;
            Err(OssError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "MethodNotAllowed",
                "The specified method is not allowed against this resource.",
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xml_form() {
        let x = b"<Tagging><TagSet><Tag><Key>a</Key><Value>1</Value></Tag><Tag><Key>b</Key><Value/></Tag></TagSet></Tagging>";
        assert_eq!(
            parse_xml(x).unwrap(),
            vec![("a".into(), "1".into()), ("b".into(), "".into())]
        );
        assert_eq!(parse_xml(b"<Nope/>").unwrap_err().code, "MalformedXML");
        let many: String = (0..11)
            .map(|i| format!("<Tag><Key>k{i}</Key><Value>v</Value></Tag>"))
            .collect();
        let x = format!("<Tagging><TagSet>{many}</TagSet></Tagging>");
        assert_eq!(parse_xml(x.as_bytes()).unwrap_err().code, "InvalidTag");
    }
}
