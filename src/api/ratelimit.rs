//! Per-caller token buckets for the credential routes.
//!
//! Each caller (user id, or client address in anonymous mode) gets
//! `RATE_LIMIT_PER_MINUTE` requests per minute with bursts up to the same
//! number.
//!
//! The table of buckets is a `quick_cache` concurrent cache, as the
//! credential cache's scope index is (`sts/cache`): bounded (100,000 callers
//! in the app), sharded (callers on different shards never share a lock), and
//! O(1) per lookup, insert and eviction. A full table therefore costs what an
//! empty one does. The table it replaces, a `Mutex<HashMap>`, scanned every
//! entry under its one lock (`retain`, then `min_by_key`) for each new caller
//! once full, which is exactly when an instance is busiest.
//!
//! Eviction follows `quick_cache`'s CLOCK-Pro policy, which looks at use,
//! not at tokens. A caller new to a full table is on probation (the cold part,
//! about 3% of the table); once it comes back it is among the hot entries,
//! which one-off callers never push out. So a flood of new callers evicts
//! other one-off callers, not the ones that keep coming back.
//!
//! What eviction means for the limit: **an evicted caller starts again with a
//! full bucket**, as if never seen. That gives back at most what it had spent,
//! one burst, and it only happens once the table is full of other callers: to
//! a caller still on probation when enough new callers arrive before its
//! second request, or to a hot caller that went quiet while others kept
//! coming back. (The old table dropped refilled buckets first, which cost
//! nothing since they were full anyway, then the stalest one.)
//!
//! A bucket is updated in place under its shard's lock (`Cache::entry`; the
//! token math is a few arithmetic operations), and a new caller's bucket is
//! inserted through a placeholder that other requests for the same caller
//! wait on. So the requests of one caller are counted exactly even when they
//! arrive together.

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, Ordering};

/// Where an anonymous caller's address came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AddressSource {
    /// `x-fc-client-ip`: set by FC's front end. FC strips client-sent `x-fc-*`
    /// headers, so a client cannot forge it.
    FcClientIp,
    /// The rightmost `X-Forwarded-For` entry: the one the last proxy appended.
    /// Entries before it are whatever the client sent.
    ForwardedFor,
}

/// The caller's address for the anonymous rate limit: `x-fc-client-ip` when
/// FC sends it, else the rightmost `X-Forwarded-For` entry, else `None`.
/// Values that are not an IP address (optionally with a port) are ignored.
///
/// FC documents neither header for custom runtimes; README's security model
/// says what is and is not known.
pub fn client_address(headers: &http::HeaderMap) -> Option<(IpAddr, AddressSource)> {
    let fc = headers
        .get("x-fc-client-ip")
        .and_then(|v| v.to_str().ok())
        .and_then(parse_ip)
        .map(|ip| (ip, AddressSource::FcClientIp));
    fc.or_else(|| {
        headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .next_back()
            .and_then(|v| v.rsplit(',').next())
            .and_then(parse_ip)
            .map(|ip| (ip, AddressSource::ForwardedFor))
    })
}

fn parse_ip(v: &str) -> Option<IpAddr> {
    let v = v.trim();
    v.parse::<IpAddr>()
        .ok()
        .or_else(|| v.parse::<SocketAddr>().ok().map(|s| s.ip()))
}

static NO_ADDRESS_WARNED: AtomicBool = AtomicBool::new(false);

/// The rate-limit key for an anonymous caller. When the request carries no
/// address, all such callers share one key; the first time that happens in
/// this instance it is logged as a warning, so the operator learns that the
/// anonymous limit is one budget for everyone rather than per caller.
pub fn anonymous_key(headers: &http::HeaderMap, request_id: &str) -> String {
    match client_address(headers) {
        Some((ip, _)) => format!("ip:{ip}"),
        None => {
            if !NO_ADDRESS_WARNED.swap(true, Ordering::Relaxed) {
                crate::log::warn(
                    Some(request_id),
                    "no client address on an anonymous request (neither x-fc-client-ip nor X-Forwarded-For): all anonymous callers of this instance share one rate-limit budget. Put the function behind a proxy that appends X-Forwarded-For, or use AUTH_MODE=jwt or fc-jwt. Logged once per instance.",
                    &[],
                );
            }
            "ip:unknown".to_owned()
        }
    }
}

/// A token-bucket limiter keyed by caller.
pub struct RateLimiter {
    per_minute: u32,
    buckets: Table,
}

