//! The schema of a node: tables, their columns and keys, and the bucket map.
//!
//! A [`Catalog`] is an immutable snapshot. A change builds a new one; shards
//! read the current snapshot and never see one half-changed.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::datetime::interval::IntervalTypmod;
use crate::encoding::{Reader, Writer};
use crate::error::Result;
use crate::types::DataType;

pub type TableId = u32;
pub type ShardId = u16;
pub type Bucket = u32;

/// The default number of buckets a new data directory is created with.
pub const BUCKET_COUNT_DEFAULT: u32 = 3000;

#[derive(Debug, Clone, PartialEq)]
pub struct ColumnDef {
    pub name: String,
    pub data_type: DataType,
    pub not_null: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct TableDef {
    /// Never reused, so WAL records of a dropped table are recognisable.
    pub id: TableId,
    pub name: String,
    pub columns: Vec<ColumnDef>,
    /// Column positions of the primary key; empty when the table has none and
    /// rows are keyed by a hidden row id.
    pub primary_key: Vec<usize>,
    /// Column positions whose values choose the bucket; empty means the
    /// hidden row id. Always a subset of `primary_key` when there is one, so
    /// that primary-key uniqueness is decided on one shard.
    pub sharding_key: Vec<usize>,
}

impl TableDef {
    pub fn has_row_id(&self) -> bool {
        self.primary_key.is_empty()
    }

    pub fn column_index(&self, name: &str) -> Option<usize> {
        self.columns.iter().position(|c| c.name == name)
    }

    pub fn encode(&self, w: &mut Writer) {
        w.u32(self.id);
        w.str(&self.name);
        w.u32(self.columns.len() as u32);
        for c in &self.columns {
            w.str(&c.name);
            encode_type(w, c.data_type);
            w.u8(c.not_null as u8);
        }
        for list in [&self.primary_key, &self.sharding_key] {
            w.u32(list.len() as u32);
            for i in list {
                w.u32(*i as u32);
            }
        }
    }

    pub fn decode(r: &mut Reader) -> Result<TableDef> {
        let id = r.u32()?;
        let name = r.str()?.to_string();
        let ncols = r.len_prefix(4096)?;
        let mut columns = Vec::with_capacity(ncols);
        for _ in 0..ncols {
            let name = r.str()?.to_string();
            let data_type = decode_type(r)?;
            let not_null = r.u8()? != 0;
            columns.push(ColumnDef {
                name,
                data_type,
                not_null,
            });
        }
        let mut lists = [Vec::new(), Vec::new()];
        for list in lists.iter_mut() {
            let n = r.len_prefix(ncols)?;
            for _ in 0..n {
                let i = r.u32()? as usize;
                if i >= ncols {
                    return Err(r.corrupt("key column out of range"));
                }
                list.push(i);
            }
        }
        let [primary_key, sharding_key] = lists;
        Ok(TableDef {
            id,
            name,
            columns,
            primary_key,
            sharding_key,
        })
    }
}

/// A secondary index. Its entries live in a hidden table, `storage`, that
/// is written in the same write sets as the rows it indexes, so it is
/// versioned, locked, logged and recovered like any table. An entry's
/// columns are the indexed values followed by the indexed row's key columns
/// (its primary key, or its hidden row id as `int8`); entries are keyed by
/// all of them, or for a unique index by the indexed values alone, so two
/// rows with equal values collide on one entry key. Entries sit on the
/// shard of the row they point to (the index is local to each shard).
#[derive(Debug, Clone, PartialEq)]
pub struct IndexDef {
    pub name: String,
    /// The indexed table.
    pub table: TableId,
    /// Positions of the indexed columns in the table.
    pub columns: Vec<usize>,
    /// Per indexed column, whether it was declared DESC (entries are kept
    /// ascending; scans run backwards).
    pub descending: Vec<bool>,
    pub unique: bool,
    /// Snapshots at or after this see every row through the index; 0 while
    /// the index is still being built, when no query may use it.
    pub valid_from: u64,
    pub storage: TableDef,
}

impl IndexDef {
    /// The index of `columns` of `table`, with its storage table (its id is
    /// set by [`Catalog::with_index`]).
    pub fn new(
        name: String,
        table: &TableDef,
        columns: Vec<usize>,
        descending: Vec<bool>,
        unique: bool,
    ) -> IndexDef {
        let mut storage_columns: Vec<ColumnDef> = columns
            .iter()
            .map(|c| ColumnDef {
                name: table.columns[*c].name.clone(),
                data_type: table.columns[*c].data_type,
                not_null: false,
            })
            .collect();
        if table.has_row_id() {
            storage_columns.push(ColumnDef {
                name: "ctid".into(),
                data_type: DataType::Int8,
                not_null: true,
            });
        } else {
            storage_columns.extend(table.primary_key.iter().map(|c| ColumnDef {
                name: table.columns[*c].name.clone(),
                data_type: table.columns[*c].data_type,
                not_null: true,
            }));
        }
        let key_len = if unique {
            columns.len()
        } else {
            storage_columns.len()
        };
        let storage = TableDef {
            id: 0,
            name: name.clone(),
            columns: storage_columns,
            primary_key: (0..key_len).collect(),
            sharding_key: (0..columns.len()).collect(),
        };
        IndexDef {
            name,
            table: table.id,
            columns,
            descending,
            unique,
            valid_from: 0,
            storage,
        }
    }

