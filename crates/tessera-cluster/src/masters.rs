//! Which of this node's shards it is the master of (docs/CLUSTER.md §3):
//! read on every shard request, so kept as atomics the cluster service
//! updates whenever the metadata changes.

use std::sync::atomic::{AtomicBool, AtomicU16, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::state::{Metadata, NodeId};

/// Per shard of this node (by its number on the node): the epoch of its
/// mastership, or 0 while another member of its replica group is master;
/// the epoch it was promoted to and has not started yet (docs/CLUSTER.md
/// §6); and how far its log reaches, which the governor asks for when it
/// picks a member to promote.
///
/// And the node's *lease* (docs/CLUSTER.md §6): a master whose group has
/// other members takes writes only while the Raft group lately confirmed
/// it is in touch (the leader's pings, or its own quorum), for less than
/// the time after which the governor would promote another member. So a
/// master cut off from the cluster stops writing before it is replaced.
pub struct Mastership {
    epochs: Box<[AtomicU64]>,
    promoted: Box<[AtomicU64]>,
    log_ends: Box<[AtomicU64]>,
    /// Times are kept as milliseconds since `base`.
    base: Instant,
    lease_until: AtomicU64,
    /// The node's group has other members: one of them could be promoted.
    lease_needed: AtomicBool,
    /// How many replicas must hold a record before the node, as master,
    /// acknowledges it (`Metadata::replica_acks` of its group).
    replica_acks: AtomicU16,
}

impl Mastership {
    /// Master of every shard, as a node is until its metadata says
    /// otherwise (with a replication factor of 1, always).
    pub fn new(shards: u16) -> Mastership {
        let zeros = || (0..shards).map(|_| AtomicU64::new(0)).collect();
        Mastership {
            epochs: (0..shards).map(|_| AtomicU64::new(1)).collect(),
            promoted: zeros(),
            log_ends: zeros(),
            base: Instant::now(),
            lease_until: AtomicU64::new(0),
            lease_needed: AtomicBool::new(false),
            replica_acks: AtomicU16::new(0),
        }
    }

    /// How many replicas must hold a record before this node, as master,
    /// acknowledges it (0: asynchronous replication, or a group of one).
    pub fn replica_acks(&self) -> u16 {
        self.replica_acks.load(Ordering::Acquire)
    }

    fn millis(&self, at: Instant) -> u64 {
        at.saturating_duration_since(self.base).as_millis() as u64
    }

    /// The node may take writes as a master until `until` (later grants
    /// only extend it).
    pub fn renew_lease(&self, until: Instant) {
        self.lease_until
            .fetch_max(self.millis(until), Ordering::AcqRel);
    }

    /// Whether the node may take writes as a master now: its lease runs,
    /// or no other member of its group could be promoted in its place.
    pub fn has_lease(&self) -> bool {
        !self.lease_needed.load(Ordering::Acquire)
            || self.millis(Instant::now()) < self.lease_until.load(Ordering::Acquire)
    }

    /// How long the lease still runs (zero once it ran out).
    pub fn lease_left(&self) -> Duration {
        let until = self.lease_until.load(Ordering::Acquire);
        Duration::from_millis(until.saturating_sub(self.millis(Instant::now())))
    }

    /// The epoch this node's shard `index` was made master in and must
    /// start (stop copying, say where its writes begin) before it takes
    /// requests.
    pub fn promoted(&self, index: u16) -> Option<u64> {
        let epoch = self.promoted.get(index as usize)?.load(Ordering::Acquire);
        (epoch != 0).then_some(epoch)
    }

    /// Shard `index`'s log reaches `end`.
    pub fn note_log_end(&self, index: u16, end: u64) {
        if let Some(slot) = self.log_ends.get(index as usize) {
            slot.store(end, Ordering::Release);
        }
    }

    /// How far each of this node's shard logs reaches, as last noted.
    pub fn log_ends(&self) -> Vec<u64> {
        self.log_ends
            .iter()
            .map(|e| e.load(Ordering::Acquire))
            .collect()
    }

    /// Whether this node takes requests for its shard `index`.
    pub fn is_master(&self, index: u16) -> bool {
        self.epoch(index).is_some()
    }

    /// The epoch of this node's mastership of its shard `index`.
    pub fn epoch(&self, index: u16) -> Option<u64> {
        let epoch = self.epochs.get(index as usize)?.load(Ordering::Acquire);
        (epoch != 0).then_some(epoch)
    }

    /// Follows `metadata` for node `me`.
    pub fn update(&self, metadata: &Metadata, me: NodeId) {
        let Some(node) = metadata.nodes.get(&me) else {
            return;
        };
        let shared = metadata.group(node.first_shard).len() > 1;
        self.lease_needed.store(shared, Ordering::Release);
        self.replica_acks
            .store(metadata.replica_acks(node.first_shard), Ordering::Release);
        for (index, slot) in self.epochs.iter().enumerate() {
            let Ok(shard) = u16::try_from(node.first_shard as usize + index) else {
                continue;
            };
            let master = metadata.masters.get(&shard).filter(|m| m.node == me);
            let started = metadata.started_master(shard, me);
            let pending = master.filter(|_| started.is_none()).map_or(0, |m| m.epoch);
            self.promoted[index].store(pending, Ordering::Release);
            slot.store(started.unwrap_or(0), Ordering::Release);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::tests::{founded, node};
    use crate::state::Command;

    #[test]
    fn a_node_is_master_of_what_the_metadata_says() {
        let mut m = founded(node(1, "a"), 2);
        m.apply(&Command::AddNode {
            node: node(2, "b"),
            wish: Default::default(),
        });
        let (a, b) = (Mastership::new(2), Mastership::new(2));
        a.update(&m, 1);
        b.update(&m, 2);
        assert_eq!((a.epoch(0), a.epoch(1)), (Some(1), Some(1)));
        assert!(!b.is_master(0) && !b.is_master(1));
        assert!(!a.is_master(2), "no such shard");
        m.apply(&Command::ExpelNode { id: 1 });
        b.update(&m, 2);
        // Made master, but not taking requests until it starts its epoch.
        assert_eq!((b.epoch(0), b.promoted(0)), (None, Some(2)));
        m.apply(&Command::StartEpoch {
            shard: 0,
            epoch: 2,
            node: 2,
            start: 100,
        });
        b.update(&m, 2);
        assert_eq!((b.epoch(0), b.promoted(0)), (Some(2), None));
        assert_eq!((b.epoch(1), b.promoted(1)), (None, Some(2)));
    }

    #[test]
    fn a_master_whose_group_has_other_members_writes_only_under_a_lease() {
        let mut m = founded(node(1, "a"), 2);
        let a = Mastership::new(2);
        a.update(&m, 1);
        assert!(a.has_lease(), "alone in its group: nobody could replace it");
        m.apply(&Command::AddNode {
            node: node(2, "b"),
            wish: Default::default(),
        });
        a.update(&m, 1);
        assert!(!a.has_lease(), "never granted");
        a.renew_lease(Instant::now() + Duration::from_secs(60));
        assert!(a.has_lease());
        assert!(a.lease_left() > Duration::from_secs(59));
        // An older grant does not shorten it.
        a.renew_lease(Instant::now());
        assert!(a.has_lease());
        let b = Mastership::new(2);
        b.update(&m, 2);
        b.renew_lease(Instant::now());
        assert!(!b.has_lease(), "ran out");
        assert_eq!(b.lease_left(), Duration::ZERO);
    }
}
