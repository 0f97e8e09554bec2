//! Dates, times, timestamps, intervals and `char(n)` end to end, through
//! real clients: tokio-postgres with binary results and parameters (values
//! checked as the integers on the wire), the simple protocol's text, `psql`,
//! and `pgbench`'s own tables and TPC-B script. Every type is a column and a
//! primary key; rows are ordered and filtered through keys and an index;
//! `now()` is one value across the shards of a statement and a
//! transaction; the session time zone changes `timestamptz` text and is
//! reported; bad input gets PostgreSQL's SQLSTATEs and messages.
//!
//! The expected outputs are PostgreSQL 15's: the file passes unchanged with
//! `TESSERA_TEST_EXTERNAL_PG=HOST:PORT`.

use std::error::Error as StdError;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use tessera_testkit::tokio_postgres::types::private::BytesMut;
use tessera_testkit::tokio_postgres::types::{to_sql_checked, FromSql, IsNull, ToSql, Type};
use tessera_testkit::{assert_sqlstate, find_program, rows_text, TestServer};
use tokio_postgres::error::SqlState;
use tokio_postgres::Client;

// ---- binary values as their wire integers ------------------------------------

/// `date`: days since 2000-01-01 (i32::MAX is infinity).
#[derive(Debug, Clone, Copy, PartialEq)]
struct Date(i32);
/// `time`: microseconds since midnight.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Time(i64);
/// `timestamp`: microseconds since 2000-01-01 00:00.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Ts(i64);
/// `timestamptz`: microseconds since 2000-01-01 00:00 UTC.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Tstz(i64);
/// `interval`: months, days, microseconds.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Iv(i32, i32, i64);
/// `timetz`: microseconds and the zone in seconds *west* of UTC.
#[derive(Debug, Clone, Copy, PartialEq)]
struct TimeTz(i64, i32);

type Boxed = Box<dyn StdError + Sync + Send>;

fn be<const N: usize>(raw: &[u8]) -> Result<[u8; N], Boxed> {
    raw.try_into()
        .map_err(|_| format!("{} bytes, expected {N}", raw.len()).into())
}

macro_rules! wire_type {
    ($name:ident, $pg:expr, |$v:ident, $out:ident| $encode:expr, |$raw:ident| $decode:expr) => {
        impl<'a> FromSql<'a> for $name {
            fn from_sql(_: &Type, $raw: &'a [u8]) -> Result<Self, Boxed> {
                $decode
            }
            fn accepts(ty: &Type) -> bool {
                *ty == $pg
            }
        }
        impl ToSql for $name {
            fn to_sql(&self, _: &Type, $out: &mut BytesMut) -> Result<IsNull, Boxed> {
                let $v = self;
                $encode;
                Ok(IsNull::No)
            }
            fn accepts(ty: &Type) -> bool {
                *ty == $pg
            }
            to_sql_checked!();
        }
    };
}

wire_type!(
    Date,
    Type::DATE,
    |v, out| out.extend_from_slice(&v.0.to_be_bytes()),
    |raw| Ok(Date(i32::from_be_bytes(be(raw)?)))
);
wire_type!(
    Time,
    Type::TIME,
    |v, out| out.extend_from_slice(&v.0.to_be_bytes()),
    |raw| Ok(Time(i64::from_be_bytes(be(raw)?)))
);
wire_type!(
    Ts,
    Type::TIMESTAMP,
    |v, out| out.extend_from_slice(&v.0.to_be_bytes()),
    |raw| Ok(Ts(i64::from_be_bytes(be(raw)?)))
);
wire_type!(
    Tstz,
    Type::TIMESTAMPTZ,
    |v, out| out.extend_from_slice(&v.0.to_be_bytes()),
    |raw| Ok(Tstz(i64::from_be_bytes(be(raw)?)))
);
wire_type!(
    Iv,
    Type::INTERVAL,
    |v, out| {
        out.extend_from_slice(&v.2.to_be_bytes());
        out.extend_from_slice(&v.1.to_be_bytes());
        out.extend_from_slice(&v.0.to_be_bytes());
    },
    |raw| {
        let raw: [u8; 16] = be(raw)?;
        Ok(Iv(
            i32::from_be_bytes(be(&raw[12..])?),
            i32::from_be_bytes(be(&raw[8..12])?),
            i64::from_be_bytes(be(&raw[..8])?),
        ))
    }
);
wire_type!(
    TimeTz,
    Type::TIMETZ,
    |v, out| {
        out.extend_from_slice(&v.0.to_be_bytes());
        out.extend_from_slice(&v.1.to_be_bytes());
    },
    |raw| {
        let raw: [u8; 12] = be(raw)?;
        Ok(TimeTz(
            i64::from_be_bytes(be(&raw[..8])?),
            i32::from_be_bytes(be(&raw[8..])?),
        ))
    }
);

