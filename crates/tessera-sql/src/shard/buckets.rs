//! A shard's part in moving buckets (docs/CLUSTER.md §8).
//!
//! A move is one transaction decided in the catalog's log: the giving shard
//! deletes the buckets' entries (`BucketsOut`: rows, and the entries of
//! indexes kept with them or sharded by their own values into these
//! buckets), the taking shard inserts them (`BucketsIn`), both prepared
//! durably; then the mover appends a `CatalogRecord::Transaction` holding
//! the new owners, and both commit at its timestamp (`BucketsSettle`).
//!
//! While its buckets move, the giver holds new rows for them back: a write
//! that would put an entry into one waits until the move ends, and then
//! finds its map out of date. Requests routed by an older map than the
//! shard's latest loss are refused (`stale_map`): their router catches up
//! and sends them again.

use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::rc::Rc;

use tessera_storage::record::{TxId, WriteOp, WriteSet};
use tessera_storage::store::{LockOwner, LATEST};
use tessera_types::buckets::decided_in_catalog;
use tessera_types::encoding::{encode_key, hash_key};
use tessera_types::schema::Bucket;
use tessera_types::{sqlstate, Catalog, Error, Result, TableDef, TableId, Value};
use tokio::sync::Notify;

use super::{ShardContext, ShardRequest, ShardResponse};

tokio::task_local! {
    /// The epoch of the bucket map the request being served was routed by.
    static ROUTED: u64;
}

/// How long a move waits for the locks held on its buckets' entries.
const MOVE_LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

/// One entry of a storage table, as a move carries it.
pub type Entry = (TableId, Vec<u8>, Vec<Value>);

/// The buckets this shard is giving away, while their move is under way.
pub(super) struct Moving {
    tx: TxId,
    buckets: HashSet<Bucket>,
    /// Where entries are placed, as the catalog said when the move began
    /// (it cannot change before the move ends: the mover holds the cluster
    /// DDL lock).
    placements: Rc<HashMap<TableId, Placed>>,
    ended: Rc<Notify>,
}

/// The answer to a request routed by an older bucket map than the shard's.
pub fn stale_map(epoch: u64) -> Error {
    Error::new(
        sqlstate::SERIALIZATION_FAILURE,
        "the rows this statement reached moved to another shard",
    )
    .with_detail(format!("{STALE_MAP}{epoch}"))
}

const STALE_MAP: &str = "bucket map epoch ";

/// The bucket map epoch a shard's `stale_map` answer asks its router to
/// catch up to.
pub fn stale_map_epoch(e: &Error) -> Option<u64> {
    if e.code != sqlstate::SERIALIZATION_FAILURE {
        return None;
    }
    e.detail.as_deref()?.strip_prefix(STALE_MAP)?.parse().ok()
}

/// Waits until `holds` is true of the node's catalog as `load` gives it
/// (it follows the cluster's log on shard 0), up to `limit`: whether it
/// came to hold. A cancel of the waiting statement ends the wait.
pub(crate) async fn catalog_reaches(
    load: impl Fn() -> std::sync::Arc<Catalog>,
    holds: impl Fn(&Catalog) -> bool,
    limit: std::time::Duration,
) -> Result<bool> {
    let started = std::time::Instant::now();
    while !holds(&load()) {
        if started.elapsed() > limit {
            return Ok(false);
        }
        tessera_types::interrupt::check()?;
        tokio::time::sleep(std::time::Duration::from_millis(2)).await;
    }
    Ok(true)
}

/// How to find the bucket of an entry of one storage table: by the
/// entry's key (a table whose key is its sharding key, or a global
/// index's entries), or by these columns of the entry (a table's sharding
/// key; for a local index's entries, the sharding key of the row they
/// point at).
enum Placement {
    Key,
    Columns(Vec<usize>),
}

/// A storage table's entries' placement: the tier whose buckets they go
/// to, and how their bucket is found.
type Placed = (u16, Placement);

