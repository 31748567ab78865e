//! The binary's start: a bad config stops it before it binds, with a line naming the key.

use std::process::Command;

fn binary() -> Command {
    Command::new(env!("CARGO_BIN_EXE_socure-shadow-proxy"))
}

fn write_config(dir: &tempfile::TempDir, text: &str) -> std::path::PathBuf {
    let path = dir.path().join("proxy.toml");
    std::fs::write(&path, text).expect("write config");
    path
}

/// Runs `run --config` on `text` with `env` set (`None` removes a variable),
/// asserts the start is refused with exit 64 before any output on stdout,
/// and returns stderr.
fn refused_start(text: &str, env: &[(&str, Option<&str>)]) -> String {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = write_config(&dir, text);
    let mut command = binary();
    command.args(["run", "--config"]).arg(&path);
    for (name, value) in env {
        match value {
            Some(value) => command.env(name, value),
            None => command.env_remove(name),
        };
    }
    let out = command.output().expect("run");
    assert_eq!(out.status.code(), Some(64));
    assert!(out.stdout.is_empty(), "diagnostics go to stderr only");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn unknown_key_stops_the_start_naming_the_key() {
    let stderr = refused_start(
        "[upstream]\nbase_url = \"http://127.0.0.1:9\"\n[shadow]\nenabeld = true\n",
        &[],
    );
    assert!(stderr.contains("shadow.enabeld: unknown key"), "{stderr}");
}

#[test]
fn enabled_without_api_key_stops_the_start() {
    let stderr = refused_start(
        "[upstream]\nbase_url = \"http://127.0.0.1:9\"\n[shadow]\nenabled = true\ninstant_verify_workflow = \"w\"\n",
        &[("SOCURE_IDPLUS_API_KEY", None)],
    );
    assert!(
        stderr.contains("socure.api_key (from env SOCURE_IDPLUS_API_KEY): missing"),
        "{stderr}"
    );
}

#[test]
fn bad_url_from_env_names_key_and_variable() {
    let stderr = refused_start(
        "[upstream]\nbase_url = \"http://127.0.0.1:9\"\n",
        &[("SOCURE_IDPLUS_BASE_URL", Some("not a url"))],
    );
    assert!(
        stderr.contains("socure.base_url (from env SOCURE_IDPLUS_BASE_URL): not a valid URL"),
        "{stderr}"
    );
}

#[test]
fn shipped_example_config_is_valid() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("config/shadow-proxy.toml");
    let env: std::collections::HashMap<String, String> = Default::default();
    let config =
        socure_shadow_proxy::config::Config::load(&path, &env).expect("example config loads");
    assert!(
        !config.shadow.enabled,
        "the example ships with shadow mode off"
    );
    assert_eq!(config.shadow.instant_verify_workflow, "gsa2.chk32.test.wf");
    assert_eq!(
        config.upstream.base_url.host(),
        Some("lexisnexis.example.com")
    );

    let enabled: std::collections::HashMap<String, String> = [
        (
            "IDV_SOCURE_SHADOW_MODE_ENABLED".to_owned(),
            "true".to_owned(),
        ),
        ("SOCURE_IDPLUS_API_KEY".to_owned(), "fake-key".to_owned()),
    ]
    .into();
    let config =
        socure_shadow_proxy::config::Config::load(&path, &enabled).expect("enabled by env");
    assert!(config.shadow.enabled);
}

