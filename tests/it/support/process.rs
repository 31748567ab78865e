//! The real binary as a child process, started with a config file as an operator would run it: its ports read from its "listening" line, its stderr line by line, signals, its exit.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;

use super::{API_KEY, Options, TEST_BOUND};

/// The real binary, started with a config file, as an operator would run it.
pub struct ProxyProcess {
    pub addr: SocketAddr,
    pub admin: SocketAddr,
    pub pid: i32,
    exited: std::sync::mpsc::Receiver<std::process::ExitStatus>,
    /// stderr, line by line, as it is written.
    stderr_lines: std::sync::mpsc::Receiver<String>,
    stderr: Arc<Mutex<Vec<u8>>>,
    stdout: Arc<Mutex<Vec<u8>>>,
    pub log: PathBuf,
    /// The config file it was started with (rewrite it, then SIGHUP).
    pub config: PathBuf,
    _dir: tempfile::TempDir,
}

impl ProxyProcess {
    /// Starts `socure-shadow-proxy run` in front of the two fakes and waits
    /// (bounded) for its "listening" line to learn its port.
    pub fn start(
        upstream: SocketAddr,
        socure: SocketAddr,
        options: &Options,
        env: &[(&str, &str)],
    ) -> Self {
        Self::start_toml(|log| options.toml(upstream, socure, log), env)
    }

    /// Starts the binary with the config `toml` builds, given the shadow
    /// log's path.
    pub fn start_toml(toml: impl FnOnce(&std::path::Path) -> String, env: &[(&str, &str)]) -> Self {
        Self::start_limited(toml, env, &[])
    }

    /// As [`ProxyProcess::start_toml`], under resource `limits` (soft and
    /// hard alike): RLIMIT_FSIZE (`ulimit -f`) makes a full disk for the
    /// shadow log without a filesystem to fill, RLIMIT_NOFILE a small
    /// descriptor table.
    pub fn start_limited(
        toml: impl FnOnce(&std::path::Path) -> String,
        env: &[(&str, &str)],
        limits: &[(nix::sys::resource::Resource, u64)],
    ) -> Self {
        Self::launch(toml, env, limits, false)
    }

    /// As [`ProxyProcess::start`], allowed to run on the first CPU only
    /// (as `taskset -c 0` does): the process may use one CPU.
    pub fn start_on_one_cpu(upstream: SocketAddr, socure: SocketAddr, options: &Options) -> Self {
        Self::launch(|log| options.toml(upstream, socure, log), &[], &[], true)
    }

    fn launch(
        toml: impl FnOnce(&std::path::Path) -> String,
        env: &[(&str, &str)],
        limits: &[(nix::sys::resource::Resource, u64)],
        one_cpu: bool,
    ) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let log = dir.path().join("shadow.log");
        let config = dir.path().join("proxy.toml");
        std::fs::write(&config, toml(&log)).expect("write config");
        let mut child = spawn(&config, env, limits, one_cpu);
        let pid = i32::try_from(child.id()).expect("pid");
        let (stderr, stderr_lines) = watch_stderr(&mut child);
        let stdout = collect_stdout(&mut child);
        let (exit_tx, exited) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            if let Ok(status) = child.wait() {
                let _ = exit_tx.send(status);
            }
        });
        let mut process = Self {
            addr: SocketAddr::from(([0, 0, 0, 0], 0)),
            admin: SocketAddr::from(([0, 0, 0, 0], 0)),
            pid,
            exited,
            stderr_lines,
            stderr,
            stdout,
            log,
            config,
            _dir: dir,
        };
        let listening = process.wait_for_stderr("local_addr");
        process.addr = listening_address(&listening, "local_addr");
        process.admin = listening_address(&listening, "admin_addr");
        process
    }

    /// Waits (bounded) for the next stderr line containing `needle`.
    pub fn wait_for_stderr(&self, needle: &str) -> String {
        let deadline = std::time::Instant::now() + TEST_BOUND;
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            let line = self
                .stderr_lines
                .recv_timeout(left)
                .unwrap_or_else(|_| panic!("no stderr line with {needle:?} in time"));
            if line.contains(needle) {
                return line;
            }
        }
    }

    pub fn signal(&self, signal: nix::sys::signal::Signal) {
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(self.pid), signal)
            .expect("signal the proxy");
    }

    /// Waits for the process to exit, at most `bound`.
    pub fn wait_exit(&self, bound: Duration) -> Option<std::process::ExitStatus> {
        self.exited.recv_timeout(bound).ok()
    }

    /// Everything written to stderr so far.
    pub fn stderr(&self) -> Vec<u8> {
        self.stderr.lock().expect("lock").clone()
    }

    /// Everything written to stdout (complete once the process has exited).
    pub fn stdout(&self) -> Vec<u8> {
        self.stdout.lock().expect("lock").clone()
    }

    pub fn log_lines(&self) -> Vec<Value> {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .map(|line| serde_json::from_str(line).expect("each line is one JSON object"))
            .collect()
    }
}

