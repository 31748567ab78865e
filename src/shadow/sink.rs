//! The shadow log: one writer thread owns it, writes one JSON line per shadowed request and the shed summaries, flushes on close.
//!
//! Lines come from the pairing tasks, never from the forward path. Each line
//! travels with its request's admission [`Slot`], given back once the line is
//! written, so the channel never holds more than `shadow.max_pending` lines
//! and a send never waits or fails for room. The writer is a plain thread
//! doing plain blocking writes: no runtime thread ever blocks on the disk.
//! Every few milliseconds it writes whatever has queued into one buffer and
//! flushes it, so lines reach the disk in batches and nobody has to wake the
//! writer for a line. About once a second, and at
//! close, it turns the admission's shed count into one summary line; on close
//! it writes every line already queued before it flushes and returns.

use std::fs::OpenOptions;
use std::io::{self, BufWriter, Write};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender, TryRecvError, TrySendError};
use std::time::{Duration, Instant};

use serde::Serialize;
use time::OffsetDateTime;
use tokio::sync::oneshot;

use crate::config::LogTarget;
use crate::judge::pair;
use crate::ops::metrics::Metrics;
use crate::shadow::admission::{Admission, Shed, Slot, UNFORWARDED_LINES_PER_SECOND};

/// How often the writer turns the shed count into a summary line (only
/// when something was shed).
const SHED_SUMMARY_EVERY: Duration = Duration::from_secs(1);
/// How often the writer takes what is queued while lines keep coming. It
/// looks on a tick instead of blocking on the queue, so a pairing task that
/// queues a line never has to wake it (a wake-up per line cost more CPU than
/// writing the line). Lines reach the disk at most this late under load.
const DRAIN_TICK: Duration = Duration::from_millis(5);
/// When idle the writer looks less often, doubling its wait up to this.
const DRAIN_IDLE_TICK: Duration = Duration::from_millis(50);
/// The writer's buffer: a batch of lines goes out in one write.
const WRITE_BUFFER_BYTES: usize = 64 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    #[error("cannot open shadow log {}: {}", path.display(), crate::error::io_reason(source))]
    Open {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("{} is a directory, not a file", path.display())]
    IsDirectory { path: PathBuf },
    #[error("the directory {} does not exist", dir.display())]
    NoDirectory { dir: PathBuf },
    #[error("{} is not a directory", dir.display())]
    NotADirectory { dir: PathBuf },
    #[error("cannot create a file in {}: {}", dir.display(), crate::error::io_reason(source))]
    DirectoryNotWritable {
        dir: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("cannot start the shadow log writer: {0}")]
    Thread(#[source] io::Error),
    #[error("shadow log is closed; a line was lost")]
    Closed,
    #[error("shadow log queue is full; a line was lost")]
    Full,
    #[error("a shadow line could not be encoded: {0}")]
    Encode(#[from] serde_json::Error),
}

/// What travels to the writer, in order.
enum Message {
    /// A line, and the slot its request holds until it is written.
    Line(Vec<u8>, Slot),
    /// Everything before this is written; flush, report, stop.
    Close,
}

/// Cheap to clone; every pairing task holds one.
#[derive(Clone)]
pub struct SinkSender {
    tx: SyncSender<Message>,
    writable: Arc<AtomicBool>,
}

impl SinkSender {
    /// False after a write failed, until one succeeds again (for `/readyz`).
    pub fn writable(&self) -> Arc<AtomicBool> {
        Arc::clone(&self.writable)
    }

    /// Encodes `line` (as every line is, [`pair::encode`]) and queues it
    /// with its request's `slot`. Never waits: the queue has room for every slot.
    pub fn write<T: Serialize>(&self, line: &T, slot: Slot) -> Result<(), SinkError> {
        let bytes = pair::encode(line)?;
        self.tx
            .try_send(Message::Line(bytes, slot))
            .map_err(|err| match err {
                TrySendError::Full(_) => SinkError::Full,
                TrySendError::Disconnected(_) => SinkError::Closed,
            })
    }
}

/// The writer; [`SinkTask::close`] drains, flushes and reports.
pub struct SinkTask {
    tx: SyncSender<Message>,
    done: oneshot::Receiver<SinkReport>,
}

/// What the writer did over its life.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SinkReport {
    /// Proofing lines written (one per admitted request).
    pub lines_written: u64,
    pub write_errors: u64,
    /// Requests shed, as counted by the summary lines written.
    pub shed: u64,
}

impl SinkTask {
    /// Writes the lines already queued and the last shed summary, flushes,
    /// and returns the counts. Lines sent after this are refused with
    /// [`SinkError::Closed`].
    pub async fn close(self) -> SinkReport {
        // The queue has a place kept for this beyond every slot's line.
        if self.tx.try_send(Message::Close).is_err() {
            tracing::error!("shadow log writer is gone or its queue is full");
        }
        self.done.await.unwrap_or_else(|_| {
            tracing::error!("shadow log writer stopped without a report");
            SinkReport::default()
        })
    }
}

