//! The preflight, through the real binary: every file the config names is read before start, `check-config` and `run` refuse the same configs with the same lines naming each key (exit 64), and a port already taken names its key and variable.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use crate::support::TEST_BOUND;
use crate::support::tls::TestPki;

fn binary() -> Command {
    Command::new(env!("CARGO_BIN_EXE_socure-shadow-proxy"))
}

/// Runs `command` to its end, killed if it takes longer than `bound` (a
/// `run` that got past the preflight would serve until stopped).
fn output_within(mut command: Command, bound: Duration) -> Output {
    let child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the binary");
    let pid = nix::unistd::Pid::from_raw(i32::try_from(child.id()).expect("pid"));
    let (done, finished) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = done.send(child.wait_with_output());
    });
    match finished.recv_timeout(bound) {
        Ok(output) => output.expect("wait for the binary"),
        Err(_) => {
            let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL);
            let output = finished.recv_timeout(bound).expect("killed binary reaped");
            panic!(
                "still running after {bound:?}: {}",
                String::from_utf8_lossy(&output.expect("output").stderr)
            );
        }
    }
}

/// The `bad configuration: ` lines of a run's stderr, text or JSON
/// diagnostics alike, without that prefix.
fn bad_lines(stderr: &[u8]) -> BTreeSet<String> {
    String::from_utf8_lossy(stderr)
        .lines()
        .map(|line| {
            serde_json::from_str::<serde_json::Value>(line)
                .ok()
                .and_then(|json| json["fields"]["message"].as_str().map(str::to_owned))
                .unwrap_or_else(|| line.to_owned())
        })
        .filter_map(|line| {
            line.split_once("bad configuration: ")
                .map(|(_, rest)| rest.to_owned())
        })
        .collect()
}

/// Writes `text` as a config in `dir`, runs `check-config` and `run` on it
/// with `env`, asserts both refuse with exit 64, print the same lines, and
/// bind nothing (no "listening" line); returns the lines.
fn refused(dir: &Path, text: &str, env: &[(&str, &str)]) -> BTreeSet<String> {
    let config = dir.join("proxy.toml");
    std::fs::write(&config, text).expect("write config");
    let mut seen = Vec::new();
    for subcommand in ["check-config", "run"] {
        let mut command = binary();
        command
            .args([subcommand, "--config"])
            .arg(&config)
            .env_remove("SOCURE_IDPLUS_API_KEY")
            .env_remove("SHADOW_PROXY_LOG_PATH")
            .envs(env.iter().copied());
        let out = output_within(command, TEST_BOUND);
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert_eq!(out.status.code(), Some(64), "{subcommand}: {stderr}");
        assert!(
            !stderr.contains("listening"),
            "{subcommand} bound: {stderr}"
        );
        seen.push(bad_lines(&out.stderr));
    }
    assert_eq!(seen[0], seen[1], "check-config and run differ");
    assert!(!seen[0].is_empty());
    // A value from the file is placed at its line (`FILE:LINE: key: ...`);
    // one from the environment names its variable instead. The lines are
    // returned without the place, which each test does not repeat.
    let file = format!("{}:", config.display());
    seen.swap_remove(0)
        .into_iter()
        .map(|line| match line.strip_prefix(&file) {
            Some(rest) => {
                let (number, rest) = rest.split_once(": ").expect("FILE:LINE: ");
                assert!(number.parse::<usize>().is_ok(), "{line}");
                rest.to_owned()
            }
            None => {
                assert!(line.contains("(from env "), "no file:line in {line:?}");
                line
            }
        })
        .collect()
}

/// A reverse-proxy config on port 0 with `more` appended (sections after
/// `[upstream]` may be added by `more`).
fn reverse(upstream_more: &str, more: &str) -> String {
    format!(
        "[listen]\naddress = \"127.0.0.1:0\"\n{more}\n[admin]\naddress = \"127.0.0.1:0\"\n\
         [upstream]\nbase_url = \"http://127.0.0.1:9\"\n{upstream_more}\n"
    )
}

fn shown(path: &Path) -> String {
    path.display().to_string()
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, bytes).expect("write");
    path
}

/// A forward-proxy config with the CA files given.
fn forward_proxy(cert: &Path, key: &Path) -> String {
    format!(
        "[listen]\naddress = \"127.0.0.1:0\"\nmode = \"forward_proxy\"\n\
         ca_cert_file = \"{}\"\nca_key_file = \"{}\"\n\
         [admin]\naddress = \"127.0.0.1:0\"\n\
         [upstream]\nbase_url = \"https://idv-vendor.test\"\n",
        cert.display(),
        key.display()
    )
}

