//! The response shapes of Alibaba's sample clients (`LEGACY_ROUTES=true`).
//! The routes themselves share the STS, POST-policy and presign code; only
//! what the sample clients read differs, and it lives here.

use alibaba_sign::post_policy::PostForm;
use serde_json::Value;

/// The JSON Alibaba's POST-signature sample clients read.
pub(super) fn post_body(
    form: &PostForm,
    url: &str,
    dir: &str,
    access_key_id: &str,
    security_token: Option<&str>,
) -> Value {
    let field = |name: &str| {
        form.fields
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    let mut body = serde_json::Map::new();
    body.insert("host".into(), url.into());
    body.insert("dir".into(), dir.into());
    body.insert("policy".into(), field("policy").into());
    if form.fields.iter().any(|(k, _)| k == "x-oss-signature") {
        body.insert(
            "x_oss_signature_version".into(),
            field("x-oss-signature-version").into(),
        );
        body.insert("x_oss_credential".into(), field("x-oss-credential").into());
        body.insert("x_oss_date".into(), field("x-oss-date").into());
        body.insert("signature".into(), field("x-oss-signature").into());
    } else {
        body.insert("ossAccessKeyId".into(), access_key_id.into());
        body.insert("signature".into(), field("Signature").into());
    }
    body.insert(
        "security_token".into(),
        security_token.unwrap_or_default().into(),
    );
    body.insert("expire".into(), form.expiration.timestamp().into());
    Value::Object(body)
}
