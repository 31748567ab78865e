//! Pure: vendor-supplied text made fit for the line: the applicant's own values, SSN-shaped digit runs and e-mail addresses become `[redacted]`, and each text is capped.
//!
//! Vendors echo what they were sent. A Socure 400's `msg`, a LexisNexis
//! `Information` block, a product's items, even an echoed reference can
//! quote the applicant, and the judges copy such text into the line
//! (`exception`, `errors`, `reference`). Every such copy goes through the
//! one [`Redactor`] the line's applicant gives, at the place the text is
//! built. It matches the values the mirror knows (case-insensitively), and
//! two shapes that are PII whoever they belong to: nine or more digits
//! (an SSN, a phone, a ZIP+4, with or without separators) and an e-mail
//! address. Where a rule is unsure it takes too much, never too little: a
//! mangled error message costs a reader a guess, a leaked SSN cannot be
//! taken back.

use std::borrow::Cow;

use serde_json::{Map, Value};

use crate::applicant::{Applicant, Dob, UserId};

/// What every redacted span becomes.
pub const REDACTED: &str = "[redacted]";

/// The most characters one vendor text keeps in the line. A vendor answer
/// may be up to 256 KiB, and one quoted whole would make a line of that size
/// (per request, in a log meant for queries); and the longer a free text,
/// the more room for PII no rule here knows (another person's name). No
/// message the judges expect comes near it. Cut after redaction, so a cut
/// never leaves half of a value that redaction would have caught.
pub const MAX_TEXT_CHARS: usize = 512;

/// A value needs this many characters to be matched inside words; shorter
/// ones (`Li`, `Ann`, `Ste 3`'s parts) are matched only as whole words, or
/// every `ann` of `cannot` would go. One character identifies no one and
/// would blank the text: not matched.
const SUBSTRING_MIN_CHARS: usize = 4;
const WORD_MIN_CHARS: usize = 2;

/// How many digits make a run PII on its shape alone: an SSN has nine, a
/// phone ten, a ZIP+4 nine.
const DIGIT_RUN_MIN: usize = 9;
/// At most this many separators between two digits of one run: `(225) 555`.
const DIGIT_RUN_MAX_GAP: usize = 2;

/// Redacts vendor text for one line, knowing that line's applicant.
///
/// Built once per line; [`Redactor::default`] knows no applicant and still
/// applies the shape rules. Holds the applicant's values, so no `Debug`.
#[derive(Default)]
pub struct Redactor {
    /// The applicant's values in every spelling matched, case-folded.
    needles: Vec<Needle>,
    /// For `Year`/`Month`/`Day` keys in a vendor's JSON.
    dob: Option<Dob>,
}

struct Needle {
    folded: String,
    /// What may not touch a match on either side.
    edge: Edge,
}

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Edge {
    /// Matched anywhere, inside words too (`McTestersons`).
    Any,
    /// A short value: only as a whole word.
    NotAlphanumeric,
    /// All digits (a ZIP, an SSN): not inside a longer number, which would
    /// be another number (a transaction id holding `70802` somewhere).
    /// A long run is the digit rule's anyway.
    NotDigit,
}

