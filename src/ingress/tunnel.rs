//! Forward-proxy tunnels: where a `CONNECT` that is not intercepted may go ([`TunnelRules`], judged on the resolved address just before connecting to exactly that address), and the byte copy that ends when the tunnel has been idle too long ([`carry`]).
//!
//! The rules are Squid's defaults and a little more: only port 443, never
//! an internal address (loopback, private, shared, link-local, unspecified,
//! multicast, broadcast, reserved, and every IPv6 form that carries one of
//! these: mapped, translated, compatible, NAT64, 6to4, Teredo), never one of
//! the proxy's own ports. They are judged on what the host name resolves
//! to, because a name or an odd spelling (`127.1`, `0x7f000001`) can lead
//! anywhere; and the connection then goes to the addresses that were
//! judged, never to a second lookup that DNS could answer differently.
//! `listen.tunnel_allow` names destinations the rules let through, with two
//! exceptions no entry overrides: the proxy's own ports on this host (a
//! tunnel there nests `CONNECT`s without end), and the addresses an
//! intercepted host's traffic goes to ([`Intercepted`]: a tunnel there
//! would carry the vendor's traffic past the shadow).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use hyper_util::client::legacy::connect::dns::Name;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpStream, UdpSocket};
use tokio::time::Instant;
use tower_service::Service;

use crate::client::connect::Resolver;
use crate::config::{Host, HostPort, InterceptConfig};
use crate::ops::metrics::ConnectRefused;
use crate::proxy::answer::ProxyError;

/// The only port tunnelled without a `tunnel_allow` entry: HTTPS.
const HTTPS_PORT: u16 = 443;

/// Why a tunnel was refused. Each is a 403; the log line says which.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// `tunnel_other_hosts` is off and `tunnel_allow` does not name it.
    NotListed,
    /// One of the proxy's own ports (data or admin): on any host unless
    /// `tunnel_allow` names it, on this host even when it does.
    OwnPort,
    /// A port other than 443.
    Port,
    /// An internal address; the kind, for the log.
    Internal(&'static str),
    /// An address an intercepted host's traffic goes to, even when
    /// `tunnel_allow` names it: a tunnel there is the vendor unshadowed.
    Intercepted,
}

impl Refusal {
    /// The reason as the log gives it.
    pub fn reason(self) -> &'static str {
        match self {
            Refusal::NotListed => "not intercepted and not in listen.tunnel_allow",
            Refusal::OwnPort => "one of the proxy's own ports",
            Refusal::Port => "only port 443 is tunnelled",
            Refusal::Internal(kind) => kind,
            Refusal::Intercepted => {
                "an address an intercepted host's traffic goes to: it would pass unshadowed"
            }
        }
    }

    /// The reason as `connects_refused_total` counts it.
    pub fn counted(self) -> ConnectRefused {
        match self {
            Refusal::NotListed => ConnectRefused::NotListed,
            Refusal::OwnPort => ConnectRefused::OwnPort,
            Refusal::Port => ConnectRefused::Port,
            Refusal::Internal(_) => ConnectRefused::Internal,
            Refusal::Intercepted => ConnectRefused::InterceptedAddress,
        }
    }

    /// The 403 the client gets. Which internal range a name resolved to is
    /// left to the log.
    pub fn into_error(self) -> ProxyError {
        ProxyError::Forbidden(match self {
            Refusal::NotListed => "CONNECT refused: this proxy only carries its configured hosts\n",
            Refusal::OwnPort => "CONNECT refused: that is one of this proxy's own ports\n",
            Refusal::Port => {
                "CONNECT refused: only port 443 is tunnelled, and the destinations in listen.tunnel_allow\n"
            }
            Refusal::Internal(_) => "CONNECT refused: destination not allowed\n",
            Refusal::Intercepted => {
                "CONNECT refused: that address is an intercepted host's; CONNECT to the host by its name\n"
            }
        })
    }
}

/// Why a tunnel could not be opened.
#[derive(Debug)]
pub enum OpenError {
    /// Refused by the rules (403); `address` is the resolved one that was
    /// refused, if it came to that.
    Refused {
        refusal: Refusal,
        address: Option<SocketAddr>,
    },
    /// The name did not resolve, or no address accepted the connection
    /// (502), or neither happened within the connect timeout.
    Unreachable(std::io::Error),
    /// Where the intercepted hosts' traffic goes could not be learnt (502),
    /// so the destination could not be told apart from it: never opened.
    InterceptedUnknown(std::io::Error),
}

