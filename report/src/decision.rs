//! The decision: what switching from LexisNexis to Socure would change (pass rates, newly rejected and accepted, per day, why, at what cost), the operator's gates on it, and the one verdict sentence.
//!
//! Counted in the same pass as the rest of the report ([`DecisionTally`] is
//! fed by `tally`), in memory that does not grow with the lines: fixed
//! counts, and one small entry per UTC day up to a limit.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use socure_shadow_judge::pair::Agreement;
use time::OffsetDateTime;

use super::ReportError;
use super::schema::{ATTRIBUTES, Cost, Count, Day, Decision, Gate, Rate};
use super::tables::percent;
use super::tally::{MAX_BUCKETS, MAX_NAMES, cut, share, time, wilson};

/// A month, for the cost projection.
const DAYS_PER_MONTH: f64 = 30.0;
/// The longest meaning kept from a catalogue, in bytes: a line of prose.
pub const MAX_MEANING_BYTES: usize = 200;

/// What the operator asked of the decision.
#[derive(Debug, Clone, Default)]
pub struct DecisionOptions {
    /// `--cost-per-call`: a plain number in the operator's currency.
    pub cost_per_call: Option<f64>,
    /// `--reason-codes`: the operator's copy of Socure's code catalogue.
    pub catalogue: Option<Catalogue>,
    /// `--max-newly-rejected`, in percent.
    pub max_newly_rejected: Option<f64>,
    /// `--min-agreement`, in percent.
    pub min_agreement: Option<f64>,
}

/// Socure's reason codes and what they mean, as the operator has them
/// (the catalogue is not public): at most [`MAX_NAMES`] codes, each cut as
/// the report cuts codes, each meaning to [`MAX_MEANING_BYTES`].
#[derive(Debug, Clone, Default)]
pub struct Catalogue(HashMap<String, String>);

impl Catalogue {
    /// Reads `path`: a JSON object (`{"R705": "..."}`) when it starts with
    /// `{`, else CSV lines `code,meaning` (the meaning may hold commas, and
    /// may be double-quoted as CSV quotes it; a `code,meaning` header is
    /// skipped).
    pub fn load(path: &Path) -> Result<Self, ReportError> {
        let named = || path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| ReportError::Open {
            path: named(),
            source,
        })?;
        let entries = if text.trim_start().starts_with('{') {
            Self::json(&text)
        } else {
            Self::csv(&text)
        }
        .map_err(|message| ReportError::Catalogue {
            path: named(),
            message,
        })?;
        let mut catalogue = HashMap::new();
        for (code, meaning) in entries {
            if catalogue.len() >= MAX_NAMES {
                return Err(ReportError::Catalogue {
                    path: named(),
                    message: format!("more than {MAX_NAMES} codes"),
                });
            }
            let meaning = meaning.trim();
            let meaning = &meaning[..meaning.floor_char_boundary(MAX_MEANING_BYTES)];
            catalogue.insert(cut(code.trim()).to_owned(), meaning.to_owned());
        }
        Ok(Self(catalogue))
    }

    fn json(text: &str) -> Result<Vec<(String, String)>, String> {
        let object: serde_json::Map<String, serde_json::Value> =
            serde_json::from_str(text).map_err(|err| format!("not a JSON object: {err}"))?;
        object
            .into_iter()
            .map(|(code, meaning)| match meaning {
                serde_json::Value::String(meaning) => Ok((code, meaning)),
                _ => Err(format!("the meaning of {code:?} is not a string")),
            })
            .collect()
    }

    fn csv(text: &str) -> Result<Vec<(String, String)>, String> {
        let mut entries = Vec::new();
        for (number, line) in text.lines().enumerate() {
            let line = line.trim_end_matches('\r');
            if line.trim().is_empty() {
                continue;
            }
            let Some((code, meaning)) = line.split_once(',') else {
                return Err(format!("line {}: expected code,meaning", number + 1));
            };
            if number == 0 && code.trim().eq_ignore_ascii_case("code") {
                continue;
            }
            let meaning = meaning.trim();
            let meaning = match meaning.strip_prefix('"').and_then(|m| m.strip_suffix('"')) {
                Some(quoted) => quoted.replace("\"\"", "\""),
                None => meaning.to_owned(),
            };
            entries.push((code.to_owned(), meaning));
        }
        Ok(entries)
    }

    /// The meaning of `code`, when the catalogue has it.
    pub fn meaning(&self, code: &str) -> Option<&str> {
        self.0.get(code).map(String::as_str)
    }
}

