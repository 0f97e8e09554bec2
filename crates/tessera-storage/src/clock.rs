//! Time for MVCC: a node-wide clock and the snapshots in use.
//!
//! `tick()` gives strictly increasing timestamps that start at the wall
//! clock in microseconds, so they keep increasing across restarts; between
//! nodes they will become hybrid logical clocks. Commits take a `tick()`; a
//! statement's snapshot is a `tick()` too, so it sees every commit
//! acknowledged before it began.
//!
//! Garbage collection must not prune a version some running statement can
//! still see. Each shard publishes the oldest *floor* among the statements it
//! routes; a router publishes `now()` as the floor *before* it ticks its
//! snapshot, and the horizon is read as the clock *then* the floors, so a
//! snapshot is always above any horizon computed while it runs (argument in
//! `horizon`).

use std::sync::atomic::{AtomicU64, Ordering::SeqCst};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::store::Timestamp;

fn wall_micros() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as u64)
        .unwrap_or(0)
}

/// One shard's floor on a cache line of its own: shards publish on every
/// statement and must not slow each other down through false sharing.
#[repr(align(64))]
struct Floor(AtomicU64);

pub struct Timeline {
    last: AtomicU64,
    /// Per shard: the oldest floor of its running statements, or MAX.
    floors: Box<[Floor]>,
}

impl Timeline {
    pub fn new(shards: usize) -> Timeline {
        let floors = (0..shards)
            .map(|_| Floor(AtomicU64::new(u64::MAX)))
            .collect();
        Timeline {
            last: AtomicU64::new(wall_micros()),
            floors,
        }
    }

    /// The latest timestamp handed out.
    pub fn now(&self) -> Timestamp {
        self.last.load(SeqCst)
    }

    /// A new timestamp, greater than every one before it. Within a node a
    /// counter suffices; between nodes the hybrid clock will also follow the
    /// wall clock and the timestamps of messages.
    pub fn tick(&self) -> Timestamp {
        self.last.fetch_add(1, SeqCst) + 1
    }

    /// Publishes the oldest floor of the statements shard `shard` routes.
    pub fn publish_floor(&self, shard: usize, floor: Timestamp) {
        self.floors[shard].0.store(floor, SeqCst);
    }

    /// The oldest snapshot any running statement may use: versions older
    /// than the newest one at or below it can go.
    ///
    /// Why it is safe: a router stores its floor `f = now()` and only then
    /// ticks its snapshot `s > f`. If this read of the floors misses that
    /// store, the store follows it, and so does the tick; the clock read
    /// here precedes both, so `s` is above the returned horizon. If it sees
    /// the store, the horizon is at most `f < s`.
    pub fn horizon(&self) -> Timestamp {
        let now = self.now();
        let floors = self
            .floors
            .iter()
            .map(|f| f.0.load(SeqCst))
            .min()
            .unwrap_or(u64::MAX);
        now.min(floors)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_increase_from_the_wall_clock() {
        let t = Timeline::new(2);
        let a = t.tick();
        let b = t.tick();
        assert!(b > a);
        assert!(a >= wall_micros() - 1_000_000);
        assert_eq!(t.now(), b);
    }

    #[test]
    fn the_horizon_never_passes_a_published_floor() {
        let t = Timeline::new(2);
        t.tick();
        let floor = t.now();
        t.publish_floor(1, floor);
        let snapshot = t.tick();
        t.tick();
        assert!(t.horizon() <= floor && floor < snapshot);
        t.publish_floor(1, u64::MAX);
        assert_eq!(t.horizon(), t.now());
    }
}
