//! Validation: the raw values become the typed configuration, and every bad key is reported with where its value came from.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use http::Uri;
use tokio::sync::Semaphore;

use super::effective::Effective;
use super::raw::{
    DEFAULT_TUNNEL_IDLE_TIMEOUT_SECONDS, EnvOrigins, RawConfig, RawFleet, RawListen, Secrets,
    redis_password,
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

pub(super) fn validate(
    raw: RawConfig,
    secrets: Secrets,
    origins: &EnvOrigins,
    errors: &mut Vec<KeyError>,
) -> Option<Config> {
    let Secrets {
        api_key,
        redis_password,
        dedup_key,
    } = secrets;
    if raw.shadow.enabled && api_key.is_none() {
        errors.push(KeyError::new(
            "socure.api_key",
            Some(API_KEY_ENV),
            "missing while shadow mode is enabled",
        ));
    }
    let mut bad = |key: &str, message: String| {
        errors.push(KeyError::new(key, origins.get(key).copied(), message))
    };

    let address = raw
        .listen
        .address
        .parse::<SocketAddr>()
        .map_err(|_| {
            bad(
                "listen.address",
                "expected HOST:PORT with an IP address, e.g. 127.0.0.1:8080".into(),
            )
        })
        .ok();

    let max_request_body_bytes = positive(raw.listen.max_request_body_bytes, usize::MAX)
        .map_err(|message| bad("listen.max_request_body_bytes", message))
        .ok();
    // hyper's smallest read buffer is 8 KiB.
    let max_header_bytes = positive(raw.listen.max_header_bytes, usize::MAX)
        .ok()
        .filter(|n| *n >= MIN_HEADER_BYTES)
        .ok_or_else(|| {
            bad(
                "listen.max_header_bytes",
                format!("must be at least {MIN_HEADER_BYTES}"),
            )
        })
        .ok();

    let max_connections = positive(raw.listen.max_connections, Semaphore::MAX_PERMITS)
        .map_err(|message| bad("listen.max_connections", message))
        .ok();
    let timeouts = listen_timeouts(&raw.listen, &mut bad);
    let http2_max_concurrent_streams = positive(raw.listen.http2_max_concurrent_streams, 1 << 16)
        .map_err(|message| bad("listen.http2_max_concurrent_streams", message))
        .ok()
        .and_then(|n| u32::try_from(n).ok());

    let admin_address = raw
        .admin
        .address
        .parse::<SocketAddr>()
        .map_err(|_| {
            bad(
                "admin.address",
                "expected HOST:PORT with an IP address, e.g. 127.0.0.1:9901".into(),
            )
        })
        .ok();
    let log_format = match raw.log.format.as_str() {
        "auto" => Some(LogFormat::Auto),
        "json" => Some(LogFormat::Json),
        "text" => Some(LogFormat::Text),
        other => {
            bad(
                "log.format",
                format!("expected \"auto\", \"json\" or \"text\", got {other:?}"),
            );
            None
        }
    };
    // 0 turns the stats line off.
    let stats_interval = if raw.log.stats_interval_seconds == 0.0 {
        Some(None)
    } else {
        seconds(raw.log.stats_interval_seconds)
            .map(Some)
            .map_err(|message| bad("log.stats_interval_seconds", message))
            .ok()
    };
    let fleet = fleet(
        raw.fleet,
        redis_password,
        dedup_key,
        raw.shadow.dedup_window_seconds > 0.0,
        &mut bad,
    );
    let mode = listen_mode(raw.listen, &mut bad);
    if let Some(ListenMode::ForwardProxy(intercept)) = &mode
        && intercept.tunnel_other_hosts
    {
        // A tunnel to one of the proxy's own ports is refused (it would
        // nest CONNECTs or reach the admin port), so a proxy on 443 could
        // open no tunnel at all: say so now, not with every 403.
        for (key, address) in [
            ("listen.address", address),
            ("admin.address", admin_address),
        ] {
            if address.is_some_and(|a| a.port() == 443) {
                bad(
                    key,
                    "port 443 with listen.tunnel_other_hosts: tunnels to the proxy's own ports are refused, so no tunnel to 443 could open; use another port".into(),
                );
            }
        }
    }
    if let Some(ListenMode::ForwardProxy(intercept)) = &mode {
        check_tunnel_allow_own_ports(&intercept.tunnel_allow, address, admin_address, &mut bad);
    }
    let client_identity = pair_of_files(
        ("upstream.client_cert_file", raw.upstream.client_cert_file),
        ("upstream.client_key_file", raw.upstream.client_key_file),
        &mut bad,
    );
    let connect_to = raw.upstream.connect_to.as_deref().and_then(|text| {
        host_and_port(text)
            .map_err(|message| bad("upstream.connect_to", message))
            .ok()
    });
    let resolve = match raw.upstream.resolve.as_str() {
        "dns" => {
            let servers: Vec<Option<SocketAddr>> = raw
                .upstream
                .dns_servers
                .iter()
                .map(|server| {
                    server
                        .parse::<SocketAddr>()
                        .map_err(|_| {
                            bad(
                                "upstream.dns_servers",
                                format!("expected IP:PORT, got {server:?}"),
                            )
                        })
                        .ok()
                })
                .collect();
            servers
                .into_iter()
                .collect::<Option<Vec<_>>>()
                .map(|servers| Resolve::Dns { servers })
        }
        "system" if raw.upstream.dns_servers.is_empty() => Some(Resolve::System),
        "system" => {
            bad(
                "upstream.dns_servers",
                "only used with upstream.resolve = \"dns\"".into(),
            );
            None
        }
        other => {
            bad(
                "upstream.resolve",
                format!("expected \"dns\" or \"system\", got {other:?}"),
            );
            None
        }
    };

    let upstream_url = match raw.upstream.base_url.as_deref() {
        None => {
            bad(
                "upstream.base_url",
                "required: the LexisNexis base URL to forward to".into(),
            );
            None
        }
        Some(url) => parse_base_url(url)
            .map_err(|message| bad("upstream.base_url", message))
            .ok(),
    };
    if let (Some(ListenMode::ForwardProxy(_)), Some(url)) = (&mode, &upstream_url)
        && url.host().is_none_or(|host| Host::parse(host).is_err())
    {
        // Its host is what forward-proxy mode intercepts: one it could not
        // compare would let the vendor's traffic through unshadowed.
        bad(
            "upstream.base_url",
            "in forward_proxy mode the host must be a DNS name or an IP address".into(),
        );
    }
    let upstream_timeout = seconds(raw.upstream.timeout_seconds)
        .map_err(|message| bad("upstream.timeout_seconds", message))
        .ok();
    let connect_timeout = seconds(raw.upstream.connect_timeout_seconds)
        .map_err(|message| bad("upstream.connect_timeout_seconds", message))
        .ok();

    let workflow = raw.shadow.instant_verify_workflow.unwrap_or_default();
    if workflow.contains('/') {
        bad(
            "shadow.instant_verify_workflow",
            "a workflow name cannot contain '/'".into(),
        );
    } else if workflow.is_empty() && raw.shadow.enabled {
        bad(
            "shadow.instant_verify_workflow",
            "required when shadow mode is enabled: without it no request is recognised as InstantVerify".into(),
        );
    }
    let log_path = match raw.shadow.log_path.as_str() {
        "" => {
            bad(
                "shadow.log_path",
                "empty: use \"-\" for stdout or a file path".into(),
            );
            None
        }
        "-" => Some(LogTarget::Stdout),
        path => Some(LogTarget::File(PathBuf::from(path))),
    };
    let max_body_bytes = positive(raw.shadow.max_body_bytes, usize::MAX)
        .map_err(|message| bad("shadow.max_body_bytes", message))
        .ok();
    let max_in_flight = positive(raw.shadow.max_in_flight, Semaphore::MAX_PERMITS)
        .map_err(|message| bad("shadow.max_in_flight", message))
        .ok();
    // The shadow log's queue has a place per slot, allocated at start.
    let max_pending = positive(raw.shadow.max_pending, MAX_PENDING_LIMIT)
        .map_err(|message| bad("shadow.max_pending", message))
        .ok();
    let max_buffered_bytes = positive(raw.shadow.max_buffered_bytes, usize::MAX)
        .map_err(|message| bad("shadow.max_buffered_bytes", message))
        .ok();
    let shutdown_grace = seconds(raw.shadow.shutdown_grace_seconds)
        .map_err(|message| bad("shadow.shutdown_grace_seconds", message))
        .ok();

    let sample_basis_points = {
        let percent = raw.shadow.sample_percent;
        if percent.is_finite() && (0.0..=100.0).contains(&percent) {
            // Whole basis points: 0.01% is as fine as a sample needs.
            Some((percent * 100.0).round() as u32)
        } else {
            bad(
                "shadow.sample_percent",
                format!("expected a number from 0 to 100, got {percent}"),
            );
            None
        }
    };
    let dedup_window = if raw.shadow.dedup_window_seconds == 0.0 {
        Some(Duration::ZERO)
    } else {
        seconds(raw.shadow.dedup_window_seconds)
            .map_err(|message| {
                bad(
                    "shadow.dedup_window_seconds",
                    format!("{message} (or 0: off)"),
                )
            })
            .ok()
    };
    let socure_url = parse_base_url(&raw.socure.base_url)
        .map_err(|message| bad("socure.base_url", message))
        .ok();
    let socure_timeout = seconds(raw.socure.timeout_seconds)
        .map_err(|message| bad("socure.timeout_seconds", message))
        .ok();
    Some(Config {
        listen: ListenConfig {
            address: address?,
            max_request_body_bytes: max_request_body_bytes?,
            max_header_bytes: max_header_bytes?,
            max_connections: max_connections?,
            mode: mode?,
            timeouts: timeouts?,
            http2_max_concurrent_streams: http2_max_concurrent_streams?,
        },
        admin: AdminConfig {
            address: admin_address?,
        },
        log: LogConfig {
            format: log_format?,
            stats_interval: stats_interval?,
        },
        upstream: UpstreamConfig {
            base_url: upstream_url?,
            timeout: upstream_timeout?,
            connect_timeout: connect_timeout?,
            ca_file: raw.upstream.ca_file,
            client_identity: client_identity?,
            connect_to,
            resolve: resolve?,
        },
        shadow: ShadowConfig {
            enabled: raw.shadow.enabled,
            instant_verify_workflow: workflow,
            log_path: log_path?,
            max_body_bytes: max_body_bytes?,
            max_in_flight: max_in_flight?,
            max_pending: max_pending?,
            max_buffered_bytes: max_buffered_bytes?,
            shutdown_grace: shutdown_grace?,
            sample_basis_points: sample_basis_points?,
            dedup_window: dedup_window?,
        },
        socure: SocureConfig {
            base_url: socure_url?,
            timeout: socure_timeout?,
            api_key,
            ca_file: raw.socure.ca_file,
            max_calls_per_day: raw.socure.max_calls_per_day,
        },
        fleet: fleet?,
        // Filled in by `load`, which has the raw tree before it is consumed.
        effective: Effective::default(),
    })
}

/// `[fleet]`, with the secrets only the environment gives. `None` (an
/// error) when a key is bad; `Some(None)` without a Redis URL.
fn fleet(
    raw: RawFleet,
    password: Option<Secret>,
    dedup_key: Option<Secret>,
    dedup_window: bool,
    bad: &mut impl FnMut(&str, String),
) -> Option<Option<FleetConfig>> {
    let Some(url) = raw.redis_url else {
        return Some(None);
    };
    let scheme_ok = url.starts_with("redis://") || url.starts_with("rediss://");
    if !scheme_ok {
        bad(
            "fleet.redis_url",
            "expected redis://HOST:PORT or rediss://HOST:PORT (TLS)".into(),
        );
    }
    // The password goes into the URL, where redis-rs reads it.
    let url = match (password, redis_password(&url)) {
        (Some(_), Some(_)) => {
            bad(
                "fleet.redis_url",
                format!("has a password, and {REDIS_PASSWORD_ENV} gives another: give one"),
            );
            None
        }
        (Some(password), None) => url.split_once("://").map(|(scheme, rest)| {
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
        }),
        (None, _) => Some(url),
    };
    let timeout = (raw.timeout_ms > 0 && raw.timeout_ms <= 60_000)
        .then(|| Duration::from_millis(raw.timeout_ms))
        .or_else(|| {
            bad(
                "fleet.timeout_ms",
                format!(
                    "expected milliseconds above 0 and at most 60000, got {}",
                    raw.timeout_ms
                ),
            );
            None
        });
    let on_error = match raw.on_error.as_str() {
        "skip" => Some(FleetOnError::Skip),
        "local" => Some(FleetOnError::Local),
        other => {
            bad(
                "fleet.on_error",
                format!("expected \"skip\" or \"local\", got {other:?}"),
            );
            None
        }
    };
    if dedup_window && dedup_key.is_none() {
        bad(
            "fleet.dedup_key",
            format!(
                "{DEDUP_KEY_ENV} is required for a duplicate window shared by the fleet: the same key on every replica"
            ),
        );
        return None;
    }
    Some(Some(FleetConfig {
        redis_url: Secret::new(url.filter(|_| scheme_ok)?),
        timeout: timeout?,
        on_error: on_error?,
        ca_file: raw.ca_file,
        key_prefix: raw.key_prefix,
        dedup_key,
    }))
}

/// The `[listen]` timeouts, each checked (every bad one is reported).
fn listen_timeouts(raw: &RawListen, bad: &mut impl FnMut(&str, String)) -> Option<ListenTimeouts> {
    let mut timeout = |key: &str, value: f64| {
        seconds(value)
            .map_err(|message| bad(&format!("listen.{key}"), message))
            .ok()
    };
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

/// `[listen] mode` and the keys that go with it.
fn listen_mode(raw: RawListen, bad: &mut impl FnMut(&str, String)) -> Option<ListenMode> {
    let tls = pair_of_files(
        ("listen.tls_cert_file", raw.tls_cert_file),
        ("listen.tls_key_file", raw.tls_key_file),
        bad,
    );
    let ca = pair_of_files(
        ("listen.ca_cert_file", raw.ca_cert_file),
        ("listen.ca_key_file", raw.ca_key_file),
        bad,
    );
    match raw.mode.as_str() {
        "reverse" => {
            let forward_only = [
                (
                    "listen.ca_cert_file",
                    ca.as_ref().is_some_and(Option::is_some),
                ),
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
                    bad(key, "only used with listen.mode = \"forward_proxy\"".into());
                }
            }
            Some(ListenMode::Reverse { tls: tls? })
        }
        "forward_proxy" => {
            if tls.as_ref().is_some_and(Option::is_some) {
                bad(
                    "listen.tls_cert_file",
                    "not used with listen.mode = \"forward_proxy\": the app reaches the proxy over plain HTTP and TLS runs inside CONNECT".into(),
                );
            }
            let mut extra_hosts = Vec::new();
            for host in raw.intercept_hosts {
                match HostPort::parse_with_default(&host, 443) {
                    Ok(host) => extra_hosts.push(host),
                    Err(err) => bad(
                        "listen.intercept_hosts",
                        format!(
                            "expected HOST or HOST:PORT (443 if not given), got {host:?}: {err}"
                        ),
                    ),
                }
            }
            let mut tunnel_allow = Vec::new();
            for entry in raw.tunnel_allow {
                match HostPort::parse(&entry) {
                    Ok(entry) => tunnel_allow.push(entry),
                    Err(err) => bad(
                        "listen.tunnel_allow",
                        format!(
                            "expected HOST:PORT (a host name, an IPv4 address or a bracketed IPv6 one, and a port), got {entry:?}: {err}"
                        ),
                    ),
                }
            }
            let tunnel_idle_timeout = seconds(
                raw.tunnel_idle_timeout_seconds
                    .unwrap_or(DEFAULT_TUNNEL_IDLE_TIMEOUT_SECONDS),
            )
            .map_err(|message| bad("listen.tunnel_idle_timeout_seconds", message))
            .ok();
            match ca? {
                Some(ca) => Some(ListenMode::ForwardProxy(InterceptConfig {
                    ca,
                    extra_hosts,
                    tunnel_other_hosts: raw.tunnel_other_hosts,
                    tunnel_allow,
                    tunnel_idle_timeout: tunnel_idle_timeout?,
                })),
                None => {
                    bad(
                        "listen.ca_cert_file",
                        "required with listen.mode = \"forward_proxy\" (with listen.ca_key_file); `socure-shadow-proxy ca init DIR` makes one".into(),
                    );
                    None
                }
            }
        }
        other => {
            bad(
                "listen.mode",
                format!("expected \"reverse\" or \"forward_proxy\", got {other:?}"),
            );
            None
        }
    }
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
    bad: &mut impl FnMut(&str, String),
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
            bad(
                "listen.tunnel_allow",
                format!(
                    "{entry} is this proxy's own {key}: a tunnel there would be a CONNECT to the proxy itself; remove the entry"
                ),
            );
        }
    }
}

/// Two keys that are set together or not at all. `None` when only one is.
fn pair_of_files(
    (cert_key, cert): (&str, Option<PathBuf>),
    (key_key, key): (&str, Option<PathBuf>),
    bad: &mut impl FnMut(&str, String),
) -> Option<Option<TlsFiles>> {
    match (cert, key) {
        (Some(cert_file), Some(key_file)) => Some(Some(TlsFiles {
            cert_file,
            key_file,
        })),
        (None, None) => Some(None),
        (Some(_), None) => {
            bad(key_key, format!("required with {cert_key}"));
            None
        }
        (None, Some(_)) => {
            bad(cert_key, format!("required with {key_key}"));
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
