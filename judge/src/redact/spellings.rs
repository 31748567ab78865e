//! The other ways a vendor may write the applicant's values: a street's words spelled out or abbreviated, and the digit groups of a date, an SSN, a phone number, a ZIP.
//!
//! Numbers are matched as groups of digits ([`Number`]) rather than as
//! strings, so one spelling covers every separator a vendor may put between
//! the groups (`1971-07-23`, `1971.07.23`, `1971 07 23`, `900 - 55 - 1234`,
//! `900_55_1234`), and a month written as a word counts as its number
//! (`July 23, 1971` is the groups 7, 23, 1971).

use crate::applicant::Dob;

/// A value as digit groups, in order: `[900, 55, 1234]`. It matches where
/// the text holds these groups one after another, with at most
/// [`MAX_GROUP_GAP`] characters that are neither letters nor digits between
/// each two (the redactor's `known_numbers` says how the end groups meet
/// longer runs of digits).
pub(super) type Number = Vec<String>;

/// Between two groups of one number: `" - "` is three.
pub(super) const MAX_GROUP_GAP: usize = 3;

/// A number with fewer digits than this is not matched: it identifies no one.
pub(super) const NUMBER_MIN_DIGITS: usize = 4;

/// A date of birth in year-month-day, month-day-year and day-month-year
/// order, months and days padded or not, the year in four digits (or two
/// after a month and day: `7/23/71`), and run together (`19710723`).
pub(super) fn dob(dob: Dob) -> Vec<Number> {
    let year = format!("{:04}", dob.year);
    let short_year = format!("{:02}", dob.year.rem_euclid(100));
    let (month, day) = (format!("{:02}", dob.month), format!("{:02}", dob.day));
    let months = padded_or_not(dob.month);
    let days = padded_or_not(dob.day);
    let mut numbers = Vec::new();
    for m in &months {
        for d in &days {
            numbers.push(vec![year.clone(), m.clone(), d.clone()]);
            numbers.push(vec![m.clone(), d.clone(), year.clone()]);
            numbers.push(vec![d.clone(), m.clone(), year.clone()]);
            numbers.push(vec![m.clone(), d.clone(), short_year.clone()]);
            numbers.push(vec![d.clone(), m.clone(), short_year.clone()]);
        }
    }
    for run in [
        format!("{year}{month}{day}"),
        format!("{month}{day}{year}"),
        format!("{day}{month}{year}"),
        format!("{month}{day}{short_year}"),
    ] {
        numbers.push(vec![run]);
    }
    numbers.sort();
    numbers.dedup();
    numbers
}

fn padded_or_not(n: u8) -> Vec<String> {
    let mut both = vec![n.to_string(), format!("{n:02}")];
    both.dedup();
    both
}

/// An SSN whole and in its 3-2-4 groups; any other count of digits whole.
pub(super) fn ssn(digits: &str) -> Vec<Number> {
    let mut numbers = vec![vec![digits.to_owned()]];
    if let (Some(area), Some(group), Some(serial)) =
        (digits.get(..3), digits.get(3..5), digits.get(5..))
        && digits.len() == 9
    {
        numbers.push(vec![area.into(), group.into(), serial.into()]);
    }
    numbers
}

/// A ZIP alone, with its ZIP+4, and run together with it.
pub(super) fn zip(zip5: &str, zip4: Option<&str>) -> Vec<Number> {
    let mut numbers = vec![vec![zip5.to_owned()]];
    if let Some(zip4) = zip4.filter(|z| !z.is_empty()) {
        numbers.push(vec![zip5.to_owned(), zip4.to_owned()]);
        numbers.push(vec![format!("{zip5}{zip4}")]);
    }
    numbers
}

/// A US phone number from its digits: all of them, the last ten whole and
/// as area, exchange and line, and the exchange and line alone.
pub(super) fn phone(digits: &str) -> Vec<Number> {
    let mut numbers = vec![vec![digits.to_owned()]];
    let Some(ten) = digits.get(digits.len().saturating_sub(10)..) else {
        return numbers;
    };
    if let (Some(area), Some(exchange), Some(line)) = (ten.get(..3), ten.get(3..6), ten.get(6..))
        && ten.len() == 10
    {
        numbers.push(vec![ten.to_owned()]);
        numbers.push(vec![area.into(), exchange.into(), line.into()]);
        numbers.push(vec![exchange.into(), line.into()]);
    }
    numbers
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
        let choices: &[&str] = STREET_WORDS
            .iter()
            .find(|group| group.contains(&bare))
            .filter(|group| spellings.len() * group.len() <= MAX_STREET_SPELLINGS)
            .map_or(&[][..], |group| &group[..]);
        let choices: Vec<&str> = if choices.is_empty() {
            vec![word]
        } else {
            choices.to_vec()
        };
        spellings = spellings
            .iter()
            .flat_map(|before| {
                choices.iter().map(move |choice| {
                    if i == 0 {
                        (*choice).to_owned()
                    } else {
                        format!("{before} {choice}")
                    }
                })
            })
            .collect();
    }
    if !spellings.iter().any(|s| s == line) {
        spellings.push(line.to_owned());
    }
    spellings
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
