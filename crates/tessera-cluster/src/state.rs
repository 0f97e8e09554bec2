//! What the metadata Raft group agrees on: the cluster's system tables and
//! the commands that change them. Every node applies the same commands in
//! the same order, so every node holds the same tables; nothing else may
//! change them.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;

use openraft::{LogId, StoredMembership};
use serde::{Deserialize, Serialize};
use tessera_types::global::{GlobalOp, GlobalRows};
use tessera_types::sequence::{Claimed, SequencePosition};

pub type NodeId = u64;

/// A Raft member as openraft sees it: where its internal port is.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RaftNode {
    pub addr: String,
}

openraft::declare_raft_types!(
    /// The metadata group's types.
    pub TypeConfig:
        D = Command,
        R = CommandResult,
        NodeId = NodeId,
        Node = RaftNode,
        SnapshotData = Vec<u8>,
);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum NodeState {
    /// A member of the cluster (reachable or not: liveness is not stored).
    Online,
    /// Removed by `tessera expel`; its id is never reused.
    Expelled,
    /// Being expelled: still a member in every way, but it gives its
    /// buckets away and takes none (docs/CLUSTER.md §8).
    Draining,
}

impl NodeState {
    pub fn name(self) -> &'static str {
        match self {
            NodeState::Online => "online",
            NodeState::Expelled => "expelled",
            NodeState::Draining => "draining",
        }
    }

    /// Whether a node in this state belongs to the cluster (votes, is
    /// asked, serves); only an online one takes buckets.
    pub fn is_member(self) -> bool {
        matches!(self, NodeState::Online | NodeState::Draining)
    }
}

/// One row of the nodes table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeRecord {
    pub id: NodeId,
    /// Chosen by the node when its data directory was created; a join
    /// retried after a crash finds its earlier row by it.
    pub uuid: u128,
    pub name: String,
    /// The internal address other nodes reach it at.
    pub advertise: String,
    /// Where PostgreSQL clients reach it.
    pub pg_addr: String,
    pub shards: u16,
    /// The cluster-wide number of its shard 0: its shards are
    /// `first_shard..first_shard + shards` everywhere in the cluster (the
    /// bucket map, transaction and row ids). Given when it joins.
    pub first_shard: u16,
    pub failure_domain: BTreeMap<String, String>,
    pub state: NodeState,
    /// Its place in its replica group (docs/CLUSTER.md §3), never reused
    /// there: the group's members share shard numbers, so each hands out
    /// ids (their sequence part) from its own slot's range
    /// ([`slot_ids`]). 0 for a group's first node, so always 0 with a
    /// replication factor of 1.
    pub slot: u8,
    /// The tier it is in (docs/CLUSTER.md §3): its replica group's
    /// members are all of it.
    pub tier: String,
}

/// The tier a node is in when it names none.
pub const DEFAULT_TIER: &str = "default";

/// A tier (docs/CLUSTER.md §3): a named set of replica groups with their
/// own replication factor and mode. Made by its first node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tier {
    pub name: String,
    /// How many nodes form each of its replica groups.
    pub replication_factor: u16,
    /// When its masters acknowledge a commit.
    pub replication_mode: ReplicationMode,
}

/// What a joining node asks of its tier: the settings it was started
/// with, if any. A new tier takes them (or the defaults); an existing
/// tier's must match the ones given.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TierWish {
    pub replication_factor: Option<u16>,
    pub replication_mode: Option<ReplicationMode>,
}

/// How many nodes a replica group numbers over its life (each takes a
/// slot of the id space).
pub const GROUP_SLOTS: u8 = 16;

/// The id sequence numbers a group member in `slot` hands out: the
/// 48-bit sequence space (`tessera_storage::record::make_id`) split into
/// [`GROUP_SLOTS`] ranges.
pub fn slot_ids(slot: u8) -> std::ops::Range<u64> {
    const SPAN: u64 = 1 << 44;
    slot as u64 * SPAN..(slot as u64 + 1) * SPAN
}

/// The master of a logical shard's replica set (docs/CLUSTER.md §3, §6):
/// the node whose instance takes its requests, and how many times a
/// master was chosen for it (requests name it; an instance refuses an
/// epoch that is not its own as master).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Master {
    pub node: NodeId,
    pub epoch: u64,
}

/// Where a master's own writes begin in its shard's log (docs/CLUSTER.md
/// §6): the end of what it copied when it took over. A member whose log
/// holds records of an older epoch past the start of the next one holds
/// an old master's tail that no later master has.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct EpochStart {
    pub epoch: u64,
    pub node: NodeId,
    pub start: u64,
}

impl NodeRecord {
    /// Its shards' cluster-wide numbers.
    pub fn shard_range(&self) -> std::ops::Range<u16> {
        self.first_shard..self.first_shard.saturating_add(self.shards)
    }
}

/// A change to the system tables, proposed through the Raft leader.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Command {
    /// The first entry of a new cluster: its id and its first node.
    /// Its buckets (`bucket_count` of them) all go to the first node's
    /// shards.
    Bootstrap {
        cluster_id: u128,
        node: NodeRecord,
        bucket_count: u32,
        /// How many nodes keep a copy of each shard (docs/CLUSTER.md §3).
        replication_factor: u16,
        /// When a commit is acknowledged (docs/CLUSTER.md §5).
        replication_mode: ReplicationMode,
    },
    /// A node asks to join (or rejoin after a crash during its join): the
    /// answer is its id, the existing one if its uuid is known. Its tier
    /// (`node.tier`) is made with `wish`'s settings if it is new.
    AddNode { node: NodeRecord, wish: TierWish },
    /// A known node restarted with new addresses or failure domains.
    UpdateNode { node: NodeRecord },
    /// `tessera expel`: the node leaves for good; its id is never reused
    /// and its data directory cannot rejoin.
    ExpelNode { id: NodeId },
    /// The cluster DDL lock for `node` (see [`Metadata::catalog_lock`]):
    /// answered `CatalogLen` when it holds it (also if it already did),
    /// `Busy` while another node does.
    CatalogLock { node: NodeId, proposal: u64 },
    /// Records of the SQL catalog, appended in order. With `held`, taken
    /// only while `node` holds the lock (it computed them under it; if the
    /// lock was broken meanwhile they are refused). Without, they depend on
    /// no catalog (a block's decision without changes) and are taken
    /// unless another node holds the lock. `unlock` releases the lock with
    /// them.
    Catalog {
        node: NodeId,
        proposal: u64,
        records: Vec<Vec<u8>>,
        held: bool,
        unlock: bool,
    },
    /// Releases the lock if `node` holds it. Also a node's fence at
    /// start-up: once applied, nothing it proposed before can still be
    /// committed after it.
    CatalogUnlock { node: NodeId, proposal: u64 },
    /// Changes nothing: once it is applied, every command proposed before
    /// it is either applied or lost for good.
    Fence,
    /// The governor takes the lock from a node that has not answered for
    /// longer than the voter-down timeout: its change, if it comes back
    /// with one, is refused.
    BreakCatalogLock { node: NodeId },
    /// `node`'s shards may hand out transaction and row ids (their
    /// sequence part) below `up_to`: answered `Lease` with the lease's end,
    /// which never decreases (see [`Metadata::id_leases`]).
    LeaseIds {
        node: NodeId,
        proposal: u64,
        up_to: u64,
    },
    /// `node` moves sequences' positions (docs/CLUSTER.md §4): answered
    /// `Claims`, one per claim, in order.
    ClaimSequences {
        node: NodeId,
        claims: Vec<SequenceMove>,
    },
    /// Statements' changes to global tables, each applied whole if every
    /// row it changes is still as its `old` says, else not at all.
    WriteGlobals {
        node: NodeId,
        proposal: u64,
        writes: Vec<Vec<GlobalOp>>,
    },
    /// `tessera expel` of a node that owns buckets: it gives them away
    /// before it is expelled (answered `Done`, also if it already was
    /// draining). Refused for the last online node: nothing could take
    /// its buckets.
    DrainNode { id: NodeId },
    /// The governor's failover (docs/CLUSTER.md §6): `node` becomes master,
    /// in a new epoch, of the shards of the group starting at
    /// `first_shard` whose master is still `from`.
    Promote {
        first_shard: u16,
        node: NodeId,
        from: NodeId,
    },
    /// A new master stopped copying: its own writes of `epoch` begin at
    /// position `start` of shard `shard`'s log. It takes requests once
    /// this is applied.
    StartEpoch {
        shard: u16,
        epoch: u64,
        node: NodeId,
        start: u64,
    },
    /// The governor's failover, shard by shard: `node` becomes master, in
    /// a new epoch, of those of `shards` (of the group starting at
    /// `first_shard`) whose master is still `from`. Each shard goes to the
    /// member whose copy of it reaches furthest, so one group's masters
    /// may end up on different members.
    PromoteShards {
        first_shard: u16,
        node: NodeId,
        from: NodeId,
        shards: Vec<u16>,
    },
}

