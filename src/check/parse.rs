//! OSS trigger events as FC delivers them, parsed tolerantly.
//!
//! The documented shapes differ over the years (research: upload-events.md
//! §1.3): `{"events":[record, ...]}` with or without `objectMeta`, `size` as
//! a number or a numeric string, `virtualBucket` in older samples; and the
//! EventBridge CloudEvents envelope whose `data` is one record. Every one of
//! them becomes a [`Record`]; fields we do not use are ignored.

use serde_json::Value;

/// The upload events this function checks (payload names carry no `oss:`).
/// AppendObject and PutSymlink are among them because `oss:PutObject`, which
/// `/v1/sts` credentials carry, allows both.
pub const CHECKED_EVENTS: [&str; 5] = [
    "ObjectCreated:PutObject",
    "ObjectCreated:PostObject",
    "ObjectCreated:CompleteMultipartUpload",
    APPEND_OBJECT,
    PUT_SYMLINK,
];

/// The event of an AppendObject (one per append).
pub const APPEND_OBJECT: &str = "ObjectCreated:AppendObject";
/// The event of a PutSymlink.
pub const PUT_SYMLINK: &str = "ObjectCreated:PutSymlink";

/// One OSS notification record, as much as the check needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    /// `ObjectCreated:PutObject` etc., without an `oss:` prefix.
    pub event_name: String,
    /// The bucket name.
    pub bucket: String,
    /// The object key, raw UTF-8.
    pub key: String,
    /// The uploaded version's ETag, unquoted, uppercase as OSS sends it.
    pub etag: Option<String>,
    /// The size OSS reported (HeadObject's is the one trusted).
    pub size: Option<u64>,
    /// `objectMeta.mimeType`, the declared type, when present.
    pub mime_type: Option<String>,
    /// `eventTime`, ISO 8601.
    pub event_time: Option<String>,
}

impl Record {
    /// Whether this is one of the [`CHECKED_EVENTS`].
    pub fn is_upload(&self) -> bool {
        CHECKED_EVENTS.contains(&self.event_name.as_str())
    }
}

/// Why an event could not be read at all.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseError(pub String);

fn text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        _ => None,
    }
}

