//! An OSS + STS emulator on loopback, strict where the real services are.
//!
//! It is what `oss-direct-upload local` and the tests run against.
//!
//! Why it exists: the product's whole job is signing (STS tokens, POST
//! policies, presigned URLs). Developing that against a lenient fake hides
//! bugs until deployment, and developing against the cloud needs an account.
//! This emulator serves the slice of OSS and STS the product and its clients
//! use, on loopback, and is **strict** where the real services are: every
//! signature is recomputed with `alibaba_sign` (the function's signers; the
//! official-SDK tests are what catch a bug both would share), timestamps and
//! expiries are enforced, STS session policies are evaluated on every OSS
//! request, and POST policy conditions are checked one by one.
//!
//! One listener serves both services:
//! - **OSS**, path-style: `http://127.0.0.1:PORT/<bucket>/<key>`. Virtual-host
//!   style also works when the Host is `<bucket>.<anything>` and `<bucket>`
//!   is configured (e.g. `<bucket>.localhost:PORT`).
//! - **STS** at `/` and at `/sts` (either works): RPC style (`Action=AssumeRole`
//!   in the query or a form body, `Signature` parameter, HMAC-SHA1) or ACS3
//!   (`x-acs-action: AssumeRole`, `Authorization: ACS3-HMAC-SHA256 ...`).
//!   Responses are JSON (`Format=XML` is not supported).
//!
//! What is emulated (see each module for details): PutObject, GetObject
//! (single byte range, `response-*` overrides), HeadObject, DeleteObject,
//! CopyObject (`x-oss-copy-source-if-*`, metadata and tagging directives),
//! object tagging (`?tagging`, `x-oss-tagging`), PostObject, multipart upload
//! (Initiate/UploadPart/Complete/Abort/ListParts, with atomic state changes),
//! AppendObject (`?append&position=`), PutSymlink and GetSymlink (`?symlink`;
//! GET and HEAD of a symlink answer with its target's bytes, size and ETag),
//! ListObjects v1 and v2;
//! V1/V4 header and presigned auth; V1/V4 POST policies; STS AssumeRole with
//! session policies; bucket CORS rules (`?cors`: PutBucketCors, GetBucketCors,
//! DeleteBucketCors, applied to preflights and answers); an upload hook ([`hook`]) for local events.
//!
//! Requests are authenticated and authorized from their headers before a
//! byte of the body is read; uploads stream to disk with `data_dir`; idle,
//! half-sent and unread connections time out ([`ServeOptions::read_timeout`]).
//!
//! Not emulated: bucket management (buckets are fixed by config, private),
//! ACLs, bucket policies, versioning, UploadPartCopy, copying an appendable
//! object or a symlink (refused), callbacks,
//! `success_action_redirect`, image processing, ListMultipartUploads,
//! CRC64 headers, regions (any region in a V4 scope is accepted), multipart
//! uploads surviving a restart (completed objects do survive with `data_dir`).

mod append;
mod auth;
mod blob;
mod body;
mod bucket;
mod copy;
mod cors;
pub mod hook;
mod keyring;
mod multipart;
mod object;
mod policy;
mod post;
mod request;
mod route;
mod server;
mod state;
mod store;
mod sts;
mod symlink;
mod tagging;
mod tags;
mod upload;
mod wire;
mod xml;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

pub use alibaba_sign::Credentials;
pub use hook::{UploadEvent, UploadHook};

/// How to run the emulator. Everything is explicit so tests can start many
/// isolated instances side by side.
#[derive(Debug, Clone)]
pub struct EmulatorConfig {
    /// Where to listen; `127.0.0.1:0` picks a free port (see [`Emulator::addr`]).
    pub bind: SocketAddr,
    /// Persist objects here (survives restarts); `None` keeps them in memory.
    pub data_dir: Option<PathBuf>,
    /// The buckets that exist. All are private: anonymous requests get 403.
    pub buckets: Vec<String>,
    /// The emulator account's permanent AccessKey pair (acts as a RAM user
    /// that may do anything in the buckets and may assume [`Emulator::role_arn`]).
    pub account: Credentials,
    /// Account id used in ARNs and OSS resources (`acs:oss:*:<id>:<bucket>/<key>`).
    pub account_id: String,
    /// CORS origins allowed to call OSS from a browser; `"*"` allows any. Each
    /// bucket starts with one CORS rule for them (all methods, any header,
    /// `ETag` exposed), which PutBucketCors replaces and DeleteBucketCors removes.
    pub allowed_origins: Vec<String>,
    /// Largest object accepted by PutObject/PostObject/UploadPart/Complete;
    /// bigger uploads get 400 EntityTooLarge.
    pub max_object_bytes: u64,
}