#[test]
fn a_missing_ca_key_is_named_by_its_key() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ca = socure_shadow_proxy::authority::init(&dir.path().join("ca"), &[]).expect("ca init");
    let missing = dir.path().join("ca").join("nope.key");
    let lines = refused(dir.path(), &forward_proxy(&ca.cert_file, &missing), &[]);
    assert_eq!(
        lines,
        [format!(
            "listen.ca_key_file: cannot read {}: No such file or directory",
            shown(&missing)
        )]
        .into()
    );
}

#[test]
fn the_ca_certificate_given_as_its_key_is_named() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ca = socure_shadow_proxy::authority::init(&dir.path().join("ca"), &[]).expect("ca init");
    let lines = refused(
        dir.path(),
        &forward_proxy(&ca.cert_file, &ca.cert_file),
        &[],
    );
    assert_eq!(
        lines,
        [format!(
            "listen.ca_key_file: {} holds a certificate, not a private key",
            shown(&ca.cert_file)
        )]
        .into()
    );
}

#[test]
fn another_cas_key_and_a_key_as_the_certificate_are_named() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ca = socure_shadow_proxy::authority::init(&dir.path().join("ca"), &[]).expect("ca init");
    let other = socure_shadow_proxy::authority::init(&dir.path().join("other"), &[]).expect("init");
    let lines = refused(
        dir.path(),
        &forward_proxy(&ca.cert_file, &other.key_file),
        &[],
    );
    assert_eq!(
        lines,
        [format!(
            "listen.ca_key_file: {} is not the private key of the certificate in {}",
            shown(&other.key_file),
            shown(&ca.cert_file)
        )]
        .into()
    );
    let lines = refused(dir.path(), &forward_proxy(&ca.key_file, &ca.key_file), &[]);
    assert_eq!(
        lines,
        [format!(
            "listen.ca_cert_file: {} holds a private key, not a certificate",
            shown(&ca.key_file)
        )]
        .into()
    );
}

#[test]
fn a_missing_upstream_ca_file_is_named() {
    let dir = tempfile::tempdir().expect("tempdir");
    let missing = dir.path().join("vendor-ca.pem");
    let lines = refused(
        dir.path(),
        &reverse(&format!("ca_file = \"{}\"", missing.display()), ""),
        &[],
    );
    assert_eq!(
        lines,
        [format!(
            "upstream.ca_file: cannot read {}: No such file or directory",
            shown(&missing)
        )]
        .into()
    );
}

/// A config with shadow mode on, its log at `log_path`.
fn shadowing(log_path: &str, more: &str) -> String {
    reverse("", "")
        + &format!(
            "[shadow]\nenabled = true\ninstant_verify_workflow = \"w\"\nlog_path = \"{log_path}\"\n{more}"
        )
}

const API_KEY: (&str, &str) = ("SOCURE_IDPLUS_API_KEY", "fake-key");

#[test]
fn a_shadow_log_in_a_missing_directory_is_named_from_the_file_or_the_env() {
    let dir = tempfile::tempdir().expect("tempdir");
    let nowhere = dir.path().join("nope");
    let log = nowhere.join("shadow.log");
    let lines = refused(dir.path(), &shadowing(&shown(&log), ""), &[API_KEY]);
    assert_eq!(
        lines,
        [format!(
            "shadow.log_path: the directory {} does not exist",
            shown(&nowhere)
        )]
        .into()
    );
    let from_env = shown(&log);
    let lines = refused(
        dir.path(),
        &shadowing("-", ""),
        &[API_KEY, ("SHADOW_PROXY_LOG_PATH", &from_env)],
    );
    assert_eq!(
        lines,
        [format!(
            "shadow.log_path (from env SHADOW_PROXY_LOG_PATH): the directory {} does not exist",
            shown(&nowhere)
        )]
        .into()
    );
}

