//! The shadow side as one component: built from the config (its door, its log, its runtime, its mirror), it gives the data path its tickets and shutdown its mirror and its log.

use std::sync::Arc;

use tokio::sync::oneshot;

use crate::config::Config;
use crate::ops::live::Live;
use crate::ops::metrics::{Metrics, MirrorLoad};
use crate::shadow::admission::Admission;
use crate::shadow::fleet::FleetUse;
use crate::shadow::mirror::{Mirror, MirrorParts};
use crate::shadow::sink::{self, LogReopen, SinkError, SinkTask};
use crate::shadow::socure_client::SocureClient;
use crate::shadow::ticket::Tickets;
use crate::sys;

/// Why the shadow side could not be built.
#[derive(Debug, thiserror::Error)]
pub enum SideError {
    /// `shadow.log_path` cannot be opened (or made); the start names that key.
    #[error(transparent)]
    Log(#[from] SinkError),
    #[error("cannot start the mirror runtime: {0}")]
    Runtime(#[source] std::io::Error),
}

/// What the shadow side is built from besides the config: what the
/// preflight made, and what the process shares.
pub struct SideParts {
    pub socure: SocureClient,
    pub fleet: Option<FleetUse>,
    pub metrics: Metrics,
    pub live: Arc<Live>,
}

/// A built shadow side, until shutdown.
pub struct ShadowSide {
    pub mirror: Mirror,
    pub sink: SinkTask,
    /// Dropped last: at the end of a run, every mirror has written its line.
    pub runtime: MirrorRuntime,
}

impl ShadowSide {
    /// The door, the shadow log (opened now, unless shadow mode starts off:
    /// then on the first line), the mirrors' runtime, and the mirror; and
    /// the tickets the data path takes from it.
    pub fn build(config: &Config, parts: SideParts) -> Result<(Self, Tickets), SideError> {
        let SideParts {
            socure,
            fleet,
            metrics,
            live,
        } = parts;
        let shadow = &config.shadow;
        let admission = Admission::new(shadow.max_pending, shadow.max_buffered_bytes);
        probe_load(&metrics, &admission);
        let (sink, sink_task) = sink::open(
            &shadow.log_path,
            metrics.clone(),
            Arc::clone(&admission),
            !shadow.enabled,
        )?;
        let (runtime, handle) = MirrorRuntime::start()?;
        let mirror = Mirror::new(
            config,
            MirrorParts {
                runtime: handle,
                admission,
                socure,
                sink,
                metrics,
                live: Arc::clone(&live),
                fleet,
            },
        );
        let tickets = Tickets::new(config, mirror.clone(), live);
        let side = Self {
            mirror,
            sink: sink_task,
            runtime,
        };
        Ok((side, tickets))
    }

    /// Asks the shadow log's writer to reopen its file.
    pub fn log_reopen(&self) -> LogReopen {
        self.sink.reopen()
    }
}

/// The door's load, for the metrics.
fn probe_load(metrics: &Metrics, admission: &Arc<Admission>) {
    let probed = Arc::clone(admission);
    metrics.probe_mirror_load(move || MirrorLoad {
        held: probed.held(),
        peak: probed.peak(),
        max: probed.max(),
        bytes: probed.bytes(),
        bytes_peak: probed.bytes_peak(),
        max_bytes: probed.max_bytes(),
    });
}

/// The mirrors' runtime: tokio's current_thread scheduler, driven by one
/// thread of its own at idle priority, and shut down without blocking when
/// dropped: at the end of a run, or if the serving task is itself dropped
/// (a runtime dropped plainly inside async code panics).
///
/// One thread is plenty for the mirrors (they mostly wait), and keeps them
/// from taking the forward path's workers. The current_thread scheduler
/// rather than a one-worker multi-thread runtime: the same one thread and
/// the same wake-ups, without the work-stealing scheduler's bookkeeping
/// around each task's poll and each park (callgrind, benches/instructions.sh
/// shadow on: the scheduler's own instructions on the mirror thread, 5,900
/// per shadowed request against 7,200).
pub struct MirrorRuntime {
    /// Dropped (or sent) to stop the thread: it then shuts the runtime down
    /// itself, on its own thread.
    stop: Option<oneshot::Sender<()>>,
}

impl MirrorRuntime {
    /// Starts the mirrors' thread; the handle spawns onto it.
    fn start() -> Result<(Self, tokio::runtime::Handle), SideError> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            // For the runtime's blocking threads (getaddrinfo for the Socure host):
            // named and lowered as the mirrors' thread is.
            .thread_name("shadow-mirror")
            .on_thread_start(sys::lower_priority)
            .enable_all()
            .build()
            .map_err(SideError::Runtime)?;
        let handle = runtime.handle().clone();
        let (stop, stopped) = oneshot::channel::<()>();
        std::thread::Builder::new()
            .name("shadow-mirror".into())
            .spawn(move || {
                sys::lower_priority();
                // Either way (sent or dropped) the run is over.
                let _ = runtime.block_on(stopped);
                // Tasks still there are dropped; a DNS lookup still running
                // on a blocking thread is not waited for.
                runtime.shutdown_background();
            })
            .map_err(SideError::Runtime)?;
        Ok((Self { stop: Some(stop) }, handle))
    }
}

impl Drop for MirrorRuntime {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            // The thread may be gone already; then there is nothing to stop.
            let _ = stop.send(());
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    /// Drops its sender when the task holding it is dropped.
    struct OnDrop(Option<oneshot::Sender<()>>);

    impl Drop for OnDrop {
        fn drop(&mut self) {
            if let Some(tx) = self.0.take() {
                let _ = tx.send(());
            }
        }
    }

    #[tokio::test]
    async fn mirrors_run_on_their_idle_thread_and_stop_when_dropped_in_async_code() {
        let (runtime, handle) = MirrorRuntime::start().expect("the mirror runtime starts");
        let (started_tx, started) = oneshot::channel();
        let (dropped_tx, dropped) = oneshot::channel();
        handle.spawn(async move {
            let _guard = OnDrop(Some(dropped_tx));
            // SAFETY: sched_getscheduler only reads the calling thread's policy.
            let policy = unsafe { libc::sched_getscheduler(0) };
            let name = std::thread::current().name().map(str::to_owned);
            let _ = started_tx.send((name, policy));
            std::future::pending::<()>().await;
        });
        let (name, policy) = tokio::time::timeout(Duration::from_secs(10), started)
            .await
            .expect("the task runs in time")
            .expect("the task runs");
        assert_eq!(name.as_deref(), Some("shadow-mirror"));
        assert_eq!(
            policy,
            libc::SCHED_IDLE,
            "the mirrors yield to the forward path"
        );
        // Inside async code, as at the end of a run: neither blocks nor panics.
        drop(runtime);
        tokio::time::timeout(Duration::from_secs(10), dropped)
            .await
            .expect("the runtime stops and drops its tasks in time")
            .expect("the task was dropped");
    }
}
