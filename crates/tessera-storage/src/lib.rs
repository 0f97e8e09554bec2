//! Per-shard storage: in-memory tables ordered by key, the write-ahead log
//! that makes them durable, and recovery.
//!
//! Writes follow log-then-apply: a statement's changes become a
//! [`WriteSet`]; its keys are locked, its WAL record is made durable, and
//! only then is it applied and its keys unlocked. Readers therefore never see
//! data that a crash could take away, and a failed WAL write leaves the
//! tables unchanged. Checkpoints of MVCC snapshots bound what recovery
//! replays and let old log segments go.

pub mod checkpoint;
pub mod clock;
pub mod deps;
pub mod file;
pub mod ledger;
pub mod record;
pub mod recovery;
pub mod store;
pub mod wal;

pub use clock::Timeline;
pub use deps::LogDeps;
pub use ledger::{Fenced, TwoPhaseLedger};
pub use record::{CatalogRecord, Record, TxId, WriteOp, WriteSet};
pub use store::{ShardStore, Table, Timestamp, LATEST};
pub use wal::{WalReader, WalWriter};

/// What the storage tests share.
#[cfg(test)]
mod testing {
    use tessera_types::{Catalog, ColumnDef, DataType, TableDef, TableId};

    /// A catalog over `shards` shards with one table `t (v int)`, keyed by
    /// hidden row ids.
    pub fn one_table(shards: u16) -> (Catalog, TableId) {
        let def = TableDef {
            id: 0,
            name: "t".into(),
            schema: tessera_types::schema::PUBLIC,
            columns: vec![ColumnDef::new("v", DataType::Int4, false)],
            primary_key: vec![],
            sharding_key: vec![],
            global: false,
            tier: 0,
            checks: vec![],
            foreign_keys: vec![],
        };
        let (catalog, table) = Catalog::new(16, shards).with_table(def);
        (catalog, table.id)
    }
}
