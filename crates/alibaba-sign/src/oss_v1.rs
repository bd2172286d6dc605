//! OSS Signature V1 (`OSS <AK>:<base64 HMAC-SHA1>`), header and presigned-URL forms.
//!
//! V1 is still what most deployed mobile SDKs and browser samples speak, so we keep it
//! next to V4. The steps follow the protocol (research notes §1):
//! [`canonical_resource`] → [`string_to_sign`] → [`signature`], and [`presign`] puts
//! them together into the query parameters of a presigned URL.

use crate::credentials::Credentials;
use crate::{header_value, hmac_sha1, PresignInput};
use base64::Engine as _;

/// Query params OSS treats as signed sub-resources in V1.
///
/// oss2 and the Go/Python v2 SDKs each sign a slightly different set; the server's set
/// is not published. We sign the overlap: the names common to oss2 and alibabacloud-oss-v2,
/// plus the `x-oss-*` params oss2 lists by name that the Go v2 SDK signs by prefix.
/// Signing a param the server ignores breaks the signature, and so does leaving out
/// one it signs, so the list is deliberately conservative. `cors` is in oss2's list,
/// and the Go v2 SDK signs it as its bucket-CORS operations' declared sub-resource.
const SIGNED_SUBRESOURCES: &[&str] = &[
    "acl",
    "append",
    "bucketInfo",
    "callback",
    "callback-var",
    "continuation-token",
    "cors",
    "delete",
    "location",
    "objectMeta",
    "partNumber",
    "position",
    "regionList",
    "response-cache-control",
    "response-content-disposition",
    "response-content-encoding",
    "response-content-language",
    "response-content-type",
    "response-expires",
    "restore",
    "security-token",
    "sequential",
    "stat",
    "symlink",
    "tagging",
    "uploadId",
    "uploads",
    "versionId",
    "versioning",
    "versions",
    "x-oss-process",
    "x-oss-traffic-limit",
];

/// Whether query param `name` is a V1 signed sub-resource (case-sensitive, as OSS
/// compares it). Non-sub-resource params such as `prefix` must stay out of the
/// string to sign or the server computes a different signature.
pub fn is_signed_subresource(name: &str) -> bool {
    SIGNED_SUBRESOURCES.contains(&name)
}

/// The V1 CanonicalizedResource: `/bucket/key` with the raw (un-encoded) key, `/` when
/// there is no bucket, then `?` and the signed sub-resources sorted by name, each `k=v`
/// with the decoded value, or a bare `k` when the value is empty.
///
/// `query` holds unencoded pairs; params that are not sub-resources are filtered out
/// here so callers can pass the whole URL query.
pub fn canonical_resource(bucket: &str, key: &str, query: &[(String, String)]) -> String {
    let mut out = if bucket.is_empty() {
        String::from("/")
    } else {
        format!("/{bucket}/{key}")
    };
    let mut subs: Vec<&(String, String)> = query
        .iter()
        .filter(|(k, _)| is_signed_subresource(k))
        .collect();
    // Stable sort by name only, as oss2 does; duplicates keep their input order.
    subs.sort_by(|a, b| a.0.cmp(&b.0));
    for (i, (k, v)) in subs.iter().enumerate() {
        out.push(if i == 0 { '?' } else { '&' });
        out.push_str(k);
        if !v.is_empty() {
            out.push('=');
            out.push_str(v);
        }
    }
    out
}

