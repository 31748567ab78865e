//! The shipped Grafana dashboard (`config/grafana-dashboard.json`) and alert rules (`config/alerts.yml`) name only series the proxy serves on `/metrics`, with its label names and values, and every rule says for how long, how bad, and what to do.
//!
//! The series are read from a live proxy's `/metrics` (shadow on, fake
//! vendors that pass, one applicant forwarded and its line written), not
//! from a list kept here, so a renamed family fails here as it would on a
//! real dashboard. That one scrape is enough: every family is registered at
//! start (at zero), so those that only an event moves (lines lost, budget
//! refusals, fleet calls, a failed reload) are there too; histograms also
//! count from their `# TYPE` line, in case one with no sample yet rendered
//! no buckets. A histogram is served as `_bucket` (label `le`), `_sum` and
//! `_count`: an expression must use those, never the family's bare name.
//!
//! Every identifier starting `socure_shadow_proxy_` in a PromQL expression
//! (the rules' `expr`, the dashboard's targets and variable queries) must be
//! a served series; each label matcher right after it must name one of that
//! series' labels (or `job`/`instance`, which the scrape adds), and a plain
//! value (`"5xx"`, `"timed_out|failed"`) must be one it takes; `by`/`on`
//! labels must be some served series' labels. Grafana variables (`$job`)
//! are left as they are. The workspace has no YAML crate: `expr:` values are
//! read line by line, inline or as a `>-`/`|` block scalar under the key.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use serde_json::Value;

use crate::support::*;

const PREFIX: &str = "socure_shadow_proxy_";
/// Labels Prometheus attaches at scrape time, never in `/metrics` itself.
const TARGET_LABELS: [&str; 2] = ["job", "instance"];

/// Each served series name, with each of its labels and the values seen.
type Served = BTreeMap<String, BTreeMap<String, BTreeSet<String>>>;

fn config_file(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("config")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|err| panic!("{}: {err}", path.display()))
}

/// The `expr:` values of a rules file: inline, or a block scalar (`>-`,
/// `|`, ...) whose lines are indented under the key.
fn rule_exprs(yaml: &str) -> Vec<String> {
    let lines: Vec<&str> = yaml.lines().collect();
    let indent = |line: &str| line.len() - line.trim_start().len();
    let mut exprs = Vec::new();
    for (n, line) in lines.iter().enumerate() {
        let Some(value) = line.trim_start().strip_prefix("expr:") else {
            continue;
        };
        let value = value.trim();
        if !value.starts_with(['>', '|']) {
            exprs.push(value.trim_matches(['"', '\'']).to_owned());
            continue;
        }
        let block: Vec<&str> = lines[n + 1..]
            .iter()
            .take_while(|next| next.trim().is_empty() || indent(next) > indent(line))
            .map(|next| next.trim())
            .collect();
        exprs.push(block.join("\n"));
    }
    exprs
}

/// Every target's `expr` in the dashboard, at any depth (rows, panels).
fn target_exprs(value: &Value, found: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (key, value) in map {
                match (key.as_str(), value) {
                    ("expr", Value::String(expr)) => found.push(expr.clone()),
                    _ => target_exprs(value, found),
                }
            }
        }
        Value::Array(values) => values.iter().for_each(|v| target_exprs(v, found)),
        _ => {}
    }
}

/// The dashboard's PromQL: its targets', and its query variables' queries
/// (a string, or an object holding one).
fn dashboard_exprs(dashboard: &Value) -> Vec<String> {
    let mut exprs = Vec::new();
    target_exprs(&dashboard["panels"], &mut exprs);
    let variables = dashboard["templating"]["list"]
        .as_array()
        .expect("templating.list");
    for variable in variables.iter().filter(|v| v["type"] == "query") {
        let query = &variable["query"];
        let query = query["query"].as_str().or(query.as_str()).expect("a query");
        exprs.push(query.to_owned());
    }
    exprs
}

fn is_ident(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == ':'
}

