//! Per-caller token buckets for the credential routes.
//!
//! Each caller (user id, or client address in anonymous mode) gets
//! `RATE_LIMIT_PER_MINUTE` requests per minute with bursts up to the same
//! number. The table is bounded: when it is full, callers whose bucket has
//! refilled (idle ones) are dropped first.

use std::collections::HashMap;
use std::sync::Mutex;

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
