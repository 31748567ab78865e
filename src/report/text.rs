//! `--format text`: the report as aligned tables for a terminal, in the order a reader asks its questions.

use std::fmt::Write as _;

use super::schema::{COLUMNS, Count, Latency, ROWS, Report, Vendor};

/// Column-aligned rows: the first column left, the others right.
struct Table {
    rows: Vec<Vec<String>>,
}

impl Table {
    fn new(header: &[&str]) -> Self {
        Self {
            rows: vec![header.iter().map(|h| (*h).to_owned()).collect()],
        }
    }

    fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    fn write(&self, out: &mut String) {
        let columns = self.rows.iter().map(Vec::len).max().unwrap_or(0);
        let widths: Vec<usize> = (0..columns)
            .map(|c| {
                self.rows
                    .iter()
                    .filter_map(|r| r.get(c))
                    .map(|cell| cell.chars().count())
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        for row in &self.rows {
            let mut line = String::new();
            for (c, cell) in row.iter().enumerate() {
                let width = widths[c];
                if c == 0 {
                    let _ = write!(line, "  {cell:<width$}");
                } else {
                    let _ = write!(line, "  {cell:>width$}");
                }
            }
            out.push_str(line.trim_end());
            out.push('\n');
        }
    }
}

pub fn percent(share: Option<f64>) -> String {
    share.map_or_else(|| "-".into(), |s| format!("{:.1}%", s * 100.0))
}

fn count_and_share(count: u64, share: Option<f64>) -> String {
    format!("{count} ({})", percent(share))
}

fn ms(value: Option<u64>) -> String {
    value.map_or_else(|| "-".into(), |v| v.to_string())
}

fn names(counts: &[Count]) -> String {
    if counts.is_empty() {
        return "none".into();
    }
    counts
        .iter()
        .map(|c| format!("{} {} ({})", c.name, c.count, percent(c.share)))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The agreement sentence every format leads with.
pub fn agreement_sentence(report: &Report) -> String {
    let a = &report.agreement;
    match (a.rate, a.wilson_95) {
        (Some(rate), Some(interval)) => format!(
            "The vendors agreed on {} of the {} applicants both judged: {} (95% Wilson interval {} to {}, ±{:.1} points).",
            a.agreed,
            a.both_judged,
            percent(Some(rate)),
            percent(Some(interval.low)),
            percent(Some(interval.high)),
            (interval.high - interval.low) * 50.0,
        ),
        _ => "No applicant was judged by both vendors: no agreement rate.".into(),
    }
}

pub fn render(report: &Report) -> String {
    let mut out = String::new();
    let input = &report.input;
    let _ = writeln!(
        out,
        "Socure shadow report: {} proofing lines, {} to {}",
        input.proofing_lines,
        input.first_time.as_deref().unwrap_or("-"),
        input.last_time.as_deref().unwrap_or("-"),
    );
    let _ = writeln!(
        out,
        "Read {} lines from {}; skipped {} of other events, {} malformed, {} outside the window.\n",
        input.lines_read,
        input.sources.join(", "),
        input.other_events,
        input.malformed,
        input.outside_window,
    );

    let _ = writeln!(out, "{}\n", agreement_sentence(report));
    out.push_str("Agreement: LexisNexis (rows) by Socure (columns), lines and share of all\n");
    let mut header = vec!["LexisNexis"];
    header.extend(COLUMNS);
    let mut table = Table::new(&header);
    for (r, name) in ROWS.iter().enumerate() {
        let mut cells = vec![(*name).to_owned()];
        for c in 0..COLUMNS.len() {
            cells.push(count_and_share(
                report.agreement.counts[r][c],
                report.agreement.shares[r][c],
            ));
        }
        table.row(cells);
    }
    table.write(&mut out);

    let attributes = &report.attributes;
    let _ = writeln!(
        out,
        "\nAttributes: LexisNexis asked to verify (of {} judged), Socure left unverified (of {}), both (of {}), in Socure failures (of {})",
        attributes.lexisnexis_judged,
        attributes.socure_judged,
        attributes.both_judged,
        attributes.socure_failures,
    );
    let mut table = Table::new(&[
        "attribute",
        "LexisNexis asked",
        "Socure unverified",
        "both",
        "in Socure failures",
    ]);
    for row in &attributes.rows {
        table.row(vec![
            row.attribute.to_owned(),
            count_and_share(row.lexisnexis_flagged, row.lexisnexis_flagged_share),
            count_and_share(row.socure_unverified, row.socure_unverified_share),
            count_and_share(row.both, row.both_share),
            count_and_share(
                row.socure_failures_explained,
                row.socure_failures_explained_share,
            ),
        ]);
    }
    table.write(&mut out);
    let _ = writeln!(
        out,
        "  LexisNexis also asked: {}",
        names(&attributes.other_lexisnexis)
    );

    let codes = &report.reason_codes;
    let _ = writeln!(
        out,
        "\nSocure reason codes: top {} of {} distinct, share of the {} lines Socure judged",
        codes.top.len(),
        codes.distinct,
        codes.socure_judged,
    );
    let mut table = Table::new(&["code", "lines", "share"]);
    for code in &codes.top {
        table.row(vec![
            code.name.clone(),
            code.count.to_string(),
            percent(code.share),
        ]);
    }
    table.write(&mut out);
    if codes.beyond_limit > 0 {
        let _ = writeln!(
            out,
            "  {} codes past the distinct-code limit were not tallied",
            codes.beyond_limit
        );
    }
    out.push_str("  By cell:\n");
    for cell in &codes.by_cell {
        let _ = writeln!(
            out,
            "    {} ({} line{}): {}",
            cell.cell,
            cell.lines,
            if cell.lines == 1 { "" } else { "s" },
            names(&cell.top)
        );
    }

    out.push_str("\nVendors: calls, failures and latency (ms, nearest rank)\n");
    let mut table = Table::new(&[
        "vendor",
        "calls",
        "timeouts",
        "exceptions",
        "p50",
        "p95",
        "p99",
        "max",
    ]);
    for (name, vendor) in [
        ("LexisNexis", &report.vendors.lexisnexis),
        ("Socure", &report.vendors.socure),
    ] {
        table.row(vendor_cells(name, vendor));
    }
    table.write(&mut out);

    let series = &report.series;
    let _ = writeln!(
        out,
        "\nOver time, by {} (UTC): lines, agreement, latency p50/p95 ms",
        series.bucket
    );
    let mut table = Table::new(&[
        "start",
        "lines",
        "agreed",
        "LexisNexis",
        "Socure",
        "Socure timeouts",
    ]);
    for point in &series.points {
        table.row(vec![
            point.start.clone(),
            point.proofing_lines.to_string(),
            percent(
                (point.both_judged > 0).then(|| point.agreed as f64 / point.both_judged as f64),
            ),
            p50_p95(&point.lexisnexis.latency_ms),
            p50_p95(&point.socure.latency_ms),
            point.socure.timeouts.to_string(),
        ]);
    }
    table.write(&mut out);
    if series.lines_beyond_limit > 0 {
        let _ = writeln!(
            out,
            "  {} lines fell past the series' bucket limit",
            series.lines_beyond_limit
        );
    }

    let completeness = &report.completeness;
    out.push_str("\nCompleteness\n");
    let _ = writeln!(
        out,
        "  socure_outcome:     {}",
        names(&completeness.socure_outcome)
    );
    let _ = writeln!(
        out,
        "  resolution_outcome: {}",
        names(&completeness.resolution_outcome)
    );
    let _ = writeln!(out, "  shed without a line: {}", names(&completeness.shed));
    let _ = writeln!(
        out,
        "  shadowed requests accounted for: {} (proofing lines plus shed); sampled-out requests have no line (metric socure_shadow_proxy_mirrors_sampled_out_total)",
        completeness.shadowed_requests
    );
    out
}

fn vendor_cells(name: &str, vendor: &Vendor) -> Vec<String> {
    vec![
        name.to_owned(),
        vendor.calls.to_string(),
        count_and_share(vendor.timeouts, vendor.timeout_share),
        count_and_share(vendor.exceptions, vendor.exception_share),
        ms(vendor.latency_ms.p50),
        ms(vendor.latency_ms.p95),
        ms(vendor.latency_ms.p99),
        ms(vendor.latency_ms.max),
    ]
}

fn p50_p95(latency: &Latency) -> String {
    format!("{}/{}", ms(latency.p50), ms(latency.p95))
}
