//! UPDATE of key columns under concurrency, on two shards: rows move to
//! new keys (perhaps on the other shard) while other sessions transfer
//! between them, delete them, and insert children that reference them.
//! Statements may fail (a conflict to retry, 23503, or an update that
//! finds its row moved away and changes nothing, which the transfer then
//! rolls back), but no row is lost or duplicated, the balances' sum is
//! kept, and no child is left without its parent.

use std::time::{Duration, Instant};

use tessera_testkit::{rows_text, TestServer};
use tokio_postgres::Client;

const ROWS: i32 = 12;
const RUN: Duration = Duration::from_secs(3);
/// A statement taking longer is taken for a hang (a lost wake-up or an
/// undetected deadlock), and fails the test.
const OP_TIMEOUT: Duration = Duration::from_secs(30);

fn allowed(e: &tokio_postgres::Error, also: &[&str]) -> bool {
    e.code()
        .is_some_and(|c| matches!(c.code(), "40001" | "40P01") || also.contains(&c.code()))
}

/// A small xorshift, so each session picks its rows differently.
fn next(seed: &mut u64) -> u64 {
    *seed ^= *seed << 13;
    *seed ^= *seed >> 7;
    *seed ^= *seed << 17;
    *seed
}

/// One transfer of 1 from `from` to `to` (rows named by their stable tag);
/// rolled back unless both updates found their row.
async fn transfer(client: &Client, from: i32, to: i32) -> Result<bool, tokio_postgres::Error> {
    client.batch_execute("BEGIN").await?;
    let result = async {
        let out = client
            .execute("UPDATE acct SET bal = bal - 1 WHERE tag = $1", &[&from])
            .await?;
        let into = client
            .execute("UPDATE acct SET bal = bal + 1 WHERE tag = $1", &[&to])
            .await?;
        Ok::<_, tokio_postgres::Error>(out == 1 && into == 1)
    }
    .await;
    match result {
        Ok(true) => client.batch_execute("COMMIT").await.map(|()| true),
        Ok(false) => client.batch_execute("ROLLBACK").await.map(|()| false),
        Err(e) => {
            client.batch_execute("ROLLBACK").await?;
            Err(e)
        }
    }
}

#[tokio::test]
async fn moving_keys_lose_and_duplicate_nothing() {
    let server = TestServer::start_with_shards(2);
    let client = server.connect().await;
    client
        .batch_execute(
            "CREATE TABLE acct (id int PRIMARY KEY, tag int UNIQUE NOT NULL, bal int NOT NULL);
             INSERT INTO acct SELECT g, g, 100 FROM generate_series(0, 11) g;",
        )
        .await
        .unwrap();
    let mut tasks = tokio::task::JoinSet::new();
    for c in 0..5u64 {
        let client = server.connect().await;
        tasks.spawn(async move {
            let mut seed = 0x9e37_79b9_7f4a_7c15 ^ ((c + 1) * 0x1234_5678);
            let deadline = Instant::now() + RUN;
            let (mut moved, mut transferred, mut deleted) = (0u32, 0u32, 0i64);
            let mut n = 0i32;
            while Instant::now() < deadline {
                let a = (next(&mut seed) % ROWS as u64) as i32;
                let b = (a + 1 + (next(&mut seed) % (ROWS as u64 - 1)) as i32) % ROWS;
                n += 1;
                let op = async {
                    match c {
                        // Movers: the row takes a new key, on either shard.
                        0 | 1 => {
                            let sql = "UPDATE acct SET id = (id + 1 + $2 * 1000) % 100000 \
                                       WHERE tag = $1";
                            let step = (c as i32 + 1) * 7 + n % 5;
                            client.execute(sql, &[&a, &step]).await.map(|k| {
                                moved += k as u32;
                            })
                        }
                        // Transfers between two rows.
                        2 | 3 => transfer(&client, a, b).await.map(|done| {
                            transferred += done as u32;
                        }),
                        // Now and then a row is deleted (its balance leaves
                        // the sum) and put back with a fresh key.
                        _ => {
                            let rows = client
                                .query("DELETE FROM acct WHERE tag = $1 RETURNING bal", &[&a])
                                .await?;
                            if let Some(row) = rows.first() {
                                deleted += i64::from(row.get::<_, i32>(0));
                                let id = 50_000 + n;
                                client
                                    .execute("INSERT INTO acct VALUES ($1, $2, 0)", &[&id, &a])
                                    .await?;
                            }
                            tokio::time::sleep(Duration::from_millis(100)).await;
                            Ok(())
                        }
                    }
                };
                match tokio::time::timeout(OP_TIMEOUT, op).await {
                    Err(_) => panic!("client {c} hung"),
                    Ok(Ok(())) => {}
                    // 23505: a mover's new key is taken by another row.
                    Ok(Err(e)) if allowed(&e, &["23505"]) => {}
                    Ok(Err(e)) => panic!("client {c}: {e:?}"),
                }
            }
            (moved, transferred, deleted)
        });
    }
    let (mut moved, mut transferred, mut deleted) = (0, 0, 0i64);
    while let Some(done) = tasks.join_next().await {
        let (m, t, d) = done.expect("client panicked");
        moved += m;
        transferred += t;
        deleted += d;
    }
    assert!(moved > 0, "no row ever moved");
    assert!(transferred > 0, "no transfer ever went through");
    // Every tag once, through the table and through its unique index.
    let counts = rows_text(
        &client,
        "SELECT count(*), count(DISTINCT tag), sum(bal) FROM acct",
    )
    .await;
    let expected_sum = i64::from(ROWS) * 100 - deleted;
    assert_eq!(counts, vec![format!("{ROWS}|{ROWS}|{expected_sum}")]);
    for tag in 0..ROWS {
        let found = client
            .query("SELECT id FROM acct WHERE tag = $1", &[&tag])
            .await
            .unwrap();
        assert_eq!(found.len(), 1, "tag {tag} through the index");
        let id: i32 = found[0].get(0);
        let by_key = client
            .query("SELECT tag FROM acct WHERE id = $1", &[&id])
            .await
            .unwrap();
        assert_eq!(by_key.len(), 1, "tag {tag}'s row by its key {id}");
    }
}