/// How the emulator serves, beyond what it emulates: the upload hook and
/// connection timeouts. `Default` is what `local` and the tests want unless
/// they listen for uploads or test timeouts.
#[derive(Clone)]
pub struct ServeOptions {
    /// Called after each successful PutObject, PostObject,
    /// CompleteMultipartUpload, AppendObject and PutSymlink (see [`hook`]);
    /// `None` does nothing.
    pub upload_hook: Option<UploadHook>,
    /// How long a client may take to send a request head (an idle keep-alive
    /// connection counts as sending one), and how long a request body may go
    /// without a byte arriving. 10 s by default, the function's own read timeout.
    pub read_timeout: std::time::Duration,
    /// Whether the buckets' starting CORS rule exposes `ETag` to browsers
    /// (true by default). Off, it acts as the common misconfiguration:
    /// multipart parts upload, but a browser cannot read their ETags to
    /// complete. PutBucketCors replaces the starting rule either way.
    pub cors_expose_etag: bool,
}

/// The default [`ServeOptions::read_timeout`]: the function's own (its `runtime::Options`).
pub const DEFAULT_READ_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

impl Default for ServeOptions {
    fn default() -> Self {
        ServeOptions {
            upload_hook: None,
            read_timeout: DEFAULT_READ_TIMEOUT,
            cors_expose_etag: true,
        }
    }
}

impl std::fmt::Debug for ServeOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServeOptions")
            .field("upload_hook", &self.upload_hook.as_ref().map(|_| "set"))
            .field("read_timeout", &self.read_timeout)
            .field("cors_expose_etag", &self.cors_expose_etag)
            .finish()
    }
}

/// A running emulator. Dropping it without [`Emulator::shutdown`] leaves the
/// listener running until the runtime stops.
pub struct Emulator {
    addr: SocketAddr,
    role_arn: String,
    stop: tokio::sync::watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl Emulator {
    /// Binds the listener, opens (or loads) the object store and starts serving.
    /// Fails only on bind or `data_dir` I/O errors.
    pub async fn start(cfg: EmulatorConfig) -> std::io::Result<Emulator> {
        Emulator::start_with(cfg, ServeOptions::default()).await
    }

    /// [`Emulator::start`] with an upload hook and/or other timeouts.
    pub async fn start_with(cfg: EmulatorConfig, opts: ServeOptions) -> std::io::Result<Emulator> {
        let state = Arc::new(state::State::new(cfg.clone(), opts)?);
        let listener = tokio::net::TcpListener::bind(cfg.bind).await?;
        let addr = listener.local_addr()?;
        let role_arn = state.keys.role_arn();
        let (stop, stop_rx) = tokio::sync::watch::channel(false);
        let task = tokio::spawn(server::serve(listener, state, stop_rx));
        Ok(Emulator {
            addr,
            role_arn,
            stop,
            task,
        })
    }

    /// The bound address (with the real port when `bind` used port 0).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Base URL, `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Endpoint to give STS clients: the base URL (STS is served at `/`, and
    /// also at `/sts`; the function's STS client wants an endpoint without a path).
    pub fn sts_endpoint(&self) -> String {
        self.url()
    }

    /// Endpoint to give OSS clients; use path-style addressing
    /// (`<endpoint>/<bucket>/<key>`), which the SDKs pick for IP endpoints.
    pub fn oss_endpoint(&self) -> String {
        self.url()
    }

    /// The one role AssumeRole accepts: `acs:ram::<account_id>:role/oss-upload`.
    /// Its own permissions are full OSS access to the configured buckets, so a
    /// temporary credential can do exactly what its session policy allows.
    pub fn role_arn(&self) -> String {
        self.role_arn.clone()
    }

    /// Stops accepting connections and waits for the accept loop to end.
    /// In-flight requests on open connections are allowed to finish.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
    }
}
