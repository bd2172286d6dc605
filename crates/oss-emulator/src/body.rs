//! Request bodies as the emulator reads them: chunk by chunk, after authentication.
//!
//! Reading starts once the request is authenticated, and a body that stops
//! arriving for the read timeout ends in an error.
//!
//! Why: reading a body into memory before checking who sent it let one
//! unauthenticated 128 MiB PUT grow the emulator by 200 MB, and a client that
//! stopped sending held its connection forever. Uploads stream to the store
//! (`blob`); only small bodies (XML, STS forms) are collected, with a limit.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures_util::{Stream, StreamExt};
use http::StatusCode;
use http_body_util::BodyExt;
use hyper::body::{Body, Incoming};

use super::xml::{entity_too_large, OssError};

/// A request body as a stream of data chunks; the first error ends it.
pub(crate) type BodyStream = Pin<Box<dyn Stream<Item = Result<Bytes, OssError>> + Send>>;

/// 400 RequestTimeout: the client went quiet in the middle of a request.
pub(crate) fn request_timeout() -> OssError {
    OssError::new(
        StatusCode::BAD_REQUEST,
        "RequestTimeout",
        "Your socket connection to the server was not read from or written to within the timeout period.",
    )
}

fn incomplete() -> OssError {
    OssError::new(
        StatusCode::BAD_REQUEST,
        "IncompleteBody",
        "Could not read the request body.",
    )
}

/// Bodies refused unread that are at most this long are read and dropped
/// after the answer, so the client's kept-alive connection stays usable (as
/// with OSS); longer ones close the connection instead of being read.
const DRAIN_LIMIT: u64 = 1 << 20;

/// A request body read chunk by chunk with an idle timeout.
struct Chunks {
    body: Option<Incoming>,
    idle: Duration,
    timer: Pin<Box<tokio::time::Sleep>>,
    /// The idle clock starts at the first read, not when the request arrived.
    started: bool,
}

impl Stream for Chunks {
    type Item = Result<Bytes, OssError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        let Some(body) = this.body.as_mut() else {
            return Poll::Ready(None);
        };
        if !this.started {
            this.started = true;
            let deadline = tokio::time::Instant::now() + this.idle;
            this.timer.as_mut().reset(deadline);
        }
        loop {
            match Pin::new(&mut *body).poll_frame(cx) {
                Poll::Ready(None) => {
                    this.body = None;
                    return Poll::Ready(None);
                }
                Poll::Ready(Some(Err(_))) => {
                    this.body = None;
                    return Poll::Ready(Some(Err(incomplete())));
                }
                Poll::Ready(Some(Ok(frame))) => {
                    let deadline = tokio::time::Instant::now() + this.idle;
                    this.timer.as_mut().reset(deadline);
                    if let Ok(data) = frame.into_data() {
                        if !data.is_empty() {
                            return Poll::Ready(Some(Ok(data)));
                        }
                    }
                    // Trailers or an empty frame: keep reading.
                }
                Poll::Pending => {
                    if this.timer.as_mut().poll(cx).is_ready() {
                        this.body = None;
                        return Poll::Ready(Some(Err(request_timeout())));
                    }
                    return Poll::Pending;
                }
            }
        }
    }
}

impl Drop for Chunks {
    fn drop(&mut self) {
        let Some(mut body) = self.body.take() else {
            return;
        };
        let small = body.size_hint().upper().is_some_and(|n| n <= DRAIN_LIMIT);
        let Ok(rt) = tokio::runtime::Handle::try_current() else {
            return;
        };
        if small {
            let idle = self.idle;
            rt.spawn(async move {
                while let Ok(Some(Ok(_))) = tokio::time::timeout(idle, body.frame()).await {}
            });
        }
    }
}

/// Streams `body`, failing with RequestTimeout when no byte arrives for
/// `idle`. Dropped unread, a short body is drained in the background so
/// the connection can serve the client's next request.
pub(crate) fn chunks(body: Incoming, idle: Duration) -> BodyStream {
    Box::pin(Chunks {
        body: Some(body),
        idle,
        timer: Box::pin(tokio::time::sleep(idle)),
        started: false,
    })
}

/// Collects a small body (XML, a form); more than `limit` bytes is 400
/// EntityTooLarge, and nothing beyond `limit + one chunk` is ever held.
pub(crate) async fn collect(mut body: BodyStream, limit: u64) -> Result<Bytes, OssError> {
    let mut out = BytesMut::new();
    while let Some(chunk) = body.next().await {
        let chunk = chunk?;
        if (out.len() + chunk.len()) as u64 > limit {
            return Err(entity_too_large(limit));
        }
        out.extend_from_slice(&chunk);
    }
    Ok(out.freeze())
}
