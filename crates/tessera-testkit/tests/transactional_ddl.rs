//! DDL inside transaction blocks, through the real binary: a block's
//! catalog changes are seen by it alone until COMMIT, vanish with
//! ROLLBACK (also ROLLBACK TO SAVEPOINT, a failed COMMIT and a
//! disconnect), commit atomically with the block's rows, and survive a
//! crash only if committed. Other sessions' writes to tables a block
//! changes wait for it, as PostgreSQL's table locks make them.

use std::time::Duration;

use tessera_testkit::{assert_sqlstate, rows_text, TestServer};
use tokio_postgres::error::SqlState;
use tokio_postgres::Client;

/// Whether `sql` fails with 42P01 (relation does not exist).
async fn missing(client: &Client, sql: &str) -> bool {
    match client.simple_query(sql).await {
        Err(e) => e.code() == Some(&SqlState::UNDEFINED_TABLE),
        Ok(_) => false,
    }
}

#[tokio::test]
async fn a_block_sees_its_ddl_alone_until_commit() {
    let server = TestServer::start_with_shards(2);
    let (a, b) = (server.connect().await, server.connect().await);
    a.batch_execute(
        "BEGIN;
         CREATE TABLE t (id serial PRIMARY KEY, email text UNIQUE, n int);
         INSERT INTO t (email, n) SELECT 'e' || g, g FROM generate_series(1, 50) g;
         CREATE INDEX t_n ON t (n);
         CREATE VIEW v AS SELECT count(*) AS c FROM t;
         COMMENT ON TABLE t IS 'made in a block';",
    )
    .await
    .unwrap();
    assert_eq!(rows_text(&a, "SELECT c FROM v").await, vec!["50"]);
    assert_eq!(
        rows_text(&a, "SELECT email FROM t WHERE n = 7").await,
        vec!["e7"]
    );
    // Another session sees none of it, in its statements or its catalogs.
    assert!(missing(&b, "SELECT * FROM t").await);
    assert_eq!(
        rows_text(
            &b,
            "SELECT count(*) FROM pg_class WHERE relname IN ('t', 'v', 't_n')"
        )
        .await,
        vec!["0"]
    );
    // The unique constraint holds within the block.
    assert_sqlstate(
        a.batch_execute("INSERT INTO t (email, n) VALUES ('e3', 0)")
            .await,
        &SqlState::UNIQUE_VIOLATION,
        "duplicate email in the block",
    );
    a.batch_execute("ROLLBACK").await.unwrap();
    assert!(missing(&a, "SELECT * FROM t").await);

    // The same again, committed: everything appears at once.
    a.batch_execute(
        "BEGIN;
         CREATE TABLE t (id serial PRIMARY KEY, email text UNIQUE, n int);
         INSERT INTO t (email, n) SELECT 'e' || g, g FROM generate_series(1, 50) g;
         CREATE INDEX t_n ON t (n);
         COMMIT;",
    )
    .await
    .unwrap();
    assert_eq!(
        rows_text(&b, "SELECT count(*), max(id) FROM t").await,
        vec!["50|50"]
    );
    assert_eq!(
        rows_text(&b, "SELECT email FROM t WHERE n = 9").await,
        vec!["e9"]
    );
    assert_sqlstate(
        b.batch_execute("INSERT INTO t (email, n) VALUES ('e4', 0)")
            .await,
        &SqlState::UNIQUE_VIOLATION,
        "unique after commit",
    );
    // The serial's sequence goes on past the block's values.
    assert_eq!(
        rows_text(&b, "INSERT INTO t (email) VALUES ('new') RETURNING id").await,
        vec!["52"]
    );
}