impl Drop for ProxyProcess {
    fn drop(&mut self) {
        // Never leave a proxy running after its test.
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(self.pid),
            nix::sys::signal::Signal::SIGKILL,
        );
    }
}

/// `socure-shadow-proxy run --config config`, with the Socure key and `env`,
/// under `limits` (and on the first CPU alone if `one_cpu`), its stdout and
/// stderr piped.
fn spawn(
    config: &std::path::Path,
    env: &[(&str, &str)],
    limits: &[(nix::sys::resource::Resource, u64)],
    one_cpu: bool,
) -> std::process::Child {
    use std::os::unix::process::CommandExt;
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_socure-shadow-proxy"));
    let limits = limits.to_vec();
    // SAFETY: between fork and exec only setrlimit and sched_setaffinity
    // run, async-signal-safe system calls, on memory of this closure's
    // stack; nothing is allocated or locked (the list was copied before
    // the fork).
    unsafe {
        command.pre_exec(move || {
            for &(resource, limit) in &limits {
                nix::sys::resource::setrlimit(resource, limit, limit)
                    .map_err(std::io::Error::from)?;
            }
            if one_cpu {
                let mut set: libc::cpu_set_t = std::mem::zeroed();
                libc::CPU_SET(0, &mut set);
                if libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
            }
            Ok(())
        });
    }
    command
        .arg("run")
        .arg("--config")
        .arg(config)
        .env("SOCURE_IDPLUS_API_KEY", API_KEY)
        .envs(env.iter().copied())
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start the proxy binary")
}

/// Reads the child's stderr on a thread of its own: all of it so far, and
/// each line as it is written.
fn watch_stderr(
    child: &mut std::process::Child,
) -> (Arc<Mutex<Vec<u8>>>, std::sync::mpsc::Receiver<String>) {
    use std::io::BufRead;
    let stderr = Arc::new(Mutex::new(Vec::new()));
    let (line_tx, stderr_lines) = std::sync::mpsc::channel();
    let mut err_pipe = std::io::BufReader::new(child.stderr.take().expect("stderr"));
    let stderr_copy = Arc::clone(&stderr);
    std::thread::spawn(move || {
        let mut line = Vec::new();
        while err_pipe.read_until(b'\n', &mut line).unwrap_or(0) > 0 {
            stderr_copy.lock().expect("lock").extend_from_slice(&line);
            let _ = line_tx.send(String::from_utf8_lossy(&line).into_owned());
            line.clear();
        }
    });
    (stderr, stderr_lines)
}

/// Reads the child's stdout to its end on a thread of its own.
fn collect_stdout(child: &mut std::process::Child) -> Arc<Mutex<Vec<u8>>> {
    use std::io::Read;
    let stdout = Arc::new(Mutex::new(Vec::new()));
    let mut out_pipe = child.stdout.take().expect("stdout");
    let stdout_copy = Arc::clone(&stdout);
    std::thread::spawn(move || {
        let mut all = Vec::new();
        let _ = out_pipe.read_to_end(&mut all);
        stdout_copy.lock().expect("lock").extend_from_slice(&all);
    });
    stdout
}

/// The address `name` in the "listening" line, in text (`name=value`) or
/// JSON (`"name":"value"`) diagnostics.
fn listening_address(listening: &str, name: &str) -> SocketAddr {
    listening
        .split(&format!("{name}="))
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .or_else(|| {
            listening
                .split(&format!("\"{name}\":\""))
                .nth(1)
                .and_then(|rest| rest.split('"').next())
        })
        .and_then(|addr| addr.parse().ok())
        .expect("a socket address in the listening line")
}
