//! The cluster's nodes as SQL shows them (`pg_catalog.tessera_nodes`).
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

type Source = Box<dyn Fn() -> (Vec<NodeRow>, Vec<TierRow>) + Send + Sync>;

static SOURCE: OnceLock<Source> = OnceLock::new();

/// Installs the source of the rows; once per process (later calls are
/// ignored).
pub fn install(source: Source) {
    let _ = SOURCE.set(source);
}

pub fn nodes() -> Vec<NodeRow> {
    SOURCE.get().map(|s| s().0).unwrap_or_default()
}

pub fn tiers() -> Vec<TierRow> {
    SOURCE.get().map(|s| s().1).unwrap_or_default()
}