#[test]
fn ca_init_writes_a_ca_with_a_private_key_and_never_overwrites() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().expect("tempdir");
    let stdout = succeeds(
        binary()
            .args(["ca", "init"])
            .arg(dir.path())
            .args(["--permit-host", "idv-vendor.test"]),
    );
    for needed in [
        "mode = \"forward_proxy\"",
        "ca_cert_file",
        "HTTPS_PROXY=http://127.0.0.1:",
        "only vouch for: idv-vendor.test",
    ] {
        assert!(stdout.contains(needed), "{needed:?} in:\n{stdout}");
    }
    let mode = |name: &str| {
        std::fs::metadata(dir.path().join(name))
            .expect("written")
            .permissions()
            .mode()
            & 0o777
    };
    assert_eq!(mode("ca.key"), 0o600, "the key is private");
    let key = std::fs::read_to_string(dir.path().join("ca.key")).expect("key");
    assert!(key.starts_with("-----BEGIN PRIVATE KEY-----"));
    assert!(!stdout.contains(key.trim()), "the key is never printed");
    // The certificate is a CA the proxy itself can load and mint from.
    let files = socure_shadow_proxy::config::TlsFiles {
        cert_file: dir.path().join("ca.crt"),
        key_file: dir.path().join("ca.key"),
    };
    let authority = socure_shadow_proxy::authority::Authority::load(&files).expect("loads");
    assert!(authority.server_config("idv-vendor.test").is_ok());

    let before = std::fs::read(dir.path().join("ca.crt")).expect("cert");
    let again = binary()
        .args(["ca", "init"])
        .arg(dir.path())
        .output()
        .expect("run");
    assert!(!again.status.success(), "refuses to overwrite");
    let stderr = String::from_utf8_lossy(&again.stderr);
    assert!(
        stderr.contains(&format!(
            "refusing to overwrite {}",
            dir.path().join("ca.key").display()
        )),
        "{stderr}"
    );
    assert_eq!(
        std::fs::read(dir.path().join("ca.crt")).expect("cert"),
        before
    );
}

/// The proxy config inside a Kubernetes manifest's ConfigMap (the block
/// under `shadow-proxy.toml: |`), dedented.
fn config_in_manifest(file: &str) -> String {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(file);
    let text = std::fs::read_to_string(path).expect("manifest");
    let mut lines = text
        .lines()
        .skip_while(|l| !l.contains("shadow-proxy.toml: |"));
    lines.next();
    lines
        .take_while(|l| l.is_empty() || l.starts_with("    "))
        .map(|l| l.get(4..).unwrap_or(""))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn the_sample_manifests_configs_are_valid() {
    use socure_shadow_proxy::config::{Config, ListenMode, Resolve};
    let env: std::collections::HashMap<String, String> =
        [("SOCURE_IDPLUS_API_KEY".to_owned(), "fake-key".to_owned())].into();
    let sidecar = Config::from_toml(&config_in_manifest("config/kubernetes-sidecar.yaml"), &env)
        .expect("the TLS-listener manifest's config loads");
    assert!(matches!(
        sidecar.listen.mode,
        ListenMode::Reverse { tls: Some(_) }
    ));
    assert_eq!(sidecar.listen.address.port(), 443);
    assert!(matches!(sidecar.upstream.resolve, Resolve::Dns { .. }));
    assert!(sidecar.shadow.enabled);

    let proxy = Config::from_toml(
        &config_in_manifest("config/kubernetes-https-proxy.yaml"),
        &env,
    )
    .expect("the forward-proxy manifest's config loads");
    let ListenMode::ForwardProxy(intercept) = proxy.listen.mode else {
        panic!("forward-proxy mode expected");
    };
    assert!(intercept.tunnel_other_hosts);
}

#[test]
fn check_config_names_bad_keys_and_never_shows_the_secret() {
    const SECRET: &str = "fake-secret-canary-5150";
    let dir = tempfile::tempdir().expect("tempdir");
    let bad = write_config(
        &dir,
        "[upstream]\nbase_url = \"http://127.0.0.1:9\"\nconnect_to = \"nowhere\"\n[log]\nformat = \"xml\"\n",
    );
    let out = binary()
        .args(["check-config", "--config"])
        .arg(&bad)
        .env("SOCURE_IDPLUS_API_KEY", SECRET)
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(64));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("upstream.connect_to: expected HOST:PORT"),
        "{stderr}"
    );
    assert!(stderr.contains("log.format: expected"), "{stderr}");

    let good = write_config(
        &dir,
        "[upstream]\nbase_url = \"http://127.0.0.1:9\"\n[shadow]\nenabled = true\ninstant_verify_workflow = \"a.wf\"\n",
    );
    let out = binary()
        .args(["check-config", "--config"])
        .arg(&good)
        .env("SOCURE_IDPLUS_API_KEY", SECRET)
        .output()
        .expect("run");
    assert!(out.status.success());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.starts_with("# configuration OK"), "{stdout}");
    assert!(
        stdout.contains("# socure.api_key = \"[redacted]\" (env SOCURE_IDPLUS_API_KEY only)"),
        "{stdout}"
    );
    // The printout is a config file: it reads back, as the same configuration.
    let again = write_config(&dir, &stdout);
    let reread = binary()
        .args(["check-config", "--config"])
        .arg(&again)
        .env("SOCURE_IDPLUS_API_KEY", SECRET)
        .output()
        .expect("run");
    assert!(
        reread.status.success(),
        "{}",
        String::from_utf8_lossy(&reread.stderr)
    );
    let body = |text: &[u8]| {
        String::from_utf8_lossy(text)
            .lines()
            .skip(1)
            .collect::<Vec<_>>()
            .join("\n")
    };
    assert_eq!(body(&reread.stdout), body(&out.stdout));
    for output in [&out.stdout, &out.stderr] {
        assert!(!String::from_utf8_lossy(output).contains(SECRET));
    }
}

