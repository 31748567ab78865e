//! The `socure-shadow-proxy` binary: parse the command line, set up diagnostics, run.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use socure_shadow_proxy::config::{Config, ProcessEnv};
use socure_shadow_proxy::{demo, server};
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
    let running = match server::start(config).await {
        Ok(running) => running,
        Err(err) => {
            tracing::error!(error = %err, "cannot start");
            return ExitCode::FAILURE;
        }
    };
    wait_for_signal().await;
    // A second signal means "now": skip the grace period.
    tokio::spawn(async {
        wait_for_signal().await;
        tracing::warn!("second signal: exiting at once");
        std::process::exit(1);
    });
    let report = running.shutdown().await;
    if report.mirrors_unfinished > 0 || report.sink.write_errors > 0 {
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}

/// SIGTERM (what Kubernetes sends) or SIGINT.
async fn wait_for_signal() {
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(err) => {
                tracing::error!(error = %err, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    tokio::select! {
        _ = terminate => tracing::info!("SIGTERM received"),
        _ = tokio::signal::ctrl_c() => tracing::info!("SIGINT received"),
    }
}
