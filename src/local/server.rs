//! HTTP front of the emulator: accept loop, routing, CORS, request ids, the
//! per-request log line, and the OSS operations themselves.
//!
//! Every path returns a response: handlers return `Result<Reply, OssError>`,
//! and errors become OSS's `<Error>` XML, so a malformed request can never
//! take the emulator down.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::net::IpAddr;
use std::sync::Arc;

use base64::Engine as _;
use bytes::Bytes;
use chrono::{DateTime, Utc};
use http::request::Parts;
use http::{HeaderMap, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;

use super::auth::{self, Principal, SignedRequest};
use super::hook::{self, UploadEvent};
use super::post;
use super::store::{self, md5_hex_upper, NewObject, Store};
use super::sts::{self, KeyRing, StsRequest};
use super::xml::{self, elem, OssError};
use super::{EmulatorConfig, ServeOptions};
use crate::oss::encode::uri_encode;

/// Shared state of one emulator instance.
pub(crate) struct State {
    pub cfg: EmulatorConfig,
    pub opts: ServeOptions,
    pub store: Store,
    pub keys: KeyRing,
}

impl State {
    /// Builds the state, loading persisted objects if `data_dir` is set.
    pub fn new(cfg: EmulatorConfig, opts: ServeOptions) -> std::io::Result<State> {
        let store = Store::open(cfg.data_dir.clone(), &cfg.buckets)?;
        let keys = KeyRing::new(cfg.account.clone(), cfg.account_id.clone());
        Ok(State {
            cfg,
            opts,
            store,
            keys,
        })
    }

    /// Tells the upload hook, if any, that `meta` was just stored.
    pub fn uploaded(&self, meta: &store::ObjectMeta, event_name: &'static str, peer: IpAddr) {
        if let Some(hook) = &self.opts.upload_hook {
            hook(UploadEvent {
                bucket: meta.bucket.clone(),
                key: meta.key.clone(),
                size: meta.size,
                etag: meta.etag.clone(),
                event_name,
                source_ip: peer,
            });
        }
    }
}

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
                let Ok((stream, peer)) = accepted else { continue };
                let state = state.clone();
                tokio::spawn(async move {
                    let svc = service_fn(move |req| {
                        let state = state.clone();
                        async move { Ok::<_, Infallible>(handle(state, req, peer.ip()).await) }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), svc)
                        .await;
                });
            }
        }
    }
}

/// A response before the common headers are added.
struct Reply {
    status: StatusCode,
    headers: Vec<(String, String)>,
    body: Bytes,
}

impl Reply {
    fn new(status: StatusCode) -> Reply {
        Reply {
            status,
            headers: Vec::new(),
            body: Bytes::new(),
        }
    }
    fn xml(body: String) -> Reply {
        Reply {
            status: StatusCode::OK,
            headers: vec![("content-type".into(), "application/xml".into())],
            body: Bytes::from(body),
        }
    }
    fn header(mut self, k: &str, v: impl Into<String>) -> Reply {
        self.headers.push((k.to_string(), v.into()));
        self
    }
}

fn request_id() -> String {
    use rand::RngCore;
    let mut b = [0u8; 12];
    rand::thread_rng().fill_bytes(&mut b);
    hex::encode_upper(b)
}

fn http_date(t: i64) -> String {
    DateTime::<Utc>::from_timestamp(t, 0)
        .map(|d| d.format("%a, %d %b %Y %H:%M:%S GMT").to_string())
        .unwrap_or_default()
}

fn iso_date(t: i64) -> String {
    DateTime::<Utc>::from_timestamp(t, 0)
        .map(|d| d.format("%Y-%m-%dT%H:%M:%S.000Z").to_string())
        .unwrap_or_default()
}

fn header<'h>(h: &'h HeaderMap, name: &str) -> Option<&'h str> {
    h.get(name).and_then(|v| v.to_str().ok())
}

fn qget<'q>(q: &'q [(String, String)], name: &str) -> Option<&'q str> {
    q.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

fn qhas(q: &[(String, String)], name: &str) -> bool {
    q.iter().any(|(k, _)| k == name)
}

/// Decodes a query string the way OSS does: `%XX` only (a `+` stays a `+`;
/// the SDKs always write spaces as `%20`).
fn parse_query(raw: &str) -> Result<Vec<(String, String)>, OssError> {
    let mut out = Vec::new();
    for pair in raw.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let dec = |s: &str| {
            percent_encoding::percent_decode_str(s)
                .decode_utf8()
                .map(|c| c.into_owned())
                .map_err(|_| OssError::invalid_argument("Query string is not valid UTF-8."))
        };
        out.push((dec(k)?, dec(v)?));
    }
    Ok(out)
}

fn origin_allowed(cfg: &EmulatorConfig, origin: &str) -> bool {
    cfg.allowed_origins
        .iter()
        .any(|o| o == "*" || o.eq_ignore_ascii_case(origin))
}