/// Where each storage table's entries are placed; a global table's have no
/// bucket.
fn placements(catalog: &Catalog) -> HashMap<TableId, Placed> {
    let mut out = HashMap::new();
    let own = |t: &TableDef| {
        if t.sharding_key.is_empty() || t.sharding_key == t.primary_key {
            Placement::Key
        } else {
            Placement::Columns(t.sharding_key.clone())
        }
    };
    for table in catalog.tables().filter(|t| !t.global) {
        out.insert(table.id, (table.tier, own(table)));
        for index in catalog.indexes_of(table.id) {
            let placement = if index.is_global(table) {
                own(&index.storage)
            } else if table.sharding_key.is_empty() || table.sharding_key == table.primary_key {
                Placement::Columns(index.row_key_columns().collect())
            } else {
                // The sharding key's columns, found among the row's key
                // columns at the entry's tail.
                let tail = index.columns.len();
                let at = table
                    .sharding_key
                    .iter()
                    .map(|c| {
                        table
                            .primary_key
                            .iter()
                            .position(|p| p == c)
                            .map_or(0, |i| tail + i)
                    })
                    .collect();
                Placement::Columns(at)
            };
            out.insert(index.storage.id, (table.tier, placement));
        }
    }
    out
}

fn bucket_of(catalog: &Catalog, placed: &Placed, key: &[u8], entry: &[Value]) -> Bucket {
    let (tier, placement) = placed;
    let hash = match placement {
        Placement::Key => hash_key(key),
        Placement::Columns(columns) => hash_key(&encode_key(entry, columns)),
    };
    catalog.bucket_of_hash(*tier, hash)
}

impl ShardContext {
    /// Serves `request`, routed by a bucket map of epoch `epoch`.
    pub(super) async fn handle_routed(
        &self,
        epoch: u64,
        request: ShardRequest,
    ) -> Result<ShardResponse> {
        self.check_routed(epoch)?;
        self.settle_decided_moves(epoch).await?;
        if let ShardRequest::Modify {
            mode:
                super::WriteMode::Txn {
                    snapshot: Some(snapshot),
                    ..
                },
            ..
        }
        | ShardRequest::LockKeys {
            mode:
                super::WriteMode::Txn {
                    snapshot: Some(snapshot),
                    ..
                },
            ..
        } = &request
        {
            self.check_gained_before(*snapshot)?;
        }
        let reads = matches!(
            request,
            ShardRequest::Scan { .. } | ShardRequest::Get { .. } | ShardRequest::LockKeys { .. }
        );
        let response = ROUTED.scope(epoch, Box::pin(self.handle(request))).await?;
        // What a read found may have moved while it waited (for a prepared
        // move, or a lock): its router reads again. A write checked before
        // it locked anything (`check_write_routed`).
        if reads {
            self.check_routed(epoch)?;
        }
        Ok(response)
    }

    /// Before a request routed by a map of epoch `epoch`: the moves
    /// prepared here that this node's catalog decided are settled (it
    /// catches up to `epoch` first). A router that routes by a map holding
    /// a move thus finds the taker's entries committed (a write that reads
    /// the newest rows would miss them while prepared) and the giver's gone.
    async fn settle_decided_moves(&self, epoch: u64) -> Result<()> {
        let pending = self
            .prepared
            .borrow()
            .keys()
            .any(|tx| decided_in_catalog(*tx));
        if !pending {
            return Ok(());
        }
        if self.catalog().buckets.moves.epoch < epoch {
            catalog_reaches(
                || self.catalog(),
                |c| c.buckets.moves.epoch >= epoch,
                std::time::Duration::from_secs(10),
            )
            .await?;
        }
        self.settle_by_catalog(|_| true);
        Ok(())
    }

