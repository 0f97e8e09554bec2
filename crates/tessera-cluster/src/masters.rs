//! Which of this node's shards it is the master of (docs/CLUSTER.md §3):
//! read on every shard request, so kept as atomics the cluster service
//! updates whenever the metadata changes.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::state::{Metadata, NodeId};

/// Per shard of this node (by its number on the node): the epoch of its
/// mastership, or 0 while another member of its replica group is master;
/// the epoch it was promoted to and has not started yet (docs/CLUSTER.md
/// §6); and how far its log reaches, which the governor asks for when it
/// picks a member to promote.
pub struct Mastership {
    epochs: Box<[AtomicU64]>,
    promoted: Box<[AtomicU64]>,
    log_ends: Box<[AtomicU64]>,
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
        }
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
        m.apply(&Command::AddNode { node: node(2, "b") });
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
}
