//! Replicas copy their master's log (docs/CLUSTER.md §5).
//!
//! With a replication factor above 1, instance `k` of every member of a
//! replica group holds the same logical shard; one member's is its master,
//! which alone takes requests. Each other instance asks the master for its
//! durable records from where its own log ends (`ShardRequest::ShipWal`,
//! over the same shard calls routers use: the replica's node is not the
//! shard's master, so the call goes to the master's) and appends them as
//! they are. Frames are a function of their payloads, so the replica's log
//! is the master's byte for byte, position for position: a restart
//! recovers it like any log, and a replica knows exactly how far it is.
//!
//! A replica writes nothing of its own into its log (`append_record`
//! refuses) and settles nothing on its own: what its copy leaves prepared
//! stays so, locked, until the copy of the master's `Resolve` comes.
//!
//! Each record copied is applied to the replica's store as it is appended,
//! as recovery would apply it: commits at a new timestamp, prepares held,
//! resolves settled, commit decisions kept in the node's ledger with the
//! evidence their participants' resolves leave, for as long as the master
//! keeps them. So the store always stands where the log ends, and the
//! replica takes checkpoints of it like any shard. A record that depends
//! on other logs of the master's node (`Depends`) is copied only once the
//! replica's copies of those logs hold what it names: every prefix of the
//! copies is one the master's node could have recovered to.

use std::rc::Rc;

use tessera_storage::checkpoint::{
    checkpoint_dir, incoming_path, install_checkpoint, list_checkpoints, load_checkpoint,
    LoadError, LoadedCheckpoint,
};
use tessera_storage::ledger::Fenced;
use tessera_storage::record::{id_shard, Record, TxId, WriteOp, WriteSet};
use tessera_storage::wal::{FeedRead, Ticket};
use tessera_types::buckets::decided_in_catalog;
use tessera_types::{sqlstate, Error, Result};

use super::{ShardContext, ShardRequest, ShardResponse};
use crate::router::Cluster;

/// How much of the master's log one `ShipWal` answer carries, at most.
const SHIP_BYTES: u32 = 4 << 20;
/// How long a master holds a `ShipWal` that finds nothing new.
const SHIP_WAIT: std::time::Duration = std::time::Duration::from_secs(1);
/// How much of a checkpoint file one `ShipCheckpoint` answer carries, at most.
const CHECKPOINT_PART_BYTES: u32 = 1 << 20;
/// How long a copy waits for its node's catalog to learn a move its
/// master settled before the round fails (and is asked again).
const MOVE_KNOWN_WAIT: std::time::Duration = std::time::Duration::from_secs(10);
/// How long a replica waits before asking again after a failed call.
const RETRY_AFTER: std::time::Duration = std::time::Duration::from_millis(500);
/// How long past [`SHIP_WAIT`] a replica waits for its master's answer.
const SHIP_SLACK: std::time::Duration = std::time::Duration::from_secs(2);
/// How often a replica waiting on its master looks whether it was
/// promoted in the master's place.
const PROMOTION_POLL: std::time::Duration = std::time::Duration::from_millis(10);

/// The error for a write on a shard whose master is on another node.
pub(super) fn not_master(shard: u16) -> Error {
    Error::new(
        sqlstate::SERIALIZATION_FAILURE,
        format!("this node holds a replica of shard {shard}; its master takes the writes"),
    )
    .no_master_reached()
}

/// The error for a write on a master whose node's lease ran out.
pub(super) fn no_lease(shard: u16) -> Error {
    Error::new(
        sqlstate::SERIALIZATION_FAILURE,
        format!(
            "this node's lease as master of shard {shard} ran out (it is cut off from the cluster's majority, or the cluster's Raft leader is being replaced), so it takes no writes and serves no reads; another member of its replica group may be taking over"
        ),
    )
    .no_master_reached()
}

impl ShardContext {
    /// Whether this node may take writes as a master now (see
    /// `SharedCatalog::holds_lease`).
    pub(super) fn holds_lease(&self) -> bool {
        self.replica_sets.as_ref().is_none_or(|r| r.holds_lease())
    }

    /// Whether another member of this shard's replica group is its master.
    pub fn is_replica(&self) -> bool {
        self.replica_sets
            .as_ref()
            .is_some_and(|r| r.master_epoch(self.shard).is_none())
    }