#[tokio::test]
async fn rollback_undoes_drops_and_savepoints_undo_what_follows_them() {
    let server = TestServer::start_with_shards(2);
    let (a, b) = (server.connect().await, server.connect().await);
    a.batch_execute(
        "CREATE TABLE keep (id int PRIMARY KEY, v text);
         INSERT INTO keep SELECT g, 'v' || g FROM generate_series(1, 20) g;
         CREATE TABLE child (id int PRIMARY KEY, k int REFERENCES keep (id));
         INSERT INTO child VALUES (1, 1);",
    )
    .await
    .unwrap();
    a.batch_execute("BEGIN; DROP TABLE keep CASCADE; CREATE TABLE keep (x text);")
        .await
        .unwrap();
    assert_eq!(rows_text(&a, "SELECT count(*) FROM keep").await, vec!["0"]);
    // Others still read the old table meanwhile.
    assert_eq!(rows_text(&b, "SELECT count(*) FROM keep").await, vec!["20"]);
    a.batch_execute("ROLLBACK").await.unwrap();
    assert_eq!(
        rows_text(&a, "SELECT count(*), max(v) FROM keep").await,
        vec!["20|v9"]
    );
    // The foreign key the drop cascaded to is back.
    assert_sqlstate(
        a.batch_execute("DELETE FROM keep WHERE id = 1").await,
        &SqlState::FOREIGN_KEY_VIOLATION,
        "restored foreign key",
    );

    a.batch_execute(
        "BEGIN;
         CREATE TABLE s1 (x int);
         SAVEPOINT p;
         CREATE TABLE s2 (x int);
         INSERT INTO s2 VALUES (1);
         ROLLBACK TO SAVEPOINT p;
         CREATE TABLE s2 (y text);
         INSERT INTO s2 VALUES ('after');
         COMMIT;",
    )
    .await
    .unwrap();
    assert_eq!(rows_text(&b, "SELECT * FROM s2").await, vec!["after"]);
    assert_eq!(rows_text(&b, "SELECT count(*) FROM s1").await, vec!["0"]);

    // A failed statement fails the block; its COMMIT rolls back the DDL.
    a.batch_execute("BEGIN; CREATE TABLE f (x int)")
        .await
        .unwrap();
    assert!(a.batch_execute("SELECT 1/0").await.is_err());
    let done = a.simple_query("COMMIT").await.unwrap();
    assert!(matches!(
        done.last(),
        Some(tokio_postgres::SimpleQueryMessage::CommandComplete(_))
    ));
    assert!(missing(&b, "SELECT * FROM f").await);

    // A disconnect rolls it back too, and releases the DDL lock.
    let c = server.connect().await;
    c.batch_execute("BEGIN; CREATE TABLE gone (x int)")
        .await
        .unwrap();
    drop(c);
    tokio::time::timeout(
        Duration::from_secs(20),
        b.batch_execute("CREATE TABLE after_disconnect (x int)"),
    )
    .await
    .expect("the DDL lock is released at disconnect")
    .unwrap();
    assert!(missing(&b, "SELECT * FROM gone").await);
}

