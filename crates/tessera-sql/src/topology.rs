//! The cluster's nodes, tiers and replica sets as SQL shows them
//! (`pg_catalog.tessera_nodes`, `tessera_tiers`, `tessera_replica_sets`,
//! `tessera_instances`).
//! The cluster layer sits beside this crate, not below it, so the binary
//! installs a source here that reads the system tables the metadata Raft
//! group keeps; a node outside any cluster has none and lists no rows.

use std::sync::OnceLock;

/// One row of `tessera_nodes`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeRow {
    pub node_id: u64,
    pub name: String,
    /// The internal address (`--advertise`).
    pub address: String,
    pub pg_address: String,
    pub shards: u16,
    /// The cluster-wide number of its shard 0.
    pub first_shard: u16,
    /// How many buckets its shards own.
    pub buckets: u32,
    /// `online`, `draining` or `expelled`.
    pub state: &'static str,
    /// `leader`, `voter` or `learner` in the metadata group, as this node
    /// last heard.
    pub raft_role: &'static str,
    /// `key=value` items, comma-separated.
    pub failure_domain: String,
    /// How many of its shards' replica sets it is master of (all of them
    /// with a replication factor of 1).
    pub master_of: u16,
    /// The tier it is in.
    pub tier: String,
}

/// A tier's settings, as the cluster keeps them (`tessera_tiers`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TierRow {
    pub name: String,
    pub replication_factor: u16,
    /// `async` or `sync`.
    pub replication_mode: &'static str,
}

/// A replica set (`tessera_replica_sets`): a cluster-wide shard number
/// and the nodes that keep a copy of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplicaSetRow {
    pub shard: u16,
    pub tier: String,
    /// The node of its master, and the master's epoch.
    pub master: u64,
    pub epoch: u64,
    /// Its members' node ids, the master among them, by slot.
    pub members: Vec<u64>,
    /// `full`, `short` (fewer members than its tier's factor: it takes
    /// no buckets) or `draining`.
    pub state: &'static str,
}

/// What the cluster's system tables say, as SQL shows it.
#[derive(Debug, Clone, Default)]
pub struct Topology {
    pub nodes: Vec<NodeRow>,
    pub tiers: Vec<TierRow>,
    pub replica_sets: Vec<ReplicaSetRow>,
}

type Source = Box<dyn Fn() -> Topology + Send + Sync>;

static SOURCE: OnceLock<Source> = OnceLock::new();

/// Installs the source of the rows; once per process (later calls are
/// ignored).
pub fn install(source: Source) {
    let _ = SOURCE.set(source);
}

/// The cluster's tables; none outside a cluster.
pub fn topology() -> Topology {
    SOURCE.get().map(|s| s()).unwrap_or_default()
}
