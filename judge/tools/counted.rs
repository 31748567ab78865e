//! The pure work whose instructions `benches/counted.sh` counts under callgrind, for the CI guard: one mirrored request's whole job, and the redactor's build and scan.
//!
//! Built with `--features counted` (see judge/Cargo.toml), run as
//! `counted WORKLOAD [ITERATIONS]` (see `WORKLOADS`). The workload
//! runs once untimed (first-call work: the allocator's first pages, lazy
//! tables), then `ITERATIONS` times inside [`measured`], the one function
//! the script tells callgrind to count (`--toggle-collect`), so the start of
//! the process and the building of the inputs are left out. The inputs
//! match `benches/pure.rs`'s (the fixtures, built in) so the two agree on
//! what `whole_job` is; a count is an instruction count, the same on every
//! run and machine within a fraction of a percent, where criterion's times
//! move by tens of percent on a shared machine.

use std::hint::black_box;
use std::time::Duration;

use bytes::Bytes;
use socure_shadow_judge::applicant::{self, Applicant};
use socure_shadow_judge::pair::{self, ResolutionSide, SocureSide};
use socure_shadow_judge::redact::Redactor;
use socure_shadow_judge::resolution::{self, Exchange};
use socure_shadow_judge::socure::{self, Answer};
use time::OffsetDateTime;
use time::macros::datetime;

const IV_REQUEST: &[u8] =
    include_bytes!("../../tests/fixtures/lexis_nexis/instant_verify/request.json");
const IV_SUCCESS: &[u8] =
    include_bytes!("../../tests/fixtures/lexis_nexis/instant_verify/successful_response.json");
const KYC_ALL_VERIFIED: &[u8] = include_bytes!("../../tests/fixtures/socure/kyc_all_verified.json");

/// A Socure 400's `msg` of the usual length and words (as in `pure.rs`).
const VENDOR_MESSAGE: &str = "Invalid request: the field physicalAddress must be a street address \
     of at most 100 characters; dob must be a date (YYYY-MM-DD) in the past; see \
     https://developer.socure.com/reference for the ID+ KYC module (request 7f3a9)";

const WORKFLOW: &str = "gsa2.chk32.test.wf";
const PATH: &str = "/restws/identity/v2/test_account/gsa2.chk32.test.wf/conversation";
const JSON: Option<&str> = Some("application/json");
const LINE_ID: &str = "00000000-0000-4000-8000-000000000000";
const AT: OffsetDateTime = datetime!(2024-08-22 19:25:45.678912 UTC);

/// The workloads, by the name the script and its baseline file use.
const WORKLOADS: &[&str] = &["whole_job", "redact_build", "redact_text_4kib"];

/// How many times the workload runs inside [`measured`] unless told.
const DEFAULT_ITERATIONS: usize = 20;

fn main() {
    let mut args = std::env::args().skip(1);
    let workload = args.next().unwrap_or_default();
    let iterations = match args.next().map(|n| n.parse::<usize>()) {
        None => DEFAULT_ITERATIONS,
        Some(Ok(n)) if n > 0 => n,
        Some(_) => usage(),
    };
    let applicant = applicant::parse(IV_REQUEST).expect("request.json is an applicant");
    check_inputs(&applicant);
    match workload.as_str() {
        "whole_job" => {
            // The sides are built outside the count, as criterion's
            // `iter_batched` does: the proxy receives the answers owned.
            let mut sides = (0..=iterations)
                .map(|_| (resolution_side(IV_SUCCESS), socure_side(KYC_ALL_VERIFIED)))
                .collect::<Vec<_>>();
            let mut next = || sides.pop().expect("one pair of sides per run");
            whole_job(next());
            measured(iterations, &mut || whole_job(next()));
        }
        "redact_build" => {
            let mut build = || drop(black_box(Redactor::new(Some(black_box(&applicant)))));
            build();
            measured(iterations, &mut build);
        }
        "redact_text_4kib" => {
            let redactor = Redactor::new(Some(&applicant));
            let text = vendor_text_4kib();
            let mut scan = || drop(black_box(redactor.text(black_box(&text))));
            scan();
            measured(iterations, &mut scan);
        }
        _ => usage(),
    }
}

