//! The shard side: requests a shard serves for routers (its own and other
//! shards'), executed next to the data on the shard's own thread.
//!
//! Writes are log-then-apply under key locks (see `tessera_storage`). A
//! write that is part of a two-phase transaction stops after its `Prepare`
//! record is durable, keeping its keys locked until `Resolve`. Writes wait
//! for locked keys; a wait between transactions is recorded in the node's
//! `LockWaits`, which refuses one that would close a cycle (40P01).
//!
//! SERIALIZABLE transactions also leave their reads here (`ReadSet`: keys
//! for point reads, whole tables for scans). At COMMIT each shard checks
//! that nothing it read changed after the transaction's snapshot and that
//! no commit of it is under way, then keeps those reads locked until the
//! transaction's writes are applied: writers wait for such *read locks*. So
//! a serializable transaction's reads still hold at its commit timestamp,
//! it takes effect atomically there, and serializable transactions are
//! equivalent to running one by one in commit-timestamp order (a snapshot
//! then sees a prefix of that order, so read-only ones need no checks).

use std::cell::{Cell, RefCell};
use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::task::{Context, Poll};

use tessera_storage::checkpoint::CheckpointPlan;
use tessera_storage::deps::{join, Positions};
use tessera_storage::store::{self, ApplySeq, LockOwner};
use tessera_storage::wal::{Durability, Ticket};
use tessera_storage::{
    CatalogRecord, LogDeps, Record, ShardStore, Timeline, Timestamp, TwoPhaseLedger, TxId,
    WalWriter, WriteOp, WriteSet, LATEST,
};
use tessera_types::encoding::{encode_key, encode_key_into, encode_key_value};
use tessera_types::schema::ShardId;
use tessera_types::sequence::{SequenceClaim, SequenceRecord};
use tessera_types::SequenceDef;
use tessera_types::{sqlstate, Catalog, Error, IndexDef, Result, TableDef, Value};
use tokio::sync::Notify;

use crate::aggregate::AggState;
use crate::batch::RowPrefetch;
use crate::engine::Notice;
use crate::expr::{Expr, Params};
use crate::plan::{
    DeletePlan, FragmentOutput, IndexScan, KeyLookup, OnConflict, Plan, Row, ScanFragment,
    UpdatePlan,
};
use crate::rows::Rows;

mod analyze;
mod buckets;
mod catalog_log;
mod cross_node;
pub use cross_node::TxOutcome;
mod ddl;
mod dependencies;
mod globals;
mod replication;
pub(crate) use globals::{
    mixed_global_block, mixed_global_write, refuse_global_block, refuse_global_serializable,
};
mod roles;
mod schemas;
mod types;
pub(crate) use types::free_check_name;

pub(crate) use buckets::catalog_reaches;
pub use buckets::{plan_move, stale_map, stale_map_epoch, Entry};
pub use catalog_log::{SendFuture, SharedCatalog};

/// How long a node in a cluster tries, at a clean shutdown, to give back
/// the sequence values it holds.
const SEQUENCE_RETURN_WAIT: std::time::Duration = std::time::Duration::from_secs(1);
pub use ddl::Block;
pub(crate) use dependencies::foreign_keys_needing;
use dependencies::{ColumnReaders, DropPlan, Object};

/// Rows a scan processes between yields to the event loop, so one long scan
/// does not hold up every other request on the shard.
pub const SCAN_ROWS_PER_YIELD: usize = 1024;

/// A lookup (see [`KeyLookup`]) yields after reading this many keys.
pub const LOOKUP_KEYS_PER_YIELD: usize = 256;

/// The node's current catalog, shared read-only by its shards. A change
/// publishes a whole new snapshot; readers check one atomic to see it.
///
/// Besides the committed catalog it holds at most one *pending* one: the
/// catalog as the transaction block that holds the DDL lock (see
/// `ShardContext::ddl`) has changed it so far. Only that block sees it;
/// its COMMIT makes it the committed one, its end otherwise drops it.
pub struct CatalogCell {
    /// Changes with every publication, committed or pending.
    generation: AtomicU64,
    current: RwLock<Arc<Catalog>>,
    pending: RwLock<Option<(TxId, Arc<Catalog>)>>,
}

impl CatalogCell {
    pub fn new(catalog: Catalog) -> CatalogCell {
        CatalogCell {
            generation: AtomicU64::new(0),
            current: RwLock::new(Arc::new(catalog)),
            pending: RwLock::new(None),
        }
    }
    /// Changes whenever what `load` or `load_as` return does.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }
    /// The committed catalog.
    pub fn load(&self) -> Arc<Catalog> {
        self.current
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
    /// The catalog transaction `txn` sees: its pending one if it has
    /// changed the catalog, else the committed one.
    pub fn load_as(&self, txn: Option<TxId>) -> Arc<Catalog> {
        if let Some(txn) = txn {
            let pending = self.pending.read().unwrap_or_else(|e| e.into_inner());
            if let Some((owner, catalog)) = &*pending {
                if *owner == txn {
                    return catalog.clone();
                }
            }
        }
        self.load()
    }
    /// The pending catalog and its block, if one has changed the catalog.
    pub fn pending(&self) -> Option<(TxId, Arc<Catalog>)> {
        self.pending
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
    pub fn publish(&self, catalog: Catalog) {
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(catalog);
        self.generation.fetch_add(1, Ordering::AcqRel);
    }
    /// Block `owner`'s catalog so far (only it sees it).
    pub fn publish_pending(&self, owner: TxId, catalog: Arc<Catalog>) {
        *self.pending.write().unwrap_or_else(|e| e.into_inner()) = Some((owner, catalog));
        self.generation.fetch_add(1, Ordering::AcqRel);
    }
    /// Ends the pending catalog: `committed` (what it became) is
    /// published; with `None` it is dropped, and the committed catalog
    /// goes on with its version and ids past the pending one's, so nothing
    /// made from the dropped catalog (a cached plan, a table id) is taken
    /// for current.
    pub fn end_pending(&self, committed: Option<Catalog>) {
        let Some((_, pending)) = self
            .pending
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .take()
        else {
            return;
        };
        let next = match committed {
            Some(c) => c,
            None => self.load().with_counters_past(&pending),
        };
        self.publish(next);
    }
}

/// How a write request is carried out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum WriteMode {
    /// A statement that touches one shard: logged and applied at once.
    Autocommit,
    /// A statement that touches several shards: logged as prepared under
    /// this id and settled by `Resolve`.
    Prepare(TxId),
    /// Inside a transaction block: kept as locked intents, not logged, until
    /// COMMIT. With a snapshot (REPEATABLE READ, SERIALIZABLE), writing a
    /// row committed after it fails with 40001.
    Txn {
        id: TxId,
        snapshot: Option<Timestamp>,
        savepoint: u32,
        /// SERIALIZABLE: remember the rows the write read.
        track_reads: bool,
    },
}

impl WriteMode {
    fn owner(&self) -> Option<TxId> {
        match self {
            WriteMode::Autocommit => None,
            WriteMode::Prepare(tx) | WriteMode::Txn { id: tx, .. } => Some(*tx),
        }
    }
    fn txn(&self) -> Option<TxId> {
        match self {
            WriteMode::Txn { id, .. } => Some(*id),
            _ => None,
        }
    }
    /// The transaction whose reads must be remembered (SERIALIZABLE).
    fn reader(&self) -> Option<TxId> {
        match self {
            WriteMode::Txn {
                id,
                track_reads: true,
                ..
            } => Some(*id),
            _ => None,
        }
    }
    fn snapshot(&self) -> Option<Timestamp> {
        match self {
            WriteMode::Txn { snapshot, .. } => *snapshot,
            _ => None,
        }
    }
}

/// The node's lock waits between transactions: who waits for whom, on
/// which shard. A transaction can wait on several shards at once (the
/// parts of one multi-shard statement), each wait its own edge. A wait
/// that would close a cycle is refused with 40P01, so no set of
/// transactions, on one shard or several, waits for each other forever.
/// Cycles through waits on other nodes are found by shard 0's detector
/// (`shard/cross_node.rs`), which names a victim here.
#[derive(Default)]
pub struct LockWaits {
    edges: std::sync::Mutex<Waits>,
}

#[derive(Default)]
struct Waits {
    edges: HashMap<TxId, Vec<(ShardId, TxId)>>,
    /// Waiters chosen to break a cycle through another node: their next
    /// look fails with 40P01.
    victims: std::collections::HashSet<TxId>,
}

impl LockWaits {
    fn lock(&self) -> std::sync::MutexGuard<'_, Waits> {
        self.edges.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// `waiter` starts waiting on `shard` for a lock `holder` holds.
    pub fn begin(&self, waiter: TxId, shard: ShardId, holder: TxId) -> Result<()> {
        let mut waits = self.lock();
        if reaches(&waits.edges, holder, waiter) {
            return Err(deadlock(waiter, holder));
        }
        let out = waits.edges.entry(waiter).or_default();
        out.retain(|(s, _)| *s != shard);
        out.push((shard, holder));
        Ok(())
    }

    /// `waiter` no longer waits on `shard`.
    pub fn end(&self, waiter: TxId, shard: ShardId) {
        let mut waits = self.lock();
        if let Some(out) = waits.edges.get_mut(&waiter) {
            out.retain(|(s, _)| *s != shard);
            if out.is_empty() {
                waits.edges.remove(&waiter);
                waits.victims.remove(&waiter);
            }
        }
    }

    /// Whether `waiter`, still waiting on `shard`, is now on a cycle. A
    /// cycle can close while one of its edges is briefly gone (a waiter
    /// woken to look again ends its edge and begins it anew), so `begin`
    /// alone misses some; waiters look again after [`DEADLOCK_CHECK`].
    pub fn check(&self, waiter: TxId, shard: ShardId) -> Result<()> {
        let waits = self.lock();
        if waits.victims.contains(&waiter) {
            return Err(Error::new(sqlstate::DEADLOCK_DETECTED, "deadlock detected").with_detail(
                format!("Transaction {waiter} waits for a lock held by a transaction that waits, on another node, directly or not, for {waiter}."),
            ));
        }
        let holder = waits
            .edges
            .get(&waiter)
            .and_then(|out| out.iter().find(|(s, _)| *s == shard))
            .map(|(_, h)| *h);
        match holder {
            Some(holder) if reaches(&waits.edges, holder, waiter) => Err(deadlock(waiter, holder)),
            _ => Ok(()),
        }
    }

    /// Every wait on this node: `(waiter, holder)`, sorted.
    pub fn edges(&self) -> Vec<(TxId, TxId)> {
        let waits = self.lock();
        let mut edges: Vec<(TxId, TxId)> = waits
            .edges
            .iter()
            .flat_map(|(w, out)| out.iter().map(move |(_, h)| (*w, *h)))
            .collect();
        edges.sort_unstable();
        edges.dedup();
        edges
    }

    /// Ends `waiter`'s waits with 40P01 at its next look, if it still waits.
    pub fn choose_victim(&self, waiter: TxId) {
        let mut waits = self.lock();
        if waits.edges.contains_key(&waiter) {
            waits.victims.insert(waiter);
        }
    }
}

/// Whether following the waits from `from` reaches `target`.
fn reaches(edges: &HashMap<TxId, Vec<(ShardId, TxId)>>, from: TxId, target: TxId) -> bool {
    let mut seen = std::collections::HashSet::new();
    let mut stack = vec![from];
    while let Some(at) = stack.pop() {
        if at == target {
            return true;
        }
        if seen.insert(at) {
            if let Some(out) = edges.get(&at) {
                stack.extend(out.iter().map(|(_, h)| *h));
            }
        }
    }
    false
}

/// How long a lock waiter waits before it looks for a deadlock again
/// (PostgreSQL's `deadlock_timeout` is 1 s).
pub const DEADLOCK_CHECK: std::time::Duration = std::time::Duration::from_millis(200);

fn deadlock(waiter: TxId, holder: TxId) -> Error {
    Error::new(sqlstate::DEADLOCK_DETECTED, "deadlock detected").with_detail(format!(
        "Transaction {waiter} waits for transaction {holder}, which waits, directly or not, for {waiter}."
    ))
}

/// What a SERIALIZABLE transaction read on a shard: keys it looked up
/// (also keys it checked were free, for INSERT) and tables it scanned.
#[derive(Default)]
struct ReadSet {
    keys: std::collections::HashSet<(tessera_types::TableId, Vec<u8>)>,
    tables: std::collections::HashSet<tessera_types::TableId>,
}

impl ReadSet {
    fn covers(&self, table: tessera_types::TableId, key: &[u8]) -> bool {
        self.tables.contains(&table) || self.keys.contains(&(table, key.to_vec()))
    }
}

/// What a key's intent was before a write under a savepoint: `None` if the
/// key had no intent (and no lock) before.
struct Undo {
    savepoint: u32,
    key: (tessera_types::TableId, Vec<u8>),
    previous: Option<Option<Vec<Value>>>,
}

/// A transaction block's uncommitted rows on one shard: the newest intent
/// per key (`None`: deleted).
type Intents = std::collections::BTreeMap<(tessera_types::TableId, Vec<u8>), Option<Vec<Value>>>;

/// A referenced row a FOREIGN KEY check locks (`LockKeys`).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct ParentKey {
    /// The row's key.
    pub key: Vec<u8>,
    /// When the row was found through a unique index: its referenced
    /// columns and their values (key-encoded over those columns), which
    /// the locked row must still hold (it may have changed since the
    /// index was read).
    pub holds: Option<(Vec<usize>, Vec<u8>)>,
    /// The error when there is no such row.
    pub missing: Error,
}

/// What a router asks of a shard.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub enum ShardRequest {
    /// Run the shard part of a SELECT at snapshot `ts`.
    Scan {
        plan: Arc<Plan>,
        params: Arc<Params>,
        ts: Timestamp,
        /// Inside a transaction block: its own uncommitted writes are seen too.
        txn: Option<TxId>,
        /// SERIALIZABLE: remember what the scan read, under `txn`.
        track_reads: bool,
        /// Read only the row stored under this key (found through a global
        /// index), instead of what the fragment's lookup or scan would.
        key: Option<Vec<u8>>,
    },
    /// The row under `key` in `table` at `ts` (or the transaction's own).
    Get {
        table: tessera_types::TableId,
        key: Vec<u8>,
        ts: Timestamp,
        txn: Option<TxId>,
        track_reads: bool,
    },
    /// Insert rows (already keyed) into one table.
    Insert {
        table: Arc<TableDef>,
        rows: Vec<(Vec<u8>, Row)>,
        mode: WriteMode,
        /// ON CONFLICT, with what its expressions and RETURNING read.
        upsert: Option<Arc<Upsert>>,
    },
    /// Run an UPDATE or DELETE plan over this shard's rows (with `key`:
    /// over the row under it, found through a global index).
    Modify {
        plan: Arc<Plan>,
        params: Arc<Params>,
        mode: WriteMode,
        key: Option<Vec<u8>>,
    },
    /// Commit a transaction block whose writes are all on this shard.
    /// SERIALIZABLE: first validate its reads here against its snapshot.
    TxnCommit {
        id: TxId,
        validate: Option<Timestamp>,
    },
    /// Prepare this shard's part of a transaction block (then Decide/Resolve).
    TxnPrepare {
        id: TxId,
        validate: Option<Timestamp>,
    },
    /// In a cluster, on the router's node's shard 0: commit a statement's
    /// block that wrote global tables through the cluster's log
    /// (`shard/globals.rs`); its intents here are its row changes, computed
    /// from what the copy held at `since` or later.
    CommitGlobals { id: TxId, since: Timestamp },
    /// SERIALIZABLE, on a shard the transaction only read: check its reads
    /// still hold at `snapshot` and lock them until `TxnAbort`.
    TxnValidate { id: TxId, snapshot: Timestamp },
    /// Roll back this shard's part of a transaction block, or release what
    /// it still holds here once it ended (reads, read locks).
    TxnAbort { id: TxId },
    /// `TxnAbort` of a block whose router is on another node and whose
    /// connection was lost: later work of the block is refused here with
    /// 08006 (its router may still be alive, and must not commit a part).
    TxnAbandon { id: TxId },
    /// Undo the block's writes made since savepoint number `savepoint`.
    TxnRollbackTo { id: TxId, savepoint: u32 },
    /// Settle a prepared transaction; a commit's versions get timestamp `ts`.
    Resolve {
        tx: TxId,
        commit: bool,
        ts: Timestamp,
    },
    /// To the shard that decides `tx` (its router's, on another node):
    /// its outcome, for a participant whose prepare waited too long.
    Outcome { tx: TxId },
    /// To the shard that decided each of `txs`: participant `shard`, on
    /// another node, made its outcome durable.
    Reported { shard: ShardId, txs: Vec<TxId> },
    /// The node's lock waits (`shard/cross_node.rs`), for another node's
    /// deadlock detector.
    LockWaits,
    /// To a master, from the replica of this shard on another member of
    /// its group, whose log ends at `from`: the master's durable records
    /// from there on (about `max_bytes`, at least one), once there are any
    /// or after a second (docs/CLUSTER.md §5). `epoch`: that of the
    /// master whose records the replica's log ends with. Answered
    /// `Shipped`, or `Diverged` when the replica's log reaches past where
    /// a later master's own writes began (docs/CLUSTER.md §6). `node`:
    /// the replica's; its log holds everything before `from` durably,
    /// which a master in sync mode waits for before it acknowledges.
    ShipWal {
        from: u64,
        max_bytes: u32,
        epoch: u64,
        node: u64,
    },
    /// To a master, from a replica whose log position its log no longer
    /// holds (answered `LogGone` to `ShipWal`): `max_bytes` at most of its
    /// checkpoint `seq` (`None`: its newest) from `offset`. Answered
    /// `CheckpointPart`.
    ShipCheckpoint {
        seq: Option<u64>,
        offset: u64,
        max_bytes: u32,
    },
    /// Record a two-phase decision durably (on a participant's shard, or
    /// the router's own).
    Decide {
        tx: TxId,
        commit: bool,
        /// The commit timestamp, when chosen before the decision (a router
        /// on another node: participants that settle from the decision
        /// alone use it); else 0.
        ts: Timestamp,
        /// Every shard taking part; a commit holds only if all prepared.
        participants: Vec<ShardId>,
    },
    /// Catalog changes, served by shard 0, which owns the catalog log.
    CreateTable {
        table: TableDef,
        /// Sequences of its serial and identity columns, owned by them.
        sequences: Vec<(SequenceDef, u32)>,
        if_not_exists: bool,
    },
    CreateSequence {
        sequence: SequenceDef,
        if_not_exists: bool,
    },
    /// A view, or with `or_replace` one replacing the view of its name.
    CreateView {
        view: tessera_types::ViewDef,
        or_replace: bool,
    },
    /// Lock rows of `table` by key, as a write of them unchanged would (a
    /// referenced row for a FOREIGN KEY: a delete of it then waits, or
    /// conflicts); a key with no row fails with its error.
    LockKeys {
        table: tessera_types::TableId,
        keys: Vec<ParentKey>,
        mode: WriteMode,
    },
    /// Set (or with `None` remove) the comment on a relation or column.
    Comment {
        object: tessera_types::TableId,
        column: u32,
        text: Option<String>,
    },
    /// Replace the definition of table `table.id` (catalog only), with
    /// what depends on the columns it drops, as ALTER TABLE … DROP COLUMN
    /// decides (`path`: the search path's schemas, for messages).
    AlterTable {
        table: TableDef,
        dropped: Vec<crate::plan::DroppedColumn>,
        path: Vec<tessera_types::SchemaId>,
    },
    /// Replace sequence `sequence.id`'s definition (its value goes on).
    AlterSequence { sequence: SequenceDef },
    /// Make sequence records durable (see `tessera_types::sequence`).
    LogSequences(Vec<SequenceClaim>),
    /// Relations of one kind, by name, atomically; with `cascade`, what
    /// depends on them too (see `dependencies`). `path`: the search
    /// path's schemas, for naming relations in messages as the session
    /// sees them.
    Drop {
        kind: Relation,
        names: Vec<RelationRef>,
        if_exists: bool,
        cascade: bool,
        path: Vec<tessera_types::SchemaId>,
    },
    /// Shard 0: CREATE SCHEMA.
    CreateSchema {
        schema: tessera_types::SchemaDef,
        if_not_exists: bool,
    },
    /// Shard 0: DROP SCHEMA, with what is in them when `cascade`.
    DropSchemas {
        names: Vec<String>,
        cascade: bool,
        path: Vec<tessera_types::SchemaId>,
    },
    /// Shard 0: CREATE, ALTER or DROP ROLE by role `actor` (passwords
    /// already hashed).
    Roles {
        statement: crate::plan::RoleStatement,
        actor: String,
    },
    /// Shard 0: CREATE, ALTER or DROP TYPE.
    Types(crate::plan::TypeStatement),
    /// Shard 0: ALTER SCHEMA … RENAME TO.
    RenameSchema {
        schema: tessera_types::SchemaId,
        name: String,
    },
    /// Shard 0: ALTER INDEX … RENAME TO, of the index stored in `storage`.
    RenameIndex {
        storage: tessera_types::TableId,
        name: String,
    },
    /// Shard 0: add an index (not yet usable); answers `Index(storage id)`.
    CreateIndex {
        index: IndexDef,
        if_not_exists: bool,
    },
    /// Every shard: write the entries of the rows it holds (inside a
    /// block: with its own rows, as its writes).
    BuildIndex {
        storage: tessera_types::TableId,
        block: Block,
    },
    /// Every shard: inside block `block`, after an ALTER TABLE that adds
    /// columns or changes their types, write every row of `table` it
    /// holds in the shape the block's catalog gives it, as the block's
    /// writes (see `reshape_in_block`).
    Reshape {
        table: tessera_types::TableId,
        block: (TxId, u32),
    },
    /// A read (`Scan` or `Get`, perhaps `Routed`) a session that asked
    /// for replica reads (`tessera.read_preference`) sends to this node's
    /// copy of the shard, which serves it whether master or replica. A
    /// replica refuses it, for the router to ask the master, while its
    /// copy cannot hold what the read's bucket map routes to it (see
    /// `ShardContext::check_copy_serves`).
    FromCopy { request: Box<ShardRequest> },
    /// A request for rows (`Scan`, `Get`, `Insert`, `Modify`, `LockKeys`,
    /// `IndexEntries`) routed by the bucket map of epoch `epoch`: refused
    /// if this shard gave buckets away since (see `shard/buckets.rs`).
    Routed {
        epoch: u64,
        request: Box<ShardRequest>,
    },
    /// A move of buckets, decided in the catalog's log (`shard/buckets.rs`):
    /// on the giver, prepare the deletion of their entries under `tx` and
    /// return them.
    BucketsOut { tx: TxId, buckets: Vec<u32> },
    /// On the taker: prepare the insertion of the moved entries under `tx`.
    BucketsIn {
        tx: TxId,
        entries: Vec<buckets::Entry>,
    },
    /// Settle a move's part: a commit at `ts` once this node's catalog
    /// holds it.
    BucketsSettle {
        tx: TxId,
        commit: bool,
        ts: Timestamp,
    },
    /// Shard 0: append an abort of `tx` (decided in the catalog's log) to
    /// the log, unless its decision is there.
    AbortInCatalog { tx: TxId },
    /// Shard 0: a catalog change made inside transaction block `txn`,
    /// under its savepoint number `savepoint` (see `shard/ddl.rs`).
    InBlock {
        txn: TxId,
        savepoint: u32,
        request: Box<ShardRequest>,
    },
    /// Shard 0: block `tx` ends. With `commit` (the shards holding its
    /// rows, all prepared, and its commit timestamp), its catalog changes
    /// are written and published; else dropped.
    DdlEnd {
        tx: TxId,
        commit: Option<(Vec<ShardId>, Timestamp)>,
    },
    /// Shard 0: ROLLBACK TO SAVEPOINT number `savepoint` in block `tx`.
    DdlRollbackTo { tx: TxId, savepoint: u32 },
    /// Shard 0: the index is built; snapshots from `valid_from` may use it.
    IndexValid {
        storage: tessera_types::TableId,
        valid_from: Timestamp,
    },
    /// On shard 0 of a node in a cluster: writes the entries of unique
    /// index `storage` of a global table to the cluster's tables
    /// (`claim_global_index`).
    ClaimGlobalIndex { storage: tessera_types::TableId },
    /// Hold every write to `table` here (as a read lock of all of it, owned
    /// by `holder`, released by `TxnAbort`) once the writes under way end;
    /// 55P03 if an open transaction block has written it here.
    LockTable {
        holder: TxId,
        table: tessera_types::TableId,
    },
    /// Give back `holder`'s `LockTable` of `table` here: the change it
    /// was taken for was undone by a rollback to a savepoint. Other writes
    /// waiting for the table go on.
    UnlockTable {
        holder: TxId,
        table: tessera_types::TableId,
    },
    /// Collect the versions no snapshot can see any more, now.
    Vacuum,
    /// CHECKPOINT: take a checkpoint now (one begun after the request) and
    /// answer once it is published.
    Checkpoint,
    /// Publish this shard's row counts and column statistics (see
    /// `shard/analyze.rs`) to the node's statistics now.
    Analyze,
    /// Shard 0: the rewritten table `new` replaces `old` under its name.
    ReplaceTable {
        old: tessera_types::TableId,
        new: tessera_types::TableId,
    },
    /// Building global index `index`: lock (as the transaction's writes of
    /// themselves) up to `limit` rows after `after` and report their
    /// entries as changes, for the router to add in the same transaction.
    IndexBackfill {
        index: Arc<IndexDef>,
        after: Option<Vec<u8>>,
        limit: usize,
        mode: WriteMode,
    },
    /// Entries of a global unique index held here: remove `deletes`, then
    /// add `puts`, refusing values already taken (23505).
    IndexEntries {
        index: Arc<IndexDef>,
        deletes: Vec<Vec<u8>>,
        puts: Vec<(Vec<u8>, Row)>,
        mode: WriteMode,
    },
}

/// What a DROP names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Relation {
    Table,
    Index,
    Sequence,
    View,
}

/// A relation a DROP names: the schema it is looked for in (`None`: no
/// schema of the search path has a relation of that name) and its name
/// (which PostgreSQL's messages show without the schema).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RelationRef {
    pub schema: Option<tessera_types::SchemaId>,
    pub name: String,
}

impl RelationRef {
    /// Relation `name` of schema `schema`.
    pub fn of(schema: tessera_types::SchemaId, name: &str) -> RelationRef {
        RelationRef {
            schema: Some(schema),
            name: name.to_string(),
        }
    }
}

