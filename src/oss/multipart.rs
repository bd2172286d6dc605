//! Multipart uploads: the pure pieces (no I/O, clock passed in).
//!
//! The function keeps control of a multipart upload from start to finish:
//! it initiates it itself (pinning the type and forbidding overwrites),
//! hands out presigned **UploadPart** URLs only, and completes it itself after
//! checking the parts OSS holds. This module has what that needs without the
//! network: the part-size plan, the UploadPart presigner (V4 may bind each
//! URL to its part's exact `Content-Length`; V1 cannot), and the checks run
//! before CompleteMultipartUpload. The XML bodies are in
//! [`crate::oss::multipart_xml`].

use chrono::{DateTime, Utc};

use alibaba_sign::Credentials;
use alibaba_sign::{oss_v1 as v1, oss_v4 as v4, PresignInput};

/// Most parts one upload may have (OSS limit; part numbers are 1..=10,000).
pub const MAX_PARTS: u32 = 10_000;
/// Smallest size of every part except the last (OSS: 100 KB), checked by OSS
/// only at CompleteMultipartUpload.
pub const MIN_PART_BYTES: u64 = 100 * 1024;
/// Largest part OSS accepts (5 GB).
pub const MAX_PART_BYTES: u64 = 5 * 1024 * 1024 * 1024;
/// The part size the function picks when the file is small enough for it:
/// large enough that few URLs are signed, small enough that a retried part
/// costs little on a phone connection.
pub const DEFAULT_PART_BYTES: u64 = 8 * 1024 * 1024;
/// Part sizes are whole MiB so plans are easy to read and reproduce.
const PART_ALIGN: u64 = 1024 * 1024;

/// How a file of `size` bytes is cut into parts: every part but the last is
/// exactly `part_size`, the last holds the rest.
///
/// Derived from the size alone, so any instance (and the client) computes the
/// same plan without shared state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PartPlan {
    /// Total bytes declared at create.
    pub size: u64,
    /// Bytes in every part except the last.
    pub part_size: u64,
    /// Number of parts, 1..=[`MAX_PARTS`].
    pub part_count: u32,
}

impl PartPlan {
    /// The plan for `size` bytes: `max(8 MiB, ceil(size / 10,000))` rounded up
    /// to a whole MiB. `None` for 0 bytes or for more than 10,000 parts of
    /// 5 GB (no OSS object can be that large).
    pub fn for_size(size: u64) -> Option<PartPlan> {
        if size == 0 {
            return None;
        }
        let needed = size.div_ceil(u64::from(MAX_PARTS));
        let part_size = needed
            .max(DEFAULT_PART_BYTES)
            .div_ceil(PART_ALIGN)
            .checked_mul(PART_ALIGN)?;
        if part_size > MAX_PART_BYTES {
            return None;
        }
        let part_count = u32::try_from(size.div_ceil(part_size)).ok()?;
        (part_count <= MAX_PARTS).then_some(PartPlan {
            size,
            part_size,
            part_count,
        })
    }

    /// The exact length of part `n` (1-based), or `None` if the plan has no
    /// such part.
    pub fn part_len(&self, n: u32) -> Option<u64> {
        if n == 0 || n > self.part_count {
            return None;
        }
        if n < self.part_count {
            Some(self.part_size)
        } else {
            Some(self.size - u64::from(self.part_count - 1) * self.part_size)
        }
    }
}

/// One UploadPart request to presign: `PUT /<key>?partNumber=N&uploadId=ID`.
#[derive(Clone, Copy, Debug)]
pub struct UploadPart<'a> {
    /// Bucket name.
    pub bucket: &'a str,
    /// Object key, raw.
    pub key: &'a str,
    /// The id InitiateMultipartUpload returned.
    pub upload_id: &'a str,
    /// 1..=[`MAX_PARTS`] (not checked here; the caller validates input).
    pub part_number: u32,
    /// The part's exact length, when known. With V4 it is signed through
    /// `x-oss-additional-headers=content-length`, so OSS refuses a body of any
    /// other length (403). V1 has no way to sign it and ignores it.
    pub content_length: Option<u64>,
    /// The `Content-Type` the part's PUT will carry, signed (V4 and V1) so
    /// OSS accepts exactly that header. `None`: the PUT must carry none
    /// (a browser sends a `File.slice()` Blob without one). Parts never set
    /// the object's type; that was fixed at initiate.
    pub content_type: Option<&'a str>,
}

