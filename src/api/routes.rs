//! The one route table: every path the function answers, with its methods,
//! body limit, rate budget and handler. The dispatcher, the CORS preflight,
//! the `405`'s `Allow`, Uppy's `/s3/multipart/{uploadId}/…` paths and the
//! runtime's body limit ([`body_limit_for`]) all read it; nothing else
//! matches paths.

use super::error::ErrorShape;
use crate::oss::calls::COMPLETE_TIMEOUT;
use crate::oss::client::OssClientConfig;
use http::Method;
use std::time::Duration;

/// A path: exact, or one of Uppy's paths that carry the upload id (and part
/// number) in segments. Segments are matched raw (still percent-encoded).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PathPattern {
    /// Exactly this path.
    Exact(&'static str),
    /// `/s3/multipart/{uploadId}`.
    UppyUpload,
    /// `/s3/multipart/{uploadId}/complete`.
    UppyComplete,
    /// `/s3/multipart/{uploadId}/{partNumber}`.
    UppyPart,
}

/// The path segments a pattern captured, still percent-encoded.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Captures<'p> {
    /// `{uploadId}`.
    pub upload_id: Option<&'p str>,
    /// `{partNumber}`.
    pub part: Option<&'p str>,
}

const UPPY_MULTIPART: &str = "/s3/multipart/";

impl PathPattern {
    /// The path as an OpenAPI-style template (`/s3/multipart/{uploadId}`).
    pub fn template(self) -> &'static str {
        match self {
            PathPattern::Exact(p) => p,
            PathPattern::UppyUpload => "/s3/multipart/{uploadId}",
            PathPattern::UppyComplete => "/s3/multipart/{uploadId}/complete",
            PathPattern::UppyPart => "/s3/multipart/{uploadId}/{partNumber}",
        }
    }

    /// What `path` captures if it matches.
    pub fn matches(self, path: &str) -> Option<Captures<'_>> {
        if let PathPattern::Exact(p) = self {
            return (p == path).then_some(Captures::default());
        }
        let rest = path.strip_prefix(UPPY_MULTIPART)?;
        let mut segs = rest.split('/');
        let id = segs.next().filter(|s| !s.is_empty())?;
        let second = segs.next();
        if segs.next().is_some() {
            return None;
        }
        match (self, second) {
            (PathPattern::UppyUpload, None) => Some(Captures {
                upload_id: Some(id),
                part: None,
            }),
            (PathPattern::UppyComplete, Some("complete")) => Some(Captures {
                upload_id: Some(id),
                part: None,
            }),
            (PathPattern::UppyPart, Some(n)) if !n.is_empty() && n != "complete" => {
                Some(Captures {
                    upload_id: Some(id),
                    part: Some(n),
                })
            }
            _ => None,
        }
    }
}

/// Whether and how a route counts against the rate limit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Budget {
    /// Not limited, not authenticated, no CORS refusal (page, health, config,
    /// the OpenAPI document, hook).
    Free,
    /// `RATE_LIMIT_PER_MINUTE`: the credential routes.
    Credential,
    /// The multipart steps after create: their own budget,
    /// [`super::multipart::STEP_RATE_FACTOR`] times larger.
    Step,
}

/// The route families, one handler file each.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Family {
    /// The upload page.
    Page,
    /// Health, public settings and the FC initializer.
    Service,
    /// STS credentials.
    Sts,
    /// POST policies.
    PostPolicy,
    /// Presigned URLs.
    Presign,
    /// `/v1/multipart`.
    Multipart,
    /// Uppy's Companion S3 routes.
    Uppy,
    /// The upload check's verdict.
    Status,
}

impl Family {
    /// The family's name (for generated documents).
    pub fn as_str(self) -> &'static str {
        match self {
            Family::Page => "page",
            Family::Service => "service",
            Family::Sts => "sts",
            Family::PostPolicy => "post-policy",
            Family::Presign => "presign",
            Family::Multipart => "multipart",
            Family::Uppy => "uppy",
            Family::Status => "status",
        }
    }
}

