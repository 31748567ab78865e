//! The forward-proxy mode's certificate authority: `ca init` makes one,
//! [`Authority`] loads it and mints (and caches) the leaf certificate the
//! proxy presents for each intercepted host.
//!
//! Leaves are minted on first use, not at start, so an operator never issues
//! certificates by hand, and re-minted before they expire, so a proxy that
//! runs for months keeps working. Every leaf shares one key generated at
//! start and never written anywhere. The cache holds one entry per
//! intercepted host name, and only configured names are ever intercepted,
//! so it cannot grow with traffic.

use std::collections::HashMap;
use std::fs::OpenOptions;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose,
    GeneralSubtree, IsCa, Issuer, KeyPair, KeyUsagePurpose, NameConstraints,
};
use rustls::ServerConfig;
use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
use time::{Duration, OffsetDateTime};

use crate::config::TlsFiles;
use crate::ingress::tls;

/// How long a minted leaf is valid, and when it is replaced.
const LEAF_LIFETIME: Duration = Duration::days(7);
const LEAF_RENEW_AFTER: Duration = Duration::days(1);
/// How long a CA made by `ca init` is valid.
const CA_LIFETIME: Duration = Duration::days(2 * 365);

#[derive(Debug, thiserror::Error)]
pub enum AuthorityError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path} is not a usable CA certificate or key: {source}")]
    Parse {
        path: PathBuf,
        #[source]
        source: rcgen::Error,
    },
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("certificate generation failed: {0}")]
    Generate(#[from] rcgen::Error),
    #[error(transparent)]
    Tls(#[from] tls::TlsError),
}

/// A loaded CA and the leaves it has minted.
pub struct Authority {
    issuer: Issuer<'static, KeyPair>,
    leaf_key: KeyPair,
    /// Host name -> the server config presenting its leaf, and when minted.
    /// Locked only to look up or insert, never across an `.await`.
    leaves: Mutex<HashMap<String, (Arc<ServerConfig>, OffsetDateTime)>>,
}

impl Authority {
    /// Loads the CA certificate and key named in the config.
    pub fn load(files: &TlsFiles) -> Result<Self, AuthorityError> {
        let read = |path: &Path| {
            std::fs::read_to_string(path).map_err(|source| AuthorityError::Read {
                path: path.to_owned(),
                source,
            })
        };
        let key =
            KeyPair::from_pem(&read(&files.key_file)?).map_err(|source| AuthorityError::Parse {
                path: files.key_file.clone(),
                source,
            })?;
        let issuer = Issuer::from_ca_cert_pem(&read(&files.cert_file)?, key).map_err(|source| {
            AuthorityError::Parse {
                path: files.cert_file.clone(),
                source,
            }
        })?;
        Ok(Self {
            issuer,
            leaf_key: KeyPair::generate()?,
            leaves: Mutex::new(HashMap::new()),
        })
    }

    /// The TLS server config that presents a leaf for `host`, minted now if
    /// there is none yet or the one there is due for renewal.
    pub fn server_config(&self, host: &str) -> Result<Arc<ServerConfig>, AuthorityError> {
        let now = OffsetDateTime::now_utc();
        if let Some((config, minted)) = self.cached(host)
            && now - minted < LEAF_RENEW_AFTER
        {
            return Ok(config);
        }
        let config = Arc::new(self.mint(host, now)?);
        if let Ok(mut leaves) = self.leaves.lock() {
            leaves.insert(host.to_owned(), (Arc::clone(&config), now));
        }
        Ok(config)
    }

    fn cached(&self, host: &str) -> Option<(Arc<ServerConfig>, OffsetDateTime)> {
        let leaves = self.leaves.lock().ok()?;
        leaves
            .get(host)
            .map(|(config, minted)| (Arc::clone(config), *minted))
    }

    fn mint(&self, host: &str, now: OffsetDateTime) -> Result<ServerConfig, AuthorityError> {
        let mut params = CertificateParams::new(vec![host.to_owned()])?;
        params.distinguished_name = DistinguishedName::new();
        params.distinguished_name.push(DnType::CommonName, host);
        // A little slack for clocks that are behind.
        params.not_before = now - Duration::hours(1);
        params.not_after = now + LEAF_LIFETIME;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        params.use_authority_key_identifier_extension = true;
        let leaf = params.signed_by(&self.leaf_key, &self.issuer)?;
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.leaf_key.serialize_der()));
        Ok(tls::serving(vec![leaf.der().clone()], key)?)
    }
}

