//! OSS Signature V4 (`OSS4-HMAC-SHA256`), header and presigned-URL forms.
//!
//! V4 is the version Alibaba recommends and the only one new regions are guaranteed to
//! accept. Like aws-sigv4, each protocol step is a small pure function tested on its own
//! against the published vectors (research notes §2):
//! [`canonical_request`] → [`scope`] → [`string_to_sign`] → [`signing_key`] →
//! [`signature`]. [`presign`] and [`authorization_header`] assemble them.

use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};

use crate::credentials::Credentials;
use crate::encode::uri_encode;
use crate::{hmac_sha256, PresignInput};

/// The algorithm name, used in the string to sign, the Authorization header and the
/// `x-oss-signature-version` param.
pub const ALGORITHM: &str = "OSS4-HMAC-SHA256";

/// The product in the scope for ordinary OSS (CloudBox would use `oss-cloudbox`).
pub const PRODUCT: &str = "oss";

/// Hashed payload used when the body is not hashed; the only value presigned URLs use.
pub const UNSIGNED_PAYLOAD: &str = "UNSIGNED-PAYLOAD";

/// Longest `x-oss-expires` OSS accepts (7 days). [`presign`] does not clamp: callers
/// validate, so an out-of-range request is an error they can report, not a silent change.
pub const MAX_EXPIRES_SECS: u64 = 604_800;

/// Headers OSS always signs in V4 (besides every `x-oss-*`), so they never appear in
/// AdditionalHeaders.
fn is_default_signed(lower_name: &str) -> bool {
    lower_name.starts_with("x-oss-") || lower_name == "content-type" || lower_name == "content-md5"
}

/// `yyyyMMdd'T'HHmmss'Z'`, the x-oss-date format.
pub fn format_datetime(now: DateTime<Utc>) -> String {
    use chrono::{Datelike, Timelike};
    // Written out rather than through strftime: this runs for every signature.
    format!(
        "{:04}{:02}{:02}T{:02}{:02}{:02}Z",
        now.year(),
        now.month(),
        now.day(),
        now.hour(),
        now.minute(),
        now.second()
    )
}

/// The AdditionalHeaders actually signed: `requested` lowercased, minus names that are
/// signed by default, minus names not present (non-empty) in `headers`, sorted and
/// deduplicated. This is what both v2 SDKs compute, so asking for `x-oss-head1` or a
/// header the client will not send is harmless.
pub fn effective_additional_headers(
    headers: &[(String, String)],
    requested: &[String],
) -> Vec<String> {
    let mut out: Vec<String> = requested
        .iter()
        .map(|h| h.to_ascii_lowercase())
        .filter(|h| !is_default_signed(h))
        .filter(|h| {
            headers
                .iter()
                .any(|(k, v)| k.eq_ignore_ascii_case(h) && !v.is_empty())
        })
        .collect();
    out.sort();
    out.dedup();
    out
}

