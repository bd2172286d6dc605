//! The keys the emulator knows: the account key and every credential its STS issued.
//!
//! Each issued credential keeps its session policy. OSS authentication resolves
//! AccessKey ids here; STS records its nonces here.

use std::collections::HashMap;
use std::sync::Mutex;

use base64::Engine as _;
use rand::Rng;

use super::policy::SessionPolicy;
use alibaba_sign::Credentials;

/// Allowed clock skew for signed requests (15 minutes), as STS and OSS use.
pub(crate) const MAX_SKEW_SECS: i64 = 15 * 60;

/// A credential the emulated STS issued.
#[derive(Debug, Clone)]
pub(crate) struct Issued {
    pub secret: String,
    pub token: String,
    /// Unix seconds.
    pub expires_at: i64,
    pub policy: Option<SessionPolicy>,
}

/// What an AccessKey id resolves to.
#[derive(Debug, Clone)]
pub(crate) enum KeyKind {
    /// The emulator account's permanent key: no token, full access.
    Account { secret: String },
    /// A temporary key from AssumeRole.
    Temporary(Issued),
}

/// All keys the emulator knows: the account key and every issued credential.
pub(crate) struct KeyRing {
    account: Credentials,
    account_id: String,
    issued: Mutex<HashMap<String, Issued>>,
    nonces: Mutex<HashMap<String, i64>>,
}

impl KeyRing {
    /// A key ring holding only the account key.
    pub fn new(account: Credentials, account_id: String) -> Self {
        KeyRing {
            account,
            account_id,
            issued: Mutex::new(HashMap::new()),
            nonces: Mutex::new(HashMap::new()),
        }
    }

    /// The account id used in ARNs and OSS resources.
    pub fn account_id(&self) -> &str {
        &self.account_id
    }

    /// The role AssumeRole accepts.
    pub fn role_arn(&self) -> String {
        format!("acs:ram::{}:role/oss-upload", self.account_id)
    }

    /// Resolves an AccessKey id (expired credentials are still returned: the
    /// caller decides which error that is).
    pub fn lookup(&self, ak: &str) -> Option<KeyKind> {
        if ak == self.account.access_key_id {
            return Some(KeyKind::Account {
                secret: self.account.access_key_secret.clone(),
            });
        }
        self.issued
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(ak)
            .cloned()
            .map(KeyKind::Temporary)
    }

    /// Records a nonce; false if it was seen within the skew window (replay).
    pub(super) fn use_nonce(&self, nonce: &str, now: i64) -> bool {
        let mut g = self.nonces.lock().unwrap_or_else(|p| p.into_inner());
        g.retain(|_, t| now - *t <= 2 * MAX_SKEW_SECS);
        g.insert(nonce.to_string(), now).is_none()
    }

    pub(super) fn issue(
        &self,
        duration: i64,
        policy: Option<SessionPolicy>,
        now: i64,
    ) -> (String, Issued) {
        let mut rng = rand::thread_rng();
        let alnum = |rng: &mut rand::rngs::ThreadRng, n: usize| -> String {
            (0..n)
                .map(|_| char::from(rng.sample(rand::distributions::Alphanumeric)))
                .collect()
        };
        let ak = format!("STS.{}", alnum(&mut rng, 25));
        let secret = alnum(&mut rng, 44);
        let mut raw = [0u8; 180];
        rng.fill(&mut raw[..]);
        let token = format!(
            "CAIS{}",
            base64::engine::general_purpose::STANDARD.encode(raw)
        );
        let issued = Issued {
            secret,
            token,
            expires_at: now + duration,
            policy,
        };
        let mut g = self.issued.lock().unwrap_or_else(|p| p.into_inner());
        // Forget credentials that expired more than a day ago.
        g.retain(|_, i| now - i.expires_at < 86_400);
        g.insert(ak.clone(), issued.clone());
        (ak, issued)
    }
}
