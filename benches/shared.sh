# Sourced by the benchmark scripts (not run): the proxy's benchmark config,
# and another revision of the proxy built for a comparison in the same run.

# bench_proxy_toml ENABLED UPSTREAM SOCURE LOG: the config every benchmark
# proxy runs with: ports found at start, shadow mode ENABLED (true/false),
# LexisNexis at UPSTREAM and Socure at SOCURE (HOST:PORT), lines to LOG, no
# duplicate window (every request carries the same applicant) and no daily
# budget (socure.max_calls_per_day unset).
bench_proxy_toml() {
  cat <<TOML
[listen]
address = "127.0.0.1:0"
[admin]
address = "127.0.0.1:0"
[log]
format = "text"
[upstream]
base_url = "http://$2"
[shadow]
enabled = $1
instant_verify_workflow = "gsa2.chk32.test.wf"
log_path = "$4"
dedup_window_seconds = 0
[socure]
base_url = "http://$3"
timeout_seconds = 5
TOML
}

# `env` arguments that run the proxy with only its config file and these:
# the variables that would override the file are cleared, the API key is a
# fake, and the log says little besides the start and stop lines.
BENCH_PROXY_ENV=(
  -u SHADOW_PROXY_LISTEN_ADDRESS -u SHADOW_PROXY_ADMIN_ADDRESS
  -u LEXISNEXIS_BASE_URL -u IDV_SOCURE_SHADOW_MODE_ENABLED
  -u LEXISNEXIS_INSTANT_VERIFY_WORKFLOW -u SHADOW_PROXY_LOG_PATH
  -u SOCURE_IDPLUS_BASE_URL -u SOCURE_IDPLUS_TIMEOUT_IN_SECONDS
  SOCURE_IDPLUS_API_KEY=bench-fake-key
  RUST_LOG=warn,socure_shadow_proxy::server=info
)

# The baseline is built in a worktree of its own with its own target folder
# (so this checkout's build is untouched).
#
# build_baseline REV TARGET_DIR: sets BASELINE_REV (short) and BASELINE_BIN.
build_baseline() {
  local rev=$1 target=$2 tree
  BASELINE_REV="$(git rev-parse --short "$rev^{commit}")" || {
    echo "BASELINE=$rev is not a revision" >&2
    exit 1
  }
  tree="$target/side-by-side-baseline/tree-$BASELINE_REV"
  if [ ! -d "$tree" ]; then
    git worktree add --detach "$tree" "$BASELINE_REV" >/dev/null || {
      echo "cannot check out $BASELINE_REV" >&2
      exit 1
    }
  fi
  echo "building the baseline $BASELINE_REV (cargo build --release, its own target folder)" >&2
  (cd "$tree" &&
    CARGO_TARGET_DIR="$target/side-by-side-baseline/target" \
      cargo build --release --quiet --bin socure-shadow-proxy)
  BASELINE_BIN="$target/side-by-side-baseline/target/release/socure-shadow-proxy"
}