/// A move of a sequence's position to `value`: taken only if the
/// position's version is still `after` (the one the node's values
/// extend), or whatever it is without one (`setval`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SequenceMove {
    pub sequence: u32,
    pub after: Option<u64>,
    pub value: i64,
    pub is_called: bool,
}

impl std::fmt::Display for Command {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Command::Bootstrap { node, .. } => write!(f, "bootstrap by {}", node.name),
            Command::AddNode { node, .. } => write!(f, "add node {}", node.name),
            Command::UpdateNode { node } => write!(f, "update node {}", node.id),
            Command::ExpelNode { id } => write!(f, "expel node {id}"),
            Command::DrainNode { id } => write!(f, "drain node {id}"),
            Command::CatalogLock { node, .. } => write!(f, "catalog lock for node {node}"),
            Command::Catalog { node, records, .. } => {
                write!(f, "{} catalog records from node {node}", records.len())
            }
            Command::CatalogUnlock { node, .. } => write!(f, "catalog unlock by node {node}"),
            Command::Fence => write!(f, "fence"),
            Command::BreakCatalogLock { node } => write!(f, "break node {node}'s catalog lock"),
            Command::LeaseIds { node, up_to, .. } => {
                write!(f, "ids below {up_to} for node {node}")
            }
            Command::ClaimSequences { node, claims } => {
                write!(f, "{} sequence claims by node {node}", claims.len())
            }
            Command::WriteGlobals { node, writes, .. } => {
                write!(f, "{} writes to global tables by node {node}", writes.len())
            }
            Command::Promote {
                first_shard,
                node,
                from,
            } => write!(
                f,
                "node {node} takes over from node {from} as master of group {first_shard}"
            ),
            Command::StartEpoch {
                shard,
                epoch,
                start,
                ..
            } => write!(f, "shard {shard}'s epoch {epoch} starts at {start}"),
            Command::PromoteShards {
                node, from, shards, ..
            } => write!(
                f,
                "node {node} takes over from node {from} as master of shards {shards:?}"
            ),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum CommandResult {
    Done,
    NodeId(NodeId),
    /// The command was valid Raft data but wrong for the tables (applied as
    /// a no-op on every node alike).
    Refused(String),
    /// The catalog lock is taken, or records were appended: the number of
    /// catalog records after the command.
    CatalogLen(u64),
    /// Another node holds the catalog lock.
    Busy(NodeId),
    /// The end of a node's id lease.
    Lease(u64),
    /// What became of each claim of a `ClaimSequences`.
    Claims(Vec<Claimed>),
    /// Per write of a `WriteGlobals`: its number once applied, or `None`
    /// when a row it changes had changed since its writer read it.
    Globals(Vec<Option<u64>>),
}

/// Which cluster-wide shard owns each bucket (`map[b]` for bucket `b`).
/// Shared by the copies the tables are published as, like the catalog.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BucketMap(Arc<Vec<u16>>);

impl BucketMap {
    /// `bucket_count` buckets split into equal contiguous ranges over
    /// shards `first..first + shards`.
    pub fn even(bucket_count: u32, first: u16, shards: u16) -> BucketMap {
        let shards = shards.max(1) as u64;
        let map = (0..bucket_count as u64)
            .map(|b| first + (b * shards / bucket_count as u64) as u16)
            .collect();
        BucketMap(Arc::new(map))
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// `map[b]` owns bucket `b`.
    pub fn as_slice(&self) -> &[u16] {
        &self.0
    }

    /// How many buckets cluster-wide shard `shard` owns.
    pub fn owned_by(&self, shard: u16) -> usize {
        self.0.iter().filter(|s| **s == shard).count()
    }

    /// How many buckets `node`'s shards own.
    pub fn owned_by_node(&self, node: &NodeRecord) -> usize {
        let shards = node.shard_range();
        self.0.iter().filter(|s| shards.contains(s)).count()
    }
}

impl From<Vec<u16>> for BucketMap {
    fn from(map: Vec<u16>) -> BucketMap {
        BucketMap(Arc::new(map))
    }
}

impl Serialize for BucketMap {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        self.0.as_slice().serialize(s)
    }
}

impl<'de> Deserialize<'de> for BucketMap {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        Vec::<u16>::deserialize(d).map(|v| BucketMap(Arc::new(v)))
    }
}

/// The SQL catalog's records in the order they were committed: opaque
/// here (tessera-sql encodes and applies them). Shared by the copies the
/// tables are published as; an append copies the list only while one is
/// still read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CatalogRecords(Arc<Vec<Vec<u8>>>);

impl CatalogRecords {
    pub fn len(&self) -> u64 {
        self.0.len() as u64
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    /// All of them, shared.
    pub fn all(&self) -> Arc<Vec<Vec<u8>>> {
        self.0.clone()
    }
    /// The records from number `start` on.
    pub fn since(&self, start: u64) -> &[Vec<u8>] {
        self.0.get(start as usize..).unwrap_or(&[])
    }
    fn extend(&mut self, records: &[Vec<u8>]) {
        Arc::make_mut(&mut self.0).extend_from_slice(records);
    }
}

impl Serialize for CatalogRecords {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        self.0.as_slice().serialize(s)
    }
}

impl<'de> Deserialize<'de> for CatalogRecords {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        Vec::<Vec<u8>>::deserialize(d).map(|v| CatalogRecords(Arc::new(v)))
    }
}

/// Where each sequence is (by its id), once a node claimed values of it:
/// the values up to the position are some node's. Shared by the copies
/// the tables are published as, like the catalog.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SequencePositions(Arc<BTreeMap<u32, SequencePosition>>);

impl SequencePositions {
    pub fn get(&self, sequence: u32) -> Option<SequencePosition> {
        self.0.get(&sequence).copied()
    }
    pub fn iter(&self) -> impl Iterator<Item = (u32, SequencePosition)> + '_ {
        self.0.iter().map(|(id, p)| (*id, *p))
    }
}

impl Serialize for SequencePositions {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        self.0.as_ref().serialize(s)
    }
}

impl<'de> Deserialize<'de> for SequencePositions {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        BTreeMap::deserialize(d).map(|m| SequencePositions(Arc::new(m)))
    }
}

/// The system tables.
/// How many of the latest writes to global tables the tables keep for the
/// nodes that follow them; a node further behind copies the rows whole.
pub const GLOBAL_WRITES_KEPT: usize = 1024;

/// The global tables' rows (docs/CLUSTER.md §7) and the latest writes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GlobalTables {
    pub tables: BTreeMap<u32, GlobalRows>,
    /// How many writes were applied.
    pub applied: u64,
    /// The latest writes, with their numbers, oldest first.
    pub recent: Arc<VecDeque<(u64, Arc<Vec<GlobalOp>>)>>,
}