fn number(v: &Value) -> Option<u64> {
    match v {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn record(v: &Value, type_hint: Option<&str>) -> Result<Record, ParseError> {
    let name = text(&v["eventName"])
        .or_else(|| type_hint.map(str::to_owned))
        .ok_or_else(|| ParseError("a record has no eventName".into()))?;
    let event_name = name.strip_prefix("oss:").unwrap_or(&name).to_owned();
    let oss = &v["oss"];
    let bucket = text(&oss["bucket"]["name"])
        .ok_or_else(|| ParseError("a record has no oss.bucket.name".into()))?;
    let object = &oss["object"];
    let key =
        text(&object["key"]).ok_or_else(|| ParseError("a record has no oss.object.key".into()))?;
    let etag = text(&object["eTag"])
        .or_else(|| text(&object["etag"]))
        .map(|e| e.trim_matches('"').to_owned());
    Ok(Record {
        event_name,
        bucket,
        key,
        etag,
        size: number(&object["size"]),
        mime_type: text(&object["objectMeta"]["mimeType"]),
        event_time: text(&v["eventTime"]),
    })
}

/// Parses an event body into its records.
pub fn parse(body: &[u8]) -> Result<Vec<Record>, ParseError> {
    let v: Value = serde_json::from_slice(body)
        .map_err(|e| ParseError(format!("the event is not JSON: {e}")))?;
    if let Some(events) = v.get("events").and_then(Value::as_array) {
        return events.iter().map(|r| record(r, None)).collect();
    }
    // EventBridge (CloudEvents): one record in `data`, the name in `type`.
    if v.get("specversion").is_some() {
        if let Some(data) = v.get("data").filter(|d| d.is_object()) {
            let hint = v.get("type").and_then(Value::as_str);
            return Ok(vec![record(data, hint)?]);
        }
    }
    Err(ParseError(
        "the event has neither an `events` array nor a CloudEvents `data` record".into(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    const CURRENT: &str = r#"{"events":[{"eventName":"ObjectCreated:PutObject","eventSource":"acs:oss","eventTime":"2022-08-13T06:45:43.000Z","eventVersion":"1.0",
  "oss":{"bucket":{"arn":"acs:oss:cn-hangzhou:123456789:testbucket","name":"testbucket","ownerIdentity":"164901546557****"},
         "object":{"deltaSize":122539,"eTag":"688A7BF4F233DC9C88A80BF985AB****","key":"source/a.png",
                   "objectMeta":{"mimeType":"application/zip","userMeta":{"x-oss-meta-last-modified":"20250213"}},"size":122539},
         "ossSchemaVersion":"1.0","ruleId":"9adac8e253828f4f7c0466d941fa3db81161****"},
  "region":"cn-hangzhou","requestParameters":{"sourceIPAddress":"140.205.XX.XX"},
  "responseElements":{"requestId":"58F9FF2D3DF792092E12044C"},"userIdentity":{"principalId":"164901546557****"}}]}"#;

    // The older shape (fc3's event template): no objectMeta, virtualBucket, size as a string.
    const OLD: &str = r#"{"events":[{"eventName":"ObjectCreated:PostObject","eventSource":"acs:oss","eventTime":"2017-04-21T12:46:37.000Z","eventVersion":"1.0",
  "oss":{"bucket":{"arn":"acs:oss:cn-shanghai:123:b","name":"b","ownerIdentity":"123","virtualBucket":""},
         "object":{"deltaSize":0,"eTag":"\"0B2A\"","key":"uploads/x y+z/é.png","size":"42"},"ossSchemaVersion":"1.0","ruleId":"r"},
  "region":"cn-shanghai","requestParameters":{"sourceIPAddress":"1.2.3.4"},"responseElements":{"requestId":"58F9"},"userIdentity":{"principalId":"123"}},
  {"eventName":"ObjectRemoved:DeleteObject","oss":{"bucket":{"name":"b"},"object":{"key":"uploads/gone"}}}]}"#;

    #[test]
    fn reads_the_documented_shapes() {
        let r = parse(CURRENT.as_bytes()).unwrap();
        assert_eq!(r.len(), 1);
        assert_eq!(r[0].bucket, "testbucket");
        assert_eq!(r[0].key, "source/a.png");
        assert_eq!(r[0].size, Some(122539));
        assert_eq!(r[0].mime_type.as_deref(), Some("application/zip"));
        assert!(r[0].is_upload());

        let r = parse(OLD.as_bytes()).unwrap();
        assert_eq!(r.len(), 2);
        assert_eq!(r[0].key, "uploads/x y+z/é.png");
        assert_eq!(r[0].etag.as_deref(), Some("0B2A"));
        assert_eq!(r[0].size, Some(42));
        assert_eq!(r[0].mime_type, None);
        assert!(r[0].is_upload());
        assert!(!r[1].is_upload());
    }

    #[test]
    fn reads_a_cloudevents_envelope() {
        let ce = r#"{"specversion":"1.0","id":"1","source":"acs.oss","type":"oss:ObjectCreated:CompleteMultipartUpload",
          "data":{"oss":{"bucket":{"name":"b"},"object":{"key":"uploads/k","eTag":"AB","size":3}}}}"#;
        let r = parse(ce.as_bytes()).unwrap();
        assert_eq!(r[0].event_name, "ObjectCreated:CompleteMultipartUpload");
        assert!(r[0].is_upload());
    }

    #[test]
    fn append_and_symlink_events_are_uploads() {
        // The names FC3's trigger schema and EventBridge's OSS event list use.
        for name in [
            "oss:ObjectCreated:AppendObject",
            "oss:ObjectCreated:PutSymlink",
        ] {
            let ev = format!(
                r#"{{"events":[{{"eventName":"{name}","oss":{{"bucket":{{"name":"b"}},"object":{{"key":"uploads/k","eTag":"AB","size":3}}}}}}]}}"#
            );
            let r = parse(ev.as_bytes()).unwrap();
            assert!(r[0].is_upload(), "{name}");
        }
        let other = r#"{"events":[{"eventName":"ObjectCreated:CopyObject","oss":{"bucket":{"name":"b"},"object":{"key":"k"}}}]}"#;
        assert!(!parse(other.as_bytes()).unwrap()[0].is_upload());
    }

    #[test]
    fn refuses_what_is_not_an_event() {
        for bad in [
            "",
            "[]",
            "{}",
            r#"{"events":[{"eventName":"ObjectCreated:PutObject"}]}"#,
            r#"{"events":[{"eventName":"x","oss":{"bucket":{"name":"b"},"object":{}}}]}"#,
        ] {
            assert!(parse(bad.as_bytes()).is_err(), "{bad}");
        }
    }
}