impl Redactor {
    /// A redactor for the values of `applicant` (none when the request gave
    /// no applicant: then only the shape rules apply).
    pub fn new(applicant: Option<&Applicant>) -> Self {
        let Some(applicant) = applicant else {
            return Self::default();
        };
        let mut values: Vec<String> = Vec::new();
        for name in [
            &applicant.first_name,
            &applicant.middle_name,
            &applicant.last_name,
        ]
        .into_iter()
        .flatten()
        {
            values.push(name.clone());
            // `Mary Ann`, `Smith-Jones`, `O'Brien`: each part alone too.
            values.extend(
                name.split(|c: char| c.is_whitespace() || "-'’.,".contains(c))
                    .map(str::to_owned),
            );
        }
        if let Some(ssn) = &applicant.ssn {
            values.push(ssn.clone());
            let digits = digits_of(ssn);
            if digits.len() == 9 {
                values.push(format!(
                    "{}-{}-{}",
                    &digits[..3],
                    &digits[3..5],
                    &digits[5..]
                ));
                values.push(format!(
                    "{} {} {}",
                    &digits[..3],
                    &digits[3..5],
                    &digits[5..]
                ));
            }
            values.push(digits);
        }
        if let Some(dob) = applicant.dob {
            values.extend(dob_spellings(dob));
        }
        for address in applicant.address.iter().chain(&applicant.other_addresses) {
            values.extend(
                [&address.street1, &address.street2, &address.city]
                    .into_iter()
                    .flatten()
                    .cloned(),
            );
            if let Some(zip5) = &address.zip5 {
                values.push(zip5.clone());
                if let Some(zip4) = address.zip4.as_ref().filter(|z| !z.is_empty()) {
                    values.push(format!("{zip5}-{zip4}"));
                    values.push(format!("{zip5}{zip4}"));
                }
            }
        }
        for phone in &applicant.phones {
            values.push(phone.clone());
            values.extend(phone_spellings(phone));
        }
        values.extend(applicant.email.iter().cloned());
        // A Reference that is not a UUID is free text of unknown content;
        // LexisNexis echoes it back as `Status.Reference`.
        if applicant.user_id == UserId::Invalid {
            values.extend(applicant.user_uuid.iter().cloned());
        }

        let mut needles: Vec<Needle> = values
            .iter()
            .map(|value| fold(value.trim()))
            .filter_map(|folded| {
                let chars = folded.chars().count();
                let edge = if chars < SUBSTRING_MIN_CHARS {
                    Edge::NotAlphanumeric
                } else if folded.chars().all(|c| c.is_ascii_digit()) {
                    Edge::NotDigit
                } else {
                    Edge::Any
                };
                (chars >= WORD_MIN_CHARS).then_some(Needle { folded, edge })
            })
            .collect();
        needles.sort_by(|a, b| (&a.folded, a.edge).cmp(&(&b.folded, b.edge)));
        needles.dedup_by(|a, b| a.folded == b.folded);
        Self {
            needles,
            dob: applicant.dob,
        }
    }

    /// A vendor's free text: the applicant's values, digit runs and e-mail
    /// addresses redacted, then capped at [`MAX_TEXT_CHARS`].
    pub fn text(&self, text: &str) -> String {
        let mut out = self.redact(text, Rules::All).into_owned();
        cap(&mut out);
        out
    }

    /// Every string, object key and number inside a vendor's JSON, as
    /// [`Redactor::text`] does a text; a number that would change becomes
    /// the string `[redacted]`. For JSON copied into the line as JSON.
    pub fn json(&self, value: &mut Value) {
        self.walk(value, Rules::All, true);
    }

    /// As [`Redactor::json`], numbers left as they are: for JSON that is
    /// printed into a text afterwards, which [`Redactor::text`] then reads
    /// whole (numbers included). Strings are done here, before printing,
    /// because printing escapes characters (`&` as `\u0026`) a value may hold.
    pub fn json_strings(&self, value: &mut Value) {
        self.walk(value, Rules::All, false);
    }

    /// A vendor's identifier (`transaction_id`, `reference`): only the
    /// applicant's own values, because a transaction id is a long number
    /// and the digit rule would take it. Capped as texts are.
    pub fn id(&self, value: &mut Value) {
        self.walk(value, Rules::Known, true);
    }

    fn walk(&self, value: &mut Value, rules: Rules, numbers: bool) {
        match value {
            Value::Null | Value::Bool(_) => {}
            Value::Number(n) => {
                if numbers && matches!(self.redact(&n.to_string(), rules), Cow::Owned(_)) {
                    *value = Value::String(REDACTED.to_owned());
                }
            }
            Value::String(text) => {
                if let Cow::Owned(redacted) = self.redact(text, rules) {
                    *text = redacted;
                }
                cap(text);
            }
            Value::Array(items) => {
                for item in items {
                    self.walk(item, rules, numbers);
                }
            }
            Value::Object(map) => {
                self.dob_pieces(map);
                for item in map.values_mut() {
                    self.walk(item, rules, numbers);
                }
                let changes = |key: &String| {
                    matches!(self.redact(key, rules), Cow::Owned(_))
                        || key.chars().nth(MAX_TEXT_CHARS).is_some()
                };
                // Rebuilt only when a key changes (in order, as the vendor sent
                // them). A key that becomes one already there replaces its
                // value; both were redacted, so only a value is lost.
                if map.keys().any(changes) {
                    for (key, item) in std::mem::take(map) {
                        let mut key = self.redact(&key, rules).into_owned();
                        cap(&mut key);
                        map.insert(key, item);
                    }
                }
            }
        }
    }

