//! A shard's part in two-phase commits whose participants span nodes
//! (docs/CLUSTER.md §4).
//!
//! When a transaction writes on another node than its router's, the
//! router's own shard decides it: the router prepares every participant,
//! then writes the decision with the commit timestamp
//! (`Record::Decision { at }`), which therefore holds on its own. The
//! decider keeps it in the node's ledger, and in its checkpoints, until
//! every participant on another node has said its outcome is durable
//! (`Reported`); then a `Record::Forget` lets recovery drop it. A restart
//! puts the open ones back in the ledger (`RecoveredNode::open_decisions`).
//!
//! A participant whose router is on another node never settles a prepare
//! by itself: when the outcome is slow to come (its router died, or a
//! message was lost), it asks the decider (`Outcome`), which answers the
//! decision or, without one, *fences* the transaction (a commit decision
//! is refused from then on) and answers abort. Recovery keeps such a
//! prepare in doubt, locked, until the decider answers. A decider whose
//! participants are slow to report sends them the outcome again.
//!
//! Lock waits through several nodes can form a cycle no node's own
//! `LockWaits` sees. Shard 0 of each node looks for them: while some wait
//! here lasts, it gathers the waits of the other nodes, and a waiter here
//! that is the newest transaction of a cycle, found so twice in a row, is
//! chosen as the victim (40P01). The newest transaction on any cycle is
//! always some node's choice, so every deadlock is broken.

use std::collections::{HashMap, HashSet};
use std::rc::Rc;
use std::time::Duration;

use tessera_storage::ledger::Fenced;
use tessera_storage::record::{id_shard, Record, TxId};
use tessera_storage::store::Timestamp;
use tessera_types::schema::ShardId;
use tessera_types::{sqlstate, Error, Result};

use super::{ShardContext, ShardRequest, ShardResponse};
use crate::router::Cluster;

/// How long a prepare whose router is on another node waits for its
/// outcome before the shard asks the decider.
const ORPHAN_AFTER_MICROS: u64 = 5_000_000;

/// How often a shard looks for overdue outcomes and reports.
const SETTLE_INTERVAL: Duration = Duration::from_millis(200);

/// How long a decider waits for a participant on another node to report
/// before it sends the outcome again.
const RESEND_AFTER: Duration = Duration::from_secs(5);

/// How long asking a decider for an outcome may take.
const ASK_TIMEOUT: Duration = Duration::from_secs(2);

/// How often shard 0 looks for lock waits that last; a deadlock through
/// other nodes is broken within about three of these.
const DEADLOCK_LOOK_INTERVAL: Duration = Duration::from_millis(400);

/// A decider's answer to `Outcome`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum TxOutcome {
    /// Committed at this timestamp.
    Commit(Timestamp),
    /// Aborted, or fenced now: it will never commit.
    Abort,
    /// The decision is being written: ask again.
    Pending,
}

impl ShardContext {
    /// The cluster-wide numbers of this node's shards.
    pub(super) fn node_range(&self) -> std::ops::Range<ShardId> {
        self.first_shard..self.first_shard.saturating_add(self.node_shards)
    }

    /// Whether this node serves cluster-wide shard `shard`: it is one of
    /// the node's, and in a replicated cluster the node is its master (or
    /// is taking over as one). After a failover a group's masters may sit
    /// on different members (docs/CLUSTER.md §6), so a shard of the node's
    /// range may be served by another node.
    pub(super) fn serves(&self, shard: ShardId) -> bool {
        if !self.node_range().contains(&shard) {
            return false;
        }
        let index = shard - self.first_shard;
        self.replica_sets
            .as_ref()
            .is_none_or(|r| r.master_epoch(index).is_some() || r.promoted(index).is_some())
    }

    /// Whether `tx`'s decision is made on another node: its decider shard
    /// (the router's) is served there.
    pub(super) fn decided_elsewhere(&self, tx: TxId) -> bool {
        !tessera_types::buckets::decided_in_catalog(tx) && !self.serves(id_shard(tx))
    }

