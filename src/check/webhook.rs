//! The verdict message to the app, signed per Standard Webhooks
//! (`webhook-id`, `webhook-timestamp`, `webhook-signature: v1,<base64>`),
//! with the reference `standardwebhooks` crate.

use serde::Serialize;
use sha2::{Digest, Sha256};
use std::time::Duration;

/// The body of `upload.verified` / `upload.rejected`.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct Message {
    /// `upload.verified` or `upload.rejected`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// When the upload happened (the event's `eventTime`), ISO 8601.
    pub timestamp: String,
    /// What was checked.
    pub data: Data,
}

/// The upload a [`Message`] is about.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Data {
    /// The bucket.
    pub bucket: String,
    /// The object key.
    pub key: String,
    /// The stored size in bytes.
    pub size: u64,
    /// The ETag of the checked version.
    pub etag: String,
    /// The Content-Type it was stored with.
    pub declared_type: String,
    /// What the bytes sniffed as (`null`: nothing recognisable).
    pub sniffed_type: Option<String>,
    /// The user whose folder the key is in (`null` in anonymous mode).
    pub user_id: Option<String>,
    /// Why it was rejected (rejections only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<Reason>,
    /// Where a rejected object went: `deleted` or `quarantined` (rejections only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub disposition: Option<String>,
}

/// A rejection's cause.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct Reason {
    /// `KeyNotAllowed`, `TooLarge`, `TypeNotAllowed` or `TypeMismatch`.
    pub code: String,
    /// For people.
    pub message: String,
}

/// The `webhook-id` of the verdict on one object version: the same for every
/// retry and duplicate event, so the app can drop repeats (the spec's
/// idempotency key). `msg_` + 32 hex digits of SHA-256(bucket, key, ETag).
pub fn message_id(bucket: &str, key: &str, etag: &str) -> String {
    let mut h = Sha256::new();
    for part in [bucket, key, etag] {
        h.update((part.len() as u64).to_be_bytes());
        h.update(part.as_bytes());
    }
    format!("msg_{}", &hex::encode(h.finalize())[..32])
}

/// The `webhook-signature` value: one `v1,<base64>` per secret, space-separated
/// (rotation: receivers holding either secret verify). Pure: the timestamp is
/// passed in.
pub fn signature(
    secrets: &[String],
    id: &str,
    timestamp: i64,
    body: &[u8],
) -> Result<String, String> {
    let mut out = Vec::with_capacity(secrets.len());
    for (i, s) in secrets.iter().enumerate() {
        let hook = standardwebhooks::Webhook::new(s)
            .map_err(|_| format!("WEBHOOK_SECRET #{} is not a whsec_ secret", i + 1))?;
        out.push(
            hook.sign(id, timestamp, body)
                .map_err(|_| "the webhook body is not UTF-8".to_owned())?,
        );
    }
    Ok(out.join(" "))
}

/// How a delivery went.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Delivery {
    /// A 2xx: the app has it.
    Delivered,
    /// 410 Gone: the app asks the sender to stop sending it messages (the
    /// spec's "disable the webhook endpoint"). A permanent answer: never
    /// retried, reported as such (log line, the invocation's record), and not
    /// counted as acknowledged (no `upload-notified`).
    Gone,
    /// Anything else: FC should retry the event.
    Failed(String),
}

/// Sends webhooks to one URL.
pub struct Sender {
    http: reqwest::Client,
    url: String,
    secrets: Vec<String>,
}

impl Sender {
    /// A sender for `url`, each attempt bounded by `timeout`, no redirects
    /// followed (a 3xx is a failure, per the spec).
    pub fn new(url: &str, secrets: Vec<String>, timeout: Duration) -> Result<Sender, String> {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(5)))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| format!("cannot build the webhook client: {e}"))?;
        Ok(Sender {
            http,
            url: url.to_owned(),
            secrets,
        })
    }

    /// Signs and POSTs `message` with id `id`, timestamped now.
    pub async fn send(&self, id: &str, message: &Message) -> Delivery {
        let body = match serde_json::to_vec(message) {
            Ok(b) => b,
            Err(e) => return Delivery::Failed(format!("cannot serialise the message: {e}")),
        };
        let ts = chrono::Utc::now().timestamp();
        let sig = match signature(&self.secrets, id, ts, &body) {
            Ok(s) => s,
            Err(e) => return Delivery::Failed(e),
        };
        let sent = self
            .http
            .post(&self.url)
            .header("content-type", "application/json")
            .header("webhook-id", id)
            .header("webhook-timestamp", ts.to_string())
            .header("webhook-signature", sig)
            .body(body)
            .send()
            .await;
        match sent {
            Ok(r) if r.status().is_success() => Delivery::Delivered,
            Ok(r) if r.status().as_u16() == 410 => Delivery::Gone,
            Ok(r) => Delivery::Failed(format!("the webhook answered {}", r.status().as_u16())),
            Err(e) if e.is_timeout() => Delivery::Failed("the webhook timed out".into()),
            Err(_) => Delivery::Failed("the webhook could not be reached".into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // The spec's test vector (standard-webhooks libraries/python/tests and
    // libraries/javascript/src/webhook.test.ts, "sign function works").
    #[test]
    fn standard_webhooks_test_vector() {
        let secret = vec!["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".to_owned()];
        let sig = signature(
            &secret,
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1614265330,
            br#"{"test": 2432232314}"#,
        )
        .unwrap();
        assert_eq!(sig, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    }

    // The Rust reference library's own vector (libraries/rust/src/lib.rs test_sign).
    #[test]
    fn second_vector_and_rotation() {
        let a = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD".to_owned();
        let b = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".to_owned();
        let body = br#"{"email":"test@example.com","username":"test_user"}"#;
        let one = signature(
            std::slice::from_ref(&a),
            "msg_27UH4WbU6Z5A5EzD8u03UvzRbpk",
            1649367553,
            body,
        )
        .unwrap();
        assert_eq!(one, "v1,tZ1I4/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kkw=");
        let both = signature(&[b, a], "msg_27UH4WbU6Z5A5EzD8u03UvzRbpk", 1649367553, body).unwrap();
        let parts: Vec<&str> = both.split(' ').collect();
        assert_eq!(parts.len(), 2);
        assert_eq!(parts[1], one);
    }

    #[test]
    fn ids_are_deterministic_per_version_and_dot_free() {
        let a = message_id("b", "uploads/x.png", "AB");
        assert_eq!(a, message_id("b", "uploads/x.png", "AB"));
        assert_ne!(a, message_id("b", "uploads/x.png", "AC"));
        assert_ne!(message_id("b", "ab", "c"), message_id("b", "a", "bc"));
        assert!(a.starts_with("msg_") && !a.contains('.') && a.len() == 36);
    }
}
