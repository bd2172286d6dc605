//! The emulator's multipart state changes are atomic, as OSS's are: of two
//! concurrent CompleteMultipartUploads of one upload exactly one succeeds and
//! the other answers 404 NoSuchUpload, and an abort racing a complete either
//! wins (204, the complete gets 404) or loses (404, the complete gets 200),
//! never both 2xx, never a 5xx, in memory and on disk. Also AppendObject: of
//! two appends racing for one position exactly one wins, the other gets 409
//! PositionNotEqualToLength.

use std::collections::BTreeMap;

use alibaba_sign::Credentials;
use chrono::Utc;
use oss_emulator::{Emulator, EmulatorConfig};

const AK: &str = "LTAI5tEmulatorRaceKey01";
const SK: &str = "EmulatorRaceSecret0123456789abcdefABCD";
/// Rounds per scenario: enough to hit the race window many times, bounded.
const ROUNDS: usize = 25;

fn config(data_dir: Option<std::path::PathBuf>) -> EmulatorConfig {
    EmulatorConfig {
        bind: "127.0.0.1:0".parse().expect("addr"),
        data_dir,
        buckets: vec!["uploads".to_string()],
        account: Credentials::new(AK, SK, None),
        account_id: "1234567890123456".to_string(),
        allowed_origins: vec![],
        max_object_bytes: 64 * 1024 * 1024,
    }
}

/// A V1 header-signed request (the account key); returns status and body.
async fn signed(
    client: &reqwest::Client,
    emu: &Emulator,
    method: &str,
    key: &str,
    query: &[(&str, &str)],
    body: Vec<u8>,
) -> (u16, String) {
    let creds = Credentials::new(AK, SK, None);
    let date = Utc::now().format("%a, %d %b %Y %H:%M:%S GMT").to_string();
    let q: Vec<(String, String)> = query
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let auth = alibaba_sign::oss_v1::authorization_header(
        &creds,
        method,
        "uploads",
        key,
        &q,
        &[("date".into(), date.clone())],
        &date,
    );
    let qs = alibaba_sign::encode::query_string(&q);
    let url = format!(
        "{}/uploads/{}{}{}",
        emu.oss_endpoint(),
        alibaba_sign::encode::uri_encode(key, true),
        if qs.is_empty() { "" } else { "?" },
        qs
    );
    let r = client
        .request(
            reqwest::Method::from_bytes(method.as_bytes()).expect("method"),
            url,
        )
        .header("date", date)
        .header("authorization", auth)
        .body(body)
        .send()
        .await
        .expect("send");
    let status = r.status().as_u16();
    (status, r.text().await.unwrap_or_default())
}

fn code(body: &str) -> &str {
    body.split("<Code>")
        .nth(1)
        .and_then(|s| s.split("</Code>").next())
        .unwrap_or("")
}

/// Initiates an upload of `key` with two parts (the first at OSS's 100 KB
/// minimum, so assembling takes a moment) and returns its id and the
/// CompleteMultipartUpload body.
async fn upload(client: &reqwest::Client, emu: &Emulator, key: &str) -> (String, String) {
    let (s, text) = signed(client, emu, "POST", key, &[("uploads", "")], vec![]).await;
    assert_eq!(s, 200, "{text}");
    let id = text
        .split("<UploadId>")
        .nth(1)
        .and_then(|s| s.split("</UploadId>").next())
        .expect("upload id")
        .to_string();
    let mut xml = String::from("<CompleteMultipartUpload>");
    for (n, size) in [(1u32, 512 * 1024), (2, 1000)] {
        let body = vec![n as u8; size];
        let n_s = n.to_string();
        let q = [("partNumber", n_s.as_str()), ("uploadId", id.as_str())];
        let (s, _) = signed(client, emu, "PUT", key, &q, body.clone()).await;
        assert_eq!(s, 200);
        let etag = {
            use md5::{Digest, Md5};
            hex::encode_upper(Md5::digest(&body))
        };
        xml.push_str(&format!(
            "<Part><PartNumber>{n}</PartNumber><ETag>\"{etag}\"</ETag></Part>"
        ));
    }
    xml.push_str("</CompleteMultipartUpload>");
    (id, xml)
}

