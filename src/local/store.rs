//! Object storage for the emulator: in memory, or on disk under `data_dir` so
//! uploads survive a restart of `oss-direct-upload local`.
//!
//! Disk layout (keys are arbitrary UTF-8, so they never become paths):
//! `<data_dir>/objects/<sha256(bucket NUL key)>.json` holds the metadata
//! (including bucket and key), and `<data_dir>/blobs/<random>.data` the body.
//! A put writes the new blob, then atomically renames the metadata into
//! place, then removes the old blob; the index is rebuilt from the `.json`
//! files at start. Multipart uploads in progress live in memory only.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use bytes::Bytes;
use md5::{Digest, Md5};
use serde::{Deserialize, Serialize};

use super::xml::OssError;

/// Metadata the emulator keeps for each object.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub(crate) struct ObjectMeta {
    pub bucket: String,
    pub key: String,
    pub size: u64,
    /// Without quotes: `<MD5 HEX>` or `<MD5 HEX>-<parts>`.
    pub etag: String,
    pub content_type: String,
    /// Unix seconds.
    pub last_modified: i64,
    /// `x-oss-meta-*` headers, lower-cased names without the prefix.
    pub user_meta: BTreeMap<String, String>,
    /// Other stored headers returned on GET/HEAD (Content-Disposition, ...).
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// `Normal` or `Multipart`, as `x-oss-object-type`.
    pub object_type: String,
    /// Blob file name (disk mode); empty in memory mode.
    #[serde(default)]
    pub blob: String,
}

/// What a new object is created from.
#[derive(Debug, Clone, Default)]
pub(crate) struct NewObject {
    pub content_type: String,
    pub user_meta: BTreeMap<String, String>,
    pub headers: BTreeMap<String, String>,
}

/// One uploaded part of a multipart upload.
#[derive(Debug, Clone)]
pub(crate) struct Part {
    pub etag: String,
    pub size: u64,
    pub last_modified: i64,
    data: Bytes,
}

#[derive(Debug, Clone)]
struct Upload {
    bucket: String,
    key: String,
    new: NewObject,
    parts: BTreeMap<u32, Part>,
}

/// Result of a listing call.
#[derive(Debug, Default)]
pub(crate) struct Listing {
    pub objects: Vec<ObjectMeta>,
    pub prefixes: Vec<String>,
    pub truncated: bool,
    /// Last key or common prefix returned: the next marker when truncated.
    pub next: Option<String>,
}

/// Smallest part OSS accepts for every part but the last (100 KB).
pub(crate) const MIN_PART_SIZE: u64 = 100 * 1024;

#[derive(Default)]
struct Inner {
    objects: BTreeMap<String, BTreeMap<String, ObjectMeta>>,
    bodies: HashMap<(String, String), Bytes>,
    uploads: HashMap<String, Upload>,
}

/// The object store shared by all requests.
pub(crate) struct Store {
    dir: Option<PathBuf>,
    inner: Mutex<Inner>,
}

