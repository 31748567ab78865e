//! `ca issue`: the TLS listener's certificate (ways in 1 and 2) from the CA
//! `ca init` made, both run as the real binary. openssl verifies the chain
//! for each host and refuses another; the files are never overwritten; a
//! host outside the CA's `--permit-host` is refused; and the proxy's TLS
//! listener serves the certificate to a client trusting only `ca.crt`.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::support::tls::{client_trusting, exchange, tls_over};
use crate::support::*;

/// The vendor's name the certificate is issued for.
const HOST: &str = "vendor.test";

fn binary() -> Command {
    Command::new(env!("CARGO_BIN_EXE_socure-shadow-proxy"))
}

fn run(command: &mut Command) -> Output {
    command.output().expect("run")
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The openssl binary, or a panic telling the reader how to install it.
fn openssl() -> PathBuf {
    std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .map(|dir| dir.join("openssl"))
        .find(|path| {
            path.metadata()
                .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
        .expect("no openssl on PATH: `apt-get install openssl` (or run .ci/run, which installs it)")
}

/// `ca init DIR --permit-host vendor.test`, then `ca issue DIR --host
/// vendor.test --host 127.0.0.1`; returns `ca issue`'s stdout.
fn init_and_issue(dir: &Path) -> String {
    let init = run(binary()
        .args(["ca", "init"])
        .arg(dir)
        .args(["--permit-host", HOST]));
    assert!(init.status.success(), "{}", stderr(&init));
    let issue =
        run(binary()
            .args(["ca", "issue"])
            .arg(dir)
            .args(["--host", HOST, "--host", "127.0.0.1"]));
    assert!(issue.status.success(), "{}", stderr(&issue));
    String::from_utf8(issue.stdout).expect("UTF-8")
}

/// `openssl verify -CAfile DIR/ca.crt CHECK DIR/vendor.test.crt`.
fn openssl_verify(dir: &Path, check: &[&str]) -> Output {
    run(Command::new(openssl())
        .arg("verify")
        .arg("-CAfile")
        .arg(dir.join("ca.crt"))
        .args(check)
        .arg(dir.join(format!("{HOST}.crt"))))
}

#[test]
fn ca_issue_writes_a_private_key_and_a_chain_openssl_verifies_for_each_host() {
    let temp = tempfile::tempdir().expect("tempdir");
    let dir = temp.path().join("ca");
    let stdout = init_and_issue(&dir);
    let (cert_file, key_file) = (
        dir.join(format!("{HOST}.crt")),
        dir.join(format!("{HOST}.key")),
    );
    for needed in [
        format!("tls_cert_file = \"{}\"", cert_file.display()),
        format!("tls_key_file = \"{}\"", key_file.display()),
        format!("trust {}", dir.join("ca.crt").display()),
    ] {
        assert!(stdout.contains(&needed), "{needed:?} in:\n{stdout}");
    }

    let mode = std::fs::metadata(&key_file)
        .expect("key")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600, "the key is private");
    let key = std::fs::read_to_string(&key_file).expect("key");
    assert!(key.starts_with("-----BEGIN PRIVATE KEY-----"));
    assert!(!stdout.contains(key.trim()), "the key is never printed");
    let chain = std::fs::read_to_string(&cert_file).expect("chain");
    assert_eq!(
        chain.matches("-----BEGIN CERTIFICATE-----").count(),
        2,
        "the leaf, then the CA"
    );
    let ca = std::fs::read_to_string(dir.join("ca.crt")).expect("CA");
    assert!(
        chain.ends_with(&ca),
        "the CA's certificate, as ca init wrote it, last"
    );

    for check in [
        &["-verify_hostname", HOST][..],
        &["-verify_ip", "127.0.0.1"],
        &["-purpose", "sslserver"],
    ] {
        let out = openssl_verify(&dir, check);
        let said = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && said.contains(": OK"),
            "openssl verify {check:?}: {said}{}",
            stderr(&out)
        );
    }
    let other = openssl_verify(&dir, &["-verify_hostname", "other.test"]);
    assert!(!other.status.success(), "not for another name");
    assert!(
        stderr(&other).contains("hostname mismatch"),
        "{}",
        stderr(&other)
    );
    // A server certificate, not a CA.
    let ext = run(Command::new(openssl())
        .args([
            "x509",
            "-noout",
            "-ext",
            "basicConstraints,extendedKeyUsage",
            "-in",
        ])
        .arg(&cert_file));
    let ext = String::from_utf8_lossy(&ext.stdout);
    assert!(
        ext.contains("CA:FALSE") && ext.contains("TLS Web Server Authentication"),
        "{ext}"
    );
}

#[test]
fn ca_issue_never_overwrites_and_refuses_a_host_outside_permit_host() {
    let temp = tempfile::tempdir().expect("tempdir");
    let dir = temp.path().join("ca");
    init_and_issue(&dir);
    let (cert_file, key_file) = (
        dir.join(format!("{HOST}.crt")),
        dir.join(format!("{HOST}.key")),
    );
    let files = || {
        (
            std::fs::read(&cert_file).expect("cert"),
            std::fs::read(&key_file).expect("key"),
        )
    };
    // Again for the same first host: refused, naming the file, nothing changed.
    let before = files();
    let again = run(binary()
        .args(["ca", "issue"])
        .arg(&dir)
        .args(["--host", HOST]));
    assert!(!again.status.success(), "refuses to overwrite");
    let refusal = stderr(&again);
    assert!(
        refusal.contains(&format!("refusing to overwrite {}", key_file.display()))
            || refusal.contains(&format!("refusing to overwrite {}", cert_file.display())),
        "{refusal}"
    );
    assert!(files() == before, "the files are as they were");

    // Outside the CA's --permit-host: refused by name, nothing written.
    let outside = run(binary().args(["ca", "issue"]).arg(&dir).args([
        "--host",
        "sub.vendor.test",
        "--host",
        "other.test",
    ]));
    assert!(!outside.status.success());
    let refusal = stderr(&outside);
    assert!(
        refusal.contains("refusing to issue for other.test") && refusal.contains("--permit-host"),
        "{refusal}"
    );
    let mut names: Vec<_> = std::fs::read_dir(&dir)
        .expect("dir")
        .map(|entry| entry.expect("entry").file_name())
        .collect();
    names.sort();
    assert_eq!(
        names,
        ["ca.crt", "ca.key", "vendor.test.crt", "vendor.test.key"]
    );
}

#[tokio::test]
async fn the_tls_listener_serves_the_issued_certificate_to_a_client_trusting_only_the_ca() {
    let temp = tempfile::tempdir().expect("tempdir");
    let dir = temp.path().join("ca");
    init_and_issue(&dir);
    let (upstream, socure) = passing_vendors().await;
    let options = Options {
        enabled: false,
        listen_extra: format!(
            "tls_cert_file = \"{}\"\ntls_key_file = \"{}\"",
            dir.join(format!("{HOST}.crt")).display(),
            dir.join(format!("{HOST}.key")).display()
        ),
        ..Options::default()
    };
    let proxy = TestProxy::start(upstream.addr, socure.addr, options).await;
    let trusting_ca = || client_trusting(&dir.join("ca.crt"));

    // By the vendor's name, as the app does once its hosts file points
    // that name at the sidecar; and by the IP SAN.
    for name in [HOST, "127.0.0.1"] {
        let tcp = tokio::net::TcpStream::connect(proxy.addr)
            .await
            .expect("connect");
        let mut tls = tls_over(tcp, name, trusting_ca())
            .await
            .unwrap_or_else(|err| panic!("the listener's certificate is good for {name}: {err}"));
        let served = tls.get_ref().1.peer_certificates().map_or(0, <[_]>::len);
        assert_eq!(served, 2, "the chain as issued: the leaf, then the CA");
        let answer = exchange(&mut tls, &instant_verify_request()).await;
        assert_eq!(answer.status(), 200, "through to the vendor over {name}");
    }
    let tcp = tokio::net::TcpStream::connect(proxy.addr)
        .await
        .expect("connect");
    let err = tls_over(tcp, "other.test", trusting_ca())
        .await
        .expect_err("not for another name");
    assert!(
        err.to_string()
            .contains("not valid for name \"other.test\""),
        "{err}"
    );
    proxy.stop().await;
    assert_eq!(upstream.requests().len(), 2);
}
