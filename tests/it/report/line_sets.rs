//! `report` over line sets with known answers: the matrix, attributes, reason codes, percentiles, the Wilson interval, the series, completeness; skipped lines counted; gzip, stdin and `--since`/`--until`.
//!
//! Lines are built with the judge crate's own types and encoder, so they are
//! the proxy's format by construction. Every expected figure below was worked
//! out by hand from the ten lines of `known_lines`.

use std::io::Write as _;
use std::process::{Command, Stdio};

use serde_json::{Value, json};
use socure_shadow_proxy::judge::pair::{self, EventProperties, SocureOutcome};
use socure_shadow_proxy::judge::resolution::ResolutionOutcome;
use socure_shadow_proxy::judge::verdict::Verdict;
use socure_shadow_report::{self as report, Format, Options, input::Source, tally::Window};

use super::built::{counts, encoded, verdict};

const ALL: &[&str] = &["address", "first_name", "last_name", "ssn", "dob"];

/// A verdict that is an exception (a timeout when `timed_out`).
fn exception(vendor_name: &'static str, message: &str, timed_out: bool) -> Verdict {
    Verdict {
        exception: Some(message.to_owned()),
        timed_out,
        ..verdict(vendor_name, false, &[], None, &[])
    }
}

fn lexis_nexis(success: bool, asked: &[&str]) -> Verdict {
    verdict("lexisnexis:instant_verify", success, asked, None, &[])
}

fn socure(verified: &[&str], codes: &[&str]) -> Verdict {
    let success = ALL.iter().all(|a| verified.contains(a));
    verdict("socure_kyc", success, &[], Some(verified), codes)
}

struct Line {
    time: String,
    lexis_nexis: Verdict,
    resolution_outcome: ResolutionOutcome,
    resolution_ms: u64,
    socure: Option<Verdict>,
    socure_outcome: SocureOutcome,
    socure_ms: Option<u64>,
}

fn encode(line: Line) -> String {
    encoded(
        line.time,
        EventProperties {
            resolution_result: line.lexis_nexis,
            socure_result: line.socure,
            resolution_outcome: line.resolution_outcome,
            resolution_elapsed_ms: Some(line.resolution_ms),
            socure_outcome: line.socure_outcome,
            socure_elapsed_ms: line.socure_ms,
            socure_not_sent_reason: None,
            duplicate_of: None,
            ids_withheld: Default::default(),
        },
    )
}

/// L1..L5: both vendors answered and were judged.
fn known_judged_lines() -> Vec<Line> {
    let pass = lexis_nexis(true, &[]);
    let no_address = ["first_name", "last_name", "ssn", "dob"];
    vec![
        // L1, L2: both pass, in the same hour.
        Line {
            time: "2026-11-01T00:10:00.000Z".into(),
            lexis_nexis: pass.clone(),
            resolution_outcome: ResolutionOutcome::Answered,
            resolution_ms: 100,
            socure: Some(socure(ALL, &["I905", "I919"])),
            socure_outcome: SocureOutcome::Answered,
            socure_ms: Some(200),
        },
        Line {
            time: "2026-11-01T00:50:00.000Z".into(),
            lexis_nexis: pass.clone(),
            resolution_outcome: ResolutionOutcome::Answered,
            resolution_ms: 200,
            socure: Some(socure(ALL, &["I919"])),
            socure_outcome: SocureOutcome::Answered,
            socure_ms: Some(400),
        },
        // L3: only LexisNexis passes; Socure misses the address.
        Line {
            time: "2026-11-01T01:00:00.000Z".into(),
            lexis_nexis: pass.clone(),
            resolution_outcome: ResolutionOutcome::Answered,
            resolution_ms: 300,
            socure: Some(socure(&no_address, &["I919", "R705"])),
            socure_outcome: SocureOutcome::Answered,
            socure_ms: Some(600),
        },
        // L4: both fail; LexisNexis on the address, Socure on address and dob.
        Line {
            time: "2026-11-01T02:00:00.000Z".into(),
            lexis_nexis: lexis_nexis(false, &["address"]),
            resolution_outcome: ResolutionOutcome::Answered,
            resolution_ms: 400,
            socure: Some(socure(&["first_name", "last_name", "ssn"], &["R705"])),
            socure_outcome: SocureOutcome::Answered,
            socure_ms: Some(800),
        },
        // L5: only Socure passes; LexisNexis asks for dob and dead.
        Line {
            time: "2026-11-01T03:00:00.000Z".into(),
            lexis_nexis: lexis_nexis(false, &["dead", "dob"]),
            resolution_outcome: ResolutionOutcome::Answered,
            resolution_ms: 500,
            socure: Some(socure(ALL, &["I919"])),
            socure_outcome: SocureOutcome::Answered,
            socure_ms: Some(1000),
        },
    ]
}

