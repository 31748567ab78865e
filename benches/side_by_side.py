#!/usr/bin/env python3
"""Helpers for benches/side_by_side.sh (run by it, not by hand).

  ports N                        N free TCP ports on 127.0.0.1
  wrap OUT CMD...                runs CMD as a child, writes its PID to OUT.pid,
                                 then at its exit its code and rusage to OUT (JSON)
  check URL BODY EXPECT N        N POSTs on one connection: 200, application/json,
                                 body == EXPECT; prints the slowest answer's time
  record RESULTS key=value...    parses one load's outputs, appends a JSON line
  table RESULTS                  the markdown table
"""

import http.client
import json
import math
import os
import re
import socket
import sys
import time
import urllib.parse
from collections import Counter

LINE = "idv_socure_shadow_mode_proofing_result"
SHED = "idv_socure_shadow_mode_shed"


def ports(n):
    socks = []
    for _ in range(int(n)):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        socks.append(s)
    print(" ".join(str(s.getsockname()[1]) for s in socks))


def wrap(out, *cmd):
    pid = os.fork()
    if pid == 0:
        try:
            os.execvp(cmd[0], cmd)
        finally:
            os._exit(127)
    with open(out + ".pid.tmp", "w") as f:
        f.write(f"{pid}\n")
    os.rename(out + ".pid.tmp", out + ".pid")
    _, status, ru = os.wait4(pid, 0)
    code = os.waitstatus_to_exitcode(status)
    with open(out, "w") as f:
        json.dump({"exit": code, "utime": ru.ru_utime, "stime": ru.ru_stime,
                   "maxrss_kib": ru.ru_maxrss}, f)
    sys.exit(code if code >= 0 else 128 - code)


def check(url, body_file, expect_file, n):
    u = urllib.parse.urlsplit(url)
    body = open(body_file, "rb").read()
    expect = open(expect_file, "rb").read()
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
    slowest = 0.0
    for i in range(int(n)):
        start = time.monotonic()
        conn.request("POST", u.path or "/", body=body,
                     headers={"Content-Type": "application/json"})
        r = conn.getresponse()
        data = r.read()
        slowest = max(slowest, time.monotonic() - start)
        ctype = r.getheader("Content-Type", "")
        problems = []
        if r.status != 200:
            problems.append(f"status {r.status}")
        if not ctype.startswith("application/json"):
            problems.append(f"Content-Type {ctype!r}")
        if data != expect:
            problems.append(f"body of {len(data)} bytes differs from {expect_file}")
        if problems:
            sys.exit(f"check {url} (request {i + 1} on one connection): " + ", ".join(problems))
    print(f"{slowest:.3f}")


def parse_wrk(text):
    m = re.search(r"^WRK_RESULT (\{.*\})$", text, re.M)
    if not m:
        return {"tool_error": "no WRK_RESULT line"}
    w = json.loads(m.group(1))
    errors = w["connect"] + w["read"] + w["write"] + w["timeout"]
    return {
        "done": w["requests"],
        "non2xx": w["status"],
        "errors": errors,
        "error_detail": {k: w[k] for k in ("connect", "read", "write", "timeout") if w[k]},
        "rps": w["requests"] / (w["duration_us"] / 1e6),
        "p50_ms": w["p50_us"] / 1000,
        "p99_ms": w["p99_us"] / 1000,
    }


def parse_hey(text):
    total = re.search(r"Total:\s+([\d.]+) secs", text)
    if not total:
        return {"tool_error": "no summary"}
    statuses = {int(c): int(n) for c, n in re.findall(r"\[(\d{3})\]\s+(\d+) responses", text)}
    errors = {}
    block = text.split("Error distribution:", 1)
    if len(block) == 2:
        for n, msg in re.findall(r"^\s+\[(\d+)\]\s+(.*)$", block[1], re.M):
            errors[msg[:120]] = int(n)
    pct = dict(re.findall(r"^\s+(\d+)% in ([\d.]+) secs", text, re.M))
    done = sum(statuses.values())
    return {
        "done": done,
        "non2xx": sum(n for c, n in statuses.items() if not 200 <= c < 300),
        "errors": sum(errors.values()),
        "error_detail": errors,
        "rps": done / float(total.group(1)),
        "p50_ms": float(pct["50"]) * 1000 if "50" in pct else None,
        "p99_ms": float(pct["99"]) * 1000 if "99" in pct else None,
    }


def parse_log(path):
    outcomes, names = Counter(), Counter()
    shed = bad = 0
    if os.path.exists(path):
        for raw in open(path, encoding="utf-8", errors="replace"):
            raw = raw.strip()
            if not raw:
                continue
            try:
                obj = json.loads(raw)
                name = obj.get("name")
                ep = (obj.get("properties") or {}).get("event_properties") or {}
            except (ValueError, AttributeError):
                bad += 1
                continue
            if name == LINE:
                outcomes[str(ep.get("socure_outcome"))] += 1
            elif name == SHED:
                shed += int(ep.get("shed_count", 0))
            else:
                names[str(name)] += 1
    return {"outcomes": dict(outcomes), "shed": shed, "unparsable": bad,
            "other_names": dict(names)}