/// The handler that serves an operation (one function in its family's file).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Handler {
    /// `GET /`.
    Page,
    /// `GET /client.js`.
    Client,
    /// `GET /vendor/aliyun-oss-sdk.min.js` (local builds only).
    #[cfg(feature = "local")]
    AliOss,
    /// `GET /healthz`.
    Healthz,
    /// `POST /initialize`.
    Initialize,
    /// `GET /v1/config`.
    PublicConfig,
    /// `GET /v1/openapi.json`.
    OpenApi,
    /// STS credentials.
    Sts,
    /// A POST policy.
    PostPolicy,
    /// A presigned URL.
    Presign,
    /// Multipart create.
    MultipartCreate,
    /// Multipart sign.
    MultipartSign,
    /// Multipart list parts.
    MultipartParts,
    /// Multipart complete.
    MultipartComplete,
    /// Multipart abort.
    MultipartAbort,
    /// Uppy `GET /s3/params`.
    UppyParams,
    /// Uppy create.
    UppyCreate,
    /// Uppy sign one part.
    UppySign,
    /// Uppy list parts.
    UppyList,
    /// Uppy complete.
    UppyComplete,
    /// Uppy abort.
    UppyAbort,
    /// The upload status.
    UploadStatus,
}

impl Handler {
    /// How many STS waits (each at most `STS_TIMEOUT_MS`) the handler may
    /// make: the scoped credentials, plus the connection warm-up for the
    /// initializer; none for the routes that never call STS.
    pub fn sts_waits(self) -> u32 {
        match self {
            Handler::Page
            | Handler::Client
            | Handler::Healthz
            | Handler::PublicConfig
            | Handler::OpenApi => 0,
            #[cfg(feature = "local")]
            Handler::AliOss => 0,
            Handler::Initialize => 2,
            _ => 1,
        }
    }

    /// How long authenticating may wait for the JWKS (`JWT_JWKS_URL`: the
    /// first set, a stale set's refresh or one refetch for an unknown `kid`,
    /// each bounded by [`crate::auth::jwks::FETCH_TIMEOUT`]); none for the
    /// routes that authenticate no one.
    pub fn auth_wait(self) -> Duration {
        match self {
            Handler::Page
            | Handler::Client
            | Handler::Healthz
            | Handler::PublicConfig
            | Handler::Initialize => Duration::ZERO,
            #[cfg(feature = "local")]
            Handler::AliOss => Duration::ZERO,
            _ => crate::auth::jwks::FETCH_TIMEOUT,
        }
    }

    /// How long the handler's own OSS calls may take together; past it the
    /// request answers 504 `OssTimeout` (OSS may still finish what it was
    /// asked, e.g. a complete). Each call is also bounded by the OSS client's
    /// per-call timeout; listing parts may page ten times, so its pages
    /// share a budget of two calls.
    pub fn oss_budget(self) -> Duration {
        let call = OssClientConfig::default().request_timeout;
        match self {
            #[cfg(feature = "local")]
            Handler::AliOss => Duration::ZERO,
            Handler::Page
            | Handler::Client
            | Handler::Healthz
            | Handler::Initialize
            | Handler::PublicConfig
            | Handler::OpenApi
            | Handler::Sts
            | Handler::PostPolicy
            | Handler::Presign
            | Handler::MultipartSign
            | Handler::UppyParams
            | Handler::UppySign => Duration::ZERO,
            Handler::MultipartCreate
            | Handler::UppyCreate
            | Handler::MultipartAbort
            | Handler::UppyAbort
            | Handler::UploadStatus => call,
            Handler::MultipartParts | Handler::UppyList => 2 * call,
            // ListParts (its budget), CompleteMultipartUpload (its own
            // longer timeout), then one more call (an abort after a refusal).
            Handler::MultipartComplete | Handler::UppyComplete => {
                2 * call + COMPLETE_TIMEOUT + call
            }
        }
    }

    /// The longest a request served by this handler runs once its body is
    /// read, when each STS wait is at most `sts_wait` (plus its JWKS wait,
    /// [`Handler::auth_wait`]): what
    /// [`super::App::handle`] cuts it at, and what the deployed function
    /// timeout must exceed (tests/deploy reads it through
    /// `oss-direct-upload deploy-facts`).
    pub fn deadline(self, sts_wait: Duration) -> Duration {
        self.auth_wait() + sts_wait * self.sts_waits() + self.oss_budget() + HANDLER_SLACK
    }
}

