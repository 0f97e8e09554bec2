//! The SQL catalog's log in a cluster (docs/CLUSTER.md step 2): the
//! catalog's records are entries of the metadata Raft log
//! ([`Command::Catalog`](crate::state::Command::Catalog)), and every node
//! applies them in the order the log gives them.
//!
//! [`CatalogClient`] is the SQL layer's side: it takes the cluster DDL
//! lock, appends records and releases the lock. Each call is queued at
//! once, in call order, and served one at a time by the cluster service
//! (`service.rs`), which proposes the command through the leader and
//! answers once this node has applied it. An answer lost on the way (a
//! leader change, a dropped connection) is not taken for a failure: the
//! service then commits a `Fence` and reads the outcome the tables
//! recorded for this node's proposal, so a caller never believes a
//! committed change failed, nor the reverse.

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use tessera_types::global::{GlobalChanges, GlobalOp};
use tessera_types::sequence::Claimed;
use tessera_types::{sqlstate, Error, Result};
use tokio::sync::{mpsc, oneshot, watch};

use crate::state::{CatalogRecords, Metadata, SequenceMove, SequencePositions};

/// What the SQL layer asks of the catalog log.
#[derive(Debug, Clone)]
pub(crate) enum CatalogOp {
    /// Take the cluster DDL lock, waiting while another node holds it.
    Lock,
    /// Append records (see `Command::Catalog`).
    Append {
        records: Vec<Vec<u8>>,
        held: bool,
        unlock: bool,
    },
    /// Release the lock if this node holds it.
    Unlock,
    /// Extend this node's id lease to at least `up_to`.
    LeaseIds { up_to: u64 },
}

pub(crate) struct CatalogRequest {
    pub op: CatalogOp,
    /// The number of catalog records once the command is applied here.
    pub reply: oneshot::Sender<Result<u64>>,
}

/// Claims on sequence positions, served apart from the catalog's requests
/// (a DDL statement waiting for the cluster lock does not hold up
/// INSERTs).
pub(crate) struct ClaimRequest {
    pub claims: Vec<SequenceMove>,
    pub reply: oneshot::Sender<Result<Vec<Claimed>>>,
}

/// A new master's start of its epoch (`Command::StartEpoch`), served
/// apart from the rest: a failover waits on no DDL.
pub(crate) struct EpochRequest {
    pub shard: u16,
    pub epoch: u64,
    pub start: u64,
    pub reply: oneshot::Sender<Result<()>>,
}

/// A statement's changes to global tables, served in order apart from
/// the rest (several go in one command when they queue up).
pub(crate) struct GlobalRequest {
    pub ops: Vec<GlobalOp>,
    /// The write's number once applied here, or `None` when a row it
    /// changes had changed since it was read.
    pub reply: oneshot::Sender<Result<Option<u64>>>,
}

/// A node's handle on the cluster's catalog log.
#[derive(Clone)]
pub struct CatalogClient {
    requests: mpsc::UnboundedSender<CatalogRequest>,
    claims: mpsc::UnboundedSender<ClaimRequest>,
    globals: mpsc::UnboundedSender<GlobalRequest>,
    epochs: mpsc::UnboundedSender<EpochRequest>,
    /// How many writes to global tables the node's copy holds.
    globals_applied: Arc<watch::Sender<u64>>,
    /// How many sequence claims the node's sequences have observed.
    claims_observed: Arc<watch::Sender<u64>>,
    metadata: watch::Receiver<Arc<Metadata>>,
    /// How many records the SQL layer's catalog holds (see [`Self::applied`]).
    applied: Arc<watch::Sender<u64>>,
    /// This node's id, once a command of it went through (0 before).
    me: Arc<AtomicU64>,
    /// The bucket map as this node's SQL catalog holds it.
    buckets: BucketView,
    /// Which of this node's shards it is master of.
    masters: Arc<crate::masters::Mastership>,
}

/// Queues a request made by `make` around its reply channel, and awaits
/// the reply.
fn ask<R, T: Send + 'static>(
    queue: &mpsc::UnboundedSender<R>,
    make: impl FnOnce(oneshot::Sender<Result<T>>) -> R,
) -> impl Future<Output = Result<T>> + Send + 'static {
    let (reply, answer) = oneshot::channel();
    let sent = queue.send(make(reply)).map_err(|_| stopped());
    async move {
        sent?;
        answer.await.map_err(|_| stopped())?
    }
}

