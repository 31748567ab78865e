//! Running it as a sidecar: the admin listener's probes and metrics.

use std::process::Command;

use crate::support::*;

/// Asks `/readyz` until it answers 503 (bounded), and returns why.
async fn readyz_once_unready(admin: std::net::SocketAddr) -> String {
    tokio::time::timeout(TEST_BOUND, async {
        loop {
            let (status, body) = admin_get(admin, "/readyz").await;
            if status == 503 {
                break body;
            }
        }
    })
    .await
    .expect("readyz turned 503 in time")
}

/// What the scripted sequence of [`metrics_count_a_scripted_sequence_exactly`]
/// leaves, once the proxy is shut down.
const SCRIPTED_TOTALS: [(&str, f64); 18] = [
    (
        "requests_forwarded_total{route=\"shadowed\",status_class=\"2xx\"}",
        4.0,
    ),
    (
        "requests_forwarded_total{route=\"passthrough\",status_class=\"2xx\"}",
        1.0,
    ),
    (
        "requests_forwarded_total{route=\"shadowed\",status_class=\"5xx\"}",
        0.0,
    ),
    ("mirrors_started_total", 4.0),
    ("mirrors_total{socure_outcome=\"answered\"}", 3.0),
    ("mirrors_total{socure_outcome=\"not_sent\"}", 1.0),
    ("mirrors_total{socure_outcome=\"dropped\"}", 0.0),
    ("mirrors_not_sent_total{reason=\"max_in_flight\"}", 0.0),
    ("mirrors_queued_total", 0.0),
    ("mirrors_in_flight", 0.0),
    ("shadow_lines_written_total", 4.0),
    ("shadow_lines_lost_total", 0.0),
    ("vendor_agreement_total{agreement=\"both_pass\"}", 3.0),
    (
        "vendor_agreement_total{agreement=\"one_side_errored\"}",
        1.0,
    ),
    (
        "vendor_agreement_total{agreement=\"only_socure_passes\"}",
        0.0,
    ),
    ("upstream_latency_seconds_count", 5.0),
    ("proxy_overhead_seconds_count", 5.0),
    ("socure_latency_seconds_count", 3.0),
];

#[tokio::test]
async fn metrics_count_a_scripted_sequence_exactly() {
    let Stack {
        upstream, proxy, ..
    } = Stack::passing().await;
    send_scripted_sequence(&proxy).await;
    assert_eq!(upstream.requests().len(), 5);

    let (status, live) = admin_get(proxy.admin, "/metrics").await;
    assert_eq!(status, 200);
    assert!(live.contains("# HELP socure_shadow_proxy_requests_forwarded_total"));
    assert_build_info(&live);
    assert_eq!(
        metric(
            &live,
            "socure_shadow_proxy_requests_forwarded_total{route=\"shadowed\",status_class=\"2xx\"}"
        ),
        4.0
    );

    let (lines, text) = proxy.finish_with_metrics().await;
    assert_eq!(lines.len(), 4);
    for (series, value) in SCRIPTED_TOTALS {
        assert_eq!(
            metric(&text, &format!("socure_shadow_proxy_{series}")),
            value,
            "{series}"
        );
    }
}

/// Three applicants, one shadowed body that is not an applicant (a line, no
/// Socure call), one request not shadowed; every answer a 200.
async fn send_scripted_sequence(proxy: &TestProxy) {
    forward_fixture_requests(proxy.addr, 3).await;
    assert_eq!(
        send(proxy.addr, &iv_post(b"{\"not\":\"an applicant\"}"))
            .await
            .status(),
        200
    );
    let phone = request(
        "POST",
        PF_PATH,
        &[("Content-Type", "application/json")],
        b"{}",
    );
    assert_eq!(send(proxy.addr, &phone).await.status(), 200);
}

/// Which build is answering: the crate's version and the commit build.rs found.
fn assert_build_info(live: &str) {
    assert!(live.contains("# TYPE socure_shadow_proxy_build_info gauge"));
    let (labels, value) = live
        .lines()
        .find_map(|line| line.strip_prefix("socure_shadow_proxy_build_info{"))
        .and_then(|rest| rest.split_once("} "))
        .unwrap_or_else(|| panic!("no build_info in:\n{live}"));
    assert_eq!(value.trim(), "1");
    let label = |name: &str| {
        labels
            .split(',')
            .find_map(|pair| pair.strip_prefix(name)?.strip_prefix("=\""))
            .and_then(|quoted| quoted.strip_suffix('"'))
            .unwrap_or_else(|| panic!("no {name} label in {labels}"))
    };
    assert_eq!(label("version"), env!("CARGO_PKG_VERSION"));
    assert!(!label("commit").is_empty(), "{labels}");
    assert_eq!(label("commit"), env!("SHADOW_PROXY_BUILD_COMMIT"));
}

