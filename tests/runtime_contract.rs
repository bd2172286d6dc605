//! The runtime boundary on its own: a plain async handler of (request,
//! context) served over real loopback TCP, with FC's headers, bounded reads,
//! and graceful shutdown.

use bytes::Bytes;
use oss_direct_upload::runtime::{self, Context, Options, Request, Response, Shutdown};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

async fn echo_context(req: Request, ctx: Context) -> Response {
    let body = serde_json::json!({
        "requestId": ctx.request_id,
        "accessKeyId": ctx.credentials.map(|c| c.access_key_id),
        "region": ctx.region,
        "functionName": ctx.function_name,
        "bodyLen": req.body().len(),
    });
    http::Response::new(Bytes::from(body.to_string()))
}

async fn start(
    options: Options,
) -> (
    std::net::SocketAddr,
    Shutdown,
    tokio::task::JoinHandle<std::io::Result<()>>,
) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let shutdown = Shutdown::new();
    let handle = tokio::spawn(runtime::serve(
        listener,
        runtime::service_fn(echo_context),
        options,
        shutdown.clone(),
    ));
    (addr, shutdown, handle)
}

fn raw(addr: std::net::SocketAddr, request: &[u8]) -> String {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(request).unwrap();
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handler_gets_fc_context_from_headers() {
    let (addr, shutdown, handle) = start(Options {
        access_log: false,
        ..Options::default()
    })
    .await;
    let resp = tokio::task::spawn_blocking(move || {
        raw(
            addr,
            b"POST /anything HTTP/1.1\r\nHost: x\r\nx-fc-request-id: rid-42\r\nx-fc-access-key-id: STS.abc\r\nx-fc-access-key-secret: s\r\nx-fc-security-token: t\r\nx-fc-region: cn-beijing\r\nx-fc-function-name: fn1\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello",
        )
    })
    .await
    .unwrap();
    assert!(resp.starts_with("HTTP/1.1 200"), "{resp}");
    assert!(resp.contains("x-request-id: rid-42"), "{resp}");
    let body = resp.split("\r\n\r\n").nth(1).unwrap();
    let v: serde_json::Value = serde_json::from_str(body).unwrap();
    assert_eq!(v["requestId"], "rid-42");
    assert_eq!(v["accessKeyId"], "STS.abc");
    assert_eq!(v["region"], "cn-beijing");
    assert_eq!(v["functionName"], "fn1");
    assert_eq!(v["bodyLen"], 5);
    shutdown.trigger();
    handle.await.unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_body_is_413_and_a_stalled_body_is_408() {
    let (addr, shutdown, handle) = start(Options {
        access_log: false,
        max_body_bytes: 16,
        read_timeout: Duration::from_millis(300),
        ..Options::default()
    })
    .await;
    let (big, stalled, slow_head) = tokio::task::spawn_blocking(move || {
        let big = raw(
            addr,
            b"POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\nConnection: close\r\n\r\n",
        );
        let t0 = Instant::now();
        let stalled = raw(
            addr,
            b"POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\nConnection: close\r\n\r\nabc",
        );
        assert!(t0.elapsed() < Duration::from_secs(3));
        // A head that never finishes: the connection is closed, no handler runs.
        let t0 = Instant::now();
        let slow_head = raw(addr, b"GET /x HTTP/1.1\r\nHost: x\r\n");
        assert!(
            t0.elapsed() < Duration::from_secs(3),
            "head timeout enforced"
        );
        (big, stalled, slow_head)
    })
    .await
    .unwrap();
    assert!(big.starts_with("HTTP/1.1 413"), "{big}");
    assert!(big.contains("PayloadTooLarge"));
    assert!(stalled.starts_with("HTTP/1.1 408"), "{stalled}");
    assert!(!slow_head.contains("200 OK"), "{slow_head}");
    shutdown.trigger();
    handle.await.unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lifecycle_hooks_are_not_served_through_the_http_trigger() {
    let (addr, shutdown, handle) = start(Options {
        access_log: false,
        ..Options::default()
    })
    .await;
    let (stop, init, other) = tokio::task::spawn_blocking(move || {
        (
            raw(addr, b"GET /pre-stop HTTP/1.1\r\nHost: x\r\nx-fc-control-path: /http-invoke\r\nConnection: close\r\n\r\n"),
            raw(addr, b"POST /initialize HTTP/1.1\r\nHost: x\r\nx-fc-control-path: /http-invoke\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"),
            raw(addr, b"GET /still-here HTTP/1.1\r\nHost: x\r\nx-fc-control-path: /http-invoke\r\nConnection: close\r\n\r\n"),
        )
    })
    .await
    .unwrap();
    assert!(stop.starts_with("HTTP/1.1 404"), "{stop}");
    assert!(init.starts_with("HTTP/1.1 404"), "{init}");
    assert!(
        other.starts_with("HTTP/1.1 200"),
        "the server kept serving: {other}"
    );
    assert!(!handle.is_finished());
    shutdown.trigger();
    handle.await.unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_fc_a_lifecycle_call_must_say_so() {
    // FC_FUNCTION_NAME is set: a /pre-stop without FC's control-path header is
    // not FC's call (fail closed); with `x-fc-control-path: /pre-stop` it is.
    let on_fc = Options {
        access_log: false,
        environment: runtime::Environment {
            function_name: Some("oss-direct-upload".into()),
            ..runtime::Environment::default()
        },
        ..Options::default()
    };
    let (addr, _shutdown, handle) = start(on_fc).await;
    let bare = tokio::task::spawn_blocking(move || {
        raw(
            addr,
            b"GET /pre-stop HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        )
    })
    .await
    .unwrap();
    assert!(bare.starts_with("HTTP/1.1 404"), "{bare}");
    assert!(!handle.is_finished());
    let real = tokio::task::spawn_blocking(move || {
        raw(addr, b"GET /pre-stop HTTP/1.1\r\nHost: x\r\nx-fc-control-path: /pre-stop\r\nConnection: close\r\n\r\n")
    })
    .await
    .unwrap();
    assert!(real.starts_with("HTTP/1.1 200"), "{real}");
    tokio::time::timeout(Duration::from_secs(5), handle)
        .await
        .expect("stopped after FC's own /pre-stop")
        .unwrap()
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pre_stop_stops_accepting() {
    let (addr, _shutdown, handle) = start(Options {
        access_log: false,
        ..Options::default()
    })
    .await;
    let resp = tokio::task::spawn_blocking(move || {
        raw(
            addr,
            b"GET /pre-stop HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        )
    })
    .await
    .unwrap();
    assert!(resp.starts_with("HTTP/1.1 200"), "{resp}");
    tokio::time::timeout(Duration::from_secs(5), handle)
        .await
        .expect("server stopped after /pre-stop")
        .unwrap()
        .unwrap();
    assert!(TcpStream::connect(addr).is_err(), "no longer accepting");
}