/// The bucket map as the node's SQL catalog holds it: moves are catalog
/// records (docs/CLUSTER.md §8), so the metadata's map is the one made at
/// bootstrap, and the SQL side reports the map once buckets moved.
#[derive(Clone, Default)]
pub(crate) struct BucketView(Arc<std::sync::Mutex<Option<crate::state::BucketMap>>>);

impl BucketView {
    /// The map the SQL catalog holds, or `metadata`'s while none moved.
    pub(crate) fn current(&self, metadata: &Metadata) -> crate::state::BucketMap {
        match self.0.lock().ok().and_then(|m| m.clone()) {
            Some(map) => map,
            None => metadata.buckets.clone(),
        }
    }
}

impl CatalogClient {
    /// `requests` and `epochs`: the queues of catalog operations and of
    /// new masters' epochs.
    pub(crate) fn new(
        (requests, epochs): (
            mpsc::UnboundedSender<CatalogRequest>,
            mpsc::UnboundedSender<EpochRequest>,
        ),
        claims: (mpsc::UnboundedSender<ClaimRequest>, Arc<watch::Sender<u64>>),
        globals: (
            mpsc::UnboundedSender<GlobalRequest>,
            Arc<watch::Sender<u64>>,
        ),
        metadata: watch::Receiver<Arc<Metadata>>,
        applied: Arc<watch::Sender<u64>>,
        me: Arc<AtomicU64>,
        masters: Arc<crate::masters::Mastership>,
    ) -> CatalogClient {
        CatalogClient {
            requests,
            epochs,
            claims: claims.0,
            claims_observed: claims.1,
            globals: globals.0,
            globals_applied: globals.1,
            metadata,
            applied,
            me,
            buckets: BucketView::default(),
            masters,
        }
    }

    /// Which of this node's shards it is master of.
    pub fn masters(&self) -> &Arc<crate::masters::Mastership> {
        &self.masters
    }

    /// How many nodes keep a copy of each of this node's shards (its
    /// tier's replication factor; until this node's row is known, the
    /// largest of any tier).
    pub fn replication_factor(&self) -> u16 {
        let me = self.my_record();
        let metadata = self.metadata.borrow();
        match me {
            Some(me) => metadata.tier(&me.tier).replication_factor,
            None => metadata.max_replication_factor(),
        }
    }

    /// The node's SQL catalog owns buckets by `owner` (`owner[b]` owns
    /// bucket `b`).
    pub fn buckets_moved(&self, owner: Vec<u16>) {
        if let Ok(mut map) = self.buckets.0.lock() {
            *map = Some(crate::state::BucketMap::from(owner));
        }
    }

    /// The bucket map as this node's SQL catalog holds it.
    pub fn bucket_map(&self) -> crate::state::BucketMap {
        self.buckets.current(&self.metadata.borrow())
    }

    /// Where [`Self::buckets_moved`] leaves the map, for the status.
    pub(crate) fn buckets_view(&self) -> BucketView {
        self.buckets.clone()
    }

    /// This node's id: known once any call (the start-up fence) returned.
    pub fn me(&self) -> Option<crate::state::NodeId> {
        match self.me.load(Ordering::Acquire) {
            0 => None,
            id => Some(id),
        }
    }

    /// This node's row of the nodes table, once [`Self::me`] is known.
    pub fn my_record(&self) -> Option<crate::state::NodeRecord> {
        let me = self.me()?;
        self.metadata.borrow().nodes.get(&me).cloned()
    }

    /// The SQL layer's catalog now holds the first `records` records: a
    /// node that committed a change waits for every other node to say so
    /// before its statement returns.
    pub fn applied(&self, records: u64) {
        self.applied.send_if_modified(|n| {
            let more = records > *n;
            if more {
                *n = records;
            }
            more
        });
    }