/// Where tunnels may go.
#[derive(Clone)]
pub struct TunnelRules {
    other_hosts: bool,
    allow: Vec<HostPort>,
    /// The proxy's data and admin ports, known once bound.
    own_ports: Vec<u16>,
    /// Where intercepted traffic goes: never a tunnel's destination.
    intercepted: Intercepted,
    connect_timeout: Duration,
}

impl TunnelRules {
    pub fn new(
        config: &InterceptConfig,
        own_ports: Vec<u16>,
        intercepted: Intercepted,
        connect_timeout: Duration,
    ) -> Self {
        Self {
            other_hosts: config.tunnel_other_hosts,
            allow: config.tunnel_allow.clone(),
            own_ports,
            intercepted,
            connect_timeout,
        }
    }

    /// Resolves `to`, judges every address it gives, and connects to the
    /// first judged address that answers, all within the connect timeout.
    /// A name with any refused address is refused whole: a name that
    /// resolves both outside and inside is not one to trust.
    pub async fn open(&self, to: &HostPort) -> Result<(TcpStream, SocketAddr), OpenError> {
        // Refused before any lookup when no address could change the answer
        // (no entry that could match, whatever the name resolves to), so a
        // refused CONNECT costs no DNS query.
        let could_be_allowed = self.allow.iter().any(|entry| {
            entry.port == to.port && (matches!(entry.host, Host::Ip(_)) || entry.host == to.host)
        });
        if !could_be_allowed {
            self.judge_port(to.port)
                .map_err(|refusal| OpenError::Refused {
                    refusal,
                    address: None,
                })?;
        }
        let connecting = async {
            let addresses = resolve(to).await.map_err(OpenError::Unreachable)?;
            let refused = |refusal, address: &SocketAddr| OpenError::Refused {
                refusal,
                address: Some(*address),
            };
            for address in &addresses {
                // Before the allow list: no entry may loop back into the proxy.
                if self.own_ports.contains(&address.port()) && is_this_host(address.ip()).await {
                    return Err(refused(Refusal::OwnPort, address));
                }
                self.judge(to, *address)
                    .map_err(|refusal| refused(refusal, address))?;
            }
            // Last, so only a tunnel about to open costs the lookup; and
            // whatever the allow list says.
            let intercepted = self
                .intercepted
                .addresses()
                .await
                .map_err(OpenError::InterceptedUnknown)?;
            if let Some(address) = addresses.iter().find(|address| {
                intercepted
                    .iter()
                    .any(|goes_to| same_endpoint(goes_to, address))
            }) {
                return Err(refused(Refusal::Intercepted, address));
            }
            let mut last = std::io::Error::new(
                std::io::ErrorKind::NotFound,
                "the name resolved to no address",
            );
            for address in addresses {
                // The address judged above, not the name: no second lookup.
                match TcpStream::connect(address).await {
                    Ok(stream) => return Ok((stream, address)),
                    Err(err) => last = err,
                }
            }
            Err(OpenError::Unreachable(last))
        };
        tokio::time::timeout(self.connect_timeout, connecting)
            .await
            .unwrap_or_else(|_| {
                Err(OpenError::Unreachable(std::io::Error::from(
                    std::io::ErrorKind::TimedOut,
                )))
            })
    }

    /// The rules for one resolved address of `to`.
    fn judge(&self, to: &HostPort, address: SocketAddr) -> Result<(), Refusal> {
        if self.allows(to, address) {
            return Ok(());
        }
        self.judge_port(address.port())?;
        match internal(address.ip()) {
            Some(kind) => Err(Refusal::Internal(kind)),
            None => Ok(()),
        }
    }

    /// The rules that depend on the port alone.
    fn judge_port(&self, port: u16) -> Result<(), Refusal> {
        if !self.other_hosts {
            Err(Refusal::NotListed)
        } else if self.own_ports.contains(&port) {
            Err(Refusal::OwnPort)
        } else if port != HTTPS_PORT {
            Err(Refusal::Port)
        } else {
            Ok(())
        }
    }