/// A change a write made to a global index's entries, which live on other
/// shards: the old entry to remove and the new one to add (key, columns).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct EntryChange {
    pub index: Arc<IndexDef>,
    pub old: Option<(Vec<u8>, Row)>,
    pub new: Option<(Vec<u8>, Row)>,
}

#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub enum ShardResponse {
    Rows(Rows),
    Count(u64),
    Done(Vec<Notice>),
    /// A new index, by the id of its storage table.
    Index(tessera_types::TableId),
    /// Rows written, the changes the router must make to global indexes
    /// in the same transaction, and the RETURNING rows.
    Written(u64, Vec<EntryChange>, Vec<Row>),
    /// An `IndexBackfill` batch: entries to add, and the last key read
    /// (`None`: the shard has no more rows).
    Backfilled(Vec<EntryChange>, Option<Vec<u8>>),
    /// The entries of buckets being moved (`BucketsOut`).
    Entries(Vec<buckets::Entry>),
    /// The outcome of a transaction (`Outcome`).
    Outcome(cross_node::TxOutcome),
    /// A node's lock waits, `(waiter, holder)` (`LockWaits`).
    Waits(Vec<(TxId, TxId)>),
    /// Log records with their positions (`ShipWal`), from the master of
    /// `epoch`, whose log was durable up to `end` as it answered: a
    /// replica whose log reaches `end` with them has caught up.
    Shipped {
        epoch: u64,
        records: Vec<(u64, Vec<u8>)>,
        end: u64,
    },
    /// The replica's log reaches past `fork`, where a later master's own
    /// writes began: it holds records of an old master that this one lacks
    /// (`ShipWal`).
    Diverged {
        fork: u64,
    },
    /// The master's log no longer holds the position asked (`ShipWal`):
    /// the replica copies its checkpoint first. The master's epoch.
    LogGone {
        epoch: u64,
    },
    /// Part of a checkpoint file (`ShipCheckpoint`): its sequence number,
    /// the file's length, and the bytes from the offset asked.
    CheckpointPart {
        seq: u64,
        len: u64,
        bytes: Vec<u8>,
    },
}

impl ShardRequest {
    /// Makes this read (a `Scan` or `Get`, perhaps `Routed`) read at
    /// snapshot `at`.
    fn read_at(&mut self, at: Timestamp) {
        match self {
            ShardRequest::Routed { request, .. } => request.read_at(at),
            ShardRequest::Scan { ts, .. } | ShardRequest::Get { ts, .. } => *ts = at,
            _ => {}
        }
    }

    /// The bucket map epoch a `Routed` request was routed by.
    fn routed_epoch(&self) -> Option<u64> {
        match self {
            ShardRequest::Routed { epoch, .. } => Some(*epoch),
            _ => None,
        }
    }

    /// The snapshot the request reads at, if it reads at one (a scan, a
    /// SERIALIZABLE validation).
    pub fn snapshot(&self) -> Option<Timestamp> {
        match self {
            ShardRequest::Routed { request, .. } | ShardRequest::FromCopy { request } => {
                request.snapshot()
            }
            ShardRequest::Scan { ts, .. } | ShardRequest::Get { ts, .. } => Some(*ts),
            ShardRequest::TxnValidate { snapshot, .. } => Some(*snapshot),
            ShardRequest::TxnCommit { validate, .. }
            | ShardRequest::TxnPrepare { validate, .. } => *validate,
            _ => None,
        }
    }

    /// The transaction whose work the request does (a read or write in a
    /// block, its commit, a statement's prepared write), if any; not the
    /// requests that end a transaction's part (`TxnAbort`,
    /// `TxnRollbackTo`, `Resolve`, `Decide`).
    pub fn work_of(&self) -> Option<TxId> {
        match self {
            ShardRequest::Routed { request, .. } | ShardRequest::FromCopy { request } => {
                request.work_of()
            }
            ShardRequest::Scan { txn, .. } | ShardRequest::Get { txn, .. } => *txn,
            ShardRequest::Insert { mode, .. }
            | ShardRequest::Modify { mode, .. }
            | ShardRequest::LockKeys { mode, .. }
            | ShardRequest::IndexBackfill { mode, .. }
            | ShardRequest::IndexEntries { mode, .. } => mode.owner(),
            ShardRequest::TxnCommit { id, .. }
            | ShardRequest::TxnPrepare { id, .. }
            | ShardRequest::CommitGlobals { id, .. }
            | ShardRequest::TxnValidate { id, .. } => Some(*id),
            ShardRequest::Reshape { block, .. } => Some(block.0),
            ShardRequest::BuildIndex { block, .. } => block.map(|b| b.0),
            ShardRequest::LockTable { holder, .. } => Some(*holder),
            _ => None,
        }
    }

    /// The transaction block whose work the request does, if any: as
    /// [`ShardRequest::work_of`], without a statement's prepared writes.
    pub fn block_work(&self) -> Option<TxId> {
        match self {
            ShardRequest::Routed { request, .. } | ShardRequest::FromCopy { request } => {
                request.block_work()
            }
            ShardRequest::Insert { mode, .. }
            | ShardRequest::Modify { mode, .. }
            | ShardRequest::LockKeys { mode, .. }
            | ShardRequest::IndexBackfill { mode, .. }
            | ShardRequest::IndexEntries { mode, .. } => mode.txn(),
            _ => self.work_of(),
        }
    }

    /// The same write carried out under `mode` (other requests unchanged).
    pub fn with_mode(self, mode: WriteMode) -> ShardRequest {
        match self {
            ShardRequest::Routed { epoch, request } => ShardRequest::Routed {
                epoch,
                request: Box::new(request.with_mode(mode)),
            },
            ShardRequest::Insert {
                table,
                rows,
                upsert,
                ..
            } => ShardRequest::Insert {
                table,
                rows,
                mode,
                upsert,
            },
            ShardRequest::Modify {
                plan, params, key, ..
            } => ShardRequest::Modify {
                plan,
                params,
                mode,
                key,
            },
            ShardRequest::LockKeys { table, keys, .. } => {
                ShardRequest::LockKeys { table, keys, mode }
            }
            other => other,
        }
    }
}

impl ShardRequest {
    /// Whether a cancel or timeout of the statement that sent it may stop
    /// it: reads and writes refused whole, and catalog changes while they
    /// wait for the DDL lock (nothing is changed before it is granted);
    /// never a step of a commit, an abort, or the last step of an index
    /// build or a table rewrite.
    pub fn interruptible(&self) -> bool {
        match self {
            ShardRequest::Scan { .. }
            | ShardRequest::Get { .. }
            | ShardRequest::Insert { .. }
            | ShardRequest::Modify { .. }
            | ShardRequest::LockKeys { .. }
            | ShardRequest::CreateTable { .. }
            | ShardRequest::CreateSequence { .. }
            | ShardRequest::AlterSequence { .. }
            | ShardRequest::AlterTable { .. }
            | ShardRequest::Comment { .. }
            | ShardRequest::CreateView { .. }
            | ShardRequest::Drop { .. }
            | ShardRequest::CreateSchema { .. }
            | ShardRequest::DropSchemas { .. }
            | ShardRequest::RenameSchema { .. }
            | ShardRequest::RenameIndex { .. }
            | ShardRequest::Roles { .. }
            | ShardRequest::Types(_)
            | ShardRequest::CreateIndex { .. } => true,
            ShardRequest::InBlock { request, .. }
            | ShardRequest::Routed { request, .. }
            | ShardRequest::FromCopy { request } => request.interruptible(),
            _ => false,
        }
    }

    /// This request as a read a replica may serve: a `Scan` or `Get`
    /// (perhaps `Routed`) that tracks no reads, without its transaction
    /// (only a READ ONLY block reads from replicas, and it has no writes
    /// of its own to see), wrapped in `FromCopy`. `None` for any other.
    pub fn for_copy(&self) -> Option<ShardRequest> {
        fn plain(request: &ShardRequest) -> Option<ShardRequest> {
            Some(match request {
                ShardRequest::Routed { epoch, request } => ShardRequest::Routed {
                    epoch: *epoch,
                    request: Box::new(plain(request)?),
                },
                ShardRequest::Scan {
                    plan,
                    params,
                    ts,
                    track_reads: false,
                    key,
                    ..
                } => ShardRequest::Scan {
                    plan: plan.clone(),
                    params: params.clone(),
                    ts: *ts,
                    txn: None,
                    track_reads: false,
                    key: key.clone(),
                },
                ShardRequest::Get {
                    table,
                    key,
                    ts,
                    track_reads: false,
                    ..
                } => ShardRequest::Get {
                    table: *table,
                    key: key.clone(),
                    ts: *ts,
                    txn: None,
                    track_reads: false,
                },
                _ => return None,
            })
        }
        Some(ShardRequest::FromCopy {
            request: Box::new(plain(self)?),
        })
    }
}

impl ShardResponse {
    fn written(count: u64, changes: Vec<EntryChange>, returned: Vec<Row>) -> ShardResponse {
        if changes.is_empty() && returned.is_empty() {
            ShardResponse::Count(count)
        } else {
            ShardResponse::Written(count, changes, returned)
        }
    }
}

/// An INSERT's ON CONFLICT as a shard carries it out: the action, the
/// parameters its expressions read, and RETURNING (evaluated where the
/// final rows are known).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Upsert {
    pub action: Arc<OnConflict>,
    pub params: Arc<Params>,
    pub returning: Vec<Expr>,
    pub checks: crate::plan::Checks,
    /// The primary key is an arbiter: a row whose key is taken gets the
    /// action; otherwise it fails with 23505.
    pub primary_key: bool,
    /// Rows the router found conflicting through a unique index: the
    /// existing row's key (under which the proposed row is sent) and the
    /// index (name, columns), whose values the existing row must still
    /// hold when the action runs.
    pub found: HashMap<Vec<u8>, (String, Vec<usize>)>,
}

/// The row an ON CONFLICT found through a unique index is gone, or no
/// longer holds the proposed values: the statement looks again (see
/// `Router::upsert`).
pub(crate) fn conflict_moved(index: &str) -> Error {
    conflict().with_constraint(index)
}

/// Everything one shard owns. Lives on the shard's thread only.
pub struct ShardContext {
    /// The shard's index on its node.
    pub shard: ShardId,
    /// The cluster-wide number of the node's shard 0 (0 outside a
    /// cluster): routers, two-phase decisions and the ledger name shards
    /// by cluster-wide number.
    first_shard: ShardId,
    /// How many shards the node has.
    node_shards: ShardId,
    pub store: RefCell<ShardStore>,
    pub wal: WalWriter,
    /// Woken whenever key locks are released.
    unlocked: Notify,
    /// Uncommitted writes of open transaction blocks.
    intents: RefCell<HashMap<TxId, Intents>>,
    /// Per block, how to undo writes made under savepoints, oldest first.
    undo: RefCell<HashMap<TxId, Vec<Undo>>>,
    /// What open SERIALIZABLE transactions read here.
    reads: RefCell<HashMap<TxId, ReadSet>>,
    /// Reads of SERIALIZABLE transactions validated and committing: writers
    /// wait for them (see the module comment).
    read_locks: RefCell<HashMap<TxId, ReadSet>>,
    waits: Arc<LockWaits>,
    /// Blocks abandoned by a lost connection from their node
    /// (`TxnAbandon`).
    abandoned: RefCell<std::collections::HashSet<TxId>>,
    /// Prepared two-phase writes and the time they were prepared.
    prepared: RefCell<HashMap<TxId, (WriteSet, Timestamp)>>,
    timeline: Arc<Timeline>,
    /// Floors of the statements this shard routes (see `Timeline::horizon`):
    /// a few dozen at most, so a vector beats a map and allocates nothing
    /// once warm.
    active_reads: RefCell<Vec<Timestamp>>,
    statement_seq: Cell<u64>,
    catalog_cell: Arc<CatalogCell>,
    cached_catalog: RefCell<Arc<Catalog>>,
    /// The pending catalog as of `cached_generation` (see `CatalogCell`).
    cached_pending: RefCell<Option<(TxId, Arc<Catalog>)>>,
    cached_generation: Cell<u64>,
    /// Writes that would grow the shard's rows past this many bytes fail
    /// with 53200; reads, deletes and shrinking updates go on.
    memory_limit_bytes: usize,
    /// The node's table statistics, which this shard's counts feed.
    stats: Option<Arc<crate::stats::TableStats>>,
    /// Where the shard's log lies, for a replica that asks for records the
    /// log no longer keeps in memory (`replication.rs`).
    log_files: Option<(
        Arc<dyn tessera_storage::file::FileSystem>,
        std::path::PathBuf,
    )>,
    /// In a cluster: which of the node's shards it is master of.
    replica_sets: Option<Arc<dyn SharedCatalog>>,
    /// On a master: per replica's node, how far its log holds this one's
    /// durably (its last `ShipWal`'s `from`; `replication.rs`).
    replica_ends: RefCell<Vec<(u64, u64)>>,
    /// On a replica: the bucket map epoch this node held when the latest
    /// copy round that reached the master's durable end was asked (none
    /// since start-up: `None`). Reads from this copy routed by a newer map
    /// go to the master (`check_copy_serves`).
    copy_caught_up: Cell<Option<u64>>,
    /// In a cluster, on shard 0: the global tables' indexes (by storage)
    /// whose entries this copy holds (`globals.rs`).
    indexed_globals: RefCell<std::collections::BTreeSet<tessera_types::TableId>>,
    /// When each table was last analyzed here (see `analyze`).
    analyses: RefCell<analyze::Analyses>,
    /// Shard 0 only: the catalog log, and a lock that orders DDL.
    catalog_log: Option<catalog_log::CatalogLog>,
    /// Shard 0 only: the changes of the block holding the DDL lock (see
    /// `ddl.rs`), and its release.
    ddl_block: RefCell<Option<ddl::DdlBlock>>,
    ddl_released: Notify,
    /// Records appended whose effect is not published yet (a commit not
    /// applied, a prepare not registered, a decision not in the ledger):
    /// a checkpoint must replay the log from the oldest of them.
    in_flight: Rc<RefCell<Vec<Ticket>>>,
    /// The node's two-phase evidence a checkpoint must keep.
    ledger: Arc<TwoPhaseLedger>,
    /// `Resolve` records appended and not yet known durable.
    resolves_logged: RefCell<Vec<(Ticket, TxId)>>,
    /// A checkpoint of this shard is being taken; a replica installing
    /// its master's waits for it to end and holds the next one back
    /// (`replication.rs`).
    checkpointing: Cell<bool>,
    installing: Cell<bool>,
    /// The epoch of the master whose records this shard's log ends with
    /// (replicated shards; docs/CLUSTER.md §6).
    log_epoch: Cell<u64>,
    /// Outcomes of transactions decided on another node, to report to
    /// the decider once the log is durable up to the ticket.
    reports: RefCell<Vec<(Ticket, TxId)>>,
    /// The node's dependencies between logs (see `tessera_storage::deps`).
    pub deps: Arc<LogDeps>,
    /// What the `Depends` records in this log already name, in the log
    /// generation given (a discarded batch may have taken them).
    logged_deps: RefCell<(usize, Positions)>,
    /// The end of the last record published early: others (on other
    /// threads, which cannot start a flush here) wait for it to be durable.
    flush_wanted: Cell<u64>,
    flush_needed: Notify,
    /// Every version applied up to this write set is settled: its record
    /// and what that depends on are durable (see `saw_unsettled`).
    settled: Cell<ApplySeq>,
    /// Samples of (the pending entries of this shard's row, the last
    /// write set applied then), oldest first: once a sample's positions
    /// are durable, everything applied up to it is settled.
    settle_marks: RefCell<VecDeque<(Positions, ApplySeq)>>,
    /// CHECKPOINT requests, served by the node's checkpoint task.
    checkpoints: CheckpointRequests,
    /// The buckets this shard is giving away, while they move.
    moving: buckets::MovingCell,
}

/// CHECKPOINT requests of one shard: statements ask, the node's checkpoint
/// task (see `tessera_runtime::node`) takes a checkpoint and says how it
/// went. Requests are numbered; a checkpoint begun after request `n` was
/// made answers every request up to `n`.
pub struct CheckpointRequests {
    /// The node's checkpoint task runs for this shard.
    served: Cell<bool>,
    asked: Cell<u64>,
    requested: Notify,
    /// The last request answered and its checkpoint's error, if it failed.
    done: tokio::sync::watch::Sender<(u64, Option<String>)>,
}

impl Default for CheckpointRequests {
    fn default() -> CheckpointRequests {
        CheckpointRequests {
            served: Cell::new(false),
            asked: Cell::new(0),
            requested: Notify::new(),
            done: tokio::sync::watch::channel((0, None)).0,
        }
    }
}

impl CheckpointRequests {
    /// Called once by the task that takes this shard's checkpoints.
    pub fn serve(&self) {
        self.served.set(true);
    }

    /// Waits for a request; returns the number of the latest one, which
    /// the next checkpoint begun answers.
    pub async fn requested(&self) -> u64 {
        if self.asked.get() == self.answered() {
            self.requested.notified().await;
        }
        self.asked.get()
    }

    /// The checkpoint begun after request `upto` ended: `error` if it failed.
    pub fn finished(&self, upto: u64, error: Option<String>) {
        self.done.send_replace((upto, error));
    }

    fn answered(&self) -> u64 {
        self.done.borrow().0
    }

    /// Asks for a checkpoint and waits for it.
    async fn take(&self) -> Result<()> {
        if !self.served.get() {
            return Err(Error::new(
                sqlstate::OBJECT_NOT_IN_PREREQUISITE_STATE,
                "this node takes no checkpoints (it keeps no data on disk)",
            ));
        }
        let mut done = self.done.subscribe();
        let n = self.asked.get() + 1;
        self.asked.set(n);
        self.requested.notify_one();
        let answer = done
            .wait_for(|(upto, _)| *upto >= n)
            .await
            .map_err(|_| Error::internal("the checkpoint task stopped"))?;
        match &answer.1 {
            None => Ok(()),
            Some(e) => Err(Error::new(
                sqlstate::IO_ERROR,
                format!("checkpoint request failed: {e}"),
            )),
        }
    }
}

/// How many samples `settle_marks` keeps; past that the oldest go (which
/// only makes `settled` advance later).
const SETTLE_MARKS_MAX: usize = 64;

tokio::task_local! {
    /// Set while a shard serves a read for a session that reads from
    /// replicas (`FromCopy`): a master without its lease serves it too,
    /// as a replica would.
    static COPY_READ: ();
    /// What the running statement's results depend on: log positions that
    /// must be durable before they reach the client.
    static STATEMENT_DEPS: RefCell<Positions>;
    /// What the request a shard serves observed: its row when the request
    /// computed its writes or appended its record (`true`), else taken
    /// when it ends.
    static REQUEST_DEPS: RefCell<(Positions, bool)>;
}

pin_project_lite::pin_project! {
    /// A request on its shard (see [`ShardContext::serve`]): counts what
    /// its reads see, poll by poll (see `store::count_seen`; reads of
    /// other requests polled in between are not counted), and when it
    /// ends takes what it observed. A plain future rather than an `async`
    /// block so that the request's own (large) future is stored once and
    /// never copied.
    struct Serving<'a, F> {
        ctx: &'a ShardContext,
        seen: ApplySeq,
        #[pin]
        request: F,
    }
}

impl<F: Future<Output = Result<ShardResponse>>> Future for Serving<'_, F> {
    type Output = (Result<ShardResponse>, Positions);

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        let (poll, seen) = store::count_seen(*this.seen, || this.request.as_mut().poll(cx));
        *this.seen = seen;
        let Poll::Ready(response) = poll else {
            return Poll::Pending;
        };
        // Still inside the request's `REQUEST_DEPS` scope.
        let observed = REQUEST_DEPS.with(|d| {
            let mut d = d.borrow_mut();
            if !d.1 && this.ctx.saw_unsettled(seen) {
                this.ctx.deps.join_row(this.ctx.shard as usize, &mut d.0);
            }
            std::mem::take(&mut d.0)
        });
        Poll::Ready((response, observed))
    }
}

pin_project_lite::pin_project! {
    /// A statement that, when it ends, takes what it depends on (see
    /// [`with_statement_deps`]).
    pub struct StatementDeps<F> {
        #[pin]
        statement: F,
    }
}

impl<F: Future> Future for StatementDeps<F> {
    type Output = (F::Output, Positions);

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let output = std::task::ready!(self.project().statement.poll(cx));
        // Still inside the statement's `STATEMENT_DEPS` scope.
        let deps = STATEMENT_DEPS.with(|d| std::mem::take(&mut *d.borrow_mut()));
        Poll::Ready((output, deps))
    }
}

/// Runs `f` (a statement, on the router's task) with `start` as what it
/// depends on so far; returns its output and what it then depends on.
pub fn with_statement_deps<F: Future>(
    start: Positions,
    f: F,
) -> tokio::task::futures::TaskLocalFuture<RefCell<Positions>, StatementDeps<F>> {
    STATEMENT_DEPS.scope(RefCell::new(start), StatementDeps { statement: f })
}

/// Removes a record from `ShardContext::in_flight` when dropped.
struct InFlight {
    list: Rc<RefCell<Vec<Ticket>>>,
    ticket: Ticket,
}

impl Drop for InFlight {
    fn drop(&mut self) {
        let mut list = self.list.borrow_mut();
        if let Some(i) = list.iter().position(|t| *t == self.ticket) {
            list.swap_remove(i);
        }
    }
}

fn conflict() -> Error {
    Error::new(
        sqlstate::SERIALIZATION_FAILURE,
        "could not serialize access due to concurrent update",
    )
}

fn read_write_conflict(reason: &str) -> Error {
    Error::new(
        sqlstate::SERIALIZATION_FAILURE,
        "could not serialize access due to read/write dependencies among transactions",
    )
    .with_detail(format!("Reason code: {reason}."))
    .with_hint("The transaction might succeed if retried.")
}

fn undefined_table(table: &TableDef) -> Error {
    Error::new(
        sqlstate::UNDEFINED_TABLE,
        format!("relation \"{}\" does not exist", table.name),
    )
}

impl ShardContext {
    pub fn new(
        shard: ShardId,
        store: ShardStore,
        wal: WalWriter,
        catalog_cell: Arc<CatalogCell>,
        catalog_log: Option<WalWriter>,
        timeline: Arc<Timeline>,
    ) -> ShardContext {
        let cached = Arc::new((*catalog_cell.load()).clone());
        // The store was recovered against the catalog at start-up, but other
        // shards may already serve clients, and DDL may have changed the
        // catalog since. Bring the store to the catalog this shard starts
        // with, or a table created meanwhile would have no storage here.
        let view = wal.view();
        let mut store = store;
        store.drop_missing_tables(&cached);
        for t in cached.storage_tables() {
            store.ensure_table(t.id);
        }
        ShardContext {
            shard,
            first_shard: 0,
            node_shards: ShardId::MAX,
            store: RefCell::new(store),
            wal,
            unlocked: Notify::new(),
            prepared: RefCell::new(HashMap::new()),
            abandoned: RefCell::default(),
            intents: RefCell::new(HashMap::new()),
            undo: RefCell::new(HashMap::new()),
            reads: RefCell::new(HashMap::new()),
            read_locks: RefCell::new(HashMap::new()),
            waits: Arc::new(LockWaits::default()),
            timeline,
            active_reads: RefCell::new(Vec::new()),
            statement_seq: Cell::new(0),
            catalog_cell,
            cached_catalog: RefCell::new(cached),
            cached_pending: RefCell::new(None),
            // Looked at again on first use.
            cached_generation: Cell::new(u64::MAX),
            catalog_log: catalog_log.map(catalog_log::CatalogLog::new),
            ddl_block: RefCell::new(None),
            ddl_released: Notify::new(),
            memory_limit_bytes: usize::MAX,
            stats: None,
            log_files: None,
            replica_sets: None,
            replica_ends: RefCell::new(Vec::new()),
            copy_caught_up: Cell::new(None),
            indexed_globals: RefCell::default(),
            analyses: RefCell::new(HashMap::new()),
            in_flight: Rc::new(RefCell::new(Vec::new())),
            ledger: Arc::new(TwoPhaseLedger::default()),
            resolves_logged: RefCell::new(Vec::new()),
            checkpointing: Cell::new(false),
            installing: Cell::new(false),
            log_epoch: Cell::new(1),
            reports: RefCell::new(Vec::new()),
            deps: {
                let deps = LogDeps::new(shard as usize + 1);
                deps.register(shard as usize, view);
                Arc::new(deps)
            },
            logged_deps: RefCell::new((0, Vec::new())),
            flush_wanted: Cell::new(0),
            flush_needed: Notify::new(),
            settled: Cell::new(0),
            settle_marks: RefCell::new(VecDeque::new()),
            checkpoints: CheckpointRequests::default(),
            moving: RefCell::new(None),
        }
    }

    /// Keeps the log flushing while records published early are not yet
    /// durable: someone on another thread waits for them. Runs for as
    /// long as the shard does.
    pub async fn run_flusher(&self) {
        let mut progress = self.wal.view();
        loop {
            let durable = match progress.durable() {
                Ok(durable) => durable,
                Err(_) => return,
            };
            if durable < self.flush_wanted.get() {
                // Let the tasks ready on the shard append theirs first.
                tokio::task::yield_now().await;
                self.wal.start_flush();
                if progress.changed().await.is_err() {
                    return;
                }
            } else {
                self.flush_needed.notified().await;
            }
        }
    }

    /// The node's shards are `first..first + count` in its cluster (`0..`
    /// outside one).
    pub fn with_node_shards(mut self, first: ShardId, count: ShardId) -> ShardContext {
        self.first_shard = first;
        self.node_shards = count;
        self
    }

    /// The shard's cluster-wide number.
    pub fn number(&self) -> ShardId {
        self.first_shard + self.shard
    }

    /// Shares the node's dependencies between logs; registers this
    /// shard's log with them.
    pub fn with_deps(mut self, deps: Arc<LogDeps>) -> ShardContext {
        deps.register(self.shard as usize, self.wal.view());
        self.deps = deps;
        self
    }

    /// Before a router sends a request to `shard`: what the running
    /// statement depends on and is not yet durable becomes a dependency
    /// of that shard's state too, so that its records name it.
    pub fn before_request(&self, shard: ShardId) {
        let _ = STATEMENT_DEPS.try_with(|d| {
            self.deps.raise_pending(shard as usize, &d.borrow());
        });
    }

    /// What the running statement depends on so far (empty outside one).
    pub fn statement_deps(&self) -> Positions {
        STATEMENT_DEPS
            .try_with(|d| d.borrow().clone())
            .unwrap_or_default()
    }

    /// After a router got a reply: what the request observed becomes a
    /// dependency of the running statement.
    pub fn after_reply(&self, observed: &[u64]) {
        let _ = STATEMENT_DEPS.try_with(|d| join(&mut d.borrow_mut(), observed));
    }

