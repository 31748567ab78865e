//! Validation: the raw values become the typed configuration, and every bad key is reported with where its value came from.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use http::Uri;
use tokio::sync::Semaphore;

use super::effective::Effective;
use super::raw::{
    DEFAULT_TUNNEL_IDLE_TIMEOUT_SECONDS, EnvOrigins, RawConfig, RawFleet, RawListen, RawLog,
    RawShadow, RawSocure, RawUpstream, Secrets, redis_password,
};
use super::{
    API_KEY_ENV, AdminConfig, Config, DEDUP_KEY_ENV, FleetConfig, FleetOnError, Host, HostPort,
    InterceptConfig, KeyError, ListenConfig, ListenMode, ListenTimeouts, LogConfig, LogFormat,
    LogTarget, MIN_HEADER_BYTES, REDIS_PASSWORD_ENV, Resolve, Secret, ShadowConfig, SocureConfig,
    TlsFiles, UpstreamConfig,
};

/// The most `shadow.max_pending` may be: the shadow log's queue allocates a
/// place per slot at start.
const MAX_PENDING_LIMIT: usize = 1 << 20;

/// Every problem found, in the order found: each section's check reports
/// what is wrong with it and carries on, so one run names every bad key (as
/// vector's `config::compiler` gathers every check's errors before it
/// reports any).
struct Problems<'a> {
    origins: &'a EnvOrigins,
    errors: &'a mut Vec<KeyError>,
    /// Whether the files keys name are tried (a configuration loaded from
    /// a file, for `check-config` and `run`); a text checked on its own
    /// (`Config::from_toml`) names files that need not exist.
    try_files: bool,
    /// Files that could not be opened: reported apart (`Config::unreadable`).
    unreadable: Vec<KeyError>,
}

impl Problems<'_> {
    /// `key`'s value is bad; the error says where it came from.
    fn bad(&mut self, key: &str, message: impl Into<String>) {
        let env = self.origins.get(key).copied();
        self.errors.push(KeyError::new(key, env, message));
    }

    /// `result`'s value, or `None` once its message is reported against `key`.
    fn check<T>(&mut self, key: &str, result: Result<T, String>) -> Option<T> {
        result.map_err(|message| self.bad(key, message)).ok()
    }
}

/// The typed configuration, or `None` with every problem in `errors`.
/// One check per section, in the order their errors have always been
/// named in; the checks that compare two sections follow the later one.
pub(super) fn validate(
    raw: RawConfig,
    secrets: Secrets,
    origins: &EnvOrigins,
    errors: &mut Vec<KeyError>,
    try_files: bool,
) -> Option<Config> {
    let RawConfig {
        listen,
        admin,
        log,
        upstream,
        shadow,
        socure,
        fleet,
    } = raw;
    let Secrets {
        api_key,
        redis_password,
        dedup_key,
    } = secrets;
    if shadow.enabled && api_key.is_none() {
        errors.push(KeyError::new(
            "socure.api_key",
            Some(API_KEY_ENV),
            "missing while shadow mode is enabled",
        ));
    }
    let problems = &mut Problems {
        origins,
        errors,
        try_files,
        unreadable: Vec::new(),
    };
    let listen_keys = listen_section(&listen, problems);
    let admin = admin_section(&admin.address, problems);
    let log = log_section(&log, problems);
    let shared_window = shadow.dedup_window_seconds > 0.0;
    let fleet = fleet_section(fleet, redis_password, dedup_key, shared_window, problems);
    if let (Some(data), Some(admin)) = (listen_keys.address, admin.as_ref()) {
        check_listeners_apart(data, admin.address, problems);
    }
    let mode = listen_mode(listen, problems);
    if let Some(ListenMode::ForwardProxy(intercept)) = &mode {
        let admin_address = admin.as_ref().map(|admin| admin.address);
        check_own_ports(intercept, listen_keys.address, admin_address, problems);
    }
    let upstream = upstream_section(upstream, mode.as_ref(), problems);
    let shadow = shadow_section(shadow, problems);
    let socure = socure_section(socure, api_key, problems);
    let unreadable = std::mem::take(&mut problems.unreadable);
    let config = (|| {
        Some(Config {
            listen: listen_keys.with_mode(mode?)?,
            admin: admin?,
            log: log?,
            upstream: upstream?,
            shadow: shadow?,
            socure: socure?,
            fleet: fleet?,
            // Filled in by `load`, which has the raw tree before it is consumed.
            effective: Effective::default(),
            unreadable: Vec::new(),
        })
    })();
    match config {
        Some(mut config) => {
            config.unreadable = unreadable;
            Some(config)
        }
        // The load fails: the files that cannot be read are among its errors.
        None => {
            problems.errors.extend(unreadable);
            None
        }
    }
}

