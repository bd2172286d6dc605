//! Raw-socket helpers for emulator tests that need control over bytes on the
//! wire (half-sent requests, bodies streamed from a generator, clients that
//! stop reading), which no HTTP client library offers.
#![allow(dead_code)]

use std::net::SocketAddr;

use alibaba_sign::Credentials;
use chrono::Utc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The head of a V1 header-signed request (account key `ak`/`sk`) to
/// `/<bucket>/<key>?<query>` with `extra` headers; ends with the blank line.
pub fn signed_head(
    ak: &str,
    sk: &str,
    method: &str,
    bucket: &str,
    key: &str,
    query: &[(&str, &str)],
    extra: &[(&str, &str)],
) -> String {
    let creds = Credentials::new(ak, sk, None);
    let date = Utc::now().format("%a, %d %b %Y %H:%M:%S GMT").to_string();
    let q: Vec<(String, String)> = query
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let mut headers: Vec<(String, String)> = vec![("date".into(), date.clone())];
    for (k, v) in extra {
        headers.push((k.to_ascii_lowercase(), v.to_string()));
    }
    let auth = alibaba_sign::oss_v1::authorization_header(
        &creds, method, bucket, key, &q, &headers, &date,
    );
    let qs = alibaba_sign::encode::query_string(&q);
    let mut s = format!(
        "{method} /{bucket}/{}{}{} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: {auth}\r\n",
        alibaba_sign::encode::uri_encode(key, true),
        if qs.is_empty() { "" } else { "?" },
        qs
    );
    for (k, v) in headers {
        s.push_str(&format!("{k}: {v}\r\n"));
    }
    s.push_str("\r\n");
    s
}

/// Peak resident memory of this process so far (VmHWM, bytes).
pub fn peak_rss() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("read /proc/self/status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map(|kb| kb * 1024)
        .expect("VmHWM in /proc/self/status")
}

/// Deterministic, incompressible-looking bytes for block `i` (1 MiB).
pub fn block(i: u64) -> Vec<u8> {
    let mut x = i.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..1 << 20)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// Sends `head`, then `blocks` MiB of [`block`]s, then reads the whole answer
/// (until the server closes or a complete response with Content-Length has
/// arrived). Returns the answer text head and body; write errors stop the
/// sending (the server may answer and close early).
pub async fn send_streamed(addr: SocketAddr, head: &str, blocks: u64) -> (String, Vec<u8>) {
    let mut s = TcpStream::connect(addr).await.expect("connect");
    s.write_all(head.as_bytes()).await.expect("write head");
    let (mut r, mut w) = s.into_split();
    let writer = tokio::spawn(async move {
        let b = block(7);
        for _ in 0..blocks {
            if w.write_all(&b).await.is_err() {
                break;
            }
        }
        // Hand the write half back: dropping it would half-close the socket
        // before the answer is read.
        w
    });
    let answer = read_response(&mut r).await;
    drop(writer.await);
    answer
}

/// Reads one HTTP response: head, then a Content-Length body (or until close).
pub async fn read_response(r: &mut (impl AsyncReadExt + Unpin)) -> (String, Vec<u8>) {
    let mut buf = Vec::new();
    let mut tmp = vec![0u8; 64 * 1024];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        match r.read(&mut tmp).await {
            Ok(0) | Err(_) => return (String::from_utf8_lossy(&buf).into_owned(), Vec::new()),
            Ok(n) => buf.extend_from_slice(&tmp[..n]),
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let len = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("content-length")
                .then(|| v.trim().parse::<usize>().ok())?
        })
        .unwrap_or(usize::MAX);
    let mut body = buf[head_end..].to_vec();
    while body.len() < len {
        match r.read(&mut tmp).await {
            Ok(0) | Err(_) => break,
            Ok(n) => body.extend_from_slice(&tmp[..n]),
        }
    }
    (head, body)
}
