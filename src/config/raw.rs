//! The configuration file's shape, as read before validation: every key with its default.
//!
//! Unknown keys are refused by `load` (through `serde_ignored`, which sees
//! all of them, where `deny_unknown_fields` would stop at the first), so a
//! typo is an error, not a silently ignored setting.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::Secret;

/// `listen.tunnel_idle_timeout_seconds` when the file does not say. Five
/// minutes: nginx's stream `proxy_timeout` is 10 minutes and Envoy's
/// `tcp_proxy` idle timeout an hour, but every tunnel here holds one of
/// `max_connections`, and the app's HTTPS calls either use a pooled
/// connection within seconds or never again.
pub(super) const DEFAULT_TUNNEL_IDLE_TIMEOUT_SECONDS: f64 = 300.0;

/// Which `section.key` came from which environment variable, to say so in errors.
pub(super) type EnvOrigins = HashMap<String, &'static str>;

/// The line of each section and `section.key` in the file.
pub(super) type KeyLines = std::collections::BTreeMap<String, usize>;

#[derive(Deserialize, Serialize, Default)]
#[serde(default)]
pub(super) struct RawConfig {
    pub(super) listen: RawListen,
    pub(super) admin: RawAdmin,
    pub(super) log: RawLog,
    pub(super) upstream: RawUpstream,
    pub(super) shadow: RawShadow,
    pub(super) socure: RawSocure,
    pub(super) fleet: RawFleet,
}

#[derive(Deserialize, Serialize)]
#[serde(default)]
pub(super) struct RawLog {
    pub(super) format: String,
    pub(super) stats_interval_seconds: f64,
}

impl Default for RawLog {
    fn default() -> Self {
        Self {
            format: "auto".into(),
            // nginx-amplify and Envoy's stats sinks flush every 10 to 60 s;
            // a minute keeps the log readable and still shows a trend.
            stats_interval_seconds: 60.0,
        }
    }
}

#[derive(Deserialize, Serialize)]
#[serde(default)]
pub(super) struct RawAdmin {
    pub(super) address: String,
}

impl Default for RawAdmin {
    fn default() -> Self {
        Self {
            address: "127.0.0.1:9901".into(),
        }
    }
}

#[derive(Deserialize, Serialize)]
#[serde(default)]
pub(super) struct RawListen {
    pub(super) address: String,
    pub(super) max_request_body_bytes: u64,
    pub(super) max_header_bytes: u64,
    pub(super) max_connections: u64,
    pub(super) mode: String,
    pub(super) tls_cert_file: Option<PathBuf>,
    pub(super) tls_key_file: Option<PathBuf>,
    pub(super) ca_cert_file: Option<PathBuf>,
    pub(super) ca_key_file: Option<PathBuf>,
    pub(super) intercept_hosts: Vec<String>,
    pub(super) tunnel_other_hosts: bool,
    pub(super) header_timeout_seconds: f64,
    pub(super) idle_timeout_seconds: f64,
    pub(super) request_body_timeout_seconds: f64,
    pub(super) request_body_min_bytes_per_second: u64,
    pub(super) write_timeout_seconds: f64,
    pub(super) max_connection_age_seconds: f64,
    pub(super) http2_max_concurrent_streams: u64,
    pub(super) http1_lane: bool,
    pub(super) tunnel_allow: Vec<String>,
    /// `None`: not in the file; the default applies in forward-proxy mode,
    /// and the key is refused in reverse mode.
    pub(super) tunnel_idle_timeout_seconds: Option<f64>,
}