/// The V4 canonical request, six lines joined by `\n`:
/// method, canonical URI, canonical query, canonical headers (each ending in `\n`),
/// additional header names, hashed payload.
///
/// - The URI is always `/bucket/key` encoded with `/` kept, even for virtual-hosted or
///   CNAME hosts (`/` without a bucket, `/bucket/` without a key).
/// - `query` is every URL query param, unencoded (in a presign: including the
///   `x-oss-*` auth params, excluding `x-oss-signature`); each key and value is
///   [`uri_encode`]d, sorted, and an empty value is written as the bare key.
/// - `headers` are filtered here to `x-oss-*`, `content-type`, `content-md5` and the
///   effective `additional_headers` (see [`effective_additional_headers`]); names are
///   lowercased, values trimmed, repeated names joined with `,`.
pub fn canonical_request(
    method: &str,
    bucket: &str,
    key: &str,
    query: &[(String, String)],
    headers: &[(String, String)],
    additional_headers: &[String],
    hashed_payload: &str,
) -> String {
    let uri = if bucket.is_empty() {
        String::from("/")
    } else {
        uri_encode(&format!("/{bucket}/{key}"), true)
    };

    let mut q: Vec<(String, String)> = query
        .iter()
        .map(|(k, v)| (uri_encode(k, false), uri_encode(v, false)))
        .collect();
    q.sort();
    let canonical_query = q
        .iter()
        .map(|(k, v)| {
            if v.is_empty() {
                k.clone()
            } else {
                format!("{k}={v}")
            }
        })
        .collect::<Vec<_>>()
        .join("&");

    let additional = effective_additional_headers(headers, additional_headers);
    let mut signed: Vec<(String, String)> = Vec::new();
    for (k, v) in headers {
        let name = k.to_ascii_lowercase();
        if !(is_default_signed(&name) || additional.contains(&name)) {
            continue;
        }
        let value = v.trim();
        match signed.iter_mut().find(|(n, _)| *n == name) {
            Some((_, existing)) => {
                existing.push(',');
                existing.push_str(value);
            }
            None => signed.push((name, value.to_string())),
        }
    }
    signed.sort();
    let mut canonical_headers = String::new();
    for (k, v) in &signed {
        canonical_headers.push_str(k);
        canonical_headers.push(':');
        canonical_headers.push_str(v);
        canonical_headers.push('\n');
    }

    format!(
        "{method}\n{uri}\n{canonical_query}\n{canonical_headers}\n{}\n{hashed_payload}",
        additional.join(";")
    )
}

/// The credential scope `<yyyyMMdd>/<region>/<product>/aliyun_v4_request`. `region` is
/// the bare region id (`cn-hangzhou`, not `oss-cn-hangzhou`); `product` is `oss`.
pub fn scope(date_yyyymmdd: &str, region: &str, product: &str) -> String {
    format!("{date_yyyymmdd}/{region}/{product}/aliyun_v4_request")
}

/// The V4 string to sign: algorithm, x-oss-date, scope, and the lowercase hex SHA-256
/// of the canonical request, joined by `\n`.
pub fn string_to_sign(datetime_iso_basic: &str, scope: &str, canonical_request: &str) -> String {
    let hash = hex::encode(Sha256::digest(canonical_request.as_bytes()));
    format!("{ALGORITHM}\n{datetime_iso_basic}\n{scope}\n{hash}")
}

/// The V4 signing key: HMAC-SHA256 chained over date, region, product and
/// `aliyun_v4_request`, starting from `"aliyun_v4" + secret`. It only depends on the
/// day, so a caller may cache it per (secret, day, region).
pub fn signing_key(secret: &str, date_yyyymmdd: &str, region: &str, product: &str) -> [u8; 32] {
    let k = hmac_sha256(
        format!("aliyun_v4{secret}").as_bytes(),
        date_yyyymmdd.as_bytes(),
    );
    let k = hmac_sha256(&k, region.as_bytes());
    let k = hmac_sha256(&k, product.as_bytes());
    hmac_sha256(&k, b"aliyun_v4_request")
}

/// The V4 signature: lowercase hex HMAC-SHA256 of the string to sign under the
/// signing key.
pub fn signature(signing_key: &[u8; 32], string_to_sign: &str) -> String {
    hex::encode(hmac_sha256(signing_key, string_to_sign.as_bytes()))
}

/// All query params of a V4 presigned URL, unencoded, in URL order, with
/// `x-oss-signature` last. See [`presign_with_additional_headers`]; this form signs only
/// the headers OSS signs by default (`content-type`, `content-md5`, `x-oss-*`) from
/// `req.headers`. `region` is the bare region id; `expires_secs` is relative to `now`
/// (1..=[`MAX_EXPIRES_SECS`]).
pub fn presign(
    creds: &Credentials,
    region: &str,
    req: &PresignInput,
    now: DateTime<Utc>,
    expires_secs: u64,
) -> Vec<(String, String)> {
    presign_with_additional_headers(creds, region, req, &[], now, expires_secs)
}

