//! `--format text`: the report as aligned tables for a terminal, in the order a reader asks its questions.

use std::fmt::Write as _;

use super::schema::Report;
use super::tables::{self, Table, percent};

/// Writes `table` column-aligned: the first column and lists left, the
/// others right.
fn write_table(out: &mut String, table: &Table) {
    let left: Vec<bool> = (0..table.header.len())
        .map(|c| {
            c == 0
                || table
                    .rows
                    .iter()
                    .any(|r| matches!(r.get(c), Some(tables::Cell::List(_))))
        })
        .collect();
    let rows: Vec<Vec<String>> =
        std::iter::once(table.header.iter().map(|h| (*h).to_owned()).collect())
            .chain(
                table
                    .rows
                    .iter()
                    .map(|row| row.iter().map(tables::Cell::text).collect()),
            )
            .collect();
    let columns = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..columns)
        .map(|c| {
            rows.iter()
                .filter_map(|r| r.get(c))
                .map(|cell| cell.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    for row in &rows {
        let mut line = String::new();
        for (c, (cell, width)) in row.iter().zip(&widths).enumerate() {
            let width = *width;
            if left.get(c).copied().unwrap_or(false) {
                let _ = write!(line, "  {cell:<width$}");
            } else {
                let _ = write!(line, "  {cell:>width$}");
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
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

/// What was read and what was skipped, in one sentence.
pub fn input_sentence(report: &Report) -> String {
    let input = &report.input;
    format!(
        "{} proofing lines from {} to {}; {} lines read from {}; skipped {} of other events, {} malformed, {} outside the window.",
        input.proofing_lines,
        input.first_time.as_deref().unwrap_or("-"),
        input.last_time.as_deref().unwrap_or("-"),
        input.lines_read,
        input.sources.join(", "),
        input.other_events,
        input.malformed,
        input.outside_window,
    )
}

/// The completeness sentence: every shadowed request, accounted for.
pub fn completeness_sentence(report: &Report) -> String {
    let c = &report.completeness;
    format!(
        "{} shadowed requests accounted for: {} proofing lines, and {} shed at the mirror's door without a line of their own. Sampled-out requests have no line: the proxy counts them in socure_shadow_proxy_mirrors_sampled_out_total.",
        c.shadowed_requests, report.input.proofing_lines, c.shed_requests,
    )
}

pub fn render(report: &Report) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "Socure shadow report\n{}\n", input_sentence(report));
    let _ = writeln!(out, "{}\n", agreement_sentence(report));

    out.push_str("Agreement: LexisNexis (rows) by Socure (columns), lines and share of all\n");
    write_table(&mut out, &tables::agreement(report));

    let attributes = &report.attributes;
    let _ = writeln!(
        out,
        "\nAttributes: LexisNexis asked to verify (of {} judged), Socure left unverified (of {}), both (of {}), in Socure failures (of {})",
        attributes.lexisnexis_judged,
        attributes.socure_judged,
        attributes.both_judged,
        attributes.socure_failures,
    );
    write_table(&mut out, &tables::attributes(report));
    let _ = writeln!(
        out,
        "  LexisNexis also asked: {}",
        tables::in_a_line(&attributes.other_lexisnexis)
    );

    let codes = &report.reason_codes;
    let _ = writeln!(
        out,
        "\nSocure reason codes: top {} of {} distinct, share of the {} lines Socure judged",
        codes.top.len(),
        codes.distinct,
        codes.socure_judged,
    );
    write_table(&mut out, &tables::counts("code", &codes.top));
    if codes.beyond_limit > 0 {
        let _ = writeln!(
            out,
            "  {} codes past the distinct-code limit were not tallied",
            codes.beyond_limit
        );
    }
    out.push_str("Within each cell where both vendors judged:\n");
    write_table(&mut out, &tables::codes_by_cell(report));

    out.push_str("\nVendors: calls, failures and latency (nearest rank)\n");
    write_table(&mut out, &tables::vendors(report));

    let series = &report.series;
    let _ = writeln!(out, "\nOver time, by {} (UTC)", series.bucket);
    write_table(&mut out, &tables::series(report));
    if series.lines_beyond_limit > 0 {
        let _ = writeln!(
            out,
            "  {} lines fell past the series' bucket limit",
            series.lines_beyond_limit
        );
    }

    let _ = writeln!(out, "\nCompleteness\n{}", completeness_sentence(report));
    for (i, table) in tables::completeness(report).iter().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        write_table(&mut out, table);
    }
    out
}
