//! The proxy's certificate authority: `ca init` makes one, [`Authority`]
//! loads it and mints (and caches) the leaf certificate the forward-proxy
//! mode presents for each intercepted host, and `ca issue` signs with it the
//! certificate a TLS listener serves (ways in 1 and 2).
//!
//! Leaves are minted on first use, not at start, so an operator never issues
//! certificates by hand, and re-minted before they expire, so a proxy that
//! runs for months keeps working. Every leaf shares one key generated at
//! start and never written anywhere. The cache holds one entry per
//! intercepted host name, and only configured names are ever intercepted,
//! so it cannot grow with traffic.

use std::collections::HashMap;
use std::fs::{DirBuilder, OpenOptions};
use std::io::Write;
use std::net::IpAddr;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use rcgen::{
    BasicConstraints, Certificate, CertificateParams, DistinguishedName, DnType,
    ExtendedKeyUsagePurpose, GeneralSubtree, IsCa, Issuer, KeyPair, KeyUsagePurpose,
    NameConstraints,
};
use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::ServerCertVerifier;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName, UnixTime};
use rustls::{CertificateError, RootCertStore, ServerConfig};
use time::{Duration, OffsetDateTime};

use crate::config::TlsFiles;
use crate::ingress::tls;

/// How long a minted leaf is valid, and when it is replaced.
const LEAF_LIFETIME: Duration = Duration::days(7);
const LEAF_RENEW_AFTER: Duration = Duration::days(1);
/// How long a CA made by `ca init` is valid.
const CA_LIFETIME: Duration = Duration::days(2 * 365);
/// How long a certificate made by `ca issue` is valid: the TLS listener
/// reads its files at start, so a renewal is a restart, once a year.
pub const ISSUED_LIFETIME: Duration = Duration::days(365);

#[derive(Debug, thiserror::Error)]
pub enum AuthorityError {
    #[error("{} is not a key the CA can sign with ({source}): it must be PKCS#8 (BEGIN PRIVATE KEY), ECDSA P-256 or P-384, Ed25519 or RSA", path.display())]
    Key {
        path: PathBuf,
        #[source]
        source: rcgen::Error,
    },
    #[error("{} is not a usable CA certificate: {source}", path.display())]
    Certificate {
        path: PathBuf,
        #[source]
        source: rcgen::Error,
    },
    /// `ca init` never replaces a CA: the app may already trust it.
    #[error("refusing to overwrite {}", path.display())]
    Exists { path: PathBuf },
    #[error("cannot write {}: {}", path.display(), crate::error::io_reason(source))]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// `ca issue` before `ca init`.
    #[error("no CA in {}: {} is missing (make one with `socure-shadow-proxy ca init {}`)", dir.display(), dir.join("ca.crt").display(), dir.display())]
    NoCa { dir: PathBuf },
    #[error("{host:?} is not a host name or an IP address")]
    BadHost { host: String },
    /// The CA would not vouch for a name: outside its `--permit-host`
    /// name constraints, or the CA itself is unusable.
    #[error("refusing to issue for {host}: {} cannot vouch for it: {reason}", ca.display())]
    Refused {
        host: String,
        ca: PathBuf,
        reason: String,
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
        let chain = tls::read_certs(&files.cert_file)?;
        let key = tls::read_key(&files.key_file)?;
        Self::from_read(tls::Identity {
            files: files.clone(),
            chain,
            key,
        })
    }

    /// The CA from its files once read (each read with [`tls::read_certs`]
    /// and [`tls::read_key`], so a caller can report both files' problems).
    /// Checks that the key is the certificate's: with another key every
    /// leaf would be signed by a CA the app does not trust, and every
    /// intercepted handshake would fail.
    pub fn from_read(ca: tls::Identity) -> Result<Self, AuthorityError> {
        Ok(Self {
            issuer: issuer(&ca)?,
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
        let leaf = sign_leaf(
            &[host.to_owned()],
            now,
            LEAF_LIFETIME,
            &self.leaf_key,
            &self.issuer,
        )?;
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.leaf_key.serialize_der()));
        Ok(tls::serving(vec![leaf.der().clone()], key)?)
    }
}

