//! Where shard 0 writes catalog changes: `catalog.wal` for a node on its
//! own, the metadata Raft log for a node in a cluster (docs/CLUSTER.md
//! step 2).
//!
//! In a cluster every change happens under the **cluster DDL lock**: the
//! node takes it before it looks at the catalog (once it is granted, every
//! record committed before is applied here, so the change starts from the
//! cluster's newest catalog and no other node's can come between), and
//! releases it with the change's records, or without any when the change
//! came to nothing. A transaction block holds it from its first change to
//! its end. Records other nodes commit are applied here by
//! [`ShardContext::follow_shared_catalog`], the node's own as it appends
//! them: `applied` counts the records this node's catalog holds, so none
//! is applied twice.
//!
//! Sequence positions are the cluster's too (`Metadata::sequences`): a
//! node's record is a claim on a sequence's position, granted only if no
//! other node moved it since the node last knew it (see
//! `tessera_types::sequence` and docs/CLUSTER.md §4). Shard 0 also follows
//! the positions other nodes claim, so that a node whose values run out
//! goes on from the newest one.

use std::cell::Cell;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;

use tessera_storage::record::CatalogRecord;
use tessera_storage::recovery::apply_catalog_record;
use tessera_storage::wal::WalWriter;
use tessera_types::global::{GlobalChanges, GlobalOp};
use tessera_types::sequence::{Claimed, SequenceClaim, SequencePosition};
use tessera_types::{sqlstate, Error, Result, TableId};
use tokio::sync::Notify;

use super::ShardContext;

pub type SendFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

/// How often a wait for the cluster DDL lock looks for a cancel.
const LOCK_WAIT_TICK: std::time::Duration = std::time::Duration::from_millis(100);