    /// Settles the moves prepared here for which `due` holds and whose
    /// outcome this node's catalog holds; returns the others that were due.
    fn settle_by_catalog(&self, due: impl Fn(u64) -> bool) -> Vec<TxId> {
        // A replica's prepares settle from its master's log, as copied.
        if self.is_replica() {
            return vec![];
        }
        let waiting: Vec<TxId> = self
            .prepared
            .borrow()
            .iter()
            .filter(|(tx, (_, at))| decided_in_catalog(**tx) && due(*at))
            .map(|(tx, _)| *tx)
            .collect();
        let catalog = self.catalog();
        let mut undecided = Vec::new();
        for tx in waiting {
            match catalog.buckets.moves.outcomes.get(&tx) {
                Some(outcome) => {
                    let (commit, ts) = (outcome.is_some(), outcome.unwrap_or(0));
                    tracing::debug!(
                        "shard {}: settled move {tx} from the catalog ({})",
                        self.number(),
                        if commit { "committed" } else { "aborted" }
                    );
                    self.resolve(tx, commit, ts);
                    self.end_moving(tx);
                }
                None => undecided.push(tx),
            }
        }
        undecided
    }

    /// A transaction's write with snapshot `snapshot` (REPEATABLE READ,
    /// SERIALIZABLE) is refused with 40001 if this shard gained buckets
    /// after it: their rows are not here at the snapshot, so the write
    /// would miss rows it must see (or conflict with).
    fn check_gained_before(&self, snapshot: u64) -> Result<()> {
        let catalog = self.catalog();
        let moves = &catalog.buckets.moves;
        if snapshot >= moves.newest {
            return Ok(());
        }
        let me = self.number();
        let gained = moves.since.iter().any(|(bucket, (since, _))| {
            *since > snapshot && catalog.buckets.owner.get(*bucket as usize) == Some(&me)
        });
        if gained {
            return Err(Error::new(
                sqlstate::SERIALIZATION_FAILURE,
                "could not serialize access: rows this transaction writes moved to another shard after its snapshot",
            ));
        }
        Ok(())
    }

    fn check_routed(&self, epoch: u64) -> Result<()> {
        let catalog = self.catalog();
        if epoch < catalog.buckets.moves.lost_at(self.number()) {
            return Err(stale_map(catalog.buckets.moves.epoch));
        }
        Ok(())
    }

    /// Before a write locks its keys: refused if it was routed by a map
    /// older than this shard's latest loss; held back (`Some`: wait, then
    /// compute it again) if it puts an entry into a bucket being moved
    /// away.
    pub(super) fn check_write_routed(&self, writes: &WriteSet) -> Result<Option<Rc<Notify>>> {
        if let Ok(epoch) = ROUTED.try_with(|e| *e) {
            self.check_routed(epoch)?;
        }
        let moving = self.moving.borrow();
        let Some(moving) = moving.as_ref() else {
            return Ok(None);
        };
        let catalog = self.catalog();
        let held = writes.ops.iter().any(|op| match op {
            WriteOp::Put { table, key, row } => moving
                .placements
                .get(table)
                .is_some_and(|p| moving.buckets.contains(&bucket_of(&catalog, p, key, row))),
            WriteOp::Delete { .. } => false,
        });
        Ok(held.then(|| moving.ended.clone()))
    }

    /// The giver's part: holds back new entries of `buckets`, waits for
    /// the locks on their entries, and prepares their deletion under `tx`
    /// (durably); returns the entries.
    pub(super) async fn buckets_out(
        &self,
        tx: TxId,
        buckets: Vec<Bucket>,
    ) -> Result<ShardResponse> {
        if !decided_in_catalog(tx) {
            return Err(Error::internal(
                "a move of buckets decided outside the catalog",
            ));
        }
        if self.moving.borrow().is_some() {
            return Err(Error::new(
                sqlstate::OBJECT_IN_USE,
                format!("shard {} is already giving buckets away", self.number()),
            ));
        }
        let buckets: HashSet<Bucket> = buckets.into_iter().collect();
        self.moving.replace(Some(Moving {
            tx,
            buckets: buckets.clone(),
            placements: Rc::new(placements(&self.catalog())),
            ended: Rc::new(Notify::new()),
        }));
        let prepared = self.prepare_out(tx, &buckets).await;
        if prepared.is_err() && !self.prepared.borrow().contains_key(&tx) {
            self.end_moving(tx);
        }
        prepared.map(ShardResponse::Entries)
    }

