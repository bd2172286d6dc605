//! Object storage: the objects of every bucket, in memory or persisted under `data_dir`.
//!
//! On disk, uploads survive a restart of `oss-direct-upload local`.
//!
//! Disk layout (keys are arbitrary UTF-8, so they never become paths):
//! `<data_dir>/objects/<sha256(bucket NUL key)>.json` holds the metadata
//! (including bucket and key), and `<data_dir>/blobs/<random>.data` the body.
//! Bodies are streamed into their blob file as they arrive (`blob`); a put
//! then atomically renames the metadata into place and removes the old blob.
//! The index is rebuilt from the `.json` files at start. Multipart uploads in
//! progress are indexed in memory only; their parts are files under
//! `<data_dir>/parts/`, cleared at start.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use bytes::Bytes;
use md5::{Digest, Md5};
use serde::{Deserialize, Serialize};

use super::blob::{self, random_name, Blob, BlobData, Readable};
use super::xml::OssError;

mod append;
mod uploads;
pub(crate) use append::{check_position, APPENDABLE};
use uploads::Upload;

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
    /// `Normal`, `Multipart`, `Appendable` or `Symlink`, as `x-oss-object-type`.
    pub object_type: String,
    /// The key a `Symlink` points to (same bucket); `None` for other types.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub symlink_target: Option<String>,
    /// Blob file name (disk mode); empty in memory mode.
    #[serde(default)]
    pub blob: String,
    /// Object tags (`x-oss-tagging`, PutObjectTagging), in the order given.
    #[serde(default)]
    pub tags: Vec<(String, String)>,
}

