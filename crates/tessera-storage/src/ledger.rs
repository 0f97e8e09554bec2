//! Which two-phase evidence a checkpoint must keep.
//!
//! A two-phase transaction leaves evidence in several logs: each
//! participant's `Prepare`, the coordinator's `Decision` (written in
//! parallel with the prepares), each participant's `Resolve` (appended
//! without waiting for fsync). Recovery settles a prepare that has no
//! `Resolve` from the other shards' evidence: commit if the last decision
//! commits and every participant it names holds a durable prepare, else
//! abort. A checkpoint lets a shard drop the log before its replay start,
//! so it must carry over whatever of that evidence another shard's recovery
//! may still need. This ledger, one per node and shared by its shards, says
//! which.
//!
//! **The rule.** A transaction enters the ledger when its coordinator's
//! decision is durable, and leaves once every participant is *settled*:
//! its `Resolve` record is durable, or it resolved without logging one
//! (it held no prepare, or an empty one, whose outcome changes nothing).
//! While a transaction is in the ledger, every checkpoint keeps its
//! evidence: the coordinator's keeps the last decision, and each
//! participant that resolved a durable prepare keeps the transaction id as
//! proof of that prepare. (A prepare still open is kept whole anyway.)
//!
//! **Why it is safe.** Say participant `p`'s recovery finds a non-empty
//! prepare of `tx` open. Then `p`'s `Resolve` is not durable: a durable one
//! lies after the prepare in `p`'s log, and `p` keeps its log from the
//! replay start of the oldest checkpoint it keeps, so either the `Resolve`
//! is replayed or the checkpoint began after the resolution and holds `tx`
//! settled. So `p` was not settled, and `tx` was in the ledger at the crash
//! and ever since its decision became durable; it cannot have entered late,
//! because the router sends resolves only after the decision. Now take any
//! shard `s` and the checkpoint its recovery starts from, begun at instant
//! `t` with replay start `P`:
//!
//! - if `s` coordinated `tx`: a decision is registered in the ledger on the
//!   shard's thread as soon as its append is seen durable, and counts as in
//!   flight until then. One appended after `t`, or in flight at `t`, lies at
//!   or after `P` and is replayed (checkpoints start their replay before
//!   every record in flight); one registered before `t` put `tx` in the
//!   ledger, so the checkpoint holds the last decision as of `t`. Recovery
//!   reads the checkpoint's decisions before the log's, so the last durable
//!   decision wins as it does without checkpoints.
//! - if `s` durably prepared `tx`: a prepare open at `t` is in the
//!   checkpoint; one in flight is replayed; one resolved before `t` was
//!   resolved while `tx` was in the ledger (it entered before any resolve
//!   and has not left), so the checkpoint holds the proof.
//!
//! Recovery therefore settles `tx` exactly as it would from whole logs.
//! The same holds when recovery falls back to an older checkpoint: each
//! checkpoint kept its own evidence, and the log is kept from the oldest
//! kept checkpoint's replay start.
//!
//! A participant whose prepare failed holds nothing durable and is settled
//! at once: the router then aborts, which is also what recovery presumes
//! without evidence. A transaction whose `Resolve` was lost to a full disk
//! never settles; its evidence stays until the next restart (safe, not
//! minimal). After a restart the ledger starts empty: recovery settles
//! every open prepare and makes its `Resolve` durable on every shard before
//! any shard takes a checkpoint (the node waits for all of them), so no
//! evidence from before the restart is needed again.
//!
//! **Across nodes** (docs/CLUSTER.md §4). A decision with participants on
//! other nodes is written only once every prepare is durable, and holds
//! on its own (`Record::Decision { at }`), so no prepare evidence is
//! needed for it. Participants on other nodes cannot read this node's
//! logs: the decision stays in the ledger until each of them said its
//! `Resolve` is durable ([`TwoPhaseLedger::settled`] on their report),
//! then the coordinator logs a `Forget`. Recovery puts back the commits
//! without one (`RecoveredNode::open_decisions`), the exception to the
//! empty start above, and a restarted participant asks the coordinator
//! ([`TwoPhaseLedger::fence`]).

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::record::TxId;
use crate::store::Timestamp;