impl Default for RawListen {
    fn default() -> Self {
        Self {
            address: "127.0.0.1:8080".into(),
            // InstantVerify requests are a few KiB; this only stops abuse.
            max_request_body_bytes: 10 * 1024 * 1024,
            // nginx's large_client_header_buffers (4 x 8 KiB); a LexisNexis
            // request's head is under 2 KiB. Part of every connection's
            // worst case (docs/limits.md, "The whole process").
            max_header_bytes: 32 * 1024,
            // The IdV app's connection pool is tens of connections; nginx's
            // worker_connections. It bounds the requests open at once too,
            // so with the other defaults the worst case stays under 256 MiB
            // (docs/limits.md, "The whole process").
            max_connections: 512,
            mode: "reverse".into(),
            tls_cert_file: None,
            tls_key_file: None,
            ca_cert_file: None,
            ca_key_file: None,
            intercept_hosts: Vec::new(),
            tunnel_other_hosts: false,
            // The IdV app sends its head at once; nginx waits 60 s, Envoy's
            // edge guidance is 10 s for request headers.
            header_timeout_seconds: 10.0,
            // Under nginx's keepalive_timeout (75 s), and well under Envoy's
            // 1 h: an idle connection costs a slot of max_connections.
            idle_timeout_seconds: 60.0,
            request_body_timeout_seconds: 10.0,
            // Kestrel's default minimum is 240 B/s; a request is under 1 KiB.
            request_body_min_bytes_per_second: 1024,
            // nginx's send_timeout is 60 s between two writes.
            write_timeout_seconds: 30.0,
            max_connection_age_seconds: 3600.0,
            // Envoy's default is 2^31 - 1, nginx's 128; the IdV app opens a
            // handful of streams at most, and each open stream holds a head
            // and a task: eight, the upstream share of one connection.
            http2_max_concurrent_streams: 8,
            // The hand-written HTTP/1.1 lane for plain requests (ingress::lane).
            http1_lane: true,
            tunnel_allow: Vec::new(),
            tunnel_idle_timeout_seconds: None,
        }
    }
}

#[derive(Deserialize, Serialize)]
#[serde(default)]
pub(super) struct RawUpstream {
    pub(super) base_url: Option<String>,
    pub(super) timeout_seconds: f64,
    pub(super) connect_timeout_seconds: f64,
    pub(super) ca_file: Option<PathBuf>,
    pub(super) client_cert_file: Option<PathBuf>,
    pub(super) client_key_file: Option<PathBuf>,
    pub(super) connect_to: Option<String>,
    pub(super) resolve: String,
    pub(super) dns_servers: Vec<String>,
    /// `http://` to a host that is not loopback: refused unless set.
    pub(super) allow_plaintext: bool,
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
            allow_plaintext: false,
        }
    }
}

#[derive(Deserialize, Serialize)]
#[serde(default)]
pub(super) struct RawShadow {
    pub(super) enabled: bool,
    pub(super) instant_verify_workflow: Option<String>,
    pub(super) log_path: String,
    pub(super) max_body_bytes: u64,
    pub(super) max_in_flight: u64,
    pub(super) queue_timeout_seconds: f64,
    pub(super) max_pending: u64,
    pub(super) max_buffered_bytes: u64,
    pub(super) shutdown_grace_seconds: f64,
    pub(super) sample_percent: f64,
    pub(super) dedup_window_seconds: f64,
}

impl Default for RawShadow {
    fn default() -> Self {
        Self {
            enabled: false,
            instant_verify_workflow: None,
            log_path: "-".into(),
            // An InstantVerify request is under 1 KiB; each admitted request
            // may hold this much (docs/limits.md, "The whole process").
            max_body_bytes: 64 * 1024,
            // A busy IdV pod sees tens of InstantVerify calls a second; at
            // Socure's ~1 s that is well under this.
            max_in_flight: 256,
            // Long enough for a place to come free when the mirror is only
            // short of CPU (12,000 requests a second offered to one core:
            // with 0.01 s 0.8 % of the lines still said `dropped`, with 0.02 s
            // 0.08 %, with 0.05 s none), short enough that with Socure slow the
            // waiting requests still get their `dropped` lines, up to 5,000
            // a second with the default slots, rather than being shed.
            queue_timeout_seconds: 0.05,
            // Room for every Socure call in flight plus as many waiting to
            // be judged and written. Measured at saturation: 512 slots held
            // the proxy under 55 MiB, 1024 took it to 70 MiB.
            max_pending: 512,
            // Typical requests and answers hold 2 KiB a slot, so this never
            // binds in normal running; it caps what a hostile mix of large
            // bodies and answers could hold (512 slots x 320 KiB = 160 MiB).
            max_buffered_bytes: 64 * 1024 * 1024,
            shutdown_grace_seconds: 5.0,
            sample_percent: 100.0,
            dedup_window_seconds: 0.0,
        }
    }
}

#[derive(Deserialize, Serialize)]
#[serde(default)]
pub(super) struct RawSocure {
    pub(super) base_url: String,
    pub(super) timeout_seconds: f64,
    pub(super) ca_file: Option<PathBuf>,
    pub(super) max_calls_per_day: Option<u64>,
    /// `http://` to a host that is not loopback: refused unless set.
    pub(super) allow_plaintext: bool,
}

impl Default for RawSocure {
    fn default() -> Self {
        Self {
            // identity-idp's default_application.yml points here too.
            base_url: "https://sandbox.socure.us".into(),
            timeout_seconds: 5.0,
            ca_file: None,
            max_calls_per_day: None,
            allow_plaintext: false,
        }
    }
}

