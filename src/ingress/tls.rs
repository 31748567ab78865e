//! Every rustls configuration the proxy uses: the verifying client configs
//! (LexisNexis, Socure) and the listener's server config, and reading their
//! PEM files.
//!
//! One place builds them so both vendors are verified the same way: against
//! the web PKI roots (webpki-roots, so the image needs no system CA bundle)
//! plus any CA file the operator names, with the `ring` provider. There is
//! no switch that turns verification off: tests trust their own CA through
//! the same `ca_file` an operator would use.
//!
//! The pieces (a trust store, a chain, a key, a chain with its key) are
//! public one by one so the preflight can read every file and report each
//! bad one, where the whole builders stop at the first.

use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::pki_types::pem::{self, PemObject, SectionKind};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::sign::CertifiedKey;
use rustls::{ClientConfig, InconsistentKeys, RootCertStore, ServerConfig};

use crate::config::TlsFiles;

/// The most of a PEM file read: the whole Mozilla root bundle is under
/// 300 KiB, and a path pointed at a device or a log must not fill memory.
const MAX_PEM_BYTES: u64 = 16 * 1024 * 1024;

/// A TLS file could not be used. Names the file, never its contents.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read {}: {}", path.display(), crate::error::io_reason(source))]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{} is over {MAX_PEM_BYTES} bytes: not a PEM certificate or key file", path.display())]
    TooLarge { path: PathBuf },
    #[error("{} is not valid PEM: {}", path.display(), pem_reason(source))]
    Pem {
        path: PathBuf,
        #[source]
        source: pem::Error,
    },
    #[error("{} {}", path.display(), holds.instead_of("a certificate"))]
    NoCertificate { path: PathBuf, holds: Holds },
    #[error("{} {}", path.display(), holds.instead_of("a private key"))]
    NoKey { path: PathBuf, holds: Holds },
    #[error("a certificate in {} is not a usable CA: {source}", path.display())]
    BadCa {
        path: PathBuf,
        #[source]
        source: rustls::Error,
    },
    #[error("{} is not the private key of the certificate in {}", key.display(), cert.display())]
    KeyMismatch { cert: PathBuf, key: PathBuf },
    #[error("the key in {} cannot be used with the certificate in {}: {source}", key.display(), cert.display())]
    BadPair {
        cert: PathBuf,
        key: PathBuf,
        #[source]
        source: rustls::Error,
    },
    #[error("TLS setup failed: {0}")]
    Rustls(#[from] rustls::Error),
}

/// A PEM error in words: rustls-pki-types' own `Display` prints a marker
/// it did not find as a list of byte values.
fn pem_reason(err: &pem::Error) -> String {
    match err {
        pem::Error::MissingSectionEnd { end_marker } => format!(
            "no \"-----END {}-----\" line for its section",
            String::from_utf8_lossy(end_marker)
        ),
        pem::Error::IllegalSectionStart { line } => format!(
            "a malformed \"-----BEGIN\" line: {}",
            String::from_utf8_lossy(line)
                .chars()
                .take(64)
                .collect::<String>()
        ),
        other => other.to_string(),
    }
}
/// What a PEM file held when it lacked what was asked of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Holds {
    /// An empty file.
    Nothing,
    /// No PEM section at all (DER, or not a certificate file).
    NoPem,
    /// `BEGIN ENCRYPTED PRIVATE KEY`: rustls takes keys unencrypted only.
    EncryptedKey,
    Certificate,
    PrivateKey,
    PublicKey,
    CertificateRequest,
    /// PEM, but none of the kinds above (a CRL, an ECH config).
    OtherPem,
}

impl Holds {
    /// The end of "PATH ...", for a file that should have held `wanted`.
    fn instead_of(self, wanted: &str) -> String {
        match self {
            Holds::Nothing => format!("is empty: expected {wanted} in PEM"),
            Holds::NoPem => format!("holds no PEM data: expected {wanted} in PEM"),
            Holds::EncryptedKey => {
                "holds an encrypted private key: decrypt it (openssl pkcs8 -nocrypt)".into()
            }
            Holds::Certificate => format!("holds a certificate, not {wanted}"),
            Holds::PrivateKey => format!("holds a private key, not {wanted}"),
            Holds::PublicKey => format!("holds a public key, not {wanted}"),
            Holds::CertificateRequest => format!("holds a certificate request, not {wanted}"),
            Holds::OtherPem => format!("holds no {wanted}"),
        }
    }
}

/// A certificate chain and its private key, with the files they came from
/// (to name them if the two do not belong together).
pub struct Identity {
    pub files: TlsFiles,
    pub chain: Vec<CertificateDer<'static>>,
    pub key: PrivateKeyDer<'static>,
}

