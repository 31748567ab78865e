//! The shadow log: one writer thread owns it, writes one JSON line per shadowed request and the shed summaries, counts a line written only once the kernel took all of it, reopens the file on request or when it is moved, flushes on close.
//!
//! Lines come from the pairing tasks, never from the forward path. Each line
//! travels with its request's admission [`Slot`], given back once the line is
//! written (or counted lost), so the channel never holds more than
//! `shadow.max_pending` lines and a send never waits or fails for room. The
//! writer is a plain thread doing plain blocking writes: no runtime thread
//! ever blocks on the disk. Every few milliseconds it writes whatever has
//! queued as one `write(2)`, so lines reach the disk in batches and nobody has
//! to wake the writer for a line. About once a second, and at close, it turns
//! the admission's shed count into one summary line; on close it writes every
//! line already queued and returns what it did.
//!
//! "Written" means on disk, whole: a line is counted written only when the
//! kernel accepted every byte of it. A write cut short (a full disk, a file
//! size limit) leaves part of a line: the file is cut back to the last whole
//! line, or, where it cannot be (a pipe), the next write starts with a
//! newline, so no line is ever glued to a broken one. A file found at open
//! with an unfinished last line gets the same newline. A summary line that
//! cannot be written gives its counts back, to be written with the next one.
//!
//! The log's health never takes the pod out of service (`/readyz` is the
//! data path's alone): it is the `shadow_log_writable` gauge, the stats line
//! and the lost-lines counter. logrotate's way is supported twice: a request
//! to reopen ([`LogReopen`]: SIGUSR1, and every SIGHUP), and a check once a
//! second that the path still names the file being written (renamed or
//! deleted: a new one is opened).

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender, TryRecvError, TrySendError};
use std::time::{Duration, Instant};

use serde::Serialize;
use strum::VariantArray;
use time::OffsetDateTime;
use tokio::sync::oneshot;

use crate::config::LogTarget;
use crate::judge::pair;
use crate::ops::metrics::Metrics;
use crate::shadow::admission::{Admission, NO_VERDICT_LINES_PER_SECOND, Shed, Slot};

/// How often the writer turns the shed count into a summary line (only
/// when something was shed).
const SHED_SUMMARY_EVERY: Duration = Duration::from_secs(1);
/// How often the writer looks whether the log's path still names the file
/// it writes: a rename or a delete is noticed within this.
const MOVED_CHECK_EVERY: Duration = Duration::from_secs(1);
/// How often the writer takes what is queued while lines keep coming. It
/// looks on a tick instead of blocking on the queue, so a pairing task that
/// queues a line never has to wake it (a wake-up per line cost more CPU than
/// writing the line). Lines reach the disk at most this late under load.
const DRAIN_TICK: Duration = Duration::from_millis(5);
/// When idle the writer looks less often, doubling its wait up to this.
const DRAIN_IDLE_TICK: Duration = Duration::from_millis(50);
/// A batch goes out in one write once it holds this much (or the queue is
/// empty): the writer's memory for lines stays near this, whatever queued.
const BATCH_BYTES: usize = 64 * 1024;

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
    /// Everything before this is written; report, stop.
    Close,
}

/// Cheap to clone; every pairing task holds one.
#[derive(Clone)]
pub struct SinkSender {
    tx: SyncSender<Message>,
    /// Lines refused by the queue (closed), for the writer's last report.
    refused: Arc<AtomicU64>,
}

impl SinkSender {
    /// Encodes `line` (as every line is, [`pair::encode`]) and queues it
    /// with its request's `slot`. Never waits: the queue has room for every
    /// slot. On an error the line is lost; the caller counts it.
    pub fn write<T: Serialize>(&self, line: &T, slot: Slot) -> Result<(), SinkError> {
        let bytes = pair::encode(line)?;
        self.tx.try_send(Message::Line(bytes, slot)).map_err(|err| {
            self.refused.fetch_add(1, Ordering::Relaxed);
            match err {
                TrySendError::Full(_) => SinkError::Full,
                TrySendError::Disconnected(_) => SinkError::Closed,
            }
        })
    }
}