impl GlobalTables {
    /// Applies `ops` if every row is as its `old` says: the write's number.
    fn write(&mut self, ops: &[GlobalOp]) -> Option<u64> {
        let holds = ops.iter().all(|op| {
            let now = self
                .tables
                .get(&op.table)
                .and_then(|rows| rows.get(&op.key));
            now == op.old.as_ref()
        });
        if !holds {
            return None;
        }
        for op in ops {
            let rows = Arc::make_mut(self.tables.entry(op.table).or_default());
            match &op.new {
                Some(row) => rows.insert(op.key.clone(), row.clone()),
                None => rows.remove(&op.key),
            };
        }
        self.applied += 1;
        let recent = Arc::make_mut(&mut self.recent);
        recent.push_back((self.applied, Arc::new(ops.to_vec())));
        while recent.len() > GLOBAL_WRITES_KEPT {
            recent.pop_front();
        }
        Some(self.applied)
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Metadata {
    pub cluster_id: u128,
    pub nodes: BTreeMap<NodeId, NodeRecord>,
    pub last_applied: Option<LogId<NodeId>>,
    pub membership: StoredMembership<NodeId, RaftNode>,
    /// The SQL catalog (CLUSTER.md step 2): every node applies these
    /// records, as a node outside a cluster replays its `catalog.wal`.
    pub catalog: CatalogRecords,
    /// The cluster DDL lock: the node whose catalog change is under way.
    /// It computes changes from a catalog that holds every record, and no
    /// other node's change can come between.
    pub catalog_lock: Option<NodeId>,
    /// Per node: its last catalog command's proposal number and result, so
    /// a node that lost the answer can learn the outcome.
    pub proposals: BTreeMap<NodeId, (u64, CommandResult)>,
    /// Which cluster-wide shard owns each bucket. Buckets move between
    /// shards only by rebalancing (CLUSTER.md step 8); until then a node
    /// that joins routes to the shards that hold them.
    pub buckets: BucketMap,
    /// Per node: its shards hand out ids (the sequence part) only below
    /// this. A node starts from its lease's end and extends the lease long
    /// before it reaches it, so no id is handed out twice, even one that
    /// only another node's log recorded.
    pub id_leases: BTreeMap<NodeId, u64>,
    /// Where each sequence is (docs/CLUSTER.md §4): a node hands out the
    /// values its claims were granted, so no two nodes hand out one value.
    /// A sequence no node claimed yet has no entry (version 0).
    pub sequences: SequencePositions,
    /// How many `ClaimSequences` were applied: a node that follows the
    /// positions looks again only when it grows.
    pub sequence_claims: u64,
    /// The global tables' rows.
    pub globals: GlobalTables,
    /// Per node: its last `WriteGlobals`'s proposal number and result (the
    /// node proposes them one at a time, apart from its catalog commands).
    pub global_proposals: BTreeMap<NodeId, (u64, CommandResult)>,
    /// The tiers, by name: each node is in one (docs/CLUSTER.md §3).
    pub tiers: BTreeMap<String, Tier>,
    /// Per logical shard: its master (docs/CLUSTER.md §3).
    pub masters: BTreeMap<u16, Master>,
    /// Per logical shard: where each epoch's master began writing, oldest
    /// first (an epoch whose master never started has none).
    pub epoch_starts: BTreeMap<u16, Vec<EpochStart>>,
}

/// When a replica group's master acknowledges a commit (docs/CLUSTER.md §5).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum ReplicationMode {
    /// Once its own log holds it durably; replicas copy it after.
    #[default]
    Async,
    /// Once a majority of the group (the master counted) holds it
    /// durably: a failover then loses no acknowledged commit.
    Sync,
}

impl ReplicationMode {
    pub fn name(self) -> &'static str {
        match self {
            ReplicationMode::Async => "async",
            ReplicationMode::Sync => "sync",
        }
    }

    /// The mode [`ReplicationMode::name`] names.
    pub fn from_name(name: &str) -> Option<ReplicationMode> {
        [ReplicationMode::Async, ReplicationMode::Sync]
            .into_iter()
            .find(|m| m.name() == name)
    }
}

impl Metadata {
    fn next_node_id(&self) -> NodeId {
        self.nodes.keys().next_back().map_or(1, |id| id + 1)
    }

    /// The cluster-wide number the next node's shard 0 gets: past every
    /// node's shards, expelled ones too (their numbers may still appear in
    /// logs as transaction ids and two-phase participants).
    fn next_first_shard(&self) -> Option<u16> {
        let next = self
            .nodes
            .values()
            .map(|n| n.first_shard as u32 + n.shards as u32)
            .max()
            .unwrap_or(0);
        u16::try_from(next).ok()
    }

    /// The tier named `name`; a tier no node made yet has the defaults.
    pub fn tier(&self, name: &str) -> Tier {
        self.tiers.get(name).cloned().unwrap_or_else(|| Tier {
            name: name.to_string(),
            replication_factor: 1,
            replication_mode: ReplicationMode::Async,
        })
    }

    /// The tier of the replica group whose first shard is `first_shard`
    /// (its members' tier).
    pub fn group_tier(&self, first_shard: u16) -> Tier {
        let name = self
            .nodes
            .values()
            .find(|n| n.first_shard == first_shard)
            .map_or(DEFAULT_TIER, |n| n.tier.as_str());
        self.tier(name)
    }

    /// The largest replication factor of any tier: 1 when no shard has
    /// a copy on another node.
    pub fn max_replication_factor(&self) -> u16 {
        self.tiers
            .values()
            .map(|t| t.replication_factor)
            .max()
            .unwrap_or(1)
            .max(1)
    }

    /// How many replicas (members other than the master) of the replica
    /// group whose first shard is `first_shard` must hold a record durably
    /// before its master acknowledges it: in sync mode, with the master a
    /// majority of the group's members (down ones too; a group not yet
    /// full has fewer); in async mode, none.
    pub fn replica_acks(&self, first_shard: u16) -> u16 {
        match self.group_tier(first_shard).replication_mode {
            ReplicationMode::Async => 0,
            ReplicationMode::Sync => (self.group(first_shard).len() / 2) as u16,
        }
    }

    /// How many members other than a failed master of the group whose
    /// first shard is `first_shard` must report how far their logs reach
    /// before one is promoted: in sync mode, enough that one of them holds
    /// every record a majority held (the most data is then all
    /// acknowledged data); in async mode, any one.
    pub fn heirs_heard(&self, first_shard: u16) -> usize {
        match self.group_tier(first_shard).replication_mode {
            ReplicationMode::Async => 1,
            ReplicationMode::Sync => {
                let members = self.group(first_shard).len();
                members
                    .saturating_sub(self.replica_acks(first_shard) as usize)
                    .max(1)
            }
        }
    }

    /// The node that takes cluster-wide shard `shard`'s requests (its
    /// replica set's master: every shard numbered has one), and the
    /// shard's number there.
    pub fn shard_home(&self, shard: u16) -> Option<(&NodeRecord, u16)> {
        let home = self.nodes.get(&self.masters.get(&shard)?.node)?;
        Some((home, shard - home.first_shard))
    }

    /// The members of the replica group whose shards start at
    /// `first_shard` (expelled nodes are not), by slot.
    pub fn group(&self, first_shard: u16) -> Vec<&NodeRecord> {
        self.groups().remove(&first_shard).unwrap_or_default()
    }

    /// The first shards of the replica groups (those with members), each
    /// with its members.
    pub fn groups(&self) -> BTreeMap<u16, Vec<&NodeRecord>> {
        let mut groups: BTreeMap<u16, Vec<&NodeRecord>> = BTreeMap::new();
        for n in self.nodes.values().filter(|n| n.state.is_member()) {
            groups.entry(n.first_shard).or_default().push(n);
        }
        for members in groups.values_mut() {
            members.sort_by_key(|n| n.slot);
        }
        groups
    }

    /// The cluster-wide shards of the groups in `state`: online, every
    /// member online and as many as their tier's replication factor;
    /// draining, any member draining.
    pub fn shards_of_groups(&self, state: NodeState) -> Vec<u16> {
        self.shards_of_groups_where(state, |_| true)
    }

    /// [`Metadata::shards_of_groups`] of tier `tier`'s groups only.
    pub fn tier_shards_of_groups(&self, tier: &str, state: NodeState) -> Vec<u16> {
        self.shards_of_groups_where(state, |t| t == tier)
    }

    fn shards_of_groups_where(&self, state: NodeState, tier: impl Fn(&str) -> bool) -> Vec<u16> {
        self.groups()
            .into_values()
            .filter(|members| tier(&members[0].tier))
            .filter(|members| {
                let factor = self.tier(&members[0].tier).replication_factor as usize;
                let all = members.iter().all(|n| n.state == state);
                let some = members.iter().any(|n| n.state == state);
                match state {
                    NodeState::Online => all && members.len() >= factor,
                    _ => some,
                }
            })
            .flat_map(|members| members[0].shard_range())
            .collect()
    }

