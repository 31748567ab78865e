//! Typed configuration: what the proxy runs with, read from a TOML file and environment overrides, every bad key named.
//!
//! Split by phase, each file testable alone: `raw` is the file's shape;
//! `load` parses the TOML, applies environment variables (read through
//! [`Env`], so tests pass a map instead of mutating the process) and
//! deserializes with unknown keys refused; `validate` turns the raw values
//! into these types, reporting every problem, one line per key, before
//! anything binds a port; `reload` says what a SIGHUP may change live.

use std::collections::HashMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use http::Uri;

pub use host::{Host, HostPort, HostPortError};
pub use load::env_overrides;

pub mod effective;
pub mod host;
mod load;
mod raw;
pub mod reference;
pub mod reload;
#[cfg(test)]
mod tests;
mod validate;

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
/// Redis's password, when it is not in the URL (which then comes from the
/// environment too): never from the file.
pub const REDIS_PASSWORD_ENV: &str = "SHADOW_PROXY_REDIS_PASSWORD";
/// The key of the fleet's duplicate fingerprints, shared by the replicas:
/// never from the file.
pub const DEDUP_KEY_ENV: &str = "SHADOW_PROXY_DEDUP_KEY";

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
    /// `None`: the budget and the duplicate window are per process.
    pub fleet: Option<FleetConfig>,
    /// The same, in the config's own keys, as the operator wrote them.
    pub effective: effective::Effective,
    /// Files the keys name that could not be opened, found while loading.
    /// They do not fail the load on their own: the preflight reports them
    /// with everything else it finds, so one pass names every file
    /// (`check-config`, `run`); with any other bad key the load fails and
    /// names them among its errors.
    pub unreadable: Vec<KeyError>,
}

/// What a Redis outage means for a mirror. Spelt in logs as the config
/// spells it (`skip`, `local`): [`FleetOnError::as_str`], its `Display`.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, strum::IntoStaticStr, strum::EnumString, strum::Display,
)]
#[strum(serialize_all = "snake_case")]
pub enum FleetOnError {
    /// No Socure call: the line says the fleet's state was unavailable.
    Skip,
    /// This process's own budget and window stand in.
    Local,
}

impl FleetOnError {
    /// The config's word for it.
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

/// The fleet's shared state in Redis (`[fleet]`).
#[derive(Debug, Clone)]
pub struct FleetConfig {
    /// The URL, password included when there is one: a secret.
    pub redis_url: Secret,
    pub timeout: Duration,
    pub on_error: FleetOnError,
    pub ca_file: Option<PathBuf>,
    pub key_prefix: String,
    /// Required for a fleet duplicate window.
    pub dedup_key: Option<Secret>,
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
    /// How long each phase of a client connection may take.
    pub timeouts: ListenTimeouts,
    /// Streams one HTTP/2 client connection may have open at once.
    pub http2_max_concurrent_streams: u32,
    /// Plain HTTP/1.1 requests go through the hand-written lane
    /// (`ingress::lane`); off, hyper serves every connection whole.
    pub http1_lane: bool,
}

/// The client side's timeouts, from accept to last byte (docs/limits.md, "Limits
/// and timeouts").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListenTimeouts {
    /// From accept to the first request head, TLS and protocol detection included.
    pub header: Duration,
    /// With no request open (on HTTP/1, until the next head is whole).
    pub idle: Duration,
    /// The longest a request body may go without a byte, and the time any
    /// body may take before its average rate counts.
    pub request_body_grace: Duration,
    /// Bytes a second a request body must keep up past its grace period.
    pub request_body_min_rate: u64,
    /// A write to the client that moves nothing for this long.
    pub write: Duration,
    /// After this a connection is drained.
    pub max_connection_age: Duration,
}

