//! Per-scope cache of assumed-role credentials.
//!
//! Why: STS throttles `AssumeRole` (per-account flow control), every call adds
//! a round trip to the request, and a token for a scope is valid for many
//! minutes. So the function hands out the same token for a scope until it is
//! close to expiry, and when many requests for a scope arrive together only
//! one of them calls STS (single flight); the rest wait and share its result.

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex as StdMutex};
use std::time::Duration;

use chrono::{DateTime, Utc};

use super::client::{AssumedRole, StsError};

/// Cache tuning. `Default` gives 1024 scopes and a 300 s refresh margin.
#[derive(Debug, Clone)]
pub struct CacheConfig {
    /// Most scopes kept; beyond it the least recently used one is dropped.
    /// Bounded because scopes are per user and an instance lives for hours.
    pub max_entries: usize,
    /// A cached token is replaced once it has less than this left. 300 s
    /// matches the Android/iOS SDKs, which refresh when under 5 minutes
    /// remain: handing out a token with less left would make them call
    /// us again at once.
    pub refresh_margin: Duration,
}

impl Default for CacheConfig {
    fn default() -> Self {
        CacheConfig {
            max_entries: 1024,
            refresh_margin: Duration::from_secs(300),
        }
    }
}

/// State for one scope. The async mutex is held across the upstream call,
/// which is what makes the fetch single-flight.
#[derive(Default)]
struct Slot {
    state: tokio::sync::Mutex<SlotState>,
    /// Number of fetches finished for this slot; lets a waiter tell whether a
    /// fetch completed while it was queued.
    flights: AtomicU64,
}

#[derive(Default)]
struct SlotState {
    value: Option<Arc<AssumedRole>>,
    /// Error of the most recent fetch, shared only with requests that were
    /// already waiting for that fetch (never served to later arrivals).
    last_error: Option<StsError>,
}

struct Entry {
    slot: Arc<Slot>,
    last_used: u64,
}

struct Index {
    map: HashMap<String, Entry>,
    tick: u64,
}

/// Credential cache keyed by scope string (e.g. `bucket/prefix/role`).
pub struct CredentialCache {
    config: CacheConfig,
    index: StdMutex<Index>,
}

impl std::fmt::Debug for CredentialCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CredentialCache")
            .field("config", &self.config)
            .field("len", &self.len())
            .finish()
    }
}

impl Default for CredentialCache {
    fn default() -> Self {
        CredentialCache::new(CacheConfig::default())
    }
}

impl CredentialCache {
    /// Empty cache with `config` (a `max_entries` of 0 is treated as 1).
    pub fn new(mut config: CacheConfig) -> Self {
        config.max_entries = config.max_entries.max(1);
        CredentialCache {
            config,
            index: StdMutex::new(Index {
                map: HashMap::new(),
                tick: 0,
            }),
        }
    }

    /// Number of scopes currently held (for metrics and tests).
    pub fn len(&self) -> usize {
        self.lock_index().map.len()
    }

    /// Whether the cache holds no scope.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock_index(&self) -> std::sync::MutexGuard<'_, Index> {
        // A panic while holding this lock leaves the map consistent (every
        // critical section is a few map operations), so keep going.
        self.index.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Finds or creates the slot for `key`, marks it used and evicts the
    /// least recently used scope when over capacity.
    fn slot(&self, key: &str) -> Arc<Slot> {
        let mut idx = self.lock_index();
        idx.tick += 1;
        let tick = idx.tick;
        if let Some(e) = idx.map.get_mut(key) {
            e.last_used = tick;
            return e.slot.clone();
        }
        if idx.map.len() >= self.config.max_entries {
            // Prefer an idle scope (nobody fetching or waiting on it), so an
            // in-flight fetch is not duplicated by a fresh slot for its key.
            // O(n) scan: fine for the ~1000 entries this is sized for.
            let victim = idx
                .map
                .iter()
                .filter(|(_, e)| Arc::strong_count(&e.slot) == 1)
                .min_by_key(|(_, e)| e.last_used)
                .or_else(|| idx.map.iter().min_by_key(|(_, e)| e.last_used))
                .map(|(k, _)| k.clone());
            if let Some(v) = victim {
                idx.map.remove(&v);
            }
        }
        let slot = Arc::new(Slot::default());
        idx.map.insert(
            key.to_string(),
            Entry {
                slot: slot.clone(),
                last_used: tick,
            },
        );
        slot
    }

