//! UPDATE of a key: rows that leave their key (`UpdatePlan::moves`).
//!
//! Such an UPDATE runs in a transaction block (an implicit one when the
//! client has none open). Each shard finds and locks its rows as any
//! UPDATE does (waiting for a concurrent writer, re-checking under READ
//! COMMITTED), computes the new rows, deletes the old ones and returns
//! both; the router then inserts the new rows under their keys, wherever
//! those live, as intents of the same transaction. So the statement
//! commits whole or not at all, by the block's two-phase commit.
//!
//! Uniqueness is checked as PostgreSQL's non-deferrable constraints check
//! it, one row after another in the order the rows are scanned (here: by
//! old key): a new key that equals the old key of a row the statement has
//! not reached yet is a duplicate (`SET id = id + 1` over 1..n fails, `SET
//! id = id - 1` passes), as is one that another new row or a row the
//! statement leaves alone holds (the shard that inserts finds it).
//!
//! Not done: a concurrent READ COMMITTED writer that waited for a row
//! which then moved finds it gone and skips it, as for a deleted row
//! (PostgreSQL follows the row to its new version within a table, and
//! fails with 40001 when it moved to another partition).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use tessera_types::encoding::encode_key;
use tessera_types::schema::ShardId;
use tessera_types::{Error, Result, TableDef, Value};

use super::{Cluster, Router};
use crate::engine::SessionState;
use crate::plan::{Row, UpdatePlan};
use crate::shard::{duplicate_key, unique_violation, ShardRequest};

/// A row an UPDATE moves, as its shard returned it.
pub(super) struct Moved {
    pub old_key: Vec<u8>,
    pub old: Row,
    pub new: Row,
    pub returning: Row,
}

/// A unique constraint the moved rows must respect, in scan order.
struct UniqueCheck<'a> {
    columns: Vec<usize>,
    /// The index, or `None` for the primary key.
    index: Option<&'a tessera_types::IndexDef>,
    /// Old values of the moved rows, and the position of their row.
    old: HashMap<Vec<u8>, usize>,
    /// New values of the rows placed so far.
    taken: HashSet<Vec<u8>>,
}

impl UniqueCheck<'_> {
    /// The row's values over the constraint; `None` when one is NULL (an
    /// index then holds no entry for it).
    fn values(&self, row: &[Value]) -> Option<Vec<u8>> {
        if self.index.is_some() && self.columns.iter().any(|c| row[*c].is_null()) {
            return None;
        }
        Some(encode_key(row, &self.columns))
    }
}

/// Splits a shard's `[old key, old row…, new row…, RETURNING…]`.
pub(super) fn split_moved(mut row: Row, width: usize) -> Result<Moved> {
    if row.len() < 1 + 2 * width {
        return Err(Error::internal("a moved row came back short"));
    }
    let returning = row.split_off(1 + 2 * width);
    let new = row.split_off(1 + width);
    let old = row.split_off(1);
    let Some(Value::Bytea(old_key)) = row.pop() else {
        return Err(Error::internal("a moved row came back without its key"));
    };
    Ok(Moved {
        old_key,
        old,
        new,
        returning,
    })
}

