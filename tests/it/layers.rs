//! The layers of `src/` stay as docs/architecture.md draws them: read from the sources' own `crate::`, `super::` and `self::` paths, the module graph has no cycle, no layer imports a higher one, the shadow side never imports the data path, the data path names the shadow side only through its ticket, and nothing imports the server.
//!
//! A module is a file (`src/shadow/mirror.rs` is `shadow::mirror`); its layer
//! is its top folder. The judge crate counts as one module, `judge`, and its
//! manifest is checked to have no runtime, HTTP client or random source.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The layers, lowest first: each may import only from those before it, or
/// from itself.
const LAYERS: &[&[&str]] = &[
    &["error", "body", "sys"],
    &["config"],
    &["judge"],
    &["ops"],
    &["client"],
    &["upstream"],
    &["shadow"],
    &["proxy"],
    &["ingress"],
    &["preflight", "capacity"],
    &["server"],
];

/// The data path, which the shadow side never imports.
const DATA_PATH: &[&str] = &["upstream", "proxy", "ingress"];

/// The one module of the shadow side the data path may name: the ticket it
/// holds for a shadowed request. Everything else of the shadow side (the
/// door, the mirror, the selection rules, the log) is behind it.
const SHADOW_FOR_THE_DATA_PATH: &str = "shadow::ticket";

type Graph = BTreeMap<String, BTreeSet<String>>;

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// Every module file of the library (the binary under `src/bin` is not part
/// of it), by module path.
fn modules() -> BTreeMap<String, String> {
    crate_modules(&src())
        .into_iter()
        .filter(|(module, _)| module != "bin" && !module.starts_with("bin::"))
        .collect()
}

/// The code of a module without comments and without its inline test module
/// (whose `super` is the module itself, and whose imports are the tests').
fn code(text: &str) -> String {
    let text = text
        .split("#[cfg(test)]\nmod tests {")
        .next()
        .unwrap_or(text);
    text.lines()
        .filter(|line| !line.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Every path that starts with `crate`, `super` or `self`, groups in braces
/// expanded: `use crate::a::{b::C, d}` gives `crate::a::b::C` and `crate::a::d`.
fn paths(code: &str) -> Vec<Vec<String>> {
    let chars: Vec<char> = code.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let starts_word = i == 0
            || !(chars[i - 1].is_alphanumeric() || chars[i - 1] == '_' || chars[i - 1] == ':');
        let rest: String = chars[i..chars.len().min(i + 7)].iter().collect();
        let head = ["crate::", "super::", "self::"]
            .into_iter()
            .find(|h| rest.starts_with(h));
        match head {
            Some(head) if starts_word => {
                let (tree, end) = parse_tree(&chars, i);
                out.extend(tree);
                i = end.max(i + head.len());
            }
            _ => i += 1,
        }
    }
    out
}

/// Parses a path tree at `at`: segments joined by `::`, possibly ending in a
/// `{...}` group of trees. Returns the expanded paths and where it ended.
fn parse_tree(chars: &[char], mut at: usize) -> (Vec<Vec<String>>, usize) {
    let mut prefix = Vec::new();
    loop {
        let start = at;
        while at < chars.len() && (chars[at].is_alphanumeric() || chars[at] == '_') {
            at += 1;
        }
        if at > start {
            prefix.push(chars[start..at].iter().collect::<String>());
        }
        if chars.get(at) == Some(&':') && chars.get(at + 1) == Some(&':') {
            at += 2;
            if chars.get(at) == Some(&'{') {
                let mut all = Vec::new();
                at += 1;
                loop {
                    while chars
                        .get(at)
                        .is_some_and(|c| c.is_whitespace() || *c == ',')
                    {
                        at += 1;
                    }
                    if chars.get(at).is_none_or(|c| *c == '}') {
                        return (
                            all.into_iter()
                                .map(|tail: Vec<String>| [prefix.clone(), tail].concat())
                                .collect(),
                            at + 1,
                        );
                    }
                    let (trees, end) = parse_tree(chars, at);
                    all.extend(trees);
                    at = end;
                    // `Name as Alias`: the alias names nothing new.
                    while chars.get(at).is_some_and(|c| !matches!(c, ',' | '}')) {
                        at += 1;
                    }
                }
            }
            continue;
        }
        return (vec![prefix], at);
    }
}

/// The module a path from `module` refers to: `super` and `self` resolved,
/// then the longest prefix that names a module (`judge` for the judge crate).
fn target(module: &str, path: &[String], known: &BTreeSet<String>) -> Option<String> {
    let mut here: Vec<&str> = if module.is_empty() {
        Vec::new()
    } else {
        module.split("::").collect()
    };
    let mut segments = path.iter().map(String::as_str).peekable();
    match segments.next()? {
        "crate" => here.clear(),
        // In `x/mod.rs` as in `x.rs`, `self` is the module; `super` its parent.
        "self" => {}
        "super" => {
            here.pop();
            while segments.peek() == Some(&"super") {
                segments.next();
                here.pop();
            }
        }
        _ => return None,
    }
    let absolute: Vec<&str> = here.into_iter().chain(segments).collect();
    if absolute.first() == Some(&"judge") {
        return Some("judge".into());
    }
    (0..=absolute.len())
        .rev()
        .map(|n| absolute[..n].join("::"))
        .find(|candidate| known.contains(candidate))
}

fn graph() -> Graph {
    let modules = modules();
    let known: BTreeSet<String> = modules.keys().cloned().collect();
    let mut graph = Graph::new();
    for (module, text) in &modules {
        let edges = graph.entry(module.clone()).or_default();
        for path in paths(&code(text)) {
            if let Some(to) = target(module, &path, &known)
                && to != *module
                && !to.is_empty()
            {
                edges.insert(to);
            }
        }
    }
    graph
}

fn layer(module: &str) -> &str {
    module.split("::").next().unwrap_or("")
}

fn rank(module: &str) -> Option<usize> {
    LAYERS
        .iter()
        .position(|layer_modules| layer_modules.contains(&layer(module)))
}

/// A cycle in `graph`, if there is one, as the modules along it.
fn cycle(graph: &Graph) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        graph: &Graph,
        state: &mut BTreeMap<String, u8>,
        stack: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        state.insert(node.to_owned(), 1);
        stack.push(node.to_owned());
        for next in graph.get(node).into_iter().flatten() {
            match state.get(next.as_str()) {
                Some(1) => {
                    let from = stack.iter().position(|n| n == next).unwrap_or(0);
                    let mut found = stack[from..].to_vec();
                    found.push(next.clone());
                    return Some(found);
                }
                Some(_) => {}
                None => {
                    if let Some(found) = visit(next, graph, state, stack) {
                        return Some(found);
                    }
                }
            }
        }
        stack.pop();
        state.insert(node.to_owned(), 2);
        None
    }
    let mut state = BTreeMap::new();
    for node in graph.keys() {
        if !state.contains_key(node.as_str())
            && let Some(found) = visit(node, graph, &mut state, &mut Vec::new())
        {
            return Some(found);
        }
    }
    None
}

