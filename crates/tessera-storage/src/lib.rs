//! Per-shard storage: in-memory tables ordered by key, the write-ahead log
//! that makes them durable, and recovery.
//!
//! Writes follow log-then-apply: a statement's changes become a
//! [`WriteSet`]; its keys are locked, its WAL record is made durable, and
//! only then is it applied and its keys unlocked. Readers therefore never see
//! data that a crash could take away, and a failed WAL write leaves the
//! tables unchanged. MVCC, checkpoints and indexes come later (issue 3).

pub mod clock;
pub mod file;
pub mod record;
pub mod recovery;
pub mod store;
pub mod wal;

pub use clock::Timeline;
pub use record::{CatalogRecord, Record, TxId, WriteOp, WriteSet};
pub use store::{ShardStore, Table, Timestamp, LATEST};
pub use wal::{WalReader, WalWriter};