/// The V1 StringToSign:
/// `VERB\nContent-MD5\nContent-Type\nDateOrExpires\n<x-oss-* headers>CanonicalResource`.
///
/// It picks the `x-oss-*` headers out of `headers` itself (lowercased names, trimmed
/// values, sorted by name, each `name:value\n`) so callers can pass the full header
/// list the client will send. `content_md5`/`content_type` are the exact header values
/// the request will carry (or empty): OSS rebuilds this string from the request it
/// receives. For a presigned URL `date_or_expires` is the absolute `Expires` value.
pub fn string_to_sign(
    method: &str,
    content_md5: &str,
    content_type: &str,
    date_or_expires: &str,
    headers: &[(String, String)],
    canonical_resource: &str,
) -> String {
    let mut oss_headers: Vec<(String, &str)> = headers
        .iter()
        .map(|(k, v)| (k.to_ascii_lowercase(), v.trim()))
        .filter(|(k, _)| k.starts_with("x-oss-"))
        .collect();
    oss_headers.sort_by(|a, b| a.0.cmp(&b.0));
    let mut out = format!("{method}\n{content_md5}\n{content_type}\n{date_or_expires}\n");
    for (k, v) in oss_headers {
        out.push_str(&k);
        out.push(':');
        out.push_str(v);
        out.push('\n');
    }
    out.push_str(canonical_resource);
    out
}

/// The V1 signature: base64 of HMAC-SHA1 keyed by the AccessKey secret. Not
/// URL-encoded; [`crate::encode::query_string`] does that when it goes into a URL.
pub fn signature(secret: &str, string_to_sign: &str) -> String {
    base64::engine::general_purpose::STANDARD
        .encode(hmac_sha1(secret.as_bytes(), string_to_sign.as_bytes()))
}

/// All query params of a V1 presigned URL, unencoded, in URL order:
/// `req.query` as given, then `OSSAccessKeyId`, `Expires`, `security-token` (STS only,
/// and signed as a sub-resource), and `Signature` last.
///
/// This is the order alibabacloud-oss-v2 emits; oss2 puts `security-token` first. OSS
/// does not care about order. `expires_unix` is absolute (unix seconds), unlike V4.
/// Encode the result with [`crate::encode::query_string`].
pub fn presign(
    creds: &Credentials,
    req: &PresignInput,
    expires_unix: i64,
) -> Vec<(String, String)> {
    let expires = expires_unix.to_string();
    let mut signed_query: Vec<(String, String)> = req.query.to_vec();
    if let Some(token) = &creds.security_token {
        signed_query.push(("security-token".to_string(), token.clone()));
    }
    let resource = canonical_resource(req.bucket, req.key, &signed_query);
    let sts = string_to_sign(
        req.method,
        header_value(req.headers, "content-md5").unwrap_or(""),
        header_value(req.headers, "content-type").unwrap_or(""),
        &expires,
        req.headers,
        &resource,
    );
    let sig = signature(&creds.access_key_secret, &sts);

    let mut out: Vec<(String, String)> = req.query.to_vec();
    out.push(("OSSAccessKeyId".to_string(), creds.access_key_id.clone()));
    out.push(("Expires".to_string(), expires));
    if let Some(token) = &creds.security_token {
        out.push(("security-token".to_string(), token.clone()));
    }
    out.push(("Signature".to_string(), sig));
    out
}

