//! FC's event invocations at the runtime boundary, over real loopback TCP:
//! `POST /invoke` reaches the event handler (a plain async fn of event bytes
//! and context) only when FC names it with `x-fc-control-path: /invoke`; a
//! failure is answered `404` + `x-fc-status: 404` so FC retries it; through
//! the HTTP trigger (or, on FC, without the header) it is 404 and the
//! handler never runs.

use bytes::Bytes;
use oss_direct_upload::runtime::{self, Context, Options, Request, Response, Shutdown};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

async fn http_handler(_req: Request, _ctx: Context) -> Response {
    http::Response::new(Bytes::from_static(b"http handler"))
}

fn raw(addr: std::net::SocketAddr, request: Vec<u8>) -> String {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(&request).unwrap();
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}

fn invoke(control: Option<&str>, body: &str) -> Vec<u8> {
    let header = control
        .map(|c| format!("x-fc-control-path: {c}\r\n"))
        .unwrap_or_default();
    format!(
        "POST /invoke HTTP/1.1\r\nHost: x\r\n{header}x-fc-request-id: rid-7\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

async fn start(on_fc: bool, http_trigger: bool, calls: Arc<AtomicUsize>) -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let events = runtime::event_fn(move |event: Bytes, ctx: Context| {
        let calls = calls.clone();
        async move {
            calls.fetch_add(1, Ordering::SeqCst);
            let echo = format!("{}:{}", ctx.request_id, String::from_utf8_lossy(&event));
            if event.as_ref() == b"fail" {
                Err(Bytes::from(echo))
            } else {
                Ok(Bytes::from(echo))
            }
        }
    });
    let options = Options {
        access_log: false,
        events: Some(runtime::Events(events)),
        drop_fc_headers: http_trigger,
        environment: runtime::Environment {
            function_name: on_fc.then(|| "fn".to_owned()),
            ..runtime::Environment::default()
        },
        ..Options::default()
    };
    tokio::spawn(runtime::serve(
        listener,
        runtime::service_fn(http_handler),
        options,
        Shutdown::new(),
    ));
    addr
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fc_events_reach_the_event_handler_and_failures_say_404() {
    let calls = Arc::new(AtomicUsize::new(0));
    let addr = start(true, false, calls.clone()).await;
    let ok = tokio::task::spawn_blocking(move || raw(addr, invoke(Some("/invoke"), "evt")))
        .await
        .unwrap();
    assert!(ok.starts_with("HTTP/1.1 200"), "{ok}");
    assert!(ok.contains("x-fc-status: 200"), "{ok}");
    assert!(ok.ends_with("rid-7:evt"), "{ok}");
    let failed = tokio::task::spawn_blocking(move || raw(addr, invoke(Some("/invoke"), "fail")))
        .await
        .unwrap();
    assert!(failed.starts_with("HTTP/1.1 404"), "{failed}");
    assert!(failed.contains("x-fc-status: 404"), "{failed}");
    assert_eq!(calls.load(Ordering::SeqCst), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_are_refused_unless_fc_sends_them() {
    let calls = Arc::new(AtomicUsize::new(0));
    let on_fc = start(true, false, calls.clone()).await;
    for control in [Some("/http-invoke"), None, Some("/initialize")] {
        let resp = tokio::task::spawn_blocking(move || raw(on_fc, invoke(control, "evt")))
            .await
            .unwrap();
        assert!(resp.starts_with("HTTP/1.1 404"), "{control:?}: {resp}");
        assert!(
            resp.contains("not served through the HTTP trigger"),
            "{resp}"
        );
    }
    // Local mode's front door: a client posing as FC is stripped to /http-invoke.
    let front = start(false, true, calls.clone()).await;
    let resp = tokio::task::spawn_blocking(move || raw(front, invoke(Some("/invoke"), "evt")))
        .await
        .unwrap();
    assert!(resp.starts_with("HTTP/1.1 404"), "{resp}");
    assert_eq!(calls.load(Ordering::SeqCst), 0);
}