const SEC: i64 = 1_000_000;
const DAY: i64 = 86_400 * SEC;
/// 2026-11-23, in days since 2000-01-01.
const NOV_23_2026: i32 = 9823;
/// 2024-02-29.
const LEAP_DAY_2024: i32 = 8825;
/// 0044-03-15 BC.
const IDES_44_BC: i32 = -746_117;

/// Connects and fixes the settings the expected text depends on (a
/// reference PostgreSQL starts in its configured zone).
async fn connect(server: &TestServer) -> Client {
    let client = server.connect().await;
    client
        .batch_execute("SET TimeZone = 'UTC'")
        .await
        .expect("SET TimeZone");
    client
}

#[tokio::test]
async fn every_type_round_trips_in_binary_and_text() {
    let server = TestServer::start();
    let client = connect(&server).await;
    client
        .batch_execute(
            "CREATE TABLE dt_all (
                id integer PRIMARY KEY,
                d date,
                t time,
                ttz time with time zone,
                ts timestamp,
                tz timestamptz,
                iv interval,
                c char(5),
                bc bpchar,
                ts0 timestamp(0),
                iv2 interval day to second(2)
            )",
        )
        .await
        .unwrap();
    let insert = client
        .prepare("INSERT INTO dt_all VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)")
        .await
        .unwrap();
    let param_types: Vec<Type> = insert.params().to_vec();
    assert_eq!(
        param_types,
        [
            Type::INT4,
            Type::DATE,
            Type::TIME,
            Type::TIMETZ,
            Type::TIMESTAMP,
            Type::TIMESTAMPTZ,
            Type::INTERVAL,
            Type::BPCHAR,
            Type::BPCHAR,
            Type::TIMESTAMP,
            Type::INTERVAL
        ]
    );
    // Row 1: ordinary values; row 2: the edges (infinities, BC, 24:00,
    // leap day, negative interval, blanks); row 3: NULLs.
    let ts1 = NOV_23_2026 as i64 * DAY + 10 * 3600 * SEC + SEC / 2;
    client
        .execute(
            &insert,
            &[
                &1i32,
                &Date(NOV_23_2026),
                &Time(10 * 3600 * SEC + 500_000),
                &TimeTz(10 * 3600 * SEC, -2 * 3600),
                &Ts(ts1),
                &Tstz(ts1 - 2 * 3600 * SEC),
                &Iv(14, 3, 4 * 3600 * SEC + 5 * 60 * SEC + 6 * SEC),
                &"ab",
                &"xy  ",
                &Ts(ts1),
                &Iv(0, 1, 1_234_567),
            ],
        )
        .await
        .unwrap();
    client
        .execute(
            &insert,
            &[
                &2i32,
                &Date(i32::MAX),
                &Time(DAY),
                &TimeTz(0, 5 * 3600 + 1800),
                &Ts(IDES_44_BC as i64 * DAY + 12 * 3600 * SEC),
                &Tstz(i64::MIN),
                &Iv(-1, -2, -3 * SEC),
                &"abcde   ",
                &"",
                &Ts(LEAP_DAY_2024 as i64 * DAY - 1),
                &Iv(-12, 0, -1_234_567),
            ],
        )
        .await
        .unwrap();
    client
        .execute("INSERT INTO dt_all (id) VALUES ($1)", &[&3i32])
        .await
        .unwrap();

    assert_eq!(
        rows_text(&client, "SELECT * FROM dt_all ORDER BY id").await,
        [
            "1|2026-11-23|10:00:00.5|10:00:00+02|2026-11-23 10:00:00.5|2026-11-23 08:00:00.5+00\
             |1 year 2 mons 3 days 04:05:06|ab   |xy  |2026-11-23 10:00:01|1 day 00:00:01.23",
            "2|infinity|24:00:00|00:00:00-05:30|0044-03-15 12:00:00 BC|-infinity\
             |-1 mons -2 days -00:00:03|abcde||2024-02-29 00:00:00|-1 years -00:00:01.23",
            "3|NULL|NULL|NULL|NULL|NULL|NULL|NULL|NULL|NULL|NULL",
        ]
    );

    // The same rows in binary: the stored integers, rounded where the
    // column's precision asks.
    let rows = client
        .query("SELECT * FROM dt_all ORDER BY id", &[])
        .await
        .unwrap();
    let columns: Vec<Type> = rows[0]
        .columns()
        .iter()
        .map(|c| c.type_().clone())
        .collect();
    assert_eq!(&columns[1..], &param_types[1..]);
    let row = &rows[0];
    assert_eq!(row.get::<_, Date>(1), Date(NOV_23_2026));
    assert_eq!(row.get::<_, Time>(2), Time(10 * 3600 * SEC + 500_000));
    assert_eq!(row.get::<_, TimeTz>(3), TimeTz(10 * 3600 * SEC, -2 * 3600));
    assert_eq!(row.get::<_, Ts>(4), Ts(ts1));
    assert_eq!(row.get::<_, Tstz>(5), Tstz(ts1 - 2 * 3600 * SEC));
    assert_eq!(
        row.get::<_, Iv>(6),
        Iv(14, 3, 4 * 3600 * SEC + 5 * 60 * SEC + 6 * SEC)
    );
    assert_eq!(row.get::<_, String>(7), "ab   ");
    assert_eq!(row.get::<_, String>(8), "xy  ");
    assert_eq!(row.get::<_, Ts>(9), Ts(ts1 + SEC / 2));
    assert_eq!(row.get::<_, Iv>(10), Iv(0, 1, 1_230_000));
    let row = &rows[1];
    assert_eq!(row.get::<_, Date>(1), Date(i32::MAX));
    assert_eq!(row.get::<_, Time>(2), Time(DAY));
    assert_eq!(row.get::<_, Tstz>(5), Tstz(i64::MIN));
    assert_eq!(row.get::<_, Iv>(6), Iv(-1, -2, -3 * SEC));
    assert_eq!(row.get::<_, String>(7), "abcde");
    assert_eq!(row.get::<_, Ts>(9), Ts(LEAP_DAY_2024 as i64 * DAY));
    assert_eq!(row.get::<_, Iv>(10), Iv(-12, 0, -1_230_000));
    assert_eq!(rows[2].get::<_, Option<Date>>(1), None);

    // Text parameters are read in the session's zone; binary ones are exact.
    client.batch_execute("SET TimeZone = '-5.5'").await.unwrap();
    let tz: Vec<String> = client
        .query(
            "SELECT $1::text::timestamptz::text, $2::timestamptz::text",
            &[&"2026-11-23 10:00", &Tstz(ts1)],
        )
        .await
        .unwrap()
        .iter()
        .flat_map(|r| [r.get::<_, String>(0), r.get::<_, String>(1)])
        .collect();
    assert_eq!(
        tz,
        ["2026-11-23 10:00:00-05:30", "2026-11-23 04:30:00.5-05:30"]
    );
    assert_eq!(
        rows_text(&client, "SELECT tz FROM dt_all WHERE id = 1").await,
        ["2026-11-23 02:30:00.5-05:30"]
    );
    assert_eq!(
        rows_text(&client, "SHOW TimeZone").await,
        ["<-05:30>+05:30"]
    );
}

