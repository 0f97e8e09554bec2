//! A shard's tables: multi-version rows in key order, plus the key locks
//! that pending writes hold between their WAL append and their apply.
//!
//! Each key keeps a chain of versions, newest first, each stamped with the
//! timestamp of the commit that wrote it (a tombstone for a delete). A
//! reader at snapshot `ts` sees the newest version at or below `ts`, so a
//! statement that spans shards reads one consistent state and a concurrent
//! multi-shard write is seen whole or not at all. Versions that no snapshot
//! can see any more (older than the newest one at or below the oldest active
//! snapshot, the *horizon*) are pruned: on every write to the key, and for
//! keys left with old versions, by [`ShardStore::collect_garbage`].
//!
//! Only the shard's own thread touches a `ShardStore`.

use std::cell::Cell;
use std::cmp::Ordering;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::ops::Bound;

use tessera_types::{Catalog, TableId, Value};

use crate::record::{TxId, WriteOp, WriteSet};

/// A commit timestamp or snapshot (see `Clock`).
pub type Timestamp = u64;

/// The snapshot that sees every committed version: what writers read.
pub const LATEST: Timestamp = Timestamp::MAX;

/// Bytes a [`Key`] keeps in place.
const INLINE_KEY: usize = 22;

/// A stored key, ordered as its bytes are. Keys of up to
/// [`INLINE_KEY`] bytes (an integer key takes 9) sit in the map's node
/// itself, so a lookup compares them without following a pointer per
/// comparison and a write allocates nothing for its key; longer ones live
/// on the heap. Comparison looks at the first 16 bytes as one number
/// first, which settles most comparisons without a call to `memcmp`.
#[derive(Clone)]
enum Key {
    Inline(u8, [u8; INLINE_KEY]),
    Heap(Box<[u8]>),
}

impl Key {
    fn new(bytes: &[u8]) -> Key {
        if bytes.len() <= INLINE_KEY {
            let mut inline = [0; INLINE_KEY];
            inline[..bytes.len()].copy_from_slice(bytes);
            Key::Inline(bytes.len() as u8, inline)
        } else {
            Key::Heap(bytes.into())
        }
    }

    fn as_slice(&self) -> &[u8] {
        match self {
            Key::Inline(len, bytes) => &bytes[..*len as usize],
            Key::Heap(bytes) => bytes,
        }
    }

    /// The first 16 bytes, zero-padded, big-endian: zero is the least
    /// byte, so padding orders a key before its extensions as the bytes
    /// do, and unequal heads order the keys.
    fn head(&self) -> u128 {
        let mut head = [0; 16];
        match self {
            Key::Inline(_, bytes) => head.copy_from_slice(&bytes[..16]),
            Key::Heap(bytes) => head.copy_from_slice(&bytes[..16]),
        }
        u128::from_be_bytes(head)
    }
}

impl Ord for Key {
    fn cmp(&self, other: &Key) -> Ordering {
        self.head().cmp(&other.head()).then_with(|| {
            let (a, b) = (self.as_slice(), other.as_slice());
            if a.len() <= 16 && b.len() <= 16 {
                a.len().cmp(&b.len())
            } else {
                a.cmp(b)
            }
        })
    }
}

impl PartialOrd for Key {
    fn partial_cmp(&self, other: &Key) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Key {
    fn eq(&self, other: &Key) -> bool {
        self.as_slice() == other.as_slice()
    }
}

impl Eq for Key {}

fn key_bound(bound: Bound<Vec<u8>>) -> Bound<Key> {
    match bound {
        Bound::Included(k) => Bound::Included(Key::new(&k)),
        Bound::Excluded(k) => Bound::Excluded(Key::new(&k)),
        Bound::Unbounded => Bound::Unbounded,
    }
}

/// The order in which a shard applied its commits: one number per applied
/// write set, increasing. Commit timestamps do not give that order (a
/// two-phase commit may be applied with a timestamp below ones applied
/// before it), and what a read depends on is a matter of what was applied.
pub type ApplySeq = u64;

struct Version {
    ts: Timestamp,
    /// The write set that made it (see [`ApplySeq`]).
    seq: ApplySeq,
    /// `None`: the key was deleted at `ts`.
    row: Option<Vec<Value>>,
}

/// A key's versions, newest first. Nearly every key has one version, kept
/// in place in the map's node: a scan reads it without following a
/// pointer (and missing the cache) per row, and a first write allocates
/// no list for it.
enum Chain {
    One(Version),
    Many(Vec<Version>),
}

impl Default for Chain {
    fn default() -> Chain {
        Chain::Many(Vec::new())
    }
}

impl Chain {
    fn as_slice(&self) -> &[Version] {
        match self {
            Chain::One(v) => std::slice::from_ref(v),
            Chain::Many(vs) => vs,
        }
    }

