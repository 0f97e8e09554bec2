//! Global tables in a cluster (docs/CLUSTER.md §7), on a node's shard 0.
//!
//! The rows are the metadata Raft group's (`tessera_types::global`); each
//! node's shard 0 keeps a copy in its store, which every statement on the
//! node reads. A statement that writes global tables runs as a block of its
//! own whose writes stay intents here; [`ShardContext::commit_globals`]
//! turns them into row changes that name the row each one replaces, and
//! proposes them through the log: they apply only if no other write
//! changed those rows first (else 40001, and the router runs the statement
//! again). [`ShardContext::follow_globals`] applies the writes, this
//! node's too, to the copy in log order, without the shard's WAL: the log
//! is their record, and at start-up the copy is loaded from it again.

use std::collections::BTreeSet;

use std::sync::Arc;
use tessera_storage::record::{WriteOp, WriteSet};
use tessera_types::global::{decode_row, encode_row, GlobalChanges, GlobalOp, GlobalRows};

use tessera_types::{sqlstate, Catalog, Error, IndexDef, Result, TableDef, TableId, Value};

use super::catalog_log::SharedLog;
use super::{ShardContext, ShardResponse, Timestamp, TxId};

/// How long the copy waits for a statement of this node that holds rows
/// a committed write changes (see `ShardContext::apply_to_copy`).
const COPY_LOCK_WAIT: std::time::Duration = std::time::Duration::from_millis(200);

/// The largest write of global tables a statement may make: it travels
/// whole in one log entry, and every node keeps the rows in memory.
pub const GLOBAL_WRITE_BYTES_MAX: usize = 8 << 20;

impl ShardContext {
    /// Commits the block `id`, a statement that wrote global tables,
    /// through the cluster's log; returns once this node's copy holds it.
    pub(super) async fn commit_globals(&self, id: TxId, since: Timestamp) -> Result<ShardResponse> {
        let shared = self.shared_log()?;
        let writes = self.take_intents(id);
        let ops = self.global_ops(shared, &writes, since);
        self.store.borrow_mut().unlock(&writes);
        self.release_reads(id);
        self.unlocked.notify_waiters();
        let ops = ops?;
        if ops.is_empty() {
            return Ok(ShardResponse::Done(vec![]));
        }
        match shared.log.write_globals(ops).await? {
            Some(n) => {
                while shared.globals.get() < n {
                    let moved = shared.globals_moved.notified();
                    if shared.globals.get() >= n {
                        break;
                    }
                    moved.await;
                }
                Ok(ShardResponse::Done(vec![]))
            }
            None => Err(changed_meanwhile()),
        }
    }

