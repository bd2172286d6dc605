//! Multipart uploads in the store: their parts, the Complete checks, assembly.
//!
//! Parts are kept in memory, or as part files under `<data_dir>/parts/`.

use std::collections::BTreeMap;
use std::path::PathBuf;

use bytes::Bytes;

use super::super::blob::{self, random_name, Blob, BlobData};
use super::super::xml::{entity_too_large, CompletePart, OssError};
use super::{
    file_exists, io_err, md5_hex_upper, now, remove_data, Inner, NewObject, ObjectMeta, Store,
};

/// One uploaded part of a multipart upload.
#[derive(Debug, Clone)]
pub(crate) struct Part {
    pub etag: String,
    pub size: u64,
    pub last_modified: i64,
    md5: [u8; 16],
    data: BlobData,
}

#[derive(Debug, Clone)]
pub(super) struct Upload {
    bucket: String,
    key: String,
    new: NewObject,
    parts: BTreeMap<u32, Part>,
    /// A CompleteMultipartUpload owns it: every other request sees no upload.
    completing: bool,
}

/// Smallest part OSS accepts for every part but the last (100 KB).
pub(crate) const MIN_PART_SIZE: u64 = 100 * 1024;

impl Store {
    /// Starts a multipart upload and returns its id.
    pub fn initiate(&self, bucket: &str, key: &str, new: NewObject) -> String {
        let id = random_name().to_uppercase();
        self.lock().uploads.insert(
            id.clone(),
            Upload {
                bucket: bucket.to_string(),
                key: key.to_string(),
                new,
                parts: BTreeMap::new(),
                completing: false,
            },
        );
        id
    }

