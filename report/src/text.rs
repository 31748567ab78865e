//! `--format text`: the report as aligned tables for a terminal, in the order a reader asks its questions.
//!
//! The lines' own words (reason codes, outcomes, attributes, shed reasons)
//! come from vendors and from whatever wrote the log, so none is printed
//! raw: every terminal control in them is shown as its escape ([`visible`]).

use std::borrow::Cow;
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
            .chain(table.rows.iter().map(|row| {
                row.iter()
                    .map(|cell| visible(&cell.text(), Newlines::Escaped).into_owned())
                    .collect()
            }))
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

/// The decision section: the verdict, the figures, why, the cost, by day.
fn decision(out: &mut String, report: &Report) {
    let d = &report.decision;
    let _ = writeln!(out, "Decision\n{}\n", d.verdict);
    for gate in &d.gates {
        let _ = writeln!(out, "  {}", gate_sentence(gate));
    }
    if !d.gates.is_empty() {
        out.push('\n');
    }
    let _ = writeln!(
        out,
        "Over the {} applicants both vendors judged:",
        d.both_judged
    );
    write_table(out, &tables::decision(report));
    let _ = writeln!(
        out,
        "Socure left unverified, on the {} newly rejected: {}",
        d.newly_rejected.count,
        visible(
            &tables::in_a_line(&d.newly_rejected_unverified),
            Newlines::Escaped
        )
    );
    let _ = writeln!(out, "{}", cost_sentence(report));
    if !d.by_day.is_empty() {
        out.push_str("By day (UTC):\n");
        write_table(out, &tables::decision_by_day(report));
    }
    if d.days_beyond_limit > 0 {
        let _ = writeln!(
            out,
            "  {} judged lines fell past the day limit",
            d.days_beyond_limit
        );
    }
    out.push('\n');
}

/// `max_newly_rejected: 29.0% against 10%: fails`.
pub fn gate_sentence(gate: &super::schema::Gate) -> String {
    format!(
        "{}: {} against {}%: {}",
        gate.name,
        gate.value_percent
            .map_or_else(|| "no value".into(), |v| format!("{v:.1}%")),
        gate.limit_percent,
        if gate.holds { "holds" } else { "fails" },
    )
}

/// Socure's calls and, with `--cost-per-call`, what they cost.
pub fn cost_sentence(report: &Report) -> String {
    let d = &report.decision;
    match &d.cost {
        None => format!(
            "Socure calls answered: {} (give --cost-per-call for their cost).",
            d.socure_calls
        ),
        Some(cost) => {
            let monthly = match (cost.calls_per_day, cost.monthly) {
                (Some(per_day), Some(monthly)) => format!(
                    "; at the observed {per_day:.1} calls a day, {monthly:.2} for a 30-day month"
                ),
                _ => String::new(),
            };
            format!(
                "Socure calls answered: {} at {} each: {:.2}{monthly}.",
                d.socure_calls, cost.per_call, cost.total
            )
        }
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
    let _ = writeln!(
        out,
        "Socure shadow report\n{}\n",
        visible(&input_sentence(report), Newlines::Escaped)
    );
    decision(&mut out, report);
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
        visible(
            &tables::in_a_line(&attributes.other_lexisnexis),
            Newlines::Escaped
        )
    );

    let codes = &report.reason_codes;
    let _ = writeln!(
        out,
        "\nSocure reason codes: top {} of {} distinct, share of the {} lines Socure judged",
        codes.top.len(),
        codes.distinct,
        codes.socure_judged,
    );
    write_table(&mut out, &tables::codes(report));
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
    // The values above were made visible where they were written; this
    // keeps any the renderer may come to write without it from the terminal.
    visible(&out, Newlines::Kept).into_owned()
}

/// Whether [`visible`] leaves `\n` as it is (the renderer's own line ends)
/// or escapes it (inside a value, where it would forge a row).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Newlines {
    Kept,
    Escaped,
}

/// `text` with every character that acts on a terminal written as its
/// Rust escape (`\u{1b}`): the C0 controls (ESC starts the CSI and OSC
/// sequences that recolour, retitle or hyperlink; CR rewrites a line), DEL,
/// the C1 controls (U+009B is a one-byte CSI), the line and paragraph
/// separators, and the bidi marks, embeddings, overrides and isolates
/// (U+202E shows text backwards). An escape rather than U+FFFD: it is
/// ASCII, it says which character the line held, and it cannot be taken
/// for the report's own text. Borrowed when there is none (nearly always).
fn visible(text: &str, newlines: Newlines) -> Cow<'_, str> {
    let acts = |c: char| {
        (c.is_control() && !(c == '\n' && newlines == Newlines::Kept))
            || matches!(
                c,
                '\u{061C}'
                    | '\u{200E}'
                    | '\u{200F}'
                    | '\u{2028}'..='\u{202E}'
                    | '\u{2066}'..='\u{2069}'
            )
    };
    if !text.chars().any(acts) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        if acts(c) {
            out.extend(c.escape_unicode());
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terminal_controls_are_shown_as_escapes() {
        assert!(matches!(
            visible("I919 ok", Newlines::Escaped),
            Cow::Borrowed(_)
        ));
        for (raw, shown) in [
            ("\u{1b}[31mred", "\\u{1b}[31mred"),
            ("a\rb\tc\u{0}", "a\\u{d}b\\u{9}c\\u{0}"),
            ("\u{7f}\u{85}\u{9b}", "\\u{7f}\\u{85}\\u{9b}"),
            (
                "\u{202e}edoc\u{2066}\u{2069}\u{200f}\u{61c}",
                "\\u{202e}edoc\\u{2066}\\u{2069}\\u{200f}\\u{61c}",
            ),
            ("x\u{2028}y", "x\\u{2028}y"),
            ("é £ — ✓", "é £ — ✓"),
        ] {
            assert_eq!(visible(raw, Newlines::Escaped), shown, "{raw:?}");
        }
        assert_eq!(visible("a\nb", Newlines::Escaped), "a\\u{a}b");
        assert_eq!(visible("a\nb\u{1b}", Newlines::Kept), "a\nb\\u{1b}");
    }
}
