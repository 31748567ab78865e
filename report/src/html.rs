//! `--format html`: one self-contained page, tables and inline SVG charts, that fetches nothing when opened.
//!
//! No script, no external style sheet, font or image. A Content-Security-Policy
//! of `default-src 'none'` makes that a rule the browser enforces, not only a
//! habit of this file: anything added later that would fetch is blocked.

use std::fmt::Write as _;

use super::schema::Report;
use super::tables::{self, Cell, Table, percent};
use super::text::{
    agreement_sentence, completeness_sentence, cost_sentence, gate_sentence, input_sentence,
};
use super::{ReportError, charts};

const STYLE: &str = "
body{font-family:sans-serif;margin:2em auto;max-width:960px;color:#222;line-height:1.4}
h1{font-size:1.6em}h2{font-size:1.25em;margin-top:2em;border-bottom:1px solid #ccc}
table{border-collapse:collapse;margin:.8em 0}
th,td{padding:.25em .7em;border-bottom:1px solid #e4e4e4;text-align:right}
th:first-child,td:first-child{text-align:left}
th{background:#f4f4f4}
figure{margin:1em 0}figcaption{color:#555;font-size:.9em}
.lead{font-size:1.15em}.verdict{font-weight:bold;padding:.5em .8em;border-left:6px solid #3c963c}.verdict.fails{border-color:#c0392b}.small{color:#555;font-size:.9em}
td.list{text-align:left;max-width:40em}
";

/// HTML text: `&`, `<`, `>`, and both quotes.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// `table` as HTML; a count's share is set smaller beside it.
fn write_table(out: &mut String, table: &Table) {
    out.push_str("<table><tr>");
    for h in &table.header {
        let _ = write!(out, "<th>{}</th>", escape(h));
    }
    out.push_str("</tr>\n");
    for row in &table.rows {
        out.push_str("<tr>");
        for cell in row {
            match cell {
                Cell::Share(n, share) => {
                    let _ = write!(
                        out,
                        "<td>{n} <span class=small>({})</span></td>",
                        percent(*share)
                    );
                }
                Cell::List(text) => {
                    let _ = write!(out, "<td class=list>{}</td>", escape(text));
                }
                other => {
                    let _ = write!(out, "<td>{}</td>", escape(&other.text()));
                }
            }
        }
        out.push_str("</tr>\n");
    }
    out.push_str("</table>\n");
}

fn figure(out: &mut String, svg: &str, caption: &str) {
    let _ = writeln!(
        out,
        "<figure>{svg}<figcaption>{}</figcaption></figure>",
        escape(caption)
    );
}

/// The page: a head, then one section per part of the report, in the
/// order the text format gives them.
pub fn render(report: &Report) -> Result<String, ReportError> {
    let mut out = String::new();
    head(&mut out, report);
    decision(&mut out, report)?;
    agreement(&mut out, report)?;
    attributes(&mut out, report)?;
    reason_codes(&mut out, report)?;
    vendors(&mut out, report)?;
    completeness(&mut out, report);
    let _ = writeln!(
        out,
        "<p class=small>{} · {}</p></body></html>",
        escape(&report.generated_by),
        escape(report.schema)
    );
    Ok(out)
}

fn head(out: &mut String, report: &Report) {
    out.push_str("<!doctype html>\n<html lang=en><head><meta charset=utf-8>\n");
    out.push_str("<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">\n");
    out.push_str("<meta name=viewport content=\"width=device-width, initial-scale=1\">\n");
    out.push_str("<title>Socure shadow report</title>\n");
    let _ = writeln!(out, "<style>{STYLE}</style></head><body>");
    out.push_str("<h1>Socure shadow report</h1>\n");
    let _ = writeln!(
        out,
        "<p class=\"lead verdict {}\">{}</p>",
        if report.decision.gates_hold {
            "holds"
        } else {
            "fails"
        },
        escape(&report.decision.verdict)
    );
    let _ = writeln!(out, "<p>{}</p>", escape(&agreement_sentence(report)));
    let _ = writeln!(
        out,
        "<p class=small>{}</p>",
        escape(&input_sentence(report))
    );
}

/// What switching would change: the gates, the figures, why, the cost,
/// and the figures by day (chart and table).
fn decision(out: &mut String, report: &Report) -> Result<(), ReportError> {
    let d = &report.decision;
    out.push_str("<h2 id=decision>Decision</h2>\n");
    if !d.gates.is_empty() {
        out.push_str("<ul>");
        for gate in &d.gates {
            let _ = write!(out, "<li>{}</li>", escape(&gate_sentence(gate)));
        }
        out.push_str("</ul>\n");
    }
    let _ = writeln!(
        out,
        "<p>Over the {} applicants both vendors judged:</p>",
        d.both_judged
    );
    write_table(out, &tables::decision(report));
    let _ = writeln!(
        out,
        "<p>Socure left unverified, on the {} newly rejected: {}</p>",
        d.newly_rejected.count,
        escape(&tables::in_a_line(&d.newly_rejected_unverified))
    );
    let _ = writeln!(out, "<p>{}</p>", escape(&cost_sentence(report)));
    if !d.by_day.is_empty() {
        figure(
            out,
            &charts::decision_by_day(report)?,
            "Per UTC day: agreement over the applicants both judged, and the share of LexisNexis passes Socure would newly reject.",
        );
        write_table(out, &tables::decision_by_day(report));
    }
    Ok(())
}

fn agreement(out: &mut String, report: &Report) -> Result<(), ReportError> {
    out.push_str("<h2 id=agreement>Agreement</h2>\n");
    figure(
        out,
        &charts::agreement(report)?,
        "LexisNexis (rows) by Socure (columns): lines, and share of all proofing lines. Green: the vendors agree.",
    );
    write_table(out, &tables::agreement(report));
    Ok(())
}

fn attributes(out: &mut String, report: &Report) -> Result<(), ReportError> {
    let attributes = &report.attributes;
    out.push_str("<h2 id=attributes>Attributes</h2>\n");
    figure(
        out,
        &charts::attributes(report)?,
        "Share of lines where LexisNexis asked for more verification of the attribute, where Socure left it unverified, and both.",
    );
    write_table(out, &tables::attributes(report));
    let _ = writeln!(
        out,
        "<p class=small>Denominators: {} lines LexisNexis judged, {} Socure judged, {} both judged, {} Socure failures. A failure may miss several attributes.</p>",
        attributes.lexisnexis_judged,
        attributes.socure_judged,
        attributes.both_judged,
        attributes.socure_failures
    );
    if !attributes.other_lexisnexis.is_empty() {
        out.push_str("<p>Other attributes LexisNexis asked to verify:</p>\n");
        write_table(
            out,
            &tables::counts("attribute", &attributes.other_lexisnexis),
        );
    }
    Ok(())
}

fn reason_codes(out: &mut String, report: &Report) -> Result<(), ReportError> {
    let codes = &report.reason_codes;
    out.push_str("<h2 id=reason-codes>Socure reason codes</h2>\n");
    figure(
        out,
        &charts::reason_codes(&codes.top)?,
        &format!(
            "The {} most frequent of {} distinct codes, share of the {} lines Socure judged.",
            codes.top.len(),
            codes.distinct,
            codes.socure_judged
        ),
    );
    write_table(out, &tables::codes(report));
    out.push_str("<p>Within each cell where both vendors judged:</p>\n");
    write_table(out, &tables::codes_by_cell(report));
    Ok(())
}

fn vendors(out: &mut String, report: &Report) -> Result<(), ReportError> {
    out.push_str("<h2 id=vendors>Vendors: latency and reliability</h2>\n");
    write_table(out, &tables::vendors(report));
    figure(
        out,
        &charts::latency(report)?,
        &format!(
            "Latency p50 and p95 by {} (UTC), nearest rank.",
            report.series.bucket
        ),
    );
    let _ = writeln!(
        out,
        "<details><summary>By {} (UTC)</summary>",
        report.series.bucket
    );
    write_table(out, &tables::series(report));
    out.push_str("</details>\n");
    Ok(())
}

fn completeness(out: &mut String, report: &Report) {
    out.push_str("<h2 id=completeness>Completeness</h2>\n");
    let _ = writeln!(out, "<p>{}</p>", escape(&completeness_sentence(report)));
    for table in tables::completeness(report) {
        write_table(out, &table);
    }
}

#[cfg(test)]
mod tests {
    use super::escape;

    #[test]
    fn escape_leaves_no_markup() {
        assert_eq!(
            escape(r#"<script>"a" & 'b'</script>"#),
            "&lt;script&gt;&quot;a&quot; &amp; &#39;b&#39;&lt;/script&gt;"
        );
    }
}
