//! How buckets moved between shards (docs/CLUSTER.md §8), as the catalog
//! keeps it beside the bucket map.
//!
//! A move of buckets is one transaction: their rows are deleted on the
//! shard that gives them and inserted on the shard that takes them, both
//! committed at one timestamp `since`. A read at a snapshot below `since`
//! finds the rows on the giver, one at or above it on the taker: routers
//! route reads by their snapshot ([`BucketMoves::owner_at`]), writes by
//! the newest map.
//!
//! Every move counts an **epoch**. A router's requests for rows carry the
//! epoch of the map it routed them by, and a shard refuses one older than
//! its latest loss ([`BucketMoves::lost_at`]): that router may have sent
//! it rows it no longer owns, or missed the shard that now has them.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::schema::{Bucket, ShardId};

/// Marks a transaction decided by a record of the catalog's log (a move
/// of buckets), not by a participant's ledger: its participants learn its
/// outcome from the catalog, and one left without settles it there too.
pub const DECIDED_IN_CATALOG: u64 = 1 << 63;

/// Whether transaction `tx` is decided in the catalog's log.
pub fn decided_in_catalog(tx: u64) -> bool {
    tx & DECIDED_IN_CATALOG != 0
}

/// The moves applied to a catalog's bucket map.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct BucketMoves {
    /// How many moves were applied.
    pub epoch: u64,
    /// Per moved bucket: the timestamp from which its owner holds it, and
    /// the owner before.
    pub since: BTreeMap<Bucket, (u64, ShardId)>,
    /// Per shard: the epoch of the last move that took buckets from it.
    pub lost: BTreeMap<ShardId, u64>,
    /// The largest `since`: a snapshot at or above it routes by the map.
    pub newest: u64,
    /// Outcomes of transactions decided in the catalog's log: committed
    /// at a timestamp, or aborted (`None`) before a decision came.
    pub outcomes: BTreeMap<u64, Option<u64>>,
}

impl BucketMoves {
    /// The owner of `bucket` for a read at snapshot `ts`, given its owner
    /// now.
    pub fn owner_at(&self, bucket: Bucket, now: ShardId, ts: u64) -> ShardId {
        if ts >= self.newest {
            return now;
        }
        match self.since.get(&bucket) {
            Some((since, before)) if ts < *since => *before,
            _ => now,
        }
    }

    /// The epoch of the last move that took buckets from `shard` (0: none).
    pub fn lost_at(&self, shard: ShardId) -> u64 {
        self.lost.get(&shard).copied().unwrap_or(0)
    }
}

/// The bucket map with its moves, shared by the catalogs made from it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Buckets {
    /// `owner[b]` owns bucket `b`.
    pub owner: Arc<[ShardId]>,
    pub moves: Arc<BucketMoves>,
    /// The shards that own buckets, ascending.
    shards: Arc<[ShardId]>,
}

impl Buckets {
    pub fn new(owner: Arc<[ShardId]>) -> Buckets {
        let shards = owners(&owner);
        Buckets {
            owner,
            moves: Arc::default(),
            shards,
        }
    }

    /// The shards that own buckets, ascending.
    pub fn shards(&self) -> &[ShardId] {
        &self.shards
    }

    /// The map as a read at snapshot `ts` sees it: the same map unless a
    /// move committed after `ts`.
    pub fn at(&self, ts: u64) -> Option<Buckets> {
        if ts >= self.moves.newest {
            return None;
        }
        let owner: Arc<[ShardId]> = self
            .owner
            .iter()
            .enumerate()
            .map(|(b, now)| self.moves.owner_at(b as Bucket, *now, ts))
            .collect();
        Some(Buckets {
            shards: owners(&owner),
            owner,
            moves: self.moves.clone(),
        })
    }

    /// With `buckets` owned by `to` from timestamp `ts` on. Buckets `to`
    /// already owns, or out of range, are left alone.
    pub fn with_move(&self, buckets: &[Bucket], to: ShardId, ts: u64) -> Buckets {
        let mut owner = self.owner.to_vec();
        let mut moves = (*self.moves).clone();
        // One move, one epoch, whatever the number of givers; each giver
        // has its loss noted.
        let epoch = moves.epoch + 1;
        for b in buckets {
            if let Some(o) = owner.get_mut(*b as usize) {
                if *o != to {
                    moves.since.insert(*b, (ts, *o));
                    moves.lost.insert(*o, epoch);
                    moves.epoch = epoch;
                    moves.newest = moves.newest.max(ts);
                    *o = to;
                }
            }
        }
        let owner: Arc<[ShardId]> = owner.into();
        Buckets {
            shards: owners(&owner),
            owner,
            moves: Arc::new(moves),
        }
    }

    /// With buckets owned by `owner` added after the others (a new tier's).
    pub fn with_added(&self, owner: &[ShardId]) -> Buckets {
        let owner: Arc<[ShardId]> = self.owner.iter().chain(owner).copied().collect();
        Buckets {
            shards: owners(&owner),
            owner,
            moves: self.moves.clone(),
        }
    }

    /// With the outcome of transaction `tx` noted: committed at a
    /// timestamp, or aborted.
    pub fn with_outcome(&self, tx: u64, committed_at: Option<u64>) -> Buckets {
        let mut next = self.clone();
        Arc::make_mut(&mut next.moves)
            .outcomes
            .insert(tx, committed_at);
        next
    }
}

/// The shards that own buckets in `owner` (`owner[b]` owns bucket `b`),
/// ascending.
pub fn owners(owner: &[ShardId]) -> Arc<[ShardId]> {
    let mut shards: Vec<ShardId> = Vec::new();
    for s in owner {
        if shards.last() != Some(s) {
            shards.push(*s);
        }
    }
    shards.sort_unstable();
    shards.dedup();
    shards.into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_read_before_a_move_sees_the_old_owner() {
        let map = Buckets::new(vec![0, 0, 1, 1].into());
        let moved = map.with_move(&[1, 3], 2, 100);
        assert_eq!(&*moved.owner, &[0, 2, 1, 2]);
        assert_eq!(moved.shards(), &[0, 1, 2]);
        assert_eq!(moved.moves.epoch, 1);
        assert_eq!(moved.moves.lost_at(0), 1);
        assert_eq!(moved.moves.lost_at(1), 1);
        assert_eq!(moved.moves.lost_at(2), 0);
        let before = moved.at(99).expect("a move after the snapshot");
        assert_eq!(&*before.owner, &[0, 0, 1, 1]);
        assert_eq!(before.shards(), &[0, 1]);
        assert!(moved.at(100).is_none());
        // A second move of a bucket: reads between the two see the middle owner.
        let again = moved.with_move(&[1], 0, 200);
        assert_eq!(again.moves.epoch, 2);
        assert_eq!(again.moves.lost_at(2), 2);
        assert_eq!(again.at(150).unwrap().owner[1], 2);
        assert_eq!(
            &*again.at(250).map_or(again.owner.clone(), |m| m.owner),
            &[0, 0, 1, 2]
        );
        // Buckets the taker owns already move nowhere.
        let same = again.with_move(&[0], 0, 300);
        assert_eq!(same.moves.epoch, 2);
    }
}
