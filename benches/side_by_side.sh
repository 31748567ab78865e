#!/usr/bin/env bash
# Side-by-side benchmark: this proxy against nginx, nginx with `mirror`, and
# HAProxy, all forwarding the InstantVerify request to the same fake
# LexisNexis.
#
# Servers under test (each started fresh for every load, stopped by PID):
#   nginx               one worker, proxy_pass with an upstream keepalive pool
#   nginx+mirror        the same, plus `mirror` of every request and its body
#                       to the fast fake Socure (keepalive too)
#   haproxy             nbthread 1, mode http, http-reuse always
#   proxy off           this proxy, [shadow] enabled = false
#   proxy on/fast       shadow on; Socure answers at once
#   proxy on/slow2s     shadow on; Socure answers after 2 s
#   proxy on/blackhole  shadow on; Socure never accepts a connection
# The proxy runs with socure.timeout_seconds = 5, dedup off
# (shadow.dedup_window_seconds = 0: every request sends the same applicant)
# and no daily budget (socure.max_calls_per_day unset).
#
# Fakes: LexisNexis and the fast Socure are nginx (one worker each, the
# fixtures as static files); the slow and blackhole Socures are
# examples/bench_vendors.rs.
#
# Loads (each against a freshly started server, so peak RSS and the shadow
# lines belong to that load alone):
#   closed    wrk -t1 -c32 --timeout 10s, CLOSED_SECONDS (saturation)
#   fixed     hey -c 50 -q 40, FIXED_SECONDS (2,000 req/s offered)
#   coverage  proxy on/fast only, once per rate in COVERAGE_RATE (6,000 and
#             10,000 req/s by default): hey -c RATE/100 -q 100,
#             COVERAGE_SECONDS; the share of the shadowed requests (lines
#             plus those shed at the door) whose line is "answered".
#             A calibration row per rate runs the same hey straight at the
#             fake LexisNexis, to show what hey can offer on one core.
#
# Measured per (server, load): req/s, p50, p99 (from the load tool);
# CPU µs per request: utime+stime of every process of the server
# (/proc/PID/stat; nginx: master and worker) from just before to just after
# the load, divided by the requests completed; for the proxy, in brackets,
# the same up to its exit (its mirrors run at SCHED_IDLE and may finish after
# the load); peak RSS (VmHWM; nginx: the worker); for the proxy, after
# SIGTERM and its exit: its exit code, its shadow lines by socure_outcome,
# plus the summed shed_count of idv_socure_shadow_mode_shed lines, checked
# exactly against the shadowed requests the proxy counted at the mirror's
# door (its /metrics, a second after the load), and against the requests the load
# tool completed (wrk does not count requests still open at its deadline, so
# a small gap there is expected); and the
# ratios against nginx (and, for shadow on, CPU against nginx+mirror).
#
# Layout: the server under test on CPU 0 (taskset, all its threads and
# processes); fakes and load generator on CPU 1. Needs 2 CPUs. Everything
# listens on 127.0.0.1, on ports found free at run time.
#
# Run from a clone, at the repository root or anywhere:
#   benches/side_by_side.sh
#   CLOSED_SECONDS=5 FIXED_SECONDS=5 benches/side_by_side.sh
#   ONLY="nginx proxy-off" KEEP=1 benches/side_by_side.sh
# Knobs: COVERAGE_RATE ("6000 10000": rates, each a multiple of 100), CLOSED_SECONDS (10), FIXED_SECONDS (10), COVERAGE_SECONDS
# (= FIXED_SECONDS), ONLY (space-separated scenario ids: nginx nginx+mirror
# haproxy proxy-off proxy-on-fast proxy-on-slow2s proxy-on-blackhole; all by
# default), KEEP=1 keeps the scratch folder (configs, tool outputs, logs,
# results.jsonl, table.md) and prints where.
# BASELINE=REV (a git revision, e.g. BASELINE=HEAD~3) also builds that
# revision (release, in a worktree of its own, with its own target folder)
# and adds its runs to the same run: base-off and base-on-fast by default,
# or any base-* id in ONLY (base-off, base-on-fast, base-on-slow2s,
# base-on-blackhole), with a table of this commit against it. E.g.
#   BASELINE=HEAD~1 ONLY="proxy-off base-off proxy-on-fast base-on-fast" benches/side_by_side.sh
#
# Installs wrk, hey, nginx-light (or nginx), haproxy and python3 with apt-get
# when missing (sudo unless root). Needs cargo (rustup) for the build.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/local/sbin:/usr/sbin:/sbin"