    async fn prepare_out(&self, tx: TxId, buckets: &HashSet<Bucket>) -> Result<Vec<Entry>> {
        let started = std::time::Instant::now();
        let catalog = self.catalog();
        let placements = match self.moving.borrow().as_ref() {
            Some(m) => m.placements.clone(),
            None => return Err(Error::internal("a move of buckets not under way")),
        };
        while self.locked_in(&catalog, &placements, buckets) {
            if started.elapsed() > MOVE_LOCK_WAIT {
                return Err(Error::new(
                    sqlstate::LOCK_NOT_AVAILABLE,
                    "rows of the buckets to move stayed locked",
                ));
            }
            let unlocked = self.unlocked.notified();
            let _ = tokio::time::timeout(std::time::Duration::from_millis(20), unlocked).await;
        }
        let mut entries = Vec::new();
        {
            let store = self.store.borrow();
            for (id, placement) in placements.iter() {
                let Some(table) = store.table(*id) else {
                    continue;
                };
                for (key, row) in table.iter_at(None, LATEST) {
                    if buckets.contains(&bucket_of(&catalog, placement, key, row)) {
                        entries.push((*id, key.to_vec(), row.clone()));
                    }
                }
            }
        }
        let deletes = WriteSet {
            ops: entries
                .iter()
                .map(|(table, key, _)| WriteOp::Delete {
                    table: *table,
                    key: key.clone(),
                })
                .collect(),
        };
        self.store.borrow_mut().lock(&deletes, LockOwner::Tx(tx));
        self.prepare_locked(tx, deletes).await?;
        self.wait_published().await?;
        Ok(entries)
    }

    /// Whether a lock is held on an entry of `buckets` (or on one whose
    /// bucket cannot be told: a statement's insert under way).
    fn locked_in(
        &self,
        catalog: &Catalog,
        placements: &HashMap<TableId, Placed>,
        buckets: &HashSet<Bucket>,
    ) -> bool {
        let store = self.store.borrow();
        let intents = self.intents.borrow();
        let prepared = self.prepared.borrow();
        let locked = store.locked_keys().any(|(table, key, owner)| {
            let Some(placement) = placements.get(&table) else {
                return false;
            };
            let row = store
                .get(table, key, LATEST)
                .cloned()
                .or_else(|| match owner {
                    LockOwner::Tx(tx) => intents
                        .get(&tx)
                        .and_then(|i| i.get(&(table, key.to_vec())).cloned().flatten())
                        .or_else(|| {
                            prepared.get(&tx).and_then(|(w, _)| {
                                w.ops.iter().find_map(|op| match op {
                                    WriteOp::Put {
                                        table: t,
                                        key: k,
                                        row,
                                    } if *t == table && k == key => Some(row.clone()),
                                    _ => None,
                                })
                            })
                        }),
                    LockOwner::Statement(_) => None,
                });
            match row {
                Some(row) => buckets.contains(&bucket_of(catalog, placement, key, &row)),
                None => true,
            }
        });
        locked
    }

    /// The taker's part: prepares the insertion of the moved entries under
    /// `tx` (durably).
    pub(super) async fn buckets_in(&self, tx: TxId, entries: Vec<Entry>) -> Result<ShardResponse> {
        if !decided_in_catalog(tx) {
            return Err(Error::internal(
                "a move of buckets decided outside the catalog",
            ));
        }
        let puts = WriteSet {
            ops: entries
                .into_iter()
                .map(|(table, key, row)| WriteOp::Put { table, key, row })
                .collect(),
        };
        self.check_memory(&puts)?;
        if let Some(holder) = self.store.borrow().lock_holder(&puts, Some(tx)) {
            return Err(Error::new(
                sqlstate::LOCK_NOT_AVAILABLE,
                format!("entries of the buckets to move are locked here (by {holder:?})"),
            ));
        }
        self.store.borrow_mut().lock(&puts, LockOwner::Tx(tx));
        self.prepare_locked(tx, puts).await?;
        self.wait_published().await?;
        Ok(ShardResponse::Done(vec![]))
    }

