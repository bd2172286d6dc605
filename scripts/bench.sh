#!/usr/bin/env bash
# Measures what a signing-only function costs, and prints the figures:
#   - binary size (deployed build: release, no emulator; static musl if musl-gcc is there)
#   - time from process start to the first successful presign response
#   - presign requests/s and latency (p50/p99) at 32 connections, with wrk
#   - resident memory idle and under that load
# `scripts/bench.sh cache` and `scripts/bench.sh soak` run the other entries.
# Everything runs on loopback against the STS peer (tests/peers/sts_server.py).
# Never a pass/fail gate: it only reports.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
# Other entries: `bench.sh cache` (full vs empty credential cache),
# `bench.sh soak` (minutes of mixed load, RSS and errors at intervals),
# `bench.sh ratelimit` (the rate limiter on a full vs an empty table),
# `bench.sh scale` (four instances: AssumeRole calls and latency with and without Redis).
case "${1:-}" in
  cache|soak|ratelimit|scale) exec "$root/scripts/bench-$1.sh" "${@:2}" ;;
esac
DURATION="${BENCH_DURATION:-10}"
CONNS="${BENCH_CONNECTIONS:-32}"
# wrk runs on the same 2 cores as the function: one load thread leaves the
# function most of the machine, as FC would give it its own vCPUs.
THREADS="${BENCH_THREADS:-1}"

need() { command -v "$1" >/dev/null 2>&1; }
if ! need wrk; then
  if [ "$(id -u)" = 0 ]; then apt-get install -y -qq wrk >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }; fi
fi
need wrk || { echo "wrk is needed (apt-get install wrk)"; exit 1; }
./scripts/setup-peers.sh >/dev/null

echo "== building the deployed binary (release, the plain build)"
cargo build --release --locked --quiet
bin="$root/target/release/oss-direct-upload"
size_gnu=$(stat -c %s "$bin")
size_musl=""
if need musl-gcc && rustup target list --installed 2>/dev/null | grep -qx x86_64-unknown-linux-musl; then
  CC_x86_64_unknown_linux_musl=musl-gcc cargo build --release --locked \
    --target x86_64-unknown-linux-musl --quiet
  size_musl=$(stat -c %s target/x86_64-unknown-linux-musl/release/oss-direct-upload)
  bin="$root/target/x86_64-unknown-linux-musl/release/oss-direct-upload"
fi

tmp=$(mktemp -d)
# Run it as FC does: through bootstrap, from a code folder like dist/.
mkdir -p "$tmp/code"
cp "$bin" "$tmp/code/oss-direct-upload"
cp bootstrap "$tmp/code/bootstrap"
bin="$tmp/code/bootstrap"
cleanup() { kill "${fn_pid:-}" "${sts_pid:-}" 2>/dev/null || true; rm -rf "$tmp"; }
trap cleanup EXIT

# STS peer; it exits when its stdin closes, so feed it from a sleeping pipe.
mkfifo "$tmp/sts_in"
sleep 100000 > "$tmp/sts_in" &
sleeper=$!
.venv/bin/python tests/peers/sts_server.py --ak STS.bench --secret bench-secret --token bench-token \
  < "$tmp/sts_in" > "$tmp/sts_out" 2>/dev/null &
sts_pid=$!
for _ in $(seq 100); do [ -s "$tmp/sts_out" ] && break; sleep 0.05; done
sts_port=$(head -1 "$tmp/sts_out")
port=$(.venv/bin/python -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])')

export OSS_BUCKET=bench-bucket OSS_REGION=cn-hangzhou OSS_ROLE_ARN=acs:ram::1234567890:role/upload \
  AUTH_MODE=anonymous RATE_LIMIT_PER_MINUTE=0 STS_ENDPOINT="http://127.0.0.1:$sts_port" \
  ALIBABA_CLOUD_ACCESS_KEY_ID=STS.bench ALIBABA_CLOUD_ACCESS_KEY_SECRET=bench-secret \
  ALIBABA_CLOUD_SECURITY_TOKEN=bench-token FC_CUSTOM_LISTEN_PORT="$port"
url="http://127.0.0.1:$port/v1/presign?filename=photo.png&contentType=image/png&size=48213"

# Start → first successful presign (includes the AssumeRole round trip to the peer).
first_ms=$(.venv/bin/python - "$bin" "$url" "$tmp/fn.log" <<'PY'
import subprocess, sys, time, urllib.request
bin_, url, log = sys.argv[1:]
t0 = time.perf_counter()
p = subprocess.Popen([bin_], stdout=open(log, "w"), stderr=subprocess.STDOUT)
while True:
    try:
        with urllib.request.urlopen(url, timeout=2) as r:
            if r.status == 200:
                break
    except Exception:
        time.sleep(0.0005)
    if time.perf_counter() - t0 > 10:
        sys.exit("no response within 10 s")
print(f"{(time.perf_counter() - t0) * 1000:.1f}")
print(p.pid, file=open(log + ".pid", "w"))  # exec keeps the pid: it is the binary's
PY
)
fn_pid=$(cat "$tmp/fn.log.pid")
sleep 1
rss_kb() { awk '/VmRSS/ {print $2}' "/proc/$1/status"; }
idle_kb=$(rss_kb "$fn_pid")

# Pin wrk to the last CPU so it does not migrate across the function's cores.
pin=()
if need taskset && [ "$(nproc)" -gt 1 ]; then pin=(taskset -c "$(( $(nproc) - 1 ))"); fi
"${pin[@]}" wrk -t"$THREADS" -c"$CONNS" -d"${DURATION}s" --latency "$url" > "$tmp/wrk.txt" &
wrk_pid=$!
peak_kb=0
while kill -0 "$wrk_pid" 2>/dev/null; do
  kb=$(rss_kb "$fn_pid"); [ "$kb" -gt "$peak_kb" ] && peak_kb=$kb
  sleep 0.2
