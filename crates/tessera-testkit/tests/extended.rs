//! The extended query protocol as tokio-postgres drives it: Parse with
//! parameter types left open (the server infers them), Describe (parameter
//! and RowDescription type oids), Bind with binary parameters, Execute,
//! Close, unnamed statements, pipelining, errors mid-pipeline, and the
//! ParameterStatus values sent at start-up.

use std::sync::Arc;

use tessera_testkit::{assert_sqlstate, rows_text, PgNumeric, TestServer};
use tokio_postgres::error::SqlState;
use tokio_postgres::types::Type;
use tokio_postgres::Client;

const P4_DDL: &str = "CREATE TABLE p4 (
    id integer PRIMARY KEY,
    name text,
    score double precision,
    active boolean,
    big bigint,
    small smallint,
    code varchar(8),
    price numeric(8,2),
    real_col real
)";

const P4_INSERT: &str =
    "INSERT INTO p4 (id, name, score, active, big, small, code, price, real_col)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)";

/// One row of `p4` as Rust values.
#[derive(Debug, Clone, PartialEq)]
struct P4Row {
    id: i32,
    name: Option<String>,
    score: Option<f64>,
    active: Option<bool>,
    big: Option<i64>,
    small: Option<i16>,
    code: Option<String>,
    price: Option<PgNumeric>,
    real_col: Option<f32>,
}

fn p4_row(id: i32) -> P4Row {
    // Every seventh row is all NULLs apart from the key.
    if id % 7 == 0 {
        return P4Row {
            id,
            name: None,
            score: None,
            active: None,
            big: None,
            small: None,
            code: None,
            price: None,
            real_col: None,
        };
    }
    P4Row {
        id,
        name: Some(format!("name-{id}-ü")),
        score: Some(f64::from(id) * 1.5),
        active: Some(id % 2 == 0),
        big: Some(i64::from(id) * 10_000_000_000),
        small: Some(i16::try_from(id).unwrap() * -100),
        code: Some(format!("c{id}")),
        price: Some(PgNumeric(format!("{id}.{:02}", id % 100))),
        real_col: Some(id as f32 / 4.0),
    }
}

async fn create_p4(client: &Client, rows: std::ops::RangeInclusive<i32>) -> Vec<P4Row> {
    client.batch_execute(P4_DDL).await.unwrap();
    let insert = client.prepare(P4_INSERT).await.unwrap();
    let mut inserted = Vec::new();
    for id in rows {
        let r = p4_row(id);
        let n = client
            .execute(
                &insert,
                &[
                    &r.id,
                    &r.name,
                    &r.score,
                    &r.active,
                    &r.big,
                    &r.small,
                    &r.code,
                    &r.price,
                    &r.real_col,
                ],
            )
            .await
            .unwrap_or_else(|e| panic!("insert {r:?}: {e:?}"));
        assert_eq!(n, 1, "rows affected by one INSERT");
        inserted.push(r);
    }
    inserted
}

