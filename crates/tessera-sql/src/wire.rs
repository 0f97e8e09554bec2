//! Shard requests and responses as bytes, for a router on another node
//! (postcard over serde; the cluster's internal port carries the bytes).
//!
//! Everything a [`ShardRequest`] or [`ShardResponse`] carries travels:
//! plans, expressions, values (as their row encoding), definitions (as
//! their catalog records), rows and errors with their SQLSTATE and fields.
//! What is built from something else is sent as that and built again on
//! arrival (a time zone by name, a catalog snapshot's relation map, an
//! init plan's lookup sets on first use). Two things do not travel: the
//! session state that sequence functions and `set_config` update through
//! `Params` (a copy on another node would hand out duplicate values or
//! lose the writes), so encoding a request that carries it fails with
//! 0A000; and session statements (PREPARE, EXECUTE), which never reach a
//! shard. A decoder takes only a whole, well-formed message: truncated or
//! garbage bytes, or parts nested deeper than
//! `tessera_types::wire::MESSAGE_NESTING_MAX`, are an error (08P01), never
//! a panic or an exhausted stack.

use std::sync::Arc;

use serde::de::Error as _;
use serde::ser::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use tessera_types::wire::Limited;
use tessera_types::{sqlstate, Error, Result};

use crate::engine::Notice;
use crate::expr::InitRows;
use crate::rows::Rows;
use crate::shard::{ShardRequest, ShardResponse};

/// The stack a thread needs to decode the most deeply nested message
/// accepted (`tessera_types::wire::MESSAGE_NESTING_MAX` levels) in a debug
/// build, with room to spare; the threads that decode have at least this.
pub const DECODE_STACK_BYTES: usize = 16 << 20;

pub fn encode_request(request: &ShardRequest) -> Result<Vec<u8>> {
    let inner = match request {
        ShardRequest::Routed { request, .. } => request,
        other => other,
    };
    let params = match inner {
        ShardRequest::Scan { params, .. } | ShardRequest::Modify { params, .. } => Some(params),
        ShardRequest::Insert {
            upsert: Some(upsert),
            ..
        } => Some(&upsert.params),
        _ => None,
    };
    if params.is_some_and(|p| p.sequences.is_some() || p.settings.is_some()) {
        return Err(Error::new(
            sqlstate::FEATURE_NOT_SUPPORTED,
            "a statement calling sequence functions, current_setting or set_config runs on its own node only",
        ));
    }
    encode(request, "a shard request")
}

pub fn decode_request(bytes: &[u8]) -> Result<ShardRequest> {
    decode(bytes, "a shard request")
}

pub fn encode_response(response: &ShardResponse) -> Result<Vec<u8>> {
    encode(response, "a shard response")
}

pub fn decode_response(bytes: &[u8]) -> Result<ShardResponse> {
    decode(bytes, "a shard response")
}

fn encode<T: Serialize>(message: &T, what: &str) -> Result<Vec<u8>> {
    postcard::to_allocvec(message).map_err(|e| {
        Error::new(
            sqlstate::FEATURE_NOT_SUPPORTED,
            format!("{what} cannot be sent to another node: {e}"),
        )
    })
}

fn decode<T: for<'de> Deserialize<'de>>(bytes: &[u8], what: &str) -> Result<T> {
    let bad = |e: postcard::Error| {
        Error::new(
            sqlstate::PROTOCOL_VIOLATION,
            format!("{what} from another node does not decode: {e}"),
        )
    };
    let mut input = postcard::Deserializer::from_bytes(bytes);
    let message = T::deserialize(Limited::new(&mut input)).map_err(bad)?;
    match input.finalize().map_err(bad)? {
        [] => Ok(message),
        rest => Err(Error::new(
            sqlstate::PROTOCOL_VIOLATION,
            format!("{what} from another node has {} bytes too many", rest.len()),
        )),
    }
}

/// `#[serde(with)]` for session state in `Params`: travels only when
/// absent (see the module comment).
pub mod session_only {
    use super::*;

    pub fn serialize<T, S: Serializer>(
        v: &Option<Arc<T>>,
        s: S,
    ) -> std::result::Result<S::Ok, S::Error> {
        match v {
            None => s.serialize_none(),
            Some(_) => Err(S::Error::custom(
                "a statement calling sequence functions, current_setting or set_config runs on its own node only",
            )),
        }
    }

