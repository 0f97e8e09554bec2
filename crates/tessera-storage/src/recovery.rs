//! Node start-up: rebuild the catalog and every shard's tables from the
//! checkpoints and logs.
//!
//! Each shard loads its newest checkpoint and replays its log from that
//! checkpoint's replay start. A checkpoint that fails its checks (bad CRC,
//! truncated) is set aside with a warning and recovery falls back to the
//! previous one, replaying more log; without any usable checkpoint it
//! replays the whole log, if the log still begins at position 0 (see
//! `checkpoint.rs` for what is kept).
//!
//! All shards of a node recover together, so a prepared two-phase write on
//! one shard is settled by the decision its coordinator wrote in another
//! shard's log or kept in its checkpoint: commit if a `Decision { commit:
//! true }` is found whose listed participants all hold a durable `Prepare`
//! (in their log, open in their checkpoint, or kept there as evidence, see
//! `ledger.rs`), abort otherwise (presumed abort: a coordinator writes its
//! decision before any participant commits). The settlement is returned as
//! `Resolve` records for the caller to append, so the next recovery does
//! not depend on it again.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use tessera_types::{sqlstate, Catalog, Error, Result, TableId};

use crate::checkpoint::{
    checkpoint_dir, list_checkpoints, load_checkpoint, set_aside, wal_dir, LoadError,
    LoadedCheckpoint,
};
use crate::file::{FileSystem, OsFileSystem};
use crate::record::{id_shard, CatalogRecord, Record, TxId, WriteSet};
use crate::store::{ShardStore, Timestamp, LATEST};
use crate::wal::{check_watermark_in, list_segments, scan_segments, segment_path, WalReader};

/// Recovered rows are older than every snapshot taken after start-up, and
/// no snapshot from before survives it, so one version per key suffices.
pub const RECOVERED_TS: Timestamp = 0;

pub struct RecoveredShard {
    pub store: ShardStore,
    /// The shard's directory (`shard-N`).
    pub dir: PathBuf,
    /// Where the good part of the log ends: appends continue here.
    pub wal_end: u64,
    /// Where replay began: the loaded checkpoint's replay start, or 0.
    pub replay_start: u64,
    /// Records that settle prepares left open by a crash; append them first.
    pub resolutions: Vec<Record>,
    /// Prepares left open whose decision is for the catalog's log and not
    /// there yet (a move of buckets whose decider is on another node): they
    /// stay prepared, and the shard settles them from the log. Also
    /// prepares whose router, and so whose decision, is on another node
    /// (docs/CLUSTER.md §4): the shard asks that node.
    pub in_doubt: Vec<(TxId, WriteSet)>,
    /// On a replica: the prepares its copy of the master's log leaves
    /// open. They stay open, unapplied, until the copy of the master's
    /// `Resolve` arrives (docs/CLUSTER.md §5).
    pub copied_prepares: Vec<(TxId, WriteSet)>,
}

/// A commit decided on this node, with participants on other nodes that
/// may not have made it durable: it stays in the ledger until they say
/// they have (see `tessera_storage::ledger`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenDecision {
    pub coordinator: u16,
    pub tx: TxId,
    pub ts: Timestamp,
    pub participants: Vec<u16>,
    /// It is in a replica's copy of its master's log: its participants on
    /// this node are settled only by copies of their `Resolve`
    /// (`RecoveredNode::copied_resolves`).
    pub copied: bool,
}

pub struct RecoveredNode {
    pub catalog: Catalog,
    pub catalog_wal_path: PathBuf,
    pub catalog_wal_len: u64,
    pub shards: Vec<RecoveredShard>,
    /// The largest transaction id in any log or checkpoint header.
    pub max_tx: TxId,
    /// The largest row id any checkpoint header records (the recovered
    /// rows' own ids come on top).
    pub max_row_id: u64,
    /// Cross-node commits decided here and not known settled everywhere;
    /// on replicas, every commit decided that is not.
    pub open_decisions: Vec<OpenDecision>,
    /// On replicas: the commits, decided on this node, that each replica
    /// shard's copy resolved (for `TwoPhaseLedger::copied_resolve`).
    pub copied_resolves: Vec<(TxId, u16)>,
}

/// A two-phase decision found in a log or checkpoint.
struct Decided {
    commit: bool,
    participants: Vec<u16>,
    /// It holds on its own, at this timestamp (`Record::Decision::at`).
    at: Option<Timestamp>,
    /// The shard whose log holds it (none: the catalog's log).
    coordinator: Option<u16>,
}

pub fn catalog_wal_path(data_dir: &Path) -> PathBuf {
    data_dir.join("catalog.wal")
}

/// `<data>/shard-N`.
pub fn shard_dir(data_dir: &Path, shard: u16) -> PathBuf {
    data_dir.join(format!("shard-{shard}"))
}

fn corrupt(path: &Path, e: Error) -> Error {
    Error::new(
        sqlstate::DATA_CORRUPTED,
        format!("{}: {}", path.display(), e.message),
    )
}

