//! The transport between shards: a request goes to a shard's mailbox and the
//! reply comes back on a one-shot channel. A request for the router's own
//! shard is handled in place, with no message and no thread hop.
//!
//! Messages are plain data (no `Rc`, no closures), so they also travel
//! between nodes: [`RemoteShards`] runs requests another node sent over
//! the cluster's internal port (`tessera_cluster::shards`) by posting them
//! into the same mailboxes. Routers only see
//! [`tessera_sql::router::Cluster`].

use std::cell::Cell;
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use tessera_sql::router::{Cluster, ReadFrom, READ_FROM};
use tessera_sql::shard::{ShardContext, ShardRequest, ShardResponse};
use tessera_storage::deps::Positions;
use tessera_storage::{LogDeps, Timestamp, TxId};
use tessera_types::interrupt::{Interrupt, Interruptible};
use tessera_types::schema::ShardId;
use tessera_types::{sqlstate, Catalog, Error, Result};
use tokio::sync::{mpsc, oneshot};

/// Requests a shard's mailbox holds before senders wait: back-pressure
/// instead of unbounded queues when one shard falls behind.
pub const MAILBOX_CAPACITY: usize = 4096;

/// The most shards one node runs.
pub const MAX_SHARDS: u64 = 1024;

use tessera_storage::record::make_id;
pub use tessera_storage::record::{id_sequence, ID_SHARD_BITS};

/// How long a request to another node's shard may take when its statement
/// sets no timeout: past it the call fails with 57014 and is cancelled
/// there (a node that accepts requests and never answers must not hold a
/// session forever).
pub const REMOTE_CALL_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(3600);

/// How often a statement waiting for another node checks its interrupt
/// (a cancel, `statement_timeout`, the session's end).
const REMOTE_INTERRUPT_TICK: std::time::Duration = std::time::Duration::from_millis(10);

/// The future of a call to another node: it runs on the calling shard's
/// thread.
pub type LocalFuture<T> = std::pin::Pin<Box<dyn std::future::Future<Output = T>>>;

/// Runs requests on the shards of other nodes (the binary's
/// `tessera_cluster::shards::ShardPeer`s, found through the metadata
/// tables' shard numbers).
pub trait RemoteShardCalls: Send + Sync {
    /// Runs encoded request `request` on cluster-wide shard `shard` and
    /// returns the encoded response or the shard's error; waits at most
    /// `timeout`. Dropping the future cancels the request there.
    fn call(
        &self,
        shard: ShardId,
        request: Vec<u8>,
        timeout: std::time::Duration,
    ) -> LocalFuture<Result<Vec<u8>>>;

    /// Whether this node takes requests for its shard `index` (its number
    /// on the node): it is the master of that shard's replica set. A
    /// shard another member is master of is called there, as if another
    /// node's (docs/CLUSTER.md §3).
    fn serves_here(&self, index: ShardId) -> bool;

    /// Runs encoded read `request` (a `FromCopy`) on another member's copy
    /// of cluster-wide shard `shard`: a replica's, or with `any` the
    /// master's too, taking the members in turn. Fails (then the caller
    /// asks the master) when there is none to ask.
    fn call_copy(
        &self,
        shard: ShardId,
        request: Vec<u8>,
        timeout: std::time::Duration,
        any: bool,
    ) -> LocalFuture<Result<Vec<u8>>>;
}

/// Where a node in a cluster extends its id lease (`tessera_cluster`'s
/// `CatalogClient::lease_ids`).
pub trait IdLeaseSource: Send + Sync {
    /// Extends the lease to at least `up_to`; answers its end.
    fn extend(&self, up_to: u64) -> tessera_sql::shard::SendFuture<Result<u64>>;
}

/// In a cluster, ids must stay unique even where only another node's log
/// recorded them (a row this node's router inserted there, a transaction
/// it prepared there), so recovery cannot find the largest one issued. The
/// cluster grants each node a lease: its shards hand out sequence numbers
/// only below `end`, a restart starts at the lease's end, and the lease is
/// extended by [`IdLease::BLOCK`] when a shard is half a block from it.
pub struct IdLease {
    end: AtomicU64,
    wanted: tokio::sync::Notify,
    warned: std::sync::atomic::AtomicBool,
}

