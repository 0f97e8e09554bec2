//! Time for MVCC: a node-wide clock and the snapshots in use.
//!
//! `tick()` gives strictly increasing timestamps: a hybrid logical clock,
//! the wall clock in microseconds or one past the last timestamp, whichever
//! is larger, so they keep increasing across restarts and stay near the
//! wall clock. Messages between nodes carry the sender's reading and the
//! receiver `observe`s it, so every later tick there is above it (see
//! docs/TIMESTAMPS.md). Commits take a `tick()`; a statement's snapshot is
//! a `tick()` too, so it sees every commit acknowledged before it began.
//!
//! Garbage collection must not prune a version some running statement can
//! still see. Each shard publishes the oldest *floor* among the statements it
//! routes; a router publishes `now()` as the floor *before* it ticks its
//! snapshot, and the horizon is read as the clock *then* the floors, so a
//! snapshot is always above any horizon computed while it runs (argument in
//! `horizon`).

use std::sync::atomic::{AtomicU64, Ordering::SeqCst};
use std::time::{SystemTime, UNIX_EPOCH};

use tessera_types::{sqlstate, Error, Result};

use crate::store::Timestamp;

/// How far another node's clock may be ahead of this one's wall clock: a
/// reading further ahead is refused rather than followed (a clock set
/// wrong, or a peer gone bad, must not drag every node's timestamps along).
pub const MAX_CLOCK_OFFSET_MICROS: u64 = 500_000;

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

    /// A new timestamp, greater than every one before it and than every
    /// reading observed: the wall clock, or one past the last timestamp.
    pub fn tick(&self) -> Timestamp {
        let wall = wall_micros();
        let mut last = self.last.load(SeqCst);
        loop {
            let next = wall.max(last.saturating_add(1));
            match self.last.compare_exchange_weak(last, next, SeqCst, SeqCst) {
                Ok(_) => return next,
                Err(seen) => last = seen,
            }
        }
    }

    /// Another node's clock reading: every later tick here is above it.
    /// A reading more than [`MAX_CLOCK_OFFSET_MICROS`] ahead of this node's
    /// wall clock is refused, and the clock left as it was.
    pub fn observe(&self, reading: Timestamp) -> Result<()> {
        let wall = wall_micros();
        if reading > wall.saturating_add(MAX_CLOCK_OFFSET_MICROS) {
            return Err(Error::new(
                sqlstate::SYSTEM_ERROR,
                format!(
                    "another node's clock is {} ms ahead of this one's, more than the {} ms allowed; check the nodes' time synchronization",
                    (reading - wall) / 1000,
                    MAX_CLOCK_OFFSET_MICROS / 1000
                ),
            ));
        }
        self.last.fetch_max(reading, SeqCst);
        Ok(())
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
    fn observed_readings_raise_the_clock_unless_too_far_ahead() {
        let t = Timeline::new(1);
        let ahead = wall_micros() + 200_000;
        t.observe(ahead).unwrap();
        assert!(t.tick() > ahead);
        let far = wall_micros() + 10 * MAX_CLOCK_OFFSET_MICROS;
        let e = t.observe(far).unwrap_err();
        assert_eq!(e.code, sqlstate::SYSTEM_ERROR);
        assert!(t.tick() < far, "a refused reading leaves the clock alone");
        // Behind the clock: nothing changes.
        let now = t.now();
        t.observe(now - 1000).unwrap();
        assert!(t.tick() > now);
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
