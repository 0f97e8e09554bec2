//! The DDL lock and catalog changes inside transaction blocks, on shard 0,
//! which owns the catalog log.
//!
//! Every catalog change runs under the catalog log's lock ([`Ddl`]). Out
//! of a block it is logged and published at once. Inside one it is held
//! back: the block takes the *DDL lock* with its first change and keeps it
//! to its end, its changes build a pending catalog that only it sees
//! (`CatalogCell::load_as`), and their records wait in memory. No other
//! change can start meanwhile (it waits for the block, and a block waiting
//! for one holding locks it needs is a deadlock, 40P01), so the pending
//! catalog is always the committed one plus the block's changes.
//!
//! COMMIT writes the records as one `CatalogRecord::Transaction`, which is
//! also the commit decision of the block's rows: the router sends it only
//! once every shard holding rows of the block has a durable `Prepare`, so
//! recovery that finds it commits those prepares, and one that does not
//! aborts them. A rollback, a failed COMMIT or a disconnect drops the
//! pending catalog; nothing of it was ever logged. ROLLBACK TO SAVEPOINT
//! undoes the changes made since the savepoint.

use std::sync::Arc;

use tessera_storage::record::CatalogRecord;
use tessera_storage::{Timestamp, TxId};
use tessera_types::{Catalog, Error, Result};

use super::ShardContext;

/// A transaction block making a catalog change, and the number of its
/// newest savepoint (0: none).
pub type Block = Option<(TxId, u32)>;

/// The catalog changes of the block holding the DDL lock.
pub(super) struct DdlBlock {
    tx: TxId,
    /// Its records so far, in order.
    records: Vec<CatalogRecord>,
    /// Per change: the savepoint it was made under, and the pending
    /// catalog and record count before it (for ROLLBACK TO SAVEPOINT).
    undo: Vec<(u32, Arc<Catalog>, usize)>,
}

/// A catalog change under way: the catalog log's lock is held, and a
/// block that changes the catalog owns the DDL lock.
pub(super) struct Ddl<'a> {
    shard: &'a ShardContext,
    _order: tokio::sync::MutexGuard<'a, ()>,
    block: Block,
    /// What the change starts from: the block's pending catalog, or the
    /// committed one.
    pub catalog: Arc<Catalog>,
    /// The change was made (else, in a cluster, the lock is released on
    /// drop unless a block holds it).
    made: bool,
}

impl Drop for Ddl<'_> {
    fn drop(&mut self) {
        let held = self
            .block
            .is_some_and(|(tx, _)| self.shard.holds_ddl_lock(tx));
        if !self.made && !held {
            self.shard.release_cluster_lock();
        }
    }
}

