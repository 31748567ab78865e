//! `report`'s decision over lines with known cells: pass rates, newly rejected and accepted with their intervals, Socure calls and cost, the attributes behind the newly rejected, the figures per day, the catalogue's meanings (escaped on the page) and the gates' exit statuses.
//!
//! Lines are built with the judge crate's own types and encoder, so they are
//! the proxy's format by construction. Every expected figure was worked out
//! by hand from the cells' counts.

use std::path::Path;
use std::process::{Command, Output};

use serde_json::{Value, json};
use socure_shadow_proxy::judge::pair::{EventProperties, SocureOutcome};
use socure_shadow_proxy::judge::resolution::ResolutionOutcome;
use socure_shadow_proxy::judge::verdict::Verdict;

use super::built::{counts, encoded, verdict};

const ALL: [&str; 5] = ["address", "first_name", "last_name", "ssn", "dob"];
/// The codes every Socure answer here carries (the catalogue test names them).
const CODES: &[&str] = &["I919", "R705"];

/// Which cell a line is in: LexisNexis's verdict, and Socure's (`None`: not
/// answered, the call timed out).
#[derive(Clone, Copy)]
struct Cell {
    lexis_nexis: bool,
    socure: Option<bool>,
}

const BOTH_PASS: Cell = Cell {
    lexis_nexis: true,
    socure: Some(true),
};
const ONLY_LEXIS_NEXIS: Cell = Cell {
    lexis_nexis: true,
    socure: Some(false),
};
const ONLY_SOCURE: Cell = Cell {
    lexis_nexis: false,
    socure: Some(true),
};
const BOTH_FAIL: Cell = Cell {
    lexis_nexis: false,
    socure: Some(false),
};
const NOT_ANSWERED: Cell = Cell {
    lexis_nexis: true,
    socure: None,
};

/// One line of `cell` at `time`; a Socure failure leaves the address
/// unverified, and the dob too when `dob_too`.
fn line(cell: Cell, time: &str, dob_too: bool) -> String {
    let (socure_result, socure_outcome) = match cell.socure {
        Some(true) => (
            Some(verdict("socure_kyc", true, &[], Some(&ALL), CODES)),
            SocureOutcome::Answered,
        ),
        Some(false) => {
            let verified: &[&str] = if dob_too {
                &["first_name", "last_name", "ssn"]
            } else {
                &["first_name", "last_name", "ssn", "dob"]
            };
            (
                Some(verdict("socure_kyc", false, &[], Some(verified), CODES)),
                SocureOutcome::Answered,
            )
        }
        None => (
            Some(Verdict {
                exception: Some("Timed out waiting for verification response".into()),
                timed_out: true,
                ..verdict("socure_kyc", false, &[], None, &[])
            }),
            SocureOutcome::TimedOut,
        ),
    };
    encoded(
        time.into(),
        EventProperties {
            resolution_result: verdict(
                "lexisnexis:instant_verify",
                cell.lexis_nexis,
                &[],
                None,
                &[],
            ),
            socure_result,
            resolution_outcome: ResolutionOutcome::Answered,
            resolution_elapsed_ms: Some(500),
            socure_outcome,
            socure_elapsed_ms: Some(900),
            socure_not_sent_reason: None,
            duplicate_of: None,
            ids_withheld: Default::default(),
        },
    )
}

/// The cells: 517 both pass, 211 only LexisNexis passes, 163 only
/// Socure passes, 97 both fail, 249 Socure not answered; over two days
/// (every fourth line on the second), the first 100 newly rejected with
/// the dob unverified too.
fn known_cells() -> String {
    let mut cells = Vec::new();
    for (cell, n) in [
        (BOTH_PASS, 517),
        (ONLY_LEXIS_NEXIS, 211),
        (ONLY_SOCURE, 163),
        (BOTH_FAIL, 97),
        (NOT_ANSWERED, 249),
    ] {
        cells.extend((0..n).map(|i| (cell, i)));
    }
    cells
        .into_iter()
        .enumerate()
        .map(|(at, (cell, i))| {
            let time = if at % 4 == 3 {
                "2026-11-02T12:00:00.000Z"
            } else {
                "2026-11-01T00:00:00.000Z"
            };
            line(cell, time, i < 100)
        })
        .collect()
}

fn report(log: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_socure-shadow-proxy"))
        .arg("report")
        .arg(log)
        .args(args)
        .output()
        .expect("the binary runs")
}

fn json_of(output: &Output) -> Value {
    serde_json::from_slice(&output.stdout).expect("json report")
}

fn written(text: &str) -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = dir.path().join("events.log");
    std::fs::write(&log, text).expect("write lines");
    (dir, log)
}

