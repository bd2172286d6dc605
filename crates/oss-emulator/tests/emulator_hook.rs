//! The emulator's upload hook: called once per stored object with what an OSS
//! event record carries, for PutObject, PostObject, CompleteMultipartUpload,
//! AppendObject and PutSymlink, and never for a refused request or a part.

use std::sync::{Arc, Mutex};

use alibaba_sign::post_policy::{self, Condition};
use alibaba_sign::Credentials;
use chrono::{Duration, Utc};
use oss_emulator::hook::{self, UploadEvent};
use oss_emulator::{Emulator, EmulatorConfig, ServeOptions};

const AK: &str = "LTAI5tEmulatorHookKey01";
const SK: &str = "EmulatorHookSecret0123456789abcdefABCD";

fn config() -> EmulatorConfig {
    EmulatorConfig {
        bind: "127.0.0.1:0".parse().expect("addr"),
        data_dir: None,
        buckets: vec!["uploads".to_string()],
        account: Credentials::new(AK, SK, None),
        account_id: "1234567890123456".to_string(),
        allowed_origins: vec![],
        max_object_bytes: 5 * 1024 * 1024,
    }
}

/// A V1 header-signed request (the account key) to `uploads/<key>?<query>`.
async fn signed(
    emu: &Emulator,
    method: &str,
    key: &str,
    query: &[(&str, &str)],
    body: Vec<u8>,
) -> reqwest::Response {
    signed_with(emu, method, key, query, &[], body).await
}

/// [`signed`] with extra `x-oss-*` headers (signed too).
async fn signed_with(
    emu: &Emulator,
    method: &str,
    key: &str,
    query: &[(&str, &str)],
    extra: &[(&str, &str)],
    body: Vec<u8>,
) -> reqwest::Response {
    let creds = Credentials::new(AK, SK, None);
    let date = Utc::now().format("%a, %d %b %Y %H:%M:%S GMT").to_string();
    let q: Vec<(String, String)> = query
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let mut headers = vec![("date".to_string(), date.clone())];
    headers.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    let auth = alibaba_sign::oss_v1::authorization_header(
        &creds, method, "uploads", key, &q, &headers, &date,
    );
    let qs = alibaba_sign::encode::query_string(&q);
    let url = format!(
        "{}/uploads/{}{}{}",
        emu.oss_endpoint(),
        alibaba_sign::encode::uri_encode(key, true),
        if qs.is_empty() { "" } else { "?" },
        qs
    );
    let mut req = reqwest::Client::new()
        .request(
            reqwest::Method::from_bytes(method.as_bytes()).expect("m"),
            url,
        )
        .header("authorization", auth)
        .body(body);
    for (k, v) in &headers {
        req = req.header(k, v);
    }
    req.send().await.expect("send")
}

fn md5_hex(d: &[u8]) -> String {
    use md5::{Digest, Md5};
    hex::encode_upper(Md5::digest(d))
}