/// L6..L10: one side or the other failed, or was never asked.
fn known_failed_lines() -> Vec<Line> {
    let pass = lexis_nexis(true, &[]);
    vec![
        // L6: LexisNexis answered 503; Socure passes, without codes.
        Line {
            time: "2026-11-01T04:00:00.000Z".into(),
            lexis_nexis: exception(
                "lexisnexis:instant_verify",
                "Unexpected status code '503'",
                false,
            ),
            resolution_outcome: ResolutionOutcome::Answered,
            resolution_ms: 600,
            socure: Some(socure(ALL, &[])),
            socure_outcome: SocureOutcome::Answered,
            socure_ms: Some(1200),
        },
        // L7: Socure timed out.
        Line {
            time: "2026-11-01T05:00:00.000Z".into(),
            lexis_nexis: pass.clone(),
            resolution_outcome: ResolutionOutcome::Answered,
            resolution_ms: 700,
            socure: Some(exception(
                "socure_kyc",
                "Timed out waiting for verification response",
                true,
            )),
            socure_outcome: SocureOutcome::TimedOut,
            socure_ms: Some(1500),
        },
        // L8: Socure answered 400.
        Line {
            time: "2026-11-01T06:00:00.000Z".into(),
            lexis_nexis: pass.clone(),
            resolution_outcome: ResolutionOutcome::Answered,
            resolution_ms: 800,
            socure: Some(exception("socure_kyc", "Invalid request (400)", false)),
            socure_outcome: SocureOutcome::Answered,
            socure_ms: Some(50),
        },
        // L9: dropped, no Socure call.
        Line {
            time: "2026-11-01T07:00:00.000Z".into(),
            lexis_nexis: pass,
            resolution_outcome: ResolutionOutcome::Answered,
            resolution_ms: 900,
            socure: None,
            socure_outcome: SocureOutcome::Dropped,
            socure_ms: None,
        },
        // L10: LexisNexis timed out; Socure skipped as a duplicate.
        Line {
            time: "2026-11-01T08:00:00.000Z".into(),
            lexis_nexis: exception(
                "lexisnexis:instant_verify",
                "Timed out waiting for verification response",
                true,
            ),
            resolution_outcome: ResolutionOutcome::UpstreamTimeout,
            resolution_ms: 1000,
            socure: None,
            socure_outcome: SocureOutcome::Duplicate,
            socure_ms: None,
        },
    ]
}

/// Ten proofing lines (L1..L10), one shed summary, one other event, two
/// malformed lines.
fn known_lines() -> String {
    let mut lines = known_judged_lines();
    lines.extend(known_failed_lines());
    let mut text: String = lines.into_iter().map(encode).collect();
    let at = |s: &str| {
        time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
            .expect("time")
    };
    let shed = pair::shed(
        "00000000-0000-4000-8000-00000000000f".into(),
        at("2026-11-01T02:00:00Z"),
        at("2026-11-01T02:30:00Z"),
        5,
        "max_pending".into(),
    );
    text.push_str(&String::from_utf8(pair::encode(&shed).expect("encodes")).expect("utf-8"));
    text.push_str("{\"name\":\"idv_doc_auth_welcome_visited\",\"properties\":{}}\n");
    text.push_str("{\"name\":\"idv_socure_shadow_mode_proofing_result\",\"properties\":\n");
    text.push_str("\u{1f}\u{8b} not json\n");
    text
}

/// The report of `text`, read from a file as the command reads one.
/// The attribute rows' names, in order.
fn attribute_names(report: &Value) -> Vec<&str> {
    report["attributes"]["rows"]
        .as_array()
        .expect("rows")
        .iter()
        .map(|row| row["attribute"].as_str().expect("attribute"))
        .collect()
}

