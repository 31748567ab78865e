#!/usr/bin/env bash
# Benchmark: what hostile clients can hold in the proxy, in memory and in
# time. Each scenario of examples/hostile_clients.rs runs against a freshly
# started proxy (shadow mode on, every [listen] timeout at its default,
# Socure the fake that answers after 2 s) while the proxy's VmRSS is sampled
# every 100 ms; when the clients leave, its /metrics are read, and RSS is
# sampled 10 s more. Prints a markdown table.
#
# Scenarios (the review's numbers):
#   held-bodies-h1        1,000 HTTP/1.1 POSTs to the InstantVerify path,
#                         each sending 1,048,000 of a declared 1,048,576
#                         bytes, then silent
#   held-bodies-h2        4 HTTP/2 connections x 200 such streams, DATA as
#                         far as flow control allows, then silent
#   (both again with shadow.max_body_bytes = 1 MiB, the review's setting)
#   held-bodies-h1 x 4,096  4,096 such POSTs (max_connections is 512: the
#                         rest wait in the backlog)
#   held-bodies-h1 under max_body_bytes  1,000 POSTs sending 65,000 of a
#                         declared 65,536 bytes: bodies the tap reads whole
#                         before forwarding (this one lasts 90 s at most)
#   trickle               100 InstantVerify POSTs sending a byte a second
#   non-reader shadowed   200 POSTs to the InstantVerify path whose 16 MiB
#                         answer is never read
#   non-reader passthrough  200 GETs of the 16 MiB answer, never read
#   held-heads            4,096 HTTP/1.1 heads of 61,440 bytes (the review's)
#                         and of 32,000 bytes (just under the default
#                         max_header_bytes), never ended by their blank line
#   zero-window           200 HTTP/2 connections x 100 GETs of a passthrough
#                         path, SETTINGS_INITIAL_WINDOW_SIZE 0, PINGs
#                         answered, never a WINDOW_UPDATE
#   idle-sockets          4,200 connections that send nothing (default
#                         max_connections 512), then one fresh GET, timed
# Each scenario lasts SCENARIO_SECONDS (60) at most: its clients let go then,
# or once the proxy has closed them all.
#
#   benches/hostile_memory.sh
#   ONLY="trickle idle-sockets" KEEP=1 benches/hostile_memory.sh
#
# Knobs: SCENARIO_SECONDS (60: the write timeout is 30 s, and a non-reader
# stalls the proxy's writes only once the kernel's buffers are full); ONLY (space-separated ids from the table's
# first column, without the "/1 MiB" suffix: all by default); KEEP=1 keeps
# the scratch folder (configs, logs, RSS samples, metrics) and prints where.
# Needs cargo and python3. Everything runs on 127.0.0.1; the file-descriptor
# limit is raised to its hard limit (needs more than 4,200 + 4,096).
set -euo pipefail
cd "$(dirname "$0")/.."
SCENARIO_SECONDS="${SCENARIO_SECONDS:-60}"
ONLY="${ONLY:-}"
KEEP="${KEEP:-0}"
IV_PATH=/restws/identity/v2/test_account/gsa2.chk32.test.wf/conversation

die() {
  echo "hostile_memory: $*" >&2
  exit 1
}
log() { echo "hostile_memory: $*" >&2; }

[[ $SCENARIO_SECONDS =~ ^[1-9][0-9]*$ ]] || die "SCENARIO_SECONDS must be a whole number of seconds"
command -v python3 >/dev/null || die "python3 is needed"
ulimit -n "$(ulimit -Hn)"
(($(ulimit -n) > 9000)) || die "the file-descriptor limit is $(ulimit -n); more than 9,000 is needed"

log "building (cargo build --release)"
cargo build --release --quiet --bin socure-shadow-proxy --example bench_vendors --example hostile_clients
TARGET_DIR="$(cargo metadata --format-version 1 --no-deps |
  python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')"
PROXY_BIN="$TARGET_DIR/release/socure-shadow-proxy"
VENDORS_BIN="$TARGET_DIR/release/examples/bench_vendors"
CLIENTS_BIN="$TARGET_DIR/release/examples/hostile_clients"

WORK="$(mktemp -d)"
declare -A LIVE=() # PID -> name, of everything started and not yet stopped

# stop_pid PID [SECONDS]: SIGTERM, wait for the exit, SIGKILL after SECONDS.
stop_pid() {
  local pid=$1 limit=$((${2:-30} * 10)) i=0
  kill -TERM "$pid" 2>/dev/null || true
  while kill -0 "$pid" 2>/dev/null; do
    if ((++i > limit)); then
      log "${LIVE[$pid]:-$pid} did not exit after SIGTERM; SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
    fi
    sleep 0.1
  done
  wait "$pid" 2>/dev/null || true
  unset "LIVE[$pid]"
}

