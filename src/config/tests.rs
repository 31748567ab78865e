//! The configuration end to end: TOML text and an environment map in, a typed config or one line per bad key out.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

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
    let text = format!("{MINIMAL}[shadow]\nenabled = false\ninstant_verify_workflow = \"a.wf\"\n");
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
    let lines = error_lines(&text);
    assert!(
        lines
            .iter()
            .any(|l| l == "listen.adress: unknown key; did you mean listen.address?"),
        "{lines:?}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l == "shadow.enabeld: unknown key; did you mean shadow.enabled?"),
        "{lines:?}"
    );
}

#[test]
fn bad_values_are_each_named() {
    let text =
        "[upstream]\nbase_url = \"ftp://x\"\ntimeout_seconds = 0\n[socure]\nbase_url = \"nope\"\n";
    let lines = error_lines(text);
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
            "shadow.enabled (from env IDV_SOCURE_SHADOW_MODE_ENABLED): expected true or false (or 1/0, yes/no)"
        ]
    );
    let lines = error_lines(&format!("{MINIMAL}[shadow]\nenabled = \"yes\"\n"));
    assert_eq!(
        lines,
        ["shadow.enabled: expected true or false, got the string \"yes\""]
    );
}

#[test]
fn enabled_without_api_key_is_refused() {
    let text = format!("{MINIMAL}[shadow]\nenabled = true\ninstant_verify_workflow = \"a.wf\"\n");
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
    let all = error_lines(&text).join("\n");
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

/// The error lines for `text`, which must be invalid, without the
/// `line N: ` that starts those from the file (tested on its own below).
fn error_lines(text: &str) -> Vec<String> {
    Config::from_toml(text, &env(&[]))
        .expect_err("invalid")
        .lines()
        .into_iter()
        .map(|line| match line.split_once(": ") {
            Some((at, rest)) if at.starts_with("line ") => rest.to_owned(),
            _ => line,
        })
        .collect()
}

#[test]
fn every_mistyped_value_is_named_at_its_line_in_plain_words() {
    let text = "[listen]\nmax_connections = \"many\"\nmax_header_bytes = -5\n[shadow]\nenabled = \"yes\"\nsample_percent = [1]\n[admin]\naddres = \"127.0.0.1:1\"\n";
    let lines = Config::from_toml(text, &env(&[]))
        .expect_err("invalid")
        .lines();
    assert_eq!(
        lines,
        [
            "line 2: listen.max_connections: expected a whole number of 0 or more, got the string \"many\"",
            "line 3: listen.max_header_bytes: expected a whole number of 0 or more, got the number -5",
            "line 5: shadow.enabled: expected true or false, got the string \"yes\"",
            "line 6: shadow.sample_percent: expected a number, got a list",
            "line 8: admin.addres: unknown key; did you mean admin.address?",
            // And what validation finds in the same run.
            "upstream.base_url: required: the LexisNexis base URL to forward to",
        ]
    );
    // No Rust type name reaches the operator.
    assert!(!lines.join(" ").contains("u64"), "{lines:?}");
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
    assert_eq!(
        intercept.extra_hosts,
        vec![HostPort {
            host: Host::Name("extra.example".into()),
            port: 443
        }]
    );
    assert!(!intercept.tunnel_other_hosts, "refusing is the default");
    assert!(intercept.tunnel_allow.is_empty());
    assert_eq!(intercept.tunnel_idle_timeout, Duration::from_secs(300));
}

const FORWARD: &str =
    "[listen]\nmode = \"forward_proxy\"\nca_cert_file = \"/ca.pem\"\nca_key_file = \"/ca.key\"\n";

#[test]
fn tunnel_keys_are_read_and_each_bad_entry_is_named() {
    let text = format!(
        "{FORWARD}tunnel_other_hosts = true\nintercept_hosts = [\"second.test.:8443\"]\n\
         tunnel_allow = [\"127.0.0.1:5000\", \"Partner.Example:8443\", \"[::1]:6000\"]\n\
         tunnel_idle_timeout_seconds = 1.5\n{MINIMAL}"
    );
    let config = Config::from_toml(&text, &env(&[])).expect("valid");
    let ListenMode::ForwardProxy(intercept) = config.listen.mode else {
        panic!("forward proxy expected");
    };
    let shown = |entries: &[HostPort]| entries.iter().map(ToString::to_string).collect::<Vec<_>>();
    assert_eq!(shown(&intercept.extra_hosts), ["second.test:8443"]);
    assert_eq!(
        shown(&intercept.tunnel_allow),
        ["127.0.0.1:5000", "partner.example:8443", "[::1]:6000"]
    );
    assert_eq!(intercept.tunnel_idle_timeout, Duration::from_millis(1500));

    for (bad, key) in [
        (
            "tunnel_allow = [\"no-port.example\"]",
            "listen.tunnel_allow",
        ),
        (
            "tunnel_allow = [\"user@h.example:443\"]",
            "listen.tunnel_allow",
        ),
        ("tunnel_allow = [\"h.example:0\"]", "listen.tunnel_allow"),
        (
            "intercept_hosts = [\"h.example:99999\"]",
            "listen.intercept_hosts",
        ),
        ("intercept_hosts = [\"h/x\"]", "listen.intercept_hosts"),
        (
            "tunnel_idle_timeout_seconds = 0",
            "listen.tunnel_idle_timeout_seconds",
        ),
    ] {
        let lines = error_lines(&format!("{FORWARD}{bad}\n{MINIMAL}"));
        assert!(lines.iter().any(|l| l.starts_with(key)), "{bad}: {lines:?}");
    }
    for bad in [
        "tunnel_allow = [\"h.example:443\"]",
        "tunnel_idle_timeout_seconds = 60",
    ] {
        let lines = error_lines(&format!("[listen]\n{bad}\n{MINIMAL}"));
        assert!(
            lines
                .iter()
                .any(|l| l.contains("only used with listen.mode")),
            "{bad}: {lines:?}"
        );
    }
}

#[test]
fn a_forward_proxy_that_tunnels_cannot_listen_on_443() {
    let lines = error_lines(&format!(
        "{FORWARD}tunnel_other_hosts = true\naddress = \"127.0.0.1:443\"\n{MINIMAL}"
    ));
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("listen.address: port 443 with listen.tunnel_other_hosts")),
        "{lines:?}"
    );
    let without_tunnels = format!("{FORWARD}address = \"127.0.0.1:443\"\n{MINIMAL}");
    assert!(Config::from_toml(&without_tunnels, &env(&[])).is_ok());
}

