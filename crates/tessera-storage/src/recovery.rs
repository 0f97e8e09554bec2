//! Node start-up: rebuild the catalog and every shard's tables from the logs.
//!
//! All shards of a node recover together, so a prepared two-phase write on
//! one shard is settled by the decision its coordinator wrote in another
//! shard's log: commit if a `Decision { commit: true }` is found, abort
//! otherwise (presumed abort: a coordinator writes its decision before any
//! participant commits). The settlement is returned as `Resolve` records for
//! the caller to append, so the next recovery does not depend on it again.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use tessera_types::{sqlstate, Catalog, Error, Result};

use crate::record::{CatalogRecord, Record, TxId, WriteSet};
use crate::store::{ShardStore, Timestamp, LATEST};

/// Recovered rows are older than every snapshot taken after start-up, and
/// no snapshot from before survives it, so one version per key suffices.
pub const RECOVERED_TS: Timestamp = 0;
use crate::wal::{check_watermark, WalReader};

pub struct RecoveredShard {
    pub store: ShardStore,
    pub wal_path: PathBuf,
    pub wal_len: u64,
    /// Records that settle prepares left open by a crash; append them first.
    pub resolutions: Vec<Record>,
}

pub struct RecoveredNode {
    pub catalog: Catalog,
    pub catalog_wal_path: PathBuf,
    pub catalog_wal_len: u64,
    pub shards: Vec<RecoveredShard>,
    /// The largest transaction id in any log.
    pub max_tx: TxId,
}

pub fn catalog_wal_path(data_dir: &Path) -> PathBuf {
    data_dir.join("catalog.wal")
}

pub fn shard_wal_path(data_dir: &Path, shard: u16) -> PathBuf {
    data_dir.join(format!("shard-{shard}")).join("wal")
}

fn corrupt(path: &Path, e: Error) -> Error {
    Error::new(
        sqlstate::DATA_CORRUPTED,
        format!("{}: {}", path.display(), e.message),
    )
}

/// Replays the catalog log onto `base` and every shard's log onto empty tables.
pub fn recover(data_dir: &Path, base: Catalog, shard_count: u16) -> Result<RecoveredNode> {
    let catalog_wal_path = catalog_wal_path(data_dir);
    let mut reader = WalReader::open(&catalog_wal_path)?;
    let mut catalog = base;
    while let Some(payload) = reader.next_record() {
        catalog = match CatalogRecord::decode(payload).map_err(|e| corrupt(&catalog_wal_path, e))? {
            CatalogRecord::CreateTable(t) => catalog.with_table_replayed(t),
            CatalogRecord::DropTables(ids) => {
                ids.iter().fold(catalog, |c, id| c.without_table(*id))
            }
        };
    }
    if reader.torn_tail {
        tracing::warn!(
            "{}: torn tail truncated at byte {}",
            catalog_wal_path.display(),
            reader.valid_len()
        );
    }
    let catalog_wal_len = reader.valid_len();
    check_watermark(&catalog_wal_path, catalog_wal_len)?;

    // First pass: decode every shard's log and gather the decisions.
    let mut logs = Vec::new();
    let mut decisions: HashMap<TxId, bool> = HashMap::new();
    let mut max_tx = 0;
    for shard in 0..shard_count {
        let path = shard_wal_path(data_dir, shard);
        std::fs::create_dir_all(path.parent().unwrap_or(data_dir))
            .map_err(|e| Error::io("creating the shard directory", e))?;
        let mut reader = WalReader::open(&path)?;
        let mut records = Vec::new();
        while let Some(payload) = reader.next_record() {
            let record = Record::decode(payload).map_err(|e| corrupt(&path, e))?;
            match &record {
                Record::Decision { tx, commit } => {
                    decisions.insert(*tx, *commit);
                    max_tx = max_tx.max(*tx);
                }
                Record::Prepare { tx, .. } | Record::Resolve { tx, .. } => max_tx = max_tx.max(*tx),
                Record::Commit(_) => {}
            }
            records.push(record);
        }
        if reader.torn_tail {
            tracing::warn!(
                "{}: torn tail truncated at byte {}",
                path.display(),
                reader.valid_len()
            );
        }
        check_watermark(&path, reader.valid_len())?;
        logs.push((path, reader.valid_len(), records));
    }

    // Second pass: replay, skipping tables the catalog no longer has.
    let keep = |ws: WriteSet| WriteSet {
        ops: ws
            .ops
            .into_iter()
            .filter(|op| catalog.table_by_id(op.table()).is_some())
            .collect(),
    };
    let mut shards = Vec::new();
    for (wal_path, wal_len, records) in logs {
        let mut store = ShardStore::new();
        let mut prepared: HashMap<TxId, WriteSet> = HashMap::new();
        for record in records {
            match record {
                Record::Commit(ws) => store.apply(keep(ws), RECOVERED_TS, LATEST),
                Record::Prepare { tx, writes } => {
                    prepared.insert(tx, writes);
                }
                Record::Resolve { tx, commit } => {
                    if let Some(ws) = prepared.remove(&tx) {
                        if commit {
                            store.apply(keep(ws), RECOVERED_TS, LATEST);
                        }
                    }
                }
                Record::Decision { .. } => {}
            }
        }
        // Keys of an open prepare were locked until it settled, so no later
        // record touched them and applying it now is equivalent.
        let mut open: Vec<_> = prepared.into_iter().collect();
        open.sort_by_key(|(tx, _)| *tx);
        let mut resolutions = Vec::new();
        for (tx, ws) in open {
            let commit = decisions.get(&tx).copied().unwrap_or(false);
            if commit {
                store.apply(keep(ws), RECOVERED_TS, LATEST);
            }
            resolutions.push(Record::Resolve { tx, commit });
        }
        for table in catalog.tables() {
            store.ensure_table(table.id);
        }
        shards.push(RecoveredShard {
            store,
            wal_path,
            wal_len,
            resolutions,
        });
    }
    Ok(RecoveredNode {
        catalog,
        catalog_wal_path,
        catalog_wal_len,
        shards,
        max_tx,
    })
}
