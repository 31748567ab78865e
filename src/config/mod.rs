//! Typed configuration: the TOML file, environment overrides, and validation that names every bad key.
//!
//! Loading is three steps, each testable alone: the file is parsed into a
//! TOML tree; environment variables (read through [`Env`], so tests pass a
//! map instead of mutating the process) overwrite keys in that tree; the tree
//! is deserialized with unknown keys refused and then validated. Every problem
//! found is reported, one line per key, before anything binds a port.

use std::collections::HashMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use http::Uri;
use serde::Deserialize;
use tokio::sync::Semaphore;

/// Where environment variables come from. The process environment in
/// production, a map in tests.
pub trait Env {
    fn var(&self, name: &str) -> Option<String>;
}

/// The real process environment.
pub struct ProcessEnv;

impl Env for ProcessEnv {
    fn var(&self, name: &str) -> Option<String> {
        std::env::var(name).ok()
    }
}

impl Env for HashMap<String, String> {
    fn var(&self, name: &str) -> Option<String> {
        self.get(name).cloned()
    }
}

/// The smallest request-head limit hyper can enforce.
pub const MIN_HEADER_BYTES: usize = 8192;

/// The Socure API key's only source. identity-idp calls it `socure_idplus_api_key`.
pub const API_KEY_ENV: &str = "SOCURE_IDPLUS_API_KEY";

/// How an environment string becomes a TOML value.
#[derive(Clone, Copy)]
enum EnvKind {
    Bool,
    Number,
    Text,
}

/// Environment overrides: variable, `section.key`, kind. The first four are
/// identity-idp's own `application.yml` names, upper-cased, so operators who
/// know the IdP find them where they expect.
const ENV_OVERRIDES: &[(&str, &str, &str, EnvKind)] = &[
    (
        "IDV_SOCURE_SHADOW_MODE_ENABLED",
        "shadow",
        "enabled",
        EnvKind::Bool,
    ),
    (
        "LEXISNEXIS_INSTANT_VERIFY_WORKFLOW",
        "shadow",
        "instant_verify_workflow",
        EnvKind::Text,
    ),
    (
        "SOCURE_IDPLUS_BASE_URL",
        "socure",
        "base_url",
        EnvKind::Text,
    ),
    (
        "SOCURE_IDPLUS_TIMEOUT_IN_SECONDS",
        "socure",
        "timeout_seconds",
        EnvKind::Number,
    ),
    ("LEXISNEXIS_BASE_URL", "upstream", "base_url", EnvKind::Text),
    (
        "SHADOW_PROXY_LISTEN_ADDRESS",
        "listen",
        "address",
        EnvKind::Text,
    ),
    ("SHADOW_PROXY_LOG_PATH", "shadow", "log_path", EnvKind::Text),
    (
        "SHADOW_PROXY_ADMIN_ADDRESS",
        "admin",
        "address",
        EnvKind::Text,
    ),
];

/// A string that must never reach a log, a line or a `Debug` dump.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The one way to read the value; grep for it to audit every use.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

/// The validated configuration the proxy runs with.
#[derive(Debug, Clone)]
pub struct Config {
    pub listen: ListenConfig,
    pub admin: AdminConfig,
    pub log: LogConfig,
    pub upstream: UpstreamConfig,
    pub shadow: ShadowConfig,
    pub socure: SocureConfig,
}

#[derive(Debug, Clone)]
pub struct ListenConfig {
    pub address: SocketAddr,
    /// The hard limit on any request body: past it the client gets 413.
    pub max_request_body_bytes: usize,
    /// The most a request head (request line and headers) may take; past it
    /// the client gets 431.
    pub max_header_bytes: usize,
    /// Client connections open at once; past it new ones wait to be accepted.
    pub max_connections: usize,
    /// How requests reach the proxy.
    pub mode: ListenMode,
}