    /// Whether this shard copies its master's log: another member is its
    /// master, and it was not promoted in that one's place.
    fn copies(&self) -> bool {
        self.is_replica() && self.promoted_epoch().is_none()
    }

    /// The epoch this shard was promoted to master in and has not started.
    fn promoted_epoch(&self) -> Option<u64> {
        self.replica_sets.as_ref()?.promoted(self.shard)
    }

    /// Sync mode (docs/CLUSTER.md §5): a master whose group has replicas
    /// counts a record durable, and acknowledges its commit, once enough
    /// of them hold it (see [`ShardContext::note_replica_end`]); a master
    /// alone in its group, or in async mode, once its own log does.
    /// A master that became a replica fails the commits still waiting
    /// for replicas (`WalWriter::fence_unreplicated`): whether they hold
    /// is the new master's to say, so their clients learn the outcome is
    /// unknown, as when a master dies.
    pub(super) fn follow_replication_mode(&self) {
        let Some(sets) = &self.replica_sets else {
            return;
        };
        if sets.master_epoch(self.shard).is_some() || sets.promoted(self.shard).is_some() {
            self.wal.set_replication_gate(sets.replica_acks() > 0);
        } else {
            self.wal.fence_unreplicated(Error::new(
                sqlstate::CONNECTION_FAILURE,
                format!(
                    "this node stopped being the master of shard {} before enough replicas held the commit; it may or may not have committed",
                    self.number()
                ),
            ));
        }
    }

    /// Whether this shard's copies are kept on other nodes too.
    pub fn is_replicated(&self) -> bool {
        self.replica_sets
            .as_ref()
            .is_some_and(|r| r.replication_factor() > 1)
    }

    /// On a master: the durable records from `from` on, once there are any
    /// or after [`SHIP_WAIT`], for the replica on `node` whose log ends
    /// with records of the master of `epoch`.
    pub(super) async fn ship_wal(
        &self,
        from: u64,
        max_bytes: u32,
        epoch: u64,
        node: u64,
    ) -> Result<ShardResponse> {
        let sets = self.replica_sets.as_ref();
        let Some(mine) = sets.and_then(|r| r.master_epoch(self.shard)) else {
            return Err(not_master(self.number()));
        };
        // The replica saw a newer master: this one is no longer.
        if epoch > mine {
            return Err(not_master(self.number()));
        }
        // Cut off, it may be replaced: it ships (and counts as held)
        // nothing more until the cluster confirms it again.
        if !self.holds_lease() {
            return Err(no_lease(self.number()));
        }
        // Records of an older master past the start of a later one's are
        // that old master's tail, which this log does not hold.
        if epoch < mine {
            if let Some(fork) = sets.and_then(|r| r.fork_after(self.shard, epoch)) {
                if from > fork {
                    return Ok(ShardResponse::Diverged { fork });
                }
            }
        }
        // The replica's log is a prefix of this one, durable up to `from`.
        self.note_replica_end(node, from)?;
        let max_bytes = max_bytes.clamp(1, SHIP_BYTES) as usize;
        let deadline = tokio::time::Instant::now() + SHIP_WAIT;
        let mut durable_end = self.wal.view();
        loop {
            let end = self.wal.local_durable()?;
            match self.wal.feed_since(from, max_bytes)? {
                FeedRead::Records(records)
                    if !records.is_empty() || tokio::time::Instant::now() >= deadline =>
                {
                    return Ok(ShardResponse::Shipped {
                        epoch: mine,
                        records: records
                            .into_iter()
                            .map(|(at, payload)| (at, payload.to_vec()))
                            .collect(),
                        end,
                    });
                }
                // Nothing durable past `from` yet: wait for more to be.
                FeedRead::Records(_) => {
                    if let Ok(Err(e)) =
                        tokio::time::timeout_at(deadline, durable_end.changed()).await
                    {
                        return Err(e);
                    }
                }
                FeedRead::Gone => return self.ship_from_files(from, max_bytes, mine),
                FeedRead::Ahead => {
                    return Err(Error::new(
                        sqlstate::DATA_CORRUPTED,
                        format!(
                            "shard {}'s replica log reaches position {from}, past its master's end",
                            self.number()
                        ),
                    ))
                }
            }
        }
    }

