//! Build script: records the commit the proxy is built from, for `--version` and the `build_info` metric.
//!
//! Sets two variables for every target of the package (the library, the
//! binary, the tests):
//! - `SHADOW_PROXY_BUILD_COMMIT`: the commit's short id, or `unknown`;
//! - `SHADOW_PROXY_VERSION`: `0.1.0 (a1b2c3d4e5f6)`, or `0.1.0 (unknown commit)`.
//!
//! The commit comes from `SHADOW_PROXY_COMMIT` when set (the Dockerfile's build
//! stage has no `.git`, so it is passed as a build arg), else from
//! `git rev-parse`. A build without either still succeeds: a missing commit
//! must never be the reason a release cannot be built.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The override, for builds from a copy of the sources without `.git`.
const OVERRIDE: &str = "SHADOW_PROXY_COMMIT";

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed={OVERRIDE}");
    let root = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_default());
    let commit = match std::env::var(OVERRIDE) {
        Ok(given) if !given.trim().is_empty() => Some(checked(given.trim())),
        _ => {
            watch_head(&root);
            git(&root, &["rev-parse", "--short=12", "HEAD"])
        }
    };
    let version = std::env::var("CARGO_PKG_VERSION").unwrap_or_default();
    let (commit, shown) = match commit {
        Some(commit) => (commit.clone(), commit),
        None => ("unknown".to_owned(), "unknown commit".to_owned()),
    };
    println!("cargo:rustc-env=SHADOW_PROXY_BUILD_COMMIT={commit}");
    println!("cargo:rustc-env=SHADOW_PROXY_VERSION={version} ({shown})");
}

/// The override goes into `--version` and a Prometheus label: a stray space,
/// quote or newline from a build pipeline is refused here rather than shipped.
fn checked(given: &str) -> String {
    if given
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_'))
    {
        given.to_owned()
    } else {
        panic!("{OVERRIDE}={given:?}: expected a commit id (letters, digits, '-', '.', '_')");
    }
}

/// Reruns this script when HEAD moves, and only then: a commit, a checkout
/// or a reset rewrites `HEAD` or the branch's ref file. Only files that
/// exist are named, because Cargo reruns a script on every build while a
/// named file is missing.
fn watch_head(root: &Path) {
    let mut watched = Vec::new();
    if let Some(head) = git(root, &["rev-parse", "--git-path", "HEAD"]) {
        watched.push(root.join(head));
    }
    // `--git-path` also finds the files of a worktree or a `GIT_DIR`.
    if let Some(branch) = git(root, &["symbolic-ref", "-q", "HEAD"])
        && let Some(file) = git(root, &["rev-parse", "--git-path", &branch])
    {
        let file = root.join(file);
        if file.exists() {
            watched.push(file);
        } else if let Some(packed) = git(root, &["rev-parse", "--git-path", "packed-refs"]) {
            // A packed branch (after `git gc`) lives in `packed-refs` until it
            // next moves, when git writes its own file again.
            watched.push(root.join(packed));
        }
    }
    for path in watched.into_iter().filter(|path| path.exists()) {
        println!("cargo:rerun-if-changed={}", path.display());
    }
}

/// One git command's trimmed output, or `None` for any failure: no git, not
/// a checkout, or a repository git refuses to read.
fn git(root: &Path, args: &[&str]) -> Option<String> {
    let out = Command::new("git")
        .args(args)
        .current_dir(root)
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    let text = String::from_utf8(out.stdout).ok()?.trim().to_owned();
    (!text.is_empty()).then_some(text)
}