/// The signer for a CA once read. Checks that the key is the
/// certificate's: with another key every leaf would be signed by a CA the
/// app does not trust.
fn issuer(ca: &tls::Identity) -> Result<Issuer<'static, KeyPair>, AuthorityError> {
    ca.check()?;
    let key = KeyPair::try_from(&ca.key).map_err(|source| AuthorityError::Key {
        path: ca.files.key_file.clone(),
        source,
    })?;
    let certificate = |source| AuthorityError::Certificate {
        path: ca.files.cert_file.clone(),
        source,
    };
    let first = ca
        .chain
        .first()
        .ok_or_else(|| certificate(rcgen::Error::CouldNotParseCertificate))?;
    Issuer::from_ca_cert_der(first, key).map_err(certificate)
}

/// A server certificate for `hosts` (each a DNS name or an IP address,
/// which becomes an IP SAN), valid from an hour before `now` for
/// `lifetime`, for `key`, signed by `issuer`: every leaf the proxy makes,
/// minted for an intercepted host or written by `ca issue`.
fn sign_leaf(
    hosts: &[String],
    now: OffsetDateTime,
    lifetime: Duration,
    key: &KeyPair,
    issuer: &Issuer<'_, KeyPair>,
) -> Result<Certificate, rcgen::Error> {
    let mut params = CertificateParams::new(hosts.to_vec())?;
    params.distinguished_name = DistinguishedName::new();
    // The first host name as the subject, for people reading it: never an
    // IP address, which a verifier could take for a name outside the CA's
    // name constraints.
    if let Some(name) = hosts.iter().find(|host| host.parse::<IpAddr>().is_err()) {
        params.distinguished_name.push(DnType::CommonName, name);
    }
    // A little slack for clocks that are behind.
    params.not_before = now - Duration::hours(1);
    params.not_after = now + lifetime;
    params.is_ca = IsCa::ExplicitNoCa;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    params.use_authority_key_identifier_extension = true;
    params.signed_by(key, issuer)
}

/// What `ca init` wrote.
#[derive(Debug)]
pub struct InitReport {
    pub cert_file: PathBuf,
    pub key_file: PathBuf,
}

/// Writes a new CA certificate (`ca.crt`, mode 0644) and key (`ca.key`,
/// mode 0600) into `dir`, creating `dir` (mode 0700) if it is missing.
/// Both files or neither: refuses if either exists, and a failure part way
/// leaves `dir` as it was. `permitted_hosts`, when given, name-constrains
/// the CA: it can then only vouch for those hosts and their subdomains, so
/// a leaked key cannot impersonate any other site to the app.
pub fn init(dir: &Path, permitted_hosts: &[String]) -> Result<InitReport, AuthorityError> {
    let cert_file = dir.join("ca.crt");
    let key_file = dir.join("ca.key");
    // Before anything is made: a half-made CA is what this refuses to leave.
    for path in [&key_file, &cert_file] {
        if path.symlink_metadata().is_ok() {
            return Err(AuthorityError::Exists { path: path.clone() });
        }
    }
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

    // Only the key's owner need ever list the directory the key lives in.
    DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|source| AuthorityError::Write {
            path: dir.to_owned(),
            source,
        })?;
    write_key_and_certificate(&key_file, &key.serialize_pem(), &cert_file, &cert.pem())?;
    Ok(InitReport {
        cert_file,
        key_file,
    })
}

/// What `ca issue` wrote.
#[derive(Debug)]
pub struct IssueReport {
    /// The leaf, then the CA certificate: for `listen.tls_cert_file`.
    pub cert_file: PathBuf,
    /// The leaf's key, mode 0600: for `listen.tls_key_file`.
    pub key_file: PathBuf,
    /// The CA certificate the app must trust.
    pub ca_file: PathBuf,
    /// The names the certificate is for, as written into it.
    pub hosts: Vec<String>,
    pub not_after: OffsetDateTime,
}

