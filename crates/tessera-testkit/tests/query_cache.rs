//! The simple-Query cache (`tessera_sql::query_cache`): a Query that
//! differs from an earlier one of its session only in its constants runs
//! that one's plan with its constants as parameters. Whatever the cache
//! does, a Query must give what it gives in a session that never ran one
//! like it: the same rows, the same error.

use tessera_testkit::{try_rows_text, TestServer};
use tokio_postgres::Client;

/// What a Query gives, as text: its rows, or its error's SQLSTATE and
/// message.
async fn outcome(client: &Client, sql: &str) -> String {
    match try_rows_text(client, sql).await {
        Ok(rows) => rows.join("\n"),
        Err(e) => match e.as_db_error() {
            Some(db) => format!("ERROR {} {}", db.code().code(), db.message()),
            None => panic!("{sql}: {e:?}"),
        },
    }
}

/// Runs each Query in its own rolled-back block, so that every one sees
/// the same rows.
async fn in_block(client: &Client, sql: &str) -> String {
    client.simple_query("BEGIN").await.unwrap();
    let out = outcome(client, sql).await;
    client.simple_query("ROLLBACK").await.unwrap();
    out
}

const SETUP: &str = "
    CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy');
    CREATE DOMAIN posint AS int CHECK (VALUE > 0);
    CREATE TABLE k (
        id int PRIMARY KEY, big bigint, small smallint, r real,
        d double precision, n numeric(10,2), c char(3), v varchar(3), t text,
        ts timestamptz, dt date, b bool, m mood, j jsonb, a int[],
        iv interval, by bytea);
    INSERT INTO k VALUES
        (1, 10, 1, 0.1, 0.1, 1.56, 'ab', 'xy', 'it''s', '2020-01-01 00:00+00',
         '2020-01-01', true, 'ok', '{\"a\": 1}', '{1,2}', '1 day', '\\x0102'),
        (2, 3000000000, 2, 0.5, 1e300, 2.50, 'cd', 'zz', 'plain',
         '2021-06-01 12:00+00', '2021-06-01', false, 'sad', '[1, 2]', '{3}',
         '2 hours', '\\xff'),
        (3, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
         NULL, NULL, NULL, NULL, NULL);
";

