//! The ways the proxy is put in the IdV app's path without touching the app,
//! each driven by a client that signs its requests as the IdP does (HMAC
//! over body, path and the vendor's host name) against a fake LexisNexis over
//! TLS that refuses a bad signature with 401:
//!
//! - TLS listener: the app's vendor name resolves to the sidecar
//!   (`hostAliases`); the client connects as `curl --connect-to` would.
//! - forward proxy: the app's `HTTPS_PROXY`; `CONNECT` to the vendor is
//!   intercepted with a leaf from the proxy's CA; other hosts are refused or
//!   tunnelled; curl itself goes through it.
//! - the upstream's TLS: an unknown CA is refused (502, a clear log line),
//!   a configured `ca_file` is trusted; names resolve by DNS, not the hosts file.

use std::net::SocketAddr;
use std::path::Path;

use crate::support::tls::*;
use crate::support::*;

/// The config for a proxy in front of the TLS vendor: `listen` and
/// `upstream` are the bodies of those sections; Socure is a plain fake.
fn config(log: &Path, listen: &str, upstream: &str, socure: SocketAddr) -> String {
    format!(
        r#"
[listen]
address = "127.0.0.1:0"
{listen}
[admin]
address = "127.0.0.1:0"
[upstream]
base_url = "https://{VENDOR_HOST}"
timeout_seconds = 10
{upstream}
[shadow]
enabled = true
instant_verify_workflow = "{WORKFLOW}"
log_path = "{log}"
[socure]
base_url = "http://{socure}"
timeout_seconds = 5
"#,
        log = log.display()
    )
}

/// The upstream section for the fake vendor: connect there, trust its CA.
fn to_vendor(vendor: &TlsVendor, pki: &TestPki) -> String {
    format!(
        "connect_to = \"{}\"\nca_file = \"{}\"",
        vendor.addr,
        pki.ca_cert.display()
    )
}

async fn vendor_and_socure() -> (TestPki, TlsVendor, FakeVendor) {
    let pki = TestPki::new("vendor");
    let vendor = TlsVendor::start(&pki.leaf("vendor", &[VENDOR_HOST])).await;
    let socure = socure_answering(json_ok(&fixture("socure/kyc_all_verified.json"))).await;
    (pki, vendor, socure)
}

/// Checks what the vendor saw of a request signed for its own name, and the
/// line the proxy wrote for it.
fn assert_signed_request_arrived_unchanged(seen: &Seen, sent: &[u8]) {
    let sent = parse(sent);
    assert_eq!(
        seen.sni.as_deref(),
        Some(VENDOR_HOST),
        "SNI names the vendor"
    );
    assert!(seen.signature_ok, "the vendor accepted the IdP's signature");
    assert_eq!(seen.message.start_line, sent.start_line);
    assert_eq!(seen.message.header_str("host"), Some(VENDOR_HOST));
    assert_eq!(
        seen.message.header_str("authorization"),
        sent.header_str("authorization")
    );
    assert!(seen.message.body == sent.body, "body byte for byte");
}

fn assert_answered_line(line: &serde_json::Value) {
    let e = event(line);
    assert_eq!(e["resolution_outcome"], "answered");
    assert_eq!(resolution(e)["success"], true);
    assert_eq!(e["socure_outcome"], "answered");
}