/// Writes a certificate for a TLS listener, signed by the CA `init` wrote
/// into `dir`: `dir/HOST.crt` (mode 0644: the leaf, then the CA
/// certificate) and `dir/HOST.key` (mode 0600), HOST the first of `hosts`.
/// Each host is a DNS name or an IP address (an IP SAN). The leaf is for
/// server authentication only, valid for [`ISSUED_LIFETIME`], with an
/// ECDSA P-256 key as `init` makes. Before anything is written, it is verified as a
/// rustls client would, trusting the CA alone, for each host: a host
/// outside the CA's `--permit-host` name constraints is refused. Both
/// files or neither, never replacing one, as [`init`] writes.
pub fn issue(dir: &Path, hosts: &[String]) -> Result<IssueReport, AuthorityError> {
    let hosts = host_names(hosts)?;
    let first = hosts.first().ok_or_else(|| AuthorityError::BadHost {
        host: String::new(),
    })?;
    let cert_file = dir.join(format!("{first}.crt"));
    let key_file = dir.join(format!("{first}.key"));
    for path in [&key_file, &cert_file] {
        if path.symlink_metadata().is_ok() {
            return Err(AuthorityError::Exists { path: path.clone() });
        }
    }
    let ca_files = TlsFiles {
        cert_file: dir.join("ca.crt"),
        key_file: dir.join("ca.key"),
    };
    if ca_files.cert_file.symlink_metadata().is_err() {
        return Err(AuthorityError::NoCa {
            dir: dir.to_owned(),
        });
    }
    let ca = tls::Identity::read(&ca_files)?;
    let issuer = issuer(&ca)?;
    let key = KeyPair::generate()?;
    let now = OffsetDateTime::now_utc();
    let sign = |names: &[String]| sign_leaf(names, now, ISSUED_LIFETIME, &key, &issuer);
    let verifier = verifier(&ca)?;
    // One host at a time first, so a refusal names the host refused.
    for host in &hosts {
        vouched(
            &verifier,
            &sign(std::slice::from_ref(host))?,
            host,
            &ca_files,
        )?;
    }
    let leaf = sign(&hosts)?;
    for host in &hosts {
        vouched(&verifier, &leaf, host, &ca_files)?;
    }
    // The CA as `init` wrote it (PEM), after the leaf.
    let mut chain = leaf.pem();
    let ca_pem =
        std::fs::read_to_string(&ca_files.cert_file).map_err(|source| tls::TlsError::Read {
            path: ca_files.cert_file.clone(),
            source,
        })?;
    chain.push_str(ca_pem.trim_end());
    chain.push('\n');
    write_key_and_certificate(&key_file, &key.serialize_pem(), &cert_file, &chain)?;
    Ok(IssueReport {
        cert_file,
        key_file,
        ca_file: ca_files.cert_file,
        not_after: now + ISSUED_LIFETIME,
        hosts,
    })
}

/// `hosts` checked and as they go into a certificate: an IP address in its
/// usual form, a DNS name in lower case without a trailing dot; each once,
/// in the order given. A name is also a file name, so nothing but a host
/// name or an address passes (no `/`, no wildcard).
fn host_names(hosts: &[String]) -> Result<Vec<String>, AuthorityError> {
    let mut names: Vec<String> = Vec::with_capacity(hosts.len());
    for host in hosts {
        let bad = || AuthorityError::BadHost { host: host.clone() };
        let name = match host.parse::<IpAddr>() {
            Ok(ip) => ip.to_string(),
            Err(_) => {
                let name = host.strip_suffix('.').unwrap_or(host).to_ascii_lowercase();
                match ServerName::try_from(name.as_str()) {
                    Ok(ServerName::DnsName(_)) if !name.is_empty() => name,
                    _ => return Err(bad()),
                }
            }
        };
        if !names.contains(&name) {
            names.push(name);
        }
    }
    Ok(names)
}

/// A verifier trusting the CA alone, as the app will.
fn verifier(ca: &tls::Identity) -> Result<Arc<WebPkiServerVerifier>, AuthorityError> {
    let mut roots = RootCertStore::empty();
    for cert in &ca.chain {
        roots
            .add(cert.clone())
            .map_err(|source| tls::TlsError::BadCa {
                path: ca.files.cert_file.clone(),
                source,
            })?;
    }
    WebPkiServerVerifier::builder_with_provider(Arc::new(roots), tls::provider())
        .build()
        .map_err(|err| AuthorityError::Refused {
            host: "any host".to_owned(),
            ca: ca.files.cert_file.clone(),
            reason: err.to_string(),
        })
}

