//! Writes realistic shadow lines, deterministic for a seed: the input for testing and benchmarking `socure-shadow-proxy report`.
//!
//! ```text
//! cargo run --release --example shadow_lines -- N [--seed S] [--start 2026-11-01T00:00:00Z] [--hours H] > lines.jsonl
//! cargo run --release --example shadow_lines -- --cells BP,OL,OS,BF,NA [--seed S] [--start …] [--hours H] > lines.jsonl
//! ```
//!
//! N lines go to stdout, their times increasing, spread over `--hours`
//! (default 720, a month) from `--start`. A count of each kind goes to
//! stderr.
//!
//! `--cells BP,OL,OS,BF,NA` (instead of N) writes exactly that many shadow
//! lines of each cell of the agreement matrix and nothing else (no shed
//! summaries, other events or cut-short lines), in an order shuffled by the
//! seed: BP both passed, OL only LexisNexis passed, OS only Socure passed,
//! BF both failed (LexisNexis answered and Socure answered a judged verdict,
//! never a 400, in each), NA Socure not answered (timed out, failed,
//! dropped, duplicate, over budget, not sent or shut down, with the mix's
//! weights) after LexisNexis passed (80%) or failed. A report of the file
//! must count exactly these.
//!
//! Every shadow line is the judge crate's own `ShadowLine`, written by
//! `pair::encode`, so the format cannot drift from the proxy's. The parts the
//! judge words itself come from the judge: LexisNexis verdicts are
//! `resolution::judge` of the InstantVerify fixture (passed, or failed on
//! the drawn checks), exceptions are `resolution::judge_exchange` and
//! `socure::judge_call` of the failure, and the outcome labels are
//! `Exchange::outcome` and `SocureOutcome::of`. Only an answered Socure verdict
//! is built field by field (judging a made-up body per line would double the
//! cost and check nothing more), in the shape `socure::judge` gives.
//!
//! The mix, roughly: LexisNexis passes 80%, fails 15% (with the checks that
//! failed), errs 5% (503s and other statuses, timeouts, connections lost);
//! Socure answers 88% (agreeing with LexisNexis's pass or fail 9 times in 10,
//! a few answers a 400), times out 3%, fails 2%, is dropped 2%, skipped as a
//! duplicate 3%, over budget 1%, not sent 1%. About 1 line in 10,000 is a
//! shed summary, 1 in 20,000 is cut short (not JSON) and 1 in 20,000 is
//! another event, so a reader's skip-and-count path has work.
//!
//! No value is, or looks like, anyone's personal data: lines carry none by
//! design (ids are random hex, reason codes are codes), and the LexisNexis
//! fixture is the test suite's.

use std::collections::VecDeque;
use std::io::{self, Write};
use std::time::Instant;

use bytes::Bytes;
use clap::Parser;
use serde_json::{Map, Value, json};
use socure_shadow_proxy::judge::applicant::ApplicantError;
use socure_shadow_proxy::judge::pair::{
    self, EventProperties, Properties, ShadowLine, SocureOutcome,
};
use socure_shadow_proxy::judge::redact::Redactor;
use socure_shadow_proxy::judge::resolution::{self, Exchange, ResolutionOutcome};
use socure_shadow_proxy::judge::socure::{self, SocureError};
use socure_shadow_proxy::judge::verdict::Verdict;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// The proxy's own allocator: a line allocates some fifty times, and glibc's
/// malloc and free were a quarter of the run.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const WORKFLOW: &str = "gsa2.chk32.test.wf";
const PATH: &str = "/restws/identity/v2/test_account/gsa2.chk32.test.wf/conversation";
/// The passed InstantVerify answer of identity-idp's specs; failures are
/// made from it by failing some of its checks.
const LEXIS_NEXIS_PASSED: &[u8] =
    include_bytes!("../tests/fixtures/lexis_nexis/instant_verify/successful_response.json");
/// The failure code identity-idp's fixtures carry, and the one under which
/// a failure can pass with additional verification.
const FAILED_CODE: &str = "priority.scoring.model.verification.fail";

/// The config's shipped limits, as the proxy words them in a line.
const MAX_IN_FLIGHT: u32 = 256;
const MAX_PENDING: u32 = 512;
const MAX_CALLS_PER_DAY: u32 = 50_000;
/// The config's default timeouts (ms): `upstream.timeout_seconds` and
/// `socure.timeout_seconds`. A timed-out side took about this long.
const LEXIS_NEXIS_TIMEOUT_MS: u64 = 30_000;
const SOCURE_TIMEOUT_MS: u64 = 5_000;