impl ShardContext {
    /// Starts a catalog change for `block` (or for no block): waits while
    /// another block holds the DDL lock.
    pub(super) async fn ddl(&self, block: Block) -> Result<Ddl<'_>> {
        let log = self.catalog_log()?;
        loop {
            let guard = log.order.lock().await;
            let owner = self.ddl_block.borrow().as_ref().map(|b| b.tx);
            let mine = block.map(|(tx, _)| tx);
            match owner {
                Some(owner) if Some(owner) != mine => {
                    drop(guard);
                    // Registered before any other task runs: no release is missed.
                    let released = self.ddl_released.notified();
                    if let Some(me) = mine {
                        self.waits.begin(me, self.shard, owner)?;
                    }
                    let waited = self.wait_unlocked(released, mine).await;
                    if let Some(me) = mine {
                        self.waits.end(me, self.shard);
                    }
                    waited?;
                }
                _ => {
                    if let Err(e) = self.cluster_lock().await {
                        self.release_cluster_lock();
                        return Err(e);
                    }
                    return Ok(Ddl {
                        shard: self,
                        _order: guard,
                        block,
                        catalog: self.catalog_cell.load_as(mine),
                        made: false,
                    });
                }
            }
        }
    }

    /// Whether block `tx` holds the DDL lock (and, in a cluster, the
    /// cluster's, to its end).
    fn holds_ddl_lock(&self, tx: TxId) -> bool {
        self.ddl_block.borrow().as_ref().is_some_and(|b| b.tx == tx)
    }

    /// Ends the catalog changes of block `tx`, if it made any: with
    /// `commit`, writes them (see the module comment) and publishes them;
    /// else drops them. Releases the DDL lock either way.
    pub(super) async fn end_ddl_block(
        &self,
        tx: TxId,
        commit: Option<(Vec<u16>, Timestamp)>,
    ) -> Result<()> {
        let log = self.catalog_log()?;
        let _guard = log.order.lock().await;
        let owned = self.holds_ddl_lock(tx);
        if !owned {
            // The block changed nothing in the end (IF NOT EXISTS, or
            // changes undone by ROLLBACK TO SAVEPOINT): the record still
            // decides its rows. It depends on no catalog, so in a cluster
            // it needs no lock.
            return match commit {
                Some((participants, _)) => {
                    let record = CatalogRecord::Transaction {
                        tx,
                        participants,
                        records: vec![],
                    };
                    self.append_catalog(&[record], false, || {}).await
                }
                None => Ok(()),
            };
        }
        let result = match commit {
            Some((participants, ts)) => self.write_ddl_block(tx, participants, ts).await,
            None => {
                self.release_cluster_lock();
                Ok(None)
            }
        };
        // A failed write fails the log, and the shard with it; the
        // pending catalog goes either way.
        self.ddl_block.borrow_mut().take();
        let (committed, result) = match result {
            Ok(c) => (c, Ok(())),
            Err(e) => (None, Err(e)),
        };
        self.catalog_cell.end_pending(committed);
        self.ddl_released.notify_waiters();
        result
    }

    /// Writes block `tx`'s changes as one record; returns the catalog they
    /// make. Its indexes are usable from its commit timestamp `ts` on:
    /// their entries are written with its rows.
    async fn write_ddl_block(
        &self,
        tx: TxId,
        participants: Vec<u16>,
        ts: Timestamp,
    ) -> Result<Option<Catalog>> {
        let mut records = match &*self.ddl_block.borrow() {
            Some(b) => b.records.clone(),
            None => vec![],
        };
        let committed = self.catalog_cell.load();
        let pending = self.catalog_cell.load_as(Some(tx));
        let mut next = (*pending).clone();
        for record in &mut records {
            if let CatalogRecord::IndexValid {
                storage,
                valid_from,
            } = record
            {
                *valid_from = ts;
                next = next.with_index_valid(*storage, ts);
            }
        }
        // Sequences the block created restart after a crash from where
        // it took them; their values so far are covered here, with it.
        let created: Vec<_> = pending
            .sequences()
            .filter(|s| committed.sequence_by_id(s.id).is_none())
            .filter_map(|s| s.state.pending(s.id))
            .map(|c| c.record())
            .collect();
        if !created.is_empty() {
            records.push(CatalogRecord::SequenceValues(created.clone()));
        }
        let record = CatalogRecord::Transaction {
            tx,
            participants,
            records,
        };
        self.append_catalog(&[record], true, || {}).await?;
        for (id, generation, ..) in created {
            if let Some(s) = pending.sequence_by_id(id) {
                s.state.logged(generation);
            }
        }
        Ok(Some(next))
    }

    /// ROLLBACK TO SAVEPOINT number `savepoint` of block `tx`: undoes the
    /// catalog changes made since.
    pub(super) async fn rollback_ddl_to(&self, tx: TxId, savepoint: u32) -> Result<()> {
        let _guard = self.catalog_log()?.order.lock().await;
        let mut held = self.ddl_block.borrow_mut();
        let Some(b) = held.as_mut().filter(|b| b.tx == tx) else {
            return Ok(());
        };
        let Some(first) = b.undo.iter().position(|(s, ..)| *s >= savepoint) else {
            return Ok(());
        };
        let (_, before, len) = b.undo[first].clone();
        b.undo.truncate(first);
        b.records.truncate(len);
        // Ids and the version go on past what is undone.
        let current = self.catalog_cell.load_as(Some(tx));
        let restored = before.with_counters_past(&current);
        self.catalog_cell.publish_pending(tx, Arc::new(restored));
        Ok(())
    }
}

impl Ddl<'_> {
    /// Makes the change: `records`, which turn `self.catalog` into `next`,
    /// are logged and `next` published; inside a block both are held back
    /// for its end, and only the block sees `next`.
    pub async fn apply(mut self, records: Vec<CatalogRecord>, next: Catalog) -> Result<()> {
        let shard = self.shard;
        match self.block {
            None => {
                self.made = true;
                shard
                    .append_catalog(&records, true, || shard.catalog_cell.publish(next))
                    .await?;
            }
            Some((tx, savepoint)) => {
                let mut held = shard.ddl_block.borrow_mut();
                let b = held.get_or_insert_with(|| DdlBlock {
                    tx,
                    records: Vec::new(),
                    undo: Vec::new(),
                });
                if b.tx != tx {
                    return Err(Error::internal(
                        "a catalog change by a block without the DDL lock",
                    ));
                }
                b.undo
                    .push((savepoint, self.catalog.clone(), b.records.len()));
                b.records.extend(records);
                shard.catalog_cell.publish_pending(tx, Arc::new(next));
                self.made = true;
            }
        }
        Ok(())
    }

    /// The same for one record.
    pub async fn apply_one(self, record: CatalogRecord, next: Catalog) -> Result<()> {
        self.apply(vec![record], next).await
    }
}
