//! Per-scope cache of assumed-role credentials.
//!
//! Why: STS throttles `AssumeRole` (per-account flow control), every call adds
//! a round trip to the request, and a token for a scope is valid for many
//! minutes. So the function hands out the same token for a scope until it is
//! close to expiry, and when many requests for a scope arrive together only
//! one of them calls STS (single flight).
//!
//! A token inside the refresh margin is still valid, so a refresh that fails
//! (STS throttling or timing out) does not fail the request: the cached token
//! is handed out as long as it has at least [`CredentialCache::min_remaining`]
//! left, and requests arriving while a refresh is in flight get it at once
//! instead of waiting for STS. Only when there is no such token do requests
//! wait for the refresh and see its error.

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex as StdMutex};
use std::time::Duration;

use chrono::{DateTime, Utc};

use super::client::{AssumedRole, StsError};

/// Default hard floor: a cached token with less than this left is never
/// handed out, even when refreshing it fails. Two minutes leaves the caller
/// time to start an upload (a request signed before expiry is accepted).
pub const DEFAULT_MIN_REMAINING: Duration = Duration::from_secs(120);

/// Cache tuning. `Default` gives 1024 scopes and a 300 s refresh margin.
///
/// The hard floor for serving a token whose refresh failed is set with
/// [`CredentialCache::with_min_remaining`] (default
/// [`DEFAULT_MIN_REMAINING`]).
#[derive(Debug, Clone)]
pub struct CacheConfig {
    /// Most scopes kept; beyond it the least recently used one is dropped.
    /// Bounded because scopes are per user and an instance lives for hours.
    pub max_entries: usize,
    /// A cached token is replaced once it has less than this left. 300 s
    /// matches the Android/iOS SDKs, which refresh when under 5 minutes
    /// remain: handing out a token with less left would make them call
    /// us again at once. Inside the margin the token is still handed out
    /// while a refresh is in flight or after one failed, down to the hard
    /// floor.
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

/// State for one scope.
#[derive(Default)]
struct Slot {
    /// Latest credentials. Behind its own short-held lock so requests can
    /// read them while a refresh holds `flight`.
    value: StdMutex<Option<Arc<AssumedRole>>>,
    /// Held across the upstream call, which is what makes the fetch
    /// single-flight.
    flight: tokio::sync::Mutex<FlightState>,
    /// Number of fetches finished for this slot; lets a waiter tell whether a
    /// fetch completed while it was queued.
    flights: AtomicU64,
}

#[derive(Default)]
struct FlightState {
    /// Error of the most recent fetch, shared only with requests that were
    /// already waiting for that fetch (never served to later arrivals).
    last_error: Option<StsError>,
}

impl Slot {
    fn value(&self) -> Option<Arc<AssumedRole>> {
        // Critical sections only clone or replace an Arc: a poisoned lock
        // still holds a consistent value.
        self.value.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    fn set_value(&self, v: Arc<AssumedRole>) {
        *self.value.lock().unwrap_or_else(|p| p.into_inner()) = Some(v);
    }
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
    min_remaining: Duration,
    index: StdMutex<Index>,
}

impl std::fmt::Debug for CredentialCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CredentialCache")
            .field("config", &self.config)
            .field("min_remaining", &self.min_remaining)
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
    /// Empty cache with `config` (a `max_entries` of 0 is treated as 1) and
    /// the [`DEFAULT_MIN_REMAINING`] hard floor.
    pub fn new(mut config: CacheConfig) -> Self {
        config.max_entries = config.max_entries.max(1);
        CredentialCache {
            config,
            min_remaining: DEFAULT_MIN_REMAINING,
            index: StdMutex::new(Index {
                map: HashMap::new(),
                tick: 0,
            }),
        }
    }

    /// Sets the hard floor: a cached token inside the refresh margin is still
    /// handed out (while a refresh is in flight, or after it failed) only if
    /// it has at least `floor` left. An expired token is never handed out,
    /// even with a floor of 0. A floor above the refresh margin turns this
    /// off: every request then waits for the refresh and sees its error.
    pub fn with_min_remaining(mut self, floor: Duration) -> Self {
        self.min_remaining = floor;
        self
    }