fn tally_of(text: &str, window: Window) -> report::schema::Report {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("events.log");
    std::fs::write(&path, text).expect("write lines");
    let options = Options {
        sources: vec![Source::File(path)],
        window,
        format: Format::Json,
        out: None,
        top: 10,
        stats: false,
        decision: Default::default(),
    };
    report::tally(&options).expect("report")
}

fn report_of(text: &str, window: Window) -> Value {
    serde_json::to_value(tally_of(text, window)).expect("json")
}

/// A cell of `reason_codes.by_cell`: its name, its lines, its top codes.
type Cell = (String, u64, Vec<(String, u64)>);

fn owned(pairs: &[(&str, u64)]) -> Vec<(String, u64)> {
    pairs.iter().map(|(n, c)| ((*n).to_owned(), *c)).collect()
}

#[test]
fn known_lines_give_the_hand_computed_report() {
    let r = report_of(&known_lines(), Window::default());
    assert_input(&r);
    assert_agreement(&r);
    assert_attributes(&r);
    assert_reason_codes(&r);
    assert_vendors(&r);
    assert_series_and_completeness(&r);
}

/// `text` with every proofing line in the flat shape the proxy wrote
/// before it followed identity-idp's adjudicated one: the InstantVerify
/// verdict at the top of `resolution_result`.
fn flattened(text: &str) -> String {
    text.lines()
        .map(|line| {
            let Ok(mut value) = serde_json::from_str::<Value>(line) else {
                return format!("{line}\n");
            };
            let event = &mut value["properties"]["event_properties"];
            if let Some(result) = event.get_mut("resolution_result") {
                let stage = result["context"]["stages"]["resolution"].take();
                assert!(stage.is_object(), "every proofing line is adjudicated");
                *result = stage;
            }
            format!("{value}\n")
        })
        .collect()
}

#[test]
fn lines_in_the_earlier_flat_shape_give_the_same_report() {
    let lines = known_lines();
    let flat = flattened(&lines);
    assert_ne!(flat, lines);
    assert!(!flat.contains("\"stages\""));
    let mut r = report_of(&flat, Window::default());
    assert_agreement(&r);
    assert_attributes(&r);
    let mut adjudicated = report_of(&lines, Window::default());
    // Each read its own temporary file.
    r["input"]["sources"].take();
    adjudicated["input"]["sources"].take();
    assert!(r == adjudicated, "the flat lines' report differs");
}

/// L1..L10's report: the lines read, by kind, and the first and last time.
fn assert_input(r: &Value) {
    let input = &r["input"];
    assert_eq!(input["lines_read"], 14);
    assert_eq!(input["proofing_lines"], 10);
    assert_eq!(input["shed_lines"], 1);
    assert_eq!(input["other_events"], 1);
    assert_eq!(input["malformed"], 2);
    assert_eq!(input["first_time"], "2026-11-01T00:10:00.000Z");
    assert_eq!(input["last_time"], "2026-11-01T08:00:00.000Z");
}

/// L1..L10's report: the matrix, the agreement rate and its Wilson interval.
fn assert_agreement(r: &Value) {
    let agreement = &r["agreement"];
    // The schema's words, whatever the enums they now come from.
    assert_eq!(agreement["rows"], json!(["pass", "fail", "exception"]));
    assert_eq!(
        agreement["columns"],
        json!(["pass", "fail", "exception", "timed_out", "not_called"])
    );
    assert_eq!(
        attribute_names(r),
        ["address", "ssn", "dob", "first_name", "last_name"]
    );
    assert_eq!(
        agreement["counts"],
        json!([[2, 1, 1, 1, 1], [1, 1, 0, 0, 0], [1, 0, 0, 0, 1]])
    );
    assert_eq!(agreement["shares"][0][0], 0.2);
    assert_eq!(agreement["both_judged"], 5);
    assert_eq!(agreement["agreed"], 3);
    assert_eq!(agreement["rate"], 0.6);
    // Wilson, z = 1.959964, 3 of 5: centre (0.6 + z²/10) / (1 + z²/5) =
    // 0.556553; half-width z / (1 + z²/5) * sqrt(0.048 + z²/100) = 0.325833.
    let low = agreement["wilson_95"]["low"].as_f64().expect("low");
    let high = agreement["wilson_95"]["high"].as_f64().expect("high");
    assert!((low - 0.230720).abs() < 1e-5, "{low}");
    assert!((high - 0.882386).abs() < 1e-5, "{high}");
}

