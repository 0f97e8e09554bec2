//! Shard threads, mailboxes and node start-up.
//!
//! A node runs one thread per shard, each pinned to its own core, each with
//! its own tokio current-thread runtime. A shard owns its tables and WAL;
//! other threads reach them only by sending a request to its mailbox (a
//! bounded channel) through the [`transport`] interface. Every shard also
//! accepts clients (on the PostgreSQL port with `SO_REUSEPORT`, and on the
//! node's Unix socket), serves each on the shard with the fewest
//! ([`clients`]), and routes its connections' statements.

pub mod clients;
pub mod meta;
pub mod node;
pub mod transport;

pub use clients::ClientStream;
pub use node::{
    run_node, Admission, ConnectionHandler, NodeConfig, NodeHandle, CHECKPOINT_INTERVAL_DEFAULT,
    CHECKPOINT_WAL_SIZE_DEFAULT, CHECKPOINT_WAL_SIZE_MIN, MAX_CONNECTIONS_DEFAULT,
};
pub use transport::ShardCluster;