    /// Serves a request from a router and returns, with the response, the
    /// log positions what it observed depends on.
    pub fn serve(
        &self,
        request: ShardRequest,
    ) -> impl Future<Output = (Result<ShardResponse>, Positions)> + '_ {
        REQUEST_DEPS.scope(
            RefCell::new((Vec::new(), false)),
            Serving {
                ctx: self,
                seen: 0,
                request: self.handle(request),
            },
        )
    }

    /// Whether a read that saw versions applied up to write set `seen` may
    /// have seen one that is not yet settled (its record, or what that
    /// depends on in other logs, not yet durable). Errs on the side of yes.
    fn saw_unsettled(&self, seen: ApplySeq) -> bool {
        if seen <= self.settled.get() {
            return false;
        }
        self.advance_settled();
        seen > self.settled.get()
    }

    /// Moves `settled` up as far as what is now durable allows; returns
    /// what the versions applied so far still wait for (empty: nothing).
    fn advance_settled(&self) -> Positions {
        let row = self.pending_row();
        let mut marks = self.settle_marks.borrow_mut();
        if row.is_empty() {
            // Everything applied so far is settled.
            marks.clear();
            self.settled.set(self.store.borrow().applied());
            return row;
        }
        while let Some((mark, applied)) = marks.front() {
            let durable = mark
                .iter()
                .enumerate()
                .all(|(log, p)| self.deps.is_durable(log, *p));
            if !durable {
                break;
            }
            self.settled.set(self.settled.get().max(*applied));
            marks.pop_front();
        }
        row
    }

    /// Samples what the versions applied so far wait for (see
    /// `settle_marks`): called before a record is published early, so the
    /// sample covers everything published before it.
    fn mark_unsettled(&self) {
        let row = self.advance_settled();
        if row.is_empty() {
            return;
        }
        let applied = self.store.borrow().applied();
        let mut marks = self.settle_marks.borrow_mut();
        if marks.len() >= SETTLE_MARKS_MAX {
            marks.pop_front();
        }
        marks.push_back((row, applied));
    }

    /// The request being served observed this shard's state as it is now.
    fn observe(&self) {
        let _ = REQUEST_DEPS.try_with(|d| {
            let mut d = d.borrow_mut();
            self.deps.join_row(self.shard as usize, &mut d.0);
            d.1 = true;
        });
    }

    /// Appends a record to the log, lazily (see `WalWriter::append_lazy`),
    /// after a `Depends` record if this shard's state depends on records
    /// of other logs that are not yet durable and not yet named.
    fn append_record(&self, payload: &[u8]) -> Result<Ticket> {
        // A replica's log is its master's, byte for byte: nothing of its
        // own goes in (`replication.rs` appends what the master ships).
        if self.is_replica() {
            return Err(replication::not_master(self.number()));
        }
        if !self.holds_lease() {
            return Err(replication::no_lease(self.number()));
        }
        let me = self.shard as usize;
        let row = self.pending_row();
        let generation = self.wal.generation();
        let mut logged = self.logged_deps.borrow_mut();
        if logged.0 != generation {
            *logged = (generation, Vec::new());
        }
        let on: Vec<(u16, u64)> = row
            .iter()
            .enumerate()
            .filter(|(log, p)| {
                *log != me
                    && **p > logged.1.get(*log).copied().unwrap_or(0)
                    && !self.deps.is_durable(*log, **p)
            })
            .map(|(log, p)| (log as u16, *p))
            .collect();
        if !on.is_empty() {
            self.wal.append_lazy(&Record::Depends(on).encode())?;
            join(&mut logged.1, &row);
        }
        drop(logged);
        self.wal.append_lazy(payload)
    }

    /// Appends a record (see `append_record`) and publishes it early if it
    /// can be (see `publish_early`); the request being served then
    /// depends on it and on what it depends on.
    fn append_published(&self, payload: &[u8]) -> Result<(Ticket, bool)> {
        let ticket = self.append_record(payload)?;
        let early = self.publish_early(ticket);
        self.observe();
        Ok((ticket, early))
    }

    /// Publishes a record appended with `ticket` as this shard's state
    /// before it is durable, if it can be (see `WalWriter::is_certain`).
    fn publish_early(&self, ticket: Ticket) -> bool {
        if !self.wal.is_certain(ticket) {
            return false;
        }
        let me = self.shard as usize;
        self.mark_unsettled();
        self.deps.raise_entry(me, me, ticket.end());
        self.flush_wanted
            .set(self.flush_wanted.get().max(ticket.end()));
        self.flush_needed.notify_one();
        true
    }

    /// Waits until the record of `ticket` and everything this shard's
    /// state depends on in other logs are durable: then a commit may be
    /// acknowledged.
    async fn wait_settled(&self, ticket: Ticket) -> Result<()> {
        self.wal.wait_durable(ticket).await?;
        self.wait_foreign_deps().await
    }

    /// Waits until what this shard's state depends on in other logs is
    /// durable (its own log is the caller's to wait for).
    pub async fn wait_foreign_deps(&self) -> Result<()> {
        let mut row = self.pending_row();
        if let Some(own) = row.get_mut(self.shard as usize) {
            *own = 0;
        }
        self.deps.wait(&row).await
    }

    /// Waits until everything this shard's state depends on (its own log
    /// included) is durable: then what was read here may be shown.
    async fn wait_published(&self) -> Result<()> {
        self.deps.wait(&self.pending_row()).await
    }

    /// Waits until what a read that saw commits up to `seen` may depend on
    /// is durable: at once when all it saw is settled.
    async fn wait_seen_published(&self, seen: ApplySeq) -> Result<()> {
        if self.saw_unsettled(seen) {
            self.wait_published().await?;
        }
        Ok(())
    }

    /// The entries of this shard's row of dependencies that are not yet
    /// durable (empty, unallocated, while nothing is in flight).
    fn pending_row(&self) -> Positions {
        let mut row = Positions::new();
        self.deps.join_row(self.shard as usize, &mut row);
        row
    }

    /// Waits until a record that could not be published early is durable,
    /// counting it meanwhile among the records whose effect is not yet
    /// published. The caller publishes the effect before its next await,
    /// so a checkpoint that begins in between replays the record (see
    /// `begin_checkpoint`).
    async fn wait_unpublished(&self, ticket: Ticket) -> Result<()> {
        self.in_flight.borrow_mut().push(ticket);
        let _in_flight = InFlight {
            list: self.in_flight.clone(),
            ticket,
        };
        // Let the other tasks ready on this shard append theirs first, so
        // that one fsync covers them all (group commit within the shard).
        tokio::task::yield_now().await;
        self.wal.wait_durable(ticket).await
    }

    /// Shares the node's two-phase ledger (what checkpoints keep).
    pub fn with_ledger(mut self, ledger: Arc<TwoPhaseLedger>) -> ShardContext {
        self.ledger = ledger;
        self
    }

    /// Shares the node's lock-wait graph (deadlocks across shards).
    pub fn with_lock_waits(mut self, waits: Arc<LockWaits>) -> ShardContext {
        self.waits = waits;
        self
    }

    /// Shard 0 of a node in a cluster: catalog changes go through the
    /// cluster's log, of which the recovered catalog holds `applied`
    /// records (see `catalog_log.rs`).
    pub fn with_shared_catalog(
        mut self,
        log: Arc<dyn SharedCatalog>,
        applied: u64,
    ) -> ShardContext {
        self.catalog_log = self.catalog_log.map(|l| l.shared(log, applied));
        self
    }

    /// Sets the shard's memory limit (see `memory_limit_bytes`).
    pub fn with_memory_limit(mut self, bytes: usize) -> ShardContext {
        self.memory_limit_bytes = bytes;
        self
    }

    /// Fails with 53200 when applying `writes` would grow the shard's rows
    /// past its limit. Freeing writes always pass.
    fn check_memory(&self, writes: &WriteSet) -> Result<()> {
        let store = self.store.borrow();
        let growth = store.growth(writes);
        if growth > 0 {
            tessera_types::memory::check()?;
        }
        if growth > 0 && store.bytes().saturating_add(growth as usize) > self.memory_limit_bytes {
            return Err(Error::new(
                sqlstate::OUT_OF_MEMORY,
                format!(
                    "out of memory: shard {} holds {} MiB of rows and its limit is {} MiB",
                    self.shard,
                    store.bytes() >> 20,
                    self.memory_limit_bytes >> 20
                ),
            )
            .with_hint("Delete rows or raise --shard-memory-limit."));
        }
        Ok(())
    }

    /// Rows shaped by a plan made before a column was added (they would
    /// be short) or retyped (their values of the old type): the statement
    /// is refused, retryably, never half applied.
    fn refuse_stale_shape(&self, table: &TableDef, txn: Option<TxId>) -> Result<()> {
        let stale = self
            .catalog_as(txn)
            .table_by_id(table.id)
            .is_some_and(|now| {
                now.columns.len() != table.columns.len()
                    || now
                        .columns
                        .iter()
                        .zip(&table.columns)
                        .any(|(a, b)| a.data_type != b.data_type)
            });
        match stale {
            true => Err(Error::new(
                sqlstate::SERIALIZATION_FAILURE,
                format!(
                    "table \"{}\" was altered while the statement ran",
                    table.name
                ),
            )),
            false => Ok(()),
        }
    }

    /// The committed catalog; frees the rows of dropped tables on change.
    pub fn catalog(&self) -> Arc<Catalog> {
        self.refresh_catalog();
        self.cached_catalog.borrow().clone()
    }

    /// The catalog transaction `txn` sees (see [`CatalogCell::load_as`]).
    pub fn catalog_as(&self, txn: Option<TxId>) -> Arc<Catalog> {
        self.refresh_catalog();
        if let (Some(txn), Some((owner, pending))) = (txn, &*self.cached_pending.borrow()) {
            if txn == *owner {
                return pending.clone();
            }
        }
        self.cached_catalog.borrow().clone()
    }

    /// Whether `request` works for a block abandoned here (`TxnAbandon`).
    fn is_abandoned_work(&self, request: &ShardRequest) -> bool {
        let abandoned = self.abandoned.borrow();
        !abandoned.is_empty() && request.work_of().is_some_and(|tx| abandoned.contains(&tx))
    }

    /// Whether transaction block `txn` has changed the catalog (it then
    /// sees a pending catalog only this node has).
    pub fn changed_catalog(&self, txn: TxId) -> bool {
        self.refresh_catalog();
        matches!(&*self.cached_pending.borrow(), Some((owner, _)) if *owner == txn)
    }

    /// Brings the store to the catalogs published since the last look:
    /// tables of the committed or the pending catalog have storage, others
    /// are freed; columns added or retyped change the stored rows.
    fn refresh_catalog(&self) {
        let generation = self.catalog_cell.generation();
        if self.cached_generation.get() == generation {
            return;
        }
        let fresh = self.catalog_cell.load();
        let pending = self.catalog_cell.pending();
        let mut store = self.store.borrow_mut();
        store.retain_tables(|id| {
            fresh.table_by_id(id).is_some()
                || pending
                    .as_ref()
                    .is_some_and(|(_, p)| p.table_by_id(id).is_some())
        });
        if let Some((_, p)) = &pending {
            for t in p.storage_tables() {
                store.ensure_table(t.id);
            }
        }
        // Columns added or retyped since: rows stored before take their
        // shape (once per change; a no-op for other tables).
        store.fit_to_catalog(&fresh);
        // Private copies, so shards do not bounce one reference count
        // between cores on every statement.
        if self.cached_catalog.borrow().version != fresh.version {
            *self.cached_catalog.borrow_mut() = Arc::new((*fresh).clone());
        }
        *self.cached_pending.borrow_mut() =
            pending.map(|(owner, p)| (owner, Arc::new((*p).clone())));
        self.cached_generation.set(generation);
    }

    pub async fn handle(&self, request: ShardRequest) -> Result<ShardResponse> {
        // State published ahead of the disk can no longer be made durable
        // once the log has failed: the shard serves nothing more.
        self.wal.failure().map_or(Ok(()), Err)?;
        if self.is_abandoned_work(&request) {
            return Err(Error::new(
                sqlstate::CONNECTION_FAILURE,
                "the transaction was rolled back here: the connection from its node was lost",
            ));
        }
        if matches!(
            request,
            ShardRequest::Scan { .. } | ShardRequest::Get { .. }
        ) && !self.holds_lease()
            && COPY_READ.try_with(|_| ()).is_err()
        {
            // Cut off, it may be replaced: a read from the master must
            // not miss what a new one took (docs/CLUSTER.md §6).
            return Err(replication::no_lease(self.number()));
        }
        match request {
            ShardRequest::Scan {
                plan,
                params,
                ts,
                txn,
                track_reads,
                key,
            } => {
                let Plan::Select(select) = &*plan else {
                    return Err(Error::internal("scan of a non-SELECT plan"));
                };
                let reader = txn.filter(|_| track_reads);
                self.scan(&select.fragment, &params, ts, txn, reader, key)
                    .await
                    .map(ShardResponse::Rows)
            }
            ShardRequest::Get {
                table,
                key,
                ts,
                txn,
                track_reads,
            } => {
                self.catalog();
                self.wait_for_prepared(table, ts).await;
                self.note_read(txn.filter(|_| track_reads), table, Some(&key));
                let row = match self.intent(txn, table, &key) {
                    Some(own) => own,
                    None => self.store.borrow().get(table, &key, ts).cloned(),
                };
                Ok(ShardResponse::Rows(row.into_iter().collect()))
            }
            ShardRequest::Insert {
                table,
                rows,
                mode,
                upsert,
            } => {
                let changes = RefCell::new(Vec::new());
                let returned = RefCell::new(Vec::new());
                let count = self
                    .write(mode, || {
                        let (writes, count, rows) =
                            self.insert_writes(&table, &rows, mode, &changes, upsert.as_deref())?;
                        returned.replace(rows);
                        Ok((writes, count))
                    })
                    .await?;
                Ok(ShardResponse::written(
                    count,
                    changes.into_inner(),
                    returned.into_inner(),
                ))
            }
            ShardRequest::Modify {
                plan,
                params,
                mode,
                key,
            } => {
                // A key found through a global index is the only candidate
                // (and, SERIALIZABLE, a read).
                if let (
                    Some(k),
                    Plan::Update(UpdatePlan { table, .. }) | Plan::Delete(DeletePlan { table, .. }),
                ) = (&key, &*plan)
                {
                    self.note_read(mode.reader(), table.id, Some(k));
                }
                if let Plan::Update(UpdatePlan { table, .. }) = &*plan {
                    self.refuse_stale_shape(table, mode.txn())?;
                }
                let mut candidates = key.map(|k| vec![k]);
                let changes = RefCell::new(Vec::new());
                let returned = RefCell::new(Vec::new());
                let count = self
                    .write(mode, || {
                        let (writes, count, rows) =
                            self.modify_writes(&plan, &params, mode, &mut candidates, &changes)?;
                        returned.replace(rows);
                        Ok((writes, count))
                    })
                    .await?;
                Ok(ShardResponse::written(
                    count,
                    changes.into_inner(),
                    returned.into_inner(),
                ))
            }
            ShardRequest::IndexBackfill {
                index,
                after,
                limit,
                mode,
            } => self.index_backfill(&index, after, limit, mode).await,
            ShardRequest::LockTable { holder, table } => self.lock_table(holder, table).await,
            ShardRequest::UnlockTable { holder, table } => {
                self.unlock_table(holder, table);
                Ok(ShardResponse::Done(vec![]))
            }
            ShardRequest::Analyze => {
                self.analyze().await;
                Ok(ShardResponse::Done(vec![]))
            }
            ShardRequest::Checkpoint => {
                self.checkpoints.take().await?;
                Ok(ShardResponse::Done(vec![]))
            }
            ShardRequest::Vacuum => {
                // In batches, yielding between them, until a batch frees
                // nothing more (what is left is still visible to someone).
                let mut left = usize::MAX;
                loop {
                    let now = self.collect_garbage(SCAN_ROWS_PER_YIELD);
                    if now == 0 || now >= left {
                        break;
                    }
                    left = now;
                    tokio::task::yield_now().await;
                }
                Ok(ShardResponse::Done(vec![]))
            }
            ShardRequest::IndexEntries {
                index,
                deletes,
                puts,
                mode,
            } => self
                .write(mode, || self.entry_writes(&index, &deletes, &puts, mode))
                .await
                .map(ShardResponse::Count),
            ShardRequest::TxnCommit { id, validate } => self.txn_commit(id, validate).await,
            ShardRequest::TxnPrepare { id, validate } => self.txn_prepare(id, validate).await,
            ShardRequest::CommitGlobals { id, since } => self.commit_globals(id, since).await,
            ShardRequest::TxnValidate { id, snapshot } => {
                self.validate_reads(id, snapshot)?;
                Ok(ShardResponse::Done(vec![]))
            }
            ShardRequest::TxnAbort { id } => {
                self.txn_abort(id);
                Ok(ShardResponse::Done(vec![]))
            }
            ShardRequest::TxnAbandon { id } => {
                self.abandoned.borrow_mut().insert(id);
                self.txn_abort(id);
                Ok(ShardResponse::Done(vec![]))
            }
            ShardRequest::TxnRollbackTo { id, savepoint } => {
                self.txn_rollback_to(id, savepoint);
                Ok(ShardResponse::Done(vec![]))
            }
            ShardRequest::Resolve { tx, commit, ts } => {
                self.resolve(tx, commit, ts);
                Ok(ShardResponse::Done(vec![]))
            }
            ShardRequest::Outcome { tx } => self.outcome(tx).await,
            ShardRequest::Reported { shard, txs } => Ok(self.reported(shard, txs)),
            ShardRequest::LockWaits => Ok(self.lock_waits()),
            ShardRequest::ShipWal {
                from,
                max_bytes,
                epoch,
                node,
            } => self.ship_wal(from, max_bytes, epoch, node).await,
            ShardRequest::ShipCheckpoint {
                seq,
                offset,
                max_bytes,
            } => self.ship_checkpoint(seq, offset, max_bytes),
            ShardRequest::Decide {
                tx,
                commit,
                ts,
                participants,
            } => self.decide(tx, commit, ts, participants).await,
            ShardRequest::InBlock {
                txn,
                savepoint,
                request,
            } => self.handle_ddl(*request, Some((txn, savepoint))).await,
            ShardRequest::Routed { epoch, request } => self.handle_routed(epoch, *request).await,
            ShardRequest::FromCopy { mut request } => {
                self.check_copy_serves(&request)?;
                // The copy's own newest snapshot, not the router's: see
                // `copy_read`.
                let read = self.copy_read();
                let routed = request.routed_epoch();
                request.read_at(read.ts);
                let response = COPY_READ.scope((), Box::pin(self.handle(*request))).await?;
                self.check_copy_routed(routed)?;
                Ok(response)
            }
            ShardRequest::BucketsOut { tx, buckets } => self.buckets_out(tx, buckets).await,
            ShardRequest::BucketsIn { tx, entries } => self.buckets_in(tx, entries).await,
            ShardRequest::BucketsSettle { tx, commit, ts } => {
                self.buckets_settle(tx, commit, ts).await
            }
            ShardRequest::AbortInCatalog { tx } => self.abort_in_catalog(tx).await,
            ShardRequest::DdlEnd { tx, commit } => {
                self.end_ddl_block(tx, commit).await?;
                Ok(ShardResponse::Done(vec![]))
            }
            ShardRequest::DdlRollbackTo { tx, savepoint } => {
                self.rollback_ddl_to(tx, savepoint).await?;
                Ok(ShardResponse::Done(vec![]))
            }
            ShardRequest::LockKeys { table, keys, mode } => self.lock_keys(table, keys, mode).await,
            ShardRequest::BuildIndex { storage, block } => self.build_index(storage, block).await,
            ShardRequest::ClaimGlobalIndex { storage } => self.claim_global_index(storage).await,
            ShardRequest::Reshape {
                table,
                block: (tx, savepoint),
            } => self.reshape_in_block(table, tx, savepoint).await,
            request @ (ShardRequest::CreateTable { .. }
            | ShardRequest::CreateSequence { .. }
            | ShardRequest::LogSequences(_)
            | ShardRequest::AlterSequence { .. }
            | ShardRequest::AlterTable { .. }
            | ShardRequest::Comment { .. }
            | ShardRequest::CreateView { .. }
            | ShardRequest::Drop { .. }
            | ShardRequest::CreateSchema { .. }
            | ShardRequest::DropSchemas { .. }
            | ShardRequest::RenameSchema { .. }
            | ShardRequest::RenameIndex { .. }
            | ShardRequest::Roles { .. }
            | ShardRequest::Types(_)
            | ShardRequest::CreateIndex { .. }
            | ShardRequest::IndexValid { .. }
            | ShardRequest::ReplaceTable { .. }) => self.handle_ddl(request, None).await,
        }
    }

    /// A catalog change, on shard 0, for `block` or for no block (see
    /// `ddl.rs`).
    async fn handle_ddl(&self, request: ShardRequest, block: Block) -> Result<ShardResponse> {
        match request {
            ShardRequest::CreateTable {
                table,
                sequences,
                if_not_exists,
            } => {
                self.create_table(table, sequences, if_not_exists, block)
                    .await
            }
            ShardRequest::CreateSequence {
                sequence,
                if_not_exists,
            } => self.create_sequence(sequence, if_not_exists, block).await,
            ShardRequest::LogSequences(records) => self.log_sequences(records).await,
            ShardRequest::AlterSequence { sequence } => {
                let ddl = self.ddl(block).await?;
                let catalog = ddl.catalog.clone();
                if catalog.sequence_by_id(sequence.id).is_none() {
                    return Err(Error::new(
                        sqlstate::UNDEFINED_TABLE,
                        format!(
                            "sequence \"{}\" was dropped while it was being altered",
                            sequence.name
                        ),
                    ));
                }
                let record = CatalogRecord::CreateSequence(sequence.clone());
                ddl.apply_one(record, catalog.with_sequence_altered(sequence))
                    .await?;
                Ok(ShardResponse::Done(vec![]))
            }
            ShardRequest::AlterTable {
                table,
                dropped,
                path,
            } => self.alter_table(table, &dropped, &path, block).await,
            ShardRequest::Comment {
                object,
                column,
                text,
            } => {
                let ddl = self.ddl(block).await?;
                let catalog = ddl.catalog.clone();
                if catalog.table_by_id(object).is_none() && !catalog.views().any(|v| v.id == object)
                {
                    return Err(Error::new(
                        sqlstate::UNDEFINED_TABLE,
                        "the relation was dropped while its comment was being set",
                    ));
                }
                let record = CatalogRecord::Comment {
                    object,
                    column,
                    text: text.clone(),
                };
                ddl.apply_one(record, catalog.with_comment(object, column, text))
                    .await?;
                Ok(ShardResponse::Done(vec![]))
            }
            ShardRequest::CreateView { view, or_replace } => {
                self.create_view(view, or_replace, block).await
            }
            ShardRequest::Drop {
                kind,
                names,
                if_exists,
                cascade,
                path,
            } => {
                self.drop_relations(kind, names, if_exists, cascade, &path, block)
                    .await
            }
            ShardRequest::CreateSchema {
                schema,
                if_not_exists,
            } => self.create_schema(schema, if_not_exists, block).await,
            ShardRequest::DropSchemas {
                names,
                cascade,
                path,
            } => self.drop_schemas(names, cascade, &path, block).await,
            ShardRequest::RenameSchema { schema, name } => {
                self.rename_schema(schema, name, block).await
            }
            ShardRequest::RenameIndex { storage, name } => {
                self.rename_index(storage, name, block).await
            }
            ShardRequest::Roles { statement, actor } => {
                self.change_roles(statement, actor, block).await
            }
            ShardRequest::Types(statement) => self.change_types(statement, block).await,
            ShardRequest::CreateIndex {
                index,
                if_not_exists,
            } => self.create_index(index, if_not_exists, block).await,
            ShardRequest::IndexValid {
                storage,
                valid_from,
            } => self.index_valid(storage, valid_from, block).await,
            ShardRequest::ReplaceTable { old, new } => self.replace_table(old, new, block).await,
            _ => Err(Error::internal("not a catalog change")),
        }
    }

    /// See `ShardRequest::LockKeys`.
    async fn lock_keys(
        &self,
        table: tessera_types::TableId,
        keys: Vec<ParentKey>,
        mode: WriteMode,
    ) -> Result<ShardResponse> {
        let txn = mode.txn();
        self.write(mode, || {
            let store = self.store.borrow();
            let mut ops = Vec::with_capacity(keys.len());
            for parent in &keys {
                let key = &parent.key;
                let row = match self.intent(txn, table, key) {
                    Some(own) => own,
                    None => store.get(table, key, LATEST).cloned(),
                };
                let row = row.filter(|row| {
                    parent
                        .holds
                        .as_ref()
                        .is_none_or(|(columns, values)| encode_key(row, columns) == *values)
                });
                let Some(row) = row else {
                    return Err(parent.missing.clone());
                };
                ops.push(WriteOp::Put {
                    table,
                    key: key.clone(),
                    row,
                });
            }
            Ok((WriteSet { ops }, 0))
        })
        .await?;
        Ok(ShardResponse::written(0, vec![], vec![]))
    }

    // ---- reads -------------------------------------------------------------

    /// Waits while a transaction prepared before snapshot `ts` holds
    /// writes to `table`: its commit timestamp may fall at or below `ts`, so
    /// the snapshot must see its outcome (read-wait). Transactions prepared
    /// later commit later than `ts` and are invisible to it anyway.
    async fn wait_for_prepared(&self, table: tessera_types::TableId, ts: Timestamp) {
        loop {
            let blocked = self.prepared.borrow().values().any(|(ws, prepared_at)| {
                *prepared_at < ts && ws.ops.iter().any(|op| op.table() == table)
            });
            if !blocked {
                return;
            }
            self.unlocked.notified().await;
        }
    }

    /// This shard's intent for `key` in transaction `txn`: `None` if it has
    /// none, `Some(None)` if it deleted the row.
    fn intent(
        &self,
        txn: Option<TxId>,
        table: tessera_types::TableId,
        key: &[u8],
    ) -> Option<Option<Vec<Value>>> {
        let txn = txn?;
        let intents = self.intents.borrow();
        intents.get(&txn)?.get(&(table, key.to_vec())).cloned()
    }

    /// The rows transaction `txn` wrote to `table` here (not deleted ones).
    fn intent_rows(
        &self,
        txn: Option<TxId>,
        table: tessera_types::TableId,
    ) -> Vec<(Vec<u8>, Vec<Value>)> {
        let Some(txn) = txn else { return vec![] };
        let intents = self.intents.borrow();
        let Some(mine) = intents.get(&txn) else {
            return vec![];
        };
        mine.range((table, Vec::new())..)
            .take_while(|((t, _), _)| *t == table)
            .filter_map(|((_, k), row)| row.as_ref().map(|r| (k.clone(), r.clone())))
            .collect()
    }

    /// Whether transaction `txn` wrote any row of `table` here.
    fn has_intents_in(&self, txn: Option<TxId>, table: tessera_types::TableId) -> bool {
        let Some(txn) = txn else { return false };
        self.intents.borrow().get(&txn).is_some_and(|mine| {
            mine.range((table, Vec::new())..)
                .next()
                .is_some_and(|((t, _), _)| *t == table)
        })
    }

    fn has_intent(&self, txn: Option<TxId>, table: tessera_types::TableId, key: &[u8]) -> bool {
        let Some(txn) = txn else { return false };
        self.intents
            .borrow()
            .get(&txn)
            .is_some_and(|m| m.contains_key(&(table, key.to_vec())))
    }

    /// Remembers that SERIALIZABLE transaction `reader` read `key` of
    /// `table` (with `None`, scanned the table).
    fn note_read(&self, reader: Option<TxId>, table: tessera_types::TableId, key: Option<&[u8]>) {
        let Some(reader) = reader else { return };
        let mut reads = self.reads.borrow_mut();
        let set = reads.entry(reader).or_default();
        match key {
            Some(key) if !set.tables.contains(&table) => {
                set.keys.insert((table, key.to_vec()));
            }
            Some(_) => {}
            None => {
                set.tables.insert(table);
            }
        }
    }

    async fn scan(
        &self,
        fragment: &ScanFragment,
        params: &Params,
        ts: Timestamp,
        txn: Option<TxId>,
        reader: Option<TxId>,
        key: Option<Vec<u8>>,
    ) -> Result<Rows> {
        let mut sink = Sink::new(fragment);
        if let Some(series) = &fragment.series {
            // Rows are gathered whole (results are not streamed yet), so a
            // series that would be kept row by row is bounded.
            let keeps_rows = matches!(fragment.output, FragmentOutput::Project(_));
            series_rows(series, params, |row| {
                sink.push(row, params)?;
                if keeps_rows && sink.rows.len() > SERIES_ROWS_MAX {
                    return Err(Error::new(
                        sqlstate::PROGRAM_LIMIT_EXCEEDED,
                        format!(
                            "generate_series would return more than {SERIES_ROWS_MAX} rows to one query"
                        ),
                    )
                    .with_hint("Aggregate over it, or split the range."));
                }
                Ok(())
            })
            .await?;
            return sink.finish(params);
        }
        let Some(table) = &fragment.table else {
            sink.push(&[], params)?;
            return sink.finish(params);
        };
        self.catalog();
        self.wait_for_prepared(table.id, ts).await;
        let point = match (key, &fragment.primary_key) {
            (Some(key), _) => Some(Some(key)),
            (None, Some(exprs)) => Some(eval_key(table, &table.primary_key, exprs, params)?),
            (None, None) => None,
        };
        if let Some(point) = point {
            if let Some(key) = point {
                self.note_read(reader, table.id, Some(&key));
                if let Some(own) = self.intent(txn, table.id, &key) {
                    if let Some(row) = own {
                        sink.push(&row, params)?;
                    }
                    return sink.finish(params);
                }
                let store = self.store.borrow();
                if store.table(table.id).is_none() {
                    return Err(undefined_table(table));
                }
                if let Some(row) = store.get(table.id, &key, ts) {
                    sink.push(row, params)?;
                }
            }
            return sink.finish(params);
        }
        self.note_read(reader, table.id, None);
        let key_filter = fragment.lookup.as_ref().and_then(KeyFilter::new);
        let keeps = |row: &[Value]| key_filter.as_ref().is_none_or(|f| f.keeps(row));
        if let Some(lookup) = fragment.lookup.as_ref().filter(|l| l.filter.is_none()) {
            if !self.has_intents_in(txn, table.id) && self.lookup_usable(lookup, table, ts) {
                self.lookup_scan(lookup, table, params, ts, &mut sink)
                    .await?;
                return sink.finish(params);
            }
        }
        if let Some(ix) = &fragment.index {
            // The primary key always; an index once built for this
            // snapshot, when its entries live with the rows.
            let usable = ix.index.as_ref().is_none_or(|i| {
                !i.is_global(table)
                    && i.valid_from != 0
                    && i.valid_from <= ts
                    && self.store.borrow().table(i.storage.id).is_some()
            });
            if usable {
                let own = txn.filter(|_| self.has_intents_in(txn, table.id));
                self.index_scan(ix, table, params, (ts, own), &mut sink)
                    .await?;
                return sink.finish(params);
            }
        }
        let filtered = fragment
            .lookup
            .iter()
            .flat_map(|l| l.filter.iter().flatten());
        let prefetch = RowPrefetch::new(filtered.copied().chain(fragment_columns(fragment)));
        let mut after: Option<Vec<u8>> = None;
        loop {
            let done = {
                let store = self.store.borrow();
                let t = store
                    .table(table.id)
                    .ok_or_else(|| undefined_table(table))?;
                let mut n = 0;
                let mut last = None;
                let mut batch: Vec<&[Value]> = Vec::with_capacity(SCAN_ROWS_PER_YIELD);
                let own_writes = self.has_intents_in(txn, table.id);
                for (key, row) in t.iter_at(after.as_deref(), ts) {
                    if !own_writes || !self.has_intent(txn, table.id, key) {
                        prefetch.gather(&mut batch, row);
                    }
                    n += 1;
                    if n == SCAN_ROWS_PER_YIELD {
                        last = Some(key.to_vec());
                        break;
                    }
                }
                prefetch.gathered(&batch);
                if key_filter.is_some() {
                    batch.retain(|row| keeps(row));
                }
                sink.push_batch(&batch, params)?;
                after = last;
                after.is_none()
            };
            if done {
                for (_, row) in self.intent_rows(txn, table.id) {
                    if keeps(&row) {
                        sink.push(&row, params)?;
                    }
                }
                return sink.finish(params);
            }
            tokio::task::yield_now().await;
        }
    }

    /// Whether this shard can read `lookup`'s path at snapshot `ts`: the
    /// primary key always; an index once built for the snapshot, when its
    /// entries live with the rows.
    fn lookup_usable(&self, lookup: &KeyLookup, table: &TableDef, ts: Timestamp) -> bool {
        match &lookup.index {
            None => true,
            Some(ix) => {
                !ix.is_global(table)
                    && ix.valid_from != 0
                    && ix.valid_from <= ts
                    && self.store.borrow().table(ix.storage.id).is_some()
            }
        }
    }

    /// Reads into `sink` the rows at snapshot `ts` whose path columns
    /// start with one of `lookup`'s keys (an index nested-loop join's
    /// inner side), yielding between batches of keys.
    async fn lookup_scan(
        &self,
        lookup: &KeyLookup,
        table: &TableDef,
        params: &Params,
        ts: Timestamp,
        sink: &mut Sink<'_>,
    ) -> Result<()> {
        let row_key: Vec<usize> = lookup
            .index
            .as_ref()
            .map(|ix| ix.row_key_columns().collect())
            .unwrap_or_default();
        // The keys encoded side by side and read in key order, so that
        // successive reads walk the tree forward instead of all over it.
        let mut encoded = Vec::new();
        let mut spans = Vec::with_capacity(lookup.keys.len());
        for key in lookup.keys.iter() {
            let start = encoded.len();
            for v in key {
                encode_key_value(&mut encoded, v);
            }
            spans.push((start, encoded.len()));
        }
        spans.sort_unstable_by(|a, b| encoded[a.0..a.1].cmp(&encoded[b.0..b.1]));
        let prefetch = RowPrefetch::new(fragment_columns(sink.fragment));
        let mut row_id = Vec::new();
        for chunk in spans.chunks(LOOKUP_KEYS_PER_YIELD) {
            {
                let store = self.store.borrow();
                let mut found: Vec<&[Value]> = Vec::with_capacity(SCAN_ROWS_PER_YIELD);
                for &(start, end) in chunk {
                    let prefix = &encoded[start..end];
                    match &lookup.index {
                        None => {
                            let rows = store
                                .table(table.id)
                                .ok_or_else(|| undefined_table(table))?;
                            for (_, row) in rows.prefix_at(prefix, ts) {
                                prefetch.gather(&mut found, row);
                            }
                        }
                        Some(ix) => {
                            let entries = store
                                .table(ix.storage.id)
                                .ok_or_else(|| undefined_table(table))?;
                            for (_, entry) in entries.prefix_at(prefix, ts) {
                                encode_key_into(&mut row_id, entry, &row_key);
                                if let Some(row) = store.get(table.id, &row_id, ts) {
                                    prefetch.gather(&mut found, row);
                                }
                            }
                        }
                    }
                    if found.len() >= SCAN_ROWS_PER_YIELD {
                        prefetch.gathered(&found);
                        sink.push_batch(&found, params)?;
                        found.clear();
                    }
                }
                prefetch.gathered(&found);
                sink.push_batch(&found, params)?;
            }
            tokio::task::yield_now().await;
        }
        Ok(())
    }

    /// The key range of `ix`'s storage table (the table itself for the
    /// primary key) to read; `None` when no entry can match (a NULL or
    /// out-of-range equality, a NULL bound).
    ///
    /// A bound's values go into the key only while each converts exactly
    /// to its column's type: `(a, b) > (1, NULL)` or `(a, b) > (1, 2.5)`
    /// on integer columns starts at `a >= 1` and `a > 2147483648` on an
    /// int4 column reads from the start, the filter deciding the rest.
    fn index_range(ix: &IndexScan, table: &TableDef, params: &Params) -> Result<Option<KeyRange>> {
        use std::ops::Bound::{Excluded, Included, Unbounded};
        enum KeyValue {
            Exact(Value),
            Null,
            /// Out of the column's range, or not a value of its type.
            Inexact,
        }
        fn key_value(
            e: &crate::expr::Expr,
            column: usize,
            table: &TableDef,
            params: &Params,
        ) -> Result<KeyValue> {
            let v = e.eval(&[], params)?;
            if v.is_null() {
                return Ok(KeyValue::Null);
            }
            let to = table.columns[column].data_type.unconstrained();
            let from = v.data_type();
            if from == to {
                return Ok(KeyValue::Exact(v));
            }
            // Exact when converting back gives the value again.
            let Ok(k) = v.clone().cast_with(to, true, &params.time) else {
                return Ok(KeyValue::Inexact);
            };
            match k.clone().cast_with(from, true, &params.time) {
                Ok(back) if back.compare(&v) == std::cmp::Ordering::Equal => Ok(KeyValue::Exact(k)),
                _ => Ok(KeyValue::Inexact),
            }
        }
        let columns = ix.columns(table);
        let mut prefix = Vec::new();
        for (c, e) in columns.iter().zip(&ix.equal) {
            match key_value(e, *c, table, params)? {
                KeyValue::Exact(v) => encode_key_value(&mut prefix, &v),
                // No stored value equals it.
                KeyValue::Null | KeyValue::Inexact => return Ok(None),
            }
        }
        let rest = &columns[ix.equal.len()..];
        /// The bound's key after the prefix and whether it is inclusive
        /// (`Ok(None)`: no bound; `Err(())`: no row passes).
        type Encoded = std::result::Result<Option<(Vec<u8>, bool)>, ()>;
        let encode = |bound: &Option<(Vec<crate::expr::Expr>, bool)>| -> Result<Encoded> {
            let Some((values, inclusive)) = bound else {
                return Ok(Ok(None));
            };
            let mut k = prefix.clone();
            let mut inclusive = *inclusive;
            for (n, (e, c)) in values.iter().zip(rest).enumerate() {
                match key_value(e, *c, table, params)? {
                    KeyValue::Exact(v) => encode_key_value(&mut k, &v),
                    // The first column compared with NULL: nothing passes.
                    KeyValue::Null if n == 0 => return Ok(Err(())),
                    // A shorter row compared inclusively holds whenever the
                    // whole one does.
                    KeyValue::Null | KeyValue::Inexact => {
                        inclusive = true;
                        if n == 0 {
                            return Ok(Ok(None));
                        }
                        break;
                    }
                }
            }
            Ok(Ok(Some((k, inclusive))))
        };
        let whole = |p: &[u8]| prefix_end(p).map_or(Unbounded, Excluded);
        let mut range: KeyRange = (Included(prefix.clone()), whole(&prefix));
        match encode(&ix.lower)? {
            Err(()) => return Ok(None),
            Ok(None) => {}
            Ok(Some((k, true))) => range.0 = Included(k),
            Ok(Some((k, false))) => match prefix_end(&k) {
                Some(end) => range.0 = Included(end),
                None => return Ok(None),
            },
        }
        match encode(&ix.upper)? {
            Err(()) => return Ok(None),
            Ok(None) => {}
            Ok(Some((k, true))) => range.1 = whole(&k),
            Ok(Some((k, false))) => range.1 = Excluded(k),
        }
        Ok((!is_empty_range(&range)).then_some(range))
    }

    /// Reads the rows of `ix`'s range at snapshot `read.0` into `sink`, in
    /// the path's order, yielding between batches; with a limit, stops
    /// once it has that many. `read.1`: the block whose own writes to the
    /// table overlay the snapshot.
    async fn index_scan(
        &self,
        ix: &IndexScan,
        table: &TableDef,
        params: &Params,
        read: (Timestamp, Option<TxId>),
        sink: &mut Sink<'_>,
    ) -> Result<()> {
        use std::ops::Bound::Excluded;
        let (ts, own) = read;
        if let Some(txn) = own {
            return self.index_scan_with_own_writes(ix, table, params, (ts, txn), sink);
        }
        let Some(mut range) = Self::index_range(ix, table, params)? else {
            return Ok(());
        };
        let limit = Self::index_limit(ix, params)?;
        // Through an index: each entry's row, found by the primary key
        // the entry ends with.
        let storage = ix.index.as_ref().map_or(table.id, |i| i.storage.id);
        let row_key: Option<Vec<usize>> = ix.index.as_ref().map(|i| i.row_key_columns().collect());
        let prefetch = RowPrefetch::new(fragment_columns(sink.fragment));
        let mut key = Vec::new();
        loop {
            let last = {
                let store = self.store.borrow();
                let Some(entries) = store.table(storage) else {
                    return Err(undefined_table(table));
                };
                let iter = entries.range_at(range.clone(), ts);
                let iter: Box<dyn Iterator<Item = (&[u8], &Vec<Value>)>> = if ix.reverse {
                    Box::new(iter.rev())
                } else {
                    Box::new(iter)
                };
                let mut n = 0;
                let mut last = None;
                // Without a limit to stop at, the rows go on in batches.
                let mut found: Vec<&[Value]> = Vec::new();
                for (entry_key, entry) in iter {
                    let row = match &row_key {
                        None => Some(entry),
                        Some(row_key) => {
                            encode_key_into(&mut key, entry, row_key);
                            store.get(table.id, &key, ts)
                        }
                    };
                    if let Some(row) = row {
                        if limit.is_none() {
                            prefetch.gather(&mut found, row);
                        } else {
                            sink.push(row, params)?;
                            if limit.is_some_and(|l| sink.rows.len() >= l) {
                                return Ok(());
                            }
                        }
                    }
                    n += 1;
                    if n == SCAN_ROWS_PER_YIELD {
                        last = Some(entry_key.to_vec());
                        break;
                    }
                }
                prefetch.gathered(&found);
                sink.push_batch(&found, params)?;
                last
            };
            match last {
                None => return Ok(()),
                Some(k) if ix.reverse => range.1 = Excluded(k),
                Some(k) => range.0 = Excluded(k),
            }
            if is_empty_range(&range) {
                return Ok(());
            }
            tokio::task::yield_now().await;
        }
    }

    /// With an ORDER BY the path serves: how many rows a shard must give
    /// (LIMIT + OFFSET), when both are known.
    fn index_limit(ix: &IndexScan, params: &Params) -> Result<Option<usize>> {
        let Some((limit, offset)) = &ix.limit else {
            return Ok(None);
        };
        let count = |e: &crate::expr::Expr| e.eval(&[], params).map(|v| v.as_i64());
        let offset = match offset {
            Some(o) => count(o)?,
            None => Some(0),
        };
        Ok(match (count(limit)?, offset) {
            (Some(l), Some(o)) if l >= 0 && o >= 0 => Some(l.saturating_add(o) as usize),
            _ => None,
        })
    }

    /// `index_scan` for a block that wrote the table here: its own entries
    /// (its own rows, for the primary key) overlay the snapshot's in key
    /// order, a deleted one hiding the committed one. The two are merged
    /// as they are read, so a limit still stops the read early; the range
    /// is read without yielding, and the block's own entries in it are
    /// gathered first (a block's own writes are few next to what it reads).
    fn index_scan_with_own_writes(
        &self,
        ix: &IndexScan,
        table: &TableDef,
        params: &Params,
        (ts, txn): (Timestamp, TxId),
        sink: &mut Sink<'_>,
    ) -> Result<()> {
        use std::cmp::Ordering;
        use std::ops::RangeBounds;
        let Some(range) = Self::index_range(ix, table, params)? else {
            return Ok(());
        };
        let limit = Self::index_limit(ix, params)?;
        let storage = ix.index.as_ref().map_or(table.id, |i| i.storage.id);
        let store = self.store.borrow();
        let entries_table = store.table(storage).ok_or_else(|| undefined_table(table))?;
        let intents = self.intents.borrow();
        let mine = intents.get(&txn);
        let mut own: Vec<(&[u8], Option<&Vec<Value>>)> = mine
            .into_iter()
            .flat_map(|m| {
                m.range((storage, Vec::new())..)
                    .take_while(|((t, _), _)| *t == storage)
            })
            .filter(|((_, k), _)| range.contains(k))
            .map(|((_, k), entry)| (k.as_slice(), entry.as_ref()))
            .collect();
        let committed = entries_table.range_at(range.clone(), ts);
        let mut committed: Box<dyn Iterator<Item = (&[u8], &Vec<Value>)>> = if ix.reverse {
            own.reverse();
            Box::new(committed.rev())
        } else {
            Box::new(committed)
        };
        let mut own = own.into_iter().peekable();
        let mut next_committed = committed.next();
        let row_key: Option<Vec<usize>> = ix.index.as_ref().map(|i| i.row_key_columns().collect());
        loop {
            // The next entry in the path's order; the block's own wins a tie.
            let order = match (next_committed, own.peek()) {
                (None, None) => return Ok(()),
                (Some(_), None) => Ordering::Less,
                (None, Some(_)) => Ordering::Greater,
                (Some((c, _)), Some((o, _))) if ix.reverse => o.cmp(&c),
                (Some((c, _)), Some((o, _))) => c.cmp(o),
            };
            let entry = match order {
                Ordering::Less => next_committed.map(|(_, e)| e),
                _ => own.next().and_then(|(_, e)| e),
            };
            if order != Ordering::Greater {
                next_committed = committed.next();
            }
            let Some(entry) = entry else {
                continue;
            };
            let row = match &row_key {
                None => Some(entry),
                Some(row_key) => {
                    let own_key = (table.id, encode_key(entry, row_key));
                    match mine.and_then(|m| m.get(&own_key)) {
                        Some(own) => own.as_ref(),
                        None => store.get(table.id, &own_key.1, ts),
                    }
                }
            };
            if let Some(row) = row {
                sink.push(row, params)?;
                if limit.is_some_and(|l| sink.rows.len() >= l) {
                    return Ok(());
                }
            }
        }
    }

    // ---- snapshots ---------------------------------------------------------

    /// Starts a statement routed by this shard: publishes its floor, then
    /// takes its snapshot (in that order; see `Timeline::horizon`).
    pub fn begin_read(&self) -> (Timestamp, Timestamp) {
        let floor = self.timeline.now();
        let mut reads = self.active_reads.borrow_mut();
        reads.push(floor);
        if reads.len() == 1 {
            // The only running statement: its floor is the oldest.
            self.timeline.publish_floor(self.shard as usize, floor);
        }
        drop(reads);
        (floor, self.timeline.tick())
    }

    /// The node's clock and snapshot floors.
    pub fn timeline(&self) -> &Arc<Timeline> {
        &self.timeline
    }

    /// Ends a statement started with `begin_read` at `floor`.
    pub fn end_read(&self, floor: Timestamp) {
        let mut reads = self.active_reads.borrow_mut();
        if let Some(i) = reads.iter().position(|f| *f == floor) {
            reads.swap_remove(i);
        }
        let oldest = reads.iter().copied().min().unwrap_or(Timestamp::MAX);
        drop(reads);
        self.timeline.publish_floor(self.shard as usize, oldest);
    }

    /// A commit timestamp.
    pub fn tick(&self) -> Timestamp {
        self.timeline.tick()
    }

    /// Prunes versions no running statement can see, a bounded number of
    /// keys at a time; returns how many keys still hold old versions.
    /// Publishes this shard's row counts to the node's statistics.
    pub fn publish_stats(&self) {
        if let Some(stats) = &self.stats {
            let store = self.store.borrow();
            stats.publish(self.shard, store.key_counts());
            stats.publish_bytes(self.shard, store.table_bytes());
        }
    }

    /// The node's table statistics, if this shard feeds any.
    pub fn stats(&self) -> Option<Arc<crate::stats::TableStats>> {
        self.stats.clone()
    }

    /// Shares the node's table statistics (see `publish_stats`).
    /// In a cluster: `log` says which shards the node is master of.
    pub fn with_replica_sets(mut self, log: Arc<dyn SharedCatalog>) -> ShardContext {
        self.replica_sets = Some(log);
        self.follow_replication_mode();
        self
    }

    /// The shard's log is the segment directory `dir` on `fs`.
    pub fn with_log_files(
        mut self,
        fs: Arc<dyn tessera_storage::file::FileSystem>,
        dir: std::path::PathBuf,
    ) -> ShardContext {
        self.log_files = Some((fs, dir));
        self
    }

    /// The epoch of the master whose records the shard's log ends with,
    /// as its files say.
    pub fn with_log_epoch(self, epoch: u64) -> ShardContext {
        self.log_epoch.set(epoch);
        self
    }

    pub fn with_stats(mut self, stats: Arc<crate::stats::TableStats>) -> ShardContext {
        self.stats = Some(stats);
        self
    }

    pub fn collect_garbage(&self, budget: usize) -> usize {
        let horizon = self.timeline.horizon();
        self.store.borrow_mut().collect_garbage(horizon, budget)
    }

    // ---- checkpoints ---------------------------------------------------------

    /// Records a coordinator's decision in the log, then in the node's
    /// ledger; returns once it is certain to reach the disk (the router
    /// waits for durability before acknowledging the commit). `ts`, when
    /// not 0, was chosen after every participant prepared: the decision
    /// then holds on its own (see `Record::Decision`).
    async fn decide(
        &self,
        tx: TxId,
        commit: bool,
        ts: Timestamp,
        participants: Vec<ShardId>,
    ) -> Result<ShardResponse> {
        if !self.ledger.begin_decision(tx, commit) {
            return Err(cross_node::fenced());
        }
        let cross_node = self.spans_nodes(&participants);
        let record = Record::Decision {
            tx,
            commit,
            participants,
            at: (ts != 0).then_some(ts),
        };
        let (ticket, early) = match self.append_published(&record.encode()) {
            Ok(appended) => appended,
            Err(e) => {
                self.ledger.decision_failed(tx);
                return Err(e);
            }
        };
        // A decision that may have reached the disk stays in progress
        // until the router's abort after it is written.
        if !early {
            self.wait_unpublished(ticket).await?;
        }
        let Record::Decision { participants, .. } = record else {
            unreachable!()
        };
        self.ledger
            .decided(tx, self.number(), commit, ts, &participants, cross_node);
        Ok(ShardResponse::Done(vec![]))
    }

    /// Tells the ledger that this participant resolved a durable prepare
    /// of `tx` and whether its `Resolve` record went into the log.
    fn note_resolve_logged(&self, tx: TxId, logged: &Result<Ticket>) {
        self.ledger.resolved(tx, self.number(), true, true);
        if let Ok(ticket) = logged {
            self.resolves_logged.borrow_mut().push((*ticket, tx));
        }
    }

    /// Tells the ledger which of this shard's `Resolve` records became
    /// durable. One lost to a full disk never settles its transaction.
    pub fn settle_durable_resolves(&self) {
        let replica = self.is_replica();
        for tx in self.take_durable(&self.resolves_logged) {
            match replica {
                true => self.ledger.copied_resolve(tx, self.number()),
                false => self.ledger.settled(tx, self.number()),
            }
        }
    }

    /// Takes from `list` the transactions whose ticket is durable; those
    /// whose record was lost go too.
    fn take_durable(&self, list: &RefCell<Vec<(Ticket, TxId)>>) -> Vec<TxId> {
        let mut durable = Vec::new();
        list.borrow_mut()
            .retain(|(ticket, tx)| match self.wal.durability(*ticket) {
                Durability::Durable => {
                    durable.push(*tx);
                    false
                }
                Durability::Lost => false,
                Durability::Pending => true,
            });
        durable
    }

    /// Begins a checkpoint: at one instant on the shard's thread, the
    /// replay start `P` (the oldest record whose effect is not published,
    /// or the end of the log), then the snapshot `C` with its read floor,
    /// the prepares open at `C` and the two-phase evidence to keep. Every
    /// record before `P` is applied at or below `C`. The largest ids are
    /// left for the node to fill in. `None` while a record of a discarded
    /// batch has not yet seen its failure: try again later. End with
    /// [`ShardContext::end_checkpoint`] and the returned floor.
    pub fn begin_checkpoint(&self) -> Result<Option<(Timestamp, CheckpointPlan)>> {
        self.catalog();
        if self.installing.get() {
            return Ok(None);
        }
        let appended = self.wal.appended()?;
        let in_flight = self.in_flight.borrow();
        if in_flight
            .iter()
            .any(|t| t.generation() != appended.generation())
        {
            return Ok(None);
        }
        let replay_start = in_flight
            .iter()
            .map(Ticket::start)
            .fold(appended.end(), u64::min);
        drop(in_flight);
        let (floor, snapshot_ts) = self.begin_read();
        let mut prepared: Vec<(TxId, WriteSet)> = self
            .prepared
            .borrow()
            .iter()
            .map(|(tx, (writes, _))| (*tx, writes.clone()))
            .collect();
        prepared.sort_by_key(|(tx, _)| *tx);
        let plan = CheckpointPlan {
            shard: self.shard,
            snapshot_ts,
            replay_start,
            appended,
            prepared,
            retained: self.ledger.retained(self.number()),
            max_tx: 0,
            max_row_id: 0,
            tables: self.store.borrow().table_ids(),
        };
        self.checkpointing.set(true);
        Ok(Some((floor, plan)))
    }

    /// The CHECKPOINT requests the node's checkpoint task serves.
    pub fn checkpoint_requests(&self) -> &CheckpointRequests {
        &self.checkpoints
    }

    /// Ends a checkpoint begun with `begin_checkpoint`: releases its floor.
    pub fn end_checkpoint(&self, floor: Timestamp) {
        self.checkpointing.set(false);
        self.end_read(floor);
    }

    // ---- writes ------------------------------------------------------------

    /// Computes a write set with `compute`, locks it, logs it and (outside a
    /// two-phase transaction) applies it. Returns the affected row count.
    async fn write(
        &self,
        mode: WriteMode,
        mut compute: impl FnMut() -> Result<(WriteSet, u64)>,
    ) -> Result<u64> {
        let me = mode.owner();
        let (writes, count) = loop {
            self.catalog();
            let (writes, count) = compute()?;
            if let Some(moved) = self.check_write_routed(&writes)? {
                // Its rows are moving away: after the move, it finds its
                // map out of date.
                moved.notified().await;
                continue;
            }
            if let WriteMode::Txn {
                snapshot: Some(snapshot),
                ..
            } = mode
            {
                self.check_not_newer(&writes, snapshot)?;
            }
            let holder = self.store.borrow().lock_holder(&writes, me);
            let holder = holder.or_else(|| self.read_lock_holder(&writes, me).map(LockOwner::Tx));
            let Some(holder) = holder else {
                // The writes follow from what `compute` read.
                if self.saw_unsettled(store::last_seen()) {
                    self.observe();
                }
                break (writes, count);
            };
            // Registered before the wait is recorded, so no unlock is missed.
            let unlocked = self.unlocked.notified();
            let waiter = match (me, holder) {
                (Some(me), LockOwner::Tx(holder)) => {
                    self.waits.begin(me, self.shard, holder)?;
                    Some(me)
                }
                _ => None,
            };
            let waited = self.wait_unlocked(unlocked, waiter).await;
            if let Some(me) = me {
                self.waits.end(me, self.shard);
            }
            waited?;
        };
        self.check_memory(&writes)?;
        if let WriteMode::Txn { id, savepoint, .. } = mode {
            if !writes.is_empty() {
                self.store.borrow_mut().lock(&writes, LockOwner::Tx(id));
            }
            let mut intents = self.intents.borrow_mut();
            let mine = intents.entry(id).or_default();
            let mut undo = self.undo.borrow_mut();
            for op in writes.ops {
                let (key, row) = match op {
                    WriteOp::Put { table, key, row } => ((table, key), Some(row)),
                    WriteOp::Delete { table, key } => ((table, key), None),
                };
                if savepoint > 0 {
                    let previous = mine.get(&key).cloned();
                    undo.entry(id).or_default().push(Undo {
                        savepoint,
                        key: key.clone(),
                        previous,
                    });
                }
                mine.insert(key, row);
            }
            return Ok(count);
        }
        let tx = match mode {
            WriteMode::Prepare(tx) => Some(tx),
            _ => None,
        };
        if writes.is_empty() && tx.is_none() {
            return Ok(count);
        }
        let owner = match tx {
            Some(tx) => LockOwner::Tx(tx),
            None => {
                let seq = self.statement_seq.get() + 1;
                self.statement_seq.set(seq);
                LockOwner::Statement(seq)
            }
        };
        self.store.borrow_mut().lock(&writes, owner);
        match tx {
            Some(tx) => self.prepare_locked(tx, writes).await?,
            None => self.commit_locked(writes).await?,
        }
        Ok(count)
    }

    /// Waits for an unlock on this shard; a `waiter` whose wait has become
    /// part of a deadlock meanwhile gets 40P01 (see [`LockWaits::check`]).
    async fn wait_unlocked(
        &self,
        unlocked: tokio::sync::futures::Notified<'_>,
        waiter: Option<TxId>,
    ) -> Result<()> {
        tokio::pin!(unlocked);
        // A cancel, statement_timeout or lock_timeout ends the wait too.
        let started = std::time::Instant::now();
        let mut since_check = std::time::Duration::ZERO;
        loop {
            let tick = tessera_types::interrupt::check_lock_wait(
                started.elapsed(),
                DEADLOCK_CHECK.saturating_sub(since_check),
            )?;
            let slept = std::time::Instant::now();
            match tokio::time::timeout(tick, &mut unlocked).await {
                Ok(()) => return Ok(()),
                Err(_) => {
                    since_check += slept.elapsed();
                    if since_check >= DEADLOCK_CHECK {
                        since_check = std::time::Duration::ZERO;
                        if let Some(w) = waiter {
                            self.waits.check(w, self.shard)?;
                        }
                    }
                }
            }
        }
    }

    /// REPEATABLE READ: a row committed after the snapshot may not be
    /// overwritten (first committer wins).
    fn check_not_newer(&self, writes: &WriteSet, snapshot: Timestamp) -> Result<()> {
        let store = self.store.borrow();
        if writes.ops.iter().any(|op| {
            store
                .latest_ts(op.table(), op.key())
                .is_some_and(|ts| ts > snapshot)
        }) {
            return Err(conflict());
        }
        Ok(())
    }

    /// Logs locked `writes` as committed, applies and unlocks them, and
    /// returns once the commit may be acknowledged. When the record is
    /// certain to reach the disk, the writes are applied and unlocked at
    /// once (early lock release), so the next writer of a hot row need not
    /// wait for this fsync; otherwise (the log must grow first) only once
    /// durable.
    async fn commit_locked(&self, writes: WriteSet) -> Result<()> {
        if let Err(e) = self.refuse_global_writes(&writes) {
            self.store.borrow_mut().unlock(&writes);
            self.unlocked.notify_waiters();
            return Err(e);
        }
        let record = Record::Commit(writes);
        let appended = self.append_published(&record.encode());
        let Record::Commit(writes) = record else {
            unreachable!()
        };
        let (ticket, early) = match appended {
            Ok(appended) => appended,
            Err(e) => {
                self.store.borrow_mut().unlock(&writes);
                self.unlocked.notify_waiters();
                return Err(e);
            }
        };
        if early {
            self.apply_committed(writes);
            // Let the other tasks ready on this shard append theirs first,
            // so that one fsync covers them all (group commit).
            tokio::task::yield_now().await;
            // Certain records are lost only if the log fails for good,
            // and then the shard serves nothing more.
            return self.wait_settled(ticket).await;
        }
        if let Err(e) = self.wait_unpublished(ticket).await {
            self.store.borrow_mut().unlock(&writes);
            self.unlocked.notify_waiters();
            return Err(e);
        }
        self.apply_committed(writes);
        self.wait_settled(ticket).await
    }

    /// Applies and unlocks committed `writes` at a new timestamp.
    fn apply_committed(&self, writes: WriteSet) {
        let ts = self.timeline.tick();
        let horizon = self.timeline.horizon();
        let mut store = self.store.borrow_mut();
        store.unlock(&writes);
        store.apply(writes, ts, horizon);
        drop(store);
        self.unlocked.notify_waiters();
    }

    /// Logs locked `writes` as prepared under `tx`; they stay locked until
    /// `Resolve`. Returns once the prepare is certain to reach the disk
    /// (the router waits for durability before acknowledging the commit).
    async fn prepare_locked(&self, tx: TxId, writes: WriteSet) -> Result<()> {
        if let Err(e) = self.refuse_global_writes(&writes) {
            self.store.borrow_mut().unlock(&writes);
            self.unlocked.notify_waiters();
            return Err(e);
        }
        let record = Record::Prepare { tx, writes };
        let appended = self.append_published(&record.encode());
        let Record::Prepare { writes, .. } = record else {
            unreachable!()
        };
        let logged = match appended {
            Ok((_, true)) => Ok(()),
            Ok((ticket, false)) => self.wait_unpublished(ticket).await,
            Err(e) => Err(e),
        };
        if let Err(e) = logged {
            self.store.borrow_mut().unlock(&writes);
            self.unlocked.notify_waiters();
            return Err(e);
        }
        let prepared_at = self.timeline.tick();
        self.prepared.borrow_mut().insert(tx, (writes, prepared_at));
        Ok(())
    }

    /// Turns a transaction block's intents here into a write set (locks kept).
    fn take_intents(&self, id: TxId) -> WriteSet {
        self.undo.borrow_mut().remove(&id);
        let mine = self.intents.borrow_mut().remove(&id).unwrap_or_default();
        let ops = mine
            .into_iter()
            .map(|((table, key), row)| match row {
                Some(row) => WriteOp::Put { table, key, row },
                None => WriteOp::Delete { table, key },
            })
            .collect();
        WriteSet { ops }
    }

    async fn txn_commit(&self, id: TxId, validate: Option<Timestamp>) -> Result<ShardResponse> {
        let writes = self.take_intents(id);
        self.ready_to_commit(id, &writes, validate).await?;
        let committed = if writes.is_empty() {
            Ok(())
        } else {
            self.commit_locked(writes).await
        };
        self.release_reads(id);
        committed.map(|()| ShardResponse::Done(vec![]))
    }

    async fn txn_prepare(&self, id: TxId, validate: Option<Timestamp>) -> Result<ShardResponse> {
        let writes = self.take_intents(id);
        let count = writes.ops.len() as u64;
        self.ready_to_commit(id, &writes, validate).await?;
        // Logged even when empty: recovery commits only if every
        // participant the decision names has a durable prepare.
        self.prepare_locked(id, writes).await?;
        Ok(ShardResponse::Count(count))
    }

    /// Before transaction `id` commits or prepares its locked `writes`
    /// here: waits for SERIALIZABLE transactions that read those keys and
    /// are committing, then (`validate`: its snapshot) validates and
    /// read-locks its own reads. On failure the writes are unlocked.
    async fn ready_to_commit(
        &self,
        id: TxId,
        writes: &WriteSet,
        validate: Option<Timestamp>,
    ) -> Result<()> {
        let mut ready = Ok(());
        while let Some(holder) = self.read_lock_holder(writes, Some(id)) {
            let unlocked = self.unlocked.notified();
            if let Err(e) = self.waits.begin(id, self.shard, holder) {
                ready = Err(e);
                break;
            }
            let waited = self.wait_unlocked(unlocked, Some(id)).await;
            self.waits.end(id, self.shard);
            if let Err(e) = waited {
                ready = Err(e);
                break;
            }
        }
        if let (Ok(()), Some(snapshot)) = (&ready, validate) {
            ready = self.validate_reads(id, snapshot);
        }
        if ready.is_err() {
            self.store.borrow_mut().unlock(writes);
            self.release_reads(id);
            self.unlocked.notify_waiters();
        }
        ready
    }

    /// A SERIALIZABLE transaction other than `me`, validated and
    /// committing, that read a key `writes` changes: the write must wait
    /// until it is applied.
    fn read_lock_holder(&self, writes: &WriteSet, me: Option<TxId>) -> Option<TxId> {
        let locks = self.read_locks.borrow();
        if locks.is_empty() {
            return None;
        }
        locks
            .iter()
            .find(|(id, set)| {
                Some(**id) != me && writes.ops.iter().any(|op| set.covers(op.table(), op.key()))
            })
            .map(|(id, _)| *id)
    }

    /// Checks that what SERIALIZABLE transaction `id` read here still
    /// holds: nothing committed after `snapshot` and no commit under way
    /// changes it. Then keeps it locked until `release_reads`, so it holds
    /// up to the transaction's commit timestamp.
    fn validate_reads(&self, id: TxId, snapshot: Timestamp) -> Result<()> {
        let Some(set) = self.reads.borrow_mut().remove(&id) else {
            return Ok(());
        };
        {
            let store = self.store.borrow();
            let intents = self.intents.borrow();
            // Locks of writes being committed or prepared (not of open
            // blocks' intents): they commit after the snapshot.
            let committing = |owner: LockOwner| match owner {
                LockOwner::Statement(_) => true,
                LockOwner::Tx(tx) => tx != id && !intents.contains_key(&tx),
            };
            let changed = "Canceled on conflict out to a transaction committed after its snapshot";
            let committing_now = "Canceled on conflict out to a committing transaction";
            for (table, key) in &set.keys {
                if store.latest_ts(*table, key).is_some_and(|ts| ts > snapshot) {
                    return Err(read_write_conflict(changed));
                }
                if store.lock_owner(*table, key).is_some_and(committing) {
                    return Err(read_write_conflict(committing_now));
                }
            }
            for table in &set.tables {
                if store
                    .table(*table)
                    .is_some_and(|t| t.last_commit() > snapshot)
                {
                    return Err(read_write_conflict(changed));
                }
                if store.lock_owners_in(*table).any(committing) {
                    return Err(read_write_conflict(committing_now));
                }
            }
        }
        self.read_locks.borrow_mut().insert(id, set);
        Ok(())
    }

    /// Forgets transaction `id`'s reads and releases its read locks.
    fn release_reads(&self, id: TxId) {
        self.reads.borrow_mut().remove(&id);
        if self.read_locks.borrow_mut().remove(&id).is_some() {
            self.unlocked.notify_waiters();
        }
    }

    /// Restores the block's intents to what they were when savepoint
    /// `savepoint` was taken; keys it had not written then are unlocked.
    fn txn_rollback_to(&self, id: TxId, savepoint: u32) {
        let mut undo = self.undo.borrow_mut();
        let Some(log) = undo.get_mut(&id) else { return };
        let mut intents = self.intents.borrow_mut();
        let mut store = self.store.borrow_mut();
        while log.last().is_some_and(|u| u.savepoint >= savepoint) {
            let Some(u) = log.pop() else { break };
            let mine = intents.entry(id).or_default();
            match u.previous {
                Some(previous) => {
                    mine.insert(u.key, previous);
                }
                None => {
                    mine.remove(&u.key);
                    let (table, key) = u.key;
                    store.unlock(&WriteSet {
                        ops: vec![WriteOp::Delete { table, key }],
                    });
                }
            }
        }
        drop((store, intents, undo));
        self.unlocked.notify_waiters();
    }

    fn txn_abort(&self, id: TxId) {
        let writes = self.take_intents(id);
        self.release_reads(id);
        self.store.borrow_mut().unlock(&writes);
        self.waits.end(id, self.shard);
        self.unlocked.notify_waiters();
    }

    fn resolve(&self, tx: TxId, commit: bool, ts: Timestamp) {
        // A replica's prepares settle from its master's log, as copied.
        if self.is_replica() {
            return;
        }
        // It observes nothing: the router already depends on the prepares
        // and the decision.
        let _ = REQUEST_DEPS.try_with(|d| d.borrow_mut().1 = true);
        self.release_reads(tx);
        let Some((writes, _)) = self.prepared.borrow_mut().remove(&tx) else {
            self.ledger.resolved(tx, self.number(), false, false);
            self.report_when_durable(tx, None);
            return;
        };
        if writes.is_empty() {
            self.ledger.resolved(tx, self.number(), true, false);
            self.report_when_durable(tx, None);
            return;
        }
        // Not waited for, and no fsync of its own: it goes with the next
        // batch (or the checkpoint task's periodic flush). If it is lost,
        // recovery settles the prepare from the coordinator's durable
        // decision.
        let logged = self.append_record(&Record::Resolve { tx, commit }.encode());
        self.note_resolve_logged(tx, &logged);
        if let Ok(ticket) = &logged {
            self.report_when_durable(tx, Some(*ticket));
        }
        if let Err(e) = logged {
            tracing::warn!(
                "shard {}: could not log the outcome of transaction {tx}: {e}",
                self.shard
            );
        }
        let horizon = self.timeline.horizon();
        let mut store = self.store.borrow_mut();
        store.unlock(&writes);
        if commit {
            store.apply(writes, ts, horizon);
        }
        drop(store);
        self.unlocked.notify_waiters();
    }

    /// Adds to `ops`, a statement's writes to `table`, the writes that keep
    /// the table's indexes in step: for each row changed, its old entries
    /// deleted and its new ones added, in the same write set. A unique index
    /// refuses a second row with equal values (23505); its entry key is
    /// locked like any key, so a concurrent writer of the same values waits
    /// and then finds it taken.
    ///
    /// Entries of global indexes live elsewhere: their changes go to
    /// `changes`, for the router to make in the same transaction. Outside a
    /// transaction block there is none, so such a write fails with 40001
    /// and its router, which now sees the index, retries it inside one.
    fn index_ops(
        &self,
        store: &ShardStore,
        table: &TableDef,
        ops: &mut Vec<WriteOp>,
        mode: WriteMode,
        changes: &RefCell<Vec<EntryChange>>,
    ) -> Result<()> {
        let txn = mode.txn();
        // Not `catalog_as`: the store is borrowed, and the caller looked.
        let catalog = match &*self.cached_pending.borrow() {
            Some((owner, pending)) if Some(*owner) == txn => pending.clone(),
            _ => self.cached_catalog.borrow().clone(),
        };
        let indexes: Vec<&Arc<IndexDef>> = catalog.indexes_of(table.id).collect();
        changes.borrow_mut().clear();
        if indexes.is_empty() {
            return Ok(());
        }
        if txn.is_none() && indexes.iter().any(|i| i.is_global(table)) {
            return Err(Error::new(
                sqlstate::SERIALIZATION_FAILURE,
                format!(
                    "the indexes of \"{}\" changed while the statement ran",
                    table.name
                ),
            ));
        }
        let mut extra = Vec::new();
        // Entry keys this statement wrote so far: whether they now hold one.
        let mut written: HashMap<(tessera_types::TableId, Vec<u8>), bool> = HashMap::new();
        for op in ops.iter() {
            let key = op.key();
            let old = match self.intent(txn, table.id, key) {
                Some(own) => own,
                None => store.get(table.id, key, LATEST).cloned(),
            };
            let new = match op {
                WriteOp::Put { row, .. } => Some(row),
                WriteOp::Delete { .. } => None,
            };
            for index in &indexes {
                let storage = index.storage.id;
                let old_entry = old.as_ref().and_then(|r| index_entry(index, table, key, r));
                let new_entry = new.and_then(|r| index_entry(index, table, key, r));
                if old_entry == new_entry {
                    continue;
                }
                if index.is_global(table) {
                    changes.borrow_mut().push(EntryChange {
                        index: (*index).clone(),
                        old: old_entry,
                        new: new_entry,
                    });
                    continue;
                }
                if let Some((k, _)) = old_entry {
                    written.insert((storage, k.clone()), false);
                    extra.push(WriteOp::Delete {
                        table: storage,
                        key: k,
                    });
                }
                if let (Some((k, values)), Some(row)) = (new_entry, new) {
                    let slot = (storage, k);
                    if index.unique {
                        let taken = match written.get(&slot) {
                            Some(held) => *held,
                            None => self.row_exists(store, txn, storage, &slot.1),
                        };
                        if taken {
                            let values: Vec<Value> =
                                index.columns.iter().map(|c| row[*c].clone()).collect();
                            return Err(unique_violation(index, table, &values, false));
                        }
                    }
                    written.insert(slot.clone(), true);
                    extra.push(WriteOp::Put {
                        table: storage,
                        key: slot.1,
                        row: values,
                    });
                }
            }
        }
        ops.extend(extra);
        Ok(())
    }

    /// One batch of a global index build (`IndexBackfill`). Its rows are
    /// rewritten unchanged by the transaction, so they stay locked until
    /// it commits: no writer changes a row between the entry computed here
    /// and the entry added on the index's shard. A row locked by another
    /// writer is waited for, as any write does, then read as it committed.
    async fn index_backfill(
        &self,
        index: &Arc<IndexDef>,
        after: Option<Vec<u8>>,
        limit: usize,
        mode: WriteMode,
    ) -> Result<ShardResponse> {
        let Some(txn) = mode.txn() else {
            return Err(Error::internal("an index backfill outside a transaction"));
        };
        let catalog = self.catalog_as(Some(txn));
        let table = catalog.table_by_id(index.table).cloned().ok_or_else(|| {
            Error::new(
                sqlstate::UNDEFINED_TABLE,
                "the table was dropped while its index was being built",
            )
        })?;
        // Its rows are read as committed: a block's own would be missed.
        let wrote = self.intents.borrow().get(&txn).is_some_and(|m| {
            m.range((table.id, Vec::new())..)
                .next()
                .is_some_and(|((id, _), _)| *id == table.id)
        });
        if wrote {
            return Err(Error::new(
                sqlstate::FEATURE_NOT_SUPPORTED,
                format!(
                    "a unique index that does not contain the sharding key of \"{}\" cannot be created in the transaction block that wrote rows to it",
                    table.name
                ),
            )
            .with_hint("Create the index before writing the rows, or in its own transaction."));
        }
        let entries = RefCell::new((Vec::new(), None));
        self.write(mode, || {
            let store = self.store.borrow();
            let t = store
                .table(table.id)
                .ok_or_else(|| undefined_table(&table))?;
            let mut ops = Vec::new();
            let mut changes = Vec::new();
            let mut last = None;
            for (key, row) in t.iter_at(after.as_deref(), LATEST) {
                // Rows this transaction holds already were handled.
                if self.intent(Some(txn), table.id, key).is_none() {
                    if let Some(entry) = index_entry(index, &table, key, row) {
                        changes.push(EntryChange {
                            index: index.clone(),
                            old: None,
                            new: Some(entry),
                        });
                    }
                    ops.push(WriteOp::Put {
                        table: table.id,
                        key: key.to_vec(),
                        row: row.clone(),
                    });
                }
                if ops.len() == limit {
                    last = Some(key.to_vec());
                    break;
                }
            }
            *entries.borrow_mut() = (changes, last);
            Ok((WriteSet { ops }, 0))
        })
        .await?;
        let (changes, last) = entries.into_inner();
        Ok(ShardResponse::Backfilled(changes, last))
    }

    /// The writes of an `IndexEntries` request: deletes first, then puts,
    /// each put refused if its value is taken (by a committed entry, or
    /// the transaction's own).
    fn entry_writes(
        &self,
        index: &IndexDef,
        deletes: &[Vec<u8>],
        puts: &[(Vec<u8>, Row)],
        mode: WriteMode,
    ) -> Result<(WriteSet, u64)> {
        let catalog = self.catalog_as(mode.txn());
        let table = catalog.table_by_id(index.table).ok_or_else(|| {
            Error::new(
                sqlstate::UNDEFINED_TABLE,
                format!("the table of index \"{}\" was dropped", index.name),
            )
        })?;
        let store = self.store.borrow();
        let storage = index.storage.id;
        if store.table(storage).is_none() {
            return Err(undefined_table(&index.storage));
        }
        let mut ops = Vec::with_capacity(deletes.len() + puts.len());
        let mut freed = std::collections::HashSet::new();
        for key in deletes {
            freed.insert(key.clone());
            ops.push(WriteOp::Delete {
                table: storage,
                key: key.clone(),
            });
        }
        let mut taken = std::collections::HashSet::new();
        for (key, values) in puts {
            self.note_read(mode.reader(), storage, Some(key));
            let existing = match self.intent(mode.txn(), storage, key) {
                Some(own) => own,
                None => store.get(storage, key, LATEST).cloned(),
            };
            if existing.as_ref() == Some(values) && !freed.contains(key) {
                // The same row's entry (an index build meeting a write that
                // already made it).
                continue;
            }
            if (existing.is_some() && !freed.contains(key)) || !taken.insert(key.clone()) {
                return Err(unique_violation(index, table, values, false));
            }
            ops.push(WriteOp::Put {
                table: storage,
                key: key.clone(),
                row: values.clone(),
            });
        }
        Ok((WriteSet { ops }, 0))
    }

    /// Whether `key` holds a row for a writer in `txn`: its own intent if
    /// it has one, else the latest committed version.
    fn row_exists(
        &self,
        store: &ShardStore,
        txn: Option<TxId>,
        table: tessera_types::TableId,
        key: &[u8],
    ) -> bool {
        match self.intent(txn, table, key) {
            Some(own) => own.is_some(),
            None => store.get(table, key, LATEST).is_some(),
        }
    }

    fn insert_writes(
        &self,
        table: &TableDef,
        rows: &[(Vec<u8>, Row)],
        mode: WriteMode,
        changes: &RefCell<Vec<EntryChange>>,
        upsert: Option<&Upsert>,
    ) -> Result<(WriteSet, u64, Vec<Row>)> {
        self.refuse_stale_shape(table, mode.txn())?;
        let store = self.store.borrow();
        let Some(t) = store.table(table.id) else {
            return Err(undefined_table(table));
        };
        let mut ops = Vec::with_capacity(rows.len());
        let mut returned = Vec::new();
        let mut give_back = |row: &[Value]| -> Result<()> {
            if let Some(u) = upsert.filter(|u| !u.returning.is_empty()) {
                let mut out = Vec::with_capacity(u.returning.len());
                for e in &u.returning {
                    out.push(e.eval(row, &u.params)?);
                }
                returned.push(out);
            }
            Ok(())
        };
        for (key, row) in rows {
            // That the key is free is a read.
            self.note_read(mode.reader(), table.id, Some(key));
            let found = upsert.and_then(|u| u.found.get(key));
            if found.is_none() && !self.row_exists(&store, mode.txn(), table.id, key) {
                give_back(row)?;
                ops.push(WriteOp::Put {
                    table: table.id,
                    key: key.clone(),
                    row: row.clone(),
                });
                continue;
            }
            let Some(upsert) = upsert.filter(|u| found.is_some() || u.primary_key) else {
                return Err(duplicate_key(table, row));
            };
            // The existing row: the block's own version, else the newest
            // committed one, which with a snapshot must be the one it sees
            // (PostgreSQL fails DO NOTHING too when it is not).
            let existing = match self.intent(mode.txn(), table.id, key) {
                Some(own) => own,
                None => {
                    if let Some(snapshot) = mode.snapshot() {
                        if store
                            .latest_ts(table.id, key)
                            .is_some_and(|ts| ts > snapshot)
                        {
                            return Err(conflict());
                        }
                    }
                    t.get(key, LATEST).cloned()
                }
            };
            if let Some((index, columns)) = found {
                let holds = existing.as_ref().is_some_and(|e| {
                    columns
                        .iter()
                        .all(|c| e[*c].compare(&row[*c]) == std::cmp::Ordering::Equal)
                });
                if !holds {
                    return Err(conflict_moved(index));
                }
            }
            let (assignments, filter) = match &*upsert.action {
                OnConflict::Nothing => continue,
                OnConflict::Update {
                    assignments,
                    filter,
                } => (assignments, filter),
            };
            let Some(existing) = existing else {
                return Err(duplicate_key(table, row));
            };
            let mut both = existing.clone();
            both.extend(row.iter().cloned());
            if let Some(f) = filter {
                if !f.eval_predicate(&both, &upsert.params)? {
                    continue;
                }
            }
            let mut new_row = existing;
            for (c, e) in assignments {
                new_row[*c] = e.eval(&both, &upsert.params)?;
            }
            for (c, _) in assignments {
                if table.columns[*c].not_null && new_row[*c].is_null() {
                    return Err(not_null_violation(table, *c, &new_row));
                }
            }
            check_constraints(table, &upsert.checks, &new_row, &upsert.params)?;
            give_back(&new_row)?;
            ops.push(WriteOp::Put {
                table: table.id,
                key: key.clone(),
                row: new_row,
            });
        }
        let count = ops.len() as u64;
        self.index_ops(&store, table, &mut ops, mode, changes)?;
        Ok((WriteSet { ops }, count, returned))
    }

    /// The rows an UPDATE or DELETE changes, as PostgreSQL finds them. The
    /// statement retries after waiting for a locked row, and `candidates`
    /// keeps the keys its first attempt matched: a retry re-checks only
    /// those rows, on their newest versions, never picking up others.
    /// READ COMMITTED reads the newest committed rows (so it waits for a
    /// writer and works on its result). With a snapshot (REPEATABLE READ,
    /// SERIALIZABLE) rows are matched as the snapshot sees them, and one
    /// changed since fails with 40001. A transaction's own writes overlay
    /// both.
    fn modify_writes(
        &self,
        plan: &Plan,
        params: &Params,
        mode: WriteMode,
        candidates: &mut Option<Vec<Vec<u8>>>,
        changes: &RefCell<Vec<EntryChange>>,
    ) -> Result<(WriteSet, u64, Vec<Row>)> {
        let (table, primary_key, index, filter, returning, joined) = match plan {
            Plan::Update(u) => (
                &u.table,
                &u.primary_key,
                &u.index,
                &u.filter,
                &u.returning,
                &u.joined,
            ),
            Plan::Delete(d) => (
                &d.table,
                &d.primary_key,
                &d.index,
                &d.filter,
                &d.returning,
                &d.joined,
            ),
            _ => return Err(Error::internal("modify with a non-DML plan")),
        };
        let mut returned = Vec::new();
        let mut give_back = |row: &[Value]| -> Result<()> {
            if !returning.is_empty() {
                let mut out = Vec::with_capacity(returning.len());
                for e in returning {
                    out.push(e.eval(row, params)?);
                }
                returned.push(out);
            }
            Ok(())
        };
        let txn = mode.txn();
        let snapshot = mode.snapshot();
        let store = self.store.borrow();
        let t = store
            .table(table.id)
            .ok_or_else(|| undefined_table(table))?;
        // Whether the statement works on a row (`None`: it does not); with
        // FROM/USING, also the first row joined to it, which the
        // assignments and RETURNING read.
        let consider = |row: &Vec<Value>| -> Result<Option<Option<Row>>> {
            if let Some(f) = filter {
                if !f.eval_predicate(row, params)? {
                    return Ok(None);
                }
            }
            match joined {
                Some(j) => Ok(j.first(row, params)?.map(Some)),
                None => Ok(Some(None)),
            }
        };
        // `[row…, joined row…]`, with FROM/USING.
        let widened = |row: &[Value], joined_row: Option<Row>| {
            joined_row.map(|j| {
                let mut wide = row.to_vec();
                wide.extend(j);
                wide
            })
        };
        // The row under `key` this statement works on: its own intent, else
        // the newest committed version, which with a snapshot must be the
        // one the snapshot sees.
        let current = |key: &[u8]| -> Result<Option<Vec<Value>>> {
            if let Some(own) = self.intent(txn, table.id, key) {
                return Ok(own);
            }
            if let Some(snapshot) = snapshot {
                if t.get(key, snapshot).is_some()
                    && store
                        .latest_ts(table.id, key)
                        .is_some_and(|ts| ts > snapshot)
                {
                    return Err(conflict());
                }
            }
            Ok(t.get(key, LATEST).cloned())
        };
        let read_at = snapshot.unwrap_or(LATEST);
        let mut matched: Vec<(Vec<u8>, Vec<Value>, Option<Row>)> = Vec::new();
        match candidates {
            Some(keys) => {
                for key in keys.iter() {
                    if let Some(row) = current(key)? {
                        if let Some(joined_row) = consider(&row)? {
                            matched.push((key.clone(), row, joined_row));
                        }
                    }
                }
            }
            None => {
                // The rows as read (at the snapshot, or the newest, under the
                // block's own writes), and whether each is the block's own.
                let mut seen: Vec<(Vec<u8>, Vec<Value>, bool)> = Vec::new();
                match primary_key {
                    Some(exprs) => {
                        if let Some(key) = eval_key(table, &table.primary_key, exprs, params)? {
                            self.note_read(mode.reader(), table.id, Some(&key));
                            match self.intent(txn, table.id, &key) {
                                Some(own) => seen.extend(own.map(|row| (key, row, true))),
                                None => {
                                    let row = t.get(&key, read_at).cloned();
                                    seen.extend(row.map(|row| (key, row, false)));
                                }
                            }
                        }
                    }
                    None => {
                        self.note_read(mode.reader(), table.id, None);
                        let through = index.as_ref().filter(|ix| {
                            ix.index.as_ref().is_none_or(|i| {
                                !i.is_global(table) && i.valid_from != 0 && i.valid_from <= read_at
                            }) && !self.has_intents_in(txn, table.id)
                        });
                        let entries = through.and_then(|ix| match &ix.index {
                            Some(i) => store.table(i.storage.id),
                            None => Some(t),
                        });
                        if let (Some(ix), Some(entries)) = (through, entries) {
                            if let Some(range) = Self::index_range(ix, table, params)? {
                                let row_key: Option<Vec<usize>> =
                                    ix.index.as_ref().map(|i| i.row_key_columns().collect());
                                for (k, entry) in entries.range_at(range, read_at) {
                                    let Some(row_key) = &row_key else {
                                        seen.push((k.to_vec(), entry.clone(), false));
                                        continue;
                                    };
                                    let k = encode_key(entry, row_key);
                                    if let Some(row) = t.get(&k, read_at) {
                                        seen.push((k, row.clone(), false));
                                    }
                                }
                            }
                            // In key order, as a table scan gives them.
                            seen.sort_unstable_by(|a, b| a.0.cmp(&b.0));
                        } else {
                            for (k, row) in t.iter_at(None, read_at) {
                                if !self.has_intent(txn, table.id, k) {
                                    seen.push((k.to_vec(), row.clone(), false));
                                }
                            }
                            for (k, row) in self.intent_rows(txn, table.id) {
                                seen.push((k, row, true));
                            }
                        }
                    }
                }
                // A row read at the snapshot is the one worked on, unless it
                // changed since (40001, checked before the filter's verdict
                // counts, as `current` does on a retry).
                let mut keys = Vec::new();
                for (key, row, own) in seen {
                    let matches = consider(&row);
                    if matches.as_ref().is_ok_and(Option::is_none) {
                        continue;
                    }
                    if let (Some(snapshot), false) = (snapshot, own) {
                        if store
                            .latest_ts(table.id, &key)
                            .is_some_and(|ts| ts > snapshot)
                        {
                            return Err(conflict());
                        }
                    }
                    let Some(joined_row) = matches? else {
                        continue;
                    };
                    keys.push(key.clone());
                    matched.push((key, row, joined_row));
                }
                *candidates = Some(keys);
            }
        }
        let count = matched.len() as u64;
        let mut ops = Vec::with_capacity(matched.len());
        let mut moved = Vec::new();
        match plan {
            Plan::Delete(_) => {
                for (k, row, joined_row) in matched {
                    if !returning.is_empty() {
                        give_back(&widened(&row, joined_row).unwrap_or(row))?;
                    }
                    ops.push(WriteOp::Delete {
                        table: table.id,
                        key: k,
                    });
                }
            }
            Plan::Update(u) => {
                for (k, row, joined_row) in matched {
                    let wide = widened(&row, joined_row);
                    let mut new_row = row.clone();
                    for (c, e) in &u.assignments {
                        new_row[*c] = e.eval(wide.as_deref().unwrap_or(&row), params)?;
                    }
                    for (c, _) in &u.assignments {
                        if table.columns[*c].not_null && new_row[*c].is_null() {
                            return Err(not_null_violation(table, *c, &new_row));
                        }
                    }
                    check_constraints(table, &u.checks, &new_row, params)?;
                    if u.moves {
                        if txn.is_none() {
                            return Err(Error::internal(
                                "an UPDATE that moves rows outside a transaction",
                            ));
                        }
                        // The row leaves its key here; the router inserts
                        // it under its new one: `[old key, old row…, new
                        // row…, RETURNING…]`.
                        let mut out = Vec::with_capacity(1 + 2 * row.len() + returning.len());
                        out.push(Value::Bytea(k.clone()));
                        out.extend(row.iter().cloned());
                        out.extend(new_row.iter().cloned());
                        let over = match wide {
                            Some(mut wide) => {
                                wide[..new_row.len()].clone_from_slice(&new_row);
                                wide
                            }
                            None => new_row,
                        };
                        for e in returning {
                            out.push(e.eval(&over, params)?);
                        }
                        moved.push(out);
                        ops.push(WriteOp::Delete {
                            table: table.id,
                            key: k,
                        });
                        continue;
                    }
                    if !returning.is_empty() {
                        match wide {
                            Some(mut wide) => {
                                wide[..new_row.len()].clone_from_slice(&new_row);
                                give_back(&wide)?;
                            }
                            None => give_back(&new_row)?,
                        }
                    }
                    ops.push(WriteOp::Put {
                        table: table.id,
                        key: k,
                        row: new_row,
                    });
                }
            }
            _ => unreachable!(),
        }
        returned.append(&mut moved);
        self.index_ops(&store, table, &mut ops, mode, changes)?;
        Ok((WriteSet { ops }, count, returned))
    }

    // ---- the key-value path (plugins) ----------------------------------------
    //
    // Point reads, small ranges and atomic writes on this shard's own rows,
    // with no SQL on the way: what the Redis and Cassandra plugins build on.
    // The caller routes by bucket; these methods keep the same guarantees as
    // SQL statements (snapshot reads that wait for prepared writes,
    // log-then-apply writes under key locks, the memory limit).

    /// The row under `key`, as of now.
    pub async fn kv_get(&self, table: &TableDef, key: &[u8]) -> Result<Option<Vec<Value>>> {
        let (floor, ts) = self.begin_read();
        self.wait_for_prepared(table.id, ts).await;
        let (row, seen) = store::count_seen(0, || {
            let store = self.store.borrow();
            let t = store.table(table.id).ok_or_else(|| undefined_table(table));
            t.map(|t| t.get(key, ts).cloned())
        });
        self.end_read(floor);
        self.wait_seen_published(seen).await?;
        row
    }

    /// Up to `limit` rows with keys in `range`, in key order, as of now.
    /// An empty or inverted range returns nothing.
    pub async fn kv_scan(
        &self,
        table: &TableDef,
        range: (std::ops::Bound<Vec<u8>>, std::ops::Bound<Vec<u8>>),
        limit: usize,
    ) -> Result<Vec<(Vec<u8>, Vec<Value>)>> {
        if is_empty_range(&range) || limit == 0 {
            return Ok(vec![]);
        }
        let (floor, ts) = self.begin_read();
        self.wait_for_prepared(table.id, ts).await;
        let (rows, seen) = store::count_seen(0, || {
            let store = self.store.borrow();
            store
                .table(table.id)
                .ok_or_else(|| undefined_table(table))
                .map(|t| {
                    t.range_at(range, ts)
                        .take(limit)
                        .map(|(k, r)| (k.to_vec(), r.clone()))
                        .collect()
                })
        });
        self.end_read(floor);
        self.wait_seen_published(seen).await?;
        rows
    }

    /// Applies `writes` atomically and durably; returns once they are
    /// visible. Keys locked by other writes are waited for.
    pub async fn kv_write(&self, writes: WriteSet) -> Result<()> {
        let count = writes.ops.len() as u64;
        let compute = || {
            let store = self.store.borrow();
            if let Some(op) = writes
                .ops
                .iter()
                .find(|op| store.table(op.table()).is_none())
            {
                return Err(Error::new(
                    sqlstate::UNDEFINED_TABLE,
                    format!("table {} does not exist", op.table()),
                ));
            }
            Ok((writes.clone(), count))
        };
        self.write(WriteMode::Autocommit, compute).await.map(|_| ())
    }

    // ---- catalog (shard 0) -------------------------------------------------

    fn catalog_log(&self) -> Result<&catalog_log::CatalogLog> {
        self.catalog_log.as_ref().ok_or_else(|| {
            Error::internal(format!("DDL sent to shard {}, not shard 0", self.shard))
        })
    }

    async fn create_table(
        &self,
        table: TableDef,
        sequences: Vec<(SequenceDef, u32)>,
        if_not_exists: bool,
        block: Block,
    ) -> Result<ShardResponse> {
        let ddl = self.ddl(block).await?;
        let catalog = ddl.catalog.clone();
        types::type_taken(&catalog, table.schema, &table.name)?;
        if let Some(skipped) = name_taken(&catalog, table.schema, &table.name, if_not_exists)? {
            return Ok(skipped);
        }
        if catalog.schema_by_id(table.schema).is_none() {
            return Err(schema_dropped());
        }
        for (s, _) in &sequences {
            if let Some(taken) = name_taken(&catalog, s.schema, &s.name, false)? {
                return Ok(taken);
            }
        }
        let (mut next, def) = catalog.with_table(table);
        let mut owned = Vec::new();
        for (mut s, column) in sequences {
            s.owned_by = Some((def.id, column));
            let (with, s) = next.with_sequence(s);
            next = with;
            owned.push((*s).clone());
        }
        let record = CatalogRecord::CreateTable {
            table: (*def).clone(),
            sequences: owned,
        };
        ddl.apply_one(record, next).await?;
        Ok(ShardResponse::Done(vec![]))
    }

    async fn create_sequence(
        &self,
        sequence: SequenceDef,
        if_not_exists: bool,
        block: Block,
    ) -> Result<ShardResponse> {
        let ddl = self.ddl(block).await?;
        let catalog = ddl.catalog.clone();
        types::type_taken(&catalog, sequence.schema, &sequence.name)?;
        if let Some(skipped) = name_taken(&catalog, sequence.schema, &sequence.name, if_not_exists)?
        {
            return Ok(skipped);
        }
        if catalog.schema_by_id(sequence.schema).is_none() {
            return Err(schema_dropped());
        }
        if let Some((table, _)) = sequence.owned_by {
            if catalog.table_by_id(table).is_none() {
                return Err(Error::new(
                    sqlstate::UNDEFINED_TABLE,
                    "the table of OWNED BY was dropped",
                ));
            }
        }
        let (next, def) = catalog.with_sequence(sequence);
        ddl.apply_one(CatalogRecord::CreateSequence((*def).clone()), next)
            .await?;
        Ok(ShardResponse::Done(vec![]))
    }

    async fn alter_table(
        &self,
        table: TableDef,
        dropped: &[crate::plan::DroppedColumn],
        path: &[tessera_types::SchemaId],
        block: Block,
    ) -> Result<ShardResponse> {
        let ddl = self.ddl(block).await?;
        let catalog = ddl.catalog.clone();
        let Some(old) = catalog.table_by_id(table.id) else {
            return Err(Error::new(
                sqlstate::UNDEFINED_TABLE,
                "the table was dropped while it was being altered",
            ));
        };
        if old.name != table.name {
            name_taken(&catalog, table.schema, &table.name, false)?;
        }
        if dropped.is_empty() {
            let record = CatalogRecord::AlterTable(table.clone());
            ddl.apply_one(record, catalog.with_table_altered(table))
                .await?;
            return Ok(ShardResponse::Done(vec![]));
        }
        // Column after column, as PostgreSQL drops them: what one takes
        // is gone for the next. `now` keeps the table as it was, so that
        // messages name its columns.
        let id = table.id;
        let mut now = (*catalog).clone();
        let mut altered = vec![table];
        let mut relations = Vec::new();
        let mut notices = Vec::new();
        for d in dropped {
            let readers = [ColumnReaders {
                table: id,
                column: d.column,
                views: d.views.clone(),
            }];
            let named = vec![Object::Column {
                table: id,
                column: d.column,
            }];
            let plan = DropPlan::new(&now, named, &readers);
            notices.extend(plan.decide(&now, d.cascade, path)?);
            plan.alter(&now, &mut altered);
            let others: Vec<TableDef> = altered.iter().filter(|t| t.id != id).cloned().collect();
            let gone = plan.relations();
            now = now.with_drop(&others, &gone, &[]);
            relations.extend(gone);
        }
        drop_in_catalog(ddl, altered, relations, vec![]).await?;
        Ok(ShardResponse::Done(notices))
    }

    async fn create_view(
        &self,
        view: tessera_types::ViewDef,
        or_replace: bool,
        block: Block,
    ) -> Result<ShardResponse> {
        let ddl = self.ddl(block).await?;
        let catalog = ddl.catalog.clone();
        if catalog.schema_by_id(view.schema).is_none() {
            return Err(schema_dropped());
        }
        match catalog.view(view.schema, &view.name) {
            Some(old) if or_replace => check_view_replacement(old, &view)?,
            None if catalog.relation_exists(view.schema, &view.name) && or_replace => {
                return Err(Error::new(
                    sqlstate::WRONG_OBJECT_TYPE,
                    format!("\"{}\" is not a view", view.name),
                ))
            }
            _ => {
                types::type_taken(&catalog, view.schema, &view.name)?;
                name_taken(&catalog, view.schema, &view.name, false)?;
            }
        }
        if view
            .depends_on
            .iter()
            .any(|id| catalog.table_by_id(*id).is_none() && !catalog.views().any(|v| v.id == *id))
        {
            return Err(Error::new(
                sqlstate::UNDEFINED_TABLE,
                "a relation the view reads was dropped while it was being created",
            ));
        }
        let (next, def) = catalog.with_view(view);
        ddl.apply_one(CatalogRecord::CreateView((*def).clone()), next)
            .await?;
        Ok(ShardResponse::Done(vec![]))
    }

    /// At a clean shutdown, on shard 0: records of exactly where every
    /// sequence is, so that they resume without the gap a crash leaves (in
    /// a cluster, where no other node moved a sequence since this node's
    /// last claim).
    pub async fn save_sequences(&self) -> Result<()> {
        if self.catalog_log.is_none() {
            return Ok(());
        }
        let catalog = self.catalog_cell.load();
        let records: Vec<SequenceClaim> =
            catalog.sequences().map(|s| s.state.exact(s.id)).collect();
        if records.is_empty() {
            return Ok(());
        }
        if self.catalog_log()?.shared.is_none() {
            self.log_sequences(records).await?;
            return Ok(());
        }
        // In a cluster, not for long: the other nodes may be stopping too,
        // and then the values are only skipped.
        match tokio::time::timeout(SEQUENCE_RETURN_WAIT, self.log_sequences(records)).await {
            Ok(done) => done.map(|_| ()),
            Err(_) => Ok(()),
        }
    }

    /// Makes the records durable that are not yet (an older generation
    /// than one already logged adds nothing), then marks them logged; in a
    /// cluster, claims them (`claim_sequences`).
    async fn log_sequences(&self, records: Vec<SequenceClaim>) -> Result<ShardResponse> {
        let log = self.catalog_log()?;
        if log.shared.is_some() {
            self.claim_sequences(records).await?;
            return Ok(ShardResponse::Done(vec![]));
        }
        let _guard = log.order.lock().await;
        let catalog = self.catalog_cell.load();
        let fresh: Vec<SequenceRecord> = catalog_log::not_yet_logged(&catalog, records)
            .iter()
            .map(SequenceClaim::record)
            .collect();
        if fresh.is_empty() {
            return Ok(ShardResponse::Done(vec![]));
        }
        log.local
            .append_durable(&CatalogRecord::SequenceValues(fresh.clone()).encode())
            .await?;
        for (id, generation, ..) in fresh {
            if let Some(s) = catalog.sequence_by_id(id) {
                s.state.logged(generation);
            }
        }
        Ok(ShardResponse::Done(vec![]))
    }

    async fn drop_relations(
        &self,
        kind: Relation,
        names: Vec<RelationRef>,
        if_exists: bool,
        cascade: bool,
        path: &[tessera_types::SchemaId],
        block: Block,
    ) -> Result<ShardResponse> {
        let ddl = self.ddl(block).await?;
        let catalog = ddl.catalog.clone();
        let (what, missing) = match kind {
            Relation::Table => ("table", sqlstate::UNDEFINED_TABLE),
            Relation::Index => ("index", sqlstate::UNDEFINED_OBJECT),
            Relation::Sequence => ("sequence", sqlstate::UNDEFINED_TABLE),
            Relation::View => ("view", sqlstate::UNDEFINED_TABLE),
        };
        let mut notices = Vec::new();
        let mut ids = Vec::new();
        for named in &names {
            let name = named.name.as_str();
            let id = named.schema.and_then(|schema| match kind {
                Relation::Table => catalog.table(schema, name).map(|t| t.id),
                Relation::Index => catalog.index(schema, name).map(|i| i.storage.id),
                Relation::Sequence => catalog.sequence(schema, name).map(|s| s.id),
                Relation::View => catalog.view(schema, name).map(|v| v.id),
            });
            if let (None, Some(schema)) = (id, named.schema) {
                if catalog.relation_exists(schema, name) {
                    let article = if what == "index" { "an" } else { "a" };
                    let (verb, noun) = relation_kind(&catalog, schema, name);
                    return Err(Error::new(
                        sqlstate::WRONG_OBJECT_TYPE,
                        format!("\"{name}\" is not {article} {what}"),
                    )
                    .with_hint(format!("Use DROP {verb} to remove {noun}.")));
                }
            }
            match id {
                Some(id) => ids.push(id),
                None if if_exists => notices.push(Notice::new(
                    sqlstate::SUCCESSFUL_COMPLETION,
                    format!("{what} \"{name}\" does not exist, skipping"),
                )),
                None => {
                    return Err(Error::new(
                        missing,
                        format!("{what} \"{name}\" does not exist"),
                    ))
                }
            }
        }
        let named = ids.iter().map(|id| Object::Relation(*id)).collect();
        let plan = DropPlan::new(&catalog, named, &[]);
        notices.extend(plan.decide(&catalog, cascade, path)?);
        if !ids.is_empty() {
            let mut altered = Vec::new();
            plan.alter(&catalog, &mut altered);
            drop_in_catalog(ddl, altered, plan.relations(), vec![]).await?;
        }
        Ok(ShardResponse::Done(notices))
    }

    async fn create_index(
        &self,
        index: IndexDef,
        if_not_exists: bool,
        block: Block,
    ) -> Result<ShardResponse> {
        let ddl = self.ddl(block).await?;
        let catalog = ddl.catalog.clone();
        if let Some(skipped) = name_taken(&catalog, index.schema(), &index.name, if_not_exists)? {
            return Ok(skipped);
        }
        if catalog.table_by_id(index.table).is_none() {
            return Err(Error::new(
                sqlstate::UNDEFINED_TABLE,
                "the table was dropped while the index was being created",
            ));
        }
        let (next, def) = catalog.with_index(index);
        ddl.apply_one(CatalogRecord::CreateIndex((*def).clone()), next)
            .await?;
        Ok(ShardResponse::Index(def.storage.id))
    }

    async fn replace_table(
        &self,
        old: tessera_types::TableId,
        new: tessera_types::TableId,
        block: Block,
    ) -> Result<ShardResponse> {
        let ddl = self.ddl(block).await?;
        let catalog = ddl.catalog.clone();
        if catalog.table_by_id(old).is_none() || catalog.table_by_id(new).is_none() {
            return Err(Error::new(
                sqlstate::UNDEFINED_TABLE,
                "the table was dropped while it was being rewritten",
            ));
        }
        let record = CatalogRecord::ReplaceTable { old, new };
        ddl.apply_one(record, catalog.with_table_replaced(old, new))
            .await?;
        Ok(ShardResponse::Done(vec![]))
    }

    /// See `ShardRequest::LockTable`. The lock is taken first, so no new
    /// write starts; writes being committed are waited for; an open
    /// block's uncommitted writes would commit after it, so they fail it.
    async fn lock_table(
        &self,
        holder: TxId,
        table: tessera_types::TableId,
    ) -> Result<ShardResponse> {
        self.read_locks
            .borrow_mut()
            .entry(holder)
            .or_default()
            .tables
            .insert(table);
        loop {
            let (open_block, busy) = {
                let store = self.store.borrow();
                let intents = self.intents.borrow();
                let mut open_block = None;
                let mut busy = false;
                for owner in store.lock_owners_in(table) {
                    match owner {
                        // The holder's own block writes on under it.
                        LockOwner::Tx(tx) if tx == holder => {}
                        LockOwner::Tx(tx) if intents.contains_key(&tx) => open_block = Some(tx),
                        _ => busy = true,
                    }
                }
                (open_block, busy)
            };
            if let Some(tx) = open_block {
                self.release_reads(holder);
                return Err(Error::new(
                    sqlstate::LOCK_NOT_AVAILABLE,
                    format!(
                        "could not lock the table: transaction {tx} has uncommitted writes to it"
                    ),
                )
                .with_hint("Retry once that transaction ends."));
            }
            if !busy {
                return Ok(ShardResponse::Done(vec![]));
            }
            // Registered before any other task runs: no unlock is missed.
            self.unlocked.notified().await;
        }
    }

    /// See `ShardRequest::UnlockTable`.
    fn unlock_table(&self, holder: TxId, table: tessera_types::TableId) {
        let released = self
            .read_locks
            .borrow_mut()
            .get_mut(&holder)
            .is_some_and(|set| set.tables.remove(&table));
        if released {
            self.unlocked.notify_waiters();
        }
    }

    async fn index_valid(
        &self,
        storage: tessera_types::TableId,
        valid_from: Timestamp,
        block: Block,
    ) -> Result<ShardResponse> {
        let ddl = self.ddl(block).await?;
        let catalog = ddl.catalog.clone();
        if !catalog.indexes().any(|i| i.storage.id == storage) {
            return Err(Error::new(
                sqlstate::UNDEFINED_OBJECT,
                "the index was dropped while it was being built",
            ));
        }
        let record = CatalogRecord::IndexValid {
            storage,
            valid_from,
        };
        ddl.apply_one(record, catalog.with_index_valid(storage, valid_from))
            .await?;
        Ok(ShardResponse::Done(vec![]))
    }

    /// Writes the entries of this shard's rows into a new index, a batch at
    /// a time, while writes go on. Writes that start after the index is in
    /// the catalog add their own entries; a row locked by a write that
    /// started before (and so will be applied without its entry) is waited
    /// for, then indexed.
    async fn build_index(
        &self,
        storage: tessera_types::TableId,
        block: Block,
    ) -> Result<ShardResponse> {
        const BUILD_ROWS_PER_BATCH: usize = 512;
        if let Some((tx, savepoint)) = block {
            return self.build_index_in_block(storage, tx, savepoint).await;
        }
        let catalog = self.catalog();
        let Some(index) = catalog.indexes().find(|i| i.storage.id == storage).cloned() else {
            return Err(Error::new(
                sqlstate::UNDEFINED_OBJECT,
                "the index was dropped while it was being built",
            ));
        };
        let Some(table) = catalog.table_by_id(index.table).cloned() else {
            return Err(Error::new(
                sqlstate::UNDEFINED_TABLE,
                "the table was dropped while its index was being built",
            ));
        };
        if index.is_global(&table) {
            return Err(Error::internal(
                "a global index is built by its router (IndexBackfill)",
            ));
        }
        // A global table's copy in a cluster makes its entries itself
        // (every node's, as it applies the index's catalog record).
        if table.global && self.shared_log().is_ok() {
            self.index_global_copy(false);
            return Ok(ShardResponse::Done(vec![]));
        }
        let mut after: Option<Vec<u8>> = None;
        loop {
            let blocked = Cell::new(false);
            let next = RefCell::new(None);
            self.write(WriteMode::Autocommit, || {
                blocked.set(false);
                let store = self.store.borrow();
                let t = store
                    .table(table.id)
                    .ok_or_else(|| undefined_table(&table))?;
                let mut ops = Vec::new();
                let mut batch_keys = std::collections::HashSet::new();
                let mut n = 0;
                let mut last = None;
                for (key, row) in t.iter_at(after.as_deref(), LATEST) {
                    if store.lock_owner(table.id, key).is_some() {
                        blocked.set(true);
                        return Ok((WriteSet::default(), 0));
                    }
                    if let Some((entry_key, values)) = index_entry(&index, &table, key, row) {
                        match store.get(storage, &entry_key, LATEST) {
                            Some(existing) if *existing == values => {}
                            Some(_) => return Err(unique_violation(&index, &table, &values, true)),
                            None => {
                                if !batch_keys.insert(entry_key.clone()) {
                                    return Err(unique_violation(&index, &table, &values, true));
                                }
                                ops.push(WriteOp::Put {
                                    table: storage,
                                    key: entry_key,
                                    row: values,
                                });
                            }
                        }
                    }
                    n += 1;
                    if n == BUILD_ROWS_PER_BATCH {
                        last = Some(key.to_vec());
                        break;
                    }
                }
                *next.borrow_mut() = last;
                Ok((WriteSet { ops }, 0))
            })
            .await?;
            if blocked.get() {
                // Registered before any other task runs: no unlock is missed.
                self.unlocked.notified().await;
                continue;
            }
            match next.into_inner() {
                Some(key) => {
                    after = Some(key);
                    tokio::task::yield_now().await;
                }
                None => return Ok(ShardResponse::Done(vec![])),
            }
        }
    }

    /// CREATE INDEX inside block `tx`: the entries of the rows the block
    /// sees here (the committed ones and its own) become its writes, so
    /// they commit with it and only it sees them meanwhile. The router
    /// holds every other write to the table (`LockTable`) first.
    async fn build_index_in_block(
        &self,
        storage: tessera_types::TableId,
        tx: TxId,
        savepoint: u32,
    ) -> Result<ShardResponse> {
        let catalog = self.catalog_as(Some(tx));
        let (Some(index), Some(table)) = (
            catalog.indexes().find(|i| i.storage.id == storage).cloned(),
            catalog
                .indexes()
                .find(|i| i.storage.id == storage)
                .and_then(|i| catalog.table_by_id(i.table).cloned()),
        ) else {
            return Err(Error::internal("building an index the block does not have"));
        };
        if index.is_global(&table) {
            return Err(Error::internal(
                "a global index is built by its router (IndexBackfill)",
            ));
        }
        let mode = WriteMode::Txn {
            id: tx,
            snapshot: None,
            savepoint,
            track_reads: false,
        };
        self.write(mode, || {
            let rows = self.block_rows(&table, tx)?;
            let mut ops = Vec::new();
            let mut taken = std::collections::HashSet::new();
            for (key, row) in &rows {
                if let Some((entry_key, values)) = index_entry(&index, &table, key, row) {
                    if !taken.insert(entry_key.clone()) {
                        return Err(unique_violation(&index, &table, &values, true));
                    }
                    ops.push(WriteOp::Put {
                        table: storage,
                        key: entry_key,
                        row: values,
                    });
                }
            }
            Ok((WriteSet { ops }, 0))
        })
        .await?;
        Ok(ShardResponse::Done(vec![]))
    }
}