    /// Sync mode (docs/CLUSTER.md §5): the replica on `node` holds this
    /// log durably up to `end`. Records that enough replicas hold count
    /// as durable: commits they hold are acknowledged.
    fn note_replica_end(&self, node: u64, end: u64) -> Result<()> {
        let needed = self.replica_sets.as_ref().map_or(0, |r| r.replica_acks()) as usize;
        if needed == 0 || end > self.wal.local_durable()? {
            return Ok(());
        }
        let mut ends = self.replica_ends.borrow_mut();
        match ends.iter_mut().find(|(n, _)| *n == node) {
            Some(slot) => slot.1 = end,
            None => ends.push((node, end)),
        }
        let mut reached: Vec<u64> = ends.iter().map(|(_, e)| *e).collect();
        reached.sort_unstable_by(|a, b| b.cmp(a));
        if let Some(end) = reached.get(needed - 1) {
            self.wal.note_replicated(*end);
        }
        Ok(())
    }

    /// The durable records from `from` on, read from the log's files: the
    /// replica is further behind than the log keeps in memory (or the
    /// master restarted since).
    fn ship_from_files(&self, from: u64, max_bytes: usize, epoch: u64) -> Result<ShardResponse> {
        let Some((fs, dir)) = &self.log_files else {
            return Ok(ShardResponse::LogGone { epoch });
        };
        let durable = self.wal.local_durable()?;
        let mut records = Vec::new();
        let mut bytes = 0;
        // Stops the scan once enough is read.
        let enough = Error::internal("enough");
        let scanned = tessera_storage::wal::scan_segments(&**fs, dir, from, |at, payload| {
            let end = at + tessera_storage::wal::frame_len(payload.len());
            if end > durable || (bytes > 0 && bytes + payload.len() > max_bytes) {
                return Err(enough.clone());
            }
            bytes += payload.len();
            records.push((at, payload.to_vec()));
            Ok(())
        });
        match scanned {
            Ok(_) => {}
            Err(e) if e.message == enough.message => {}
            // The files no longer reach back to `from`.
            Err(_) if records.is_empty() => return Ok(ShardResponse::LogGone { epoch }),
            Err(e) => return Err(e),
        }
        Ok(ShardResponse::Shipped {
            epoch,
            records,
            end: durable,
        })
    }

    /// On every shard of a replicated cluster, for the node's life: while
    /// another member is its master, copies the master's log into this
    /// shard's, record by record at the same positions; when promoted in
    /// its place, takes over (`take_over`).
    pub async fn follow_master<C: Cluster>(self: Rc<Self>, router: Rc<crate::router::Router<C>>) {
        if !self.is_replicated() {
            return;
        }
        let cluster = router.cluster();
        let mut failing: Option<String> = None;
        loop {
            let result = match self.promoted_epoch() {
                Some(epoch) => self.take_over(epoch).await,
                None if self.is_replica() => self.copy_from_master(cluster).await,
                None => {
                    // The group may have gained or lost a member.
                    self.follow_replication_mode();
                    self.pause_unless_promoted().await;
                    continue;
                }
            };
            match result {
                Ok(()) => {
                    if failing.take().is_some() && self.copies() {
                        tracing::info!("shard {}: copying its master's log again", self.number());
                    }
                }
                Err(e) => {
                    // Said once, not on every retry.
                    if failing.as_deref() != Some(e.message.as_str()) {
                        tracing::warn!(
                            "shard {}: following its master: {}",
                            self.number(),
                            e.message
                        );
                        failing = Some(e.message);
                    }
                    self.pause_unless_promoted().await;
                }
            }
        }
    }

    /// Waits [`RETRY_AFTER`], or less if the governor promotes this
    /// shard meanwhile: a failover waits for no retry timer.
    async fn pause_unless_promoted(&self) {
        tokio::select! {
            _ = tokio::time::sleep(RETRY_AFTER) => {}
            _ = self.promoted() => {}
        }
    }

    /// Resolves once the governor promoted this shard (polled: the
    /// metadata reaches shards as atomics, `SharedCatalog::promoted`).
    async fn promoted(&self) {
        while self.promoted_epoch().is_none() {
            tokio::time::sleep(PROMOTION_POLL).await;
        }
    }

