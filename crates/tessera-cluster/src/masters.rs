//! Which of this node's shards it is the master of (docs/CLUSTER.md §3):
//! read on every shard request, so kept as atomics the cluster service
//! updates whenever the metadata changes.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::state::{Metadata, NodeId};

/// Per shard of this node (by its number on the node): the epoch of its
/// mastership, or 0 while another member of its replica group is master.
pub struct Mastership {
    epochs: Box<[AtomicU64]>,
}

impl Mastership {
    /// Master of every shard, as a node is until its metadata says
    /// otherwise (with a replication factor of 1, always).
    pub fn new(shards: u16) -> Mastership {
        Mastership {
            epochs: (0..shards).map(|_| AtomicU64::new(1)).collect(),
        }
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
            let shard = node.first_shard as usize + index;
            let epoch = u16::try_from(shard)
                .ok()
                .and_then(|s| metadata.masters.get(&s))
                .filter(|m| m.node == me)
                .map_or(0, |m| m.epoch);
            slot.store(epoch, Ordering::Release);
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
        assert_eq!((b.epoch(0), b.epoch(1)), (Some(2), Some(2)));
    }
}
