//! The shadow side as one component: built from the config (its door, its log, its runtime, its mirror), it gives the data path its tickets and shutdown its mirror and its log.

use std::sync::Arc;

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
        // One worker is plenty for the mirrors (they mostly wait), and keeps
        // them from taking the forward path's workers.
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("shadow-mirror")
            .on_thread_start(sys::lower_priority)
            .enable_all()
            .build()
            .map_err(SideError::Runtime)?;
        let mirror = Mirror::new(
            config,
            MirrorParts {
                runtime: runtime.handle().clone(),
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
            runtime: MirrorRuntime(Some(runtime)),
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

/// The mirrors' runtime, shut down without blocking when dropped: at the
/// end of a run, or if the serving task is itself dropped (a runtime dropped
/// plainly inside async code panics).
pub struct MirrorRuntime(Option<tokio::runtime::Runtime>);

impl Drop for MirrorRuntime {
    fn drop(&mut self) {
        if let Some(runtime) = self.0.take() {
            runtime.shutdown_background();
        }
    }
}
