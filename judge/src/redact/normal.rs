//! Text put in one form before anything is matched: NFKC, default-ignorable code points dropped, whitespace runs made one space.
//!
//! A vendor can echo the applicant's values in forms that look the same to a
//! reader but not to a byte comparison: full-width letters (`ＦＡＫＥＹ`), a
//! soft hyphen or a zero-width space inside a name, two spaces inside a
//! street. Both the applicant's values and every vendor text go through
//! [`normalise`], so such forms compare equal; the line then carries the
//! normalised text (it reads the same). A single whitespace character is
//! kept as it is (a tab, a line separator): the matching reads any one as a
//! space, and the line's encoder escapes those that would break a line.

use std::borrow::Cow;

use unicode_normalization::UnicodeNormalization;

/// `text` in the form every rule matches in: borrowed, at the cost of a
/// few byte scans, when it already is (ASCII without two whitespace
/// characters in a row: nearly every vendor text), or when nothing changed.
pub(super) fn normalise(text: &str) -> Cow<'_, str> {
    if is_plain_ascii(text) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    // The whitespace since the last other character: the first of it, and
    // how much. One is kept; a run becomes one space.
    let mut blank: Option<(char, usize)> = None;
    let flush = |out: &mut String, blank: &mut Option<(char, usize)>| match blank.take() {
        Some((c, 1)) => out.push(c),
        Some(_) => out.push(' '),
        None => {}
    };
    // Ignorables dropped before NFKC too, so one between a letter and its
    // combining mark does not stop them composing.
    for c in text.chars().filter(|c| !is_default_ignorable(*c)).nfkc() {
        if is_default_ignorable(c) {
            continue;
        }
        if c.is_whitespace() {
            blank = Some(blank.map_or((c, 1), |(first, n)| (first, n + 1)));
        } else {
            flush(&mut out, &mut blank);
            out.push(c);
        }
    }
    flush(&mut out, &mut blank);
    if out == text {
        Cow::Borrowed(text)
    } else {
        Cow::Owned(out)
    }
}

/// ASCII with no two whitespace characters in a row: NFKC leaves ASCII as
/// it is, and ASCII holds no default-ignorable code point.
fn is_plain_ascii(text: &str) -> bool {
    let blank = |b: u8| b == b' ' || (b'\t'..=b'\r').contains(&b);
    text.is_ascii()
        && !text
            .as_bytes()
            .windows(2)
            .any(|pair| blank(pair[0]) && blank(pair[1]))
}

/// Unicode's `Default_Ignorable_Code_Point`: code points that render as
/// nothing and so can hide inside a value. From `DerivedCoreProperties.txt`
/// of Unicode 15.0 (the list has not changed since 14.0); no crate of the
/// unicode-rs family exposes the property, and ICU4X's would bring a data
/// provider for one table of 27 ranges.
const DEFAULT_IGNORABLE: &[(char, char)] = &[
    ('\u{00AD}', '\u{00AD}'),
    ('\u{034F}', '\u{034F}'),
    ('\u{061C}', '\u{061C}'),
    ('\u{115F}', '\u{1160}'),
    ('\u{17B4}', '\u{17B5}'),
    ('\u{180B}', '\u{180D}'),
    ('\u{180E}', '\u{180E}'),
    ('\u{180F}', '\u{180F}'),
    ('\u{200B}', '\u{200F}'),
    ('\u{202A}', '\u{202E}'),
    ('\u{2060}', '\u{2064}'),
    ('\u{2065}', '\u{2065}'),
    ('\u{2066}', '\u{206F}'),
    ('\u{3164}', '\u{3164}'),
    ('\u{FE00}', '\u{FE0F}'),
    ('\u{FEFF}', '\u{FEFF}'),
    ('\u{FFA0}', '\u{FFA0}'),
    ('\u{FFF0}', '\u{FFF8}'),
    ('\u{1BCA0}', '\u{1BCA3}'),
    ('\u{1D173}', '\u{1D17A}'),
    ('\u{E0000}', '\u{E0000}'),
    ('\u{E0001}', '\u{E0001}'),
    ('\u{E0002}', '\u{E001F}'),
    ('\u{E0020}', '\u{E007F}'),
    ('\u{E0080}', '\u{E00FF}'),
    ('\u{E0100}', '\u{E01EF}'),
    ('\u{E01F0}', '\u{E0FFF}'),
];

fn is_default_ignorable(c: char) -> bool {
    // Below the first range: every ASCII and Latin-1 letter, one compare.
    c >= '\u{00AD}'
        && DEFAULT_IGNORABLE
            .binary_search_by(|&(low, high)| {
                if high < c {
                    std::cmp::Ordering::Less
                } else if low > c {
                    std::cmp::Ordering::Greater
                } else {
                    std::cmp::Ordering::Equal
                }
            })
            .is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_ascii_is_borrowed_and_everything_else_normalised() {
        for plain in ["", "FAKEY MCFAKERSON", "a b c", "x.y-z@w", "a\tb\nc"] {
            assert!(matches!(normalise(plain), Cow::Borrowed(_)), "{plain:?}");
        }
        // Already in form, but not ASCII: still borrowed (nothing changed).
        assert!(matches!(normalise("Zoë Ñúñez"), Cow::Borrowed(_)));
        for (text, want) in [
            ("FAKEY  MCFAKERSON", "FAKEY MCFAKERSON"),
            ("1\tFAKE \n ST", "1\tFAKE ST"),
            ("a\u{2028}b \u{2029}c", "a\u{2028}b c"),
            ("ＦＡＫＥＹ", "FAKEY"),
            ("FA\u{AD}KEY", "FAKEY"),
            ("F\u{200B}A\u{200C}K\u{200D}E\u{2060}Y\u{FEFF}", "FAKEY"),
            ("Mc\u{202E}Fakerson", "McFakerson"),
            ("ﬁ ９００", "fi 900"),
            // An ignorable between a letter and its mark: they still compose.
            ("e\u{200B}\u{301}", "é"),
            ("a\u{a0}b\u{3000}c", "a b c"),
        ] {
            assert_eq!(normalise(text), want, "{text:?}");
        }
    }

    #[test]
    fn the_ignorable_table_is_sorted_and_its_edges_found() {
        assert!(DEFAULT_IGNORABLE.windows(2).all(|w| w[0].1 < w[1].0));
        for c in [
            '\u{AD}',
            '\u{200B}',
            '\u{200F}',
            '\u{206F}',
            '\u{E0FFF}',
            '\u{1BCA3}',
        ] {
            assert!(is_default_ignorable(c), "{c:?}");
        }
        for c in [
            'a',
            '\u{AC}',
            '\u{AE}',
            '\u{2010}',
            '\u{E1000}',
            '\u{1BCA4}',
        ] {
            assert!(!is_default_ignorable(c), "{c:?}");
        }
    }
}