    /// The governor promoted this replica to master of `epoch` (its master
    /// stopped answering; docs/CLUSTER.md §6). Copying has stopped: what
    /// the log holds is made durable, its end is where this master's own
    /// writes begin, and once the cluster recorded that the shard takes
    /// requests. The prepares its copy left open are then settled as
    /// recovery settles them: by the decision a decider of this node's
    /// copy holds, else aborted (the decider's shard is this node's, and
    /// fenced now); those decided on other nodes are asked there, as after
    /// any restart.
    async fn take_over(&self, epoch: u64) -> Result<()> {
        let Some(sets) = self.replica_sets.clone() else {
            return Ok(());
        };
        self.wal.flush().await?;
        let start = self.wal.appended()?.end();
        self.set_log_epoch(epoch)?;
        // In sync mode, its commits wait for its replicas from now on.
        self.follow_replication_mode();
        sets.start_epoch(self.shard, epoch, start).await?;
        let open: Vec<TxId> = self
            .prepared
            .borrow()
            .keys()
            .filter(|tx| !self.decided_elsewhere(**tx) && !decided_in_catalog(**tx))
            .copied()
            .collect();
        let (mut committed, mut aborted) = (0, 0);
        for tx in open {
            match self.ledger.fence(tx) {
                Fenced::Commit(ts) => {
                    let ts = if ts == 0 { self.tick() } else { ts };
                    self.resolve(tx, true, ts);
                    committed += 1;
                }
                Fenced::Abort => {
                    self.resolve(tx, false, 0);
                    aborted += 1;
                }
                // A router of this node is deciding it: it settles it.
                Fenced::Deciding => {}
            }
        }
        tracing::warn!(
            "shard {}: now its replica set's master, in epoch {epoch}; its own writes begin at log position {start} ({committed} open transactions committed, {aborted} aborted)",
            self.number()
        );
        Ok(())
    }

    /// Records, durably, that this shard's log goes on with the records
    /// of the master of `epoch`.
    fn set_log_epoch(&self, epoch: u64) -> Result<()> {
        if self.log_epoch.get() == epoch {
            return Ok(());
        }
        if let Some((fs, wal)) = &self.log_files {
            tessera_storage::checkpoint::write_log_epoch(
                &**fs,
                wal.parent().unwrap_or(wal),
                epoch,
            )?;
        }
        self.log_epoch.set(epoch);
        Ok(())
    }

    /// One `ShipWal` round: asks the master for what follows this log's
    /// end and appends it, durably. The end it asks from is what the
    /// governor learns of the copy (the rounds follow each other at once).
    async fn copy_from_master<C: Cluster>(&self, cluster: &C) -> Result<()> {
        // A master just made a replica stops waiting for its replicas.
        self.follow_replication_mode();
        // What it asks from it holds durably (a master in sync mode counts
        // on it), whatever the last round left.
        self.wal.flush().await?;
        let from = self.wal.appended()?.end();
        if let Some(sets) = &self.replica_sets {
            sets.note_log_end(self.shard, from);
        }
        let ask = ShardRequest::ShipWal {
            from,
            max_bytes: SHIP_BYTES,
            epoch: self.log_epoch.get(),
            node: self
                .replica_sets
                .as_ref()
                .and_then(|r| r.node_id())
                .unwrap_or(0),
        };
        // The bucket map this node held as it asked: once the copy reaches
        // the master's end of that moment, it holds every move the map
        // names (each was prepared durably on the master before the map
        // named it).
        let map_epoch = self.catalog().buckets.moves.epoch;
        // A master that died or was cut off may never answer: the call is
        // given up after its long poll and some slack, and at once if
        // this shard is promoted in its place.
        let asked = tokio::select! {
            reply = cluster.call(self.number(), ask) => reply?,
            _ = tokio::time::sleep(SHIP_WAIT + SHIP_SLACK) => {
                return Err(Error::new(
                    sqlstate::CONNECTION_FAILURE,
                    format!(
                        "the master did not answer within {:?}",
                        SHIP_WAIT + SHIP_SLACK
                    ),
                ))
            }
            _ = self.promoted() => return Ok(()),
        };
        let (epoch, records, end) = match asked {
            ShardResponse::Shipped {
                epoch,
                records,
                end,
            } => (epoch, records, end),
            ShardResponse::LogGone { epoch } => {
                self.install_master_checkpoint(cluster).await?;
                // The checkpoint is of that master's log.
                return self.set_log_epoch(epoch);
            }
            ShardResponse::Diverged { fork } => {
                let why = format!(
                    "this log reaches position {from}, past {fork} where its current master's writes began: it holds an old master's records that were never copied"
                );
                if let Some(sets) = &self.replica_sets {
                    tracing::warn!(
                        "shard {}: {why}; restarting the node to drop this copy and take the master's",
                        self.number()
                    );
                    sets.diverged(self.shard, fork);
                }
                return Err(Error::new(
                    sqlstate::DATA_CORRUPTED,
                    format!("{why}; restart this node to drop its copy and take the master's"),
                ));
            }
            other => {
                return Err(Error::internal(format!(
                    "an unexpected answer to ShipWal: {other:?}"
                )))
            }
        };
        // The master found this log a prefix of its own.
        if epoch > self.log_epoch.get() {
            self.set_log_epoch(epoch)?;
        }
        if records.is_empty() {
            self.note_caught_up(from, end, map_epoch);
            return Ok(());
        }
        for (at, payload) in records {
            let end = self.wal.appended()?.end();
            if payload.is_empty() {
                return Err(Error::new(
                    sqlstate::PROTOCOL_VIOLATION,
                    format!("the master shipped an empty record at position {at}"),
                ));
            }
            if at != end {
                return Err(Error::new(
                    sqlstate::DATA_CORRUPTED,
                    format!(
                        "the master shipped a record at position {at}, but this log ends at {end}"
                    ),
                ));
            }
            let record = Record::decode(&payload).map_err(|e| {
                Error::new(
                    sqlstate::DATA_CORRUPTED,
                    format!(
                        "the master shipped a record at position {at} that does not decode: {}",
                        e.message
                    ),
                )
            })?;
            match &record {
                Record::Depends(on) => self.wait_copied(on).await?,
                Record::Resolve { tx, .. } if decided_in_catalog(*tx) => {
                    self.wait_move_known(*tx).await?
                }
                _ => {}
            }
            // Mastership may have changed while this waited.
            if !self.copies() {
                break;
            }
            let ticket = self.wal.append_lazy(&payload)?;
            self.apply_copied(record, ticket);
        }
        self.wal.flush().await?;
        self.note_caught_up(self.wal.appended()?.end(), end, map_epoch);
        Ok(())
    }

