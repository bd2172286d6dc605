//! Request signing for Alibaba Cloud POP (OpenAPI) calls such as STS `AssumeRole`.
//!
//! Everything here is a pure function: no I/O, no clock, no randomness. The
//! caller passes the timestamp and nonce in, so every step can be checked
//! against published vectors and against the official SDK's own signer.
//!
//! Two schemes exist:
//! - [`rpc`]: RPC Signature V1 (`HMAC-SHA1`, `Signature` query parameter).
//!   Older SDKs and most docs use it.
//! - [`acs3`]: `ACS3-HMAC-SHA256` (V3, `Authorization` header). The current
//!   official Python SDK (`alibabacloud_sts20150401` 1.x + `alibabacloud-tea-openapi`
//!   0.4.x) signs STS `AssumeRole` with this one by default, so the client uses it.

use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha1::Sha1;
use sha2::{Digest, Sha256};

/// Percent-encodes `s` the way Alibaba Cloud POP signing requires (RFC 3986).
///
/// Why not `form_urlencoded`: POP wants space as `%20` (not `+`), `*` as `%2A`
/// and `~` left alone; any difference changes the signature. The set is the
/// same one OSS signs with ([`crate::encode::COMPONENT`]).
pub fn percent_encode(s: &str) -> String {
    crate::encode::uri_encode(s, false)
}

/// Canonical query string shared by both schemes: `pct(k)=pct(v)` pairs sorted
/// by key (then value) and joined with `&`.
///
/// Sorting is by the raw key bytes, which for UTF-8 equals the code-point order
/// the SDKs use. The caller must leave out `Signature` (RPC V1).
fn canonical_pairs(params: &[(&str, &str)]) -> String {
    let mut sorted: Vec<(&str, &str)> = params.to_vec();
    sorted.sort_unstable();
    let mut out = String::new();
    for (i, (k, v)) in sorted.iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        out.push_str(&percent_encode(k));
        out.push('=');
        out.push_str(&percent_encode(v));
    }
    out
}

/// Lowercase hex of SHA-256, the payload/canonical-request hash ACS3 uses.
pub fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

/// RPC Signature V1 (`SignatureMethod=HMAC-SHA1`, `SignatureVersion=1.0`).
///
/// Kept next to ACS3 because STS still accepts it, older SDKs and the Go SDK
/// default to it, and the test peer verifies both.
pub mod rpc {
    use super::*;

    /// Canonicalized query string over all parameters except `Signature`.
    ///
    /// Why a separate function: it is the piece most often gotten wrong
    /// (sorting, `%20` vs `+`), so tests check it on its own.
    pub fn canonical_query(params: &[(&str, &str)]) -> String {
        canonical_pairs(params)
    }

    /// `METHOD&%2F&pct(canonical_query)`: what the HMAC is computed over.
    ///
    /// `params` must hold every request parameter (common and action ones)
    /// except `Signature`.
    pub fn string_to_sign(method: &str, params: &[(&str, &str)]) -> String {
        format!(
            "{}&{}&{}",
            method.to_ascii_uppercase(),
            percent_encode("/"),
            percent_encode(&canonical_query(params))
        )
    }

    /// `base64(HMAC-SHA1(secret + "&", string_to_sign))`.
    ///
    /// The trailing `&` on the key is part of the scheme (it once separated
    /// the secret from an unused token secret).
    pub fn signature(access_key_secret: &str, string_to_sign: &str) -> String {
        let key = format!("{access_key_secret}&");
        // HMAC accepts keys of any length, so this cannot fail.
        let mut mac = match Hmac::<Sha1>::new_from_slice(key.as_bytes()) {
            Ok(m) => m,
            Err(_) => unreachable_hmac(),
        };
        mac.update(string_to_sign.as_bytes());
        base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
    }
}

/// The STS API version `AssumeRole` lives in (`Version`, `x-acs-version`).
pub const STS_VERSION: &str = "2015-04-01";

/// Signature V3 `ACS3-HMAC-SHA256` (header-based).
///
/// This is what the current official SDK uses for STS, so our client does too.
pub mod acs3 {
    use super::*;