    fn upload_mut<'a>(
        g: &'a mut Inner,
        id: &str,
        bucket: &str,
        key: &str,
    ) -> Result<&'a mut Upload, OssError> {
        match g.uploads.get_mut(id) {
            Some(u) if u.bucket == bucket && u.key == key && !u.completing => Ok(u),
            _ => Err(no_such_upload()),
        }
    }

    /// Stores one part (replacing an earlier part with the same number);
    /// returns its ETag (no quotes).
    pub fn upload_part(
        &self,
        bucket: &str,
        key: &str,
        id: &str,
        number: u32,
        data: Blob,
    ) -> Result<String, OssError> {
        let etag = data.md5_hex_upper();
        let (size, md5) = (data.size, data.md5);
        let old = {
            let mut g = self.lock();
            let u = Self::upload_mut(&mut g, id, bucket, key)?;
            u.parts.insert(
                number,
                Part {
                    etag: etag.clone(),
                    size,
                    last_modified: now(),
                    md5,
                    data: data.take(),
                },
            )
        };
        if let Some(old) = old {
            remove_data(old.data);
        }
        Ok(etag)
    }

    /// Parts uploaded so far (ListParts), in part-number order.
    pub fn list_parts(
        &self,
        bucket: &str,
        key: &str,
        id: &str,
    ) -> Result<Vec<(u32, Part)>, OssError> {
        let mut g = self.lock();
        let u = Self::upload_mut(&mut g, id, bucket, key)?;
        Ok(u.parts.iter().map(|(n, p)| (*n, p.clone())).collect())
    }

    /// Drops an upload and its parts.
    pub fn abort(&self, bucket: &str, key: &str, id: &str) -> Result<(), OssError> {
        let u = {
            let mut g = self.lock();
            Self::upload_mut(&mut g, id, bucket, key)?;
            g.uploads.remove(id)
        };
        for p in u.into_iter().flat_map(|u| u.parts.into_values()) {
            remove_data(p.data);
        }
        Ok(())
    }

    /// Checks the client's part list against the stored parts the way OSS
    /// does, assembles the object (streamed from the part files on disk) and
    /// removes the upload. A failed check leaves the upload as it was.
    ///
    /// The state change is atomic, as OSS's is: once the part list is
    /// accepted the upload belongs to this request until it ends, so a
    /// concurrent Complete, Abort, UploadPart or ListParts of the same upload
    /// answers 404 NoSuchUpload ("aborted or completed") and can neither tear
    /// the parts away mid-assembly nor also succeed. If the assembly fails
    /// (FileAlreadyExists, storage), the upload is handed back unchanged.
    pub async fn complete(
        &self,
        bucket: &str,
        key: &str,
        id: &str,
        list: &[CompletePart],
        max_bytes: u64,
        forbid_overwrite: bool,
    ) -> Result<ObjectMeta, OssError> {
        let (chosen, etag, new) = {
            let mut g = self.lock();
            let u = Self::upload_mut(&mut g, id, bucket, key)?;
            let chosen = check_part_list(&u.parts, list)?;
            let total: u64 = chosen.iter().map(|p| p.size).sum();
            if total > max_bytes {
                return Err(entity_too_large(max_bytes));
            }
            let mut digests = Vec::with_capacity(chosen.len() * 16);
            for p in &chosen {
                digests.extend_from_slice(&p.md5);
            }
            let etag = format!("{}-{}", md5_hex_upper(&digests), list.len());
            u.completing = true;
            (chosen, etag, u.new.clone())
        };
        let done = self
            .assemble(bucket, key, &chosen, new, etag, forbid_overwrite)
            .await;
        let mut g = self.lock();
        if done.is_err() {
            if let Some(u) = g.uploads.get_mut(id) {
                u.completing = false;
            }
            return done;
        }
        let u = g.uploads.remove(id);
        drop(g);
        for p in u.into_iter().flat_map(|u| u.parts.into_values()) {
            remove_data(p.data);
        }
        done
    }

    /// Concatenates the chosen parts into the object at `key`.
    async fn assemble(
        &self,
        bucket: &str,
        key: &str,
        chosen: &[Part],
        new: NewObject,
        etag: String,
        forbid_overwrite: bool,
    ) -> Result<ObjectMeta, OssError> {
        if forbid_overwrite && self.head(bucket, key).is_some() {
            return Err(file_exists());
        }
        let body = match self.blob_dir() {
            None => {
                let mut body = Vec::new();
                for p in chosen {
                    match &p.data {
                        BlobData::Memory(b) => body.extend_from_slice(b),
                        BlobData::File(f) => {
                            body.extend_from_slice(&tokio::fs::read(f).await.map_err(io_err)?)
                        }
                    }
                }
                Blob::from_bytes(Bytes::from(body))
            }
            Some(dir) => {
                let files: Vec<PathBuf> = chosen
                    .iter()
                    .filter_map(|p| match &p.data {
                        BlobData::File(f) => Some(f.clone()),
                        BlobData::Memory(_) => None,
                    })
                    .collect();
                blob::concat_files(&dir, &files).await?
            }
        };
        self.put(bucket, key, body, new, etag, "Multipart", forbid_overwrite)
            .await
    }
}

/// OSS's checks of a CompleteMultipartUpload part list: ascending part
/// numbers (InvalidPartOrder), each naming an uploaded part with its ETag
/// (InvalidPart), every part but the last at least 100 KB (EntityTooSmall).
fn check_part_list(
    parts: &BTreeMap<u32, Part>,
    list: &[CompletePart],
) -> Result<Vec<Part>, OssError> {
    if list.is_empty() {
        return Err(OssError::malformed(
            "The XML you provided was not well-formed or did not validate against our published schema.",
        ));
    }
    let mut prev = 0u32;
    for cp in list {
        if cp.part_number <= prev || cp.part_number > 10000 {
            return Err(OssError::new(
                http::StatusCode::BAD_REQUEST,
                "InvalidPartOrder",
                "The list of parts was not in ascending order. Parts list must specified in order by part number.",
            ));
        }
        prev = cp.part_number;
    }
    let mut chosen = Vec::with_capacity(list.len());
    for (i, cp) in list.iter().enumerate() {
        let want = cp.etag.trim().trim_matches('"');
        let part = parts
            .get(&cp.part_number)
            .filter(|p| p.etag.eq_ignore_ascii_case(want))
            .ok_or_else(|| {
                OssError::new(
                    http::StatusCode::BAD_REQUEST,
                    "InvalidPart",
                    "One or more of the specified parts could not be found or the specified entity tag might not have matched the part's entity tag.",
                )
                .with("PartNumber", cp.part_number.to_string())
                .with("ETag", cp.etag.clone())
            })?;
        if i + 1 < list.len() && part.size < MIN_PART_SIZE {
            return Err(OssError::new(
                http::StatusCode::BAD_REQUEST,
                "EntityTooSmall",
                "Your proposed upload is smaller than the minimum allowed size.",
            )
            .with("PartNumber", cp.part_number.to_string()));
        }
        chosen.push(part.clone());
    }
    Ok(chosen)
}

