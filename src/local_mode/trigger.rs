//! Local mode's stand-in for FC's OSS trigger: each upload the emulator
//! stores under `UPLOAD_PREFIX` becomes the event JSON FC would deliver,
//! POSTed to the function's `/invoke` with FC's headers on the function's
//! internal listener (FC's side of the runtime, never the public front door),
//! and retried the way FC retries a failed asynchronous invocation.

use alibaba_sign::Credentials;
use oss_emulator::UploadEvent;
use serde_json::json;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::sync::mpsc;

/// How events are delivered.
#[derive(Clone, Debug)]
pub struct Delivery {
    /// The function's internal listener.
    pub target: SocketAddr,
    /// Only keys under these prefixes (one trigger's `filter.key.prefix` per
    /// upload profile).
    pub prefixes: Vec<String>,
    /// The function role's credentials FC would pass (`x-fc-access-key-*`).
    pub credentials: Credentials,
    /// `x-fc-region`.
    pub region: String,
    /// `x-fc-account-id`, also in the record's ARNs.
    pub account_id: String,
    /// Retries after the first attempt (FC's `maxAsyncRetryAttempts`, default 3).
    pub retries: u32,
    /// Wait before the first retry; doubled after each (FC documents no interval).
    pub first_backoff: Duration,
}

/// The event FC delivers for one OSS upload (research: upload-events.md §1.3),
/// without `objectMeta` (a documented variant; the function reads the type
/// from HeadObject anyway).
pub fn event_json(e: &UploadEvent, region: &str, account_id: &str, request_id: &str) -> String {
    json!({"events": [{
        "eventName": e.event_name,
        "eventSource": "acs:oss",
        "eventTime": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        "eventVersion": "1.0",
        "oss": {
            "bucket": {
                "arn": format!("acs:oss:{region}:{account_id}:{}", e.bucket),
                "name": e.bucket,
                "ownerIdentity": account_id,
            },
            "object": {
                "deltaSize": e.size,
                "eTag": e.etag,
                "key": e.key,
                "size": e.size,
            },
            "ossSchemaVersion": "1.0",
            "ruleId": "local-upload-trigger",
        },
        "region": region,
        "requestParameters": {"sourceIPAddress": e.source_ip.to_string()},
        "responseElements": {"requestId": request_id},
        "userIdentity": {"principalId": account_id},
    }]})
    .to_string()
}

/// Starts the delivery task; returns the channel the upload hook feeds.
pub fn start(delivery: Delivery) -> mpsc::UnboundedSender<UploadEvent> {
    let (tx, mut rx) = mpsc::unbounded_channel::<UploadEvent>();
    tokio::spawn(async move {
        let http = match reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .build()
        {
            Ok(c) => c,
            Err(e) => {
                crate::log::error(
                    None,
                    "cannot start event delivery",
                    &[("error", e.to_string().into())],
                );
                return;
            }
        };
        while let Some(event) = rx.recv().await {
            if !delivery
                .prefixes
                .iter()
                .any(|p| event.key.starts_with(p.as_str()))
            {
                continue;
            }
            // Each event is delivered on its own, as FC's async queue does.
            tokio::spawn(deliver(http.clone(), delivery.clone(), event));
        }
    });
    tx
}

