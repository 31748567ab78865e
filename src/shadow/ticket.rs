//! The data path's one handle on the shadow side: a ticket taken at the door for one shadowed request, which carries the request's copy to its mirror and the answer's copy back, and whose drop decides line or count.
//!
//! The data path calls a ticket at named phases, and nothing else of the
//! shadow side: [`Tickets::take`] at the door (shadowed or not, admitted or
//! shed), [`Ticket::request_read`] once the body is read (the mirror starts
//! here, off the forward path), [`Ticket::sending`] right before the upstream
//! send, [`Ticket::answer_data`] for each frame of the answer, and one of
//! [`Ticket::answered`] or [`Ticket::not_forwarded`] at the end. A ticket
//! dropped without an end (the client went away, the request's handling
//! panicked) still ends in its one line, or, when that line would say nothing
//! of either vendor, in a count within the no-verdict rate. Nothing here
//! waits: every step is an atomic or a queue that never blocks.

use std::sync::Arc;
use std::time::Instant;

use bytes::{Bytes, BytesMut};
use http::{HeaderMap, Method};

use crate::body;
use crate::config::Config;
use crate::judge::pair::ResolutionSide;
use crate::judge::resolution::Exchange;
use crate::ops::live::Live;
use crate::ops::metrics::Route;
use crate::shadow::admission::{Charge, Slot};
use crate::shadow::mirror::Mirror;
use crate::shadow::selection;

/// How much of an answer is kept for judging. InstantVerify answers are a few
/// KiB; a bigger one is passed through whole and logged as too large to judge.
/// Each admitted request may hold this much (docs/limits.md, "The whole process").
pub const ANSWER_COPY_LIMIT: usize = 256 * 1024;

/// Where the data path takes its tickets: which requests are shadowed, and
/// the mirror's door.
pub struct Tickets {
    mirror: Mirror,
    /// The InstantVerify workflow whose requests are shadowed.
    workflow: String,
    /// Request bytes held for the mirror (`shadow.max_body_bytes`).
    max_body_bytes: usize,
    live: Arc<Live>,
}

impl Tickets {
    pub fn new(config: &Config, mirror: Mirror, live: Arc<Live>) -> Self {
        Self {
            mirror,
            workflow: config.shadow.instant_verify_workflow.clone(),
            max_body_bytes: config.shadow.max_body_bytes,
            live,
        }
    }

    /// The door, for a request with this head: a ticket when it is an
    /// InstantVerify call, shadow mode is on and the mirror has room;
    /// otherwise how it goes through without one. One atomic load for the
    /// switch: a reload can turn shadow mode on or off between two requests,
    /// never in the middle of one.
    pub fn take(
        &self,
        method: &Method,
        path: &str,
        headers: &HeaderMap,
    ) -> (Route, Option<Ticket>) {
        self.take_declared(method, path, body::declared_length(headers))
    }

    /// [`Tickets::take`] for a head whose body length is already known
    /// (`declared`, from its `Content-Length`).
    pub fn take_declared(
        &self,
        method: &Method,
        path: &str,
        declared: Option<u64>,
    ) -> (Route, Option<Ticket>) {
        if !(self.live.current().shadow_enabled && is_instant_verify(method, path, &self.workflow))
        {
            return (Route::Passthrough, None);
        }
        // Without a slot the request is shed (counted) and goes through as
        // if shadow mode were off, so an overload never queues mirror work
        // or holds its body.
        match self.mirror.admit(self.reserve_for(declared)) {
            Some(slot) => (
                Route::Shadowed,
                Some(Ticket {
                    mirror: self.mirror.clone(),
                    path: path.to_owned(),
                    body_limit: self.max_body_bytes,
                    stage: Stage::AtDoor(slot),
                    started: Instant::now(),
                    answer: None,
                }),
            ),
            None => (Route::Shed, None),
        }
    }

    /// The bytes a shadowed request's body may hold for the mirror, reserved
    /// at the door: its declared length, up to `shadow.max_body_bytes`
    /// (all of it when the length is not declared).
    fn reserve_for(&self, declared: Option<u64>) -> usize {
        let max = self.max_body_bytes;
        declared.map_or(max, |n| usize::try_from(n).unwrap_or(max).min(max))
    }
}

