//! The records a shard writes to its WAL, and their encoding.
//!
//! A statement that touches one shard writes one `Commit` record. A
//! statement that touches several uses two-phase commit: every participant
//! writes `Prepare` with its changes, the coordinating shard writes
//! `Decision`, then participants write `Resolve`. Recovery reads the
//! decisions of all shards to settle prepares that have no `Resolve`.

use tessera_types::encoding::{Reader, Writer};
use tessera_types::{DefLayout, Result, TableId, Value};

/// A transaction id, unique in the cluster: see [`make_id`].
pub type TxId = u64;

/// Row and transaction ids are `sequence << ID_SHARD_BITS | shard`, where
/// `shard` is the cluster-wide number of the shard whose router handed the
/// id out (its own number outside a cluster): unique in the cluster. The
/// sequence has 48 bits, 2.8e14 ids per shard.
pub const ID_SHARD_BITS: u32 = 16;

/// The id numbered `sequence` of shard `shard`'s router.
pub fn make_id(sequence: u64, shard: u16) -> u64 {
    sequence << ID_SHARD_BITS | shard as u64
}

/// The sequence part of a row or transaction id.
pub fn id_sequence(id: u64) -> u64 {
    id >> ID_SHARD_BITS
}

/// The shard whose router handed id `id` out.
pub fn id_shard(id: u64) -> u16 {
    id as u16
}

#[derive(Debug, Clone, PartialEq)]
pub enum WriteOp {
    /// Insert or replace the row stored under `key`.
    Put {
        table: TableId,
        key: Vec<u8>,
        row: Vec<Value>,
    },
    Delete {
        table: TableId,
        key: Vec<u8>,
    },
}

impl WriteOp {
    pub fn table(&self) -> TableId {
        match self {
            WriteOp::Put { table, .. } | WriteOp::Delete { table, .. } => *table,
        }
    }
    pub fn key(&self) -> &[u8] {
        match self {
            WriteOp::Put { key, .. } | WriteOp::Delete { key, .. } => key,
        }
    }
}

/// The changes one statement makes on one shard, applied all or nothing.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct WriteSet {
    pub ops: Vec<WriteOp>,
}