#[test]
fn a_tunnel_allow_entry_for_the_proxys_own_port_is_named_at_its_line() {
    // listen.address is 127.0.0.1:8080 and admin.address 127.0.0.1:9901 by default.
    for entry in [
        "127.0.0.1:8080",
        "localhost:8080",
        "LocalHost.:9901",
        "proxy.localhost:9901",
        "127.0.0.2:9901",
        "0.0.0.0:8080",
        "[::1]:9901",
        "[::]:8080",
        "[::ffff:127.0.0.1]:8080",
    ] {
        let text = format!("{FORWARD}tunnel_allow = [\"{entry}\"]\n{MINIMAL}");
        let lines = Config::from_toml(&text, &env(&[]))
            .expect_err("invalid")
            .lines();
        assert_eq!(lines.len(), 1, "{entry}: {lines:?}");
        assert!(
            lines[0].starts_with("line 5: listen.tunnel_allow: ")
                && lines[0].contains("this proxy's own")
                && lines[0].contains("address"),
            "{entry}: {lines:?}"
        );
    }
    // The listen or admin address's own IP, whatever it is.
    let text = format!(
        "{FORWARD}address = \"10.1.2.3:8443\"\ntunnel_allow = [\"10.1.2.3:8443\", \"10.1.2.4:8443\", \"partner.example:8443\"]\n\
         [admin]\naddress = \"10.1.2.3:9000\"\n{MINIMAL}"
    );
    assert_eq!(
        error_lines(&text),
        [
            "listen.tunnel_allow: 10.1.2.3:8443 is this proxy's own listen.address: a tunnel there would be a CONNECT to the proxy itself; remove the entry"
        ]
    );
    // Other ports on this host, and the same ports elsewhere, are fine; so is
    // a port bound as 0 (the run-time rule knows the port once bound).
    let fine = format!(
        "{FORWARD}tunnel_allow = [\"127.0.0.1:8081\", \"localhost:5000\", \"10.9.9.9:8080\", \"partner.example:9901\"]\n{MINIMAL}"
    );
    assert!(Config::from_toml(&fine, &env(&[])).is_ok());
    let unbound = format!(
        "{FORWARD}address = \"127.0.0.1:0\"\ntunnel_allow = [\"127.0.0.1:8080\"]\n[admin]\naddress = \"127.0.0.1:0\"\n{MINIMAL}"
    );
    assert!(Config::from_toml(&unbound, &env(&[])).is_ok());
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

#[test]
fn a_reload_applies_the_live_settings_and_names_the_rest() {
    let before = Config::from_toml(MINIMAL, &env(&[])).expect("valid");
    let text = format!(
        "{MINIMAL}[shadow]\nsample_percent = 12.5\n[socure]\ntimeout_seconds = 2\nmax_calls_per_day = 7\n"
    );
    let live_only = Config::from_toml(&text, &env(&[])).expect("valid");
    assert!(before.needs_restart(&live_only).is_empty());
    let live = live_only.live();
    assert_eq!(live.sample_basis_points, 1_250);
    assert_eq!(live.socure_timeout, Duration::from_secs(2));
    assert_eq!(live.max_calls_per_day, DailyLimit::AtMost(7));
    // The reload's log line: the keys in this order, the share as a
    // percentage, the timeout in seconds, no limit as `null`.
    assert_eq!(
        live.to_json().to_string(),
        r#"{"shadow.enabled":false,"shadow.sample_percent":12.5,"socure.timeout_seconds":2.0,"socure.max_calls_per_day":7}"#
    );
    assert_eq!(before.live().max_calls_per_day, DailyLimit::Unlimited);
    assert!(before.live().to_json()["socure.max_calls_per_day"].is_null());

    let text =
        format!("{MINIMAL}[listen]\naddress = \"127.0.0.1:8081\"\n[shadow]\nmax_in_flight = 3\n");
    let moved = Config::from_toml(&text, &env(&[])).expect("valid");
    assert_eq!(
        before.needs_restart(&moved),
        ["listen.address", "shadow.max_in_flight"]
    );
    let changed: Vec<String> = before
        .effective
        .changes(&live_only.effective)
        .into_iter()
        .map(|c| format!("{}: {} -> {}", c.key, c.old, c.new))
        .collect();
    assert_eq!(
        changed,
        [
            "shadow.sample_percent: 100.0 -> 12.5",
            "socure.max_calls_per_day: null -> 7",
            "socure.timeout_seconds: 5.0 -> 2.0",
        ]
    );
}

#[test]
fn the_effective_configuration_reads_back_as_itself() {
    let text = format!(
        "{MINIMAL}[shadow]\nenabled = true\ninstant_verify_workflow = \"a.wf\"\nsample_percent = 12.5\n[listen]\nintercept_hosts = [\"x.example\"]\nmode = \"forward_proxy\"\nca_cert_file = \"/ca/ca.crt\"\nca_key_file = \"/ca/ca.key\"\n"
    );
    let from_env = [
        ("SOCURE_IDPLUS_API_KEY", "fake-secret-key"),
        ("SHADOW_PROXY_ADMIN_ADDRESS", "127.0.0.1:9911"),
    ];
    let config = Config::from_toml(&text, &env(&from_env)).expect("valid");
    let printed = config.effective.to_toml();
    assert!(
        printed.contains("address = \"127.0.0.1:9911\"  # from env SHADOW_PROXY_ADMIN_ADDRESS"),
        "{printed}"
    );
    assert!(
        printed.contains("# socure.api_key = \"[redacted]\""),
        "{printed}"
    );
    assert!(!printed.contains("fake-secret-key"), "{printed}");
    // No Rust names: `sample_percent`, not basis points.
    assert!(printed.contains("sample_percent = 12.5"), "{printed}");
    // Read back with only the key from the environment (the file may not
    // hold it): the same configuration, key for key.
    let again = Config::from_toml(&printed, &env(&from_env[..1])).expect("reads back");
    assert_eq!(config.effective.changes(&again.effective), []);
    assert_eq!(again.admin.address, config.admin.address);
    let json = config.effective.to_json();
    assert_eq!(json["config"]["shadow"]["sample_percent"], 12.5);
    assert_eq!(json["config"]["socure"]["api_key"], "[redacted]");
    assert_eq!(
        json["from_env"]["admin.address"],
        "SHADOW_PROXY_ADMIN_ADDRESS"
    );
}

#[test]
fn relative_paths_are_taken_from_the_config_files_directory() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("proxy.toml");
    // The files are tried: both exist, one named relative to the config,
    // one by an absolute path elsewhere.
    std::fs::create_dir(dir.path().join("certs")).expect("certs/");
    std::fs::write(dir.path().join("certs/ca.pem"), "").expect("ca.pem");
    let elsewhere = tempfile::tempdir().expect("tempdir");
    let absolute = elsewhere.path().join("abs.pem");
    std::fs::write(&absolute, "").expect("abs.pem");
    std::fs::write(
        &path,
        format!(
            "{MINIMAL}ca_file = \"certs/ca.pem\"\n[shadow]\nlog_path = \"lines.log\"\n[socure]\nca_file = \"{}\"\n",
            absolute.display()
        ),
    )
    .expect("write config");
    let config = Config::load(&path, &env(&[])).expect("valid");
    assert_eq!(
        config.upstream.ca_file,
        Some(dir.path().join("certs/ca.pem"))
    );
    assert_eq!(
        config.shadow.log_path,
        LogTarget::File(dir.path().join("lines.log"))
    );
    assert_eq!(config.socure.ca_file, Some(absolute));
    // stdout is not a path.
    std::fs::write(&path, format!("{MINIMAL}[shadow]\nlog_path = \"-\"\n")).expect("write");
    let config = Config::load(&path, &env(&[])).expect("valid");
    assert_eq!(config.shadow.log_path, LogTarget::Stdout);
}