/// What a new object is created from.
#[derive(Debug, Clone, Default)]
pub(crate) struct NewObject {
    pub content_type: String,
    pub user_meta: BTreeMap<String, String>,
    pub headers: BTreeMap<String, String>,
    pub tags: Vec<(String, String)>,
    /// Set for PutSymlink: the key the new symlink points to.
    pub symlink_target: Option<String>,
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

fn remove_data(d: BlobData) {
    if let BlobData::File(p) = d {
        let _ = std::fs::remove_file(p);
    }
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
            // Parts of uploads from an earlier run: their uploads are gone.
            let _ = std::fs::remove_dir_all(d.join("parts"));
            std::fs::create_dir_all(d.join("parts"))?;
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

    /// Where new object bodies are received (`None`: in memory).
    pub fn blob_dir(&self) -> Option<PathBuf> {
        self.dir.as_ref().map(|d| d.join("blobs"))
    }

    /// Where parts of multipart uploads are received (`None`: in memory).
    pub fn part_dir(&self) -> Option<PathBuf> {
        self.dir.as_ref().map(|d| d.join("parts"))
    }

    /// Metadata and a readable body of an object. The file is opened under
    /// the lock, so a concurrent overwrite cannot remove it before it is read.
    pub fn get(&self, bucket: &str, key: &str) -> Result<Option<(ObjectMeta, Readable)>, OssError> {
        let g = self.lock();
        let Some(meta) = g.objects.get(bucket).and_then(|b| b.get(key)).cloned() else {
            return Ok(None);
        };
        if let Some(b) = g.bodies.get(&(bucket.to_string(), key.to_string())) {
            return Ok(Some((meta, Readable::Memory(b.clone()))));
        }
        match &self.dir {
            Some(d) => {
                let f = std::fs::File::open(d.join("blobs").join(&meta.blob)).map_err(io_err)?;
                Ok(Some((meta, Readable::File(f))))
            }
            None => Ok(Some((meta, Readable::Memory(Bytes::new())))),
        }
    }

    /// The stored body of an object, for CopyObject.
    fn data_of(&self, bucket: &str, key: &str) -> Option<(ObjectMeta, BlobData)> {
        let g = self.lock();
        let meta = g.objects.get(bucket)?.get(key)?.clone();
        let data = match (
            &self.dir,
            g.bodies.get(&(bucket.to_string(), key.to_string())),
        ) {
            (_, Some(b)) => BlobData::Memory(b.clone()),
            (Some(d), None) => BlobData::File(d.join("blobs").join(&meta.blob)),
            (None, None) => BlobData::Memory(Bytes::new()),
        };
        Some((meta, data))
    }

    /// Copies the body of `src` into a new blob (CopyObject), returning the
    /// source's metadata with it. The source file is opened before the copy
    /// starts, so an overwrite of the source mid-copy cannot tear it.
    pub async fn copy_body(
        &self,
        bucket: &str,
        key: &str,
    ) -> Result<Option<(ObjectMeta, Blob)>, OssError> {
        let Some((meta, data)) = self.data_of(bucket, key) else {
            return Ok(None);
        };
        let blob = blob::copy(&data, self.blob_dir().as_deref()).await?;
        Ok(Some((meta, blob)))
    }

    /// Replaces an object's tags; `false` when the object does not exist.
    pub async fn set_tags(
        &self,
        bucket: &str,
        key: &str,
        tags: Vec<(String, String)>,
    ) -> Result<bool, OssError> {
        let meta = {
            let mut g = self.lock();
            let Some(m) = g.objects.get_mut(bucket).and_then(|b| b.get_mut(key)) else {
                return Ok(false);
            };
            m.tags = tags;
            m.clone()
        };
        if let Some(d) = &self.dir {
            let json = serde_json::to_vec(&meta)
                .map_err(|e| OssError::internal(format!("metadata encode: {e}")))?;
            let final_path = object_file(d, bucket, key);
            let tmp = final_path.with_extension(format!("tmp-{}", random_name()));
            tokio::fs::write(&tmp, &json).await.map_err(io_err)?;
            let g = self.lock();
            // Only if the object is still the one tagged (not replaced meanwhile).
            let same = g
                .objects
                .get(bucket)
                .and_then(|b| b.get(key))
                .is_some_and(|m| m.blob == meta.blob);
            if same {
                std::fs::rename(&tmp, &final_path).map_err(io_err)?;
            } else {
                let _ = std::fs::remove_file(&tmp);
            }
        }
        Ok(true)
    }

    /// Stores an object, replacing any previous one. With `forbid_overwrite`
    /// an existing object yields 409 FileAlreadyExists.
    // Every argument is a distinct part of the write; a builder would only hide that.
    #[allow(clippy::too_many_arguments)]
    pub async fn put(
        &self,
        bucket: &str,
        key: &str,
        body: Blob,
        new: NewObject,
        etag: String,
        object_type: &str,
        forbid_overwrite: bool,
    ) -> Result<ObjectMeta, OssError> {
        let guard = |now: Option<&ObjectMeta>| match now {
            Some(_) if forbid_overwrite => Err(file_exists()),
            _ => Ok(()),
        };
        self.put_if(bucket, key, body, new, etag, object_type, &guard)
            .await
    }

    /// [`Store::put`], but only if `guard` accepts the object currently at
    /// `key` (`None`: absent). The guard runs before the body is placed and
    /// again under the index lock at the moment the object is replaced, so
    /// the replacement is atomic with the condition.
    #[allow(clippy::too_many_arguments)]
    pub async fn put_if(
        &self,
        bucket: &str,
        key: &str,
        body: Blob,
        new: NewObject,
        etag: String,
        object_type: &str,
        guard: &(dyn Fn(Option<&ObjectMeta>) -> Result<(), OssError> + Sync),
    ) -> Result<ObjectMeta, OssError> {
        guard(self.head(bucket, key).as_ref())?;
        let mut meta = ObjectMeta {
            bucket: bucket.to_string(),
            key: key.to_string(),
            size: body.size,
            etag,
            content_type: new.content_type,
            last_modified: now(),
            user_meta: new.user_meta,
            headers: new.headers,
            object_type: object_type.to_string(),
            symlink_target: new.symlink_target,
            blob: String::new(),
            tags: new.tags,
        };
        match &self.dir {
            None => {
                let body = match body.take() {
                    BlobData::Memory(b) => b,
                    BlobData::File(p) => {
                        let data = tokio::fs::read(&p).await.map_err(io_err);
                        let _ = std::fs::remove_file(&p);
                        Bytes::from(data?)
                    }
                };
                let mut g = self.lock();
                let objs = g
                    .objects
                    .get_mut(bucket)
                    .ok_or_else(|| OssError::internal("bucket vanished"))?;
                guard(objs.get(key))?;
                objs.insert(key.to_string(), meta.clone());
                g.bodies.insert((bucket.to_string(), key.to_string()), body);
            }
            Some(d) => {
                // Keep `body` (which removes its file when dropped) until the
                // metadata names the file.
                let blob_path = match body.take() {
                    BlobData::File(p) if p.parent() == Some(&d.join("blobs")) => p,
                    other => {
                        let p = d.join("blobs").join(format!("{}.data", random_name()));
                        let write = match &other {
                            BlobData::Memory(b) => tokio::fs::write(&p, b).await,
                            BlobData::File(src) => tokio::fs::rename(src, &p).await,
                        };
                        write.map_err(io_err)?;
                        p
                    }
                };
                meta.blob = blob_path
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default();
                let owner = Blob::from_file(blob_path.clone(), 0, [0; 16]);
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
                    if let Err(e) = guard(objs.get(key)) {
                        drop(g);
                        let _ = std::fs::remove_file(&tmp);
                        return Err(e);
                    }
                    // Rename under the lock so index and disk agree on the winner.
                    std::fs::rename(&tmp, &final_path).map_err(io_err)?;
                    objs.insert(key.to_string(), meta.clone())
                };
                // The metadata now names the file: it is the object's.
                owner.take();
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
}

/// 409 FileAlreadyExists for `x-oss-forbid-overwrite: true`.
pub(crate) fn file_exists() -> OssError {
    OssError::new(
        http::StatusCode::CONFLICT,
        "FileAlreadyExists",
        "The object you specified already exists and can not be overwritten.",
    )
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
            Blob::from_bytes(Bytes::from_static(b"x")),
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
                Blob::from_bytes(Bytes::new()),
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
    async fn disk_store_survives_reopen() {
        let dir = std::env::temp_dir().join(format!("oss-emu-test-{}", random_name()));
        let buckets = vec!["b".to_string()];
        {
            let s = Store::open(Some(dir.clone()), &buckets).unwrap();
            let key = "dir/ünïcode key?#%/../x";
            s.put(
                "b",
                key,
                Blob::from_bytes(Bytes::from_static(b"hello")),
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
                Blob::from_bytes(Bytes::from_static(b"hello2")),
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
                Blob::from_bytes(Bytes::from_static(b"x")),
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
        let (meta, body) = s.get("b", "dir/ünïcode key?#%/../x").unwrap().unwrap();
        let Readable::File(mut f) = body else {
            panic!("disk store must read from a file")
        };
        let mut text = String::new();
        std::io::Read::read_to_string(&mut f, &mut text).unwrap();
        assert_eq!(text, "hello2");
        assert_eq!(meta.size, 6);
        assert!(s.head("b", "gone").is_none());
        assert_eq!(std::fs::read_dir(dir.join("blobs")).unwrap().count(), 1);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
