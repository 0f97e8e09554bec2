//! Schemas through the real binary: they and what is in them survive a
//! clean restart and a crash (the catalog log's replay); prepared
//! statements follow `search_path`; the startup packet's options set it;
//! a three-part name may name the session's own database only.
//! (What the SQL does, checked against PostgreSQL, is in
//! `slt/schemas.slt`.)

use tessera_testkit::{assert_sqlstate, rows_text, TestServer};
use tokio_postgres::error::SqlState;
use tokio_postgres::{Client, NoTls};

fn skip_external(server: &TestServer) -> bool {
    if server.is_external() {
        eprintln!("skipping: needs process control of a spawned tessera");
    }
    server.is_external()
}

/// What the catalog holds, as a client sees it.
async fn snapshot(client: &Client) -> Vec<String> {
    let mut out = Vec::new();
    for sql in [
        "SELECT id, v FROM sales.t ORDER BY id",
        "SELECT id, v FROM \"Mixed Case\".t ORDER BY id",
        "SELECT n FROM public.t ORDER BY n",
        "SELECT * FROM sales.v ORDER BY 1",
        "SELECT nextval('sales.t_id_seq') > 2",
        "SELECT current_schemas(false)",
    ] {
        out.push(format!("{sql}: {:?}", rows_text(client, sql).await));
    }
    out
}

#[tokio::test]
async fn schemas_survive_a_restart_and_a_crash() {
    let mut server = TestServer::start_with_shards(2);
    if skip_external(&server) {
        return;
    }
    let (client, connection) = server.connect_with_task().await;
    client
        .batch_execute(
            "CREATE SCHEMA sales;
             CREATE SCHEMA \"Mixed Case\";
             CREATE SCHEMA gone;
             CREATE SCHEMA old_name;
             CREATE TABLE sales.t (id serial PRIMARY KEY, v text);
             CREATE TABLE \"Mixed Case\".t (id int PRIMARY KEY, v text);
             CREATE TABLE public.t (n int);
             CREATE TABLE gone.t (x int);
             CREATE INDEX t_v_idx ON sales.t (v);
             INSERT INTO sales.t (v) VALUES ('a'), ('b');
             INSERT INTO \"Mixed Case\".t VALUES (1, 'm');
             INSERT INTO public.t VALUES (7);
             SET search_path TO sales, public;
             CREATE VIEW v AS SELECT v FROM t;
             DROP SCHEMA gone CASCADE;
             ALTER SCHEMA old_name RENAME TO new_name;",
        )
        .await
        .unwrap();
    let before = snapshot(&client).await;
    assert_eq!(
        before[5],
        "SELECT current_schemas(false): [\"{sales,public}\"]"
    );
    drop(client);
    connection.await.unwrap();

    server.restart();
    let client = server.connect().await;
    client
        .batch_execute("SET search_path TO sales, public")
        .await
        .unwrap();
    let after_restart = snapshot(&client).await;
    // The serial's sequence goes on (its value is in the log too).
    assert_eq!(before[..4], after_restart[..4]);
    assert_sqlstate(
        client.batch_execute("CREATE TABLE gone.t (x int)").await,
        &SqlState::INVALID_SCHEMA_NAME,
        "the dropped schema stays dropped",
    );
    assert_sqlstate(
        client.batch_execute("CREATE SCHEMA sales").await,
        &SqlState::DUPLICATE_SCHEMA,
        "the schema is back",
    );

    // Changes after the restart, then a crash: the log is replayed again.
    client
        .batch_execute(
            "CREATE TABLE new_name.t (k int PRIMARY KEY);
             INSERT INTO new_name.t VALUES (1), (2), (3);
             CREATE SCHEMA late;
             CREATE SEQUENCE late.s START 40;",
        )
        .await
        .unwrap();
    assert_eq!(rows_text(&client, "SELECT nextval('late.s')").await, ["40"]);
    drop(client);
    server.kill9();
    server.restart();
    let client = server.connect().await;
    client
        .batch_execute("SET search_path TO sales, public")
        .await
        .unwrap();
    let after_crash = snapshot(&client).await;
    assert_eq!(before[..4], after_crash[..4]);
    assert_eq!(
        rows_text(&client, "SELECT sum(k) FROM new_name.t").await,
        ["6"]
    );
    let next: i64 = rows_text(&client, "SELECT nextval('late.s')").await[0]
        .parse()
        .unwrap();
    assert!(next > 40, "a sequence value was handed out twice: {next}");
    assert_sqlstate(
        client.batch_execute("SELECT * FROM old_name.t").await,
        &SqlState::UNDEFINED_TABLE,
        "the old name is gone",
    );
}

