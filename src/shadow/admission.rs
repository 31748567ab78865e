//! The mirror's door: at most `shadow.max_pending` shadowed requests held by the mirror at once; past it a request is shed, counted and nothing more.
//!
//! A [`Slot`] is taken on the forward path before the request body is read
//! for the mirror, and given back only once the request's line is written
//! (or counted lost). So everything the mirror holds for a request (its body,
//! the copy of the answer, its task, its line waiting for the writer) exists
//! at most `max_pending` times, however long an overload lasts and whatever
//! Socure does. A request that finds no slot is forwarded as if shadow mode
//! were off; it is counted here, and the shadow log's writer turns the count
//! into a summary line (`idv_socure_shadow_mode_shed`), so lines plus shed
//! counts equal shadowed requests, exactly.
//!
//! Bytes are budgeted the same way (`shadow.max_buffered_bytes`): a slot
//! reserves what its request body may hold, the copy of the answer reserves
//! as it grows ([`Charge`]), and each reservation lives exactly as long as
//! the bytes it stands for. Past the budget new requests are shed, and an
//! answer copy stops growing (its line says it was too large to judge), so
//! the mirror's bytes never pass the budget, whatever the load.
//!
//! Requests whose line would carry no verdict (LexisNexis never answered:
//! refused, unreadable, or the client went away first; and Socure was not
//! called) get a line each up to a rate
//! ([`Admission::line_without_verdict`]), one budget for the whole process;
//! past it they are counted into the summary line instead, so no client (an
//! HTTP/2 rapid reset, on one connection or reconnecting) can write
//! thousands of lines about requests that did nothing.
//!
//! Taking and giving back a slot is one atomic operation each (two with its
//! bytes): the forward path never waits here.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Instant;

use strum::EnumCount;
use tokio::sync::Notify;

/// Lines a second, for the whole process, for requests whose line would
/// carry no verdict; past it they are only counted, in the summary line.
pub const NO_VERDICT_LINES_PER_SECOND: u64 = 20;

/// Why requests went without a line of their own, as the summary line says.
/// A reason's discriminant indexes its count.
#[derive(Debug, Clone, Copy, PartialEq, Eq, strum::VariantArray, strum::EnumCount)]
pub enum Shed {
    /// `shadow.max_pending` were held: shed at the door.
    Pending,
    /// `shadow.max_buffered_bytes` were held: shed at the door.
    Bytes,
    /// Admitted, but with no verdict from either vendor, past the lines' rate.
    NoVerdict,
}

pub struct Admission {
    max: usize,
    /// Slots taken and not yet given back.
    held: AtomicUsize,
    /// The most ever held at once (for the metrics and the tests).
    peak: AtomicUsize,
    max_bytes: usize,
    /// Bytes reserved by slots and answer copies alive now.
    bytes: AtomicUsize,
    bytes_peak: AtomicUsize,
    /// Counted since the writer last took them, by [`Shed`].
    shed: [AtomicU64; Shed::COUNT],
    /// The unforwarded lines' rate: the second (since `born`) in the high
    /// bits, the lines written in it in the low 20.
    no_verdict_window: AtomicU64,
    born: Instant,
    /// Woken when the last slot is given back (shutdown waits for it).
    emptied: Notify,
}

const WINDOW_COUNT_BITS: u32 = 20;

impl Admission {
    pub fn new(max_pending: usize, max_bytes: usize) -> Arc<Self> {
        Arc::new(Self {
            max: max_pending,
            held: AtomicUsize::new(0),
            peak: AtomicUsize::new(0),
            max_bytes,
            bytes: AtomicUsize::new(0),
            bytes_peak: AtomicUsize::new(0),
            shed: [const { AtomicU64::new(0) }; Shed::COUNT],
            no_verdict_window: AtomicU64::new(0),
            born: Instant::now(),
            emptied: Notify::new(),
        })
    }