/// The attributes a LexisNexis failure can name (`attribute_for` in
/// resolution.rs), sorted as the judge sorts them, with the fixture's checks
/// that fail to name each and the item reason they fail with.
const LEXIS_NEXIS_ATTRIBUTES: [(&str, &[(&str, &str)]); 5] = [
    (
        "address",
        &[
            ("Addr1Zip_StateMatch", "addr1_zip_state_match_fail"),
            (
                "IdentityOccupancyVerified",
                "identity_occupancy_verified_fail",
            ),
        ],
    ),
    (
        "dead",
        &[(
            "SsnDeathMatchVerification",
            "ssn_death_match_verification_fail",
        )],
    ),
    (
        "dob",
        &[
            ("DOBFullVerified", "dob_full_verified_fail"),
            ("DOBYearVerified", "dob_year_not_verfied_fail"),
        ],
    ),
    ("ssn", &[("SsnFullNameMatch", "ssn_full_name_match_fail")]),
    (
        "state_id_number",
        &[(
            "DriversLicenseVerification",
            "drivers_license_verification_fail",
        )],
    ),
];
/// How often each attribute is the first one to fail (same order as above);
/// each of the others then fails too one time in eight.
const LEXIS_NEXIS_FIRST_FAILURE: [f64; 5] = [0.35, 0.05, 0.30, 0.20, 0.10];

/// `socure::judge`'s attributes in the order it lists them (CONTRACT.md),
/// and the five whose presence is success.
const SOCURE_ATTRIBUTES: [&str; 6] = ["address", "first_name", "last_name", "phone", "ssn", "dob"];
const SOCURE_REQUIRED: [&str; 5] = ["first_name", "last_name", "address", "dob", "ssn"];
/// How often each required attribute is the first one Socure cannot verify
/// (order of `SOCURE_REQUIRED`).
const SOCURE_FIRST_FAILURE: [f64; 5] = [0.05, 0.10, 0.40, 0.25, 0.20];

/// Socure's informational codes (any answer) and risk codes (mostly failed
/// answers): plausible code shapes, about forty, for the report's table.
const SOCURE_INFO_CODES: [&str; 24] = [
    "I196", "I197", "I520", "I553", "I555", "I556", "I602", "I610", "I611", "I614", "I618", "I621",
    "I632", "I636", "I705", "I708", "I711", "I904", "I905", "I907", "I914", "I919", "I998", "I999",
];
const SOCURE_RISK_CODES: [&str; 16] = [
    "R186", "R201", "R203", "R352", "R354", "R551", "R557", "R608", "R610", "R703", "R704", "R705",
    "R707", "R901", "R913", "R940",
];

#[derive(Parser)]
#[command(about = "Writes N realistic shadow lines to stdout, deterministic for a seed")]
struct Args {
    /// Lines to write, all kinds together (required unless --cells is given).
    #[arg(required_unless_present = "cells", conflicts_with = "cells")]
    lines: Option<u64>,
    /// Write exactly these many shadow lines of each agreement cell, and
    /// nothing else: both passed, only LexisNexis passed, only Socure passed,
    /// both failed, Socure not answered.
    #[arg(long, value_name = "BP,OL,OS,BF,NA", value_parser = parse_cells)]
    cells: Option<Cells>,
    /// The generator's seed: the same seed and arguments give the same bytes.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// When the first line may be, RFC 3339.
    #[arg(long, default_value = "2026-11-01T00:00:00Z", value_parser = parse_start)]
    start: OffsetDateTime,
    /// The span the lines' times cover, in hours (default 30 days).
    #[arg(long, default_value_t = 720.0)]
    hours: f64,
}

fn parse_start(text: &str) -> Result<OffsetDateTime, String> {
    OffsetDateTime::parse(text, &Rfc3339).map_err(|err| format!("not RFC 3339: {err}"))
}

/// The lines to write of each cell, in `Cell::ALL` order.
#[derive(Clone, Copy)]
struct Cells([u64; 5]);

impl Cells {
    fn total(&self) -> u64 {
        self.0.iter().sum()
    }

    /// Each line's cell, shuffled (Fisher–Yates) by `rng`.
    fn shuffled(&self, rng: &mut Rng) -> Vec<Cell> {
        let mut order: Vec<Cell> = Cell::ALL
            .iter()
            .zip(self.0)
            .flat_map(|(cell, count)| (0..count).map(move |_| *cell))
            .collect();
        for i in (1..order.len()).rev() {
            order.swap(i, rng.below(i + 1));
        }
        order
    }
}

