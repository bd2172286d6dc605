//! The runtime boundary on its own: a plain async handler of (request,
//! context) served over real loopback TCP, with FC's headers, bounded reads,
//! and graceful shutdown.

#[path = "common/harness.rs"]
mod harness;
#[path = "common/peers.rs"]
mod peers;

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

// ---- the shipped binary: SIGTERM, and the anonymous caller's address ----

/// Polls `f`'s output until `pred` holds (the log is read by a thread).
fn wait_for_output(f: &harness::Function, what: &str, pred: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let out = f.output();
        if pred(&out) {
            return out;
        }
        assert!(
            Instant::now() < deadline,
            "waited for {what}; output:\n{out}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn sigterm_drains_in_flight_requests_and_exits() {
    // AssumeRole takes 2 s at the peer, so /v1/sts is in flight when SIGTERM lands.
    let sts = harness::StsPeer::start(&["--delay", "2"]);
    let mut env = harness::base_env(&sts.url());
    env.push(("FC_FUNCTION_NAME".into(), "oss-direct-upload".into()));
    let mut f = harness::Function::start(&env);
    let url = format!("{}/v1/sts", f.url());
    let in_flight = std::thread::spawn(move || harness::send(harness::client().get(url)));
    // The peer counts a POST as soon as it arrives: then the request is in flight.
    // Each GET /__stats counts itself, so more requests than polls means the POST is there.
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut polls = 0;
    loop {
        polls += 1;
        if sts.stats()["requests"].as_u64().unwrap_or(0) > polls {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "AssumeRole never reached the peer"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &f.child.id().to_string()])
        .status()
        .expect("kill");
    assert!(killed.success());
    // The listener closes at once; the request already in flight is finished.
    let port = f.port;
    let deadline = Instant::now() + Duration::from_secs(5);
    while TcpStream::connect(("127.0.0.1", port)).is_ok() {
        assert!(Instant::now() < deadline, "still accepting after SIGTERM");
        std::thread::sleep(Duration::from_millis(20));
    }
    let (status, _, body) = in_flight.join().unwrap();
    assert_eq!(status, 200, "the in-flight request finished: {body}");
    let deadline = Instant::now() + Duration::from_secs(15);
    let exit = loop {
        if let Some(st) = f.child.try_wait().unwrap() {
            break st;
        }
        assert!(Instant::now() < deadline, "did not exit after SIGTERM");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(exit.success(), "clean exit: {exit:?}\n{}", f.output());
    wait_for_output(&f, "the stop line", |o| o.contains(r#""msg":"stopped""#));
}

const NO_ADDRESS: &str = "no client address on an anonymous request";

#[test]
fn anonymous_callers_are_told_apart_by_fc_client_ip_then_forwarded_for_else_one_warning() {
    let sts = harness::StsPeer::start(&[]);
    let mut env = harness::base_env(&sts.url());
    env.push(("RATE_LIMIT_PER_MINUTE".into(), "2".into()));
    env.push(("FC_FUNCTION_NAME".into(), "oss-direct-upload".into()));
    let f = harness::Function::start(&env);
    let n = std::cell::Cell::new(0);
    let ask = |headers: &[(&str, &str)]| {
        n.set(n.get() + 1);
        let mut req = harness::client()
            .get(format!("{}/v1/sts", f.url()))
            .header("x-fc-request-id", format!("addr-test-{}", n.get()));
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        harness::send(req).0
    };
    // Requests are sequential and each writes its lines in one go, so once the
    // last one's end marker is read, so is everything before it.
    let logged_so_far = || {
        let marker = format!("FC Invoke End RequestId: addr-test-{}\n", n.get());
        wait_for_output(&f, &marker, |o| o.contains(&marker))
    };

    // 1. x-fc-client-ip wins: a changing X-Forwarded-For does not buy a new budget.
    let fc = |xff: &'static str| ask(&[("x-fc-client-ip", "192.0.2.1"), ("x-forwarded-for", xff)]);
    assert_eq!(fc("198.51.100.1"), 200);
    assert_eq!(fc("198.51.100.2"), 200);
    assert_eq!(
        fc("198.51.100.3"),
        429,
        "keyed by x-fc-client-ip, not X-Forwarded-For"
    );
    assert_eq!(
        ask(&[("x-fc-client-ip", "192.0.2.2")]),
        200,
        "another FC-given address"
    );

    // 2. Without it (or empty): the rightmost X-Forwarded-For entry.
    let xff = |fake: &str| {
        let v = format!("{fake}, 203.0.113.7");
        ask(&[("x-fc-client-ip", ""), ("x-forwarded-for", v.as_str())])
    };
    assert_eq!(xff("10.0.0.1"), 200);
    assert_eq!(xff("10.0.0.2"), 200);
    assert_eq!(
        xff("10.0.0.3"),
        429,
        "a made-up first entry does not reset the limit"
    );
    assert_eq!(
        ask(&[("x-forwarded-for", "198.51.100.9")]),
        200,
        "another address"
    );

    // Every request so far had an address: no warning.
    let out = logged_so_far();
    assert!(
        !out.contains(NO_ADDRESS),
        "warned although addresses were there:\n{out}"
    );

    // 3. Neither: one shared budget, and one warning for the instance.
    assert_eq!(ask(&[]), 200);
    assert_eq!(ask(&[]), 200);
    assert_eq!(ask(&[]), 429, "callers without an address share one budget");
    let out = logged_so_far();
    let warnings: Vec<&str> = out.lines().filter(|l| l.contains(NO_ADDRESS)).collect();
    assert_eq!(warnings.len(), 1, "exactly one warning:\n{out}");
    let line: serde_json::Value = serde_json::from_str(warnings[0]).unwrap();
    assert_eq!(line["level"], "warn");
    assert!(line["requestId"].is_string(), "{line}");
}
