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
//! Refreshes are spread: each credential's refresh point is moved earlier
//! than the margin by a random part of [`CacheConfig::refresh_jitter`], so
//! scopes first filled together (a cold start, a launch) do not all call
//! STS again in the same second one lifetime later.
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
    /// Up to this much more is added to the margin, at random for each
    /// credential stored (uniform; never more than half the time it would
    /// otherwise be served fresh), so refreshes of scopes filled together
    /// spread over this window instead of landing in one second.
    pub refresh_jitter: Duration,
}

/// The spread of refresh points for a token lifetime of `token_ttl_secs`:
/// a tenth of it (90 s for the default 900 s).
pub fn refresh_jitter(token_ttl_secs: u64) -> Duration {
    Duration::from_secs(token_ttl_secs / 10)
}

/// How early cached STS credentials are refreshed for a token lifetime of
/// `token_ttl_secs`: at least 6 minutes before they expire (the mobile SDKs
/// refresh at 5), or half their lifetime if longer.
pub fn refresh_margin(token_ttl_secs: u64) -> Duration {
    Duration::from_secs((token_ttl_secs / 2).max(360))
}

impl Default for CacheConfig {
    fn default() -> Self {
        CacheConfig {
            max_entries: 1024,
            refresh_margin: Duration::from_secs(300),
            refresh_jitter: Duration::ZERO,
        }
    }
}

/// Credentials held for a scope, and when to replace them.
#[derive(Clone)]
struct Cached {
    role: Arc<AssumedRole>,
    /// Past this, a request refreshes: the expiry minus the margin minus
    /// this credential's share of the jitter.
    refresh_at: DateTime<Utc>,
}

impl Cached {
    /// Before its refresh point: hand out without refreshing.
    fn fresh(&self, now: DateTime<Utc>) -> bool {
        now < self.refresh_at
    }
}

/// State for one scope.
#[derive(Default)]
struct Slot {
    /// Latest credentials. Behind its own short-held lock so requests can
    /// read them while a refresh holds `flight`.
    value: StdMutex<Option<Cached>>,
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
    fn value(&self) -> Option<Cached> {
        // Critical sections only clone or replace an Arc and a time: a
        // poisoned lock still holds a consistent value.
        self.value.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    fn set_value(&self, v: Cached) {
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

/// Where the jitter's random numbers come from: uniform in `[0, 1)`.
type Uniform = Box<dyn Fn() -> f64 + Send + Sync>;

/// Credential cache keyed by scope string (e.g. `bucket/prefix/role`).
pub struct CredentialCache {
    config: CacheConfig,
    min_remaining: Duration,
    failure_backoff: Duration,
    wait_limit: Duration,
    uniform: Uniform,
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
            uniform: Box::new(rand::random::<f64>),
            index,
        }
    }

    /// Sets where the refresh jitter's random numbers come from (uniform in
    /// `[0, 1)`; default `rand::random`), so a test can replay a sequence.
    pub fn with_jitter_source(mut self, uniform: impl Fn() -> f64 + Send + Sync + 'static) -> Self {
        self.uniform = Box::new(uniform);
        self
    }

    /// When the credentials held for `key` will be refreshed (for metrics
    /// and tests); `None` if none are held.
    pub fn refresh_at(&self, key: &str) -> Option<DateTime<Utc>> {
        self.index.get(key)?.value().map(|c| c.refresh_at)
    }

    /// Stores `role`, fetched at `now`, with its refresh point: the margin
    /// before expiry, plus a random share of the jitter (at most half of
    /// what would be left fresh without it).
    fn hold(&self, role: Arc<AssumedRole>, now: DateTime<Utc>) -> Cached {
        let margin = to_chrono(self.config.refresh_margin);
        let base = role.expiration - margin;
        let fresh_for = (base - now).max(chrono::Duration::zero());
        let span = to_chrono(self.config.refresh_jitter).min(fresh_for / 2);
        let u = (self.uniform)();
        let u = if u.is_finite() {
            u.clamp(0.0, 1.0)
        } else {
            0.0
        };
        let early = chrono::Duration::milliseconds((span.num_milliseconds() as f64 * u) as i64);
        Cached {
            role,
            refresh_at: base - early,
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
            if v.fresh(now) {
                return Ok(v.role.clone());
            }
        }
        let usable = cached.map(|v| v.role).filter(|v| self.usable(v, now));
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
            if v.fresh(now) {
                return Ok(v.role.clone());
            }
        }
        let usable = cached.map(|v| v.role).filter(|v| self.usable(v, now));
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
                slot.set_value(self.hold(v.clone(), now));
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
mod tests;
