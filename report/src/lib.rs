//! The `report` command: shadow lines in, the comparison the team decides on out, as text, JSON or one HTML page.
//!
//! The path of the data: [`input`] reads lines, [`line`](mod@line) reads what one line
//! says, [`tally`](mod@tally) counts it in fixed memory, [`schema`] is the result, and
//! `text` and `html` (sharing `tables`, with `charts`) or `serde_json`
//! render it. A crate of its own beside the judge, which is all it depends
//! on: the report is an offline reader of the log, and cannot touch the
//! proxy's runtime.

mod charts;
pub mod decision;
mod html;
pub mod input;
pub mod line;
pub mod schema;
mod tables;
pub mod tally;
mod text;

use std::io::Write as _;
use std::path::PathBuf;
use std::time::Instant;

use time::format_description::well_known::Rfc3339;
use time::macros::format_description;
use time::{Date, OffsetDateTime};

use decision::DecisionOptions;
use input::{Lines, Next, Source};
use schema::Report;
use tally::{Tally, Window};

/// The exit status when the report was written but a gate
/// (`--max-newly-rejected`, `--min-agreement`) does not hold.
pub const GATE_FAILED: u8 = 1;

/// How many reason codes each table and chart shows, unless told.
pub const DEFAULT_TOP: usize = 10;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Text,
    Json,
    Html,
}

/// What `report` was asked.
#[derive(Debug, Clone)]
pub struct Options {
    /// Empty means stdin.
    pub sources: Vec<Source>,
    pub window: Window,
    pub format: Format,
    /// `None`: stdout.
    pub out: Option<PathBuf>,
    pub top: usize,
    /// Say on stderr how many lines, how long and how much memory it took.
    pub stats: bool,
    /// Cost, catalogue and gates for the decision.
    pub decision: DecisionOptions,
}

/// The report's one error type; [`ReportError::exit_code`] is the only
/// mapping to exit statuses.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("cannot open {path}: {source}")]
    Open {
        path: String,
        source: std::io::Error,
    },
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("cannot write {path}: {source}")]
    Write {
        path: String,
        source: std::io::Error,
    },
    #[error("cannot draw the {chart} chart: {message}")]
    Chart {
        chart: &'static str,
        message: String,
    },
    #[error("cannot read the reason-code catalogue {path}: {message}")]
    Catalogue { path: String, message: String },
}

impl ReportError {
    /// sysexits: EX_NOINPUT, EX_IOERR, EX_CANTCREAT, EX_SOFTWARE,
    /// EX_DATAERR. A gate that fails is not an error: it is [`GATE_FAILED`].
    pub fn exit_code(&self) -> u8 {
        match self {
            ReportError::Open { .. } => 66,
            ReportError::Read { .. } => 74,
            ReportError::Write { .. } => 73,
            ReportError::Chart { .. } => 70,
            ReportError::Catalogue { .. } => 65,
        }
    }
}

/// Reads every source in order and counts it.
pub fn tally(options: &Options) -> Result<Report, ReportError> {
    let sources = if options.sources.is_empty() {
        vec![Source::Stdin]
    } else {
        options.sources.clone()
    };
    let progress = input::progress(&sources);
    let mut tally = Tally::new(options.window, options.top, options.decision.clone());
    for source in &sources {
        let mut lines = Lines::open(source, &progress)?;
        while let Some(next) = lines.next_line()? {
            match next {
                Next::TooLong => tally.too_long(),
                Next::Line(bytes) => match std::str::from_utf8(bytes) {
                    Ok(text) => tally.add(line::read(text)),
                    Err(_) => tally.add(line::Seen::Malformed),
                },
            }
        }
    }
    progress.finish_and_clear();
    Ok(tally.finish(sources.iter().map(Source::name).collect()))
}

/// The report in `format`.
pub fn render(report: &Report, format: Format) -> Result<String, ReportError> {
    match format {
        Format::Text => Ok(text::render(report)),
        Format::Json => {
            // Serialising plain data to a String cannot fail; the error arm
            // keeps that an assumption the type checks, not a panic.
            let mut json =
                serde_json::to_string_pretty(report).map_err(|err| ReportError::Chart {
                    chart: "json",
                    message: err.to_string(),
                })?;
            json.push('\n');
            Ok(json)
        }
        Format::Html => html::render(report),
    }
}

/// The whole command: read, count, render, write.
pub fn run(options: &Options) -> Result<Report, ReportError> {
    let started = Instant::now();
    let report = tally(options)?;
    let rendered = render(&report, options.format)?;
    match &options.out {
        Some(path) => std::fs::write(path, rendered).map_err(|err| ReportError::Write {
            path: path.display().to_string(),
            source: err,
        })?,
        None => std::io::stdout()
            .lock()
            .write_all(rendered.as_bytes())
            .map_err(|err| ReportError::Write {
                path: "stdout".into(),
                source: err,
            })?,
    }
    if options.stats {
        let memory = peak_memory_kib().map_or_else(|| "unknown".into(), |kib| format!("{kib} KiB"));
        eprintln!(
            "report: {} lines read in {:.2} s; peak memory {memory}",
            report.input.lines_read,
            started.elapsed().as_secs_f64(),
        );
    }
    Ok(report)
}

/// This process's peak resident memory in KiB (`VmHWM`), or `None` where
/// `/proc` does not say. It counts only this program: unlike `getrusage`'s
/// `ru_maxrss`, not the memory of the parent it was spawned from.
fn peak_memory_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()
}

/// A `--since`/`--until` value: RFC 3339, or a date meaning its midnight UTC.
pub fn parse_time(value: &str) -> Result<OffsetDateTime, String> {
    if let Ok(at) = OffsetDateTime::parse(value, &Rfc3339) {
        return Ok(at);
    }
    Date::parse(value, format_description!("[year]-[month]-[day]"))
        .map(|date| date.midnight().assume_utc())
        .map_err(|_| {
            format!("expected an RFC 3339 time (2026-11-01T00:00:00Z) or a date (2026-11-01), got {value:?}")
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_rfc3339_or_a_date_at_midnight_utc() {
        let at = parse_time("2026-11-01T05:00:00+05:00").expect("rfc 3339");
        assert_eq!(at.unix_timestamp(), 1_793_491_200);
        let day = parse_time("2026-11-01").expect("date");
        assert_eq!(day.unix_timestamp(), 1_793_491_200);
        assert!(parse_time("November").is_err());
    }
}