impl IdLease {
    /// How far one extension reaches: 4.3e9 ids per shard, so a lease
    /// lasts hours even at a million transactions a second on one shard,
    /// and 65,536 of them fill the 48-bit sequence.
    pub const BLOCK: u64 = 1 << 32;

    pub fn new(end: u64) -> IdLease {
        IdLease {
            end: AtomicU64::new(end),
            wanted: tokio::sync::Notify::new(),
            warned: Default::default(),
        }
    }

    pub fn end(&self) -> u64 {
        self.end.load(Ordering::Acquire)
    }

    /// A shard is about to hand out `sequence`.
    fn note(&self, sequence: u64) {
        let end = self.end();
        if sequence + Self::BLOCK / 2 >= end {
            self.wanted.notify_one();
        }
        if sequence >= end && !self.warned.swap(true, Ordering::AcqRel) {
            tracing::error!(
                "this node hands out ids past its lease from the cluster (sequence {sequence}, lease {end}): the metadata group has not extended it; an id may repeat if the node crashes before it does"
            );
        }
    }

    /// Extends the lease whenever a shard comes near its end; runs for the
    /// node's life.
    pub async fn keep_extended(self: Arc<IdLease>, source: Arc<dyn IdLeaseSource>) {
        loop {
            self.wanted.notified().await;
            let end = self.end();
            match source.extend(end + Self::BLOCK).await {
                Ok(granted) => {
                    self.end.fetch_max(granted, Ordering::AcqRel);
                    self.warned.store(false, Ordering::Release);
                }
                Err(e) => {
                    tracing::warn!("extending the id lease: {}", e.message);
                    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                    self.wanted.notify_one();
                }
            }
        }
    }
}

/// The largest row and transaction ids each shard's router has handed out.
/// Checkpoint headers record the maximum, because the log that showed
/// those ids may be removed, and an id must never be handed out twice: a
/// reused transaction id could be settled by an old decision. Each router
/// writes only its own slot, on a cache line of its own.
pub struct IssuedIds {
    slots: Box<[IdSlot]>,
}

#[repr(align(64))]
#[derive(Default)]
struct IdSlot {
    tx: AtomicU64,
    row: AtomicU64,
}

impl IssuedIds {
    /// Slots for `shards` routers, starting from the largest ids recovery found.
    pub fn new(shards: usize, max_tx: TxId, max_row_id: u64) -> IssuedIds {
        let slots: Box<[IdSlot]> = (0..shards.max(1)).map(|_| IdSlot::default()).collect();
        slots[0].tx.store(max_tx, Ordering::Release);
        slots[0].row.store(max_row_id, Ordering::Release);
        IssuedIds { slots }
    }

    /// The largest transaction id handed out by any router. A record that
    /// reached a shard before this call carries an id at or below it (the
    /// router noted the id before sending the request).
    pub fn max_tx(&self) -> TxId {
        self.slots
            .iter()
            .map(|s| s.tx.load(Ordering::Acquire))
            .max()
            .unwrap_or(0)
    }

    /// The largest row id handed out by any router.
    pub fn max_row_id(&self) -> u64 {
        self.slots
            .iter()
            .map(|s| s.row.load(Ordering::Acquire))
            .max()
            .unwrap_or(0)
    }
}

pub struct Envelope {
    pub request: ShardRequest,
    /// The sending statement's interrupt, for a request it may stop
    /// (see [`ShardRequest::interruptible`]).
    pub interrupt: Option<Arc<Interrupt>>,
    /// The response, and the log positions what the request observed
    /// depends on (see `tessera_storage::deps`).
    pub reply: oneshot::Sender<(Result<ShardResponse>, Positions)>,
}

pub type Mailboxes = Arc<[mpsc::Sender<Envelope>]>;