/// How long a fence (see [`TwoPhaseLedger::fence`]) outlives the decision
/// it refused: longer than a router waits for any shard request
/// (`tessera_runtime::transport::REMOTE_CALL_TIMEOUT`), so a decision that
/// arrives late is still refused.
const FENCE_KEPT: Duration = Duration::from_secs(2 * 3600);

/// What [`TwoPhaseLedger::fence`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fenced {
    /// Decided commit, with the commit timestamp its router chose.
    Commit(Timestamp),
    /// Decided abort, or fenced now: a commit decision will be refused.
    Abort,
    /// A decision is being written: ask again.
    Deciding,
}

/// A decision a checkpoint carries over from the log it replaces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetainedDecision {
    pub tx: TxId,
    pub commit: bool,
    pub participants: Vec<u16>,
    /// Written once every prepare was durable: it holds on its own, at
    /// this commit timestamp (see `Record::Decision`).
    pub at: Option<Timestamp>,
}

/// What one shard's checkpoint must keep (see the module comment).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Retained {
    /// Decisions this shard coordinated, the last one per transaction.
    pub decisions: Vec<RetainedDecision>,
    /// Transactions this shard durably prepared and has resolved.
    pub prepared: Vec<TxId>,
}

struct Entry {
    coordinator: u16,
    commit: bool,
    /// The commit timestamp, when the router chose it before the decision
    /// (0 otherwise).
    ts: Timestamp,
    participants: Vec<u16>,
    /// Participants that resolved a durable prepare.
    prepared: Vec<u16>,
    /// Participants whose recovery could still find the prepare open.
    unsettled: Vec<u16>,
    /// Some participant is on another node: the decision was written
    /// after every prepare, the coordinator logs a `Forget` once all are
    /// settled, and resends the outcome to those that are slow to report.
    cross_node: bool,
    /// When the outcome was last sent to the participants.
    sent: Instant,
}

/// The node's two-phase transactions whose evidence a recovery may need,
/// and the decisions being written (for [`TwoPhaseLedger::fence`]).
#[derive(Default)]
pub struct TwoPhaseLedger {
    entries: Mutex<Entries>,
}

#[derive(Default)]
struct Entries {
    decided: HashMap<TxId, Entry>,
    /// Decisions appended and not yet durable.
    deciding: HashSet<TxId>,
    /// Transactions fenced, and when.
    fenced: HashMap<TxId, Instant>,
    /// Cross-node decisions settled everywhere, by coordinator, for it to
    /// log their `Forget`.
    forgotten: HashMap<u16, Vec<TxId>>,
    /// On a replica: participants whose copied `Resolve` of a commit is
    /// durable before the copy of its decision arrived (each shard copies
    /// its own log; see [`TwoPhaseLedger::copied_resolve`]).
    early: HashMap<TxId, Vec<u16>>,
}

impl Entries {
    /// `shard` resolved a durable prepare of `tx`, and its `Resolve` is
    /// durable.
    fn resolve_copied(&mut self, tx: TxId, shard: u16) {
        if let Some(entry) = self.decided.get_mut(&tx) {
            if !entry.prepared.contains(&shard) {
                entry.prepared.push(shard);
            }
            self.settle(tx, shard);
        }
    }

    /// `shard` is settled for `tx`; the entry goes once all are.
    fn settle(&mut self, tx: TxId, shard: u16) {
        let Some(entry) = self.decided.get_mut(&tx) else {
            return;
        };
        entry.unsettled.retain(|s| *s != shard);
        if entry.unsettled.is_empty() {
            let coordinator = entry.coordinator;
            if self.decided.remove(&tx).is_some_and(|e| e.cross_node) {
                self.forgotten.entry(coordinator).or_default().push(tx);
            }
        }
    }
}

/// A cross-node decision whose outcome some participants have not yet
/// reported durable (see [`TwoPhaseLedger::unreported`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unreported {
    pub tx: TxId,
    pub commit: bool,
    pub ts: Timestamp,
    pub participants: Vec<u16>,
}