/// L1..L10's report: the attributes each side flagged, and how they explain Socure's failures.
fn assert_attributes(r: &Value) {
    let attributes = &r["attributes"];
    assert_eq!(attributes["lexisnexis_judged"], 8);
    assert_eq!(attributes["socure_judged"], 6);
    assert_eq!(attributes["both_judged"], 5);
    assert_eq!(attributes["socure_failures"], 2);
    let row = |name: &str| {
        attributes["rows"]
            .as_array()
            .expect("rows")
            .iter()
            .find(|r| r["attribute"] == name)
            .expect(name)
            .clone()
    };
    let address = row("address");
    assert_eq!(address["lexisnexis_flagged"], 1);
    assert_eq!(address["lexisnexis_flagged_share"], 0.125);
    assert_eq!(address["socure_unverified"], 2);
    assert_eq!(address["both"], 1);
    assert_eq!(address["both_share"], 0.2);
    assert_eq!(address["socure_failures_explained"], 2);
    assert_eq!(address["socure_failures_explained_share"], 1.0);
    let dob = row("dob");
    assert_eq!(
        [
            &dob["lexisnexis_flagged"],
            &dob["socure_unverified"],
            &dob["both"],
            &dob["socure_failures_explained"]
        ],
        [1, 1, 0, 1]
    );
    assert_eq!(dob["socure_failures_explained_share"], 0.5);
    assert_eq!(row("ssn")["socure_unverified"], 0);
    assert_eq!(
        counts(&attributes["other_lexisnexis"]),
        owned(&[("dead", 1)])
    );
}

/// L1..L10's report: Socure's reason codes, overall and by cell.
fn assert_reason_codes(r: &Value) {
    let codes = &r["reason_codes"];
    assert_eq!(codes["socure_judged"], 6);
    assert_eq!(codes["distinct"], 3);
    assert_eq!(
        counts(&codes["top"]),
        owned(&[("I919", 4), ("R705", 2), ("I905", 1)])
    );
    let cells: Vec<Cell> = codes["by_cell"]
        .as_array()
        .expect("cells")
        .iter()
        .map(|c| {
            (
                c["cell"].as_str().expect("cell").to_owned(),
                c["lines"].as_u64().expect("lines"),
                counts(&c["top"]),
            )
        })
        .collect();
    assert_eq!(
        cells,
        vec![
            ("both_pass".into(), 2, owned(&[("I919", 2), ("I905", 1)])),
            (
                "only_lexisnexis_passes".into(),
                1,
                owned(&[("I919", 1), ("R705", 1)])
            ),
            ("only_socure_passes".into(), 1, owned(&[("I919", 1)])),
            ("both_fail".into(), 1, owned(&[("R705", 1)])),
        ]
    );
}

/// L1..L10's report: each vendor's calls, timeouts, exceptions and latency percentiles.
fn assert_vendors(r: &Value) {
    // Nearest rank: LexisNexis 100..1000 by 100 (ten calls, one timed out,
    // one 503); Socure 50, 200, 400 ... 1200, 1500 (eight calls).
    let lexis_nexis = &r["vendors"]["lexisnexis"];
    assert_eq!(lexis_nexis["calls"], 10);
    assert_eq!(lexis_nexis["timeouts"], 1);
    assert_eq!(lexis_nexis["exceptions"], 1);
    assert_eq!(
        lexis_nexis["latency_ms"],
        json!({"samples": 10, "p50": 500, "p95": 1000, "p99": 1000, "max": 1000})
    );
    let socure = &r["vendors"]["socure"];
    assert_eq!(socure["calls"], 8);
    assert_eq!(socure["timeouts"], 1);
    assert_eq!(socure["timeout_share"], 0.125);
    assert_eq!(socure["exceptions"], 1);
    assert_eq!(
        socure["latency_ms"],
        json!({"samples": 8, "p50": 600, "p95": 1500, "p99": 1500, "max": 1500})
    );
}