    /// The hard floor set by [`with_min_remaining`](Self::with_min_remaining).
    pub fn min_remaining(&self) -> Duration {
        self.min_remaining
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

    /// Outside the refresh margin: hand out without refreshing.
    fn fresh(&self, v: &AssumedRole, now: DateTime<Utc>) -> bool {
        v.expiration - now > to_chrono(self.config.refresh_margin)
    }

    /// At least the hard floor left (and not expired): may be handed out
    /// while a refresh is in flight or after it failed.
    fn usable(&self, v: &AssumedRole, now: DateTime<Utc>) -> bool {
        let left = v.expiration - now;
        left > chrono::Duration::zero() && left >= to_chrono(self.min_remaining)
    }

    /// Returns the cached credentials for `key`, or calls `fetch` to get new
    /// ones when there are none or they expire within the refresh margin.
    ///
    /// At most one `fetch` runs per key at a time. While it runs, or after it
    /// failed, other requests get the cached credentials if they still have
    /// at least [`min_remaining`](Self::min_remaining) left (the request
    /// running the fetch gets them too if the fetch fails); they are not
    /// held up by STS. Without such credentials, requests arriving during
    /// the fetch wait and get its result, its error too, so an outage does
    /// not turn into one upstream call per waiting request. Errors are not
    /// cached: the next request after a failure fetches again.
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
        let cached = slot.value();
        if let Some(v) = &cached {
            if self.fresh(v, now) {
                return Ok(v.clone());
            }
        }
        let usable = cached.filter(|v| self.usable(v, now));
        let seen = slot.flights.load(Ordering::Acquire);
        let mut state = match slot.flight.try_lock() {
            Ok(state) => state,
            // A refresh is in flight: don't wait for it if what we have is
            // still good enough.
            Err(_) => match usable {
                Some(v) => return Ok(v),
                None => slot.flight.lock().await,
            },
        };
        // Re-read: a fetch may have finished since the first look.
        let cached = slot.value();
        if let Some(v) = &cached {
            if self.fresh(v, now) {
                return Ok(v.clone());
            }
        }
        let usable = cached.filter(|v| self.usable(v, now));
        if slot.flights.load(Ordering::Acquire) != seen {
            // A fetch finished while we waited and did not leave a fresh
            // value, so it failed: share its outcome instead of retrying.
            if let Some(e) = &state.last_error {
                return usable.ok_or_else(|| e.clone());
            }
        }
        let result = fetch().await;
        slot.flights.fetch_add(1, Ordering::AcqRel);
        match result {
            Ok(v) => {
                let v = Arc::new(v);
                slot.set_value(v.clone());
                state.last_error = None;
                Ok(v)
            }
            Err(e) => {
                state.last_error = Some(e.clone());
                usable.ok_or(e)
            }
        }
    }

    /// Drops the cached credentials for `key`, e.g. after OSS rejected them.
    pub fn invalidate(&self, key: &str) {
        self.lock_index().map.remove(key);
    }
}

fn to_chrono(d: Duration) -> chrono::Duration {
    // Only fails beyond ~292 billion years; such a setting means "always".
    chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX)
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

    fn throttled() -> StsError {
        StsError::Throttled {
            upstream_code: Some("Throttling.User".into()),
            retry_after_secs: 1,
            request_id: None,
        }
    }

    fn secs(n: i64) -> chrono::Duration {
        chrono::Duration::seconds(n)
    }

    /// Default cache (300 s margin, 120 s floor) holding `STS.1`, which
    /// expires at t0 + 900 s.
    async fn primed() -> CredentialCache {
        let cache = CredentialCache::default();
        assert_eq!(cache.min_remaining(), Duration::from_secs(120));
        cache
            .get("k", t0(), || async { Ok(role("STS.1", t0() + secs(900))) })
            .await
            .unwrap();
        cache
    }

