//! The proxy in the test's own process: its settings as a config file, started on 127.0.0.1 port 0 in front of the fakes, shut down to read every line it wrote.
//!
//! Nothing here sleeps to synchronise: a test reads the shadow log only
//! after the proxy's shutdown has drained the mirrors and flushed the log.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;

use serde_json::Value;
use socure_shadow_proxy::config::Config;
use socure_shadow_proxy::server::{self, Running};

use super::{API_KEY, FakeVendor, TEST_BOUND, WORKFLOW, fixture, json_ok, socure_answering};

/// Settings for a proxy under test.
pub struct Options {
    pub enabled: bool,
    pub socure_timeout_seconds: f64,
    pub upstream_timeout_seconds: f64,
    pub max_in_flight: u64,
    pub max_pending: u64,
    pub shutdown_grace_seconds: f64,
    pub max_request_body_bytes: u64,
    pub max_connections: u64,
    pub sample_percent: f64,
    pub dedup_window_seconds: f64,
    pub max_calls_per_day: Option<u64>,
    /// More `[listen]` keys, as TOML lines.
    pub listen_extra: String,
    /// More `[shadow]` keys, as TOML lines.
    pub shadow_extra: String,
    /// `shadow.max_body_bytes`; the proxy's default when `None`.
    pub max_shadow_body_bytes: Option<u64>,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            enabled: true,
            socure_timeout_seconds: 5.0,
            upstream_timeout_seconds: 10.0,
            max_in_flight: 512,
            max_pending: 1024,
            shutdown_grace_seconds: 10.0,
            max_request_body_bytes: 10 * 1024 * 1024,
            max_connections: 4096,
            sample_percent: 100.0,
            dedup_window_seconds: 0.0,
            max_calls_per_day: None,
            listen_extra: String::new(),
            shadow_extra: String::new(),
            max_shadow_body_bytes: None,
        }
    }
}

impl Options {
    /// The config file for these options.
    pub fn toml(&self, upstream: SocketAddr, socure: SocketAddr, log: &std::path::Path) -> String {
        format!(
            r#"
[listen]
address = "127.0.0.1:0"
max_request_body_bytes = {max_request_body_bytes}
max_connections = {max_connections}
{listen_extra}
[admin]
address = "127.0.0.1:0"
[upstream]
base_url = "http://{upstream}"
timeout_seconds = {upstream_timeout}
[shadow]
enabled = {enabled}
instant_verify_workflow = "{WORKFLOW}"
log_path = "{log}"
max_in_flight = {max_in_flight}
max_pending = {max_pending}
shutdown_grace_seconds = {grace}
sample_percent = {sample_percent}
dedup_window_seconds = {dedup}
{shadow_extra}
{shadow_body}
[socure]
base_url = "http://{socure}"
timeout_seconds = {socure_timeout}
{budget}
"#,
            max_request_body_bytes = self.max_request_body_bytes,
            max_connections = self.max_connections,
            upstream_timeout = self.upstream_timeout_seconds,
            enabled = self.enabled,
            log = log.display(),
            max_in_flight = self.max_in_flight,
            max_pending = self.max_pending,
            grace = self.shutdown_grace_seconds,
            socure_timeout = self.socure_timeout_seconds,
            sample_percent = self.sample_percent,
            dedup = self.dedup_window_seconds,
            listen_extra = self.listen_extra,
            shadow_extra = self.shadow_extra,
            shadow_body = self
                .max_shadow_body_bytes
                .map(|n| format!("max_body_bytes = {n}"))
                .unwrap_or_default(),
            budget = self
                .max_calls_per_day
                .map(|n| format!("max_calls_per_day = {n}"))
                .unwrap_or_default(),
        )
    }
}