/// [`presign`], also signing the non-default headers named in `additional_headers`
/// (e.g. `content-length` to pin the upload size, `content-disposition`). Those the
/// request does not carry are dropped, as the SDKs do.
///
/// Param order: `req.query` as given, then `x-oss-signature-version`, `x-oss-date`,
/// `x-oss-expires`, `x-oss-credential`, `x-oss-security-token` (STS),
/// `x-oss-additional-headers` (if any), `x-oss-signature`; that is the order
/// alibabacloud-oss-v2 emits. OSS sorts params itself when verifying.
pub fn presign_with_additional_headers(
    creds: &Credentials,
    region: &str,
    req: &PresignInput,
    additional_headers: &[String],
    now: DateTime<Utc>,
    expires_secs: u64,
) -> Vec<(String, String)> {
    presign_with_signing_key(
        creds,
        region,
        req,
        additional_headers,
        now,
        expires_secs,
        |date| signing_key(&creds.access_key_secret, date, region, PRODUCT),
    )
}

/// [`presign_with_additional_headers`] with the signing key supplied by the
/// caller for the signing date (`yyyymmdd`).
///
/// Why: the key depends only on the secret, the date and the region, and its
/// four chained HMACs are a large share of a presign's cost, so a caller that
/// signs many URLs with the same credentials may derive it once a day.
/// `key_for_date` must return [`signing_key`]`(secret, date, region, "oss")`.
pub fn presign_with_signing_key(
    creds: &Credentials,
    region: &str,
    req: &PresignInput,
    additional_headers: &[String],
    now: DateTime<Utc>,
    expires_secs: u64,
    key_for_date: impl FnOnce(&str) -> [u8; 32],
) -> Vec<(String, String)> {
    let datetime = format_datetime(now);
    let date = &datetime[..8];
    let scope = scope(date, region, PRODUCT);
    let additional = effective_additional_headers(req.headers, additional_headers);

    let mut params: Vec<(String, String)> = req.query.to_vec();
    params.push(("x-oss-signature-version".into(), ALGORITHM.into()));
    params.push(("x-oss-date".into(), datetime.clone()));
    params.push(("x-oss-expires".into(), expires_secs.to_string()));
    params.push((
        "x-oss-credential".into(),
        format!("{}/{scope}", creds.access_key_id),
    ));
    if let Some(token) = &creds.security_token {
        params.push(("x-oss-security-token".into(), token.clone()));
    }
    if !additional.is_empty() {
        params.push(("x-oss-additional-headers".into(), additional.join(";")));
    }

    let creq = canonical_request(
        req.method,
        req.bucket,
        req.key,
        &params,
        req.headers,
        &additional,
        UNSIGNED_PAYLOAD,
    );
    let sts = string_to_sign(&datetime, &scope, &creq);
    let key = key_for_date(date);
    params.push(("x-oss-signature".into(), signature(&key, &sts)));
    params
}

/// The headers a header-authenticated V4 request must carry besides its own: `headers`
/// plus `x-oss-date`, `x-oss-content-sha256: UNSIGNED-PAYLOAD` and (STS)
/// `x-oss-security-token`, each only if not already present. [`authorization_header`]
/// signs exactly this set, so the caller must send it.
pub fn request_headers(
    creds: &Credentials,
    headers: &[(String, String)],
    now: DateTime<Utc>,
) -> Vec<(String, String)> {
    let has = |name: &str| headers.iter().any(|(k, _)| k.eq_ignore_ascii_case(name));
    let mut out = headers.to_vec();
    if !has("x-oss-date") {
        out.push(("x-oss-date".into(), format_datetime(now)));
    }
    if !has("x-oss-content-sha256") {
        out.push(("x-oss-content-sha256".into(), UNSIGNED_PAYLOAD.into()));
    }
    if let Some(token) = &creds.security_token {
        if !has("x-oss-security-token") {
            out.push(("x-oss-security-token".into(), token.clone()));
        }
    }
    out
}

