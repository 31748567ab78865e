//! `report` over the demo's own lines in all three formats, and the HTML page opened offline in headless chromium: its five charts drawn, nothing fetched, a screenshot kept.
//!
//! The screenshot goes to the test's temporary target directory; with
//! `SHADOW_PROXY_README_SCREENSHOT=1` it also replaces `docs/report.png`,
//! the one docs/report.md shows.

use std::path::Path;
use std::process::Command;

use serde_json::{Value, json};

use crate::support::browser;

fn binary() -> Command {
    Command::new(env!("CARGO_BIN_EXE_socure-shadow-proxy"))
}

/// Runs `cmd`, requires success, returns stdout.
fn run(cmd: &mut Command) -> String {
    let output = cmd.output().expect("the binary runs");
    assert!(
        output.status.success(),
        "{:?}: {}\n{}",
        cmd,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("utf-8 output")
}

fn report(log: &Path, format: &str, out: &Path) -> String {
    run(binary()
        .arg("report")
        .arg(log)
        .args(["--format", format, "--out"])
        .arg(out));
    std::fs::read_to_string(out).expect("the report was written")
}

#[test]
fn the_demo_lines_report_in_text_json_and_a_page_that_draws_offline() {
    let dir = tempfile::tempdir().expect("tempdir");
    let dir = dir.path().canonicalize().expect("real path");
    let log = dir.join("demo.log");
    let demo = run(binary().arg("demo").arg("--log").arg(&log));
    assert!(demo.contains("demo ok"), "{demo}");

    // JSON: the demo's lines land in every cell the issue names.
    let json: Value =
        serde_json::from_str(&report(&log, "json", &dir.join("report.json"))).expect("json");
    assert_eq!(json["schema"], "socure-shadow-proxy.report.v2");
    // The decision: both pass 2, only LexisNexis 1, only Socure 2, both
    // fail 1 (the matrix below); eight answered Socure calls.
    let decision = &json["decision"];
    assert_eq!(decision["newly_rejected"]["count"], 1);
    assert_eq!(decision["newly_rejected"]["of"], 3);
    assert_eq!(decision["newly_accepted"]["count"], 2);
    assert_eq!(decision["newly_accepted"]["of"], 3);
    assert_eq!(decision["socure_calls"], 8);
    assert_eq!(decision["gates_hold"], true);
    assert_eq!(json["input"]["proofing_lines"], 11);
    assert_eq!(json["input"]["malformed"], 0);
    // Rows LexisNexis pass, fail, exception; columns Socure pass, fail,
    // exception, timed out, not called (one dropped, one duplicate).
    assert_eq!(
        json["agreement"]["counts"],
        json!([[2, 1, 1, 1, 2], [2, 1, 0, 0, 0], [0, 0, 1, 0, 0]])
    );
    let outcomes = &json["completeness"]["socure_outcome"];
    for (name, count) in [
        ("answered", 8),
        ("timed_out", 1),
        ("dropped", 1),
        ("duplicate", 1),
    ] {
        assert!(
            outcomes
                .as_array()
                .expect("outcomes")
                .iter()
                .any(|o| o["name"] == name && o["count"] == count),
            "{name} {count}: {outcomes}"
        );
    }

    let text = report(&log, "text", &dir.join("report.txt"));
    assert!(
        text.contains("The vendors agreed on 3 of the 6 applicants both judged: 50.0%"),
        "{text}"
    );
    assert!(
        text.contains("Decision\nSocure would newly reject 33.3% (6.1–79.2%) of the applicants LexisNexis passes."),
        "{text}"
    );
    for heading in [
        "By day (UTC):",
        "Agreement:",
        "Attributes:",
        "Socure reason codes:",
        "Vendors:",
        "Over time, by hour",
        "Completeness",
    ] {
        assert!(text.contains(heading), "{heading} missing:\n{text}");
    }

    let page = dir.join("report.html");
    let html = report(&log, "html", &page);
    assert!(!html.contains("<script"), "the page has no script");
    let load = browser::load_offline(&page).expect("chromium opens the page");
    assert_eq!(load.title, "Socure shadow report");
    assert_eq!(
        load.requests,
        [browser::file_url(&page)],
        "the page fetched something besides itself"
    );
    // The decision by day, heat map, attribute bars, reason codes,
    // latency over time.
    assert_eq!(load.svgs.len(), 5, "{:?}", load.svgs);
    for (width, height) in &load.svgs {
        assert!(*width >= 300.0 && *height >= 100.0, "{:?}", load.svgs);
    }
    assert!(load.screenshot_png.starts_with(b"\x89PNG"));

    let kept = Path::new(env!("CARGO_TARGET_TMPDIR")).join("report.png");
    std::fs::write(&kept, &load.screenshot_png).expect("keep the screenshot");
    if std::env::var_os("SHADOW_PROXY_README_SCREENSHOT").is_some_and(|v| v == "1") {
        let docs = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs");
        std::fs::create_dir_all(&docs).expect("docs/");
        std::fs::write(docs.join("report.png"), &load.screenshot_png).expect("docs/report.png");
    }
}
