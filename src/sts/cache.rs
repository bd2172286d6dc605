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
//!
//! Credentials STS returns with less than that floor left (the machine's
//! clock is off, or the role's session settings cut the duration) are never
//! cached or handed out: the fetch counts as failed with
//! [`StsError::ShortLived`]. After any fetch that did not leave fresh
//! credentials, the scope backs off for [`DEFAULT_FAILURE_BACKOFF`]: requests
//! in that window share the outcome instead of calling STS again, so a herd
//! makes at most one STS call per scope per window.
//!
//! The scope index is a `quick_cache` concurrent cache (sharded, O(1) per
//! lookup and eviction), so a full cache costs what an empty one does.

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex as StdMutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};

use super::client::{AssumedRole, StsError};

/// Default hard floor: a cached token with less than this left is never
/// handed out, even when refreshing it fails. Two minutes leaves the caller
/// time to start an upload (a request signed before expiry is accepted).
pub const DEFAULT_MIN_REMAINING: Duration = Duration::from_secs(120);

/// Default back-off after a fetch that left no fresh credentials: requests
/// for the scope inside it share that outcome instead of calling STS.
pub const DEFAULT_FAILURE_BACKOFF: Duration = Duration::from_secs(1);

/// Default bound on how long one request waits for credentials (queueing
/// for and running the fetch together); the app sets it to `STS_TIMEOUT_MS`.
pub const DEFAULT_WAIT_LIMIT: Duration = Duration::from_secs(5);

/// Cache tuning. `Default` gives 1024 scopes and a 300 s refresh margin.
///
/// The hard floor for serving a token whose refresh failed is set with
/// [`CredentialCache::with_min_remaining`] (default
/// [`DEFAULT_MIN_REMAINING`]).
#[derive(Debug, Clone)]
pub struct CacheConfig {
    /// Most scopes kept; beyond it a rarely used one is dropped (`quick_cache`'s
    /// CLOCK-Pro policy: scopes used again stay, one-off scopes go first).
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
    /// Error of the most recent fetch, shared with requests that were
    /// waiting for it and with those arriving inside the back-off window.
    last_error: Option<StsError>,
    /// When the most recent fetch ended (the clock callers pass in).
    last_fetch: Option<DateTime<Utc>>,
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

/// Keeps a scope that someone is fetching or waiting on from being evicted,
/// so an in-flight fetch is never duplicated by a fresh slot for its key.
#[derive(Clone, Default)]
struct PinBusy;

impl quick_cache::Lifecycle<String, Arc<Slot>> for PinBusy {
    type RequestState = ();

    fn is_pinned(&self, _key: &String, slot: &Arc<Slot>) -> bool {
        Arc::strong_count(slot) > 1
    }

