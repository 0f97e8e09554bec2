//! INSERT … ON CONFLICT on unique indexes other than the primary key
//! (PostgreSQL's arbiter indexes).
//!
//! The shard that holds a row decides a conflict on its primary key by
//! itself (`ShardRequest::Insert` with an `Upsert`). A unique index's
//! entry may live on another shard (a global index) and name a row on a
//! third, so for those the router looks first: for each proposed row, the
//! entry of each arbiter index under the row's values, read at a new
//! snapshot under the block's own writes. A row that finds one is sent to
//! the shard of the row the entry names, under that row's key, and gets
//! the action there (DO NOTHING: nothing; DO UPDATE: the assignments over
//! the existing row and `excluded`); the others are inserted as usual.
//!
//! Between the look and the write another transaction may insert the
//! same values (the insert then fails with 23505 on the arbiter: the entry
//! is taken), or change or delete the row found (the shard sees that the
//! row no longer holds the values: 40001 naming the arbiter). Under READ
//! COMMITTED the statement then looks again, up to [`UPSERT_TRIES`] times,
//! from a savepoint of its own inside a block (outside one nothing of a
//! failed attempt stays), as PostgreSQL's speculative insertion retries.
//! Under REPEATABLE READ and SERIALIZABLE the error stands: PostgreSQL
//! fails them too when the conflicting row is not in their snapshot.

use std::collections::HashMap;
use std::sync::Arc;

use tessera_types::encoding::encode_key;
use tessera_types::schema::ShardId;
use tessera_types::{sqlstate, Catalog, Error, IndexDef, Result, TableDef, Value};

use super::{join_all, Cluster, KeyedRows, Router, Snapshot};
use crate::engine::SessionState;
use crate::plan::{InsertPlan, OnConflict, Row};
use crate::shard::{ShardRequest, ShardResponse, Upsert};

/// How many times a READ COMMITTED upsert looks again after losing a race
/// for an arbiter's values.
pub const UPSERT_TRIES: u32 = 20;

/// A row found through an arbiter: its shard and key, and the arbiter.
type Found = Option<(ShardId, Vec<u8>, usize)>;

impl<C: Cluster> Router<C> {
    /// ON CONFLICT's unique indexes other than the primary key, from the
    /// catalog the statement runs against.
    pub(super) fn arbiter_indexes(
        &self,
        plan: &InsertPlan,
        catalog: &Catalog,
    ) -> Result<Vec<Arc<IndexDef>>> {
        plan.arbiters
            .indexes
            .iter()
            .map(|name| {
                catalog
                    .indexes_of(plan.table.id)
                    .find(|ix| ix.unique && &ix.name == name)
                    .cloned()
                    .ok_or_else(|| {
                        Error::new(
                            sqlstate::SERIALIZATION_FAILURE,
                            format!(
                                "the indexes of \"{}\" changed while the statement ran",
                                plan.table.name
                            ),
                        )
                    })
            })
            .collect()
    }

    /// Carries out INSERT `insert` … ON CONFLICT whose arbiters include
    /// unique indexes (see the module comment): `rows` are the proposed
    /// rows by their own shard, `base` the action with no row found.
    pub(super) async fn upsert(
        &self,
        insert: &InsertPlan,
        (rows, catalog): (&HashMap<ShardId, KeyedRows>, &Catalog),
        arbiters: &[Arc<IndexDef>],
        base: &Arc<Upsert>,
        shards_draw: bool,
        session: &mut SessionState,
    ) -> Result<(u64, Vec<Row>)> {
        let snapshot_isolated = session
            .txn
            .as_ref()
            .is_some_and(|t| t.isolation.has_snapshot());
        let mut attempt = 0;
        loop {
            // Inside a block, a savepoint to try again from: the attempt's
            // writes carry its number.
            let mark = session.txn.as_mut().map(|txn| {
                txn.savepoint_seq += 1;
                let seq = txn.savepoint_seq;
                txn.savepoints.push((String::new(), seq));
                seq
            });
            let result = self
                .upsert_once(
                    insert,
                    (rows, catalog),
                    arbiters,
                    base,
                    shards_draw,
                    session,
                )
                .await;
            let again = !snapshot_isolated
                && attempt + 1 < UPSERT_TRIES
                && result.as_ref().is_err_and(|e| lost_race(e, arbiters));
            if let (Some(seq), Some(txn)) = (mark, session.txn.as_mut()) {
                if let Some(i) = txn.savepoints.iter().rposition(|(_, n)| *n == seq) {
                    txn.savepoints.truncate(i);
                }
                if again {
                    self.undo_to(txn, seq).await?;
                }
            }
            if !again {
                return result;
            }
            attempt += 1;
            self.back_off(attempt).await;
        }
    }

