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

use socure_shadow_judge::applicant::{self, Applicant};
use socure_shadow_judge::redact::Redactor;
use socure_shadow_judge::resolution;
use socure_shadow_judge::socure;

#[path = "job.rs"]
mod job;

use job::{IV_REQUEST, IV_SUCCESS, JSON, KYC_ALL_VERIFIED, WORKFLOW, sides, vendor_text_4kib};

/// The workloads, by the name the script and its baseline file use.
const WORKLOADS: &[&str] = &[
    "whole_job",
    "redact_build",
    "redact_text_4kib",
    "redact_short_texts",
];

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
            let mut all = (0..=iterations).map(|_| sides()).collect::<Vec<_>>();
            let mut next = || all.pop().expect("one pair of sides per run");
            black_box(job::whole_job(next()));
            measured(iterations, &mut || drop(black_box(job::whole_job(next()))));
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
        "redact_short_texts" => {
            let redactor = Redactor::new(Some(&applicant));
            let mut scan = || {
                for text in job::SHORT_TEXTS {
                    drop(black_box(redactor.text(black_box(text))));
                }
                let mut id = serde_json::Value::String(job::UUID.to_owned());
                black_box(redactor.id(black_box(&mut id)));
            };
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
