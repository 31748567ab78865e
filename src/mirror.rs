//! The mirror: for each shadowed request, one background task that calls Socure, awaits the LexisNexis side, and writes the line.
//!
//! The forward path only spawns the task and gets back a
//! [`ResolutionReporter`]; it never awaits anything here. The task always
//! ends in exactly one line: the Socure call is bounded by its timeout, the
//! wait for the LexisNexis side by `resolution_wait`, and a side that cannot
//! be had is recorded as such rather than skipped.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::sync::oneshot;
use tokio_util::task::TaskTracker;

use crate::applicant;
use crate::pair::{self, ResolutionSide, SocureSide};
use crate::resolution::Exchange;
use crate::sink::SinkSender;
use crate::socure::SocureClient;
use crate::tap::ResolutionReporter;

/// What the tap could hand the mirror.
pub enum MirrorInput {
    /// The whole request body, as received.
    Body(Vec<Bytes>),
    /// Nothing to mirror, and why (never quoting the request).
    Skip(&'static str),
}

pub struct Mirror {
    socure: Arc<SocureClient>,
    sink: SinkSender,
    tasks: TaskTracker,
    workflow: String,
    resolution_wait: Duration,
}

impl Mirror {
    pub fn new(
        socure: SocureClient,
        sink: SinkSender,
        workflow: String,
        resolution_wait: Duration,
    ) -> Self {
        Self {
            socure: Arc::new(socure),
            sink,
            tasks: TaskTracker::new(),
            workflow,
            resolution_wait,
        }
    }

    /// The tasks in flight, for shutdown to wait on.
    pub fn tasks(&self) -> &TaskTracker {
        &self.tasks
    }

    /// Starts the mirror of one request at `path` (no query) and returns the
    /// handle through which the forward path reports the LexisNexis side.
    pub fn start(&self, path: String, input: MirrorInput) -> ResolutionReporter {
        let (tx, rx) = oneshot::channel();
        let socure = Arc::clone(&self.socure);
        let sink = self.sink.clone();
        let workflow = self.workflow.clone();
        let wait = self.resolution_wait;
        self.tasks.spawn(async move {
            // Parsing happens here, off the forward path.
            let applicant = match input {
                MirrorInput::Body(chunks) => {
                    applicant::parse(&chunks.concat()).map_err(|err| err.to_string())
                }
                MirrorInput::Skip(reason) => Err(reason.to_owned()),
            };
            let user_id = applicant.as_ref().ok().and_then(|a| a.user_uuid.clone());
            let socure_side = async {
                match &applicant {
                    Ok(applicant) => {
                        let started = Instant::now();
                        let call = socure.call(applicant).await;
                        SocureSide::Called {
                            call,
                            elapsed: started.elapsed(),
                        }
                    }
                    Err(reason) => SocureSide::NotSent {
                        reason: reason.clone(),
                    },
                }
            };
            let resolution_side = async {
                match tokio::time::timeout(wait, rx).await {
                    Ok(Ok(side)) => side,
                    // The reporter always sends before it drops; this is a backstop.
                    Ok(Err(_)) => ResolutionSide {
                        exchange: Exchange::ClientGone,
                        elapsed: None,
                    },
                    Err(_) => ResolutionSide {
                        exchange: Exchange::Abandoned,
                        elapsed: Some(wait),
                    },
                }
            };
            let (socure_side, resolution_side) = tokio::join!(socure_side, resolution_side);
            let line = pair::pair(path, user_id, &workflow, resolution_side, socure_side);
            if let Err(err) = sink.write(&line).await {
                tracing::error!(error = %err, line_id = %line.id, "shadow line not written");
            }
        });
        ResolutionReporter::new(tx)
    }
}
