//! Fuzz target: the parsers that read vendor and client bytes, and the
//! request-framing watch.
//! Run: `cargo fuzz run parsers` from the repository root (see CONTRIBUTING.md).
#![no_main]

use libfuzzer_sys::fuzz_target;
use socure_shadow_proxy::framing;
use socure_shadow_proxy::judge::redact::Redactor;
use socure_shadow_proxy::judge::{applicant, resolution, socure};

fuzz_target!(|data: &[u8]| {
    // The first two bytes pick an HTTP status, so every judging branch is reached.
    let (status, body) = match data {
        [a, b, rest @ ..] => (100 + u16::from_be_bytes([*a, *b]) % 500, rest),
        _ => (200, data),
    };
    // The input is also the applicant whose values are redacted (when it is one).
    let parsed = applicant::parse(body).ok();
    let redactor = Redactor::new(parsed.as_ref());
    let _ = resolution::judge(status, Some("application/json"), body, "fuzz.wf", &redactor);
    let _ = socure::judge(status, Some("application/json"), body, &redactor);
    // Two feeds, so a read boundary falls inside the input.
    let mut scanner = framing::Scanner::new(65536);
    let (a, b) = data.split_at(data.len() / 2);
    let _ = scanner.feed(a);
    let _ = scanner.feed(b);
});
