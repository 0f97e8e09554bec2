//! tokio-postgres works against Tessera unmodified: connect, DDL,
//! parameterised DML, every supported type in binary (`query` with typed
//! parameters, read with `try_get`) and in text (`simple_query`), numeric
//! NaN, infinities and more than 28 digits, a
//! transaction dropped (rolled back) and savepoints, errors and their
//! SQLSTATE, the query it runs to look up a type it does not know,
//! `copy_in`/`copy_out`, `CancelToken::cancel_query` on a running
//! `pg_sleep`, and portals read a few rows at a time. Two shards, so that
//! rows and transactions span shards.
//!
//! tokio-postgres is built without the chrono, uuid and serde_json
//! features here, so date, time, interval, uuid and json values travel as
//! their binary bytes ([`Raw`], [`Bin`]); the expected bytes are
//! PostgreSQL's (checked with `TESSERA_TEST_EXTERNAL_PG`).

use std::error::Error as StdError;
use std::io::Cursor;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use futures_util::{pin_mut, SinkExt, StreamExt};
use tessera_testkit::tokio_postgres::error::SqlState;
use tessera_testkit::tokio_postgres::types::private::BytesMut;
use tessera_testkit::tokio_postgres::types::{to_sql_checked, FromSql, IsNull, ToSql, Type};
use tessera_testkit::tokio_postgres::{Client, NoTls, SimpleQueryMessage};
use tessera_testkit::{assert_sqlstate, rows_text, PgNumeric, TestServer};

/// A value of any type as the bytes of its binary format.
#[derive(Debug, Clone, PartialEq)]
struct Raw(Vec<u8>);

impl<'a> FromSql<'a> for Raw {
    fn from_sql(_: &Type, raw: &'a [u8]) -> Result<Self, Box<dyn StdError + Sync + Send>> {
        Ok(Raw(raw.to_vec()))
    }

    fn accepts(_: &Type) -> bool {
        true
    }
}

/// A parameter of any type, sent as these bytes in the binary format.
#[derive(Debug, Clone)]
struct Bin(Vec<u8>);

impl ToSql for Bin {
    fn to_sql(
        &self,
        _: &Type,
        out: &mut BytesMut,
    ) -> Result<IsNull, Box<dyn StdError + Sync + Send>> {
        out.extend_from_slice(&self.0);
        Ok(IsNull::No)
    }

    fn accepts(_: &Type) -> bool {
        true
    }

    to_sql_checked!();
}

/// Days from 2000-01-01 (PostgreSQL's epoch) to 2024-02-29.
const LEAP_DAY_2024: i32 = 8825;
/// Seconds from the Unix epoch to PostgreSQL's.
const PG_EPOCH_SECS: u64 = 946_684_800;

fn date(days: i32) -> Vec<u8> {
    days.to_be_bytes().to_vec()
}

fn micros(us: i64) -> Vec<u8> {
    us.to_be_bytes().to_vec()
}

fn interval(us: i64, days: i32, months: i32) -> Vec<u8> {
    [
        us.to_be_bytes().as_slice(),
        &days.to_be_bytes(),
        &months.to_be_bytes(),
    ]
    .concat()
}

/// A `timestamp`/`timestamptz` `us` microseconds after 2000-01-01 00:00 UTC.
fn pg_time(us: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(PG_EPOCH_SECS) + Duration::from_micros(us)
}

const UUID: [u8; 16] = [
    0xa0, 0xee, 0xbc, 0x99, 0x9c, 0x0b, 0x4e, 0xf8, 0xbb, 0x6d, 0x6b, 0xb9, 0xbd, 0x38, 0x0a, 0x11,
];
const UUID_TEXT: &str = "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11";

const COLUMNS: &str = "i2 smallint, i4 integer, i8 bigint, num numeric(28,10), r4 real, \
    f8 double precision, txt text, vc varchar(10), ch char(5), b boolean, by bytea, d date, \
    t time, ts timestamp, tstz timestamptz, iv interval, u uuid, j json, jb jsonb, \
    ai4 int4[], ai8 int8[], atext text[], af8 float8[], anum numeric[], abool bool[], \
    adate date[], atstz timestamptz[], auuid uuid[]";
const NAMES: &str = "i2, i4, i8, num, r4, f8, txt, vc, ch, b, by, d, t, ts, tstz, iv, u, j, jb, \
    ai4, ai8, atext, af8, anum, abool, adate, atstz, auuid";