#[test]
fn check_config_checks_a_new_shadow_log_without_leaving_it_behind() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = dir.path().join("shadow.log");
    let config = write(
        dir.path(),
        "proxy.toml",
        shadowing(&shown(&log), "").as_bytes(),
    );
    let mut command = binary();
    command
        .args(["check-config", "--config"])
        .arg(&config)
        .env(API_KEY.0, API_KEY.1)
        .env_remove("SHADOW_PROXY_LOG_PATH");
    let out = output_within(command, TEST_BOUND);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!log.exists(), "check-config made the log file");

    // An existing log is opened for appending, and left as it was.
    std::fs::write(&log, b"{\"earlier\":true}\n").expect("write");
    let mut command = binary();
    command
        .args(["check-config", "--config"])
        .arg(&config)
        .env(API_KEY.0, API_KEY.1)
        .env_remove("SHADOW_PROXY_LOG_PATH");
    assert!(output_within(command, TEST_BOUND).status.success());
    assert_eq!(
        std::fs::read(&log).expect("read"),
        b"{\"earlier\":true}\n",
        "never truncated"
    );
}

#[test]
fn the_tls_listeners_files_are_each_checked() {
    let pki = TestPki::new("listener");
    let leaf = pki.leaf("vendor", &["idv-vendor.test"]);
    let other = pki.leaf("other", &["idv-vendor.test"]);
    let dir = pki.dir.path();
    let files = |cert: &Path, key: &Path| {
        reverse(
            "",
            &format!(
                "tls_cert_file = \"{}\"\ntls_key_file = \"{}\"",
                cert.display(),
                key.display()
            ),
        )
    };
    let missing = dir.join("missing.crt");
    let not_pem = write(dir, "not-pem.key", b"this is not a key\n");
    assert_eq!(
        refused(dir, &files(&missing, &not_pem), &[]),
        [
            format!(
                "listen.tls_cert_file: cannot read {}: No such file or directory",
                shown(&missing)
            ),
            format!(
                "listen.tls_key_file: {} holds no PEM data: expected a private key in PEM",
                shown(&not_pem)
            ),
        ]
        .into()
    );
    assert_eq!(
        refused(dir, &files(&leaf.cert_file, &other.key_file), &[]),
        [format!(
            "listen.tls_key_file: {} is not the private key of the certificate in {}",
            shown(&other.key_file),
            shown(&leaf.cert_file)
        )]
        .into()
    );
}

#[test]
fn the_upstream_client_certificate_and_ca_bundles_without_certificates_are_named() {
    let pki = TestPki::new("client");
    let leaf = pki.leaf("client", &["client.test"]);
    let other = pki.leaf("other", &["client.test"]);
    let dir = pki.dir.path();
    let empty = write(dir, "empty.pem", b"");
    let lines = refused(
        dir,
        &(reverse(
            &format!(
                "ca_file = \"{}\"\nclient_cert_file = \"{}\"\nclient_key_file = \"{}\"",
                leaf.key_file.display(),
                leaf.key_file.display(),
                leaf.cert_file.display()
            ),
            "",
        ) + &format!("[socure]\nca_file = \"{}\"\n", empty.display())),
        &[],
    );
    assert_eq!(
        lines,
        [
            format!(
                "upstream.ca_file: {} holds a private key, not a certificate",
                shown(&leaf.key_file)
            ),
            format!(
                "upstream.client_cert_file: {} holds a private key, not a certificate",
                shown(&leaf.key_file)
            ),
            format!(
                "upstream.client_key_file: {} holds a certificate, not a private key",
                shown(&leaf.cert_file)
            ),
            format!(
                "socure.ca_file: {} is empty: expected a certificate in PEM",
                shown(&empty)
            ),
        ]
        .into()
    );
    let lines = refused(
        dir,
        &reverse(
            &format!(
                "client_cert_file = \"{}\"\nclient_key_file = \"{}\"",
                leaf.cert_file.display(),
                other.key_file.display()
            ),
            "",
        ),
        &[],
    );
    assert_eq!(
        lines,
        [format!(
            "upstream.client_key_file: {} is not the private key of the certificate in {}",
            shown(&other.key_file),
            shown(&leaf.cert_file)
        )]
        .into()
    );
}