#[tokio::test]
async fn parameter_types_are_inferred() {
    let server = TestServer::start();
    let client = server.connect().await;
    client.batch_execute(P4_DDL).await.unwrap();

    let cases: &[(&str, &[Type])] = &[
        ("SELECT $1::int + 1", &[Type::INT4]),
        ("SELECT $1::bigint * 2", &[Type::INT8]),
        ("SELECT $1::text", &[Type::TEXT]),
        ("SELECT name FROM p4 WHERE id = $1", &[Type::INT4]),
        ("SELECT name FROM p4 WHERE big = $1", &[Type::INT8]),
        ("SELECT name FROM p4 WHERE small = $1", &[Type::INT2]),
        ("SELECT id FROM p4 WHERE name = $1", &[Type::TEXT]),
        ("SELECT id FROM p4 WHERE code = $1", &[Type::TEXT]),
        ("SELECT id FROM p4 WHERE active = $1", &[Type::BOOL]),
        ("SELECT id FROM p4 WHERE score > $1", &[Type::FLOAT8]),
        ("SELECT id FROM p4 WHERE price > $1", &[Type::NUMERIC]),
        (
            "SELECT id FROM p4 WHERE id > $1 AND big < $2",
            &[Type::INT4, Type::INT8],
        ),
        (
            "SELECT id FROM p4 ORDER BY id LIMIT $1 OFFSET $2",
            &[Type::INT8, Type::INT8],
        ),
        (
            P4_INSERT,
            &[
                Type::INT4,
                Type::TEXT,
                Type::FLOAT8,
                Type::BOOL,
                Type::INT8,
                Type::INT2,
                Type::VARCHAR,
                Type::NUMERIC,
                Type::FLOAT4,
            ],
        ),
        (
            "UPDATE p4 SET name = $1 WHERE id = $2",
            &[Type::TEXT, Type::INT4],
        ),
        ("DELETE FROM p4 WHERE id = $1", &[Type::INT4]),
    ];
    for (sql, expected) in cases {
        let stmt = client
            .prepare(sql)
            .await
            .unwrap_or_else(|e| panic!("prepare {sql}: {e:?}"));
        assert_eq!(stmt.params(), *expected, "parameter types of {sql}");
    }

    let stmt = client.prepare("SELECT $1::int + 1").await.unwrap();
    assert_eq!(stmt.columns()[0].type_(), &Type::INT4);
    let row = client.query_one(&stmt, &[&41i32]).await.unwrap();
    assert_eq!(row.get::<_, i32>(0), 42);

    let stmt = client.prepare("SELECT $1::bigint * 2").await.unwrap();
    assert_eq!(stmt.columns()[0].type_(), &Type::INT8);
    let row = client.query_one(&stmt, &[&(1i64 << 40)]).await.unwrap();
    assert_eq!(row.get::<_, i64>(0), 1i64 << 41);

    // Types the client declares win over inference.
    let stmt = client
        .prepare_typed("SELECT $1", &[Type::INT8])
        .await
        .unwrap();
    assert_eq!(stmt.params(), &[Type::INT8]);
    assert_eq!(stmt.columns()[0].type_(), &Type::INT8);
    let row = client.query_one(&stmt, &[&-5i64]).await.unwrap();
    assert_eq!(row.get::<_, i64>(0), -5);
}

