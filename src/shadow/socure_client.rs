//! The Socure ID+ client: the one call per applicant, bounded by the live timeout, never retried.
//!
//! What to send and how to judge the answer are pure and live in the judge
//! crate (`judge::socure`); this is the I/O: reqwest over rustls, the API key
//! in one header, the answer read up to its size limit. One call per
//! applicant and no retries: a retry would bill twice and skew the latency
//! figures.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use http::header::{AUTHORIZATION, CONTENT_TYPE};
use http::{HeaderMap, HeaderValue, Method};
use time::OffsetDateTime;

use crate::body;
use crate::config::{Secret, SocureConfig};
use crate::judge::applicant::Applicant;
use crate::judge::socure::{
    Answer, CONSENT_AGE, ENDPOINT_PATH, MAX_RESPONSE_BYTES, SocureError, request_body,
};

/// The ID+ client. Holds the key; shows it to nobody.
pub struct SocureClient {
    /// What reqwest still does on every call that no builder option turns
    /// off: its redirect layer, there even with `Policy::none()`, prints and
    /// parses the URL twice (for the request, and for the response's URL)
    /// and copies the headers. Counted by callgrind: about 13,400 of a
    /// call's 49,000 instructions.
    http: reqwest::Client,
    /// Parsed once: reqwest would parse a string again on every call.
    url: reqwest::Url,
    /// Every call's headers, built once: `Content-Type`, and
    /// `Authorization: SocureApiKey {key}` marked sensitive so no debug
    /// output shows it. A call clones the map instead of checking and
    /// inserting each header again.
    headers: HeaderMap,
    /// Whether the last TLS handshake failed: the failure is logged when it
    /// starts, not once per call.
    tls_failing: AtomicBool,
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
            // from the environment: one call, to the configured host. No
            // retry at all also spares a copy of every request (`never()`
            // alone still copies each one in case it may be retried).
            .retry(reqwest::retry::never().max_retries_per_request(0))
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .build()
            .map_err(|err| SocureError::Setup(err.to_string()))?;
        let url = reqwest::Url::parse(&format!("{scheme}://{authority}{ENDPOINT_PATH}"))
            .map_err(|err| SocureError::Setup(format!("base URL: {err}")))?;
        let authorization = authorization(&api_key)
            .ok_or_else(|| SocureError::Setup("API key is not a valid header value".into()))?;
        let mut headers = HeaderMap::with_capacity(2);
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        headers.insert(AUTHORIZATION, authorization);
        Ok(Self {
            http,
            url,
            headers,
            tls_failing: AtomicBool::new(false),
        })
    }

    /// Sends `applicant` once. The whole exchange, connect to last body
    /// byte, is bounded by `timeout` (the live `socure.timeout_seconds`).
    /// The answer's bytes are reserved as they come (`reserve(n)`: the
    /// mirror's byte budget): when it says no, the call fails rather than
    /// hold more.
    pub async fn call(
        &self,
        applicant: &Applicant,
        timeout: Duration,
        reserve: &mut (dyn FnMut(usize) -> bool + Send),
    ) -> Result<Answer, SocureError> {
        let body = request_body(applicant, OffsetDateTime::now_utc() - CONSENT_AGE);
        // Built whole rather than through reqwest's request builder, which
        // would check and insert each header again on every call.
        let mut request = reqwest::Request::new(Method::POST, self.url.clone());
        *request.headers_mut() = self.headers.clone();
        *request.body_mut() = Some(body.into());
        let exchange = async {
            let mut response = self.http.execute(request).await.map_err(classify)?;
            let status = response.status().as_u16();
            let content_type = body::content_type(response.headers());
            let mut body = Vec::new();
            while let Some(chunk) = response.chunk().await.map_err(classify)? {
                if body.len() + chunk.len() > MAX_RESPONSE_BYTES {
                    return Err(SocureError::TooLarge);
                }
                if !reserve(chunk.len()) {
                    return Err(SocureError::OverBudget);
                }
                body.extend_from_slice(&chunk);
            }
            Ok(Answer {
                status,
                content_type,
                body,
            })
        };
        let call = tokio::time::timeout(timeout, exchange)
            .await
            .unwrap_or(Err(SocureError::Timeout));
        self.watch_tls(&call);
        call
    }

    /// Logs a TLS failure when it starts (with rustls's reason) and when a
    /// call gets through again, not once per call: each line has the reason.
    fn watch_tls(&self, call: &Result<Answer, SocureError>) {
        match call {
            Err(SocureError::Tls(reason)) if !self.tls_failing.swap(true, Ordering::Relaxed) => {
                tracing::warn!(
                    host = self.url.host_str().unwrap_or_default(),
                    reason = %reason,
                    "Socure TLS handshake failed; every call fails so until one gets through"
                );
            }
            Ok(_) if self.tls_failing.swap(false, Ordering::Relaxed) => {
                tracing::info!("Socure TLS handshake succeeds again");
            }
            _ => {}
        }
    }
}

/// The longest TLS reason a line carries: a certificate's list of names
/// could otherwise make it as long as the certificate.
const MAX_TLS_REASON_BYTES: usize = 256;

/// rustls's error at `cause`: the cause itself, or the error inside an I/O
/// error (tokio-rustls puts it there, and hyper's connector wraps that in
/// another), where `source()` never leads: an I/O error's source is its
/// inner error's source, not the inner error.
fn tls_error<'a>(cause: &'a (dyn std::error::Error + 'static)) -> Option<&'a rustls::Error> {
    let mut at = cause;
    loop {
        if let Some(tls) = at.downcast_ref::<rustls::Error>() {
            return Some(tls);
        }
        at = at.downcast_ref::<std::io::Error>()?.get_ref()?;
    }
}

/// `err` in rustls's words, cut at [`MAX_TLS_REASON_BYTES`] on a character
/// boundary.
fn tls_reason(err: &rustls::Error) -> String {
    let mut reason = err.to_string();
    if reason.len() > MAX_TLS_REASON_BYTES {
        reason.truncate(reason.floor_char_boundary(MAX_TLS_REASON_BYTES));
        reason.push_str("...");
    }
    reason
}

/// Names a transport failure without its URL or any body.
fn classify(err: reqwest::Error) -> SocureError {
    if err.is_timeout() {
        return SocureError::Timeout;
    }
    for cause in crate::error::chain(&err).skip(1) {
        if let Some(tls) = tls_error(cause) {
            return SocureError::Tls(tls_reason(tls));
        }
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