done
wait "$wrk_pid" || true
rps=$(awk '/Requests\/sec/ {print $2}' "$tmp/wrk.txt")
p50=$(awk '$1=="50%" {print $2}' "$tmp/wrk.txt")
p99=$(awk '$1=="99%" {print $2}' "$tmp/wrk.txt")
non2xx=$(awk '/Non-2xx/ {print $NF}' "$tmp/wrk.txt")
kill "$sleeper" 2>/dev/null || true

echo
echo "oss-direct-upload bench ($(nproc) cores shared with wrk, $(date -u +%Y-%m-%d), ${pin[*]:+${pin[*]} }wrk -t$THREADS -c$CONNS -d${DURATION}s, access log to a file)"
printf '  %-44s %s\n' "binary size (release, glibc)" "$((size_gnu / 1024)) KiB"
[ -n "$size_musl" ] && printf '  %-44s %s\n' "binary size (release, static musl: deployed)" "$((size_musl / 1024)) KiB"
printf '  %-44s %s\n' "process start -> first presign response" "${first_ms} ms"
printf '  %-44s %s\n' "presign throughput" "${rps} req/s${non2xx:+ (non-2xx: $non2xx)}"
printf '  %-44s %s\n' "latency p50 / p99" "${p50} / ${p99}"
printf '  %-44s %s\n' "resident memory idle" "$((idle_kb / 1024)).$(( (idle_kb % 1024) * 10 / 1024 )) MiB"
printf '  %-44s %s\n' "resident memory under load (peak)" "$((peak_kb / 1024)).$(( (peak_kb % 1024) * 10 / 1024 )) MiB"

# ---- multipart (issue 10): part signing under load, and a 1,000-part upload.
# Part signing: POST /v1/multipart/sign for one part (pure signing, no OSS call)
# on the same running function, same wrk settings.
cat > "$tmp/sign.lua" <<'LUA'
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"key":"uploads/0a1b2c3d4e5f60718293a4b5/video.mp4","uploadId":"0004B9894A22E5B1888A1E29F823ABCD","size":52428800,"partNumbers":[3]}'
LUA
"${pin[@]}" wrk -t"$THREADS" -c"$CONNS" -d"${DURATION}s" --latency -s "$tmp/sign.lua" \
  "http://127.0.0.1:$port/v1/multipart/sign" > "$tmp/wrk-sign.txt"
sign_rps=$(awk '/Requests\/sec/ {print $2}' "$tmp/wrk-sign.txt")
sign_p50=$(awk '$1=="50%" {print $2}' "$tmp/wrk-sign.txt")
sign_p99=$(awk '$1=="99%" {print $2}' "$tmp/wrk-sign.txt")
sign_non2xx=$(awk '/Non-2xx/ {print $NF}' "$tmp/wrk-sign.txt")
# One request by hand first would hide nothing: show what a failing body says.
[ -n "$sign_non2xx" ] && curl -s -X POST -H 'Content-Type: application/json' \
  --data "$(sed -n "s/^wrk.body = '\(.*\)'$/\1/p" "$tmp/sign.lua")" "http://127.0.0.1:$port/v1/multipart/sign" | head -c 300 && echo
kill "$fn_pid" 2>/dev/null || true

# 1,000 parts of 100 KiB through `local` (the function plus the emulator, release build).
cargo build --release --locked --features local --quiet
lport=$(.venv/bin/python -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])')
eport=$(.venv/bin/python -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])')
env -u OSS_BUCKET -u OSS_REGION -u OSS_ROLE_ARN -u STS_ENDPOINT -u FC_CUSTOM_LISTEN_PORT \
  -u ALIBABA_CLOUD_ACCESS_KEY_ID -u ALIBABA_CLOUD_ACCESS_KEY_SECRET -u ALIBABA_CLOUD_SECURITY_TOKEN \
  MAX_UPLOAD_BYTES=$((1024 * 1024 * 1024)) \
  "$root/target/release/oss-direct-upload" local --memory --port "$lport" --emulator-port "$eport" \
  > "$tmp/local.log" 2>&1 &
local_pid=$!
trap 'kill "${local_pid:-}" 2>/dev/null || true; cleanup' EXIT
for _ in $(seq 200); do curl -fs "http://127.0.0.1:$lport/healthz" >/dev/null 2>&1 && break; sleep 0.05; done
.venv/bin/python scripts/bench-multipart.py "http://127.0.0.1:$lport" 1000 102400 > "$tmp/mp.txt"
mp() { awk -v k="$1" '$1==k {print $2}' "$tmp/mp.txt"; }
kill "$local_pid" 2>/dev/null || true

echo "multipart (same wrk settings; 1,000-part upload against local --memory, release build)"
printf '  %-44s %s\n' "part signing (/v1/multipart/sign, 1 part)" "${sign_rps} req/s${sign_non2xx:+ (non-2xx: $sign_non2xx)}"
printf '  %-44s %s\n' "part signing latency p50 / p99" "${sign_p50} / ${sign_p99}"
printf '  %-44s %s\n' "1,000 x 100 KiB: create / sign all" "$(mp create_ms) ms / $(mp sign_ms) ms"
printf '  %-44s %s\n' "1,000 x 100 KiB: PUT parts (8 parallel)" "$(mp upload_ms) ms"
printf '  %-44s %s\n' "1,000 x 100 KiB: complete (ListParts+checks)" "$(mp complete_ms) ms"