/// Diagnostics (never the shadow lines): how they are written to stderr.
#[derive(Debug, Clone, Copy)]
pub struct LogConfig {
    pub format: LogFormat,
    /// How often the stats line is written; `None`: never.
    pub stats_interval: Option<Duration>,
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

/// How the IdV app's requests reach the proxy: one enum for the three
/// stages of a start, by what each mode carries. As configured, the files
/// (the defaults); once the preflight read them, the TLS configuration and
/// the CA (`preflight::Front`); once bound, the acceptor and the interceptor
/// (`ingress::listeners::Entry`).
#[derive(Debug, Clone)]
pub enum ListenMode<Tls = TlsFiles, Intercept = InterceptConfig> {
    /// The app connects to the proxy as if it were the vendor: plain HTTP,
    /// or TLS with a certificate for the vendor's name (`tls`).
    Reverse { tls: Option<Tls> },
    /// The app uses the proxy as its `HTTPS_PROXY`; `CONNECT`s to the
    /// vendor are intercepted.
    ForwardProxy(Intercept),
}

impl<Tls, Intercept> ListenMode<Tls, Intercept> {
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
/// signs the certificates the proxy presents for them; which are tunnelled.
#[derive(Debug, Clone)]
pub struct InterceptConfig {
    pub ca: TlsFiles,
    /// Hosts intercepted besides the upstream's, each at one port (443
    /// unless the entry names another): a `CONNECT` to the host at any other
    /// port is refused, never tunnelled past the shadow.
    pub extra_hosts: Vec<HostPort>,
    /// A `CONNECT` to any other host is tunnelled untouched (true) or
    /// refused with 403 (false). Tunnels never reach an internal address,
    /// the proxy's own ports, or a port but 443, unless `tunnel_allow`
    /// names the destination.
    pub tunnel_other_hosts: bool,
    /// Destinations tunnelled whatever the rules above say, even with
    /// `tunnel_other_hosts` off: an IP entry matches the address a
    /// `CONNECT` resolves to, a name entry the name the `CONNECT` gives.
    /// Two exceptions no entry overrides: the proxy's own ports on this
    /// host (an entry naming one on a local host is refused at start), and
    /// the addresses an intercepted host's traffic goes to.
    pub tunnel_allow: Vec<HostPort>,
    /// A tunnel with no bytes either way for this long is closed.
    pub tunnel_idle_timeout: Duration,
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
    /// Socure calls in flight at most; a call past it waits up to
    /// `queue_timeout` for a place, then is dropped and its line says so.
    pub max_in_flight: usize,
    /// How long a call waits for a place among `max_in_flight`; zero: it is
    /// dropped at once.
    pub queue_timeout: Duration,
    /// Shadowed requests the mirror holds at once, from the door to the
    /// written line; past it a request is shed (forwarded, only counted).
    pub max_pending: usize,
    /// Bytes the mirror may hold at once (request bodies and answer
    /// copies); past it requests are shed.
    pub max_buffered_bytes: usize,
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
    /// Socure calls per UTC day at most.
    pub max_calls_per_day: DailyLimit,
}

/// `socure.max_calls_per_day`: how many Socure calls a UTC day may have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DailyLimit {
    /// The key is not set.
    Unlimited,
    /// At most this many (0: none at all).
    AtMost(u64),
}

impl DailyLimit {
    /// The limit as a number of calls, `None` when there is none.
    pub fn calls(self) -> Option<u64> {
        match self {
            DailyLimit::Unlimited => None,
            DailyLimit::AtMost(calls) => Some(calls),
        }
    }

    /// Whether a day that has had `used` calls may have one more.
    pub fn allows(self, used: u64) -> bool {
        self.calls().is_none_or(|limit| used < limit)
    }
}

impl From<Option<u64>> for DailyLimit {
    fn from(calls: Option<u64>) -> Self {
        calls.map_or(DailyLimit::Unlimited, DailyLimit::AtMost)
    }
}

/// The number, as the key is written (the reasons a budget was refused
/// name it).
impl fmt::Display for DailyLimit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DailyLimit::Unlimited => f.write_str("unlimited"),
            DailyLimit::AtMost(calls) => write!(f, "{calls}"),
        }
    }
}

/// As the config's JSON has it: the number, or `null` for none.
impl serde::Serialize for DailyLimit {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.calls().serialize(serializer)
    }
}

/// Where shadow lines go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogTarget {
    Stdout,
    File(PathBuf),
}

/// The environment variable that sets `key` (`section.key`), if one does.
/// For errors about a value whose source they cannot know (a port taken at
/// start), and for finding whether a value came from the environment.
pub fn env_var(key: &str) -> Option<&'static str> {
    if key == "socure.api_key" {
        return Some(API_KEY_ENV);
    }
    load::env_var(key)
}

/// One bad key, with where its value came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyError {
    pub key: String,
    pub env: Option<&'static str>,
    /// The line of the key in the file, when the value came from the file.
    pub line: Option<usize>,
    pub message: String,
}

impl KeyError {
    pub(crate) fn new(
        key: impl Into<String>,
        env: Option<&'static str>,
        message: impl Into<String>,
    ) -> Self {
        Self {
            key: key.into(),
            env,
            line: None,
            message: message.into(),
        }
    }
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
    /// Every bad key; `file` is the config file when there is one.
    #[error("{}", self.lines().join("; "))]
    Invalid {
        file: Option<PathBuf>,
        errors: Vec<KeyError>,
    },
}

impl ConfigError {
    /// One line per problem, for the operator's terminal: `FILE:LINE: key:
    /// message` when the value came from the file, as compilers and
    /// `nginx -t` point at a line.
    pub fn lines(&self) -> Vec<String> {
        match self {
            ConfigError::Invalid { file, errors } => error_lines(file.as_deref(), errors),
            other => vec![other.to_string()],
        }
    }
}

/// `errors` as lines: `FILE:LINE: ` (or `line N: ` without a file) before
/// each that has a line.
pub fn error_lines(file: Option<&std::path::Path>, errors: &[KeyError]) -> Vec<String> {
    errors
        .iter()
        .map(|error| match (file, error.line) {
            (Some(file), Some(line)) => format!("{}:{line}: {error}", file.display()),
            (None, Some(line)) => format!("line {line}: {error}"),
            (_, None) => error.to_string(),
        })
        .collect()
}
