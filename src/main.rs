//! The `socure-shadow-proxy` binary: parse the command line, set up diagnostics, run.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use socure_shadow_proxy::config::{Config, ProcessEnv};
use socure_shadow_proxy::{authority, demo, server};
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
    /// The certificate authority of forward-proxy mode.
    Ca {
        #[command(subcommand)]
        command: CaCommand,
    },
}

#[derive(Subcommand)]
enum CaCommand {
    /// Write a new CA certificate (DIR/ca.crt) and key (DIR/ca.key, mode 0600).
    Init {
        /// An existing directory; existing files are never overwritten.
        dir: PathBuf,
        /// Limit the CA to this host and its subdomains (X.509 name
        /// constraints); repeat for more. Recommended: the vendor's host.
        #[arg(long = "permit-host", value_name = "HOST")]
        permit_hosts: Vec<String>,
    },
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
        Command::Ca {
            command: CaCommand::Init { dir, permit_hosts },
        } => ca_init(&dir, &permit_hosts),
    }
}

/// `ca init`: writes the CA and says, on stdout, how to use it.
fn ca_init(dir: &std::path::Path, permit_hosts: &[String]) -> ExitCode {
    match authority::init(dir, permit_hosts) {
        Ok(made) => {
            let (cert, key) = (made.cert_file.display(), made.key_file.display());
            println!(
                "Wrote {cert} (the CA certificate) and {key} (its private key, mode 0600).

1. Give the proxy both files, in its config:

     [listen]
     mode = \"forward_proxy\"
     ca_cert_file = \"{cert}\"
     ca_key_file = \"{key}\"

   Keep ca.key secret: mount it only into the proxy's container (a
   Kubernetes Secret), never into the app's.

2. Make the IdV app trust the certificate (ca.crt only, never the key):
   add it to the app container's CA bundle, e.g. on Debian/Ubuntu copy it to
   /usr/local/share/ca-certificates/socure-shadow-proxy.crt and run
   update-ca-certificates, or point SSL_CERT_FILE at a bundle that holds the
   system roots plus ca.crt (Ruby's OpenSSL honours SSL_CERT_FILE).

3. Start the app with HTTPS_PROXY=http://127.0.0.1:PORT, PORT being the
   proxy's listen port.{}",
                if permit_hosts.is_empty() {
                    "\n\nThis CA can vouch for any host name. To limit it to the vendor's host, \
                     make it again with --permit-host HOST."
                        .to_owned()
                } else {
                    format!(
                        "\n\nThis CA can only vouch for: {} (and their subdomains).",
                        permit_hosts.join(", ")
                    )
                }
            );
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("ca init failed: {err}");
            ExitCode::FAILURE
        }
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
