//! Node start-up: rebuild the catalog and every shard's tables from the logs.
//!
//! All shards of a node recover together, so a prepared two-phase write on
//! one shard is settled by the decision its coordinator wrote in another
//! shard's log: commit if a `Decision { commit: true }` is found whose listed
//! participants all hold a durable `Prepare`, abort
//! otherwise (presumed abort: a coordinator writes its decision before any
//! participant commits). The settlement is returned as `Resolve` records for
//! the caller to append, so the next recovery does not depend on it again.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use tessera_types::{sqlstate, Catalog, Error, Result, TableId};

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
            CatalogRecord::CreateIndex(index) => catalog.with_index_replayed(index),
            CatalogRecord::IndexValid {
                storage,
                valid_from,
            } => catalog.with_index_valid(storage, valid_from),
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
    // An index whose build a crash interrupted was never acknowledged:
    // it is dropped (its id is not reused, so its entries are ignored).
    let unfinished: Vec<(String, TableId)> = catalog
        .indexes()
        .filter(|i| !i.is_valid())
        .map(|i| (i.name.clone(), i.storage.id))
        .collect();
    for (name, id) in unfinished {
        tracing::warn!("dropping index \"{name}\", whose build did not finish");
        catalog = catalog.without_table(id);
    }

    // First pass: decode every shard's log and gather the decisions.
    let mut logs = Vec::new();
    let mut decisions: HashMap<TxId, (bool, Vec<u16>)> = HashMap::new();
    // Which shards hold a durable Prepare of each transaction.
    let mut prepared_on: HashMap<TxId, std::collections::HashSet<u16>> = HashMap::new();
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
                Record::Decision {
                    tx,
                    commit,
                    participants,
                } => {
                    decisions.insert(*tx, (*commit, participants.clone()));
                    max_tx = max_tx.max(*tx);
                }
                Record::Prepare { tx, .. } => {
                    prepared_on.entry(*tx).or_default().insert(shard);
                    max_tx = max_tx.max(*tx);
                }
                Record::Resolve { tx, .. } => max_tx = max_tx.max(*tx),
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
            // Commit only what was decided and prepared everywhere (a
            // decision written in parallel with the prepares may have
            // outlived one that never became durable).
            let commit = match decisions.get(&tx) {
                Some((true, participants)) => participants
                    .iter()
                    .all(|p| prepared_on.get(&tx).is_some_and(|on| on.contains(p))),
                _ => false,
            };
            if commit {
                store.apply(keep(ws), RECOVERED_TS, LATEST);
            }
            resolutions.push(Record::Resolve { tx, commit });
        }
        for table in catalog.storage_tables() {
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

#[cfg(test)]
mod tests {
    use tessera_types::{ColumnDef, DataType, TableDef, Value};

    use super::*;
    use crate::record::WriteOp;
    use crate::wal::WalWriter;

    fn put(table: u32, key: &[u8]) -> WriteSet {
        WriteSet {
            ops: vec![WriteOp::Put {
                table,
                key: key.to_vec(),
                row: vec![Value::Int4(1)],
            }],
        }
    }

    /// Writes `records` to shard `shard`'s log under `dir`.
    fn write_log(dir: &Path, shard: u16, records: &[Record]) {
        let path = shard_wal_path(dir, shard);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        rt.block_on(async {
            let wal = WalWriter::open(&path, 0, "t", 4096).unwrap();
            for r in records {
                wal.append_durable(&r.encode()).await.unwrap();
            }
        });
    }

    #[test]
    fn a_parallel_commit_holds_only_if_every_participant_prepared() {
        let dir = std::env::temp_dir().join(format!("tessera-recovery-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let def = TableDef {
            id: 0,
            name: "t".into(),
            columns: vec![ColumnDef {
                name: "v".into(),
                data_type: DataType::Int4,
                not_null: false,
            }],
            primary_key: vec![],
            sharding_key: vec![],
        };
        let (catalog, table) = Catalog::new(16, 2).with_table(def);
        let t = table.id;
        let decide = |tx, commit| Record::Decision {
            tx,
            commit,
            participants: vec![0, 1],
        };
        // tx 1: decided and prepared on both shards: commits.
        // tx 2: decided, but shard 1 never prepared: aborts everywhere.
        // tx 3: decided commit, then abort (a prepare had failed): aborts.
        write_log(
            &dir,
            0,
            &[
                decide(1, true),
                Record::Prepare {
                    tx: 1,
                    writes: put(t, b"a1"),
                },
                decide(2, true),
                Record::Prepare {
                    tx: 2,
                    writes: put(t, b"a2"),
                },
                decide(3, true),
                Record::Prepare {
                    tx: 3,
                    writes: put(t, b"a3"),
                },
                decide(3, false),
            ],
        );
        write_log(
            &dir,
            1,
            &[
                Record::Prepare {
                    tx: 1,
                    writes: put(t, b"b1"),
                },
                Record::Prepare {
                    tx: 3,
                    writes: put(t, b"b3"),
                },
            ],
        );
        let node = recover(&dir, catalog, 2).unwrap();
        let has = |shard: usize, key: &[u8]| node.shards[shard].store.get(t, key, LATEST).is_some();
        assert!(
            has(0, b"a1") && has(1, b"b1"),
            "tx 1 committed on both shards"
        );
        assert!(!has(0, b"a2"), "tx 2 lacked a participant's prepare");
        assert!(!has(0, b"a3") && !has(1, b"b3"), "tx 3's later abort wins");
        let settled = node.shards[0].resolutions.to_vec();
        assert!(settled.contains(&Record::Resolve {
            tx: 1,
            commit: true
        }));
        assert!(settled.contains(&Record::Resolve {
            tx: 2,
            commit: false
        }));
        assert!(settled.contains(&Record::Resolve {
            tx: 3,
            commit: false
        }));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