/// Each new type as a primary key: rows come back in the type's order,
/// point lookups and ranges find them, equal values collide (23505) even
/// when they differ in form ('1 mon' and '30 days'; 'a' and 'a  ').
#[tokio::test]
async fn each_type_as_a_primary_key_orders_filters_and_collides() {
    let server = TestServer::start();
    let client = connect(&server).await;
    // (type, values in ascending order, a value equal to the one at an
    // index but written differently)
    let cases: &[(&str, &[&str], (usize, &str))] = &[
        (
            "date",
            &[
                "-infinity",
                "0044-03-15 BC",
                "2024-02-29",
                "2026-11-23",
                "infinity",
            ],
            (2, "2024-02-29 23:59"),
        ),
        (
            "time",
            &["00:00:00", "09:59:59.999999", "10:00:00", "24:00:00"],
            (1, "9:59:59.999999"),
        ),
        (
            "timestamp",
            &[
                "-infinity",
                "1999-12-31 23:59:59.999999",
                "2000-01-01 00:00:00",
                "2026-11-23 10:00:00",
                "infinity",
            ],
            (2, "2000-01-01T00:00:00Z"),
        ),
        (
            "timestamptz",
            &[
                "2026-11-23 09:00:00+02",
                "2026-11-23 08:00:00+00",
                "2026-11-23 10:00:00+01:30",
            ],
            (1, "2026-11-23 03:00:00-05"),
        ),
        (
            "interval",
            &["-1 years", "00:00:00", "1 day", "1 mon 1 second", "1 year"],
            (2, "24 hours"),
        ),
        ("char(3)", &["", "a", "a b", "ab", "b"], (1, "a  ")),
    ];
    for (i, (ty, values, (same_index, same))) in cases.iter().enumerate() {
        let table = format!("pk{i}");
        client
            .batch_execute(&format!(
                "CREATE TABLE {table} (k {ty} PRIMARY KEY, n integer)"
            ))
            .await
            .unwrap();
        // Insert in reverse, so order comes from the keys.
        for (n, v) in values.iter().enumerate().rev() {
            client
                .batch_execute(&format!("INSERT INTO {table} VALUES ('{v}', {n})"))
                .await
                .unwrap_or_else(|e| panic!("{ty} {v}: {e:?}"));
        }
        let ordered: Vec<String> = (0..values.len()).map(|n| n.to_string()).collect();
        assert_eq!(
            rows_text(&client, &format!("SELECT n FROM {table} ORDER BY k")).await,
            ordered,
            "{ty}: ORDER BY"
        );
        let descending: Vec<String> = ordered.iter().rev().cloned().collect();
        assert_eq!(
            rows_text(&client, &format!("SELECT n FROM {table} ORDER BY k DESC")).await,
            descending,
            "{ty}: ORDER BY DESC"
        );
        // Point lookup by each value, and a range.
        for (n, v) in values.iter().enumerate() {
            assert_eq!(
                rows_text(&client, &format!("SELECT n FROM {table} WHERE k = '{v}'")).await,
                [n.to_string()],
                "{ty}: k = {v}"
            );
        }
        assert_eq!(
            rows_text(
                &client,
                &format!(
                    "SELECT n FROM {table} WHERE k > '{}' AND k <= '{}' ORDER BY n",
                    values[0], values[2]
                )
            )
            .await,
            ["1", "2"],
            "{ty}: range"
        );
        assert_eq!(
            rows_text(
                &client,
                &format!("SELECT n FROM {table} WHERE k = '{same}'")
            )
            .await,
            [same_index.to_string()],
            "{ty}: {same} equals {}",
            values[*same_index]
        );
        let message = assert_sqlstate(
            client
                .batch_execute(&format!("INSERT INTO {table} VALUES ('{same}', 99)"))
                .await,
            &SqlState::UNIQUE_VIOLATION,
            ty,
        );
        assert_eq!(
            message,
            format!("duplicate key value violates unique constraint \"{table}_pkey\"")
        );
        // Through the extended protocol with the key as a parameter.
        let rows = client
            .query(
                &format!("SELECT n FROM {table} WHERE k = $1::text::{ty}"),
                &[&values[1]],
            )
            .await
            .unwrap();
        assert_eq!(rows.len(), 1, "{ty}: parameter lookup");
        assert_eq!(rows[0].get::<_, i32>(0), 1);
    }

    // A secondary index over a timestamp column, read for a range and for
    // ORDER BY … LIMIT.
    client
        .batch_execute(
            "CREATE TABLE events (id integer PRIMARY KEY, at timestamp, kind char(4));
             CREATE INDEX events_at ON events (at)",
        )
        .await
        .unwrap();
    let mut values = Vec::new();
    for id in 0..40 {
        values.push(format!(
            "({id}, timestamp '2026-11-01 00:00' + interval '1 hour' * {}, '{}')",
            (id * 17) % 40,
            if id % 2 == 0 { "even" } else { "odd" }
        ));
    }
    client
        .batch_execute(&format!("INSERT INTO events VALUES {}", values.join(", ")))
        .await
        .unwrap();
    assert_eq!(
        rows_text(
            &client,
            "SELECT at FROM events WHERE at >= '2026-11-02' AND at < timestamp '2026-11-02' + interval '3 hours' ORDER BY at"
        )
        .await,
        [
            "2026-11-02 00:00:00",
            "2026-11-02 01:00:00",
            "2026-11-02 02:00:00"
        ]
    );
    assert_eq!(
        rows_text(
            &client,
            "SELECT id, kind FROM events ORDER BY at DESC LIMIT 2"
        )
        .await,
        ["7|odd ", "14|even"]
    );
    assert_eq!(
        rows_text(
            &client,
            "SELECT count(*) FROM events WHERE kind = 'odd' AND at < date '2026-11-02'"
        )
        .await,
        ["12"]
    );
}

