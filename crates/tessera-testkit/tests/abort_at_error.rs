//! A failed transaction block gives up its row locks at the error, as
//! PostgreSQL aborts the failed (sub)transaction then: a session waiting
//! for one of its rows goes on while the failed block's client sits idle
//! in the failed state (25P02) and has not sent ROLLBACK. Inside a
//! savepoint only what was written since the newest live savepoint is
//! released; ROLLBACK TO then resumes the block. Covers the deadlock
//! victim, unique violations, statement_timeout, COPY, the extended
//! protocol, a block on both shards, a block holding DDL and table locks
//! (and savepoints that took them), and a crash with the failed block
//! still open. Every scenario but the crash passes against PostgreSQL 15
//! too (`TESSERA_TEST_EXTERNAL_PG`).
//!
//! The sessions that must go on set `lock_timeout`, so a lock that is
//! wrongly kept fails them with 55P03 instead of hanging the test.

use std::time::Duration;

use tessera_testkit::{assert_sqlstate, rows_text, TestServer};
use tokio_postgres::error::SqlState;
use tokio_postgres::Client;

async fn setup(server: &TestServer) -> Client {
    tessera_testkit::connect_with_accounts(server).await
}

/// A session that must not wait long for a lock.
async fn survivor(server: &TestServer) -> Client {
    let client = server.connect().await;
    client
        .batch_execute("SET lock_timeout = '20s'")
        .await
        .unwrap();
    client
}

async fn value(c: &Client, id: i32) -> i32 {
    c.query_one("SELECT v FROM acct WHERE id = $1", &[&id])
        .await
        .unwrap()
        .get(0)
}

async fn total(c: &Client) -> (i64, i64) {
    let row = c
        .query_one("SELECT count(*), sum(v) FROM acct", &[])
        .await
        .unwrap();
    (row.get(0), row.get(1))
}

/// The session's block is failed: statements get 25P02.
async fn assert_failed(c: &Client) {
    assert_sqlstate(
        c.batch_execute("SELECT 1").await,
        &SqlState::IN_FAILED_SQL_TRANSACTION,
        "a statement in the failed block",
    );
}

