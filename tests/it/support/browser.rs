//! Browser test support: headless chromium, driven over the DevTools protocol on a pipe, opens a page with the network emulated offline, measures its SVGs, lists every URL it asked for and screenshots it.
//!
//! `--remote-debugging-pipe` rather than a port: nothing to race other tests
//! for, and the only client is us. Chromium reads commands on its fd 3 and
//! writes replies and events on its fd 4, each a JSON object ended by a NUL.
//! A thread reads fd 4 into a channel, and every wait is a `recv_timeout`
//! against one deadline, so a chromium that hangs fails the test instead of
//! stalling it; the child is killed when the `Browser` is dropped.

use std::fs::File;
use std::io::{BufRead, BufReader, PipeReader, PipeWriter, Write};
use std::os::fd::AsRawFd;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};

/// One page load, from launch to exit; a healthy one takes a second or two.
const DEADLINE: Duration = Duration::from_secs(60);
const WIDTH: u64 = 1280;

/// What the page did, as chromium saw it.
#[derive(Debug)]
pub struct PageLoad {
    /// Every URL the page asked for (Network.requestWillBeSent), the document itself included.
    pub requests: Vec<String>,
    /// Width and height (CSS px, getBoundingClientRect) of every `<svg>` element, in document order.
    pub svgs: Vec<(f64, f64)>,
    /// The document's title.
    pub title: String,
    /// A full-page PNG screenshot, 1280 CSS px wide at scale 1.
    pub screenshot_png: Vec<u8>,
}

/// The chromium binary, or an error telling the reader how to install it.
pub fn chromium() -> Result<PathBuf, String> {
    std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .map(|dir| dir.join("chromium"))
        .find(|path| {
            path.metadata()
                .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
        .ok_or_else(|| {
            "no chromium on PATH: `apt-get install chromium` (or run .ci/run, which installs it)"
                .to_string()
        })
}

/// Opens `html` (a file path) in headless chromium with the network emulated
/// offline, waits for the load event, measures, screenshots.
pub fn load_offline(html: &Path) -> Result<PageLoad, String> {
    let path = html
        .canonicalize()
        .map_err(|e| format!("{}: {e}", html.display()))?;
    let mut browser = Browser::launch()?;
    let page = browser
        .load(&file_url(&path))
        .and_then(|page| browser.close().map(|()| page))
        .map_err(|e| browser.with_log(e))?;
    // Only now complete: chromium can report a request up to its exit.
    let requests = std::mem::take(&mut browser.requests);
    Ok(PageLoad { requests, ..page })
}

/// Why each flag beyond the pipe and headless mode: root (the tests' user)
/// needs `--no-sandbox`; a container's /dev/shm can be too small; the rest
/// keep the browser itself from fetching or drawing anything not asked for.
const FLAGS: [&str; 13] = [
    "--headless=new",
    "--remote-debugging-pipe",
    "--no-sandbox",
    "--disable-dev-shm-usage",
    "--disable-gpu",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--hide-scrollbars",
    "--mute-audio",
];

/// In the page: the title, the document's height, the size of every SVG.
const MEASURE: &str = "({
    title: document.title,
    height: document.documentElement.scrollHeight,
    svgs: Array.from(document.querySelectorAll('svg'), (svg) => {
        const r = svg.getBoundingClientRect();
        return [r.width, r.height];
    }),
})";

struct Browser {
    child: Child,
    commands: PipeWriter,
    /// Replies and events from chromium; disconnected once it closes fd 4.
    messages: Receiver<Result<Value, String>>,
    next_id: u64,
    deadline: Instant,
    /// The tab's session once attached: commands go to it from then on.
    session: Option<String>,
    requests: Vec<String>,
    /// Loader ids of the navigations whose `load` lifecycle event has fired.
    loaded: Vec<String>,
    /// The user data dir, chromium's stderr.log in it; removed after the child is reaped.
    profile: tempfile::TempDir,
}