impl Identity {
    /// Reads both of `files`; the first problem only (see [`read_certs`]
    /// and [`read_key`] to have both).
    pub fn read(files: &TlsFiles) -> Result<Self, TlsError> {
        Ok(Self {
            chain: read_certs(&files.cert_file)?,
            key: read_key(&files.key_file)?,
            files: files.clone(),
        })
    }

    /// A rustls error about this pair, with the files named when the key is
    /// not the certificate's.
    fn error(&self, source: rustls::Error) -> TlsError {
        let (cert, key) = (self.files.cert_file.clone(), self.files.key_file.clone());
        match source {
            rustls::Error::InconsistentKeys(InconsistentKeys::KeyMismatch) => {
                TlsError::KeyMismatch { cert, key }
            }
            source => TlsError::BadPair { cert, key, source },
        }
    }

    /// Whether the key belongs to the first certificate, and is one the
    /// provider can sign with: what rustls checks when a config is built.
    pub fn check(&self) -> Result<(), TlsError> {
        CertifiedKey::from_der(self.chain.clone(), self.key.clone_key(), &provider())
            .map(drop)
            .map_err(|source| self.error(source))
    }
}

/// The crypto provider every config uses.
pub fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A verifying client config: web PKI roots plus the certificates in
/// `ca_file`, and `identity` presented when the server asks for one. ALPN is
/// left to each client.
pub fn client_config(
    ca_file: Option<&Path>,
    identity: Option<&TlsFiles>,
) -> Result<ClientConfig, TlsError> {
    let roots = trust(ca_file)?;
    let identity = identity.map(Identity::read).transpose()?;
    client_config_with(roots, identity)
}

/// The web PKI roots plus every certificate in `ca_file`.
pub fn trust(ca_file: Option<&Path>) -> Result<RootCertStore, TlsError> {
    let mut roots = RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    if let Some(path) = ca_file {
        for cert in read_certs(path)? {
            roots.add(cert).map_err(|source| TlsError::BadCa {
                path: path.to_owned(),
                source,
            })?;
        }
    }
    Ok(roots)
}

/// [`client_config`] from what it reads.
pub fn client_config_with(
    roots: RootCertStore,
    identity: Option<Identity>,
) -> Result<ClientConfig, TlsError> {
    let builder = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots);
    Ok(match identity {
        Some(identity) => builder
            .with_client_auth_cert(identity.chain.clone(), identity.key.clone_key())
            .map_err(|source| identity.error(source))?,
        None => builder.with_no_client_auth(),
    })
}

/// The listener's config: the chain and key in `files`, served as [`serving`] does.
pub fn server_config(files: &TlsFiles) -> Result<ServerConfig, TlsError> {
    server_config_with(Identity::read(files)?)
}

/// [`server_config`] from what it reads.
pub fn server_config_with(identity: Identity) -> Result<ServerConfig, TlsError> {
    serving(identity.chain.clone(), identity.key.clone_key()).map_err(|err| match err {
        TlsError::Rustls(source) => identity.error(source),
        other => other,
    })
}

/// Every server config the proxy presents, the TLS listener's and each
/// intercepted host's: `chain` and `key`, HTTP/1.1 and h2 by ALPN (HTTP/1.1
/// first: it is what the IdV app speaks, and the only version in which
/// header-name case survives).
pub fn serving(
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
) -> Result<ServerConfig, TlsError> {
    let mut config = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(chain, key)?;
    config.alpn_protocols = vec![b"http/1.1".to_vec(), b"h2".to_vec()];
    Ok(config)
}

/// Every certificate in a PEM file; at least one.
pub fn read_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let (sections, holds) = read_pem(path)?;
    let certs: Vec<_> = sections
        .into_iter()
        .filter_map(|(kind, der)| CertificateDer::from_pem(kind, der))
        .collect();
    if certs.is_empty() {
        return Err(TlsError::NoCertificate {
            path: path.to_owned(),
            holds,
        });
    }
    Ok(certs)
}

/// The first private key in a PEM file (PKCS#8, PKCS#1 or SEC1).
pub fn read_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    let (sections, holds) = read_pem(path)?;
    sections
        .into_iter()
        .find_map(|(kind, der)| PrivateKeyDer::from_pem(kind, der))
        .ok_or_else(|| TlsError::NoKey {
            path: path.to_owned(),
            holds,
        })
}

/// Each PEM section's kind and DER bytes.
type Sections = Vec<(SectionKind, Vec<u8>)>;