#[test]
fn every_file_mistake_is_reported_in_one_run() {
    let pki = TestPki::new("many");
    let leaf = pki.leaf("vendor", &["idv-vendor.test"]);
    let dir = pki.dir.path();
    let missing_cert = dir.join("missing.crt");
    let missing_ca = dir.join("missing-ca.pem");
    let nowhere = dir.join("nope");
    let text = reverse(
        &format!("ca_file = \"{}\"", missing_ca.display()),
        &format!(
            "tls_cert_file = \"{}\"\ntls_key_file = \"{}\"",
            missing_cert.display(),
            leaf.cert_file.display()
        ),
    ) + &format!(
        "[shadow]\nenabled = true\ninstant_verify_workflow = \"w\"\nlog_path = \"{}\"\n\
         [socure]\nca_file = \"{}\"\n",
        nowhere.join("shadow.log").display(),
        leaf.key_file.display()
    );
    let lines = refused(dir, &text, &[("SOCURE_IDPLUS_API_KEY", "fake-key\n")]);
    assert_eq!(
        lines,
        [
            format!(
                "listen.tls_cert_file: cannot read {}: No such file or directory",
                shown(&missing_cert)
            ),
            format!(
                "listen.tls_key_file: {} holds a certificate, not a private key",
                shown(&leaf.cert_file)
            ),
            format!(
                "upstream.ca_file: cannot read {}: No such file or directory",
                shown(&missing_ca)
            ),
            format!(
                "socure.ca_file: {} holds a private key, not a certificate",
                shown(&leaf.key_file)
            ),
            format!(
                "shadow.log_path: the directory {} does not exist",
                shown(&nowhere)
            ),
            "socure.api_key (from env SOCURE_IDPLUS_API_KEY): is not a valid HTTP header value: \
             it holds a control character (a trailing newline?)"
                .to_owned(),
        ]
        .into()
    );
}

/// `run` on `text` exits (not 64: the config was fine) within the bound,
/// and its stderr is returned.
fn start_fails(text: &str) -> String {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = write(dir.path(), "proxy.toml", text.as_bytes());
    let mut command = binary();
    command
        .args(["run", "--config"])
        .arg(&config)
        .env_remove("SHADOW_PROXY_ADMIN_ADDRESS")
        .env_remove("SHADOW_PROXY_LISTEN_ADDRESS");
    let out = output_within(command, TEST_BOUND);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    stderr
}

#[test]
fn a_port_already_taken_names_its_key_and_variable() {
    // Another process's listener, on a port the system chose.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let address = taken.local_addr().expect("addr");
    let stderr = start_fails(&format!(
        "[listen]\naddress = \"127.0.0.1:0\"\n[admin]\naddress = \"{address}\"\n\
         [upstream]\nbase_url = \"http://127.0.0.1:9\"\n"
    ));
    assert!(
        stderr.contains(&format!(
            "admin.address (env SHADOW_PROXY_ADMIN_ADDRESS) {address}: address already in use: another process listens there"
        )),
        "{stderr}"
    );
    let stderr = start_fails(&format!(
        "[listen]\naddress = \"{address}\"\n[admin]\naddress = \"127.0.0.1:0\"\n\
         [upstream]\nbase_url = \"http://127.0.0.1:9\"\n"
    ));
    assert!(
        stderr.contains(&format!(
            "listen.address (env SHADOW_PROXY_LISTEN_ADDRESS) {address}: address already in use"
        )),
        "{stderr}"
    );
}

#[test]
fn run_starts_from_another_directory_with_paths_relative_to_its_config() {
    let pki = TestPki::new("relative");
    pki.leaf("vendor", &["idv-vendor.test"]);
    let dir = pki.dir.path();
    // Only names relative to the config's directory; the proxy starts in /.
    let config = write(
        dir,
        "proxy.toml",
        reverse(
            "",
            "tls_cert_file = \"vendor.crt\"\ntls_key_file = \"vendor.key\"",
        )
        .as_bytes(),
    );
    let mut child = binary()
        .args(["run", "--config"])
        .arg(&config)
        .current_dir("/")
        .env("RUST_LOG", "info")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the binary");
    let stderr = child.stderr.take().expect("stderr");
    let (lines, seen) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        use std::io::BufRead as _;
        for line in std::io::BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
        {
            if lines.send(line).is_err() {
                break;
            }
        }
    });
    let deadline = std::time::Instant::now() + TEST_BOUND;
    let started = loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        match seen.recv_timeout(left) {
            Ok(line) if line.contains("listening") => break Ok(line),
            Ok(line) if line.contains("bad configuration") => break Err(line),
            Ok(_) => continue,
            Err(_) => break Err("no listening line in time".to_owned()),
        }
    };
    let _ = child.kill();
    let _ = child.wait();
    let line = started.expect("the proxy started from /");
    assert!(line.contains("listening"), "{line}");
}