async fn simple_rows(client: &Client, sql: &str) -> Vec<Vec<Option<String>>> {
    let messages = client.simple_query(sql).await.expect(sql);
    messages
        .into_iter()
        .filter_map(|m| match m {
            SimpleQueryMessage::Row(row) => Some(
                (0..row.len())
                    .map(|i| row.get(i).map(str::to_string))
                    .collect(),
            ),
            _ => None,
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connect_ddl_dml_and_errors() {
    let server = TestServer::start_with_shards(2);
    let client = server.connect().await;
    let row = client
        .query_one("SELECT current_user, $1::int + 1", &[&41i32])
        .await
        .unwrap();
    assert_eq!(row.get::<_, String>(0), tessera_testkit::USER);
    assert_eq!(row.get::<_, i32>(1), 42);

    client
        .batch_execute(
            "CREATE TABLE accounts (id bigint PRIMARY KEY, owner text NOT NULL, \
             balance numeric(12,2) NOT NULL DEFAULT 0, tags text[]); \
             CREATE INDEX accounts_owner ON accounts (owner)",
        )
        .await
        .unwrap();
    let insert = client
        .prepare("INSERT INTO accounts (id, owner, balance, tags) VALUES ($1, $2, $3, $4)")
        .await
        .unwrap();
    assert_eq!(
        insert.params(),
        [Type::INT8, Type::TEXT, Type::NUMERIC, Type::TEXT_ARRAY]
    );
    for id in 1..=50i64 {
        let owner = format!("owner {}", id % 7);
        let balance = PgNumeric(format!("{}.{:02}", id * 10, id % 100));
        let tags = vec![Some(format!("t{}", id % 3)), None];
        let n = client
            .execute(&insert, &[&id, &owner, &balance, &tags])
            .await
            .unwrap();
        assert_eq!(n, 1);
    }
    let updated = client
        .execute(
            "UPDATE accounts SET balance = balance + $1 WHERE owner = $2",
            &[&PgNumeric("0.50".into()), &"owner 3"],
        )
        .await
        .unwrap();
    assert_eq!(updated, 7);
    let deleted = client
        .execute("DELETE FROM accounts WHERE id > $1", &[&40i64])
        .await
        .unwrap();
    assert_eq!(deleted, 10);
    let row = client
        .query_one(
            "SELECT count(*), sum(balance), max(id) FROM accounts WHERE $1 = ANY(tags)",
            &[&"t1"],
        )
        .await
        .unwrap();
    assert_eq!(row.get::<_, i64>(0), 14);
    assert_eq!(row.get::<_, PgNumeric>(1), PgNumeric("2873.87".into()));
    assert_eq!(row.get::<_, i64>(2), 40);
    let row = client
        .query_one(
            "SELECT owner, balance, tags FROM accounts WHERE id = $1",
            &[&10i64],
        )
        .await
        .unwrap();
    assert_eq!(row.get::<_, &str>(0), "owner 3");
    assert_eq!(row.get::<_, PgNumeric>(1), PgNumeric("100.60".into()));
    assert_eq!(
        row.get::<_, Vec<Option<String>>>(2),
        [Some("t1".to_string()), None]
    );

    // Errors carry their SQLSTATE; the client goes on working.
    let dup = client
        .execute(
            &insert,
            &[&1i64, &"x", &PgNumeric("1".into()), &None::<Vec<String>>],
        )
        .await;
    let message = assert_sqlstate(dup, &SqlState::UNIQUE_VIOLATION, "duplicate key");
    assert!(message.contains("accounts_pkey"), "{message}");
    assert_sqlstate(
        client.query("SELECT 1 / $1", &[&0i32]).await,
        &SqlState::DIVISION_BY_ZERO,
        "division by zero",
    );
    assert_sqlstate(
        client.query("SELECT * FROM no_such_table", &[]).await,
        &SqlState::UNDEFINED_TABLE,
        "undefined table",
    );
    assert_sqlstate(
        client.prepare("SELEC 1").await,
        &SqlState::SYNTAX_ERROR,
        "syntax error",
    );
    assert_sqlstate(
        client
            .execute(
                "INSERT INTO accounts (id, owner) VALUES ($1, NULL)",
                &[&99i64],
            )
            .await,
        &SqlState::NOT_NULL_VIOLATION,
        "not null",
    );
    let e = client
        .query("SELECT 'twelve'::int", &[])
        .await
        .expect_err("bad input");
    assert_eq!(e.code(), Some(&SqlState::INVALID_TEXT_REPRESENTATION));
    assert_eq!(
        rows_text(&client, "SELECT count(*) FROM accounts").await,
        ["40"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_type_in_binary_and_in_text() {
    let server = TestServer::start_with_shards(2);
    let client = server.connect().await;
    // Text output of timestamptz depends on it; PostgreSQL's default is
    // the machine's zone.
    client.batch_execute("SET TimeZone = 'UTC'").await.unwrap();
    client
        .batch_execute(&format!(
            "CREATE TABLE alltypes (id int PRIMARY KEY, {COLUMNS})"
        ))
        .await
        .unwrap();
    let insert = client
        .prepare(&format!(
            "INSERT INTO alltypes (id, {NAMES}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, \
             $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23, $24, $25, \
             $26, $27, $28, $29)"
        ))
        .await
        .unwrap();
    let ts = pg_time((LEAP_DAY_2024 as u64 * 86_400 + 45_296) * 1_000_000 + 789_012);
    let tstz = pg_time((LEAP_DAY_2024 as u64 * 86_400 + 38_096) * 1_000_000 + 789_000);
    let jsonb: Vec<u8> = [
        b"\x01".as_slice(),
        br#"{"z": 1, "a": {"nested": [true, false, null]}}"#,
    ]
    .concat();
    // 2024-01-01, and 1999-12-31 23:59:59.5: half a second before
    // PostgreSQL's epoch.
    let before_epoch = UNIX_EPOCH + Duration::from_secs(PG_EPOCH_SECS) - Duration::from_millis(500);
    let atstz = vec![Some(pg_time(8766 * 86_400_000_000)), Some(before_epoch)];
    let row1: [&(dyn ToSql + Sync); 29] = [
        &1i32,
        &i16::MIN,
        &i32::MAX,
        &i64::MIN,
        &PgNumeric("-123456789012345678.1234567890".into()),
        &3.25f32,
        &-1.5e300f64,
        &"héllo wörld ✓ 日本 🎉",
        &"abc",
        &"ab",
        &true,
        &vec![0u8, 1, 255, 0],
        &Bin(date(LEAP_DAY_2024)),
        &Bin(micros(86_399_999_999)),
        &ts,
        &tstz,
        &Bin(interval(14_706_500_000, 3, 14)),
        &Bin(UUID.to_vec()),
        &Bin(br#"{"a":[1,2.5,"x"],"b":null}"#.to_vec()),
        &Bin(jsonb),
        &vec![Some(1i32), None, Some(-3)],
        &vec![Some(i64::MAX), None],
        &vec![
            Some("a"),
            Some("b c"),
            Some("\"q\""),
            Some("NULL"),
            Some(""),
            None,
            Some("ü\\,{}"),
        ],
        &vec![1.5f64, -0.25, f64::NAN, f64::INFINITY],
        &vec![
            Some(PgNumeric("1.10".into())),
            Some(PgNumeric("-99999999999999999999.99".into())),
            None,
        ],
        &vec![Some(true), Some(false), None],
        &vec![Some(Bin(date(8766))), None],
        &atstz,
        &vec![Some(Bin(UUID.to_vec())), None],
    ];
    assert_eq!(client.execute(&insert, &row1).await.unwrap(), 1);
    let empty_i32: Vec<i32> = vec![];
    let empty_i64: Vec<i64> = vec![];
    let empty_text: Vec<String> = vec![];
    let empty_f64: Vec<f64> = vec![];
    let empty_num: Vec<PgNumeric> = vec![];
    let empty_bool: Vec<bool> = vec![];
    let empty_raw: Vec<Bin> = vec![];
    let empty_time: Vec<SystemTime> = vec![];
    let row2: [&(dyn ToSql + Sync); 29] = [
        &2i32,
        &i16::MAX,
        &i32::MIN,
        &i64::MAX,
        &PgNumeric("0".into()),
        &f32::INFINITY,
        &f64::NAN,
        &"",
        &"",
        &"",
        &false,
        &Vec::<u8>::new(),
        &Bin(date(i32::MIN)),
        &Bin(micros(0)),
        &Bin(micros(i64::MAX)),
        &Bin(micros(i64::MIN)),
        &Bin(interval(-1_000_000, -1, 0)),
        &Bin(vec![0; 16]),
        &Bin(b"[]".to_vec()),
        &Bin(b"\x01{}".to_vec()),
        &empty_i32,
        &empty_i64,
        &empty_text,
        &empty_f64,
        &empty_num,
        &empty_bool,
        &empty_raw,
        &empty_time,
        &empty_raw,
    ];
    assert_eq!(client.execute(&insert, &row2).await.unwrap(), 1);
    let row3: [&(dyn ToSql + Sync); 29] = [
        &3i32,
        &None::<i16>,
        &None::<i32>,
        &None::<i64>,
        &None::<PgNumeric>,
        &None::<f32>,
        &None::<f64>,
        &None::<&str>,
        &None::<&str>,
        &None::<&str>,
        &None::<bool>,
        &None::<Vec<u8>>,
        &None::<Bin>,
        &None::<Bin>,
        &None::<SystemTime>,
        &None::<SystemTime>,
        &None::<Bin>,
        &None::<Bin>,
        &None::<Bin>,
        &None::<Bin>,
        &None::<Vec<i32>>,
        &None::<Vec<i64>>,
        &None::<Vec<String>>,
        &None::<Vec<f64>>,
        &None::<Vec<PgNumeric>>,
        &None::<Vec<bool>>,
        &None::<Vec<Bin>>,
        &None::<Vec<SystemTime>>,
        &None::<Vec<Bin>>,
    ];
    assert_eq!(client.execute(&insert, &row3).await.unwrap(), 1);

    // Binary results.
    let rows = client
        .query(&format!("SELECT {NAMES} FROM alltypes ORDER BY id"), &[])
        .await
        .unwrap();
    assert_eq!(rows.len(), 3);
    let r = &rows[0];
    let types: Vec<&Type> = r.columns().iter().map(|c| c.type_()).collect();
    assert_eq!(
        types,
        [
            &Type::INT2,
            &Type::INT4,
            &Type::INT8,
            &Type::NUMERIC,
            &Type::FLOAT4,
            &Type::FLOAT8,
            &Type::TEXT,
            &Type::VARCHAR,
            &Type::BPCHAR,
            &Type::BOOL,
            &Type::BYTEA,
            &Type::DATE,
            &Type::TIME,
            &Type::TIMESTAMP,
            &Type::TIMESTAMPTZ,
            &Type::INTERVAL,
            &Type::UUID,
            &Type::JSON,
            &Type::JSONB,
            &Type::INT4_ARRAY,
            &Type::INT8_ARRAY,
            &Type::TEXT_ARRAY,
            &Type::FLOAT8_ARRAY,
            &Type::NUMERIC_ARRAY,
            &Type::BOOL_ARRAY,
            &Type::DATE_ARRAY,
            &Type::TIMESTAMPTZ_ARRAY,
            &Type::UUID_ARRAY,
        ]
    );
    assert_eq!(r.get::<_, i16>("i2"), i16::MIN);
    assert_eq!(r.get::<_, i32>("i4"), i32::MAX);
    assert_eq!(r.get::<_, i64>("i8"), i64::MIN);
    assert_eq!(
        r.get::<_, PgNumeric>("num"),
        PgNumeric("-123456789012345678.1234567890".into())
    );
    assert_eq!(r.get::<_, f32>("r4"), 3.25);
    assert_eq!(r.get::<_, f64>("f8"), -1.5e300);
    assert_eq!(r.get::<_, &str>("txt"), "héllo wörld ✓ 日本 🎉");
    assert_eq!(r.get::<_, &str>("vc"), "abc");
    assert_eq!(r.get::<_, &str>("ch"), "ab   ");
    assert!(r.get::<_, bool>("b"));
    assert_eq!(r.get::<_, Vec<u8>>("by"), [0, 1, 255, 0]);
    assert_eq!(r.get::<_, Raw>("d"), Raw(date(LEAP_DAY_2024)));
    assert_eq!(r.get::<_, Raw>("t"), Raw(micros(86_399_999_999)));
    assert_eq!(r.get::<_, SystemTime>("ts"), ts);
    assert_eq!(r.get::<_, SystemTime>("tstz"), tstz);
    assert_eq!(r.get::<_, Raw>("iv"), Raw(interval(14_706_500_000, 3, 14)));
    assert_eq!(r.get::<_, Raw>("u"), Raw(UUID.to_vec()));
    assert_eq!(
        r.get::<_, Raw>("j"),
        Raw(br#"{"a":[1,2.5,"x"],"b":null}"#.to_vec())
    );
    assert_eq!(
        r.get::<_, Raw>("jb"),
        Raw([
            b"\x01".as_slice(),
            br#"{"a": {"nested": [true, false, null]}, "z": 1}"#
        ]
        .concat())
    );
    assert_eq!(
        r.get::<_, Vec<Option<i32>>>("ai4"),
        [Some(1), None, Some(-3)]
    );
    assert_eq!(r.get::<_, Vec<Option<i64>>>("ai8"), [Some(i64::MAX), None]);
    assert_eq!(
        r.get::<_, Vec<Option<&str>>>("atext"),
        [
            Some("a"),
            Some("b c"),
            Some("\"q\""),
            Some("NULL"),
            Some(""),
            None,
            Some("ü\\,{}")
        ]
    );
    let af8 = r.get::<_, Vec<f64>>("af8");
    assert_eq!(af8.len(), 4);
    assert_eq!((af8[0], af8[1], af8[3]), (1.5, -0.25, f64::INFINITY));
    assert!(af8[2].is_nan());
    assert_eq!(
        r.get::<_, Vec<Option<PgNumeric>>>("anum"),
        [
            Some(PgNumeric("1.10".into())),
            Some(PgNumeric("-99999999999999999999.99".into())),
            None
        ]
    );
    assert_eq!(
        r.get::<_, Vec<Option<bool>>>("abool"),
        [Some(true), Some(false), None]
    );
    assert_eq!(
        r.get::<_, Vec<Option<Raw>>>("adate"),
        [Some(Raw(date(8766))), None]
    );
    assert_eq!(
        r.get::<_, Vec<Option<SystemTime>>>("atstz"),
        [Some(pg_time(8766 * 86_400_000_000)), Some(before_epoch)]
    );
    assert_eq!(
        r.get::<_, Vec<Option<Raw>>>("auuid"),
        [Some(Raw(UUID.to_vec())), None]
    );

    let r = &rows[1];
    assert_eq!(r.get::<_, i16>("i2"), i16::MAX);
    assert_eq!(r.get::<_, i32>("i4"), i32::MIN);
    assert_eq!(r.get::<_, i64>("i8"), i64::MAX);
    assert_eq!(
        r.get::<_, PgNumeric>("num"),
        PgNumeric("0.0000000000".into())
    );
    assert_eq!(r.get::<_, f32>("r4"), f32::INFINITY);
    assert!(r.get::<_, f64>("f8").is_nan());
    assert_eq!(r.get::<_, &str>("txt"), "");
    assert_eq!(r.get::<_, &str>("vc"), "");
    assert_eq!(r.get::<_, &str>("ch"), "     ");
    assert!(!r.get::<_, bool>("b"));
    assert_eq!(r.get::<_, Vec<u8>>("by"), Vec::<u8>::new());
    assert_eq!(r.get::<_, Raw>("d"), Raw(date(i32::MIN)));
    assert_eq!(r.get::<_, Raw>("t"), Raw(micros(0)));
    assert_eq!(r.get::<_, Raw>("ts"), Raw(micros(i64::MAX)));
    assert_eq!(r.get::<_, Raw>("tstz"), Raw(micros(i64::MIN)));
    assert_eq!(r.get::<_, Raw>("iv"), Raw(interval(-1_000_000, -1, 0)));
    assert_eq!(r.get::<_, Raw>("u"), Raw(vec![0; 16]));
    assert_eq!(r.get::<_, Raw>("j"), Raw(b"[]".to_vec()));
    assert_eq!(r.get::<_, Raw>("jb"), Raw(b"\x01{}".to_vec()));
    assert_eq!(r.get::<_, Vec<i32>>("ai4"), empty_i32);
    assert_eq!(
        r.get::<_, Vec<Option<&str>>>("atext"),
        Vec::<Option<&str>>::new()
    );
    assert_eq!(r.get::<_, Vec<Raw>>("auuid"), Vec::<Raw>::new());
    // The empty array's own bytes: no dimensions, no NULLs, the element type.
    assert_eq!(
        r.get::<_, Raw>("anum"),
        Raw([0u32, 0, 1700]
            .iter()
            .flat_map(|n| n.to_be_bytes())
            .collect())
    );

    let r = &rows[2];
    for i in 0..r.len() {
        assert_eq!(
            r.get::<_, Option<Raw>>(i),
            None,
            "column {i} of the NULL row"
        );
    }

    // Text results (simple protocol).
    let text = simple_rows(
        &client,
        &format!("SELECT {NAMES} FROM alltypes ORDER BY id"),
    )
    .await;
    let some = |s: &str| Some(s.to_string());
    assert_eq!(
        text[0],
        [
            some("-32768"),
            some("2147483647"),
            some("-9223372036854775808"),
            some("-123456789012345678.1234567890"),
            some("3.25"),
            some("-1.5e+300"),
            some("héllo wörld ✓ 日本 🎉"),
            some("abc"),
            some("ab   "),
            some("t"),
            some("\\x0001ff00"),
            some("2024-02-29"),
            some("23:59:59.999999"),
            some("2024-02-29 12:34:56.789012"),
            some("2024-02-29 10:34:56.789+00"),
            some("1 year 2 mons 3 days 04:05:06.5"),
            some(UUID_TEXT),
            some(r#"{"a":[1,2.5,"x"],"b":null}"#),
            some(r#"{"a": {"nested": [true, false, null]}, "z": 1}"#),
            some("{1,NULL,-3}"),
            some("{9223372036854775807,NULL}"),
            some(r#"{a,"b c","\"q\"","NULL","",NULL,"ü\\,{}"}"#),
            some("{1.5,-0.25,NaN,Infinity}"),
            some("{1.10,-99999999999999999999.99,NULL}"),
            some("{t,f,NULL}"),
            some("{2024-01-01,NULL}"),
            some(r#"{"2024-01-01 00:00:00+00","1999-12-31 23:59:59.5+00"}"#),
            some(&format!("{{{UUID_TEXT},NULL}}")),
        ]
    );
    assert_eq!(
        text[1],
        [
            some("32767"),
            some("-2147483648"),
            some("9223372036854775807"),
            some("0.0000000000"),
            some("Infinity"),
            some("NaN"),
            some(""),
            some(""),
            some("     "),
            some("f"),
            some("\\x"),
            some("-infinity"),
            some("00:00:00"),
            some("infinity"),
            some("-infinity"),
            some("-1 days -00:00:01"),
            some("00000000-0000-0000-0000-000000000000"),
            some("[]"),
            some("{}"),
            some("{}"),
            some("{}"),
            some("{}"),
            some("{}"),
            some("{}"),
            some("{}"),
            some("{}"),
            some("{}"),
            some("{}"),
        ]
    );
    assert_eq!(text[2], vec![None; 28]);

    // Each row is found again by its own values as binary parameters.
    for (id, row) in [(1, &row1[1..]), (2, &row2[1..])] {
        let found = client
            .query(
                "SELECT id FROM alltypes WHERE i2 = $1 AND i4 = $2 AND i8 = $3 AND num = $4 \
                 AND r4 = $5 AND txt = $6 AND vc = $7 AND ch = $8 AND b = $9 AND by = $10 \
                 AND d = $11 AND t = $12 AND ts = $13 AND tstz = $14 AND iv = $15 AND u = $16 \
                 AND jb = $17 AND ai4 = $18 AND atext = $19 AND abool = $20 AND auuid = $21",
                &[
                    row[0], row[1], row[2], row[3], row[4], row[6], row[7], row[8], row[9],
                    row[10], row[11], row[12], row[13], row[14], row[15], row[16], row[18],
                    row[19], row[21], row[24], row[27],
                ],
            )
            .await
            .unwrap();
        assert_eq!(found.len(), 1, "row {id}");
        assert_eq!(found[0].get::<_, i32>(0), id);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn numeric_beyond_28_digits_nan_and_infinities() {
    const VALUES: [&str; 6] = [
        "NaN",
        "Infinity",
        "-Infinity",
        "-12345678901234567890123456789012345678.000000000000000000001",
        "0.000000000000000000000000000001",
        "123456789012345678901234567890",
    ];
    let server = TestServer::start_with_shards(2);
    let client = server.connect().await;
    client
        .batch_execute("CREATE TABLE nums (id int PRIMARY KEY, n numeric)")
        .await
        .unwrap();
    for (id, v) in VALUES.iter().enumerate() {
        // PgNumeric encodes digits only; the special values' binary form
        // is no digits, weight 0, their sign word, scale 0.
        let special = |sign: u16| Bin([0, 0, 0, 0, (sign >> 8) as u8, 0, 0, 0].to_vec());
        let value: Box<dyn ToSql + Sync> = match *v {
            "NaN" => Box::new(special(0xC000)),
            "Infinity" => Box::new(special(0xD000)),
            "-Infinity" => Box::new(special(0xF000)),
            digits => Box::new(PgNumeric(digits.to_string())),
        };
        client
            .execute("INSERT INTO nums VALUES ($1, $2)", &[&(id as i32), &*value])
            .await
            .unwrap();
    }
    let binary: Vec<PgNumeric> = client
        .query("SELECT n FROM nums ORDER BY id", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(binary, VALUES.map(|v| PgNumeric(v.to_string())).to_vec());
    let text = simple_rows(&client, "SELECT n FROM nums ORDER BY id").await;
    assert_eq!(text, VALUES.map(|v| vec![Some(v.to_string())]).to_vec());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transactions_and_savepoints() {
    let server = TestServer::start_with_shards(2);
    let mut client = server.connect().await;
    client
        .batch_execute("CREATE TABLE ledger (id int PRIMARY KEY, note text)")
        .await
        .unwrap();
    {
        let tx = client.transaction().await.unwrap();
        for id in 1..=10 {
            tx.execute("INSERT INTO ledger VALUES ($1, 'dropped')", &[&id])
                .await
                .unwrap();
        }
        let n: i64 = tx
            .query_one("SELECT count(*) FROM ledger", &[])
            .await
            .unwrap()
            .get(0);
        assert_eq!(n, 10);
        // Dropped without commit: rolled back.
    }
    assert_eq!(
        rows_text(&client, "SELECT count(*) FROM ledger").await,
        ["0"]
    );

    let mut tx = client.transaction().await.unwrap();
    tx.execute("INSERT INTO ledger VALUES (1, 'outer')", &[])
        .await
        .unwrap();
    {
        let mut inner = tx.savepoint("undone").await.unwrap();
        inner
            .execute("INSERT INTO ledger VALUES (2, 'inner')", &[])
            .await
            .unwrap();
        {
            let deeper = inner.transaction().await.unwrap();
            deeper
                .execute("INSERT INTO ledger VALUES (3, 'deeper')", &[])
                .await
                .unwrap();
            deeper.commit().await.unwrap();
        }
        inner.rollback().await.unwrap();
    }
    {
        let inner = tx.transaction().await.unwrap();
        inner
            .execute("INSERT INTO ledger VALUES (4, 'kept')", &[])
            .await
            .unwrap();
        // An error inside the savepoint, then rolled back to it: the outer
        // transaction goes on.
        assert_sqlstate(
            inner
                .execute("INSERT INTO ledger VALUES (1, 'duplicate')", &[])
                .await,
            &SqlState::UNIQUE_VIOLATION,
            "duplicate in a savepoint",
        );
        inner.rollback().await.unwrap();
    }
    {
        let inner = tx.transaction().await.unwrap();
        inner
            .execute("INSERT INTO ledger VALUES (5, 'committed')", &[])
            .await
            .unwrap();
        inner.commit().await.unwrap();
    }
    tx.commit().await.unwrap();
    assert_eq!(
        rows_text(&client, "SELECT id, note FROM ledger ORDER BY id").await,
        ["1|outer", "5|committed"]
    );

    // A failed transaction refuses commands until it ends.
    let tx = client.transaction().await.unwrap();
    assert_sqlstate(
        tx.query("SELECT 1 / 0", &[]).await,
        &SqlState::DIVISION_BY_ZERO,
        "in a transaction",
    );
    assert_sqlstate(
        tx.query("SELECT 1", &[]).await,
        &SqlState::IN_FAILED_SQL_TRANSACTION,
        "after the error",
    );
    tx.rollback().await.unwrap();
    assert_eq!(
        rows_text(&client, "SELECT count(*) FROM ledger").await,
        ["2"]
    );
}

/// tokio-postgres looks up a type oid it does not know with this query
/// (its `TYPEINFO_QUERY`). Tessera has only built-in types, which the
/// client knows without asking, so the client never sends it; here it
/// runs as the client would send it, for a built-in oid.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_unknown_type_lookup_query() {
    const TYPEINFO_QUERY: &str = "\
SELECT t.typname, t.typtype, t.typelem, r.rngsubtype, t.typbasetype, n.nspname, t.typrelid
FROM pg_catalog.pg_type t
LEFT OUTER JOIN pg_catalog.pg_range r ON r.rngtypid = t.oid
INNER JOIN pg_catalog.pg_namespace n ON t.typnamespace = n.oid
WHERE t.oid = $1
";
    let server = TestServer::start_with_shards(2);
    let client = server.connect().await;
    let statement = client.prepare(TYPEINFO_QUERY).await.unwrap();
    assert_eq!(statement.params(), [Type::OID]);
    for (oid, name, elem) in [
        (Type::REGCLASS.oid(), "regclass", 0u32),
        (Type::INT4_ARRAY.oid(), "_int4", Type::INT4.oid()),
        (Type::UUID.oid(), "uuid", 0),
    ] {
        let row = client.query_one(&statement, &[&oid]).await.unwrap();
        assert_eq!(row.get::<_, String>(0), name);
        // typtype is "char", which the driver reads as i8.
        assert_eq!(row.get::<_, i8>(1), b'b' as i8, "{name}");
        assert_eq!(row.get::<_, u32>(2), elem, "{name}");
        assert_eq!(row.get::<_, Option<u32>>(3), None, "{name}");
        assert_eq!(row.get::<_, u32>(4), 0, "{name}");
        assert_eq!(row.get::<_, String>(5), "pg_catalog");
        assert_eq!(row.get::<_, u32>(6), 0, "{name}");
    }
    assert!(client
        .query(&statement, &[&999_999u32])
        .await
        .unwrap()
        .is_empty());
}

/// The catalog's own types as the driver reads them in binary: `name`
/// (String), `"char"` (i8), `int2vector` and `oidvector` (arrays, whose
/// binary form is an array's with subscripts from 0), and `"char"` and
/// `name` parameters.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn catalog_types_in_binary() {
    let server = TestServer::start_with_shards(2);
    let client = server.connect().await;
    client
        .batch_execute(
            "CREATE TABLE kinds (a int PRIMARY KEY, b text, c int);
             CREATE INDEX kinds_cb ON kinds (c, b DESC)",
        )
        .await
        .unwrap();
    let row = client
        .query_one(
            "SELECT c.relname, c.relkind, i.indkey, i.indoption, i.indkey[0] \
             FROM pg_class c JOIN pg_index i ON i.indexrelid = c.oid \
             WHERE c.relname = 'kinds_cb' AND c.relkind = 'i'",
            &[],
        )
        .await
        .unwrap();
    let types: Vec<Type> = row.columns().iter().map(|c| c.type_().clone()).collect();
    assert_eq!(
        types,
        [
            Type::NAME,
            Type::CHAR,
            Type::INT2_VECTOR,
            Type::INT2_VECTOR,
            Type::INT2
        ]
    );
    assert_eq!(row.get::<_, String>(0), "kinds_cb");
    assert_eq!(row.get::<_, i8>(1), b'i' as i8);
    assert_eq!(row.get::<_, Vec<i16>>(2), [3, 2]);
    assert_eq!(row.get::<_, Vec<i16>>(3), [0, 3]);
    assert_eq!(row.get::<_, i16>(4), 3);
    // The bytes are int2vectorsend's: one dimension, no NULLs, int2,
    // two elements from subscript 0.
    let raw = client
        .query_one(
            "SELECT indkey FROM pg_index WHERE indexrelid = 'kinds_cb'::regclass",
            &[],
        )
        .await
        .unwrap()
        .get::<_, Raw>(0);
    assert_eq!(
        raw.0,
        [
            0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 21, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 2, 0, 3, 0, 0, 0,
            2, 0, 2
        ]
    );
    let row = client
        .query_one(
            "SELECT proargtypes FROM pg_proc WHERE proname = 'format_type'",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(row.columns()[0].type_(), &Type::OID_VECTOR);
    assert_eq!(row.get::<_, Vec<u32>>(0), [26, 23]);
    // Parameters: "char" as one byte, name as its bytes. Text input cuts
    // a name to 63 bytes; binary input refuses a longer one.
    let row = client
        .query_one(
            "SELECT $1::\"char\", $1::\"char\"::int, $2::name, repeat('n', 70)::name",
            &[&(-61i8), &"kinds"],
        )
        .await
        .unwrap();
    assert_eq!(row.get::<_, i8>(0), -61);
    assert_eq!(row.get::<_, i32>(1), -61);
    assert_eq!(row.get::<_, String>(2), "kinds");
    assert_eq!(row.get::<_, String>(3), "n".repeat(63));
    assert_sqlstate(
        client.query("SELECT $1::name", &[&"n".repeat(64)]).await,
        &SqlState::NAME_TOO_LONG,
        "a 64-byte name in binary",
    );
    assert_sqlstate(
        client
            .query("SELECT $1::\"char\"", &[&Bin(vec![1, 2])])
            .await,
        &SqlState::INVALID_BINARY_REPRESENTATION,
        "two bytes for a \"char\"",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copy_in_and_copy_out() {
    let server = TestServer::start_with_shards(2);
    let client = server.connect().await;
    client
        .batch_execute("CREATE TABLE items (id int PRIMARY KEY, name text, price numeric(8,2))")
        .await
        .unwrap();
    let mut data = Vec::new();
    for id in 1..=2000 {
        data.extend_from_slice(format!("{id}\titem {id}\t{}.{:02}\n", id, id % 100).as_bytes());
    }
    data.extend_from_slice(b"2001\t\\N\t\\N\n2002\tt\\tab \xc3\xbc\t0\n");
    let sink = client
        .copy_in::<_, Cursor<Vec<u8>>>("COPY items FROM STDIN")
        .await
        .unwrap();
    pin_mut!(sink);
    // In two pieces, the second starting mid-row.
    let cut = data.len() / 2 + 3;
    sink.send(Cursor::new(data[..cut].to_vec())).await.unwrap();
    sink.send(Cursor::new(data[cut..].to_vec())).await.unwrap();
    assert_eq!(sink.finish().await.unwrap(), 2002);
    assert_eq!(
        rows_text(
            &client,
            "SELECT count(*), sum(price), max(id) FROM items WHERE id <= 2000"
        )
        .await,
        ["2000|2001990.00|2000"]
    );
    assert_eq!(
        rows_text(
            &client,
            "SELECT id, name, price FROM items WHERE id > 2000 ORDER BY id"
        )
        .await,
        ["2001|NULL|NULL", "2002|t\tab ü|0.00"]
    );

    // A bad row fails the whole COPY; nothing of it stays.
    let sink = client
        .copy_in::<_, Cursor<Vec<u8>>>("COPY items (id, name) FROM STDIN (FORMAT csv)")
        .await
        .unwrap();
    pin_mut!(sink);
    sink.send(Cursor::new(b"3000,fine\nnot a number,bad\n".to_vec()))
        .await
        .unwrap();
    let error = sink.finish().await.expect_err("a bad row");
    assert_eq!(error.code(), Some(&SqlState::INVALID_TEXT_REPRESENTATION));
    assert_eq!(
        rows_text(&client, "SELECT count(*) FROM items").await,
        ["2002"]
    );

    let stream = client
        .copy_out("COPY (SELECT id, name, price FROM items WHERE id > 1995 ORDER BY id) TO STDOUT (FORMAT csv, HEADER)")
        .await
        .unwrap();
    pin_mut!(stream);
    let mut out = Vec::new();
    while let Some(chunk) = stream.next().await {
        out.extend_from_slice(&chunk.unwrap());
    }
    assert_eq!(
        String::from_utf8(out).unwrap(),
        "id,name,price\n1996,item 1996,1996.96\n1997,item 1997,1997.97\n\
         1998,item 1998,1998.98\n1999,item 1999,1999.99\n2000,item 2000,2000.00\n\
         2001,,\n2002,t\tab ü,0.00\n"
    );

    // The whole table in binary COPY format: header, 2002 tuples, trailer.
    let stream = client
        .copy_out("COPY items TO STDOUT (FORMAT binary)")
        .await
        .unwrap();
    pin_mut!(stream);
    let mut out = Vec::new();
    while let Some(chunk) = stream.next().await {
        out.extend_from_slice(&chunk.unwrap());
    }
    assert_eq!(&out[..11], b"PGCOPY\n\xff\r\n\0");
    assert_eq!(&out[out.len() - 2..], &(-1i16).to_be_bytes());
    let mut at = 19; // signature, flags, header extension length
    let mut tuples = 0;
    while at < out.len() - 2 {
        let fields = i16::from_be_bytes([out[at], out[at + 1]]);
        assert_eq!(fields, 3);
        at += 2;
        for _ in 0..fields {
            let len = i32::from_be_bytes(out[at..at + 4].try_into().unwrap());
            at += 4 + len.max(0) as usize;
        }
        tuples += 1;
    }
    assert_eq!(tuples, 2002);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_a_running_pg_sleep() {
    let server = TestServer::start_with_shards(2);
    let client = server.connect().await;
    let token = client.cancel_token();
    let watcher = server.connect().await;
    let canceller = tokio::spawn(async move {
        // Cancel once the sleep is running, not while it is being prepared.
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let running: i64 = watcher
                .query_one(
                    "SELECT count(*) FROM pg_stat_activity \
                     WHERE state = 'active' AND query = 'SELECT pg_sleep(60)'",
                    &[],
                )
                .await
                .unwrap()
                .get(0);
            if running == 1 {
                break;
            }
            assert!(Instant::now() < deadline, "pg_sleep never ran");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        token.cancel_query(NoTls).await.unwrap();
    });
    let started = Instant::now();
    let message = assert_sqlstate(
        client.query("SELECT pg_sleep(60)", &[]).await,
        &SqlState::QUERY_CANCELED,
        "cancelled pg_sleep",
    );
    assert_eq!(message, "canceling statement due to user request");
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "the cancel took {:?}",
        started.elapsed()
    );
    canceller.await.unwrap();
    // The session goes on; pg_sleep returns void, which tokio-postgres
    // knows as a type.
    let row = client
        .query_one("SELECT pg_sleep(0.05)", &[])
        .await
        .unwrap();
    assert_eq!(row.columns()[0].type_(), &Type::VOID);
    assert_eq!(row.get::<_, Raw>(0), Raw(vec![]));
    if !server.is_external() {
        // Tessera sleeps after a statement has run, so one that writes
        // may not sleep (PostgreSQL allows it).
        assert_sqlstate(
            client
                .query("CREATE TABLE t AS SELECT pg_sleep(0.01)", &[])
                .await,
            &SqlState::FEATURE_NOT_SUPPORTED,
            "pg_sleep in a write",
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn portals_with_a_row_limit() {
    let server = TestServer::start_with_shards(2);
    let mut client = server.connect().await;
    client
        .batch_execute(
            "CREATE TABLE events (id int PRIMARY KEY, kind text); \
             INSERT INTO events SELECT g, CASE WHEN g % 3 = 0 THEN 'x' ELSE 'y' END \
             FROM generate_series(1, 100) g",
        )
        .await
        .unwrap();
    let tx = client.transaction().await.unwrap();
    let statement = tx
        .prepare("SELECT id FROM events WHERE kind = $1 ORDER BY id")
        .await
        .unwrap();
    let portal = tx.bind(&statement, &[&"x"]).await.unwrap();
    let mut sizes = Vec::new();
    let mut ids = Vec::new();
    loop {
        let rows = tx.query_portal(&portal, 10).await.unwrap();
        if rows.is_empty() {
            break;
        }
        sizes.push(rows.len());
        ids.extend(rows.iter().map(|r| r.get::<_, i32>(0)));
    }
    assert_eq!(sizes, [10, 10, 10, 3]);
    assert_eq!(ids, (1..=33).map(|i| i * 3).collect::<Vec<i32>>());
    // Two portals of one statement read independently.
    let a = tx.bind(&statement, &[&"y"]).await.unwrap();
    let b = tx.bind(&statement, &[&"y"]).await.unwrap();
    let first_a = tx.query_portal(&a, 5).await.unwrap();
    let first_b = tx.query_portal(&b, 2).await.unwrap();
    let next_a = tx.query_portal(&a, 5).await.unwrap();
    let ids = |rows: &[tessera_testkit::tokio_postgres::Row]| -> Vec<i32> {
        rows.iter().map(|r| r.get(0)).collect()
    };
    assert_eq!(ids(&first_a), [1, 2, 4, 5, 7]);
    assert_eq!(ids(&first_b), [1, 2]);
    assert_eq!(ids(&next_a), [8, 10, 11, 13, 14]);
    tx.commit().await.unwrap();
}