/// Time a handler's deadline allows beyond its STS and OSS waits (parsing,
/// signing, JSON).
pub const HANDLER_SLACK: Duration = Duration::from_secs(1);

/// What one or more methods on a route do.
#[derive(Debug)]
pub struct Operation {
    /// The methods served by this operation.
    pub methods: &'static [Method],
    /// How it counts against the rate limit.
    pub budget: Budget,
    /// The handler.
    pub handler: Handler,
}

/// One path the function answers.
#[derive(Debug)]
pub struct RouteSpec {
    /// The path.
    pub path: PathPattern,
    /// The handler file.
    pub family: Family,
    /// The body limit when not the runtime's default (64 KiB).
    pub body_limit: Option<usize>,
    /// A route for Alibaba's sample clients (served only with `LEGACY_ROUTES=true`).
    pub legacy: bool,
    /// What each method does; methods not listed get 405.
    pub operations: &'static [Operation],
}

impl RouteSpec {
    /// Every method the route takes, in table order.
    pub fn methods(&self) -> impl Iterator<Item = &'static Method> + '_ {
        self.operations.iter().flat_map(|o| o.methods.iter())
    }

    /// The methods as an `Allow` value (`GET, POST`).
    pub fn allow(&self) -> String {
        self.methods()
            .map(Method::as_str)
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// The operation serving `method`, if any.
    pub fn operation(&self, method: &Method) -> Option<&'static Operation> {
        self.operations.iter().find(|o| o.methods.contains(method))
    }

    /// Whether the route hands out credentials (or reads with them):
    /// authenticated, rate-limited, refused to unlisted origins.
    pub fn is_credential_route(&self) -> bool {
        self.operations.iter().any(|o| o.budget != Budget::Free)
    }

    /// How the route's errors are laid out.
    pub fn error_shape(&self) -> ErrorShape {
        match self.family {
            Family::Sts => ErrorShape::Sts,
            Family::Uppy => ErrorShape::Uppy,
            _ => ErrorShape::Plain,
        }
    }
}

/// Largest request body the complete routes accept: 10,000 parts written as
/// `{"partNumber":10000,"etag":"\"<32 hex>\""}` are about 600 KB.
pub const COMPLETE_BODY_LIMIT: usize = 1024 * 1024;

const GET_HEAD: &[Method] = &[Method::GET, Method::HEAD];
const GET_POST: &[Method] = &[Method::GET, Method::POST];

const fn one(methods: &'static [Method], budget: Budget, handler: Handler) -> Operation {
    Operation {
        methods,
        budget,
        handler,
    }
}

const fn route(path: PathPattern, family: Family, operations: &'static [Operation]) -> RouteSpec {
    RouteSpec {
        path,
        family,
        body_limit: None,
        legacy: false,
        operations,
    }
}

const fn legacy(path: &'static str, family: Family, operations: &'static [Operation]) -> RouteSpec {
    RouteSpec {
        path: PathPattern::Exact(path),
        family,
        body_limit: None,
        legacy: true,
        operations,
    }
}

/// What the sample clients' routes do: the `/v1` handler, answered in their shapes.
const LEGACY_STS: &[Operation] = &[one(GET_POST, Budget::Credential, Handler::Sts)];
const LEGACY_POST_POLICY: &[Operation] = &[one(GET_POST, Budget::Credential, Handler::PostPolicy)];
const LEGACY_PRESIGN: &[Operation] = &[one(GET_POST, Budget::Credential, Handler::Presign)];

use Budget::{Credential, Free, Step};
use PathPattern::Exact;