def shadowed(admin):
    """The shadowed requests that should have a line or a shed count, by the
    proxy's counters at the mirror's door: admitted (`mirrors_started_total`,
    which also counts the admitted requests whose no-verdict line was
    aggregated into a summary line's count, whether the door or the mirror
    decided so) plus shed at the door, less those left out by sampling
    (admitted, no line, no count). Counted on the forward path, apart from
    the log writer, so lost or doubled lines show."""
    conn = http.client.HTTPConnection(admin, timeout=10)
    conn.request("GET", "/metrics")
    text = conn.getresponse().read().decode()
    value = {}
    for line in text.splitlines():
        if not line.startswith("#") and " " in line:
            name, number = line.rsplit(" ", 1)
            # Only counters are read; a gauge may be +Inf (max_calls_per_day
            # when unlimited).
            number = float(number)
            if math.isfinite(number):
                value[name] = int(number)
    p = "socure_shadow_proxy_"
    print(value[p + "mirrors_started_total"] + value[p + "mirrors_shed_total"]
          - value[p + "mirrors_sampled_out_total"])


def record(results, *pairs):
    a = dict(p.split("=", 1) for p in pairs)
    text = open(a["tool_out"], encoding="utf-8", errors="replace").read()
    r = {"scenario": a["scenario"], "load": a["load"], "offered": a.get("offered", "")}
    r.update(parse_wrk(text) if a["tool"] == "wrk" else parse_hey(text))
    if a.get("tool_rc", "0") != "0":
        r["tool_rc"] = int(a["tool_rc"])
    tck = int(a["clk_tck"])
    done = r.get("done") or 0
    r["cpu_us_per_req"] = None
    if a.get("cpu_before"):
        cpu = (int(a["cpu_after"]) - int(a["cpu_before"])) / tck
        r["cpu_us_per_req"] = cpu * 1e6 / done if done else None
    r["rss_mib"] = int(a["hwm_kib"]) / 1024 if a.get("hwm_kib") else None
    if a.get("affinity"):
        r["affinity"] = a["affinity"]
    if a.get("errlog") and os.path.exists(a["errlog"]):
        # The server's warnings and errors, without timestamps: the first of
        # each kind (numbers aside), and how many there were.
        seen, first = Counter(), {}
        for raw in open(a["errlog"], encoding="utf-8", errors="replace"):
            m = re.search(r"\b(WARN|ERROR|warn|error|emerg|alert|crit)\b.*", raw)
            if m:
                text = m.group(0).strip()[:200]
                kind = re.sub(r"\d+", "N", text)
                seen[kind] += 1
                first.setdefault(kind, text)
        r["diagnostics"] = [first[k] + (f" (×{n})" if n > 1 else "")
                            for k, n in seen.most_common(5)]
    if a.get("log"):
        r.update(parse_log(a["log"]))
        r["exit"] = int(a["exit"])
        if a.get("shadowed"):
            r["shadowed"] = int(a["shadowed"])
        if a.get("rusage") and os.path.exists(a["rusage"]):
            ru = json.load(open(a["rusage"]))
            to_exit = ru["utime"] + ru["stime"] - int(a["cpu_before"]) / tck
            r["cpu_to_exit_us_per_req"] = to_exit * 1e6 / done if done else None
    with open(results, "a") as f:
        f.write(json.dumps(r) + "\n")


def fmt(x, digits=1):
    if x is None:
        return "—"
    if abs(x) >= 100:
        return f"{x:,.0f}"
    return f"{x:.{digits}f}"