/// `now()` is the transaction's start: one value over every shard a
/// statement writes, and over the statements of a transaction block;
/// `statement_timestamp()` moves with statements, `clock_timestamp()`
/// with the clock.
#[tokio::test]
async fn now_is_one_value_per_transaction_on_every_shard() {
    let server = TestServer::start_with_shards(3);
    let client = connect(&server).await;
    client
        .batch_execute("CREATE TABLE stamps (id integer PRIMARY KEY, at timestamptz, local timestamp, day date)")
        .await
        .unwrap();
    let values: Vec<String> = (0..30)
        .map(|id| format!("({id}, now(), localtimestamp, current_date)"))
        .collect();
    client
        .batch_execute(&format!("INSERT INTO stamps VALUES {}", values.join(", ")))
        .await
        .unwrap();
    assert_eq!(
        rows_text(
            &client,
            "SELECT min(at) = max(at), min(local) = max(local), min(at)::timestamp = min(local), min(day) = max(day) FROM stamps"
        )
        .await,
        ["t|t|t|t"]
    );
    // An UPDATE runs on every shard: they all see the router's now().
    client
        .batch_execute("UPDATE stamps SET at = now() + interval '1 hour' * (id % 2)")
        .await
        .unwrap();
    assert_eq!(
        rows_text(
            &client,
            "SELECT count(*), max(at) - min(at) FROM stamps GROUP BY id % 2 ORDER BY 1"
        )
        .await,
        ["15|00:00:00", "15|00:00:00"]
    );

    client.batch_execute("BEGIN").await.unwrap();
    let first = rows_text(&client, "SELECT now(), statement_timestamp()").await;
    tokio::time::sleep(Duration::from_millis(20)).await;
    let second = rows_text(
        &client,
        "SELECT now(), statement_timestamp(), clock_timestamp() > now()",
    )
    .await;
    let (now1, stmt1) = first[0].split_once('|').unwrap();
    let parts: Vec<&str> = second[0].split('|').collect();
    assert_eq!(parts[0], now1, "now() is the transaction's start");
    assert_ne!(parts[1], stmt1, "statement_timestamp() moves");
    assert_eq!(parts[2], "t");
    client
        .batch_execute("UPDATE stamps SET at = now() WHERE id < 5")
        .await
        .unwrap();
    client.batch_execute("COMMIT").await.unwrap();
    assert_eq!(
        rows_text(
            &client,
            &format!("SELECT count(*) FROM stamps WHERE at = '{now1}'")
        )
        .await,
        ["5"]
    );
    assert_eq!(
        rows_text(&client, &format!("SELECT now() > '{now1}'")).await,
        ["t"],
        "a new transaction, a later now()"
    );
}