#[tokio::test]
async fn a_primary_key_added_in_a_block_is_its_own_until_commit() {
    let mut server = TestServer::start_with_shards(2);
    let (a, b) = (server.connect().await, server.connect().await);
    a.batch_execute(
        "CREATE TABLE nk (a int, b text);
         INSERT INTO nk SELECT g, 'v' || g FROM generate_series(1, 50) g;
         BEGIN;
         INSERT INTO nk VALUES (51, 'own');
         ALTER TABLE nk ADD PRIMARY KEY (a);
         INSERT INTO nk VALUES (52, 'after');",
    )
    .await
    .unwrap();
    let pkey = "SELECT count(*) FROM pg_indexes WHERE tablename = 'nk'";
    assert_eq!(rows_text(&a, pkey).await, vec!["1"]);
    assert_eq!(
        rows_text(&a, "SELECT count(*), max(a) FROM nk").await,
        vec!["52|52"]
    );
    assert_sqlstate(
        a.batch_execute("SAVEPOINT s; INSERT INTO nk VALUES (7, 'dup')")
            .await,
        &SqlState::UNIQUE_VIOLATION,
        "the block's new key holds",
    );
    a.batch_execute("ROLLBACK TO SAVEPOINT s").await.unwrap();
    // Another session reads the old table meanwhile; its writes wait.
    assert_eq!(rows_text(&b, pkey).await, vec!["0"]);
    assert_eq!(
        rows_text(&b, "SELECT count(*), max(a) FROM nk").await,
        vec!["50|50"]
    );
    let writer = tokio::spawn(async move {
        let result = b.batch_execute("INSERT INTO nk VALUES (60, 'other')").await;
        (b, result)
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(!writer.is_finished(), "the insert waits for the block");
    a.batch_execute("ROLLBACK").await.unwrap();
    let (b, result) = writer.await.unwrap();
    result.unwrap();
    assert_eq!(rows_text(&a, pkey).await, vec!["0"]);
    assert_eq!(
        rows_text(&a, "SELECT count(*), max(a) FROM nk").await,
        vec!["51|60"]
    );

    // A duplicate fails the block as PostgreSQL words it; then a commit.
    a.batch_execute("BEGIN; INSERT INTO nk VALUES (1, 'twin')")
        .await
        .unwrap();
    assert_sqlstate(
        a.batch_execute("ALTER TABLE nk ADD PRIMARY KEY (a)").await,
        &SqlState::UNIQUE_VIOLATION,
        "a duplicate key",
    );
    a.batch_execute("ROLLBACK").await.unwrap();
    a.batch_execute("BEGIN; ALTER TABLE nk ADD PRIMARY KEY (a); COMMIT")
        .await
        .unwrap();
    assert_eq!(rows_text(&b, pkey).await, vec!["1"]);
    assert_sqlstate(
        b.batch_execute("INSERT INTO nk VALUES (60, 'again')").await,
        &SqlState::UNIQUE_VIOLATION,
        "the committed key holds for everyone",
    );
    if server.is_external() {
        return;
    }
    server.kill9();
    server.restart();
    let c = server.connect().await;
    assert_eq!(rows_text(&c, pkey).await, vec!["1"]);
    assert_eq!(
        rows_text(&c, "SELECT count(*), max(a) FROM nk").await,
        vec!["51|60"]
    );
    assert_eq!(
        rows_text(&c, "EXPLAIN SELECT * FROM nk WHERE a = 7").await[0],
        "Point Lookup on nk (primary key) (on 1 shard, by sharding key)"
    );
}

#[tokio::test]
async fn writes_to_what_a_block_changes_wait_for_it() {
    let server = TestServer::start_with_shards(2);
    let (a, b) = (server.connect().await, server.connect().await);
    a.batch_execute(
        "CREATE TABLE p (id int PRIMARY KEY, v int);
         INSERT INTO p SELECT g, g FROM generate_series(1, 10) g;",
    )
    .await
    .unwrap();
    // A block building an index holds writes to the table until it ends
    // (else they would miss the index).
    a.batch_execute("BEGIN; CREATE UNIQUE INDEX p_v ON p (v)")
        .await
        .unwrap();
    let writer = tokio::spawn(async move {
        let result = b.batch_execute("INSERT INTO p VALUES (11, 5)").await;
        (b, result)
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(!writer.is_finished(), "the insert waits for the block");
    a.batch_execute("COMMIT").await.unwrap();
    let (b, result) = writer.await.unwrap();
    assert_sqlstate(
        result,
        &SqlState::UNIQUE_VIOLATION,
        "the committed index holds",
    );
    b.batch_execute("INSERT INTO p VALUES (11, 11)")
        .await
        .unwrap();
    assert_eq!(
        rows_text(&b, "SELECT id FROM p WHERE v = 11").await,
        vec!["11"]
    );

    // Another session's DDL waits for the block's end.
    a.batch_execute("BEGIN; CREATE TABLE q (x int)")
        .await
        .unwrap();
    let ddl = tokio::spawn(async move {
        let result = b.batch_execute("CREATE TABLE q (y int)").await;
        (b, result)
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(!ddl.is_finished(), "the CREATE waits for the block");
    a.batch_execute("COMMIT").await.unwrap();
    let (b, result) = ddl.await.unwrap();
    assert_sqlstate(result, &SqlState::DUPLICATE_TABLE, "created by the block");

    // Two blocks waiting for each other: one is the deadlock's victim.
    a.batch_execute("BEGIN; CREATE TABLE r (x int); UPDATE p SET v = v WHERE id = 1")
        .await
        .ok();
    b.batch_execute("BEGIN; UPDATE p SET v = v WHERE id = 2")
        .await
        .unwrap();
    let first = tokio::spawn(async move {
        let result = a.batch_execute("UPDATE p SET v = v WHERE id = 2").await;
        (a, result)
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    let second = b.batch_execute("CREATE TABLE r2 (x int)").await;
    if second.is_err() {
        // The victim's locks go with its rollback.
        b.batch_execute("ROLLBACK").await.unwrap();
    }
    let (a, first) = first.await.unwrap();
    let victims = [&first, &second]
        .iter()
        .filter(|r| {
            r.as_ref()
                .err()
                .and_then(|e| e.code())
                .is_some_and(|c| *c == SqlState::T_R_DEADLOCK_DETECTED)
        })
        .count();
    assert!(victims >= 1, "{first:?} {second:?}");
    a.batch_execute("ROLLBACK").await.unwrap();
    b.batch_execute("ROLLBACK").await.unwrap();
    assert!(missing(&b, "SELECT * FROM r").await);
}

#[tokio::test]
async fn an_index_built_in_a_block_covers_committed_and_own_rows() {
    let server = TestServer::start_with_shards(2);
    let a = server.connect().await;
    a.batch_execute(
        "CREATE TABLE d (id int PRIMARY KEY, v int);
         INSERT INTO d SELECT g, g % 5 FROM generate_series(1, 20) g;
         BEGIN;
         INSERT INTO d VALUES (101, 3);
         CREATE INDEX d_v ON d (v);
         CREATE UNIQUE INDEX d_v_id ON d (v, id);
         INSERT INTO d VALUES (102, 3);",
    )
    .await
    .unwrap();
    let count = "SELECT count(*) FROM d WHERE v = 3";
    assert_eq!(rows_text(&a, count).await, vec!["6"]);
    a.batch_execute("COMMIT").await.unwrap();
    let b = server.connect().await;
    assert_eq!(rows_text(&b, count).await, vec!["6"]);
    let plan = rows_text(&b, "EXPLAIN SELECT id FROM d WHERE v = 3").await;
    assert!(plan[0].contains("d_v"), "{plan:?}");
    assert_sqlstate(
        b.batch_execute("INSERT INTO d SELECT 103, 3 UNION ALL SELECT 103, 3")
            .await,
        &SqlState::UNIQUE_VIOLATION,
        "the primary key",
    );
}

#[tokio::test]
async fn only_committed_ddl_survives_a_crash() {
    let mut server = TestServer::start_with_shards(2);
    if server.is_external() {
        return;
    }
    let a = server.connect().await;
    a.batch_execute(
        "BEGIN;
         CREATE TABLE kept (id serial PRIMARY KEY, v text UNIQUE);
         INSERT INTO kept (v) SELECT 'v' || g FROM generate_series(1, 30) g;
         CREATE INDEX kept_v ON kept (v);
         COMMIT;
         BEGIN;
         DROP TABLE kept;
         CREATE TABLE lost (x int);
         INSERT INTO lost VALUES (1);",
    )
    .await
    .unwrap();
    server.kill9();
    server.restart();
    let b = server.connect().await;
    assert_eq!(
        rows_text(&b, "SELECT count(*), max(id) FROM kept").await,
        vec!["30|30"]
    );
    assert_eq!(
        rows_text(&b, "SELECT id FROM kept WHERE v = 'v17'").await,
        vec!["17"]
    );
    assert!(missing(&b, "SELECT * FROM lost").await);
    let next: i32 = b
        .query_one("INSERT INTO kept (v) VALUES ('new') RETURNING id", &[])
        .await
        .unwrap()
        .get(0);
    assert!(
        next > 30,
        "the sequence goes on past the block's values: {next}"
    );
}

#[tokio::test]
async fn columns_added_or_retyped_in_a_block_are_its_own_until_commit() {
    let mut server = TestServer::start_with_shards(2);
    let (a, b) = (server.connect().await, server.connect().await);
    a.batch_execute(
        "CREATE TABLE m (id int PRIMARY KEY, v int);
         INSERT INTO m SELECT g, g FROM generate_series(1, 20) g;
         BEGIN;
         INSERT INTO m VALUES (21, 21);
         ALTER TABLE m ADD COLUMN note text DEFAULT 'n';
         ALTER TABLE m ALTER COLUMN v TYPE numeric(10, 2);
         UPDATE m SET note = 'x' WHERE id = 3;
         INSERT INTO m VALUES (22, 2.5, 'own');",
    )
    .await
    .unwrap();
    let row3 = "SELECT * FROM m WHERE id = 3";
    assert_eq!(rows_text(&a, row3).await, vec!["3|3.00|x"]);
    assert_eq!(
        rows_text(&a, "SELECT count(*), sum(v), count(note) FROM m").await,
        vec!["22|233.50|22"]
    );
    assert_eq!(
        rows_text(&a, "SELECT id FROM m WHERE v = 21").await,
        vec!["21"]
    );
    // Another session reads the committed shape and rows meanwhile; its
    // writes to the table wait for the block.
    assert_eq!(rows_text(&b, row3).await, vec!["3|3"]);
    assert_eq!(
        rows_text(&b, "SELECT count(*), sum(v) FROM m").await,
        vec!["20|210"]
    );
    let writer = tokio::spawn(async move {
        let result = b.batch_execute("INSERT INTO m VALUES (30, 30)").await;
        (b, result)
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(!writer.is_finished(), "the insert waits for the block");
    a.batch_execute("ROLLBACK").await.unwrap();
    let (b, result) = writer.await.unwrap();
    result.unwrap();
    assert_eq!(rows_text(&a, row3).await, vec!["3|3"]);
    assert_eq!(
        rows_text(&a, "SELECT count(*), sum(v) FROM m").await,
        vec!["21|240"]
    );

    // Committed, with a savepoint undoing one of the changes.
    a.batch_execute(
        "BEGIN;
         ALTER TABLE m ADD COLUMN note text DEFAULT 'n';
         SAVEPOINT s;
         ALTER TABLE m ADD COLUMN w int DEFAULT 7;
         ALTER TABLE m ALTER COLUMN v TYPE bigint;
         ROLLBACK TO SAVEPOINT s;
         UPDATE m SET note = 'x' WHERE id = 3;
         COMMIT;",
    )
    .await
    .unwrap();
    assert_eq!(rows_text(&b, row3).await, vec!["3|3|x"]);
    assert_eq!(
        rows_text(
            &b,
            "SELECT count(*), count(*) FILTER (WHERE note = 'n') FROM m"
        )
        .await,
        vec!["21|20"]
    );
    let types =
        "SELECT string_agg(column_name || ' ' || data_type, ', ' ORDER BY ordinal_position) \
                 FROM information_schema.columns WHERE table_name = 'm'";
    assert_eq!(
        rows_text(&b, types).await,
        vec!["id integer, v integer, note text"]
    );
    // A column added after the rolled-back one takes its own default.
    b.batch_execute("ALTER TABLE m ADD COLUMN w int DEFAULT 8")
        .await
        .unwrap();
    assert_eq!(rows_text(&b, row3).await, vec!["3|3|x|8"]);
    if server.is_external() {
        return;
    }
    server.kill9();
    server.restart();
    let c = server.connect().await;
    assert_eq!(rows_text(&c, row3).await, vec!["3|3|x|8"]);
    assert_eq!(
        rows_text(
            &c,
            "SELECT count(*), sum(w), count(*) FILTER (WHERE note = 'n') FROM m"
        )
        .await,
        vec!["21|168|20"]
    );
}

#[tokio::test]
async fn ddl_waiting_for_a_blocks_ddl_lock_can_be_cancelled() {
    let server = TestServer::start_with_shards(2);
    let (a, b) = (server.connect().await, server.connect().await);
    a.batch_execute("BEGIN; CREATE TABLE held (x int)")
        .await
        .unwrap();
    // The second change waits for the block; statement_timeout ends the
    // wait with 57014 (and lock_timeout with 55P03), changing nothing.
    assert_sqlstate(
        b.batch_execute("SET statement_timeout = '300ms'; CREATE TABLE other (x int)")
            .await,
        &SqlState::QUERY_CANCELED,
        "statement_timeout",
    );
    assert_sqlstate(
        b.batch_execute(
            "SET statement_timeout = 0; SET lock_timeout = '200ms'; DROP TABLE IF EXISTS nothing",
        )
        .await,
        &SqlState::LOCK_NOT_AVAILABLE,
        "lock_timeout",
    );
    a.batch_execute("COMMIT").await.unwrap();
    b.batch_execute("RESET lock_timeout; CREATE TABLE other (x int)")
        .await
        .unwrap();
    assert_eq!(rows_text(&b, "SELECT count(*) FROM held").await, ["0"]);
}