/// Moves a shard log of the single-file layout (`shard-N/wal`, before
/// segments) to the first segment of the directory layout
/// (`shard-N/wal/00000000000000000000.seg`): log positions are the same.
/// A crash midway is finished on the next start (`shard-N/wal.legacy`).
pub fn migrate_single_file_logs(data_dir: &Path, shard_count: u16) -> Result<()> {
    let io = |what: &str, e| Error::io(&format!("migrating the WAL layout: {what}"), e);
    for shard in 0..shard_count {
        let dir = shard_dir(data_dir, shard);
        let old = wal_dir(&dir);
        let legacy = dir.join("wal.legacy");
        if old.is_file() {
            tracing::info!("moving {} into a segment directory", old.display());
            std::fs::rename(&old, &legacy).map_err(|e| io("renaming", e))?;
            sync_dir(&dir).map_err(|e| io("syncing", e))?;
        }
        if legacy.is_file() {
            std::fs::create_dir_all(&old).map_err(|e| io("creating", e))?;
            std::fs::rename(&legacy, segment_path(&old, 0)).map_err(|e| io("renaming", e))?;
            sync_dir(&old).map_err(|e| io("syncing", e))?;
            sync_dir(&dir).map_err(|e| io("syncing", e))?;
        }
    }
    Ok(())
}

fn sync_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::File::open(dir)?.sync_all()
}

/// Rebuilds the node from the files under `data_dir` (see [`recover_in`]).
pub fn recover(data_dir: &Path, base: Catalog, shard_count: u16) -> Result<RecoveredNode> {
    recover_in(&OsFileSystem, data_dir, base, shard_count)
}

/// One shard's checkpoint and log, before the node-wide settlement.
struct ShardLog {
    dir: PathBuf,
    end: u64,
    replay_start: u64,
    store: ShardStore,
    prepared: Vec<(TxId, WriteSet)>,
    /// Resolved prepares the checkpoint keeps as evidence.
    prepared_evidence: Vec<TxId>,
    /// The records after the replay start, with their log positions.
    records: Vec<(u64, Record)>,
}

/// Where each log's usable part ends: the largest ends such that no
/// `Depends` record before a log's end names a position past another
/// log's end (the greatest fixpoint, found by cutting until none does).
fn usable_ends(logs: &[ShardLog]) -> Vec<u64> {
    let mut ends: Vec<u64> = logs.iter().map(|l| l.end).collect();
    loop {
        let mut cut = false;
        for (shard, log) in logs.iter().enumerate() {
            let unmet = log
                .records
                .iter()
                .take_while(|(position, _)| *position < ends[shard])
                .find(|(_, record)| match record {
                    Record::Depends(on) => on
                        .iter()
                        .any(|(other, lsn)| ends.get(*other as usize).is_none_or(|end| lsn > end)),
                    _ => false,
                });
            if let Some((position, _)) = unmet {
                ends[shard] = *position;
                cut = true;
            }
        }
        if !cut {
            return ends;
        }
    }
}

/// `catalog` with one record of the catalog log applied.
fn replay_catalog(catalog: Catalog, record: CatalogRecord) -> Result<Catalog> {
    Ok(match record {
        CatalogRecord::CreateTable { table, sequences } => sequences
            .into_iter()
            .fold(catalog.with_table_replayed(table), |c, s| {
                c.with_sequence_replayed(s)
            }),
        CatalogRecord::CreateSequence(s) => catalog.with_sequence_replayed(s),
        CatalogRecord::CreateView(v) => catalog.with_view_replayed(v),
        CatalogRecord::AlterTable(t) => catalog.with_table_altered(t),
        CatalogRecord::Comment {
            object,
            column,
            text,
        } => catalog.with_comment(object, column, text),
        CatalogRecord::SequenceValues(values) => {
            for (id, generation, last, is_called) in values {
                if let Some(s) = catalog.sequence_by_id(id) {
                    s.state.restore(generation, last, is_called);
                }
            }
            catalog
        }
        CatalogRecord::CreateIndex(index) => catalog.with_index_replayed(index),
        CatalogRecord::IndexValid {
            storage,
            valid_from,
        } => catalog.with_index_valid(storage, valid_from),
        CatalogRecord::ReplaceTable { old, new } => catalog.with_table_replaced(old, new),
        CatalogRecord::CreateSchema(schema) => catalog.with_schema_replayed(schema),
        CatalogRecord::RenameSchema { schema, name } => catalog.with_schema_renamed(schema, &name),
        CatalogRecord::RenameIndex { storage, name } => catalog.with_index_renamed(storage, &name),
        CatalogRecord::CreateRole(role) | CatalogRecord::AlterRole(role) => {
            catalog.with_role_replaced(role)
        }
        CatalogRecord::DropRole(id) => catalog.without_role(id),
        CatalogRecord::Type(def) => catalog.with_type_replaced(def),
        CatalogRecord::DropType(oid) => catalog.without_type(oid),
        CatalogRecord::Drop {
            altered,
            relations,
            schemas,
        } => {
            let emptied = catalog.with_drop(&altered, &relations, &[]);
            if schemas.iter().any(|s| !emptied.relations_in(*s).is_empty()) {
                return Err(Error::new(
                    sqlstate::DATA_CORRUPTED,
                    "a dropped schema still holds relations",
                ));
            }
            emptied.with_drop(&[], &[], &schemas)
        }
        CatalogRecord::MoveBuckets { .. } => {
            return Err(Error::new(
                sqlstate::DATA_CORRUPTED,
                "a move of buckets outside its transaction",
            ))
        }
        CatalogRecord::AddTier { name, owner } => catalog.with_tier(&name, &owner),
        CatalogRecord::Abort { tx } => match catalog.outcome(tx) {
            // Its decision came first.
            Some(_) => catalog,
            None => catalog.with_outcome(tx, None),
        },
        CatalogRecord::Transaction { tx, records, .. } => {
            if !tessera_types::buckets::decided_in_catalog(tx) {
                let mut catalog = catalog;
                for record in records {
                    catalog = replay_catalog(catalog, record)?;
                }
                return Ok(catalog);
            }
            // One that an abort may have come before.
            if catalog.outcome(tx).is_some() {
                return Ok(catalog);
            }
            let mut catalog = catalog.with_outcome(tx, Some(0));
            for record in records {
                catalog = match record {
                    CatalogRecord::MoveBuckets { buckets, to, ts } => {
                        catalog.with_moved_buckets(&buckets, to, ts, tx)
                    }
                    record => replay_catalog(catalog, record)?,
                };
            }
            catalog
        }
    })
}