/// L1..L10's report: the hourly series, and every outcome counted.
fn assert_series_and_completeness(r: &Value) {
    let series = &r["series"];
    assert_eq!(series["bucket"], "hour");
    let points = series["points"].as_array().expect("points");
    assert_eq!(points.len(), 9);
    assert_eq!(points[0]["start"], "2026-11-01T00:00:00.000Z");
    assert_eq!(points[0]["proofing_lines"], 2);
    assert_eq!(points[0]["agreed"], 2);
    assert_eq!(points[0]["socure"]["latency_ms"]["p50"], 200);
    assert_eq!(points[8]["start"], "2026-11-01T08:00:00.000Z");
    assert_eq!(points[8]["lexisnexis"]["timeouts"], 1);

    let completeness = &r["completeness"];
    assert_eq!(
        counts(&completeness["socure_outcome"]),
        owned(&[
            ("answered", 7),
            ("dropped", 1),
            ("duplicate", 1),
            ("timed_out", 1)
        ])
    );
    assert_eq!(
        counts(&completeness["resolution_outcome"]),
        owned(&[("answered", 9), ("upstream_timeout", 1)])
    );
    assert_eq!(counts(&completeness["shed"]), owned(&[("max_pending", 5)]));
    assert_eq!(completeness["shed_requests"], 5);
    assert_eq!(completeness["shadowed_requests"], 15);
}

#[test]
fn since_is_inclusive_and_until_exclusive() {
    let at = |s: &str| report::parse_time(s).expect("time");
    let window = Window {
        since: Some(at("2026-11-01T00:50:00Z")),
        until: Some(at("2026-11-01T03:00:00Z")),
    };
    let r = report_of(&known_lines(), window);
    // L2, L3, L4 and the shed line at 02:30 are inside; L1 and L5..L10 not.
    assert_eq!(r["input"]["proofing_lines"], 3);
    assert_eq!(r["input"]["shed_lines"], 1);
    assert_eq!(r["input"]["outside_window"], 7);
    assert_eq!(r["input"]["since"], "2026-11-01T00:50:00.000Z");
    assert_eq!(
        r["agreement"]["counts"],
        json!([[1, 1, 0, 0, 0], [0, 1, 0, 0, 0], [0, 0, 0, 0, 0]])
    );
}

#[test]
fn more_than_a_week_is_reported_by_day() {
    let line = |time: &str| {
        encode(Line {
            time: time.into(),
            lexis_nexis: lexis_nexis(true, &[]),
            resolution_outcome: ResolutionOutcome::Answered,
            resolution_ms: 10,
            socure: Some(socure(ALL, &[])),
            socure_outcome: SocureOutcome::Answered,
            socure_ms: Some(20),
        })
    };
    let text = [
        line("2026-11-01T00:30:00.000Z"),
        line("2026-11-01T23:59:59.999Z"),
        line("2026-11-09T12:00:00.000Z"),
    ]
    .concat();
    let r = report_of(&text, Window::default());
    assert_eq!(r["series"]["bucket"], "day");
    let starts: Vec<&str> = r["series"]["points"]
        .as_array()
        .expect("points")
        .iter()
        .map(|p| p["start"].as_str().expect("start"))
        .collect();
    assert_eq!(
        starts,
        ["2026-11-01T00:00:00.000Z", "2026-11-09T00:00:00.000Z"]
    );
    assert_eq!(r["series"]["points"][0]["proofing_lines"], 2);
}