#[tokio::test]
async fn probes_answer_and_readyz_is_503_while_draining() {
    let upstream = FakeVendor::start(|_| Reply::Hang).await;
    let socure = socure_answering(json_ok(&fixture("socure/kyc_all_verified.json"))).await;
    let proxy = TestProxy::start(
        upstream.addr,
        socure.addr,
        Options {
            upstream_timeout_seconds: 3.0,
            ..Options::default()
        },
    )
    .await;
    assert_eq!(
        admin_get(proxy.admin, "/healthz").await,
        (200, "ok\n".into())
    );
    assert_eq!(
        admin_get(proxy.admin, "/readyz").await,
        (200, "ready\n".into())
    );
    assert_eq!(admin_get(proxy.admin, "/nope").await.0, 404);

    // A request the upstream never answers keeps the drain going.
    let mut client = RawClient::connect(proxy.addr).await;
    client.write(&instant_verify_request()).await;
    upstream.wait_for_requests(1).await;
    let admin = proxy.admin;
    let finishing = tokio::spawn(proxy.finish());
    let draining = readyz_once_unready(admin).await;
    assert_eq!(draining, "draining\n");
    assert_eq!(
        admin_get(admin, "/healthz").await.0,
        200,
        "alive while draining"
    );
    let lines = finishing.await.expect("join");
    assert_eq!(lines.len(), 1);
    assert_eq!(event(&lines[0])["resolution_outcome"], "upstream_timeout");
}

/// Runs the binary's `healthcheck` against `admin`, off the runtime thread.
async fn healthcheck(admin: std::net::SocketAddr) -> bool {
    tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_socure-shadow-proxy"))
            .args(["healthcheck", "--address", &admin.to_string()])
            .output()
            .expect("run healthcheck")
            .status
            .success()
    })
    .await
    .expect("join")
}

/// The real binary with JSON diagnostics and `log_keys` in its `[log]`,
/// in front of passing fake vendors (kept alive by the returned stack).
async fn json_logging_proxy(log_keys: &str) -> (Stack, ProxyProcess) {
    let vendors = Stack::passing().await;
    let (upstream, socure) = (vendors.upstream.addr, vendors.socure.addr);
    let proxy = ProxyProcess::start_toml(
        |log| {
            format!(
                "{}\n[log]\nformat = \"json\"\n{log_keys}",
                Options::default().toml(upstream, socure, log)
            )
        },
        &[],
    );
    (vendors, proxy)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_diagnostics_show_the_effective_config_redacted_and_healthcheck_passes() {
    let (_vendors, proxy) = json_logging_proxy("").await;
    assert!(healthcheck(proxy.admin).await, "healthy while running");

    proxy.signal(nix::sys::signal::Signal::SIGTERM);
    assert!(proxy.wait_exit(TEST_BOUND).is_some_and(|s| s.success()));
    let stderr = String::from_utf8_lossy(&proxy.stderr()).into_owned();
    let lines: Vec<serde_json::Value> = stderr
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|_| panic!("not JSON: {line}")))
        .collect();
    let effective = lines
        .iter()
        .find(|l| l["fields"]["message"] == "effective configuration")
        .expect("the effective configuration is logged at start");
    // Fields, not a string: the config's own keys, queryable as such.
    let config = &effective["fields"]["config"];
    assert_eq!(config["socure"]["api_key"], "[redacted]", "{effective}");
    // As configured: port 0, which the proxy then resolves.
    assert_eq!(config["admin"]["address"], "127.0.0.1:0", "{effective}");
    assert_eq!(config["shadow"]["sample_percent"], 100.0, "{effective}");
    assert_eq!(effective["level"], "INFO");
    assert!(!stderr.contains(API_KEY), "the key never reaches stderr");
    assert!(!healthcheck(proxy.admin).await, "unhealthy once stopped");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_turns_shadow_mode_off_and_on_with_traffic_flowing() {
    let Stack {
        upstream, socure, ..
    } = Stack::passing().await;
    let on = Options::default();
    let off = Options {
        enabled: false,
        // Not live: reported as needing a restart, and not applied.
        max_connections: 100,
        ..Options::default()
    };
    let proxy = ProxyProcess::start(upstream.addr, socure.addr, &on, &[]);
    let (stop, traffic) = keep_alive_traffic(proxy.addr);
    let vendors = [&upstream, &socure];

    let iv = instant_verify_request();
    for _ in 0..3 {
        assert_eq!(send(proxy.addr, &iv).await.status(), 200);
    }
    assert_turned_off(&reload(&proxy, vendors, &off));
    let restart = proxy.wait_for_stderr("needs a restart");
    assert!(restart.contains("listen.max_connections"), "{restart}");
    for _ in 0..3 {
        assert_eq!(
            send(proxy.addr, &iv).await.status(),
            200,
            "forwarded while off"
        );
    }
    let reloaded = reload(&proxy, vendors, &on);
    assert_eq!(
        reloaded["fields"]["applied"]["shadow.enabled"], true,
        "{reloaded}"
    );
    for _ in 0..3 {
        assert_eq!(send(proxy.addr, &iv).await.status(), 200);
    }

    let _ = stop.send(());
    let answered = traffic.await.expect("no request of the traffic failed");
    assert!(answered > 0);
    proxy.signal(nix::sys::signal::Signal::SIGTERM);
    assert!(proxy.wait_exit(TEST_BOUND).is_some_and(|s| s.success()));
    assert_eq!(
        proxy.log_lines().len(),
        6,
        "shadowed before and after, not between"
    );
    assert_eq!(socure.requests().len(), 6);
    assert_eq!(upstream.requests().len(), 9 + answered);
}