    async fn upsert_once(
        &self,
        insert: &InsertPlan,
        (rows, catalog): (&HashMap<ShardId, KeyedRows>, &Catalog),
        arbiters: &[Arc<IndexDef>],
        base: &Arc<Upsert>,
        shards_draw: bool,
        session: &mut SessionState,
    ) -> Result<(u64, Vec<Row>)> {
        let proposed: Vec<(ShardId, &Vec<u8>, &Row)> = rows
            .iter()
            .flat_map(|(s, rows)| rows.iter().map(move |(k, r)| (*s, k, r)))
            .collect();
        let found = self
            .find_conflicts(&insert.table, &proposed, arbiters, catalog, session)
            .await?;
        let again = |conflict: Error| match &*base.action {
            OnConflict::Nothing => Ok(()),
            OnConflict::Update { .. } => Err(conflict),
        };
        // Per shard: its rows, and the keys of those found through an
        // arbiter with that arbiter's name and columns.
        type ShardRows = (KeyedRows, HashMap<Vec<u8>, (String, Vec<usize>)>);
        let mut per_shard: HashMap<ShardId, ShardRows> = HashMap::new();
        for ((_, _, row), found) in proposed.iter().zip(&found) {
            let Some((at, existing, arbiter)) = found else {
                continue;
            };
            let (list, keys) = per_shard.entry(*at).or_default();
            if keys.contains_key(existing) {
                // Two proposed rows found the same row.
                again(second_time())?;
                continue;
            }
            let index = &arbiters[*arbiter];
            keys.insert(
                existing.clone(),
                (index.name.clone(), index.columns.clone()),
            );
            list.push((existing.clone(), (*row).clone()));
        }
        for ((shard, key, row), found) in proposed.iter().zip(&found) {
            if found.is_some() {
                continue;
            }
            let (list, keys) = per_shard.entry(*shard).or_default();
            if keys.contains_key(*key) {
                // Its key is that of a row another proposal found.
                if !base.primary_key {
                    return Err(crate::shard::duplicate_key(&insert.table, row));
                }
                again(second_time())?;
                continue;
            }
            list.push(((*key).clone(), (*row).clone()));
        }
        let requests: Vec<(ShardId, KeyedRows, Arc<Upsert>)> = per_shard
            .into_iter()
            .filter(|(_, (list, _))| !list.is_empty())
            .map(|(shard, (list, found))| {
                let mut upsert = (**base).clone();
                upsert.found = found;
                (shard, list, Arc::new(upsert))
            })
            .collect();
        self.write("INSERT", session, shards_draw, |mode| {
            Ok(requests
                .iter()
                .map(|(shard, list, upsert)| {
                    (
                        *shard,
                        self.routed(
                            catalog,
                            ShardRequest::Insert {
                                table: insert.table.clone(),
                                rows: list.clone(),
                                mode,
                                upsert: Some(upsert.clone()),
                            },
                        ),
                    )
                })
                .collect())
        })
        .await
    }

    /// For each proposed row (its shard, key and values), the first
    /// arbiter whose entry under the row's values exists, and the row that
    /// entry names: read at a new snapshot, under the block's own writes
    /// (SERIALIZABLE remembers the reads).
    async fn find_conflicts(
        &self,
        table: &TableDef,
        proposed: &[(ShardId, &Vec<u8>, &Row)],
        arbiters: &[Arc<IndexDef>],
        catalog: &Catalog,
        session: &mut SessionState,
    ) -> Result<Vec<Found>> {
        let txn = session.txn.as_ref().map(|t| t.id);
        let track_reads = session.txn.as_ref().is_some_and(|t| t.tracks_reads());
        let snapshot = Snapshot::begin(&self.cluster);
        // (proposed row, arbiter) for each entry read.
        let mut asked = Vec::new();
        let mut gets = Vec::new();
        let mut entry_shards = Vec::new();
        for (i, (shard, _, row)) in proposed.iter().enumerate() {
            for (a, index) in arbiters.iter().enumerate() {
                if index.columns.iter().any(|c| row[*c].is_null()) {
                    continue;
                }
                let values: Vec<Value> = index.columns.iter().map(|c| row[*c].clone()).collect();
                let entry_key = encode_key(&values, &index.storage.primary_key);
                // A local index's entry lives with its row.
                let at = if index.is_global(table) {
                    self.shard_of_key(catalog, table.tier, &entry_key)
                } else {
                    *shard
                };
                entry_shards.push(at);
                asked.push((i, a));
                let get = ShardRequest::Get {
                    table: index.storage.id,
                    key: entry_key,
                    ts: snapshot.ts,
                    txn,
                    track_reads,
                };
                gets.push(self.cluster.call(at, self.routed(catalog, get)));
            }
        }
        let replies = join_all(gets).await;
        drop(snapshot);
        if track_reads {
            if let Some(t) = session.txn.as_mut() {
                t.reads.extend(entry_shards);
            }
        }
        let mut found: Vec<Found> = vec![None; proposed.len()];
        for ((i, a), reply) in asked.into_iter().zip(replies) {
            let entry = match reply? {
                ShardResponse::Rows(mut rows) => rows.pop(),
                other => {
                    return Err(Error::internal(format!(
                        "unexpected reply to a get: {other:?}"
                    )))
                }
            };
            let (Some(entry), None) = (entry, &found[i]) else {
                continue;
            };
            let (shard, key) = self.row_of_entry(catalog, table, &arbiters[a], &entry);
            found[i] = Some((shard, key, a));
        }
        Ok(found)
    }
}

/// Whether an attempt lost a race for an arbiter's values: its insert met
/// a new entry (23505), or the row it found changed (40001), naming the
/// arbiter.
fn lost_race(e: &Error, arbiters: &[Arc<IndexDef>]) -> bool {
    let named = e.object.as_ref().and_then(|o| o.constraint.as_deref());
    (e.code == sqlstate::UNIQUE_VIOLATION || e.code == sqlstate::SERIALIZATION_FAILURE)
        && named.is_some_and(|n| arbiters.iter().any(|ix| ix.name == n))
}

fn second_time() -> Error {
    Error::new(
        sqlstate::CARDINALITY_VIOLATION,
        "ON CONFLICT DO UPDATE command cannot affect row a second time",
    )
    .with_hint(
        "Ensure that no rows proposed for insertion within the same command have duplicate constrained values.",
    )
}