/// Whether a request is an InstantVerify call to shadow:
/// `POST /restws/identity/v2/{account}/{workflow}/conversation` with the
/// configured workflow.
pub fn is_instant_verify(method: &Method, path: &str, workflow: &str) -> bool {
    if method != Method::POST || workflow.is_empty() {
        return false;
    }
    let Some(rest) = path.strip_prefix("/restws/identity/v2/") else {
        return false;
    };
    let mut segments = rest.split('/');
    matches!(
        (segments.next(), segments.next(), segments.next(), segments.next()),
        (Some(account), Some(wf), Some("conversation"), None) if !account.is_empty() && wf == workflow
    )
}

/// One shadowed request's place in the mirror, from the door to its line.
pub struct Ticket {
    mirror: Mirror,
    /// The request's path (never its query: that could carry anything).
    path: String,
    body_limit: usize,
    stage: Stage,
    /// From the upstream send ([`Ticket::sending`]): LexisNexis's time.
    started: Instant,
    /// The copy of the answer, once its head came.
    answer: Option<AnswerCopy>,
}

enum Stage {
    /// Admitted; the mirror not started yet (the body is being read).
    AtDoor(Slot),
    /// The mirror runs and awaits the LexisNexis side here.
    Started(tokio::sync::oneshot::Sender<ResolutionSide>),
    /// The side was given.
    Ended,
}

/// A copy of an answer as it goes by, and its reservation in the mirror's
/// byte budget, which it stops growing past (the copy is then not judged).
struct AnswerCopy {
    status: u16,
    content_type: Option<String>,
    seen: BytesMut,
    truncated: bool,
    charge: Option<Charge>,
}

/// A copy and its reservation, freed together.
struct ChargedCopy {
    copy: BytesMut,
    _charge: Option<Charge>,
}

impl AsRef<[u8]> for ChargedCopy {
    fn as_ref(&self) -> &[u8] {
        &self.copy
    }
}

impl Ticket {
    /// How many request bytes the mirror takes: a larger body is forwarded
    /// but not mirrored.
    pub fn body_limit(&self) -> usize {
        self.body_limit
    }

    /// The request body is read: the mirror starts, with the whole body
    /// (`None`: it was larger than [`Ticket::body_limit`]).
    pub fn request_read(&mut self, whole: Option<Vec<u8>>) {
        let body = whole.ok_or_else(|| "request body larger than shadow.max_body_bytes".to_owned());
        self.start(body);
    }

    /// The request is about to go upstream: LexisNexis's clock starts.
    pub fn sending(&mut self) {
        self.started = Instant::now();
    }

    /// The answer's head came: its copy starts.
    pub fn answer_head(&mut self, status: u16, content_type: Option<String>) {
        self.answer = Some(AnswerCopy {
            status,
            content_type,
            seen: BytesMut::new(),
            truncated: false,
            charge: Some(self.mirror.charge()),
        });
    }

    /// One frame of the answer went by: kept, up to [`ANSWER_COPY_LIMIT`]
    /// and the mirror's byte budget.
    pub fn answer_data(&mut self, data: &[u8]) {
        let Some(copy) = self.answer.as_mut().filter(|copy| !copy.truncated) else {
            return;
        };
        let fits = copy.seen.len() + data.len() <= ANSWER_COPY_LIMIT
            && copy.charge.as_mut().is_none_or(|c| c.grow(data.len()));
        if fits {
            copy.seen.extend_from_slice(data);
        } else {
            // Once cut, the copy is not judged: free it now.
            copy.truncated = true;
            copy.seen = BytesMut::new();
            copy.charge = None;
        }
    }

    /// The answer's body ended: its copy goes to the mirror.
    pub fn answered(mut self) {
        let exchange = match self.answer.take() {
            Some(copy) => Exchange::Answered {
                status: copy.status,
                content_type: copy.content_type,
                body: Bytes::from_owner(ChargedCopy {
                    copy: copy.seen,
                    _charge: copy.charge,
                }),
                truncated: copy.truncated,
            },
            None => Exchange::UpstreamFailed,
        };
        // The body is read before anything goes upstream, so the mirror has
        // started by now; the reason is for the line if it somehow had not.
        self.end(exchange, || {
            "the request body was not read for the mirror".into()
        });
    }