impl WriteSet {
    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Record {
    Commit(WriteSet),
    Prepare {
        tx: TxId,
        writes: WriteSet,
    },
    /// The coordinator's outcome of a two-phase transaction. It may be
    /// written while the participants still prepare (parallel commit): a
    /// commit holds only if every shard in `participants` has a durable
    /// `Prepare` for `tx`. A later decision for the same `tx` replaces it.
    /// An empty list (older records) means the decision holds on its own.
    ///
    /// `at`: a decision written only once every participant's prepare was
    /// durable, some of them on other nodes (docs/CLUSTER.md §4): it holds
    /// on its own, commits at that timestamp, and is kept until every
    /// participant on another node reported its outcome durable (then a
    /// [`Record::Forget`] follows it).
    Decision {
        tx: TxId,
        commit: bool,
        participants: Vec<u16>,
        at: Option<u64>,
    },
    /// Every participant of the cross-node decision of `tx` made its
    /// outcome durable: recovery need not hold the decision for them.
    Forget {
        tx: TxId,
    },
    /// A participant's note that a prepared transaction was settled.
    Resolve {
        tx: TxId,
        commit: bool,
    },
    /// Everything after this record in this log depends on the records of
    /// other shards' logs (`(shard, position)`: that log up to there),
    /// which were not yet durable when it was written: effects published
    /// before they were durable (early lock release) and read or
    /// overwritten here. Recovery keeps a log only as far as the logs it
    /// depends on reach (see `recovery`).
    Depends(Vec<(u16, u64)>),
}

const COMMIT: u8 = 1;
const PREPARE: u8 = 2;
const DECISION: u8 = 3;
const RESOLVE: u8 = 4;
const DECISION_WITH_PARTICIPANTS: u8 = 5;
const DEPENDS: u8 = 6;
const DECISION_AT: u8 = 7;
const FORGET: u8 = 8;
const OP_PUT: u8 = 1;
const OP_DELETE: u8 = 2;

pub(crate) fn encode_writes(w: &mut Writer, ws: &WriteSet) {
    w.u32(ws.ops.len() as u32);
    for op in &ws.ops {
        match op {
            WriteOp::Put { table, key, row } => {
                w.u8(OP_PUT);
                w.u32(*table);
                w.bytes(key);
                w.row(row);
            }
            WriteOp::Delete { table, key } => {
                w.u8(OP_DELETE);
                w.u32(*table);
                w.bytes(key);
            }
        }
    }
}

pub(crate) fn decode_writes(r: &mut Reader) -> Result<WriteSet> {
    let n = r.u32()? as usize;
    let mut ops = Vec::with_capacity(n.min(1 << 16));
    for _ in 0..n {
        let tag = r.u8()?;
        let table = r.u32()?;
        let key = r.bytes()?.to_vec();
        ops.push(match tag {
            OP_PUT => WriteOp::Put {
                table,
                key,
                row: r.row()?,
            },
            OP_DELETE => WriteOp::Delete { table, key },
            _ => return Err(r.corrupt("unknown write op")),
        });
    }
    Ok(WriteSet { ops })
}

impl Record {
    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer::new();
        match self {
            Record::Commit(ws) => {
                w.u8(COMMIT);
                encode_writes(&mut w, ws);
            }
            Record::Prepare { tx, writes } => {
                w.u8(PREPARE);
                w.u64(*tx);
                encode_writes(&mut w, writes);
            }
            Record::Decision {
                tx,
                commit,
                participants,
                at,
            } => {
                w.u8(match at {
                    Some(_) => DECISION_AT,
                    None if participants.is_empty() => DECISION,
                    None => DECISION_WITH_PARTICIPANTS,
                });
                w.u64(*tx);
                w.u8(*commit as u8);
                if at.is_some() || !participants.is_empty() {
                    w.u32(participants.len() as u32);
                    for p in participants {
                        w.u32(*p as u32);
                    }
                }
                if let Some(at) = at {
                    w.u64(*at);
                }
            }
            Record::Forget { tx } => {
                w.u8(FORGET);
                w.u64(*tx);
            }
            Record::Resolve { tx, commit } => {
                w.u8(RESOLVE);
                w.u64(*tx);
                w.u8(*commit as u8);
            }
            Record::Depends(on) => {
                w.u8(DEPENDS);
                w.u32(on.len() as u32);
                for (shard, lsn) in on {
                    w.u32(*shard as u32);
                    w.u64(*lsn);
                }
            }
        }
        w.buf
    }

    pub fn decode(bytes: &[u8]) -> Result<Record> {
        let mut r = Reader::new(bytes);
        let rec = match r.u8()? {
            COMMIT => Record::Commit(decode_writes(&mut r)?),
            PREPARE => {
                let tx = r.u64()?;
                Record::Prepare {
                    tx,
                    writes: decode_writes(&mut r)?,
                }
            }
            DECISION => Record::Decision {
                tx: r.u64()?,
                commit: r.u8()? != 0,
                participants: vec![],
                at: None,
            },
            tag @ (DECISION_WITH_PARTICIPANTS | DECISION_AT) => {
                let tx = r.u64()?;
                let commit = r.u8()? != 0;
                let n = r.len_prefix(1 << 16)?;
                let mut participants = Vec::with_capacity(n);
                for _ in 0..n {
                    participants.push(r.u32()? as u16);
                }
                let at = match tag {
                    DECISION_AT => Some(r.u64()?),
                    _ => None,
                };
                Record::Decision {
                    tx,
                    commit,
                    participants,
                    at,
                }
            }
            FORGET => Record::Forget { tx: r.u64()? },
            RESOLVE => Record::Resolve {
                tx: r.u64()?,
                commit: r.u8()? != 0,
            },
            DEPENDS => {
                let n = r.len_prefix(1 << 16)?;
                let mut on = Vec::with_capacity(n);
                for _ in 0..n {
                    on.push((r.u32()? as u16, r.u64()?));
                }
                Record::Depends(on)
            }
            _ => return Err(r.corrupt("unknown record type")),
        };
        if !r.is_empty() {
            return Err(r.corrupt("trailing bytes"));
        }
        Ok(rec)
    }
}