    /// `writes`' row changes, each naming the row it replaces as the
    /// cluster's tables hold it. The copy must hold that row too (else it
    /// is behind or ahead of the tables: 40001, and the statement runs
    /// again), in its present shape (ALTER TABLE reshapes the copy, not
    /// the tables). A row the copy changed after `since` may not be the
    /// one the statement read (no lock holds a row against the log's
    /// writes): 40001 too.
    fn global_ops(
        &self,
        shared: &SharedLog,
        writes: &WriteSet,
        since: Timestamp,
    ) -> Result<Vec<GlobalOp>> {
        let catalog = self.catalog();
        let globals = global_tables(&catalog);
        let entries: Vec<TableId> = global_indexes(&catalog)
            .iter()
            .map(|(i, _)| i.storage.id)
            .collect();
        let store = self.store.borrow();
        let mut bytes = 0;
        let mut ops = Vec::with_capacity(writes.ops.len());
        let mut changed = Vec::new();
        for op in &writes.ops {
            let table = op.table();
            // Index entries are each copy's own, made from the rows.
            if entries.contains(&table) {
                continue;
            }
            let Some(def) = globals.iter().find(|t| t.id == table) else {
                return Err(mixed_global_write());
            };
            if store
                .latest_ts(table, op.key())
                .is_some_and(|ts| ts > since)
            {
                return Err(changed_meanwhile());
            }
            let old = shared.log.global_row(table, op.key());
            let cluster_row = match &old {
                Some(bytes) => Some(shaped(decode_row(bytes)?, def)),
                None => None,
            };
            if cluster_row.as_ref() != store.get(table, op.key(), u64::MAX) {
                return Err(changed_meanwhile());
            }
            let new_row = match op {
                WriteOp::Put { row, .. } => Some(row),
                WriteOp::Delete { .. } => None,
            };
            let new = new_row.map(|row| encode_row(row));
            changed.push(RowChange {
                table: def,
                key: op.key(),
                old: cluster_row,
                new: new_row,
            });
            bytes += op.key().len()
                + old.as_ref().map_or(0, Vec::len)
                + new.as_ref().map_or(0, Vec::len);
            if bytes > GLOBAL_WRITE_BYTES_MAX {
                return Err(Error::new(
                    sqlstate::PROGRAM_LIMIT_EXCEEDED,
                    format!(
                        "a statement may change at most {} MiB of a global table's rows",
                        GLOBAL_WRITE_BYTES_MAX >> 20
                    ),
                )
                .with_hint("Split the change into several statements."));
            }
            ops.push(GlobalOp {
                table,
                key: op.key().to_vec(),
                old,
                new,
            });
        }
        ops.extend(claims(shared, &catalog, &changed)?);
        Ok(ops)
    }

