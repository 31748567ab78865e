#!/usr/bin/env bash
# Instructions per request, counted by valgrind (callgrind): every thread of
# the proxy, from the moment it listens (the start is not counted: the
# metrics clock's calibration spins for a while there, so its count varies
# from run to run) to its exit after SIGTERM, over REQUESTS InstantVerify
# requests sent at a slow fixed rate (hey, 2 connections, 25 requests/s
# each: under valgrind every request is still shadowed and none shed), with
# shadow mode on (a fake Socure that answers at once) and off. The proxy
# runs on CPU 0 (taskset), as in side_by_side.sh, so it runs the runtime it
# picks for one CPU. Machine noise
# (other load, caches, scheduling) barely moves an instruction count, unlike
# CPU time: this is the comparison to trust between two revisions.
# BASELINE=REV builds that revision too (its own worktree and target folder,
# as side_by_side.sh does), runs it the same way and prints the ratios.
#
# The counts include the work done on a timer while the requests come (the
# hand-off's and the log writer's ticks, the metrics upkeep) and the
# shutdown's, alike for every revision measured.
#
# Run from a clone, at the repository root or anywhere:
#   benches/instructions.sh
#   BASELINE=HEAD~1 benches/instructions.sh
#   REQUESTS=2000 MODES=off benches/instructions.sh
# Knobs: REQUESTS (1000), MODES ("on off"), BASELINE, KEEP=1 keeps the
# scratch folder (configs, logs, each run's callgrind.out for
# callgrind_annotate, which names the functions the instructions went to)
# and prints where.
# Installs valgrind and hey with apt-get when missing (sudo unless root).
set -euo pipefail
cd "$(dirname "$0")/.."
REQUESTS="${REQUESTS:-1000}"
MODES="${MODES:-on off}"
KEEP="${KEEP:-0}"
IV_PATH=/restws/identity/v2/test_account/gsa2.chk32.test.wf/conversation
IV_BODY="$PWD/tests/fixtures/lexis_nexis/instant_verify/request.json"

log() { echo "instructions: $*" >&2; }

missing=()
command -v valgrind >/dev/null || missing+=(valgrind)
command -v hey >/dev/null || missing+=(hey)
if ((${#missing[@]})); then
  sudo=()
  [ "$(id -u)" -eq 0 ] || sudo=(sudo)
  log "installing ${missing[*]} with apt-get"
  "${sudo[@]}" apt-get update -q >&2
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y -q --no-install-recommends "${missing[@]}" >&2
fi

log "building (cargo build --release)"
cargo build --release --quiet --bin socure-shadow-proxy --example bench_vendors
TARGET_DIR="$(cargo metadata --format-version 1 --no-deps |
  python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')"
BINS=("this=$TARGET_DIR/release/socure-shadow-proxy")
# shellcheck source=benches/shared.sh
. benches/shared.sh
if [ -n "${BASELINE:-}" ]; then
  build_baseline "$BASELINE" "$TARGET_DIR"
  BINS+=("baseline $BASELINE_REV=$BASELINE_BIN")
fi

WORK="$(mktemp -d)"
VENDORS_PID=""
cleanup() {
  [ -z "$VENDORS_PID" ] || kill "$VENDORS_PID" 2>/dev/null || true
  if [ "$KEEP" = 1 ]; then
    log "scratch folder kept: $WORK"
  else
    rm -rf "$WORK"
  fi
}
trap cleanup EXIT
"$TARGET_DIR/release/examples/bench_vendors" >"$WORK/vendors" &
VENDORS_PID=$!
while ! grep -q socure_fast= "$WORK/vendors" 2>/dev/null; do sleep 0.1; done
LN=$(grep -o 'lexis_nexis=[^ ]*' "$WORK/vendors" | cut -d= -f2)
SOCURE=$(grep -o 'socure_fast=[^ ]*' "$WORK/vendors" | cut -d= -f2)

# measure NAME BIN on|off N: one run of N requests; prints a row.
measure() {
  local name=$1 bin=$2 mode=$3 n=$4 dir port vg refs lines
  dir="$WORK/$(echo "$name-$mode-$n" | tr -c 'a-zA-Z0-9-\n' _)"
  mkdir -p "$dir"
  bench_proxy_toml "$([ "$mode" = on ] && echo true || echo false)" "$LN" "$SOCURE" \
    "$dir/shadow.log" >"$dir/proxy.toml"
  log "$name, shadow $mode: $n requests under valgrind"
  # On one CPU, as side_by_side.sh runs it: the proxy then picks the
  # runtime it runs with there (current_thread), not the multi-thread one.
  taskset -c 0 env "${BENCH_PROXY_ENV[@]}" \
    valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file="$dir/callgrind.out" \
    "$bin" run --config "$dir/proxy.toml" >"$dir/stdout" 2>"$dir/stderr" &
  vg=$!
  for _ in $(seq 600); do
    grep -q 'local_addr=' "$dir/stderr" && break
    kill -0 "$vg" 2>/dev/null || { cat "$dir/stderr" >&2; exit 1; }
    sleep 0.1
  done
  port=$(grep -o 'local_addr=[^ ]*' "$dir/stderr" | head -1 | cut -d: -f2)
  callgrind_control -i on "$vg" >/dev/null
  hey -n "$n" -c 2 -q 25 -m POST -D "$IV_BODY" \
    "http://127.0.0.1:$port$IV_PATH" >"$dir/hey.out"
  grep -Eq "\[200\][[:space:]]+$n responses" "$dir/hey.out" ||
    { cat "$dir/hey.out" >&2; echo "not every request answered 200" >&2; exit 1; }
  # The last mirrors end within a Socure round trip; SIGTERM drains them anyway.
  kill -TERM "$vg"
  wait "$vg" || true
  refs=$(grep -o 'Collected : *[0-9]*' "$dir/stderr" | tr -dc '0-9')
  lines=$( [ -f "$dir/shadow.log" ] && grep -c '"idv_socure_shadow_mode_proofing_result"' "$dir/shadow.log" || echo 0)
  # A line short means mirrors were shed or cut short (the idle-priority
  # mirror thread starved: other processes kept the cores busy), and a
  # count with less work in it is no comparison.
  [ "$mode" = off ] || [ "$lines" -eq "$n" ] ||
    log "WARNING: $name wrote $lines shadow lines for $n requests: the machine is too busy for this run to compare"
  echo "$name|$mode|$n|$lines|$refs"
}

{
  for entry in "${BINS[@]}"; do
    for mode in $MODES; do
      measure "${entry%%=*}" "${entry#*=}" "$mode" "$REQUESTS"
    done
  done
} >"$WORK/rows"

python3 - "$WORK/rows" <<'PY'
import sys
rows = [l.strip().split("|") for l in open(sys.argv[1]) if l.strip()]
per = {(name, mode): int(refs) / int(n) for name, mode, n, lines, refs in rows}
print("| proxy | shadow | requests | shadow lines | instructions | per request | this / it |")
print("| --- | --- | --- | --- | --- | --- | --- |")
for name, mode, n, lines, refs in rows:
    this, it = per.get(("this", mode)), per[(name, mode)]
    vs = f"{this / it:.3f}×" if this and name != "this" else "—"
    print(f"| {name} | {mode} | {int(n):,} | {int(lines):,} | {int(refs):,} | {it:,.0f} | {vs} |")
PY