    /// A copy round ended with this log at `reached`, the master's durable
    /// at `end`, asked with the node's bucket map at `map_epoch`.
    fn note_caught_up(&self, reached: u64, end: u64, map_epoch: u64) {
        if reached >= end && self.copy_caught_up.get() < Some(map_epoch) {
            self.copy_caught_up.set(Some(map_epoch));
        }
    }

    /// The snapshot a read from a copy (`FromCopy`) takes here: this
    /// shard's newest, held until the returned guard drops. Not the
    /// router's: a replica stamps what it copies with its own clock when
    /// it applies it, later than its master committed it, so a read at a
    /// snapshot the router took before the copy arrived would miss rows
    /// the copy holds by the time the read does (a whole table once, in
    /// `buckets_even_out_between_full_groups_through_their_masters`). A
    /// copy's read shows its copy as it stands, its master's state a
    /// moment ago; `check_copy_serves` has refused it where that state
    /// could miss or double a row a move carried, and the router routes
    /// such reads by its newest bucket map to match.
    pub(super) fn copy_read(&self) -> CopyRead<'_> {
        let (floor, ts) = self.begin_read();
        CopyRead {
            shard: self,
            floor,
            ts,
        }
    }

    /// After a read from a copy routed by the map of epoch `routed`: it
    /// read this shard as it stands, so a move the router's map lacks may
    /// show in it (the taker's rows, which a read at the router's snapshot
    /// would not see), and the router catches up and reads again. A shard
    /// settles a move only once its node's catalog holds it (a master's
    /// `buckets_settle`, a replica's `wait_move_known`), so a catalog
    /// that names no move past `routed` means none showed.
    pub(super) fn check_copy_routed(&self, routed: Option<u64>) -> Result<()> {
        let known = self.catalog().buckets.moves.epoch;
        match routed {
            Some(epoch) if epoch < known => Err(super::buckets::stale_map(known)),
            _ => Ok(()),
        }
    }

    /// Whether this shard's copy may serve `request`, a read sent to it
    /// because its session asked to read from replicas (`FromCopy`). A
    /// master serves it as any read. A replica serves what its copy holds
    /// (its master's state a moment ago: like a PostgreSQL standby's), but
    /// refuses with a mark that sends the router to the master while the
    /// read could find rows missing or doubled rather than merely old:
    /// its copy has not caught up with the master since this node's bucket
    /// map reached the one the read is routed by (a bucket moved here may
    /// not be in the copy yet), or a move of buckets is prepared in it and
    /// not yet settled (its rows would show on both sides or neither).
    pub(super) fn check_copy_serves(&self, request: &ShardRequest) -> Result<()> {
        if !self.is_replica() {
            return Ok(());
        }
        let behind = |why: &str| {
            Err(Error::new(
                sqlstate::SERIALIZATION_FAILURE,
                format!(
                    "this node's replica of shard {} cannot serve the read: {why}",
                    self.number()
                ),
            )
            .no_master_reached())
        };
        let routed_by = request.routed_epoch().unwrap_or(0);
        match self.copy_caught_up.get() {
            None => return behind("it has not caught up with its master since it started"),
            Some(epoch) if epoch < routed_by => {
                return behind("it has not caught up with its master since buckets last moved")
            }
            Some(_) => {}
        }
        if self
            .prepared
            .borrow()
            .keys()
            .any(|tx| decided_in_catalog(*tx))
        {
            return behind("a move of buckets is settling in it");
        }
        Ok(())
    }

    /// Before a copy settles the move of buckets `tx`: waits until this
    /// node's catalog holds the move's outcome. A router with an older
    /// map is then refused after its read (`check_copy_routed`) rather
    /// than served a copy that already lost or gained the move's rows.
    async fn wait_move_known(&self, tx: TxId) -> Result<()> {
        let known = super::buckets::catalog_reaches(
            || self.catalog(),
            |c| c.outcome(tx).is_some(),
            MOVE_KNOWN_WAIT,
        )
        .await?;
        if !known {
            return Err(Error::new(
                sqlstate::CONNECTION_FAILURE,
                format!(
                    "this node's catalog has not learned the outcome of the move of buckets {tx:#x} its master settled"
                ),
            ));
        }
        Ok(())
    }

    /// Waits until this node's copies of the master's other logs reach the
    /// positions `on` names (a `Depends` record). This log's own copy is
    /// made durable first: a copy waiting on this one goes on meanwhile.
    async fn wait_copied(&self, on: &[(u16, u64)]) -> Result<()> {
        self.wal.flush().await?;
        let mut positions = vec![0; self.node_shards as usize];
        for (log, at) in on {
            let Some(p) = positions.get_mut(*log as usize) else {
                return Err(Error::new(
                    sqlstate::DATA_CORRUPTED,
                    format!("the master's log depends on its log {log}, which this node lacks"),
                ));
            };
            if *log != self.shard {
                *p = (*p).max(*at);
            }
        }
        self.deps.wait(&positions).await
    }

    /// Applies a record copied into the log under `ticket` to the store
    /// and the ledger, as recovery would (see the module comment).
    fn apply_copied(&self, record: Record, ticket: Ticket) {
        match record {
            Record::Commit(mut writes) => {
                self.conform_copied(&mut writes);
                self.apply_committed(writes);
            }
            Record::Prepare { tx, writes } => self.restore_in_doubt(vec![(tx, writes)]),
            Record::Resolve { tx, commit } => {
                let Some((mut writes, _)) = self.prepared.borrow_mut().remove(&tx) else {
                    return;
                };
                // The evidence of a commit decided on this node, kept
                // until the resolve is durable (`settle_durable_resolves`).
                if commit && !decided_in_catalog(tx) && self.node_range().contains(&id_shard(tx)) {
                    self.ledger.resolved(tx, self.number(), true, true);
                    self.resolves_logged.borrow_mut().push((ticket, tx));
                }
                if commit {
                    // The catalog may have changed since the prepare.
                    self.conform_copied(&mut writes);
                    self.apply_committed(writes);
                } else {
                    self.store.borrow_mut().unlock(&writes);
                }
            }
            Record::Decision {
                tx,
                commit: true,
                participants,
                at,
            } => {
                let spans = self.spans_nodes(&participants);
                self.ledger.decided(
                    tx,
                    self.number(),
                    true,
                    at.unwrap_or(0),
                    &participants,
                    spans,
                );
            }
            // An abort needs no evidence: recovery presumes it.
            Record::Decision { tx, .. } | Record::Forget { tx } => self.ledger.forget(tx),
            Record::Depends(_) => {}
        }
    }

    /// Fits copied writes to the catalog this node holds now, which may be
    /// ahead of the master's when it logged them: rows of tables dropped
    /// since are left out, rows stored before columns were added or
    /// retyped take the new shape (as `refresh_catalog` gives the rows
    /// already stored).
    fn conform_copied(&self, writes: &mut WriteSet) {
        let catalog = self.catalog();
        writes.ops.retain_mut(|op| {
            let table = op.table();
            let Some(def) = catalog.table_by_id(table) else {
                // A table this node does not know yet is newer, not dropped.
                return table >= catalog.next_table_id;
            };
            if let WriteOp::Put { row, .. } = op {
                if let Some(fill) = def.widening().filter(|f| f.len() > row.len()) {
                    row.extend_from_slice(&fill[row.len()..]);
                }
                for (c, to) in def.retyped() {
                    if let Some(v) = row
                        .get_mut(c)
                        .filter(|v| !v.is_null() && v.data_type() != to)
                    {
                        if let Ok(converted) = v.clone().cast(to, true) {
                            *v = converted;
                        }
                    }
                }
            }
            true
        });
    }
}