/// A proxy on 127.0.0.1 port 0 in front of the two fakes, logging to a temp file.
pub struct TestProxy {
    pub addr: SocketAddr,
    pub admin: SocketAddr,
    running: Running,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl TestProxy {
    pub async fn start(upstream: SocketAddr, socure: SocketAddr, options: Options) -> Self {
        Self::from_toml(|log| options.toml(upstream, socure, log)).await
    }

    /// A proxy with the config `toml` builds, given the shadow log's path.
    pub async fn from_toml(toml: impl FnOnce(&std::path::Path) -> String) -> Self {
        Self::from_toml_with_env(toml, &[]).await
    }

    /// The same, with `env` besides the Socure key.
    pub async fn from_toml_with_env(
        toml: impl FnOnce(&std::path::Path) -> String,
        env: &[(&str, &str)],
    ) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let log = dir.path().join("shadow.log");
        let text = toml(&log);
        let mut env: HashMap<String, String> = env
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        env.insert("SOCURE_IDPLUS_API_KEY".to_owned(), API_KEY.to_owned());
        let config = Config::from_toml(&text, &env).expect("test config is valid");
        let running = server::start(config).await.expect("proxy starts");
        Self {
            addr: running.local_addr(),
            admin: running.admin_addr(),
            running,
            log,
            _dir: dir,
        }
    }

    /// Like [`TestProxy::finish`], and the Prometheus text of the metrics
    /// once everything is written.
    pub async fn finish_with_metrics(self) -> (Vec<Value>, String) {
        let metrics = self.running.metrics();
        let lines = self.finish().await;
        metrics.upkeep();
        (lines, metrics.render())
    }

    /// Shuts the proxy down (draining mirrors, flushing the log) and returns
    /// every shadow line written, parsed.
    pub async fn finish(self) -> Vec<Value> {
        let text = self.finish_text().await;
        text.lines()
            .map(|line| serde_json::from_str(line).expect("each line is one JSON object"))
            .collect()
    }

    /// Shuts the proxy down as [`TestProxy::finish`] does and returns the
    /// shadow log as written, whole lines only.
    pub async fn finish_text(self) -> String {
        let report = tokio::time::timeout(TEST_BOUND, self.running.shutdown())
            .await
            .expect("shutdown in time");
        assert_eq!(report.mirrors_unfinished, 0, "every mirror finished");
        let text = match std::fs::read_to_string(&self.log) {
            Ok(text) => text,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => String::new(),
            Err(err) => panic!("read shadow log: {err}"),
        };
        assert!(text.is_empty() || text.ends_with('\n'), "whole lines only");
        text
    }

    /// Shuts the proxy down without reading the log (for logs that are
    /// not files).
    pub async fn stop(self) -> server::RunReport {
        tokio::time::timeout(TEST_BOUND, self.running.shutdown())
            .await
            .expect("shutdown in time")
    }

    /// Whether the log file exists at all.
    pub fn log_exists(&self) -> bool {
        self.log.exists()
    }
}

/// Fake vendors that both pass everyone, and a proxy in front of them.
pub struct Stack {
    pub upstream: FakeVendor,
    pub socure: FakeVendor,
    pub proxy: TestProxy,
}

impl Stack {
    pub async fn passing() -> Self {
        Self::passing_with(Options::default()).await
    }

    /// Both fakes passing everyone, and a proxy with `options`.
    pub async fn passing_with(options: Options) -> Self {
        let (upstream, socure) = passing_vendors().await;
        let proxy = TestProxy::start(upstream.addr, socure.addr, options).await;
        Self {
            upstream,
            socure,
            proxy,
        }
    }
}

/// A fake LexisNexis and a fake Socure that pass everyone (the fixtures).
pub async fn passing_vendors() -> (FakeVendor, FakeVendor) {
    let upstream = FakeVendor::always(json_ok(&fixture(
        "lexis_nexis/instant_verify/successful_response.json",
    )))
    .await;
    let socure = socure_answering(json_ok(&fixture("socure/kyc_all_verified.json"))).await;
    (upstream, socure)
}
