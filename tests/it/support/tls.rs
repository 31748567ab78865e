//! TLS test support: a throwaway PKI, a fake LexisNexis over TLS that checks
//! the IdP's HMAC signature against the host name it expects (401 when it
//! fails, as the real vendor would), the signing client itself, and a fake
//! DNS server.
//!
//! The signing follows CONTRACT.md section 1:
//! `Authorization: HMAC-SHA256 keyid=K, ts=T, nonce=N, bodyHash=B, signature=S`,
//! `B = base64(HMAC-SHA256(secret, body))`,
//! `S = base64(HMAC-SHA256(secret, T "\n" N "\n" host "\n" path "\n" B))`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose};
use ring::hmac;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio_rustls::{TlsAcceptor, TlsConnector};

use super::{Message, TEST_BOUND, fixture, json_ok, read_message, response};

/// The vendor's host name in these tests (`.test` is reserved: never real).
pub const VENDOR_HOST: &str = "idv-vendor.test";
/// The HMAC key id and secret the fake IdP and fake vendor share.
pub const HMAC_KEY_ID: &str = "fake-key-id";
pub const HMAC_SECRET: &[u8] = b"fake-hmac-secret-not-real";

/// A CA made for one test, and leaves it signs, as PEM files in a temp dir.
pub struct TestPki {
    pub dir: tempfile::TempDir,
    pub ca_cert: PathBuf,
    pub ca_der: CertificateDer<'static>,
    issuer: Issuer<'static, KeyPair>,
}

/// A leaf certificate and its key, as files and in memory.
pub struct Leaf {
    pub cert_file: PathBuf,
    pub key_file: PathBuf,
    pub chain: Vec<CertificateDer<'static>>,
    pub key: PrivateKeyDer<'static>,
}

impl TestPki {
    pub fn new(name: &str) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut params = CertificateParams::default();
        params
            .distinguished_name
            .push(DnType::CommonName, format!("{name} test CA"));
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let key = KeyPair::generate().expect("CA key");
        let cert = params.self_signed(&key).expect("CA cert");
        let ca_cert = dir.path().join(format!("{name}-ca.crt"));
        std::fs::write(&ca_cert, cert.pem()).expect("write CA");
        Self {
            ca_der: cert.der().clone(),
            issuer: Issuer::new(params, key),
            ca_cert,
            dir,
        }
    }

    /// A server leaf for `names`, written as `{file}.crt` / `{file}.key`.
    pub fn leaf(&self, file: &str, names: &[&str]) -> Leaf {
        let names: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
        let params = CertificateParams::new(names).expect("leaf params");
        let key = KeyPair::generate().expect("leaf key");
        let cert = params.signed_by(&key, &self.issuer).expect("leaf cert");
        let cert_file = self.dir.path().join(format!("{file}.crt"));
        let key_file = self.dir.path().join(format!("{file}.key"));
        std::fs::write(&cert_file, cert.pem()).expect("write leaf");
        std::fs::write(&key_file, key.serialize_pem()).expect("write key");
        Leaf {
            cert_file,
            key_file,
            chain: vec![cert.der().clone()],
            key: PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
        }
    }
}

impl TestPki {
    /// A server leaf for `names` whose validity ended in 2001.
    pub fn expired_leaf(&self, file: &str, names: &[&str]) -> Leaf {
        let names: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
        let mut params = CertificateParams::new(names).expect("leaf params");
        params.not_before = rcgen::date_time_ymd(2000, 1, 1);
        params.not_after = rcgen::date_time_ymd(2001, 1, 1);
        let key = KeyPair::generate().expect("leaf key");
        let cert = params.signed_by(&key, &self.issuer).expect("leaf cert");
        let cert_file = self.dir.path().join(format!("{file}.crt"));
        let key_file = self.dir.path().join(format!("{file}.key"));
        std::fs::write(&cert_file, cert.pem()).expect("write leaf");
        std::fs::write(&key_file, key.serialize_pem()).expect("write key");
        Leaf {
            cert_file,
            key_file,
            chain: vec![cert.der().clone()],
            key: PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
        }
    }
}