    /// The request was answered by the proxy, not by LexisNexis (or the
    /// answer broke off): `exchange` says how, `why` is the line's reason
    /// for not mirroring when the mirror had not started yet.
    pub fn not_forwarded(mut self, exchange: Exchange, why: String) {
        self.end(exchange, || why);
    }

    fn start(&mut self, body: Result<Vec<u8>, String>) {
        if let Stage::AtDoor(slot) = std::mem::replace(&mut self.stage, Stage::Ended) {
            let tx = self
                .mirror
                .start(slot, std::mem::take(&mut self.path), body, false);
            self.stage = Stage::Started(tx);
        }
    }

    /// Gives the mirror its LexisNexis side, once. A ticket still at the
    /// door has no mirror yet, and Socure will not be called for it: unless
    /// LexisNexis was reached its line would carry no verdict, so within the
    /// no-verdict rate its mirror starts only to write that line (saying
    /// `why` there was nothing to mirror), and past the rate the request is
    /// counted in the summary line instead and its slot goes back now.
    fn end(&mut self, exchange: Exchange, why: impl FnOnce() -> String) {
        match std::mem::replace(&mut self.stage, Stage::Ended) {
            Stage::AtDoor(slot) => {
                let no_verdict = selection::no_verdict(&exchange, false);
                if no_verdict && !self.mirror.line_for_no_verdict() {
                    self.mirror.counted_at_door();
                    drop(slot);
                    return;
                }
                let path = std::mem::take(&mut self.path);
                let tx = self.mirror.start(slot, path, Err(why()), no_verdict);
                self.mirror.report(tx, self.side(exchange));
            }
            Stage::Started(tx) => self.mirror.report(tx, self.side(exchange)),
            Stage::Ended => {}
        }
    }

    /// Timed here, on the forward path: the hand-off delay is not LexisNexis's.
    fn side(&self, exchange: Exchange) -> ResolutionSide {
        let elapsed = exchange.reached_upstream().then(|| self.started.elapsed());
        ResolutionSide { exchange, elapsed }
    }
}