/// Asks the writer to close the log and open its path again (logrotate's
/// `postrotate`): taken within one of the writer's ticks. Cheap to clone.
#[derive(Clone, Default)]
pub struct LogReopen(Arc<AtomicBool>);

impl LogReopen {
    pub fn request(&self) {
        self.0.store(true, Ordering::Release);
    }

    fn take(&self) -> bool {
        self.0.swap(false, Ordering::AcqRel)
    }
}

/// The writer; [`SinkTask::close`] drains, writes and reports.
pub struct SinkTask {
    tx: SyncSender<Message>,
    done: oneshot::Receiver<SinkReport>,
    reopen: LogReopen,
}

/// What the writer did over its life. Proofing lines written plus lost,
/// plus the requests in the summaries written and unwritten, are every
/// shadowed request the mirror took in or shed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SinkReport {
    /// Proofing lines whole on disk (one per admitted request).
    pub lines_written: u64,
    /// Proofing lines that are not: a write failed or was cut short, the
    /// log could not be opened, or the line came after the close.
    pub lines_lost: u64,
    /// Requests shed, as counted by the summary lines written.
    pub shed: u64,
    /// Requests shed whose summary line could not be written by the close.
    pub shed_unwritten: u64,
}

impl SinkReport {
    /// Whether anything meant for the log is not in it.
    pub fn lost_any(&self) -> bool {
        self.lines_lost > 0 || self.shed_unwritten > 0
    }
}

impl SinkTask {
    /// The handle that asks for a reopen.
    pub fn reopen(&self) -> LogReopen {
        self.reopen.clone()
    }

