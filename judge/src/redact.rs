//! Pure: vendor-supplied text made fit for the line: the applicant's own values, SSN-shaped digit runs and e-mail addresses become `[redacted]`, each text is capped, and ids are kept only when they are short strings or numbers.
//!
//! Vendors echo what they were sent. A Socure 400's `msg`, a LexisNexis
//! `Information` block, a product's items, even an echoed reference can
//! quote the applicant, and the judges copy such text into the line
//! (`exception`, `errors`, `reference`). Every such copy goes through the
//! one [`Redactor`] the line's applicant gives, at the place the text is
//! built. Text is first put in one form (`normal`: NFKC, no invisible
//! code points, one space for any run of whitespace), and the line carries
//! that form. Then it matches the values the mirror knows, in the spellings
//! a vendor may use (`spellings`: any case, without accents, a street's
//! suffix either way, a date's or an SSN's digit groups with any
//! separators, a month by its name), and two shapes that are PII whoever
//! they belong to: nine or more digits (an SSN, a phone, a ZIP+4, with or
//! without separators) and an e-mail address. An id ([`Redactor::id`]) is
//! only ever a short string or number.
//! Where a rule is unsure it takes too much, never too little: a mangled
//! error message costs a reader a guess, a leaked SSN cannot be taken back.

use std::borrow::Cow;

use serde::Serialize;
use serde_json::{Map, Value};
use unicode_normalization::char::{decompose_compatible, is_combining_mark};

use crate::applicant::{Applicant, Dob, UserId};

mod normal;
mod spellings;

use normal::normalise;
use spellings::{MAX_GROUP_GAP, NUMBER_MIN_DIGITS, Numbers};

/// What every redacted span becomes.
pub const REDACTED: &str = "[redacted]";

/// The most characters one vendor text keeps in the line. A vendor answer
/// may be up to 256 KiB, and one quoted whole would make a line of that size
/// (per request, in a log meant for queries); and the longer a free text,
/// the more room for PII no rule here knows (another person's name). No
/// message the judges expect comes near it. Cut after redaction, so a cut
/// never leaves half of a value that redaction would have caught.
pub const MAX_TEXT_CHARS: usize = 512;

/// The most characters a vendor's id may have to be written at all. Real
/// ones are short (a UUID is 36, a LexisNexis `ConversationId` 14); an id
/// much longer than that is not an id but something else copied there, and
/// is withheld rather than cut (half an id identifies nothing).
pub const MAX_ID_CHARS: usize = 128;

/// A value needs this many characters to be matched inside words; shorter
/// ones (`Li`, `Ann`, `Ste 3`'s parts) are matched only as whole words, or
/// every `ann` of `cannot` would go. One character identifies no one and
/// would blank the text: not matched.
const SUBSTRING_MIN_CHARS: usize = 4;
const WORD_MIN_CHARS: usize = 2;

/// How many digits make a run PII on its shape alone: an SSN has nine, a
/// phone ten, a ZIP+4 nine.
const DIGIT_RUN_MIN: usize = 9;
/// At most this many separators between two digits of one run: `(225) 555`,
/// `900 - 55`.
const DIGIT_RUN_MAX_GAP: usize = 3;
/// In an id, a run of this many digits or more with no separator is the
/// vendor's own number (a LexisNexis `ConversationId` has 14), not PII: a
/// US phone with its country code has 11.
const ID_NUMBER_MIN_DIGITS: usize = 12;

/// Redacts vendor text for one line, knowing that line's applicant.
///
/// Built once per line; [`Redactor::default`] knows no applicant and still
/// applies the shape rules. Holds the applicant's values, so no `Debug`.
#[derive(Default)]
pub struct Redactor {
    /// The applicant's values that are words, in every spelling matched,
    /// normalised and case-folded.
    needles: Vec<Needle>,
    /// The applicant's values that are numbers, as digit groups.
    numbers: Numbers,
    /// For `Year`/`Month`/`Day` keys in a vendor's JSON.
    dob: Option<Dob>,
}

struct Needle {
    folded: String,
    /// What may not touch a match on either side.
    edge: Edge,
    /// The bytes it holds: a text without one of them cannot hold it, and
    /// is not searched for it (most of a line's texts hold none of the
    /// applicant's values, and setting up a search cost more than it did).
    bytes: ByteSet,
}

/// Which byte values occur in a string.
#[derive(Clone, Copy, Default, PartialEq, Eq)]
struct ByteSet([u64; 4]);

impl ByteSet {
    const ALL: Self = Self([u64::MAX; 4]);

    fn of(text: &str) -> Self {
        let mut set = Self::default();
        for b in text.bytes() {
            set.add(b);
        }
        set
    }

    fn add(&mut self, b: u8) {
        self.0[usize::from(b >> 6)] |= 1 << (b & 63);
    }

    /// Whether every byte of `self` is in `other` too.
    fn within(self, other: Self) -> bool {
        self.0
            .iter()
            .zip(other.0)
            .all(|(mine, theirs)| mine & !theirs == 0)
    }
}

/// What one pass over a text's bytes tells the rules before any runs:
/// most of a vendor's texts need none of them.
#[derive(Default)]
struct Glance {
    ascii: bool,
    /// Two blanks (a space or `\t..=\r`) in a row, which normalising joins.
    blank_run: bool,
    /// One of `\t..=\r`, which the matching reads as a space.
    control_blank: bool,
    /// How many ASCII digits.
    digits: usize,
    /// An `@`, which every e-mail address has.
    at: bool,
    /// The bytes, lower case and `\t..=\r` as a space (as folding makes
    /// an ASCII text).
    present: ByteSet,
}

impl Glance {
    fn of(text: &str) -> Self {
        if text.len() <= GLANCE_BYTES_PRESENT {
            Self::of_short(text)
        } else {
            Self::of_long(text)
        }
    }

    /// A short text (nearly every one) in one pass, its bytes noted: two
    /// table lookups per byte.
    fn of_short(text: &str) -> Self {
        let (mut seen, mut run, mut previous) = (0u8, 0u8, 0u8);
        let mut digits = 0;
        let mut present = ByteSet::default();
        for &b in text.as_bytes() {
            let class = BYTE_CLASS[usize::from(b)];
            seen |= class;
            run |= class & previous;
            previous = class;
            digits += usize::from(class & DIGIT != 0);
            present.add(BYTE_FOLDED[usize::from(b)]);
        }
        Glance {
            ascii: seen & NOT_ASCII == 0,
            blank_run: run & BLANK != 0,
            control_blank: seen & CONTROL_BLANK != 0,
            digits,
            at: seen & AT != 0,
            present,
        }
    }