fn allow_origin_value(cfg: &EmulatorConfig, origin: &str) -> String {
    if cfg
        .allowed_origins
        .iter()
        .any(|o| o.eq_ignore_ascii_case(origin))
    {
        origin.to_string()
    } else {
        "*".to_string()
    }
}

/// Answers a CORS preflight.
fn preflight(cfg: &EmulatorConfig, h: &HeaderMap) -> Result<Reply, OssError> {
    let denied = || {
        OssError::new(
            StatusCode::FORBIDDEN,
            "AccessForbidden",
            "CORSResponse: This CORS request is not allowed. This is usually because the evalution of Origin, request method / Access-Control-Request-Method or Access-Control-Request-Headers are not whitelisted by the resource's CORS spec.",
        )
    };
    let origin = header(h, "origin").ok_or_else(denied)?;
    let method = header(h, "access-control-request-method").ok_or_else(denied)?;
    if !origin_allowed(cfg, origin) || !matches!(method, "GET" | "PUT" | "POST" | "DELETE" | "HEAD")
    {
        return Err(denied());
    }
    let mut r = Reply::new(StatusCode::OK)
        .header(
            "access-control-allow-origin",
            allow_origin_value(cfg, origin),
        )
        .header(
            "access-control-allow-methods",
            "GET, PUT, POST, DELETE, HEAD",
        )
        .header("access-control-max-age", "600")
        .header("access-control-expose-headers", "ETag, x-oss-request-id")
        .header(
            "vary",
            "Origin, Access-Control-Request-Method, Access-Control-Request-Headers",
        );
    if let Some(rh) = header(h, "access-control-request-headers") {
        r = r.header("access-control-allow-headers", rh);
    }
    Ok(r)
}

/// Where a request is going.
enum Target {
    /// `/` or `/sts`: STS (or nothing).
    Root,
    Bucket(String),
    Object(String, String),
}

fn target(cfg: &EmulatorConfig, h: &HeaderMap, path: &str) -> Result<Target, OssError> {
    let decode = |s: &str| {
        percent_encoding::percent_decode_str(s)
            .decode_utf8()
            .map(|c| c.into_owned())
            .map_err(|_| {
                OssError::new(
                    StatusCode::BAD_REQUEST,
                    "InvalidObjectName",
                    "The specified object is not valid.",
                )
            })
    };
    let rest = path.strip_prefix('/').unwrap_or(path);
    // Virtual-hosted style: Host `<bucket>.<something>` naming a configured bucket.
    if let Some(host) = header(h, "host") {
        let name = host.split(':').next().unwrap_or_default();
        if let Some((first, _)) = name.split_once('.') {
            if name.parse::<std::net::IpAddr>().is_err() && cfg.buckets.iter().any(|b| b == first) {
                return Ok(if rest.is_empty() {
                    Target::Bucket(first.to_string())
                } else {
                    Target::Object(first.to_string(), decode(rest)?)
                });
            }
        }
    }
    if rest.is_empty() || rest == "sts" || rest == "sts/" {
        return Ok(Target::Root);
    }
    match rest.split_once('/') {
        None => Ok(Target::Bucket(decode(rest)?)),
        Some((b, "")) => Ok(Target::Bucket(decode(b)?)),
        Some((b, k)) => Ok(Target::Object(decode(b)?, decode(k)?)),
    }
}

async fn read_body(body: Incoming, limit: u64) -> Result<Bytes, OssError> {
    let limit = usize::try_from(limit).unwrap_or(usize::MAX);
    match Limited::new(body, limit).collect().await {
        Ok(c) => Ok(c.to_bytes()),
        Err(e) => {
            if e.downcast_ref::<http_body_util::LengthLimitError>()
                .is_some()
            {
                Err(store::entity_too_large(limit as u64))
            } else {
                Err(OssError::new(
                    StatusCode::BAD_REQUEST,
                    "IncompleteBody",
                    "Could not read the request body.",
                ))
            }
        }
    }
}