impl ShardContext {
    /// On a master: part of one of its checkpoint files, for a replica
    /// that copies it (see [`ShardContext::install_master_checkpoint`]).
    pub(super) fn ship_checkpoint(
        &self,
        seq: Option<u64>,
        offset: u64,
        max_bytes: u32,
    ) -> Result<ShardResponse> {
        if self.is_replica() {
            return Err(not_master(self.number()));
        }
        let missing = |what: String| Error::new(sqlstate::OBJECT_NOT_IN_PREREQUISITE_STATE, what);
        let Some((fs, wal)) = &self.log_files else {
            return Err(missing(format!("shard {} keeps no files", self.number())));
        };
        let dir = checkpoint_dir(wal.parent().unwrap_or(wal));
        let kept = list_checkpoints(&**fs, &dir)?;
        let found = match seq {
            None => kept.first(),
            Some(seq) => kept.iter().find(|(kept, _)| *kept == seq),
        };
        let Some((seq_found, path)) = found else {
            return Err(missing(match seq {
                None => format!("shard {} has no checkpoint", self.number()),
                Some(seq) => format!(
                    "shard {} no longer keeps checkpoint {seq}; its copy starts again",
                    self.number()
                ),
            }));
        };
        let max_bytes = max_bytes.clamp(1, CHECKPOINT_PART_BYTES) as usize;
        let (bytes, len) = fs
            .read_range(path, offset, max_bytes)
            .map_err(|e| Error::io(&format!("reading {}", path.display()), e))?;
        Ok(ShardResponse::CheckpointPart {
            seq: *seq_found,
            len,
            bytes,
        })
    }