fn parse_cells(text: &str) -> Result<Cells, String> {
    const EXPECTED: &str = "five counts expected, BP,OL,OS,BF,NA (e.g. 517,211,163,97,249)";
    let parts: Vec<&str> = text.split(',').collect();
    if parts.len() != 5 {
        return Err(format!("{EXPECTED}; got {}", parts.len()));
    }
    let mut counts = [0; 5];
    for (count, part) in counts.iter_mut().zip(parts) {
        *count = part
            .trim()
            .parse()
            .map_err(|err| format!("{EXPECTED}; `{part}` is not a count: {err}"))?;
    }
    if counts
        .iter()
        .try_fold(0u64, |sum, n| sum.checked_add(*n))
        .is_none()
    {
        return Err(format!(
            "{EXPECTED}; these add up to more than {}",
            u64::MAX
        ));
    }
    Ok(Cells(counts))
}

fn main() -> io::Result<()> {
    let args = Args::parse();
    if !(args.hours.is_finite() && args.hours > 0.0) {
        eprintln!("--hours must be a positive number");
        std::process::exit(2);
    }
    let started = Instant::now();
    let mut generator = Generator::new(args.seed);
    // Clap requires one of the two.
    let lines = args
        .cells
        .map_or_else(|| args.lines.unwrap_or(0), |cells| cells.total());
    let order = args.cells.map(|cells| cells.shuffled(&mut generator.rng));
    let stdout = io::stdout();
    let mut out = io::BufWriter::with_capacity(1 << 16, stdout.lock());
    // Each line's time is its own slot's start plus a draw within the slot,
    // so times increase and spread evenly over the span.
    let slot_ns = args.hours * 3600e9 / lines.max(1) as f64;
    let mut written = Written::default();
    for i in 0..lines {
        let offset = slot_ns * (i as f64 + generator.rng.unit());
        let at = args.start + time::Duration::nanoseconds(offset as i64);
        let line = match &order {
            None => generator.line(at, &mut written),
            Some(order) => {
                written.shadow += 1;
                generator.shadow_line(at, Some(order[i as usize]))
            }
        };
        if let Err(err) = out.write_all(&line) {
            return quiet_on_broken_pipe(err);
        }
    }
    if let Err(err) = out.flush() {
        return quiet_on_broken_pipe(err);
    }
    let seconds = started.elapsed().as_secs_f64();
    match args.cells {
        None => eprintln!(
            "shadow_lines: {lines} lines ({} shadow, {} shed summaries, {} other events, {} cut short) in {seconds:.2} s",
            written.shadow, written.shed, written.other, written.malformed,
        ),
        Some(Cells([bp, ol, os, bf, na])) => eprintln!(
            "shadow_lines: {lines} shadow lines ({bp} both passed, {ol} only LexisNexis passed, {os} only Socure passed, {bf} both failed, {na} Socure not answered) in {seconds:.2} s",
        ),
    }
    Ok(())
}

/// `| head` closing the pipe is a reader done, not an error.
fn quiet_on_broken_pipe(err: io::Error) -> io::Result<()> {
    if err.kind() == io::ErrorKind::BrokenPipe {
        Ok(())
    } else {
        Err(err)
    }
}

#[derive(Default)]
struct Written {
    shadow: u64,
    shed: u64,
    other: u64,
    malformed: u64,
}

/// splitmix64: a few lines, good enough for test data, and the same
/// sequence on every platform, so a seed names the same file everywhere.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }

    fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }

    /// Uniform in `0..n` (n > 0).
    fn below(&mut self, n: usize) -> usize {
        ((u128::from(self.next()) * n as u128) >> 64) as usize
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }

    /// An index drawn with the given weights (they need not sum to 1).
    fn weighted(&mut self, weights: &[f64]) -> usize {
        let mut left = self.unit() * weights.iter().sum::<f64>();
        for (i, w) in weights.iter().enumerate() {
            if left < *w {
                return i;
            }
            left -= w;
        }
        weights.len() - 1
    }

    /// Milliseconds, log-normal around `median` (latencies have a long right
    /// tail), kept within `lo..=hi`.
    fn latency_ms(&mut self, median: f64, sigma: f64, lo: u64, hi: u64) -> u64 {
        // Box-Muller; 1 - unit() is in (0, 1], so the logarithm is finite.
        let normal =
            (-2.0 * (1.0 - self.unit()).ln()).sqrt() * (std::f64::consts::TAU * self.unit()).cos();
        ((median * (sigma * normal).exp()) as u64).clamp(lo, hi)
    }

    /// A version-4 UUID's shape from the generator, so ids repeat with the seed.
    fn uuid(&mut self) -> String {
        let (a, b) = (self.next(), self.next());
        format!(
            "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
            a >> 32,
            (a >> 16) & 0xffff,
            a & 0xfff,
            (b >> 48) & 0x3fff | 0x8000,
            b & 0xffff_ffff_ffff
        )
    }
}