impl Drop for Ticket {
    /// Dropped without an end: the client went away before the answer was
    /// through, or the request's handling panicked (then the line says so
    /// rather than blame the client).
    fn drop(&mut self) {
        let exchange = if std::thread::panicking() {
            Exchange::InternalError
        } else {
            Exchange::ClientGone
        };
        self.end(exchange, || {
            if std::thread::panicking() {
                "the request's handling failed before its body was read".into()
            } else {
                "the client went away before its request body was read".into()
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::ops::metrics::Metrics;
    use crate::preflight;
    use crate::shadow::admission::NO_VERDICT_LINES_PER_SECOND;
    use crate::shadow::side::{ShadowSide, SideParts};

    const PATH: &str = "/restws/identity/v2/test_account/fake.wf/conversation";

    /// A real shadow side writing to `log`, whose Socure is never called
    /// (no ticket here reads a body).
    fn side(log: &Path) -> (ShadowSide, Tickets) {
        let toml = format!(
            "[upstream]\nbase_url = \"http://127.0.0.1:9\"\n\
             [socure]\nbase_url = \"http://127.0.0.1:9\"\n\
             [shadow]\nenabled = true\ninstant_verify_workflow = \"fake.wf\"\nlog_path = {:?}\n",
            log.display().to_string()
        );
        let env: std::collections::HashMap<String, String> =
            [("SOCURE_IDPLUS_API_KEY".to_owned(), "fake-key".to_owned())].into();
        let config = Config::from_toml(&toml, &env).expect("a valid config");
        let checked = preflight::check(config).expect("passes the preflight");
        let config = checked.config().clone();
        let parts = SideParts {
            socure: checked.socure.expect("a Socure client"),
            fleet: None,
            metrics: Metrics::new(),
            live: Arc::new(Live::new(config.live())),
        };
        ShadowSide::build(&config, parts).expect("builds")
    }

    /// Every line in the log once the side has shut down, as JSON.
    async fn lines_after_shutdown(side: ShadowSide, log: &Path) -> Vec<serde_json::Value> {
        tokio::time::timeout(std::time::Duration::from_secs(10), side.mirror.drained())
            .await
            .expect("every mirror wrote its line");
        side.sink.close().await;
        std::fs::read_to_string(log)
            .expect("the log")
            .lines()
            .map(|line| serde_json::from_str(line).expect("a JSON line"))
            .collect()
    }

    fn ticket(tickets: &Tickets) -> Ticket {
        let (route, ticket) = tickets.take(&Method::POST, PATH, &HeaderMap::new());
        assert!(matches!(route, Route::Shadowed));
        ticket.expect("admitted")
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_ticket_dropped_by_a_panic_says_internal_error_not_client_gone() {
        let dir = tempfile::tempdir().expect("a temp dir");
        let log = dir.path().join("shadow.log");
        let (side, tickets) = side(&log);
        let at_door = ticket(&tickets);
        let mut started = ticket(&tickets);
        started.request_read(None);
        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || {
            let _held = (at_door, started);
            panic!("forced panic while tickets are held");
        }));
        let mut gone = ticket(&tickets);
        gone.request_read(None);
        drop(gone);
        let lines = lines_after_shutdown(side, &log).await;
        let mut outcomes: Vec<String> = lines
            .iter()
            .map(|line| {
                let event = &line["properties"]["event_properties"];
                format!(
                    "{} / {}",
                    event["resolution_outcome"].as_str().unwrap_or("?"),
                    event["socure_not_sent_reason"].as_str().unwrap_or("?")
                )
            })
            .collect();
        outcomes.sort();
        assert_eq!(
            outcomes,
            [
                "client_gone / request body larger than shadow.max_body_bytes",
                "internal_error / request body larger than shadow.max_body_bytes",
                "internal_error / the request's handling failed before its body was read",
            ]
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn tickets_dropped_at_the_door_past_the_no_verdict_rate_are_counted_not_lined() {
        let dir = tempfile::tempdir().expect("a temp dir");
        let log = dir.path().join("shadow.log");
        let (side, tickets) = side(&log);
        let dropped = NO_VERDICT_LINES_PER_SECOND + 15;
        for _ in 0..dropped {
            drop(ticket(&tickets));
        }
        let lines = lines_after_shutdown(side, &log).await;
        let event = |line: &serde_json::Value| line["properties"]["event_properties"].clone();
        let client_gone = lines
            .iter()
            .filter(|line| event(line)["resolution_outcome"] == "client_gone")
            .count() as u64;
        let counted: u64 = lines
            .iter()
            .filter_map(|line| event(line)["shed_count"].as_u64())
            .sum();
        // The rate's window is a second: a run across a second's boundary
        // may line a few more, never fewer than the rate.
        assert!(client_gone >= NO_VERDICT_LINES_PER_SECOND, "{lines:?}");
        assert!(counted > 0, "{lines:?}");
        assert_eq!(client_gone + counted, dropped, "one line or one count each");
    }

    #[test]
    fn only_the_configured_instant_verify_workflow_is_tapped() {
        let wf = "gsa2.chk32.test.wf";
        let path = "/restws/identity/v2/test_account/gsa2.chk32.test.wf/conversation";
        assert!(is_instant_verify(&Method::POST, path, wf));
        assert!(!is_instant_verify(&Method::GET, path, wf));
        assert!(!is_instant_verify(&Method::POST, path, "other.wf"));
        assert!(!is_instant_verify(
            &Method::POST,
            "/restws/identity/v2/test_account/customers.gsa2.phonefinder.wf/conversation",
            wf
        ));
        assert!(!is_instant_verify(
            &Method::POST,
            &format!("{path}/more"),
            wf
        ));
        assert!(!is_instant_verify(
            &Method::POST,
            "/restws/identity/v2//gsa2.chk32.test.wf/conversation",
            wf
        ));
        assert!(!is_instant_verify(&Method::POST, path, ""));
    }
}