    /// On a replica whose master's log no longer reaches back to where
    /// this log ends (the master took checkpoints while the replica was
    /// away, and keeps no older records in memory): copies the master's
    /// newest checkpoint, makes it this shard's (the log then goes on from
    /// its replay start) and replaces the store, prepares and ledger
    /// entries with what it holds. Copying then goes on from there.
    async fn install_master_checkpoint<C: Cluster>(&self, cluster: &C) -> Result<()> {
        let Some((fs, wal)) = self.log_files.clone() else {
            return Err(Error::internal("a replica without log files"));
        };
        let shard_dir = wal.parent().unwrap_or(&wal).to_path_buf();
        let end = self.wal.appended()?.end();
        tracing::info!(
            "shard {}: its master no longer keeps its log from position {end}; copying the master's checkpoint",
            self.number()
        );
        let started = std::time::Instant::now();
        let (seq, len) = self.download_checkpoint(cluster, &*fs, &shard_dir).await?;
        let path = incoming_path(&shard_dir, seq);
        let catalog = self.catalog();
        let keep = |t| catalog.table_by_id(t).is_some() || t >= catalog.next_table_id;
        let loaded = match load_checkpoint(&*fs, &path, self.shard, self.tick(), keep) {
            Ok(loaded) => loaded,
            Err(e) => {
                let _ = fs.remove(&path);
                return Err(match e {
                    LoadError::Damaged(why) => Error::new(
                        sqlstate::DATA_CORRUPTED,
                        format!("the master's checkpoint {seq} arrived damaged: {why}"),
                    ),
                    LoadError::Failed(e) => e,
                });
            }
        };
        let replay_start = loaded.header.replay_start;
        if replay_start <= end {
            let _ = fs.remove(&path);
            return Err(Error::internal(format!(
                "the master's checkpoint {seq} replays from {replay_start}, not past this log's end {end}"
            )));
        }
        // The shard's own checkpoints wait, and one under way ends first.
        self.installing.set(true);
        let installed = async {
            while self.checkpointing.get() {
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            }
            install_checkpoint(&*fs, &shard_dir, seq, replay_start)?;
            self.wal.skip_to(replay_start).await
        }
        .await;
        if installed.is_ok() {
            self.replace_state(loaded);
        }
        self.installing.set(false);
        installed?;
        tracing::info!(
            "shard {}: installed the master's checkpoint {seq} ({len} bytes) in {:?}; copying its log from position {replay_start}",
            self.number(),
            started.elapsed()
        );
        Ok(())
    }

