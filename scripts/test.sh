#!/usr/bin/env bash
# The whole test suite, on a fresh machine: installs what it needs (Python
# venv with Alibaba's official SDKs, npm packages, Debian's Chromium), then
# runs format and lint checks, the Rust tests (unit, loopback integration,
# SDK cross-checks), the end-to-end uploads with official SDKs, and the
# browser tests. Screenshots from the browser tests land in test-output/.
#
# Needs Debian or Ubuntu (system packages come from apt-get, as root or with
# sudo), Rust (rustup), Python 3 with venv, and Node.js with npm.
#
# It always ends with one line, `suite: N passed, M failed`: N and M sum every
# runner's counts (cargo, pytest, the browser tests, node --test), and a step
# that fails without counting its tests (fmt, clippy, a build) adds 1 to M.
# After a failed step it keeps going where the next steps can still run, and
# exits non-zero whenever M > 0.
set -uo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
export CARGO_TERM_COLOR=never

step() { printf '\n==> %s\n' "$*"; }
log="$(mktemp)"
steplog="$(mktemp)"
uncounted=0 # failed steps that printed no test counts of their own
summary() {
  local passed failed
  passed=$(grep -hoE '[0-9]+ passed' "$log" | awk '{s += $1} END {print s + 0}')
  failed=$(grep -hoE '[0-9]+ failed' "$log" | awk '{s += $1} END {print s + 0}')
  failed=$((failed + uncounted))
  rm -f "$log" "$steplog"
  echo
  echo "suite: ${passed} passed, ${failed} failed"
  [ "$failed" -eq 0 ]
}
trap 'summary; exit $?' EXIT
trap 'echo; echo "interrupted"; uncounted=$((uncounted + 1)); exit 130' INT TERM
# Runs a test command, showing its output and keeping a copy for the totals;
# a failure that reported no failed test counts once.
run() {
  "$@" 2>&1 | tee "$steplog"
  local rc=${PIPESTATUS[0]}
  cat "$steplog" >> "$log"
  if [ "$rc" -ne 0 ] && ! grep -qE '(^|[^0-9])[1-9][0-9]* failed' "$steplog"; then
    uncounted=$((uncounted + 1))
    echo "FAILED (exit $rc): $*"
  fi
  return "$rc"
}
# A step with no test counts (fmt, clippy, a build): a failure counts once.
must() {
  "$@"
  local rc=$?
  if [ "$rc" -ne 0 ]; then
    uncounted=$((uncounted + 1))
    echo "FAILED (exit $rc): $*"
  fi
  return "$rc"
}
# Stops the suite here (the closing line is still printed).
stop() { echo "$*" >&2; exit 1; }

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
  if ! command -v apt-get >/dev/null 2>&1; then
    uncounted=$((uncounted + 1))
    stop "apt-get not found: this script installs system packages on Debian or Ubuntu only.
Install these by hand (Debian names: ${missing[*]}; chromium must be on PATH as \`chromium\`
or named by CHROMIUM_PATH, musl-tools provides musl-gcc, iproute2 provides ss), then run it again."
  fi
  if [ -n "$sudo" ] && ! command -v sudo >/dev/null 2>&1; then
    uncounted=$((uncounted + 1))
    stop "installing ${missing[*]} with apt-get needs root or sudo: run this script as root, or install them first."
  fi
  if ! { $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null; }; then
    uncounted=$((uncounted + 1))
    stop "apt-get could not install ${missing[*]} (as root or with sudo); install them, then run it again."
  fi
fi
must ./scripts/setup-peers.sh || stop "the test peers could not be installed (see above)"
export PEER_PYTHON="$root/.venv/bin/python"

step "cargo fmt --check"
must cargo fmt --all -- --check

step "cargo clippy"
must cargo clippy --workspace --all-targets --locked --features oss-direct-upload/local -- -D warnings

step "cargo test (unit, loopback integration, official-SDK cross-checks)"
must cargo build --locked --features local --bin oss-direct-upload \
  || stop "the local build failed: the tests below need it"
# --no-fail-fast: one failing test binary must not hide the others' results.
run cargo test --workspace --locked --no-fail-fast --features oss-direct-upload/local -- --test-threads=2

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
  if must ./scripts/build-fc.sh >/dev/null; then
    # cli_commands: `local` and `token` are unknown commands in this build.
    OSS_DIRECT_UPLOAD_BIN="$root/dist/oss-direct-upload" \
      run cargo test --locked --test api_routes --test security --test cli_commands -- --test-threads=2
  fi
else
  echo "SKIPPED: the musl target cannot be installed here (rustup target add x86_64-unknown-linux-musl failed)"
fi

step "deployment files: js-yaml 4 (as Serverless Devs parses them), fc3/FC rules, the build runs with their environment"
# After the musl build, so the dist/bootstrap that `s deploy` ships is the one started.
node --test tests/deploy/ 2>&1 | tee "$steplog"
deploy_rc=${PIPESTATUS[0]}
# node's TAP summary says "# pass N" / "# fail M"; say it the way the other runners do.
deploy_pass=$(grep -hoE '^# pass [0-9]+' "$steplog" | tail -1 | awk '{print $3}')
deploy_fail=$(grep -hoE '^# fail [0-9]+' "$steplog" | tail -1 | awk '{print $3}')
echo "deploy files: ${deploy_pass:-0} passed, ${deploy_fail:-0} failed" | tee -a "$log"
if [ "$deploy_rc" -ne 0 ] && [ "${deploy_fail:-0}" -eq 0 ]; then uncounted=$((uncounted + 1)); fi

# The closing line (summary, on EXIT) sums every runner: cargo's "test result",
# pytest's, the browser tests' and the deploy files' counts.