    /// The date of birth as LexisNexis sends it, in three keys: the pieces
    /// that match are redacted when at least two of them match (one alone,
    /// a `Day` of 1, says nothing).
    fn dob_pieces(&self, map: &mut Map<String, Value>) {
        let Some(dob) = self.dob else {
            return;
        };
        let wanted = |key: &str| -> Option<i64> {
            if key.eq_ignore_ascii_case("year") {
                Some(i64::from(dob.year))
            } else if key.eq_ignore_ascii_case("month") {
                Some(i64::from(dob.month))
            } else if key.eq_ignore_ascii_case("day") {
                Some(i64::from(dob.day))
            } else {
                None
            }
        };
        let is_piece = |key: &str, value: &Value| {
            let found = match value {
                Value::Number(n) => n.as_i64(),
                Value::String(s) => s.trim().parse().ok(),
                _ => None,
            };
            wanted(key).is_some_and(|want| found == Some(want))
        };
        let pieces = map.iter().filter(|(k, v)| is_piece(k, v)).count();
        if pieces >= 2 {
            for (key, value) in map.iter_mut() {
                if is_piece(key, value) {
                    *value = Value::String(REDACTED.to_owned());
                }
            }
        }
    }

    /// `text` with every span a rule finds replaced, uncapped; borrowed
    /// when nothing was found.
    fn redact<'t>(&self, text: &'t str, rules: Rules) -> Cow<'t, str> {
        let mut spans = Vec::new();
        if !self.needles.is_empty() {
            self.known_values(text, &mut spans);
        }
        if rules == Rules::All {
            digit_runs(text, &mut spans);
            emails(text, &mut spans);
        }
        if spans.is_empty() {
            return Cow::Borrowed(text);
        }
        spans.sort_unstable();
        // Overlapping or touching spans are one redaction.
        let mut merged: Vec<(usize, usize)> = Vec::with_capacity(spans.len());
        for (start, end) in spans {
            match merged.last_mut() {
                Some((_, last_end)) if start <= *last_end => *last_end = (*last_end).max(end),
                _ => merged.push((start, end)),
            }
        }
        let mut out = String::with_capacity(text.len());
        let mut copied = 0;
        for (start, end) in merged {
            // Spans fall on char boundaries; were one not to, the text
            // between is dropped rather than a panic (dropping is safe).
            out.push_str(text.get(copied..start).unwrap_or_default());
            out.push_str(REDACTED);
            copied = end;
        }
        out.push_str(text.get(copied..).unwrap_or_default());
        Cow::Owned(out)
    }

    /// Where the applicant's values occur in `text`, case-insensitively.
    fn known_values(&self, text: &str, spans: &mut Vec<(usize, usize)>) {
        let folded = Folded::new(text);
        for needle in &self.needles {
            for (at, _) in folded.text.match_indices(&needle.folded) {
                let end = at + needle.folded.len();
                let touches = match needle.edge {
                    Edge::Any => false,
                    Edge::NotAlphanumeric => folded.touches(at, end, char::is_alphanumeric),
                    Edge::NotDigit => folded.touches(at, end, |c| c.is_ascii_digit()),
                };
                if touches {
                    continue;
                }
                spans.push(folded.original(text, at, end));
            }
        }
    }
}

/// Which rules a redaction applies.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Rules {
    /// The applicant's values and the shapes (digit runs, e-mail addresses).
    All,
    /// The applicant's values only.
    Known,
}

/// `text` folded to lower case char by char (not `str::to_lowercase`,
/// whose final sigma depends on context: needles and text must fold alike),
/// with where each folded byte came from.
struct Folded {
    text: String,
    /// The original byte offset of the char each folded byte came from;
    /// `None` when folding kept every offset (ASCII text).
    origin: Option<Vec<usize>>,
}

impl Folded {
    fn new(text: &str) -> Self {
        if text.is_ascii() {
            return Self {
                text: text.to_ascii_lowercase(),
                origin: None,
            };
        }
        let mut folded = String::with_capacity(text.len());
        let mut origin = Vec::with_capacity(text.len());
        for (i, c) in text.char_indices() {
            for lower in c.to_lowercase() {
                folded.push(lower);
                origin.extend(std::iter::repeat_n(i, lower.len_utf8()));
            }
        }
        Self {
            text: folded,
            origin: Some(origin),
        }
    }

