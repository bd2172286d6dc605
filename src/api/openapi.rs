//! The OpenAPI 3.1 document of every route: generated from the route table
//! ([`super::routes::routes`]: paths, methods, families) plus one schema
//! fragment per [`Handler`] (parameters, request body, success answer, every
//! [`ErrorCode`] it can answer), kept in the repository as
//! `docs/openapi.json` and served at `GET /v1/openapi.json`.
//!
//! The deployed build carries only the committed document, minified by
//! `build.rs` (the file is for people; the binary carries the compact form);
//! the generator is compiled for tests and `local` builds, where
//! `oss-direct-upload openapi` prints it. A unit test holds the generated
//! document equal to the committed file (`UPDATE=1` rewrites it), so the
//! document cannot drift from the routes. Served with `LEGACY_ROUTES` off,
//! the sample clients' routes are left out of it.

use crate::runtime::Response;
use bytes::Bytes;
use http::HeaderValue;
use std::sync::OnceLock;

/// The committed document (`docs/openapi.json`), every route included, as
/// compact JSON (`build.rs` minifies it: about half the bytes in the binary).
pub const DOCUMENT: &str = include_str!(concat!(env!("OUT_DIR"), "/openapi.min.json"));

/// `GET /v1/openapi.json`: the committed document, without the sample
/// clients' routes when they are off. Built once per process.
pub(super) fn served(legacy_routes: bool) -> Response {
    static WITH_LEGACY: OnceLock<Bytes> = OnceLock::new();
    static WITHOUT_LEGACY: OnceLock<Bytes> = OnceLock::new();
    let body = if legacy_routes {
        WITH_LEGACY.get_or_init(|| Bytes::from_static(DOCUMENT.as_bytes()))
    } else {
        WITHOUT_LEGACY.get_or_init(without_legacy_routes)
    };
    let mut resp = http::Response::new(body.clone());
    resp.headers_mut().insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    resp
}

/// The committed document minus the paths the route table marks `legacy`.
fn without_legacy_routes() -> Bytes {
    let Ok(mut doc) = serde_json::from_str::<serde_json::Value>(DOCUMENT) else {
        // ok: the committed file is held valid JSON by a test; serve it as is.
        return Bytes::from_static(DOCUMENT.as_bytes());
    };
    if let Some(paths) = doc.get_mut("paths").and_then(|p| p.as_object_mut()) {
        for r in super::routes::routes().iter().filter(|r| r.legacy) {
            paths.shift_remove(r.path.template());
        }
    }
    Bytes::from(serde_json::to_vec(&doc).unwrap_or_else(|_| DOCUMENT.as_bytes().to_vec()))
}

#[cfg(any(test, feature = "local"))]
pub use generate::document;

/// The generator: route table + per-handler fragments → the document.
#[cfg(any(test, feature = "local"))]
mod generate {
    use super::super::error::ErrorCode::{self, *};
    use super::super::error::ErrorShape;
    use super::super::routes::{routes, Family, Handler, Operation, RouteSpec};
    use http::Method;
    use serde_json::{json, Map, Value};

    /// What one operation takes and answers, besides the route table's facts.
    struct Fragment {
        summary: &'static str,
        description: String,
        /// OpenAPI parameter objects.
        parameters: Vec<Value>,
        /// The JSON request body's schema (POST).
        body: Option<Value>,
        /// Whether the body must be sent.
        body_required: bool,
        /// The 200 answer.
        ok: Ok,
        /// Every error code the operation answers with.
        errors: Vec<ErrorCode>,
    }

    /// A 200 answer.
    enum Ok {
        Json(Value),
        Text(&'static str, &'static str),
    }

    /// The runtime's own refusals, before any route runs (any operation).
    const RUNTIME: &[ErrorCode] = &[BadRequestBody, RequestTimeout, PayloadTooLarge];
    /// Admission on a credential route ([`super::super::admission`]).
    const ADMIT: &[ErrorCode] = &[
        UnknownProfile,
        MethodNotAllowedForProfile,
        Unauthorized,
        InvalidToken,
        Forbidden,
        JwksUnavailable,
        OriginNotAllowed,
        RateLimited,
    ];
    /// Admission of a step on an existing upload: the profile is the key's.
    const ADMIT_STEP: &[ErrorCode] = &[
        MethodNotAllowedForProfile,
        Unauthorized,
        InvalidToken,
        Forbidden,
        JwksUnavailable,
        OriginNotAllowed,
        RateLimited,
    ];
    /// Admission of a read of one's own object (no upload method to allow).
    const ADMIT_READ: &[ErrorCode] = &[
        UnknownProfile,
        Unauthorized,
        InvalidToken,
        Forbidden,
        JwksUnavailable,
        OriginNotAllowed,
        RateLimited,
    ];
    /// Scoped STS credentials from the broker.
    const STS: &[ErrorCode] = &[
        StsMisconfigured,
        StsRejected,
        StsUpstreamError,
        StsUnavailable,
        StsBadResponse,
        StsCredentialsTooShortLived,
        StsThrottled,
        NoFunctionCredentials,
        StsTimeout,
    ];
    /// Any OSS call the function makes itself.
    const OSS: &[ErrorCode] = &[OssUnavailable, OssRejected, OssBadResponse, OssTimeout];
    /// A profile's size and type limits.
    const LIMITS: &[ErrorCode] = &[FileTooLarge, FileTooSmall, ContentTypeNotAllowed];
    /// A key the caller names: a usable key, under their prefix.
    const OWN_KEY: &[ErrorCode] = &[InvalidParameter, KeyOutsidePrefix];
    /// Complete: the checks against ListParts, then OSS's own refusals.
    const COMPLETE: &[ErrorCode] = &[
        InvalidPartNumber,
        NoParts,
        PartsMismatch,
        TooManyParts,
        PartTooSmall,
        FileTooSmall,
        FileTooLarge,
        InvalidPart,
        InvalidPartOrder,
        EntityTooSmall,
        NoSuchUpload,
        FileAlreadyExists,
    ];

    fn codes(sets: &[&[ErrorCode]]) -> Vec<ErrorCode> {
        ErrorCode::ALL
            .iter()
            .copied()
            .filter(|c| *c == InternalError || sets.iter().any(|s| s.contains(c)))
            .collect()
    }