/// The binary's JSON report of `args`, with `stdin` piped in.
fn cli_json(args: &[&str], stdin: &[u8]) -> Value {
    let mut child = Command::new(env!("CARGO_BIN_EXE_socure-shadow-proxy"))
        .arg("report")
        .args(args)
        .args(["--format", "json"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn report");
    let mut input = child.stdin.take().expect("stdin");
    input.write_all(stdin).expect("write stdin");
    drop(input);
    let output = child.wait_with_output().expect("report runs");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    // Piped, the progress bar must not draw.
    assert!(
        output.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let mut value: Value = serde_json::from_slice(&output.stdout).expect("json");
    value["input"]["sources"] = Value::Null;
    value
}

#[test]
fn gzip_files_several_files_and_stdin_read_the_same() {
    let text = known_lines();
    let (first, second) = text.split_at(text.find("\n").expect("a line") + 1);
    let dir = tempfile::tempdir().expect("tempdir");
    // Two gzip members in one file, as `cat a.gz b.gz` makes, and a name
    // that does not say gzip.
    let gz = dir.path().join("events.log.1");
    let mut bytes = Vec::new();
    for part in [first, second] {
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        encoder.write_all(part.as_bytes()).expect("gzip");
        bytes.extend(encoder.finish().expect("gzip"));
    }
    std::fs::write(&gz, bytes).expect("write gz");
    let plain = dir.path().join("events.log");
    std::fs::write(&plain, &text).expect("write plain");
    // A line over the 1 MiB limit, then a good line: skipped and counted.
    let long = dir.path().join("long.log");
    let mut long_text = "x".repeat(report::input::MAX_LINE_BYTES + 10);
    long_text.push('\n');
    std::fs::write(&long, &long_text).expect("write long");

    let from_plain = cli_json(&[plain.to_str().expect("utf-8 path")], b"");
    let from_gz = cli_json(&[gz.to_str().expect("utf-8 path")], b"");
    let from_stdin = cli_json(&["-"], text.as_bytes());
    let from_nothing = cli_json(&[], text.as_bytes());
    assert_eq!(from_plain["input"]["proofing_lines"], 10);
    assert_eq!(from_gz, from_plain);
    assert_eq!(from_stdin, from_plain);
    assert_eq!(from_nothing, from_plain);

    let both = cli_json(
        &[
            plain.to_str().expect("utf-8 path"),
            long.to_str().expect("utf-8 path"),
            gz.to_str().expect("utf-8 path"),
        ],
        b"",
    );
    assert_eq!(both["input"]["proofing_lines"], 20);
    assert_eq!(both["input"]["malformed"], 5);
    assert_eq!(both["agreement"]["agreed"], 6);
}

#[test]
fn a_missing_file_and_a_bad_time_fail_with_their_own_status() {
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_socure-shadow-proxy"))
            .arg("report")
            .args(args)
            .output()
            .expect("report runs")
    };
    let missing = run(&["/nonexistent/events.log"]);
    assert_eq!(missing.status.code(), Some(66));
    let stderr = String::from_utf8_lossy(&missing.stderr);
    assert!(
        stderr.contains("cannot open /nonexistent/events.log"),
        "{stderr}"
    );
    let bad = run(&["--since", "last tuesday", "-"]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("RFC 3339"));
}

#[test]
fn hostile_lines_keep_the_report_within_its_memory_bound() {
    // 24,000 lines, one every 2.5 hours over 6.8 years (more days than the
    // series keeps), each with a reason code of its own, 1,000 characters
    // long (more codes than a map keeps, each longer than a name may be).
    let start = report::parse_time("2020-01-01").expect("time");
    let lines = 24_000;
    let mut text = String::new();
    for i in 0..lines {
        let code = format!("R{i}{}", "x".repeat(1_000));
        text.push_str(&encode(Line {
            time: pair::timestamp(start + time::Duration::seconds(i * 9_000)),
            lexis_nexis: lexis_nexis(true, &[]),
            resolution_outcome: ResolutionOutcome::Answered,
            resolution_ms: 100,
            socure: Some(socure(ALL, &[&code])),
            socure_outcome: SocureOutcome::Answered,
            socure_ms: Some(200),
        }));
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("report.json");
    let mut child = Command::new(env!("CARGO_BIN_EXE_socure-shadow-proxy"))
        .args(["report", "-", "--stats", "--format", "json", "--out"])
        .arg(&out)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn report");
    let mut input = child.stdin.take().expect("stdin");
    let writer = std::thread::spawn(move || input.write_all(text.as_bytes()));
    let output = child.wait_with_output().expect("report runs");
    writer.join().expect("writer").expect("stdin written");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    // The program's own high-water mark (VmHWM), which, unlike the parent's
    // getrusage, does not count the test process it was spawned from.
    let peak_kib: u64 = stderr
        .split("peak memory ")
        .nth(1)
        .and_then(|rest| rest.trim().strip_suffix(" KiB"))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no peak memory in {stderr:?}"));
    let r: Value = serde_json::from_slice(&std::fs::read(&out).expect("report")).expect("json");
    assert_eq!(r["input"]["proofing_lines"], lines);
    let kept = report::tally::MAX_NAMES as i64;
    assert_eq!(r["reason_codes"]["distinct"], kept);
    assert_eq!(r["reason_codes"]["beyond_limit"], lines - kept);
    let longest = r["reason_codes"]["top"]
        .as_array()
        .expect("top")
        .iter()
        .map(|c| c["name"].as_str().expect("name").len())
        .max();
    assert_eq!(longest, Some(report::tally::MAX_NAME_BYTES));
    assert_eq!(r["series"]["bucket"], "day");
    let buckets = report::tally::MAX_BUCKETS as i64;
    assert_eq!(
        r["series"]["points"].as_array().expect("points").len() as i64,
        buckets
    );
    // 1,100 days hold 1,100 * 24 / 2.5 = 10,560 lines; the rest are past the limit.
    assert_eq!(r["series"]["lines_beyond_limit"], lines - 10_560);
    // docs/report.md's measure: 15 MiB for the release binary on a tiny input,
    // 45 MiB on this one, 55 MiB for the debug binary the tests run. Without
    // the caps the codes alone would hold 24 MB twice over, and the 2,500
    // days 70 MB.
    assert!(peak_kib < 80 * 1024, "peak memory {peak_kib} KiB");
}

#[test]
fn a_terminal_gets_a_progress_bar_while_files_are_read() {
    use std::io::Read as _;

    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("events.log");
    std::fs::write(&path, known_lines()).expect("write lines");
    let pty = nix::pty::openpty(None, None).expect("a pseudo-terminal");
    let status = {
        // The command owns the terminal's other end, and closes it when dropped.
        let mut command = Command::new(env!("CARGO_BIN_EXE_socure-shadow-proxy"));
        command
            .arg("report")
            .arg(&path)
            .args(["--format", "json", "--out"])
            .arg(dir.path().join("report.json"))
            .stdout(Stdio::null())
            .stderr(Stdio::from(pty.slave));
        command.status().expect("report runs")
    };
    assert!(status.success());
    let mut terminal = std::fs::File::from(pty.master);
    let mut seen = Vec::new();
    let mut buffer = [0u8; 4096];
    // Reads end in EIO once no process holds the other end.
    while let Ok(n @ 1..) = terminal.read(&mut buffer) {
        seen.extend_from_slice(&buffer[..n]);
    }
    let seen = String::from_utf8_lossy(&seen);
    // indicatif's bar (█, U+2588) with the bytes read, then cleared.
    assert!(
        seen.contains('\u{2588}') && seen.contains("KiB"),
        "{seen:?}"
    );
}

#[test]
fn a_hostile_code_is_text_on_the_page_never_markup() {
    let code = "<script>alert('x')</script>";
    let text = encode(Line {
        time: "2026-11-01T00:00:00.000Z".into(),
        lexis_nexis: lexis_nexis(true, &[]),
        resolution_outcome: ResolutionOutcome::Answered,
        resolution_ms: 10,
        socure: Some(socure(ALL, &[code])),
        socure_outcome: SocureOutcome::Answered,
        socure_ms: Some(20),
    });
    let page = report::render(&tally_of(&text, Window::default()), Format::Html).expect("page");
    assert!(!page.contains("<script"), "{page}");
    // In the reason-code chart (plotters' SVG text) and in the tables.
    assert!(
        page.matches("&lt;script&gt;alert(&apos;x&apos;)&lt;/script&gt;")
            .count()
            == 1
            && page
                .matches("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;")
                .count()
                >= 1,
        "{page}"
    );
}

/// Terminal controls a vendor's text or a damaged log could hold: a colour
/// (CSI), a hyperlink (OSC 8), a window title (OSC 0), a bare CR that
/// rewrites the line, a right-to-left override, the one-byte C1 CSI, an
/// isolate, DEL, and a newline that would forge a row.
const TERMINAL_TRICKS: &[&str] = &[
    "\u{1b}[31mRED\u{1b}[0m",
    "\u{1b}]8;;https://example.invalid/\u{7}click\u{1b}]8;;\u{7}",
    "\u{1b}]0;pwned\u{7}",
    "I919\rR999",
    "\u{202e}edoc",
    "\u{9b}2J",
    "\u{2066}iso\u{2069}",
    "del\u{7f}",
    "I919\n  both_pass  999",
];

/// A line for each of [`TERMINAL_TRICKS`] (and one quoting them all), each
/// followed by a shed summary giving it as its reason.
fn terminal_trick_lines() -> String {
    let codes: Vec<&str> = TERMINAL_TRICKS.to_vec();
    // Judged sides carry them as codes and attributes; one more line's
    // exceptions quote them all (the report never prints an exception).
    let side = |vendor: &str, exception: Option<String>| {
        json!({
            "success": false,
            "errors": {"reason_codes": codes},
            "exception": exception,
            "timed_out": false,
            "transaction_id": TERMINAL_TRICKS[0],
            "reference": "",
            "can_pass_with_additional_verification": false,
            "attributes_requiring_additional_verification": codes,
            "vendor_name": vendor,
            "vendor_workflow": null,
            "verified_attributes": codes,
        })
    };
    let mut text = String::new();
    let every_trick = TERMINAL_TRICKS.join(" ");
    for (i, trick) in TERMINAL_TRICKS
        .iter()
        .chain([&every_trick.as_str()])
        .enumerate()
    {
        let exception = (i == TERMINAL_TRICKS.len()).then(|| every_trick.clone());
        let line = json!({
            "name": pair::EVENT_NAME,
            "id": format!("00000000-0000-4000-8000-{i:012}"),
            "time": "2026-11-01T00:00:00.000Z",
            "properties": {
                "event_properties": {
                    "resolution_result": side("lexisnexis:instant_verify", exception.clone()),
                    "socure_result": side("socure_kyc", exception),
                    "resolution_outcome": trick,
                    "resolution_elapsed_ms": 10,
                    "socure_outcome": trick,
                    "socure_elapsed_ms": 20,
                },
                "new_event": true,
            },
            "log_filename": "events.log",
        });
        text.push_str(&String::from_utf8(pair::encode(&line).expect("encodes")).expect("utf-8"));
        let shed = json!({
            "name": pair::SHED_EVENT_NAME,
            "id": "x",
            "time": "2026-11-01T00:00:01.000Z",
            "properties": {"event_properties": {"shed_count": 1, "from": "a", "until": "b", "reason": trick}},
        });
        text.push_str(&String::from_utf8(pair::encode(&shed).expect("encodes")).expect("utf-8"));
    }
    text
}

/// What `socure-shadow-proxy report --format text` prints for `text`.
fn report_text(text: &str) -> String {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("events.log");
    std::fs::write(&path, text).expect("write lines");
    let output = Command::new(env!("CARGO_BIN_EXE_socure-shadow-proxy"))
        .arg("report")
        .arg(&path)
        .args(["--format", "text"])
        .stdin(Stdio::null())
        .output()
        .expect("report runs");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("utf-8")
}

#[test]
fn report_text_shows_terminal_controls_as_escapes_never_raw() {
    let printed = report_text(&terminal_trick_lines());

    // Not one raw control but the renderer's own line ends.
    for c in printed.chars() {
        assert!(
            c == '\n'
                || !(c.is_control()
                    || matches!(c, '\u{61c}' | '\u{200e}' | '\u{200f}' | '\u{2028}'..='\u{202e}' | '\u{2066}'..='\u{2069}')),
            "{c:?} printed raw: {printed:?}"
        );
    }
    for byte in [0x1B, 0x07, 0x0D, 0x7F] {
        assert!(
            !printed.as_bytes().contains(&byte),
            "{byte:#x}: {printed:?}"
        );
    }
    // Each shown as its escape: a reason code (in the table and in its
    // cell's list), an attribute LexisNexis asked for, both outcomes, a shed
    // reason.
    for shown in [
        r"\u{1b}[31mRED\u{1b}[0m",
        r"\u{1b}]8;;https://example.invalid/\u{7}click\u{1b}]8;;\u{7}",
        r"\u{1b}]0;pwned\u{7}",
        r"I919\u{d}R999",
        r"\u{202e}edoc",
        r"\u{9b}2J",
        r"\u{2066}iso\u{2069}",
        r"del\u{7f}",
        r"I919\u{a}  both_pass  999",
    ] {
        assert!(printed.matches(shown).count() >= 6, "{shown}: {printed}");
    }
    // No row was forged: every line the renderer wrote is one of its own.
    assert!(
        !printed
            .lines()
            .any(|l| l.trim_start().starts_with("both_pass  999")),
        "{printed}"
    );
}
