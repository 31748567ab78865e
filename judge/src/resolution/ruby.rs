//! Pure: JSON values as identity-idp's Ruby reads them (`present?`) and prints them into its messages (`"#{value}"`, `to_json`).
//!
//! identity-idp builds `errors.base` by interpolating values from the answer
//! (`'#{error_code}'`) and by `Information.to_json`. A string interpolates as
//! itself, but a list, an object or a float does not print as its JSON text,
//! and ActiveSupport's JSON escapes `<`, `>` and `&`. So that the proxy's
//! message equals the app's, byte for byte, these follow Ruby 3.3 with
//! ActiveSupport 7.1, as identity-idp ran at the reference commit. One
//! known gap: inside a list or object, a string holding an unassigned code
//! point is printed raw here, where Ruby's `inspect` escapes it.

use std::fmt::Write as _;

use serde_json::{Number, Value};

/// `"#{value}"`: `nil` is empty, a string is itself, anything else `to_s`.
pub fn interpolate(value: Option<&Value>) -> String {
    match value {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(text)) => text.clone(),
        Some(other) => {
            let mut out = String::new();
            print(other, &INSPECT, &mut out);
            out
        }
    }
}

/// ActiveSupport's `present?`: not `nil`, `false`, a string of only white
/// space, or an empty list or object.
pub fn present(value: &Value) -> bool {
    match value {
        Value::Null | Value::Bool(false) => false,
        Value::String(text) => !text.chars().all(char::is_whitespace),
        Value::Array(list) => !list.is_empty(),
        Value::Object(map) => !map.is_empty(),
        Value::Bool(true) | Value::Number(_) => true,
    }
}

/// ActiveSupport's `to_json`: the JSON gem's output (floats as Ruby prints
/// them, control characters as `\u001f`), then `<`, `>`, `&`, U+2028 and
/// U+2029 escaped, as Rails' `escape_html_entities_in_json` does by default.
pub fn to_json(value: &Value) -> String {
    let mut out = String::new();
    print(value, &JSON, &mut out);
    out
}

/// What Ruby's two printers write differently; lists, objects and numbers
/// they write alike.
struct Style {
    nil: &'static str,
    item_separator: &'static str,
    key_separator: &'static str,
    string: fn(&str, &mut String),
}

/// `inspect`, which `to_s` of a list or a hash is: `{"a"=>[nil, 1.0]}`.
const INSPECT: Style = Style {
    nil: "nil",
    item_separator: ", ",
    key_separator: "=>",
    string: inspect_string,
};

/// ActiveSupport's JSON: `{"a":[null,1.0]}`.
const JSON: Style = Style {
    nil: "null",
    item_separator: ",",
    key_separator: ":",
    string: json_string,
};

fn print(value: &Value, style: &Style, out: &mut String) {
    match value {
        Value::Null => out.push_str(style.nil),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => out.push_str(&number(n)),
        Value::String(text) => (style.string)(text, out),
        Value::Array(list) => {
            out.push('[');
            for (i, item) in list.iter().enumerate() {
                if i > 0 {
                    out.push_str(style.item_separator);
                }
                print(item, style, out);
            }
            out.push(']');
        }
        Value::Object(map) => {
            out.push('{');
            for (i, (key, item)) in map.iter().enumerate() {
                if i > 0 {
                    out.push_str(style.item_separator);
                }
                (style.string)(key, out);
                out.push_str(style.key_separator);
                print(item, style, out);
            }
            out.push('}');
        }
    }
}

fn json_string(text: &str, out: &mut String) {
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '<' | '>' | '&' | '\u{2028}' | '\u{2029}' | '\u{0}'..='\u{1f}' => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            _ => out.push(c),
        }
    }
    out.push('"');
}

fn inspect_string(text: &str, out: &mut String) {
    out.push('"');
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            // `#` starts interpolation only before these, so only there is it escaped.
            '#' if matches!(chars.peek(), Some('{' | '$' | '@')) => out.push_str("\\#"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{c}' => out.push_str("\\f"),
            '\u{b}' => out.push_str("\\v"),
            '\u{8}' => out.push_str("\\b"),
            '\u{7}' => out.push_str("\\a"),
            '\u{1b}' => out.push_str("\\e"),
            // Ruby counts U+0085 as printable (white space), the other
            // control characters and the line and paragraph separators not.
            '\u{85}' => out.push(c),
            c if c.is_control() || c == '\u{2028}' || c == '\u{2029}' => {
                let _ = write!(out, "\\u{:04X}", u32::from(c));
            }
            _ => out.push(c),
        }
    }
    out.push('"');
}