impl ShardContext {
    /// The rows of `table` here as block `tx` sees them now: the latest
    /// committed ones it has not written, then its own (not deleted ones).
    fn block_rows(&self, table: &TableDef, tx: TxId) -> Result<Vec<(Vec<u8>, Vec<Value>)>> {
        let mut rows = Vec::new();
        {
            let store = self.store.borrow();
            let t = store
                .table(table.id)
                .ok_or_else(|| undefined_table(table))?;
            let intents = self.intents.borrow();
            let mine = intents.get(&tx);
            for (key, row) in t.iter_at(None, LATEST) {
                if !mine.is_some_and(|m| m.contains_key(&(table.id, key.to_vec()))) {
                    rows.push((key.to_vec(), row.to_vec()));
                }
            }
        }
        rows.extend(self.intent_rows(Some(tx), table.id));
        Ok(rows)
    }

    /// ALTER TABLE … ADD COLUMN or … TYPE inside block `tx`: the stored
    /// rows keep the committed shape (other sessions read them with the
    /// committed catalog), and the block gets its own version of every
    /// row, widened by the added columns' values and with the retyped
    /// columns converted, as its writes under `savepoint`. COMMIT makes
    /// them the rows (the committed catalog then widens and converts the
    /// older versions, as outside a block); ROLLBACK drops them with the
    /// catalog change. PostgreSQL rewrites the table for a type change in
    /// the same way; the block holds the table (`LockTable`), so no other
    /// write lands between.
    async fn reshape_in_block(
        &self,
        table: tessera_types::TableId,
        tx: TxId,
        savepoint: u32,
    ) -> Result<ShardResponse> {
        let catalog = self.catalog_as(Some(tx));
        let Some(def) = catalog.table_by_id(table).cloned() else {
            return Err(Error::internal("reshaping a table the block does not have"));
        };
        let fill = def.widening();
        let retyped: Vec<(usize, tessera_types::DataType)> = def.retyped().collect();
        let reshape = |mut row: Vec<Value>| -> Result<Vec<Value>> {
            if let Some(fill) = fill.as_ref().filter(|f| f.len() > row.len()) {
                row.extend_from_slice(&fill[row.len()..]);
            }
            for &(c, to) in &retyped {
                if let Some(v) = row.get_mut(c).filter(|v| !v.is_null()) {
                    *v = std::mem::replace(v, Value::Null).cast(to, true)?;
                }
            }
            Ok(row)
        };
        let mode = WriteMode::Txn {
            id: tx,
            snapshot: None,
            savepoint,
            track_reads: false,
        };
        self.write(mode, || {
            let ops = self
                .block_rows(&def, tx)?
                .into_iter()
                .map(|(key, row)| {
                    Ok(WriteOp::Put {
                        table,
                        key,
                        row: reshape(row)?,
                    })
                })
                .collect::<Result<_>>()?;
            Ok((WriteSet { ops }, 0))
        })
        .await?;
        Ok(ShardResponse::Done(vec![]))
    }
}

