# Shared by the benchmark scripts (sourced, not run): builds the proxy and the
# fake vendors, starts the vendors, and starts the proxy in shadow mode on or
# off. Everything runs on 127.0.0.1. Callers set WORK to a scratch folder.

command -v oha >/dev/null || { echo "oha is needed: cargo install oha --locked" >&2; exit 1; }
cargo build --release --quiet --bin socure-shadow-proxy --example bench_vendors

# Starts examples/bench_vendors; sets LN and SOCURE (the one that drops
# packets) to their addresses.
start_vendors() {
  target/release/examples/bench_vendors > "$WORK/vendors" &
  while [ ! -s "$WORK/vendors" ]; do sleep 0.1; done
  read -r LN SOCURE < <(sed -E 's/lexis_nexis=([^ ]+) socure=([^ ]+).*/\1 \2/' "$WORK/vendors")
}

# start_proxy on|off LOG: starts the proxy; sets PROXY_PID and PROXY_ADDR.
start_proxy() {
  local mode=$1 log=$2
  cat > "$WORK/proxy-$mode.toml" <<TOML
[listen]
address = "127.0.0.1:0"
[admin]
address = "127.0.0.1:0"
[log]
format = "text"
[upstream]
base_url = "http://$LN"
[shadow]
enabled = $([ "$mode" = on ] && echo true || echo false)
instant_verify_workflow = "gsa2.chk32.test.wf"
log_path = "$log"
[socure]
base_url = "http://$SOCURE"
timeout_seconds = 5
TOML
  : > "$WORK/proxy-$mode.err"
  SOCURE_IDPLUS_API_KEY=bench-fake-key RUST_LOG=warn,socure_shadow_proxy::server=info \
    target/release/socure-shadow-proxy run --config "$WORK/proxy-$mode.toml" 2> "$WORK/proxy-$mode.err" &
  PROXY_PID=$!
  while ! grep -q 'local_addr=' "$WORK/proxy-$mode.err"; do sleep 0.1; done
  PROXY_ADDR=$(grep -o 'local_addr=[^ ]*' "$WORK/proxy-$mode.err" | head -1 | cut -d= -f2)
}

# stop_proxy: SIGTERM, and wait for the drain.
stop_proxy() {
  kill -TERM "$PROXY_PID"
  wait "$PROXY_PID" || true
}

IV_URL_PATH=/restws/identity/v2/test_account/gsa2.chk32.test.wf/conversation
IV_BODY=tests/fixtures/lexis_nexis/instant_verify/request.json