/// Every edge that breaks a layering rule, in words.
fn violations(graph: &Graph) -> Vec<String> {
    let mut found = Vec::new();
    for (from, targets) in graph {
        if from.is_empty() {
            // The crate root declares and re-exports; it is above everything.
            continue;
        }
        for to in targets {
            match (rank(from), rank(to)) {
                // Within a layer, only the file graph's acyclicity applies.
                (Some(a), Some(b)) if a == b => continue,
                (Some(a), Some(b)) if b > a => {
                    found.push(format!("{from} imports {to}, a higher layer"))
                }
                (None, _) => found.push(format!("{from} is in no layer")),
                (_, None) => found.push(format!("{to} is in no layer")),
                _ => {}
            }
            if layer(from) == "shadow" && DATA_PATH.contains(&layer(to)) {
                found.push(format!("{from} (shadow side) imports {to} (data path)"));
            }
            if DATA_PATH.contains(&layer(from))
                && layer(to) == "shadow"
                && to != SHADOW_FOR_THE_DATA_PATH
            {
                found.push(format!(
                    "{from} (data path) imports {to}, not the shadow ticket"
                ));
            }
        }
    }
    found
}

#[test]
fn the_module_graph_has_no_cycle_and_follows_the_layers() {
    let graph = graph();
    let edges: usize = graph.values().map(BTreeSet::len).sum();
    // The reading found the imports (a parser that sees nothing passes everything).
    assert!(edges > 40, "only {edges} imports found");
    for (from, to) in [
        ("proxy", "shadow::ticket"),
        ("proxy::tap", "shadow::ticket"),
        ("shadow::mirror", "shadow::selection"),
        ("ingress::serve", "proxy"),
        ("shadow::mirror", "judge"),
        ("server", "ingress::serve"),
        ("server", "preflight"),
        ("preflight", "ingress::tls"),
        ("config::load", "config::validate"),
    ] {
        assert!(
            graph.get(from).is_some_and(|t| t.contains(to)),
            "expected {from} -> {to}; found {:?}",
            graph.get(from)
        );
    }
    assert_eq!(cycle(&graph), None, "an import cycle");
    assert_eq!(violations(&graph), Vec::<String>::new());
    let into_server: Vec<&String> = graph
        .iter()
        .filter(|(from, to)| !from.is_empty() && to.contains("server"))
        .map(|(from, _)| from)
        .collect();
    assert!(into_server.is_empty(), "{into_server:?} import the server");
}

