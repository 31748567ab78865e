#!/usr/bin/env bash
# The guard on the pure work's cost, run by .ci/run: instructions per run of
# each workload of judge/tools/counted.rs (one mirrored request's whole
# job: parse, Socure body, both judges, pair, serialise; the redactor's
# build for one applicant; its scan of a 4 KiB vendor text), counted by
# valgrind's callgrind inside the binary's `measured` function only. An
# instruction count does not move with the machine's load as a time does
# (runs of one build agree within 0.01%), so the bound can be tight: the
# guard fails when a workload takes more than BOUND_PERCENT (10) percent
# more instructions than benches/counted.baseline says. Not tighter: a
# change elsewhere in the binary can leave the allocator's heap otherwise
# and move a count by a few percent (seen: +3% on redact_build when checks
# were added before the counted part).
#
#   benches/counted.sh            # check against the committed baseline
#   benches/counted.sh --refresh  # write the baseline from this tree
#
# Refresh (and commit the file) when a change is meant to cost more, or
# after one that costs less, so the bound follows it down. Installs valgrind
# with apt-get when missing (sudo unless root).
set -euo pipefail
cd "$(dirname "$0")/.."
BASELINE_FILE=benches/counted.baseline
BOUND_PERCENT=10
ITERATIONS=20
WORKLOADS=(whole_job redact_build redact_text_4kib redact_short_texts)

refresh=0
case "${1:-}" in
  "") ;;
  --refresh) refresh=1 ;;
  *) echo "usage: $0 [--refresh]" >&2; exit 2 ;;
esac

if ! command -v valgrind >/dev/null; then
  sudo=()
  [ "$(id -u)" -eq 0 ] || sudo=(sudo)
  echo "counted: installing valgrind with apt-get" >&2
  "${sudo[@]}" apt-get update -qq >&2
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y -qq --no-install-recommends valgrind >&2
fi

# The release profile, as the proxy ships, and the workspace's default
# members selected as the release build selects them: the dependencies are
# then built with the same features, so after .ci/run's release build only
# the judge crate and this binary compile (about 13 s on two busy cores).
cargo build --release --quiet --features socure-shadow-judge/counted --bin counted
TARGET_DIR="$(cargo metadata --format-version 1 --no-deps |
  python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')"
BIN="$TARGET_DIR/release/counted"

WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
for workload in "${WORKLOADS[@]}"; do
  # Only `measured` and what it calls are counted: not the process's start,
  # nor the inputs' building, nor the untimed first run.
  valgrind --tool=callgrind --collect-atstart=no --toggle-collect='*counted::measured*' \
    --callgrind-out-file="$WORK/$workload.out" "$BIN" "$workload" "$ITERATIONS" \
    2>"$WORK/$workload.err" || { cat "$WORK/$workload.err" >&2; exit 1; }
  total=$(grep -o 'Collected : *[0-9]*' "$WORK/$workload.err" | tr -dc '0-9')
  [ -n "$total" ] && [ "$total" -gt 0 ] ||
    { cat "$WORK/$workload.err" >&2; echo "counted: nothing counted for $workload" >&2; exit 1; }
  echo "$workload $((total / ITERATIONS))"
done >"$WORK/counts"

if [ "$refresh" = 1 ]; then
  {
    echo "# Instructions per run of each workload of judge/tools/counted.rs, as"
    echo "# benches/counted.sh counts them; it fails past +$BOUND_PERCENT%. Refresh with:"
    echo "#   benches/counted.sh --refresh"
    cat "$WORK/counts"
  } >"$BASELINE_FILE"
  echo "counted: baseline written to $BASELINE_FILE:"
  cat "$WORK/counts"
  exit 0
fi

python3 - "$BASELINE_FILE" "$WORK/counts" "$BOUND_PERCENT" <<'PY'
import sys

def read(path):
    rows = {}
    for line in open(path):
        line = line.strip()
        if line and not line.startswith("#"):
            name, count = line.split()
            rows[name] = int(count)
    return rows

baseline, now, bound = read(sys.argv[1]), read(sys.argv[2]), float(sys.argv[3])
failed = []
print(f"| workload | baseline | now | change | bound +{bound:g}% |")
print("| --- | --- | --- | --- | --- |")
for name, count in now.items():
    base = baseline.get(name)
    if base is None:
        failed.append(f"{name} has no baseline")
        print(f"| {name} | — | {count:,} | — | no baseline |")
        continue
    change = (count / base - 1) * 100
    over = change > bound
    if over:
        failed.append(f"{name}: {count:,} instructions, {change:+.1f}% over {base:,}")
    print(f"| {name} | {base:,} | {count:,} | {change:+.1f}% | {'OVER' if over else 'ok'} |")
if failed:
    print("counted: the pure work grew past its bound:", *failed, sep="\n  ", file=sys.stderr)
    print("counted: if that cost is meant, refresh: benches/counted.sh --refresh", file=sys.stderr)
    sys.exit(1)
PY