    fn as_mut_slice(&mut self) -> &mut [Version] {
        match self {
            Chain::One(v) => std::slice::from_mut(v),
            Chain::Many(vs) => vs,
        }
    }

    fn first(&self) -> Option<&Version> {
        self.as_slice().first()
    }

    fn len(&self) -> usize {
        self.as_slice().len()
    }

    fn is_empty(&self) -> bool {
        self.as_slice().is_empty()
    }

    /// Adds `version` as the newest.
    fn push_front(&mut self, version: Version) {
        *self = match std::mem::take(self) {
            Chain::Many(vs) if vs.is_empty() => Chain::One(version),
            Chain::One(older) => Chain::Many(vec![version, older]),
            Chain::Many(mut vs) => {
                vs.insert(0, version);
                Chain::Many(vs)
            }
        };
    }

    /// Drops the versions of the chain no snapshot at or above `horizon`
    /// can see: everything older than the newest version at or below it,
    /// and that one too if it is a tombstone. Returns the bytes freed.
    fn prune(&mut self, key: &[u8], horizon: Timestamp) -> usize {
        let versions = self.as_slice();
        let Some(newest_visible) = versions.iter().position(|v| v.ts <= horizon) else {
            return 0;
        };
        let keep = if versions[newest_visible].row.is_none() {
            newest_visible
        } else {
            newest_visible + 1
        };
        if keep == versions.len() {
            return 0;
        }
        let mut vs = match std::mem::take(self) {
            Chain::One(v) => vec![v],
            Chain::Many(vs) => vs,
        };
        let freed = vs.drain(keep..).map(|v| version_bytes(key, &v)).sum();
        *self = match vs.len() {
            1 => Chain::One(vs.pop().expect("one version")),
            _ => Chain::Many(vs),
        };
        freed
    }
}

thread_local! {
    /// The last-applied write set among the versions that reads on this
    /// thread returned (or whose absence they observed), since it was last
    /// swapped out: what a read depends on (see `count_seen`).
    static LAST_SEEN: Cell<ApplySeq> = const { Cell::new(0) };
}

/// Runs `f` counting what its reads see, on top of `start` (what the same
/// request saw before); returns its output and the last-applied write set
/// seen so far. A shard counts each poll of a request this way, so every
/// read is counted for the request that made it; a count around this one
/// (if any) sees these reads too.
pub fn count_seen<T>(start: ApplySeq, f: impl FnOnce() -> T) -> (T, ApplySeq) {
    let outer = LAST_SEEN.with(|c| c.replace(start));
    let output = f();
    let seen = LAST_SEEN.with(|c| {
        let seen = c.get();
        c.set(outer.max(seen));
        seen
    });
    (output, seen)
}

/// The thread's last-seen write set so far (see `LAST_SEEN`).
pub fn last_seen() -> ApplySeq {
    LAST_SEEN.with(Cell::get)
}

fn saw(seq: ApplySeq) {
    LAST_SEEN.with(|c| {
        if seq > c.get() {
            c.set(seq)
        }
    });
}

/// The visible row of a chain (newest first) at snapshot `ts`; the reader
/// saw the version it finds, a tombstone too.
fn visible(chain: &[Version], ts: Timestamp) -> Option<&Vec<Value>> {
    let version = chain.iter().find(|v| v.ts <= ts)?;
    saw(version.seq);
    version.row.as_ref()
}

/// One table's rows on this shard, by encoded key.
#[derive(Default)]
pub struct Table {
    rows: BTreeMap<Key, Chain>,
    /// Approximate bytes all versions take (see [`row_bytes`]).
    bytes: usize,
    /// The newest commit that changed a row here: a SERIALIZABLE scan of
    /// the table no longer holds once this passes its snapshot.
    last_commit: Timestamp,
    /// The last tombstone dropped with its whole chain: a reader that
    /// finds no key may have seen that delete.
    removed: ApplySeq,
    /// Every stored row has at least this many columns (see
    /// [`ShardStore::widen`]).
    width: usize,
}

impl Table {
    /// The row under `key` as snapshot `ts` sees it.
    pub fn get(&self, key: &[u8], ts: Timestamp) -> Option<&Vec<Value>> {
        match self.rows.get(&Key::new(key)) {
            Some(chain) => visible(chain.as_slice(), ts),
            None => {
                saw(self.removed);
                None
            }
        }
    }