/// Traffic on one keep-alive connection until told to stop, before, during
/// and after every reload: each answer must be a 200, and the connection
/// must survive. The task returns how many were answered.
fn keep_alive_traffic(
    addr: std::net::SocketAddr,
) -> (
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<usize>,
) {
    let (stop_tx, mut stop_rx) = tokio::sync::oneshot::channel::<()>();
    let traffic = tokio::spawn(async move {
        let mut client = RawClient::connect(addr).await;
        let phone = request(
            "POST",
            PF_PATH,
            &[("Content-Type", "application/json")],
            b"{}",
        );
        let mut answered = 0usize;
        loop {
            assert_eq!(
                client.send(&phone).await.status(),
                200,
                "request {answered}"
            );
            answered += 1;
            if stop_rx.try_recv().is_ok() {
                break answered;
            }
        }
    });
    (stop_tx, traffic)
}

/// Rewrites the config with `options` in front of the `[upstream, socure]`
/// fakes, sends SIGHUP, and returns the "configuration reloaded" line.
fn reload(
    proxy: &ProxyProcess,
    [upstream, socure]: [&FakeVendor; 2],
    options: &Options,
) -> serde_json::Value {
    std::fs::write(
        &proxy.config,
        options.toml(upstream.addr, socure.addr, &proxy.log),
    )
    .expect("rewrite config");
    proxy.signal(nix::sys::signal::Signal::SIGHUP);
    serde_json::from_str(&proxy.wait_for_stderr("configuration reloaded"))
        .expect("the reload line is JSON")
}

/// The reload line of turning shadow mode off: applied, with the change
/// that needs a restart listed but not applied.
fn assert_turned_off(reloaded: &serde_json::Value) {
    let fields = &reloaded["fields"];
    assert_eq!(fields["applied"]["shadow.enabled"], false, "{reloaded}");
    // An unlimited budget is `null`, not a Rust `None`.
    assert!(
        fields["applied"]["socure.max_calls_per_day"].is_null(),
        "{reloaded}"
    );
    let changed = fields["changed"].as_array().expect("changed keys");
    assert!(
        changed.contains(&serde_json::json!({"key": "shadow.enabled", "from": true, "to": false, "applied": true})),
        "{reloaded}"
    );
    assert!(
        changed.contains(&serde_json::json!({"key": "listen.max_connections", "from": 4096, "to": 100, "applied": false})),
        "{reloaded}"
    );
}