CLOSED_SECONDS="${CLOSED_SECONDS:-10}"
FIXED_SECONDS="${FIXED_SECONDS:-10}"
COVERAGE_SECONDS="${COVERAGE_SECONDS:-$FIXED_SECONDS}"
COVERAGE_RATE="${COVERAGE_RATE:-6000 10000}"
read -r -a COVERAGE_RATES <<<"$COVERAGE_RATE"
ONLY="${ONLY:-}"
KEEP="${KEEP:-0}"
SUT_CPU=0  # the server under test
SIDE_CPU=1 # fakes and load generator

IV_PATH=/restws/identity/v2/test_account/gsa2.chk32.test.wf/conversation
IV_BODY="$PWD/tests/fixtures/lexis_nexis/instant_verify/request.json"
LN_ANSWER="$PWD/tests/fixtures/lexis_nexis/instant_verify/successful_response.json"
SOCURE_ANSWER="$PWD/tests/fixtures/socure/kyc_all_verified.json"
HELPER="$PWD/benches/side_by_side.py"

die() {
  echo "side_by_side: $*" >&2
  exit 1
}
log() { echo "side_by_side: $*" >&2; }

((${#COVERAGE_RATES[@]})) || die "COVERAGE_RATE must name at least one rate"
for rate in "${COVERAGE_RATES[@]}"; do
  [[ $rate =~ ^[1-9][0-9]*00$ ]] || die "COVERAGE_RATE: each rate must be a multiple of 100 requests a second, not $rate"
done
for knob in CLOSED_SECONDS FIXED_SECONDS COVERAGE_SECONDS; do
  [[ ${!knob} =~ ^[1-9][0-9]*$ ]] || die "$knob must be a whole number of seconds"
done

# --- tools --------------------------------------------------------------------
install_missing() {
  local pkgs=() sudo=()
  command -v wrk >/dev/null || pkgs+=(wrk)
  command -v hey >/dev/null || pkgs+=(hey)
  command -v nginx >/dev/null || pkgs+=(nginx-light)
  command -v haproxy >/dev/null || pkgs+=(haproxy)
  command -v python3 >/dev/null || pkgs+=(python3)
  command -v taskset >/dev/null || pkgs+=(util-linux)
  command -v getconf >/dev/null || pkgs+=(libc-bin)
  ((${#pkgs[@]})) || return 0
  [ "$(id -u)" -eq 0 ] || sudo=(sudo)
  log "installing ${pkgs[*]} with apt-get"
  "${sudo[@]}" apt-get update -q
  if ! "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y -q --no-install-recommends "${pkgs[@]}"; then
    # Newer Debian has no nginx-light; plain nginx will do.
    pkgs=("${pkgs[@]/#nginx-light/nginx}")
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
      apt-get install -y -q --no-install-recommends "${pkgs[@]}"
  fi
}
install_missing
command -v cargo >/dev/null || die "cargo is needed (https://rustup.rs)"
taskset -c "$SUT_CPU" true 2>/dev/null && taskset -c "$SIDE_CPU" true 2>/dev/null ||
  die "needs CPUs $SUT_CPU and $SIDE_CPU (nproc: $(nproc))"

log "building (cargo build --release)"
cargo build --release --quiet --bin socure-shadow-proxy --example bench_vendors
TARGET_DIR="$(cargo metadata --format-version 1 --no-deps |
  python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')"
PROXY_BIN="$TARGET_DIR/release/socure-shadow-proxy"
VENDORS_BIN="$TARGET_DIR/release/examples/bench_vendors"
# shellcheck source=benches/shared.sh
. benches/shared.sh
BASELINE_BIN=""
if [ -n "${BASELINE:-}" ]; then
  build_baseline "$BASELINE" "$TARGET_DIR"
fi
CLK_TCK="$(getconf CLK_TCK)"

# --- scratch folder and cleanup ------------------------------------------------
WORK="$(mktemp -d)"
chmod 755 "$WORK" # nginx workers may run as nobody
RESULTS="$WORK/results.jsonl"
declare -A LIVE=()    # PID -> name, of everything started and not yet stopped
declare -A WORKERS=() # nginx workers: their master stops them; checked last

# stop_pid PID [SIGNAL] [SECONDS]: signal, wait for the exit (SIGKILL after
# SECONDS). Sets STOP_CODE for a child of this shell.
stop_pid() {
  local pid=$1 sig=${2:-TERM} limit=$((${3:-30} * 10)) i=0
  STOP_CODE=
  kill -"$sig" "$pid" 2>/dev/null || true
  while kill -0 "$pid" 2>/dev/null; do
    if ((++i > limit)); then
      log "${LIVE[$pid]:-$pid} did not exit after SIG$sig; SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
    fi
    sleep 0.1
  done
  STOP_CODE=0
  wait "$pid" 2>/dev/null || STOP_CODE=$?
  unset "LIVE[$pid]"
}

cleanup() {
  local pid
  trap - EXIT INT TERM
  for pid in "${!LIVE[@]}"; do
    stop_pid "$pid" TERM 10
  done
  for pid in "${!WORKERS[@]}"; do
    kill -TERM "$pid" 2>/dev/null || true
  done
  if [ "$KEEP" = 1 ]; then
    log "scratch folder kept: $WORK"
  else
    rm -rf "$WORK"
  fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# start_bg NAME OUTPUT CPU CMD...: starts CMD pinned to CPU; sets BG_PID.
start_bg() {
  local name=$1 output=$2 cpu=$3
  shift 3
  taskset -c "$cpu" "$@" >"$output" 2>&1 &
  BG_PID=$!
  LIVE[$BG_PID]=$name
}

free_ports() { python3 "$HELPER" ports "$1"; }

# wait_port PORT PID NAME: until 127.0.0.1:PORT accepts, while PID lives.
wait_port() {
  local port=$1 pid=$2 name=$3 i
  for ((i = 0; i < 300; i++)); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then return 0; fi
    kill -0 "$pid" 2>/dev/null || die "$name exited at start (see $WORK)"
    sleep 0.1
  done
  die "$name does not listen on $port after 30 s"
}

# children_of PID: the PIDs whose parent is PID.
children_of() {
  local f line rest fields
  for f in /proc/[0-9]*/stat; do
    { line=$(<"$f"); } 2>/dev/null || continue
    rest=${line##*) }
    read -r -a fields <<<"$rest"
    [ "${fields[1]}" = "$1" ] && echo "${f//[!0-9]/}"
  done
  return 0
}

# cpu_ticks PID...: utime+stime, summed, in clock ticks (stat fields 14, 15).
cpu_ticks() {
  local pid line rest fields total=0
  for pid in "$@"; do
    line=$(<"/proc/$pid/stat")
    rest=${line##*) }
    read -r -a fields <<<"$rest"
    total=$((total + fields[11] + fields[12]))
  done
  echo "$total"
}

vm_hwm_kib() { awk '/^VmHWM:/ {print $2}' "/proc/$1/status"; }

# affinity_problems PID...: threads of PID allowed elsewhere than SUT_CPU.
affinity_problems() {
  local pid status cpus
  for pid in "$@"; do
    for status in /proc/"$pid"/task/*/status; do
      cpus=$(awk '/^Cpus_allowed_list:/ {print $2}' "$status" 2>/dev/null) || continue
      [ -z "$cpus" ] || [ "$cpus" = "$SUT_CPU" ] || echo -n "${status%/status} on CPUs $cpus; "
    done
  done
}

# --- nginx -------------------------------------------------------------------
NGINX_USER=
if [ "$(id -u)" -eq 0 ]; then
  # As root nginx would switch its worker to the build's default user; name one.
  if getent group nogroup >/dev/null; then NGINX_USER="user nobody nogroup;"; else NGINX_USER="user nobody;"; fi
fi
RUN_SEQ=0

# start_nginx NAME CPU HTTP_CONFIG: nginx with one worker; sets NGINX_PID
# (the master), NGINX_WORKER, NGINX_ERRLOG.
start_nginx() {
  local name=$1 cpu=$2 http=$3 dir i
  dir="$WORK/$((++RUN_SEQ))-${name//[^a-z0-9]/_}"
  mkdir -p "$dir/tmp"
  cat >"$dir/nginx.conf" <<NGINX
worker_processes 1;
daemon off;
master_process on;
pid $dir/nginx.pid;
error_log $dir/error.log warn;
$NGINX_USER
worker_rlimit_nofile 8192;
events { worker_connections 4096; }
http {
  access_log off;
  server_tokens off;
  types { }
  default_type application/json;
  client_body_temp_path $dir/tmp/body;
  proxy_temp_path $dir/tmp/proxy;
  fastcgi_temp_path $dir/tmp/fastcgi;
  uwsgi_temp_path $dir/tmp/uwsgi;
  scgi_temp_path $dir/tmp/scgi;
  client_body_buffer_size 64k;
  keepalive_requests 1000000;
  keepalive_timeout 300s;
$http
}
NGINX
  start_bg "nginx $name" "$dir/stderr" "$cpu" nginx -p "$dir" -c "$dir/nginx.conf"
  NGINX_PID=$BG_PID NGINX_ERRLOG="$dir/error.log"
  for ((i = 0; i < 300; i++)); do
    NGINX_WORKER=$(children_of "$NGINX_PID")
    [ -z "$NGINX_WORKER" ] || break
    kill -0 "$NGINX_PID" 2>/dev/null || die "nginx $name exited at start: $(cat "$dir/stderr" "$dir/error.log" 2>/dev/null)"
    sleep 0.1
  done
  [ -n "$NGINX_WORKER" ] || die "nginx $name has no worker after 30 s"
  [ "$(wc -w <<<"$NGINX_WORKER")" -eq 1 ] || die "nginx $name: more than one worker ($NGINX_WORKER)"
  WORKERS[$NGINX_WORKER]="nginx $name worker"
}

# A location that answers any method with FILE (under ROOT) and status 200:
# POST to a static file is 405, which error_page turns into an internal GET of
# the file. The 405 path reads (discards) the request body first.
static_answer() { # static_answer ROOT
  cat <<NGINX
      error_page 405 =200 /.answer.json;
      return 405;
    }
    location = /.answer.json {
      internal;
      root $1;
NGINX
}

# --- fake vendors (CPU 1) -------------------------------------------------------
mkdir -p "$WORK/www/ln" "$WORK/www/socure"
cp "$LN_ANSWER" "$WORK/www/ln/.answer.json"
cp "$SOCURE_ANSWER" "$WORK/www/socure/.answer.json"
chmod -R a+rX "$WORK/www"

read -r LN_PORT SOCURE_FAST_PORT < <(free_ports 2)
start_nginx fake-lexisnexis "$SIDE_CPU" "  server {
    listen 127.0.0.1:$LN_PORT backlog=4096;
    location / {
$(static_answer "$WORK/www/ln")
    }
  }"
wait_port "$LN_PORT" "$NGINX_PID" "fake LexisNexis"
start_nginx fake-socure-fast "$SIDE_CPU" "  server {
    listen 127.0.0.1:$SOCURE_FAST_PORT backlog=4096;
    location / { return 404; }
    location = /api/3.0/EmailAuthScore {
$(static_answer "$WORK/www/socure")
    }
  }"
wait_port "$SOCURE_FAST_PORT" "$NGINX_PID" "fake Socure (fast)"

start_bg bench_vendors "$WORK/vendors.out" "$SIDE_CPU" "$VENDORS_BIN"
VENDORS_PID=$BG_PID
for ((i = 0; i < 300; i++)); do
  grep -q socure_slow= "$WORK/vendors.out" && break
  kill -0 "$VENDORS_PID" 2>/dev/null || die "bench_vendors exited: $(cat "$WORK/vendors.out")"
  sleep 0.1
done
SOCURE_BLACKHOLE=$(grep -o ' socure=[^ ]*' "$WORK/vendors.out" | cut -d= -f2)
SOCURE_SLOW=$(grep -o 'socure_slow=[^ ]*' "$WORK/vendors.out" | cut -d= -f2)
[ -n "$SOCURE_BLACKHOLE" ] && [ -n "$SOCURE_SLOW" ] || die "bench_vendors printed: $(cat "$WORK/vendors.out")"

log "checking the fakes"
python3 "$HELPER" check "http://127.0.0.1:$LN_PORT$IV_PATH" "$IV_BODY" "$LN_ANSWER" 3 >/dev/null
python3 "$HELPER" check "http://127.0.0.1:$SOCURE_FAST_PORT/api/3.0/EmailAuthScore" "$IV_BODY" "$SOCURE_ANSWER" 3 >/dev/null
slow=$(python3 "$HELPER" check "http://$SOCURE_SLOW/api/3.0/EmailAuthScore" "$IV_BODY" "$SOCURE_ANSWER" 1)
python3 -c 'import sys; sys.exit(not 1.9 < float(sys.argv[1]) < 3)' "$slow" ||
  die "slow fake Socure answered in ${slow}s, not about 2 s"

# --- the servers under test (CPU 0) ---------------------------------------------
# start_sut SCENARIO TAG: sets SUT_URL, SUT_MAIN (PID to signal), SUT_RSS_PID,
# SUT_ERRLOG (its diagnostics), SUT_KIND (nginx|haproxy|proxy); for the proxy
# also PROXY_LOG, PROXY_WRAP.
start_sut() {
  local scenario=$1 tag=$2 port mirror="" socure
  SUT_KIND=nginx PROXY_LOG="" PROXY_WRAP=""
  case $scenario in
    nginx | nginx+mirror)
      port=$(free_ports 1)
      [ "$scenario" = nginx ] || mirror="mirror /m;
      mirror_request_body on;"
      start_nginx "$scenario-$tag" "$SUT_CPU" "  upstream lexisnexis {
    server 127.0.0.1:$LN_PORT;
    keepalive 64;
    keepalive_requests 1000000;
    keepalive_timeout 300s;
  }
  upstream socure {
    server 127.0.0.1:$SOCURE_FAST_PORT;
    keepalive 64;
    keepalive_requests 1000000;
    keepalive_timeout 300s;
  }
  server {
    listen 127.0.0.1:$port backlog=4096;
    location / {
      $mirror
      proxy_pass http://lexisnexis;
      proxy_http_version 1.1;
      proxy_set_header Connection \"\";
    }
    location = /m {
      internal;
      proxy_pass http://socure/api/3.0/EmailAuthScore;
      proxy_http_version 1.1;
      proxy_set_header Connection \"\";
    }
  }"
      SUT_MAIN=$NGINX_PID SUT_RSS_PID=$NGINX_WORKER SUT_ERRLOG=$NGINX_ERRLOG
      wait_port "$port" "$SUT_MAIN" "$scenario"
      ;;
    haproxy)
      SUT_KIND=haproxy
      port=$(free_ports 1)
      local dir="$WORK/$((++RUN_SEQ))-haproxy"
      mkdir -p "$dir"
      cat >"$dir/haproxy.cfg" <<HAPROXY
global
  nbthread 1
  maxconn 4096
defaults
  mode http
  option http-keep-alive
  http-reuse always
  timeout connect 5s
  timeout client 30s
  timeout server 30s
  timeout http-keep-alive 300s
frontend in
  bind 127.0.0.1:$port
  default_backend lexisnexis
backend lexisnexis
  server ln 127.0.0.1:$LN_PORT
HAPROXY
      start_bg "haproxy $tag" "$dir/stderr" "$SUT_CPU" haproxy -db -f "$dir/haproxy.cfg"
      SUT_MAIN=$BG_PID SUT_RSS_PID=$BG_PID SUT_ERRLOG="$dir/stderr"
      wait_port "$port" "$SUT_MAIN" "$scenario"
      ;;
    proxy-* | base-*)
      SUT_KIND=proxy
      local dir="$WORK/$((++RUN_SEQ))-$scenario" enabled=true i bin=$PROXY_BIN
      mkdir -p "$dir"
      if [[ $scenario == base-* ]]; then
        [ -n "$BASELINE_BIN" ] || die "$scenario needs BASELINE=REV"
        bin=$BASELINE_BIN
      fi
      case ${scenario#*-} in
        off) enabled=false socure=$SOCURE_BLACKHOLE ;;
        on-fast) socure=127.0.0.1:$SOCURE_FAST_PORT ;;
        on-slow2s) socure=$SOCURE_SLOW ;;
        on-blackhole) socure=$SOCURE_BLACKHOLE ;;
        *) die "unknown scenario $scenario" ;;
      esac
      PROXY_LOG="$dir/shadow.log"
      PROXY_WRAP="$dir/rusage.json"
      bench_proxy_toml "$enabled" "127.0.0.1:$LN_PORT" "$socure" "$PROXY_LOG" >"$dir/proxy.toml"
      start_bg "proxy $scenario $tag" "$dir/stderr" "$SUT_CPU" \
        python3 "$HELPER" wrap "$PROXY_WRAP" env "${BENCH_PROXY_ENV[@]}" \
        "$bin" run --config "$dir/proxy.toml"
      PROXY_WRAPPER_PID=$BG_PID
      for ((i = 0; i < 300; i++)); do
        [ -s "$PROXY_WRAP.pid" ] && grep -q 'local_addr=' "$dir/stderr" && break
        kill -0 "$PROXY_WRAPPER_PID" 2>/dev/null || die "proxy exited at start: $(cat "$dir/stderr")"
        sleep 0.1
      done
      grep -q 'local_addr=' "$dir/stderr" || die "proxy did not start in 30 s: $(cat "$dir/stderr")"
      SUT_MAIN=$(<"$PROXY_WRAP.pid") SUT_RSS_PID=$SUT_MAIN SUT_ERRLOG="$dir/stderr"
      LIVE[$SUT_MAIN]="proxy $scenario $tag"
      port=$(grep -o 'local_addr=[^ ]*' "$dir/stderr" | head -1 | cut -d: -f2)
      PROXY_ADMIN=$(grep -o 'admin_addr=[^ ]*' "$dir/stderr" | head -1 | cut -d= -f2)
      ;;
    *) die "unknown scenario $scenario" ;;
  esac
  SUT_URL="http://127.0.0.1:$port$IV_PATH"
}

# stop_sut: stops the server; for the proxy waits for its exit (log flushed)
# and sets SUT_EXIT.
stop_sut() {
  SUT_EXIT=""
  case $SUT_KIND in
    nginx)
      stop_pid "$SUT_MAIN" TERM 30
      unset "WORKERS[$SUT_RSS_PID]"
      ;;
    haproxy) stop_pid "$SUT_MAIN" TERM 30 ;;
    proxy)
      # SIGTERM to the proxy itself; its wrapper exits with its exit code.
      # The drain can take the Socure timeout plus the shutdown grace.
      local i
      kill -TERM "$SUT_MAIN"
      for ((i = 0; i < 1200; i++)); do
        kill -0 "$PROXY_WRAPPER_PID" 2>/dev/null || break
        sleep 0.1
      done
      if kill -0 "$PROXY_WRAPPER_PID" 2>/dev/null; then
        log "the proxy did not exit 120 s after SIGTERM; SIGKILL"
        kill -KILL "$SUT_MAIN" 2>/dev/null || true
      fi
      SUT_EXIT=0
      wait "$PROXY_WRAPPER_PID" || SUT_EXIT=$?
      unset "LIVE[$SUT_MAIN]" "LIVE[$PROXY_WRAPPER_PID]"
      ;;
  esac
}

# The server's processes: nginx master and worker; otherwise the one process.
sut_pids() {
  if [ "$SUT_KIND" = nginx ]; then echo "$SUT_MAIN" $(children_of "$SUT_MAIN"); else echo "$SUT_MAIN"; fi
}

cat >"$WORK/post.lua" <<LUA
-- POST the InstantVerify request; print one machine-readable summary line.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local f = assert(io.open("$IV_BODY", "rb"))
wrk.body = f:read("*a")
f:close()

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRK_RESULT {"requests":%d,"duration_us":%d,"connect":%d,"read":%d,"write":%d,' ..
    '"status":%d,"timeout":%d,"p50_us":%d,"p99_us":%d}\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(99)))
end
LUA

# run_load LOAD URL OUTPUT: the load generator on CPU 1; sets LOAD_RC, TOOL,
# OFFERED. The coverage load offers RATE (set by the caller).
run_load() {
  local load=$1 url=$2 out=$3
  LOAD_RC=0
  case $load in
    closed)
      TOOL=wrk OFFERED=""
      taskset -c "$SIDE_CPU" wrk -t1 -c32 -d"${CLOSED_SECONDS}s" --timeout 10s --latency \
        -s "$WORK/post.lua" "$url" >"$out" 2>&1 || LOAD_RC=$?
      ;;
    fixed)
      TOOL=hey OFFERED=2000
      taskset -c "$SIDE_CPU" hey -c 50 -q 40 -z "${FIXED_SECONDS}s" -m POST \
        -T application/json -D "$IV_BODY" "$url" >"$out" 2>&1 || LOAD_RC=$?
      ;;
    coverage)
      TOOL=hey OFFERED=$RATE
      taskset -c "$SIDE_CPU" hey -c $((RATE / 100)) -q 100 -z "${COVERAGE_SECONDS}s" -m POST \
        -T application/json -D "$IV_BODY" "$url" >"$out" 2>&1 || LOAD_RC=$?
      ;;
  esac
}

# measure SCENARIO LOAD: one fresh server, one load, one results line.
measure() {
  local scenario=$1 load=$2 name pids before after hwm affinity out
  name=$(scenario_name "$scenario")
  log "$name: $load"
  start_sut "$scenario" "$load"
  out="$WORK/$((++RUN_SEQ))-$scenario-$load.out"
  pids=$(sut_pids)
  # shellcheck disable=SC2086 # a list of PIDs
  before=$(cpu_ticks $pids)
  run_load "$load" "$SUT_URL" "$out"
  pids=$(sut_pids)
  # shellcheck disable=SC2086
  after=$(cpu_ticks $pids)
  hwm=$(vm_hwm_kib "$SUT_RSS_PID")
  SHADOWED=""
  if [ "$SUT_KIND" = proxy ]; then
    # Requests the load tool gave up on at its deadline reach the door within
    # milliseconds; then the proxy's own count of shadowed requests is final.
    sleep 1
    SHADOWED=$(python3 "$HELPER" shadowed "$PROXY_ADMIN")
  fi
  # shellcheck disable=SC2086
  affinity=$(affinity_problems $pids)
  stop_sut
  python3 "$HELPER" record "$RESULTS" scenario="$name" load="$load" tool="$TOOL" \
    offered="$OFFERED" tool_out="$out" tool_rc="$LOAD_RC" clk_tck="$CLK_TCK" \
    cpu_before="$before" cpu_after="$after" hwm_kib="$hwm" affinity="$affinity" \
    errlog="$SUT_ERRLOG" \
    ${PROXY_LOG:+log="$PROXY_LOG" exit="$SUT_EXIT" rusage="$PROXY_WRAP" shadowed="$SHADOWED"}
}

scenario_name() {
  case $1 in
    proxy-off) echo "proxy off" ;;
    proxy-on-*) echo "proxy on/${1#proxy-on-}" ;;
    base-off) echo "baseline off" ;;
    base-on-*) echo "baseline on/${1#base-on-}" ;;
    *) echo "$1" ;;
  esac
}

# preflight SCENARIO: one fresh server, two requests on one connection, must
# give 200 and the LexisNexis fixture unchanged.
preflight() {
  local scenario=$1
  start_sut "$scenario" preflight
  python3 "$HELPER" check "$SUT_URL" "$IV_BODY" "$LN_ANSWER" 2 >/dev/null ||
    die "$(scenario_name "$scenario") does not answer the fixture"
  stop_sut
  if [ "$SUT_KIND" = proxy ]; then
    log "$(scenario_name "$scenario") preflight: exit $SUT_EXIT, shadow lines:" \
      "$(python3 -c 'import collections, json, os, sys
p = sys.argv[1]
c = collections.Counter(json.loads(l)["properties"]["event_properties"].get("socure_outcome")
                        for l in (open(p) if os.path.exists(p) else []) if l.strip())
print(dict(c))' "$PROXY_LOG")"
  fi
}

# --- run -------------------------------------------------------------------------
SCENARIOS=(nginx nginx+mirror haproxy proxy-off proxy-on-fast proxy-on-slow2s proxy-on-blackhole)
[ -z "$BASELINE_BIN" ] || SCENARIOS+=(base-off base-on-fast)
if [ -n "$ONLY" ]; then
  read -r -a SCENARIOS <<<"$ONLY"
fi

COMMIT="$(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
git diff --quiet HEAD -- 2>/dev/null || COMMIT="$COMMIT (with uncommitted changes)"
HEADER="$(
  echo "# Side-by-side benchmark"
  echo
  echo "- commit: $COMMIT${BASELINE_BIN:+; baseline: $BASELINE_REV}"
  echo "- machine: $(nproc) CPUs, $(grep -m1 '^model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'), kernel $(uname -r)"
  echo "- tools: $(nginx -v 2>&1 | sed 's/^nginx version: //'), $(haproxy -v | head -1 | cut -d' ' -f1-3), $(wrk -v 2>&1 | head -1 | cut -d' ' -f1-2), hey $(dpkg-query -W -f='${Version}' hey 2>/dev/null || echo '?')"
  echo "- loads: closed = wrk -t1 -c32 ${CLOSED_SECONDS}s; fixed = hey -c 50 -q 40 ${FIXED_SECONDS}s (2,000/s offered); coverage = hey -c RATE/100 -q 100 ${COVERAGE_SECONDS}s (RATE = ${COVERAGE_RATES[*]}/s offered)"
  echo "- server under test on CPU $SUT_CPU; fakes and load generator on CPU $SIDE_CPU; started $(date -u '+%Y-%m-%d %H:%M UTC')"
)"
echo "$HEADER"
echo

for scenario in "${SCENARIOS[@]}"; do
  preflight "$scenario"
done
for scenario in "${SCENARIOS[@]}"; do
  measure "$scenario" closed
  measure "$scenario" fixed
  if [ "$scenario" = proxy-on-fast ] || [ "$scenario" = base-on-fast ]; then
    for RATE in "${COVERAGE_RATES[@]}"; do
      measure "$scenario" coverage
    done
  fi
done

# Calibration: what hey offers on one core, straight at the fake LexisNexis.
if [[ " ${SCENARIOS[*]} " == *" proxy-on-fast "* ]]; then
  for RATE in "${COVERAGE_RATES[@]}"; do
    log "calibration: hey at $RATE/s straight at the fake LexisNexis"
    out="$WORK/$((++RUN_SEQ))-calibration.out"
    run_load coverage "http://127.0.0.1:$LN_PORT$IV_PATH" "$out"
    python3 "$HELPER" record "$RESULTS" scenario="(hey straight to fake LexisNexis)" load=coverage \
      tool=hey offered="$RATE" tool_out="$out" tool_rc="$LOAD_RC" clk_tck="$CLK_TCK" \
      cpu_before="" cpu_after="" hwm_kib=""
  done
fi

{
  python3 "$HELPER" table "$RESULTS"
  echo
  echo "CPU µs/req: all the server's processes, from just before to just after the load;" \
    "(to exit): the proxy's, up to its exit after SIGTERM (mirrors drained)." \
    "Ratios use the first figure."
  echo "lines: the proxy's shadow lines by socure_outcome (answered/dropped/other) + the summed" \
    "shed_count of its summary lines; checked against the shadowed requests the proxy counted at" \
    "the mirror's door (mirrors_started_total + mirrors_shed_total: 'exact' when equal) and against" \
    "the requests the load tool completed (wrk leaves out those open at its deadline)." \
    "exit: the proxy's exit code after SIGTERM."
} >"$WORK/table.body"
{
  echo "$HEADER"
  echo
  cat "$WORK/table.body"
} >"$WORK/table.md"
echo
cat "$WORK/table.body"
