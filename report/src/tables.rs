//! The report's tables as rows of cells, built once for the text and the HTML formats, so the two can never disagree on a column.
//!
//! A cell says what it holds (a count with its share, milliseconds...);
//! each format decides only how that looks.

use super::schema::{COLUMNS, Count, ROWS, Rate, Report, Vendor};

pub enum Cell {
    Text(String),
    /// Free text read from the left, such as a list of codes.
    List(String),
    Number(u64),
    /// A count, and its share of the denominator the table names.
    Share(u64, Option<f64>),
    Percent(Option<f64>),
    /// `-` when there is no value.
    Millis(Option<u64>),
}

pub struct Table {
    pub header: Vec<&'static str>,
    pub rows: Vec<Vec<Cell>>,
}

/// A share as a person reads it: `12.5%`, or `-` without a denominator.
pub fn percent(share: Option<f64>) -> String {
    share.map_or_else(|| "-".into(), |s| format!("{:.1}%", s * 100.0))
}

fn millis(value: Option<u64>) -> String {
    value.map_or_else(|| "-".into(), |v| v.to_string())
}

impl Cell {
    /// The cell as plain text.
    pub fn text(&self) -> String {
        match self {
            Cell::Text(text) | Cell::List(text) => text.clone(),
            Cell::Number(n) => n.to_string(),
            Cell::Share(n, share) => format!("{n} ({})", percent(*share)),
            Cell::Percent(share) => percent(*share),
            Cell::Millis(value) => millis(*value),
        }
    }
}

fn text(value: &str) -> Cell {
    Cell::Text(value.to_owned())
}

/// LexisNexis rows by Socure columns, count and share of all lines.
pub fn agreement(report: &Report) -> Table {
    let mut header = vec!["LexisNexis \\ Socure"];
    header.extend(COLUMNS);
    let a = &report.agreement;
    Table {
        header,
        rows: ROWS
            .iter()
            .enumerate()
            .map(|(r, row)| {
                let mut cells = vec![text(row)];
                cells.extend(
                    (0..COLUMNS.len()).map(|c| Cell::Share(a.counts[r][c], a.shares[r][c])),
                );
                cells
            })
            .collect(),
    }
}

pub fn attributes(report: &Report) -> Table {
    Table {
        header: vec![
            "attribute",
            "LexisNexis asked",
            "Socure unverified",
            "both",
            "in Socure failures",
        ],
        rows: report
            .attributes
            .rows
            .iter()
            .map(|row| {
                vec![
                    text(row.attribute),
                    Cell::Share(row.lexisnexis_flagged, row.lexisnexis_flagged_share),
                    Cell::Share(row.socure_unverified, row.socure_unverified_share),
                    Cell::Share(row.both, row.both_share),
                    Cell::Share(
                        row.socure_failures_explained,
                        row.socure_failures_explained_share,
                    ),
                ]
            })
            .collect(),
    }
}

/// `25.8–32.3%`, or `-`.
fn interval(rate: &Rate) -> Cell {
    Cell::Text(rate.wilson_95.map_or_else(
        || "-".into(),
        |i| {
            format!(
                "{}–{}",
                percent(Some(i.low)).trim_end_matches('%'),
                percent(Some(i.high))
            )
        },
    ))
}

/// The decision's figures: each a count of a denominator, its share and
/// the share's interval.
pub fn decision(report: &Report) -> Table {
    let d = &report.decision;
    let row = |figure: &str, of: &str, rate: &Rate| {
        vec![
            text(figure),
            Cell::Number(rate.count),
            Cell::Text(format!("{} {of}", rate.of)),
            Cell::Percent(rate.rate),
            interval(rate),
        ]
    };
    Table {
        header: vec!["figure", "applicants", "of", "share", "95% interval"],
        rows: vec![
            row("LexisNexis passes", "both judged", &d.lexisnexis_pass),
            row("Socure passes", "both judged", &d.socure_pass),
            row("agreement", "both judged", &d.agreement),
            row(
                "newly rejected (LexisNexis passes, Socure fails)",
                "LexisNexis passes",
                &d.newly_rejected,
            ),
            row(
                "newly accepted (LexisNexis fails, Socure passes)",
                "LexisNexis fails",
                &d.newly_accepted,
            ),
        ],
    }
}