#[tokio::test]
async fn tls_listener_carries_signed_requests_to_the_vendor_unchanged() {
    let (pki, vendor, socure) = vendor_and_socure().await;
    // The CA the app trusts for the sidecar's certificate.
    let app_pki = TestPki::new("sidecar");
    let sidecar = app_pki.leaf("sidecar", &[VENDOR_HOST]);
    let proxy = TestProxy::from_toml(|log| {
        config(
            log,
            &format!(
                "tls_cert_file = \"{}\"\ntls_key_file = \"{}\"",
                sidecar.cert_file.display(),
                sidecar.key_file.display()
            ),
            &to_vendor(&vendor, &pki),
            socure.addr,
        )
    })
    .await;

    // As `curl --connect-to idv-vendor.test:443:127.0.0.1:PORT` would: TCP to
    // the sidecar, SNI and Host for the vendor.
    let tcp = tokio::net::TcpStream::connect(proxy.addr)
        .await
        .expect("connect");
    let mut tls = tls_over(tcp, VENDOR_HOST, client_trusting(&app_pki.ca_cert))
        .await
        .expect("the sidecar presents a certificate for the vendor's name");
    let good = signed_iv_request(VENDOR_HOST);
    let answer = exchange(&mut tls, &good).await;
    assert_eq!(answer.status(), 200);
    assert!(
        answer.body == fixture("lexis_nexis/instant_verify/successful_response.json"),
        "the vendor's answer, unchanged"
    );
    // The control: a request signed for another host is refused by the
    // vendor, and the 401 comes back as it was sent.
    let answer = exchange(&mut tls, &signed_iv_request("other-host.test")).await;
    assert_eq!(answer.status(), 401);
    assert_eq!(answer.body, b"bad signature\n");

    let seen = vendor.seen();
    assert_eq!(seen.len(), 2, "both on one pooled TLS connection or two");
    assert_signed_request_arrived_unchanged(&seen[0], &good);
    assert!(!seen[1].signature_ok);
    let lines = proxy.finish().await;
    assert_eq!(lines.len(), 2);
    assert_answered_line(&lines[0]);
    assert_eq!(socure.requests().len(), 2);
}

/// A proxy in forward-proxy mode with a fresh CA from `ca init`; `extra` is
/// added to `[listen]`.
async fn forward_proxy(
    vendor: &TlsVendor,
    pki: &TestPki,
    socure: &FakeVendor,
    extra: &str,
) -> (TestProxy, tempfile::TempDir) {
    let ca_dir = tempfile::tempdir().expect("temp dir");
    let made = socure_shadow_proxy::authority::init(ca_dir.path(), &[]).expect("ca init");
    let listen = format!(
        "mode = \"forward_proxy\"\nca_cert_file = \"{}\"\nca_key_file = \"{}\"\n{extra}",
        made.cert_file.display(),
        made.key_file.display()
    );
    let upstream = to_vendor(vendor, pki);
    let proxy = TestProxy::from_toml(|log| config(log, &listen, &upstream, socure.addr)).await;
    (proxy, ca_dir)
}

/// A `CONNECT` to the vendor through the proxy, answered 200, and TLS inside
/// it with the leaf the proxy presents from the CA in `ca_dir`.
async fn intercepted_session(
    proxy: SocketAddr,
    ca_dir: &Path,
) -> tokio_rustls::client::TlsStream<tokio::net::TcpStream> {
    let (head, tcp) = connect_through(proxy, &format!("{VENDOR_HOST}:443")).await;
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    tls_over(tcp, VENDOR_HOST, client_trusting(&ca_dir.join("ca.crt")))
        .await
        .expect("the proxy presents a leaf for the vendor from its CA")
}

#[tokio::test]
async fn forward_proxy_intercepts_connect_to_the_vendor_and_shadows_it() {
    let (pki, vendor, socure) = vendor_and_socure().await;
    let (proxy, ca_dir) = forward_proxy(&vendor, &pki, &socure, "").await;

    let mut tls = intercepted_session(proxy.addr, ca_dir.path()).await;
    let sent = signed_iv_request(VENDOR_HOST);
    let answer = exchange(&mut tls, &sent).await;
    assert_eq!(answer.status(), 200);
    assert!(answer.body == fixture("lexis_nexis/instant_verify/successful_response.json"));

    let seen = vendor.seen();
    assert_eq!(seen.len(), 1);
    assert_signed_request_arrived_unchanged(&seen[0], &sent);
    let lines = proxy.finish().await;
    assert_eq!(lines.len(), 1);
    assert_answered_line(&lines[0]);
}

#[tokio::test]
async fn forward_proxy_refuses_other_hosts_and_plain_http() {
    let (pki, vendor, socure) = vendor_and_socure().await;
    let (proxy, _ca) = forward_proxy(&vendor, &pki, &socure, "").await;

    let (head, _) = connect_through(proxy.addr, "elsewhere.test:443").await;
    assert!(head.starts_with("HTTP/1.1 403"), "{head}");
    let answer = send(
        proxy.addr,
        &request(
            "POST",
            &format!("http://{VENDOR_HOST}{IV_PATH}"),
            &[("Host", VENDOR_HOST)],
            &fixture("lexis_nexis/instant_verify/request.json"),
        ),
    )
    .await;
    assert_eq!(answer.status(), 403, "absolute-form plain HTTP is refused");
    assert!(vendor.seen().is_empty(), "nothing reached the vendor");
    assert!(proxy.finish().await.is_empty());
    assert!(socure.requests().is_empty());
}

