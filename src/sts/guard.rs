//! The instance's AssumeRole budget: at most `STS_MAX_CALLS_PER_SECOND`
//! calls in any one-second window, so one instance can never spend the
//! account's shared STS quota (AssumeRole is limited to 100 calls per second
//! per Alibaba Cloud account, every RAM user and role in it included).
//!
//! Why a sliding log and not a token bucket (like [`crate::api::ratelimit`]):
//! a token bucket of capacity `c` refilled at `r` per second lets `c + r`
//! calls through in one second (a full bucket, then the refill), so it
//! cannot promise "never more than `n` in any second" for any `c ≥ 1`. The
//! log keeps the send times of the last `n` calls (`n ≤ 1000`, a few KiB)
//! and lets a call through only if the oldest of them is a full window old:
//! exact, O(1) per call, a dozen lines.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The window the budget is counted over.
pub const WINDOW: Duration = Duration::from_secs(1);

/// At most `max` calls in any [`WINDOW`].
#[derive(Debug)]
pub struct CallBudget {
    max: usize,
    /// Send times of the last (at most `max`) calls, oldest first.
    sent: Mutex<VecDeque<Instant>>,
}

impl CallBudget {
    /// A budget of `max_per_second` calls (0 is treated as 1).
    pub fn new(max_per_second: u32) -> Self {
        let max = max_per_second.max(1) as usize;
        CallBudget {
            max,
            sent: Mutex::new(VecDeque::with_capacity(max)),
        }
    }

    /// The most calls in any second.
    pub fn max_per_second(&self) -> u32 {
        self.max as u32
    }

    /// Takes one call at `now`, or says how long until one is free.
    pub fn try_take(&self, now: Instant) -> Result<(), Duration> {
        // The critical section only pushes and pops instants: a poisoned
        // lock still holds a consistent log.
        let mut sent = self.sent.lock().unwrap_or_else(|p| p.into_inner());
        while sent
            .front()
            .is_some_and(|t| now.saturating_duration_since(*t) >= WINDOW)
        {
            sent.pop_front();
        }
        if sent.len() < self.max {
            sent.push_back(now);
            return Ok(());
        }
        // Full: the oldest call leaves the window first.
        let oldest = sent.front().copied().unwrap_or(now);
        Err(WINDOW.saturating_sub(now.saturating_duration_since(oldest)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_more_than_max_in_any_window() {
        let budget = CallBudget::new(5);
        let t0 = Instant::now();
        let mut granted = Vec::new();
        // Try every 10 ms for 5 s: 500 attempts.
        for i in 0..500u64 {
            let at = t0 + Duration::from_millis(i * 10);
            if budget.try_take(at).is_ok() {
                granted.push(at);
            }
        }
        for (i, start) in granted.iter().enumerate() {
            let in_window = granted[i..]
                .iter()
                .take_while(|t| t.duration_since(*start) < WINDOW)
                .count();
            assert!(in_window <= 5, "{in_window} calls in one second");
        }
        // And the budget is used: 5 per second over 5 s.
        assert_eq!(granted.len(), 25);
    }

    #[test]
    fn refusal_says_when_the_oldest_call_leaves_the_window() {
        let budget = CallBudget::new(2);
        let t0 = Instant::now();
        budget.try_take(t0).unwrap();
        budget.try_take(t0 + Duration::from_millis(300)).unwrap();
        let wait = budget
            .try_take(t0 + Duration::from_millis(400))
            .unwrap_err();
        assert_eq!(wait, Duration::from_millis(600));
        assert!(budget.try_take(t0 + Duration::from_millis(999)).is_err());
        assert!(budget.try_take(t0 + WINDOW).is_ok(), "the first call left");
        assert!(budget.try_take(t0 + WINDOW).is_err(), "the second has not");
    }

    #[test]
    fn zero_means_one() {
        let budget = CallBudget::new(0);
        assert_eq!(budget.max_per_second(), 1);
        let t0 = Instant::now();
        assert!(budget.try_take(t0).is_ok());
        assert!(budget.try_take(t0).is_err());
    }
}
