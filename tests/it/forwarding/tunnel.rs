//! Forward-proxy tunnels (`tunnel_other_hosts = true`) against what a hostile client tries: every spelling of loopback, the proxy's own ports, malformed `CONNECT` targets, more tunnels than `max_connections`, a tunnel left open and quiet.
//!
//! The far ends are listeners on 127.0.0.1 port 0 that count what they
//! accept, so "refused" is checked on both sides: the client's 403, and
//! no connection at the far end.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::support::tls::*;
use crate::support::*;

/// The proxy's `upstream.connect_timeout_seconds`, which bounds opening a
/// tunnel: a refusal that tried no connection comes well within it.
const CONNECT_TIMEOUT_SECONDS: u64 = 5;

/// How long a client that must not be answered is watched. Not a
/// synchronisation: an answer that should not come would come at once.
const NOT_ANSWERED: Duration = Duration::from_millis(500);

/// A far end on 127.0.0.1: echoes what it reads, closes when the client
/// does, and counts the connections it accepted.
struct Far {
    addr: SocketAddr,
    accepted: Arc<AtomicUsize>,
}

impl Far {
    async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind far end");
        let addr = listener.local_addr().expect("far address");
        let accepted = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&accepted);
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                counter.fetch_add(1, Ordering::SeqCst);
                tokio::spawn(async move {
                    let (mut read, mut write) = stream.split();
                    let _ = tokio::io::copy(&mut read, &mut write).await;
                });
            }
        });
        Self { addr, accepted }
    }

    fn accepted(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }
}

/// A forward proxy that tunnels other hosts, with `extra` added to
/// `[listen]`. No shadowing: tunnels are never shadowed.
async fn tunnelling_proxy(extra: &str) -> (TestProxy, tempfile::TempDir) {
    let ca_dir = tempfile::tempdir().expect("temp dir");
    let made = socure_shadow_proxy::authority::init(ca_dir.path(), &[]).expect("ca init");
    let proxy = TestProxy::from_toml(|log| {
        format!(
            r#"
[listen]
address = "127.0.0.1:0"
mode = "forward_proxy"
ca_cert_file = "{cert}"
ca_key_file = "{key}"
tunnel_other_hosts = true
{extra}
[admin]
address = "127.0.0.1:0"
[upstream]
base_url = "https://{VENDOR_HOST}"
# Where the vendor is, so no tunnel looks it up in the machine's DNS (a
# tunnel is never opened to the vendor's address). Nothing listens there.
connect_to = "127.0.0.1:9"
connect_timeout_seconds = {CONNECT_TIMEOUT_SECONDS}
[shadow]
log_path = "{log}"
"#,
            cert = made.cert_file.display(),
            key = made.key_file.display(),
            log = log.display(),
        )
    })
    .await;
    (proxy, ca_dir)
}

/// One `CONNECT` on a new connection: the whole answer (head and body).
async fn connect(proxy: SocketAddr, target: &str) -> Message {
    send(proxy, &request("CONNECT", target, &[("Host", target)], b"")).await
}

#[tokio::test]
async fn every_spelling_of_loopback_is_refused_and_never_reached() {
    let far = Far::start().await;
    let (proxy, _ca) = tunnelling_proxy("").await;
    let port = far.addr.port();
    for spelling in [
        "127.0.0.1",
        "localhost",
        "127.1",
        "2130706433",
        "0x7f000001",
        "0177.0.0.1",
        "[::1]",
        "[::ffff:127.0.0.1]",
        "LOCALHOST.",
    ] {
        // At 443 only the address rule can refuse it: without the rule this
        // would be a 502 (nothing listens there) or a tunnel.
        let answer = connect(proxy.addr, &format!("{spelling}:443")).await;
        assert_eq!(answer.status(), 403, "{spelling}:443");
        assert_eq!(
            answer.body, b"CONNECT refused: destination not allowed\n",
            "{spelling}:443"
        );
        // At the far end's own port: refused, and it never saw a connection.
        let answer = connect(proxy.addr, &format!("{spelling}:{port}")).await;
        assert_eq!(answer.status(), 403, "{spelling}:{port}");
    }
    assert_eq!(far.accepted(), 0, "no refused CONNECT reached the far end");
    proxy.finish().await;
}