#[tokio::test]
async fn forward_proxy_tunnels_other_hosts_untouched_when_configured() {
    let (pki, vendor, socure) = vendor_and_socure().await;
    let elsewhere = FakeVendor::always(response("200 OK", &[], b"plain")).await;
    // The fake is on 127.0.0.1, an internal address: it must be listed.
    let (proxy, _ca) = forward_proxy(
        &vendor,
        &pki,
        &socure,
        &format!(
            "tunnel_other_hosts = true\ntunnel_allow = [\"{}\"]",
            elsewhere.addr
        ),
    )
    .await;

    let (head, mut tcp) = connect_through(proxy.addr, &elsewhere.addr.to_string()).await;
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    // Whatever goes into the tunnel arrives as sent, even an InstantVerify
    // request: only intercepted hosts are shadowed.
    let sent = instant_verify_request();
    let answer = exchange(&mut tcp, &sent).await;
    assert_eq!(answer.body, b"plain");
    let received = elsewhere.requests();
    assert_eq!(received.len(), 1);
    let sent = parse(&sent);
    assert_eq!(received[0].head, sent.head, "head byte for byte");
    assert!(received[0].body == sent.body);
    assert!(vendor.seen().is_empty());
    assert!(proxy.finish().await.is_empty(), "tunnels are not shadowed");
}