    /// Whether a decision naming `participants` has some served on another
    /// node.
    pub(super) fn spans_nodes(&self, participants: &[ShardId]) -> bool {
        participants.iter().any(|p| !self.serves(*p))
    }

    /// Serves `Outcome`: the decision for `tx`, which this shard's router
    /// began; without one, `tx` is fenced and answered aborted. A commit
    /// is answered once its decision is durable (it may have been only
    /// certain to be: see `decide`).
    pub(super) async fn outcome(&self, tx: TxId) -> Result<ShardResponse> {
        if id_shard(tx) != self.number() {
            return Err(Error::internal(format!(
                "shard {} was asked the outcome of transaction {tx}, which it does not decide",
                self.number()
            )));
        }
        let outcome = match self.ledger.fence(tx) {
            Fenced::Commit(ts) => {
                self.wait_published().await?;
                TxOutcome::Commit(ts)
            }
            Fenced::Abort => TxOutcome::Abort,
            Fenced::Deciding => TxOutcome::Pending,
        };
        Ok(ShardResponse::Outcome(outcome))
    }

    /// Serves `Reported`: participant `shard` on another node made its
    /// outcome of each of `txs` durable.
    pub(super) fn reported(&self, shard: ShardId, txs: Vec<TxId>) -> ShardResponse {
        for tx in txs {
            self.ledger.settled(tx, shard);
        }
        ShardResponse::Done(vec![])
    }

    /// After this shard settled `tx` (`logged`: with a `Resolve` record
    /// appended under that ticket), its decider on another node is to be
    /// told once that is durable. Without a record of its own now, the
    /// shard settled it before, maybe with one not yet durable: the end
    /// of the log is waited for instead.
    pub(super) fn report_when_durable(
        &self,
        tx: TxId,
        logged: Option<tessera_storage::wal::Ticket>,
    ) {
        if !self.decided_elsewhere(tx) {
            return;
        }
        // None: the log failed for good, nothing more becomes durable here.
        let Some(ticket) = logged.or_else(|| self.wal.appended().ok()) else {
            return;
        };
        self.reports.borrow_mut().push((ticket, tx));
    }

    /// Outcomes made durable since the last call, by the shard deciding them.
    fn durable_reports(&self) -> HashMap<ShardId, Vec<TxId>> {
        let mut due: HashMap<ShardId, Vec<TxId>> = HashMap::new();
        for tx in self.take_durable(&self.reports) {
            due.entry(id_shard(tx)).or_default().push(tx);
        }
        due
    }

    /// Prepares whose router is on another node and whose outcome has not
    /// come within [`ORPHAN_AFTER_MICROS`].
    fn overdue(&self) -> Vec<TxId> {
        let now = tessera_storage::clock::wall_micros();
        let mut overdue: Vec<TxId> = self
            .prepared
            .borrow()
            .iter()
            .filter(|(tx, (_, prepared))| {
                self.decided_elsewhere(**tx) && now.saturating_sub(*prepared) > ORPHAN_AFTER_MICROS
            })
            .map(|(tx, _)| *tx)
            .collect();
        overdue.sort_unstable();
        overdue
    }

    /// Settles an overdue prepare as its decider answered.
    fn settle_overdue(&self, tx: TxId, outcome: TxOutcome) {
        if !self.prepared.borrow().contains_key(&tx) {
            return;
        }
        match outcome {
            TxOutcome::Commit(ts) => {
                tracing::info!(
                    "shard {}: transaction {tx} committed; its router did not say so in time",
                    self.number()
                );
                let ts = if ts == 0 { self.tick() } else { ts };
                self.resolve(tx, true, ts);
            }
            TxOutcome::Abort => {
                tracing::warn!(
                    "shard {}: aborted transaction {tx}: its router on another node did not decide it in time",
                    self.number()
                );
                self.resolve(tx, false, 0);
            }
            TxOutcome::Pending => {}
        }
    }