/// Runs `work` `iterations` times: the only instructions counted.
#[inline(never)]
fn measured(iterations: usize, work: &mut dyn FnMut()) {
    for _ in 0..iterations {
        work();
    }
}

/// Stops if an input no longer takes the path the counts are for (both
/// answers a pass, the long text quoting the applicant), so a changed
/// fixture or rule cannot quietly count another path.
fn check_inputs(applicant: &Applicant) {
    let redactor = Redactor::new(Some(applicant));
    let resolution = resolution::judge(200, JSON, IV_SUCCESS, WORKFLOW, &redactor);
    assert!(
        resolution.success && resolution.exception.is_none(),
        "successful_response.json is no longer a pass: {:?}",
        resolution.exception
    );
    let socure = socure::judge(200, JSON, KYC_ALL_VERIFIED, &redactor);
    assert!(
        socure.success && socure.exception.is_none(),
        "kyc_all_verified.json is no longer a pass: {:?}",
        socure.exception
    );
    let redacted = redactor.text(&vendor_text_4kib());
    assert!(
        redacted.contains("[redacted]") && !redacted.to_lowercase().contains("mctesterson"),
        "the 4 KiB text's quotes are not redacted"
    );
}

fn usage() -> ! {
    eprintln!("usage: counted {{{}}} [ITERATIONS]", WORKLOADS.join("|"));
    std::process::exit(2)
}

/// Everything pure the mirror does for one request, as `pure.rs`'s
/// `whole_job`: parse the applicant, build the Socure body, judge both
/// answers, pair, serialise.
fn whole_job((resolution, socure): (ResolutionSide, SocureSide)) {
    let applicant = applicant::parse(black_box(IV_REQUEST)).expect("request.json is an applicant");
    black_box(socure::request_body(&applicant, AT - socure::CONSENT_AGE));
    let line = line(&applicant, resolution, socure);
    black_box(pair::encode(&line).expect("a shadow line serialises"));
}

/// Pairs two sides into the line, as the mirror task does at its end.
fn line(applicant: &Applicant, resolution: ResolutionSide, socure: SocureSide) -> pair::ShadowLine {
    pair::pair(
        pair::LineContext {
            id: LINE_ID.to_owned(),
            at: AT,
            path: PATH.to_owned(),
            applicant: Some(applicant),
            workflow: WORKFLOW,
        },
        resolution,
        socure,
    )
}

/// The LexisNexis side as the tap hands it over: a whole 200 answer.
fn resolution_side(body: &'static [u8]) -> ResolutionSide {
    ResolutionSide {
        exchange: Exchange::Answered {
            status: 200,
            content_type: JSON.map(str::to_owned),
            body: Bytes::from_static(body),
            truncated: false,
        },
        elapsed: Some(Duration::from_millis(412)),
    }
}

/// The Socure side as the client hands it over: a 200 answer, body owned.
fn socure_side(body: &[u8]) -> SocureSide {
    SocureSide::Called {
        call: Ok(Answer {
            status: 200,
            content_type: JSON.map(str::to_owned),
            body: body.to_vec(),
        }),
        elapsed: Duration::from_millis(287),
    }
}

/// 4 KiB of vendor text quoting the fixture applicant's name, street and
/// city every few lines (as in `pure.rs`).
fn vendor_text_4kib() -> String {
    let mut text = String::with_capacity(4096);
    let quotes = ["TESTY MCTESTERSON", "123 Main St", "Baton Rouge"];
    for quote in quotes.iter().cycle() {
        if text.len() >= 4096 {
            break;
        }
        text.push_str(VENDOR_MESSAGE);
        text.push_str(" (as sent: ");
        text.push_str(quote);
        text.push_str(") ");
    }
    text.truncate(4096);
    text
}