/// The cluster's catalog log, as the binary provides it (tessera-cluster's
/// `CatalogClient`). Each call is queued when made, and calls are served
/// in the order made.
pub trait SharedCatalog: Send + Sync {
    /// Takes the cluster DDL lock (waiting while another node holds it);
    /// returns the number of records committed, all applied on this node.
    fn lock(&self) -> SendFuture<Result<u64>>;
    /// Appends encoded records, computed under the lock (`held`: refused
    /// if this node lost it) or depending on no catalog; returns the
    /// number of records with them: they are the last ones.
    fn append(&self, records: Vec<Vec<u8>>, held: bool, unlock: bool) -> SendFuture<Result<u64>>;
    /// Releases the lock if this node holds it.
    fn unlock(&self) -> SendFuture<Result<u64>>;
    /// The committed records from number `start` on.
    fn records_since(&self, start: u64) -> Vec<Vec<u8>>;
    /// Resolves once more than `seen` records are committed.
    fn more_than(&self, seen: u64) -> SendFuture<()>;
    /// This node's catalog now holds the first `records` records.
    fn applied(&self, records: u64);
    /// Moves the sequences' positions (docs/CLUSTER.md §4): what became
    /// of each claim, once applied on this node. An error leaves the
    /// outcome unknown (the claim, made again, then finds where the
    /// position is).
    fn claim_sequences(&self, claims: Vec<SequenceClaim>) -> SendFuture<Result<Vec<Claimed>>>;
    /// Where the sequences are, and how many claims were applied so far.
    fn sequence_positions(&self) -> (u64, Vec<(TableId, SequencePosition)>);
    /// Resolves once more than `seen` claims are applied.
    fn claims_after(&self, seen: u64) -> SendFuture<()>;
    /// The node's sequences observed the positions the first `claims`
    /// claims made.
    fn claims_observed(&self, claims: u64);
    /// This node's id in the cluster, once known.
    fn node_id(&self) -> Option<u64>;
    /// Changes global tables' rows (docs/CLUSTER.md §7): the write's number
    /// once applied on this node, or `None` when a row it changes was
    /// changed since it was read. An error means it was not applied.
    fn write_globals(&self, ops: Vec<GlobalOp>) -> SendFuture<Result<Option<u64>>>;
    /// What a copy of the global tables holding the first `seen` writes
    /// needs (`None`: every row, whatever it holds).
    fn globals_since(&self, seen: Option<u64>) -> GlobalChanges;
    /// The cluster's row of global table `table` under `key`, as encoded
    /// there (the newest this node applied).
    fn global_row(&self, table: TableId, key: &[u8]) -> Option<Vec<u8>>;
    /// Resolves once more than `seen` writes to global tables are applied.
    fn globals_after(&self, seen: u64) -> SendFuture<()>;
    /// This node's copy of the global tables holds the first `writes` writes.
    fn globals_applied(&self, writes: u64);
    /// The cluster-wide numbers of the online nodes' shards, ascending:
    /// where buckets belong.
    fn member_shards(&self) -> Vec<u16>;
    /// The draining nodes' shards: they give every bucket away.
    fn draining_shards(&self) -> Vec<u16>;
    /// This node's tier (docs/CLUSTER.md §3).
    fn tier(&self) -> String;
    /// The shards of tier `tier`'s replica groups that take its buckets
    /// (full groups of online nodes) and that give them away (draining).
    fn tier_shards(&self, tier: &str) -> (Vec<u16>, Vec<u16>);
    /// This node's catalog owns buckets by `owner` now (buckets moved).
    fn buckets_moved(&self, owner: Vec<u16>);
    /// The epoch this node's shard `index` (its number on the node) is
    /// master in, once started. `None`: another member of its replica
    /// group is master, and the shard copies that master's log
    /// (docs/CLUSTER.md §5), unless it was just promoted (`promoted`).
    fn master_epoch(&self, index: u16) -> Option<u64>;
    /// The epoch this node's shard `index` was promoted to master in and
    /// has not started yet (docs/CLUSTER.md §6).
    fn promoted(&self, index: u16) -> Option<u64>;
    /// Shard `index` stopped copying as master of `epoch`; its own writes
    /// begin at log position `start`. Resolves once the cluster recorded
    /// it and the node takes the shard's requests.
    fn start_epoch(&self, index: u16, epoch: u64, start: u64) -> SendFuture<Result<()>>;
    /// How far a member whose log's last records came from the master of
    /// `epoch` may reach in shard `index`'s log and hold nothing the
    /// current master lacks (`None`: no limit).
    fn fork_after(&self, index: u16, epoch: u64) -> Option<u64>;
    /// Shard `index`'s log reaches `end` (for the governor's choice of a
    /// member to promote).
    fn note_log_end(&self, index: u16, end: u64);
    /// How many nodes keep a copy of each shard.
    fn replication_factor(&self) -> u16;
    /// How many replicas must hold a record durably before its master
    /// acknowledges it (0: asynchronous replication; docs/CLUSTER.md §5).
    fn replica_acks(&self) -> u16;
    /// Whether this node may take writes as a master now: the Raft group
    /// confirmed lately that it is in touch, or no other member of its
    /// group could be promoted in its place (docs/CLUSTER.md §6).
    fn holds_lease(&self) -> bool;
    /// This node's shard `index` holds records of a master that were
    /// never copied to the current one (its node was cut off, not killed,
    /// when another member was promoted): the node restarts, which drops
    /// that copy and takes the master's (docs/CLUSTER.md §6). Returns if
    /// it cannot (it already did so lately for the same `fork`, where the
    /// current master's writes began).
    fn diverged(&self, index: u16, fork: u64);
}

/// Shard 0's catalog log.
pub(super) struct CatalogLog {
    /// `catalog.wal`: every record for a node on its own; in a cluster,
    /// only this node's sequence positions.
    pub local: WalWriter,
    pub shared: Option<SharedLog>,
    /// Orders catalog changes on this node.
    pub order: tokio::sync::Mutex<()>,
    /// Orders this node's sequence claims (apart from catalog changes, so
    /// a DDL statement waiting for the cluster lock holds up no INSERT).
    pub claims: Rc<tokio::sync::Mutex<()>>,
}