    fn text(description: &str) -> Value {
        json!({"type": "string", "maxLength": 2048, "description": description})
    }

    fn query(name: &str, required: bool, schema: Value) -> Value {
        let description = schema["description"].clone();
        let mut schema = schema;
        if let Some(o) = schema.as_object_mut() {
            o.remove("description");
        }
        json!({"name": name, "in": "query", "required": required,
               "description": description, "schema": schema})
    }

    fn path(name: &str, schema: Value, description: &str) -> Value {
        json!({"name": name, "in": "path", "required": true,
               "description": description, "schema": schema})
    }

    fn schema_ref(name: &str) -> Value {
        json!({"$ref": format!("#/components/schemas/{name}")})
    }

    /// The declared upload's parameters, and the profile.
    fn upload_fields() -> Vec<(&'static str, Value)> {
        vec![
            (
                "filename",
                text("The file's name; only its last path segment is used, cleaned."),
            ),
            (
                "contentType",
                text("The file's media type; the profile's allowed types decide."),
            ),
            ("size", schema_ref("Size")),
            ("profile", schema_ref("Profile")),
        ]
    }

    /// The same fields as query parameters (GET) or a JSON object body (POST).
    fn fields_as(
        method: &Method,
        fields: Vec<(&'static str, Value)>,
        required: &[&str],
    ) -> (Vec<Value>, Option<Value>) {
        if method == Method::POST {
            let mut props = Map::new();
            for (name, schema) in fields {
                props.insert(name.to_owned(), body_value(schema));
            }
            // Other names are ignored, but their values are read like these.
            let mut body = json!({"type": "object", "properties": props,
                "additionalProperties": {"type": ["string", "number", "null"], "maxLength": 2048}});
            if !required.is_empty() {
                body["required"] = json!(required);
            }
            (Vec::new(), Some(body))
        } else {
            let params = fields
                .into_iter()
                .map(|(name, schema)| query(name, required.contains(&name), query_value(schema)))
                .collect();
            (params, None)
        }
    }

    /// A query value: the schema, with a `$ref` to the shared one resolved
    /// to its query form.
    fn query_value(schema: Value) -> Value {
        match schema.get("$ref").and_then(Value::as_str) {
            Some("#/components/schemas/Size") => {
                json!({"type": "integer", "minimum": 1, "maximum": u64::MAX, "description": "The file's size in bytes."})
            }
            Some("#/components/schemas/Profile") => {
                json!({"type": "string", "maxLength": 2048, "description": "The upload profile (`default` when absent); `/v1/config` lists them."})
            }
            _ => schema,
        }
    }

    /// A JSON body value: the parameters route reads strings and numbers
    /// alike as text and skips `null` ([`super::super::params::parse`]).
    fn body_value(schema: Value) -> Value {
        if schema.get("$ref").is_some() {
            return schema;
        }
        let mut s = schema;
        s["type"] = json!(["string", "number", "null"]);
        s
    }

    fn upload_id_field() -> Value {
        schema_ref("UploadId")
    }

    fn key_field(description: &str) -> Value {
        json!({"type": "string", "minLength": 1, "maxLength": 2048, "description": description})
    }

    fn fragment(handler: Handler, method: &Method, legacy: bool) -> Fragment {
        let post = method == Method::POST;
        let json_errors: &[ErrorCode] = if post {
            &[InvalidParameter, InvalidJson]
        } else {
            &[InvalidParameter]
        };
        let mut f = Fragment {
            summary: "",
            description: String::new(),
            parameters: Vec::new(),
            body: None,
            body_required: false,
            ok: Ok::Json(json!({})),
            errors: Vec::new(),
        };
        match handler {
            Handler::Page => {
                f.summary = "The upload page";
                f.description = "A page that uploads files through this function (every method the deployment serves).".into();
                f.ok = Ok::Text("text/html", "The page.");
                f.errors = codes(&[RUNTIME]);
                f.errors.retain(|c| *c != InternalError);
            }
            Handler::Client => {
                f.summary = "The browser client";
                f.description = "The dependency-free ES module the upload page runs on (`client/oss-direct-upload.js`).".into();
                f.ok = Ok::Text("text/javascript", "The module.");
                f.errors = codes(&[RUNTIME]);
                f.errors.retain(|c| *c != InternalError);
            }
            Handler::Healthz => {
                f.summary = "Health";
                f.description =
                    "Answers while the function runs; touches neither STS nor OSS.".into();
                f.ok = Ok::Json(
                    json!({"type": "object", "required": ["status"], "additionalProperties": false,
                    "properties": {"status": {"const": "ok"}}}),
                );
                f.errors = codes(&[RUNTIME]);
            }
            // FC's lifecycle hook: `document` leaves its route out.
            // FC's lifecycle hook, and the local-only ali-oss copy: `document`
            // leaves their routes out (the deployed build serves this document).
            Handler::Initialize => {}
            #[cfg(feature = "local")]
            Handler::AliOss => {}
            Handler::PublicConfig => {
                f.summary = "Public settings";
                f.description = "The deployment's settings a browser page may see (nothing secret): bucket, endpoint, limits and profiles.".into();
                f.ok = Ok::Json(schema_ref("PublicConfig"));
                f.errors = codes(&[RUNTIME]);
            }
            Handler::OpenApi => {
                f.summary = "This document";
                f.description = "The OpenAPI 3.1 document of every route (the sample clients' routes only with LEGACY_ROUTES=true).".into();
                f.ok = Ok::Json(json!({"type": "object", "required": ["openapi", "paths"]}));
                f.errors = codes(&[RUNTIME]);
            }
            Handler::Sts => {
                f.summary = if legacy {
                    "STS credentials (Alibaba's sample clients)"
                } else {
                    "STS credentials"
                };
                f.description = "Temporary credentials of the upload role, limited by a session policy to the caller's prefix in the profile, in the shape the Android/iOS `OSSAuthCredentialsProvider` and ali-oss `refreshSTSToken` read. They live at least 6 minutes.".into();
                let (p, b) = fields_as(method, vec![("profile", schema_ref("Profile"))], &[]);
                (f.parameters, f.body) = (p, b);
                f.ok = Ok::Json(schema_ref(if legacy {
                    "LegacyStsCredentials"
                } else {
                    "StsCredentials"
                }));
                f.errors = codes(&[RUNTIME, json_errors, ADMIT, STS]);
            }
            Handler::PostPolicy => {
                f.summary = if legacy {
                    "POST signature (Alibaba's sample clients)"
                } else {
                    "A POST policy"
                };
                f.description = "A signed browser form for one upload: the key, size range, content type and (unless the profile replaces) no-overwrite are written into the policy, so OSS refuses a form that breaks them. Send `fields` in order, then `file` last.".into();
                let (p, b) = fields_as(method, upload_fields(), &[]);
                (f.parameters, f.body) = (p, b);
                f.ok = Ok::Json(schema_ref(if legacy {
                    "LegacyPostSignature"
                } else {
                    "PostPolicy"
                }));
                f.errors = codes(&[RUNTIME, json_errors, ADMIT, LIMITS, STS]);
            }
            Handler::Presign => {
                f.summary = if legacy {
                    "A presigned PUT URL (Alibaba's sample clients)"
                } else {
                    "A presigned URL"
                };
                f.description = "A presigned PUT bound to the declared type and (V4) size, or with `method=GET` a presigned GET of one of the caller's own uploads.".into();
                let mut fields = upload_fields();
                fields.push(("method", json!({"type": "string", "pattern": "^([Pp][Uu][Tt]|[Gg][Ee][Tt])$",
                    "description": "PUT (the default): an upload; GET: read back `key` (any letter case)."})));
                // Read only for GET (an empty one is then a 400); a PUT ignores it.
                fields.push(("key", text("For GET: the key the upload went to.")));
                let (p, b) = fields_as(method, fields, &[]);
                (f.parameters, f.body) = (p, b);
                f.ok = if legacy {
                    Ok::Text("text/plain", "The presigned PUT URL (PUT the file with `Content-Type: image/png` unless another type was asked for).")
                } else {
                    Ok::Json(schema_ref("PresignedUrl"))
                };
                f.errors = codes(&[RUNTIME, json_errors, ADMIT, LIMITS, OWN_KEY, STS]);
            }
            Handler::UploadStatus => {
                f.summary = "An upload's check verdict";
                f.description = "What the upload check decided about one of the caller's uploads: `pending`, `verified`, `rejected` (with the reason while the object is being removed) or `missing`.".into();
                f.parameters = vec![
                    query("key", true, key_field("The key the upload went to.")),
                    query("profile", false, query_value(schema_ref("Profile"))),
                ];
                f.ok = Ok::Json(schema_ref("UploadStatus"));
                f.errors = codes(&[RUNTIME, json_errors, ADMIT_READ, OWN_KEY, STS, OSS]);
            }
            Handler::MultipartCreate => {
                f.summary = "Create a multipart upload";
                f.description = "Checks the declared type and size, builds the key under the caller's prefix, calls InitiateMultipartUpload with the type pinned and (unless the profile replaces) no-overwrite, and picks the part size.".into();
                let (_, b) = fields_as(method, upload_fields(), &["size"]);
                f.body = b;
                f.body_required = true;
                f.ok = Ok::Json(schema_ref("MultipartCreated"));
                f.errors = codes(&[
                    RUNTIME,
                    json_errors,
                    ADMIT,
                    LIMITS,
                    STS,
                    OSS,
                    &[FileAlreadyExists],
                ]);
            }
            Handler::MultipartSign => {
                f.summary = "Sign part URLs";
                f.description = "Presigned UploadPart URLs for up to 1000 parts; with the total `size`, each V4 URL is bound to its part's exact length and parts past the plan are refused. No OSS call.".into();
                f.body = Some(
                    json!({"type": "object", "required": ["key", "uploadId", "partNumbers"],
                    "properties": {
                        "key": key_field("The key create returned."),
                        "uploadId": upload_id_field(),
                        "size": {"type": ["integer", "null"], "minimum": 1, "maximum": u64::MAX, "description": "The file's total size in bytes, as declared at create."},
                        "partNumbers": {"type": "array", "minItems": 1, "maxItems": 1000, "uniqueItems": true,
                            "items": schema_ref("PartNumber")},
                    }}),
                );
                f.body_required = true;
                f.ok = Ok::Json(schema_ref("SignedParts"));
                f.errors = codes(&[
                    RUNTIME,
                    &[InvalidJson],
                    ADMIT_STEP,
                    OWN_KEY,
                    &[InvalidPartNumber, FileTooLarge, FileTooSmall],
                    STS,
                ]);
            }
            Handler::MultipartParts => {
                f.summary = "List uploaded parts";
                f.description =
                    "The parts OSS holds (every ListParts page), to resume an upload.".into();
                let fields = vec![
                    ("key", key_field("The key create returned.")),
                    ("uploadId", upload_id_field()),
                ];
                let (p, b) = target_fields(method, fields);
                (f.parameters, f.body) = (p, b);
                f.body_required = post;
                f.ok = Ok::Json(schema_ref("ListedParts"));
                f.errors = codes(&[
                    RUNTIME,
                    json_errors,
                    ADMIT_STEP,
                    OWN_KEY,
                    STS,
                    OSS,
                    &[NoSuchUpload],
                ]);
            }
            Handler::MultipartComplete => {
                f.summary = "Complete a multipart upload";
                f.description = "Lists the parts again; the client's list must equal it and the total must be within the profile's limits, or the upload is aborted before the 4xx. Then CompleteMultipartUpload.".into();
                f.body = Some(
                    json!({"type": "object", "required": ["key", "uploadId", "parts"],
                    "properties": {
                        "key": key_field("The key create returned."),
                        "uploadId": upload_id_field(),
                        "parts": {"type": "array", "minItems": 1, "maxItems": 10000, "items": {
                            "type": "object", "required": ["partNumber", "etag"],
                            "properties": {
                                "partNumber": schema_ref("PartNumber"),
                                "etag": {"type": "string", "description": "The part's ETag, as OSS answered the PUT (`ETag` and `eTag` are accepted too)."},
                            }}},
                    }}),
                );
                f.body_required = true;
                f.ok = Ok::Json(schema_ref("MultipartCompleted"));
                f.errors = codes(&[
                    RUNTIME,
                    &[InvalidJson],
                    ADMIT_STEP,
                    OWN_KEY,
                    COMPLETE,
                    STS,
                    OSS,
                ]);
            }
            Handler::MultipartAbort => {
                f.summary = "Abort a multipart upload";
                f.description = "AbortMultipartUpload: the parts are removed.".into();
                let fields = vec![
                    ("key", key_field("The key create returned.")),
                    ("uploadId", upload_id_field()),
                ];
                let (p, b) = target_fields(method, fields);
                (f.parameters, f.body) = (p, b);
                f.body_required = post;
                f.ok = Ok::Json(schema_ref("MultipartAborted"));
                f.errors = codes(&[
                    RUNTIME,
                    json_errors,
                    ADMIT_STEP,
                    OWN_KEY,
                    STS,
                    OSS,
                    &[NoSuchUpload],
                ]);
            }
            Handler::UppyParams => {
                f.summary = "Uppy: a POST policy";
                f.description =
                    "The POST policy `/v1/post-policy` signs, in the shape `@uppy/aws-s3` reads."
                        .into();
                f.parameters = vec![
                    query("filename", false, text("The file's name.")),
                    query("type", false, text("The file's media type.")),
                    query("profile", false, query_value(schema_ref("Profile"))),
                    query(
                        "metadata[profile]",
                        false,
                        query_value(schema_ref("Profile")),
                    ),
                ];
                f.ok = Ok::Json(schema_ref("UppyParams"));
                f.errors = codes(&[RUNTIME, &[InvalidParameter], ADMIT, LIMITS, STS]);
            }
            Handler::UppyCreate => {
                f.summary = "Uppy: create a multipart upload";
                f.description = "`/v1/multipart`'s create without a declared size (the total is checked at complete).".into();
                f.body = Some(json!({"type": "object", "properties": {
                    "filename": {"type": ["string", "null"], "description": "The file's name."},
                    "type": {"type": ["string", "null"], "description": "The file's media type."},
                    "profile": {"type": ["string", "null"]},
                    "metadata": {"type": ["object", "null"], "description": "Uppy's file meta; a string `profile` in it picks the profile."},
                }}));
                f.ok = Ok::Json(schema_ref("UppyCreated"));
                f.errors = codes(&[
                    RUNTIME,
                    &[InvalidJson, InvalidParameter],
                    ADMIT,
                    &[ContentTypeNotAllowed],
                    STS,
                    OSS,
                    &[FileAlreadyExists],
                ]);
            }
            Handler::UppySign => {
                f.summary = "Uppy: sign one part";
                f.parameters = vec![
                    path(
                        "uploadId",
                        schema_ref("UploadId"),
                        "The upload id create returned (percent-encoded).",
                    ),
                    path("partNumber", schema_ref("PartNumber"), "1 to 10000."),
                    query("key", true, key_field("The key create returned.")),
                ];
                f.ok = Ok::Json(schema_ref("UppySignedPart"));
                f.errors = codes(&[
                    RUNTIME,
                    &[InvalidParameter],
                    ADMIT_STEP,
                    OWN_KEY,
                    &[InvalidPartNumber],
                    STS,
                ]);
            }
            Handler::UppyList => {
                f.summary = "Uppy: list uploaded parts";
                f.parameters = uppy_target();
                f.ok = Ok::Json(json!({"type": "array", "items": schema_ref("UppyPart")}));
                f.errors = codes(&[
                    RUNTIME,
                    &[InvalidParameter],
                    ADMIT_STEP,
                    OWN_KEY,
                    STS,
                    OSS,
                    &[NoSuchUpload],
                ]);
            }
            Handler::UppyComplete => {
                f.summary = "Uppy: complete a multipart upload";
                f.description = "`/v1/multipart/complete`'s checks, in Uppy's shape.".into();
                f.parameters = uppy_target();
                f.body = Some(
                    json!({"type": "object", "required": ["parts"], "properties": {
                    "parts": {"type": "array", "minItems": 1, "maxItems": 10000, "items": {
                        "type": "object", "required": ["PartNumber", "ETag"],
                        "properties": {
                            "PartNumber": schema_ref("PartNumber"),
                            "ETag": {"type": "string"},
                        }}}}}),
                );
                f.body_required = true;
                f.ok = Ok::Json(schema_ref("UppyCompleted"));
                f.errors = codes(&[
                    RUNTIME,
                    &[InvalidParameter, InvalidJson],
                    ADMIT_STEP,
                    OWN_KEY,
                    COMPLETE,
                    STS,
                    OSS,
                ]);
            }
            Handler::UppyAbort => {
                f.summary = "Uppy: abort a multipart upload";
                f.parameters = uppy_target();
                f.ok = Ok::Json(json!({"type": "object", "maxProperties": 0}));
                f.errors = codes(&[
                    RUNTIME,
                    &[InvalidParameter],
                    ADMIT_STEP,
                    OWN_KEY,
                    STS,
                    OSS,
                    &[NoSuchUpload],
                ]);
            }
        }
        f
    }

    /// `key` and `uploadId` as query parameters or a JSON body.
    fn target_fields(
        method: &Method,
        fields: Vec<(&'static str, Value)>,
    ) -> (Vec<Value>, Option<Value>) {
        if method == Method::POST {
            let mut props = Map::new();
            for (name, schema) in fields {
                props.insert(name.to_owned(), schema);
            }
            (
                Vec::new(),
                Some(
                    json!({"type": "object", "required": ["key", "uploadId"], "properties": props}),
                ),
            )
        } else {
            let params = fields
                .into_iter()
                .map(|(name, schema)| {
                    let schema = if name == "uploadId" {
                        json!({"type": "string", "minLength": 1, "maxLength": 256, "pattern": "^[!-~]+$", "description": "The uploadId create returned."})
                    } else {
                        schema
                    };
                    query(name, true, schema)
                })
                .collect();
            (params, None)
        }
    }

    fn uppy_target() -> Vec<Value> {
        vec![
            path(
                "uploadId",
                schema_ref("UploadId"),
                "The upload id create returned (percent-encoded).",
            ),
            query("key", true, key_field("The key create returned.")),
        ]
    }

    /// The error schema for `family`'s shape.
    fn error_schema(route: &RouteSpec) -> &'static str {
        match route.error_shape() {
            ErrorShape::Plain => "Error",
            ErrorShape::Sts => "StsError",
            ErrorShape::Uppy => "UppyError",
        }
    }

    /// `postV1MultipartSign`: the method, then the path's words.
    fn operation_id(method: &Method, template: &str) -> String {
        format!("{} {}", method.as_str().to_lowercase(), template)
            .split(|c: char| !c.is_ascii_alphanumeric())
            .filter(|s| !s.is_empty())
            .enumerate()
            .map(|(i, s)| {
                if i == 0 {
                    s.to_owned()
                } else {
                    s[..1].to_uppercase() + &s[1..]
                }
            })
            .collect()
    }

    /// Where a 200 leads: the steps on the upload or object it made, with
    /// the key and upload id taken from its body (OpenAPI links, which
    /// schemathesis's stateful phase follows).
    fn links(handler: Handler, legacy: bool) -> Option<Value> {
        let key = "$response.body#/key";
        let id = "$response.body#/uploadId";
        let op = |method: Method, template: &str| operation_id(&method, template);
        let link = |target: String, how: Value| {
            let mut l = json!({"operationId": target});
            if let Some(o) = how.as_object() {
                for (k, v) in o {
                    l[k] = v.clone();
                }
            }
            l
        };
        let target = json!({"parameters": {"key": key, "uploadId": id}});
        let target_body = json!({"requestBody": {"key": key, "uploadId": id}});
        let uppy = json!({"parameters": {"path.uploadId": id, "query.key": key}});
        let status = link(
            op(Method::GET, "/v1/uploads/status"),
            json!({"parameters": {"key": key}}),
        );
        let links = match handler {
            _ if legacy => return None,
            Handler::MultipartCreate => json!({
                "sign": link(op(Method::POST, "/v1/multipart/sign"), json!({"requestBody": {"key": key, "uploadId": id, "partNumbers": [1]}})),
                "parts": link(op(Method::GET, "/v1/multipart/parts"), target.clone()),
                "partsByPost": link(op(Method::POST, "/v1/multipart/parts"), target_body.clone()),
                "complete": link(op(Method::POST, "/v1/multipart/complete"), target_body.clone()),
                "abort": link(op(Method::DELETE, "/v1/multipart"), target.clone()),
                "abortByPost": link(op(Method::POST, "/v1/multipart/abort"), target_body),
                "abortByDelete": link(op(Method::DELETE, "/v1/multipart/abort"), target),
            }),
            Handler::UppyCreate => json!({
                "sign": link(op(Method::GET, "/s3/multipart/{uploadId}/{partNumber}"), uppy.clone()),
                "list": link(op(Method::GET, "/s3/multipart/{uploadId}"), uppy.clone()),
                "complete": link(op(Method::POST, "/s3/multipart/{uploadId}/complete"), uppy.clone()),
                "abort": link(op(Method::DELETE, "/s3/multipart/{uploadId}"), uppy),
            }),
            Handler::Presign => json!({
                "readBack": link(op(Method::POST, "/v1/presign"), json!({"requestBody": {"method": "GET", "key": key}})),
                "status": status,
            }),
            Handler::PostPolicy => json!({"status": status}),
            _ => return None,
        };
        Some(links)
    }

    fn operation(route: &RouteSpec, op: &Operation, method: &Method) -> Value {
        let f = fragment(op.handler, method, route.legacy);
        let mut o = Map::new();
        let template = route.path.template();
        let id = operation_id(method, template);
        o.insert("operationId".into(), id.into());
        o.insert("tags".into(), json!([route.family.as_str()]));
        o.insert("summary".into(), f.summary.into());
        let mut description = f.description;
        if route.legacy {
            description.push_str(" Served only with `LEGACY_ROUTES=true`.");
        }
        if route.is_credential_route() {
            description.push_str(match op.budget {
                super::super::routes::Budget::Step => {
                    " Counts against the multipart steps' rate budget."
                }
                _ => " Counts against `RATE_LIMIT_PER_MINUTE`.",
            });
        }
        if !description.is_empty() {
            o.insert("description".into(), description.trim().into());
        }
        if route.is_credential_route() {
            // A token in `jwt` mode; none in `anonymous` mode or for a profile with `anonymous = true`.
            o.insert("security".into(), json!([{"bearer": []}, {}]));
        }
        if !f.parameters.is_empty() {
            o.insert("parameters".into(), f.parameters.into());
        }
        if let Some(body) = f.body {
            o.insert(
                "requestBody".into(),
                json!({"required": f.body_required, "content": {"application/json": {"schema": body}}}),
            );
        }
        let mut responses = Map::new();
        let ok = match (&f.ok, method) {
            (_, &Method::HEAD) => json!({"description": "As GET, without the body."}),
            (Ok::Json(schema), _) => {
                json!({"description": "OK.", "content": {"application/json": {"schema": schema}}})
            }
            (Ok::Text(media, what), _) => {
                json!({"description": what, "content": {*media: {"schema": {"type": "string"}}}})
            }
        };
        let mut ok = ok;
        if let Some(links) = links(op.handler, route.legacy).filter(|_| method != Method::HEAD) {
            ok["links"] = links;
        }
        responses.insert("200".into(), ok);
        responses.insert(
            "431".into(),
            json!({"description": "The request line and headers are over 16 KiB; written, with an empty body, by the HTTP library before any of the function's code runs."}),
        );
        let mut statuses: Vec<u16> = f.errors.iter().map(|c| c.status()).collect();
        statuses.sort_unstable();
        statuses.dedup();
        for status in statuses {
            let here: Vec<ErrorCode> = f
                .errors
                .iter()
                .copied()
                .filter(|c| c.status() == status)
                .collect();
            let names: Vec<String> = here.iter().map(|c| format!("`{}`", c.as_str())).collect();
            let mut response = json!({"description": names.join(", ")});
            if method != Method::HEAD {
                // Errors the runtime or CORS write are always the plain shape.
                response["content"] = json!({"application/json": {"schema": {"allOf": [
                    schema_ref(error_schema(route)),
                    {"properties": {"error": {"properties": {"code": {"enum": here.iter().map(|c| c.as_str()).collect::<Vec<_>>()}}}}},
                ]}}});
            }
            if status == 429 || status == 503 {
                response["headers"] = json!({"Retry-After": {"description": "Seconds to wait before retrying.", "schema": {"type": "integer"}}});
            }
            responses.insert(status.to_string(), response);
        }
        // In ascending order of status (all have three digits).
        responses.sort_keys();
        o.insert("responses".into(), responses.into());
        Value::Object(o)
    }

    /// The shared schemas.
    fn components() -> Value {
        let s = |d: &str| json!({"type": "string", "description": d});
        let time = |d: &str| json!({"type": "string", "format": "date-time", "description": d});
        let int = |d: &str| json!({"type": "integer", "minimum": 0, "description": d});
        let mut schemas = Map::new();
        // Every code once, with its status and meaning (README's "Error codes" table).
        let codes: Vec<Value> = ErrorCode::ALL
        .iter()
        .map(|c| json!({"const": c.as_str(), "description": format!("{}: {}", c.status(), c.description())}))
        .collect();
        schemas.insert(
            "ErrorCode".into(),
            json!({"type": "string", "oneOf": codes}),
        );
        schemas.insert(
            "Error".into(),
            json!({"type": "object", "required": ["error"], "properties": {
            "error": {"type": "object", "required": ["code", "message"], "properties": {
                "code": schema_ref("ErrorCode"),
                "message": s("What went wrong and what to do next; never a secret."),
            }}}}),
        );
        schemas.insert("StsError".into(), json!({"allOf": [schema_ref("Error"), {"properties": {
                    "StatusCode": {"type": "integer", "description": "The HTTP status, for the mobile SDKs' credential providers."},
                    "ErrorCode": s("`error.code` again."),
                    "ErrorMessage": s("`error.message` again."),
                }}]}));
        schemas.insert(
            "UppyError".into(),
            json!({"allOf": [schema_ref("Error"), {"properties": {
                "message": s("`error.message` again, which Uppy shows."),
            }}]}),
        );
        schemas.insert("Size".into(), json!({"type": ["integer", "string", "null"], "minimum": 1, "maximum": u64::MAX, "pattern": "^\\s*\\+?0*[1-9][0-9]*\\s*$",
                    "description": "The file's size in bytes (a number, or a string of digits)."}));
        schemas.insert("Profile".into(), json!({"type": ["string", "number", "null"], "maxLength": 2048,
                    "description": "The upload profile (`default` when absent); `/v1/config` lists them."}));
        schemas.insert("UploadId".into(), json!({"type": "string", "minLength": 1, "maxLength": 256, "pattern": "^[!-~]+$", "description": "The uploadId create returned."}));
        schemas.insert(
            "PartNumber".into(),
            json!({"type": "integer", "minimum": 1, "maximum": 10000}),
        );
        schemas.insert(
            "Fields".into(),
            json!({"type": "object", "additionalProperties": {"type": "string"},
                    "description": "Form fields or headers, in the order they must be sent."}),
        );
        schemas.insert("PublicConfig".into(), json!({"type": "object",
                    "required": ["bucket", "region", "endpoint", "prefix", "maxUploadBytes", "allowedContentTypes", "authMode", "signatureVersion", "urlTtlSeconds", "aliOssScriptUrl", "profiles"],
                    "properties": {
                        "bucket": s("The bucket."),
                        "region": s("Its region, e.g. `cn-hangzhou`."),
                        "endpoint": s("The OSS endpoint URL clients upload to."),
                        "prefix": s("`UPLOAD_PREFIX`."),
                        "maxUploadBytes": int("`MAX_UPLOAD_BYTES`."),
                        "allowedContentTypes": {"type": "array", "items": {"type": "string"}},
                        "authMode": {"enum": ["anonymous", "jwt", "fc-jwt"]},
                        "signatureVersion": {"enum": ["v1", "v4"]},
                        "urlTtlSeconds": int("How long presigned URLs and POST policies live."),
                        "aliOssScriptUrl": s("Where the upload page loads ali-oss from."),
                        "profiles": {"type": "array", "items": {"type": "object",
                            "required": ["name", "prefix", "contentTypes", "minBytes", "maxBytes", "methods", "anonymous", "overwrite", "urlTtlSeconds", "tokenTtlSeconds"],
                            "properties": {
                                "name": s("The profile's name (`default` first)."),
                                "prefix": s("Its key prefix."),
                                "contentTypes": {"type": "array", "items": {"type": "string"}},
                                "minBytes": int("Smallest upload."),
                                "maxBytes": int("Largest upload."),
                                "methods": {"type": "array", "items": {"enum": ["sts", "post-policy", "presign", "multipart"]}},
                                "anonymous": {"type": "boolean"},
                                "overwrite": {"enum": ["forbid", "replace"]},
                                "urlTtlSeconds": int("Presigned URL and policy lifetime."),
                                "tokenTtlSeconds": int("STS credential lifetime."),
                            }}},
                    }}));
        schemas.insert("StsCredentials".into(), json!({"type": "object",
                    "required": ["StatusCode", "AccessKeyId", "AccessKeySecret", "SecurityToken", "Expiration", "Bucket", "Region", "Endpoint", "Prefix"],
                    "properties": {
                        "StatusCode": {"const": 200},
                        "AccessKeyId": s("Temporary key id (`STS.`…)."),
                        "AccessKeySecret": s("Temporary secret."),
                        "SecurityToken": s("The STS security token."),
                        "Expiration": time("When they expire (at least 6 minutes away)."),
                        "Bucket": s("The bucket."),
                        "Region": s("Its region."),
                        "Endpoint": s("The OSS endpoint URL."),
                        "Prefix": s("The only prefix the credentials may write under."),
                    }}));
        schemas.insert("LegacyStsCredentials".into(), json!({"type": "object",
                    "required": ["StatusCode", "AccessKeyId", "AccessKeySecret", "SecurityToken", "Expiration"],
                    "properties": {
                        "StatusCode": {"const": 200},
                        "AccessKeyId": s("Temporary key id."),
                        "AccessKeySecret": s("Temporary secret."),
                        "SecurityToken": s("The STS security token."),
                        "Expiration": time("When they expire."),
                    }}));
        schemas.insert(
            "PostPolicy".into(),
            json!({"type": "object", "required": ["url", "key", "fields", "expiration", "maxBytes"],
            "properties": {
                "url": s("Where to POST the form (the bucket's URL)."),
                "key": s("The key the form stores."),
                "fields": schema_ref("Fields"),
                "expiration": time("When the policy expires."),
                "maxBytes": int("The profile's largest upload."),
            }}),
        );
        schemas.insert("LegacyPostSignature".into(), json!({"type": "object", "required": ["host", "dir", "policy", "signature", "security_token", "expire"],
                    "properties": {
                        "host": s("Where to POST the form."),
                        "dir": s("The directory the key must start with."),
                        "policy": s("The Base64 policy."),
                        "signature": s("The signature (V1 `Signature` or V4 `x-oss-signature`)."),
                        "ossAccessKeyId": s("V1: the temporary key id."),
                        "x_oss_signature_version": s("V4: `OSS4-HMAC-SHA256`."),
                        "x_oss_credential": s("V4: the credential scope."),
                        "x_oss_date": s("V4: the signing time."),
                        "security_token": s("The STS security token."),
                        "expire": {"type": "integer", "description": "Unix seconds when the policy expires."},
                    }}));
        schemas.insert(
            "PresignedUrl".into(),
            json!({"type": "object", "required": ["url", "method", "headers", "key", "expiration"],
            "properties": {
                "url": s("The presigned URL."),
                "method": {"enum": ["PUT", "GET"]},
                "headers": schema_ref("Fields"),
                "key": s("The object key."),
                "size": int("PUT: the exact number of bytes the URL is bound to."),
                "expiration": time("When the URL expires."),
            }}),
        );
        schemas.insert(
            "UploadStatus".into(),
            json!({"type": "object", "required": ["key", "status"],
            "properties": {
                "key": s("The key asked about."),
                "status": {"enum": ["pending", "verified", "rejected", "missing"]},
                "reason": s("Why it was rejected (while the object is being removed)."),
                "message": s("What `missing` means."),
            }}),
        );
        schemas.insert("MultipartCreated".into(), json!({"type": "object", "required": ["key", "uploadId", "bucket", "size", "partSize", "partCount", "maxBytes", "expiration"],
                    "properties": {
                        "key": s("The object key."),
                        "uploadId": s("OSS's upload id."),
                        "bucket": s("The bucket."),
                        "size": int("The declared size."),
                        "partSize": int("Bytes per part (the last may be shorter)."),
                        "partCount": int("How many parts."),
                        "maxBytes": int("The profile's largest upload."),
                        "expiration": time("When the signing credentials expire."),
                    }}));
        schemas.insert("SignedParts".into(), json!({"type": "object", "required": ["key", "uploadId", "expiration", "parts"],
                    "properties": {
                        "key": s("The object key."),
                        "uploadId": s("The upload id."),
                        "expiration": time("When the URLs expire."),
                        "parts": {"type": "array", "items": {"type": "object", "required": ["partNumber", "url", "method", "headers"],
                            "properties": {
                                "partNumber": schema_ref("PartNumber"),
                                "url": s("The presigned UploadPart URL."),
                                "method": {"const": "PUT"},
                                "headers": schema_ref("Fields"),
                                "size": int("The exact bytes the URL is bound to (V4, when size was given)."),
                            }}},
                    }}));
        schemas.insert("ListedParts".into(), json!({"type": "object", "required": ["key", "uploadId", "parts"],
                    "properties": {
                        "key": s("The object key."),
                        "uploadId": s("The upload id."),
                        "parts": {"type": "array", "items": {"type": "object", "required": ["partNumber", "etag", "size", "lastModified"],
                            "properties": {
                                "partNumber": schema_ref("PartNumber"),
                                "etag": s("The part's quoted ETag."),
                                "size": int("Bytes."),
                                "lastModified": s("As OSS wrote it (ISO 8601)."),
                            }}},
                    }}));
        schemas.insert("MultipartCompleted".into(), json!({"type": "object", "required": ["key", "bucket", "location", "etag", "size", "parts"],
                    "properties": {
                        "key": s("The object key."),
                        "bucket": s("The bucket."),
                        "location": s("The object's URL."),
                        "etag": s("The object's ETag."),
                        "size": int("Total bytes."),
                        "parts": int("How many parts."),
                    }}));
        schemas.insert(
            "MultipartAborted".into(),
            json!({"type": "object", "required": ["key", "uploadId", "aborted"],
            "properties": {
                "key": s("The object key."),
                "uploadId": s("The upload id."),
                "aborted": {"const": true},
            }}),
        );
        schemas.insert("UppyParams".into(), json!({"type": "object", "required": ["method", "url", "fields", "expires"],
                    "properties": {
                        "method": {"const": "POST"},
                        "url": s("Where to POST the form."),
                        "fields": schema_ref("Fields"),
                        "expires": {"type": "integer", "minimum": 1, "description": "Seconds until the policy expires."},
                    }}));
        schemas.insert(
            "UppyCreated".into(),
            json!({"type": "object", "required": ["key", "uploadId", "bucket"],
            "properties": {
                "key": s("The object key."),
                "uploadId": s("OSS's upload id."),
                "bucket": s("The bucket."),
            }}),
        );
        schemas.insert("UppySignedPart".into(), json!({"type": "object", "required": ["url", "method", "expires"],
                    "properties": {
                        "url": s("The presigned UploadPart URL."),
                        "method": {"const": "PUT"},
                        "expires": {"type": "integer", "minimum": 1, "description": "Seconds until the URL expires."},
                    }}));
        schemas.insert(
            "UppyPart".into(),
            json!({"type": "object", "required": ["PartNumber", "ETag", "Size"],
            "properties": {
                "PartNumber": schema_ref("PartNumber"),
                "ETag": s("The part's quoted ETag."),
                "Size": int("Bytes."),
            }}),
        );
        schemas.insert(
            "UppyCompleted".into(),
            json!({"type": "object", "required": ["location", "key", "bucket"],
            "properties": {
                "location": s("The object's URL."),
                "key": s("The object key."),
                "bucket": s("The bucket."),
            }}),
        );
        json!({
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT",
                    "description": "`AUTH_MODE=jwt`: the function verifies the token. `AUTH_MODE=fc-jwt`: Function Compute's HTTP trigger verifies it and passes the user id on. `AUTH_MODE=anonymous` (and profiles with `anonymous = true`): no token."}
            },
            "schemas": schemas,
        })
    }

    /// The whole document: every route of the table (FC's lifecycle hook
    /// `/initialize` aside, which no client calls), legacy routes included.
    pub fn document() -> Value {
        let mut paths = Map::new();
        for route in routes() {
            if route.family == Family::Service
                && route
                    .operations
                    .iter()
                    .any(|o| o.handler == Handler::Initialize)
                || route.family == Family::Page && route.path.template().starts_with("/vendor/")
            {
                continue;
            }
            let mut item = Map::new();
            for op in route.operations {
                for method in op.methods {
                    item.insert(method.as_str().to_lowercase(), operation(route, op, method));
                }
            }
            paths.insert(route.path.template().to_owned(), item.into());
        }
        let responses = shared_error_responses(&mut paths);
        let mut components = components();
        components["responses"] = responses.into();
        json!({
            "openapi": "3.1.0",
            "info": {
                "title": "oss-direct-upload",
                "version": env!("CARGO_PKG_VERSION"),
                "description": "Short-lived, least-privilege permission to upload straight to Alibaba Cloud OSS: STS credentials, POST policies, presigned URLs, multipart uploads (also as Uppy's Companion `/s3` routes) and the upload check's verdict. Every error is `{\"error\":{\"code\",\"message\"}}` with a code from README's \"Error codes\" table. Generated from the route table (`oss-direct-upload openapi`).",
                "license": {"name": "Apache-2.0", "identifier": "Apache-2.0"},
            },
            "tags": [
                {"name": "page", "description": "The upload page."},
                {"name": "service", "description": "Health, public settings, this document."},
                {"name": "sts", "description": "STS credentials."},
                {"name": "post-policy", "description": "POST policies."},
                {"name": "presign", "description": "Presigned URLs."},
                {"name": "multipart", "description": "Multipart uploads."},
                {"name": "uppy", "description": "Uppy's Companion S3 routes (`@uppy/aws-s3`)."},
                {"name": "status", "description": "The upload check's verdict."},
            ],
            "paths": paths,
            "components": components,
        })
    }

    /// Moves every error response into `components.responses`, once per
    /// distinct answer (`StsError400`, `StsError400b`, ...), and points the
    /// operations at it: the same codes on many routes are written once.
    fn shared_error_responses(paths: &mut Map<String, Value>) -> Map<String, Value> {
        let mut shared = Map::new();
        let mut names: std::collections::HashMap<String, String> = Default::default();
        for item in paths.values_mut().filter_map(Value::as_object_mut) {
            for op in item.values_mut() {
                let Some(responses) = op["responses"].as_object_mut() else {
                    continue;
                };
                for (status, response) in responses.iter_mut().filter(|(s, _)| *s != "200") {
                    let text = response.to_string();
                    let name = names.entry(text).or_insert_with(|| {
                        let shape = response
                            .pointer("/content/application~1json/schema/allOf/0/$ref")
                            .and_then(Value::as_str)
                            .and_then(|r| r.rsplit('/').next())
                            .unwrap_or("Head");
                        let base = format!("{shape}{status}");
                        let mut name = base.clone();
                        let mut n = b'b';
                        while shared.contains_key(&name) {
                            name = format!("{base}{}", n as char);
                            n += 1;
                        }
                        shared.insert(name.clone(), response.clone());
                        name
                    });
                    *response = json!({"$ref": format!("#/components/responses/{name}")});
                }
            }
        }
        shared
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    /// The committed document is the generated one; `UPDATE=1` rewrites it.
    #[test]
    fn committed_document_is_the_generated_one() {
        let generated = format!(
            "{}\n",
            serde_json::to_string_pretty(&document()).expect("serialises")
        );
        if std::env::var_os("UPDATE").is_some() {
            let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/openapi.json");
            std::fs::write(&path, &generated).expect("writes docs/openapi.json");
            return;
        }
        let committed = include_str!("../../docs/openapi.json");
        assert!(
            committed == generated,
            "docs/openapi.json is not the generated document; regenerate it with \
             `UPDATE=1 cargo test --lib api::openapi` (or `cargo run --features local -- openapi > docs/openapi.json`)"
        );
    }

    #[test]
    fn every_route_but_the_lifecycle_hook_is_described_with_its_methods() {
        let doc = document();
        for r in super::super::routes::routes() {
            let Some(item) = doc["paths"].get(r.path.template()) else {
                let t = r.path.template();
                assert!(t == "/initialize" || t.starts_with("/vendor/"), "{t}");
                continue;
            };
            let methods: Vec<String> = r.methods().map(|m| m.as_str().to_lowercase()).collect();
            let described: Vec<String> = item.as_object().unwrap().keys().cloned().collect();
            assert_eq!(methods, described, "{}", r.path.template());
        }
    }

    #[test]
    fn served_document_leaves_out_legacy_routes_only_when_they_are_off() {
        let on: serde_json::Value = serde_json::from_slice(served(true).body()).unwrap();
        let off: serde_json::Value = serde_json::from_slice(served(false).body()).unwrap();
        assert!(on["paths"].get("/get_sts_token").is_some());
        assert!(off["paths"].get("/get_sts_token").is_none());
        assert!(off["paths"].get("/v1/sts").is_some());
        let n = |v: &serde_json::Value| v["paths"].as_object().unwrap().len();
        let legacy = super::super::routes::routes()
            .iter()
            .filter(|r| r.legacy)
            .count();
        assert_eq!(n(&on) - n(&off), legacy);
    }
}