/// Where a node's catalog records come from.
#[derive(Clone, Copy)]
pub enum CatalogSource<'a> {
    /// `catalog.wal` in the data directory (a node outside a cluster).
    File,
    /// The cluster's records, from the metadata Raft log (CLUSTER.md step 2).
    Records(&'a [Vec<u8>]),
}

/// The catalog without indexes whose build, or table rewrites whose
/// switch, a crash interrupted.
fn without_unfinished_builds(mut catalog: Catalog) -> Catalog {
    let unfinished: Vec<(String, TableId)> = catalog
        .indexes()
        .filter(|i| !i.is_valid())
        .map(|i| (i.name.clone(), i.storage.id))
        .collect();
    for (name, id) in unfinished {
        tracing::warn!("dropping index \"{name}\", whose build did not finish");
        catalog = catalog.without_table(id);
    }
    // Likewise a table rewrite (ALTER TABLE … ADD PRIMARY KEY) that never
    // replaced its original.
    let unfinished: Vec<(String, TableId)> = catalog
        .tables()
        .filter(|t| t.name.starts_with(Catalog::REWRITE_PREFIX))
        .map(|t| (t.name.clone(), t.id))
        .collect();
    for (name, id) in unfinished {
        tracing::warn!("dropping \"{name}\", a table rewrite that did not finish");
        catalog = catalog.without_table(id);
    }
    catalog
}

/// Replays the catalog log onto `base`, then loads every shard's checkpoint
/// and replays its log, all through `fs`.
pub fn recover_in(
    fs: &dyn FileSystem,
    data_dir: &Path,
    base: Catalog,
    shard_count: u16,
) -> Result<RecoveredNode> {
    recover_with(
        fs,
        data_dir,
        base,
        (0, shard_count),
        CatalogSource::File,
        &[],
    )
}

/// A transaction block decided in the catalog log, and its participants.
type BlockDecision = (TxId, Vec<u16>);

/// Replays encoded catalog records onto `catalog`; also returns the
/// decisions of the transaction blocks among them.
fn replay_catalog_records<'a>(
    mut catalog: Catalog,
    records: impl IntoIterator<Item = &'a [u8]>,
    what: &Path,
) -> Result<(Catalog, Vec<BlockDecision>)> {
    // Transaction blocks with DDL decide in the catalog log (see
    // `CatalogRecord::Transaction`).
    let mut decisions = Vec::new();
    for payload in records {
        let record = CatalogRecord::decode(payload).map_err(|e| corrupt(what, e))?;
        if let CatalogRecord::Transaction {
            tx, participants, ..
        } = &record
        {
            // Not one an abort came before.
            if catalog.outcome(*tx).is_none() {
                decisions.push((*tx, participants.clone()));
            }
        }
        catalog = replay_catalog(catalog, record).map_err(|e| corrupt(what, e))?;
    }
    Ok((catalog, decisions))
}

/// `catalog` with one encoded record applied, as recovery applies it: how
/// a node in a cluster follows the records other nodes commit.
pub fn apply_catalog_record(catalog: Catalog, payload: &[u8]) -> Result<Catalog> {
    let record = CatalogRecord::decode(payload)?;
    replay_catalog(catalog, record)
}