#[test]
fn errors_from_a_file_say_file_and_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("proxy.toml");
    std::fs::write(
        &path,
        format!("{MINIMAL}[listen]\n\nmax_connections = \"many\"\n"),
    )
    .expect("write");
    let lines = Config::load(&path, &env(&[("SHADOW_PROXY_ADMIN_ADDRESS", "nowhere")]))
        .expect_err("invalid")
        .lines();
    assert_eq!(
        lines,
        [
            format!(
                "{}:5: listen.max_connections: expected a whole number of 0 or more, got the string \"many\"",
                path.display()
            ),
            "admin.address (from env SHADOW_PROXY_ADMIN_ADDRESS): expected HOST:PORT with an IP address, e.g. 127.0.0.1:9901".to_owned(),
        ]
    );
}

#[test]
fn the_fleets_secrets_come_only_from_the_environment_and_are_never_shown() {
    let from_env = [
        (
            "SHADOW_PROXY_REDIS_URL",
            "rediss://shadow:fake-redis-pass@redis.internal:6380/0",
        ),
        ("SHADOW_PROXY_DEDUP_KEY", "fake-dedup-key"),
    ];
    let text = format!("{MINIMAL}[shadow]\ndedup_window_seconds = 60\n");
    let config = Config::from_toml(&text, &env(&from_env)).expect("valid");
    let fleet = config.fleet.as_ref().expect("a fleet");
    assert_eq!(fleet.on_error, FleetOnError::Skip);
    assert_eq!(fleet.timeout, Duration::from_millis(50));
    let printed = config.effective.to_toml();
    assert!(
        printed.contains(
            "redis_url = \"rediss://shadow@redis.internal:6380/0\"  # from env SHADOW_PROXY_REDIS_URL"
        ),
        "{printed}"
    );
    let everything = format!("{printed}{:?}{}", config, config.effective.to_json());
    for secret in ["fake-redis-pass", "fake-dedup-key"] {
        assert!(!everything.contains(secret), "{secret} shown");
    }

    // In the file: refused, without echoing them.
    let lines = error_lines(&format!(
        "{MINIMAL}[fleet]\nredis_url = \"redis://:fake-file-pass@127.0.0.1:6379\"\ndedup_key = \"fake-file-key\"\n"
    ));
    assert_eq!(
        lines,
        [
            "fleet.dedup_key: the duplicate window's key is read only from env SHADOW_PROXY_DEDUP_KEY, never from the file",
            "fleet.redis_url: a password in the URL is read only from the environment (SHADOW_PROXY_REDIS_URL, or SHADOW_PROXY_REDIS_PASSWORD), never from the file",
        ]
    );
    // A shared window needs the shared key.
    let lines = error_lines(&format!(
        "{MINIMAL}[shadow]\ndedup_window_seconds = 60\n[fleet]\nredis_url = \"redis://127.0.0.1:6379\"\non_error = \"maybe\"\n"
    ));
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("fleet.dedup_key: SHADOW_PROXY_DEDUP_KEY is required")),
        "{lines:?}"
    );
}