    fn begin_request(&self) -> Self::RequestState {}
}

type Index = quick_cache::sync::Cache<
    String,
    Arc<Slot>,
    quick_cache::UnitWeighter,
    quick_cache::DefaultHashBuilder,
    PinBusy,
>;

/// Credential cache keyed by scope string (e.g. `bucket/prefix/role`).
pub struct CredentialCache {
    config: CacheConfig,
    min_remaining: Duration,
    failure_backoff: Duration,
    wait_limit: Duration,
    index: Index,
}

impl std::fmt::Debug for CredentialCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CredentialCache")
            .field("config", &self.config)
            .field("min_remaining", &self.min_remaining)
            .field("failure_backoff", &self.failure_backoff)
            .field("wait_limit", &self.wait_limit)
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
        let index = Index::with(
            config.max_entries,
            config.max_entries as u64,
            quick_cache::UnitWeighter,
            quick_cache::DefaultHashBuilder::default(),
            PinBusy,
        );
        CredentialCache {
            config,
            min_remaining: DEFAULT_MIN_REMAINING,
            failure_backoff: DEFAULT_FAILURE_BACKOFF,
            wait_limit: DEFAULT_WAIT_LIMIT,
            index,
        }
    }

    /// Sets the hard floor: a cached token inside the refresh margin is still
    /// handed out (while a refresh is in flight, or after it failed) only if
    /// it has at least `floor` left, and fresh credentials from STS with less
    /// than `floor` left are refused ([`StsError::ShortLived`]). An expired
    /// token is never handed out, even with a floor of 0. A floor above the
    /// refresh margin turns stale serving off: every request then waits for
    /// the refresh and sees its error.
    pub fn with_min_remaining(mut self, floor: Duration) -> Self {
        self.min_remaining = floor;
        self
    }

    /// Sets how long after a fetch that left no fresh credentials requests
    /// share its outcome instead of calling STS again (default
    /// [`DEFAULT_FAILURE_BACKOFF`]).
    pub fn with_failure_backoff(mut self, backoff: Duration) -> Self {
        self.failure_backoff = backoff;
        self
    }

    /// Sets the most one [`get`](Self::get) takes: waiting for another
    /// request's fetch and running its own together. Past it the request
    /// gets [`StsError::Timeout`] (default [`DEFAULT_WAIT_LIMIT`]).
    pub fn with_wait_limit(mut self, limit: Duration) -> Self {
        self.wait_limit = limit;
        self
    }

    /// The hard floor set by [`with_min_remaining`](Self::with_min_remaining).
    pub fn min_remaining(&self) -> Duration {
        self.min_remaining
    }

    /// Number of scopes currently held (for metrics and tests).
    pub fn len(&self) -> usize {
        self.index.len()
    }

    /// Whether the cache holds no scope.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Finds or creates the slot for `key`.
    fn slot(&self, key: &str) -> Arc<Slot> {
        match self.index.get_or_insert_with(key, || {
            Ok::<_, std::convert::Infallible>(Arc::new(Slot::default()))
        }) {
            Ok(slot) => slot,
            Err(never) => match never {},
        }
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

    /// Whether a fetch that ended at `at` is recent enough that `now` must
    /// not call STS again. A clock that stepped back counts as recent too.
    fn backing_off(&self, at: DateTime<Utc>, now: DateTime<Utc>) -> bool {
        let since = now - at;
        let window = to_chrono(self.failure_backoff);
        since < window && since > -window
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
    /// not turn into one upstream call per waiting request. A failed fetch
    /// (credentials with less than the floor left count as failed) is
    /// shared for the back-off window, then the next request fetches again.
    /// No call takes longer than the wait limit.
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
        let started = Instant::now();
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
                None => match tokio::time::timeout(self.wait_limit, slot.flight.lock()).await {
                    Ok(state) => state,
                    Err(_) => return Err(StsError::Timeout),
                },
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
        if state.last_fetch.is_some_and(|at| self.backing_off(at, now)) {
            // The last fetch was moments ago and left nothing fresh: don't
            // ask STS again yet.
            if let Some(v) = usable {
                return Ok(v);
            }
            if let Some(e) = &state.last_error {
                return Err(e.clone());
            }
        }
        let budget = self.wait_limit.saturating_sub(started.elapsed());
        let result = match tokio::time::timeout(budget, fetch()).await {
            Ok(r) => r,
            Err(_) => Err(StsError::Timeout),
        };
        slot.flights.fetch_add(1, Ordering::AcqRel);
        state.last_fetch = Some(now);
        let result = result.and_then(|v| {
            if self.usable(&v, now) {
                Ok(v)
            } else {
                Err(StsError::ShortLived {
                    remaining_secs: (v.expiration - now).num_seconds(),
                    required_secs: self.min_remaining.as_secs(),
                    expiration: v.expiration_text.chars().take(40).collect(),
                })
            }
        });
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
        self.index.remove(key);
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
    async fn bounded_and_keeps_scopes_in_use() {
        let cache = CredentialCache::new(CacheConfig {
            max_entries: 100,
            refresh_margin: Duration::from_secs(300),
        });
        let exp = t0() + chrono::Duration::hours(1);
        let calls = AtomicUsize::new(0);
        let fetch = |id: String| {
            calls.fetch_add(1, Ordering::SeqCst);
            async move { Ok(role(&id, exp)) }
        };
        // A scope used again and again survives a sweep of one-off scopes.
        for i in 0..2000 {
            cache
                .get("hot", t0(), || fetch("HOT".into()))
                .await
                .unwrap();
            let k = format!("cold-{i}");
            cache.get(&k, t0(), || fetch(k.clone())).await.unwrap();
        }
        assert!(cache.len() <= 110, "bounded: {}", cache.len());
        assert_eq!(calls.load(Ordering::SeqCst), 2001, "hot fetched once");
        // An evicted scope is fetched again.
        let gone = (0..2000)
            .map(|i| format!("cold-{i}"))
            .find(|k| !cache.index.contains_key(k.as_str()))
            .expect("some scope was evicted");
        let v = cache
            .get(&gone, t0(), || fetch("again".into()))
            .await
            .unwrap();
        assert_eq!(v.credentials.access_key_id, "again");
    }

    #[tokio::test]
    async fn errors_not_cached() {
        let cache = CredentialCache::default();
        let e = cache
            .get("k", t0(), || async { Err(StsError::Timeout) })
            .await
            .unwrap_err();
        assert_eq!(e, StsError::Timeout);
        // After the back-off window the next request fetches again.
        let ok = cache
            .get("k", t0() + secs(1), || async {
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
        // The failure is shared only for the back-off window (1 s)...
        let v = cache
            .get("k", now, || {
                calls.fetch_add(1, Ordering::SeqCst);
                async { Ok(role("STS.x", t0() + secs(1600))) }
            })
            .await
            .unwrap();
        assert_eq!(v.credentials.access_key_id, "STS.1");
        assert_eq!(calls.load(Ordering::SeqCst), 1, "backing off");
        // ...then the next request refreshes again.
        let now = now + secs(1);
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

    /// Cache as the app builds it: 6-minute floor.
    fn promised() -> CredentialCache {
        CredentialCache::default().with_min_remaining(Duration::from_secs(360))
    }

    #[tokio::test]
    async fn short_lived_or_expired_answers_are_refused_not_cached() {
        for (left, expired) in [(359, false), (1, false), (0, true), (-600, true)] {
            let cache = promised();
            let e = cache
                .get("k", t0(), || async move {
                    Ok(role("STS.short", t0() + secs(left)))
                })
                .await
                .unwrap_err();
            match &e {
                StsError::ShortLived {
                    remaining_secs,
                    required_secs,
                    ..
                } => assert_eq!((*remaining_secs, *required_secs), (left, 360)),
                other => panic!("{other:?}"),
            }
            assert_eq!(e.http_status(), 502);
            let msg = e.to_string();
            assert!(msg.contains("clock skew"), "{msg}");
            if !expired {
                assert!(msg.contains("session duration"), "{msg}");
            }
            // Not stored: once STS answers properly, the good credentials go out.
            let v = cache
                .get("k", t0() + secs(1), || async {
                    Ok(role("STS.good", t0() + secs(900)))
                })
                .await
                .unwrap();
            assert_eq!(v.credentials.access_key_id, "STS.good");
        }
        // Exactly the floor is enough.
        let v = promised()
            .get("k", t0(), || async { Ok(role("STS.ok", t0() + secs(360))) })
            .await
            .unwrap();
        assert_eq!(v.credentials.access_key_id, "STS.ok");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn short_lived_answers_do_not_start_a_herd() {
        let cache = Arc::new(promised());
        let calls = Arc::new(AtomicUsize::new(0));
        let mut tasks = Vec::new();
        for _ in 0..100 {
            let cache = cache.clone();
            let calls = calls.clone();
            tasks.push(tokio::spawn(async move {
                cache
                    .get("k", t0(), || async move {
                        calls.fetch_add(1, Ordering::SeqCst);
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        Ok(role("STS.short", t0() + secs(30)))
                    })
                    .await
            }));
        }
        for t in tasks {
            let e = t.await.unwrap().unwrap_err();
            assert_eq!(e.code(), "StsCredentialsTooShortLived");
        }
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn failures_back_off_for_the_window_then_retry() {
        let cache = CredentialCache::default().with_failure_backoff(Duration::from_secs(2));
        let calls = AtomicUsize::new(0);
        let fail = || {
            calls.fetch_add(1, Ordering::SeqCst);
            async { Err(throttled()) }
        };
        for at in [0, 0, 1] {
            let e = cache.get("k", t0() + secs(at), fail).await.unwrap_err();
            assert_eq!(e, throttled());
        }
        assert_eq!(calls.load(Ordering::SeqCst), 1, "inside the window");
        cache.get("k", t0() + secs(2), fail).await.unwrap_err();
        assert_eq!(calls.load(Ordering::SeqCst), 2, "after the window");
        // Another scope is not held back by this one's failure.
        cache
            .get("other", t0() + secs(2), || async {
                Ok(role("O", t0() + secs(900)))
            })
            .await
            .unwrap();
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn hanging_fetch_every_request_answered_within_the_wait_limit() {
        let limit = Duration::from_millis(400);
        let cache = Arc::new(CredentialCache::default().with_wait_limit(limit));
        let calls = Arc::new(AtomicUsize::new(0));
        let started = Instant::now();
        let mut tasks = Vec::new();
        for i in 0..50 {
            let cache = cache.clone();
            let calls = calls.clone();
            tasks.push(tokio::spawn(async move {
                // Arrivals spread over the first half of the limit.
                tokio::time::sleep(Duration::from_millis(i * 4)).await;
                let t = Instant::now();
                let r = cache
                    .get("k", t0(), || async move {
                        calls.fetch_add(1, Ordering::SeqCst);
                        std::future::pending().await
                    })
                    .await;
                (r, t.elapsed())
            }));
        }
        for t in tasks {
            let (r, took) = t.await.unwrap();
            assert_eq!(r.unwrap_err(), StsError::Timeout);
            // Generous: a loaded machine may be late, but never a second limit late.
            assert!(took < limit * 2, "{took:?}");
        }
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        assert!(started.elapsed() < limit * 3);
    }

    #[tokio::test]
    async fn waiter_behind_a_cancelled_fetch_stays_within_its_limit() {
        let limit = Duration::from_millis(300);
        let cache = Arc::new(CredentialCache::default().with_wait_limit(limit));
        let leader = {
            let cache = cache.clone();
            tokio::spawn(async move { cache.get("k", t0(), std::future::pending).await })
        };
        tokio::time::sleep(Duration::from_millis(200)).await;
        let t = Instant::now();
        let waiter = {
            let cache = cache.clone();
            tokio::spawn(async move { cache.get("k", t0(), std::future::pending).await })
        };
        tokio::time::sleep(Duration::from_millis(20)).await;
        leader.abort();
        let r = waiter.await.unwrap();
        assert_eq!(r.unwrap_err(), StsError::Timeout);
        assert!(t.elapsed() < limit * 2, "{:?}", t.elapsed());
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