/// Query shapes (`{}` where constants go) and the constants each is run
/// with; the first of each fills the cache.
const SHAPES: &[(&str, &[&[&str]])] = &[
    (
        "SELECT id FROM k WHERE id = {} ORDER BY 1",
        &[
            &["1"],
            &["2"],
            &["99"],
            &["'3'"],
            &["'abc'"],
            &["2147483647"],
            &["-1"],
            &["3000000000"],
            &["1.5"],
            &["1.0"],
            &["'1.0'"],
        ],
    ),
    (
        "SELECT id FROM k WHERE big = {} ORDER BY 1",
        &[&["10"], &["3000000000"], &["'3000000000'"], &["-5"], &["10.0"]],
    ),
    (
        "SELECT id FROM k WHERE small = {}",
        &[&["1"], &["40000"], &["'2'"], &["'40000'"], &["2"]],
    ),
    (
        "SELECT id FROM k WHERE r = {}",
        &[&["0.1"], &["0.5"], &["1"], &["'0.1'"], &["'0.5'"]],
    ),
    (
        "SELECT id FROM k WHERE d = {}",
        &[&["0.1"], &["1e300"], &["1e400"], &["'1e300'"], &["'1e400'"]],
    ),
    (
        "SELECT id FROM k WHERE n = {}",
        &[&["1.56"], &["2.5"], &["1.555"], &["3"], &["'2.50'"]],
    ),
    (
        "SELECT id, c FROM k WHERE c = {}",
        &[&["'ab'"], &["'ab '"], &["'abcd'"], &["'cd'"]],
    ),
    (
        "SELECT id FROM k WHERE v = {}",
        &[&["'xy'"], &["'xyzw'"], &["'zz'"]],
    ),
    (
        "SELECT id FROM k WHERE t = {} OR t = {} ORDER BY 1",
        &[
            &["'it''s'", "'x'"],
            &["'plain'", "'it''s'"],
            &["E'it\\'s'", "'plain'"],
        ],
    ),
    (
        "SELECT id FROM k WHERE ts > {} ORDER BY 1",
        &[
            &["'2020-06-01'"],
            &["'2019-12-31 23:00-02'"],
            &["'garbage'"],
            &["'2021-06-01 12:00+00'"],
        ],
    ),
    (
        "SELECT id FROM k WHERE dt BETWEEN {} AND {} ORDER BY 1",
        &[
            &["'2019-01-01'", "'2020-12-31'"],
            &["'2020-01-01'", "'2022-01-01'"],
            &["'2020-02-30'", "'2022-01-01'"],
        ],
    ),
    (
        "SELECT id FROM k WHERE b = {} ORDER BY 1",
        &[&["'t'"], &["'false'"], &["'maybe'"], &["'yes'"]],
    ),
    (
        "SELECT id FROM k WHERE m = {}",
        &[&["'ok'"], &["'sad'"], &["'nope'"]],
    ),
    (
        "SELECT id FROM k WHERE j = {}",
        &[&["'{\"a\":1}'"], &["'[1,2]'"], &["'not json'"]],
    ),
    (
        "SELECT id FROM k WHERE a = {}",
        &[&["'{1,2}'"], &["'{3}'"], &["'{x}'"]],
    ),
    (
        "SELECT id FROM k WHERE iv < {} ORDER BY 1",
        &[&["'1 day'"], &["'3 hours'"], &["'xyz'"], &["'1 week'"]],
    ),
    (
        "SELECT id FROM k WHERE by = {}",
        &[&["'\\x0102'"], &["'\\xff'"], &["'\\xzz'"]],
    ),
    (
        "SELECT id FROM k WHERE id IN ({}, {}) ORDER BY 1",
        &[&["1", "2"], &["2", "3"], &["'1'", "'x'"], &["1", "2.5"]],
    ),
    (
        "SELECT id, {} AS x FROM k WHERE id = {}",
        &[&["'a'", "1"], &["5", "2"], &["'b'", "1"], &["1.5", "1"]],
    ),
    (
        "SELECT id FROM k WHERE id > {} ORDER BY {} LIMIT {}",
        &[&["0", "1", "1"], &["1", "1", "5"], &["0", "1", "2"]],
    ),
    (
        "SELECT id FROM k WHERE id = -{} OR n = -{}",
        &[&["1", "1.56"], &["2147483648", "2.5"], &["3", "0"]],
    ),
    (
        "UPDATE k SET small = small + {} WHERE id = {} RETURNING small",
        &[&["1", "1"], &["40000", "1"], &["-1", "2"], &["'1'", "1"]],
    ),
    (
        "UPDATE k SET big = big * {} WHERE id = {} RETURNING big",
        &[&["2", "1"], &["4", "2"], &["3000000000", "2"], &["1.5", "1"]],
    ),
    (
        "UPDATE k SET v = {}, n = {} WHERE id = {} RETURNING v, n",
        &[
            &["'ab'", "1.005", "1"],
            &["'toolong'", "1", "1"],
            &["'q'", "123456789.5", "2"],
            &["'qq'", "'7.777'", "2"],
        ],
    ),
    (
        "INSERT INTO k (id, small, r, n, c, v, ts, m, a) VALUES ({}, {}, {}, {}, {}, {}, {}, {}, {}) RETURNING *",
        &[
            &["10", "1", "0.25", "1.005", "'a'", "'b'", "'2020-01-01'", "'ok'", "'{}'"],
            &["11", "40000", "0.25", "1.005", "'a'", "'b'", "'2020-01-01'", "'ok'", "'{}'"],
            &["12", "2", "1e50", "1.005", "'a'", "'b'", "'2020-01-01'", "'ok'", "'{}'"],
            &["13", "2", "0.5", "1.005", "'abcd'", "'b'", "'2020-01-01'", "'ok'", "'{}'"],
            &["14", "2", "0.5", "1.005", "'a'", "'b   '", "'2020-01-01'", "'ok'", "'{}'"],
            &["15", "2", "0.5", "1.005", "'a'", "'b'", "'bad'", "'ok'", "'{}'"],
            &["16", "2", "0.5", "1.005", "'a'", "'b'", "'2020-01-01'", "'nope'", "'{}'"],
            &["1", "2", "0.5", "1.005", "'a'", "'b'", "'2020-01-01'", "'ok'", "'{}'"],
            &["17", "-3", "-0.5", "-99999999.999", "'a'", "'b'", "'2020-01-01'", "'happy'", "'{7}'"],
        ],
    ),
    (
        "SELECT id FROM k WHERE dt = {}::date",
        &[&["'2020-01-01'"], &["'2021-06-01'"], &["'bad'"], &["'2020-02-30'"]],
    ),
    (
        "SELECT id, v FROM k WHERE v = CAST({} AS varchar(2))",
        &[&["'xyz'"], &["'zzz'"], &["'xy'"]],
    ),
    (
        "SELECT id FROM k WHERE m = {}::mood",
        &[&["'ok'"], &["'nope'"], &["'sad'"]],
    ),
    (
        "SELECT id FROM k WHERE a = {}::int[]",
        &[&["'{1,2}'"], &["'{x}'"], &["'{3}'"]],
    ),
    (
        "SELECT id FROM k WHERE big = {}::bigint ORDER BY 1",
        &[&["10"], &["3000000000"], &["'10'"], &["'3000000000'"], &["1.5"]],
    ),
    (
        "SELECT id FROM k WHERE id = {}::posint",
        &[&["1"], &["-1"], &["'2'"], &["'x'"], &["0"]],
    ),
    (
        "SELECT id FROM k WHERE small = {}::int2",
        &[&["1"], &["40000"], &["2"]],
    ),
    (
        "UPDATE k SET ts = {}::timestamptz, iv = {}::interval WHERE id = {} RETURNING ts, iv",
        &[
            &["'2022-02-02 02:02+02'", "'1 day'", "1"],
            &["'yesterday-ish'", "'1 day'", "1"],
            &["'2023-03-03'", "'5 minutes'", "2"],
            &["'2023-03-03'", "'soon'", "2"],
        ],
    ),
    (
        "DELETE FROM k WHERE id = {} OR t = {} RETURNING id",
        &[&["1", "'x'"], &["2", "'it''s'"], &["'x'", "'y'"]],
    ),
];