    /// On shard 0 of a node in a cluster, once a unique index of a global
    /// table is in every node's catalog: writes its entries for the rows
    /// the cluster's tables hold (`claims` keeps them from then on),
    /// together with those rows as they are, so that the write applies
    /// only if none changed meanwhile (else it is made again). Two rows
    /// with one value: 23505, as an index build gives it.
    pub(super) async fn claim_global_index(&self, storage: TableId) -> Result<ShardResponse> {
        let shared = self.shared_log()?;
        'tries: for _ in 0..CLAIM_TRIES {
            let catalog = self.catalog();
            let Some(index) = catalog.indexes().find(|i| i.storage.id == storage).cloned() else {
                return Err(Error::internal(
                    "the unique index to claim entries of is gone",
                ));
            };
            let Some(table) = catalog.table_by_id(index.table).filter(|t| t.global) else {
                return Err(Error::internal("a claimed index of no global table"));
            };
            let GlobalChanges::Whole { tables, .. } = shared.log.globals_since(None) else {
                return Err(Error::internal(
                    "the global tables' rows were not given whole",
                ));
            };
            let rows = tables
                .into_iter()
                .find(|(id, _)| *id == table.id)
                .map(|(_, rows)| rows)
                .unwrap_or_default();
            let mut ops = Vec::new();
            let mut entries: std::collections::BTreeMap<Vec<u8>, Vec<Value>> = Default::default();
            let mut bytes = 0;
            for (key, encoded) in rows.iter() {
                let row = shaped(decode_row(encoded)?, table);
                let Some((entry, entry_row)) = super::index_entry(&index, table, key, &row) else {
                    continue;
                };
                if entries.contains_key(&entry) {
                    return Err(super::unique_violation(&index, table, &entry_row, true));
                }
                let new = key.clone();
                bytes += 2 * (key.len() + encoded.len()) + entry.len() + new.len();
                if bytes > GLOBAL_WRITE_BYTES_MAX {
                    return Err(Error::new(
                        sqlstate::PROGRAM_LIMIT_EXCEEDED,
                        format!(
                            "a unique index of a global table is made in one write of at most {} MiB; table \"{}\" is larger",
                            GLOBAL_WRITE_BYTES_MAX >> 20,
                            table.name
                        ),
                    ));
                }
                // The row as it is: the write applies only if it still is.
                ops.push(GlobalOp {
                    table: table.id,
                    key: key.clone(),
                    old: Some(encoded.clone()),
                    new: Some(encoded.clone()),
                });
                match shared.log.global_row(storage, &entry) {
                    Some(holder) if holder == new => {}
                    // Another row's, written after these rows were read:
                    // read them again (it then shows as a duplicate).
                    Some(_) => continue 'tries,
                    None => ops.push(GlobalOp {
                        table: storage,
                        key: entry.clone(),
                        old: None,
                        new: Some(new),
                    }),
                }
                entries.insert(entry, entry_row);
            }
            if ops.is_empty() {
                return Ok(ShardResponse::Done(vec![]));
            }
            if shared.log.write_globals(ops).await?.is_some() {
                return Ok(ShardResponse::Done(vec![]));
            }
        }
        Err(Error::new(
            sqlstate::SERIALIZATION_FAILURE,
            format!("global table rows kept changing while a unique index was made ({CLAIM_TRIES} tries)"),
        ))
    }

    /// Whether `writes` change a global table: in a cluster only
    /// [`Self::commit_globals`] may commit those.
    pub(super) fn refuse_global_writes(&self, writes: &WriteSet) -> Result<()> {
        if self.shared_log().is_err() {
            return Ok(());
        }
        let catalog = self.catalog();
        let globals = global_tables(&catalog);
        if !globals.is_empty()
            && writes
                .ops
                .iter()
                .any(|op| globals.iter().any(|t| t.id == op.table()))
        {
            return Err(refuse_global_block());
        }
        Ok(())
    }

    pub(super) fn shared_log(&self) -> Result<&SharedLog> {
        self.catalog_log()?
            .shared
            .as_ref()
            .ok_or_else(|| Error::internal("global tables' log outside a cluster"))
    }

    /// On shard 0 of a node in a cluster: applies the writes to global
    /// tables to this node's copy as they are committed. The first pass
    /// loads the copy whole. Runs for the node's life.
    pub(super) async fn follow_globals(&self, shared: &SharedLog) {
        let mut whole = true;
        loop {
            if !whole {
                shared.log.globals_after(shared.globals.get()).await;
            }
            if let Err(e) = self.catch_up_globals(shared, whole).await {
                tracing::error!(
                    "{}; global tables are not followed (trying again)",
                    e.message
                );
                tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                continue;
            }
            whole = false;
        }
    }

    async fn catch_up_globals(&self, shared: &SharedLog, whole: bool) -> Result<()> {
        while shared.appending.get() {
            shared.appended.notified().await;
        }
        let seen = (!whole).then(|| shared.globals.get());
        let changes = shared.log.globals_since(seen);
        // The tables those writes name were created before them: the
        // catalog records now committed hold them.
        self.catch_up(shared, None)?;
        match changes {
            GlobalChanges::Writes(writes) => {
                for (n, ops) in writes {
                    let changes = self.copy_writes(&ops);
                    self.apply_to_copy(changes).await;
                    shared.globals.set(n);
                }
            }
            GlobalChanges::Whole { applied, tables } => {
                let changes = self.copy_whole(&tables);
                self.apply_to_copy(changes).await;
                shared.globals.set(applied);
                // Entries left by an earlier life of the copy (its log or
                // checkpoint) are made to match the rows again.
                self.index_global_copy(true);
            }
        }
        shared.log.globals_applied(shared.globals.get());
        shared.globals_moved.notify_waiters();
        Ok(())
    }

    /// The copy's changes for one write (of tables this node knows: a
    /// table dropped since is gone here too), with its indexes' entries.
    fn copy_writes(&self, ops: &[GlobalOp]) -> WriteSet {
        let catalog = self.catalog();
        let globals = global_tables(&catalog);
        let indexes = global_indexes(&catalog);
        let store = self.store.borrow();
        let mut set = WriteSet::default();
        for op in ops {
            let Some(table) = globals.iter().find(|t| t.id == op.table) else {
                continue;
            };
            let new = match &op.new {
                Some(row) => match decode_row(row) {
                    Ok(row) => Some(shaped(row, table)),
                    Err(e) => {
                        tracing::error!("a global table's row does not decode: {e}");
                        continue;
                    }
                },
                None => None,
            };
            // The replaced row is looked up only for a table with indexes.
            let mut of_table = indexes
                .iter()
                .filter(|(i, _)| i.table == table.id)
                .peekable();
            let old = match of_table.peek() {
                Some(_) => store.get(op.table, &op.key, u64::MAX),
                None => None,
            };
            for (index, _) in of_table {
                let Some((before, after)) = entry_change(index, table, &op.key, old, new.as_ref())
                else {
                    continue;
                };
                if let Some((key, _)) = before {
                    set.ops.push(WriteOp::Delete {
                        table: index.storage.id,
                        key,
                    });
                }
                if let Some((key, row)) = after {
                    set.ops.push(WriteOp::Put {
                        table: index.storage.id,
                        key,
                        row,
                    });
                }
            }
            set.ops.push(match new {
                Some(row) => WriteOp::Put {
                    table: op.table,
                    key: op.key.clone(),
                    row,
                },
                None => WriteOp::Delete {
                    table: op.table,
                    key: op.key.clone(),
                },
            });
        }
        set
    }

    /// Makes the entries of the global tables' indexes in this copy match
    /// its rows: of every index when `all`, else of those not indexed yet
    /// (made since it last looked). Applied as the copy's writes are,
    /// without the shard's WAL.
    pub(super) fn index_global_copy(&self, all: bool) {
        if self.shared_log().is_err() {
            return;
        }
        let catalog = self.catalog();
        let indexes = global_indexes(&catalog);
        let mut done = self.indexed_globals.borrow_mut();
        let now: BTreeSet<TableId> = indexes.iter().map(|(i, _)| i.storage.id).collect();
        if !all && now.is_subset(&done) {
            *done = now;
            return;
        }
        let mut set = WriteSet::default();
        {
            let store = self.store.borrow();
            for (index, table) in &indexes {
                if !all && done.contains(&index.storage.id) {
                    continue;
                }
                let mut wanted: std::collections::BTreeMap<Vec<u8>, Vec<Value>> =
                    std::collections::BTreeMap::new();
                if let Some(rows) = store.table(table.id) {
                    for (key, row) in rows.iter_at(None, u64::MAX) {
                        if let Some((k, v)) = super::index_entry(index, table, key, row) {
                            wanted.insert(k, v);
                        }
                    }
                }
                if let Some(entries) = store.table(index.storage.id) {
                    for (key, row) in entries.iter_at(None, u64::MAX) {
                        match wanted.get(key) {
                            Some(v) if v == row => {
                                wanted.remove(key);
                            }
                            Some(_) => {}
                            None => set.ops.push(WriteOp::Delete {
                                table: index.storage.id,
                                key: key.to_vec(),
                            }),
                        }
                    }
                }
                for (key, row) in wanted {
                    set.ops.push(WriteOp::Put {
                        table: index.storage.id,
                        key,
                        row,
                    });
                }
            }
        }
        *done = now;
        drop(done);
        if !set.is_empty() {
            self.apply_copy(set);
        }
    }

    /// The copy's changes that make it every global table's rows as given.
    fn copy_whole(&self, tables: &[(TableId, GlobalRows)]) -> WriteSet {
        let catalog = self.catalog();
        let mut set = WriteSet::default();
        let store = self.store.borrow();
        for table in global_tables(&catalog) {
            let rows = tables
                .iter()
                .find(|(id, _)| *id == table.id)
                .map(|(_, r)| r);
            let mut kept = BTreeSet::new();
            for (key, row) in rows.into_iter().flat_map(|r| r.iter()) {
                match decode_row(row) {
                    Ok(row) => set.ops.push(WriteOp::Put {
                        table: table.id,
                        key: key.clone(),
                        row: shaped(row, table),
                    }),
                    Err(e) => tracing::error!("a global table's row does not decode: {e}"),
                }
                kept.insert(key.as_slice());
            }
            if let Some(stored) = store.table(table.id) {
                for (key, _) in stored.iter_at(None, u64::MAX) {
                    if !kept.contains(key) {
                        set.ops.push(WriteOp::Delete {
                            table: table.id,
                            key: key.to_vec(),
                        });
                    }
                }
            }
        }
        set
    }

    /// Applies `writes` to the copy at a new timestamp, once no statement
    /// of this node holds the rows, or after [`COPY_LOCK_WAIT`]: a block
    /// that holds them longer (BEGIN … idle) must not hold back this
    /// node's copy of every global table. Its locks stay; it finds the
    /// rows changed when it commits (40001), as it would anyway, the
    /// cluster's rows having moved past the ones it changed.
    async fn apply_to_copy(&self, writes: WriteSet) {
        if writes.is_empty() {
            return;
        }
        let deadline = tokio::time::Instant::now() + COPY_LOCK_WAIT;
        loop {
            let unlocked = self.unlocked.notified();
            if self.store.borrow().lock_holder(&writes, None).is_none() {
                break;
            }
            if tokio::time::timeout_at(deadline, unlocked).await.is_err() {
                break;
            }
        }
        self.apply_copy(writes);
    }

    /// Applies `writes` to the copy at a new timestamp, without the
    /// shard's WAL, leaving every lock as it is.
    fn apply_copy(&self, writes: WriteSet) {
        let ts = self.timeline.tick();
        let horizon = self.timeline.horizon();
        self.store.borrow_mut().apply(writes, ts, horizon);
        self.unlocked.notify_waiters();
    }
}