#[test]
fn the_checks_catch_what_they_are_for() {
    let graph_of = |edges: &[(&str, &str)]| {
        let mut graph = Graph::new();
        for (from, to) in edges {
            graph
                .entry((*from).to_owned())
                .or_default()
                .insert((*to).to_owned());
            graph.entry((*to).to_owned()).or_default();
        }
        graph
    };
    let looped = graph_of(&[
        ("ops::metrics", "sys"),
        ("sys", "server"),
        ("server", "ops::metrics"),
    ]);
    assert!(
        cycle(&looped).is_some_and(|c| c.len() == 4),
        "{:?}",
        cycle(&looped)
    );
    let upward = graph_of(&[
        ("ops::metrics", "server"),
        ("proxy::tap", "shadow::admission"),
        ("proxy::tap", "shadow::ticket"),
        ("shadow::sink", "upstream::forward"),
    ]);
    assert_eq!(
        violations(&upward),
        [
            "ops::metrics imports server, a higher layer",
            "proxy::tap (data path) imports shadow::admission, not the shadow ticket",
            "shadow::sink (shadow side) imports upstream::forward (data path)"
        ]
    );
    // Grouped and relative imports are read as paths to modules.
    let known: BTreeSet<String> = ["config", "config::raw", "shadow::sink", "ops::metrics"]
        .map(String::from)
        .into();
    let found: BTreeSet<String> = paths(
        "use crate::{ops::metrics::{Metrics, Route}, shadow::sink};\nuse super::raw::Raw as R;",
    )
    .iter()
    .filter_map(|p| target("config::load", p, &known))
    .collect();
    assert_eq!(
        found,
        ["config::raw", "ops::metrics", "shadow::sink"]
            .map(String::from)
            .into()
    );
}

#[test]
fn every_module_says_what_it_owns() {
    for (module, text) in modules() {
        assert!(
            text.starts_with("//! "),
            "{module:?} does not start with a //! line"
        );
    }
    let judge = Path::new(env!("CARGO_MANIFEST_DIR")).join("judge/src");
    for entry in walk(&judge) {
        let text = std::fs::read_to_string(&entry).expect("read");
        assert!(
            text.starts_with("//! "),
            "{} does not start with a //! line",
            entry.display()
        );
    }
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).expect("read dir") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            files.extend(walk(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            files.push(path);
        }
    }
    files
}

#[test]
fn the_judge_crate_has_nothing_to_do_io_with() {
    let manifest: toml::Table =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("judge/Cargo.toml"))
            .expect("read judge/Cargo.toml")
            .parse()
            .expect("TOML");
    let dependencies: BTreeSet<&str> = manifest
        .get("dependencies")
        .and_then(toml::Value::as_table)
        .expect("[dependencies]")
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        dependencies,
        [
            "bytes",
            "indexmap",
            "ring",
            "serde",
            "serde_json",
            "strum",
            "thiserror",
            "time",
            "unicode-normalization",
        ]
        .into(),
        "a new dependency of the pure crate must not bring I/O, a clock or randomness"
    );
}

/// The size rules (clippy.toml: at most 80 lines and 6 arguments a
/// function) are not silenced: no `too_many_arguments` allowance anywhere,
/// and a `too_many_lines` one only on a function that follows identity-idp's
/// Ruby step by step, which its comment says.
#[test]
fn no_size_rule_is_silenced() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut found = Vec::new();
    for dir in [
        "src", "judge", "report", "tests", "examples", "benches", "fuzz",
    ] {
        let dir = root.join(dir);
        if !dir.is_dir() {
            continue;
        }
        for file in walk(&dir) {
            let text = std::fs::read_to_string(&file).expect("read");
            let lines: Vec<&str> = text.lines().collect();
            for (n, line) in lines.iter().enumerate() {
                let allowed = |lint: &str| {
                    line.contains("allow(") && line.contains(&format!("clippy::{lint}"))
                };
                let said = lines[n.saturating_sub(4)..n]
                    .iter()
                    .any(|above| above.contains("Ruby") || above.contains("identity-idp"));
                if allowed("too_many_arguments") || (allowed("too_many_lines") && !said) {
                    found.push(format!("{}:{}", file.display(), n + 1));
                }
            }
        }
    }
    assert_eq!(found, Vec::<String>::new(), "a size rule silenced");
    let clippy = std::fs::read_to_string(root.join("clippy.toml")).expect("clippy.toml");
    assert!(clippy.contains("too-many-lines-threshold = 80"), "{clippy}");
    assert!(
        clippy.contains("too-many-arguments-threshold = 6"),
        "{clippy}"
    );
}