    pub fn deserialize<'de, T, D: Deserializer<'de>>(
        d: D,
    ) -> std::result::Result<Option<Arc<T>>, D::Error> {
        match Option::<()>::deserialize(d)? {
            None => Ok(None),
            Some(()) => Err(D::Error::custom("session state in a message")),
        }
    }
}

/// An init plan's rows travel; the sets built from them on first use are
/// built again where they are used.
impl Serialize for InitRows {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        self.rows.serialize(s)
    }
}

impl<'de> Deserialize<'de> for InitRows {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<InitRows, D::Error> {
        Ok(InitRows::new(Rows::deserialize(d)?))
    }
}

/// A notice's code and severity arrive interned (`tessera_types::wire`).
impl<'de> Deserialize<'de> for Notice {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Notice, D::Error> {
        #[derive(Deserialize)]
        struct Wire {
            code: String,
            severity: String,
            message: String,
            detail: Option<String>,
        }
        let w = Wire::deserialize(d)?;
        let intern = |v: &str| {
            tessera_types::wire::intern_code(v)
                .ok_or_else(|| D::Error::custom(format!("a notice with code \"{v}\"")))
        };
        Ok(Notice {
            code: intern(&w.code)?,
            severity: intern(&w.severity)?,
            message: w.message,
            detail: w.detail,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::binder::Binder;
    use crate::engine::Notice;
    use crate::expr::Params;
    use crate::plan::{Plan, Statement};
    use crate::shard::{EntryChange, ParentKey, Relation, RelationRef, Upsert, WriteMode};
    use tessera_types::datetime::{TimeContext, TimeZone};
    use tessera_types::{
        Catalog, ColumnDef, DataType, IndexDef, SchemaDef, SequenceDef, TableDef, Value,
    };

    /// `t (id int8 PRIMARY KEY, a int4, c text, n numeric)` with a unique
    /// index on `c`, and `u (id int8 PRIMARY KEY)`.
    fn catalog() -> Catalog {
        let column = |name: &str, data_type| ColumnDef::new(name, data_type, false);
        let table = |id, name: &str, columns| TableDef {
            id,
            name: name.into(),
            schema: tessera_types::schema::PUBLIC,
            columns,
            primary_key: vec![0],
            sharding_key: vec![0],
            global: false,
            tier: 0,
            checks: vec![("t_a_check".into(), "a > 0".into())],
            foreign_keys: vec![],
        };
        let t = table(
            0,
            "t",
            vec![
                column("id", DataType::Int8),
                column("a", DataType::Int4),
                column("c", DataType::Text),
                column("n", DataType::Numeric(None)),
            ],
        );
        let (catalog, t) = Catalog::new(16, 2).with_table(t);
        let (catalog, _) = catalog.with_table(table(0, "u", vec![column("id", DataType::Int8)]));
        let c = IndexDef::new("t_c".into(), &t, vec![2], vec![false], true);
        let (catalog, c) = catalog.with_index(c);
        catalog.with_index_valid(c.storage.id, 1)
    }

    fn bind(sql: &str) -> Statement {
        let parsed = crate::parser::parse(sql).unwrap();
        Binder::new(&catalog(), &[], Default::default())
            .bind(&parsed[0], sql)
            .unwrap()
    }

    fn params() -> Arc<Params> {
        let mut time = TimeContext::utc_at(123_456_789);
        time.zone = TimeZone::lookup("Europe/Paris").expect("the zone database is installed");
        let mut p = Params::new(vec![Value::Int8(7), Value::Text("x".into())], time);
        p.init
            .push(Arc::new(InitRows::new(Rows::from_vecs(vec![vec![
                Value::Int4(1),
            ]]))));
        p.outer.push(Value::Numeric(
            tessera_types::numeric::Numeric::parse("1e40").unwrap(),
        ));
        Arc::new(p)
    }

    fn table() -> Arc<TableDef> {
        catalog()
            .table(tessera_types::schema::PUBLIC, "t")
            .expect("t exists")
            .clone()
    }

    /// Encodes, decodes and encodes again: both encodings and the
    /// messages' debug forms agree.
    fn round_trip_request(request: &ShardRequest) {
        let bytes = encode_request(request).expect("encodes");
        let back = decode_request(&bytes).expect("decodes");
        assert_eq!(encode_request(&back).unwrap(), bytes, "{request:?}");
        assert_eq!(format!("{back:?}"), format!("{request:?}"));
        for cut in [0, 1, bytes.len() / 2, bytes.len() - 1] {
            if cut >= bytes.len() {
                continue;
            }
            assert!(decode_request(&bytes[..cut]).is_err(), "cut at {cut}");
        }
    }

    fn round_trip_response(response: &ShardResponse) {
        let bytes = encode_response(response).expect("encodes");
        let back = decode_response(&bytes).expect("decodes");
        assert_eq!(encode_response(&back).unwrap(), bytes, "{response:?}");
        assert_eq!(format!("{back:?}"), format!("{response:?}"));
    }

    fn plan(sql: &str) -> Arc<Plan> {
        bind(sql).plan.clone()
    }

    #[test]
    fn every_request_travels() {
        let t = table();
        let sequence =
            SequenceDef::new("s".into(), &Default::default()).expect("a default sequence");
        let index = Arc::new(IndexDef::new("t_a".into(), &t, vec![1], vec![false], false));
        let insert = bind(
            "INSERT INTO t VALUES ($1, 1, 'x', 2.5) ON CONFLICT (id) \
             DO UPDATE SET a = t.a + excluded.a WHERE t.c <> 'y' RETURNING id, a * 2",
        );
        let Plan::Insert(insert) = &*insert.plan else {
            panic!("not an insert")
        };
        let upsert = Arc::new(Upsert {
            action: insert.on_conflict.clone().expect("ON CONFLICT"),
            params: params(),
            returning: insert.returning.clone(),
            checks: insert.checks.clone(),
            primary_key: true,
            found: [(vec![1, 2], ("t_c_key".to_string(), vec![2]))].into(),
        });
        let row = vec![
            Value::Int8(1),
            Value::Int4(2),
            Value::Text("é".into()),
            Value::Numeric(tessera_types::numeric::Numeric::parse("-3.25").unwrap()),
        ];
        let txn = WriteMode::Txn {
            id: 5 * 1024 + 1,
            snapshot: Some(99),
            savepoint: 2,
            track_reads: true,
        };
        let role = match &*plan("CREATE ROLE r LOGIN PASSWORD 'secret' VALID UNTIL 'infinity'") {
            Plan::Role(r) => r.clone(),
            other => panic!("{other:?}"),
        };
        let alter_type = match &*plan("CREATE TYPE mood AS ENUM ('sad', 'ok')") {
            Plan::Type(t) => t.clone(),
            other => panic!("{other:?}"),
        };
        let requests = vec![
            ShardRequest::Scan {
                plan: plan(
                    "SELECT id, upper(c), n * 2, count(*) OVER (PARTITION BY a) FROM t \
                     WHERE a > $1 AND c ~* '^x.*' AND id IN (SELECT id FROM u) \
                     ORDER BY 2 DESC LIMIT 10",
                ),
                params: params(),
                ts: 42,
                txn: Some(3),
                track_reads: true,
                key: Some(vec![1, 2, 3]),
            },
            ShardRequest::Scan {
                plan: plan(
                    "SELECT a, sum(n), string_agg(c, ',') FROM t JOIN u USING (id) \
                     WHERE now() > '2020-01-01' AND EXISTS (SELECT 1 FROM u WHERE u.id = t.a) \
                     GROUP BY a HAVING count(*) > 1",
                ),
                params: params(),
                ts: 43,
                txn: None,
                track_reads: false,
                key: None,
            },
            ShardRequest::Get {
                table: t.id,
                key: vec![9; 9],
                ts: 7,
                txn: None,
                track_reads: false,
            },
            ShardRequest::Insert {
                table: t.clone(),
                rows: vec![(vec![1, 2], row.clone())],
                mode: WriteMode::Autocommit,
                upsert: Some(upsert),
            },
            ShardRequest::Modify {
                plan: plan("UPDATE t SET a = a + 1, c = c || $2 WHERE id = $1 RETURNING *"),
                params: params(),
                mode: WriteMode::Prepare(77),
                key: None,
            },
            ShardRequest::Modify {
                plan: plan("DELETE FROM t WHERE n IS NULL OR a BETWEEN 1 AND 3"),
                params: params(),
                mode: txn,
                key: Some(vec![0]),
            },
            ShardRequest::TxnCommit {
                id: 1,
                validate: Some(4),
            },
            ShardRequest::TxnPrepare {
                id: 1,
                validate: None,
            },
            ShardRequest::CommitGlobals { id: 3, since: 8 },
            ShardRequest::TxnValidate { id: 1, snapshot: 5 },
            ShardRequest::TxnAbort { id: 1 },
            ShardRequest::TxnAbandon { id: 2 },
            ShardRequest::TxnRollbackTo {
                id: 1,
                savepoint: 3,
            },
            ShardRequest::Resolve {
                tx: 1,
                commit: true,
                ts: 8,
            },
            ShardRequest::Routed {
                epoch: 4,
                request: Box::new(ShardRequest::Get {
                    table: 3,
                    key: vec![1, 2],
                    ts: 7,
                    txn: Some(9),
                    track_reads: false,
                }),
            },
            ShardRequest::FromCopy {
                request: Box::new(ShardRequest::Routed {
                    epoch: 2,
                    request: Box::new(ShardRequest::Get {
                        table: 3,
                        key: vec![4],
                        ts: 7,
                        txn: None,
                        track_reads: false,
                    }),
                }),
            },
            ShardRequest::BucketsOut {
                tx: 1 << 63 | 5,
                buckets: vec![0, 2999],
            },
            ShardRequest::BucketsIn {
                tx: 1 << 63 | 5,
                entries: vec![(3, vec![9, 1], row.clone())],
            },
            ShardRequest::BucketsSettle {
                tx: 1 << 63 | 5,
                commit: true,
                ts: 11,
            },
            ShardRequest::AbortInCatalog { tx: 1 << 63 | 5 },
            ShardRequest::Outcome { tx: 7 << 16 | 3 },
            ShardRequest::ShipWal {
                from: 1 << 40,
                max_bytes: 4096,
                epoch: 3,
                node: 2,
            },
            ShardRequest::ShipCheckpoint {
                seq: Some(3),
                offset: 1 << 33,
                max_bytes: 1 << 20,
            },
            ShardRequest::LockWaits,
            ShardRequest::Reported {
                shard: 4,
                txs: vec![7 << 16 | 3, 8 << 16 | 3],
            },
            ShardRequest::Decide {
                tx: 1,
                commit: false,
                ts: 9,
                participants: vec![0, 1, 3],
            },
            ShardRequest::CreateTable {
                table: (*t).clone(),
                sequences: vec![(sequence.clone(), 0)],
                if_not_exists: true,
            },
            ShardRequest::CreateSequence {
                sequence: sequence.clone(),
                if_not_exists: false,
            },
            ShardRequest::CreateView {
                view: tessera_types::ViewDef {
                    id: 40,
                    name: "v".into(),
                    schema: tessera_types::schema::PUBLIC,
                    columns: vec![("id".into(), DataType::Int8)],
                    query: "SELECT id FROM t".into(),
                    depends_on: vec![t.id],
                },
                or_replace: true,
            },
            ShardRequest::LockKeys {
                table: t.id,
                keys: vec![ParentKey {
                    key: vec![1],
                    holds: Some((vec![0], vec![2])),
                    missing: Error::new(sqlstate::FOREIGN_KEY_VIOLATION, "no parent")
                        .with_detail("Key (id)=(1) is not present."),
                }],
                mode: txn,
            },
            ShardRequest::Comment {
                object: t.id,
                column: 1,
                text: Some("the id".into()),
            },
            ShardRequest::AlterTable {
                table: (*t).clone(),
                dropped: vec![crate::plan::DroppedColumn {
                    column: 2,
                    views: vec![40],
                    cascade: true,
                }],
                path: vec![tessera_types::schema::PUBLIC],
            },
            ShardRequest::AlterSequence {
                sequence: sequence.clone(),
            },
            ShardRequest::LogSequences(vec![tessera_types::sequence::SequenceClaim {
                id: 3,
                generation: 1,
                value: 10,
                is_called: true,
                after: Some(4),
                needed: false,
            }]),
            ShardRequest::Drop {
                kind: Relation::Table,
                names: vec![RelationRef::of(tessera_types::schema::PUBLIC, "t")],
                if_exists: true,
                cascade: false,
                path: vec![0],
            },
            ShardRequest::CreateSchema {
                schema: SchemaDef {
                    id: 9,
                    name: "s".into(),
                    owner: "tessera".into(),
                },
                if_not_exists: false,
            },
            ShardRequest::DropSchemas {
                names: vec!["s".into()],
                cascade: true,
                path: vec![],
            },
            ShardRequest::Roles {
                statement: role,
                actor: "tessera".into(),
            },
            ShardRequest::Types(alter_type),
            ShardRequest::RenameSchema {
                schema: 9,
                name: "s2".into(),
            },
            ShardRequest::RenameIndex {
                storage: 9,
                name: "i2".into(),
            },
            ShardRequest::CreateIndex {
                index: (*index).clone(),
                if_not_exists: true,
            },
            ShardRequest::BuildIndex {
                storage: index.storage.id,
                block: Some((4, 1)),
            },
            ShardRequest::Reshape {
                table: t.id,
                block: (4, 0),
            },
            ShardRequest::InBlock {
                txn: 4,
                savepoint: 1,
                request: Box::new(ShardRequest::Comment {
                    object: t.id,
                    column: 0,
                    text: None,
                }),
            },
            ShardRequest::DdlEnd {
                tx: 4,
                commit: Some((vec![0, 1], 50)),
            },
            ShardRequest::DdlRollbackTo {
                tx: 4,
                savepoint: 0,
            },
            ShardRequest::IndexValid {
                storage: index.storage.id,
                valid_from: 51,
            },
            ShardRequest::ClaimGlobalIndex {
                storage: index.storage.id,
            },
            ShardRequest::LockTable {
                holder: 4,
                table: t.id,
            },
            ShardRequest::UnlockTable {
                holder: 4,
                table: t.id,
            },
            ShardRequest::Vacuum,
            ShardRequest::Checkpoint,
            ShardRequest::Analyze,
            ShardRequest::ReplaceTable { old: 1, new: 2 },
            ShardRequest::IndexBackfill {
                index: index.clone(),
                after: Some(vec![5]),
                limit: 100,
                mode: txn,
            },
            ShardRequest::IndexEntries {
                index,
                deletes: vec![vec![1]],
                puts: vec![(vec![2], row.clone())],
                mode: txn,
            },
        ];
        for request in &requests {
            round_trip_request(request);
        }
        // The sequence's value travels with its definition (its durable
        // record's bookkeeping stays with the node that writes it).
        sequence.next().unwrap();
        sequence.next().unwrap();
        let request = ShardRequest::AlterSequence { sequence };
        let ShardRequest::AlterSequence { sequence: back } =
            decode_request(&encode_request(&request).unwrap()).unwrap()
        else {
            panic!("not a sequence")
        };
        let ShardRequest::AlterSequence { sequence } = request else {
            unreachable!()
        };
        assert_eq!(back.state.current(), (2, true));
        assert_eq!(back, sequence);
    }

    #[test]
    fn every_response_travels() {
        let t = table();
        let index = Arc::new(IndexDef::new("t_a".into(), &t, vec![1], vec![false], false));
        let row = vec![Value::Int8(1), Value::Null, Value::Bytea(vec![0, 255])];
        let change = EntryChange {
            index,
            old: Some((vec![1], row.clone())),
            new: None,
        };
        let responses = vec![
            ShardResponse::Rows(Rows::from_vecs(vec![row.clone(), row.clone()])),
            ShardResponse::Rows(Rows::default()),
            ShardResponse::Count(3),
            ShardResponse::Done(vec![Notice {
                code: "42P07",
                severity: "NOTICE",
                message: "relation \"t\" already exists, skipping".into(),
                detail: None,
            }]),
            ShardResponse::Index(12),
            ShardResponse::Written(2, vec![change.clone()], vec![row.clone()]),
            ShardResponse::Backfilled(vec![change], Some(vec![7])),
            ShardResponse::Entries(vec![(3, vec![9, 1], row.clone())]),
            ShardResponse::Outcome(crate::shard::TxOutcome::Commit(12)),
            ShardResponse::Outcome(crate::shard::TxOutcome::Abort),
            ShardResponse::Outcome(crate::shard::TxOutcome::Pending),
            ShardResponse::Waits(vec![(7 << 16 | 3, 9 << 16 | 2)]),
            ShardResponse::Shipped {
                epoch: 3,
                records: vec![(1 << 40, vec![1, 2, 3])],
                end: 1 << 41,
            },
            ShardResponse::Diverged { fork: 1 << 35 },
            ShardResponse::LogGone { epoch: 2 },
            ShardResponse::CheckpointPart {
                seq: 4,
                len: 1 << 34,
                bytes: vec![9; 10],
            },
        ];
        for response in &responses {
            round_trip_response(response);
        }
        let e = Error::new(sqlstate::UNIQUE_VIOLATION, "duplicate key value")
            .with_detail("Key (id)=(1) already exists.");
        let bytes = postcard::to_allocvec(&e).unwrap();
        assert_eq!(postcard::from_bytes::<Error>(&bytes).unwrap(), e);
    }

    #[test]
    fn session_state_does_not_travel() {
        let st = bind("SELECT id FROM t WHERE a = 1");
        let mut p = (*params()).clone();
        p.sequences = Some(Default::default());
        let scan = ShardRequest::Scan {
            plan: st.plan.clone(),
            params: Arc::new(p),
            ts: 1,
            txn: None,
            track_reads: false,
            key: None,
        };
        let e = encode_request(&scan).unwrap_err();
        assert_eq!(e.code, sqlstate::FEATURE_NOT_SUPPORTED);
        assert!(e.message.contains("sequence functions"), "{e:?}");
        // Wherever Params travel, serde refuses them too.
        let mut p = (*params()).clone();
        p.settings = Some(Arc::new(crate::settings_fn::StatementSettings::default()));
        assert!(postcard::to_allocvec(&p).is_err());
        p.settings = None;
        assert!(postcard::to_allocvec(&p).is_ok());
    }

    #[test]
    fn nesting_is_limited_without_exhausting_the_stack() {
        // The stack of the threads that decode messages (shards, the
        // cluster service), not a test thread's.
        std::thread::Builder::new()
            .stack_size(DECODE_STACK_BYTES)
            .spawn(deep_messages)
            .unwrap()
            .join()
            .unwrap();
    }

    fn deep_messages() {
        // Expr::Not (variant 5) a million times around Column(0): refused
        // at the limit, on a test thread's small stack.
        let mut bytes = vec![5u8; 1_000_000];
        bytes.extend_from_slice(&[0, 0]);
        let e = decode::<crate::expr::Expr>(&bytes, "an expression").unwrap_err();
        assert_eq!(e.code, sqlstate::PROTOCOL_VIOLATION);
        // Just under the limit decodes.
        let depth = tessera_types::wire::MESSAGE_NESTING_MAX - 1;
        let mut bytes = vec![5u8; depth];
        bytes.extend_from_slice(&[0, 0]);
        let mut e = decode::<crate::expr::Expr>(&bytes, "an expression").unwrap();
        let mut levels = 0;
        while let crate::expr::Expr::Not(inner) = e {
            e = *inner;
            levels += 1;
        }
        assert_eq!(levels, depth);
        // What SQL nests as deeply as the parser allows travels.
        let sql = format!(
            "SELECT id FROM t WHERE {}a = 1{}",
            "(NOT (".repeat(20),
            "))".repeat(20)
        );
        round_trip_request(&ShardRequest::Scan {
            plan: plan(&sql),
            params: params(),
            ts: 1,
            txn: None,
            track_reads: false,
            key: None,
        });
    }

    #[test]
    fn garbage_and_inconsistent_rows_are_errors() {
        for garbage in [&[][..], &[0xFF; 3], &[200, 1, 2, 3, 4, 5, 6, 7], &[0; 64]] {
            let _ = decode_request(garbage).map(|r| panic!("decoded {r:?}"));
        }
        let bytes = encode_response(&ShardResponse::Count(1)).unwrap();
        let mut long = bytes.clone();
        long.push(0);
        assert_eq!(
            decode_response(&long).unwrap_err().code,
            sqlstate::PROTOCOL_VIOLATION
        );
        // Three values claimed as two rows of two.
        #[derive(Serialize)]
        struct Wire {
            width: usize,
            len: usize,
            values: Vec<Value>,
            fixed: bool,
        }
        let bad = postcard::to_allocvec(&Wire {
            width: 2,
            len: 2,
            values: vec![Value::Null; 3],
            fixed: true,
        })
        .unwrap();
        assert!(postcard::from_bytes::<Rows>(&bad).is_err());
        // Pseudo-random bytes never panic the decoder.
        let mut x = 0x2545_F491_4F6C_DD1Du64;
        for len in 0..2000 {
            let bytes: Vec<u8> = (0..len % 97)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    x as u8
                })
                .collect();
            let _ = decode_request(&bytes);
            let _ = decode_response(&bytes);
        }
    }
}