    /// Whether `tunnel_allow` names this destination: an IP entry the
    /// address the name resolved to, a name entry the name as asked.
    fn allows(&self, to: &HostPort, address: SocketAddr) -> bool {
        self.allow.iter().any(|entry| {
            entry.port == to.port
                && match &entry.host {
                    Host::Ip(ip) => ip.to_canonical() == address.ip().to_canonical(),
                    Host::Name(_) => entry.host == to.host,
                }
        })
    }
}

/// Whether two socket addresses are the same endpoint, an IPv4-mapped IPv6
/// address being the IPv4 one it carries.
fn same_endpoint(a: &SocketAddr, b: &SocketAddr) -> bool {
    a.port() == b.port() && a.ip().to_canonical() == b.ip().to_canonical()
}

/// Whether `ip` is one of this host's own addresses: one a socket can be
/// bound to (loopback, unspecified, and every interface's, so a listener on
/// `0.0.0.0` is recognised by whichever address names it). Binding is a
/// local call that never waits on the network. When the answer is not a
/// plain "no such address", it is taken as yes: the refusal is the safe
/// side, and it only ever applies to the proxy's own ports.
async fn is_this_host(ip: IpAddr) -> bool {
    match UdpSocket::bind(SocketAddr::new(ip.to_canonical(), 0)).await {
        Ok(_) => true,
        Err(err) => err.kind() != std::io::ErrorKind::AddrNotAvailable,
    }
}

/// Where the proxy's intercepted traffic really goes, learnt as the upstream
/// client learns it: the upstream's host through `upstream.connect_to` when
/// set, every other intercepted host (and the upstream's without
/// `connect_to`) through the upstream's resolver (`upstream.resolve`). A
/// `CONNECT` to one of these addresses at its port, by an IP or by another
/// name that resolves there, is refused: tunnelled, it would carry the
/// vendor's traffic past the shadow, and intercepting it instead would mean
/// guessing the name the client's TLS will ask for.
#[derive(Clone)]
pub struct Intercepted {
    /// Each host (an IP, bracketed or not, or a name) and port the upstream
    /// client connects to for an intercepted host.
    endpoints: Vec<(String, u16)>,
    /// `None` when it could not be built: then no name can be looked up, and
    /// every tunnel is refused rather than risk one to the vendor.
    resolver: Option<Resolver>,
}

impl Intercepted {
    /// `endpoints` as [`Intercepted`] says; `resolver` made from the
    /// upstream's own `[upstream] resolve`.
    pub fn new(endpoints: Vec<(String, u16)>, resolver: Option<Resolver>) -> Self {
        Self {
            endpoints,
            resolver,
        }
    }

    /// Every address the endpoints stand for now. Lookups run on the
    /// resolver's own tasks (hickory) or the blocking pool (getaddrinfo),
    /// never on this thread; the caller bounds the time.
    async fn addresses(&self) -> std::io::Result<Vec<SocketAddr>> {
        let mut found = Vec::new();
        for (host, port) in &self.endpoints {
            // As hyper's connector reads an authority's host: an IP literal
            // is not looked up.
            let literal = host.trim_start_matches('[').trim_end_matches(']');
            if let Ok(ip) = literal.parse::<IpAddr>() {
                found.push(SocketAddr::new(ip, *port));
                continue;
            }
            let mut resolver = self.resolver.clone().ok_or_else(|| {
                std::io::Error::other("the upstream's resolver could not be built")
            })?;
            let name: Name = host.parse().map_err(std::io::Error::other)?;
            let addresses = resolver
                .call(name)
                .await
                .map_err(|err| std::io::Error::other(err.to_string()))?;
            found.extend(addresses.map(|address| SocketAddr::new(address.ip(), *port)));
        }
        Ok(found)
    }
}

/// The addresses `to` stands for: an IP as it is; a name through
/// getaddrinfo (on a blocking-pool thread, never a runtime worker), which
/// also reads every inet_aton spelling of an IPv4 address and the hosts
/// file the app itself uses.
async fn resolve(to: &HostPort) -> std::io::Result<Vec<SocketAddr>> {
    match &to.host {
        Host::Ip(ip) => Ok(vec![SocketAddr::new(*ip, to.port)]),
        Host::Name(name) => {
            let found: Vec<SocketAddr> = tokio::net::lookup_host((name.as_str(), to.port))
                .await?
                .collect();
            if found.is_empty() {
                Err(std::io::Error::new(
                    std::io::ErrorKind::NotFound,
                    "the name resolved to no address",
                ))
            } else {
                Ok(found)
            }
        }
    }
}

