//! The upstream connections waiting between requests, for both lanes' pools (hyper's senders in `pool`, raw streams in `wire`): newest last, at most `max_idle`, each closed after the idle timeout.
//!
//! A request takes the newest idle connection to its origin under a lock
//! held for a few comparisons (never across an `.await`); a connection goes
//! back once its answer is read. A connection idle for `idle_timeout` is
//! closed within half as long again: a sweep every half timeout counts
//! ticks, so giving a connection back reads no clock.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};
use std::time::Duration;

use http::uri::{Authority, Scheme};

/// Which connections may carry a request: those to the same scheme and
/// authority (forward-proxy mode reaches more than one host).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    pub scheme: Scheme,
    pub authority: Authority,
}

/// What a kept connection can do now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Usable {
    /// It can carry a request.
    Now,
    /// Not yet (its last exchange is still finishing): passed over, kept.
    Later,
    /// Closed: dropped.
    Never,
}

/// A connection the set can keep.
pub trait Kept: Send + 'static {
    fn usable(&mut self) -> Usable;
}

/// The idle connections of one pool.
pub struct IdleSet<C> {
    shared: Arc<Shared<C>>,
}

/// A pool's idle set as a connection on loan holds it: the connection goes
/// back only while the pool lives.
pub struct Back<C>(Weak<Shared<C>>);

struct Shared<C> {
    idle: Mutex<Idle<C>>,
    max_idle: usize,
    idle_timeout: Duration,
}

struct Idle<C> {
    connections: Vec<Entry<C>>,
    /// Sweeps so far: a connection is stamped with it when given back.
    ticks: u64,
    sweeping: bool,
}

struct Entry<C> {
    to: Origin,
    connection: C,
    since_tick: u64,
}

impl<C: Kept> IdleSet<C> {
    pub fn new(max_idle: usize, idle_timeout: Duration) -> Self {
        Self {
            shared: Arc::new(Shared {
                idle: Mutex::new(Idle {
                    connections: Vec::new(),
                    ticks: 0,
                    sweeping: false,
                }),
                max_idle,
                idle_timeout,
            }),
        }
    }

    /// The newest idle connection to `to` that can take a request now.
    /// Those found closed are dropped; one not yet usable is passed over,
    /// never waited for.
    pub fn take(&self, to: &Origin) -> Option<C> {
        let mut idle = self.shared.lock();
        let mut at = idle.connections.len();
        while at > 0 {
            at -= 1;
            if idle.connections[at].to != *to {
                continue;
            }
            match idle.connections[at].connection.usable() {
                Usable::Now => return Some(idle.connections.remove(at).connection),
                Usable::Later => {}
                Usable::Never => {
                    idle.connections.remove(at);
                }
            }
        }
        None
    }

    /// Keeps `connection` for the next request to `to`, unless enough wait.
    pub fn put(&self, to: Origin, connection: C) {
        self.shared.put(to, connection);
    }

    /// For a connection on loan: gives it back while the pool lives.
    pub fn back(&self) -> Back<C> {
        Back(Arc::downgrade(&self.shared))
    }

    /// Starts the sweep, once, from within the runtime (the first
    /// connection is opened there; the pool is built before it runs).
    pub fn start_sweeping(&self) {
        {
            let mut idle = self.shared.lock();
            if idle.sweeping {
                return;
            }
            idle.sweeping = true;
        }
        let every = self.shared.idle_timeout / 2;
        tokio::spawn(sweep(Arc::downgrade(&self.shared), every));
    }

    /// Connections waiting now.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.shared.lock().connections.len()
    }
}

impl<C: Kept> Back<C> {
    pub fn put(&self, to: Origin, connection: C) {
        if let Some(shared) = self.0.upgrade() {
            shared.put(to, connection);
        }
    }
}

impl<C> Shared<C> {
    /// The table; a panic elsewhere while it was held leaves it consistent
    /// (every change is one push, remove or retain).
    fn lock(&self) -> MutexGuard<'_, Idle<C>> {
        self.idle.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn put(&self, to: Origin, connection: C) {
        let mut idle = self.lock();
        if idle.connections.len() >= self.max_idle {
            return;
        }
        let since_tick = idle.ticks;
        idle.connections.push(Entry {
            to,
            connection,
            since_tick,
        });
    }
}

/// Every `every` (half the idle timeout), closes the connections idle for
/// two full ticks or more (so for at least the timeout, at most half as long
/// again) and those found closed; ends with the pool.
async fn sweep<C: Kept>(pool: Weak<Shared<C>>, every: Duration) {
    let mut ticks = tokio::time::interval(every.max(Duration::from_millis(1)));
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // The first tick is at once.
    ticks.tick().await;
    loop {
        ticks.tick().await;
        let Some(shared) = pool.upgrade() else { return };
        let mut idle = shared.lock();
        idle.ticks += 1;
        let oldest_kept = idle.ticks.saturating_sub(2);
        idle.connections.retain_mut(|entry| {
            entry.since_tick >= oldest_kept && entry.connection.usable() != Usable::Never
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A connection whose state the test sets.
    struct Fake(Usable, u32);

    impl Kept for Fake {
        fn usable(&mut self) -> Usable {
            self.0
        }
    }

    fn origin(port: u16) -> Origin {
        Origin {
            scheme: Scheme::HTTP,
            authority: format!("127.0.0.1:{port}").parse().expect("authority"),
        }
    }

    #[test]
    fn the_newest_usable_one_to_the_origin_is_taken_and_closed_ones_dropped() {
        let set = IdleSet::new(3, Duration::from_secs(90));
        set.put(origin(1), Fake(Usable::Now, 1));
        set.put(origin(1), Fake(Usable::Never, 2));
        set.put(origin(2), Fake(Usable::Now, 3));
        set.put(origin(1), Fake(Usable::Now, 4));
        assert_eq!(set.len(), 3, "no more than max_idle kept");
        set.back().put(origin(1), Fake(Usable::Later, 5));
        assert_eq!(set.len(), 3, "the set is full, whoever gives back");
        assert_eq!(set.take(&origin(1)).map(|f| f.1), Some(1));
        assert_eq!(set.len(), 1, "the closed one was dropped on the way");
        assert!(set.take(&origin(1)).is_none());
        set.put(origin(1), Fake(Usable::Later, 6));
        assert!(
            set.take(&origin(1)).is_none(),
            "not usable yet: passed over"
        );
        assert_eq!(set.len(), 2, "and kept");
        assert_eq!(set.take(&origin(2)).map(|f| f.1), Some(3));
    }
}