/// Fails, then proves that the row `id` is held by someone: an update of
/// it gives up after a short `lock_timeout` (55P03).
async fn assert_locked(c: &Client, id: i32) {
    c.batch_execute("SET lock_timeout = '300ms'").await.unwrap();
    assert_sqlstate(
        c.execute("UPDATE acct SET v = v + 1 WHERE id = $1", &[&id])
            .await,
        &SqlState::LOCK_NOT_AVAILABLE,
        &format!("row {id} is still locked"),
    );
    c.batch_execute("SET lock_timeout = '20s'").await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_survivor_of_a_deadlock_goes_on_before_the_victim_rolls_back() {
    let server = TestServer::start_with_shards(2);
    let setup_client = setup(&server).await;
    let a = survivor(&server).await;
    let b = survivor(&server).await;
    // Keys 1 and 2 may live on different shards: the cycle then spans them.
    a.batch_execute("BEGIN; UPDATE acct SET v = v + 1 WHERE id = 1")
        .await
        .unwrap();
    b.batch_execute("BEGIN; UPDATE acct SET v = v + 1 WHERE id = 2")
        .await
        .unwrap();
    let a_waits = a.batch_execute("UPDATE acct SET v = v + 1 WHERE id = 2");
    let b_waits = async {
        // Only orders the two waits; the outcome does not depend on it.
        tokio::time::sleep(Duration::from_millis(200)).await;
        b.batch_execute("UPDATE acct SET v = v + 1 WHERE id = 1")
            .await
    };
    // One is the victim; the other must end too, with the victim's
    // client sending nothing meanwhile (its error may even arrive after
    // the survivor's result: the locks go before the error is sent).
    let (a_result, b_result) = tokio::join!(a_waits, b_waits);
    let (victim, survivor, lost, survived) = match a_result {
        Err(_) => (&a, &b, a_result, b_result),
        Ok(()) => (&b, &a, b_result, a_result),
    };
    assert_sqlstate(lost, &SqlState::T_R_DEADLOCK_DETECTED, "the victim");
    survived.expect("the survivor's update ends while the victim is still open");
    survivor.batch_execute("COMMIT").await.unwrap();
    // The victim's writes are gone; only the survivor's count.
    assert_eq!(value(&setup_client, 1).await, 101);
    assert_eq!(value(&setup_client, 2).await, 101);
    assert_failed(victim).await;
    victim.batch_execute("ROLLBACK").await.unwrap();
    assert_eq!(value(victim, 1).await, 101);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_unique_violation_releases_the_rows_the_block_updated_before_it() {
    let server = TestServer::start_with_shards(2);
    let a = setup(&server).await;
    let b = survivor(&server).await;
    a.batch_execute("BEGIN; UPDATE acct SET v = 0 WHERE id = 3")
        .await
        .unwrap();
    // One waits for the row already; another comes after the error.
    let waiting = b.execute("UPDATE acct SET v = v + 1 WHERE id = 3", &[]);
    let fail = async {
        tokio::time::sleep(Duration::from_millis(200)).await;
        a.batch_execute("INSERT INTO acct VALUES (4, 1)").await
    };
    let (waited, failed) = tokio::join!(waiting, fail);
    assert_sqlstate(failed, &SqlState::UNIQUE_VIOLATION, "the duplicate key");
    assert_eq!(waited.unwrap(), 1);
    let c = survivor(&server).await;
    assert_eq!(
        c.execute("UPDATE acct SET v = v + 10 WHERE id = 3", &[])
            .await
            .unwrap(),
        1
    );
    assert_eq!(value(&c, 3).await, 111);
    assert_failed(&a).await;
    // COMMIT of the failed block ends it and writes nothing.
    a.batch_execute("COMMIT").await.unwrap();
    assert_eq!(value(&a, 3).await, 111);
    assert_eq!(total(&a).await, (20, 2011));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_error_in_a_savepoint_releases_only_what_was_written_since_it() {
    let server = TestServer::start_with_shards(2);
    let a = setup(&server).await;
    let b = survivor(&server).await;
    a.batch_execute(
        "BEGIN; UPDATE acct SET v = 50 WHERE id = 5; SAVEPOINT s; UPDATE acct SET v = 60 WHERE id = 6",
    )
    .await
    .unwrap();
    assert_sqlstate(
        a.batch_execute("INSERT INTO acct VALUES (7, 0)").await,
        &SqlState::UNIQUE_VIOLATION,
        "the duplicate key",
    );
    // Written after the savepoint: released at the error.
    assert_eq!(
        b.execute("UPDATE acct SET v = v + 1 WHERE id = 6", &[])
            .await
            .unwrap(),
        1
    );
    // Written before it: still the block's.
    assert_locked(&b, 5).await;
    assert_failed(&a).await;
    a.batch_execute("ROLLBACK TO SAVEPOINT s; UPDATE acct SET v = 80 WHERE id = 8; COMMIT")
        .await
        .unwrap();
    assert_eq!(value(&b, 5).await, 50);
    assert_eq!(value(&b, 6).await, 101);
    assert_eq!(value(&b, 8).await, 80);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nested_and_released_savepoints_bound_what_an_error_releases() {
    let server = TestServer::start_with_shards(2);
    let a = setup(&server).await;
    let b = survivor(&server).await;
    // A released savepoint's writes belong to the enclosing one: the
    // error aborts that one, so rows 10, 11 and 12 are released, 9 kept.
    a.batch_execute(
        "BEGIN; UPDATE acct SET v = 9 WHERE id = 9; SAVEPOINT s1; \
         UPDATE acct SET v = 10 WHERE id = 10; SAVEPOINT s2; \
         UPDATE acct SET v = 11 WHERE id = 11; RELEASE SAVEPOINT s2; \
         UPDATE acct SET v = 12 WHERE id = 12",
    )
    .await
    .unwrap();
    assert_sqlstate(
        a.batch_execute("UPDATE acct SET v = v / 0 WHERE id = 13")
            .await,
        &SqlState::DIVISION_BY_ZERO,
        "division by zero",
    );
    for id in [10, 11, 12] {
        assert_eq!(
            b.execute("UPDATE acct SET v = v + 1 WHERE id = $1", &[&id])
                .await
                .unwrap(),
            1,
            "row {id}"
        );
    }
    assert_locked(&b, 9).await;
    // Both live: the error releases what the inner one wrote; ROLLBACK TO
    // the outer one then releases the rest since it.
    a.batch_execute(
        "ROLLBACK TO SAVEPOINT s1; UPDATE acct SET v = 14 WHERE id = 14; SAVEPOINT s2; \
         UPDATE acct SET v = 15 WHERE id = 15",
    )
    .await
    .unwrap();
    assert_sqlstate(
        a.batch_execute("SELECT 1 / 0").await,
        &SqlState::DIVISION_BY_ZERO,
        "division by zero",
    );
    assert_eq!(
        b.execute("UPDATE acct SET v = v + 1 WHERE id = 15", &[])
            .await
            .unwrap(),
        1
    );
    assert_locked(&b, 14).await;
    // An unknown savepoint is an error too; the block stays failed.
    assert_sqlstate(
        a.batch_execute("ROLLBACK TO SAVEPOINT nope").await,
        &SqlState::S_E_INVALID_SPECIFICATION,
        "no such savepoint",
    );
    a.batch_execute("ROLLBACK TO SAVEPOINT s1").await.unwrap();
    assert_eq!(
        b.execute("UPDATE acct SET v = v + 1 WHERE id = 14", &[])
            .await
            .unwrap(),
        1
    );
    assert_locked(&b, 9).await;
    a.batch_execute("COMMIT").await.unwrap();
    let rows = rows_text(
        &b,
        "SELECT id, v FROM acct WHERE id BETWEEN 9 AND 15 ORDER BY id",
    )
    .await;
    assert_eq!(
        rows,
        ["9|9", "10|101", "11|101", "12|101", "13|100", "14|101", "15|101"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_in_the_extended_protocol_release_the_block_too() {
    let server = TestServer::start_with_shards(2);
    let a = setup(&server).await;
    let b = survivor(&server).await;
    a.batch_execute("BEGIN").await.unwrap();
    // Parse, Bind, Execute, Sync.
    assert_eq!(
        a.execute("UPDATE acct SET v = $1 WHERE id = $2", &[&0i32, &16i32])
            .await
            .unwrap(),
        1
    );
    assert_sqlstate(
        a.execute("INSERT INTO acct VALUES ($1, $2)", &[&16i32, &0i32])
            .await,
        &SqlState::UNIQUE_VIOLATION,
        "the duplicate key at Execute",
    );
    assert_eq!(
        b.execute("UPDATE acct SET v = v + 1 WHERE id = $1", &[&16i32])
            .await
            .unwrap(),
        1
    );
    a.batch_execute("ROLLBACK").await.unwrap();
    // An error at Parse fails (and releases) a block as well.
    a.batch_execute("BEGIN; SAVEPOINT s").await.unwrap();
    a.execute("UPDATE acct SET v = 0 WHERE id = 17", &[])
        .await
        .unwrap();
    assert_sqlstate(
        a.prepare("SELECT no_such_column FROM acct").await,
        &SqlState::UNDEFINED_COLUMN,
        "an unknown column at Parse",
    );
    assert_eq!(
        b.execute("UPDATE acct SET v = v + 1 WHERE id = $1", &[&17i32])
            .await
            .unwrap(),
        1
    );
    assert_failed(&a).await;
    a.batch_execute("ROLLBACK TO SAVEPOINT s; COMMIT")
        .await
        .unwrap();
    assert_eq!(value(&b, 16).await, 101);
    assert_eq!(value(&b, 17).await, 101);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_block_on_both_shards_releases_both_and_leaves_nothing_after_a_crash() {
    let mut server = TestServer::start_with_shards(2);
    let a = setup(&server).await;
    let b = survivor(&server).await;
    // Every row: on both shards.
    a.batch_execute("BEGIN; UPDATE acct SET v = v + 1000; INSERT INTO acct VALUES (21, 1)")
        .await
        .unwrap();
    assert_sqlstate(
        a.batch_execute("INSERT INTO acct VALUES (1, 1)").await,
        &SqlState::UNIQUE_VIOLATION,
        "the duplicate key",
    );
    assert_eq!(
        b.execute("UPDATE acct SET v = v + 1", &[]).await.unwrap(),
        20
    );
    b.batch_execute("INSERT INTO acct VALUES (21, 5)")
        .await
        .unwrap();
    assert_eq!(total(&b).await, (21, 2025));
    assert_failed(&a).await;
    if server.is_external() {
        a.batch_execute("COMMIT").await.unwrap();
        assert_eq!(total(&b).await, (21, 2025));
        return;
    }
    // The failed block's session is still open when the node dies.
    drop(b);
    server.kill9();
    server.restart();
    let c = server.connect().await;
    assert_eq!(total(&c).await, (21, 2025));
    drop(a);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_block_gives_up_its_ddl_and_table_locks() {
    let server = TestServer::start_with_shards(2);
    let a = setup(&server).await;
    let b = survivor(&server).await;
    a.batch_execute(
        "BEGIN; CREATE INDEX acct_v ON acct (v); CREATE TABLE extra (id int PRIMARY KEY)",
    )
    .await
    .unwrap();
    assert_sqlstate(
        a.batch_execute("SELECT 1 / 0").await,
        &SqlState::DIVISION_BY_ZERO,
        "division by zero",
    );
    // Writes to the table the block indexed, and other DDL, go on.
    assert_eq!(
        b.execute("UPDATE acct SET v = v + 1 WHERE id = 1", &[])
            .await
            .unwrap(),
        1
    );
    b.batch_execute("CREATE TABLE extra (id int PRIMARY KEY); CREATE INDEX acct_v ON acct (v)")
        .await
        .unwrap();
    assert_failed(&a).await;
    a.batch_execute("ROLLBACK").await.unwrap();
    assert_eq!(rows_text(&a, "SELECT count(*) FROM extra").await, ["0"]);
    assert_eq!(value(&a, 1).await, 101);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn undoing_a_savepoint_gives_back_the_table_locks_taken_in_it() {
    let server = TestServer::start_with_shards(2);
    let a = setup(&server).await;
    let b = survivor(&server).await;
    b.batch_execute("CREATE TABLE other (id int PRIMARY KEY, v int)")
        .await
        .unwrap();
    a.batch_execute(
        "BEGIN; UPDATE acct SET v = 0 WHERE id = 1; SAVEPOINT s; CREATE INDEX acct_v ON acct (v)",
    )
    .await
    .unwrap();
    assert_sqlstate(
        a.batch_execute("SELECT 1 / 0").await,
        &SqlState::DIVISION_BY_ZERO,
        "division by zero",
    );
    // The index's lock on the table went with the failed savepoint; the
    // row written before it stays locked.
    assert_eq!(
        b.execute("UPDATE acct SET v = v + 1 WHERE id = 2", &[])
            .await
            .unwrap(),
        1
    );
    assert_locked(&b, 1).await;
    // ROLLBACK TO without an error gives them back too.
    a.batch_execute(
        "ROLLBACK TO SAVEPOINT s; CREATE INDEX other_v ON other (v); ROLLBACK TO SAVEPOINT s",
    )
    .await
    .unwrap();
    b.batch_execute("INSERT INTO other VALUES (1, 1)")
        .await
        .unwrap();
    // A table locked before the savepoint stays locked after it.
    a.batch_execute("CREATE INDEX other_v ON other (v); SAVEPOINT t; SELECT 1")
        .await
        .unwrap();
    assert_sqlstate(
        a.batch_execute("SELECT 1 / 0").await,
        &SqlState::DIVISION_BY_ZERO,
        "division by zero",
    );
    b.batch_execute("SET lock_timeout = '300ms'").await.unwrap();
    assert_sqlstate(
        b.batch_execute("INSERT INTO other VALUES (2, 2)").await,
        &SqlState::LOCK_NOT_AVAILABLE,
        "the table indexed before the savepoint",
    );
    b.batch_execute("SET lock_timeout = '20s'").await.unwrap();
    a.batch_execute("ROLLBACK TO SAVEPOINT t; COMMIT")
        .await
        .unwrap();
    assert_eq!(value(&b, 1).await, 0);
    assert_eq!(value(&b, 2).await, 101);
    assert_eq!(
        rows_text(
            &b,
            "SELECT relname FROM pg_class WHERE relname IN ('acct_v', 'other_v') ORDER BY 1"
        )
        .await,
        ["other_v"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_statement_timeout_releases_the_rows_and_advisory_locks_of_the_block() {
    let server = TestServer::start_with_shards(2);
    let a = setup(&server).await;
    let b = survivor(&server).await;
    a.batch_execute(
        "BEGIN; UPDATE acct SET v = 0 WHERE id = 18; SELECT pg_advisory_xact_lock(4242); \
         SET LOCAL statement_timeout = '100ms'",
    )
    .await
    .unwrap();
    assert_sqlstate(
        a.batch_execute("SELECT pg_sleep(30)").await,
        &SqlState::QUERY_CANCELED,
        "the statement timeout",
    );
    assert_eq!(
        b.execute("UPDATE acct SET v = v + 1 WHERE id = 18", &[])
            .await
            .unwrap(),
        1
    );
    // The transaction-level advisory lock ended with the transaction.
    let got: bool = b
        .query_one("SELECT pg_try_advisory_lock(4242)", &[])
        .await
        .unwrap()
        .get(0);
    assert!(got, "the failed block's advisory lock is free");
    b.batch_execute("SELECT pg_advisory_unlock(4242)")
        .await
        .unwrap();
    assert_failed(&a).await;
    a.batch_execute("ROLLBACK").await.unwrap();
    assert_eq!(value(&a, 18).await, 101);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_copy_in_a_block_releases_the_block() {
    use futures_util::{pin_mut, SinkExt};
    use std::io::Cursor;

    let server = TestServer::start_with_shards(2);
    let a = setup(&server).await;
    let b = survivor(&server).await;
    a.batch_execute("BEGIN; UPDATE acct SET v = 0 WHERE id = 19")
        .await
        .unwrap();
    let sink = a
        .copy_in::<_, Cursor<Vec<u8>>>("COPY acct FROM STDIN")
        .await
        .unwrap();
    pin_mut!(sink);
    // Row 20 is there already.
    sink.send(Cursor::new(b"30\t1\n20\t1\n".to_vec()))
        .await
        .unwrap();
    assert_sqlstate(
        sink.finish().await,
        &SqlState::UNIQUE_VIOLATION,
        "the duplicate key in the COPY",
    );
    assert_eq!(
        b.execute("UPDATE acct SET v = v + 1 WHERE id = 19", &[])
            .await
            .unwrap(),
        1
    );
    assert_failed(&a).await;
    a.batch_execute("ROLLBACK").await.unwrap();
    assert_eq!(total(&a).await, (20, 2001));
}