/// The kind of internal address `ip` is, or `None` for one a tunnel may
/// reach. An IPv6 address that carries an IPv4 one (see [`embedded_v4`])
/// is judged as that IPv4 address too: a translator or relay on the path
/// would take the connection there.
pub fn internal(ip: IpAddr) -> Option<&'static str> {
    match ip.to_canonical() {
        IpAddr::V4(v4) => internal_v4(v4),
        IpAddr::V6(v6) => internal_v6(v6),
    }
}

fn internal_v4(ip: Ipv4Addr) -> Option<&'static str> {
    let [a, b, ..] = ip.octets();
    if a == 0 {
        // 0.0.0.0/8, "this network": 0.0.0.0 itself reaches the local host.
        Some("unspecified")
    } else if ip.is_loopback() {
        Some("loopback")
    } else if ip.is_private() {
        Some("private")
    } else if a == 100 && (b & 0xc0) == 64 {
        Some("shared address space (100.64.0.0/10)")
    } else if ip.is_link_local() {
        Some("link-local")
    } else if ip.is_multicast() {
        Some("multicast")
    } else if ip.is_broadcast() {
        Some("broadcast")
    } else if a >= 240 {
        // Never assigned on the internet; what a host does with one is its
        // own affair.
        Some("reserved (240.0.0.0/4)")
    } else {
        None
    }
}

fn internal_v6(ip: Ipv6Addr) -> Option<&'static str> {
    let first = ip.segments()[0];
    if ip.is_unspecified() {
        Some("unspecified")
    } else if ip.is_loopback() {
        Some("loopback")
    } else if let Some(kind) = embedded_v4(ip).into_iter().flatten().find_map(internal_v4) {
        Some(kind)
    } else if first & 0xffc0 == 0xfe80 {
        Some("link-local")
    } else if first & 0xfe00 == 0xfc00 {
        Some("private (unique local, fc00::/7)")
    } else if ip.is_multicast() {
        Some("multicast")
    } else {
        None
    }
}

/// The IPv4 addresses an IPv6 address carries, where a connection to it may
/// end up at them: the IPv4-mapped (`::ffff:0:0/96`), IPv4-translated
/// (`::ffff:0:0:0/96`) and deprecated IPv4-compatible (`::/96`) forms and
/// NAT64 (`64:ff9b::/96`, and the local-use `64:ff9b:1::/48`), all in the
/// last 32 bits; 6to4 (`2002::/16`), in bits 16 to 47; Teredo (`2001::/32`),
/// its server in bits 32 to 63 and its client in the last 32 bits, inverted.
fn embedded_v4(ip: Ipv6Addr) -> [Option<Ipv4Addr>; 2] {
    let v4 = |high: u16, low: u16| Ipv4Addr::from((u32::from(high) << 16) | u32::from(low));
    match ip.segments() {
        [0, 0, 0, 0, 0, 0 | 0xffff, high, low]
        | [0, 0, 0, 0, 0xffff, 0, high, low]
        | [0x64, 0xff9b, 0, 0, 0, 0, high, low]
        | [0x64, 0xff9b, 1, _, _, _, high, low] => [Some(v4(high, low)), None],
        [0x2002, high, low, ..] => [Some(v4(high, low)), None],
        [
            0x2001,
            0,
            server_high,
            server_low,
            _,
            _,
            client_high,
            client_low,
        ] => [
            Some(v4(server_high, server_low)),
            Some(!v4(client_high, client_low)),
        ],
        _ => [None, None],
    }
}

/// How a tunnel's copy ended.
#[derive(Debug)]
pub enum Carried {
    /// Both sides closed (or one failed).
    Closed(std::io::Result<(u64, u64)>),
    /// No byte either way for the idle timeout.
    Idle,
}

