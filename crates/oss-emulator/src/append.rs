//! AppendObject: `POST /<key>?append&position=N`, OSS's appendable objects.
//!
//! Authorized as OSS does, before the body is read: `oss:PutObject`, plus
//! `oss:PutObjectTagging` with `x-oss-tagging`. `position` must equal the
//! object's length (0 creates it): otherwise 409 PositionNotEqualToLength with
//! `x-oss-next-append-position`; an object another operation made is 409
//! ObjectNotAppendable. The answer carries `x-oss-next-append-position` and
//! the new ETag; the object reports `x-oss-object-type: Appendable`. Each
//! append fires `ObjectCreated:AppendObject`. The store makes the position
//! check and the write one atomic step (see `store::append`).

use http::StatusCode;

use super::body::BodyStream;
use super::hook;
use super::request::{ObjReq, Reply};
use super::store::check_position;
use super::upload::{new_object_authorized, receive};
use super::xml::OssError;

/// AppendObject.
pub(super) async fn append_object(req: &ObjReq<'_>, body: BodyStream) -> Result<Reply, OssError> {
    let new = new_object_authorized(req)?;
    let position: u64 = req
        .q("position")
        .and_then(|p| p.parse().ok())
        .ok_or_else(|| {
            OssError::invalid_argument("AppendObject needs position, a non-negative integer.")
                .with("ArgumentName", "position")
                .with("ArgumentValue", req.q("position").unwrap_or_default())
        })?;
    let store = &req.state.store;
    // OSS refuses a wrong position before taking the body.
    check_position(store.head(&req.bucket, &req.key).as_ref(), position)?;
    let blob = receive(req, body, false).await?;
    let md5 = blob.md5_b64();
    let meta = store
        .append(
            &req.bucket,
            &req.key,
            position,
            blob,
            new,
            req.state.cfg.max_object_bytes,
        )
        .await?;
    req.state.uploaded(&meta, hook::APPEND_OBJECT, req.peer);
    Ok(Reply::new(StatusCode::OK)
        .header("etag", format!("\"{}\"", meta.etag))
        .header("x-oss-next-append-position", meta.size.to_string())
        .header("content-md5", md5))
}
