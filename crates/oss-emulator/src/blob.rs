//! Object and part bodies: receiving them, hashing them, reading them back in ranges.
//!
//! A body is received from a stream in bounded memory, hashed on the way (MD5 for
//! the ETag, SHA-256 when a V4 request declared one), and read back in ranges
//! without loading the whole object.
//!
//! On disk (`data_dir`) a body goes straight to a file as it arrives, so an
//! upload of many GiB needs a few chunks of memory; in memory mode (`--memory`,
//! and most tests) it is collected into `Bytes`, which is the point of that
//! mode. A [`Blob`] that is dropped before the store takes it removes its file,
//! so a refused or interrupted upload leaves nothing behind.

use std::path::{Path, PathBuf};

use base64::Engine as _;
use bytes::{Bytes, BytesMut};
use futures_util::{Stream, StreamExt};
use md5::{Digest, Md5};
use sha2::Sha256;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::xml::{entity_too_large, OssError};

/// Where a body's bytes are.
#[derive(Debug, Clone)]
pub(crate) enum BlobData {
    Memory(Bytes),
    File(PathBuf),
}

/// A received body not yet owned by an object or part.
#[derive(Debug)]
pub(crate) struct Blob {
    pub size: u64,
    pub md5: [u8; 16],
    /// SHA-256 of the body, when the caller asked for it.
    pub sha256: Option<[u8; 32]>,
    data: Option<BlobData>,
}

impl Blob {
    /// A blob from bytes already in memory.
    pub fn from_bytes(b: Bytes) -> Blob {
        Blob {
            size: b.len() as u64,
            md5: Md5::digest(&b).into(),
            sha256: None,
            data: Some(BlobData::Memory(b)),
        }
    }

    /// A blob for a file already written (an assembled multipart object).
    pub fn from_file(path: PathBuf, size: u64, md5: [u8; 16]) -> Blob {
        Blob {
            size,
            md5,
            sha256: None,
            data: Some(BlobData::File(path)),
        }
    }

    /// Upper-case hex MD5, the form OSS uses in ETags.
    pub fn md5_hex_upper(&self) -> String {
        hex::encode_upper(self.md5)
    }

    /// Base64 MD5, as `Content-MD5`.
    pub fn md5_b64(&self) -> String {
        base64::engine::general_purpose::STANDARD.encode(self.md5)
    }

    /// Hands the bytes over to their owner; the file is no longer removed on drop.
    pub fn take(mut self) -> BlobData {
        self.data.take().unwrap_or(BlobData::Memory(Bytes::new()))
    }
}

impl Drop for Blob {
    fn drop(&mut self) {
        if let Some(BlobData::File(p)) = self.data.take() {
            let _ = std::fs::remove_file(p);
        }
    }
}

/// A fresh random file name (hex) for a body.
pub(crate) fn random_name() -> String {
    use rand::RngCore;
    let mut b = [0u8; 16];
    rand::thread_rng().fill_bytes(&mut b);
    hex::encode(b)
}

fn io_err(e: std::io::Error) -> OssError {
    OssError::internal(format!("storage error: {e}"))
}

/// Receives `src` into a new file under `dir` (or into memory when `dir` is
/// `None`), hashing as it goes. More than `limit` bytes is 400 EntityTooLarge,
/// found as soon as the limit is passed, not after reading everything.
pub(crate) async fn receive<S>(
    mut src: S,
    dir: Option<&Path>,
    limit: u64,
    want_sha256: bool,
) -> Result<Blob, OssError>
where
    S: Stream<Item = Result<Bytes, OssError>> + Unpin,
{
    let mut md5 = Md5::new();
    let mut sha = want_sha256.then(Sha256::new);
    let mut size = 0u64;
    match dir {
        None => {
            let mut buf = BytesMut::new();
            while let Some(chunk) = src.next().await {
                let chunk = chunk?;
                size += chunk.len() as u64;
                if size > limit {
                    return Err(entity_too_large(limit));
                }
                md5.update(&chunk);
                if let Some(s) = sha.as_mut() {
                    s.update(&chunk);
                }
                buf.extend_from_slice(&chunk);
            }
            Ok(Blob {
                size,
                md5: md5.finalize().into(),
                sha256: sha.map(|s| s.finalize().into()),
                data: Some(BlobData::Memory(buf.freeze())),
            })
        }
        Some(dir) => {
            let path = dir.join(format!("{}.data", random_name()));
            let file = tokio::fs::File::create(&path).await.map_err(io_err)?;
            // From here on, dropping `blob` (an error, a timeout, a dropped
            // connection) removes the file.
            let mut blob = Blob {
                size: 0,
                md5: [0; 16],
                sha256: None,
                data: Some(BlobData::File(path)),
            };
            let mut w = tokio::io::BufWriter::with_capacity(256 * 1024, file);
            while let Some(chunk) = src.next().await {
                let chunk = chunk?;
                size += chunk.len() as u64;
                if size > limit {
                    return Err(entity_too_large(limit));
                }
                md5.update(&chunk);
                if let Some(s) = sha.as_mut() {
                    s.update(&chunk);
                }
                w.write_all(&chunk).await.map_err(io_err)?;
            }
            w.flush().await.map_err(io_err)?;
            blob.size = size;
            blob.md5 = md5.finalize().into();
            blob.sha256 = sha.map(|s| s.finalize().into());
            Ok(blob)
        }
    }
}