    /// Writes the lines already queued and the last shed summary, and
    /// returns the counts. Lines sent after this are refused with
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
    let reopen = LogReopen::default();
    let refused = Arc::new(AtomicU64::new(0));
    let writer = Writer::new(out, target, metrics, reopen.clone(), Arc::clone(&refused));
    std::thread::Builder::new()
        .name("shadow-log".into())
        .spawn(move || {
            crate::sys::lower_priority();
            let _ = done_tx.send(writer.run(&rx, &admission));
        })
        .map_err(SinkError::Thread)?;
    Ok((
        SinkSender {
            tx: tx.clone(),
            refused,
        },
        SinkTask { tx, done, reopen },
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

/// Where the lines go, with what cutting back a partial line needs.
trait Output: Send {
    /// One `write(2)`: how many bytes the kernel took.
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize>;
    /// The output's length now, when a partial line can be cut back to it
    /// (a regular file); `None` when it cannot (a pipe, a terminal, a device).
    fn len(&self) -> Option<u64>;
    fn truncate(&mut self, len: u64) -> io::Result<()>;
    /// Whether its path no longer names it (renamed or deleted).
    fn moved(&self) -> bool;
}

/// The log file, and which file it is, to notice when its path moves on.
struct LogFile {
    file: File,
    path: PathBuf,
    /// Device and inode at open; `None` for what is not a regular file
    /// (`/dev/full`, a FIFO), which nobody rotates.
    id: Option<(u64, u64)>,
}

impl Output for LogFile {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        self.file.write(bytes)
    }

    fn len(&self) -> Option<u64> {
        self.id?;
        self.file.metadata().ok().map(|meta| meta.len())
    }

    fn truncate(&mut self, len: u64) -> io::Result<()> {
        self.file.set_len(len)
    }

    fn moved(&self) -> bool {
        let Some(id) = self.id else {
            return false;
        };
        match std::fs::metadata(&self.path) {
            Ok(meta) => (meta.dev(), meta.ino()) != id,
            Err(err) => missing(&err),
        }
    }
}

struct Stdout(io::Stdout);

impl Output for Stdout {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        // `Stdout` is line-buffered: flushed at once, so what the write
        // returns is what reached the descriptor.
        let mut out = self.0.lock();
        let n = out.write(bytes)?;
        out.flush()?;
        Ok(n)
    }

    fn len(&self) -> Option<u64> {
        None
    }

    fn truncate(&mut self, _: u64) -> io::Result<()> {
        Err(io::ErrorKind::Unsupported.into())
    }

    fn moved(&self) -> bool {
        false
    }
}

/// Opens `target` for appending; the flag says its last line is unfinished
/// (a crash, or a full disk on an earlier run that could not cut it back).
fn open_target(target: &LogTarget) -> Result<(Box<dyn Output>, bool), SinkError> {
    let path = match target {
        LogTarget::Stdout => return Ok((Box::new(Stdout(io::stdout())), false)),
        LogTarget::File(path) => path,
    };
    let failed = |source| SinkError::Open {
        path: path.clone(),
        source,
    };
    let file = OpenOptions::new()
        .create(true)
        .append(true)
        .read(true)
        .open(path)
        .or_else(|_| {
            // Write-only files (and devices) are fine: the tail is only
            // looked at when it can be read.
            OpenOptions::new().create(true).append(true).open(path)
        })
        .map_err(failed)?;
    let meta = file.metadata().map_err(failed)?;
    let id = meta.is_file().then(|| (meta.dev(), meta.ino()));
    let torn = id.is_some() && meta.len() > 0 && !ends_with_newline(&file, meta.len());
    let out = LogFile {
        file,
        path: path.clone(),
        id,
    };
    Ok((Box::new(out), torn))
}

fn ends_with_newline(file: &File, len: u64) -> bool {
    let mut last = [0u8];
    // Unreadable: assume the best rather than add a blank line each start.
    file.read_at(&mut last, len - 1)
        .map_or(true, |n| n == 0 || last[0] == b'\n')
}

/// Lines taken from the queue and not yet written, with their slots.
#[derive(Default)]
struct Batch {
    bytes: Vec<u8>,
    /// Where each line ends in `bytes`.
    ends: Vec<usize>,
    slots: Vec<Slot>,
}

impl Batch {
    fn push(&mut self, line: &[u8], slot: Slot) {
        self.bytes.extend_from_slice(line);
        self.ends.push(self.bytes.len());
        self.slots.push(slot);
    }

    fn clear(&mut self) {
        self.bytes.clear();
        self.ends.clear();
        // The lines are written or counted lost: their requests no longer
        // hold the mirror.
        self.slots.clear();
    }
}

/// The writer thread's state.
struct Writer {
    /// `None` until the first line when the open was deferred, and after an
    /// open failed (each batch tries again).
    out: Option<Box<dyn Output>>,
    target: LogTarget,
    metrics: Metrics,
    /// The output's last line is unfinished: the next write starts with a
    /// newline.
    torn: bool,
    /// Whether the last write (or open) worked; a change is logged once.
    writable: bool,
    /// Proofing lines lost since the log last worked, for the recovery's log line.
    lost_while_unwritable: u64,
    reopen: LogReopen,
    refused: Arc<AtomicU64>,
    report: SinkReport,
}

impl Writer {
    fn new(
        out: Option<(Box<dyn Output>, bool)>,
        target: LogTarget,
        metrics: Metrics,
        reopen: LogReopen,
        refused: Arc<AtomicU64>,
    ) -> Self {
        let (out, torn) = match out {
            Some((out, torn)) => (Some(out), torn),
            None => (None, false),
        };
        metrics.log_writable(true);
        Self {
            out,
            target,
            metrics,
            torn,
            writable: true,
            lost_while_unwritable: 0,
            reopen,
            refused,
            report: SinkReport::default(),
        }
    }