    /// A slot holding `reserve` bytes, or `None` when `max_pending` slots
    /// or `max_buffered_bytes` are held: then the request is counted as shed
    /// (and why) and the caller forwards it without the mirror.
    pub fn try_admit(self: &Arc<Self>, reserve: usize) -> Option<Slot> {
        let max = self.max;
        let Ok(before) = self
            .held
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |held| {
                (held < max).then_some(held + 1)
            })
        else {
            self.count(Shed::Pending);
            return None;
        };
        self.peak.fetch_max(before + 1, Ordering::Relaxed);
        // Made before the bytes are reserved: if they cannot be, its drop
        // gives the place back (and wakes shutdown if it was the last).
        let mut slot = Slot {
            admission: Arc::clone(self),
            bytes: 0,
        };
        if !self.reserve(reserve) {
            self.count(Shed::Bytes);
            return None;
        }
        slot.bytes = reserve;
        Some(slot)
    }

    /// Reserves `n` bytes if the budget has room for them.
    fn reserve(&self, n: usize) -> bool {
        let max = self.max_bytes;
        match self
            .bytes
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |bytes| {
                bytes.checked_add(n).filter(|total| *total <= max)
            }) {
            Ok(before) => {
                self.bytes_peak.fetch_max(before + n, Ordering::Relaxed);
                true
            }
            Err(_) => false,
        }
    }

    fn release(&self, n: usize) {
        if n > 0 {
            self.bytes.fetch_sub(n, Ordering::AcqRel);
        }
    }

    fn count(&self, why: Shed) {
        self.shed[why as usize].fetch_add(1, Ordering::AcqRel);
    }

    /// Whether a request whose line carries no verdict may have its own
    /// line: yes for the first [`NO_VERDICT_LINES_PER_SECOND`] each second.
    /// When not, it is counted for the summary line and the caller drops
    /// its slot.
    pub fn line_without_verdict(&self) -> bool {
        let second = self.born.elapsed().as_secs();
        let allowed = self
            .no_verdict_window
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |window| {
                let (at, lines) = (
                    window >> WINDOW_COUNT_BITS,
                    window & ((1 << WINDOW_COUNT_BITS) - 1),
                );
                if at != second {
                    Some((second << WINDOW_COUNT_BITS) | 1)
                } else if lines < NO_VERDICT_LINES_PER_SECOND {
                    Some(window + 1)
                } else {
                    None
                }
            })
            .is_ok();
        if !allowed {
            self.count(Shed::NoVerdict);
        }
        allowed
    }

    /// A reservation for an answer copy that grows with it.
    pub fn charge(self: &Arc<Self>) -> Charge {
        Charge {
            admission: Arc::clone(self),
            bytes: 0,
        }
    }

    /// Gives back a count [`Admission::take_shed`] returned whose summary
    /// line could not be written: it goes into the next one.
    pub fn restore_shed(&self, why: Shed, count: u64) {
        self.shed[why as usize].fetch_add(count, Ordering::AcqRel);
    }

    /// The counts since the last call, by [`Shed`]; each is returned
    /// exactly once.
    pub fn take_shed(&self) -> [u64; Shed::COUNT] {
        self.shed
            .each_ref()
            .map(|count| count.swap(0, Ordering::AcqRel))
    }

    pub fn max_bytes(&self) -> usize {
        self.max_bytes
    }

    /// Bytes reserved now.
    pub fn bytes(&self) -> usize {
        self.bytes.load(Ordering::Acquire)
    }

    pub fn bytes_peak(&self) -> usize {
        self.bytes_peak.load(Ordering::Relaxed)
    }

    pub fn max(&self) -> usize {
        self.max
    }

    pub fn held(&self) -> usize {
        self.held.load(Ordering::Acquire)
    }

    pub fn peak(&self) -> usize {
        self.peak.load(Ordering::Relaxed)
    }

    /// Returns once no slot is held: every admitted request's line is written.
    pub async fn emptied(&self) {
        loop {
            let notified = self.emptied.notified();
            tokio::pin!(notified);
            // Registered before the check, so a release in between still wakes us.
            notified.as_mut().enable();
            if self.held() == 0 {
                return;
            }
            notified.await;
        }
    }
}

/// One admitted request's place in the mirror, with the bytes reserved for
/// its body; both given back when dropped.
pub struct Slot {
    admission: Arc<Admission>,
    bytes: usize,
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.admission.release(self.bytes);
        if self.admission.held.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.admission.emptied.notify_waiters();
        }
    }
}

/// Bytes reserved for one answer copy, grown as it grows and given back
/// when dropped: it travels with the copy, so the reservation lives exactly
/// as long as the bytes.
pub struct Charge {
    admission: Arc<Admission>,
    bytes: usize,
}