/// The index on this node of cluster-wide shard `shard`, if it is one of
/// the node's (`mailboxes`, numbered from `first_shard`).
fn local_index(mailboxes: &Mailboxes, first_shard: ShardId, shard: ShardId) -> Option<ShardId> {
    shard
        .checked_sub(first_shard)
        .filter(|i| (*i as usize) < mailboxes.len())
}

/// See [`RemoteShards`]'s `open_blocks`.
type OpenBlocks = std::collections::HashMap<u64, std::collections::HashSet<(TxId, ShardId)>>;

/// The [`Cluster`] a router on one shard sees.
pub struct ShardCluster {
    ctx: Rc<ShardContext>,
    mailboxes: Mailboxes,
    /// The cluster-wide number of this node's shard 0.
    first_shard: ShardId,
    row_seq: Cell<u64>,
    tx_seq: Cell<u64>,
    issued: Arc<IssuedIds>,
    lease: Option<Arc<IdLease>>,
    /// In a cluster: the other nodes' shards.
    remote: Option<Arc<dyn RemoteShardCalls>>,
}

/// Where a shard's ids come from.
pub struct IdSource {
    pub first_row_seq: u64,
    pub first_tx_seq: u64,
    pub issued: Arc<IssuedIds>,
    /// In a cluster.
    pub lease: Option<Arc<IdLease>>,
}

impl ShardCluster {
    pub fn new(
        ctx: Rc<ShardContext>,
        mailboxes: Mailboxes,
        first_shard: ShardId,
        ids: IdSource,
        remote: Option<Arc<dyn RemoteShardCalls>>,
    ) -> ShardCluster {
        ShardCluster {
            ctx,
            mailboxes,
            first_shard,
            row_seq: Cell::new(ids.first_row_seq),
            tx_seq: Cell::new(ids.first_tx_seq),
            issued: ids.issued,
            lease: ids.lease,
            remote,
        }
    }

    /// The next number of sequence `seq`, as an id of this shard.
    fn next_id(&self, seq: &Cell<u64>) -> u64 {
        let next = seq.get();
        seq.set(next + 1);
        if let Some(lease) = &self.lease {
            lease.note(next);
        }
        make_id(next, self.first_shard + self.ctx.shard)
    }

    fn slot(&self) -> &IdSlot {
        &self.issued.slots[self.ctx.shard as usize % self.issued.slots.len()]
    }

    pub fn context(&self) -> &Rc<ShardContext> {
        &self.ctx
    }

    /// The index of `shard` on this node, if this node serves it.
    fn local_index(&self, shard: ShardId) -> Option<ShardId> {
        local_index(&self.mailboxes, self.first_shard, shard)
            .filter(|i| self.remote.as_ref().is_none_or(|r| r.serves_here(*i)))
    }

    /// Runs `request` on another node's shard `shard` (its master's node;
    /// see [`ShardCluster::send_remote`]).
    async fn call_remote(&self, shard: ShardId, request: ShardRequest) -> Result<ShardResponse> {
        let Some(remote) = &self.remote else {
            return Err(Error::internal(format!("no shard {shard} on this node")));
        };
        // A block that changed the catalog sees a catalog of its own, which
        // only this node has (docs/CLUSTER.md §4).
        if request
            .work_of()
            .is_some_and(|t| self.ctx.changed_catalog(t))
        {
            return Err(Error::new(
                sqlstate::FEATURE_NOT_SUPPORTED,
                "a transaction block that changed the catalog cannot read or write rows on another node yet; commit the change first",
            ));
        }
        self.send_remote(&request, |bytes, timeout| {
            remote.call(shard, bytes, timeout)
        })
        .await
    }

