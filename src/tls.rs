//! The rustls client configuration shared by both outbound clients (LexisNexis and Socure).
//!
//! One place builds it so both vendors are verified the same way: against the
//! web PKI roots (webpki-roots, so the image needs no system CA bundle), with
//! the `ring` provider. There is no switch that turns verification off.

use std::sync::Arc;

use rustls::ClientConfig;

/// A verifying client config. ALPN is left to each client.
pub fn client_config() -> Result<ClientConfig, rustls::Error> {
    let roots = rustls::RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    Ok(
        ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()?
            .with_root_certificates(roots)
            .with_no_client_auth(),
    )
}
