//! Object tagging: PutObjectTagging / GetObjectTagging / DeleteObjectTagging
//! (`?tagging`), and the `x-oss-tagging` header of PutObject,
//! InitiateMultipartUpload and CopyObject. The function records its verdict
//! on an uploaded object in tags, so the emulator keeps them as OSS does:
//! at most 10 per object, unique keys, key ≤ 128 and value ≤ 256 characters
//! of letters, digits, spaces and `+ - = . _ : /`.

use http::{Method, StatusCode};
use quick_xml::events::Event;
use quick_xml::Reader;

use super::body::BodyStream;
use super::object::{no_such_key, receive_small};
use super::route::{ObjReq, Reply};
use super::xml::{self, elem, OssError};

/// Most tags an object may carry.
const MAX_TAGS: usize = 10;

fn invalid_tag(message: &str) -> OssError {
    OssError::new(StatusCode::BAD_REQUEST, "InvalidTag", message)
}

fn allowed(c: char) -> bool {
    c.is_alphanumeric() || matches!(c, ' ' | '+' | '-' | '=' | '.' | '_' | ':' | '/')
}

/// Checks a tag set against OSS's rules.
pub(super) fn validate(tags: &[(String, String)]) -> Result<(), OssError> {
    if tags.len() > MAX_TAGS {
        return Err(invalid_tag("An object can have at most 10 tags."));
    }
    for (i, (k, v)) in tags.iter().enumerate() {
        if k.is_empty() || k.chars().count() > 128 {
            return Err(invalid_tag("A tag key must be 1 to 128 characters long."));
        }
        if v.chars().count() > 256 {
            return Err(invalid_tag(
                "A tag value must be at most 256 characters long.",
            ));
        }
        if !k.chars().all(allowed) || !v.chars().all(allowed) {
            return Err(invalid_tag(
                "Tag keys and values may contain only letters, digits, spaces and + - = . _ : /",
            ));
        }
        if tags[..i].iter().any(|(other, _)| other == k) {
            return Err(invalid_tag("Tag keys must be unique."));
        }
    }
    Ok(())
}

/// Parses an `x-oss-tagging` header: `k1=v1&k2=v2`, each part URL-encoded.
pub(super) fn parse_header(v: &str) -> Result<Vec<(String, String)>, OssError> {
    let bad = || {
        OssError::invalid_argument("x-oss-tagging must be key1=value1&key2=value2, URL-encoded.")
            .with("ArgumentName", "x-oss-tagging")
            .with("ArgumentValue", v)
    };
    let dec = |s: &str| {
        percent_encoding::percent_decode_str(s)
            .decode_utf8()
            .map(|c| c.into_owned())
            .map_err(|_| bad())
    };
    let mut tags = Vec::new();
    for pair in v.split('&').filter(|p| !p.is_empty()) {
        let (k, val) = match pair.split_once('=') {
            Some((_, rest)) if rest.contains('=') => return Err(bad()),
            Some((k, val)) => (k, val),
            None => (pair, ""),
        };
        tags.push((dec(k)?, dec(val)?));
    }
    validate(&tags)?;
    Ok(tags)
}

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
    fn header_and_xml_forms() {
        let t = parse_header("verdict=ok&sniffed=image%2Fpng&empty").unwrap();
        assert_eq!(
            t,
            vec![
                ("verdict".into(), "ok".into()),
                ("sniffed".into(), "image/png".into()),
                ("empty".into(), "".into())
            ]
        );
        assert_eq!(
            parse_header("aa=bb=cc").unwrap_err().code,
            "InvalidArgument"
        );
        assert_eq!(parse_header("a=1&a=2").unwrap_err().code, "InvalidTag");
        assert_eq!(parse_header("a=%3C").unwrap_err().code, "InvalidTag");
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
        assert!(validate(&[("k".repeat(129), String::new())]).is_err());
        assert!(validate(&[("k".into(), "v".repeat(257))]).is_err());
    }
}