/// A PEM file's sections, in order, with what it holds in words (for when
/// it holds nothing the caller can use). Bounded by [`MAX_PEM_BYTES`].
fn read_pem(path: &Path) -> Result<(Sections, Holds), TlsError> {
    let read = |source| TlsError::Read {
        path: path.to_owned(),
        source,
    };
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .map_err(read)?
        .take(MAX_PEM_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(read)?;
    if bytes.len() as u64 > MAX_PEM_BYTES {
        return Err(TlsError::TooLarge {
            path: path.to_owned(),
        });
    }
    let mut rest = bytes.as_slice();
    let mut sections = Vec::new();
    while let Some(section) = pem::from_buf(&mut rest).map_err(|source| TlsError::Pem {
        path: path.to_owned(),
        source,
    })? {
        sections.push(section);
    }
    let holds = match sections.first() {
        None if bytes.iter().all(u8::is_ascii_whitespace) => Holds::Nothing,
        // pem skips sections it has no kind for; this one deserves a word.
        None if contains(&bytes, b"-----BEGIN ENCRYPTED PRIVATE KEY-----") => Holds::EncryptedKey,
        None => Holds::NoPem,
        Some((kind, _)) => match kind {
            SectionKind::Certificate => Holds::Certificate,
            SectionKind::PrivateKey | SectionKind::RsaPrivateKey | SectionKind::EcPrivateKey => {
                Holds::PrivateKey
            }
            SectionKind::PublicKey => Holds::PublicKey,
            SectionKind::Csr => Holds::CertificateRequest,
            _ => Holds::OtherPem,
        },
    };
    Ok((sections, holds))
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack
        .windows(needle.len())
        .any(|window| window == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(dir: &tempfile::TempDir, name: &str, bytes: &[u8]) -> PathBuf {
        let path = dir.path().join(name);
        std::fs::write(&path, bytes).expect("write");
        path
    }

    fn pair() -> (String, String) {
        let key = rcgen::KeyPair::generate().expect("key");
        let cert = rcgen::CertificateParams::new(vec!["a.test".into()])
            .expect("params")
            .self_signed(&key)
            .expect("cert");
        (cert.pem(), key.serialize_pem())
    }

    #[test]
    fn each_wrong_file_says_what_it_holds() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (cert, key) = pair();
        let cert_file = file(&dir, "a.crt", cert.as_bytes());
        let key_file = file(&dir, "a.key", key.as_bytes());
        let empty = file(&dir, "empty", b"\n");
        let der = file(&dir, "a.der", &[0x30, 0x82, 0x01, 0x00]);
        let encrypted = file(
            &dir,
            "enc.key",
            b"-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n",
        );
        let shown = |err: TlsError| err.to_string();
        assert_eq!(
            shown(read_key(&cert_file).expect_err("a cert is no key")),
            format!(
                "{} holds a certificate, not a private key",
                cert_file.display()
            )
        );
        assert_eq!(
            shown(read_certs(&key_file).expect_err("a key is no cert")),
            format!(
                "{} holds a private key, not a certificate",
                key_file.display()
            )
        );
        assert_eq!(
            shown(read_certs(&empty).expect_err("empty")),
            format!(
                "{} is empty: expected a certificate in PEM",
                empty.display()
            )
        );
        assert_eq!(
            shown(read_key(&der).expect_err("DER")),
            format!(
                "{} holds no PEM data: expected a private key in PEM",
                der.display()
            )
        );
        assert!(
            shown(read_key(&encrypted).expect_err("encrypted"))
                .ends_with("holds an encrypted private key: decrypt it (openssl pkcs8 -nocrypt)")
        );
        let missing = dir.path().join("none.pem");
        assert_eq!(
            shown(read_certs(&missing).expect_err("missing")),
            format!(
                "cannot read {}: No such file or directory",
                missing.display()
            )
        );
        assert!(read_certs(&cert_file).is_ok() && read_key(&key_file).is_ok());
    }

    #[test]
    fn a_key_that_is_not_the_certificates_is_named_with_both_files() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (cert, _) = pair();
        let (_, other_key) = pair();
        let files = TlsFiles {
            cert_file: file(&dir, "a.crt", cert.as_bytes()),
            key_file: file(&dir, "b.key", other_key.as_bytes()),
        };
        let expected = format!(
            "{} is not the private key of the certificate in {}",
            files.key_file.display(),
            files.cert_file.display()
        );
        let identity = Identity::read(&files).expect("both read");
        assert_eq!(
            identity.check().expect_err("mismatch").to_string(),
            expected
        );
        let err = server_config(&files).expect_err("mismatch");
        assert_eq!(err.to_string(), expected);
        let err = client_config(None, Some(&files)).expect_err("mismatch");
        assert_eq!(err.to_string(), expected);
    }
}
