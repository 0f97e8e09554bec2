//! A shard's tables: rows in key order, plus the key locks that pending
//! writes hold between their WAL append and their apply.
//!
//! Only the shard's own thread touches a `ShardStore`.

use std::collections::{BTreeMap, HashMap};
use std::ops::Bound;

use tessera_types::{Catalog, TableId, Value};

use crate::record::{TxId, WriteOp, WriteSet};

/// One table's rows on this shard, by encoded key.
#[derive(Default)]
pub struct Table {
    rows: BTreeMap<Vec<u8>, Vec<Value>>,
}

impl Table {
    pub fn get(&self, key: &[u8]) -> Option<&Vec<Value>> {
        self.rows.get(key)
    }
    pub fn len(&self) -> usize {
        self.rows.len()
    }
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }
    pub fn iter(&self) -> impl Iterator<Item = (&Vec<u8>, &Vec<Value>)> {
        self.rows.iter()
    }
    /// Rows with keys strictly after `after` (from the start when `None`),
    /// for scans that resume after yielding.
    pub fn iter_after(
        &self,
        after: Option<&[u8]>,
    ) -> impl Iterator<Item = (&Vec<u8>, &Vec<Value>)> {
        let lower = match after {
            Some(k) => Bound::Excluded(k.to_vec()),
            None => Bound::Unbounded,
        };
        self.rows.range((lower, Bound::Unbounded))
    }
}

/// Who holds a key lock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LockOwner {
    /// A single-shard statement waiting for its WAL record to be durable.
    Statement(u64),
    /// A prepared two-phase transaction.
    Tx(TxId),
}

#[derive(Default)]
pub struct ShardStore {
    tables: HashMap<TableId, Table>,
    locks: HashMap<(TableId, Vec<u8>), LockOwner>,
    /// The largest hidden row id seen (recovery seeds row id generation).
    pub max_row_id: u64,
}

impl ShardStore {
    pub fn new() -> ShardStore {
        ShardStore::default()
    }

    pub fn table(&self, id: TableId) -> Option<&Table> {
        self.tables.get(&id)
    }

    pub fn get(&self, table: TableId, key: &[u8]) -> Option<&Vec<Value>> {
        self.tables.get(&table).and_then(|t| t.get(key))
    }

    pub fn is_locked(&self, table: TableId, key: &[u8]) -> bool {
        self.locks.contains_key(&(table, key.to_vec()))
    }

    /// Whether any key of `writes` is locked.
    pub fn any_locked(&self, writes: &WriteSet) -> bool {
        !self.locks.is_empty()
            && writes
                .ops
                .iter()
                .any(|op| self.is_locked(op.table(), op.key()))
    }

    pub fn has_locks(&self) -> bool {
        !self.locks.is_empty()
    }

    /// Locks every key of `writes`. The caller checked they were free.
    pub fn lock(&mut self, writes: &WriteSet, owner: LockOwner) {
        for op in &writes.ops {
            let prev = self.locks.insert((op.table(), op.key().to_vec()), owner);
            assert!(prev.is_none() || prev == Some(owner), "key locked twice");
        }
    }

    pub fn unlock(&mut self, writes: &WriteSet) {
        for op in &writes.ops {
            self.locks.remove(&(op.table(), op.key().to_vec()));
        }
    }

    /// Applies a durable write set.
    pub fn apply(&mut self, writes: WriteSet) {
        for op in writes.ops {
            match op {
                WriteOp::Put { table, key, row } => {
                    self.tables.entry(table).or_default().rows.insert(key, row);
                }
                WriteOp::Delete { table, key } => {
                    if let Some(t) = self.tables.get_mut(&table) {
                        t.rows.remove(&key);
                    }
                }
            }
        }
    }

    /// Frees the rows of tables the catalog no longer has.
    pub fn drop_missing_tables(&mut self, catalog: &Catalog) {
        self.tables
            .retain(|id, _| catalog.table_by_id(*id).is_some());
    }

    /// Creates empty storage for a new table (scans of it then find it).
    pub fn ensure_table(&mut self, id: TableId) {
        self.tables.entry(id).or_default();
    }
}

impl Table {
    /// The greatest key, for seeding hidden row ids after recovery.
    pub fn last_key(&self) -> Option<&Vec<u8>> {
        self.rows.keys().next_back()
    }
}