async fn handle(state: Arc<State>, req: Request<Incoming>, peer: IpAddr) -> Response<Full<Bytes>> {
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
            if !is_head {
                r.body = Bytes::from(e.to_xml(&rid, "127.0.0.1"));
                r = r.header("content-type", "application/xml");
            }
            r
        }
        Err(Routed::Sts(e)) => {
            err_code = e.code.clone();
            let mut r =
                Reply::new(e.status).header("content-type", "application/json;charset=utf-8");
            r.body = Bytes::from(e.to_json(&rid));
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
        if parts.method != Method::OPTIONS && origin_allowed(&state.cfg, o) {
            b = b
                .header(
                    "access-control-allow-origin",
                    allow_origin_value(&state.cfg, o),
                )
                .header("access-control-expose-headers", "ETag, x-oss-request-id")
                .header("vary", "Origin");
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
    let body = if is_head { Bytes::new() } else { reply.body };
    b.body(Full::new(body))
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
fn internal_error_response(rid: &str, is_head: bool, detail: &str) -> Response<Full<Bytes>> {
    eprintln!("local: response build failed: {}", detail.escape_debug());
    let e = OssError::internal("We encountered an internal error. Please try again.");
    let body = if is_head {
        Bytes::new()
    } else {
        Bytes::from(e.to_xml(rid, "127.0.0.1"))
    };
    let mut r = Response::new(Full::new(body));
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

enum Routed {
    Oss(OssError),
    Sts(sts::StsError),
}

impl From<OssError> for Routed {
    fn from(e: OssError) -> Self {
        Routed::Oss(e)
    }
}

async fn route(
    state: &State,
    parts: &Parts,
    body: Incoming,
    rid: &str,
    peer: IpAddr,
    label: &mut String,
) -> Result<Reply, Routed> {
    let cfg = &state.cfg;
    if parts.method == Method::OPTIONS {
        return Ok(preflight(cfg, &parts.headers)?);
    }
    let query = parse_query(parts.uri.query().unwrap_or_default())?;
    let tgt = target(cfg, &parts.headers, parts.uri.path())?;
    // Forms and XML bodies carry some overhead beyond the object itself.
    let limit = cfg.max_object_bytes.saturating_add(1 << 20);
    if let Some(len) = header(&parts.headers, "content-length").and_then(|v| v.parse::<u64>().ok())
    {
        if len > limit {
            return Err(store::entity_too_large(cfg.max_object_bytes).into());
        }
    }
    match tgt {
        Target::Root => {
            let body = read_body(body, 1 << 20).await?;
            // STS takes form-urlencoded bodies and '+' as space in its query.
            let sts_query: Vec<(String, String)> =
                form_urlencoded::parse(parts.uri.query().unwrap_or_default().as_bytes())
                    .map(|(k, v)| (k.into_owned(), v.into_owned()))
                    .collect();
            let form = sts::form_params(&parts.headers, &body);
            if !sts::is_sts_request(&parts.headers, &sts_query, &form) {
                return Err(OssError::access_denied(
                    "The emulator does not serve ListBuckets; address a bucket.",
                )
                .into());
            }
            *label = "sts:AssumeRole".to_string();
            let req = StsRequest {
                method: parts.method.as_str(),
                raw_path: parts.uri.path(),
                headers: &parts.headers,
                query: &sts_query,
                form: &form,
                body: &body,
            };
            match sts::handle(&req, &state.keys, rid) {
                Ok(json) => {
                    let mut r = Reply::new(StatusCode::OK)
                        .header("content-type", "application/json;charset=utf-8");
                    r.body = Bytes::from(json);
                    Ok(r)
                }
                Err(e) => Err(Routed::Sts(e)),
            }
        }
        Target::Bucket(bucket) => {
            *label = format!("{bucket}/");
            if !state.store.has_bucket(&bucket) {
                return Err(no_such_bucket(&bucket).into());
            }
            let body = read_body(body, limit).await?;
            Ok(bucket_op(state, parts, &query, &bucket, body, peer).await?)
        }
        Target::Object(bucket, key) => {
            *label = format!("{bucket}/{key}");
            if !state.store.has_bucket(&bucket) {
                return Err(no_such_bucket(&bucket).into());
            }
            if key.len() > 1023 {
                return Err(OssError::new(
                    StatusCode::BAD_REQUEST,
                    "InvalidObjectName",
                    "The specified object is not valid.",
                )
                .into());
            }
            let body = read_body(body, limit).await?;
            Ok(object_op(state, parts, &query, &bucket, &key, body, peer).await?)
        }
    }
}

fn no_such_bucket(b: &str) -> OssError {
    OssError::new(
        StatusCode::NOT_FOUND,
        "NoSuchBucket",
        "The specified bucket does not exist.",
    )
    .with("BucketName", b)
}

fn not_implemented(what: &str) -> OssError {
    OssError::new(
        StatusCode::NOT_IMPLEMENTED,
        "NotImplemented",
        format!("The local emulator does not implement {what}."),
    )
}

fn authn(
    state: &State,
    parts: &Parts,
    query: &[(String, String)],
    bucket: &str,
    key: &str,
    body: &[u8],
) -> Result<Principal, OssError> {
    let req = SignedRequest {
        method: parts.method.as_str(),
        bucket,
        key,
        query,
        headers: &parts.headers,
        body,
    };
    auth::authenticate(&req, &state.keys, Utc::now().timestamp())
}

fn check_md5(h: &HeaderMap, body: &[u8]) -> Result<(), OssError> {
    let Some(v) = h.get("content-md5") else {
        return Ok(());
    };
    let invalid = || {
        OssError::new(
            StatusCode::BAD_REQUEST,
            "InvalidDigest",
            "The Content-MD5 you specified was invalid.",
        )
    };
    let given = base64::engine::general_purpose::STANDARD
        .decode(v.as_bytes())
        .map_err(|_| invalid())?;
    use md5::{Digest, Md5};
    if given.as_slice() != Md5::digest(body).as_slice() {
        return Err(invalid());
    }
    Ok(())
}

/// Records one `x-oss-meta-*` entry (`name` is the full lower-case header
/// name). OSS rejects metadata whose name cannot be sent back as a header, so
/// such a name fails the write here instead of making the object unreadable.
fn insert_user_meta(
    user_meta: &mut BTreeMap<String, String>,
    name: &str,
    value: String,
) -> Result<(), OssError> {
    if http::HeaderName::from_bytes(name.as_bytes()).is_err() {
        return Err(OssError::invalid_argument(
            "The user metadata name is not a valid header name.",
        )
        .with("ArgumentName", name)
        .with("ArgumentValue", value));
    }
    if let Some(m) = name.strip_prefix("x-oss-meta-") {
        user_meta.insert(m.to_string(), value);
    }
    Ok(())
}

/// Content-Type, `x-oss-meta-*` and the stored standard headers of a write.
fn new_object(h: &HeaderMap) -> Result<NewObject, OssError> {
    let mut user_meta = BTreeMap::new();
    let mut headers = BTreeMap::new();
    for (k, v) in h {
        let name = k.as_str();
        let val = String::from_utf8_lossy(v.as_bytes()).into_owned();
        if name.starts_with("x-oss-meta-") {
            insert_user_meta(&mut user_meta, name, val)?;
        } else if matches!(
            name,
            "content-disposition"
                | "cache-control"
                | "content-encoding"
                | "content-language"
                | "expires"
        ) {
            headers.insert(name.to_string(), val);
        }
    }
    Ok(NewObject {
        content_type: header(h, "content-type")
            .filter(|c| !c.is_empty())
            .unwrap_or("application/octet-stream")
            .to_string(),
        user_meta,
        headers,
    })
}

fn forbid_overwrite(v: Option<&str>) -> bool {
    v.map(|v| v.eq_ignore_ascii_case("true")).unwrap_or(false)
}

fn too_large(state: &State, len: usize) -> Result<(), OssError> {
    if len as u64 > state.cfg.max_object_bytes {
        return Err(store::entity_too_large(state.cfg.max_object_bytes));
    }
    Ok(())
}

const UNSUPPORTED_OBJECT_SUBRESOURCES: &[&str] = &[
    "acl",
    "append",
    "tagging",
    "symlink",
    "restore",
    "x-oss-process",
    "versionId",
    "versions",
    "callback",
];

async fn object_op(
    state: &State,
    parts: &Parts,
    query: &[(String, String)],
    bucket: &str,
    key: &str,
    body: Bytes,
    peer: IpAddr,
) -> Result<Reply, OssError> {
    let acct = state.keys.account_id().to_string();
    let h = &parts.headers;
    if let Some(sub) = UNSUPPORTED_OBJECT_SUBRESOURCES
        .iter()
        .find(|s| qhas(query, s))
    {
        return Err(not_implemented(&format!("the '{sub}' sub-resource")));
    }
    let principal = authn(state, parts, query, bucket, key, &body)?;
    let allow = |action: &str| auth::authorize(&principal, &acct, action, bucket, Some(key));
    let m = parts.method.clone();
    if m == Method::PUT {
        allow("oss:PutObject")?;
        if h.contains_key("x-oss-copy-source") {
            return Err(not_implemented("CopyObject / UploadPartCopy"));
        }
        check_md5(h, &body)?;
        if let Some(id) = qget(query, "uploadId") {
            let n: u32 = qget(query, "partNumber")
                .and_then(|n| n.parse().ok())
                .filter(|n| (1..=10000).contains(n))
                .ok_or_else(|| {
                    OssError::invalid_argument(
                        "Part number must be an integer between 1 and 10000, inclusive.",
                    )
                    .with("ArgumentName", "partNumber")
                })?;
            too_large(state, body.len())?;
            let etag = state.store.upload_part(bucket, key, id, n, body.clone())?;
            return Ok(Reply::new(StatusCode::OK)
                .header("etag", format!("\"{etag}\""))
                .header("content-md5", md5_b64(&body)));
        }
        too_large(state, body.len())?;
        let etag = md5_hex_upper(&body);
        let md5 = md5_b64(&body);
        let meta = state
            .store
            .put(
                bucket,
                key,
                body,
                new_object(h)?,
                etag,
                "Normal",
                forbid_overwrite(header(h, "x-oss-forbid-overwrite")),
            )
            .await?;
        state.uploaded(&meta, hook::PUT_OBJECT, peer);
        return Ok(Reply::new(StatusCode::OK)
            .header("etag", format!("\"{}\"", meta.etag))
            .header("content-md5", md5));
    }
    if m == Method::GET || m == Method::HEAD {
        if let Some(id) = qget(query, "uploadId") {
            if m == Method::HEAD {
                return Err(not_implemented("HEAD with uploadId"));
            }
            allow("oss:ListParts")?;
            return list_parts(state, query, bucket, key, id);
        }
        allow("oss:GetObject")?;
        return get_object(state, parts, query, bucket, key, m == Method::HEAD).await;
    }
    if m == Method::DELETE {
        if let Some(id) = qget(query, "uploadId") {
            allow("oss:AbortMultipartUpload")?;
            state.store.abort(bucket, key, id)?;
            return Ok(Reply::new(StatusCode::NO_CONTENT));
        }
        allow("oss:DeleteObject")?;
        state.store.delete(bucket, key).await?;
        return Ok(Reply::new(StatusCode::NO_CONTENT));
    }
    if m == Method::POST {
        allow("oss:PutObject")?;
        if qhas(query, "uploads") {
            let id = state.store.initiate(bucket, key, new_object(h)?);
            let url = qget(query, "encoding-type") == Some("url");
            let mut s = xml::doc("InitiateMultipartUploadResult");
            elem(&mut s, "Bucket", bucket);
            elem(&mut s, "Key", &enc(key, url));
            elem(&mut s, "UploadId", &id);
            if url {
                elem(&mut s, "EncodingType", "url");
            }
            s.push_str("</InitiateMultipartUploadResult>\n");
            return Ok(Reply::xml(s));
        }
        if let Some(id) = qget(query, "uploadId") {
            check_md5(h, &body)?;
            let list = if body.is_empty() && header(h, "x-oss-complete-all") == Some("yes") {
                state
                    .store
                    .list_parts(bucket, key, id)?
                    .into_iter()
                    .map(|(n, p)| xml::CompletePart {
                        part_number: n,
                        etag: p.etag,
                    })
                    .collect()
            } else {
                xml::parse_complete(&body)?
            };
            let meta = state
                .store
                .complete(
                    bucket,
                    key,
                    id,
                    &list,
                    state.cfg.max_object_bytes,
                    forbid_overwrite(header(h, "x-oss-forbid-overwrite")),
                )
                .await?;
            state.uploaded(&meta, hook::COMPLETE_MULTIPART_UPLOAD, peer);
            let url = qget(query, "encoding-type") == Some("url");
            let mut s = xml::doc("CompleteMultipartUploadResult");
            if url {
                elem(&mut s, "EncodingType", "url");
            }
            elem(
                &mut s,
                "Location",
                &format!(
                    "http://{}/{}/{}",
                    header(h, "host").unwrap_or("127.0.0.1"),
                    bucket,
                    uri_encode(key, true)
                ),
            );
            elem(&mut s, "Bucket", bucket);
            elem(&mut s, "Key", &enc(key, url));
            elem(&mut s, "ETag", &format!("\"{}\"", meta.etag));
            s.push_str("</CompleteMultipartUploadResult>\n");
            return Ok(Reply::xml(s).header("etag", format!("\"{}\"", meta.etag)));
        }
        return Err(OssError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "MethodNotAllowed",
            "The specified method is not allowed against this resource.",
        ));
    }
    Err(OssError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "MethodNotAllowed",
        "The specified method is not allowed against this resource.",
    ))
}

fn md5_b64(data: &[u8]) -> String {
    use md5::{Digest, Md5};
    base64::engine::general_purpose::STANDARD.encode(Md5::digest(data))
}

fn enc(s: &str, url: bool) -> String {
    if url {
        uri_encode(s, true)
    } else {
        s.to_string()
    }
}

/// Parses a single `bytes=` range against `size`. `Ok(None)`: ignore the
/// header (OSS serves the whole object for a malformed range).
fn parse_range(v: &str, size: u64) -> Result<Option<(u64, u64)>, OssError> {
    let Some(spec) = v.trim().strip_prefix("bytes=") else {
        return Ok(None);
    };
    if spec.contains(',') {
        return Ok(None);
    }
    let Some((a, b)) = spec.split_once('-') else {
        return Ok(None);
    };
    let (a, b) = (a.trim(), b.trim());
    let range = if a.is_empty() {
        let Ok(n) = b.parse::<u64>() else {
            return Ok(None);
        };
        if n == 0 || size == 0 {
            return Err(invalid_range(size));
        }
        (size.saturating_sub(n), size - 1)
    } else {
        let Ok(start) = a.parse::<u64>() else {
            return Ok(None);
        };
        let end = if b.is_empty() {
            size.saturating_sub(1)
        } else {
            match b.parse::<u64>() {
                Ok(e) if e >= start => e.min(size.saturating_sub(1)),
                _ => return Ok(None),
            }
        };
        if start >= size {
            return Err(invalid_range(size));
        }
        (start, end)
    };
    Ok(Some(range))
}

fn invalid_range(size: u64) -> OssError {
    OssError::new(
        StatusCode::RANGE_NOT_SATISFIABLE,
        "InvalidRange",
        "The requested range cannot be satisfied",
    )
    .with("ActualObjectSize", size.to_string())
}

async fn get_object(
    state: &State,
    parts: &Parts,
    query: &[(String, String)],
    bucket: &str,
    key: &str,
    head: bool,
) -> Result<Reply, OssError> {
    let no_such_key = || {
        OssError::new(
            StatusCode::NOT_FOUND,
            "NoSuchKey",
            "The specified key does not exist.",
        )
        .with("Key", key)
    };
    let (meta, body) = if head {
        let meta = state.store.head(bucket, key).ok_or_else(no_such_key)?;
        (meta, Bytes::new())
    } else {
        state
            .store
            .get(bucket, key)
            .await?
            .ok_or_else(no_such_key)?
    };
    let etag = format!("\"{}\"", meta.etag);
    let h = &parts.headers;
    if let Some(inm) = header(h, "if-none-match") {
        if inm.trim() == etag || inm.trim() == "*" {
            return Ok(Reply::new(StatusCode::NOT_MODIFIED).header("etag", etag));
        }
    }
    if let Some(im) = header(h, "if-match") {
        if im.trim() != etag && im.trim() != "*" {
            return Err(OssError::new(
                StatusCode::PRECONDITION_FAILED,
                "PreconditionFailed",
                "At least one of the pre-conditions you specified did not hold.",
            ));
        }
    }
    let mut r = Reply::new(StatusCode::OK)
        .header("etag", etag)
        .header("last-modified", http_date(meta.last_modified))
        .header("x-oss-object-type", meta.object_type.clone())
        .header("x-oss-storage-class", "Standard")
        .header("accept-ranges", "bytes")
        .header("content-type", meta.content_type.clone());
    for (k, v) in &meta.user_meta {
        r = r.header(&format!("x-oss-meta-{k}"), v.clone());
    }
    for (k, v) in &meta.headers {
        r = r.header(k, v.clone());
    }
    for (q, hname) in [
        ("response-content-type", "content-type"),
        ("response-content-disposition", "content-disposition"),
        ("response-cache-control", "cache-control"),
        ("response-content-encoding", "content-encoding"),
        ("response-content-language", "content-language"),
        ("response-expires", "expires"),
    ] {
        if let Some(v) = qget(query, q) {
            r.headers.retain(|(k, _)| k != hname);
            r = r.header(hname, v);
        }
    }
    let range = match header(h, "range") {
        Some(v) => parse_range(v, meta.size)?,
        None => None,
    };
    match range {
        Some((s, e)) => {
            r.status = StatusCode::PARTIAL_CONTENT;
            r = r.header("content-range", format!("bytes {s}-{e}/{}", meta.size));
            if head {
                r = r.header("content-length", (e - s + 1).to_string());
            } else {
                // Clamp to the bytes actually held, in case the blob and metadata disagree.
                let end = (e as usize).saturating_add(1).min(body.len());
                r.body = body.slice((s as usize).min(end)..end);
            }
        }
        None => {
            if head {
                r = r.header("content-length", meta.size.to_string());
            } else {
                r.body = body;
            }
        }
    }
    Ok(r)
}

fn list_parts(
    state: &State,
    query: &[(String, String)],
    bucket: &str,
    key: &str,
    id: &str,
) -> Result<Reply, OssError> {
    let parts = state.store.list_parts(bucket, key, id)?;
    let marker: u32 = qget(query, "part-number-marker")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let max: usize = match qget(query, "max-parts") {
        None => 1000,
        Some(v) => v
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=1000).contains(n))
            .ok_or_else(|| {
                OssError::invalid_argument("max-parts must be between 1 and 1000.")
                    .with("ArgumentName", "max-parts")
            })?,
    };
    let after: Vec<_> = parts.into_iter().filter(|(n, _)| *n > marker).collect();
    let truncated = after.len() > max;
    let shown = &after[..after.len().min(max)];
    let mut s = xml::doc("ListPartsResult");
    elem(&mut s, "Bucket", bucket);
    elem(&mut s, "Key", key);
    elem(&mut s, "UploadId", id);
    elem(&mut s, "PartNumberMarker", &marker.to_string());
    elem(
        &mut s,
        "NextPartNumberMarker",
        &shown.last().map(|(n, _)| *n).unwrap_or(0).to_string(),
    );
    elem(&mut s, "MaxParts", &max.to_string());
    elem(
        &mut s,
        "IsTruncated",
        if truncated { "true" } else { "false" },
    );
    for (n, p) in shown {
        s.push_str("  <Part>\n");
        elem(&mut s, "PartNumber", &n.to_string());
        elem(&mut s, "LastModified", &iso_date(p.last_modified));
        elem(&mut s, "ETag", &format!("\"{}\"", p.etag));
        elem(&mut s, "Size", &p.size.to_string());
        s.push_str("  </Part>\n");
    }
    s.push_str("</ListPartsResult>\n");
    Ok(Reply::xml(s))
}