/// The V4 `Authorization` header value for header authentication:
/// `OSS4-HMAC-SHA256 Credential=<AK>/<scope>[,AdditionalHeaders=a;b],Signature=<hex>`
/// (no spaces after commas, as the v2 SDKs write it). Signs the header set from
/// [`request_headers`]; the hashed payload is that set's `x-oss-content-sha256`.
/// Mostly for tests and the emulator; browsers get presigned URLs instead.
#[allow(clippy::too_many_arguments)]
pub fn authorization_header(
    creds: &Credentials,
    region: &str,
    method: &str,
    bucket: &str,
    key: &str,
    query: &[(String, String)],
    headers: &[(String, String)],
    additional_headers: &[String],
    now: DateTime<Utc>,
) -> String {
    let headers = request_headers(creds, headers, now);
    let datetime = format_datetime(now);
    let date = &datetime[..8];
    let scope = scope(date, region, PRODUCT);
    let additional = effective_additional_headers(&headers, additional_headers);
    let payload = crate::header_value(&headers, "x-oss-content-sha256").unwrap_or(UNSIGNED_PAYLOAD);
    let creq = canonical_request(method, bucket, key, query, &headers, &additional, payload);
    let sts = string_to_sign(&datetime, &scope, &creq);
    let sig = signature(
        &signing_key(&creds.access_key_secret, date, region, PRODUCT),
        &sts,
    );
    let mut out = format!("{ALGORITHM} Credential={}/{scope}", creds.access_key_id);
    if !additional.is_empty() {
        out.push_str(",AdditionalHeaders=");
        out.push_str(&additional.join(";"));
    }
    out.push_str(",Signature=");
    out.push_str(&sig);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::encode::query_string;

    fn s(a: &str, b: &str) -> (String, String) {
        (a.to_string(), b.to_string())
    }

    fn at(unix: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(unix, 0).unwrap()
    }

    fn vector_query() -> Vec<(String, String)> {
        vec![
            s("param1", "value1"),
            s("+param1", "value3"),
            s("|param1", "value4"),
            s("+param2", ""),
            s("|param2", ""),
            s("param2", ""),
        ]
    }

    fn vector_headers(content_type: &str, with_sha: bool) -> Vec<(String, String)> {
        let mut h = vec![
            s("x-oss-head1", "value"),
            s("abc", "value"),
            s("ZAbc", "value"),
            s("XYZ", "value"),
            s("content-type", content_type),
        ];
        if with_sha {
            h.push(s("x-oss-content-sha256", "UNSIGNED-PAYLOAD"));
        }
        h
    }

    const KEY: &str = "1234+-/123/1.txt";

    #[test]
    fn scope_and_signing_key() {
        assert_eq!(
            scope("20231217", "cn-hangzhou", "oss"),
            "20231217/cn-hangzhou/oss/aliyun_v4_request"
        );
        assert_eq!(
            hex::encode(signing_key("sk", "20231217", "cn-hangzhou", "oss")),
            "0e11d77e422d3484e84ee6b628fdf2a85f3788e1a597f23116b477efb407e94e"
        );
    }

    /// Vector A from the research notes: the full canonical request of the first
    /// presign row, its hash, and its signature.
    #[test]
    fn vector_a_canonical_request() {
        let mut q = vector_query();
        q.push(s(
            "x-oss-credential",
            "ak/20231217/cn-hangzhou/oss/aliyun_v4_request",
        ));
        q.push(s("x-oss-date", "20231217T025437Z"));
        q.push(s("x-oss-expires", "599"));
        q.push(s("x-oss-signature-version", "OSS4-HMAC-SHA256"));
        let creq = canonical_request(
            "PUT",
            "bucket",
            KEY,
            &q,
            &vector_headers("application/octet-stream", false),
            &[],
            UNSIGNED_PAYLOAD,
        );
        let expected = "PUT\n/bucket/1234%2B-/123/1.txt\n%2Bparam1=value3&%2Bparam2&%7Cparam1=value4&%7Cparam2&param1=value1&param2&x-oss-credential=ak%2F20231217%2Fcn-hangzhou%2Foss%2Faliyun_v4_request&x-oss-date=20231217T025437Z&x-oss-expires=599&x-oss-signature-version=OSS4-HMAC-SHA256\ncontent-type:application/octet-stream\nx-oss-head1:value\n\n\nUNSIGNED-PAYLOAD";
        assert_eq!(creq, expected);
        let sts = string_to_sign(
            "20231217T025437Z",
            "20231217/cn-hangzhou/oss/aliyun_v4_request",
            &creq,
        );
        assert!(sts.ends_with("\n48814c11f278d51662015bf2f896b66ca10b6de0187ed8d952e341bbce0aa336"));
        let key = signing_key("sk", "20231217", "cn-hangzhou", "oss");
        assert_eq!(
            signature(&key, &sts),
            "a39966c61718be0d5b14e668088b3fa07601033f6518ac7b523100014269c0fe"
        );
    }

    fn presign_vector(
        creds: &Credentials,
        unix: i64,
        expires: u64,
        additional: &[String],
    ) -> Vec<(String, String)> {
        let q = vector_query();
        let h = vector_headers("application/octet-stream", false);
        let req = PresignInput {
            method: "PUT",
            bucket: "bucket",
            key: KEY,
            headers: &h,
            query: &q,
        };
        presign_with_additional_headers(creds, "cn-hangzhou", &req, additional, at(unix), expires)
    }

    fn get<'a>(p: &'a [(String, String)], k: &str) -> Option<&'a str> {
        p.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str())
    }

    #[test]
    fn vector_presign() {
        let creds = Credentials::new("ak", "sk", None);
        let p = presign_vector(&creds, 1702781677, 599, &[]);
        assert_eq!(p.last().unwrap().0, "x-oss-signature");
        assert_eq!(
            get(&p, "x-oss-signature"),
            Some("a39966c61718be0d5b14e668088b3fa07601033f6518ac7b523100014269c0fe")
        );
        assert_eq!(get(&p, "x-oss-additional-headers"), None);
        assert!(query_string(&p)
            .contains("x-oss-credential=ak%2F20231217%2Fcn-hangzhou%2Foss%2Faliyun_v4_request"));
        // The Python SDK's 5-day variant.
        let p = presign_vector(&creds, 1702781677, 432000, &[]);
        assert_eq!(
            get(&p, "x-oss-signature"),
            Some("31029123dc7732d2d2cfd4006ea4fdb6cf86da6478f813e2bf8f87877c7b9fec")
        );
    }

    #[test]
    fn vector_presign_sts() {
        let creds = Credentials::new("ak", "sk", Some("token".into()));
        let p = presign_vector(&creds, 1702785388, 599, &[]);
        assert_eq!(get(&p, "x-oss-date"), Some("20231217T035628Z"));
        assert_eq!(get(&p, "x-oss-security-token"), Some("token"));
        assert_eq!(
            get(&p, "x-oss-signature"),
            Some("3817ac9d206cd6dfc90f1c09c00be45005602e55898f26f5ddb06d7892e1f8b5")
        );
    }

    #[test]
    fn vector_presign_additional_headers() {
        let creds = Credentials::new("ak", "sk", None);
        for requested in [
            vec!["ZAbc".to_string(), "abc".to_string()],
            vec![
                "x-oss-no-exist".to_string(),
                "ZAbc".to_string(),
                "x-oss-head1".to_string(),
                "abc".to_string(),
            ],
        ] {
            let p = presign_vector(&creds, 1702783809, 599, &requested);
            assert_eq!(get(&p, "x-oss-date"), Some("20231217T033009Z"));
            assert_eq!(get(&p, "x-oss-additional-headers"), Some("abc;zabc"));
            assert!(query_string(&p).contains("x-oss-additional-headers=abc%3Bzabc"));
            assert_eq!(
                get(&p, "x-oss-signature"),
                Some("6bd984bfe531afb6db1f7550983a741b103a8c58e5e14f83ea474c2322dfa2b7")
            );
        }
    }

    fn header_vector(creds: &Credentials, unix: i64, additional: &[String]) -> String {
        authorization_header(
            creds,
            "cn-hangzhou",
            "PUT",
            "bucket",
            KEY,
            &vector_query(),
            &vector_headers("text/plain", true),
            additional,
            at(unix),
        )
    }

    #[test]
    fn vector_header_auth() {
        let creds = Credentials::new("ak", "sk", None);
        assert_eq!(
            header_vector(&creds, 1702743657, &[]),
            "OSS4-HMAC-SHA256 Credential=ak/20231216/cn-hangzhou/oss/aliyun_v4_request,Signature=e21d18daa82167720f9b1047ae7e7f1ce7cb77a31e8203a7d5f4624fa0284afe"
        );
        let sts = Credentials::new("ak", "sk", Some("token".into()));
        assert_eq!(
            header_vector(&sts, 1702784856, &[]),
            "OSS4-HMAC-SHA256 Credential=ak/20231217/cn-hangzhou/oss/aliyun_v4_request,Signature=b94a3f999cf85bcdc00d332fbd3734ba03e48382c36fa4d5af5df817395bd9ea"
        );
        assert_eq!(
            header_vector(&creds, 1702747512, &["ZAbc".into(), "abc".into()]),
            "OSS4-HMAC-SHA256 Credential=ak/20231216/cn-hangzhou/oss/aliyun_v4_request,AdditionalHeaders=abc;zabc,Signature=4a4183c187c07c8947db7620deb0a6b38d9fbdd34187b6dbaccb316fa251212f"
        );
    }

    #[test]
    fn different_key_different_signature() {
        let creds = Credentials::new("ak", "sk", None);
        let mk = |key| PresignInput {
            method: "GET",
            bucket: "b",
            key,
            headers: &[],
            query: &[],
        };
        let a = presign(&creds, "cn-hangzhou", &mk("a"), at(1702781677), 60);
        let b = presign(&creds, "cn-hangzhou", &mk("b"), at(1702781677), 60);
        assert_ne!(a.last(), b.last());
    }

    #[test]
    fn empty_bucket_uri_and_repeated_headers() {
        let c = canonical_request(
            "GET",
            "",
            "",
            &[],
            &[s("X-Oss-Meta-A", " 1 "), s("x-oss-meta-a", "2")],
            &[],
            UNSIGNED_PAYLOAD,
        );
        assert_eq!(c, "GET\n/\n\nx-oss-meta-a:1,2\n\n\nUNSIGNED-PAYLOAD");
    }

    #[test]
    fn supplied_signing_key_signs_the_same_and_a_wrong_one_does_not() {
        let creds = Credentials::new("STS.ak", "the-secret", Some("tok+en/=".into()));
        let headers = vec![
            ("Content-Type".to_string(), "image/png".to_string()),
            ("Content-Length".to_string(), "1234".to_string()),
        ];
        let req = PresignInput {
            method: "PUT",
            bucket: "bucket",
            key: "a b/c+d.png",
            headers: &headers,
            query: &[],
        };
        let now = DateTime::from_timestamp(1_702_781_677, 0).unwrap();
        let extra = vec!["content-length".to_string()];
        let derived =
            presign_with_additional_headers(&creds, "cn-hangzhou", &req, &extra, now, 600);
        let mut asked = String::new();
        let supplied =
            presign_with_signing_key(&creds, "cn-hangzhou", &req, &extra, now, 600, |date| {
                asked = date.to_string();
                signing_key("the-secret", date, "cn-hangzhou", PRODUCT)
            });
        assert_eq!(asked, "20231217");
        assert_eq!(derived, supplied);
        let wrong =
            presign_with_signing_key(&creds, "cn-hangzhou", &req, &extra, now, 600, |date| {
                signing_key("other-secret", date, "cn-hangzhou", PRODUCT)
            });
        assert_ne!(derived.last(), wrong.last());
    }
}