    /// Rows visible at `ts` with keys strictly after `after` (from the start
    /// when `None`), for scans that resume after yielding.
    pub fn iter_at(
        &self,
        after: Option<&[u8]>,
        ts: Timestamp,
    ) -> impl Iterator<Item = (&[u8], &Vec<Value>)> {
        let lower = match after {
            Some(k) => Bound::Excluded(Key::new(k)),
            None => Bound::Unbounded,
        };
        saw(self.removed);
        self.rows
            .range((lower, Bound::Unbounded))
            .filter_map(move |(k, chain)| visible(chain.as_slice(), ts).map(|r| (k.as_slice(), r)))
    }

    /// Rows visible at `ts` with keys in `range`, in key order.
    pub fn range_at(
        &self,
        range: (Bound<Vec<u8>>, Bound<Vec<u8>>),
        ts: Timestamp,
    ) -> impl DoubleEndedIterator<Item = (&[u8], &Vec<Value>)> {
        saw(self.removed);
        self.rows
            .range((key_bound(range.0), key_bound(range.1)))
            .filter_map(move |(k, chain)| visible(chain.as_slice(), ts).map(|r| (k.as_slice(), r)))
    }

    /// Rows visible at `ts` whose keys start with `prefix`, in key order.
    pub fn prefix_at<'a>(
        &'a self,
        prefix: &'a [u8],
        ts: Timestamp,
    ) -> impl Iterator<Item = (&'a [u8], &'a Vec<Value>)> + 'a {
        saw(self.removed);
        self.rows
            .range((Bound::Included(Key::new(prefix)), Bound::Unbounded))
            .take_while(move |(k, _)| k.as_slice().starts_with(prefix))
            .filter_map(move |(k, chain)| visible(chain.as_slice(), ts).map(|r| (k.as_slice(), r)))
    }

    /// The timestamp of the newest commit that changed a row of the table.
    pub fn last_commit(&self) -> Timestamp {
        self.last_commit
    }

    /// The greatest key ever written and not yet collected, for seeding
    /// hidden row ids after recovery.
    pub fn last_key(&self) -> Option<&[u8]> {
        self.rows.keys().next_back().map(Key::as_slice)
    }
}

/// Who holds a key lock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LockOwner {
    /// A single-shard statement waiting for its WAL record to be durable.
    Statement(u64),
    /// A transaction: an open block's intents, or writes being committed
    /// or prepared under its id.
    Tx(TxId),
}

#[derive(Default)]
pub struct ShardStore {
    tables: HashMap<TableId, Table>,
    locks: HashMap<(TableId, Vec<u8>), LockOwner>,
    /// Approximate bytes of all versions on the shard.
    bytes: usize,
    /// Keys whose chains hold more than their one live version.
    garbage: HashSet<(TableId, Vec<u8>)>,
    /// The last write set applied.
    applied: ApplySeq,
    /// The type each retyped column's values were last converted to.
    retyped: HashMap<(TableId, usize), tessera_types::DataType>,
}

/// Per-version overhead of the ordered map and the row's vector, roughly.
const ROW_OVERHEAD_BYTES: usize = 64;

/// The approximate memory a stored version takes: what the memory limit counts.
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

fn version_bytes(key: &[u8], v: &Version) -> usize {
    match &v.row {
        Some(row) => row_bytes(key, row),
        None => ROW_OVERHEAD_BYTES + key.len(),
    }
}

impl ShardStore {
    pub fn new() -> ShardStore {
        ShardStore::default()
    }

    pub fn table(&self, id: TableId) -> Option<&Table> {
        self.tables.get(&id)
    }

    /// The ids of the tables the shard has storage for, in order.
    pub fn table_ids(&self) -> Vec<TableId> {
        let mut ids: Vec<TableId> = self.tables.keys().copied().collect();
        ids.sort_unstable();
        ids
    }