impl Config {
    /// What a reload cannot apply: the sections of `new` that differ from
    /// this config in anything but the live settings (`shadow.enabled`,
    /// `shadow.sample_percent`, `socure.timeout_seconds`,
    /// `socure.max_calls_per_day`).
    pub fn needs_restart(&self, new: &Config) -> Vec<&'static str> {
        let mut same_live = new.clone();
        same_live.shadow.enabled = self.shadow.enabled;
        same_live.shadow.sample_basis_points = self.shadow.sample_basis_points;
        same_live.socure.timeout = self.socure.timeout;
        same_live.socure.max_calls_per_day = self.socure.max_calls_per_day;
        let differs = |a: &dyn fmt::Debug, b: &dyn fmt::Debug| format!("{a:?}") != format!("{b:?}");
        let mut sections = Vec::new();
        if differs(&self.listen, &same_live.listen) {
            sections.push("listen");
        }
        if differs(&self.admin, &same_live.admin) {
            sections.push("admin");
        }
        if differs(&self.log, &same_live.log) {
            sections.push("log");
        }
        if differs(&self.upstream, &same_live.upstream) {
            sections.push("upstream");
        }
        if differs(&self.shadow, &same_live.shadow) {
            sections.push("shadow (besides enabled and sample_percent)");
        }
        // The key is redacted in Debug, so compare it apart.
        if differs(&self.socure, &same_live.socure)
            || self.socure.api_key != same_live.socure.api_key
        {
            sections.push("socure (besides timeout_seconds and max_calls_per_day)");
        }
        sections
    }
}

/// Diagnostics (never the shadow lines): how they are written to stderr.
#[derive(Debug, Clone, Copy)]
pub struct LogConfig {
    pub format: LogFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// Text on a terminal, JSON otherwise (a log collector).
    Auto,
    Json,
    Text,
}

/// The admin listener: probes and metrics, apart from the data port.
#[derive(Debug, Clone)]
pub struct AdminConfig {
    pub address: SocketAddr,
}

/// How the IdV app's requests reach the proxy.
#[derive(Debug, Clone)]
pub enum ListenMode {
    /// The app connects to the proxy as if it were the vendor: plain HTTP,
    /// or TLS with a certificate for the vendor's name (`tls`).
    Reverse { tls: Option<TlsFiles> },
    /// The app uses the proxy as its `HTTPS_PROXY`; `CONNECT`s to the
    /// vendor are intercepted.
    ForwardProxy(InterceptConfig),
}

impl ListenMode {
    /// The mode's name as the config spells it.
    pub fn name(&self) -> &'static str {
        match self {
            ListenMode::Reverse { tls: None } => "reverse",
            ListenMode::Reverse { tls: Some(_) } => "reverse (TLS)",
            ListenMode::ForwardProxy(_) => "forward_proxy",
        }
    }
}

/// A PEM certificate chain and its PEM private key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    pub cert_file: PathBuf,
    pub key_file: PathBuf,
}

/// Forward-proxy mode: which `CONNECT`s are intercepted, and the CA that
/// signs the certificates the proxy presents for them.
#[derive(Debug, Clone)]
pub struct InterceptConfig {
    pub ca: TlsFiles,
    /// Host names intercepted besides the upstream's, lower case.
    pub extra_hosts: Vec<String>,
    /// A `CONNECT` to any other host is tunnelled untouched (true) or
    /// refused with 403 (false).
    pub tunnel_other_hosts: bool,
}

/// How the upstream's host name becomes an address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resolve {
    /// DNS only, never the hosts file, so a `hostAliases` entry that points
    /// the vendor's name at this sidecar cannot loop back. `servers` empty:
    /// the name servers of `/etc/resolv.conf`.
    Dns { servers: Vec<SocketAddr> },
    /// The system resolver (getaddrinfo: hosts file, then DNS).
    System,
}

#[derive(Debug, Clone)]
pub struct UpstreamConfig {
    /// Scheme and authority only: the request's own path and query are
    /// forwarded as received, because the IdP signs them.
    pub base_url: Uri,
    /// From sending the request to the upstream's response head.
    pub timeout: Duration,
    pub connect_timeout: Duration,
    /// CA certificates trusted besides the web PKI roots.
    pub ca_file: Option<PathBuf>,
    /// A client certificate presented to the upstream.
    pub client_identity: Option<TlsFiles>,
    /// Where to connect for `base_url`'s host, like curl's `--connect-to`:
    /// TLS still sends SNI for, and verifies, `base_url`'s host.
    pub connect_to: Option<(String, u16)>,
    /// How `base_url`'s host is resolved when `connect_to` is not set.
    pub resolve: Resolve,
}