#[tokio::test]
async fn a_shadow_log_that_cannot_be_written_never_makes_the_pod_unready() {
    let (upstream, socure) = passing_vendors().await;
    // Every write to /dev/full fails with "no space left on device".
    let proxy = TestProxy::from_toml(|_| {
        Options::default().toml(
            upstream.addr,
            socure.addr,
            std::path::Path::new("/dev/full"),
        )
    })
    .await;
    const REQUESTS: usize = 3;
    for _ in 0..REQUESTS {
        let answer = send(proxy.addr, &instant_verify_request()).await;
        assert_eq!(answer.status(), 200, "the client never notices");
    }
    // The lines are lost, counted, and the gauge says why; the pod stays ready.
    let text = metric_reaches(
        proxy.admin,
        "socure_shadow_proxy_shadow_lines_lost_total",
        REQUESTS as f64,
    )
    .await;
    assert_eq!(
        metric(&text, "socure_shadow_proxy_shadow_log_writable"),
        0.0
    );
    assert_eq!(
        metric(&text, "socure_shadow_proxy_shadow_lines_written_total"),
        0.0
    );
    assert_eq!(
        admin_get(proxy.admin, "/readyz").await,
        (200, "ready\n".into())
    );
    let report = proxy.stop().await;
    assert_eq!(
        (report.sink.lines_written, report.sink.lines_lost),
        (0, REQUESTS as u64)
    );
}

// Two workers: the wait for stderr blocks one, and the fake vendors run on
// this runtime.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stats_line_says_what_happened_since_the_last_one() {
    let (_vendors, proxy) = json_logging_proxy("stats_interval_seconds = 0.2\n").await;
    forward_fixture_requests(proxy.addr, 3).await;
    // The three may fall into one interval or several: add the lines up
    // until all three lines are counted (bounded by the wait's own limit).
    let (mut requests, mut shadowed, mut written, mut outcomes) = (0, 0, 0, Vec::new());
    while written < 3 {
        let line: serde_json::Value =
            serde_json::from_str(&proxy.wait_for_stderr("stats since the last line"))
                .expect("a JSON line");
        let fields = &line["fields"];
        assert_eq!(fields["interval_seconds"], 0.2, "{line}");
        assert_eq!(fields["shadow_log_writable"], true, "{line}");
        requests += fields["requests"].as_u64().expect("requests");
        shadowed += fields["shadowed"].as_u64().expect("shadowed");
        written += fields["lines_written"].as_u64().expect("lines_written");
        for (outcome, count) in fields["socure_outcomes"].as_object().expect("an object") {
            outcomes.push(format!("{outcome}={}", count.as_u64().expect("a count")));
        }
    }
    assert_eq!((requests, shadowed, written), (3, 3, 3));
    let answered: u64 = outcomes
        .iter()
        .filter_map(|o| o.strip_prefix("answered="))
        .map(|n| n.parse::<u64>().expect("a count"))
        .sum();
    assert_eq!(answered, 3, "{outcomes:?}");
    proxy.signal(nix::sys::signal::Signal::SIGTERM);
    assert!(proxy.wait_exit(TEST_BOUND).is_some_and(|s| s.success()));
}

// Two workers: the wait for stderr blocks one, and the fakes run here.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_descriptor_limit_below_what_the_configuration_may_use_is_named_at_start() {
    let (upstream, socure) = passing_vendors().await;
    let options = Options {
        max_connections: 512,
        ..Options::default()
    };
    let proxy = ProxyProcess::start_limited(
        |log| options.toml(upstream.addr, socure.addr, log),
        &[],
        &[(nix::sys::resource::Resource::RLIMIT_NOFILE, 256)],
    );
    // Said before the "listening" line that the start waited for.
    let stderr = String::from_utf8_lossy(&proxy.stderr()).into_owned();
    let warning: serde_json::Value = stderr
        .lines()
        .find(|line| line.contains("descriptor limit"))
        .and_then(|line| serde_json::from_str(line).ok())
        .unwrap_or_else(|| panic!("a JSON warning in {stderr}"));
    assert_eq!(warning["level"], "WARN", "{warning}");
    assert_eq!(warning["fields"]["limit"], 256, "{warning}");
    let needed = warning["fields"]["needed"].as_u64().expect("needed");
    assert!(
        needed > 3 * 512,
        "clients and upstream connections: {needed}"
    );
    // It still serves; only a flood would find the limit.
    assert_eq!(
        send(proxy.addr, &instant_verify_request()).await.status(),
        200
    );
    proxy.signal(nix::sys::signal::Signal::SIGTERM);
    assert!(proxy.wait_exit(TEST_BOUND).is_some_and(|s| s.success()));
}

