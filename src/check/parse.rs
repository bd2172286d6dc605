//! OSS trigger events as FC delivers them, parsed tolerantly.
//!
//! The documented shapes differ over the years (research: upload-events.md
//! §1.3): `{"events":[record, ...]}` with or without `objectMeta`, `size` as
//! a number or a numeric string, `virtualBucket` in older samples. An
//! EventBridge-based OSS trigger delivers CloudEvents instead: FC's "event
//! formats" page shows EventBridge triggers sending a JSON **array** of
//! CloudEvents (`[{"specversion":"1.0","type":…,"data":{…}}, …]`, batched,
//! invoked synchronously by default); one CloudEvent alone is read too. No
//! Alibaba page shows an OSS CloudEvent whole (research-verified §3.2), so
//! `data` is read as the notification record (`data.oss.bucket.name`,
//! `data.oss.object.key`, ...), or with `bucket`/`object` directly under
//! `data`, or as a JSON string holding either; the event name comes from
//! `data.eventName` or the CloudEvent's `type`. Every shape becomes a
//! [`Record`]; fields we do not use are ignored. A body none of these
//! describe is a [`ParseError`], which the check answers as a failed
//! invocation (FC shows it; never a silent success).

use serde_json::Value;

/// The upload events this function checks (payload names carry no `oss:`).
/// AppendObject and PutSymlink are among them because `oss:PutObject`, which
/// `/v1/sts` credentials carry, allows both.
pub const CHECKED_EVENTS: [&str; 5] = [
    PUT_OBJECT,
    "ObjectCreated:PostObject",
    "ObjectCreated:CompleteMultipartUpload",
    APPEND_OBJECT,
    PUT_SYMLINK,
];

/// The event of a PutObject.
pub const PUT_OBJECT: &str = "ObjectCreated:PutObject";
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
    // The notification record nests bucket and object under `oss`; a
    // CloudEvent's `data` may carry them directly.
    let oss = if v["oss"].is_object() { &v["oss"] } else { v };
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

/// One CloudEvent (EventBridge): its `data` is one notification record, the
/// event name in `type` when the record has none.
fn cloud_event(v: &Value) -> Result<Record, ParseError> {
    let hint = v.get("type").and_then(Value::as_str);
    let parsed;
    let data = match v.get("data") {
        Some(Value::String(s)) => {
            parsed = serde_json::from_str::<Value>(s).map_err(|e| {
                ParseError(format!("a CloudEvent's data is a string but not JSON: {e}"))
            })?;
            &parsed
        }
        Some(d) if d.is_object() => d,
        _ => return Err(ParseError("a CloudEvent has no data record".into())),
    };
    let mut r = record(data, hint)?;
    if r.event_time.is_none() {
        r.event_time = text(&v["time"]);
    }
    Ok(r)
}

/// Parses an event body into its records.
pub fn parse(body: &[u8]) -> Result<Vec<Record>, ParseError> {
    let v: Value = serde_json::from_slice(body)
        .map_err(|e| ParseError(format!("the event is not JSON: {e}")))?;
    if let Some(events) = v.get("events").and_then(Value::as_array) {
        return events.iter().map(|r| record(r, None)).collect();
    }
    // EventBridge-based triggers: an array of CloudEvents (a batch).
    if let Some(batch) = v.as_array() {
        if batch.is_empty() {
            return Err(ParseError("the event is an empty array".into()));
        }
        return batch
            .iter()
            .map(|e| {
                if e.get("specversion").is_some() {
                    cloud_event(e)
                } else {
                    Err(ParseError(
                        "an array element is not a CloudEvent (no specversion)".into(),
                    ))
                }
            })
            .collect();
    }
    if v.get("specversion").is_some() {
        return Ok(vec![cloud_event(&v)?]);
    }
    Err(ParseError(
        "the event is neither FC's OSS trigger event ({\"events\":[...]}) nor CloudEvents from an EventBridge trigger".into(),
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

    // An EventBridge-based OSS trigger's body: FC's CloudEvents array (as in
    // its MNS/RocketMQ/Kafka samples) around OSS notification records; the
    // second element with bucket and object directly under `data`, and its
    // data as a JSON string.
    const EVENTBRIDGE: &str = r#"[
  {"id":"7adc8c1a-645d-4476-bdef-5d6fb57f****","source":"acs.oss","specversion":"1.0",
   "type":"oss:ObjectCreated:PutObject","datacontenttype":"application/json;charset=utf-8",
   "subject":"acs:oss:cn-hangzhou:164901546557****:testbucket/uploads/a.png",
   "time":"2022-08-13T06:45:43.000Z","aliyunaccountid":"164901546557****",
   "aliyunpublishtime":"2022-08-13T06:45:43.231Z","aliyuneventbusname":"default","aliyunregionid":"cn-hangzhou",
   "data":{"eventName":"ObjectCreated:PutObject","eventSource":"acs:oss","eventTime":"2022-08-13T06:45:43.000Z","eventVersion":"1.0",
     "oss":{"bucket":{"arn":"acs:oss:cn-hangzhou:164901546557****:testbucket","name":"testbucket","ownerIdentity":"164901546557****"},
            "object":{"deltaSize":122539,"eTag":"688A7BF4F233DC9C88A80BF985AB****","key":"uploads/a.png","size":122539},
            "ossSchemaVersion":"1.0","ruleId":"9adac8e253828f4f7c0466d941fa3db81161****"},
     "region":"cn-hangzhou","requestParameters":{"sourceIPAddress":"140.205.XX.XX"},
     "responseElements":{"requestId":"58F9FF2D3DF792092E12044C"},"userIdentity":{"principalId":"164901546557****"}}},
  {"id":"2","source":"acs.oss","specversion":"1.0","type":"oss:ObjectCreated:CompleteMultipartUpload",
   "time":"2022-08-13T06:45:44.000Z",
   "data":"{\"region\":\"cn-hangzhou\",\"bucket\":{\"name\":\"testbucket\"},\"object\":{\"key\":\"uploads/b.mp4\",\"size\":\"9\",\"eTag\":\"AB-2\"}}"}
]"#;

    #[test]
    fn reads_an_eventbridge_array_of_cloudevents() {
        let r = parse(EVENTBRIDGE.as_bytes()).unwrap();
        assert_eq!(r.len(), 2);
        assert_eq!(
            (
                r[0].event_name.as_str(),
                r[0].bucket.as_str(),
                r[0].key.as_str()
            ),
            ("ObjectCreated:PutObject", "testbucket", "uploads/a.png")
        );
        assert_eq!(
            r[0].etag.as_deref(),
            Some("688A7BF4F233DC9C88A80BF985AB****")
        );
        assert_eq!(r[0].size, Some(122539));
        assert_eq!(
            (r[1].event_name.as_str(), r[1].key.as_str(), r[1].size),
            (
                "ObjectCreated:CompleteMultipartUpload",
                "uploads/b.mp4",
                Some(9)
            )
        );
        assert_eq!(r[1].event_time.as_deref(), Some("2022-08-13T06:45:44.000Z"));
        assert!(r.iter().all(Record::is_upload));
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
            "[{}]",
            r#"[{"specversion":"1.0","data":{"x":1}}]"#,
            r#"[{"specversion":"1.0","data":"not json"}]"#,
            r#""events""#,
            "{}",
            r#"{"events":[{"eventName":"ObjectCreated:PutObject"}]}"#,
            r#"{"events":[{"eventName":"x","oss":{"bucket":{"name":"b"},"object":{}}}]}"#,
        ] {
            assert!(parse(bad.as_bytes()).is_err(), "{bad}");
        }
    }
}