/// Upper-case hex MD5, the form OSS uses in ETags.
pub(crate) fn md5_hex_upper(data: &[u8]) -> String {
    hex::encode_upper(Md5::digest(data))
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

fn object_file(dir: &Path, bucket: &str, key: &str) -> PathBuf {
    use sha2::Sha256;
    let mut h = Sha256::new();
    h.update(bucket.as_bytes());
    h.update([0u8]);
    h.update(key.as_bytes());
    dir.join("objects")
        .join(format!("{}.json", hex::encode(h.finalize())))
}

fn random_name() -> String {
    use rand::RngCore;
    let mut b = [0u8; 16];
    rand::thread_rng().fill_bytes(&mut b);
    hex::encode(b)
}

fn io_err(e: std::io::Error) -> OssError {
    OssError::internal(format!("storage error: {e}"))
}

impl Store {
    /// Opens the store; with a directory, loads the index from disk.
    pub fn open(dir: Option<PathBuf>, buckets: &[String]) -> std::io::Result<Store> {
        let mut inner = Inner::default();
        for b in buckets {
            inner.objects.insert(b.clone(), BTreeMap::new());
        }
        if let Some(d) = &dir {
            std::fs::create_dir_all(d.join("objects"))?;
            std::fs::create_dir_all(d.join("blobs"))?;
            for entry in std::fs::read_dir(d.join("objects"))? {
                let path = entry?.path();
                if path.extension().and_then(|e| e.to_str()) != Some("json") {
                    continue;
                }
                let Ok(text) = std::fs::read(&path) else {
                    continue;
                };
                let Ok(meta) = serde_json::from_slice::<ObjectMeta>(&text) else {
                    eprintln!("local: skipping unreadable metadata {}", path.display());
                    continue;
                };
                if let Some(b) = inner.objects.get_mut(&meta.bucket) {
                    b.insert(meta.key.clone(), meta);
                }
            }
        }
        Ok(Store {
            dir,
            inner: Mutex::new(inner),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A poisoned lock only means another request panicked mid-update;
        // the maps are still structurally valid, so keep serving.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether the bucket is one the emulator serves.
    pub fn has_bucket(&self, bucket: &str) -> bool {
        self.lock().objects.contains_key(bucket)
    }

    /// Metadata of an object, if it exists.
    pub fn head(&self, bucket: &str, key: &str) -> Option<ObjectMeta> {
        self.lock().objects.get(bucket)?.get(key).cloned()
    }

    /// Metadata and body of an object.
    pub async fn get(
        &self,
        bucket: &str,
        key: &str,
    ) -> Result<Option<(ObjectMeta, Bytes)>, OssError> {
        let (meta, body) = {
            let g = self.lock();
            let Some(meta) = g.objects.get(bucket).and_then(|b| b.get(key)).cloned() else {
                return Ok(None);
            };
            let body = g
                .bodies
                .get(&(bucket.to_string(), key.to_string()))
                .cloned();
            (meta, body)
        };
        if let Some(b) = body {
            return Ok(Some((meta, b)));
        }
        match &self.dir {
            Some(d) => {
                let data = tokio::fs::read(d.join("blobs").join(&meta.blob))
                    .await
                    .map_err(io_err)?;
                Ok(Some((meta, Bytes::from(data))))
            }
            None => Ok(Some((meta, Bytes::new()))),
        }
    }

    /// Stores an object, replacing any previous one. With `forbid_overwrite`
    /// an existing object yields 409 FileAlreadyExists.
    // Every argument is a distinct part of the write; a builder would only hide that.
    #[allow(clippy::too_many_arguments)]
    pub async fn put(
        &self,
        bucket: &str,
        key: &str,
        body: Bytes,
        new: NewObject,
        etag: String,
        object_type: &str,
        forbid_overwrite: bool,
    ) -> Result<ObjectMeta, OssError> {
        if forbid_overwrite && self.head(bucket, key).is_some() {
            return Err(file_exists());
        }
        let mut meta = ObjectMeta {
            bucket: bucket.to_string(),
            key: key.to_string(),
            size: body.len() as u64,
            etag,
            content_type: new.content_type,
            last_modified: now(),
            user_meta: new.user_meta,
            headers: new.headers,
            object_type: object_type.to_string(),
            blob: String::new(),
        };
        match &self.dir {
            None => {
                let mut g = self.lock();
                let objs = g
                    .objects
                    .get_mut(bucket)
                    .ok_or_else(|| OssError::internal("bucket vanished"))?;
                if forbid_overwrite && objs.contains_key(key) {
                    return Err(file_exists());
                }
                objs.insert(key.to_string(), meta.clone());
                g.bodies.insert((bucket.to_string(), key.to_string()), body);
            }
            Some(d) => {
                meta.blob = format!("{}.data", random_name());
                let blob_path = d.join("blobs").join(&meta.blob);
                tokio::fs::write(&blob_path, &body).await.map_err(io_err)?;
                let json = serde_json::to_vec(&meta)
                    .map_err(|e| OssError::internal(format!("metadata encode: {e}")))?;
                let final_path = object_file(d, bucket, key);
                let tmp = final_path.with_extension(format!("tmp-{}", random_name()));
                tokio::fs::write(&tmp, &json).await.map_err(io_err)?;
                let old = {
                    let mut g = self.lock();
                    let objs = g
                        .objects
                        .get_mut(bucket)
                        .ok_or_else(|| OssError::internal("bucket vanished"))?;
                    if forbid_overwrite && objs.contains_key(key) {
                        drop(g);
                        let _ = std::fs::remove_file(&tmp);
                        let _ = std::fs::remove_file(&blob_path);
                        return Err(file_exists());
                    }
                    // Rename under the lock so index and disk agree on the winner.
                    std::fs::rename(&tmp, &final_path).map_err(io_err)?;
                    objs.insert(key.to_string(), meta.clone())
                };
                if let Some(old) = old {
                    let _ = tokio::fs::remove_file(d.join("blobs").join(&old.blob)).await;
                }
            }
        }
        Ok(meta)
    }

    /// Deletes an object; deleting a missing object is not an error (OSS: 204).
    pub async fn delete(&self, bucket: &str, key: &str) -> Result<(), OssError> {
        let old = {
            let mut g = self.lock();
            g.bodies.remove(&(bucket.to_string(), key.to_string()));
            let old = g.objects.get_mut(bucket).and_then(|b| b.remove(key));
            if let (Some(d), Some(_)) = (&self.dir, &old) {
                let _ = std::fs::remove_file(object_file(d, bucket, key));
            }
            old
        };
        if let (Some(d), Some(old)) = (&self.dir, old) {
            let _ = tokio::fs::remove_file(d.join("blobs").join(&old.blob)).await;
        }
        Ok(())
    }

    /// Lists keys greater than `after` under `prefix`, rolling keys that
    /// contain `delimiter` after the prefix into common prefixes.
    pub fn list(
        &self,
        bucket: &str,
        prefix: &str,
        delimiter: &str,
        after: &str,
        max_keys: usize,
    ) -> Listing {
        let g = self.lock();
        let mut out = Listing::default();
        let Some(objs) = g.objects.get(bucket) else {
            return out;
        };
        let start = if after > prefix { after } else { prefix };
        let iter = objs
            .range::<str, _>((std::ops::Bound::Included(start), std::ops::Bound::Unbounded))
            .filter(|(k, _)| k.as_str() > after);
        let mut count = 0usize;
        for (k, meta) in iter {
            if !k.starts_with(prefix) {
                break;
            }
            let entry_prefix = if delimiter.is_empty() {
                None
            } else {
                k[prefix.len()..]
                    .find(delimiter)
                    .map(|i| k[..prefix.len() + i + delimiter.len()].to_string())
            };
            if let Some(cp) = &entry_prefix {
                if cp.as_str() <= after || out.prefixes.last() == Some(cp) {
                    continue;
                }
            }
            if count == max_keys {
                out.truncated = true;
                break;
            }
            count += 1;
            match entry_prefix {
                Some(cp) => {
                    out.next = Some(cp.clone());
                    out.prefixes.push(cp);
                }
                None => {
                    out.next = Some(k.clone());
                    out.objects.push(meta.clone());
                }
            }
        }
        if !out.truncated {
            out.next = None;
        }
        out
    }

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
            Some(u) if u.bucket == bucket && u.key == key => Ok(u),
            _ => Err(no_such_upload()),
        }
    }

    /// Stores one part; returns its ETag (no quotes).
    pub fn upload_part(
        &self,
        bucket: &str,
        key: &str,
        id: &str,
        number: u32,
        data: Bytes,
    ) -> Result<String, OssError> {
        let etag = md5_hex_upper(&data);
        let mut g = self.lock();
        let u = Self::upload_mut(&mut g, id, bucket, key)?;
        u.parts.insert(
            number,
            Part {
                etag: etag.clone(),
                size: data.len() as u64,
                last_modified: now(),
                data,
            },
        );
        Ok(etag)
    }

    /// Parts uploaded so far (ListParts), with the upload's initiation time.
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
        let mut g = self.lock();
        Self::upload_mut(&mut g, id, bucket, key)?;
        g.uploads.remove(id);
        Ok(())
    }

    /// Checks the client's part list against the stored parts the way OSS
    /// does, assembles the object and removes the upload.
    pub async fn complete(
        &self,
        bucket: &str,
        key: &str,
        id: &str,
        list: &[super::xml::CompletePart],
        max_bytes: u64,
        forbid_overwrite: bool,
    ) -> Result<ObjectMeta, OssError> {
        let (body, etag, new) = {
            let mut g = self.lock();
            let u = Self::upload_mut(&mut g, id, bucket, key)?;
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
            let mut digests = Vec::with_capacity(list.len() * 16);
            let mut chosen = Vec::with_capacity(list.len());
            for (i, cp) in list.iter().enumerate() {
                let want = cp.etag.trim().trim_matches('"');
                let part = u
                    .parts
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
                digests.extend_from_slice(&Md5::digest(&part.data));
                chosen.push(part.data.clone());
            }
            let total: u64 = chosen.iter().map(|d| d.len() as u64).sum();
            if total > max_bytes {
                return Err(entity_too_large(max_bytes));
            }
            let mut body = Vec::with_capacity(total as usize);
            for d in &chosen {
                body.extend_from_slice(d);
            }
            let etag = format!("{}-{}", md5_hex_upper(&digests), list.len());
            let new = u.new.clone();
            g.uploads.remove(id);
            (Bytes::from(body), etag, new)
        };
        self.put(bucket, key, body, new, etag, "Multipart", forbid_overwrite)
            .await
    }
}

/// 409 FileAlreadyExists for `x-oss-forbid-overwrite: true`.
pub(crate) fn file_exists() -> OssError {
    OssError::new(
        http::StatusCode::CONFLICT,
        "FileAlreadyExists",
        "The object you specified already exists and can not be overwritten.",
    )
}

/// 404 NoSuchUpload.
pub(crate) fn no_such_upload() -> OssError {
    OssError::new(
        http::StatusCode::NOT_FOUND,
        "NoSuchUpload",
        "The specified upload does not exist. The upload ID may be invalid, or the upload may have been aborted or completed.",
    )
}

/// 400 EntityTooLarge for bodies over the configured limit.
pub(crate) fn entity_too_large(max: u64) -> OssError {
    OssError::new(
        http::StatusCode::BAD_REQUEST,
        "EntityTooLarge",
        "Your proposed upload exceeds the maximum allowed size.",
    )
    .with("MaxSizeAllowed", max.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> Store {
        Store::open(None, &["b".to_string()]).unwrap()
    }

    async fn put(s: &Store, k: &str) {
        s.put(
            "b",
            k,
            Bytes::from_static(b"x"),
            NewObject::default(),
            md5_hex_upper(b"x"),
            "Normal",
            false,
        )
        .await
        .unwrap();
    }

    #[tokio::test]
    async fn listing_with_delimiter_and_markers() {
        let s = store();
        for k in ["a/1", "a/2", "b", "c/x/y", "c/z", "d"] {
            put(&s, k).await;
        }
        let l = s.list("b", "", "/", "", 100);
        assert_eq!(l.prefixes, vec!["a/", "c/"]);
        assert_eq!(
            l.objects.iter().map(|o| o.key.as_str()).collect::<Vec<_>>(),
            vec!["b", "d"]
        );
        assert!(!l.truncated);
        let l = s.list("b", "", "/", "", 2);
        assert_eq!(l.prefixes, vec!["a/"]);
        assert_eq!(l.next.as_deref(), Some("b"));
        assert!(l.truncated);
        let l2 = s.list("b", "", "/", "b", 2);
        assert_eq!(l2.prefixes, vec!["c/"]);
        assert_eq!(l2.objects[0].key, "d");
        assert!(!l2.truncated);
        let l = s.list("b", "c/", "/", "", 10);
        assert_eq!(l.prefixes, vec!["c/x/"]);
        assert_eq!(l.objects[0].key, "c/z");
        let l = s.list("b", "a/", "", "a/1", 10);
        assert_eq!(l.objects.len(), 1);
    }

    #[tokio::test]
    async fn forbid_overwrite() {
        let s = store();
        put(&s, "k").await;
        let e = s
            .put(
                "b",
                "k",
                Bytes::new(),
                NewObject::default(),
                String::new(),
                "Normal",
                true,
            )
            .await
            .unwrap_err();
        assert_eq!(e.code, "FileAlreadyExists");
        assert_eq!(e.status, 409);
    }

    #[tokio::test]
    async fn multipart_etag_and_checks() {
        let s = store();
        let id = s.initiate("b", "big", NewObject::default());
        let p1 = vec![1u8; MIN_PART_SIZE as usize];
        let p2 = vec![2u8; 10];
        let e1 = s
            .upload_part("b", "big", &id, 1, Bytes::from(p1.clone()))
            .unwrap();
        let e2 = s
            .upload_part("b", "big", &id, 2, Bytes::from(p2.clone()))
            .unwrap();
        use super::super::xml::CompletePart as C;
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
            s.upload_part("b", "big", &id, 3, Bytes::new())
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
            .upload_part("b", "k", &id, 1, Bytes::from_static(b"tiny"))
            .unwrap();
        let e2 = s
            .upload_part("b", "k", &id, 2, Bytes::from_static(b"tiny"))
            .unwrap();
        use super::super::xml::CompletePart as C;
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

    #[tokio::test]
    async fn disk_store_survives_reopen() {
        let dir = std::env::temp_dir().join(format!("oss-emu-test-{}", random_name()));
        let buckets = vec!["b".to_string()];
        {
            let s = Store::open(Some(dir.clone()), &buckets).unwrap();
            let key = "dir/ünïcode key?#%/../x";
            s.put(
                "b",
                key,
                Bytes::from_static(b"hello"),
                NewObject {
                    content_type: "text/plain".into(),
                    ..Default::default()
                },
                md5_hex_upper(b"hello"),
                "Normal",
                false,
            )
            .await
            .unwrap();
            s.put(
                "b",
                key,
                Bytes::from_static(b"hello2"),
                NewObject::default(),
                md5_hex_upper(b"hello2"),
                "Normal",
                false,
            )
            .await
            .unwrap();
            s.put(
                "b",
                "gone",
                Bytes::from_static(b"x"),
                NewObject::default(),
                String::new(),
                "Normal",
                false,
            )
            .await
            .unwrap();
            s.delete("b", "gone").await.unwrap();
        }
        let s = Store::open(Some(dir.clone()), &buckets).unwrap();
        let (meta, body) = s
            .get("b", "dir/ünïcode key?#%/../x")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(&body[..], b"hello2");
        assert_eq!(meta.size, 6);
        assert!(s.head("b", "gone").is_none());
        assert_eq!(std::fs::read_dir(dir.join("blobs")).unwrap().count(), 1);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
