#!/usr/bin/env bash
# `scripts/bench-ratelimit.sh`: does a full rate-limiter table (100,000
# callers) check as fast as an empty one? Runs examples/ratelimit_bench.rs
# (release): RateLimiter::check alone from several threads, new and returning
# callers, on an empty and on a full table. Prints figures; never a pass/fail
# gate. Env: BENCH_MILLIS, BENCH_ROUNDS, BENCH_THREADS, LIMITER_SIZE,
# RATE_PER_MINUTE.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
echo "== building examples/ratelimit_bench (release)"
cargo build --release --locked --example ratelimit_bench --quiet
"$root/target/release/examples/ratelimit_bench"