    /// Sends `request` to another node through `send` (given the encoded
    /// request and how long it may take) and decodes the answer. What the
    /// statement observed here is made durable first: that node cannot
    /// wait for this node's logs, and what it does may depend on it. An
    /// interruptible request stops, and is cancelled there, when its
    /// statement is.
    async fn send_remote(
        &self,
        request: &ShardRequest,
        send: impl FnOnce(Vec<u8>, std::time::Duration) -> LocalFuture<Result<Vec<u8>>>,
    ) -> Result<ShardResponse> {
        let pending = self.ctx.statement_deps();
        if !pending.is_empty() {
            self.ctx.deps.wait(&pending).await?;
        }
        let interrupt = interrupt_of(request);
        let bytes = tessera_sql::wire::encode_request(request)?;
        let call = send(bytes, call_timeout(&interrupt));
        let reply = until_interrupted(call, interrupt).await?;
        tessera_sql::wire::decode_response(&reply)
    }

    /// Runs `request` on this node's shard `index` (its number here): in
    /// place when it is the router's own, else through its mailbox. What
    /// it observed becomes a dependency of the running statement.
    async fn call_local(&self, index: ShardId, request: ShardRequest) -> Result<ShardResponse> {
        self.ctx.before_request(index);
        let interrupt = interrupt_of(&request);
        let (response, observed) = if index == self.ctx.shard {
            Interruptible::new(self.ctx.serve(request), interrupt).await
        } else {
            through_mailbox(&self.mailboxes[index as usize], index, request, interrupt).await?
        };
        self.ctx.after_reply(&observed);
        response
    }
}

/// How long a call to another node may take: what the statement's
/// timeout leaves, else [`REMOTE_CALL_TIMEOUT`].
fn call_timeout(interrupt: &Option<Arc<Interrupt>>) -> std::time::Duration {
    interrupt
        .as_ref()
        .and_then(|i| i.time_left())
        .unwrap_or(REMOTE_CALL_TIMEOUT)
}

/// Awaits a call to another node; a cancel or timeout of the statement
/// stops it (and dropping the call cancels it there).
async fn until_interrupted(
    call: LocalFuture<Result<Vec<u8>>>,
    interrupt: Option<Arc<Interrupt>>,
) -> Result<Vec<u8>> {
    let Some(interrupt) = interrupt else {
        return call.await;
    };
    let stopped = async {
        loop {
            tokio::time::sleep(REMOTE_INTERRUPT_TICK).await;
            interrupt.check()?;
        }
    };
    tokio::select! {
        reply = call => reply,
        stopped = stopped => stopped,
    }
}

/// The interrupt a request runs under: the sending statement's when the
/// statement may stop it, else none (a commit step runs to its end).
fn interrupt_of(request: &ShardRequest) -> Option<Arc<Interrupt>> {
    if request.interruptible() {
        tessera_types::interrupt::current()
    } else {
        None
    }
}

fn shard_gone(shard: ShardId) -> Error {
    Error::new(
        sqlstate::ADMIN_SHUTDOWN,
        format!("shard {shard} is shutting down"),
    )
}

/// Posts `request` to shard `shard`'s mailbox and waits for its reply: the
/// response and the log positions what it observed depends on.
async fn through_mailbox(
    mailbox: &mpsc::Sender<Envelope>,
    shard: ShardId,
    request: ShardRequest,
    interrupt: Option<Arc<Interrupt>>,
) -> Result<(Result<ShardResponse>, Positions)> {
    let (reply, response) = oneshot::channel();
    into_mailbox(mailbox, shard, request, interrupt, reply).await?;
    response.await.map_err(|_| shard_gone(shard))
}

/// Posts `request` to shard `shard`'s mailbox, its reply to go to `reply`.
async fn into_mailbox(
    mailbox: &mpsc::Sender<Envelope>,
    shard: ShardId,
    request: ShardRequest,
    interrupt: Option<Arc<Interrupt>>,
    reply: oneshot::Sender<(Result<ShardResponse>, Positions)>,
) -> Result<()> {
    mailbox
        .send(Envelope {
            request,
            interrupt,
            reply,
        })
        .await
        .map_err(|_| shard_gone(shard))
}