impl UploadPart<'_> {
    /// The query params, in the order alibabacloud-oss-v2 emits them.
    pub fn query(&self) -> Vec<(String, String)> {
        vec![
            ("partNumber".to_owned(), self.part_number.to_string()),
            ("uploadId".to_owned(), self.upload_id.to_owned()),
        ]
    }

    /// The headers the signature covers: the bound length (V4 only) and
    /// the [`UploadPart::content_type`], when set.
    pub fn signed_headers(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        if let Some(n) = self.content_length {
            out.push(("Content-Length".to_owned(), n.to_string()));
        }
        if let Some(t) = self.content_type {
            out.push(("Content-Type".to_owned(), t.to_owned()));
        }
        out
    }

    /// V4 presigned query params (see [`v4::presign_with_signing_key`]);
    /// `key_for_date` returns the day's signing key so callers can cache it.
    pub fn presign_v4(
        &self,
        creds: &Credentials,
        region: &str,
        now: DateTime<Utc>,
        expires_secs: u64,
        key_for_date: impl FnOnce(&str) -> [u8; 32],
    ) -> Vec<(String, String)> {
        let query = self.query();
        let headers = self.signed_headers();
        let additional: Vec<String> = if self.content_length.is_some() {
            vec!["content-length".to_owned()]
        } else {
            Vec::new()
        };
        let input = PresignInput {
            method: "PUT",
            bucket: self.bucket,
            key: self.key,
            headers: &headers,
            query: &query,
        };
        v4::presign_with_signing_key(
            creds,
            region,
            &input,
            &additional,
            now,
            expires_secs,
            key_for_date,
        )
    }

    /// V1 presigned query params, `partNumber` and `uploadId` signed as
    /// sub-resources. `expires_unix` is absolute. The length is not bound.
    pub fn presign_v1(&self, creds: &Credentials, expires_unix: i64) -> Vec<(String, String)> {
        let query = self.query();
        let headers: Vec<(String, String)> = self
            .content_type
            .map(|t| vec![("Content-Type".to_owned(), t.to_owned())])
            .unwrap_or_default();
        let input = PresignInput {
            method: "PUT",
            bucket: self.bucket,
            key: self.key,
            headers: &headers,
            query: &query,
        };
        v1::presign(creds, &input, expires_unix)
    }
}

/// An ETag in the form OSS lists it and expects back in Complete: in double
/// quotes. Accepts it quoted or not (oss2 strips the quotes, Uppy keeps
/// them), so clients may send either. The case is kept (OSS lists upper
/// case); [`same_etag`] compares without regard to it.
pub fn quote_etag(etag: &str) -> String {
    format!("\"{}\"", etag.trim().trim_matches('"'))
}

/// Whether two ETags name the same part (quotes and hex case ignored).
pub fn same_etag(a: &str, b: &str) -> bool {
    a.trim()
        .trim_matches('"')
        .eq_ignore_ascii_case(b.trim().trim_matches('"'))
}

/// A part OSS holds for an upload, as ListParts reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListedPart {
    /// 1..=10,000.
    pub part_number: u32,
    /// Quoted, as listed (see [`quote_etag`]).
    pub etag: String,
    /// Bytes.
    pub size: u64,
    /// As OSS wrote it (ISO 8601).
    pub last_modified: String,
}