    /// Logs the `Forget` of this shard's cross-node decisions that every
    /// participant reported. Not waited for: one lost only makes a later
    /// recovery send the outcome again.
    fn log_forgotten(&self) {
        for tx in self.ledger.take_forgotten(self.number()) {
            if let Err(e) = self.append_record(&Record::Forget { tx }.encode()) {
                tracing::warn!(
                    "shard {}: could not log that transaction {tx} is settled everywhere: {e}",
                    self.number()
                );
                return;
            }
        }
    }

    /// The shard's loop for transactions across nodes, in a cluster: it
    /// reports durable outcomes to their deciders, asks the deciders of
    /// overdue prepares, sends again the outcomes of its own decisions
    /// that participants were slow to report, and logs the `Forget` of
    /// those all reported.
    pub async fn settle_across_nodes<C: Cluster>(
        self: Rc<Self>,
        router: Rc<crate::router::Router<C>>,
    ) {
        let cluster = router.cluster();
        loop {
            tokio::time::sleep(SETTLE_INTERVAL).await;
            // A replica's ledger holds its master's decisions, as copied:
            // the master reports, asks and sends.
            if self.is_replica() {
                continue;
            }
            self.log_forgotten();
            for (decider, txs) in self.durable_reports() {
                let report = ShardRequest::Reported {
                    shard: self.number(),
                    txs,
                };
                // A report lost is made up for by the decider sending the
                // outcome again.
                let _ = cluster.post(decider, report).await;
            }
            // A decider that does not answer is not asked again in this
            // round (its node may be down).
            let mut silent: HashSet<ShardId> = HashSet::new();
            for tx in self.overdue() {
                let decider = id_shard(tx);
                if silent.contains(&decider) {
                    continue;
                }
                let ask = cluster.call(decider, ShardRequest::Outcome { tx });
                match tokio::time::timeout(ASK_TIMEOUT, ask).await {
                    Ok(Ok(ShardResponse::Outcome(outcome))) => self.settle_overdue(tx, outcome),
                    Ok(Ok(_)) => {}
                    Ok(Err(e)) => {
                        tracing::debug!(
                            "shard {}: asking the outcome of transaction {tx}: {e}",
                            self.number()
                        );
                        silent.insert(decider);
                    }
                    Err(_) => {
                        silent.insert(decider);
                    }
                }
            }
            let overdue = self
                .ledger
                .unreported(self.number(), self.node_range(), RESEND_AFTER);
            // Their decisions are durable by now; made sure of here, as
            // nothing else waits for them on this path.
            if !overdue.is_empty() && self.wait_published().await.is_err() {
                continue;
            }
            for due in overdue {
                for p in due.participants {
                    let resolve = ShardRequest::Resolve {
                        tx: due.tx,
                        commit: due.commit,
                        ts: due.ts,
                    };
                    let _ = cluster.post(p, resolve).await;
                }
            }
        }
    }
}

impl ShardContext {
    /// Serves `LockWaits`: the node's waits, `(waiter, holder)`.
    pub(super) fn lock_waits(&self) -> ShardResponse {
        ShardResponse::Waits(self.waits.edges())
    }

