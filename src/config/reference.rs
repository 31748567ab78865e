//! The configuration reference, from one table in the code: each key's meaning here, its default from the config's own `Default`s, its environment variable from the overrides table, whether a reload changes it from the live settings. `socure-shadow-proxy docs config` writes it to `docs/configuration.md`, and a test fails when the committed page differs.

use serde_json::Value;

use super::DailyLimit;
use super::load::{env_overrides, env_var};
use super::raw::RawConfig;
use super::reload::LiveSettings;

/// One key of the configuration file, as the reference describes it.
pub struct KeyDoc {
    /// `section.key`.
    pub key: &'static str,
    /// What the default column says instead of the default the code has:
    /// for a key with none (`required`, `none`), or to say what the value
    /// means (`` `0` (off) ``). A note that starts with a value in
    /// backticks must start with the code's own default (a test holds it).
    pub default_note: &'static str,
    /// What the key does, in a sentence or two of Markdown.
    pub meaning: &'static str,
}

/// Every key the file may hold, in the order the page lists them.
pub const KEYS: &[KeyDoc] = &[
    KeyDoc {
        key: "listen.address",
        default_note: "`127.0.0.1:8080`",
        meaning: "where the app's vendor traffic arrives (HTTP/1.1, and HTTP/2 with prior knowledge)",
    },
    KeyDoc {
        key: "listen.max_request_body_bytes",
        default_note: "`10485760`",
        meaning: "hard limit on any request body: past it, 413",
    },
    KeyDoc {
        key: "listen.max_header_bytes",
        default_note: "`32768`",
        meaning: "request line and headers at most: past it, 431",
    },
    KeyDoc {
        key: "listen.max_connections",
        default_note: "`512`",
        meaning: "client connections at once; past it new ones wait in the kernel's backlog. Also the requests on their way upstream at once (past it, 503). With the other defaults the worst case is under 256 MiB (see [the memory ceiling](limits.md#the-whole-process-256-mib-with-the-defaults))",
    },
    KeyDoc {
        key: "listen.mode",
        default_note: "`reverse`",
        meaning: "`reverse`: the app connects here as to the vendor; `forward_proxy`: the app's `HTTPS_PROXY` (see Deployment)",
    },
    KeyDoc {
        key: "listen.tls_cert_file",
        default_note: "none",
        meaning: "reverse only: TLS on the listener, a PEM chain for the vendor's name and its key",
    },
    KeyDoc {
        key: "listen.tls_key_file",
        default_note: "none",
        meaning: "reverse only: TLS on the listener, a PEM chain for the vendor's name and its key",
    },
    KeyDoc {
        key: "listen.ca_cert_file",
        default_note: "required in `forward_proxy`",
        meaning: "the CA that signs the leaf presented for each intercepted host (`ca init` makes one)",
    },
    KeyDoc {
        key: "listen.ca_key_file",
        default_note: "required in `forward_proxy`",
        meaning: "the CA that signs the leaf presented for each intercepted host (`ca init` makes one)",
    },
    KeyDoc {
        key: "listen.intercept_hosts",
        default_note: "`[]`",
        meaning: "forward_proxy: hosts intercepted besides `upstream.base_url`'s, `HOST` (port 443) or `HOST:PORT`; their requests go to that host",
    },
    KeyDoc {
        key: "listen.tunnel_other_hosts",
        default_note: "`false`",
        meaning: "forward_proxy: a `CONNECT` to any other host is tunnelled untouched (`true`) or refused with 403; never to an internal address, the proxy's own ports, or a port but 443 (see [Deployment](deployment.md#3-forward-proxy-https_proxy))",
    },
    KeyDoc {
        key: "listen.tunnel_allow",
        default_note: "`[]`",
        meaning: "forward_proxy: `HOST:PORT` destinations tunnelled although those rules refuse them (the only ones, with `tunnel_other_hosts = false`)",
    },
    KeyDoc {
        key: "listen.tunnel_idle_timeout_seconds",
        default_note: "`300`",
        meaning: "forward_proxy: a tunnel with no byte either way for this long is closed",
    },
    KeyDoc {
        key: "listen.header_timeout_seconds",
        default_note: "`10`",
        meaning: "from accept to the first request's whole head, the TLS handshake and HTTP/1-or-2 detection included (see [Limits and timeouts](limits.md#limits-and-timeouts))",
    },
    KeyDoc {
        key: "listen.idle_timeout_seconds",
        default_note: "`60`",
        meaning: "with no request open, the connection is closed (HTTP/1 and HTTP/2); on HTTP/1 the next head must be whole within it",
    },
    KeyDoc {
        key: "listen.request_body_timeout_seconds",
        default_note: "`10`",
        meaning: "a request body with no byte for the first, or slower on average than the second past the first: 408",
    },
    KeyDoc {
        key: "listen.request_body_min_bytes_per_second",
        default_note: "`1024`",
        meaning: "a request body with no byte for the first, or slower on average than the second past the first: 408",
    },
    KeyDoc {
        key: "listen.write_timeout_seconds",
        default_note: "`30`",
        meaning: "a write to the client that moves nothing for this long closes the connection; so does an HTTP/2 answer whose client takes no frame of it",
    },
    KeyDoc {
        key: "listen.max_connection_age_seconds",
        default_note: "`3600`",
        meaning: "past it a connection is drained (`Connection: close`, HTTP/2 GOAWAY)",
    },
    KeyDoc {
        key: "listen.http1_lane",
        default_note: "`true`",
        meaning: "plain HTTP/1.1 requests (the IdV app's InstantVerify `POST`) go through the hand-written lane, about half the CPU of hyper's path; `false` has hyper serve every connection (a switch back, should the lane ever misbehave)",
    },
    KeyDoc {
        key: "listen.http2_max_concurrent_streams",
        default_note: "`8`",
        meaning: "streams one HTTP/2 connection may have open; past 8 the extra ones wait for one of the connection's 8 places on the way upstream",
    },
    KeyDoc {
        key: "admin.address",
        default_note: "`127.0.0.1:9901`",
        meaning: "the admin listener: `/healthz`, `/readyz`, `/metrics`, `/config` (see Operations)",
    },
    KeyDoc {
        key: "log.format",
        default_note: "`auto`",
        meaning: "diagnostics on stderr: `json`, `text`, or `auto` (text on a terminal, JSON otherwise); level from `RUST_LOG`",
    },
    KeyDoc {
        key: "log.stats_interval_seconds",
        default_note: "`60`",
        meaning: "every this many seconds an `info` line `stats since the last line`: `requests`, `shadowed`, `shed`, `sampled_out`, `lines_written`, `lines_lost`, `shadow_log_writable`, `socure_outcomes` (an object of outcome to count: `{\"answered\": 57, \"timed_out\": 1}`), read from the metrics; `0` turns it off",
    },
    KeyDoc {
        key: "upstream.base_url",
        default_note: "required",
        meaning: "the real LexisNexis: scheme, host, port; no path",
    },
    KeyDoc {
        key: "upstream.timeout_seconds",
        default_note: "`30`",
        meaning: "send to response head; past it the client gets 504",
    },
    KeyDoc {
        key: "upstream.connect_timeout_seconds",
        default_note: "`5`",
        meaning: "TCP+TLS connect; past it the client gets 502",
    },
    KeyDoc {
        key: "upstream.ca_file",
        default_note: "none",
        meaning: "PEM certificates trusted besides the web PKI roots; verification cannot be turned off",
    },
    KeyDoc {
        key: "upstream.client_cert_file",
        default_note: "none",
        meaning: "a client certificate for an upstream that asks for one",
    },
    KeyDoc {
        key: "upstream.client_key_file",
        default_note: "none",
        meaning: "a client certificate for an upstream that asks for one",
    },
    KeyDoc {
        key: "upstream.connect_to",
        default_note: "none",
        meaning: "`HOST:PORT` to connect to for `base_url`'s host and port, like `curl --connect-to`; SNI and verification stay `base_url`'s",
    },
    KeyDoc {
        key: "upstream.resolve",
        default_note: "`dns`",
        meaning: "without `connect_to`: `dns` asks the name servers and never reads `/etc/hosts`; `system` is getaddrinfo",
    },
    KeyDoc {
        key: "upstream.dns_servers",
        default_note: "`[]` (those of `/etc/resolv.conf`)",
        meaning: "with `resolve = \"dns\"`: name servers as `IP:PORT`",
    },
    KeyDoc {
        key: "upstream.allow_plaintext",
        default_note: "`false`",
        meaning: "an `http://` `base_url` to a host that is not a loopback address is an error unless `true` (for tests, or behind a mesh that encrypts the hop)",
    },
    KeyDoc {
        key: "shadow.enabled",
        default_note: "`false`",
        meaning: "off: a plain forwarder, no Socure call, no line",
    },
    KeyDoc {
        key: "shadow.instant_verify_workflow",
        default_note: "required when enabled",
        meaning: "the workflow that is shadowed",
    },
    KeyDoc {
        key: "shadow.log_path",
        default_note: "`-` (stdout)",
        meaning: "the shadow log, appended, one JSON line each",
    },
    KeyDoc {
        key: "shadow.max_body_bytes",
        default_note: "`65536`",
        meaning: "request bytes held for the mirror; a larger body is forwarded whole but not mirrored",
    },
    KeyDoc {
        key: "shadow.max_in_flight",
        default_note: "`256`",
        meaning: "Socure calls in flight at most; a call past it waits up to `queue_timeout_seconds` for a place, then is dropped (line says `dropped`)",
    },
    KeyDoc {
        key: "shadow.queue_timeout_seconds",
        default_note: "`0.05`",
        meaning: "how long a Socure call waits for a place among `max_in_flight` before it is dropped; `0` drops at once. A waiting request holds its slot (`max_pending`), so when the mirror is short of CPU the overflow is shed at the door, which costs almost nothing, instead of being judged only to write `dropped`",
    },
    KeyDoc {
        key: "shadow.max_pending",
        default_note: "`512`",
        meaning: "shadowed requests the mirror holds at once, from admission to written line; past it a request is shed: forwarded as always, not mirrored, counted in a summary line (see [Overload](limits.md#overload-shedding-at-the-door))",
    },
    KeyDoc {
        key: "shadow.max_buffered_bytes",
        default_note: "`67108864` (64 MiB)",
        meaning: "bytes the mirror holds at once (request bodies by declared length, answer copies as they grow); past it a request is shed like past `max_pending`",
    },
    KeyDoc {
        key: "shadow.sample_percent",
        default_note: "`100`",
        meaning: "live: the share of eligible applicants mirrored, sticky per user (see Operations)",
    },
    KeyDoc {
        key: "shadow.dedup_window_seconds",
        default_note: "`0` (off)",
        meaning: "the same applicant again within this gets a `duplicate` line and no Socure call",
    },
    KeyDoc {
        key: "shadow.shutdown_grace_seconds",
        default_note: "`5`",
        meaning: "at shutdown, after requests drain, how long mirrors may still run before they are cut short (each writes its line)",
    },
    KeyDoc {
        key: "socure.base_url",
        default_note: "`https://sandbox.socure.us`",
        meaning: "calls go to `{base_url}/api/3.0/EmailAuthScore`",
    },
    KeyDoc {
        key: "socure.timeout_seconds",
        default_note: "`5`",
        meaning: "the whole Socure call",
    },
    KeyDoc {
        key: "socure.max_calls_per_day",
        default_note: "unlimited",
        meaning: "live: Socure calls per UTC day, per process; past it lines say `budget_exhausted`",
    },
    KeyDoc {
        key: "socure.ca_file",
        default_note: "none",
        meaning: "PEM certificates trusted for Socure besides the web PKI roots",
    },
    KeyDoc {
        key: "socure.allow_plaintext",
        default_note: "`false`",
        meaning: "an `http://` `base_url` to a host that is not a loopback address is an error unless `true`: the call carries the API key and the applicant's PII",
    },
    KeyDoc {
        key: "fleet.redis_url",
        default_note: "none (state per process)",
        meaning: "`redis://` or `rediss://`: the fleet's shared budget and duplicate window (see [Running many replicas](operations.md#running-many-replicas)); a password only from the environment",
    },
    KeyDoc {
        key: "fleet.timeout_ms",
        default_note: "`50`",
        meaning: "how long a mirror waits for Redis",
    },
    KeyDoc {
        key: "fleet.on_error",
        default_note: "`skip`",
        meaning: "Redis failing or slow: `skip` the Socure call (`fleet_state_unavailable`), or `local` (this process's own budget and window)",
    },
    KeyDoc {
        key: "fleet.ca_file",
        default_note: "none",
        meaning: "PEM certificates trusted for `rediss://` besides the web PKI roots",
    },
    KeyDoc {
        key: "fleet.key_prefix",
        default_note: "`socure-shadow`",
        meaning: "the start of every key, so fleets can share a Redis",
    },
];

