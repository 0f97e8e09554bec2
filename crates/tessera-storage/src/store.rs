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
    /// Approximate bytes the rows take (see [`row_bytes`]).
    bytes: usize,
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
    /// Approximate bytes of all rows on the shard.
    bytes: usize,
}

/// Per-row overhead of the ordered map and the row's vector, roughly.
const ROW_OVERHEAD_BYTES: usize = 64;

/// The approximate memory a stored row takes: what the memory limit counts.
pub fn row_bytes(key: &[u8], row: &[Value]) -> usize {
    let values: usize = row
        .iter()
        .map(|v| match v {
            Value::Text(s) => std::mem::size_of::<Value>() + s.len(),
            _ => std::mem::size_of::<Value>(),
        })
        .sum();
    ROW_OVERHEAD_BYTES + key.len() + values
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
                    let t = self.tables.entry(table).or_default();
                    let added = row_bytes(&key, &row);
                    let removed = t.rows.get(&key).map_or(0, |old| row_bytes(&key, old));
                    t.rows.insert(key, row);
                    t.bytes = t.bytes + added - removed;
                    self.bytes = self.bytes + added - removed;
                }
                WriteOp::Delete { table, key } => {
                    if let Some(t) = self.tables.get_mut(&table) {
                        if let Some(old) = t.rows.remove(&key) {
                            let removed = row_bytes(&key, &old);
                            t.bytes -= removed;
                            self.bytes -= removed;
                        }
                    }
                }
            }
        }
    }

    /// Approximate bytes of all rows on the shard.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// How many bytes applying `writes` would add (negative: free).
    pub fn growth(&self, writes: &WriteSet) -> isize {
        let mut growth = 0isize;
        for op in &writes.ops {
            let old = self
                .get(op.table(), op.key())
                .map_or(0, |r| row_bytes(op.key(), r)) as isize;
            match op {
                WriteOp::Put { key, row, .. } => growth += row_bytes(key, row) as isize - old,
                WriteOp::Delete { .. } => growth -= old,
            }
        }
        growth
    }

    /// Frees the rows of tables the catalog no longer has.
    pub fn drop_missing_tables(&mut self, catalog: &Catalog) {
        let mut freed = 0;
        self.tables.retain(|id, t| {
            let keep = catalog.table_by_id(*id).is_some();
            if !keep {
                freed += t.bytes;
            }
            keep
        });
        self.bytes -= freed;
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

#[cfg(test)]
mod tests {
    use super::*;

    fn put(table: TableId, key: &[u8], text: &str) -> WriteOp {
        WriteOp::Put {
            table,
            key: key.to_vec(),
            row: vec![Value::Int4(1), Value::Text(text.into())],
        }
    }

    #[test]
    fn byte_accounting_follows_puts_replacements_deletes_and_drops() {
        let mut store = ShardStore::new();
        let ws = WriteSet {
            ops: vec![put(1, b"a", "xxxx"), put(1, b"b", "yy"), put(2, b"a", "z")],
        };
        let growth = store.growth(&ws);
        store.apply(ws);
        assert_eq!(store.bytes() as isize, growth);
        // Replacing a row by a larger one grows by the difference only.
        let ws = WriteSet {
            ops: vec![put(1, b"a", "xxxxxxxxxx")],
        };
        assert_eq!(store.growth(&ws), 6);
        store.apply(ws);
        // Deleting frees exactly what the row took; deleting a missing key frees nothing.
        let before = store.bytes();
        let del = WriteSet {
            ops: vec![
                WriteOp::Delete {
                    table: 1,
                    key: b"b".to_vec(),
                },
                WriteOp::Delete {
                    table: 1,
                    key: b"q".to_vec(),
                },
            ],
        };
        let freed = store.growth(&del);
        assert!(freed < 0);
        store.apply(del);
        assert_eq!(store.bytes() as isize, before as isize + freed);
        // Dropping table 1 leaves exactly table 2's bytes.
        let only_two = row_bytes(b"a", &[Value::Int4(1), Value::Text("z".into())]);
        let mut catalog = Catalog::new(16, 1);
        for name in ["one", "two"] {
            let def = tessera_types::TableDef {
                id: 0,
                name: name.into(),
                columns: vec![],
                primary_key: vec![],
                sharding_key: vec![],
            };
            catalog = catalog.with_table(def).0;
        }
        let catalog = catalog.without_table(1);
        store.drop_missing_tables(&catalog);
        assert_eq!(store.bytes(), only_two);
    }
}
