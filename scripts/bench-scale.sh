#!/usr/bin/env bash
# `scripts/bench.sh scale` (issue 16): what sharing state across instances
# buys and costs. Four instances of the deployed (release) binary on
# loopback, one STS peer (tests/peers/sts_server.py) counting AssumeRole
# calls, and a real redis-server (Debian's, no persistence) for
# STATE_REDIS_URL. Prints, never asserts:
#   - AssumeRole calls and /v1/sts p50/p99 for BENCH_USERS (100,000) users,
#     each asking BENCH_FANOUT (2) of the four instances, without and with Redis;
#   - presign throughput with the Redis-backed limiter as a ratio of the
#     in-memory one (one instance, RATE_LIMIT_PER_MINUTE high enough never to refuse).
# STS_MAX_CALLS_PER_SECOND is raised to 1000 so the calls are counted, not refused.
# Env: BENCH_USERS, BENCH_FANOUT, BENCH_CONCURRENCY (64), BENCH_PRESIGNS (50000);
# STATE_TIMEOUT_MS passes through to the instances (default 50).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
USERS="${BENCH_USERS:-100000}"
FANOUT="${BENCH_FANOUT:-2}"
CONC="${BENCH_CONCURRENCY:-64}"
PRESIGNS="${BENCH_PRESIGNS:-50000}"
command -v redis-server >/dev/null || { echo "redis-server is needed (apt-get install redis-server)"; exit 1; }
./scripts/setup-peers.sh >/dev/null

echo "== building the deployed binary and the load generator (release)"
cargo build --release --locked --quiet --bin oss-direct-upload
cargo build --release --locked --quiet --example scale_bench
bin="$root/target/release/oss-direct-upload"
gen="$root/target/release/examples/scale_bench"

tmp=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}" "${redis_pid:-}" "${sts_pid:-}" "${sleeper:-}"; do
    [ -n "$p" ] && kill "$p" 2>/dev/null || true
  done
  rm -rf "$tmp"
}
trap cleanup EXIT
free_port() { .venv/bin/python -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }

# STS peer; it exits when its stdin closes, so feed it from a sleeping pipe.
mkfifo "$tmp/sts_in"
sleep 100000 > "$tmp/sts_in" &
sleeper=$!
.venv/bin/python tests/peers/sts_server.py --ak STS.bench --secret bench-secret --token bench-token \
  < "$tmp/sts_in" > "$tmp/sts_out" 2>/dev/null &
sts_pid=$!
for _ in $(seq 100); do [ -s "$tmp/sts_out" ] && break; sleep 0.05; done
sts_url="http://127.0.0.1:$(head -1 "$tmp/sts_out")"
assume_roles() { curl -s "$sts_url/__stats" | .venv/bin/python -c 'import json,sys; print(json.load(sys.stdin)["assumeRole"])'; }

redis_port=$(free_port)
redis-server --port "$redis_port" --bind 127.0.0.1 --save '' --appendonly no --loglevel warning > /dev/null &
redis_pid=$!
for _ in $(seq 100); do redis-cli -p "$redis_port" ping >/dev/null 2>&1 && break; sleep 0.05; done
state_key=$(head -c32 /dev/urandom | base64)