/// An integer as its digits; a float as Ruby's `Float#to_s`.
fn number(n: &Number) -> String {
    match n.as_f64() {
        Some(float) if n.is_f64() => float_to_s(float),
        _ => n.to_string(),
    }
}

/// Ruby's `Float#to_s`: the shortest digits that read back the same, fixed
/// while the decimal point falls within 16 digits before or 4 after it,
/// otherwise `d.ddde+XX`, always with a digit after the point.
fn float_to_s(float: f64) -> String {
    if float == 0.0 {
        return if float.is_sign_negative() {
            "-0.0"
        } else {
            "0.0"
        }
        .to_owned();
    }
    // Rust's `{:e}` is the shortest round-trip form too: `-1.2345e-5`.
    let scientific = format!("{float:e}");
    let (mantissa, exponent) = scientific.split_once('e').unwrap_or((&scientific, "0"));
    let exponent: i32 = exponent.parse().unwrap_or(0);
    let (sign, mantissa) = match mantissa.strip_prefix('-') {
        Some(rest) => ("-", rest),
        None => ("", mantissa),
    };
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    // Where the decimal point goes, counted from the first digit.
    let point = exponent + 1;
    let body = if (1..=15).contains(&point) {
        let point = point as usize;
        if digits.len() <= point {
            format!("{digits}{}.0", "0".repeat(point - digits.len()))
        } else {
            format!("{}.{}", &digits[..point], &digits[point..])
        }
    } else if (-3..=0).contains(&point) {
        format!("0.{}{digits}", "0".repeat(point.unsigned_abs() as usize))
    } else {
        let fraction = if digits.len() > 1 { &digits[1..] } else { "0" };
        let sign = if exponent < 0 { '-' } else { '+' };
        format!(
            "{}.{fraction}e{sign}{:02}",
            &digits[..1],
            exponent.unsigned_abs()
        )
    };
    format!("{sign}{body}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn floats_print_as_ruby_prints_them() {
        // Each pair was printed by Ruby 3.1's `Float#to_s`.
        for (float, ruby) in [
            (1e20, "1.0e+20"),
            (1.0, "1.0"),
            (100.0, "100.0"),
            (0.0001, "0.0001"),
            (0.00001, "1.0e-05"),
            (-0.0, "-0.0"),
            (1e16, "1.0e+16"),
            (1e15, "1.0e+15"),
            (1e14, "100000000000000.0"),
            (123456789012345.0, "123456789012345.0"),
            (1234567890123456.0, "1.234567890123456e+15"),
            (0.00012345, "0.00012345"),
            (12.5, "12.5"),
            (2.5e-7, "2.5e-07"),
            (5e-324, "5.0e-324"),
            (1.7976931348623157e308, "1.7976931348623157e+308"),
            (-1.5, "-1.5"),
        ] {
            assert_eq!(float_to_s(float), ruby, "{float}");
        }
    }

    #[test]
    fn interpolation_is_ruby_to_s() {
        assert_eq!(interpolate(None), "");
        assert_eq!(interpolate(Some(&json!(null))), "");
        assert_eq!(interpolate(Some(&json!("a\"b"))), "a\"b");
        assert_eq!(interpolate(Some(&json!(5))), "5");
        assert_eq!(interpolate(Some(&json!(true))), "true");
        // Printed by Ruby 3.1: `"#{{"a"=>{"b"=>[nil, 1.0e+20, "\#{"]}}}"`.
        assert_eq!(
            interpolate(Some(&json!({"a": {"b": [null, 1e20, "#{"]}}))),
            r##"{"a"=>{"b"=>[nil, 1.0e+20, "\#{"]}}"##
        );
        assert_eq!(
            interpolate(Some(
                &json!(["x\u{1}\u{7f}\u{1b}\u{85}", 1.5, true, {"k": []}])
            )),
            "[\"x\\u0001\\u007F\\e\u{85}\", 1.5, true, {\"k\"=>[]}]"
        );
    }

    #[test]
    fn to_json_is_active_supports() {
        // Printed by Ruby 3.1 with ActiveSupport: `{"k<"=>"\x1f\u00e9/"}.to_json`.
        assert_eq!(
            to_json(&json!({"k<": "\u{1f}\u{e9}/"})),
            "{\"k\\u003c\":\"\\u001f\u{e9}/\"}"
        );
        assert_eq!(
            to_json(&json!({"a": "<b>&\u{2028}\n\"\\", "f": [1.0, 1e20, 1e-5], "n": null})),
            r#"{"a":"\u003cb\u003e\u0026\u2028\n\"\\","f":[1.0,1.0e+20,1.0e-05],"n":null}"#
        );
    }
}
