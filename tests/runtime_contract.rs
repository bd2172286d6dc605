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

/// FC's environment: `FC_FUNCTION_NAME` set, as on every instance FC starts.
fn on_fc() -> Options {
    Options {
        access_log: false,
        environment: runtime::Environment {
            function_name: Some("oss-direct-upload".into()),
            ..runtime::Environment::default()
        },
        ..Options::default()
    }
}

fn get(path: &str, control_path: Option<&str>) -> Vec<u8> {
    let header = control_path
        .map(|v| format!("x-fc-control-path: {v}\r\n"))
        .unwrap_or_default();
    format!("GET {path} HTTP/1.1\r\nHost: x\r\n{header}Connection: close\r\n\r\n").into_bytes()
}

fn post(path: &str, control_path: Option<&str>) -> Vec<u8> {
    let header = control_path
        .map(|v| format!("x-fc-control-path: {v}\r\n"))
        .unwrap_or_default();
    format!(
        "POST {path} HTTP/1.1\r\nHost: x\r\n{header}Content-Length: 0\r\nConnection: close\r\n\r\n"
    )
    .into_bytes()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lifecycle_hooks_are_refused_unless_fc_control_path_names_them_or_is_absent() {
    let (addr, shutdown, handle) = start(on_fc()).await;
    let answers = tokio::task::spawn_blocking(move || {
        [
            // Trigger traffic, another documented value, the other hook, anything else.
            (
                "stop via trigger",
                raw(addr, &get("/pre-stop", Some("/http-invoke"))),
                404,
            ),
            (
                "stop via /invoke",
                raw(addr, &get("/pre-stop", Some("/invoke"))),
                404,
            ),
            (
                "stop as initialize",
                raw(addr, &get("/pre-stop", Some("/initialize"))),
                404,
            ),
            (
                "stop, made-up value",
                raw(addr, &get("/pre-stop", Some("/pre-stop/x"))),
                404,
            ),
            (
                "init via trigger",
                raw(addr, &post("/initialize", Some("/http-invoke"))),
                404,
            ),
            (
                "init as pre-stop",
                raw(addr, &post("/initialize", Some("/pre-stop"))),
                404,
            ),
            // FC's own calls: the header names the hook, or FC sent none.
            (
                "stop named",
                raw(addr, &get("/pre-stop", Some("/pre-stop"))),
                200,
            ),
            ("stop bare", raw(addr, &get("/pre-stop", None)), 200),
            (
                "init named",
                raw(addr, &post("/initialize", Some("/initialize"))),
                200,
            ),
            ("init bare", raw(addr, &post("/initialize", None)), 200),
            (
                "trigger traffic",
                raw(addr, &get("/still-here", Some("/http-invoke"))),
                200,
            ),
        ]
    })
    .await
    .unwrap();
    for (what, resp, status) in &answers {
        assert!(
            resp.starts_with(&format!("HTTP/1.1 {status}")),
            "{what}: expected {status}: {resp}"
        );
    }
    assert!(answers[0].1.contains("NotFound"), "{}", answers[0].1);
    assert!(
        answers[6].1.contains(r#""status":"drained""#),
        "{}",
        answers[6].1
    );
    // `/initialize` reached the handler (the echo), `/pre-stop` did not.
    assert!(answers[8].1.contains("requestId"), "{}", answers[8].1);
    assert!(
        !handle.is_finished(),
        "a lifecycle call never stops the server"
    );
    shutdown.trigger();
    handle.await.unwrap().unwrap();
}

/// A handler whose `/slow` requests wait until the test releases them, and
/// say when they have started.
fn gated(
    started: std::sync::mpsc::Sender<()>,
    gate: std::sync::Arc<tokio::sync::Semaphore>,
) -> impl runtime::Handler {
    let started = std::sync::Mutex::new(started);
    runtime::service_fn(move |req: Request, ctx: Context| {
        let slow = req.uri().path() == "/slow";
        if slow {
            let _ = started.lock().unwrap().send(());
        }
        let gate = gate.clone();
        async move {
            if slow {
                gate.acquire().await.unwrap().forget();
            }
            echo_context(req, ctx).await
        }
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pre_stop_waits_for_in_flight_requests_then_keeps_serving() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let shutdown = Shutdown::new();
    let (started_tx, started_rx) = std::sync::mpsc::channel();
    let gate = std::sync::Arc::new(tokio::sync::Semaphore::new(0));
    let handle = tokio::spawn(runtime::serve(
        listener,
        gated(started_tx, gate.clone()),
        on_fc(),
        shutdown.clone(),
    ));

    let slow = std::thread::spawn(move || raw(addr, &get("/slow", Some("/http-invoke"))));
    started_rx
        .recv_timeout(Duration::from_secs(5))
        .expect("the slow request reached the handler");
    // FC's PreStop call, without a control-path header (FC documents none for it).
    let stop = std::thread::spawn(move || raw(addr, &get("/pre-stop", None)));
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert!(
        !stop.is_finished(),
        "pre-stop answered while a request was still in flight"
    );
    gate.add_permits(1);
    let slow = tokio::task::spawn_blocking(move || slow.join().unwrap())
        .await
        .unwrap();
    let stop = tokio::task::spawn_blocking(move || stop.join().unwrap())
        .await
        .unwrap();
    assert!(slow.starts_with("HTTP/1.1 200"), "{slow}");
    assert!(stop.starts_with("HTTP/1.1 200"), "{stop}");
    assert!(stop.contains(r#""status":"drained""#), "{stop}");

    // A freeze and thaw: the instance must still answer.
    let after = tokio::task::spawn_blocking(move || {
        (
            raw(addr, &get("/after-thaw", Some("/http-invoke"))),
            raw(addr, &get("/pre-stop", Some("/pre-stop"))),
        )
    })
    .await
    .unwrap();
    assert!(
        after.0.starts_with("HTTP/1.1 200"),
        "still serving: {}",
        after.0
    );
    assert!(after.1.starts_with("HTTP/1.1 200"), "{}", after.1);
    assert!(!handle.is_finished());
    shutdown.trigger();
    handle.await.unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pre_stop_answers_after_the_drain_timeout_when_a_request_never_ends() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let shutdown = Shutdown::new();
    let (started_tx, started_rx) = std::sync::mpsc::channel();
    let gate = std::sync::Arc::new(tokio::sync::Semaphore::new(0));
    let handle = tokio::spawn(runtime::serve(
        listener,
        gated(started_tx, gate.clone()),
        Options {
            drain_timeout: Duration::from_millis(300),
            ..on_fc()
        },
        shutdown.clone(),
    ));
    let slow = std::thread::spawn(move || raw(addr, &get("/slow", None)));
    started_rx.recv_timeout(Duration::from_secs(5)).unwrap();
    let stop = tokio::task::spawn_blocking(move || raw(addr, &get("/pre-stop", None)))
        .await
        .unwrap();
    assert!(stop.starts_with("HTTP/1.1 200"), "{stop}");
    assert!(
        stop.contains(r#""status":"timeout","inFlight":1"#),
        "{stop}"
    );
    gate.add_permits(1);
    let slow = tokio::task::spawn_blocking(move || slow.join().unwrap())
        .await
        .unwrap();
    assert!(slow.starts_with("HTTP/1.1 200"), "{slow}");
    shutdown.trigger();
    handle.await.unwrap().unwrap();
}