/// Copies bytes both ways between `client` and `far` until both sides
/// close, or until no byte has moved either way for `idle`. Pass `&mut`
/// to keep the sockets open past the return (to count before closing).
///
/// The timer is not reset per byte: each read records the time, and a
/// single sleep runs to the last activity plus `idle`, re-armed from the
/// recorded time when it fires early. A busy tunnel costs one atomic store
/// per read and one wake-up per `idle`.
pub async fn carry<A, B>(client: A, far: B, idle: Duration) -> Carried
where
    A: AsyncRead + AsyncWrite + Unpin,
    B: AsyncRead + AsyncWrite + Unpin,
{
    let activity = Arc::new(Activity::new());
    let mut client = Tracked::new(client, Arc::clone(&activity));
    let mut far = Tracked::new(far, Arc::clone(&activity));
    let copying = tokio::io::copy_bidirectional(&mut client, &mut far);
    tokio::pin!(copying);
    loop {
        let deadline = activity.last() + idle;
        tokio::select! {
            result = copying.as_mut() => return Carried::Closed(result),
            () = tokio::time::sleep_until(deadline) => {
                if activity.last() + idle <= Instant::now() {
                    return Carried::Idle;
                }
            }
        }
    }
}

/// When bytes last moved, shared by both sides of a tunnel.
struct Activity {
    start: Instant,
    /// Milliseconds from `start` to the last read that returned bytes.
    last_ms: AtomicU64,
}

impl Activity {
    fn new() -> Self {
        Self {
            start: Instant::now(),
            last_ms: AtomicU64::new(0),
        }
    }

    fn touch(&self) {
        let ms = u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last_ms.store(ms, Ordering::Relaxed);
    }

    fn last(&self) -> Instant {
        self.start + Duration::from_millis(self.last_ms.load(Ordering::Relaxed))
    }
}

/// One side of a tunnel, recording each read that returns bytes. Reads
/// are enough: every byte the tunnel moves is read once.
struct Tracked<T> {
    inner: T,
    activity: Arc<Activity>,
}