/// Whether a read a copy could not serve goes to the master: the copy
/// refused it (behind, or not this node's to serve) or was not reached.
fn falls_back(e: &Error) -> bool {
    e.is_no_master_reached() || e.code.class() == "08" || e.code == sqlstate::UNDEFINED_OBJECT
}

impl ShardCluster {
    /// A read of a session that reads from replicas
    /// (`tessera.read_preference`): on this node's copy of `shard` when it
    /// holds one (a replica's; with `Any`, the master's too), else on
    /// another member's. `None` when the master is the one to ask: it is
    /// this node with `Any`, or no other member holds a copy.
    async fn call_copy(
        &self,
        shard: ShardId,
        from: ReadFrom,
        read: ShardRequest,
    ) -> Option<Result<ShardResponse>> {
        let remote = self.remote.as_ref()?;
        match local_index(&self.mailboxes, self.first_shard, shard) {
            // This node's master copy: with `Any`, read as any read.
            Some(index) if remote.serves_here(index) && from == ReadFrom::Any => return None,
            // With `Replica`, a replica elsewhere.
            Some(index) if remote.serves_here(index) => {}
            Some(index) => return Some(self.call_local(index, read).await),
            None => {}
        }
        let any = from == ReadFrom::Any;
        let reply = self.send_remote(&read, |bytes, timeout| {
            remote.call_copy(shard, bytes, timeout, any)
        });
        Some(reply.await)
    }
}

impl Cluster for ShardCluster {
    fn local_shard(&self) -> ShardId {
        self.first_shard + self.ctx.shard
    }

    fn home_shard(&self) -> ShardId {
        self.first_shard
    }

    fn is_local(&self, shard: ShardId) -> bool {
        self.local_index(shard).is_some()
    }

    fn in_cluster(&self) -> bool {
        self.remote.is_some()
    }

    fn replicated(&self) -> bool {
        self.ctx.is_replicated()
    }

    fn table_stats(&self) -> Option<Arc<tessera_sql::stats::TableStats>> {
        self.ctx.stats()
    }

    fn catalog(&self) -> Arc<Catalog> {
        self.ctx.catalog()
    }

    fn catalog_as(&self, txn: tessera_storage::TxId) -> Arc<Catalog> {
        self.ctx.catalog_as(Some(txn))
    }

    async fn call(&self, shard: ShardId, mut request: ShardRequest) -> Result<ShardResponse> {
        if let Ok(from) = READ_FROM.try_with(|f| *f) {
            if let Some(read) = request.for_copy() {
                // The router routed it by its newest map, for a copy's
                // newest snapshot: a master asked instead reads it so too.
                request = read.clone();
                match self.call_copy(shard, from, read).await {
                    Some(Ok(response)) => return Ok(response),
                    // The copy's own answer (an error of the query).
                    Some(Err(e)) if !falls_back(&e) => return Err(e),
                    Some(Err(e)) => {
                        tracing::debug!(
                            "a read from a copy of shard {shard} goes to its master: {e}"
                        )
                    }
                    None => {}
                }
            }
        }
        match self.local_index(shard) {
            Some(index) => self.call_local(index, request).await,
            None => self.call_remote(shard, request).await,
        }
    }

    async fn post(&self, shard: ShardId, request: ShardRequest) -> Result<()> {
        let Some(index) = self.local_index(shard) else {
            // Another node: sent in the background. Nothing depends on its
            // order there (a `Resolve`: whoever meets the prepared rows
            // first waits for it), and if it is lost, the shard settles the
            // prepare by asking its decision's shard. What the statement
            // observed here (the decision a `Resolve` carries) is durable
            // first, as for a call.
            let Some(remote) = self.remote.clone() else {
                return Err(Error::internal(format!("no shard {shard} on this node")));
            };
            let bytes = tessera_sql::wire::encode_request(&request)?;
            let pending = self.ctx.statement_deps();
            let deps = self.ctx.deps.clone();
            tokio::task::spawn_local(async move {
                if !pending.is_empty() {
                    if let Err(e) = deps.wait(&pending).await {
                        tracing::warn!(
                            "a request to shard {shard} of another node was not sent: {e}"
                        );
                        return;
                    }
                }
                if let Err(e) = remote.call(shard, bytes, REMOTE_CALL_TIMEOUT).await {
                    tracing::warn!("a request to shard {shard} of another node failed: {e}");
                }
            });
            return Ok(());
        };
        self.ctx.before_request(index);
        let interrupt = interrupt_of(&request);
        if index == self.ctx.shard {
            let (done, observed) = Interruptible::new(self.ctx.serve(request), interrupt).await;
            self.ctx.after_reply(&observed);
            return done.map(|_| ());
        }
        // The reply goes to a receiver already dropped: sending it wakes
        // no one.
        let (reply, _) = oneshot::channel();
        into_mailbox(
            &self.mailboxes[index as usize],
            index,
            request,
            interrupt,
            reply,
        )
        .await
    }