    fn fresh(&self, v: &AssumedRole, now: DateTime<Utc>) -> bool {
        let margin = chrono::Duration::from_std(self.config.refresh_margin)
            .unwrap_or_else(|_| chrono::Duration::seconds(300));
        v.expiration - margin > now
    }

    /// Returns the cached credentials for `key`, or calls `fetch` to get new
    /// ones when there are none or they expire within the refresh margin.
    ///
    /// At most one `fetch` runs per key at a time; requests arriving during
    /// it wait and get its result (its error too, so an outage does not turn
    /// into one upstream call per waiting request). Errors are not cached: the
    /// next request after a failure fetches again.
    pub async fn get<F, Fut>(
        &self,
        key: &str,
        now: DateTime<Utc>,
        fetch: F,
    ) -> Result<Arc<AssumedRole>, StsError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<AssumedRole, StsError>>,
    {
        let slot = self.slot(key);
        let seen = slot.flights.load(Ordering::Acquire);
        let mut state = slot.state.lock().await;
        if let Some(v) = &state.value {
            if self.fresh(v, now) {
                return Ok(v.clone());
            }
        }
        if slot.flights.load(Ordering::Acquire) != seen {
            // A fetch finished while we waited and did not leave a fresh
            // value, so it failed: share its error instead of retrying.
            if let Some(e) = &state.last_error {
                return Err(e.clone());
            }
        }
        let result = fetch().await;
        slot.flights.fetch_add(1, Ordering::AcqRel);
        match result {
            Ok(v) => {
                let v = Arc::new(v);
                state.value = Some(v.clone());
                state.last_error = None;
                Ok(v)
            }
            Err(e) => {
                state.last_error = Some(e.clone());
                Err(e)
            }
        }
    }

    /// Drops the cached credentials for `key`, e.g. after OSS rejected them.
    pub fn invalidate(&self, key: &str) {
        self.lock_index().map.remove(key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::credentials::Credentials;
    use chrono::TimeZone;
    use std::sync::atomic::AtomicUsize;

    fn t0() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2024, 5, 1, 12, 0, 0).unwrap()
    }

