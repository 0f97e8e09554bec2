//! The schema of a node: tables, their columns and keys, and the bucket map.
//!
//! A [`Catalog`] is an immutable snapshot. A change builds a new one; shards
//! read the current snapshot and never see one half-changed.

use std::collections::BTreeMap;
use std::sync::Arc;

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

fn encode_type(w: &mut Writer, t: DataType) {
    match t {
        DataType::Numeric(Some((p, s))) => {
            w.u8(100);
            w.u8(p);
            w.u8(s);
        }
        DataType::Varchar(Some(n)) => {
            w.u8(101);
            w.u32(n);
        }
        other => w.u32(other.oid()),
    }
}

fn decode_type(r: &mut Reader) -> Result<DataType> {
    // Tags 100/101 are below every OID we store, so they cannot collide.
    let first = r.peek_u8()?;
    match first {
        100 => {
            r.u8()?;
            Ok(DataType::Numeric(Some((r.u8()?, r.u8()?))))
        }
        101 => {
            r.u8()?;
            Ok(DataType::Varchar(Some(r.u32()?)))
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

    pub fn table_by_id(&self, id: TableId) -> Option<&Arc<TableDef>> {
        self.tables.values().find(|t| t.id == id)
    }

    pub fn tables(&self) -> impl Iterator<Item = &Arc<TableDef>> {
        self.tables.values()
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

    pub fn without_table(&self, id: TableId) -> Catalog {
        let mut next = self.clone();
        next.tables.retain(|_, t| t.id != id);
        next.version += 1;
        next
    }
}