/// The data and admin listeners cannot share a port on one address, nor
/// on an unspecified address (`0.0.0.0`, `[::]`) and any other: the
/// second bind would fail at start, naming the proxy's own first listener
/// as "another process". Port 0 (the system picks) never clashes.
fn check_listeners_apart(data: SocketAddr, admin: SocketAddr, problems: &mut Problems) {
    // An unspecified address takes its family's port on every address, and
    // `[::]` the IPv4 one too (Linux's default dual stack).
    let covers = |wide: SocketAddr, other: SocketAddr| {
        wide.ip().is_unspecified() && (wide.is_ipv6() || other.is_ipv4())
    };
    let overlap = data.port() == admin.port()
        && data.port() != 0
        && (data.ip() == admin.ip() || covers(data, admin) || covers(admin, data));
    if overlap {
        problems.bad(
            "admin.address",
            format!(
                "{admin} and listen.address {data} are the same port: the admin listener needs a port of its own"
            ),
        );
    }
}

/// `[listen]` but its mode, each value `None` when bad. The mode and its
/// keys are checked after `[fleet]`; the address is kept apart because
/// the mode's checks compare it.
struct ListenKeys {
    address: Option<SocketAddr>,
    max_request_body_bytes: Option<usize>,
    max_header_bytes: Option<usize>,
    max_connections: Option<usize>,
    timeouts: Option<ListenTimeouts>,
    http2_max_concurrent_streams: Option<u32>,
    http1_lane: bool,
}

impl ListenKeys {
    fn with_mode(self, mode: ListenMode) -> Option<ListenConfig> {
        Some(ListenConfig {
            address: self.address?,
            max_request_body_bytes: self.max_request_body_bytes?,
            max_header_bytes: self.max_header_bytes?,
            max_connections: self.max_connections?,
            mode,
            timeouts: self.timeouts?,
            http2_max_concurrent_streams: self.http2_max_concurrent_streams?,
            http1_lane: self.http1_lane,
        })
    }
}

/// `[listen]`: the address, the limits and the timeouts.
fn listen_section(raw: &RawListen, problems: &mut Problems) -> ListenKeys {
    let address = socket_address(&raw.address, "listen.address", "127.0.0.1:8080", problems);
    let max_request_body_bytes = problems.check(
        "listen.max_request_body_bytes",
        positive(raw.max_request_body_bytes, usize::MAX),
    );
    // hyper's smallest read buffer is 8 KiB.
    let max_header_bytes = positive(raw.max_header_bytes, usize::MAX)
        .ok()
        .filter(|n| *n >= MIN_HEADER_BYTES)
        .ok_or_else(|| format!("must be at least {MIN_HEADER_BYTES}"));
    let max_header_bytes = problems.check("listen.max_header_bytes", max_header_bytes);
    let max_connections = problems.check(
        "listen.max_connections",
        positive(raw.max_connections, Semaphore::MAX_PERMITS),
    );
    let timeouts = listen_timeouts(raw, problems);
    let http2_max_concurrent_streams = problems
        .check(
            "listen.http2_max_concurrent_streams",
            positive(raw.http2_max_concurrent_streams, 1 << 16),
        )
        .and_then(|n| u32::try_from(n).ok());
    ListenKeys {
        address,
        max_request_body_bytes,
        max_header_bytes,
        max_connections,
        timeouts,
        http2_max_concurrent_streams,
        http1_lane: raw.http1_lane,
    }
}

