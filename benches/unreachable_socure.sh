#!/usr/bin/env bash
# Benchmark: 60 s at a steady 1,000 requests/s through the proxy with Socure
# unreachable (its port drops packets), then the same with shadow mode off.
# Reports client latency (oha, corrected for coordinated omission) and the
# proxy's resident memory, sampled every 5 s.
#
#   benches/unreachable_socure.sh            # 60 s per run
#   DURATION=20 benches/unreachable_socure.sh
#
# Needs oha (cargo install oha --locked). Everything runs on 127.0.0.1.
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION="${DURATION:-60}"
RATE="${RATE:-1000}"
WORK="$(mktemp -d)"
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$WORK"' EXIT
source benches/common.sh
start_vendors

run() { # $1 = on|off
  local mode=$1
  start_proxy "$mode" "$WORK/$mode.log"
  ( for _ in $(seq 1 $((DURATION / 5 + 1))); do
      awk '/VmRSS/ {print $2}' "/proc/$PROXY_PID/status" 2>/dev/null; sleep 5
    done ) > "$WORK/$mode.rss" &
  local sampler=$!
  oha -z "${DURATION}s" -q "$RATE" -c 50 --latency-correction --no-tui --output-format json \
    -m POST -H 'Content-Type: application/json' -D "$IV_BODY" \
    "http://$PROXY_ADDR$IV_URL_PATH" > "$WORK/$mode.json"
  kill "$sampler" 2>/dev/null || true
  stop_proxy
  python3 - "$mode" "$WORK" <<'PY'
import json, os, sys
mode, work = sys.argv[1], sys.argv[2]
r = json.load(open(f"{work}/{mode}.json"))
rss = [int(x) for x in open(f"{work}/{mode}.rss").read().split()]
log = f"{work}/{mode}.log"
lines = sum(1 for _ in open(log)) if os.path.exists(log) else 0
codes = r.get("statusCodeDistribution", {})
lat = r["latencyPercentiles"]
print(f"shadow {mode:3}: requests/s {r['summary']['requestsPerSec']:.0f}  "
      f"p50 {lat['p50']*1000:.2f} ms  p99 {lat['p99']*1000:.2f} ms  p99.9 {lat['p99.9']*1000:.2f} ms  "
      f"statuses {codes}  RSS KiB min/max {min(rss)}/{max(rss)} (samples {rss})  shadow lines {lines}")
PY
}

echo "Socure at $SOCURE drops packets; LexisNexis at $LN; ${DURATION}s at ${RATE}/s each"
run on
run off
