//! Issue 9 finding 4: idle and slow connections to the emulator time out as
//! in the function (a read timeout, here shortened to 1 s): a connection that
//! never sends a request, one that stops in the middle of its head, one that
//! stops in the middle of its body (400 RequestTimeout, nothing stored), a
//! kept-alive connection left idle, and a client that stops reading a large
//! answer are all closed.

#[path = "../../../tests/common/raw_oss.rs"]
mod raw_oss;

use std::time::{Duration, Instant};

use alibaba_sign::Credentials;
use oss_emulator::{Emulator, EmulatorConfig, ServeOptions};
use raw_oss::{read_response, send_streamed, signed_head};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const AK: &str = "LTAI5tEmulatorTimeoutKey1";
const SK: &str = "EmulatorTimeoutSecret0123456789abcdefAB";
const TIMEOUT: Duration = Duration::from_secs(1);
/// How long a test waits for the close before calling it a failure.
const PATIENCE: Duration = Duration::from_secs(8);

async fn start() -> Emulator {
    Emulator::start_with(
        EmulatorConfig {
            bind: "127.0.0.1:0".parse().expect("addr"),
            data_dir: None,
            buckets: vec!["uploads".into()],
            account: Credentials::new(AK, SK, None),
            account_id: "1234567890123456".into(),
            allowed_origins: vec![],
            max_object_bytes: 1 << 30,
        },
        ServeOptions {
            read_timeout: TIMEOUT,
            ..Default::default()
        },
    )
    .await
    .expect("start")
}

/// Reads until the server closes; returns what arrived and how long it took.
async fn until_closed(s: &mut TcpStream) -> (Vec<u8>, Duration) {
    let t = Instant::now();
    let mut out = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    let read = async {
        loop {
            match s.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => out.extend_from_slice(&buf[..n]),
            }
        }
    };
    tokio::time::timeout(PATIENCE, read)
        .await
        .expect("the emulator kept the connection open past its timeout");
    (out, t.elapsed())
}

#[tokio::test]
async fn connection_that_sends_nothing_is_closed() {
    let emu = start().await;
    let mut s = TcpStream::connect(emu.addr()).await.expect("connect");
    let (got, took) = until_closed(&mut s).await;
    assert!(took >= TIMEOUT / 2, "closed too early: {took:?}");
    assert!(got.is_empty() || got.starts_with(b"HTTP/1.1 408"));
    emu.shutdown().await;
}

#[tokio::test]
async fn half_sent_head_is_closed() {
    let emu = start().await;
    let mut s = TcpStream::connect(emu.addr()).await.expect("connect");
    s.write_all(b"PUT /uploads/slow HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Le")
        .await
        .expect("write");
    until_closed(&mut s).await;
    emu.shutdown().await;
}

#[tokio::test]
async fn half_sent_body_gets_request_timeout_and_stores_nothing() {
    let emu = start().await;
    let head = signed_head(
        AK,
        SK,
        "PUT",
        "uploads",
        "half.bin",
        &[],
        &[("content-length", "100000")],
    );
    let mut s = TcpStream::connect(emu.addr()).await.expect("connect");
    s.write_all(head.as_bytes()).await.expect("head");
    s.write_all(&[1u8; 1000]).await.expect("some body");
    let (got, _) = until_closed(&mut s).await;
    let text = String::from_utf8_lossy(&got);
    assert!(text.starts_with("HTTP/1.1 400"), "{text}");
    assert!(text.contains("<Code>RequestTimeout</Code>"), "{text}");
    let head = signed_head(AK, SK, "GET", "uploads", "half.bin", &[], &[]);
    let (h, _) = send_streamed(emu.addr(), &head, 0).await;
    assert!(h.starts_with("HTTP/1.1 404"), "{h}");
    emu.shutdown().await;
}

#[tokio::test]
async fn idle_keep_alive_connection_is_closed() {
    let emu = start().await;
    let mut s = TcpStream::connect(emu.addr()).await.expect("connect");
    let head = signed_head(AK, SK, "GET", "uploads", "nothing", &[], &[]);
    s.write_all(head.as_bytes()).await.expect("write");
    let (h, _) = read_response(&mut s).await;
    assert!(h.starts_with("HTTP/1.1 404"), "{h}");
    until_closed(&mut s).await;
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_that_stops_reading_is_dropped() {
    let emu = start().await;
    let blocks = 48u64;
    let len = (blocks << 20).to_string();
    let head = signed_head(
        AK,
        SK,
        "PUT",
        "uploads",
        "big",
        &[],
        &[("content-length", &len)],
    );
    let (h, _) = send_streamed(emu.addr(), &head, blocks).await;
    assert!(h.starts_with("HTTP/1.1 200"), "{h}");

    let mut s = TcpStream::connect(emu.addr()).await.expect("connect");
    let head = signed_head(AK, SK, "GET", "uploads", "big", &[], &[]);
    s.write_all(head.as_bytes()).await.expect("write");
    // Read nothing for well over the timeout: socket buffers fill, the
    // emulator's writes stall, and it gives up on the connection.
    tokio::time::sleep(TIMEOUT * 4).await;
    let (got, _) = until_closed(&mut s).await;
    assert!(
        (got.len() as u64) < (blocks << 20),
        "the whole {blocks} MiB arrived: the stalled connection was kept"
    );
    emu.shutdown().await;
}