#[tokio::test]
async fn ipv6_and_reserved_forms_of_internal_addresses_are_refused_at_once() {
    let (proxy, _ca) = tunnelling_proxy("").await;
    // Each names an internal IPv4 address a translator, relay or the kernel
    // would reach: before they were judged as such, each was tried (a 502
    // after the connection attempt failed).
    let forms = [
        ("NAT64", "[64:ff9b::7f00:1]"),
        ("NAT64", "[64:ff9b::a9fe:a9fe]"),
        ("local-use NAT64", "[64:ff9b:1::a00:1]"),
        ("6to4", "[2002:7f00:1::1]"),
        ("Teredo server", "[2001:0:a00:1::f7f7:f7f7]"),
        ("Teredo client", "[2001:0:808:808::80ff:fffe]"),
        ("IPv4-mapped", "[::ffff:a9fe:a9fe]"),
        ("IPv4-translated", "[::ffff:0:7f00:1]"),
        ("IPv4-compatible", "[::a00:1]"),
        ("reserved", "240.0.0.1"),
        ("broadcast", "255.255.255.255"),
    ];
    for (form, host) in forms {
        let asked = Instant::now();
        let answer = connect(proxy.addr, &format!("{host}:443")).await;
        assert_eq!(answer.status(), 403, "{form}: {host}");
        assert_eq!(
            answer.body, b"CONNECT refused: destination not allowed\n",
            "{form}: {host}"
        );
        // A generous bound, not a measurement: a connection attempt would
        // have taken up to the connect timeout and ended in a 502.
        assert!(
            asked.elapsed() < Duration::from_secs(CONNECT_TIMEOUT_SECONDS),
            "{form}: {host} answered after {:?}",
            asked.elapsed()
        );
    }
    // Each counted as refused for its address, none as anything else.
    let (_, text) = admin_get(proxy.admin, "/metrics").await;
    assert_eq!(
        metric(
            &text,
            "socure_shadow_proxy_connects_refused_total{reason=\"internal\"}"
        ),
        forms.len() as f64
    );
    proxy.finish().await;
}

#[tokio::test]
async fn the_proxys_own_ports_are_refused() {
    let (proxy, _ca) = tunnelling_proxy("").await;
    for own in [proxy.addr, proxy.admin] {
        let answer = connect(proxy.addr, &own.to_string()).await;
        assert_eq!(answer.status(), 403, "{own}");
        assert_eq!(
            answer.body, b"CONNECT refused: that is one of this proxy's own ports\n",
            "{own}"
        );
    }
    // The admin port's metrics were not read through a tunnel: the only way
    // to them is the admin port itself.
    let (status, _) = admin_get(proxy.admin, "/metrics").await;
    assert_eq!(status, 200);
    proxy.finish().await;
}

#[tokio::test]
async fn tunnel_allow_opens_a_listed_internal_destination() {
    let far = Far::start().await;
    let other = Far::start().await;
    let (proxy, _ca) = tunnelling_proxy(&format!("tunnel_allow = [\"{}\"]", far.addr)).await;

    let (head, mut tunnel) = connect_through(proxy.addr, &far.addr.to_string()).await;
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    tunnel.write_all(b"through").await.expect("write");
    let mut echoed = [0u8; 7];
    tokio::time::timeout(TEST_BOUND, tunnel.read_exact(&mut echoed))
        .await
        .expect("echo in time")
        .expect("read");
    assert_eq!(&echoed, b"through");
    assert_eq!(far.accepted(), 1);

    // Only the listed destination: another port on the same address is not.
    let answer = connect(proxy.addr, &other.addr.to_string()).await;
    assert_eq!(answer.status(), 403);
    assert_eq!(other.accepted(), 0);
    drop(tunnel);
    proxy.finish().await;
}

