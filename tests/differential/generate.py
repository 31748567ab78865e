"""Prints random InstantVerify answer bodies, one JSON per line: usage `generate.py SEED COUNT`.

The shapes cover what identity-idp's judging reads (statuses, reason codes,
products, items) and what makes it raise or print oddly: wrong types at every
level, nested lists and objects, floats, and strings with <, >, &, #{, quotes,
control characters and line separators.
"""
import json
import random
import sys

random.seed(int(sys.argv[1]))
COUNT = int(sys.argv[2])

NAMES = ["Addr1Zip_StateMatch", "SsnFullNameMatch", "SsnDeathMatchVerification", "SSNSSAValid",
         "IdentityOccupancyVerified", "AddrDeliverable", "AddrNotHighRisk", "DOBFullVerified",
         "DOBYearVerified", "LexIDDeathMatch", "DriversLicense", "DriversLicenseVerification",
         "Made", "ItemName", ""]
STRINGS = ["", "  ", "x", "a<b>&c", "#{x}", "#$y #@z #a", "q\"uo\\te",
           "\u0001\u007f\u0085\u2028\u00e9\n\t\u001b", "\u3000"]


def scalar():
    return random.choice([None, 5, -0, 1.5, 1e20, 1e-5, 100.0, 123456789012345678.0, True, False] + STRINGS)


def junk(depth=0):
    r = random.random()
    if depth < 2 and r < 0.2:
        return [junk(depth + 1) for _ in range(random.randint(0, 3))]
    if depth < 2 and r < 0.35:
        return {random.choice(["a", "b<", "c#{"]): junk(depth + 1) for _ in range(random.randint(0, 2))}
    return scalar()


def code():
    return random.choice([
        "total.scoring.model.verification.fail", "priority.scoring.model.verification.fail",
        "xx.total.scoring.model.verification.fail.yy", "other.code", junk()])


def item():
    r = random.random()
    if r < 0.1:
        return junk()
    if r < 0.15:
        return random.choice(["pass", "ItemStatus", "s"])
    it = {}
    if random.random() < 0.9:
        it["ItemName"] = random.choice(NAMES + [None, 3])
    if random.random() < 0.9:
        it["ItemStatus"] = random.choice(["pass", "fail", "pass", "fail", None, "PASS"])
    if random.random() < 0.3:
        it["ItemReason"] = random.choice([{"Code": "c"}, None])
    return it


def items():
    if random.random() < 0.15:
        return junk()
    return [item() for _ in range(random.randint(0, 4))]


def product():
    if random.random() < 0.05:
        return junk()
    p = {}
    if random.random() < 0.9:
        p["ProductType"] = random.choice(["InstantVerify", "InstantVerify", "PhoneFinder", "Other", None])
    if random.random() < 0.92:
        p["ExecutedStepName"] = random.choice(["Execute Instant Verify", "PF", "base", "ssn", "Other", "Other", None, 7])
    if random.random() < 0.9:
        p["ProductStatus"] = random.choice(["pass", "fail", "pass", None])
    if random.random() < 0.85:
        p["Items"] = items()
    if random.random() < 0.2:
        p["ParameterDetails"] = [{"Name": "n"}]
    return p


def products():
    if random.random() < 0.1:
        return junk()
    return [product() for _ in range(random.choice([0, 1, 1, 1, 1, 2, 3]))]


def status():
    if random.random() < 0.05:
        return junk()
    s = {}
    if random.random() < 0.95:
        s["TransactionStatus"] = random.choice(["passed", "failed", "error", "passed", "failed", "weird", None, 5, junk()])
    if random.random() < 0.8:
        r = random.random()
        s["TransactionReasonCode"] = junk() if r < 0.1 else ({"Code": code()} if r < 0.95 else {})
    if random.random() < 0.9:
        s["ConversationId"] = random.choice(["123", None, 5])
    if random.random() < 0.9:
        s["Reference"] = random.choice(["ref", None])
    return s


def body():
    if random.random() < 0.02:
        return junk()
    b = {}
    if random.random() < 0.97:
        b["Status"] = status()
    if random.random() < 0.9:
        b["Products"] = products()
    if random.random() < 0.5:
        b["Information"] = random.choice([[{"Code": "c", "Text": "t"}], None, "s", {"a": [1, 2.5]}, junk()])
    return b


for _ in range(COUNT):
    print(json.dumps(body()))
