//! The `socure-shadow-proxy` binary: parse the command line, set up diagnostics, run.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use socure_shadow_proxy::config::{Config, ProcessEnv};
use socure_shadow_proxy::{demo, server};
use tokio::signal::unix::{Signal, SignalKind, signal};
use tracing_subscriber::EnvFilter;

/// sysexits' EX_USAGE, as linkerd2-proxy uses for a bad configuration.
const EXIT_CONFIG: u8 = 64;

#[derive(Parser)]
#[command(
    version,
    about = "Forwards LexisNexis InstantVerify traffic unchanged and mirrors each applicant to Socure ID+"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the proxy.
    Run {
        /// The TOML configuration file; environment variables override it.
        #[arg(long, short)]
        config: PathBuf,
    },
    /// Run the whole job against built-in fake vendors on loopback and print the shadow lines.
    Demo,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // Diagnostics go to stderr; stdout may be the shadow log.
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        // Colour only for a person at a terminal; log collectors get plain text.
        .with_ansi(std::io::stderr().is_terminal())
        .init();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(err) => {
            tracing::error!(error = %err, "cannot start the async runtime");
            return ExitCode::FAILURE;
        }
    };
    match cli.command {
        Command::Run { config } => runtime.block_on(run(config)),
        Command::Demo => runtime.block_on(demo::main()),
    }
}

async fn run(path: PathBuf) -> ExitCode {
    let config = match Config::load(&path, &ProcessEnv) {
        Ok(config) => config,
        Err(err) => {
            for line in err.lines() {
                tracing::error!("bad configuration: {line}");
            }
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    // The listeners exist before the start (a signal during it is kept) and
    // live on, so no signal can slip between the first and the watch for a second.
    let mut signals = match Signals::new() {
        Ok(signals) => signals,
        Err(err) => {
            tracing::error!(error = %err, "cannot listen for signals");
            return ExitCode::FAILURE;
        }
    };
    let running = match server::start(config).await {
        Ok(running) => running,
        Err(err) => {
            tracing::error!(error = %err, "cannot start");
            return ExitCode::FAILURE;
        }
    };
    let name = signals.next().await;
    tracing::info!("{name} received: shutting down");
    // A second signal means "now": skip what is left of the grace period.
    tokio::spawn(async move {
        let name = signals.next().await;
        tracing::warn!("second signal ({name}): exiting at once");
        std::process::exit(1);
    });
    let report = running.shutdown().await;
    if report.mirrors_unfinished > 0 || report.sink.write_errors > 0 {
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}

/// SIGTERM (what Kubernetes sends) and SIGINT.
struct Signals {
    terminate: Signal,
    interrupt: Signal,
}

impl Signals {
    fn new() -> std::io::Result<Self> {
        Ok(Self {
            terminate: signal(SignalKind::terminate())?,
            interrupt: signal(SignalKind::interrupt())?,
        })
    }

    async fn next(&mut self) -> &'static str {
        tokio::select! {
            _ = self.terminate.recv() => "SIGTERM",
            _ = self.interrupt.recv() => "SIGINT",
        }
    }
}