    fn run(mut self, rx: &Receiver<Message>, admission: &Admission) -> SinkReport {
        let mut summarised = (Instant::now(), OffsetDateTime::now_utc());
        let mut looked = Instant::now();
        let mut wait = DRAIN_TICK;
        let mut batch = Batch::default();
        loop {
            if self.reopen.take() {
                self.reopen_now("asked to");
            } else if looked.elapsed() >= MOVED_CHECK_EVERY {
                looked = Instant::now();
                if self.out.as_ref().is_some_and(|out| out.moved()) {
                    self.reopen_now("its path names another file or none");
                }
            }
            // Everything already queued goes out in batches.
            let mut taken = 0usize;
            let mut closing = false;
            let mut gone = false;
            loop {
                match rx.try_recv() {
                    Ok(Message::Line(line, slot)) => {
                        batch.push(&line, slot);
                        taken += 1;
                        if batch.bytes.len() >= BATCH_BYTES {
                            self.write_batch(&mut batch);
                        }
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
            self.write_batch(&mut batch);
            let last = closing || gone;
            if last || summarised.0.elapsed() >= SHED_SUMMARY_EVERY {
                self.summarise_shed(admission, &mut summarised);
            }
            if last {
                break;
            }
            wait = if taken > 0 {
                DRAIN_TICK
            } else {
                (wait * 2).min(DRAIN_IDLE_TICK)
            };
            std::thread::sleep(wait);
        }
        // Whatever the last summary could not write stays unwritten.
        self.report.shed_unwritten = admission.take_shed().iter().sum();
        self.report.lines_lost += self.refused.swap(0, Ordering::Relaxed);
        self.report
    }

    /// Writes the batch's lines and counts each as written or lost.
    fn write_batch(&mut self, batch: &mut Batch) {
        if batch.ends.is_empty() {
            return;
        }
        let whole = self.write_lines(&batch.bytes, &batch.ends) as u64;
        let lost = batch.ends.len() as u64 - whole;
        self.report.lines_written += whole;
        self.report.lines_lost += lost;
        self.metrics.lines_written(whole);
        if lost > 0 {
            self.metrics.lines_lost(lost);
            self.lost_while_unwritable += lost;
        }
        batch.clear();
    }

    /// Writes one summary line per reason for the requests shed (or
    /// aggregated) since the last ones. A summary not written gives its
    /// count back, for the next one.
    fn summarise_shed(&mut self, admission: &Admission, since: &mut (Instant, OffsetDateTime)) {
        let until = OffsetDateTime::now_utc();
        let counts = admission.take_shed();
        let mut bytes = Vec::new();
        let mut ends = Vec::new();
        let mut reasons = Vec::new();
        for (why, count) in Shed::VARIANTS.iter().copied().zip(counts) {
            if count == 0 {
                continue;
            }
            let line = pair::shed(
                uuid::Uuid::new_v4().to_string(),
                since.1,
                until,
                count,
                shed_reason(why, admission),
            );
            match pair::encode(&line) {
                Ok(encoded) => {
                    bytes.extend_from_slice(&encoded);
                    ends.push(bytes.len());
                    reasons.push((why, count));
                }
                Err(err) => {
                    tracing::error!(error = %err, "shed summary not encoded; its count is kept");
                    admission.restore_shed(why, count);
                }
            }
        }
        let whole = self.write_lines(&bytes, &ends);
        for (i, (why, count)) in reasons.into_iter().enumerate() {
            if i < whole {
                self.report.shed += count;
            } else {
                admission.restore_shed(why, count);
            }
        }
        if whole == ends.len() {
            *since = (Instant::now(), until);
        }
    }

    /// Writes whole lines (`ends`: where each ends in `bytes`) and returns
    /// how many of them are now whole on the output. A line the output took
    /// only part of is cut back off, or, where it cannot be, the output is
    /// marked torn so the next line starts a line of its own.
    fn write_lines(&mut self, bytes: &[u8], ends: &[usize]) -> usize {
        if ends.is_empty() {
            return 0;
        }
        if self.out.is_none() && !self.open() {
            return 0;
        }
        let Some(out) = self.out.as_mut() else {
            return 0;
        };
        if self.torn {
            if let Err(err) = write_all(out.as_mut(), b"\n").1 {
                self.failed(&err);
                return 0;
            }
            self.torn = false;
        }
        let before = out.len();
        let (taken, failure) = write_all(out.as_mut(), bytes);
        let whole = ends.partition_point(|&end| end <= taken);
        let kept = whole.checked_sub(1).map_or(0, |i| ends[i]);
        if taken > kept {
            let cut = before.map(|len| out.truncate(len + kept as u64));
            if !matches!(cut, Some(Ok(()))) {
                self.torn = true;
            }
        }
        match failure {
            Err(err) => self.failed(&err),
            Ok(()) => self.worked(),
        }
        whole
    }

    fn failed(&mut self, err: &io::Error) {
        if self.writable {
            self.writable = false;
            self.metrics.log_writable(false);
            // Once per outage: a full disk under load would otherwise log a
            // line per lost line.
            tracing::error!(
                error = %crate::error::io_reason(err),
                "shadow log cannot be written: lines are counted lost (shadow_lines_lost_total) until it can; forwarding goes on"
            );
        }
    }

    fn worked(&mut self) {
        if !self.writable {
            self.writable = true;
            self.metrics.log_writable(true);
            tracing::warn!(
                lost = self.lost_while_unwritable,
                "shadow log writable again"
            );
            self.lost_while_unwritable = 0;
        }
    }

    /// Closes the output and opens its path again (a file only).
    fn reopen_now(&mut self, why: &str) {
        if matches!(self.target, LogTarget::Stdout) {
            return;
        }
        self.out = None;
        if self.open() {
            tracing::info!("shadow log reopened ({why})");
        }
    }

    /// Opens the target in place of any output: whether it worked (if not,
    /// counted as a failed write, and tried again with the next batch). A
    /// new file is torn only if its own last line is unfinished.
    fn open(&mut self) -> bool {
        match open_target(&self.target) {
            Ok((out, torn)) => {
                self.out = Some(out);
                self.torn = torn;
                true
            }
            Err(err) => {
                self.failed(&io::Error::other(err));
                false
            }
        }
    }
}

/// Writes as much of `bytes` as the output takes: how much it took, and why
/// it stopped short.
fn write_all(out: &mut dyn Output, bytes: &[u8]) -> (usize, io::Result<()>) {
    let mut taken = 0;
    while taken < bytes.len() {
        match out.write(&bytes[taken..]) {
            Ok(0) => return (taken, Err(io::ErrorKind::WriteZero.into())),
            Ok(n) => taken += n,
            Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
            Err(err) => return (taken, Err(err)),
        }
    }
    (taken, Ok(()))
}

/// The summary line's words for why its requests have no line of their own.
fn shed_reason(why: Shed, admission: &Admission) -> String {
    match why {
        Shed::Pending => format!(
            "shadow.max_pending ({}) mirrors already held",
            admission.max()
        ),
        Shed::Bytes => format!(
            "shadow.max_buffered_bytes ({}) already held",
            admission.max_bytes()
        ),
        Shed::NoVerdict => format!(
            "no verdict from either vendor (the request was refused, unreadable, or its client went away first) past {NO_VERDICT_LINES_PER_SECOND} lines a second for the process"
        ),
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::sync::Mutex;

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

    /// A disk with `room` bytes left: a write past it is cut short, then
    /// refused with "no space left". `seekable` false makes it a pipe,
    /// which cannot be cut back.
    #[derive(Clone)]
    struct Disk {
        data: Arc<Mutex<Vec<u8>>>,
        room: Arc<Mutex<usize>>,
        seekable: bool,
    }

    impl Disk {
        fn new(room: usize, seekable: bool) -> Self {
            Self {
                data: Arc::default(),
                room: Arc::new(Mutex::new(room)),
                seekable,
            }
        }

        fn contents(&self) -> String {
            String::from_utf8(self.data.lock().expect("lock").clone()).expect("utf-8")
        }

        fn free(&self, bytes: usize) {
            *self.room.lock().expect("lock") += bytes;
        }
    }

    impl Output for Disk {
        fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
            let mut room = self.room.lock().expect("lock");
            if *room == 0 {
                return Err(io::Error::from_raw_os_error(libc::ENOSPC));
            }
            let n = bytes.len().min(*room);
            *room -= n;
            self.data
                .lock()
                .expect("lock")
                .extend_from_slice(&bytes[..n]);
            Ok(n)
        }

        fn len(&self) -> Option<u64> {
            self.seekable
                .then(|| self.data.lock().expect("lock").len() as u64)
        }

        fn truncate(&mut self, len: u64) -> io::Result<()> {
            let mut data = self.data.lock().expect("lock");
            let len = usize::try_from(len).expect("small");
            *self.room.lock().expect("lock") += data.len() - len;
            data.truncate(len);
            Ok(())
        }

        fn moved(&self) -> bool {
            false
        }
    }

    fn writer_on(disk: &Disk) -> Writer {
        Writer::new(
            Some((Box::new(disk.clone()), false)),
            LogTarget::Stdout,
            Metrics::new(),
            LogReopen::default(),
            Arc::default(),
        )
    }

    /// Queues `lines` (each gets its newline) as one batch and writes it.
    fn write(writer: &mut Writer, admission: &Arc<Admission>, lines: &[&str]) {
        let mut batch = Batch::default();
        for line in lines {
            let slot = admission.try_admit(0).expect("a slot");
            batch.push(format!("{line}\n").as_bytes(), slot);
        }
        writer.write_batch(&mut batch);
        assert_eq!(admission.held(), 0, "every slot given back");
    }

    #[test]
    fn a_line_cut_short_by_a_full_disk_is_cut_back_and_counted_lost() {
        let admission = Admission::new(16, 1 << 20);
        // Room for the first line and half of the second.
        let disk = Disk::new(10, true);
        let mut writer = writer_on(&disk);
        write(
            &mut writer,
            &admission,
            &["{\"a\":1}", "{\"b\":22}", "{\"c\":3}"],
        );
        assert_eq!(disk.contents(), "{\"a\":1}\n", "only whole lines remain");
        assert_eq!(
            (writer.report.lines_written, writer.report.lines_lost),
            (1, 2)
        );
        assert!(!writer.writable);
        // Space comes back: the next line starts where the whole ones end.
        disk.free(100);
        write(&mut writer, &admission, &["{\"d\":4}"]);
        assert_eq!(disk.contents(), "{\"a\":1}\n{\"d\":4}\n");
        assert_eq!(
            (writer.report.lines_written, writer.report.lines_lost),
            (2, 2)
        );
        assert!(writer.writable);
    }

    #[test]
    fn where_a_partial_line_cannot_be_cut_back_the_next_line_starts_a_line_of_its_own() {
        let admission = Admission::new(16, 1 << 20);
        let pipe = Disk::new(12, false);
        let mut writer = writer_on(&pipe);
        write(&mut writer, &admission, &["{\"a\":1}", "{\"b\":22}"]);
        assert_eq!(pipe.contents(), "{\"a\":1}\n{\"b\"");
        pipe.free(100);
        write(&mut writer, &admission, &["{\"c\":3}"]);
        assert_eq!(pipe.contents(), "{\"a\":1}\n{\"b\"\n{\"c\":3}\n");
        assert_eq!(
            (writer.report.lines_written, writer.report.lines_lost),
            (2, 1),
            "the broken line is not counted written"
        );
    }

    #[test]
    fn a_shed_summary_that_cannot_be_written_keeps_its_count_for_the_next() {
        let admission = Admission::new(1, 1 << 20);
        let _held = admission.try_admit(0).expect("the one slot");
        assert!(admission.try_admit(0).is_none());
        assert!(admission.try_admit(0).is_none());
        let disk = Disk::new(0, true);
        let mut writer = writer_on(&disk);
        let mut since = (Instant::now(), OffsetDateTime::now_utc());
        writer.summarise_shed(&admission, &mut since);
        assert_eq!(writer.report.shed, 0);
        assert_eq!(disk.contents(), "");
        disk.free(10_000);
        writer.summarise_shed(&admission, &mut since);
        assert_eq!(writer.report.shed, 2, "both sheds, in the next summary");
        let line: serde_json::Value =
            serde_json::from_str(disk.contents().trim_end()).expect("one whole JSON line");
        assert_eq!(line["properties"]["event_properties"]["shed_count"], 2);
        assert_eq!(admission.take_shed(), [0, 0, 0]);
    }

    fn open_file(path: &Path) -> Writer {
        let target = LogTarget::File(path.to_owned());
        let out = open_target(&target).expect("opens");
        Writer::new(
            Some(out),
            target,
            Metrics::new(),
            LogReopen::default(),
            Arc::default(),
        )
    }

    #[test]
    fn a_file_left_with_an_unfinished_line_gets_a_newline_before_the_first_new_line() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("shadow.log");
        std::fs::write(&path, "{\"whole\":1}\n{\"cut sho").expect("write");
        let admission = Admission::new(4, 1 << 20);
        let mut writer = open_file(&path);
        write(&mut writer, &admission, &["{\"new\":2}"]);
        assert_eq!(
            std::fs::read_to_string(&path).expect("read"),
            "{\"whole\":1}\n{\"cut sho\n{\"new\":2}\n"
        );
        // A file that ends well gets nothing extra.
        let mut writer = open_file(&path);
        write(&mut writer, &admission, &["{\"next\":3}"]);
        assert!(
            std::fs::read_to_string(&path)
                .expect("read")
                .ends_with("{\"new\":2}\n{\"next\":3}\n")
        );
    }

    #[test]
    fn a_renamed_or_deleted_log_is_noticed_and_opened_again_at_its_path() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("shadow.log");
        let admission = Admission::new(4, 1 << 20);
        let mut writer = open_file(&path);
        write(&mut writer, &admission, &["{\"one\":1}"]);
        let rotated = dir.path().join("shadow.log.1");
        std::fs::rename(&path, &rotated).expect("rename");
        assert!(writer.out.as_ref().is_some_and(|out| out.moved()));
        writer.reopen_now("test");
        write(&mut writer, &admission, &["{\"two\":2}"]);
        assert_eq!(
            std::fs::read_to_string(&rotated).expect("read"),
            "{\"one\":1}\n"
        );
        assert_eq!(
            std::fs::read_to_string(&path).expect("read"),
            "{\"two\":2}\n"
        );

        std::fs::remove_file(&path).expect("delete");
        assert!(writer.out.as_ref().is_some_and(|out| out.moved()));
        writer.reopen_now("test");
        write(&mut writer, &admission, &["{\"three\":3}"]);
        assert_eq!(
            std::fs::read_to_string(&path).expect("read"),
            "{\"three\":3}\n"
        );
        assert!(!writer.out.as_ref().is_some_and(|out| out.moved()));
    }

    #[test]
    fn every_write_to_a_full_device_is_counted_lost() {
        let admission = Admission::new(4, 1 << 20);
        let mut writer = open_file(Path::new("/dev/full"));
        write(&mut writer, &admission, &["{\"a\":1}", "{\"b\":2}"]);
        assert_eq!(
            (writer.report.lines_written, writer.report.lines_lost),
            (0, 2)
        );
        assert!(!writer.writable);
        assert!(
            !writer.out.as_ref().is_some_and(|out| out.moved()),
            "a device is never rotated"
        );
    }
}