const UNSUPPORTED_BUCKET_SUBRESOURCES: &[&str] = &[
    "acl",
    "uploads",
    "cors",
    "lifecycle",
    "logging",
    "website",
    "referer",
    "location",
    "bucketInfo",
    "stat",
    "policy",
    "versioning",
    "versions",
    "tagging",
    "encryption",
    "delete",
    "inventory",
    "worm",
];

async fn bucket_op(
    state: &State,
    parts: &Parts,
    query: &[(String, String)],
    bucket: &str,
    body: Bytes,
    peer: IpAddr,
) -> Result<Reply, OssError> {
    let acct = state.keys.account_id().to_string();
    let ct = header(&parts.headers, "content-type").unwrap_or_default();
    if parts.method == Method::POST && ct.to_ascii_lowercase().starts_with("multipart/form-data") {
        return post_object(state, bucket, ct, body, peer).await;
    }
    if let Some(sub) = UNSUPPORTED_BUCKET_SUBRESOURCES
        .iter()
        .find(|s| qhas(query, s))
    {
        return Err(not_implemented(&format!("the bucket '{sub}' sub-resource")));
    }
    if parts.method != Method::GET {
        return Err(not_implemented(&format!("{} on a bucket", parts.method)));
    }
    let principal = authn(state, parts, query, bucket, "", &body)?;
    auth::authorize(&principal, &acct, "oss:ListObjects", bucket, None)?;
    list_objects(state, query, bucket)
}