    pub fn get(&self, table: TableId, key: &[u8], ts: Timestamp) -> Option<&Vec<Value>> {
        self.tables.get(&table).and_then(|t| t.get(key, ts))
    }

    /// The commit timestamp of the newest version of `key` (a delete too).
    pub fn latest_ts(&self, table: TableId, key: &[u8]) -> Option<Timestamp> {
        self.tables
            .get(&table)
            .and_then(|t| t.rows.get(&Key::new(key)))
            .and_then(|chain| chain.first())
            .map(|v| v.ts)
    }

    /// Who holds the first key of `writes` that is locked by an owner other
    /// than `me`.
    pub fn lock_holder(&self, writes: &WriteSet, me: Option<TxId>) -> Option<LockOwner> {
        if self.locks.is_empty() {
            return None;
        }
        writes
            .ops
            .iter()
            .filter_map(|op| self.lock_owner(op.table(), op.key()))
            .find(|owner| me.is_none_or(|me| *owner != LockOwner::Tx(me)))
    }

    /// The owners of the locks held on keys of `table`.
    pub fn lock_owners_in(&self, table: TableId) -> impl Iterator<Item = LockOwner> + '_ {
        self.locks
            .iter()
            .filter(move |((t, _), _)| *t == table)
            .map(|(_, owner)| *owner)
    }

    /// Every locked key, with its owner.
    pub fn locked_keys(&self) -> impl Iterator<Item = (TableId, &[u8], LockOwner)> + '_ {
        self.locks
            .iter()
            .map(|((table, key), owner)| (*table, key.as_slice(), *owner))
    }

    pub fn lock_owner(&self, table: TableId, key: &[u8]) -> Option<LockOwner> {
        if self.locks.is_empty() {
            return None;
        }
        self.locks.get(&(table, key.to_vec())).copied()
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

    /// Applies a durable write set as versions committed at `ts`, pruning
    /// what snapshots at or above `horizon` cannot see.
    pub fn apply(&mut self, writes: WriteSet, ts: Timestamp, horizon: Timestamp) {
        self.applied += 1;
        let seq = self.applied;
        for op in writes.ops {
            let (table, key, row) = match op {
                WriteOp::Put { table, key, row } => (table, key, Some(row)),
                WriteOp::Delete { table, key } => (table, key, None),
            };
            let t = self.tables.entry(table).or_default();
            let stored = Key::new(&key);
            if row.is_none() {
                let exists = t
                    .rows
                    .get(&stored)
                    .and_then(|c| c.first())
                    .is_some_and(|v| v.row.is_some());
                if !exists {
                    continue;
                }
            }
            let version = Version { ts, seq, row };
            let added = version_bytes(&key, &version);
            let chain = t.rows.entry(stored.clone()).or_default();
            assert!(
                chain.first().is_none_or(|v| v.ts <= ts),
                "versions are applied in timestamp order"
            );
            chain.push_front(version);
            t.last_commit = t.last_commit.max(ts);
            let freed = chain.prune(&key, horizon);
            let empty = chain.is_empty();
            let garbage = chain.len() > 1 || chain.first().is_some_and(|v| v.row.is_none());
            if empty {
                t.rows.remove(&stored);
                t.removed = seq;
            }
            t.bytes = t.bytes + added - freed;
            self.bytes = self.bytes + added - freed;
            if garbage {
                self.garbage.insert((table, key));
            }
        }
    }

    /// Prunes up to `budget` keys left with old versions; returns how many
    /// keys still wait.
    pub fn collect_garbage(&mut self, horizon: Timestamp, budget: usize) -> usize {
        let batch: Vec<(TableId, Vec<u8>)> = self.garbage.iter().take(budget).cloned().collect();
        for (table, key) in batch {
            let mut done = true;
            if let Some(t) = self.tables.get_mut(&table) {
                let stored = Key::new(&key);
                if let Some(chain) = t.rows.get_mut(&stored) {
                    let last = chain.first().map_or(0, |v| v.seq);
                    let freed = chain.prune(&key, horizon);
                    t.bytes -= freed;
                    self.bytes -= freed;
                    if chain.is_empty() {
                        t.rows.remove(&stored);
                        t.removed = t.removed.max(last);
                    } else {
                        done = chain.len() == 1 && chain.first().is_some_and(|v| v.row.is_some());
                    }
                }
            }
            if done {
                self.garbage.remove(&(table, key));
            }
        }
        self.garbage.len()
    }

    /// The last write set applied on the shard.
    pub fn applied(&self) -> ApplySeq {
        self.applied
    }

    /// Numbers the write sets applied from now on after `seq`: a store
    /// that replaces another (a replica installing its master's
    /// checkpoint) goes on from the one it replaces.
    pub fn continue_after(&mut self, seq: ApplySeq) {
        self.applied = self.applied.max(seq);
    }

    /// Keys of each table on this shard (a deleted key counts until it is
    /// collected): the planner's row counts.
    pub fn key_counts(&self) -> impl Iterator<Item = (TableId, usize)> + '_ {
        self.tables.iter().map(|(id, t)| (*id, t.rows.len()))
    }

    /// Approximate bytes of all versions on the shard.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Approximate bytes of each table's versions on this shard.
    pub fn table_bytes(&self) -> impl Iterator<Item = (TableId, usize)> + '_ {
        self.tables.iter().map(|(id, t)| (*id, t.bytes))
    }

    /// How many bytes applying `writes` would add once old versions are
    /// collected (negative: free).
    pub fn growth(&self, writes: &WriteSet) -> isize {
        let mut growth = 0isize;
        for op in &writes.ops {
            let old = self
                .get(op.table(), op.key(), LATEST)
                .map_or(0, |r| row_bytes(op.key(), r)) as isize;
            match op {
                WriteOp::Put { key, row, .. } => growth += row_bytes(key, row) as isize - old,
                WriteOp::Delete { .. } => growth -= old,
            }
        }
        growth
    }

    /// Gives rows stored or logged under an older catalog this one's
    /// shape: every table it has gets storage, rows from before a column
    /// was added take its value, values from before a column's type
    /// changed are converted (both once, as `widen` and `retype` say).
    pub fn fit_to_catalog(&mut self, catalog: &Catalog) {
        for table in catalog.storage_tables() {
            self.ensure_table(table.id);
        }
        for table in catalog.tables() {
            if let Some(fill) = table.widening() {
                self.widen(table.id, &fill);
            }
            for (c, to) in table.retyped() {
                self.retype(table.id, c, to);
            }
        }
    }

    /// Frees the rows of tables the catalog no longer has.
    pub fn drop_missing_tables(&mut self, catalog: &Catalog) {
        self.retain_tables(|id| catalog.table_by_id(id).is_some());
    }

    /// Frees every table `keep` says no catalog has any more.
    pub fn retain_tables(&mut self, keep: impl Fn(TableId) -> bool) {
        let mut freed = 0;
        self.tables.retain(|id, t| {
            let kept = keep(*id);
            if !kept {
                freed += t.bytes;
            }
            kept
        });
        self.garbage.retain(|(id, _)| keep(*id));
        self.bytes -= freed;
    }

    /// Rows of `table` shorter than `fill` take its values for the columns
    /// they lack (ALTER TABLE … ADD COLUMN), every version of them.
    pub fn widen(&mut self, table: TableId, fill: &[Value]) {
        let Some(t) = self.tables.get_mut(&table) else {
            return;
        };
        if t.width >= fill.len() {
            return;
        }
        t.width = fill.len();
        let mut grown = 0;
        for (key, chain) in t.rows.iter_mut() {
            for v in chain.as_mut_slice() {
                if let Some(row) = v.row.as_mut().filter(|r| r.len() < fill.len()) {
                    let before = row_bytes(key.as_slice(), row);
                    row.extend_from_slice(&fill[row.len()..]);
                    grown += row_bytes(key.as_slice(), row) - before;
                }
            }
        }
        t.bytes += grown;
        self.bytes += grown;
    }

    /// Converts every stored version's value of column `column` of `table`
    /// to `to` (ALTER TABLE … ALTER COLUMN … TYPE, validated before), once
    /// per type the column takes. A value that does not convert (none
    /// should: the change was validated with every row held) stays.
    pub fn retype(&mut self, table: TableId, column: usize, to: tessera_types::DataType) {
        if self.retyped.get(&(table, column)) == Some(&to) {
            return;
        }
        self.retyped.insert((table, column), to);
        let Some(t) = self.tables.get_mut(&table) else {
            return;
        };
        let mut delta: i64 = 0;
        for (key, chain) in t.rows.iter_mut() {
            for v in chain.as_mut_slice() {
                let Some(row) = v.row.as_mut() else { continue };
                let Some(value) = row.get(column) else {
                    continue;
                };
                if value.is_null() {
                    continue;
                }
                if let Ok(converted) = value.clone().cast(to, true) {
                    let before = row_bytes(key.as_slice(), row) as i64;
                    row[column] = converted;
                    delta += row_bytes(key.as_slice(), row) as i64 - before;
                }
            }
        }
        t.bytes = (t.bytes as i64 + delta).max(0) as usize;
        self.bytes = (self.bytes as i64 + delta).max(0) as usize;
    }

    /// Creates empty storage for a new table (scans of it then find it).
    pub fn ensure_table(&mut self, id: TableId) {
        self.tables.entry(id).or_default();
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
        store.apply(ws, 1, LATEST);
        assert_eq!(store.bytes() as isize, growth);
        // Replacing a row by a larger one grows by the difference only.
        let ws = WriteSet {
            ops: vec![put(1, b"a", "xxxxxxxxxx")],
        };
        assert_eq!(store.growth(&ws), 6);
        store.apply(ws, 2, LATEST);
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
        store.apply(del, 3, LATEST);
        assert_eq!(store.bytes() as isize, before as isize + freed);
        // Dropping table 1 leaves exactly table 2's bytes.
        let only_two = row_bytes(b"a", &[Value::Int4(1), Value::Text("z".into())]);
        let mut catalog = Catalog::new(16, 1);
        for name in ["one", "two"] {
            let def = tessera_types::TableDef {
                id: 0,
                name: name.into(),
                schema: tessera_types::schema::PUBLIC,
                columns: vec![],
                primary_key: vec![],
                sharding_key: vec![],
                global: false,
                tier: 0,
                checks: vec![],
                foreign_keys: vec![],
            };
            catalog = catalog.with_table(def).0;
        }
        let catalog = catalog.without_table(1);
        store.drop_missing_tables(&catalog);
        assert_eq!(store.bytes(), only_two);
    }
}