/// How many times `claim_global_index` tries to write the entries of a
/// table whose rows change meanwhile.
const CLAIM_TRIES: usize = 20;

/// A change of a global table's row, for `claims`.
struct RowChange<'a> {
    table: &'a TableDef,
    key: &'a [u8],
    old: Option<Vec<Value>>,
    new: Option<&'a Vec<Value>>,
}

/// An index entry (key and row) of a row, if it has one.
type Entry = Option<(Vec<u8>, Vec<Value>)>;

/// Index `index`'s entry for the row under `key` before and after it
/// changes from `old` to `new`; `None` when the entry stays as it was.
fn entry_change(
    index: &IndexDef,
    table: &TableDef,
    key: &[u8],
    old: Option<&Vec<Value>>,
    new: Option<&Vec<Value>>,
) -> Option<(Entry, Entry)> {
    let entry =
        |row: Option<&Vec<Value>>| row.and_then(|r| super::index_entry(index, table, key, r));
    let (before, after) = (entry(old), entry(new));
    (before != after).then_some((before, after))
}

/// The entries of unique indexes that row changes release and claim, as
/// changes of the index's storage table in the cluster's tables (which no
/// copy applies: each makes its own entries): under the entry's key, the
/// key of the row that holds the value. A write applies only if
/// every row it names is as it says, so of two writes that give one
/// value to different rows the second fails: 40001, and its statement
/// runs again, finds the value in this node's copy, and fails with 23505.
/// An entry the cluster does not hold yet (its index's entries are being
/// written, `claim_global_index`) is not released.
fn claims(shared: &SharedLog, catalog: &Catalog, changed: &[RowChange]) -> Result<Vec<GlobalOp>> {
    // Per entry: what the write releases there, and what it claims.
    type Slot = (Option<Vec<u8>>, Option<Vec<u8>>);
    let mut wanted: std::collections::BTreeMap<(TableId, Vec<u8>), Slot> = Default::default();
    for change in changed {
        for index in catalog.indexes_of(change.table.id).filter(|i| i.unique) {
            let Some((before, after)) = entry_change(
                index,
                change.table,
                change.key,
                change.old.as_ref(),
                change.new,
            ) else {
                continue;
            };
            // An entry names the key of the row that holds its value (not
            // the entry's row, whose values change encoding when a column
            // changes type).
            if let Some((entry, _)) = before {
                wanted.entry((index.storage.id, entry)).or_default().0 = Some(change.key.to_vec());
            }
            if let Some((entry, _)) = after {
                let slot = wanted.entry((index.storage.id, entry)).or_default();
                if slot.1.is_some() {
                    // Two rows of the write take one value: the copy's
                    // index refused it unless it changed meanwhile.
                    return Err(changed_meanwhile());
                }
                slot.1 = Some(change.key.to_vec());
            }
        }
    }
    let mut ops = Vec::new();
    for ((table, key), (released, claimed)) in wanted {
        let now = shared.log.global_row(table, &key);
        if now.is_some() && now != released && now != claimed {
            // Another row's: this node's copy has not seen it yet.
            return Err(changed_meanwhile());
        }
        if now == claimed {
            continue;
        }
        ops.push(GlobalOp {
            table,
            key,
            old: now,
            new: claimed,
        });
    }
    Ok(ops)
}