static ROUTES: &[RouteSpec] = &[
    route(
        Exact("/"),
        Family::Page,
        &[one(GET_HEAD, Free, Handler::Page)],
    ),
    route(
        Exact("/index.html"),
        Family::Page,
        &[one(GET_HEAD, Free, Handler::Page)],
    ),
    #[cfg(feature = "local")]
    route(
        Exact(super::page::ALI_OSS_PATH),
        Family::Page,
        &[one(GET_HEAD, Free, Handler::AliOss)],
    ),
    route(
        Exact("/client.js"),
        Family::Page,
        &[one(GET_HEAD, Free, Handler::Client)],
    ),
    route(
        Exact("/healthz"),
        Family::Service,
        &[one(GET_HEAD, Free, Handler::Healthz)],
    ),
    route(
        Exact("/initialize"),
        Family::Service,
        &[one(&[Method::POST], Free, Handler::Initialize)],
    ),
    route(
        Exact("/v1/config"),
        Family::Service,
        &[one(GET_HEAD, Free, Handler::PublicConfig)],
    ),
    route(
        Exact("/v1/openapi.json"),
        Family::Service,
        &[one(GET_HEAD, Free, Handler::OpenApi)],
    ),
    route(
        Exact("/v1/sts"),
        Family::Sts,
        &[one(GET_POST, Credential, Handler::Sts)],
    ),
    legacy("/get_sts_token", Family::Sts, LEGACY_STS),
    legacy("/get_sts_token_for_oss_upload", Family::Sts, LEGACY_STS),
    route(
        Exact("/v1/post-policy"),
        Family::PostPolicy,
        &[one(GET_POST, Credential, Handler::PostPolicy)],
    ),
    legacy(
        "/get_post_signature_for_oss_upload",
        Family::PostPolicy,
        LEGACY_POST_POLICY,
    ),
    route(
        Exact("/v1/presign"),
        Family::Presign,
        &[one(GET_POST, Credential, Handler::Presign)],
    ),
    legacy(
        "/get_presigned_url_for_oss_upload",
        Family::Presign,
        LEGACY_PRESIGN,
    ),
    route(
        Exact("/v1/uploads/status"),
        Family::Status,
        &[one(&[Method::GET], Credential, Handler::UploadStatus)],
    ),
    route(
        Exact("/v1/multipart"),
        Family::Multipart,
        &[
            one(&[Method::POST], Credential, Handler::MultipartCreate),
            // `DELETE /v1/multipart?key=&uploadId=` is an abort.
            one(&[Method::DELETE], Step, Handler::MultipartAbort),
        ],
    ),
    route(
        Exact("/v1/multipart/sign"),
        Family::Multipart,
        &[one(&[Method::POST], Step, Handler::MultipartSign)],
    ),
    route(
        Exact("/v1/multipart/parts"),
        Family::Multipart,
        &[one(GET_POST, Step, Handler::MultipartParts)],
    ),
    RouteSpec {
        body_limit: Some(COMPLETE_BODY_LIMIT),
        ..route(
            Exact("/v1/multipart/complete"),
            Family::Multipart,
            &[one(&[Method::POST], Step, Handler::MultipartComplete)],
        )
    },
    route(
        Exact("/v1/multipart/abort"),
        Family::Multipart,
        &[one(
            &[Method::POST, Method::DELETE],
            Step,
            Handler::MultipartAbort,
        )],
    ),
    route(
        Exact("/s3/params"),
        Family::Uppy,
        &[one(&[Method::GET], Credential, Handler::UppyParams)],
    ),
    route(
        Exact("/s3/multipart"),
        Family::Uppy,
        &[one(&[Method::POST], Credential, Handler::UppyCreate)],
    ),
    route(
        PathPattern::UppyUpload,
        Family::Uppy,
        &[
            one(&[Method::GET], Step, Handler::UppyList),
            one(&[Method::DELETE], Step, Handler::UppyAbort),
        ],
    ),
    RouteSpec {
        body_limit: Some(COMPLETE_BODY_LIMIT),
        ..route(
            PathPattern::UppyComplete,
            Family::Uppy,
            &[one(&[Method::POST], Step, Handler::UppyComplete)],
        )
    },
    route(
        PathPattern::UppyPart,
        Family::Uppy,
        &[one(&[Method::GET], Step, Handler::UppySign)],
    ),
];

/// Every route the function answers, in one table (for generated documents
/// such as an OpenAPI description or the FC trigger's methods).
pub fn routes() -> &'static [RouteSpec] {
    ROUTES
}

/// The route `path` names, with what its pattern captured.
pub fn lookup(path: &str) -> Option<(&'static RouteSpec, Captures<'_>)> {
    ROUTES
        .iter()
        .find_map(|r| r.path.matches(path).map(|c| (r, c)))
}

/// The body limit for `path` when it differs from the runtime's default
/// (the runtime asks before any route runs).
pub fn body_limit_for(path: &str) -> Option<usize> {
    lookup(path).and_then(|(r, _)| r.body_limit)
}

