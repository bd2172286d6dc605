//! Sealing what the store holds: AES-256-GCM (the RustCrypto `aes-gcm`
//! crate) with `STATE_KEY`, a fresh random 96-bit nonce per value, and the
//! store key the value lives under as associated data, so a value copied to
//! another key does not open.
//!
//! Layout of a sealed value: `version (1) | key id (4) | nonce (12) |
//! ciphertext and tag`. The key id is the start of a hash of the key (not
//! the key), so a value sealed under another `STATE_KEY` is told apart from
//! a damaged one without trying to open it.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Key, Nonce};
use sha2::{Digest, Sha256};

/// The layout version written first in every sealed value.
const VERSION: u8 = 1;
const HEADER: usize = 1 + 4 + 12;

/// Why a stored value did not open.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OpenError {
    /// Sealed under another `STATE_KEY` (instances disagree on the key).
    OtherKey,
    /// Not a value this version wrote, or altered, or moved to another key.
    Damaged,
}

/// Seals and opens values with one `STATE_KEY`. Holds key material: no
/// `Debug` that shows it.
pub struct Sealer {
    cipher: Aes256Gcm,
    key_id: [u8; 4],
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Sealer(<redacted>)")
    }
}

impl Sealer {
    /// A sealer for the 32-byte `key`.
    pub fn new(key: &[u8; 32]) -> Sealer {
        let mut h = Sha256::new();
        h.update(b"oss-direct-upload state key id\n");
        h.update(key);
        let digest = h.finalize();
        let mut key_id = [0u8; 4];
        key_id.copy_from_slice(&digest[..4]);
        Sealer {
            // A [u8; 32] is exactly an AES-256 key: `from_slice` cannot fail here.
            cipher: Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(key)),
            key_id,
        }
    }

    /// `plain` sealed for the store key `aad`.
    pub fn seal(&self, aad: &[u8], plain: &[u8]) -> Vec<u8> {
        use rand::RngCore as _;
        let mut nonce = [0u8; 12];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let mut out = Vec::with_capacity(HEADER + plain.len() + 16);
        out.push(VERSION);
        out.extend_from_slice(&self.key_id);
        out.extend_from_slice(&nonce);
        // Encryption only fails for inputs of gigabytes; an empty value is
        // stored then and opens as damaged, which means a refetch.
        if let Ok(ct) = self
            .cipher
            .encrypt(Nonce::from_slice(&nonce), Payload { msg: plain, aad })
        {
            out.extend_from_slice(&ct);
        }
        out
    }

    /// The plain value of `sealed`, stored under `aad`.
    pub fn open(&self, aad: &[u8], sealed: &[u8]) -> Result<Vec<u8>, OpenError> {
        if sealed.len() < HEADER + 16 || sealed[0] != VERSION {
            return Err(OpenError::Damaged);
        }
        if sealed[1..5] != self.key_id {
            return Err(OpenError::OtherKey);
        }
        self.cipher
            .decrypt(
                Nonce::from_slice(&sealed[5..HEADER]),
                Payload {
                    msg: &sealed[HEADER..],
                    aad,
                },
            )
            .map_err(|_| OpenError::Damaged)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_refusals() {
        let s = Sealer::new(&[7; 32]);
        let a = s.seal(b"k1", b"secret-value");
        let b = s.seal(b"k1", b"secret-value");
        assert_ne!(a, b, "a fresh nonce per value");
        assert!(!a.windows(6).any(|w| w == b"secret"), "no plain text");
        assert_eq!(s.open(b"k1", &a).unwrap(), b"secret-value");
        assert_eq!(
            s.open(b"k2", &a),
            Err(OpenError::Damaged),
            "AAD binds the key"
        );
        let mut t = a.clone();
        let last = t.len() - 1;
        t[last] ^= 1;
        assert_eq!(s.open(b"k1", &t), Err(OpenError::Damaged));
        assert_eq!(s.open(b"k1", b"short"), Err(OpenError::Damaged));
        let other = Sealer::new(&[8; 32]);
        assert_eq!(other.open(b"k1", &a), Err(OpenError::OtherKey));
        assert!(!format!("{s:?}").contains('7'));
    }
}