/// 404 NoSuchUpload.
pub(crate) fn no_such_upload() -> OssError {
    OssError::new(
        http::StatusCode::NOT_FOUND,
        "NoSuchUpload",
        "The specified upload does not exist. The upload ID may be invalid, or the upload may have been aborted or completed.",
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use md5::{Digest, Md5};

    fn store() -> Store {
        Store::open(None, &["b".to_string()]).unwrap()
    }

    #[tokio::test]
    async fn multipart_etag_and_checks() {
        let s = store();
        let id = s.initiate("b", "big", NewObject::default());
        let p1 = vec![1u8; MIN_PART_SIZE as usize];
        let p2 = vec![2u8; 10];
        let e1 = s
            .upload_part(
                "b",
                "big",
                &id,
                1,
                Blob::from_bytes(Bytes::from(p1.clone())),
            )
            .unwrap();
        let e2 = s
            .upload_part(
                "b",
                "big",
                &id,
                2,
                Blob::from_bytes(Bytes::from(p2.clone())),
            )
            .unwrap();
        use CompletePart as C;
        let bad = [
            C {
                part_number: 2,
                etag: e2.clone(),
            },
            C {
                part_number: 1,
                etag: e1.clone(),
            },
        ];
        assert_eq!(
            s.complete("b", "big", &id, &bad, u64::MAX, false)
                .await
                .unwrap_err()
                .code,
            "InvalidPartOrder"
        );
        let wrong = [C {
            part_number: 1,
            etag: "\"00\"".into(),
        }];
        assert_eq!(
            s.complete("b", "big", &id, &wrong, u64::MAX, false)
                .await
                .unwrap_err()
                .code,
            "InvalidPart"
        );
        let ok = [
            C {
                part_number: 1,
                etag: format!("\"{e1}\""),
            },
            C {
                part_number: 2,
                etag: e2,
            },
        ];
        let meta = s
            .complete("b", "big", &id, &ok, u64::MAX, false)
            .await
            .unwrap();
        let mut d = Md5::digest(&p1).to_vec();
        d.extend_from_slice(&Md5::digest(&p2));
        assert_eq!(
            meta.etag,
            format!("{}-2", hex::encode_upper(Md5::digest(&d)))
        );
        assert_eq!(meta.size, p1.len() as u64 + 10);
        assert_eq!(
            s.upload_part("b", "big", &id, 3, Blob::from_bytes(Bytes::new()))
                .unwrap_err()
                .code,
            "NoSuchUpload"
        );
    }

    #[tokio::test]
    async fn small_middle_part_is_rejected() {
        let s = store();
        let id = s.initiate("b", "k", NewObject::default());
        let e1 = s
            .upload_part(
                "b",
                "k",
                &id,
                1,
                Blob::from_bytes(Bytes::from_static(b"tiny")),
            )
            .unwrap();
        let e2 = s
            .upload_part(
                "b",
                "k",
                &id,
                2,
                Blob::from_bytes(Bytes::from_static(b"tiny")),
            )
            .unwrap();
        use CompletePart as C;
        let l = [
            C {
                part_number: 1,
                etag: e1,
            },
            C {
                part_number: 2,
                etag: e2,
            },
        ];
        assert_eq!(
            s.complete("b", "k", &id, &l, u64::MAX, false)
                .await
                .unwrap_err()
                .code,
            "EntityTooSmall"
        );
    }
}