/// How a 404 for `path` is laid out: Uppy shows a top-level `message`, so a
/// path under its `/s3/multipart/` that matches none of its routes still
/// gets one.
pub(super) fn not_found_shape(path: &str) -> ErrorShape {
    if path.starts_with(UPPY_MULTIPART) {
        ErrorShape::Uppy
    } else {
        ErrorShape::Plain
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn handler(method: Method, path: &str) -> Option<Handler> {
        let (r, _) = lookup(path)?;
        r.operation(&method).map(|o| o.handler)
    }

    #[test]
    fn routes_match_paths() {
        assert_eq!(handler(Method::GET, "/v1/sts"), Some(Handler::Sts));
        let (r, _) = lookup("/get_sts_token").unwrap();
        assert!(r.legacy && r.operation(&Method::POST).is_some());
        assert_eq!(
            handler(Method::GET, "/get_presigned_url_for_oss_upload"),
            Some(Handler::Presign)
        );
        assert_eq!(
            handler(Method::POST, "/v1/multipart/complete"),
            Some(Handler::MultipartComplete)
        );
        assert_eq!(
            handler(Method::DELETE, "/v1/multipart"),
            Some(Handler::MultipartAbort)
        );
        assert_eq!(
            handler(Method::GET, "/v1/uploads/status"),
            Some(Handler::UploadStatus)
        );
        assert!(lookup("/v1/multipart/nope").is_none());
        assert!(lookup("/v1/sts/").is_none());
        assert!(lookup("/nope").is_none());
        assert!(lookup("/s3/sts").is_none());
    }

    #[test]
    fn uppy_paths_capture_the_upload_id_and_part() {
        let (r, c) = lookup("/s3/multipart/0004B98%2F1/7").unwrap();
        assert_eq!(r.path, PathPattern::UppyPart);
        assert_eq!(c.upload_id, Some("0004B98%2F1"));
        assert_eq!(c.part, Some("7"));
        assert_eq!(
            handler(Method::GET, "/s3/multipart/U"),
            Some(Handler::UppyList)
        );
        assert_eq!(
            handler(Method::DELETE, "/s3/multipart/U"),
            Some(Handler::UppyAbort)
        );
        assert_eq!(
            handler(Method::POST, "/s3/multipart/U/complete"),
            Some(Handler::UppyComplete)
        );
        assert_eq!(handler(Method::GET, "/s3/multipart/U/complete"), None);
        assert_eq!(handler(Method::PUT, "/s3/multipart/U"), None);
        assert!(lookup("/s3/multipart/U/1/2").is_none());
        assert!(lookup("/s3/multipart//1").is_none());
        assert!(lookup("/s3/multipart/").is_none());
        assert_eq!(lookup("/s3/multipart/U").unwrap().0.allow(), "GET, DELETE");
    }

    #[test]
    fn complete_routes_get_the_larger_body_limit_only() {
        assert_eq!(
            body_limit_for("/v1/multipart/complete"),
            Some(COMPLETE_BODY_LIMIT)
        );
        assert_eq!(
            body_limit_for("/s3/multipart/UP%2F1/complete"),
            Some(COMPLETE_BODY_LIMIT)
        );
        assert_eq!(body_limit_for("/v1/multipart"), None);
        assert_eq!(body_limit_for("/v1/presign"), None);
        assert_eq!(body_limit_for("/s3/multipart/UP/3"), None);
    }

    #[test]
    fn every_path_is_listed_once_and_every_method_once_per_path() {
        for (i, r) in ROUTES.iter().enumerate() {
            assert!(
                ROUTES[i + 1..].iter().all(|o| o.path != r.path),
                "{:?} twice",
                r.path
            );
            let methods: Vec<_> = r.methods().collect();
            for (j, m) in methods.iter().enumerate() {
                assert!(!methods[j + 1..].contains(m), "{:?}: {m} twice", r.path);
            }
            // Every pattern matches its own template's concrete form.
            let concrete = r
                .path
                .template()
                .replace("{uploadId}", "U")
                .replace("{partNumber}", "3");
            assert_eq!(lookup(&concrete).map(|(f, _)| f.path), Some(r.path));
        }
    }
}
