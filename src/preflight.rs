//! The preflight: every step of a start that can fail short of binding a port, run alike by `check-config` and `run`, each problem named by its config key.
//!
//! `server::start` builds from what [`check`] returns, so a certificate, key
//! or CA bundle is read and parsed by one piece of code whether the operator
//! checks or runs, and `check-config` cannot pass a file that `run` then
//! refuses. Every file is tried even after one fails, so one pass reports
//! them all. Besides the files, the upstream's resolver is set up (it reads
//! `/etc/resolv.conf` for `upstream.resolve = "dns"`) and the Socure API
//! key is made a header value. Nothing here binds, spawns or writes: the
//! shadow log's place is checked (an existing file opened for appending, a
//! missing one's directory checked writable), never made.

use std::fmt::Display;
use std::path::{Path, PathBuf};

use rustls::RootCertStore;

use crate::client::connect::Redirect;
use crate::config::effective::Effective;
use crate::config::{self, Config, KeyError, ListenMode, TlsFiles};
use crate::ingress::authority::{Authority, AuthorityError};
use crate::ingress::listeners::Front;
use crate::ingress::tls::{self, Identity, TlsError};
use crate::shadow::fleet::{FleetError, FleetUse};
use crate::shadow::sink;
use crate::shadow::socure_client::{self, SocureClient};
use crate::upstream::forward::Upstream;

/// Everything that stops a start before it binds, one entry per problem.
#[derive(Debug, thiserror::Error)]
#[error("{}", self.lines().join("; "))]
pub struct PreflightError {
    file: Option<PathBuf>,
    problems: Vec<KeyError>,
}

impl PreflightError {
    pub fn problems(&self) -> &[KeyError] {
        &self.problems
    }

    /// One line per problem, for the operator's terminal: the same shape
    /// as the config's own errors (`FILE:LINE: key (from env VAR): message`).
    pub fn lines(&self) -> Vec<String> {
        config::error_lines(self.file.as_deref(), &self.problems)
    }

    /// One problem found while building, past the preflight (what it
    /// cannot try without making something), placed as the preflight's are.
    pub fn one(config: &Config, key: &str, message: impl Display) -> Self {
        Self {
            file: config.effective.file().map(Path::to_path_buf),
            problems: vec![config.effective.key_error(key, message.to_string())],
        }
    }
}

/// A config that passed the preflight, and what was built from its files,
/// ready for `server::start_checked`.
pub struct Checked {
    pub(crate) config: Config,
    pub(crate) upstream: Upstream,
    pub(crate) front: Front,
    /// `Some` when the mirror is to be built: shadow mode on, or off but
    /// able to be turned on by a reload (an API key and a workflow).
    pub(crate) socure: Option<SocureClient>,
    /// `Some` with `[fleet] redis_url`: made, not yet connected.
    pub(crate) fleet: Option<FleetUse>,
}

impl Checked {
    pub fn config(&self) -> &Config {
        &self.config
    }
}

/// Runs every check on `config`. Each problem is placed as the loader
/// places its own: at its key's line, or named by the variable that set it.
pub fn check(config: Config) -> Result<Checked, PreflightError> {
    let mut found = Found {
        effective: config.effective.clone(),
        problems: Vec::new(),
    };
    let upstream = upstream(&config, &mut found);
    let front = front(&config.listen.mode, &mut found);
    let socure = socure(&config, &mut found);
    let fleet = fleet(&config, &mut found);
    found.unreadable_first(&config.unreadable);
    match (upstream, front, socure, fleet) {
        (Some(upstream), Some(front), Some(socure), Some(fleet)) if found.problems.is_empty() => {
            Ok(Checked {
                config,
                upstream,
                front,
                socure,
                fleet,
            })
        }
        _ => Err(PreflightError {
            file: config.effective.file().map(Path::to_path_buf),
            problems: found.problems,
        }),
    }
}

/// The problems found so far.
struct Found {
    /// Where each key came from.
    effective: Effective,
    problems: Vec<KeyError>,
}

impl Found {
    /// The files the load could not open, each placed at its key's line,
    /// in place of what the checks here said of the same keys (trying to
    /// read them again says the same, or less).
    fn unreadable_first(&mut self, unreadable: &[KeyError]) {
        if unreadable.is_empty() {
            return;
        }
        self.problems
            .retain(|problem| !unreadable.iter().any(|u| u.key == problem.key));
        let mut first: Vec<KeyError> = unreadable
            .iter()
            .map(|u| self.effective.key_error(&u.key, u.message.clone()))
            .collect();
        first.append(&mut self.problems);
        self.problems = first;
    }

    fn add(&mut self, key: &str, message: impl Display) {
        self.problems
            .push(self.effective.key_error(key, message.to_string()));
    }

    /// `result`'s value, or `None` with its error recorded under `key`.
    fn take<T, E: Display>(&mut self, key: &str, result: Result<T, E>) -> Option<T> {
        result.map_err(|err| self.add(key, err)).ok()
    }

    /// A certificate chain and its key, each file read and reported on its
    /// own, then checked to belong together (the key's problem if not).
    fn identity(&mut self, keys: (&str, &str), files: &TlsFiles) -> Option<Identity> {
        let chain = self.take(keys.0, tls::read_certs(&files.cert_file));
        let key = self.take(keys.1, tls::read_key(&files.key_file));
        let identity = Identity {
            files: files.clone(),
            chain: chain?,
            key: key?,
        };
        match identity.check() {
            Ok(()) => Some(identity),
            Err(err) => {
                self.add(pair_key(keys, &err), err);
                None
            }
        }
    }

    fn trust(&mut self, key: &str, ca_file: Option<&Path>) -> Option<RootCertStore> {
        self.take(key, tls::trust(ca_file))
    }
}