/// A cell of the agreement matrix, for `--cells`.
#[derive(Clone, Copy)]
enum Cell {
    BothPassed,
    OnlyLexisNexisPassed,
    OnlySocurePassed,
    BothFailed,
    SocureNotAnswered,
}

impl Cell {
    /// The order of `--cells`' counts.
    const ALL: [Cell; 5] = [
        Cell::BothPassed,
        Cell::OnlyLexisNexisPassed,
        Cell::OnlySocurePassed,
        Cell::BothFailed,
        Cell::SocureNotAnswered,
    ];
}

/// How the LexisNexis side was drawn, for Socure's agreement with it.
#[derive(Clone, Copy, PartialEq)]
enum LexisNexis {
    Passed,
    Failed,
    Errored,
}

struct Generator {
    rng: Rng,
    /// No applicant: the exception verdicts need no redaction of their own
    /// words, and the generator has no applicant to give.
    redactor: Redactor,
    /// `resolution::judge` of the passed fixture (index 0) and of the
    /// fixture failed on each non-empty set of attributes (indexed by bit
    /// mask, in `LEXIS_NEXIS_ATTRIBUTES` order); ids are set per line. Each
    /// is lent to its line and given back once the line is encoded: cloning
    /// the logged product (a map of a dozen checks) for every line was a
    /// third of the run.
    lexis_nexis_judged: Vec<Option<Verdict>>,
    answered: ResolutionOutcome,
    /// Ids and user ids of recent lines whose applicant reached Socure: a
    /// duplicate names one of them, as the dedup window would.
    recent: VecDeque<(String, Option<String>)>,
    /// Where the next shed summary's span starts.
    last_shed: Option<OffsetDateTime>,
}

impl Generator {
    fn new(seed: u64) -> Self {
        let redactor = Redactor::default();
        let judged = |body: &[u8]| resolution::judge(200, None, body, WORKFLOW, &redactor);
        let lexis_nexis_judged = (0..1u32 << LEXIS_NEXIS_ATTRIBUTES.len())
            .map(|mask| match mask {
                0 => Some(judged(LEXIS_NEXIS_PASSED)),
                mask => Some(judged(&lexis_nexis_failure(mask))),
            })
            .collect();
        let answered = Exchange::Answered {
            status: 200,
            content_type: None,
            body: Bytes::new(),
            truncated: false,
        }
        .outcome();
        Self {
            rng: Rng(seed),
            redactor,
            lexis_nexis_judged,
            answered,
            recent: VecDeque::with_capacity(RECENT),
            last_shed: None,
        }
    }

    /// The next line's bytes (with its `\n`).
    fn line(&mut self, at: OffsetDateTime, written: &mut Written) -> Vec<u8> {
        let draw = self.rng.unit();
        if draw < 1.0 / 10_000.0 {
            written.shed += 1;
            return self.shed(at);
        }
        if draw < 1.0 / 10_000.0 + 1.0 / 20_000.0 {
            written.other += 1;
            return self.other_event(at);
        }
        let mut line = self.shadow_line(at, None);
        if draw < 1.0 / 10_000.0 + 2.0 / 20_000.0 {
            // Cut inside the object (never after its last `}`), as a crash
            // mid-write leaves it: never valid JSON.
            written.malformed += 1;
            let cut = line.len() / 4 + self.rng.below(line.len() / 2);
            line.truncate(cut);
            line.push(b'\n');
        } else {
            written.shadow += 1;
        }
        line
    }

    /// A shadow line's bytes (with its `\n`), of `cell` if given, else of
    /// the mix.
    fn shadow_line(&mut self, at: OffsetDateTime, cell: Option<Cell>) -> Vec<u8> {
        let (shadow_line, lent) = self.shadow_line_lent(at, cell);
        let line = encode(&shadow_line);
        if let Some(mask) = lent {
            self.lexis_nexis_judged[mask] =
                Some(shadow_line.properties.event_properties.resolution_result);
        }
        line
    }