    fn call(&self, op: CatalogOp) -> impl Future<Output = Result<u64>> + Send + 'static {
        ask(&self.requests, |reply| CatalogRequest { op, reply })
    }

    /// Takes the cluster DDL lock for this node (it may hold it already);
    /// returns the number of catalog records, all applied here, at that
    /// point. Waits while another node holds it.
    pub fn lock(&self) -> impl Future<Output = Result<u64>> + Send + 'static {
        self.call(CatalogOp::Lock)
    }

    /// Appends `records`, computed under the lock (`held`) or depending on
    /// no catalog; returns the number of records once they are applied
    /// here: they are the last `records.len()` of that many.
    pub fn append(
        &self,
        records: Vec<Vec<u8>>,
        held: bool,
        unlock: bool,
    ) -> impl Future<Output = Result<u64>> + Send + 'static {
        self.call(CatalogOp::Append {
            records,
            held,
            unlock,
        })
    }

    /// Releases the lock if this node holds it. At start-up it is also the
    /// fence after which the catalog holds everything this node ever had
    /// committed (see the module comment).
    pub fn unlock(&self) -> impl Future<Output = Result<u64>> + Send + 'static {
        self.call(CatalogOp::Unlock)
    }

    /// Extends this node's id lease (`Metadata::id_leases`) to at least
    /// `up_to`; returns the lease's end.
    pub fn lease_ids(&self, up_to: u64) -> impl Future<Output = Result<u64>> + Send + 'static {
        self.call(CatalogOp::LeaseIds { up_to })
    }

    /// Moves sequences' positions (`Command::ClaimSequences`): what became
    /// of each claim, once applied here. An error leaves the outcome
    /// unknown; a claim made again then finds the position moved, and
    /// the node goes on from there.
    pub fn claim_sequences(
        &self,
        claims: Vec<SequenceMove>,
    ) -> impl Future<Output = Result<Vec<Claimed>>> + Send + 'static {
        ask(&self.claims, |reply| ClaimRequest { claims, reply })
    }

    /// This node's shard `index` stopped copying as the new master of
    /// `epoch`, its own writes starting at log position `start`: resolves
    /// once the cluster recorded it and the node takes the shard's
    /// requests.
    pub fn start_epoch(
        &self,
        index: u16,
        epoch: u64,
        start: u64,
    ) -> impl Future<Output = Result<()>> + Send + 'static {
        let shard = self
            .my_record()
            .map_or(u16::MAX, |r| r.first_shard.saturating_add(index));
        let masters = self.masters.clone();
        let mut metadata = self.metadata.clone();
        let me = self.me();
        let started = ask(&self.epochs, move |reply| EpochRequest {
            shard,
            epoch,
            start,
            reply,
        });
        async move {
            started.await?;
            // The metadata that says so is applied here; the masters
            // follow it.
            loop {
                if let Some(me) = me {
                    masters.update(&metadata.borrow_and_update(), me);
                }
                if masters.epoch(index) == Some(epoch) {
                    return Ok(());
                }
                if masters.promoted(index) != Some(epoch) {
                    return Err(Error::new(
                        sqlstate::OBJECT_NOT_IN_PREREQUISITE_STATE,
                        format!("shard {shard} is no longer to be master in epoch {epoch}"),
                    ));
                }
                if metadata.changed().await.is_err() {
                    return Err(stopped());
                }
            }
        }
    }

    /// How far a member whose log's last records came from the master of
    /// `epoch` may reach in this node's shard `index`'s log (see
    /// `Metadata::fork_after`).
    pub fn fork_after(&self, index: u16, epoch: u64) -> Option<u64> {
        let first = self.my_record()?.first_shard;
        self.metadata
            .borrow()
            .fork_after(first.saturating_add(index), epoch)
    }

    /// The sequences' positions this node has applied, and how many
    /// claims were applied to make them.
    pub fn sequence_positions(&self) -> (u64, SequencePositions) {
        let m = self.metadata.borrow();
        (m.sequence_claims, m.sequences.clone())
    }

    /// Changes global tables' rows (`Command::WriteGlobals`): the write's
    /// number once applied here, or `None` if a row it changes was changed
    /// since `old` was read. Never an unknown outcome: a lost answer is
    /// settled with a fence first.
    pub fn write_globals(
        &self,
        ops: Vec<GlobalOp>,
    ) -> impl Future<Output = Result<Option<u64>>> + Send + 'static {
        ask(&self.globals, |reply| GlobalRequest { ops, reply })
    }

    /// The cluster-wide numbers of the online nodes' shards, ascending:
    /// where buckets belong (docs/CLUSTER.md §8).
    pub fn member_shards(&self) -> Vec<u16> {
        self.shards_of(crate::state::NodeState::Online)
    }

    /// The cluster-wide numbers of the draining nodes' shards, ascending:
    /// they give their buckets away (docs/CLUSTER.md §8).
    pub fn draining_shards(&self) -> Vec<u16> {
        self.shards_of(crate::state::NodeState::Draining)
    }

    /// This node's tier ([`crate::state::DEFAULT_TIER`] until its row is
    /// known).
    pub fn tier(&self) -> String {
        self.my_record()
            .map_or_else(|| crate::state::DEFAULT_TIER.to_string(), |r| r.tier)
    }

    /// The shards of tier `tier`'s groups that take buckets (full, every
    /// member online) and that give them away (any member draining),
    /// ascending.
    pub fn tier_shards(&self, tier: &str) -> (Vec<u16>, Vec<u16>) {
        let metadata = self.metadata.borrow();
        let of = |state| {
            let mut shards = metadata.tier_shards_of_groups(tier, state);
            shards.sort_unstable();
            shards
        };
        (
            of(crate::state::NodeState::Online),
            of(crate::state::NodeState::Draining),
        )
    }

    /// The shards of the replica groups whose members are in `state`
    /// (online: all of them, and as many as the replication factor;
    /// draining: any), ascending.
    fn shards_of(&self, state: crate::state::NodeState) -> Vec<u16> {
        let mut shards = self.metadata.borrow().shards_of_groups(state);
        shards.sort_unstable();
        shards
    }

    /// What a copy of the global tables that holds the first `seen` writes
    /// needs to catch up with what this node has applied (`None`: every
    /// row, whatever the copy holds).
    pub fn globals_since(&self, seen: Option<u64>) -> GlobalChanges {
        let m = self.metadata.borrow();
        let g = &m.globals;
        let Some(seen) = seen else {
            return GlobalChanges::Whole {
                applied: g.applied,
                tables: g.tables.iter().map(|(t, r)| (*t, r.clone())).collect(),
            };
        };
        match g.recent.front() {
            Some((first, _)) if *first <= seen + 1 => GlobalChanges::Writes(
                g.recent
                    .iter()
                    .filter(|(n, _)| *n > seen)
                    .cloned()
                    .collect(),
            ),
            None if g.applied == seen => GlobalChanges::Writes(Vec::new()),
            _ => {
                drop(m);
                self.globals_since(None)
            }
        }
    }

    /// The row of global table `table` under `key`, as this node applied it.
    pub fn global_row(&self, table: u32, key: &[u8]) -> Option<Vec<u8>> {
        let m = self.metadata.borrow();
        m.globals.tables.get(&table)?.get(key).cloned()
    }

    /// Waits until more than `seen` writes to global tables are applied here.
    pub fn globals_after(&self, seen: u64) -> impl Future<Output = ()> + Send + 'static {
        self.once(move |m| (m.globals.applied > seen).then_some(()))
    }

    /// The node's copy of the global tables holds the first `writes`
    /// writes: a node that wrote waits for every other node to say so.
    pub fn globals_applied(&self, writes: u64) {
        self.globals_applied.send_if_modified(|n| {
            let more = writes > *n;
            if more {
                *n = writes;
            }
            more
        });
    }

    /// The node's sequences have observed the positions the first `claims`
    /// claims made: a node whose claim set a position (`setval`) waits for
    /// every other node to say so.
    pub fn claims_observed(&self, claims: u64) {
        self.claims_observed.send_if_modified(|n| {
            let more = claims > *n;
            if more {
                *n = claims;
            }
            more
        });
    }

    /// Waits until more than `seen` claims are applied here.
    pub fn claims_after(&self, seen: u64) -> impl Future<Output = ()> + Send + 'static {
        self.once(move |m| (m.sequence_claims > seen).then_some(()))
    }

    /// Waits until what this node has applied gives `ready` an answer.
    fn once<T>(
        &self,
        ready: impl Fn(&Metadata) -> Option<T> + Send + 'static,
    ) -> impl Future<Output = T> + Send + 'static {
        let mut metadata = self.metadata.clone();
        async move {
            loop {
                if let Some(answer) = ready(&metadata.borrow_and_update()) {
                    return answer;
                }
                if metadata.changed().await.is_err() {
                    // The service stopped: nothing more will come.
                    std::future::pending::<()>().await;
                }
            }
        }
    }

    /// The records this node has applied.
    pub fn records(&self) -> CatalogRecords {
        self.metadata.borrow().catalog.clone()
    }

    /// Waits until this node has applied more than `seen` records; returns
    /// the records then.
    pub fn more_than(&self, seen: u64) -> impl Future<Output = CatalogRecords> + Send + 'static {
        self.once(move |m| (m.catalog.len() > seen).then(|| m.catalog.clone()))
    }
}

fn stopped() -> Error {
    Error::new(
        sqlstate::CONNECTION_FAILURE,
        "the cluster service has stopped",
    )
}