# start_instances N RATE [redis]: starts N instances, their URLs in $urls.
start_instances() {
  local n=$1 rate=$2 redis=${3:-}
  urls=""
  pids=()
  for i in $(seq "$n"); do
    local port; port=$(free_port)
    (
      export OSS_BUCKET=bench-bucket OSS_REGION=cn-hangzhou OSS_ROLE_ARN=acs:ram::1234567890:role/upload \
        AUTH_MODE=fc-jwt TRIGGER_USER_HEADER=x-user-id RATE_LIMIT_PER_MINUTE="$rate" \
        CREDENTIAL_CACHE_SIZE=100000 STS_MAX_CALLS_PER_SECOND=1000 STS_ENDPOINT="$sts_url" \
        ALIBABA_CLOUD_ACCESS_KEY_ID=STS.bench ALIBABA_CLOUD_ACCESS_KEY_SECRET=bench-secret \
        ALIBABA_CLOUD_SECURITY_TOKEN=bench-token FC_CUSTOM_LISTEN_PORT="$port"
      if [ -n "$redis" ]; then
        export STATE_REDIS_URL="redis://127.0.0.1:$redis_port/0" STATE_KEY="$state_key"
      fi
      exec "$bin" > "$tmp/fn-$port.log" 2>&1
    ) &
    pids+=($!)
    urls="${urls:+$urls,}http://127.0.0.1:$port"
    for _ in $(seq 200); do curl -fs "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && break; sleep 0.05; done
    if [ -n "$redis" ]; then
      for _ in $(seq 100); do grep -q "shared state store connected" "$tmp/fn-$port.log" && break; sleep 0.05; done
    fi
  done
}
stop_instances() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait "${pids[@]}" 2>/dev/null || true; pids=(); }

field() { tr ' ' '\n' <<<"$1" | awk -F= -v k="$2" '$1==k {print $2}'; }

declare -A calls line
for mode in memory redis; do
  redis-cli -p "$redis_port" flushall >/dev/null
  start_instances 4 0 "$([ "$mode" = redis ] && echo on)"
  before=$(assume_roles)
  line[$mode]=$("$gen" sts "$USERS" "$FANOUT" "$CONC" "$urls")
  calls[$mode]=$(( $(assume_roles) - before ))
  if [ "$mode" = redis ]; then
    # How often an instance found the store away (each costs it a few seconds on its own).
    away=$(cat "$tmp"/fn-*.log | grep -c "shared state store unavailable" || true)
    keys=$(redis-cli -p "$redis_port" dbsize)
    mem=$(redis-cli -p "$redis_port" info memory | awk -F: '/^used_memory_human/ {gsub("\r",""); print $2}')
  fi
  rm -f "$tmp"/fn-*.log
  stop_instances
done

presign() {
  start_instances 1 1000000 "${1:-}"
  "$gen" presign "$PRESIGNS" 1000 32 "$urls"
  stop_instances
}
p_mem=$(presign)
p_redis=$(presign on)

echo
echo "oss-direct-upload scale bench ($(nproc) cores shared by the instances, the STS peer, redis-server and the generator; $(date -u +%Y-%m-%d))"
echo "  $USERS users, each asking /v1/sts of $FANOUT of 4 instances, $CONC users at a time"
for mode in memory redis; do
  l=${line[$mode]}
  label="per-instance caches"; [ "$mode" = redis ] && label="shared state on Redis"
  printf '  %-26s AssumeRole calls %-8s requests %-7s non-2xx %-4s p50 %s ms  p99 %s ms  (%s req/s)\n' \
    "$label" "${calls[$mode]}" "$(field "$l" requests)" "$(field "$l" non2xx)" \
    "$(field "$l" p50_ms)" "$(field "$l" p99_ms)" "$(field "$l" rps)"
done
printf '  %-26s %s keys, %s; "store unavailable" logged %s times by the four (at most once a minute each; a call over STATE_TIMEOUT_MS leaves that instance on its own for ~3 s)\n' \
  "store after the Redis run" "$keys" "$mem" "$away"
rm_=$(field "$p_mem" rps); rr=$(field "$p_redis" rps)
echo "  presign, one instance, 1,000 users, 32 at a time, $PRESIGNS requests:"
printf '    %-34s %s req/s  p50 %s ms  p99 %s ms\n' "in-memory limiter" "$rm_" "$(field "$p_mem" p50_ms)" "$(field "$p_mem" p99_ms)"
printf '    %-34s %s req/s  p50 %s ms  p99 %s ms\n' "Redis limiter (+ local first)" "$rr" "$(field "$p_redis" p50_ms)" "$(field "$p_redis" p99_ms)"
printf '    %-34s %s\n' "ratio Redis / in-memory" "$(.venv/bin/python -c "print(f'{$rr/$rm_:.2f}')")"
