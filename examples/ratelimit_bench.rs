//! Rate-limiter bench (`scripts/bench-ratelimit.sh`): does a full table of
//! 100,000 callers check as fast as an empty one?
//!
//! Calls `RateLimiter::check` directly (the limiter alone: no HTTP, no auth)
//! from `BENCH_THREADS` threads, with keys built per check as the request
//! path builds them (`user:<id>`), and measures checks per second for:
//! - new callers: every check a caller never seen (an insert each; on a
//!   full table, an eviction each). This is the case the old
//!   `Mutex<HashMap>` table answered with a scan of every entry under its
//!   one lock;
//! - returning callers: checks cycling over 1000 callers already in the
//!   table.
//!
//! Each is measured on an empty table (a fresh limiter, never more than half
//! full: its runs include the first touch of the table's memory, as a new
//! instance's do) and on one filled to `LIMITER_SIZE` (default 100000)
//! callers. The
//! clock is frozen at the fill time, so every caller in the full table is
//! active (none has refilled): the old table could not drop idle callers
//! first and had to scan for the stalest. Only prints figures.
//!
//! `scripts/bench-ratelimit.sh`, or
//! `cargo run --release --example ratelimit_bench` (env: `BENCH_MILLIS`,
//! `BENCH_ROUNDS`, `BENCH_THREADS`, `LIMITER_SIZE`, `RATE_PER_MINUTE`).

use oss_direct_upload::api::ratelimit::RateLimiter;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

// The allocator the deployed binary uses (src/main.rs).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The frozen clock (ms) every check uses.
const NOW_MS: i64 = 1_700_000_000_000;

/// Runs up to `per_thread` checks on each of `threads` threads, stopping at
/// `deadline`; `key(thread, i)` names the caller of each. Returns the checks
/// done and the seconds they took.
fn run(
    rl: &RateLimiter,
    threads: u64,
    per_thread: u64,
    deadline: Instant,
    key: impl Fn(u64, u64) -> u64 + Sync,
) -> (u64, f64) {
    let done = AtomicU64::new(0);
    let started = Instant::now();
    std::thread::scope(|s| {
        for t in 0..threads {
            let (done, key) = (&done, &key);
            s.spawn(move || {
                let mut i = 0;
                while i < per_thread {
                    // Check the clock every 64 checks, so that a slow table
                    // (the old one, full) still stops on time.
                    if i % 64 == 0 && Instant::now() >= deadline {
                        break;
                    }
                    let _ = rl.check(&format!("user:{}", key(t, i)), NOW_MS);
                    i += 1;
                }
                done.fetch_add(i, Ordering::Relaxed);
            });
        }
    });
    (
        done.load(Ordering::Relaxed),
        started.elapsed().as_secs_f64(),
    )
}

/// Checks per second over about `millis` ms: `run` in chunks of `chunk`
/// checks per thread, each chunk on `shared`, or when it is `None` on a
/// fresh empty limiter (setting it up and dropping it are not timed).
fn rate(
    shared: Option<&RateLimiter>,
    fresh: impl Fn() -> RateLimiter,
    threads: u64,
    chunk: u64,
    millis: u64,
    key: impl Fn(u64, u64, u64) -> u64 + Sync + Copy,
) -> f64 {
    let deadline = Instant::now() + Duration::from_millis(millis);
    let (mut checks, mut secs, mut n) = (0, 0.0, 0);
    while Instant::now() < deadline {
        let own;
        let rl = match shared {
            Some(rl) => rl,
            None => {
                own = fresh();
                &own
            }
        };
        let (c, s) = run(rl, threads, chunk, deadline, move |t, i| key(n, t, i));
        checks += c;
        secs += s;
        n += 1;
    }
    checks as f64 / secs.max(1e-9)
}

fn main() {
    let millis = env_or("BENCH_MILLIS", 500);
    let rounds = env_or("BENCH_ROUNDS", 9);
    let threads = env_or("BENCH_THREADS", 2).max(1);
    let size = env_or("LIMITER_SIZE", 100_000).max(2);
    let per_minute = env_or("RATE_PER_MINUTE", 60) as u32;
    let hot = 1000.min(size / 2);

    // The full table: `size` callers, each seen once (all active), then the
    // hot callers seen twice more (so they count as returning callers).
    let t = Instant::now();
    let full = RateLimiter::new(per_minute, size as usize);
    for u in 0..size {
        let _ = full.check(&format!("user:{u}"), NOW_MS);
    }
    let fill_secs = t.elapsed().as_secs_f64();
    let hot_id = move |i: u64| size - hot + i % hot;
    for _ in 0..2 {
        for i in 0..hot {
            let _ = full.check(&format!("user:{}", hot_id(i)), NOW_MS);
        }
    }
    let warm = RateLimiter::new(per_minute, size as usize);
    for _ in 0..3 {
        for i in 0..hot {
            let _ = warm.check(&format!("user:{}", hot_id(i)), NOW_MS);
        }
    }

    // An empty table gets at most half its size of new callers per chunk,
    // then a fresh one: it never fills.
    let chunk = (size / 2 / threads).max(1);
    // New callers: ids far above the fill range, distinct per round, chunk
    // and thread.
    let fresh =
        |base: u64| move |n: u64, t: u64, i: u64| base + n * 1_000_000_000 + t * 100_000_000 + i;
    let empty = || RateLimiter::new(per_minute, size as usize);
    let returning = move |_n: u64, t: u64, i: u64| hot_id(t * 31 + i);

    // The machine is shared and noisy, so empty and full runs alternate in
    // short rounds, and the full/empty figure is the median of each round's
    // ratio (runs seconds apart see the same load).
    let (mut back_empty, mut back_full, mut new_empty, mut new_full) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for _ in 0..rounds {
        back_empty.push(rate(Some(&warm), empty, threads, chunk, millis, returning));
        back_full.push(rate(Some(&full), empty, threads, chunk, millis, returning));
    }
    for r in 0..rounds {
        new_empty.push(rate(
            None,
            empty,
            threads,
            chunk,
            millis,
            fresh(10_000_000_000 + r * 100_000_000_000),
        ));
        new_full.push(rate(
            Some(&full),
            empty,
            threads,
            chunk,
            millis,
            fresh(20_000_000_000 + r * 100_000_000_000),
        ));
    }

    let median = |mut v: Vec<f64>| {
        v.sort_by(|a, b| a.total_cmp(b));
        v[v.len() / 2]
    };
    let ratios = |full: &[f64], empty: &[f64]| {
        median(full.iter().zip(empty).map(|(f, e)| 100.0 * f / e).collect())
    };
    let new_ratio = ratios(&new_full, &new_empty);
    let back_ratio = ratios(&back_full, &back_empty);
    println!(
        "rate limiter bench ({} cores, {threads} threads, {rounds} alternating rounds of {millis} ms, medians; full/empty is the median of the rounds' ratios; RateLimiter::check alone, {per_minute}/min, clock frozen so every caller is active)",
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
    );
    println!("  table filled to {size} callers in {fill_secs:.2} s");
    println!(
        "  {:<34} empty {:>10.0}/s   full {:>10.0}/s   full/empty {:>5.1}%",
        "new callers (insert; evict if full)",
        median(new_empty),
        median(new_full),
        new_ratio
    );
    println!(
        "  {:<34} empty {:>10.0}/s   full {:>10.0}/s   full/empty {:>5.1}%",
        format!("returning callers ({hot})"),
        median(back_empty),
        median(back_full),
        back_ratio
    );
}