/// One caller's bucket. It lives in the table and is updated in place under
/// its shard's lock (plain arithmetic, nanoseconds), so concurrent requests of
/// one caller are counted exactly.
#[derive(Clone, Copy)]
struct Bucket {
    tokens: f64,
    updated_ms: i64,
}

impl Bucket {
    /// Refills for the time since the last request, then takes one token if
    /// there is one; `Err(seconds)` says when to retry.
    fn take(&mut self, now_ms: i64, capacity: f64, per_ms: f64) -> Result<(), u64> {
        let elapsed = (now_ms - self.updated_ms).max(0) as f64;
        self.tokens = (self.tokens + elapsed * per_ms).min(capacity);
        self.updated_ms = now_ms;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            Ok(())
        } else {
            Err(((1.0 - self.tokens) / per_ms / 1000.0).ceil().max(1.0) as u64)
        }
    }
}

type Table = quick_cache::sync::Cache<String, Bucket>;

impl RateLimiter {
    /// A limiter allowing `per_minute` requests per caller (0 disables it),
    /// remembering at most `max_callers` callers (0 is treated as 1).
    pub fn new(per_minute: u32, max_callers: usize) -> Self {
        RateLimiter {
            per_minute,
            buckets: Table::new(max_callers.max(1)),
        }
    }

    /// Requests per caller per minute (0: no limit).
    pub fn per_minute(&self) -> u32 {
        self.per_minute
    }

    /// Takes one token for `caller` at `now_ms`; `Err(seconds)` says when to retry.
    pub fn check(&self, caller: &str, now_ms: i64) -> Result<(), u64> {
        if self.per_minute == 0 {
            return Ok(());
        }
        let capacity = f64::from(self.per_minute);
        let per_ms = capacity / 60_000.0;
        loop {
            let entry = self.buckets.entry(caller, None, |_, b| {
                quick_cache::sync::EntryAction::Retain(b.take(now_ms, capacity, per_ms))
            });
            match entry {
                quick_cache::sync::EntryResult::Retained(verdict) => return verdict,
                // A caller not in the table (never seen, or evicted) starts
                // full. Requests of the same caller arriving meanwhile wait
                // for this insert, then take from the bucket it inserted.
                quick_cache::sync::EntryResult::Vacant(slot) => {
                    let mut b = Bucket {
                        tokens: capacity,
                        updated_ms: now_ms,
                    };
                    let verdict = b.take(now_ms, capacity, per_ms);
                    if slot.insert(b).is_ok() {
                        return verdict;
                    }
                    // The placeholder was removed meanwhile: start again.
                }
                // Not returned: the callback never removes or replaces, and
                // without a timeout `entry` never times out. Were one
                // returned, admitting beats spinning.
                quick_cache::sync::EntryResult::Removed(..)
                | quick_cache::sync::EntryResult::Replaced(..)
                | quick_cache::sync::EntryResult::Timeout => return Ok(()),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> http::HeaderMap {
        let mut h = http::HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, v.parse().unwrap());
        }
        h
    }

    #[test]
    fn address_sources_in_order() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        assert_eq!(
            client_address(&headers(&[
                ("x-fc-client-ip", "192.0.2.1"),
                ("x-forwarded-for", "198.51.100.9")
            ])),
            Some((ip("192.0.2.1"), AddressSource::FcClientIp))
        );
        // FC has been seen sending it empty: fall through.
        assert_eq!(
            client_address(&headers(&[
                ("x-fc-client-ip", ""),
                ("x-forwarded-for", "10.0.0.1, 203.0.113.7"),
            ])),
            Some((ip("203.0.113.7"), AddressSource::ForwardedFor))
        );
        assert_eq!(
            client_address(&headers(&[
                ("x-forwarded-for", "10.0.0.1"),
                ("x-forwarded-for", "10.0.0.2, [2001:db8::1]:443"),
            ])),
            Some((ip("2001:db8::1"), AddressSource::ForwardedFor))
        );
        assert_eq!(
            client_address(&headers(&[("x-forwarded-for", "10.0.0.1, junk")])),
            None
        );
        assert_eq!(client_address(&http::HeaderMap::new()), None);
    }

    #[test]
    fn allows_burst_then_refuses_then_refills() {
        let rl = RateLimiter::new(3, 100);
        for _ in 0..3 {
            assert!(rl.check("u", 0).is_ok());
        }
        let retry = rl.check("u", 0).unwrap_err();
        assert_eq!(retry, 20);
        assert!(rl.check("other", 0).is_ok(), "callers are independent");
        assert!(rl.check("u", 20_000).is_ok(), "one token back after 20 s");
        assert!(rl.check("u", 20_000).is_err());
    }

