//! The report as data: the one structure the text, JSON and HTML formats all render, and so the JSON schema.
//!
//! `--format json` is this structure serialised; docs/report.md documents it
//! field by field. Fields are added, never renamed or retyped, within one
//! `schema` value. Every share comes with the counts it was computed from,
//! and is `null` when its denominator is zero.

use serde::Serialize;
use socure_shadow_judge::pair::Agreement;
use socure_shadow_judge::verdict::Attribute;
use strum::VariantNames;

/// The `schema` value of this layout.
/// v2 added `decision` (first) and `reason_codes.meanings`; everything of
/// v1 is there unchanged.
pub const SCHEMA: &str = "socure-shadow-proxy.report.v2";

/// The LexisNexis rows of the agreement matrix, in order (`counts[row as usize]`).
///
/// The matrix's words are the report's own (`schema` v1), not outcome labels
/// of the judge: a line's column is decided from its result and the judge's
/// [`SocureOutcome`](socure_shadow_judge::pair::SocureOutcome), read as the enum.
#[derive(Debug, Clone, Copy, PartialEq, Eq, strum::IntoStaticStr, strum::VariantNames)]
#[strum(serialize_all = "snake_case")]
pub enum Row {
    Pass,
    Fail,
    Exception,
}

/// The Socure columns of the agreement matrix, in order (`counts[..][column as usize]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, strum::IntoStaticStr, strum::VariantNames)]
#[strum(serialize_all = "snake_case")]
pub enum Column {
    Pass,
    Fail,
    Exception,
    TimedOut,
    NotCalled,
}

/// [`Row`]'s labels, in order.
pub const ROWS: &[&str] = <Row as VariantNames>::VARIANTS;
/// [`Column`]'s labels, in order.
pub const COLUMNS: &[&str] = <Column as VariantNames>::VARIANTS;
/// The cells where both vendors judged the applicant, in order: the judge's
/// [`Agreement`]s but the one that needs an exception or no Socure result.
pub const JUDGED_CELLS: [Agreement; 4] = [
    Agreement::BothPass,
    Agreement::OnlyLexisNexisPasses,
    Agreement::OnlySocurePasses,
    Agreement::BothFail,
];
/// The attributes both vendors can speak about, in order.
pub const ATTRIBUTES: [Attribute; 5] = [
    Attribute::Address,
    Attribute::Ssn,
    Attribute::Dob,
    Attribute::FirstName,
    Attribute::LastName,
];

#[derive(Debug, Serialize)]
pub struct Report {
    pub schema: &'static str,
    pub generated_by: String,
    /// What switching to Socure would change, and whether the operator's
    /// limits hold: the question the report exists for, so it comes first.
    pub decision: Decision,
    pub input: Input,
    pub agreement: AgreementMatrix,
    pub attributes: Attributes,
    pub reason_codes: ReasonCodes,
    pub vendors: Vendors,
    pub series: Series,
    pub completeness: Completeness,
}

/// What switching from LexisNexis to Socure would change, over the
/// applicants both vendors judged (pass or fail on each side: the
/// agreement matrix's four judged cells).
#[derive(Debug, Serialize)]
pub struct Decision {
    /// The sentence every format opens with: the newly rejected share and,
    /// when limits were given, whether each holds.
    pub verdict: String,
    /// Every gate given holds (`true` without gates). The command exits 1
    /// when not.
    pub gates_hold: bool,
    /// `--max-newly-rejected` and `--min-agreement`, as given.
    pub gates: Vec<Gate>,
    /// Applicants both vendors judged: the base of the rates below.
    pub both_judged: u64,
    /// LexisNexis passes among them.
    pub lexisnexis_pass: Rate,
    /// Socure passes among them.
    pub socure_pass: Rate,
    /// Both pass or both fail.
    pub agreement: Rate,
    /// LexisNexis passed and Socure failed: of the LexisNexis passes.
    pub newly_rejected: Rate,
    /// LexisNexis failed and Socure passed: of the LexisNexis fails.
    pub newly_accepted: Rate,
    /// Per attribute, the newly rejected applicants whose attribute Socure
    /// left unverified (a failure may leave several: these can add up to
    /// more than 100%); share of `newly_rejected.count`.
    pub newly_rejected_unverified: Vec<Count>,
    /// Lines whose Socure call was answered (`socure_outcome: answered`,
    /// whatever the status): the calls Socure would bill.
    pub socure_calls: u64,
    /// With `--cost-per-call`.
    pub cost: Option<Cost>,
    /// Agreement and newly rejected per UTC day.
    pub by_day: Vec<Day>,
    /// Judged lines past the day limit (counted everywhere else).
    pub days_beyond_limit: u64,
}