    /// The group `node` joins: the first one of its tier short of
    /// members, of its shard count, whose members all differ from it in
    /// every failure-domain key it gives (its first shard and the slot it
    /// takes).
    fn group_to_fill(&self, node: &NodeRecord) -> Option<(u16, u8)> {
        let (shards, domain) = (node.shards, &node.failure_domain);
        let factor = self.tier(&node.tier).replication_factor as usize;
        self.groups().into_iter().find_map(|(first, members)| {
            let fits = members.len() < factor
                && members[0].tier == node.tier
                && members[0].shards == shards
                && members.iter().all(|m| {
                    domain
                        .iter()
                        .all(|(k, v)| m.failure_domain.get(k) != Some(v))
                });
            // Slots are never reused: an expelled member's ids may be in logs.
            let next_slot = self
                .nodes
                .values()
                .filter(|n| n.first_shard == first)
                .map(|n| n.slot + 1)
                .max()
                .unwrap_or(0);
            (fits && next_slot < GROUP_SLOTS).then_some((first, next_slot))
        })
    }

    /// A new group's shards start with `node` as their master.
    fn master_all(&mut self, node: &NodeRecord) {
        for shard in node.shard_range() {
            self.masters.insert(
                shard,
                Master {
                    node: node.id,
                    epoch: 1,
                },
            );
            self.epoch_starts.insert(
                shard,
                vec![EpochStart {
                    epoch: 1,
                    node: node.id,
                    start: 0,
                }],
            );
        }
    }

    /// Whether `node` is shard `shard`'s master and has started its epoch
    /// (it takes requests), and in which epoch.
    pub fn started_master(&self, shard: u16, node: NodeId) -> Option<u64> {
        let m = self.masters.get(&shard).filter(|m| m.node == node)?;
        self.epoch_starts
            .get(&shard)?
            .iter()
            .any(|s| s.epoch == m.epoch)
            .then_some(m.epoch)
    }

    /// How far a member whose log's last records came from the master of
    /// epoch `epoch` may reach in shard `shard`'s log and still hold only
    /// what the current master holds: the start of the first later epoch
    /// (`None`: no later epoch began, nothing to cut).
    pub fn fork_after(&self, shard: u16, epoch: u64) -> Option<u64> {
        self.epoch_starts
            .get(&shard)?
            .iter()
            .find(|s| s.epoch > epoch)
            .map(|s| s.start)
    }

    /// `node` leaves its group: another member becomes master of the
    /// shards it was master of (a new epoch).
    fn hand_masters_over(&mut self, node: NodeId) {
        let Some(first) = self.nodes.get(&node).map(|n| n.first_shard) else {
            return;
        };
        let heir = self
            .group(first)
            .into_iter()
            .find(|m| m.id != node)
            .map(|m| m.id);
        let Some(heir) = heir else {
            return;
        };
        for m in self.masters.values_mut().filter(|m| m.node == node) {
            m.node = heir;
            m.epoch += 1;
        }
    }

    /// The tier a node joining tier `name` with `wish` is in: the
    /// existing one, refused if `wish` names other settings, or a new one
    /// with `wish`'s settings.
    fn tier_for(&self, name: &str, wish: &TierWish) -> Result<Tier, CommandResult> {
        if name.is_empty() {
            return Err(CommandResult::Refused(
                "a tier's name cannot be empty".into(),
            ));
        }
        let Some(tier) = self.tiers.get(name) else {
            return Ok(Tier {
                name: name.to_string(),
                replication_factor: wish.replication_factor.unwrap_or(1).max(1),
                replication_mode: wish.replication_mode.unwrap_or_default(),
            });
        };
        if let Some(factor) = wish
            .replication_factor
            .filter(|f| *f != tier.replication_factor)
        {
            return Err(CommandResult::Refused(format!(
                "tier \"{name}\" has a replication factor of {}, not {factor}; start the node without --replication-factor to join it, or with --tier to make another tier",
                tier.replication_factor
            )));
        }
        if let Some(mode) = wish
            .replication_mode
            .filter(|m| *m != tier.replication_mode)
        {
            return Err(CommandResult::Refused(format!(
                "tier \"{name}\" replicates in {} mode, not {}; start the node without --replication-mode to join it, or with --tier to make another tier",
                tier.replication_mode.name(),
                mode.name()
            )));
        }
        Ok(tier.clone())
    }

    pub fn node_by_uuid(&self, uuid: u128) -> Option<&NodeRecord> {
        self.nodes.values().find(|n| n.uuid == uuid)
    }

    /// `Promote` (`only: None`, every shard of the group `from` is master
    /// of) or `PromoteShards` (those of `only`).
    fn promote(
        &mut self,
        first_shard: u16,
        node: NodeId,
        from: NodeId,
        only: Option<&[u16]>,
    ) -> CommandResult {
        let heir = self
            .nodes
            .get(&node)
            .filter(|n| n.state == NodeState::Online && n.first_shard == first_shard);
        let Some(heir) = heir else {
            return CommandResult::Refused(format!(
                "node {node} is not an online member of group {first_shard}"
            ));
        };
        let mut promoted = 0;
        for shard in heir.shard_range() {
            if only.is_some_and(|only| !only.contains(&shard)) {
                continue;
            }
            if let Some(m) = self.masters.get_mut(&shard).filter(|m| m.node == from) {
                m.node = node;
                m.epoch += 1;
                promoted += 1;
            }
        }
        match promoted {
            0 => CommandResult::Refused(format!(
                "node {from} is master of none of those shards of group {first_shard}"
            )),
            _ => CommandResult::Done,
        }
    }