/// Starts the writer for the requests `admission` lets in. With `defer`
/// false the target is opened now, so a bad path stops the start instead of
/// the first line; with `defer` true (shadow mode off at start, maybe turned
/// on later by a reload) it is opened with the first line, so a proxy that
/// never shadows leaves no file.
pub fn open(
    target: &LogTarget,
    metrics: Metrics,
    admission: Arc<Admission>,
    defer: bool,
) -> Result<(SinkSender, SinkTask), SinkError> {
    let out = if defer {
        None
    } else {
        Some(open_target(target)?)
    };
    let target = target.clone();
    // One place per slot (each queued line holds one), and one for `Close`.
    let (tx, rx) = mpsc::sync_channel(admission.max().saturating_add(1));
    let (done_tx, done) = oneshot::channel();
    let writable = Arc::new(AtomicBool::new(true));
    let flag = Arc::clone(&writable);
    std::thread::Builder::new()
        .name("shadow-log".into())
        .spawn(move || {
            crate::sys::lower_priority();
            let writer = Writer {
                out,
                target,
                metrics: &metrics,
                writable: &flag,
                report: SinkReport::default(),
            };
            let _ = done_tx.send(writer.run(&rx, &admission));
        })
        .map_err(SinkError::Thread)?;
    Ok((
        SinkSender {
            tx: tx.clone(),
            writable,
        },
        SinkTask { tx, done },
    ))
}

/// Whether [`open`] could open `target`, found without creating or
/// changing anything: an existing file is opened for appending and closed
/// (never truncated); for a missing one, its directory must exist and be
/// writable, as creating the file at start needs. So `check-config` leaves
/// no empty log behind.
pub fn check_target(target: &LogTarget) -> Result<(), SinkError> {
    let LogTarget::File(path) = target else {
        return Ok(());
    };
    let open = |source| SinkError::Open {
        path: path.clone(),
        source,
    };
    match std::fs::metadata(path) {
        Ok(meta) if meta.is_dir() => Err(SinkError::IsDirectory { path: path.clone() }),
        Ok(_) => OpenOptions::new()
            .append(true)
            .open(path)
            .map(drop)
            .map_err(open),
        // A missing file, or a file where a directory should be on its way.
        Err(err) if missing(&err) => {
            let dir = match path.parent() {
                Some(dir) if !dir.as_os_str().is_empty() => dir.to_owned(),
                _ => PathBuf::from("."),
            };
            match std::fs::metadata(&dir) {
                Ok(meta) if meta.is_dir() => nix::unistd::access(
                    &dir,
                    nix::unistd::AccessFlags::W_OK | nix::unistd::AccessFlags::X_OK,
                )
                .map_err(|errno| SinkError::DirectoryNotWritable {
                    dir,
                    source: io::Error::from(errno),
                }),
                Ok(_) => Err(SinkError::NotADirectory { dir }),
                Err(err) if missing(&err) => Err(SinkError::NoDirectory { dir }),
                Err(err) => Err(open(err)),
            }
        }
        Err(err) => Err(open(err)),
    }
}

fn missing(err: &io::Error) -> bool {
    matches!(
        err.kind(),
        io::ErrorKind::NotFound | io::ErrorKind::NotADirectory
    )
}

fn open_target(target: &LogTarget) -> Result<BufWriter<Box<dyn Write + Send>>, SinkError> {
    let out: Box<dyn Write + Send> = match target {
        LogTarget::Stdout => Box::new(io::stdout()),
        LogTarget::File(path) => Box::new(
            OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .map_err(|source| SinkError::Open {
                    path: path.clone(),
                    source,
                })?,
        ),
    };
    Ok(BufWriter::with_capacity(WRITE_BUFFER_BYTES, out))
}

/// The writer thread's state.
struct Writer<'a> {
    /// `None` until the first line when the open was deferred.
    out: Option<BufWriter<Box<dyn Write + Send>>>,
    target: LogTarget,
    metrics: &'a Metrics,
    writable: &'a AtomicBool,
    report: SinkReport,
}