/// Why the function refuses to complete an upload. Each one makes the
/// function abort the upload before answering, so nothing that broke a limit
/// can become an object later.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Violation {
    /// The client's list differs from what OSS holds.
    PartsMismatch(String),
    /// More than [`MAX_PARTS`] parts.
    TooManyParts(usize),
    /// A part other than the last is under [`MIN_PART_BYTES`].
    PartTooSmall {
        /// The part.
        part_number: u32,
        /// Its size.
        size: u64,
    },
    /// The parts add up to less than the minimum.
    TooSmall {
        /// Sum of the part sizes.
        total: u64,
        /// The smallest object allowed.
        min: u64,
    },
    /// The parts add up to more than the limit.
    TooLarge {
        /// Sum of the part sizes.
        total: u64,
        /// `MAX_UPLOAD_BYTES`.
        max: u64,
    },
}

/// Checks the client's `(partNumber, ETag)` list against the parts OSS lists
/// and the limits, and returns OSS's parts in ascending order (what goes into
/// CompleteMultipartUpload) with their total size.
///
/// The client list must name exactly the listed parts with the same ETags
/// (its order does not matter): a part the client did not mean to include,
/// or one still missing, means the object would not be the file it uploaded.
pub fn check_complete(
    client: &[(u32, String)],
    listed: &[ListedPart],
    min_bytes: u64,
    max_bytes: u64,
) -> Result<(Vec<ListedPart>, u64), Violation> {
    let mut theirs: Vec<ListedPart> = listed.to_vec();
    theirs.sort_by_key(|p| p.part_number);
    let mut mine: Vec<(u32, String)> = client.iter().map(|(n, e)| (*n, quote_etag(e))).collect();
    mine.sort_by_key(|p| p.0);
    if let Some(w) = mine.windows(2).find(|w| w[0].0 == w[1].0) {
        return Err(Violation::PartsMismatch(format!(
            "part {} is listed twice",
            w[0].0
        )));
    }
    for (n, etag) in &mine {
        match theirs.binary_search_by_key(n, |p| p.part_number) {
            Err(_) => {
                return Err(Violation::PartsMismatch(format!(
                    "part {n} was never uploaded (or is still in flight)"
                )))
            }
            Ok(i) if !same_etag(&theirs[i].etag, etag) => {
                return Err(Violation::PartsMismatch(format!(
                    "part {n} has ETag {} at OSS, not {etag}",
                    quote_etag(&theirs[i].etag)
                )))
            }
            Ok(_) => {}
        }
    }
    if let Some(extra) = theirs
        .iter()
        .find(|p| mine.binary_search_by_key(&p.part_number, |m| m.0).is_err())
    {
        return Err(Violation::PartsMismatch(format!(
            "OSS holds part {} that the list leaves out; list every uploaded part",
            extra.part_number
        )));
    }
    if theirs.len() > MAX_PARTS as usize {
        return Err(Violation::TooManyParts(theirs.len()));
    }
    if let Some(small) = theirs
        .iter()
        .take(theirs.len().saturating_sub(1))
        .find(|p| p.size < MIN_PART_BYTES)
    {
        return Err(Violation::PartTooSmall {
            part_number: small.part_number,
            size: small.size,
        });
    }
    let total = theirs
        .iter()
        .fold(0u64, |sum, p| sum.saturating_add(p.size));
    if total < min_bytes {
        return Err(Violation::TooSmall {
            total,
            min: min_bytes,
        });
    }
    if total > max_bytes {
        return Err(Violation::TooLarge {
            total,
            max: max_bytes,
        });
    }
    for p in &mut theirs {
        p.etag = quote_etag(&p.etag);
    }
    Ok((theirs, total))
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: u64 = 1024 * 1024;

    #[test]
    fn plan_small_medium_huge() {
        let p = PartPlan::for_size(1).unwrap();
        assert_eq!((p.part_size, p.part_count), (8 * MIB, 1));
        assert_eq!(p.part_len(1), Some(1));
        assert_eq!(p.part_len(2), None);
        assert_eq!(p.part_len(0), None);

        let p = PartPlan::for_size(20 * MIB + 5).unwrap();
        assert_eq!((p.part_size, p.part_count), (8 * MIB, 3));
        assert_eq!(p.part_len(2), Some(8 * MIB));
        assert_eq!(p.part_len(3), Some(4 * MIB + 5));

        // 1 TiB: 8 MiB would need 131,072 parts; the plan grows the part.
        let p = PartPlan::for_size(1024 * 1024 * MIB).unwrap();
        assert!(p.part_count <= MAX_PARTS);
        assert_eq!(p.part_size % MIB, 0);
        assert!(u64::from(p.part_count) * p.part_size >= p.size);
        assert!(u64::from(p.part_count - 1) * p.part_size < p.size);

        assert_eq!(PartPlan::for_size(0), None);
        assert_eq!(PartPlan::for_size(MAX_PART_BYTES * 10_001), None);
    }

    #[test]
    fn every_plan_is_within_oss_limits() {
        for size in [
            1,
            MIN_PART_BYTES,
            8 * MIB,
            8 * MIB + 1,
            80_000 * MIB,
            80_000 * MIB + 1,
            5 * 1024 * 1024 * MIB,
            48 * 1024 * 1024 * MIB,
        ] {
            let p = PartPlan::for_size(size).unwrap();
            assert!((1..=MAX_PARTS).contains(&p.part_count), "{size}");
            assert!(p.part_size >= MIN_PART_BYTES && p.part_size <= MAX_PART_BYTES);
            let sum: u64 = (1..=p.part_count).map(|n| p.part_len(n).unwrap()).sum();
            assert_eq!(sum, size);
            assert!(p.part_len(p.part_count).unwrap() >= 1);
        }
    }

    fn listed(n: u32, etag: &str, size: u64) -> ListedPart {
        ListedPart {
            part_number: n,
            etag: format!("\"{etag}\""),
            size,
            last_modified: String::new(),
        }
    }

    #[test]
    fn complete_check_accepts_matching_lists_in_any_order_and_quoting() {
        let oss = vec![listed(2, "BB", 10), listed(1, "AA", 200_000)];
        let client = vec![(2, "bb".to_owned()), (1, "\"AA\"".to_owned())];
        let (parts, total) = check_complete(&client, &oss, 1, 1_000_000).unwrap();
        assert_eq!(total, 200_010);
        assert_eq!(parts[0].part_number, 1);
        assert_eq!(parts[1].etag, "\"BB\"");
    }

    #[test]
    fn complete_check_refuses_each_violation() {
        let oss = vec![listed(1, "AA", 200_000), listed(2, "BB", 10)];
        let c = |v: &[(u32, &str)]| -> Vec<(u32, String)> {
            v.iter().map(|(n, e)| (*n, e.to_string())).collect()
        };
        let mismatch = |r: Result<_, Violation>| matches!(r, Err(Violation::PartsMismatch(_)));
        assert!(mismatch(check_complete(&c(&[(1, "AA")]), &oss, 1, 1 << 30)));
        assert!(mismatch(check_complete(
            &c(&[(1, "AA"), (2, "BC")]),
            &oss,
            1,
            1 << 30
        )));
        assert!(mismatch(check_complete(
            &c(&[(1, "AA"), (2, "BB"), (3, "CC")]),
            &oss,
            1,
            1 << 30
        )));
        assert!(mismatch(check_complete(
            &c(&[(1, "AA"), (1, "AA"), (2, "BB")]),
            &oss,
            1,
            1 << 30
        )));
        assert_eq!(
            check_complete(&c(&[(1, "AA"), (2, "BB")]), &oss, 1, 200_009),
            Err(Violation::TooLarge {
                total: 200_010,
                max: 200_009
            })
        );
        assert_eq!(
            check_complete(&c(&[(1, "AA"), (2, "BB")]), &oss, 200_011, 1 << 30),
            Err(Violation::TooSmall {
                total: 200_010,
                min: 200_011
            })
        );
        let small_first = vec![listed(1, "AA", 10), listed(2, "BB", 200_000)];
        assert_eq!(
            check_complete(&c(&[(1, "AA"), (2, "BB")]), &small_first, 1, 1 << 30),
            Err(Violation::PartTooSmall {
                part_number: 1,
                size: 10
            })
        );
    }

    #[test]
    fn etags_are_normalised() {
        assert_eq!(quote_etag("ABC"), "\"ABC\"");
        assert_eq!(quote_etag("\"ABC\""), "\"ABC\"");
        assert_eq!(quote_etag(" \"abc\" "), "\"abc\"");
        assert!(same_etag("\"abc\"", "ABC"));
        assert!(!same_etag("\"abc\"", "ABD"));
    }

    #[test]
    fn part_urls_bind_length_only_in_v4_and_only_when_known() {
        let creds = Credentials::new("ak", "sk", Some("tok".into()));
        let now = DateTime::from_timestamp(1_700_000_000, 0).unwrap();
        let mut part = UploadPart {
            bucket: "b",
            key: "users/u/x.bin",
            upload_id: "UP",
            part_number: 3,
            content_length: Some(100),
            content_type: None,
        };
        let key = |d: &str| v4::signing_key("sk", d, "cn-hangzhou", v4::PRODUCT);
        let bound = part.presign_v4(&creds, "cn-hangzhou", now, 60, key);
        assert_eq!(bound[0], ("partNumber".into(), "3".into()));
        assert_eq!(bound[1], ("uploadId".into(), "UP".into()));
        assert!(bound
            .iter()
            .any(|(k, v)| k == "x-oss-additional-headers" && v == "content-length"));
        part.content_length = Some(101);
        let other = part.presign_v4(&creds, "cn-hangzhou", now, 60, key);
        assert_ne!(bound.last(), other.last());
        part.content_length = None;
        let unbound = part.presign_v4(&creds, "cn-hangzhou", now, 60, key);
        assert!(!unbound.iter().any(|(k, _)| k == "x-oss-additional-headers"));
        let v1 = part.presign_v1(&creds, 1_700_000_060);
        assert_eq!(v1[0].0, "partNumber");
        assert_eq!(v1.last().unwrap().0, "Signature");
        // A signed type changes both signatures.
        part.content_type = Some("application/octet-stream");
        assert_ne!(part.presign_v1(&creds, 1_700_000_060).last(), v1.last());
        assert_ne!(
            part.presign_v4(&creds, "cn-hangzhou", now, 60, key).last(),
            unbound.last()
        );
    }

    /// The derived V1/V4 values in the research notes (multipart-callback-uppy.md A.2).
    #[test]
    fn research_vectors() {
        let part = UploadPart {
            bucket: "bucket",
            key: "user/u123/video.mp4",
            upload_id: "0004B9895DBBB6EC98E36",
            part_number: 3,
            content_length: None,
            content_type: None,
        };
        let sig = |q: Vec<(String, String)>| q.last().unwrap().1.clone();
        assert_eq!(
            sig(part.presign_v1(&Credentials::new("ak", "sk", None), 1_700_000_000)),
            "IQL9lqry+z+nOg0g72AkWYmDV7Y="
        );
        assert_eq!(
            sig(part.presign_v1(
                &Credentials::new("ak", "sk", Some("token".into())),
                1_700_000_000
            )),
            "zWdtSPemljpNAAoejnGfq4Vc6Xs="
        );
        let now = DateTime::from_timestamp(1_700_000_000, 0).unwrap();
        let creds = Credentials::new("ak", "sk", None);
        let key = |d: &str| v4::signing_key("sk", d, "cn-hangzhou", v4::PRODUCT);
        let bound = UploadPart {
            content_length: Some(5_242_880),
            ..part
        };
        assert_eq!(
            sig(bound.presign_v4(&creds, "cn-hangzhou", now, 900, key)),
            "aea10f79b1dc26cabaee83146a054d7faeccf0f542f11f6758caede190296e47"
        );
        assert_eq!(
            sig(part.presign_v4(&creds, "cn-hangzhou", now, 900, key)),
            "25fa7fc35d0ad6311ef32dd4d8269a105876202189906ca8ed5b2b292fc2f466"
        );
    }
}