#[tokio::test]
async fn malformed_connect_targets_get_400() {
    let far = Far::start().await;
    let (proxy, _ca) = tunnelling_proxy("").await;
    for target in [
        "idv-other.test:99999",
        "idv-other.test:0",
        ":443",
        "user:pw@idv-other.test:443",
        "idv-other.test",
        "idv-other.test:abc",
        "[::1",
        "https://idv-other.test:443/",
    ] {
        let answer = connect(proxy.addr, target).await;
        assert_eq!(answer.status(), 400, "{target}");
    }
    // The same, aimed at a real listener: nothing reaches it.
    let port = far.addr.port();
    for target in [
        format!("user:pw@127.0.0.1:{port}"),
        format!("127.0.0.1:{port}0000"),
    ] {
        let answer = connect(proxy.addr, &target).await;
        assert_eq!(answer.status(), 400, "{target}");
    }
    assert_eq!(far.accepted(), 0);
    proxy.finish().await;
}

#[tokio::test]
async fn open_tunnels_hold_their_connection_slots_until_they_close() {
    let far = Far::start().await;
    let (proxy, _ca) = tunnelling_proxy(&format!(
        "max_connections = 2\ntunnel_allow = [\"{}\"]",
        far.addr
    ))
    .await;
    let (head, first) = connect_through(proxy.addr, &far.addr.to_string()).await;
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    let (head, second) = connect_through(proxy.addr, &far.addr.to_string()).await;
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");

    // The kernel takes the third connection into the backlog; the proxy does
    // not serve it while both tunnels hold their slots.
    let mut third = TcpStream::connect(proxy.addr).await.expect("connect");
    send_connect(&mut third, &far.addr.to_string()).await;
    assert!(
        tokio::time::timeout(NOT_ANSWERED, read_connect_answer(&mut third))
            .await
            .is_err(),
        "a third connection was served past max_connections = 2"
    );

    // One tunnel closes (the far end closes its side in turn): its slot
    // frees, and the waiting client is served.
    drop(first);
    let head = tokio::time::timeout(TEST_BOUND, read_connect_answer(&mut third))
        .await
        .expect("the third CONNECT is answered once a tunnel closes");
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert_eq!(far.accepted(), 3);
    drop(second);
    drop(third);
    proxy.finish().await;
}

#[tokio::test]
async fn a_quiet_tunnel_is_closed_and_counted() {
    let far = Far::start().await;
    let (proxy, _ca) = tunnelling_proxy(&format!(
        "tunnel_idle_timeout_seconds = 1\ntunnel_allow = [\"{}\"]",
        far.addr
    ))
    .await;
    let (head, mut tunnel) = connect_through(proxy.addr, &far.addr.to_string()).await;
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    tunnel.write_all(b"once").await.expect("write");
    let mut echoed = [0u8; 4];
    tokio::time::timeout(TEST_BOUND, tunnel.read_exact(&mut echoed))
        .await
        .expect("echo in time")
        .expect("read");
    let last_byte = Instant::now();

    // Then nothing either way: the proxy closes it (the bound only keeps a
    // broken proxy from hanging the test).
    let mut rest = Vec::new();
    let read = tokio::time::timeout(TEST_BOUND, tunnel.read_to_end(&mut rest))
        .await
        .expect("the quiet tunnel is closed in time");
    assert!(read.is_ok() && rest.is_empty(), "{read:?} {rest:?}");
    assert!(
        last_byte.elapsed() >= Duration::from_millis(900),
        "closed after {:?}, before the idle timeout",
        last_byte.elapsed()
    );
    let (_, text) = admin_get(proxy.admin, "/metrics").await;
    assert_eq!(
        metric(
            &text,
            "socure_shadow_proxy_connections_timed_out_total{phase=\"tunnel_idle\"}"
        ),
        1.0
    );
    proxy.finish().await;
}