/// [`recover_in`] with the catalog's records from `source`. `shards` is
/// the cluster-wide number of the node's first shard (0 outside a
/// cluster: two-phase decisions name participants by it) and how many
/// the node has. `replicas`: the node's shards (counted from 0) that hold
/// a replica's copy of another node's log, whose open prepares are its
/// master's to settle.
pub fn recover_with(
    fs: &dyn FileSystem,
    data_dir: &Path,
    base: Catalog,
    (first_shard, shard_count): (u16, u16),
    source: CatalogSource,
    replicas: &[u16],
) -> Result<RecoveredNode> {
    let catalog_wal_path = catalog_wal_path(data_dir);
    let own_catalog = matches!(source, CatalogSource::File);
    let catalog_bytes = match fs.read(&catalog_wal_path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => vec![],
        Err(e) => {
            return Err(Error::io(
                &format!("reading {}", catalog_wal_path.display()),
                e,
            ))
        }
    };
    let mut reader = WalReader::from_bytes(catalog_bytes);
    let mut local = Vec::new();
    while let Some(payload) = reader.next_record() {
        local.push(payload.to_vec());
    }
    if reader.torn_tail {
        tracing::warn!(
            "{}: torn tail truncated at byte {}",
            catalog_wal_path.display(),
            reader.valid_len()
        );
    }
    let catalog_wal_len = reader.valid_len();
    check_watermark_in(fs, &catalog_wal_path, catalog_wal_len)?;
    let local_records = local.iter().map(|p| p.as_slice());
    let (mut catalog, catalog_decisions) = match source {
        CatalogSource::File => replay_catalog_records(base, local_records, &catalog_wal_path)?,
        CatalogSource::Records(records) => {
            // In a cluster, catalog.wal holds only where this node's
            // sequences are (their values are handed out per node until
            // tables span nodes; CLUSTER.md step 2).
            for payload in &local {
                let record =
                    CatalogRecord::decode(payload).map_err(|e| corrupt(&catalog_wal_path, e))?;
                if !matches!(record, CatalogRecord::SequenceValues(_)) {
                    return Err(Error::new(
                        sqlstate::OBJECT_NOT_IN_PREREQUISITE_STATE,
                        format!(
                            "{} holds a catalog of its own (the data directory was used outside a cluster); a node in a cluster takes the cluster's catalog, so start it with a new data directory",
                            catalog_wal_path.display()
                        ),
                    ));
                }
            }
            let (catalog, decisions) = replay_catalog_records(
                base,
                records.iter().map(|p| p.as_slice()),
                Path::new("the cluster's catalog log"),
            )?;
            let (catalog, _) = replay_catalog_records(catalog, local_records, &catalog_wal_path)?;
            (catalog, decisions)
        }
    };

    // An index whose build a crash interrupted was never acknowledged:
    // it is dropped (its id is not reused, so its entries are ignored).
    // In a cluster the catalog is every node's, and changes only through
    // its log: such an index stays, unusable, until dropped (as one that
    // PostgreSQL's CREATE INDEX CONCURRENTLY leaves).
    if own_catalog {
        catalog = without_unfinished_builds(catalog);
    }

    // First pass: load every shard's checkpoint, read its log, and gather
    // the two-phase evidence of all shards.
    let mut logs = Vec::new();
    let mut decisions: HashMap<TxId, Decided> = catalog_decisions
        .into_iter()
        .map(|(tx, participants)| {
            let decided = Decided {
                commit: true,
                participants,
                at: None,
                coordinator: None,
            };
            (tx, decided)
        })
        .collect();
    // Cross-node decisions whose participants all reported.
    let mut forgotten: HashSet<TxId> = HashSet::new();
    let node = first_shard..first_shard + shard_count;
    // Which shards hold a durable Prepare of each transaction.
    let mut prepared_on: HashMap<TxId, HashSet<u16>> = HashMap::new();
    let mut max_tx = 0;
    let mut max_row_id = 0;
    for shard in 0..shard_count {
        let dir = shard_dir(data_dir, shard);
        fs.create_dir_all(&dir)
            .map_err(|e| Error::io("creating the shard directory", e))?;
        let checkpoint = choose_checkpoint(fs, &dir, shard, &catalog)?;
        let mut log = ShardLog {
            dir: dir.clone(),
            end: 0,
            replay_start: 0,
            store: ShardStore::new(),
            prepared: vec![],
            prepared_evidence: vec![],
            records: vec![],
        };
        if let Some(c) = checkpoint {
            max_tx = max_tx.max(c.header.max_tx);
            max_row_id = max_row_id.max(c.header.max_row_id);
            for d in c.decisions {
                let decided = Decided {
                    commit: d.commit,
                    participants: d.participants,
                    at: d.at,
                    coordinator: Some(first_shard + shard),
                };
                decisions.insert(d.tx, decided);
            }
            for tx in c
                .prepared_evidence
                .iter()
                .chain(c.prepared.iter().map(|(tx, _)| tx))
            {
                prepared_on
                    .entry(*tx)
                    .or_default()
                    .insert(first_shard + shard);
            }
            log.replay_start = c.header.replay_start;
            log.store = c.store;
            log.prepared = c.prepared;
            log.prepared_evidence = c.prepared_evidence;
        }
        let wal = wal_dir(&dir);
        let scan = scan_segments(fs, &wal, log.replay_start, |position, payload| {
            let record = Record::decode(payload).map_err(|e| corrupt(&wal, e))?;
            if let Record::Decision { tx, .. }
            | Record::Prepare { tx, .. }
            | Record::Resolve { tx, .. } = &record
            {
                // A move's id carries a flag above its sequence part.
                max_tx = max_tx.max(*tx & !tessera_types::buckets::DECIDED_IN_CATALOG);
            }
            log.records.push((position, record));
            Ok(())
        })?;
        if scan.torn_tail {
            tracing::warn!(
                "{}: torn tail truncated at log position {}",
                wal.display(),
                scan.end
            );
        }
        check_watermark_in(fs, &wal, scan.end)?;
        log.end = scan.end;
        logs.push(log);
    }

    // Each log is kept only as far as what it depends on elsewhere was
    // kept: effects published before they were durable (early lock
    // release) may have been read by records that reached the disk when
    // the records they read did not. None of the records cut was
    // acknowledged: an acknowledgement waits for everything it depends on.
    let ends = usable_ends(&logs);
    for (log, end) in logs.iter_mut().zip(ends) {
        if end < log.end {
            tracing::warn!(
                "{}: log cut at position {end} (it ended at {}): what follows depends on records of other shards that were lost",
                log.dir.display(),
                log.end
            );
            log.records.retain(|(position, _)| *position < end);
            log.end = end;
            // Segments that begin past the cut hold only what was cut.
            let wal = wal_dir(&log.dir);
            let mut removed = false;
            for start in list_segments(fs, &wal)?.into_iter().filter(|s| *s > end) {
                fs.remove(&segment_path(&wal, start))
                    .map_err(|e| Error::io("removing a WAL segment past the cut", e))?;
                removed = true;
            }
            if removed {
                fs.sync_dir(&wal)
                    .map_err(|e| Error::io("syncing the WAL directory", e))?;
            }
        }
    }
    for (shard, log) in logs.iter().enumerate() {
        for (_, record) in &log.records {
            match record {
                Record::Decision {
                    tx,
                    commit,
                    participants,
                    at,
                } => {
                    let decided = Decided {
                        commit: *commit,
                        participants: participants.clone(),
                        at: *at,
                        coordinator: Some(first_shard + shard as u16),
                    };
                    decisions.insert(*tx, decided);
                }
                Record::Forget { tx } => {
                    forgotten.insert(*tx);
                }
                Record::Prepare { tx, .. } => {
                    prepared_on
                        .entry(*tx)
                        .or_default()
                        .insert(first_shard + shard as u16);
                }
                Record::Resolve { .. } | Record::Commit(_) | Record::Depends(_) => {}
            }
        }
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
    let mut copied_resolves = Vec::new();
    for (shard, log) in logs.into_iter().enumerate() {
        let shard = shard as u16;
        let replica = replicas.contains(&shard);
        let mut store = log.store;
        let mut prepared: HashMap<TxId, WriteSet> = log.prepared.into_iter().collect();
        for (_, record) in log.records {
            match record {
                Record::Commit(ws) => store.apply(keep(ws), RECOVERED_TS, LATEST),
                Record::Prepare { tx, writes } => {
                    prepared.insert(tx, writes);
                }
                Record::Resolve { tx, commit } => {
                    if let Some(ws) = prepared.remove(&tx) {
                        if commit {
                            store.apply(keep(ws), RECOVERED_TS, LATEST);
                            if replica && node.contains(&id_shard(tx)) {
                                copied_resolves.push((tx, first_shard + shard));
                            }
                        }
                    }
                }
                Record::Decision { .. } | Record::Forget { .. } | Record::Depends(_) => {}
            }
        }
        if replica {
            copied_resolves.extend(
                log.prepared_evidence
                    .iter()
                    .filter(|tx| node.contains(&id_shard(**tx)))
                    .map(|tx| (*tx, first_shard + shard)),
            );
        }
        // Keys of an open prepare were locked until it settled, so no later
        // record touched them and applying it now is equivalent.
        let mut open: Vec<_> = prepared.into_iter().collect();
        open.sort_by_key(|(tx, _)| *tx);
        let mut resolutions = Vec::new();
        let mut in_doubt = Vec::new();
        let mut copied_prepares = Vec::new();
        if replica {
            copied_prepares = std::mem::take(&mut open);
        }
        for (tx, ws) in open {
            let in_catalog = tessera_types::buckets::decided_in_catalog(tx);
            if in_catalog && !decisions.contains_key(&tx) && catalog.outcome(tx).is_none() {
                in_doubt.push((tx, ws));
                continue;
            }
            // Decided by its router's shard on another node: only that
            // node knows.
            if !in_catalog && !node.contains(&id_shard(tx)) && !decisions.contains_key(&tx) {
                in_doubt.push((tx, ws));
                continue;
            }
            // Commit only what was decided and prepared everywhere (a
            // decision written in parallel with the prepares may have
            // outlived one that never became durable). A decision in the
            // catalog's log, or one with its timestamp, is written only
            // once every prepare is durable, some of them on other nodes.
            let commit = match decisions.get(&tx) {
                Some(d) if d.commit && (in_catalog || d.at.is_some()) => true,
                Some(d) if d.commit => d
                    .participants
                    .iter()
                    .all(|p| prepared_on.get(&tx).is_some_and(|on| on.contains(p))),
                _ => false,
            };
            if commit {
                store.apply(keep(ws), RECOVERED_TS, LATEST);
            }
            resolutions.push(Record::Resolve { tx, commit });
        }
        // Rows logged before a column was added or retyped.
        store.fit_to_catalog(&catalog);
        shards.push(RecoveredShard {
            store,
            dir: log.dir,
            wal_end: log.end,
            replay_start: log.replay_start,
            resolutions,
            in_doubt,
            copied_prepares,
        });
    }
    let copied = |coordinator: u16| replicas.contains(&(coordinator - first_shard));
    let mut open_decisions: Vec<OpenDecision> = decisions
        .into_iter()
        .filter_map(|(tx, d)| match (d.commit, d.coordinator) {
            (true, Some(coordinator)) if !forgotten.contains(&tx) => {
                let copied = copied(coordinator);
                let spans = d.participants.iter().any(|p| !node.contains(p));
                (copied || (spans && d.at.is_some())).then(|| OpenDecision {
                    coordinator,
                    tx,
                    ts: d.at.unwrap_or(0),
                    participants: d.participants,
                    copied,
                })
            }
            _ => None,
        })
        .collect();
    open_decisions.sort_by_key(|d| d.tx);
    Ok(RecoveredNode {
        catalog,
        catalog_wal_path,
        catalog_wal_len,
        shards,
        max_tx,
        max_row_id,
        open_decisions,
        copied_resolves,
    })
}

/// The newest checkpoint of the shard in `dir` that loads; damaged ones
/// are set aside with a warning. `None`: replay the whole log, which must
/// then still begin at position 0.
fn choose_checkpoint(
    fs: &dyn FileSystem,
    dir: &Path,
    shard: u16,
    catalog: &Catalog,
) -> Result<Option<LoadedCheckpoint>> {
    let mut damaged = Vec::new();
    for (seq, path) in list_checkpoints(fs, &checkpoint_dir(dir))? {
        let keep = |table| catalog.table_by_id(table).is_some();
        match load_checkpoint(fs, &path, shard, RECOVERED_TS, keep) {
            Ok(c) => {
                if !damaged.is_empty() {
                    tracing::warn!(
                        "shard {shard}: falling back to checkpoint {seq}; replaying the log from position {}",
                        c.header.replay_start
                    );
                }
                return Ok(Some(c));
            }
            Err(LoadError::Damaged(why)) => {
                tracing::warn!(
                    "shard {shard}: checkpoint {} is damaged ({why}); setting it aside",
                    path.display()
                );
                set_aside(fs, &path)?;
                damaged.push(format!("{} ({why})", path.display()));
            }
            Err(LoadError::Failed(e)) => {
                return Err(Error::new(
                    e.code,
                    format!("{}: {}", path.display(), e.message),
                ))
            }
        }
    }
    if !damaged.is_empty() {
        let wal = wal_dir(dir);
        match list_segments(fs, &wal)?.first() {
            Some(&first) if first > 0 => {
                return Err(Error::new(
                    sqlstate::DATA_CORRUPTED,
                    format!(
                        "shard {shard}: no usable checkpoint (damaged: {}), and the log before position {first} was removed after checkpoints; \
                         refusing to start (restore this data directory from a backup or a replica)",
                        damaged.join(", ")
                    ),
                ));
            }
            _ => tracing::warn!("shard {shard}: no usable checkpoint; replaying the whole log"),
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use tessera_types::Value;

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
        let path = wal_dir(&shard_dir(dir, shard));
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        rt.block_on(async {
            let wal = WalWriter::open_segments(
                std::sync::Arc::new(OsFileSystem),
                &path,
                0,
                "t",
                4096,
                1 << 20,
            )
            .unwrap();
            for r in records {
                wal.append_durable(&r.encode()).await.unwrap();
            }
        });
    }

    /// A decision of shards 0 and 1 written in parallel with their prepares.
    fn decide(tx: TxId, commit: bool) -> Record {
        Record::Decision {
            tx,
            commit,
            participants: vec![0, 1],
            at: None,
        }
    }

    /// The length of `records` framed in a log.
    fn framed(records: &[&Record]) -> u64 {
        records.iter().map(|r| 8 + r.encode().len() as u64).sum()
    }

    #[test]
    fn a_log_is_cut_where_what_it_depends_on_elsewhere_was_lost() {
        let dir = std::env::temp_dir().join(format!("tessera-deps-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let (catalog, t) = crate::testing::one_table(2);
        let b1 = Record::Commit(put(t, b"b1"));
        let shard_1_end = framed(&[&b1]);
        // Shard 0 read b1 (kept), then something of shard 1 past its end
        // (lost in the crash): what follows that is cut.
        let a1 = Record::Commit(put(t, b"a1"));
        let met = Record::Depends(vec![(1, shard_1_end)]);
        let a2 = Record::Commit(put(t, b"a2"));
        let unmet = Record::Depends(vec![(1, shard_1_end + 100)]);
        let a3 = Record::Commit(put(t, b"a3"));
        let cut_at = framed(&[&a1, &met, &a2]);
        write_log(&dir, 0, &[a1, met, a2, unmet, a3.clone()]);
        // Shard 1's b1 stays; its b2 read a3, which is cut: so is b2.
        let on_a3 = Record::Depends(vec![(0, cut_at + framed(&[&a3]) + 40)]);
        write_log(&dir, 1, &[b1, on_a3, Record::Commit(put(t, b"b2"))]);

        let node = recover(&dir, catalog.clone(), 2).unwrap();
        let has = |node: &RecoveredNode, shard: usize, key: &[u8]| {
            node.shards[shard].store.get(t, key, LATEST).is_some()
        };
        assert!(has(&node, 0, b"a1") && has(&node, 0, b"a2"));
        assert!(!has(&node, 0, b"a3"), "a3 depends on a lost record");
        assert!(has(&node, 1, b"b1"));
        assert!(!has(&node, 1, b"b2"), "b2 depends on the cut a3");
        assert_eq!(node.shards[0].wal_end, cut_at);
        assert_eq!(node.shards[1].wal_end, shard_1_end);

        // The logs open where they were cut, and the next start agrees.
        for shard in &node.shards {
            drop(
                WalWriter::open_segments(
                    std::sync::Arc::new(OsFileSystem),
                    &wal_dir(&shard.dir),
                    shard.wal_end,
                    "t",
                    4096,
                    1 << 20,
                )
                .unwrap(),
            );
        }
        let again = recover(&dir, catalog, 2).unwrap();
        assert!(has(&again, 0, b"a2") && !has(&again, 0, b"a3"));
        assert!(has(&again, 1, b"b1") && !has(&again, 1, b"b2"));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_parallel_commit_holds_only_if_every_participant_prepared() {
        let dir = std::env::temp_dir().join(format!("tessera-recovery-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let (catalog, t) = crate::testing::one_table(2);
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

    /// A replica's copy of its master's logs: what the copy leaves
    /// prepared stays so, unapplied (the master settles it), and its
    /// commit decisions come back with the resolves that were copied.
    #[test]
    fn a_replica_keeps_its_copied_prepares_open() {
        let dir = std::env::temp_dir().join(format!("tessera-replica-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let (catalog, t) = crate::testing::one_table(2);
        let prepare = |tx, key: &[u8]| Record::Prepare {
            tx,
            writes: put(t, key),
        };
        // tx 1: decided, resolved on shard 1, not yet on shard 0.
        // tx 2: decided, shard 1's prepare not copied yet.
        // tx 3: decided commit, then abort.
        write_log(
            &dir,
            0,
            &[
                decide(1, true),
                prepare(1, b"a1"),
                decide(2, true),
                prepare(2, b"a2"),
                decide(3, true),
                prepare(3, b"a3"),
                decide(3, false),
            ],
        );
        write_log(
            &dir,
            1,
            &[
                prepare(1, b"b1"),
                Record::Resolve {
                    tx: 1,
                    commit: true,
                },
                prepare(3, b"b3"),
            ],
        );
        let node = recover_with(
            &OsFileSystem,
            &dir,
            catalog,
            (0, 2),
            CatalogSource::File,
            &[0, 1],
        )
        .unwrap();
        let has = |shard: usize, key: &[u8]| node.shards[shard].store.get(t, key, LATEST).is_some();
        assert!(has(1, b"b1"), "the copied resolve applies");
        assert!(!has(0, b"a1") && !has(0, b"a2") && !has(0, b"a3") && !has(1, b"b3"));
        assert!(node
            .shards
            .iter()
            .all(|s| s.resolutions.is_empty() && s.in_doubt.is_empty()));
        let open = |shard: usize| -> Vec<TxId> {
            node.shards[shard]
                .copied_prepares
                .iter()
                .map(|(tx, _)| *tx)
                .collect()
        };
        assert_eq!(open(0), [1, 2, 3]);
        assert_eq!(open(1), [3]);
        let decided: Vec<(TxId, bool)> = node
            .open_decisions
            .iter()
            .map(|d| (d.tx, d.copied))
            .collect();
        assert_eq!(decided, [(1, true), (2, true)], "the commits, not tx 3");
        assert_eq!(node.copied_resolves, [(1, 1)]);
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// Participants on other nodes: a decision with its timestamp holds on
    /// its own and stays open until forgotten; a prepare whose router is
    /// on another node stays in doubt (that node decides).
    #[test]
    fn cross_node_decisions_hold_on_their_own_and_remote_ones_stay_in_doubt() {
        let dir = std::env::temp_dir().join(format!("tessera-cross-node-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let (catalog, t) = crate::testing::one_table(2);
        // This node has shards 0 and 1; shard 5 is another node's.
        let (kept, forgotten, remote) = (1 << 16, 2 << 16, (3 << 16) | 5);
        let decide = |tx, at| Record::Decision {
            tx,
            commit: true,
            participants: vec![1, 5],
            at: Some(at),
        };
        write_log(
            &dir,
            0,
            &[
                decide(kept, 500),
                decide(forgotten, 600),
                Record::Forget { tx: forgotten },
            ],
        );
        let prepare = |tx, key: &[u8]| Record::Prepare {
            tx,
            writes: put(t, key),
        };
        write_log(
            &dir,
            1,
            &[
                prepare(kept, b"k"),
                prepare(forgotten, b"f"),
                prepare(remote, b"r"),
            ],
        );
        let node = recover(&dir, catalog, 2).unwrap();
        let has = |key: &[u8]| node.shards[1].store.get(t, key, LATEST).is_some();
        assert!(has(b"k") && has(b"f"), "shard 5's prepare is not needed");
        assert!(!has(b"r"));
        assert_eq!(node.shards[1].in_doubt.len(), 1);
        assert_eq!(node.shards[1].in_doubt[0].0, remote);
        assert!(!node.shards[1]
            .resolutions
            .iter()
            .any(|r| matches!(r, Record::Resolve { tx, .. } if *tx == remote)));
        assert_eq!(
            node.open_decisions,
            vec![OpenDecision {
                coordinator: 0,
                tx: kept,
                ts: 500,
                participants: vec![1, 5],
                copied: false,
            }]
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// A move's prepare stays in doubt for the catalog to decide, and its
    /// id's flag does not count as a sequence number already handed out.
    #[test]
    fn a_moves_flag_is_not_an_id_handed_out() {
        let dir = std::env::temp_dir().join(format!("tessera-move-id-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let (catalog, t) = crate::testing::one_table(1);
        let plain = 7 << 16;
        let moved = tessera_types::buckets::DECIDED_IN_CATALOG | (9 << 16);
        write_log(
            &dir,
            0,
            &[
                Record::Prepare {
                    tx: plain,
                    writes: put(t, b"a"),
                },
                Record::Prepare {
                    tx: moved,
                    writes: put(t, b"b"),
                },
            ],
        );
        let node = recover(&dir, catalog, 1).unwrap();
        assert_eq!(node.max_tx, 9 << 16);
        assert!(node.shards[0].in_doubt.iter().any(|(tx, _)| *tx == moved));
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// A transaction block's catalog record is its commit decision: with
    /// it, its table exists and the prepares it names commit; a block
    /// whose record never reached the catalog log leaves nothing.
    #[test]
    fn a_block_with_ddl_commits_by_its_catalog_record() {
        let dir = std::env::temp_dir().join(format!("tessera-ddl-block-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let (catalog, t) = crate::testing::one_table(2);
        // Its router was this node's shard 1.
        const BLOCK_8: TxId = (8 << 16) | 1;
        let mut def = catalog.table_by_id(t).unwrap().clone();
        def.name = "u".into();
        let (_, u) = catalog.with_table(def);
        let block = CatalogRecord::Transaction {
            tx: 7,
            participants: vec![0, 1],
            records: vec![CatalogRecord::CreateTable {
                table: (*u).clone(),
                sequences: vec![],
            }],
        };
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        rt.block_on(async {
            let wal = WalWriter::open(&catalog_wal_path(&dir), 0, "catalog", 0).unwrap();
            wal.append_durable(&block.encode()).await.unwrap();
        });
        // tx 7 prepared on both shards, its rows not yet resolved; tx 8, a
        // block whose COMMIT never wrote its record, prepared on shard 1.
        write_log(
            &dir,
            0,
            &[Record::Prepare {
                tx: 7,
                writes: put(u.id, b"a"),
            }],
        );
        write_log(
            &dir,
            1,
            &[
                Record::Prepare {
                    tx: 7,
                    writes: put(u.id, b"b"),
                },
                Record::Prepare {
                    tx: BLOCK_8,
                    writes: put(t, b"c"),
                },
            ],
        );
        let node = recover(&dir, catalog, 2).unwrap();
        assert_eq!(
            node.catalog.table_by_id(u.id).map(|d| d.name.as_str()),
            Some("u")
        );
        let has = |shard: usize, table, key: &[u8]| {
            node.shards[shard].store.get(table, key, LATEST).is_some()
        };
        assert!(has(0, u.id, b"a") && has(1, u.id, b"b"), "tx 7 committed");
        assert!(!has(1, t, b"c"), "tx 8 had no decision");
        assert!(node.shards[1].resolutions.contains(&Record::Resolve {
            tx: BLOCK_8,
            commit: false
        }));
        let _ = std::fs::remove_dir_all(&dir);
    }

    fn one_table() -> (Catalog, u32) {
        crate::testing::one_table(1)
    }

    /// The largest ids handed out survive in checkpoint headers once the
    /// log that showed them is removed.
    #[test]
    fn the_largest_ids_survive_in_checkpoint_headers() {
        use crate::checkpoint::{write_checkpoint, CheckpointPlan};
        use crate::file::sim::SimFs;
        let (catalog, t) = one_table();
        let fs = SimFs::new();
        let shared: std::sync::Arc<dyn FileSystem> = std::sync::Arc::new(fs.clone());
        let dir = shard_dir(Path::new("data"), 0);
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        rt.block_on(async {
            let wal =
                WalWriter::open_segments(shared.clone(), &wal_dir(&dir), 0, "t", 256, 1 << 20)
                    .unwrap();
            let store = std::cell::RefCell::new(ShardStore::new());
            for round in 0..3u64 {
                wal.append_durable(
                    &Record::Prepare {
                        tx: 1024 + round,
                        writes: put(t, b"k"),
                    }
                    .encode(),
                )
                .await
                .unwrap();
                wal.append_durable(
                    &Record::Resolve {
                        tx: 1024 + round,
                        commit: false,
                    }
                    .encode(),
                )
                .await
                .unwrap();
                let appended = wal.appended().unwrap();
                let plan = CheckpointPlan {
                    shard: 0,
                    snapshot_ts: 10 + round,
                    replay_start: appended.end(),
                    appended,
                    prepared: vec![],
                    retained: Default::default(),
                    max_tx: 5000 + round,
                    max_row_id: 9000,
                    tables: vec![t],
                };
                write_checkpoint(shared.clone(), &dir, plan, &store, &wal)
                    .await
                    .unwrap();
            }
        });
        assert!(list_segments(&fs, &wal_dir(&dir)).unwrap()[0] > 0);
        let node = recover_in(&fs, Path::new("data"), catalog, 1).unwrap();
        assert_eq!(node.max_tx, 5002);
        assert_eq!(node.max_row_id, 9000);
    }

    /// A data directory from before segments: its single-file log becomes
    /// the first segment, with the same positions and watermark.
    #[test]
    fn a_single_file_log_moves_into_the_segment_directory() {
        let data = std::env::temp_dir().join(format!("tessera-legacy-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&data);
        let shard = shard_dir(&data, 0);
        std::fs::create_dir_all(&shard).unwrap();
        let (catalog, t) = one_table();
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        rt.block_on(async {
            let wal = WalWriter::open(&shard.join("wal"), 0, "t", 4096).unwrap();
            wal.append_durable(&Record::Commit(put(t, b"old")).encode())
                .await
                .unwrap();
        });
        migrate_single_file_logs(&data, 1).unwrap();
        assert!(segment_path(&wal_dir(&shard), 0).is_file());
        migrate_single_file_logs(&data, 1).unwrap();
        let node = recover(&data, catalog, 1).unwrap();
        assert!(node.shards[0].store.get(t, b"old", LATEST).is_some());
        assert!(node.shards[0].wal_end > 0);
        let _ = std::fs::remove_dir_all(&data);
    }
}
