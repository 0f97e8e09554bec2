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

/// The wall clock, in microseconds since the Unix epoch.
pub fn wall_micros() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as u64)
        .unwrap_or(0)
}

/// One shard's floor on a cache line of its own: shards publish on every
/// statement and must not slow each other down through false sharing.
#[repr(align(64))]
struct Floor(AtomicU64);

/// How long the floor another node reported over a connection still
/// holds once the connection closed: a reconnect within it finds the
/// versions its running snapshots need.
pub const REMOTE_FLOOR_GRACE: std::time::Duration = std::time::Duration::from_secs(60);

/// In a cluster, how far behind its clock a node prunes at the latest:
/// a snapshot another node takes is on that node's clock, which may be a
/// little behind this one's, and its first request may arrive before any
/// floor of that node did.
pub const CLUSTER_GC_LAG_MICROS: u64 = 1_000_000;

/// Floors other nodes reported, per connection (see
/// [`Timeline::remote_floor`]): the floor, and when it lapses (once the
/// connection closed).
type RemoteFloors = std::collections::HashMap<u64, (Timestamp, Option<std::time::Instant>)>;

pub struct Timeline {
    last: AtomicU64,
    /// Per shard: the oldest floor of its running statements, or MAX.
    floors: Box<[Floor]>,
    /// The oldest floor other nodes reported, or MAX.
    remote_min: AtomicU64,
    remote: std::sync::Mutex<RemoteFloors>,
    /// The largest horizon ever handed out: versions below it may be gone.
    pruned: AtomicU64,
    /// See [`CLUSTER_GC_LAG_MICROS`]; 0 outside a cluster.
    lag: u64,
}

impl Timeline {
    pub fn new(shards: usize) -> Timeline {
        let floors = (0..shards)
            .map(|_| Floor(AtomicU64::new(u64::MAX)))
            .collect();
        Timeline {
            last: AtomicU64::new(wall_micros()),
            floors,
            remote_min: AtomicU64::new(u64::MAX),
            remote: Default::default(),
            pruned: AtomicU64::new(0),
            lag: 0,
        }
    }

    /// A node in a cluster: it prunes at least [`CLUSTER_GC_LAG_MICROS`]
    /// behind its clock.
    pub fn for_cluster(shards: usize) -> Timeline {
        Timeline {
            lag: CLUSTER_GC_LAG_MICROS,
            ..Timeline::new(shards)
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
    /// than the newest one at or below it can go. It counts the floors
    /// other nodes reported ([`Timeline::remote_floor`]).
    ///
    /// Why it is safe: a router stores its floor `f = now()` and only then
    /// ticks its snapshot `s > f`. If this read of the floors misses that
    /// store, the store follows it, and so does the tick; the clock read
    /// here precedes both, so `s` is above the returned horizon. If it sees
    /// the store, the horizon is at most `f < s`.
    pub fn horizon(&self) -> Timestamp {
        let horizon = self
            .local_horizon()
            .min(self.remote_min.load(SeqCst))
            .min(self.now().saturating_sub(self.lag));
        self.pruned.fetch_max(horizon, SeqCst);
        horizon
    }

    /// The horizon of this node's own statements: what it reports to the
    /// nodes it sends requests to (their snapshots are theirs to report).
    pub fn local_horizon(&self) -> Timestamp {
        let now = self.now();
        let floors = self
            .floors
            .iter()
            .map(|f| f.0.load(SeqCst))
            .min()
            .unwrap_or(u64::MAX);
        now.min(floors)
    }

    /// Another node's oldest floor, as its latest request over connection
    /// `connection` carried it; `None`: the connection closed, and its
    /// floor lapses after [`REMOTE_FLOOR_GRACE`]. Every snapshot that node
    /// still runs is at or above the floor it reported last, so pruning
    /// below the minimum never removes a version one of them reads.
    pub fn remote_floor(&self, connection: u64, floor: Option<Timestamp>) {
        let mut remote = self.remote.lock().unwrap_or_else(|e| e.into_inner());
        match floor {
            Some(f) => {
                remote.insert(connection, (f, None));
            }
            None => {
                if let Some(entry) = remote.get_mut(&connection) {
                    entry.1 = Some(std::time::Instant::now() + REMOTE_FLOOR_GRACE);
                }
            }
        }
        self.recompute_remote(&mut remote);
    }

    /// Drops the floors of connections closed longer than the grace.
    pub fn sweep_remote_floors(&self) {
        let mut remote = self.remote.lock().unwrap_or_else(|e| e.into_inner());
        self.recompute_remote(&mut remote);
    }

    fn recompute_remote(&self, remote: &mut RemoteFloors) {
        let now = std::time::Instant::now();
        remote.retain(|_, (_, lapses)| lapses.is_none_or(|at| at > now));
        let min = remote.values().map(|(f, _)| *f).min().unwrap_or(u64::MAX);
        self.remote_min.store(min, SeqCst);
    }

    /// Refuses a read at snapshot `ts` from another node when versions it
    /// needs may already be pruned here (its node's floor arrived too late:
    /// a first request, or a reconnect after the grace).
    pub fn check_snapshot(&self, ts: Timestamp) -> Result<()> {
        let pruned = self.pruned.load(SeqCst);
        if ts < pruned {
            return Err(Error::new(
                sqlstate::SERIALIZATION_FAILURE,
                format!(
                    "could not serialize access: the snapshot is too old for this node ({} ms behind what it has already discarded); retry the transaction",
                    (pruned - ts) / 1000
                ),
            ));
        }
        Ok(())
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

    #[test]
    fn other_nodes_floors_hold_the_horizon_back_until_they_lapse() {
        let t = Timeline::new(1);
        let old = t.tick();
        t.tick();
        t.remote_floor(7, Some(old));
        assert_eq!(t.horizon(), old);
        assert_eq!(t.local_horizon(), t.now(), "not reported back");
        t.check_snapshot(old).unwrap();
        // A newer report replaces the older one.
        let newer = t.tick();
        t.remote_floor(7, Some(newer));
        assert_eq!(t.horizon(), newer);
        // Closed: it holds until the grace passes.
        t.remote_floor(7, None);
        assert_eq!(t.horizon(), newer);
        // What was pruned past can no longer be read from another node.
        t.remote_floor(7, Some(u64::MAX));
        let horizon = t.horizon();
        assert!(horizon > old);
        let e = t.check_snapshot(old).unwrap_err();
        assert_eq!(e.code, sqlstate::SERIALIZATION_FAILURE);
        t.check_snapshot(horizon).unwrap();
    }

    #[test]
    fn a_cluster_node_prunes_behind_its_clock() {
        let t = Timeline::for_cluster(1);
        t.tick();
        assert!(t.horizon() <= t.now() - CLUSTER_GC_LAG_MICROS);
    }
}