    /// A long text: one pass per question, each of a kind that runs a word
    /// or a vector at a time; its bytes not noted (a long text almost
    /// always holds those of a value, and is searched anyway).
    fn of_long(text: &str) -> Self {
        let bytes = text.as_bytes();
        let is_blank = |b: u8| b == b' ' || (b'\t'..=b'\r').contains(&b);
        Glance {
            ascii: text.is_ascii(),
            blank_run: bytes
                .windows(2)
                .any(|pair| is_blank(pair[0]) && is_blank(pair[1])),
            control_blank: bytes
                .iter()
                .fold(false, |seen, b| seen | (b'\t'..=b'\r').contains(b)),
            digits: bytes.iter().filter(|b| b.is_ascii_digit()).count(),
            at: bytes.contains(&b'@'),
            present: ByteSet::ALL,
        }
    }
}

/// What [`Glance::of_short`] notes of each byte value: bits of
/// [`BYTE_CLASS`].
const BLANK: u8 = 1;
const CONTROL_BLANK: u8 = 2;
const DIGIT: u8 = 4;
const AT: u8 = 8;
const NOT_ASCII: u8 = 16;

/// Each byte value's bits: a space or `\t..=\r` is `BLANK` (the latter
/// `CONTROL_BLANK` too), an ASCII digit `DIGIT`, `@` `AT`, 0x80 and up
/// `NOT_ASCII`.
const BYTE_CLASS: [u8; 256] = {
    let mut table = [0u8; 256];
    let mut b = 0;
    while b < 256 {
        table[b] = match b as u8 {
            b' ' => BLANK,
            b'\t'..=b'\r' => BLANK | CONTROL_BLANK,
            b'0'..=b'9' => DIGIT,
            b'@' => AT,
            0x80..=0xFF => NOT_ASCII,
            _ => 0,
        };
        b += 1;
    }
    table
};

/// Each byte value as folding reads it in ASCII text: lower case, and
/// `\t..=\r` a space.
const BYTE_FOLDED: [u8; 256] = {
    let mut table = [0u8; 256];
    let mut b = 0;
    while b < 256 {
        table[b] = match b as u8 {
            b'\t'..=b'\r' => b' ',
            other => other.to_ascii_lowercase(),
        };
        b += 1;
    }
    table
};

/// The longest text [`Glance::of`] reads in one pass, noting its bytes.
const GLANCE_BYTES_PRESENT: usize = 256;

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Edge {
    /// Matched anywhere, inside words too (`McTestersons`).
    Any,
    /// A short value: only as a whole word.
    NotAlphanumeric,
    /// All digits: not inside a longer number, which would be another
    /// number. A long run is the digit rule's anyway.
    NotDigit,
}

/// Why a vendor's id was left out of the line (`null` there), as the line's
/// `ids_withheld` says it.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Serialize, strum::IntoStaticStr, strum::VariantArray,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum IdWithheld {
    /// More than [`MAX_ID_CHARS`] characters.
    TooLong,
    /// An object, an array or a boolean.
    NotAStringOrNumber,
}

impl Redactor {
    /// A redactor for the values of `applicant` (none when the request gave
    /// no applicant: then only the shape rules apply).
    pub fn new(applicant: Option<&Applicant>) -> Self {
        let Some(applicant) = applicant else {
            return Self::default();
        };
        // Sized for an applicant with a full name, an address or two and a
        // date (about twenty values, twenty spellings of numbers), so
        // neither list is grown and copied on the way.
        let mut values: Vec<String> = Vec::with_capacity(24);
        let mut numbers = Numbers::with_capacity(32);
        for name in [
            &applicant.first_name,
            &applicant.middle_name,
            &applicant.last_name,
        ]
        .into_iter()
        .flatten()
        {
            let name = comparable(name);
            // `Mary Ann`, `Smith-Jones`, `O'Brien`: each part alone too.
            values.extend(
                name.split(|c: char| c.is_whitespace() || "-'’.,".contains(c))
                    .map(str::to_owned),
            );
            values.push(name);
        }
        if let Some(ssn) = &applicant.ssn {
            spellings::ssn(&mut numbers, &digits_of(ssn));
        }
        if let Some(dob) = applicant.dob {
            spellings::dob(&mut numbers, dob);
        }
        for address in applicant.address.iter().chain(&applicant.other_addresses) {
            for line in [&address.street1, &address.street2].into_iter().flatten() {
                values.extend(spellings::street(&comparable(line)));
            }
            values.extend(address.city.as_deref().map(comparable));
            if let Some(zip5) = &address.zip5 {
                let zip4 = address.zip4.as_deref().map(digits_of);
                spellings::zip(&mut numbers, &digits_of(zip5), zip4.as_deref());
            }
        }
        for phone in &applicant.phones {
            spellings::phone(&mut numbers, &digits_of(phone));
        }
        values.extend(applicant.email.as_deref().map(comparable));
        // A Reference that is not a UUID is free text of unknown content;
        // LexisNexis echoes it back as `Status.Reference`.
        if applicant.user_id == UserId::Invalid {
            values.extend(applicant.user_uuid.as_deref().map(comparable));
        }

        let mut needles: Vec<Needle> = values
            .into_iter()
            .filter_map(|folded| {
                let chars = folded.chars().count();
                let edge = if chars < SUBSTRING_MIN_CHARS {
                    Edge::NotAlphanumeric
                } else if folded.chars().all(|c| c.is_ascii_digit()) {
                    Edge::NotDigit
                } else {
                    Edge::Any
                };
                let bytes = ByteSet::of(&folded);
                (chars >= WORD_MIN_CHARS).then_some(Needle {
                    folded,
                    edge,
                    bytes,
                })
            })
            .collect();
        needles.sort_by(|a, b| (&a.folded, a.edge).cmp(&(&b.folded, b.edge)));
        needles.dedup_by(|a, b| a.folded == b.folded);
        Self {
            needles,
            numbers,
            dob: applicant.dob,
        }
    }

    /// A vendor's free text: the applicant's values, digit runs and e-mail
    /// addresses redacted, then capped at [`MAX_TEXT_CHARS`].
    pub fn text(&self, text: &str) -> String {
        let mut out = self.redact(text, Rules::Text).into_owned();
        cap(&mut out);
        out
    }