/// `key`'s `IP:PORT`; `example` shows the operator one.
fn socket_address(
    text: &str,
    key: &str,
    example: &str,
    problems: &mut Problems,
) -> Option<SocketAddr> {
    let parsed = text
        .parse::<SocketAddr>()
        .map_err(|_| format!("expected HOST:PORT with an IP address, e.g. {example}"));
    problems.check(key, parsed)
}

/// `[admin]`: where the probes and metrics listen.
fn admin_section(address: &str, problems: &mut Problems) -> Option<AdminConfig> {
    let address = socket_address(address, "admin.address", "127.0.0.1:9901", problems)?;
    Some(AdminConfig { address })
}

/// `[log]`: the diagnostics' format and the stats line.
fn log_section(raw: &RawLog, problems: &mut Problems) -> Option<LogConfig> {
    let format = match raw.format.as_str() {
        "auto" => Some(LogFormat::Auto),
        "json" => Some(LogFormat::Json),
        "text" => Some(LogFormat::Text),
        other => {
            problems.bad(
                "log.format",
                format!("expected \"auto\", \"json\" or \"text\", got {other:?}"),
            );
            None
        }
    };
    // 0 turns the stats line off.
    let stats_interval = if raw.stats_interval_seconds == 0.0 {
        Some(None)
    } else {
        problems
            .check(
                "log.stats_interval_seconds",
                seconds(raw.stats_interval_seconds),
            )
            .map(Some)
    };
    Some(LogConfig {
        format: format?,
        stats_interval: stats_interval?,
    })
}

/// The proxy's own ports, as a forward proxy's tunnels see them (both
/// checks only say before start what the proxy refuses at run time).
fn check_own_ports(
    intercept: &InterceptConfig,
    listen: Option<SocketAddr>,
    admin: Option<SocketAddr>,
    problems: &mut Problems,
) {
    if intercept.tunnel_other_hosts {
        // A tunnel to one of the proxy's own ports is refused (it would
        // nest CONNECTs or reach the admin port), so a proxy on 443 could
        // open no tunnel at all: say so now, not with every 403.
        for (key, address) in [("listen.address", listen), ("admin.address", admin)] {
            if address.is_some_and(|a| a.port() == 443) {
                problems.bad(
                    key,
                    "port 443 with listen.tunnel_other_hosts: tunnels to the proxy's own ports are refused, so no tunnel to 443 could open; use another port",
                );
            }
        }
    }
    check_tunnel_allow_own_ports(&intercept.tunnel_allow, listen, admin, problems);
}

/// `[upstream]`: the vendor forwarded to, how it is reached, its
/// timeouts. Its host must be one forward-proxy `mode` can recognise.
fn upstream_section(
    raw: RawUpstream,
    mode: Option<&ListenMode>,
    problems: &mut Problems,
) -> Option<UpstreamConfig> {
    let client_identity = pair_of_files(
        ("upstream.client_cert_file", raw.client_cert_file),
        ("upstream.client_key_file", raw.client_key_file),
        problems,
    );
    let connect_to = raw
        .connect_to
        .as_deref()
        .and_then(|text| problems.check("upstream.connect_to", host_and_port(text)));
    let resolve = resolve(&raw.resolve, &raw.dns_servers, problems);
    let base_url = match raw.base_url.as_deref() {
        None => {
            problems.bad(
                "upstream.base_url",
                "required: the LexisNexis base URL to forward to",
            );
            None
        }
        Some(url) => problems
            .check("upstream.base_url", parse_base_url(url))
            .and_then(|url| {
                let plain = in_clear("the applicant's request and LexisNexis's answer", &url);
                problems.check(
                    "upstream.base_url",
                    refuse_plaintext(plain, raw.allow_plaintext, "upstream"),
                )?;
                Some(url)
            }),
    };
    if let (Some(ListenMode::ForwardProxy(_)), Some(url)) = (mode, &base_url)
        && url.host().is_none_or(|host| Host::parse(host).is_err())
    {
        // Its host is what forward-proxy mode intercepts: one it could not
        // compare would let the vendor's traffic through unshadowed.
        problems.bad(
            "upstream.base_url",
            "in forward_proxy mode the host must be a DNS name or an IP address",
        );
    }
    let timeout = problems.check("upstream.timeout_seconds", seconds(raw.timeout_seconds));
    let connect_timeout = problems.check(
        "upstream.connect_timeout_seconds",
        seconds(raw.connect_timeout_seconds),
    );
    readable("upstream.ca_file", raw.ca_file.as_deref(), problems);
    Some(UpstreamConfig {
        base_url: base_url?,
        timeout: timeout?,
        connect_timeout: connect_timeout?,
        ca_file: raw.ca_file,
        client_identity: client_identity?,
        connect_to,
        resolve: resolve?,
    })
}

