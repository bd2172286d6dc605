//! Optional shared state across function instances (`STATE_REDIS_URL`:
//! Redis, Tair / ApsaraDB for Redis, Valkey): the global per-caller rate
//! limit, the shared `/v1/sts` credential cache, and finished multipart
//! completes.
//!
//! Without `STATE_REDIS_URL` none of this exists and every limit and cache
//! is per instance, as before. With it, the store is a help, never a
//! dependency: every call is bounded by `STATE_TIMEOUT_MS`, a failure opens
//! a circuit so the next seconds skip the store at once ([`store`]), and
//! every caller here has a per-instance answer for "no answer" (its own
//! limiter, its own STS call, the plain multipart path). The function never
//! answers 5xx because the store is away.
//!
//! What is stored: under keys that are hashes (`odu:<kind>:<sha256 hex>`;
//! no user id, prefix or secret in a key), values sealed with `STATE_KEY`
//! ([`seal`], AES-256-GCM) except the rate limit's counters, which are
//! numbers. The store never holds a usable secret.

mod credentials;
mod limit;
pub mod seal;
pub mod store;

use crate::config::StateSettings;
use seal::{OpenError, Sealer};
use sha2::{Digest, Sha256};
use std::sync::Arc;
use std::time::Duration;
use store::{LogGate, Store, StoreError};

/// The shared state of one deployment, as one instance sees it.
#[derive(Debug)]
pub struct SharedState {
    store: Arc<Store>,
    sealer: Sealer,
    limiter: limit::Limiter,
    /// Mixed into every key's hash: deployments (buckets, roles) sharing a
    /// store never share entries.
    namespace: String,
    /// Credentials are fresh in the store until they enter this margin.
    refresh_margin: Duration,
    /// How long a credential refresh holds its lock (at most the STS timeout).
    lock_time: Duration,
    /// "A value did not open" is logged at most once a minute.
    unopened_log: LogGate,
}

impl std::fmt::Debug for limit::Limiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Limiter")
    }
}

/// How long a finished multipart complete's answer is kept.
pub const COMPLETE_TTL: Duration = Duration::from_secs(24 * 3600);

impl SharedState {
    /// The shared state of `settings` for the deployment named by
    /// `namespace` (e.g. bucket and role). Not connected yet: call
    /// [`SharedState::start`] inside the runtime; until the store answers,
    /// every call falls back at once.
    pub fn new(
        settings: &StateSettings,
        namespace: &str,
        refresh_margin: Duration,
        lock_time: Duration,
    ) -> Result<SharedState, String> {
        Ok(SharedState {
            store: Arc::new(Store::new(&settings.url, settings.timeout)?),
            sealer: Sealer::new(&settings.key),
            limiter: limit::Limiter::default(),
            namespace: namespace.to_owned(),
            refresh_margin,
            lock_time: lock_time.clamp(Duration::from_millis(200), Duration::from_secs(10)),
            unopened_log: LogGate::default(),
        })
    }

    /// Starts connecting in the background (needs a Tokio runtime; without
    /// one the store stays off). Returns at once: the cold start does not
    /// wait for the store.
    pub fn start(&self) {
        self.store.start();
    }

    /// Whether calls currently go to the store (for tests and metrics).
    pub fn is_up(&self) -> bool {
        self.store.is_up()
    }

    /// The store key for `kind` and `id`: `odu:<kind>:<hex sha256 of
    /// namespace and id>`.
    fn key(&self, kind: &str, id: &str) -> String {
        let mut h = Sha256::new();
        h.update(self.namespace.as_bytes());
        h.update(b"\n");
        h.update(kind.as_bytes());
        h.update(b"\n");
        h.update(id.as_bytes());
        format!("odu:{kind}:{}", hex::encode(h.finalize()))
    }

    /// One request of `caller` against the deployment-wide limit of
    /// `per_minute` (> 0) in the budget `class`: `Some(Ok)` admit,
    /// `Some(Err(s))` refuse for `s` seconds, `None` no verdict (store
    /// away: use the per-instance limiter).
    pub async fn limit(
        &self,
        class: &str,
        caller: &str,
        per_minute: u32,
    ) -> Option<Result<(), u64>> {
        let key = self.key(&format!("rl-{class}"), caller);
        self.limiter.check(&self.store, &key, per_minute).await.ok()
    }

    /// A value remembered under `kind`/`id` by any instance, if the store
    /// has it and it opens.
    pub async fn recall<T: serde::de::DeserializeOwned>(&self, kind: &str, id: &str) -> Option<T> {
        let key = self.key(kind, id);
        let got: Result<Option<Vec<u8>>, StoreError> = self
            .store
            .run(|mut c| {
                let key = key.clone();
                async move { redis::cmd("GET").arg(key).query_async(&mut c).await }
            })
            .await;
        let sealed = got.ok().flatten()?;
        match self.sealer.open(key.as_bytes(), &sealed) {
            Ok(plain) => serde_json::from_slice(&plain).ok(),
            Err(e) => {
                self.log_unopened(e);
                None
            }
        }
    }

    /// Remembers `value` sealed under `kind`/`id` for `ttl` (best effort).
    pub async fn remember<T: serde::Serialize>(
        &self,
        kind: &str,
        id: &str,
        value: &T,
        ttl: Duration,
    ) {
        let key = self.key(kind, id);
        let Ok(plain) = serde_json::to_vec(value) else {
            return;
        };
        let sealed = self.sealer.seal(key.as_bytes(), &plain);
        let ms = ttl.as_millis().max(1) as u64;
        let _ = self
            .store
            .run(|mut c| async move {
                redis::cmd("SET")
                    .arg(&key)
                    .arg(sealed)
                    .arg("PX")
                    .arg(ms)
                    .query_async::<()>(&mut c)
                    .await
            })
            .await;
    }

    /// Logs (at most once a minute) that a stored value did not open.
    fn log_unopened(&self, e: OpenError) {
        if self.unopened_log.open() {
            let msg = match e {
                OpenError::OtherKey => "a value in the shared state store was sealed with another STATE_KEY: give every instance the same STATE_KEY (this instance refetches meanwhile; logged at most once a minute)",
                OpenError::Damaged => "a value in the shared state store does not open (damaged or not ours); refetching (logged at most once a minute)",
            };
            crate::log::warn(None, msg, &[]);
        }
    }
}