impl TwoPhaseLedger {
    fn lock(&self) -> std::sync::MutexGuard<'_, Entries> {
        self.entries.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A shard is about to write a decision for `tx`. A commit decision is
    /// refused (`false`) once `tx` was fenced.
    pub fn begin_decision(&self, tx: TxId, commit: bool) -> bool {
        let mut entries = self.lock();
        if commit && entries.fenced.contains_key(&tx) {
            return false;
        }
        entries.deciding.insert(tx);
        true
    }

    /// The decision begun for `tx` failed to be written.
    pub fn decision_failed(&self, tx: TxId) {
        self.lock().deciding.remove(&tx);
    }

    /// A participant holds a prepare of `tx` whose router, on another node,
    /// has not settled it in time: the decision, if one is durable on this
    /// node; else `tx` is fenced here, so that a commit decision for it is
    /// refused from now on, and counts as aborted. (The decision of a
    /// transaction whose router is on another node is written on a
    /// participant's shard only once every participant prepared, so while
    /// the participants share a node, this node has it if anyone does.)
    pub fn fence(&self, tx: TxId) -> Fenced {
        let mut entries = self.lock();
        if let Some(entry) = entries.decided.get(&tx) {
            return match entry.commit {
                true => Fenced::Commit(entry.ts),
                false => Fenced::Abort,
            };
        }
        if entries.deciding.contains(&tx) {
            return Fenced::Deciding;
        }
        let now = Instant::now();
        entries
            .fenced
            .retain(|_, at| now.duration_since(*at) < FENCE_KEPT);
        entries.fenced.insert(tx, now);
        Fenced::Abort
    }

    /// `coordinator`'s decision for `tx` is durable. A later decision for
    /// the same transaction replaces it. `ts`: the commit timestamp, when
    /// chosen before the decision (0 otherwise). `cross_node`: some
    /// participant is on another node (see `Entry::cross_node`).
    pub fn decided(
        &self,
        tx: TxId,
        coordinator: u16,
        commit: bool,
        ts: Timestamp,
        participants: &[u16],
        cross_node: bool,
    ) {
        let mut entries = self.lock();
        entries.deciding.remove(&tx);
        if participants.is_empty() {
            return;
        }
        let entry = entries.decided.entry(tx).or_insert_with(|| Entry {
            coordinator,
            commit,
            ts,
            participants: participants.to_vec(),
            prepared: vec![],
            unsettled: participants.to_vec(),
            cross_node,
            sent: Instant::now(),
        });
        entry.commit = commit;
        entry.ts = ts;
        for shard in entries.early.remove(&tx).unwrap_or_default() {
            entries.resolve_copied(tx, shard);
        }
    }

    /// Cross-node decisions `coordinator` holds whose participants on
    /// other nodes (outside `node`) have not reported for `after`: their
    /// outcome is to be sent again (a report may have been lost). Each is
    /// returned at most once per `after`.
    pub fn unreported(
        &self,
        coordinator: u16,
        node: std::ops::Range<u16>,
        after: Duration,
    ) -> Vec<Unreported> {
        let mut entries = self.lock();
        let now = Instant::now();
        let mut out = Vec::new();
        for (tx, entry) in entries.decided.iter_mut() {
            if entry.coordinator != coordinator
                || !entry.cross_node
                || now.duration_since(entry.sent) < after
            {
                continue;
            }
            let participants: Vec<u16> = entry
                .unsettled
                .iter()
                .copied()
                .filter(|p| !node.contains(p))
                .collect();
            if participants.is_empty() {
                continue;
            }
            entry.sent = now;
            out.push(Unreported {
                tx: *tx,
                commit: entry.commit,
                ts: entry.ts,
                participants,
            });
        }
        out.sort_by_key(|u| u.tx);
        out
    }

    /// Cross-node decisions of `coordinator` settled everywhere since the
    /// last call: their `Forget` is due.
    pub fn take_forgotten(&self, coordinator: u16) -> Vec<TxId> {
        self.lock()
            .forgotten
            .remove(&coordinator)
            .unwrap_or_default()
    }