/// A client config trusting only the CA certificate in `ca_pem`.
pub fn client_trusting(ca_pem: &Path) -> rustls::ClientConfig {
    let mut roots = rustls::RootCertStore::empty();
    for cert in socure_shadow_proxy::tls::read_certs(ca_pem).expect("read CA") {
        roots.add(cert).expect("add CA");
    }
    rustls::ClientConfig::builder_with_provider(socure_shadow_proxy::tls::provider())
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_root_certificates(roots)
        .with_no_client_auth()
}

fn hmac_b64(key: &hmac::Key, data: &[u8]) -> String {
    STANDARD.encode(hmac::sign(key, data).as_ref())
}

/// The IdP's `Authorization` value for `body` sent to `host` at `path`.
pub fn sign(host: &str, path: &str, body: &[u8]) -> String {
    let key = hmac::Key::new(hmac::HMAC_SHA256, HMAC_SECRET);
    let (ts, nonce) = ("1764115200", "fake-nonce-0001");
    let body_hash = hmac_b64(&key, body);
    let signature = hmac_b64(
        &key,
        format!("{ts}\n{nonce}\n{host}\n{path}\n{body_hash}").as_bytes(),
    );
    format!(
        "HMAC-SHA256 keyid={HMAC_KEY_ID}, ts={ts}, nonce={nonce}, bodyHash={body_hash}, signature={signature}"
    )
}

/// Whether `authorization` is a valid signature of `body` for `host` and `path`.
pub fn verify(authorization: &str, host: &str, path: &str, body: &[u8]) -> bool {
    let Some(fields) = authorization.strip_prefix("HMAC-SHA256 ") else {
        return false;
    };
    let field = |name: &str| {
        fields
            .split(", ")
            .find_map(|f| f.strip_prefix(&format!("{name}=")).map(str::to_owned))
    };
    let (Some(keyid), Some(ts), Some(nonce), Some(body_hash), Some(signature)) = (
        field("keyid"),
        field("ts"),
        field("nonce"),
        field("bodyHash"),
        field("signature"),
    ) else {
        return false;
    };
    let key = hmac::Key::new(hmac::HMAC_SHA256, HMAC_SECRET);
    keyid == HMAC_KEY_ID
        && hmac_b64(&key, body) == body_hash
        && hmac_b64(
            &key,
            format!("{ts}\n{nonce}\n{host}\n{path}\n{body_hash}").as_bytes(),
        ) == signature
}

/// A signed InstantVerify request for `host`, as raw HTTP/1.1 bytes.
pub fn signed_iv_request(host: &str) -> Vec<u8> {
    let body = fixture("lexis_nexis/instant_verify/request.json");
    let authorization = sign(host, super::IV_PATH, &body);
    super::request(
        "POST",
        super::IV_PATH,
        &[
            ("Host", host),
            ("Content-Type", "application/json"),
            ("Authorization", &authorization),
        ],
        &body,
    )
}

/// What the TLS fake saw of one request.
#[derive(Debug, Clone)]
pub struct Seen {
    /// The SNI the client sent.
    pub sni: Option<String>,
    pub message: Message,
    /// Whether the signature checked out for the vendor's own name.
    pub signature_ok: bool,
}

