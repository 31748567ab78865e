//! The shadow log: one writer task owns it, writes one JSON line per shadowed request, flushes on close.
//!
//! Lines come from the pairing tasks, never from the forward path, so a full
//! channel makes a pairing task wait (a line is never dropped to save time);
//! the user's request is not affected. The writer flushes whenever the
//! channel runs dry, so a line is on disk soon after it is paired, and on
//! close it drains every line already sent before it flushes and returns.

use std::io;
use std::path::PathBuf;

use serde::Serialize;
use tokio::io::{AsyncWrite, AsyncWriteExt, BufWriter};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use crate::config::LogTarget;

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
    #[error("shadow log is closed; a line was lost")]
    Closed,
    #[error("a shadow line could not be encoded: {0}")]
    Encode(#[from] serde_json::Error),
}

/// Cheap to clone; every pairing task holds one.
#[derive(Clone)]
pub struct SinkSender {
    tx: mpsc::Sender<Vec<u8>>,
}

impl SinkSender {
    /// Encodes `line` and queues it. Waits only when the writer is behind.
    pub async fn write<T: Serialize>(&self, line: &T) -> Result<(), SinkError> {
        let mut bytes = serde_json::to_vec(line)?;
        bytes.push(b'\n');
        self.tx.send(bytes).await.map_err(|_| SinkError::Closed)
    }
}

/// The writer task; [`SinkTask::close`] drains, flushes and reports.
pub struct SinkTask {
    close: oneshot::Sender<()>,
    handle: JoinHandle<SinkReport>,
}

/// What the writer did over its life.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SinkReport {
    pub lines_written: u64,
    pub write_errors: u64,
}

impl SinkTask {
    /// Stops taking lines once those already queued are written, flushes,
    /// and returns the counts.
    pub async fn close(self) -> SinkReport {
        let _ = self.close.send(());
        self.handle.await.unwrap_or_else(|err| {
            tracing::error!(error = %err, "shadow log writer task failed");
            SinkReport::default()
        })
    }
}

/// Opens the target now, so a bad path stops the start instead of the first line.
pub async fn open(target: &LogTarget) -> Result<(SinkSender, SinkTask), SinkError> {
    let out: Box<dyn AsyncWrite + Send + Unpin> = match target {
        LogTarget::Stdout => Box::new(tokio::io::stdout()),
        LogTarget::File(path) => Box::new(
            tokio::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .await
                .map_err(|source| SinkError::Open {
                    path: path.clone(),
                    source,
                })?,
        ),
    };
    let (tx, rx) = mpsc::channel(CHANNEL_CAPACITY);
    let (close_tx, close_rx) = oneshot::channel();
    let handle = tokio::spawn(write_lines(BufWriter::new(out), rx, close_rx));
    Ok((
        SinkSender { tx },
        SinkTask {
            close: close_tx,
            handle,
        },
    ))
}

async fn write_lines(
    mut out: BufWriter<Box<dyn AsyncWrite + Send + Unpin>>,
    mut rx: mpsc::Receiver<Vec<u8>>,
    mut close: oneshot::Receiver<()>,
) -> SinkReport {
    let mut report = SinkReport::default();
    loop {
        let line = tokio::select! {
            line = rx.recv() => line,
            _ = &mut close => {
                // No new senders matter now; write what is already queued.
                rx.close();
                while let Some(line) = rx.recv().await {
                    write_one(&mut out, &line, &mut report).await;
                }
                break;
            }
        };
        let Some(line) = line else { break };
        write_one(&mut out, &line, &mut report).await;
        // Flush once the queue is empty: batches under load, promptness when idle.
        if rx.is_empty()
            && let Err(err) = out.flush().await
        {
            tracing::error!(error = %err, "shadow log flush failed");
            report.write_errors += 1;
        }
    }
    if let Err(err) = out.flush().await {
        tracing::error!(error = %err, "shadow log final flush failed");
        report.write_errors += 1;
    }
    report
}

async fn write_one(
    out: &mut BufWriter<Box<dyn AsyncWrite + Send + Unpin>>,
    line: &[u8],
    report: &mut SinkReport,
) {
    match out.write_all(line).await {
        Ok(()) => report.lines_written += 1,
        Err(err) => {
            // Counted and logged; the writer keeps going for the next line.
            tracing::error!(error = %err, "shadow log write failed; a line was lost");
            report.write_errors += 1;
        }
    }
}
