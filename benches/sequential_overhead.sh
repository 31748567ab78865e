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
command -v oha >/dev/null || { echo "oha is needed: cargo install oha --locked" >&2; exit 1; }
cargo build --release --quiet --bin socure-shadow-proxy --example bench_vendors

target/release/examples/bench_vendors > "$WORK/vendors" &
while [ ! -s "$WORK/vendors" ]; do sleep 0.1; done
read -r LN SOCURE < <(sed -E 's/lexis_nexis=([^ ]+) socure=([^ ]+)/\1 \2/' "$WORK/vendors")

for mode in off on off on; do
  cat > "$WORK/proxy.toml" <<TOML
[listen]
address = "127.0.0.1:0"
[upstream]
base_url = "http://$LN"
[shadow]
enabled = $([ "$mode" = on ] && echo true || echo false)
instant_verify_workflow = "gsa2.chk32.test.wf"
log_path = "$WORK/shadow.log"
[socure]
base_url = "http://$SOCURE"
TOML
  SOCURE_IDPLUS_API_KEY=bench-fake-key RUST_LOG=warn,socure_shadow_proxy::server=info \
    target/release/socure-shadow-proxy run --config "$WORK/proxy.toml" 2> "$WORK/err" &
  pid=$!
  while ! grep -q 'local_addr=' "$WORK/err" 2>/dev/null; do sleep 0.1; done
  port=$(grep -o 'local_addr=[^ ]*' "$WORK/err" | head -1 | cut -d= -f2)
  oha -z 8s -c 1 --no-tui --output-format json -m POST -H 'Content-Type: application/json' \
    -D tests/fixtures/lexis_nexis/instant_verify/request.json \
    "http://$port/restws/identity/v2/test_account/gsa2.chk32.test.wf/conversation" > "$WORK/oha.json"
  kill -TERM "$pid"; wait "$pid" || true
  python3 - "$mode" "$WORK/oha.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[2]))
lat = r["latencyPercentiles"]
print(f"shadow {sys.argv[1]:3}: requests/s {r['summary']['requestsPerSec']:.0f}  "
      f"mean {r['summary']['average']*1e6:.1f} µs  p50 {lat['p50']*1e6:.1f} µs  p99 {lat['p99']*1e6:.1f} µs")
PY
done