/// Catalog log records (the node's schema history).
#[derive(Debug, Clone, PartialEq)]
pub enum CatalogRecord {
    /// A table and the sequences it owns (serial and identity columns).
    CreateTable {
        table: tessera_types::TableDef,
        sequences: Vec<tessera_types::SequenceDef>,
    },
    /// A DROP with all it cascades to, atomically: the tables in
    /// `altered` take these definitions (without the foreign keys, column
    /// defaults or columns that went), then the relations go (tables with
    /// their indexes and owned sequences, views, sequences, indexes by
    /// storage id), then the schemas, which must then be empty.
    Drop {
        altered: Vec<tessera_types::TableDef>,
        relations: Vec<TableId>,
        schemas: Vec<tessera_types::SchemaId>,
    },
    /// An index, still being built (`valid_from` 0).
    CreateIndex(tessera_types::IndexDef),
    /// The index stored in `storage` is built: snapshots from `valid_from` may use it.
    IndexValid {
        storage: TableId,
        valid_from: u64,
    },
    /// Table `new` (a rewrite of `old`) replaces it under its name.
    ReplaceTable {
        old: TableId,
        new: TableId,
    },
    CreateSequence(tessera_types::SequenceDef),
    /// A new view, or one replacing the view of its name.
    CreateView(tessera_types::ViewDef),
    /// The table of this id, changed in the catalog only.
    AlterTable(tessera_types::TableDef),
    /// COMMENT ON: relation, column (0 for the relation), text or removal.
    Comment {
        object: TableId,
        column: u32,
        text: Option<String>,
    },
    /// Where sequences restart after a crash (see
    /// `tessera_types::sequence`): id, generation, value, `is_called`.
    SequenceValues(Vec<tessera_types::sequence::SequenceRecord>),
    CreateSchema(tessera_types::SchemaDef),
    RenameSchema {
        schema: tessera_types::SchemaId,
        name: String,
    },
    /// ALTER INDEX … RENAME TO: the index stored in `storage`.
    RenameIndex {
        storage: tessera_types::TableId,
        name: String,
    },
    CreateRole(tessera_types::RoleDef),
    /// The role of this id, with new attributes, password or name.
    AlterRole(tessera_types::RoleDef),
    DropRole(tessera_types::RoleId),
    /// A type made by CREATE TYPE, or its new definition (ALTER TYPE):
    /// the type of its oid is replaced.
    Type(tessera_types::TypeDef),
    /// DROP TYPE: the type of this oid goes.
    DropType(u32),
    /// Buckets (docs/CLUSTER.md §8) owned by shard `to` from timestamp
    /// `ts` on: inside the `Transaction` that moves their rows.
    MoveBuckets {
        buckets: Vec<u32>,
        to: u16,
        ts: u64,
    },
    /// A tier's buckets (docs/CLUSTER.md §3), added after every other
    /// tier's: `owner[i]` owns its bucket `i`. Ignored if the tier has
    /// buckets already.
    AddTier {
        name: String,
        owner: Vec<u16>,
    },
    /// Transaction `tx`, decided in this log, is aborted: its
    /// `Transaction` record, if one comes later, applies nothing. Written
    /// by a participant that waited too long for the decision (its
    /// decider may be gone); whichever of the two comes first decides.
    Abort {
        tx: TxId,
    },
    /// The catalog changes of transaction block `tx`, committed together:
    /// also its commit decision. It is written only once every shard in
    /// `participants` holds a durable `Prepare` of the block's rows, so
    /// recovery applies `records` in order and commits those prepares.
    Transaction {
        tx: TxId,
        participants: Vec<u16>,
        records: Vec<CatalogRecord>,
    },
}