#[cfg(test)]
mod mvcc_tests {
    use super::*;

    fn put(key: &[u8], v: i32) -> WriteSet {
        WriteSet {
            ops: vec![WriteOp::Put {
                table: 1,
                key: key.to_vec(),
                row: vec![Value::Int4(v)],
            }],
        }
    }
    fn del(key: &[u8]) -> WriteSet {
        WriteSet {
            ops: vec![WriteOp::Delete {
                table: 1,
                key: key.to_vec(),
            }],
        }
    }
    fn read(store: &ShardStore, key: &[u8], ts: Timestamp) -> Option<i64> {
        store.get(1, key, ts).map(|r| r[0].as_i64().unwrap())
    }

    #[test]
    fn prefix_reads_see_the_keys_starting_with_it_at_their_snapshot() {
        let mut store = ShardStore::new();
        let long = [b'a'; 30];
        for (i, key) in [&b"a"[..], b"a\0", b"ab", b"abc", b"b", &long[..]]
            .into_iter()
            .enumerate()
        {
            store.apply(put(key, i as i32), 10 + i as u64, 0);
        }
        store.apply(del(b"ab"), 30, 0);
        let t = store.table(1).unwrap();
        let keys = |prefix: &[u8], ts| -> Vec<Vec<u8>> {
            t.prefix_at(prefix, ts).map(|(k, _)| k.to_vec()).collect()
        };
        assert_eq!(keys(b"a", 100), [&b"a"[..], b"a\0", &long[..], b"abc"]);
        assert_eq!(keys(b"ab", 100), [&b"abc"[..]]);
        assert_eq!(keys(b"ab", 25), [&b"ab"[..], b"abc"]);
        assert_eq!(keys(&long[..25], 100), [long]);
        assert!(keys(b"c", 100).is_empty());
        assert_eq!(keys(b"", 11).len(), 2);
    }

