//! Secondary indexes as clients use them: CREATE [UNIQUE] INDEX over rows
//! that exist (while writes go on), queries that read through them giving
//! exactly what a table scan gives, unique violations, DROP INDEX, and
//! indexes after a crash and restart.

use std::time::Duration;

use tessera_testkit::TestServer;
use tokio_postgres::types::ToSql;
use tokio_postgres::Client;

/// A deterministic stream of numbers (xorshift).
struct Rng(u64);

impl Rng {
    fn next(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

/// `items (id int PRIMARY KEY, a int, b int, c text)` with `rows` rows; `a`
/// and `c` are sometimes NULL.
async fn fill(client: &Client, rows: u64) {
    fill_table(client, "items", rows).await
}

async fn fill_table(client: &Client, name: &str, rows: u64) {
    client
        .batch_execute(&format!(
            "CREATE TABLE {name} (id int PRIMARY KEY, a int, b int, c text)"
        ))
        .await
        .unwrap();
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut values = Vec::new();
    for id in 0..rows {
        let a = match rng.next(20) {
            0 => "NULL".to_string(),
            _ => rng.next(50).to_string(),
        };
        let c = match rng.next(10) {
            0 => "NULL".to_string(),
            _ => format!("'w{}'", rng.next(300)),
        };
        values.push(format!("({id}, {a}, {}, {c})", rng.next(1000) as i64 - 500));
        if values.len() == 500 {
            client
                .batch_execute(&format!("INSERT INTO {name} VALUES {}", values.join(", ")))
                .await
                .unwrap();
            values.clear();
        }
    }
    if !values.is_empty() {
        client
            .batch_execute(&format!("INSERT INTO {name} VALUES {}", values.join(", ")))
            .await
            .unwrap();
    }
}

/// Every row of a query as text, in the order returned.
async fn rows(client: &Client, sql: &str, params: &[&(dyn ToSql + Sync)]) -> Vec<String> {
    client
        .query(sql, params)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e:?}"))
        .iter()
        .map(|r| {
            (0..r.len())
                .map(|i| {
                    r.try_get::<_, Option<i32>>(i)
                        .map(|v| format!("{v:?}"))
                        .or_else(|_| r.try_get::<_, Option<String>>(i).map(|v| format!("{v:?}")))
                        .or_else(|_| r.try_get::<_, i64>(i).map(|v| v.to_string()))
                        .unwrap()
                })
                .collect::<Vec<_>>()
                .join(",")
        })
        .collect()
}

/// Queries an index can serve: equalities, ranges (also with parameters),
/// and ORDER BY … LIMIT, each with a deterministic result.
fn queries() -> Vec<(&'static str, Vec<i32>)> {
    vec![
        ("SELECT * FROM items WHERE a = 7 ORDER BY id", vec![]),
        (
            "SELECT * FROM items WHERE a = $1 AND b > $2 ORDER BY id",
            vec![3, 0],
        ),
        (
            "SELECT * FROM items WHERE a = 3 AND b BETWEEN -100 AND 100 ORDER BY id",
            vec![],
        ),
        ("SELECT id FROM items WHERE a > 45 ORDER BY id", vec![]),
        (
            "SELECT id FROM items WHERE a <= 2 AND a >= 1 ORDER BY id",
            vec![],
        ),
        ("SELECT id FROM items WHERE a < 0 ORDER BY id", vec![]),
        ("SELECT id FROM items WHERE a > 10 AND a < 5", vec![]),
        ("SELECT id FROM items WHERE a = 3000000 ORDER BY id", vec![]),
        ("SELECT count(*) FROM items WHERE a = 9", vec![]),
        (
            "SELECT id, a, b FROM items ORDER BY a, b, id LIMIT 7",
            vec![],
        ),
        (
            "SELECT id, a, b FROM items ORDER BY a DESC, b DESC, id DESC LIMIT 7",
            vec![],
        ),
        (
            "SELECT id, a FROM items WHERE a = $1 ORDER BY b, id LIMIT 4",
            vec![11],
        ),
        (
            "SELECT id FROM items ORDER BY a, b, id LIMIT 5 OFFSET 3",
            vec![],
        ),
        (
            "SELECT id, c FROM items WHERE c = 'w17' ORDER BY id",
            vec![],
        ),
        (
            "SELECT id, c FROM items WHERE c > 'w290' ORDER BY id",
            vec![],
        ),
        (
            "SELECT id FROM items WHERE c IS NULL ORDER BY id LIMIT 5",
            vec![],
        ),
    ]
}

async fn run_queries(client: &Client) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    for (sql, params) in queries() {
        let refs: Vec<&(dyn ToSql + Sync)> =
            params.iter().map(|p| p as &(dyn ToSql + Sync)).collect();
        out.push(rows(client, sql, &refs).await);
    }
    out
}

