//! Foreign keys under concurrency: children are inserted while their
//! parents are deleted, from several sessions at once, with NO ACTION and
//! CASCADE constraints (parents never come back, so an orphan made at any
//! moment stays to be found). Statements may fail (23503, or a conflict to
//! retry), but no child is ever left without its parent, and a restart
//! keeps the constraints.

use std::time::{Duration, Instant};

use tessera_testkit::{rows_text, TestServer};

/// Parents; all sessions work on the same one at a time, a new one every
/// `WINDOW`, so children and deletes of a parent race.
const PARENTS: i32 = 150;
const WINDOW: Duration = Duration::from_millis(20);
const RUN: Duration = Duration::from_secs(3);
/// A statement taking longer is taken for a hang (a lost wake-up or an
/// undetected deadlock), and fails the test.
const OP_TIMEOUT: Duration = Duration::from_secs(30);

fn allowed(code: &str) -> bool {
    // 23503 the constraint; 40001 / 40P01 a conflict with another writer.
    matches!(code, "23503" | "40001" | "40P01")
}

#[tokio::test]
async fn no_orphans_under_concurrent_inserts_and_deletes() {
    let mut server = TestServer::start_with_shards(2);
    let client = server.connect().await;
    client
        .batch_execute(
            "CREATE TABLE parent (id int PRIMARY KEY, v int);
             CREATE TABLE kept (id int PRIMARY KEY, pid int NOT NULL REFERENCES parent);
             CREATE TABLE gone (id int PRIMARY KEY, pid int REFERENCES parent ON DELETE CASCADE);
             INSERT INTO parent SELECT g, 0 FROM generate_series(0, 149) g;",
        )
        .await
        .unwrap();
    let mut tasks = tokio::task::JoinSet::new();
    for c in 0..6i32 {
        let client = server.connect().await;
        tasks.spawn(async move {
            let start = Instant::now();
            let deadline = start + RUN;
            let mut n = 0i32;
            let mut ok = 0u32;
            while Instant::now() < deadline {
                let p = (start.elapsed().as_millis() / WINDOW.as_millis()) as i32 % PARENTS;
                let id = c * 1_000_000 + n;
                let op = (c + n) % 3;
                let result = tokio::time::timeout(OP_TIMEOUT, async {
                    match op {
                        // A child's transaction stays open a moment after its
                        // check, while others may delete the parent.
                        0 | 1 => {
                            let table = if op == 0 { "kept" } else { "gone" };
                            let insert = format!("INSERT INTO {table} VALUES ($1, $2)");
                            let mut result = client.batch_execute("BEGIN").await;
                            if result.is_ok() {
                                result = client.execute(&insert, &[&id, &p]).await.map(|_| ());
                            }
                            tokio::time::sleep(Duration::from_millis(3)).await;
                            let end = if result.is_ok() { "COMMIT" } else { "ROLLBACK" };
                            let ended = client.batch_execute(end).await;
                            result.and(ended)
                        }
                        _ => client
                            .execute("DELETE FROM parent WHERE id = $1", &[&p])
                            .await
                            .map(|_| ()),
                    }
                })
                .await
                .unwrap_or_else(|_| panic!("client {c} op {op} p {p} hung"));
                match result {
                    // Children that went in.
                    Ok(()) if op < 2 => ok += 1,
                    Ok(()) => {}
                    Err(e) if e.code().is_some_and(|c| allowed(c.code())) => {}
                    Err(e) => panic!("client {c}: {e:?}"),
                }
                n += 1;
            }
            ok
        });
    }
    let mut ok = 0;
    while let Some(done) = tasks.join_next().await {
        ok += done.expect("client panicked");
    }
    assert!(ok > 0, "no child was ever inserted");
    let orphans = "SELECT (SELECT count(*) FROM kept WHERE pid NOT IN (SELECT id FROM parent)) + \
                   (SELECT count(*) FROM gone WHERE pid NOT IN (SELECT id FROM parent))";
    assert_eq!(rows_text(&client, orphans).await, vec!["0"]);

    if server.is_external() {
        return;
    }
    drop(client);
    server.kill9();
    server.restart();
    let client = server.connect().await;
    assert_eq!(rows_text(&client, orphans).await, vec!["0"]);
    let err = client
        .batch_execute("INSERT INTO kept VALUES (-1, -1)")
        .await
        .unwrap_err();
    assert_eq!(err.code().map(|c| c.code()), Some("23503"));
}
