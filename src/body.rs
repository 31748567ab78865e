//! The body types every layer passes around: what a client sends, what the proxy forwards and answers with.
//!
//! At the bottom of the crate, beside `error`: the data path and the
//! listeners share them without importing each other.

use std::convert::Infallible;

use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;

use crate::error::BoxError;

pub mod pace;

use pace::Paced;

/// Every body the proxy sends or answers with.
pub type ProxyBody = BoxBody<Bytes, BoxError>;

/// A client's request body, held to its pace (`listen.request_body_*`:
/// too slow, and reading fails with [`pace::BodyTimedOut`], a 408) and cut
/// off at the hard limit (`listen.max_request_body_bytes`: past it, reading
/// fails with [`http_body_util::LengthLimitError`], a 413).
pub type RequestBody = Limited<Paced<Incoming>>;

/// A message's `Content-Type`, when it is text: what the judges read of
/// how a body is encoded.
pub fn content_type(headers: &http::HeaderMap) -> Option<String> {
    headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .map(str::to_owned)
}

/// The body length a message declares, if it declares a sane one.
pub fn declared_length(headers: &http::HeaderMap) -> Option<u64> {
    headers
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
}

/// A body with nothing to wait for.
pub fn full(bytes: Bytes) -> ProxyBody {
    Full::new(bytes)
        .map_err(|never: Infallible| match never {})
        .boxed()
}
