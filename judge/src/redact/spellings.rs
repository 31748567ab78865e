//! The other ways a vendor may write the applicant's values: a street's words spelled out or abbreviated, and the digit groups of a date, an SSN, a phone number, a ZIP.
//!
//! Numbers are matched as groups of digits ([`Number`]) rather than as
//! strings, so one spelling covers every separator a vendor may put between
//! the groups (`1971-07-23`, `1971.07.23`, `1971 07 23`, `900 - 55 - 1234`,
//! `900_55_1234`), and a month written as a word counts as its number
//! (`July 23, 1971` is the groups 7, 23, 1971).

use std::sync::LazyLock;

use crate::applicant::Dob;

/// Between two groups of one number: `" - "` is three.
pub(super) const MAX_GROUP_GAP: usize = 3;

/// A number with fewer digits than this is not matched: it identifies no one.
pub(super) const NUMBER_MIN_DIGITS: usize = 4;

/// The most groups a number has (a date's, an SSN's, a phone's three).
const MAX_GROUPS: usize = 3;

/// Where one group's digits are in [`Numbers`]' text.
#[derive(Clone, Copy, Default)]
pub(super) struct Digits {
    start: usize,
    end: usize,
}

/// A value as digit groups, in order: `[900, 55, 1234]`. It matches where
/// the text holds these groups one after another, with at most
/// [`MAX_GROUP_GAP`] characters that are neither letters nor digits between
/// each two (the redactor's `known_numbers` says how the end groups meet
/// longer runs of digits).
#[derive(Clone, Copy)]
struct Number {
    groups: [Digits; MAX_GROUPS],
    len: usize,
}

/// The applicant's numbers in every spelling matched. Their digits are
/// written once, end to end, into one string, and each spelling is the
/// places of its groups in it: a date's two dozen spellings are a few
/// bytes and one list, not seventy strings built (and dropped) per line.
#[derive(Default)]
pub(super) struct Numbers {
    text: String,
    list: Vec<Number>,
    /// The fewest ASCII digits a text holding one of them has (see
    /// [`Numbers::min_digits_in_text`]).
    min_digits_in_text: usize,
}

impl Numbers {
    /// Room for `numbers` spellings and their digits.
    pub(super) fn with_capacity(numbers: usize) -> Self {
        Self {
            text: String::with_capacity(numbers * 4),
            list: Vec::with_capacity(numbers),
            min_digits_in_text: 0,
        }
    }

    /// Writes one group's digits and says where they are.
    fn digits(&mut self, write: impl FnOnce(&mut String)) -> Digits {
        let start = self.text.len();
        write(&mut self.text);
        Digits {
            start,
            end: self.text.len(),
        }
    }

    fn str(&self, digits: Digits) -> &str {
        self.text.get(digits.start..digits.end).unwrap_or_default()
    }

    /// A number of these groups (at most [`MAX_GROUPS`]; none is longer),
    /// unless one is empty or all hold fewer than [`NUMBER_MIN_DIGITS`].
    fn add(&mut self, groups: &[Digits]) {
        let groups = groups.get(..MAX_GROUPS).unwrap_or(groups);
        let digits: usize = groups.iter().map(|g| g.end - g.start).sum();
        if digits < NUMBER_MIN_DIGITS || groups.iter().any(|g| g.start == g.end) {
            return;
        }
        let mut number = Number {
            groups: [Digits::default(); MAX_GROUPS],
            len: groups.len(),
        };
        number.groups[..groups.len()].copy_from_slice(groups);
        // A group of 1 to 12 may be a month's name in the text, no digit;
        // any other group's digits are all there (a group matches whole, or
        // as the end or start of a longer run).
        let in_text: usize = groups
            .iter()
            .map(|&g| {
                let digits = self.str(g).as_bytes();
                let month = matches!(digits, [b'1'..=b'9'] | [b'1', b'0'..=b'2']);
                if month { 0 } else { digits.len() }
            })
            .sum();
        self.min_digits_in_text = if self.list.is_empty() {
            in_text
        } else {
            self.min_digits_in_text.min(in_text)
        };
        self.list.push(number);
    }