/// Whether `verifier` accepts `leaf` for `host`.
fn vouched(
    verifier: &WebPkiServerVerifier,
    leaf: &Certificate,
    host: &str,
    ca_files: &TlsFiles,
) -> Result<(), AuthorityError> {
    let refused = |reason: String| AuthorityError::Refused {
        host: host.to_owned(),
        ca: ca_files.cert_file.clone(),
        reason,
    };
    let name = ServerName::try_from(host.to_owned()).map_err(|err| refused(err.to_string()))?;
    let der: &CertificateDer<'_> = leaf.der();
    match verifier.verify_server_cert(der, &[], &name, &[], UnixTime::now()) {
        Ok(_) => Ok(()),
        // webpki's own error, which rustls passes on as "other".
        Err(rustls::Error::InvalidCertificate(CertificateError::Other(other)))
            if other.to_string().contains("NameConstraint") =>
        {
            Err(refused(
                "it is outside the CA's name constraints (its `ca init --permit-host` \
                 names): only those hosts and their subdomains"
                    .to_owned(),
            ))
        }
        Err(err) => Err(refused(err.to_string())),
    }
}

/// A file to create, with its mode from the first byte.
struct NewFile<'a> {
    path: &'a Path,
    bytes: &'a [u8],
    mode: u32,
}

/// A private key (mode 0600) and its certificate or chain (0644), both
/// written or neither.
fn write_key_and_certificate(
    key_file: &Path,
    key_pem: &str,
    cert_file: &Path,
    cert_pem: &str,
) -> Result<(), AuthorityError> {
    write_all_or_none(&[
        NewFile {
            path: key_file,
            bytes: key_pem.as_bytes(),
            mode: 0o600,
        },
        NewFile {
            path: cert_file,
            bytes: cert_pem.as_bytes(),
            mode: 0o644,
        },
    ])
}