/// The `bad configuration: ...` messages in `stderr`, JSON lines or text.
fn bad_configuration_lines(stderr: &[u8]) -> Vec<String> {
    String::from_utf8_lossy(stderr)
        .lines()
        .map(
            |line| match serde_json::from_str::<serde_json::Value>(line) {
                Ok(json) => json["fields"]["message"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
                Err(_) => line.to_owned(),
            },
        )
        .filter_map(|line| {
            line.find("bad configuration: ")
                .map(|at| line[at + "bad configuration: ".len()..].to_owned())
        })
        .collect()
}

#[test]
fn run_and_check_config_print_the_same_lines_for_every_mistake_at_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = write_config(
        &dir,
        "[upstream]\nbase_url = \"http://127.0.0.1:9\"\n[listen]\nmax_connections = \"many\"\nmax_header_bytes = -1\n[shadow]\nenabeld = true\nsample_percent = \"half\"\n",
    );
    let env = [
        ("IDV_SOCURE_SHADOW_MODE_ENABLED", "perhaps"),
        ("SOCURE_IDPLUS_TIMEOUT_IN_SECONDS", "soon"),
    ];
    let run = |command: &str| {
        let out = binary()
            .args([command, "--config"])
            .arg(&path)
            .envs(env)
            .output()
            .expect("runs");
        assert_eq!(out.status.code(), Some(64), "{command}");
        bad_configuration_lines(&out.stderr)
    };
    let checked = run("check-config");
    let file = path.display();
    assert_eq!(
        checked,
        [
            "shadow.enabled (from env IDV_SOCURE_SHADOW_MODE_ENABLED): expected true or false (or 1/0, yes/no)".to_owned(),
            "socure.timeout_seconds (from env SOCURE_IDPLUS_TIMEOUT_IN_SECONDS): expected a number".to_owned(),
            format!("{file}:4: listen.max_connections: expected a whole number of 0 or more, got the string \"many\""),
            format!("{file}:5: listen.max_header_bytes: expected a whole number of 0 or more, got the number -1"),
            format!("{file}:8: shadow.sample_percent: expected a number, got the string \"half\""),
            format!("{file}:7: shadow.enabeld: unknown key; did you mean shadow.enabled?"),
        ]
    );
    assert_eq!(run("run"), checked, "run refuses with the same lines");
}

#[test]
fn ca_init_makes_a_missing_directory_prints_absolute_paths_and_names_what_it_will_not_overwrite() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().canonicalize().expect("real path");
    let init = || {
        binary()
            .args(["ca", "init", "./ca"])
            .current_dir(&root)
            .output()
            .expect("run")
    };
    let out = init();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let ca = std::fs::metadata(root.join("ca")).expect("made");
    assert_eq!(ca.permissions().mode() & 0o777, 0o700);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let cert_line = format!("ca_cert_file = \"{}\"", root.join("ca/ca.crt").display());
    assert!(stdout.contains(&cert_line), "{cert_line} in:\n{stdout}");

    let again = init();
    assert!(!again.status.success());
    let stderr = String::from_utf8_lossy(&again.stderr);
    assert!(
        stderr.contains("refusing to overwrite ./ca/ca.key")
            || stderr.contains("refusing to overwrite ./ca/ca.crt"),
        "{stderr}"
    );

    // A config beside the CA, its paths relative to itself, read from
    // another working directory.
    std::fs::write(
        root.join("proxy.toml"),
        "[listen]\nmode = \"forward_proxy\"\nca_cert_file = \"ca/ca.crt\"\nca_key_file = \"ca/ca.key\"\n[upstream]\nbase_url = \"https://vendor.test\"\n[shadow]\nlog_path = \"lines.log\"\n",
    )
    .expect("write config");
    let stdout = succeeds(
        binary()
            .args(["check-config", "--config"])
            .arg(root.join("proxy.toml"))
            .current_dir("/"),
    );
    for key in [
        format!("ca_cert_file = \"{}\"", root.join("ca/ca.crt").display()),
        format!("log_path = \"{}\"", root.join("lines.log").display()),
    ] {
        assert!(stdout.contains(&key), "{key} in:\n{stdout}");
    }
}