/// `upstream.resolve` and the name servers that go with it.
fn resolve(mode: &str, dns_servers: &[String], problems: &mut Problems) -> Option<Resolve> {
    match mode {
        "dns" => {
            // Every bad server is named, not only the first.
            let servers: Vec<Option<SocketAddr>> = dns_servers
                .iter()
                .map(|server| {
                    let parsed = server
                        .parse::<SocketAddr>()
                        .map_err(|_| format!("expected IP:PORT, got {server:?}"));
                    problems.check("upstream.dns_servers", parsed)
                })
                .collect();
            servers
                .into_iter()
                .collect::<Option<Vec<_>>>()
                .map(|servers| Resolve::Dns { servers })
        }
        "system" if dns_servers.is_empty() => Some(Resolve::System),
        "system" => {
            problems.bad(
                "upstream.dns_servers",
                "only used with upstream.resolve = \"dns\"",
            );
            None
        }
        other => {
            problems.bad(
                "upstream.resolve",
                format!("expected \"dns\" or \"system\", got {other:?}"),
            );
            None
        }
    }
}

/// `[shadow]`: what is mirrored, where the lines go, the mirror's bounds.
fn shadow_section(raw: RawShadow, problems: &mut Problems) -> Option<ShadowConfig> {
    let workflow = raw.instant_verify_workflow.unwrap_or_default();
    if workflow.contains('/') {
        problems.bad(
            "shadow.instant_verify_workflow",
            "a workflow name cannot contain '/'",
        );
    } else if workflow.is_empty() && raw.enabled {
        problems.bad(
            "shadow.instant_verify_workflow",
            "required when shadow mode is enabled: without it no request is recognised as InstantVerify",
        );
    }
    let log_path = match raw.log_path.as_str() {
        "" => {
            problems.bad(
                "shadow.log_path",
                "empty: use \"-\" for stdout or a file path",
            );
            None
        }
        "-" => Some(LogTarget::Stdout),
        path => Some(LogTarget::File(PathBuf::from(path))),
    };
    let mut size = |key: &str, value: u64, max: usize| problems.check(key, positive(value, max));
    let max_body_bytes = size("shadow.max_body_bytes", raw.max_body_bytes, usize::MAX);
    let max_in_flight = size(
        "shadow.max_in_flight",
        raw.max_in_flight,
        Semaphore::MAX_PERMITS,
    );
    // The shadow log's queue has a place per slot, allocated at start.
    let max_pending = size("shadow.max_pending", raw.max_pending, MAX_PENDING_LIMIT);
    let max_buffered_bytes = size(
        "shadow.max_buffered_bytes",
        raw.max_buffered_bytes,
        usize::MAX,
    );
    let queue_timeout = problems.check(
        "shadow.queue_timeout_seconds",
        queue_timeout(raw.queue_timeout_seconds),
    );
    let shutdown_grace = problems.check(
        "shadow.shutdown_grace_seconds",
        seconds(raw.shutdown_grace_seconds),
    );
    let sample_basis_points =
        problems.check("shadow.sample_percent", basis_points(raw.sample_percent));
    let dedup_window = problems.check(
        "shadow.dedup_window_seconds",
        dedup_window(raw.dedup_window_seconds),
    );
    Some(ShadowConfig {
        enabled: raw.enabled,
        instant_verify_workflow: workflow,
        log_path: log_path?,
        max_body_bytes: max_body_bytes?,
        max_in_flight: max_in_flight?,
        queue_timeout: queue_timeout?,
        max_pending: max_pending?,
        max_buffered_bytes: max_buffered_bytes?,
        shutdown_grace: shutdown_grace?,
        sample_basis_points: sample_basis_points?,
        dedup_window: dedup_window?,
    })
}