/// The most rows a query may take from `generate_series` unaggregated.
pub const SERIES_ROWS_MAX: usize = 10_000_000;

/// Feeds the rows of `generate_series` to `push`, yielding to the event
/// loop between batches.
async fn series_rows(
    series: &crate::plan::SeriesScan,
    params: &crate::expr::Params,
    mut push: impl FnMut(&[Value]) -> Result<()>,
) -> Result<()> {
    if !series.functions.is_empty() {
        for row in crate::srf::rows_from(&series.functions, params)? {
            push(&row)?;
        }
        return Ok(());
    }
    let Some(mut values) = series_of(series, params)? else {
        return Ok(());
    };
    let mut n = 0usize;
    while let Some(v) = values.next_value()? {
        push(&[v])?;
        n += 1;
        if n.is_multiple_of(SCAN_ROWS_PER_YIELD) {
            tokio::task::yield_now().await;
        }
    }
    Ok(())
}

/// A lone `generate_series` in FROM as a [`crate::srf::Series`]: `None`
/// when an argument is NULL.
fn series_of(
    series: &crate::plan::SeriesScan,
    params: &crate::expr::Params,
) -> Result<Option<crate::srf::Series>> {
    let mut args = vec![
        series.start.eval(&[], params)?,
        series.stop.eval(&[], params)?,
    ];
    if let Some(step) = &series.step {
        args.push(step.eval(&[], params)?);
    }
    crate::srf::Series::new(series.data_type, &args, &params.time.zone)
}