/// Parents change keys while children are inserted that reference them
/// (NO ACTION: a referenced key may not change; CASCADE: the children
/// follow). No child is ever left without its parent.
#[tokio::test]
async fn key_changes_race_child_inserts() {
    let server = TestServer::start_with_shards(2);
    let client = server.connect().await;
    client
        .batch_execute(
            "CREATE TABLE parent (id int PRIMARY KEY, tag int UNIQUE NOT NULL);
             CREATE TABLE kept (id int PRIMARY KEY, pid int NOT NULL REFERENCES parent);
             CREATE TABLE follows (id int PRIMARY KEY,
                                   pid int NOT NULL REFERENCES parent ON UPDATE CASCADE);
             INSERT INTO parent SELECT g, g FROM generate_series(0, 11) g;",
        )
        .await
        .unwrap();
    let mut tasks = tokio::task::JoinSet::new();
    for c in 0..4u64 {
        let client = server.connect().await;
        tasks.spawn(async move {
            let mut seed = 0x2545_f491_4f6c_dd1d ^ ((c + 1) * 0x9876_5431);
            let deadline = Instant::now() + RUN;
            let mut inserted = 0u32;
            let mut n = 0i32;
            while Instant::now() < deadline {
                let tag = (next(&mut seed) % ROWS as u64) as i32;
                n += 1;
                let op = async {
                    if c < 2 {
                        let step = (c as i32 + 1) * 1000 + n % 3;
                        client
                            .execute(
                                "UPDATE parent SET id = (id + $2) % 100000 WHERE tag = $1",
                                &[&tag, &step],
                            )
                            .await
                            .map(|_| ())
                    } else {
                        // Read the parent's key, then reference it a moment
                        // later, in a block that stays open a little.
                        let table = if n % 2 == 0 { "kept" } else { "follows" };
                        let rows = client
                            .query("SELECT id FROM parent WHERE tag = $1", &[&tag])
                            .await?;
                        let pid: i32 = rows[0].get(0);
                        let id = c as i32 * 1_000_000 + n;
                        client.batch_execute("BEGIN").await?;
                        let sql = format!("INSERT INTO {table} VALUES ($1, $2)");
                        let result = client.execute(&sql, &[&id, &pid]).await;
                        tokio::time::sleep(Duration::from_millis(2)).await;
                        match result {
                            Ok(_) => {
                                client.batch_execute("COMMIT").await?;
                                inserted += 1;
                                Ok(())
                            }
                            Err(e) => {
                                client.batch_execute("ROLLBACK").await?;
                                Err(e)
                            }
                        }
                    }
                };
                match tokio::time::timeout(OP_TIMEOUT, op).await {
                    Err(_) => panic!("client {c} hung"),
                    Ok(Ok(())) => {}
                    Ok(Err(e)) if allowed(&e, &["23503", "23505"]) => {}
                    Ok(Err(e)) => panic!("client {c}: {e:?}"),
                }
            }
            inserted
        });
    }
    let mut inserted = 0;
    while let Some(done) = tasks.join_next().await {
        inserted += done.expect("client panicked");
    }
    assert!(inserted > 0, "no child was ever inserted");
    let orphans = "SELECT (SELECT count(*) FROM kept WHERE pid NOT IN (SELECT id FROM parent)) + \
                   (SELECT count(*) FROM follows WHERE pid NOT IN (SELECT id FROM parent))";
    assert_eq!(rows_text(&client, orphans).await, vec!["0"]);
    let children = "SELECT (SELECT count(*) FROM kept) + (SELECT count(*) FROM follows)";
    assert_eq!(
        rows_text(&client, children).await,
        vec![inserted.to_string()]
    );
    assert_eq!(
        rows_text(&client, "SELECT count(*), count(DISTINCT tag) FROM parent").await,
        vec![format!("{ROWS}|{ROWS}")]
    );
}