#[test]
fn known_cells_give_the_hand_computed_decision() {
    let (_dir, log) = written(&known_cells());
    let output = report(&log, &["--format", "json", "--cost-per-call", "0.25"]);
    assert_eq!(output.status.code(), Some(0), "no gate, exit 0");
    let r = json_of(&output);
    let d = &r["decision"];
    assert_eq!(d["both_judged"], 988);
    let rate = |name: &str| {
        let rate = &d[name];
        (
            rate["count"].as_u64().expect("count"),
            rate["of"].as_u64().expect("of"),
        )
    };
    assert_eq!(rate("lexisnexis_pass"), (728, 988));
    assert_eq!(rate("socure_pass"), (680, 988));
    assert_eq!(rate("agreement"), (614, 988));
    assert_eq!(rate("newly_rejected"), (211, 728));
    assert_eq!(rate("newly_accepted"), (163, 260));
    // Wilson at 95 %, by hand: 211 of 728 is 0.2898, interval 0.2581 to 0.3238.
    let interval = &d["newly_rejected"]["wilson_95"];
    assert!((interval["low"].as_f64().expect("low") - 0.2581).abs() < 1e-4);
    assert!((interval["high"].as_f64().expect("high") - 0.3238).abs() < 1e-4);
    assert_eq!(d["socure_calls"], 988, "249 timed out: no answer");
    assert_eq!(d["cost"]["total"], 247.0);
    // First line to last: 1.5 days; 988 / 1.5 a day, 30 of them.
    let monthly = d["cost"]["monthly"].as_f64().expect("monthly");
    assert!(
        (monthly - 988.0 / 1.5 * 30.0 * 0.25).abs() < 1e-6,
        "{monthly}"
    );
    // Socure failed every newly rejected on the address; 100 on the dob too.
    let unverified = counts(&d["newly_rejected_unverified"]);
    assert_eq!(
        unverified,
        [
            ("address".to_owned(), 211),
            ("ssn".to_owned(), 0),
            ("dob".to_owned(), 100),
            ("first_name".to_owned(), 0),
            ("last_name".to_owned(), 0),
        ]
    );
    // By day: a quarter of the lines on the second day.
    let days = d["by_day"].as_array().expect("days");
    assert_eq!(days.len(), 2);
    let judged: u64 = days
        .iter()
        .map(|day| day["both_judged"].as_u64().expect("judged"))
        .sum();
    let rejected: u64 = days
        .iter()
        .map(|day| day["newly_rejected"].as_u64().expect("rejected"))
        .sum();
    assert_eq!((judged, rejected), (988, 211));
    assert_eq!(days[1]["start"], "2026-11-02T00:00:00.000Z");
    assert_eq!(
        d["verdict"],
        "Socure would newly reject 29.0% (25.8–32.4%) of the applicants LexisNexis passes."
    );
}

#[test]
fn a_gate_that_fails_exits_1_with_its_verdict_and_one_that_holds_exits_0() {
    let (_dir, log) = written(&known_cells());
    let failed = report(&log, &["--max-newly-rejected", "10"]);
    assert_eq!(failed.status.code(), Some(1));
    let text = String::from_utf8_lossy(&failed.stdout);
    assert!(
        text.contains(
            "Socure would newly reject 29.0% (25.8–32.4%) of the applicants LexisNexis passes: above your 10% limit."
        ),
        "{text}"
    );
    assert!(
        text.contains("max_newly_rejected: 29.0% against 10%: fails"),
        "{text}"
    );
    assert!(
        String::from_utf8_lossy(&failed.stderr).contains("above your 10% limit"),
        "the verdict on stderr too, for a scheduled job's log"
    );

    let held = report(
        &log,
        &["--max-newly-rejected", "50", "--min-agreement", "60"],
    );
    assert_eq!(
        held.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&held.stderr)
    );
    assert!(String::from_utf8_lossy(&held.stdout).contains("within your 50% limit"));

    // 614 of 988 agree: 62.1 %.
    let agreement = report(&log, &["--min-agreement", "70", "--format", "json"]);
    assert_eq!(agreement.status.code(), Some(1));
    let d = &json_of(&agreement)["decision"];
    assert_eq!(d["gates_hold"], false);
    assert_eq!(d["gates"][0]["name"], "min_agreement");
    assert!(
        d["verdict"]
            .as_str()
            .is_some_and(|v| v.ends_with("below your 70% minimum.")),
        "{d}"
    );

    // Input errors keep their own statuses.
    let dir = tempfile::tempdir().expect("tempdir");
    let missing = report(
        &dir.path().join("none.log"),
        &["--max-newly-rejected", "10"],
    );
    assert_eq!(missing.status.code(), Some(66));
    let bad = dir.path().join("codes.csv");
    std::fs::write(&bad, "no comma here\n").expect("write");
    let catalogue = report(&log, &["--reason-codes", bad.to_str().expect("utf-8 path")]);
    assert_eq!(catalogue.status.code(), Some(65));
    let out_of_range = report(&log, &["--max-newly-rejected", "150"]);
    assert_eq!(out_of_range.status.code(), Some(2), "clap refuses it");
}

#[test]
fn the_catalogue_puts_meanings_beside_codes_escaped_on_the_page() {
    let (dir, log) = written(&known_cells());
    let codes = dir.path().join("codes.csv");
    std::fs::write(
        &codes,
        "code,meaning\nR705,\"Address <b>unverified</b>, \"\"street\"\"\"\nI919,<script>alert(1)</script>\n",
    )
    .expect("write");
    let codes = codes.to_str().expect("utf-8 path");
    let json = json_of(&report(
        &log,
        &["--format", "json", "--reason-codes", codes],
    ));
    assert_eq!(
        json["reason_codes"]["meanings"],
        json!({
            "I919": "<script>alert(1)</script>",
            "R705": "Address <b>unverified</b>, \"street\"",
        })
    );
    let text = String::from_utf8(report(&log, &["--reason-codes", codes]).stdout).expect("utf-8");
    assert!(text.contains("Address <b>unverified</b>"), "{text}");

    let page = dir.path().join("report.html");
    let html = report(
        &log,
        &[
            "--format",
            "html",
            "--reason-codes",
            codes,
            "--out",
            page.to_str().expect("utf-8 path"),
        ],
    );
    assert_eq!(html.status.code(), Some(0));
    let html = std::fs::read_to_string(&page).expect("page");
    assert!(!html.contains("<script"), "a meaning never becomes markup");
    assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    assert!(html.contains("Address &lt;b&gt;unverified&lt;/b&gt;, &quot;street&quot;"));
    assert!(!html.contains("<b>unverified"));
}