/// A count of a denominator, its share and the share's 95% Wilson interval.
#[derive(Debug, Serialize)]
pub struct Rate {
    pub count: u64,
    pub of: u64,
    pub rate: Option<f64>,
    pub wilson_95: Option<Interval>,
}

/// An operator's limit on a figure of the decision.
#[derive(Debug, Serialize)]
pub struct Gate {
    /// `max_newly_rejected` or `min_agreement`.
    pub name: &'static str,
    /// The limit, in percent, as given.
    pub limit_percent: f64,
    /// The figure it is held to, in percent; `null` without a denominator
    /// (the gate then fails: nothing shows the limit holds).
    pub value_percent: Option<f64>,
    pub holds: bool,
}

/// What the Socure calls cost, in the operator's currency.
#[derive(Debug, Serialize)]
pub struct Cost {
    pub per_call: f64,
    /// `socure_calls × per_call`.
    pub total: f64,
    /// From the first line's time to the last's, in days; `null` when they
    /// are the same instant.
    pub observed_days: Option<f64>,
    pub calls_per_day: Option<f64>,
    /// `calls_per_day × 30 × per_call`: a 30-day month at the observed rate.
    pub monthly: Option<f64>,
}

/// One UTC day of the decision's figures.
#[derive(Debug, Serialize)]
pub struct Day {
    /// The day's start, RFC 3339 UTC.
    pub start: String,
    pub both_judged: u64,
    pub agreed: u64,
    pub agreement: Option<f64>,
    pub lexisnexis_passes: u64,
    pub newly_rejected: u64,
    /// Of `lexisnexis_passes`.
    pub newly_rejected_share: Option<f64>,
}

/// What was read, and what was left out and why.
#[derive(Debug, Serialize)]
pub struct Input {
    /// The inputs, in order; `-` is stdin.
    pub sources: Vec<String>,
    /// `--since` (inclusive) and `--until` (exclusive), RFC 3339, or `null`.
    pub since: Option<String>,
    pub until: Option<String>,
    /// Every line read, whatever it was.
    pub lines_read: u64,
    /// `idv_socure_shadow_mode_proofing_result` lines inside the window.
    pub proofing_lines: u64,
    /// `idv_socure_shadow_mode_shed` summary lines inside the window.
    pub shed_lines: u64,
    /// Lines of other events (skipped).
    pub other_events: u64,
    /// Lines that are not JSON, or our events without the fields the report
    /// needs, or longer than the line limit (skipped).
    pub malformed: u64,
    /// Our lines outside `--since`/`--until` (skipped).
    pub outside_window: u64,
    /// The first and last `time` among the lines counted.
    pub first_time: Option<String>,
    pub last_time: Option<String>,
}

/// LexisNexis rows by Socure columns.
#[derive(Debug, Serialize)]
pub struct AgreementMatrix {
    /// [`ROWS`].
    pub rows: &'static [&'static str],
    /// [`COLUMNS`].
    pub columns: &'static [&'static str],
    /// `counts[row][column]`.
    pub counts: [[u64; 5]; 3],
    /// `counts[row][column]` over all proofing lines.
    pub shares: [[Option<f64>; 5]; 3],
    /// Lines where both vendors judged (pass or fail on each side).
    pub both_judged: u64,
    /// Of those, lines where they agreed (both pass, or both fail).
    pub agreed: u64,
    /// `agreed / both_judged`.
    pub rate: Option<f64>,
    /// The 95% Wilson score interval of `rate`.
    pub wilson_95: Option<Interval>,
}

#[derive(Debug, Clone, Copy, Serialize, PartialEq)]
pub struct Interval {
    pub low: f64,
    pub high: f64,
}

#[derive(Debug, Serialize)]
pub struct Attributes {
    /// Lines whose LexisNexis result has no exception.
    pub lexisnexis_judged: u64,
    /// Lines whose Socure result has `verified_attributes` (pass or fail).
    pub socure_judged: u64,
    /// Lines judged by both.
    pub both_judged: u64,
    /// Socure judged and failed.
    pub socure_failures: u64,
    /// One row per [`ATTRIBUTES`] entry, in order.
    pub rows: Vec<AttributeRow>,
    /// Other attributes LexisNexis asked to verify (`dead`,
    /// `state_id_number`, `unknown`...), by name.
    pub other_lexisnexis: Vec<Count>,
}