/// The page: the keys' table, then the variables that are not keys.
pub fn markdown() -> String {
    let defaults = serde_json::to_value(RawConfig::default()).unwrap_or(Value::Null);
    let live = live_keys();
    let mut page = String::from(
        "# Configuration reference\n\n\
         Every key of the configuration file, its default, the environment variable that \
         overrides it, and whether a `SIGHUP` reload changes it (`live`) or it needs a \
         restart. `config/shadow-proxy.toml` is a commented example with every key; \
         `socure-shadow-proxy check-config --config FILE` prints the configuration a file \
         gives, defaults filled in.\n\n\
         This page is generated from the code (`src/config/reference.rs`: the meanings; \
         the defaults, variables and live keys from the configuration's own code): \
         regenerate it with `cargo run -- docs config > docs/configuration.md`. A test \
         fails when it differs from what the code generates.\n\n\
         | key | default | environment variable | reload | meaning |\n\
         | --- | --- | --- | --- | --- |\n",
    );
    for doc in KEYS {
        let default = if doc.default_note.is_empty() {
            shown(default_of(&defaults, doc.key))
        } else {
            doc.default_note.to_owned()
        };
        let env = env_var(doc.key).map_or_else(String::new, |var| format!("`{var}`"));
        let reload = if live.iter().any(|key| key == doc.key) {
            "live"
        } else {
            "restart"
        };
        page.push_str(&format!(
            "| `{}` | {default} | {env} | {reload} | {} |\n",
            doc.key, doc.meaning
        ));
    }
    page.push_str(
        "\nSecrets come only from the environment; the file may not hold them (a key \
         for one in the file is refused, without echoing it):\n\n\
         | variable | what |\n| --- | --- |\n",
    );
    for (var, what) in super::load::SECRETS {
        page.push_str(&format!("| `{var}` | {what} |\n"));
    }
    page.push_str(&format!(
        "\nEvery variable read at start, overrides and secrets alike, in the order \
         `run --help` lists them: {}; and `RUST_LOG`, the diagnostics' level.\n",
        env_overrides()
            .map(|(var, _)| format!("`{var}`"))
            .collect::<Vec<_>>()
            .join(", ")
    ));
    page
}

