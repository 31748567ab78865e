#!/usr/bin/env bash
# `report` over generated shadow lines (examples/shadow_lines: a month, about
# 2 KB a line): wall time, CPU time and peak RSS of the report process alone,
# for a plain file, the same gzip-compressed, and the HTML format.
#
#   benches/report.sh            # 1,000,000 lines (about 2 GB on disk, removed after)
#   N=100000 benches/report.sh   # smaller
#
# The lines are written to a file first, so generating them is not timed.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${N:-1000000}
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

cargo build --release --quiet --bin socure-shadow-proxy --example shadow_lines
BIN=target/release/socure-shadow-proxy

echo "== generating $N lines"
target/release/examples/shadow_lines "$N" > "$WORK/events.log"
ls -l "$WORK/events.log" | awk '{printf "%d bytes, %.0f bytes a line\n", $5, $5 / '"$N"'}'
gzip -1 -c "$WORK/events.log" > "$WORK/events.log.gz"
ls -l "$WORK/events.log.gz" | awk '{printf "gzip -1: %d bytes\n", $5}'

measure() {
  local name=$1
  shift
  /usr/bin/time -f "$name: %e s wall, %U s user, %S s sys, %M KiB peak RSS" "$@"
}

echo "== report"
measure "plain, json" "$BIN" report "$WORK/events.log" --format json --out "$WORK/report.json"
measure "gzip,  json" "$BIN" report "$WORK/events.log.gz" --format json --out "$WORK/report-gz.json"
measure "plain, html" "$BIN" report "$WORK/events.log" --format html --out "$WORK/report.html"
# The same lines whichever way they were read.
cmp <(grep -v '"sources"' -A0 "$WORK/report.json" | grep -v events.log) \
    <(grep -v '"sources"' -A0 "$WORK/report-gz.json" | grep -v events.log) \
  && echo "plain and gzip reports agree"
python3 - "$WORK/report.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
i, a = r["input"], r["agreement"]
print(f'lines read {i["lines_read"]}, proofing {i["proofing_lines"]}, shed {i["shed_lines"]}, '
      f'other {i["other_events"]}, malformed {i["malformed"]}; series by {r["series"]["bucket"]}, '
      f'{len(r["series"]["points"])} points; agreement {a["rate"]:.4f}')
PY