    /// Positions in an entry of the indexed row's key columns.
    pub fn row_key_columns(&self) -> std::ops::Range<usize> {
        self.columns.len()..self.storage.columns.len()
    }

    /// Whether entries live apart from their rows: a unique index whose
    /// columns do not hold the table's sharding key (rows with equal values
    /// may sit on different shards) is sharded by its own values instead,
    /// and routers maintain it in the writing transaction.
    pub fn is_global(&self, table: &TableDef) -> bool {
        self.unique
            && (table.sharding_key.is_empty()
                || !table.sharding_key.iter().all(|c| self.columns.contains(c)))
    }

    pub fn is_valid(&self) -> bool {
        self.valid_from != 0
    }

    pub fn encode(&self, w: &mut Writer) {
        w.str(&self.name);
        w.u32(self.table);
        w.u32(self.columns.len() as u32);
        for (c, d) in self.columns.iter().zip(&self.descending) {
            w.u32(*c as u32);
            w.u8(*d as u8);
        }
        w.u8(self.unique as u8);
        w.u64(self.valid_from);
        self.storage.encode(w);
    }

    pub fn decode(r: &mut Reader) -> Result<IndexDef> {
        let name = r.str()?.to_string();
        let table = r.u32()?;
        let n = r.len_prefix(64)?;
        let mut columns = Vec::with_capacity(n);
        let mut descending = Vec::with_capacity(n);
        for _ in 0..n {
            columns.push(r.u32()? as usize);
            descending.push(r.u8()? != 0);
        }
        let unique = r.u8()? != 0;
        let valid_from = r.u64()?;
        let storage = TableDef::decode(r)?;
        if storage.columns.len() < columns.len() {
            return Err(r.corrupt("index storage narrower than the index"));
        }
        Ok(IndexDef {
            name,
            table,
            columns,
            descending,
            unique,
            valid_from,
            storage,
        })
    }
}

/// Type tags for types with a modifier. A type without one is written as
/// its OID (a little-endian `u32`); no stored OID has a low byte in
/// `TAG_NUMERIC..=TAG_INTERVAL` (`tags_do_not_collide_with_oids`), so the
/// first byte tells them apart.
const TAG_NUMERIC: u8 = 100;
const TAG_VARCHAR: u8 = 101;
const TAG_CHAR: u8 = 102;
/// `time(p)`, `timetz(p)`, `timestamp(p)`, `timestamptz(p)`: OID and precision.
const TAG_PRECISION: u8 = 103;
/// `interval` with fields and/or precision: its type modifier.
const TAG_INTERVAL: u8 = 104;

fn encode_type(w: &mut Writer, t: DataType) {
    match t {
        DataType::Numeric(Some((p, s))) => {
            w.u8(TAG_NUMERIC);
            w.u8(p);
            w.u8(s);
        }
        DataType::Varchar(Some(n)) => {
            w.u8(TAG_VARCHAR);
            w.u32(n);
        }
        DataType::Char(Some(n)) => {
            w.u8(TAG_CHAR);
            w.u32(n);
        }
        DataType::Time(Some(p))
        | DataType::TimeTz(Some(p))
        | DataType::Timestamp(Some(p))
        | DataType::TimestampTz(Some(p)) => {
            w.u8(TAG_PRECISION);
            w.u32(t.oid());
            w.u8(p);
        }
        DataType::Interval(Some(typmod)) => {
            w.u8(TAG_INTERVAL);
            w.u32(typmod.typmod() as u32);
        }
        other => w.u32(other.oid()),
    }
}

fn decode_type(r: &mut Reader) -> Result<DataType> {
    let first = r.peek_u8()?;
    let tagged = (TAG_NUMERIC..=TAG_INTERVAL).contains(&first);
    if tagged {
        r.u8()?;
    }
    match first {
        TAG_NUMERIC => Ok(DataType::Numeric(Some((r.u8()?, r.u8()?)))),
        TAG_VARCHAR => Ok(DataType::Varchar(Some(r.u32()?))),
        TAG_CHAR => Ok(DataType::Char(Some(r.u32()?))),
        TAG_PRECISION => {
            let oid = r.u32()?;
            let p = r.u8()?;
            if p > crate::datetime::PRECISION_MAX {
                return Err(r.corrupt("precision out of range"));
            }
            match DataType::from_oid(oid) {
                Some(DataType::Time(None)) => Ok(DataType::Time(Some(p))),
                Some(DataType::TimeTz(None)) => Ok(DataType::TimeTz(Some(p))),
                Some(DataType::Timestamp(None)) => Ok(DataType::Timestamp(Some(p))),
                Some(DataType::TimestampTz(None)) => Ok(DataType::TimestampTz(Some(p))),
                _ => Err(r.corrupt("precision on a type without one")),
            }
        }
        TAG_INTERVAL => {
            let typmod = r.u32()? as i32;
            IntervalTypmod::from_typmod(typmod)
                .map(|t| DataType::Interval(Some(t)))
                .ok_or_else(|| r.corrupt("bad interval type modifier"))
        }
        _ => {
            let oid = r.u32()?;
            DataType::from_oid(oid).ok_or_else(|| r.corrupt("unknown type oid"))
        }
    }
}

/// An immutable snapshot of the schema and the bucket map.
#[derive(Debug, Clone)]
pub struct Catalog {
    /// Increases with every change.
    pub version: u64,
    pub bucket_count: Bucket,
    /// `bucket_to_shard[b]` is the shard that owns bucket `b`.
    pub bucket_to_shard: Arc<[ShardId]>,
    pub next_table_id: TableId,
    tables: BTreeMap<String, Arc<TableDef>>,
    /// Secondary indexes by name.
    indexes: BTreeMap<String, Arc<IndexDef>>,
}

impl Catalog {
    /// A fresh catalog whose buckets are split into equal contiguous ranges.
    pub fn new(bucket_count: Bucket, shard_count: u16) -> Catalog {
        let map: Vec<ShardId> = (0..bucket_count)
            .map(|b| (b as u64 * shard_count as u64 / bucket_count as u64) as ShardId)
            .collect();
        Catalog {
            version: 0,
            bucket_count,
            bucket_to_shard: map.into(),
            next_table_id: 1,
            tables: BTreeMap::new(),
            indexes: BTreeMap::new(),
        }
    }