    /// Settles a move's part here: a commit once this node's catalog holds
    /// it (so that requests routed by the old map are refused before its
    /// rows are gone), at its timestamp.
    pub(super) async fn buckets_settle(
        &self,
        tx: TxId,
        commit: bool,
        ts: u64,
    ) -> Result<ShardResponse> {
        if commit {
            let holds = catalog_reaches(
                || self.catalog(),
                |c| c.outcome(tx) == Some(true),
                std::time::Duration::from_secs(60),
            );
            if !holds.await? {
                return Err(Error::new(
                    sqlstate::OBJECT_NOT_IN_PREREQUISITE_STATE,
                    "this node's catalog does not hold the move of buckets",
                ));
            }
        }
        self.resolve(tx, commit, ts);
        self.end_moving(tx);
        Ok(ShardResponse::Done(vec![]))
    }

    fn end_moving(&self, tx: TxId) {
        let mut moving = self.moving.borrow_mut();
        if moving.as_ref().is_some_and(|m| m.tx == tx) {
            if let Some(m) = moving.take() {
                m.ended.notify_waiters();
            }
        }
    }

    /// Prepares recovery left open whose outcome comes from elsewhere
    /// (the catalog's log, a router on another node, or on a replica its
    /// master's copied `Resolve`): they stay locked and prepared until it
    /// comes.
    pub fn restore_in_doubt(&self, in_doubt: Vec<(TxId, WriteSet)>) {
        let now = self.tick();
        for (tx, writes) in in_doubt {
            self.store.borrow_mut().lock(&writes, LockOwner::Tx(tx));
            self.prepared.borrow_mut().insert(tx, (writes, now));
        }
    }

    /// Prepares decided in the catalog's log that were left waiting for
    /// longer than `after_micros`: those it decided are settled here;
    /// the others are returned, for an abort to be appended to the log
    /// (their decider may be gone), after which they are settled too.
    pub fn settle_catalog_decided(&self, after_micros: u64) -> Vec<TxId> {
        let now = tessera_storage::clock::wall_micros();
        self.settle_by_catalog(|at| now.saturating_sub(at) > after_micros)
    }
}

/// The move in flight on a shard, for [`ShardContext`]'s field.
pub(super) type MovingCell = RefCell<Option<Moving>>;

/// How many buckets one move takes at most.
const MOVE_BUCKETS_MAX: usize = 64;

/// How often a node looks whether its shards hold more than their share.
const BALANCE_INTERVAL: std::time::Duration = std::time::Duration::from_secs(1);