impl Writer<'_> {
    fn run(mut self, rx: &Receiver<Message>, admission: &Admission) -> SinkReport {
        let mut summarised = (Instant::now(), OffsetDateTime::now_utc());
        let mut wait = DRAIN_TICK;
        loop {
            // Everything already queued goes into the buffer as one batch.
            let mut batch = 0usize;
            let mut closing = false;
            let mut gone = false;
            loop {
                match rx.try_recv() {
                    Ok(Message::Line(line, slot)) => {
                        self.write_line(&line);
                        // The line is in: its request no longer holds the mirror.
                        drop(slot);
                        batch += 1;
                    }
                    Ok(Message::Close) => {
                        closing = true;
                        break;
                    }
                    Err(TryRecvError::Empty) => break,
                    Err(TryRecvError::Disconnected) => {
                        gone = true;
                        break;
                    }
                }
            }
            let last = closing || gone;
            if last || summarised.0.elapsed() >= SHED_SUMMARY_EVERY {
                self.summarise_shed(admission, &mut summarised);
            }
            // Writability (for `/readyz`) follows what reached the target:
            // a write only fills the buffer.
            if batch > 0 || last {
                self.flush();
            }
            if last {
                break;
            }
            wait = if batch > 0 {
                DRAIN_TICK
            } else {
                (wait * 2).min(DRAIN_IDLE_TICK)
            };
            std::thread::sleep(wait);
        }
        self.report
    }

    /// Writes one summary line per reason for the requests shed (or
    /// aggregated) since the last ones.
    fn summarise_shed(&mut self, admission: &Admission, since: &mut (Instant, OffsetDateTime)) {
        let until = OffsetDateTime::now_utc();
        for (why, count) in Shed::ALL.into_iter().zip(admission.take_shed()) {
            if count == 0 {
                continue;
            }
            let reason = match why {
                Shed::Pending => format!(
                    "shadow.max_pending ({}) mirrors already held",
                    admission.max()
                ),
                Shed::Bytes => format!(
                    "shadow.max_buffered_bytes ({}) already held",
                    admission.max_bytes()
                ),
                Shed::Unforwarded => format!(
                    "never sent to LexisNexis (refused, unreadable, or the client went away) past {UNFORWARDED_LINES_PER_SECOND} lines a second"
                ),
            };
            let line = pair::shed(
                uuid::Uuid::new_v4().to_string(),
                since.1,
                until,
                count,
                reason,
            );
            let written = pair::encode(&line)
                .map_err(io::Error::other)
                .and_then(|bytes| self.write(&bytes));
            match written {
                Ok(()) => self.report.shed += count,
                Err(err) => {
                    self.metrics.line_lost();
                    self.report.write_errors += 1;
                    tracing::error!(error = %err, shed = count, "shed summary not written; its count was lost");
                }
            }
        }
        *since = (Instant::now(), until);
    }

    fn write_line(&mut self, line: &[u8]) {
        match self.write(line) {
            Ok(()) => {
                self.report.lines_written += 1;
                self.metrics.line_written();
            }
            Err(err) => {
                self.metrics.line_lost();
                self.writable.store(false, Ordering::Relaxed);
                // Counted and logged; the writer keeps going for the next line.
                tracing::error!(error = %err, "shadow log write failed; a line was lost");
                self.report.write_errors += 1;
            }
        }
    }

    /// Writes one line, opening the target first if need be.
    fn write(&mut self, line: &[u8]) -> io::Result<()> {
        if self.out.is_none() {
            self.out = Some(open_target(&self.target).map_err(io::Error::other)?);
        }
        match &mut self.out {
            Some(out) => out.write_all(line),
            None => Err(io::Error::other("shadow log not open")),
        }
    }

    fn flush(&mut self) {
        match self.out.as_mut().map_or(Ok(()), Write::flush) {
            Ok(()) => self.writable.store(true, Ordering::Relaxed),
            Err(err) => {
                self.writable.store(false, Ordering::Relaxed);
                tracing::error!(error = %err, "shadow log flush failed");
                self.report.write_errors += 1;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(path: &std::path::Path) -> Result<(), String> {
        check_target(&LogTarget::File(path.to_owned())).map_err(|err| err.to_string())
    }

    #[test]
    fn the_check_finds_what_the_open_would_and_creates_nothing() {
        let dir = tempfile::tempdir().expect("tempdir");
        let new = dir.path().join("shadow.log");
        assert_eq!(check(&new), Ok(()));
        assert!(!new.exists(), "a missing log is not created by the check");

        std::fs::write(&new, b"kept\n").expect("write");
        assert_eq!(check(&new), Ok(()));
        assert_eq!(
            std::fs::read(&new).expect("read"),
            b"kept\n",
            "never truncated"
        );

        let nowhere = dir.path().join("nope").join("shadow.log");
        assert_eq!(
            check(&nowhere),
            Err(format!(
                "the directory {} does not exist",
                dir.path().join("nope").display()
            ))
        );
        assert_eq!(
            check(dir.path()),
            Err(format!(
                "{} is a directory, not a file",
                dir.path().display()
            ))
        );
        let under_a_file = new.join("shadow.log");
        assert_eq!(
            check(&under_a_file),
            Err(format!("{} is not a directory", new.display()))
        );
        assert_eq!(
            check_target(&LogTarget::Stdout).map_err(|e| e.to_string()),
            Ok(())
        );
    }
}
