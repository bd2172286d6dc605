//! The hook `local` uses to learn that an object landed in the emulator.
//!
//! Why: on Function Compute an OSS trigger tells the function about every new
//! object (`ObjectCreated:*` events). The emulator has no trigger service, so
//! it calls an [`UploadHook`] instead, and `local` turns each call into the
//! event FC would deliver. The emulator itself does nothing with the call: no
//! hook configured means no events, which is what the tests of the emulator
//! alone want.

use std::net::IpAddr;
use std::sync::Arc;

/// `ObjectCreated:PutObject`, as OSS names the event of a PutObject.
pub const PUT_OBJECT: &str = "ObjectCreated:PutObject";
/// `ObjectCreated:PostObject`, the event of a browser form upload.
pub const POST_OBJECT: &str = "ObjectCreated:PostObject";
/// `ObjectCreated:CompleteMultipartUpload`, the event of a completed multipart upload.
pub const COMPLETE_MULTIPART_UPLOAD: &str = "ObjectCreated:CompleteMultipartUpload";

/// `ObjectCreated:AppendObject`, the event of each successful AppendObject
/// (one per append; `size` grows, the ETag changes).
pub const APPEND_OBJECT: &str = "ObjectCreated:AppendObject";
/// `ObjectCreated:PutSymlink`, the event of a PutSymlink. Its `etag` is the
/// symlink's own (GetSymlink's), not the target's that HeadObject shows;
/// which of the two real OSS puts in the event is undocumented.
pub const PUT_SYMLINK: &str = "ObjectCreated:PutSymlink";

/// One object that was just stored, with what an OSS event record carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadEvent {
    /// The bucket the object is in.
    pub bucket: String,
    /// The object key, decoded (as stored, not URL-encoded).
    pub key: String,
    /// Stored size in bytes.
    pub size: u64,
    /// The object's ETag without quotes (`<MD5 HEX>` or `<MD5 HEX>-<parts>`),
    /// as OSS puts it in an event's `object.eTag`.
    pub etag: String,
    /// One of [`PUT_OBJECT`], [`POST_OBJECT`], [`COMPLETE_MULTIPART_UPLOAD`],
    /// [`APPEND_OBJECT`], [`PUT_SYMLINK`].
    pub event_name: &'static str,
    /// Address of the client that sent the request (`sourceIPAddress`).
    pub source_ip: IpAddr,
}

/// Called once after each successful PutObject, PostObject,
/// CompleteMultipartUpload, AppendObject and PutSymlink, after the object is visible to readers and
/// before the client gets its answer. It runs on the request's task: it must
/// not block; hand the event to a channel or `tokio::spawn` for real work.
pub type UploadHook = Arc<dyn Fn(UploadEvent) + Send + Sync>;
