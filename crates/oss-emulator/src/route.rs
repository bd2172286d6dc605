//! Where a request goes: STS, a bucket or an object, from its path, Host and query.
//!
//! The query is decoded as OSS does, the target found, and the request handed to
//! STS, `bucket` or `object`.

use std::net::IpAddr;

use bytes::Bytes;
use http::request::Parts;
use http::{HeaderMap, Method, StatusCode};
use hyper::body::Incoming;

use super::body::{chunks, collect};
use super::bucket::bucket_op;
use super::object::object_op;
use super::request::{no_such_bucket, ObjReq, Reply};
use super::state::State;
use super::sts::{self, StsRequest};
use super::wire::header;
use super::xml::{self, OssError};
use super::EmulatorConfig;

/// Decodes a query string the way OSS does: `%XX` only (a `+` stays a `+`;
/// the SDKs always write spaces as `%20`).
pub(super) fn parse_query(raw: &str) -> Result<Vec<(String, String)>, OssError> {
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

/// Where a request is going.
pub(super) enum Target {
    /// `/` or `/sts`: STS (or nothing).
    Root,
    Bucket(String),
    Object(String, String),
}

pub(super) fn target(cfg: &EmulatorConfig, h: &HeaderMap, path: &str) -> Result<Target, OssError> {
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

pub(super) enum Routed {
    Oss(OssError),
    Sts(sts::StsError),
}

impl From<OssError> for Routed {
    fn from(e: OssError) -> Self {
        Routed::Oss(e)
    }
}

pub(super) async fn route(
    state: &State,
    parts: &Parts,
    body: Incoming,
    rid: &str,
    peer: IpAddr,
    label: &mut String,
) -> Result<Reply, Routed> {
    let cfg = &state.cfg;
    if parts.method == Method::OPTIONS {
        // A preflight: answered from the bucket's CORS rules, unsigned.
        let bucket = match target(cfg, &parts.headers, parts.uri.path())? {
            Target::Bucket(b) | Target::Object(b, _) => b,
            Target::Root => {
                return Err(OssError::access_denied("Preflights are answered for a bucket.").into())
            }
        };
        if !state.store.has_bucket(&bucket) {
            return Err(no_such_bucket(&bucket).into());
        }
        let mut reply = Reply::new(StatusCode::OK);
        reply.headers = state.cors.preflight(&bucket, &parts.headers)?;
        return Ok(reply);
    }
    let query = parse_query(parts.uri.query().unwrap_or_default())?;
    let tgt = target(cfg, &parts.headers, parts.uri.path())?;
    // Forms and XML bodies carry some overhead beyond the object itself.
    let limit = cfg.max_object_bytes.saturating_add(1 << 20);
    if let Some(len) = header(&parts.headers, "content-length").and_then(|v| v.parse::<u64>().ok())
    {
        if len > limit {
            return Err(xml::entity_too_large(cfg.max_object_bytes).into());
        }
    }
    match tgt {
        Target::Root => {
            let body = collect(chunks(body, state.opts.read_timeout), 1 << 20).await?;
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
                    r.body = Bytes::from(json).into();
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
            let req = ObjReq {
                state,
                parts,
                query,
                bucket,
                key: String::new(),
                peer,
            };
            Ok(bucket_op(&req, chunks(body, state.opts.read_timeout)).await?)
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
            let req = ObjReq {
                state,
                parts,
                query,
                bucket,
                key,
                peer,
            };
            Ok(object_op(&req, chunks(body, state.opts.read_timeout)).await?)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_keeps_plus() {
        let q = parse_query("a=1+2&b=%2B&uploads&c=").unwrap();
        assert_eq!(q[0], ("a".into(), "1+2".into()));
        assert_eq!(q[1], ("b".into(), "+".into()));
        assert_eq!(q[2], ("uploads".into(), "".into()));
        assert!(parse_query("a=%FF").is_err());
    }
}