/// One day's counts: both judged, agreed, LexisNexis passes, newly rejected.
type DayCounts = [u64; 4];

/// The decision's running counts.
#[derive(Debug, Default)]
pub struct DecisionTally {
    socure_calls: u64,
    /// Newly rejected lines whose [`ATTRIBUTES`] entry Socure left unverified.
    unverified: [u64; ATTRIBUTES.len()],
    days: BTreeMap<i64, DayCounts>,
    days_beyond_limit: u64,
}

impl DecisionTally {
    /// A line whose Socure call was answered.
    pub fn socure_answered(&mut self) {
        self.socure_calls += 1;
    }

    /// A line both vendors judged, in `cell`, at `at`; `verified` is
    /// Socure's `verified_attributes`.
    pub fn judged(&mut self, cell: Agreement, at: OffsetDateTime, verified: &[impl AsRef<str>]) {
        let newly_rejected = cell == Agreement::OnlyLexisNexisPasses;
        if newly_rejected {
            for (count, attribute) in self.unverified.iter_mut().zip(ATTRIBUTES) {
                let label = attribute.label();
                *count += u64::from(!verified.iter().any(|v| v.as_ref() == label));
            }
        }
        let unix = at.unix_timestamp();
        let day = unix - unix.rem_euclid(86_400);
        if !self.days.contains_key(&day) && self.days.len() >= MAX_BUCKETS {
            self.days_beyond_limit += 1;
            return;
        }
        let counts = self.days.entry(day).or_default();
        counts[0] += 1;
        counts[1] += u64::from(matches!(cell, Agreement::BothPass | Agreement::BothFail));
        counts[2] += u64::from(matches!(
            cell,
            Agreement::BothPass | Agreement::OnlyLexisNexisPasses
        ));
        counts[3] += u64::from(newly_rejected);
    }

    /// The decision, from the judged cells' line counts (`cells[agreement
    /// as usize]`), the span the lines cover and what was asked.
    pub fn finish(
        &self,
        cells: &[u64],
        span: Option<(OffsetDateTime, OffsetDateTime)>,
        options: &DecisionOptions,
    ) -> Decision {
        let [both_pass, only_lexisnexis, only_socure, both_fail] = [
            Agreement::BothPass,
            Agreement::OnlyLexisNexisPasses,
            Agreement::OnlySocurePasses,
            Agreement::BothFail,
        ]
        .map(|cell| cells[cell as usize]);
        let both_judged = both_pass + only_lexisnexis + only_socure + both_fail;
        let newly_rejected = rate(only_lexisnexis, both_pass + only_lexisnexis);
        let agreement = rate(both_pass + both_fail, both_judged);
        let gates = gates(options, &newly_rejected, &agreement);
        let verdict = verdict(&newly_rejected, &agreement, &gates);
        Decision {
            verdict,
            gates_hold: gates.iter().all(|gate| gate.holds),
            gates,
            both_judged,
            lexisnexis_pass: rate(both_pass + only_lexisnexis, both_judged),
            socure_pass: rate(both_pass + only_socure, both_judged),
            agreement,
            newly_accepted: rate(only_socure, only_socure + both_fail),
            newly_rejected_unverified: ATTRIBUTES
                .iter()
                .zip(self.unverified)
                .map(|(attribute, count)| Count {
                    name: attribute.label().to_owned(),
                    count,
                    share: share(count, only_lexisnexis),
                })
                .collect(),
            newly_rejected,
            socure_calls: self.socure_calls,
            cost: options
                .cost_per_call
                .map(|per_call| cost(per_call, self.socure_calls, span)),
            by_day: self
                .days
                .iter()
                .map(|(start, [judged, agreed, passes, rejected])| Day {
                    start: time(OffsetDateTime::from_unix_timestamp(*start).ok())
                        .unwrap_or_default(),
                    both_judged: *judged,
                    agreed: *agreed,
                    agreement: share(*agreed, *judged),
                    lexisnexis_passes: *passes,
                    newly_rejected: *rejected,
                    newly_rejected_share: share(*rejected, *passes),
                })
                .collect(),
            days_beyond_limit: self.days_beyond_limit,
        }
    }
}

