#!/usr/bin/env bash
# The whole test suite, on a fresh machine: installs what it needs (Python
# venv with Alibaba's official SDKs, npm packages, Debian's Chromium), then
# runs format and lint checks, the Rust tests (unit, loopback integration,
# SDK cross-checks), the end-to-end uploads with official SDKs, and the
# browser tests. Screenshots from the browser tests land in test-output/.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
export CARGO_TERM_COLOR=never

step() { printf '\n==> %s\n' "$*"; }
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
# Runs a test command, showing its output and keeping a copy for the totals.
run() { "$@" 2>&1 | tee -a "$log"; return "${PIPESTATUS[0]}"; }

step "installing test peers"
# Debian packages: Chromium for the browser test, musl-tools for the deployed static build,
# iproute2 for `ss`.
missing=()
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v musl-gcc >/dev/null 2>&1 || missing+=(musl-tools)
# `ss` shows a listening socket's backlog (tests/runtime_limits.rs).
command -v ss >/dev/null 2>&1 || missing+=(iproute2)
# A real store for the shared state (tests/shared_state.rs).
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
if [ ${#missing[@]} -gt 0 ]; then
  sudo=""; [ "$(id -u)" = 0 ] || sudo=sudo
  $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
fi
./scripts/setup-peers.sh
export PEER_PYTHON="$root/.venv/bin/python"

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy"
cargo clippy --workspace --all-targets --locked --features oss-direct-upload/local -- -D warnings

step "cargo test (unit, loopback integration, official-SDK cross-checks)"
cargo build --locked --features local --bin oss-direct-upload
run cargo test --workspace --locked --features oss-direct-upload/local -- --test-threads=2

if [ -d tests/e2e ]; then
  step "end-to-end uploads with the official SDKs (pytest)"
  export OSS_DIRECT_UPLOAD_BIN="$root/target/debug/oss-direct-upload"
  run .venv/bin/python -m pytest -q tests/e2e
fi

if [ -d tests/browser ]; then
  step "browser tests (headless Chromium: the upload page, its multipart flow, upload profiles, real Uppy 5 and 6)"
  mkdir -p test-output
  for t in tests/browser/*.test.mjs; do run node "$t"; done
fi

step "the deployed binary: static musl build, route and security tests again"
# What `s deploy` ships (scripts/build-fc.sh: musl, no emulator, our memcpy)
# must pass the same HTTP tests as the debug build.
if rustup target list --installed 2>/dev/null | grep -qx x86_64-unknown-linux-musl \
   || rustup target add x86_64-unknown-linux-musl >/dev/null 2>&1; then
  ./scripts/build-fc.sh >/dev/null
  OSS_DIRECT_UPLOAD_BIN="$root/dist/oss-direct-upload" \
    run cargo test --locked --test api_routes --test security -- --test-threads=2
else
  echo "SKIPPED: the musl target cannot be installed here (rustup target add x86_64-unknown-linux-musl failed)"
fi

step "deployment files: js-yaml 4 (as Serverless Devs parses them), fc3/FC rules, the build runs with their environment"
# After the musl build, so the dist/bootstrap that `s deploy` ships is the one started.
run node --test tests/deploy/
# node's TAP summary says "# pass N"; say it the way the other runners do.
grep -hoE '^# pass [0-9]+' "$log" | tail -1 | awk '{print "deploy files: " $3 " passed"}' | tee -a "$log"

# One closing line over every runner: cargo's "test result", pytest's and the browser test's summaries.
passed=$(grep -hoE '[0-9]+ passed' "$log" | awk '{s += $1} END {print s + 0}')
step "all tests passed"
echo "suite: ${passed:-0} passed, 0 failed"