/// A statement prepared under one search_path and run under another is
/// bound again: it reads the table the new path finds, as PostgreSQL's
/// plan cache does.
#[tokio::test]
async fn prepared_statements_follow_the_search_path() {
    let server = TestServer::start_with_shards(2);
    let client = server.connect().await;
    client
        .batch_execute(
            "CREATE SCHEMA a;
             CREATE SCHEMA b;
             CREATE TABLE a.t (v text);
             CREATE TABLE b.t (v text);
             INSERT INTO a.t VALUES ('from a');
             INSERT INTO b.t VALUES ('from b');
             SET search_path TO a;",
        )
        .await
        .unwrap();
    let select = client.prepare("SELECT v FROM t").await.unwrap();
    let insert = client.prepare("INSERT INTO t VALUES ($1)").await.unwrap();
    let read = |rows: Vec<tokio_postgres::Row>| -> Vec<String> {
        rows.iter().map(|r| r.get::<_, String>(0)).collect()
    };
    assert_eq!(read(client.query(&select, &[]).await.unwrap()), ["from a"]);
    client.batch_execute("SET search_path TO b").await.unwrap();
    assert_eq!(read(client.query(&select, &[]).await.unwrap()), ["from b"]);
    client.execute(&insert, &[&"into b"]).await.unwrap();
    assert_eq!(rows_text(&client, "SELECT count(*) FROM b.t").await, ["2"]);
    assert_eq!(rows_text(&client, "SELECT count(*) FROM a.t").await, ["1"]);
    // Nothing on the path has t any more.
    client
        .batch_execute("SET search_path TO nosuch")
        .await
        .unwrap();
    assert_sqlstate(
        client.query(&select, &[]).await,
        &SqlState::UNDEFINED_TABLE,
        "no t on the path",
    );
    // SET LOCAL lasts until the block ends; a rolled back SET is undone.
    client
        .batch_execute("BEGIN; SET LOCAL search_path TO a")
        .await
        .unwrap();
    assert_eq!(read(client.query(&select, &[]).await.unwrap()), ["from a"]);
    client.batch_execute("COMMIT").await.unwrap();
    assert_eq!(rows_text(&client, "SHOW search_path").await, ["nosuch"]);
    client
        .batch_execute("BEGIN; SET search_path TO b; ROLLBACK")
        .await
        .unwrap();
    assert_eq!(rows_text(&client, "SHOW search_path").await, ["nosuch"]);
}

/// `options=-c search_path=…` in the startup packet sets the path, and
/// `db.schema.table` is accepted for the database connected to only.
#[tokio::test]
async fn startup_options_and_three_part_names() {
    let server = TestServer::start_with_shards(1);
    let client = server.connect().await;
    client
        .batch_execute(
            "CREATE SCHEMA s;
             CREATE TABLE s.t (v int);
             INSERT INTO s.t VALUES (5);",
        )
        .await
        .unwrap();
    let mut config = server.config();
    config.options("-c search_path=s,public");
    let (with_path, connection) = config.connect(NoTls).await.unwrap();
    tokio::spawn(connection);
    assert_eq!(
        rows_text(&with_path, "SHOW search_path").await,
        ["s,public"]
    );
    assert_eq!(rows_text(&with_path, "SELECT v FROM t").await, ["5"]);
    assert_eq!(
        rows_text(&with_path, "SELECT current_schema()").await,
        ["s"]
    );
    let db = server.dbname();
    assert_eq!(
        rows_text(&client, &format!("SELECT {db}.s.t.v FROM {db}.s.t")).await,
        ["5"]
    );
    let message = assert_sqlstate(
        client.batch_execute("SELECT * FROM elsewhere.s.t").await,
        &SqlState::FEATURE_NOT_SUPPORTED,
        "another database",
    );
    assert_eq!(
        message,
        "cross-database references are not implemented: \"elsewhere.s.t\""
    );
    // A malformed path is refused at startup, as PostgreSQL does.
    let mut bad = server.config();
    bad.options("-c search_path=a,,b");
    let refused = bad.connect(NoTls).await.map(|_| ());
    assert_sqlstate(
        refused,
        &SqlState::INVALID_PARAMETER_VALUE,
        "a malformed search_path",
    );
}
