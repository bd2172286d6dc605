//! The Function Compute custom-runtime contract, in the shape of `lambda_runtime`.
//!
//! FC starts our binary and forwards each HTTP request to a server on
//! `0.0.0.0:${FC_CUSTOM_LISTEN_PORT:-9000}`. This module owns everything that
//! contract implies, so handlers stay plain async functions of
//! `(Request, Context)`:
//! - reading the per-request `x-fc-*` headers into a [`Context`] (request id,
//!   the function role's temporary credentials, region, function name, account),
//!   falling back to the `ALIBABA_CLOUD_*` / `FC_*` environment variables;
//! - printing `FC Invoke Start RequestId:` / `FC Invoke End RequestId:` around
//!   every request (FC's console depends on them), and FC's `FC Initialize` /
//!   `FC PreStop` markers around the lifecycle hooks;
//! - bounding request bodies and headers, and how long a client may take to
//!   send a request or to read its answer (a client that stops reading is
//!   dropped, not held);
//! - `GET /pre-stop`: wait for in-flight requests, answer 200 and **keep
//!   serving** (FC documents PreStop as running before it freezes *or*
//!   destroys an instance, and a thawed instance must still answer);
//! - SIGTERM/SIGINT: stop accepting, finish in-flight requests, return.
//!
//! `POST /initialize` is passed to the handler like any other request, since
//! only the application knows what to warm up.
//! `POST /invoke` (an event invocation, e.g. the OSS trigger) goes to the
//! [`EventHandler`] in [`Options::events`], only when FC names it with
//! `x-fc-control-path: /invoke`.
//!
//! This file holds the server; `context.rs` what FC says about each request
//! ([`Context`]); `hooks.rs` FC's own calls (events, lifecycle hooks).

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::TokioIo;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::net::TcpListener;
use tokio::sync::watch;

mod context;
mod hooks;

pub use context::{
    drop_fc_headers, is_safe_request_id, new_request_id, Context, Environment, MAX_REQUEST_ID_LEN,
};
pub use hooks::{event_call, is_lifecycle_path, lifecycle_call};
use hooks::{invoke, pre_stop, Hook};

/// A request with its body already read (bodies here are small JSON documents).
pub type Request = http::Request<Bytes>;
/// A complete response.
pub type Response = http::Response<Bytes>;

/// The one access-log line per request, shaped like the other log lines
/// (see [`crate::log::render`]) but serialised without building a map.
#[derive(serde::Serialize)]
struct AccessLine<'a> {
    time: String,
    level: &'static str,
    #[serde(rename = "requestId")]
    request_id: &'a str,
    msg: &'static str,
    method: &'a str,
    path: &'a str,
    status: u16,
    #[serde(rename = "durationMs")]
    duration_ms: f64,
}

/// Boxed future returned by a [`Handler`].
pub type HandlerFuture = Pin<Box<dyn Future<Output = Response> + Send>>;

/// Something that turns a request and its context into a response.
///
/// Build one from an async closure with [`service_fn`].
pub trait Handler: Send + Sync + 'static {
    /// Handles one request. Errors are responses too: a handler never fails.
    fn call(&self, req: Request, ctx: Context) -> HandlerFuture;
}

/// A [`Handler`] made from a function; see [`service_fn`].
pub struct ServiceFn<F>(F);

/// Wraps `async fn(Request, Context) -> Response` as a [`Handler`], as `lambda_runtime::service_fn` does.
pub fn service_fn<F, Fut>(f: F) -> ServiceFn<F>
where
    F: Fn(Request, Context) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Response> + Send + 'static,
{
    ServiceFn(f)
}

impl<F, Fut> Handler for ServiceFn<F>
where
    F: Fn(Request, Context) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Response> + Send + 'static,
{
    fn call(&self, req: Request, ctx: Context) -> HandlerFuture {
        Box::pin((self.0)(req, ctx))
    }
}

/// Boxed future returned by an [`EventHandler`]: `Ok(body)` tells FC the
/// invocation succeeded, `Err(body)` that it failed (so FC retries it).
pub type EventFuture = Pin<Box<dyn Future<Output = Result<Bytes, Bytes>> + Send>>;

/// What handles FC's event invocations (`POST /invoke`): a plain async function
/// of (event bytes, [`Context`]); see [`event_fn`].
pub trait EventHandler: Send + Sync + 'static {
    /// Handles one event. `Err` is a failure FC should retry.
    fn call(&self, event: Bytes, ctx: Context) -> EventFuture;
}