pub(super) struct SharedLog {
    pub log: Arc<dyn SharedCatalog>,
    /// Records of the cluster's log this node's catalog holds.
    applied: Cell<u64>,
    /// This node holds the cluster DDL lock.
    locked: Cell<bool>,
    /// An append of this node's is under way: the records it brings are
    /// applied by the appender, who knows them as its own.
    pub appending: Cell<bool>,
    pub appended: Notify,
    /// Writes to global tables this node's copy holds (`globals.rs`).
    pub globals: Cell<u64>,
    pub globals_moved: Notify,
    /// The bucket map's epoch and size last reported to the cluster's side.
    bucket_epoch: Cell<(u64, usize)>,
}

impl CatalogLog {
    pub fn new(local: WalWriter) -> CatalogLog {
        CatalogLog {
            local,
            shared: None,
            order: tokio::sync::Mutex::new(()),
            claims: Rc::new(tokio::sync::Mutex::new(())),
        }
    }

    /// In a cluster: `applied` records of `log` are in the catalog the node
    /// recovered.
    pub fn shared(mut self, log: Arc<dyn SharedCatalog>, applied: u64) -> CatalogLog {
        self.shared = Some(SharedLog {
            log,
            applied: Cell::new(applied),
            locked: Cell::new(false),
            appending: Cell::new(false),
            appended: Notify::new(),
            globals: Cell::new(0),
            globals_moved: Notify::new(),
            bucket_epoch: Cell::new((0, 0)),
        });
        self
    }
}

impl SharedLog {
    /// This node's catalog holds the first `records` records (or more).
    fn mark_applied(&self, records: u64) {
        self.applied.set(self.applied.get().max(records));
        self.log.applied(self.applied.get());
    }
}

/// The records of `claims` not yet made durable (or claimed): a newer one
/// of the same sequence may have been, by another statement.
pub(super) fn not_yet_logged(
    catalog: &tessera_types::Catalog,
    claims: Vec<SequenceClaim>,
) -> Vec<SequenceClaim> {
    claims
        .into_iter()
        .filter(|c| {
            catalog
                .sequence_by_id(c.id)
                .is_some_and(|s| s.state.logged_generation() < c.generation)
        })
        .collect()
}

/// Makes `claims` (one at a time on the node: `order`) and notes what
/// became of each in the sequences' states.
async fn claim(
    order: Rc<tokio::sync::Mutex<()>>,
    log: Arc<dyn SharedCatalog>,
    catalog: Arc<tessera_types::Catalog>,
    claims: Vec<SequenceClaim>,
) -> Result<()> {
    let _guard = order.lock().await;
    // Another statement's claim may have covered these meanwhile.
    let fresh = not_yet_logged(&catalog, claims);
    if fresh.is_empty() {
        return Ok(());
    }
    let outcomes = log.claim_sequences(fresh.clone()).await?;
    for (claim, outcome) in fresh.iter().zip(outcomes) {
        let Some(s) = catalog.sequence_by_id(claim.id) else {
            continue;
        };
        match outcome {
            Claimed::Granted(version) => s.state.granted(claim.generation, version),
            Claimed::Lost(position) => s.state.lost(claim.generation, position),
        }
    }
    Ok(())
}

/// Releases the cluster lock if a lock request is dropped before it is
/// answered (a cancelled statement): the request may still be granted.
struct LockRequest<'a> {
    shared: &'a SharedLog,
    answered: bool,
}

impl Drop for LockRequest<'_> {
    fn drop(&mut self) {
        if !self.answered {
            drop(self.shared.log.unlock());
        }
    }
}