#[derive(Debug, Clone)]
pub struct ShadowConfig {
    pub enabled: bool,
    pub instant_verify_workflow: String,
    pub log_path: LogTarget,
    /// Bytes of an InstantVerify request body held for the mirror; a larger
    /// body is still forwarded whole, just not mirrored.
    pub max_body_bytes: usize,
    /// Socure calls in flight at most; past it a mirror is dropped and its
    /// line says so.
    pub max_in_flight: usize,
    /// After the connections drain at shutdown, how long mirrors still
    /// running may take before they are cut short (each still writes its line).
    pub shutdown_grace: Duration,
    /// The share of eligible applicants mirrored, in basis points (0-10,000).
    pub sample_basis_points: u32,
    /// The same applicant again within this is not sent again; zero: off.
    pub dedup_window: Duration,
}

#[derive(Debug, Clone)]
pub struct SocureConfig {
    pub base_url: Uri,
    pub timeout: Duration,
    pub api_key: Option<Secret>,
    /// CA certificates trusted besides the web PKI roots.
    pub ca_file: Option<PathBuf>,
    /// Socure calls per UTC day at most; `None`: unlimited.
    pub max_calls_per_day: Option<u64>,
}

/// Where shadow lines go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogTarget {
    Stdout,
    File(PathBuf),
}

/// One bad key, with where its value came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyError {
    pub key: String,
    pub env: Option<&'static str>,
    pub message: String,
}

impl fmt::Display for KeyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.env {
            Some(env) => write!(f, "{} (from env {env}): {}", self.key, self.message),
            None => write!(f, "{}: {}", self.key, self.message),
        }
    }
}

/// Why a configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {}: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("config file {} is not valid TOML at line {line}: {message}", path.display())]
    Syntax {
        path: PathBuf,
        line: usize,
        message: String,
    },
    #[error("{}", join_lines(.0))]
    Invalid(Vec<KeyError>),
}

impl ConfigError {
    /// One line per problem, for the operator's terminal.
    pub fn lines(&self) -> Vec<String> {
        match self {
            ConfigError::Invalid(errors) => errors.iter().map(ToString::to_string).collect(),
            other => vec![other.to_string()],
        }
    }
}