    #[tokio::test]
    async fn failed_refresh_inside_margin_serves_cached() {
        let cache = primed().await;
        let calls = AtomicUsize::new(0);
        // 200 s left: inside the margin, above the floor.
        let now = t0() + secs(700);
        let v = cache
            .get("k", now, || {
                calls.fetch_add(1, Ordering::SeqCst);
                async { Err(throttled()) }
            })
            .await
            .unwrap();
        assert_eq!(v.credentials.access_key_id, "STS.1");
        assert_eq!(calls.load(Ordering::SeqCst), 1, "a refresh was attempted");
        // The failure is not cached: the next request refreshes again.
        let v = cache
            .get("k", now, || {
                calls.fetch_add(1, Ordering::SeqCst);
                async { Ok(role("STS.2", t0() + secs(1600))) }
            })
            .await
            .unwrap();
        assert_eq!(v.credentials.access_key_id, "STS.2");
        assert_eq!(calls.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn failed_refresh_floor_boundary() {
        let cache = primed().await;
        // Exactly the 120 s floor left: still served.
        let v = cache
            .get("k", t0() + secs(780), || async { Err(StsError::Timeout) })
            .await
            .unwrap();
        assert_eq!(v.credentials.access_key_id, "STS.1");
        // 119 s left: below the floor, the error goes out.
        let e = cache
            .get("k", t0() + secs(781), || async { Err(StsError::Timeout) })
            .await
            .unwrap_err();
        assert_eq!(e, StsError::Timeout);
    }

    #[tokio::test]
    async fn failed_refresh_of_expired_is_error_even_with_zero_floor() {
        let cache = CredentialCache::default().with_min_remaining(Duration::ZERO);
        cache
            .get("k", t0(), || async { Ok(role("STS.1", t0() + secs(900))) })
            .await
            .unwrap();
        let v = cache
            .get("k", t0() + secs(899), || async { Err(StsError::Timeout) })
            .await
            .unwrap();
        assert_eq!(v.credentials.access_key_id, "STS.1");
        for at in [900, 901, 5000] {
            let e = cache
                .get("k", t0() + secs(at), || async { Err(throttled()) })
                .await
                .unwrap_err();
            assert_eq!(e, throttled(), "at +{at}s");
        }
    }

    #[tokio::test]
    async fn floor_above_margin_disables_stale_serving() {
        let cache = CredentialCache::default().with_min_remaining(Duration::from_secs(301));
        cache
            .get("k", t0(), || async { Ok(role("STS.1", t0() + secs(900))) })
            .await
            .unwrap();
        let e = cache
            .get("k", t0() + secs(600), || async { Err(StsError::Timeout) })
            .await
            .unwrap_err();
        assert_eq!(e, StsError::Timeout);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_requests_on_failed_refresh_get_cached_value() {
        let cache = Arc::new(primed().await);
        let calls = Arc::new(AtomicUsize::new(0));
        let now = t0() + secs(700);
        let mut tasks = Vec::new();
        for _ in 0..20 {
            let cache = cache.clone();
            let calls = calls.clone();
            tasks.push(tokio::spawn(async move {
                cache
                    .get("k", now, || async move {
                        calls.fetch_add(1, Ordering::SeqCst);
                        tokio::time::sleep(Duration::from_millis(300)).await;
                        Err(throttled())
                    })
                    .await
            }));
        }
        for t in tasks {
            let v = t.await.unwrap().expect("cached value, not the error");
            assert_eq!(v.credentials.access_key_id, "STS.1");
        }
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_requests_below_floor_share_error() {
        let cache = Arc::new(primed().await);
        let calls = Arc::new(AtomicUsize::new(0));
        let now = t0() + secs(800); // 100 s left
        let mut tasks = Vec::new();
        for _ in 0..20 {
            let cache = cache.clone();
            let calls = calls.clone();
            tasks.push(tokio::spawn(async move {
                cache
                    .get("k", now, || async move {
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
    async fn refresh_in_flight_does_not_block_others_with_valid_value() {
        let cache = Arc::new(primed().await);
        let now = t0() + secs(700);
        let release = Arc::new(tokio::sync::Notify::new());
        let started = Arc::new(tokio::sync::Notify::new());
        let refresher = {
            let (cache, release, started) = (cache.clone(), release.clone(), started.clone());
            tokio::spawn(async move {
                cache
                    .get("k", now, || async move {
                        started.notify_one();
                        release.notified().await;
                        Ok(role("STS.2", t0() + secs(1600)))
                    })
                    .await
            })
        };
        started.notified().await;
        // Refresh is stuck upstream; another request is answered at once
        // from the cache and does not call STS itself.
        let v = tokio::time::timeout(
            Duration::from_secs(5),
            cache.get("k", now, || async {
                panic!("second fetch while one is in flight")
            }),
        )
        .await
        .expect("not blocked by the in-flight refresh")
        .unwrap();
        assert_eq!(v.credentials.access_key_id, "STS.1");
        release.notify_one();
        let v = refresher.await.unwrap().unwrap();
        assert_eq!(v.credentials.access_key_id, "STS.2");
        let v = cache
            .get("k", now, || async { panic!("fresh value is cached") })
            .await
            .unwrap();
        assert_eq!(v.credentials.access_key_id, "STS.2");
    }

    #[tokio::test]
    async fn cancelled_refresh_lets_the_next_request_refresh() {
        let cache = primed().await;
        let now = t0() + secs(700);
        let r = tokio::time::timeout(
            Duration::from_millis(50),
            cache.get("k", now, std::future::pending),
        )
        .await;
        assert!(r.is_err(), "fetch never finishes");
        let v = cache
            .get("k", now, || async { Ok(role("STS.2", t0() + secs(1600))) })
            .await
            .unwrap();
        assert_eq!(v.credentials.access_key_id, "STS.2");
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