impl ShardContext {
    /// In a cluster, takes the cluster DDL lock unless this node holds it,
    /// and brings the catalog to every record committed before it.
    pub(super) async fn cluster_lock(&self) -> Result<()> {
        let Some(shared) = self.catalog_log()?.shared.as_ref() else {
            return Ok(());
        };
        if shared.locked.get() {
            return Ok(());
        }
        let mut request = LockRequest {
            shared,
            answered: false,
        };
        // A cancel, statement_timeout or lock_timeout ends the wait (the
        // request's drop then releases what it may still be granted).
        let mut lock = shared.log.lock();
        let started = std::time::Instant::now();
        let len = loop {
            let tick =
                tessera_types::interrupt::check_lock_wait(started.elapsed(), LOCK_WAIT_TICK)?;
            if let Ok(len) = tokio::time::timeout(tick, &mut lock).await {
                break len;
            }
        };
        request.answered = true;
        let len = len?;
        shared.locked.set(true);
        self.catch_up(shared, Some(len))
    }

    /// In a cluster, releases the cluster DDL lock if this node holds it
    /// (queued at once: a later lock request of this node comes after it).
    pub(super) fn release_cluster_lock(&self) {
        let Some(shared) = self.catalog_log.as_ref().and_then(|l| l.shared.as_ref()) else {
            return;
        };
        if shared.locked.replace(false) {
            let release = shared.log.unlock();
            tokio::task::spawn_local(async move {
                if let Err(e) = release.await {
                    tracing::warn!("releasing the cluster DDL lock: {e}");
                }
            });
        }
    }

    /// Makes `records` durable in the catalog log, in order, then runs
    /// `publish` (which makes their effect visible); in a cluster, with
    /// `unlock`, the cluster DDL lock goes with them.
    pub(super) async fn append_catalog(
        &self,
        records: &[CatalogRecord],
        unlock: bool,
        publish: impl FnOnce(),
    ) -> Result<()> {
        let log = self.catalog_log()?;
        let Some(shared) = &log.shared else {
            for record in records {
                log.local.append_durable(&record.encode()).await?;
            }
            publish();
            return Ok(());
        };
        let encoded: Vec<Vec<u8>> = records.iter().map(|r| r.encode()).collect();
        let count = encoded.len() as u64;
        shared.appending.set(true);
        let appended = shared
            .log
            .append(encoded, shared.locked.get(), unlock)
            .await;
        shared.appending.set(false);
        shared.appended.notify_waiters();
        let len = match appended {
            Ok(len) => len,
            Err(e) => {
                // Not committed (the service learns the outcome of a lost
                // answer before it fails one).
                if unlock {
                    self.release_cluster_lock();
                }
                return Err(e);
            }
        };
        if unlock {
            shared.locked.set(false);
        }
        // Records others committed before these, then these, which the
        // caller's catalog already holds.
        self.catch_up(shared, Some(len.saturating_sub(count)))?;
        publish();
        self.note_buckets(shared);
        shared.mark_applied(len);
        Ok(())
    }

    /// Applies the committed records this node's catalog lacks, up to
    /// record number `upto` (all: `None`), and publishes the result.
    pub(super) fn catch_up(&self, shared: &SharedLog, upto: Option<u64>) -> Result<()> {
        let start = shared.applied.get();
        if upto.is_some_and(|u| u <= start) {
            return Ok(());
        }
        let mut records = shared.log.records_since(start);
        if let Some(upto) = upto {
            records.truncate((upto - start) as usize);
        }
        if records.is_empty() {
            return Ok(());
        }
        let mut catalog = (*self.catalog_cell.load()).clone();
        for (i, payload) in records.iter().enumerate() {
            catalog = apply_catalog_record(catalog, payload).map_err(|e| {
                Error::new(
                    sqlstate::DATA_CORRUPTED,
                    format!(
                        "the cluster's catalog record {} does not apply: {}",
                        start + i as u64,
                        e.message
                    ),
                )
            })?;
        }
        self.catalog_cell.publish(catalog);
        // An index made on a global table gets its entries in this copy
        // before any statement here can read it.
        self.index_global_copy(false);
        self.note_buckets(shared);
        shared.mark_applied(start + records.len() as u64);
        // Sequences the records created may have moved already.
        self.observe_positions(shared, false);
        Ok(())
    }