fn join_lines(errors: &[KeyError]) -> String {
    errors
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

// The file's shape. Unknown keys are refused by `deserialize` (through
// `serde_ignored`, which sees all of them, where `deny_unknown_fields` would
// stop at the first), so a typo is an error, not a silently ignored setting.

#[derive(Deserialize, Default)]
#[serde(default)]
struct RawConfig {
    listen: RawListen,
    admin: RawAdmin,
    log: RawLog,
    upstream: RawUpstream,
    shadow: RawShadow,
    socure: RawSocure,
}

#[derive(Deserialize)]
#[serde(default)]
struct RawLog {
    format: String,
}

impl Default for RawLog {
    fn default() -> Self {
        Self {
            format: "auto".into(),
        }
    }
}

#[derive(Deserialize)]
#[serde(default)]
struct RawAdmin {
    address: String,
}

impl Default for RawAdmin {
    fn default() -> Self {
        Self {
            address: "127.0.0.1:9901".into(),
        }
    }
}

#[derive(Deserialize)]
#[serde(default)]
struct RawListen {
    address: String,
    max_request_body_bytes: u64,
    max_header_bytes: u64,
    max_connections: u64,
    mode: String,
    tls_cert_file: Option<PathBuf>,
    tls_key_file: Option<PathBuf>,
    ca_cert_file: Option<PathBuf>,
    ca_key_file: Option<PathBuf>,
    intercept_hosts: Vec<String>,
    tunnel_other_hosts: bool,
}

impl Default for RawListen {
    fn default() -> Self {
        Self {
            address: "127.0.0.1:8080".into(),
            // InstantVerify requests are a few KiB; this only stops abuse.
            max_request_body_bytes: 10 * 1024 * 1024,
            max_header_bytes: 64 * 1024,
            // The IdV app's connection pool is tens of connections; this only
            // stops a flood from taking every descriptor.
            max_connections: 4096,
            mode: "reverse".into(),
            tls_cert_file: None,
            tls_key_file: None,
            ca_cert_file: None,
            ca_key_file: None,
            intercept_hosts: Vec::new(),
            tunnel_other_hosts: false,
        }
    }
}

#[derive(Deserialize)]
#[serde(default)]
struct RawUpstream {
    base_url: Option<String>,
    timeout_seconds: f64,
    connect_timeout_seconds: f64,
    ca_file: Option<PathBuf>,
    client_cert_file: Option<PathBuf>,
    client_key_file: Option<PathBuf>,
    connect_to: Option<String>,
    resolve: String,
    dns_servers: Vec<String>,
}

impl Default for RawUpstream {
    fn default() -> Self {
        Self {
            base_url: None,
            timeout_seconds: 30.0,
            connect_timeout_seconds: 5.0,
            ca_file: None,
            client_cert_file: None,
            client_key_file: None,
            connect_to: None,
            resolve: "dns".into(),
            dns_servers: Vec::new(),
        }
    }
}

#[derive(Deserialize)]
#[serde(default)]
struct RawShadow {
    enabled: bool,
    instant_verify_workflow: Option<String>,
    log_path: String,
    max_body_bytes: u64,
    max_in_flight: u64,
    shutdown_grace_seconds: f64,
    sample_percent: f64,
    dedup_window_seconds: f64,
}

impl Default for RawShadow {
    fn default() -> Self {
        Self {
            enabled: false,
            instant_verify_workflow: None,
            log_path: "-".into(),
            max_body_bytes: 1024 * 1024,
            // A busy IdV pod sees tens of InstantVerify calls a second; at
            // Socure's ~1 s that is well under this, and 512 stalled calls
            // cost a few MiB at most.
            max_in_flight: 512,
            shutdown_grace_seconds: 5.0,
            sample_percent: 100.0,
            dedup_window_seconds: 0.0,
        }
    }
}

#[derive(Deserialize)]
#[serde(default)]
struct RawSocure {
    base_url: String,
    timeout_seconds: f64,
    ca_file: Option<PathBuf>,
    max_calls_per_day: Option<u64>,
}

impl Default for RawSocure {
    fn default() -> Self {
        Self {
            // identity-idp's default_application.yml points here too.
            base_url: "https://sandbox.socure.us".into(),
            timeout_seconds: 5.0,
            ca_file: None,
            max_calls_per_day: None,
        }
    }
}

impl Config {
    /// Reads `path`, applies `env`, validates.
    pub fn load(path: &Path, env: &dyn Env) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        Self::from_toml(&text, env).map_err(|err| match err {
            ConfigError::Syntax { line, message, .. } => ConfigError::Syntax {
                path: path.to_owned(),
                line,
                message,
            },
            other => other,
        })
    }

    /// Parses TOML text, applies `env`, validates.
    pub fn from_toml(text: &str, env: &dyn Env) -> Result<Self, ConfigError> {
        let mut table: toml::Table = toml::from_str(text).map_err(|err| ConfigError::Syntax {
            path: PathBuf::new(),
            line: err
                .span()
                .map(|span| {
                    let before = &text.as_bytes()[..span.start.min(text.len())];
                    before.iter().filter(|&&b| b == b'\n').count() + 1
                })
                .unwrap_or(0),
            message: err.message().to_owned(),
        })?;

        let mut errors = Vec::new();
        if table
            .get("socure")
            .and_then(toml::Value::as_table)
            .is_some_and(|socure| socure.contains_key("api_key"))
        {
            errors.push(KeyError {
                key: "socure.api_key".into(),
                env: None,
                message: format!(
                    "the API key is read only from env {API_KEY_ENV}, never from the file"
                ),
            });
            if let Some(socure) = table.get_mut("socure").and_then(toml::Value::as_table_mut) {
                socure.remove("api_key");
            }
        }
        let from_env = apply_env(&mut table, env, &mut errors);

        let raw = match deserialize(toml::Value::Table(table), &from_env) {
            Ok(raw) => raw,
            Err(mut more) => {
                errors.append(&mut more);
                return Err(ConfigError::Invalid(errors));
            }
        };
        let api_key = env
            .var(API_KEY_ENV)
            .filter(|k| !k.is_empty())
            .map(Secret::new);
        let config = validate(raw, api_key, &from_env, &mut errors);
        match config {
            Some(config) if errors.is_empty() => Ok(config),
            _ => Err(ConfigError::Invalid(errors)),
        }
    }
}

/// Which `section.key` came from which variable, to say so in errors.
type EnvOrigins = HashMap<String, &'static str>;