/// A fake LexisNexis over TLS, by default for [`VENDOR_HOST`]: it answers
/// the success fixture to a request signed for its own name, 401 to
/// anything else.
pub struct TlsVendor {
    pub addr: SocketAddr,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl TlsVendor {
    pub async fn start(leaf: &Leaf) -> Self {
        Self::serve(leaf, None, VENDOR_HOST).await
    }

    /// A fake vendor that goes by `host` (the name its signature check uses).
    pub async fn start_as(leaf: &Leaf, host: &str) -> Self {
        Self::serve(leaf, None, host).await
    }

    /// Like [`TlsVendor::start`], but the handshake fails unless the client
    /// presents a certificate from `client_ca`.
    pub async fn requiring_client_cert(leaf: &Leaf, client_ca: &TestPki) -> Self {
        Self::serve(leaf, Some(client_ca), VENDOR_HOST).await
    }

    async fn serve(leaf: &Leaf, client_ca: Option<&TestPki>, host: &str) -> Self {
        let host = host.to_owned();
        let builder =
            rustls::ServerConfig::builder_with_provider(socure_shadow_proxy::tls::provider())
                .with_safe_default_protocol_versions()
                .expect("versions");
        let builder = match client_ca {
            None => builder.with_no_client_auth(),
            Some(ca) => {
                let mut roots = rustls::RootCertStore::empty();
                roots.add(ca.ca_der.clone()).expect("client CA");
                let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
                    Arc::new(roots),
                    socure_shadow_proxy::tls::provider(),
                )
                .build()
                .expect("client verifier");
                builder.with_client_cert_verifier(verifier)
            }
        };
        let config = builder
            .with_single_cert(leaf.chain.clone(), leaf.key.clone_key())
            .expect("server config");
        let acceptor = TlsAcceptor::from(Arc::new(config));
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let seen = Arc::new(Mutex::new(Vec::new()));
        let record = Arc::clone(&seen);
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let acceptor = acceptor.clone();
                let record = Arc::clone(&record);
                let host = host.clone();
                tokio::spawn(async move {
                    let Ok(mut tls) = acceptor.accept(stream).await else {
                        return;
                    };
                    let sni = tls.get_ref().1.server_name().map(str::to_owned);
                    let mut buf = Vec::new();
                    while let Ok(Some(message)) = read_message(&mut tls, &mut buf, false).await {
                        let path = message
                            .start_line
                            .split(' ')
                            .nth(1)
                            .unwrap_or_default()
                            .to_owned();
                        let signature_ok = message
                            .header_str("authorization")
                            .is_some_and(|a| verify(a, &host, &path, &message.body));
                        let answer = if signature_ok {
                            json_ok(&fixture(
                                "lexis_nexis/instant_verify/successful_response.json",
                            ))
                        } else {
                            response(
                                "401 Unauthorized",
                                &[("Content-Type", "text/plain")],
                                b"bad signature\n",
                            )
                        };
                        record.lock().expect("lock").push(Seen {
                            sni: sni.clone(),
                            message,
                            signature_ok,
                        });
                        if tls.write_all(&answer).await.is_err() {
                            return;
                        }
                    }
                });
            }
        });
        Self { addr, seen }
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().expect("lock").clone()
    }
}

/// A TLS connection to `addr` for `server_name`, trusting `config`'s roots,
/// over `tcp` (a fresh connection, or one a `CONNECT` turned into a tunnel).
pub async fn tls_over(
    tcp: TcpStream,
    server_name: &str,
    config: rustls::ClientConfig,
) -> std::io::Result<tokio_rustls::client::TlsStream<TcpStream>> {
    let name = ServerName::try_from(server_name.to_owned()).expect("server name");
    tokio::time::timeout(
        TEST_BOUND,
        TlsConnector::from(Arc::new(config)).connect(name, tcp),
    )
    .await
    .expect("TLS handshake in time")
}

/// Sends `bytes` on `stream` and reads one response, bounded.
pub async fn exchange<S: AsyncRead + AsyncWrite + Unpin>(stream: &mut S, bytes: &[u8]) -> Message {
    stream.write_all(bytes).await.expect("write request");
    let mut buf = Vec::new();
    tokio::time::timeout(TEST_BOUND, read_message(stream, &mut buf, true))
        .await
        .expect("answer in time")
        .expect("read answer")
        .expect("an answer before close")
}

