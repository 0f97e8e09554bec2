//! Transaction blocks (BEGIN … COMMIT/ROLLBACK) as PostgreSQL clients use
//! them: atomic commit across shards, rollback, read-your-writes, isolation
//! between sessions, READ COMMITTED waits, REPEATABLE READ snapshots and
//! conflicts, deadlocks, the failed state, and cleanup when a client leaves.

use std::time::Duration;

use tessera_testkit::TestServer;
use tokio_postgres::error::SqlState;
use tokio_postgres::Client;

async fn setup(server: &TestServer) -> Client {
    tessera_testkit::connect_with_accounts(server).await
}

async fn total(c: &Client) -> (i64, i64) {
    let row = c
        .query_one("SELECT count(*), sum(v) FROM acct", &[])
        .await
        .unwrap();
    (row.get(0), row.get(1))
}

fn code(e: &tokio_postgres::Error) -> Option<&SqlState> {
    e.code()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commit_is_atomic_across_shards_and_invisible_until_then() {
    let mut server = TestServer::start_with_shards(2);
    if server.is_external() {
        return;
    }
    let a = setup(&server).await;
    let b = server.connect().await;
    a.batch_execute("BEGIN").await.unwrap();
    a.batch_execute("INSERT INTO acct VALUES (21, 7), (22, 7), (23, 7), (24, 7)")
        .await
        .unwrap();
    assert_eq!(
        a.execute("UPDATE acct SET v = v + 1", &[]).await.unwrap(),
        24
    );
    assert_eq!(
        a.execute("DELETE FROM acct WHERE id = 1", &[])
            .await
            .unwrap(),
        1
    );
    // Own writes are visible inside the block, by scan and by key.
    assert_eq!(total(&a).await, (23, 19 * 101 + 4 * 8));
    assert_eq!(
        a.query("SELECT v FROM acct WHERE id = 21", &[])
            .await
            .unwrap()[0]
            .get::<_, i32>(0),
        8
    );
    assert!(a
        .query("SELECT v FROM acct WHERE id = 1", &[])
        .await
        .unwrap()
        .is_empty());
    // Nobody else sees any of it.
    assert_eq!(total(&b).await, (20, 2000));
    a.batch_execute("COMMIT").await.unwrap();
    assert_eq!(total(&b).await, (23, 19 * 101 + 4 * 8));
    // And it survives a crash.
    drop((a, b));
    server.kill9();
    server.restart();
    assert_eq!(total(&server.connect().await).await, (23, 19 * 101 + 4 * 8));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rollback_and_the_failed_state() {
    let server = TestServer::start_with_shards(2);
    if server.is_external() {
        return;
    }
    let a = setup(&server).await;
    a.batch_execute("BEGIN; UPDATE acct SET v = 0; INSERT INTO acct VALUES (99, 1); ROLLBACK")
        .await
        .unwrap();
    assert_eq!(total(&a).await, (20, 2000));

    a.batch_execute("BEGIN").await.unwrap();
    a.batch_execute("UPDATE acct SET v = 0 WHERE id = 2")
        .await
        .unwrap();
    let err = a
        .batch_execute("INSERT INTO acct VALUES (3, 1)")
        .await
        .unwrap_err();
    assert_eq!(code(&err), Some(&SqlState::UNIQUE_VIOLATION));
    let err = a.query("SELECT 1", &[]).await.unwrap_err();
    assert_eq!(code(&err), Some(&SqlState::IN_FAILED_SQL_TRANSACTION));
    // COMMIT of a failed block rolls back.
    let tags = a.simple_query("COMMIT").await.unwrap();
    assert!(tags
        .iter()
        .any(|m| matches!(m, tokio_postgres::SimpleQueryMessage::CommandComplete(_))));
    assert_eq!(total(&a).await, (20, 2000));

    // A read-only block refuses writes.
    a.batch_execute("BEGIN READ ONLY").await.unwrap();
    let err = a.batch_execute("DELETE FROM acct").await.unwrap_err();
    assert_eq!(code(&err), Some(&SqlState::READ_ONLY_SQL_TRANSACTION));
    a.batch_execute("ROLLBACK").await.unwrap();

    // tokio-postgres' own transaction API.
    let mut c = server.connect().await;
    let t = c.transaction().await.unwrap();
    t.execute("UPDATE acct SET v = v - 10 WHERE id = 5", &[])
        .await
        .unwrap();
    t.execute("UPDATE acct SET v = v + 10 WHERE id = 6", &[])
        .await
        .unwrap();
    t.commit().await.unwrap();
    assert_eq!(total(&c).await, (20, 2000));
    let t = c.transaction().await.unwrap();
    t.execute("UPDATE acct SET v = 0", &[]).await.unwrap();
    drop(t); // rolls back
    assert_eq!(total(&c).await, (20, 2000));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_committed_writers_wait_and_see_the_committed_row() {
    let server = TestServer::start_with_shards(2);
    if server.is_external() {
        return;
    }
    let a = setup(&server).await;
    let b = server.connect().await;
    a.batch_execute("BEGIN; UPDATE acct SET v = v + 1 WHERE id = 1")
        .await
        .unwrap();
    let waiting = tokio::spawn(async move {
        b.execute("UPDATE acct SET v = v + 1 WHERE id = 1", &[])
            .await
            .unwrap();
        b
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        !waiting.is_finished(),
        "the second writer waits for the first"
    );
    a.batch_execute("COMMIT").await.unwrap();
    let b = tokio::time::timeout(Duration::from_secs(10), waiting)
        .await
        .unwrap()
        .unwrap();
    let v: i32 = b
        .query_one("SELECT v FROM acct WHERE id = 1", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(v, 102, "both increments count");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repeatable_read_keeps_its_snapshot_and_first_committer_wins() {
    let server = TestServer::start_with_shards(2);
    if server.is_external() {
        return;
    }
    let a = setup(&server).await;
    let b = server.connect().await;
    a.batch_execute("BEGIN ISOLATION LEVEL REPEATABLE READ")
        .await
        .unwrap();
    assert_eq!(total(&a).await, (20, 2000));
    b.batch_execute("UPDATE acct SET v = v + 5 WHERE id = 3; INSERT INTO acct VALUES (50, 1)")
        .await
        .unwrap();
    assert_eq!(
        total(&a).await,
        (20, 2000),
        "no non-repeatable read, no phantom"
    );
    let err = a
        .batch_execute("UPDATE acct SET v = 0 WHERE id = 3")
        .await
        .unwrap_err();
    assert_eq!(code(&err), Some(&SqlState::T_R_SERIALIZATION_FAILURE));
    a.batch_execute("ROLLBACK").await.unwrap();
    // READ COMMITTED sees each statement's latest state.
    a.batch_execute("BEGIN").await.unwrap();
    assert_eq!(total(&a).await, (21, 2006));
    b.batch_execute("DELETE FROM acct WHERE id = 50")
        .await
        .unwrap();
    assert_eq!(total(&a).await, (20, 2005));
    a.batch_execute("COMMIT").await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deadlock_across_shards_aborts_one_side_with_40p01() {
    let server = TestServer::start_with_shards(2);
    if server.is_external() {
        return;
    }
    let a = setup(&server).await;
    let b = server.connect().await;
    // Keys 1 and 2 may live on different shards: the cycle spans them.
    a.batch_execute("BEGIN; UPDATE acct SET v = v + 1 WHERE id = 1")
        .await
        .unwrap();
    b.batch_execute("BEGIN; UPDATE acct SET v = v + 1 WHERE id = 2")
        .await
        .unwrap();
    let a_task = tokio::spawn(async move {
        let r = a
            .batch_execute("UPDATE acct SET v = v + 1 WHERE id = 2")
            .await;
        (a, r)
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    let b_result = b
        .batch_execute("UPDATE acct SET v = v + 1 WHERE id = 1")
        .await;
    let err = b_result.expect_err("closing the cycle is refused");
    assert_eq!(code(&err), Some(&SqlState::T_R_DEADLOCK_DETECTED));
    b.batch_execute("ROLLBACK").await.unwrap();
    let (a, a_result) = tokio::time::timeout(Duration::from_secs(10), a_task)
        .await
        .unwrap()
        .unwrap();
    a_result.unwrap();
    a.batch_execute("COMMIT").await.unwrap();
    let row = a
        .query_one("SELECT v FROM acct WHERE id = 1", &[])
        .await
        .unwrap();
    assert_eq!(row.get::<_, i32>(0), 101);
    let row = a
        .query_one("SELECT v FROM acct WHERE id = 2", &[])
        .await
        .unwrap();
    assert_eq!(row.get::<_, i32>(0), 101);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_leaves_mid_transaction_releases_its_locks() {
    let mut server = TestServer::start_with_shards(2);
    if server.is_external() {
        return;
    }
    let a = setup(&server).await;
    a.batch_execute("BEGIN; UPDATE acct SET v = 0 WHERE id = 4; INSERT INTO acct VALUES (77, 1)")
        .await
        .unwrap();
    drop(a);
    let b = server.connect().await;
    let updated = tokio::time::timeout(
        Duration::from_secs(10),
        b.execute("UPDATE acct SET v = v + 1 WHERE id = 4", &[]),
    )
    .await
    .expect("the departed client's lock is released")
    .unwrap();
    assert_eq!(updated, 1);
    assert_eq!(total(&b).await, (20, 2001));
    // A crash with a block open loses its writes and nothing else.
    let c = server.connect().await;
    c.batch_execute("BEGIN; UPDATE acct SET v = 0; INSERT INTO acct VALUES (78, 1)")
        .await
        .unwrap();
    drop((b, c));
    server.kill9();
    server.restart();
    assert_eq!(total(&server.connect().await).await, (20, 2001));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn savepoints_undo_part_of_a_block_and_recover_from_errors() {
    let server = TestServer::start_with_shards(2);
    if server.is_external() {
        return;
    }
    let a = setup(&server).await;
    let b = server.connect().await;
    a.batch_execute("BEGIN; UPDATE acct SET v = 1 WHERE id = 1; SAVEPOINT s1")
        .await
        .unwrap();
    a.batch_execute("UPDATE acct SET v = 2 WHERE id = 1; INSERT INTO acct VALUES (30, 5); SAVEPOINT s2; DELETE FROM acct WHERE id = 2")
        .await
        .unwrap();
    assert_eq!(total(&a).await, (20, 2000 - 100 + 2 + 5 - 100));
    a.batch_execute("ROLLBACK TO SAVEPOINT s1").await.unwrap();
    assert_eq!(
        total(&a).await,
        (20, 2000 - 100 + 1),
        "back to the state at s1"
    );
    // Key 30 was only written after s1: its lock is gone, others may take it.
    tokio::time::timeout(
        Duration::from_secs(10),
        b.batch_execute("INSERT INTO acct VALUES (30, 9)"),
    )
    .await
    .expect("not blocked by an undone write")
    .unwrap();
    b.batch_execute("DELETE FROM acct WHERE id = 30")
        .await
        .unwrap();

    // An error inside a savepoint: ROLLBACK TO it and carry on.
    a.batch_execute("SAVEPOINT s3").await.unwrap();
    let err = a
        .batch_execute("INSERT INTO acct VALUES (3, 0)")
        .await
        .unwrap_err();
    assert_eq!(code(&err), Some(&SqlState::UNIQUE_VIOLATION));
    assert_eq!(
        code(&a.query("SELECT 1", &[]).await.unwrap_err()),
        Some(&SqlState::IN_FAILED_SQL_TRANSACTION)
    );
    a.batch_execute("ROLLBACK TO s3").await.unwrap();
    a.batch_execute("UPDATE acct SET v = v + 10 WHERE id = 3")
        .await
        .unwrap();
    // RELEASE folds s3 (and everything after s1) into s1; s3 is gone.
    a.batch_execute("RELEASE SAVEPOINT s1").await.unwrap();
    let err = a.batch_execute("ROLLBACK TO s3").await.unwrap_err();
    assert_eq!(code(&err), Some(&SqlState::S_E_INVALID_SPECIFICATION));
    a.batch_execute("ROLLBACK").await.unwrap();
    assert_eq!(total(&a).await, (20, 2000));

    // What survives a COMMIT is what was not rolled back to.
    a.batch_execute("BEGIN; UPDATE acct SET v = 50 WHERE id = 5; SAVEPOINT x; UPDATE acct SET v = 60 WHERE id = 6; ROLLBACK TO x; COMMIT")
        .await
        .unwrap();
    assert_eq!(
        b.query_one("SELECT v FROM acct WHERE id = 5", &[])
            .await
            .unwrap()
            .get::<_, i32>(0),
        50
    );
    assert_eq!(
        b.query_one("SELECT v FROM acct WHERE id = 6", &[])
            .await
            .unwrap()
            .get::<_, i32>(0),
        100
    );
    assert_eq!(
        code(&b.batch_execute("SAVEPOINT y").await.unwrap_err()),
        Some(&SqlState::NO_ACTIVE_SQL_TRANSACTION)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn several_statements_in_one_query_are_one_implicit_transaction() {
    let server = TestServer::start_with_shards(2);
    if server.is_external() {
        return;
    }
    let a = setup(&server).await;
    // The second INSERT fails: the first one (on any shard) is rolled back too.
    let err = a.batch_execute("INSERT INTO acct VALUES (40, 1), (41, 1); UPDATE acct SET v = 0; INSERT INTO acct VALUES (1, 1)")
        .await
        .unwrap_err();
    assert_eq!(code(&err), Some(&SqlState::UNIQUE_VIOLATION));
    assert_eq!(total(&a).await, (20, 2000));
    // Success commits them all.
    a.batch_execute("INSERT INTO acct VALUES (40, 1); UPDATE acct SET v = v + 1 WHERE id = 40")
        .await
        .unwrap();
    assert_eq!(total(&a).await, (21, 2002));
    // DDL cannot join a block yet: such strings run statement by statement,
    // so the table stays although a later statement fails.
    let err = a
        .batch_execute("CREATE TABLE t2 (id int PRIMARY KEY); SELECT 1 / (v - v) FROM acct")
        .await
        .unwrap_err();
    assert_eq!(code(&err), Some(&SqlState::DIVISION_BY_ZERO));
    a.batch_execute("INSERT INTO t2 VALUES (1)").await.unwrap();
    assert_eq!(
        a.query_one("SELECT count(*) FROM t2", &[])
            .await
            .unwrap()
            .get::<_, i64>(0),
        1
    );
    // Later statements of one Query may use a table an earlier one creates.
    let messages = a
        .simple_query("CREATE TABLE t3 (id int PRIMARY KEY, name text); INSERT INTO t3 VALUES (1, 'x'), (2, 'y'); SELECT name FROM t3 ORDER BY id")
        .await
        .unwrap();
    let names: Vec<String> = messages
        .iter()
        .filter_map(|m| match m {
            tokio_postgres::SimpleQueryMessage::Row(r) => r.get("name").map(str::to_string),
            _ => None,
        })
        .collect();
    assert_eq!(names, ["x", "y"]);
}

async fn count(c: &Client, table: &str) -> i64 {
    c.query_one(&format!("SELECT count(*) FROM {table}"), &[])
        .await
        .unwrap()
        .get(0)
}

/// TRUNCATE empties tables atomically, can be rolled back inside a block,
/// and frees the values of unique constraints.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn truncate_is_transactional() {
    let server = TestServer::start_with_shards(2);
    let a = setup(&server).await;
    a.batch_execute(
        "CREATE TABLE tags (id int PRIMARY KEY, name text UNIQUE); \
         INSERT INTO tags VALUES (1, 'x'), (2, 'y')",
    )
    .await
    .unwrap();
    a.batch_execute("BEGIN; TRUNCATE acct, tags").await.unwrap();
    assert_eq!(count(&a, "acct").await, 0);
    let b = server.connect().await;
    assert_eq!(count(&b, "acct").await, 20, "not before COMMIT");
    a.batch_execute("ROLLBACK").await.unwrap();
    assert_eq!(count(&a, "acct").await, 20);
    assert_eq!(count(&a, "tags").await, 2);
    a.batch_execute("TRUNCATE TABLE acct, tags").await.unwrap();
    assert_eq!(count(&b, "acct").await + count(&b, "tags").await, 0);
    // The unique value is free again.
    a.batch_execute("INSERT INTO tags VALUES (3, 'x')")
        .await
        .unwrap();
    let err = a.batch_execute("TRUNCATE nowhere").await.unwrap_err();
    assert_eq!(code(&err), Some(&SqlState::UNDEFINED_TABLE));
    // VACUUM collects old versions now; not inside a block, as PostgreSQL.
    a.batch_execute("VACUUM; VACUUM tags").await.unwrap();
    let err = a.batch_execute("BEGIN; VACUUM").await.unwrap_err();
    assert_eq!(code(&err), Some(&SqlState::ACTIVE_SQL_TRANSACTION));
    a.batch_execute("ROLLBACK").await.unwrap();
}

/// Upserts racing on the same keys: each one either inserts the row or
/// updates the newest version, so no increment is lost (READ COMMITTED
/// waits for the other writer and works on its result).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_upserts_lose_no_increment() {
    let server = TestServer::start();
    let admin = server.connect().await;
    admin
        .batch_execute("CREATE TABLE counter (k int PRIMARY KEY, n bigint NOT NULL)")
        .await
        .unwrap();
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let client = server.connect().await;
        tasks.push(tokio::spawn(async move {
            let upsert = client
                .prepare(
                    "INSERT INTO counter VALUES ($1, 1)
                     ON CONFLICT (k) DO UPDATE SET n = counter.n + excluded.n",
                )
                .await
                .unwrap();
            for i in 0..40 {
                let k: i32 = i % 4;
                client.execute(&upsert, &[&k]).await.unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let rows = admin
        .query("SELECT k, n FROM counter ORDER BY k", &[])
        .await
        .unwrap();
    let got: Vec<(i32, i64)> = rows.iter().map(|r| (r.get(0), r.get(1))).collect();
    assert_eq!(got, [(0, 80), (1, 80), (2, 80), (3, 80)]);
}