    /// In a cluster: makes `claims` on the sequences' positions and notes
    /// what became of each in the sequences' states. Claims no value
    /// handed out needs yet (made ahead of need) are made in the
    /// background.
    pub(super) async fn claim_sequences(&self, claims: Vec<SequenceClaim>) -> Result<()> {
        let log = self.catalog_log()?;
        let Some(shared) = &log.shared else {
            return Err(Error::internal("a sequence claim outside a cluster"));
        };
        let needed = claims.iter().any(|c| c.needed);
        let claim = claim(
            log.claims.clone(),
            shared.log.clone(),
            self.catalog_cell.load(),
            claims,
        );
        if needed {
            return claim.await;
        }
        tokio::task::spawn_local(async move {
            if let Err(e) = claim.await {
                tracing::warn!("claiming sequence values ahead of need: {e}");
            }
        });
        Ok(())
    }

    /// Notes the positions other nodes claimed in the sequences' states
    /// (`restore`: at start-up, where the node's sequences go on from).
    fn observe_positions(&self, shared: &SharedLog, restore: bool) -> u64 {
        let (claims, positions) = shared.log.sequence_positions();
        let me = shared.log.node_id().unwrap_or(0);
        let catalog = self.catalog_cell.load();
        for (id, position) in positions {
            if let Some(s) = catalog.sequence_by_id(id) {
                if restore {
                    s.state.restore_position(position);
                } else {
                    s.state.observe(position, me);
                }
            }
        }
        claims
    }

    /// On shard 0 of a node in a cluster: notes the sequence positions
    /// other nodes claim. Runs for the node's life.
    async fn follow_sequence_positions(&self, shared: &SharedLog) {
        let mut seen = self.observe_positions(shared, true);
        loop {
            shared.log.claims_observed(seen);
            shared.log.claims_after(seen).await;
            seen = self.observe_positions(shared, false);
        }
    }

    /// On shard 0 of a node in a cluster: applies the catalog records other
    /// nodes commit, as they are committed, and follows the sequences'
    /// positions. Runs for the node's life.
    pub async fn follow_shared_catalog(self: Rc<Self>) {
        let Some(shared) = self.catalog_log.as_ref().and_then(|l| l.shared.as_ref()) else {
            return;
        };
        tokio::join!(
            self.follow_catalog_records(shared),
            async { self.follow_sequence_positions(shared).await },
            self.follow_globals(shared),
        );
    }

    /// Tells the cluster's side where buckets are, once they moved: before
    /// the records that moved them are reported applied, so that whoever
    /// sees them applied sees the map too (`tessera expel` relies on it).
    pub(super) fn note_buckets(&self, shared: &SharedLog) {
        let catalog = self.catalog_cell.load();
        let epoch = (catalog.buckets.moves.epoch, catalog.buckets.owner.len());
        if shared.bucket_epoch.replace(epoch) != epoch {
            shared.log.buckets_moved(catalog.buckets.owner.to_vec());
        }
    }

    async fn follow_catalog_records(&self, shared: &SharedLog) {
        self.note_buckets(shared);
        shared.log.applied(shared.applied.get());
        loop {
            shared.log.more_than(shared.applied.get()).await;
            while shared.appending.get() {
                shared.appended.notified().await;
            }
            // Not under a change of this node's: while it holds the cluster
            // lock no other node's change can come, and while it waits for
            // the lock, other nodes' changes are what it must start from.
            if let Err(e) = self.catch_up(shared, None) {
                tracing::error!(
                    "{}; this node no longer follows the cluster's catalog",
                    e.message
                );
                return;
            }
        }
    }
}