/// Set in the tag of a record whose definitions carry their schemas
/// ([`DefLayout::WithSchemas`]); records from before schemas lack it.
const WITH_SCHEMAS: u8 = 0x40;

impl CatalogRecord {
    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer::new();
        match self {
            CatalogRecord::CreateTable { table, sequences } => {
                w.u8(1 | WITH_SCHEMAS);
                table.encode(&mut w);
                w.u32(sequences.len() as u32);
                for s in sequences {
                    s.encode(&mut w);
                }
            }
            CatalogRecord::Drop {
                altered,
                relations,
                schemas,
            } => {
                w.u8(14 | WITH_SCHEMAS);
                w.u32(altered.len() as u32);
                for t in altered {
                    t.encode(&mut w);
                }
                for list in [relations, schemas] {
                    w.u32(list.len() as u32);
                    for id in list {
                        w.u32(*id);
                    }
                }
            }
            CatalogRecord::CreateIndex(index) => {
                w.u8(3 | WITH_SCHEMAS);
                index.encode(&mut w);
            }
            CatalogRecord::IndexValid {
                storage,
                valid_from,
            } => {
                w.u8(4);
                w.u32(*storage);
                w.u64(*valid_from);
            }
            CatalogRecord::ReplaceTable { old, new } => {
                w.u8(5);
                w.u32(*old);
                w.u32(*new);
            }
            CatalogRecord::CreateSequence(s) => {
                w.u8(6 | WITH_SCHEMAS);
                s.encode(&mut w);
            }
            CatalogRecord::CreateView(v) => {
                w.u8(8 | WITH_SCHEMAS);
                v.encode(&mut w);
            }
            CatalogRecord::AlterTable(t) => {
                w.u8(9 | WITH_SCHEMAS);
                t.encode(&mut w);
            }
            CatalogRecord::Comment {
                object,
                column,
                text,
            } => {
                w.u8(10);
                w.u32(*object);
                w.u32(*column);
                match text {
                    Some(t) => {
                        w.u8(1);
                        w.str(t);
                    }
                    None => w.u8(0),
                }
            }
            CatalogRecord::SequenceValues(values) => {
                w.u8(7);
                w.u32(values.len() as u32);
                for (id, generation, last, is_called) in values {
                    w.u32(*id);
                    w.u64(*generation);
                    w.u64(*last as u64);
                    w.u8(*is_called as u8);
                }
            }
            CatalogRecord::CreateSchema(schema) => {
                w.u8(11);
                schema.encode(&mut w);
            }
            CatalogRecord::RenameSchema { schema, name } => {
                w.u8(13);
                w.u32(*schema);
                w.str(name);
            }
            CatalogRecord::RenameIndex { storage, name } => {
                w.u8(21);
                w.u32(*storage);
                w.str(name);
            }
            CatalogRecord::CreateRole(role) => {
                w.u8(15);
                role.encode(&mut w);
            }
            CatalogRecord::AlterRole(role) => {
                w.u8(16);
                role.encode(&mut w);
            }
            CatalogRecord::DropRole(id) => {
                w.u8(17);
                w.u32(*id);
            }
            CatalogRecord::Type(def) => {
                w.u8(19);
                def.encode(&mut w);
            }
            CatalogRecord::DropType(oid) => {
                w.u8(20);
                w.u32(*oid);
            }
            CatalogRecord::MoveBuckets { buckets, to, ts } => {
                w.u8(22);
                w.u32(buckets.len() as u32);
                for b in buckets {
                    w.u32(*b);
                }
                w.u32(*to as u32);
                w.u64(*ts);
            }
            CatalogRecord::Abort { tx } => {
                w.u8(23);
                w.u64(*tx);
            }
            CatalogRecord::AddTier { name, owner } => {
                w.u8(24);
                w.str(name);
                w.u32(owner.len() as u32);
                for o in owner {
                    w.u32(*o as u32);
                }
            }
            CatalogRecord::Transaction {
                tx,
                participants,
                records,
            } => {
                w.u8(18);
                w.u64(*tx);
                w.u32(participants.len() as u32);
                for p in participants {
                    w.u32(*p as u32);
                }
                w.u32(records.len() as u32);
                for record in records {
                    w.bytes(&record.encode());
                }
            }
        }
        w.buf
    }

    pub fn decode(bytes: &[u8]) -> Result<CatalogRecord> {
        let mut r = Reader::new(bytes);
        let tag = r.u8()?;
        let layout = if tag & WITH_SCHEMAS != 0 {
            DefLayout::WithSchemas
        } else {
            DefLayout::BeforeSchemas
        };
        Ok(match tag & !WITH_SCHEMAS {
            1 => {
                let table = tessera_types::TableDef::decode(&mut r, layout)?;
                let n = r.len_prefix(4096)?;
                let mut sequences = Vec::with_capacity(n);
                for _ in 0..n {
                    sequences.push(tessera_types::SequenceDef::decode(&mut r, layout)?);
                }
                CatalogRecord::CreateTable { table, sequences }
            }
            // DROP TABLE, INDEX, SEQUENCE and VIEW before CASCADE.
            2 => CatalogRecord::Drop {
                altered: vec![],
                relations: read_ids(&mut r)?,
                schemas: vec![],
            },
            3 => CatalogRecord::CreateIndex(tessera_types::IndexDef::decode(&mut r, layout)?),
            4 => CatalogRecord::IndexValid {
                storage: r.u32()?,
                valid_from: r.u64()?,
            },
            5 => CatalogRecord::ReplaceTable {
                old: r.u32()?,
                new: r.u32()?,
            },
            6 => CatalogRecord::CreateSequence(tessera_types::SequenceDef::decode(&mut r, layout)?),
            8 => CatalogRecord::CreateView(tessera_types::ViewDef::decode(&mut r, layout)?),
            9 => CatalogRecord::AlterTable(tessera_types::TableDef::decode(&mut r, layout)?),
            10 => CatalogRecord::Comment {
                object: r.u32()?,
                column: r.u32()?,
                text: match r.u8()? {
                    0 => None,
                    _ => Some(r.str()?.to_string()),
                },
            },
            7 => {
                let n = r.len_prefix(1 << 20)?;
                let mut values = Vec::with_capacity(n);
                for _ in 0..n {
                    values.push((r.u32()?, r.u64()?, r.u64()? as i64, r.u8()? != 0));
                }
                CatalogRecord::SequenceValues(values)
            }
            11 => CatalogRecord::CreateSchema(tessera_types::SchemaDef::decode(&mut r)?),
            // DROP SCHEMA before CASCADE reached outside the schemas.
            12 => {
                let schemas = read_ids(&mut r)?;
                CatalogRecord::Drop {
                    altered: vec![],
                    relations: read_ids(&mut r)?,
                    schemas,
                }
            }
            14 => {
                let n = r.len_prefix(1 << 20)?;
                let mut altered = Vec::with_capacity(n.min(1024));
                for _ in 0..n {
                    altered.push(tessera_types::TableDef::decode(&mut r, layout)?);
                }
                CatalogRecord::Drop {
                    altered,
                    relations: read_ids(&mut r)?,
                    schemas: read_ids(&mut r)?,
                }
            }
            13 => CatalogRecord::RenameSchema {
                schema: r.u32()?,
                name: r.str()?.to_string(),
            },
            21 => CatalogRecord::RenameIndex {
                storage: r.u32()?,
                name: r.str()?.to_string(),
            },
            15 => CatalogRecord::CreateRole(tessera_types::RoleDef::decode(&mut r)?),
            16 => CatalogRecord::AlterRole(tessera_types::RoleDef::decode(&mut r)?),
            17 => CatalogRecord::DropRole(r.u32()?),
            19 => CatalogRecord::Type(tessera_types::TypeDef::decode(&mut r)?),
            20 => CatalogRecord::DropType(r.u32()?),
            22 => CatalogRecord::MoveBuckets {
                buckets: read_ids(&mut r)?,
                to: u16::try_from(r.u32()?).map_err(|_| r.corrupt("a shard number"))?,
                ts: r.u64()?,
            },
            23 => CatalogRecord::Abort { tx: r.u64()? },
            24 => {
                let name = r.str()?.to_string();
                let n = r.len_prefix(1 << 20)?;
                let mut owner = Vec::with_capacity(n);
                for _ in 0..n {
                    owner.push(u16::try_from(r.u32()?).map_err(|_| r.corrupt("a shard number"))?);
                }
                CatalogRecord::AddTier { name, owner }
            }
            18 => {
                let tx = r.u64()?;
                let n = r.len_prefix(1 << 16)?;
                let mut participants = Vec::with_capacity(n);
                for _ in 0..n {
                    participants.push(r.u32()? as u16);
                }
                let n = r.len_prefix(1 << 20)?;
                let mut records = Vec::with_capacity(n.min(1024));
                for _ in 0..n {
                    let record = CatalogRecord::decode(r.bytes()?)?;
                    if matches!(record, CatalogRecord::Transaction { .. }) {
                        return Err(r.corrupt("a catalog transaction inside another"));
                    }
                    records.push(record);
                }
                CatalogRecord::Transaction {
                    tx,
                    participants,
                    records,
                }
            }
            _ => return Err(r.corrupt("unknown catalog record")),
        })
    }
}