cleanup() {
  local pid
  trap - EXIT INT TERM
  for pid in "${!LIVE[@]}"; do
    stop_pid "$pid" 10
  done
  if [ "$KEEP" = 1 ]; then log "scratch folder kept: $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# --- fake vendors ----------------------------------------------------------------
"$VENDORS_BIN" >"$WORK/vendors.out" 2>&1 &
LIVE[$!]=bench_vendors
VENDORS_PID=$!
for ((i = 0; i < 300; i++)); do
  grep -q large_path= "$WORK/vendors.out" && break
  kill -0 "$VENDORS_PID" 2>/dev/null || die "bench_vendors exited: $(cat "$WORK/vendors.out")"
  sleep 0.1
done
LN=$(grep -o 'lexis_nexis=[^ ]*' "$WORK/vendors.out" | cut -d= -f2)
SOCURE_SLOW=$(grep -o 'socure_slow=[^ ]*' "$WORK/vendors.out" | cut -d= -f2)
LARGE_BYTES=$(grep -o 'large_bytes=[^ ]*' "$WORK/vendors.out" | cut -d= -f2)
[ -n "$LN" ] && [ -n "$SOCURE_SLOW" ] && [ -n "$LARGE_BYTES" ] ||
  die "bench_vendors printed: $(cat "$WORK/vendors.out")"

# --- the proxy -------------------------------------------------------------------
# start_proxy DIR MAX_BODY_BYTES: a fresh proxy; sets PROXY_PID, PROXY_ADDR,
# PROXY_ADMIN.
start_proxy() {
  local dir=$1 max_body=$2 i
  mkdir -p "$dir"
  cat >"$dir/proxy.toml" <<TOML
# Every [listen] timeout and limit at its default.
[listen]
address = "127.0.0.1:0"
[admin]
address = "127.0.0.1:0"
[log]
format = "text"
[upstream]
base_url = "http://$LN"
[shadow]
enabled = true
instant_verify_workflow = "gsa2.chk32.test.wf"
log_path = "$dir/shadow.log"
max_body_bytes = $max_body
[socure]
base_url = "http://$SOCURE_SLOW"
timeout_seconds = 5
TOML
  : >"$dir/stderr"
  # The environment overrides the file: clear the variables that would.
  env -u SHADOW_PROXY_LISTEN_ADDRESS -u SHADOW_PROXY_ADMIN_ADDRESS \
    -u LEXISNEXIS_BASE_URL -u IDV_SOCURE_SHADOW_MODE_ENABLED \
    -u LEXISNEXIS_INSTANT_VERIFY_WORKFLOW -u SHADOW_PROXY_LOG_PATH \
    -u SOCURE_IDPLUS_BASE_URL -u SOCURE_IDPLUS_TIMEOUT_IN_SECONDS \
    SOCURE_IDPLUS_API_KEY=bench-fake-key RUST_LOG=warn,socure_shadow_proxy::server=info \
    "$PROXY_BIN" run --config "$dir/proxy.toml" 2>"$dir/stderr" &
  PROXY_PID=$!
  LIVE[$PROXY_PID]="proxy ($dir)"
  for ((i = 0; i < 300; i++)); do
    grep -q 'admin_addr=' "$dir/stderr" && break
    kill -0 "$PROXY_PID" 2>/dev/null || die "the proxy exited at start: $(cat "$dir/stderr")"
    sleep 0.1
  done
  PROXY_ADDR=$(grep -o 'local_addr=[^ ]*' "$dir/stderr" | head -1 | cut -d= -f2)
  PROXY_ADMIN=$(grep -o 'admin_addr=[^ ]*' "$dir/stderr" | head -1 | cut -d= -f2)
  [ -n "$PROXY_ADDR" ] && [ -n "$PROXY_ADMIN" ] || die "the proxy did not start: $(cat "$dir/stderr")"
}

# sample_rss PID FILE: VmRSS (KiB) every 100 ms, as "SECONDS KIB" lines,
# until killed or PID exits.
sample_rss() {
  local pid=$1 file=$2 key value _
  while [ -r "/proc/$pid/status" ]; do
    while read -r key value _; do
      if [ "$key" = VmRSS: ]; then
        echo "$EPOCHREALTIME $value" >>"$file"
        break
      fi
    done <"/proc/$pid/status" || true
    sleep 0.1
  done
}

# run_scenario ID MAX_BODY_BYTES SECONDS LOAD CLIENT_ARGS...
run_scenario() {
  local id=$1 max_body=$2 seconds=$3 load=$4 dir sampler started client_rc=0
  shift 4
  dir="$WORK/$(printf '%02d' $((++RUN_SEQ)))-${id//[^a-z0-9]/_}-$max_body"
  log "$id (max_body_bytes $max_body): $load"
  start_proxy "$dir" "$max_body"
  sleep 1 # settled: the idle RSS
  sample_rss "$PROXY_PID" "$dir/rss" &
  sampler=$!
  LIVE[$sampler]="RSS sampler"
  sleep 0.3
  started=$EPOCHREALTIME
  "$CLIENTS_BIN" "$PROXY_ADDR" "$@" --seconds "$seconds" --admin "$PROXY_ADMIN" \
    >"$dir/client.out" 2>"$dir/client.err" || client_rc=$?
  local ended=$EPOCHREALTIME
  # The clients have let go (the process exited); the metrics as they stand.
  curl -s --max-time 5 "http://$PROXY_ADMIN/metrics" >"$dir/metrics" || true
  sleep 10
  stop_pid "$sampler" 5
  stop_pid "$PROXY_PID" 60
  python3 - "$dir" "$id" "$max_body" "$load" "$started" "$ended" "$client_rc" >>"$WORK/rows" <<'PY'
import re, sys
d, sid, max_body, load, started, ended, rc = sys.argv[1:]
started, ended = float(started), float(ended)
out = open(f"{d}/client.out").read().strip().splitlines()
c = dict(kv.split("=", 1) for kv in (out[-1].split() if out else []))
samples = [tuple(map(float, l.split())) for l in open(f"{d}/rss") if l.strip()]
mib = lambda kib: f"{kib / 1024:.1f} MiB"
before = [k for t, k in samples if t < started]
at_end = [k for t, k in samples if t < ended]
after = [k for t, k in samples if t >= ended]
peak = max(k for _, k in samples)
metrics = {}
for line in open(f"{d}/metrics"):
    m = re.match(r'^socure_shadow_proxy_(\S+?)(\{[^}]*\})? (\S+)$', line.strip())
    if m:
        metrics[(m.group(1), m.group(2) or "")] = float(m.group(3))
def metric(name, labels=""):
    return metrics.get((name, labels), 0.0)
timed_out = {re.search(r'phase="([^"]+)"', l).group(1): v
             for (n, l), v in metrics.items() if n == "connections_timed_out_total" and v}
closed_by = [f"{p} {int(v):,}" for p, v in sorted(timed_out.items())]
answers = dict(a.split("x") for a in c.get("answers", "none").split(",") if "x" in a)
if "504" in answers:
    # The upstream's answer never came (it waits for the whole body).
    closed_by.append(f"upstream.timeout_seconds (504 x {int(answers['504']):,})")
closed_by = ", ".join(closed_by) or "none"
opened, closed = int(c.get("opened", 0)), int(c.get("closed_by_proxy", 0))
streams = int(c.get("streams", 0))
if sid == "zero-window":
    # Its answers' heads come at once; what matters is when the proxy
    # closed the connections that never took their bodies.
    if opened and closed == opened:
        when = f"{c['close_last_s']} s (first {c['close_first_s']} s): every connection"
    else:
        when = f"not within {c['elapsed_s']} s: {opened - closed} of {opened} connections held"
elif streams:
    # HTTP/2: what matters is the streams the proxy took in and held.
    held = int(c.get("held_at_end", 0))
    if held == 0:
        when = f"streams taken in: all ended by {c['stream_end_last_s']} s (first {c['stream_end_first_s']} s)"
    else:
        when = f"not within {c['elapsed_s']} s: {held} of {streams} streams held"
elif sid.startswith("non-reader"):
    cut = int(c.get("cut", 0))
    if cut == opened and opened:
        when = f"{c.get('timeouts_last_s', '-')} s (proxy's count)"
    else:
        when = f"not within {c['elapsed_s']} s: {opened - cut} of {opened} not cut"
elif opened and closed == opened:
    when = f"{c['close_last_s']} s (first {c['close_first_s']} s)"
else:
    when = f"not within {c.get('elapsed_s', '?')} s: {opened - closed:,} of {opened:,} held"
other = []
if streams:
    other.append(f"{streams} streams opened, {c.get('refused', 0)} refused; resets {c.get('resets')}; GOAWAY {c.get('goaway')}")
other.append(f"answers {c.get('answers', '?')}")
if "cut" in c:
    other.append(f"client saw {c['cut']} cut, {c['whole']} whole")
if "fresh_s" in c:
    other.append(f"all connected by {c['connected_s']} s; then a fresh GET answered {c['fresh_status']} in {c['fresh_s']} s")
sent = int(c.get("sent", 0))
other.append(f"sent {sent / 1e6:,.1f} MB" if sent >= 1e6 else f"sent {sent:,} B")
if int(c.get("closed_by_reset", 0)):
    other.append(f"{c['closed_by_reset']} of the closes were resets")
other.append(f"shed {int(metric('mirrors_shed_total')):,}")
other.append(f"mirror bytes peak {mib(metric('mirror_buffered_bytes_peak') / 1024)} of {mib(metric('mirror_buffered_bytes_max') / 1024)}")
if rc != "0":
    other.append(f"client exit {rc}")
name = sid + (" (max_body_bytes 1 MiB)" if max_body == "1048576" else "")
last = lambda xs: mib(xs[-1]) if xs else "?"
print(f"| {name} | {load} | {mib(peak)} | {last(at_end)} → {last(after)} ({last(before)}) "
      f"| {closed_by} | {when} | {'; '.join(other)} |")
PY
  tail -1 "$WORK/rows" >&2
}

wanted() { [ -z "$ONLY" ] || [[ " $ONLY " == *" $1 "* ]]; }

RUN_SEQ=0
: >"$WORK/rows"
DEFAULT_BODY=65536
REVIEW_BODY=1048576
S=$SCENARIO_SECONDS
for max_body in $DEFAULT_BODY $REVIEW_BODY; do
  if wanted held-bodies-h1; then
    run_scenario held-bodies-h1 "$max_body" "$S" "1,000 HTTP/1.1 POSTs, 1,048,000 of 1,048,576 B sent, then silent" \
      held-bodies-h1 --clients 1000
  fi
  if wanted held-bodies-h2; then
    run_scenario held-bodies-h2 "$max_body" "$S" "4 HTTP/2 connections x 200 such streams" \
      held-bodies-h2 --connections 4 --streams 200
  fi
done
if wanted held-bodies-h1; then
  run_scenario "held-bodies-h1 x 4,096" $DEFAULT_BODY "$S" "4,096 such POSTs (max_connections 512)" \
    held-bodies-h1 --clients 4096
  # A body the tap reads whole before forwarding (under max_body_bytes):
  # no upstream timeout runs yet, only the body's pace (10 s + 65,000 B at
  # 1,024 B/s = 73.5 s), so this one gets 30 s more.
  run_scenario "held-bodies-h1 under max_body_bytes" $DEFAULT_BODY $((S > 90 ? S : 90)) \
    "1,000 POSTs, 65,000 of 65,536 B sent, then silent" \
    held-bodies-h1 --clients 1000 --declared 65536 --send 65000
fi
if wanted trickle; then
  run_scenario trickle $DEFAULT_BODY "$S" "100 POSTs sending 1 byte/s" trickle --clients 100
fi
if wanted non-reader; then
  run_scenario "non-reader shadowed" $DEFAULT_BODY "$S" "200 POSTs, $((LARGE_BYTES / 1048576)) MiB answers never read" \
    non-reader --route shadowed --clients 200
  run_scenario "non-reader passthrough" $DEFAULT_BODY "$S" "200 GETs, $((LARGE_BYTES / 1048576)) MiB answers never read" \
    non-reader --route passthrough --clients 200
fi
if wanted held-heads; then
  run_scenario "held-heads" $DEFAULT_BODY "$S" "4,096 HTTP/1.1 heads of 61,440 B, never ended" \
    held-heads --clients 4096 --head-bytes 61440
  run_scenario "held-heads under max_header_bytes" $DEFAULT_BODY "$S" \
    "4,096 HTTP/1.1 heads of 32,000 B (the default limit is 32 KiB), never ended" \
    held-heads --clients 4096 --head-bytes 32000
fi
if wanted zero-window; then
  run_scenario "zero-window" $DEFAULT_BODY "$S" \
    "200 HTTP/2 connections x 100 GETs of a passthrough path, SETTINGS_INITIAL_WINDOW_SIZE 0, PINGs answered, no WINDOW_UPDATE" \
    zero-window --connections 200 --streams 100
fi
if wanted idle-sockets; then
  run_scenario idle-sockets $DEFAULT_BODY "$S" "4,200 silent sockets (max_connections 512), then 1 GET" \
    idle-sockets --clients 4200
fi

COMMIT="$(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
git diff --quiet HEAD -- 2>/dev/null || COMMIT="$COMMIT (with uncommitted changes)"
echo "# Hostile clients: memory and time held"
echo
echo "- commit: $COMMIT; $(nproc) CPUs, $(grep -m1 '^model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'), kernel $(uname -r); $(date -u '+%Y-%m-%d %H:%M UTC')"
echo "- each scenario at most $SCENARIO_SECONDS s (the one under max_body_bytes 90 s), against a fresh proxy (shadow on, [listen] defaults, max_body_bytes 64 KiB unless said)"
echo
echo "| scenario | load | peak RSS | RSS at end → 10 s after the clients left (before the load) | closed by (connections_timed_out_total) | time to close all | other |"
echo "| --- | --- | --- | --- | --- | --- | --- |"
cat "$WORK/rows"
