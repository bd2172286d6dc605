//! Each [`Handler`]'s schema fragment for the OpenAPI document: its summary,
//! parameters, request body, success answer and every [`ErrorCode`] it can
//! answer (grouped in the sets below). The generator (`generate.rs`) puts
//! them on the route table's paths.

use super::super::error::ErrorCode::{self, *};
use super::super::routes::Handler;
use http::Method;
use serde_json::{json, Map, Value};

/// What one operation takes and answers, besides the route table's facts.
pub(super) struct Fragment {
    pub(super) summary: &'static str,
    pub(super) description: String,
    /// OpenAPI parameter objects.
    pub(super) parameters: Vec<Value>,
    /// The JSON request body's schema (POST).
    pub(super) body: Option<Value>,
    /// Whether the body must be sent.
    pub(super) body_required: bool,
    /// The 200 answer.
    pub(super) ok: Ok,
    /// Every error code the operation answers with.
    pub(super) errors: Vec<ErrorCode>,
}

/// A 200 answer.
pub(super) enum Ok {
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

pub(super) fn schema_ref(name: &str) -> Value {
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

pub(super) fn fragment(handler: Handler, method: &Method, legacy: bool) -> Fragment {
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
            f.description = "Answers while the function runs; touches neither STS nor OSS.".into();
            f.ok = Ok::Json(
                json!({"type": "object", "required": ["status"], "additionalProperties": false,
                "properties": {"status": {"const": "ok"}}}),
            );
            f.errors = codes(&[RUNTIME]);
        }
        // Not in the document (see [`documented`]).
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
            Some(json!({"type": "object", "required": ["key", "uploadId"], "properties": props})),
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

/// Whether a handler's route is in the document: not FC's lifecycle hook
/// (only FC calls it), nor the ali-oss copy local builds serve (the deployed
/// build serves this document and has no such route).
pub(super) fn documented(handler: Handler) -> bool {
    match handler {
        Handler::Initialize => false,
        #[cfg(feature = "local")]
        Handler::AliOss => false,
        _ => true,
    }
}
