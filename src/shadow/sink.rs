//! The shadow log: one writer thread owns it, writes one JSON line per shadowed request, flushes on close.
//!
//! Lines come from the pairing tasks, never from the forward path, so a full
//! channel makes a pairing task wait (a line is never dropped to save time);
//! the user's request is not affected. The writer is a plain thread doing
//! plain blocking writes: no runtime thread ever blocks on the disk, and no
//! line costs a hop through the blocking pool. It flushes whenever the
//! channel runs dry, so a line is on disk soon after it is paired, and on
//! close it writes every line already queued before it flushes and returns.

use std::fs::OpenOptions;
use std::io::{self, BufWriter, Write};
use std::path::PathBuf;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use serde::Serialize;
use tokio::sync::{mpsc, oneshot};

use crate::config::LogTarget;
use crate::ops::metrics::Metrics;

/// Lines waiting for the writer. Enough for a burst; beyond it pairing
/// tasks wait, which is the backpressure we want.
const CHANNEL_CAPACITY: usize = 4096;

#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    #[error("cannot open shadow log {}: {source}", path.display())]
    Open {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("cannot start the shadow log writer: {0}")]
    Thread(#[source] io::Error),
    #[error("shadow log is closed; a line was lost")]
    Closed,
    #[error("a shadow line could not be encoded: {0}")]
    Encode(#[from] serde_json::Error),
}

/// What travels to the writer, in order.
enum Message {
    Line(Vec<u8>),
    /// Everything before this is written; flush, report, stop.
    Close,
}

/// Cheap to clone; every pairing task holds one.
#[derive(Clone)]
pub struct SinkSender {
    tx: mpsc::Sender<Message>,
    writable: Arc<AtomicBool>,
}

impl SinkSender {
    /// False after a write failed, until one succeeds again (for `/readyz`).
    pub fn writable(&self) -> Arc<AtomicBool> {
        Arc::clone(&self.writable)
    }

    /// Encodes `line` and queues it. Waits only when the writer is behind.
    pub async fn write<T: Serialize>(&self, line: &T) -> Result<(), SinkError> {
        let mut bytes = serde_json::to_vec(line)?;
        bytes.push(b'\n');
        self.tx
            .send(Message::Line(bytes))
            .await
            .map_err(|_| SinkError::Closed)
    }
}

/// The writer; [`SinkTask::close`] drains, flushes and reports.
pub struct SinkTask {
    tx: mpsc::Sender<Message>,
    done: oneshot::Receiver<SinkReport>,
}

/// What the writer did over its life.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SinkReport {
    pub lines_written: u64,
    pub write_errors: u64,
}

impl SinkTask {
    /// Writes the lines already queued, flushes, and returns the counts.
    /// Lines sent after this are refused with [`SinkError::Closed`].
    pub async fn close(self) -> SinkReport {
        if self.tx.send(Message::Close).await.is_err() {
            tracing::error!("shadow log writer is gone");
        }
        self.done.await.unwrap_or_else(|_| {
            tracing::error!("shadow log writer stopped without a report");
            SinkReport::default()
        })
    }
}

/// Starts the writer. With `defer` false the target is opened now, so a bad
/// path stops the start instead of the first line; with `defer` true (shadow
/// mode off at start, maybe turned on later by a reload) it is opened with
/// the first line, so a proxy that never shadows leaves no file.
pub fn open(
    target: &LogTarget,
    metrics: Metrics,
    defer: bool,
) -> Result<(SinkSender, SinkTask), SinkError> {
    let out = if defer {
        None
    } else {
        Some(open_target(target)?)
    };
    let target = target.clone();
    let (tx, rx) = mpsc::channel(CHANNEL_CAPACITY);
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
            };
            let _ = done_tx.send(writer.run(rx));
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
    Ok(BufWriter::new(out))
}

/// The writer thread's state.
struct Writer<'a> {
    /// `None` until the first line when the open was deferred.
    out: Option<BufWriter<Box<dyn Write + Send>>>,
    target: LogTarget,
    metrics: &'a Metrics,
    writable: &'a AtomicBool,
}

impl Writer<'_> {
    fn run(mut self, rx: mpsc::Receiver<Message>) -> SinkReport {
        write_lines(&mut self, rx)
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

    fn flush(&mut self) -> io::Result<()> {
        self.out.as_mut().map_or(Ok(()), Write::flush)
    }
}

fn write_lines(writer: &mut Writer<'_>, mut rx: mpsc::Receiver<Message>) -> SinkReport {
    let mut report = SinkReport::default();
    while let Some(message) = rx.blocking_recv() {
        let Message::Line(line) = message else { break };
        match writer.write(&line) {
            Ok(()) => {
                report.lines_written += 1;
                writer.metrics.line_written();
            }
            Err(err) => {
                writer.metrics.line_lost();
                writer.writable.store(false, Ordering::Relaxed);
                // Counted and logged; the writer keeps going for the next line.
                tracing::error!(error = %err, "shadow log write failed; a line was lost");
                report.write_errors += 1;
            }
        }
        // Flush once the queue is empty: batches under load, promptness when
        // idle. Writability (for `/readyz`) follows what reached the target:
        // a write only fills the buffer.
        if rx.is_empty() {
            match writer.flush() {
                Ok(()) => writer.writable.store(true, Ordering::Relaxed),
                Err(err) => {
                    writer.writable.store(false, Ordering::Relaxed);
                    tracing::error!(error = %err, "shadow log flush failed");
                    report.write_errors += 1;
                }
            }
        }
    }
    rx.close();
    if let Err(err) = writer.flush() {
        tracing::error!(error = %err, "shadow log final flush failed");
        report.write_errors += 1;
    }
    report
}