/// Rows, keys and column type modifiers come back from the log after a
/// crash: `char(5)` still pads and refuses, `timestamp(0)` still rounds.
#[tokio::test]
async fn values_and_type_modifiers_survive_a_crash() {
    let mut server = TestServer::start();
    if server.is_external() {
        eprintln!("skipping: needs process control");
        return;
    }
    let client = connect(&server).await;
    client
        .batch_execute(
            "CREATE TABLE kept (k timestamptz PRIMARY KEY, c char(5), t0 timestamp(0), iv interval hour to minute);
             INSERT INTO kept VALUES ('2026-11-23 10:00+02', 'ab', '2026-11-23 10:00:00.5', '1 day 02:03:04'),
                                     ('infinity', 'abcde', '0044-03-15 12:00 BC', '-1 mon')",
        )
        .await
        .unwrap();
    drop(client);
    server.kill9();
    server.restart();
    let client = connect(&server).await;
    assert_eq!(
        rows_text(&client, "SELECT * FROM kept ORDER BY k").await,
        [
            "2026-11-23 08:00:00+00|ab   |2026-11-23 10:00:01|1 day 02:03:00",
            "infinity|abcde|0044-03-15 12:00:00 BC|-1 mons",
        ]
    );
    client
        .batch_execute(
            "INSERT INTO kept VALUES ('2026-01-01', 'x', '2026-01-01 00:00:00.4', '90 seconds')",
        )
        .await
        .unwrap();
    assert_eq!(
        rows_text(
            &client,
            "SELECT c || '|', t0, iv FROM kept WHERE k = '2026-01-01'"
        )
        .await,
        ["x||2026-01-01 00:00:00|00:01:00"]
    );
    assert_sqlstate(
        client
            .batch_execute("INSERT INTO kept (k, c) VALUES (now(), 'abcdef')")
            .await,
        &SqlState::STRING_DATA_RIGHT_TRUNCATION,
        "char(5) after restart",
    );
}