impl Charge {
    /// Reserves `n` more bytes; `false` (nothing reserved) past the budget.
    pub fn grow(&mut self, n: usize) -> bool {
        let reserved = self.admission.reserve(n);
        if reserved {
            self.bytes += n;
        }
        reserved
    }
}

impl Drop for Charge {
    fn drop(&mut self) {
        self.admission.release(self.bytes);
    }
}

#[cfg(test)]
mod tests {
    use strum::VariantArray;

    use super::*;

    #[test]
    fn past_the_bound_requests_are_shed_and_each_counted_once() {
        let admission = Admission::new(2, 1 << 20);
        let first = admission.try_admit(10).expect("a slot");
        let second = admission.try_admit(10).expect("a slot");
        assert!(admission.try_admit(10).is_none());
        assert!(admission.try_admit(10).is_none());
        assert_eq!(admission.take_shed(), [2, 0, 0]);
        assert_eq!(admission.take_shed(), [0, 0, 0]);
        drop(first);
        let third = admission
            .try_admit(10)
            .expect("a slot given back is free again");
        assert_eq!((admission.held(), admission.peak()), (2, 2));
        drop((second, third));
        assert_eq!(admission.held(), 0);
    }

    #[test]
    fn bytes_never_pass_the_budget_and_live_as_long_as_their_holders() {
        let admission = Admission::new(100, 1000);
        let first = admission.try_admit(600).expect("room for 600");
        assert!(
            admission.try_admit(600).is_none(),
            "600 more would pass 1000"
        );
        assert_eq!((admission.held(), admission.take_shed()), (1, [0, 1, 0]));
        let mut charge = admission.charge();
        assert!(charge.grow(300));
        assert!(!charge.grow(200), "an answer copy stops at the budget");
        assert_eq!((admission.bytes(), admission.bytes_peak()), (900, 900));
        drop(first);
        assert_eq!(
            admission.bytes(),
            300,
            "the answer's bytes outlive the slot"
        );
        drop(charge);
        assert_eq!(admission.bytes(), 0);
    }

    #[test]
    fn lines_without_a_verdict_are_limited_per_second_and_the_rest_counted() {
        let admission = Admission::new(1, 1);
        let allowed = (0..NO_VERDICT_LINES_PER_SECOND + 5)
            .filter(|_| admission.line_without_verdict())
            .count();
        // Within one second of its birth (the test takes microseconds), or
        // at worst split over two windows.
        assert!(allowed as u64 >= NO_VERDICT_LINES_PER_SECOND);
        assert_eq!(
            admission.take_shed()[Shed::NoVerdict as usize],
            NO_VERDICT_LINES_PER_SECOND + 5 - allowed as u64
        );
    }

    /// The summary lines pair `take_shed`'s counts with `Shed::VARIANTS`
    /// by position: each reason's count must come back at its own.
    #[test]
    fn each_reason_is_counted_apart_and_taken_once() {
        let admission = Admission::new(1, 1);
        let counted: Vec<u64> = (1..).take(Shed::COUNT).collect();
        for (&why, &count) in Shed::VARIANTS.iter().zip(&counted) {
            admission.restore_shed(why, count);
        }
        let taken: Vec<(Shed, u64)> = Shed::VARIANTS
            .iter()
            .copied()
            .zip(admission.take_shed())
            .collect();
        let wanted: Vec<(Shed, u64)> = Shed::VARIANTS.iter().copied().zip(counted).collect();
        assert_eq!(taken, wanted);
        assert_eq!(admission.take_shed(), [0; Shed::COUNT], "taken once");
    }

    #[tokio::test]
    async fn emptied_returns_once_the_last_slot_is_given_back() {
        let admission = Admission::new(4, 1 << 20);
        let slot = admission.try_admit(0).expect("a slot");
        let waiter = {
            let admission = Arc::clone(&admission);
            tokio::spawn(async move { admission.emptied().await })
        };
        tokio::task::yield_now().await;
        assert!(!waiter.is_finished());
        drop(slot);
        tokio::time::timeout(std::time::Duration::from_secs(10), waiter)
            .await
            .expect("woken")
            .expect("joined");
    }
}