/// An [`EventHandler`] made from a function; see [`event_fn`].
pub struct EventFn<F>(F);

/// Wraps `async fn(Bytes, Context) -> Result<Bytes, Bytes>` as an [`EventHandler`].
pub fn event_fn<F, Fut>(f: F) -> Arc<dyn EventHandler>
where
    F: Fn(Bytes, Context) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Bytes, Bytes>> + Send + 'static,
{
    Arc::new(EventFn(f))
}

impl<F, Fut> EventHandler for EventFn<F>
where
    F: Fn(Bytes, Context) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Bytes, Bytes>> + Send + 'static,
{
    fn call(&self, event: Bytes, ctx: Context) -> EventFuture {
        Box::pin((self.0)(event, ctx))
    }
}

/// The event handler slot of [`Options`] (a newtype so `Options` stays `Debug`).
#[derive(Clone)]
pub struct Events(pub Arc<dyn EventHandler>);

impl std::fmt::Debug for Events {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Events(..)")
    }
}

/// Limits and defaults for the server.
#[derive(Clone, Debug)]
pub struct Options {
    /// Largest request body accepted; larger ones get 413.
    pub max_body_bytes: usize,
    /// A different body limit for some paths (the app's routes that take
    /// long lists); `None` keeps `max_body_bytes`.
    pub body_limit_for: fn(&str) -> Option<usize>,
    /// Largest request head (request line + headers) accepted; hyper answers 431 beyond it.
    pub max_header_bytes: usize,
    /// How long in-flight requests get to finish after shutdown begins.
    pub drain_timeout: Duration,
    /// How long a client may take to send a request's head, and then its body.
    /// Also bounds an idle keep-alive connection (waiting for the next head).
    pub read_timeout: Duration,
    /// How long one write of an answer may wait for the client to read.
    /// A client that stops reading is disconnected after this, rather than
    /// holding a connection and its buffers.
    pub write_timeout: Duration,
    /// Drop every `x-fc-*` header a request arrives with before it is read,
    /// as FC's gateway does with client-sent ones. `local` sets it: there no
    /// gateway stands in front, so those headers can only come from the client.
    pub drop_fc_headers: bool,
    /// Print the `FC Invoke Start/End` markers and one JSON access line per request.
    pub access_log: bool,
    /// Defaults for every request's [`Context`].
    pub environment: Environment,
    /// Where FC's event invocations (`POST /invoke`) go; `None`: to the handler.
    pub events: Option<Events>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            max_body_bytes: 64 * 1024,
            body_limit_for: |_| None,
            max_header_bytes: 16 * 1024,
            drain_timeout: Duration::from_secs(10),
            read_timeout: Duration::from_secs(10),
            write_timeout: Duration::from_secs(10),
            drop_fc_headers: false,
            access_log: true,
            environment: Environment::default(),
            events: None,
        }
    }
}

/// The port FC tells us to listen on: `FC_CUSTOM_LISTEN_PORT`, default 9000.
pub fn listen_port_from_env() -> Result<u16, String> {
    match std::env::var("FC_CUSTOM_LISTEN_PORT") {
        Ok(v) if !v.trim().is_empty() => v.trim().parse::<u16>().map_err(|_| {
            format!("FC_CUSTOM_LISTEN_PORT={v:?} is not a port number; set it to 1-65535 or unset it for 9000")
        }),
        _ => Ok(9000),
    }
}

/// A handle that starts a graceful shutdown of a running server.
#[derive(Clone)]
pub struct Shutdown(Arc<watch::Sender<bool>>);

impl Shutdown {
    /// A new, not-yet-triggered shutdown signal.
    pub fn new() -> Self {
        Shutdown(Arc::new(watch::channel(false).0))
    }

    /// Stops accepting connections; in-flight requests finish.
    pub fn trigger(&self) {
        self.0.send_replace(true);
    }

    fn subscribe(&self) -> watch::Receiver<bool> {
        self.0.subscribe()
    }
}

impl Default for Shutdown {
    fn default() -> Self {
        Self::new()
    }
}

/// Length of the queue of connections waiting to be accepted. The OS default
/// many listeners get (128) stalls a burst of connects; the kernel still caps
/// it at `net.core.somaxconn`.
pub const LISTEN_BACKLOG: u32 = 4096;

