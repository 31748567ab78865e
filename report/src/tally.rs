//! The running counts: one pass over the lines in memory that does not grow with their number, then the [`Report`].
//!
//! Memory is bounded by construction: fixed arrays for the matrix and the
//! attributes, histograms of fixed size for latency, capped maps for names
//! (reason codes and outcomes come from vendors and files, so their number
//! is not ours to trust), and a capped number of time buckets. What a cap
//! turns away is counted and reported, never silently lost.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};

use hdrhistogram::{Counter, Histogram};
use time::OffsetDateTime;
use time::format_description::FormatItem;
use time::macros::format_description;

use socure_shadow_judge::pair::{Agreement, Judged, SocureOutcome};
use socure_shadow_judge::resolution::ResolutionOutcome;
use strum::VariantArray as _;

use super::decision::{DecisionOptions, DecisionTally};
use super::line::{Proofing, Seen, Side};
use super::schema::{
    ATTRIBUTES, AgreementMatrix, AttributeRow, Attributes, COLUMNS, CellCodes, Column,
    Completeness, Count, Input, Interval, JUDGED_CELLS, Latency, Point, ROWS, ReasonCodes, Report,
    Row, SCHEMA, Series, Vendor, Vendors,
};

/// Distinct names kept per map (reason codes, outcomes, shed reasons).
/// Socure documents a few hundred reason codes.
pub const MAX_NAMES: usize = 2_000;
/// Names are cut to this many bytes (at a character boundary): a code is a
/// few characters, and a damaged file must not make each entry a megabyte.
pub const MAX_NAME_BYTES: usize = 64;
/// Time buckets kept: a week by the hour, then this many days (three years).
pub const MAX_BUCKETS: usize = 1_100;
/// The series turns from hours to days past this span.
const HOURLY_SPAN_SECONDS: i64 = 7 * 86_400;
/// Latencies are kept up to an hour; longer is counted as an hour.
const MAX_LATENCY_MS: u64 = 3_600_000;
/// In the series' buckets, up to ten minutes: a call longer than that is
/// counted as ten minutes there (and exactly in the overall figures). It
/// keeps each bucket's histograms at 7 KiB each.
const MAX_BUCKET_LATENCY_MS: u64 = 600_000;
/// Times as the lines write them: RFC 3339, UTC, milliseconds, `Z`.
const TIME_FORMAT: &[FormatItem<'static>] =
    format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z");
/// z for a two-sided 95% interval.
const Z_95: f64 = 1.959_963_984_540_054;

/// Where to cut: `since` inclusive, `until` exclusive.
#[derive(Debug, Default, Clone, Copy)]
pub struct Window {
    pub since: Option<OffsetDateTime>,
    pub until: Option<OffsetDateTime>,
}

impl Window {
    fn holds(&self, at: OffsetDateTime) -> bool {
        self.since.is_none_or(|s| at >= s) && self.until.is_none_or(|u| at < u)
    }
}

/// A name-to-count map that stops growing at [`MAX_NAMES`].
#[derive(Debug, Default)]
struct Names {
    counts: HashMap<String, u64>,
    beyond_limit: u64,
}

impl Names {
    fn add(&mut self, name: &str, n: u64) {
        let name = cut(name);
        if let Some(count) = self.counts.get_mut(name) {
            *count += n;
        } else if self.counts.len() < MAX_NAMES {
            self.counts.insert(name.to_owned(), n);
        } else {
            self.beyond_limit += n;
        }
    }

    /// The `top` largest (all when `None`), largest first, ties by name.
    fn ranked(&self, top: Option<usize>, of: u64) -> Vec<Count> {
        let mut all: Vec<(&String, &u64)> = self.counts.iter().collect();
        all.sort_by(|a, b| b.1.cmp(a.1).then_with(|| a.0.cmp(b.0)));
        all.into_iter()
            .take(top.unwrap_or(usize::MAX))
            .map(|(name, &count)| Count {
                name: name.clone(),
                count,
                share: share(count, of),
            })
            .collect()
    }
}

/// `name` up to [`MAX_NAME_BYTES`], ending at a character boundary.
pub(crate) fn cut(name: &str) -> &str {
    &name[..name.floor_char_boundary(MAX_NAME_BYTES)]
}

/// Calls, failures and latency of one vendor (overall, or in one bucket:
/// there, `u32` counts halve the size of the many histograms).
struct VendorTally<C: Counter> {
    calls: u64,
    timeouts: u64,
    exceptions: u64,
    latency: Histogram<C>,
}

impl<C: Counter> VendorTally<C> {
    /// 3 significant figures up to an hour overall (exact below 2,048 ms);
    /// 2 up to ten minutes in the series' buckets, whose histograms there
    /// are many of.
    fn new(overall: bool) -> Self {
        let (highest, sigfig) = if overall {
            (MAX_LATENCY_MS, 3)
        } else {
            (MAX_BUCKET_LATENCY_MS, 2)
        };
        Self {
            calls: 0,
            timeouts: 0,
            exceptions: 0,
            // Constant, valid bounds: no input can make this fail.
            latency: Histogram::new_with_bounds(1, highest, sigfig)
                .expect("constant histogram bounds are valid"),
        }
    }

    fn call(&mut self, side: &Side<'_>, elapsed_ms: Option<u64>) {
        self.calls += 1;
        if side.timed_out {
            self.timeouts += 1;
        } else if side.exception.is_some() {
            self.exceptions += 1;
        }
        if let Some(ms) = elapsed_ms {
            self.latency.saturating_record(ms.min(self.latency.high()));
        }
    }

    fn merge(&mut self, other: &VendorTally<C>) {
        self.calls += other.calls;
        self.timeouts += other.timeouts;
        self.exceptions += other.exceptions;
        // Same bounds and precision on both sides: `add` cannot fail.
        let _ = self.latency.add(&other.latency);
    }

    fn report(&self) -> Vendor {
        let samples = self.latency.len();
        let at = |q: f64| (samples > 0).then(|| self.latency.value_at_quantile(q));
        Vendor {
            calls: self.calls,
            timeouts: self.timeouts,
            timeout_share: share(self.timeouts, self.calls),
            exceptions: self.exceptions,
            exception_share: share(self.exceptions, self.calls),
            latency_ms: Latency {
                samples,
                p50: at(0.50),
                p95: at(0.95),
                p99: at(0.99),
                max: (samples > 0).then(|| self.latency.max()),
            },
        }
    }
}

/// One bucket of the series.
struct Bucket {
    proofing_lines: u64,
    both_judged: u64,
    agreed: u64,
    lexisnexis: VendorTally<u32>,
    socure: VendorTally<u32>,
}

impl Bucket {
    fn new() -> Self {
        Self {
            proofing_lines: 0,
            both_judged: 0,
            agreed: 0,
            lexisnexis: VendorTally::new(false),
            socure: VendorTally::new(false),
        }
    }
}

/// The series by hour, folded into days once it spans more than a week.
struct Timeline {
    by_day: bool,
    buckets: BTreeMap<i64, Bucket>,
    beyond_limit: u64,
}

impl Timeline {
    fn bucket_seconds(&self) -> i64 {
        if self.by_day { 86_400 } else { 3_600 }
    }

    /// The bucket for a line at `unix` seconds, or `None` past the limit.
    fn bucket(&mut self, unix: i64) -> Option<&mut Bucket> {
        if !self.by_day {
            let first = self.buckets.first_key_value().map_or(unix, |(k, _)| *k);
            let last = self.buckets.last_key_value().map_or(unix, |(k, _)| *k);
            if last.max(unix) - first.min(unix) >= HOURLY_SPAN_SECONDS {
                self.fold_into_days();
            }
        }
        let key = unix - unix.rem_euclid(self.bucket_seconds());
        if !self.buckets.contains_key(&key) && self.buckets.len() >= MAX_BUCKETS {
            self.beyond_limit += 1;
            return None;
        }
        Some(self.buckets.entry(key).or_insert_with(Bucket::new))
    }

    fn fold_into_days(&mut self) {
        self.by_day = true;
        let hours = std::mem::take(&mut self.buckets);
        for (hour, bucket) in hours {
            let day = self
                .buckets
                .entry(hour - hour.rem_euclid(86_400))
                .or_insert_with(Bucket::new);
            day.proofing_lines += bucket.proofing_lines;
            day.both_judged += bucket.both_judged;
            day.agreed += bucket.agreed;
            day.lexisnexis.merge(&bucket.lexisnexis);
            day.socure.merge(&bucket.socure);
        }
    }
}

/// Everything counted so far.
pub struct Tally {
    window: Window,
    top: usize,
    lines_read: u64,
    proofing_lines: u64,
    shed_lines: u64,
    other_events: u64,
    malformed: u64,
    outside_window: u64,
    first: Option<OffsetDateTime>,
    last: Option<OffsetDateTime>,
    matrix: [[u64; 5]; 3],
    lexisnexis_judged: u64,
    socure_judged: u64,
    both_judged: u64,
    socure_failures: u64,
    /// Per attribute: flagged by LexisNexis, unverified by Socure, both,
    /// unverified on a Socure failure.
    attributes: [[u64; 4]; 5],
    other_lexisnexis: Names,
    codes: Names,
    /// Lines and codes by the judge's agreement (`as usize`), for the
    /// [`JUDGED_CELLS`].
    cell_lines: [u64; Agreement::VARIANTS.len()],
    codes_by_cell: [Names; Agreement::VARIANTS.len()],
    lexisnexis: VendorTally<u64>,
    socure: VendorTally<u64>,
    timeline: Timeline,
    socure_outcomes: Names,
    resolution_outcomes: Names,
    shed: Names,
    decision: DecisionTally,
    asked: DecisionOptions,
}

/// Whether the LexisNexis call was made and ended. Every outcome is named,
/// so a new one in the judge is decided here before the report builds.
fn lexisnexis_called(outcome: ResolutionOutcome) -> bool {
    match outcome {
        ResolutionOutcome::Answered
        | ResolutionOutcome::UpstreamTimeout
        | ResolutionOutcome::UpstreamUnreachable
        | ResolutionOutcome::UpstreamFailed => true,
        ResolutionOutcome::ClientGone
        | ResolutionOutcome::RequestUnreadable
        | ResolutionOutcome::RequestRefused
        | ResolutionOutcome::Abandoned
        | ResolutionOutcome::Shutdown
        | ResolutionOutcome::InternalError => false,
    }
}

impl Tally {
    pub fn new(window: Window, top: usize, asked: DecisionOptions) -> Self {
        Self {
            window,
            top,
            lines_read: 0,
            proofing_lines: 0,
            shed_lines: 0,
            other_events: 0,
            malformed: 0,
            outside_window: 0,
            first: None,
            last: None,
            matrix: [[0; 5]; 3],
            lexisnexis_judged: 0,
            socure_judged: 0,
            both_judged: 0,
            socure_failures: 0,
            attributes: [[0; 4]; 5],
            other_lexisnexis: Names::default(),
            codes: Names::default(),
            cell_lines: Default::default(),
            codes_by_cell: Default::default(),
            lexisnexis: VendorTally::new(true),
            socure: VendorTally::new(true),
            timeline: Timeline {
                by_day: false,
                buckets: BTreeMap::new(),
                beyond_limit: 0,
            },
            socure_outcomes: Names::default(),
            resolution_outcomes: Names::default(),
            shed: Names::default(),
            decision: DecisionTally::default(),
            asked,
        }
    }

    /// A line too long to read whole: counted as malformed.
    pub fn too_long(&mut self) {
        self.lines_read += 1;
        self.malformed += 1;
    }

    pub fn add(&mut self, seen: Seen<'_>) {
        self.lines_read += 1;
        match seen {
            Seen::Malformed => self.malformed += 1,
            Seen::OtherEvent => self.other_events += 1,
            Seen::Shed { at, .. } if !self.window.holds(at) => self.outside_window += 1,
            Seen::Proofing(line) if !self.window.holds(line.at) => self.outside_window += 1,
            Seen::Shed { at, count, reason } => {
                self.seen_at(at);
                self.shed_lines += 1;
                self.shed.add(&reason, count);
            }
            Seen::Proofing(line) => self.proofing(&line),
        }
    }

    fn seen_at(&mut self, at: OffsetDateTime) {
        self.first = Some(self.first.map_or(at, |f| f.min(at)));
        self.last = Some(self.last.map_or(at, |l| l.max(at)));
    }

    fn proofing(&mut self, line: &Proofing<'_>) {
        self.seen_at(line.at);
        self.proofing_lines += 1;
        self.socure_outcomes.add(&line.socure_outcome.text, 1);
        self.resolution_outcomes
            .add(&line.resolution_outcome.text, 1);

        let row = row(&line.resolution);
        let column = column(line);
        self.matrix[row as usize][column as usize] += 1;
        let cell = cell(row, column);
        if let Some(cell) = cell {
            self.cell_lines[cell as usize] += 1;
        }
        let judged = cell.is_some();
        let agreed = matches!(cell, Some(Agreement::BothPass | Agreement::BothFail));

        // An outcome this build does not know is not counted as a call.
        let lexisnexis_called = line.resolution_outcome.known.is_some_and(lexisnexis_called);
        if lexisnexis_called {
            self.lexisnexis
                .call(&line.resolution, line.resolution_elapsed_ms);
        }
        if let Some(socure) = &line.socure {
            self.socure.call(socure, line.socure_elapsed_ms);
        }
        if let Some(bucket) = self.timeline.bucket(line.at.unix_timestamp()) {
            bucket.proofing_lines += 1;
            bucket.both_judged += u64::from(judged);
            bucket.agreed += u64::from(agreed);
            if lexisnexis_called {
                bucket
                    .lexisnexis
                    .call(&line.resolution, line.resolution_elapsed_ms);
            }
            if let Some(socure) = &line.socure {
                bucket.socure.call(socure, line.socure_elapsed_ms);
            }
        }

        self.attributes_of(line, row, column);
        if socure_judged(column) {
            self.reason_codes_of(line, cell);
        }
        if line.socure_outcome.known == Some(SocureOutcome::Answered) {
            self.decision.socure_answered();
        }
        if let Some(cell) = cell {
            let verified = line
                .socure
                .as_ref()
                .and_then(|s| s.verified_attributes.as_deref())
                .unwrap_or_default();
            self.decision.judged(cell, line.at, verified);
        }
    }

    /// Socure's reason codes on a line it judged, overall and in the line's
    /// judged cell.
    fn reason_codes_of(&mut self, line: &Proofing<'_>, cell: Option<Agreement>) {
        let codes = line
            .socure
            .as_ref()
            .map_or(&[][..], |s| &s.errors.reason_codes);
        let mut previous: Option<&str> = None;
        // Judged lines carry them sorted and unique; counted once per line
        // even if an older writer repeated one.
        let mut sorted: Vec<&str> = codes.iter().map(AsRef::as_ref).collect();
        sorted.sort_unstable();
        for code in sorted {
            if previous == Some(code) {
                continue;
            }
            previous = Some(code);
            self.codes.add(code, 1);
            if let Some(cell) = cell {
                self.codes_by_cell[cell as usize].add(code, 1);
            }
        }
    }

    fn attributes_of(&mut self, line: &Proofing<'_>, row: Row, column: Column) {
        let lexisnexis_judged = row != Row::Exception;
        // Pass or fail means `verified_attributes` was read; an older line
        // without it counts as judged with none verified.
        let socure_verified = socure_judged(column).then(|| {
            line.socure
                .as_ref()
                .and_then(|s| s.verified_attributes.as_deref())
                .unwrap_or_default()
        });
        self.lexisnexis_judged += u64::from(lexisnexis_judged);
        self.socure_judged += u64::from(socure_verified.is_some());
        self.both_judged += u64::from(lexisnexis_judged && socure_verified.is_some());
        let socure_failed = column == Column::Fail;
        self.socure_failures += u64::from(socure_failed);
        let asked = &line.resolution.attributes_requiring_additional_verification;
        if lexisnexis_judged {
            for name in asked {
                // Names this build does not know (another version's) are
                // other attributes too, under their own name.
                if !name.parse().is_ok_and(|a| ATTRIBUTES.contains(&a)) {
                    self.other_lexisnexis.add(name, 1);
                }
            }
        }
        for (i, attribute) in ATTRIBUTES.iter().enumerate() {
            let is = |name: &Cow<'_, str>| *name == attribute.label();
            let flagged = lexisnexis_judged && asked.iter().any(is);
            let unverified = socure_verified.is_some_and(|v| !v.iter().any(is));
            let counts = &mut self.attributes[i];
            counts[0] += u64::from(flagged);
            counts[1] += u64::from(unverified);
            counts[2] += u64::from(flagged && unverified);
            counts[3] += u64::from(socure_failed && unverified);
        }
    }

    pub fn finish(self, sources: Vec<String>) -> Report {
        let shed_requests: u64 = self.shed.counts.values().sum::<u64>() + self.shed.beyond_limit;
        Report {
            schema: SCHEMA,
            generated_by: format!("socure-shadow-proxy {}", env!("CARGO_PKG_VERSION")),
            decision: self.decision.finish(
                &self.cell_lines,
                self.first.zip(self.last),
                &self.asked,
            ),
            input: self.input(sources),
            agreement: self.agreement(),
            attributes: self.attributes(),
            reason_codes: self.reason_codes(),
            vendors: Vendors {
                lexisnexis: self.lexisnexis.report(),
                socure: self.socure.report(),
            },
            series: self.series(),
            completeness: Completeness {
                socure_outcome: self.socure_outcomes.ranked(None, self.proofing_lines),
                resolution_outcome: self.resolution_outcomes.ranked(None, self.proofing_lines),
                shed: self.shed.ranked(None, shed_requests),
                shed_requests,
                shadowed_requests: self.proofing_lines + shed_requests,
            },
        }
    }

    fn input(&self, sources: Vec<String>) -> Input {
        Input {
            sources,
            since: time(self.window.since),
            until: time(self.window.until),
            lines_read: self.lines_read,
            proofing_lines: self.proofing_lines,
            shed_lines: self.shed_lines,
            other_events: self.other_events,
            malformed: self.malformed,
            outside_window: self.outside_window,
            first_time: time(self.first),
            last_time: time(self.last),
        }
    }

    fn agreement(&self) -> AgreementMatrix {
        let judged: u64 = JUDGED_CELLS
            .iter()
            .map(|&c| self.cell_lines[c as usize])
            .sum();
        let agreed = self.cell_lines[Agreement::BothPass as usize]
            + self.cell_lines[Agreement::BothFail as usize];
        AgreementMatrix {
            rows: ROWS,
            columns: COLUMNS,
            counts: self.matrix,
            shares: self
                .matrix
                .map(|row| row.map(|n| share(n, self.proofing_lines))),
            both_judged: judged,
            agreed,
            rate: share(agreed, judged),
            wilson_95: wilson(agreed, judged),
        }
    }

    fn attributes(&self) -> Attributes {
        Attributes {
            lexisnexis_judged: self.lexisnexis_judged,
            socure_judged: self.socure_judged,
            both_judged: self.both_judged,
            socure_failures: self.socure_failures,
            rows: ATTRIBUTES
                .iter()
                .zip(self.attributes)
                .map(
                    |(attribute, [flagged, unverified, both, explained])| AttributeRow {
                        attribute: attribute.label(),
                        lexisnexis_flagged: flagged,
                        lexisnexis_flagged_share: share(flagged, self.lexisnexis_judged),
                        socure_unverified: unverified,
                        socure_unverified_share: share(unverified, self.socure_judged),
                        both,
                        both_share: share(both, self.both_judged),
                        socure_failures_explained: explained,
                        socure_failures_explained_share: share(explained, self.socure_failures),
                    },
                )
                .collect(),
            other_lexisnexis: self.other_lexisnexis.ranked(None, self.lexisnexis_judged),
        }
    }

    fn reason_codes(&self) -> ReasonCodes {
        let top = self.codes.ranked(Some(self.top), self.socure_judged);
        let by_cell: Vec<CellCodes> = JUDGED_CELLS
            .iter()
            .map(|&cell| {
                let lines = self.cell_lines[cell as usize];
                CellCodes {
                    cell: cell.label(),
                    lines,
                    top: self.codes_by_cell[cell as usize].ranked(Some(self.top), lines),
                }
            })
            .collect();
        let meanings = match &self.asked.catalogue {
            Some(catalogue) => top
                .iter()
                .chain(by_cell.iter().flat_map(|cell| &cell.top))
                .filter_map(|code| {
                    let meaning = catalogue.meaning(&code.name)?;
                    Some((code.name.clone(), meaning.to_owned()))
                })
                .collect(),
            None => BTreeMap::new(),
        };
        ReasonCodes {
            socure_judged: self.socure_judged,
            distinct: self.codes.counts.len() as u64,
            beyond_limit: self.codes.beyond_limit,
            top,
            by_cell,
            meanings,
        }
    }

    fn series(&self) -> Series {
        Series {
            bucket: if self.timeline.by_day { "day" } else { "hour" },
            points: self
                .timeline
                .buckets
                .iter()
                .map(|(start, bucket)| Point {
                    start: time(OffsetDateTime::from_unix_timestamp(*start).ok())
                        .unwrap_or_default(),
                    proofing_lines: bucket.proofing_lines,
                    both_judged: bucket.both_judged,
                    agreed: bucket.agreed,
                    lexisnexis: bucket.lexisnexis.report(),
                    socure: bucket.socure.report(),
                })
                .collect(),
            lines_beyond_limit: self.timeline.beyond_limit,
        }
    }
}

/// A time as the report writes it, or `null`.
pub(crate) fn time(at: Option<OffsetDateTime>) -> Option<String> {
    at.and_then(|t| t.format(TIME_FORMAT).ok())
}

/// The LexisNexis row: an exception, else pass or fail.
fn row(resolution: &Side<'_>) -> Row {
    match (resolution.exception.is_some(), resolution.success) {
        (true, _) => Row::Exception,
        (false, true) => Row::Pass,
        (false, false) => Row::Fail,
    }
}

/// The Socure column: not called, timed out, an exception, else pass or fail.
fn column(line: &Proofing<'_>) -> Column {
    let timed_out = line.socure_outcome.known == Some(SocureOutcome::TimedOut);
    match &line.socure {
        None => Column::NotCalled,
        Some(s) if s.timed_out || timed_out => Column::TimedOut,
        Some(s) if s.exception.is_some() => Column::Exception,
        Some(s) if s.success => Column::Pass,
        Some(_) => Column::Fail,
    }
}

/// Whether Socure judged the applicant (pass or fail).
fn socure_judged(column: Column) -> bool {
    matches!(column, Column::Pass | Column::Fail)
}

/// The judge's agreement, for a line both vendors judged; `None` otherwise.
fn cell(row: Row, column: Column) -> Option<Agreement> {
    let judged = |success| Judged {
        success,
        exception: false,
    };
    let lexisnexis = match row {
        Row::Pass => true,
        Row::Fail => false,
        Row::Exception => return None,
    };
    let socure = match column {
        Column::Pass => true,
        Column::Fail => false,
        Column::Exception | Column::TimedOut | Column::NotCalled => return None,
    };
    Some(Agreement::between(judged(lexisnexis), Some(judged(socure))))
}

pub(crate) fn share(count: u64, of: u64) -> Option<f64> {
    (of > 0).then(|| count as f64 / of as f64)
}

/// The Wilson score interval at 95% for `successes` of `n`: it stays inside
/// [0, 1] and is honest for small samples and rates near 0 or 1, where the
/// normal approximation is not.
pub fn wilson(successes: u64, n: u64) -> Option<Interval> {
    if n == 0 {
        return None;
    }
    let n = n as f64;
    let p = successes as f64 / n;
    let z2 = Z_95 * Z_95;
    let denominator = 1.0 + z2 / n;
    let center = (p + z2 / (2.0 * n)) / denominator;
    let half = Z_95 / denominator * (p * (1.0 - p) / n + z2 / (4.0 * n * n)).sqrt();
    Some(Interval {
        low: (center - half).max(0.0),
        high: (center + half).min(1.0),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::line::read;

    #[test]
    fn names_stop_growing_at_the_limit_and_are_cut_short() {
        let mut names = Names::default();
        for i in 0..MAX_NAMES + 10 {
            names.add(&format!("R{i}"), 1);
        }
        names.add("R0", 2);
        assert_eq!(names.counts.len(), MAX_NAMES);
        assert_eq!(names.beyond_limit, 10);
        assert_eq!(names.counts["R0"], 3);
        let long = "é".repeat(100);
        assert_eq!(cut(&long).len(), MAX_NAME_BYTES);
        assert_eq!(cut("I919"), "I919");
        let mut one = Names::default();
        one.add(&long, 1);
        one.add(&format!("{long}x"), 1);
        assert_eq!(one.counts.values().copied().collect::<Vec<_>>(), [2]);
    }

    /// A proofing line: LexisNexis passed, Socure's result an exception
    /// without `timed_out`, the two outcome labels as given.
    fn proofing_line(resolution_outcome: &str, socure_outcome: &str) -> String {
        format!(
            r#"{{"name":"idv_socure_shadow_mode_proofing_result","time":"2026-11-01T00:00:00.000Z","properties":{{"event_properties":{{"resolution_result":{{"success":true}},"socure_result":{{"success":false,"exception":"x"}},"resolution_outcome":"{resolution_outcome}","resolution_elapsed_ms":5,"socure_outcome":"{socure_outcome}","socure_elapsed_ms":7}}}}}}"#
        )
    }

    #[test]
    fn outcomes_decide_as_the_judges_enums_and_unknown_ones_are_kept_by_name() {
        let mut tally = Tally::new(Window::default(), 10, DecisionOptions::default());
        // Spelled by the judge, whatever its spelling: a timed-out call is
        // the timed_out column even where the result does not say so.
        for socure in SocureOutcome::VARIANTS {
            let resolution = ResolutionOutcome::UpstreamTimeout.into();
            tally.add(read(&proofing_line(resolution, socure.label())));
        }
        // From another version: neither label is one this build knows.
        tally.add(read(&proofing_line("upstream_retried", "timed_out_twice")));
        let report = tally.finish(Vec::new());
        let counts = report.agreement.counts[Row::Pass as usize];
        assert_eq!(counts[Column::TimedOut as usize], 1, "{counts:?}");
        assert_eq!(
            counts[Column::Exception as usize],
            SocureOutcome::VARIANTS.len() as u64,
            "{counts:?}"
        );
        // Only the known outcome that means a call counts as one.
        assert_eq!(
            report.vendors.lexisnexis.calls,
            SocureOutcome::VARIANTS.len() as u64
        );
        assert_eq!(report.vendors.socure.calls, 9);
        let named =
            |counts: &[Count], name: &str| counts.iter().find(|c| c.name == name).map(|c| c.count);
        let completeness = &report.completeness;
        assert_eq!(
            named(&completeness.socure_outcome, "timed_out_twice"),
            Some(1)
        );
        assert_eq!(
            named(
                &completeness.socure_outcome,
                SocureOutcome::TimedOut.label()
            ),
            Some(1)
        );
        assert_eq!(
            named(&completeness.resolution_outcome, "upstream_retried"),
            Some(1)
        );
        assert_eq!(report.input.malformed, 0);
    }

    #[test]
    fn the_series_keeps_at_most_its_bucket_limit() {
        let mut timeline = Timeline {
            by_day: false,
            buckets: BTreeMap::new(),
            beyond_limit: 0,
        };
        for day in 0..(MAX_BUCKETS as i64 + 5) {
            let _ = timeline.bucket(day * 86_400);
        }
        assert!(timeline.by_day);
        assert_eq!(timeline.buckets.len(), MAX_BUCKETS);
        assert_eq!(timeline.beyond_limit, 5);
    }

    #[test]
    fn wilson_matches_hand_computed_values() {
        // 81 of 263: the example in Wilson (1927) as usually quoted,
        // [0.2553, 0.3662]; and the edge cases.
        let i = wilson(81, 263).expect("interval");
        assert!(
            (i.low - 0.2553).abs() < 5e-4 && (i.high - 0.3662).abs() < 5e-4,
            "{i:?}"
        );
        let all = wilson(10, 10).expect("interval");
        assert!(
            (all.low - 0.7225).abs() < 5e-4 && (all.high - 1.0).abs() < 1e-12,
            "{all:?}"
        );
        let none = wilson(0, 10).expect("interval");
        assert!(
            none.low.abs() < 1e-12 && (none.high - 0.2775).abs() < 5e-4,
            "{none:?}"
        );
        assert_eq!(wilson(0, 0), None);
    }
}