/// A percentage from 0 to 100 in whole basis points: 0.01% is as fine as
/// a sample needs.
fn basis_points(percent: f64) -> Result<u32, String> {
    if percent.is_finite() && (0.0..=100.0).contains(&percent) {
        Ok((percent * 100.0).round() as u32)
    } else {
        Err(format!("expected a number from 0 to 100, got {percent}"))
    }
}

/// How long a Socure call waits for a place: from 0 (dropped at once) to a
/// minute (a waiting request holds its slot, so a longer wait only sheds
/// more at the door).
fn queue_timeout(value: f64) -> Result<Duration, String> {
    if value.is_finite() && (0.0..=60.0).contains(&value) {
        Ok(Duration::from_secs_f64(value))
    } else {
        Err(format!(
            "expected a number of seconds from 0 to 60, got {value}"
        ))
    }
}

/// The duplicate window; 0 turns it off.
fn dedup_window(value: f64) -> Result<Duration, String> {
    if value == 0.0 {
        return Ok(Duration::ZERO);
    }
    seconds(value).map_err(|message| format!("{message} (or 0: off)"))
}

/// `[socure]`, with the API key only the environment gives (checked first).
fn socure_section(
    raw: RawSocure,
    api_key: Option<Secret>,
    problems: &mut Problems,
) -> Option<SocureConfig> {
    let base_url = problems
        .check("socure.base_url", parse_base_url(&raw.base_url))
        .and_then(|url| {
            let plain = in_clear("the API key and the applicant's full PII", &url);
            problems.check(
                "socure.base_url",
                refuse_plaintext(plain, raw.allow_plaintext, "socure"),
            )?;
            Some(url)
        });
    let timeout = problems.check("socure.timeout_seconds", seconds(raw.timeout_seconds));
    readable("socure.ca_file", raw.ca_file.as_deref(), problems);
    Some(SocureConfig {
        base_url: base_url?,
        timeout: timeout?,
        api_key,
        ca_file: raw.ca_file,
        max_calls_per_day: raw.max_calls_per_day.into(),
    })
}

/// `[fleet]`, with the secrets only the environment gives. `None` (an
/// error) when a key is bad; `Some(None)` without a Redis URL.
/// `shared_window`: the duplicate window is on, so the fleet shares it.
fn fleet_section(
    raw: RawFleet,
    password: Option<Secret>,
    dedup_key: Option<Secret>,
    shared_window: bool,
    problems: &mut Problems,
) -> Option<Option<FleetConfig>> {
    let Some(url) = raw.redis_url else {
        return Some(None);
    };
    let scheme_ok = url.starts_with("redis://") || url.starts_with("rediss://");
    if !scheme_ok {
        problems.bad(
            "fleet.redis_url",
            "expected redis://HOST:PORT or rediss://HOST:PORT (TLS)",
        );
    }
    // The password goes into the URL, where redis-rs reads it.
    let url = match (password, redis_password(&url)) {
        (Some(_), Some(_)) => {
            problems.bad(
                "fleet.redis_url",
                format!("has a password, and {REDIS_PASSWORD_ENV} gives another: give one"),
            );
            None
        }
        (Some(password), None) => with_password(&url, &password),
        (None, _) => Some(url),
    };
    let timeout = (raw.timeout_ms > 0 && raw.timeout_ms <= 60_000)
        .then(|| Duration::from_millis(raw.timeout_ms))
        .or_else(|| {
            problems.bad(
                "fleet.timeout_ms",
                format!(
                    "expected milliseconds above 0 and at most 60000, got {}",
                    raw.timeout_ms
                ),
            );
            None
        });
    let on_error = match raw.on_error.parse::<FleetOnError>() {
        Ok(on_error) => Some(on_error),
        Err(_) => {
            problems.bad(
                "fleet.on_error",
                format!("expected \"skip\" or \"local\", got {:?}", raw.on_error),
            );
            None
        }
    };
    if shared_window && dedup_key.is_none() {
        problems.bad(
            "fleet.dedup_key",
            format!(
                "{DEDUP_KEY_ENV} is required for a duplicate window shared by the fleet: the same key on every replica"
            ),
        );
        return None;
    }
    readable("fleet.ca_file", raw.ca_file.as_deref(), problems);
    Some(Some(FleetConfig {
        redis_url: Secret::new(url.filter(|_| scheme_ok)?),
        timeout: timeout?,
        on_error: on_error?,
        ca_file: raw.ca_file,
        key_prefix: raw.key_prefix,
        dedup_key,
    }))
}