#[tokio::test]
async fn hook_sees_each_stored_object_once() {
    let seen: Arc<Mutex<Vec<UploadEvent>>> = Arc::default();
    let sink = seen.clone();
    let opts = ServeOptions {
        upload_hook: Some(Arc::new(move |e| sink.lock().expect("lock").push(e))),
        ..Default::default()
    };
    let emu = Emulator::start_with(config(), opts).await.expect("start");

    // PutObject.
    let r = signed(&emu, "PUT", "u/a b.txt", &[], b"hello".to_vec()).await;
    assert_eq!(r.status(), 200);
    // Refused PutObject (wrong key signature): no event.
    let r = reqwest::Client::new()
        .put(format!("{}/uploads/u/nope", emu.oss_endpoint()))
        .header("authorization", format!("OSS {AK}:AAAA"))
        .header(
            "date",
            Utc::now().format("%a, %d %b %Y %H:%M:%S GMT").to_string(),
        )
        .body("x")
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 403);

    // PostObject.
    let creds = Credentials::new(AK, SK, None);
    let form = post_policy::post_form_v1(
        &creds,
        "uploads",
        "u/form.png",
        vec![Condition::ContentLengthRange(0, 1024)],
        Utc::now() + Duration::minutes(5),
        &[],
    );
    let boundary = "----hookTestBoundary";
    let mut body = Vec::new();
    for (k, v) in &form.fields {
        body.extend_from_slice(
            format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{k}\"\r\n\r\n{v}\r\n")
                .as_bytes(),
        );
    }
    body.extend_from_slice(
        format!("--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"x.png\"\r\n\r\npng!\r\n--{boundary}--\r\n")
            .as_bytes(),
    );
    let r = reqwest::Client::new()
        .post(format!("{}/uploads", emu.oss_endpoint()))
        .header(
            "content-type",
            format!("multipart/form-data; boundary={boundary}"),
        )
        .body(body)
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), 204, "{:?}", r.text().await);

    // Multipart: initiate, one part, complete.
    let r = signed(&emu, "POST", "u/mp.bin", &[("uploads", "")], vec![]).await;
    let text = r.text().await.expect("text");
    let id = text
        .split("<UploadId>")
        .nth(1)
        .and_then(|s| s.split("</UploadId>").next())
        .expect("upload id")
        .to_string();
    let r = signed(
        &emu,
        "PUT",
        "u/mp.bin",
        &[("partNumber", "1"), ("uploadId", &id)],
        b"part one".to_vec(),
    )
    .await;
    assert_eq!(r.status(), 200);
    let etag = r.headers()["etag"].to_str().expect("etag").to_string();
    let xml = format!(
        "<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>{etag}</ETag></Part></CompleteMultipartUpload>"
    );
    let r = signed(
        &emu,
        "POST",
        "u/mp.bin",
        &[("uploadId", &id)],
        xml.into_bytes(),
    )
    .await;
    assert_eq!(r.status(), 200);

    // AppendObject: one event per append, the size growing; a refused
    // append (wrong position) fires none.
    let q0 = [("append", ""), ("position", "0")];
    let r = signed(&emu, "POST", "u/log.txt", &q0, b"abc".to_vec()).await;
    assert_eq!(r.status(), 200);
    let r = signed(&emu, "POST", "u/log.txt", &q0, b"again".to_vec()).await;
    assert_eq!(r.status(), 409);
    let q3 = [("append", ""), ("position", "3")];
    let r = signed(&emu, "POST", "u/log.txt", &q3, b"de".to_vec()).await;
    assert_eq!(r.status(), 200);
    let append_etag = r.headers()["etag"].to_str().expect("etag").to_string();
    // PutSymlink: the event carries the link's own ETag (GetSymlink's).
    let target = [("x-oss-symlink-target", "u%2Fa%20b.txt")];
    let r = signed_with(&emu, "PUT", "u/link", &[("symlink", "")], &target, vec![]).await;
    assert_eq!(r.status(), 200, "{:?}", r.text().await);
    let link_etag = r.headers()["etag"].to_str().expect("etag").to_string();
    emu.shutdown().await;

    let seen = seen.lock().expect("lock").clone();
    let names: Vec<_> = seen.iter().map(|e| e.event_name).collect();
    assert_eq!(
        names,
        vec![
            hook::PUT_OBJECT,
            hook::POST_OBJECT,
            hook::COMPLETE_MULTIPART_UPLOAD,
            hook::APPEND_OBJECT,
            hook::APPEND_OBJECT,
            hook::PUT_SYMLINK,
        ]
    );
    assert_eq!((seen[3].key.as_str(), seen[3].size), ("u/log.txt", 3));
    assert_eq!((seen[4].key.as_str(), seen[4].size), ("u/log.txt", 5));
    assert_eq!(format!("\"{}\"", seen[4].etag), append_etag);
    assert_eq!(seen[5].key, "u/link");
    assert_eq!(format!("\"{}\"", seen[5].etag), link_etag);
    assert_ne!(seen[5].etag, seen[0].etag, "not the target's ETag");
    assert_eq!(seen[0].key, "u/a b.txt");
    assert_eq!(seen[0].bucket, "uploads");
    assert_eq!(seen[0].size, 5);
    assert_eq!(seen[0].etag, md5_hex(b"hello"));
    assert!(seen[0].source_ip.is_loopback());
    assert_eq!(seen[1].key, "u/form.png");
    assert_eq!(seen[1].size, 4);
    assert_eq!(seen[2].key, "u/mp.bin");
    assert!(seen[2].etag.ends_with("-1"), "{}", seen[2].etag);
}
