//! `--format html`: one self-contained page, tables and inline SVG charts, that fetches nothing when opened.
//!
//! No script, no external style sheet, font or image. A Content-Security-Policy
//! of `default-src 'none'` makes that a rule the browser enforces, not only a
//! habit of this file: anything added later that would fetch is blocked.

use std::fmt::Write as _;

use super::schema::{COLUMNS, Count, ROWS, Report, Vendor};
use super::text::{agreement_sentence, percent};
use super::{ReportError, charts};

const STYLE: &str = "
body{font-family:sans-serif;margin:2em auto;max-width:960px;color:#222;line-height:1.4}
h1{font-size:1.6em}h2{font-size:1.25em;margin-top:2em;border-bottom:1px solid #ccc}
table{border-collapse:collapse;margin:.8em 0}
th,td{padding:.25em .7em;border-bottom:1px solid #e4e4e4;text-align:right}
th:first-child,td:first-child{text-align:left}
th{background:#f4f4f4}
figure{margin:1em 0}figcaption{color:#555;font-size:.9em}
.lead{font-size:1.15em}.small{color:#555;font-size:.9em}
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

fn cell_pair(count: u64, share: Option<f64>) -> String {
    format!(
        "<td>{count} <span class=small>({})</span></td>",
        percent(share)
    )
}

fn table(out: &mut String, header: &[&str], rows: impl IntoIterator<Item = Vec<String>>) {
    out.push_str("<table><tr>");
    for h in header {
        let _ = write!(out, "<th>{}</th>", escape(h));
    }
    out.push_str("</tr>\n");
    for row in rows {
        out.push_str("<tr>");
        for cell in row {
            out.push_str(&cell);
        }
        out.push_str("</tr>\n");
    }
    out.push_str("</table>\n");
}

fn td(text: &str) -> String {
    format!("<td>{}</td>", escape(text))
}

fn counts_table(out: &mut String, what: &str, counts: &[Count]) {
    table(
        out,
        &[what, "count", "share"],
        counts
            .iter()
            .map(|c| vec![td(&c.name), td(&c.count.to_string()), td(&percent(c.share))]),
    );
}

fn figure(out: &mut String, svg: &str, caption: &str) {
    let _ = writeln!(
        out,
        "<figure>{svg}<figcaption>{}</figcaption></figure>",
        escape(caption)
    );
}

fn vendor_row(name: &str, v: &Vendor) -> Vec<String> {
    let ms = |x: Option<u64>| td(&x.map_or_else(|| "-".into(), |v| v.to_string()));
    vec![
        td(name),
        td(&v.calls.to_string()),
        cell_pair(v.timeouts, v.timeout_share),
        cell_pair(v.exceptions, v.exception_share),
        ms(v.latency_ms.p50),
        ms(v.latency_ms.p95),
        ms(v.latency_ms.p99),
        ms(v.latency_ms.max),
    ]
}

pub fn render(report: &Report) -> Result<String, ReportError> {
    let mut out = String::new();
    let input = &report.input;
    out.push_str("<!doctype html>\n<html lang=en><head><meta charset=utf-8>\n");
    out.push_str("<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">\n");
    out.push_str("<meta name=viewport content=\"width=device-width, initial-scale=1\">\n");
    out.push_str("<title>Socure shadow report</title>\n");
    let _ = writeln!(out, "<style>{STYLE}</style></head><body>");
    out.push_str("<h1>Socure shadow report</h1>\n");
    let _ = writeln!(
        out,
        "<p class=lead>{}</p>",
        escape(&agreement_sentence(report))
    );
    let _ = writeln!(
        out,
        "<p class=small>{} proofing lines from {} to {}, read from {}. {}</p>",
        input.proofing_lines,
        escape(input.first_time.as_deref().unwrap_or("-")),
        escape(input.last_time.as_deref().unwrap_or("-")),
        escape(&input.sources.join(", ")),
        escape(&format!(
            "{} lines read; skipped: {} of other events, {} malformed, {} outside the window.",
            input.lines_read, input.other_events, input.malformed, input.outside_window
        )),
    );

    out.push_str("<h2 id=agreement>Agreement</h2>\n");
    figure(
        &mut out,
        &charts::agreement(report)?,
        "LexisNexis (rows) by Socure (columns): lines, and share of all proofing lines. Green: the vendors agree.",
    );
    let mut header = vec!["LexisNexis \\ Socure"];
    header.extend(COLUMNS);
    table(
        &mut out,
        &header,
        ROWS.iter().enumerate().map(|(r, row)| {
            let mut cells = vec![td(row)];
            cells.extend(
                (0..COLUMNS.len()).map(|c| {
                    cell_pair(report.agreement.counts[r][c], report.agreement.shares[r][c])
                }),
            );
            cells
        }),
    );

    let attributes = &report.attributes;
    out.push_str("<h2 id=attributes>Attributes</h2>\n");
    figure(
        &mut out,
        &charts::attributes(report)?,
        "Share of lines where LexisNexis asked for more verification of the attribute, where Socure left it unverified, and both.",
    );
    table(
        &mut out,
        &[
            "attribute",
            "LexisNexis asked",
            "Socure unverified",
            "both",
            "in Socure failures",
        ],
        attributes.rows.iter().map(|row| {
            vec![
                td(row.attribute),
                cell_pair(row.lexisnexis_flagged, row.lexisnexis_flagged_share),
                cell_pair(row.socure_unverified, row.socure_unverified_share),
                cell_pair(row.both, row.both_share),
                cell_pair(
                    row.socure_failures_explained,
                    row.socure_failures_explained_share,
                ),
            ]
        }),
    );
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
        counts_table(&mut out, "attribute", &attributes.other_lexisnexis);
    }

    let codes = &report.reason_codes;
    out.push_str("<h2 id=reason-codes>Socure reason codes</h2>\n");
    figure(
        &mut out,
        &charts::reason_codes(&codes.top)?,
        &format!(
            "The {} most frequent of {} distinct codes, share of the {} lines Socure judged.",
            codes.top.len(),
            codes.distinct,
            codes.socure_judged
        ),
    );
    out.push_str("<p>Within each cell where both vendors judged:</p>\n");
    table(
        &mut out,
        &[
            "cell",
            "lines",
            "most frequent codes (share of the cell's lines)",
        ],
        codes.by_cell.iter().map(|cell| {
            let top: Vec<String> = cell
                .top
                .iter()
                .map(|c| format!("{} {} ({})", c.name, c.count, percent(c.share)))
                .collect();
            vec![
                td(cell.cell),
                td(&cell.lines.to_string()),
                format!("<td style=text-align:left>{}</td>", escape(&top.join(", "))),
            ]
        }),
    );

    out.push_str("<h2 id=vendors>Vendors: latency and reliability</h2>\n");
    table(
        &mut out,
        &[
            "vendor",
            "calls",
            "timeouts",
            "exceptions",
            "p50 ms",
            "p95 ms",
            "p99 ms",
            "max ms",
        ],
        [
            vendor_row("LexisNexis", &report.vendors.lexisnexis),
            vendor_row("Socure", &report.vendors.socure),
        ],
    );
    figure(
        &mut out,
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
    table(
        &mut out,
        &[
            "start",
            "lines",
            "agreed",
            "LexisNexis p50/p95",
            "Socure p50/p95",
            "Socure timeouts",
            "Socure exceptions",
        ],
        report.series.points.iter().map(|p| {
            let ms = |v: Option<u64>| v.map_or_else(|| "-".into(), |v| v.to_string());
            let pair = |v: &Vendor| format!("{}/{}", ms(v.latency_ms.p50), ms(v.latency_ms.p95));
            vec![
                td(&p.start),
                td(&p.proofing_lines.to_string()),
                cell_pair(
                    p.agreed,
                    (p.both_judged > 0).then(|| p.agreed as f64 / p.both_judged as f64),
                ),
                td(&pair(&p.lexisnexis)),
                td(&pair(&p.socure)),
                td(&p.socure.timeouts.to_string()),
                td(&p.socure.exceptions.to_string()),
            ]
        }),
    );
    out.push_str("</details>\n");

    let completeness = &report.completeness;
    out.push_str("<h2 id=completeness>Completeness</h2>\n");
    let _ = writeln!(
        out,
        "<p>{} shadowed requests accounted for: {} proofing lines, and {} shed at the mirror's door without a line of their own. Sampled-out requests have no line: the proxy counts them in <code>socure_shadow_proxy_mirrors_sampled_out_total</code>.</p>",
        completeness.shadowed_requests, input.proofing_lines, completeness.shed_requests,
    );
    counts_table(&mut out, "socure_outcome", &completeness.socure_outcome);
    counts_table(
        &mut out,
        "resolution_outcome",
        &completeness.resolution_outcome,
    );
    if !completeness.shed.is_empty() {
        counts_table(&mut out, "shed reason", &completeness.shed);
    }
    let _ = writeln!(
        out,
        "<p class=small>{} · {}</p></body></html>",
        escape(&report.generated_by),
        escape(report.schema)
    );
    Ok(out)
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