/// The next move for a node whose shards are `mine`, one of
/// [`MOVE_BUCKETS_MAX`] buckets at most, to the online shard that owns
/// the fewest: first every bucket of a draining shard of `mine`; then,
/// when `even`, from the one of `mine` that owns the most, half the
/// difference. `None` once there is nothing to drain and (when `even`) no
/// two online shards differ by more than one bucket. `owner[b]` owns
/// bucket `b`; `online` and `draining` are the member nodes' shards.
pub fn plan_move(
    owner: &[u16],
    online: &[u16],
    draining: &[u16],
    mine: std::ops::Range<u16>,
    even: bool,
) -> Option<(u16, u16, Vec<Bucket>)> {
    let mut count: std::collections::BTreeMap<u16, usize> =
        online.iter().chain(draining).map(|s| (*s, 0)).collect();
    for o in owner {
        if let Some(c) = count.get_mut(o) {
            *c += 1;
        }
    }
    let (to, least) = count
        .iter()
        .filter(|(s, _)| online.contains(s))
        .min_by_key(|(s, c)| (**c, **s))?;
    let mine_most = |from: &[u16]| {
        count
            .iter()
            .filter(|(s, c)| mine.contains(s) && from.contains(s) && **c > 0)
            .max_by_key(|(s, c)| (**c, std::cmp::Reverse(**s)))
    };
    let (from, give) = match mine_most(draining) {
        Some((from, most)) => (*from, (*most).min(MOVE_BUCKETS_MAX)),
        None if even => {
            let (from, most) = mine_most(online)?;
            (*from, ((most - least) / 2).min(MOVE_BUCKETS_MAX))
        }
        None => return None,
    };
    if give == 0 {
        return None;
    }
    let buckets = owner
        .iter()
        .enumerate()
        .rev()
        .filter(|(_, o)| **o == from)
        .take(give)
        .map(|(b, _)| b as Bucket)
        .collect();
    Some((from, *to, buckets))
}

impl ShardContext {
    /// On shard 0 of a node in a cluster: gives every bucket of a
    /// draining node's shards away and, when `even`, buckets of this
    /// node's shards to member shards that own fewer, one move at a time,
    /// until they are even (docs/CLUSTER.md §8). Runs for the node's life.
    pub async fn balance_buckets<C: crate::router::Cluster>(
        self: Rc<Self>,
        router: Rc<crate::router::Router<C>>,
        even: bool,
    ) {
        if self
            .catalog_log
            .as_ref()
            .and_then(|l| l.shared.as_ref())
            .is_none()
        {
            return;
        }
        loop {
            tokio::time::sleep(BALANCE_INTERVAL).await;
            // The master of the group's shards moves their buckets; a
            // replica's node leaves it to that one.
            if self.is_replica() {
                continue;
            }
            loop {
                match self.move_once(&router, even).await {
                    Ok(true) => continue,
                    Ok(false) => break,
                    Err(e) => {
                        tracing::warn!("moving buckets: {e}");
                        break;
                    }
                }
            }
        }
    }