    /// The fewest ASCII digits in a text that holds any of the numbers: a
    /// text with fewer is not searched.
    pub(super) fn min_digits_in_text(&self) -> usize {
        self.min_digits_in_text
    }

    /// Each number: how many groups it has, and its `i`th group's digits
    /// (read only when a window of the text is compared with it).
    pub(super) fn iter<'a>(&'a self) -> impl Iterator<Item = (usize, impl Fn(usize) -> &'a str)> {
        self.list.iter().map(|number| {
            let group = |i: usize| number.groups.get(i).map_or("", |&digits| self.str(digits));
            (number.len, group)
        })
    }

    pub(super) fn is_empty(&self) -> bool {
        self.list.is_empty()
    }
}

/// `n` in decimal, zero-padded to `width` digits: what `{n:0width$}` writes,
/// for the non-negative numbers of a date, without the formatter.
fn push_padded(text: &mut String, n: u32, width: usize) {
    let mut digits = [b'0'; 10];
    let mut at = digits.len();
    let mut rest = n;
    loop {
        at -= 1;
        digits[at] = b'0' + (rest % 10) as u8;
        rest /= 10;
        if rest == 0 {
            break;
        }
    }
    let at = at.min(digits.len().saturating_sub(width));
    for &digit in &digits[at..] {
        text.push(char::from(digit));
    }
}

/// A date of birth in year-month-day, month-day-year and day-month-year
/// order, months and days padded or not, the year in four digits (or two
/// after a month and day: `7/23/71`), and run together (`19710723`). When
/// the month and the day are the same number, day-first spellings are the
/// month-first ones again, and are not added twice.
pub(super) fn dob(numbers: &mut Numbers, dob: Dob) {
    // The year is 1 to 9999 (the applicant's parse checks it).
    let year = dob.year.unsigned_abs();
    let (month, day) = (u32::from(dob.month), u32::from(dob.day));
    let full_year = numbers.digits(|t| push_padded(t, year, 4));
    let short_year = numbers.digits(|t| push_padded(t, year % 100, 2));
    let months = padded_or_not(numbers, month);
    let days = padded_or_not(numbers, day);
    let day_first = month != day;
    for &m in months.iter().flatten() {
        for &d in days.iter().flatten() {
            numbers.add(&[full_year, m, d]);
            numbers.add(&[m, d, full_year]);
            numbers.add(&[m, d, short_year]);
            if day_first {
                numbers.add(&[d, m, full_year]);
                numbers.add(&[d, m, short_year]);
            }
        }
    }
    // Each run's three numbers with their widths; the day-first one only
    // when it differs from the month-first one.
    let runs = [
        Some([(year, 4), (month, 2), (day, 2)]),
        Some([(month, 2), (day, 2), (year, 4)]),
        day_first.then_some([(day, 2), (month, 2), (year, 4)]),
        Some([(month, 2), (day, 2), (year % 100, 2)]),
    ];
    for parts in runs.into_iter().flatten() {
        let run = numbers.digits(|t| {
            for (n, width) in parts {
                push_padded(t, n, width);
            }
        });
        numbers.add(&[run]);
    }
}

/// `n` as written, and zero-padded to two digits when that differs.
fn padded_or_not(numbers: &mut Numbers, n: u32) -> [Option<Digits>; 2] {
    let bare = numbers.digits(|t| push_padded(t, n, 1));
    let padded = (n < 10).then(|| numbers.digits(|t| push_padded(t, n, 2)));
    [Some(bare), padded]
}

/// An SSN whole and in its 3-2-4 groups; any other count of digits whole.
pub(super) fn ssn(numbers: &mut Numbers, digits: &str) {
    let whole = numbers.digits(|t| t.push_str(digits));
    numbers.add(&[whole]);
    if digits.len() == 9 && digits.is_ascii() {
        let at = |from: usize, to: usize| Digits {
            start: whole.start + from,
            end: whole.start + to,
        };
        numbers.add(&[at(0, 3), at(3, 5), at(5, 9)]);
    }
}