    fn role(id: &str, expires: DateTime<Utc>) -> AssumedRole {
        AssumedRole {
            credentials: Credentials::new(id, "s", Some("t".into())),
            expiration: expires,
            expiration_text: expires.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
            request_id: None,
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn hundred_concurrent_gets_one_fetch() {
        let cache = Arc::new(CredentialCache::default());
        let calls = Arc::new(AtomicUsize::new(0));
        let mut tasks = Vec::new();
        for _ in 0..100 {
            let cache = cache.clone();
            let calls = calls.clone();
            tasks.push(tokio::spawn(async move {
                cache
                    .get("scope", t0(), || async move {
                        calls.fetch_add(1, Ordering::SeqCst);
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        Ok(role("STS.a", t0() + chrono::Duration::hours(1)))
                    })
                    .await
            }));
        }
        for t in tasks {
            let r = t.await.unwrap().unwrap();
            assert_eq!(r.credentials.access_key_id, "STS.a");
        }
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn refreshes_within_margin() {
        let cache = CredentialCache::default();
        let exp = t0() + chrono::Duration::seconds(900);
        let a = cache
            .get("k", t0(), || async { Ok(role("STS.1", exp)) })
            .await
            .unwrap();
        assert_eq!(a.credentials.access_key_id, "STS.1");
        // 599 s later: 301 s left, still outside the 300 s margin → cached.
        let b = cache
            .get("k", t0() + chrono::Duration::seconds(599), || async {
                Ok(role("STS.2", exp))
            })
            .await
            .unwrap();
        assert_eq!(b.credentials.access_key_id, "STS.1");
        // 600 s later: exactly 300 s left → refreshed.
        let c = cache
            .get("k", t0() + chrono::Duration::seconds(600), || async {
                Ok(role("STS.3", exp + chrono::Duration::seconds(900)))
            })
            .await
            .unwrap();
        assert_eq!(c.credentials.access_key_id, "STS.3");
    }

    #[tokio::test]
    async fn configurable_margin() {
        let cache = CredentialCache::new(CacheConfig {
            max_entries: 4,
            refresh_margin: Duration::from_secs(60),
        });
        let exp = t0() + chrono::Duration::seconds(900);
        cache
            .get("k", t0(), || async { Ok(role("STS.1", exp)) })
            .await
            .unwrap();
        let b = cache
            .get("k", t0() + chrono::Duration::seconds(800), || async {
                Ok(role("STS.2", exp))
            })
            .await
            .unwrap();
        assert_eq!(b.credentials.access_key_id, "STS.1");
    }

    #[tokio::test]
    async fn lru_eviction() {
        let cache = CredentialCache::new(CacheConfig {
            max_entries: 2,
            refresh_margin: Duration::from_secs(300),
        });
        let exp = t0() + chrono::Duration::hours(1);
        let calls = AtomicUsize::new(0);
        let fetch = |id: &'static str| {
            calls.fetch_add(1, Ordering::SeqCst);
            async move { Ok(role(id, exp)) }
        };
        cache.get("a", t0(), || fetch("A")).await.unwrap();
        cache.get("b", t0(), || fetch("B")).await.unwrap();
        cache.get("a", t0(), || fetch("A2")).await.unwrap(); // touch a; b is now LRU
        assert_eq!(calls.load(Ordering::SeqCst), 2);
        cache.get("c", t0(), || fetch("C")).await.unwrap(); // evicts b
        assert_eq!(cache.len(), 2);
        let a = cache.get("a", t0(), || fetch("A3")).await.unwrap();
        assert_eq!(a.credentials.access_key_id, "A");
        let b = cache.get("b", t0(), || fetch("B2")).await.unwrap();
        assert_eq!(b.credentials.access_key_id, "B2");
        assert_eq!(calls.load(Ordering::SeqCst), 4);
    }

    #[tokio::test]
    async fn errors_not_cached() {
        let cache = CredentialCache::default();
        let e = cache
            .get("k", t0(), || async { Err(StsError::Timeout) })
            .await
            .unwrap_err();
        assert_eq!(e, StsError::Timeout);
        let ok = cache
            .get("k", t0(), || async {
                Ok(role("STS.ok", t0() + chrono::Duration::hours(1)))
            })
            .await
            .unwrap();
        assert_eq!(ok.credentials.access_key_id, "STS.ok");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_waiters_share_error() {
        let cache = Arc::new(CredentialCache::default());
        let calls = Arc::new(AtomicUsize::new(0));
        let mut tasks = Vec::new();
        for _ in 0..20 {
            let cache = cache.clone();
            let calls = calls.clone();
            tasks.push(tokio::spawn(async move {
                cache
                    .get("k", t0(), || async move {
                        calls.fetch_add(1, Ordering::SeqCst);
                        tokio::time::sleep(Duration::from_millis(300)).await;
                        Err(StsError::Timeout)
                    })
                    .await
            }));
        }
        for t in tasks {
            assert_eq!(t.await.unwrap().unwrap_err(), StsError::Timeout);
        }
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn distinct_keys_fetch_separately() {
        let cache = CredentialCache::default();
        let exp = t0() + chrono::Duration::hours(1);
        let a = cache
            .get("a", t0(), || async { Ok(role("A", exp)) })
            .await
            .unwrap();
        let b = cache
            .get("b", t0(), || async { Ok(role("B", exp)) })
            .await
            .unwrap();
        assert_ne!(a.credentials.access_key_id, b.credentials.access_key_id);
    }
}