/// A body to send: bytes in memory, or a range of an open file.
pub(crate) enum Readable {
    Memory(Bytes),
    File(std::fs::File),
}

/// A response body of `len` bytes from `offset`, as a stream of chunks.
pub(crate) type ChunkStream =
    std::pin::Pin<Box<dyn Stream<Item = Result<Bytes, std::io::Error>> + Send>>;

impl Readable {
    /// The bytes `offset..offset+len`: a slice in memory, a chunked read of a file.
    pub fn range(self, offset: u64, len: u64) -> ChunkStream {
        match self {
            Readable::Memory(b) => {
                let start = (offset as usize).min(b.len());
                let end = start.saturating_add(len as usize).min(b.len());
                let slice = b.slice(start..end);
                Box::pin(futures_util::stream::once(async move { Ok(slice) }))
            }
            Readable::File(mut f) => {
                use std::io::Seek;
                if let Err(e) = f.seek(std::io::SeekFrom::Start(offset)) {
                    return Box::pin(futures_util::stream::once(async move { Err(e) }));
                }
                let file = tokio::fs::File::from_std(f);
                let s =
                    futures_util::stream::unfold((Some(file), len), |(file, left)| async move {
                        let mut file = file?;
                        if left == 0 {
                            return None;
                        }
                        let mut buf = vec![0u8; left.min(64 * 1024) as usize];
                        match file.read(&mut buf).await {
                            Ok(0) => None,
                            Ok(n) => {
                                buf.truncate(n);
                                Some((Ok(Bytes::from(buf)), (Some(file), left - n as u64)))
                            }
                            Err(e) => Some((Err(e), (None, 0))),
                        }
                    });
                Box::pin(s)
            }
        }
    }
}

/// Writes the parts' bytes one after another into a new file under `dir`
/// (streamed, never all in memory) and returns it with its size and MD5.
pub(crate) async fn concat_files(dir: &Path, parts: &[PathBuf]) -> Result<Blob, OssError> {
    let path = dir.join(format!("{}.data", random_name()));
    let out = tokio::fs::File::create(&path).await.map_err(io_err)?;
    let mut blob = Blob::from_file(path, 0, [0; 16]);
    let mut w = tokio::io::BufWriter::with_capacity(256 * 1024, out);
    let mut md5 = Md5::new();
    let mut size = 0u64;
    let mut buf = vec![0u8; 256 * 1024];
    for p in parts {
        let mut f = tokio::fs::File::open(p).await.map_err(io_err)?;
        loop {
            let n = f.read(&mut buf).await.map_err(io_err)?;
            if n == 0 {
                break;
            }
            md5.update(&buf[..n]);
            w.write_all(&buf[..n]).await.map_err(io_err)?;
            size += n as u64;
        }
    }
    w.flush().await.map_err(io_err)?;
    blob.size = size;
    blob.md5 = md5.finalize().into();
    Ok(blob)
}

/// The bytes of `first` followed by those of `then` as a new blob (AppendObject):
/// a new file under `dir`, streamed, or bytes in memory when `dir` is `None`.
pub(crate) async fn concat(
    first: &BlobData,
    then: &BlobData,
    dir: Option<&Path>,
) -> Result<Blob, OssError> {
    async fn bytes_of(d: &BlobData) -> Result<Bytes, OssError> {
        match d {
            BlobData::Memory(b) => Ok(b.clone()),
            BlobData::File(p) => Ok(Bytes::from(tokio::fs::read(p).await.map_err(io_err)?)),
        }
    }
    match (first, then, dir) {
        (BlobData::File(a), BlobData::File(b), Some(dir)) => {
            concat_files(dir, &[a.clone(), b.clone()]).await
        }
        (a, b, None) => {
            let mut all = bytes_of(a).await?.to_vec();
            all.extend_from_slice(&bytes_of(b).await?);
            Ok(Blob::from_bytes(Bytes::from(all)))
        }
        (a, b, Some(dir)) => {
            let (a, b) = (bytes_of(a).await?, bytes_of(b).await?);
            let src = futures_util::stream::iter([Ok::<_, OssError>(a), Ok(b)]);
            receive(Box::pin(src), Some(dir), u64::MAX, false).await
        }
    }
}

/// Copies a stored body into a new blob under `dir` (CopyObject).
pub(crate) async fn copy(data: &BlobData, dir: Option<&Path>) -> Result<Blob, OssError> {
    match (data, dir) {
        (BlobData::Memory(b), None) => Ok(Blob::from_bytes(b.clone())),
        (BlobData::File(p), Some(dir)) => concat_files(dir, std::slice::from_ref(p)).await,
        (BlobData::Memory(b), Some(dir)) => {
            let src = futures_util::stream::once({
                let b = b.clone();
                async move { Ok::<_, OssError>(b) }
            });
            receive(Box::pin(src), Some(dir), u64::MAX, false).await
        }
        (BlobData::File(p), None) => {
            let data = tokio::fs::read(p).await.map_err(io_err)?;
            Ok(Blob::from_bytes(Bytes::from(data)))
        }
    }
}