    /// The span of the original text that the folded `start..end` came from,
    /// widened to whole chars.
    fn original(&self, text: &str, start: usize, end: usize) -> (usize, usize) {
        let Some(origin) = &self.origin else {
            return (start, end);
        };
        let first = origin.get(start).copied().unwrap_or(text.len());
        let last = origin.get(end.saturating_sub(1)).copied().unwrap_or(first);
        let last_end = text
            .get(last..)
            .and_then(|rest| rest.chars().next())
            .map_or(text.len(), |c| last + c.len_utf8());
        (first, last_end)
    }

    /// Whether a char for which `is` holds touches folded `start..end`.
    fn touches(&self, start: usize, end: usize, is: impl Fn(char) -> bool) -> bool {
        let before = self.text[..start].chars().next_back();
        let after = self.text[end..].chars().next();
        before.is_some_and(&is) || after.is_some_and(&is)
    }
}

fn fold(text: &str) -> String {
    text.chars().flat_map(char::to_lowercase).collect()
}

fn digits_of(text: &str) -> String {
    text.chars().filter(char::is_ascii_digit).collect()
}

/// A date of birth in the spellings a vendor may use: ISO and US order,
/// padded or not, with dashes, slashes or nothing between.
fn dob_spellings(dob: Dob) -> Vec<String> {
    let (y, m, d) = (dob.year, dob.month, dob.day);
    vec![
        format!("{y:04}-{m:02}-{d:02}"),
        format!("{y:04}{m:02}{d:02}"),
        format!("{y:04}/{m:02}/{d:02}"),
        format!("{y:04}-{m}-{d}"),
        format!("{m:02}/{d:02}/{y:04}"),
        format!("{m}/{d}/{y:04}"),
        format!("{m:02}-{d:02}-{y:04}"),
        format!("{m}-{d}-{y:04}"),
        format!("{m:02}{d:02}{y:04}"),
    ]
}

/// A US phone number's usual spellings, from its last ten digits.
fn phone_spellings(phone: &str) -> Vec<String> {
    let digits = digits_of(phone);
    let Some(ten) = digits.get(digits.len().saturating_sub(10)..) else {
        return Vec::new();
    };
    if ten.len() < 10 {
        return vec![digits];
    }
    let (area, exchange, line) = (&ten[..3], &ten[3..6], &ten[6..]);
    vec![
        digits.clone(),
        ten.to_owned(),
        format!("{area}-{exchange}-{line}"),
        format!("({area}) {exchange}-{line}"),
        format!("({area}){exchange}-{line}"),
        format!("{area}.{exchange}.{line}"),
        format!("{area} {exchange} {line}"),
        format!("{exchange}-{line}"),
    ]
}

/// What may stand between the digits of one run: spaces, dashes, dots,
/// brackets, slashes.
fn is_digit_separator(c: char) -> bool {
    matches!(
        c,
        ' ' | '-' | '.' | '(' | ')' | '/' | '\u{a0}' | '\u{2010}'..='\u{2015}'
    )
}

/// Runs of [`DIGIT_RUN_MIN`] or more digits (any script's), separators
/// allowed between them: `123456789`, `123-45-6789`, `(555) 123-1234`.
fn digit_runs(text: &str, spans: &mut Vec<(usize, usize)>) {
    let mut run: Option<(usize, usize, usize)> = None; // start, end, digits
    let mut gap = 0;
    let mut close = |run: &mut Option<(usize, usize, usize)>| {
        if let Some((start, end, digits)) = run.take()
            && digits >= DIGIT_RUN_MIN
        {
            spans.push((start, end));
        }
    };
    for (i, c) in text.char_indices() {
        if c.is_numeric() {
            let end = i + c.len_utf8();
            run = Some(match run {
                Some((start, _, digits)) => (start, end, digits + 1),
                None => (i, end, 1),
            });
            gap = 0;
        } else if run.is_some() && is_digit_separator(c) && gap < DIGIT_RUN_MAX_GAP {
            gap += 1;
        } else {
            close(&mut run);
            gap = 0;
        }
    }
    close(&mut run);
}

/// `local@domain` tokens: letters, digits and `._%+-` before the `@`,
/// letters, digits, `.` and `-` after; both sides not empty.
fn emails(text: &str, spans: &mut Vec<(usize, usize)>) {
    for (at, _) in text.match_indices('@') {
        let start = text[..at]
            .char_indices()
            .rev()
            .take_while(|(_, c)| c.is_alphanumeric() || "._%+-".contains(*c))
            .last()
            .map_or(at, |(i, _)| i);
        let end = text[at + 1..]
            .char_indices()
            .take_while(|(_, c)| c.is_alphanumeric() || ".-".contains(*c))
            .last()
            .map_or(at + 1, |(i, c)| at + 1 + i + c.len_utf8());
        if start < at && end > at + 1 {
            spans.push((start, end));
        }
    }
}

