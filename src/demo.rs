//! The `demo` command: built-in fake LexisNexis and Socure on loopback, the proxy in front, a handful of fake applicants.

use std::process::ExitCode;

pub async fn main() -> ExitCode {
    ExitCode::SUCCESS
}