    pub fn shard_count(&self) -> u16 {
        self.bucket_to_shard
            .iter()
            .copied()
            .max()
            .map_or(1, |m| m + 1)
    }

    pub fn table(&self, name: &str) -> Option<&Arc<TableDef>> {
        self.tables.get(name)
    }

    /// A table, or the storage table of an index, by id.
    pub fn table_by_id(&self, id: TableId) -> Option<&TableDef> {
        self.tables
            .values()
            .map(|t| &**t)
            .find(|t| t.id == id)
            .or_else(|| {
                self.indexes
                    .values()
                    .map(|i| &i.storage)
                    .find(|t| t.id == id)
            })
    }

    /// The user's tables.
    pub fn tables(&self) -> impl Iterator<Item = &Arc<TableDef>> {
        self.tables.values()
    }

    /// Every table that holds rows on shards: the user's tables and the
    /// indexes' storage tables.
    pub fn storage_tables(&self) -> impl Iterator<Item = &TableDef> {
        self.tables
            .values()
            .map(|t| &**t)
            .chain(self.indexes.values().map(|i| &i.storage))
    }

    pub fn indexes(&self) -> impl Iterator<Item = &Arc<IndexDef>> {
        self.indexes.values()
    }

    pub fn index(&self, name: &str) -> Option<&Arc<IndexDef>> {
        self.indexes.get(name)
    }

    /// The indexes of table `table`.
    pub fn indexes_of(&self, table: TableId) -> impl Iterator<Item = &Arc<IndexDef>> {
        self.indexes.values().filter(move |i| i.table == table)
    }

    /// Whether `name` is taken by a table or an index (one namespace, as
    /// PostgreSQL's relations).
    pub fn relation_exists(&self, name: &str) -> bool {
        self.tables.contains_key(name) || self.indexes.contains_key(name)
    }

    /// A copy with `index` added, its storage id taken from `next_table_id`.
    pub fn with_index(&self, mut index: IndexDef) -> (Catalog, Arc<IndexDef>) {
        let mut next = self.clone();
        index.storage.id = next.next_table_id;
        next.next_table_id += 1;
        next.version += 1;
        let index = Arc::new(index);
        next.indexes.insert(index.name.clone(), index.clone());
        (next, index)
    }

    /// Applies an index created elsewhere (replay of the catalog log).
    pub fn with_index_replayed(&self, index: IndexDef) -> Catalog {
        let mut next = self.clone();
        next.next_table_id = next.next_table_id.max(index.storage.id + 1);
        next.version += 1;
        next.indexes.insert(index.name.clone(), Arc::new(index));
        next
    }