fn rate(count: u64, of: u64) -> Rate {
    Rate {
        count,
        of,
        rate: share(count, of),
        wilson_95: wilson(count, of),
    }
}

fn cost(per_call: f64, calls: u64, span: Option<(OffsetDateTime, OffsetDateTime)>) -> Cost {
    let observed_days = span
        .map(|(first, last)| (last - first).as_seconds_f64() / 86_400.0)
        .filter(|days| *days > 0.0);
    let calls_per_day = observed_days.map(|days| calls as f64 / days);
    Cost {
        per_call,
        total: calls as f64 * per_call,
        observed_days,
        calls_per_day,
        monthly: calls_per_day.map(|per_day| per_day * DAYS_PER_MONTH * per_call),
    }
}

fn gates(options: &DecisionOptions, newly_rejected: &Rate, agreement: &Rate) -> Vec<Gate> {
    let percent_of = |rate: &Rate| rate.rate.map(|r| r * 100.0);
    let mut gates = Vec::new();
    if let Some(limit) = options.max_newly_rejected {
        let value = percent_of(newly_rejected);
        gates.push(Gate {
            name: "max_newly_rejected",
            limit_percent: limit,
            value_percent: value,
            holds: value.is_some_and(|v| v <= limit),
        });
    }
    if let Some(limit) = options.min_agreement {
        let value = percent_of(agreement);
        gates.push(Gate {
            name: "min_agreement",
            limit_percent: limit,
            value_percent: value,
            holds: value.is_some_and(|v| v >= limit),
        });
    }
    gates
}

/// `29.0% (25.8–32.3%)`.
fn with_interval(rate: &Rate) -> String {
    match rate.wilson_95 {
        Some(interval) => format!(
            "{} ({}–{})",
            percent(rate.rate),
            percent(Some(interval.low)).trim_end_matches('%'),
            percent(Some(interval.high)),
        ),
        None => percent(rate.rate),
    }
}

/// A limit as given: `10`, `12.5`.
fn limit(value: f64) -> String {
    let text = format!("{value:.3}");
    text.trim_end_matches('0').trim_end_matches('.').to_owned()
}