    /// The line, and the index of the judged LexisNexis verdict it borrowed.
    fn shadow_line_lent(
        &mut self,
        at: OffsetDateTime,
        cell: Option<Cell>,
    ) -> (ShadowLine, Option<usize>) {
        let id = self.rng.uuid();
        let (mut lexis_nexis, socure) = match cell {
            None => {
                let lexis_nexis = self.lexis_nexis();
                let socure = self.socure(lexis_nexis.drawn, true);
                (lexis_nexis, socure)
            }
            Some(cell) => self.cell_sides(cell),
        };
        let mut duplicate_of = None;
        let user_id = match socure.applicant {
            // A Reference that is not a UUID: `user_id` null, the flag set.
            Applicant::Read if self.rng.chance(1.0 / 5_000.0) => None,
            Applicant::Read => Some(self.rng.uuid()),
            // The same applicant as an earlier line, so the same user.
            Applicant::DuplicateOf(of, of_user) => {
                duplicate_of = Some(of);
                of_user
            }
            // No applicant was read from the request, so no user either.
            Applicant::None => None,
        };
        // Every line but `not_sent` has an applicant (`recent` holds only
        // lines with one), so there a missing user is an invalid Reference.
        let user_id_invalid = socure.outcome != SocureOutcome::NotSent && user_id.is_none();
        if lexis_nexis.lent.is_some() {
            // LexisNexis echoes the request's Reference, which carries the
            // user's UUID.
            lexis_nexis.verdict.reference = Value::String(user_id.clone().unwrap_or_default());
        }
        if socure.outcome == SocureOutcome::Answered {
            if self.recent.len() == RECENT {
                self.recent.pop_front();
            }
            self.recent.push_back((id.clone(), user_id.clone()));
        }
        let line = ShadowLine {
            name: pair::EVENT_NAME,
            id,
            time: pair::timestamp(at),
            properties: Properties {
                event_properties: EventProperties {
                    resolution_result: lexis_nexis.verdict,
                    socure_result: socure.result,
                    resolution_outcome: lexis_nexis.outcome,
                    resolution_elapsed_ms: lexis_nexis.elapsed_ms,
                    socure_outcome: socure.outcome,
                    socure_elapsed_ms: socure.elapsed_ms,
                    socure_not_sent_reason: socure.reason,
                    duplicate_of,
                    ids_withheld: Default::default(),
                },
                new_event: true,
                path: PATH.to_owned(),
                user_id,
                user_id_invalid,
            },
            log_filename: "events.log",
        };
        (line, lexis_nexis.lent)
    }

    /// Both sides of a line of `cell`.
    fn cell_sides(&mut self, cell: Cell) -> (LexisNexisSide, Socure) {
        use LexisNexis::{Failed, Passed};
        let (lexis_nexis, socure_passes) = match cell {
            Cell::BothPassed => (Passed, true),
            Cell::OnlyLexisNexisPassed => (Passed, false),
            Cell::OnlySocurePassed => (Failed, true),
            Cell::BothFailed => (Failed, false),
            Cell::SocureNotAnswered => {
                let drawn = if self.rng.chance(0.80) {
                    Passed
                } else {
                    Failed
                };
                let lexis_nexis = self.lexis_nexis_answered(drawn);
                let socure = self.socure(drawn, false);
                return (lexis_nexis, socure);
            }
        };
        let lexis_nexis = self.lexis_nexis_answered(lexis_nexis);
        let elapsed_ms = self.socure_answer_elapsed();
        let verdict = self.socure_judged(socure_passes);
        (lexis_nexis, Socure::answered(verdict, elapsed_ms))
    }

    fn lexis_nexis(&mut self) -> LexisNexisSide {
        let draw = self.rng.unit();
        if draw < 0.95 {
            return self.lexis_nexis_answered(if draw < 0.80 {
                LexisNexis::Passed
            } else {
                LexisNexis::Failed
            });
        }
        let (exchange, elapsed) = match self.rng.weighted(&[0.45, 0.08, 0.05, 0.30, 0.07, 0.05]) {
            0 => (status(503), self.rng.latency_ms(120.0, 0.6, 5, 2_000)),
            1 => (status(502), self.rng.latency_ms(200.0, 0.6, 5, 2_000)),
            2 => (status(500), self.rng.latency_ms(400.0, 0.6, 5, 3_000)),
            3 => (
                Exchange::UpstreamTimeout,
                LEXIS_NEXIS_TIMEOUT_MS + self.rng.below(40) as u64,
            ),
            4 => (
                Exchange::UpstreamFailed,
                self.rng.latency_ms(900.0, 0.8, 20, 29_000),
            ),
            _ => (
                Exchange::ClientGone,
                self.rng.latency_ms(1_500.0, 0.8, 20, 29_000),
            ),
        };
        let verdict = resolution::judge_exchange(&exchange, WORKFLOW, &self.redactor);
        LexisNexisSide {
            verdict,
            outcome: exchange.outcome(),
            elapsed_ms: Some(elapsed),
            drawn: LexisNexis::Errored,
            lent: None,
        }
    }