/// Runs `command`, asserts it succeeded, returns stdout.
fn succeeds(command: &mut Command) -> String {
    let out = command.output().expect("run");
    assert!(
        out.status.success(),
        "{command:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("UTF-8")
}

/// Runs the binary with `args`, asserts it succeeded, returns stdout.
fn stdout_of(args: &[&str]) -> String {
    succeeds(binary().args(args))
}

/// Every subcommand a person types, as the man page and completions must name them.
const SUBCOMMANDS: &[&str] = &[
    "run",
    "demo",
    "report",
    "check-config",
    "healthcheck",
    "ca",
    "completions",
    "man",
];

#[test]
fn version_names_the_commit_it_was_built_from() {
    let commit = env!("SHADOW_PROXY_BUILD_COMMIT");
    assert_eq!(
        stdout_of(&["--version"]),
        format!(
            "socure-shadow-proxy {} ({commit})\n",
            env!("CARGO_PKG_VERSION")
        )
    );
    // Built from this checkout without the override: the commit is git's own.
    if option_env!("SHADOW_PROXY_COMMIT").is_none_or(str::is_empty)
        && let Ok(git) = Command::new("git")
            .args(["rev-parse", "--short=12", "HEAD"])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .output()
        && git.status.success()
    {
        assert_eq!(commit, String::from_utf8_lossy(&git.stdout).trim());
    }
}

#[test]
fn run_help_lists_every_environment_override_with_its_key() {
    let help = stdout_of(&["run", "--help"]);
    let key_of = |variable: &str| {
        help.lines()
            .find_map(|line| {
                line.trim()
                    .strip_prefix(variable)?
                    .split_whitespace()
                    .next()
            })
            .unwrap_or_else(|| panic!("{variable} not in:\n{help}"))
            .to_owned()
    };
    assert_eq!(key_of("SOCURE_IDPLUS_API_KEY"), "socure.api_key");
    assert_eq!(key_of("SHADOW_PROXY_ADMIN_ADDRESS"), "admin.address");
    // The whole table the config reads, not a copy of it.
    for (variable, key) in socure_shadow_proxy::config::env_overrides() {
        let first = key.split_whitespace().next().unwrap_or_default();
        assert_eq!(key_of(variable), first, "{variable}");
    }
    assert!(help.contains("RUST_LOG"), "{help}");
}

#[test]
fn check_config_help_describes_its_option() {
    let help = stdout_of(&["check-config", "--help"]);
    let line = help
        .lines()
        .find(|line| line.trim_start().starts_with("-c, --config <CONFIG>"))
        .unwrap_or_else(|| panic!("no --config in:\n{help}"));
    let description = line.split("--config <CONFIG>").nth(1).unwrap_or("").trim();
    assert!(
        description.contains("configuration file"),
        "empty description: {line:?}"
    );
}

#[test]
fn bash_completion_completes_subcommands() {
    let script = stdout_of(&["completions", "bash"]);
    for name in SUBCOMMANDS {
        assert!(script.contains(name), "{name} not in the bash script");
    }
    // The function the script registers, run by bash as it would on a Tab
    // after `socure-shadow-proxy ch`.
    let function = script
        .lines()
        .find_map(|line| {
            line.trim()
                .strip_prefix("complete -F ")?
                .split_whitespace()
                .next()
        })
        .expect("complete -F in the script")
        .to_owned();
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("socure-shadow-proxy.bash");
    std::fs::write(&path, &script).expect("write script");
    let out = Command::new("bash")
        .arg("-c")
        .arg(format!(
            "source \"$1\" && COMP_WORDS=(socure-shadow-proxy ch) && COMP_CWORD=1 && \
             {function} socure-shadow-proxy ch socure-shadow-proxy && printf '%s\\n' \"${{COMPREPLY[@]}}\""
        ))
        .arg("bash")
        .arg(&path)
        .output()
        .expect("bash");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "check-config\n");

    for shell in ["zsh", "fish", "elvish", "powershell"] {
        let script = stdout_of(&["completions", shell]);
        assert!(script.contains("check-config"), "{shell}:\n{script}");
    }
}