    fn next_row_id(&self) -> u64 {
        let id = self.next_id(&self.row_seq);
        self.slot().row.store(id, Ordering::Release);
        id
    }

    fn begin_read(&self) -> (Timestamp, Timestamp) {
        self.ctx.begin_read()
    }

    async fn wait_durable(&self, positions: Positions) -> Result<()> {
        self.ctx.deps.wait(&positions).await
    }

    fn end_read(&self, floor: Timestamp) {
        self.ctx.end_read(floor)
    }

    fn tick(&self) -> Timestamp {
        self.ctx.tick()
    }

    fn next_tx(&self) -> TxId {
        let id = self.next_id(&self.tx_seq);
        self.slot().tx.store(id, Ordering::Release);
        id
    }
}

/// Runs shard requests that came from other nodes: decodes one
/// (`tessera_sql::wire`), posts it into the target shard's mailbox as a
/// router on this node would, and encodes the answer. An interruptible
/// request runs under the interrupt the cluster service fires when the
/// caller cancels or goes away. The calling node cannot wait for this
/// node's logs, so the answer leaves only once what the request observed
/// is durable here (a local router waits for the same positions itself).
#[derive(Clone)]
pub struct RemoteShards {
    /// Per connection, the transaction blocks its calls worked for and
    /// have not ended, with the shard (index) they worked on: when the
    /// connection closes they are abandoned (`TxnAbandon`), or their
    /// intents would hold rows with no router to end them.
    open_blocks: Arc<std::sync::Mutex<OpenBlocks>>,
    mailboxes: Mailboxes,
    /// The cluster-wide number of the node's shard 0: calls name shards by
    /// cluster-wide number.
    first_shard: ShardId,
    deps: Arc<LogDeps>,
    timeline: Arc<tessera_storage::Timeline>,
    /// Which shards this node serves (`RemoteShardCalls::serves_here`).
    calls: Option<Arc<dyn RemoteShardCalls>>,
}

impl RemoteShards {
    pub fn new(
        mailboxes: Mailboxes,
        first_shard: ShardId,
        deps: Arc<LogDeps>,
        timeline: Arc<tessera_storage::Timeline>,
        calls: Option<Arc<dyn RemoteShardCalls>>,
    ) -> RemoteShards {
        RemoteShards {
            open_blocks: Default::default(),
            mailboxes,
            first_shard,
            deps,
            timeline,
            calls,
        }
    }

    /// The node's clock, which messages between nodes carry.
    pub fn timeline(&self) -> &tessera_storage::Timeline {
        &self.timeline
    }

    /// Notes the block request `request` works for, or that it ends one.
    fn track_block(&self, connection: u64, index: ShardId, request: &ShardRequest) {
        let mut open = self.open_blocks.lock().unwrap_or_else(|e| e.into_inner());
        match request {
            // Ended here (a prepare's outcome is then the decision's).
            ShardRequest::TxnCommit { id, .. }
            | ShardRequest::TxnPrepare { id, .. }
            | ShardRequest::TxnAbort { id } => {
                if let Some(blocks) = open.get_mut(&connection) {
                    blocks.remove(&(*id, index));
                    if blocks.is_empty() {
                        open.remove(&connection);
                    }
                }
            }
            other => {
                if let Some(tx) = other.block_work() {
                    open.entry(connection).or_default().insert((tx, index));
                }
            }
        }
    }