#[tokio::test]
async fn parameters_in_every_position() {
    let server = TestServer::start();
    let client = server.connect().await;
    let rows = create_p4(&client, 1..=30).await;

    // WHERE with an int4 key, an int8 column, a text column.
    let by_id = client
        .prepare("SELECT name FROM p4 WHERE id = $1")
        .await
        .unwrap();
    for r in &rows {
        let got = client.query(&by_id, &[&r.id]).await.unwrap();
        assert_eq!(got.len(), 1, "row {}", r.id);
        assert_eq!(got[0].get::<_, Option<String>>(0), r.name);
    }
    let got = client.query(&by_id, &[&Option::<i32>::None]).await.unwrap();
    assert!(got.is_empty(), "id = NULL matches nothing");
    let got = client.query(&by_id, &[&1000i32]).await.unwrap();
    assert!(got.is_empty());

    let got = client
        .query_one("SELECT id FROM p4 WHERE big = $1", &[&120_000_000_000i64])
        .await
        .unwrap();
    assert_eq!(got.get::<_, i32>(0), 12);
    let got = client
        .query_one("SELECT id FROM p4 WHERE name = $1", &[&"name-5-ü"])
        .await
        .unwrap();
    assert_eq!(got.get::<_, i32>(0), 5);
    let got = client
        .query_one("SELECT id FROM p4 WHERE small = $1", &[&-900i16])
        .await
        .unwrap();
    assert_eq!(got.get::<_, i32>(0), 9);

    let expected: Vec<i32> = rows
        .iter()
        .filter(|r| r.score.is_some_and(|s| s > 10.0 && s < 30.0))
        .map(|r| r.id)
        .collect();
    let got: Vec<i32> = client
        .query(
            "SELECT id FROM p4 WHERE score > $1 AND score < $2 ORDER BY id",
            &[&10.0f64, &30.0f64],
        )
        .await
        .unwrap()
        .iter()
        .map(|row| row.get(0))
        .collect();
    assert_eq!(got, expected);

    let expected: Vec<i32> = rows
        .iter()
        .filter(|r| r.active == Some(true))
        .map(|r| r.id)
        .collect();
    let got: Vec<i32> = client
        .query("SELECT id FROM p4 WHERE active = $1 ORDER BY id", &[&true])
        .await
        .unwrap()
        .iter()
        .map(|row| row.get(0))
        .collect();
    assert_eq!(got, expected);

    let got: Vec<i32> = client
        .query(
            "SELECT id FROM p4 WHERE price > $1 ORDER BY id",
            &[&PgNumeric("25.24".to_string())],
        )
        .await
        .unwrap()
        .iter()
        .map(|row| row.get(0))
        .collect();
    assert_eq!(got, [25, 26, 27, 29, 30]);

    // LIMIT and OFFSET.
    let page = client
        .prepare("SELECT id FROM p4 ORDER BY id LIMIT $1 OFFSET $2")
        .await
        .unwrap();
    for (limit, offset) in [(5i64, 0i64), (3, 10), (10, 25), (0, 0), (5, 100)] {
        let got: Vec<i32> = client
            .query(&page, &[&limit, &offset])
            .await
            .unwrap()
            .iter()
            .map(|row| row.get(0))
            .collect();
        let expected: Vec<i32> = (1..=30)
            .skip(offset as usize)
            .take(limit as usize)
            .collect();
        assert_eq!(got, expected, "LIMIT {limit} OFFSET {offset}");
    }

    // A parameter in the select list.
    let row = client
        .query_one("SELECT id + $1 FROM p4 WHERE id = $2", &[&100i32, &3i32])
        .await
        .unwrap();
    assert_eq!(row.get::<_, i32>(0), 103);

    // UPDATE and DELETE.
    let update = client
        .prepare("UPDATE p4 SET name = $1 WHERE id = $2")
        .await
        .unwrap();
    assert_eq!(
        client.execute(&update, &[&"renamed", &4i32]).await.unwrap(),
        1
    );
    assert_eq!(
        client
            .execute(&update, &[&"nobody", &999i32])
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        client
            .execute(&update, &[&Option::<&str>::None, &5i32])
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        client
            .execute("DELETE FROM p4 WHERE id = $1", &[&6i32])
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        rows_text(
            &client,
            "SELECT id, name FROM p4 WHERE id >= 4 AND id <= 6 ORDER BY id"
        )
        .await,
        ["4|renamed", "5|NULL"]
    );
}

#[tokio::test]
async fn binary_values_round_trip() {
    let server = TestServer::start();
    let client = server.connect().await;
    let mut rows = create_p4(&client, 1..=20).await;
    // Extremes of each type.
    let extreme = P4Row {
        id: i32::MAX,
        name: Some(String::new()),
        score: Some(-1.0e-300),
        active: Some(false),
        big: Some(i64::MIN),
        small: Some(i16::MAX),
        code: Some("12345678".to_string()),
        price: Some(PgNumeric("-999999.99".to_string())),
        real_col: Some(f32::MAX),
    };
    client
        .execute(
            P4_INSERT,
            &[
                &extreme.id,
                &extreme.name,
                &extreme.score,
                &extreme.active,
                &extreme.big,
                &extreme.small,
                &extreme.code,
                &extreme.price,
                &extreme.real_col,
            ],
        )
        .await
        .unwrap();
    rows.push(extreme);

    let got: Vec<P4Row> = client
        .query(
            "SELECT id, name, score, active, big, small, code, price, real_col FROM p4 ORDER BY id",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|row| P4Row {
            id: row.get(0),
            name: row.get(1),
            score: row.get(2),
            active: row.get(3),
            big: row.get(4),
            small: row.get(5),
            code: row.get(6),
            price: row.get(7),
            real_col: row.get(8),
        })
        .collect();
    assert_eq!(got, rows);

    // The same values as text.
    assert_eq!(
        rows_text(
            &client,
            "SELECT id, name, score, active, big, small, code, price, real_col FROM p4 WHERE id = 3 OR id = 7 ORDER BY id"
        )
        .await,
        [
            "3|name-3-ü|4.5|f|30000000000|-300|c3|3.03|0.75",
            "7|NULL|NULL|NULL|NULL|NULL|NULL|NULL|NULL",
        ]
    );
}

