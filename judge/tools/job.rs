//! The pure work's inputs (the fixtures, built in) and one mirrored request's whole job, shared by the criterion benches (`benches/pure.rs`) and the instruction-count guard (`tools/counted.rs`), so the two measure the same thing.

use std::hint::black_box;
use std::time::Duration;

use bytes::Bytes;
use socure_shadow_judge::applicant::{self, Applicant};
use socure_shadow_judge::pair::{self, ResolutionSide, ShadowLine, SocureSide};
use socure_shadow_judge::resolution::Exchange;
use socure_shadow_judge::socure::{self, Answer};
use time::OffsetDateTime;
use time::macros::datetime;

pub const IV_REQUEST: &[u8] =
    include_bytes!("../../tests/fixtures/lexis_nexis/instant_verify/request.json");
pub const IV_SUCCESS: &[u8] =
    include_bytes!("../../tests/fixtures/lexis_nexis/instant_verify/successful_response.json");
pub const KYC_ALL_VERIFIED: &[u8] =
    include_bytes!("../../tests/fixtures/socure/kyc_all_verified.json");

/// A Socure 400's `msg` of the usual length and words.
pub const VENDOR_MESSAGE: &str = "Invalid request: the field physicalAddress must be a street address \
     of at most 100 characters; dob must be a date (YYYY-MM-DD) in the past; see \
     https://developer.socure.com/reference for the ID+ KYC module (request 7f3a9)";

/// Short vendor texts that the redactor cannot pass over at a glance (a
/// digit, or the bytes of one of the fixture applicant's values), as an
/// InstantVerify answer has them, one of each kind.
pub const SHORT_TEXTS: [&str; 7] = [
    "123456",
    "7890",
    "Reference1",
    "InstantVerify",
    "Execute Instant Verify",
    "Addr1Zip_StateMatch",
    "SsnDeathMatchVerification",
];

/// A vendor's id as Socure sends its `referenceId`.
pub const UUID: &str = "f3d8e2a4-5b6c-4d7e-8f90-a1b2c3d4e5f6";

pub const WORKFLOW: &str = "gsa2.chk32.test.wf";
const PATH: &str = "/restws/identity/v2/test_account/gsa2.chk32.test.wf/conversation";
pub const JSON: Option<&str> = Some("application/json");
const LINE_ID: &str = "00000000-0000-4000-8000-000000000000";
pub const AT: OffsetDateTime = datetime!(2024-08-22 19:25:45.678912 UTC);

/// 4 KiB of vendor text: the usual message again and again, with the
/// fixture applicant's name, street and city quoted in it every few lines.
pub fn vendor_text_4kib() -> String {
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

/// Both sides of one request as the mirror receives them, owned: a whole
/// 200 InstantVerify success, and Socure's all-verified 200.
pub fn sides() -> (ResolutionSide, SocureSide) {
    (resolution_side(IV_SUCCESS), socure_side(KYC_ALL_VERIFIED))
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

/// Pairs two sides into the line, as the mirror task does at its end.
pub fn line(applicant: &Applicant, resolution: ResolutionSide, socure: SocureSide) -> ShadowLine {
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

/// Everything pure the mirror does for one request: parse the applicant,
/// build the Socure body, judge both answers, pair, serialise.
pub fn whole_job((resolution, socure): (ResolutionSide, SocureSide)) -> Vec<u8> {
    let applicant = applicant::parse(black_box(IV_REQUEST)).expect("request.json is an applicant");
    black_box(socure::request_body(&applicant, AT - socure::CONSENT_AGE));
    let line = line(&applicant, resolution, socure);
    pair::encode(&line).expect("a shadow line serialises")
}
