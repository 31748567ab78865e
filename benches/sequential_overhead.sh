#!/usr/bin/env bash
# Benchmark: the proxy's own cost per request, without queueing effects. One
# connection sends back to back for 8 s (no rate limit) with shadow mode off,
# then on (Socure dropping packets, as in unreachable_socure.sh), alternating
# twice. Prints mean, p50 and p99 client latency for each run.
#
#   benches/sequential_overhead.sh
#
# Needs oha (cargo install oha --locked). Everything runs on 127.0.0.1.
set -euo pipefail
cd "$(dirname "$0")/.."
WORK="$(mktemp -d)"
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$WORK"' EXIT
source benches/common.sh
start_vendors

for mode in off on off on; do
  start_proxy "$mode" "$WORK/shadow.log"
  oha -z 8s -c 1 --no-tui --output-format json -m POST -H 'Content-Type: application/json' \
    -D "$IV_BODY" "http://$PROXY_ADDR$IV_URL_PATH" > "$WORK/oha.json"
  stop_proxy
  python3 - "$mode" "$WORK/oha.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[2]))
lat = r["latencyPercentiles"]
print(f"shadow {sys.argv[1]:3}: requests/s {r['summary']['requestsPerSec']:.0f}  "
      f"mean {r['summary']['average']*1e6:.1f} µs  p50 {lat['p50']*1e6:.1f} µs  p99 {lat['p99']*1e6:.1f} µs")
PY
done