#[tokio::test]
async fn row_description_reports_type_oids() {
    let server = TestServer::start();
    let client = server.connect().await;
    create_p4(&client, 1..=3).await;

    let stmt = client
        .prepare("SELECT small, id, big, price, name, code, active, real_col, score FROM p4")
        .await
        .unwrap();
    let got: Vec<(&str, &Type)> = stmt
        .columns()
        .iter()
        .map(|c| (c.name(), c.type_()))
        .collect();
    assert_eq!(
        got,
        [
            ("small", &Type::INT2),
            ("id", &Type::INT4),
            ("big", &Type::INT8),
            ("price", &Type::NUMERIC),
            ("name", &Type::TEXT),
            ("code", &Type::VARCHAR),
            ("active", &Type::BOOL),
            ("real_col", &Type::FLOAT4),
            ("score", &Type::FLOAT8),
        ]
    );
    assert!(stmt.params().is_empty());

    let stmt = client
        .prepare(
            "SELECT count(*), sum(id), sum(big), sum(small), min(name), max(score), avg(id), 1, 1.5, 'a', true, 2147483648, id * 2 AS doubled FROM p4 GROUP BY id",
        )
        .await
        .unwrap();
    let got: Vec<(&str, &Type)> = stmt
        .columns()
        .iter()
        .map(|c| (c.name(), c.type_()))
        .collect();
    assert_eq!(
        got,
        [
            ("count", &Type::INT8),
            ("sum", &Type::INT8),
            ("sum", &Type::NUMERIC),
            ("sum", &Type::INT8),
            ("min", &Type::TEXT),
            ("max", &Type::FLOAT8),
            ("avg", &Type::NUMERIC),
            ("?column?", &Type::INT4),
            ("?column?", &Type::NUMERIC),
            ("?column?", &Type::TEXT),
            ("?column?", &Type::BOOL),
            ("?column?", &Type::INT8),
            ("doubled", &Type::INT4),
        ]
    );

    // Statements without rows describe as NoData.
    let stmt = client.prepare(P4_INSERT).await.unwrap();
    assert!(stmt.columns().is_empty());
    let stmt = client
        .prepare("UPDATE p4 SET name = 'x' WHERE id = 1")
        .await
        .unwrap();
    assert!(stmt.columns().is_empty());
}

#[tokio::test]
async fn statements_are_reusable_and_pipelined() {
    let server = TestServer::start();
    let client = Arc::new(server.connect().await);
    client
        .batch_execute("CREATE TABLE kv (k bigint PRIMARY KEY, v text NOT NULL)")
        .await
        .unwrap();
    let insert = client
        .prepare("INSERT INTO kv (k, v) VALUES ($1, $2)")
        .await
        .unwrap();
    for k in 0..200i64 {
        let n = client
            .execute(&insert, &[&k, &format!("v{k}")])
            .await
            .unwrap();
        assert_eq!(n, 1);
    }

    // Many requests in flight on one connection: tokio-postgres writes them
    // back to back and matches responses by order.
    let select = client
        .prepare("SELECT v FROM kv WHERE k = $1")
        .await
        .unwrap();
    let mut tasks = tokio::task::JoinSet::new();
    for k in 0..200i64 {
        let client = Arc::clone(&client);
        let select = select.clone();
        tasks.spawn(async move {
            let row = client.query_one(&select, &[&k]).await;
            (k, row.map(|r| r.get::<_, String>(0)))
        });
    }
    let mut answered = 0;
    while let Some(joined) = tasks.join_next().await {
        let (k, v) = joined.unwrap();
        assert_eq!(v.unwrap(), format!("v{k}"));
        answered += 1;
    }
    assert_eq!(answered, 200);

    // Pipelined writes, some of which fail, interleaved with reads: each
    // gets its own answer and the failures do not disturb the others.
    let mut tasks = tokio::task::JoinSet::new();
    for k in 150..250i64 {
        let client = Arc::clone(&client);
        let insert = insert.clone();
        tasks.spawn(async move {
            let result = client.execute(&insert, &[&k, &"second"]).await;
            (k, result.map_err(|e| e.code().cloned()))
        });
    }
    while let Some(joined) = tasks.join_next().await {
        let (k, result) = joined.unwrap();
        if k < 200 {
            assert_eq!(result, Err(Some(SqlState::UNIQUE_VIOLATION)), "key {k}");
        } else {
            assert_eq!(result, Ok(1), "key {k}");
        }
    }
    assert_eq!(
        rows_text(
            &client,
            "SELECT count(*), min(v), max(v) FROM kv WHERE k >= 150"
        )
        .await,
        ["100|second|v199"]
    );

    // Unnamed statements with client-declared types (Parse/Bind/Describe/
    // Execute/Sync in one write).
    let rows = client
        .query_typed(
            "SELECT v FROM kv WHERE k = $1 OR k = $2 ORDER BY k",
            &[(&7i64, Type::INT8), (&9i64, Type::INT8)],
        )
        .await
        .unwrap();
    let got: Vec<String> = rows.iter().map(|r| r.get(0)).collect();
    assert_eq!(got, ["v7", "v9"]);
}

