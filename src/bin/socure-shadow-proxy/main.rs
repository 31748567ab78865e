//! The `socure-shadow-proxy` binary: parse the command line, set up diagnostics, run.

use std::io::{IsTerminal, Write as _};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{FromArgMatches, Parser, Subcommand};
use socure_shadow_proxy::config::{Config, LogFormat, ProcessEnv};
use socure_shadow_proxy::{authority, event, preflight, server};
use socure_shadow_report as report;

mod demo;
mod docs;
use tokio::signal::unix::{Signal, SignalKind, signal};
use tracing_subscriber::EnvFilter;

/// glibc's malloc spent a fifth of the proxy's CPU under load (profiled with
/// perf: consolidation and cross-thread frees, as requests are allocated on
/// a forward worker and freed on the mirror's thread); mimalloc's per-thread
/// free lists do not.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// sysexits' EX_USAGE, as linkerd2-proxy uses for a bad configuration.
const EXIT_CONFIG: u8 = 64;

#[derive(Parser)]
#[command(
    // `0.1.0 (a1b2c3d4e5f6)`: the commit from build.rs, so a bug report names the build.
    version = env!("SHADOW_PROXY_VERSION"),
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
    Demo {
        /// Also keep the shadow lines in this file (appended), e.g. for `report`.
        #[arg(long, value_name = "PATH")]
        log: Option<PathBuf>,
    },
    /// Read shadow lines (plain or gzip files, or stdin) and report how the vendors compare.
    Report(ReportArgs),
    /// Validate a configuration and print it as the proxy would run it (secrets redacted).
    CheckConfig {
        /// The TOML configuration file to check, with the environment applied as `run` would.
        #[arg(long, short)]
        config: PathBuf,
        /// How to print the effective configuration: TOML (a config file
        /// itself) or JSON.
        #[arg(long, value_enum, default_value_t = ConfigFormat::Toml)]
        format: ConfigFormat,
    },
    /// Exit 0 if the proxy's admin listener answers GET /healthz with 200 (for
    /// the container's HEALTHCHECK: the runtime image has no shell or curl).
    Healthcheck {
        /// The admin listener, `[admin] address`.
        #[arg(long, default_value = "127.0.0.1:9901")]
        address: std::net::SocketAddr,
    },
    /// The proxy's own certificate authority: `ca init` makes it, `ca issue` a listener certificate.
    Ca {
        #[command(subcommand)]
        command: CaCommand,
    },
    /// Print a page of the documentation that is generated from the code.
    Docs {
        #[command(subcommand)]
        command: DocsCommand,
    },
    /// Print a shell completion script on stdout.
    Completions {
        /// The shell to complete for.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff) on stdout; with a subcommand, that subcommand's page.
    Man {
        /// e.g. `run`, or `ca init`; none for the main page.
        #[arg(value_name = "SUBCOMMAND")]
        path: Vec<String>,
    },
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum ConfigFormat {
    Toml,
    Json,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum ReportFormat {
    /// Aligned tables for a terminal.
    Text,
    /// The documented schema, for scripts.
    Json,
    /// One self-contained page with charts.
    Html,
}

#[derive(Subcommand)]
enum DocsCommand {
    /// The configuration reference (Markdown), as docs/configuration.md holds it.
    Config,
}

#[derive(Subcommand)]
enum CaCommand {
    /// Write a new CA certificate (DIR/ca.crt) and key (DIR/ca.key, mode 0600).
    Init {
        /// The directory, created (mode 0700) if missing; existing files are
        /// never overwritten.
        dir: PathBuf,
        /// Limit the CA to this host and its subdomains (X.509 name
        /// constraints); repeat for more. Recommended: the vendor's host.
        #[arg(long = "permit-host", value_name = "HOST")]
        permit_hosts: Vec<String>,
    },
    /// Write a certificate for the TLS listener, signed by the CA in DIR
    ///
    /// Writes DIR/HOST.crt (the certificate, then the CA's) and DIR/HOST.key
    /// (mode 0600), signed by the CA `ca init DIR` made, for the proxy's TLS
    /// listener (ways in 1 and 2). Valid for one year; server authentication
    /// only; an ECDSA P-256 key like ca init's.
    ///
    /// The recipe, VENDOR_HOST being the host of the app's LexisNexis URL:
    ///
    ///   socure-shadow-proxy ca init DIR --permit-host VENDOR_HOST
    ///   socure-shadow-proxy ca issue DIR --host VENDOR_HOST
    ///
    /// then, in the proxy's config:
    ///
    ///   [listen]
    ///   tls_cert_file = "DIR/VENDOR_HOST.crt"
    ///   tls_key_file = "DIR/VENDOR_HOST.key"
    ///
    /// and the IdV app trusts DIR/ca.crt (never a key).
    ///
    /// A host outside the CA's --permit-host names is refused. Existing
    /// files are never overwritten: to renew, move the two files aside,
    /// issue again and restart the proxy.
    #[command(verbatim_doc_comment)]
    Issue {
        /// The directory `ca init` wrote (ca.crt, ca.key); the new files go
        /// there too.
        dir: PathBuf,
        /// A name the certificate is for: a DNS name, or an IP address (an IP
        /// SAN). Repeat for more; the files are named after the first.
        #[arg(long = "host", value_name = "HOST", required = true)]
        hosts: Vec<String>,
    },
}

/// `report`'s arguments.
#[derive(clap::Args)]
struct ReportArgs {
    /// Shadow log files, plain or gzip (told by content); `-` or none for stdin.
    #[arg(value_name = "FILES")]
    files: Vec<String>,
    /// Only lines at or after this time: RFC 3339, or a date (midnight UTC).
    #[arg(long, value_name = "TIME", value_parser = report::parse_time)]
    since: Option<time::OffsetDateTime>,
    /// Only lines before this time: RFC 3339, or a date (midnight UTC).
    #[arg(long, value_name = "TIME", value_parser = report::parse_time)]
    until: Option<time::OffsetDateTime>,
    /// How to write the report.
    #[arg(long, value_enum, default_value_t = ReportFormat::Text)]
    format: ReportFormat,
    /// Write the report here instead of stdout.
    #[arg(long, value_name = "PATH")]
    out: Option<PathBuf>,
    /// How many reason codes to list, overall and per cell.
    #[arg(long, value_name = "N", default_value_t = report::DEFAULT_TOP)]
    top: usize,
    /// Then say on stderr how many lines, how long and the peak memory.
    #[arg(long)]
    stats: bool,
    /// What one Socure call costs (a plain number in your currency): the
    /// report adds the calls' cost and a 30-day month's at the observed rate.
    #[arg(long, value_name = "AMOUNT", value_parser = non_negative)]
    cost_per_call: Option<f64>,
    /// Your copy of Socure's reason-code catalogue: CSV `code,meaning`
    /// lines, or a JSON object of code to meaning. Meanings are shown
    /// beside the codes.
    #[arg(long, value_name = "FILE")]
    reason_codes: Option<PathBuf>,
    /// Exit 1 when Socure would newly reject more than this share of
    /// the applicants LexisNexis passes (0 to 100).
    #[arg(long, value_name = "PERCENT", value_parser = percent)]
    max_newly_rejected: Option<f64>,
    /// Exit 1 when the vendors agree on less than this share of the
    /// applicants both judged (0 to 100).
    #[arg(long, value_name = "PERCENT", value_parser = percent)]
    min_agreement: Option<f64>,
}

fn main() -> ExitCode {
    // Not `Cli::parse()`: part of the help is built at run time.
    let mut matches = docs::command().get_matches();
    let cli = match Cli::from_arg_matches_mut(&mut matches) {
        Ok(cli) => cli,
        Err(err) => err.format(&mut docs::command()).exit(),
    };
    match cli.command {
        Command::Run { config } => {
            let loaded = Config::load(&config, &ProcessEnv);
            let path_for_reload = config.clone();
            init_tracing(loaded.as_ref().map_or(LogFormat::Auto, |c| c.log.format));
            // The same checks, and the same lines, as `check-config`.
            let checked = match loaded
                .map_err(|err| err.lines())
                .and_then(|config| preflight::check(config).map_err(|err| err.lines()))
            {
                Ok(checked) => checked,
                Err(lines) => {
                    for line in lines {
                        tracing::error!("bad configuration: {line}");
                    }
                    return ExitCode::from(EXIT_CONFIG);
                }
            };
            with_runtime(|runtime| runtime.block_on(run(checked, path_for_reload)))
        }
        Command::Demo { log } => {
            init_tracing(LogFormat::Auto);
            with_runtime(|runtime| runtime.block_on(demo::main(log)))
        }
        Command::Report(args) => report_command(args),
        Command::CheckConfig { config, format } => check_config(&config, format),
        Command::Healthcheck { address } => healthcheck(address),
        Command::Ca {
            command: CaCommand::Init { dir, permit_hosts },
        } => ca_init(&dir, &permit_hosts),
        Command::Ca {
            command: CaCommand::Issue { dir, hosts },
        } => ca_issue(&dir, &hosts),
        Command::Docs {
            command: DocsCommand::Config,
        } => {
            let _ = std::io::stdout()
                .lock()
                .write_all(socure_shadow_proxy::config::reference::markdown().as_bytes());
            ExitCode::SUCCESS
        }
        Command::Completions { shell } => docs::completions(shell),
        Command::Man { path } => docs::man(&path),
    }
}

/// `report`: read, count, render, write; exit 1 when a gate fails.
fn report_command(args: ReportArgs) -> ExitCode {
    let ReportArgs {
        files,
        since,
        until,
        format,
        out,
        top,
        stats,
        cost_per_call,
        reason_codes,
        max_newly_rejected,
        min_agreement,
    } = args;
    let catalogue = match reason_codes
        .as_deref()
        .map(report::decision::Catalogue::load)
    {
        None => None,
        Some(Ok(catalogue)) => Some(catalogue),
        Some(Err(err)) => {
            eprintln!("report: {err}");
            return ExitCode::from(err.exit_code());
        }
    };
    let options = report::Options {
        sources: files
            .iter()
            .map(|f| report::input::Source::parse(f))
            .collect(),
        window: report::tally::Window { since, until },
        format: match format {
            ReportFormat::Text => report::Format::Text,
            ReportFormat::Json => report::Format::Json,
            ReportFormat::Html => report::Format::Html,
        },
        out,
        top,
        stats,
        decision: report::decision::DecisionOptions {
            cost_per_call,
            catalogue,
            max_newly_rejected,
            min_agreement,
        },
    };
    match report::run(&options) {
        Ok(report) if report.decision.gates_hold => ExitCode::SUCCESS,
        Ok(report) => {
            eprintln!("report: {}", report.decision.verdict);
            ExitCode::from(report::GATE_FAILED)
        }
        Err(err) => {
            eprintln!("report: {err}");
            ExitCode::from(err.exit_code())
        }
    }
}

/// Diagnostics go to stderr; stdout may be the shadow log. Level from
/// `RUST_LOG` (default `info`). Tells `event` whether the lines are JSON.
fn init_tracing(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let terminal = std::io::stderr().is_terminal();
    let json = match format {
        LogFormat::Json => true,
        LogFormat::Text => false,
        LogFormat::Auto => !terminal,
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if json {
        builder.json().init();
    } else {
        // Colour only for a person at a terminal.
        builder.with_ansi(terminal).init();
    }
    event::set_json(json);
}

fn with_runtime(body: impl FnOnce(&tokio::runtime::Runtime) -> ExitCode) -> ExitCode {
    match server::runtime() {
        Ok(runtime) => body(&runtime),
        Err(err) => {
            tracing::error!(error = %err, "cannot start the async runtime");
            ExitCode::FAILURE
        }
    }
}

/// `check-config`: the same validation and preflight (every file the
/// config names read and parsed, the shadow log's place checked) and the
/// same effective configuration as `run` logs at start, on stdout; exit 64
/// naming every bad key. The TOML is a config file itself: read back, it
/// gives the same configuration.
fn check_config(path: &std::path::Path, format: ConfigFormat) -> ExitCode {
    let checked = Config::load(path, &ProcessEnv)
        .map_err(|err| err.lines())
        .and_then(|config| preflight::check(config).map_err(|err| err.lines()));
    match checked {
        Ok(checked) => {
            let config = checked.config();
            let text = match format {
                ConfigFormat::Toml => format!(
                    "# configuration OK: {}\n{}",
                    path.display(),
                    config.effective.to_toml()
                ),
                ConfigFormat::Json => format!("{:#}\n", config.effective.to_json()),
            };
            // A closed stdout (`| head`) is not worth a panic.
            let _ = std::io::stdout().lock().write_all(text.as_bytes());
            ExitCode::SUCCESS
        }
        Err(lines) => {
            for line in lines {
                eprintln!("bad configuration: {line}");
            }
            ExitCode::from(EXIT_CONFIG)
        }
    }
}

/// `healthcheck`: GET /healthz on the admin listener, two seconds at most.
fn healthcheck(address: std::net::SocketAddr) -> ExitCode {
    use std::io::{Read, Write};
    let bound = std::time::Duration::from_secs(2);
    let answer = (|| -> std::io::Result<String> {
        let mut stream = std::net::TcpStream::connect_timeout(&address, bound)?;
        stream.set_read_timeout(Some(bound))?;
        stream.set_write_timeout(Some(bound))?;
        stream
            .write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")?;
        let mut head = [0u8; 64];
        let n = stream.read(&mut head)?;
        Ok(String::from_utf8_lossy(&head[..n]).into_owned())
    })();
    match answer {
        Ok(head) if head.starts_with("HTTP/1.1 200") => ExitCode::SUCCESS,
        Ok(head) => {
            eprintln!("unhealthy: {}", head.lines().next().unwrap_or(""));
            ExitCode::FAILURE
        }
        Err(err) => {
            eprintln!("unhealthy: {address}: {err}");
            ExitCode::FAILURE
        }
    }
}

/// `ca init`: writes the CA and says, on stdout, how to use it.
fn ca_init(dir: &std::path::Path, permit_hosts: &[String]) -> ExitCode {
    match authority::init(dir, permit_hosts) {
        Ok(made) => {
            // Absolute, so the snippet below works in a config file anywhere.
            let absolute = |path: &std::path::Path| {
                std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf())
            };
            let (cert, key) = (absolute(&made.cert_file), absolute(&made.key_file));
            let (cert, key) = (cert.display(), key.display());
            let _ = writeln!(
                std::io::stdout().lock(),
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

/// `ca issue`: writes the listener's certificate and says, on stdout, how to use it.
fn ca_issue(dir: &std::path::Path, hosts: &[String]) -> ExitCode {
    match authority::issue(dir, hosts) {
        Ok(made) => {
            // Absolute, so the snippet below works in a config file anywhere.
            let absolute = |path: &std::path::Path| {
                std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf())
            };
            let (cert, key, ca) = (
                absolute(&made.cert_file),
                absolute(&made.key_file),
                absolute(&made.ca_file),
            );
            let (cert, key, ca) = (cert.display(), key.display(), ca.display());
            let until = made
                .not_after
                .date()
                .format(time::macros::format_description!("[year]-[month]-[day]"))
                .unwrap_or_default();
            let _ = writeln!(
                std::io::stdout().lock(),
                "Wrote {cert} (the certificate for {}, then the CA's) and {key} \
                 (its private key, mode 0600), valid until {until}.

1. Give the proxy both files, in its config:

     [listen]
     tls_cert_file = \"{cert}\"
     tls_key_file = \"{key}\"

2. Make the IdV app trust {ca} (the CA certificate only), as `ca init` said.

Before {until}: move the two files aside, issue again, restart the proxy.",
                made.hosts.join(", ")
            );
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("ca issue failed: {err}");
            ExitCode::FAILURE
        }
    }
}

async fn run(checked: preflight::Checked, path: PathBuf) -> ExitCode {
    let serde_json::Value::Object(fields) = checked.config().effective.to_json() else {
        unreachable!("to_json gives an object")
    };
    event::info("effective configuration", fields);
    // The listeners exist before the start (a signal during it is kept) and
    // live on, so no signal can slip between the first and the watch for a second.
    let mut signals = match Signals::new() {
        Ok(signals) => signals,
        Err(err) => {
            tracing::error!(error = %err, "cannot listen for signals");
            return ExitCode::FAILURE;
        }
    };
    let running = match server::start_checked(checked).await {
        Ok(running) => running,
        Err(err) => {
            tracing::error!(error = %err, "cannot start");
            return ExitCode::FAILURE;
        }
    };
    let name = loop {
        match signals.next().await {
            "SIGHUP" => reload(&running, &path),
            "SIGUSR1" => {
                tracing::info!("SIGUSR1 received: reopening the shadow log");
                running.reopen_log();
            }
            name => break name,
        }
    };
    tracing::info!("{name} received: shutting down");
    // A second signal means "now": skip what is left of the grace period.
    tokio::spawn(async move {
        // A SIGHUP or SIGUSR1 while draining changes nothing.
        let name = loop {
            match signals.next().await {
                "SIGHUP" | "SIGUSR1" => continue,
                name => break name,
            }
        };
        tracing::warn!("second signal ({name}): exiting at once");
        std::process::exit(1);
    });
    let report = running.shutdown().await;
    // The stop line said how many; the status says whether.
    if report.mirrors_unfinished > 0 || report.sink.lost_any() {
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}

/// SIGHUP re-reads the config file and applies its live settings: one line
/// with what is now in force and every changed key, one warning per key
/// that needs a restart.
fn reload(running: &server::Running, path: &std::path::Path) {
    tracing::info!("SIGHUP received: reloading {}", path.display());
    match Config::load(path, &ProcessEnv) {
        Ok(new) => {
            let reloaded = running.reload(&new);
            let changed: Vec<serde_json::Value> = reloaded
                .changes
                .iter()
                .map(|change| {
                    serde_json::json!({
                        "key": change.key,
                        "from": change.old,
                        "to": change.new,
                        "applied": !reloaded.needs_restart.contains(&change.key),
                    })
                })
                .collect();
            let mut fields = serde_json::Map::new();
            fields.insert("applied".into(), reloaded.applied.to_json());
            fields.insert("changed".into(), changed.into());
            event::info("configuration reloaded", fields);
            for key in &reloaded.needs_restart {
                tracing::warn!("changed in the file but needs a restart: {key}");
            }
        }
        Err(err) => {
            running.reload_refused();
            for line in err.lines() {
                tracing::error!("reload refused, nothing changed: {line}");
            }
        }
    }
}

/// SIGTERM (what Kubernetes sends), SIGINT, SIGHUP (reload) and SIGUSR1
/// (reopen the shadow log, as nginx does for logrotate).
struct Signals {
    terminate: Signal,
    interrupt: Signal,
    hangup: Signal,
    user1: Signal,
}

impl Signals {
    fn new() -> std::io::Result<Self> {
        Ok(Self {
            terminate: signal(SignalKind::terminate())?,
            interrupt: signal(SignalKind::interrupt())?,
            hangup: signal(SignalKind::hangup())?,
            user1: signal(SignalKind::user_defined1())?,
        })
    }

    async fn next(&mut self) -> &'static str {
        tokio::select! {
            _ = self.terminate.recv() => "SIGTERM",
            _ = self.interrupt.recv() => "SIGINT",
            _ = self.hangup.recv() => "SIGHUP",
            _ = self.user1.recv() => "SIGUSR1",
        }
    }
}

/// `--cost-per-call`: a finite amount, zero or more.
fn non_negative(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(value) if value.is_finite() && value >= 0.0 => Ok(value),
        _ => Err(format!("expected an amount of zero or more, got {text:?}")),
    }
}

/// A gate's limit: a percent from 0 to 100 (`10`, `12.5`; a `%` is allowed).
fn percent(text: &str) -> Result<f64, String> {
    match text.trim_end_matches('%').parse::<f64>() {
        Ok(value) if (0.0..=100.0).contains(&value) => Ok(value),
        _ => Err(format!("expected a percent from 0 to 100, got {text:?}")),
    }
}