/// Binds a listener on `addr` with a [`LISTEN_BACKLOG`]-long accept queue.
pub fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    // A restarted instance can bind while old connections sit in TIME_WAIT.
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(LISTEN_BACKLOG)
}

/// Serves `handler` on `0.0.0.0:${FC_CUSTOM_LISTEN_PORT:-9000}` until SIGTERM or SIGINT.
pub async fn run<H: Handler>(handler: H, options: Options) -> std::io::Result<()> {
    let port = listen_port_from_env()
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
    let listener = bind(SocketAddr::from(([0, 0, 0, 0], port)))?;
    let shutdown = Shutdown::new();
    spawn_signal_listener(shutdown.clone());
    serve(listener, handler, options, shutdown).await
}

/// Triggers `shutdown` on SIGTERM (what FC sends) or SIGINT (Ctrl-C).
pub fn spawn_signal_listener(shutdown: Shutdown) {
    tokio::spawn(async move {
        wait_for_signal().await;
        shutdown.trigger();
    });
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = tokio::signal::ctrl_c() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

struct Shared<H> {
    handler: H,
    options: Options,
    /// How many requests are being served, lifecycle hooks not counted.
    in_flight: watch::Sender<usize>,
}

/// Counts one request as in flight until dropped.
struct InFlight<'a>(&'a watch::Sender<usize>);

impl<'a> InFlight<'a> {
    fn enter(counter: &'a watch::Sender<usize>) -> Self {
        counter.send_modify(|n| *n += 1);
        InFlight(counter)
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.send_modify(|n| *n = n.saturating_sub(1));
    }
}

