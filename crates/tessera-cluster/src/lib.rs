//! The cluster layer: the metadata Raft group whose members are nodes, the
//! system tables it holds, node discovery (bootstrap or join), and the
//! authenticated internal transport. See docs/ARCHITECTURE.md "Cluster".

pub mod catalog;
pub mod masters;
pub mod secret;
pub mod service;
pub mod shards;
pub mod state;
pub mod status;
pub mod store;
pub mod wire;