/// `url` with `password` percent-encoded into its user info.
fn with_password(url: &str, password: &Secret) -> Option<String> {
    url.split_once("://").map(|(scheme, rest)| {
        let (user, host) = rest.rsplit_once('@').map_or(("", rest), |(u, h)| (u, h));
        let encoded: String = password
            .expose()
            .bytes()
            .map(|b| {
                if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                    char::from(b).to_string()
                } else {
                    format!("%{b:02X}")
                }
            })
            .collect();
        format!("{scheme}://{user}:{encoded}@{host}")
    })
}

/// The `[listen]` timeouts, each checked (every bad one is reported).
fn listen_timeouts(raw: &RawListen, problems: &mut Problems) -> Option<ListenTimeouts> {
    let mut timeout =
        |key: &str, value: f64| problems.check(&format!("listen.{key}"), seconds(value));
    let header = timeout("header_timeout_seconds", raw.header_timeout_seconds);
    let idle = timeout("idle_timeout_seconds", raw.idle_timeout_seconds);
    let request_body_grace = timeout(
        "request_body_timeout_seconds",
        raw.request_body_timeout_seconds,
    );
    let write = timeout("write_timeout_seconds", raw.write_timeout_seconds);
    let max_connection_age = timeout("max_connection_age_seconds", raw.max_connection_age_seconds);
    Some(ListenTimeouts {
        header: header?,
        idle: idle?,
        request_body_grace: request_body_grace?,
        // 0 turns the rate off: then only the grace period bounds a body.
        request_body_min_rate: raw.request_body_min_bytes_per_second,
        write: write?,
        max_connection_age: max_connection_age?,
    })
}

/// `[listen] mode` and the keys that go with it. Both pairs of files are
/// checked whatever the mode, then the mode's own keys.
fn listen_mode(mut raw: RawListen, problems: &mut Problems) -> Option<ListenMode> {
    let tls = pair_of_files(
        ("listen.tls_cert_file", raw.tls_cert_file.take()),
        ("listen.tls_key_file", raw.tls_key_file.take()),
        problems,
    );
    let ca = pair_of_files(
        ("listen.ca_cert_file", raw.ca_cert_file.take()),
        ("listen.ca_key_file", raw.ca_key_file.take()),
        problems,
    );
    match raw.mode.as_str() {
        "reverse" => reverse_mode(&raw, tls, ca.as_ref(), problems),
        "forward_proxy" => forward_proxy_mode(raw, tls.as_ref(), ca, problems),
        other => {
            problems.bad(
                "listen.mode",
                format!("expected \"reverse\" or \"forward_proxy\", got {other:?}"),
            );
            None
        }
    }
}

/// `mode = "reverse"`: every forward-proxy key set is named.
fn reverse_mode(
    raw: &RawListen,
    tls: Option<Option<TlsFiles>>,
    ca: Option<&Option<TlsFiles>>,
    problems: &mut Problems,
) -> Option<ListenMode> {
    let forward_only = [
        ("listen.ca_cert_file", ca.is_some_and(Option::is_some)),
        ("listen.intercept_hosts", !raw.intercept_hosts.is_empty()),
        ("listen.tunnel_other_hosts", raw.tunnel_other_hosts),
        ("listen.tunnel_allow", !raw.tunnel_allow.is_empty()),
        (
            "listen.tunnel_idle_timeout_seconds",
            raw.tunnel_idle_timeout_seconds.is_some(),
        ),
    ];
    for (key, set) in forward_only {
        if set {
            problems.bad(key, "only used with listen.mode = \"forward_proxy\"");
        }
    }
    Some(ListenMode::Reverse { tls: tls? })
}