    /// Every string, object key and number inside a vendor's JSON, as
    /// [`Redactor::text`] does a text; a number that would change becomes
    /// the string `[redacted]`. For JSON copied into the line as JSON.
    pub fn json(&self, value: &mut Value) {
        self.walk(value, true);
    }

    /// As [`Redactor::json`], numbers left as they are: for JSON that is
    /// printed into a text afterwards, which [`Redactor::text`] then reads
    /// whole (numbers included). Strings are done here, before printing,
    /// because printing escapes characters (`&` as `\u0026`) a value may hold.
    pub fn json_strings(&self, value: &mut Value) {
        self.walk(value, false);
    }

    /// A string inside vendor JSON as [`Redactor::json`] leaves it:
    /// redacted as text, capped; borrowed when nothing changed. For JSON
    /// written into the line as it is read, without a `Value`.
    pub(crate) fn json_string<'t>(&self, text: &'t str) -> Cow<'t, str> {
        let mut redacted = self.redact(text, Rules::Text);
        if longer_than_text_cap(&redacted) {
            cap(redacted.to_mut());
        }
        redacted
    }

    /// Whether [`Redactor::json`] keeps an object's key as it is; when it
    /// does not, it rebuilds the object, and a writer that cannot should
    /// leave the JSON to it.
    pub(crate) fn json_key_kept(&self, key: &str) -> bool {
        matches!(self.redact(key, Rules::Text), Cow::Borrowed(_)) && !longer_than_text_cap(key)
    }

    /// Whether [`Redactor::json`] keeps a number (else it becomes the
    /// string [`REDACTED`]).
    pub(crate) fn json_number_kept(&self, number: &serde_json::Number) -> bool {
        matches!(
            self.redact(&number.to_string(), Rules::Text),
            Cow::Borrowed(_)
        )
    }

    /// Whether [`Redactor::json`] may redact the value under `key` as a piece
    /// of the date of birth, which it decides from the whole object.
    pub(crate) fn may_be_dob_piece(&self, key: &str) -> bool {
        self.dob.is_some()
            && ["year", "month", "day"]
                .iter()
                .any(|piece| key.eq_ignore_ascii_case(piece))
    }

    /// A vendor's identifier (`transaction_id`, `reference`), which the
    /// vendor may have filled with anything. A string or a number of at most
    /// [`MAX_ID_CHARS`] characters is redacted as text is, except that a
    /// UUID and a long unbroken number (the vendors' own ids) are not digit
    /// runs; a number that would change becomes the redacted string.
    /// Anything else becomes `null`, and the reason is returned for the
    /// line to say. `null` stays `null`.
    pub fn id(&self, value: &mut Value) -> Option<IdWithheld> {
        let withheld = match value {
            Value::Null => None,
            Value::String(text) if text.chars().nth(MAX_ID_CHARS).is_some() => {
                Some(IdWithheld::TooLong)
            }
            Value::String(text) => {
                if let Cow::Owned(redacted) = self.redact(text, Rules::Id) {
                    *text = redacted;
                }
                None
            }
            Value::Number(n) => {
                let text = n.to_string();
                if text.chars().nth(MAX_ID_CHARS).is_some() {
                    Some(IdWithheld::TooLong)
                } else {
                    if let Cow::Owned(redacted) = self.redact(&text, Rules::Id) {
                        *value = Value::String(redacted);
                    }
                    None
                }
            }
            Value::Bool(_) | Value::Array(_) | Value::Object(_) => {
                Some(IdWithheld::NotAStringOrNumber)
            }
        };
        if withheld.is_some() {
            *value = Value::Null;
        }
        withheld
    }

    fn walk(&self, value: &mut Value, numbers: bool) {
        match value {
            Value::Null | Value::Bool(_) => {}
            Value::Number(n) => {
                if numbers && matches!(self.redact(&n.to_string(), Rules::Text), Cow::Owned(_)) {
                    *value = Value::String(REDACTED.to_owned());
                }
            }
            Value::String(text) => {
                if let Cow::Owned(redacted) = self.redact(text, Rules::Text) {
                    *text = redacted;
                }
                cap(text);
            }
            Value::Array(items) => {
                for item in items {
                    self.walk(item, numbers);
                }
            }
            Value::Object(map) => {
                self.dob_pieces(map);
                for item in map.values_mut() {
                    self.walk(item, numbers);
                }
                let changes = |key: &String| {
                    matches!(self.redact(key, Rules::Text), Cow::Owned(_))
                        || longer_than_text_cap(key)
                };
                // Rebuilt only when a key changes (in order, as the vendor sent
                // them). A key that becomes one already there replaces its
                // value; both were redacted, so only a value is lost.
                if map.keys().any(changes) {
                    for (key, item) in std::mem::take(map) {
                        let mut key = self.redact(&key, Rules::Text).into_owned();
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

    /// `text` normalised, with every span a rule finds replaced, uncapped;
    /// borrowed when normalising changed nothing and nothing was found.
    fn redact<'t>(&self, text: &'t str, rules: Rules) -> Cow<'t, str> {
        let mut glance = Glance::of(text);
        // ASCII without two blanks in a row is normal already: NFKC leaves
        // ASCII as it is, and ASCII holds no default-ignorable code point.
        let text = if glance.ascii && !glance.blank_run {
            Cow::Borrowed(text)
        } else {
            normalise(text)
        };
        if let Cow::Owned(normal) = &text {
            glance = Glance::of(normal);
        }
        let mut spans = Vec::new();
        if self.may_hold_a_value(&glance) {
            self.known_values(&text, &glance, &mut spans);
        }
        // Only ASCII digits make digit groups, and no number of the
        // applicant's is written with fewer.
        if !self.numbers.is_empty() && glance.digits >= self.numbers.min_digits_in_text() {
            self.known_numbers(&text, rules, &mut spans);
        }
        // An ASCII text needs that many ASCII digits for a run; another
        // text may hold other scripts' digits.
        if !glance.ascii || glance.digits >= DIGIT_RUN_MIN {
            match rules {
                Rules::Text => digit_runs(&text, &mut spans, |_| true),
                Rules::Id => id_digit_runs(&text, &mut spans),
            }
        }
        if glance.at {
            emails(&text, &mut spans);
        }
        if spans.is_empty() {
            return text;
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

    /// Whether one of the applicant's word values may be in a text: for
    /// ASCII, only when every byte of one is (most of a vendor's texts, its
    /// keys and names of checks, hold none of the values, and a search is
    /// dearer than this look).
    fn may_hold_a_value(&self, glance: &Glance) -> bool {
        if !glance.ascii {
            return !self.needles.is_empty();
        }
        self.needles
            .iter()
            .any(|needle| needle.bytes.within(glance.present))
    }

    /// Where the applicant's word values occur in `text`, case-insensitively.
    fn known_values(&self, text: &str, glance: &Glance, spans: &mut Vec<(usize, usize)>) {
        if glance.ascii && !glance.control_blank && text.len() <= IN_PLACE_SEARCH_BYTES {
            // Folding would only lower the case: compared in place.
            self.known_values_in_ascii(text.as_bytes(), glance, spans);
            return;
        }
        let folded = Folded::new(text);
        let present = ByteSet::of(&folded.text);
        for needle in &self.needles {
            if !needle.bytes.within(present) {
                continue;
            }
            // Every occurrence, overlapping ones too (`abab` twice in
            // `ababab`): the spans are merged afterwards, and a match that
            // touches what it may not can hide one that does not.
            let mut from = 0;
            while let Some(found) = folded
                .text
                .get(from..)
                .and_then(|rest| rest.find(&needle.folded))
            {
                let at = from + found;
                let end = at + needle.folded.len();
                from = at + folded.text[at..].chars().next().map_or(1, char::len_utf8);
                let touches = match needle.edge {
                    Edge::Any => false,
                    Edge::NotAlphanumeric => folded.touches(at, end, char::is_alphanumeric),
                    Edge::NotDigit => folded.touches(at, end, |c| c.is_ascii_digit()),
                };
                if !touches {
                    spans.push(folded.original(text, at, end));
                }
            }
        }
    }

    /// [`Redactor::known_values`] in an ASCII text without `\t..=\r`, whose
    /// folded form is its lower case: every occurrence, overlapping ones too.
    fn known_values_in_ascii(&self, text: &[u8], glance: &Glance, spans: &mut Vec<(usize, usize)>) {
        for needle in &self.needles {
            if !needle.bytes.within(glance.present) {
                continue;
            }
            let needle_bytes = needle.folded.as_bytes();
            let Some(last_start) = text.len().checked_sub(needle_bytes.len()) else {
                continue;
            };
            let Some(&first) = needle_bytes.first() else {
                continue;
            };
            for at in 0..=last_start {
                if text[at].to_ascii_lowercase() != first
                    || !text[at..at + needle_bytes.len()].eq_ignore_ascii_case(needle_bytes)
                {
                    continue;
                }
                let end = at + needle_bytes.len();
                let touches = |is: fn(&u8) -> bool| {
                    at.checked_sub(1).and_then(|i| text.get(i)).is_some_and(is)
                        || text.get(end).is_some_and(is)
                };
                let touched = match needle.edge {
                    Edge::Any => false,
                    Edge::NotAlphanumeric => touches(u8::is_ascii_alphanumeric),
                    Edge::NotDigit => touches(u8::is_ascii_digit),
                };
                if !touched {
                    spans.push((at, end));
                }
            }
        }
    }

    /// Where the applicant's numbers occur in `text` as digit groups.
    ///
    /// A number is matched as a string would be: its first group may end a
    /// longer run of digits and its last may start one (`011/3/1911`,
    /// `1911-11-035`), and then those whole runs are redacted; a number of
    /// one group anywhere in a run. Normalising can make a run longer than
    /// the vendor wrote it (`²00501` is `200501`), so a text never keeps a
    /// value for being inside another number. An id does, for one group
    /// only: a vendor's long transaction number may hold a ZIP by chance.
    fn known_numbers(&self, text: &str, rules: Rules, spans: &mut Vec<(usize, usize)>) {
        let groups = digit_groups(text);
        // A number's groups are matched within one chain; a chain's groups
        // stand together in `groups`, and most chains have one group (a
        // UUID's digits, a word's), which only a number of one group fits.
        for chain in groups.chunk_by(|a, b| a.chain == b.chain) {
            self.numbers_in_chain(chain, rules, spans);
        }
    }

    /// [`Redactor::known_numbers`] in one chain of groups.
    fn numbers_in_chain(&self, chain: &[Group<'_>], rules: Rules, spans: &mut Vec<(usize, usize)>) {
        // A lone group fits only a number of one group, which has at least
        // `NUMBER_MIN_DIGITS` digits: a shorter group, or a month's name,
        // holds none (a UUID's digits between its letters, a word's `1`).
        if let [only] = chain
            && (!only.digits || only.value.len() < NUMBER_MIN_DIGITS)
        {
            return;
        }
        for (k, number) in self.numbers.iter() {
            if k > chain.len() {
                continue;
            }
            for window in chain.windows(k) {
                let fits = |(i, group): (usize, &Group<'_>)| {
                    let value = number(i);
                    match i {
                        _ if !group.digits => group.value == value,
                        _ if k == 1 && rules == Rules::Id => group.value == value,
                        _ if k == 1 => group.value.contains(value),
                        0 => group.value.ends_with(value),
                        _ if i == k - 1 => group.value.starts_with(value),
                        _ => group.value == value,
                    }
                };
                if window.iter().enumerate().all(fits) {
                    spans.push((window[0].start, window[k - 1].end));
                }
            }
        }
    }
}

/// Which rules a redaction applies.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Rules {
    /// The applicant's values and the shapes (digit runs, e-mail addresses).
    Text,
    /// As `Text`, but an id's UUIDs and long unbroken numbers are no digit runs.
    Id,
}

/// A value as it is compared: normalised, then case-folded.
fn comparable(value: &str) -> String {
    fold(normalise(value).trim())
}

/// `text` folded to lower case char by char (not `str::to_lowercase`,
/// whose final sigma depends on context: needles and text must fold alike),
/// any whitespace character read as a space and letters without their
/// accents, with where each folded byte came from.
struct Folded {
    text: String,
    /// The original byte offset of the char each folded byte came from;
    /// `None` when folding kept every offset (ASCII text).
    origin: Option<Vec<usize>>,
}

impl Folded {
    fn new(text: &str) -> Self {
        if text.is_ascii() {
            let mut folded = text.to_ascii_lowercase();
            if folded.bytes().any(|b| (b'\t'..=b'\r').contains(&b)) {
                folded = folded
                    .chars()
                    .map(|c| if c.is_whitespace() { ' ' } else { c })
                    .collect();
            }
            return Self {
                text: folded,
                origin: None,
            };
        }
        let mut folded = String::with_capacity(text.len());
        let mut origin = Vec::with_capacity(text.len());
        for (i, c) in text.char_indices() {
            if c.is_whitespace() {
                folded.push(' ');
                origin.push(i);
                continue;
            }
            // Read without its marks: `canarý` and `canary\u{301}` are
            // `canary`, as `Zoë` is `zoe`.
            decompose_compatible(c, |part| {
                if !is_combining_mark(part) {
                    for lower in part.to_lowercase() {
                        folded.push(lower);
                        origin.extend(std::iter::repeat_n(i, lower.len_utf8()));
                    }
                }
            });
        }
        Self {
            text: folded,
            origin: Some(origin),
        }
    }

    /// The span of the original text that the folded `start..end` came from,
    /// widened to whole chars and the marks after them.
    fn original(&self, text: &str, start: usize, end: usize) -> (usize, usize) {
        let Some(origin) = &self.origin else {
            return (start, end);
        };
        let first = origin.get(start).copied().unwrap_or(text.len());
        let last = origin.get(end.saturating_sub(1)).copied().unwrap_or(first);
        let mut last_end = text
            .get(last..)
            .and_then(|rest| rest.chars().next())
            .map_or(text.len(), |c| last + c.len_utf8());
        // With the marks on its last letter, which the folded text dropped.
        while let Some(mark) = text
            .get(last_end..)
            .and_then(|rest| rest.chars().next())
            .filter(|c| is_combining_mark(*c))
        {
            last_end += mark.len_utf8();
        }
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
    Folded::new(text).text
}

fn digits_of(text: &str) -> String {
    text.chars().filter(char::is_ascii_digit).collect()
}

/// One group of a number in a text: a run of ASCII digits, or a month's
/// name standing for its number.
struct Group<'t> {
    start: usize,
    end: usize,
    value: &'t str,
    /// Digits in the text, not a month's name.
    digits: bool,
    /// Groups of one chain follow each other with at most
    /// [`MAX_GROUP_GAP`] separators between, and no word.
    chain: usize,
}

/// The digit groups of `text` (normalised: full-width digits are ASCII
/// by now), each whole: a group is never a part of a longer run of digits.
///
/// Only the stretches of text around digits are read: a month's name
/// counts only next to a number, and most of a vendor's text is words.
fn digit_groups(text: &str) -> Vec<Group<'_>> {
    // A month's name and the separators before the next group, in bytes,
    // with room to spare; a stretch is then widened to whole words.
    const REACH: usize = 24;
    let bytes = text.as_bytes();
    let is_word = |b: u8| b.is_ascii_alphanumeric() || !b.is_ascii();
    let mut stretches: Vec<(usize, usize)> = Vec::new();
    let mut at = 0;
    while let Some(found) = bytes
        .get(at..)
        .and_then(|rest| rest.iter().position(u8::is_ascii_digit))
    {
        let first = at + found;
        let mut last = first;
        while bytes.get(last).is_some_and(u8::is_ascii_digit) {
            last += 1;
        }
        let mut start = first.saturating_sub(REACH);
        while start > 0 && is_word(bytes[start - 1]) {
            start -= 1;
        }
        let mut end = (last + REACH).min(bytes.len());
        while end < bytes.len() && is_word(bytes[end]) {
            end += 1;
        }
        match stretches.last_mut() {
            Some((_, last_end)) if start <= *last_end => *last_end = end,
            _ => stretches.push((start, end)),
        }
        at = last;
    }
    let mut groups = Vec::new();
    let mut chain = 0;
    for (start, end) in stretches {
        chain += 1;
        groups_between(text, start, end, &mut chain, &mut groups);
    }
    groups
}

/// The groups of `text[start..end]`, which starts and ends between words.
fn groups_between<'t>(
    text: &'t str,
    start: usize,
    end: usize,
    chain: &mut usize,
    groups: &mut Vec<Group<'t>>,
) {
    // By bytes, decoding a char only where one is not ASCII.
    let bytes = text.as_bytes();
    let char_at = |i: usize| text.get(i..).and_then(|rest| rest.chars().next());
    // Whether the next group continues the chain, and the separators since
    // the last group.
    let (mut joins, mut gap) = (false, 0);
    let mut i = start;
    while i < end {
        let start = i;
        let mut ascii = true;
        if bytes[i].is_ascii_digit() {
            while bytes.get(i).is_some_and(u8::is_ascii_digit) {
                i += 1;
            }
        } else {
            // A word: letters of any script, only ASCII ones naming a month.
            while let Some(&b) = bytes.get(i) {
                if b.is_ascii_alphabetic() {
                    i += 1;
                } else if !b.is_ascii()
                    && let Some(c) = char_at(i).filter(|c| c.is_alphabetic())
                {
                    ascii = false;
                    i += c.len_utf8();
                } else {
                    break;
                }
            }
            if i == start {
                // Neither: a separator, or a digit of another script.
                let c = if bytes[i].is_ascii() {
                    char::from(bytes[i])
                } else {
                    char_at(i).unwrap_or(' ')
                };
                i += c.len_utf8();
                if c.is_alphanumeric() {
                    joins = false;
                } else {
                    gap += 1;
                    joins &= gap <= MAX_GROUP_GAP;
                }
                continue;
            }
        }
        let word = &text[start..i];
        let value = if bytes[start].is_ascii_digit() {
            Some(word)
        } else if ascii {
            spellings::month(word)
        } else {
            None
        };
        if let Some(value) = value {
            if !joins {
                *chain += 1;
            }
            groups.push(Group {
                start,
                end: i,
                value,
                digits: bytes[start].is_ascii_digit(),
                chain: *chain,
            });
            (joins, gap) = (true, 0);
        } else {
            // `23rd`: the suffix keeps the day in its chain.
            let ordinal = gap == 0
                && groups.last().is_some_and(|g| g.end == start)
                && spellings::is_ordinal_suffix(word);
            joins &= ordinal;
        }
    }
}

/// What may stand between the digits of one run: spaces, dashes, dots,
/// brackets, slashes, underscores.
fn is_digit_separator(c: char) -> bool {
    matches!(
        c,
        ' ' | '-' | '.' | '(' | ')' | '/' | '_' | '\u{a0}' | '\u{2010}'..='\u{2015}'
    )
}

/// A run of digits found by [`digit_runs`].
struct Run {
    start: usize,
    end: usize,
    digits: usize,
    /// Whether a separator stands between two of its digits.
    separated: bool,
}

/// Runs of [`DIGIT_RUN_MIN`] or more digits (any script's), separators
/// allowed between them: `123456789`, `123-45-6789`, `(555) 123-1234`;
/// those for which `is_pii` holds are redacted.
fn digit_runs(text: &str, spans: &mut Vec<(usize, usize)>, is_pii: impl Fn(&Run) -> bool) {
    let mut run: Option<Run> = None;
    let mut gap = 0;
    let mut close = |run: &mut Option<Run>| {
        if let Some(run) = run.take()
            && run.digits >= DIGIT_RUN_MIN
            && is_pii(&run)
        {
            spans.push((run.start, run.end));
        }
    };
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if run.is_none() {
            // Nothing open: on to the next char that may be a digit, past
            // the words between in one scan.
            match bytes[i..]
                .iter()
                .position(|b| b.is_ascii_digit() || !b.is_ascii())
            {
                Some(skip) => i += skip,
                None => break,
            }
        }
        let Some(c) = text.get(i..).and_then(|rest| rest.chars().next()) else {
            break;
        };
        let start = i;
        i += c.len_utf8();
        if c.is_numeric() {
            match &mut run {
                Some(run) => {
                    run.end = i;
                    run.digits += 1;
                    run.separated |= gap > 0;
                }
                None => {
                    run = Some(Run {
                        start,
                        end: i,
                        digits: 1,
                        separated: false,
                    });
                }
            }
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

/// The digit rule for ids. An id's UUIDs (8-4-4-4-12 letters and digits)
/// are not runs: a random UUID's last group holds nine digits in a row
/// about once in thirty, and the applicant's own numbers in one are still
/// found as digit groups. Nor is a run of [`ID_NUMBER_MIN_DIGITS`] or more
/// digits with no separator. Runs of nine to eleven digits (an SSN, a
/// ZIP+4, a phone) are redacted however they are written, and so is a
/// longer run with separators (values written one after another).
fn id_digit_runs(text: &str, spans: &mut Vec<(usize, usize)>) {
    let uuids = uuids(text);
    let unmasked;
    let masked: &str = if uuids.is_empty() {
        text
    } else {
        // UUIDs are ASCII: masking them byte for byte keeps every offset.
        let mut bytes = text.as_bytes().to_vec();
        for &(start, end) in &uuids {
            bytes[start..end].fill(b'x');
        }
        unmasked = String::from_utf8(bytes).unwrap_or_default();
        &unmasked
    };
    digit_runs(masked, spans, |run| {
        run.separated || run.digits < ID_NUMBER_MIN_DIGITS
    });
}

/// Where `text` holds a UUID-shaped token: groups of 8, 4, 4, 4 and 12
/// ASCII letters or digits joined by `-`, with no letter or digit either
/// side.
fn uuids(text: &str) -> Vec<(usize, usize)> {
    const SHAPE: [usize; 5] = [8, 4, 4, 4, 12];
    const LEN: usize = 36;
    let bytes = text.as_bytes();
    let is_part = |b: u8| b.is_ascii_alphanumeric();
    let mut found = Vec::new();
    let mut start = 0;
    while start + LEN <= bytes.len() {
        let candidate = &bytes[start..start + LEN];
        let mut at = 0;
        let shaped = SHAPE.iter().enumerate().all(|(i, &len)| {
            let group = &candidate[at..at + len];
            let dash = i == SHAPE.len() - 1 || candidate[at + len] == b'-';
            at += len + 1;
            dash && group.iter().all(u8::is_ascii_alphanumeric)
        });
        let bounded = (start == 0 || !is_part(bytes[start - 1]))
            && bytes.get(start + LEN).is_none_or(|&b| !is_part(b));
        if shaped && bounded {
            found.push((start, start + LEN));
            start += LEN;
        } else {
            start += 1;
        }
    }
    found
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

/// The longest text [`Redactor::known_values`] searches in place, byte by
/// byte: in a short one that costs less than folding a copy and setting up
/// a searcher per value; in a long one the searcher's skips win.
const IN_PLACE_SEARCH_BYTES: usize = 64;

/// Whether `text` has more than [`MAX_TEXT_CHARS`] characters; a text of
/// no more bytes than that has no more characters, and is not counted.
fn longer_than_text_cap(text: &str) -> bool {
    text.len() > MAX_TEXT_CHARS && text.chars().nth(MAX_TEXT_CHARS).is_some()
}

/// At most [`MAX_TEXT_CHARS`] characters, cut on a char boundary; a cut
/// text ends in `…` so a reader knows.
fn cap(text: &mut String) {
    if longer_than_text_cap(text) {
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

    /// A text is passed over for numbers only when it has fewer digits than
    /// any spelling needs, months named counting none: the fixture's date
    /// (1 January 1980) in two digits and two month names is still found.
    #[test]
    fn a_date_written_with_few_digits_is_still_found() {
        let redactor = fixture();
        assert_eq!(redactor.numbers.min_digits_in_text(), 2);
        assert_eq!(redactor.text("born January January 80"), "born [redacted]");
        assert_eq!(redactor.text("born Jan 1 80"), "born [redacted]");
        // One digit is too few for any spelling: nothing to look for.
        assert_eq!(redactor.text("Addr1Zip_StateMatch"), "Addr1Zip_StateMatch");
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

    /// Every value is found where two overlap (`fakey` and `keystone` in
    /// `fakeystone`) and where one recurs overlapping itself (`abab` in
    /// `xababab`: a search that resumed after each match would leave `ab`).
    #[test]
    fn overlapping_values_are_each_found() {
        let body = json!({
            "Person": {"Name": {"FirstName": "Fakey", "LastName": "Keystone"}}
        });
        let applicant = applicant::parse(body.to_string().as_bytes()).expect("applicant");
        let r = Redactor::new(Some(&applicant));
        assert_eq!(r.text("x fakeystone y"), "x [redacted] y");
        assert_eq!(r.text("KEYSTONEFAKEY!"), "[redacted]!");
        let body = json!({"Person": {"Name": {"FirstName": "Abab", "LastName": "Fakerson"}}});
        let applicant = applicant::parse(body.to_string().as_bytes()).expect("applicant");
        assert_eq!(
            Redactor::new(Some(&applicant)).text("xababab"),
            "x[redacted]"
        );
    }

    #[test]
    fn an_ascii_texts_glanced_bytes_are_those_of_its_folded_copy() {
        for text in [
            "",
            "MiXeD Case 123",
            "tab\there",
            "LINE\nFEED\r\x0b\x0c end",
            "no  blanks-at_all!",
            "\t",
        ] {
            assert!(
                Glance::of(text).present == ByteSet::of(&Folded::new(text).text),
                "{text:?}"
            );
        }
    }

    #[test]
    fn a_text_is_searched_only_for_values_whose_bytes_it_holds() {
        let text = ByteSet::of("mctesterson, zoë");
        assert!(ByteSet::of("tester").within(text));
        assert!(ByteSet::of("zoë").within(text), "a multi-byte char's bytes");
        assert!(!ByteSet::of("testy").within(text), "no y");
        assert!(!ByteSet::of("zoé").within(text), "é is not ë");
        assert!(ByteSet::default().within(ByteSet::default()));
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

    /// FAKEY MCFAKERSON, SSN 900-55-1234, born 1971-07-23, at 123 Fake St
    /// (and 1 Oak Ct, Great Falls), with a middle name of De La Cruz.
    fn spelled() -> Redactor {
        let body = json!({
            "Person": {
                "Name": {"FirstName": "Fakey", "MiddleName": "De La Cruz", "LastName": "McFakerson"},
                "SSN": {"Number": "900551234"},
                "DateOfBirth": {"Year": "1971", "Month": "7", "Day": "23"},
                "Addresses": [{"StreetAddress1": "123 Fake St", "StreetAddress2": "Apt 9",
                               "City": "Great Falls", "Zip5": "59010"},
                              {"StreetAddress1": "1 Oak Ct", "City": "Fakeville"}]
            }
        });
        Redactor::new(Some(
            &applicant::parse(body.to_string().as_bytes()).expect("applicant"),
        ))
    }

    fn assert_all_redacted(r: &Redactor, spellings: &[&str]) {
        for spelling in spellings {
            let text = format!("seen: {spelling}.");
            assert_eq!(r.text(&text), "seen: [redacted].", "{spelling:?}");
        }
    }

    fn assert_untouched(r: &Redactor, texts: &[&str]) {
        for text in texts {
            assert_eq!(r.text(text), *text, "{text:?}");
        }
    }

    #[test]
    fn the_ssn_with_any_separators_goes() {
        assert_all_redacted(
            &spelled(),
            &[
                "900 - 55 - 1234",
                "900_55_1234",
                "900.55.1234",
                "900 55 1234",
                "900/55/1234",
                "９００－５５－１２３４",
                "900\u{200B}55\u{200B}1234",
            ],
        );
        // Whoever it belongs to, on its shape alone.
        assert_all_redacted(&Redactor::default(), &["900 - 66 - 4321", "900_66_4321"]);
    }

    #[test]
    fn the_date_of_birth_in_words_and_other_orders_goes() {
        assert_all_redacted(
            &spelled(),
            &[
                "July 23, 1971",
                "Jul 23 1971",
                "JUL. 23rd, 1971",
                "23 July 1971",
                "23 jul 1971",
                "1971 July 23",
                "1971.07.23",
                "1971-7-23",
                "7/23/71",
                "07/23/71",
                "07/23/1971",
                "7-23-1971",
                "23/07/1971",
                "23.7.1971",
                "19710723",
                "07231971",
            ],
        );
    }

    #[test]
    fn other_dates_and_numbers_stay() {
        assert_untouched(
            &spelled(),
            &[
                "July 24, 1971",
                "June 23, 1971",
                "in July 1971",
                "1972-07-23",
                "7/23/72",
                "7/23/17",
                "1/23/71",
                "version 7.23.1",
                "code 723 of 1971",
                "May 5, 2020",
                "55-1234",
            ],
        );
    }

    #[test]
    fn a_street_with_its_words_spelled_either_way_goes() {
        let r = spelled();
        assert_all_redacted(
            &r,
            &[
                "123 FAKE STREET",
                "123 fake st",
                "123 Fake Str",
                "123  Fake   St",
                "123 Fake\tStreet",
                "1 OAK COURT",
                "1 oak ct",
                "1 Oak Crt",
            ],
        );
        assert_eq!(r.text("123 Fake St. #2"), "[redacted]. #2");
        assert_eq!(r.text("Apartment 9, 1 Oak Court"), "[redacted], [redacted]");
        assert_eq!(r.text("GREAT  FALLS"), "[redacted]");
        // Each common suffix either way, the applicant's spelling the other.
        for (applicant, vendor) in [
            ("5 Fake Street", "5 FAKE ST"),
            ("5 Fake Avenue", "5 fake ave"),
            ("5 Fake Ave", "5 Fake Avenue"),
            ("5 Fake Road", "5 Fake Rd"),
            ("5 Fake Rd", "5 FAKE ROAD"),
            ("5 Fake Drive", "5 Fake Dr"),
            ("5 Fake Dr", "5 Fake Drive"),
            ("5 Fake Boulevard", "5 Fake Blvd"),
            ("5 Fake Blvd", "5 Fake Boulevard"),
            ("5 Fake Lane", "5 Fake Ln"),
            ("5 Fake Ln", "5 Fake Lane"),
            ("5 Fake Court", "5 Fake Ct"),
            ("5 Fake Ct", "5 Fake Court"),
            ("5 Fake Pkwy", "5 Fake Parkway"),
            ("5 Fake Cir", "5 Fake Circle"),
            ("5 Fake Pl", "5 Fake Place"),
            ("5 Fake Ter", "5 Fake Terrace"),
            ("5 Fake Hwy", "5 Fake Highway"),
            ("5 N Fake St", "5 North Fake Street"),
        ] {
            let body = json!({"Person": {"Addresses": [{"StreetAddress1": applicant}]}});
            let r = Redactor::new(Some(
                &applicant::parse(body.to_string().as_bytes()).expect("applicant"),
            ));
            assert_eq!(
                r.text(&format!("at {vendor}, ok")),
                "at [redacted], ok",
                "{applicant} / {vendor}"
            );
        }
    }

    #[test]
    fn a_short_street_inside_words_stays() {
        assert_untouched(
            &spelled(),
            &[
                "Oakland Court",
                "a cloak",
                "1 Oakwood Ct",
                "Fake Street",
                "the court ruled",
                "first street",
            ],
        );
    }

    #[test]
    fn names_with_invisible_characters_wide_letters_or_spaces_go() {
        let r = spelled();
        for text in [
            "FA\u{AD}KEY MC\u{AD}FAKERSON",
            "F\u{200B}AKEY M\u{200C}CFAKERSON",
            "FAK\u{200D}EY MCFAKER\u{2060}SON",
            "\u{FEFF}FAKEY MCFAKERSON\u{FEFF}",
            "ＦＡＫＥＹ ＭＣＦＡＫＥＲＳＯＮ",
            "FAKEY   MCFAKERSON",
        ] {
            assert_eq!(r.text(text), "[redacted] [redacted]", "{text:?}");
        }
        for text in ["DE  LA  CRUZ", "de\u{AD} la cruz", "ＤＥ ＬＡ ＣＲＵＺ"] {
            assert_eq!(r.text(text), "[redacted]", "{text:?}");
        }
        // Ordinary words are not names: a part of 2 or 3 letters only whole.
        assert_untouched(&r, &["Dell last", "Lacrosse", "a fake name"]);
    }

    #[test]
    fn accents_and_combining_marks_do_not_hide_a_value() {
        let r = spelled();
        for text in [
            "FAKEY\u{301} MCFAKERSON\u{308}",
            "FÁKEY MCFÄKERSON",
            "fakéy mçfakerson",
        ] {
            assert_eq!(r.text(text), "[redacted] [redacted]", "{text:?}");
        }
        // And the other way: an accented value is matched without its accents.
        let body = json!({"Person": {"Name": {"FirstName": "Zoë", "LastName": "Núñez"}}});
        let r = Redactor::new(Some(
            &applicant::parse(body.to_string().as_bytes()).expect("applicant"),
        ));
        assert_eq!(r.text("ZOE NUNEZ"), "[redacted] [redacted]");
    }

    #[test]
    fn a_number_of_several_groups_inside_longer_runs_goes_whole() {
        let r = spelled();
        for text in ["007/23/1971", "07/23/19710", "1900-55-12345"] {
            assert_eq!(r.text(text), "[redacted]", "{text:?}");
        }
        assert_eq!(r.text("x1971.07.23"), "x[redacted]");
        // One group anywhere in a run, in a text: `²` is a `2` once
        // normalised, and the ZIP is not another number for it.
        assert_eq!(r.text("ZIP ²59010"), "ZIP [redacted]");
        assert_eq!(r.text("ZIP 5901000"), "ZIP [redacted]");
        // In an id, inside a longer number, it is another number.
        let mut id = json!("7590100");
        assert_eq!(r.id(&mut id), None);
        assert_eq!(id, "7590100");
    }

    #[test]
    fn text_is_written_in_its_normal_form() {
        let r = Redactor::default();
        assert_eq!(r.text("a\u{200B}b  c\td \n e"), "ab c\td e");
        assert_eq!(r.text("ＡＢＣ"), "ABC");
        assert_eq!(r.text("plain ascii"), "plain ascii");
    }

    #[test]
    fn ids_are_short_strings_or_numbers_or_null() {
        let r = spelled();
        for (mut id, want, withheld) in [
            (json!(null), json!(null), None),
            (json!(""), json!(""), None),
            (
                json!({"ssn": "900551234"}),
                json!(null),
                Some(IdWithheld::NotAStringOrNumber),
            ),
            (
                json!(["a"]),
                json!(null),
                Some(IdWithheld::NotAStringOrNumber),
            ),
            (
                json!(true),
                json!(null),
                Some(IdWithheld::NotAStringOrNumber),
            ),
            (
                json!("x".repeat(MAX_ID_CHARS + 1)),
                json!(null),
                Some(IdWithheld::TooLong),
            ),
            (
                json!("é".repeat(MAX_ID_CHARS)),
                json!("é".repeat(MAX_ID_CHARS)),
                None,
            ),
            (json!(31000000000000_u64), json!(31000000000000_u64), None),
            (json!(900551234), json!(REDACTED), None),
            (json!(1.5), json!(1.5), None),
        ] {
            let before = id.to_string();
            assert_eq!(r.id(&mut id), withheld, "{before}");
            assert_eq!(id, want, "{before}");
        }
    }

    #[test]
    fn ids_lose_pii_shapes_but_keep_uuids_and_long_numbers() {
        let r = Redactor::default();
        for (id, want) in [
            // Another person's SSN and e-mail: the shapes go.
            (
                "900-66-4321 jane.roe@example.invalid",
                "[redacted] [redacted]",
            ),
            ("ref:900664321", "ref:[redacted]"),
            ("(555) 010-9999", "([redacted]"),
            ("900-66-4321 555-010-9999", "[redacted]"),
            // The vendors' own ids.
            ("31000000000000", "31000000000000"),
            (
                "00000000-0000-4000-8000-00000000c0de",
                "00000000-0000-4000-8000-00000000c0de",
            ),
            (
                "0987:a1234b56-e789-0123-4fga-56b7c890d123",
                "0987:a1234b56-e789-0123-4fga-56b7c890d123",
            ),
            (
                "00000000-0000-4000-8000-000000000000",
                "00000000-0000-4000-8000-000000000000",
            ),
            // A UUID's last group with nine digits in a row, as random
            // ones have about once in thirty.
            (
                "00000000-0000-4000-8000-900664321abc",
                "00000000-0000-4000-8000-900664321abc",
            ),
            // An SSN next to a UUID is no part of it.
            (
                "900664321-00000000-0000-4000-8000-00000000c0de",
                "[redacted]-00000000-0000-4000-8000-00000000c0de",
            ),
        ] {
            let mut value = json!(id);
            assert_eq!(r.id(&mut value), None, "{id}");
            assert_eq!(value, want, "{id}");
        }
        // The applicant's values in any spelling.
        let mut value = json!("ref-FA\u{AD}KEY-7/23/71");
        assert_eq!(spelled().id(&mut value), None);
        assert_eq!(value, "ref-[redacted]-[redacted]");
        let mut value = json!("00000000-0000-4000-8000-900551234abc");
        assert_eq!(spelled().id(&mut value), None);
        assert_eq!(value, "00000000-0000-4000-8000-[redacted]abc");
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
            "\u{AD}",
            "  ",
            "July",
            "1st",
            "23rd july",
            "ＦＡＫＥＹ",
            "0000000-0000-0000-0000-000000000000x",
            "00000000-0000-0000-0000-000000000000-00000000-0000-0000-0000-000000000000",
        ] {
            let _ = r.id(&mut json!(text));
            let _ = r.text(text);
            let mut map = Map::new();
            map.insert(text.to_owned(), json!([text, {"Year": text, "Day": text}]));
            let mut value = Value::Object(map);
            r.json(&mut value);
        }
    }
}
