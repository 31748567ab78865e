//! `HOST:PORT` as the config (`intercept_hosts`, `tunnel_allow`) and a `CONNECT` request target both spell it: parsed strictly and normalised one way, so a configured host and a requested one compare equal exactly when they name the same host.
//!
//! Normalised: names in lower case with one trailing dot removed (`Host.`
//! is the same DNS name as `host`, and must not escape interception by
//! being spelt differently), IPv4 addresses only in their dotted form. Any
//! other numeric spelling (`127.1`, `0x7f000001`, `2130706433`) stays a
//! name here: it is whatever the resolver makes of it, and what the tunnel
//! judges is the address that comes out, never the spelling.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Why a `HOST:PORT` was not accepted. A `CONNECT` with one is answered 400.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum HostPortError {
    #[error("user-info (user@) is not allowed")]
    UserInfo,
    #[error("the port is missing")]
    MissingPort,
    #[error("the port is not a number from 1 to 65535")]
    BadPort,
    #[error("the host is empty")]
    EmptyHost,
    #[error("the host is not a host name or an IP address")]
    BadHost,
    /// A `CONNECT` target with a scheme or a path: RFC 9110 allows only
    /// authority-form.
    #[error("not in authority-form (HOST:PORT)")]
    NotAuthorityForm,
}

/// A host: a DNS name (lower case, no trailing dot) or an IP address.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Host {
    Name(String),
    Ip(IpAddr),
}

impl Host {
    /// A host alone, as a URL or the config writes it: a name, a dotted
    /// IPv4 address, or a bracketed IPv6 one.
    pub fn parse(text: &str) -> Result<Self, HostPortError> {
        if text.is_empty() {
            return Err(HostPortError::EmptyHost);
        }
        if let Some(inner) = text.strip_prefix('[') {
            let inner = inner.strip_suffix(']').ok_or(HostPortError::BadHost)?;
            return inner
                .parse::<Ipv6Addr>()
                .map(|ip| Host::Ip(IpAddr::V6(ip)))
                .map_err(|_| HostPortError::BadHost);
        }
        let text = text.strip_suffix('.').unwrap_or(text);
        if let Ok(ip) = text.parse::<Ipv4Addr>() {
            return Ok(Host::Ip(IpAddr::V4(ip)));
        }
        if is_dns_name(text) {
            Ok(Host::Name(text.to_ascii_lowercase()))
        } else {
            Err(HostPortError::BadHost)
        }
    }

    /// The host as a resolver or a `Uri` authority takes it (IPv6 without
    /// brackets; see `Display` for the bracketed form).
    pub fn unbracketed(&self) -> String {
        match self {
            Host::Name(name) => name.clone(),
            Host::Ip(ip) => ip.to_string(),
        }
    }
}

impl fmt::Display for Host {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Host::Name(name) => f.write_str(name),
            Host::Ip(IpAddr::V4(ip)) => write!(f, "{ip}"),
            Host::Ip(IpAddr::V6(ip)) => write!(f, "[{ip}]"),
        }
    }
}

/// A host and a port, both required.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct HostPort {
    pub host: Host,
    pub port: u16,
}

impl HostPort {
    /// `HOST:PORT` (RFC 9110's authority-form of a `CONNECT`): no user-info,
    /// a port from 1 to 65535, IPv6 in brackets.
    pub fn parse(text: &str) -> Result<Self, HostPortError> {
        if text.contains('@') {
            return Err(HostPortError::UserInfo);
        }
        let (host, port) = if text.starts_with('[') {
            let end = text.find(']').ok_or(HostPortError::BadHost)?;
            let (host, rest) = text.split_at(end + 1);
            match rest.strip_prefix(':') {
                Some(port) => (host, port),
                None if rest.is_empty() => return Err(HostPortError::MissingPort),
                None => return Err(HostPortError::BadHost),
            }
        } else {
            let (host, port) = text.rsplit_once(':').ok_or(HostPortError::MissingPort)?;
            if host.contains(':') {
                // An IPv6 address must be bracketed, or its last group would
                // pass for the port.
                return Err(HostPortError::BadHost);
            }
            (host, port)
        };
        Ok(Self {
            port: port_number(port)?,
            host: Host::parse(host)?,
        })
    }