/// The keys a reload applies.
fn live_keys() -> Vec<String> {
    let settings = LiveSettings {
        shadow_enabled: false,
        sample_basis_points: 0,
        socure_timeout: std::time::Duration::ZERO,
        max_calls_per_day: DailyLimit::Unlimited,
    };
    settings
        .to_json()
        .as_object()
        .map(|keys| keys.keys().cloned().collect())
        .unwrap_or_default()
}

/// `section.key`'s value in `defaults` (the raw configuration's defaults).
fn default_of<'a>(defaults: &'a Value, key: &str) -> &'a Value {
    let (section, name) = key.split_once('.').unwrap_or((key, ""));
    &defaults[section][name]
}

/// A default as the page shows it: in backticks, a whole number without
/// its `.0`, `none` when there is none.
fn shown(value: &Value) -> String {
    match value {
        Value::Null => "none".into(),
        Value::String(text) => format!("`{text}`"),
        Value::Number(n) => match n.as_f64() {
            Some(f) if f.fract() == 0.0 && f.abs() < 1e15 => format!("`{}`", f as i64),
            _ => format!("`{n}`"),
        },
        other => format!("`{other}`"),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    /// Every key the raw configuration has, `section.key`.
    fn raw_keys() -> BTreeSet<String> {
        let defaults = serde_json::to_value(RawConfig::default()).expect("json");
        defaults
            .as_object()
            .expect("sections")
            .iter()
            .flat_map(|(section, keys)| {
                keys.as_object()
                    .expect("keys")
                    .keys()
                    .map(move |key| format!("{section}.{key}"))
            })
            .collect()
    }

    #[test]
    fn every_key_is_described_once_and_nothing_else() {
        let described: Vec<&str> = KEYS.iter().map(|doc| doc.key).collect();
        let unique: BTreeSet<String> = described.iter().map(|k| (*k).to_owned()).collect();
        assert_eq!(unique.len(), described.len(), "a key described twice");
        assert_eq!(unique, raw_keys());
    }

    #[test]
    fn a_default_note_never_contradicts_the_code() {
        let defaults = serde_json::to_value(RawConfig::default()).expect("json");
        for doc in KEYS {
            let value = default_of(&defaults, doc.key);
            if doc.key == "listen.tunnel_idle_timeout_seconds" {
                // Unset in the file's defaults: forward-proxy mode applies its own.
                let applied =
                    serde_json::json!(super::super::raw::DEFAULT_TUNNEL_IDLE_TIMEOUT_SECONDS);
                assert!(
                    doc.default_note.starts_with(&shown(&applied)),
                    "{}",
                    doc.default_note
                );
                continue;
            }
            if doc.default_note.is_empty() {
                assert!(!value.is_null(), "{}: no default and no note", doc.key);
                continue;
            }
            if doc.default_note.starts_with('`') {
                assert!(
                    doc.default_note.starts_with(&shown(value)),
                    "{}: the note {:?} does not start with the default {}",
                    doc.key,
                    doc.default_note,
                    shown(value)
                );
            }
        }
    }

    #[test]
    fn the_committed_page_is_the_generated_one() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/configuration.md");
        let committed = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            committed == markdown(),
            "docs/configuration.md differs from what the code generates: \
             cargo run -- docs config > docs/configuration.md"
        );
    }

    #[test]
    fn the_example_file_holds_every_key() {
        let path =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("config/shadow-proxy.toml");
        let text = std::fs::read_to_string(path).expect("config/shadow-proxy.toml");
        let mut section = String::new();
        let mut present = BTreeSet::new();
        for line in text.lines() {
            let line = line.trim_start_matches('#').trim();
            if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
                section = name.to_owned();
            } else if let Some((key, _)) = line.split_once(" = ") {
                present.insert(format!("{section}.{}", key.trim()));
            }
        }
        let missing: Vec<&str> = KEYS
            .iter()
            .map(|doc| doc.key)
            .filter(|key| !present.contains(*key))
            .collect();
        assert!(
            missing.is_empty(),
            "not in config/shadow-proxy.toml: {missing:?}"
        );
    }
}
