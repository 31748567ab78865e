"""Compares identity-idp's results with the proxy's, answer by answer: usage `compare.py CASES RUBY RUST`.

Every key must be equal, except where the proxy deliberately differs (README,
"Choices"): a step named `ssn` is dropped from `errors`, an exception's
message is the proxy's own, so only whether there is one is compared, and
vendor text is redacted and capped, so a proxy value with `[redacted]` (or a
cut, `…`) matches when identity-idp's value is it with those spans filled in.
Exits 1 on any mismatch, printing the first few.
"""
import json
import re
import sys

REDACTED = "[redacted]"
CUT = "\u2026"


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
for case, expected, actual in zip(cases, ruby, rust):
    if isinstance(expected["errors"], dict):
        expected["errors"].pop("ssn", None)
    expected_exception, actual_exception = expected.pop("exception"), actual.pop("exception")
    diffs = []
    if (expected_exception is None) != (actual_exception is None):
        diffs.append(("exception", expected_exception, actual_exception))
    diffs += [(key, expected[key], actual.get(key)) for key in expected
              if not redacted_from(expected[key], actual.get(key))]
    exceptions += expected_exception is not None
    if diffs:
        mismatches += 1
        if mismatches <= 10:
            print("answer:", case)
            for key, want, got in diffs:
                print(f"  {key}: identity-idp {json.dumps(want)[:300]} | proxy {json.dumps(got)[:300]}")
print(f"{len(cases)} answers, {exceptions} exception results in identity-idp, {mismatches} mismatches")
sys.exit(1 if mismatches else 0)