/// At most [`MAX_TEXT_CHARS`] characters, cut on a char boundary; a cut
/// text ends in `…` so a reader knows.
fn cap(text: &mut String) {
    if text.chars().nth(MAX_TEXT_CHARS).is_some() {
        let keep = text
            .char_indices()
            .nth(MAX_TEXT_CHARS - 1)
            .map_or(text.len(), |(i, _)| i);
        text.truncate(keep);
        text.push('…');
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::applicant;
    use serde_json::json;

    const FIXTURE: &[u8] =
        include_bytes!("../../tests/fixtures/lexis_nexis/instant_verify/request.json");

    fn fixture() -> Redactor {
        Redactor::new(Some(&applicant::parse(FIXTURE).expect("applicant")))
    }

    fn fakey() -> Redactor {
        let body = json!({
            "Settings": {"Reference": "0987:FAKEY-900-12-3456"},
            "Person": {
                "Name": {"FirstName": "Fakey", "MiddleName": "Q", "LastName": "McFakerson-Li"},
                "SSN": {"Number": "900123456"},
                "DateOfBirth": {"Year": "1938", "Month": "10", "Day": "6"},
                "Addresses": [{"StreetAddress1": "1 Fake Rd", "StreetAddress2": "Apt 9",
                               "City": "Great Falls", "Zip5": "59010", "Zip4": "1234"},
                              {"StreetAddress1": "7 Mailing Way", "City": "Fakeville",
                               "Context": "mailing"}],
                "Phones": [{"Number": "5551231234"}],
                "Email": "fakey@example.invalid"
            }
        });
        let applicant = applicant::parse(body.to_string().as_bytes()).expect("applicant");
        Redactor::new(Some(&applicant))
    }

    fn assert_gone(redacted: &str, values: &[&str]) {
        let lower = redacted.to_lowercase();
        for value in values {
            assert!(
                !lower.contains(&value.to_lowercase()),
                "{value} in {redacted}"
            );
        }
    }

    #[test]
    fn every_known_value_goes_in_any_case() {
        let r = fixture();
        let text = r.text(
            "TESTY mctesterson, SSN 123456789 / 123-45-6789, born 1980-01-01 (01/01/1980, \
             1/1/1980, 19800101, 01011980), at 123 MAIN ST Ste 3, Baton Rouge 70802",
        );
        assert_gone(
            &text,
            &[
                "Testy",
                "McTesterson",
                "123456789",
                "6789",
                "1980",
                "main st",
                "ste 3",
                "baton",
                "70802",
            ],
        );
        assert!(text.contains(REDACTED), "{text}");
        assert!(text.starts_with("[redacted] [redacted], SSN "), "{text}");
    }

    #[test]
    fn middle_name_parts_other_addresses_phone_email_zip4_and_an_invalid_reference_go() {
        let text = fakey().text(
            "fakey q. mcfakerson-li mcfakerson LI; 1 fake rd apt 9, great falls 59010-1234; \
             call (555) 123-1234 or 555.123.1234 or 123-1234; mail FAKEY@EXAMPLE.INVALID; \
             ref fakey-900-12-3456; dob 10/6/1938; mail to 7 MAILING WAY, FAKEVILLE",
        );
        assert_gone(
            &text,
            &[
                "fakey",
                "mcfakerson",
                " li",
                "fake rd",
                "apt 9",
                "great falls",
                "59010",
                "1234",
                "example.invalid",
                "900-12",
                "1938",
                "mailing way",
                "fakeville",
            ],
        );
    }

    #[test]
    fn short_values_only_as_whole_words() {
        // `Li` (a part of the last name) and the middle initial `Q`.
        let r = fakey();
        assert_eq!(r.text("Lisbon quay"), "Lisbon quay");
        assert_eq!(r.text("Mr Li."), "Mr [redacted].");
    }

    #[test]
    fn shapes_go_without_an_applicant() {
        let r = Redactor::default();
        for (text, want) in [
            ("ssn 900123456 ok", "ssn [redacted] ok"),
            ("ssn 900-12-3456.", "ssn [redacted]."),
            ("ssn 900 12 3456", "ssn [redacted]"),
            ("call (555) 123-1234", "call ([redacted]"),
            ("+1 555 123 1234", "+[redacted]"),
            ("id 12345678", "id 12345678"),
            ("code 500 at 1980-01-01", "code 500 at 1980-01-01"),
            ("to qx.canary@example.invalid now", "to [redacted] now"),
            ("a @ b", "a @ b"),
            ("９００１２３４５６", "[redacted]"),
        ] {
            assert_eq!(r.text(text), want, "{text}");
        }
    }

    #[test]
    fn non_ascii_values_fold_and_keep_char_boundaries() {
        let body = json!({"Person": {"Name": {"FirstName": "Zoë", "LastName": "ÑÚÑEZ"}}});
        let applicant = applicant::parse(body.to_string().as_bytes()).expect("applicant");
        let r = Redactor::new(Some(&applicant));
        assert_eq!(r.text("ZOË ñúñez—İx"), "[redacted] [redacted]—İx");
        // A fold that grows (İ to i̇) does not shift what follows.
        assert_eq!(r.text("İİ ñúñez"), "İİ [redacted]");
    }

    #[test]
    fn json_redacts_strings_keys_numbers_and_dob_pieces() {
        let r = fixture();
        let mut value = json!({
            "Testy": [{"Text": "for MCTESTERSON"}, 123456789, 42, 1.5, null, true],
            "DOB": {"Year": 1980, "Month": "01", "Day": 1},
            "Other": {"Year": 2024, "Month": 1, "Day": 2},
            "Code": "invalid_transaction_initiate"
        });
        r.json(&mut value);
        assert_eq!(
            value,
            json!({
                "[redacted]": [{"Text": "for [redacted]"}, "[redacted]", 42, 1.5, null, true],
                "DOB": {"Year": "[redacted]", "Month": "[redacted]", "Day": "[redacted]"},
                "Other": {"Year": 2024, "Month": 1, "Day": 2},
                "Code": "invalid_transaction_initiate"
            })
        );
        let mut numbers = json!({"n": 123456789, "s": "123456789"});
        Redactor::default().json_strings(&mut numbers);
        assert_eq!(numbers, json!({"n": 123456789, "s": "[redacted]"}));
    }

    #[test]
    fn ids_keep_long_numbers_and_lose_known_values() {
        let r = fixture();
        // The ZIP inside a longer number is another number.
        let mut id = json!("31000708021234");
        r.id(&mut id);
        assert_eq!(id, "31000708021234");
        let mut id = json!(123456789);
        r.id(&mut id);
        assert_eq!(id, REDACTED);
        let mut reference = json!("0987:123456789-McTesterson");
        r.id(&mut reference);
        assert_eq!(reference, "0987:[redacted]-[redacted]");
        let mut echoed = json!("0987:aaaa-not-a-uuid");
        let body = br#"{"Settings":{"Reference":"0987:aaaa-not-a-uuid"},"Person":{"Name":{"FirstName":"FAKEY"}}}"#;
        let applicant = applicant::parse(body).expect("applicant");
        Redactor::new(Some(&applicant)).id(&mut echoed);
        assert_eq!(echoed, "0987:[redacted]");
    }

    #[test]
    fn texts_are_capped_on_a_char_boundary_after_redaction() {
        let long = "é".repeat(MAX_TEXT_CHARS * 2);
        let capped = Redactor::default().text(&long);
        assert_eq!(capped.chars().count(), MAX_TEXT_CHARS);
        assert!(capped.ends_with('…'));
        let exact = "x".repeat(MAX_TEXT_CHARS);
        assert_eq!(Redactor::default().text(&exact), exact);
        // An SSN across the cut is redacted first, so no half of it is kept.
        let across = format!("{}123456789", "x".repeat(MAX_TEXT_CHARS - 4));
        let capped = Redactor::default().text(&across);
        assert!(!capped.contains("123"), "{capped}");
    }

    #[test]
    fn nothing_panics_on_odd_text() {
        let r = fakey();
        for text in [
            "",
            "@",
            "@@x@",
            "9",
            "-(-)-",
            "\u{2028}\u{0}",
            "ǅǆİ",
            "1 2 3 4 5 6 7 8 9",
        ] {
            let _ = r.text(text);
            let mut map = Map::new();
            map.insert(text.to_owned(), json!([text, {"Year": text, "Day": text}]));
            let mut value = Value::Object(map);
            r.json(&mut value);
        }
    }
}