    /// One move, if one is due: whether buckets moved.
    async fn move_once<C: crate::router::Cluster>(
        &self,
        router: &crate::router::Router<C>,
        even: bool,
    ) -> Result<bool> {
        let Some(shared) = self.catalog_log.as_ref().and_then(|l| l.shared.as_ref()) else {
            return Ok(false);
        };
        let mine = self.node_range();
        // Buckets move within this node's tier, among its groups.
        let tier = shared.log.tier();
        if self.catalog().tier_index(&tier).is_none() {
            return self.add_tier(&tier).await;
        }
        let plan = |catalog: &Catalog| {
            let range = catalog.tiers[catalog.tier_index(&tier)? as usize].range();
            let owner = catalog.buckets.owner.get(range.clone())?;
            let (online, draining) = shared.log.tier_shards(&tier);
            let (from, to, buckets) = plan_move(owner, &online, &draining, mine.clone(), even)?;
            let buckets = buckets.into_iter().map(|b| b + range.start as Bucket);
            Some((from, to, buckets.collect::<Vec<_>>()))
        };
        if plan(&self.catalog()).is_none() {
            return Ok(false);
        }
        // Under the cluster DDL lock: the newest map, and no change of the
        // tables between the scan and the decision. The members are read
        // again too: the node applied the metadata up to its lock, so a
        // node drained before it is no longer given buckets.
        let ddl = self.ddl(None).await?;
        let catalog = self.catalog();
        let building = catalog.indexes().any(|i| !i.is_valid())
            || catalog
                .tables()
                .any(|t| t.name.starts_with(Catalog::REWRITE_PREFIX));
        let Some((from, to, buckets)) = plan(&catalog).filter(|_| !building) else {
            return Ok(false);
        };
        let cluster = router.cluster();
        let tx = cluster.next_tx() | tessera_types::buckets::DECIDED_IN_CATALOG;
        let out = ShardRequest::BucketsOut {
            tx,
            buckets: buckets.clone(),
        };
        let entries = match cluster.call(from, out).await {
            Ok(ShardResponse::Entries(entries)) => entries,
            Ok(other) => {
                return Err(Error::internal(format!(
                    "unexpected reply to a move of buckets: {other:?}"
                )))
            }
            Err(e) => {
                // It may have prepared before it failed.
                let _ = cluster
                    .call(
                        from,
                        ShardRequest::BucketsSettle {
                            tx,
                            commit: false,
                            ts: 0,
                        },
                    )
                    .await;
                return Err(e);
            }
        };
        let rows = entries.len();
        let decided = async {
            match cluster
                .call(to, ShardRequest::BucketsIn { tx, entries })
                .await?
            {
                ShardResponse::Done(_) => {}
                other => {
                    return Err(Error::internal(format!(
                        "unexpected reply to a move of buckets: {other:?}"
                    )))
                }
            }
            // Past both prepares (their replies moved this clock past theirs).
            let ts = cluster.tick();
            let record = tessera_storage::record::CatalogRecord::Transaction {
                tx,
                participants: vec![from, to],
                records: vec![tessera_storage::record::CatalogRecord::MoveBuckets {
                    buckets: buckets.clone(),
                    to,
                    ts,
                }],
            };
            self.append_decision(record, true).await?;
            Ok(ts)
        }
        .await;
        drop(ddl);
        // An abort a participant appended may have come first.
        let committed = decided.is_ok() && self.catalog().outcome(tx) == Some(true);
        let ts = *decided.as_ref().unwrap_or(&0);
        let settle = |shard| {
            cluster.call(
                shard,
                ShardRequest::BucketsSettle {
                    tx,
                    commit: committed,
                    ts,
                },
            )
        };
        let (a, b) = crate::router::join2(settle(from), settle(to)).await;
        for (shard, r) in [(from, a), (to, b)] {
            if let Err(e) = r {
                // It settles from the catalog later (`settle_catalog_decided`).
                tracing::warn!("settling move {tx} on shard {shard}: {e}");
            }
        }
        decided?;
        if !committed {
            return Err(Error::new(
                sqlstate::SERIALIZATION_FAILURE,
                format!("move {tx} was aborted by a participant that waited too long"),
            ));
        }
        tracing::info!(
            "moved {} buckets ({rows} entries) from shard {from} to shard {to}",
            buckets.len()
        );
        Ok(true)
    }

    /// Gives this node's tier, which has none yet, its buckets: as many as
    /// the first tier's, all on this node's shards until its groups share
    /// them (docs/CLUSTER.md §3). Whether it added them.
    async fn add_tier(&self, tier: &str) -> Result<bool> {
        let ddl = self.ddl(None).await?;
        let catalog = self.catalog();
        // Another node of the tier may have come first.
        if catalog.tier_index(tier).is_some() {
            return Ok(false);
        }
        let count = catalog.tiers.first().map_or(0, |t| t.count as u64).max(1);
        let mine = self.node_range();
        let shards = (mine.end - mine.start).max(1) as u64;
        let owner = (0..count)
            .map(|b| mine.start + (b * shards / count) as u16)
            .collect();
        let record = tessera_storage::record::CatalogRecord::AddTier {
            name: tier.to_string(),
            owner,
        };
        self.append_decision(record, true).await?;
        drop(ddl);
        tracing::info!("tier \"{tier}\" has its {count} buckets");
        Ok(true)
    }

    /// Shard 0: appends a move's decision or abort to the catalog's log
    /// (with `unlock`, the cluster lock this node holds goes with it) and
    /// publishes the catalog with it.
    async fn append_decision(
        &self,
        record: tessera_storage::record::CatalogRecord,
        unlock: bool,
    ) -> Result<()> {
        let encoded = record.encode();
        self.append_catalog(&[record], unlock, || {
            let catalog = (*self.catalog_cell.load()).clone();
            match tessera_storage::recovery::apply_catalog_record(catalog, &encoded) {
                Ok(c) => self.catalog_cell.publish(c),
                Err(e) => tracing::error!("applying a move's decision: {e}"),
            }
        })
        .await
    }

