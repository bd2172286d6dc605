//! Request bodies as the emulator reads them: chunk by chunk, only after the
//! request is authenticated, with an idle timeout between chunks.
//!
//! Why: reading a body into memory before checking who sent it let one
//! unauthenticated 128 MiB PUT grow the emulator by 200 MB, and a client that
//! stopped sending held its connection forever. Uploads stream to the store
//! (`blob`); only small bodies (XML, STS forms) are collected, with a limit.

use std::pin::Pin;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures_util::{Stream, StreamExt};
use http::StatusCode;
use http_body_util::BodyExt;
use hyper::body::Incoming;

use super::store::entity_too_large;
use super::xml::OssError;

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

/// Streams `body`, failing with RequestTimeout when no byte arrives for `idle`.
pub(crate) fn chunks(body: Incoming, idle: Duration) -> BodyStream {
    let s = futures_util::stream::unfold(Some(body), move |state| async move {
        let mut body = state?;
        loop {
            match tokio::time::timeout(idle, body.frame()).await {
                Err(_) => return Some((Err(request_timeout()), None)),
                Ok(None) => return None,
                Ok(Some(Err(_))) => return Some((Err(incomplete()), None)),
                Ok(Some(Ok(frame))) => {
                    if let Ok(data) = frame.into_data() {
                        if !data.is_empty() {
                            return Some((Ok(data), Some(body)));
                        }
                    }
                    // Trailers or an empty frame: keep reading.
                }
            }
        }
    });
    Box::pin(s)
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