    /// Participant `shard` settled `tx` in memory. `had_prepare`: it held a
    /// durable prepare; `logged`: it appended a `Resolve`, and is settled
    /// only once that is durable ([`TwoPhaseLedger::settled`]).
    pub fn resolved(&self, tx: TxId, shard: u16, had_prepare: bool, logged: bool) {
        let mut guard = self.lock();
        let Some(entry) = guard.decided.get_mut(&tx) else {
            return;
        };
        if had_prepare && !entry.prepared.contains(&shard) {
            entry.prepared.push(shard);
        }
        if !logged {
            guard.settle(tx, shard);
        }
    }

    /// Participant `shard`'s `Resolve` for `tx` is durable (for one on
    /// another node: it said so).
    pub fn settled(&self, tx: TxId, shard: u16) {
        self.lock().settle(tx, shard);
    }

    /// On a replica (docs/CLUSTER.md §5): participant `shard`'s copy of
    /// its master's `Resolve` of a commit of `tx`, decided on this node, is
    /// durable. The copy of the decision, in the coordinator's log, may
    /// not have come yet: the participant then counts as settled once it
    /// does. (A commit is decided before any participant resolves it, so
    /// the decision does come.)
    pub fn copied_resolve(&self, tx: TxId, shard: u16) {
        let mut entries = self.lock();
        if entries.decided.contains_key(&tx) {
            entries.resolve_copied(tx, shard);
        } else {
            let early = entries.early.entry(tx).or_default();
            if !early.contains(&shard) {
                early.push(shard);
            }
        }
    }

    /// Drops `tx`: on a replica, its master logged that every participant
    /// settled it (`Forget`), or that it aborted, which needs no evidence
    /// (recovery presumes an abort).
    pub fn forget(&self, tx: TxId) {
        let mut entries = self.lock();
        entries.decided.remove(&tx);
        entries.early.remove(&tx);
    }

    /// Drops every decision `shard` coordinated: on a replica that
    /// installs its master's checkpoint, which holds those still needed.
    pub fn forget_coordinated(&self, shard: u16) {
        let mut entries = self.lock();
        entries.decided.retain(|_, e| e.coordinator != shard);
    }

    /// What a checkpoint of `shard` must keep now.
    pub fn retained(&self, shard: u16) -> Retained {
        let entries = self.lock();
        let mut retained = Retained::default();
        for (tx, entry) in entries.decided.iter() {
            if entry.coordinator == shard {
                retained.decisions.push(RetainedDecision {
                    tx: *tx,
                    commit: entry.commit,
                    participants: entry.participants.clone(),
                    at: (entry.ts != 0).then_some(entry.ts),
                });
            }
            if entry.prepared.contains(&shard) {
                retained.prepared.push(*tx);
            }
        }
        retained.decisions.sort_by_key(|d| d.tx);
        retained.prepared.sort_unstable();
        retained
    }