fn list_objects(
    state: &State,
    query: &[(String, String)],
    bucket: &str,
) -> Result<Reply, OssError> {
    let v2 = qget(query, "list-type") == Some("2");
    let url = match qget(query, "encoding-type") {
        None | Some("") => false,
        Some("url") => true,
        Some(v) => {
            return Err(
                OssError::invalid_argument("Invalid Encoding Method specified in Request")
                    .with("ArgumentName", "encoding-type")
                    .with("ArgumentValue", v),
            )
        }
    };
    let prefix = qget(query, "prefix").unwrap_or_default();
    let delimiter = qget(query, "delimiter").unwrap_or_default();
    let max_keys: usize = match qget(query, "max-keys") {
        None | Some("") => 100,
        Some(v) => v
            .parse::<usize>()
            .ok()
            .filter(|n| *n <= 1000)
            .ok_or_else(|| {
                OssError::invalid_argument(
                    "Argument max-keys must be an integer between 0 and 1000.",
                )
                .with("ArgumentName", "max-keys")
                .with("ArgumentValue", v)
            })?,
    };
    let token = qget(query, "continuation-token").filter(|t| !t.is_empty());
    let after = if v2 {
        match token {
            Some(t) => base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(t)
                .ok()
                .and_then(|b| String::from_utf8(b).ok())
                .ok_or_else(|| {
                    OssError::invalid_argument("The continuation token provided is incorrect")
                        .with("ArgumentName", "continuation-token")
                })?,
            None => qget(query, "start-after").unwrap_or_default().to_string(),
        }
    } else {
        qget(query, "marker").unwrap_or_default().to_string()
    };
    let l = state
        .store
        .list(bucket, prefix, delimiter, &after, max_keys);
    let fetch_owner = !v2 || qget(query, "fetch-owner") == Some("true");
    let acct = state.keys.account_id();
    let mut s = xml::doc("ListBucketResult");
    elem(&mut s, "Name", bucket);
    elem(&mut s, "Prefix", &enc(prefix, url));
    if v2 {
        if let Some(sa) = qget(query, "start-after") {
            elem(&mut s, "StartAfter", &enc(sa, url));
        }
        if let Some(t) = token {
            elem(&mut s, "ContinuationToken", t);
        }
    } else {
        elem(&mut s, "Marker", &enc(&after, url));
    }
    elem(&mut s, "MaxKeys", &max_keys.to_string());
    elem(&mut s, "Delimiter", &enc(delimiter, url));
    if url {
        elem(&mut s, "EncodingType", "url");
    }
    elem(
        &mut s,
        "IsTruncated",
        if l.truncated { "true" } else { "false" },
    );
    if let Some(next) = &l.next {
        if v2 {
            elem(
                &mut s,
                "NextContinuationToken",
                &base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(next.as_bytes()),
            );
        } else {
            elem(&mut s, "NextMarker", &enc(next, url));
        }
    }
    if v2 {
        elem(
            &mut s,
            "KeyCount",
            &(l.objects.len() + l.prefixes.len()).to_string(),
        );
    }
    for o in &l.objects {
        s.push_str("  <Contents>\n");
        elem(&mut s, "Key", &enc(&o.key, url));
        elem(&mut s, "LastModified", &iso_date(o.last_modified));
        elem(&mut s, "ETag", &format!("\"{}\"", o.etag));
        elem(&mut s, "Type", &o.object_type);
        elem(&mut s, "Size", &o.size.to_string());
        elem(&mut s, "StorageClass", "Standard");
        if fetch_owner {
            s.push_str("  <Owner>\n");
            elem(&mut s, "ID", acct);
            elem(&mut s, "DisplayName", acct);
            s.push_str("  </Owner>\n");
        }
        s.push_str("  </Contents>\n");
    }
    for p in &l.prefixes {
        s.push_str("  <CommonPrefixes>\n");
        elem(&mut s, "Prefix", &enc(p, url));
        s.push_str("  </CommonPrefixes>\n");
    }
    s.push_str("</ListBucketResult>\n");
    Ok(Reply::xml(s))
}