/// `mode = "forward_proxy"`: the CA it signs with, the hosts it
/// intercepts, the tunnels it opens.
fn forward_proxy_mode(
    raw: RawListen,
    tls: Option<&Option<TlsFiles>>,
    ca: Option<Option<TlsFiles>>,
    problems: &mut Problems,
) -> Option<ListenMode> {
    if tls.is_some_and(Option::is_some) {
        problems.bad(
            "listen.tls_cert_file",
            "not used with listen.mode = \"forward_proxy\": the app reaches the proxy over plain HTTP and TLS runs inside CONNECT",
        );
    }
    let mut extra_hosts = Vec::new();
    for host in raw.intercept_hosts {
        match HostPort::parse_with_default(&host, 443) {
            Ok(host) => extra_hosts.push(host),
            Err(err) => problems.bad(
                "listen.intercept_hosts",
                format!("expected HOST or HOST:PORT (443 if not given), got {host:?}: {err}"),
            ),
        }
    }
    let mut tunnel_allow = Vec::new();
    for entry in raw.tunnel_allow {
        match HostPort::parse(&entry) {
            Ok(entry) => tunnel_allow.push(entry),
            Err(err) => problems.bad(
                "listen.tunnel_allow",
                format!(
                    "expected HOST:PORT (a host name, an IPv4 address or a bracketed IPv6 one, and a port), got {entry:?}: {err}"
                ),
            ),
        }
    }
    let tunnel_idle_timeout = problems.check(
        "listen.tunnel_idle_timeout_seconds",
        seconds(
            raw.tunnel_idle_timeout_seconds
                .unwrap_or(DEFAULT_TUNNEL_IDLE_TIMEOUT_SECONDS),
        ),
    );
    let Some(ca) = ca? else {
        problems.bad(
            "listen.ca_cert_file",
            "required with listen.mode = \"forward_proxy\" (with listen.ca_key_file); `socure-shadow-proxy ca init DIR` makes one",
        );
        return None;
    };
    Some(ListenMode::ForwardProxy(InterceptConfig {
        ca,
        extra_hosts,
        tunnel_other_hosts: raw.tunnel_other_hosts,
        tunnel_allow,
        tunnel_idle_timeout: tunnel_idle_timeout?,
    }))
}

/// A `tunnel_allow` entry that names the proxy's own listen or admin port
/// on this host: a tunnel there is a `CONNECT` to the proxy itself, which
/// can nest without end (or reach the admin port from the data port). The
/// proxy refuses such a tunnel at run time whatever the list says; this
/// says so before start. Only what the config shows is caught here (a port
/// bound as 0, or an address that is this host's under another name, is
/// caught at run time).
fn check_tunnel_allow_own_ports(
    entries: &[HostPort],
    listen: Option<SocketAddr>,
    admin: Option<SocketAddr>,
    problems: &mut Problems,
) {
    let own = [("listen.address", listen), ("admin.address", admin)];
    for entry in entries {
        let local = match &entry.host {
            Host::Name(name) => name == "localhost" || name.ends_with(".localhost"),
            Host::Ip(ip) => {
                let ip = ip.to_canonical();
                ip.is_loopback()
                    || ip.is_unspecified()
                    || own.iter().any(|(_, address)| {
                        address.is_some_and(|address| address.ip().to_canonical() == ip)
                    })
            }
        };
        let port_of = own.iter().find(|(_, address)| {
            address.is_some_and(|address| address.port() != 0 && address.port() == entry.port)
        });
        if let (true, Some((key, _))) = (local, port_of) {
            problems.bad(
                "listen.tunnel_allow",
                format!(
                    "{entry} is this proxy's own {key}: a tunnel there would be a CONNECT to the proxy itself; remove the entry"
                ),
            );
        }
    }
}