async fn deliver(http: reqwest::Client, d: Delivery, event: UploadEvent) {
    let request_id = crate::runtime::new_request_id();
    let body = event_json(&event, &d.region, &d.account_id, &request_id);
    let url = format!("http://{}/invoke", d.target);
    let mut backoff = d.first_backoff;
    for attempt in 0..=d.retries {
        let mut rb = http
            .post(&url)
            .header("content-type", "application/octet-stream")
            .header("x-fc-control-path", "/invoke")
            .header("x-fc-request-id", crate::runtime::new_request_id())
            .header("x-fc-access-key-id", &d.credentials.access_key_id)
            .header("x-fc-access-key-secret", &d.credentials.access_key_secret)
            .header("x-fc-region", &d.region)
            .header("x-fc-account-id", &d.account_id)
            .header("x-fc-function-name", "oss-direct-upload-local")
            .header("x-fc-qualifier", "LATEST")
            .body(body.clone());
        if let Some(t) = &d.credentials.security_token {
            rb = rb.header("x-fc-security-token", t);
        }
        let ok = match rb.send().await {
            Ok(r) => {
                let ok = r.status().is_success()
                    && r.headers()
                        .get("x-fc-status")
                        .map_or(true, |v| v.as_bytes() == b"200");
                if ok {
                    if let Ok(body) = r.bytes().await {
                        for line in verdict_lines(&body) {
                            crate::log::write_line(&line);
                        }
                    }
                }
                ok
            }
            Err(_) => false,
        };
        if ok {
            return;
        }
        if attempt < d.retries {
            crate::log::warn(
                None,
                "upload event failed; FC would retry it",
                &[
                    ("key", event.key.clone().into()),
                    ("attempt", (attempt + 1).into()),
                    ("retryInMs", (backoff.as_millis() as u64).into()),
                ],
            );
            tokio::time::sleep(backoff).await;
            backoff = backoff.saturating_mul(2);
        }
    }
    crate::log::error(
        None,
        "upload event dropped after its retries (FC would send it to the failure destination)",
        &[("key", event.key.clone().into())],
    );
}

/// The check's answer to one event, in plain words for the console:
/// `verified <key>` or `rejected <key>: <why>`, one line per record it
/// settled (records it ignored or left for a retry say nothing here; the
/// JSON log has them).
pub fn verdict_lines(answer: &[u8]) -> Vec<String> {
    let Ok(v) = serde_json::from_slice::<serde_json::Value>(answer) else {
        return Vec::new();
    };
    let records = v["records"].as_array().cloned().unwrap_or_default();
    records
        .iter()
        .filter_map(|r| {
            let key = r["key"].as_str()?;
            match r["outcome"].as_str()? {
                "verified" => Some(format!("verified {key}")),
                "rejected" => Some(match r["reason"].as_str().filter(|x| !x.is_empty()) {
                    Some(why) => format!("rejected {key}: {why}"),
                    None => format!("rejected {key}"),
                }),
                _ => None,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn verdicts_read_as_plain_words() {
        let answer = br#"{"records":[{"key":"uploads/a/x.txt","outcome":"verified"},
            {"key":"uploads/b/README.md","outcome":"rejected","reason":"declared text/markdown, not allowed in profile \"default\" (deleted)"},
            {"key":"other/y","outcome":"ignored","reason":"outside UPLOAD_PREFIX"}]}"#;
        assert_eq!(
            verdict_lines(answer),
            vec![
                "verified uploads/a/x.txt".to_owned(),
                "rejected uploads/b/README.md: declared text/markdown, not allowed in profile \"default\" (deleted)".to_owned(),
            ]
        );
        assert!(verdict_lines(b"not json").is_empty());
    }

    use super::*;

    #[test]
    fn the_event_parses_as_fc_would_deliver_it() {
        let e = UploadEvent {
            bucket: "b-1".into(),
            key: "uploads/a b/é.png".into(),
            size: 12,
            etag: "5B3C".into(),
            event_name: oss_emulator::hook::POST_OBJECT,
            source_ip: "127.0.0.1".parse().unwrap(),
        };
        let json = event_json(&e, "cn-hangzhou", "123", "rid");
        let r = crate::check::parse::parse(json.as_bytes()).unwrap();
        assert_eq!(r.len(), 1);
        assert_eq!(r[0].key, "uploads/a b/é.png");
        assert_eq!(r[0].etag.as_deref(), Some("5B3C"));
        assert_eq!(r[0].size, Some(12));
        assert!(r[0].is_upload());
    }
}
