//! The OpenAPI generator: walks the route table, turns each operation's
//! fragment (`fragments.rs`) into an operation object with its links and
//! error answers, and adds the shared components (schemas, responses).

use super::super::error::ErrorCode;
use super::super::error::ErrorShape;
use super::super::routes::{routes, Handler, Operation, RouteSpec};
use super::fragments::{documented, fragment, schema_ref, Ok};
use http::Method;
use serde_json::{json, Map, Value};

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
    schemas.insert(
        "LegacyStsCredentials".into(),
        json!({"type": "object",
        "required": ["StatusCode", "AccessKeyId", "AccessKeySecret", "SecurityToken", "Expiration"],
        "properties": {
            "StatusCode": {"const": 200},
            "AccessKeyId": s("Temporary key id."),
            "AccessKeySecret": s("Temporary secret."),
            "SecurityToken": s("The STS security token."),
            "Expiration": time("When they expire."),
        }}),
    );
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
    schemas.insert(
        "MultipartCompleted".into(),
        json!({"type": "object", "required": ["key", "bucket", "location", "etag", "size", "parts"],
        "properties": {
            "key": s("The object key."),
            "bucket": s("The bucket."),
            "location": s("The object's URL."),
            "etag": s("The object's ETag."),
            "size": int("Total bytes."),
            "parts": int("How many parts."),
        }}),
    );
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
        if !route.operations.iter().any(|o| documented(o.handler)) {
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
        let committed = include_str!("../../../docs/openapi.json");
        assert!(
            committed == generated,
            "docs/openapi.json is not the generated document; regenerate it with \
             `UPDATE=1 cargo test --lib api::openapi` (or `cargo run --features local -- openapi > docs/openapi.json`)"
        );
    }

    #[test]
    fn every_route_but_the_lifecycle_hook_is_described_with_its_methods() {
        let doc = document();
        for r in routes() {
            let Some(item) = doc["paths"].get(r.path.template()) else {
                assert!(
                    r.operations.iter().all(|o| !documented(o.handler)),
                    "{} is missing",
                    r.path.template()
                );
                continue;
            };
            let methods: Vec<String> = r.methods().map(|m| m.as_str().to_lowercase()).collect();
            let described: Vec<String> = item.as_object().unwrap().keys().cloned().collect();
            assert_eq!(methods, described, "{}", r.path.template());
        }
    }
}