#[tokio::test]
async fn curl_goes_through_the_forward_proxy() {
    let (pki, vendor, socure) = vendor_and_socure().await;
    let (proxy, ca_dir) = forward_proxy(&vendor, &pki, &socure, "").await;
    let body_file = ca_dir.path().join("request.json");
    let body = fixture("lexis_nexis/instant_verify/request.json");
    std::fs::write(&body_file, &body).expect("write body");
    let authorization = sign(VENDOR_HOST, IV_PATH, &body);
    let args: Vec<String> = vec![
        "--silent".into(),
        "--show-error".into(),
        "--max-time".into(),
        "20".into(),
        "--proxy".into(),
        format!("http://{}", proxy.addr),
        "--cacert".into(),
        ca_dir.path().join("ca.crt").display().to_string(),
        "-H".into(),
        "Content-Type: application/json".into(),
        "-H".into(),
        format!("Authorization: {authorization}"),
        "--data-binary".into(),
        format!("@{}", body_file.display()),
        "--write-out".into(),
        "\n%{http_code}".into(),
        format!("https://{VENDOR_HOST}{IV_PATH}"),
    ];
    let output = tokio::task::spawn_blocking(move || {
        std::process::Command::new("curl")
            .args(&args)
            .env_remove("HTTPS_PROXY")
            .env_remove("https_proxy")
            .env_remove("NO_PROXY")
            .env_remove("no_proxy")
            .output()
    })
    .await
    .expect("join")
    .expect("curl runs (.ci/run installs it)");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "curl failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let (answer, code) = stdout.rsplit_once('\n').expect("body, then the status");
    assert_eq!(code, "200");
    assert!(
        answer.as_bytes() == fixture("lexis_nexis/instant_verify/successful_response.json"),
        "curl got the vendor's answer unchanged"
    );
    let seen = vendor.seen();
    assert_eq!(seen.len(), 1);
    assert!(seen[0].signature_ok);
    assert_eq!(seen[0].sni.as_deref(), Some(VENDOR_HOST));
    let lines = proxy.finish().await;
    assert_eq!(lines.len(), 1);
    assert_answered_line(&lines[0]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upstream_from_an_unknown_ca_is_refused_and_ca_file_trusts_it() {
    let (pki, vendor, socure) = vendor_and_socure().await;
    let no_ca = format!("connect_to = \"{}\"", vendor.addr);
    let proxy = ProxyProcess::start_toml(|log| config(log, "", &no_ca, socure.addr), &[]);
    let answer = send(proxy.addr, &signed_iv_request(VENDOR_HOST)).await;
    assert_eq!(answer.status(), 502);
    assert_eq!(answer.body, b"upstream unavailable\n");
    let logged = proxy.wait_for_stderr("proxy answered for the upstream");
    // JSON off a terminal (`log.format = "auto"`).
    assert!(logged.contains("\"status\":502"), "{logged}");
    assert!(
        logged.contains("UnknownIssuer") || logged.contains("certificate"),
        "the log line names the certificate problem: {logged}"
    );
    assert!(
        vendor.seen().is_empty(),
        "no request crossed an unverified TLS"
    );
    proxy.signal(nix::sys::signal::Signal::SIGTERM);
    // Waiting blocks this thread; the fake Socure serves from the other worker.
    assert!(proxy.wait_exit(TEST_BOUND).is_some_and(|s| s.success()));
    let lines = proxy.log_lines();
    assert_eq!(lines.len(), 1);
    assert_eq!(
        event(&lines[0])["resolution_outcome"],
        "upstream_unreachable"
    );

    let proxy =
        TestProxy::from_toml(|log| config(log, "", &to_vendor(&vendor, &pki), socure.addr)).await;
    let answer = send(proxy.addr, &signed_iv_request(VENDOR_HOST)).await;
    assert_eq!(answer.status(), 200, "trusted through upstream.ca_file");
    assert_eq!(vendor.seen().len(), 1);
    assert_eq!(proxy.finish().await.len(), 1);
}

#[tokio::test]
async fn without_connect_to_the_vendor_is_found_by_dns() {
    let (pki, vendor, socure) = vendor_and_socure().await;
    let dns = FakeDns::start(VENDOR_HOST).await;
    // The vendor's port in the URL; the name only DNS knows.
    let upstream = format!(
        "ca_file = \"{}\"\nresolve = \"dns\"\ndns_servers = [\"{}\"]",
        pki.ca_cert.display(),
        dns.addr
    );
    let proxy = TestProxy::from_toml(|log| {
        config(log, "", &upstream, socure.addr).replace(
            &format!("base_url = \"https://{VENDOR_HOST}\""),
            &format!(
                "base_url = \"https://{VENDOR_HOST}:{}\"",
                vendor.addr.port()
            ),
        )
    })
    .await;
    let answer = send(proxy.addr, &signed_iv_request(VENDOR_HOST)).await;
    assert_eq!(answer.status(), 200);
    assert!(
        dns.asked().iter().any(|name| name == VENDOR_HOST),
        "asked DNS: {:?}",
        dns.asked()
    );
    assert_eq!(vendor.seen().len(), 1);
    assert_eq!(proxy.finish().await.len(), 1);
}

#[tokio::test]
async fn a_client_certificate_is_presented_to_an_upstream_that_asks() {
    let pki = TestPki::new("vendor");
    let clients = TestPki::new("clients");
    let vendor =
        TlsVendor::requiring_client_cert(&pki.leaf("vendor", &[VENDOR_HOST]), &clients).await;
    let socure = socure_answering(json_ok(&fixture("socure/kyc_all_verified.json"))).await;

    let without =
        TestProxy::from_toml(|log| config(log, "", &to_vendor(&vendor, &pki), socure.addr)).await;
    let answer = send(without.addr, &signed_iv_request(VENDOR_HOST)).await;
    assert_eq!(
        answer.status(),
        502,
        "the vendor's handshake refuses a client without a certificate"
    );
    without.finish().await;

    let identity = clients.leaf("idp-client", &["idp-client.test"]);
    let upstream = format!(
        "{}\nclient_cert_file = \"{}\"\nclient_key_file = \"{}\"",
        to_vendor(&vendor, &pki),
        identity.cert_file.display(),
        identity.key_file.display()
    );
    let with = TestProxy::from_toml(|log| config(log, "", &upstream, socure.addr)).await;
    let answer = send(with.addr, &signed_iv_request(VENDOR_HOST)).await;
    assert_eq!(answer.status(), 200);
    assert_eq!(vendor.seen().len(), 1);
    assert!(vendor.seen()[0].signature_ok);
    with.finish().await;
}

#[tokio::test]
async fn forward_proxy_intercepts_an_extra_host_and_forwards_to_that_host() {
    const SECOND: &str = "second-vendor.test";
    let (pki, vendor, socure) = vendor_and_socure().await;
    let second = TlsVendor::start_as(&pki.leaf("second", &[SECOND]), SECOND).await;
    // The second host is found by DNS (only the upstream's has connect_to).
    let dns = FakeDns::start(SECOND).await;
    let ca_dir = tempfile::tempdir().expect("temp dir");
    let made = socure_shadow_proxy::authority::init(ca_dir.path(), &[]).expect("ca init");
    // Intercepted at the port the entry names (443 when it names none).
    let listen = format!(
        "mode = \"forward_proxy\"\nca_cert_file = \"{}\"\nca_key_file = \"{}\"\nintercept_hosts = [\"{SECOND}:{}\"]",
        made.cert_file.display(),
        made.key_file.display(),
        second.addr.port()
    );
    let upstream = format!(
        "{}\ndns_servers = [\"{}\"]",
        to_vendor(&vendor, &pki),
        dns.addr
    );
    let proxy = TestProxy::from_toml(|log| config(log, &listen, &upstream, socure.addr)).await;

    let (head, tcp) =
        connect_through(proxy.addr, &format!("{SECOND}:{}", second.addr.port())).await;
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    let mut tls = tls_over(tcp, SECOND, client_trusting(&made.cert_file))
        .await
        .expect("a leaf for the extra host");
    let sent = signed_iv_request(SECOND);
    let answer = exchange(&mut tls, &sent).await;
    assert_eq!(answer.status(), 200);

    let seen = second.seen();
    assert_eq!(seen.len(), 1, "forwarded to the host the app named");
    assert!(
        seen[0].signature_ok,
        "signed for the second host, checked by it"
    );
    assert_eq!(seen[0].sni.as_deref(), Some(SECOND));
    assert_eq!(
        seen[0].message.header_str("host"),
        Some(SECOND),
        "Host as the app sent it"
    );
    assert!(vendor.seen().is_empty(), "never to the configured upstream");
    let lines = proxy.finish().await;
    assert_eq!(lines.len(), 1, "its InstantVerify request is shadowed too");
    assert_answered_line(&lines[0]);
}

#[tokio::test]
async fn a_trailing_dot_is_the_same_host_and_is_intercepted() {
    let (pki, vendor, socure) = vendor_and_socure().await;
    let (proxy, ca_dir) = forward_proxy(&vendor, &pki, &socure, "tunnel_other_hosts = true").await;

    let (head, tcp) =
        connect_through(proxy.addr, &format!("{}.:443", VENDOR_HOST.to_uppercase())).await;
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    let mut tls = tls_over(
        tcp,
        VENDOR_HOST,
        client_trusting(&ca_dir.path().join("ca.crt")),
    )
    .await
    .expect("the leaf for the vendor's name, not a tunnel");
    let sent = signed_iv_request(VENDOR_HOST);
    let answer = exchange(&mut tls, &sent).await;
    assert_eq!(answer.status(), 200);
    let seen = vendor.seen();
    assert_eq!(seen.len(), 1, "through connect_to to the fake vendor");
    assert_signed_request_arrived_unchanged(&seen[0], &sent);
    let lines = proxy.finish().await;
    assert_eq!(lines.len(), 1, "shadowed like the plain spelling");
    assert_answered_line(&lines[0]);
}

#[tokio::test]
async fn the_vendors_host_at_another_port_is_refused_not_tunnelled() {
    let (pki, vendor, socure) = vendor_and_socure().await;
    let (proxy, _ca) = forward_proxy(&vendor, &pki, &socure, "tunnel_other_hosts = true").await;
    for target in [
        format!("{VENDOR_HOST}:{}", vendor.addr.port()),
        format!("{VENDOR_HOST}:18391"),
    ] {
        let (head, _) = connect_through(proxy.addr, &target).await;
        assert!(head.starts_with("HTTP/1.1 403"), "{target}: {head}");
    }
    assert!(vendor.seen().is_empty());
    assert!(proxy.finish().await.is_empty());
}

#[tokio::test]
async fn an_intercepted_session_holds_its_connection_slot() {
    let (pki, vendor, socure) = vendor_and_socure().await;
    let (proxy, ca_dir) = forward_proxy(&vendor, &pki, &socure, "max_connections = 1").await;
    let mut tls = intercepted_session(proxy.addr, ca_dir.path()).await;
    assert_eq!(
        exchange(&mut tls, &signed_iv_request(VENDOR_HOST))
            .await
            .status(),
        200
    );

    let mut second = tokio::net::TcpStream::connect(proxy.addr)
        .await
        .expect("connect");
    send_connect(&mut second, &format!("{VENDOR_HOST}:443")).await;
    assert!(
        tokio::time::timeout(
            std::time::Duration::from_millis(500),
            read_connect_answer(&mut second)
        )
        .await
        .is_err(),
        "served past max_connections = 1 while a session was open"
    );
    drop(tls);
    let head = tokio::time::timeout(TEST_BOUND, read_connect_answer(&mut second))
        .await
        .expect("answered once the session closed");
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    drop(second);
    assert_eq!(proxy.finish().await.len(), 1);
}

/// The `connects_refused_total` count for `reason`, from the admin port.
async fn refused_for(proxy: &TestProxy, reason: &str) -> f64 {
    let (_, text) = admin_get(proxy.admin, "/metrics").await;
    metric(
        &text,
        &format!("socure_shadow_proxy_connects_refused_total{{reason=\"{reason}\"}}"),
    )
}

#[tokio::test]
async fn a_connect_to_the_vendors_address_is_refused_even_when_tunnel_allow_lists_it() {
    let (pki, vendor, socure) = vendor_and_socure().await;
    let port = vendor.addr.port();
    // The vendor is at connect_to (127.0.0.1:PORT); the list names that
    // address, and a name that resolves to it.
    let (proxy, ca_dir) = forward_proxy(
        &vendor,
        &pki,
        &socure,
        &format!("tunnel_allow = [\"{}\", \"localhost:{port}\"]", vendor.addr),
    )
    .await;
    for target in [
        vendor.addr.to_string(),
        format!("[::ffff:127.0.0.1]:{port}"),
        format!("localhost:{port}"),
    ] {
        let (head, _) = connect_through(proxy.addr, &target).await;
        assert!(
            head.starts_with("HTTP/1.1 403"),
            "{target}: never a blind tunnel: {head}"
        );
    }
    // Each refused for that reason (and the log line names the target).
    assert_eq!(refused_for(&proxy, "intercepted_address").await, 3.0);

    // The vendor by its name is still intercepted and shadowed.
    let mut tls = intercepted_session(proxy.addr, ca_dir.path()).await;
    let sent = signed_iv_request(VENDOR_HOST);
    assert_eq!(exchange(&mut tls, &sent).await.status(), 200);
    let seen = vendor.seen();
    assert_eq!(seen.len(), 1, "only the intercepted request reached it");
    assert_signed_request_arrived_unchanged(&seen[0], &sent);
    drop(tls);
    assert_eq!(proxy.finish().await.len(), 1);
}

#[tokio::test]
async fn a_connect_to_where_an_intercepted_name_resolves_is_refused() {
    const SECOND: &str = "second-vendor.test";
    let (pki, vendor, socure) = vendor_and_socure().await;
    let second = TlsVendor::start_as(&pki.leaf("second", &[SECOND]), SECOND).await;
    // The second host has no connect_to: the upstream's resolver (this DNS
    // server) says where its traffic goes, and so where no tunnel may.
    let dns = FakeDns::start(SECOND).await;
    let ca_dir = tempfile::tempdir().expect("temp dir");
    let made = socure_shadow_proxy::authority::init(ca_dir.path(), &[]).expect("ca init");
    let port = second.addr.port();
    let listen = format!(
        "mode = \"forward_proxy\"\nca_cert_file = \"{}\"\nca_key_file = \"{}\"\n\
         intercept_hosts = [\"{SECOND}:{port}\"]\ntunnel_allow = [\"127.0.0.1:{port}\"]",
        made.cert_file.display(),
        made.key_file.display(),
    );
    let upstream = format!(
        "{}\ndns_servers = [\"{}\"]",
        to_vendor(&vendor, &pki),
        dns.addr
    );
    let proxy = TestProxy::from_toml(|log| config(log, &listen, &upstream, socure.addr)).await;

    let (head, _) = connect_through(proxy.addr, &format!("127.0.0.1:{port}")).await;
    assert!(head.starts_with("HTTP/1.1 403"), "{head}");
    assert!(
        dns.asked().iter().any(|name| name == SECOND),
        "looked up as the upstream client would: {:?}",
        dns.asked()
    );
    assert_eq!(refused_for(&proxy, "intercepted_address").await, 1.0);
    assert!(second.seen().is_empty());
    assert!(vendor.seen().is_empty());
    assert!(proxy.finish().await.is_empty());
}
