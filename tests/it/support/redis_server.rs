//! A real `redis-server` (Debian's package) for one test, on 127.0.0.1 at a port of its own, stopped on drop.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

/// One running `redis-server`.
pub struct RedisServer {
    pub port: u16,
    child: Child,
}

impl RedisServer {
    /// Starts a server on a free port.
    pub fn start() -> Self {
        Self::start_on(free_port())
    }

    /// Starts a server on `port`, and returns once it accepts connections
    /// (it says so on stdout), within the tests' bound.
    pub fn start_on(port: u16) -> Self {
        Self::spawn(port, &["--port", &port.to_string()])
    }

    /// Starts a server on a free port that asks clients for `password`.
    pub fn start_with_password(password: &str) -> Self {
        let port = free_port();
        Self::spawn(
            port,
            &["--port", &port.to_string(), "--requirepass", password],
        )
    }

    /// Starts a server speaking only TLS, with `cert` and `key`.
    pub fn start_tls(cert: &std::path::Path, key: &std::path::Path) -> Self {
        let port = free_port();
        let (cert, key) = (cert.display().to_string(), key.display().to_string());
        Self::spawn(
            port,
            &[
                "--port",
                "0",
                "--tls-port",
                &port.to_string(),
                "--tls-cert-file",
                &cert,
                "--tls-key-file",
                &key,
                "--tls-auth-clients",
                "no",
            ],
        )
    }

    fn spawn(port: u16, listen: &[&str]) -> Self {
        let mut child = Command::new("redis-server")
            .args(listen)
            .args(["--bind", "127.0.0.1"])
            // Nothing kept on disk, nothing loaded from it.
            .args(["--save", "", "--appendonly", "no", "--dir"])
            .arg(std::env::temp_dir())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server runs (apt-get install redis-server, or .ci/run)");
        let stdout = child.stdout.take().expect("stdout");
        let (ready, seen) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if line.contains("Ready to accept connections") {
                    let _ = ready.send(());
                }
            }
        });
        seen.recv_timeout(super::TEST_BOUND)
            .expect("redis-server ready in time");
        Self { port, child }
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    /// Stops the server (SIGKILL) and waits for it.
    pub fn stop(mut self) -> u16 {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.port
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The kernel's free port, let go just before redis takes it.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}