fn fill(shape: &str, constants: &[&str]) -> String {
    let mut out = String::new();
    let mut parts = shape.split("{}");
    out.push_str(parts.next().unwrap());
    for (part, constant) in parts.zip(constants) {
        out.push_str(constant);
        out.push_str(part);
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cached_plan_gives_what_the_text_gives() {
    let server = TestServer::start_with_shards(2);
    let setup = server.connect().await;
    setup.batch_execute(SETUP).await.unwrap();
    // One session runs every Query of a shape in turn (the first fills
    // the cache, the rest use it); another runs each as its first of the
    // shape, emptying its cache after each (DISCARD ALL).
    let warm = server.connect().await;
    let cold = server.connect().await;
    let mut compared = 0;
    for (shape, runs) in SHAPES {
        for constants in runs.iter() {
            let sql = fill(shape, constants);
            let cached = in_block(&warm, &sql).await;
            let fresh = in_block(&cold, &sql).await;
            cold.simple_query("DISCARD ALL").await.unwrap();
            assert_eq!(cached, fresh, "{sql}");
            // And again: a second run of the very same text.
            let again = in_block(&warm, &sql).await;
            assert_eq!(again, fresh, "{sql} (again)");
            compared += 1;
        }
    }
    assert!(compared > 80, "{compared}");
    // The shapes wrote nothing (each ran in a rolled-back block).
    let rows = outcome(&setup, "SELECT count(*), sum(id) FROM k").await;
    assert_eq!(rows, "3|6");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cached_plan_follows_the_catalog_the_path_and_the_settings() {
    let server = TestServer::start_with_shards(2);
    let a = server.connect().await;
    let b = server.connect().await;
    a.batch_execute(
        "CREATE TABLE t (id int PRIMARY KEY, ts timestamptz);
         INSERT INTO t VALUES (1, '2020-01-01 00:00+00'), (2, '2020-01-01 12:00+00');
         CREATE SCHEMA other;
         CREATE TABLE other.t (id int PRIMARY KEY, note text);
         INSERT INTO other.t VALUES (1, 'other one'), (2, 'other two');",
    )
    .await
    .unwrap();
    assert_eq!(
        outcome(&a, "SELECT * FROM t WHERE id = 1").await,
        "1|2020-01-01 00:00:00+00"
    );

    // Another session changes the table: the next Query sees the change.
    b.batch_execute("ALTER TABLE t ADD COLUMN z int DEFAULT 7")
        .await
        .unwrap();
    assert_eq!(
        outcome(&a, "SELECT * FROM t WHERE id = 2").await,
        "2|2020-01-01 12:00:00+00|7"
    );

    // Another search_path: another table.
    a.batch_execute("SET search_path = other, public")
        .await
        .unwrap();
    assert_eq!(
        outcome(&a, "SELECT * FROM t WHERE id = 2").await,
        "2|other two"
    );
    a.batch_execute("RESET search_path").await.unwrap();

    // A constant the cache does not make a parameter (a typed literal) is
    // read in the time zone of the moment: SET LOCAL's inside the block,
    // the session's after it.
    let q = "SELECT id FROM t WHERE ts >= TIMESTAMPTZ '2020-01-01 09:00' AND id > 0 ORDER BY 1";
    assert_eq!(outcome(&a, q).await, "2");
    a.batch_execute("BEGIN; SET LOCAL TimeZone = 'Asia/Tokyo'")
        .await
        .unwrap();
    assert_eq!(outcome(&a, q).await, "1\n2");
    let q2 = "SELECT id FROM t WHERE ts >= TIMESTAMPTZ '2020-01-01 09:00' AND id > 1 ORDER BY 1";
    assert_eq!(outcome(&a, q2).await, "2");
    a.batch_execute("COMMIT").await.unwrap();
    assert_eq!(outcome(&a, q).await, "2");
    assert_eq!(
        outcome(
            &a,
            "SELECT id FROM t WHERE ts >= TIMESTAMPTZ '2020-01-01 09:00' AND id > -1 ORDER BY 1"
        )
        .await,
        "2"
    );

    // A block that changes the table and rolls back: nothing it bound
    // outlives it.
    a.batch_execute("BEGIN; ALTER TABLE t ADD COLUMN q int DEFAULT 5")
        .await
        .unwrap();
    assert_eq!(
        outcome(&a, "SELECT * FROM t WHERE id = 1").await,
        "1|2020-01-01 00:00:00+00|7|5"
    );
    a.batch_execute("ROLLBACK").await.unwrap();
    assert_eq!(
        outcome(&a, "SELECT * FROM t WHERE id = 2").await,
        "2|2020-01-01 12:00:00+00|7"
    );
}