/// `label op "value"` items of a selector's or a sample's braces (the text
/// between them), quotes and escapes honoured.
fn matchers(inner: &str) -> Vec<(String, String, String)> {
    let mut rest = inner.trim_start();
    let mut found = Vec::new();
    while !rest.is_empty() {
        let label: String = rest.chars().take_while(|&c| is_ident(c)).collect();
        rest = rest[label.len()..].trim_start();
        let op = ["=~", "!~", "!=", "="]
            .into_iter()
            .find(|op| rest.starts_with(op))
            .unwrap_or_else(|| panic!("no matcher operator in {{{inner}}}"));
        rest = rest[op.len()..].trim_start();
        let quote = rest.chars().next().expect("a quoted value");
        let (mut value, mut escaped, mut end) = (String::new(), false, rest.len());
        for (i, c) in rest.char_indices().skip(1) {
            match (escaped, c) {
                (false, '\\') => escaped = true,
                (false, c) if c == quote => {
                    end = i + 1;
                    break;
                }
                (_, c) => {
                    value.push(c);
                    escaped = false;
                }
            }
        }
        found.push((label, op.to_owned(), value));
        rest = rest[end..]
            .trim_start()
            .trim_start_matches(',')
            .trim_start();
    }
    found
}

/// The text up to the `}` closing the `{` that `text` starts with.
fn braces(text: &str) -> &str {
    let mut quote = None;
    for (i, c) in text.char_indices().skip(1) {
        match (quote, c) {
            (None, '"' | '\'' | '`') => quote = Some(c),
            (Some(q), c) if c == q && !text[..i].ends_with('\\') => quote = None,
            (None, '}') => return &text[1..i],
            _ => {}
        }
    }
    panic!("unclosed selector: {text}")
}

/// The series of a Prometheus text exposition, with their labels; each
/// histogram family also as its `_bucket`, `_sum` and `_count` series.
fn served(text: &str) -> Served {
    let mut served = Served::new();
    for line in text.lines() {
        if let Some(family) = line
            .strip_prefix("# TYPE ")
            .and_then(|typed| typed.strip_suffix(" histogram"))
        {
            for suffix in ["_bucket", "_sum", "_count"] {
                served.entry(format!("{family}{suffix}")).or_default();
            }
            let bucket = served.entry(format!("{family}_bucket")).or_default();
            bucket.entry("le".to_owned()).or_default();
            continue;
        }
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        let name: String = line.chars().take_while(|&c| is_ident(c)).collect();
        let labels = served.entry(name.clone()).or_default();
        if line[name.len()..].starts_with('{') {
            for (label, _, value) in matchers(braces(&line[name.len()..])) {
                labels.entry(label).or_default().insert(value);
            }
        }
    }
    served
}

/// What is wrong with one selector of the proxy's series: a name not
/// served, a label it does not have, a plain value it never takes.
fn selector_problems(name: &str, inner: Option<&str>, served: &Served) -> Vec<String> {
    let Some(labels) = served.get(name) else {
        return vec![format!("{name} is not served on /metrics")];
    };
    let mut problems = Vec::new();
    for (label, op, value) in inner.map(matchers).unwrap_or_default() {
        if TARGET_LABELS.contains(&label.as_str()) {
            continue;
        }
        let Some(values) = labels.get(&label) else {
            problems.push(format!("{name} has no label {label}"));
            continue;
        };
        let plain = value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_|.+".contains(c));
        let alternatives = if op.ends_with('~') {
            value.split('|').collect()
        } else {
            vec![value.as_str()]
        };
        for alternative in alternatives.into_iter().filter(|_| plain) {
            if label != "le" && !values.contains(alternative) {
                problems.push(format!("{name}{{{label}}} never takes {alternative:?}"));
            }
        }
    }
    problems
}

/// Every problem of one PromQL expression against the served series.
fn expr_problems(expr: &str, served: &Served) -> Vec<String> {
    let mut problems = Vec::new();
    let mut seen_any = false;
    for (at, _) in expr.match_indices(PREFIX) {
        if expr[..at].chars().next_back().is_some_and(is_ident) {
            continue;
        }
        seen_any = true;
        let name: String = expr[at..].chars().take_while(|&c| is_ident(c)).collect();
        let after = expr[at + name.len()..].trim_start();
        let inner = after.starts_with('{').then(|| braces(after));
        problems.extend(selector_problems(&name, inner, served));
    }
    let known = |label: &str| {
        TARGET_LABELS.contains(&label) || served.values().any(|labels| labels.contains_key(label))
    };
    for keyword in [
        "by",
        "on",
        "without",
        "ignoring",
        "group_left",
        "group_right",
    ] {
        for (at, _) in expr.match_indices(&format!("{keyword} (")) {
            if expr[..at].chars().next_back().is_some_and(is_ident) {
                continue;
            }
            let grouping = &expr[at + keyword.len() + 2..];
            let grouping = &grouping[..grouping.find(')').expect("closed grouping")];
            for label in grouping.split(',').map(str::trim).filter(|l| !l.is_empty()) {
                if !known(label) {
                    problems.push(format!("no served series has label {label} ({keyword})"));
                }
            }
        }
    }
    if !seen_any {
        problems.push("names none of the proxy's series".to_owned());
    }
    problems
        .into_iter()
        .map(|p| format!("{p}, in: {expr}"))
        .collect()
}