#[derive(Debug, Serialize)]
pub struct AttributeRow {
    /// The [`Attribute`]'s name.
    pub attribute: &'static str,
    /// In `attributes_requiring_additional_verification`; share of `lexisnexis_judged`.
    pub lexisnexis_flagged: u64,
    pub lexisnexis_flagged_share: Option<f64>,
    /// Missing from Socure's `verified_attributes`; share of `socure_judged`.
    pub socure_unverified: u64,
    pub socure_unverified_share: Option<f64>,
    /// Both of the above on one line; share of `both_judged`.
    pub both: u64,
    pub both_share: Option<f64>,
    /// Socure failures with this attribute unverified; share of
    /// `socure_failures` (a failure may have several, so these add up to
    /// 100% or more).
    pub socure_failures_explained: u64,
    pub socure_failures_explained_share: Option<f64>,
}

#[derive(Debug, Serialize)]
pub struct Count {
    pub name: String,
    pub count: u64,
    /// Of the denominator the enclosing object names.
    pub share: Option<f64>,
}

#[derive(Debug, Serialize)]
pub struct ReasonCodes {
    /// Socure results with `verified_attributes` (the ones that carry codes).
    pub socure_judged: u64,
    /// Distinct codes seen (up to the limit).
    pub distinct: u64,
    /// Code occurrences not tallied because the distinct-code limit was reached.
    pub beyond_limit: u64,
    /// The most frequent codes, each counted once per line; share of `socure_judged`.
    pub top: Vec<Count>,
    /// The same within each judged cell of the matrix ([`JUDGED_CELLS`]).
    pub by_cell: Vec<CellCodes>,
    /// With `--reason-codes`: the operator's meaning of each code listed
    /// above that the catalogue has, by code.
    pub meanings: std::collections::BTreeMap<String, String>,
}

#[derive(Debug, Serialize)]
pub struct CellCodes {
    /// The [`Agreement`]'s label.
    pub cell: &'static str,
    pub lines: u64,
    /// Share of `lines`.
    pub top: Vec<Count>,
}

#[derive(Debug, Serialize)]
pub struct Vendors {
    pub lexisnexis: Vendor,
    pub socure: Vendor,
}

#[derive(Debug, Serialize, Default)]
pub struct Vendor {
    /// Lines where the vendor was called and the call ended (answered,
    /// timed out or failed).
    pub calls: u64,
    pub timeouts: u64,
    pub timeout_share: Option<f64>,
    /// Exceptions other than timeouts (error statuses, unreadable answers,
    /// connection failures).
    pub exceptions: u64,
    pub exception_share: Option<f64>,
    /// Over the calls with an elapsed time.
    pub latency_ms: Latency,
}

/// Nearest-rank percentiles, in milliseconds; `null` without samples.
#[derive(Debug, Serialize, Default, Clone, Copy)]
pub struct Latency {
    pub samples: u64,
    pub p50: Option<u64>,
    pub p95: Option<u64>,
    pub p99: Option<u64>,
    pub max: Option<u64>,
}

#[derive(Debug, Serialize)]
pub struct Series {
    /// `hour`, or `day` when the lines span more than a week.
    pub bucket: &'static str,
    pub points: Vec<Point>,
    /// Lines counted everywhere else but past the series' bucket limit.
    pub lines_beyond_limit: u64,
}

#[derive(Debug, Serialize)]
pub struct Point {
    /// The bucket's start, RFC 3339 UTC.
    pub start: String,
    pub proofing_lines: u64,
    pub both_judged: u64,
    pub agreed: u64,
    pub lexisnexis: Vendor,
    pub socure: Vendor,
}

#[derive(Debug, Serialize)]
pub struct Completeness {
    /// Proofing lines by `socure_outcome`.
    pub socure_outcome: Vec<Count>,
    /// Proofing lines by `resolution_outcome`.
    pub resolution_outcome: Vec<Count>,
    /// Requests shed without a line of their own, summed from the summary
    /// lines, by reason.
    pub shed: Vec<Count>,
    /// The sum of `shed`.
    pub shed_requests: u64,
    /// Shadowed requests accounted for: proofing lines plus shed requests.
    pub shadowed_requests: u64,
}