    #[test]
    fn disabled_when_zero() {
        let rl = RateLimiter::new(0, 1);
        for _ in 0..1000 {
            assert!(rl.check("u", 0).is_ok());
        }
    }

    #[test]
    fn table_is_bounded() {
        let rl = RateLimiter::new(1, 2);
        rl.check("a", 0).unwrap();
        rl.check("b", 1).unwrap();
        rl.check("c", 2).unwrap();
        assert!(rl.buckets.len() <= 2);
    }

    /// A table of `cap` callers, filled by `n` one-off callers at `now_ms`.
    fn filled(per_minute: u32, cap: usize, n: usize, now_ms: i64) -> RateLimiter {
        let rl = RateLimiter::new(per_minute, cap);
        for i in 0..n {
            assert!(rl.check(&format!("fill{i}"), now_ms).is_ok(), "new caller");
        }
        assert!(rl.buckets.len() <= cap);
        rl
    }

    #[test]
    fn full_table_still_admits_and_limits() {
        let cap = 64;
        let rl = filled(3, cap, 10 * cap, 0);
        // A caller that keeps coming back is held to its limit while
        // one-off callers keep arriving (each admitted: a full bucket).
        let mut admitted = 0;
        for _ in 0..4 {
            if rl.check("busy", 0).is_ok() {
                admitted += 1;
            }
        }
        for i in 0..5_000 {
            assert!(rl.check(&format!("new{i}"), 0).is_ok(), "new caller {i}");
            if i % 4 == 0 && rl.check("busy", 0).is_ok() {
                admitted += 1;
            }
            assert!(rl.buckets.len() <= cap, "bounded at {i}");
        }
        assert_eq!(admitted, 3, "the busy caller got exactly its burst");
        assert_eq!(rl.check("busy", 0), Err(20));
        // Refill still works on a full table.
        assert!(rl.check("busy", 20_000).is_ok());
        assert!(rl.check("busy", 20_000).is_err());
    }

    #[test]
    fn eviction_drops_one_caller_not_a_sweep() {
        let cap = 64;
        let rl = filled(1, cap, 10 * cap, 0);
        assert_eq!(rl.buckets.len(), cap, "full");
        // An hour later every bucket has refilled. The old table swept all
        // of them out under its lock for the next new caller; now a new
        // caller takes one entry's place.
        for i in 0..cap {
            assert!(rl.check(&format!("late{i}"), 3_600_000).is_ok());
            assert_eq!(rl.buckets.len(), cap, "one out, one in ({i})");
        }
    }

    #[test]
    fn an_evicted_caller_starts_with_a_full_bucket() {
        let cap = 64;
        let rl = RateLimiter::new(2, cap);
        assert!(rl.check("quiet", 0).is_ok());
        assert!(rl.check("quiet", 0).is_ok());
        assert!(rl.check("quiet", 0).is_err());
        let mut i = 0;
        // Callers that come back (twice each) push it out of the table.
        while rl.buckets.peek("quiet").is_some() {
            assert!(rl.check(&format!("new{i}"), 0).is_ok());
            assert!(rl.check(&format!("new{i}"), 0).is_ok());
            i += 1;
            assert!(i < 100 * cap, "never evicted");
        }
        // Same instant, yet the budget is back: that is what eviction costs.
        assert!(rl.check("quiet", 0).is_ok());
        assert!(rl.check("quiet", 0).is_ok());
        assert!(rl.check("quiet", 0).is_err());
    }

    #[test]
    fn concurrent_requests_of_one_caller_are_counted_exactly() {
        use std::sync::atomic::AtomicU32;
        const THREADS: u32 = 8;
        const CALLS: u32 = 2_000;
        const LIMIT: u32 = 5_000;
        // A small table with other callers arriving all the time, so
        // evictions happen while the shared key is in use.
        let rl = RateLimiter::new(LIMIT, 256);
        let admitted = AtomicU32::new(0);
        std::thread::scope(|s| {
            for t in 0..THREADS {
                let (rl, admitted) = (&rl, &admitted);
                s.spawn(move || {
                    for i in 0..CALLS {
                        // One instant: no refill, so exactly LIMIT get through.
                        if rl.check("shared", 0).is_ok() {
                            admitted.fetch_add(1, Ordering::Relaxed);
                        }
                        let _ = rl.check(&format!("t{t}-{i}"), 0);
                    }
                });
            }
        });
        assert_eq!(admitted.load(Ordering::Relaxed), LIMIT);
        assert!(rl.buckets.len() <= 256);
    }
}