def table(results):
    rows = [json.loads(l) for l in open(results) if l.strip()]
    # By offered rate too: the coverage load runs at more than one.
    base = {(r["scenario"], r["load"], r["offered"]): r for r in rows}
    out = []
    out.append("| server | load | done (non-2xx, errors) | req/s | p50 ms | p99 ms "
               "| CPU µs/req (to exit) | peak RSS MiB "
               "| lines answered/dropped/other + shed | lines+shed vs proxy's count; vs done | exit "
               "| vs nginx: req/s, CPU/req | CPU/req vs nginx+mirror |")
    out.append("| " + " | ".join(["---"] * 13) + " |")
    notes = []
    for r in rows:
        load = r["load"] + (f" ({r['offered']}/s)" if r["offered"] else "")
        if "tool_error" in r:
            out.append(f"| {r['scenario']} | {load} | load tool failed: {r['tool_error']} |"
                       + " |" * 10)
            continue
        done = f"{r['done']:,} ({r['non2xx']}, {r['errors']})"
        cpu = fmt(r["cpu_us_per_req"])
        if r.get("cpu_to_exit_us_per_req") is not None:
            cpu += f" ({fmt(r['cpu_to_exit_us_per_req'])})"
        lines = check = code = "—"
        if "outcomes" in r:
            o = dict(r["outcomes"])
            answered, dropped = o.pop("answered", 0), o.pop("dropped", 0)
            other = sum(o.values())
            detail = ", ".join(f"{k} {v:,}" for k, v in sorted(o.items()))
            lines = f"{answered:,}/{dropped:,}/{other:,}" + (f" ({detail})" if detail else "") \
                + f" + {r['shed']:,}"
            if r["scenario"] in ("proxy on/fast", "baseline on/fast") and r["load"] == "coverage":
                # Of every shadowed request: those shed at the door count
                # against it as much as those dropped.
                total = answered + dropped + other + r["shed"]
                share = answered / total if total else 0
                lines += f"; answered {share:.1%}"
            accounted = answered + dropped + other + r["shed"]
            diff = accounted - r["done"]
            if r["scenario"] in ("proxy off", "baseline off"):
                lines = "none (shadow off)" if diff == -r["done"] else lines
                check = "—"
            else:
                # Exact against the proxy's own count at its door; the load
                # tool's count leaves out requests still open at its deadline.
                exact = r.get("shadowed")
                check = ("exact" if accounted == exact else f"{accounted - exact:+,} vs proxy") \
                    if exact is not None else "—"
                check += "; " + ("=" if diff == 0 else f"{diff:+,}") + " vs done"
            code = str(r["exit"])
            if r.get("unparsable") or r.get("other_names"):
                notes.append(f"{r['scenario']} {r['load']}: {r.get('unparsable', 0)} unparsable "
                             f"log lines, other names {r.get('other_names')}")
        vs = mirror = "—"
        n = base.get(("nginx", r["load"], r["offered"]))
        if r["scenario"] == "nginx":
            vs = "baseline"
        elif n and n.get("rps") and n.get("cpu_us_per_req"):
            c = r["cpu_us_per_req"] / n["cpu_us_per_req"] if r["cpu_us_per_req"] else None
            vs = f"{r['rps'] / n['rps']:.2f}×, {fmt(c, 2)}×"
        m = base.get(("nginx+mirror", r["load"], r["offered"]))
        if (m and r["scenario"].startswith(("proxy on", "baseline on")) and m.get("cpu_us_per_req")
                and r["cpu_us_per_req"]):
            mirror = f"{r['cpu_us_per_req'] / m['cpu_us_per_req']:.2f}×"
        out.append(f"| {r['scenario']} | {load} | {done} | {fmt(r['rps'])} | {fmt(r['p50_ms'], 2)} "
                   f"| {fmt(r['p99_ms'], 2)} | {cpu} | {fmt(r['rss_mib'])} | {lines} | {check} "
                   f"| {code} | {vs} | {mirror} |")
        if r.get("error_detail"):
            notes.append(f"{r['scenario']} {r['load']}: errors {r['error_detail']}")
        if r.get("tool_rc"):
            notes.append(f"{r['scenario']} {r['load']}: load tool exit code {r['tool_rc']}")
        if r.get("affinity"):
            notes.append(f"{r['scenario']} {r['load']}: {r['affinity']}")
        for d in r.get("diagnostics") or []:
            notes.append(f"{r['scenario']} {r['load']}, server said: {d}")
    print("\n".join(out))
    for n in notes:
        print(f"- {n}")
    against_baseline(rows, base)


def against_baseline(rows, base):
    """This commit's proxy against the baseline revision's, run by run."""
    pairs = [(r, base.get(("baseline" + r["scenario"][len("proxy"):], r["load"], r["offered"])))
             for r in rows if r["scenario"].startswith("proxy")]
    pairs = [(r, b) for r, b in pairs if b and "tool_error" not in r and "tool_error" not in b]
    if not pairs:
        return
    print()
    print("| proxy | load | CPU µs/req: this (to exit) | baseline (to exit) | this / baseline "
          "| req/s: this / baseline | p99 ms: this, baseline |")
    print("| " + " | ".join(["---"] * 7) + " |")
    for r, b in pairs:
        def cpu(x):
            to_exit = x.get("cpu_to_exit_us_per_req")
            return fmt(x["cpu_us_per_req"]) + (f" ({fmt(to_exit)})" if to_exit is not None else "")
        ratio = (r["cpu_us_per_req"] / b["cpu_us_per_req"]
                 if r["cpu_us_per_req"] and b["cpu_us_per_req"] else None)
        rps = r["rps"] / b["rps"] if r["rps"] and b["rps"] else None
        load = r["load"] + (f" ({r['offered']}/s)" if r["load"] == "coverage" else "")
        print(f"| {r['scenario'][len('proxy '):]} | {load} | {cpu(r)} | {cpu(b)} "
              f"| {fmt(ratio, 2)}× | {fmt(rps, 2)}× | {fmt(r['p99_ms'], 2)}, {fmt(b['p99_ms'], 2)} |")


if __name__ == "__main__":
    cmd, args = sys.argv[1], sys.argv[2:]
    {"ports": ports, "wrap": wrap, "check": check, "record": record, "table": table,
     "shadowed": shadowed}[cmd](*args)
