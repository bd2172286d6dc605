#!/usr/bin/env bash
# `scripts/bench.sh cache`: does a full credential cache (100,000 scopes)
# serve as fast as an empty one? Runs examples/cache_bench.rs (release): the
# real request path in process against a stub STS, new and cached users, on
# an empty and on a full cache. Prints figures; never a pass/fail gate.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
echo "== building examples/cache_bench (release)"
cargo build --release --locked --example cache_bench --quiet
# The app's own log lines (one per AssumeRole) go to a file; figures to the terminal.
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
"$root/target/release/examples/cache_bench" | tee "$log" | grep -v '^{'