    /// LexisNexis answered and passed, or failed on drawn checks (`drawn` is
    /// not `Errored`).
    fn lexis_nexis_answered(&mut self, drawn: LexisNexis) -> LexisNexisSide {
        let mask = match drawn {
            LexisNexis::Passed => 0,
            _ => self.lexis_nexis_failure_mask(),
        };
        let mut verdict = self.lexis_nexis_judged[mask]
            .take()
            .expect("each line gives its verdict back");
        // A ConversationId is a long number in a string.
        verdict.transaction_id =
            Value::String(format!("31000{:09}", self.rng.below(1_000_000_000)));
        let elapsed = self.rng.latency_ms(650.0, 0.55, 200, 3_000);
        LexisNexisSide {
            verdict,
            outcome: self.answered,
            elapsed_ms: Some(elapsed),
            drawn,
            lent: Some(mask),
        }
    }

    /// A non-empty set of failed attributes, as a bit mask.
    fn lexis_nexis_failure_mask(&mut self) -> usize {
        let mut mask = 1 << self.rng.weighted(&LEXIS_NEXIS_FIRST_FAILURE);
        for bit in 0..LEXIS_NEXIS_ATTRIBUTES.len() {
            if self.rng.chance(1.0 / 8.0) {
                mask |= 1 << bit;
            }
        }
        mask
    }

    /// Socure's side, drawn from the mix; never answered unless `answered`.
    fn socure(&mut self, lexis_nexis: LexisNexis, answered: bool) -> Socure {
        let recent = !self.recent.is_empty();
        let weights = [
            if answered { 0.88 } else { 0.0 },
            0.03,
            0.02,
            0.02,
            if recent { 0.03 } else { 0.0 },
            0.01,
            0.01,
            // A deploy now and then: calls cut short by the grace period.
            0.000_2,
        ];
        match self.rng.weighted(&weights) {
            0 => self.socure_answered(lexis_nexis),
            1 => self.socure_failed(SocureError::Timeout),
            2 => {
                let why = *self.rng.pick(&[
                    "connection reset",
                    "connection refused",
                    "TLS handshake failed",
                    "connection closed before the answer was complete",
                ]);
                self.socure_failed(SocureError::Connection(why))
            }
            3 => Socure::not_called(
                SocureOutcome::Dropped,
                Some(format!(
                    "shadow.max_in_flight ({MAX_IN_FLIGHT}) Socure calls already in flight"
                )),
                Applicant::Read,
            ),
            4 => {
                let (of, user) = self.rng.pick(self.recent.make_contiguous()).clone();
                Socure::not_called(
                    SocureOutcome::Duplicate,
                    None,
                    Applicant::DuplicateOf(of, user),
                )
            }
            5 => Socure::not_called(
                SocureOutcome::BudgetExhausted,
                Some(format!(
                    "socure.max_calls_per_day ({MAX_CALLS_PER_DAY}) reached for today (UTC)"
                )),
                Applicant::Read,
            ),
            6 => {
                // The judge's own words for a body that is no applicant.
                let why = if self.rng.chance(0.5) {
                    ApplicantError::NotAnApplicant("no Person object")
                } else {
                    ApplicantError::NotJson {
                        line: 1,
                        column: 1 + self.rng.below(400),
                    }
                };
                Socure::not_called(
                    SocureOutcome::NotSent,
                    Some(why.to_string()),
                    Applicant::None,
                )
            }
            _ => Socure {
                result: Some(socure::interrupted()),
                outcome: SocureOutcome::Shutdown,
                elapsed_ms: Some(self.rng.latency_ms(3_000.0, 0.3, 1_000, SOCURE_TIMEOUT_MS)),
                reason: None,
                applicant: Applicant::Read,
            },
        }
    }