/// Opens a tunnel through a forward proxy at `proxy` to `authority`
/// (`host:port`); returns the proxy's answer head and the stream.
pub async fn connect_through(proxy: SocketAddr, authority: &str) -> (String, TcpStream) {
    let mut tcp = TcpStream::connect(proxy).await.expect("connect to proxy");
    send_connect(&mut tcp, authority).await;
    let head = tokio::time::timeout(TEST_BOUND, read_connect_answer(&mut tcp))
        .await
        .expect("CONNECT answered in time");
    (head, tcp)
}

/// Writes a `CONNECT` to `authority` without waiting for the answer.
pub async fn send_connect(tcp: &mut TcpStream, authority: &str) {
    tcp.write_all(format!("CONNECT {authority} HTTP/1.1\r\nHost: {authority}\r\n\r\n").as_bytes())
        .await
        .expect("write CONNECT");
}

/// Reads the head of a `CONNECT`'s answer, unbounded (the caller bounds it).
/// Byte by byte, so nothing after the head is taken from the tunnel.
pub async fn read_connect_answer(tcp: &mut TcpStream) -> String {
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        let mut byte = [0u8; 1];
        let n = tcp.read(&mut byte).await.expect("read CONNECT answer");
        assert_eq!(n, 1, "proxy closed during the CONNECT answer: {head:?}");
        head.push(byte[0]);
    }
    String::from_utf8_lossy(&head).into_owned()
}

/// A DNS server on 127.0.0.1 (UDP) that answers `A` queries for one name
/// with 127.0.0.1 and nothing for anything else; counts the queries for it.
pub struct FakeDns {
    pub addr: SocketAddr,
    asked: Arc<Mutex<Vec<String>>>,
}

impl FakeDns {
    pub async fn start(name: &str) -> Self {
        let socket = UdpSocket::bind("127.0.0.1:0").await.expect("bind dns");
        let addr = socket.local_addr().expect("addr");
        let asked = Arc::new(Mutex::new(Vec::new()));
        let record = Arc::clone(&asked);
        let wanted = name.trim_end_matches('.').to_ascii_lowercase();
        tokio::spawn(async move {
            let mut packet = [0u8; 512];
            while let Ok((n, from)) = socket.recv_from(&mut packet).await {
                if let Some((reply, qname)) = dns_reply(&packet[..n], &wanted) {
                    record.lock().expect("lock").push(qname);
                    let _ = socket.send_to(&reply, from).await;
                }
            }
        });
        Self { addr, asked }
    }

    /// The names asked for, in order.
    pub fn asked(&self) -> Vec<String> {
        self.asked.lock().expect("lock").clone()
    }
}

/// The answer to one query: 127.0.0.1 for an `A` query for `wanted`, an
/// empty NOERROR for other types of `wanted`, NXDOMAIN for other names.
fn dns_reply(query: &[u8], wanted: &str) -> Option<(Vec<u8>, String)> {
    let mut at = 12;
    let mut labels = Vec::new();
    loop {
        let len = usize::from(*query.get(at)?);
        at += 1;
        if len == 0 {
            break;
        }
        labels.push(String::from_utf8_lossy(query.get(at..at + len)?).to_ascii_lowercase());
        at += len;
    }
    let qtype = u16::from_be_bytes([*query.get(at)?, *query.get(at + 1)?]);
    let question_end = at + 4;
    let qname = labels.join(".");
    let (rcode, answers) = match (qname == wanted, qtype) {
        (true, 1) => (0u8, 1u16),
        (true, _) => (0, 0),
        (false, _) => (3, 0),
    };
    let mut reply = Vec::with_capacity(question_end + 16);
    reply.extend_from_slice(query.get(..2)?); // id
    reply.extend_from_slice(&[0x81, 0x80 | rcode]); // response, RD, RA
    reply.extend_from_slice(&[0, 1]); // one question
    reply.extend_from_slice(&answers.to_be_bytes());
    reply.extend_from_slice(&[0, 0, 0, 0]); // no authority, no additional
    reply.extend_from_slice(query.get(12..question_end)?);
    if answers == 1 {
        reply.extend_from_slice(&[0xC0, 0x0C, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 127, 0, 0, 1]);
    }
    Some((reply, qname))
}
