//! The global per-caller rate limit: GCRA in one Lua script (one key per
//! caller, the server's own clock), and a plain-command fixed window for
//! stores that refuse scripts (Tair Serverless KV may; a Redis with
//! `EVAL`/`EVALSHA` renamed away does).
//!
//! GCRA keeps one number per caller, the theoretical arrival time (TAT).
//! With emission interval `T = 60 s / limit` and a burst of `limit`: a
//! request at `now` is allowed when `max(TAT, now) + T − limit·T ≤ now`,
//! and then stores the new TAT with a TTL of `TAT − now`. That is exactly
//! the per-instance token bucket's behaviour (a full bucket of `limit`,
//! refilled one token per `T`), held once for the whole deployment.

use super::store::{Store, StoreError};
use std::sync::atomic::{AtomicBool, Ordering};

/// GCRA. KEYS[1]: the caller's key. ARGV[1]: the emission interval in ms
/// (may be fractional), ARGV[2]: the burst. Returns `{1, 0}` when allowed,
/// `{0, ms until it would be}` when not.
const GCRA: &str = r"
if redis.replicate_commands then pcall(redis.replicate_commands) end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local interval = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or now) or now
if tat < now then tat = now end
local new_tat = tat + interval
local allow_at = new_tat - burst * interval
if allow_at > now then
  return {0, math.ceil(allow_at - now)}
end
redis.call('SET', KEYS[1], string.format('%.3f', new_tat), 'PX', math.max(1, math.ceil(new_tat - now)))
return {1, 0}
";

/// The limiter's choice between the script and its fallback.
pub struct Limiter {
    script: redis::Script,
    /// Set once the store refused scripts; from then on the fallback.
    no_scripts: AtomicBool,
}

impl Default for Limiter {
    fn default() -> Self {
        Limiter {
            script: redis::Script::new(GCRA),
            no_scripts: AtomicBool::new(false),
        }
    }
}

/// Whether a store's refusal means "no scripts here" (as opposed to a bug).
fn refuses_scripts(detail: &str) -> bool {
    let d = detail.to_ascii_lowercase();
    [
        "unknown command",
        "noscript",
        "not support",
        "disabled",
        "not allowed",
        "no permission",
        "noperm",
    ]
    .iter()
    .any(|m| d.contains(m))
}

impl Limiter {
    /// One request of the caller whose store key is `key`, against
    /// `per_minute` (> 0) with a burst of as many: `Ok` to admit, `Err(s)`
    /// to refuse with a retry in `s` seconds. A [`StoreError`] means the
    /// store gave no verdict (the caller falls back to its own limiter).
    pub async fn check(
        &self,
        store: &Store,
        key: &str,
        per_minute: u32,
    ) -> Result<Result<(), u64>, StoreError> {
        if !self.no_scripts.load(Ordering::Acquire) {
            let interval = 60_000.0 / f64::from(per_minute);
            let mut inv = self.script.key(key);
            inv.arg(format!("{interval:.3}")).arg(per_minute);
            let r: Result<(i64, i64), StoreError> = store
                .run(|mut c| async move { inv.invoke_async(&mut c).await })
                .await;
            match r {
                Ok((1, _)) => return Ok(Ok(())),
                Ok((_, ms)) => return Ok(Err(ms_to_secs(ms))),
                Err(StoreError::Refused(detail)) if refuses_scripts(&detail) => {
                    if !self.no_scripts.swap(true, Ordering::AcqRel) {
                        crate::log::warn(
                            None,
                            "the shared state store refuses Lua scripts: the global rate limit uses a fixed one-minute window instead (a caller may get up to twice the limit across a window boundary)",
                            &[("detail", detail.chars().take(120).collect::<String>().into())],
                        );
                    }
                }
                Err(e) => return Err(e),
            }
        }
        self.fixed_window(store, key, per_minute).await
    }

    /// The fallback: `SET k 0 NX PX 2·window` then `INCR k` in one round
    /// trip, `k` naming the current minute; allowed while the count is at
    /// most the limit.
    async fn fixed_window(
        &self,
        store: &Store,
        key: &str,
        per_minute: u32,
    ) -> Result<Result<(), u64>, StoreError> {
        let now = chrono::Utc::now().timestamp_millis();
        let window = now.div_euclid(60_000);
        let k = format!("{key}:w{window}");
        let mut pipe = redis::pipe();
        pipe.cmd("SET")
            .arg(&k)
            .arg(0)
            .arg("NX")
            .arg("PX")
            .arg(120_000)
            .ignore()
            .cmd("INCR")
            .arg(&k);
        let (count,): (i64,) = store
            .run(|mut c| async move { pipe.query_async(&mut c).await })
            .await?;
        if count <= i64::from(per_minute) {
            Ok(Ok(()))
        } else {
            Ok(Err(ms_to_secs((window + 1) * 60_000 - now)))
        }
    }
}

fn ms_to_secs(ms: i64) -> u64 {
    (ms.max(1) as u64).div_ceil(1000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_that_mean_no_scripts() {
        assert!(refuses_scripts(
            "ERR unknown command 'EVALSHA', with args beginning with: "
        ));
        assert!(refuses_scripts("ERR command not support"));
        assert!(refuses_scripts("NOSCRIPT No matching script."));
        assert!(!refuses_scripts(
            "WRONGTYPE Operation against a key holding the wrong kind of value"
        ));
        assert_eq!(ms_to_secs(1), 1);
        assert_eq!(ms_to_secs(1000), 1);
        assert_eq!(ms_to_secs(1001), 2);
        assert_eq!(ms_to_secs(-5), 1);
    }
}
