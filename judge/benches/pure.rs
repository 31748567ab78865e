//! Criterion benchmarks of the judge crate's pure work per mirrored request: applicant parse, Socure request body, both vendors' judging, the shadow line.
//!
//! Run with `cargo bench -p socure-shadow-judge --bench pure` (from the repository root).
//!
//! Inputs are the repository's real fixtures, built in with `include_bytes!`,
//! so nothing is read from disk while measuring. Each input is judged once
//! before timing and checked to take the path its name says (a pass, a
//! failure), so a changed fixture or rule cannot quietly bench another path.
//! `pair::pair` judges both sides itself, so `line/pair_and_serialise` and
//! `whole_job` include both judges; their sides are built outside the timed
//! part (`iter_batched`), because the proxy receives the answers already owned.

use std::hint::black_box;

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use socure_shadow_judge::applicant;
use socure_shadow_judge::pair;
use socure_shadow_judge::redact::Redactor;
use socure_shadow_judge::resolution;
use socure_shadow_judge::socure;

#[path = "../tools/job.rs"]
mod job;

use job::{
    AT, IV_REQUEST, IV_SUCCESS, JSON, KYC_ALL_VERIFIED, SHORT_TEXTS, UUID, VENDOR_MESSAGE,
    WORKFLOW, line, sides, vendor_text_4kib,
};

const IV_DOB_FAILURE: &[u8] = include_bytes!(
    "../../tests/fixtures/lexis_nexis/instant_verify/date_of_birth_failure_response.json"
);
const KYC_ADDRESS_NOT_VERIFIED: &[u8] =
    include_bytes!("../../tests/fixtures/socure/kyc_address_not_verified.json");

/// Judges each input once, untimed, and stops if one no longer takes the path its benchmark is named for.
fn check_inputs() {
    let applicant = applicant::parse(IV_REQUEST).expect("request.json is an applicant");
    assert!(
        !socure::request_body(&applicant, AT).is_empty(),
        "empty Socure request body"
    );
    let redacted = Redactor::new(Some(&applicant)).text(&vendor_text_4kib());
    assert!(
        redacted.contains("[redacted]") && !redacted.to_lowercase().contains("mctesterson"),
        "the 4 KiB text's quotes are not redacted: {redacted}"
    );
    for (name, body, success) in [
        ("successful_response.json", IV_SUCCESS, true),
        ("date_of_birth_failure_response.json", IV_DOB_FAILURE, false),
    ] {
        let verdict = resolution::judge(200, JSON, body, WORKFLOW, &Redactor::default());
        assert!(
            verdict.exception.is_none(),
            "{name}: {:?}",
            verdict.exception
        );
        assert_eq!(verdict.success, success, "{name}");
    }
    for (name, body, success) in [
        ("kyc_all_verified.json", KYC_ALL_VERIFIED, true),
        (
            "kyc_address_not_verified.json",
            KYC_ADDRESS_NOT_VERIFIED,
            false,
        ),
    ] {
        let verdict = socure::judge(200, JSON, body, &Redactor::default());
        assert!(
            verdict.exception.is_none(),
            "{name}: {:?}",
            verdict.exception
        );
        assert_eq!(verdict.success, success, "{name}");
    }
}

fn benches(c: &mut Criterion) {
    check_inputs();

    c.bench_function("applicant_parse", |b| {
        b.iter(|| applicant::parse(black_box(IV_REQUEST)))
    });

    let applicant = applicant::parse(IV_REQUEST).expect("request.json is an applicant");
    c.bench_function("socure_request_body", |b| {
        b.iter(|| socure::request_body(black_box(&applicant), black_box(AT - socure::CONSENT_AGE)))
    });

    // Judged as the line judges them, with the applicant's redactor.
    let redactor = Redactor::new(Some(&applicant));
    let mut group = c.benchmark_group("resolution_judge");
    for (name, body) in [("success", IV_SUCCESS), ("failure", IV_DOB_FAILURE)] {
        group.bench_function(name, |b| {
            b.iter(|| resolution::judge(200, JSON, black_box(body), WORKFLOW, &redactor))
        });
    }
    group.finish();

    let mut group = c.benchmark_group("socure_judge");
    for (name, body) in [
        ("all_verified", KYC_ALL_VERIFIED),
        ("address_not_verified", KYC_ADDRESS_NOT_VERIFIED),
    ] {
        group.bench_function(name, |b| {
            b.iter(|| socure::judge(200, JSON, black_box(body), &redactor))
        });
    }
    group.finish();

    // One vendor message as the judges redact it: ASCII, none of the
    // applicant's values, the common case whose cost the fast path keeps.
    let mut group = c.benchmark_group("redact");
    group.bench_function("text_ascii", |b| {
        b.iter(|| redactor.text(black_box(VENDOR_MESSAGE)))
    });
    // A long vendor text (4 KiB) quoting the applicant here and there: the
    // case one scan for all the applicant's values is for.
    let long = vendor_text_4kib();
    group.bench_function("text_4kib", |b| b.iter(|| redactor.text(black_box(&long))));
    // The short texts of an answer that a glance cannot pass over (a digit,
    // or the bytes of a value), and a UUID read as an id.
    group.bench_function("short_texts", |b| {
        b.iter(|| {
            for text in SHORT_TEXTS {
                black_box(redactor.text(black_box(text)));
            }
            let mut id = serde_json::Value::String(UUID.to_owned());
            black_box(redactor.id(&mut id))
        })
    });
    // Built once per line, from the applicant's values in every spelling.
    group.bench_function("build", |b| {
        b.iter(|| Redactor::new(Some(black_box(&applicant))))
    });
    group.finish();

    // Both sides judged (inside `pair`), paired and serialised as the sink writes it.
    let mut group = c.benchmark_group("line");
    group.bench_function("pair_and_serialise", |b| {
        b.iter_batched(
            sides,
            |(resolution, socure)| {
                let line = line(&applicant, resolution, socure);
                pair::encode(&line).expect("a shadow line serialises")
            },
            BatchSize::SmallInput,
        )
    });
    group.finish();

    // Everything pure the mirror does for one request: parse the applicant,
    // build the Socure body, judge both answers, pair, serialise.
    c.bench_function("whole_job", |b| {
        b.iter_batched(sides, job::whole_job, BatchSize::SmallInput)
    });
}

criterion_group!(pure, benches);
criterion_main!(pure);
