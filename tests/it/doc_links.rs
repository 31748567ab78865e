//! Every relative link in the README, CONTRIBUTING.md and docs/ resolves: the file exists, and an anchor names a heading of the page it points to (as GitHub makes anchors).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The Markdown pages a reader follows links between.
fn pages() -> Vec<PathBuf> {
    let mut pages = vec![root().join("README.md"), root().join("CONTRIBUTING.md")];
    let mut docs: Vec<PathBuf> = std::fs::read_dir(root().join("docs"))
        .expect("docs/")
        .map(|entry| entry.expect("entry").path())
        .filter(|path| path.extension().is_some_and(|e| e == "md"))
        .collect();
    docs.sort();
    pages.extend(docs);
    pages
}

/// A heading's anchor as GitHub makes it: lower case, punctuation but `-`
/// and `_` dropped, spaces made hyphens.
fn slug(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter(|c| c.is_alphanumeric() || matches!(c, '-' | '_' | ' '))
        .map(|c| if c == ' ' { '-' } else { c })
        .collect()
}

/// The anchors of a page's headings (outside code blocks); a repeated
/// heading's later anchors get `-1`, `-2`...
fn anchors(text: &str) -> BTreeSet<String> {
    let mut anchors = BTreeSet::new();
    let mut seen = std::collections::HashMap::<String, usize>::new();
    let mut in_code = false;
    for line in text.lines() {
        if line.starts_with("```") {
            in_code = !in_code;
            continue;
        }
        let Some(heading) = line.trim_start_matches('#').strip_prefix(' ') else {
            continue;
        };
        if in_code || !line.starts_with('#') {
            continue;
        }
        let anchor = slug(heading);
        let count = seen.entry(anchor.clone()).or_insert(0);
        anchors.insert(if *count == 0 {
            anchor.clone()
        } else {
            format!("{anchor}-{count}")
        });
        *count += 1;
    }
    anchors
}

/// The targets of a page's `](target)` links that are not URLs.
fn relative_links(text: &str) -> Vec<String> {
    text.split("](")
        .skip(1)
        .filter_map(|rest| rest.split_once(')').map(|(target, _)| target.to_owned()))
        .filter(|target| !target.contains("://") && !target.starts_with("mailto:"))
        .collect()
}

#[test]
fn every_relative_link_resolves() {
    let mut broken = Vec::new();
    for page in pages() {
        let text = std::fs::read_to_string(&page).expect("a page");
        let dir = page.parent().unwrap_or(Path::new("."));
        for target in relative_links(&text) {
            let (path, anchor) = target.split_once('#').unwrap_or((&target, ""));
            let file = if path.is_empty() {
                page.clone()
            } else {
                dir.join(path)
            };
            let ok = file.exists()
                && (anchor.is_empty()
                    || file.extension().is_none_or(|e| e != "md")
                    || anchors(&std::fs::read_to_string(&file).expect("target")).contains(anchor));
            if !ok {
                broken.push(format!("{}: {target}", page.display()));
            }
        }
    }
    assert!(broken.is_empty(), "broken links:\n{}", broken.join("\n"));
}

#[test]
fn the_checker_finds_a_broken_link_and_a_broken_anchor() {
    let text = "# A page\n\n## Its part: one\n\n```\n# not a heading\n```\n";
    let found = anchors(text);
    assert!(found.contains("its-part-one"), "{found:?}");
    assert!(!found.contains("not-a-heading"));
    assert_eq!(
        relative_links("[a](x.md#y) [b](https://e.com) [c](#z)"),
        ["x.md#y", "#z"]
    );
}

#[test]
fn the_readme_is_one_page_with_the_essentials_first() {
    let readme = std::fs::read_to_string(root().join("README.md")).expect("README");
    let lines: Vec<&str> = readme.lines().collect();
    assert!(lines.len() <= 300, "{} lines", lines.len());
    let first = lines[..80.min(lines.len())].join("\n");
    for needle in [
        "cargo run --release -- demo",
        "cargo test",
        "## Prerequisites",
        "Build time",
    ] {
        assert!(first.contains(needle), "{needle} not in the first 80 lines");
    }
}