impl<C: Cluster> Router<C> {
    /// After the shards deleted the rows an UPDATE moves (`returned`, in
    /// their format): checks uniqueness in scan order, inserts the new
    /// rows where their keys live, then does what foreign keys ask. Runs
    /// in the session's block. Returns the RETURNING rows.
    pub(super) async fn place_moved(
        &self,
        plan: &UpdatePlan,
        returned: Vec<Row>,
        session: &mut SessionState,
    ) -> Result<Vec<Row>> {
        let table = &plan.table;
        let width = table.columns.len();
        let mut moved = returned
            .into_iter()
            .map(|r| split_moved(r, width))
            .collect::<Result<Vec<_>>>()?;
        moved.sort_by(|a, b| a.old_key.cmp(&b.old_key));
        let catalog = self.catalog_of(session);
        self.check_unique_in_order(table, &catalog, &moved)?;

        let mut per_shard: HashMap<ShardId, Vec<(Vec<u8>, Row)>> = HashMap::new();
        for m in &moved {
            let key = if table.has_row_id() {
                m.old_key.clone()
            } else {
                encode_key(&m.new, &table.primary_key)
            };
            let shard = if table.sharding_key.is_empty() || table.sharding_key == table.primary_key
            {
                self.shard_of_key(&catalog, table.tier, &key)
            } else {
                self.shard_of_key(
                    &catalog,
                    table.tier,
                    &encode_key(&m.new, &table.sharding_key),
                )
            };
            per_shard
                .entry(shard)
                .or_default()
                .push((key, m.new.clone()));
        }
        if !per_shard.is_empty() {
            let table_def = table.clone();
            self.write("UPDATE", session, false, |mode| {
                Ok(per_shard
                    .iter()
                    .map(|(s, rows)| {
                        (
                            *s,
                            self.routed(
                                &catalog,
                                ShardRequest::Insert {
                                    table: table_def.clone(),
                                    rows: rows.clone(),
                                    mode,
                                    upsert: None,
                                },
                            ),
                        )
                    })
                    .collect())
            })
            .await?;
        }

        let assigned = |cols: &[usize]| plan.assignments.iter().any(|(c, _)| cols.contains(c));
        let changes: Vec<(Row, Row)> = moved
            .iter()
            .map(|m| (m.old.clone(), m.new.clone()))
            .collect();
        if catalog
            .referencing(table.id)
            .iter()
            .any(|(_, fk)| assigned(&fk.parent_columns))
        {
            Box::pin(self.parent_keys_updated(table, &changes, session)).await?;
        }
        let child: Vec<_> = table
            .foreign_keys
            .iter()
            .filter(|fk| assigned(&fk.columns))
            .cloned()
            .collect();
        if !child.is_empty() {
            let rows: Vec<Row> = changes.into_iter().map(|(_, new)| new).collect();
            self.check_parents(table, &child, &rows, session).await?;
        }
        Ok(if plan.returning.is_empty() {
            vec![]
        } else {
            moved.into_iter().map(|m| m.returning).collect()
        })
    }

    /// PostgreSQL checks a unique constraint as each row is written: a new
    /// value equal to one a row not yet reached still holds is refused,
    /// even if that row would give it up later in the statement. Values
    /// held by rows the statement leaves alone are checked where the new
    /// rows are inserted.
    fn check_unique_in_order(
        &self,
        table: &Arc<TableDef>,
        catalog: &tessera_types::Catalog,
        moved: &[Moved],
    ) -> Result<()> {
        let mut checks: Vec<UniqueCheck> = Vec::new();
        if !table.has_row_id() {
            checks.push(UniqueCheck {
                columns: table.primary_key.clone(),
                index: None,
                old: HashMap::new(),
                taken: HashSet::new(),
            });
        }
        for index in catalog.indexes_of(table.id).filter(|i| i.unique) {
            checks.push(UniqueCheck {
                columns: index.columns.clone(),
                index: Some(index),
                old: HashMap::new(),
                taken: HashSet::new(),
            });
        }
        for check in &mut checks {
            for (i, m) in moved.iter().enumerate() {
                if let Some(v) = check.values(&m.old) {
                    check.old.insert(v, i);
                }
            }
        }
        for (i, m) in moved.iter().enumerate() {
            for check in &mut checks {
                let Some(v) = check.values(&m.new) else {
                    continue;
                };
                let later = check.old.get(&v).is_some_and(|j| *j > i);
                if later || !check.taken.insert(v) {
                    return Err(match check.index {
                        None => duplicate_key(table, &m.new),
                        Some(index) => {
                            let values: Vec<Value> =
                                index.columns.iter().map(|c| m.new[*c].clone()).collect();
                            unique_violation(index, table, &values, false)
                        }
                    });
                }
            }
        }
        Ok(())
    }
}