/// The indexes of the catalog's global tables, with their tables.
fn global_indexes(catalog: &Catalog) -> Vec<(Arc<IndexDef>, &TableDef)> {
    global_tables(catalog)
        .into_iter()
        .flat_map(|t| catalog.indexes_of(t.id).map(move |i| (i.clone(), t)))
        .collect()
}

/// The catalog's global tables (looked up once per write set, not per row).
fn global_tables(catalog: &Catalog) -> Vec<&TableDef> {
    catalog
        .tables()
        .filter(|t| t.global)
        .map(|t| &**t)
        .collect()
}

/// In a cluster, a global table written by a block that changes the
/// catalog.
pub(crate) fn refuse_global_block() -> Error {
    Error::unsupported(
        "writing a global table in a transaction block that changes the catalog, in a cluster",
    )
    .with_hint("Write global tables in a transaction of their own.")
}

/// In a cluster, a global table written by a SERIALIZABLE block.
pub(crate) fn refuse_global_serializable() -> Error {
    Error::unsupported("writing a global table in a SERIALIZABLE transaction, in a cluster")
        .with_hint("Write global tables at REPEATABLE READ or READ COMMITTED.")
}

/// In a cluster, a block that writes a global table and other tables.
pub(crate) fn mixed_global_block() -> Error {
    Error::unsupported(
        "a transaction block that writes a global table and other tables, in a cluster",
    )
    .with_hint("Write global tables in a transaction of their own.")
}

/// In a cluster, a statement that writes a global table and another one.
pub(crate) fn mixed_global_write() -> Error {
    Error::unsupported("a statement that writes a global table and other tables, in a cluster")
        .with_hint("Write the global table in a statement of its own.")
}

fn changed_meanwhile() -> Error {
    Error::new(
        sqlstate::SERIALIZATION_FAILURE,
        "could not serialize access due to concurrent update",
    )
    .with_detail("Another write changed a row of the global table first.")
}

/// `row` in `table`'s present shape: a row written before columns were
/// added takes the values they give it, and one written before a column's
/// type changed has its value converted (as shards do after recovery).
fn shaped(mut row: Vec<Value>, table: &TableDef) -> Vec<Value> {
    if let Some(fill) = table.widening() {
        if row.len() < fill.len() {
            row.extend_from_slice(&fill[row.len()..]);
        }
    }
    for (column, to) in table.retyped() {
        if let Some(value) = row.get_mut(column).filter(|v| !v.is_null()) {
            if let Ok(converted) = value.clone().cast(to, true) {
                *value = converted;
            }
        }
    }
    row
}