#[test]
fn man_page_is_roff_naming_every_subcommand_and_variable() {
    let page = stdout_of(&["man"]);
    let title = page
        .lines()
        .position(|line| line.starts_with(".TH socure-shadow-proxy 1 "))
        .unwrap_or_else(|| panic!("no .TH title in:\n{page}"));
    let first_section = page.lines().position(|line| line.starts_with(".SH "));
    assert!(
        first_section.is_some_and(|section| title < section),
        "{page}"
    );
    // roff escapes a name's `-` as `\-`.
    for name in SUBCOMMANDS {
        let reference = format!("socure-shadow-proxy-{name}(1)").replace('-', "\\-");
        assert!(page.contains(&reference), "{reference} not in:\n{page}");
    }
    let environment = page
        .split(".SH ENVIRONMENT\n")
        .nth(1)
        .unwrap_or_else(|| panic!("no ENVIRONMENT section in:\n{page}"));
    for variable in ["SOCURE_IDPLUS_API_KEY", "SHADOW_PROXY_ADMIN_ADDRESS"] {
        assert!(environment.contains(&format!("\\fB{variable}\\fR")));
    }
    assert!(page.contains(&format!(".SH VERSION\nv{}", env!("SHADOW_PROXY_VERSION"))));

    // Each page the main one names can be had.
    let init = stdout_of(&["man", "ca", "init"]);
    assert!(
        init.contains(".TH socure-shadow-proxy-ca-init 1 "),
        "{init}"
    );
    assert!(init.contains("\\-\\-permit\\-host"), "{init}");
    let missing = binary().args(["man", "nope"]).output().expect("run");
    assert_eq!(missing.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("no subcommand \"nope\""));
}

/// The names of the environment variables the sources read: every literal
/// passed to an environment read in `src/`, the overrides table's and the
/// secrets' names in the config, and `RUST_LOG` (read by the log filter).
fn variables_read() -> std::collections::BTreeSet<String> {
    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut names = std::collections::BTreeSet::from(["RUST_LOG".to_owned()]);
    let mut files = vec![src];
    while let Some(path) = files.pop() {
        if path.is_dir() {
            files.extend(
                std::fs::read_dir(&path)
                    .expect("read src/")
                    .map(|entry| entry.expect("entry").path()),
            );
            continue;
        }
        let text = std::fs::read_to_string(&path).expect("a source file");
        // `var("X")`, `var_os("X")`, and `const X_ENV: &str = "X";`.
        for (i, _) in text.match_indices('"') {
            let before = &text[..i];
            let read = before.ends_with("var(")
                || before.ends_with("var_os(")
                || (before.ends_with("_ENV: &str = ") && before.contains("pub const"));
            let name: String = text[i + 1..]
                .chars()
                .take_while(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || *c == '_')
                .collect();
            if read && name.len() > 3 {
                names.insert(name);
            }
        }
        // The overrides table: its tuples start with the variable's name.
        if let Some(table) = text.split("const ENV_OVERRIDES").nth(1) {
            let table = table.split("];").next().unwrap_or_default();
            for quoted in table.split('"').skip(1).step_by(2) {
                if quoted.chars().all(|c| c.is_ascii_uppercase() || c == '_') {
                    names.insert(quoted.to_owned());
                }
            }
        }
    }
    names
}

#[test]
fn every_variable_the_source_reads_is_in_the_help_and_the_man_page() {
    let names = variables_read();
    for expected in [
        "SOCURE_IDPLUS_API_KEY",
        "SHADOW_PROXY_REDIS_PASSWORD",
        "SHADOW_PROXY_DEDUP_KEY",
        "IDV_SOCURE_SHADOW_MODE_ENABLED",
        "SHADOW_PROXY_ADMIN_ADDRESS",
    ] {
        assert!(
            names.contains(expected),
            "the scan misses {expected}: {names:?}"
        );
    }
    for args in [
        &["run", "--help"][..],
        &["check-config", "--help"],
        &["man"],
    ] {
        let output = binary().args(args).output().expect("the binary runs");
        assert!(output.status.success(), "{args:?}");
        let text = String::from_utf8_lossy(&output.stdout).replace("\\-", "-");
        for name in &names {
            assert!(
                text.contains(name.as_str()),
                "{args:?} does not name {name}"
            );
        }
    }
}
