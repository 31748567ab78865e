//! Pure judging for socure-shadow-proxy: request bytes to applicant, each vendor's answer to its verdict, both sides to the one shadow line.
//!
//! Nothing here does I/O, reads a clock or draws a random number: its
//! `Cargo.toml` has no runtime, HTTP client or random source to do it with.
//! The time, the line ids and the keys come from the caller, so every
//! function here gives the same output for the same input, and the fuzz
//! target and the tests reach all of it without a socket.
//!
//! - [`applicant`]: an InstantVerify request's bytes to the applicant.
//! - [`verdict`]: the result shape both vendors are judged into.
//! - [`resolution`]: the LexisNexis exchange to `resolution_result`.
//! - [`socure`]: the ID+ request built from the applicant, and the answer judged.
//! - [`redact`]: vendor text made fit for the line (the applicant's values, SSN shapes).
//! - [`pair`]: both sides and their timings to one shadow line; how they agree.
//! - [`selection`]: the sample draw and the duplicate fingerprint.
//! - `lenient`: JSON read into the few fields judged, accepting what `serde_json::Value` accepts.
//! - `line_text`: how a line escapes its strings and writes its times.

pub mod applicant;
mod lenient;
mod line_text;
pub mod pair;
pub mod redact;
pub mod resolution;
pub mod selection;
pub mod socure;
pub mod verdict;
