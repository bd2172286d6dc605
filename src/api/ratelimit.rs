//! Per-caller token buckets for the credential routes.
//!
//! Each caller (user id, or client address in anonymous mode) gets
//! `RATE_LIMIT_PER_MINUTE` requests per minute with bursts up to the same
//! number. The table is bounded: when it is full, callers whose bucket has
//! refilled (idle ones) are dropped first.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

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
    max_callers: usize,
    buckets: Mutex<HashMap<String, Bucket>>,
}

#[derive(Clone, Copy)]
struct Bucket {
    tokens: f64,
    updated_ms: i64,
}

impl RateLimiter {
    /// A limiter allowing `per_minute` requests per caller (0 disables it).
    pub fn new(per_minute: u32, max_callers: usize) -> Self {
        RateLimiter {
            per_minute,
            max_callers: max_callers.max(1),
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes one token for `caller` at `now_ms`; `Err(seconds)` says when to retry.
    pub fn check(&self, caller: &str, now_ms: i64) -> Result<(), u64> {
        if self.per_minute == 0 {
            return Ok(());
        }
        let capacity = f64::from(self.per_minute);
        let per_ms = capacity / 60_000.0;
        let mut buckets = match self.buckets.lock() {
            Ok(b) => b,
            Err(poisoned) => poisoned.into_inner(),
        };
        if !buckets.contains_key(caller) && buckets.len() >= self.max_callers {
            buckets.retain(|_, b| b.tokens + (now_ms - b.updated_ms) as f64 * per_ms < capacity);
            if buckets.len() >= self.max_callers {
                // Everyone is active: forget the stalest caller.
                if let Some(oldest) = buckets
                    .iter()
                    .min_by_key(|(_, b)| b.updated_ms)
                    .map(|(k, _)| k.clone())
                {
                    buckets.remove(&oldest);
                }
            }
        }
        let b = buckets.entry(caller.to_owned()).or_insert(Bucket {
            tokens: capacity,
            updated_ms: now_ms,
        });
        let elapsed = (now_ms - b.updated_ms).max(0) as f64;
        b.tokens = (b.tokens + elapsed * per_ms).min(capacity);
        b.updated_ms = now_ms;
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            Ok(())
        } else {
            Err(((1.0 - b.tokens) / per_ms / 1000.0).ceil().max(1.0) as u64)
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
        assert!(rl.buckets.lock().unwrap().len() <= 2);
    }
}
