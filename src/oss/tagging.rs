//! Object tags on the wire: the GetObjectTagging / PutObjectTagging XML body
//! and the `x-oss-tagging` header. A tag set is `(key, value)` pairs in order.

use alibaba_sign::encode::uri_encode;

/// The TagSet of a GetObjectTagging body as `(key, value)` pairs.
pub fn parse_tags(body: &[u8]) -> Result<Vec<(String, String)>, String> {
    Ok(super::xml::records(body, "Tag")?
        .iter()
        .filter_map(|t| {
            let key = super::xml::field(t, "Key")?;
            Some((
                key.to_owned(),
                super::xml::field(t, "Value").unwrap_or_default().to_owned(),
            ))
        })
        .collect())
}

/// The PutObjectTagging body for `tags` (escaped with quick-xml's escaper).
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
    }
}