/// The verdict: the newly rejected share, then each gate's fate.
fn verdict(newly_rejected: &Rate, agreement: &Rate, gates: &[Gate]) -> String {
    let mut sentences = Vec::new();
    let rejected = if newly_rejected.of == 0 {
        "No applicant that both vendors judged passed LexisNexis, so no newly rejected share"
            .to_owned()
    } else {
        format!(
            "Socure would newly reject {} of the applicants LexisNexis passes",
            with_interval(newly_rejected)
        )
    };
    let gate = |name| gates.iter().find(|g| g.name == name);
    match gate("max_newly_rejected") {
        Some(g) if g.value_percent.is_none() => sentences.push(format!(
            "{rejected}: your {}% limit cannot be checked.",
            limit(g.limit_percent)
        )),
        Some(g) => sentences.push(format!(
            "{rejected}: {} your {}% limit.",
            if g.holds { "within" } else { "above" },
            limit(g.limit_percent)
        )),
        None => sentences.push(format!("{rejected}.")),
    }
    if let Some(g) = gate("min_agreement") {
        sentences.push(match g.value_percent {
            None => format!(
                "No applicant was judged by both vendors: your {}% agreement minimum cannot be checked.",
                limit(g.limit_percent)
            ),
            Some(_) => format!(
                "The vendors agree on {} of the applicants both judged: {} your {}% minimum.",
                with_interval(agreement),
                if g.holds { "at or above" } else { "below" },
                limit(g.limit_percent)
            ),
        });
    }
    sentences.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cells(bp: u64, ol: u64, os: u64, bf: u64) -> Vec<u64> {
        let mut cells = vec![0; 5];
        cells[Agreement::BothPass as usize] = bp;
        cells[Agreement::OnlyLexisNexisPasses as usize] = ol;
        cells[Agreement::OnlySocurePasses as usize] = os;
        cells[Agreement::BothFail as usize] = bf;
        cells
    }

    #[test]
    fn the_verdict_names_the_share_its_interval_and_the_limit() {
        let options = DecisionOptions {
            max_newly_rejected: Some(10.0),
            ..Default::default()
        };
        let decision = DecisionTally::default().finish(&cells(517, 211, 163, 97), None, &options);
        assert_eq!(
            decision.verdict,
            "Socure would newly reject 29.0% (25.8–32.4%) of the applicants LexisNexis passes: above your 10% limit."
        );
        assert!(!decision.gates_hold);
        assert_eq!(decision.newly_rejected.count, 211);
        assert_eq!(decision.newly_rejected.of, 728);
        assert_eq!(decision.newly_accepted.count, 163);
        assert_eq!(decision.newly_accepted.of, 260);
        assert_eq!(decision.lexisnexis_pass.count, 728);
        assert_eq!(decision.socure_pass.count, 680);
        assert_eq!(decision.agreement.count, 614);
        assert_eq!(decision.both_judged, 988);

        let options = DecisionOptions {
            max_newly_rejected: Some(50.0),
            min_agreement: Some(62.5),
            ..Default::default()
        };
        let decision = DecisionTally::default().finish(&cells(517, 211, 163, 97), None, &options);
        assert!(decision.gates[0].holds);
        assert!(!decision.gates[1].holds, "614 of 988 is 62.1%");
        assert!(
            decision.verdict.ends_with("below your 62.5% minimum."),
            "{}",
            decision.verdict
        );
    }

    #[test]
    fn a_gate_without_data_fails_and_says_so() {
        let options = DecisionOptions {
            max_newly_rejected: Some(10.0),
            min_agreement: Some(90.0),
            ..Default::default()
        };
        let decision = DecisionTally::default().finish(&cells(0, 0, 0, 0), None, &options);
        assert!(!decision.gates_hold);
        assert!(decision.gates.iter().all(|g| g.value_percent.is_none()));
        assert!(
            decision.verdict.contains("cannot be checked"),
            "{}",
            decision.verdict
        );
        let none =
            DecisionTally::default().finish(&cells(1, 0, 0, 0), None, &DecisionOptions::default());
        assert!(none.gates_hold, "no gate, nothing to fail");
    }

    #[test]
    fn cost_projects_a_thirty_day_month_at_the_observed_rate() {
        let mut tally = DecisionTally::default();
        for _ in 0..988 {
            tally.socure_answered();
        }
        let first = OffsetDateTime::UNIX_EPOCH;
        let last = first + time::Duration::days(2);
        let options = DecisionOptions {
            cost_per_call: Some(0.25),
            ..Default::default()
        };
        let cost = tally
            .finish(&cells(0, 0, 0, 0), Some((first, last)), &options)
            .cost
            .expect("cost");
        assert_eq!(cost.total, 247.0);
        assert_eq!(cost.calls_per_day, Some(494.0));
        assert_eq!(cost.monthly, Some(494.0 * 30.0 * 0.25));
        let instant = tally.finish(&cells(0, 0, 0, 0), Some((first, first)), &options);
        assert_eq!(instant.cost.and_then(|c| c.monthly), None);
    }

    #[test]
    fn catalogues_read_as_csv_or_json_within_their_bounds() {
        let dir = tempfile::tempdir().expect("tempdir");
        let csv = dir.path().join("codes.csv");
        std::fs::write(
            &csv,
            "code,meaning\r\nR705,\"Address, \"\"unverified\"\"\"\nI919, <b>SSN</b> ok\n",
        )
        .expect("write");
        let catalogue = Catalogue::load(&csv).expect("csv");
        assert_eq!(catalogue.meaning("R705"), Some("Address, \"unverified\""));
        assert_eq!(catalogue.meaning("I919"), Some("<b>SSN</b> ok"));
        assert_eq!(catalogue.meaning("code"), None, "the header is skipped");

        let json = dir.path().join("codes.json");
        std::fs::write(&json, format!(r#"{{"R705": "{}"}}"#, "é".repeat(300))).expect("write");
        let catalogue = Catalogue::load(&json).expect("json");
        assert_eq!(
            catalogue.meaning("R705").map(str::len),
            Some(MAX_MEANING_BYTES)
        );

        std::fs::write(&json, r#"{"R705": 7}"#).expect("write");
        assert!(matches!(
            Catalogue::load(&json),
            Err(ReportError::Catalogue { .. })
        ));
        std::fs::write(&csv, "R705 no comma\n").expect("write");
        assert!(matches!(
            Catalogue::load(&csv),
            Err(ReportError::Catalogue { .. })
        ));
        assert!(matches!(
            Catalogue::load(&dir.path().join("missing")),
            Err(ReportError::Open { .. })
        ));
    }
}