    /// Socure answered: mostly judged, a few a 400 (judged by the judge).
    fn socure_answered(&mut self, lexis_nexis: LexisNexis) -> Socure {
        let elapsed_ms = self.socure_answer_elapsed();
        if self.rng.chance(0.01) {
            return Socure::answered(self.socure_400(), elapsed_ms);
        }
        let passes = self.socure_passes(lexis_nexis);
        let verdict = self.socure_judged(passes);
        Socure::answered(verdict, elapsed_ms)
    }

    fn socure_answer_elapsed(&mut self) -> Option<u64> {
        Some(
            self.rng
                .latency_ms(1_100.0, 0.5, 300, SOCURE_TIMEOUT_MS - 10),
        )
    }

    /// Whether Socure passes: mostly when LexisNexis passed, mostly not
    /// when it failed.
    fn socure_passes(&mut self, lexis_nexis: LexisNexis) -> bool {
        match lexis_nexis {
            LexisNexis::Passed => self.rng.chance(0.90),
            LexisNexis::Failed => self.rng.chance(0.10),
            LexisNexis::Errored => self.rng.chance(0.80),
        }
    }

    /// A judged answer, in the shape `socure::judge` gives: all the required
    /// attributes verified if it `passes`, some not if not.
    fn socure_judged(&mut self, passes: bool) -> Verdict {
        let verified_attributes = self.socure_verified_attributes(passes);
        // `socure::judge`'s rule, applied to what was drawn.
        let success = SOCURE_REQUIRED
            .iter()
            .all(|required| verified_attributes.iter().any(|a| a == required));
        let mut errors = Map::new();
        errors.insert(
            "reason_codes".into(),
            json!(self.socure_reason_codes(success)),
        );
        let verdict = Verdict {
            success,
            errors: errors.into(),
            exception: None,
            timed_out: false,
            transaction_id: Value::String(self.rng.uuid()),
            reference: Value::String(String::new()),
            can_pass_with_additional_verification: false,
            attributes_requiring_additional_verification: Vec::new(),
            vendor_name: socure::VENDOR_NAME,
            vendor_workflow: None,
            verified_attributes: Some(verified_attributes),
            ids_withheld: Default::default(),
        };
        debug_assert_eq!(success, passes);
        verdict
    }

    /// A 400 from Socure, as its judge words it.
    fn socure_400(&mut self) -> Verdict {
        let body = format!(
            r#"{{"status":"Error","referenceId":"{}","msg":"Invalid request"}}"#,
            self.rng.uuid()
        );
        socure::judge(
            400,
            Some("application/json"),
            body.as_bytes(),
            &self.redactor,
        )
    }

    /// The attributes Socure verified: all the required ones if it
    /// `passes`, else some not; a phone now and then.
    fn socure_verified_attributes(&mut self, passes: bool) -> Vec<String> {
        let mut unverified = [false; SOCURE_REQUIRED.len()];
        if !passes {
            unverified[self.rng.weighted(&SOCURE_FIRST_FAILURE)] = true;
            for missing in &mut unverified {
                *missing |= self.rng.chance(0.1);
            }
        }
        // Socure is never sent a phone number, but its answer can still
        // score one now and then.
        let phone = self.rng.chance(0.05);
        SOCURE_ATTRIBUTES
            .iter()
            .filter(
                |attribute| match SOCURE_REQUIRED.iter().position(|r| r == *attribute) {
                    Some(i) => !unverified[i],
                    None => phone,
                },
            )
            .map(|attribute| (*attribute).to_owned())
            .collect()
    }

    /// A few information codes, and risk codes when it did not pass; sorted,
    /// each once.
    fn socure_reason_codes(&mut self, success: bool) -> Vec<&'static str> {
        let mut codes: Vec<&str> = Vec::with_capacity(8);
        for _ in 0..2 + self.rng.below(4) {
            codes.push(*self.rng.pick(&SOCURE_INFO_CODES));
        }
        if !success {
            for _ in 0..1 + self.rng.below(3) {
                codes.push(*self.rng.pick(&SOCURE_RISK_CODES));
            }
        }
        codes.sort_unstable();
        codes.dedup();
        codes
    }

    fn socure_failed(&mut self, error: SocureError) -> Socure {
        let elapsed_ms = match error {
            SocureError::Timeout => SOCURE_TIMEOUT_MS + self.rng.below(30) as u64,
            _ => self.rng.latency_ms(60.0, 1.0, 1, 3_000),
        };
        let call = Err(error);
        Socure {
            result: Some(socure::judge_call(&call, &self.redactor)),
            outcome: SocureOutcome::of(&call),
            elapsed_ms: Some(elapsed_ms),
            reason: None,
            applicant: Applicant::Read,
        }
    }

    /// A summary of a few requests shed since the last one.
    fn shed(&mut self, at: OffsetDateTime) -> Vec<u8> {
        let from = self
            .last_shed
            .replace(at)
            .unwrap_or(at - time::Duration::SECOND);
        let line = pair::shed(
            self.rng.uuid(),
            from,
            at,
            1 + self.rng.below(40) as u64,
            format!("shadow.max_pending ({MAX_PENDING}) mirrors already held"),
        );
        encode(&line)
    }

    /// Another of identity-idp's events, in the same envelope, as a log
    /// holding more than the shadow lines would have.
    fn other_event(&mut self, at: OffsetDateTime) -> Vec<u8> {
        encode(&json!({
            "name": "idv_doc_auth_welcome_visited",
            "id": self.rng.uuid(),
            "time": pair::timestamp(at),
            "properties": {
                "event_properties": {"step": "welcome", "analytics_id": "Doc Auth"},
                "new_event": true,
                "path": "/verify/welcome",
                "user_id": self.rng.uuid(),
            },
            "log_filename": "events.log",
        }))
    }
}