    /// Shard 0's detector of deadlocks through other nodes (see the
    /// module comment).
    pub async fn detect_deadlocks_across_nodes<C: Cluster>(
        self: Rc<Self>,
        router: Rc<crate::router::Router<C>>,
    ) {
        let Some(members) = self
            .catalog_log
            .as_ref()
            .and_then(|l| l.shared.as_ref())
            .map(|s| s.log.clone())
        else {
            return;
        };
        let cluster = router.cluster();
        let mut seen: HashSet<(TxId, TxId)> = HashSet::new();
        let mut suspects: HashSet<TxId> = HashSet::new();
        loop {
            tokio::time::sleep(DEADLOCK_LOOK_INTERVAL).await;
            let local = self.waits.edges();
            let lasting = local.iter().any(|e| seen.contains(e));
            seen = local.iter().copied().collect();
            if !lasting {
                suspects.clear();
                continue;
            }
            let node = self.node_range();
            let asks = members
                .member_shards()
                .into_iter()
                .filter(|s| !node.contains(s))
                .map(|s| {
                    tokio::time::timeout(ASK_TIMEOUT, cluster.call(s, ShardRequest::LockWaits))
                })
                .collect();
            let mut remote = Vec::new();
            for answer in crate::router::join_all(asks).await {
                if let Ok(Ok(ShardResponse::Waits(edges))) = answer {
                    remote.extend(edges);
                }
            }
            let victims: HashSet<TxId> = cycle_victims(&local, &remote).into_iter().collect();
            for victim in victims.intersection(&suspects) {
                tracing::info!(
                    "shard {}: transaction {victim} is on a cycle of lock waits through other nodes; it gets 40P01",
                    self.number()
                );
                self.waits.choose_victim(*victim);
            }
            suspects = victims;
        }
    }
}

/// The waiters of `local` (this node's waits, `(waiter, holder)`) that are
/// the newest transaction (the largest id) of a cycle through `local` and
/// `remote` waits.
fn cycle_victims(local: &[(TxId, TxId)], remote: &[(TxId, TxId)]) -> Vec<TxId> {
    let mut graph: HashMap<TxId, Vec<TxId>> = HashMap::new();
    for (waiter, holder) in local.iter().chain(remote) {
        graph.entry(*waiter).or_default().push(*holder);
    }
    let mut waiters: Vec<TxId> = local.iter().map(|(w, _)| *w).collect();
    waiters.sort_unstable();
    waiters.dedup();
    let mut victims = Vec::new();
    for waiter in waiters {
        // Breadth first from the waiter's holders back to the waiter.
        let mut parent: HashMap<TxId, TxId> = HashMap::new();
        let mut queue = std::collections::VecDeque::from([waiter]);
        let mut found = false;
        while let Some(at) = queue.pop_front() {
            for next in graph.get(&at).into_iter().flatten() {
                if *next == waiter {
                    parent.insert(waiter, at);
                    found = true;
                    break;
                }
                if !parent.contains_key(next) {
                    parent.insert(*next, at);
                    queue.push_back(*next);
                }
            }
            if found {
                break;
            }
        }
        if !found {
            continue;
        }
        let mut newest = waiter;
        let mut at = parent[&waiter];
        while at != waiter {
            newest = newest.max(at);
            at = parent[&at];
        }
        if newest == waiter {
            victims.push(waiter);
        }
    }
    victims
}

/// The error a commit decision refused by a fence gets.
pub(super) fn fenced() -> Error {
    Error::new(
        sqlstate::SERIALIZATION_FAILURE,
        "could not commit: the shards of the transaction waited too long for its outcome and aborted it",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_newest_transaction_of_a_cycle_through_nodes_is_its_victim() {
        // Here 5 waits for 9; on another node 9 waits for 5.
        assert_eq!(cycle_victims(&[(5, 9)], &[(9, 5)]), Vec::<TxId>::new());
        assert_eq!(cycle_victims(&[(9, 5)], &[(5, 9)]), vec![9]);
        // No cycle: nobody.
        assert!(cycle_victims(&[(9, 5)], &[(5, 7)]).is_empty());
        // A longer cycle 3 -> 8 -> 4 -> 3, with 8 waiting here, and a
        // waiter off the cycle (10 -> 3).
        let remote = [(3, 8), (4, 3)];
        assert_eq!(cycle_victims(&[(8, 4), (10, 3)], &remote), vec![8]);
        // Two cycles through 2: the newest of each is chosen.
        let local = [(6, 2), (7, 2)];
        let remote = [(2, 6), (2, 7)];
        assert_eq!(cycle_victims(&local, &remote), vec![6, 7]);
    }
}