    /// Stored keys order exactly as their bytes do: short and long, with
    /// zero bytes (what the padding of the head is made of) and shared
    /// prefixes across the 16-byte head and the inline limit.
    #[test]
    fn keys_order_as_their_bytes() {
        let mut seed = 0x9E37_79B9_7F4A_7C15u64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let base: Vec<u8> = (0..40).map(|i| (i * 7 % 3) as u8).collect();
        let keys: Vec<Vec<u8>> = (0..600)
            .map(|_| {
                let len = (next() % 41) as usize;
                let mut k = base[..len].to_vec();
                if len > 0 && next() % 2 == 0 {
                    let at = (next() % len as u64) as usize;
                    k[at] = (next() % 3) as u8;
                }
                k
            })
            .collect();
        for a in &keys {
            for b in &keys {
                let (ka, kb) = (Key::new(a), Key::new(b));
                assert_eq!(ka.cmp(&kb), a.cmp(b), "{a:?} vs {b:?}");
                assert_eq!(ka == kb, a == b);
                assert_eq!(ka.as_slice(), &a[..]);
            }
        }
    }

    /// Reads count the last-applied write set they saw: the version found,
    /// a tombstone too, and for a key gone entirely the delete that took
    /// it; in the order of applying, not of commit timestamps.
    #[test]
    fn reads_count_the_last_write_set_they_saw() {
        let mut store = ShardStore::new();
        store.apply(put(b"a", 1), 10, 0);
        store.apply(put(b"b", 2), 20, 0);
        store.apply(del(b"b"), 30, 0);
        let seen = |f: &dyn Fn()| count_seen(0, f).1;
        assert_eq!(seen(&|| assert_eq!(read(&store, b"a", 100), Some(1))), 1);
        assert_eq!(seen(&|| assert_eq!(read(&store, b"b", 25), Some(2))), 2);
        assert_eq!(seen(&|| assert_eq!(read(&store, b"b", 100), None)), 3);
        assert_eq!(seen(&|| assert_eq!(read(&store, b"a", 5), None)), 0);
        // Once no snapshot needs the tombstone, the chain goes: a reader
        // that finds nothing may still have seen that delete.
        store.apply(put(b"c", 3), 40, 35);
        store.apply(del(b"c"), 50, 60);
        assert_eq!(seen(&|| assert_eq!(read(&store, b"c", 100), None)), 5);
        // A write set applied after others with a lower timestamp (a
        // two-phase commit decided late) still counts as the last.
        store.apply(put(b"d", 4), 45, 0);
        assert_eq!(seen(&|| assert_eq!(read(&store, b"d", 100), Some(4))), 6);
        assert_eq!(store.applied(), 6);
    }