/// What `ca init` wrote.
#[derive(Debug)]
pub struct InitReport {
    pub cert_file: PathBuf,
    pub key_file: PathBuf,
}

/// Writes a new CA certificate (`ca.crt`, mode 0644) and key (`ca.key`,
/// mode 0600) into `dir`. Refuses to overwrite either. `permitted_hosts`,
/// when given, name-constrains the CA: it can then only vouch for those
/// hosts and their subdomains, so a leaked key cannot impersonate any other
/// site to the app.
pub fn init(dir: &Path, permitted_hosts: &[String]) -> Result<InitReport, AuthorityError> {
    let now = OffsetDateTime::now_utc();
    let mut params = CertificateParams::default();
    params.distinguished_name = DistinguishedName::new();
    params
        .distinguished_name
        .push(DnType::CommonName, "socure-shadow-proxy interception CA");
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    params.not_before = now - Duration::hours(1);
    params.not_after = now + CA_LIFETIME;
    if !permitted_hosts.is_empty() {
        params.name_constraints = Some(NameConstraints {
            permitted_subtrees: permitted_hosts
                .iter()
                .map(|host| GeneralSubtree::DnsName(host.clone()))
                .collect(),
            excluded_subtrees: Vec::new(),
        });
    }
    let key = KeyPair::generate()?;
    let cert = params.self_signed(&key)?;

    let cert_file = dir.join("ca.crt");
    let key_file = dir.join("ca.key");
    // The key first, so a failure never leaves a certificate without it.
    write_new(&key_file, key.serialize_pem().as_bytes(), 0o600)?;
    write_new(&cert_file, cert.pem().as_bytes(), 0o644)?;
    Ok(InitReport {
        cert_file,
        key_file,
    })
}

/// Creates `path` with `mode`; fails if it exists.
fn write_new(path: &Path, bytes: &[u8], mode: u32) -> Result<(), AuthorityError> {
    let write = |source| AuthorityError::Write {
        path: path.to_owned(),
        source,
    };
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
        .map_err(write)?;
    file.write_all(bytes).map_err(write)?;
    file.sync_all().map_err(write)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leaves_are_minted_once_per_host_and_cached() {
        let dir = tempfile::tempdir().expect("temp dir");
        let made = init(dir.path(), &[]).expect("init");
        let authority = Authority::load(&TlsFiles {
            cert_file: made.cert_file,
            key_file: made.key_file,
        })
        .expect("load");
        let first = authority.server_config("a.test").expect("mint");
        let again = authority.server_config("a.test").expect("cached");
        let other = authority.server_config("b.test").expect("mint");
        assert!(
            Arc::ptr_eq(&first, &again),
            "the second CONNECT reuses the leaf"
        );
        assert!(!Arc::ptr_eq(&first, &other));
        assert_eq!(authority.leaves.lock().expect("lock").len(), 2);
    }

    #[test]
    fn a_missing_or_foreign_file_is_named() {
        let dir = tempfile::tempdir().expect("temp dir");
        let missing = TlsFiles {
            cert_file: dir.path().join("none.crt"),
            key_file: dir.path().join("none.key"),
        };
        let Err(err) = Authority::load(&missing) else {
            panic!("a missing CA must not load");
        };
        assert!(err.to_string().contains("none.key"), "{err}");
    }
}