    /// Applies one command. Deterministic: it looks at nothing but the
    /// tables and the command.
    pub fn apply(&mut self, command: &Command) -> CommandResult {
        match command {
            Command::Bootstrap {
                cluster_id,
                node,
                bucket_count,
                replication_factor,
                replication_mode,
            } => {
                if self.cluster_id != 0 {
                    return CommandResult::Refused("the cluster is already bootstrapped".into());
                }
                self.cluster_id = *cluster_id;
                let tier = Tier {
                    name: node.tier.clone(),
                    replication_factor: (*replication_factor).max(1),
                    replication_mode: *replication_mode,
                };
                self.tiers.insert(tier.name.clone(), tier);
                let mut row = node.clone();
                row.first_shard = 0;
                row.slot = 0;
                self.buckets = BucketMap::even(*bucket_count, 0, row.shards);
                self.master_all(&row);
                self.nodes.insert(row.id, row);
                CommandResult::NodeId(node.id)
            }
            Command::AddNode { node, wish } => {
                if let Some(known) = self.node_by_uuid(node.uuid) {
                    if known.state == NodeState::Expelled {
                        return CommandResult::Refused(format!(
                            "node {} was expelled from the cluster; start it with a new data directory to join again",
                            known.id
                        ));
                    }
                    return CommandResult::NodeId(known.id);
                }
                if self
                    .nodes
                    .values()
                    .any(|n| n.state.is_member() && n.name == node.name)
                {
                    return CommandResult::Refused(format!(
                        "a node named \"{}\" is already in the cluster",
                        node.name
                    ));
                }
                let tier = match self.tier_for(&node.tier, wish) {
                    Ok(tier) => tier,
                    Err(refused) => return refused,
                };
                let id = self.next_node_id();
                let mut row = node.clone();
                row.id = id;
                row.state = NodeState::Online;
                if let Some((first_shard, slot)) = self.group_to_fill(&row) {
                    row.first_shard = first_shard;
                    row.slot = slot;
                    self.id_leases.insert(id, slot_ids(slot).start);
                } else {
                    let Some(first_shard) = self
                        .next_first_shard()
                        .filter(|f| f.checked_add(node.shards).is_some())
                    else {
                        return CommandResult::Refused(format!(
                            "the cluster has numbered {} shards and cannot number {} more",
                            u16::MAX,
                            node.shards
                        ));
                    };
                    row.first_shard = first_shard;
                    row.slot = 0;
                    self.master_all(&row);
                }
                self.tiers.entry(tier.name.clone()).or_insert(tier);
                self.nodes.insert(id, row);
                CommandResult::NodeId(id)
            }
            Command::UpdateNode { node } => match self.nodes.get_mut(&node.id) {
                Some(row) if row.uuid == node.uuid && row.shards != node.shards => {
                    CommandResult::Refused(format!(
                        "node {} has {} shards in the cluster and cannot restart with {}",
                        node.id, row.shards, node.shards
                    ))
                }
                Some(row) if row.uuid == node.uuid && row.tier != node.tier => {
                    CommandResult::Refused(format!(
                        "node {} is in tier \"{}\" and cannot restart in tier \"{}\"",
                        node.id, row.tier, node.tier
                    ))
                }
                Some(row) if row.uuid == node.uuid && row.state.is_member() => {
                    row.advertise = node.advertise.clone();
                    row.pg_addr = node.pg_addr.clone();
                    row.failure_domain = node.failure_domain.clone();
                    CommandResult::Done
                }
                Some(row) if row.state == NodeState::Expelled => {
                    CommandResult::Refused(format!("node {} was expelled", node.id))
                }
                _ => CommandResult::Refused(format!("node {} is not known", node.id)),
            },
            Command::ExpelNode { id } => {
                let members = self.nodes.values().filter(|n| n.state.is_member()).count();
                match self.nodes.get_mut(id) {
                    Some(row) if row.state == NodeState::Expelled => {
                        CommandResult::Refused(format!("node {id} is already expelled"))
                    }
                    Some(_) if members <= 1 => CommandResult::Refused(format!(
                        "node {id} is the cluster's last node; it cannot be expelled"
                    )),
                    Some(row) => {
                        row.state = NodeState::Expelled;
                        // A change it had under way never finishes.
                        self.release_catalog_lock(*id);
                        self.hand_masters_over(*id);
                        CommandResult::Done
                    }
                    None => CommandResult::Refused(format!("node {id} is not known")),
                }
            }
            Command::DrainNode { id } => {
                // Another group of its tier that takes buckets, once this
                // one drains.
                let (group, tier) = self
                    .nodes
                    .get(id)
                    .map(|n| (n.first_shard, n.tier.clone()))
                    .unzip();
                let others_online = self.groups().into_iter().any(|(first, members)| {
                    Some(first) != group
                        && Some(&members[0].tier) == tier.as_ref()
                        && members.iter().all(|n| n.state == NodeState::Online)
                });
                match self.nodes.get_mut(id) {
                    Some(row) if row.state == NodeState::Expelled => {
                        CommandResult::Refused(format!("node {id} is already expelled"))
                    }
                    Some(row) if row.state == NodeState::Draining => CommandResult::Done,
                    Some(_) if !others_online => CommandResult::Refused(format!(
                        "node {id} is the last online node of its tier; no other could take its buckets"
                    )),
                    Some(row) => {
                        row.state = NodeState::Draining;
                        CommandResult::Done
                    }
                    None => CommandResult::Refused(format!("node {id} is not known")),
                }
            }
            Command::CatalogLock { node, proposal } => {
                let result = match self.catalog_refusal(*node) {
                    Some(refused) => refused,
                    None => {
                        self.catalog_lock = Some(*node);
                        CommandResult::CatalogLen(self.catalog.len())
                    }
                };
                self.note_proposal(*node, *proposal, &result);
                result
            }
            Command::Catalog {
                node,
                proposal,
                records,
                held,
                unlock,
            } => {
                let lost = *held && self.catalog_lock != Some(*node);
                let result = match self.catalog_refusal(*node) {
                    _ if lost => CommandResult::Refused(format!(
                        "node {node} lost the cluster DDL lock (it did not answer for too long); the change was not made"
                    )),
                    Some(refused) => refused,
                    None => {
                        self.catalog.extend(records);
                        if *unlock {
                            self.release_catalog_lock(*node);
                        }
                        CommandResult::CatalogLen(self.catalog.len())
                    }
                };
                self.note_proposal(*node, *proposal, &result);
                result
            }
            Command::CatalogUnlock { node, proposal } => {
                self.release_catalog_lock(*node);
                let result = CommandResult::CatalogLen(self.catalog.len());
                self.note_proposal(*node, *proposal, &result);
                result
            }
            Command::Fence => CommandResult::Done,
            Command::BreakCatalogLock { node } => {
                self.release_catalog_lock(*node);
                CommandResult::Done
            }
            Command::LeaseIds {
                node,
                proposal,
                up_to,
            } => {
                let slot = self.nodes.get(node).map_or(0, |n| n.slot);
                let result = if !self.is_member(*node) {
                    CommandResult::Refused(format!("node {node} is not in the cluster"))
                } else if *up_to > slot_ids(slot).end {
                    CommandResult::Refused(format!(
                        "node {node} has handed out every id of its slot in its replica group"
                    ))
                } else {
                    let lease = self.id_leases.entry(*node).or_default();
                    *lease = (*lease).max(*up_to);
                    CommandResult::Lease(*lease)
                };
                self.note_proposal(*node, *proposal, &result);
                result
            }
            Command::ClaimSequences { node, claims } => {
                if !self.is_member(*node) {
                    return CommandResult::Refused(format!("node {node} is not in the cluster"));
                }
                self.sequence_claims += 1;
                let positions = Arc::make_mut(&mut self.sequences.0);
                let outcomes = claims
                    .iter()
                    .map(|c| {
                        let now = positions.get(&c.sequence).copied();
                        let version = now.map_or(0, |p| p.version);
                        // No entry: no node holds any value yet.
                        match (c.after, now) {
                            (Some(after), Some(now)) if after != version => Claimed::Lost(now),
                            _ => {
                                let p = SequencePosition {
                                    value: c.value,
                                    is_called: c.is_called,
                                    version: version + 1,
                                    node: *node,
                                    reset: c.after.is_none(),
                                };
                                positions.insert(c.sequence, p);
                                Claimed::Granted(p.version)
                            }
                        }
                    })
                    .collect();
                CommandResult::Claims(outcomes)
            }
            Command::WriteGlobals {
                node,
                proposal,
                writes,
            } => {
                if !self.is_member(*node) {
                    return CommandResult::Refused(format!("node {node} is not in the cluster"));
                }
                let result =
                    CommandResult::Globals(writes.iter().map(|w| self.globals.write(w)).collect());
                self.global_proposals
                    .insert(*node, (*proposal, result.clone()));
                result
            }
            Command::Promote {
                first_shard,
                node,
                from,
            } => self.promote(*first_shard, *node, *from, None),
            Command::PromoteShards {
                first_shard,
                node,
                from,
                shards,
            } => self.promote(*first_shard, *node, *from, Some(shards)),
            Command::StartEpoch {
                shard,
                epoch,
                node,
                start,
            } => {
                let current = self.masters.get(shard).copied();
                if current
                    != Some(Master {
                        node: *node,
                        epoch: *epoch,
                    })
                {
                    return CommandResult::Refused(format!(
                        "node {node} is not shard {shard}'s master in epoch {epoch}"
                    ));
                }
                let starts = self.epoch_starts.entry(*shard).or_default();
                if !starts.iter().any(|s| s.epoch == *epoch) {
                    starts.push(EpochStart {
                        epoch: *epoch,
                        node: *node,
                        start: *start,
                    });
                }
                CommandResult::Done
            }
        }
    }

    /// Why `node` may not take the catalog lock or append now: another
    /// node holds the lock, or `node` is not in the cluster.
    fn catalog_refusal(&self, node: NodeId) -> Option<CommandResult> {
        match self.catalog_lock {
            Some(holder) if holder != node => Some(CommandResult::Busy(holder)),
            _ if !self.is_member(node) => Some(CommandResult::Refused(format!(
                "node {node} is not in the cluster"
            ))),
            _ => None,
        }
    }

    /// Frees the catalog lock if `node` holds it.
    fn release_catalog_lock(&mut self, node: NodeId) {
        if self.catalog_lock == Some(node) {
            self.catalog_lock = None;
        }
    }

    fn is_member(&self, node: NodeId) -> bool {
        self.nodes.get(&node).is_some_and(|n| n.state.is_member())
    }