#[test]
fn plaintext_to_a_vendor_off_loopback_is_refused_unless_allowed() {
    let lines = error_lines(
        "[upstream]\nbase_url = \"http://lexisnexis.example.com\"\n\
         [socure]\nbase_url = \"http://socure.example.com\"\n",
    );
    for key in ["upstream.base_url", "socure.base_url"] {
        let line = lines.iter().find(|l| l.starts_with(key));
        assert!(
            line.is_some_and(
                |l| l.contains("not a loopback address") && l.contains("allow_plaintext")
            ),
            "{key}: {lines:?}"
        );
    }
    assert!(
        lines.iter().any(|l| l.contains("the API key")),
        "the Socure line says what would travel in clear: {lines:?}"
    );

    let allowed = "[upstream]\nbase_url = \"http://lexisnexis.example.com\"\nallow_plaintext = true\n\
                   [socure]\nbase_url = \"http://socure.example.com\"\nallow_plaintext = true\n";
    assert!(Config::from_toml(allowed, &env(&[])).is_ok());
    for loopback in ["127.0.0.1:9", "localhost:9", "[::1]:9", "127.8.9.10"] {
        let text = format!(
            "[upstream]\nbase_url = \"http://{loopback}\"\n[socure]\nbase_url = \"http://{loopback}\"\n"
        );
        assert!(Config::from_toml(&text, &env(&[])).is_ok(), "{loopback}");
    }
    let https = "[upstream]\nbase_url = \"https://lexisnexis.example.com\"\n";
    assert!(Config::from_toml(https, &env(&[])).is_ok());
}