/// A ZIP alone, with its ZIP+4, and run together with it.
pub(super) fn zip(numbers: &mut Numbers, zip5: &str, zip4: Option<&str>) {
    // Written once, run together: the ZIP and the ZIP+4 are its two parts.
    let zip4 = zip4.filter(|z| !z.is_empty()).unwrap_or_default();
    let run = numbers.digits(|t| {
        t.push_str(zip5);
        t.push_str(zip4);
    });
    let middle = run.start + zip5.len();
    let five = Digits {
        start: run.start,
        end: middle,
    };
    numbers.add(&[five]);
    if !zip4.is_empty() {
        let four = Digits {
            start: middle,
            end: run.end,
        };
        numbers.add(&[five, four]);
        numbers.add(&[run]);
    }
}

/// A US phone number from its digits: all of them, the last ten whole and
/// as area, exchange and line, and the exchange and line alone.
pub(super) fn phone(numbers: &mut Numbers, digits: &str) {
    let whole = numbers.digits(|t| t.push_str(digits));
    numbers.add(&[whole]);
    if digits.len() >= 10 && digits.is_ascii() {
        let ten = whole.end - 10;
        let at = |from: usize, to: usize| Digits {
            start: ten + from,
            end: ten + to,
        };
        // Ten digits: the last ten are the whole, already added.
        if digits.len() > 10 {
            numbers.add(&[at(0, 10)]);
        }
        numbers.add(&[at(0, 3), at(3, 6), at(6, 10)]);
        numbers.add(&[at(3, 6), at(6, 10)]);
    }
}

/// The number a month's name stands for, as a digit group: `July`, `Jul`
/// (the `.` after `Jul.` is a separator) and `Sept` are 7, 7 and 9.
pub(super) fn month(word: &str) -> Option<&'static str> {
    // Every word of a text with a digit in it comes here: found by its
    // first three letters (no two months share them), then checked whole.
    let bytes = word.as_bytes();
    if !(3..=9).contains(&bytes.len()) {
        return None;
    }
    let prefix = [
        bytes[0].to_ascii_lowercase(),
        bytes[1].to_ascii_lowercase(),
        bytes[2].to_ascii_lowercase(),
    ];
    let (name, number) = match &prefix {
        b"jan" => ("january", "1"),
        b"feb" => ("february", "2"),
        b"mar" => ("march", "3"),
        b"apr" => ("april", "4"),
        b"may" => ("may", "5"),
        b"jun" => ("june", "6"),
        b"jul" => ("july", "7"),
        b"aug" => ("august", "8"),
        b"sep" => ("september", "9"),
        b"oct" => ("october", "10"),
        b"nov" => ("november", "11"),
        b"dec" => ("december", "12"),
        _ => return None,
    };
    let whole = bytes.len() == 3
        || word.eq_ignore_ascii_case(name)
        || (number == "9" && word.eq_ignore_ascii_case("sept"));
    whole.then_some(number)
}

/// `23rd`: a suffix that may stand right after a day's digits.
pub(super) fn is_ordinal_suffix(word: &str) -> bool {
    ["st", "nd", "rd", "th"]
        .iter()
        .any(|suffix| word.eq_ignore_ascii_case(suffix))
}

/// A street or unit line's words, lower case, with each word that has other
/// spellings in [`STREET_WORDS`] taken in each of them: `123 fake st` is also
/// `123 fake street` and `123 fake str`. At most [`MAX_STREET_SPELLINGS`].
pub(super) fn street(line: &str) -> Vec<String> {
    let mut spellings = vec![String::new()];
    for (i, word) in line.split(' ').enumerate() {
        let bare = word.trim_end_matches('.');
        let choices: &[&str] = street_word_group(bare)
            .filter(|group| spellings.len() * group.len() <= MAX_STREET_SPELLINGS)
            .unwrap_or(&[]);
        let choices: &[&str] = if choices.is_empty() { &[word] } else { choices };
        let mut next = Vec::with_capacity(spellings.len() * choices.len());
        for before in &spellings {
            for choice in choices {
                let mut spelling = String::with_capacity(before.len() + 1 + choice.len());
                if i > 0 {
                    spelling.push_str(before);
                    spelling.push(' ');
                }
                spelling.push_str(choice);
                next.push(spelling);
            }
        }
        spellings = next;
    }
    if !spellings.iter().any(|s| s == line) {
        spellings.push(line.to_owned());
    }
    spellings
}

