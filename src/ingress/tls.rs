//! Every rustls configuration the proxy uses: the verifying client configs
//! (LexisNexis, Socure) and the listener's server config, and reading their
//! PEM files.
//!
//! One place builds them so both vendors are verified the same way: against
//! the web PKI roots (webpki-roots, so the image needs no system CA bundle)
//! plus any CA file the operator names, with the `ring` provider. There is
//! no switch that turns verification off: tests trust their own CA through
//! the same `ca_file` an operator would use.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::{ClientConfig, RootCertStore, ServerConfig};

use crate::config::TlsFiles;

/// A TLS file could not be used. Names the file, never its contents.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: rustls::pki_types::pem::Error,
    },
    #[error("{path} holds no PEM certificate")]
    NoCertificate { path: PathBuf },
    #[error("a certificate in {path} is not a usable CA: {source}")]
    BadCa {
        path: PathBuf,
        #[source]
        source: rustls::Error,
    },
    #[error("TLS setup failed: {0}")]
    Rustls(#[from] rustls::Error),
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
    let builder = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots);
    Ok(match identity {
        Some(files) => builder
            .with_client_auth_cert(read_certs(&files.cert_file)?, read_key(&files.key_file)?)?,
        None => builder.with_no_client_auth(),
    })
}

/// The listener's config: the chain and key in `files`, served as [`serving`] does.
pub fn server_config(files: &TlsFiles) -> Result<ServerConfig, TlsError> {
    serving(read_certs(&files.cert_file)?, read_key(&files.key_file)?)
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
    let read = |source| TlsError::Read {
        path: path.to_owned(),
        source,
    };
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(read)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(read)?;
    if certs.is_empty() {
        return Err(TlsError::NoCertificate {
            path: path.to_owned(),
        });
    }
    Ok(certs)
}

/// The first private key in a PEM file (PKCS#8, PKCS#1 or SEC1).
pub fn read_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    PrivateKeyDer::from_pem_file(path).map_err(|source| TlsError::Read {
        path: path.to_owned(),
        source,
    })
}