impl Browser {
    fn launch() -> Result<Self, String> {
        let binary = chromium()?;
        let profile = tempfile::tempdir().map_err(|e| format!("a profile directory: {e}"))?;
        let log = File::create(profile.path().join("stderr.log"))
            .map_err(|e| format!("chromium's stderr.log: {e}"))?;
        let (command_end, commands) = std::io::pipe().map_err(|e| format!("a pipe: {e}"))?;
        let (messages, message_end) = std::io::pipe().map_err(|e| format!("a pipe: {e}"))?;
        let (fd3, fd4) = (command_end.as_raw_fd(), message_end.as_raw_fd());
        let mut command = Command::new(&binary);
        command
            .args(FLAGS)
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .arg("about:blank")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log);
        // SAFETY: between fork and exec the closure only makes
        // async-signal-safe calls (fcntl, dup2) on descriptors it owns. The
        // ends are first copied to 5 and up, so placing one on 3 cannot close
        // the other; those copies are close-on-exec, and dup2 clears the flag
        // on 3 and 4, so exactly those two reach chromium.
        unsafe {
            command.pre_exec(move || {
                for (fd, target) in [(fd3, 3), (fd4, 4)] {
                    let copy = libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 5);
                    if copy < 0 || libc::dup2(copy, target) < 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                }
                Ok(())
            });
        }
        let child = command
            .spawn()
            .map_err(|e| format!("starting {}: {e}", binary.display()))?;
        // Only chromium holds its ends now, so its exit is EOF on ours.
        drop((command_end, message_end));
        let (sender, receiver) = mpsc::channel();
        let browser = Browser {
            child,
            commands,
            messages: receiver,
            next_id: 0,
            deadline: Instant::now() + DEADLINE,
            session: None,
            requests: Vec::new(),
            loaded: Vec::new(),
            profile,
        };
        std::thread::Builder::new()
            .name("chromium-pipe".into())
            .spawn(move || read_messages(BufReader::new(messages), &sender))
            .map_err(|e| format!("a reader thread: {e}"))?;
        Ok(browser)
    }

    /// Opens `url` in a new tab: what it drew (its requests are gathered
    /// apart, until chromium exits).
    fn load(&mut self, url: &str) -> Result<PageLoad, String> {
        let target = self.call("Target.createTarget", json!({"url": "about:blank"}))?;
        let target = json!({"targetId": field(&target, "targetId")?, "flatten": true});
        let attached = self.call("Target.attachToTarget", target)?;
        self.session = Some(field(&attached, "sessionId")?);
        self.call("Network.enable", json!({}))?;
        self.call("Page.enable", json!({}))?;
        // Page.loadEventFired names no navigation, so one from the tab's
        // initial about:blank could pass for ours; lifecycle events carry
        // the loader id that Page.navigate returns.
        self.call("Page.setLifecycleEventsEnabled", json!({"enabled": true}))?;
        let offline = json!({
            "offline": true, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1,
        });
        self.call("Network.emulateNetworkConditions", offline)?;
        self.viewport(800)?;
        let navigated = self.call("Page.navigate", json!({"url": url}))?;
        if let Some(error) = navigated["errorText"].as_str() {
            return Err(format!("Page.navigate to {url}: {error}"));
        }
        let loader = field(&navigated, "loaderId")?;
        while !self.loaded.contains(&loader) {
            self.next("the page's load event")?;
        }
        let measure = json!({"expression": MEASURE, "returnByValue": true});
        let measured = self.call("Runtime.evaluate", measure)?;
        if let Some(exception) = measured.get("exceptionDetails") {
            return Err(format!("measuring the page: {exception}"));
        }
        let page = &measured["result"]["value"];
        let size = |s: &Value| s[0].as_f64().zip(s[1].as_f64());
        let svgs = page["svgs"]
            .as_array()
            .and_then(|svgs| svgs.iter().map(size).collect::<Option<Vec<_>>>())
            .ok_or_else(|| format!("measuring the page: unexpected {page}"))?;
        let title = page["title"].as_str().unwrap_or_default().to_owned();
        // The viewport as tall as the document, so the screenshot is all of it.
        self.viewport(page["height"].as_f64().unwrap_or(0.0).ceil().max(1.0) as u64)?;
        let shot = json!({"format": "png", "captureBeyondViewport": true});
        let shot = self.call("Page.captureScreenshot", shot)?;
        let screenshot_png = STANDARD
            .decode(field(&shot, "data")?)
            .map_err(|e| format!("Page.captureScreenshot: data is not base64: {e}"))?;
        let requests = Vec::new();
        Ok(PageLoad {
            requests,
            svgs,
            title,
            screenshot_png,
        })
    }

    fn viewport(&mut self, height: u64) -> Result<Value, String> {
        let metrics =
            json!({"width": WIDTH, "height": height, "deviceScaleFactor": 1, "mobile": false});
        self.call("Emulation.setDeviceMetricsOverride", metrics)
    }

    /// Asks chromium to exit and reads until it closes the pipe, recording
    /// any last events. Its reply may never come: the pipe can close first.
    fn close(&mut self) -> Result<(), String> {
        self.session = None;
        self.send("Browser.close", json!({}))?;
        let waiting_for = "chromium to exit after Browser.close";
        while self.receive(waiting_for)?.is_some() {}
        Ok(())
    }

    fn call(&mut self, method: &str, params: Value) -> Result<Value, String> {
        let id = self.send(method, params)?;
        loop {
            let mut message = self.next(method)?;
            if message["id"] == id {
                return match message.get("error") {
                    Some(error) => Err(format!("{method}: {error}")),
                    None => Ok(message["result"].take()),
                };
            }
        }
    }

    /// Never blocks for long: each command is small and sent only after the
    /// previous reply, so the pipe's buffer always has room.
    fn send(&mut self, method: &str, params: Value) -> Result<u64, String> {
        self.next_id += 1;
        let mut message = json!({"id": self.next_id, "method": method, "params": params});
        if let Some(session) = &self.session {
            message["sessionId"] = session.as_str().into();
        }
        let mut bytes = message.to_string().into_bytes();
        bytes.push(0);
        self.commands
            .write_all(&bytes)
            .map_err(|e| format!("{method}: writing to chromium: {e}"))?;
        Ok(self.next_id)
    }

    fn next(&mut self, waiting_for: &str) -> Result<Value, String> {
        self.receive(waiting_for)?
            .ok_or_else(|| format!("{waiting_for}: chromium closed the pipe"))
    }

    /// The next message, after noting the events the load is judged by;
    /// `None` once chromium has closed the pipe.
    fn receive(&mut self, waiting_for: &str) -> Result<Option<Value>, String> {
        let left = self.deadline.saturating_duration_since(Instant::now());
        let message = match self.messages.recv_timeout(left) {
            Ok(message) => message?,
            Err(RecvTimeoutError::Disconnected) => return Ok(None),
            Err(RecvTimeoutError::Timeout) => {
                return Err(format!(
                    "{waiting_for}: nothing from chromium by the {DEADLINE:?} deadline"
                ));
            }
        };
        let params = &message["params"];
        match message["method"].as_str() {
            Some("Network.requestWillBeSent") => {
                self.requests.push(text(&params["request"]["url"]))
            }
            Some("Page.lifecycleEvent") if params["name"] == "load" => {
                self.loaded.push(text(&params["loaderId"]))
            }
            _ => {}
        }
        Ok(Some(message))
    }

    /// `error`, with the URLs asked for so far (a request that never ends
    /// holds up the load event) and the end of chromium's stderr, less the
    /// D-Bus complaints every container run makes.
    fn with_log(&self, error: String) -> String {
        let log =
            std::fs::read_to_string(self.profile.path().join("stderr.log")).unwrap_or_default();
        let lines: Vec<&str> = log
            .lines()
            .filter(|line| !line.contains(":ERROR:dbus/"))
            .collect();
        let tail = lines[lines.len().saturating_sub(20)..].join("\n");
        let requests = &self.requests;
        format!("{error}\nrequests so far: {requests:?}\n--- the end of chromium's stderr:\n{tail}")
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // SIGKILL (harmless if chromium already exited) makes the reap bounded.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Chromium's messages, each a JSON object ended by a NUL, until EOF (the
/// sender dropped says so), a read error or a message that does not parse.
fn read_messages(mut reader: BufReader<PipeReader>, sender: &Sender<Result<Value, String>>) {
    loop {
        let mut bytes = Vec::new();
        let message = match reader.read_until(0, &mut bytes) {
            Ok(0) => return,
            Ok(_) => serde_json::from_slice(bytes.strip_suffix(&[0]).unwrap_or(&bytes))
                .map_err(|e| format!("unparsable message from chromium: {e}")),
            Err(e) => Err(format!("reading from chromium: {e}")),
        };
        let failed = message.is_err();
        if sender.send(message).is_err() || failed {
            return;
        }
    }
}

fn text(value: &Value) -> String {
    value.as_str().unwrap_or_default().to_owned()
}

fn field(result: &Value, name: &str) -> Result<String, String> {
    result[name]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| format!("no {name} in {result}"))
}

/// The URL `load_offline` opens for `path` (absolute, symlinks resolved),
/// as it appears in `PageLoad::requests`: `file://` and the path,
/// percent-encoded where a URL needs it.
pub fn file_url(path: &Path) -> String {
    let mut url = String::from("file://");
    for &byte in path.as_os_str().as_bytes() {
        if byte.is_ascii_alphanumeric() || b"/-._~".contains(&byte) {
            url.push(char::from(byte));
        } else {
            url.push_str(&format!("%{byte:02X}"));
        }
    }
    url
}