/// Tries to open the file `key` names, when it names one; one that cannot
/// be read is noted (`Problems::unreadable`). The preflight reads and
/// parses each file whole later; this check is here so that a load that
/// fails on other keys names the files that cannot be read too.
fn readable(key: &str, path: Option<&Path>, problems: &mut Problems) {
    let Some(path) = path.filter(|_| problems.try_files) else {
        return;
    };
    let opened = std::fs::File::open(path).and_then(|file| {
        if file.metadata()?.is_dir() {
            Err(std::io::Error::other("it is a directory"))
        } else {
            Ok(())
        }
    });
    if let Err(err) = opened {
        let env = problems.origins.get(key).copied();
        problems.unreadable.push(KeyError::new(
            key,
            env,
            format!(
                "cannot read {}: {}",
                path.display(),
                crate::error::io_reason(&err)
            ),
        ));
    }
}

/// Two keys that are set together or not at all. `None` when only one is.
fn pair_of_files(
    (cert_key, cert): (&str, Option<PathBuf>),
    (key_key, key): (&str, Option<PathBuf>),
    problems: &mut Problems,
) -> Option<Option<TlsFiles>> {
    readable(cert_key, cert.as_deref(), problems);
    readable(key_key, key.as_deref(), problems);
    match (cert, key) {
        (Some(cert_file), Some(key_file)) => Some(Some(TlsFiles {
            cert_file,
            key_file,
        })),
        (None, None) => Some(None),
        (Some(_), None) => {
            problems.bad(key_key, format!("required with {cert_key}"));
            None
        }
        (None, Some(_)) => {
            problems.bad(cert_key, format!("required with {key_key}"));
            None
        }
    }
}

/// `HOST:PORT`, where HOST is a name, an IPv4 address or a bracketed IPv6 one.
fn host_and_port(text: &str) -> Result<(String, u16), String> {
    let authority: http::uri::Authority = text
        .parse()
        .map_err(|_| format!("expected HOST:PORT, got {text:?}"))?;
    match authority.port_u16() {
        Some(port) if !authority.host().is_empty() && !text.contains('@') => {
            Ok((authority.host().to_owned(), port))
        }
        _ => Err(format!("expected HOST:PORT, got {text:?}")),
    }
}

/// An http(s) URL with a host and nothing after it but an optional `/`.
fn parse_base_url(text: &str) -> Result<Uri, String> {
    let uri: Uri = text
        .parse()
        .map_err(|_| format!("not a valid URL: {text:?}"))?;
    match uri.scheme_str() {
        Some("http" | "https") => {}
        _ => return Err(format!("expected an http:// or https:// URL, got {text:?}")),
    }
    if uri.host().is_none_or(str::is_empty) {
        return Err(format!("no host in {text:?}"));
    }
    if uri.query().is_some() || !matches!(uri.path(), "" | "/") {
        return Err(format!(
            "{text:?} has a path or query: give scheme, host and port only (request paths are forwarded as received)"
        ));
    }
    Ok(uri)
}

/// Why `url` would carry `what` in clear text over the network: `http://`
/// to a host that is not a loopback address; `None` when it would not.
fn in_clear(what: &str, url: &Uri) -> Option<String> {
    if url.scheme_str() != Some("http") {
        return None;
    }
    let host = url.host().unwrap_or_default();
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let loopback = host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    (!loopback)
        .then(|| format!("http:// to {host}, not a loopback address, sends {what} in clear text"))
}

/// A plaintext URL is an error unless the section allows it.
fn refuse_plaintext(plain: Option<String>, allowed: bool, section: &str) -> Result<(), String> {
    match plain {
        Some(why) if !allowed => Err(format!(
            "{why}: use https://, or set [{section}] allow_plaintext = true (only for tests, or behind a mesh that encrypts the hop)"
        )),
        _ => Ok(()),
    }
}

fn positive(value: u64, max: usize) -> Result<usize, String> {
    match usize::try_from(value) {
        Ok(n) if n > 0 && n <= max => Ok(n),
        _ => Err(format!("must be a whole number from 1 to {max}")),
    }
}

fn seconds(value: f64) -> Result<Duration, String> {
    if value.is_finite() && value > 0.0 && value <= 86_400.0 {
        Ok(Duration::from_secs_f64(value))
    } else {
        Err(format!(
            "expected a number of seconds above 0 and at most 86400, got {value}"
        ))
    }
}