/// The group of [`STREET_WORDS`] that holds `word`, if any: looked up in a
/// sorted index (built once), not by reading the ~250 words for each word
/// of each street line.
fn street_word_group(word: &str) -> Option<&'static [&'static str]> {
    static INDEX: LazyLock<Vec<(&'static str, usize)>> = LazyLock::new(|| {
        let mut index: Vec<(&'static str, usize)> = STREET_WORDS
            .iter()
            .enumerate()
            .flat_map(|(group, words)| words.iter().map(move |&word| (word, group)))
            .collect();
        index.sort_unstable();
        index
    });
    let found = INDEX.binary_search_by(|&(entry, _)| entry.cmp(word)).ok()?;
    let &(_, group) = INDEX.get(found)?;
    STREET_WORDS.get(group).copied()
}

/// So that a street whose every word has spellings stays a few dozen needles.
const MAX_STREET_SPELLINGS: usize = 48;

/// Words of a street or unit line that mean the same, lower case: USPS
/// Publication 28's common street suffixes (appendix C1: the standard
/// abbreviation and its usual variants), the directionals (appendix B) and
/// the common secondary unit designators (appendix C2). A word is looked up
/// without a trailing `.`. `st` is also Saint: `123 St Charles Ave` gets
/// spellings no vendor writes, which costs nothing.
const STREET_WORDS: &[&[&str]] = &[
    &["aly", "alley", "allee", "ally"],
    &["ave", "avenue", "av", "aven", "avenu", "avn", "avnue"],
    &["blvd", "boulevard", "boul", "boulv"],
    &["byp", "bypass", "bypa", "bypas", "byps"],
    &["cir", "circle", "circ", "circl", "crcl", "crcle"],
    &["ct", "court", "crt"],
    &["cts", "courts"],
    &["cv", "cove"],
    &["crk", "creek"],
    &[
        "ctr", "center", "cen", "cent", "centr", "centre", "cnter", "cntr",
    ],
    &["dr", "drive", "driv", "drv"],
    &["est", "estate"],
    &["expy", "expressway", "exp", "expr", "express", "expw"],
    &["fwy", "freeway", "frway", "frwy"],
    &["grv", "grove", "grov"],
    &["hts", "heights", "ht"],
    &["hwy", "highway", "highwy", "hiway", "hiwy", "hway"],
    &["jct", "junction", "jction", "jctn", "junctn"],
    &["ln", "lane"],
    &["mdws", "meadows", "mdw"],
    &["mt", "mount", "mnt"],
    &["mtn", "mountain", "mntain", "mntn"],
    &["pkwy", "parkway", "parkwy", "pkway", "pky"],
    &["pl", "place"],
    &["plz", "plaza", "plza"],
    &["pt", "point"],
    &["rd", "road"],
    &["rdg", "ridge"],
    &["rte", "route"],
    &["sq", "square", "sqr", "sqre", "squ"],
    &["st", "street", "str", "strt"],
    &["ter", "terrace", "terr"],
    &["tpke", "turnpike", "trnpk", "turnpk"],
    &["trl", "trail", "trails", "trls"],
    &["vly", "valley", "vally", "vlly"],
    &["way", "wy"],
    &["n", "north"],
    &["s", "south"],
    &["e", "east"],
    &["w", "west"],
    &["ne", "northeast"],
    &["nw", "northwest"],
    &["se", "southeast"],
    &["sw", "southwest"],
    &["apt", "apartment"],
    &["bldg", "building"],
    &["dept", "department"],
    &["fl", "floor"],
    &["rm", "room"],
    &["ste", "suite"],
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn street_words_take_each_spelling() {
        let spellings = street("123 fake st");
        for want in ["123 fake st", "123 fake street", "123 fake str"] {
            assert!(spellings.iter().any(|s| s == want), "{want}: {spellings:?}");
        }
        let spellings = street("9 n elm blvd.");
        for want in ["9 north elm boulevard", "9 n elm blvd", "9 n elm blvd."] {
            assert!(spellings.iter().any(|s| s == want), "{want}: {spellings:?}");
        }
        assert_eq!(street("1 elm"), vec!["1 elm".to_owned()]);
        // Every word with spellings: bounded.
        assert!(street("ave ave ave ave ave").len() <= MAX_STREET_SPELLINGS + 1);
    }

    fn spelled(numbers: &Numbers) -> Vec<Vec<&str>> {
        let mut spelled: Vec<Vec<&str>> = numbers
            .iter()
            .map(|(k, group)| (0..k).map(&group).collect())
            .collect();
        spelled.sort();
        spelled
    }

    /// Every order, padded or not, two- and four-digit years, and the runs;
    /// a date whose month and day are the same number has each spelling
    /// once (day-first ones are month-first ones again).
    #[test]
    fn a_dates_spellings_are_every_order_and_padding_once() {
        let mut numbers = Numbers::default();
        dob(
            &mut numbers,
            Dob {
                year: 1938,
                month: 10,
                day: 6,
            },
        );
        let want: Vec<Vec<&str>> = vec![
            vec!["06", "10", "1938"],
            vec!["06", "10", "38"],
            vec!["06101938"],
            vec!["10", "06", "1938"],
            vec!["10", "06", "38"],
            vec!["10", "6", "1938"],
            vec!["10", "6", "38"],
            vec!["10061938"],
            vec!["100638"],
            vec!["1938", "10", "06"],
            vec!["1938", "10", "6"],
            vec!["19381006"],
            vec!["6", "10", "1938"],
            vec!["6", "10", "38"],
        ];
        assert_eq!(spelled(&numbers), want);
        let mut numbers = Numbers::default();
        dob(
            &mut numbers,
            Dob {
                year: 1980,
                month: 1,
                day: 1,
            },
        );
        let spellings = spelled(&numbers);
        assert_eq!(spellings.len(), 15, "{spellings:?}");
        let mut unique = spellings.clone();
        unique.dedup();
        assert_eq!(unique, spellings);
        for want in [
            vec!["1", "01", "80"],
            vec!["01011980"],
            vec!["1980", "1", "01"],
        ] {
            assert!(spellings.contains(&want), "{want:?}");
        }
    }

    #[test]
    fn numbers_too_short_or_with_an_empty_group_are_left_out() {
        let mut numbers = Numbers::default();
        ssn(&mut numbers, "900");
        zip(&mut numbers, "", Some("1234"));
        phone(&mut numbers, "5551231234");
        assert_eq!(
            spelled(&numbers),
            // The ZIP+4 run alone is four digits: kept; the empty ZIP is not.
            [
                vec!["123", "1234"],
                vec!["1234"],
                vec!["555", "123", "1234"],
                vec!["5551231234"],
            ]
        );
    }

    #[test]
    fn no_word_is_in_two_groups() {
        let mut words: Vec<&str> = STREET_WORDS
            .iter()
            .flat_map(|g| g.iter().copied())
            .collect();
        let all = words.len();
        words.sort_unstable();
        words.dedup();
        assert_eq!(words.len(), all);
    }

    #[test]
    fn months_by_name() {
        assert_eq!(month("July"), Some("7"));
        assert_eq!(month("SEPT"), Some("9"));
        assert_eq!(month("dec"), Some("12"));
        assert_eq!(month("julyy"), None);
        assert_eq!(month("ma"), None);
    }
}