/// The V1 `Authorization` header value, `OSS <AK>:<signature>`, for a request whose
/// `Date` header is `date` (RFC 1123). With STS credentials the caller must also send
/// `x-oss-security-token` and include it in `headers` so it is signed.
pub fn authorization_header(
    creds: &Credentials,
    method: &str,
    bucket: &str,
    key: &str,
    query: &[(String, String)],
    headers: &[(String, String)],
    date: &str,
) -> String {
    let resource = canonical_resource(bucket, key, query);
    let sts = string_to_sign(
        method,
        header_value(headers, "content-md5").unwrap_or(""),
        header_value(headers, "content-type").unwrap_or(""),
        date,
        headers,
        &resource,
    );
    format!(
        "OSS {}:{}",
        creds.access_key_id,
        signature(&creds.access_key_secret, &sts)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::encode::query_string;

    fn s(a: &str, b: &str) -> (String, String) {
        (a.to_string(), b.to_string())
    }

    #[test]
    fn subresource_filter() {
        assert!(is_signed_subresource("versionId"));
        assert!(is_signed_subresource("security-token"));
        assert!(is_signed_subresource("response-content-type"));
        assert!(!is_signed_subresource("prefix"));
        assert!(!is_signed_subresource("VersionId"));
    }

    #[test]
    fn canonical_resource_shapes() {
        assert_eq!(canonical_resource("", "", &[]), "/");
        assert_eq!(canonical_resource("b", "", &[]), "/b/");
        assert_eq!(
            canonical_resource(
                "b",
                "a b/c+d",
                &[s("versionId", "v/1"), s("prefix", "x"), s("acl", "")]
            ),
            "/b/a b/c+d?acl&versionId=v/1"
        );
    }

    /// Go v2 `TestV1AuthQuery` case 1.
    #[test]
    fn vector_presign_get() {
        let sts = string_to_sign(
            "GET",
            "",
            "",
            "1699807420",
            &[],
            &canonical_resource("bucket", "key", &[s("versionId", "versionId")]),
        );
        assert_eq!(sts, "GET\n\n\n1699807420\n/bucket/key?versionId=versionId");
        let sig = signature("sk", &sts);
        assert_eq!(
            query_string(&[s("Signature", &sig)]),
            "Signature=dcLTea%2BYh9ApirQ8o8dOPqtvJXQ%3D"
        );
    }

    /// Go v2 `TestV1AuthQuery` case 2, through `presign`.
    #[test]
    fn vector_presign_sts() {
        let creds = Credentials::new("ak", "sk", Some("token".into()));
        let q = [s("versionId", "versionId")];
        let req = PresignInput {
            method: "GET",
            bucket: "bucket",
            key: "key+123",
            headers: &[],
            query: &q,
        };
        let p = presign(&creds, &req, 1699808204);
        assert_eq!(
            p,
            vec![
                s("versionId", "versionId"),
                s("OSSAccessKeyId", "ak"),
                s("Expires", "1699808204"),
                s("security-token", "token"),
                s("Signature", "jzKYRrM5y6Br0dRFPaTGOsbrDhY="),
            ]
        );
    }

    /// Go v2 `TestV1AuthHeader` case 1.
    #[test]
    fn vector_header_auth() {
        let creds = Credentials::new("ak", "sk", None);
        let date = "Wed, 28 Dec 2022 10:27:41 GMT";
        let headers = [
            s("Content-MD5", "eB5eJF1ptWaXm4bijSPyxw=="),
            s("Content-Type", "text/html"),
            s("x-oss-meta-author", "alice"),
            s("x-oss-meta-magic", "abracadabra"),
            s("x-oss-date", date),
            s("Date", date),
        ];
        let sts = string_to_sign(
            "PUT",
            "eB5eJF1ptWaXm4bijSPyxw==",
            "text/html",
            date,
            &headers,
            "/examplebucket/nelson",
        );
        assert_eq!(
            sts,
            "PUT\neB5eJF1ptWaXm4bijSPyxw==\ntext/html\nWed, 28 Dec 2022 10:27:41 GMT\nx-oss-date:Wed, 28 Dec 2022 10:27:41 GMT\nx-oss-meta-author:alice\nx-oss-meta-magic:abracadabra\n/examplebucket/nelson"
        );
        assert_eq!(
            authorization_header(
                &creds,
                "PUT",
                "examplebucket",
                "nelson",
                &[],
                &headers,
                date
            ),
            "OSS ak:kSHKmLxlyEAKtZPkJhG9bZb5k7M="
        );
    }

    /// The 2021 URL doc's Python sample (derived in the research notes).
    #[test]
    fn vector_doc_sample() {
        assert_eq!(
            signature(
                "OtxrzxIsfpFjA7SwPzILwy8Bw21TLhquhboDYROV",
                "GET\n\n\n1141889120\n/oss-example/oss-api.pdf"
            ),
            "EwaNTn1erJGkimiJ9WmXgwnANLc="
        );
    }

    #[test]
    fn signed_content_type_changes_signature() {
        let creds = Credentials::new("ak", "sk", None);
        let h1 = [s("Content-Type", "image/png")];
        let h2 = [s("Content-Type", "text/html")];
        let mk = |h| PresignInput {
            method: "PUT",
            bucket: "b",
            key: "k",
            headers: h,
            query: &[],
        };
        assert_ne!(presign(&creds, &mk(&h1), 1), presign(&creds, &mk(&h2), 1));
    }
}