    #[test]
    fn snapshots_see_the_newest_version_at_or_below_them() {
        let mut store = ShardStore::new();
        let horizon = 0; // a snapshot at 0 is still running: keep everything.
        store.apply(put(b"k", 1), 10, horizon);
        store.apply(put(b"k", 2), 20, horizon);
        store.apply(del(b"k"), 30, horizon);
        store.apply(put(b"k", 4), 40, horizon);
        assert_eq!(read(&store, b"k", 5), None);
        assert_eq!(read(&store, b"k", 10), Some(1));
        assert_eq!(read(&store, b"k", 25), Some(2));
        assert_eq!(read(&store, b"k", 35), None);
        assert_eq!(read(&store, b"k", LATEST), Some(4));
        let at = |ts| store.table(1).unwrap().iter_at(None, ts).count();
        assert_eq!((at(5), at(15), at(35), at(45)), (0, 1, 0, 1));
    }

    #[test]
    fn garbage_collection_keeps_what_running_snapshots_need() {
        let mut store = ShardStore::new();
        store.apply(put(b"a", 1), 10, 0);
        store.apply(put(b"a", 2), 20, 0);
        store.apply(put(b"a", 3), 30, 0);
        store.apply(put(b"b", 1), 10, 0);
        store.apply(del(b"b"), 20, 0);
        let before = store.bytes();
        // A snapshot at 25 still runs: it needs a=2; b's tombstone hides b either way.
        assert_eq!(
            store.collect_garbage(25, 100),
            1,
            "a keeps two versions for now"
        );
        assert_eq!(read(&store, b"a", 25), Some(2));
        assert_eq!(read(&store, b"a", LATEST), Some(3));
        assert_eq!(read(&store, b"b", 25), None);
        assert!(
            store.table(1).unwrap().last_key() == Some(b"a".as_ref()),
            "b is gone entirely"
        );
        assert!(store.bytes() < before);
        // No snapshot left: one version per live key.
        assert_eq!(store.collect_garbage(LATEST, 100), 0);
        assert_eq!(read(&store, b"a", LATEST), Some(3));
        assert_eq!(store.bytes(), row_bytes(b"a", &[Value::Int4(3)]));
    }
}