    fn note_proposal(&mut self, node: NodeId, proposal: u64, result: &CommandResult) {
        self.proposals.insert(node, (proposal, result.clone()));
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn node(uuid: u128, name: &str) -> NodeRecord {
        NodeRecord {
            id: 0,
            uuid,
            name: name.into(),
            advertise: format!("{name}:1"),
            pg_addr: format!("{name}:2"),
            shards: 2,
            first_shard: 0,
            failure_domain: BTreeMap::new(),
            state: NodeState::Online,
            slot: 0,
            tier: DEFAULT_TIER.into(),
        }
    }

    /// A cluster founded by `first` as node 1, with 16 buckets.
    pub(crate) fn founded(mut first: NodeRecord, replication_factor: u16) -> Metadata {
        let mut m = Metadata::default();
        first.id = 1;
        m.apply(&Command::Bootstrap {
            cluster_id: 9,
            node: first,
            bucket_count: 16,
            replication_factor,
            replication_mode: ReplicationMode::Async,
        });
        m
    }

    /// A cluster of node 1 ("a", uuid 1) and node 2 ("b", uuid 2).
    fn two_nodes() -> Metadata {
        let mut m = founded(node(1, "a"), 1);
        m.apply(&Command::AddNode {
            node: node(2, "b"),
            wish: TierWish::default(),
        });
        m
    }

    #[test]
    fn joins_get_new_ids_once_and_names_stay_unique() {
        let mut m = Metadata::default();
        let mut first = node(7, "a");
        first.id = 1;
        assert_eq!(
            m.apply(&Command::Bootstrap {
                cluster_id: 9,
                node: first.clone(),
                bucket_count: 16,
                replication_factor: 1,
                replication_mode: ReplicationMode::Async,
            }),
            CommandResult::NodeId(1)
        );
        assert!(matches!(
            m.apply(&Command::Bootstrap {
                cluster_id: 10,
                node: first,
                bucket_count: 16,
                replication_factor: 1,
                replication_mode: ReplicationMode::Async,
            }),
            CommandResult::Refused(_)
        ));
        let b = node(8, "b");
        assert_eq!(
            m.apply(&Command::AddNode {
                node: b.clone(),
                wish: TierWish::default()
            }),
            CommandResult::NodeId(2)
        );
        // A retried join finds its row.
        assert_eq!(
            m.apply(&Command::AddNode {
                node: b,
                wish: TierWish::default()
            }),
            CommandResult::NodeId(2)
        );
        assert!(matches!(
            m.apply(&Command::AddNode {
                node: node(11, "a"),
                wish: TierWish::default(),
            }),
            CommandResult::Refused(_)
        ));
        let mut moved = m.nodes[&2].clone();
        moved.advertise = "elsewhere:1".into();
        assert_eq!(
            m.apply(&Command::UpdateNode { node: moved }),
            CommandResult::Done
        );
        assert_eq!(m.nodes[&2].advertise, "elsewhere:1");
        let mut regrown = m.nodes[&2].clone();
        regrown.shards = 4;
        assert!(matches!(
            m.apply(&Command::UpdateNode { node: regrown }),
            CommandResult::Refused(_)
        ));
        let mut stranger = m.nodes[&2].clone();
        stranger.uuid = 99;
        assert!(matches!(
            m.apply(&Command::UpdateNode { node: stranger }),
            CommandResult::Refused(_)
        ));
    }

    #[test]
    fn shards_are_numbered_cluster_wide_and_buckets_start_on_the_first_node() {
        let mut m = two_nodes();
        assert_eq!(m.nodes[&1].first_shard, 0);
        assert_eq!(m.nodes[&2].first_shard, 2);
        assert_eq!(m.buckets.len(), 16);
        assert_eq!(m.buckets.owned_by(0), 8);
        assert_eq!(m.buckets.owned_by(1), 8);
        assert_eq!(m.buckets.owned_by(2), 0);
        assert_eq!(m.shard_home(3).map(|(n, s)| (n.id, s)), Some((2, 1)));
        assert!(m.shard_home(4).is_none());
        // Numbers are never reused, not even an expelled node's.
        m.apply(&Command::ExpelNode { id: 2 });
        m.apply(&Command::AddNode {
            node: node(3, "c"),
            wish: TierWish::default(),
        });
        assert_eq!(m.nodes[&3].first_shard, 4);
        let mut big = node(4, "d");
        big.shards = u16::MAX;
        assert!(matches!(
            m.apply(&Command::AddNode {
                node: big,
                wish: TierWish::default()
            }),
            CommandResult::Refused(_)
        ));
    }

    #[test]
    fn id_leases_only_grow_and_only_for_members() {
        let mut m = two_nodes();
        let lease = |m: &mut Metadata, node, up_to| {
            m.apply(&Command::LeaseIds {
                node,
                proposal: 1,
                up_to,
            })
        };
        assert_eq!(lease(&mut m, 2, 0), CommandResult::Lease(0));
        assert_eq!(lease(&mut m, 2, 100), CommandResult::Lease(100));
        assert_eq!(lease(&mut m, 2, 50), CommandResult::Lease(100));
        assert_eq!(lease(&mut m, 1, 7), CommandResult::Lease(7));
        assert!(matches!(lease(&mut m, 9, 7), CommandResult::Refused(_)));
        // The outcome is kept for a node that lost the answer.
        assert_eq!(m.proposals[&2], (1, CommandResult::Lease(100)));
    }

    #[test]
    fn a_draining_node_stays_a_member_and_the_last_online_node_cannot_drain() {
        let mut m = two_nodes();
        assert_eq!(m.apply(&Command::DrainNode { id: 2 }), CommandResult::Done);
        assert_eq!(m.nodes[&2].state, NodeState::Draining);
        assert!(m.is_member(2), "a draining node is still a member");
        // Again: the same answer.
        assert_eq!(m.apply(&Command::DrainNode { id: 2 }), CommandResult::Done);
        // The other one is now the only node that could take buckets.
        assert!(matches!(
            m.apply(&Command::DrainNode { id: 1 }),
            CommandResult::Refused(_)
        ));
        // A draining node restarts with new addresses like any member.
        let mut moved = m.nodes[&2].clone();
        moved.advertise = "elsewhere:1".into();
        assert_eq!(
            m.apply(&Command::UpdateNode { node: moved }),
            CommandResult::Done
        );
        assert_eq!(m.apply(&Command::ExpelNode { id: 2 }), CommandResult::Done);
        assert!(matches!(
            m.apply(&Command::DrainNode { id: 2 }),
            CommandResult::Refused(_)
        ));
        assert!(matches!(
            m.apply(&Command::DrainNode { id: 9 }),
            CommandResult::Refused(_)
        ));
    }

    #[test]
    fn an_expelled_node_stays_out_and_the_last_node_stays_in() {
        let mut m = two_nodes();
        let b = node(2, "b");
        assert_eq!(m.apply(&Command::ExpelNode { id: 2 }), CommandResult::Done);
        assert_eq!(m.nodes[&2].state, NodeState::Expelled);
        assert!(matches!(
            m.apply(&Command::ExpelNode { id: 2 }),
            CommandResult::Refused(_)
        ));
        // Its data directory cannot come back, under its id or a new one.
        assert!(matches!(
            m.apply(&Command::AddNode {
                node: b,
                wish: TierWish::default()
            }),
            CommandResult::Refused(_)
        ));
        assert!(matches!(
            m.apply(&Command::ExpelNode { id: 1 }),
            CommandResult::Refused(_)
        ));
        assert!(matches!(
            m.apply(&Command::ExpelNode { id: 7 }),
            CommandResult::Refused(_)
        ));
        // Its name is free again.
        assert_eq!(
            m.apply(&Command::AddNode {
                node: node(3, "b"),
                wish: TierWish::default()
            }),
            CommandResult::NodeId(3)
        );
    }

    #[test]
    fn the_catalog_lock_has_one_holder_and_records_follow_it() {
        let mut m = two_nodes();
        let append = |node, proposal, unlock| Command::Catalog {
            node,
            proposal,
            records: vec![vec![node as u8, proposal as u8]],
            held: unlock,
            unlock,
        };
        assert_eq!(
            m.apply(&Command::CatalogLock {
                node: 1,
                proposal: 1
            }),
            CommandResult::CatalogLen(0)
        );
        // Taking it again is a no-op for its holder, and waits for others.
        assert_eq!(
            m.apply(&Command::CatalogLock {
                node: 1,
                proposal: 2
            }),
            CommandResult::CatalogLen(0)
        );
        assert_eq!(
            m.apply(&Command::CatalogLock {
                node: 2,
                proposal: 1
            }),
            CommandResult::Busy(1)
        );
        assert_eq!(m.apply(&append(2, 2, false)), CommandResult::Busy(1));
        assert_eq!(m.apply(&append(1, 3, true)), CommandResult::CatalogLen(1));
        assert_eq!(m.catalog_lock, None);
        // With the lock free, records that need none are taken.
        assert_eq!(m.apply(&append(2, 3, false)), CommandResult::CatalogLen(2));
        assert_eq!(m.catalog.since(1), [vec![2u8, 3u8]]);
        // Each node's last proposal and its outcome are kept.
        assert_eq!(m.proposals[&1], (3, CommandResult::CatalogLen(1)));
        assert_eq!(m.proposals[&2], (3, CommandResult::CatalogLen(2)));
        // Unlock by a node that does not hold it changes nothing; an
        // expelled holder loses the lock, and a stranger never gets it.
        m.apply(&Command::CatalogLock {
            node: 2,
            proposal: 4,
        });
        m.apply(&Command::CatalogUnlock {
            node: 1,
            proposal: 4,
        });
        assert_eq!(m.catalog_lock, Some(2));
        // A broken lock: the holder's change is refused, not appended.
        m.apply(&Command::BreakCatalogLock { node: 2 });
        assert_eq!(m.catalog_lock, None);
        assert!(matches!(
            m.apply(&append(2, 5, true)),
            CommandResult::Refused(_)
        ));
        assert_eq!(m.catalog.len(), 2);
        m.apply(&Command::CatalogLock {
            node: 2,
            proposal: 6,
        });
        m.apply(&Command::ExpelNode { id: 2 });
        assert_eq!(m.catalog_lock, None);
        assert!(matches!(
            m.apply(&Command::CatalogLock {
                node: 7,
                proposal: 1
            }),
            CommandResult::Refused(_)
        ));
        assert!(matches!(
            m.apply(&append(2, 5, true)),
            CommandResult::Refused(_)
        ));
        // The records survive the snapshot's encoding.
        let bytes = postcard::to_allocvec(&m).unwrap();
        let back: Metadata = postcard::from_bytes(&bytes).unwrap();
        assert_eq!(back, m);
    }

    #[test]
    fn a_sequence_claim_extends_the_position_it_names_or_is_lost() {
        let mut m = two_nodes();
        let claim = |node, after, value| Command::ClaimSequences {
            node,
            claims: vec![SequenceMove {
                sequence: 5,
                after,
                value,
                is_called: true,
            }],
        };
        // The first claim of a sequence, from where the node is.
        assert_eq!(
            m.apply(&claim(1, Some(0), 32)),
            CommandResult::Claims(vec![Claimed::Granted(1)])
        );
        // Node 2 still thinks no one claimed any: it learns where it is.
        let now = SequencePosition {
            value: 32,
            is_called: true,
            version: 1,
            node: 1,
            reset: false,
        };
        assert_eq!(
            m.apply(&claim(2, Some(0), 32)),
            CommandResult::Claims(vec![Claimed::Lost(now)])
        );
        assert_eq!(
            m.apply(&claim(2, Some(1), 64)),
            CommandResult::Claims(vec![Claimed::Granted(2)])
        );
        // setval: whatever the position is.
        assert_eq!(
            m.apply(&claim(1, None, 7)),
            CommandResult::Claims(vec![Claimed::Granted(3)])
        );
        assert_eq!(m.sequences.get(5).map(|p| (p.value, p.node)), Some((7, 1)));
        assert_eq!(m.sequence_claims, 4);
        // An expelled node claims nothing.
        m.apply(&Command::ExpelNode { id: 2 });
        assert!(matches!(
            m.apply(&claim(2, Some(3), 9)),
            CommandResult::Refused(_)
        ));
        let bytes = postcard::to_allocvec(&m).unwrap();
        let back: Metadata = postcard::from_bytes(&bytes).unwrap();
        assert_eq!(back, m);
    }

    #[test]
    fn a_global_write_holds_only_over_the_rows_its_writer_saw() {
        let mut m = two_nodes();
        let op = |key: &[u8], old: Option<&[u8]>, new: Option<&[u8]>| GlobalOp {
            table: 9,
            key: key.to_vec(),
            old: old.map(<[u8]>::to_vec),
            new: new.map(<[u8]>::to_vec),
        };
        let write = |node, proposal, writes| Command::WriteGlobals {
            node,
            proposal,
            writes,
        };
        // Two inserts, then an update from the row each writer saw: the
        // second writer saw the row before the first changed it.
        assert_eq!(
            m.apply(&write(
                1,
                1,
                vec![
                    vec![op(b"a", None, Some(b"1"))],
                    vec![op(b"b", None, Some(b"1"))]
                ]
            )),
            CommandResult::Globals(vec![Some(1), Some(2)])
        );
        assert_eq!(
            m.apply(&write(2, 1, vec![vec![op(b"a", Some(b"1"), Some(b"2"))]])),
            CommandResult::Globals(vec![Some(3)])
        );
        // All or nothing: "b" holds, "a" does not.
        let stale = vec![op(b"b", Some(b"1"), None), op(b"a", Some(b"1"), Some(b"3"))];
        assert_eq!(
            m.apply(&write(1, 2, vec![stale])),
            CommandResult::Globals(vec![None])
        );
        assert_eq!(
            m.global_proposals[&1],
            (2, CommandResult::Globals(vec![None]))
        );
        let rows = &m.globals.tables[&9];
        assert_eq!(rows.get(&b"a"[..]).map(Vec::as_slice), Some(&b"2"[..]));
        assert_eq!(rows.get(&b"b"[..]).map(Vec::as_slice), Some(&b"1"[..]));
        assert_eq!(m.globals.applied, 3);
        assert_eq!(m.globals.recent.back().map(|(n, _)| *n), Some(3));
        m.apply(&Command::ExpelNode { id: 2 });
        assert!(matches!(
            m.apply(&write(2, 2, vec![vec![op(b"c", None, Some(b"1"))]])),
            CommandResult::Refused(_)
        ));
        let bytes = postcard::to_allocvec(&m).unwrap();
        let back: Metadata = postcard::from_bytes(&bytes).unwrap();
        assert_eq!(back, m);
    }

    #[test]
    fn a_promotion_starts_an_epoch_whose_start_bounds_older_copies() {
        let mut m = founded(node(1, "a"), 2);
        m.apply(&Command::AddNode {
            node: node(2, "b"),
            wish: TierWish::default(),
        });
        assert_eq!(m.started_master(0, 1), Some(1), "founders start at once");
        assert_eq!(m.fork_after(0, 1), None, "no later epoch");
        let promote = |from| Command::Promote {
            first_shard: 0,
            node: 2,
            from,
        };
        assert_eq!(m.apply(&promote(1)), CommandResult::Done);
        assert_eq!(m.masters[&0], Master { node: 2, epoch: 2 });
        assert_eq!(m.masters[&1], Master { node: 2, epoch: 2 });
        // Taken once: the masters are no longer node 1.
        assert!(matches!(m.apply(&promote(1)), CommandResult::Refused(_)));
        // Not started yet: no requests, and no bound for older copies.
        assert_eq!(m.started_master(0, 2), None);
        assert_eq!(m.fork_after(0, 1), None);
        let start = |epoch, node, start| Command::StartEpoch {
            shard: 0,
            epoch,
            node,
            start,
        };
        assert!(matches!(
            m.apply(&start(2, 1, 5)),
            CommandResult::Refused(_)
        ));
        assert!(matches!(
            m.apply(&start(1, 2, 5)),
            CommandResult::Refused(_)
        ));
        assert_eq!(m.apply(&start(2, 2, 700)), CommandResult::Done);
        assert_eq!(m.apply(&start(2, 2, 900)), CommandResult::Done);
        assert_eq!(m.started_master(0, 2), Some(2));
        assert_eq!(m.fork_after(0, 1), Some(700), "the first start stays");
        assert_eq!(m.fork_after(0, 2), None);
        assert_eq!(m.started_master(1, 2), None, "shard 1 has not started");
        // Only an online member of the group is promoted.
        m.apply(&Command::AddNode {
            node: node(3, "c"),
            wish: TierWish::default(),
        });
        let stranger = Command::Promote {
            first_shard: 0,
            node: 3,
            from: 2,
        };
        assert!(matches!(m.apply(&stranger), CommandResult::Refused(_)));
    }

    #[test]
    fn a_promotion_shard_by_shard_moves_only_the_shards_named() {
        let mut m = founded(node(1, "a"), 3);
        m.apply(&Command::AddNode {
            node: node(2, "b"),
            wish: TierWish::default(),
        });
        m.apply(&Command::AddNode {
            node: node(3, "c"),
            wish: TierWish::default(),
        });
        let promote = |node, shards: &[u16]| Command::PromoteShards {
            first_shard: 0,
            node,
            from: 1,
            shards: shards.to_vec(),
        };
        assert_eq!(m.apply(&promote(2, &[0])), CommandResult::Done);
        assert_eq!(m.masters[&0], Master { node: 2, epoch: 2 });
        assert_eq!(m.masters[&1], Master { node: 1, epoch: 1 });
        assert_eq!(m.apply(&promote(3, &[1])), CommandResult::Done);
        assert_eq!(m.masters[&1], Master { node: 3, epoch: 2 });
        // Node 1 is master of neither any more.
        assert!(matches!(
            m.apply(&promote(3, &[0, 1])),
            CommandResult::Refused(_)
        ));
    }

    #[test]
    fn sync_mode_waits_for_a_majority_of_each_group_as_it_stands() {
        let mut m = founded(node(1, "a"), 3);
        assert_eq!((m.replica_acks(0), m.heirs_heard(0)), (0, 1), "async");
        m.tiers.get_mut(DEFAULT_TIER).unwrap().replication_mode = ReplicationMode::Sync;
        // Alone in its group: nothing to wait for.
        assert_eq!(m.replica_acks(0), 0);
        m.apply(&Command::AddNode {
            node: node(2, "b"),
            wish: TierWish::default(),
        });
        // Two of two: the replica must hold it, and is the one promoted.
        assert_eq!((m.replica_acks(0), m.heirs_heard(0)), (1, 1));
        m.apply(&Command::AddNode {
            node: node(3, "c"),
            wish: TierWish::default(),
        });
        // Two of three: one replica must hold it, so a promotion must hear
        // both, one of which holds it.
        assert_eq!((m.replica_acks(0), m.heirs_heard(0)), (1, 2));
        // A member down still counts; an expelled one no longer does.
        m.apply(&Command::ExpelNode { id: 3 });
        assert_eq!((m.replica_acks(0), m.heirs_heard(0)), (1, 1));
        let bytes = postcard::to_allocvec(&m).unwrap();
        let back: Metadata = postcard::from_bytes(&bytes).unwrap();
        assert_eq!(
            back.tier(DEFAULT_TIER).replication_mode,
            ReplicationMode::Sync
        );
    }

    fn in_domain(uuid: u128, name: &str, dc: &str) -> NodeRecord {
        let mut n = node(uuid, name);
        n.failure_domain.insert("dc".into(), dc.into());
        n
    }

    fn in_tier(uuid: u128, name: &str, tier: &str) -> NodeRecord {
        let mut n = node(uuid, name);
        n.tier = tier.into();
        n
    }

    #[test]
    fn each_tier_forms_its_own_groups_with_its_own_settings() {
        // The founder's tier keeps one copy, asynchronously.
        let mut m = founded(node(1, "a"), 1);
        let sync3 = TierWish {
            replication_factor: Some(3),
            replication_mode: Some(ReplicationMode::Sync),
        };
        let join = |m: &mut Metadata, n: NodeRecord, wish: &TierWish| {
            m.apply(&Command::AddNode {
                node: n,
                wish: wish.clone(),
            })
        };
        // The first node of "safe" makes it with its settings.
        assert_eq!(
            join(&mut m, in_tier(2, "b", "safe"), &sync3),
            CommandResult::NodeId(2)
        );
        assert_eq!(m.tier("safe").replication_factor, 3);
        // Its group is its own: a default-tier node does not fill it.
        join(&mut m, node(3, "c"), &TierWish::default());
        assert_eq!(m.nodes[&3].first_shard, 4, "a group of its own");
        // Later nodes of the tier join it without settings, or with the
        // same; other settings are refused.
        let other = TierWish {
            replication_factor: Some(2),
            replication_mode: None,
        };
        assert!(matches!(
            join(&mut m, in_tier(4, "d", "safe"), &other),
            CommandResult::Refused(m) if m.contains("replication factor of 3, not 2")
        ));
        let async_mode = TierWish {
            replication_factor: None,
            replication_mode: Some(ReplicationMode::Async),
        };
        assert!(matches!(
            join(&mut m, in_tier(4, "d", "safe"), &async_mode),
            CommandResult::Refused(_)
        ));
        join(&mut m, in_tier(4, "d", "safe"), &TierWish::default());
        join(&mut m, in_tier(5, "e", "safe"), &sync3);
        assert_eq!(
            m.group(2).iter().map(|n| n.id).collect::<Vec<_>>(),
            [2, 4, 5]
        );
        // Sync in "safe" only.
        assert_eq!((m.replica_acks(2), m.heirs_heard(2)), (1, 2));
        assert_eq!((m.replica_acks(0), m.heirs_heard(0)), (0, 1));
        // Each tier's full groups take its buckets.
        assert_eq!(m.tier_shards_of_groups("safe", NodeState::Online), [2, 3]);
        assert_eq!(
            m.tier_shards_of_groups(DEFAULT_TIER, NodeState::Online),
            [0, 1, 4, 5]
        );
        // A node cannot move to another tier by restarting.
        let mut moved = m.nodes[&3].clone();
        moved.tier = "safe".into();
        assert!(matches!(
            m.apply(&Command::UpdateNode { node: moved }),
            CommandResult::Refused(_)
        ));
        // The last group of a tier cannot drain: no other takes its
        // buckets, though other tiers have groups.
        assert!(matches!(
            m.apply(&Command::DrainNode { id: 2 }),
            CommandResult::Refused(m) if m.contains("last online node of its tier")
        ));
        assert_eq!(m.apply(&Command::DrainNode { id: 3 }), CommandResult::Done);
    }

    #[test]
    fn nodes_fill_replica_groups_across_failure_domains() {
        let mut m = founded(in_domain(1, "a", "east"), 2);
        assert_eq!(m.masters.len(), 2);
        // Same data center as the founder: a group of its own.
        let b = m.apply(&Command::AddNode {
            node: in_domain(2, "b", "east"),
            wish: TierWish::default(),
        });
        assert_eq!(b, CommandResult::NodeId(2));
        assert_eq!((m.nodes[&2].first_shard, m.nodes[&2].slot), (2, 0));
        assert_eq!(m.shard_home(2).map(|(n, i)| (n.id, i)), Some((2, 0)));
        // Another data center fills the founder's group, in slot 1.
        m.apply(&Command::AddNode {
            node: in_domain(3, "c", "west"),
            wish: TierWish::default(),
        });
        let c = &m.nodes[&3];
        assert_eq!((c.first_shard, c.slot), (0, 1));
        assert_eq!(m.id_leases[&3], slot_ids(1).start);
        assert_eq!(m.group(0).iter().map(|n| n.id).collect::<Vec<_>>(), [1, 3]);
        // The founder stays master of its shards; requests go there.
        assert_eq!(m.shard_home(1).map(|(n, i)| (n.id, i)), Some((1, 1)));
        // Only full groups take buckets.
        assert_eq!(m.shards_of_groups(NodeState::Online), [0, 1]);
        // A lease past the slot's range is refused.
        let past = m.apply(&Command::LeaseIds {
            node: 3,
            proposal: 1,
            up_to: slot_ids(1).end + 1,
        });
        assert!(matches!(past, CommandResult::Refused(_)), "{past:?}");
        // The founder leaves: node 3 becomes master, in a new epoch; the
        // next node takes a new slot (ids of slot 0 may be in logs).
        assert_eq!(m.apply(&Command::ExpelNode { id: 1 }), CommandResult::Done);
        assert_eq!(m.masters[&0], Master { node: 3, epoch: 2 });
        assert_eq!(m.shard_home(0).map(|(n, _)| n.id), Some(3));
        m.apply(&Command::AddNode {
            node: in_domain(4, "d", "north"),
            wish: TierWish::default(),
        });
        assert_eq!((m.nodes[&4].first_shard, m.nodes[&4].slot), (0, 2));
        // A node with another shard count starts a group of its own.
        let mut e = in_domain(5, "e", "south");
        e.shards = 3;
        m.apply(&Command::AddNode {
            node: e,
            wish: TierWish::default(),
        });
        assert_eq!((m.nodes[&5].first_shard, m.nodes[&5].slot), (4, 0));
    }
}
