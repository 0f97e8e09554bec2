//! Errors about an object name it in the ErrorResponse fields PostgreSQL
//! sends (schema `s`, table `t`, column `c`, constraint `n`), which
//! drivers expose (`e.constraint_name` in asyncpg, `e.diag` in psycopg,
//! `DbError::constraint` in tokio-postgres). Each expectation is what
//! PostgreSQL 15 sends for the same statement.

use tessera_testkit::TestServer;
use tokio_postgres::error::DbError;

async fn db_error(client: &tokio_postgres::Client, sql: &str) -> DbError {
    let e = client
        .batch_execute(sql)
        .await
        .expect_err("the statement must fail");
    e.as_db_error()
        .unwrap_or_else(|| panic!("{sql}: not a server error: {e}"))
        .clone()
}

/// A statement, its SQLSTATE, and the table, column and constraint named.
type Case = (
    &'static str,
    &'static str,
    &'static str,
    Option<&'static str>,
    Option<&'static str>,
);

#[tokio::test]
async fn constraint_violations_name_their_objects() {
    let server = TestServer::start_with_shards(2);
    let client = server.connect().await;
    client
        .batch_execute(
            "CREATE TABLE ef_p (id int PRIMARY KEY, u int UNIQUE, n int NOT NULL CHECK (n > 0));
             CREATE TABLE ef_c (id int PRIMARY KEY, p int REFERENCES ef_p (id));
             INSERT INTO ef_p VALUES (1, 1, 1);
             INSERT INTO ef_c VALUES (1, 1)",
        )
        .await
        .unwrap();
    let cases: [Case; 6] = [
        (
            "INSERT INTO ef_p VALUES (1, 2, 1)",
            "23505",
            "ef_p",
            None,
            Some("ef_p_pkey"),
        ),
        (
            "INSERT INTO ef_p VALUES (2, 1, 1)",
            "23505",
            "ef_p",
            None,
            Some("ef_p_u_key"),
        ),
        (
            "INSERT INTO ef_p VALUES (3, 3, NULL)",
            "23502",
            "ef_p",
            Some("n"),
            None,
        ),
        (
            "INSERT INTO ef_p VALUES (4, 4, -1)",
            "23514",
            "ef_p",
            None,
            Some("ef_p_n_check"),
        ),
        (
            "INSERT INTO ef_c VALUES (2, 9)",
            "23503",
            "ef_c",
            None,
            Some("ef_c_p_fkey"),
        ),
        (
            "DELETE FROM ef_p",
            "23503",
            "ef_c",
            None,
            Some("ef_c_p_fkey"),
        ),
    ];
    for (sql, code, table, column, constraint) in cases {
        let e = db_error(&client, sql).await;
        assert_eq!(e.code().code(), code, "{sql}: {e}");
        assert_eq!(e.schema(), Some("public"), "{sql}");
        assert_eq!(e.table(), Some(table), "{sql}");
        assert_eq!(e.column(), column, "{sql}");
        assert_eq!(e.constraint(), constraint, "{sql}");
    }
    // An error about no object names none.
    let e = db_error(&client, "SELECT 1 / 0").await;
    assert_eq!((e.schema(), e.table(), e.constraint()), (None, None, None));
}

/// A syntax error says where it is (the `P` field: characters from 1 in
/// the query string, one past the end at its end), from which psql draws
/// `LINE n:` and its caret. Each position is PostgreSQL 15's.
#[tokio::test]
async fn syntax_errors_carry_their_position() {
    use tokio_postgres::error::ErrorPosition;
    let server = TestServer::start();
    let client = server.connect().await;
    for (sql, position) in [
        ("selec 1", 1),
        ("SELECT 1 +", 11),
        ("SELECT 'é', 1 +", 16),
        ("SELECT 1,\n  2 frm x", 19),
        ("SELECT 1; SELECT * FROM t WHERE;", 32),
        ("SELECT 1 +\n;", 12),
    ] {
        let e = db_error(&client, sql).await;
        assert_eq!(e.code().code(), "42601", "{sql}");
        assert_eq!(
            e.position(),
            Some(&ErrorPosition::Original(position)),
            "{sql}: {}",
            e.message()
        );
    }
}

/// An unknown or ambiguous column and an unknown relation say where their
/// name is written, as PostgreSQL 15 does (positions checked against it).
#[tokio::test]
async fn name_errors_carry_their_position() {
    use tokio_postgres::error::ErrorPosition;
    let server = TestServer::start_with_shards(2);
    let client = server.connect().await;
    client
        .batch_execute(
            "CREATE TABLE pa (id int PRIMARY KEY, a int); \
             CREATE TABLE pb (id int PRIMARY KEY, a int); \
             CREATE VIEW pv AS SELECT id FROM pa",
        )
        .await
        .unwrap();
    for (sql, code, position) in [
        ("select nope from pa", "42703", 8),
        ("select pa.nope from pa", "42703", 8),
        ("select x.a from pa", "42P01", 8),
        ("select a from pa, pb", "42702", 8),
        ("select * from nope", "42P01", 15),
        ("select * from pa join public.nope n on true", "42P01", 23),
        (
            "select id from pa where a in (select nope from pb)",
            "42703",
            38,
        ),
        ("select 1 from pa where \"Nope\" = 1", "42703", 24),
        ("update pa set a = nope", "42703", 19),
        ("insert into nope values (1)", "42P01", 13),
        ("delete from pa where nope = 1", "42703", 22),
        ("select * from pv where a = 1", "42703", 24),
        ("select\n  nope\nfrom pa", "42703", 10),
        ("select * from pa order by nope", "42703", 27),
    ] {
        let e = db_error(&client, sql).await;
        assert_eq!(e.code().code(), code, "{sql}: {}", e.message());
        assert_eq!(
            e.position(),
            Some(&ErrorPosition::Original(position)),
            "{sql}: {}",
            e.message()
        );
    }
}