    /// Copies the master's newest checkpoint file to
    /// [`incoming_path`], synced; returns its sequence number and length.
    async fn download_checkpoint<C: Cluster>(
        &self,
        cluster: &C,
        fs: &dyn tessera_storage::file::FileSystem,
        shard_dir: &std::path::Path,
    ) -> Result<(u64, u64)> {
        let mut seq = None;
        let mut offset = 0;
        let mut file = None;
        loop {
            let ask = ShardRequest::ShipCheckpoint {
                seq,
                offset,
                max_bytes: CHECKPOINT_PART_BYTES,
            };
            let (part_seq, len, bytes) = match cluster.call(self.number(), ask).await? {
                ShardResponse::CheckpointPart { seq, len, bytes } => (seq, len, bytes),
                other => {
                    return Err(Error::internal(format!(
                        "an unexpected answer to ShipCheckpoint: {other:?}"
                    )))
                }
            };
            let path = incoming_path(shard_dir, part_seq);
            let io = |what: &str, e| Error::io(&format!("{what} {}", path.display()), e);
            if seq.is_some_and(|s| s != part_seq) || (bytes.is_empty() && offset < len) {
                return Err(Error::new(
                    sqlstate::PROTOCOL_VIOLATION,
                    format!("the master sent a wrong part of its checkpoint {part_seq}"),
                ));
            }
            if file.is_none() {
                let mut created = fs.open(&path).map_err(|e| io("creating", e))?;
                created.set_len(0).map_err(|e| io("truncating", e))?;
                file = Some(created);
                seq = Some(part_seq);
            }
            let Some(f) = file.as_mut() else {
                unreachable!("made above");
            };
            f.write_all_at(&bytes, offset)
                .map_err(|e| io("writing", e))?;
            offset += bytes.len() as u64;
            if offset >= len {
                f.sync_all().map_err(|e| io("syncing", e))?;
                return Ok((part_seq, len));
            }
        }
    }

    /// Makes a master's checkpoint, just installed, this replica shard's
    /// state: its rows (fitted to the node's catalog, as recovery fits
    /// them), its open prepares (locked), and its decisions and evidence
    /// in the ledger in place of those this shard's copy held.
    fn replace_state(&self, loaded: LoadedCheckpoint) {
        let LoadedCheckpoint {
            mut store,
            prepared,
            decisions,
            prepared_evidence,
            ..
        } = loaded;
        store.fit_to_catalog(&self.catalog());
        store.continue_after(self.store.borrow().applied());
        *self.store.borrow_mut() = store;
        self.prepared.borrow_mut().clear();
        self.restore_in_doubt(prepared);
        self.resolves_logged.borrow_mut().clear();
        let me = self.number();
        self.ledger.forget_coordinated(me);
        for d in decisions.into_iter().filter(|d| d.commit) {
            let spans = self.spans_nodes(&d.participants);
            self.ledger
                .decided(d.tx, me, true, d.at.unwrap_or(0), &d.participants, spans);
        }
        for tx in prepared_evidence {
            if !decided_in_catalog(tx) && self.node_range().contains(&id_shard(tx)) {
                self.ledger.copied_resolve(tx, me);
            }
        }
    }
}

/// A read from a copy's snapshot (`ShardContext::copy_read`): its floor
/// holds the versions it reads until it drops.
pub(super) struct CopyRead<'a> {
    shard: &'a ShardContext,
    floor: tessera_storage::store::Timestamp,
    pub ts: tessera_storage::store::Timestamp,
}

impl Drop for CopyRead<'_> {
    fn drop(&mut self) {
        self.shard.end_read(self.floor);
    }
}