/// The values of `generate_series`. Like PostgreSQL: a NULL argument
/// gives none, a zero step is 22023, and the series stops before passing
/// `stop` (or the end of its type's range). Integers come one at a time;
/// the other types' series (whose steps can fail) are computed whole,
/// bounded by `SERIES_ROWS_MAX`.
pub(crate) fn series_values(
    series: &crate::plan::SeriesScan,
    params: &crate::expr::Params,
) -> Result<Box<dyn Iterator<Item = Value>>> {
    if !series.data_type.is_integer() {
        let mut values = Vec::new();
        if let Some(mut s) = series_of(series, params)? {
            while let Some(v) = s.next_value()? {
                if values.len() >= SERIES_ROWS_MAX {
                    return Err(Error::new(
                        sqlstate::PROGRAM_LIMIT_EXCEEDED,
                        format!(
                            "generate_series would return more than {SERIES_ROWS_MAX} rows to one query"
                        ),
                    ));
                }
                values.push(v);
            }
        }
        return Ok(Box::new(values.into_iter()));
    }
    let int = |e: &crate::expr::Expr| -> Result<Option<i64>> { Ok(e.eval(&[], params)?.as_i64()) };
    let bounds = match (int(&series.start)?, int(&series.stop)?) {
        (Some(start), Some(stop)) => match &series.step {
            Some(e) => int(e)?.map(|step| (start, stop, step)),
            None => Some((start, stop, 1)),
        },
        _ => None,
    };
    if bounds.is_some_and(|(_, _, step)| step == 0) {
        return Err(Error::new(
            sqlstate::INVALID_PARAMETER_VALUE,
            "step size cannot equal zero",
        ));
    }
    let int8 = series.data_type == tessera_types::DataType::Int8;
    let (start, stop, step) = bounds.unwrap_or((1, 0, 1));
    let mut next = Some(start);
    Ok(Box::new(std::iter::from_fn(move || {
        let at = next.filter(|at| (step > 0 && *at <= stop) || (step < 0 && *at >= stop))?;
        next = at.checked_add(step);
        Some(if int8 {
            Value::Int8(at)
        } else {
            Value::Int4(at as i32)
        })
    })))
}