/// The modules of the crate whose sources are at `src`, by module path (`redact::spellings`), with their text.
fn crate_modules(src: &Path) -> BTreeMap<String, String> {
    walk(src)
        .into_iter()
        .map(|path| {
            let relative = path.strip_prefix(src).expect("under src");
            let mut segments: Vec<String> = relative
                .iter()
                .map(|s| s.to_string_lossy().trim_end_matches(".rs").to_owned())
                .collect();
            if matches!(segments.last().map(String::as_str), Some("mod" | "lib")) {
                segments.pop();
            }
            let text = std::fs::read_to_string(&path).expect("read module");
            (segments.join("::"), text)
        })
        .collect()
}

/// The import graph of one crate's modules, read as [`graph`] reads `src/`.
fn crate_graph(modules: &BTreeMap<String, String>) -> Graph {
    let known: BTreeSet<String> = modules.keys().cloned().collect();
    modules
        .iter()
        .map(|(module, text)| {
            let edges = paths(&code(text))
                .iter()
                .filter_map(|path| target(module, path, &known))
                .filter(|to| to != module && !to.is_empty())
                .collect();
            (module.clone(), edges)
        })
        .collect()
}

/// The workspace's packages (the root and its `[workspace] members`), by name.
fn workspace_packages() -> BTreeSet<String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let manifest = |dir: &Path| -> toml::Table {
        std::fs::read_to_string(dir.join("Cargo.toml"))
            .expect("read a Cargo.toml")
            .parse()
            .expect("TOML")
    };
    let name = |table: &toml::Table| -> String {
        table["package"]["name"]
            .as_str()
            .expect("package.name")
            .to_owned()
    };
    let top = manifest(root);
    let members = top["workspace"]["members"]
        .as_array()
        .expect("[workspace] members");
    let mut names: BTreeSet<String> = members
        .iter()
        .map(|member| name(&manifest(&root.join(member.as_str().expect("a path")))))
        .collect();
    names.insert(name(&top));
    assert!(names.len() >= 3, "{names:?}");
    names
}

/// The workspace's crates that `code` names, as Rust spells them (`socure_shadow_judge`).
fn workspace_crates_used(code: &str, packages: &BTreeSet<String>) -> BTreeSet<String> {
    let crates: BTreeSet<String> = packages.iter().map(|p| p.replace('-', "_")).collect();
    code.split(|c: char| !(c.is_alphanumeric() || c == '_'))
        .filter(|word| crates.contains(*word))
        .map(str::to_owned)
        .collect()
}

#[test]
fn the_judge_has_no_module_cycle_and_the_report_reads_the_judge_only() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));

    let judge = crate_graph(&crate_modules(&root.join("judge/src")));
    let edges: usize = judge.values().map(BTreeSet::len).sum();
    assert!(edges > 10, "only {edges} imports found in the judge");
    assert!(
        judge.get("pair").is_some_and(|to| to.contains("socure")),
        "expected pair -> socure; found {:?}",
        judge.get("pair")
    );
    assert_eq!(
        cycle(&judge),
        None,
        "an import cycle inside the judge crate"
    );

    // The manifest: among the workspace's crates, the judge only.
    let manifest: toml::Table = std::fs::read_to_string(root.join("report/Cargo.toml"))
        .expect("read report/Cargo.toml")
        .parse()
        .expect("TOML");
    let packages = workspace_packages();
    let ours: BTreeSet<&str> = ["dependencies", "dev-dependencies", "build-dependencies"]
        .iter()
        .filter_map(|section| manifest.get(*section).and_then(toml::Value::as_table))
        .flat_map(|table| table.keys())
        .map(String::as_str)
        .filter(|name| packages.contains(*name))
        .collect();
    assert_eq!(ours, ["socure-shadow-judge"].into(), "report/Cargo.toml");

    // The sources, tests included: no path into the proxy.
    let report = crate_modules(&root.join("report/src"));
    assert!(report.contains_key("tally"), "{:?}", report.keys());
    let mut used = BTreeSet::new();
    for (module, text) in &report {
        assert!(
            text.starts_with("//! "),
            "report {module:?} has no //! line"
        );
        used.extend(workspace_crates_used(text, &packages));
    }
    assert_eq!(
        used,
        ["socure_shadow_judge".to_owned()].into(),
        "report/src"
    );

    // And the proxy's library has no way back to it.
    let library_uses: BTreeSet<String> = modules()
        .values()
        .flat_map(|text| workspace_crates_used(&code(text), &packages))
        .collect();
    assert!(
        !library_uses.contains("socure_shadow_report") && !src().join("report").exists(),
        "the proxy's library reaches the report: {library_uses:?}"
    );
    let looped = crate_graph(
        &[
            ("socure", "use crate::pair::SocureOutcome;"),
            ("pair", "use crate::socure::{self, Answer};"),
        ]
        .map(|(m, t)| (m.to_owned(), t.to_owned()))
        .into(),
    );
    assert!(cycle(&looped).is_some(), "{looped:?}");
}