    /// The algorithm name, the first token of `Authorization` and of the string to sign.
    pub const ALGORITHM: &str = "ACS3-HMAC-SHA256";

    /// Canonical query string: parameters sorted by name, `pct(k)=pct(v)`
    /// joined with `&` (an empty value gives `k=`).
    pub fn canonical_query(params: &[(&str, &str)]) -> String {
        canonical_pairs(params)
    }

    /// Canonical headers and the `SignedHeaders` list.
    ///
    /// Names are lowercased, values trimmed, duplicates joined with `,` (sorted),
    /// and entries sorted by name; each line ends with `\n`. Returns
    /// `(canonical_headers, signed_headers)`. Every header passed in is signed,
    /// which is what the official SDK does with the headers it sends.
    pub fn canonical_headers(headers: &[(&str, &str)]) -> (String, String) {
        let mut merged: std::collections::BTreeMap<String, Vec<String>> =
            std::collections::BTreeMap::new();
        for (k, v) in headers {
            merged
                .entry(k.to_ascii_lowercase())
                .or_default()
                .push(v.trim().to_string());
        }
        let mut canonical = String::new();
        let mut names = Vec::with_capacity(merged.len());
        for (k, mut vals) in merged {
            vals.sort();
            canonical.push_str(&k);
            canonical.push(':');
            canonical.push_str(&vals.join(","));
            canonical.push('\n');
            names.push(k);
        }
        (canonical, names.join(";"))
    }

    /// `METHOD\nURI\nCanonicalQuery\nCanonicalHeaders\nSignedHeaders\nHashedPayload`.
    ///
    /// `hashed_payload` is `sha256_hex(body)` (of `""` when there is no body).
    pub fn canonical_request(
        method: &str,
        uri: &str,
        query: &[(&str, &str)],
        headers: &[(&str, &str)],
        hashed_payload: &str,
    ) -> String {
        let (canon_headers, signed) = canonical_headers(headers);
        let uri = if uri.is_empty() { "/" } else { uri };
        format!(
            "{}\n{}\n{}\n{}\n{}\n{}",
            method.to_ascii_uppercase(),
            uri,
            canonical_query(query),
            canon_headers,
            signed,
            hashed_payload
        )
    }

    /// `ACS3-HMAC-SHA256\n` + hex(SHA-256(canonical_request)).
    pub fn string_to_sign(canonical_request: &str) -> String {
        format!("{ALGORITHM}\n{}", sha256_hex(canonical_request.as_bytes()))
    }

    /// hex(HMAC-SHA256(secret, string_to_sign)); the key is the plain secret (no `&`).
    pub fn signature(access_key_secret: &str, string_to_sign: &str) -> String {
        // HMAC accepts keys of any length, so this cannot fail.
        let mut mac = match Hmac::<Sha256>::new_from_slice(access_key_secret.as_bytes()) {
            Ok(m) => m,
            Err(_) => unreachable_hmac(),
        };
        mac.update(string_to_sign.as_bytes());
        hex::encode(mac.finalize().into_bytes())
    }

    /// The `Authorization` header value.
    pub fn authorization(access_key_id: &str, signed_headers: &str, signature: &str) -> String {
        format!("{ALGORITHM} Credential={access_key_id},SignedHeaders={signed_headers},Signature={signature}")
    }
}