fn apply_env(table: &mut toml::Table, env: &dyn Env, errors: &mut Vec<KeyError>) -> EnvOrigins {
    let mut origins = EnvOrigins::new();
    for &(name, section, key, kind) in ENV_OVERRIDES {
        let Some(raw) = env.var(name) else { continue };
        let full_key = format!("{section}.{key}");
        let value = match kind {
            EnvKind::Bool => match raw.trim().to_ascii_lowercase().as_str() {
                "true" | "1" | "yes" => Some(toml::Value::Boolean(true)),
                "false" | "0" | "no" => Some(toml::Value::Boolean(false)),
                _ => None,
            },
            EnvKind::Number => raw
                .trim()
                .parse::<i64>()
                .map(toml::Value::Integer)
                .or_else(|_| raw.trim().parse::<f64>().map(toml::Value::Float))
                .ok(),
            EnvKind::Text => Some(toml::Value::String(raw)),
        };
        let Some(value) = value else {
            errors.push(KeyError {
                key: full_key,
                env: Some(name),
                message: match kind {
                    EnvKind::Bool => "expected true or false".into(),
                    _ => "expected a number".into(),
                },
            });
            continue;
        };
        let section_table = table
            .entry(section)
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        if let Some(section_table) = section_table.as_table_mut() {
            section_table.insert(key.to_owned(), value);
            origins.insert(full_key, name);
        }
    }
    origins
}

/// Typed deserialization that reports every unknown key, and the path of a
/// mistyped one.
fn deserialize(value: toml::Value, origins: &EnvOrigins) -> Result<RawConfig, Vec<KeyError>> {
    let mut unknown = Vec::new();
    // Unknown keys are collected by `serde_ignored` first, so that all of them
    // are reported at once rather than only the first one serde trips on.
    let collected: Result<RawConfig, _> = serde_path_to_error::deserialize(
        serde_ignored::Deserializer::new(value, &mut |path: serde_ignored::Path<'_>| {
            unknown.push(path.to_string())
        }),
    );
    let mut errors: Vec<KeyError> = unknown
        .into_iter()
        .map(|key| KeyError {
            key,
            env: None,
            message: "unknown key".into(),
        })
        .collect();
    match collected {
        Ok(raw) if errors.is_empty() => Ok(raw),
        Ok(_) => Err(errors),
        Err(err) => {
            let key = err.path().to_string();
            errors.push(KeyError {
                env: origins.get(&key).copied(),
                key,
                message: err.inner().message().to_owned(),
            });
            Err(errors)
        }
    }
}