/// A proxy's `/metrics` once one applicant went through and its line is written.
async fn live_metrics() -> String {
    let Stack {
        upstream: _upstream,
        socure: _socure,
        proxy,
    } = Stack::passing().await;
    forward_fixture_requests(proxy.addr, 1).await;
    let text = metric_reaches(
        proxy.admin,
        "socure_shadow_proxy_shadow_lines_written_total",
        1.0,
    )
    .await;
    proxy.finish().await;
    text
}

fn all_problems(exprs: &[String], served: &Served) -> Vec<String> {
    exprs
        .iter()
        .flat_map(|expr| expr_problems(expr, served))
        .collect()
}

#[tokio::test]
async fn the_dashboard_and_the_alerts_name_only_series_the_proxy_serves() {
    let served = served(&live_metrics().await);
    assert!(
        served.contains_key("socure_shadow_proxy_mirrors_total"),
        "{served:?}"
    );

    let alerts = config_file("alerts.yml");
    let rules = rule_exprs(&alerts);
    assert_eq!(
        rules.len(),
        alerts.matches("- alert:").count(),
        "one expr per rule"
    );
    assert!(rules.len() >= 7, "{rules:?}");
    let problems = all_problems(&rules, &served);
    assert!(
        problems.is_empty(),
        "config/alerts.yml:\n{}",
        problems.join("\n")
    );

    let dashboard: Value = serde_json::from_str(&config_file("grafana-dashboard.json"))
        .expect("the dashboard is JSON");
    let exprs = dashboard_exprs(&dashboard);
    assert!(exprs.len() >= 20, "{exprs:?}");
    let problems = all_problems(&exprs, &served);
    assert!(
        problems.is_empty(),
        "config/grafana-dashboard.json:\n{}",
        problems.join("\n")
    );
}

/// The checks themselves: a made-up name, label or value is caught.
#[test]
fn a_made_up_name_label_or_value_is_caught() {
    let served = served(
        "# TYPE socure_shadow_proxy_x_seconds histogram\n\
         socure_shadow_proxy_mirrors_total{socure_outcome=\"answered\"} 0\n",
    );
    let ok = r#"sum by (job, socure_outcome) (rate(socure_shadow_proxy_mirrors_total{job=~"$job",socure_outcome=~"answered"}[5m])) / sum by (le) (rate(socure_shadow_proxy_x_seconds_bucket[5m]))"#;
    assert_eq!(expr_problems(ok, &served), Vec::<String>::new());
    for bad in [
        "rate(socure_shadow_proxy_mirrors_totl[5m])",
        "socure_shadow_proxy_x_seconds",
        r#"socure_shadow_proxy_mirrors_total{outcome="answered"}"#,
        r#"socure_shadow_proxy_mirrors_total{socure_outcome=~"answered|timedout"}"#,
        "sum by (outcome) (socure_shadow_proxy_mirrors_total)",
        "up",
    ] {
        assert_eq!(expr_problems(bad, &served).len(), 1, "{bad}");
    }
}

/// Each rule has a `for:`, a `severity` label, and the annotations an
/// operator reads: `summary`, `description` and a `runbook`.
#[test]
fn every_rule_says_for_how_long_how_bad_and_what_to_do() {
    let alerts = config_file("alerts.yml");
    let rules: Vec<&str> = alerts.split("- alert:").skip(1).collect();
    assert!(rules.len() >= 7, "{alerts}");
    for rule in rules {
        let name = rule.lines().next().unwrap_or_default().trim();
        for key in [
            "expr:",
            "for:",
            "severity:",
            "summary:",
            "description:",
            "runbook:",
        ] {
            assert!(
                rule.lines().any(|line| line.trim_start().starts_with(key)),
                "{name} has no {key}"
            );
        }
    }
}