/// Which of a pair's two keys a problem found once both files read is about.
fn pair_key<'k>((cert, key): (&'k str, &'k str), err: &TlsError) -> &'k str {
    match err {
        TlsError::KeyMismatch { .. } | TlsError::BadPair { .. } => key,
        _ => cert,
    }
}

/// The LexisNexis client: its trust, its client certificate, its resolver.
fn upstream(config: &Config, found: &mut Found) -> Option<Upstream> {
    let upstream = &config.upstream;
    let roots = found.trust("upstream.ca_file", upstream.ca_file.as_deref());
    let identity = match &upstream.client_identity {
        None => Some(None),
        Some(files) => found
            .identity(
                ("upstream.client_cert_file", "upstream.client_key_file"),
                files,
            )
            .map(Some),
    };
    let resolve_key = match &upstream.resolve {
        config::Resolve::Dns { servers } if !servers.is_empty() => "upstream.dns_servers",
        _ => "upstream.resolve",
    };
    let redirect = found.take(resolve_key, Redirect::new(upstream));
    let tls = match tls::client_config_with(roots?, identity?) {
        Ok(tls) => Some(tls),
        Err(err) => {
            let keys = ("upstream.client_cert_file", "upstream.client_key_file");
            found.add(pair_key(keys, &err), err);
            None
        }
    };
    found.take(
        "upstream.base_url",
        Upstream::new(upstream, tls?, redirect?, config.listen.max_connections),
    )
}

/// The listener's TLS, or forward-proxy mode's CA.
fn front(mode: &ListenMode, found: &mut Found) -> Option<Front> {
    match mode {
        ListenMode::Reverse { tls: None } => Some(ListenMode::Reverse { tls: None }),
        ListenMode::Reverse { tls: Some(files) } => {
            let keys = ("listen.tls_cert_file", "listen.tls_key_file");
            let identity = found.identity(keys, files)?;
            match tls::server_config_with(identity) {
                Ok(config) => Some(ListenMode::Reverse { tls: Some(config) }),
                Err(err) => {
                    found.add(pair_key(keys, &err), err);
                    None
                }
            }
        }
        ListenMode::ForwardProxy(intercept) => {
            let keys = ("listen.ca_cert_file", "listen.ca_key_file");
            let ca = found.identity(keys, &intercept.ca)?;
            match Authority::from_read(ca) {
                Ok(authority) => Some(ListenMode::ForwardProxy(Box::new((
                    authority,
                    intercept.clone(),
                )))),
                Err(err) => {
                    let key = match &err {
                        AuthorityError::Key { .. } => keys.1,
                        AuthorityError::Tls(err) => pair_key(keys, err),
                        _ => keys.0,
                    };
                    found.add(key, err);
                    None
                }
            }
        }
    }
}

/// The Socure client and the shadow log's place, when the mirror is to be
/// built; `socure.ca_file` whenever it is set, used or not yet, so that a
/// bad file is found now and not on the day shadow mode is turned on.
/// The fleet's Redis client, when configured: its URL parsed and its CA
/// bundle read. Nothing connects: Redis may come up after the proxy.
fn fleet(config: &Config, found: &mut Found) -> Option<Option<FleetUse>> {
    let Some(fleet) = &config.fleet else {
        return Some(None);
    };
    let ca_pem = match &fleet.ca_file {
        Some(path) => {
            let pem = found.take(
                "fleet.ca_file",
                std::fs::read(path).map_err(|err| {
                    format!(
                        "cannot read {}: {}",
                        path.display(),
                        crate::error::io_reason(&err)
                    )
                }),
            )?;
            found.trust("fleet.ca_file", Some(path))?;
            Some(pem)
        }
        None => None,
    };
    // The URL's own words never reach the message: it may hold a password.
    found
        .take(
            "fleet.redis_url",
            FleetUse::new(fleet, ca_pem)
                .map_err(|err| format!("not a Redis URL redis-rs accepts ({})", err_kind(&err))),
        )
        .map(Some)
}

/// What kind of error `err` is, without its text.
fn err_kind(err: &FleetError) -> String {
    match err {
        FleetError::Redis(err) => format!("{:?}", err.kind()),
        FleetError::Timeout(_) => "timeout".into(),
    }
}

fn socure(config: &Config, found: &mut Found) -> Option<Option<SocureClient>> {
    let roots = config
        .socure
        .ca_file
        .as_deref()
        .map(|ca_file| found.trust("socure.ca_file", Some(ca_file)));
    // `start` builds the mirror exactly when this returns a client: when
    // shadow mode is on, or off but a reload could turn it on. Validation
    // has made sure that "on" comes with a key and a workflow.
    let can_shadow =
        config.socure.api_key.is_some() && !config.shadow.instant_verify_workflow.is_empty();
    if !(config.shadow.enabled || can_shadow) {
        return Some(None);
    }
    let log = found.take(
        "shadow.log_path",
        sink::check_target(&config.shadow.log_path),
    );
    let Some(api_key) = &config.socure.api_key else {
        // Validation refuses this already; said again rather than assumed.
        found.add("socure.api_key", "missing while shadow mode is enabled");
        return None;
    };
    if socure_client::authorization(api_key).is_none() {
        found.add(
            "socure.api_key",
            "is not a valid HTTP header value: it holds a control character (a trailing newline?)",
        );
        return None;
    }
    let roots = match roots {
        Some(roots) => roots?,
        None => found.trust("socure.ca_file", None)?,
    };
    let tls = found.take("socure.ca_file", tls::client_config_with(roots, None))?;
    let client = found.take(
        "socure.base_url",
        SocureClient::new(&config.socure, tls, config.shadow.max_in_flight),
    );
    log?;
    client.map(Some)
}