/// Date/time input and arithmetic errors carry PostgreSQL's codes and
/// messages, and so do the storage parameters of CREATE TABLE.
#[tokio::test]
async fn errors_carry_postgres_codes_and_messages() {
    let server = TestServer::start();
    let client = connect(&server).await;
    let cases: &[(&str, SqlState, &str)] = &[
        (
            "SELECT 'foo'::timestamp",
            SqlState::INVALID_DATETIME_FORMAT,
            "invalid input syntax for type timestamp: \"foo\"",
        ),
        (
            "SELECT '2026-02-29'::date",
            SqlState::DATETIME_FIELD_OVERFLOW,
            "date/time field value out of range: \"2026-02-29\"",
        ),
        (
            "SELECT '294277-01-01'::timestamp",
            SqlState::DATETIME_FIELD_OVERFLOW,
            "timestamp out of range: \"294277-01-01\"",
        ),
        (
            "SELECT '5874898-01-01'::date",
            SqlState::DATETIME_FIELD_OVERFLOW,
            "date out of range: \"5874898-01-01\"",
        ),
        (
            "SELECT '2026-11-23 10:00+16'::timestamptz",
            SqlState::INVALID_TIME_ZONE_DISPLACEMENT_VALUE,
            "time zone displacement out of range: \"2026-11-23 10:00+16\"",
        ),
        (
            "SELECT '1:60'::interval",
            SqlState::INTERVAL_FIELD_OVERFLOW,
            "interval field value out of range: \"1:60\"",
        ),
        (
            "SELECT CAST('x' AS date)",
            SqlState::INVALID_DATETIME_FORMAT,
            "invalid input syntax for type date: \"x\"",
        ),
        (
            "SELECT timestamp '294276-12-31' + interval '1 day'",
            SqlState::DATETIME_FIELD_OVERFLOW,
            "timestamp out of range",
        ),
        (
            "SELECT date 'infinity' - date '2026-01-01'",
            SqlState::DATETIME_FIELD_OVERFLOW,
            "cannot subtract infinite dates",
        ),
        (
            "SELECT date '2026-01-01' + '1 day'",
            SqlState::AMBIGUOUS_FUNCTION,
            "operator is not unique: date + unknown",
        ),
        (
            "SELECT date '2026-01-01' * 2",
            SqlState::UNDEFINED_FUNCTION,
            "operator does not exist: date * integer",
        ),
        (
            "SELECT 10::date",
            SqlState::CANNOT_COERCE,
            "cannot cast type integer to date",
        ),
        (
            "SELECT extract(hour FROM date '2026-01-01')",
            SqlState::FEATURE_NOT_SUPPORTED,
            "unit \"hour\" not supported for type date",
        ),
        (
            "SELECT date_trunc('fortnight', now())",
            SqlState::INVALID_PARAMETER_VALUE,
            "unit \"fortnight\" not recognized for type timestamp with time zone",
        ),
        (
            "SELECT now() AT TIME ZONE 'Nowhere/Special'",
            SqlState::INVALID_PARAMETER_VALUE,
            "time zone \"Nowhere/Special\" not recognized",
        ),
        (
            "SET TimeZone = 'Nowhere/Special'",
            SqlState::INVALID_PARAMETER_VALUE,
            "invalid value for parameter \"TimeZone\": \"Nowhere/Special\"",
        ),
        (
            "CREATE TABLE ff (a integer) WITH (fillfactor = 5)",
            SqlState::INVALID_PARAMETER_VALUE,
            "value 5 out of bounds for option \"fillfactor\"",
        ),
        (
            "CREATE TABLE ff (a integer) WITH (bogus = 1)",
            SqlState::INVALID_PARAMETER_VALUE,
            "unrecognized parameter \"bogus\"",
        ),
    ];
    for (sql, code, message) in cases {
        let got = assert_sqlstate(client.batch_execute(sql).await, code, sql);
        assert_eq!(got, *message, "{sql}");
    }
    client
        .batch_execute("CREATE TABLE short (c char(3), v varchar(3))")
        .await
        .unwrap();
    let got = assert_sqlstate(
        client
            .batch_execute("INSERT INTO short (c) VALUES ('abcd')")
            .await,
        &SqlState::STRING_DATA_RIGHT_TRUNCATION,
        "char(3) too long",
    );
    assert_eq!(got, "value too long for type character(3)");
    // Trailing blanks may go; an explicit cast truncates.
    client
        .batch_execute("INSERT INTO short (c) VALUES ('abc   '), ('abcdef'::char(3))")
        .await
        .unwrap();
    assert_eq!(
        rows_text(&client, "SELECT c || '|', length(c) FROM short").await,
        ["abc||3", "abc||3"]
    );

    // pgbench's WITH (fillfactor=100) is accepted; other storage parameters
    // are not (Tessera has no pages to tune).
    client
        .batch_execute(
            "CREATE TABLE fill (a integer) WITH (fillfactor=100); \
             ALTER TABLE fill SET (fillfactor = 70)",
        )
        .await
        .unwrap();
    let got = assert_sqlstate(
        client
            .batch_execute("ALTER TABLE fill SET (fillfactor = 5)")
            .await,
        &SqlState::INVALID_PARAMETER_VALUE,
        "ALTER TABLE … SET (fillfactor = 5)",
    );
    assert_eq!(got, "value 5 out of bounds for option \"fillfactor\"");
    if !server.is_external() {
        // Tessera's own: the tier (a single node has only the first).
        client
            .batch_execute("ALTER TABLE fill SET (tier = default)")
            .await
            .unwrap();
        assert_sqlstate(
            client
                .batch_execute("ALTER TABLE fill SET (tier = hot)")
                .await,
            &SqlState::UNDEFINED_OBJECT,
            "an unknown tier",
        );
        let got = assert_sqlstate(
            client
                .batch_execute("CREATE TABLE vac (a integer) WITH (autovacuum_enabled = false)")
                .await,
            &SqlState::FEATURE_NOT_SUPPORTED,
            "storage parameter",
        );
        assert!(got.contains("\"autovacuum_enabled\""), "{got}");
    }
}

// ---- RowDescription, ParameterStatus: the raw protocol ------------------------

use tessera_testkit::RawClient as Raw;

/// `(name, type oid, typlen, typmod)` of each field of a RowDescription.
fn row_description(body: &[u8]) -> Vec<(String, u32, i16, i32)> {
    let count = u16::from_be_bytes([body[0], body[1]]) as usize;
    let mut at = 2;
    let mut fields = Vec::new();
    for _ in 0..count {
        let end = at + body[at..].iter().position(|b| *b == 0).unwrap();
        let name = String::from_utf8(body[at..end].to_vec()).unwrap();
        at = end + 1 + 6;
        let oid = u32::from_be_bytes(body[at..at + 4].try_into().unwrap());
        let len = i16::from_be_bytes(body[at + 4..at + 6].try_into().unwrap());
        let typmod = i32::from_be_bytes(body[at + 6..at + 10].try_into().unwrap());
        at += 12;
        fields.push((name, oid, len, typmod));
    }
    fields
}