    /// Shard 0: appends an abort of transaction `tx`, decided in the
    /// catalog's log, unless its decision is there already.
    pub(super) async fn abort_in_catalog(&self, tx: TxId) -> Result<ShardResponse> {
        let log = self.catalog_log()?;
        let _guard = log.order.lock().await;
        if self.catalog().outcome(tx).is_some() {
            return Ok(ShardResponse::Done(vec![]));
        }
        let record = tessera_storage::record::CatalogRecord::Abort { tx };
        self.append_decision(record, false).await?;
        tracing::warn!("aborted move {tx}: its decision did not come in time");
        Ok(ShardResponse::Done(vec![]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn owners(counts: &[(u16, usize)]) -> Vec<u16> {
        counts
            .iter()
            .flat_map(|(s, n)| std::iter::repeat_n(*s, *n))
            .collect()
    }

    #[test]
    fn moves_even_out_the_online_shards_half_the_difference_at_a_time() {
        let owner = owners(&[(0, 100), (1, 100)]);
        // Node 1 (shards 0, 1) gives to node 2 (shards 2, 3): the most to
        // the fewest, half the difference.
        let (from, to, buckets) = plan_move(&owner, &[0, 1, 2, 3], &[], 0..2, true).unwrap();
        assert_eq!((from, to, buckets.len()), (0, 2, 50));
        assert!(buckets.iter().all(|b| owner[*b as usize] == 0));
        // Node 2 has nothing to give; without `even`, nothing moves.
        assert!(plan_move(&owner, &[0, 1, 2, 3], &[], 2..4, true).is_none());
        assert!(plan_move(&owner, &[0, 1, 2, 3], &[], 0..2, false).is_none());
        // Even to within one bucket: done.
        let owner = owners(&[(0, 51), (1, 50), (2, 50), (3, 50)]);
        assert!(plan_move(&owner, &[0, 1, 2, 3], &[], 0..2, true).is_none());
        // A move is capped.
        let owner = owners(&[(0, 3000)]);
        let (_, _, buckets) = plan_move(&owner, &[0, 1], &[], 0..1, true).unwrap();
        assert_eq!(buckets.len(), MOVE_BUCKETS_MAX);
    }

    #[test]
    fn a_draining_node_gives_every_bucket_away_and_takes_none() {
        // Node 2 (shards 2, 3) drains: all of its buckets go, to the
        // online shard with the fewest, also without `even`.
        let owner = owners(&[(0, 10), (1, 5), (2, 40), (3, 1)]);
        let (from, to, buckets) = plan_move(&owner, &[0, 1], &[2, 3], 2..4, false).unwrap();
        assert_eq!((from, to, buckets.len()), (2, 1, 40));
        let owner = owners(&[(0, 30), (1, 30), (3, 1)]);
        let (from, to, buckets) = plan_move(&owner, &[0, 1], &[2, 3], 2..4, false).unwrap();
        assert_eq!((from, to, buckets), (3, 0, vec![60]));
        // Drained: nothing left to move.
        let owner = owners(&[(0, 31), (1, 30)]);
        assert!(plan_move(&owner, &[0, 1], &[2, 3], 2..4, true).is_none());
        // An online node never gives to a draining one, even if it owns
        // far fewer.
        let owner = owners(&[(0, 100), (1, 10), (2, 0)]);
        let (_, to, _) = plan_move(&owner, &[0, 1], &[2], 0..2, true).unwrap();
        assert_eq!(to, 1);
        // With no online shard, there is nowhere to go.
        assert!(plan_move(&owner, &[], &[0, 1, 2], 0..3, true).is_none());
    }
}
