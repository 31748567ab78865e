//! The documentation generated from the clap definition: the help built at run time, shell completions, man pages.

use std::io::Write as _;
use std::process::ExitCode;

use clap::CommandFactory;
use socure_shadow_proxy::config;

use super::Cli;

/// clap's own exit code for a bad command line.
const EXIT_USAGE: u8 = 2;

/// The command line as clap reads it, with the help that is built at run
/// time: `run --help` and `check-config --help` list the environment
/// overrides from the config's own table, so the help and the man pages
/// cannot drift from what is read.
pub fn command() -> clap::Command {
    Cli::command()
        .mut_subcommand("run", |run| run.after_help(env_help()))
        .mut_subcommand("check-config", |check| check.after_help(env_help()))
}

/// What `RUST_LOG` is for: not a config key, but read at every start.
const RUST_LOG_HELP: &str = "(no key) the diagnostics level on stderr, default info";

/// Every environment variable read at start, and what it sets.
fn environment() -> Vec<(&'static str, String)> {
    config::env_overrides()
        .chain(std::iter::once(("RUST_LOG", RUST_LOG_HELP.to_owned())))
        .collect()
}

fn env_help() -> String {
    let variables = environment();
    let width = variables
        .iter()
        .map(|(name, _)| name.len())
        .max()
        .unwrap_or(0);
    let mut text =
        String::from("Environment variables, and the config key each sets over the file's value:");
    for (name, key) in &variables {
        text.push_str(&format!("\n  {name:width$}  {key}"));
    }
    text
}

/// `completions SHELL`: the script on stdout.
pub fn completions(shell: clap_complete::Shell) -> ExitCode {
    let mut cmd = command();
    let name = cmd.get_name().to_owned();
    // Into memory first: the generator panics on a failed write, and a
    // closed stdout (`| head`) is not worth a panic.
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut cmd, name, &mut script);
    let _ = std::io::stdout().lock().write_all(&script);
    ExitCode::SUCCESS
}

/// `man [SUBCOMMAND...]`: the main page names each subcommand's page
/// (`socure-shadow-proxy-run(1)`), and this prints any of them.
pub fn man(path: &[String]) -> ExitCode {
    let mut cmd = command();
    // Built first, so subcommands carry their full names (`socure-shadow-proxy-run`).
    cmd.build();
    let mut page = cmd;
    for name in path {
        match page.find_subcommand(name) {
            Some(sub) => page = sub.clone(),
            None => {
                eprintln!("man: no subcommand {name:?} under {:?}", page.get_name());
                return ExitCode::from(EXIT_USAGE);
            }
        }
    }
    // Every page says which build it documents; clap_mangen would put only
    // the subcommand's name there, subcommands having no version of their own.
    let man = clap_mangen::Man::new(page).source(format!(
        "socure-shadow-proxy {}",
        env!("SHADOW_PROXY_VERSION")
    ));
    let mut roff = Vec::new();
    let rendered = if path.is_empty() {
        main_page(&man, &mut roff)
    } else {
        man.render(&mut roff)
    };
    if let Err(err) = rendered {
        eprintln!("man: {err}");
        return ExitCode::FAILURE;
    }
    let _ = std::io::stdout().lock().write_all(&roff);
    ExitCode::SUCCESS
}

/// The main page, with an ENVIRONMENT section before VERSION: the variables
/// matter to whoever reads only `man socure-shadow-proxy`, not the `run` page.
fn main_page(man: &clap_mangen::Man, out: &mut Vec<u8>) -> std::io::Result<()> {
    let mut page = Vec::new();
    man.render(&mut page)?;
    let mut section = String::from(
        ".SH ENVIRONMENT\nEach variable sets a key of the configuration file, over the file's value.\n",
    );
    for (name, key) in environment() {
        section.push_str(&format!(
            ".TP\n\\fB{}\\fR\n{}\n",
            roff_text(name),
            roff_text(&key)
        ));
    }
    let at = find(&page, b"\n.SH VERSION\n").map_or(page.len(), |at| at + 1);
    out.extend_from_slice(&page[..at]);
    out.extend_from_slice(section.as_bytes());
    out.extend_from_slice(&page[at..]);
    Ok(())
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack
        .windows(needle.len())
        .position(|window| window == needle)
}

/// Text made safe for a roff text line: a backslash or a leading dot would
/// be read as markup, and `-` as a hyphen rather than the minus of a name.
fn roff_text(text: &str) -> String {
    let escaped = text.replace('\\', "\\e").replace('-', "\\-");
    if escaped.starts_with(['.', '\'']) {
        format!("\\&{escaped}")
    } else {
        escaped
    }
}