#[tokio::test]
async fn extended_protocol_errors() {
    let server = TestServer::start();
    let client = server.connect().await;
    client
        .batch_execute("CREATE TABLE ex (id integer PRIMARY KEY, v integer)")
        .await
        .unwrap();

    assert_sqlstate(
        client.prepare("SELECT * FROM missing WHERE id = $1").await,
        &SqlState::UNDEFINED_TABLE,
        "prepare on an unknown table",
    );
    assert_sqlstate(
        client.prepare("SELECT id FROM ex WHERE nope = $1").await,
        &SqlState::UNDEFINED_COLUMN,
        "prepare with an unknown column",
    );
    assert_sqlstate(
        client.prepare("SELECT FROM WHERE $1").await,
        &SqlState::SYNTAX_ERROR,
        "prepare with a syntax error",
    );

    let divide = client.prepare("SELECT 10 / $1::int").await.unwrap();
    assert_sqlstate(
        client.query_one(&divide, &[&0i32]).await,
        &SqlState::DIVISION_BY_ZERO,
        "execute dividing by a zero parameter",
    );
    let row = client.query_one(&divide, &[&2i32]).await.unwrap();
    assert_eq!(row.get::<_, i32>(0), 5);

    let insert = client
        .prepare("INSERT INTO ex (id, v) VALUES ($1, $2)")
        .await
        .unwrap();
    assert_eq!(client.execute(&insert, &[&1i32, &10i32]).await.unwrap(), 1);
    assert_sqlstate(
        client.execute(&insert, &[&1i32, &11i32]).await,
        &SqlState::UNIQUE_VIOLATION,
        "prepared INSERT of a duplicate key",
    );
    let not_null = client
        .prepare("INSERT INTO ex (id, v) VALUES ($1, 0)")
        .await
        .unwrap();
    assert_sqlstate(
        client.execute(&not_null, &[&Option::<i32>::None]).await,
        &SqlState::NOT_NULL_VIOLATION,
        "prepared INSERT of a NULL key",
    );
    assert_eq!(client.execute(&insert, &[&2i32, &20i32]).await.unwrap(), 1);

    let overflow = client
        .prepare("SELECT v * $1 FROM ex WHERE id = 1")
        .await
        .unwrap();
    assert_sqlstate(
        client.query(&overflow, &[&i32::MAX]).await,
        &SqlState::NUMERIC_VALUE_OUT_OF_RANGE,
        "integer overflow with a parameter",
    );
    assert_eq!(
        rows_text(&client, "SELECT id, v FROM ex ORDER BY id").await,
        ["1|10", "2|20"]
    );
}