    /// Connection `connection` closed: every block its calls left open is
    /// rolled back where it worked, and refused there from now on.
    pub async fn abandon(self, connection: u64) {
        let blocks = self
            .open_blocks
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&connection)
            .unwrap_or_default();
        for (tx, index) in blocks {
            tracing::warn!(
                "rolled back transaction {tx} on shard {}: the connection from its node was lost",
                self.first_shard + index
            );
            let abandon = ShardRequest::TxnAbandon { id: tx };
            let mailbox = &self.mailboxes[index as usize];
            if let Err(e) = through_mailbox(mailbox, index, abandon, None).await {
                tracing::warn!("abandoning transaction {tx}: {e}");
            }
        }
    }

    pub async fn serve(
        &self,
        connection: u64,
        shard: u16,
        request: &[u8],
        interrupt: Arc<Interrupt>,
    ) -> Result<Vec<u8>> {
        let Some(index) = local_index(&self.mailboxes, self.first_shard, shard) else {
            return Err(Error::new(
                sqlstate::UNDEFINED_OBJECT,
                format!(
                    "this node has no shard {shard} (it has {}-{})",
                    self.first_shard,
                    self.first_shard as usize + self.mailboxes.len() - 1
                ),
            ));
        };
        let request = tessera_sql::wire::decode_request(request)?;
        // A read for a copy is served by this node's, master or replica.
        let for_copy = matches!(request, ShardRequest::FromCopy { .. });
        if !for_copy && self.calls.as_ref().is_some_and(|c| !c.serves_here(index)) {
            // A router that has not yet seen the master change: it waits
            // for the metadata and asks again.
            return Err(Error::new(
                sqlstate::SERIALIZATION_FAILURE,
                format!("this node is not the master of shard {shard}"),
            )
            .no_master_reached());
        }
        let mailbox = &self.mailboxes[index as usize];
        self.track_block(connection, index, &request);
        // The calling node's floor arrived with the call; a snapshot older
        // than what this node already pruned cannot be read here.
        if let Some(ts) = request.snapshot() {
            self.timeline.check_snapshot(ts)?;
        }
        let interrupt = request.interruptible().then_some(interrupt);
        let (response, observed) = through_mailbox(mailbox, index, request, interrupt).await?;
        let response = response?;
        self.deps.wait(&observed).await?;
        tessera_sql::wire::encode_response(&response)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_carry_their_shard_below_a_sequence() {
        let id = make_id(5, 300);
        assert_eq!(id_sequence(id), 5);
        assert_eq!(id & 0xffff, 300);
        assert!(make_id(6, 0) > make_id(5, u16::MAX));
    }

    #[tokio::test]
    async fn a_lease_asks_for_more_half_a_block_before_its_end() {
        struct Grant(AtomicU64);
        impl IdLeaseSource for Grant {
            fn extend(&self, up_to: u64) -> tessera_sql::shard::SendFuture<Result<u64>> {
                self.0.fetch_add(1, Ordering::SeqCst);
                Box::pin(async move { Ok(up_to) })
            }
        }
        let grant = Arc::new(Grant(AtomicU64::new(0)));
        let lease = Arc::new(IdLease::new(IdLease::BLOCK));
        let keeper = tokio::spawn(lease.clone().keep_extended(grant.clone()));
        lease.note(1);
        tokio::task::yield_now().await;
        assert_eq!(lease.end(), IdLease::BLOCK, "far from the end: no request");
        lease.note(IdLease::BLOCK / 2);
        for _ in 0..100 {
            if lease.end() > IdLease::BLOCK {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        assert_eq!(lease.end(), 2 * IdLease::BLOCK);
        assert_eq!(grant.0.load(Ordering::SeqCst), 1);
        keeper.abort();
    }
}