#[tokio::test]
async fn row_description_and_parameter_status_as_postgres_sends_them() {
    let server = TestServer::start();
    let client = connect(&server).await;
    client
        .batch_execute(
            "CREATE TABLE described (
                d date, t time, t3 time(3), tt timetz, ts timestamp, ts0 timestamp(0),
                tz timestamptz, tz6 timestamptz(6), iv interval, iv2 interval(2),
                ivd interval day to second(3), ivy interval year,
                c char, c5 char(5), bc bpchar
            )",
        )
        .await
        .unwrap();
    let mut raw = Raw::connect(&server);
    let messages = raw.query("SELECT * FROM described");
    let description = messages
        .iter()
        .find(|(kind, _)| *kind == b'T')
        .map(|(_, body)| row_description(body))
        .expect("RowDescription");
    let got: Vec<(&str, u32, i16, i32)> = description
        .iter()
        .map(|(n, o, l, m)| (n.as_str(), *o, *l, *m))
        .collect();
    assert_eq!(
        got,
        [
            ("d", 1082, 4, -1),
            ("t", 1083, 8, -1),
            ("t3", 1083, 8, 3),
            ("tt", 1266, 12, -1),
            ("ts", 1114, 8, -1),
            ("ts0", 1114, 8, 0),
            ("tz", 1184, 8, -1),
            ("tz6", 1184, 8, 6),
            ("iv", 1186, 16, -1),
            ("iv2", 1186, 16, 2_147_418_114),
            ("ivd", 1186, 16, 470_286_339),
            ("ivy", 1186, 16, 327_679),
            ("c", 1042, -1, 5),
            ("c5", 1042, -1, 9),
            ("bc", 1042, -1, -1),
        ]
    );
    // SET TimeZone is reported with ParameterStatus, in its canonical form.
    let messages = raw.query("SET TIME ZONE 2");
    let status: Vec<String> = messages
        .iter()
        .filter(|(kind, _)| *kind == b'S')
        .map(|(_, body)| String::from_utf8_lossy(body).replace('\0', "="))
        .collect();
    assert_eq!(status, ["TimeZone=<+02>-02="]);
    let messages = raw.query("SELECT '2026-11-23 10:00'::timestamptz");
    let data: Vec<&[u8]> = messages
        .iter()
        .filter(|(kind, _)| *kind == b'D')
        .map(|(_, body)| &body[6..])
        .collect();
    assert_eq!(data, [&b"2026-11-23 10:00:00+02"[..]]);
}

// ---- psql and pgbench -----------------------------------------------------------

fn psql(server: &TestServer, bin: &PathBuf, args: &[&str]) -> String {
    let out = Command::new(bin)
        .args(["-X", "-h", server.host(), "-p"])
        .arg(server.port().to_string())
        .args(["-U", tessera_testkit::USER, "-d", server.dbname()])
        .args(args)
        .env("PGTZ", "UTC")
        .env_remove("PGOPTIONS")
        .env_remove("PGDATESTYLE")
        .output()
        .expect("run psql");
    assert!(
        out.status.success(),
        "psql {args:?}: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("UTF-8")
}

#[test]
fn psql_shows_the_text_formats() {
    let Some(bin) = find_program("psql") else {
        eprintln!("skipping: psql not found (install postgresql-client-15)");
        return;
    };
    let server = TestServer::start();
    let out = psql(
        &server,
        &bin,
        &[
            "-A",
            "-t",
            "-c",
            "CREATE TABLE ps (id integer PRIMARY KEY, at timestamp, tz timestamptz, d date, iv interval, c char(4))",
            "-c",
            "INSERT INTO ps VALUES (1, '2026-11-23T10:00:00.250', '2026-11-23 10:00 PST', 'Nov 23, 2026', '@ 1 day 2 hours ago', 'ab'), \
             (2, 'epoch', 'epoch', '20240229', 'P1Y2M3DT4H5M6.5S', 'abcd')",
            "-c",
            "SELECT * FROM ps ORDER BY id",
            "-c",
            "SELECT id, at + iv, tz - at::timestamptz, d - date '2000-01-01', extract(epoch FROM at), date_trunc('month', d) FROM ps ORDER BY id",
        ],
    );
    assert_eq!(
        out,
        "CREATE TABLE\nINSERT 0 2\n\
         1|2026-11-23 10:00:00.25|2026-11-23 18:00:00+00|2026-11-23|-1 days -02:00:00|ab  \n\
         2|1970-01-01 00:00:00|1970-01-01 00:00:00+00|2024-02-29|1 year 2 mons 3 days 04:05:06.5|abcd\n\
         1|2026-11-22 08:00:00.25|07:59:59.75|9823|1795428000.250000|2026-11-01 00:00:00+00\n\
         2|1971-03-04 04:05:06.5|00:00:00|8825|0.000000|2024-02-01 00:00:00+00\n"
    );
    // PGTZ sends TimeZone at connection start; psql's aligned output pads
    // as PostgreSQL describes the columns.
    let out = Command::new(&bin)
        .args(["-X", "-h", server.host(), "-p"])
        .arg(server.port().to_string())
        .args(["-U", tessera_testkit::USER, "-d", server.dbname()])
        .args(["-c", "SELECT tz, c FROM ps ORDER BY id"])
        .env("PGTZ", "+05:30")
        .output()
        .expect("run psql");
    assert!(out.status.success(), "{out:?}");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "            tz             |  c   \n\
         ---------------------------+------\n \
         2026-11-23 12:30:00-05:30 | ab  \n \
         1969-12-31 18:30:00-05:30 | abcd\n\
         (2 rows)\n\n"
    );
}