    /// `HOST` or `HOST:PORT`, the port `default_port` when not given (as
    /// `intercept_hosts` entries are written).
    pub fn parse_with_default(text: &str, default_port: u16) -> Result<Self, HostPortError> {
        let bare = !text.contains(':') || (text.starts_with('[') && text.ends_with(']'));
        if bare {
            if text.contains('@') {
                return Err(HostPortError::UserInfo);
            }
            Ok(Self {
                host: Host::parse(text)?,
                port: default_port,
            })
        } else {
            Self::parse(text)
        }
    }
}

impl fmt::Display for HostPort {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.host, self.port)
    }
}

/// Decimal digits only (`u16::from_str` would take `+443`), 1 to 65535.
fn port_number(text: &str) -> Result<u16, HostPortError> {
    if text.is_empty() {
        return Err(HostPortError::MissingPort);
    }
    if !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(HostPortError::BadPort);
    }
    match text.parse::<u16>() {
        Ok(0) | Err(_) => Err(HostPortError::BadPort),
        Ok(port) => Ok(port),
    }
}

/// Letters, digits, `-` and `_`, in dot-separated labels of 1 to 63, at
/// most 253 in all: what a resolver is asked for and a certificate names.
fn is_dns_name(text: &str) -> bool {
    !text.is_empty()
        && text.len() <= 253
        && text.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(text: &str) -> Host {
        Host::Name(text.into())
    }

    #[test]
    fn good_authorities_are_normalised() {
        let cases = [
            ("Example.COM:443", name("example.com"), 443),
            ("example.com.:443", name("example.com"), 443),
            ("127.0.0.1:8080", Host::Ip([127, 0, 0, 1].into()), 8080),
            ("127.0.0.1.:1", Host::Ip([127, 0, 0, 1].into()), 1),
            ("[::1]:443", Host::Ip("::1".parse().expect("ip")), 443),
            (
                "[::ffff:127.0.0.1]:443",
                Host::Ip("::ffff:127.0.0.1".parse().expect("ip")),
                443,
            ),
            // Other numeric spellings stay names: the resolver decides.
            ("127.1:443", name("127.1"), 443),
            ("0x7f000001:443", name("0x7f000001"), 443),
            ("2130706433:443", name("2130706433"), 443),
            ("0177.0.0.1:443", name("0177.0.0.1"), 443),
            ("a:65535", name("a"), 65535),
        ];
        for (text, host, port) in cases {
            assert_eq!(HostPort::parse(text), Ok(HostPort { host, port }), "{text}");
        }
    }

    #[test]
    fn bad_authorities_are_refused_with_their_reason() {
        use HostPortError::*;
        let cases = [
            ("host:99999", BadPort),
            ("host:0", BadPort),
            ("host:+443", BadPort),
            ("host:abc", BadPort),
            ("host:", MissingPort),
            ("host", MissingPort),
            ("[::1]", MissingPort),
            (":443", EmptyHost),
            ("user:pw@host:443", UserInfo),
            ("user@host:443", UserInfo),
            ("::1:443", BadHost),
            ("[::1:443", BadHost),
            ("[nope]:443", BadHost),
            ("a..b:443", BadHost),
            ("host..:443", BadHost),
            (".:443", BadHost),
            ("ho st:443", BadHost),
            ("host/x:443", BadHost),
            ("[::1]x:443", BadHost),
        ];
        for (text, err) in cases {
            assert_eq!(HostPort::parse(text), Err(err), "{text}");
        }
    }

    #[test]
    fn a_default_port_applies_only_to_a_bare_host() {
        assert_eq!(
            HostPort::parse_with_default("Vendor.test", 443),
            Ok(HostPort {
                host: name("vendor.test"),
                port: 443
            })
        );
        assert_eq!(
            HostPort::parse_with_default("vendor.test:8443", 443),
            Ok(HostPort {
                host: name("vendor.test"),
                port: 8443
            })
        );
        assert_eq!(
            HostPort::parse_with_default("[::1]", 443).map(|h| h.to_string()),
            Ok("[::1]:443".to_owned())
        );
        assert!(HostPort::parse_with_default("u@vendor.test", 443).is_err());
    }

    #[test]
    fn no_input_panics() {
        for text in [
            "", ":", "[", "]", "[]:", "@", "[:]:1", "\u{e9}:1", "a:\u{e9}",
        ] {
            let _ = HostPort::parse(text);
            let _ = HostPort::parse_with_default(text, 443);
        }
    }
}
