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
//! Taking and giving back a slot is one atomic operation each: the forward
//! path never waits here.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use tokio::sync::Notify;

pub struct Admission {
    max: usize,
    /// Slots taken and not yet given back.
    held: AtomicUsize,
    /// The most ever held at once (for the metrics and the tests).
    peak: AtomicUsize,
    /// Shed since the writer last took the count.
    shed: AtomicU64,
    /// Woken when the last slot is given back (shutdown waits for it).
    emptied: Notify,
}

impl Admission {
    pub fn new(max_pending: usize) -> Arc<Self> {
        Arc::new(Self {
            max: max_pending,
            held: AtomicUsize::new(0),
            peak: AtomicUsize::new(0),
            shed: AtomicU64::new(0),
            emptied: Notify::new(),
        })
    }

    /// A slot, or `None` when `max_pending` are held: then the request is
    /// counted as shed and the caller forwards it without the mirror.
    pub fn try_admit(self: &Arc<Self>) -> Option<Slot> {
        let max = self.max;
        match self
            .held
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |held| {
                (held < max).then_some(held + 1)
            }) {
            Ok(before) => {
                self.peak.fetch_max(before + 1, Ordering::Relaxed);
                Some(Slot(Arc::clone(self)))
            }
            Err(_) => {
                self.shed.fetch_add(1, Ordering::AcqRel);
                None
            }
        }
    }

    /// The requests shed since the last call; each is returned exactly once.
    pub fn take_shed(&self) -> u64 {
        self.shed.swap(0, Ordering::AcqRel)
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

/// One admitted request's place in the mirror; given back when dropped.
pub struct Slot(Arc<Admission>);

impl Drop for Slot {
    fn drop(&mut self) {
        if self.0.held.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.0.emptied.notify_waiters();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn past_the_bound_requests_are_shed_and_each_counted_once() {
        let admission = Admission::new(2);
        let first = admission.try_admit().expect("a slot");
        let second = admission.try_admit().expect("a slot");
        assert!(admission.try_admit().is_none());
        assert!(admission.try_admit().is_none());
        assert_eq!(admission.take_shed(), 2);
        assert_eq!(admission.take_shed(), 0);
        drop(first);
        let third = admission
            .try_admit()
            .expect("a slot given back is free again");
        assert_eq!((admission.held(), admission.peak()), (2, 2));
        drop((second, third));
        assert_eq!(admission.held(), 0);
    }

    #[tokio::test]
    async fn emptied_returns_once_the_last_slot_is_given_back() {
        let admission = Admission::new(4);
        let slot = admission.try_admit().expect("a slot");
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