fn assert_same(before: &[Vec<String>], after: &[Vec<String>]) {
    for ((sql, _), (b, a)) in queries().iter().zip(before.iter().zip(after)) {
        assert_eq!(b, a, "{sql} gives other rows through the index");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn index_scans_give_what_table_scans_give_and_survive_a_crash() {
    // Small checkpoints, so the crash recovers index entries from
    // checkpoints as well as from the log.
    let mut server = TestServer::start_with_args(2, &["--checkpoint-wal-size", "64K"]);
    let client = server.connect().await;
    fill(&client, 3000).await;
    let scanned = run_queries(&client).await;
    assert!(scanned.iter().filter(|r| !r.is_empty()).count() > 10);
    client
        .batch_execute(
            "CREATE INDEX items_ab ON items (a, b); \
             CREATE INDEX ON items (c DESC)",
        )
        .await
        .unwrap();
    assert_same(&scanned, &run_queries(&client).await);
    // Writes keep the indexes in step, and those that find their rows
    // through an index change what they change on a twin without one.
    fill_table(&client, "twin", 3000).await;
    for table in ["items", "twin"] {
        // One statement at a time: each reads through the index (inside a
        // block with its own writes to the table, a statement reads the
        // table instead).
        for sql in [
            "UPDATE {t} SET a = 7 WHERE id < 40",
            "UPDATE {t} SET a = a + 1 WHERE b > 400",
            "UPDATE {t} SET b = -b WHERE a = 9 AND b > 0",
            "DELETE FROM {t} WHERE a = 3",
            "DELETE FROM {t} WHERE a > 47 AND b < 0",
            "DELETE FROM {t} WHERE id % 97 = 0",
            "INSERT INTO {t} VALUES (200000, 7, 1, 'w17'), (200001, NULL, 2, NULL)",
        ] {
            client
                .batch_execute(&sql.replace("{t}", table))
                .await
                .unwrap();
        }
    }
    assert_eq!(
        rows(&client, "SELECT * FROM items ORDER BY id", &[]).await,
        rows(&client, "SELECT * FROM twin ORDER BY id", &[]).await
    );
    // Inside a block, reads see the block's own deletes and inserts.
    let own = "SELECT id FROM items WHERE a = 7 AND id >= 200000 ORDER BY id";
    client
        .batch_execute("BEGIN; DELETE FROM items WHERE id = 200000")
        .await
        .unwrap();
    assert!(rows(&client, own, &[]).await.is_empty());
    client
        .batch_execute("INSERT INTO items VALUES (200002, 7, 5, 'w17')")
        .await
        .unwrap();
    assert_eq!(rows(&client, own, &[]).await, ["Some(200002)"]);
    // Moved rows, through the index and by a scan, in the same block.
    client
        .batch_execute("UPDATE items SET a = 8 WHERE a = 7 AND id % 2 = 0")
        .await
        .unwrap();
    for (through, scan) in [
        (
            "SELECT id FROM items WHERE a = 8 ORDER BY id",
            "SELECT id FROM items WHERE a + 0 = 8 ORDER BY id",
        ),
        (
            "SELECT id FROM items WHERE a = 7 ORDER BY id",
            "SELECT id FROM items WHERE a + 0 = 7 ORDER BY id",
        ),
        (
            "SELECT id, a, b FROM items ORDER BY a DESC, b DESC, id DESC LIMIT 9",
            "SELECT id, a, b FROM items ORDER BY a + 0 DESC, b DESC, id DESC LIMIT 9",
        ),
    ] {
        assert_eq!(
            rows(&client, through, &[]).await,
            rows(&client, scan, &[]).await,
            "{through}"
        );
    }
    client.batch_execute("ROLLBACK").await.unwrap();
    let indexed = run_queries(&client).await;
    client.batch_execute("DROP INDEX items_ab").await.unwrap();
    let without_ab = run_queries(&client).await;
    assert_same(&without_ab, &indexed);
    client
        .batch_execute("CREATE INDEX items_ab ON items (a, b)")
        .await
        .unwrap();
    assert_same(&without_ab, &run_queries(&client).await);
    if server.is_external() {
        return;
    }
    // After a crash the indexes come back from checkpoints and the log,
    // in step.
    let checkpoints = std::fs::read_dir(server.data_dir().join("shard-0/checkpoint"))
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .is_ok_and(|e| e.file_name().to_string_lossy().ends_with(".ckpt"))
        })
        .count();
    assert!(checkpoints > 0, "no checkpoint was taken");
    server.kill9();
    server.restart();
    let client = server.connect().await;
    assert_same(&without_ab, &run_queries(&client).await);
    client
        .batch_execute("UPDATE items SET a = 8 WHERE a = 7")
        .await
        .unwrap();
    let after = run_queries(&client).await;
    client.batch_execute("DROP INDEX items_ab").await.unwrap();
    client
        .batch_execute("DROP INDEX items_c_idx")
        .await
        .unwrap();
    assert_same(&run_queries(&client).await, &after);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_index_is_built_while_writes_go_on() {
    let server = TestServer::start_with_shards(2);
    let client = server.connect().await;
    fill(&client, 4000).await;
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut writers = Vec::new();
    for w in 0..3u64 {
        let c = server.connect().await;
        let stop = stop.clone();
        writers.push(tokio::spawn(async move {
            let mut rng = Rng(w + 7);
            let mut n = 0u64;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let id = rng.next(4000) as i32;
                let a = rng.next(50) as i32;
                let sql = match rng.next(4) {
                    0 => "UPDATE items SET a = $2 WHERE id = $1",
                    1 => "DELETE FROM items WHERE id = $1 AND a = $2",
                    2 => "UPDATE items SET a = $2, b = b + 1 WHERE id = $1",
                    _ => "INSERT INTO items VALUES ($1 + 10000 * (1 + $2 % 5), $2, 0, 'new')",
                };
                // Inserts may collide with earlier ones: that is fine.
                let _ = c.execute(sql, &[&id, &a]).await;
                n += 1;
            }
            n
        }));
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    client
        .batch_execute("CREATE INDEX items_a ON items (a)")
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let mut writes = 0;
    for w in writers {
        writes += w.await.unwrap();
    }
    assert!(writes > 0);
    // Every row is found through the index exactly as by a scan (`a + 0`
    // is no column, so it cannot use the index).
    for a in 0..50 {
        let through = rows(
            &client,
            "SELECT id FROM items WHERE a = $1 ORDER BY id",
            &[&a],
        )
        .await;
        let scanned = rows(
            &client,
            "SELECT id FROM items WHERE a + 0 = $1 ORDER BY id",
            &[&a],
        )
        .await;
        assert_eq!(through, scanned, "rows with a = {a}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unique_indexes_refuse_duplicates() {
    let server = TestServer::start_with_shards(2);
    let client = server.connect().await;
    let distributed = if server.is_external() {
        ""
    } else {
        " DISTRIBUTED BY (tenant)"
    };
    client
        .batch_execute(&format!(
            "CREATE TABLE users (tenant int, id int, email text, PRIMARY KEY (tenant, id)){distributed}; \
             INSERT INTO users VALUES (1, 1, 'a@x'), (1, 2, 'b@x'), (2, 1, 'a@x'), (1, 3, NULL), (1, 4, NULL)"
        ))
        .await
        .unwrap();
    client
        .batch_execute("CREATE UNIQUE INDEX users_email ON users (tenant, email)")
        .await
        .unwrap();
    let code = |e: tokio_postgres::Error| e.code().map(|c| c.code().to_string());
    let err = client
        .batch_execute("INSERT INTO users VALUES (1, 5, 'a@x')")
        .await
        .unwrap_err();
    let db = err.as_db_error().unwrap();
    assert_eq!(db.code().code(), "23505");
    assert_eq!(db.constraint().unwrap_or("users_email"), "users_email");
    assert!(db.message().contains("users_email"), "{}", db.message());
    assert_eq!(
        code(
            client
                .batch_execute("UPDATE users SET email = 'b@x' WHERE tenant = 1 AND id = 1")
                .await
                .unwrap_err()
        )
        .as_deref(),
        Some("23505")
    );
    // NULLs never collide; the same value under another tenant is another key.
    client
        .batch_execute("INSERT INTO users VALUES (1, 6, NULL), (2, 2, 'b@x')")
        .await
        .unwrap();
    // A value freed by a delete or an update can be taken again.
    client
        .batch_execute(
            "DELETE FROM users WHERE tenant = 1 AND id = 1; \
             UPDATE users SET email = 'c@x' WHERE tenant = 1 AND id = 2; \
             INSERT INTO users VALUES (1, 7, 'a@x'), (1, 8, 'b@x')",
        )
        .await
        .unwrap();
    // Two transactions inserting the same value: the second waits for the
    // first, then fails.
    let other = server.connect().await;
    client
        .batch_execute("BEGIN; INSERT INTO users VALUES (1, 9, 'd@x')")
        .await
        .unwrap();
    let waiting = tokio::spawn(async move {
        let r = other
            .batch_execute("INSERT INTO users VALUES (1, 10, 'd@x')")
            .await;
        r.map_err(|e| e.code().map(|c| c.code().to_string()))
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!waiting.is_finished(), "the second insert waits");
    client.batch_execute("COMMIT").await.unwrap();
    assert_eq!(
        waiting.await.unwrap().unwrap_err().as_deref(),
        Some("23505")
    );
    // Building a unique index over duplicates fails and leaves none.
    client
        .batch_execute("DROP INDEX users_email; INSERT INTO users VALUES (3, 1, 'z'), (3, 2, 'z')")
        .await
        .unwrap();
    let err = client
        .batch_execute("CREATE UNIQUE INDEX users_dup ON users (tenant, email)")
        .await
        .unwrap_err();
    let db = err.as_db_error().unwrap();
    assert_eq!(db.code().code(), "23505");
    assert!(
        db.message().contains("could not create unique index"),
        "{}",
        db.message()
    );
    assert_eq!(
        code(
            client
                .batch_execute("DROP INDEX users_dup")
                .await
                .unwrap_err()
        )
        .as_deref(),
        Some("42704")
    );
    let emails = rows(
        &client,
        "SELECT id, email FROM users WHERE tenant = 1 AND email = 'd@x'",
        &[],
    )
    .await;
    assert_eq!(emails, ["Some(9),Some(\"d@x\")"]);
}

/// UNIQUE constraints whose columns do not hold the sharding key: their
/// entries live on the shards their values hash to, written in the same
/// transaction as the rows. Under concurrent inserts from many
/// connections, every value ends up exactly once, and after a crash the
/// constraint still holds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unique_constraints_hold_across_shards() {
    let mut server = TestServer::start_with_shards(2);
    let client = server.connect().await;
    client
        .batch_execute(
            "CREATE TABLE accounts (id int PRIMARY KEY, email text UNIQUE, nick text, \
             CONSTRAINT accounts_nick UNIQUE (nick))",
        )
        .await
        .unwrap();
    let mut workers = Vec::new();
    for w in 0..6i32 {
        let c = server.connect().await;
        workers.push(tokio::spawn(async move {
            let mut rng = Rng(w as u64 + 11);
            let mut tried = std::collections::BTreeSet::new();
            for i in 0..60 {
                let email = format!("e{}", rng.next(120));
                tried.insert(email.clone());
                let r = c
                    .execute(
                        "INSERT INTO accounts VALUES ($1, $2, NULL)",
                        &[&(w * 1000 + i), &email],
                    )
                    .await;
                if let Err(e) = r {
                    assert_eq!(e.code().map(|c| c.code()), Some("23505"), "{e:?}");
                }
            }
            tried
        }));
    }
    let mut tried = std::collections::BTreeSet::new();
    for w in workers {
        tried.extend(w.await.unwrap());
    }
    let present = rows(&client, "SELECT email FROM accounts ORDER BY email", &[]).await;
    let expected: Vec<String> = tried.iter().map(|e| format!("Some({e:?})")).collect();
    assert_eq!(present, expected, "every value tried is there exactly once");
    // Lookups through the index (entry, then row) find what scans find.
    for email in tried.iter().chain(["nobody".to_string()].iter()) {
        let through = rows(&client, "SELECT * FROM accounts WHERE email = $1", &[email]).await;
        let scanned = rows(
            &client,
            "SELECT * FROM accounts WHERE email || '' = $1",
            &[email],
        )
        .await;
        assert_eq!(through, scanned, "rows with email {email}");
    }
    // UPDATE and DELETE by the unique value reach just that row.
    let some = tried.iter().next().unwrap().clone();
    assert_eq!(
        client
            .execute(
                "UPDATE accounts SET nick = 'found' WHERE email = $1",
                &[&some]
            )
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        rows(
            &client,
            "SELECT email FROM accounts WHERE nick = 'found'",
            &[]
        )
        .await,
        [format!("Some({some:?})")]
    );
    assert_eq!(
        client
            .execute("DELETE FROM accounts WHERE email = 'nobody'", &[])
            .await
            .unwrap(),
        0
    );
    client
        .execute("UPDATE accounts SET nick = NULL WHERE email = $1", &[&some])
        .await
        .unwrap();
    // A transaction finds its own uncommitted row through the index, and
    // others do not.
    client
        .batch_execute("BEGIN; INSERT INTO accounts VALUES (80000, 'mine', NULL)")
        .await
        .unwrap();
    let mine = "SELECT id FROM accounts WHERE email = 'mine'";
    assert_eq!(rows(&client, mine, &[]).await, ["Some(80000)"]);
    let other = server.connect().await;
    assert!(rows(&other, mine, &[]).await.is_empty());
    client.batch_execute("ROLLBACK").await.unwrap();
    assert!(rows(&client, mine, &[]).await.is_empty());
    // Updates into a taken value fail; freed values can be taken again.
    let code =
        |r: Result<u64, tokio_postgres::Error>| r.unwrap_err().code().unwrap().code().to_string();
    let first: i32 = client
        .query_one("SELECT id FROM accounts WHERE email = 'e1'", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(
        code(
            client
                .execute("UPDATE accounts SET email = 'e2' WHERE id = $1", &[&first])
                .await
        ),
        "23505"
    );
    client
        .batch_execute(
            "DELETE FROM accounts WHERE email = 'e2'; \
             UPDATE accounts SET email = 'e2' WHERE email = 'e1'; \
             INSERT INTO accounts VALUES (90000, 'e1', 'n1'), (90001, 'e999', 'n2')",
        )
        .await
        .unwrap();
    assert_eq!(
        code(
            client
                .execute("INSERT INTO accounts VALUES (90002, 'e998', 'n1')", &[])
                .await
        ),
        "23505",
        "the named constraint holds too"
    );
    // A rolled-back insert frees its value; an open one holds it.
    client
        .batch_execute("BEGIN; INSERT INTO accounts VALUES (90003, 'x', NULL); ROLLBACK")
        .await
        .unwrap();
    client
        .batch_execute("INSERT INTO accounts VALUES (90004, 'x', NULL)")
        .await
        .unwrap();
    if server.is_external() {
        return;
    }
    server.kill9();
    server.restart();
    let client = server.connect().await;
    assert_eq!(
        code(
            client
                .execute("INSERT INTO accounts VALUES (90005, 'x', NULL)", &[])
                .await
        ),
        "23505",
        "entries survive a crash"
    );
    client
        .batch_execute("INSERT INTO accounts VALUES (90005, 'y', NULL)")
        .await
        .unwrap();
}

/// CREATE UNIQUE INDEX on a key without the sharding key, over existing
/// rows, while other connections update, insert and delete: afterwards
/// every value present is refused to any other row, and values nobody
/// holds are free. Over duplicates it fails and leaves no index.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_global_unique_index_is_built_while_writes_go_on() {
    let server = TestServer::start_with_shards(2);
    let client = server.connect().await;
    client
        .batch_execute("CREATE TABLE people (id int PRIMARY KEY, email text)")
        .await
        .unwrap();
    let values: Vec<String> = (0..2000).map(|i| format!("({i}, 'p{i}')")).collect();
    client
        .batch_execute(&format!("INSERT INTO people VALUES {}", values.join(", ")))
        .await
        .unwrap();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut writers = Vec::new();
    for w in 0..3i32 {
        let c = server.connect().await;
        let stop = stop.clone();
        writers.push(tokio::spawn(async move {
            let mut rng = Rng(w as u64 + 3);
            let mut n = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                n += 1;
                let id = rng.next(2000) as i32;
                // Fresh values only, so every write may succeed.
                let fresh = format!("w{w}-{n}");
                let r = match rng.next(3) {
                    0 => {
                        c.execute("UPDATE people SET email = $2 WHERE id = $1", &[&id, &fresh])
                            .await
                    }
                    1 => c.execute("DELETE FROM people WHERE id = $1", &[&id]).await,
                    _ => {
                        c.execute(
                            "INSERT INTO people VALUES ($1, $2)",
                            &[&(10000 + w * 100000 + n), &fresh],
                        )
                        .await
                    }
                };
                if let Err(e) = r {
                    let code = e.code().map(|c| c.code().to_string());
                    assert!(
                        matches!(code.as_deref(), Some("40001") | Some("40P01")),
                        "{e:?}"
                    );
                }
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(50)).await;
    client
        .batch_execute("CREATE UNIQUE INDEX people_email ON people (email)")
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for w in writers {
        w.await.unwrap();
    }
    let rows = client
        .query("SELECT id, email FROM people ORDER BY id", &[])
        .await
        .unwrap();
    let taken: Vec<(i32, String)> = rows.iter().map(|r| (r.get(0), r.get(1))).collect();
    let mut rng = Rng(99);
    for _ in 0..150 {
        let (id, _) = &taken[rng.next(taken.len() as u64) as usize];
        let (other, email) = &taken[rng.next(taken.len() as u64) as usize];
        if id == other {
            continue;
        }
        let err = client
            .execute("UPDATE people SET email = $2 WHERE id = $1", &[id, email])
            .await
            .expect_err("a value another row holds");
        assert_eq!(err.code().map(|c| c.code()), Some("23505"), "{err:?}");
    }
    // Every row can still take a value of its own.
    for (id, _) in taken.iter().take(50) {
        client
            .execute(
                "UPDATE people SET email = $2 WHERE id = $1",
                &[id, &format!("own-{id}")],
            )
            .await
            .unwrap();
    }
    client
        .batch_execute(
            "DROP INDEX people_email; \
             UPDATE people SET email = 'same' WHERE id < 3",
        )
        .await
        .unwrap();
    let err = client
        .batch_execute("CREATE UNIQUE INDEX people_email ON people (email)")
        .await
        .unwrap_err();
    assert_eq!(err.code().map(|c| c.code()), Some("23505"));
    assert_eq!(
        client
            .batch_execute("DROP INDEX people_email")
            .await
            .unwrap_err()
            .code()
            .map(|c| c.code()),
        Some("42704")
    );
}