/// The family names of a Prometheus exposition, in the order it gives them.
fn families(text: &str) -> Vec<&str> {
    text.lines()
        .filter_map(|line| line.strip_prefix("# TYPE "))
        .filter_map(|rest| rest.split_whitespace().next())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_configuration_in_force_and_the_last_reload_are_on_the_admin_port() {
    let Stack {
        upstream, socure, ..
    } = Stack::passing().await;
    let on = Options::default();
    let proxy = ProxyProcess::start(upstream.addr, socure.addr, &on, &[]);

    // /config: check-config's own JSON for the same file and environment.
    let (status, served) = admin_get(proxy.admin, "/config").await;
    assert_eq!(status, 200, "{served}");
    let served: serde_json::Value = serde_json::from_str(&served).expect("JSON");
    let checked = Command::new(env!("CARGO_BIN_EXE_socure-shadow-proxy"))
        .args(["check-config", "--format", "json", "--config"])
        .arg(&proxy.config)
        .env("SOCURE_IDPLUS_API_KEY", API_KEY)
        .output()
        .expect("check-config runs");
    let checked: serde_json::Value =
        serde_json::from_slice(&checked.stdout).expect("check-config's JSON");
    assert_eq!(served, checked, "/config is check-config's document");
    assert_eq!(served["config"]["socure"]["api_key"], "[redacted]");
    assert!(
        !served.to_string().contains(API_KEY),
        "no secret on /config"
    );

    let text = admin_get(proxy.admin, "/metrics").await.1;
    for (series, value) in [
        ("socure_shadow_proxy_shadow_enabled", 1.0),
        ("socure_shadow_proxy_sample_percent", 100.0),
        ("socure_shadow_proxy_max_calls_per_day", f64::INFINITY),
        ("socure_shadow_proxy_config_last_reload_success", 1.0),
    ] {
        assert_eq!(metric(&text, series), value, "{series}");
    }
    let started = metric(
        &text,
        "socure_shadow_proxy_config_last_reload_timestamp_seconds",
    );
    assert!(started > 1.7e9, "{started}");
    let names = families(&text);
    let mut sorted = names.clone();
    sorted.sort_unstable();
    assert!(names.len() > 20 && names == sorted, "{names:?}");

    // A reload that applies: the document and the gauges follow; a key a
    // reload cannot change keeps the value in force.
    let off = Options {
        enabled: false,
        max_connections: 100,
        ..Options::default()
    };
    assert_turned_off(&reload(&proxy, [&upstream, &socure], &off));
    let served: serde_json::Value =
        serde_json::from_str(&admin_get(proxy.admin, "/config").await.1).expect("JSON");
    assert_eq!(served["config"]["shadow"]["enabled"], false);
    assert_eq!(served["config"]["listen"]["max_connections"], 4096);
    let text = admin_get(proxy.admin, "/metrics").await.1;
    assert_eq!(metric(&text, "socure_shadow_proxy_shadow_enabled"), 0.0);
    assert_eq!(
        metric(&text, "socure_shadow_proxy_config_last_reload_success"),
        1.0
    );

    // A reload that is refused: nothing changes but the gauge.
    std::fs::write(&proxy.config, "[listen\n").expect("break the config");
    proxy.signal(nix::sys::signal::Signal::SIGHUP);
    proxy.wait_for_stderr("reload refused");
    let text = admin_get(proxy.admin, "/metrics").await.1;
    assert_eq!(
        metric(&text, "socure_shadow_proxy_config_last_reload_success"),
        0.0
    );
    assert!(
        metric(
            &text,
            "socure_shadow_proxy_config_last_reload_timestamp_seconds"
        ) >= started
    );
    assert_eq!(metric(&text, "socure_shadow_proxy_shadow_enabled"), 0.0);
    let after: serde_json::Value =
        serde_json::from_str(&admin_get(proxy.admin, "/config").await.1).expect("JSON");
    assert_eq!(
        after, served,
        "a refused reload leaves the document in force"
    );
    proxy.signal(nix::sys::signal::Signal::SIGTERM);
    assert!(proxy.wait_exit(TEST_BOUND).is_some_and(|s| s.success()));
}
