//! The Socure ID+ client: the one call per applicant, bounded by the live timeout, never retried.
//!
//! What to send and how to judge the answer are pure and live in the judge
//! crate (`judge::socure`); this is the I/O: reqwest over rustls, the API key
//! in one header, the answer read up to its size limit. One call per
//! applicant and no retries: a retry would bill twice and skew the latency
//! figures.

use std::time::Duration;

use http::HeaderValue;
use http::header::{AUTHORIZATION, CONTENT_TYPE};
use time::OffsetDateTime;

use crate::body;
use crate::config::{Secret, SocureConfig};
use crate::judge::applicant::Applicant;
use crate::judge::socure::{
    Answer, CONSENT_AGE, ENDPOINT_PATH, MAX_RESPONSE_BYTES, SocureError, request_body,
};

/// The ID+ client. Holds the key; shows it to nobody.
pub struct SocureClient {
    http: reqwest::Client,
    /// Parsed once: reqwest would parse a string again on every call.
    url: reqwest::Url,
    /// `SocureApiKey {key}`, marked sensitive so no debug output shows it.
    authorization: HeaderValue,
}

/// The `Authorization` header for `api_key`, marked sensitive; `None` when
/// the key cannot be a header value (a control character: most often the
/// newline at the end of the file a secret was made from).
pub fn authorization(api_key: &Secret) -> Option<HeaderValue> {
    let mut value = HeaderValue::from_str(&format!("SocureApiKey {}", api_key.expose())).ok()?;
    value.set_sensitive(true);
    Some(value)
}

impl SocureClient {
    pub fn new(config: &SocureConfig, tls: rustls::ClientConfig) -> Result<Self, SocureError> {
        let api_key = config
            .api_key
            .clone()
            .ok_or_else(|| SocureError::Setup("no API key".into()))?;
        let authority = config
            .base_url
            .authority()
            .ok_or_else(|| SocureError::Setup("base URL has no host".into()))?;
        let scheme = config.base_url.scheme_str().unwrap_or("https");
        let http = reqwest::Client::builder()
            .tls_backend_preconfigured(tls)
            // Never retried, never redirected, never sent through a proxy
            // from the environment: one call, to the configured host.
            .retry(reqwest::retry::never())
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .build()
            .map_err(|err| SocureError::Setup(err.to_string()))?;
        let url = reqwest::Url::parse(&format!("{scheme}://{authority}{ENDPOINT_PATH}"))
            .map_err(|err| SocureError::Setup(format!("base URL: {err}")))?;
        let authorization = authorization(&api_key)
            .ok_or_else(|| SocureError::Setup("API key is not a valid header value".into()))?;
        Ok(Self {
            http,
            url,
            authorization,
        })
    }

    /// Sends `applicant` once. The whole exchange, connect to last body
    /// byte, is bounded by `timeout` (the live `socure.timeout_seconds`).
    pub async fn call(
        &self,
        applicant: &Applicant,
        timeout: Duration,
    ) -> Result<Answer, SocureError> {
        let body = request_body(applicant, OffsetDateTime::now_utc() - CONSENT_AGE);
        let exchange = async {
            let mut response = self
                .http
                .post(self.url.clone())
                .header(CONTENT_TYPE, "application/json")
                .header(AUTHORIZATION, self.authorization.clone())
                .body(body)
                .send()
                .await
                .map_err(classify)?;
            let status = response.status().as_u16();
            let content_type = body::content_type(response.headers());
            let mut body = Vec::new();
            while let Some(chunk) = response.chunk().await.map_err(classify)? {
                if body.len() + chunk.len() > MAX_RESPONSE_BYTES {
                    return Err(SocureError::TooLarge);
                }
                body.extend_from_slice(&chunk);
            }
            Ok(Answer {
                status,
                content_type,
                body,
            })
        };
        tokio::time::timeout(timeout, exchange)
            .await
            .unwrap_or(Err(SocureError::Timeout))
    }
}

/// Names a transport failure without its URL or any body.
fn classify(err: reqwest::Error) -> SocureError {
    if err.is_timeout() {
        return SocureError::Timeout;
    }
    for cause in crate::error::chain(&err).skip(1) {
        if let Some(io) = cause.downcast_ref::<std::io::Error>() {
            use std::io::ErrorKind::*;
            match io.kind() {
                ConnectionRefused => return SocureError::Connection("connection refused"),
                ConnectionReset | ConnectionAborted | BrokenPipe => {
                    return SocureError::Connection("connection reset");
                }
                UnexpectedEof => {
                    return SocureError::Connection(
                        "connection closed before the answer was complete",
                    );
                }
                TimedOut => return SocureError::Timeout,
                _ => {}
            }
        }
        if cause.downcast_ref::<rustls::Error>().is_some() {
            return SocureError::Connection("TLS handshake failed");
        }
        if let Some(hyper) = cause.downcast_ref::<hyper::Error>()
            && hyper.is_incomplete_message()
        {
            return SocureError::Connection("connection closed before the answer was complete");
        }
    }
    if err.is_connect() {
        SocureError::Connection("could not connect")
    } else {
        SocureError::Connection("request failed")
    }
}
