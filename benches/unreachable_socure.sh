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

command -v oha >/dev/null || { echo "oha is needed: cargo install oha --locked" >&2; exit 1; }
cargo build --release --quiet --bin socure-shadow-proxy --example bench_vendors
BIN=target/release/socure-shadow-proxy

target/release/examples/bench_vendors > "$WORK/vendors" &
while [ ! -s "$WORK/vendors" ]; do sleep 0.1; done
read -r LN SOCURE < <(sed -E 's/lexis_nexis=([^ ]+) socure=([^ ]+)/\1 \2/' "$WORK/vendors")

run() { # $1 = on|off
  local mode=$1 port
  cat > "$WORK/$mode.toml" <<TOML
[listen]
address = "127.0.0.1:0"
[upstream]
base_url = "http://$LN"
[shadow]
enabled = $([ "$mode" = on ] && echo true || echo false)
instant_verify_workflow = "gsa2.chk32.test.wf"
log_path = "$WORK/$mode.log"
[socure]
base_url = "http://$SOCURE"
timeout_seconds = 5
TOML
  SOCURE_IDPLUS_API_KEY=bench-fake-key RUST_LOG=warn,socure_shadow_proxy::server=info \
    "$BIN" run --config "$WORK/$mode.toml" 2> "$WORK/$mode.err" &
  local pid=$!
  while ! grep -q 'local_addr=' "$WORK/$mode.err" 2>/dev/null; do sleep 0.1; done
  port=$(grep -o 'local_addr=[^ ]*' "$WORK/$mode.err" | head -1 | cut -d= -f2)
  ( for _ in $(seq 1 $((DURATION / 5 + 1))); do
      awk '/VmRSS/ {print $2}' "/proc/$pid/status" 2>/dev/null; sleep 5
    done ) > "$WORK/$mode.rss" &
  local sampler=$!
  oha -z "${DURATION}s" -q "$RATE" -c 50 --latency-correction --no-tui --output-format json \
    -m POST -H 'Content-Type: application/json' \
    -D tests/fixtures/lexis_nexis/instant_verify/request.json \
    "http://$port/restws/identity/v2/test_account/gsa2.chk32.test.wf/conversation" > "$WORK/$mode.json"
  kill "$sampler" 2>/dev/null || true
  kill -TERM "$pid"; wait "$pid" || true
  python3 - "$mode" "$WORK" <<'PY'
import json, sys
mode, work = sys.argv[1], sys.argv[2]
r = json.load(open(f"{work}/{mode}.json"))
rss = [int(x) for x in open(f"{work}/{mode}.rss").read().split()]
lines = sum(1 for _ in open(f"{work}/{mode}.log")) if mode == "on" else 0
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
