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