/// pgbench creates its tables (`char(n)` fillers, `mtime timestamp`, `WITH
/// (fillfactor=100)`) and runs its built-in TPC-B script, whose history
/// rows take `CURRENT_TIMESTAMP`.
#[test]
fn pgbench_creates_its_tables_and_runs_tpcb() {
    let Some(pgbench) = find_program("pgbench") else {
        eprintln!("skipping: pgbench not found (install postgresql-15)");
        return;
    };
    let Some(psql_bin) = find_program("psql") else {
        eprintln!("skipping: psql not found");
        return;
    };
    let server = TestServer::start();
    let run = |args: &[&str]| {
        let out = Command::new(&pgbench)
            .args(["-h", server.host(), "-p"])
            .arg(server.port().to_string())
            .args(["-U", tessera_testkit::USER])
            .args(args)
            .arg(server.dbname())
            .output()
            .expect("run pgbench");
        assert!(
            out.status.success(),
            "pgbench {args:?}: {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    // d: drop, t: create tables (the data steps need COPY or generate_series).
    run(&["-i", "-I", "dt"]);
    let accounts: Vec<String> = (1..=50).map(|aid| format!("({aid}, 1, 0, '')")).collect();
    let tellers: Vec<String> = (1..=10).map(|tid| format!("({tid}, 1, 0)")).collect();
    psql(
        &server,
        &psql_bin,
        &[
            "-q",
            "-c",
            "INSERT INTO pgbench_branches (bid, bbalance) VALUES (1, 0)",
            "-c",
            &format!(
                "INSERT INTO pgbench_tellers (tid, bid, tbalance) VALUES {}",
                tellers.join(", ")
            ),
            "-c",
            &format!(
                "INSERT INTO pgbench_accounts (aid, bid, abalance, filler) VALUES {}",
                accounts.join(", ")
            ),
        ],
    );
    let out = run(&["-n", "-t", "20", "-c", "2", "-M", "prepared"]);
    assert!(out.contains("number of failed transactions: 0"), "{out}");
    let out = psql(
        &server,
        &psql_bin,
        &[
            "-A",
            "-t",
            "-c",
            "SELECT count(*), count(mtime), max(mtime) <= now(), now() - min(mtime) < interval '1 hour', \
             sum(delta) FROM pgbench_history",
            "-c",
            "SELECT sum(bbalance) FROM pgbench_branches",
        ],
    );
    let lines: Vec<&str> = out.lines().collect();
    let history: Vec<&str> = lines[0].split('|').collect();
    assert_eq!(&history[..4], ["40", "40", "t", "t"], "{out}");
    assert_eq!(
        history[4], lines[1],
        "the history's deltas are the branch balance"
    );
}

// ---- region time zones from the startup packet ---------------------------------

/// A client that sends a region zone at startup (pgJDBC sends the JVM's,
/// in `options` or as a startup parameter) connects, gets the zone back in
/// ParameterStatus in its canonical spelling, and sees timestamptz in it,
/// with the offset of the instant (daylight time in July, not in January).
#[tokio::test]
async fn region_time_zone_from_startup_options() {
    let server = TestServer::start();
    let mut config = server.config();
    config.options("-c TimeZone=europe/BERLIN");
    let (client, connection) = config.connect(tokio_postgres::NoTls).await.unwrap();
    assert_eq!(
        connection.parameter("TimeZone"),
        Some("Europe/Berlin"),
        "the zone is reported in its canonical spelling"
    );
    let task = tokio::spawn(async move {
        let _ = connection.await;
    });
    assert_eq!(
        rows_text(
            &client,
            "SELECT timestamptz '2024-07-01 12:00+00', timestamptz '2024-01-01 12:00+00'"
        )
        .await,
        ["2024-07-01 14:00:00+02|2024-01-01 13:00:00+01"]
    );
    assert_eq!(rows_text(&client, "SHOW TimeZone").await, ["Europe/Berlin"]);
    drop(client);
    let _ = task.await;

    let mut config = server.config();
    config.options("-c TimeZone=Foo/Bar");
    let error = config.connect(tokio_postgres::NoTls).await.err();
    assert_eq!(
        error.as_ref().and_then(|e| e.code()),
        Some(&SqlState::INVALID_PARAMETER_VALUE),
        "an unknown zone at startup is refused: {error:?}"
    );
}