#[cold]
fn unreachable_hmac() -> ! {
    // `Hmac::new_from_slice` only errors for fixed-key-size MACs; HMAC has none.
    unreachable!("HMAC accepts keys of any length")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_encode_rfc3986() {
        assert_eq!(percent_encode("a b*c~d/e+f=g"), "a%20b%2Ac~d%2Fe%2Bf%3Dg");
        assert_eq!(percent_encode("-_.~AZaz09"), "-_.~AZaz09");
        assert_eq!(percent_encode("é"), "%C3%A9");
        assert_eq!(
            percent_encode("2015-08-18T03:15:45Z"),
            "2015-08-18T03%3A15%3A45Z"
        );
    }

    /// Official RPC V1 vector (research notes §5, [verified]; also reproduced
    /// with `alibabacloud_openapi_util.client.Client.get_rpcsignature`).
    #[test]
    fn rpc_v1_official_vector() {
        let params = [
            ("Version", "2015-05-01"),
            ("UserName", "test"),
            ("Timestamp", "2015-08-18T03:15:45Z"),
            ("SignatureVersion", "1.0"),
            ("SignatureNonce", "6a6e0ca6-4557-11e5-86a2-b8e8563dc8d2"),
            ("SignatureMethod", "HMAC-SHA1"),
            ("Format", "JSON"),
            ("Action", "CreateUser"),
            ("AccessKeyId", "testid"),
        ];
        let sts = rpc::string_to_sign("GET", &params);
        assert_eq!(
            sts,
            "GET&%2F&AccessKeyId%3Dtestid%26Action%3DCreateUser%26Format%3DJSON%26SignatureMethod%3DHMAC-SHA1%26SignatureNonce%3D6a6e0ca6-4557-11e5-86a2-b8e8563dc8d2%26SignatureVersion%3D1.0%26Timestamp%3D2015-08-18T03%253A15%253A45Z%26UserName%3Dtest%26Version%3D2015-05-01"
        );
        assert_eq!(
            rpc::signature("testsecret", &sts),
            "kRA2cnpJVacIhDMzXnoNZG9tDCI="
        );
    }

    #[test]
    fn rpc_canonical_query_sorts_and_encodes() {
        assert_eq!(
            rpc::canonical_query(&[("b", "x y"), ("a", "1*"), ("Policy", "{\"a\":1}")]),
            "Policy=%7B%22a%22%3A1%7D&a=1%2A&b=x%20y"
        );
    }

    /// Official ACS3 vector (research notes §5, [verified]; also reproduced
    /// with `alibabacloud_openapi_util.client.Client.get_authorization`).
    #[test]
    fn acs3_official_vector() {
        let empty = sha256_hex(b"");
        assert_eq!(
            empty,
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        let headers = [
            ("host", "ecs.cn-shanghai.aliyuncs.com"),
            ("x-acs-action", "RunInstances"),
            ("x-acs-version", "2014-05-26"),
            ("x-acs-date", "2023-10-26T10:22:32Z"),
            ("x-acs-signature-nonce", "3156853299f313e23d1673dc12e1703d"),
            ("x-acs-content-sha256", empty.as_str()),
        ];
        let query = [
            ("RegionId", "cn-shanghai"),
            (
                "ImageId",
                "win2019_1809_x64_dtc_zh-cn_40G_alibase_20230811.vhd",
            ),
        ];
        let cr = acs3::canonical_request("POST", "/", &query, &headers, &empty);
        assert_eq!(
            sha256_hex(cr.as_bytes()),
            "7ea06492da5221eba5297e897ce16e55f964061054b7695beedaac1145b1e259"
        );
        let sts = acs3::string_to_sign(&cr);
        let sig = acs3::signature("YourAccessKeySecret", &sts);
        assert_eq!(
            sig,
            "06563a9e1b43f5dfe96b81484da74bceab24a1d853912eee15083a6f0f3283c0"
        );
        let (_, signed) = acs3::canonical_headers(&headers);
        assert_eq!(
            acs3::authorization("YourAccessKeyId", &signed, &sig),
            "ACS3-HMAC-SHA256 Credential=YourAccessKeyId,SignedHeaders=host;x-acs-action;x-acs-content-sha256;x-acs-date;x-acs-signature-nonce;x-acs-version,Signature=06563a9e1b43f5dfe96b81484da74bceab24a1d853912eee15083a6f0f3283c0"
        );
    }

    #[test]
    fn acs3_canonical_headers_lowercase_trim_merge() {
        let (c, s) =
            acs3::canonical_headers(&[("X-Acs-B", " 2 "), ("host", "h"), ("x-acs-b", "1")]);
        assert_eq!(c, "host:h\nx-acs-b:1,2\n");
        assert_eq!(s, "host;x-acs-b");
    }
}