impl<T> Tracked<T> {
    fn new(inner: T, activity: Arc<Activity>) -> Self {
        Self { inner, activity }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for Tracked<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(polled, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.activity.touch();
        }
        polled
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Tracked<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    fn ip(text: &str) -> IpAddr {
        text.parse().expect("ip")
    }

    #[test]
    fn internal_addresses_in_every_form_are_named() {
        for (text, kind) in [
            ("127.0.0.1", "loopback"),
            ("127.255.0.9", "loopback"),
            ("0.0.0.0", "unspecified"),
            ("0.1.2.3", "unspecified"),
            ("10.1.2.3", "private"),
            ("172.16.0.1", "private"),
            ("172.31.255.255", "private"),
            ("192.168.1.1", "private"),
            ("100.64.0.1", "shared address space (100.64.0.0/10)"),
            ("100.127.255.255", "shared address space (100.64.0.0/10)"),
            ("169.254.169.254", "link-local"),
            ("224.0.0.1", "multicast"),
            ("239.1.1.1", "multicast"),
            ("255.255.255.255", "broadcast"),
            ("240.0.0.1", "reserved (240.0.0.0/4)"),
            ("255.255.255.254", "reserved (240.0.0.0/4)"),
            ("::", "unspecified"),
            ("::1", "loopback"),
            ("::ffff:127.0.0.1", "loopback"),
            ("::ffff:10.0.0.1", "private"),
            ("::ffff:169.254.169.254", "link-local"),
            ("::127.0.0.1", "loopback"),
            ("::10.0.0.1", "private"),
            ("fe80::1", "link-local"),
            ("febf::1", "link-local"),
            ("fc00::1", "private (unique local, fc00::/7)"),
            ("fd12:3456::1", "private (unique local, fc00::/7)"),
            ("ff02::1", "multicast"),
        ] {
            assert_eq!(internal(ip(text)), Some(kind), "{text}");
        }
        for text in [
            "8.8.8.8",
            "100.63.255.255",
            "100.128.0.0",
            "172.32.0.1",
            "1.1.1.1",
            "223.255.255.255",
            "2606:4700::1111",
            "::ffff:8.8.8.8",
            "fec0::1",
        ] {
            assert_eq!(internal(ip(text)), None, "{text}");
        }
    }

    #[test]
    fn ipv6_forms_that_carry_an_internal_ipv4_address_are_judged_as_it() {
        // Each form of 127.0.0.1, 10.0.0.1 and 169.254.169.254, and of a
        // public address (8.8.8.8) that must stay reachable.
        for (form, internal_ones, public) in [
            (
                "IPv4-mapped",
                ["::ffff:7f00:1", "::ffff:a00:1", "::ffff:a9fe:a9fe"],
                "::ffff:808:808",
            ),
            (
                "IPv4-translated",
                ["::ffff:0:7f00:1", "::ffff:0:a00:1", "::ffff:0:a9fe:a9fe"],
                "::ffff:0:808:808",
            ),
            (
                "IPv4-compatible",
                ["::7f00:1", "::a00:1", "::a9fe:a9fe"],
                "::808:808",
            ),
            (
                "NAT64",
                ["64:ff9b::7f00:1", "64:ff9b::a00:1", "64:ff9b::a9fe:a9fe"],
                "64:ff9b::808:808",
            ),
            (
                "local-use NAT64",
                [
                    "64:ff9b:1::7f00:1",
                    "64:ff9b:1:ab::a00:1",
                    "64:ff9b:1:ffff:ffff:ffff:a9fe:a9fe",
                ],
                "64:ff9b:1::808:808",
            ),
            (
                "6to4",
                ["2002:7f00:1::1", "2002:a00:1:5::", "2002:a9fe:a9fe::"],
                "2002:808:808::1",
            ),
            (
                // The server in bits 32-63 (client 8.8.8.8, inverted, last).
                "Teredo server",
                [
                    "2001:0:7f00:1::f7f7:f7f7",
                    "2001:0:a00:1::f7f7:f7f7",
                    "2001:0:a9fe:a9fe::f7f7:f7f7",
                ],
                "2001:0:808:808::f7f7:f7f7",
            ),
            (
                // The client, inverted, in the last 32 bits (server 8.8.8.8).
                "Teredo client",
                [
                    "2001:0:808:808::80ff:fffe",
                    "2001:0:808:808::f5ff:fffe",
                    "2001:0:808:808::5601:5601",
                ],
                "2001:0:808:808::f7f7:f7f7",
            ),
        ] {
            for (text, kind) in internal_ones
                .into_iter()
                .zip(["loopback", "private", "link-local"])
            {
                assert_eq!(internal(ip(text)), Some(kind), "{form}: {text}");
            }
            assert_eq!(internal(ip(public)), None, "{form}: {public}");
        }
        // RFC 4380's own example: server 65.54.227.120, client 192.0.2.45.
        assert_eq!(internal(ip("2001:0:4136:e378:8000:63bf:3fff:fdd2")), None);
        assert_eq!(
            internal(ip("2002:f000:1::")),
            Some("reserved (240.0.0.0/4)")
        );
        // Judged on what a name resolved to as on a literal.
        assert_eq!(
            judged(
                &rules(true, &[], &[]),
                "name.test:443",
                "[64:ff9b::7f00:1]:443"
            ),
            Err(Refusal::Internal("loopback"))
        );
    }

    fn rules(other_hosts: bool, allow: &[&str], own_ports: &[u16]) -> TunnelRules {
        rules_with(
            other_hosts,
            allow,
            own_ports,
            Intercepted::new(Vec::new(), None),
        )
    }

    fn rules_with(
        other_hosts: bool,
        allow: &[&str],
        own_ports: &[u16],
        intercepted: Intercepted,
    ) -> TunnelRules {
        TunnelRules {
            other_hosts,
            allow: allow
                .iter()
                .map(|entry| HostPort::parse(entry).expect("entry"))
                .collect(),
            own_ports: own_ports.to_vec(),
            intercepted,
            connect_timeout: Duration::from_secs(5),
        }
    }

    /// A listener on 127.0.0.1 port 0, standing for the proxy's own port or
    /// the vendor's.
    async fn listener() -> (std::net::TcpListener, u16) {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.set_nonblocking(true).expect("non-blocking");
        let port = listener.local_addr().expect("addr").port();
        (listener, port)
    }

    /// Whether a connection is waiting at `listener`: one `open` made would
    /// be, as the connect completes before `open` returns. (A plain
    /// non-blocking `accept`, so no readiness the runtime has yet to see.)
    fn was_reached(listener: &std::net::TcpListener) -> bool {
        listener.accept().is_ok()
    }

    fn refusal(opened: Result<(TcpStream, SocketAddr), OpenError>) -> Option<Refusal> {
        match opened {
            Err(OpenError::Refused { refusal, .. }) => Some(refusal),
            _ => None,
        }
    }

    #[tokio::test]
    async fn the_proxys_own_port_on_this_host_is_refused_even_when_listed() {
        let (own, port) = listener().await;
        for listed in [format!("127.0.0.1:{port}"), format!("localhost:{port}")] {
            for other_hosts in [true, false] {
                let rules = rules(other_hosts, &[&listed], &[port]);
                let to = HostPort::parse(&listed).expect("parse");
                assert_eq!(
                    refusal(rules.open(&to).await),
                    Some(Refusal::OwnPort),
                    "{listed}, tunnel_other_hosts = {other_hosts}"
                );
            }
        }
        assert!(!was_reached(&own), "no connection was made to the own port");
        // The same entry opens while the port is not the proxy's.
        let rules = rules(true, &[&format!("127.0.0.1:{port}")], &[]);
        let to = HostPort::parse(&format!("127.0.0.1:{port}")).expect("parse");
        assert!(rules.open(&to).await.is_ok());
        assert!(was_reached(&own));
    }

    #[tokio::test]
    async fn this_hosts_addresses_are_those_a_socket_binds_to() {
        for text in ["127.0.0.1", "127.0.0.2", "0.0.0.0", "::ffff:127.0.0.1"] {
            assert!(is_this_host(ip(text)).await, "{text}");
        }
        // TEST-NET-3: documentation only, on no interface.
        assert!(!is_this_host(ip("203.0.113.9")).await);
    }

    #[tokio::test]
    async fn an_intercepted_hosts_address_is_refused_even_when_listed() {
        let (vendor, port) = listener().await;
        let by_ip = Intercepted::new(vec![("127.0.0.1".into(), port)], None);
        let by_name = Intercepted::new(
            vec![("localhost".into(), port)],
            Some(Resolver::new(&crate::config::Resolve::System).expect("resolver")),
        );
        for intercepted in [by_ip, by_name] {
            let rules = rules_with(
                true,
                &[&format!("127.0.0.1:{port}"), &format!("localhost:{port}")],
                &[],
                intercepted,
            );
            // By the address in two spellings, and by a name that resolves to it.
            for asked in [
                format!("127.0.0.1:{port}"),
                format!("[::ffff:127.0.0.1]:{port}"),
                format!("localhost:{port}"),
            ] {
                let to = HostPort::parse(&asked).expect("parse");
                assert_eq!(
                    refusal(rules.open(&to).await),
                    Some(Refusal::Intercepted),
                    "{asked}"
                );
            }
        }
        assert!(
            !was_reached(&vendor),
            "no connection was made to the vendor"
        );
    }

    #[tokio::test]
    async fn a_tunnel_is_not_opened_when_the_intercepted_hosts_cannot_be_looked_up() {
        let (far, port) = listener().await;
        // A name and no resolver: where the vendor is cannot be known.
        let rules = rules_with(
            true,
            &[&format!("127.0.0.1:{port}")],
            &[],
            Intercepted::new(vec![("vendor.test".into(), 443)], None),
        );
        let to = HostPort::parse(&format!("127.0.0.1:{port}")).expect("parse");
        assert!(matches!(
            rules.open(&to).await,
            Err(OpenError::InterceptedUnknown(_))
        ));
        assert!(!was_reached(&far));
    }

    fn judged(rules: &TunnelRules, asked: &str, resolved: &str) -> Result<(), Refusal> {
        rules.judge(
            &HostPort::parse(asked).expect("asked"),
            resolved.parse().expect("resolved"),
        )
    }

    #[test]
    fn the_rules_judge_the_resolved_address_and_the_allow_list_overrides_them() {
        let open = rules(true, &[], &[8080, 9901]);
        assert_eq!(
            judged(&open, "example.com:443", "93.184.215.14:443"),
            Ok(())
        );
        assert_eq!(
            judged(&open, "example.com:443", "127.0.0.1:443"),
            Err(Refusal::Internal("loopback")),
            "a public-looking name that resolves inside"
        );
        assert_eq!(
            judged(&open, "example.com:8443", "93.184.215.14:8443"),
            Err(Refusal::Port)
        );
        assert_eq!(
            judged(&open, "example.com:9901", "93.184.215.14:9901"),
            Err(Refusal::OwnPort)
        );

        let allowing = rules(
            true,
            &["127.0.0.1:5000", "internal.test:8443", "[::1]:6000"],
            &[5000],
        );
        // An IP entry matches the address, however the name was spelt.
        assert_eq!(
            judged(&allowing, "localhost:5000", "127.0.0.1:5000"),
            Ok(())
        );
        assert_eq!(
            judged(
                &allowing,
                "[::ffff:127.0.0.1]:5000",
                "[::ffff:127.0.0.1]:5000"
            ),
            Ok(())
        );
        assert_eq!(judged(&allowing, "localhost:6000", "[::1]:6000"), Ok(()));
        assert_eq!(
            judged(&allowing, "localhost:5001", "127.0.0.1:5001"),
            Err(Refusal::Port)
        );
        // A name entry matches the name asked for, whatever it resolves to.
        assert_eq!(
            judged(&allowing, "Internal.Test.:8443", "10.0.0.8:8443"),
            Ok(())
        );
        assert_eq!(
            judged(&allowing, "other.test:8443", "10.0.0.8:8443"),
            Err(Refusal::Port)
        );

        let closed = rules(false, &["10.0.0.8:443"], &[]);
        assert_eq!(judged(&closed, "10.0.0.8:443", "10.0.0.8:443"), Ok(()));
        assert_eq!(
            judged(&closed, "example.com:443", "93.184.215.14:443"),
            Err(Refusal::NotListed)
        );
    }

    #[tokio::test]
    async fn a_refusal_no_address_could_change_costs_no_lookup() {
        // `.invalid` never resolves: a lookup would end in Unreachable.
        let to = HostPort::parse("name.invalid:25").expect("parse");
        for (rules, refusal) in [
            (rules(true, &[], &[]), Refusal::Port),
            (rules(true, &["other.invalid:25"], &[]), Refusal::Port),
            (rules(false, &["other.invalid:25"], &[]), Refusal::NotListed),
        ] {
            assert!(
                matches!(
                    rules.open(&to).await,
                    Err(OpenError::Refused { refusal: r, address: None }) if r == refusal
                ),
                "{refusal:?}"
            );
        }
    }

    #[tokio::test(start_paused = true)]
    async fn an_idle_tunnel_is_closed_and_a_busy_one_is_not() {
        let idle = Duration::from_secs(10);
        let (mut app, client_side) = tokio::io::duplex(64);
        let (far_side, mut far) = tokio::io::duplex(64);
        let started = Instant::now();
        let carrying = tokio::spawn(carry(client_side, far_side, idle));
        // Bytes every 6 s keep it open past the timeout...
        for _ in 0..4 {
            tokio::time::sleep(Duration::from_secs(6)).await;
            app.write_all(b"ping").await.expect("write");
            let mut got = [0u8; 4];
            far.read_exact(&mut got).await.expect("read");
            assert_eq!(&got, b"ping");
        }
        assert!(!carrying.is_finished(), "busy for 24 s with a 10 s timeout");
        // ...and then silence closes it, one timeout after the last byte.
        let carried = carrying.await.expect("join");
        assert!(matches!(carried, Carried::Idle), "{carried:?}");
        let took = started.elapsed();
        assert!(
            took >= Duration::from_secs(34) && took < Duration::from_secs(35),
            "{took:?}"
        );
    }

    #[tokio::test]
    async fn a_closed_tunnel_ends_without_waiting_for_the_timer() {
        let (app, client_side) = tokio::io::duplex(64);
        let (far_side, far) = tokio::io::duplex(64);
        drop(app);
        drop(far);
        let carried = tokio::time::timeout(
            Duration::from_secs(5),
            carry(client_side, far_side, Duration::from_secs(3600)),
        )
        .await
        .expect("ends at once");
        assert!(matches!(carried, Carried::Closed(_)), "{carried:?}");
    }
}
