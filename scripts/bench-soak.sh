#!/usr/bin/env bash
# `scripts/bench.sh soak`: several minutes of mixed load on the deployed build
# (release, no emulator), printing resident memory and error counts every
# interval, so a leak or a slow rise in errors shows. Not run by the tests.
#
# Load (wrk, one thread, Lua script): fc-jwt users drawn from a pool of
# SOAK_USERS (so the credential cache fills, evicts and refetches), spread
# over /v1/sts, /v1/presign, /v1/post-policy, /healthz, and bad requests
# (invalid UTF-8 filename, unknown route, missing user). STS is the loopback
# peer (tests/peers/sts_server.py), which verifies every AssumeRole.
#
# Env: SOAK_MINUTES (5), SOAK_INTERVAL (30 s), SOAK_USERS (20000),
# CREDENTIAL_CACHE_SIZE (5000, smaller than the pool on purpose),
# BENCH_CONNECTIONS (32).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
MINUTES="${SOAK_MINUTES:-5}"
INTERVAL="${SOAK_INTERVAL:-30}"
USERS="${SOAK_USERS:-20000}"
CONNS="${BENCH_CONNECTIONS:-32}"

need() { command -v "$1" >/dev/null 2>&1; }
if ! need wrk && [ "$(id -u)" = 0 ]; then
  apt-get install -y -qq wrk >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
fi
need wrk || { echo "wrk is needed (apt-get install wrk)"; exit 1; }
./scripts/setup-peers.sh >/dev/null

echo "== building the deployed binary (release, the plain build)"
cargo build --release --locked --quiet
bin="$root/target/release/oss-direct-upload"

tmp=$(mktemp -d)
cleanup() { kill "${fn_pid:-}" "${sts_pid:-}" "${sleeper:-}" 2>/dev/null || true; rm -rf "$tmp"; }
trap cleanup EXIT

mkfifo "$tmp/sts_in"
sleep 100000 > "$tmp/sts_in" &
sleeper=$!
.venv/bin/python tests/peers/sts_server.py --ak STS.soak --secret soak-secret --token soak-token \
  < "$tmp/sts_in" > "$tmp/sts_out" 2>/dev/null &
sts_pid=$!
for _ in $(seq 100); do [ -s "$tmp/sts_out" ] && break; sleep 0.05; done
sts_port=$(head -1 "$tmp/sts_out")
port=$(.venv/bin/python -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])')

OSS_BUCKET=soak-bucket OSS_REGION=cn-hangzhou OSS_ROLE_ARN=acs:ram::1234567890:role/upload \
  AUTH_MODE=fc-jwt TRIGGER_USER_HEADER=x-user-id RATE_LIMIT_PER_MINUTE=0 \
  CREDENTIAL_CACHE_SIZE="${CREDENTIAL_CACHE_SIZE:-5000}" STS_ENDPOINT="http://127.0.0.1:$sts_port" \
  ALIBABA_CLOUD_ACCESS_KEY_ID=STS.soak ALIBABA_CLOUD_ACCESS_KEY_SECRET=soak-secret \
  ALIBABA_CLOUD_SECURITY_TOKEN=soak-token FC_CUSTOM_LISTEN_PORT="$port" \
  "$bin" > "$tmp/fn.log" 2>&1 &
fn_pid=$!
for _ in $(seq 200); do curl -sf "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && break; sleep 0.05; done

cat > "$tmp/mixed.lua" <<LUA
local users = $USERS
local paths = {
  "/v1/sts", "/v1/sts",
  "/v1/presign?filename=photo.png&contentType=image/png&size=48213",
  "/v1/presign?filename=photo.png&contentType=image/png&size=48213",
  "/v1/post-policy?filename=notes.txt&contentType=text/plain&size=100",
  "/healthz",
  "/v1/presign?filename=%ff.png&contentType=image/png&size=1",
  "/no-such-route",
}
-- wrk runs request/response in each thread's Lua state and done() in the
-- main one: counters are thread globals, summed through setup()'s handles.
local threads = {}
setup = function(thread) table.insert(threads, thread) end
init = function(args) c2 = 0; c4 = 0; c5 = 0; math.randomseed(os.time() + math.random(1000)) end
request = function()
  local p = paths[math.random(#paths)]
  local headers = {["x-user-id"] = "soak-user-" .. math.random(users)}
  if math.random(50) == 1 then headers = {} end
  return wrk.format("GET", p, headers)
end
response = function(status, headers, body)
  if status >= 500 then c5 = c5 + 1 elseif status >= 400 then c4 = c4 + 1 else c2 = c2 + 1 end
end
done = function(summary, latency, requests)
  local t2, t4, t5 = 0, 0, 0
  for _, t in ipairs(threads) do t2 = t2 + t:get("c2"); t4 = t4 + t:get("c4"); t5 = t5 + t:get("c5") end
  local e = summary.errors
  io.write(string.format("RESULT requests=%d 2xx=%d 4xx=%d 5xx=%d socket_errors=%d p99_ms=%.2f\n",
    summary.requests, t2, t4, t5, e.connect + e.read + e.write + e.timeout, latency:percentile(99) / 1000))
end
LUA

rss_kb() { awk '/VmRSS/ {print $2}' "/proc/$1/status"; }
pin=()
if need taskset && [ "$(nproc)" -gt 1 ]; then pin=(taskset -c "$(( $(nproc) - 1 ))"); fi
echo "soak: ${MINUTES} min of mixed load, $CONNS connections, $USERS users, cache ${CREDENTIAL_CACHE_SIZE:-5000}; a line every ${INTERVAL} s"
printf '  %-8s %-10s %-10s %-8s %-8s %-6s %-8s %s\n' "elapsed" "requests" "req/s" "4xx" "5xx" "sock" "p99 ms" "RSS MiB"
printf '  %-8s %-10s %-10s %-8s %-8s %-6s %-8s %s\n' "0s" "-" "-" "-" "-" "-" "-" "$(awk -v k="$(rss_kb "$fn_pid")" 'BEGIN{printf "%.1f", k/1024}')"
end=$(( $(date +%s) + MINUTES * 60 ))
elapsed=0; total5xx=0; totalsock=0
while [ "$(date +%s)" -lt "$end" ]; do
  "${pin[@]}" wrk -t1 -c"$CONNS" -d"${INTERVAL}s" -s "$tmp/mixed.lua" "http://127.0.0.1:$port" > "$tmp/wrk.txt" 2>&1 || true
  elapsed=$(( elapsed + INTERVAL ))
  line=$(grep '^RESULT' "$tmp/wrk.txt" || echo "RESULT requests=0 2xx=0 4xx=0 5xx=0 socket_errors=0 p99_ms=0")
  get() { echo "$line" | tr ' ' '\n' | awk -F= -v k="$1" '$1==k {print $2}'; }
  kill -0 "$fn_pid" 2>/dev/null || { echo "the function died; log:"; tail -20 "$tmp/fn.log"; exit 1; }
  rss=$(awk -v k="$(rss_kb "$fn_pid")" 'BEGIN{printf "%.1f", k/1024}')
  total5xx=$(( total5xx + $(get 5xx) )); totalsock=$(( totalsock + $(get socket_errors) ))
  printf '  %-8s %-10s %-10s %-8s %-8s %-6s %-8s %s\n' "${elapsed}s" "$(get requests)" \
    "$(( $(get requests) / INTERVAL ))" "$(get 4xx)" "$(get 5xx)" "$(get socket_errors)" "$(get p99_ms)" "$rss"
done
echo "soak done: 5xx answers $total5xx, socket errors $totalsock (4xx are the bad requests the load sends on purpose)"