/// A table or index about to be created under `name` when a relation has
/// it already (tables and indexes share one namespace): 42P07, or with IF
/// NOT EXISTS the answer that skips it.
/// What DROP a relation needs, and how PostgreSQL's hint names it.
fn relation_kind(
    catalog: &Catalog,
    schema: tessera_types::SchemaId,
    name: &str,
) -> (&'static str, &'static str) {
    if catalog.table(schema, name).is_some() {
        ("TABLE", "a table")
    } else if catalog.index(schema, name).is_some() {
        ("INDEX", "an index")
    } else if catalog.view(schema, name).is_some() {
        ("VIEW", "a view")
    } else {
        ("SEQUENCE", "a sequence")
    }
}

/// CREATE OR REPLACE VIEW keeps the old columns, as PostgreSQL requires:
/// the same names and types in the same places, new ones only after them.
fn check_view_replacement(
    old: &tessera_types::ViewDef,
    new: &tessera_types::ViewDef,
) -> Result<()> {
    let bad = |m: String| Error::new(sqlstate::INVALID_TABLE_DEFINITION, m);
    if new.columns.len() < old.columns.len() {
        return Err(bad("cannot drop columns from view".into()));
    }
    for ((on, ot), (nn, nt)) in old.columns.iter().zip(&new.columns) {
        if on != nn {
            return Err(bad(format!(
                "cannot change name of view column \"{on}\" to \"{nn}\""
            ))
            .with_hint(
                "Use ALTER VIEW ... RENAME COLUMN ... to change name of view column instead.",
            ));
        }
        if ot != nt {
            return Err(bad(format!(
                "cannot change data type of view column \"{on}\" from {} to {}",
                ot.name(),
                nt.name()
            )));
        }
    }
    Ok(())
}

/// A relation about to be created in a schema a concurrent DROP SCHEMA
/// took away.
fn schema_dropped() -> Error {
    Error::new(
        sqlstate::INVALID_SCHEMA_NAME,
        "the schema was dropped while the relation was being created",
    )
}

/// Writes a drop and what it cascades to as one catalog record (see
/// `CatalogRecord::Drop`), then publishes it; `ddl.catalog` is what the
/// drop was decided on.
async fn drop_in_catalog(
    ddl: ddl::Ddl<'_>,
    altered: Vec<TableDef>,
    relations: Vec<tessera_types::TableId>,
    schemas: Vec<tessera_types::SchemaId>,
) -> Result<()> {
    let next = ddl.catalog.with_drop(&altered, &relations, &schemas);
    let record = CatalogRecord::Drop {
        altered,
        relations,
        schemas,
    };
    ddl.apply_one(record, next).await
}

fn name_taken(
    catalog: &Catalog,
    schema: tessera_types::SchemaId,
    name: &str,
    if_not_exists: bool,
) -> Result<Option<ShardResponse>> {
    if !catalog.relation_exists(schema, name) {
        return Ok(None);
    }
    if !if_not_exists {
        return Err(Error::new(
            sqlstate::DUPLICATE_TABLE,
            format!("relation \"{name}\" already exists"),
        ));
    }
    Ok(Some(ShardResponse::Done(vec![Notice::new(
        sqlstate::DUPLICATE_TABLE,
        format!("relation \"{name}\" already exists, skipping"),
    )])))
}

type KeyRange = (std::ops::Bound<Vec<u8>>, std::ops::Bound<Vec<u8>>);

/// Whether `range` holds no key (an ordered map would panic on some).
fn is_empty_range(range: &KeyRange) -> bool {
    use std::ops::Bound::{Excluded, Included};
    match (&range.0, &range.1) {
        (Included(a) | Excluded(a), Included(b) | Excluded(b)) if a > b => true,
        (Excluded(a), Excluded(b)) | (Included(a), Excluded(b)) | (Excluded(a), Included(b)) => {
            a == b
        }
        _ => false,
    }
}

/// The smallest key greater than every key starting with `prefix`; `None`
/// when there is none (`prefix` empty or all 0xFF).
fn prefix_end(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xFF {
            end.push(last + 1);
            return Some(end);
        }
    }
    None
}

/// The entry of `row` (stored under `key` in `table`) in `index`: its key
/// and columns. `None` when the row has no entry: a unique index leaves out
/// rows with a NULL in its columns, which never collide.
pub fn index_entry(
    index: &IndexDef,
    table: &TableDef,
    key: &[u8],
    row: &[Value],
) -> Option<(Vec<u8>, Vec<Value>)> {
    let mut values: Vec<Value> = index.columns.iter().map(|c| row[*c].clone()).collect();
    if index.unique && values.iter().any(Value::is_null) {
        return None;
    }
    if table.has_row_id() {
        // The key is the row id as a key-encoded int8: tag, then the
        // big-endian value with its sign bit flipped.
        let bytes: [u8; 8] = key.get(1..9)?.try_into().ok()?;
        values.push(Value::Int8((u64::from_be_bytes(bytes) ^ (1 << 63)) as i64));
    } else {
        values.extend(table.primary_key.iter().map(|c| row[*c].clone()));
    }
    Some((encode_key(&values, &index.storage.primary_key), values))
}

/// A unique index refusing `values` (its columns' values, in its order).
pub(crate) fn unique_violation(
    index: &IndexDef,
    table: &TableDef,
    values: &[Value],
    creating: bool,
) -> Error {
    let cols: Vec<&str> = index
        .columns
        .iter()
        .map(|c| table.columns[*c].name.as_str())
        .collect();
    let vals: Vec<String> = values
        .iter()
        .take(index.columns.len())
        .map(|v| v.to_text().unwrap_or_else(|| "null".into()))
        .collect();
    if creating {
        return Error::new(
            sqlstate::UNIQUE_VIOLATION,
            format!("could not create unique index \"{}\"", index.name),
        )
        .with_detail(format!(
            "Key ({})=({}) is duplicated.",
            cols.join(", "),
            vals.join(", ")
        ));
    }
    Error::new(
        sqlstate::UNIQUE_VIOLATION,
        format!(
            "duplicate key value violates unique constraint \"{}\"",
            index.name
        ),
    )
    .with_detail(format!(
        "Key ({})=({}) already exists.",
        cols.join(", "),
        vals.join(", ")
    ))
    .with_table(table.schema, &table.name)
    .with_constraint(&index.name)
}

/// Evaluates key expressions and encodes them as a key of `columns`; `None`
/// when a value cannot be a key of that column (NULL, or out of its range),
/// which matches no row.
pub fn eval_key(
    table: &TableDef,
    columns: &[usize],
    exprs: &[crate::expr::Expr],
    params: &Params,
) -> Result<Option<Vec<u8>>> {
    let mut values = vec![Value::Null; table.columns.len()];
    for (c, e) in columns.iter().zip(exprs) {
        let v = e.eval(&[], params)?;
        if v.is_null() {
            return Ok(None);
        }
        match v.cast_with(
            table.columns[*c].data_type.unconstrained(),
            true,
            &params.time,
        ) {
            Ok(v) => values[*c] = v,
            Err(e) if e.code == sqlstate::NUMERIC_VALUE_OUT_OF_RANGE => return Ok(None),
            Err(e) => return Err(e),
        }
    }
    Ok(Some(encode_key(&values, columns)))
}

pub fn duplicate_key(table: &TableDef, row: &[Value]) -> Error {
    let cols: Vec<&str> = table
        .primary_key
        .iter()
        .map(|c| table.columns[*c].name.as_str())
        .collect();
    let vals: Vec<String> = table
        .primary_key
        .iter()
        .map(|c| row[*c].to_text().unwrap_or_else(|| "null".into()))
        .collect();
    Error::new(
        sqlstate::UNIQUE_VIOLATION,
        format!(
            "duplicate key value violates unique constraint \"{}_pkey\"",
            table.name
        ),
    )
    .with_detail(format!(
        "Key ({})=({}) already exists.",
        cols.join(", "),
        vals.join(", ")
    ))
    .with_table(table.schema, &table.name)
    .with_constraint(format!("{}_pkey", table.name))
}

/// Fails with 23514 when a CHECK constraint is false for `row` (NULL
/// passes, as in SQL).
pub fn check_constraints(
    table: &TableDef,
    checks: &[(String, Expr)],
    row: &[Value],
    params: &Params,
) -> Result<()> {
    for (name, condition) in checks {
        if let Value::Bool(false) = condition.eval(row, params)? {
            return Err(Error::new(
                sqlstate::CHECK_VIOLATION,
                format!(
                    "new row for relation \"{}\" violates check constraint \"{name}\"",
                    table.name
                ),
            )
            .with_detail(failing_row(row))
            .with_table(table.schema, &table.name)
            .with_constraint(name));
        }
    }
    Ok(())
}

fn failing_row(row: &[Value]) -> String {
    let shown: Vec<String> = row
        .iter()
        .map(|v| v.to_text().unwrap_or_else(|| "null".into()))
        .collect();
    format!("Failing row contains ({}).", shown.join(", "))
}

pub fn not_null_violation(table: &TableDef, column: usize, row: &[Value]) -> Error {
    Error::new(
        sqlstate::NOT_NULL_VIOLATION,
        format!(
            "null value in column \"{}\" of relation \"{}\" violates not-null constraint",
            table.columns[column].name, table.name
        ),
    )
    .with_detail(failing_row(row))
    .with_table(table.schema, &table.name)
    .with_column(&table.columns[column].name)
}

/// Collects a fragment's output: projected rows or partial aggregates.
///
/// Rows arrive in batches ([`Sink::push_batch`], the batch executor of
/// [`crate::batch`]: a scan's rows in place, a join's blocks) or alone
/// ([`Sink::push`], a point read, where a batch would only add work).
pub(crate) struct Sink<'a> {
    /// Rows pushed, counted to check the node's memory every so often.
    pushed: usize,
    pub(crate) rows: Rows,
    /// A group key being made, kept to be reused (see [`Sink::push`]).
    key: Vec<Value>,
    /// Partial aggregates: the groups by key, and each group's states.
    groups: crate::batch::GroupIndex,
    states: Vec<Vec<AggState>>,
    fragment: &'a ScanFragment,
}

impl<'a> Sink<'a> {
    pub(crate) fn new(fragment: &'a ScanFragment) -> Sink<'a> {
        Sink {
            pushed: 0,
            rows: Rows::default(),
            key: Vec::new(),
            groups: Default::default(),
            states: Vec::new(),
            fragment,
        }
    }

    /// The number of the group whose key is `key`, made (its states new)
    /// when it is not there yet.
    fn group<'v>(
        &mut self,
        key: impl Iterator<Item = &'v Value> + Clone,
        aggs: &[crate::plan::AggCall],
    ) -> usize {
        let (g, new) = self.groups.find_or_insert(key);
        if new {
            self.states.push(aggs.iter().map(AggState::new).collect());
        }
        g
    }

    /// The states of the group with `key`, made when new.
    fn group_states(&mut self, key: &[Value], aggs: &[crate::plan::AggCall]) -> &mut Vec<AggState> {
        let g = self.group(key.iter(), aggs);
        &mut self.states[g]
    }

    /// One row, through the row evaluator.
    pub(crate) fn push(&mut self, row: &[Value], params: &Params) -> Result<()> {
        self.pushed += 1;
        tessera_types::memory::check_every(self.pushed, crate::join::MEMORY_CHECK_ROWS)?;
        let fragment = self.fragment;
        if let Some(f) = &fragment.filter {
            if !f.eval_predicate(row, params)? {
                return Ok(());
            }
        }
        match &fragment.output {
            FragmentOutput::Project(exprs) => {
                let start = self.rows.values().len();
                for e in exprs {
                    let v = e.eval(row, params)?;
                    self.rows.values_mut().push(v);
                }
                self.rows.commit(start);
            }
            FragmentOutput::PartialAggregate {
                group_by,
                aggs,
                sets,
            } => {
                // The key is made in a buffer kept from row to row.
                let mut key = std::mem::take(&mut self.key);
                key.clear();
                for e in group_by {
                    key.push(e.eval(row, params)?);
                }
                if sets.is_empty() {
                    for (state, call) in self.group_states(&key, aggs).iter_mut().zip(aggs) {
                        state.feed(call, row, params)?;
                    }
                    self.key = key;
                    return Ok(());
                }
                let null = Value::Null;
                for (n, set) in sets.iter().enumerate() {
                    // The set's columns, NULL for the others, then its number.
                    let number = Value::Int4(n as i32);
                    let set_key = key
                        .iter()
                        .zip(set)
                        .map(|(v, member)| if *member { v } else { &null })
                        .chain(std::iter::once(&number));
                    let g = self.group(set_key, aggs);
                    for (state, call) in self.states[g].iter_mut().zip(aggs) {
                        state.feed(call, row, params)?;
                    }
                }
                self.key = key;
            }
        }
        Ok(())
    }

    /// A batch of rows (at most [`crate::batch::BATCH_ROWS`] is best),
    /// through the batch executor.
    pub(crate) fn push_batch(&mut self, rows: &[&[Value]], params: &Params) -> Result<()> {
        use crate::batch::{all_rows, BatchEval};
        let fragment = self.fragment;
        let grouping_sets = matches!(&fragment.output, FragmentOutput::PartialAggregate { sets, .. } if !sets.is_empty());
        if rows.len() < 4 || grouping_sets {
            for row in rows {
                self.push(row, params)?;
            }
            return Ok(());
        }
        self.pushed += rows.len();
        tessera_types::memory::check()?;
        let ev = BatchEval::new(rows, params);
        let mut sel = all_rows(rows.len());
        if let Some(f) = &fragment.filter {
            sel = ev.filter(f, &sel)?;
        }
        if sel.is_empty() {
            return Ok(());
        }
        match &fragment.output {
            FragmentOutput::Project(exprs) => {
                let mut columns = exprs
                    .iter()
                    .map(|e| ev.eval(e, &sel))
                    .collect::<Result<Vec<_>>>()?;
                self.rows.values_mut().reserve(sel.len() * columns.len());
                for &i in &sel {
                    let start = self.rows.values().len();
                    for c in &mut columns {
                        let v = c.take(rows, i as usize);
                        self.rows.values_mut().push(v);
                    }
                    self.rows.commit(start);
                }
            }
            FragmentOutput::PartialAggregate { group_by, aggs, .. } => {
                let mut group_of = vec![0u32; rows.len()];
                if group_by.is_empty() {
                    self.group_states(&[], aggs);
                } else {
                    let keys = group_by
                        .iter()
                        .map(|e| ev.eval(e, &sel))
                        .collect::<Result<Vec<_>>>()?;
                    for &i in &sel {
                        let i = i as usize;
                        group_of[i] = self.group(keys.iter().map(|k| k.get(rows, i)), aggs) as u32;
                    }
                }
                for (a, call) in aggs.iter().enumerate() {
                    if !AggState::takes_values(call) {
                        for &i in &sel {
                            let i = i as usize;
                            self.states[group_of[i] as usize][a].feed(call, rows[i], params)?;
                        }
                        continue;
                    }
                    let filtered;
                    let fed = match &call.filter {
                        Some(f) => {
                            filtered = ev.filter(f, &sel)?;
                            &filtered
                        }
                        None => &sel,
                    };
                    let arg = call.arg.as_ref().map(|e| ev.eval(e, fed)).transpose()?;
                    for &i in fed {
                        let i = i as usize;
                        let v = arg.as_ref().map_or(&Value::Null, |v| v.get(rows, i));
                        self.states[group_of[i] as usize][a].accumulate_ref(call, v)?;
                    }
                }
            }
        }
        Ok(())
    }