    /// Transactions still in the ledger.
    pub fn len(&self) -> usize {
        self.lock().decided.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn evidence_is_kept_until_every_participant_settled() {
        let ledger = TwoPhaseLedger::default();
        ledger.decided(7, 0, true, 0, &[0, 1, 2], false);
        // Shard 1 resolves a real prepare: its Resolve is not durable yet.
        ledger.resolved(7, 1, true, true);
        // Shard 2 held an empty prepare: nothing to log, settled at once.
        ledger.resolved(7, 2, true, false);
        let on = |s| ledger.retained(s);
        assert_eq!(
            on(0).decisions.len(),
            1,
            "the coordinator keeps its decision"
        );
        assert_eq!(on(1).prepared, vec![7]);
        assert_eq!(on(2).prepared, vec![7]);
        ledger.settled(7, 1);
        assert_eq!(ledger.len(), 1, "shard 0 has not resolved");
        ledger.resolved(7, 0, true, true);
        ledger.settled(7, 0);
        assert!(ledger.is_empty());
        assert_eq!(on(0), Retained::default());
        assert_eq!(on(1), Retained::default());
    }

    #[test]
    fn a_replica_settles_a_resolve_copied_before_its_decision() {
        let ledger = TwoPhaseLedger::default();
        // Shard 1's copy of its Resolve is durable before shard 0's copy of
        // the decision arrives.
        ledger.resolved(9, 1, true, true);
        ledger.copied_resolve(9, 1);
        assert!(ledger.is_empty());
        ledger.decided(9, 0, true, 0, &[0, 1], false);
        assert_eq!(ledger.retained(1).prepared, vec![9], "shard 1's evidence");
        assert_eq!(ledger.retained(0).decisions.len(), 1);
        ledger.resolved(9, 0, true, true);
        ledger.copied_resolve(9, 0);
        assert!(ledger.is_empty(), "every participant settled");
        // A commit later replaced by an abort needs no evidence.
        ledger.decided(10, 0, true, 0, &[0, 1], false);
        ledger.forget(10);
        assert!(ledger.is_empty());
        assert_eq!(ledger.retained(0), Retained::default());
    }

    #[test]
    fn a_cross_node_decision_waits_for_its_remote_participants_and_is_then_forgotten() {
        let ledger = TwoPhaseLedger::default();
        // Shards 0 and 1 are this node's; shard 5 is on another node.
        ledger.decided(11, 0, true, 900, &[1, 5], true);
        ledger.resolved(11, 1, true, true);
        ledger.settled(11, 1);
        let kept = ledger.retained(0).decisions;
        assert_eq!(kept.len(), 1);
        assert_eq!(
            kept[0].at,
            Some(900),
            "it holds on its own, at its timestamp"
        );
        assert_eq!(ledger.fence(11), Fenced::Commit(900));
        // Shard 5 has not reported: its outcome is sent again once overdue.
        assert!(ledger
            .unreported(0, 0..2, Duration::from_secs(60))
            .is_empty());
        let due = ledger.unreported(0, 0..2, Duration::ZERO);
        assert_eq!(
            due,
            vec![Unreported {
                tx: 11,
                commit: true,
                ts: 900,
                participants: vec![5],
            }]
        );
        assert!(ledger.take_forgotten(0).is_empty());
        ledger.settled(11, 5);
        assert!(ledger.is_empty());
        assert_eq!(ledger.take_forgotten(0), vec![11]);
        assert!(ledger.take_forgotten(0).is_empty());
        // A decision within the node is never forgotten by a record.
        ledger.decided(12, 0, true, 0, &[0, 1], false);
        ledger.resolved(12, 0, true, false);
        ledger.resolved(12, 1, true, false);
        assert!(ledger.is_empty());
        assert!(ledger.take_forgotten(0).is_empty());
    }

    #[test]
    fn a_fence_answers_the_decision_or_refuses_a_later_commit() {
        let ledger = TwoPhaseLedger::default();
        // Decided commit: the fence answers it, with its timestamp.
        assert!(ledger.begin_decision(1, true));
        assert_eq!(ledger.fence(1), Fenced::Deciding);
        ledger.decided(1, 0, true, 77, &[0, 1], false);
        assert_eq!(ledger.fence(1), Fenced::Commit(77));
        // Undecided: fenced, and a commit decision is refused from then on.
        assert_eq!(ledger.fence(2), Fenced::Abort);
        assert!(!ledger.begin_decision(2, true));
        assert!(ledger.begin_decision(2, false), "an abort is still written");
        ledger.decided(2, 0, false, 0, &[0, 1], false);
        assert_eq!(ledger.fence(2), Fenced::Abort);
        // A decision that failed to be written is no longer in progress.
        assert!(ledger.begin_decision(3, true));
        ledger.decision_failed(3);
        assert_eq!(ledger.fence(3), Fenced::Abort);
    }

    #[test]
    fn a_later_abort_replaces_the_commit() {
        let ledger = TwoPhaseLedger::default();
        ledger.decided(9, 1, true, 0, &[0, 1], false);
        ledger.decided(9, 1, false, 0, &[0, 1], false);
        assert_eq!(
            ledger.retained(1).decisions,
            vec![RetainedDecision {
                tx: 9,
                commit: false,
                participants: vec![0, 1],
                at: None,
            }]
        );
        // A participant whose prepare failed is settled at once.
        ledger.resolved(9, 0, false, false);
        ledger.resolved(9, 1, true, false);
        assert!(ledger.is_empty());
    }
}
