//! Presigned UploadPart URLs (`oss::multipart::UploadPart`) against Alibaba's
//! official Python SDKs, run with a frozen clock by `tests/peers/oss_sign.py`:
//!
//! - V4, no length binding, with and without an STS token: alibabacloud-oss-v2
//!   `Client.presign(UploadPartRequest(...))`, **byte for byte**.
//! - V4 with `Content-Length` bound through `x-oss-additional-headers`, with and
//!   without a token: alibabacloud-oss-v2's `SignerV4` (its `Client.presign` drops
//!   additional headers), **byte for byte**.
//! - V1 with `partNumber`/`uploadId` as signed sub-resources, with and without a
//!   token: alibabacloud-oss-v2 `Client.presign` byte for byte, and oss2
//!   `Bucket.sign_url(..., params={partNumber, uploadId})` byte for byte where oss2's
//!   URL layout allows (no token, `slash_safe`), canonically otherwise.
//! - oss2 V4 `sign_url` with the same params, canonically.
//! - A signed `Content-Type` (what Uppy 5's part PUTs are told to send), V4
//!   and V1, with and without the length bound, byte for byte against
//!   alibabacloud-oss-v2.
//!
//! Each comparison can fail: another part number, upload id or bound length gives a
//! URL the SDK's does not equal.

#[path = "common/peers.rs"]
mod peers;

use alibaba_sign::oss_v4 as v4;
use alibaba_sign::Credentials;
use chrono::{DateTime, Utc};
use oss_direct_upload::oss::endpoint::Endpoint;
use oss_direct_upload::oss::multipart::UploadPart;
use percent_encoding::percent_decode_str;
use serde_json::{json, Value};

const NOW: i64 = 1_702_781_677;
const EXPIRES: u64 = 599;
const REGION: &str = "cn-hangzhou";
const AK: &str = "LTAI-test-ak";
const SK: &str = "test/secret+key=";
const TOKEN: &str = "CAIS/tok+en==";
const ALIYUN: &str = "https://oss-cn-hangzhou.aliyuncs.com"; // ok: only signed into URLs, never connected to
const BUCKET: &str = "test-bucket";

const KEYS: &[&str] = &[
    "uploads/u-alice/0a1b2c3d4e5f60718293a4b5/movie.mp4",
    "uploads/dir/sub dir/a+b%c&d=e.bin",
    "uploads/日本/ファイル é.png",
];
const UPLOAD_IDS: &[&str] = &[
    "0004B9894A22E5B1888A1E29F823ABCD",
    "7c3fa0c4e2b1d9a8f6e5d4c3b2a19080",
];
const PARTS: &[u32] = &[1, 7, 10_000];
const LENGTHS: &[u64] = &[1, 102_400, 8 * 1024 * 1024, 5_368_709_120];
const TYPES: &[&str] = &["application/octet-stream", "video/mp4"];

#[derive(Clone, Copy, Debug, PartialEq)]
enum Sdk {
    V2,
    V2Signer,
    Oss2 { slash_safe: bool },
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Version {
    V1,
    V4,
}

#[derive(Clone, Debug)]
struct Case {
    sdk: Sdk,
    version: Version,
    token: Option<&'static str>,
    key: &'static str,
    upload_id: &'static str,
    part_number: u32,
    length: Option<u64>,
    content_type: Option<&'static str>,
}

impl Case {
    fn part(&self) -> UploadPart<'_> {
        UploadPart {
            bucket: BUCKET,
            key: self.key,
            upload_id: self.upload_id,
            part_number: self.part_number,
            content_length: self.length,
            content_type: self.content_type,
        }
    }

    fn to_json(&self) -> Value {
        let (sdk, slash_safe) = match self.sdk {
            Sdk::V2 => ("v2", false),
            Sdk::V2Signer => ("v2signer", false),
            Sdk::Oss2 { slash_safe } => ("oss2", slash_safe),
        };
        let part = self.part();
        json!({
            "sdk": sdk, "op": "UploadPart",
            "version": match self.version { Version::V1 => "v1", Version::V4 => "v4" },
            "ak": AK, "sk": SK, "token": self.token,
            "endpoint": ALIYUN, "cname": false, "region": REGION,
            "bucket": BUCKET, "key": self.key, "method": "PUT",
            "headers": part.signed_headers(), "params": part.query(),
            "now": NOW, "expires": EXPIRES, "slash_safe": slash_safe,
            "additional_headers": if self.length.is_some() { vec!["content-length"] } else { vec![] },
        })
    }

    /// Our URL, from the crate's public API only.
    fn ours(&self) -> String {
        let creds = Credentials::new(AK, SK, self.token.map(str::to_string));
        let part = self.part();
        let now: DateTime<Utc> = DateTime::from_timestamp(NOW, 0).expect("valid timestamp");
        let query = match self.version {
            Version::V1 => part.presign_v1(&creds, NOW + EXPIRES as i64),
            Version::V4 => part.presign_v4(&creds, REGION, now, EXPIRES, |d| {
                v4::signing_key(SK, d, REGION, v4::PRODUCT)
            }),
        };
        Endpoint::parse(ALIYUN)
            .expect("endpoint")
            .object_url(BUCKET, self.key, &query)
    }

    fn exact(&self) -> bool {
        match self.sdk {
            Sdk::V2 | Sdk::V2Signer => true,
            Sdk::Oss2 { slash_safe } => {
                slash_safe && self.version == Version::V1 && self.token.is_none()
            }
        }
    }
}