#[tokio::test]
async fn server_reports_startup_parameters() {
    let server = TestServer::start();
    let (client, connection) = server
        .config()
        .connect(tokio_postgres::NoTls)
        .await
        .unwrap();
    let parameter = |name: &str| connection.parameter(name).map(str::to_string);
    let version = parameter("server_version").expect("server_version ParameterStatus");
    assert!(
        version.starts_with("15."),
        "psql picks its catalog queries by server_version; got {version:?}"
    );
    assert_eq!(parameter("server_encoding").as_deref(), Some("UTF8"));
    assert_eq!(parameter("client_encoding").as_deref(), Some("UTF8"));
    assert_eq!(
        parameter("standard_conforming_strings").as_deref(),
        Some("on"),
        "libpq escapes strings by this setting"
    );
    assert_eq!(parameter("integer_datetimes").as_deref(), Some("on"));
    tokio::spawn(connection);
    let row = client.query_one("SELECT 1", &[]).await.unwrap();
    assert_eq!(row.get::<_, i32>(0), 1);
}

#[tokio::test]
async fn returning_rows_come_back_through_the_extended_protocol() {
    let server = TestServer::start();
    let client = server.connect().await;
    client
        .batch_execute("CREATE TABLE ret (id int PRIMARY KEY, name text, n bigint)")
        .await
        .unwrap();
    let insert = client
        .prepare("INSERT INTO ret VALUES ($1, $2, $3) RETURNING id, upper(name), n + 1")
        .await
        .unwrap();
    let types: Vec<Type> = insert.columns().iter().map(|c| c.type_().clone()).collect();
    assert_eq!(types, [Type::INT4, Type::TEXT, Type::INT8]);
    for id in 1..=3 {
        let rows = client
            .query(&insert, &[&id, &format!("n{id}"), &(id as i64 * 10)])
            .await
            .unwrap();
        let got: (i32, String, i64) = (rows[0].get(0), rows[0].get(1), rows[0].get(2));
        assert_eq!(got, (id, format!("N{id}"), id as i64 * 10 + 1));
    }
    // Across shards: every updated row, its new values.
    let mut updated: Vec<(i32, i64)> = client
        .query(
            "UPDATE ret SET n = n * 2 WHERE id > $1 RETURNING id, n",
            &[&1i32],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    updated.sort();
    assert_eq!(updated, [(2, 40), (3, 60)]);
    let deleted = client
        .query("DELETE FROM ret WHERE id = $1 RETURNING name", &[&3i32])
        .await
        .unwrap();
    assert_eq!(deleted[0].get::<_, String>(0), "n3");
    // An error leaves the table as it was, and returns no rows.
    let err = client
        .query("INSERT INTO ret VALUES (1, 'again', 0) RETURNING id", &[])
        .await;
    assert_sqlstate(err, &SqlState::UNIQUE_VIOLATION, "a duplicate key");
    let left = rows_text(&client, "SELECT id, name, n FROM ret ORDER BY id").await;
    assert_eq!(left, ["1|n1|10", "2|n2|40"]);
}

/// A value's bytes in the binary format, whatever its type, so a test can
/// check exactly what the server sends for types tokio-postgres decodes
/// only behind optional features (uuid, json, jsonb).
#[derive(Debug, PartialEq)]
struct RawBinary(Vec<u8>);

impl<'a> tokio_postgres::types::FromSql<'a> for RawBinary {
    fn from_sql(_: &Type, raw: &'a [u8]) -> Result<Self, Box<dyn std::error::Error + Sync + Send>> {
        Ok(RawBinary(raw.to_vec()))
    }

    fn accepts(_: &Type) -> bool {
        true
    }
}

impl tokio_postgres::types::ToSql for RawBinary {
    fn to_sql(
        &self,
        _: &Type,
        out: &mut tokio_postgres::types::private::BytesMut,
    ) -> Result<tokio_postgres::types::IsNull, Box<dyn std::error::Error + Sync + Send>> {
        out.extend_from_slice(&self.0);
        Ok(tokio_postgres::types::IsNull::No)
    }

    fn accepts(_: &Type) -> bool {
        true
    }

    tokio_postgres::types::to_sql_checked!();
}

#[tokio::test]
async fn uuid_bytea_json_and_jsonb_travel_in_binary() {
    let server = TestServer::start();
    let client = server.connect().await;
    client
        .batch_execute("CREATE TABLE bin (id uuid PRIMARY KEY, b bytea, j json, jb jsonb)")
        .await
        .unwrap();
    let id = RawBinary((1..=16).collect());
    let bytes: Vec<u8> = vec![0, 1, 255];
    let json = RawBinary(br#"{"a" : 1}"#.to_vec());
    let mut jsonb = vec![1u8];
    jsonb.extend_from_slice(br#"{"b":[1, 2.50], "a":null}"#);
    let jsonb = RawBinary(jsonb);
    let insert = client
        .prepare("INSERT INTO bin VALUES ($1, $2, $3, $4)")
        .await
        .unwrap();
    let types: Vec<u32> = insert.params().iter().map(Type::oid).collect();
    assert_eq!(types, [2950, 17, 114, 3802]);
    client
        .execute(&insert, &[&id, &bytes, &json, &jsonb])
        .await
        .unwrap();
    let row = client
        .query_one("SELECT id, b, j, jb FROM bin WHERE id = $1", &[&id])
        .await
        .unwrap();
    assert_eq!(row.get::<_, RawBinary>(0), id);
    assert_eq!(row.get::<_, Vec<u8>>(1), bytes);
    assert_eq!(row.get::<_, RawBinary>(2).0, br#"{"a" : 1}"#);
    let mut want = vec![1u8];
    want.extend_from_slice(br#"{"a": null, "b": [1, 2.50]}"#);
    assert_eq!(row.get::<_, RawBinary>(3).0, want);
    assert_eq!(
        rows_text(&client, "SELECT id, b, j, jb FROM bin").await,
        [r#"01020304-0506-0708-090a-0b0c0d0e0f10|\x0001ff|{"a" : 1}|{"a": null, "b": [1, 2.50]}"#]
    );
    // A uuid of the wrong length, and jsonb of an unknown version.
    let short = RawBinary(vec![1, 2, 3]);
    assert_sqlstate(
        client.query("SELECT $1::uuid", &[&short]).await,
        &SqlState::INVALID_BINARY_REPRESENTATION,
        "a 3-byte uuid",
    );
    let version2 = RawBinary(b"\x02{}".to_vec());
    assert_sqlstate(
        client.query("SELECT $1::jsonb", &[&version2]).await,
        &SqlState::INVALID_BINARY_REPRESENTATION,
        "jsonb version 2",
    );
}

#[tokio::test]
async fn arrays_travel_in_binary_both_ways() {
    let server = TestServer::start();
    let client = server.connect().await;
    client
        .batch_execute("CREATE TABLE tags (id int PRIMARY KEY, ns int[], words text[])")
        .await
        .unwrap();
    let insert = client
        .prepare("INSERT INTO tags VALUES ($1, $2, $3)")
        .await
        .unwrap();
    let types: Vec<u32> = insert.params().iter().map(Type::oid).collect();
    assert_eq!(types, [23, 1007, 1009]);
    let ns: Vec<Option<i32>> = vec![Some(3), None, Some(-1)];
    let words: Vec<String> = vec!["a b".into(), "".into(), "x\"y".into()];
    client
        .execute(&insert, &[&1i32, &ns, &words])
        .await
        .unwrap();
    let empty: Vec<i32> = vec![];
    client
        .execute(&insert, &[&2i32, &empty, &Vec::<String>::new()])
        .await
        .unwrap();
    let rows = client
        .query("SELECT ns, words FROM tags ORDER BY id", &[])
        .await
        .unwrap();
    assert_eq!(rows[0].get::<_, Vec<Option<i32>>>(0), ns);
    assert_eq!(rows[0].get::<_, Vec<String>>(1), words);
    assert_eq!(rows[1].get::<_, Vec<i32>>(0), empty);
    assert_eq!(
        rows_text(&client, "SELECT ns, words FROM tags ORDER BY id").await,
        [r#"{3,NULL,-1}|{"a b","","x\"y"}"#, "{}|{}"]
    );
    // = ANY with an array parameter.
    let found = client
        .query(
            "SELECT id FROM tags WHERE 3 = ANY($1::int[])",
            &[&vec![1i32, 3]],
        )
        .await
        .unwrap();
    assert_eq!(found.len(), 2);
}