async fn post_object(
    state: &State,
    bucket: &str,
    content_type: &str,
    body: Bytes,
    peer: IpAddr,
) -> Result<Reply, OssError> {
    let form = post::parse_form(content_type, body).await?;
    let raw_key = form.get("key").filter(|k| !k.is_empty()).ok_or_else(|| {
        OssError::invalid_argument("Bucket POST must contain a field named 'key'.")
            .with("ArgumentName", "key")
    })?;
    let key = raw_key.replace("${filename}", &form.file_name);
    if key.len() > 1023 {
        return Err(OssError::new(
            StatusCode::BAD_REQUEST,
            "InvalidObjectName",
            "The specified object is not valid.",
        ));
    }
    let now = Utc::now().timestamp();
    let pa = post::authenticate_post(&form, bucket, &key, &state.keys, now)?;
    auth::authorize(
        &pa.principal,
        state.keys.account_id(),
        "oss:PutObject",
        bucket,
        Some(&key),
    )?;
    too_large(state, form.file.len())?;
    let mut new = NewObject {
        content_type: form
            .get("Content-Type")
            .map(str::to_string)
            .or_else(|| form.file_type.clone())
            .filter(|c| !c.is_empty())
            .unwrap_or_else(|| "application/octet-stream".into()),
        ..Default::default()
    };
    for (k, v) in &form.fields {
        let lk = k.to_ascii_lowercase();
        if lk.starts_with("x-oss-meta-") {
            insert_user_meta(&mut new.user_meta, &lk, v.clone())?;
        } else if matches!(
            lk.as_str(),
            "content-disposition" | "cache-control" | "content-encoding" | "expires"
        ) {
            new.headers.insert(lk, v.clone());
        }
    }
    let data = form.file.clone();
    let md5 = md5_b64(&data);
    let meta = state
        .store
        .put(
            bucket,
            &key,
            data,
            new,
            md5_hex_upper(&form.file),
            "Normal",
            forbid_overwrite(form.get("x-oss-forbid-overwrite")),
        )
        .await?;
    state.uploaded(&meta, hook::POST_OBJECT, peer);
    let etag = format!("\"{}\"", meta.etag);
    let status = match form.get("success_action_status") {
        Some("200") => StatusCode::OK,
        Some("201") => StatusCode::CREATED,
        _ => StatusCode::NO_CONTENT,
    };
    let mut r = Reply::new(status)
        .header("etag", etag.clone())
        .header("content-md5", md5);
    if status == StatusCode::CREATED {
        let mut s = xml::doc("PostResponse");
        elem(&mut s, "Bucket", bucket);
        elem(
            &mut s,
            "Location",
            &format!("/{}/{}", bucket, uri_encode(&key, true)),
        );
        elem(&mut s, "Key", &key);
        elem(&mut s, "ETag", &etag);
        s.push_str("</PostResponse>\n");
        r.body = Bytes::from(s);
        r = r.header("content-type", "application/xml");
    }
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        assert_eq!(parse_range("bytes=0-0", 10).unwrap(), Some((0, 0)));
        assert_eq!(parse_range("bytes=2-", 10).unwrap(), Some((2, 9)));
        assert_eq!(parse_range("bytes=-3", 10).unwrap(), Some((7, 9)));
        assert_eq!(parse_range("bytes=5-100", 10).unwrap(), Some((5, 9)));
        assert_eq!(parse_range("bytes=5-2", 10).unwrap(), None);
        assert_eq!(parse_range("junk", 10).unwrap(), None);
        assert_eq!(
            parse_range("bytes=10-", 10).unwrap_err().code,
            "InvalidRange"
        );
    }

    #[test]
    fn meta_names_are_validated() {
        let mut m = BTreeMap::new();
        let e = insert_user_meta(&mut m, "x-oss-meta-a b", "1".into()).unwrap_err();
        assert_eq!(e.status, StatusCode::BAD_REQUEST);
        assert_eq!(e.code, "InvalidArgument");
        assert!(insert_user_meta(&mut m, "x-oss-meta-a\nb", "1".into()).is_err());
        assert!(insert_user_meta(&mut m, "x-oss-meta-\u{e9}", "1".into()).is_err());
        assert!(m.is_empty());
        insert_user_meta(&mut m, "x-oss-meta-color", "blue".into()).unwrap();
        assert_eq!(m.get("color").map(String::as_str), Some("blue"));
    }

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

    fn body_bytes(b: Full<Bytes>) -> Bytes {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        rt.block_on(b.collect()).unwrap().to_bytes()
    }

    #[test]
    fn query_keeps_plus() {
        let q = parse_query("a=1+2&b=%2B&uploads&c=").unwrap();
        assert_eq!(q[0], ("a".into(), "1+2".into()));
        assert_eq!(q[1], ("b".into(), "+".into()));
        assert_eq!(q[2], ("uploads".into(), "".into()));
        assert!(parse_query("a=%FF").is_err());
    }
}