/// Creates every file or none. Each is written and synced under a
/// temporary name beside it, then all are published with `link`, which,
/// unlike `rename`, fails rather than replace a file that appeared in the
/// meantime; if one cannot be published the ones already published are
/// removed. The temporary names are always removed.
fn write_all_or_none(files: &[NewFile<'_>]) -> Result<(), AuthorityError> {
    let mut temporaries = Vec::with_capacity(files.len());
    let result = publish(files, &mut temporaries);
    for temporary in &temporaries {
        let _ = std::fs::remove_file(temporary);
    }
    result
}

fn publish(files: &[NewFile<'_>], temporaries: &mut Vec<PathBuf>) -> Result<(), AuthorityError> {
    let tag = format!("{}.{}", std::process::id(), uuid::Uuid::new_v4().simple());
    for file in files {
        let mut name = std::ffi::OsString::from(".");
        name.push(file.path.file_name().unwrap_or_default());
        name.push(format!(".tmp.{tag}"));
        let temporary = file.path.with_file_name(name);
        // Listed before it exists, so a write that fails half way is removed too.
        temporaries.push(temporary.clone());
        write_new(&temporary, file.bytes, file.mode)?;
    }
    let mut published: Vec<&Path> = Vec::with_capacity(files.len());
    for (file, temporary) in files.iter().zip(temporaries.iter()) {
        if let Err(source) = std::fs::hard_link(temporary, file.path) {
            for path in published {
                let _ = std::fs::remove_file(path);
            }
            return Err(if source.kind() == std::io::ErrorKind::AlreadyExists {
                AuthorityError::Exists {
                    path: file.path.to_owned(),
                }
            } else {
                AuthorityError::Write {
                    path: file.path.to_owned(),
                    source,
                }
            });
        }
        published.push(file.path);
    }
    // The new names must survive a crash as the contents do.
    for dir in published.iter().filter_map(|path| path.parent()) {
        let dir = if dir.as_os_str().is_empty() {
            Path::new(".")
        } else {
            dir
        };
        std::fs::File::open(dir)
            .and_then(|dir| dir.sync_all())
            .map_err(|source| AuthorityError::Write {
                path: dir.to_owned(),
                source,
            })?;
    }
    Ok(())
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

    /// Every name in `dir` with its bytes, to compare before and after.
    fn contents(dir: &Path) -> Vec<(std::ffi::OsString, Vec<u8>)> {
        let mut all: Vec<_> = std::fs::read_dir(dir)
            .expect("read dir")
            .map(|entry| {
                let entry = entry.expect("entry");
                (
                    entry.file_name(),
                    std::fs::read(entry.path()).expect("read"),
                )
            })
            .collect();
        all.sort();
        all
    }

    #[test]
    fn init_with_one_file_there_refuses_and_changes_nothing() {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::write(dir.path().join("ca.crt"), b"an older CA the app trusts").expect("write");
        let before = contents(dir.path());
        let Err(err) = init(dir.path(), &[]) else {
            panic!("must refuse with ca.crt there");
        };
        assert_eq!(
            err.to_string(),
            format!(
                "refusing to overwrite {}",
                dir.path().join("ca.crt").display()
            )
        );
        assert_eq!(contents(dir.path()), before, "no key, no temporary file");

        // Run again where nothing is there: it works, and makes the directory.
        let fresh = tempfile::tempdir().expect("temp dir");
        let ca_dir = fresh.path().join("new").join("ca");
        let made = init(&ca_dir, &[]).expect("init in a new directory");
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&ca_dir)
            .expect("made")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o700);
        let names: Vec<_> = contents(&ca_dir)
            .into_iter()
            .map(|(name, _)| name)
            .collect();
        assert_eq!(names, ["ca.crt", "ca.key"]);
        assert!(
            Authority::load(&TlsFiles {
                cert_file: made.cert_file,
                key_file: made.key_file,
            })
            .is_ok()
        );
    }

    /// Writes "1" at `first` (a key's mode) and "2" at `second` (a
    /// certificate's), both or neither.
    fn write_two(first: &Path, second: &Path) -> Result<(), AuthorityError> {
        write_all_or_none(&[
            NewFile {
                path: first,
                bytes: b"1",
                mode: 0o600,
            },
            NewFile {
                path: second,
                bytes: b"2",
                mode: 0o644,
            },
        ])
    }

    #[test]
    fn a_failure_between_the_two_files_leaves_neither() {
        let dir = tempfile::tempdir().expect("temp dir");
        let first = dir.path().join("first");
        // The second name appears after the check (as if another `ca init`
        // ran at once): its publication fails, and the first is taken back.
        let second = dir.path().join("second");
        std::fs::write(&second, b"someone else's").expect("write");
        let err = write_two(&first, &second).expect_err("the second cannot be published");
        assert!(matches!(err, AuthorityError::Exists { .. }), "{err}");
        assert_eq!(
            contents(dir.path()),
            [("second".into(), b"someone else's".to_vec())]
        );

        // The second cannot even be written: the first's temporary goes too.
        let missing = dir.path().join("no-such-dir").join("second");
        let err = write_two(&first, &missing).expect_err("the second cannot be written");
        assert!(matches!(err, AuthorityError::Write { .. }), "{err}");
        assert_eq!(
            contents(dir.path()),
            [("second".into(), b"someone else's".to_vec())]
        );
    }

    #[test]
    fn issued_hosts_are_checked_and_normalised() {
        let given =
            |hosts: &[&str]| host_names(&hosts.iter().map(|h| (*h).to_owned()).collect::<Vec<_>>());
        assert_eq!(
            given(&["Vendor.Test.", "vendor.test", "::1", "127.0.0.1"]).expect("good"),
            ["vendor.test", "::1", "127.0.0.1"]
        );
        for bad in ["../x", "a/b", "*.vendor.test", "", ".", "a b"] {
            let err = given(&[bad]).expect_err(bad);
            assert!(
                matches!(err, AuthorityError::BadHost { .. }),
                "{bad}: {err}"
            );
        }
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
        assert!(err.to_string().contains("none.crt"), "{err}");

        // The CA certificate given as the key too.
        let made = init(dir.path(), &[]).expect("init");
        let crossed = TlsFiles {
            cert_file: made.cert_file.clone(),
            key_file: made.cert_file.clone(),
        };
        let Err(err) = Authority::load(&crossed) else {
            panic!("a certificate is no key");
        };
        assert_eq!(
            err.to_string(),
            format!(
                "{} holds a certificate, not a private key",
                made.cert_file.display()
            )
        );

        // Another CA's key.
        let other = tempfile::tempdir().expect("temp dir");
        let foreign = init(other.path(), &[]).expect("init");
        let Err(err) = Authority::load(&TlsFiles {
            cert_file: made.cert_file.clone(),
            key_file: foreign.key_file.clone(),
        }) else {
            panic!("another CA's key must not load");
        };
        assert_eq!(
            err.to_string(),
            format!(
                "{} is not the private key of the certificate in {}",
                foreign.key_file.display(),
                made.cert_file.display()
            )
        );
    }
}
