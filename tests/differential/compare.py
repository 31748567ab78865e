"""Compares identity-idp's results with the proxy's, answer by answer: usage `compare.py CASES RUBY RUST`.

Every key must be equal, except where the proxy deliberately differs (README,
"Choices"): a step named `ssn` is dropped from `errors`, and an exception's
message is the proxy's own, so only whether there is one is compared.
Exits 1 on any mismatch, printing the first few.
"""
import json
import sys

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
    diffs += [(key, expected[key], actual[key]) for key in expected if expected[key] != actual.get(key)]
    exceptions += expected_exception is not None
    if diffs:
        mismatches += 1
        if mismatches <= 10:
            print("answer:", case)
            for key, want, got in diffs:
                print(f"  {key}: identity-idp {json.dumps(want)[:300]} | proxy {json.dumps(got)[:300]}")
print(f"{len(cases)} answers, {exceptions} exception results in identity-idp, {mismatches} mismatches")
sys.exit(1 if mismatches else 0)