#[test]
fn the_admin_listener_cannot_share_the_data_port() {
    for (data, admin, clash) in [
        ("127.0.0.1:9090", "127.0.0.1:9090", true),
        ("0.0.0.0:9090", "127.0.0.1:9090", true),
        ("127.0.0.1:9090", "0.0.0.0:9090", true),
        ("[::]:9090", "127.0.0.1:9090", true),
        ("0.0.0.0:9090", "[::1]:9090", false),
        ("127.0.0.1:9090", "127.0.0.2:9090", false),
        ("127.0.0.1:0", "127.0.0.1:0", false),
        ("127.0.0.1:9090", "127.0.0.1:9091", false),
    ] {
        let text =
            format!("{MINIMAL}[listen]\naddress = \"{data}\"\n[admin]\naddress = \"{admin}\"\n");
        let result = Config::from_toml(&text, &env(&[]));
        match result {
            Ok(_) => assert!(!clash, "{data} {admin}"),
            Err(err) => {
                assert!(clash, "{data} {admin}: {:?}", err.lines());
                assert!(
                    err.lines()
                        .iter()
                        .any(|l| l.contains("admin.address") && l.contains("same port")),
                    "{:?}",
                    err.lines()
                );
            }
        }
    }
}

#[test]
fn a_file_that_cannot_be_read_is_named_with_every_other_mistake() {
    let dir = tempfile::tempdir().expect("tempdir");
    let missing = dir.path().join("missing.pem");
    let text = format!(
        "[listen]\naddress = \"127.0.0.1:9090\"\nmax_conections = 100\n\
         tls_cert_file = \"{missing}\"\ntls_key_file = \"{missing}\"\n\
         [admin]\naddress = \"127.0.0.1:9090\"\n\
         [upstream]\nbase_url = \"https://lexisnexis.example.com\"\ntimeout_seconds = \"thirty\"\n\
         ca_file = \"{dir}\"\n\
         [socure]\nbase_url = \"htps//socure.example.com\"\n",
        missing = missing.display(),
        dir = dir.path().display(),
    );
    let path = dir.path().join("five.toml");
    std::fs::write(&path, &text).expect("write the config");
    let err = Config::load(&path, &env(&[])).expect_err("five mistakes");
    let lines = err.lines();
    // Each at FILE:LINE.
    let at = format!("{}:", path.display());
    for line in &lines {
        let line_number = line
            .strip_prefix(&at)
            .and_then(|rest| rest.split(':').next());
        assert!(
            line_number.is_some_and(|n| n.parse::<usize>().is_ok()),
            "not at FILE:LINE: {line}"
        );
    }
    for needle in [
        "listen.max_conections: unknown key",
        "upstream.timeout_seconds: expected a number",
        "socure.base_url: not a valid URL",
        "listen.tls_cert_file: cannot read",
        "listen.tls_key_file: cannot read",
        "upstream.ca_file: cannot read",
        "admin.address: 127.0.0.1:9090 and listen.address 127.0.0.1:9090 are the same port",
    ] {
        assert!(
            lines.iter().any(|l| l.contains(needle)),
            "{needle} missing from one pass: {lines:?}"
        );
    }
}

#[test]
fn the_queue_timeout_is_from_zero_to_a_minute() {
    let parse = |value: &str| {
        Config::from_toml(
            &format!("{MINIMAL}[shadow]\nqueue_timeout_seconds = {value}\n"),
            &env(&[]),
        )
    };
    let config = parse("0").expect("zero: dropped at once");
    assert_eq!(config.shadow.queue_timeout, Duration::ZERO);
    let config = parse("0.25").expect("a quarter of a second");
    assert_eq!(config.shadow.queue_timeout, Duration::from_millis(250));
    let defaults = Config::from_toml(MINIMAL, &env(&[])).expect("valid");
    assert_eq!(defaults.shadow.queue_timeout, Duration::from_millis(50));
    for bad in ["-1", "61", "nan"] {
        let lines = error_lines(&format!(
            "{MINIMAL}[shadow]\nqueue_timeout_seconds = {bad}\n"
        ));
        assert!(
            lines.iter().any(|l| l.starts_with(
                "shadow.queue_timeout_seconds: expected a number of seconds from 0 to 60"
            )),
            "{bad}: {lines:?}"
        );
    }
}