/// A list of ids (relations or schemas): its length, then each.
fn read_ids(r: &mut Reader) -> Result<Vec<u32>> {
    let n = r.len_prefix(1 << 20)?;
    let mut ids = Vec::with_capacity(n);
    for _ in 0..n {
        ids.push(r.u32()?);
    }
    Ok(ids)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tessera_types::sequence::SequenceOptions;
    use tessera_types::{ColumnDef, DataType, FkAction, ForeignKey, Identity, TableDef, ViewDef};

    #[test]
    fn every_decision_survives_the_log() {
        let records = [
            Record::Decision {
                tx: 9,
                commit: true,
                participants: vec![],
                at: None,
            },
            Record::Decision {
                tx: 9,
                commit: false,
                participants: vec![1, 4],
                at: None,
            },
            Record::Decision {
                tx: 9,
                commit: true,
                participants: vec![0, 4],
                at: Some(1234),
            },
            Record::Decision {
                tx: 9,
                commit: true,
                participants: vec![],
                at: Some(5),
            },
            Record::Forget { tx: 9 },
        ];
        for record in records {
            assert_eq!(Record::decode(&record.encode()).unwrap(), record);
        }
    }

    #[test]
    fn every_catalog_record_survives_the_log() {
        let mut id = ColumnDef::new("id", DataType::Int8, true);
        id.default = Some("nextval('t_id_seq'::regclass)".into());
        id.identity = Some(Identity::ByDefault);
        let mut added = ColumnDef::new("n", DataType::Int4, false);
        added.missing = Some(Value::Int4(7));
        let table = TableDef {
            id: 3,
            name: "t".into(),
            schema: tessera_types::schema::FIRST_CREATED_SCHEMA_ID,
            columns: vec![id, added],
            primary_key: vec![0],
            sharding_key: vec![0],
            global: false,
            tier: 2,
            checks: vec![("t_n_check".into(), "n > 0".into())],
            foreign_keys: vec![ForeignKey {
                name: "t_n_fkey".into(),
                columns: vec![1],
                parent: 2,
                parent_columns: vec![0],
                on_delete: FkAction::SetNull,
                on_update: FkAction::Restrict,
            }],
        };
        let mut sequence = tessera_types::SequenceDef::new(
            "t_id_seq".into(),
            &SequenceOptions {
                increment: Some(-3),
                cycle: Some(true),
                ..Default::default()
            },
        )
        .unwrap();
        sequence.id = 4;
        sequence.schema = table.schema;
        sequence.owned_by = Some((3, 0));
        let records = vec![
            CatalogRecord::CreateTable {
                table: table.clone(),
                sequences: vec![sequence.clone()],
            },
            CatalogRecord::CreateSequence(sequence),
            CatalogRecord::SequenceValues(vec![(4, 9, -30, true), (5, 1, 1, false)]),
            CatalogRecord::CreateView(ViewDef {
                id: 6,
                name: "v".into(),
                schema: tessera_types::schema::PUBLIC,
                columns: vec![("n".into(), DataType::Int4)],
                query: "SELECT n FROM t".into(),
                depends_on: vec![3],
            }),
            CatalogRecord::AlterTable(table.clone()),
            CatalogRecord::Type(tessera_types::TypeDef {
                oid: 16_390,
                name: "mood".into(),
                schema: tessera_types::schema::PUBLIC,
                owner: "postgres".into(),
                labels: vec![tessera_types::schema::EnumLabel {
                    oid: 16_392,
                    sort_order: 1.5,
                    label: "ok".into(),
                }],
                domain: None,
            }),
            CatalogRecord::Type(tessera_types::TypeDef {
                oid: 16_394,
                name: "posint".into(),
                schema: tessera_types::schema::PUBLIC,
                owner: "postgres".into(),
                labels: vec![],
                domain: Some(tessera_types::schema::DomainDef {
                    base: DataType::Numeric(Some((10, 2))),
                    not_null: true,
                    default: Some("1".into()),
                    checks: vec![("posint_check".into(), "VALUE > 0".into())],
                }),
            }),
            CatalogRecord::DropType(16_390),
            CatalogRecord::MoveBuckets {
                buckets: vec![10, 11, 2999],
                to: 9,
                ts: 1 << 52,
            },
            CatalogRecord::Abort {
                tx: tessera_types::buckets::DECIDED_IN_CATALOG | 78 << 16,
            },
            CatalogRecord::AddTier {
                name: "hot".into(),
                owner: vec![4, 4, 5, 5],
            },
            CatalogRecord::Comment {
                object: 3,
                column: 2,
                text: Some("the count".into()),
            },
            CatalogRecord::Comment {
                object: 3,
                column: 0,
                text: None,
            },
            CatalogRecord::CreateSchema(tessera_types::SchemaDef {
                id: 16_400,
                name: "Sales".into(),
                owner: "postgres".into(),
            }),
            CatalogRecord::Drop {
                altered: vec![],
                relations: vec![3, 4, 6],
                schemas: vec![16_400, 16_401],
            },
            CatalogRecord::Drop {
                altered: vec![table],
                relations: vec![6],
                schemas: vec![],
            },
            CatalogRecord::RenameSchema {
                schema: 16_400,
                name: "s2".into(),
            },
            CatalogRecord::RenameIndex {
                storage: 7,
                name: "i2".into(),
            },
            CatalogRecord::CreateRole(tessera_types::RoleDef {
                id: 16_384,
                login: true,
                password: Some("md5a3556571e93b0d20722ba62be61e8c2d".into()),
                ..tessera_types::RoleDef::new("alice")
            }),
            CatalogRecord::AlterRole(tessera_types::RoleDef {
                id: 16_384,
                valid_until: Some(1),
                ..tessera_types::RoleDef::new("bob")
            }),
            CatalogRecord::DropRole(16_384),
        ];
        let mut records = records;
        records.push(CatalogRecord::Transaction {
            tx: 77,
            participants: vec![0, 3],
            records: records.clone(),
        });
        records.push(CatalogRecord::Transaction {
            tx: 78,
            participants: vec![],
            records: vec![],
        });
        for record in records {
            let bytes = record.encode();
            assert_eq!(CatalogRecord::decode(&bytes).unwrap(), record);
            // A record cut short fails cleanly.
            assert!(CatalogRecord::decode(&bytes[..bytes.len() - 1]).is_err());
        }
    }

    /// The drop records from before CASCADE read as drops of the same
    /// relations and schemas.
    #[test]
    fn drop_records_from_before_cascade_read_as_drops() {
        let ids = |tag: u8, lists: &[&[u32]]| {
            let mut w = Writer::new();
            w.u8(tag);
            for list in lists {
                w.u32(list.len() as u32);
                for id in *list {
                    w.u32(*id);
                }
            }
            w.buf
        };
        let tables = CatalogRecord::decode(&ids(2, &[&[3, 5]])).unwrap();
        assert_eq!(
            tables,
            CatalogRecord::Drop {
                altered: vec![],
                relations: vec![3, 5],
                schemas: vec![],
            }
        );
        let schemas = CatalogRecord::decode(&ids(12, &[&[16_400], &[3, 4]])).unwrap();
        assert_eq!(
            schemas,
            CatalogRecord::Drop {
                altered: vec![],
                relations: vec![3, 4],
                schemas: vec![16_400],
            }
        );
    }

    /// Records written before schemas existed (no schema ids, no
    /// WITH_SCHEMAS bit) still read, their relations in `public`.
    #[test]
    fn records_from_before_schemas_read_into_public() {
        let mut table = TableDef {
            id: 3,
            name: "t".into(),
            schema: tessera_types::schema::PUBLIC,
            columns: vec![ColumnDef::new("id", DataType::Int8, true)],
            primary_key: vec![0],
            sharding_key: vec![0],
            global: false,
            tier: 0,
            checks: vec![],
            foreign_keys: vec![],
        };
        let mut sequence =
            tessera_types::SequenceDef::new("t_id_seq".into(), &SequenceOptions::default())
                .unwrap();
        sequence.id = 4;
        // The layout before schemas: the new one without the tag bit and
        // without the four bytes after each name.
        let without_schema = |bytes: Vec<u8>, after_names: &[&str]| {
            let mut old = bytes;
            old[0] &= !WITH_SCHEMAS;
            for name in after_names {
                let at = old
                    .windows(name.len())
                    .position(|w| w == name.as_bytes())
                    .unwrap()
                    + name.len();
                old.drain(at..at + 4);
            }
            old
        };
        let record = CatalogRecord::CreateTable {
            table: table.clone(),
            sequences: vec![sequence.clone()],
        };
        let old = without_schema(record.encode(), &["t", "t_id_seq"]);
        assert_eq!(CatalogRecord::decode(&old).unwrap(), record);
        let view = ViewDef {
            id: 6,
            name: "v".into(),
            schema: tessera_types::schema::PUBLIC,
            columns: vec![("id".into(), DataType::Int8)],
            query: "SELECT id FROM t".into(),
            depends_on: vec![3],
        };
        let record = CatalogRecord::CreateView(view);
        let old = without_schema(record.encode(), &["v"]);
        assert_eq!(CatalogRecord::decode(&old).unwrap(), record);
        // The same bytes with a schema other than public: the new layout
        // keeps it.
        table.schema = 16_384;
        let record = CatalogRecord::AlterTable(table);
        let back = CatalogRecord::decode(&record.encode()).unwrap();
        assert_eq!(back, record);
    }
}