/// Serves `handler` on an already-bound listener until `shutdown` fires, then
/// drains in-flight requests (bounded by [`Options::drain_timeout`]).
///
/// Tests and `local` mode call this directly with a loopback listener.
pub async fn serve<H: Handler>(
    listener: TcpListener,
    handler: H,
    options: Options,
    shutdown: Shutdown,
) -> std::io::Result<()> {
    let drain_timeout = options.drain_timeout;
    let max_header_bytes = options.max_header_bytes.max(8192);
    let read_timeout = options.read_timeout;
    let write_timeout = options.write_timeout;
    let shared = Arc::new(Shared {
        handler,
        options,
        in_flight: watch::channel(0).0,
    });
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut stop = shutdown.subscribe();
    loop {
        if *stop.borrow() {
            break;
        }
        tokio::select! {
            accepted = listener.accept() => {
                let (stream, _peer) = match accepted {
                    Ok(pair) => pair,
                    Err(e) => {
                        // Out of file descriptors and the like: back off, don't spin.
                        crate::log::warn(None, "accept failed", &[("error", e.to_string().into())]);
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let _ = stream.set_nodelay(true);
                // hyper bounds reading a head; the answer's writes are bounded here.
                let mut stream = tokio_io_timeout::TimeoutStream::new(stream);
                stream.set_write_timeout(Some(write_timeout));
                let stream = Box::pin(stream);
                let shared = shared.clone();
                let svc = hyper::service::service_fn(move |req: http::Request<Incoming>| {
                    let shared = shared.clone();
                    async move { Ok::<_, std::convert::Infallible>(dispatch(&shared, req).await) }
                });
                let conn = http1::Builder::new()
                    .keep_alive(true)
                    .timer(hyper_util::rt::TokioTimer::new())
                    .header_read_timeout(read_timeout)
                    .max_buf_size(max_header_bytes)
                    .serve_connection(TokioIo::new(stream), svc);
                let conn = graceful.watch(conn);
                tokio::spawn(async move {
                    let _ = conn.await;
                });
            }
            _ = stop.changed() => {}
        }
    }
    drop(listener);
    tokio::select! {
        _ = graceful.shutdown() => {}
        _ = tokio::time::sleep(drain_timeout) => {
            crate::log::warn(None, "drain timeout: closing connections with requests still in flight", &[]);
        }
    }
    Ok(())
}

async fn dispatch<H: Handler>(
    shared: &Shared<H>,
    req: http::Request<Incoming>,
) -> http::Response<Full<Bytes>> {
    let started = Instant::now();
    let mut req = req;
    if shared.options.drop_fc_headers {
        drop_fc_headers(req.headers_mut());
    }
    let ctx = Context::from_headers(req.headers(), &shared.options.environment);
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let request_id = ctx.request_id.clone();
    let hook = Hook::of(&path, req.headers());
    // PreStop waits for every other request; it must not wait for itself.
    let _in_flight = (hook != Hook::PreStop).then(|| InFlight::enter(&shared.in_flight));
    let serve = async {
        let body = tokio::time::timeout(
            shared.options.read_timeout,
            read_body(
                req,
                (shared.options.body_limit_for)(&path).unwrap_or(shared.options.max_body_bytes),
            ),
        );
        let body = match body.await {
            Ok(read) => read,
            Err(_elapsed) => Err(simple_json(
                http::StatusCode::REQUEST_TIMEOUT,
                r#"{"error":{"code":"RequestTimeout","message":"The request body did not arrive in time."}}"#,
            )),
        };
        match body {
            // The body was refused unread (too large, too slow, broken): the
            // connection cannot carry another request, so say so rather
            // than let the client reuse a socket about to close.
            Err(resp) => close_after(resp),
            Ok(_) if hook == Hook::Refused => {
                // Lifecycle hooks come from FC itself, never through a trigger.
                simple_json(
                    http::StatusCode::NOT_FOUND,
                    r#"{"error":{"code":"NotFound","message":"lifecycle hooks answer only Function Compute's own lifecycle calls, not requests through a trigger"}}"#,
                )
            }
            Ok(_) if hook == Hook::PreStop => pre_stop(shared, &request_id).await,
            Ok(req) if req.uri().path() == "/invoke" && shared.options.events.is_some() => {
                invoke(shared.options.events.as_ref(), req, ctx).await
            }
            Ok(req) => shared.handler.call(req, ctx).await,
        }
    };
    let marker = hook.marker();
    let response = if shared.options.access_log {
        crate::log::per_request(
            &format!("FC {marker} Start RequestId: {request_id}"),
            serve,
            |response: &Response| {
                let access = serde_json::to_string(&AccessLine {
                    time: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
                    level: "info",
                    request_id: &request_id,
                    msg: "request",
                    method: method.as_str(),
                    path: &path,
                    status: response.status().as_u16(),
                    duration_ms: started.elapsed().as_micros() as f64 / 1000.0,
                })
                .unwrap_or_default();
                format!("{access}\nFC {marker} End RequestId: {request_id}")
            },
        )
        .await
    } else {
        serve.await
    };
    let mut response = response.map(Full::new);
    if let Ok(v) = http::HeaderValue::from_str(&request_id) {
        response.headers_mut().insert("x-request-id", v);
    }
    response
}

async fn read_body(req: http::Request<Incoming>, limit: usize) -> Result<Request, Response> {
    let (parts, body) = req.into_parts();
    if let Some(len) = parts
        .headers
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
    {
        if len > limit as u64 {
            return Err(body_too_large(limit));
        }
    }
    match Limited::new(body, limit).collect().await {
        Ok(collected) => Ok(http::Request::from_parts(parts, collected.to_bytes())),
        Err(e) => {
            if e.downcast_ref::<http_body_util::LengthLimitError>()
                .is_some()
            {
                Err(body_too_large(limit))
            } else {
                Err(simple_json(
                    http::StatusCode::BAD_REQUEST,
                    r#"{"error":{"code":"BadRequestBody","message":"The request body could not be read."}}"#,
                ))
            }
        }
    }
}

fn body_too_large(limit: usize) -> Response {
    let body = serde_json::json!({"error": {
        "code": "PayloadTooLarge",
        "message": format!("The request body is larger than {limit} bytes; send only the JSON parameters, never the file itself."),
    }});
    simple_json(http::StatusCode::PAYLOAD_TOO_LARGE, &body.to_string())
}

/// `resp` with `Connection: close`: the server closes the connection after it.
fn close_after(mut resp: Response) -> Response {
    resp.headers_mut().insert(
        http::header::CONNECTION,
        http::HeaderValue::from_static("close"),
    );
    resp
}

fn simple_json(status: http::StatusCode, body: &str) -> Response {
    let mut resp = http::Response::new(Bytes::from(body.to_owned()));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env_with_creds() -> Environment {
        Environment::from_vars(|k| match k {
            "ALIBABA_CLOUD_ACCESS_KEY_ID" => Some("STS.env".into()),
            "ALIBABA_CLOUD_ACCESS_KEY_SECRET" => Some("env-secret".into()),
            "ALIBABA_CLOUD_SECURITY_TOKEN" => Some("env-token".into()),
            "FC_REGION" => Some("cn-hangzhou".into()),
            "FC_FUNCTION_NAME" => Some("fn".into()),
            _ => None,
        })
    }

    #[test]
    fn headers_take_precedence_over_environment() {
        let mut h = http::HeaderMap::new();
        h.insert("x-fc-request-id", "rid-1".parse().unwrap());
        h.insert("x-fc-access-key-id", "STS.hdr".parse().unwrap());
        h.insert("x-fc-access-key-secret", "hdr-secret".parse().unwrap());
        h.insert("x-fc-security-token", "hdr-token".parse().unwrap());
        h.insert("x-fc-region", "cn-shanghai".parse().unwrap());
        let ctx = Context::from_headers(&h, &env_with_creds());
        assert_eq!(ctx.request_id, "rid-1");
        let c = ctx.credentials.unwrap();
        assert_eq!(c.access_key_id, "STS.hdr");
        assert_eq!(c.security_token.as_deref(), Some("hdr-token"));
        assert_eq!(ctx.region.as_deref(), Some("cn-shanghai"));
        assert_eq!(ctx.function_name.as_deref(), Some("fn"));
    }

    #[test]
    fn falls_back_to_environment_credentials() {
        let ctx = Context::from_headers(&http::HeaderMap::new(), &env_with_creds());
        let c = ctx.credentials.unwrap();
        assert_eq!(c.access_key_id, "STS.env");
        assert_eq!(c.security_token.as_deref(), Some("env-token"));
        let id = &ctx.request_id;
        assert_eq!(id.len(), 36);
        for (i, c) in id.char_indices() {
            if matches!(i, 8 | 13 | 18 | 23) {
                assert_eq!(c, '-', "{id}");
            } else {
                assert!(c.is_ascii_hexdigit(), "{id}");
            }
        }
        assert_ne!(new_request_id(), new_request_id());
    }

    #[test]
    fn unsafe_request_ids_are_replaced() {
        for bad in [
            "a b",
            "a\"b",
            "x{\"level\":\"error\"}",
            "\u{202e}rid",
            &"a".repeat(65),
        ] {
            let mut h = http::HeaderMap::new();
            h.insert(
                "x-fc-request-id",
                http::HeaderValue::from_bytes(bad.as_bytes()).unwrap(),
            );
            let id = Context::from_headers(&h, &Environment::default()).request_id;
            assert_ne!(id, bad);
            assert!(is_safe_request_id(&id), "{id:?}");
        }
        for good in [
            "rid-1",
            "8f1c2a3b-0000-4abc-9def-0123456789ab",
            &"a".repeat(64),
        ] {
            let mut h = http::HeaderMap::new();
            h.insert("x-fc-request-id", good.parse().unwrap());
            assert_eq!(
                Context::from_headers(&h, &Environment::default()).request_id,
                good
            );
        }
    }

    #[test]
    fn fc_headers_can_be_dropped() {
        let mut h = http::HeaderMap::new();
        h.insert("x-fc-access-key-id", "STS.x".parse().unwrap());
        h.insert("x-fc-control-path", "/pre-stop".parse().unwrap());
        h.insert("x-user-id", "u".parse().unwrap());
        drop_fc_headers(&mut h);
        assert_eq!(h.len(), 2);
        assert!(h.contains_key("x-user-id"));
        assert_eq!(h["x-fc-control-path"], "/http-invoke");
        assert!(!h.contains_key("x-fc-access-key-id"));
    }

    #[test]
    fn events_through_the_front_door_are_not_fc_events() {
        let mut h = http::HeaderMap::new();
        h.insert("x-fc-control-path", "/invoke".parse().unwrap());
        h.insert("x-fc-access-key-id", "forged".parse().unwrap());
        h.insert("x-other", "kept".parse().unwrap());
        drop_fc_headers(&mut h);
        assert_eq!(h.get("x-fc-control-path").unwrap(), "/http-invoke");
        assert!(h.get("x-fc-access-key-id").is_none());
        assert_eq!(h.get("x-other").unwrap(), "kept");
        assert!(!event_call(&h));
    }

    #[test]
    fn no_credentials_anywhere_is_none() {
        let ctx = Context::from_headers(&http::HeaderMap::new(), &Environment::default());
        assert!(ctx.credentials.is_none());
    }
}
