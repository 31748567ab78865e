//! Pure: how a line writes text: JSON strings escaped so that no vendor's text can end a line or drive a terminal, and UTC timestamps.
//!
//! `pair::encode` writes every line through [`LineFormatter`]; the
//! LexisNexis products written ahead of their line (`resolution::streamed`)
//! are escaped the same way by [`write_json_string`], so the two cannot
//! differ. Here rather than in `pair`, which reads the judges: they write
//! through this too, and the judge's modules import in one direction.

use serde::Serialize;
use time::OffsetDateTime;

/// `text` as a JSON string, escaped as `pair::encode` escapes every string
/// of a line: for JSON written ahead of the line and copied into it whole.
pub(crate) fn write_json_string(out: &mut Vec<u8>, text: &str) -> serde_json::Result<()> {
    // Nearly every string: printable ASCII with no quote or backslash,
    // which both escapers leave as it is.
    // A fold rather than `all`: no early exit, so it runs a vector at a time.
    let plain = |b: u8| (0x20..0x7F).contains(&b) & (b != b'"') & (b != b'\\');
    if text.as_bytes().iter().fold(true, |all, &b| all & plain(b)) {
        out.reserve(text.len() + 2);
        out.push(b'"');
        out.extend_from_slice(text.as_bytes());
        out.push(b'"');
        return Ok(());
    }
    text.serialize(&mut serde_json::Serializer::with_formatter(
        out,
        LineFormatter,
    ))
}

/// serde_json's compact JSON, with the characters it leaves raw in strings
/// escaped as `\u00XX` too: DEL (U+007F), the C1 controls (U+0080 to
/// U+009F, NEL among them: a line end for Python's `splitlines()` and
/// some log shippers) and U+2028/U+2029 (line ends for JavaScript and
/// `splitlines()`). serde_json escapes `"`, `\` and the C0 controls itself.
/// Fragments without any of these are written whole, as serde_json would.
pub(crate) struct LineFormatter;

impl serde_json::ser::Formatter for LineFormatter {
    fn write_string_fragment<W: ?Sized + std::io::Write>(
        &mut self,
        writer: &mut W,
        fragment: &str,
    ) -> std::io::Result<()> {
        let bytes = fragment.as_bytes();
        // Nearly every fragment: ASCII without DEL, written whole.
        if !may_need_escape(bytes) {
            return writer.write_all(bytes);
        }
        let mut written = 0;
        for (at, c) in fragment.char_indices() {
            if matches!(c, '\u{7f}'..='\u{9f}' | '\u{2028}' | '\u{2029}') {
                writer.write_all(&bytes[written..at])?;
                write!(writer, "\\u{:04x}", u32::from(c))?;
                written = at + c.len_utf8();
            }
        }
        writer.write_all(&bytes[written..])
    }
}

/// Whether any byte is 0x7F or above: one pass the compiler runs a vector
/// at a time.
fn may_need_escape(bytes: &[u8]) -> bool {
    !bytes.iter().fold(true, |plain, &b| plain & (b < 0x7F))
}

/// `at` in UTC as `2024-08-22T19:25:45Z`, with `.678` before the `Z` when
/// `millis`: written digit by digit, which costs a tenth of what `time`'s
/// formatter (which reads its description on every call) does. A year
/// outside 0 to 9999 is left to that formatter, as before.
pub(crate) fn utc_text(at: OffsetDateTime, millis: bool) -> String {
    let at = at.to_offset(time::UtcOffset::UTC);
    let Ok(year) = u32::try_from(at.year()) else {
        return utc_text_by_time(at, millis);
    };
    if year > 9999 {
        return utc_text_by_time(at, millis);
    }
    let mut out = String::with_capacity(24);
    let mut push = |n: u32, width: u32, after: char| {
        for place in (0..width).rev() {
            let digit = n / 10u32.pow(place) % 10;
            out.push(char::from(b'0' + digit as u8));
        }
        out.push(after);
    };
    push(year, 4, '-');
    push(u32::from(u8::from(at.month())), 2, '-');
    push(u32::from(at.day()), 2, 'T');
    push(u32::from(at.hour()), 2, ':');
    push(u32::from(at.minute()), 2, ':');
    if millis {
        push(u32::from(at.second()), 2, '.');
        push(u32::from(at.millisecond()), 3, 'Z');
    } else {
        push(u32::from(at.second()), 2, 'Z');
    }
    out
}

/// [`utc_text`] by `time`'s formatter.
fn utc_text_by_time(at: OffsetDateTime, millis: bool) -> String {
    const MILLIS: &[time::format_description::FormatItem<'static>] = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
    );
    const SECONDS: &[time::format_description::FormatItem<'static>] =
        time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z");
    at.format(if millis { MILLIS } else { SECONDS })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_text_writes_what_times_formatter_writes() {
        let start = time::macros::datetime!(1969-12-31 23:59:59.999 UTC);
        // Every field's carry, a leap day, an offset turned to UTC.
        for seconds in (0..400_000_000_i64).step_by(9_999_991) {
            let at = start
                + time::Duration::seconds(seconds)
                + time::Duration::milliseconds(seconds % 1000);
            for at in [at, at.to_offset(time::macros::offset!(-5))] {
                for millis in [true, false] {
                    assert_eq!(
                        utc_text(at, millis),
                        utc_text_by_time(at.to_offset(time::UtcOffset::UTC), millis)
                    );
                }
            }
        }
        let early = time::macros::datetime!(0001-01-01 00:00:00.001 UTC);
        assert_eq!(utc_text(early, true), "0001-01-01T00:00:00.001Z");
    }

    #[test]
    fn the_escape_check_finds_every_byte_from_0x7f_up_anywhere() {
        for len in 0..20 {
            assert!(!may_need_escape(&vec![0x7E; len]), "{len}");
            assert!(!may_need_escape(&vec![0x00; len]), "{len}");
            for at in 0..len {
                for byte in [0x7F, 0x80, 0xC2, 0xFF] {
                    let mut bytes = vec![b'a'; len];
                    bytes[at] = byte;
                    assert!(may_need_escape(&bytes), "{byte:#x} at {at} of {len}");
                }
            }
        }
    }
}