fn validate(
    raw: RawConfig,
    api_key: Option<Secret>,
    origins: &EnvOrigins,
    errors: &mut Vec<KeyError>,
) -> Option<Config> {
    if raw.shadow.enabled && api_key.is_none() {
        errors.push(KeyError {
            key: "socure.api_key".into(),
            env: Some(API_KEY_ENV),
            message: "missing while shadow mode is enabled".into(),
        });
    }
    let mut bad = |key: &str, message: String| {
        errors.push(KeyError {
            key: key.to_owned(),
            env: origins.get(key).copied(),
            message,
        })
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
    let mode = listen_mode(raw.listen, &mut bad);
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
        },
        admin: AdminConfig {
            address: admin_address?,
        },
        log: LogConfig {
            format: log_format?,
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
                if host.is_empty() || host.contains([':', '/', ' ']) {
                    bad(
                        "listen.intercept_hosts",
                        format!("expected host names without port or path, got {host:?}"),
                    );
                } else {
                    extra_hosts.push(host.to_ascii_lowercase());
                }
            }
            match ca? {
                Some(ca) => Some(ListenMode::ForwardProxy(InterceptConfig {
                    ca,
                    extra_hosts,
                    tunnel_other_hosts: raw.tunnel_other_hosts,
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

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    const MINIMAL: &str = "[upstream]\nbase_url = \"http://127.0.0.1:9\"\n";

    #[test]
    fn minimal_file_takes_defaults() {
        let config = Config::from_toml(MINIMAL, &env(&[])).expect("valid");
        assert_eq!(
            config.listen.address,
            "127.0.0.1:8080".parse().expect("addr")
        );
        assert!(!config.shadow.enabled);
        assert_eq!(config.shadow.log_path, LogTarget::Stdout);
        assert_eq!(config.socure.timeout, Duration::from_secs(5));
        assert_eq!(config.upstream.timeout, Duration::from_secs(30));
    }

    #[test]
    fn env_overrides_the_file_and_supplies_the_key() {
        let text =
            format!("{MINIMAL}[shadow]\nenabled = false\ninstant_verify_workflow = \"a.wf\"\n");
        let config = Config::from_toml(
            &text,
            &env(&[
                ("IDV_SOCURE_SHADOW_MODE_ENABLED", "true"),
                ("SOCURE_IDPLUS_TIMEOUT_IN_SECONDS", "2"),
                ("SOCURE_IDPLUS_API_KEY", "fake-key"),
                ("LEXISNEXIS_INSTANT_VERIFY_WORKFLOW", "b.wf"),
            ]),
        )
        .expect("valid");
        assert!(config.shadow.enabled);
        assert_eq!(config.shadow.instant_verify_workflow, "b.wf");
        assert_eq!(config.socure.timeout, Duration::from_secs(2));
        assert_eq!(
            config.socure.api_key.as_ref().map(Secret::expose),
            Some("fake-key")
        );
    }

    #[test]
    fn every_unknown_key_is_named() {
        let text = format!("{MINIMAL}[listen]\nadress = \"x\"\n[shadow]\nenabeld = true\n");
        let err = Config::from_toml(&text, &env(&[])).expect_err("invalid");
        let lines = err.lines();
        assert!(
            lines
                .iter()
                .any(|l| l.starts_with("listen.adress: unknown key")),
            "{lines:?}"
        );
        assert!(
            lines
                .iter()
                .any(|l| l.starts_with("shadow.enabeld: unknown key")),
            "{lines:?}"
        );
    }

    #[test]
    fn bad_values_are_each_named() {
        let text = "[upstream]\nbase_url = \"ftp://x\"\ntimeout_seconds = 0\n[socure]\nbase_url = \"nope\"\n";
        let err = Config::from_toml(text, &env(&[])).expect_err("invalid");
        let lines = err.lines();
        for key in [
            "upstream.base_url:",
            "upstream.timeout_seconds:",
            "socure.base_url:",
        ] {
            assert!(
                lines.iter().any(|l| l.starts_with(key)),
                "{key} missing in {lines:?}"
            );
        }
    }

    #[test]
    fn mistyped_value_names_its_key_and_env() {
        let err = Config::from_toml(
            MINIMAL,
            &env(&[("IDV_SOCURE_SHADOW_MODE_ENABLED", "maybe")]),
        )
        .expect_err("invalid");
        assert_eq!(
            err.lines(),
            vec![
                "shadow.enabled (from env IDV_SOCURE_SHADOW_MODE_ENABLED): expected true or false"
            ]
        );
        let err = Config::from_toml(
            &format!("{MINIMAL}[shadow]\nenabled = \"yes\"\n"),
            &env(&[]),
        )
        .expect_err("invalid");
        assert!(
            err.lines()[0].starts_with("shadow.enabled: invalid type"),
            "{:?}",
            err.lines()
        );
    }

    #[test]
    fn enabled_without_api_key_is_refused() {
        let text =
            format!("{MINIMAL}[shadow]\nenabled = true\ninstant_verify_workflow = \"a.wf\"\n");
        let err = Config::from_toml(&text, &env(&[])).expect_err("invalid");
        assert_eq!(
            err.lines(),
            vec![
                "socure.api_key (from env SOCURE_IDPLUS_API_KEY): missing while shadow mode is enabled"
            ]
        );
    }

    #[test]
    fn api_key_in_the_file_is_refused_without_echoing_it() {
        let text = format!("{MINIMAL}[socure]\napi_key = \"fake-secret-in-file\"\n");
        let err = Config::from_toml(&text, &env(&[])).expect_err("invalid");
        let all = err.lines().join("\n");
        assert!(
            all.starts_with("socure.api_key: the API key is read only from env"),
            "{all}"
        );
        assert!(!all.contains("fake-secret-in-file"));
    }

    #[test]
    fn secret_debug_is_redacted() {
        assert_eq!(format!("{:?}", Secret::new("fake-key")), "[redacted]");
    }

    #[test]
    fn toml_syntax_error_is_one_line_with_its_line_number() {
        let err = Config::from_toml("[upstream]\nbase_url = \n", &env(&[])).expect_err("invalid");
        let text = err.to_string();
        assert!(text.contains("line 2"), "{text}");
        assert!(!text.contains('\n'), "{text}");
    }

    /// The error lines for `text`, which must be invalid.
    fn error_lines(text: &str) -> Vec<String> {
        Config::from_toml(text, &env(&[]))
            .expect_err("invalid")
            .lines()
    }

    #[test]
    fn listen_modes_and_their_keys() {
        let config = Config::from_toml(MINIMAL, &env(&[])).expect("valid");
        assert!(matches!(
            config.listen.mode,
            ListenMode::Reverse { tls: None }
        ));
        assert_eq!(config.upstream.resolve, Resolve::Dns { servers: vec![] });

        let text =
            format!("{MINIMAL}[listen]\ntls_cert_file = \"/c.pem\"\ntls_key_file = \"/k.pem\"\n");
        let config = Config::from_toml(&text, &env(&[])).expect("valid");
        let ListenMode::Reverse { tls: Some(files) } = config.listen.mode else {
            panic!("TLS listener expected");
        };
        assert_eq!(files.cert_file, PathBuf::from("/c.pem"));

        let text = format!(
            "{MINIMAL}[listen]\nmode = \"forward_proxy\"\nca_cert_file = \"/ca.pem\"\n\
             ca_key_file = \"/ca.key\"\nintercept_hosts = [\"Extra.Example\"]\n"
        );
        let config = Config::from_toml(&text, &env(&[])).expect("valid");
        let ListenMode::ForwardProxy(intercept) = config.listen.mode else {
            panic!("forward proxy expected");
        };
        assert_eq!(intercept.extra_hosts, vec!["extra.example".to_owned()]);
        assert!(!intercept.tunnel_other_hosts, "refusing is the default");
    }

    #[test]
    fn mode_keys_that_do_not_fit_are_each_named() {
        let lines = error_lines(&format!(
            "{MINIMAL}[listen]\nmode = \"forward_proxy\"\ntls_cert_file = \"/c\"\ntls_key_file = \"/k\"\n"
        ));
        assert!(
            lines
                .iter()
                .any(|l| l.starts_with("listen.tls_cert_file: not used")),
            "{lines:?}"
        );
        assert!(
            lines
                .iter()
                .any(|l| l.starts_with("listen.ca_cert_file: required")),
            "{lines:?}"
        );

        let lines = error_lines(&format!(
            "{MINIMAL}[listen]\ntunnel_other_hosts = true\nintercept_hosts = [\"a\"]\ntls_key_file = \"/k\"\n"
        ));
        for key in [
            "listen.tunnel_other_hosts",
            "listen.intercept_hosts",
            "listen.tls_cert_file",
        ] {
            assert!(lines.iter().any(|l| l.starts_with(key)), "{key}: {lines:?}");
        }
        let lines = error_lines(&format!("{MINIMAL}[listen]\nmode = \"sideways\"\n"));
        assert!(
            lines.iter().any(|l| l.starts_with("listen.mode: expected")),
            "{lines:?}"
        );
    }

    #[test]
    fn connect_to_and_resolution() {
        let text = format!(
            "{MINIMAL}connect_to = \"10.0.0.7:8443\"\nresolve = \"dns\"\ndns_servers = [\"127.0.0.1:5353\"]\n"
        );
        let config = Config::from_toml(&text, &env(&[])).expect("valid");
        assert_eq!(config.upstream.connect_to, Some(("10.0.0.7".into(), 8443)));
        assert_eq!(
            config.upstream.resolve,
            Resolve::Dns {
                servers: vec!["127.0.0.1:5353".parse().expect("addr")]
            }
        );
        let text = format!("{MINIMAL}connect_to = \"[::1]:443\"\nresolve = \"system\"\n");
        let config = Config::from_toml(&text, &env(&[])).expect("valid");
        assert_eq!(config.upstream.connect_to, Some(("[::1]".into(), 443)));
        assert_eq!(config.upstream.resolve, Resolve::System);

        for (bad, key) in [
            ("connect_to = \"no-port\"", "upstream.connect_to"),
            ("connect_to = \"user@h:1\"", "upstream.connect_to"),
            ("resolve = \"hosts\"", "upstream.resolve"),
            ("dns_servers = [\"dns.example\"]", "upstream.dns_servers"),
            (
                "resolve = \"system\"\ndns_servers = [\"127.0.0.1:53\"]",
                "upstream.dns_servers",
            ),
            ("client_cert_file = \"/c\"", "upstream.client_key_file"),
        ] {
            let lines = error_lines(&format!("{MINIMAL}{bad}\n"));
            assert!(lines.iter().any(|l| l.starts_with(key)), "{bad}: {lines:?}");
        }
    }
}
