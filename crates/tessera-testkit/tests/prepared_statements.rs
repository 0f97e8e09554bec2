//! SQL `PREPARE`/`EXECUTE` and the extended protocol's named statements
//! share one namespace per session, as in PostgreSQL: a name Parsed by
//! the driver cannot be PREPAREd again, EXECUTE runs a Parsed statement,
//! DEALLOCATE drops either kind, and `pg_prepared_statements` lists both.

use tessera_testkit::{assert_sqlstate, rows_text, TestServer};
use tokio_postgres::error::SqlState;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sql_and_protocol_statements_share_one_namespace() {
    let server = TestServer::start_with_shards(2);
    let c = server.connect().await;
    c.batch_execute("CREATE TABLE ns (a int PRIMARY KEY, b text)")
        .await
        .unwrap();
    // tokio-postgres Parses a named statement (for each query too, which
    // it closes when done).
    let parsed = c.prepare("SELECT $1::int4 + 1 AS next").await.unwrap();
    let listed = c
        .query(
            "SELECT name, statement, parameter_types::text, from_sql, generic_plans, custom_plans \
             FROM pg_prepared_statements WHERE statement = 'SELECT $1::int4 + 1 AS next'",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(listed.len(), 1, "the Parsed statement is listed");
    let name: String = listed[0].get(0);
    assert_eq!(listed[0].get::<_, String>(1), "SELECT $1::int4 + 1 AS next");
    assert_eq!(listed[0].get::<_, String>(2), "{integer}");
    assert!(!listed[0].get::<_, bool>(3), "not from SQL");
    assert_eq!(listed[0].get::<_, i64>(5), 0, "not bound yet");
    let row = c.query_one(&parsed, &[&41i32]).await.unwrap();
    assert_eq!(row.get::<_, i32>(0), 42);

    // The same name cannot be PREPAREd; EXECUTE runs the Parsed statement.
    assert_sqlstate(
        c.batch_execute(&format!("PREPARE {name} AS SELECT 1"))
            .await,
        &SqlState::DUPLICATE_PSTATEMENT,
        "PREPARE of a name the driver Parsed",
    );
    let rows = c
        .simple_query(&format!("EXECUTE {name}(99)"))
        .await
        .unwrap();
    let values: Vec<&str> = rows
        .iter()
        .filter_map(|m| match m {
            tokio_postgres::SimpleQueryMessage::Row(r) => r.get(0),
            _ => None,
        })
        .collect();
    assert_eq!(values, ["100"]);

    // A SQL PREPAREd name cannot be Parsed: the driver's Parse fails.
    c.batch_execute("PREPARE by_sql (int, text) AS INSERT INTO ns VALUES ($1, $2)")
        .await
        .unwrap();
    // EXECUTE through the extended protocol.
    let n = c.execute("EXECUTE by_sql(1, 'one')", &[]).await.unwrap();
    assert_eq!(n, 1);
    let rows = c
        .query(
            "SELECT name, from_sql, custom_plans FROM pg_prepared_statements ORDER BY from_sql, name",
            &[],
        )
        .await
        .unwrap();
    let seen: Vec<(String, bool, i64)> = rows
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .filter(|(n, _, _): &(String, bool, i64)| *n == name || n == "by_sql")
        .collect();
    assert_eq!(
        seen,
        [(name.clone(), false, 2), ("by_sql".to_string(), true, 1)],
        "one Bind and one EXECUTE of the Parsed statement, one EXECUTE of by_sql"
    );

    if !server.is_external() {
        // EXPLAIN EXECUTE shows the prepared statement's plan (PostgreSQL's
        // plans read differently).
        let plan = rows_text(&c, "EXPLAIN (COSTS OFF) EXECUTE by_sql(2, 'two')").await;
        assert_eq!(
            plan.first().map(String::as_str),
            Some("Insert on ns"),
            "{plan:?}"
        );
    }
    assert_sqlstate(
        c.batch_execute("EXPLAIN EXECUTE by_sql(2)").await,
        &SqlState::SYNTAX_ERROR,
        "EXPLAIN EXECUTE with too few arguments",
    );
    assert_eq!(
        rows_text(&c, "SELECT count(*) FROM ns").await,
        ["1"],
        "EXPLAIN EXECUTE does not run the statement"
    );

    // DEALLOCATE drops a Parsed statement: the driver's handle is dead.
    c.batch_execute(&format!("DEALLOCATE {name}"))
        .await
        .unwrap();
    assert_sqlstate(
        c.query(&parsed, &[&1i32]).await,
        &SqlState::INVALID_SQL_STATEMENT_NAME,
        "a Parsed statement after DEALLOCATE",
    );
    assert_sqlstate(
        c.batch_execute(&format!("DEALLOCATE {name}")).await,
        &SqlState::INVALID_SQL_STATEMENT_NAME,
        "DEALLOCATE twice",
    );
    // …and the name is free for PREPARE.
    c.batch_execute(&format!("PREPARE {name} AS SELECT 'sql'"))
        .await
        .unwrap();
    c.batch_execute("DISCARD ALL").await.unwrap();
    // Through the simple protocol, so that the query is not listed itself.
    assert_eq!(
        rows_text(&c, "SELECT count(*) FROM pg_prepared_statements").await,
        ["0"],
        "DISCARD ALL drops both kinds"
    );
}

/// `tessera_sql::PREPARED_STATEMENTS_MAX`.
const PREPARED_STATEMENTS_MAX: usize = 10_000;

/// One limit covers both kinds: past [`PREPARED_STATEMENTS_MAX`] named
/// statements, a PREPARE or a driver's Parse fails with 54000 until one is
/// dropped. (PostgreSQL has no such limit.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prepared_statements_are_limited_per_session() {
    let server = TestServer::start_with_shards(1);
    if server.is_external() {
        return;
    }
    let c = server.connect().await;
    let max = PREPARED_STATEMENTS_MAX;
    let parsed = c.prepare("SELECT 1").await.unwrap();
    // A hundred at a time: each statement of a Query keeps the Query's text.
    let names: Vec<usize> = (1..max).collect();
    for chunk in names.chunks(100) {
        let sql: String = chunk
            .iter()
            .map(|i| format!("PREPARE p{i} AS SELECT {i};"))
            .collect();
        c.batch_execute(&sql).await.unwrap();
    }
    assert_sqlstate(
        c.batch_execute("PREPARE one_more AS SELECT 0").await,
        &SqlState::PROGRAM_LIMIT_EXCEEDED,
        "PREPARE past the limit",
    );
    assert_sqlstate(
        c.prepare("SELECT 2").await,
        &SqlState::PROGRAM_LIMIT_EXCEEDED,
        "Parse past the limit",
    );
    drop(parsed);
    // The driver closes its statement (Close is sent with the next query).
    c.batch_execute("DEALLOCATE p1").await.unwrap();
    c.batch_execute("PREPARE one_more AS SELECT 0")
        .await
        .unwrap();
    assert_eq!(rows_text(&c, "EXECUTE one_more").await, ["0"]);
    assert_eq!(
        rows_text(&c, "SELECT count(*) FROM pg_prepared_statements").await,
        [format!("{}", max - 1)],
        "the Parsed statement closed, p1 deallocated, one_more added"
    );
}