fn cases() -> Vec<Case> {
    let mut out = Vec::new();
    let mut i = 0usize;
    for key in KEYS {
        for token in [None, Some(TOKEN)] {
            for _ in 0..2 {
                i += 1;
                let upload_id = UPLOAD_IDS[i % UPLOAD_IDS.len()];
                let part_number = PARTS[i % PARTS.len()];
                let base = Case {
                    sdk: Sdk::V2,
                    version: Version::V4,
                    token,
                    key,
                    upload_id,
                    part_number,
                    length: None,
                    content_type: None,
                };
                // V4 unbound and V1: the SDK's own UploadPartRequest presigner.
                out.push(base.clone());
                out.push(Case {
                    version: Version::V1,
                    ..base.clone()
                });
                // V4 bound to the part's length.
                out.push(Case {
                    sdk: Sdk::V2Signer,
                    length: Some(LENGTHS[i % LENGTHS.len()]),
                    ..base.clone()
                });
                // A signed Content-Type: V4 (bound and not) and V1.
                let typed = Case {
                    content_type: Some(TYPES[i % TYPES.len()]),
                    ..base.clone()
                };
                out.push(typed.clone());
                out.push(Case {
                    version: Version::V1,
                    ..typed.clone()
                });
                out.push(Case {
                    sdk: Sdk::V2Signer,
                    length: Some(LENGTHS[i % LENGTHS.len()]),
                    ..typed
                });
                // oss2 sign_url with partNumber/uploadId.
                for slash_safe in [true, false] {
                    for version in [Version::V1, Version::V4] {
                        out.push(Case {
                            sdk: Sdk::Oss2 { slash_safe },
                            version,
                            ..base.clone()
                        });
                    }
                }
            }
        }
    }
    out
}

fn sdk_urls(cases: &[Case]) -> Vec<String> {
    let input = json!({ "cases": cases.iter().map(Case::to_json).collect::<Vec<_>>() });
    let out = peers::run_python("oss_sign.py", &input);
    let results = out["results"].as_array().expect("results array");
    assert_eq!(results.len(), cases.len(), "one result per case");
    results
        .iter()
        .zip(cases)
        .map(|(r, c)| match r["url"].as_str() {
            Some(u) => u.to_string(),
            None => panic!("SDK failed on {c:?}: {}", r["error"]),
        })
        .collect()
}

/// Origin, decoded path and sorted decoded params: what OSS looks at.
fn canonical(url: &str) -> (String, String, Vec<(String, String)>) {
    let (base, query) = url.split_once('?').unwrap_or((url, ""));
    let dec = |s: &str| percent_decode_str(s).decode_utf8_lossy().into_owned();
    let path_at = base[8..].find('/').map(|i| i + 8).unwrap_or(base.len());
    let mut params: Vec<(String, String)> = query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (dec(k), dec(v))
        })
        .collect();
    params.sort();
    (base[..path_at].to_owned(), dec(&base[path_at..]), params)
}

fn same(c: &Case, ours: &str, theirs: &str) -> bool {
    if c.exact() {
        ours == theirs
    } else {
        canonical(ours) == canonical(theirs)
    }
}

#[test]
fn upload_part_urls_match_official_sdks() {
    let cases = cases();
    let theirs = sdk_urls(&cases);
    let mut failures = Vec::new();
    let mut exact = 0;
    for (c, t) in cases.iter().zip(&theirs) {
        let ours = c.ours();
        if !same(c, &ours, t) {
            failures.push(format!("{c:?}\n ours:   {ours}\n theirs: {t}"));
        } else if c.exact() {
            exact += 1;
        }
        // The URL really carries the part and, when bound, the length binding.
        assert!(t.contains(&format!("partNumber={}", c.part_number)), "{t}");
        assert_eq!(
            t.contains("x-oss-additional-headers=content-length"),
            c.length.is_some(),
            "{t}"
        );
    }
    assert!(
        failures.is_empty(),
        "{} of {} differ:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
    // V2 (V4 + V1), V2Signer and oss2 V1 slash-safe no-token are exact.
    assert!(exact * 2 >= cases.len(), "only {exact} exact");
}

/// The comparison can fail: the SDK's URL for one part is not ours for another
/// part number, upload id or bound length.
#[test]
fn upload_part_comparison_detects_changes() {
    let base: Vec<Case> = cases()
        .into_iter()
        .filter(|c| matches!(c.sdk, Sdk::V2 | Sdk::V2Signer))
        .take(6)
        .collect();
    let theirs = sdk_urls(&base);
    for (c, t) in base.iter().zip(&theirs) {
        assert!(same(c, &c.ours(), t));
        let other_part = Case {
            part_number: c.part_number % 10_000 + 1,
            ..c.clone()
        };
        assert!(!same(c, &other_part.ours(), t), "part number not signed");
        let other_id = Case {
            upload_id: if c.upload_id == UPLOAD_IDS[0] {
                UPLOAD_IDS[1]
            } else {
                UPLOAD_IDS[0]
            },
            ..c.clone()
        };
        assert!(!same(c, &other_id.ours(), t), "upload id not signed");
        if let Some(n) = c.length {
            let other_len = Case {
                length: Some(n + 1),
                ..c.clone()
            };
            assert!(!same(c, &other_len.ours(), t), "length not signed");
        }
        let other_type = Case {
            content_type: match c.content_type {
                Some(_) => None,
                None => Some(TYPES[0]),
            },
            ..c.clone()
        };
        assert!(!same(c, &other_type.ours(), t), "content type not signed");
    }
}
