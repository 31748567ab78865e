"""Compares identity-idp's results with the proxy's, answer by answer: usage `compare.py CASES RUBY RUST`.

Every key must be equal, except where the proxy deliberately differs (README,
"Choices"): a step named `ssn` is dropped from `errors`, an exception's
message is the proxy's own, so only whether there is one is compared, and
vendor text is redacted and capped, so a proxy value with `[redacted]` (or a
cut, `…`) matches when identity-idp's value is it with those spans filled in.
The proxy writes vendor text in the one form its redactor matches in (NFKC,
default-ignorable code points dropped, a run of whitespace one space:
judge/src/redact/normal.rs), so identity-idp's strings are put in that form
before they are compared.
Exits 1 on any mismatch, printing the first few.
"""
import json
import re
import sys
import unicodedata

REDACTED = "[redacted]"
CUT = "\u2026"


# Rust's `char::is_whitespace` (Unicode White_Space), which differs from
# Python's `str.isspace` (that counts U+001C to U+001F too).
WHITESPACE = set("\t\n\v\f\r \x85\xa0\u1680\u2028\u2029\u202f\u205f\u3000") | {
    chr(c) for c in range(0x2000, 0x200B)}
# Unicode 15's Default_Ignorable_Code_Point, as normal.rs lists it.
IGNORABLE = [(0x00AD, 0x00AD), (0x034F, 0x034F), (0x061C, 0x061C), (0x115F, 0x1160),
             (0x17B4, 0x17B5), (0x180B, 0x180F), (0x200B, 0x200F), (0x202A, 0x202E),
             (0x2060, 0x206F), (0x3164, 0x3164), (0xFE00, 0xFE0F), (0xFEFF, 0xFEFF),
             (0xFFA0, 0xFFA0), (0xFFF0, 0xFFF8), (0x1BCA0, 0x1BCA3), (0x1D173, 0x1D17A),
             (0xE0000, 0xE0FFF)]


def ignorable(c):
    return any(low <= ord(c) <= high for low, high in IGNORABLE)


# What ActiveSupport's `to_json` writes for a whitespace character, or a
# backslash (so `\\n` is not read as `\n`).
PRINTED = re.compile(r"\\\\|\\(?:[ntrf]|u(?:2028|2029|000[bB]))|.", re.S)
# `errors.base` of an `error` status: the code as Ruby's `inspect` prints it,
# then `Information` as its `to_json` prints it.
ERROR_BASE = re.compile(r"(Response error with code '.*?': )(.*)", re.S)


def normal(text, escapes=False):
    """`text` as normal.rs's `normalise` writes it: a run of whitespace is
    one space. With `escapes`, text printed by `to_json` from strings the
    proxy put in that form before printing (`Information`, quoted in
    `errors.base`), where Ruby printed each whitespace character of a run as
    an escape (`\\n`, `\\u2028`) on its own: those count in a run too."""
    kept = unicodedata.normalize("NFKC", "".join(c for c in text if not ignorable(c)))
    out, blank = [], []
    for token in PRINTED.findall(kept) if escapes else kept:
        if len(token) == 1 and ignorable(token):
            continue
        if token in WHITESPACE or (len(token) > 1 and token != "\\\\"):
            blank.append(token)
            continue
        if blank:
            out.append(blank[0] if len(blank) == 1 else " ")
            blank = []
        out.append(token)
    if blank:
        out.append(blank[0] if len(blank) == 1 else " ")
    return "".join(out)


def normal_text(text):
    """A string of the result in the proxy's form (see `normal`)."""
    error = ERROR_BASE.fullmatch(text)
    if error:
        return normal(error.group(1)) + normal(error.group(2), escapes=True)
    return normal(text)


def normalised(value):
    """Every string in `value`, keys too, in the proxy's form."""
    if isinstance(value, str):
        return normal_text(value)
    if isinstance(value, list):
        return [normalised(item) for item in value]
    if isinstance(value, dict):
        return {normal(key): normalised(item) for key, item in value.items()}
    return value


def redacted_from(want, got):
    """Whether `got` is `want`, or `want` with spans redacted and its end cut."""
    if isinstance(got, str) and isinstance(want, (int, float)) and not isinstance(want, bool):
        return got == REDACTED
    if isinstance(want, str) and isinstance(got, str):
        if REDACTED not in got and not got.endswith(CUT):
            return want == got
        body, tail = (got[:-1], ".*") if got.endswith(CUT) else (got, "")
        if tail:
            # The cut may fall inside a `[redacted]`.
            for k in range(len(REDACTED) - 1, 0, -1):
                if body.endswith(REDACTED[:k]):
                    body = body[:-k]
                    break
        pattern = ".+?".join(re.escape(part) for part in body.split(REDACTED)) + tail
        return re.fullmatch(pattern, want, re.S) is not None
    if isinstance(want, list) and isinstance(got, list):
        return len(want) == len(got) and all(map(redacted_from, want, got))
    if isinstance(want, dict) and isinstance(got, dict):
        if set(want) == set(got):
            return all(redacted_from(want[key], got[key]) for key in want)
        # A redacted key: the two in order.
        return len(want) == len(got) and all(
            redacted_from(wk, gk) and redacted_from(wv, gv)
            for (wk, wv), (gk, gv) in zip(want.items(), got.items()))
    return want == got


cases = open(sys.argv[1]).read().splitlines()
ruby = [json.loads(line) for line in open(sys.argv[2])]
rust = [json.loads(line) for line in open(sys.argv[3])]
assert len(cases) == len(ruby) == len(rust), "one result per answer on each side"

mismatches = 0
exceptions = 0
for case, expected, line_result in zip(cases, ruby, rust):
    # The line's `resolution_result` is identity-idp's adjudicated shape
    # (CONTRACT.md section 4): the InstantVerify result at
    # `context.stages.resolution`, and at the top that stage's own success,
    # errors, exception and timed_out, nothing else.
    actual = line_result["context"]["stages"]["resolution"]
    shape_ok = list(line_result) == ["success", "errors", "exception", "timed_out", "context"] and all(
        line_result[key] == actual[key] for key in ("success", "errors", "exception", "timed_out"))
    if isinstance(expected["errors"], dict):
        expected["errors"].pop("ssn", None)
    expected_exception, actual_exception = expected.pop("exception"), actual.pop("exception")
    diffs = []
    if (expected_exception is None) != (actual_exception is None):
        diffs.append(("exception", expected_exception, actual_exception))
    diffs += [(key, expected[key], actual.get(key)) for key in expected
              if not redacted_from(normalised(expected[key]), actual.get(key))]
    if not shape_ok:
        diffs.append(("the adjudicated shape", "as CONTRACT.md section 4", list(line_result)))
    exceptions += expected_exception is not None
    if diffs:
        mismatches += 1
        if mismatches <= 10:
            print("answer:", case)
            for key, want, got in diffs:
                print(f"  {key}: identity-idp {json.dumps(want)[:300]} | proxy {json.dumps(got)[:300]}")
print(f"{len(cases)} answers, {exceptions} exception results in identity-idp, {mismatches} mismatches")
sys.exit(1 if mismatches else 0)