    /// Marks the index stored in `storage` usable by snapshots from `valid_from`.
    pub fn with_index_valid(&self, storage: TableId, valid_from: u64) -> Catalog {
        let mut next = self.clone();
        for index in next.indexes.values_mut() {
            if index.storage.id == storage {
                let mut i = (**index).clone();
                i.valid_from = valid_from;
                *index = Arc::new(i);
            }
        }
        next.version += 1;
        next
    }

    pub fn bucket_of_hash(&self, hash: u64) -> Bucket {
        (hash % self.bucket_count as u64) as Bucket
    }

    pub fn shard_of_bucket(&self, bucket: Bucket) -> ShardId {
        self.bucket_to_shard[bucket as usize]
    }

    /// A copy with `table` added, its id taken from `next_table_id`.
    pub fn with_table(&self, mut table: TableDef) -> (Catalog, Arc<TableDef>) {
        let mut next = self.clone();
        table.id = next.next_table_id;
        next.next_table_id += 1;
        next.version += 1;
        let table = Arc::new(table);
        next.tables.insert(table.name.clone(), table.clone());
        (next, table)
    }

    /// Applies a table created elsewhere (replay of the catalog log).
    pub fn with_table_replayed(&self, table: TableDef) -> Catalog {
        let mut next = self.clone();
        next.next_table_id = next.next_table_id.max(table.id + 1);
        next.version += 1;
        next.tables.insert(table.name.clone(), Arc::new(table));
        next
    }

    /// Tables being rewritten (ALTER TABLE … ADD PRIMARY KEY) get names
    /// with this prefix until they replace the original; a crash before
    /// that leaves one behind, which recovery drops.
    pub const REWRITE_PREFIX: &'static str = "pg_temp_rewrite_";

    /// Table `new` takes the place (and name) of table `old`, which goes.
    pub fn with_table_replaced(&self, old: TableId, new: TableId) -> Catalog {
        let mut next = self.without_table(old);
        let name = self.table_by_id(old).map(|t| t.name.clone());
        let replacement = next.tables.values().find(|t| t.id == new).cloned();
        if let (Some(name), Some(replacement)) = (name, replacement) {
            next.tables.retain(|_, t| t.id != new);
            let mut def = (*replacement).clone();
            def.name = name.clone();
            next.tables.insert(name, Arc::new(def));
        }
        next
    }

    /// Drops a table (with its indexes) or an index, by (storage) id.
    pub fn without_table(&self, id: TableId) -> Catalog {
        let mut next = self.clone();
        next.tables.retain(|_, t| t.id != id);
        next.indexes
            .retain(|_, i| i.table != id && i.storage.id != id);
        next.version += 1;
        next
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::datetime::interval::IntervalFields;

    fn every_type() -> Vec<DataType> {
        use DataType::*;
        vec![
            Bool,
            Int2,
            Int4,
            Int8,
            Float4,
            Float8,
            Numeric(None),
            Numeric(Some((10, 2))),
            Text,
            Varchar(None),
            Varchar(Some(8)),
            Char(None),
            Char(Some(1)),
            Char(Some(84)),
            Date,
            Time(None),
            Time(Some(3)),
            TimeTz(Some(0)),
            Timestamp(None),
            Timestamp(Some(0)),
            TimestampTz(None),
            TimestampTz(Some(6)),
            Interval(None),
            Interval(Some(IntervalTypmod {
                fields: IntervalFields::FULL,
                precision: Some(2),
            })),
            Interval(Some(IntervalTypmod {
                fields: IntervalFields::DAY_TO_SECOND,
                precision: Some(3),
            })),
            Interval(Some(IntervalTypmod {
                fields: IntervalFields::YEAR,
                precision: None,
            })),
        ]
    }

    #[test]
    fn tags_do_not_collide_with_oids() {
        for t in every_type() {
            let low = t.oid().to_le_bytes()[0];
            assert!(
                !(TAG_NUMERIC..=TAG_INTERVAL).contains(&low),
                "{t:?} (oid {}) starts like a tag",
                t.oid()
            );
        }
    }

    #[test]
    fn column_types_and_modifiers_survive_the_catalog_log() {
        let columns = every_type()
            .into_iter()
            .enumerate()
            .map(|(i, data_type)| ColumnDef {
                name: format!("c{i}"),
                data_type,
                not_null: false,
            })
            .collect();
        let table = TableDef {
            id: 7,
            name: "t".into(),
            columns,
            primary_key: vec![0],
            sharding_key: vec![0],
        };
        let mut w = Writer::new();
        table.encode(&mut w);
        let back = TableDef::decode(&mut Reader::new(&w.buf)).unwrap();
        assert_eq!(back, table);
    }
}