/// How many recent lines a duplicate may name.
const RECENT: usize = 512;

/// The LexisNexis side of one line.
struct LexisNexisSide {
    verdict: Verdict,
    outcome: ResolutionOutcome,
    elapsed_ms: Option<u64>,
    /// Which way it went, for Socure's agreement with it.
    drawn: LexisNexis,
    /// The index of the judged verdict it borrowed, if it did.
    lent: Option<usize>,
}

/// The Socure side of one line.
struct Socure {
    result: Option<Verdict>,
    outcome: SocureOutcome,
    elapsed_ms: Option<u64>,
    reason: Option<String>,
    applicant: Applicant,
}

impl Socure {
    /// Socure answered, and its judge said `verdict`.
    fn answered(verdict: Verdict, elapsed_ms: Option<u64>) -> Self {
        Self {
            result: Some(verdict),
            outcome: SocureOutcome::Answered,
            elapsed_ms,
            reason: None,
            applicant: Applicant::Read,
        }
    }

    fn not_called(outcome: SocureOutcome, reason: Option<String>, applicant: Applicant) -> Self {
        Self {
            result: None,
            outcome,
            elapsed_ms: None,
            reason,
            applicant,
        }
    }
}

/// What the mirror read of the request, as it bears on the line.
enum Applicant {
    Read,
    /// No applicant (not sent): no user id either.
    None,
    /// The same applicant as line `.0`, of user `.1`.
    DuplicateOf(String, Option<String>),
}

/// An answered LexisNexis exchange with an error status (its body is never
/// read: the judge words it by the status alone).
fn status(status: u16) -> Exchange {
    Exchange::Answered {
        status,
        content_type: Some("text/html".into()),
        body: Bytes::from_static(b"<html><body>Service Unavailable</body></html>"),
        truncated: false,
    }
}

/// The passed fixture turned into a failure on the attributes in `mask`:
/// the transaction and the product fail with `FAILED_CODE`, and the checks
/// that name each attribute fail with their item reasons.
fn lexis_nexis_failure(mask: u32) -> Vec<u8> {
    let mut body: Value = serde_json::from_slice(LEXIS_NEXIS_PASSED).expect("fixture is JSON");
    body["Status"]["TransactionStatus"] = json!("failed");
    body["Status"]["TransactionReasonCode"] = json!({ "Code": FAILED_CODE });
    let product = &mut body["Products"][0];
    product["ProductStatus"] = json!("fail");
    product["ProductReason"] = json!({ "Code": FAILED_CODE });
    let failing: Vec<(&str, &str)> = LEXIS_NEXIS_ATTRIBUTES
        .iter()
        .enumerate()
        .filter(|(bit, _)| mask & (1 << bit) != 0)
        .flat_map(|(_, (_, checks))| checks.iter().copied())
        .collect();
    for item in product["Items"].as_array_mut().expect("fixture has Items") {
        if let Some((_, reason)) = failing.iter().find(|(check, _)| item["ItemName"] == *check) {
            item["ItemStatus"] = json!("fail");
            item["ItemReason"] = json!({ "Code": reason });
        }
    }
    serde_json::to_vec(&body).expect("JSON")
}

fn encode<T: serde::Serialize>(line: &T) -> Vec<u8> {
    // Only maps with string keys, strings, numbers: serialising cannot fail.
    pair::encode(line).expect("a line serialises")
}
