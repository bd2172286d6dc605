//! Appendable objects in the store (AppendObject): OSS's position rule, made atomic.
//!
//! An append names the position it expects to write at, the current length.
//! The check runs before the body is read and again under the index lock at
//! the moment the longer object replaces the shorter one, so of two appends
//! racing for one position exactly one wins; the other gets 409
//! PositionNotEqualToLength, as OSS answers a concurrent append.

use super::super::blob::{self, Blob};
use super::super::xml::{entity_too_large, OssError};
use super::{remove_data, NewObject, ObjectMeta, Store};

/// `Appendable`, as `x-oss-object-type` names an object AppendObject made.
pub(crate) const APPENDABLE: &str = "Appendable";

/// 409 PositionNotEqualToLength, with the position to use next in
/// `x-oss-next-append-position` (oss2 reads it from the error).
pub(crate) fn position_not_equal(next: u64) -> OssError {
    OssError::new(
        http::StatusCode::CONFLICT,
        "PositionNotEqualToLength",
        "Position is not equal to file length",
    )
    .with_header("x-oss-next-append-position", next.to_string())
}

/// 409 ObjectNotAppendable: AppendObject on an object another operation made.
pub(crate) fn not_appendable() -> OssError {
    OssError::new(
        http::StatusCode::CONFLICT,
        "ObjectNotAppendable",
        "The object is not appendable",
    )
}

/// Whether an append at `position` may go to the object `now` (`None`: absent).
pub(crate) fn check_position(now: Option<&ObjectMeta>, position: u64) -> Result<(), OssError> {
    match now {
        Some(m) if m.object_type != APPENDABLE => Err(not_appendable()),
        Some(m) if m.size != position => Err(position_not_equal(m.size)),
        None if position != 0 => Err(position_not_equal(0)),
        _ => Ok(()),
    }
}

/// The ETag of an appendable object. OSS's is not the content MD5 (its
/// sample is `A5750CC1A7FD15****A2DC6300000000`); the emulator's has the
/// same shape, 24 hex digits from the content and eight zeros, so no client
/// can mistake it for an MD5.
fn appendable_etag(md5: &[u8; 16]) -> String {
    format!("{}00000000", &hex::encode_upper(md5)[..24])
}

impl Store {
    /// Appends `data` at `position` to the appendable object at `key`,
    /// creating it when `position` is 0 and the key is free. `new` (type,
    /// metadata, tags) applies to a new object only; later appends keep the
    /// object's own.
    pub async fn append(
        &self,
        bucket: &str,
        key: &str,
        position: u64,
        data: Blob,
        new: NewObject,
        max_bytes: u64,
    ) -> Result<ObjectMeta, OssError> {
        let current = self.data_of(bucket, key);
        check_position(current.as_ref().map(|(m, _)| m), position)?;
        let (body, new, expected) = match current {
            None => (data, new, None),
            Some((meta, old)) => {
                let part = data.take();
                let joined = blob::concat(&old, &part, self.blob_dir().as_deref()).await;
                remove_data(part);
                let joined = match joined {
                    Ok(b) => b,
                    // The old body went away: replaced or deleted meanwhile.
                    Err(e) => {
                        check_position(self.head(bucket, key).as_ref(), position)?;
                        return Err(e);
                    }
                };
                let keep = NewObject {
                    content_type: meta.content_type.clone(),
                    user_meta: meta.user_meta.clone(),
                    headers: meta.headers.clone(),
                    tags: meta.tags.clone(),
                    symlink_target: None,
                };
                (joined, keep, Some(meta.etag))
            }
        };
        if body.size > max_bytes {
            return Err(entity_too_large(max_bytes));
        }
        let etag = appendable_etag(&body.md5);
        let guard = |now: Option<&ObjectMeta>| {
            check_position(now, position)?;
            if now.map(|m| &m.etag) != expected.as_ref() {
                // Same length, other bytes: another append won the race.
                return Err(position_not_equal(now.map_or(0, |m| m.size)));
            }
            Ok(())
        };
        self.put_if(bucket, key, body, new, etag, APPENDABLE, &guard)
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::super::md5_hex_upper;
    use super::*;
    use bytes::Bytes;

    fn store() -> Store {
        Store::open(None, &["b".to_string()]).unwrap()
    }

    async fn append(s: &Store, pos: u64, data: &'static [u8]) -> Result<ObjectMeta, OssError> {
        let blob = Blob::from_bytes(Bytes::from_static(data));
        s.append("b", "log", pos, blob, NewObject::default(), u64::MAX)
            .await
    }

    #[tokio::test]
    async fn positions_types_and_etags() {
        let s = store();
        assert_eq!(
            append(&s, 3, b"x").await.unwrap_err().code,
            "PositionNotEqualToLength"
        );
        let m = append(&s, 0, b"abc").await.unwrap();
        assert_eq!((m.size, m.object_type.as_str()), (3, APPENDABLE));
        assert_ne!(m.etag, md5_hex_upper(b"abc"));
        assert!(m.etag.ends_with("00000000"));
        let e = append(&s, 0, b"x").await.unwrap_err();
        assert_eq!(e.status, 409);
        assert_eq!(
            e.headers,
            vec![("x-oss-next-append-position".into(), "3".into())]
        );
        let m = append(&s, 3, b"de").await.unwrap();
        assert_eq!(m.size, 5);
        let (_, body) = s.data_of("b", "log").unwrap();
        assert!(matches!(body, super::super::BlobData::Memory(b) if b == "abcde"));
        s.put(
            "b",
            "log",
            Blob::from_bytes(Bytes::from_static(b"n")),
            NewObject::default(),
            md5_hex_upper(b"n"),
            "Normal",
            false,
        )
        .await
        .unwrap();
        assert_eq!(
            append(&s, 1, b"x").await.unwrap_err().code,
            "ObjectNotAppendable"
        );
    }
}