/// What was answered, as `status code` strings, counted over all rounds.
type Tally = BTreeMap<String, usize>;

fn outcome(status: u16, body: &str) -> String {
    if status < 300 {
        status.to_string()
    } else {
        format!("{status} {}", code(body))
    }
}

async fn race_two_completes(emu: &Emulator) -> Tally {
    let client = reqwest::Client::new();
    let mut tally = Tally::new();
    for round in 0..ROUNDS {
        let key = format!("race/complete-{round}.bin");
        let (id, xml) = upload(&client, emu, &key).await;
        let q = [("uploadId", id.as_str())];
        let (a, b) = tokio::join!(
            signed(&client, emu, "POST", &key, &q, xml.clone().into_bytes()),
            signed(&client, emu, "POST", &key, &q, xml.clone().into_bytes()),
        );
        let mut both = [outcome(a.0, &a.1), outcome(b.0, &b.1)];
        both.sort();
        assert_eq!(
            both,
            ["200".to_string(), "404 NoSuchUpload".to_string()],
            "round {round}: two completes of one upload"
        );
        let (s, _) = signed(&client, emu, "HEAD", &key, &[], vec![]).await;
        assert_eq!(s, 200, "round {round}: the completed object exists");
        *tally.entry(both.join(" + ")).or_default() += 1;
    }
    tally
}

async fn race_complete_and_abort(emu: &Emulator) -> Tally {
    let client = reqwest::Client::new();
    let mut tally = Tally::new();
    for round in 0..ROUNDS {
        let key = format!("race/abort-{round}.bin");
        let (id, xml) = upload(&client, emu, &key).await;
        let q = [("uploadId", id.as_str())];
        let (c, a) = tokio::join!(
            signed(&client, emu, "POST", &key, &q, xml.into_bytes()),
            signed(&client, emu, "DELETE", &key, &q, vec![]),
        );
        let (c, a) = (outcome(c.0, &c.1), outcome(a.0, &a.1));
        let (s, _) = signed(&client, emu, "HEAD", &key, &[], vec![]).await;
        match (c.as_str(), a.as_str()) {
            ("200", "404 NoSuchUpload") => assert_eq!(s, 200, "round {round}: completed"),
            ("404 NoSuchUpload", "204") => assert_eq!(s, 404, "round {round}: aborted"),
            other => panic!("round {round}: complete and abort answered {other:?}"),
        }
        // Whoever won, the upload is gone for good.
        let (s, body) = signed(&client, emu, "GET", &key, &q, vec![]).await;
        assert_eq!((s, code(&body)), (404, "NoSuchUpload"), "round {round}");
        *tally
            .entry(format!("complete {c} + abort {a}"))
            .or_default() += 1;
    }
    tally
}

async fn race_two_appends(emu: &Emulator) -> Tally {
    let client = reqwest::Client::new();
    let mut tally = Tally::new();
    for round in 0..ROUNDS {
        let key = format!("race/append-{round}.log");
        let q = [("append", ""), ("position", "0")];
        let (a, b) = tokio::join!(
            signed(&client, emu, "POST", &key, &q, vec![b'a'; 64 * 1024]),
            signed(&client, emu, "POST", &key, &q, vec![b'b'; 64 * 1024]),
        );
        let mut both = [outcome(a.0, &a.1), outcome(b.0, &b.1)];
        both.sort();
        assert_eq!(
            both,
            [
                "200".to_string(),
                "409 PositionNotEqualToLength".to_string()
            ],
            "round {round}: two appends at position 0"
        );
        *tally.entry(both.join(" + ")).or_default() += 1;
    }
    tally
}

async fn all_races(data_dir: Option<std::path::PathBuf>) {
    let emu = Emulator::start(config(data_dir)).await.expect("start");
    eprintln!("two completes: {:?}", race_two_completes(&emu).await);
    eprintln!(
        "complete + abort: {:?}",
        race_complete_and_abort(&emu).await
    );
    eprintln!("two appends: {:?}", race_two_appends(&emu).await);
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multipart_and_append_races_in_memory() {
    all_races(None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multipart_and_append_races_on_disk() {
    let dir = std::env::temp_dir().join(format!("emu-races-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    all_races(Some(dir.clone())).await;
    let _ = std::fs::remove_dir_all(&dir);
}