    pub(crate) fn finish(mut self, params: &Params) -> Result<Rows> {
        match &self.fragment.output {
            FragmentOutput::Project(_) => Ok(self.rows),
            FragmentOutput::PartialAggregate { aggs, .. } => {
                for key in self.fragment.output.empty_input_groups() {
                    self.group_states(&key, aggs);
                }
                let mut out = Rows::default();
                let mut row = Vec::new();
                for (g, states) in self.states.into_iter().enumerate() {
                    row.clear();
                    row.extend(self.groups.take_key(g));
                    for (s, call) in states.into_iter().zip(aggs) {
                        s.write_partial(call, params, &mut row)?;
                    }
                    out.push(row.drain(..));
                }
                Ok(out)
            }
        }
    }
}

/// The keys of a [`KeyLookup`] that only filters a table read whole: a
/// row stays when its `filter` columns hold one of them.
struct KeyFilter<'l> {
    columns: &'l [usize],
    keys: crate::batch::GroupIndex,
}

impl<'l> KeyFilter<'l> {
    fn new(lookup: &'l KeyLookup) -> Option<KeyFilter<'l>> {
        let columns = lookup.filter.as_deref()?;
        let mut keys = crate::batch::GroupIndex::default();
        for key in lookup.keys.iter() {
            keys.find_or_insert(key.iter());
        }
        Some(KeyFilter { columns, keys })
    }

    /// Whether `row`'s columns hold a key (a NULL holds none).
    fn keeps(&self, row: &[Value]) -> bool {
        let values = self
            .columns
            .iter()
            .map(|&c| row.get(c).unwrap_or(&Value::Null));
        !values.clone().any(Value::is_null) && self.keys.find(values).is_some()
    }
}

/// The stored columns a scan fragment reads: its filter's, then its
/// output's.
fn fragment_columns(fragment: &ScanFragment) -> Vec<usize> {
    let mut columns = Vec::new();
    let mut add = |e: &Expr| e.for_each_column(&mut |c| columns.push(c));
    if let Some(f) = &fragment.filter {
        add(f);
    }
    match &fragment.output {
        FragmentOutput::Project(exprs) => exprs.iter().for_each(&mut add),
        FragmentOutput::PartialAggregate { group_by, aggs, .. } => {
            group_by.iter().for_each(&mut add);
            for a in aggs {
                a.arg
                    .iter()
                    .chain(&a.second_arg)
                    .chain(&a.filter)
                    .for_each(&mut add);
                a.order_by.iter().for_each(|(e, _, _)| add(e));
            }
        }
    }
    columns
}

#[cfg(test)]
mod kv_tests {
    use std::ops::Bound::{Excluded, Included, Unbounded};

    use tessera_storage::file::sim::SimDisk;
    use tessera_types::{ColumnDef, DataType};

    use super::*;

    /// A catalog with one table `name (v text)`, keyed by hidden row ids.
    fn catalog_with(name: &str) -> (Catalog, Arc<TableDef>) {
        let def = TableDef {
            id: 0,
            name: name.into(),
            schema: tessera_types::schema::PUBLIC,
            columns: vec![ColumnDef::new("v", DataType::Text, false)],
            primary_key: vec![],
            sharding_key: vec![],
            global: false,
            tier: 0,
            checks: vec![],
            foreign_keys: vec![],
        };
        Catalog::new(16, 1).with_table(def)
    }

    fn shard() -> (ShardContext, Arc<TableDef>) {
        let (catalog, table) = catalog_with("kv");
        let mut store = ShardStore::new();
        store.ensure_table(table.id);
        let wal = WalWriter::with_file(SimDisk::default().file(), 0, "kv", 4096).unwrap();
        let ctx = ShardContext::new(
            0,
            store,
            wal,
            Arc::new(CatalogCell::new(catalog)),
            None,
            Arc::new(Timeline::new(1)),
        );
        (ctx, table)
    }

    fn put(table: &TableDef, key: &str, v: &str) -> WriteOp {
        WriteOp::Put {
            table: table.id,
            key: key.as_bytes().to_vec(),
            row: vec![Value::Text(v.into())],
        }
    }

    fn text(row: &[Value]) -> String {
        row[0].to_text().unwrap_or_default()
    }

    #[test]
    fn point_reads_ranges_and_atomic_writes_without_sql() {
        let (ctx, t) = shard();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap();
        rt.block_on(async {
            assert_eq!(ctx.kv_get(&t, b"a").await.unwrap(), None);
            let ops = ["a", "b", "c", "d"]
                .iter()
                .map(|k| put(&t, k, &k.to_uppercase()))
                .collect();
            ctx.kv_write(WriteSet { ops }).await.unwrap();
            assert_eq!(text(&ctx.kv_get(&t, b"b").await.unwrap().unwrap()), "B");
            let scan = |lo, hi, limit| ctx.kv_scan(&t, (lo, hi), limit);
            let keys = |rows: Vec<(Vec<u8>, Vec<Value>)>| {
                rows.into_iter()
                    .map(|(k, _)| String::from_utf8(k).unwrap())
                    .collect::<Vec<_>>()
            };
            assert_eq!(
                keys(
                    scan(Included(b"b".to_vec()), Excluded(b"d".to_vec()), 10)
                        .await
                        .unwrap()
                ),
                ["b", "c"]
            );
            assert_eq!(
                keys(scan(Unbounded, Unbounded, 3).await.unwrap()),
                ["a", "b", "c"]
            );
            // Ranges a client might send that BTreeMap would panic on: empty results.
            assert!(scan(Included(b"d".to_vec()), Included(b"a".to_vec()), 10)
                .await
                .unwrap()
                .is_empty());
            assert!(scan(Excluded(b"b".to_vec()), Excluded(b"b".to_vec()), 10)
                .await
                .unwrap()
                .is_empty());
            // A write set is all or nothing: an unknown table fails it whole.
            let bad = WriteSet {
                ops: vec![
                    put(&t, "e", "E"),
                    WriteOp::Put {
                        table: 999,
                        key: b"x".to_vec(),
                        row: vec![],
                    },
                ],
            };
            assert_eq!(
                ctx.kv_write(bad).await.unwrap_err().code,
                sqlstate::UNDEFINED_TABLE
            );
            assert_eq!(ctx.kv_get(&t, b"e").await.unwrap(), None);
            // Deletes.
            ctx.kv_write(WriteSet {
                ops: vec![WriteOp::Delete {
                    table: t.id,
                    key: b"a".to_vec(),
                }],
            })
            .await
            .unwrap();
            assert_eq!(
                keys(scan(Unbounded, Unbounded, 10).await.unwrap()),
                ["b", "c", "d"]
            );
        });
    }

    /// SERIALIZABLE reads: validated against the snapshot (a key, or a
    /// whole scanned table, changed after it fails with 40001), then locked
    /// until released, with writers waiting meanwhile.
    #[test]
    fn serializable_reads_are_validated_and_hold_writers_until_released() {
        let (ctx, t) = shard();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap();
        rt.block_on(async {
            let write = |k: &'static str, v: &'static str| {
                ctx.kv_write(WriteSet {
                    ops: vec![put(&t, k, v)],
                })
            };
            write("a", "A").await.unwrap();
            let before = ctx.tick();
            write("b", "B").await.unwrap();
            let after = ctx.tick();
            // Key reads.
            ctx.note_read(Some(1), t.id, Some(b"a"));
            ctx.note_read(Some(2), t.id, Some(b"b"));
            assert!(
                ctx.validate_reads(1, before).is_ok(),
                "a is unchanged since"
            );
            let err = ctx.validate_reads(2, before).unwrap_err();
            assert_eq!(err.code, sqlstate::SERIALIZATION_FAILURE);
            // Table reads.
            ctx.note_read(Some(3), t.id, None);
            assert_eq!(
                ctx.validate_reads(3, before).unwrap_err().code,
                sqlstate::SERIALIZATION_FAILURE
            );
            ctx.note_read(Some(4), t.id, None);
            assert!(ctx.validate_reads(4, after).is_ok());
            // Transactions 1 and 4 now hold read locks: a write to "a" waits
            // for both.
            let checker = async {
                for _ in 0..20 {
                    tokio::task::yield_now().await;
                }
                assert_eq!(text(&ctx.kv_get(&t, b"a").await.unwrap().unwrap()), "A");
                ctx.handle(ShardRequest::TxnAbort { id: 1 }).await.unwrap();
                for _ in 0..20 {
                    tokio::task::yield_now().await;
                }
                assert_eq!(
                    text(&ctx.kv_get(&t, b"a").await.unwrap().unwrap()),
                    "A",
                    "transaction 4 scanned the table"
                );
                ctx.handle(ShardRequest::TxnAbort { id: 4 }).await.unwrap();
            };
            let (written, ()) = crate::router::join2(write("a", "A2"), checker).await;
            written.unwrap();
            assert_eq!(text(&ctx.kv_get(&t, b"a").await.unwrap().unwrap()), "A2");
            assert!(ctx.read_locks.borrow().is_empty() && ctx.reads.borrow().is_empty());
        });
    }

    /// A shard that starts after a client already created a table (the
    /// store it recovered predates the table) still has storage for it.
    #[test]
    fn a_shard_starting_after_ddl_has_storage_for_the_new_table() {
        let (catalog, table) = catalog_with("late");
        let recovered_before_the_table = ShardStore::new();
        let wal = WalWriter::with_file(SimDisk::default().file(), 0, "late", 4096).unwrap();
        let cell = Arc::new(CatalogCell::new(catalog));
        let ctx = ShardContext::new(
            0,
            recovered_before_the_table,
            wal,
            cell,
            None,
            Arc::new(Timeline::new(1)),
        );
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap();
        rt.block_on(async {
            ctx.kv_write(WriteSet {
                ops: vec![put(&table, "k", "v")],
            })
            .await
            .unwrap();
            assert_eq!(text(&ctx.kv_get(&table, b"k").await.unwrap().unwrap()), "v");
        });
    }

    #[test]
    fn the_memory_limit_applies_to_the_key_value_path_too() {
        let (ctx, t) = shard();
        let ctx = ctx.with_memory_limit(4096);
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap();
        rt.block_on(async {
            let big = "x".repeat(3000);
            ctx.kv_write(WriteSet {
                ops: vec![put(&t, "a", &big)],
            })
            .await
            .unwrap();
            let err = ctx
                .kv_write(WriteSet {
                    ops: vec![put(&t, "b", &big)],
                })
                .await
                .unwrap_err();
            assert_eq!(err.code, sqlstate::OUT_OF_MEMORY);
            assert_eq!(ctx.kv_get(&t, b"b").await.unwrap(), None);
        });
    }
}

/// Checkpoints of a live shard: the replay start covers records in flight,
/// and two-phase transactions spanning checkpoints are settled by recovery
/// as they were decided, on every shard.
#[cfg(test)]
mod checkpoint_tests {
    use std::path::Path;

    use tessera_storage::checkpoint::{wal_dir, write_checkpoint, Published};
    use tessera_storage::file::sim::SimFs;
    use tessera_storage::file::FileSystem;
    use tessera_storage::recovery::{recover_in, shard_dir, RecoveredNode};
    use tessera_storage::wal::list_segments;
    use tessera_types::{ColumnDef, DataType};

    use super::*;

    const DATA: &str = "data";

    struct Node {
        fs: SimFs,
        catalog: Catalog,
        table: Arc<TableDef>,
        ledger: Arc<TwoPhaseLedger>,
        shards: Vec<Rc<ShardContext>>,
    }

    /// Shards sharing one simulated disk, clock, catalog and ledger; a
    /// table `t (v text)`.
    fn node(shard_count: u16) -> Node {
        let def = TableDef {
            id: 0,
            name: "t".into(),
            schema: tessera_types::schema::PUBLIC,
            columns: vec![ColumnDef::new("v", DataType::Text, false)],
            primary_key: vec![],
            sharding_key: vec![],
            global: false,
            tier: 0,
            checks: vec![],
            foreign_keys: vec![],
        };
        let (catalog, table) = Catalog::new(16, shard_count).with_table(def);
        let fs = SimFs::new();
        let cell = Arc::new(CatalogCell::new(catalog.clone()));
        let timeline = Arc::new(Timeline::new(shard_count as usize));
        let ledger = Arc::new(TwoPhaseLedger::default());
        let shards = (0..shard_count)
            .map(|s| {
                let wal = WalWriter::open_segments(
                    Arc::new(fs.clone()),
                    &wal_dir(&shard_dir(Path::new(DATA), s)),
                    0,
                    "t",
                    4096,
                    1 << 20,
                )
                .unwrap();
                let ctx = ShardContext::new(
                    s,
                    ShardStore::new(),
                    wal,
                    cell.clone(),
                    None,
                    timeline.clone(),
                )
                .with_ledger(ledger.clone());
                Rc::new(ctx)
            })
            .collect();
        Node {
            fs,
            catalog,
            table,
            ledger,
            shards,
        }
    }

    impl Node {
        async fn checkpoint(&self, shard: u16) -> Published {
            let ctx = &self.shards[shard as usize];
            let (floor, plan) = ctx.begin_checkpoint().unwrap().unwrap();
            let shared: Arc<dyn FileSystem> = Arc::new(self.fs.clone());
            let dir = shard_dir(Path::new(DATA), shard);
            let published = write_checkpoint(shared, &dir, plan, &ctx.store, &ctx.wal)
                .await
                .unwrap();
            ctx.end_checkpoint(floor);
            published
        }

        fn row(&self, key: &str, v: &str) -> WriteOp {
            WriteOp::Put {
                table: self.table.id,
                key: key.as_bytes().to_vec(),
                row: vec![Value::Text(v.into())],
            }
        }

        async fn write(&self, shard: u16, key: &str, v: &str) {
            let ops = vec![self.row(key, v)];
            self.shards[shard as usize]
                .kv_write(WriteSet { ops })
                .await
                .unwrap();
        }

        async fn prepare(&self, shard: u16, tx: TxId, key: &str) {
            let request = ShardRequest::Insert {
                table: self.table.clone(),
                rows: vec![(key.as_bytes().to_vec(), vec![Value::Text(key.into())])],
                mode: WriteMode::Prepare(tx),
                upsert: None,
            };
            let ctx = &self.shards[shard as usize];
            ctx.handle(request).await.unwrap();
            // As the router does before it acknowledges the commit.
            ctx.wal.flush().await.unwrap();
        }

        async fn decide(&self, coordinator: u16, tx: TxId, commit: bool) {
            let participants = (0..self.shards.len() as u16).collect();
            let request = ShardRequest::Decide {
                tx,
                commit,
                ts: 0,
                participants,
            };
            let ctx = &self.shards[coordinator as usize];
            ctx.handle(request).await.unwrap();
            ctx.wal.flush().await.unwrap();
        }

        async fn resolve(&self, shard: u16, tx: TxId, commit: bool) {
            let ctx = &self.shards[shard as usize];
            let ts = ctx.tick();
            ctx.handle(ShardRequest::Resolve { tx, commit, ts })
                .await
                .unwrap();
        }

        /// Recovers from what a crash now would leave (everything synced).
        fn crash_and_recover(&self) -> RecoveredNode {
            let image = self.fs.crash_image(0, usize::MAX);
            recover_in(
                &image,
                Path::new(DATA),
                self.catalog.clone(),
                self.shards.len() as u16,
            )
            .unwrap()
        }
    }

    fn has(node: &RecoveredNode, shard: usize, key: &str, table: &TableDef) -> bool {
        node.shards[shard]
            .store
            .get(table.id, key.as_bytes(), LATEST)
            .is_some()
    }

    fn run_local<F: std::future::Future>(f: F) -> F::Output {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap();
        tokio::task::LocalSet::new().block_on(&rt, f)
    }

    /// A commit whose fsync is under way when the checkpoint takes its
    /// snapshot is either in the snapshot (published early, see
    /// `WalWriter::is_certain`) or, between its append and its apply,
    /// commits later than it: then the replay start must lie before its
    /// record. Either way it survives.
    #[test]
    fn a_commit_in_flight_when_a_checkpoint_begins_is_replayed_after_it() {
        let n = Rc::new(node(1));
        let table = n.table.clone();
        run_local(async {
            n.write(0, "before", "1").await;
            n.fs.hold_syncs();
            let before = n.shards[0].wal.appended().unwrap().end();
            let writer = n.clone();
            let in_flight = tokio::task::spawn_local(async move {
                writer.write(0, "in flight", "2").await;
            });
            while n.shards[0].wal.appended().unwrap().end() == before {
                tokio::task::yield_now().await;
            }
            let begun = n.shards[0].begin_checkpoint();
            // Released before anything can fail, or dropping the log would
            // wait for a sync held forever.
            n.fs.release_syncs();
            let (floor, plan) = begun.unwrap().unwrap();
            let published = n.shards[0]
                .store
                .borrow()
                .get(table.id, b"in flight", plan.snapshot_ts)
                .is_some();
            assert!(
                published || plan.replay_start == before,
                "the record in flight is in the snapshot or replayed after it"
            );
            assert!(plan.appended.end() > before);
            in_flight.await.unwrap();
            let shared: Arc<dyn FileSystem> = Arc::new(n.fs.clone());
            let dir = shard_dir(Path::new(DATA), 0);
            write_checkpoint(shared, &dir, plan, &n.shards[0].store, &n.shards[0].wal)
                .await
                .unwrap();
            n.shards[0].end_checkpoint(floor);
        });
        let recovered = n.crash_and_recover();
        assert!(has(&recovered, 0, "before", &table));
        assert!(
            has(&recovered, 0, "in flight", &table),
            "the commit in flight survives"
        );
    }

    /// A read depends only on the commits it saw: while a commit waits for
    /// its fsync (published early), a read of an older row observes
    /// nothing, and a read of the new row observes the commit's record
    /// until it is durable.
    #[test]
    fn a_read_depends_only_on_the_commits_it_saw() {
        let n = Rc::new(node(1));
        let table = n.table.clone();
        run_local(async {
            n.write(0, "old", "1").await;
            n.fs.hold_syncs();
            let writer = n.clone();
            let in_flight = tokio::task::spawn_local(async move {
                writer.write(0, "new", "2").await;
            });
            let shard = &n.shards[0];
            while shard.store.borrow().get(table.id, b"new", LATEST).is_none() {
                tokio::task::yield_now().await;
            }
            let get = |key: &str| ShardRequest::Get {
                table: table.id,
                key: key.as_bytes().to_vec(),
                ts: shard.tick(),
                txn: None,
                track_reads: false,
            };
            let (old, seen_old) = shard.serve(get("old")).await;
            let (new, seen_new) = shard.serve(get("new")).await;
            let end = shard.wal.appended().unwrap().end();
            // Released before anything can fail, or dropping the log would
            // wait for a sync held forever.
            n.fs.release_syncs();
            assert!(matches!(old, Ok(ShardResponse::Rows(rows)) if rows.len() == 1));
            assert!(matches!(new, Ok(ShardResponse::Rows(rows)) if rows.len() == 1));
            assert!(seen_old.iter().all(|p| *p == 0), "{seen_old:?}");
            assert_eq!(seen_new, vec![end], "the unsynced commit");
            in_flight.await.unwrap();
            let (_, seen_later) = shard.serve(get("new")).await;
            assert!(seen_later.iter().all(|p| *p == 0), "{seen_later:?}");
        });
    }

    /// Writes go on while a checkpoint of many rows is written chunk by
    /// chunk; recovery from it and the log after it has every one.
    #[test]
    fn writes_during_a_checkpoint_are_all_recovered() {
        let n = Rc::new(node(1));
        let table = n.table.clone();
        let keys = 3 * tessera_storage::checkpoint::CHECKPOINT_ROWS_PER_CHUNK;
        run_local(async {
            let ops = (0..keys)
                .map(|k| n.row(&format!("k{k:05}"), "old"))
                .collect();
            n.shards[0].kv_write(WriteSet { ops }).await.unwrap();
            let writer = n.clone();
            let updates = tokio::task::spawn_local(async move {
                for k in (0..keys).step_by(97) {
                    writer.write(0, &format!("k{k:05}"), "new").await;
                    writer.write(0, &format!("added{k}"), "new").await;
                }
            });
            let published = n.checkpoint(0).await;
            assert_eq!(published.seq, 1);
            updates.await.unwrap();
        });
        let recovered = n.crash_and_recover();
        let store = &recovered.shards[0].store;
        for k in 0..keys {
            let want = if k % 97 == 0 { "new" } else { "old" };
            let row = store
                .get(table.id, format!("k{k:05}").as_bytes(), LATEST)
                .unwrap();
            assert_eq!(row[0], Value::Text(want.into()), "k{k:05}");
            if k % 97 == 0 {
                assert!(store
                    .get(table.id, format!("added{k}").as_bytes(), LATEST)
                    .is_some());
            }
        }
    }

    /// Prepares left open across checkpoints of both shards are settled by
    /// recovery as decided: a commit decision commits everywhere, a later
    /// abort wins, no decision aborts.
    #[test]
    fn undecided_prepares_spanning_checkpoints_are_settled_by_recovery() {
        let n = node(2);
        // Routers on this node's shard 0 (`tessera_storage::record::id_shard`).
        let (t1, t2, t3) = (1 << 16, 2 << 16, 3 << 16);
        run_local(async {
            for (tx, key) in [(t1, "committed"), (t2, "overruled"), (t3, "undecided")] {
                n.prepare(0, tx, key).await;
                n.prepare(1, tx, key).await;
            }
            n.decide(0, t1, true).await;
            n.decide(0, t2, true).await;
            n.decide(0, t2, false).await;
            for round in 0..3 {
                n.write(0, &format!("filler{round}"), "x").await;
                n.write(1, &format!("filler{round}"), "x").await;
                n.checkpoint(0).await;
                n.checkpoint(1).await;
            }
        });
        // The prepares' and decisions' records are gone from both logs.
        for shard in 0..2 {
            let wal = wal_dir(&shard_dir(Path::new(DATA), shard));
            assert!(list_segments(&n.fs, &wal).unwrap()[0] > 0, "shard {shard}");
        }
        let recovered = n.crash_and_recover();
        for shard in 0..2 {
            assert!(
                has(&recovered, shard, "committed", &n.table),
                "shard {shard}"
            );
            assert!(
                !has(&recovered, shard, "overruled", &n.table),
                "shard {shard}"
            );
            assert!(
                !has(&recovered, shard, "undecided", &n.table),
                "shard {shard}"
            );
            let settled = &recovered.shards[shard].resolutions;
            assert!(settled.contains(&Record::Resolve {
                tx: t1,
                commit: true
            }));
            assert!(settled.contains(&Record::Resolve {
                tx: t2,
                commit: false
            }));
            assert!(settled.contains(&Record::Resolve {
                tx: t3,
                commit: false
            }));
        }
    }

    /// The coordinator resolved and checkpointed past a transaction while a
    /// participant's `Resolve` is not durable: the coordinator's checkpoints
    /// keep the decision and the proof of its own prepare, so recovery still
    /// commits on the participant. Once every participant settled, the
    /// evidence goes.
    #[test]
    fn a_decision_outlives_its_coordinators_checkpoints_until_every_participant_settled() {
        let n = node(2);
        run_local(async {
            n.prepare(0, 7, "seven").await;
            n.prepare(1, 7, "seven").await;
            n.decide(0, 7, true).await;
            // The coordinator resolves; the participant's Resolve is lost in
            // the crash (never sent here).
            n.resolve(0, 7, true).await;
            n.shards[0].wal.flush().await.unwrap();
            n.shards[0].settle_durable_resolves();
            for round in 0..3 {
                n.write(0, &format!("filler{round}"), "x").await;
                n.checkpoint(0).await;
            }
            let (floor, plan) = n.shards[0].begin_checkpoint().unwrap().unwrap();
            n.shards[0].end_checkpoint(floor);
            assert_eq!(plan.retained.decisions.len(), 1, "the decision is kept");
            assert_eq!(
                plan.retained.prepared,
                vec![7],
                "and the proof of the prepare"
            );
        });
        let wal = wal_dir(&shard_dir(Path::new(DATA), 0));
        assert!(
            list_segments(&n.fs, &wal).unwrap()[0] > 0,
            "the coordinator's log of the transaction is gone"
        );
        let recovered = n.crash_and_recover();
        assert!(has(&recovered, 0, "seven", &n.table));
        assert!(
            has(&recovered, 1, "seven", &n.table),
            "the participant commits from the kept evidence"
        );

        // The participant resolves durably: nothing is kept any more.
        run_local(async {
            n.resolve(1, 7, true).await;
            n.shards[1].wal.flush().await.unwrap();
            n.shards[1].settle_durable_resolves();
            assert!(n.ledger.is_empty());
            let (floor, plan) = n.shards[0].begin_checkpoint().unwrap().unwrap();
            n.shards[0].end_checkpoint(floor);
            assert!(plan.retained.decisions.is_empty() && plan.retained.prepared.is_empty());
        });
    }
}

#[cfg(test)]
mod lock_wait_tests {
    use super::*;

    #[test]
    fn a_transaction_waiting_on_two_shards_keeps_both_edges() {
        let waits = LockWaits::default();
        // A multi-shard statement 1 waits for 2 on shard 0 and for 3 on
        // shard 1; its wait on shard 1 ends, the one on shard 0 goes on.
        waits.begin(1, 0, 2).unwrap();
        waits.begin(1, 1, 3).unwrap();
        waits.end(1, 1);
        // 2 now waits for 1: a cycle, however the edges came and went.
        let e = waits.begin(2, 1, 1).unwrap_err();
        assert_eq!(e.code, sqlstate::DEADLOCK_DETECTED);
        // A cycle through either of two waits is found.
        waits.begin(1, 1, 3).unwrap();
        waits.begin(3, 0, 4).unwrap();
        assert!(waits.begin(4, 1, 1).is_err());
        waits.end(1, 0);
        waits.end(1, 1);
        waits.begin(4, 1, 1).unwrap();
        assert!(waits.check(4, 1).is_ok());
    }

    #[test]
    fn a_cycle_closed_behind_a_waiters_back_is_found_by_check() {
        let waits = LockWaits::default();
        waits.begin(1, 0, 2).unwrap();
        // 1 is woken and looks again: its edge is briefly gone while 2
        // begins waiting for it.
        waits.end(1, 0);
        waits.begin(2, 1, 1).unwrap();
        waits.begin(1, 0, 2).unwrap_err();
        // Had 1 re-begun first, 2's begin would have failed; either way
        // the cycle is seen by the one left waiting.
        let w = LockWaits::default();
        w.begin(2, 1, 1).unwrap();
        {
            // Force the edge in without the begin-time check, as a race
            // between two shards' begins would leave it.
            let mut waits = w.edges.lock().unwrap();
            waits.edges.entry(1).or_default().push((0, 2));
        }
        assert!(w.check(2, 1).is_err());
        assert!(w.check(1, 0).is_err());
    }
}