#[derive(Deserialize, Serialize)]
#[serde(default)]
pub(super) struct RawFleet {
    /// `redis://` or `rediss://`; `None`: state per process.
    pub(super) redis_url: Option<String>,
    pub(super) timeout_ms: u64,
    pub(super) on_error: String,
    pub(super) ca_file: Option<PathBuf>,
    pub(super) key_prefix: String,
}

impl Default for RawFleet {
    fn default() -> Self {
        Self {
            redis_url: None,
            // ElastiCache answers in well under a millisecond in-region; 50 ms
            // is a dead or drowning Redis, and a mirror can spare it.
            timeout_ms: 50,
            on_error: "skip".into(),
            ca_file: None,
            key_prefix: "socure-shadow".into(),
        }
    }
}

impl RawConfig {
    /// The file's sections, as serde knows them.
    pub(super) fn sections() -> &'static [&'static str] {
        fields_of::<RawConfig>()
    }

    /// The keys of `section`, as serde knows them; none for an unknown one.
    pub(super) fn keys_of(section: &str) -> &'static [&'static str] {
        match section {
            "listen" => fields_of::<RawListen>(),
            "admin" => fields_of::<RawAdmin>(),
            "log" => fields_of::<RawLog>(),
            "upstream" => fields_of::<RawUpstream>(),
            "shadow" => fields_of::<RawShadow>(),
            "socure" => fields_of::<RawSocure>(),
            "fleet" => fields_of::<RawFleet>(),
            _ => &[],
        }
    }

    /// Makes every relative path absolute from `base`, the config file's
    /// directory. `shadow.log_path = "-"` (stdout) is not a path.
    pub(super) fn resolve_paths(&mut self, base: &Path) {
        let listen = &mut self.listen;
        let upstream = &mut self.upstream;
        for path in [
            &mut listen.tls_cert_file,
            &mut listen.tls_key_file,
            &mut listen.ca_cert_file,
            &mut listen.ca_key_file,
            &mut upstream.ca_file,
            &mut upstream.client_cert_file,
            &mut upstream.client_key_file,
            &mut self.socure.ca_file,
            &mut self.fleet.ca_file,
        ]
        .into_iter()
        .flatten()
        {
            if path.is_relative() {
                *path = base.join(&*path);
            }
        }
        let log = &mut self.shadow.log_path;
        if log != "-" && Path::new(log.as_str()).is_relative() {
            *log = base.join(log.as_str()).display().to_string();
        }
    }
}

/// The field names a derived `Deserialize` struct asks for: a deserializer
/// that only listens to `deserialize_struct` and then gives up. So the
/// "did you mean" list is the structs themselves, never a copy of them.
fn fields_of<'de, T: Deserialize<'de>>() -> &'static [&'static str] {
    struct Fields<'a>(&'a mut &'static [&'static str]);

    impl<'de> serde::Deserializer<'de> for Fields<'_> {
        type Error = serde::de::value::Error;

        fn deserialize_any<V: serde::de::Visitor<'de>>(
            self,
            _: V,
        ) -> Result<V::Value, Self::Error> {
            Err(serde::de::Error::custom(
                "only a struct's field names are read",
            ))
        }

        fn deserialize_struct<V: serde::de::Visitor<'de>>(
            self,
            _name: &'static str,
            fields: &'static [&'static str],
            _visitor: V,
        ) -> Result<V::Value, Self::Error> {
            *self.0 = fields;
            Err(serde::de::Error::custom("field names read"))
        }

        serde::forward_to_deserialize_any! {
            bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
            bytes byte_buf option unit unit_struct newtype_struct seq tuple
            tuple_struct map enum identifier ignored_any
        }
    }

    let mut fields: &'static [&'static str] = &[];
    let _ = T::deserialize(Fields(&mut fields));
    fields
}

/// The password in a `redis://user:password@host` URL, if any.
pub(super) fn redis_password(url: &str) -> Option<&str> {
    let rest = url.split_once("://")?.1;
    let authority = rest.split('/').next().unwrap_or_default();
    let (userinfo, _) = authority.rsplit_once('@')?;
    match userinfo.split_once(':') {
        Some((_, password)) if !password.is_empty() => Some(password),
        // `redis://user@host` names a user only.
        _ => None,
    }
}

/// The secrets the environment gives, and only it.
pub(super) struct Secrets {
    pub(super) api_key: Option<Secret>,
    pub(super) redis_password: Option<Secret>,
    pub(super) dedup_key: Option<Secret>,
}