/// Agreement and newly rejected per UTC day.
pub fn decision_by_day(report: &Report) -> Table {
    Table {
        header: vec![
            "day",
            "both judged",
            "agreed",
            "LexisNexis passes",
            "newly rejected",
        ],
        rows: report
            .decision
            .by_day
            .iter()
            .map(|day| {
                vec![
                    text(day.start.get(..10).unwrap_or(&day.start)),
                    Cell::Number(day.both_judged),
                    Cell::Share(day.agreed, day.agreement),
                    Cell::Number(day.lexisnexis_passes),
                    Cell::Share(day.newly_rejected, day.newly_rejected_share),
                ]
            })
            .collect(),
    }
}

/// The top reason codes, with the operator's meaning beside each when a
/// catalogue was given.
pub fn codes(report: &Report) -> Table {
    let codes = &report.reason_codes;
    let mut table = counts("code", &codes.top);
    if !codes.meanings.is_empty() {
        table.header.push("meaning");
        for (row, code) in table.rows.iter_mut().zip(&codes.top) {
            let meaning = codes.meanings.get(&code.name).map_or("-", String::as_str);
            row.push(Cell::List(meaning.to_owned()));
        }
    }
    table
}

/// Names with their counts and shares (codes, outcomes, shed reasons).
pub fn counts(what: &'static str, counts: &[Count]) -> Table {
    Table {
        header: vec![what, "lines", "share"],
        rows: counts
            .iter()
            .map(|c| vec![text(&c.name), Cell::Number(c.count), Cell::Percent(c.share)])
            .collect(),
    }
}

/// `I919 6 (100.0%), R705 2 (33.3%)`, or `none`.
pub fn in_a_line(counts: &[Count]) -> String {
    if counts.is_empty() {
        return "none".into();
    }
    counts
        .iter()
        .map(|c| format!("{} {} ({})", c.name, c.count, percent(c.share)))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The most frequent codes within each cell where both vendors judged.
pub fn codes_by_cell(report: &Report) -> Table {
    Table {
        header: vec![
            "cell",
            "lines",
            "most frequent codes (share of the cell's lines)",
        ],
        rows: report
            .reason_codes
            .by_cell
            .iter()
            .map(|cell| {
                vec![
                    text(cell.cell),
                    Cell::Number(cell.lines),
                    Cell::List(in_a_line(&cell.top)),
                ]
            })
            .collect(),
    }
}

pub fn vendors(report: &Report) -> Table {
    let row = |name: &str, v: &Vendor| {
        vec![
            text(name),
            Cell::Number(v.calls),
            Cell::Share(v.timeouts, v.timeout_share),
            Cell::Share(v.exceptions, v.exception_share),
            Cell::Millis(v.latency_ms.p50),
            Cell::Millis(v.latency_ms.p95),
            Cell::Millis(v.latency_ms.p99),
            Cell::Millis(v.latency_ms.max),
        ]
    };
    Table {
        header: vec![
            "vendor",
            "calls",
            "timeouts",
            "exceptions",
            "p50 ms",
            "p95 ms",
            "p99 ms",
            "max ms",
        ],
        rows: vec![
            row("LexisNexis", &report.vendors.lexisnexis),
            row("Socure", &report.vendors.socure),
        ],
    }
}

pub fn series(report: &Report) -> Table {
    let p50_p95 = |v: &Vendor| {
        Cell::Text(format!(
            "{}/{}",
            millis(v.latency_ms.p50),
            millis(v.latency_ms.p95)
        ))
    };
    Table {
        header: vec![
            "start",
            "lines",
            "agreed",
            "LexisNexis p50/p95 ms",
            "Socure p50/p95 ms",
            "Socure timeouts",
            "Socure exceptions",
        ],
        rows: report
            .series
            .points
            .iter()
            .map(|p| {
                vec![
                    text(&p.start),
                    Cell::Number(p.proofing_lines),
                    Cell::Share(
                        p.agreed,
                        (p.both_judged > 0).then(|| p.agreed as f64 / p.both_judged as f64),
                    ),
                    p50_p95(&p.lexisnexis),
                    p50_p95(&p.socure),
                    Cell::Number(p.socure.timeouts),
                    Cell::Number(p.socure.exceptions),
                ]
            })
            .collect(),
    }
}

/// Lines by each outcome, then the shed requests by reason when there are any.
pub fn completeness(report: &Report) -> Vec<Table> {
    let c = &report.completeness;
    let mut tables = vec![
        counts("socure_outcome", &c.socure_outcome),
        counts("resolution_outcome", &c.resolution_outcome),
    ];
    if !c.shed.is_empty() {
        tables.push(counts("shed reason", &c.shed));
    }
    tables
}
