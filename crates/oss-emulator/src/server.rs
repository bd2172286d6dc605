//! The accept loop and what every response gets: timeouts, common headers, a log line.
//!
//! Also the last-resort XML error when a response cannot be built.
//!
//! Every path returns a response: handlers return `Result<Reply, OssError>`,
//! and errors become OSS's `<Error>` XML, so a malformed request can never
//! take the emulator down. Routing lives in `route`, the operations in
//! `object`, `multipart` and `bucket`, CORS in `cors`.

use std::convert::Infallible;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use chrono::Utc;
use futures_util::TryStreamExt;
use http::{Method, Request, Response};
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};

use super::request::{Reply, ReplyBody};
use super::route::{route, target, Routed, Target};
use super::state::State;
use super::wire::{header, http_date};
use super::xml::OssError;

/// Accepts connections until `stop` turns true.
pub(crate) async fn serve(
    listener: tokio::net::TcpListener,
    state: Arc<State>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    loop {
        tokio::select! {
            _ = stop.changed() => break,
            accepted = listener.accept() => {
                let (stream, peer) = match accepted {
                    Ok(pair) => pair,
                    Err(_) => {
                        // Out of file descriptors and the like: back off, don't spin.
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                // A body written after its headers must not wait for the
                // client's delayed ACK (Nagle): ~40 ms on every GET otherwise.
                let _ = stream.set_nodelay(true);
                let state = state.clone();
                let timeout = state.opts.read_timeout;
                // A client that sends requests but stops reading the answers
                // (or reads a large object a byte a minute) cannot hold the
                // connection: a write that makes no progress for `timeout` fails.
                let mut stream = tokio_io_timeout::TimeoutStream::new(stream);
                stream.set_write_timeout(Some(timeout));
                let stream = Box::pin(stream);
                tokio::spawn(async move {
                    let svc = service_fn(move |req| {
                        let state = state.clone();
                        async move { Ok::<_, Infallible>(handle(state, req, peer.ip()).await) }
                    });
                    // The head timer also runs while a kept-alive connection
                    // waits for its next request, so idle connections close too.
                    let _ = hyper::server::conn::http1::Builder::new()
                        .timer(TokioTimer::new())
                        .header_read_timeout(timeout)
                        .serve_connection(TokioIo::new(stream), svc)
                        .await;
                });
            }
        }
    }
}

pub(super) fn request_id() -> String {
    use rand::RngCore;
    let mut b = [0u8; 12];
    rand::thread_rng().fill_bytes(&mut b);
    hex::encode_upper(b)
}

/// The body type of every emulator response: bytes at hand or a stream of a
/// stored file.
pub(super) type RespBody = UnsyncBoxBody<Bytes, std::io::Error>;

fn full(b: Bytes) -> RespBody {
    Full::new(b).map_err(|never| match never {}).boxed_unsync()
}

async fn handle(state: Arc<State>, req: Request<Incoming>, peer: IpAddr) -> Response<RespBody> {
    let rid = request_id();
    let (parts, body) = req.into_parts();
    let origin = header(&parts.headers, "origin").map(str::to_string);
    let mut label = parts.uri.path().to_string();
    let mut err_code = String::new();
    let is_head = parts.method == Method::HEAD;

    let result = route(&state, &parts, body, &rid, peer, &mut label).await;
    let reply = match result {
        Ok(r) => r,
        Err(Routed::Oss(e)) => {
            err_code = e.code.clone();
            let mut r = Reply::new(e.status).header("x-oss-ec", "0000-00000000");
            r.headers.extend(e.headers.iter().cloned());
            if !is_head {
                r.body = Bytes::from(e.to_xml(&rid, "127.0.0.1")).into();
                r = r.header("content-type", "application/xml");
            }
            r
        }
        Err(Routed::Sts(e)) => {
            err_code = e.code.clone();
            let mut r =
                Reply::new(e.status).header("content-type", "application/json;charset=utf-8");
            r.body = Bytes::from(e.to_json(&rid)).into();
            r
        }
    };

    let mut b = Response::builder()
        .status(reply.status)
        .header("x-oss-request-id", &rid)
        .header("x-acs-request-id", &rid)
        .header("server", "AliyunOSS")
        .header("date", http_date(Utc::now().timestamp()));
    b = apply_headers(b, &reply.headers);
    if let Some(o) = &origin {
        // An actual cross-origin request: the first matching rule's headers.
        if parts.method != Method::OPTIONS {
            if let Ok(Target::Bucket(bucket) | Target::Object(bucket, _)) =
                target(&state.cfg, &parts.headers, parts.uri.path())
            {
                b = apply_headers(b, &state.cors.actual(&bucket, o, parts.method.as_str()));
            }
        }
    }
    eprintln!(
        "local: {} {} {}{}{}",
        parts.method,
        label.escape_debug(),
        reply.status.as_u16(),
        if err_code.is_empty() { "" } else { " " },
        err_code
    );
    let body = match reply.body {
        _ if is_head => full(Bytes::new()),
        ReplyBody::Full(b) => full(b),
        ReplyBody::Stream(s) => StreamBody::new(s.map_ok(hyper::body::Frame::data)).boxed_unsync(),
    };
    b.body(body)
        .unwrap_or_else(|e| internal_error_response(&rid, is_head, &e.to_string()))
}

/// Adds `headers` to `b`. Stored metadata may hold bytes a header cannot carry
/// (a form field with a newline, or a name stored before names were validated);
/// such a header is dropped rather than failing the whole response.
fn apply_headers(
    mut b: http::response::Builder,
    headers: &[(String, String)],
) -> http::response::Builder {
    for (k, v) in headers {
        if let (Ok(name), Ok(value)) = (
            http::HeaderName::from_bytes(k.as_bytes()),
            http::HeaderValue::from_str(v),
        ) {
            b = b.header(name, value);
        }
    }
    b
}

/// The reply when a response cannot be assembled: still an OSS XML error with
/// a request id, never an empty 500.
fn internal_error_response(rid: &str, is_head: bool, detail: &str) -> Response<RespBody> {
    eprintln!("local: response build failed: {}", detail.escape_debug());
    let e = OssError::internal("We encountered an internal error. Please try again.");
    let body = if is_head {
        Bytes::new()
    } else {
        Bytes::from(e.to_xml(rid, "127.0.0.1"))
    };
    let mut r = Response::new(full(body));
    *r.status_mut() = e.status;
    let h = r.headers_mut();
    if let Ok(v) = http::HeaderValue::from_str(rid) {
        h.insert("x-oss-request-id", v);
    }
    h.insert("server", http::HeaderValue::from_static("AliyunOSS"));
    h.insert("x-oss-ec", http::HeaderValue::from_static("0000-00000000"));
    if !is_head {
        h.insert(
            "content-type",
            http::HeaderValue::from_static("application/xml"),
        );
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::StatusCode;

    #[test]
    fn unsendable_headers_are_dropped_not_fatal() {
        let headers = vec![
            ("x-oss-meta-a b".to_string(), "1".to_string()),
            ("x-oss-meta-ok".to_string(), "bad\nvalue".to_string()),
            ("x-oss-meta-good".to_string(), "yes".to_string()),
        ];
        let r = apply_headers(Response::builder().status(200), &headers)
            .body(())
            .expect("builder must not fail on stored metadata");
        assert_eq!(r.headers().len(), 1);
        assert_eq!(r.headers()["x-oss-meta-good"], "yes");
    }

    #[test]
    fn build_failure_is_an_xml_error() {
        let r = internal_error_response("rid1", false, "boom");
        assert_eq!(r.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(r.headers()["x-oss-request-id"], "rid1");
        assert_eq!(r.headers()["content-type"], "application/xml");
        let bytes = body_bytes(r.into_body());
        let text = String::from_utf8(bytes.to_vec()).unwrap();
        assert!(text.contains("<Code>InternalError</Code>"), "{text}");
        assert!(text.contains("<RequestId>rid1</RequestId>"), "{text}");
    }

    fn body_bytes(b: RespBody) -> Bytes {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        rt.block_on(b.collect()).unwrap().to_bytes()
    }
}
