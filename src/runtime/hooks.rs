//! The calls FC itself makes besides HTTP traffic: event invocations
//! (`POST /invoke`, e.g. the OSS trigger) and the instance lifecycle hooks
//! (`POST /initialize`, `GET /pre-stop`), each accepted only when FC's
//! `x-fc-control-path` says the request is one.

use super::{simple_json, Context, Events, Request, Response, Shared};

/// Whether a request is FC's own event invocation: FC marks those
/// `x-fc-control-path: /invoke` (trigger traffic says `/http-invoke`), a
/// header clients cannot set through its gateway. Unlike the lifecycle hooks,
/// an absent header is refused: every event FC delivers carries it.
pub fn event_call(headers: &http::HeaderMap) -> bool {
    headers
        .get("x-fc-control-path")
        .is_some_and(|v| v.as_bytes() == b"/invoke")
}

/// `POST /invoke`: an event from FC itself goes to the event handler; through
/// the HTTP trigger it is 404, like the lifecycle hooks (anyone could post one).
pub(super) async fn invoke(events: Option<&Events>, req: Request, ctx: Context) -> Response {
    let Some(events) = events.filter(|_| event_call(req.headers())) else {
        return simple_json(
            http::StatusCode::NOT_FOUND,
            r#"{"error":{"code":"NotFound","message":"event invocations are not served through the HTTP trigger"}}"#,
        );
    };
    if req.method() != http::Method::POST {
        return simple_json(
            http::StatusCode::METHOD_NOT_ALLOWED,
            r#"{"error":{"code":"MethodNotAllowed","message":"event invocations are POST /invoke"}}"#,
        );
    }
    // FC reads success or failure from the status and `x-fc-status`: 200 or 404.
    let (status, body) = match events.0.call(req.into_body(), ctx).await {
        Ok(body) => (http::StatusCode::OK, body),
        Err(body) => (http::StatusCode::NOT_FOUND, body),
    };
    let mut resp = http::Response::new(body);
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    resp.headers_mut()
        .insert("x-fc-status", http::HeaderValue::from(status.as_u16()));
    resp
}

/// FC's instance lifecycle hooks (`initializer`, `preStop`).
pub fn is_lifecycle_path(path: &str) -> bool {
    matches!(path, "/initialize" | "/pre-stop")
}

/// Whether a request for lifecycle hook `path` may be FC's lifecycle call.
///
/// FC names what each request is in `x-fc-control-path`, a header clients
/// cannot set through its gateway. It documents `/invoke`, `/initialize` and
/// `/http-invoke` (trigger traffic), and no value for PreStop. So a hook call
/// is accepted when the header names the hook or is absent, and refused when
/// it says anything else, `/http-invoke` included.
pub fn lifecycle_call(path: &str, headers: &http::HeaderMap) -> bool {
    match headers.get("x-fc-control-path") {
        Some(v) => v.as_bytes() == path.as_bytes(),
        None => true,
    }
}

/// What one request is, as far as the lifecycle hooks go.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Hook {
    /// An ordinary invocation.
    None,
    /// FC's `POST /initialize` (passed on to the handler).
    Initialize,
    /// FC's `GET /pre-stop` (answered here).
    PreStop,
    /// A hook path that did not come from FC's lifecycle: 404.
    Refused,
}

impl Hook {
    pub(super) fn of(path: &str, headers: &http::HeaderMap) -> Hook {
        if !is_lifecycle_path(path) {
            Hook::None
        } else if !lifecycle_call(path, headers) {
            Hook::Refused
        } else if path == "/pre-stop" {
            Hook::PreStop
        } else {
            Hook::Initialize
        }
    }

    /// The word in FC's log markers: `FC Initialize Start RequestId:` and
    /// `FC PreStop Start RequestId:` for the hooks (as FC's own runtimes print
    /// them), `FC Invoke` for everything else.
    pub(super) fn marker(self) -> &'static str {
        match self {
            Hook::Initialize => "Initialize",
            Hook::PreStop => "PreStop",
            Hook::None | Hook::Refused => "Invoke",
        }
    }
}

/// `GET /pre-stop`: waits until no other request is in flight (bounded by
/// [`Options::drain_timeout`]) and answers 200. The listener stays open: if FC
/// freezes rather than destroys the instance, it serves again after the thaw.
/// If FC does destroy it, SIGTERM or the kill ends the process.
pub(super) async fn pre_stop<H>(shared: &Shared<H>, request_id: &str) -> Response {
    let mut in_flight = shared.in_flight.subscribe();
    let drained = tokio::time::timeout(
        shared.options.drain_timeout,
        in_flight.wait_for(|n| *n == 0),
    )
    .await
    .is_ok();
    if drained {
        simple_json(http::StatusCode::OK, r#"{"status":"drained"}"#)
    } else {
        let left = *shared.in_flight.borrow();
        crate::log::warn(
            Some(request_id),
            "pre-stop: requests still in flight after the drain timeout",
            &[("inFlight", left.into())],
        );
        simple_json(
            http::StatusCode::OK,
            &format!(r#"{{"status":"timeout","inFlight":{left}}}"#),
        )
    }
}
